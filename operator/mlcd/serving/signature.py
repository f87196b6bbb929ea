"""Requests checked against the input signature recorded at training (metadata.json ``signature``).

Two shapes are accepted, in both protocols: rows of F values in training feature order (v1
``instances: [[...]]``, v2 one input tensor of shape [N, F], what KServe's sklearn server takes), or
the features by name (v1 ``instances: [{name: value}]``, v2 one input of shape [N] per feature).
Anything else is an :class:`InputError` whose message names the expected features.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

NUMERIC_DATATYPES = frozenset({"FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64",
                               "UINT8", "UINT16", "UINT32", "UINT64"})


class InputError(ValueError):
    """A request that does not match the model's signature: the client's mistake (HTTP 400)."""


@dataclass(frozen=True)
class Feature:
    name: str
    dtype: str

    @property
    def numeric(self) -> bool:
        try:
            return np.dtype(self.dtype).kind in "iufb"
        except TypeError:  # pandas-only dtypes such as "category" or "string"
            return False


@dataclass(frozen=True)
class Signature:
    features: tuple[Feature, ...]

    @classmethod
    def from_metadata(cls, metadata: dict) -> Signature:
        recorded = (metadata.get("signature") or {}).get("features") or []
        if not recorded:
            raise ValueError("metadata.json records no input signature (signature.features)")
        return cls(tuple(Feature(f["name"], f.get("dtype", "float64")) for f in recorded))

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def all_numeric(self) -> bool:
        return all(f.numeric for f in self.features)

    def describe(self) -> str:
        return f"{len(self.features)} features in this order: " + ", ".join(
            f"{f.name!r} ({f.dtype})" for f in self.features)

    def rows_from_v1(self, payload) -> list[list]:
        """``{"instances": [[...], ...]}`` or ``{"instances": [{feature: value}, ...]}`` -> checked rows."""
        if not isinstance(payload, dict) or not isinstance(payload.get("instances"), list):
            raise InputError(f'expected a JSON object {{"instances": [[...], ...]}} whose rows hold {self.describe()}')
        instances = payload["instances"]
        if not instances:
            raise InputError(f'"instances" is empty; expected rows of {self.describe()}')
        return [self._row(i, row) for i, row in enumerate(instances)]

    def rows_from_v2(self, inputs: list) -> list[list]:
        """Open Inference Protocol inputs (objects with name, shape, datatype, data) -> checked rows."""
        if not inputs:
            raise InputError(f"no inputs; expected one tensor of shape [N, {len(self.features)}] or one input "
                             f"per feature, for {self.describe()}")
        names = set(self.names)
        if len(inputs) == 1 and inputs[0].name not in names:
            return self._rows_from_tensor(inputs[0])
        return self._rows_from_named(inputs)

    def _row(self, index: int, row) -> list:
        if isinstance(row, dict):
            unknown = sorted(set(row) - set(self.names))
            missing = [n for n in self.names if n not in row]
            if unknown or missing:
                raise InputError(f"instance {index}: " + "; ".join(
                    part for part in (f"unknown features {unknown}" if unknown else "",
                                      f"missing features {missing}" if missing else "") if part)
                    + f"; expected {self.describe()}")
            row = [row[n] for n in self.names]
        elif not isinstance(row, list) or len(row) != len(self.features):
            got = f"{len(row)} values" if isinstance(row, list) else f"a {type(row).__name__}"
            raise InputError(f"instance {index} has {got}; expected {self.describe()}")
        where = f"instance {index}"
        return [self._value(where, feature, value) for feature, value in zip(self.features, row, strict=True)]

    def _value(self, where: str, feature: Feature, value):
        if feature.numeric:
            if value is None:
                return math.nan  # missing: the pipeline's imputer (if any) decides
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise InputError(f"{where}, feature {feature.name!r}: expected a number, got {value!r}")
            return value
        if value is not None and not isinstance(value, str):
            raise InputError(f"{where}, feature {feature.name!r}: expected text, got {value!r}")
        return value

    def _rows_from_tensor(self, tensor) -> list[list]:
        width = len(self.features)
        shape = list(tensor.shape or [])
        if len(shape) != 2 or shape[1] != width or shape[0] < 1:
            raise InputError(f"input {tensor.name!r} has shape {shape}; expected [N, {width}] for {self.describe()} "
                             f"(or one input per feature, named as the features)")
        self._check_datatype(tensor, numeric=self.all_numeric)
        flat = _flatten(tensor.data, tensor.name)
        if len(flat) != shape[0] * width:
            raise InputError(f"input {tensor.name!r}: shape {shape} needs {shape[0] * width} values, got {len(flat)}")
        return [self._row(i, flat[i * width:(i + 1) * width]) for i in range(shape[0])]

    def _rows_from_named(self, inputs: list) -> list[list]:
        by_name = {t.name: t for t in inputs}
        unknown = sorted(set(by_name) - set(self.names))
        missing = [n for n in self.names if n not in by_name]
        if unknown or missing or len(by_name) != len(inputs):
            raise InputError(f"inputs {[t.name for t in inputs]} do not match the features "
                             f"(unknown {unknown}, missing {missing}); expected one tensor of shape "
                             f"[N, {len(self.features)}] or one input per feature, for {self.describe()}")
        columns = []
        for feature in self.features:
            tensor = by_name[feature.name]
            shape = list(tensor.shape or [])
            if len(shape) not in (1, 2) or shape[0] < 1 or (len(shape) == 2 and shape[1] != 1):
                raise InputError(f"input {feature.name!r} has shape {shape}; expected [N] or [N, 1]")
            self._check_datatype(tensor, numeric=feature.numeric)
            values = _flatten(tensor.data, tensor.name)
            if len(values) != shape[0]:
                raise InputError(f"input {feature.name!r}: shape {shape} needs {shape[0]} values, got {len(values)}")
            columns.append(values)
        if len({len(c) for c in columns}) != 1:
            raise InputError("inputs have different numbers of rows: " + ", ".join(
                f"{f.name!r}: {len(c)}" for f, c in zip(self.features, columns, strict=True)))
        return [self._row(i, list(row)) for i, row in enumerate(zip(*columns, strict=True))]

    @staticmethod
    def _check_datatype(tensor, *, numeric: bool) -> None:
        datatype = (tensor.datatype or "").upper()
        if numeric and datatype not in NUMERIC_DATATYPES:
            raise InputError(f"input {tensor.name!r} has datatype {datatype}; expected FP64, FP32 or an INT type")
        if not numeric and datatype != "BYTES":
            raise InputError(f"input {tensor.name!r} has datatype {datatype}; text features need BYTES "
                             "(send mixed numeric and text features as one input per feature)")


def _flatten(data, name: str) -> list:
    if not isinstance(data, list):
        raise InputError(f"input {name!r} has no data list")
    flat: list = []
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(reversed(item))
        else:
            flat.append(item)
    return flat
