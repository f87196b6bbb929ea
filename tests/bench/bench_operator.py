"""The operator at scale: a scaling curve of N TrainingRuns against the kopf baseline, in one run.

For each N (default 1,000, 3,000 and 10,000) and each of two operators:
- ``baseline``: the same kopf machinery with a handler that only writes one status field, on Widgets;
- ``mlcd``: mlcd's own registry, with a backend that accepts every run at once (the cost measured is the
  operator's own, not a pipeline's);
three processes: the API emulator (``python -m tests.k8s``), the operator (its own process, so its peak
RSS is its own), and this one, which POSTs the N objects and follows a watch until every one is handled
(a TrainingRun is handled when ``status.pipeline.runName`` is set). Figures: time from the first POST to
the last handled object, time per object, the operator's peak RSS, and the writes per object seen on the
watch (every MODIFIED event is one write the operator made). Prints a table and one ``BENCH`` line per
figure; asserts nothing.

Run: python tests/bench/bench_operator.py [--counts 1000 3000 10000]. MLCD_BENCH_POLL sets the operator's
poll interval (default 10 s, as deployed).
"""

from __future__ import annotations

import argparse
import copy
import http.client
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.bench.timing import bench_line  # noqa: E402

AIM_RATIO, AIM_RSS_MB, AIM_FLAT = 1.5, 150, 1.2
GROUPS = {
    "baseline": ("example.mlcd.io", "v1", "widgets"),
    "mlcd": ("mlcd.io", "v1alpha1", "trainingruns"),
}


@dataclass
class Result:
    kind: str
    count: int
    seconds: float
    handled: int
    writes: int
    peak_rss_mb: float

    @property
    def finished(self) -> bool:
        return self.handled >= self.count

    @property
    def ms_per_object(self) -> float:
        return 1000 * self.seconds / self.count


# --- the operator's process ----------------------------------------------------------------------------------


def run_operator(kind: str, server: str) -> None:
    """Run one operator until stdin closes; then print this process's peak RSS.

    The process holds what a deployed operator holds and no more: kopf (logged in from $KUBECONFIG, which
    names the emulator, as ``mlcd operator`` logs in) and the registry; none of the emulator's code. Both
    run on the event loop ``kopf run`` and ``mlcd operator`` choose: uvloop when it is installed."""
    import asyncio

    import kopf

    from mlcd.handlers.kube import event_loop_factory  # light: the baseline's process imports no more of mlcd
    from tests.kopf_settings import quick_settings  # not tests.k8s's: it would bring in the emulator

    settings = quick_settings()
    if kind == "baseline":
        registry = baseline_registry()
        group = GROUPS["baseline"][0]  # kopf's bookkeeping in annotations, as on any kopf operator's objects
        settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=group)
        settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=group)
    else:
        from mlcd.handlers.app import build_registry
        from mlcd.handlers.config import OperatorConfig

        home = Path(tempfile.mkdtemp(prefix="mlcd-bench-"))
        poll = float(os.environ.get("MLCD_BENCH_POLL", "10"))
        config = OperatorConfig(backend="local", home=home, poll_seconds=poll, registry_base=home.as_uri(),
                                local_namespace="default")  # the development namespace: file:// registries
        registry = build_registry(config, InstantBackend())
    ready = threading.Event()

    def report() -> None:
        ready.wait()
        print("ready", flush=True)
        sys.stdin.readline()
        print(json.dumps({"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}),
              flush=True)
        os._exit(0)  # the figures are out; tearing down kopf over a backlog measures nothing

    threading.Thread(target=report, daemon=True).start()
    factory = event_loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        runner.run(kopf.operator(registry=registry, settings=settings, standalone=True, clusterwide=True,
                                 ready_flag=ready))


def baseline_registry():
    """kopf writing one status field on each new Widget, logged in as mlcd's operator logs in."""
    import kopf

    group, version, plural = GROUPS["baseline"]
    registry = kopf.OperatorRegistry()

    @kopf.on.login(registry=registry)
    def login(**kwargs):
        return kopf.login_with_kubeconfig(**kwargs)

    @kopf.on.create(group, version, plural, registry=registry)
    def handle(patch: kopf.Patch, **_: object) -> None:
        patch.status["handled"] = True

    return registry


class InstantBackend:
    """Accepts every run at once and says each is pending. It keeps nothing: a real backend keeps its runs
    in KFP's API server, not in the operator's memory, and each TrainingRun here is submitted once."""

    name = "instant"

    def find(self, run_name, *_):
        return None

    def submit(self, run_name, *_, **__):
        from mlcd.backends.base import RunRef

        return RunRef(run_name, run_name)

    def get(self, ref):
        from mlcd.backends.base import RunState

        return RunState(ref.run_id, "PENDING")

    def stop(self, ref):
        pass


# --- this process: the emulator's and the operator's driver -------------------------------------------------


class Watch(threading.Thread):
    """Follows a watch of one resource and counts handled objects and MODIFIED events."""

    def __init__(self, server: str, kind: str) -> None:
        super().__init__(daemon=True)
        self.kind = kind
        group, version, plural = GROUPS[kind]
        self.url = urllib.parse.urlsplit(server)
        self.path = f"/apis/{group}/{version}/{plural}?watch=true&allowWatchBookmarks=false"
        self.handled: set[str] = set()
        self.modified = 0
        self.ready = threading.Event()

    def is_handled(self, obj: dict) -> bool:
        status = obj.get("status") or {}
        if self.kind == "baseline":
            return bool(status.get("handled"))
        return bool((status.get("pipeline") or {}).get("runName"))

    def run(self) -> None:
        conn = http.client.HTTPConnection(self.url.hostname, self.url.port, timeout=3600)
        conn.request("GET", self.path)
        response = conn.getresponse()
        self.ready.set()
        # This process shares the two cores with the ones it measures: a line is parsed only when it may
        # show a handled object (the field the check reads is in it), the event's type is read from its head.
        marker = b'"handled"' if self.kind == "baseline" else b'"runName"'
        for line in response:
            if b'"MODIFIED"' in line[:40]:
                self.modified += 1
            if marker in line:
                obj = json.loads(line).get("object") or {}
                if self.is_handled(obj):
                    self.handled.add(obj["metadata"]["name"])


def body_of(kind: str, index: int) -> dict:
    if kind == "baseline":
        group, version, _ = GROUPS[kind]
        return {"apiVersion": f"{group}/{version}", "kind": "Widget",
                "metadata": {"name": f"w{index}", "namespace": "default"}, "spec": {"size": 1}}
    from tests.operator.helpers import IRIS

    body = copy.deepcopy(IRIS)
    body["metadata"] = {"name": f"tr{index}", "namespace": "default"}
    body["spec"]["data"]["seed"] = index % 7  # a few distinct specs, as a real cluster would have
    return body


def bodies_of(kind: str, count: int) -> list[bytes]:
    """The objects to POST, serialised before the clock starts (this process shares the cores it measures)."""
    return [json.dumps(body_of(kind, index)).encode() for index in range(count)]


def post_all(server: str, kind: str, bodies: list[bytes]) -> None:
    group, version, plural = GROUPS[kind]
    url = urllib.parse.urlsplit(server)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=60)
    for index, body in enumerate(bodies):
        conn.request("POST", f"/apis/{group}/{version}/namespaces/default/{plural}",
                     body=body, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        response.read()
        if response.status >= 300:
            raise RuntimeError(f"POST {kind} {index}: HTTP {response.status}")
    conn.close()


def start_emulator(kind: str, folder: Path) -> tuple[subprocess.Popen, str]:
    from tests.k8s.files import WIDGET_CRD, mlcd_crd_files

    crds = [WIDGET_CRD] if kind == "baseline" else mlcd_crd_files()
    argv = [sys.executable, "-m", "tests.k8s", "--kubeconfig", str(folder / "kubeconfig"),
            "--crds", *map(str, crds)]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).resolve().parents[2])
    first = proc.stdout.readline()
    if "emulator on " not in first:
        proc.kill()
        raise RuntimeError(f"the emulator did not start: {first!r}")
    return proc, first.split("emulator on ")[1].split()[0]


def measure(kind: str, count: int, timeout: float) -> Result:
    with tempfile.TemporaryDirectory(prefix="mlcd-bench-") as folder:
        emulator, server = start_emulator(kind, Path(folder))
        # $KUBECONFIG names the emulator, as for `mlcd operator`: the handlers' own client posts the Events.
        env = {**os.environ, "KUBECONFIG": str(Path(folder) / "kubeconfig")}
        operator = subprocess.Popen([sys.executable, __file__, "--operator", kind, server], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, text=True, env=env)
        try:
            if operator.stdout.readline().strip() != "ready":
                raise RuntimeError(f"the {kind} operator did not start")
            watch = Watch(server, kind)
            watch.start()
            watch.ready.wait(30)
            bodies = bodies_of(kind, count)
            started = time.perf_counter()
            post_all(server, kind, bodies)
            while len(watch.handled) < count and time.perf_counter() - started < timeout:
                time.sleep(0.05)
            seconds = time.perf_counter() - started
            operator.stdin.write("report\n")
            operator.stdin.flush()
            rss = json.loads(operator.stdout.readline())["peak_rss_mb"]
            return Result(kind, count, round(seconds, 2), len(watch.handled), watch.modified, rss)
        finally:
            for proc in (operator, emulator):
                proc.kill()
                proc.wait()


def report(results: dict[tuple[str, int], Result], counts: list[int]) -> None:
    print(f"{'N':>6} {'operator':9} {'time s':>8} {'ms/object':>10} {'peak RSS MB':>12} {'writes/object':>14}")
    for count in counts:
        for kind in GROUPS:
            r = results[kind, count]
            state = "" if r.finished else f"  did not finish: {r.handled}/{r.count}"
            print(f"{count:>6} {kind:9} {r.seconds:8.2f} {r.ms_per_object:10.2f} {r.peak_rss_mb:12.1f} "
                  f"{r.writes / count:14.2f}{state}")
    for count in counts:
        ours, base = results["mlcd", count], results["baseline", count]
        if ours.finished and base.finished:
            bench_line(f"operator-{count}-time-ratio", ours.seconds / base.seconds, "x", "<=", AIM_RATIO)
        bench_line(f"operator-{count}-ms-per-object", ours.ms_per_object, "ms")
        bench_line(f"operator-{count}-baseline-ms-per-object", base.ms_per_object, "ms")
        bench_line(f"operator-{count}-rss", ours.peak_rss_mb, "MB", "<=", AIM_RSS_MB)
        bench_line(f"operator-{count}-baseline-rss", base.peak_rss_mb, "MB")
        bench_line(f"operator-{count}-writes-per-object", ours.writes / count, "writes")
    first, last = results["mlcd", counts[0]], results["mlcd", counts[-1]]
    if len(counts) > 1 and first.finished and last.finished:
        bench_line(f"operator-per-object-{counts[-1]}-vs-{counts[0]}", last.ms_per_object / first.ms_per_object,
                   "x", "<=", AIM_FLAT)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[1000, 3000, 10000])
    parser.add_argument("--timeout", type=float, default=900.0, help="per measurement, seconds")
    parser.add_argument("--operator", nargs=2, metavar=("KIND", "SERVER"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.operator:
        run_operator(*args.operator)
        return
    results = {}
    for count in args.counts:
        for kind in GROUPS:
            results[kind, count] = measure(kind, count, args.timeout)
    print("TrainingRuns until Submitted (backend accepting at once) against kopf writing one field, "
          "emulator and operator in processes of their own:")
    report(results, args.counts)


if __name__ == "__main__":
    main()
