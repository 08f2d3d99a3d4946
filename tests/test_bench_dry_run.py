"""Every script in bench/ takes --dry-run: it checks its options (and the accelkern command lines it would
run) and measures nothing, so a renamed flag is found without the device (README, Layout)."""
import glob
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# one interpreter runs every script in turn (torch is imported once): each one's exit code and last line
_DRIVER = r"""
import contextlib, io, json, os, runpy, sys
out = {}
for path in sys.argv[1:]:
    sys.argv = [path, "--dry-run"]
    buf = io.StringIO()
    code = 0
    with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
        try:
            runpy.run_path(path, run_name="__main__")
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        except BaseException as exc:
            code, _ = 99, buf.write(f"{type(exc).__name__}: {exc}")
    out[os.path.basename(path)] = [code, buf.getvalue()]
print(json.dumps(out))
"""


def test_every_bench_script_takes_dry_run_and_measures_nothing(tmp_path):
    scripts = sorted(glob.glob(os.path.join(ROOT, "bench", "*.py")))
    assert len(scripts) >= 10
    env = {k: v for k, v in os.environ.items() if k != "ACCELKERN_DRY_RUN"}    # each script's own flag decides
    env["PYTHONPATH"] = ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")
    r = subprocess.run([sys.executable, "-c", _DRIVER] + scripts, cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    got = json.loads(r.stdout.strip().splitlines()[-1])
    bad = {name: (code, text[-400:]) for name, (code, text) in got.items() if code != 0}
    assert not bad, bad
    for name, (_, text) in got.items():     # fleet_anchors' command runs as a child: its line is not captured
        assert name == "fleet_anchors.py" or "ok" in text or "cases" in text or "tests:" in text, (name, text[-400:])
    assert not any(tmp_path.iterdir()), list(tmp_path.iterdir())     # nothing written where it ran
