"""kopf handlers of TrainingRun: thin; the decisions live in mlcd.reconcile.trainingrun and .retrain."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import kopf
from pydantic import ValidationError

from mlcd.api.v1alpha1.trainingrun import DriftSpec, RetrainSpec
from mlcd.api.v1alpha1.validation import validate_document
from mlcd.backends.base import Backend, BackendError, BackendUnavailable, RunRef
from mlcd.compiler import compile_trainingrun
from mlcd.handlers import metrics
from mlcd.handlers.config import OperatorConfig
from mlcd.handlers.limits import CallTimeout, NamespacePool
from mlcd.handlers.storage import StorageIdentities, StorageUnavailable
from mlcd.reconcile import retrain, tenancy
from mlcd.reconcile import trainingrun as decide

KIND = "TrainingRun"


def read_run_record(registry_uri: str, run_key: str, environ: dict | None) -> dict:
    """The outcome the run's last step recorded (KFP's API does not return a run's outputs)."""
    from mlcd.storage import StorageError, open_registry

    if not registry_uri:
        return {"phase": "Failed", "message": "the run succeeded but its registry is unknown"}
    try:
        record = open_registry(registry_uri, environ).run_record(run_key)
    except StorageError as exc:
        return {"phase": "Failed", "message": f"the run succeeded but its record cannot be read: {exc}"}
    return record or {"phase": "Failed", "message": f"the run succeeded but left no record in {registry_uri}/runs"}


def retrain_spec(body) -> RetrainSpec | None:
    """spec.retrain, or None when unset or invalid (the run of the spec reports an invalid one)."""
    try:
        return RetrainSpec.model_validate(body.spec["retrain"]) if body.spec.get("retrain") else None
    except ValidationError:
        return None


def data_fingerprint(uri: str, environ: dict | None) -> str:
    """A stat (a HEAD with the namespace's storage identity), never a download: cheap enough to poll."""
    from mlcd.storage import stat

    found = stat(uri, environ)
    return retrain.fingerprint_id(found.kind, found.value, found.version_id)


def check_drift(drift: DriftSpec, registry_uri: str, status: dict, environ: dict | None,
                max_bytes: int) -> retrain.DriftSeen | None:
    """The drift report of drift.current against the champion's reference statistics, written next to the
    registry's versions; None when data and champion are those of the last check. LookupError says why not.
    drift.current is read only up to ``max_bytes``: a larger one is refused unread."""
    from mlcd.drift import drift_report
    from mlcd.storage import open_registry, read_dataset

    registry = open_registry(registry_uri, environ)
    champion = registry.champion()
    if champion is None:
        raise LookupError(f"spec.retrain.drift: {registry_uri} has no champion yet to compare with")
    version = champion["version"]
    if not retrain.drift_check_needed(status, data_fingerprint(drift.current, environ), version):
        return None
    reference = registry.metadata(version).get("reference")
    if not reference:
        raise LookupError(f"spec.retrain.drift: the champion {registry.version_uri(version)} has no reference "
                          "statistics (registered before mlcd recorded them)")
    frame, read = read_dataset(drift.current, environ=environ, max_bytes=max_bytes)
    try:
        report = drift_report(reference, frame, drift.method, drift.threshold)
    except ValueError as exc:
        raise LookupError(f"spec.retrain.drift.current: {drift.current}: {exc}") from None
    fingerprint = retrain.fingerprint_id(read.kind, read.value, read.version_id)
    name = f"{retrain.content_key('drift', fingerprint)}-v{version}"
    return retrain.DriftSeen(fingerprint, version, report.record(),
                             registry.write_report(name, report.to_markdown(), report.to_html()))


class TrainingRunReconciler:
    """One reconcile for every trigger (create, update, resume, timer): level-triggered.

    A lock per object keeps the timer and an event from deciding to submit at the same time;
    the deterministic run name, looked up before submitting, covers restarts and retries.
    """

    def __init__(self, config: OperatorConfig, backend: Backend, pool: NamespacePool, identities: StorageIdentities):
        self.config = config
        self.backend = backend
        self.pool = pool
        self.identities = identities
        self._locks: dict[str, asyncio.Lock] = {}
        self._written: dict[str, tuple[float, dict]] = {}
        # How long our own status write may take to come back through the watch stream.
        self._echo_seconds = 2 * config.poll_seconds + 5

    def registry_uri(self, body) -> str | None:
        """spec.registry.uri, else BASE/NAMESPACE/NAME; the local backend's BASE is under MLCD_HOME."""
        if (body.spec.get("registry") or {}).get("uri"):
            return None
        base = self.config.registry_base.rstrip("/")
        if not base and self.backend.name == "local":
            base = (self.config.home / "registry").resolve().as_uri()
        return f"{base}/{body.metadata.namespace}/{body.metadata.name}" if base else None

    async def reconcile(self, body, patch, logger) -> None:
        lock = self._locks.setdefault(body.metadata.uid, asyncio.Lock())
        async with lock:
            await self._reconcile(body, patch, logger)

    def _status(self, body) -> dict:
        """The status to decide on: the body's, or what this operator just wrote if the body predates it.

        A timer can hold a body read before the last status patch came back; deciding on it
        would record the same transition twice. A write older than the echo window is
        forgotten, so a patch the API server lost is redone rather than trusted.
        """
        status = dict(body.get("status") or {})
        written = self._written.get(body.metadata.uid)
        if written and time.monotonic() - written[0] < self._echo_seconds:
            status.update(written[1])
        return status

    async def _reconcile(self, body, patch, logger) -> None:
        generation = body.metadata.get("generation") or 1
        status = self._status(body)
        action = decide.next_action(generation, status)
        metrics.RECONCILES.labels(KIND, action).inc()
        retraining = retrain_spec(body)
        outcome = None
        if action == "submit":
            outcome = await self._submit_run(body, generation, status, patch, logger, "spec", retraining)
        elif retraining is not None and retrain.watching(status, generation):
            # Before polling: under concurrencyPolicy Replace a trigger stops the run in flight.
            outcome = await self._retrain(body, retraining, generation, status, action == "poll", patch, logger)
        if outcome is None and action == "poll":
            outcome = await self._poll(body.metadata.namespace, status, logger)
            if outcome is not None:
                outcome = decide.handed_off(outcome, (body.spec.get("deploy") or {}).get("modelDeployment"))
        if outcome is not None:
            self._apply(outcome, body, patch, logger)

    async def _submit_run(self, body, generation: int, status: dict, patch, logger, trigger: str,
                          retraining: RetrainSpec | None, replaced: str | None = None):
        """Submit the run for `trigger` and, with spec.retrain, record it there in the same status write."""
        if retraining is None:
            outcome = await self._submit(body, generation, status, patch, logger, trigger)
            outcome.status.update(retrain.dropped(status, outcome.status))
            return outcome
        # Taken before the run reads the data: a change in between is then seen, not lost.
        data = await self._data_fingerprint(body, logger) if retraining.on_data_change else None
        outcome = await self._submit(body, generation, status, patch, logger, trigger)
        outcome.status.update(retrain.started(retraining, status, outcome.status, trigger, data, self.config.clock(),
                                              generation, replaced))
        return outcome

    async def _data_fingerprint(self, body, logger) -> str | None:
        from mlcd.storage import StorageError

        namespace = body.metadata.namespace
        try:
            environ = await self._environ(namespace, [body.spec["data"]["source"]])
            return await self.pool.run(namespace, data_fingerprint, body.spec["data"]["source"], environ)
        except (StorageError, StorageUnavailable, CallTimeout) as exc:
            logger.warning("data fingerprint unavailable name=%s error=%s", body.metadata.name, exc)
            return None

    async def _environ(self, namespace: str, uris: list[str]) -> dict | None:
        """The namespace's storage settings when one of ``uris`` is in object storage, else None. A file://
        URI outside the local backend's development namespace is never touched (its run is invalid)."""
        if any(uri.startswith("file:") for uri in uris) and not self.config.file_uris_allowed(namespace):
            raise StorageUnavailable("FileURIRefused", "file:// URIs are refused in this namespace")
        if not any(uri.startswith("s3:") for uri in uris):
            return None
        return await self.identities.environ(namespace)

    async def _retrain(self, body, retraining: RetrainSpec, generation: int, status: dict, in_flight: bool, patch,
                       logger):
        """Submit the pending trigger's run, or see whether a trigger is due and record it (the next
        reconcile submits it: the key is in status before any run is)."""
        waiting = retrain.pending(status)
        if waiting and in_flight and not waiting.get("replaces"):
            return None
        if waiting:
            replaced = await self._stop_replaced(status, logger) if in_flight else None
            outcome = await self._submit_run(body, generation, status, patch, logger, waiting["key"], retraining,
                                             replaced)
            if replaced:
                outcome.events.append(("Normal", "RunReplaced",
                                       f"stopped run {replaced} for {waiting['key']} (concurrencyPolicy Replace)"))
            return outcome
        now = self.config.clock()
        observed = await self._observe(body, retraining, status, now, in_flight)
        outcome = retrain.evaluate(retraining, status, observed, generation)
        for _, reason, message in outcome.events:
            logger.info("retrain event=%s name=%s message=%s", reason, body.metadata.name, message)
        return outcome if outcome.status or outcome.events else None

    async def _observe(self, body, retraining: RetrainSpec, status: dict, now, in_flight: bool) -> retrain.Observed:
        if not retrain.check_due(retraining, status, now, in_flight):
            return retrain.Observed(now, in_flight)
        from mlcd.storage import StorageError

        registry = (status.get("pipeline") or {}).get("registryUri") or ""
        namespace, source = body.metadata.namespace, body.spec["data"]["source"]
        try:
            data = None
            if retraining.on_data_change:
                environ = await self._environ(namespace, [source])
                data = await self.pool.run(namespace, data_fingerprint, source, environ)
            drift = None
            if retraining.drift:
                environ = await self._environ(namespace, [registry, retraining.drift.current])
                drift = await self.pool.run(namespace, check_drift, retraining.drift, registry, status, environ,
                                            self.config.drift_max_bytes)
        except (StorageError, LookupError, StorageUnavailable, CallTimeout) as exc:
            return retrain.Observed(now, in_flight, checked=True, problem=str(exc))
        return retrain.Observed(now, in_flight, checked=True, data=data, drift=drift)

    async def _stop_replaced(self, status: dict, logger) -> str:
        pipeline = status.get("pipeline") or {}
        ref = RunRef(pipeline["runName"], pipeline.get("runId") or pipeline["runName"], pipeline.get("runUrl", ""))
        try:
            await asyncio.to_thread(self.backend.stop, ref)
        except BackendUnavailable as exc:
            raise kopf.TemporaryError(f"cannot stop run {ref.name} to replace it: {exc}", delay=10) from None
        except BackendError as exc:
            logger.warning("could not stop run=%s to replace it error=%s; it may have ended", ref.name, exc)
        logger.info("run stopped to be replaced run=%s", ref.name)
        return ref.name

    async def _submit(self, body, generation: int, status: dict, patch, logger, trigger: str = "spec"):
        doc = {"apiVersion": body.get("apiVersion"), "kind": KIND, "spec": dict(body.spec),
               "metadata": {"name": body.metadata.name, "namespace": body.metadata.namespace,
                            "generation": generation}}
        validated = validate_document(doc)
        if not validated.ok:
            logger.warning("invalid spec name=%s problems=%d", body.metadata.name, len(validated.problems))
            return decide.invalid(status, generation, [str(p) for p in validated.problems])
        registry = self.registry_uri(body)
        if registry is None and not validated.resource.spec.registry.uri:
            return decide.invalid(status, generation, [
                "spec.registry.uri: required, as the operator has no default registry (MLCD_REGISTRY_BASE)"])
        namespace = body.metadata.namespace
        refused = tenancy.file_refusals(doc["spec"], registry, allowed=self.config.file_uris_allowed(namespace))
        if refused:
            logger.warning("file uris refused name=%s count=%d", body.metadata.name, len(refused))
            return decide.invalid(status, generation, refused)
        secret = None
        if tenancy.needs_storage(doc["spec"], registry):
            try:
                await self.identities.environ(namespace)
            except StorageUnavailable as exc:
                logger.warning("storage not ready name=%s reason=%s", body.metadata.name, exc.reason)
                return tenancy.storage_waiting(status, generation, exc.reason, str(exc))
            secret = self.identities.secret_name
        name = decide.run_name(namespace, body.metadata.name, body.metadata.uid, generation, trigger)
        # The kfp backend's steps mount the namespace's Secret; the local backend's inherit the operator's settings.
        compiled = compile_trainingrun(validated.resource, trigger=trigger, registry_uri=registry, run_key=name,
                                       s3_secret=(secret or "") if self.backend.name == "kfp" else "")
        labels = {"mlcd.io/namespace": body.metadata.namespace, "mlcd.io/name": body.metadata.name,
                  "mlcd.io/generation": str(generation), "mlcd.io/trigger": trigger}
        try:
            ref = await asyncio.to_thread(self._find_or_submit, name, compiled, labels)
        except BackendUnavailable as exc:
            metrics.ERRORS.labels(KIND, "BackendUnavailable").inc()
            outcome = decide.backend_unavailable(status, generation, str(exc))
            attempt = int(status.get("submitAttempts") or 0) + 1
            outcome.status["submitAttempts"] = attempt
            self._apply(outcome, body, patch, logger)  # kopf still writes the patch of a handler that retries
            raise kopf.TemporaryError(str(exc), delay=decide.retry_at(attempt)) from None
        except BackendError as exc:
            metrics.ERRORS.labels(KIND, "BackendError").inc()
            return decide.finished({**status, "pipeline": {"runName": name, "generation": generation}},
                                   "FAILED", str(exc), {"phase": "Failed", "message": str(exc)})
        metrics.RUNS_SUBMITTED.labels(self.backend.name, str(ref.adopted).lower()).inc()
        outcome = decide.submitted(status, generation, trigger, compiled.spec_hash, ref.name, ref.run_id, ref.url,
                                   ref.adopted)
        outcome.status["pipeline"]["registryUri"] = compiled.arguments["registry_uri"]
        outcome.status["conditions"] = tenancy.storage_ready(outcome.status["conditions"], generation, secret)
        outcome.status["submitAttempts"] = 0
        outcome.status["submittedAt"] = decide.now_rfc3339()
        logger.info("run %s name=%s run=%s", "adopted" if ref.adopted else "submitted", body.metadata.name, ref.name)
        return outcome

    def _find_or_submit(self, name: str, compiled, labels: dict) -> RunRef:
        found = self.backend.find(name)
        if found is not None:
            return found
        return self.backend.submit(name, compiled.pipeline_document, compiled.arguments, labels)

    async def _poll(self, namespace: str, status: dict, logger):
        pipeline = status.get("pipeline") or {}
        ref = RunRef(pipeline["runName"], pipeline.get("runId") or pipeline["runName"], pipeline.get("runUrl", ""))
        try:
            state = await asyncio.to_thread(self.backend.get, ref)
        except BackendUnavailable as exc:
            logger.warning("backend unavailable while polling run=%s error=%s", ref.name, exc)
            return None
        if not state.finished:
            outcome = decide.progressed(status, state.state, state.message)
            return outcome if outcome.status["message"] != status.get("message") else None
        result = state.result
        if state.state == "SUCCEEDED" and not result:
            registry = pipeline.get("registryUri", "")
            try:
                environ = await self._environ(namespace, [registry])
                result = await self.pool.run(namespace, read_run_record, registry, ref.name, environ)
            except (StorageUnavailable, CallTimeout) as exc:
                logger.warning("run record unavailable run=%s error=%s", ref.name, exc)
                return None
        outcome = decide.finished(status, state.state, state.message, result)
        metrics.RUNS_FINISHED.labels(outcome.status["phase"]).inc()
        submitted_at = status.get("submittedAt")
        if submitted_at:
            started = datetime.fromisoformat(submitted_at.replace("Z", "+00:00")).timestamp()
            metrics.RUN_SECONDS.observe(max(0.0, time.time() - started))
        logger.info("run finished run=%s phase=%s", ref.name, outcome.status["phase"])
        return outcome

    def _apply(self, outcome, body, patch, logger) -> None:
        # Every write carries the whole status this operator holds, not only what changed: a write the
        # API server lost (a 409 on kopf's annotation patch drops the status part too) heals on the next.
        full = {**self._status(body), **outcome.status}
        for key, value in full.items():
            patch.status[key] = value
        self._written[body.metadata.uid] = (time.monotonic(), full)
        for type_, reason, message in outcome.events:
            kopf.event(body, type=type_, reason=reason, message=message)

    async def stop_on_delete(self, body, logger) -> None:
        self._written.pop(body.metadata.uid, None)
        self._locks.pop(body.metadata.uid, None)
        status = dict(body.get("status") or {})
        pipeline = status.get("pipeline") or {}
        if body.spec.get("deletePolicy") != "stopRuns" or status.get("phase") not in decide.IN_FLIGHT:
            return
        ref = RunRef(pipeline["runName"], pipeline.get("runId") or pipeline["runName"])
        try:
            # Bounded: a backend that is down must not keep the object from going away.
            await asyncio.wait_for(asyncio.to_thread(self.backend.stop, ref), timeout=10)
            logger.info("run stopped on delete run=%s", ref.name)
        except (TimeoutError, BackendUnavailable, BackendError) as exc:
            logger.warning("could not stop run=%s on delete error=%s; leaving it", ref.name, exc)
