"""Loads accelkern._cpu (the CPU kernels, a C++-only extension) and says exactly why when it cannot."""
from __future__ import annotations

from accelkern._ext import Loader, diagnose_cpu

_LOADER = Loader("accelkern._cpu", "ACCELKERN_DISABLE_CPU_EXTENSION", diagnose_cpu)
load, error, require, status = _LOADER.load, _LOADER.error, _LOADER.require, _LOADER.status
