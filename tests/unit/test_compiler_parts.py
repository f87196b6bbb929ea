"""The compiler's parts, each from a cold start: quantities as KFP takes them, the values of a run, the
YAML layout, the shape flags a spec sets, and the drift-check pipeline the operator runs for a tenant."""


import pytest
import yaml
from scipy import stats
from sklearn.model_selection import ParameterGrid, ParameterSampler

from mlcd.compiler import compile_drift_check, compile_trainingrun, pipeline_arguments
from mlcd.compiler import tuning as plan
from mlcd.compiler.compile import dump_ir
from mlcd.compiler.parameters import kfp_cpu, kfp_memory
from mlcd.compiler.pipeline import DRIFT_CHECK_STEP_SECONDS
from tests.unit.test_compiler import trainingrun

pytestmark = pytest.mark.usefixtures("cold_compiler")


@pytest.mark.parametrize(("given", "cpu"), [("1", "1"), ("2000m", "2"), ("500m", "500m"), ("1.5", "1500m"),
                                            ("0.0001", "1m"), ("1001m", "1001m")])
def test_cpu_is_whole_cores_or_millicores_rounded_up(given, cpu):
    assert kfp_cpu(given) == cpu


@pytest.mark.parametrize(("given", "memory"), [("512Mi", "512Mi"), ("1G", "1G"), ("1024", "1024"),
                                               ("1.5Gi", str(3 * 2**29)), ("1e3", "1000"), ("1500m", "2"),
                                               ("1200m", "2")])
def test_memory_is_digits_and_a_unit_or_else_bytes(given, memory):
    assert kfp_memory(given) == memory


def test_the_values_of_a_run_with_resources_placement_tuning_drift_and_a_handoff():
    tr = trainingrun(
        resources={"train": {"requests": {"cpu": "2500m"}, "limits": {"cpu": "3", "nvidia.com/gpu": "2"}},
                   "steps": {"requests": {"cpu": "1500m", "memory": "1.5Gi"}}},
        nodeSelector={"pool": "gpu"}, tolerations=[{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}],
        tuning={"search": "grid", "parallelism": 2, "folds": 3,
                "parameters": {"max_depth": {"values": [2, 3, 4]}}},
        retrain={"drift": {"current": "s3://data/iris/latest.csv", "method": "ks", "threshold": 0.3}},
        deploy={"modelDeployment": "iris"})
    args = pipeline_arguments(tr, trigger="drift", registry_uri="s3://models/iris", run_key="iris-7")
    assert {k: v for k, v in args.items() if k.startswith(("train_", "steps_"))} == {
        "train_cpu_request": "2500m", "train_memory_request": "1Gi", "train_cpu_limit": "3",
        "train_memory_limit": "4Gi", "train_accelerator_type": "nvidia.com/gpu", "train_accelerator_count": "2",
        "steps_cpu_request": "1500m", "steps_memory_request": str(3 * 2**29), "steps_cpu_limit": "1500m",
        "steps_memory_limit": "2Gi", "steps_accelerator_type": "", "steps_accelerator_count": "0"}
    assert args["node_selector"] == {"pool": "gpu"}
    assert args["tolerations"] == [{"key": "gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert (args["tuning_folds"], args["tuning_jobs"], args["tuning_metric"]) == (3, 2, "accuracy")
    assert len(args["tuning_chunks"]) == 2
    assert (args["drift_method"], args["drift_threshold"]) == ("ks", 0.3)
    assert (args["model_deployment"], args["promote"]) == ("iris", False)  # the rollout promotes it
    assert (args["run_trigger"], args["registry_uri"], args["run_key"]) == ("drift", "s3://models/iris", "iris-7")


def test_the_yaml_layout_is_kfps():
    ir = {"b": {"z": 1, "a": [1, 2]}, "a": "x" * 100 + " " + "y" * 10}
    assert dump_ir(ir) == "a: " + "x" * 100 + " " + "y" * 10 + "\nb:\n  a:\n  - 1\n  - 2\n  z: 1\n"
    assert dump_ir(ir, {}) == dump_ir(ir)
    assert dump_ir({"a": 1}, {"platforms": {}}) == "a: 1\n---\nplatforms: {}\n"
    # A value reaching past column 120 continues on the next line.
    assert dump_ir({"a": "x" * 118 + " yy"}) == "a: " + "x" * 118 + "\n  yy\n"
    assert dump_ir({"a": "x" * 116 + " yy"}) == "a: " + "x" * 116 + " yy\n"


def test_a_spec_written_in_another_key_order_is_the_same_pipeline():
    a = compile_trainingrun(trainingrun(nodeSelector={"pool": "gpu", "zone": "a"}))
    b = compile_trainingrun(trainingrun(nodeSelector={"zone": "a", "pool": "gpu"}))
    assert a.spec_hash == b.spec_hash and a.yaml == b.yaml


def test_accelerators_node_selectors_and_tolerations_reach_only_the_steps_they_are_for():
    plain = compile_trainingrun(trainingrun())
    placed = compile_trainingrun(trainingrun(
        resources={"steps": {"limits": {"nvidia.com/gpu": "1"}}}, nodeSelector={"pool": "gpu"},
        tolerations=[{"key": "gpu", "operator": "Exists"}]))
    trained = compile_trainingrun(trainingrun(resources={"train": {"limits": {"nvidia.com/gpu": "1"}}}))

    def accelerated(compiled):
        return {name for name, e in compiled.ir["deploymentSpec"]["executors"].items()
                if "accelerator" in e["container"].get("resources", {})}

    assert accelerated(plain) == set()
    assert accelerated(trained) == {"exec-train"}
    assert "exec-train" not in accelerated(placed) and "exec-ingest" in accelerated(placed)
    executors = placed.platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    # Inside the gate's branches the parameters arrive as pipeline channels.
    assert {e["nodeSelector"]["nodeSelectorJson"]["componentInputParameter"].removeprefix("pipelinechannel--")
            for e in executors.values()} == {"node_selector"}
    assert {e["tolerations"][0]["tolerationJson"]["componentInputParameter"].removeprefix("pipelinechannel--")
            for e in executors.values()} == {"tolerations"}
    assert len(executors) == len(placed.ir["deploymentSpec"]["executors"])
    unplaced = plain.platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert not [e for e in unplaced.values() if "nodeSelector" in e or "tolerations" in e]


def test_the_drift_check_pipeline_scores_the_data_against_the_champion_within_its_limits():
    compiled = compile_drift_check("s3://data/iris/latest.csv", "s3://models/iris", 3, "ks", 0.3, "iris-3-abc",
                                   data_format="csv", image="registry.local/mlcd:test", s3_secret="mlcd-s3")
    assert compiled.arguments == {"current": "s3://data/iris/latest.csv", "data_format": "csv",
                                  "registry_uri": "s3://models/iris", "champion_version": 3, "method": "ks",
                                  "threshold": 0.3, "key": "iris-3-abc"}
    params = compiled.ir["root"]["inputDefinitions"]["parameters"]
    assert {name: p["defaultValue"] for name, p in params.items()} == compiled.arguments
    assert compiled.ir["pipelineInfo"]["name"] == "mlcd-drift-check"
    assert set(compiled.ir["root"]["dag"]["tasks"]) == {"ingest", "check-drift"}
    images = {e["container"]["image"] for e in compiled.ir["deploymentSpec"]["executors"].values()}
    assert images == {"registry.local/mlcd:test"}
    executors = compiled.platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(executors) == {"exec-ingest", "exec-check-drift"}
    for config in executors.values():
        assert config["activeDeadlineSeconds"] == str(DRIFT_CHECK_STEP_SECONDS)
        assert {ref["secretName"] for ref in config["secretAsEnv"]} == {"mlcd-s3"}
    assert compiled.spec_hash.startswith("sha256:") and len(compiled.spec_hash) == 71
    again = compile_drift_check("s3://data/iris/latest.csv", "s3://models/iris", 3, "ks", 0.3, "iris-3-abc",
                                data_format="csv", image="registry.local/mlcd:test", s3_secret="mlcd-s3")
    assert again.spec_hash == compiled.spec_hash
    other = compile_drift_check("s3://data/iris/latest.csv", "s3://models/iris", 4, "ks", 0.3, "iris-4-abc",
                                data_format="csv", image="registry.local/mlcd:test", s3_secret="mlcd-s3")
    assert other.spec_hash != compiled.spec_hash


def test_a_local_drift_check_mounts_no_secret_and_uses_the_default_image(monkeypatch):
    monkeypatch.setenv("MLCD_COMPONENT_IMAGE", "registry.local/mlcd:env")
    compiled = compile_drift_check("builtin://iris", "file:///tmp/registry", 1, "psi", 0.2, "k")
    executors = compiled.platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert not [c for c in executors.values() if "secretAsEnv" in c]
    images = {e["container"]["image"] for e in compiled.ir["deploymentSpec"]["executors"].values()}
    assert images == {"registry.local/mlcd:env"} and compiled.arguments["data_format"] == ""


def tuning_spec(**fields):
    tr = trainingrun(tuning={"parallelism": 2, **fields})
    return tr.spec.tuning


def test_random_candidates_are_scikit_learns_draws_as_plain_python_values():
    spec = tuning_spec(search="random", trials=12, parameters={
        "max_depth": {"distribution": "int", "low": 1, "high": 3},
        "min_impurity_decrease": {"distribution": "uniform", "low": 0.0, "high": 0.5},
        "ccp_alpha": {"distribution": "logUniform", "low": 1e-4, "high": 1e-1}})
    drawn = plan.candidates(spec, seed=5)
    space = {"max_depth": stats.randint(1, 4), "min_impurity_decrease": stats.uniform(0.0, 0.5),
             "ccp_alpha": stats.loguniform(1e-4, 1e-1)}
    expected = [dict(c) for c in ParameterSampler(space, n_iter=12, random_state=5)]
    assert drawn == expected
    assert all(type(c["max_depth"]) is int and type(c["ccp_alpha"]) is float for c in drawn)  # JSON-ready
    assert {c["max_depth"] for c in drawn} == {1, 2, 3}
    assert plan.chunks(spec, 5) == plan.chunks(spec, 5) != plan.chunks(spec, 6)


def test_a_grid_is_every_combination_in_scikit_learns_order():
    spec = tuning_spec(search="grid", parameters={"max_depth": {"values": [2, 3, 4]},
                                                    "n_estimators": {"values": [5, 10, 20]}})
    assert plan.candidates(spec, seed=0) == list(ParameterGrid({"max_depth": [2, 3, 4], "n_estimators": [5, 10, 20]}))
    assert yaml.safe_load(plan.chunks(spec, 0)[0])["chunk"] == 1


def test_compile_passes_the_runs_settings_on():
    compiled = compile_trainingrun(trainingrun(), trigger="drift", registry_uri="s3://models/other", promote=False,
                                   run_key="iris-9")
    args = compiled.arguments
    assert (args["run_trigger"], args["registry_uri"], args["promote"], args["run_key"]) == (
        "drift", "s3://models/other", False, "iris-9")


def test_every_step_of_the_widest_pipeline_is_uncached_bounded_and_timed():
    compiled = compile_trainingrun(trainingrun(
        registry={"uri": "s3://models/iris"}, deploy={"modelDeployment": "iris"},
        retrain={"drift": {"current": "s3://data/iris/latest.csv"}},
        resources={"train": {"limits": {"nvidia.com/gpu": "1"}}},
        tuning={"search": "grid", "parallelism": 2, "parameters": {"max_depth": {"values": [2, 3]}}}))
    executors = compiled.ir["deploymentSpec"]["executors"]
    assert set(executors) >= {"exec-drift", "exec-handoff", "exec-tune", "exec-select"}
    for name, executor in executors.items():
        resources = executor["container"]["resources"]
        group = "train" if name in ("exec-train", "exec-tune") else "steps"
        assert resources["resourceCpuLimit"].endswith(f"{group}_cpu_limit']}}}}"), name
        if group == "train":
            assert resources["accelerator"] == {
                "resourceType": "{{$.inputs.parameters['pipelinechannel--train_accelerator_type']}}",
                "resourceCount": "{{$.inputs.parameters['pipelinechannel--train_accelerator_count']}}"}
    timeouts = compiled.platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert {name: config["activeDeadlineSeconds"] for name, config in timeouts.items()} == {
        name: "7200" if name in ("exec-train", "exec-tune") else "1800" for name in executors}

    def tasks(components):
        for comp in components.values():
            yield from comp.get("dag", {}).get("tasks", {}).items()

    every = [*compiled.ir["root"]["dag"]["tasks"].items(), *tasks(compiled.ir["components"])]
    steps = {name for name, task in every if "componentRef" in task and not name.startswith(("condition", "for-"))}
    assert {"drift", "handoff", "tune", "select"} <= steps
    assert not [name for name, task in every if task.get("cachingOptions", {}).get("enableCache")]


def test_a_runs_settings_default_to_a_manual_run_without_a_key_and_the_metric_to_the_kinds():
    args = pipeline_arguments(trainingrun())
    assert (args["run_trigger"], args["run_key"], args["registry_uri"], args["promote"]) == ("manual", "", "", True)
    assert plan.metric(None, [], "regressor") == "r2" and plan.metric(None, [], "classifier") == "accuracy"


def test_the_secret_given_wins_over_the_setting(monkeypatch):
    monkeypatch.setenv("MLCD_S3_SECRET_NAME", "from-env")

    def mounted(compiled):
        executors = compiled.platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
        return {ref["secretName"] for config in executors.values() for ref in config.get("secretAsEnv", [])}

    assert mounted(compile_trainingrun(trainingrun())) == {"from-env"}
    assert mounted(compile_trainingrun(trainingrun(), s3_secret="given")) == {"given"}
    assert mounted(compile_trainingrun(trainingrun(), s3_secret="")) == set()


def test_the_ir_and_the_arguments_are_separate_objects():
    compiled = compile_trainingrun(trainingrun())
    compiled.arguments["gates"][0]["min"] = 0.1
    assert compiled.ir["root"]["inputDefinitions"]["parameters"]["gates"]["defaultValue"][0]["min"] == 0.9
