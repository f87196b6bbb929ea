"""Server-side printing: ``Accept: application/json;as=Table;g=meta.k8s.io;v=v1`` answered with a Table.

Custom resources follow apiextensions-apiserver's ``tableconvertor.go``: a ``Name`` column (format
``name``), then one column per ``additionalPrinterColumns`` entry, its cell found by the column's
JSONPath (missing -> null; ``string`` columns printed as the JSONPath printer prints, other types
converted; ``date`` shown as the age kubectl prints, e.g. ``42s``, ``3m10s``). Built-in kinds get
the API server's default convertor (``Name``, ``Created At``), except Events, printed as
``kubectl get events`` prints them (Last Seen, Type, Reason, Object, Message). Each row carries the object's
metadata (``includeObject=Metadata``, the default), the whole object (``Object``) or nothing (``None``).
"""

import datetime
import json
import re
from typing import Any

from tests.k8s import errors
from tests.k8s.kinds import Kind

Obj = dict[str, Any]
NAME_DESCRIPTION = (
    "Name must be unique within a namespace. Is required when creating resources, although some resources "
    "may allow a client to request the generation of an appropriate name automatically."
)
_MEDIA_PARAM = re.compile(r"\s*([^=;\s]+)\s*=\s*([^;]*)")
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+)\]|\[\?\(@\.([\w.-]+)\s*==\s*[\"']([^\"']*)[\"']\)\]")


def wanted_version(accept: str | None) -> str | None:
    """The meta.k8s.io version of Table the client accepts (v1 or v1beta1), or None for plain objects."""
    for media in (accept or "").split(","):
        params = {key.lower(): value.strip() for key, value in _MEDIA_PARAM.findall(media.partition(";")[2])}
        if params.get("as") == "Table" and params.get("g") == "meta.k8s.io" and params.get("v") in ("v1", "v1beta1"):
            return params["v"]
    return None


def find(obj: Any, path: str) -> list[Any]:
    """The values a simple JSONPath (``.a.b``, ``.a[0]``, ``.a[?(@.type=="Ready")].b``) finds in obj."""
    values = [obj]
    position = 0
    path = path.strip()
    if path.startswith("{") and path.endswith("}"):
        path = path[1:-1]
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None:
            raise errors.bad_request(f"unrecognized column definition {path!r}")
        name, index, key, expected = match.groups()
        position = match.end()
        found: list[Any] = []
        for value in values:
            if name is not None and isinstance(value, dict) and name in value:
                found.append(value[name])
            elif index is not None and isinstance(value, list) and int(index) < len(value):
                found.append(value[int(index)])
            elif key is not None and isinstance(value, list):
                found.extend(item for item in value if isinstance(item, dict) and str(item.get(key)) == expected)
        values = found
    return values


def human_duration(seconds: float) -> str:
    """k8s.io/apimachinery's ``duration.HumanDuration``, the ages kubectl shows."""
    whole = int(seconds)
    if whole < -1:
        return "<invalid>"
    if whole < 0:
        return "0s"
    if whole < 120:
        return f"{whole}s"
    minutes, hours = whole // 60, whole // 3600
    if minutes < 10:
        return f"{minutes}m{whole % 60}s" if whole % 60 else f"{minutes}m"
    if minutes < 180:
        return f"{minutes}m"
    if hours < 8:
        return f"{hours}h{minutes % 60}m" if minutes % 60 else f"{hours}h"
    if hours < 48:
        return f"{hours}h"
    days = hours // 24
    if hours < 24 * 8:
        return f"{days}d{hours % 24}h" if hours % 24 else f"{days}d"
    if hours < 24 * 365 * 2:
        return f"{days}d"
    if hours < 24 * 365 * 8:
        return f"{days // 365}y{days % 365}d" if days % 365 else f"{days // 365}y"
    return f"{days // 365}y"


def _age(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        stamp = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return "<invalid>"
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=datetime.UTC)
    return human_duration((datetime.datetime.now(datetime.UTC) - stamp).total_seconds())


def _printed(value: Any) -> str:
    # client-go's JSONPath printer: strings raw, maps and lists as JSON, scalars as Go prints them.
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def _cell(column: Obj, obj: Obj) -> Any:
    found = find(obj, column["jsonPath"])
    if not found:
        return None
    value = found[0]
    kind = column.get("type")
    if kind == "string":
        return _printed(value)
    if value is None:
        return None
    if kind == "integer" and isinstance(value, int | float) and not isinstance(value, bool):
        return int(value)
    if kind == "number" and isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if kind == "boolean" and isinstance(value, bool):
        return value
    if kind == "date":
        return _age(value)
    return None


def _column(name: str, kind: str = "string", priority: int = 0, fmt: str = "") -> Obj:
    return {"name": name, "type": kind, "format": fmt, "description": name, "priority": priority}


def _event_cells(event: Obj) -> list[Any]:
    meta, involved = event.get("metadata") or {}, event.get("involvedObject") or {}
    seen = event.get("lastTimestamp") or event.get("eventTime") or meta.get("creationTimestamp")
    target = f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"
    return [_age(seen), event.get("type"), event.get("reason"), target, event.get("message"), meta.get("name")]


# Built-in kinds whose printers (pkg/printers/internalversion/printers.go) users read most: Go code
# there, a function of the object here.
_BUILTIN_PRINTERS: dict[tuple[str, str], tuple[list[Obj], Any]] = {
    ("", "events"): (
        [
            _column("Last Seen", "string"),
            _column("Type"),
            _column("Reason"),
            _column("Object"),
            _column("Message"),
            _column("Name", priority=1, fmt="name"),
        ],
        _event_cells,
    ),
}


def columns(kind: Kind) -> list[Obj]:
    name = {"name": "Name", "type": "string", "format": "name", "description": NAME_DESCRIPTION, "priority": 0}
    if (kind.group, kind.plural) in _BUILTIN_PRINTERS:
        return _BUILTIN_PRINTERS[kind.group, kind.plural][0]
    if not kind.custom:
        created = {
            "name": "Created At",
            "type": "date",
            "format": "",
            "description": "CreationTimestamp is a timestamp representing the server time when this "
            "object was created.",
            "priority": 0,
        }
        return [name, created]
    defined = []
    for column in kind.printer_columns:
        description = column.get("description") or (
            f"Custom resource definition column (in JSONPath format): {column['jsonPath']}"
        )
        defined.append(
            {
                "name": column["name"],
                "type": column["type"],
                "format": column.get("format", ""),
                "description": description,
                "priority": column.get("priority", 0),
            }
        )
    return [name, *defined]


def _row(kind: Kind, obj: Obj, include: str, version: str) -> Obj:
    meta = obj.get("metadata") or {}
    if (kind.group, kind.plural) in _BUILTIN_PRINTERS:
        cells = _BUILTIN_PRINTERS[kind.group, kind.plural][1](obj)
    elif kind.custom:
        cells = [meta.get("name"), *(_cell(column, obj) for column in kind.printer_columns)]
    else:
        cells = [meta.get("name"), meta.get("creationTimestamp")]
    row: Obj = {"cells": cells}
    if include == "Object":
        row["object"] = obj
    elif include == "Metadata":
        row["object"] = {"kind": "PartialObjectMetadata", "apiVersion": f"meta.k8s.io/{version}", "metadata": meta}
    return row


def table(kind: Kind, objs: list[Obj], resource_version: str, params: dict[str, str], version: str) -> Obj:
    include = params.get("includeObject") or "Metadata"
    if include not in ("None", "Metadata", "Object"):
        raise errors.bad_request(f"includeObject: Unsupported value: {include!r}")
    return {
        "kind": "Table",
        "apiVersion": f"meta.k8s.io/{version}",
        "metadata": {"resourceVersion": resource_version},
        "columnDefinitions": columns(kind),
        "rows": [_row(kind, obj, include, version) for obj in objs],
    }
