"""The user's path, typed as a user types it: the real helm and kubectl against the API emulator.

``helm install`` puts the chart (CRDs, RBAC, Deployment) into the emulator; the operator then runs
as a local process with the command and environment of the Deployment helm rendered (the local
backend, so the iris sample really trains); ``kubectl apply`` the samples, ``kubectl wait`` for the
TrainingRun, read the printer columns with ``kubectl get``, ``kubectl explain`` a field, apply again
(unchanged, then changed), delete, ``helm uninstall`` (the CRDs stay: ``crds.keep``).
"""

import base64
import json
import os
import pathlib
import shutil
import subprocess
import sys
import threading
import urllib.request
from collections.abc import Callable

import pytest
import yaml

from tests.argocd_health import health
from tests.k8s import KSERVE_CRD
from tests.k8s.clients import ensure, find
from tests.k8s.files import KSERVE_RUNTIME_CRD, ROOT
from tests.ports import free_port

SYSTEM = "mlcd-system"
CLIENT_TIMEOUT = 120



@pytest.fixture(scope="module")
def binaries() -> dict[str, str]:
    reason = ensure()
    found = {name: find(name) for name in ("kubectl", "helm")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        pytest.skip(f"no {' and no '.join(missing)} binary: {reason or 'not on PATH'}")
    return found  # type: ignore[return-value]


class User:
    """Runs kubectl and helm with the emulator's kubeconfig and a private Helm home."""

    def __init__(self, binaries: dict[str, str], kubeconfig: pathlib.Path, home: pathlib.Path):
        self.binaries = binaries
        self.env = {
            **os.environ,
            "KUBECONFIG": str(kubeconfig),
            "HELM_CACHE_HOME": str(home / "cache"),
            "HELM_CONFIG_HOME": str(home / "config"),
            "HELM_DATA_HOME": str(home / "data"),
            "KUBECACHEDIR": str(home / "kube-cache"),
        }

    def run(self, tool: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [self.binaries[tool], *args],
            env=self.env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=CLIENT_TIMEOUT,
        )
        if ok:
            assert done.returncode == 0, f"{tool} {' '.join(args)} exited {done.returncode}:\n{done.stderr}"
        return done

    def kubectl(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("kubectl", *args, ok=ok)

    def helm(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return self.run("helm", *args, ok=ok)

    def watch_until(self, *args: str, until: Callable[[str], bool]) -> list[str]:
        """The lines ``kubectl ARGS`` (a watch) prints up to the first one ``until`` accepts; then it is stopped."""
        lines: list[str] = []
        with subprocess.Popen(
            [self.binaries["kubectl"], *args], env=self.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        ) as process:
            reader = threading.Thread(target=lambda: _read_until(process, lines, until), daemon=True)
            reader.start()
            reader.join(CLIENT_TIMEOUT)
            process.terminate()
            _, errors = process.communicate(timeout=10)
        assert lines and until(lines[-1]), f"kubectl {' '.join(args)} printed {lines}: {errors}"
        return lines


def _read_until(process: subprocess.Popen[str], lines: list[str], until: Callable[[str], bool]) -> None:
    assert process.stdout is not None
    for line in process.stdout:
        lines.append(line.rstrip("\n"))
        if until(lines[-1]):
            return


def rendered_operator(user: User) -> tuple[list[str], dict[str, str], str]:
    """The operator container of the Deployment helm created: its command, its env as the kubelet would
    set it, and the URL of its readiness probe."""
    deployment = json.loads(user.kubectl("-n", SYSTEM, "get", "deployment", "mlcd", "-o", "json").stdout)
    container = next(c for c in deployment["spec"]["template"]["spec"]["containers"] if c["name"] == "operator")
    pod_spec = deployment["spec"]["template"]["spec"]
    env = {}
    for item in container.get("env", []):
        value = item["value"] if "value" in item else resolve(user, item["valueFrom"], pod_spec)
        if value is not None:
            env[item["name"]] = value
    probe = container["readinessProbe"]["httpGet"]
    ports = {port.get("name"): port["containerPort"] for port in container.get("ports", [])}
    port = probe["port"] if isinstance(probe["port"], int) else ports[probe["port"]]
    return container["command"], env, f"http://127.0.0.1:{port}{probe['path']}"


def resolve(user: User, source: dict, pod_spec: dict) -> str | None:
    """What the kubelet puts in an env var taken ``valueFrom`` (the downward API or a Secret key)."""
    if "fieldRef" in source:
        fields = {
            "metadata.namespace": SYSTEM,
            "metadata.name": "mlcd-local",
            "spec.serviceAccountName": pod_spec.get("serviceAccountName", "default"),
        }
        return fields[source["fieldRef"]["fieldPath"]]
    ref = source["secretKeyRef"]
    found = user.kubectl("-n", SYSTEM, "get", "secret", ref["name"], "-o", "json", ok=False)
    data = json.loads(found.stdout).get("data", {}) if found.returncode == 0 else {}
    if ref["key"] not in data:
        assert ref.get("optional"), f"the Deployment needs Secret {ref['name']} key {ref['key']}"
        return None
    return base64.b64decode(data[ref["key"]]).decode()


def table(output: str) -> list[dict[str, str]]:
    """kubectl's column output as rows keyed by header (columns split where the header words start)."""
    lines = [line for line in output.splitlines() if line.strip()]
    header = lines[0]
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 1] == " ")]
    bounds = list(zip(starts, [*starts[1:], None], strict=True))
    names = [header[a:b].strip() for a, b in bounds]
    return [{name: line[a:b].strip() for name, (a, b) in zip(names, bounds, strict=True)} for line in lines[1:]]


def get_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def test_helm_kubectl_and_the_operator_as_a_user_runs_them(
    binaries, k8s_emulator, kubeconfig, operator_process, tmp_path, wait_for
):
    user = User(binaries, kubeconfig, tmp_path / "helm")
    k8s_emulator.load_crds([KSERVE_CRD, KSERVE_RUNTIME_CRD])  # KServe is installed; mlcd's CRDs come with the chart
    liveness, metrics = free_port(), free_port()

    installed = user.helm(
        "install",
        "mlcd",
        "charts/mlcd",
        "--namespace",
        SYSTEM,
        "--create-namespace",
        "--set",
        "operator.backend=local",  # the development mode, on the one namespace the samples go to
        "--set",
        "operator.localNamespace=default",
        "--set",
        f"operator.livenessPort={liveness}",
        "--set",
        f"operator.metricsPort={metrics}",
    )
    assert "STATUS: deployed" in installed.stdout
    crds = user.kubectl("get", "crd", "-o", "name").stdout.split()
    assert {
        "customresourcedefinition.apiextensions.k8s.io/trainingruns.mlcd.io",
        "customresourcedefinition.apiextensions.k8s.io/modeldeployments.mlcd.io",
    } <= set(crds)

    command, env, ready_url = rendered_operator(user)
    assert command[:2] == ["mlcd", "operator"] and env["MLCD_BACKEND"] == "local"
    # The container's volume for MLCD_HOME is a folder here; the poll interval is shortened for the test.
    env |= {"MLCD_HOME": str(tmp_path / "home"), "MLCD_POLL_SECONDS": "0.5"}
    executable = str(pathlib.Path(sys.executable).with_name(command[0]))
    operator = operator_process([executable, *command[1:]], env=env)
    assert ready_url == f"http://127.0.0.1:{liveness}/healthz"
    wait_for(lambda: get_ok(ready_url), bool, deadline=60, interval=0.2)

    applied = user.kubectl("apply", "-f", "manifests/samples/")
    assert "trainingrun.mlcd.io/iris created" in applied.stdout
    assert "modeldeployment.mlcd.io/iris created" in applied.stdout
    waited = user.kubectl("wait", "--for=jsonpath={.status.phase}=Succeeded", "tr/iris", "--timeout=300s", ok=False)
    assert waited.returncode == 0, f"{waited.stderr}\n--- operator log ---\n{operator.logs()[-3000:]}"
    assert waited.stdout.strip() == "trainingrun.mlcd.io/iris condition met"
    ready = user.kubectl("wait", "--for=condition=Ready", "tr/iris", "--timeout=60s")
    assert ready.stdout.strip() == "trainingrun.mlcd.io/iris condition met"

    rows = table(user.kubectl("get", "tr").stdout)
    iris = next(row for row in rows if row["NAME"] == "iris")
    status = json.loads(user.kubectl("get", "tr", "iris", "-o", "json").stdout)["status"]
    assert iris["PHASE"] == "Succeeded"
    assert iris["VERSION"] == str(status["model"]["version"]) == "1"
    assert iris["METRIC"] == status["keyMetric"] and iris["METRIC"].startswith("accuracy=")
    events = table(user.kubectl("get", "events").stdout)
    succeeded = [row for row in events if row["OBJECT"] == "trainingrun/iris" and row["REASON"] == "RunSucceeded"]
    assert succeeded and succeeded[-1]["TYPE"] == "Normal" and succeeded[-1]["MESSAGE"], events
    categorised = user.kubectl("get", "mlcd", "-o", "name").stdout.split()
    assert {"trainingrun.mlcd.io/iris", "modeldeployment.mlcd.io/iris"} <= set(categorised)
    watched = user.watch_until("get", "tr", "-w", until=lambda line: line.startswith("iris "))
    assert table("\n".join(watched))[-1]["PHASE"] == "Succeeded"
    # What Argo CD would show for them: the iris model is registered; its ModelDeployment waits for the
    # ServiceAccount the sample names (mlcd-models), which nobody created here.
    assert health("TrainingRun", json.loads(user.kubectl("get", "tr", "iris", "-o", "json").stdout)) == {
        "status": "Healthy",
        "message": f"Model version 1 registered ({status['keyMetric']})",
    }
    md_health = wait_for(
        lambda: health("ModelDeployment", json.loads(user.kubectl("get", "md", "iris", "-o", "json").stdout)),
        lambda verdict: verdict["status"] == "Suspended",
        deadline=60,
    )
    assert "ServiceAccount 'mlcd-models' does not exist" in md_health["message"]
    both = user.kubectl("get", "tr,md").stdout
    assert "trainingrun.mlcd.io/iris" in both and "modeldeployment.mlcd.io/iris" in both
    assert "PHASE" in both.split("\n\n")[1].splitlines()[0]

    crd = yaml.safe_load((ROOT / "manifests" / "crd" / "mlcd.io_trainingruns.yaml").read_text())
    retrain = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["retrain"]
    explained = user.kubectl("explain", "trainingrun.spec.retrain").stdout
    assert "KIND:       TrainingRun" in explained and "FIELD: retrain <Object>" in explained
    for field, schema in retrain["properties"].items():
        assert f"  {field}\t" in explained
        if schema.get("description"):
            assert schema["description"].split("\n")[0][:60] in " ".join(explained.split())

    upgraded = user.helm(
        "upgrade",
        "mlcd",
        "charts/mlcd",
        "--namespace",
        SYSTEM,
        "--reuse-values",
        "--set",
        "podAnnotations.example\\.com/team=ml",
    )
    assert "STATUS: deployed" in upgraded.stdout and "REVISION: 2" in upgraded.stdout
    template = json.loads(user.kubectl("-n", SYSTEM, "get", "deployment", "mlcd", "-o", "json").stdout)
    assert template["spec"]["template"]["metadata"]["annotations"]["example.com/team"] == "ml"
    history = json.loads(user.helm("history", "mlcd", "--namespace", SYSTEM, "-o", "json").stdout)
    assert [(entry["revision"], entry["status"]) for entry in history] == [(1, "superseded"), (2, "deployed")]

    # Applied again as it is: nothing to do. Applied with a changed field: a new generation, which the
    # operator observes, and kubectl's last-applied record follows the file.
    again = user.kubectl("apply", "-f", "manifests/samples/iris-trainingrun.yaml").stdout.strip()
    assert again == "trainingrun.mlcd.io/iris unchanged"
    changed = tmp_path / "iris-trainingrun.yaml"
    sample = yaml.safe_load((ROOT / "manifests" / "samples" / "iris-trainingrun.yaml").read_text())
    sample["spec"]["data"]["testFraction"] = 0.25
    changed.write_text(yaml.safe_dump(sample), encoding="utf-8")
    assert user.kubectl("apply", "-f", str(changed)).stdout.strip() == "trainingrun.mlcd.io/iris configured"
    live = json.loads(user.kubectl("get", "tr", "iris", "-o", "json").stdout)
    assert live["metadata"]["generation"] == 2 and live["spec"]["data"]["testFraction"] == 0.25
    last = json.loads(live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["spec"]["data"]["testFraction"] == 0.25
    user.kubectl("wait", "--for=jsonpath={.status.observedGeneration}=2", "tr/iris", "--timeout=120s")

    user.kubectl("delete", "-f", "manifests/samples/", "--timeout=60s")
    assert "No resources found" in user.kubectl("get", "tr,md").stderr

    uninstalled = user.helm("uninstall", "mlcd", "--namespace", SYSTEM)
    assert "trainingruns.mlcd.io" in uninstalled.stdout  # "These resources were kept due to the resource policy"
    assert user.kubectl("get", "crd", "trainingruns.mlcd.io", "-o", "name").stdout.strip()
    assert "NotFound" in user.kubectl("-n", SYSTEM, "get", "deployment", "mlcd", ok=False).stderr
    assert operator.stop() == 0
    assert "Traceback" not in operator.logs()


def test_binaries_are_the_real_ones(binaries):
    version = subprocess.run(
        [binaries["kubectl"], "version", "--client", "-o", "json"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert json.loads(version.stdout)["clientVersion"]["major"] == "1"
    helm = subprocess.run(
        [binaries["helm"], "version", "--short"], capture_output=True, text=True, timeout=30, check=True
    )
    assert helm.stdout.startswith("v")
    assert shutil.which(binaries["kubectl"])


def test_kubectl_apply_patches_a_builtin_kind_by_strategic_merge(binaries, k8s_emulator, kubeconfig, tmp_path):
    user = User(binaries, kubeconfig, tmp_path / "helm")
    manifest = tmp_path / "cm.yaml"

    def apply(data: dict) -> str:
        doc = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"}, "data": data}
        manifest.write_text(yaml.safe_dump(doc), encoding="utf-8")
        return user.kubectl("apply", "-f", str(manifest)).stdout.strip()

    assert apply({"a": "1", "b": "2"}) == "configmap/settings created"
    user.kubectl("label", "configmap", "settings", "team=ml")  # a change made outside the manifest stays
    assert apply({"a": "1", "c": "3"}) == "configmap/settings configured"
    live = json.loads(user.kubectl("get", "configmap", "settings", "-o", "json").stdout)
    assert live["data"] == {"a": "1", "c": "3"}  # b was in the last-applied configuration: removed
    assert live["metadata"]["labels"] == {"team": "ml"}
    last = json.loads(live["metadata"]["annotations"]["kubectl.kubernetes.io/last-applied-configuration"])
    assert last["data"] == {"a": "1", "c": "3"}
    patches = k8s_emulator.call(
        lambda: [r.headers.get("Content-Type") for r in k8s_emulator.emulator if r.method.value == "PATCH"]
    )
    assert "application/strategic-merge-patch+json" in patches
    assert apply({"a": "1", "c": "3"}) == "configmap/settings unchanged"


def test_the_emulator_a_user_starts_by_hand_answers_kubectl_and_stops_on_sigterm(binaries, tmp_path):
    """``python -m tests.k8s --kubeconfig PATH``, as the README has people try mlcd without a cluster."""
    kubeconfig = tmp_path / "kubeconfig"
    with subprocess.Popen([sys.executable, "-m", "tests.k8s", "--kubeconfig", str(kubeconfig)], cwd=ROOT,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as served:
        try:
            assert served.stdout is not None
            first = served.stdout.readline()
            assert first.startswith("Kubernetes API emulator on http://127.0.0.1:"), first
            assert served.stdout.readline().strip() == (
                f"export KUBECONFIG={kubeconfig.resolve()}   # Ctrl-C stops the emulator")
            user = User(binaries, kubeconfig, tmp_path / "helm")
            crd = user.kubectl("get", "crd", "trainingruns.mlcd.io", "-o", "name").stdout.strip()
            assert crd == "customresourcedefinition.apiextensions.k8s.io/trainingruns.mlcd.io"
            assert user.kubectl("get", "tr").stderr.strip() == "No resources found in default namespace."
        finally:
            served.terminate()
            assert served.wait(timeout=30) == 0


def test_the_emulator_names_a_missing_crd_file(tmp_path):
    done = subprocess.run([sys.executable, "-m", "tests.k8s", "--kubeconfig", str(tmp_path / "kc"), "--crds",
                           str(tmp_path / "absent.yaml")], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == f"python -m tests.k8s: no such CRD file: {tmp_path / 'absent.yaml'}"
    assert not (tmp_path / "kc").exists()
