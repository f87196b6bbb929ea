"""The TrainingRun plan (mlcd.reconcile.trainingrun.plan): every rule, as a pure function of what was observed."""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from mlcd.api.v1alpha1.trainingrun import TrainingRunStatus
from mlcd.api.v1alpha1.validation import validate_document
from mlcd.api.v1alpha1.vocabulary import EventReason, Reason, TrainingRunCondition
from mlcd.reconcile import retrain, tenancy
from mlcd.reconcile.trainingrun import (
    CheckDrift,
    Denied,
    DriftPending,
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
    Submit,
    Unavailable,
    Validate,
    drift_outcome,
    on_delete,
    plan,
    retry_at,
    run_name,
)

T0 = datetime(2030, 1, 1, 0, 0, 30, tzinfo=UTC)
SPEC = {"data": {"source": "builtin://iris"}, "model": {"estimator": "DecisionTreeClassifier"},
        "gates": [{"metric": "accuracy", "min": 0.8}]}
BASE = "file:///var/mlcd/registry"
RUN = run_name("default", "iris", "uid-1", 1, "spec")


def observe(status: dict | None = None, generation: int = 1, now: datetime = T0, **spec) -> Observed:
    return Observed("iris", "default", "uid-1", generation, {**copy.deepcopy(SPEC), **spec},
                    TrainingRunStatus.model_validate(status or {}), now, registry_base=BASE,
                    file_uris_allowed=True)  # the local backend's development namespace: BASE is file://


def validate(observed: Observed) -> SpecChecked:
    doc = {"apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": observed.name},
           "spec": dict(observed.spec)}
    checked = validate_document(doc)
    return SpecChecked(checked.resource) if checked.ok else SpecChecked(None, tuple(map(str, checked.problems)))


def created(ask: Submit, adopted: bool = False) -> RunCreated:
    return RunCreated(ask.run_name, f"id-{ask.run_name}", "", adopted, "hash1", ask.registry_uri or "spec")


def drive(observed: Observed, **answers) -> tuple[Plan, list]:
    """Plan, answer each Ask by its class name from `answers` (a value, or a function of the Ask), plan again.

    It also holds every plan to the rules the handler relies on: one reconcile is about one action (the
    metric label), a plan that asks returns the status it observed, planning never changes the observed
    status, and a written status says which generation each condition is for."""
    asked = []
    answers.setdefault("Validate", validate)
    answers.setdefault("StorageIdentity", StorageFound("mlcd-storage"))  # the namespace has its storage Secret
    before = observed.status.to_wire()
    step = plan(observed)
    actions = {step.action}
    while not step.final:
        assert step.status.to_wire() == before and not step.write and step.events == () == step.effects
        for ask in step.asks:
            asked.append(ask)
            found = answers[type(ask).__name__]
            value = found(observed if isinstance(ask, Validate) else ask) if callable(found) else found
            observed = observed.answered(ask, value)
        step = plan(observed)
        actions.add(step.action)
    assert len(actions) == 1 and None not in actions, actions
    assert observed.status.to_wire() == before, "planning changed the observed status"
    assert step.write == (step.status.to_wire() != before)
    if step.write:
        assert all(c.observed_generation is not None for c in step.status.conditions), step.status.conditions
    return step, asked


def wire(step: Plan) -> dict:
    return step.status.to_wire()


def condition(status: dict, type_: str) -> dict:
    return next(c for c in status["conditions"] if c["type"] == type_)


def reasons(step: Plan) -> list[str]:
    return [e.reason for e in step.events]


def in_flight(phase: str = "Running", generation: int = 1, **extra) -> dict:
    return {"phase": phase, "observedGeneration": generation, "submittedAt": "2030-01-01T00:00:00Z",
            "pipeline": {"runName": RUN, "runId": f"id-{RUN}", "generation": generation, "trigger": "spec",
                         "registryUri": f"{BASE}/default/iris"}, **extra}


def test_a_new_generation_validates_then_submits_a_run_named_by_object_generation_and_trigger():
    step, asked = drive(observe(), Submit=created)
    assert [type(a) for a in asked] == [Validate, Submit]
    submit = asked[1]
    assert submit.run_name == RUN and submit.trigger == "spec" and submit.registry_uri == f"{BASE}/default/iris"
    assert dict(submit.labels) == {"mlcd.io/namespace": "default", "mlcd.io/name": "iris",
                                   "mlcd.io/generation": "1", "mlcd.io/trigger": "spec"}
    status = wire(step)
    assert step.action == "submit" and step.write
    assert status["phase"] == "Pending" and status["observedGeneration"] == 1
    assert status["pipeline"] == {"specHash": "hash1", "registryUri": f"{BASE}/default/iris", "runName": RUN,
                                  "runId": f"id-{RUN}", "runUrl": "", "trigger": "spec", "generation": 1}
    assert status["submittedAt"] == "2030-01-01T00:00:30Z" and status["submitAttempts"] == 0
    assert condition(status, "Submitted")["reason"] == Reason.RUN_SUBMITTED
    assert condition(status, "Ready")["status"] == "Unknown"
    assert reasons(step) == [EventReason.RUN_SUBMITTED]


def test_a_run_found_by_its_name_is_adopted_not_submitted_again():
    step, _ = drive(observe(), Submit=lambda ask: created(ask, adopted=True))
    assert condition(wire(step), "Submitted")["reason"] == Reason.RUN_ADOPTED
    assert reasons(step) == [EventReason.RUN_ADOPTED]


def test_a_spec_with_its_own_registry_keeps_it():
    step, asked = drive(observe(registry={"uri": "s3://models/iris"}), Submit=created)
    (submit,) = [a for a in asked if isinstance(a, Submit)]
    assert submit.registry_uri is None


def test_an_invalid_spec_is_reported_once_per_generation_and_submits_nothing():
    step, asked = drive(observe(model={"estimator": "NoSuchEstimator"}))
    assert [type(a) for a in asked] == [Validate]
    status = wire(step)
    assert status["phase"] == "Invalid" and "spec.model.estimator" in status["message"]
    assert condition(status, "Valid")["reason"] == Reason.INVALID_SPEC
    assert reasons(step) == [EventReason.INVALID_SPEC]
    again = plan(observe(status, model={"estimator": "NoSuchEstimator"}))
    assert again.final and again.action == "idle" and not again.write and not again.events


def test_without_a_registry_anywhere_the_spec_is_invalid():
    observed = observe()
    observed = Observed(observed.name, observed.namespace, observed.uid, 1, observed.spec, observed.status, T0)
    step, _ = drive(observed)
    assert wire(step)["phase"] == "Invalid" and wire(step)["message"].startswith("spec.registry.uri: required")


def test_an_unavailable_backend_is_retried_with_backoff_and_told_once():
    down = Unavailable("KFP API unreachable")
    step, _ = drive(observe(), Submit=down)
    status = wire(step)
    assert condition(status, "Submitted")["reason"] == Reason.BACKEND_UNAVAILABLE
    assert status["submitAttempts"] == 1 and status["message"] == "waiting for the backend: KFP API unreachable"
    assert step.effects == (RetryLater(2.0, "KFP API unreachable"),)
    assert status["observedGeneration"] == 1  # acted on: the poller retries it, not the watch's echo
    assert reasons(step) == [EventReason.BACKEND_UNAVAILABLE]
    again, _ = drive(observe(status), Submit=down)
    assert again.effects == (RetryLater(4.0, "KFP API unreachable"),) and again.events == ()
    assert wire(again)["submitAttempts"] == 2


def test_access_denied_says_what_is_missing_keeps_the_generation_pending_and_retries():
    denied = Denied("KFP refused to create runs in namespace default (403): the operator's ServiceAccount needs a "
                    "RoleBinding to ClusterRole kubeflow-pipelines-edit in namespace default")
    step, _ = drive(observe(), Submit=denied)
    status = wire(step)
    submitted = condition(status, "Submitted")
    assert (submitted["status"], submitted["reason"], submitted["message"]) == (
        "False", Reason.PIPELINES_ACCESS_DENIED, denied.message)
    assert status["phase"] == "Pending" and "pipeline" not in status and status["observedGeneration"] == 1
    assert step.effects == (RetryLater(2.0, denied.message),)
    assert reasons(step) == [EventReason.PIPELINES_ACCESS_DENIED]
    again, _ = drive(observe(status), Submit=denied)  # the same refusal is told once
    assert again.events == () and again.effects == (RetryLater(4.0, denied.message),)
    granted, _ = drive(observe(wire(again)), Submit=created)  # the RoleBinding arrived
    assert condition(wire(granted), "Submitted")["reason"] == Reason.RUN_SUBMITTED
    assert wire(granted)["submitAttempts"] == 0


def test_a_refused_submission_fails_this_generation_and_is_not_repeated():
    step, _ = drive(observe(), Submit=Refused("pipeline spec rejected"))
    status = wire(step)
    assert status["phase"] == "Failed" and status["message"] == "pipeline spec rejected"
    assert status["pipeline"] == {"runName": RUN, "generation": 1} and status["observedGeneration"] == 1
    assert reasons(step) == [EventReason.RUN_FAILED]
    assert plan(observe(status)).action == "idle"


def test_a_run_in_flight_is_polled_and_its_start_told_once():
    step, asked = drive(observe(in_flight("Pending")), Poll=RunSeen("RUNNING", False))
    assert asked == [Poll(asked[0].run)] and asked[0].run.name == RUN
    status = wire(step)
    assert status["phase"] == "Running" and status["message"] == f"run {RUN} is running"
    assert reasons(step) == [EventReason.RUN_STARTED]
    same, _ = drive(observe(status), Poll=RunSeen("RUNNING", False))
    assert not same.write and same.events == ()


def test_a_backend_unavailable_while_polling_changes_nothing():
    step, _ = drive(observe(in_flight()), Poll=Unavailable("down"))
    assert step.action == "poll" and not step.write and step.events == () and step.effects == ()


def test_a_finished_run_is_recorded_with_its_metrics_gates_and_model():
    result = {"phase": "Succeeded", "message": "registered file:///r/v1", "metrics": {"accuracy": 0.96},
              "gates": [{"metric": "accuracy", "passed": True, "value": 0.96, "threshold": 0.8, "message": "ok"}],
              "model": {"uri": "file:///r/v1", "version": 1}}
    step, _ = drive(observe(in_flight()), Poll=RunSeen("SUCCEEDED", True, result=result))
    status = wire(step)
    assert status["phase"] == "Succeeded" and status["model"] == {"uri": "file:///r/v1", "version": 1}
    assert status["keyMetric"] == "accuracy=0.96" and status["metrics"] == {"accuracy": 0.96}
    assert condition(status, "Ready")["status"] == "True" and condition(status, "GatesPassed")["status"] == "True"
    assert reasons(step) == [EventReason.RUN_SUCCEEDED]
    assert step.effects == (RunEnded(RUN, "Succeeded", 30.0),)


def test_a_rejected_run_fails_its_gates_and_hands_nothing_off():
    result = {"phase": "Rejected", "message": "accuracy 0.5 < 0.8", "metrics": {"accuracy": 0.5},
              "gates": [{"metric": "accuracy", "passed": False, "message": "accuracy 0.5 < 0.8"}]}
    step, _ = drive(observe(in_flight(), deploy={"modelDeployment": "iris"}),
                    Poll=RunSeen("SUCCEEDED", True, result=result))
    status = wire(step)
    assert status["phase"] == "Rejected" and condition(status, "GatesPassed")["reason"] == Reason.GATE_FAILED
    assert condition(status, "HandedOff")["status"] == "False"
    assert reasons(step) == [EventReason.GATE_FAILED]


def test_a_succeeded_run_of_a_spec_with_a_model_deployment_has_handed_off():
    result = {"phase": "Succeeded", "model": {"uri": "file:///r/v2", "version": 2}}
    step, _ = drive(observe(in_flight(), deploy={"modelDeployment": "iris"}),
                    Poll=RunSeen("SUCCEEDED", True, result=result))
    assert condition(wire(step), "HandedOff")["status"] == "True"
    assert reasons(step) == [EventReason.RUN_SUCCEEDED, EventReason.HANDED_OFF]


def test_a_succeeded_run_without_outputs_is_read_from_its_run_record():
    record = {"phase": "Succeeded", "model": {"uri": "file:///r/v1", "version": 1}, "metrics": {"r2": 0.5}}
    step, asked = drive(observe(in_flight()), Poll=RunSeen("SUCCEEDED", True), ReadRecord=record)
    assert asked[1] == ReadRecord(f"{BASE}/default/iris", RUN)
    assert wire(step)["phase"] == "Succeeded" and wire(step)["keyMetric"] == "r2=0.5"


def test_a_run_record_that_cannot_be_found_fails_the_run():
    status = in_flight()
    del status["pipeline"]["registryUri"]
    step, asked = drive(observe(status), Poll=RunSeen("SUCCEEDED", True))
    assert [type(a) for a in asked] == [Poll]
    assert wire(step)["phase"] == "Failed" and "registry is unknown" in wire(step)["message"]


def test_a_run_record_absent_from_the_registry_fails_the_run():
    step, asked = drive(observe(in_flight()), Poll=RunSeen("SUCCEEDED", True), ReadRecord=RecordAbsent())
    assert [type(a) for a in asked] == [Poll, ReadRecord]
    status = wire(step)
    message = f"the run succeeded but left no record in {BASE}/default/iris/runs"
    assert status["phase"] == "Failed" and status["message"] == message
    trained = condition(status, "Trained")
    assert (trained["status"], trained["reason"], trained["message"]) == ("False", Reason.RUN_FAILED, message)
    assert reasons(step) == [EventReason.RUN_FAILED]
    assert step.effects == (RunEnded(RUN, "Failed", 30.0),)


def test_a_run_record_that_cannot_be_read_fails_the_run_saying_why():
    step, _ = drive(observe(in_flight()), Poll=RunSeen("SUCCEEDED", True),
                    ReadRecord=RecordUnreadable("s3://team/r/runs: 403 Forbidden"))
    status = wire(step)
    assert status["phase"] == "Failed" and condition(status, "Trained")["status"] == "False"
    assert status["message"] == "the run succeeded but its record cannot be read: s3://team/r/runs: 403 Forbidden"


def test_a_failed_run_says_why():
    step, _ = drive(observe(in_flight()), Poll=RunSeen("FAILED", True, "step train exited 1"))
    status = wire(step)
    assert status["phase"] == "Failed" and status["message"] == "step train exited 1"
    assert condition(status, "Trained")["reason"] == Reason.RUN_FAILED
    assert step.effects == (RunEnded(RUN, "Failed", 30.0),)


def test_a_new_generation_waits_for_the_older_run_then_submits():
    older = in_flight(generation=1)
    step, asked = drive(observe(older, generation=2), Poll=RunSeen("RUNNING", False))
    assert [type(a) for a in asked] == [Poll] and step.action == "poll"
    ended = {**older, "phase": "Succeeded"}
    step, asked = drive(observe(ended, generation=2), Submit=created)
    assert asked[1].run_name == run_name("default", "iris", "uid-1", 2, "spec")
    assert wire(step)["pipeline"]["generation"] == 2


def pending(replaces: str | None = None) -> dict:
    trigger = {"key": "schedule-1893459600", "reason": "schedule", "at": "2030-01-01T00:00:30Z",
               "message": "schedule slot 2030-01-01T01:00:00Z is due"}
    if replaces:
        trigger["replaces"] = replaces
    return {"pendingTrigger": trigger, "schedule": "0 * * * * UTC", "scheduledSince": "2030-01-01T01:00:00Z"}


def test_a_pending_retrain_trigger_submits_its_run_and_enters_history():
    status = {**in_flight("Succeeded"), "retrain": pending()}
    step, asked = drive(observe(status, retrain={"schedule": "0 * * * *"}), Submit=created)
    assert asked[1].trigger == "schedule-1893459600" and asked[1].labels[-1] == ("mlcd.io/trigger", asked[1].trigger)
    out = wire(step)
    assert "pendingTrigger" not in out["retrain"] and out["retrain"]["lastTriggerKey"] == "schedule-1893459600"
    assert out["retrain"]["history"][0]["runName"] == asked[1].run_name
    assert condition(out, TrainingRunCondition.RETRAINING)["reason"] == Reason.SCHEDULE_DUE


def test_forbid_lets_a_pending_trigger_wait_for_the_run_in_flight():
    status = in_flight(retrain=pending())
    step, asked = drive(observe(status, retrain={"schedule": "0 * * * *"}), Poll=RunSeen("RUNNING", False))
    assert [type(a) for a in asked] == [Poll]


def test_replace_stops_the_run_in_flight_then_submits_the_trigger_run():
    status = in_flight(retrain=pending(replaces=RUN))
    retraining = {"schedule": "0 * * * *", "concurrencyPolicy": "Replace"}
    step, asked = drive(observe(status, retrain=retraining), Stop=None, Submit=created)
    assert [type(a) for a in asked] == [Stop, Validate, Submit] and asked[0].run.name == RUN
    assert reasons(step)[-1] == EventReason.RUN_REPLACED
    assert wire(step)["pipeline"]["trigger"] == "schedule-1893459600"
    down, _ = drive(observe(status, retrain=retraining), Stop=Unavailable("down"))
    assert not down.write and down.effects == (RetryLater(10.0, f"cannot stop run {RUN} to replace it: down"),)


def test_a_data_check_that_is_due_records_the_trigger_before_any_run():
    status = {**in_flight("Succeeded"), "retrain": {"dataFingerprint": "etag:a"}}
    spec = {"onDataChange": True, "pollSeconds": 60}
    step, asked = drive(observe(status, retrain=spec), Fingerprint="etag:b")
    assert asked == [Fingerprint("builtin://iris")]
    out = wire(step)
    assert out["retrain"]["pendingTrigger"]["key"] == retrain.content_key("data", "etag:a", "etag:b")
    assert reasons(step) == [EventReason.RETRAIN_TRIGGERED]
    later, asked = drive(observe(out, retrain=spec, now=T0 + timedelta(seconds=1)), Submit=created,
                         Fingerprint="etag:b")
    assert [type(a) for a in asked] == [Validate, Fingerprint, Submit]  # the data a run starts on, before it starts
    assert wire(later)["retrain"]["dataFingerprint"] == "etag:b" and wire(later)["retrain"]["history"]


def test_a_data_check_that_fails_is_a_problem_not_a_crash():
    status = {**in_flight("Succeeded"), "retrain": {"dataFingerprint": "etag:a"}}
    step, _ = drive(observe(status, retrain={"onDataChange": True}), Fingerprint=Problem("s3://d/x: no such key"))
    assert wire(step)["retrain"]["problem"] == "s3://d/x: no such key"
    assert reasons(step) == [EventReason.RETRAIN_CHECK_FAILED]


def test_a_trainingrun_being_deleted_is_left_to_its_delete_handler():
    going = observe(in_flight())
    going = Observed(going.name, going.namespace, going.uid, 1, going.spec, going.status, T0, BASE, deleting=True)
    step = plan(going)
    assert step.final and step.action == "deleting" and not step.write and step.events == () == step.effects
    assert step.status == going.status


def test_stop_runs_on_delete_stops_only_a_run_in_flight():
    running = TrainingRunStatus.model_validate(in_flight())
    assert on_delete({"deletePolicy": "stopRuns"}, running) == Stop(on_delete({"deletePolicy": "stopRuns"},
                                                                              running).run)
    assert on_delete({"deletePolicy": "stopRuns"}, running).run.name == RUN
    assert on_delete({"deletePolicy": "keep"}, running) is None
    assert on_delete({}, running) is None
    done = TrainingRunStatus.model_validate(in_flight("Succeeded"))
    assert on_delete({"deletePolicy": "stopRuns"}, done) is None


def test_the_same_observation_gives_the_same_plan():
    first, _ = drive(observe(), Submit=created)
    second, _ = drive(observe(), Submit=created)
    assert first == second


# --- names, backoff and what a submission writes -------------------------------------------------------------


def test_a_run_name_is_lower_case_dns_words_and_bounded_whatever_the_names_and_trigger():
    name = run_name("Team.A", "My_Model" * 10, "uid-1", 3, "Schedule:1893459600/Extra-Long-Trigger")
    base, rest = name[:40], name[40:]
    assert base == "team-a-my-modelmy-modelmy-modelmy-modelm"
    # The trigger is cut to 20 characters ("schedule-1893459600/" -> its "-" dropped), then a 10-digit hash.
    assert re.fullmatch(r"-g3-schedule-1893459600-[0-9a-f]{10}", rest), rest
    # Separators at the edges of a cut or of a trigger are dropped, not doubled.
    assert run_name("a", "b" + "-" * 60, "u", 1, "-x-").startswith("a-b-g1-x-")
    assert run_name("a", "b", "u", 1, "t") != run_name("a", "b", "u2", 1, "t")  # a re-created object


def test_the_backoff_doubles_up_to_its_cap():
    assert [retry_at(n) for n in (0, 1, 2, 3, 6, 7, 50)] == [2.0, 2.0, 4.0, 8.0, 60.0, 60.0, 60.0]
    assert retry_at(9, cap=300.0) == 300.0 and retry_at(8, cap=300.0) == 256.0


def test_a_submission_writes_every_condition_of_the_new_generation():
    step, asked = drive(observe(generation=4), Submit=created)
    name = asked[-1].run_name
    status = wire(step)
    found = {c["type"]: (c["status"], c["reason"], c["message"], c["observedGeneration"], c["lastTransitionTime"])
             for c in status["conditions"]}
    at = "2030-01-01T00:00:30Z"
    waiting = ("Unknown", Reason.RUN_IN_PROGRESS, f"waiting for run {name}", 4, at)
    assert found == {"Valid": ("True", Reason.SPEC_VALID, "", 4, at),
                     "Compiled": ("True", Reason.COMPILED, "hash1", 4, at),
                     "Submitted": ("True", Reason.RUN_SUBMITTED, f"submitted run {name}", 4, at),
                     "Trained": waiting, "GatesPassed": waiting, "Ready": waiting,
                     "StorageReady": ("True", Reason.NO_OBJECT_STORAGE, "the run touches no object storage", 4, at)}
    assert status["message"] == f"submitted run {name}" and status["observedGeneration"] == 4
    assert [(e.type, e.message) for e in step.events] == [("Normal", f"submitted pipeline run {name}")]
    adopted, _ = drive(observe(generation=4), Submit=lambda ask: created(ask, adopted=True))
    assert wire(adopted)["message"] == f"adopted run {name}"
    assert condition(wire(adopted), "Submitted")["message"] == f"adopted run {name}"
    assert [(e.type, e.message) for e in adopted.events] == [("Normal", f"adopted pipeline run {name}")]


def test_the_default_registry_is_base_namespace_name_without_a_doubled_slash():
    observed = replace(observe(), registry_base="s3://models/")
    _, asked = drive(observed, Submit=created)
    assert asked[-1].registry_uri == "s3://models/default/iris" and asked[-1].storage_secret == "mlcd-storage"


def test_a_new_generation_of_an_invalid_spec_is_submitted_and_a_new_invalid_one_told_again():
    bad = {"model": {"estimator": "NoSuchEstimator"}}
    first, _ = drive(observe(**bad))
    assert plan(observe(wire(first), generation=2)).asks == (Validate(),)
    again, _ = drive(observe(wire(first), generation=2, **bad))
    assert reasons(again) == [EventReason.INVALID_SPEC] and wire(again)["observedGeneration"] == 2
    valid = condition(wire(again), "Valid")
    assert (valid["status"], valid["observedGeneration"]) == ("False", 2)
    ready = condition(wire(again), "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == ("False", Reason.INVALID_SPEC, "the spec is invalid")


def test_every_problem_of_an_invalid_spec_is_in_its_condition_and_event():
    observed = replace(observe(data={"source": "file:///etc/passwd"}, registry={"uri": "file:///tmp/r"}),
                       file_uris_allowed=False)
    step, _ = drive(observed)
    problems = tenancy.file_refusals(observed.spec, None, allowed=False)
    assert [p.split(":")[0] for p in problems] == ["spec.data.source", "spec.registry.uri"]
    assert condition(wire(step), "Valid")["message"] == "; ".join(problems)
    assert wire(step)["message"] == "; ".join(problems) == step.events[0].message
    assert step.events[0].type == "Warning"


def test_a_backend_that_stays_down_keeps_the_phase_and_the_generation_of_its_condition():
    down = Unavailable("KFP API unreachable")
    step, _ = drive(observe(generation=2), Submit=down)
    assert wire(step)["phase"] == "Pending" and condition(wire(step), "Submitted")["observedGeneration"] == 2
    assert step.events[0].type == "Warning" and step.events[0].message == "KFP API unreachable"
    earlier = {**in_flight("Succeeded"), "message": "trained"}
    later, _ = drive(observe(earlier, generation=2), Submit=down)
    assert wire(later)["phase"] == "Succeeded"  # the last run's outcome stands until a new run is submitted


def test_access_denied_for_another_reason_is_told_again():
    first = Denied("token file /var/run/secrets/kfp/token is missing")
    step, _ = drive(observe(), Submit=first)
    assert wire(step)["message"] == f"pipelines access denied: {first.message}"
    assert [(e.type, e.message) for e in step.events] == [("Warning", first.message)]
    other = Denied("KFP refused to create runs in namespace default (403)")
    again, _ = drive(observe(wire(step)), Submit=other)
    assert [(e.reason, e.message) for e in again.events] == [(EventReason.PIPELINES_ACCESS_DENIED, other.message)]
    assert condition(wire(again), "Submitted")["observedGeneration"] == 1


# --- following a run ------------------------------------------------------------------------------------------


def test_the_poll_names_the_run_by_its_id_and_url_or_by_its_name_when_it_has_no_id():
    status = in_flight()
    status["pipeline"]["runUrl"] = "https://kfp/#/runs/details/id-1"
    _, asked = drive(observe(status), Poll=RunSeen("RUNNING", False))
    assert asked[0].run == RunHandle(RUN, f"id-{RUN}", "https://kfp/#/runs/details/id-1")
    del status["pipeline"]["runId"], status["pipeline"]["runUrl"]
    _, asked = drive(observe(status), Poll=RunSeen("RUNNING", False))
    assert asked[0].run == RunHandle(RUN, RUN, "")


def test_a_run_still_pending_without_news_writes_nothing():
    status = in_flight("Pending")
    step, _ = drive(observe(status), Poll=RunSeen("PENDING", False))
    assert not step.write and step.events == ()
    assert wire(step).get("message") == status.get("message")


def test_a_pending_run_says_what_it_waits_for_and_has_not_started():
    step, _ = drive(observe(in_flight("Pending")), Poll=RunSeen("PENDING", False, "pulling image"))
    status = wire(step)
    assert status["phase"] == "Pending" and status["message"] == f"run {RUN} is pending: pulling image"
    trained = condition(status, "Trained")
    assert (trained["status"], trained["reason"], trained["message"], trained["observedGeneration"]) == (
        "Unknown", Reason.RUN_IN_PROGRESS, status["message"], 1)
    assert step.events == ()
    started, _ = drive(observe(status), Poll=RunSeen("RUNNING", False))
    assert [(e.type, e.message) for e in started.events] == [("Normal", f"pipeline run {RUN} started")]


def test_a_run_past_its_deadline_is_stopped_then_failed():
    status = in_flight()  # submitted at 00:00:00
    late = datetime(2030, 1, 1, 0, 10, tzinfo=UTC)
    spec = {"timeouts": {"runSeconds": 600}, "deploy": {"modelDeployment": "iris"}}
    on_time, asked = drive(observe(status, now=late, **spec), Poll=RunSeen("RUNNING", False))
    assert [type(a) for a in asked] == [Poll]  # 600.0 s is not past 600 s
    step, asked = drive(observe(status, now=late + timedelta(seconds=1), **spec), Poll=RunSeen("RUNNING", False),
                        Stop=None)
    assert asked == [Poll(RunHandle(RUN, f"id-{RUN}")), Stop(RunHandle(RUN, f"id-{RUN}"))]
    out = wire(step)
    text = f"run {RUN} ran 601 s, past spec.timeouts.runSeconds (600 s), and was stopped"
    assert out["phase"] == "Failed" and out["message"] == text
    found = {c["type"]: (c["status"], c["reason"], c["message"], c["observedGeneration"]) for c in out["conditions"]}
    assert found["Trained"] == ("False", Reason.DEADLINE_EXCEEDED, text, 1)
    assert found["GatesPassed"] == ("Unknown", Reason.DEADLINE_EXCEEDED, "the run did not finish", 1)
    assert found["Ready"] == ("False", Reason.DEADLINE_EXCEEDED, text, 1)
    assert found["HandedOff"][:2] == ("False", Reason.RUN_FAILED)
    assert [(e.type, e.reason, e.message) for e in step.events] == [("Warning", EventReason.DEADLINE_EXCEEDED, text)]
    assert step.action == "poll" and step.effects == (RunEnded(RUN, "Failed", 601.0),)
    down, _ = drive(observe(status, now=late + timedelta(seconds=1), **spec), Poll=RunSeen("RUNNING", False),
                    Stop=Unavailable("down"))
    assert not down.write and down.events == () == down.effects  # the next reconcile stops it


def test_a_run_deadline_is_the_default_when_the_spec_gives_none_or_an_invalid_one():
    status = in_flight()
    for spec in ({}, {"timeouts": {"runSeconds": -5}}, {"timeouts": None}):
        at_limit, asked = drive(observe(status, now=T0 + timedelta(seconds=14400 - 30), **spec),
                                Poll=RunSeen("RUNNING", False))
        assert [type(a) for a in asked] == [Poll], spec
        past, asked = drive(observe(status, now=T0 + timedelta(seconds=14400 - 29), **spec),
                            Poll=RunSeen("RUNNING", False), Stop=None)
        assert [type(a) for a in asked] == [Poll, Stop], spec


def test_a_run_that_ends_without_a_message_says_how_it_ended():
    step, _ = drive(observe(in_flight()), Poll=RunSeen("CANCELED", True))
    out = wire(step)
    assert out["phase"] == "Failed" and out["message"] == f"run {RUN} ended canceled"
    found = {c["type"]: (c["status"], c["reason"], c["message"], c["observedGeneration"]) for c in out["conditions"]}
    assert found["Trained"] == ("False", Reason.RUN_FAILED, out["message"], 1)
    assert found["GatesPassed"] == ("Unknown", Reason.RUN_FAILED, "the run did not finish", 1)
    assert found["Ready"] == ("False", "Failed", out["message"], 1)
    assert [(e.type, e.message) for e in step.events] == [("Warning", f"run {RUN}: {out['message']}")]
    assert "keyMetric" not in out and "model" not in out


def test_a_record_that_cannot_be_found_fails_the_run_with_that_reason():
    status = in_flight()
    del status["pipeline"]["registryUri"]
    step, _ = drive(observe(status), Poll=RunSeen("SUCCEEDED", True))
    assert wire(step)["message"] == "the run succeeded but its registry is unknown"
    assert condition(wire(step), "Trained")["status"] == "False"


def test_a_finished_run_records_its_gates_verdicts_tuning_and_the_generation_that_made_it():
    result = {"phase": "Succeeded", "metrics": {"accuracy": 0.9},
              "gates": [{"metric": "accuracy", "passed": True, "message": "ok"},
                        {"metric": "f1", "passed": True, "message": "ok"}],
              "model": {"uri": "file:///r/v3", "version": 3},
              "tuning": {"best": {"max_depth": 3}, "score": 0.91, "metric": "accuracy", "trials": [{}, {}, {}]}}
    step, _ = drive(observe(in_flight(generation=1), generation=2), Poll=RunSeen("SUCCEEDED", True, result=result))
    out = wire(step)
    found = {c["type"]: (c["status"], c["reason"], c["message"], c["observedGeneration"]) for c in out["conditions"]}
    assert found["Trained"] == ("True", Reason.RUN_SUCCEEDED, f"run {RUN} trained a model", 1)
    assert found["GatesPassed"] == ("True", Reason.GATES_PASSED, "2 gate(s) passed", 1)
    assert found["Ready"] == ("True", "Succeeded", f"run {RUN} ended succeeded", 1)
    assert out["tuning"] == {"best": {"max_depth": 3}, "score": 0.91, "metric": "accuracy", "trials": 3}
    assert [(e.type, e.reason) for e in step.events] == [("Normal", EventReason.RUN_SUCCEEDED)]
    counted = {**result, "tuning": {"best": {}, "trials": 7}}
    step, _ = drive(observe(in_flight()), Poll=RunSeen("SUCCEEDED", True, result=counted))
    assert wire(step)["tuning"] == {"best": {}, "trials": 7}


def test_a_rejected_run_names_the_gates_that_failed():
    result = {"phase": "Rejected", "message": "2 gates failed",
              "gates": [{"metric": "accuracy", "passed": False, "message": "accuracy 0.5 < 0.8"},
                        {"metric": "f1", "passed": True, "message": "f1 ok"},
                        {"metric": "r2", "passed": False, "message": "r2 0.1 < 0.3"}]}
    step, _ = drive(observe(in_flight(), deploy={"modelDeployment": "iris"}),
                    Poll=RunSeen("SUCCEEDED", True, result=result))
    out = wire(step)
    gates = condition(out, "GatesPassed")
    assert (gates["status"], gates["message"]) == ("False", "accuracy 0.5 < 0.8; r2 0.1 < 0.3")
    assert condition(out, "Trained")["status"] == "True"
    handed = condition(out, "HandedOff")
    assert (handed["reason"], handed["message"], handed["observedGeneration"]) == (
        Reason.GATE_FAILED, "nothing handed off: ModelDeployment iris keeps its model (2 gates failed)", 1)
    assert [(e.type, e.message) for e in step.events] == [("Warning", f"run {RUN}: 2 gates failed")]


def test_a_failed_run_hands_nothing_off_and_says_why():
    step, _ = drive(observe(in_flight(), deploy={"modelDeployment": "iris"}),
                    Poll=RunSeen("FAILED", True, "step train exited 1"))
    handed = condition(wire(step), "HandedOff")
    assert (handed["status"], handed["reason"], handed["message"]) == (
        "False", Reason.RUN_FAILED, "nothing handed off: ModelDeployment iris keeps its model (step train exited 1)")


def test_a_succeeded_run_that_registered_no_model_has_handed_nothing_off():
    step, _ = drive(observe(in_flight(), deploy={"modelDeployment": "iris"}),
                    Poll=RunSeen("SUCCEEDED", True, result={"phase": "Succeeded", "message": "done"}))
    handed = condition(wire(step), "HandedOff")
    assert (handed["status"], handed["message"]) == (
        "False", "nothing handed off: ModelDeployment iris keeps its model (done)")
    assert reasons(step) == [EventReason.RUN_SUCCEEDED]


def test_a_handoff_names_the_model_and_the_generation_of_the_run():
    result = {"phase": "Succeeded", "model": {"uri": "file:///r/v2", "version": 2}}
    step, _ = drive(observe(in_flight(generation=1), generation=2, deploy={"modelDeployment": "iris"}),
                    Poll=RunSeen("SUCCEEDED", True, result=result))
    handed = condition(wire(step), "HandedOff")
    message = "ModelDeployment iris now names file:///r/v2; its rollout decides when it becomes the champion"
    assert (handed["status"], handed["message"], handed["observedGeneration"]) == ("True", message, 1)
    assert [(e.type, e.message) for e in step.events][-1] == ("Normal", message)


# --- retraining: schedule and drift, as the plan asks for them ------------------------------------------------

DRIFT = {"drift": {"current": "s3://team/new.csv", "method": "ks", "threshold": 0.1}}
REGISTRY = f"{BASE}/default/iris"


def drift_record(drifted: bool = True) -> dict:
    """REGISTRY/drift/KEY.json, as the drift-check run writes it."""
    return {"record": {"drifted": drifted, "message": "ks 0.4 > 0.1"}, "report": "s3://r/report.html"}


def drifted(ask: CheckDrift, drifted: bool = True) -> DriftRun:
    """The check's record was in the registry at the first look: no run looked at."""
    return DriftRun(f"drift-{ask.fingerprint}", drift_record(drifted))


def test_a_drift_check_asks_the_champion_then_checks_the_data_it_fingerprinted_and_records_a_trigger():
    step, asked = drive(observe(in_flight("Succeeded"), retrain=DRIFT), FindChampion=DriftTarget("etag:n", 3),
                        CheckDrift=drifted)
    assert asked == [FindChampion(REGISTRY, "s3://team/new.csv"),
                     CheckDrift(REGISTRY, 3, "s3://team/new.csv", "ks", 0.1, "etag:n")]
    out = wire(step)["retrain"]
    assert out["pendingTrigger"]["key"] == retrain.content_key("drift", "etag:n")
    assert out["pendingTrigger"]["reason"] == "drift" and "replaces" not in out["pendingTrigger"]
    assert (out["lastDriftCheck"]["fingerprint"], out["lastDriftCheck"]["championVersion"]) == ("etag:n", 3)
    assert out["checkedAt"] == "2030-01-01T00:00:30Z"
    assert reasons(step) == [EventReason.DRIFT_DETECTED, EventReason.RETRAIN_TRIGGERED]


def test_the_same_data_against_the_same_champion_is_not_checked_again():
    first, _ = drive(observe(in_flight("Succeeded"), retrain=DRIFT), FindChampion=DriftTarget("etag:n", 3),
                     CheckDrift=lambda ask: drifted(ask, drifted=False))
    assert reasons(first) == [EventReason.NO_DRIFT]
    later = T0 + timedelta(seconds=301)
    step, asked = drive(observe(wire(first), now=later, retrain=DRIFT), FindChampion=DriftTarget("etag:n", 3))
    assert [type(a) for a in asked] == [FindChampion]
    assert wire(step)["retrain"]["checkedAt"] == "2030-01-01T00:05:31Z" and step.events == ()
    newer, asked = drive(observe(wire(first), now=later, retrain=DRIFT), FindChampion=DriftTarget("etag:n", 4),
                         CheckDrift=lambda ask: drifted(ask, drifted=False))
    assert asked[-1] == CheckDrift(REGISTRY, 4, "s3://team/new.csv", "ks", 0.1, "etag:n")


def test_a_drift_check_under_way_keeps_the_check_due_and_writes_nothing():
    pending_check = observe(in_flight("Succeeded"), retrain=DRIFT)
    first, _ = drive(pending_check, FindChampion=DriftTarget("etag:n", 3), CheckDrift=retrain_pending)
    assert "checkedAt" not in (wire(first).get("retrain") or {}) and first.events == ()
    step, asked = drive(replace(pending_check, status=first.status), FindChampion=DriftTarget("etag:n", 3),
                        CheckDrift=retrain_pending)
    assert [type(a) for a in asked] == [FindChampion, CheckDrift]
    assert step.action == "idle" and not step.write and step.events == ()


def retrain_pending(ask: CheckDrift) -> DriftRun:
    return DriftRun(f"drift-{ask.fingerprint}", None, "RUNNING", False)


def test_a_drift_check_run_that_failed_is_a_problem_told_once():
    observed = observe(in_flight("Succeeded"), retrain=DRIFT)
    ended = DriftRun("drift-run", None, "FAILED", True, "step check exited 1")
    failed, _ = drive(observed, FindChampion=DriftTarget("etag:n", 3), CheckDrift=ended)
    out = wire(failed)["retrain"]
    assert out["problem"] == "spec.retrain.drift: the drift check run drift-run ended FAILED: step check exited 1"
    assert "pendingTrigger" not in out and "lastDriftCheck" not in out
    assert reasons(failed) == [EventReason.RETRAIN_CHECK_FAILED]
    again, asked = drive(observe(wire(failed), now=T0 + timedelta(seconds=301), retrain=DRIFT),
                         FindChampion=DriftTarget("etag:n", 3), CheckDrift=ended)
    assert [type(a) for a in asked] == [FindChampion, CheckDrift]  # the same data and champion: still to check
    assert wire(again)["retrain"]["problem"] == out["problem"] and again.events == ()


def test_a_drift_check_run_that_succeeded_but_left_no_record_is_a_problem_told_once():
    observed = observe(in_flight("Succeeded"), retrain=DRIFT)
    ended = DriftRun("drift-run", None, "SUCCEEDED", True)
    empty, _ = drive(observed, FindChampion=DriftTarget("etag:n", 3), CheckDrift=ended)
    out = wire(empty)["retrain"]
    assert out["problem"] == f"spec.retrain.drift: the drift check run drift-run left no record in {REGISTRY}"
    assert "pendingTrigger" not in out and reasons(empty) == [EventReason.RETRAIN_CHECK_FAILED]
    again, _ = drive(observe(wire(empty), now=T0 + timedelta(seconds=301), retrain=DRIFT),
                     FindChampion=DriftTarget("etag:n", 3), CheckDrift=ended)
    assert wire(again)["retrain"]["problem"] == out["problem"] and again.events == ()


def test_a_drift_check_is_read_from_its_record_the_run_under_way_is_waited_for():
    check = CheckDrift(REGISTRY, 3, "s3://team/new.csv", "ks", 0.1, "etag:n")
    assert check.key == f"{retrain.content_key('drift', 'etag:n')}-v3"
    seen = retrain.DriftSeen("etag:n", 3, {"drifted": True, "message": "ks 0.4 > 0.1"}, "s3://r/report.html")
    assert drift_outcome(check, DriftRun("r", drift_record())) == seen  # there at the first look
    assert drift_outcome(check, DriftRun("r", drift_record(), "SUCCEEDED", True)) == seen  # left by its run
    assert drift_outcome(check, DriftRun("r", None, "PENDING", False)) == DriftPending("r")
    assert drift_outcome(check, Problem("backend down")) == Problem("backend down")
    # A run that did not succeed is a problem, whatever its record says.
    assert isinstance(drift_outcome(check, DriftRun("r", drift_record(), "CANCELED", True, "")), Problem)


def test_a_drift_check_that_fails_or_a_champion_that_cannot_be_found_is_a_problem_told_once():
    observed = observe(in_flight("Succeeded"), retrain=DRIFT)
    no_champion, asked = drive(observed, FindChampion=Problem(f"{REGISTRY}: no champion yet"))
    assert [type(a) for a in asked] == [FindChampion]
    assert wire(no_champion)["retrain"]["problem"] == f"{REGISTRY}: no champion yet"
    assert wire(no_champion)["retrain"]["checkedAt"] == "2030-01-01T00:00:30Z"
    assert reasons(no_champion) == [EventReason.RETRAIN_CHECK_FAILED]
    failed, _ = drive(observed, FindChampion=DriftTarget("etag:n", 3), CheckDrift=Problem("drift run failed"))
    assert wire(failed)["retrain"]["problem"] == "drift run failed"
    assert "pendingTrigger" not in wire(failed)["retrain"]
    assert reasons(failed) == [EventReason.RETRAIN_CHECK_FAILED]


def test_under_replace_a_drift_seen_while_a_run_is_in_flight_is_to_replace_it():
    spec = {**DRIFT, "concurrencyPolicy": "Replace"}
    step, asked = drive(observe(in_flight(), retrain=spec), FindChampion=DriftTarget("etag:n", 3),
                        CheckDrift=drifted)
    assert Poll not in [type(a) for a in asked] and step.action == "poll"
    assert wire(step)["retrain"]["pendingTrigger"]["replaces"] == RUN


def test_data_and_drift_are_both_looked_at_in_one_check():
    spec = {**DRIFT, "onDataChange": True}
    status = {**in_flight("Succeeded"), "retrain": {"dataFingerprint": "etag:a"}}
    step, asked = drive(observe(status, retrain=spec), Fingerprint="etag:b", FindChampion=DriftTarget("etag:n", 3),
                        CheckDrift=lambda ask: drifted(ask, drifted=False))
    assert [type(a) for a in asked] == [Fingerprint, FindChampion, CheckDrift]
    assert wire(step)["retrain"]["pendingTrigger"]["key"] == retrain.content_key("data", "etag:a", "etag:b")


def test_a_schedule_is_recorded_with_its_next_slot_spread_by_the_objects_offset():
    observed = replace(observe(in_flight("Succeeded"), retrain={"schedule": "0 * * * *"}), schedule_offset=90.0)
    step = plan(observed)
    assert step.final and step.write and step.action == "idle"
    out = wire(step)
    assert out["nextScheduledRun"] == "2030-01-01T00:01:30Z"  # the 00:00 slot, 90 s on, is still to come
    assert out["retrain"]["scheduledSince"] == "2030-01-01T00:00:30Z"
    assert condition(out, TrainingRunCondition.RETRAINING)["observedGeneration"] == 1
    assert plan(replace(observed, status=step.status)).write is False


def test_a_run_in_flight_with_nothing_new_for_retraining_is_polled():
    status = observe(in_flight(), retrain={"schedule": "0 * * * *"})
    recorded = wire(plan(replace(status, status=TrainingRunStatus.model_validate(in_flight("Succeeded")))))
    status = observe({**in_flight(), **{k: recorded[k] for k in ("retrain", "nextScheduledRun", "conditions")}},
                     retrain={"schedule": "0 * * * *"})
    step, asked = drive(status, Poll=RunSeen("RUNNING", False))
    assert [type(a) for a in asked] == [Poll] and step.action == "poll"


def test_a_replaced_run_is_marked_so_in_the_history_and_told():
    history = [{"key": "schedule-1893456000", "reason": "schedule", "at": "2030-01-01T00:00:00Z", "runName": RUN}]
    status = in_flight(retrain={**pending(replaces=RUN), "history": history})
    step, _ = drive(observe(status, retrain={"schedule": "0 * * * *", "concurrencyPolicy": "Replace"}), Stop=None,
                    Submit=created)
    out = wire(step)["retrain"]["history"]
    assert [(h["runName"] == RUN, h.get("phase")) for h in out] == [(False, None), (True, "Replaced")]
    assert [(e.type, e.message) for e in step.events][-1] == (
        "Normal", f"stopped run {RUN} for schedule-1893459600 (concurrencyPolicy Replace)")


def test_the_run_of_a_new_generation_takes_the_data_it_starts_on_as_the_baseline():
    step, asked = drive(observe(retrain={"onDataChange": True}), Fingerprint="etag:a", Submit=created)
    assert [type(a) for a in asked] == [Validate, Fingerprint, Submit]
    assert wire(step)["retrain"]["dataFingerprint"] == "etag:a"
    unseen, _ = drive(observe(retrain={"onDataChange": True}), Fingerprint=Problem("builtin://iris: gone"),
                      Submit=created)
    assert wire(unseen)["phase"] == "Pending" and "dataFingerprint" not in (wire(unseen).get("retrain") or {})


def test_a_refusal_without_a_message_still_says_the_run_failed():
    step, _ = drive(observe(), Submit=Refused(""))
    assert wire(step)["phase"] == "Failed" and wire(step)["message"] == f"run {RUN} ended failed"


def test_a_run_without_a_submission_time_has_no_deadline_and_no_duration():
    status = in_flight()
    del status["submittedAt"]
    far = T0 + timedelta(days=30)
    running, asked = drive(observe(status, now=far), Poll=RunSeen("RUNNING", False))
    assert [type(a) for a in asked] == [Poll]
    ended, _ = drive(observe(status, now=far), Poll=RunSeen("FAILED", True, "oom"))
    assert ended.effects == (RunEnded(RUN, "Failed", None),)
    skewed, _ = drive(observe(in_flight(), now=datetime(2029, 12, 31, 23, 59, tzinfo=UTC)),
                      Poll=RunSeen("FAILED", True, "oom"))
    assert skewed.effects == (RunEnded(RUN, "Failed", 0.0),)  # a clock behind the submission counts no time


def test_a_trigger_whose_spec_turned_out_unfit_enters_the_history_as_invalid():
    history = [{"key": "schedule-1893456000", "reason": "schedule", "at": "2030-01-01T00:00:00Z", "runName": RUN}]
    status = in_flight(retrain={**pending(replaces=RUN), "history": history, "dataFingerprint": "etag:a"})
    spec = {"schedule": "0 * * * *", "concurrencyPolicy": "Replace", "onDataChange": True}
    unfit = replace(observe(status, retrain=spec, registry={"uri": "file:///tmp/r"}), file_uris_allowed=False)
    step, asked = drive(unfit, Stop=None, Fingerprint="etag:b")
    assert [type(a) for a in asked] == [Stop, Validate, Fingerprint]
    out = wire(step)
    assert out["phase"] == "Invalid" and out["message"].startswith("spec.registry.uri: file:///tmp/r: file://")
    assert "pendingTrigger" not in out["retrain"] and out["retrain"]["lastTriggerKey"] == "schedule-1893459600"
    assert [(h["key"], h.get("phase")) for h in out["retrain"]["history"]] == [
        ("schedule-1893459600", "Invalid"), ("schedule-1893456000", "Replaced")]
    assert out["retrain"]["dataFingerprint"] == "etag:b"
    assert reasons(step) == [EventReason.INVALID_SPEC, EventReason.RUN_REPLACED]


def test_a_default_registry_on_file_is_refused_outside_the_development_namespace():
    step, _ = drive(replace(observe(), file_uris_allowed=False))
    assert wire(step)["phase"] == "Invalid"
    assert wire(step)["message"].startswith("spec.registry.uri: file:///var/mlcd/registry/default/iris: file://")


def test_without_a_registry_anywhere_the_spec_is_invalid_and_says_what_to_set():
    step, _ = drive(replace(observe(), registry_base=""))
    assert wire(step)["message"] == (
        "spec.registry.uri: required, as the operator has no default registry (MLCD_REGISTRY_BASE)")


def test_a_spec_found_unfit_at_a_generation_already_observed_is_told():
    status = {"phase": "Pending", "observedGeneration": 1}  # e.g. it waited for its storage Secret
    step, _ = drive(replace(observe(status), registry_base=""))
    assert wire(step)["phase"] == "Invalid" and reasons(step) == [EventReason.INVALID_SPEC]


def test_a_submission_carries_the_validated_spec_and_no_secret_when_it_needs_none():
    _, asked = drive(observe(), Submit=created)
    submit = asked[-1]
    assert submit.resource.metadata.name == "iris" and submit.resource.spec.model.estimator == "DecisionTreeClassifier"
    assert submit.storage_secret == ""


def test_access_denied_backs_off_up_to_five_minutes():
    denied = Denied("KFP refused (403)")
    step, _ = drive(observe({"submitAttempts": 8}), Submit=denied)
    assert step.effects == (RetryLater(300.0, denied.message),) and wire(step)["submitAttempts"] == 9
    down, _ = drive(observe({"submitAttempts": 8}), Submit=Unavailable("down"))
    assert down.effects == (RetryLater(60.0, "down"),)
    assert condition(wire(down), "Submitted")["status"] == "False"


def test_file_data_in_the_development_namespace_is_fingerprinted_for_data_changes():
    step, asked = drive(observe(data={"source": "file:///data/train.csv", "target": "y"},
                                retrain={"onDataChange": True}), Fingerprint="etag:f", Submit=created)
    assert asked[1] == Fingerprint("file:///data/train.csv")


def test_a_model_deployment_that_is_no_string_gets_no_handoff():
    step, _ = drive(observe(in_flight(), deploy={"modelDeployment": {"name": "iris"}}),
                    Poll=RunSeen("SUCCEEDED", True, result={"phase": "Succeeded",
                                                             "model": {"uri": "file:///r/v1", "version": 1}}))
    assert "HandedOff" not in [c["type"] for c in wire(step)["conditions"]]


def test_under_forbid_a_run_in_flight_holds_checks_and_due_slots_back():
    spec = {**DRIFT, "schedule": "0 * * * *"}
    status = {**in_flight(), "retrain": {"schedule": "0 * * * * UTC", "scheduledSince": "2029-12-31T23:30:00Z"}}
    first = plan(observe(status, retrain=spec))
    assert first.asks in ((), (Poll(RunHandle(RUN, f"id-{RUN}")),))
    step, asked = drive(replace(observe(status, retrain=spec), status=first.status), Poll=RunSeen("RUNNING", False))
    assert [type(a) for a in asked] == [Poll]
    assert "pendingTrigger" not in (wire(step).get("retrain") or {})
    assert "pendingTrigger" not in (wire(first).get("retrain") or {})


@pytest.mark.parametrize("answers", [{"FindChampion": Problem("no champion")},
                                     {"FindChampion": DriftTarget("etag:n", 3), "CheckDrift": Problem("failed")},
                                     {"FindChampion": DriftTarget("etag:n", 3), "CheckDrift": retrain_pending}],
                         ids=["no champion", "check failed", "check under way"])
def test_under_replace_a_slot_due_while_drift_is_unknown_still_replaces_the_run_in_flight(answers):
    spec = {**DRIFT, "schedule": "0 * * * *", "concurrencyPolicy": "Replace"}
    status = {**in_flight(), "retrain": {"schedule": "0 * * * * UTC", "scheduledSince": "2029-12-31T23:30:00Z"}}
    step, _ = drive(observe(status, retrain=spec), **answers)
    waiting = wire(step)["retrain"]["pendingTrigger"]
    assert (waiting["reason"], waiting["replaces"]) == ("schedule", RUN)
