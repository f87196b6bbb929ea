"""The rollout state machine of a ModelDeployment: first deploy, canary, promote or roll back.

Pure: ``decide(modeldeployment, observed InferenceService, now)`` says which InferenceService to
apply, the status to write (phase, models, traffic, conditions) and the Events to record. The handler
sends them; everything that decides is here and is tested without a cluster.

Phases: Pending (credentials not usable yet) -> Progressing (first deploy or canary in flight) ->
Ready (promoted), or RolledBack (the canary failed and the active model has all traffic back), or
Failed (nothing to roll back to, rollbackOnFailure false, or a canary KServe cannot split traffic for).
A model that was rolled back or failed is not tried again until spec.model.uri names another one.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from datetime import datetime

from mlcd.api.v1alpha1.conditions import truncate
from mlcd.api.v1alpha1.modeldeployment import ModelDeploymentSpec, ModelDeploymentStatus, Traffic
from mlcd.api.v1alpha1.vocabulary import DeploymentPhase as Phase
from mlcd.api.v1alpha1.vocabulary import EventReason, EventType, Reason, Status
from mlcd.api.v1alpha1.vocabulary import ModelDeploymentCondition as Cond
from mlcd.kserve import Readiness, build_inferenceservice, controlled_by, needs_update, readiness, supports_canary
from mlcd.reconcile.runtime import RuntimeCheck
from mlcd.timestamps import parse_rfc3339, rfc3339

log = logging.getLogger(__name__)

NORMAL, WARNING = EventType.NORMAL, EventType.WARNING


@dataclass(frozen=True)
class Decision:
    inferenceservice: dict | None  # to create or patch; None when what is there already is right
    status: ModelDeploymentStatus  # the whole new status, conditions included
    events: list[tuple[str, str, str]]  # (type, reason, message) for Kubernetes Events


@dataclass(frozen=True)
class _Outcome:
    """What one branch of the state machine decided, before it becomes a status."""

    storage_uri: str | None  # None: leave the InferenceService alone
    canary_percent: int | None
    phase: str
    message: str
    active: str | None
    canary: str | None
    rolled_out: tuple[bool, str, str]
    canary_ready: tuple[bool, str, str] = (False, Reason.NO_CANARY, "no canary in flight")
    traffic: tuple[int, int] = (100, 0)  # percent to the active model, to the canary
    canary_since: str | None = None
    canary_ready_since: str | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)
    not_ready: tuple[str, str] | None = None  # (reason, message): Ready=False whatever KServe reports


@dataclass(frozen=True)
class _Context:
    name: str
    uid: str | None
    generation: int | None
    spec: ModelDeploymentSpec
    status: ModelDeploymentStatus
    md: dict
    observed: dict | None
    now: datetime

    @property
    def uri(self) -> str:
        return self.spec.model.uri

    @property
    def percent(self) -> int:
        return self.spec.rollout.canary_traffic_percent

    def build(self, storage_uri: str, canary_percent: int | None) -> dict:
        return build_inferenceservice(self.md, storage_uri=storage_uri, canary_percent=canary_percent,
                                      model_sha256=self.digest(storage_uri))

    def digest(self, uri: str | None) -> str | None:
        """The sha256 the objects carry for ``uri``: spec.model's for the model named now, status's for the
        active model (a rollback serves the active model with its own digest). No other model is ever
        served or named: a canary is always the model spec.model names."""
        if uri is None:
            return None
        if uri == self.uri:
            return self.spec.model.sha256
        if uri == self.status.active_model:
            return self.status.active_model_sha256
        return None

    def seconds_since(self, stamp: str | None) -> float:
        if not stamp:
            return 0.0
        return (self.now - parse_rfc3339(stamp)).total_seconds()

    def stamp(self) -> str:
        return rfc3339(self.now)


def decide(md: dict, observed: dict | None, now: datetime, *, credential_problems: list[str] = (),
           runtime: RuntimeCheck | None = None) -> Decision:
    """The next step for ModelDeployment ``md`` (the whole object) given the InferenceService now in
    the cluster (None when there is none), the problems :func:`preflight` found and whether the runtime
    can load spec.model (:func:`mlcd.reconcile.runtime.check_runtime`; None: not checked)."""
    meta = md.get("metadata") or {}
    ctx = _Context(meta["name"], meta.get("uid"), meta.get("generation"),
                   ModelDeploymentSpec.model_validate(md["spec"]),
                   ModelDeploymentStatus.model_validate(md.get("status") or {}),
                   md, observed, now)
    if observed is not None and not controlled_by(observed, ctx.uid):
        return _conflict(ctx)
    outcome = _step(ctx, list(credential_problems), runtime)
    desired = None if outcome.storage_uri is None else ctx.build(outcome.storage_uri, outcome.canary_percent)
    if desired is not None and not needs_update(desired, observed):
        desired = None
    status = _status(ctx, outcome, credential_problems, runtime, applying=desired is not None)
    for kind, reason, message in outcome.events:
        log.info("rollout event modeldeployment=%s type=%s reason=%s message=%r", ctx.name, kind, reason, message)
    return Decision(desired, status, outcome.events)


def _conflict(ctx: _Context) -> Decision:
    """An InferenceService of this name that another controller (or a person) made is never modified."""
    message = (f"InferenceService {ctx.name} exists and is not owned by this ModelDeployment, so mlcd leaves it "
               "untouched: delete it, or give the ModelDeployment another name")
    status = ModelDeploymentStatus(conditions=list(ctx.status.conditions), observed_generation=ctx.generation,
                                   phase=Phase.FAILED, message=message, traffic=Traffic(active=0, canary=0),
                                   champion_model=ctx.status.champion_model)
    conflict = (False, Reason.INFERENCE_SERVICE_CONFLICT, message)
    _set(ctx, status, Cond.READY, conflict)
    _set(ctx, status, Cond.ROLLED_OUT, conflict)
    already = _reason_of(ctx.status) == Reason.INFERENCE_SERVICE_CONFLICT
    events = [] if already else [(WARNING, EventReason.INFERENCE_SERVICE_CONFLICT, message)]
    return Decision(None, status, events)


def not_applied(md: dict, reason: str, message: str, now: datetime) -> Decision:
    """The decision when the spec cannot become an InferenceService: the spec is invalid (reason
    InvalidSpec), or the API server refused the InferenceService built from it (RefusedByApiServer).
    Ready and RolledOut say why, the phase is Failed, one Warning Event per new message; whatever
    InferenceService is in the cluster is left as it is."""
    generation = (md.get("metadata") or {}).get("generation")
    status = ModelDeploymentStatus.model_validate(md.get("status") or {})
    message = truncate(message)
    previous = status.condition(Cond.ROLLED_OUT)
    seen = previous is not None and previous.reason == reason and previous.message == message
    for type_ in (Cond.READY, Cond.ROLLED_OUT):
        status.set_condition(type_, False, reason, message, generation, now=rfc3339(now))
    status.observed_generation, status.phase, status.message = generation, Phase.FAILED, message
    return Decision(None, status, [] if seen else [(WARNING, reason, message)])


def _step(ctx: _Context, problems: list[str], runtime: RuntimeCheck | None) -> _Outcome:
    status, uri = ctx.status, ctx.uri
    active, canary, phase = status.active_model, status.canary_model, status.phase
    in_flight = phase == Phase.PROGRESSING and canary == uri
    if active == uri:
        return _settled(ctx)
    if runtime is not None and runtime.compatible is False:
        return _incompatible(ctx, runtime)
    if problems and not in_flight:
        return _blocked(ctx, problems)
    if active is None:
        return _first_deploy(ctx, started=canary == uri and phase in (Phase.PROGRESSING, Phase.FAILED))
    if ctx.percent < 100 and not supports_canary(ctx.spec.serving.deployment_mode):
        return _refused(ctx)
    if in_flight:
        return _watch_canary(ctx)
    if canary == uri and phase in (Phase.ROLLED_BACK, Phase.FAILED):
        return _held(ctx)
    return _start_canary(ctx)


def _settled(ctx: _Context) -> _Outcome:
    uri, status = ctx.uri, ctx.status
    events = []
    if status.phase == Phase.PROGRESSING and status.canary_model:
        events.append((NORMAL, EventReason.CANARY_CANCELLED,
                       f"spec.model.uri is back to {uri}: canary {status.canary_model} withdrawn"))
    return _Outcome(uri, None, Phase.READY, f"serving {uri}", uri, None,
                    rolled_out=(True, Reason.ROLLED_OUT, f"{uri} takes all the traffic"), events=events)


def _blocked(ctx: _Context, problems: list[str]) -> _Outcome:
    """Credentials KServe cannot use would only make the storage initializer fail: wait for them."""
    status, active = ctx.status, ctx.status.active_model
    credentials = status.condition(Cond.CREDENTIALS_READY)
    was_blocked = credentials is not None and credentials.status == Status.FALSE
    events = [] if was_blocked else [(WARNING, EventReason.CREDENTIALS_NOT_READY, "; ".join(problems))]
    message = f"{ctx.uri} waits for usable credentials: " + "; ".join(problems)
    return _Outcome(active, None, Phase.PENDING if active is None else status.phase or Phase.READY, message,
                    active, None, rolled_out=(False, Reason.CREDENTIALS_NOT_READY, message), events=events)


def _first_deploy(ctx: _Context, *, started: bool) -> _Outcome:
    uri, status = ctx.uri, ctx.status
    since = status.canary_since if started else ctx.stamp()
    base = _Outcome(uri, None, Phase.PROGRESSING, f"deploying {uri}", None, uri,
                    rolled_out=(False, Reason.DEPLOYING, f"first deployment of {uri}"), canary_since=since,
                    traffic=(0, 100))
    if not started:
        return replace(base, events=[(NORMAL, EventReason.DEPLOYING, f"first deployment of {uri}")])
    health = _health(ctx, ctx.build(uri, None))
    if health.ready:
        deployed = (NORMAL, EventReason.DEPLOYED, f"{uri} is Ready and takes all the traffic")
        return replace(_settled(ctx), events=[deployed])
    if status.phase == Phase.FAILED:
        return replace(base, phase=Phase.FAILED, message=status.message or "",
                       rolled_out=(False, _reason_of(status), status.message or ""))
    failure = _failure(ctx, health)
    if failure is None:
        return base
    reason, message = failure
    message = f"{uri} could not be deployed and there is no earlier model to fall back to: {message}"
    return replace(base, phase=Phase.FAILED, message=message, rolled_out=(False, reason, message),
                   events=[(WARNING, reason, message)])


def _start_canary(ctx: _Context) -> _Outcome:
    uri, active, percent = ctx.uri, ctx.status.active_model, ctx.percent
    previous = ctx.status.canary_model if ctx.status.phase == Phase.PROGRESSING else None
    message = f"canary {uri} takes {percent}% of the traffic; {active} keeps {100 - percent}%"
    events = [(NORMAL, EventReason.CANARY_STARTED, message)]
    if previous:
        events.insert(0, (NORMAL, EventReason.CANARY_SUPERSEDED, f"canary {previous} replaced by {uri}"))
    return _Outcome(uri, _canary_param(percent), Phase.PROGRESSING, message, active, uri,
                    rolled_out=(False, Reason.CANARY_IN_PROGRESS, message),
                    canary_ready=(False, Reason.CANARY_NOT_READY, f"waiting for {uri} to become Ready"),
                    canary_since=ctx.stamp(), traffic=(100 - percent, percent), events=events)


def _watch_canary(ctx: _Context) -> _Outcome:
    uri, status, rollout = ctx.uri, ctx.status, ctx.spec.rollout
    desired = ctx.build(uri, _canary_param(ctx.percent))
    health = _health(ctx, desired)
    base = _Outcome(uri, _canary_param(ctx.percent), Phase.PROGRESSING, status.message or "",
                    status.active_model, uri, rolled_out=(False, Reason.CANARY_IN_PROGRESS, status.message or ""),
                    canary_since=status.canary_since, traffic=(100 - ctx.percent, ctx.percent))
    if health.ready and health.latest_revision_ready_or_single and health.serves_share(ctx.percent):
        ready_since = status.canary_ready_since or ctx.stamp()
        if ctx.seconds_since(ready_since) >= rollout.stable_seconds:
            return _promote(ctx)
        return replace(base, canary_ready=(True, Reason.CANARY_READY,
                                           f"Ready since {ready_since}; promoted after {rollout.stable_seconds}s"),
                       canary_ready_since=ready_since)
    failure = _failure(ctx, health)
    if failure is not None:
        return _fail_canary(ctx, *failure)
    return replace(base, canary_ready=(False, Reason.CANARY_NOT_READY, health.why))


def _promote(ctx: _Context) -> _Outcome:
    uri, previous = ctx.uri, ctx.status.active_model
    message = f"canary {uri} promoted: it takes all the traffic (was {previous})"
    return _Outcome(uri, None, Phase.READY, f"serving {uri}", uri, None,
                    rolled_out=(True, Reason.PROMOTED, message), events=[(NORMAL, EventReason.PROMOTED, message)])


def _fail_canary(ctx: _Context, reason: str, why: str) -> _Outcome:
    uri, active = ctx.uri, ctx.status.active_model
    if ctx.spec.rollout.rollback_on_failure:
        message = f"canary {uri} rolled back, {active} takes all the traffic again: {why}"
        return _Outcome(active, _rollback_param(ctx), Phase.ROLLED_BACK, message, active, uri,
                        rolled_out=(False, reason, message), events=[(WARNING, EventReason.ROLLED_BACK, message)])
    message = f"canary {uri} failed and rollbackOnFailure is false, so it keeps {ctx.percent}%: {why}"
    return _Outcome(uri, _canary_param(ctx.percent), Phase.FAILED, message, active, uri,
                    rolled_out=(False, reason, message), traffic=(100 - ctx.percent, ctx.percent),
                    events=[(WARNING, EventReason.CANARY_FAILED, message)])


def _held(ctx: _Context) -> _Outcome:
    """After a rollback (or a failure left in place) the same URI is not tried again."""
    status, active = ctx.status, ctx.status.active_model
    message, reason = status.message or "", _reason_of(status)
    if status.phase == Phase.ROLLED_BACK:
        return _Outcome(active, _rollback_param(ctx), Phase.ROLLED_BACK, message, active, ctx.uri,
                        rolled_out=(False, reason, message))
    return _Outcome(ctx.uri, _canary_param(ctx.percent), Phase.FAILED, message, active, ctx.uri,
                    rolled_out=(False, reason, message), traffic=(100 - ctx.percent, ctx.percent))


def _refused(ctx: _Context) -> _Outcome:
    """KServe ignores canaryTrafficPercent outside Knative mode and would send the new model all the
    traffic at once: refuse instead, and keep serving the active model."""
    mode, active = ctx.spec.serving.deployment_mode, ctx.status.active_model
    message = (f"spec.serving.deploymentMode: {mode} cannot split traffic, so a {ctx.percent}% canary of "
               f"{ctx.uri} would take all of it; {active} keeps serving. Use Serverless (Knative) for "
               "canaries, or set spec.rollout.canaryTrafficPercent: 100 to replace the model at once")
    already = _reason_of(ctx.status) == Reason.CANARY_NOT_SUPPORTED
    return _Outcome(active, None, Phase.FAILED, message, active, None,
                    rolled_out=(False, Reason.CANARY_NOT_SUPPORTED, message),
                    events=[] if already else [(WARNING, EventReason.CANARY_NOT_SUPPORTED, message)])


def _incompatible(ctx: _Context, runtime: RuntimeCheck) -> _Outcome:
    """The runtime cannot load the model: it never gets traffic (a canary in flight is withdrawn), and
    the active model, if any, keeps serving."""
    active = ctx.status.active_model
    message = runtime.message + (f"; {active} keeps serving" if active else "; nothing is deployed")
    already = _reason_of(ctx.status) == Reason.RUNTIME_INCOMPATIBLE
    return _Outcome(active, None, Phase.FAILED, message, active, None,
                    rolled_out=(False, Reason.RUNTIME_INCOMPATIBLE, message),
                    events=[] if already else [(WARNING, EventReason.RUNTIME_INCOMPATIBLE, message)],
                    not_ready=(Reason.RUNTIME_INCOMPATIBLE, message))


def _health(ctx: _Context, desired: dict) -> _Health:
    """KServe's readiness of the InferenceService, counted only once it runs the spec we want: the
    object read before our own patch still shows the previous spec as Ready."""
    return _Health(readiness(ctx.observed), in_sync=not needs_update(desired, ctx.observed))


@dataclass(frozen=True)
class _Health:
    readiness: Readiness
    in_sync: bool

    @property
    def ready(self) -> bool:
        return self.in_sync and self.readiness.ready

    @property
    def latest_revision_ready_or_single(self) -> bool:
        r = self.readiness
        return r.latest_created_revision is None or r.latest_revision_ready

    def serves_share(self, percent: int) -> bool:
        return self.readiness.serves_share(percent)

    @property
    def why(self) -> str:
        """Why it is not Ready yet, in KServe's words once KServe runs the spec we want."""
        if not self.in_sync:
            return f"{Reason.UPDATE_PENDING}: the InferenceService is being updated"
        return _why(self.readiness.reason, self.readiness.message)


def _failure(ctx: _Context, health: _Health) -> tuple[str, str] | None:
    r = health.readiness
    if health.in_sync and r.generation_current and r.model_failed:
        return Reason.MODEL_LOAD_FAILED, f"KServe could not load the model: {r.failure}"
    deadline = ctx.spec.rollout.progress_deadline_seconds
    if ctx.seconds_since(ctx.status.canary_since) >= deadline:
        return Reason.PROGRESS_DEADLINE_EXCEEDED, f"not Ready within {deadline}s ({health.why})"
    return None


def _why(reason: str, message: str) -> str:
    """KServe's reason, and its message when it gave one."""
    return f"{reason}: {message}" if message else reason


def _canary_param(percent: int) -> int | None:
    return None if percent == 100 else percent


def _rollback_param(ctx: _Context) -> int | None:
    """Knative keeps the previous revision and gives it everything back with 0%; elsewhere the
    active model simply replaces the failed one."""
    return 0 if supports_canary(ctx.spec.serving.deployment_mode) else None


def _reason_of(status: ModelDeploymentStatus) -> str:
    rolled_out = status.condition(Cond.ROLLED_OUT)
    return rolled_out.reason if rolled_out else Phase.FAILED


def _status(ctx: _Context, outcome: _Outcome, problems, runtime: RuntimeCheck | None, *,
            applying: bool) -> ModelDeploymentStatus:
    r = readiness(ctx.observed)
    in_sync = not applying and ctx.observed is not None
    status = ModelDeploymentStatus(conditions=list(ctx.status.conditions))
    fields = {
        "observed_generation": ctx.generation,
        "phase": outcome.phase,
        "message": outcome.message,
        "url": r.url or ctx.status.url,
        "active_model": outcome.active,
        "active_model_sha256": ctx.digest(outcome.active),
        "canary_model": outcome.canary,
        "canary_model_sha256": ctx.digest(outcome.canary),
        "traffic": Traffic(active=outcome.traffic[0], canary=outcome.traffic[1]),
        "canary_since": outcome.canary_since,
        "canary_ready_since": outcome.canary_ready_since,
        "champion_model": ctx.status.champion_model,  # the champion's bookkeeping, kept by the handler
    }
    for name, value in fields.items():
        if value is not None:
            setattr(status, name, value)
    ready = r.ready and in_sync
    ready_message = "KServe reports the InferenceService Ready" if ready else (
        f"the InferenceService is being {'updated' if ctx.observed else 'created'}" if applying
        else _why(r.reason, r.message))
    ready_reason = Reason.INFERENCE_SERVICE_READY if ready else (Reason.UPDATE_PENDING if applying else r.reason)
    _set(ctx, status, Cond.READY, (False, *outcome.not_ready) if outcome.not_ready else
         (ready, ready_reason, ready_message))
    _set(ctx, status, Cond.ROLLED_OUT, outcome.rolled_out)
    _set(ctx, status, Cond.CANARY_READY, outcome.canary_ready)
    _set(ctx, status, Cond.CREDENTIALS_READY, _credentials(ctx, problems))
    if runtime is not None:
        verdict = {True: Status.TRUE, False: Status.FALSE, None: Status.UNKNOWN}[runtime.compatible]
        status.set_condition(Cond.RUNTIME_COMPATIBLE, verdict, runtime.reason, runtime.message,
                             generation=ctx.generation, now=ctx.stamp())
    return status


def _set(ctx: _Context, status: ModelDeploymentStatus, type_: str, value: tuple[bool, str, str]) -> None:
    ok, reason, message = value
    status.set_condition(type_, ok, reason, message, generation=ctx.generation, now=ctx.stamp())


def _credentials(ctx: _Context, problems) -> tuple[bool, str, str]:
    if problems:
        return False, Reason.CREDENTIALS_INVALID, "; ".join(problems)
    account = ctx.spec.serving.service_account_name
    if not account:
        return (True, Reason.NO_SERVICE_ACCOUNT,
                "no serviceAccountName: KServe uses the namespace's default ServiceAccount")
    return True, Reason.CREDENTIALS_FOUND, f"ServiceAccount {account} and its S3 Secret are usable by KServe"
