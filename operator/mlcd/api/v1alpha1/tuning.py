"""spec.tuning: a hyperparameter search over the estimator's parameters, scored by cross-validation.

A parameter is searched over a list of values or over a range: `int` (whole numbers, both ends
included), `uniform` or `logUniform` (reals). A space of lists alone is a grid by default; any range
makes it a random search of `trials` candidates, drawn as scikit-learn's RandomizedSearchCV draws them.
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import Field, model_validator

from mlcd.api.v1alpha1.base import SpecModel

MAX_TRIALS = 500  # candidates per search: each is `folds` fits
INT_RANGE_LIMIT = 1 << 63  # numpy's int64, in which scikit-learn's randint draws
MAX_PARALLELISM = 16  # tune steps at once, and so tasks in the ParallelFor (one chunk of trials each)
# Parameters in one search space: more than any scikit-learn estimator has (MLPRegressor's 24). The bound also
# keeps the API server's cost estimate of the SearchDimension rules small: without it, it counts each rule
# once for every dimension a 3 MiB request could hold (about a million), and refuses the CRD past 10 million.
MAX_PARAMETERS = 64
_INT64 = f"{INT_RANGE_LIMIT}.0"  # as a CEL double literal, 2^63 exactly
_BOTH_ENDS = "!has(self.distribution) || self.distribution != 'int' || !has(self.low) || !has(self.high) || "


class SearchDimension(SpecModel):
    """One parameter's candidates: a list of values, or a range with a distribution."""

    # The CRD's rules mirror _one_kind below, so the API server refuses what `mlcd validate` refuses. Each
    # leaves alone what another refuses (a range without its ends, say): one mistake, one message.
    model_config = SpecModel.model_config | {"json_schema_extra": {"x-kubernetes-validations": [
        {"rule": "has(self.values) != has(self.distribution)",
         "message": "give either values or a distribution with low and high"},
        {"rule": "!has(self.distribution) || (has(self.low) && has(self.high) && self.low <= self.high)",
         "message": "a range needs low and high, low not above high"},
        {"rule": "!has(self.values) || has(self.distribution) || (!has(self.low) && !has(self.high))",
         "message": "low and high belong to a distribution, not to values"},
        {"rule": "!has(self.distribution) || self.distribution == 'int' || !has(self.low) || !has(self.high) || "
                 "self.low != self.high",
         "message": "a uniform or logUniform range needs low below high"},
        {"rule": "!has(self.distribution) || self.distribution != 'logUniform' || !has(self.low) || self.low > 0.0",
         "message": "a logUniform range needs low > 0", "fieldPath": ".low"},
        # An end past int64 is the next rule's; int() would fail on it (the API server's CEL and cel-python).
        {"rule": _BOTH_ENDS + f"[self.low, self.high].all(end, end <= -{_INT64} || end >= {_INT64} || "
                              "double(int(end)) == end)",
         "message": "an int range has whole-number ends"},
        {"rule": _BOTH_ENDS + f"[self.low, self.high].all(end, end > -{_INT64} && end < {_INT64})",
         "message": f"an int range's ends must lie within ±{INT_RANGE_LIMIT - 1:,} (numpy draws 64-bit integers)"},
    ]}}

    values: list[Any] | None = Field(
        default=None, min_length=1,
        description="The values to try (a grid's axis; a random search picks among them evenly).",
        json_schema_extra={"items": {"x-kubernetes-preserve-unknown-fields": True}})
    distribution: Literal["int", "uniform", "logUniform"] | None = Field(
        default=None, description="A range to draw from: int (whole numbers, low and high included), uniform "
                                  "or logUniform (reals in [low, high]).")
    low: float | None = Field(default=None, description="The range's lower end.")
    high: float | None = Field(default=None, description="The range's upper end.")

    @model_validator(mode="after")
    def _one_kind(self):
        if (self.values is None) == (self.distribution is None):
            raise ValueError("give either values or a distribution with low and high")
        if self.values is not None:
            if self.low is not None or self.high is not None:
                raise ValueError("low and high belong to a distribution, not to values")
            return self
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.distribution} range needs low and high")
        if not (math.isfinite(self.low) and math.isfinite(self.high)):
            raise ValueError("low and high must be finite numbers")
        if self.distribution == "int":
            if self.low != int(self.low) or self.high != int(self.high):
                raise ValueError("an int range has whole-number ends")
            if max(abs(self.low), abs(self.high)) >= INT_RANGE_LIMIT:
                raise ValueError(f"an int range's ends must lie within ±{INT_RANGE_LIMIT - 1:,} "
                                 "(numpy draws 64-bit integers)")
            if self.low > self.high:
                raise ValueError(f"the range [{self.low:g}, {self.high:g}] is empty")
        elif self.low >= self.high:
            raise ValueError(f"the range [{self.low:g}, {self.high:g}] is empty")
        if self.distribution == "logUniform" and self.low <= 0:
            raise ValueError("a logUniform range needs low > 0")
        return self


class TuningSpec(SpecModel):
    """Search the estimator's parameters before training: the best candidate by cross-validation on the
    training set is trained on all of it, then evaluated and gated as usual."""

    model_config = SpecModel.model_config | {"json_schema_extra": {"x-kubernetes-validations": [
        {"rule": "!has(self.search) || self.search != 'grid' || "
                 "self.parameters.all(name, has(self.parameters[name].values))",
         "message": "a grid needs lists of values", "fieldPath": ".search"},
        {"rule": "!has(self.trials) || (has(self.search) && self.search == 'random') || "
                 "self.parameters.exists(name, has(self.parameters[name].distribution))",
         "message": "trials applies to a random search; a grid tries every combination", "fieldPath": ".trials"},
    ]}}

    parameters: dict[str, SearchDimension] = Field(
        min_length=1, max_length=MAX_PARAMETERS,
        description=f"The search space: estimator parameter name -> values or a range, at most {MAX_PARAMETERS}. "
                    "spec.model.params gives the rest.")
    search: Literal["grid", "random"] | None = Field(
        default=None, description="grid tries every combination of the lists; random draws `trials` candidates. "
                                  "Default: grid when every parameter is a list, else random.")
    trials: int | None = Field(
        default=None, ge=1, le=MAX_TRIALS,
        description=f"Candidates of a random search (default 10). A grid tries all its combinations, at most "
                    f"{MAX_TRIALS}.")
    folds: int = Field(default=5, ge=2, le=20,
                       description="Cross-validation folds, 2 to 20 (stratified for classifiers; default 5).")
    metric: str | None = Field(
        default=None, description="The metric to optimise; default: the first gate's metric, else accuracy or r2.")
    parallelism: int = Field(
        default=2, ge=1, le=MAX_PARALLELISM,
        description=f"Tune steps running at once, 1 to {MAX_PARALLELISM}; the trials are split into this many "
                    "chunks, one step each (default 2).")

    @model_validator(mode="after")
    def _search_fits_space(self):
        ranges = [name for name, d in self.parameters.items() if d.values is None]
        if self.strategy == "grid":
            if ranges:
                raise ValueError(f"a grid needs lists of values; {', '.join(sorted(ranges))} "
                                 "is a range (use search: random)")
            if self.trials is not None:
                raise ValueError("trials applies to a random search; a grid tries every combination")
        if self.strategy == "random" and not ranges:
            combinations = math.prod(len(d.values or ()) for d in self.parameters.values())
            if self.trial_count > combinations:
                raise ValueError(f"{self.trial_count} trials drawn from lists of {combinations} combinations; "
                                 "ask for at most that many, or use a grid")
        if self.trial_count > MAX_TRIALS:
            raise ValueError(f"the search has {self.trial_count} trials, more than {MAX_TRIALS}")
        return self

    @property
    def strategy(self) -> str:
        if self.search:
            return self.search
        return "grid" if all(d.values is not None for d in self.parameters.values()) else "random"

    @property
    def trial_count(self) -> int:
        if self.strategy == "random":
            return self.trials or 10
        return math.prod(len(d.values or ()) for d in self.parameters.values())
