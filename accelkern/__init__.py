"""accelkern: measure what an accelerator really delivers, beside what its vendor claims."""
try:
    from importlib.metadata import PackageNotFoundError, version as _version

    __version__ = _version("accelkern")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.1.0"

from accelkern.errors import AccelkernError  # noqa: E402,F401
