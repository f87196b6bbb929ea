"""Field types shared by the resources: storage URIs, cron strings, time zones."""

import re
from typing import Annotated
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, Field
from pydantic.fields import FieldInfo

from mlcd.api.v1alpha1.quantity import quantity_problem

BUILTIN_DATASETS = ("iris", "wine", "breast_cancer", "digits", "diabetes")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _check_uri(value: str, *, schemes: tuple[str, ...], need_key: bool) -> str:
    parts = urlsplit(value)
    scheme = parts.scheme
    if scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise ValueError(f"{value!r} is not a supported URI; expected one of {allowed}")
    if parts.query or parts.fragment:
        raise ValueError(f"{value!r}: query strings and fragments are not allowed")
    if scheme == "builtin":
        if parts.netloc not in BUILTIN_DATASETS or parts.path not in ("", "/"):
            raise ValueError(
                f"{value!r}: unknown built-in dataset; expected one of "
                + ", ".join(f"builtin://{n}" for n in BUILTIN_DATASETS)
            )
    elif scheme == "file":
        if parts.netloc not in ("", "localhost") or not parts.path.startswith("/"):
            raise ValueError(f"{value!r}: a file URI needs an absolute path, as file:///path/to/file")
    elif scheme == "s3":
        if not _BUCKET.match(parts.netloc):
            raise ValueError(f"{value!r}: {parts.netloc!r} is not a valid S3 bucket name")
        if need_key and parts.path.strip("/") == "":
            raise ValueError(f"{value!r}: an object key is missing after the bucket")
    return value


def _data_uri(value: str) -> str:
    return _check_uri(value, schemes=("builtin", "file", "s3"), need_key=True)


def _object_uri(value: str) -> str:
    return _check_uri(value, schemes=("file", "s3"), need_key=True)


def _registry_uri(value: str) -> str:
    return _check_uri(value.rstrip("/"), schemes=("file", "s3"), need_key=False)


def _model_uri(value: str) -> str:
    # KServe's storage initializer also reads gs://, pvc:// and https:// model folders.
    parts = urlsplit(value)
    if parts.scheme in ("gs", "pvc", "https", "http"):
        if not parts.netloc:
            raise ValueError(f"{value!r}: a host or bucket is missing")
        return value.rstrip("/")
    return _check_uri(value.rstrip("/"), schemes=("file", "s3", "gs", "pvc", "https"), need_key=True)


def _cron(value: str) -> str:
    from croniter import croniter

    if len(value.split()) != 5 or not croniter.is_valid(value):
        raise ValueError(f"{value!r} is not a cron schedule of five fields (minute hour day month weekday)")
    return value


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{value!r} is not an IANA time zone such as UTC or Europe/Berlin") from None
    return value


def _schema(rule: str, message: str, max_length: int) -> FieldInfo:
    """The rule again as CEL, so the API server refuses what the validator refuses at kubectl apply time.

    maxLength bounds the rule's estimated cost, which the API server checks when the CRD is installed.
    """
    return Field(max_length=max_length, json_schema_extra={"x-kubernetes-validations": [
        {"rule": rule, "message": message}]})


_URI_LENGTH = 2048
DataURI = Annotated[str, AfterValidator(_data_uri), _schema(
    "self.matches('^(builtin|file|s3)://')", "must be a builtin://, file:// or s3:// URI", _URI_LENGTH)]
ObjectURI = Annotated[str, AfterValidator(_object_uri), _schema(
    "self.matches('^(file|s3)://')", "must be a file:// or s3:// URI", _URI_LENGTH)]
RegistryURI = Annotated[str, AfterValidator(_registry_uri), _schema(
    "self.matches('^(file|s3)://')", "must be a file:// or s3:// URI", _URI_LENGTH)]
ModelURI = Annotated[str, AfterValidator(_model_uri), _schema(
    "self.matches('^(file|s3|gs|pvc|https?)://')", "must be a file://, s3://, gs://, pvc:// or https:// URI",
    _URI_LENGTH)]
CronSchedule = Annotated[str, AfterValidator(_cron), _schema(
    r"self.matches('^\\s*\\S+(\\s+\\S+){4}\\s*$')",
    "must be a cron schedule of five fields (minute hour day month weekday)", 256)]
TimeZoneName = Annotated[str, AfterValidator(_time_zone), Field(max_length=64)]
K8sName = Annotated[str, AfterValidator(lambda v: _dns_label(v)), _schema(
    "self.matches('^[a-z0-9]([-a-z0-9]*[a-z0-9])?$')",
    "must be a Kubernetes name: lowercase letters, digits and '-', starting and ending with a letter or digit",
    63)]


def _quantity(value: str) -> str:
    problem = quantity_problem(value)
    if problem:
        raise ValueError(problem)
    return value


# A resource quantity (cpu: 500m, memory: 1Gi), checked as the API server parses it (quantity.py).
Quantity = Annotated[str, AfterValidator(_quantity)]


def _object_name(value: str) -> str:
    # The API server checks a custom resource's name as a DNS-1123 subdomain; no '/', no '..'.
    if len(value) > 253 or not re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*", value):
        raise ValueError(f"{value!r} is not a valid Kubernetes object name: at most 253 lowercase letters, digits, "
                         "'-' and '.', starting and ending with a letter or digit")
    return value


ObjectName = Annotated[str, AfterValidator(_object_name)]


def _dns_label(value: str) -> str:
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", value):
        raise ValueError(f"{value!r} is not a valid Kubernetes name (lowercase letters, digits and '-')")
    return value
