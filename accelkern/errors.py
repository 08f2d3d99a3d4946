"""The user-facing errors: a single line saying what was wrong and what is allowed, and the exit code.

Exit codes of every command: 0 all measured, 1 some measurement failed (its row says why) or a results file
could not be written, 2 usage or input error, 3 no usable device for what was asked, 128 + the signal when
stopped (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP; finished rows kept).
"""

EXIT_OK, EXIT_MEASUREMENT_FAILED, EXIT_USAGE, EXIT_NO_DEVICE, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class AccelkernError(Exception):
    """Bad input (a usage or input error): the CLI prints it as one line and exits with 2."""
    exit_code = EXIT_USAGE


class NoDevice(AccelkernError):
    """No usable device (or build) for what was asked: one line, exit code 3."""
    exit_code = EXIT_NO_DEVICE


class Unavailable(NoDevice):
    """A measurement this device, build or torch cannot run; reported as a 'skipped' row with the reason
    (exit code 3 only when it reaches the command line instead of a row)."""
