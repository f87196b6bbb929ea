"""The chart's mlcd-sklearn ClusterServingRuntime as a command line, for tests and benches that run its
server the way KServe runs the container: its own command and args, nothing of ours in between."""

from __future__ import annotations

import sys
from pathlib import Path

import helm_python as helm

from tests.kube_checks import ROOT, load_all

MLCD = str(Path(sys.executable).with_name("mlcd"))


def rendered_runtime() -> dict:
    with helm.Chart.load(ROOT / "charts" / "mlcd") as chart:
        rendered = chart.render({}, name="mlcd", namespace="mlcd-system", is_install=True)
    docs = [d for path, text in rendered.items() if path.endswith(".yaml") for d in load_all(text)]
    (runtime,) = [d for d in docs if d["kind"] == "ClusterServingRuntime"]
    return runtime


def runtime_command(model_dir: Path, name: str, port: int) -> list[str]:
    """The runtime container's command and args, with what KServe and this machine put in: the model's
    name for {{.Name}}, the downloaded folder for /mnt/models, a free port on 127.0.0.1 (tests never bind
    a fixed port or every interface). `mlcd` is this environment's."""
    (container,) = rendered_runtime()["spec"]["containers"]
    command = [MLCD if part == "mlcd" else part for part in container["command"]]
    swaps = {"{{.Name}}": name, "/mnt/models": str(model_dir), "8080": str(port), "0.0.0.0": "127.0.0.1"}
    args = []
    for arg in container["args"]:
        flag, _, value = arg.partition("=")
        args.append(f"{flag}={swaps.get(value, value)}")
    return command + args
