"""A hand-off only ever targets a ModelDeployment in the TrainingRun's own namespace: the spec names a
ModelDeployment, never a namespace; the compiled pipeline takes the namespace from the TrainingRun's
metadata; the step writes there and nowhere else."""

import copy

import pytest

from mlcd.api.v1alpha1.validation import validate_document
from mlcd.compiler import compile_trainingrun, pipeline_arguments
from tests.unit.test_validation import BASE

pytestmark = pytest.mark.usefixtures("cold_compiler")


def trainingrun(namespace: str, model_deployment: str = "iris"):
    doc = copy.deepcopy(BASE)
    doc["metadata"]["namespace"] = namespace
    doc["spec"]["deploy"] = {"modelDeployment": model_deployment}
    return doc


def task_of(ir: dict, name: str) -> tuple[list[str], dict]:
    """The task ``name`` wherever its condition branches nest it: the components on the way, and the task."""
    def search(dag: dict, path: list[str]):
        for task_name, task in dag["tasks"].items():
            if task_name == name:
                return path, task
            inner = ir["components"][task["componentRef"]["name"]].get("dag")
            if inner and (found := search(inner, [*path, task_name])):
                return found
        return None

    found = search(ir["root"]["dag"], [])
    assert found, f"no task {name}"
    return found


def root_parameter(ir: dict, path: list[str], binding: dict) -> str:
    """The pipeline parameter a task input is bound to, followed up through the condition branches."""
    dag, chain = ir["root"]["dag"], []
    for step in path:  # the tasks from the root down to the task's own component
        chain.append(dag["tasks"][step])
        dag = ir["components"][dag["tasks"][step]["componentRef"]["name"]]["dag"]
    assert set(binding) == {"componentInputParameter"}, f"not bound to a pipeline input: {binding}"
    name = binding["componentInputParameter"]
    for task in reversed(chain):
        outer = task["inputs"]["parameters"][name]
        assert set(outer) == {"componentInputParameter"}, outer
        name = outer["componentInputParameter"]
    return name


def test_the_handoff_targets_the_trainingruns_namespace_and_takes_no_other():
    validated = validate_document(trainingrun("team-a"))
    assert validated.ok, validated.problems
    compiled = compile_trainingrun(validated.resource)
    path, handoff = task_of(compiled.ir, "handoff")
    inputs = handoff["inputs"]["parameters"]
    # The step's namespace and name are the run's parameters, not constants baked into the shared structure.
    assert root_parameter(compiled.ir, path, inputs["namespace"]) == "run_namespace"
    assert root_parameter(compiled.ir, path, inputs["model_deployment"]) == "model_deployment"
    args = pipeline_arguments(validated.resource, trigger="spec", registry_uri="s3://team-a-models/iris", run_key="k")
    assert (args["run_namespace"], args["model_deployment"]) == ("team-a", "iris")
    # The same spec in team-b hands off in team-b.
    other = validate_document(trainingrun("team-b")).resource
    assert pipeline_arguments(other, trigger="spec", registry_uri="s3://team-b-models/iris",
                              run_key="k")["run_namespace"] == "team-b"


@pytest.mark.parametrize("target", ["team-b/iris", "team-b.iris", "Iris", "iris/"])
def test_a_modeldeployment_named_with_a_namespace_is_refused_with_its_path(target):
    result = validate_document(trainingrun("team-a", model_deployment=target))
    assert not result.ok
    assert {p.path: p.message for p in result.problems} == {
        "spec.deploy.modelDeployment": f"{target!r} is not a valid Kubernetes name (lowercase letters, digits and "
                                       "'-')"}


def test_the_step_writes_the_modeldeployment_in_the_namespace_it_is_given(monkeypatch):
    from mlcd_components import handoff

    class Api:
        def __init__(self):
            self.calls: list[tuple] = []

        def patch_namespaced_custom_object(self, group, version, namespace, plural, name, body):
            self.calls.append(("patch", namespace, plural, name))

    api = Api()
    monkeypatch.setattr(handoff, "_custom_objects_api", lambda: api)
    done = handoff.run("iris", "team-a", "s3://team-a-models/iris/v1", "ab" * 32, "iris", promote=False)
    assert api.calls == [("patch", "team-a", "modeldeployments", "iris")]
    assert (done["namespace"], done["modelDeployment"], done["action"]) == ("team-a", "iris", "patched")
