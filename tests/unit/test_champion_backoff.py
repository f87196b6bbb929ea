"""A champion write that fails is tried again with backoff: after the poll interval, then twice as long each
time, never more than _CHAMPION_BACKOFF_CAP_SECONDS apart; one Event says it failed, and a success starts
the backoff over. The rollout's status is never held back by it."""

import asyncio
from types import SimpleNamespace

import pytest

from mlcd.api.v1alpha1 import ModelDeploymentStatus
from mlcd.handlers import modeldeployment
from mlcd.handlers.config import OperatorConfig
from mlcd.handlers.limits import NamespacePool
from mlcd.handlers.modeldeployment import _CHAMPION_BACKOFF_CAP_SECONDS, ModelDeploymentReconciler
from mlcd.storage import StorageError

POLL = 10.0
V1, V2 = "s3://team-a-models/iris/v1", "s3://team-a-models/iris/v2"
DENIED = "s3://team-a-models/iris/champion.json: access denied (AccessDenied)"


class Events:
    def __init__(self):
        self.posted: list[tuple[str, str]] = []

    def record(self, obj, type_, reason, message):
        self.posted.append((reason, message))


class Logger:
    def __init__(self):
        self.warnings: list[tuple] = []

    def warning(self, message, *args):
        self.warnings.append(args)

    def info(self, message, *args):
        pass


class Champion(ModelDeploymentReconciler):
    """The reconciler with the registry write replaced: it fails while ``failing``, and is counted."""

    failing = True
    writes: list[str]

    async def _tenant_read(self, namespace, uri, call, *args, timeout=None):
        self.writes.append(args[0].model_uri)
        if self.failing:
            raise StorageError(f"{uri}/champion.json", "access denied (AccessDenied)")


@pytest.fixture
def clock(monkeypatch):
    now = [1000.0]
    monkeypatch.setattr(modeldeployment, "time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


@pytest.fixture
def champion(tmp_path, clock):
    pool = NamespacePool(workers=2, per_namespace=1, timeout=5)
    found = Champion(OperatorConfig(backend="kfp", home=tmp_path, poll_seconds=POLL), lambda: None, pool, None,
                     Events())
    found.writes = []
    yield found
    pool.shutdown()


class Deployment:
    """A ModelDeployment whose status the reconciler writes back, as the API server would keep it."""

    def __init__(self, active: str, champion: str | None = None):
        self.status = ModelDeploymentStatus(phase="Ready", active_model=active, champion_model=champion)
        self.md = {"metadata": {"name": "iris", "namespace": "team-a", "uid": "uid-1", "generation": 1},
                   "status": self.status.to_wire()}

    def reconcile(self, reconciler: Champion, logger: Logger) -> ModelDeploymentStatus:
        new = asyncio.run(reconciler._champion(self.md, self.status, logger))
        self.status = new
        self.md["status"] = new.to_wire()
        return new


def test_a_failing_champion_write_backs_off_doubling_to_the_cap_then_starts_over(champion, clock):
    logger, md = Logger(), Deployment(V1)
    due, delays = clock[0], []
    for attempt in range(1, 9):
        if attempt > 1:  # the first try is at once; each later one not before its time
            clock[0] = due - 0.5
            before = md.status
            assert md.reconcile(champion, logger) == before and len(champion.writes) == attempt - 1
        clock[0] = due
        failed = md.reconcile(champion, logger)
        assert len(champion.writes) == attempt
        recorded = failed.condition("ChampionRecorded")
        assert (recorded.status, recorded.reason) == ("False", "ChampionWriteFailed")
        assert recorded.message == f"{V1} is served but not recorded as the champion: {DENIED}"
        assert failed.phase == "Ready" and failed.active_model == V1 and failed.champion_model is None
        (_, _, tried, retry_in, _), = logger.warnings[-1:]
        assert tried == attempt
        delays.append(retry_in)
        due += retry_in
    assert delays == [10.0, 20.0, 40.0, 80.0, 160.0, 300.0, 300.0, 300.0]
    assert max(delays) == _CHAMPION_BACKOFF_CAP_SECONDS
    # One Event for the failure, not one per try: the condition says the same thing each time.
    assert champion.events.posted == [("ChampionNotSet", DENIED)]

    champion.failing = False
    clock[0] = due
    done = md.reconcile(champion, logger)
    assert done.champion_model == V1 and done.condition("ChampionRecorded").status == "True"
    assert champion.events.posted[-1] == ("ChampionSet", "v1 is the champion of s3://team-a-models/iris: "
                                                         "ModelDeployment iris: first deployment")
    writes = len(champion.writes)
    clock[0] += 3600
    md.reconcile(champion, logger)
    assert len(champion.writes) == writes  # recorded: nothing more to write

    # A later promotion whose write fails backs off from the poll interval again, not from the cap.
    champion.failing = True
    promoted = Deployment(V2, champion=V1)
    promoted.md = md.md | {"status": promoted.status.to_wire()}
    promoted.reconcile(champion, logger)
    assert logger.warnings[-1][3] == POLL


def test_the_backoff_of_one_deployment_is_not_anothers(champion, clock):
    logger = Logger()
    first, second = Deployment(V1), Deployment(V2)
    second.md["metadata"] = {**second.md["metadata"], "name": "other", "uid": "uid-2"}
    for _ in range(3):
        first.reconcile(champion, logger)
        clock[0] += logger.warnings[-1][3]
    writes = len(champion.writes)
    second.reconcile(champion, logger)  # its first try is at once, and backs off from the poll interval
    assert len(champion.writes) == writes + 1 and logger.warnings[-1][2:4] == (1, POLL)
    champion.forget("uid-1")  # a deleted ModelDeployment leaves nothing behind
    first.reconcile(champion, logger)
    assert logger.warnings[-1][2:4] == (1, POLL)
