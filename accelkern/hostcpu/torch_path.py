"""Which code torch runs for a GEMM of each dtype on this CPU, so a CPU GEMM row says what it measured:
oneDNN (and the kernel, hence the ISA, it picked), the BLAS torch was built with (MKL or OpenBLAS), or
torch's own portable loop -- a fallback that measures torch, not the CPU.

oneDNN's choice is read, not guessed: one small GEMM runs with oneDNN's verbose mode on and its 'exec' line
names the implementation (e.g. brg_matmul:avx512_core_bf16). Without such a line the dtype's rule in torch's
sources decides (aten/src/ATen/native/CPUBlas.cpp, mkldnn/Matmul.cpp; accelkern/hostcpu's anchors):
fp32/fp64 go to the BLAS; bf16 to oneDNN on AVX-512 BW/VL/DQ or AVX_NE_CONVERT; fp16 to oneDNN only with
AVX512_FP16 or AVX_NE_CONVERT; torch._int_mm to oneDNN only with AVX512_VNNI (else a scalar triple loop);
torch._scaled_mm (fp8) is software everywhere: no x86 CPU has fp8 arithmetic.
"""
from __future__ import annotations

import functools
import os
import re
import sys
import tempfile
from dataclasses import dataclass


@dataclass(frozen=True)
class TorchCpuPath:
    dtype: str
    path: str           # in words: 'oneDNN brg_matmul:avx512_core_bf16', 'MKL sgemm', "torch's own loop"
    fallback: bool      # True: torch's portable fallback or an emulation, not a measure of the CPU
    why: str            # the rule or observation behind it

    def label(self) -> str:
        return f"{self.path} (torch's fallback: not the CPU's ability)" if self.fallback else self.path


_EXEC = re.compile(r"^onednn_verbose,(?:v1,)?(?:primitive,)?exec,cpu,([^,]*),([^,]*),")


def onednn_impls(verbose_text: str) -> list[str]:
    """'matmul brg_matmul:avx512_core_bf16' per oneDNN exec line of a verbose log."""
    out = []
    for line in verbose_text.splitlines():
        m = _EXEC.match(line.strip())
        if m:
            out.append(f"{m.group(1)} {m.group(2)}".strip())
    return out


def blas_name(config_text: str) -> str | None:
    """'MKL', 'OpenBLAS', ... from torch.__config__.show()'s BLAS_INFO."""
    m = re.search(r"BLAS_INFO=([A-Za-z0-9_]+)", config_text)
    if not m:
        return None
    return {"mkl": "MKL", "open": "OpenBLAS", "openblas": "OpenBLAS", "accelerate": "Accelerate",
            "blis": "BLIS", "flexi": "FlexiBLAS"}.get(m.group(1).lower(), m.group(1))


def decide(dtype: str, impls: list[str], blas: str | None, features: frozenset) -> TorchCpuPath:
    """The path from what oneDNN said it ran (impls), torch's BLAS and the CPU's features."""
    has = features.__contains__
    if dtype == "fp8":
        return TorchCpuPath(dtype, "oneDNN " + impls[0] if impls else "torch._scaled_mm's software path", True,
                            "no x86 CPU has fp8 arithmetic: fp8 GEMMs are converted and computed in wider types")
    if impls:
        impl = impls[0]
        return TorchCpuPath(dtype, f"oneDNN {impl}", False, "oneDNN's verbose log names the kernel it ran")
    if dtype in ("fp32", "fp64", "tf32"):
        if blas:
            return TorchCpuPath(dtype, f"{blas} {'d' if dtype == 'fp64' else 's'}gemm", False,
                                "torch hands fp32/fp64 GEMMs to the BLAS it was built with")
        return TorchCpuPath(dtype, "torch's own loop", True, "torch was built without a BLAS")
    if dtype == "int8":
        return TorchCpuPath(dtype, "torch's own loop", True,
                            "torch._int_mm uses oneDNN only on CPUs with AVX512_VNNI"
                            + ("" if not has("avx512_vnni") else " (this one has it, yet oneDNN did not run)")
                            + "; otherwise a scalar triple loop")
    if dtype == "bf16":
        why = ("oneDNN's bf16 GEMM needs AVX-512 BW/VL/DQ or AVX_NE_CONVERT"
               if not (has("avx512bw") or has("avx_ne_convert")) else "oneDNN did not run for this shape")
        return TorchCpuPath(dtype, "torch's own loop", True, why)
    if dtype == "fp16":
        return TorchCpuPath(dtype, "torch's own loop", True,
                            "oneDNN's fp16 GEMM needs AVX512_FP16 or AVX_NE_CONVERT"
                            + ("" if not (has("avx512_fp16") or has("avx_ne_convert")) else
                               " (this CPU has one, yet oneDNN did not run)"))
    return TorchCpuPath(dtype, "unknown", False, f"no rule for {dtype}")


def _capture_stdout(fn) -> str:
    """What C code writes to file descriptor 1 while fn runs (oneDNN prints its log there)."""
    sys.stdout.flush()
    saved = os.dup(1)
    with tempfile.TemporaryFile(mode="w+b") as tmp:
        os.dup2(tmp.fileno(), 1)
        try:
            fn()
        finally:
            sys.stdout.flush()
            os.dup2(saved, 1)
            os.close(saved)
        tmp.seek(0)
        return tmp.read().decode("utf-8", "replace")


@functools.lru_cache(maxsize=None)
def torch_gemm_path(dtype: str) -> TorchCpuPath:
    """The path torch takes for a `dtype` GEMM on this CPU (one 64^3 GEMM under oneDNN's verbose mode)."""
    import torch

    from accelkern import torch_backend
    from accelkern.hostcpu import facts as cpu_facts
    impls: list[str] = []
    try:
        g = torch_backend.TorchGemm(dtype, 64, 64, 64, "cpu", slots=1)
        try:
            mk = torch.backends.mkldnn

            def once():
                with mk.verbose(mk.VERBOSE_ON):
                    g(0)
            impls = onednn_impls(_capture_stdout(once))
        finally:
            g.close()
    except Exception as exc:  # the probe is a label: never fail a measurement over it
        return TorchCpuPath(dtype, "unknown", False, f"could not probe torch's path: {exc}")
    return decide(dtype, impls, blas_name(torch.__config__.show()), cpu_facts.cpu_facts().features)
