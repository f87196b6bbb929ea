"""The compiler: deterministic bytes, structure shared by shape, values as parameters."""

import copy
import subprocess
import sys

import pytest
import yaml
from kfp import components

from mlcd.api.v1alpha1.validation import validate_document
from mlcd.compiler import compile_trainingrun
from mlcd.compiler.compile import _structure
from tests.unit.test_validation import BASE

pytestmark = pytest.mark.usefixtures("cold_compiler")  # each test sees the compiler build


def trainingrun(**spec_changes):
    doc = copy.deepcopy(BASE)
    doc["spec"].update(spec_changes)
    result = validate_document(doc)
    assert result.ok, result.problems
    return result.resource


def test_same_spec_same_bytes_and_a_repeat_is_a_cache_hit():
    first = compile_trainingrun(trainingrun())
    again = compile_trainingrun(trainingrun())
    assert again is first
    assert first.spec_hash.startswith("sha256:") and len(first.spec_hash) == 71


def test_same_bytes_in_another_process(tmp_path):
    sample = tmp_path / "tr.yaml"
    sample.write_text(yaml.safe_dump(BASE))
    outs = []
    for i in range(2):
        out = tmp_path / f"ir{i}.yaml"
        subprocess.run([sys.executable, "-m", "mlcd", "compile", str(sample), "-o", str(out)], check=True,
                       capture_output=True)
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]
    assert outs[0].decode() == compile_trainingrun(trainingrun()).yaml


def test_values_are_pipeline_parameters_and_the_structure_is_shared():
    a = compile_trainingrun(trainingrun())
    b = compile_trainingrun(trainingrun(data={"source": "builtin://wine", "seed": 1}))
    params = b.ir["root"]["inputDefinitions"]["parameters"]
    assert params["data_source"]["defaultValue"] == "builtin://wine"
    assert params["seed"]["defaultValue"] == 1
    assert params["params_json"]["defaultValue"] == '{"max_depth": 3, "n_estimators": 10}'
    assert params["gates"]["defaultValue"][0] == {"metric": "accuracy", "min": 0.9}
    assert a.spec_hash != b.spec_hash
    strip = lambda ir: {k: v for k, v in ir.items() if k != "root"}  # noqa: E731
    assert strip(a.ir) == strip(b.ir)  # same components, executors and image: one shape
    assert _structure.cache_info().currsize == 1


def test_the_pipeline_has_the_steps_and_a_gate_condition():
    ir = compile_trainingrun(trainingrun()).ir
    tasks = ir["root"]["dag"]["tasks"]
    assert {"ingest", "check-data", "train", "evaluate", "gate"} <= set(tasks)
    branch = ir["components"]["comp-condition-branches-1"]["dag"]["tasks"]
    condition = branch["condition-2"]["triggerPolicy"]["condition"]
    assert "passed" in condition and "true" in condition
    inner = ir["components"]["comp-condition-2"]["dag"]["tasks"]
    assert set(inner) == {"register"}


def test_steps_use_one_image_from_one_setting(monkeypatch):
    monkeypatch.setenv("MLCD_COMPONENT_IMAGE", "registry.local/mlcd:test")
    ir = compile_trainingrun(trainingrun()).ir
    images = {e["container"]["image"] for e in ir["deploymentSpec"]["executors"].values()}
    assert images == {"registry.local/mlcd:test"}
    commands = " ".join(" ".join(e["container"]["command"]) for e in ir["deploymentSpec"]["executors"].values())
    assert "pip install" not in commands  # the image has kfp: nothing is installed at run time


def test_default_image_follows_the_package_version(monkeypatch):
    import mlcd

    monkeypatch.delenv("MLCD_COMPONENT_IMAGE", raising=False)
    ir = compile_trainingrun(trainingrun()).ir
    images = {e["container"]["image"] for e in ir["deploymentSpec"]["executors"].values()}
    assert images == {f"ghcr.io/mlcd-io/mlcd-components:{mlcd.__version__}"}


def test_caching_is_off_for_every_step():
    ir = compile_trainingrun(trainingrun()).ir
    def tasks(components):
        for comp in components.values():
            yield from comp.get("dag", {}).get("tasks", {}).values()
    every = [*ir["root"]["dag"]["tasks"].values(), *tasks(ir["components"])]
    assert all(not t.get("cachingOptions", {}).get("enableCache") for t in every)


SECRET_VALUE = "s3cr3t-value-that-must-not-leak"


@pytest.fixture
def storage_env(monkeypatch):
    """The operator's environment in a cluster: the Secret's name, and its values (which stay out of the IR)."""
    monkeypatch.setenv("MLCD_S3_SECRET_NAME", "mlcd-s3")
    monkeypatch.setenv("MLCD_S3_ENDPOINT", "http://minio.kubeflow:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "minio-access")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_VALUE)


def test_only_the_steps_that_touch_storage_mount_the_secret_named_by_the_setting(storage_env):
    drift = {"drift": {"current": "s3://data/iris/latest.csv"}}
    compiled = compile_trainingrun(trainingrun(registry={"uri": "s3://models/iris"}, retrain=drift,
                                               deploy={"modelDeployment": "iris"}))
    executors = compiled.platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    every = set(compiled.ir["deploymentSpec"]["executors"])
    assert every == {f"exec-{step}" for step in ("ingest", "drift", "check-data", "train", "evaluate", "gate",
                                                   "register", "reject", "handoff")}
    # check-data, train and evaluate read KFP artifacts; the hand-off writes to the Kubernetes API.
    mounting = {name: config for name, config in executors.items() if config.get("secretAsEnv")}
    assert set(mounting) == {"exec-ingest", "exec-drift", "exec-gate", "exec-register", "exec-reject"}
    for config in mounting.values():
        mounted = {(ref["secretName"], ref["optional"], m["secretKey"], m["envVar"])
                   for ref in config["secretAsEnv"] for m in ref["keyToEnv"]}
        assert mounted == {
            ("mlcd-s3", False, "MLCD_S3_ENDPOINT", "MLCD_S3_ENDPOINT"),
            ("mlcd-s3", False, "AWS_ACCESS_KEY_ID", "AWS_ACCESS_KEY_ID"),
            ("mlcd-s3", False, "AWS_SECRET_ACCESS_KEY", "AWS_SECRET_ACCESS_KEY"),
            ("mlcd-s3", True, "AWS_REGION", "AWS_REGION"),
            ("mlcd-s3", True, "MLCD_S3_SECURE", "MLCD_S3_SECURE"),
        }
    assert compiled.pipeline_document == {"pipeline_spec": compiled.ir, "platform_spec": compiled.platform_spec}


def test_the_ir_holds_the_secret_reference_but_no_value_and_no_storage_parameter(storage_env):
    compiled = compile_trainingrun(trainingrun(registry={"uri": "s3://models/iris"}))
    assert SECRET_VALUE not in compiled.yaml
    assert "minio-access" not in compiled.yaml and "minio.kubeflow" not in compiled.yaml
    params = compiled.ir["root"]["inputDefinitions"]["parameters"]
    assert not [p for p in params if any(word in p.lower() for word in ("s3", "aws", "endpoint", "secret"))]
    documents = list(yaml.safe_load_all(compiled.yaml))
    assert documents == [compiled.ir, compiled.platform_spec]  # kfp's layout: pipeline spec, then platform spec
    assert len(components.load_component_from_text(compiled.yaml).platform_spec.platforms) == 1


def test_without_the_setting_no_step_mounts_a_secret_and_steps_inherit_the_environment(monkeypatch):
    monkeypatch.delenv("MLCD_S3_SECRET_NAME", raising=False)
    compiled = compile_trainingrun(trainingrun())
    executors = compiled.platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert executors and not [config for config in executors.values() if "secretAsEnv" in config]
    assert len(list(yaml.safe_load_all(compiled.yaml))) == 2  # the platform spec holds the steps' timeouts


def test_the_secret_name_is_part_of_the_shape_and_of_the_hash(monkeypatch):
    hashes = set()
    for name in ("mlcd-s3", "other-s3", ""):
        monkeypatch.setenv("MLCD_S3_SECRET_NAME", name)
        hashes.add(compile_trainingrun(trainingrun()).spec_hash)
    assert len(hashes) == 3


def test_the_cli_writes_both_documents_with_the_same_bytes_in_another_process(tmp_path, storage_env):
    sample, out = tmp_path / "tr.yaml", tmp_path / "ir.yaml"
    sample.write_text(yaml.safe_dump(BASE))
    subprocess.run([sys.executable, "-m", "mlcd", "compile", str(sample), "-o", str(out)], check=True,
                   capture_output=True)
    assert out.read_text() == compile_trainingrun(trainingrun()).yaml
    assert len(list(yaml.safe_load_all(out.read_text()))) == 2 and SECRET_VALUE not in out.read_text()


def test_the_drift_step_exists_only_for_trainingruns_watching_for_drift():
    plain = compile_trainingrun(trainingrun()).ir["root"]["dag"]["tasks"]
    watching = compile_trainingrun(trainingrun(retrain={"drift": {"current": "s3://data/iris/latest.csv",
                                                                  "method": "ks", "threshold": 0.3}}))
    tasks = watching.ir["root"]["dag"]["tasks"]
    assert "drift" not in plain and "drift" in tasks
    assert "drift" in tasks["check-data"]["dependentTasks"]  # before this run can replace the champion
    assert watching.arguments["drift_method"] == "ks" and watching.arguments["drift_threshold"] == 0.3


def test_parameters_are_declared_once_and_the_pipeline_and_the_arguments_follow():
    from mlcd.compiler.parameters import PARAMETERS

    compiled = compile_trainingrun(trainingrun())
    declared = compiled.ir["root"]["inputDefinitions"]["parameters"]
    kfp_type = {str: "STRING", int: "NUMBER_INTEGER", float: "NUMBER_DOUBLE", bool: "BOOLEAN", list: "LIST",
                dict: "STRUCT"}
    assert {name: spec["parameterType"] for name, spec in declared.items()} == {
        p.name: kfp_type[p.type] for p in PARAMETERS}
    assert sorted(compiled.arguments) == sorted(p.name for p in PARAMETERS)
    assert all(declared[name]["defaultValue"] == value for name, value in compiled.arguments.items())
