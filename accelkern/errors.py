"""The one user-facing error: a single line saying what was wrong and what is allowed."""


class AccelkernError(Exception):
    """Bad input or an unavailable capability; the CLI prints it as one line and exits non-zero."""


class Unavailable(AccelkernError):
    """A measurement this device, build or torch cannot run; reported as a 'skipped' row with the reason."""
