"""Label and field selectors on list and watch (API concepts: "Labels and Selectors", "Field Selectors").

Label selectors take the full set-based grammar (``a=b``, ``a!=b``, ``a in (x,y)``,
``a notin (x)``, ``a``, ``!a``). Field selectors take ``=``, ``==`` and ``!=`` on the field
labels the resource supports; any other field is a 400, as on a real cluster.
"""

import re
from collections.abc import Callable, Collection
from typing import Any

from tests.k8s import errors

_KEY = r"[A-Za-z0-9][-A-Za-z0-9_./]*"
_VALUE = r"[-A-Za-z0-9_.]*"
_SET_TERM = re.compile(rf"^\s*({_KEY})\s+(in|notin)\s+\(([^)]*)\)\s*$")
_EQ_TERM = re.compile(rf"^\s*({_KEY})\s*(==|=|!=)\s*({_VALUE})\s*$")
_EXISTS_TERM = re.compile(rf"^\s*(!?)\s*({_KEY})\s*$")

Test = Callable[[dict[str, Any]], bool]


def _split(text: str) -> list[str]:
    terms, depth, start = [], 0, 0
    for index, char in enumerate(text):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            terms.append(text[start:index])
            start = index + 1
    terms.append(text[start:])
    return [term for term in terms if term.strip()]


def _label_test(term: str) -> Test:
    if match := _SET_TERM.match(term):
        key, operator, raw = match.groups()
        values = {value.strip() for value in raw.split(",")}
        if operator == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    if match := _EQ_TERM.match(term):
        key, operator, value = match.groups()
        if operator == "!=":
            return lambda labels: labels.get(key) != value
        return lambda labels: labels.get(key) == value
    if match := _EXISTS_TERM.match(term):
        negated, key = match.groups()
        return lambda labels: (key in labels) != bool(negated)
    raise errors.bad_request(f"unable to parse requirement: found {term.strip()!r}, expected a valid selector")


def _field_test(term: str, supported: Collection[str]) -> Test:
    match = _EQ_TERM.match(term)
    if match is None:
        raise errors.bad_request(f"invalid selector: {term.strip()!r}; can't understand {term.strip()!r}")
    field, operator, value = match.groups()
    if field not in supported:
        raise errors.bad_request(f"field label not supported: {field}")
    path = field.split(".")
    if operator == "!=":
        return lambda obj: _dig(obj, path) != value
    return lambda obj: _dig(obj, path) == value


def _dig(obj: Any, path: list[str]) -> str:
    for part in path:
        obj = obj.get(part) if isinstance(obj, dict) else None
    return "" if obj is None else str(obj)


class Selector:
    """The label and field selector of one list or watch request; an empty one matches everything."""

    def __init__(self, labels: str = "", fields: str = "", field_labels: Collection[str] = ()) -> None:
        self._labels = [_label_test(term) for term in _split(labels)]
        self._fields = [_field_test(term, field_labels) for term in _split(fields)]

    def matches(self, obj: dict[str, Any] | None) -> bool:
        if obj is None:
            return False
        labels = (obj.get("metadata") or {}).get("labels") or {}
        return all(test(labels) for test in self._labels) and all(test(obj) for test in self._fields)
