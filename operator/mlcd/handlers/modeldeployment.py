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
import time
from datetime import UTC, datetime

import kopf
from kubernetes.client import CoreV1Api, CustomObjectsApi
from kubernetes.client.exceptions import ApiException

from mlcd.api.v1alpha1 import GROUP, VERSION, ModelDeploymentStatus
from mlcd.api.v1alpha1.vocabulary import EventReason, EventType
from mlcd.handlers import metrics
from mlcd.handlers.config import OperatorConfig
from mlcd.handlers.kube import LazyClient
from mlcd.handlers.limits import CallTimeout, NamespacePool
from mlcd.handlers.status import StatusWriter
from mlcd.handlers.storage import StorageIdentities, StorageUnavailable
from mlcd.kserve import GROUP as KSERVE_GROUP
from mlcd.kserve import PLURAL as KSERVE_PLURAL
from mlcd.kserve import VERSION as KSERVE_VERSION
from mlcd.kserve import merge_patch
from mlcd.reconcile import ChampionSkip, ChampionUpdate, champion_recorded, champion_step, decide, preflight
from mlcd.reconcile.champion import changed as champion_changed

KIND = "ModelDeployment"
_CHAMPION_BACKOFF_CAP_SECONDS = 300.0
PLURAL = "modeldeployments"


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
                 identities: StorageIdentities):
        self.config = config
        self._client = client
        self.pool = pool
        self.identities = identities
        self._locks: dict[str, asyncio.Lock] = {}
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
        observed = await asyncio.to_thread(_missing, self.crs.get_namespaced_custom_object,
                                           KSERVE_GROUP, KSERVE_VERSION, namespace, KSERVE_PLURAL, name)
        problems = await asyncio.to_thread(self._preflight, md)
        decision = decide(md, observed, datetime.now(UTC), credential_problems=problems)
        metrics.RECONCILES.labels(KIND, "apply" if decision.inferenceservice else "observe").inc()
        if decision.inferenceservice is not None:
            await asyncio.to_thread(self._apply, decision.inferenceservice, observed)
            logger.info("inferenceservice %s name=%s phase=%s", "created" if observed is None else "patched",
                        name, decision.status.get("phase"))
        # The status tells what KServe serves whatever becomes of the champion, which has its own condition.
        status = await self._champion(md, decision.status, logger)
        previous = md.get("status") or {}
        if status != previous:
            await asyncio.to_thread(StatusWriter.through_api, self.crs, PLURAL, namespace, name, previous,
                                    ModelDeploymentStatus.model_validate(status))
        for type_, reason, message in decision.events:
            kopf.event(md, type=type_, reason=reason, message=message[:1000])

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

    async def _champion(self, md: dict, status: dict, logger) -> dict:
        """``status`` with the champion recorded (first deployment, promotion, or an earlier failed write),
        skipped with a reason, or failed and left for a later try: never held back by it."""
        from mlcd.storage import StorageError

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
                environ = await self.identities.environ(namespace) if step.registry_uri.startswith("s3:") else None
                await self.pool.run(namespace, _set_champion, step, environ)
            except (StorageError, StorageUnavailable, CallTimeout) as exc:
                error = str(exc)
        now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        new = champion_recorded(status, step, error, generation=meta.get("generation"), now=now)
        if error:
            metrics.ERRORS.labels(KIND, "ChampionNotSet").inc()
            delay = min(self.config.poll_seconds * 2 ** attempts, _CHAMPION_BACKOFF_CAP_SECONDS)
            self._champion_backoff[uid] = (attempts + 1, time.monotonic() + delay)
            logger.warning("champion not set name=%s model=%s attempt=%d retry_in=%.0fs error=%s", name,
                           step.model_uri, attempts + 1, delay, error)
        elif isinstance(step, ChampionUpdate):
            self._champion_backoff.pop(uid, None)
            logger.info("champion set name=%s registry=%s version=%d", name, step.registry_uri, step.version)
            kopf.event(md, type=EventType.NORMAL, reason=EventReason.CHAMPION_SET,
                       message=f"v{step.version} is the champion of {step.registry_uri}: {step.reason}")
        if error and champion_changed(md.get("status") or {}, new):
            kopf.event(md, type=EventType.WARNING, reason=EventReason.CHAMPION_NOT_SET, message=error[:1000])
        elif isinstance(step, ChampionSkip) and champion_changed(md.get("status") or {}, new):
            kopf.event(md, type=EventType.NORMAL, reason=EventReason.CHAMPION_SKIPPED, message=step.message[:1000])
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
             identities: StorageIdentities) -> None:
    """The ModelDeployment handlers. client: the Kubernetes client they use (tests give one for the API
    emulator); pool and identities: the bounded calls and storage identities they share with TrainingRuns."""
    reconciler = ModelDeploymentReconciler(config, client, pool, identities)
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
