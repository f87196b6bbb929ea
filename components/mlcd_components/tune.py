"""tune: score a chunk of a hyperparameter search by cross-validation, and pick the best of all chunks.

Each candidate is the same scikit-learn Pipeline the train step fits (preprocessing inside, so no fold
sees statistics of another), scored with scikit-learn's cross_validate on the training rows only; the
test rows stay unseen until the evaluate step. Folds are shuffled with the run's seed, stratified for
classifiers, so a search gives the same scores as GridSearchCV given the same splitter.
"""

from __future__ import annotations

import html
import json
import math

from mlcd_components.progress import StepError

# The metrics mlcd gates on, as scikit-learn scorers (greater is better: errors are negated).
_SCORERS = {"accuracy": "accuracy", "log_loss": "neg_log_loss", "r2": "r2",
            "rmse": "neg_root_mean_squared_error", "mae": "neg_mean_absolute_error"}
LOWER_IS_BETTER = frozenset({"log_loss", "rmse", "mae"})


def scorer(metric: str, classes: int):
    """The scikit-learn scorer of a metric, computed as the evaluate step computes it."""
    from sklearn import metrics

    if metric in _SCORERS:
        return _SCORERS[metric]
    if metric == "roc_auc":
        return "roc_auc" if classes == 2 else "roc_auc_ovr"
    averaged = {"f1_macro": metrics.f1_score, "precision_macro": metrics.precision_score,
                "recall_macro": metrics.recall_score}
    if metric in averaged:
        return metrics.make_scorer(averaged[metric], average="macro", zero_division=0)
    raise StepError(f"spec.tuning.metric: {metric!r} cannot be optimised")


def splitter(kind: str, folds: int, seed: int):
    from sklearn.model_selection import KFold, StratifiedKFold

    cls = StratifiedKFold if kind == "classifier" else KFold
    return cls(n_splits=folds, shuffle=True, random_state=seed)


def score(train_path: str, target: str, estimator: str, base_params: dict, preprocessing: dict, seed: int,
          kind: str, metric: str, folds: int, jobs: int, trials: list[dict]) -> list[dict]:
    """One row per trial: its params, mean and std of the fold scores (in the metric's own sign), fit time."""
    import numpy as np
    from sklearn.model_selection import cross_validate

    from mlcd_components.train import build_pipeline, read_xy

    features, x, y = read_xy(train_path, target)
    how = scorer(metric, len(np.unique(y)))
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    rows = []
    for trial in trials:
        pipeline = build_pipeline(estimator, {**base_params, **trial["params"]}, preprocessing, features, seed)
        try:
            result = cross_validate(pipeline, x, y, cv=splitter(kind, folds, seed), scoring=how, n_jobs=jobs,
                                    error_score="raise")
        except (ValueError, TypeError) as exc:
            rows.append({"trial": trial["trial"], "params": trial["params"], "mean": None, "std": None,
                         "fitSeconds": None, "error": str(exc).splitlines()[0][:300]})
            continue
        scores = result["test_score"]
        rows.append({"trial": trial["trial"], "params": trial["params"],
                     # np.average and np.std over the folds, as GridSearchCV computes mean/std_test_score.
                     "mean": float(np.average(scores)) * sign, "std": float(np.std(scores)),
                     "fitSeconds": round(float(np.sum(result["fit_time"])), 4)})
    return rows


def best(rows: list[dict], metric: str) -> dict:
    """The first trial with the best mean score (GridSearchCV's rank 1, ties to the earliest)."""
    scored = [r for r in sorted(rows, key=lambda r: r["trial"]) if r["mean"] is not None and math.isfinite(r["mean"])]
    if not scored:
        errors = sorted({r.get("error", "") for r in rows})
        raise StepError(f"spec.tuning: no candidate could be scored: {'; '.join(errors)[:500]}")
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    return max(scored, key=lambda r: (sign * r["mean"], -r["trial"]))


def collect(chunks: list, metric: str, base_params: dict) -> tuple[dict, str]:
    """All chunks' rows in trial order, the best one, and the parameters the final model is trained with."""
    rows = sorted((row for chunk in chunks for row in json.loads(chunk)), key=lambda r: r["trial"])
    winner = best(rows, metric)
    summary = {"best": winner["params"], "score": winner["mean"], "metric": metric, "bestTrial": winner["trial"],
               "trials": rows}
    return summary, json.dumps({**base_params, **winner["params"]}, sort_keys=True)


def _cell(value) -> str:
    return "" if value is None else (f"{value:.6g}" if isinstance(value, float) else str(value))


def table(summary: dict) -> tuple[str, str]:
    """The trial table as Markdown and as an HTML page (what the KFP UI shows)."""
    names = sorted({k for r in summary["trials"] for k in r["params"]})
    head = ["trial", *names, f"mean {summary['metric']}", "std", "fit seconds", "best"]
    body = []
    for r in summary["trials"]:
        mark = "✔" if r["trial"] == summary["bestTrial"] else r.get("error", "")
        body.append([str(r["trial"]), *(_cell(r["params"].get(n)) for n in names), _cell(r["mean"]),
                     _cell(r["std"]), _cell(r["fitSeconds"]), mark])
    title = f"Search: {len(summary['trials'])} trials, best {summary['metric']} {summary['score']:.6g}"
    markdown = "\n".join([f"# {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                          *("| " + " | ".join(row) + " |" for row in body)]) + "\n"
    cells = lambda row, tag: "".join(f"<{tag}>{html.escape(c)}</{tag}>" for c in row)  # noqa: E731
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head><body>"
            f"<h1>{html.escape(title)}</h1><table border='1'><tr>{cells(head, 'th')}</tr>"
            + "".join(f"<tr>{cells(row, 'td')}</tr>" for row in body) + "</table></body></html>\n")
    return markdown, page
