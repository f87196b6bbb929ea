"""spec.tuning -> the candidates of the search, split into chunks: the items of the pipeline's ParallelFor.

The candidates come from scikit-learn's own ParameterGrid and ParameterSampler (with the run's seed),
so they are, in order, the candidates GridSearchCV and RandomizedSearchCV would try. There are at most
`parallelism` chunks: the fan-out never has more tasks than may run at once, and never more than
MAX_PARALLELISM, well inside what KFP's ParallelFor handles.
"""

from __future__ import annotations

import json

from mlcd import catalog
from mlcd.api.v1alpha1.tuning import TuningSpec


def _plain(value):
    """A Python value from a numpy scalar (what ParameterSampler draws)."""
    return value.item() if hasattr(value, "item") else value


def _distribution(dimension):
    from scipy import stats

    if dimension.values is not None:
        return list(dimension.values)
    low, high = dimension.low, dimension.high
    if dimension.distribution == "int":
        return stats.randint(int(low), int(high) + 1)
    if dimension.distribution == "uniform":
        return stats.uniform(low, high - low)
    return stats.loguniform(low, high)


def candidates(tuning: TuningSpec, seed: int) -> list[dict]:
    from sklearn.model_selection import ParameterGrid, ParameterSampler

    if tuning.strategy == "grid":
        return [dict(c) for c in ParameterGrid({k: list(d.values or ()) for k, d in tuning.parameters.items()})]
    space = {name: _distribution(d) for name, d in tuning.parameters.items()}
    return [{k: _plain(v) for k, v in c.items()}
            for c in ParameterSampler(space, n_iter=tuning.trial_count, random_state=seed)]


def chunks(tuning: TuningSpec, seed: int) -> list[str]:
    """Contiguous runs of trials, one JSON string each (a Struct would turn integers into floats)."""
    trials = [{"trial": i, "params": params} for i, params in enumerate(candidates(tuning, seed))]
    count = min(tuning.parallelism, len(trials))
    size, extra = divmod(len(trials), count)
    out, start = [], 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        out.append(json.dumps({"chunk": index + 1, "trials": trials[start:end]}, sort_keys=True))
        start = end
    return out


def metric(tuning: TuningSpec | None, gates: list, kind: str) -> str:
    """spec.tuning.metric, else the first gate's, else the estimator kind's key metric."""
    if tuning and tuning.metric:
        return tuning.metric
    return gates[0].metric if gates else catalog.KEY_METRIC[kind]
