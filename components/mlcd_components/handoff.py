"""handoff: point the TrainingRun's ModelDeployment at the version just registered.

The step writes `spec.model.uri` and `spec.model.sha256` (the digest of model.joblib recorded at
registration, which the server checks the file against) of the ModelDeployment named by
`spec.deploy.modelDeployment`, in the TrainingRun's namespace, and creates it when it does not exist.
From there the operator rolls the version out as a canary; the registry's champion changes only when
that rollout is promoted.

Who calls the Kubernetes API, with which identity: this step, as whatever runs it. In a Kubeflow
pipeline that is the pipeline pod's service account (in-cluster credentials); with the operator's
`local` backend the step runs in the operator's worker process and inherits its environment, so it
uses the operator's own identity (its service account, else $KUBECONFIG) — the same order kopf's
login uses. A run told to promote at once (`mlcd run`: nothing rolls out on a laptop) touches no
cluster: register already made the version the champion, and the hand-off only reports its target.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback

from mlcd_components.progress import StepError, emit

GROUP, VERSION, PLURAL, KIND = "mlcd.io", "v1alpha1", "modeldeployments", "ModelDeployment"
HANDED_OFF_BY = "mlcd.io/handed-off-by"
STEP = "handoff"


def reported(model_deployment: str, namespace: str, model_uri: str, model_sha256: str, run_name: str,
             promote: bool) -> str:
    """The step as the pipeline runs it. Unlike progress.step, its end marker carries what was handed off,
    so `mlcd run` prints the target and the KFP logs show it."""
    started = time.perf_counter()
    emit("start", STEP)
    try:
        done = run(model_deployment, namespace, model_uri, model_sha256, run_name, promote)
    except Exception as exc:
        if not isinstance(exc, StepError):
            traceback.print_exc(file=sys.stderr)
        message = str(exc) if isinstance(exc, StepError) else f"{type(exc).__name__}: {exc}"
        emit("failed", STEP, message=message, seconds=round(time.perf_counter() - started, 3))
        raise SystemExit(1) from None
    where = f"ModelDeployment {done['namespace'] or 'default'}/{done['modelDeployment']}"
    emit("end", STEP, message=f"{where} <- {model_uri} ({done['action']})",
         seconds=round(time.perf_counter() - started, 3))
    return json.dumps(done, sort_keys=True)


def run(model_deployment: str, namespace: str, model_uri: str, model_sha256: str, run_name: str,
        promote: bool) -> dict:
    """What was handed off: {modelDeployment, namespace, modelUri, modelSha256, applied, action}."""
    target = {"modelDeployment": model_deployment, "namespace": namespace, "modelUri": model_uri,
              "modelSha256": model_sha256}
    if promote:
        return {**target, "applied": False,
                "action": "recorded only: a local run touches no cluster and made the version the champion"}
    api = _custom_objects_api()
    action = _point_at(api, model_deployment, namespace or "default", {"uri": model_uri, "sha256": model_sha256},
                       run_name)
    return {**target, "applied": True, "action": action}


def _custom_objects_api():
    import kubernetes
    from kubernetes.config.config_exception import ConfigException

    try:
        if os.environ.get("KUBERNETES_SERVICE_HOST"):
            configuration = kubernetes.client.Configuration()
            kubernetes.config.load_incluster_config(client_configuration=configuration)
            client = kubernetes.client.ApiClient(configuration)
        else:
            client = kubernetes.config.new_client_from_config()
    except (ConfigException, OSError) as exc:
        raise StepError(f"spec.deploy.modelDeployment: no Kubernetes credentials to hand the model off with "
                        f"(in-cluster service account or $KUBECONFIG): {exc}") from None
    return kubernetes.client.CustomObjectsApi(client)


def _point_at(api, name: str, namespace: str, model: dict, run_name: str) -> str:
    """Patch spec.model's uri and sha256, or create the ModelDeployment; one retry covers a create race."""
    from kubernetes.client.exceptions import ApiException

    annotations = {HANDED_OFF_BY: f"TrainingRun/{run_name}"}
    for _ in range(2):
        try:
            api.patch_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, name, {
                "metadata": {"annotations": annotations}, "spec": {"model": model}})
            return "patched"
        except ApiException as exc:
            if exc.status != 404:
                raise _refused(exc, name, namespace) from None
        try:
            api.create_namespaced_custom_object(GROUP, VERSION, namespace, PLURAL, new_modeldeployment(
                name, namespace, model, annotations))
            return "created"
        except ApiException as exc:
            if exc.status != 409:
                raise _refused(exc, name, namespace) from None
    raise StepError(f"spec.deploy.modelDeployment: {namespace}/{name} kept appearing and disappearing")


def new_modeldeployment(name: str, namespace: str, model: dict, annotations: dict) -> dict:
    """A ModelDeployment with mlcd's serving and rollout defaults written out (v2 protocol, 1-3 replicas,
    Serverless, a 10% canary rolled back on failure), so a person sees and tunes them; the hand-off
    itself only ever changes spec.model (uri and sha256)."""
    from mlcd.api.v1alpha1.modeldeployment import ModelDeploymentSpec

    spec = ModelDeploymentSpec.model_validate({"model": model}).to_wire()
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": KIND,
            "metadata": {"name": name, "namespace": namespace, "annotations": annotations,
                         "labels": {"app.kubernetes.io/managed-by": "mlcd"}},
            "spec": spec}


def _refused(exc, name: str, namespace: str) -> StepError:
    reason = {401: "not authenticated", 403: "forbidden (RBAC: get, create and patch modeldeployments)",
              422: "the ModelDeployment refused the model URI"}.get(exc.status, f"HTTP {exc.status}")
    return StepError(f"spec.deploy.modelDeployment: cannot hand off to {namespace}/{name}: {reason}: "
                     f"{(exc.body or exc.reason or '')[:300]}")
