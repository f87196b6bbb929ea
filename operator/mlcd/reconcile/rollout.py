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

from mlcd.api.v1alpha1.conditions import get_condition, set_condition
from mlcd.api.v1alpha1.modeldeployment import ModelDeploymentSpec
from mlcd.api.v1alpha1.vocabulary import Reason
from mlcd.kserve import Readiness, build_inferenceservice, controlled_by, needs_update, readiness, supports_canary

log = logging.getLogger(__name__)

NORMAL, WARNING = "Normal", "Warning"
INFERENCESERVICE_CONFLICT = Reason.INFERENCE_SERVICE_CONFLICT
POLL_SECONDS = 10.0  # how often a rollout in flight is looked at again when KServe sends no news


@dataclass(frozen=True)
class Decision:
    inferenceservice: dict | None  # to create or patch; None when what is there already is right
    status: dict  # the whole new status, conditions included (a merge patch replaces lists)
    events: list[tuple[str, str, str]]  # (type, reason, message) for Kubernetes Events
    requeue_after: float | None  # seconds until a timer (stability, deadline) needs a look
    promoted: str | None = None  # the model URI this decision made active, if any


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
    canary_ready: tuple[bool, str, str] = (False, "NoCanary", "no canary in flight")
    traffic: tuple[int, int] = (100, 0)  # percent to the active model, to the canary
    canary_since: str | None = None
    canary_ready_since: str | None = None
    events: list[tuple[str, str, str]] = field(default_factory=list)
    requeue_after: float | None = None
    promoted: str | None = None


@dataclass(frozen=True)
class _Context:
    name: str
    uid: str | None
    generation: int | None
    spec: ModelDeploymentSpec
    status: dict
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
                                      owner_uid=self.uid)

    def seconds_since(self, stamp: str | None) -> float:
        if not stamp:
            return 0.0
        return (self.now - datetime.fromisoformat(stamp.replace("Z", "+00:00"))).total_seconds()

    def stamp(self) -> str:
        return self.now.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def decide(md: dict, observed: dict | None, now: datetime, *, credential_problems: list[str] = ()) -> Decision:
    """The next step for ModelDeployment ``md`` (the whole object) given the InferenceService now in
    the cluster (None when there is none) and the problems :func:`preflight` found."""
    meta = md.get("metadata") or {}
    ctx = _Context(meta["name"], meta.get("uid"), meta.get("generation"),
                   ModelDeploymentSpec.model_validate(md["spec"]), dict(md.get("status") or {}),
                   md, observed, now)
    if observed is not None and not controlled_by(observed, ctx.uid):
        return _conflict(ctx)
    outcome = _step(ctx, list(credential_problems))
    desired = None if outcome.storage_uri is None else ctx.build(outcome.storage_uri, outcome.canary_percent)
    if desired is not None and not needs_update(desired, observed):
        desired = None
    status = _status(ctx, outcome, credential_problems, applying=desired is not None)
    for kind, reason, message in outcome.events:
        log.info("rollout event modeldeployment=%s type=%s reason=%s message=%r", ctx.name, kind, reason, message)
    return Decision(desired, status, outcome.events, outcome.requeue_after, outcome.promoted)


def _conflict(ctx: _Context) -> Decision:
    """An InferenceService of this name that another controller (or a person) made is never modified."""
    message = (f"InferenceService {ctx.name} exists and is not owned by this ModelDeployment, so mlcd leaves it "
               "untouched: delete it, or give the ModelDeployment another name")
    conditions = _set(ctx, list(ctx.status.get("conditions") or []), "Ready",
                      (False, INFERENCESERVICE_CONFLICT, message))
    conditions = _set(ctx, conditions, "RolledOut", (False, INFERENCESERVICE_CONFLICT, message))
    already = _reason_of(ctx.status) == INFERENCESERVICE_CONFLICT
    status = {"observedGeneration": ctx.generation, "phase": "Failed", "message": message,
              "traffic": {"active": 0, "canary": 0}, "championModel": ctx.status.get("championModel"),
              "conditions": conditions}
    events = [] if already else [(WARNING, INFERENCESERVICE_CONFLICT, message)]
    return Decision(None, {k: v for k, v in status.items() if v is not None}, events, None)


def _step(ctx: _Context, problems: list[str]) -> _Outcome:
    status, uri = ctx.status, ctx.uri
    active, canary, phase = status.get("activeModel"), status.get("canaryModel"), status.get("phase")
    in_flight = phase == "Progressing" and canary == uri
    if active == uri:
        return _settled(ctx)
    if problems and not in_flight:
        return _blocked(ctx, problems)
    if active is None:
        return _first_deploy(ctx, started=canary == uri and phase in ("Progressing", "Failed"))
    if ctx.percent < 100 and not supports_canary(ctx.spec.serving.deployment_mode):
        return _refused(ctx)
    if in_flight:
        return _watch_canary(ctx)
    if canary == uri and phase in ("RolledBack", "Failed"):
        return _held(ctx)
    return _start_canary(ctx)


def _settled(ctx: _Context) -> _Outcome:
    uri, status = ctx.uri, ctx.status
    events = []
    if status.get("phase") == "Progressing" and status.get("canaryModel"):
        events.append((NORMAL, "CanaryCancelled",
                       f"spec.model.uri is back to {uri}: canary {status['canaryModel']} withdrawn"))
    return _Outcome(uri, None, "Ready", f"serving {uri}", uri, None,
                    rolled_out=(True, "RolledOut", f"{uri} takes all the traffic"), events=events)


def _blocked(ctx: _Context, problems: list[str]) -> _Outcome:
    """Credentials KServe cannot use would only make the storage initializer fail: wait for them."""
    status, active = ctx.status, ctx.status.get("activeModel")
    was_blocked = (get_condition(status.get("conditions") or [], "CredentialsReady") or {}).get("status") == "False"
    events = [] if was_blocked else [(WARNING, "CredentialsNotReady", "; ".join(problems))]
    message = f"{ctx.uri} waits for usable credentials: " + "; ".join(problems)
    return _Outcome(active, None, "Pending" if active is None else status.get("phase") or "Ready", message,
                    active, None, rolled_out=(False, "CredentialsNotReady", message), events=events,
                    requeue_after=None)


def _first_deploy(ctx: _Context, *, started: bool) -> _Outcome:
    uri, status = ctx.uri, ctx.status
    since = status.get("canarySince") if started else ctx.stamp()
    base = _Outcome(uri, None, "Progressing", f"deploying {uri}", None, uri,
                    rolled_out=(False, "Deploying", f"first deployment of {uri}"), canary_since=since,
                    traffic=(0, 100))
    if not started:
        return replace(base, events=[(NORMAL, "Deploying", f"first deployment of {uri}")],
                       requeue_after=POLL_SECONDS)
    health = _health(ctx, ctx.build(uri, None))
    if health.ready:
        return _Outcome(uri, None, "Ready", f"serving {uri}", uri, None,
                        rolled_out=(True, "RolledOut", f"{uri} takes all the traffic"),
                        events=[(NORMAL, "Deployed", f"{uri} is Ready and takes all the traffic")], promoted=uri)
    if status.get("phase") == "Failed":
        return replace(base, phase="Failed", message=status.get("message") or "",
                       rolled_out=(False, _reason_of(status), status.get("message") or ""))
    failure = _failure(ctx, health)
    if failure is None:
        return replace(base, requeue_after=_poll(ctx))
    reason, message = failure
    message = f"{uri} could not be deployed and there is no earlier model to fall back to: {message}"
    return replace(base, phase="Failed", message=message, rolled_out=(False, reason, message),
                   events=[(WARNING, reason, message)], requeue_after=None)


def _start_canary(ctx: _Context) -> _Outcome:
    uri, active, percent = ctx.uri, ctx.status.get("activeModel"), ctx.percent
    previous = ctx.status.get("canaryModel") if ctx.status.get("phase") == "Progressing" else None
    message = f"canary {uri} takes {percent}% of the traffic; {active} keeps {100 - percent}%"
    events = [(NORMAL, "CanaryStarted", message)]
    if previous:
        events.insert(0, (NORMAL, "CanarySuperseded", f"canary {previous} replaced by {uri}"))
    return _Outcome(uri, _canary_param(percent), "Progressing", message, active, uri,
                    rolled_out=(False, "CanaryInProgress", message),
                    canary_ready=(False, "CanaryNotReady", f"waiting for {uri} to become Ready"),
                    canary_since=ctx.stamp(), traffic=(100 - percent, percent), events=events,
                    requeue_after=POLL_SECONDS)


def _watch_canary(ctx: _Context) -> _Outcome:
    uri, status, rollout = ctx.uri, ctx.status, ctx.spec.rollout
    desired = ctx.build(uri, _canary_param(ctx.percent))
    health = _health(ctx, desired)
    base = _Outcome(uri, _canary_param(ctx.percent), "Progressing", status.get("message") or "",
                    status.get("activeModel"), uri, rolled_out=(False, "CanaryInProgress", status.get("message") or ""),
                    canary_since=status.get("canarySince"), traffic=(100 - ctx.percent, ctx.percent))
    if health.ready and health.latest_revision_ready_or_single and health.serves_share(ctx.percent):
        ready_since = status.get("canaryReadySince") or ctx.stamp()
        remaining = rollout.stable_seconds - ctx.seconds_since(ready_since)
        if remaining <= 0:
            return _promote(ctx)
        return replace(base, canary_ready=(True, "CanaryReady",
                                           f"Ready since {ready_since}; promoted after {rollout.stable_seconds}s"),
                       canary_ready_since=ready_since, requeue_after=remaining)
    failure = _failure(ctx, health)
    if failure is not None:
        return _fail_canary(ctx, *failure)
    return replace(base, canary_ready=(False, "CanaryNotReady", f"{health.reason}: {health.message}".rstrip(": ")),
                   requeue_after=_poll(ctx))


def _promote(ctx: _Context) -> _Outcome:
    uri, previous = ctx.uri, ctx.status.get("activeModel")
    message = f"canary {uri} promoted: it takes all the traffic (was {previous})"
    return _Outcome(uri, None, "Ready", f"serving {uri}", uri, None,
                    rolled_out=(True, "Promoted", message), events=[(NORMAL, "Promoted", message)], promoted=uri)


def _fail_canary(ctx: _Context, reason: str, why: str) -> _Outcome:
    uri, active = ctx.uri, ctx.status.get("activeModel")
    if ctx.spec.rollout.rollback_on_failure:
        message = f"canary {uri} rolled back, {active} takes all the traffic again: {why}"
        return _Outcome(active, _rollback_param(ctx), "RolledBack", message, active, uri,
                        rolled_out=(False, reason, message), events=[(WARNING, "RolledBack", message)])
    message = f"canary {uri} failed and rollbackOnFailure is false, so it keeps {ctx.percent}%: {why}"
    return _Outcome(uri, _canary_param(ctx.percent), "Failed", message, active, uri,
                    rolled_out=(False, reason, message), traffic=(100 - ctx.percent, ctx.percent),
                    events=[(WARNING, "CanaryFailed", message)])


def _held(ctx: _Context) -> _Outcome:
    """After a rollback (or a failure left in place) the same URI is not tried again."""
    status, active = ctx.status, ctx.status.get("activeModel")
    message, reason = status.get("message") or "", _reason_of(status)
    if status.get("phase") == "RolledBack":
        return _Outcome(active, _rollback_param(ctx), "RolledBack", message, active, ctx.uri,
                        rolled_out=(False, reason, message))
    return _Outcome(ctx.uri, _canary_param(ctx.percent), "Failed", message, active, ctx.uri,
                    rolled_out=(False, reason, message), traffic=(100 - ctx.percent, ctx.percent))


def _refused(ctx: _Context) -> _Outcome:
    """KServe ignores canaryTrafficPercent outside Knative mode and would send the new model all the
    traffic at once: refuse instead, and keep serving the active model."""
    mode, active = ctx.spec.serving.deployment_mode, ctx.status.get("activeModel")
    message = (f"spec.serving.deploymentMode: {mode} cannot split traffic, so a {ctx.percent}% canary of "
               f"{ctx.uri} would take all of it; {active} keeps serving. Use Serverless (Knative) for "
               "canaries, or set spec.rollout.canaryTrafficPercent: 100 to replace the model at once")
    already = _reason_of(ctx.status) == "CanaryNotSupported"
    return _Outcome(active, None, "Failed", message, active, None,
                    rolled_out=(False, "CanaryNotSupported", message),
                    events=[] if already else [(WARNING, "CanaryNotSupported", message)])


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
    def reason(self) -> str:
        return self.readiness.reason if self.in_sync else "UpdatePending"

    @property
    def message(self) -> str:
        return self.readiness.message if self.in_sync else "the InferenceService is being updated"


def _failure(ctx: _Context, health: _Health) -> tuple[str, str] | None:
    r = health.readiness
    if health.in_sync and r.generation_current and r.model_failed:
        return "ModelLoadFailed", f"KServe could not load the model: {r.failure}"
    deadline = ctx.spec.rollout.progress_deadline_seconds
    if ctx.seconds_since(ctx.status.get("canarySince")) >= deadline:
        return "ProgressDeadlineExceeded", f"not Ready within {deadline}s ({health.reason}: {health.message})"
    return None


def _poll(ctx: _Context) -> float:
    left = ctx.spec.rollout.progress_deadline_seconds - ctx.seconds_since(ctx.status.get("canarySince"))
    return max(1.0, min(POLL_SECONDS, left))


def _canary_param(percent: int) -> int | None:
    return None if percent == 100 else percent


def _rollback_param(ctx: _Context) -> int | None:
    """Knative keeps the previous revision and gives it everything back with 0%; elsewhere the
    active model simply replaces the failed one."""
    return 0 if supports_canary(ctx.spec.serving.deployment_mode) else None


def _reason_of(status: dict) -> str:
    return (get_condition(status.get("conditions") or [], "RolledOut") or {}).get("reason") or "Failed"


def _status(ctx: _Context, outcome: _Outcome, problems, *, applying: bool) -> dict:
    r = readiness(ctx.observed)
    in_sync = not applying and ctx.observed is not None
    status = {
        "observedGeneration": ctx.generation,
        "phase": outcome.phase,
        "message": outcome.message,
        "url": r.url or ctx.status.get("url"),
        "activeModel": outcome.active,
        "canaryModel": outcome.canary,
        "traffic": {"active": outcome.traffic[0], "canary": outcome.traffic[1]},
        "canarySince": outcome.canary_since,
        "canaryReadySince": outcome.canary_ready_since,
        "championModel": ctx.status.get("championModel"),  # the champion's bookkeeping, kept by the handler
    }
    status = {k: v for k, v in status.items() if v is not None}
    conditions = list(ctx.status.get("conditions") or [])
    if r.ready and in_sync:
        ready = (True, "InferenceServiceReady", "KServe reports the InferenceService Ready")
    elif applying:
        ready = (False, "UpdatePending", f"the InferenceService is being {'updated' if ctx.observed else 'created'}")
    else:
        ready = (False, r.reason, f"{r.reason}: {r.message}".rstrip(": "))
    conditions = _set(ctx, conditions, "Ready", ready)
    conditions = _set(ctx, conditions, "RolledOut", outcome.rolled_out)
    conditions = _set(ctx, conditions, "CanaryReady", outcome.canary_ready)
    conditions = _set(ctx, conditions, "CredentialsReady", _credentials(ctx, problems))
    status["conditions"] = conditions
    return status


def _set(ctx: _Context, conditions: list[dict], type_: str, value: tuple[bool, str, str]) -> list[dict]:
    ok, reason, message = value
    return set_condition(conditions, type_, ok, reason, message, generation=ctx.generation, now=ctx.stamp())


def _credentials(ctx: _Context, problems) -> tuple[bool, str, str]:
    if problems:
        return False, "CredentialsInvalid", "; ".join(problems)
    account = ctx.spec.serving.service_account_name
    if not account:
        return True, "NoServiceAccount", "no serviceAccountName: KServe uses the namespace's default ServiceAccount"
    return True, "CredentialsFound", f"ServiceAccount {account} and its S3 Secret are usable by KServe"
