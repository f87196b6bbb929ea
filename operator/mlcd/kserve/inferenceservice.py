"""The InferenceService mlcd owns for a ModelDeployment, built as a plain dict.

Pure: no Kubernetes client here. The handler sends what :func:`build_inferenceservice` returns, and
asks :func:`needs_update` before patching, so that KServe's webhook defaulting and renaming never makes
the operator patch in a loop.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mlcd.api.v1alpha1.modeldeployment import ModelDeployment, ModelDeploymentSpec
from mlcd.kserve.quantity import same_quantity

GROUP = "serving.kserve.io"
VERSION = "v1beta1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "InferenceService"
PLURAL = "inferenceservices"

DEPLOYMENT_MODE_ANNOTATION = "serving.kserve.io/deploymentMode"
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
OWNER_LABEL = "mlcd.io/model-deployment"
# What mlcd's server (`mlcd serve`, the mlcd-sklearn runtime) reads from its environment.
MODEL_SHA256_ENV = "MLCD_MODEL_SHA256"
MAX_REQUEST_BYTES_ENV = "MLCD_MAX_REQUEST_BYTES"
_OWN_ENV = (MODEL_SHA256_ENV, MAX_REQUEST_BYTES_ENV)

# KServe 0.15+ renamed the modes in its defaulting webhook; either spelling means the same mode.
_MODE_ALIASES = {"serverless": "Knative", "knative": "Knative", "rawdeployment": "Standard", "standard": "Standard"}
CANARY_MODES = frozenset({"Knative"})


def normalise_mode(mode: str | None) -> str | None:
    """``Serverless`` and ``Knative`` are one mode, as are ``RawDeployment`` and ``Standard``."""
    if mode is None:
        return None
    return _MODE_ALIASES.get(mode.strip().lower(), mode.strip())


def supports_canary(mode: str | None) -> bool:
    """KServe splits traffic between revisions only in Knative mode; elsewhere canaryTrafficPercent is
    ignored and the new model silently takes all the traffic."""
    return normalise_mode(mode) in CANARY_MODES


def build_inferenceservice(
    md: dict | ModelDeployment,
    *,
    storage_uri: str,
    canary_percent: int | None = None,
    owner_uid: str | None = None,
    model_sha256: str | None = None,
) -> dict:
    """The InferenceService for ``md`` serving ``storage_uri`` on its latest revision.

    ``canary_percent`` is the latest revision's share while a canary is in flight (0 rolls it back
    to the previous revision); None lets the latest revision take all the traffic. ``model_sha256`` is
    the digest the server must find in model.joblib, carried in the predictor's environment.
    """
    name, namespace, uid, spec = _identity(md)
    uid = owner_uid or uid
    serving = spec.serving
    model: dict = {
        "modelFormat": {"name": spec.model.format},
        "storageUri": storage_uri,
        "protocolVersion": serving.protocol_version,
        "runtime": serving.runtime,
        "env": _server_env(model_sha256, serving.max_request_bytes),
    }
    resources = {k: dict(v) for k, v in (("requests", serving.resources.requests),
                                          ("limits", serving.resources.limits)) if v}
    if resources:
        model["resources"] = resources
    predictor: dict = {"minReplicas": serving.min_replicas, "maxReplicas": serving.max_replicas, "model": model}
    if serving.service_account_name:
        predictor["serviceAccountName"] = serving.service_account_name
    if serving.scale_target is not None:
        predictor["scaleTarget"] = serving.scale_target
    if serving.scale_metric is not None:
        predictor["scaleMetric"] = serving.scale_metric
    if canary_percent is not None:
        predictor["canaryTrafficPercent"] = canary_percent
    metadata: dict = {
        "name": name,
        "namespace": namespace,
        "labels": {MANAGED_BY_LABEL: "mlcd", OWNER_LABEL: name},
        "annotations": {DEPLOYMENT_MODE_ANNOTATION: serving.deployment_mode},
    }
    if uid:
        metadata["ownerReferences"] = [_owner_reference(name, uid)]
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": metadata, "spec": {"predictor": predictor}}


def _server_env(model_sha256: str | None, max_request_bytes: int) -> list[dict]:
    env = [{"name": MAX_REQUEST_BYTES_ENV, "value": str(max_request_bytes)}]
    if model_sha256:
        env.insert(0, {"name": MODEL_SHA256_ENV, "value": model_sha256})
    return env


def controlled_by(isvc: dict, uid: str | None) -> bool:
    """Whether ``isvc``'s controller is the object with ``uid`` (mlcd changes nothing it does not own)."""
    refs = (isvc.get("metadata") or {}).get("ownerReferences") or []
    return uid is not None and any(ref.get("uid") == uid and ref.get("controller") for ref in refs)


def _owner_reference(name: str, uid: str) -> dict:
    return {
        "apiVersion": "mlcd.io/v1alpha1",
        "kind": "ModelDeployment",
        "name": name,
        "uid": uid,
        "controller": True,
        "blockOwnerDeletion": True,
    }


def _identity(md: dict | ModelDeployment) -> tuple[str, str, str | None, ModelDeploymentSpec]:
    if isinstance(md, ModelDeployment):
        meta = md.metadata.model_dump()
        return md.metadata.name, md.metadata.namespace, meta.get("uid"), md.spec
    meta = md.get("metadata") or {}
    spec = ModelDeploymentSpec.model_validate(md.get("spec") or {})
    return meta["name"], meta.get("namespace", "default"), meta.get("uid"), spec


def needs_update(desired: dict, observed: dict | None) -> bool:
    """True when ``observed`` differs from ``desired`` in a field mlcd sets and means.

    Only mlcd's own fields are compared, each normalised the way KServe's webhook and the API server
    rewrite it (mode names, default protocol, quantities), so that fields they add or respell never
    look like drift.
    """
    if observed is None:
        return True
    want, have = _Projection.of(desired), _Projection.of(observed)
    # Left to KServe, which may write its default: not drift.
    have = replace(have, **{name: None for name in _DEFAULTED_BY_KSERVE if getattr(want, name) is None})
    return want != have or not _owned_as_desired(desired, observed)


_DEFAULTED_BY_KSERVE = ("scale_target", "scale_metric")
_CLEARED_WHEN_UNSET = ("canaryTrafficPercent", "scaleTarget", "scaleMetric")


@dataclass(frozen=True)
class _Projection:
    """The fields of an InferenceService that mlcd sets, as KServe and the API server may write them back."""

    mode: str | None
    format: str | None
    storage_uri: str
    protocol_version: str
    runtime: str | None
    env: dict
    scale_target: int | None
    scale_metric: str | None
    service_account_name: str | None
    min_replicas: int | None
    max_replicas: int | None
    canary_traffic_percent: int | None

    @classmethod
    def of(cls, isvc: dict) -> _Projection:
        meta = isvc.get("metadata") or {}
        predictor = (isvc.get("spec") or {}).get("predictor") or {}
        model = predictor.get("model") or {}
        canary = predictor.get("canaryTrafficPercent")
        return cls(
            mode=normalise_mode((meta.get("annotations") or {}).get(DEPLOYMENT_MODE_ANNOTATION)),
            format=(model.get("modelFormat") or {}).get("name"),
            storage_uri=(model.get("storageUri") or "").rstrip("/"),
            protocol_version=model.get("protocolVersion") or "v1",  # KServe's default when unset
            runtime=model.get("runtime") or None,
            env={e.get("name"): e.get("value") for e in model.get("env") or [] if e.get("name") in _OWN_ENV},
            scale_target=predictor.get("scaleTarget"),
            scale_metric=predictor.get("scaleMetric"),
            service_account_name=predictor.get("serviceAccountName") or None,
            min_replicas=predictor.get("minReplicas"),
            max_replicas=predictor.get("maxReplicas"),
            # A latest revision with 100% of the traffic is what no canaryTrafficPercent means.
            canary_traffic_percent=None if canary in (None, 100) else canary,
        )


def merge_patch(desired: dict, observed: dict) -> dict:
    """A JSON merge patch taking ``observed`` to ``desired``. A merge patch cannot drop a key by leaving
    it out, so promotion spells ``canaryTrafficPercent: null`` to give the latest revision all traffic
    (and an autoscaling knob taken out of the spec is spelt null likewise)."""
    patch = {"metadata": {k: v for k, v in desired["metadata"].items() if k not in ("name", "namespace")},
             "spec": {"predictor": dict(desired["spec"]["predictor"])}}
    observed_predictor = (observed.get("spec") or {}).get("predictor") or {}
    for key in _CLEARED_WHEN_UNSET:
        if key not in desired["spec"]["predictor"] and key in observed_predictor:
            patch["spec"]["predictor"][key] = None
    return patch


def _owned_as_desired(desired: dict, observed: dict) -> bool:
    want_meta, have_meta = desired.get("metadata") or {}, observed.get("metadata") or {}
    have_labels = have_meta.get("labels") or {}
    if any(have_labels.get(k) != v for k, v in (want_meta.get("labels") or {}).items()):
        return False
    have_uids = {ref.get("uid") for ref in have_meta.get("ownerReferences") or [] if ref.get("controller")}
    if any(ref["uid"] not in have_uids for ref in want_meta.get("ownerReferences") or []):
        return False
    want_res = (desired["spec"]["predictor"]["model"]).get("resources") or {}
    have_res = (((observed.get("spec") or {}).get("predictor") or {}).get("model") or {}).get("resources") or {}
    return _same_resources(want_res, have_res)


def _same_resources(want: dict, have: dict) -> bool:
    """Resources mlcd asks for must be there in equal quantities; the webhook may add defaults for
    the ones mlcd leaves out, and the API server may respell quantities (``1000m`` as ``1``)."""
    for kind, wanted in want.items():
        present = have.get(kind) or {}
        for resource, quantity in wanted.items():
            if resource not in present or not same_quantity(str(quantity), str(present[resource])):
                return False
    return True
