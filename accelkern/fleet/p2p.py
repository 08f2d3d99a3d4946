"""The rank x rank send/recv bandwidth matrix: every ordered pair (src, dst) in turn, so both directions of a
link are measured separately, as nvbandwidth does for device pairs. The other ranks only take part in the
barriers. Timed on the receiving rank, from a group barrier until the data has arrived; GB/s one
direction (1e9 bytes/s). A pair's link is 'intra-node' or 'inter-node' (torchrun node ranks), and pairs
are compared with the median of their own class.
"""
from __future__ import annotations

import math

from accelkern import figures
from accelkern.fleet import loop
from accelkern.fleet.collectives import check_indices, elements, pattern, size_label, value
from accelkern.fleet.options import ELEMENT_BYTES
from accelkern.results import Row


def pairs(n: int) -> list[tuple[int, int]]:
    """Every ordered pair of distinct ranks, each link's two directions next to each other."""
    out = []
    for a in range(n):
        for b in range(a + 1, n):
            out += [(a, b), (b, a)]
    return out


def link(identities: dict, src: int, dst: int) -> str:
    same = identities[src]["node"] == identities[dst]["node"] and identities[src]["host"] == identities[dst]["host"]
    return "intra-node" if same else "inter-node"


def rows(ctx, emit) -> None:
    """Each pair in turn; the receiving rank emits the pair's row."""
    import torch
    import torch.distributed as dist
    env, device = ctx.env, ctx.device
    count = elements(ctx.opts.pair_size(ctx.info.kind), 1)
    nbytes = count * ELEMENT_BYTES
    todo = pairs(env.world_size)
    per = ctx.budget_s / max(1, len(todo))
    me = env.rank
    for src, dst in todo:
        if me == src:
            buf = pattern(src, count, device)
            op = lambda b=buf, d=dst: dist.send(b, d)
        elif me == dst:
            buf = torch.full((count,), float("nan"), device=device)
            op = lambda b=buf, s=src: dist.recv(b, s)
        else:
            buf, op = None, (lambda: None)
        ctx.progress(f"  p2p {src} -> {dst} {size_label(nbytes)}")
        loop.timed_samples(op, 1, device)      # the checked transfer: dst's buffer starts as NaN
        ok, err = True, 0.0
        if me == dst:
            idx = check_indices(count, seed=src * 1000 + dst)
            got = buf[torch.tensor(idx, device=device)].cpu().tolist()
            err = max(float("inf") if math.isnan(g) else abs(g - value(src, j)) for g, j in zip(got, idx))
            ok = err == 0.0
        meas = loop.measure(op, device, per, active=me in (src, dst))
        if me == dst:
            gbps = nbytes / meas.stats.median_s / 1e9
            ids = ctx.identities
            row = Row(suite="fleet-p2p", name="send/recv", dtype="fp32", shape=size_label(nbytes),
                      backend="nccl" if device.type == "cuda" else "gloo", kernel="torch.distributed.send/recv",
                      metric="GB/s", value=gbps, value_best=nbytes / meas.stats.min_s / 1e9, correct=ok,
                      max_error=err, tolerance=0.0,
                      config={"src": src, "dst": dst, "bytes": nbytes, "link": link(ids, src, dst),
                              "src_host": ids[src]["host"], "src_node": ids[src]["node"],
                              "direction": "one direction (src -> dst)", "timed_on": "dst", **meas.mode})
            figures.apply_measurement(row, meas)
            if not ok:
                row.status = "failed"
                row.note = f"received data differs from what was sent on checked elements (max error {err:g})"
            emit(row)
        del buf
