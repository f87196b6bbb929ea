"""A namespace's storage Secret is read once for many asks: kept for a short time, shared while being read,
never kept when the read failed."""

import asyncio
import threading

import pytest

from mlcd.handlers.limits import NamespacePool
from mlcd.handlers.storage import FRESH_SECONDS, StorageIdentities, StorageUnavailable

VALUES = {"AWS_ENDPOINT_URL": "http://s3.team-a:9000", "AWS_ACCESS_KEY_ID": "a", "AWS_SECRET_ACCESS_KEY": "s"}


class Counted(StorageIdentities):
    """The API read replaced by a count (the read itself is tested against the API emulator)."""

    def __init__(self, clock):
        self.pool = NamespacePool(workers=4, per_namespace=2, timeout=5)
        super().__init__("mlcd-storage", self.pool, client=lambda: None, clock=clock)
        self.reads: list[str] = []
        self.missing: set[str] = set()
        self.release = threading.Event()
        self.release.set()

    def _read(self, namespace: str) -> dict[str, str]:
        self.reads.append(namespace)
        self.release.wait(5)
        if namespace in self.missing:
            raise StorageUnavailable("SecretMissing", f"Secret mlcd-storage in namespace {namespace} does not exist")
        return dict(VALUES)


@pytest.fixture
def now():
    return [0.0]


@pytest.fixture
def identities(now):
    found = Counted(lambda: now[0])
    yield found
    found.pool.shutdown()


def test_many_asks_of_one_namespace_read_its_secret_once(identities, now):
    async def asks():
        identities.release.clear()
        many = [asyncio.ensure_future(identities.environ("team-a")) for _ in range(100)]
        await asyncio.sleep(0.05)
        identities.release.set()
        return await asyncio.gather(*many, identities.environ("team-b"))

    found = asyncio.run(asks())
    assert found == [VALUES] * 101
    assert sorted(identities.reads) == ["team-a", "team-b"]
    now[0] = FRESH_SECONDS - 1
    asyncio.run(identities.environ("team-a"))
    assert identities.reads.count("team-a") == 1


def test_a_kept_secret_is_read_again_once_stale(identities, now):
    asyncio.run(identities.environ("team-a"))
    now[0] = FRESH_SECONDS + 1
    asyncio.run(identities.environ("team-a"))
    assert identities.reads == ["team-a", "team-a"]


def test_a_failed_read_is_not_kept(identities):
    identities.missing.add("team-a")
    for _ in range(2):
        with pytest.raises(StorageUnavailable, match="does not exist"):
            asyncio.run(identities.environ("team-a"))
    identities.missing.clear()  # the team created its Secret: the next ask sees it at once
    assert asyncio.run(identities.environ("team-a")) == VALUES
    assert identities.reads == ["team-a"] * 3


def test_callers_get_their_own_copy(identities):
    first = asyncio.run(identities.environ("team-a"))
    first["AWS_ACCESS_KEY_ID"] = "changed by a caller"
    assert asyncio.run(identities.environ("team-a")) == VALUES
