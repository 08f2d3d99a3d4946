"""`accelkern fleet`: every device of a node or cluster measured at once on torch.distributed, slow parts
named (logic in accelkern/fleet/)."""
from __future__ import annotations

import contextlib
import io
import sys

import click

from accelkern import outdir
from accelkern.commands.common import Session, check_out_dir, dry_run_exit

EPILOG = ("Exit codes: 0 no rank and no pair flagged, 1 a rank or pair flagged, a measurement failed, a rank "
          "went missing or a results file could not be written (with --self-test: the self-test failed), 2 usage "
          "or input error, 3 no usable device, 130 interrupted by Ctrl-C, 143 by SIGTERM, 129 by SIGHUP (finished "
          "rows kept).")


@click.command(epilog=EPILOG)
@click.option("--local", "local", type=int, default=None, metavar="G",
              help="Start torchrun here for G ranks on this node (one per GPU; --device cpu: G CPU ranks). "
                   "Without it, run under torchrun: `torchrun --nproc-per-node=G -m accelkern fleet ...`; "
                   "with neither, a 1-rank fleet.")
@click.option("--device", default=None, metavar="cuda|cpu",
              help="cuda: each rank takes its LOCAL_RANK GPU (NCCL); cpu: CPU ranks (gloo). "
                   "Default: cuda when a GPU is usable.")
@click.option("--suite", "suites", default=None, metavar="NAME[,NAME]",
              help="gemm, mamf, hbm, peak (per device, every rank at once), collectives, p2p (default: all).")
@click.option("--budget", type=float, default=60.0, show_default=True,
              help="Seconds of measuring for all suites together, shared by weight (mamf and collectives 2, "
                   "the others 1); warm-ups, checks and start-up come on top.")
@click.option("--tolerance", type=float, default=5.0, show_default=True, metavar="PCT",
              help="Flag a rank (or p2p pair) more than PCT percent below the fleet median of the same "
                   "measurement, and more than its measured noise explains (2 standard deviations of the gap, from "
                   "the figures' own spread and the number of ranks). GPU ranks are also flagged below a datasheet "
                   "floor: HBM 75%, GEMM and MAMF 50%, peak 60%.")
@click.option("--timeout", type=float, default=300.0, show_default=True,
              help="Seconds a rank waits for the others (process-group timeout of every collective, and "
                   "of each barrier and of the result gathering); a rank missing after it is named.")
@click.option("--sizes", default=None, metavar="SIZE[,SIZE]",
              help="Collective sizes in bytes as nccl-tests counts them, e.g. 32KiB,1MiB,1GiB (default "
                   "32KiB..1GiB in steps of 8 on GPUs, 4KiB..2MiB on CPUs).")
@click.option("--p2p-size", default=None, metavar="SIZE",
              help="Bytes per send/recv of the p2p matrix (default 256MiB on GPUs, 1MiB on CPUs).")
@click.option("--gemm-shape", default=None, metavar="MxNxK",
              help="Shape of the gemm suite (default 8192x8192x8192 on GPUs, 512x512x512 on CPUs).")
@click.option("--gemm-dtype", default=None, metavar="DTYPE",
              help="bf16, fp16, tf32 or fp32 (default bf16 on GPUs, fp32 on CPUs).")
@click.option("--self-test", "self_test", type=int, default=None, metavar="FACTOR",
              help="SELF-TEST, never for a real acceptance run: one rank's timed calls do their work FACTOR "
                   "times (2-100) while the work counted stays once, and the run passes (exit 0) only if "
                   "exactly that rank is flagged in the per-device suites.")
@click.option("--self-test-rank", type=int, default=None, metavar="R",
              help="The rank the self-test slows (default: the last rank).")
@click.option("--spec", "spec_name", default=None, metavar="NAME",
              help="Compare against this datasheet entry instead of the one matched from the GPU name.")
@click.option("--json", "as_json", is_flag=True, help="Rank 0 prints the results document (JSON) instead of tables.")
@click.option("--out", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Write DIR/fleet.rank<R>.jsonl per rank as rows finish, and DIR/fleet.jsonl (every rank's rows "
                   "with fleet median, ratio and flags), .csv and .md on rank 0.")
@click.option("--rank-dir", default=None, hidden=True)
@click.option("--relay", is_flag=True, hidden=True)
def fleet(local, device, suites, budget, tolerance, timeout, sizes, p2p_size, gemm_shape, gemm_dtype, self_test,
          self_test_rank, spec_name, as_json, out, rank_dir, relay):
    """Fleet mode: every GPU of a node or cluster measured at once, slow GPUs and links named.

    Per-device suites (GEMM, MAMF, HBM, peak) run on every rank at the same time, so power and thermals
    are those of a full node; then collectives (nccl-tests bus bandwidth) and a rank x rank p2p matrix.
    Rank 0 gathers every rank's rows, prints one table per suite (ranks grouped by node) with the fleet
    median and each rank's ratio to it, and flags the slow ones. Multi-node:
    `torchrun --nnodes=N --rdzv-backend=c10d --rdzv-endpoint=HOST:PORT --nproc-per-node=G -m accelkern fleet`.
    """
    from accelkern.fleet import options
    opts = options.parse(device=device, suites=suites, budget=budget, tolerance=tolerance, timeout=timeout,
                         sizes=sizes, p2p_size=p2p_size, gemm_shape=gemm_shape, gemm_dtype=gemm_dtype,
                         self_test=self_test, self_test_rank=self_test_rank, spec_name=spec_name, as_json=as_json,
                         out=out, local=local, rank_dir=rank_dir, relay=relay)
    check_out_dir(out)
    if opts.local is not None:
        dry_run_exit("fleet")
        outdir.claim(out, "fleet")       # the launcher holds --out for its ranks
        from accelkern.fleet import launch
        sys.exit(launch.run_local(opts))
    from accelkern.fleet import rank_main
    from accelkern.fleet.ranks import RankEnv
    env = RankEnv.from_env()
    if env.rank == 0:
        dry_run_exit("fleet")
        outdir.claim(out, "fleet")       # under torchrun rank 0 holds --out (the merged files are its)
    else:
        with contextlib.redirect_stdout(io.StringIO()):   # only rank 0 speaks
            dry_run_exit("fleet")
    sys.exit(rank_main.main(opts, _rank_session))


def _rank_session(device: str, spec_name: str | None):
    """Device facts, matched datasheet and run header of one rank, as every command gets them."""
    s = Session("fleet", device, spec_name, as_json=False, as_csv=False, out=None)
    return s.info, s.spec, s.header
