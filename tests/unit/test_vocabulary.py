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


RECONCILERS = ["reconcile/trainingrun.py", "reconcile/retrain.py", "reconcile/rollout.py", "reconcile/champion.py",
               "reconcile/credentials.py", "reconcile/runtime.py", "reconcile/tenancy.py", "reconcile/polling.py",
               "handlers/trainingrun.py", "handlers/modeldeployment.py", "handlers/app.py"]


def literals(text: str) -> set[str]:
    """The CamelCase words of a module's string literals, in double or single quotes."""
    return {word for _, word in re.findall(r"""(["'])([A-Z][A-Za-z]+)\1""", text)}


@pytest.mark.parametrize("module", RECONCILERS)
def test_reconcilers_name_no_condition_type_or_event_reason_as_a_literal(module):
    vocabulary_words = {word for group in (TrainingRunCondition, ModelDeploymentCondition, Reason, EventReason)
                        for word in words(group).values()}
    found = literals((OPERATOR / module).read_text()) & vocabulary_words
    assert not found, f"{module}: use mlcd.api.v1alpha1.vocabulary for {sorted(found)}"


def test_the_literal_check_sees_a_condition_type_a_reason_and_an_event_reason():
    text = """set_condition("CredentialsReady", True, 'SecretFound'); record("ChampionSet"); \"\"\"Retraining's"""
    assert literals(text) == {"CredentialsReady", "SecretFound", "ChampionSet"}


def test_the_vocabulary_module_is_plain_strings():
    assert vocabulary.EventType.WARNING == "Warning" and TrainingRunPhase.IN_FLIGHT == ("Pending", "Running")
