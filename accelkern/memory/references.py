"""References the memory kernels are checked against: the read checksum, the write pattern, the triad
error. All work on any torch device in chunks, so a 2 GiB buffer needs no 2 GiB temporary."""
from __future__ import annotations

import math

MASK32 = 0xFFFF_FFFF
CHUNK = 1 << 22                    # elements per chunk of a check (float64 temporaries: 32 MiB)


def checksum(buf, nbytes: int) -> int:
    """The read kernel's checksum of buf[:nbytes] (uint8): sum of the little-endian 32-bit words plus the
    trailing nbytes % 4 bytes, mod 2^32; computed by torch reductions in chunks."""
    import torch
    n_words = nbytes // 4
    total = 0
    words = buf[: 4 * n_words].view(torch.int32)
    for i in range(0, n_words, CHUNK):  # a signed sum is congruent to the unsigned one mod 2^32
        total += int(words[i:i + CHUNK].sum(dtype=torch.int64))
    total += int(buf[4 * n_words:nbytes].sum(dtype=torch.int64))
    return total & MASK32


def partials_sum(partials, blocks: int) -> int:
    import torch
    return int(partials[:blocks].sum(dtype=torch.int64)) & MASK32


def pattern_bytes(pattern: int, start: int, count: int):
    """Bytes start..start+count of a buffer filled with `pattern` as little-endian 32-bit words."""
    return [(pattern >> (8 * ((start + i) % 4))) & 0xFF for i in range(count)]


def as_int32(pattern: int) -> int:
    return pattern - (1 << 32) if pattern & 0x8000_0000 else pattern


def filled_with(buf, nbytes: int, pattern: int) -> bool:
    """buf[:nbytes] holds `pattern` repeated as little-endian words (the trailing bytes its low bytes)."""
    import torch
    n_words = nbytes // 4
    words = buf[: 4 * n_words].view(torch.int32)
    want = as_int32(pattern)
    for i in range(0, n_words, CHUNK):
        if not bool((words[i:i + CHUNK] == want).all()):
            return False
    tail = buf[4 * n_words:nbytes]
    ref = torch.tensor(pattern_bytes(pattern, 4 * n_words, nbytes - 4 * n_words), dtype=torch.uint8, device=buf.device)
    return bool(torch.equal(tail, ref))


def poison_fill_(buf, nbytes: int, pattern: int):
    """Fills buf[:nbytes] with the complement of the pattern, so every byte a write misses differs."""
    import torch
    n_words = nbytes // 4
    buf[: 4 * n_words].view(torch.int32).fill_(as_int32(~pattern & MASK32))
    for i, b in enumerate(pattern_bytes(~pattern & MASK32, 4 * n_words, nbytes - 4 * n_words)):
        buf[4 * n_words + i] = b


def bytes_equal(a, b, nbytes: int) -> bool:
    import torch
    for i in range(0, nbytes, 4 * CHUNK):
        j = min(nbytes, i + 4 * CHUNK)
        if not torch.equal(a[i:j], b[i:j]):
            return False
    return True


def triad_error(a, b, c, s: float, n: int) -> float:
    """max|a - (b + s*c)| / rms(b + s*c) over n elements, reference in float64 (inf when a has NaN/inf).
    Two float64 chunk buffers reused throughout; one synchronisation at the end."""
    import torch
    if n == 0:
        return 0.0
    m = min(n, CHUNK)
    ref_buf = torch.empty(m, dtype=torch.float64, device=a.device)
    diff_buf = torch.empty(m, dtype=torch.float64, device=a.device)
    worst = sq = None
    for i in range(0, n, CHUNK):
        j = min(n, i + CHUNK)
        ref = ref_buf[:j - i].copy_(c[i:j]).mul_(s).add_(b[i:j])
        diff = diff_buf[:j - i].copy_(a[i:j]).sub_(ref).abs_()
        w, p = diff.max(), torch.dot(ref, ref)  # max propagates NaN and inf: an unwritten (NaN) element shows
        worst = w if worst is None else torch.maximum(worst, w)
        sq = p if sq is None else sq + p
    worst = float(worst)
    if not math.isfinite(worst):
        return math.inf
    rms = math.sqrt(float(sq) / n)
    return worst / (rms or 1.0)
