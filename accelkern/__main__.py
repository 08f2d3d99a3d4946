"""`python -m accelkern ...` runs the command line (also what torchrun launches with `-m accelkern`)."""
from accelkern.cli import main

main()
