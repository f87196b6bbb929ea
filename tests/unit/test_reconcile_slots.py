"""A burst of TrainingRuns in one namespace: a few reconciles under way, the rest wait holding nothing,
and another namespace's reconciles go on meanwhile."""

import asyncio
import logging

import kopf

from mlcd.handlers.config import OperatorConfig
from mlcd.handlers.limits import RECONCILES_PER_NAMESPACE
from mlcd.handlers.trainingrun import TrainingRunReconciler


def body(namespace: str, index: int) -> kopf.Body:
    return kopf.Body({"apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun",
                      "metadata": {"name": f"tr{index}", "namespace": namespace, "uid": f"{namespace}-{index}",
                                   "generation": 1}, "spec": {}})


def test_a_burst_in_one_namespace_takes_a_few_slots_and_leaves_the_others_alone(tmp_path):
    reconciler = TrainingRunReconciler(OperatorConfig(backend="local", home=tmp_path), None, None, None, None)
    under_way: dict[str, int] = {"team-a": 0, "team-b": 0}
    most = dict(under_way)

    async def scenario():
        release = asyncio.Event()

        async def reconcile(body, patch, logger):
            namespace = body.metadata.namespace
            under_way[namespace] += 1
            most[namespace] = max(most[namespace], under_way[namespace])
            if namespace == "team-a":
                await release.wait()
            under_way[namespace] -= 1

        reconciler._reconcile = reconcile
        log = logging.getLogger("test")
        burst = [asyncio.create_task(reconciler.reconcile(body("team-a", i), None, log)) for i in range(100)]
        await asyncio.sleep(0.01)
        assert under_way["team-a"] == RECONCILES_PER_NAMESPACE  # the other 84 wait
        await asyncio.wait_for(reconciler.reconcile(body("team-b", 0), None, log), 1)  # not behind team-a's
        release.set()
        await asyncio.gather(*burst)

    asyncio.run(scenario())
    assert most == {"team-a": RECONCILES_PER_NAMESPACE, "team-b": 1}
    assert reconciler._locks == {} and reconciler._namespaces == {}  # nothing kept once they are done
