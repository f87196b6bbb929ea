"""The plain manifests (`kubectl apply -k manifests/`): valid, least privilege, restricted, like the chart."""

import tomllib

import helm_python as helm
import pytest
import yaml

from mlcd.compiler.compile import DEFAULT_IMAGE
from tests.kube_checks import (
    ROOT,
    assert_operator_container,
    assert_restricted,
    load_all,
    validate_builtin,
    wildcards,
)

MANIFESTS = ROOT / "manifests"
KUSTOMIZATION = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())


def installed() -> list[dict]:
    return [doc for path in KUSTOMIZATION["resources"] for doc in load_all((MANIFESTS / path).read_text())]


def one(kind: str, docs: list[dict]) -> dict:
    (found,) = [d for d in docs if d["kind"] == kind]
    return found


def test_kustomization_installs_every_file_but_the_samples():
    files = {p.relative_to(MANIFESTS).as_posix() for p in MANIFESTS.rglob("*.yaml")}
    listed = set(KUSTOMIZATION["resources"])
    # argocd/ is a patch for Argo CD's own argocd-cm (its health checks), not part of mlcd's install.
    aside = {f for f in files if f.startswith(("samples/", "argocd/"))}
    assert listed == files - {"kustomization.yaml"} - aside
    # kubectl applies files in the order given; the namespace must exist before what lives in it.
    assert KUSTOMIZATION["resources"][0] == "namespace.yaml"


@pytest.mark.parametrize("doc", installed(), ids=lambda d: f"{d['kind']}/{d['metadata']['name']}")
def test_every_manifest_is_valid(doc):
    validate_builtin(doc)
    if doc["kind"] not in ("Namespace", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding"):
        assert doc["metadata"]["namespace"] == "mlcd-system"


def test_operator_is_restricted_and_bound_to_its_service_account():
    docs = installed()
    dep = one("Deployment", docs)
    assert_restricted(dep)
    assert_operator_container(dep)
    pod = dep["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == one("ServiceAccount", docs)["metadata"]["name"]
    assert pod["containers"][0]["image"] == DEFAULT_IMAGE
    env = {e["name"]: e for e in pod["containers"][0]["env"]}
    assert env["MLCD_COMPONENT_IMAGE"]["value"] == DEFAULT_IMAGE
    binding = one("ClusterRoleBinding", docs)
    assert binding["roleRef"]["name"] == one("ClusterRole", docs)["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": pod["serviceAccountName"],
                                    "namespace": "mlcd-system"}]
    namespace = one("Namespace", docs)["metadata"]
    assert namespace["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"


def test_the_operator_holds_no_storage_credential_and_reads_secrets_by_name_only():
    docs = installed()
    (container,) = one("Deployment", docs)["spec"]["template"]["spec"]["containers"]
    names = {env["name"] for env in container["env"]}
    assert not {n for n in names if n.startswith("AWS_") or n.startswith("MLCD_S3_")}
    assert {"name": "MLCD_STORAGE_SECRET", "value": "mlcd-storage"} in container["env"]
    secrets = [rule for rule in one("ClusterRole", docs)["rules"] if "secrets" in rule["resources"]]
    assert secrets == [{"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["mlcd-storage"],
                        "verbs": ["get"]}]


def test_rbac_has_no_wildcards():
    assert wildcards(one("ClusterRole", installed())) == []


def test_same_rights_and_pod_security_as_the_chart():
    """Two ways to install, one operator: the chart's defaults and these files must not drift apart."""
    with helm.Chart.load(ROOT / "charts" / "mlcd") as chart:
        rendered = [d for path, text in chart.render({}, name="mlcd", namespace="mlcd-system").items()
                    if path.endswith(".yaml") for d in load_all(text)]
    plain = installed()
    assert one("ClusterRole", plain)["rules"] == one("ClusterRole", rendered)["rules"]
    plain_pod = one("Deployment", plain)["spec"]["template"]["spec"]
    chart_pod = one("Deployment", rendered)["spec"]["template"]["spec"]
    assert plain_pod["securityContext"] == chart_pod["securityContext"]
    for field in ("securityContext", "command", "livenessProbe", "readinessProbe", "resources", "volumeMounts"):
        assert plain_pod["containers"][0][field] == chart_pod["containers"][0][field], field
    assert plain_pod["volumes"] == chart_pod["volumes"]


def test_the_image_installs_kserves_server_so_it_can_be_the_serving_runtime():
    """The mlcd-sklearn ClusterServingRuntime runs `mlcd serve` from the one image: the Dockerfile must
    install the `serve` extra, and that extra must bring KServe's model server."""
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install '.[serve]'" in dockerfile
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(req.startswith("kserve") for req in extras["serve"])
