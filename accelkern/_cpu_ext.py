"""Loads accelkern._cpu (the CPU kernels, a C++-only extension) and says exactly why when it cannot."""
from __future__ import annotations

import importlib
import os

from accelkern.errors import AccelkernError

_BUILD_HINT = ("build it with `pip install --no-build-isolation -e .` in the accelkern checkout (needs a C++ "
               "compiler and pybind11's headers, from the pybind11 package or torch; no CUDA)")

_module = None
_error: str | None = None
_loaded = False


def load():
    """The extension module, or None (see `error()` for why)."""
    global _module, _error, _loaded
    if _loaded:
        return _module
    _loaded = True
    if os.environ.get("ACCELKERN_DISABLE_CPU_EXTENSION") == "1":
        _error = "accelkern._cpu disabled by ACCELKERN_DISABLE_CPU_EXTENSION=1"
        return None
    try:
        _module = importlib.import_module("accelkern._cpu")
    except ModuleNotFoundError as exc:
        _error = (f"accelkern._cpu is not built; {_BUILD_HINT}" if "accelkern._cpu" in str(exc)
                  else f"accelkern._cpu failed to import: {exc}")
    except Exception as exc:  # ImportError, OSError: report, never crash the caller
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        _error = f"accelkern._cpu failed to import: {text}; rebuild: {_BUILD_HINT}"
    return _module


def error() -> str | None:
    load()
    return _error


def require():
    """The extension module; raises AccelkernError naming why it is missing and how to fix it."""
    mod = load()
    if mod is None:
        raise AccelkernError(_error or "accelkern._cpu is not available")
    return mod


def status() -> dict:
    """{'built': bool, 'message': str, ...build_info} for `accelkern info`."""
    mod = load()
    if mod is None:
        return {"built": False, "message": _error}
    info = dict(mod.build_info())
    info.update(built=True, message="accelkern._cpu loaded")
    return info
