"""spec.timeouts.runSeconds: the plan stops a run in flight past it, and the TrainingRun fails with
reason DeadlineExceeded (the pure rule; the handler only carries out the Stop)."""

from datetime import timedelta

from mlcd.api.v1alpha1.vocabulary import EventReason, Reason
from mlcd.reconcile.trainingrun import Poll, RunEnded, RunSeen, Stop, Unavailable, run_seconds
from tests.unit.test_trainingrun_plan import RUN, T0, condition, drive, in_flight, observe, reasons, wire


def test_a_run_within_its_deadline_is_only_polled():
    step, asked = drive(observe(in_flight(), now=T0 + timedelta(seconds=50), timeouts={"runSeconds": 100}),
                        Poll=RunSeen("RUNNING", False))
    assert [type(a) for a in asked] == [Poll] and wire(step)["phase"] == "Running"


def test_a_run_past_its_deadline_is_stopped_and_fails_with_deadline_exceeded():
    observed = observe(in_flight(), now=T0 + timedelta(seconds=100), timeouts={"runSeconds": 60})
    step, asked = drive(observed, Poll=RunSeen("RUNNING", False), Stop=None)
    assert [type(a) for a in asked] == [Poll, Stop] and asked[1].run.name == RUN
    status = wire(step)
    assert status["phase"] == "Failed"
    assert status["message"] == f"run {RUN} ran 130 s, past spec.timeouts.runSeconds (60 s), and was stopped"
    assert condition(status, "Ready")["reason"] == Reason.DEADLINE_EXCEEDED
    assert condition(status, "Trained") == {**condition(status, "Trained"), "status": "False",
                                            "reason": Reason.DEADLINE_EXCEEDED}
    assert reasons(step) == [EventReason.DEADLINE_EXCEEDED]
    assert step.effects == (RunEnded(RUN, "Failed", 130.0),)
    again, asked_again = drive(observe(status, now=T0 + timedelta(seconds=200), timeouts={"runSeconds": 60}))
    assert asked_again == [] and not again.write  # a failed generation stays failed: nothing polled or stopped


def test_a_stop_that_cannot_reach_the_backend_is_tried_again_and_changes_nothing():
    step, _ = drive(observe(in_flight(), now=T0 + timedelta(seconds=100), timeouts={"runSeconds": 60}),
                    Poll=RunSeen("RUNNING", False), Stop=Unavailable("down"))
    assert not step.write and step.events == ()


def test_a_run_that_finished_late_keeps_its_outcome_and_the_default_deadline_holds_without_a_setting():
    result = {"phase": "Succeeded", "model": {"uri": "file:///r/v1", "version": 1}}
    step, _ = drive(observe(in_flight(), now=T0 + timedelta(seconds=500), timeouts={"runSeconds": 60}),
                    Poll=RunSeen("SUCCEEDED", True, result=result))
    assert wire(step)["phase"] == "Succeeded"
    assert run_seconds({}) == 14400 and run_seconds({"timeouts": {"runSeconds": "x"}}) == 14400
    late, asked = drive(observe(in_flight(), now=T0 + timedelta(seconds=14401)), Poll=RunSeen("RUNNING", False),
                        Stop=None)
    assert [type(a) for a in asked] == [Poll, Stop] and wire(late)["phase"] == "Failed"
