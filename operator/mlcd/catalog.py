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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mlcd.home import mlcd_home

log = logging.getLogger(__name__)

COMMITTED = Path(__file__).parent / "data" / "sklearn-catalog.json"

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
    params: tuple[str, ...] = ()
    # Constructor parameters without a default: what a meta-estimator needs (the estimators it
    # wraps), and what a spec, being data, can never give.
    required: tuple[str, ...] = ()
    # scikit-learn's `_parameter_constraints` as data (see mlcd.constraints).
    constraints: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def is_meta(self) -> bool:
        return bool(self.required)


def _from_json(raw: dict) -> dict[str, EstimatorInfo]:
    return {name: EstimatorInfo(name, e["module"], e["kind"], tuple(e["params"]), tuple(e["required"]),
                                e["constraints"])
            for name, e in raw["estimators"].items()}


def _cache_file(sklearn_version: str) -> Path:
    return mlcd_home() / "cache" / f"sklearn-{sklearn_version}-catalog.json"


def _read(path: Path, sklearn_version: str) -> dict | None:
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return raw if isinstance(raw, dict) and raw.get("sklearn") == sklearn_version else None


@functools.cache
def estimator_catalog() -> dict[str, EstimatorInfo]:
    """Every scikit-learn classifier and regressor by class name, with its parameters and constraints.

    Read from the catalog committed beside this module (written by `make catalog` from scikit-learn
    itself), so that validating a spec never imports scikit-learn. Where the installed scikit-learn
    is another version, the catalog is built from it once and kept under $MLCD_HOME/cache.
    """
    from importlib.metadata import version

    installed = version("scikit-learn")
    raw = _read(COMMITTED, installed) or _read(_cache_file(installed), installed)
    if raw is None:
        from mlcd import catalog_build

        log.info("building the estimator catalog sklearn=%s (the committed one is for another version)", installed)
        raw = catalog_build.build()
        path = _cache_file(installed)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(catalog_build.render(raw))
            os.replace(tmp, path)
        except OSError as exc:
            log.debug("estimator catalog not cached path=%s error=%s", path, exc)
    return _from_json(raw)


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
