"""`python -m liberation_guardian` runs the command line."""

from liberation_guardian.cli import main

main()
