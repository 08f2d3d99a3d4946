"""The order in which the blocks of a memory kernel visit tiles: a Python model of `for_tiles` in
csrc/memory/memory_common.cuh (the same integer arithmetic), so the schedule can be checked on a CPU.

One pass: grid-stride (block b takes tiles b, b + grid, b + 2 grid, ...). passes > 1 (the hot sweep): the
sequence v = 0 .. passes * n_tiles - 1 (tile v mod n_tiles) is cut into one contiguous run per block, so
every tile is processed exactly `passes` times and a block visits every tile once before any twice.
"""
from __future__ import annotations


def block_run(n_tiles: int, passes: int, blocks: int, b: int) -> tuple[int, int]:
    """(first virtual tile, count) of block b when passes > 1, as the kernel computes them."""
    total = n_tiles * passes
    per, extra = divmod(total, blocks)
    return b * per + min(b, extra), per + (1 if b < extra else 0)


def block_tiles(n_tiles: int, passes: int, blocks: int, b: int) -> list[int]:
    """The tiles block b processes, in order."""
    if passes == 1:
        return list(range(b, n_tiles, blocks))
    if n_tiles == 0:
        return []
    first, count = block_run(n_tiles, passes, blocks, b)
    out, t = [], first % n_tiles
    for _ in range(count):
        out.append(t)
        t += 1
        if t == n_tiles:
            t = 0
    return out


def tile_schedule(n_tiles: int, passes: int, blocks: int) -> list[list[int]]:
    """Every block's tiles, in order (index = blockIdx.x)."""
    return [block_tiles(n_tiles, passes, blocks, b) for b in range(blocks)]


def n_tiles_of(nbytes: int, vec: int, threads: int, unroll: int) -> int:
    """Whole tiles in a buffer of nbytes, as the kernels count them (n_bytes / vec / (threads * unroll))."""
    return (nbytes // vec) // (threads * unroll)
