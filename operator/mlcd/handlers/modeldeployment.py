"""kopf handlers of ModelDeployment: thin; the rollout decisions live in mlcd.reconcile.rollout.

Each reconcile reads the ModelDeployment, its InferenceService and (when named) the ServiceAccount and
Secrets KServe will use, afresh from the API server, asks ``decide`` (mlcd.reconcile.rollout) for the next step, and
sends it: the InferenceService (create, or a JSON merge patch), the champion in the registry when a
model became the active one, the whole status, the Events. Reading afresh inside a per-object lock,
and writing before the lock is released, means a timer never decides on a status older than the last
write (no echo window needed, unlike the TrainingRun handler that writes through kopf's patch).

Deletion: the InferenceService carries an ownerReference to its ModelDeployment (controller: true,
blockOwnerDeletion: true), so Kubernetes' garbage collector deletes it with the ModelDeployment, as
for any owned object. The operator deletes nothing itself (kopf's finalizer is there only to stop the
timer first); it stops reconciling a ModelDeployment that is gone or going.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from datetime import UTC, datetime

import kopf
import kubernetes
from kubernetes.client import ApiClient, CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from mlcd.api.v1alpha1 import API_VERSION, GROUP, VERSION, ModelDeploymentStatus
from mlcd.api.v1alpha1.modeldeployment import DEFAULT_RUNTIME
from mlcd.api.v1alpha1.validation import validate_document
from mlcd.api.v1alpha1.vocabulary import EventReason, EventType, Reason
from mlcd.handlers import metrics
from mlcd.handlers.config import OperatorConfig
from mlcd.handlers.status import StatusWriter
from mlcd.kserve import GROUP as KSERVE_GROUP
from mlcd.kserve import PLURAL as KSERVE_PLURAL
from mlcd.kserve import VERSION as KSERVE_VERSION
from mlcd.kserve import merge_patch
from mlcd.reconcile import Decision, champion_update, decide, not_applied, preflight
from mlcd.reconcile.runtime import RuntimeCheck, check_runtime
from mlcd.reconcile.status import changed
from mlcd.storage import StorageError

KIND = "ModelDeployment"
PLURAL = "modeldeployments"
METADATA_TIMEOUT_SECONDS = 10.0  # one small GET; a registry slower than this is not waited for
METADATA_RETRY_SECONDS = 60.0  # an unreadable metadata.json is not asked for again before this
_CACHED = 1024  # versions are never overwritten, so what a version recorded is read once


def _bounded(cache: dict) -> dict:
    """The newest entries of ``cache`` (insertion order), at most _CACHED of them."""
    return dict(list(cache.items())[-_CACHED:])


def read_model_metadata(uri: str) -> dict:
    """metadata.json of the model version at ``uri``: one GET of at most a few MiB, no listing. The one
    place the ModelDeployment handlers read a tenant's storage (credentials: the operator's environment)."""
    from mlcd.storage import read_version_metadata

    return read_version_metadata(uri)


def own_versions() -> dict:
    """The library versions of this image, which the chart's mlcd-sklearn runtime also runs."""
    from importlib.metadata import version

    return {"sklearn": version("scikit-learn"), "mlcd": version("mlcd")}


def make_api_client() -> ApiClient:
    """A client of its own (the global default configuration stays untouched), from the source kopf's
    login uses first: the pod's service account, else the current kubeconfig context ($KUBECONFIG)."""
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_incluster_config(client_configuration=configuration)
        return ApiClient(configuration)
    return kubernetes.config.new_client_from_config()


def api_message(exc: ApiException) -> str:
    """What the API server said (its Status object's message), without the client's HTTP dump."""
    try:
        return str(json.loads(exc.body or "")["message"])
    except (ValueError, KeyError, TypeError):
        return f"{exc.status} {exc.reason}"


def _missing(call, *args):
    """The object, or None when the API server answers 404."""
    try:
        return call(*args)
    except ApiException as exc:
        if exc.status == 404:
            return None
        raise


class ModelDeploymentReconciler:
    """One reconcile for every trigger (create, update, resume, timer): level-triggered."""

    def __init__(self, config: OperatorConfig, api_client: ApiClient | None = None):
        self.config = config
        self._api_client = api_client
        self._locks: dict[str, asyncio.Lock] = {}
        self._trained_with: dict[str, dict] = {}  # model URI -> metadata.json's versions
        self._unread: dict[str, tuple[float, str]] = {}  # model URI -> (when to try again, why it failed)
        self._own_versions = own_versions()

    @property
    def crs(self) -> CustomObjectsApi:
        return CustomObjectsApi(self._client())

    @property
    def core(self) -> CoreV1Api:
        return CoreV1Api(self._client())

    def _client(self) -> ApiClient:
        if self._api_client is None:
            self._api_client = make_api_client()
        return self._api_client

    def forget(self, uid: str) -> None:
        self._locks.pop(uid, None)

    async def reconcile(self, namespace: str, name: str, uid: str, logger) -> None:
        async with self._locks.setdefault(uid, asyncio.Lock()):
            try:
                await self._reconcile(namespace, name, uid, logger)
            except ApiException as exc:
                # The next timer tick tries again; every step is safe to repeat.
                metrics.ERRORS.labels(KIND, f"HTTP{exc.status}").inc()
                logger.warning("reconcile failed name=%s status=%s reason=%s", name, exc.status, exc.reason)

    async def _reconcile(self, namespace: str, name: str, uid: str, logger) -> None:
        md = await asyncio.to_thread(_missing, self.crs.get_namespaced_custom_object,
                                     GROUP, VERSION, namespace, PLURAL, name)
        if md is None or md["metadata"].get("uid") != uid or md["metadata"].get("deletionTimestamp"):
            metrics.RECONCILES.labels(KIND, "gone").inc()
            return
        invalid = validate_document({"apiVersion": API_VERSION, "kind": KIND, "spec": md.get("spec"),
                                     "metadata": {"name": name, "namespace": namespace}}).problems
        if invalid:
            metrics.RECONCILES.labels(KIND, "invalid").inc()
            await self._record(md, not_applied(md, Reason.INVALID_SPEC, "; ".join(map(str, invalid)),
                                               datetime.now(UTC)))
            return
        observed = await asyncio.to_thread(_missing, self.crs.get_namespaced_custom_object,
                                           KSERVE_GROUP, KSERVE_VERSION, namespace, KSERVE_PLURAL, name)
        problems = await asyncio.to_thread(self._preflight, md)
        runtime = await self._runtime_check(md, logger)
        decision = decide(md, observed, datetime.now(UTC), credential_problems=problems, runtime=runtime)
        metrics.RECONCILES.labels(KIND, "apply" if decision.inferenceservice else "observe").inc()
        if decision.inferenceservice is not None:
            try:
                await asyncio.to_thread(self._apply, decision.inferenceservice, observed)
            except ApiException as exc:
                if exc.status not in (400, 422):
                    raise
                # Sending the same object again gets the same answer: say so in status and an Event.
                metrics.ERRORS.labels(KIND, f"HTTP{exc.status}").inc()
                logger.warning("inferenceservice refused name=%s status=%s", name, exc.status)
                message = f"the API server refused InferenceService {name}: {api_message(exc)}"
                await self._record(md, not_applied(md, Reason.REFUSED_BY_API_SERVER, message, datetime.now(UTC)))
                return
            logger.info("inferenceservice %s name=%s phase=%s", "created" if observed is None else "patched",
                        name, decision.status.phase)
        if not await self._champion(md, decision, logger):
            return  # status unchanged: the next reconcile decides the same promotion and tries again
        await self._record(md, decision)

    async def _record(self, md: dict, decision: Decision) -> None:
        """Write the decision's status (when it changed) and post its Events."""
        namespace, name = md["metadata"]["namespace"], md["metadata"]["name"]
        previous = md.get("status") or {}
        if changed(ModelDeploymentStatus.model_validate(previous), decision.status):
            await asyncio.to_thread(StatusWriter.through_api, self.crs, PLURAL, namespace, name, previous,
                                    decision.status)
        for type_, reason, message in decision.events:
            kopf.event(md, type=type_, reason=reason, message=message[:1000])

    async def _runtime_check(self, md: dict, logger) -> RuntimeCheck:
        """Can the runtime load spec.model? From the versions the model recorded, read once per version."""
        spec = md.get("spec") or {}
        uri = ((spec.get("model") or {}).get("uri") or "").rstrip("/")
        runtime = (spec.get("serving") or {}).get("runtime") or DEFAULT_RUNTIME
        if runtime != DEFAULT_RUNTIME:
            return check_runtime(runtime, uri, None, self._own_versions)
        recorded = self._trained_with.get(uri)
        retry_at, problem = self._unread.get(uri, (0.0, None))
        if recorded is None and time.monotonic() >= retry_at:
            try:
                metadata = await asyncio.wait_for(asyncio.to_thread(read_model_metadata, uri),
                                                  METADATA_TIMEOUT_SECONDS)
                recorded = dict(metadata.get("versions") or {})
            except StorageError as exc:
                problem = str(exc)
            except TimeoutError:
                problem = f"no answer from storage in {METADATA_TIMEOUT_SECONDS:.0f}s"
            if recorded is None:
                logger.warning("model versions unread name=%s uri=%s problem=%s", md["metadata"]["name"], uri, problem)
                self._unread = _bounded({**self._unread, uri: (time.monotonic() + METADATA_RETRY_SECONDS, problem)})
            else:
                self._trained_with = _bounded({**self._trained_with, uri: recorded})
                self._unread.pop(uri, None)
        return check_runtime(runtime, uri, recorded, self._own_versions, problem=problem)

    def _preflight(self, md: dict) -> list[str]:
        account = ((md.get("spec") or {}).get("serving") or {}).get("serviceAccountName")
        if not account:
            return []
        namespace = md["metadata"]["namespace"]
        try:
            sa = _missing(self.core.read_namespaced_service_account, account, namespace)
            secrets = [] if sa is None else self._secrets(sa, namespace)
        except ApiException as exc:
            if exc.status != 403:
                raise
            return [f"spec.serving.serviceAccountName: the operator may not read ServiceAccount {account!r} "
                    f"or its Secrets (RBAC: get serviceaccounts, secrets)"]
        if sa is None:
            return preflight(None, [], name=account)
        listed = [{"name": ref.name} for ref in sa.secrets or []]
        return preflight({"metadata": _metadata(sa), "secrets": listed}, secrets, name=account)

    def _secrets(self, sa, namespace: str) -> list[dict]:
        """The Secrets the ServiceAccount lists, each read by name (the operator never lists Secrets)."""
        found = []
        for ref in sa.secrets or []:
            secret = _missing(self.core.read_namespaced_secret, ref.name, namespace)
            if secret is not None:
                found.append({"metadata": _metadata(secret), "data": dict(secret.data or {}),
                              "stringData": dict(secret.string_data or {})})
        return found

    def _apply(self, desired: dict, observed: dict | None) -> None:
        meta = desired["metadata"]
        if observed is None:
            self.crs.create_namespaced_custom_object(KSERVE_GROUP, KSERVE_VERSION, meta["namespace"], KSERVE_PLURAL,
                                                     desired)
            return
        # The client sends custom-object patches as application/merge-patch+json.
        self.crs.patch_namespaced_custom_object(KSERVE_GROUP, KSERVE_VERSION, meta["namespace"], KSERVE_PLURAL,
                                                meta["name"], merge_patch(desired, observed))

    async def _champion(self, md: dict, decision: Decision, logger) -> bool:
        """Make the model a promotion (or first deployment) made active the registry's champion; a
        rollback keeps the active model and so the champion. False when the registry could not be written."""
        from mlcd.storage import StorageError, open_registry

        name = md["metadata"]["name"]
        update = champion_update(ModelDeploymentStatus.model_validate(md.get("status") or {}), decision.status,
                                 deployment=name)
        if update is None:
            return True
        try:
            await asyncio.to_thread(
                lambda: open_registry(update.registry_uri).set_champion(update.version, reason=update.reason))
        except StorageError as exc:
            metrics.ERRORS.labels(KIND, EventReason.CHAMPION_NOT_SET).inc()
            logger.warning("champion not set name=%s registry=%s error=%s", name, update.registry_uri, exc)
            kopf.event(md, type=EventType.WARNING, reason=EventReason.CHAMPION_NOT_SET, message=str(exc)[:1000])
            return False
        logger.info("champion set name=%s registry=%s version=%d", name, update.registry_uri, update.version)
        kopf.event(md, type=EventType.NORMAL, reason=EventReason.CHAMPION_SET,
                   message=f"v{update.version} is the champion of {update.registry_uri}: {update.reason}")
        return True


def _metadata(obj) -> dict:
    meta = obj.metadata
    return {"name": meta.name, "namespace": meta.namespace, "annotations": dict(meta.annotations or {})}


def register(registry: kopf.OperatorRegistry, config: OperatorConfig, api_client: ApiClient | None = None) -> None:
    """The ModelDeployment handlers. api_client: the Kubernetes client they use (tests pass one for the
    API emulator); by default one from the pod's service account or the kubeconfig, made on first use."""
    reconciler = ModelDeploymentReconciler(config, api_client)
    resource = dict(group=GROUP, version=VERSION, plural=PLURAL)

    @kopf.on.resume(**resource, registry=registry)
    @kopf.on.create(**resource, registry=registry)
    @kopf.on.update(**resource, field="spec", registry=registry)
    async def _md_changed(body, logger, **_):
        await reconciler.reconcile(body.metadata.namespace, body.metadata.name, body.metadata.uid, logger)

    # KServe's progress, stability windows and deadlines have no event of their own: look again regularly.
    @kopf.timer(**resource, interval=config.poll_seconds, initial_delay=config.poll_seconds, registry=registry)
    async def _md_poll(body, logger, **_):
        await reconciler.reconcile(body.metadata.namespace, body.metadata.name, body.metadata.uid, logger)

    @kopf.on.event(**resource, registry=registry)
    async def _md_gone(type, body, **_):  # noqa: A002 (kopf's argument name)
        if type == "DELETED":
            reconciler.forget(body.metadata.uid)
