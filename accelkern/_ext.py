"""Loads accelkern._C (the CUDA extension) and says exactly why when it cannot."""
from __future__ import annotations

import importlib
import os

from accelkern.errors import AccelkernError

_BUILD_HINT = ("build it with `pip install --no-build-isolation -e .` in the accelkern checkout "
               "(needs torch, nvcc from CUDA_HOME, and the nvidia-cublas wheel or a CUDA toolkit with cuBLAS)")

_module = None
_error: str | None = None
_loaded = False


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
    return f"accelkern._C failed to import: {text.splitlines()[0] if text else type(exc).__name__}"


def load():
    """The extension module, or None (see `error()` for why)."""
    global _module, _error, _loaded
    if _loaded:
        return _module
    _loaded = True
    if os.environ.get("ACCELKERN_DISABLE_EXTENSION") == "1":
        _error = "accelkern._C disabled by ACCELKERN_DISABLE_EXTENSION=1"
        return None
    try:
        import torch  # noqa: F401  (loads libtorch and the CUDA runtime libraries _C links against)
        _module = importlib.import_module("accelkern._C")
    except Exception as exc:  # ImportError, OSError: report, never crash the caller
        _error = _diagnose(exc)
    return _module


def error() -> str | None:
    load()
    return _error


def require():
    """The extension module; raises AccelkernError naming why it is missing and how to fix it."""
    mod = load()
    if mod is None:
        raise AccelkernError(_error or "accelkern._C is not available")
    return mod


def status() -> dict:
    """{'built': bool, 'message': str, ...build_info} for `accelkern info`."""
    mod = load()
    if mod is None:
        return {"built": False, "message": _error}
    info = dict(mod.build_info())
    info.update(built=True, message="accelkern._C loaded", cublaslt_version=int(mod.cublaslt_version()))
    return info
