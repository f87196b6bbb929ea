"""KServe, played for the operator tests: its defaulting webhook and its controller.

- :class:`KServeEmulator` is the API emulator with KServe's mutating webhook in admission: every
  InferenceService written is stored with the renamed deployment mode (Serverless -> Knative,
  RawDeployment -> Standard, as KServe 0.15+ does) and a defaulted runtime, in the same write. It
  also serves the ServiceAccounts and Secrets that KServe's storage initializer (and so the
  operator's preflight) reads.
- :class:`FakeKServe` is the controller: it reads InferenceServices over HTTP and writes their status
  the way KServe does in Knative mode (observedGeneration caught up, a Ready condition, revisions and
  a traffic split), for each model URI as told: ``ready`` (the default), ``pending`` (never becomes
  Ready) or ``fail`` (the model server cannot load the model).
"""

from __future__ import annotations

import threading

import attrs
from kubernetes.client import CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from tests.k8s import Emulator

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"
MODE = "serving.kserve.io/deploymentMode"
RENAMED = {"Serverless": "Knative", "RawDeployment": "Standard"}
RUNTIME = "kserve-sklearnserver"


@attrs.define(kw_only=True)
class KServeEmulator(Emulator):
    def _admitted(self, kind, obj):
        obj = super()._admitted(kind, obj)
        if (kind.group, kind.plural) == (GROUP, PLURAL):
            annotations = obj["metadata"].setdefault("annotations", {})
            if annotations.get(MODE) in RENAMED:
                annotations[MODE] = RENAMED[annotations[MODE]]
            model = ((obj.get("spec") or {}).get("predictor") or {}).get("model")
            if model is not None:
                model.setdefault("runtime", RUNTIME)
        return obj


def revision(name: str, generation: int) -> str:
    return f"{name}-predictor-{generation:05d}"


class FakeKServe:
    """KServe's controller for the InferenceServices of one namespace, in a thread of its own."""

    def __init__(self, api_client, namespace: str = "default", interval: float = 0.05):
        self.api = CustomObjectsApi(api_client)
        self.namespace = namespace
        self.interval = interval
        self.behaviour: dict[str, str] = {}  # storageUri -> ready | pending | fail
        self.status_writes = 0
        self._rolled_out: dict[str, str] = {}  # name -> the revision that last took all the traffic
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fake-kserve", daemon=True)
        self.failure: BaseException | None = None

    def behave(self, uri: str, how: str) -> None:
        assert how in ("ready", "pending", "fail")
        self.behaviour[uri.rstrip("/")] = how

    def __enter__(self) -> FakeKServe:
        self._thread.start()
        return self

    def __exit__(self, *_) -> None:
        self._stop.set()
        self._thread.join(5)
        if self.failure is not None:
            raise RuntimeError("the fake KServe controller failed") from self.failure

    def _run(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                for isvc in self.api.list_namespaced_custom_object(GROUP, VERSION, self.namespace, PLURAL)["items"]:
                    self._reconcile(isvc)
        except BaseException as exc:  # reported by __exit__; a dead controller must fail the test
            self.failure = exc

    def _reconcile(self, isvc: dict) -> None:
        status = self.status_for(isvc)
        if status == isvc.get("status"):
            return
        try:
            self.api.patch_namespaced_custom_object_status(GROUP, VERSION, self.namespace, PLURAL,
                                                           isvc["metadata"]["name"], {"status": status})
            self.status_writes += 1
        except ApiException as exc:
            if exc.status != 404:  # deleted meanwhile
                raise

    def status_for(self, isvc: dict) -> dict:
        meta, predictor = isvc["metadata"], isvc["spec"]["predictor"]
        name, generation = meta["name"], meta["generation"]
        how = self.behaviour.get(predictor["model"]["storageUri"].rstrip("/"), "ready")
        latest = revision(name, generation)
        canary = predictor.get("canaryTrafficPercent")
        previous = self._rolled_out.get(name)
        ready = how == "ready"
        if ready and canary is None:
            self._rolled_out[name] = latest
        share = 100 if canary is None or previous is None else canary
        traffic = [{"revisionName": latest if ready else previous or latest, "latestRevision": ready,
                    "percent": share if ready else 100}]
        if ready and share < 100:
            traffic.append({"revisionName": previous, "latestRevision": False, "percent": 100 - share})
        status = {
            "observedGeneration": generation,
            "deploymentMode": meta["annotations"].get(MODE),
            "url": f"http://{name}.{self.namespace}.example.com",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False",
                            **({} if ready else {"reason": "RevisionMissing",
                                                 "message": f"revision {latest} is not ready"})}],
            "components": {"predictor": {"latestCreatedRevision": latest,
                                         **({"latestReadyRevision": latest if ready else previous}
                                            if ready or previous else {}),
                                         "traffic": traffic}},
        }
        if how == "fail":
            status["modelStatus"] = {
                "states": {"activeModelState": "", "targetModelState": "FailedToLoad"},
                "transitionStatus": "BlockedByFailedLoad",
                "lastFailureInfo": {"reason": "ModelLoadFailed", "message": "model.joblib: cannot unpickle"}}
        return status
