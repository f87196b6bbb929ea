"""Caps on runs in flight (mlcd.reconcile.admission and its bookkeeping in the handler), and schedule spread."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from mlcd.api.v1alpha1.trainingrun import RetrainSpec, TrainingRunStatus
from mlcd.api.v1alpha1.vocabulary import EventReason, Reason, TrainingRunCondition
from mlcd.handlers.admission import RESERVED_SECONDS, AdmissionControl
from mlcd.reconcile import retrain
from mlcd.reconcile.admission import Caps, Verdict, Waiter, spread_offset, verdict
from mlcd.reconcile.trainingrun import Admit, Observed, Submit
from tests.unit.test_trainingrun_plan import BASE, SPEC, T0, created, drive, wire


def w(since: int, namespace: str = "a", name: str | None = None) -> Waiter:
    return Waiter(f"2030-01-01T00:00:{since:02d}Z", namespace, name or f"tr{since}")


def test_no_cap_admits_everything():
    assert verdict(w(1), [w(0)], {"a": 10_000}, Caps()) == Verdict(True, 0)


def test_the_cluster_cap_admits_the_earliest_waiters_first():
    waiting = [w(0), w(1), w(2)]
    caps = Caps(total=5)
    assert verdict(w(0), waiting, {"a": 3}, caps).admitted
    assert verdict(w(1), waiting, {"a": 3}, caps).admitted
    late = verdict(w(2), waiting, {"a": 3}, caps)
    assert (late.admitted, late.position) == (False, 1)
    assert late.message == "queued behind the runs queued before it; the run starts when a slot is free"
    full = verdict(w(0), waiting, {"a": 5}, caps)
    assert (full.admitted, full.position) == (False, 1)
    assert full.message == "queued behind the cluster's cap of 5 runs in flight; the run starts when a slot is free"


def test_a_namespace_at_its_cap_does_not_hold_back_the_others():
    caps = Caps(total=10, per_namespace=2)
    waiting = [w(0, "a"), w(1, "a"), w(2, "b")]
    in_flight = {"a": 2}
    blocked = verdict(w(0, "a"), waiting, in_flight, caps)
    assert not blocked.admitted
    assert blocked.message.startswith("queued behind namespace a's cap of 2 runs in flight")
    assert verdict(w(2, "b"), waiting, in_flight, caps).admitted


def test_the_per_namespace_cap_counts_the_slots_given_to_earlier_waiters():
    caps = Caps(per_namespace=2)
    waiting = [w(0), w(1), w(2)]
    assert verdict(w(1), waiting, {"a": 0}, caps).admitted
    assert not verdict(w(2), waiting, {"a": 0}, caps).admitted


def test_a_namespace_with_nothing_in_flight_has_its_whole_cap():
    caps = Caps(per_namespace=1)
    assert verdict(w(0, "b"), [], {"a": 1}, caps).admitted
    queued = verdict(w(1, "b"), [w(0, "b")], {"a": 1}, caps)
    assert queued == Verdict(False, 1, "queued behind the runs queued before it; the run starts when a slot is free")


def test_a_waiters_position_counts_every_waiter_ahead_of_it_that_cannot_start():
    waiting = [w(0), w(1), w(2), w(3, "b")]
    caps = Caps(total=3)
    assert verdict(w(3, "b"), waiting, {"a": 3}, caps).position == 4
    assert verdict(w(2), waiting, {"a": 2}, caps).position == 2  # w(0) takes the free slot


def test_spread_offset_is_fixed_per_object_and_inside_the_window():
    offsets = [spread_offset(f"uid-{i}", 600) for i in range(1000)]
    assert all(0 <= o < 600 for o in offsets)
    assert offsets == [spread_offset(f"uid-{i}", 600) for i in range(1000)]
    assert len(set(offsets)) > 400  # spread, not bunched
    assert spread_offset("uid-1", 0) == spread_offset("uid-1", 1) == spread_offset("uid-1", -5) == 0
    # The offset of an object is the same in every operator version: its runs keep their time across upgrades.
    assert (spread_offset("uid-1", 600), spread_offset("uid-1", 86400)) == (397, 20797)


# --- the plan --------------------------------------------------------------------------------------------------


def capped(status: dict | None = None, **fields) -> Observed:
    return Observed("iris", "default", "uid-1", 1, copy.deepcopy(SPEC), TrainingRunStatus.model_validate(status or {}),
                    T0, registry_base=BASE, capped=True, file_uris_allowed=True, **fields)


def test_a_queued_submission_waits_with_a_condition_and_one_event():
    queued = Verdict(False, 3, "queued behind the cluster's cap of 5 runs in flight; the run starts when a slot "
                                "is free")
    step, asked = drive(capped(), Admit=queued, Submit=created)
    assert [type(a) for a in asked] == [type(asked[0]), Admit]
    assert not any(isinstance(a, Submit) for a in asked)
    status = wire(step)
    submitted = next(c for c in status["conditions"] if c["type"] == TrainingRunCondition.SUBMITTED)
    assert (submitted["status"], submitted["reason"]) == ("False", Reason.QUEUED)
    assert status["phase"] == "Pending" and status["message"] == queued.message
    assert [e.reason for e in step.events] == [EventReason.QUEUED]
    assert step.effects == ()  # the poll timer asks again; no error is raised for waiting

    again, _ = drive(capped(status), Admit=queued, Submit=created)
    assert again.events == () and not again.write  # written once while it waits


def test_an_admitted_submission_submits():
    step, asked = drive(capped(), Admit=Verdict(True, 0), Submit=created)
    assert isinstance(asked[-1], Submit) and asked[-2] == Admit("spec", asked[-1].run_name)
    assert wire(step)["pipeline"]["runName"] == asked[-1].run_name


def test_a_queued_retraining_trigger_keeps_its_key_until_admitted():
    status = {"phase": "Succeeded", "observedGeneration": 1,
              "pipeline": {"runName": "old", "generation": 1, "registryUri": BASE},
              "retrain": {"pendingTrigger": {"key": "schedule-1893456000", "reason": "schedule",
                                             "at": "2030-01-01T00:00:00Z"}}}
    spec = {**copy.deepcopy(SPEC), "retrain": {"schedule": "0 3 * * *"}}
    observed = Observed("iris", "default", "uid-1", 1, spec, TrainingRunStatus.model_validate(status), T0,
                        registry_base=BASE, capped=True, file_uris_allowed=True)
    queued = Verdict(False, 1, "queued behind the runs queued before it; the run starts when a slot is free")
    step, _ = drive(observed, Admit=queued, Submit=created)
    assert wire(step)["retrain"]["pendingTrigger"]["key"] == "schedule-1893456000"
    assert wire(step)["phase"] == "Succeeded"  # the old run is not polled again as if it were in flight
    step, asked = drive(observed, Admit=Verdict(True, 0), Submit=created)
    assert [a.trigger for a in asked if isinstance(a, Submit)] == ["schedule-1893456000"]
    assert "pendingTrigger" not in (wire(step).get("retrain") or {})


# --- the handler's books ------------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_admitted_runs_hold_a_slot_until_the_watch_shows_them_in_flight():
    clock = Clock()
    control = AdmissionControl(Caps(total=1), waiter_seconds=60, clock=clock)
    assert control.request("a", "one", "t1", {}).admitted
    assert not control.request("a", "two", "t2", {}).admitted  # "one" is reserved, not yet in the index
    assert not control.request("a", "two", "t2", {"a": ["one"]}).admitted  # now in the index
    assert control.request("a", "two", "t2", {}).admitted  # "one" finished: out of the index
    clock.now += RESERVED_SECONDS + 1
    assert control.request("a", "three", "t3", {}).admitted  # a reservation the watch never showed expires


def test_waiters_that_stop_asking_are_forgotten_and_order_is_kept():
    clock = Clock()
    control = AdmissionControl(Caps(total=1), waiter_seconds=60, clock=clock)
    full = {"a": ["busy"]}
    assert not control.request("a", "first", "2030-01-01T00:00:01Z", full).admitted
    assert not control.request("a", "second", "2030-01-01T00:00:02Z", full).admitted
    assert not control.request("a", "second", "2030-01-01T00:00:02Z", {}).admitted  # "first" is ahead
    assert control.request("a", "first", "2030-01-01T00:00:01Z", {}).admitted
    clock.now += 61
    control.forget("a", "first")
    assert control.request("a", "late", "2030-01-01T00:00:09Z", {}).admitted  # "second" went quiet


def test_without_caps_nothing_is_kept():
    control = AdmissionControl(Caps(), waiter_seconds=60)
    assert control.request("a", "one", "t", {"a": ["x"] * 1000}).admitted
    assert control._waiting == {} and control._reserved == {}


# --- schedule spread -----------------------------------------------------------------------------------------


def test_a_spread_schedule_fires_its_slot_offset_seconds_late_under_the_same_key():
    spec = RetrainSpec.model_validate({"schedule": "0 3 * * *"})
    seen_at = datetime(2030, 1, 1, 2, 0, tzinfo=UTC)
    status = retrain.evaluate(spec, TrainingRunStatus(), retrain.Observed(seen_at), 1, 300).status
    slot = datetime(2030, 1, 1, 3, 0, tzinfo=UTC)
    early = retrain.evaluate(spec, status, retrain.Observed(slot + timedelta(seconds=299)), 1, 300)
    assert early.status.last_retrain is None
    assert early.status.next_scheduled_run == "2030-01-01T03:05:00Z"
    late = retrain.evaluate(spec, status, retrain.Observed(slot + timedelta(seconds=300)), 1, 300)
    assert late.status.last_retrain.key == f"schedule-{int(slot.timestamp())}"
