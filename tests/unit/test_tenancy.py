"""Tenancy rules without a cluster: file:// refusals, when storage is needed, StorageReady, the per-namespace
share of the operator's threads."""

import asyncio
import threading

import pytest

from mlcd.api.v1alpha1.conditions import get_condition
from mlcd.handlers.config import OperatorConfig
from mlcd.handlers.limits import CallTimeout, NamespacePool
from mlcd.reconcile import tenancy

SPEC = {"data": {"source": "s3://team-a-data/train.csv"}, "registry": {"uri": "s3://team-a-models/iris"},
        "retrain": {"drift": {"current": "file:///data/current.csv"}}}


def test_file_uris_are_refused_with_their_field_path_unless_allowed():
    spec = {**SPEC, "data": {"source": "file:///dev/zero"}}
    problems = tenancy.file_refusals(spec, None, allowed=False)
    assert [p.split(":")[0] for p in problems] == ["spec.data.source", "spec.retrain.drift.current"]
    assert "file:///dev/zero: file:// names the operator's own files" in problems[0]
    assert tenancy.file_refusals(spec, None, allowed=True) == []
    # The operator's default registry counts as the spec's.
    assert tenancy.file_refusals({"data": {"source": "builtin://iris"}}, "file:///var/lib/mlcd/registry/a/b",
                                 allowed=False)[0].startswith("spec.registry.uri: file:///var/lib/mlcd")


def test_only_the_local_backends_development_namespace_may_use_file_uris():
    assert OperatorConfig(backend="local", local_namespace="dev").file_uris_allowed("dev")
    assert not OperatorConfig(backend="local", local_namespace="dev").file_uris_allowed("team-a")
    assert not OperatorConfig(backend="local").file_uris_allowed("default")
    assert not OperatorConfig(backend="kfp", local_namespace="dev").file_uris_allowed("dev")


def test_storage_is_needed_when_anything_is_on_s3():
    assert tenancy.needs_storage(SPEC, None)
    assert not tenancy.needs_storage({"data": {"source": "builtin://iris"}}, None)
    assert tenancy.needs_storage({"data": {"source": "builtin://iris"}}, "s3://models/team-a/iris")


def test_a_missing_secret_holds_the_run_and_says_so_once():
    waiting = tenancy.storage_waiting({}, 2, "SecretMissing", "Secret mlcd-storage in namespace t does not exist")
    assert waiting.status["phase"] == "Pending" and "pipeline" not in waiting.status
    found = get_condition(waiting.status["conditions"], "StorageReady")
    assert (found["status"], found["reason"], found["observedGeneration"]) == ("False", "SecretMissing", 2)
    assert [e[:2] for e in waiting.events] == [("Warning", "SecretMissing")]
    again = tenancy.storage_waiting(waiting.status, 2, "SecretMissing", found["message"])
    assert again.events == [] and again.status == waiting.status
    ready = tenancy.storage_ready(waiting.status["conditions"], 2, "mlcd-storage")
    assert get_condition(ready, "StorageReady")["reason"] == "SecretFound"
    assert get_condition(tenancy.storage_ready([], 2, None), "StorageReady")["reason"] == "NoObjectStorage"


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
