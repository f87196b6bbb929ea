"""Request bodies in Kubernetes' protobuf encoding, for the few kinds typed clients write here.

client-go's typed clients send built-in kinds as ``application/vnd.kubernetes.protobuf``: Helm
stores its releases as Secrets that way, and ``kubectl create secret|configmap|namespace|
serviceaccount`` creates them that way. A body is the magic ``k8s\\0`` followed by a
``runtime.Unknown`` (typeMeta, raw) whose ``raw`` is the object's message. Field numbers are those
of the ``generated.proto`` files of k8s.io/api (core/v1) and k8s.io/apimachinery (meta/v1).
Answers stay JSON, which those clients accept too. Other kinds in protobuf are a 415.
"""

import base64
import datetime
from collections.abc import Callable
from typing import Any

from tests.k8s import errors

MEDIA = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"
Obj = dict[str, Any]
Field = tuple[int, int, Any]  # field number, wire type, value (int for varints, bytes otherwise)


def _varint(data: bytes, position: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if position >= len(data):
            raise ValueError("truncated varint")
        byte = data[position]
        position += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, position
        shift += 7


def fields(data: bytes) -> list[Field]:
    """The (number, wire type, value) fields of one protobuf message, in order."""
    found: list[Field] = []
    position = 0
    while position < len(data):
        key, position = _varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, position = _varint(data, position)
        elif wire == 2:
            length, position = _varint(data, position)
            value, position = data[position : position + length], position + length
        elif wire in (1, 5):
            size = 8 if wire == 1 else 4
            value, position = data[position : position + size], position + size
        else:
            raise ValueError(f"unsupported wire type {wire}")
        found.append((number, wire, value))
    return found


def _text(value: bytes) -> str:
    return value.decode("utf-8")


def _map(entries: list[bytes], decode_value: Callable[[bytes], Any]) -> dict[str, Any]:
    result = {}
    for entry in entries:
        parts = {number: value for number, _, value in fields(entry)}
        result[_text(parts.get(1, b""))] = decode_value(parts.get(2, b""))
    return result


def _time(value: bytes) -> str:
    parts = {number: raw for number, _, raw in fields(value)}
    stamp = datetime.datetime.fromtimestamp(parts.get(1, 0), datetime.UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def _grouped(data: bytes) -> dict[int, list[Any]]:
    grouped: dict[int, list[Any]] = {}
    for number, _, value in fields(data):
        grouped.setdefault(number, []).append(value)
    return grouped


def _object_meta(data: bytes) -> Obj:
    found = _grouped(data)
    meta: Obj = {}
    for number, name in ((1, "name"), (2, "generateName"), (3, "namespace"), (5, "uid"), (6, "resourceVersion")):
        if number in found and found[number][-1]:
            meta[name] = _text(found[number][-1])
    if found.get(7) and found[7][-1]:
        meta["generation"] = found[7][-1]
    if 8 in found and found[8][-1]:
        meta["creationTimestamp"] = _time(found[8][-1])
    if 11 in found:
        meta["labels"] = _map(found[11], _text)
    if 12 in found:
        meta["annotations"] = _map(found[12], _text)
    if 14 in found:
        meta["finalizers"] = [_text(value) for value in found[14]]
    return meta


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


def _secret(found: dict[int, list[Any]]) -> Obj:
    obj: Obj = {}
    if 2 in found:
        obj["data"] = _map(found[2], _b64)
    if 3 in found and found[3][-1]:
        obj["type"] = _text(found[3][-1])
    if 4 in found:
        obj["stringData"] = _map(found[4], _text)
    if 5 in found:
        obj["immutable"] = bool(found[5][-1])
    return obj


def _config_map(found: dict[int, list[Any]]) -> Obj:
    obj: Obj = {}
    if 2 in found:
        obj["data"] = _map(found[2], _text)
    if 3 in found:
        obj["binaryData"] = _map(found[3], _b64)
    if 4 in found:
        obj["immutable"] = bool(found[4][-1])
    return obj


def _namespace(found: dict[int, list[Any]]) -> Obj:
    spec = _grouped(found[2][-1]) if 2 in found else {}
    return {"spec": {"finalizers": [_text(value) for value in spec[1]]}} if 1 in spec else {}


def _reference(data: bytes) -> Obj:
    names = {1: "kind", 2: "namespace", 3: "name", 4: "uid", 5: "apiVersion", 6: "resourceVersion", 7: "fieldPath"}
    return {names[number]: _text(value) for number, _, value in fields(data) if number in names and value}


def _service_account(found: dict[int, list[Any]]) -> Obj:
    obj: Obj = {}
    if 2 in found:
        obj["secrets"] = [_reference(value) for value in found[2]]
    if 3 in found:
        obj["imagePullSecrets"] = [_reference(value) for value in found[3]]
    if 4 in found:
        obj["automountServiceAccountToken"] = bool(found[4][-1])
    return obj


KINDS: dict[str, Callable[[dict[int, list[Any]]], Obj]] = {
    "Secret": _secret,
    "ConfigMap": _config_map,
    "Namespace": _namespace,
    "ServiceAccount": _service_account,
}


def decode(body: bytes) -> Obj:
    """The JSON form of a protobuf-encoded object of one of ``KINDS``."""
    if not body.startswith(MAGIC):
        raise errors.bad_request("a protobuf body must start with the k8s magic prefix")
    try:
        envelope = _grouped(body[len(MAGIC) :])
        type_meta = _grouped(envelope[1][-1]) if 1 in envelope else {}
        api_version = _text(type_meta.get(1, [b""])[-1])
        kind = _text(type_meta.get(2, [b""])[-1])
        if kind not in KINDS:
            raise errors.unsupported_media_type(f"{MEDIA} for {kind or 'an unknown kind'}")
        found = _grouped(envelope.get(2, [b""])[-1])
        obj: Obj = {"apiVersion": api_version, "kind": kind}
        obj["metadata"] = _object_meta(found[1][-1]) if 1 in found else {}
        obj.update(KINDS[kind](found))
    except (ValueError, KeyError, IndexError, UnicodeDecodeError) as e:
        raise errors.bad_request(f"unable to decode the protobuf body: {e}") from e
    return obj
