"""$MLCD_HOME: where mlcd keeps what it makes on this machine (local registry, runs, pipeline root, caches)."""

from __future__ import annotations

import os
from pathlib import Path


def mlcd_home() -> Path:
    """$MLCD_HOME, else ~/.mlcd; an empty value counts as unset, ~ is expanded and the path made absolute, so
    the operator, local runs and the estimator cache agree whatever the working directory."""
    return Path(os.environ.get("MLCD_HOME") or Path.home() / ".mlcd").expanduser().resolve()
