"""mlcd.handlers."""
