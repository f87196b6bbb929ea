"""python -m mlcd is the mlcd command."""

from mlcd.cli import entry

entry()
