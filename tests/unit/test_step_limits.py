"""Resources, accelerator, placement and timeouts reach the right tasks of the compiled pipeline, set as
KFP's own setters and kfp-kubernetes set them, and the result parses as KFP's pipeline and platform specs."""

import copy
import re

import pytest
from google.protobuf import json_format
from kfp.kubernetes import kubernetes_executor_config_pb2
from kfp.pipeline_spec import pipeline_spec_pb2

from mlcd.api.v1alpha1.validation import validate_document
from mlcd.compiler import compile_trainingrun
from mlcd.compiler.parameters import kfp_cpu, kfp_memory
from mlcd.local import ignored_locally
from tests.unit.test_validation import BASE

PLACED = {
    "resources": {"train": {"requests": {"cpu": "1500m", "memory": "2Gi"},
                            "limits": {"cpu": "3", "memory": "6Gi", "nvidia.com/gpu": "1"}},
                  "steps": {"limits": {"memory": "1500M"}}},
    "nodeSelector": {"mlcd.io/pool": "training"},
    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
    "timeouts": {"trainSeconds": 900, "stepSeconds": 120, "runSeconds": 1800},
    "tuning": {"parameters": {"max_depth": {"values": [2, 3]}}, "parallelism": 2},
}


def trainingrun(**spec):
    doc = copy.deepcopy(BASE)
    doc["spec"].update(spec)
    result = validate_document(doc)
    assert result.ok, result.problems
    return result.resource


def executors_by_task(ir: dict) -> dict[str, str]:
    """task name (its display name) -> executor label, over the root and every sub-DAG."""
    out = {}
    for comp in [ir["root"], *ir["components"].values()]:
        for task in comp.get("dag", {}).get("tasks", {}).values():
            executor = ir["components"][task["componentRef"]["name"]].get("executorLabel")
            if executor:
                out[task["taskInfo"]["name"]] = executor
    return out


def resolved(ir: dict, placeholder: str):
    """The value a `{{$.inputs.parameters['pipelinechannel--NAME']}}` resource placeholder takes: NAME's default."""
    name = re.fullmatch(r"\{\{\$\.inputs\.parameters\['pipelinechannel--(\w+)'\]\}\}", placeholder)[1]
    return ir["root"]["inputDefinitions"]["parameters"][name]["defaultValue"]


@pytest.fixture(scope="module")
def compiled():
    return compile_trainingrun(trainingrun(**PLACED))


def test_the_ir_parses_as_kfp_pipeline_and_platform_specs(compiled):
    json_format.ParseDict(compiled.ir, pipeline_spec_pb2.PipelineSpec())
    json_format.ParseDict(compiled.platform_spec, pipeline_spec_pb2.PlatformSpec())
    for config in compiled.platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"].values():
        json_format.ParseDict(config, kubernetes_executor_config_pb2.KubernetesExecutorConfig())


def test_train_and_tune_get_the_train_resources_and_the_accelerator_the_rest_the_step_resources(compiled):
    ir = compiled.ir
    executors = executors_by_task(ir)
    assert {"ingest", "check-data", "tune", "select", "train", "evaluate", "gate", "register", "rejected"} \
        == set(executors)
    for task, executor in executors.items():
        resources = ir["deploymentSpec"]["executors"][executor]["container"]["resources"]
        values = {key: resolved(ir, value) for key, value in resources.items() if key != "accelerator"}
        if task in ("train", "tune"):
            assert values == {"resourceCpuRequest": "1500m", "resourceCpuLimit": "3",
                              "resourceMemoryRequest": "2Gi", "resourceMemoryLimit": "6Gi"}, task
            accelerator = resources["accelerator"]
            assert resolved(ir, accelerator["resourceType"]) == "nvidia.com/gpu"
            assert resolved(ir, accelerator["resourceCount"]) == "1"
        else:
            # The steps' defaults fill what the spec leaves out; a memory limit given in M is in bytes.
            assert values == {"resourceCpuRequest": "250m", "resourceCpuLimit": "1",
                              "resourceMemoryRequest": "512Mi", "resourceMemoryLimit": "1500M"}, task
            assert "accelerator" not in resources, task


def test_every_step_has_the_node_selector_tolerations_and_its_timeout(compiled):
    platform = compiled.platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    executors = executors_by_task(compiled.ir)
    defaults = compiled.ir["root"]["inputDefinitions"]["parameters"]
    assert defaults["node_selector"]["defaultValue"] == {"mlcd.io/pool": "training"}
    assert defaults["tolerations"]["defaultValue"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    for task, executor in executors.items():
        config = platform[executor]
        assert config["activeDeadlineSeconds"] == ("900" if task in ("train", "tune") else "120"), task
        selector = config["nodeSelector"]["nodeSelectorJson"]["componentInputParameter"]
        toleration = config["tolerations"][0]["tolerationJson"]["componentInputParameter"]
        assert selector.endswith("node_selector") and toleration.endswith("tolerations"), task


def test_defaults_bound_every_step_without_any_setting():
    compiled = compile_trainingrun(trainingrun())
    ir = compiled.ir
    platform = compiled.platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    for task, executor in executors_by_task(ir).items():
        resources = ir["deploymentSpec"]["executors"][executor]["container"]["resources"]
        limits = (resolved(ir, resources["resourceCpuLimit"]), resolved(ir, resources["resourceMemoryLimit"]))
        assert limits == (("2", "4Gi") if task == "train" else ("1", "2Gi")), task
        assert platform[executor]["activeDeadlineSeconds"] == ("7200" if task == "train" else "1800"), task
        assert "nodeSelector" not in platform[executor] and "tolerations" not in platform[executor]


def test_resource_values_are_parameters_and_timeouts_part_of_the_shape():
    small = compile_trainingrun(trainingrun(resources={"train": {"limits": {"cpu": "3"}}}))
    large = compile_trainingrun(trainingrun(resources={"train": {"limits": {"cpu": "6"}}}))
    strip = lambda ir: {k: v for k, v in ir.items() if k != "root"}  # noqa: E731
    assert strip(small.ir) == strip(large.ir) and small.platform_spec == large.platform_spec
    slower = compile_trainingrun(trainingrun(timeouts={"trainSeconds": 60}))
    assert slower.platform_spec != small.platform_spec


@pytest.mark.parametrize(("quantity", "cpu", "memory"), [
    ("1", "1", "1"), ("0.5", "500m", "1"), ("250m", "250m", "1"), ("1k", "1000", "1000"),
    ("2Gi", "2147483648", "2Gi"), ("1.5Gi", "1610612736", "1610612736"), ("100m", "100m", "1")])
def test_quantities_are_written_as_kfp_takes_them(quantity, cpu, memory):
    assert kfp_cpu(quantity) == cpu
    assert kfp_memory(quantity) == memory


def problems(**spec) -> dict[str, str]:
    doc = copy.deepcopy(BASE)
    doc["spec"].update(spec)
    return {p.path: p.message for p in validate_document(doc).problems}


def test_bad_resources_placement_and_timeouts_are_refused_with_their_paths():
    found = problems(resources={"train": {"requests": {"cpu": "4", "nvidia.com/gpu": "1"}},
                                "steps": {"requests": {"cpu": "2"}, "limits": {"cpu": "1", "amd.com/gpu": "0.5"}}},
                     nodeSelector={"bad key!": "x"}, tolerations=[{"operator": "Equal"}],
                     timeouts={"runSeconds": 0})
    assert found["spec.resources.train"].startswith("requests.nvidia.com/gpu: only cpu and memory")
    assert found["spec.resources.steps"] == "limits.amd.com/gpu: an accelerator count is a whole number of at least 1"
    assert "not a label key" in found["spec.nodeSelector"]
    assert found["spec.tolerations[0]"] == "a toleration without a key needs operator Exists"
    assert "greater than or equal to 1" in found["spec.timeouts.runSeconds"]
    assert problems(resources={"steps": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}}) == {
        "spec.resources.steps": "requests.memory 2Gi is above limits.memory 1Gi"}
    assert "spec.resources.train.limits.cpu" in problems(resources={"train": {"limits": {"cpu": "lots"}}})


def test_a_request_above_the_default_limit_raises_the_limit_with_it():
    tr = trainingrun(resources={"train": {"requests": {"cpu": "8"}}})
    assert tr.spec.resources.train.effective({"requests": {"cpu": "1", "memory": "1Gi"},
                                               "limits": {"cpu": "2", "memory": "4Gi"}})["limits"]["cpu"] == "8"


def test_mlcd_run_names_what_the_local_runner_ignores():
    assert ignored_locally(trainingrun(**PLACED)) == (
        "the local runner ignores resources (cpu and memory requests and limits, nvidia.com/gpu), "
        "timeouts (step and run), nodeSelector, tolerations")
    assert ignored_locally(trainingrun()) == (
        "the local runner ignores resources (cpu and memory requests and limits), timeouts (step and run)")
