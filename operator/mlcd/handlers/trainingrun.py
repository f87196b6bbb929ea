"""kopf handlers of TrainingRun: observe, ask mlcd.reconcile.trainingrun.plan, apply. No rule lives here.

A reconcile gathers what it saw into an ``Observed``, asks ``plan``, carries out the Asks the plan
returns (each by its executor below, errors turned into answers), and plans again with the answers,
until the plan is final; then it writes the status through the shared status writer, posts the
Events and carries out the effects.
"""

from __future__ import annotations

import asyncio
import contextlib

import kopf

from mlcd.api.v1alpha1 import API_VERSION
from mlcd.api.v1alpha1.trainingrun import TrainingRunStatus
from mlcd.api.v1alpha1.validation import validate_document
from mlcd.api.v1alpha1.vocabulary import Reason
from mlcd.backends.base import AccessDenied, Backend, BackendError, BackendUnavailable, Placement, RunRef
from mlcd.compiler import compile_drift_check, compile_trainingrun
from mlcd.handlers import metrics
from mlcd.handlers.admission import AdmissionControl
from mlcd.handlers.config import FINALIZER, OperatorConfig
from mlcd.handlers.events import EventRecorder
from mlcd.handlers.limits import RECONCILES_PER_NAMESPACE, CallTimeout, NamespacePool
from mlcd.handlers.status import StatusWriter
from mlcd.handlers.storage import StorageIdentities, StorageUnavailable
from mlcd.reconcile import retrain
from mlcd.reconcile.admission import Caps, Verdict, spread_offset
from mlcd.reconcile.polling import awaits_finalizer, queued_since
from mlcd.reconcile.trainingrun import (
    Admit,
    CheckDrift,
    Denied,
    DriftRun,
    DriftTarget,
    FindChampion,
    Fingerprint,
    Observed,
    Plan,
    Poll,
    Problem,
    ReadRecord,
    RecordAbsent,
    RecordUnreadable,
    Refused,
    RetryLater,
    RunCreated,
    RunEnded,
    RunHandle,
    RunSeen,
    SpecChecked,
    Stop,
    StorageFound,
    StorageIdentity,
    StorageMissing,
    Submit,
    Unavailable,
    Validate,
    on_delete,
    plan,
    run_name,
)
from mlcd.timestamps import rfc3339

KIND = "TrainingRun"
MAX_ROUNDS = 8  # plans a reconcile may ask in turn; the longest chain (stop, validate, submit) takes three
DELETE_STOP_SECONDS = 10  # a backend that is down must not keep a deleted object from going away
ECHO_SECONDS = 120.0  # how long our own status write may take to come back through the watch, at most


class _Held:
    """An object's lock (or a namespace's slots), and how many reconciles hold or wait for it."""

    __slots__ = ("lock", "users")

    def __init__(self, slots: int = 1) -> None:
        self.lock, self.users = asyncio.Semaphore(slots), 0


def _ref(run: RunHandle) -> RunRef:
    return RunRef(run.name, run.run_id, run.url)


class TrainingRunReconciler:
    """One reconcile for every trigger (the watch event of a generation not acted on yet, the poller):
    level-triggered.

    A lock per object keeps the poller and an event from deciding to submit at the same time;
    the deterministic run name, looked up before submitting, covers restarts and retries.
    """

    def __init__(self, config: OperatorConfig, backend: Backend, pool: NamespacePool, identities: StorageIdentities,
                 events: EventRecorder):
        self.config = config
        self.events = events
        self.backend = backend
        self.pool = pool  # every call that touches a tenant's storage runs here, within the namespace's share
        self.identities = identities
        # A write not back through the watch in this long was lost: it is redone, not trusted.
        self.writer = StatusWriter(echo_seconds=ECHO_SECONDS + 2 * config.poll_seconds)
        self._locks: dict[str, _Held] = {}  # only while a reconcile of the object runs or waits
        self._namespaces: dict[str, _Held] = {}  # the same, per namespace
        self._executors = {
            Validate: self._validate, StorageIdentity: self._storage_identity, Fingerprint: self._fingerprint,
            FindChampion: self._find_champion,
            CheckDrift: self._check_drift, Submit: self._submit, Poll: self._poll, ReadRecord: self._read_record,
            Stop: self._stop, Admit: self._admit,
        }
        self.admission = AdmissionControl(Caps(config.max_runs_in_flight, config.max_runs_in_flight_per_namespace),
                                          waiter_seconds=3 * config.poll_seconds + 30)
        self.in_flight = None  # kopf's index of the TrainingRuns with a run in flight, by namespace

    async def reconcile(self, body, patch, logger, in_flight=None) -> None:
        if in_flight is not None:
            self.in_flight = in_flight
        if awaits_finalizer(body.spec, body.metadata, FINALIZER):
            logger.debug("waiting for the finalizer before acting (deletePolicy stopRuns)")
            return  # kopf adds it at the end of this event's cycle; its own event brings the object back
        # Per object, one reconcile at a time; per namespace, a few, whichever started them (the queue of
        # watch events, the poller's sweep): a reconcile waits here before it holds its validated spec, plan
        # and pipeline, and one namespace's burst does not take the slots of another.
        async with self._holding(self._locks, body.metadata.uid, 1), \
                self._holding(self._namespaces, body.metadata.namespace, RECONCILES_PER_NAMESPACE):
            await self._reconcile(body, patch, logger)

    @contextlib.asynccontextmanager
    async def _holding(self, table: dict[str, _Held], key: str, slots: int):
        held = table.get(key) or table.setdefault(key, _Held(slots))
        held.users += 1
        try:
            async with held.lock:
                yield
        finally:
            held.users -= 1
            if not held.users and table.get(key) is held:
                del table[key]  # nothing is kept for an object (or a namespace) between its reconciles

    def observe(self, body) -> Observed:
        return Observed(name=body.metadata.name, namespace=body.metadata.namespace, uid=body.metadata.uid,
                        generation=body.metadata.get("generation") or 1, spec=dict(body.spec),
                        status=self.writer.seen(body, TrainingRunStatus), now=self.config.clock(),
                        registry_base=self.config.default_registry_base(self.backend.name),
                        file_uris_allowed=self.config.file_uris_allowed(body.metadata.namespace),
                        deleting=bool(body.metadata.get("deletionTimestamp")),
                        schedule_offset=spread_offset(body.metadata.uid, self.config.schedule_spread_seconds),
                        capped=self.admission.caps.capped)

    async def _reconcile(self, body, patch, logger) -> None:
        observed = self.observe(body)
        step = plan(observed)
        for _ in range(MAX_ROUNDS):
            if step.final:
                break
            for ask in step.asks:
                observed = observed.answered(ask, await self._executors[type(ask)](ask, observed, logger))
            step = plan(observed)
        else:
            raise kopf.TemporaryError(f"the plan asked more than {MAX_ROUNDS} times", delay=30)
        metrics.RECONCILES.labels(KIND, step.action).inc()
        self._apply(step, body, patch, logger)

    def _apply(self, step: Plan, body, patch, logger) -> None:
        if step.write:
            # Held until the watch echoes it: a queued event or a kept body older than the write decides on it.
            self.writer.through_kopf(body, patch, step.status)
        for event in step.events:
            logger.info("event reason=%s name=%s message=%s", event.reason, body.metadata.name, event.message)
            self.events.record(body, event.type, event.reason, event.message)
        for effect in step.effects:
            if isinstance(effect, RunEnded):
                metrics.RUNS_FINISHED.labels(effect.phase).inc()
                if effect.seconds is not None:
                    metrics.RUN_SECONDS.observe(effect.seconds)
                logger.info("run finished run=%s phase=%s", effect.run_name, effect.phase)
            elif isinstance(effect, RetryLater):
                # kopf still writes the patch of a handler that asks to be retried.
                raise kopf.TemporaryError(effect.message, delay=effect.seconds)

    # --- executors: one per Ask; each returns the answer, errors included ----------------------------------------

    async def _validate(self, ask: Validate, observed: Observed, logger) -> SpecChecked:
        checked = check_spec(observed)
        if checked.problems:
            logger.warning("invalid spec name=%s problems=%d", observed.name, len(checked.problems))
        return checked

    async def _admit(self, ask: Admit, observed: Observed, logger) -> Verdict:
        since = queued_since(observed.status.to_wire())
        return self.admission.request(observed.namespace, observed.name, since or rfc3339(observed.now),
                                      self.in_flight)

    async def _storage_identity(self, ask: StorageIdentity, observed: Observed,
                                logger) -> StorageFound | StorageMissing:
        try:
            await self.identities.environ(observed.namespace)
        except StorageUnavailable as exc:
            logger.warning("storage not ready name=%s reason=%s", observed.name, exc.reason)
            return StorageMissing(exc.reason, str(exc))
        return StorageFound(self.identities.secret_name)

    async def _tenant_call(self, observed: Observed, uris: list[str], call, *args):
        """call(*args, environ) in the namespace's share of the pool, with the namespace's storage settings
        when one of ``uris`` is in object storage. A file:// URI the namespace may not use is never touched."""
        if any(uri.startswith("file:") for uri in uris) and not observed.file_uris_allowed:
            raise StorageUnavailable("FileURIRefused", "file:// URIs are refused in this namespace")
        environ = await self.identities.environ(observed.namespace) if any(
            uri.startswith("s3:") for uri in uris) else None
        return await self.pool.run(observed.namespace, call, *args, environ)

    async def _fingerprint(self, ask: Fingerprint, observed: Observed, logger) -> str | Problem:
        from mlcd.storage import StorageError

        try:
            return await self._tenant_call(observed, [ask.uri], data_fingerprint, ask.uri)
        except (StorageError, StorageUnavailable, CallTimeout) as exc:
            logger.warning("data fingerprint unavailable name=%s error=%s", observed.name, exc)
            return Problem(str(exc))

    async def _find_champion(self, ask: FindChampion, observed: Observed, logger) -> DriftTarget | Problem:
        from mlcd.storage import StorageError

        try:
            return await self._tenant_call(observed, [ask.registry_uri, ask.current], find_champion, ask)
        except (StorageError, StorageUnavailable, CallTimeout) as exc:
            return Problem(str(exc))

    async def _check_drift(self, ask: CheckDrift, observed: Observed, logger) -> DriftRun | Problem:
        """The record of the drift-check run for (data, champion), else that run: found by its name, or
        submitted in the tenant's namespace, and its record read again once it has succeeded. The operator
        reads the record, never the data; the plan (drift_outcome) decides what the run's end means."""
        from mlcd.storage import StorageError

        key = ask.key
        name = run_name(observed.namespace, observed.name, observed.uid, observed.generation, key)
        try:
            found = await self._tenant_call(observed, [ask.registry_uri, ask.current], read_drift_record,
                                            ask.registry_uri, key)
        except (StorageError, StorageUnavailable, CallTimeout) as exc:
            return Problem(str(exc))
        if found is not None:
            return DriftRun(name, found)
        secret = self.identities.secret_name if self.backend.name == "kfp" else ""
        compiled = compile_drift_check(ask.current, ask.registry_uri, ask.champion_version, ask.method,
                                       ask.threshold, key, s3_secret=secret)
        labels = {"mlcd.io/namespace": observed.namespace, "mlcd.io/name": observed.name, "mlcd.io/trigger": key}
        place = Placement(observed.namespace, (observed.spec.get("serviceAccountName") or ""))
        try:
            ref = await asyncio.to_thread(self._find_or_submit, name, compiled, labels, place)
            state = await asyncio.to_thread(self.backend.get, ref)
        except BackendError as exc:  # BackendUnavailable and AccessDenied included: the check stays due
            return Problem(f"spec.retrain.drift: the drift check run {name}: {exc}")
        if state.finished and state.state == "SUCCEEDED":  # it may have recorded its result since the first look
            try:
                found = await self._tenant_call(observed, [ask.registry_uri], read_drift_record, ask.registry_uri, key)
            except (StorageError, StorageUnavailable, CallTimeout) as exc:
                return Problem(str(exc))
        else:
            logger.info("drift check under way name=%s run=%s", observed.name, name)
        return DriftRun(name, found, state.state, state.finished, state.message)

    async def _submit(self, ask: Submit, observed: Observed, logger) -> RunCreated | Refused | Denied | Unavailable:
        # The kfp backend's steps mount the namespace's Secret; the local backend's inherit the operator's settings.
        compiled = compile_trainingrun(ask.resource, trigger=ask.trigger, registry_uri=ask.registry_uri,
                                       run_key=ask.run_name,
                                       s3_secret=ask.storage_secret if self.backend.name == "kfp" else "")
        place = Placement(observed.namespace, ask.resource.spec.service_account_name or "")
        try:
            ref = await asyncio.to_thread(self._find_or_submit, ask.run_name, compiled, dict(ask.labels), place)
        except AccessDenied as exc:
            metrics.ERRORS.labels(KIND, Reason.PIPELINES_ACCESS_DENIED).inc()
            logger.warning("pipelines access denied name=%s error=%s", observed.name, exc)
            return Denied(str(exc))
        except BackendUnavailable as exc:
            metrics.ERRORS.labels(KIND, Reason.BACKEND_UNAVAILABLE).inc()
            return Unavailable(str(exc))
        except BackendError as exc:
            metrics.ERRORS.labels(KIND, "BackendError").inc()
            return Refused(str(exc))
        metrics.RUNS_SUBMITTED.labels(self.backend.name, str(ref.adopted).lower()).inc()
        logger.info("run %s name=%s run=%s", "adopted" if ref.adopted else "submitted", observed.name, ref.name)
        return RunCreated(ref.name, ref.run_id, ref.url, ref.adopted, compiled.spec_hash,
                          compiled.arguments["registry_uri"])

    def _find_or_submit(self, name: str, compiled, labels: dict, place: Placement) -> RunRef:
        found = self.backend.find(name, place)
        if found is not None:
            return found
        return self.backend.submit(name, compiled.pipeline_document, compiled.arguments, labels, place)

    async def _poll(self, ask: Poll, observed: Observed, logger) -> RunSeen | Unavailable:
        try:
            state = await asyncio.to_thread(self.backend.get, _ref(ask.run))
        except (BackendUnavailable, AccessDenied) as exc:  # a run in flight is looked at again next time
            logger.warning("backend unavailable while polling run=%s error=%s", ask.run.name, exc)
            return Unavailable(str(exc))
        return RunSeen(state.state, state.finished, state.message, state.result)

    async def _read_record(self, ask: ReadRecord, observed: Observed,
                           logger) -> dict | RecordAbsent | RecordUnreadable:
        try:
            return await self._tenant_call(observed, [ask.registry_uri], read_run_record, ask.registry_uri,
                                           ask.run_name)
        except (StorageUnavailable, CallTimeout) as exc:
            return RecordUnreadable(str(exc))

    async def _stop(self, ask: Stop, observed: Observed, logger) -> Unavailable | None:
        try:
            await asyncio.to_thread(self.backend.stop, _ref(ask.run))
        except BackendUnavailable as exc:
            return Unavailable(str(exc))
        except BackendError as exc:
            logger.warning("could not stop run=%s error=%s; it may have ended", ask.run.name, exc)
        logger.info("run stopped run=%s", ask.run.name)
        return None

    def run_states(self, runs: list[tuple[str, str, str]]) -> list[tuple[str, str] | None]:
        """What the backend says of each run (name, id, url): (state, message), None when it cannot tell.
        Blocking (one thread for a batch): the poller asks it before deciding which runs to reconcile."""
        said = []
        for name, run_id, url in runs:
            try:
                state = self.backend.get(RunRef(name, run_id, url))
            except BackendError:
                said.append(None)
                continue
            said.append((state.state, state.message))
        return said

    def forget(self, uid: str) -> None:
        """Drop the status last written for an object that is going away."""
        self.writer.forget(uid)

    @property
    def objects_held(self) -> int:
        return len(self._locks)

    async def stop_on_delete(self, body, logger) -> None:
        self.forget(body.metadata.uid)
        stop = on_delete(body.spec, TrainingRunStatus.model_validate(dict(body.get("status") or {})))
        if stop is None:
            return
        try:
            await asyncio.wait_for(asyncio.to_thread(self.backend.stop, _ref(stop.run)), timeout=DELETE_STOP_SECONDS)
            logger.info("run stopped on delete run=%s", stop.run.name)
        except (TimeoutError, BackendUnavailable, BackendError) as exc:
            logger.warning("could not stop run=%s on delete error=%s; leaving it", stop.run.name, exc)


# --- the I/O behind the executors -----------------------------------------------------------------------------


def read_run_record(registry_uri: str, run_key: str, environ: dict | None) -> dict | RecordAbsent | RecordUnreadable:
    """The outcome the run's last step recorded (KFP's API does not return a run's outputs), or why there
    is none to read: the plan decides what that means for the run."""
    from mlcd.storage import StorageError, open_registry

    try:
        record = open_registry(registry_uri, environ).run_record(run_key)
    except StorageError as exc:
        return RecordUnreadable(str(exc))
    return record or RecordAbsent()


def data_fingerprint(uri: str, environ: dict | None) -> str:
    """A stat (a HEAD with the namespace's storage identity), never a download: cheap enough to poll."""
    from mlcd.storage import stat

    found = stat(uri, environ)
    return retrain.fingerprint_id(found.kind, found.value, found.version_id)


def find_champion(ask: FindChampion, environ: dict | None) -> DriftTarget | Problem:
    from mlcd.storage import open_registry

    champion = open_registry(ask.registry_uri, environ).champion()
    if champion is None:
        return Problem(f"spec.retrain.drift: {ask.registry_uri} has no champion yet to compare with")
    return DriftTarget(data_fingerprint(ask.current, environ), champion["version"])


def read_drift_record(registry_uri: str, key: str, environ: dict | None) -> dict | None:
    """The small record a drift-check run left at REGISTRY/drift/KEY.json (size-bounded), or None."""
    from mlcd.storage import open_registry

    return open_registry(registry_uri, environ).drift_record(key)


def check_spec(observed: Observed) -> SpecChecked:
    """The Validate executor's answer: the spec from the cluster, checked as `mlcd validate` checks a file."""
    doc = {"apiVersion": API_VERSION, "kind": KIND, "spec": dict(observed.spec),
           "metadata": {"name": observed.name, "namespace": observed.namespace, "generation": observed.generation}}
    validated = validate_document(doc)
    if not validated.ok:
        return SpecChecked(None, tuple(str(p) for p in validated.problems))
    return SpecChecked(validated.resource)
