"""The options of `accelkern fleet`, validated before any process starts (no torch needed), and the argv a
launcher forwards to its ranks. Sizes in bytes, times in seconds, tolerance in percent."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from accelkern.errors import AccelkernError
from accelkern.units import format_bytes, parse_gemm_shape, parse_size, split_list

SUITES = ("gemm", "mamf", "hbm", "peak", "collectives", "p2p")
DEVICE_SUITES = ("gemm", "mamf", "hbm", "peak")        # run on every rank at the same time
FLEET_SUITES = ("collectives", "p2p")                  # need two or more ranks
GEMM_DTYPES = ("bf16", "fp16", "tf32", "fp32")
ELEMENT_BYTES = 4                                      # collectives and p2p move fp32 elements

# collective sweep and p2p size (bytes): 32 KiB .. 1 GiB in steps of 8 on GPUs, small on CPUs (2 cores
# may carry every rank of a test)
GPU_SIZES = tuple(32 << 10 << (3 * i) for i in range(6))
CPU_SIZES = (4 << 10, 32 << 10, 256 << 10, 2 << 20)
GPU_P2P_SIZE = 256 << 20
CPU_P2P_SIZE = 1 << 20
GPU_GEMM = ("bf16", (8192, 8192, 8192))
CPU_GEMM = ("fp32", (512, 512, 512))
MAX_SELF_TEST_FACTOR = 100


@dataclass(frozen=True)
class FleetOptions:
    device: str | None = None           # 'cpu', 'cuda' or None (cuda when a GPU is usable)
    suites: tuple = SUITES
    budget_s: float = 60.0
    tolerance_pct: float = 5.0
    timeout_s: float = 300.0
    sizes: tuple | None = None          # collective sweep, bytes (None: the device default)
    p2p_size: int | None = None
    gemm_shape: tuple | None = None
    gemm_dtype: str | None = None
    self_test: int | None = None        # slow-down factor of the self-test (None: off)
    self_test_rank: int | None = None   # the slowed rank (None: the last rank)
    spec_name: str | None = None
    as_json: bool = False
    out: str | None = None
    local: int | None = None            # --local G: start torchrun for G ranks on this node
    rank_dir: str | None = None         # where rank files go when --out is not given (set by --local)
    relay: bool = False                 # set by --local: ranks exit 0, the launcher exits with the verdict
    extra: dict = field(default_factory=dict)

    @property
    def files_dir(self) -> str | None:
        """Where each rank appends its rows (fleet.rank<R>.jsonl)."""
        return self.out or self.rank_dir

    @property
    def state_dir(self) -> str | None:
        """Where each rank's state file and rank 0's verdict go: the launcher's private directory under --local
        (so a full or read-only --out cannot hide how a rank ended), else --out."""
        return self.rank_dir or self.out

    def sweep(self, kind: str) -> tuple:
        return self.sizes or (GPU_SIZES if kind == "cuda" else CPU_SIZES)

    def pair_size(self, kind: str) -> int:
        return self.p2p_size or (GPU_P2P_SIZE if kind == "cuda" else CPU_P2P_SIZE)

    def gemm(self, kind: str) -> tuple[str, tuple]:
        dtype, shape = GPU_GEMM if kind == "cuda" else CPU_GEMM
        return self.gemm_dtype or dtype, self.gemm_shape or shape

    def check_world(self, world_size: int) -> None:
        """What can only be checked once the number of ranks is known (under torchrun: at start-up)."""
        if self.self_test is not None:
            r = self.slowed_rank(world_size)
            if not 0 <= r < world_size:
                raise AccelkernError(f"--self-test-rank {r}: the fleet has ranks 0..{world_size - 1}")
            if world_size < 2:
                raise AccelkernError("--self-test needs two or more ranks: a slowed rank is told apart from the "
                                     "fleet median of the others")
        for s in (self.sizes or ()) + ((self.p2p_size,) if self.p2p_size else ()):
            if s < ELEMENT_BYTES * world_size:
                raise AccelkernError(f"size {format_bytes(s)}: collectives split it into {world_size} shards of "
                                     f"fp32 elements; give at least {ELEMENT_BYTES * world_size} bytes")

    def slowed_rank(self, world_size: int) -> int | None:
        if self.self_test is None:
            return None
        return world_size - 1 if self.self_test_rank is None else self.self_test_rank

    def rank_argv(self) -> list[str]:
        """The command-line options a launcher passes on to every rank (--local left out)."""
        a: list[str] = []
        if self.device:
            a += ["--device", self.device]
        a += ["--suite", ",".join(self.suites), "--budget", repr(self.budget_s),
              "--tolerance", repr(self.tolerance_pct), "--timeout", repr(self.timeout_s)]
        if self.sizes:
            a += ["--sizes", ",".join(str(s) for s in self.sizes)]
        if self.p2p_size:
            a += ["--p2p-size", str(self.p2p_size)]
        if self.gemm_shape:
            a += ["--gemm-shape", "x".join(str(d) for d in self.gemm_shape)]
        if self.gemm_dtype:
            a += ["--gemm-dtype", self.gemm_dtype]
        if self.self_test is not None:
            a += ["--self-test", str(self.self_test)]
            if self.self_test_rank is not None:
                a += ["--self-test-rank", str(self.self_test_rank)]
        if self.spec_name:
            a += ["--spec", self.spec_name]
        if self.as_json:
            a.append("--json")
        if self.out:
            a += ["--out", self.out]
        if self.rank_dir:
            a += ["--rank-dir", self.rank_dir]
        if self.relay:
            a.append("--relay")
        return a

    def for_ranks(self, rank_dir: str) -> FleetOptions:
        """What --local passes on: state files (and rows, when --out is not given) in the launcher's `rank_dir`,
        exit code relayed."""
        return replace(self, rank_dir=rank_dir, relay=True, local=None)


def parse(*, device=None, suites=None, budget=60.0, tolerance=5.0, timeout=300.0, sizes=None, p2p_size=None,
          gemm_shape=None, gemm_dtype=None, self_test=None, self_test_rank=None, spec_name=None, as_json=False,
          out=None, local=None, rank_dir=None, relay=False) -> FleetOptions:
    """FleetOptions from the command line's text, or AccelkernError naming what was wrong and what is allowed."""
    if device not in (None, "", "auto", "cpu", "cuda"):
        raise AccelkernError(f"--device '{device}': allowed are cuda, cpu (each rank takes its LOCAL_RANK GPU)")
    wanted = tuple(split_list(suites)) if suites else SUITES
    bad = [s for s in wanted if s not in SUITES]
    if not wanted or bad:
        raise AccelkernError(f"--suite '{suites}': allowed are {', '.join(SUITES)} (comma-separated)")
    if not (budget >= 1):
        raise AccelkernError(f"--budget {budget:g}: give at least 1 second")
    if not (0 < tolerance < 100):
        raise AccelkernError(f"--tolerance {tolerance:g}: a percentage between 0 and 100 (exclusive)")
    if not (timeout >= 1):
        raise AccelkernError(f"--timeout {timeout:g}: give at least 1 second")
    sweep = tuple(sorted({parse_size(s) for s in split_list(sizes)})) if sizes else None
    if sizes is not None and not sweep:
        raise AccelkernError("--sizes: no sizes given; use e.g. 32KiB,1MiB,64MiB")
    pair = parse_size(p2p_size) if p2p_size else None
    shape = parse_gemm_shape(gemm_shape) if gemm_shape else None
    if gemm_dtype is not None and gemm_dtype not in GEMM_DTYPES:
        raise AccelkernError(f"--gemm-dtype '{gemm_dtype}': allowed are {', '.join(GEMM_DTYPES)}")
    if self_test is not None and not 2 <= self_test <= MAX_SELF_TEST_FACTOR:
        raise AccelkernError(f"--self-test {self_test}: the slow-down factor is a whole number from 2 to "
                             f"{MAX_SELF_TEST_FACTOR}")
    if self_test_rank is not None and self_test is None:
        raise AccelkernError("--self-test-rank needs --self-test FACTOR")
    if self_test_rank is not None and self_test_rank < 0:
        raise AccelkernError(f"--self-test-rank {self_test_rank}: ranks are numbered from 0")
    if self_test is not None and not any(s in DEVICE_SUITES for s in wanted):
        raise AccelkernError(f"--self-test slows the per-device suites ({', '.join(DEVICE_SUITES)}); "
                             f"--suite '{suites}' has none")
    if local is not None and local < 1:
        raise AccelkernError(f"--local {local}: give the number of ranks to start (1 or more)")
    opts = FleetOptions(device=None if device in (None, "", "auto") else device, suites=wanted,
                        budget_s=float(budget), tolerance_pct=float(tolerance), timeout_s=float(timeout), sizes=sweep, p2p_size=pair, gemm_shape=shape, gemm_dtype=gemm_dtype,
                        self_test=self_test, self_test_rank=self_test_rank, spec_name=spec_name, as_json=as_json,
                        out=out, local=local, rank_dir=rank_dir, relay=relay)
    if local is not None:
        opts.check_world(local)
    return opts
