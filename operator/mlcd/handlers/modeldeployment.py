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
import dataclasses
import json
import time
from datetime import UTC, datetime

import kopf
from kubernetes.client import CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from mlcd.api.v1alpha1 import API_VERSION, GROUP, VERSION, ModelDeploymentStatus
from mlcd.api.v1alpha1.modeldeployment import DEFAULT_RUNTIME
from mlcd.api.v1alpha1.validation import validate_document
from mlcd.api.v1alpha1.vocabulary import EventReason, EventType, Reason
from mlcd.handlers import metrics
from mlcd.handlers.config import OperatorConfig
from mlcd.handlers.events import EventRecorder
from mlcd.handlers.kube import LazyClient
from mlcd.handlers.limits import CallTimeout, NamespacePool
from mlcd.handlers.status import StatusWriter
from mlcd.handlers.storage import StorageIdentities, StorageUnavailable
from mlcd.kserve import GROUP as KSERVE_GROUP
from mlcd.kserve import PLURAL as KSERVE_PLURAL
from mlcd.kserve import VERSION as KSERVE_VERSION
from mlcd.kserve import merge_patch
from mlcd.reconcile import ChampionUpdate, Decision, champion_recorded, champion_step, decide, not_applied, preflight
from mlcd.reconcile.champion import changed as champion_changed
from mlcd.reconcile.runtime import RuntimeCheck, check_runtime
from mlcd.reconcile.status import changed
from mlcd.storage import StorageError
from mlcd.timestamps import now_rfc3339

KIND = "ModelDeployment"
_CHAMPION_BACKOFF_CAP_SECONDS = 300.0
PLURAL = "modeldeployments"
METADATA_TIMEOUT_SECONDS = 10.0  # one small GET; a registry slower than this is not waited for
METADATA_RETRY_SECONDS = 60.0  # an unreadable metadata.json is not asked for again before this
_CACHED = 1024  # versions are never overwritten, so what a version recorded is read once


def _bounded(cache: dict) -> dict:
    """The newest entries of ``cache`` (insertion order), at most _CACHED of them."""
    return dict(list(cache.items())[-_CACHED:])


def read_model_metadata(uri: str, environ: dict | None) -> dict:
    """metadata.json of the model version at ``uri``: one GET of at most a few MiB, no listing, with the
    namespace's storage identity (``environ``, its Secret)."""
    from mlcd.storage import read_version_metadata

    return read_version_metadata(uri, environ=environ)


def own_versions() -> dict:
    """The library versions of this image, which the chart's mlcd-sklearn runtime also runs."""
    from importlib.metadata import version

    return {"sklearn": version("scikit-learn"), "mlcd": version("mlcd")}


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

    def __init__(self, config: OperatorConfig, client: LazyClient, pool: NamespacePool,
                 identities: StorageIdentities, events: EventRecorder):
        self.config = config
        self.events = events
        self._client = client
        self.pool = pool
        self.identities = identities
        self._locks: dict[str, asyncio.Lock] = {}
        # (namespace, model URI) -> metadata.json's versions: what one namespace may read is not another's
        self._trained_with: dict[tuple[str, str], dict] = {}
        self._unread: dict[tuple[str, str], tuple[float, str]] = {}  # -> (when to try again, why it failed)
        self._own_versions = own_versions()
        # uid -> (failed champion writes in a row, monotonic time before which none is tried again)
        self._champion_backoff: dict[str, tuple[int, float]] = {}

    @property
    def crs(self) -> CustomObjectsApi:
        return CustomObjectsApi(self._client())

    @property
    def core(self) -> CoreV1Api:
        return CoreV1Api(self._client())

    def forget(self, uid: str) -> None:
        self._locks.pop(uid, None)
        self._champion_backoff.pop(uid, None)

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
        # The status tells what KServe serves whatever becomes of the champion, which has its own condition.
        decision = dataclasses.replace(decision, status=await self._champion(md, decision.status, logger))
        await self._record(md, decision)

    async def _record(self, md: dict, decision: Decision) -> None:
        """Write the decision's status (when it changed) and post its Events."""
        namespace, name = md["metadata"]["namespace"], md["metadata"]["name"]
        previous = md.get("status") or {}
        if changed(ModelDeploymentStatus.model_validate(previous), decision.status):
            await asyncio.to_thread(StatusWriter.through_api, self.crs, PLURAL, namespace, name, previous,
                                    decision.status)
        for type_, reason, message in decision.events:
            self.events.record(md, type_, reason, message)

    async def _runtime_check(self, md: dict, logger) -> RuntimeCheck:
        """Can the runtime load spec.model? From the versions the model recorded, read once per version."""
        spec = md.get("spec") or {}
        uri = ((spec.get("model") or {}).get("uri") or "").rstrip("/")
        runtime = (spec.get("serving") or {}).get("runtime") or DEFAULT_RUNTIME
        if runtime != DEFAULT_RUNTIME:
            return check_runtime(runtime, uri, None, self._own_versions)
        namespace = md["metadata"]["namespace"]
        key = (namespace, uri)
        recorded = self._trained_with.get(key)
        retry_at, problem = self._unread.get(key, (0.0, None))
        if recorded is None and time.monotonic() >= retry_at:
            try:
                metadata = await self._tenant_read(namespace, uri, read_model_metadata, uri,
                                                   timeout=METADATA_TIMEOUT_SECONDS)
                recorded = dict(metadata.get("versions") or {})
            except (StorageError, StorageUnavailable) as exc:
                problem = str(exc)
            except CallTimeout:
                problem = f"no answer from storage in {METADATA_TIMEOUT_SECONDS:.0f}s"
            if recorded is None:
                logger.warning("model versions unread name=%s uri=%s problem=%s", md["metadata"]["name"], uri, problem)
                self._unread = _bounded({**self._unread, key: (time.monotonic() + METADATA_RETRY_SECONDS, problem)})
            else:
                self._trained_with = _bounded({**self._trained_with, key: recorded})
                self._unread.pop(key, None)
        return check_runtime(runtime, uri, recorded, self._own_versions, problem=problem)

    async def _tenant_read(self, namespace: str, uri: str, call, *args, timeout: float | None = None):
        """call(*args, environ) in the namespace's share of the pool, with its storage Secret for s3:// (a
        file:// URI only in the local backend's development namespace)."""
        if uri.startswith("file:") and not self.config.file_uris_allowed(namespace):
            raise StorageUnavailable("FileURIRefused", f"{uri}: file:// URIs are refused in this namespace")
        environ = await self.identities.environ(namespace) if uri.startswith("s3:") else None
        return await self.pool.run(namespace, call, *args, environ, timeout=timeout)

    def _preflight(self, md: dict) -> list[str]:
        account = ((md.get("spec") or {}).get("serving") or {}).get("serviceAccountName")
        if not account:
            return []
        namespace = md["metadata"]["namespace"]
        try:
            sa = _missing(self.core.read_namespaced_service_account, account, namespace)
        except ApiException as exc:
            if exc.status != 403:
                raise
            return [f"spec.serving.serviceAccountName: the operator may not read ServiceAccount {account!r} "
                    "(RBAC: get serviceaccounts)"]
        try:
            secrets = [] if sa is None else self._secrets(sa, namespace)
        except _Forbidden as exc:
            return [f"spec.serving.serviceAccountName: the operator may not read Secret {exc.name!r}, listed by "
                    f"ServiceAccount {account!r}: it reads Secrets by name only (add the name to the chart's "
                    "rbac.preflightSecrets to have it checked)"]
        if sa is None:
            return preflight(None, [], name=account)
        listed = [{"name": ref.name} for ref in sa.secrets or []]
        return preflight({"metadata": _metadata(sa), "secrets": listed}, secrets, name=account)

    def _secrets(self, sa, namespace: str) -> list[dict]:
        """The Secrets the ServiceAccount lists, each read by name (the operator never lists Secrets)."""
        found = []
        for ref in sa.secrets or []:
            try:
                secret = _missing(self.core.read_namespaced_secret, ref.name, namespace)
            except ApiException as exc:
                if exc.status == 403:
                    raise _Forbidden(ref.name) from None
                raise
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

    async def _champion(self, md: dict, status: ModelDeploymentStatus, logger) -> ModelDeploymentStatus:
        """``status`` with the champion recorded (first deployment, promotion, or an earlier failed write),
        skipped with a reason, or failed and left for a later try: never held back by it."""
        meta = md["metadata"]
        name, namespace, uid = meta["name"], meta["namespace"], meta["uid"]
        step = champion_step(status, deployment=name, file_allowed=self.config.file_uris_allowed(namespace))
        if step is None:
            self._champion_backoff.pop(uid, None)
            return status
        attempts, not_before = self._champion_backoff.get(uid, (0, 0.0))
        if isinstance(step, ChampionUpdate) and time.monotonic() < not_before:
            return status  # backing off: ChampionRecorded keeps saying why the last write failed
        error = None
        if isinstance(step, ChampionUpdate):
            try:
                await self._tenant_read(namespace, step.registry_uri, _set_champion, step)
            except (StorageError, StorageUnavailable, CallTimeout) as exc:
                error = str(exc)
        now = now_rfc3339()
        new = champion_recorded(status, step, error, generation=meta.get("generation"), now=now)
        before = ModelDeploymentStatus.model_validate(md.get("status") or {})
        if error:
            metrics.ERRORS.labels(KIND, EventReason.CHAMPION_NOT_SET).inc()
            delay = min(self.config.poll_seconds * 2 ** attempts, _CHAMPION_BACKOFF_CAP_SECONDS)
            self._champion_backoff[uid] = (attempts + 1, time.monotonic() + delay)
            logger.warning("champion not set name=%s model=%s attempt=%d retry_in=%.0fs error=%s", name,
                           step.model_uri, attempts + 1, delay, error)
            if champion_changed(before, new):
                self.events.record(md, EventType.WARNING, EventReason.CHAMPION_NOT_SET, error)
        elif isinstance(step, ChampionUpdate):
            self._champion_backoff.pop(uid, None)
            logger.info("champion set name=%s registry=%s version=%d", name, step.registry_uri, step.version)
            self.events.record(md, EventType.NORMAL, EventReason.CHAMPION_SET,
                               f"v{step.version} is the champion of {step.registry_uri}: {step.reason}")
        elif champion_changed(before, new):
            self.events.record(md, EventType.NORMAL, EventReason.CHAMPION_SKIPPED, step.message)
        return new


class _Forbidden(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def _set_champion(step: ChampionUpdate, environ: dict | None) -> None:
    from mlcd.storage import open_registry

    open_registry(step.registry_uri, environ).set_champion(step.version, reason=step.reason)


def _metadata(obj) -> dict:
    meta = obj.metadata
    return {"name": meta.name, "namespace": meta.namespace, "annotations": dict(meta.annotations or {})}


def register(registry: kopf.OperatorRegistry, config: OperatorConfig, client: LazyClient, pool: NamespacePool,
             identities: StorageIdentities, events: EventRecorder) -> None:
    """The ModelDeployment handlers. client: the Kubernetes client they use (tests give one for the API
    emulator); pool and identities: the bounded calls and storage identities they share with TrainingRuns."""
    reconciler = ModelDeploymentReconciler(config, client, pool, identities, events)
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
            events.forget(body.metadata.uid)
