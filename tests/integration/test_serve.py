"""`mlcd serve` over real HTTP on 127.0.0.1: KServe's model server, v1 and v2, checked inputs, safe loading."""

from __future__ import annotations

import json
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import joblib
import numpy as np
import pytest
from sklearn.datasets import load_iris

from mlcd.storage import open_registry
from mlcd_components import train
from tests.ports import free_port

MLCD = str(Path(sys.executable).with_name("mlcd"))
FEATURES = ["sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)"]
ROWS = [[5.1, 3.5, 1.4, 0.2], [6.7, 3.0, 5.2, 2.3], [5.9, 3.0, 4.2, 1.5]]


def _register(registry, model, tmp: Path, sklearn_version: str | None = None):
    path = tmp / f"model-{len(registry.versions()) + 1}.joblib"
    joblib.dump(model, path)
    import sklearn

    # The parts of metadata.json that serving reads, as the register step writes them.
    meta = {"estimator": "RandomForestClassifier",
            "signature": {"features": [{"name": n, "dtype": "float64"} for n in FEATURES]},
            "versions": {"sklearn": sklearn_version or sklearn.__version__}}
    return registry.register(path, meta)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A registry with one iris model, trained the way mlcd's train step does it."""
    tmp = tmp_path_factory.mktemp("serve")
    frame = load_iris(as_frame=True).frame
    model = train.build_pipeline("RandomForestClassifier", {"n_estimators": 10}, {}, FEATURES, seed=42)
    model.fit(train.as_array(frame[FEATURES]), frame["target"])
    registry = open_registry((tmp / "registry" / "iris").as_uri())
    version = _register(registry, model, tmp)
    return {"tmp": tmp, "registry": registry, "model": model, "version": version}



def _http(method: str, url: str, body: bytes | None = None, content_type="application/json"):
    request = urllib.request.Request(url, data=body, method=method, headers={"content-type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_ready(process: subprocess.Popen, url: str, deadline_s: float = 45.0) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"mlcd serve exited with {process.returncode}: {process.stderr.read()}")
        try:
            if _http("GET", url)[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} not ready within {deadline_s}s")


@pytest.fixture(scope="module")
def server(trained):
    """`mlcd serve FILE` for a ModelDeployment named flowers (so the model name comes from it)."""
    manifest = trained["tmp"] / "flowers.yaml"
    spec = {"model": {"uri": trained["version"].uri}}
    manifest.write_text(json.dumps({"apiVersion": "mlcd.io/v1alpha1", "kind": "ModelDeployment",
                                    "metadata": {"name": "flowers"}, "spec": spec}))
    port = free_port()
    process = subprocess.Popen([MLCD, "serve", str(manifest), "--port", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, f"{base}/v2/models/flowers/ready")
        yield base
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        process.stderr.close()


def post(base: str, path: str, document) -> tuple[int, dict]:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    status, raw = _http("POST", base + path, body)
    return status, json.loads(raw)


def expected(trained) -> list:
    return trained["model"].predict(np.asarray(ROWS)).tolist()


def test_v1_predictions_equal_in_process(server, trained):
    status, body = post(server, "/v1/models/flowers:predict", {"instances": ROWS})
    assert status == 200 and body["predictions"] == expected(trained)
    by_name = [dict(zip(FEATURES, row, strict=True)) for row in ROWS]
    status, body = post(server, "/v1/models/flowers:predict", {"instances": by_name})
    assert status == 200 and body["predictions"] == expected(trained)


def test_v2_tensor_and_named_inputs_equal_in_process(server, trained):
    tensor = {"id": "r1", "inputs": [{"name": "input-0", "shape": [3, 4], "datatype": "FP64",
                                      "data": [v for row in ROWS for v in row]}]}
    status, body = post(server, "/v2/models/flowers/infer", tensor)
    assert status == 200 and body["id"] == "r1"
    (output,) = body["outputs"]
    assert output["shape"] == [3] and output["data"] == expected(trained)
    columns = np.asarray(ROWS).T.tolist()
    named = {"inputs": [{"name": n, "shape": [3], "datatype": "FP32", "data": c}
                        for n, c in reversed(list(zip(FEATURES, columns, strict=True)))]}
    status, body = post(server, "/v2/models/flowers/infer", named)
    assert status == 200 and body["outputs"][0]["data"] == expected(trained)


@pytest.mark.parametrize(("path", "document", "says"), [
    ("/v1/models/flowers:predict", {"instances": [[5.1, 3.5, 1.4]]}, "instance 0 has 3 values"),
    ("/v1/models/flowers:predict", {"instances": [[5.1, 3.5, 1.4, "wide"]]}, "expected a number"),
    ("/v1/models/flowers:predict", {"instances": [[5.1, 3.5, 1.4, True]]}, "expected a number"),
    ("/v1/models/flowers:predict", {"instances": [{"sepal length": 1}]}, "missing features"),
    ("/v1/models/flowers:predict", {"instances": []}, "is empty"),
    ("/v1/models/flowers:predict", {"rows": ROWS}, '"instances"'),
    ("/v1/models/flowers:predict", [ROWS], '"instances"'),
    ("/v1/models/flowers:predict", b'{"instances": [[5.1,', ""),
    ("/v2/models/flowers/infer", {"inputs": [{"name": "x", "shape": [1, 3], "datatype": "FP64",
                                             "data": [1, 2, 3]}]}, "expected [N, 4]"),
    ("/v2/models/flowers/infer", {"inputs": [{"name": "x", "shape": [2, 4], "datatype": "FP64",
                                             "data": [1, 2, 3, 4]}]}, "needs 8 values"),
    ("/v2/models/flowers/infer", {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "BYTES",
                                             "data": ["a", "b", "c", "d"]}]}, "datatype BYTES"),
    ("/v2/models/flowers/infer", {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP64",
                                             "data": [1, 2, 3, "four"]}]}, "expected a number"),
    ("/v2/models/flowers/infer", {"inputs": [{"name": n, "shape": [1], "datatype": "FP64", "data": [1.0]}
                                            for n in ["sepal length", "sepal width (cm)"]]},
     "unknown ['sepal length']"),
    ("/v2/models/flowers/infer", {"inputs": []}, "no inputs"),
    ("/v2/models/flowers/infer", {"inputs": "nope"}, ""),
    ("/v2/models/flowers/infer", b'{"inputs": [', ""),
])
def test_malformed_requests_get_4xx_with_a_message(server, path, document, says):
    status, body = post(server, path, document)
    assert 400 <= status < 500, (status, body)
    message = body.get("error") or json.dumps(body.get("detail"))  # ours / FastAPI's schema check
    assert message and says in message


def test_wrong_shape_names_the_expected_features(server):
    status, body = post(server, "/v1/models/flowers:predict", {"instances": [[1, 2]]})
    assert status == 400 and all(name in body["error"] for name in FEATURES)


def test_health_readiness_metadata_and_metrics(server):
    for path in ("/", "/v2/health/live", "/v2/health/ready", "/v1/models/flowers", "/v2/models/flowers/ready"):
        assert _http("GET", server + path)[0] == 200, path
    assert _http("GET", server + "/v2/models/nosuch/ready")[0] == 404
    status, raw = _http("GET", server + "/v2/models/flowers")
    assert status == 200 and [i["name"] for i in json.loads(raw)["inputs"]] == FEATURES
    post(server, "/v1/models/flowers:predict", {"instances": ROWS})
    status, raw = _http("GET", server + "/metrics")
    assert status == 200 and b'request_predict_seconds_count{model_name="flowers"}' in raw


def test_binds_loopback_only(server):
    port = int(server.rsplit(":", 1)[1])
    assert _listeners(port) == {"127.0.0.1"}


def _listeners(port: int) -> set[str]:
    """Local addresses listening on ``port``, from /proc/net/tcp (state 0A = LISTEN)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


class _Tripwire:
    """Unpickling this creates a file: proof that a pickle was (or was not) loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _serve_fails(*args: str) -> subprocess.CompletedProcess:
    done = subprocess.run([MLCD, "serve", *args, "--port", str(free_port())], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode != 0, done.stderr
    return done


def test_a_tampered_model_is_refused_before_unpickling(trained):
    version = _register(trained["registry"], trained["model"], trained["tmp"])
    marker = trained["tmp"] / "unpickled"
    model_file = Path(version.uri.removeprefix("file://")) / "model.joblib"
    model_file.write_bytes(pickle.dumps(_Tripwire(marker)))
    done = _serve_fails("--model-uri", version.uri)
    assert "sha256 mismatch" in done.stderr and "refusing to load it" in done.stderr
    assert not marker.exists(), "the tampered pickle was unpickled"


def test_a_model_from_a_newer_scikit_learn_is_refused(trained):
    import sklearn

    version = _register(trained["registry"], trained["model"], trained["tmp"], sklearn_version="99.1.0")
    done = _serve_fails("--model-uri", version.uri)
    assert "99.1.0" in done.stderr and sklearn.__version__ in done.stderr


def test_neither_or_both_sources_is_a_usage_error(trained):
    done = subprocess.run([MLCD, "serve"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "--model-uri" in done.stderr


def test_a_champion_pointing_outside_its_registry_is_not_followed(trained, tmp_path):
    """champion.json is a file in the bucket: whoever writes it must not be able to send the server to a
    model of their own somewhere else."""
    elsewhere = open_registry((tmp_path / "elsewhere").as_uri())
    foreign = _register(elsewhere, trained["model"], tmp_path)
    registry = open_registry((tmp_path / "iris").as_uri())
    own = _register(registry, trained["model"], tmp_path)
    (tmp_path / "iris" / "champion.json").write_text(json.dumps({"version": own.version, "uri": foreign.uri}))
    done = _serve_fails("--model-uri", registry.uri)
    assert f"champion.json names {foreign.uri}" in done.stderr and "refusing to follow it" in done.stderr


def test_the_runtime_form_serves_a_downloaded_version_folder_on_loopback(trained, tmp_path):
    """`--model_dir --model_name --http_port`, as the mlcd-sklearn runtime passes them, with the digest the
    InferenceService carries; without --host it stays on 127.0.0.1."""
    folder = Path(trained["version"].uri.removeprefix("file://"))
    port = free_port()
    env = {**os.environ, "MLCD_MODEL_SHA256": trained["version"].metadata["model"]["sha256"],
           "PYTHONWARNINGS": "ignore"}
    process = subprocess.Popen([MLCD, "serve", f"--model_dir={folder}", "--model_name=petals", f"--http_port={port}"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        _wait_ready(process, f"http://127.0.0.1:{port}/v2/models/petals/ready")
        status, body = post(f"http://127.0.0.1:{port}", "/v1/models/petals:predict", {"instances": ROWS})
        assert status == 200 and body["predictions"] == expected(trained)
        assert _listeners(port) == {"127.0.0.1"}
    finally:
        process.terminate()
        process.wait(timeout=15)
        process.stderr.close()
