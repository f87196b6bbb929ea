"""Tenancy rules without a cluster: file:// refusals, when storage is needed, StorageReady, the per-namespace
share of the operator's threads."""

import asyncio
import threading
from dataclasses import replace

import pytest

from mlcd.compiler import compile_drift_check
from mlcd.handlers.config import OperatorConfig
from mlcd.handlers.limits import CallTimeout, NamespacePool
from mlcd.reconcile import tenancy
from mlcd.reconcile.trainingrun import StorageFound, StorageMissing, Submit
from tests.unit.test_trainingrun_plan import condition, created, drive, observe, wire

SPEC = {"data": {"source": "s3://team-a-data/train.csv"}, "registry": {"uri": "s3://team-a-models/iris"},
        "retrain": {"drift": {"current": "file:///data/current.csv"}}}


def test_file_uris_are_refused_with_their_field_path_unless_allowed():
    spec = {**SPEC, "data": {"source": "file:///dev/zero"}}
    problems = tenancy.file_refusals(spec, None, allowed=False)
    assert [p.split(":")[0] for p in problems] == ["spec.data.source", "spec.retrain.drift.current"]
    assert problems[0] == ("spec.data.source: file:///dev/zero: file:// names the operator's own files, so the "
                           "operator refuses it; use s3:// (file:// is for `mlcd run` on one machine, or the local "
                           "backend's development namespace)")
    assert tenancy.file_refusals(spec, None, allowed=True) == []
    # The operator's default registry counts as the spec's.
    assert tenancy.file_refusals({"data": {"source": "builtin://iris"}}, "file:///var/lib/mlcd/registry/a/b",
                                 allowed=False)[0].startswith("spec.registry.uri: file:///var/lib/mlcd")


def test_only_the_local_backends_development_namespace_may_use_file_uris():
    assert OperatorConfig(backend="local", local_namespace="dev").file_uris_allowed("dev")
    assert not OperatorConfig(backend="local", local_namespace="dev").file_uris_allowed("team-a")
    assert not OperatorConfig(backend="local").file_uris_allowed("default")
    assert not OperatorConfig(backend="kfp", local_namespace="dev").file_uris_allowed("dev")


def test_uris_of_a_spec_as_sent_that_are_no_strings_are_left_to_validation():
    sent = {"data": {"source": 7}, "registry": {"uri": ["s3://x"]}, "retrain": {"drift": {"current": ""}}}
    assert tenancy.uris(sent, None) == []
    assert tenancy.file_refusals(sent, None, allowed=False) == [] and not tenancy.needs_storage(sent, None)


def test_storage_is_needed_when_anything_is_on_s3():
    assert tenancy.needs_storage(SPEC, None)
    assert not tenancy.needs_storage({"data": {"source": "builtin://iris"}}, None)
    assert tenancy.needs_storage({"data": {"source": "builtin://iris"}}, "s3://models/team-a/iris")


def test_a_missing_secret_holds_the_run_and_says_so_once_then_the_run_mounts_it():
    on_s3 = observe(registry={"uri": "s3://team-a-models/iris"})
    missing = StorageMissing("SecretMissing", "Secret mlcd-storage in namespace default does not exist")
    waiting, asked = drive(on_s3, StorageIdentity=missing)
    assert [type(a).__name__ for a in asked] == ["Validate", "StorageIdentity"]  # and no Submit
    status = wire(waiting)
    assert status["phase"] == "Pending" and "pipeline" not in status
    found = condition(status, "StorageReady")
    assert (found["status"], found["reason"], found["message"]) == ("False", "SecretMissing", missing.message)
    ready = condition(status, "Ready")
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "False", "SecretMissing", "waiting for the namespace's storage Secret")
    assert status["observedGeneration"] == found["observedGeneration"] == ready["observedGeneration"] == 1
    assert status["message"] == missing.message
    assert [(e.type, e.reason) for e in waiting.events] == [("Warning", "SecretMissing")]
    again, _ = drive(replace(on_s3, status=waiting.status), StorageIdentity=missing)
    assert again.events == () and not again.write

    found_secret = StorageFound("mlcd-storage")
    ran, asked = drive(replace(on_s3, status=waiting.status), StorageIdentity=found_secret, Submit=created)
    (submit,) = [a for a in asked if isinstance(a, Submit)]
    assert submit.storage_secret == "mlcd-storage"
    ready = condition(wire(ran), "StorageReady")
    assert wire(ran)["phase"] == "Pending" and (ready["status"], ready["reason"], ready["message"]) == (
        "True", "SecretFound", "Secret mlcd-storage gives the run this namespace's storage identity")


def test_a_run_on_builtin_data_and_a_file_registry_needs_no_secret_in_the_development_namespace():
    step, asked = drive(observe(), Submit=created)
    assert "StorageIdentity" not in [type(a).__name__ for a in asked]
    assert condition(wire(step), "StorageReady")["reason"] == "NoObjectStorage"


def test_file_uris_outside_the_development_namespace_make_the_spec_invalid_and_are_never_stat():
    hostile = replace(observe(data={"source": "file:///dev/zero", "target": "x"},
                              registry={"uri": "s3://team-a-models/iris"}, retrain={"onDataChange": True}),
                      file_uris_allowed=False)
    step, asked = drive(hostile)
    assert [type(a).__name__ for a in asked] == ["Validate"]  # no Fingerprint of /dev/zero, no Submit
    status = wire(step)
    assert status["phase"] == "Invalid" and condition(status, "Valid")["status"] == "False"
    assert status["message"].startswith("spec.data.source: file:///dev/zero: file:// names the operator's own files")


def test_a_namespace_whose_calls_hang_holds_only_its_share_of_the_threads():
    async def scenario():
        pool = NamespacePool(workers=4, per_namespace=2, timeout=30)
        release = threading.Event()
        hung = [asyncio.create_task(pool.run("team-a", release.wait)) for _ in range(5)]
        await asyncio.sleep(0)
        # team-a's calls take two threads and wait for them; team-b still gets one at once.
        answer = await pool.run("team-b", lambda: "team-b served")
        with pytest.raises(CallTimeout, match="for namespace team-a took longer than 0.05s"):
            await pool.run("team-a", release.wait, timeout=0.05)
        release.set()
        assert await asyncio.gather(*hung) == [True] * 5
        pool.shutdown()
        return answer

    assert asyncio.run(scenario()) == "team-b served"


def test_the_drift_check_runs_as_a_pipeline_of_the_tenant_with_its_secret():
    compiled = compile_drift_check("s3://team-a-data/new.csv", "s3://team-a-models/iris", 2, "psi", 0.2,
                                   "drift-abc-v2", s3_secret="mlcd-storage")
    executors = compiled.platform_spec["platforms"]["kubernetes"]["deploymentSpec"]["executors"]
    assert set(executors) == set(compiled.ir["deploymentSpec"]["executors"]) == {"exec-ingest", "exec-check-drift"}
    assert {ref["secretName"] for config in executors.values() for ref in config["secretAsEnv"]} == {"mlcd-storage"}
    assert all(config["activeDeadlineSeconds"] for config in executors.values())  # each step ends in time
    params = compiled.ir["root"]["inputDefinitions"]["parameters"]
    assert params["current"]["defaultValue"] == "s3://team-a-data/new.csv"
    assert (params["key"]["defaultValue"], params["champion_version"]["defaultValue"]) == ("drift-abc-v2", 2)
    assert compiled.ir["pipelineInfo"]["name"] == "mlcd-drift-check"
