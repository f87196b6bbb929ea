"""The champion's bookkeeping next to a rollout: what ChampionRecorded says, and when it is news."""

from mlcd.api.v1alpha1 import ModelDeploymentStatus
from mlcd.reconcile import ChampionSkip, ChampionUpdate, champion_recorded, champion_step
from mlcd.reconcile.champion import changed

V1, V2 = "s3://models/iris/v1", "s3://models/iris/v2"
NOW = "2026-01-01T12:00:00Z"


def recorded(status: ModelDeploymentStatus) -> tuple:
    c = status.condition("ChampionRecorded")
    return c.status, c.reason, c.message, c.observed_generation


def test_the_first_deployment_and_a_promotion_are_recorded_with_their_reason():
    first = champion_step(ModelDeploymentStatus(phase="Ready", active_model=V1), deployment="iris")
    assert first == ChampionUpdate("s3://models/iris", 1, V1, "ModelDeployment iris: first deployment")
    served = ModelDeploymentStatus(phase="Ready", active_model=V2, champion_model=V1)
    promoted = champion_step(served, deployment="iris")
    assert promoted == ChampionUpdate("s3://models/iris", 2, V2,
                                      f"ModelDeployment iris: promoted from canary (was {V1})")

    done = champion_recorded(served, promoted, None, generation=4, now=NOW)
    assert done.champion_model == V2 and served.champion_model == V1 and served.condition("ChampionRecorded") is None
    assert recorded(done) == ("True", "Recorded", "v2 is the champion of s3://models/iris", 4)


def test_a_failed_write_and_a_skip_say_why_for_their_generation():
    served = ModelDeploymentStatus(phase="Ready", active_model=V2, champion_model=V1)
    failed = champion_recorded(served, champion_step(served, deployment="iris"), "AccessDenied", generation=3, now=NOW)
    assert failed.champion_model == V1
    assert recorded(failed) == ("False", "ChampionWriteFailed",
                                f"{V2} is served but not recorded as the champion: AccessDenied", 3)
    skip = ChampionSkip("gs://b/m", "gs://b/m is not a version of an mlcd registry")
    assert recorded(champion_recorded(served, skip, None, generation=5, now=NOW)) == (
        "False", "NotInRegistry", "gs://b/m is not a version of an mlcd registry", 5)


def test_only_a_new_champion_recorded_verdict_is_news():
    served = ModelDeploymentStatus(phase="Ready", active_model=V1)
    step = champion_step(served, deployment="iris")
    failed = champion_recorded(served, step, "AccessDenied", generation=1, now=NOW)
    assert changed(served, failed)  # no condition before
    later = champion_recorded(failed, step, "AccessDenied", generation=2, now="2026-01-02T00:00:00Z")
    assert not changed(failed, later)
    assert changed(failed, champion_recorded(failed, step, "SlowDown", generation=1, now=NOW))  # another message
    done = champion_recorded(failed, step, None, generation=1, now=NOW)
    assert changed(failed, done)  # another status and reason
    assert not changed(served, served)
    other_reason = done.model_copy(deep=True)
    other_reason.conditions[0].reason = "Other"
    assert changed(done, other_reason)


def test_a_model_outside_a_registry_is_skipped_with_the_form_a_registry_uri_has():
    served = ModelDeploymentStatus(phase="Ready", active_model="gs://models/iris/v1")
    assert champion_step(served, deployment="iris") == ChampionSkip(
        "gs://models/iris/v1", "gs://models/iris/v1 is not a version of an mlcd registry (s3://BUCKET/PATH/vN), so "
                               "there is no champion to record; KServe serves it all the same")
    in_s3 = ModelDeploymentStatus(phase="Ready", active_model=V1)
    assert champion_step(in_s3, deployment="iris", file_allowed=True) == ChampionUpdate(
        "s3://models/iris", 1, V1, "ModelDeployment iris: first deployment")
