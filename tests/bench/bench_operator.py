"""The operator at scale: 1,000 TrainingRuns created in the API emulator, a backend that accepts at once.

Figure: time from the first POST until every TrainingRun is Submitted (status.pipeline.runName set),
and the peak RSS of the process (emulator + operator + client). Baseline, in the same run: the same
kopf machinery with a handler that only writes one status field (bench_emulator.measure). Each
measurement runs in a subprocess of its own. Prints figures and the ratio; asserts nothing.
Aim (issue 5): within 2x the baseline, under 200 MB.

Run: python tests/bench/bench_operator.py [--count 1000]. MLCD_BENCH_POLL sets the operator's poll interval
(default 10 s, as deployed); a long one keeps the per-object timers out of the window.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import tempfile
import urllib.request
from dataclasses import asdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import kmock  # noqa: E402

from mlcd.backends.base import RunRef, RunState  # noqa: E402
from mlcd.handlers.app import build_registry  # noqa: E402
from mlcd.handlers.config import OperatorConfig  # noqa: E402
from tests.bench.bench_emulator import describe, measure, timed  # noqa: E402
from tests.k8s import InProcessOperator, ServedEmulator, mlcd_crd_files, quick_settings  # noqa: E402
from tests.operator.helpers import IRIS  # noqa: E402


class InstantBackend:
    """Accepts every run at once and keeps it pending: the cost measured is the operator's own."""

    name = "instant"

    def __init__(self):
        self.runs: dict[str, RunRef] = {}

    def find(self, run_name, place=None):
        return self.runs.get(run_name)

    def submit(self, run_name, document, arguments, labels, place=None):
        self.runs[run_name] = RunRef(run_name, run_name)
        return self.runs[run_name]

    def get(self, ref):
        return RunState(ref.run_id, "PENDING")

    def stop(self, ref):
        pass


def submitted_count(handler) -> int:
    trainingruns = kmock.resource("mlcd.io", "v1alpha1", "trainingruns")
    return sum(1 for key, stored in list(handler.objects.items())
               if key[0] == trainingruns and not stored.deleted
               and ((stored.get("status") or {}).get("pipeline") or {}).get("runName"))


def post_trainingruns(url: str, count: int) -> None:
    for index in range(count):
        body = copy.deepcopy(IRIS)
        body["metadata"] = {"name": f"tr{index}", "namespace": "default"}
        body["spec"]["data"]["seed"] = index % 7  # a few distinct specs, as a real cluster would have
        request = urllib.request.Request(f"{url}/apis/mlcd.io/v1alpha1/namespaces/default/trainingruns",
                                         data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request).close()


def run_once(count: int, timeout: float) -> dict:
    served = ServedEmulator().start()
    served.load_crds(mlcd_crd_files())
    home = Path(tempfile.mkdtemp(prefix="mlcd-bench-"))
    poll = float(os.environ.get("MLCD_BENCH_POLL", "10"))
    config = OperatorConfig(backend="local", home=home, poll_seconds=poll, registry_base=home.as_uri())
    InProcessOperator(served.url, build_registry(config, InstantBackend()), quick_settings()).start()
    result = timed(served, lambda: post_trainingruns(served.url, count), submitted_count, "mlcd", count, timeout)
    return asdict(result)


def measure_operator(count: int, timeout: float) -> dict:
    argv = [sys.executable, __file__, "--worker", str(count), str(timeout)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 60, check=False)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(f"the operator worker failed:\n{done.stderr[-3000:]}")
    return json.loads(lines[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=180.0)
    parser.add_argument("--worker", nargs=2, metavar=("COUNT", "TIMEOUT"))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(run_once(int(args.worker[0]), float(args.worker[1]))), flush=True)
        os._exit(0)
    baseline = measure("emulator", args.count, args.timeout)
    ours = measure_operator(args.count, args.timeout)
    print(f"{args.count} TrainingRuns until Submitted, backend accepting at once:")
    print(f"  baseline (kopf, one status field)  {describe(baseline)}")
    state = "" if ours["finished"] else f"  (did not finish: {ours['handled']}/{ours['count']})"
    print(f"  mlcd operator                      {ours['seconds']:7.2f} s   peak RSS {ours['peak_rss_mb']:6.1f} MB"
          + state)
    if baseline.finished and ours["finished"]:
        print(f"  ratio mlcd / baseline: time {ours['seconds'] / baseline.seconds:.2f}x (aim <= 2x), "
              f"peak RSS {ours['peak_rss_mb'] / baseline.peak_rss_mb:.2f}x; mlcd peak "
              f"{ours['peak_rss_mb']:.0f} MB (aim < 200 MB)")


if __name__ == "__main__":
    main()
