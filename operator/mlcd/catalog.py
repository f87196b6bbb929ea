"""What a spec may name: scikit-learn's own estimators, and the metrics mlcd computes.

Estimator names are looked up in `sklearn.utils.discovery.all_estimators`, never imported
from a string a spec gives: a spec is data, and resolving a dotted path would run code
chosen by whoever wrote it.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

log = logging.getLogger(__name__)

Kind = Literal["classifier", "regressor"]

CLASSIFIER_METRICS = ("accuracy", "f1_macro", "precision_macro", "recall_macro", "roc_auc", "log_loss")
REGRESSOR_METRICS = ("r2", "rmse", "mae")
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})
KEY_METRIC = {"classifier": "accuracy", "regressor": "r2"}


def metrics_for(kind: Kind) -> tuple[str, ...]:
    return CLASSIFIER_METRICS if kind == "classifier" else REGRESSOR_METRICS


@dataclass(frozen=True)
class EstimatorInfo:
    name: str
    module: str
    kind: Kind
    # Constructor parameters without a default: what a meta-estimator needs (the estimators it
    # wraps), and what a spec, being data, can never give.
    required: tuple[str, ...] = ()

    @property
    def is_meta(self) -> bool:
        return bool(self.required)


def _cache_file(sklearn_version: str) -> Path:
    home = Path(os.environ.get("MLCD_HOME", Path.home() / ".mlcd"))
    return home / "cache" / f"sklearn-{sklearn_version}-estimators.json"


def _init_params(cls) -> list:
    import inspect

    return [p for p in inspect.signature(cls.__init__).parameters.values()
            if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def param_names(cls) -> tuple[str, ...]:
    """The constructor parameters of an estimator class (what get_params() names), without building one:
    a deprecated estimator warns when built, and a meta-estimator cannot be built without its estimators."""
    return tuple(p.name for p in _init_params(cls))


def required_params(cls) -> tuple[str, ...]:
    """The constructor parameters of an estimator class that have no default."""
    import inspect

    return tuple(p.name for p in _init_params(cls) if p.default is inspect.Parameter.empty)


def _discover() -> dict[str, EstimatorInfo]:
    from sklearn.utils.discovery import all_estimators

    found: dict[str, EstimatorInfo] = {}
    for kind in ("classifier", "regressor"):
        for name, cls in all_estimators(type_filter=kind):
            found.setdefault(name, EstimatorInfo(name, cls.__module__, kind, required_params(cls)))
    return found


@functools.cache
def estimator_catalog() -> dict[str, EstimatorInfo]:
    """Every scikit-learn classifier and regressor by class name.

    all_estimators() imports all of scikit-learn (about 2 s), so its answer is kept on disk
    per scikit-learn version; the file only ever holds what all_estimators() returned.
    """
    from importlib.metadata import version

    # The version from the package metadata: importing scikit-learn here would cost a second.
    path = _cache_file(version("scikit-learn"))
    try:
        raw = json.loads(path.read_text())
        return {n: EstimatorInfo(n, m, k, tuple(r)) for n, (m, k, r) in raw.items()}
    except (OSError, ValueError, TypeError):
        pass
    found = _discover()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({n: [i.module, i.kind, list(i.required)] for n, i in sorted(found.items())}))
        os.replace(tmp, path)
    except OSError as exc:
        log.debug("estimator catalog not cached path=%s error=%s", path, exc)
    return found


def suggest(name: str, candidates) -> str:
    close = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return f"; did you mean {close[0]}?" if close else ""


def estimator_class(name: str):
    """The class of a catalogued estimator. Only names from the catalog ever reach an import."""
    info = estimator_catalog().get(name)
    if info is None or not info.module.startswith("sklearn."):
        raise KeyError(f"{name!r} is not a scikit-learn classifier or regressor")
    cls = getattr(importlib.import_module(info.module), name)
    if getattr(cls, "__name__", None) != name:
        raise KeyError(f"{name!r} is not a scikit-learn classifier or regressor")
    return cls


def estimator_info(name: str) -> EstimatorInfo | None:
    return estimator_catalog().get(name)


def estimator_kind(name: str) -> Kind | None:
    info = estimator_catalog().get(name)
    return info.kind if info else None
