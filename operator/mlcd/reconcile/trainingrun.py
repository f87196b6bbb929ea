"""Pure decisions for a TrainingRun: (spec, status, what the backend says) -> next status and Events.

Handlers do the I/O; everything here is plain data in, plain data out.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from mlcd import catalog
from mlcd.api.v1alpha1.conditions import now_rfc3339, set_condition

IN_FLIGHT = ("Pending", "Running")
TERMINAL = ("Succeeded", "Rejected", "Failed")


@dataclass
class Outcome:
    """A status patch (whole fields: a merge patch replaces lists) and the Events to post."""

    status: dict
    events: list[tuple[str, str, str]] = field(default_factory=list)


def run_name(namespace: str, name: str, uid: str, generation: int, trigger: str) -> str:
    """The same (object, generation, trigger) always names the same run; a re-created object does not.

    The uid tells a deleted-and-re-created TrainingRun of the same name from the old one.
    """
    digest = hashlib.sha256(f"{namespace}/{name}/{uid}/{generation}/{trigger}".encode()).hexdigest()[:10]
    base = re.sub(r"[^a-z0-9-]", "-", f"{namespace}-{name}".lower())[:40].strip("-")
    slug = re.sub(r"[^a-z0-9-]", "-", trigger.lower())[:20].strip("-")
    return f"{base}-g{generation}-{slug}-{digest}"


def _conditions(status: dict) -> list[dict]:
    return list(status.get("conditions") or [])


def next_action(generation: int, status: dict) -> str:
    """`poll` a run in flight, `submit` when this generation has none, else `idle`.

    A run of an older generation in flight is polled to its end first, then the new
    generation is submitted: its result is recorded against the generation that made it.
    """
    pipeline = status.get("pipeline") or {}
    if pipeline.get("runName") and status.get("phase") in IN_FLIGHT:
        return "poll"
    if pipeline.get("generation") == generation and pipeline.get("runName"):
        return "idle"
    if status.get("phase") == "Invalid" and status.get("observedGeneration") == generation:
        return "idle"
    return "submit"


def invalid(status: dict, generation: int, problems: list[str]) -> Outcome:
    message = "; ".join(problems)
    conditions = set_condition(_conditions(status), "Valid", False, "InvalidSpec", message, generation)
    conditions = set_condition(conditions, "Ready", False, "InvalidSpec", "the spec is invalid", generation)
    events = []
    if status.get("phase") != "Invalid" or status.get("observedGeneration") != generation:
        events.append(("Warning", "InvalidSpec", message[:1000]))
    return Outcome({"phase": "Invalid", "message": message[:1000], "observedGeneration": generation,
                    "conditions": conditions}, events)


def submitted(status: dict, generation: int, trigger: str, spec_hash: str, ref_name: str, run_id: str,
              url: str, adopted: bool) -> Outcome:
    conditions = set_condition(_conditions(status), "Valid", True, "SpecValid", "", generation)
    conditions = set_condition(conditions, "Compiled", True, "Compiled", spec_hash, generation)
    verb = "adopted" if adopted else "submitted"
    conditions = set_condition(conditions, "Submitted", True, "RunAdopted" if adopted else "RunSubmitted",
                               f"{verb} run {ref_name}", generation)
    for type_ in ("Trained", "GatesPassed", "Ready"):
        conditions = set_condition(conditions, type_, "Unknown", "RunInProgress", f"waiting for run {ref_name}",
                                   generation)
    pipeline = {"specHash": spec_hash, "runName": ref_name, "runId": run_id, "runUrl": url,
                "trigger": trigger, "generation": generation}
    events = [("Normal", "RunAdopted" if adopted else "RunSubmitted", f"{verb} pipeline run {ref_name}")]
    return Outcome({"phase": "Pending", "message": f"{verb} run {ref_name}", "observedGeneration": generation,
                    "pipeline": pipeline, "conditions": conditions}, events)


def backend_unavailable(status: dict, generation: int, message: str) -> Outcome:
    conditions = set_condition(_conditions(status), "Submitted", False, "BackendUnavailable", message, generation)
    events = []
    previous = next((c for c in _conditions(status) if c["type"] == "Submitted"), {})
    if previous.get("reason") != "BackendUnavailable":
        events.append(("Warning", "BackendUnavailable", message))
    return Outcome({"phase": status.get("phase") or "Pending", "message": f"waiting for the backend: {message}",
                    "conditions": conditions}, events)


def progressed(status: dict, state: str, message: str) -> Outcome:
    """A run still in flight: say what it is doing."""
    generation = (status.get("pipeline") or {}).get("generation")
    phase = "Running" if state == "RUNNING" else "Pending"
    run = (status.get("pipeline") or {}).get("runName", "")
    text = f"run {run} is {state.lower()}" + (f": {message}" if message else "")
    events = []
    if phase == "Running" and status.get("phase") != "Running":
        events.append(("Normal", "RunStarted", f"pipeline run {run} started"))
    conditions = set_condition(_conditions(status), "Trained", "Unknown", "RunInProgress", text, generation)
    return Outcome({"phase": phase, "message": text, "conditions": conditions}, events)


def finished(status: dict, state: str, message: str, result: dict) -> Outcome:
    """Record a finished run against the generation that made it."""
    pipeline = status.get("pipeline") or {}
    generation = pipeline.get("generation")
    run = pipeline.get("runName", "")
    phase = result.get("phase") or "Failed"
    text = result.get("message") or message or f"run {run} ended {state.lower()}"
    conditions = _conditions(status)
    trained = phase in ("Succeeded", "Rejected")
    conditions = set_condition(conditions, "Trained", trained, "RunSucceeded" if trained else "RunFailed",
                               text if not trained else f"run {run} trained a model", generation)
    gates = result.get("gates") or []
    if trained:
        passed = phase == "Succeeded"
        failed = "; ".join(g["message"] for g in gates if not g.get("passed"))
        conditions = set_condition(conditions, "GatesPassed", passed, "GatesPassed" if passed else "GateFailed",
                                   failed or f"{len(gates)} gate(s) passed", generation)
    else:
        conditions = set_condition(conditions, "GatesPassed", "Unknown", "RunFailed", "the run did not finish",
                                   generation)
    conditions = set_condition(conditions, "Ready", phase == "Succeeded", phase, text[:1000], generation)
    out = {"phase": phase, "message": text[:1000], "conditions": conditions,
           "metrics": result.get("metrics") or {}, "gates": gates}
    if result.get("model"):
        out["model"] = result["model"]
    if result.get("tuning"):
        out["tuning"] = tuning_status(result["tuning"])
    key = _key_metric(out["metrics"])
    if key:
        out["keyMetric"] = key
    reason = {"Succeeded": "RunSucceeded", "Rejected": "GateFailed"}.get(phase, "RunFailed")
    kind = "Normal" if phase == "Succeeded" else "Warning"
    return Outcome(out, [(kind, reason, f"run {run}: {text}"[:1000])])


def tuning_status(tuning: dict) -> dict:
    """status.tuning of a run's search: its best candidate and score, and how many trials it scored (the
    table itself is in the run's artifacts and the version's metadata.json, too long for a status)."""
    trials = tuning.get("trials")
    return {"best": tuning.get("best") or {}, "score": tuning.get("score"), "metric": tuning.get("metric"),
            "trials": len(trials) if isinstance(trials, list) else trials}


def handed_off(outcome: Outcome, target: str | None) -> Outcome:
    """HandedOff, for a finished run of a TrainingRun with spec.deploy.modelDeployment. The pipeline's
    last step (handoff, after register) points the ModelDeployment at the new version, and a run whose
    step failed does not succeed: so a Succeeded run has handed off, and any other has not."""
    status = outcome.status
    if not target or status.get("phase") not in TERMINAL:
        return outcome
    generation = next((c.get("observedGeneration") for c in status["conditions"] if c["type"] == "Ready"), None)
    model = (status.get("model") or {}).get("uri")
    if status["phase"] == "Succeeded" and model:
        message = f"ModelDeployment {target} now names {model}; its rollout decides when it becomes the champion"
        status["conditions"] = set_condition(status["conditions"], "HandedOff", True, "HandedOff", message, generation)
        return Outcome(status, [*outcome.events, ("Normal", "HandedOff", message)])
    reason = "GateFailed" if status["phase"] == "Rejected" else "RunFailed"
    message = f"nothing handed off: ModelDeployment {target} keeps its model ({status.get('message', '')})"
    status["conditions"] = set_condition(status["conditions"], "HandedOff", False, reason, message[:1000], generation)
    return outcome


def _key_metric(metrics: dict) -> str:
    for kind in ("classifier", "regressor"):
        name = catalog.KEY_METRIC[kind]
        if name in metrics:
            return f"{name}={metrics[name]:.4g}"
    return ""


def retry_at(attempt: int, base: float = 2.0, cap: float = 60.0) -> float:
    """Seconds to wait before retrying an unavailable backend: exponential, capped."""
    return min(cap, base * (2 ** max(0, attempt - 1)))


__all__ = ["Outcome", "backend_unavailable", "finished", "handed_off", "invalid", "next_action", "now_rfc3339",
           "progressed", "retry_at", "run_name", "submitted"]
