"""One registry suite, two backends: file:// in a temp dir and s3:// on a real SeaweedFS."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
import uuid
from dataclasses import dataclass
from pathlib import Path

import joblib
import pytest
from sklearn.tree import DecisionTreeClassifier

from mlcd.storage import StorageError, open_registry, read_dataset, resolve_model_dir
from tests.integration.s3server import S3Server

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Backend:
    """A registry URI plus raw access to its objects, to play the part of a crash or an attacker."""

    uri: str
    write_raw: object
    read_raw: object


def _file_backend(tmp_path: Path) -> Backend:
    root = tmp_path / "registry" / "iris"

    def write_raw(key: str, data: bytes) -> None:
        (root / key).parent.mkdir(parents=True, exist_ok=True)
        (root / key).write_bytes(data)

    return Backend(root.as_uri(), write_raw, lambda key: (root / key).read_bytes())


def _s3_backend(server: S3Server) -> Backend:
    bucket = server.create_bucket()

    def read_raw(key: str) -> bytes:
        response = server.client().get_object(bucket, f"iris/{key}")
        try:
            return response.read()
        finally:
            response.close()
            response.release_conn()

    return Backend(f"s3://{bucket}/iris", lambda key, data: server.put(bucket, f"iris/{key}", data), read_raw)


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def backend(request, tmp_path, monkeypatch) -> Backend:
    if request.param == "file":
        return _file_backend(tmp_path)
    server = request.getfixturevalue("s3_server")
    server.use(monkeypatch)
    return _s3_backend(server)


@pytest.fixture(scope="module")
def model_file(tmp_path_factory) -> Path:
    frame, _ = read_dataset("builtin://iris")
    model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(
        frame.drop(columns="target"), frame["target"]
    )
    path = tmp_path_factory.mktemp("model") / "model.joblib"
    joblib.dump(model, path)
    return path


def test_register_list_load_and_promote(backend, model_file):
    registry = open_registry(backend.uri)
    assert registry.versions() == []
    assert registry.champion() is None
    metadata = {"metrics": {"accuracy": 0.97}, "model": {"estimator": "DecisionTreeClassifier"}}

    first = registry.register(model_file, metadata)
    second = registry.register(model_file, {"metrics": {"accuracy": 0.98}})

    assert (first.version, second.version) == (1, 2)
    assert first.uri == registry.version_uri(1) == f"{backend.uri}/v1"
    assert metadata == {"metrics": {"accuracy": 0.97}, "model": {"estimator": "DecisionTreeClassifier"}}
    stored = registry.metadata(1)
    assert stored == first.metadata
    assert stored["metrics"] == {"accuracy": 0.97} and stored["version"] == 1 and stored["uri"] == first.uri
    assert stored["model"]["estimator"] == "DecisionTreeClassifier"
    assert stored["model"]["sha256"] == hashlib.sha256(model_file.read_bytes()).hexdigest()
    assert stored["registeredAt"].endswith("Z")
    assert registry.versions() == [1, 2]
    frame, _ = read_dataset("builtin://iris")
    features = frame.drop(columns="target")
    assert (registry.load_model(2).predict(features) == joblib.load(model_file).predict(features)).all()

    promoted = registry.set_champion(2, reason="accuracy 0.98 >= champion")
    assert promoted == registry.champion()
    assert promoted["version"] == 2 and promoted["uri"] == second.uri
    assert promoted["reason"] == "accuracy 0.98 >= champion" and promoted["promotedAt"]
    resolved, version = resolve_model_dir(second.uri)
    assert (resolved.uri, version) == (backend.uri, 2)


def test_missing_versions_are_errors_naming_the_uri(backend, model_file):
    registry = open_registry(backend.uri)
    registry.register(model_file, {})
    for call in (registry.metadata, registry.load_model, lambda v: registry.set_champion(v, "x")):
        with pytest.raises(StorageError, match=rf"^{backend.uri}/v7: .*no such .*model version"):
            call(7)


def test_a_tampered_model_is_refused_before_it_is_unpickled(backend, model_file, tmp_path):
    registry = open_registry(backend.uri)
    registered = registry.register(model_file, {})
    marker = tmp_path / "payload-ran"
    evil = tmp_path / "evil.joblib"
    joblib.dump(_Payload(str(marker)), evil)
    backend.write_raw("v1/model.joblib", evil.read_bytes())

    with pytest.raises(StorageError, match=rf"^{registered.uri}/model.joblib: sha256 mismatch"):
        registry.load_model(1)

    assert not marker.exists()
    joblib.load(evil)  # the same bytes, unpickled without the check, do run the payload
    assert marker.exists()


class _Payload:
    """Unpickling this creates a directory: harmless, and visible."""

    def __init__(self, path: str):
        self.path = path

    def __reduce__(self):
        return (os.makedirs, (self.path,))


def test_versions_are_never_overwritten_nor_reused(backend, model_file):
    registry = open_registry(backend.uri)
    first = registry.register(model_file, {"run": "a"})
    model_bytes = backend.read_raw("v1/model.joblib")
    backend.write_raw("v2/model.joblib", b"left behind by a registration that died")

    later = [registry.register(model_file, {"run": run}).version for run in ("b", "c")]

    assert later == [3, 4]
    assert registry.versions() == [1, 3, 4]
    assert registry.metadata(1) == first.metadata
    assert backend.read_raw("v1/model.joblib") == model_bytes
    assert backend.read_raw("v2/model.joblib") == b"left behind by a registration that died"


_CHILD = textwrap.dedent(
    """
    import sys
    from mlcd.storage import open_registry

    registry = open_registry(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(int(sys.argv[3])):
        print(registry.register(sys.argv[2], {"pid": 0}).version, flush=True)
    """
)


def _spawn(code: str, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO / "operator")}
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )


@pytest.fixture
def spawn():
    """Starts helper processes and, whatever the test's outcome, leaves none of them running."""
    children: list[subprocess.Popen] = []

    def start(code: str, *args: str) -> subprocess.Popen:
        children.append(_spawn(code, *args))
        return children[-1]

    yield start
    for child in children:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGKILL)
        child.communicate()


def test_concurrent_registrations_from_several_processes_get_distinct_versions(backend, model_file, spawn):
    children = [spawn(_CHILD, backend.uri, str(model_file), "3") for _ in range(4)]
    for child in children:
        assert child.stdout.readline().strip() == "ready"
    for child in children:  # released together, after every one of them has imported and connected
        child.stdin.write("go\n")
        child.stdin.flush()
    versions = []
    for child in children:
        out, _ = child.communicate(timeout=120)
        assert child.returncode == 0
        versions += [int(line) for line in out.split()]

    assert len(versions) == len(set(versions)) == 12
    assert open_registry(backend.uri).versions() == sorted(versions)


_KILLED_CHILD = textwrap.dedent(
    """
    import sys, time
    from mlcd.storage import open_registry
    from mlcd.storage.filestore import FileStore
    from mlcd.storage.s3store import S3Store

    def hang_before_metadata(write_bytes):
        def write(self, key, data):
            if key.endswith("metadata.json"):
                print("model uploaded", key.split("/")[0], flush=True)
                time.sleep(600)
            write_bytes(self, key, data)
        return write

    FileStore.write_bytes = hang_before_metadata(FileStore.write_bytes)
    S3Store.write_bytes = hang_before_metadata(S3Store.write_bytes)
    open_registry(sys.argv[1]).register(sys.argv[2], {})
    """
)


def test_a_registration_killed_half_way_leaves_no_version(backend, model_file, spawn):
    registry = open_registry(backend.uri)
    registry.register(model_file, {})
    child = spawn(_KILLED_CHILD, backend.uri, str(model_file))
    line = child.stdout.readline().split()
    os.kill(child.pid, signal.SIGKILL)
    child.communicate()

    assert line == ["model", "uploaded", "v2"]
    assert backend.read_raw("v2/model.joblib") == model_file.read_bytes()
    assert registry.versions() == [1]
    with pytest.raises(StorageError, match="no such"):
        registry.metadata(2)
    with pytest.raises(StorageError, match="cannot promote"):
        registry.set_champion(2, "must not be possible")
    assert registry.register(model_file, {}).version == 3
    assert registry.versions() == [1, 3]


def test_register_refuses_a_missing_model_file(backend, tmp_path):
    missing = tmp_path / "nope.joblib"
    with pytest.raises(StorageError, match=rf"^{missing.as_uri()}: cannot read the model file"):
        open_registry(backend.uri).register(missing, {})
    assert open_registry(backend.uri).versions() == []


@pytest.mark.s3
def test_no_secret_in_logs_errors_or_stored_objects(s3_server, monkeypatch, model_file, caplog, tmp_path):
    caplog.set_level("DEBUG")
    wrong_secret = f"wrong-secret-{uuid.uuid4().hex}"
    s3_server.use(monkeypatch)
    bucket = s3_server.create_bucket()
    s3_server.put(bucket, "data/iris.csv", read_dataset("builtin://iris")[0].to_csv(index=False).encode())
    registry = open_registry(f"s3://{bucket}/iris")
    version = registry.register(model_file, {"metrics": {"accuracy": 1.0}})
    registry.load_model(version.version)
    registry.set_champion(version.version, "first")
    read_dataset(f"s3://{bucket}/data/iris.csv")
    messages = [repr(registry), repr(version)]
    failing = [
        lambda: read_dataset(f"s3://{bucket}/data/missing.csv"),
        lambda: registry.metadata(99),
        lambda: open_registry(f"s3://no-such-bucket-{bucket}/x").versions(),
    ]
    for call in failing:
        messages.append(_error_of(call))
    s3_server.use(monkeypatch, AWS_SECRET_ACCESS_KEY=wrong_secret)
    messages.append(_error_of(lambda: read_dataset(f"s3://{bucket}/data/iris.csv")))
    messages.append(_error_of(lambda: open_registry(f"s3://{bucket}/iris").register(model_file, {})))
    s3_server.use(monkeypatch, AWS_SECRET_ACCESS_KEY=wrong_secret, MLCD_S3_ENDPOINT="127.0.0.1:9")
    messages.append(_error_of(lambda: open_registry(f"s3://{bucket}/iris").versions()))

    client = s3_server.client()
    stored = [_read(client, bucket, obj.object_name) for obj in client.list_objects(bucket, recursive=True)]
    assert len(stored) >= 5  # data, claim, model, metadata, champion
    haystack = [*messages, *(record.getMessage() for record in caplog.records), *stored]
    assert "bucket 'no-such-bucket-" in messages[-4] and "does not exist" in messages[-4]
    assert "access denied" in messages[-3] and "unreachable" in messages[-1]
    for secret in (s3_server.secret_key, wrong_secret):
        assert not [text for text in haystack if secret in text]


def _error_of(call) -> str:
    with pytest.raises(StorageError) as caught:
        call()
    return f"{caught.value}\n{caught.value!r}\n{caught.getrepr()}"


def _read(client, bucket: str, key: str) -> str:
    response = client.get_object(bucket, key)
    try:
        return response.read().decode(errors="replace")
    finally:
        response.close()
        response.release_conn()


def _json_of_size(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes."""
    frame = b'{"pad": ""}'
    return frame[:-2] + b"x" * (size - len(frame)) + frame[-2:]


@pytest.fixture
def reads(monkeypatch):
    """How many bytes each read of the registry's store (file:// or s3://) brought back."""
    from mlcd.storage.filestore import FileStore
    from mlcd.storage.s3store import S3Store

    sizes: list[int] = []
    for store in (FileStore, S3Store):
        def read_bytes(self, key, limit=None, _real=store.read_bytes):
            data = _real(self, key, limit)
            sizes.append(-1 if data is None else len(data))
            return data

        monkeypatch.setattr(store, "read_bytes", read_bytes)
    return sizes


def test_records_the_operator_reads_are_bounded_and_a_larger_one_is_refused_unread(backend, reads):
    """The run and drift records are written by a step into a bucket the tenant controls, and read by the
    operator: one GET of at most 1 MiB (+1 byte, to tell a larger object), never the whole object."""
    from mlcd.storage.registry import _MAX_RECORD_BYTES

    assert _MAX_RECORD_BYTES == 1 << 20
    registry = open_registry(backend.uri)
    backend.write_raw("runs/at-limit.json", _json_of_size(_MAX_RECORD_BYTES))
    backend.write_raw("drift/at-limit.json", _json_of_size(_MAX_RECORD_BYTES))
    assert len(registry.run_record("at-limit")["pad"]) == len(registry.drift_record("at-limit")["pad"])
    huge = 4 * _MAX_RECORD_BYTES
    backend.write_raw("runs/huge.json", _json_of_size(huge))
    backend.write_raw("drift/huge.json", _json_of_size(huge))
    reads.clear()
    for read, key in ((registry.run_record, "runs/huge.json"), (registry.drift_record, "drift/huge.json")):
        with pytest.raises(StorageError) as refused:
            read("huge")
        assert str(refused.value) == f"{backend.uri}/{key}: larger than 1048576 bytes; not read"
    assert reads == [_MAX_RECORD_BYTES + 1] * 2  # a Range GET (a bounded read): 1 MiB + 1 of the 4 MiB
    assert registry.run_record("absent") is None and registry.drift_record("absent") is None


def test_metadata_the_operator_reads_is_bounded_and_a_larger_one_is_refused_unread(backend, model_file, reads):
    """metadata.json of a version the operator deploys: one GET of at most MAX_METADATA_BYTES (+1)."""
    from mlcd.storage import read_version_metadata
    from mlcd.storage.registry import MAX_METADATA_BYTES

    registry = open_registry(backend.uri)
    version = registry.register(model_file, {"metrics": {"accuracy": 1.0}})
    assert read_version_metadata(version.uri)["version"] == 1
    backend.write_raw("v2/model.joblib", model_file.read_bytes())
    backend.write_raw("v2/metadata.json", _json_of_size(MAX_METADATA_BYTES + 4096))
    reads.clear()
    with pytest.raises(StorageError) as refused:
        read_version_metadata(f"{backend.uri}/v2")
    assert str(refused.value) == f"{backend.uri}/v2/metadata.json: larger than {MAX_METADATA_BYTES} bytes; not read"
    assert reads == [MAX_METADATA_BYTES + 1]
    with pytest.raises(StorageError, match="larger than 64 bytes; not read"):
        read_version_metadata(version.uri, max_bytes=64)
