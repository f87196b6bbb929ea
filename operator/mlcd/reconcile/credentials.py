"""Preflight of the S3 credentials KServe's storage initializer will use, checked the way KServe reads them.

KServe looks for credentials in the Secrets listed by the predictor's ServiceAccount and turns a fixed
set of Secret annotations into S3 settings. An annotation with a misspelt key is silently ignored
(the model download then fails with an opaque error in the storage initializer), so the keys are
checked here, exactly, with a suggestion for near misses.
"""

from __future__ import annotations

import difflib

KSERVE_DOMAIN = "serving.kserve.io"
S3_ANNOTATION_NAMES = (
    "s3-endpoint", "s3-usehttps", "s3-region", "s3-verifyssl", "s3-useanoncredential",
    "s3-usevirtualbucket", "s3-useaccelerate", "s3-cabundle", "s3-cabundle-configmap",
)
S3_ANNOTATIONS = frozenset(f"{KSERVE_DOMAIN}/{name}" for name in S3_ANNOTATION_NAMES)
# Domains that older KFServing releases or a slip of the keyboard put in front of the same names.
_OTHER_DOMAINS = ("serving.kubeflow.org", "kserve.io", "serving.kserve.com", "kfserving.kubeflow.org")
IRSA_ANNOTATION = "eks.amazonaws.com/role-arn"
# KServe's inferenceservice-config names the keys; these are its shipped value and its built-in default.
ACCESS_KEY_NAMES = ("AWS_ACCESS_KEY_ID", "awsAccessKeyID")
SECRET_KEY_NAMES = ("AWS_SECRET_ACCESS_KEY", "awsSecretAccessKey")

_PATH = "spec.serving.serviceAccountName"


def preflight(service_account: dict | None, secrets: list[dict], *, name: str | None = None) -> list[str]:
    """Problems with ServiceAccount ``name`` (None when it does not exist) and the Secrets of the
    namespace it lists (``secrets``: the ones the handler could read); empty when KServe can use them."""
    if service_account is None:
        return [f"{_PATH}: ServiceAccount {name!r} does not exist in the namespace"]
    name = name or (service_account.get("metadata") or {}).get("name")
    irsa = IRSA_ANNOTATION in ((service_account.get("metadata") or {}).get("annotations") or {})
    listed = [ref.get("name") for ref in service_account.get("secrets") or [] if ref.get("name")]
    if not listed and not irsa:
        return [f"{_PATH}: ServiceAccount {name!r} lists no secrets; KServe reads S3 credentials only from "
                f"the Secrets under its `secrets:` (or from an IAM role, annotation {IRSA_ANNOTATION})"]
    found = {(s.get("metadata") or {}).get("name"): s for s in secrets}
    problems = [f"{_PATH}: Secret {ref!r}, listed by ServiceAccount {name!r}, does not exist"
                for ref in listed if ref not in found]
    s3_secrets = [found[ref] for ref in listed if ref in found and _is_s3(found[ref])]
    for secret in s3_secrets:
        problems += _secret_problems(secret)
    if not s3_secrets and not irsa and not problems:
        problems.append(f"{_PATH}: none of the Secrets of ServiceAccount {name!r} holds S3 credentials "
                        f"(data keys {ACCESS_KEY_NAMES[0]} and {SECRET_KEY_NAMES[0]})")
    return problems


def _keys(secret: dict) -> set[str]:
    return set(secret.get("data") or {}) | set(secret.get("stringData") or {})


def _annotations(secret: dict) -> dict:
    return (secret.get("metadata") or {}).get("annotations") or {}


def _is_s3(secret: dict) -> bool:
    keys = _keys(secret)
    if keys & {*ACCESS_KEY_NAMES, *SECRET_KEY_NAMES}:
        return True
    return any(key in S3_ANNOTATIONS or _suggestion(key) for key in _annotations(secret))


def _secret_problems(secret: dict) -> list[str]:
    secret_name = (secret.get("metadata") or {}).get("name")
    where = f"{_PATH}: Secret {secret_name!r}"
    problems = []
    for key in sorted(_annotations(secret)):
        if key not in S3_ANNOTATIONS and (suggestion := _suggestion(key)):
            problems.append(f"{where}: annotation {key!r} is not one KServe reads, so it would be silently "
                            f"ignored; did you mean {suggestion!r}?")
    anonymous = str(_annotations(secret).get(f"{KSERVE_DOMAIN}/s3-useanoncredential")).lower() == "true"
    keys = _keys(secret)
    for wanted in (ACCESS_KEY_NAMES, SECRET_KEY_NAMES):
        if not anonymous and not keys & set(wanted):
            problems.append(f"{where}: data key {wanted[0]} is missing (KServe's default name; "
                            f"{wanted[1]} with KServe's built-in configuration)")
    return problems


def _suggestion(key: str) -> str | None:
    """The KServe S3 annotation ``key`` was probably meant to be, or None when it is unrelated."""
    domain, _, name = key.rpartition("/")
    spelled = name.lower().replace("_", "-")
    # A name KServe reads without a domain, or under one close to KServe's (an exact one matches itself).
    if spelled in S3_ANNOTATION_NAMES and (not domain or _close(domain, (KSERVE_DOMAIN, *_OTHER_DOMAINS), 0.7)):
        return f"{KSERVE_DOMAIN}/{spelled}"
    if domain in _OTHER_DOMAINS or _close(domain, (KSERVE_DOMAIN,), 0.8):
        near = _close(spelled, S3_ANNOTATION_NAMES, 0.75)
        return f"{KSERVE_DOMAIN}/{near}" if near else None
    return None


def _close(word: str, choices, cutoff: float) -> str | None:
    found = difflib.get_close_matches(word, list(choices), cutoff=cutoff)  # the closest first
    return found[0] if found else None
