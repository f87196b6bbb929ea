"""TrainingRun reconcile as observe → plan → apply: every rule of a TrainingRun, and no I/O.

The shape (kubebuilder's Reconcile, and mlcd's ModelDeployment reconciler):

* ``Observed`` is what the handler saw: the object (name, namespace, uid, generation, spec as sent),
  its status as a ``TrainingRunStatus``, the clock, the default registry, and ``answers``: what the
  handler found when it carried out an ``Ask`` of an earlier round, keyed by that Ask.
* ``plan(observed) -> Plan`` decides. A plan either asks (``Plan.asks``: look at the backend run,
  validate the spec, fingerprint data, check drift, submit, stop) and the handler carries out each
  Ask, records its answer with ``observed.answered(...)`` and plans again; or it is final: the new
  status (written, when it differs, by the one status writer of mlcd.handlers.status), the Events,
  and ``effects`` (``RetryLater``, ``RunEnded``). The same Observed always gives the same Plan.
* Answers are values, errors included (``Unavailable``, ``Problem``): the handler catches, the plan decides.

To extend it: a new condition type or reason goes into mlcd.api.v1alpha1.vocabulary and is set here
with ``status.set_condition(...)``; a new thing to look at or do is a frozen dataclass below (an Ask
when its answer matters, an effect otherwise), returned by a rule here and given one entry in the
handler's table of executors (mlcd.handlers.trainingrun). Each rule gets a unit test in
tests/unit/test_trainingrun_plan.py that builds an Observed and reads the Plan.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from types import MappingProxyType
from typing import Any

from pydantic import ValidationError

from mlcd import catalog
from mlcd.api.v1alpha1.resources import TimeoutsSpec
from mlcd.api.v1alpha1.trainingrun import (
    GateResult,
    ModelRef,
    PipelineRef,
    RetrainSpec,
    TrainingRun,
    TrainingRunStatus,
    TuningResult,
)
from mlcd.api.v1alpha1.vocabulary import EventReason, Reason, Status, TrainingRunPhase
from mlcd.api.v1alpha1.vocabulary import TrainingRunCondition as Cond
from mlcd.reconcile import retrain, tenancy
from mlcd.reconcile.status import EVENT_MESSAGE_LIMIT, Event, changed
from mlcd.timestamps import parse_rfc3339, rfc3339

IN_FLIGHT = TrainingRunPhase.IN_FLIGHT
TERMINAL = TrainingRunPhase.TERMINAL
SPEC_TRIGGER = "spec"  # the trigger of the run a new generation starts; retraining triggers have keys
REPLACE_RETRY_SECONDS = 10.0


# --- asks: the handler carries them out and records the answer ------------------------------------------------


@dataclass(frozen=True)
class RunHandle:
    """The run in status.pipeline, as the backend knows it."""

    name: str
    run_id: str
    url: str = ""


@dataclass(frozen=True)
class Validate:
    """Validate the spec as a whole document. Answer: SpecChecked."""


@dataclass(frozen=True)
class Fingerprint:
    """A stat of a data object, never a download. Answer: str (retrain.fingerprint_id) or Problem."""

    uri: str


@dataclass(frozen=True)
class FindChampion:
    """The champion version drift is checked against, and the fingerprint of the data to check.
    Answer: DriftTarget or Problem."""

    registry_uri: str
    current: str


@dataclass(frozen=True)
class CheckDrift:
    """Score drift.current (as it was when fingerprinted) against the champion's reference statistics, in
    a drift-check pipeline run of the tenant's: the operator reads the small record it leaves, never the
    data. Answer: DriftRun (what the plan makes of it: drift_outcome), or Problem when the registry or the
    backend could not be asked."""

    registry_uri: str
    champion_version: int
    current: str
    method: str
    threshold: float
    fingerprint: str = ""

    @property
    def key(self) -> str:
        """The drift record's name in the registry, and the trigger of the run that writes it."""
        return f"{retrain.content_key('drift', self.fingerprint)}-v{self.champion_version}"


@dataclass(frozen=True)
class StorageIdentity:
    """The namespace's storage Secret, read through the API. Answer: StorageFound or StorageMissing."""


@dataclass(frozen=True)
class Submit:
    """Compile the validated spec and find the run by name, or submit it, in the object's namespace as
    spec.serviceAccountName. Answer: RunCreated, Refused, Denied or Unavailable."""

    trigger: str
    run_name: str
    registry_uri: str | None  # None: the spec names its registry
    labels: tuple[tuple[str, str], ...]
    resource: TrainingRun = field(compare=False, repr=False)
    storage_secret: str = ""  # the namespace's Secret the steps that touch storage mount; "" for none


@dataclass(frozen=True)
class Admit:
    """May a run start now, under the operator's caps on runs in flight? Answer: admission.Verdict."""

    trigger: str
    run_name: str


@dataclass(frozen=True)
class Poll:
    """The run's state. Answer: RunSeen or Unavailable."""

    run: RunHandle


@dataclass(frozen=True)
class ReadRecord:
    """The outcome a succeeded run's last step recorded in the registry (KFP does not return a run's
    outputs). Answer: dict (phase, message, metrics, gates, model), RecordAbsent or RecordUnreadable."""

    registry_uri: str
    run_name: str


@dataclass(frozen=True)
class Stop:
    """Stop a run. Answer: None once stopped (or found ended), Unavailable when the backend is down."""

    run: RunHandle


Ask = Validate | StorageIdentity | Fingerprint | FindChampion | CheckDrift | Admit | Submit | Poll | ReadRecord | Stop


# --- answers --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Unavailable:
    """The backend could not be reached: try again later."""

    message: str


@dataclass(frozen=True)
class Denied:
    """The backend does not let the operator in (KFP's 401/403); the message names what is missing (the
    token file, its audience, a RoleBinding in a namespace). Fixing it needs no spec change: try again later."""

    message: str


@dataclass(frozen=True)
class Refused:
    """The backend refused the request: repeating it will not help."""

    message: str


@dataclass(frozen=True)
class Problem:
    """A look at data, registry or champion that failed, and why (a field path first)."""

    message: str


@dataclass(frozen=True)
class StorageFound:
    secret: str


@dataclass(frozen=True)
class StorageMissing:
    """No usable storage Secret; reason: SecretMissing, SecretUnreadable or SecretInvalid."""

    reason: str
    message: str


@dataclass(frozen=True)
class SpecChecked:
    resource: TrainingRun | None
    problems: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunCreated:
    name: str
    run_id: str
    url: str
    adopted: bool
    spec_hash: str
    registry_uri: str


@dataclass(frozen=True)
class RunSeen:
    state: str  # KFP's RuntimeState: PENDING, RUNNING, SUCCEEDED, FAILED, CANCELED, ...
    finished: bool
    message: str = ""
    result: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordAbsent:
    """The registry holds no record of the run (REGISTRY/runs/RUN)."""


@dataclass(frozen=True)
class RecordUnreadable:
    """The run's record could not be read, and why."""

    message: str


@dataclass(frozen=True)
class DriftRun:
    """What the handler found of a drift check: the record in the registry (None when there is none) and,
    unless a record was there at the first look, the check's run as the backend tells it."""

    run_name: str
    record: Mapping[str, Any] | None = None  # REGISTRY/drift/KEY.json: {"record": {...}, "report": URI}
    state: str = ""  # KFP's RuntimeState; "" when the run was not looked at (its record was there)
    finished: bool = False
    message: str = ""


@dataclass(frozen=True)
class DriftPending:
    """The drift check's run is under way: nothing is known yet, look again on a later reconcile."""

    run_name: str


@dataclass(frozen=True)
class DriftTarget:
    fingerprint: str
    champion_version: int


# --- effects: the handler carries them out after writing the status ------------------------------------------


@dataclass(frozen=True)
class RunEnded:
    """A run finished: counted by phase, its duration observed."""

    run_name: str
    phase: str
    seconds: float | None


@dataclass(frozen=True)
class RetryLater:
    """Reconcile again after `seconds` (the handler raises kopf.TemporaryError with this message)."""

    seconds: float
    message: str


Effect = RunEnded | RetryLater

NOT_ASKED = object()


@dataclass(frozen=True)
class Observed:
    name: str
    namespace: str
    uid: str
    generation: int
    spec: Mapping[str, Any]  # as sent: validated only when a run is to be submitted
    status: TrainingRunStatus
    now: datetime
    registry_base: str = ""  # TrainingRuns without spec.registry.uri register at BASE/NAMESPACE/NAME; "" = none
    file_uris_allowed: bool = False  # the local backend's development namespace: file:// is allowed here
    deleting: bool = False  # metadata.deletionTimestamp is set
    schedule_offset: float = 0.0  # seconds each schedule slot fires late (admission.spread_offset)
    capped: bool = False  # the operator caps runs in flight: a submission asks Admit first
    answers: Mapping[Any, Any] = field(default_factory=lambda: MappingProxyType({}))

    def answer(self, ask: Ask):
        return self.answers.get(ask, NOT_ASKED)

    def answered(self, ask: Ask, answer) -> Observed:
        return replace(self, answers=MappingProxyType({**self.answers, ask: answer}))


@dataclass(frozen=True)
class Plan:
    action: str  # what this reconcile is about: submit, poll, idle or deleting (a metric label)
    status: TrainingRunStatus  # the whole new status
    asks: tuple[Ask, ...] = ()
    events: tuple[Event, ...] = ()
    effects: tuple[Effect, ...] = ()
    write: bool = False  # the status differs from the one observed

    @property
    def final(self) -> bool:
        return not self.asks


# --- names ----------------------------------------------------------------------------------------------------


def run_name(namespace: str, name: str, uid: str, generation: int, trigger: str) -> str:
    """The same (object, generation, trigger) always names the same run; a re-created object does not.

    The uid tells a deleted-and-re-created TrainingRun of the same name from the old one.
    """
    digest = hashlib.sha256(f"{namespace}/{name}/{uid}/{generation}/{trigger}".encode()).hexdigest()[:10]
    base = re.sub(r"[^a-z0-9-]", "-", f"{namespace}-{name}".lower())[:40].strip("-")
    slug = re.sub(r"[^a-z0-9-]", "-", trigger.lower())[:20].strip("-")
    return f"{base}-g{generation}-{slug}-{digest}"


def retry_at(attempt: int, base: float = 2.0, cap: float = 60.0) -> float:
    """Seconds to wait before retrying an unavailable backend: exponential, capped."""
    return min(cap, base * (2 ** max(0, attempt - 1)))


def next_action(generation: int, status: TrainingRunStatus) -> str:
    """`poll` a run in flight, `submit` when this generation has none, else `idle`.

    A run of an older generation in flight is polled to its end first, then the new
    generation is submitted: its result is recorded against the generation that made it.
    """
    pipeline = status.pipeline or PipelineRef()
    if pipeline.run_name and status.phase in IN_FLIGHT:
        return "poll"
    if pipeline.generation == generation and pipeline.run_name:
        return "idle"
    if status.phase == TrainingRunPhase.INVALID and status.observed_generation == generation:
        return "idle"
    return "submit"


def retrain_spec(spec: Mapping[str, Any]) -> RetrainSpec | None:
    """spec.retrain, or None when unset or invalid (the run of the spec reports an invalid one)."""
    try:
        return RetrainSpec.model_validate(spec["retrain"]) if spec.get("retrain") else None
    except ValidationError:
        return None


def running_run(status: TrainingRunStatus) -> RunHandle:
    """The run status.pipeline names (callers ask only when it names one)."""
    pipeline = status.pipeline or PipelineRef()
    return RunHandle(pipeline.run_name, pipeline.run_id or pipeline.run_name, pipeline.run_url or "")


# --- the plan -------------------------------------------------------------------------------------------------


def plan(observed: Observed) -> Plan:
    """The next step of a TrainingRun, from what was observed (see the module docstring)."""
    if observed.deleting:
        # A TrainingRun that is going is left to its delete handler (on_delete): a status written now would
        # only race the removal of its finalizer.
        return Plan("deleting", observed.status)
    action = next_action(observed.generation, observed.status)
    retraining = retrain_spec(observed.spec)
    if action == "submit":
        return _submit(observed, action, SPEC_TRIGGER, retraining)
    if retraining is not None and retrain.watching(observed.status, observed.generation):
        # Before polling: under concurrencyPolicy Replace a trigger stops the run in flight.
        decided = _retrain(observed, action, retraining, in_flight=action == "poll")
        if decided is not None:
            return decided
    if action == "poll":
        return _poll(observed, action)
    return Plan(action, observed.status)


def _final(observed: Observed, action: str, status: TrainingRunStatus, events=(), effects=()) -> Plan:
    return Plan(action, status, events=tuple(events), effects=tuple(effects), write=changed(observed.status, status))


def _ask(observed: Observed, action: str, *asks: Ask) -> Plan:
    return Plan(action, observed.status, asks=asks)


# --- submitting -----------------------------------------------------------------------------------------------


def _submit(observed: Observed, action: str, trigger: str, retraining: RetrainSpec | None,
            replaced: str | None = None) -> Plan:
    """Submit the run for `trigger` and, with spec.retrain, record it there in the same status write."""
    checked = observed.answer(Validate())
    source = _data_source(observed.spec)
    data_ask = Fingerprint(source) if retraining and retraining.on_data_change and source and not tenancy.refused(
        source, allowed=observed.file_uris_allowed) else None
    # The data is fingerprinted before the run reads it: a change in between is then seen, not lost.
    missing = [a for a in (Validate(), data_ask) if a is not None and observed.answer(a) is NOT_ASKED]
    if missing:
        return _ask(observed, action, *missing)
    # A shallow copy will do: a plan assigns the fields of the status it writes (set_condition replaces the
    # list), never changes one in place, so the observed status stays as it was (the plan tests check it).
    status = observed.status.model_copy()
    generation, now = observed.generation, rfc3339(observed.now)
    problems, registry = _unfit(observed, checked)
    if problems:
        events = _invalid(status, generation, problems, now)
        return _after_submit(observed, action, status, events, trigger, retraining, replaced, data_ask)
    secret = None
    if tenancy.needs_storage(observed.spec, registry or None):
        identity = observed.answer(StorageIdentity())
        if identity is NOT_ASKED:
            return _ask(observed, action, StorageIdentity())
        if isinstance(identity, StorageMissing):
            events = tenancy.storage_waiting(status, generation, identity.reason, identity.message, now)
            return _final(observed, action, status, events)
        secret = identity.secret
    name = run_name(observed.namespace, observed.name, observed.uid, generation, trigger)
    labels = (("mlcd.io/namespace", observed.namespace), ("mlcd.io/name", observed.name),
              ("mlcd.io/generation", str(generation)), ("mlcd.io/trigger", trigger))
    admit = Admit(trigger, name)
    admitted = observed.answer(admit) if observed.capped else None
    if admitted is NOT_ASKED:
        return _ask(observed, action, admit)
    if admitted is not None and not admitted.admitted:
        # The trigger waits under its key (still in status.retrain); the poll timer asks again.
        return _final(observed, action, status, _queued(status, generation, admitted.message, now))
    submit = Submit(trigger, name, registry or None, labels, checked.resource, secret or "")
    answer = observed.answer(submit)
    if answer is NOT_ASKED:
        return _ask(observed, action, submit)
    if isinstance(answer, Unavailable):
        attempt = (status.submit_attempts or 0) + 1
        events = _backend_unavailable(status, generation, answer.message, now)
        status.submit_attempts = attempt
        return _final(observed, action, status, events, [RetryLater(retry_at(attempt), answer.message)])
    if isinstance(answer, Denied):
        attempt = (status.submit_attempts or 0) + 1
        events = _access_denied(status, generation, answer.message, now)
        status.submit_attempts = attempt
        return _final(observed, action, status, events, [RetryLater(retry_at(attempt, cap=300.0), answer.message)])
    if isinstance(answer, Refused):
        status.pipeline = PipelineRef(run_name=name, generation=generation)
        events = _finished(status, "FAILED", answer.message, {}, now)  # no result: Failed, saying why
        status.observed_generation = generation
    else:
        events = _submitted(status, generation, trigger, answer, now)
        tenancy.storage_ready(status, generation, secret, now)
    return _after_submit(observed, action, status, events, trigger, retraining, replaced, data_ask)


def _unfit(observed: Observed, checked: SpecChecked) -> tuple[list[str], str]:
    """What keeps the spec from running (the validator's problems, no registry, refused file:// URIs), and the
    registry its run registers in ("" when the spec names its own)."""
    if checked.problems:
        return list(checked.problems), ""
    registry = _default_registry(observed, checked.resource)
    if registry is None:
        return ["spec.registry.uri: required, as the operator has no default registry (MLCD_REGISTRY_BASE)"], ""
    return tenancy.file_refusals(observed.spec, registry or None, allowed=observed.file_uris_allowed), registry


def _default_registry(observed: Observed, resource: TrainingRun) -> str | None:
    """'' when the spec names its registry; else BASE/NAMESPACE/NAME; None when there is no BASE either."""
    if resource.spec.registry.uri:
        return ""
    base = observed.registry_base.rstrip("/")
    return f"{base}/{observed.namespace}/{observed.name}" if base else None


def _after_submit(observed: Observed, action: str, status: TrainingRunStatus, events: list[Event], trigger: str,
                  retraining: RetrainSpec | None, replaced: str | None, data_ask: Fingerprint | None) -> Plan:
    """Retraining's part of a submission: the pending trigger becomes a run, or retraining state goes."""
    if retraining is None:
        status = retrain.dropped(observed.status, status)
    else:
        data = observed.answer(data_ask)  # NOT_ASKED without a data_ask: no str, so no baseline
        status = retrain.started(retraining, observed.status, status, trigger, data if isinstance(data, str) else None,
                                 observed.now, observed.generation, replaced)
    if replaced:
        events.append(Event.normal(EventReason.RUN_REPLACED,
                                   f"stopped run {replaced} for {trigger} (concurrencyPolicy Replace)"))
    return _final(observed, action, status, events)


def _invalid(status: TrainingRunStatus, generation: int, problems: list[str], now: str) -> list[Event]:
    message = "; ".join(problems)[:EVENT_MESSAGE_LIMIT]
    events = []
    if status.phase != TrainingRunPhase.INVALID or status.observed_generation != generation:
        events.append(Event.warning(EventReason.INVALID_SPEC, message))
    status.set_condition(Cond.VALID, False, Reason.INVALID_SPEC, "; ".join(problems), generation, now=now)
    status.set_condition(Cond.READY, False, Reason.INVALID_SPEC, "the spec is invalid", generation, now=now)
    status.phase, status.message, status.observed_generation = TrainingRunPhase.INVALID, message, generation
    return events


def _submitted(status: TrainingRunStatus, generation: int, trigger: str, run: RunCreated, now: str) -> list[Event]:
    verb = "adopted" if run.adopted else "submitted"
    reason = Reason.RUN_ADOPTED if run.adopted else Reason.RUN_SUBMITTED
    status.set_condition(Cond.VALID, True, Reason.SPEC_VALID, "", generation, now=now)
    status.set_condition(Cond.COMPILED, True, Reason.COMPILED, run.spec_hash, generation, now=now)
    status.set_condition(Cond.SUBMITTED, True, reason, f"{verb} run {run.name}", generation, now=now)
    for type_ in (Cond.TRAINED, Cond.GATES_PASSED, Cond.READY):
        status.set_condition(type_, Status.UNKNOWN, Reason.RUN_IN_PROGRESS, f"waiting for run {run.name}", generation,
                             now=now)
    status.phase, status.message = TrainingRunPhase.PENDING, f"{verb} run {run.name}"
    status.observed_generation = generation
    status.pipeline = PipelineRef(spec_hash=run.spec_hash, run_name=run.name, run_id=run.run_id, run_url=run.url,
                                  trigger=trigger, generation=generation, registry_uri=run.registry_uri)
    status.submit_attempts, status.submitted_at = 0, now
    return [Event.normal(reason, f"{verb} pipeline run {run.name}")]


def _backend_unavailable(status: TrainingRunStatus, generation: int, message: str, now: str) -> list[Event]:
    previous = status.condition(Cond.SUBMITTED)
    events = []
    if previous is None or previous.reason != Reason.BACKEND_UNAVAILABLE:
        events.append(Event.warning(EventReason.BACKEND_UNAVAILABLE, message))
    status.set_condition(Cond.SUBMITTED, False, Reason.BACKEND_UNAVAILABLE, message, generation, now=now)
    status.phase = status.phase or TrainingRunPhase.PENDING
    status.message = f"waiting for the backend: {message}"
    status.observed_generation = generation  # acted on: the poller, not the watch, looks again
    return events


def _queued(status: TrainingRunStatus, generation: int, message: str, now: str) -> list[Event]:
    previous = status.condition(Cond.SUBMITTED)
    events = []
    if previous is None or previous.reason != Reason.QUEUED:
        events.append(Event.normal(EventReason.QUEUED, message))
    # The condition's lastTransitionTime is when the wait began: the queue's order, across restarts too.
    status.set_condition(Cond.SUBMITTED, False, Reason.QUEUED, message, generation, now=now)
    status.phase = status.phase or TrainingRunPhase.PENDING
    status.message = message
    status.observed_generation = generation  # acted on: the poller, not the watch, looks again
    return events


def _access_denied(status: TrainingRunStatus, generation: int, message: str, now: str) -> list[Event]:
    previous = status.condition(Cond.SUBMITTED)
    events = []
    if previous is None or previous.reason != Reason.PIPELINES_ACCESS_DENIED or previous.message != message:
        events.append(Event.warning(EventReason.PIPELINES_ACCESS_DENIED, message))
    status.set_condition(Cond.SUBMITTED, False, Reason.PIPELINES_ACCESS_DENIED, message, generation, now=now)
    status.phase = status.phase or TrainingRunPhase.PENDING
    status.message = f"pipelines access denied: {message}"
    status.observed_generation = generation  # acted on: the poller, not the watch, looks again
    return events


# --- following the run in flight ------------------------------------------------------------------------------


def _poll(observed: Observed, action: str) -> Plan:
    status = observed.status
    poll = Poll(running_run(status))
    seen = observed.answer(poll)
    if seen is NOT_ASKED:
        return _ask(observed, action, poll)
    if isinstance(seen, Unavailable):
        return Plan(action, status)  # the next reconcile looks again
    if not seen.finished:
        limit = run_seconds(observed.spec)
        elapsed = _since(status.submitted_at, observed.now)
        if elapsed is not None and elapsed > limit:
            return _past_deadline(observed, action, poll.run, limit, elapsed)
        if seen.state == "PENDING" and not seen.message and status.phase == TrainingRunPhase.PENDING:
            return Plan(action, status)  # still waiting to start, as its status already says: nothing to write
        status = status.model_copy()
        events = _progressed(status, seen.state, seen.message, rfc3339(observed.now))
        if status.message == observed.status.message:
            return Plan(action, observed.status)
        return _final(observed, action, status, events)
    result = dict(seen.result)
    if seen.state == "SUCCEEDED" and not result:
        record = _record(status)
        result = _recorded(record, observed.answer(record)) if record else {
            "message": "the run succeeded but its registry is unknown"}
        if result is NOT_ASKED:
            return _ask(observed, action, record)
    status = status.model_copy()
    now = rfc3339(observed.now)
    events = _finished(status, seen.state, seen.message, result, now)
    events += _handed_off(status, _text_at(observed.spec, "deploy", "modelDeployment") or None, now)
    ended = RunEnded(poll.run.name, status.phase, _since(status.submitted_at, observed.now))
    return _final(observed, action, status, events, [ended])


def run_seconds(spec: Mapping[str, Any]) -> int:
    """spec.timeouts.runSeconds, or its default (the spec as sent: a run was submitted only when it was valid)."""
    try:
        return TimeoutsSpec.model_validate(spec.get("timeouts") or {}).run_seconds
    except ValidationError:
        return TimeoutsSpec().run_seconds


def _past_deadline(observed: Observed, action: str, run: RunHandle, limit: int, elapsed: float) -> Plan:
    """A run in flight longer than spec.timeouts.runSeconds is stopped, then Failed (DeadlineExceeded)."""
    stop = Stop(run)
    stopped = observed.answer(stop)
    if stopped is NOT_ASKED:
        return _ask(observed, action, stop)
    if isinstance(stopped, Unavailable):
        return Plan(action, observed.status)  # the next reconcile stops it
    status = observed.status.model_copy()
    generation, now = (status.pipeline or PipelineRef()).generation, rfc3339(observed.now)
    text = f"run {run.name} ran {elapsed:.0f} s, past spec.timeouts.runSeconds ({limit} s), and was stopped"
    status.set_condition(Cond.TRAINED, False, Reason.DEADLINE_EXCEEDED, text, generation, now=now)
    status.set_condition(Cond.GATES_PASSED, Status.UNKNOWN, Reason.DEADLINE_EXCEEDED, "the run did not finish",
                         generation, now=now)
    status.set_condition(Cond.READY, False, Reason.DEADLINE_EXCEEDED, text, generation, now=now)
    status.phase, status.message = TrainingRunPhase.FAILED, text
    events = [Event.warning(EventReason.DEADLINE_EXCEEDED, text)]
    events += _handed_off(status, _text_at(observed.spec, "deploy", "modelDeployment") or None, now)
    return _final(observed, action, status, events, [RunEnded(run.name, status.phase, elapsed)])


def _record(status: TrainingRunStatus) -> ReadRecord | None:
    registry = (status.pipeline or PipelineRef()).registry_uri
    return ReadRecord(registry, running_run(status).name) if registry else None


def _recorded(ask: ReadRecord, found):
    """The result of a succeeded run from what its record read found: the record itself, or a failure
    saying why there is none (a run that recorded nothing cannot say what it trained)."""
    if isinstance(found, RecordAbsent):
        return {"phase": TrainingRunPhase.FAILED,
                "message": f"the run succeeded but left no record in {ask.registry_uri}/runs"}
    if isinstance(found, RecordUnreadable):
        return {"phase": TrainingRunPhase.FAILED,
                "message": f"the run succeeded but its record cannot be read: {found.message}"}
    return found  # the record, or NOT_ASKED


def _since(stamp: str | None, now: datetime) -> float | None:
    return max(0.0, (now - parse_rfc3339(stamp)).total_seconds()) if stamp else None


def _progressed(status: TrainingRunStatus, state: str, message: str, now: str) -> list[Event]:
    """A run still in flight: say what it is doing."""
    pipeline = status.pipeline or PipelineRef()
    phase = TrainingRunPhase.RUNNING if state == "RUNNING" else TrainingRunPhase.PENDING
    text = f"run {pipeline.run_name} is {state.lower()}" + (f": {message}" if message else "")
    events = []
    if phase == TrainingRunPhase.RUNNING and status.phase != TrainingRunPhase.RUNNING:
        events.append(Event.normal(EventReason.RUN_STARTED, f"pipeline run {pipeline.run_name} started"))
    status.set_condition(Cond.TRAINED, Status.UNKNOWN, Reason.RUN_IN_PROGRESS, text, pipeline.generation, now=now)
    status.phase, status.message = phase, text
    return events


def _finished(status: TrainingRunStatus, state: str, message: str, result: Mapping[str, Any], now: str) -> list[Event]:
    """Record a finished run against the generation that made it."""
    pipeline = status.pipeline or PipelineRef()
    generation, run = pipeline.generation, pipeline.run_name
    phase = result.get("phase") or TrainingRunPhase.FAILED
    text = (result.get("message") or message or f"run {run} ended {state.lower()}")[:EVENT_MESSAGE_LIMIT]
    trained = phase in (TrainingRunPhase.SUCCEEDED, TrainingRunPhase.REJECTED)
    if trained:
        status.set_condition(Cond.TRAINED, True, Reason.RUN_SUCCEEDED, f"run {run} trained a model", generation,
                             now=now)
    else:
        status.set_condition(Cond.TRAINED, False, Reason.RUN_FAILED, text, generation, now=now)
    gates = [GateResult.model_validate(g) for g in result.get("gates") or []]
    if trained:
        passed = phase == TrainingRunPhase.SUCCEEDED
        failed = "; ".join(g.message for g in gates if not g.passed)
        status.set_condition(Cond.GATES_PASSED, passed, Reason.GATES_PASSED if passed else Reason.GATE_FAILED,
                             failed or f"{len(gates)} gate(s) passed", generation, now=now)
    else:
        status.set_condition(Cond.GATES_PASSED, Status.UNKNOWN, Reason.RUN_FAILED, "the run did not finish",
                             generation, now=now)
    status.set_condition(Cond.READY, phase == TrainingRunPhase.SUCCEEDED, phase, text, generation, now=now)
    status.phase, status.message = phase, text
    status.metrics, status.gates = dict(result.get("metrics") or {}), gates
    if result.get("model"):
        status.model = ModelRef.model_validate(result["model"])
    if result.get("tuning"):
        status.tuning = _tuning(result["tuning"])
    key = _key_metric(status.metrics)
    if key:
        status.key_metric = key
    reason = {TrainingRunPhase.SUCCEEDED: EventReason.RUN_SUCCEEDED,
              TrainingRunPhase.REJECTED: EventReason.GATE_FAILED}.get(phase, EventReason.RUN_FAILED)
    told = Event.normal if phase == TrainingRunPhase.SUCCEEDED else Event.warning
    return [told(reason, f"run {run}: {text}")]


def _tuning(tuning: Mapping[str, Any]) -> TuningResult:
    """status.tuning of a run's search: its best candidate and score, and how many trials it scored (the
    table itself is in the run's artifacts and the version's metadata.json, too long for a status)."""
    trials = tuning.get("trials")
    return TuningResult(best=tuning.get("best") or {}, score=tuning.get("score"), metric=tuning.get("metric"),
                        trials=len(trials) if isinstance(trials, list) else trials)


def _handed_off(status: TrainingRunStatus, target: str | None, now: str) -> list[Event]:
    """HandedOff, for a finished run of a TrainingRun with spec.deploy.modelDeployment. The pipeline's
    last step (handoff, after register) points the ModelDeployment at the new version, and a run whose
    step failed does not succeed: so a Succeeded run has handed off, and any other has not."""
    if not target or status.phase not in TERMINAL:
        return []
    generation = status.condition(Cond.READY).observed_generation  # set by the run's end, as is status.message
    if status.phase == TrainingRunPhase.SUCCEEDED and status.model:
        message = (f"ModelDeployment {target} now names {status.model.uri}; its rollout decides when it becomes "
                   "the champion")
        status.set_condition(Cond.HANDED_OFF, True, Reason.HANDED_OFF, message, generation, now=now)
        return [Event.normal(EventReason.HANDED_OFF, message)]
    reason = Reason.GATE_FAILED if status.phase == TrainingRunPhase.REJECTED else Reason.RUN_FAILED
    message = f"nothing handed off: ModelDeployment {target} keeps its model ({status.message})"
    status.set_condition(Cond.HANDED_OFF, False, reason, message[:EVENT_MESSAGE_LIMIT], generation, now=now)
    return []


def _key_metric(metrics: Mapping[str, float]) -> str:
    for kind in ("classifier", "regressor"):
        name = catalog.KEY_METRIC[kind]
        if name in metrics:
            return f"{name}={metrics[name]:.4g}"
    return ""


# --- retraining -----------------------------------------------------------------------------------------------


def _retrain(observed: Observed, action: str, retraining: RetrainSpec, *, in_flight: bool) -> Plan | None:
    """Submit the pending trigger's run, or see whether a trigger is due and record it (the next
    reconcile submits it: the key is in status before any run is). None: nothing for retraining to do."""
    waiting = retrain.pending(observed.status)
    if waiting and in_flight and not waiting.replaces:
        return None
    if waiting and in_flight:
        stop = Stop(running_run(observed.status))
        stopped = observed.answer(stop)
        if stopped is NOT_ASKED:
            return _ask(observed, action, stop)
        if isinstance(stopped, Unavailable):
            return Plan(action, observed.status, effects=(RetryLater(
                REPLACE_RETRY_SECONDS, f"cannot stop run {stop.run.name} to replace it: {stopped.message}"),))
        return _submit(observed, action, waiting.key, retraining, replaced=stop.run.name)
    if waiting:
        return _submit(observed, action, waiting.key, retraining)
    seen = _look(observed, retraining, in_flight)
    if isinstance(seen, tuple):
        return _ask(observed, action, *seen)
    outcome = retrain.evaluate(retraining, observed.status, seen, observed.generation, observed.schedule_offset)
    if not changed(observed.status, outcome.status) and not outcome.events:
        return None
    return _final(observed, action, outcome.status, [Event(*e) for e in outcome.events])


def _look(observed: Observed, retraining: RetrainSpec, in_flight: bool):
    """What retraining saw of data and drift (retrain.Observed), or the Asks still to make first."""
    now = observed.now
    if not retrain.check_due(retraining, observed.status, now, in_flight):
        return retrain.Observed(now, in_flight)
    data_ask = Fingerprint(_data_source(observed.spec)) if retraining.on_data_change else None
    drift = retraining.drift
    registry = (observed.status.pipeline or PipelineRef()).registry_uri or ""
    find = FindChampion(registry, drift.current) if drift else None
    asks = [a for a in (data_ask, find) if a is not None]
    missing = tuple(a for a in asks if observed.answer(a) is NOT_ASKED)
    if missing:
        return missing
    for found in map(observed.answer, asks):
        if isinstance(found, Problem):
            return retrain.Observed(now, in_flight, checked=True, problem=found.message)
    seen = None
    if find is not None:
        target = observed.answer(find)
        if retrain.drift_check_needed(observed.status, target.fingerprint, target.champion_version):
            check = CheckDrift(registry, target.champion_version, drift.current, drift.method, drift.threshold,
                               target.fingerprint)
            found = observed.answer(check)
            if found is NOT_ASKED:
                return (check,)
            seen = drift_outcome(check, found)
            if isinstance(seen, Problem):
                return retrain.Observed(now, in_flight, checked=True, problem=seen.message)
            if isinstance(seen, DriftPending):
                return retrain.Observed(now, in_flight)  # not checked yet: the check stays due
    data = observed.answer(data_ask) if data_ask else None
    return retrain.Observed(now, in_flight, checked=True, data=data, drift=seen)


def drift_outcome(check: CheckDrift, found: DriftRun | Problem) -> retrain.DriftSeen | DriftPending | Problem:
    """What a drift check found: its record once there is one; a Problem for a run that ended without
    succeeding or left no record (retraining says it once, in status.retrain.problem and an Event); else
    the run is under way and the check stays due."""
    if isinstance(found, Problem):
        return found
    name = found.run_name
    if found.finished and found.state != "SUCCEEDED":
        return Problem(f"spec.retrain.drift: the drift check run {name} ended {found.state}: {found.message}")
    if found.record is not None:
        return retrain.DriftSeen(check.fingerprint, check.champion_version, dict(found.record.get("record") or {}),
                                 found.record.get("report") or "")
    if found.finished:
        return Problem(f"spec.retrain.drift: the drift check run {name} left no record in {check.registry_uri}")
    return DriftPending(name)


def _data_source(spec: Mapping[str, Any]) -> str:
    return _text_at(spec, "data", "source")


def _text_at(spec: Mapping[str, Any], *keys: str) -> str:
    """A string field of the spec as sent, or "" when it is absent or no string (validation says why)."""
    node: Any = spec
    for key in keys:
        node = node.get(key) if isinstance(node, Mapping) else None
    return node if isinstance(node, str) else ""


# --- deletion -------------------------------------------------------------------------------------------------


def on_delete(spec: Mapping[str, Any], status: TrainingRunStatus) -> Stop | None:
    """deletePolicy stopRuns stops the run in flight; keep (the default) leaves it to finish."""
    if spec.get("deletePolicy") != "stopRuns" or status.phase not in IN_FLIGHT or not (status.pipeline or
                                                                                       PipelineRef()).run_name:
        return None
    return Stop(running_run(status))
