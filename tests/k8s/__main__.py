"""Serve the API emulator for people to try mlcd by hand: ``python -m tests.k8s --kubeconfig PATH``.

It listens on 127.0.0.1, writes a kubeconfig whose current context points at it, loads the CRDs
given with ``--crds`` (default: mlcd's own and KServe's InferenceService and ClusterServingRuntime),
and serves until it is stopped (Ctrl-C or SIGTERM). Then use kubectl, helm and ``mlcd operator``
with ``KUBECONFIG=PATH``.
"""

import argparse
import pathlib
import signal
import sys
import threading

from tests.k8s.files import KSERVE_CRD, KSERVE_RUNTIME_CRD, mlcd_crd_files
from tests.k8s.serving import ServedEmulator


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.k8s", description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True, type=pathlib.Path, help="where to write the kubeconfig")
    parser.add_argument(
        "--crds",
        nargs="*",
        type=pathlib.Path,
        default=None,
        help="CRD YAML files to load (default: mlcd's and KServe's; none with an empty list)",
    )
    parser.add_argument("--namespace", default="default", help="the namespace of the kubeconfig's context")
    args = parser.parse_args(argv)
    crds = [*mlcd_crd_files(), KSERVE_CRD, KSERVE_RUNTIME_CRD] if args.crds is None else args.crds
    missing = [str(path) for path in crds if not path.is_file()]
    if missing:
        print(f"python -m tests.k8s: no such CRD file: {', '.join(missing)}", file=sys.stderr)
        return 2
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with ServedEmulator() as served:
        served.load_crds(crds)
        served.write_kubeconfig(args.kubeconfig, args.namespace)
        print(f"Kubernetes API emulator on {served.url} ({len(crds)} CRD files loaded)", flush=True)
        print(f"export KUBECONFIG={args.kubeconfig.resolve()}   # Ctrl-C stops the emulator", flush=True)
        stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
