"""No thundering herd: N TrainingRuns on `0 3 * * *` fall due at once; the runs in flight stay under the cap.

The operator (in process, against the API emulator) runs with caps on runs in flight (cluster-wide
and per namespace) and a backend whose runs take RUN_SECONDS each. N TrainingRuns in two namespaces
are created with `retrain.schedule: "0 3 * * *"` while the operator's clock says 02:00; once their
first runs (the spec's) are done the clock moves to 03:00, and every one of them has a schedule
trigger due in the same second. Figures: the most runs the backend ever had in flight at once
(overall and per namespace) against the caps, how many triggers ran, and how many ran more than
once; the time to drain each wave. Prints figures and BENCH lines; asserts nothing.

Run: python tests/bench/bench_herd.py [--count 1000] [--cap 100] [--per-namespace 60]
"""

from __future__ import annotations

import argparse
import atexit
import base64
import collections
import copy
import json
import sys
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import kubernetes  # noqa: E402

from mlcd.backends.base import RunRef, RunState  # noqa: E402
from mlcd.handlers.app import build_registry  # noqa: E402
from mlcd.handlers.config import OperatorConfig  # noqa: E402
from tests.bench.bench_operator import start_emulator  # noqa: E402
from tests.bench.timing import bench_line  # noqa: E402
from tests.k8s import InProcessOperator, quick_settings  # noqa: E402
from tests.operator.helpers import IRIS  # noqa: E402

RUN_SECONDS = 2.0
NAMESPACES = ("team-a", "team-b")


class TimedBackend:
    """Every run takes RUN_SECONDS and succeeds; records when each run started and its trigger."""

    name = "timed"

    def __init__(self):
        self.lock = threading.Lock()
        self.runs: dict[str, tuple[float, str, str]] = {}  # run name -> (start, namespace, trigger)
        self.submissions = collections.Counter()

    def find(self, run_name, *_):
        with self.lock:
            return RunRef(run_name, run_name) if run_name in self.runs else None

    def submit(self, run_name, document, arguments, labels, *_):
        with self.lock:
            self.submissions[(labels["mlcd.io/namespace"], labels["mlcd.io/name"], labels["mlcd.io/trigger"])] += 1
            self.runs[run_name] = (time.monotonic(), labels["mlcd.io/namespace"], labels["mlcd.io/trigger"])
        return RunRef(run_name, run_name)

    def get(self, ref):
        started = self.runs[ref.run_id][0]
        if time.monotonic() - started < RUN_SECONDS:
            return RunState(ref.run_id, "RUNNING")
        return RunState(ref.run_id, "SUCCEEDED", result={"phase": "Succeeded", "message": "trained", "gates": [],
                                                         "metrics": {"accuracy": 0.97}})

    def stop(self, ref):
        pass

    def peak_in_flight(self, namespace: str | None = None) -> int:
        """The most runs that were running at one moment (a sweep over start and end times)."""
        edges = []
        for start, ns, _ in self.runs.values():
            if namespace in (None, ns):
                edges += [(start, 1), (start + RUN_SECONDS, -1)]
        peak = current = 0
        for _, step in sorted(edges, key=lambda e: (e[0], e[1])):
            current += step
            peak = max(peak, current)
        return peak


class Clock:
    def __init__(self, at: datetime):
        self.shift = at - datetime.now(UTC)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.shift

    def move_to(self, at: datetime) -> None:
        self.shift = at - datetime.now(UTC)


def post(url: str, count: int) -> None:
    for namespace in NAMESPACES:  # each namespace's storage identity (the registry is s3://, never touched)
        secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "mlcd-storage", "namespace": namespace},
                  "data": {k: base64.b64encode(v.encode()).decode() for k, v in {
                      "MLCD_S3_ENDPOINT": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "bench",
                      "AWS_SECRET_ACCESS_KEY": "bench"}.items()}}
        request = urllib.request.Request(f"{url}/api/v1/namespaces/{namespace}/secrets", method="POST",
                                         data=json.dumps(secret).encode(), headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request).close()
    for index in range(count):
        namespace = NAMESPACES[index % len(NAMESPACES)]
        body = copy.deepcopy(IRIS)
        body["metadata"] = {"name": f"tr{index}", "namespace": namespace}
        body["spec"]["retrain"] = {"schedule": "0 3 * * *"}
        request = urllib.request.Request(f"{url}/apis/mlcd.io/v1alpha1/namespaces/{namespace}/trainingruns",
                                         data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request).close()


def succeeded(server: str) -> int:
    """TrainingRuns whose status shows their run finished (what the operator has seen, not the backend)."""
    found = 0
    for namespace in NAMESPACES:
        with urllib.request.urlopen(f"{server}/apis/mlcd.io/v1alpha1/namespaces/{namespace}/trainingruns") as answer:
            found += sum(1 for o in json.load(answer)["items"] if (o.get("status") or {}).get("phase") == "Succeeded")
    return found


def wait_for(backend: TimedBackend, trigger_prefix: str, count: int, timeout: float, server: str = "") -> float:
    """Until ``count`` runs of the trigger were submitted and have ended (and, with ``server``, every
    TrainingRun's status says so: a schedule counts from when its TrainingRun saw its first run end)."""
    started = told = time.perf_counter()
    while time.perf_counter() - started < timeout:
        with backend.lock:
            done = sum(1 for (_, _, trigger) in backend.submissions if trigger.startswith(trigger_prefix))
        if done >= count and all(time.monotonic() - start >= RUN_SECONDS for start, _, _ in backend.runs.values()) \
                and (not server or succeeded(server) >= count):
            break
        if time.perf_counter() - told > 15:
            told = time.perf_counter()
            print(f"  … {done}/{count} {trigger_prefix.rstrip('-')} runs submitted after {told - started:.0f} s",
                  file=sys.stderr, flush=True)
        time.sleep(0.5)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--cap", type=int, default=100)
    parser.add_argument("--per-namespace", type=int, default=60)
    parser.add_argument("--poll", type=float, default=5.0, help="the operator's poll interval, seconds")
    parser.add_argument("--timeout", type=float, default=1200.0)
    args = parser.parse_args()

    day = datetime(2030, 1, 1, tzinfo=UTC)
    clock = Clock(day + timedelta(hours=2))  # an hour before the slot: the first runs drain well before it
    backend = TimedBackend()
    # The API server in a process of its own, as in a cluster: the operator's figures are its own.
    emulator, server = start_emulator("mlcd", Path(tempfile.mkdtemp(prefix="mlcd-bench-herd-api-")))
    atexit.register(emulator.kill)  # stopped by its own PID, whatever ends this run
    home = Path(tempfile.mkdtemp(prefix="mlcd-bench-herd-"))
    config = OperatorConfig(backend="local", home=home, poll_seconds=args.poll, registry_base="s3://bench-registry",
                            max_runs_in_flight=args.cap, max_runs_in_flight_per_namespace=args.per_namespace,
                            clock=clock)
    kube = kubernetes.client.ApiClient(kubernetes.client.Configuration(host=server))
    operator = InProcessOperator(server, build_registry(config, backend, kube), quick_settings()).start()
    try:
        measure(args, backend, clock, server, day)
    finally:
        # The operator stops before the API server does: stopped at interpreter exit instead, its poller
        # would keep calling a server that is gone while the thread pools are being joined.
        operator.stop()
        emulator.kill()


def measure(args, backend: TimedBackend, clock: Clock, server: str, day: datetime) -> None:
    post(server, args.count)
    first = wait_for(backend, "spec", args.count, args.timeout, server)
    peak_first = backend.peak_in_flight()
    clock.move_to(day + timedelta(hours=3, seconds=1))
    moved = time.monotonic()
    second = wait_for(backend, "schedule-", args.count, args.timeout)
    scheduled = {k: n for k, n in backend.submissions.items() if k[2].startswith("schedule-")}
    peak = backend.peak_in_flight()
    peak_ns = max(backend.peak_in_flight(ns) for ns in NAMESPACES)
    twice = sum(1 for n in backend.submissions.values() if n > 1)
    slots = {k[2] for k in scheduled}
    started = [start - moved for start, _, trigger in backend.runs.values() if trigger.startswith("schedule-")]

    print(f"{args.count} TrainingRuns on '0 3 * * *' in {len(NAMESPACES)} namespaces, caps {args.cap} in flight "
          f"({args.per_namespace} per namespace), runs of {RUN_SECONDS:g} s, poll {args.poll:g} s:")
    print(f"  first runs (spec):       {first:7.1f} s to drain, peak in flight {peak_first}")
    print(f"  03:00 (all due at once): {second:7.1f} s to drain, {len(scheduled)} scheduled triggers ran "
          f"(slots {sorted(slots)}), first started {min(started, default=0):.1f} s after 03:00, last "
          f"{max(started, default=0):.1f} s after")
    print(f"  peak runs in flight: {peak} (cap {args.cap}); in one namespace: {peak_ns} (cap {args.per_namespace}); "
          f"triggers run more than once: {twice}")
    bench_line("herd-peak-in-flight", peak, "runs", "<=", args.cap)
    bench_line("herd-peak-in-flight-per-namespace", peak_ns, "runs", "<=", args.per_namespace)
    bench_line("herd-scheduled-triggers-run", len(scheduled), "triggers", ">=", args.count)
    bench_line("herd-triggers-run-twice", twice, "triggers", "<=", 0)
    bench_line("herd-drain-seconds", second, "s")


if __name__ == "__main__":
    main()
