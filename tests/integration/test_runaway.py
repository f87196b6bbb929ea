"""Runaway work (issue 15): a stopped `mlcd run` or local-backend run leaves no process behind; a stuck step
is stopped at its limit and does not hold up the queue."""

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
import yaml

from mlcd.api.v1alpha1.validation import validate_document
from mlcd.backends.queue import LocalQueueBackend
from mlcd.compiler import compile_trainingrun

MARK = "MLCD_TEST_RUN_MARK"


def trainingrun(name: str, source: str, registry: Path) -> dict:
    return {
        "apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": name},
        "spec": {"data": {"source": source},
                 "model": {"estimator": "LogisticRegression", "params": {"max_iter": 500}},
                 "registry": {"uri": registry.as_uri()}},
    }


def stuck_trainingrun(name: str, folder: Path) -> dict:
    """A run whose ingest step never ends, without using a CPU: it reads a named pipe nobody writes."""
    fifo = folder / f"{name}.csv"
    os.mkfifo(fifo)
    return trainingrun(name, fifo.as_uri(), folder / "registry" / name)


def processes_marked(mark: str) -> list[int]:
    """Every live process whose environment carries the mark (zombies have none left to read)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if f"{MARK}={mark}".encode() in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def processes_in_group(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[2]) == pgid:
            found.append(int(entry.name))
    return found


def wait_until(predicate, limit: float = 60.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


def start_run(tmp_path: Path, home: Path, mark: str) -> subprocess.Popen:
    spec = tmp_path / "stuck.yaml"
    spec.write_text(yaml.safe_dump(stuck_trainingrun("stuck", tmp_path)))
    env = {**os.environ, MARK: mark, "MLCD_HOME": str(home)}
    proc = subprocess.Popen([sys.executable, "-m", "mlcd", "run", str(spec)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if "▶ ingest" in line:
            return proc
    _, stderr = proc.communicate()
    pytest.fail(f"the run never reached its train step: {stderr}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_no_process_of_mlcd_run_remains_after_a_signal(sig, tmp_path, home, figures):
    mark = uuid.uuid4().hex
    proc = start_run(tmp_path, home, mark)
    # mlcd run, its zygote, the ingest step's launcher, supervisor and step (and the shell kfp starts it with).
    running = wait_until(lambda: len(found := processes_marked(mark)) >= 5 and found)
    assert len(running) >= 5, running
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    code = proc.returncode
    wait_until(lambda: not processes_marked(mark))
    left = processes_marked(mark)
    figures(f"{sig.name}: {len(running)} processes of the run, {len(left)} left; exit {code}")
    assert left == []
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:
        assert code == 128 + sig
        assert "Traceback" not in stderr
        assert stderr.strip().endswith("the run's steps were stopped")


def local_backend(home: Path) -> LocalQueueBackend:
    return LocalQueueBackend(home, idle_seconds=5)


def compiled(doc: dict):
    validated = validate_document(doc)
    assert validated.ok, validated.problems
    return compile_trainingrun(validated.resource, registry_uri=doc["spec"]["registry"]["uri"])


def test_stopping_a_local_run_stops_its_step(tmp_path, home, monkeypatch):
    monkeypatch.setenv("MLCD_HOME", str(home))
    backend = local_backend(home)
    run = compiled(stuck_trainingrun("stopped", tmp_path))
    ref = backend.submit("stopped-1", run.ir, run.arguments, {})
    state = wait_until(lambda: (s := backend.get(ref)).message.startswith("step ingest") and s, limit=120)
    assert state.state == "RUNNING", state
    claim = (home / "runs" / "stopped-1" / "claim.json").read_text()
    group = int(yaml.safe_load(claim)["pid"])
    # The run's process, the launcher of its ingest step and the step.
    assert len(wait_until(lambda: len(found := processes_in_group(group)) >= 3 and found)) >= 3
    backend.stop(ref)
    assert backend.get(ref).state == "CANCELED"
    wait_until(lambda: not processes_in_group(group))
    assert processes_in_group(group) == []


def test_a_stuck_step_stops_at_its_limit_and_the_next_run_goes_on(tmp_path, monkeypatch):
    # A home of its own: its worker must start with the limit in its environment.
    monkeypatch.setenv("MLCD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLCD_LOCAL_STEP_TIMEOUT", "5")
    backend = local_backend(tmp_path / "home")
    stuck = compiled(stuck_trainingrun("stuck", tmp_path))
    quick = compiled(trainingrun("quick", "builtin://iris", tmp_path / "registry" / "quick"))
    stuck_ref = backend.submit("stuck-1", stuck.ir, stuck.arguments, {})
    quick_ref = backend.submit("quick-1", quick.ir, quick.arguments, {})
    final = wait_until(lambda: (s := backend.get(quick_ref)).finished and s, limit=240)
    stuck_state = backend.get(stuck_ref)
    assert stuck_state.state == "FAILED"
    assert "the step ran longer than its limit of 5s" in stuck_state.message
    assert final.state == "SUCCEEDED", final
    assert final.result["phase"] == "Succeeded"


def test_a_stuck_run_stops_at_the_run_limit_with_its_steps_and_the_next_run_goes_on(tmp_path, monkeypatch):
    # The step limit is out of reach: the run's own limit (MLCD_LOCAL_RUN_TIMEOUT) is what stops it. The limit
    # holds for every run of the worker, so it leaves the quick run (about 10 s here) room to finish.
    monkeypatch.setenv("MLCD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLCD_LOCAL_STEP_TIMEOUT", "600")
    monkeypatch.setenv("MLCD_LOCAL_RUN_TIMEOUT", "30")
    backend = local_backend(tmp_path / "home")
    stuck = compiled(stuck_trainingrun("stuck", tmp_path))
    quick = compiled(trainingrun("quick", "builtin://iris", tmp_path / "registry" / "quick"))
    stuck_ref = backend.submit("stuck-1", stuck.ir, stuck.arguments, {})
    quick_ref = backend.submit("quick-1", quick.ir, quick.arguments, {})
    state = wait_until(lambda: (s := backend.get(stuck_ref)).message.startswith("step ingest") and s, limit=120)
    assert state.state == "RUNNING", state
    claim = (tmp_path / "home" / "runs" / "stuck-1" / "claim.json").read_text()
    group = int(yaml.safe_load(claim)["pid"])
    # The run's process, the launcher of its ingest step and the step.
    assert len(wait_until(lambda: len(found := processes_in_group(group)) >= 3 and found)) >= 3
    final = wait_until(lambda: (s := backend.get(quick_ref)).finished and s, limit=240)
    stuck_state = backend.get(stuck_ref)
    assert (stuck_state.state, stuck_state.message) == ("FAILED", "the run took longer than its limit of 30s")
    wait_until(lambda: not processes_in_group(group))
    assert processes_in_group(group) == []
    assert final.state == "SUCCEEDED", final
    assert final.result["phase"] == "Succeeded"
