"""Every field of both CRDs explains itself, so `kubectl explain trainingrun.spec.retrain` teaches.

A new spec or status field fails here until its pydantic Field has a description (what it means, its
unit, its default); the failure names the field's path.
"""

import pytest

from mlcd.api.crd import all_crds


def _fields(schema: dict, path: str):
    """(path, schema) of every named field under ``schema``, through lists and maps."""
    for name, child in (schema.get("properties") or {}).items():
        yield f"{path}.{name}", child
        yield from _fields(child, f"{path}.{name}")
    if isinstance(schema.get("items"), dict):
        yield from _fields(schema["items"], f"{path}[]")
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _fields(schema["additionalProperties"], f"{path}{{}}")


def _root(crd: dict) -> dict:
    return crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]


@pytest.mark.parametrize("crd", all_crds(), ids=lambda c: c["spec"]["names"]["kind"])
def test_every_spec_and_status_field_has_a_description(crd):
    kind = crd["spec"]["names"]["singular"]
    root = _root(crd)
    fields = [*_fields(root["properties"]["spec"], f"{kind}.spec"),
              *_fields(root["properties"]["status"], f"{kind}.status")]
    assert len(fields) > 30
    bare = [path for path, schema in fields if not (schema.get("description") or "").strip()]
    assert not bare, "these CRD fields have no description; give their pydantic Field a description= " \
                     "(what it means, its unit, its default): " + ", ".join(bare)


@pytest.mark.parametrize("crd", all_crds(), ids=lambda c: c["spec"]["names"]["kind"])
def test_spec_and_status_themselves_are_described(crd):
    root = _root(crd)
    for part in ("spec", "status"):
        assert root["properties"][part].get("description"), f"{crd['spec']['names']['kind']}.{part}"


def _shown(default) -> str:
    """A default as a description writes it: true, 0.2, 0 (not 0.0), Equal."""
    if isinstance(default, bool):
        return str(default).lower()
    return f"{default:g}" if isinstance(default, float) else str(default)


@pytest.mark.parametrize("crd", all_crds(), ids=lambda c: c["spec"]["names"]["kind"])
def test_every_default_is_told_in_the_description(crd):
    # `kubectl explain` shows the description, not the schema's `default:`; a field that has one says so.
    kind = crd["spec"]["names"]["singular"]
    root = _root(crd)
    defaulted = [(path, schema) for path, schema in _fields(root["properties"]["spec"], f"{kind}.spec")
                 if "default" in schema]
    assert len(defaulted) > 5
    untold = [f"{path} (default {_shown(schema['default'])})" for path, schema in defaulted
              if "default" not in schema.get("description", "").lower()
              or _shown(schema["default"]) not in schema.get("description", "")]
    assert not untold, "these CRD fields have a default their description does not tell; add e.g. " \
                       "'(default 5)' to their pydantic Field's description: " + ", ".join(untold)


def test_a_default_is_told_with_its_unit():
    spec = _root(all_crds()[0])["properties"]["spec"]
    retrain = spec["properties"]["retrain"]["properties"]
    assert retrain["pollSeconds"]["default"] == 300
    assert "default 300" in retrain["pollSeconds"]["description"]
    assert "seconds" in retrain["pollSeconds"]["description"]

