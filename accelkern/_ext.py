"""Loads accelkern._C (the CUDA extension) and accelkern._cpu (the CPU kernels, C++ only), and says exactly why
when one cannot be loaded."""
from __future__ import annotations

import importlib
import os
from typing import Callable

from accelkern.errors import AccelkernError

_BUILD_HINT = ("build it with `pip install --no-build-isolation -e .` in the accelkern checkout "
               "(needs torch, nvcc from CUDA_HOME, and the nvidia-cublas wheel or a CUDA toolkit with cuBLAS)")
CPU_BUILD_HINT = ("build it with `pip install --no-build-isolation -e .` in the accelkern checkout (needs a C++ "
                  "compiler and pybind11's headers, from the pybind11 package or torch; no CUDA)")


class Loader:
    """One extension module, imported once on first use; `error()` says why it is missing."""

    def __init__(self, name: str, disable_env: str, diagnose: Callable[[BaseException], str],
                 before: Callable[[], None] = lambda: None, extra: Callable[[object], dict] = lambda mod: {}):
        self.name, self.disable_env, self.diagnose, self.before, self.extra = name, disable_env, diagnose, before, extra
        self.module, self.error_text, self.loaded = None, None, False

    def load(self):
        """The extension module, or None (see `error()` for why)."""
        if self.loaded:
            return self.module
        self.loaded = True
        if os.environ.get(self.disable_env) == "1":
            self.error_text = f"{self.name} disabled by {self.disable_env}=1"
            return None
        try:
            self.before()
            self.module = importlib.import_module(self.name)
        except Exception as exc:  # ImportError, OSError: report, never crash the caller
            self.error_text = self.diagnose(exc)
        return self.module

    def error(self) -> str | None:
        self.load()
        return self.error_text

    def require(self):
        """The extension module; raises AccelkernError naming why it is missing and how to fix it."""
        mod = self.load()
        if mod is None:
            raise AccelkernError(self.error_text or f"{self.name} is not available")
        return mod

    def status(self) -> dict:
        """{'built': bool, 'message': str, ...build_info} for `accelkern info`."""
        mod = self.load()
        if mod is None:
            return {"built": False, "message": self.error_text}
        info = dict(mod.build_info())
        info.update(built=True, message=f"{self.name} loaded", **self.extra(mod))
        return info


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _diagnose(exc: BaseException) -> str:
    text = str(exc)
    if isinstance(exc, ModuleNotFoundError) and "accelkern._C" in text:
        return f"accelkern._C is not built (pure-Python install); {_BUILD_HINT}"
    if "undefined symbol" in text:
        import torch
        return (f"accelkern._C was built against another torch than the installed {torch.__version__} "
                f"({text.splitlines()[0]}); rebuild: {_BUILD_HINT}")
    if "cannot open shared object file" in text:
        lib = text.split(":")[0].strip()
        return (f"accelkern._C needs {lib}, which is not on the library path: install the CUDA build of torch "
                f"(it brings the nvidia-* runtime wheels) or add the CUDA toolkit's lib64 to LD_LIBRARY_PATH")
    return f"accelkern._C failed to import: {_first_line(exc)}"


def diagnose_cpu(exc: BaseException) -> str:
    if isinstance(exc, ModuleNotFoundError) and "accelkern._cpu" in str(exc):
        return f"accelkern._cpu is not built; {CPU_BUILD_HINT}"
    if isinstance(exc, ModuleNotFoundError):
        return f"accelkern._cpu failed to import: {exc}"
    return f"accelkern._cpu failed to import: {_first_line(exc)}; rebuild: {CPU_BUILD_HINT}"


def _load_torch():
    import torch  # noqa: F401  (loads libtorch and the CUDA runtime libraries _C links against)


_LOADER = Loader("accelkern._C", "ACCELKERN_DISABLE_EXTENSION", _diagnose, before=_load_torch,
                 extra=lambda mod: {"cublaslt_version": int(mod.cublaslt_version())})
load, error, require, status = _LOADER.load, _LOADER.error, _LOADER.require, _LOADER.status
