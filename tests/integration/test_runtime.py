"""The chart's mlcd-sklearn runtime end to end, without a cluster, with KServe's own parts where they exist.

`mlcd run` registers an iris model in an s3:// registry on SeaweedFS; KServe's storage code (PyPI
kserve-storage, what its storage initializer runs) downloads the version into a folder standing for
/mnt/models; the container command and args of the ClusterServingRuntime the chart renders serve it, with
the environment of the InferenceService mlcd builds for a ModelDeployment carrying the handed-off digest;
tritonclient (a real Open Inference Protocol client), in binary and JSON mode, and v1 :predict get the
predictions of the same model loaded in this process. A model.joblib changed in the bucket (metadata.json
with it) is refused before it is unpickled.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import yaml
from sklearn.datasets import load_iris

from mlcd.kserve import build_inferenceservice
from mlcd.storage import open_registry
from tests.ports import free_port
from tests.serving_runtime import MLCD, runtime_command

pytestmark = pytest.mark.s3

ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]
DOWNLOAD = "import sys; from kserve_storage import Storage; Storage.download(sys.argv[1], sys.argv[2])"



@pytest.fixture(scope="module")
def registered(s3_server, tmp_path_factory):
    """`mlcd run` of an iris TrainingRun into s3://BUCKET/iris: (its --json result, the registry)."""
    tmp = tmp_path_factory.mktemp("runtime")
    bucket = s3_server.create_bucket()
    file = tmp / "iris.yaml"
    file.write_text(yaml.safe_dump({
        "apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": "iris"},
        "spec": {"data": {"source": "builtin://iris", "target": "target"},
                 "model": {"estimator": "RandomForestClassifier", "params": {"n_estimators": 20, "max_depth": 4}},
                 "gates": [{"metric": "accuracy", "min": 0.8}], "registry": {"uri": f"s3://{bucket}/iris"}}}))
    env = {**os.environ, **s3_server.env(), "MLCD_HOME": str(tmp / "home")}
    done = subprocess.run([MLCD, "run", str(file), "--json", "-q"], capture_output=True, text=True, env=env,
                          timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["phase"] == "Succeeded" and result["model"]["uri"] == f"s3://{bucket}/iris/v1"
    return result, s3_server, bucket, tmp


def storage_initializer(s3_server, uri: str, folder: Path) -> Path:
    """KServe's storage code, in a process of its own as in the pod, with the variables KServe's S3
    credential builder gives it."""
    env = {**os.environ, "AWS_ENDPOINT_URL": s3_server.endpoint, "AWS_ACCESS_KEY_ID": s3_server.access_key,
           "AWS_SECRET_ACCESS_KEY": s3_server.secret_key, "AWS_DEFAULT_REGION": s3_server.region,
           "S3_USE_HTTPS": "0", "S3_VERIFY_SSL": "0"}
    done = subprocess.run([sys.executable, "-c", DOWNLOAD, uri, str(folder)], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return folder


def predictor_env(model_uri: str, sha256: str) -> dict[str, str]:
    """The environment the InferenceService mlcd builds gives the predictor, for a handed-off version."""
    md = {"apiVersion": "mlcd.io/v1alpha1", "kind": "ModelDeployment", "metadata": {"name": "iris"},
          "spec": {"model": {"uri": model_uri, "sha256": sha256}, "serving": {"maxRequestBytes": 1 << 20}}}
    isvc = build_inferenceservice(md, storage_uri=model_uri, model_sha256=sha256)
    return {e["name"]: e["value"] for e in isvc["spec"]["predictor"]["model"]["env"]}


class Server:
    def __init__(self, command: list[str], env: dict[str, str]):
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                        env={**os.environ, **env, "PYTHONWARNINGS": "ignore"})

    def wait_ready(self, url: str, deadline_s: float = 60) -> None:
        deadline = time.monotonic() + deadline_s
        while time.monotonic() < deadline:
            assert self.process.poll() is None, self.process.stderr.read()
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"{url} not ready in {deadline_s}s")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.process.stderr.close()


@pytest.fixture(scope="module")
def served(registered):
    result, s3_server, _, tmp = registered
    model = result["model"]
    folder = storage_initializer(s3_server, model["uri"], tmp / "mnt-models")
    port = free_port()
    server = Server(runtime_command(folder, "iris", port), predictor_env(model["uri"], model["sha256"]))
    try:
        server.wait_ready(f"http://127.0.0.1:{port}/v2/models/iris/ready")
        yield port
    finally:
        server.stop()


@pytest.fixture(scope="module")
def in_process(registered, monkeypatch_module):
    """The registered model loaded here (sha256 checked), and its predictions for ROWS."""
    result, s3_server, _, _ = registered
    for name, value in s3_server.env().items():
        monkeypatch_module.setenv(name, value)
    registry = open_registry(result["model"]["uri"].rsplit("/", 1)[0])
    model = registry.load_model(result["model"]["version"], result["model"]["sha256"])
    return model.predict(np.asarray(ROWS))


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def test_the_handed_off_digest_is_the_registered_files(registered):
    result, s3_server, bucket, tmp = registered
    folder = storage_initializer(s3_server, result["model"]["uri"], tmp / "check")
    import hashlib

    assert hashlib.sha256((folder / "model.joblib").read_bytes()).hexdigest() == result["model"]["sha256"]
    assert sorted(p.name for p in folder.iterdir()) == ["metadata.json", "model.joblib"]


@pytest.mark.parametrize("binary", [True, False], ids=["binary", "json"])
def test_tritonclient_gets_the_in_process_predictions(served, in_process, binary):
    import tritonclient.http as httpclient

    client = httpclient.InferenceServerClient(url=f"127.0.0.1:{served}")
    try:
        assert client.is_model_ready("iris")
        tensor = httpclient.InferInput("input-0", [len(ROWS), 4], "FP64")
        tensor.set_data_from_numpy(np.asarray(ROWS, dtype=np.float64), binary_data=binary)
        wanted = httpclient.InferRequestedOutput("output-0", binary_data=binary)
        result = client.infer("iris", [tensor], outputs=[wanted])
        assert result.as_numpy("output-0").tolist() == in_process.tolist()
        names = [i["name"] for i in client.get_model_metadata("iris")["inputs"]]
        assert names == list(load_iris().feature_names)
    finally:
        client.close()


def test_v1_predict_gets_the_in_process_predictions(served, in_process):
    request = urllib.request.Request(f"http://127.0.0.1:{served}/v1/models/iris:predict",
                                     data=json.dumps({"instances": ROWS}).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.loads(response.read())["predictions"] == in_process.tolist()


def _raw(port: int, head: bytes, body_chunks=()) -> tuple[bytes, bytes]:
    """(status line and headers, body) of the answer to a request sent byte for byte. The server may answer
    and close before the body is all sent: sending stops there, and the answer is read all the same."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head)
        try:
            for chunk in body_chunks:
                sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            pass
        answer = b""
        while b"\r\n\r\n" not in answer:
            answer += sock.recv(65536)
        head, _, body = answer.partition(b"\r\n\r\n")
        length = int(next(line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(
            b"content-length:")))
        while len(body) < length:
            body += sock.recv(65536)
        return head, body


def test_an_oversized_request_is_refused_before_its_body_is_sent(served):
    """Content-Length of 60 MB and not one byte of body: the 413 comes back at once, so the body is never
    read, let alone parsed while other requests wait."""
    head = (f"POST /v1/models/iris:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {60 << 20}\r\n\r\n").encode()
    status, body = _raw(served, head)
    assert status.startswith(b"HTTP/1.1 413"), status
    assert json.loads(body)["error"].startswith(f"request body of {60 << 20} bytes is over")


def test_a_chunked_request_is_refused_once_it_passes_the_limit(served):
    head = (b"POST /v1/models/iris:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n")
    chunk = b"x" * (256 << 10)
    chunks = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for _ in range(5)]  # 1.25 MiB > 1 MiB
    status, body = _raw(served, head, chunks)
    assert status.startswith(b"HTTP/1.1 413"), status
    assert "limit of 1048576 bytes" in json.loads(body)["error"]


def test_a_one_row_request_is_answered_while_a_60_mb_request_is_being_sent(served, in_process):
    big = json.dumps({"instances": [ROWS[0]] * 2_800_000}).encode()
    assert len(big) > 60_000_000
    outcome = {}

    def send_big():
        request = urllib.request.Request(f"http://127.0.0.1:{served}/v1/models/iris:predict", data=big,
                                         method="POST", headers={"content-type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                outcome["status"] = response.status
        except urllib.error.HTTPError as exc:
            outcome["status"] = exc.code
        except urllib.error.URLError as exc:  # the server answered 413 and closed while the body was going out
            outcome["status"] = type(exc.reason).__name__
        except OSError as exc:
            outcome["status"] = type(exc).__name__

    sender = threading.Thread(target=send_big)
    sender.start()
    request = urllib.request.Request(f"http://127.0.0.1:{served}/v1/models/iris:predict",
                                     data=json.dumps({"instances": ROWS[:1]}).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.loads(response.read())["predictions"] == in_process[:1].tolist()
    sender.join(timeout=60)
    assert outcome["status"] in (413, "ConnectionResetError", "BrokenPipeError")


class _Tripwire:
    """Unpickling this creates a file: proof that a pickle was (or was not) loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_a_model_changed_in_the_bucket_is_refused_before_unpickling(registered):
    """Whoever can write the bucket replaces model.joblib and fixes metadata.json's sha256 to match; the
    digest the ModelDeployment carries (and the InferenceService passes on) still refuses it."""
    import hashlib

    result, s3_server, bucket, tmp = registered
    marker = tmp / "unpickled"
    evil = pickle.dumps(_Tripwire(marker))
    key = result["model"]["uri"].removeprefix(f"s3://{bucket}/")
    metadata = json.loads(s3_server.client().get_object(bucket, f"{key}/metadata.json").read())
    metadata["model"]["sha256"] = hashlib.sha256(evil).hexdigest()
    tampered = f"{key.rsplit('/', 1)[0]}/v99"
    s3_server.put(bucket, f"{tampered}/model.joblib", evil)
    s3_server.put(bucket, f"{tampered}/metadata.json", json.dumps(metadata).encode())
    folder = storage_initializer(s3_server, f"s3://{bucket}/{tampered}", tmp / "tampered")
    env = {**os.environ, **predictor_env(result["model"]["uri"], result["model"]["sha256"]),
           "PYTHONWARNINGS": "ignore"}
    done = subprocess.run(runtime_command(folder, "iris", free_port()), capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 1
    assert f"not the {result['model']['sha256']} it is served as" in done.stderr and "refusing" in done.stderr
    assert not marker.exists(), "the tampered pickle was unpickled"
    shutil.rmtree(folder)
