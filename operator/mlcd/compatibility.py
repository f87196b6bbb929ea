"""Which scikit-learn can load a model pickled by which: one rule, for `mlcd serve` as it loads a model
and for the operator before it sends a model to a runtime. Pure: versions in, a reason or None out."""

from __future__ import annotations

import logging

from packaging.version import InvalidVersion, Version

log = logging.getLogger(__name__)


def sklearn_problem(recorded: str | None, installed: str, where: str = "installed here") -> str | None:
    """Why a model pickled by scikit-learn ``recorded`` cannot be loaded by ``installed``, or None.

    scikit-learn unpickles models from older minor releases of the same major (with a warning); a
    newer minor, or another major, may have classes and attributes this one does not know."""
    if not recorded:
        log.warning("metadata.json records no scikit-learn version; loading with %s", installed)
        return None
    try:
        made, here = Version(recorded), Version(installed)
    except InvalidVersion:
        return f"unreadable scikit-learn version {recorded!r} in metadata.json"
    if made.major != here.major or made.minor > here.minor:
        return (f"model.joblib was pickled by scikit-learn {recorded}, which scikit-learn {installed} ({where}) "
                f"cannot load safely; install scikit-learn~={made.major}.{made.minor}.0 to serve it, "
                f"or retrain it with {installed}")
    if made.minor < here.minor:
        log.warning("model pickled by scikit-learn %s, loading with %s", recorded, installed)
    return None
