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


def slow_trainingrun(name: str, registry: Path, n_estimators: int = 200_000) -> dict:
    """A run whose train step goes on for minutes: a forest far bigger than the data needs."""
    return {
        "apiVersion": "mlcd.io/v1alpha1", "kind": "TrainingRun", "metadata": {"name": name},
        "spec": {"data": {"source": "builtin://digits"},
                 "model": {"estimator": "RandomForestClassifier", "params": {"n_estimators": n_estimators}},
                 "registry": {"uri": registry.as_uri()}},
    }


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


def start_run(tmp_path: Path, mark: str) -> subprocess.Popen:
    spec = tmp_path / "slow.yaml"
    spec.write_text(yaml.safe_dump(slow_trainingrun("slow", tmp_path / "registry")))
    env = {**os.environ, MARK: mark, "MLCD_HOME": str(tmp_path / "home")}
    proc = subprocess.Popen([sys.executable, "-m", "mlcd", "run", str(spec)], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if "▶ train" in line:
            return proc
    _, stderr = proc.communicate()
    pytest.fail(f"the run never reached its train step: {stderr}")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_no_process_of_mlcd_run_remains_after_a_signal(sig, tmp_path):
    mark = uuid.uuid4().hex
    proc = start_run(tmp_path, mark)
    running = processes_marked(mark)
    # mlcd run, its zygote, the train step's launcher, supervisor and step (and the shell kfp starts it with).
    assert len(running) >= 4, running
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    code = proc.returncode
    wait_until(lambda: not processes_marked(mark))
    left = processes_marked(mark)
    print(f"\n{sig.name}: {len(running)} processes of the run, {len(left)} left; exit {code}")
    assert left == []
    if sig == signal.SIGKILL:
        assert code == -signal.SIGKILL
    else:
        assert code == 128 + sig
        assert "Traceback" not in stderr
        assert stderr.strip().endswith("the run's steps were stopped")


def local_backend(tmp_path: Path) -> LocalQueueBackend:
    return LocalQueueBackend(tmp_path / "home", idle_seconds=5)


def compiled(doc: dict):
    validated = validate_document(doc)
    assert validated.ok, validated.problems
    return compile_trainingrun(validated.resource, registry_uri=doc["spec"]["registry"]["uri"])


def test_stopping_a_local_run_stops_its_step(tmp_path, monkeypatch):
    monkeypatch.setenv("MLCD_HOME", str(tmp_path / "home"))
    backend = local_backend(tmp_path)
    run = compiled(slow_trainingrun("stopped", tmp_path / "registry"))
    ref = backend.submit("stopped-1", run.ir, run.arguments, {})
    state = wait_until(lambda: (s := backend.get(ref)).message.startswith("step train") and s, limit=120)
    assert state.state == "RUNNING", state
    claim = (tmp_path / "home" / "runs" / "stopped-1" / "claim.json").read_text()
    group = int(yaml.safe_load(claim)["pid"])
    assert len(processes_in_group(group)) >= 2  # the run's process, and its train step at least
    backend.stop(ref)
    assert backend.get(ref).state == "CANCELED"
    wait_until(lambda: not processes_in_group(group))
    assert processes_in_group(group) == []


def test_a_stuck_step_stops_at_its_limit_and_the_next_run_goes_on(tmp_path, monkeypatch):
    monkeypatch.setenv("MLCD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MLCD_LOCAL_STEP_TIMEOUT", "5")
    backend = local_backend(tmp_path)
    stuck = compiled(slow_trainingrun("stuck", tmp_path / "registry-stuck"))
    quick = compiled(slow_trainingrun("quick", tmp_path / "registry-quick", n_estimators=5))
    stuck_ref = backend.submit("stuck-1", stuck.ir, stuck.arguments, {})
    quick_ref = backend.submit("quick-1", quick.ir, quick.arguments, {})
    final = wait_until(lambda: (s := backend.get(quick_ref)).finished and s, limit=240)
    stuck_state = backend.get(stuck_ref)
    assert stuck_state.state == "FAILED"
    assert "the step ran longer than its limit of 5s" in stuck_state.message
    assert final.state == "SUCCEEDED", final
    assert final.result["phase"] == "Succeeded"
