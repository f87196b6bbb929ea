"""Emulator figures: kopf handling N new objects against stock kmock and against tests.k8s.Emulator.

A kopf operator (in-process, one ``on.create`` handler writing one status field) runs against
each server while N objects are POSTed; the figure is the time from the first POST until every
object carries the field, and the peak RSS of the whole process (server + kopf + client). Each
measurement runs in a subprocess of its own so that peak RSS is its own. Three servers:

- ``stock``: ``kmock.KubernetesEmulator`` 0.8 as shipped;
- ``routing``: the same with only :class:`tests.k8s.routing.ConstantTimeRouting` mixed in
  (the change proposed upstream);
- ``emulator``: ``tests.k8s.Emulator`` (constant-time routing plus API-server semantics).

Run: ``python tests/bench/bench_emulator.py [--counts 200 1000] [--stock-timeout 120]``.
It prints figures and ratios and asserts nothing. ``measure()`` is the reusable entry point:
the operator benchmark uses ``measure('emulator', n)`` as its baseline.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict, dataclass
from pathlib import Path

# Run as a script, this file's folder is on sys.path, not the repository.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import attrs  # noqa: E402
import kmock  # noqa: E402
import kopf  # noqa: E402

from tests.bench.timing import bench_line  # noqa: E402
from tests.k8s import WIDGET_CRD, Emulator, InProcessOperator, ServedEmulator, quick_settings  # noqa: E402
from tests.k8s.kinds import BUILTINS, kinds_of, read_crds  # noqa: E402
from tests.k8s.routing import ConstantTimeRouting  # noqa: E402

GROUP, VERSION, PLURAL = "example.mlcd.io", "v1", "widgets"
KINDS = ("stock", "routing", "emulator")


@dataclass
class Result:
    kind: str
    count: int
    seconds: float
    peak_rss_mb: float
    handled: int
    finished: bool


@attrs.define(kw_only=True)
class RoutedKmock(kmock.KubernetesEmulator, ConstantTimeRouting):
    """Stock kmock with nothing changed but the routing."""


def make_handler(kind: str) -> kmock.KubernetesEmulator:
    if kind == "emulator":
        return Emulator()
    handler = RoutedKmock() if kind == "routing" else kmock.KubernetesEmulator()
    for known in (*BUILTINS, *kinds_of(read_crds([WIDGET_CRD])[0])[:1]):
        handler.resources[known.resource] = known.info()
    return handler


def operator_registry() -> kopf.OperatorRegistry:
    registry = kopf.OperatorRegistry()

    @kopf.on.create(GROUP, VERSION, PLURAL, registry=registry)
    def handle(patch: kopf.Patch, **_: object) -> None:
        patch.status["handled"] = True

    return registry


def operator_settings() -> kopf.OperatorSettings:
    settings = quick_settings()
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = kopf.AnnotationsDiffBaseStorage(prefix=GROUP)
    return settings


def handled_count(handler: kmock.KubernetesEmulator) -> int:
    widgets = kmock.resource(GROUP, VERSION, PLURAL)
    return sum(
        1
        for key, stored in list(handler.objects.items())
        if key[0] == widgets and not stored.deleted and (stored.get("status") or {}).get("handled")
    )


def post_widgets(url: str, count: int) -> None:
    for index in range(count):
        # The namespace is in the body too: stock kmock does not take it from the URL.
        metadata = {"name": f"w{index}", "namespace": "default"}
        body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": "Widget", "metadata": metadata, "spec": {"size": 1}}
        request = urllib.request.Request(
            f"{url}/apis/{GROUP}/{VERSION}/namespaces/default/{PLURAL}",
            data=json.dumps(body).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request).close()


def run_once(kind: str, count: int, timeout: float) -> Result:
    """Measure in this process: serve, run kopf, create ``count`` objects, wait until all are handled."""
    served = ServedEmulator(make_handler(kind)).start()
    if kind == "emulator":
        served.load_crds([WIDGET_CRD])
    InProcessOperator(served.url, operator_registry(), operator_settings()).start()
    return timed(served, lambda: post_widgets(served.url, count), handled_count, kind, count, timeout)


def timed(served: ServedEmulator, create, counted, kind: str, count: int, timeout: float) -> Result:
    """From the first POST until ``counted(handler)`` reaches ``count``; the peak RSS of this process.
    The operator benchmark measures through this too, so that its ratio compares like with like."""
    started = time.perf_counter()
    create()
    handled = 0
    while handled < count and time.perf_counter() - started < timeout:
        time.sleep(0.05)
        handled = served.call(counted, served.handler)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return Result(kind, count, round(seconds, 2), round(peak, 1), handled, handled >= count)


def measure(kind: str, count: int, timeout: float = 120.0) -> Result:
    """Measure in a fresh subprocess (for its own peak RSS); a run past ``timeout`` is not finished."""
    argv = [sys.executable, __file__, "--worker", kind, str(count), str(timeout)]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 60, check=False)
    except subprocess.TimeoutExpired:
        return Result(kind, count, timeout, 0.0, 0, False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"the {kind} worker failed:\n{done.stderr[-3000:]}")
    return Result(**json.loads(lines[-1]))


def worker(kind: str, count: int, timeout: float) -> None:
    print(json.dumps(asdict(run_once(kind, count, timeout))), flush=True)
    # The figures are out; tearing down a server that is still working through a backlog can take
    # minutes with stock kmock, and measures nothing.
    os._exit(0)


def describe(result: Result) -> str:
    if not result.finished:
        return (
            f"did not finish in {result.seconds:.0f} s ({result.handled}/{result.count} handled, "
            f"peak RSS {result.peak_rss_mb:.1f} MB by then)"
        )
    return f"{result.seconds:7.2f} s   peak RSS {result.peak_rss_mb:6.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[200, 1000])
    parser.add_argument("--stock-timeout", type=float, default=120.0)
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument("--worker", nargs=3, metavar=("KIND", "COUNT", "TIMEOUT"))
    args = parser.parse_args()
    if args.worker:
        worker(args.worker[0], int(args.worker[1]), float(args.worker[2]))
    for count in args.counts:
        results = {
            kind: measure(kind, count, args.stock_timeout if kind == "stock" else args.timeout) for kind in KINDS
        }
        print(f"kopf handling {count} new objects (one status field each):")
        for kind, result in results.items():
            print(f"  {kind:9} {describe(result)}")
        print_ratios(results)


def print_ratios(results: dict[str, Result]) -> None:
    ours = results["emulator"]
    for kind in ("stock", "routing"):
        other = results[kind]
        qualifier = ">" if not other.finished else ""
        if ours.finished:
            print(f"  {kind} / emulator: time {qualifier}{other.seconds / ours.seconds:.1f}x", end="")
            print(f", peak RSS {other.peak_rss_mb / ours.peak_rss_mb:.2f}x" if other.finished else "")
            if other.finished:
                bench_line(f"emulator-{ours.count}-{kind}-vs-emulator-time-ratio", other.seconds / ours.seconds, "x")
    if ours.finished:
        bench_line(f"emulator-{ours.count}-seconds", ours.seconds, "s")


if __name__ == "__main__":
    main()
