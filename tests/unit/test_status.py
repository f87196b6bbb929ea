"""Typed status on the wire: what the one status writer sends (mlcd.reconcile.status) and the conditions list."""

from mlcd.api.v1alpha1 import ModelDeploymentStatus, TrainingRunStatus
from mlcd.api.v1alpha1.vocabulary import TrainingRunCondition
from mlcd.reconcile.status import Event, changed, clean, merge_patch, status_patch

STORED = {"phase": "Succeeded", "observedGeneration": 2, "message": "registered file:///r/v2",
          "conditions": [{"type": "Ready", "status": "True", "reason": "Succeeded", "message": "",
                          "lastTransitionTime": "2030-01-01T00:00:00Z", "observedGeneration": 2}],
          "pipeline": {"runName": "r", "generation": 2, "trigger": "spec"},
          "retrain": {"pendingTrigger": {"key": "data-1", "reason": "data", "at": "2030-01-01T00:00:00Z"},
                      "dataFingerprint": "etag:a"},
          "nextScheduledRun": "2030-01-01T01:00:00Z"}


def test_a_status_read_and_written_back_is_unchanged():
    status = TrainingRunStatus.model_validate(STORED)
    assert status.to_wire() == STORED
    assert not changed(status, TrainingRunStatus.model_validate(STORED))
    assert ModelDeploymentStatus.model_validate({}).to_wire() == {}


def test_the_writer_sends_the_whole_status_and_a_null_for_each_field_it_dropped_at_any_depth():
    new = TrainingRunStatus.model_validate(STORED)
    new.retrain.pending_trigger = None
    new.next_scheduled_run = None
    patch = status_patch(STORED, new)
    assert patch["nextScheduledRun"] is None and patch["retrain"] == {"pendingTrigger": None,
                                                                      "dataFingerprint": "etag:a"}
    assert patch["phase"] == "Succeeded" and patch["conditions"] == STORED["conditions"]  # lists go whole


def test_conditions_are_one_per_type_and_keep_their_transition_time_when_the_status_holds():
    status = TrainingRunStatus.model_validate(STORED)
    status.set_condition(TrainingRunCondition.READY, True, "Succeeded", "again", 2, now="2030-02-01T00:00:00Z")
    assert len(status.conditions) == 1 and status.condition("Ready").last_transition_time == "2030-01-01T00:00:00Z"
    status.set_condition(TrainingRunCondition.READY, False, "RunFailed", "", 3, now="2030-02-01T00:00:00Z")
    assert status.condition("Ready").last_transition_time == "2030-02-01T00:00:00Z" and not status.is_true("Ready")
    status.set_condition(TrainingRunCondition.VALID, True, "SpecValid", now="2030-02-01T00:00:00Z")
    assert [c.type for c in status.conditions] == ["Ready", "Valid"]
    status.drop_condition(TrainingRunCondition.VALID)
    assert [c["type"] for c in status.to_wire()["conditions"]] == ["Ready"]


def test_event_messages_are_bounded():
    assert len(Event.warning("RunFailed", "x" * 5000).message) == 1000
    assert Event.normal("RunSubmitted", "ok") == ("Normal", "RunSubmitted", "ok")


def test_the_crds_key_conditions_by_type():
    from mlcd.api.crd import modeldeployment_crd, trainingrun_crd

    for crd in (trainingrun_crd(), modeldeployment_crd()):
        status = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"]
        conditions = status["properties"]["conditions"]
        assert conditions["x-kubernetes-list-type"] == "map"
        assert conditions["x-kubernetes-list-map-keys"] == ["type"]
        assert "type" in conditions["items"]["required"]


def test_a_warning_event_is_typed_and_keeps_its_reason():
    assert Event.warning("RunFailed", "boom") == ("Warning", "RunFailed", "boom")
    assert len(Event.normal("RunSubmitted", "y" * 5000).message) == 1000


def test_what_the_operator_remembers_writing_loses_its_nulls_at_every_depth():
    assert clean({"a": None, "b": {"c": None, "d": 1}, "e": [{"f": None, "g": 2}, 3]}) == {"b": {"d": 1},
                                                                                          "e": [{"g": 2}, 3]}


def test_a_field_that_changes_kind_is_replaced_whole():
    assert merge_patch({"a": {"b": 1}, "c": "x"}, {"a": "now a string", "c": {"d": 1}}) == {
        "a": "now a string", "c": {"d": 1}}


def test_the_previous_status_may_be_typed_or_as_read():
    new = TrainingRunStatus.model_validate(STORED)
    new.next_scheduled_run = None
    typed_patch = status_patch(TrainingRunStatus.model_validate(STORED), new)
    read_patch = status_patch({**STORED, "retrain": {**STORED["retrain"], "problem": None}}, new)
    assert typed_patch == read_patch and typed_patch["nextScheduledRun"] is None
    assert status_patch(None, new) == new.to_wire()
