"""The validate suite 'gemm': per dtype at 8192^3, the best of cuBLASLt's top 4 heuristic algorithms,
checked, against the datasheet."""
from __future__ import annotations

from typing import Iterator

from accelkern import _ext
from accelkern.errors import Unavailable
from accelkern.gemm.rows import GemmRequest, gemm_rows, skipped_row
from accelkern.gemm.workloads import CublasLtGemm
from accelkern.results import Row

VALIDATE_DTYPES = ("fp32", "tf32", "fp16", "bf16", "fp8", "int8")   # the cuBLASLt dtypes of `all`
VALIDATE_TOP_K = 4


def validate_rows(ctx) -> Iterator[Row]:
    """Per dtype at 8192^3: the best of the heuristic's top 4 cuBLASLt algorithms vs the datasheet."""
    dev = ctx.device
    if _ext.load() is None:
        raise Unavailable(_ext.error())
    n_left = len(VALIDATE_DTYPES)
    for dtype in VALIDATE_DTYPES:
        req = GemmRequest(dtype, 8192, 8192, 8192, top_k=VALIDATE_TOP_K, check=False)
        rule = ctx.rule(n_left * VALIDATE_TOP_K, min_s=0.2)
        n_left -= 1
        rows = list(gemm_rows(req, "cublaslt", dev, ctx.spec, rule, ctx.progress))
        ok_rows = [r for r in rows if r.status == "ok" and r.value is not None]
        if not ok_rows:
            yield rows[0] if rows else skipped_row(req, "cublaslt", "no result")
            continue
        best = max(ok_rows, key=lambda r: r.value)
        # the winner is checked for correctness before it is reported
        w = CublasLtGemm(dtype, req.m, req.n, req.k, dev.torch_device, algo=_algo_from_config(best),
                         cache_bytes=dev.l2_bytes, slots=1, top_k=VALIDATE_TOP_K)
        unchecked = None
        try:
            best.correct, best.max_error, best.tolerance = w.check()
        except Unavailable as exc:
            unchecked = f"not checked: {exc}"
        finally:
            w.close()
        best.suite = "gemm"
        best.note = f"best of {len(ok_rows)} cuBLASLt heuristic algorithms" + (f"; {unchecked}" if unchecked else "")
        yield best


def _algo_from_config(row: Row) -> int:
    return int(row.config.get("algo_index", 0))


def _register():
    from accelkern import validate
    validate.register(validate.Suite("gemm", "GEMM per dtype through cuBLASLt (best of the heuristic's top 4, "
                                     "8192^3)", validate_rows, devices=("cuda",), weight=3.0,
                                     needs="a CUDA GPU and accelkern._C (cuBLASLt)"))


_register()
