"""1,000 generated specs and documents (hypothesis, derandomized): validation, compilation and the
operator's handler logic answer every one, and every refusal names where (issue 15)."""

from __future__ import annotations

import copy
import json
from collections import Counter
from datetime import UTC, datetime

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlcd.api.v1alpha1 import ModelDeploymentStatus, TrainingRunStatus
from mlcd.api.v1alpha1.conditions import CONDITION_MESSAGE_LIMIT
from mlcd.api.v1alpha1.validation import validate_document
from mlcd.api.v1alpha1.vocabulary import Reason
from mlcd.compiler import compile_trainingrun
from mlcd.documents import load_file
from mlcd.handlers.trainingrun import check_spec
from mlcd.reconcile import decide, not_applied
from mlcd.reconcile.trainingrun import (
    CheckDrift,
    FindChampion,
    Fingerprint,
    Observed,
    Poll,
    Problem,
    ReadRecord,
    RunCreated,
    RunSeen,
    Stop,
    StorageFound,
    StorageIdentity,
    Submit,
    Validate,
    plan,
)

EXAMPLES = 1000
NOW = datetime(2030, 1, 1, tzinfo=UTC)
TRAININGRUN = {
    "apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": "fuzz"},
    "spec": {
        "data": {"source": "builtin://iris", "target": "target", "features": [], "testFraction": 0.2, "seed": 42,
                 "checks": {"minRows": 50, "maxMissingFraction": 0.0}},
        "model": {"estimator": "RandomForestClassifier", "params": {"n_estimators": 10, "max_depth": 3},
                  "preprocessing": {"scale": False, "impute": "none", "oneHot": []}},
        "gates": [{"metric": "accuracy", "min": 0.9}, {"metric": "accuracy", "vsChampion": {"maxRegression": 0.0}}],
        "registry": {"uri": "s3://models/iris"},
        "deploy": {"modelDeployment": "iris"},
        "retrain": {"schedule": "0 3 * * *", "onDataChange": True,
                    "drift": {"current": "s3://data/iris/latest.csv", "method": "psi", "threshold": 0.2}},
    },
}
MODELDEPLOYMENT = {
    "apiVersion": "mlcd.io/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "fuzz", "uid": "u1"},
    "spec": {"model": {"uri": "s3://models/iris/v3", "format": "sklearn"},
             "serving": {"protocolVersion": "v2", "minReplicas": 1, "maxReplicas": 3,
                         "resources": {"requests": {"cpu": "100m", "memory": "256Mi"}, "limits": {"cpu": "1"}}},
             "rollout": {"canaryTrafficPercent": 10, "rollbackOnFailure": True, "progressDeadlineSeconds": 600}},
}
# Values a careless or hostile author writes where a field is expected.
INTERESTING = [
    "StackingClassifier", "VotingRegressor", "OneVsRestClassifier", "StandardScaler", "os.system", "LinearSVC",
    "../../x", "a/b", "Iris", "lots", "1e1000000", "Mi", "+", "-1", "builtin://nope", "s3://", "file://rel",
    "https://x/y", "0 3 * *", "@daily", "Mars/Olympus", "", " ", "\x00", "é" * 300, "x" * 5000,
    float("nan"), float("inf"), -float("inf"), 2**64, -(2**63), 1e308, -0.0, True, None, [], {}, [None],
    {"estimator": "RandomForestClassifier"}, [["rf", "RandomForestClassifier"]],
]
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=8,
)
values = st.one_of(st.sampled_from(INTERESTING), json_values)


def paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, child in node.items():
            yield from paths(child, (*prefix, key))
    elif isinstance(node, list):
        for i, child in enumerate(node):
            yield from paths(child, (*prefix, i))


def fresh_value(data):
    """A drawn value of its own: a later mutation must never change the shared INTERESTING examples (the
    next test case would then draw from other data, which hypothesis refuses as flaky)."""
    return copy.deepcopy(data.draw(values))


def mutate(data, doc):
    """Replace, delete or add one value somewhere in the document (the root included)."""
    path = data.draw(st.sampled_from(list(paths(doc))))
    action = data.draw(st.sampled_from(["replace", "delete", "add"]))
    if not path:
        return fresh_value(data) if action == "replace" else doc
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "replace":
        parent[last] = fresh_value(data)
    elif action == "delete":
        del parent[last]
    elif isinstance(parent[last], dict):
        parent[last][data.draw(st.sampled_from(["extra", "n_estimatorz", "cpu", "min", "<<"]))] = fresh_value(data)
    elif isinstance(parent[last], list):
        parent[last].append(fresh_value(data))
    return doc


@st.composite
def documents(draw):
    doc = copy.deepcopy(draw(st.sampled_from([TRAININGRUN, MODELDEPLOYMENT])))
    data = draw(st.data())
    for _ in range(draw(st.integers(1, 4))):
        doc = mutate(data, doc)
    return doc


def yaml_text(draw, doc) -> bytes:
    try:
        text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, ValueError):
        text = json.dumps(doc, default=str)
    raw = text.encode("utf-8", "surrogatepass")
    where = draw(st.integers(0, len(raw)))
    noise = draw(st.sampled_from([b"", b"\xff", b"&a [*a]", b"\n  - ", b": :", b"{[", b"\t", b"*x", b"\x00",
                                  b"\nspec: {}\n", b"\n---\n"]))
    return raw[:where] + noise + raw[where:]


ANSWERS = {
    Fingerprint: Problem("the data cannot be read"),
    FindChampion: Problem("no champion"),
    CheckDrift: Problem("no champion"),
    Poll: RunSeen("RUNNING", False, "step train", {}),
    ReadRecord: {},
    Stop: None,
    StorageIdentity: StorageFound("mlcd-storage"),  # the namespace has its storage Secret
}


def through_trainingrun_handler(spec: dict, counts: Counter) -> None:
    observed = Observed("fuzz", "default", "uid-1", 1, spec, TrainingRunStatus(), NOW, registry_base="file:///r")
    step = plan(observed)
    for _ in range(8):
        if step.final:
            break
        for ask in step.asks:
            if isinstance(ask, Validate):
                answer = check_spec(observed)
            elif isinstance(ask, Submit):
                compiled = compile_trainingrun(ask.resource, trigger=ask.trigger, registry_uri=ask.registry_uri,
                                               run_key=ask.run_name)
                answer = RunCreated(ask.run_name, "id", "", False, compiled.spec_hash, ask.registry_uri or "")
                counts["compiled by the handler"] += 1
            else:
                answer = ANSWERS[type(ask)]
            observed = observed.answered(ask, answer)
        step = plan(observed)
    assert step.final
    wire = step.status.to_wire()
    json.dumps(wire, allow_nan=False)
    assert all(len(c["message"]) <= CONDITION_MESSAGE_LIMIT for c in wire.get("conditions", []))
    counts[f"handler: {step.status.phase or 'no phase'}"] += 1


def through_modeldeployment_handler(md: dict, counts: Counter) -> None:
    invalid = validate_document({"apiVersion": "mlcd.io/v1alpha1", "kind": "ModelDeployment", "spec": md.get("spec"),
                                 "metadata": {"name": "fuzz", "namespace": "default"}}).problems
    decision = (not_applied(md, Reason.INVALID_SPEC, "; ".join(map(str, invalid)), NOW) if invalid
                else decide(md, None, NOW))
    assert isinstance(decision.status, ModelDeploymentStatus)
    json.dumps(decision.status.to_wire(), allow_nan=False)
    counts[f"handler: {decision.status.phase}"] += 1


def check_document(doc, counts: Counter) -> None:
    result = validate_document(doc)
    for problem in result.problems:
        assert problem.path and problem.message, problem
    counts["valid" if result.ok else "refused"] += 1
    counts["problems"] += len(result.problems)
    if result.ok and doc["kind"] == "TrainingRun":
        compile_trainingrun(result.resource, registry_uri="file:///r")
        counts["compiled"] += 1
    kind = doc.get("kind") if isinstance(doc, dict) else None
    spec = doc.get("spec") if isinstance(doc, dict) else None
    if kind == "TrainingRun":
        through_trainingrun_handler(spec if isinstance(spec, dict) else {}, counts)
    elif kind == "ModelDeployment" and isinstance(spec, dict):
        # From the cluster, metadata is the API server's: a name, a uid, a generation.
        meta = {"name": "fuzz", "namespace": "default", "uid": "u1", "generation": 1}
        through_modeldeployment_handler({"kind": kind, "metadata": meta, "spec": spec}, counts)


def test_a_thousand_generated_documents_get_an_answer_and_every_refusal_a_path(tmp_path, figures):
    counts: Counter = Counter()
    file = tmp_path / "fuzz.yaml"

    @settings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck))
    @given(doc=documents(), as_file=st.booleans(), data=st.data())
    def check(doc, as_file, data):
        counts["examples"] += 1
        if not as_file:
            check_document(doc, counts)
            return
        file.write_bytes(yaml_text(data.draw, doc))
        loaded = load_file(file)
        counts["files"] += 1
        for document in loaded:
            lines = document.problems()
            assert all(line.startswith(str(file)) and len(line) > len(str(file)) + 2 for line in lines), lines
            counts["file documents refused" if lines else "file documents valid"] += 1

    check()
    figures(f"{EXAMPLES} generated: " + ", ".join(f"{k}={v}" for k, v in sorted(counts.items())))
    assert counts["examples"] >= EXAMPLES
    assert counts["valid"] > 0 and counts["refused"] > 0 and counts["files"] > 0
