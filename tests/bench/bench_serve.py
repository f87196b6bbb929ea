"""Benchmark the mlcd-sklearn runtime's server: single-row v1 and v2 requests on 127.0.0.1 against in-process predict.

    python tests/bench/bench_serve.py [--requests 1000] [--seconds 20]

The model is the iris RandomForest of the sample TrainingRun (100 trees, max_depth 4), trained as mlcd's
train step trains it and registered in a temporary registry. The server is started with the command and
args of the ClusterServingRuntime the chart renders (`mlcd serve --model_dir` of the version folder, as
KServe runs the container), with the digest an InferenceService passes it. Every target gets the same sequential
load (one request in flight, one kept-alive connection, single rows cycling through iris), bounded
by --requests or --seconds per target; the targets take turns in rounds, so that the load of a
shared machine drifting during the run weighs on all of them alike. Figures: requests per second and
p50/p99 latency, each put against in-process ``model.predict`` on a one-row array (the input the
model was fitted on), and against the server's own predict path run in-process (mlcd's Predictor: past
a passthrough first step, under one warning filter, as scikit-learn's per-tree wrapper re-installs every
filter of the process), which leaves the server's own cost. MLflow's `mlflow models serve` of the same
model is measured when the separate venv .bench-venv-mlflow has MLflow (it must not share mlcd's
dependencies); otherwise it says why not.
Figures and ratios, no asserts.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import joblib
import numpy as np
from sklearn.datasets import load_iris

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # run as a script: the repository's root

from mlcd.serving import Signature  # noqa: E402
from mlcd.serving.predictor import Predictor  # noqa: E402
from mlcd.storage import open_registry  # noqa: E402
from mlcd_components import train  # noqa: E402
from tests.bench.timing import bench_line  # noqa: E402
from tests.ports import free_port  # noqa: E402
from tests.serving_runtime import runtime_command  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
MLFLOW_VENV = REPO / ".bench-venv-mlflow"
PARAMS = {"n_estimators": 100, "max_depth": 4}


@dataclass
class Figures:
    name: str
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.seconds

    def percentile(self, q: float) -> float:
        return float(np.percentile(self.latencies, q)) * 1000


def interleaved(targets: dict, count: int, *, requests: int, seconds: float, rounds: int = 10,
                warmup: int = 30) -> list[Figures]:
    """Each ``call(i)`` sends row ``i`` (cycling through ``count`` rows). The targets take turns, a slice of
    the requests each per round, so that a machine whose load drifts (it is shared) weighs on all alike.
    A target stops at ``requests`` or after ``seconds`` of its own time, whichever comes first."""
    figures = {name: Figures(name) for name in targets}
    for call in targets.values():
        for i in range(warmup):
            call(i % count)
    per_round = max(1, requests // rounds)
    for _ in range(rounds):
        for name, call in targets.items():
            mine = figures[name]
            start = time.perf_counter()
            for _ in range(per_round):
                if mine.seconds + time.perf_counter() - start >= seconds:
                    break
                t0 = time.perf_counter()
                call(len(mine.latencies) % count)
                mine.latencies.append(time.perf_counter() - t0)
            mine.seconds += time.perf_counter() - start
    return list(figures.values())


class Client:
    """One kept-alive HTTP/1.1 connection, as a load balancer or a well-behaved client holds one."""

    def __init__(self, port: int, timeout: float = 30):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
        self.reconnects = 0

    def post(self, path: str, document: dict) -> dict:
        try:
            response = self._send(path, document)
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # The server closed the kept-alive connection while idle (gunicorn's keep-alive under mlflow ends
            # it after a few seconds): open a new one and send again, as an HTTP client library would.
            self.connection.close()
            self.reconnects += 1
            response = self._send(path, document)
        body = response.read()
        if response.status != 200:
            raise RuntimeError(f"{path}: HTTP {response.status}: {body[:300]!r}")
        return json.loads(body)

    def _send(self, path: str, document: dict) -> http.client.HTTPResponse:
        self.connection.request("POST", path, json.dumps(document), {"content-type": "application/json"})
        return self.connection.getresponse()



def wait_for(process: subprocess.Popen, port: int, path: str, deadline_s: float = 120) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", path)
            if connection.getresponse().status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"127.0.0.1:{port}{path} not ready in {deadline_s}s")


def stop(process: subprocess.Popen) -> None:
    """Stop a server started here by its process group (MLflow's CLI runs its web server as a child)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start(command: list[str], port: int, ready_path: str, env: dict | None = None) -> subprocess.Popen:
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
                               env=env)
    try:
        wait_for(process, port, ready_path)
    except BaseException:
        stop(process)
        raise
    return process


def train_and_register(tmp: Path):
    iris = load_iris(as_frame=True)
    features = list(iris.feature_names)
    model = train.build_pipeline("RandomForestClassifier", PARAMS, {}, features, seed=42)
    model.fit(train.as_array(iris.frame[features]), iris.frame["target"])
    path = tmp / "model.joblib"
    joblib.dump(model, path)
    meta = {"estimator": "RandomForestClassifier", "params": PARAMS, "versions": {"sklearn": _sklearn_version()},
            "signature": {"features": [{"name": n, "dtype": "float64"} for n in features]}}
    version = open_registry((tmp / "registry" / "iris").as_uri()).register(path, meta)
    return model, features, iris.data.to_numpy().tolist(), version, path


def mlcd_targets(stack: contextlib.ExitStack, uri: str, sha256: str, features: list[str], rows) -> dict:
    port = free_port()
    folder = Path(uri.removeprefix("file://"))  # a file:// version folder is what the storage initializer leaves
    server = start(runtime_command(folder, "iris", port), port, "/v2/models/iris/ready",
                   env={**os.environ, "MLCD_MODEL_SHA256": sha256})
    stack.callback(stop, server)
    v1, v2 = Client(port), Client(port)
    return {
        "mlcd-sklearn runtime, v1": lambda i: v1.post("/v1/models/iris:predict", {"instances": [rows[i]]}),
        "mlcd-sklearn runtime, v2": lambda i: v2.post("/v2/models/iris/infer", {"inputs": [
            {"name": "input-0", "shape": [1, len(features)], "datatype": "FP64", "data": rows[i]}]}),
    }


def one_row_behind_a_large_request(folder: Path, sha256: str, rows, limit: int) -> float:
    """Seconds a one-row v1 request takes when sent just after a 60 MB one, to a runtime server started with
    --max-request-bytes ``limit``: what one large client costs everyone else on the same replica."""
    port = free_port()
    command = [*runtime_command(folder, "iris", port), f"--max-request-bytes={limit}"]
    server = start(command, port, "/v2/models/iris/ready", env={**os.environ, "MLCD_MODEL_SHA256": sha256})
    big = json.dumps({"instances": [rows[0]] * 2_800_000}).encode()  # 60 MB of JSON
    sent = threading.Event()

    def send_big():
        head = (f"POST /v1/models/iris:predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                f"Content-Length: {len(big)}\r\n\r\n").encode()
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=300) as sock:
                sock.sendall(head + big)
                sent.set()
                sock.recv(1024)
        except OSError:  # refused and closed before the body was all sent
            sent.set()

    sender = threading.Thread(target=send_big)
    try:
        sender.start()
        sent.wait(timeout=300)
        time.sleep(0.5)  # the server has the whole body by now: refused long ago, or being parsed
        start_at = time.perf_counter()
        Client(port, timeout=600).post("/v1/models/iris:predict", {"instances": [rows[0]]})
        return time.perf_counter() - start_at
    finally:
        sender.join(timeout=300)
        stop(server)


def mlflow_targets(stack: contextlib.ExitStack, model_path: Path, rows, tmp: Path) -> dict | str:
    """MLflow's server for the same model, or why it is not measured."""
    python = MLFLOW_VENV / "bin" / "python"
    if not python.exists():
        return (f"skipped: no {MLFLOW_VENV.name} (create it with `python -m venv {MLFLOW_VENV.name} && "
                f"{MLFLOW_VENV.name}/bin/pip install mlflow scikit-learn=={_sklearn_version()}`)")
    saved = tmp / "mlflow-model"
    convert = textwrap.dedent(f"""
        import joblib, mlflow.sklearn
        mlflow.sklearn.save_model(joblib.load({str(model_path)!r}), {str(saved)!r},
                                  serialization_format="cloudpickle")
    """)
    done = subprocess.run([str(python), "-c", convert], capture_output=True, text=True)
    if done.returncode != 0:
        return f"skipped: MLflow could not save the model: {done.stderr.strip().splitlines()[-1:]}"
    port = free_port()
    mlflow = MLFLOW_VENV / "bin" / "mlflow"
    # The pickle is the one this script just wrote; MLflow 3 wants that said before it unpickles one.
    # Its CLI starts `uvicorn` from PATH, so the venv's bin goes first.
    env = {**os.environ, "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
           "PATH": f"{mlflow.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    try:
        server = start([str(mlflow), "models", "serve", "-m", str(saved), "--env-manager", "local", "--host",
                        "127.0.0.1", "-p", str(port)], port, "/ping", env=env)
    except RuntimeError as exc:
        return f"skipped: MLflow's server did not start: {exc}"
    stack.callback(stop, server)
    client = Client(port)
    # A tensor, like mlcd's requests: MLflow hands the model the same array it was fitted on.
    return {"mlflow models serve": lambda i: client.post("/invocations", {"inputs": [rows[i]]})}


def _sklearn_version() -> str:
    import sklearn

    return sklearn.__version__


def report(figures: list[Figures], notes: list[str]) -> None:
    limit = figures[0]
    print(f"\n{'target':<36} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'vs in-process':>14}")
    for one in figures:
        print(f"{one.name:<36} {one.rate:8.1f} {one.percentile(50):8.2f} {one.percentile(99):8.2f} "
              f"{one.rate / limit.rate:13.2f}x")
    for note in notes:
        print(note)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=1000, help="requests per target (default 1000)")
    parser.add_argument("--seconds", type=float, default=20, help="time limit per target (default 20)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlcd-bench-") as scratch, contextlib.ExitStack() as stack:
        tmp = Path(scratch)
        model, features, rows, version, model_path = train_and_register(tmp)
        matrices = [np.asarray([row]) for row in rows]
        direct = model[1:]  # what mlcd serve runs for this pipeline: its first step is a pure passthrough
        signature = Signature.from_metadata({"signature": {"features": [{"name": n, "dtype": "float64"}
                                                                        for n in features]}})
        predictor = Predictor(model, signature)  # the server's own predict path, without HTTP
        targets = {"in-process model.predict(1 row)": lambda i: model.predict(matrices[i]),
                   "in-process, past the passthrough": lambda i: direct.predict(matrices[i]),
                   "in-process, as the server predicts": lambda i: predictor.predict([rows[i]]),
                   **mlcd_targets(stack, version.uri, version.metadata["model"]["sha256"], features, rows)}
        mlflow = mlflow_targets(stack, model_path, rows, tmp)
        notes = [f"mlflow models serve: {mlflow}"] if isinstance(mlflow, str) else []
        targets.update({} if isinstance(mlflow, str) else mlflow)
        figures = interleaved(targets, len(rows), requests=args.requests, seconds=args.seconds)
        folder, digest = Path(version.uri.removeprefix("file://")), version.metadata["model"]["sha256"]
        behind = {limit: one_row_behind_a_large_request(folder, digest, rows, limit) for limit in (4 << 20, 1 << 30)}
    print(f"iris RandomForest {PARAMS}, single-row requests, sequential, interleaved, 127.0.0.1, "
          f"{os.cpu_count()} CPUs")
    report(figures, notes)
    by_name = {f.name: f for f in figures}
    in_process = by_name["in-process model.predict(1 row)"].rate
    for protocol in ("v1", "v2"):
        ratio = by_name[f"mlcd-sklearn runtime, {protocol}"].rate / in_process
        print(f"runtime server ({protocol}) / in-process predict, same model: {ratio:.2f}x (aim >= 0.9x)")
        bench_line(f"serve-{protocol}-req-per-s", by_name[f"mlcd-sklearn runtime, {protocol}"].rate, "req/s")
        bench_line(f"serve-{protocol}-p50-ms", by_name[f"mlcd-sklearn runtime, {protocol}"].percentile(50), "ms")
        bench_line(f"serve-{protocol}-vs-in-process-ratio", ratio, "x", ">=", 0.9)
    bench_line("serve-in-process-req-per-s", in_process, "req/s")
    same_path = by_name["in-process, as the server predicts"].rate
    overhead = {p: 1000 / by_name[f"mlcd-sklearn runtime, {p}"].rate - 1000 / same_path for p in ("v1", "v2")}
    print(f"the server's own cost per request (HTTP, KServe's model server, checks): {overhead['v1']:.2f} ms (v1), "
          f"{overhead['v2']:.2f} ms (v2) over its predict path run in-process")
    for protocol, ms in overhead.items():
        bench_line(f"serve-{protocol}-server-overhead-ms", ms, "ms")
    print(f"one-row request sent 0.5 s after a 60 MB one: {behind[4 << 20] * 1000:.0f} ms with the default 4 MiB "
          f"limit (refused with 413 unread), {behind[1 << 30]:.1f} s with a 1 GiB limit (parsed first)")


if __name__ == "__main__":
    main()
