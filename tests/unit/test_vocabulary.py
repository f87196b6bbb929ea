"""The vocabulary of status and Events: CamelCase words, unique in their group, used instead of literals."""

import re
from pathlib import Path

import pytest

import mlcd
from mlcd.api.v1alpha1 import vocabulary
from mlcd.api.v1alpha1.vocabulary import (
    DeploymentPhase,
    EventReason,
    ModelDeploymentCondition,
    Reason,
    TrainingRunCondition,
    TrainingRunPhase,
    words,
)

GROUPS = [TrainingRunPhase, DeploymentPhase, TrainingRunCondition, ModelDeploymentCondition, Reason, EventReason]
# The package as imported, not a path from this file: `make mutate` runs the tests against a copy of it.
OPERATOR = Path(mlcd.__file__).resolve().parent


@pytest.mark.parametrize("group", GROUPS, ids=lambda g: g.__name__)
def test_words_are_camel_case_and_unique_in_their_group(group):
    found = words(group)
    assert found, group
    assert all(re.fullmatch(r"[A-Z][A-Za-z0-9]*", w) for w in found.values()), found
    assert len(set(found.values())) == len(found), found


def test_a_condition_reason_fits_metav1_condition():
    from mlcd.api.v1alpha1.conditions import Condition

    for reason in words(Reason).values():
        Condition(type="Ready", status="True", reason=reason, last_transition_time="2030-01-01T00:00:00Z")


@pytest.mark.parametrize("module", ["reconcile/trainingrun.py", "reconcile/retrain.py", "reconcile/rollout.py",
                                    "handlers/trainingrun.py", "handlers/modeldeployment.py"])
def test_reconcilers_name_no_condition_type_or_event_reason_as_a_literal(module):
    text = (OPERATOR / module).read_text()
    vocabulary_words = {*words(TrainingRunCondition).values(), *words(EventReason).values()} - {"Failed"}
    literals = set(re.findall(r'"([A-Z][A-Za-z]+)"', text))
    assert not literals & vocabulary_words, f"{module}: use mlcd.api.v1alpha1.vocabulary for these"


def test_the_vocabulary_module_is_plain_strings():
    assert vocabulary.EventType.WARNING == "Warning" and TrainingRunPhase.IN_FLIGHT == ("Pending", "Running")
