"""`mlcd run` end to end on a real S3 server: s3:// data in, an s3:// registry out, and no secret anywhere."""

import hashlib
import io
import json
import subprocess
import sys
import uuid

import numpy as np
import pandas as pd
import pytest
import yaml

from mlcd.storage import open_registry

pytestmark = pytest.mark.s3

SECRET_NAME = "mlcd-s3"  # a Kubernetes Secret's name: in the compiled IR, ignored by the local runner


def training_frame() -> pd.DataFrame:
    rng = np.random.default_rng(7)
    frame = pd.DataFrame({"a": rng.normal(0, 1, 300), "b": rng.normal(2, 1, 300), "c": rng.uniform(0, 1, 300)})
    frame["label"] = (frame["a"] + frame["b"] > 2).astype(int)
    return frame


def trainingrun(path, name: str, source: str, registry: str) -> str:
    doc = {
        "apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": name},
        "spec": {
            "data": {"source": source, "target": "label"},
            "model": {"estimator": "LogisticRegression", "params": {"max_iter": 200}},
            "gates": [{"metric": "accuracy", "min": 0.8}],
            "registry": {"uri": registry},
        },
    }
    file = path / f"{name}.yaml"
    file.write_text(yaml.safe_dump(doc))
    return str(file)


def mlcd(env: dict, *args: str) -> subprocess.Popen:
    """Started, not awaited: the runs of a fixture go side by side (each spends most of its time starting up)."""
    return subprocess.Popen([sys.executable, "-m", "mlcd", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env)


def finish(process: subprocess.Popen) -> subprocess.CompletedProcess:
    stdout, stderr = process.communicate(timeout=300)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


@pytest.fixture(scope="module")
def bucket(s3_server):
    name = s3_server.create_bucket()
    frame = training_frame()
    s3_server.put(name, "data/train.csv", frame.to_csv(index=False).encode())
    parquet = io.BytesIO()
    frame.to_parquet(parquet, index=False)
    s3_server.put(name, "data/train.parquet", parquet.getvalue())
    return name


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("mlcd-home")


@pytest.fixture(scope="module")
def env(s3_server, home):
    """What `mlcd run` sees: the storage settings from the environment, as a Secret would provide them."""
    return {**s3_server.env(), "MLCD_HOME": str(home), "MLCD_S3_SECRET_NAME": SECRET_NAME, "PATH": "/usr/bin:/bin"}


@pytest.fixture(scope="module")
def runs(bucket, env, tmp_path_factory):
    """One `mlcd run --json` per data format, each into its own s3:// registry."""
    folder = tmp_path_factory.mktemp("runs")
    started = {}
    for fmt in ("csv", "parquet"):
        registry = f"s3://{bucket}/models/{fmt}"
        path = trainingrun(folder, f"from-{fmt}", f"s3://{bucket}/data/train.{fmt}", registry)
        started[fmt] = (mlcd(env, "run", "--json", path), registry, path)
    return {fmt: (finish(process), registry, path) for fmt, (process, registry, path) in started.items()}


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_a_run_from_s3_data_registers_a_model_in_s3_that_loads_and_predicts(runs, fmt, bucket, s3_server,
                                                                             monkeypatch):
    process, registry_uri, _ = runs[fmt]
    assert process.returncode == 0, process.stderr
    out = json.loads(process.stdout)
    assert out["phase"] == "Succeeded" and out["metrics"]["accuracy"] >= 0.8
    s3_server.use(monkeypatch)
    registry = open_registry(registry_uri)
    assert out["model"] == {"uri": f"{registry_uri}/v1", "version": 1,
                            "sha256": registry.metadata(1)["model"]["sha256"]}
    meta = registry.metadata(1)
    assert meta["data"]["uri"] == f"s3://{bucket}/data/train.{fmt}" and meta["data"]["kind"] == "etag"
    assert set(meta["reference"]["features"]) == {"a", "b", "c"}
    stored = s3_server.client().get_object(bucket, f"models/{fmt}/v1/model.joblib").read()
    assert hashlib.sha256(stored).hexdigest() == meta["model"]["sha256"]
    model = registry.load_model(1)  # checks the sha256 again before unpickling
    assert list(model.predict(np.array([[3.0, 3.0, 0.5], [-3.0, 0.0, 0.5]]))) == [1, 0]
    assert registry.champion()["version"] == 1


@pytest.fixture(scope="module")
def failed_runs(bucket, env, tmp_path_factory):
    """case -> (finished `mlcd run --json`, data URI, registry URI, environment overrides)."""
    folder = tmp_path_factory.mktemp("failed")
    cases = {
        "wrong-credentials": (f"s3://{bucket}/data/train.csv", {"AWS_SECRET_ACCESS_KEY": f"wrong-{uuid.uuid4().hex}"}),
        "missing-object": (f"s3://{bucket}/data/nope.csv", {}),
        "unknown-bucket": (f"s3://no-such-bucket-{uuid.uuid4().hex[:8]}/data/train.csv", {}),
    }
    started = {}
    for case, (source, overrides) in cases.items():
        registry = f"s3://{bucket}/models/{case}"
        path = trainingrun(folder, case, source, registry)
        started[case] = (mlcd({**env, **overrides}, "run", "--json", path), source, registry, overrides)
    return {case: (finish(process), *rest) for case, (process, *rest) in started.items()}


@pytest.mark.parametrize("case,expected", [
    ("wrong-credentials", "access denied"),
    ("missing-object", "no such object"),
    ("unknown-bucket", "does not exist"),
])
def test_storage_errors_fail_the_run_naming_the_uri_and_register_nothing(failed_runs, case, expected, s3_server,
                                                                         monkeypatch):
    process, source, registry_uri, overrides = failed_runs[case]
    assert process.returncode == 1, process.stderr
    out = json.loads(process.stdout)
    assert out["phase"] == "Failed" and out["model"] is None
    assert f"spec.data.source: {source}: " in out["message"] and expected in out["message"]
    s3_server.use(monkeypatch)
    assert open_registry(registry_uri).versions() == []
    for value in overrides.values():  # a wrong secret is still a secret
        assert value not in process.stdout + process.stderr


def test_the_secret_appears_nowhere(runs, s3_server, bucket, env, home, tmp_path):
    secret = s3_server.secret_key
    assert env["AWS_SECRET_ACCESS_KEY"] == secret  # the runs had it, so a leak would show
    _, _, path = runs["csv"]
    compiled = finish(mlcd(env, "compile", path, "-o", str(tmp_path / "ir.yaml")))
    assert compiled.returncode == 0, compiled.stderr
    ir = (tmp_path / "ir.yaml").read_text()
    assert f"secretName: {SECRET_NAME}" in ir  # the IR refers to the Secret...
    places = {"compiled IR": ir, "compile output": compiled.stdout + compiled.stderr}
    for fmt, (process, _, _) in runs.items():
        assert process.returncode == 0, process.stderr
        places[f"{fmt} run: --json output"] = process.stdout
        places[f"{fmt} run: progress and step logs"] = process.stderr
        for name in ("v1/metadata.json", "champion.json"):
            places[f"{fmt} {name}"] = s3_server.client().get_object(bucket, f"models/{fmt}/{name}").read()
    files = [p for p in home.rglob("*") if p.is_file()]
    assert any("pipeline-root" in p.parts for p in files)
    places.update({str(p): p.read_bytes() for p in files})
    leaks = [where for where, text in places.items()
             if secret in (text.decode(errors="replace") if isinstance(text, bytes) else text)]
    assert leaks == []  # ...and nothing holds its value
