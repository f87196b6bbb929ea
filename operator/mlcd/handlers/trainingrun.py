"""kopf handlers of TrainingRun: thin; the decisions live in mlcd.reconcile.trainingrun."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime

import kopf

from mlcd.api.v1alpha1.validation import validate_document
from mlcd.backends.base import Backend, BackendError, BackendUnavailable, RunRef
from mlcd.compiler import compile_trainingrun
from mlcd.handlers import metrics
from mlcd.handlers.config import OperatorConfig
from mlcd.reconcile import trainingrun as decide

KIND = "TrainingRun"


class TrainingRunReconciler:
    """One reconcile for every trigger (create, update, resume, timer): level-triggered.

    A lock per object keeps the timer and an event from deciding to submit at the same time;
    the deterministic run name, looked up before submitting, covers restarts and retries.
    """

    def __init__(self, config: OperatorConfig, backend: Backend):
        self.config = config
        self.backend = backend
        self._locks: dict[str, asyncio.Lock] = {}

    def registry_uri(self, body) -> str | None:
        base = self.config.registry_base.rstrip("/")
        return f"{base}/{body.metadata.namespace}/{body.metadata.name}" if base else None

    async def reconcile(self, body, patch, logger) -> None:
        lock = self._locks.setdefault(body.metadata.uid, asyncio.Lock())
        async with lock:
            await self._reconcile(body, patch, logger)

    async def _reconcile(self, body, patch, logger) -> None:
        generation = body.metadata.generation or 1
        status = dict(body.get("status") or {})
        action = decide.next_action(generation, status)
        metrics.RECONCILES.labels(KIND, action).inc()
        if action == "poll":
            outcome = await self._poll(status, logger)
        elif action == "submit":
            outcome = await self._submit(body, generation, status, patch, logger)
        else:
            return
        if outcome is not None:
            self._apply(outcome, body, patch, logger)

    async def _submit(self, body, generation: int, status: dict, patch, logger):
        doc = {"apiVersion": body.get("apiVersion"), "kind": KIND, "spec": dict(body.spec),
               "metadata": {"name": body.metadata.name, "namespace": body.metadata.namespace,
                            "generation": generation}}
        validated = validate_document(doc)
        if not validated.ok:
            logger.warning("invalid spec name=%s problems=%d", body.metadata.name, len(validated.problems))
            return decide.invalid(status, generation, [str(p) for p in validated.problems])
        trigger = "spec"
        compiled = compile_trainingrun(validated.resource, trigger=trigger, registry_uri=self.registry_uri(body))
        name = decide.run_name(body.metadata.namespace, body.metadata.name, body.metadata.uid, generation, trigger)
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
        outcome.status["submitAttempts"] = 0
        outcome.status["submittedAt"] = decide.now_rfc3339()
        logger.info("run %s name=%s run=%s", "adopted" if ref.adopted else "submitted", body.metadata.name, ref.name)
        return outcome

    def _find_or_submit(self, name: str, compiled, labels: dict) -> RunRef:
        found = self.backend.find(name)
        if found is not None:
            return found
        return self.backend.submit(name, compiled.ir, compiled.arguments, labels)

    async def _poll(self, status: dict, logger):
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
        outcome = decide.finished(status, state.state, state.message, state.result)
        metrics.RUNS_FINISHED.labels(outcome.status["phase"]).inc()
        submitted_at = status.get("submittedAt")
        if submitted_at:
            started = datetime.fromisoformat(submitted_at.replace("Z", "+00:00")).timestamp()
            metrics.RUN_SECONDS.observe(max(0.0, time.time() - started))
        logger.info("run finished run=%s phase=%s", ref.name, outcome.status["phase"])
        return outcome

    def _apply(self, outcome, body, patch, logger) -> None:
        for key, value in outcome.status.items():
            patch.status[key] = value
        for type_, reason, message in outcome.events:
            kopf.event(body, type=type_, reason=reason, message=message)

    async def stop_on_delete(self, body, logger) -> None:
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
