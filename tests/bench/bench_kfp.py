"""What kfp.Client would cost the operator, against what mlcd's kfp backend (KFP's generated client under
KFP's token credentials) costs, on the multi-user KFP stand-in.

Run as a script (``python tests/bench/bench_kfp.py [--repeat N] [--down]``); it starts and stops its own
stand-in on 127.0.0.1. It prints medians and ratios and asserts nothing. --down also times kfp.Client's
constructor against a KFP that does not answer (its health poll: 5 attempts, 5 s apart).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from kfp import Client  # noqa: E402
from kfp.client import ServiceAccountTokenVolumeCredentials  # noqa: E402

from mlcd.backends.base import Placement  # noqa: E402
from mlcd.backends.kfp import KfpBackend  # noqa: E402
from tests.bench.timing import bench_line, median_seconds  # noqa: E402
from tests.kfp_standin import KfpStandIn  # noqa: E402

OPERATOR = "system:serviceaccount:mlcd-system:mlcd"
PIPELINE = {"pipelineInfo": {"name": "bench"}, "root": {}, "schemaVersion": "2.1.0", "sdkVersion": "kfp-2.17.3"}


def sdk_client(url: str, token: Path, namespace: str | None) -> Client:
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore", FutureWarning)
        if namespace is None:
            return Client(host=url, credentials=ServiceAccountTokenVolumeCredentials(str(token)))
        return Client(host=url, namespace=namespace, credentials=ServiceAccountTokenVolumeCredentials(str(token)))


def sdk_submit(client: Client, folder: Path, name: str) -> None:
    """kfp.Client's way: the experiment by name, then run_pipeline, which reads the pipeline from a file."""
    with contextlib.redirect_stdout(io.StringIO()):  # it prints the experiment and run links
        experiment = client.create_experiment("mlcd", namespace="team-a")
        package = folder / f"{name}.yaml"
        package.write_text(json.dumps(PIPELINE))
        client.run_pipeline(experiment_id=experiment.experiment_id, job_name=name, pipeline_package_path=str(package))


@contextlib.contextmanager
def _quiet_logging():
    """kfp.Client logs a traceback for each failed health poll."""
    logging.disable(logging.ERROR)
    try:
        yield
    finally:
        logging.disable(logging.NOTSET)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--down", action="store_true", help="time kfp.Client() against a KFP that is down (~25 s)")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-kfp-"))
    token = folder / "token"
    token.write_text("bench-token")
    os.environ["KF_PIPELINES_SA_TOKEN_PATH"] = str(token)
    os.environ.pop("MLCD_KFP_TOKEN", None)
    os.environ["HOME"] = str(folder)  # kfp.Client keeps a context file under ~/.config/kfp
    standin = KfpStandIn(multi_user=True).start()
    standin.issue_token("bench-token", OPERATOR)
    standin.bind_edit(OPERATOR, "team-a")
    try:
        figures = {
            "construct kfp.Client (namespace given)": median_seconds(
                lambda: sdk_client(standin.url, token, "team-a"), args.repeat),
            "construct kfp.Client (no namespace: health poll)": median_seconds(
                lambda: sdk_client(standin.url, token, None), args.repeat),
            "construct mlcd KfpBackend": median_seconds(lambda: KfpBackend(standin.url), args.repeat),
        }
        client = sdk_client(standin.url, token, "team-a")
        backend = KfpBackend(standin.url)
        counter = iter(range(10**6))
        figures["submit, kfp.Client (experiment by name + run_pipeline from a file)"] = median_seconds(
            lambda: sdk_submit(client, folder, f"sdk-{next(counter)}"), args.repeat)
        figures["submit, mlcd KfpBackend (find + create, experiment cached)"] = median_seconds(
            lambda: backend.find("absent", Placement("team-a")) or backend.submit(
                f"mlcd-{next(counter)}", PIPELINE, {}, {}, Placement("team-a")), args.repeat)
        if args.down:  # KFP answers 503 (its pod restarting behind the Service)
            standin.fail_next = [503] * 5
            start = time.perf_counter()
            with contextlib.suppress(TimeoutError), _quiet_logging():
                sdk_client(standin.url, token, None)
            figures["construct kfp.Client, KFP answering 503 (once)"] = time.perf_counter() - start
            standin.fail_next = [503] * 5
            start = time.perf_counter()
            KfpBackend(standin.url)
            figures["construct mlcd KfpBackend, KFP answering 503 (once)"] = time.perf_counter() - start
            standin.fail_next = []
    finally:
        standin.stop()
    for what, seconds in figures.items():
        print(f"{what:72s} {seconds * 1000:9.2f} ms")
    sdk = figures["submit, kfp.Client (experiment by name + run_pipeline from a file)"]
    ours = figures["submit, mlcd KfpBackend (find + create, experiment cached)"]
    print(f"submit ratio kfp.Client / mlcd backend: {sdk / ours:.2f}x")
    bench_line("kfp-submit-ms", ours * 1000, "ms")
    bench_line("kfp-submit-sdk-ms", sdk * 1000, "ms")
    bench_line("kfp-submit-sdk-vs-mlcd-ratio", sdk / ours, "x")


if __name__ == "__main__":
    main()
