"""Every option of every command: a number is finite, in range and in ASCII digits, a text is not empty, and
an option that does not apply to the run is named; each refusal is one line, exit code 2, before anything
starts or is written."""
import click
import pytest
from click.testing import CliRunner

from accelkern.cli import cli
from accelkern.commands.params import Number, Text

BAD_NUMBERS = ("nan", "NaN", "inf", "-inf", "Infinity", "1e999", "²56", "٣", "1_000", "")


def commands(group=cli, path=()):
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from commands(cmd, path + (name,))
        else:
            yield path + (name,), cmd


def options_of(kind):
    return [(path, p) for path, cmd in commands() for p in cmd.params
            if isinstance(p, click.Option) and isinstance(p.type, kind) and not p.hidden]


def _refused(r, tmp_path):
    assert r.exit_code == 2, r.output
    assert "Traceback" not in r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.output
    assert not (tmp_path / "out").exists()          # refused before anything is written


def test_every_option_has_a_checked_type():
    for path, cmd in commands():
        for p in cmd.params:
            if isinstance(p, click.Option) and not (p.is_flag or p.count):
                assert isinstance(p.type, (Number, Text, click.Choice, click.Path)), (path, p.name, p.type)


def test_the_number_type_refuses_what_is_not_a_finite_ascii_number():
    for t in (Number(), Number(integer=True), Number(min=5), Number(min=0, max=100, min_open=True)):
        for bad in BAD_NUMBERS + ("4.5e", "0x10", "1,5"):
            with pytest.raises(click.BadParameter):
                t.convert(bad, None, None)
    assert Number(min=5).convert("1e1", None, None) == 10.0 and Number(integer=True).convert("+7", None, None) == 7


@pytest.mark.parametrize("path,opt", options_of(Number), ids=lambda x: " ".join(x) if isinstance(x, tuple)
                         else x.opts[0])
def test_every_numeric_option_refuses_nan_infinity_and_foreign_digits(path, opt, tmp_path):
    extra = ["--out", str(tmp_path / "out")] if any(p.name == "out" for p in cli.commands[path[0]].params) else []
    for bad in ("nan", "-inf", "²56"):
        _refused(CliRunner().invoke(cli, [*path, opt.opts[0], bad, *extra]), tmp_path)


@pytest.mark.parametrize("path,opt", options_of(Text), ids=lambda x: " ".join(x) if isinstance(x, tuple)
                         else x.opts[0])
def test_every_text_option_refuses_an_empty_value(path, opt, tmp_path):
    for empty in ("", "  "):
        r = CliRunner().invoke(cli, [*path, opt.opts[0], empty])
        _refused(r, tmp_path)
        assert f"{opt.opts[0]} '{empty}': empty" in r.output


@pytest.mark.parametrize("args", [["gemm", "--shape", "²56x256x256"], ["gemm", "--shape", "1" * 40 + "x2x2"],
                                  ["gemm", "--workspace", "٣MiB"], ["hbm", "--size", "1" * 40],
                                  ["hbm", "--vec", "²"], ["mamf", "--m", "²56"],
                                  ["mamf", "--m", "1:" + "9" * 5000 + ":1"],
                                  ["waves", "sweep", "--n", "128:²56:128"], ["waves", "explain", "--shape", "8x8x8",
                                                                             "--tile", "１28x128", "--sms", "4"],
                                  ["fleet", "--sizes", "4KiB,²MiB"], ["fleet", "--gemm-shape", "٣x2x2"],
                                  ["gemm", "--device", "cuda:٣"]], ids=lambda a: " ".join(a)[:40])
def test_numbers_inside_text_options_are_ascii_digits(args, tmp_path):
    _refused(CliRunner().invoke(cli, [*args, "--out", str(tmp_path / "out")] if args[0] in ("gemm", "hbm", "mamf")
                                else args), tmp_path)


def test_options_that_do_not_apply_to_the_device_are_named(tmp_path):
    r = CliRunner().invoke(cli, ["gemm", "--device", "cpu", "--dtype", "fp32", "--shape", "32x32x32", "--max-time",
                                 "0.1", "--algos", "4", "--workspace", "8MiB"])
    assert r.exit_code == 0, r.output
    assert "ignored: --algos, --workspace (they choose cuBLAS/cuBLASLt algorithms; this run times torch only)" \
        in " ".join(r.output.split())
