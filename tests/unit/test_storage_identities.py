"""A namespace's storage Secret is read once for many asks: kept for a short time, shared while being read,
never kept when the read failed."""

import asyncio
import base64
import json
import threading

import pytest
import urllib3
from kubernetes.client import V1Secret
from kubernetes.client.exceptions import ApiException

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


# -- the read itself: what the API server answers, and what StorageReady then says ------------------------
SECRET_VALUES = {"MLCD_S3_ENDPOINT": "http://s3.team-a:9000", "AWS_ACCESS_KEY_ID": "TEAM-A-KEY-ID-7Q2",
                 "AWS_SECRET_ACCESS_KEY": "team-a-secret-9f8e7d"}
WHERE = "Secret mlcd-storage in namespace team-a"
ALL_REQUIRED = "MLCD_S3_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY"


def encoded(values: dict[str, str]) -> dict[str, str]:
    return {key: base64.b64encode(value.encode()).decode() for key, value in values.items()}


class SecretsApi:
    """CoreV1Api as StorageIdentities._read uses it: one read_namespaced_secret, answered by ``answer``
    (a V1Secret to return or an exception to raise), every call's arguments kept."""

    def __init__(self, answer):
        self.answer = answer
        self.calls: list[tuple] = []
        self.release = threading.Event()
        self.release.set()

    def __call__(self, api_client):  # stands in for the CoreV1Api class
        return self

    def read_namespaced_secret(self, name, namespace, **kwargs):
        self.calls.append((name, namespace, kwargs))
        self.release.wait(10)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def forbidden() -> ApiException:
    exc = ApiException(status=403, reason="Forbidden")
    exc.body = json.dumps({"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403,
                           "message": 'secrets "mlcd-storage" is forbidden: User "system:serviceaccount:mlcd:mlcd" '
                                      'cannot get resource "secrets" in API group "" in the namespace "team-a"'})
    return exc


@pytest.fixture
def api(monkeypatch):
    """The answer the API server gives to the operator's read of team-a's Secret (set by each test)."""
    stub = SecretsApi(V1Secret(data=encoded(SECRET_VALUES)))
    monkeypatch.setattr("mlcd.handlers.storage.CoreV1Api", stub)
    return stub


@pytest.fixture
def reader(api):
    pool = NamespacePool(workers=4, per_namespace=2, timeout=5)
    yield StorageIdentities("mlcd-storage", pool, client=lambda: "api client")
    api.release.set()
    pool.shutdown()


def refused(reader) -> StorageUnavailable:
    with pytest.raises(StorageUnavailable) as caught:
        asyncio.run(reader.environ("team-a"))
    return caught.value


def assert_no_secret_value_in(text: str) -> None:
    for value in SECRET_VALUES.values():
        assert value not in text and base64.b64encode(value.encode()).decode() not in text


def test_a_complete_secret_is_read_by_name_with_a_bounded_request(reader, api):
    assert asyncio.run(reader.environ("team-a")) == SECRET_VALUES
    assert api.calls == [("mlcd-storage", "team-a", {"_request_timeout": 10})]


def test_a_secret_the_operator_may_not_read_is_unreadable_and_names_the_rbac_rule(reader, api):
    api.answer = forbidden()
    found = refused(reader)
    assert found.reason == "SecretUnreadable"
    assert str(found) == (f"the operator may not read {WHERE} (RBAC: get secrets with resourceNames "
                          "[mlcd-storage])")
    # Not kept: once RBAC lets the operator read it, the next ask sees it.
    api.answer = V1Secret(data=encoded(SECRET_VALUES))
    assert asyncio.run(reader.environ("team-a")) == SECRET_VALUES and len(api.calls) == 2


def test_another_api_error_is_unreadable_with_its_status(reader, api):
    api.answer = ApiException(status=500, reason="Internal Server Error")
    found = refused(reader)
    assert (found.reason, str(found)) == ("SecretUnreadable", f"reading {WHERE} failed: HTTP 500")


@pytest.mark.parametrize("error", [
    urllib3.exceptions.MaxRetryError(None, "/api/v1/namespaces/team-a/secrets/mlcd-storage", "refused"),
    urllib3.exceptions.ReadTimeoutError(None, "/api/v1/namespaces/team-a/secrets/mlcd-storage", "read timed out"),
    ConnectionResetError(104, "Connection reset by peer"),
])
def test_an_api_server_that_does_not_answer_is_unreadable(reader, api, error):
    api.answer = error
    found = refused(reader)
    assert (found.reason, str(found)) == (
        "SecretUnreadable", f"reading {WHERE} failed: the API server did not answer ({type(error).__name__})")


def test_a_read_that_does_not_end_in_time_is_unreadable(api):
    api.release.clear()  # the API server never answers
    pool = NamespacePool(workers=4, per_namespace=2, timeout=0.2)
    reader = StorageIdentities("mlcd-storage", pool, client=lambda: "api client")
    try:
        found = refused(reader)
    finally:
        api.release.set()
        pool.shutdown()
    assert (found.reason, str(found)) == ("SecretUnreadable", f"reading {WHERE} timed out")


@pytest.mark.parametrize(("data", "missing"), [
    ({k: v for k, v in SECRET_VALUES.items() if k != "AWS_SECRET_ACCESS_KEY"}, "AWS_SECRET_ACCESS_KEY"),
    ({**SECRET_VALUES, "AWS_SECRET_ACCESS_KEY": ""}, "AWS_SECRET_ACCESS_KEY"),  # present but empty
    ({"AWS_REGION": "eu-west-1", "MLCD_S3_SECURE": "true"}, ALL_REQUIRED),
    (None, ALL_REQUIRED),  # a Secret with no data at all
], ids=["secret-key-absent", "secret-key-empty", "only-optional-keys", "no-data"])
def test_a_secret_without_the_keys_is_invalid_and_names_them_not_their_values(reader, api, data, missing):
    api.answer = V1Secret(data=None if data is None else encoded(data))
    found = refused(reader)
    assert (found.reason, str(found)) == ("SecretInvalid", f"{WHERE} lacks the keys {missing}")
    assert_no_secret_value_in(str(found))


@pytest.mark.parametrize("bad", ["team-a-secret-9f8e7d", base64.b64encode(b"\xff\xfeteam-a").decode()],
                         ids=["not-base64", "not-utf8"])
def test_a_key_that_is_not_base64_text_is_invalid_and_not_echoed(reader, api, bad):
    api.answer = V1Secret(data={**encoded(SECRET_VALUES), "AWS_SECRET_ACCESS_KEY": bad})
    found = refused(reader)
    assert (found.reason, str(found)) == ("SecretInvalid", f"{WHERE}: key AWS_SECRET_ACCESS_KEY is not base64 of "
                                                           "UTF-8 text")
    assert bad not in str(found)
    assert_no_secret_value_in(str(found))
