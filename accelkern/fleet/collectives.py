"""all_reduce, all_gather, reduce_scatter, all_to_all and broadcast over a size sweep, with the bandwidths
nccl-tests reports (its PERFORMANCE.md):

  algbw = bytes / time, where bytes is the full buffer of N fp32 elements: all_reduce and broadcast the
          buffer itself, all_gather its output, reduce_scatter its input, all_to_all each rank's send buffer
  busbw = algbw x factor: all_reduce 2(n-1)/n; all_gather, reduce_scatter, all_to_all (n-1)/n; broadcast 1

so busbw is comparable with the link's bandwidth whatever the rank count. Time: the median over iterations
of this rank's time from a group barrier to the operation's completion. Every result is checked on a few
elements against values computed here from the inputs' formula (small integers: the sums are exact).
Bandwidths in GB/s (1e9 bytes/s).
"""
from __future__ import annotations

import math
import random
import warnings

from accelkern import figures
from accelkern.fleet import loop
from accelkern.fleet.options import ELEMENT_BYTES
from accelkern.results import Row
from accelkern.units import format_bytes

COLLECTIVES = ("all_reduce", "all_gather", "reduce_scatter", "all_to_all", "broadcast")
PERIOD = 13   # the input pattern repeats every 13 elements


def busbw_factor(collective: str, n: int) -> float:
    """nccl-tests' bus-bandwidth factor for n ranks."""
    if n < 1:
        raise ValueError("n must be >= 1")
    if collective == "all_reduce":
        return 2.0 * (n - 1) / n
    if collective in ("all_gather", "reduce_scatter", "all_to_all"):
        return (n - 1) / n
    if collective == "broadcast":
        return 1.0
    raise ValueError(f"unknown collective {collective!r}")


def bandwidths(collective: str, nbytes: int, seconds: float, n: int) -> tuple[float, float, float]:
    """(algbw GB/s, busbw GB/s, factor) for `nbytes` (the nccl-tests size) moved in `seconds`."""
    alg = nbytes / seconds / 1e9
    f = busbw_factor(collective, n)
    return alg, alg * f, f


def size_label(nbytes: int) -> str:
    """'64 KiB' when the size is a whole binary unit, else the exact byte count ('65532 B' on 3 ranks)."""
    text = format_bytes(nbytes)
    for unit, scale in (("TiB", 1 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if text.endswith(unit):
            return text if nbytes % scale == 0 else f"{nbytes} B"
    return text


def elements(nbytes: int, n: int) -> int:
    """fp32 elements of a buffer of about `nbytes`, a multiple of n so it splits into equal shards."""
    return max(n, nbytes // ELEMENT_BYTES // n * n)


def value(rank: int, i: int) -> float:
    """Element i of rank `rank`'s input: a small non-zero integer (exact in fp32 sums)."""
    return float(((i % PERIOD) * 7 + rank) % PERIOD + rank + 1)


def pattern(rank: int, count: int, device, offset: int = 0):
    """The input of `rank`: value(rank, offset + i) for i < count."""
    import torch
    base = torch.tensor([value(rank, offset + j) for j in range(PERIOD)], dtype=torch.float32, device=device)
    return base.repeat(-(-count // PERIOD))[:count]   # a contiguous view: no second buffer


def expected(collective: str, rank: int, n: int, count: int, j: int) -> float:
    """Output element j on `rank` of the collective over `count` elements (shard c = count / n)."""
    c = count // n
    if collective == "all_reduce":
        return sum(value(q, j) for q in range(n))
    if collective == "all_gather":
        return value(j // c, j % c)
    if collective == "reduce_scatter":
        return sum(value(q, rank * c + j) for q in range(n))
    if collective == "all_to_all":
        return value(j // c, rank * c + j % c)
    if collective == "broadcast":
        return value(0, j)
    raise ValueError(collective)


def check_indices(length: int, seed: int, extra: int = 5) -> list[int]:
    """The first, second, middle and last elements and a few seeded random ones."""
    rng = random.Random(seed)
    idx = {0, min(1, length - 1), length // 2, length - 1}
    idx.update(rng.randrange(length) for _ in range(extra))
    return sorted(idx)


def _api(name_new: str, name_old: str):
    import torch.distributed as dist
    return getattr(dist, name_new, None) or getattr(dist, name_old)


class Collective:
    """Buffers and the call of one collective at one size on this rank."""

    def __init__(self, collective: str, count: int, rank: int, n: int, device):
        import torch
        import torch.distributed as dist
        self.collective, self.count, self.rank, self.n = collective, count, rank, n
        c = count // n
        nan = float("nan")
        self.setup = None
        if collective == "all_reduce":
            self.pristine = pattern(rank, count, device)
            self.out = self.pristine.clone()
            self.setup = lambda: self.out.copy_(self.pristine)     # in place: the same sum every iteration
            self.call = lambda: dist.all_reduce(self.out)
        elif collective == "all_gather":
            self.inp = pattern(rank, c, device)
            self.out = torch.full((count,), nan, device=device)
            fn = _api("all_gather_single", "all_gather_into_tensor")
            self.call = lambda: fn(self.out, self.inp)
        elif collective == "reduce_scatter":
            self.inp = pattern(rank, count, device)
            self.out = torch.full((c,), nan, device=device)
            fn = _api("reduce_scatter_single", "reduce_scatter_tensor")
            self.call = lambda: fn(self.out, self.inp)
        elif collective == "all_to_all":
            self.inp = pattern(rank, count, device)
            self.out = torch.full((count,), nan, device=device)
            self.call = lambda: dist.all_to_all_single(self.out, self.inp)
        elif collective == "broadcast":
            self.out = pattern(0, count, device) if rank == 0 else torch.full((count,), nan, device=device)
            self.call = lambda: dist.broadcast(self.out, src=0)
        else:
            raise ValueError(collective)

    def __call__(self):
        with warnings.catch_warnings():   # torch 2.14 renames *_into_tensor / *_tensor to *_single
            warnings.simplefilter("ignore", FutureWarning)
            self.call()

    def check(self) -> tuple[bool, float]:
        """Runs once and compares a few output elements with their exact values: (correct, max error)."""
        import torch
        if self.setup:
            self.setup()
        self()
        idx = check_indices(self.out.numel(), seed=self.count * 31 + self.rank)
        got = self.out[torch.tensor(idx, device=self.out.device)].cpu().tolist()
        want = [expected(self.collective, self.rank, self.n, self.count, j) for j in idx]
        err = max(float("inf") if math.isnan(g) else abs(g - w) for g, w in zip(got, want))
        return err == 0.0, err


def rows(ctx, emit) -> None:
    """Every collective at every size of the sweep; one row per (collective, size) on this rank."""
    env, device = ctx.env, ctx.device
    n = env.world_size
    sizes = ctx.opts.sweep(ctx.info.kind)
    per = ctx.budget_s / (len(COLLECTIVES) * len(sizes))
    backend = "nccl" if device.type == "cuda" else "gloo"
    for coll in COLLECTIVES:
        for size in sizes:
            count = elements(size, n)
            nbytes = count * ELEMENT_BYTES
            ctx.progress(f"  {coll} {size_label(nbytes)}")
            c = Collective(coll, count, env.rank, n, device)
            ok, err = c.check()
            meas = loop.measure(c, device, per, setup=c.setup)
            alg, bus, factor = bandwidths(coll, nbytes, meas.stats.median_s, n)
            row = Row(suite="fleet-collectives", name=coll, dtype="fp32", shape=size_label(nbytes),
                      backend=backend, kernel=f"torch.distributed.{coll}", metric="GB/s", value=bus,
                      value_best=bandwidths(coll, nbytes, meas.stats.min_s, n)[1], correct=ok, max_error=err,
                      tolerance=0.0,
                      config={"collective": coll, "bytes": nbytes, "elements": count, "ranks": n,
                              "requested_bytes": size, "algbw_gbps": alg, "busbw_gbps": bus, "busbw_factor": factor,
                              "bytes_convention": "nccl-tests size (full buffer)", **meas.mode})
            figures.apply_measurement(row, meas)
            if not ok:
                row.status = "failed"
                row.note = f"result differs from the expected sum/copy on checked elements (max error {err:g})"
            emit(row)
            del c
