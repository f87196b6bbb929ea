"""Prediction on checked rows, with the shortest correct path through mlcd's own pipelines.

mlcd trains ``Pipeline([("preprocess", ColumnTransformer), ("estimator", ...)])`` on an array whose
columns are the signature's features in order (earlier models: on a DataFrame with those names). When
the ColumnTransformer only passes every feature through in that order, it is the identity on a numeric
matrix, so the rest of the pipeline is given the matrix directly: that skips the column selection (and
for name-fitted models building a DataFrame) on every request, most of the overhead around one row.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd

from mlcd.serving.signature import InputError, Signature

log = logging.getLogger(__name__)

# scikit-learn's joblib wrapper re-installs every warning filter of the process around each task it runs
# (sklearn.utils.parallel._FuncWrapper): a forest's predict runs one task per tree, so with the dozen or
# more filters a server's libraries install, most of a one-row predict is spent rebuilding filter lists
# (15 filters: ~20% slower than 11, on iris' 100 trees). Predictions run under one filter, Python's own
# default: a warning raised while predicting is still shown, once per place it comes from. The server
# predicts on its event loop's thread only (catch_warnings changes the process's filters while it lasts).


class Predictor:
    def __init__(self, model, signature: Signature):
        self.model = model
        self.signature = signature
        self._by_name = hasattr(model, "feature_names_in_")  # fitted on a DataFrame
        self._direct = _after_passthrough(model, signature)
        path = "matrix" if self._direct is not None else "dataframe" if self._by_name else "array"
        log.info("predictor ready estimator=%s path=%s", type(model).__name__, path)

    def predict(self, rows: list[list]) -> np.ndarray:
        with warnings.catch_warnings():  # the process's own filters are back when it returns
            warnings.resetwarnings()
            warnings.simplefilter("default")
            return self._predict(rows)

    def _predict(self, rows: list[list]) -> np.ndarray:
        try:
            if self._direct is not None:
                return self._direct.predict(np.asarray(rows, dtype=np.float64))
            if self._by_name:
                return self.model.predict(self._frame(rows))
            return self.model.predict(np.asarray(rows, dtype=np.float64 if self.signature.all_numeric else object))
        except (ValueError, TypeError) as exc:
            # The rows matched the signature; a value the fitted model still cannot take (NaN without an
            # imputer, an unseen category without handle_unknown) is the request's problem, not the server's.
            raise InputError(f"the model cannot predict on these values: {exc}") from exc

    def _frame(self, rows: list[list]) -> pd.DataFrame:
        frame = pd.DataFrame(rows, columns=self.signature.names)
        for feature in self.signature.features:
            if feature.numeric:
                frame[feature.name] = frame[feature.name].astype(np.float64)
        return frame


def _after_passthrough(model, signature: Signature):
    """The pipeline after its first step when that step is a pure passthrough of every feature in
    training order and nothing after it wants column names; None otherwise."""
    from sklearn.compose import ColumnTransformer
    from sklearn.pipeline import Pipeline

    if not signature.all_numeric or not isinstance(model, Pipeline) or len(model.steps) < 2:
        return None
    first = model.steps[0][1]
    if not isinstance(first, ColumnTransformer) or first.remainder != "drop" or getattr(first, "sparse_output_", True):
        return None
    columns: list = []
    for _, transformer, selected in first.transformers:
        if transformer != "passthrough" or not isinstance(selected, (list, tuple, str, int)):
            return None  # a slice, mask or callable selector: not worth proving equivalent here
        columns.extend(list(selected) if isinstance(selected, (list, tuple)) else [selected])
    in_order = signature.names if hasattr(model, "feature_names_in_") else list(range(len(signature.features)))
    rest = model[1:]
    if columns != in_order or hasattr(rest[0], "feature_names_in_"):
        return None
    return rest
