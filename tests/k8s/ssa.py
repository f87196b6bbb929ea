"""Server-side apply (``PATCH`` with ``application/apply-patch+yaml``), as Helm 4 installs and upgrades with.

Emulated at the level of one field manager per object, which is what a release manager needs:
the applied configuration is merged into the live object (maps key by key, lists replaced whole,
as ``atomic`` lists are), and the fields this manager applied last time but leaves out now are
removed, while fields set by other writers stay. Conflicts between managers, ``managedFields`` and
associative-list merging are not emulated. A missing object is created from the configuration.
"""

import copy
from typing import Any

import yaml

from tests.k8s import errors

MEDIA = "application/apply-patch+yaml"
Obj = dict[str, Any]


def parse(body: bytes, data: Any) -> Obj:
    if isinstance(data, dict):
        return data
    try:
        parsed = yaml.safe_load(body.decode("utf-8")) if body else None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise errors.bad_request(f"error decoding YAML: {e}") from e
    if not isinstance(parsed, dict):
        raise errors.bad_request("the body of an apply patch must be an object")
    return parsed


def merged(live: Obj, applied: Obj, previous: Obj | None) -> Obj:
    """``live`` with ``applied`` laid over it and the fields only ``previous`` had removed."""
    result = _overlay(copy.deepcopy(live), applied)
    if previous is not None:
        _remove_dropped(result, previous, applied)
    return result


def _overlay(target: Obj, applied: Obj) -> Obj:
    for key, value in applied.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            target[key] = _overlay(target[key], value)
        elif value is None:
            target.pop(key, None)
        else:
            target[key] = copy.deepcopy(value)
    return target


def _remove_dropped(target: Obj, previous: Obj, applied: Obj) -> None:
    for key, old in previous.items():
        if key not in target:
            continue
        if key not in applied:
            del target[key]
        elif isinstance(old, dict) and isinstance(applied[key], dict) and isinstance(target[key], dict):
            _remove_dropped(target[key], old, applied[key])
