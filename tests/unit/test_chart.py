"""The Helm chart, rendered and linted by Helm's own engine (helm-python-sdk), for several value sets."""

import re

import helm_python as helm
import jsonschema
import kubernetes_validate
import pytest
import yaml
from kfp.client import KF_PIPELINES_SA_TOKEN_PATH

import mlcd
from mlcd.api.crd import all_crds
from mlcd.api.v1alpha1.modeldeployment import DEFAULT_RUNTIME
from mlcd.compiler.compile import DEFAULT_IMAGE
from mlcd.kserve import build_inferenceservice
from tests.kube_checks import (
    KUBE_VERSION,
    ROOT,
    assert_operator_container,
    assert_restricted,
    load_all,
    validate_builtin,
    validate_custom,
    wildcards,
)

CHART = ROOT / "charts" / "mlcd"
KSERVE = ROOT / "tests" / "fixtures" / "kserve"
RELEASE, NAMESPACE = "mlcd", "mlcd-system"

VALUE_SETS = {
    "defaults": {},
    "watch-namespaces": {"watchNamespaces": ["team-a", "team-b"]},
    "network-policy": {"networkPolicy": {"enabled": True, "metricsFrom": [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}},
    ]}},
    "service-monitor": {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prom"}}}},
    "crds-disabled": {"crds": {"enabled": False}},
    "crds-not-kept": {"crds": {"keep": False}},
    "kfp-with-secrets": {
        "operator": {"backend": "kfp", "kfpHost": "http://ml-pipeline.kubeflow:8888",
                     "componentImage": "registry.example/mlcd-components:0.1.0-patched"},
        "secrets": {"kfp": {"name": "kfp-token", "key": "bearer"}},
        "storage": {"secretName": "minio-creds"},
        "rbac": {"preflightSecrets": ["kserve-s3", "minio-creds"]},
        "image": {"digest": "sha256:" + "ab" * 32},
    },
    "local-development": {"operator": {"backend": "local", "localNamespace": "dev"}},
    "kfp-multi-user": {
        "operator": {"backend": "kfp", "kfpHost": "http://ml-pipeline.kubeflow:8888"},
        "watchNamespaces": ["team-a", "team-b"],
        "kfp": {"runServiceAccount": "default-editor", "uiUrl": "https://kubeflow.example.com/pipeline"},
    },
    "existing-service-account": {"serviceAccount": {"create": False, "name": "platform-mlcd"},
                                 "tolerations": [{"key": "ml", "operator": "Exists", "effect": "NoSchedule"}],
                                 "nodeSelector": {"pool": "ml"}, "priorityClassName": "platform"},
}


@pytest.fixture(scope="module")
def chart():
    with helm.Chart.load(CHART) as loaded:
        yield loaded


def render(chart, values: dict) -> list[dict]:
    rendered = chart.render(values, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return [doc for path, text in sorted(rendered.items()) if path.endswith(".yaml") for doc in load_all(text)]


def by_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def deployment(docs: list[dict]) -> dict:
    (only,) = by_kind(docs, "Deployment")
    return only


def operator_env(docs: list[dict]) -> dict[str, dict]:
    (container,) = deployment(docs)["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container["env"]}


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_helm_lint_is_clean(values):
    report = helm.lint(CHART, values, strict=True, kube_version=f"v{KUBE_VERSION}.0", namespace=NAMESPACE)
    problems = [m for m in report["messages"] if m["severity"] >= 2]
    assert (problems, report["errors"]) == ([], [])


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_every_rendered_object_is_valid(chart, values):
    docs = render(chart, values)
    assert docs
    for doc in docs:
        if doc["apiVersion"] == "monitoring.coreos.com/v1":
            check_service_monitor(doc, docs)
        elif doc["apiVersion"] == "serving.kserve.io/v1alpha1":
            validate_custom(doc, KSERVE / "serving.kserve.io_clusterservingruntimes.yaml")
        else:
            validate_builtin(doc)
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == RELEASE


def check_service_monitor(monitor: dict, docs: list[dict]) -> None:
    """Prometheus Operator's CRD is not bundled here: check what makes the scrape work."""
    assert monitor["kind"] == "ServiceMonitor"
    (service,) = by_kind(docs, "Service")
    selector = monitor["spec"]["selector"]["matchLabels"]
    assert selector.items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["namespaceSelector"] == {"matchNames": [NAMESPACE]}
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert re.fullmatch(r"(\d+(ms|s|m|h))+", endpoint["interval"])


def test_validator_rejects_a_misspelt_field():
    doc = {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "x"}, "automountToken": True}
    with pytest.raises(kubernetes_validate.ValidationError, match="automountToken"):
        validate_builtin(doc)


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_rbac_has_no_wildcards(chart, values):
    docs = render(chart, values)
    roles = by_kind(docs, "ClusterRole") + by_kind(docs, "Role")
    assert roles
    for role in roles:
        assert wildcards(role) == [], role["metadata"]


@pytest.mark.parametrize("values", VALUE_SETS.values(), ids=VALUE_SETS.keys())
def test_operator_pod_is_restricted(chart, values):
    dep = deployment(render(chart, values))
    assert_restricted(dep)
    assert_operator_container(dep)
    assert dep["spec"]["strategy"] == {"type": "Recreate"}


def test_rendered_crds_equal_the_generated_ones(chart):
    rendered = {crd["metadata"]["name"]: crd for crd in by_kind(render(chart, {}), "CustomResourceDefinition")}
    generated = {crd["metadata"]["name"]: crd for crd in all_crds()}
    assert rendered.keys() == generated.keys()
    for name, crd in rendered.items():
        metadata = crd["metadata"]
        assert metadata.pop("annotations") == {"helm.sh/resource-policy": "keep"}
        own = generated[name]["metadata"]["labels"]
        assert own.items() <= metadata["labels"].items()
        metadata["labels"] = own
        assert crd == generated[name]


def test_crds_are_optional_and_kept_only_on_request(chart):
    assert by_kind(render(chart, {"crds": {"enabled": False}}), "CustomResourceDefinition") == []
    for crd in by_kind(render(chart, {"crds": {"keep": False}}), "CustomResourceDefinition"):
        assert "annotations" not in crd["metadata"]


def test_watch_namespaces_grants_roles_there_and_only_discovery_cluster_wide(chart):
    docs = render(chart, VALUE_SETS["watch-namespaces"])
    (cluster_role,) = by_kind(docs, "ClusterRole")
    cluster_resources = {r for rule in cluster_role["rules"] for r in rule["resources"]}
    assert cluster_resources == {"customresourcedefinitions", "namespaces"}
    operator_roles = [r for r in by_kind(docs, "Role") if not r["metadata"]["name"].endswith("-handoff")]
    operator_bindings = [b for b in by_kind(docs, "RoleBinding") if not b["metadata"]["name"].endswith("-handoff")]
    roles = {r["metadata"]["namespace"]: r for r in operator_roles}
    bindings = {b["metadata"]["namespace"]: b for b in operator_bindings}
    assert roles.keys() == bindings.keys() == {"team-a", "team-b"}
    for binding in bindings.values():
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}]
        assert binding["roleRef"]["name"] == roles[binding["metadata"]["namespace"]]["metadata"]["name"]
    assert operator_env(docs)["MLCD_NAMESPACES"]["value"] == "team-a,team-b"


def test_all_namespaces_by_default_with_one_cluster_role(chart):
    docs = render(chart, {})
    assert by_kind(docs, "Role") == []
    (cluster_role,) = by_kind(docs, "ClusterRole")
    granted = {(group, resource, verb) for rule in cluster_role["rules"] for group in rule["apiGroups"]
               for resource in rule["resources"] for verb in rule["verbs"]}
    assert ("mlcd.io", "trainingruns/status", "patch") in granted
    assert ("serving.kserve.io", "inferenceservices", "delete") in granted
    assert not {g for g in granted if g[1] == "secrets"} - {("", "secrets", "get")}
    (secrets,) = [rule for rule in cluster_role["rules"] if "secrets" in rule["resources"]]
    assert secrets == {"apiGroups": [""], "resources": ["secrets"], "resourceNames": ["mlcd-storage"], "verbs": ["get"]}
    assert not {g for g in granted if g[0] == "coordination.k8s.io"}
    assert "MLCD_NAMESPACES" not in operator_env(docs)
    (binding,) = by_kind(docs, "ClusterRoleBinding")
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}]


def test_defaults_run_the_kfp_backend_with_the_versioned_image_and_no_storage_credential(chart):
    env = operator_env(render(chart, {}))
    assert env["MLCD_BACKEND"]["value"] == "kfp"
    assert env["MLCD_KFP_HOST"]["value"] == "http://ml-pipeline.kubeflow:8888"
    assert env["MLCD_COMPONENT_IMAGE"]["value"] == DEFAULT_IMAGE
    assert env["MLCD_HOME"]["value"] == "/var/lib/mlcd"
    assert env["MLCD_STORAGE_SECRET"] == {"name": "MLCD_STORAGE_SECRET", "value": "mlcd-storage"}
    assert not {"MLCD_KFP_TOKEN", "MLCD_LOCAL_NAMESPACE", "MLCD_S3_ENDPOINT", "AWS_ACCESS_KEY_ID",
                "AWS_SECRET_ACCESS_KEY"} & env.keys()


def test_the_local_backend_is_a_development_mode_on_one_namespace(chart):
    docs = render(chart, VALUE_SETS["local-development"])
    env = operator_env(docs)
    assert (env["MLCD_BACKEND"]["value"], env["MLCD_LOCAL_NAMESPACE"]["value"]) == ("local", "dev")
    assert env["MLCD_NAMESPACES"]["value"] == "dev"
    assert {r["metadata"]["namespace"] for r in by_kind(docs, "Role")} == {"dev"}
    with pytest.raises(helm.HelmRenderError, match="watches operator.localNamespace only"):
        chart.render({**VALUE_SETS["local-development"], "watchNamespaces": ["dev", "team-b"]}, name=RELEASE,
                     namespace=NAMESPACE)


def test_kfp_backend_takes_secrets_by_reference_only(chart):
    docs = render(chart, VALUE_SETS["kfp-with-secrets"])
    env = operator_env(docs)
    assert env["MLCD_BACKEND"]["value"] == "kfp"
    assert env["MLCD_KFP_HOST"]["value"] == "http://ml-pipeline.kubeflow:8888"
    assert env["MLCD_KFP_TOKEN"]["valueFrom"] == {"secretKeyRef": {"name": "kfp-token", "key": "bearer"}}
    assert env["MLCD_STORAGE_SECRET"]["value"] == "minio-creds"
    assert not {"MLCD_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION"} & env.keys()
    (cluster_role,) = by_kind(docs, "ClusterRole")
    (secrets,) = [rule for rule in cluster_role["rules"] if "secrets" in rule["resources"]]
    assert secrets["resourceNames"] == ["minio-creds", "kserve-s3"] and secrets["verbs"] == ["get"]
    assert env["MLCD_COMPONENT_IMAGE"]["value"] == "registry.example/mlcd-components:0.1.0-patched"
    (container,) = deployment(docs)["spec"]["template"]["spec"]["containers"]
    assert container["image"] == "ghcr.io/mlcd-io/mlcd-components@sha256:" + "ab" * 32


def test_network_policy_admits_only_the_metrics_port(chart):
    (policy,) = by_kind(render(chart, VALUE_SETS["network-policy"]), "NetworkPolicy")
    assert policy["spec"]["policyTypes"] == ["Ingress"]
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": "http-metrics"}]
    assert rule["from"] == VALUE_SETS["network-policy"]["networkPolicy"]["metricsFrom"]
    assert by_kind(render(chart, {}), "NetworkPolicy") == []


def test_service_monitor_needs_the_metrics_service(chart):
    values = {"metrics": {"service": {"enabled": False}, "serviceMonitor": {"enabled": True}}}
    with pytest.raises(helm.HelmRenderError, match="needs metrics.service.enabled"):
        chart.render(values, name=RELEASE, namespace=NAMESPACE)


@pytest.mark.parametrize(("values", "message"), [
    ({"watchNamespace": ["team-a"]}, "additional properties 'watchNamespace' not allowed"),
    ({"operator": {"backnd": "kfp"}}, "at '/operator': additional properties 'backnd' not allowed"),
    ({"crds": {"enabled": "yes"}}, "at '/crds/enabled': got string, want boolean"),
    ({"operator": {"metricsPort": "9090"}}, "at '/operator/metricsPort': got string, want integer"),
    ({"operator": {"backend": "argo"}}, "at '/operator/backend'"),
    ({"operator": {"backend": "kfp", "kfpHost": ""}}, "at '/operator/kfpHost'"),
    ({"operator": {"backend": "local"}}, "at '/operator'"),
    ({"podSecurityContext": {"runAsUser": 0}}, "at '/podSecurityContext/runAsUser'"),
    ({"storage": {"secretName": "creds", "accessKey": "AKIA"}}, "additional properties 'accessKey' not allowed"),
], ids=["misspelt-key", "misspelt-nested-key", "wrong-type", "port-as-string", "unknown-backend",
        "kfp-without-host", "local-without-namespace", "root-user", "secret-value"])
def test_values_schema_rejects(chart, values, message):
    with pytest.raises(helm.HelmValuesError, match=re.escape(message)):
        chart.render(values, name=RELEASE, namespace=NAMESPACE)


def test_values_schema_closes_every_object():
    schema = (CHART / "values.schema.json").read_text()
    parsed = yaml.safe_load(schema)
    jsonschema.Draft7Validator.check_schema(parsed)

    def open_objects(node, path="$"):
        if isinstance(node, dict):
            if node.get("type") == "object" and "additionalProperties" not in node:
                yield path
            for key, child in node.items():
                yield from open_objects(child, f"{path}.{key}")
        elif isinstance(node, list):
            for i, child in enumerate(node):
                yield from open_objects(child, f"{path}[{i}]")

    assert list(open_objects(parsed)) == []
    jsonschema.validate(yaml.safe_load((CHART / "values.yaml").read_text()), parsed)


def test_every_value_is_commented():
    """Each value has a comment right above it, or sits in a section that has one (resources)."""
    lines = (CHART / "values.yaml").read_text().splitlines()
    ancestors: list[tuple[int, bool]] = []
    uncommented = []
    for i, line in enumerate(lines):
        match = re.match(r"^( *)([A-Za-z][\w-]*):(.*)$", line)
        if not match:
            continue
        indent, key, rest = len(match.group(1)), match.group(2), match.group(3).strip()
        ancestors = [(level, doc) for level, doc in ancestors if level < indent]
        documented = (i > 0 and lines[i - 1].lstrip().startswith("#")) or any(doc for _, doc in ancestors)
        if rest and not documented:
            uncommented.append(f"line {i + 1}: {key}")
        ancestors.append((indent, documented))
    assert uncommented == []


def test_versions_follow_the_package(chart):
    assert chart.metadata["version"] == chart.metadata["appVersion"] == mlcd.__version__
    assert chart.values["image"]["repository"] + ":" + mlcd.__version__ == DEFAULT_IMAGE


def test_notes_tell_the_next_step(chart):
    notes = chart.render({}, name=RELEASE, namespace=NAMESPACE)["mlcd/templates/NOTES.txt"]
    assert "kubectl apply -f manifests/samples/iris-trainingrun.yaml" in notes
    assert "kubectl get tr" in notes
    assert f"kubectl -n {NAMESPACE} rollout status deployment/{RELEASE}" in notes


def test_the_pipeline_runner_may_hand_models_off_in_the_watched_namespaces(chart):
    docs = render(chart, VALUE_SETS["watch-namespaces"])
    roles = {r["metadata"]["namespace"]: r for r in by_kind(docs, "Role") if r["metadata"]["name"].endswith("-handoff")}
    assert roles.keys() == {"team-a", "team-b"}
    for namespace, role in roles.items():
        assert role["rules"] == [{"apiGroups": ["mlcd.io"], "resources": ["modeldeployments"],
                                  "verbs": ["get", "create", "patch"]}]
        (binding,) = [b for b in by_kind(docs, "RoleBinding")
                      if b["metadata"]["namespace"] == namespace and b["metadata"]["name"].endswith("-handoff")]
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "pipeline-runner", "namespace": namespace}]
    explicit = render(chart, {"rbac": {"handoff": {"namespaces": ["ml"]}}})
    assert [r["metadata"]["namespace"] for r in by_kind(explicit, "Role")] == ["ml"]
    none = render(chart, {"rbac": {"handoff": {"serviceAccountName": ""}}, "watchNamespaces": ["ml"]})
    assert [r["metadata"]["name"] for r in by_kind(none, "Role") if r["metadata"]["name"].endswith("-handoff")] == []


def test_kfp_multi_user_gets_a_projected_token_and_a_role_binding_per_namespace(chart):
    docs = render(chart, VALUE_SETS["kfp-multi-user"])
    pod = deployment(docs)["spec"]["template"]["spec"]
    (volume,) = [v for v in pod["volumes"] if v["name"] == "kfp-token"]
    assert volume["projected"]["sources"] == [{"serviceAccountToken": {
        "path": "token", "audience": "pipelines.kubeflow.org", "expirationSeconds": 3600}}]
    (container,) = pod["containers"]
    (mount,) = [m for m in container["volumeMounts"] if m["name"] == "kfp-token"]
    # KFP's SDK default path (kfp.client.KF_PIPELINES_SA_TOKEN_PATH), so no variable is needed.
    assert mount == {"name": "kfp-token", "mountPath": "/var/run/secrets/kubeflow/pipelines", "readOnly": True}
    assert KF_PIPELINES_SA_TOKEN_PATH == mount["mountPath"] + "/token"
    env = operator_env(docs)
    assert env["MLCD_KFP_EXPERIMENT"]["value"] == "mlcd"
    assert env["MLCD_KFP_SERVICE_ACCOUNT"]["value"] == "default-editor"
    assert env["MLCD_KFP_UI_URL"]["value"] == "https://kubeflow.example.com/pipeline"
    assert "MLCD_KFP_TOKEN" not in env
    bindings = [b for b in by_kind(docs, "RoleBinding") if b["roleRef"]["name"] == "kubeflow-pipelines-edit"]
    assert sorted(b["metadata"]["namespace"] for b in bindings) == ["team-a", "team-b"]
    for binding in bindings:
        assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole",
                                      "name": "kubeflow-pipelines-edit"}
        assert binding["subjects"] == [{"kind": "ServiceAccount", "name": RELEASE, "namespace": NAMESPACE}]
        validate_builtin(binding)
    validate_builtin(deployment(docs))


def test_kfp_token_and_role_bindings_can_be_turned_off(chart):
    values = {**VALUE_SETS["kfp-multi-user"], "kfp": {"token": {"enabled": False}, "roleBindings": {"enabled": False}}}
    docs = render(chart, values)
    assert "kfp-token" not in {v["name"] for v in deployment(docs)["spec"]["template"]["spec"]["volumes"]}
    assert not [b for b in by_kind(docs, "RoleBinding") if b["roleRef"]["name"] == "kubeflow-pipelines-edit"]
    local = render(chart, {"operator": {"backend": "local", "localNamespace": "team-a"}})  # it needs neither
    assert "kfp-token" not in {v["name"] for v in deployment(local)["spec"]["template"]["spec"]["volumes"]}
    assert not [b for b in by_kind(local, "RoleBinding") if b["roleRef"]["name"] == "kubeflow-pipelines-edit"]
    explicit = render(chart, {**VALUE_SETS["kfp-with-secrets"], "kfp": {"roleBindings": {"namespaces": ["ml"]}}})
    assert [b["metadata"]["namespace"] for b in by_kind(explicit, "RoleBinding")
            if b["roleRef"]["name"] == "kubeflow-pipelines-edit"] == ["ml"]


def serving_runtime(docs: list[dict]) -> dict:
    (only,) = by_kind(docs, "ClusterServingRuntime")
    return only


@pytest.mark.parametrize("values", [{}, VALUE_SETS["kfp-with-secrets"], {"image": {"tag": "0.1.0-rc1"}}],
                         ids=["defaults", "digest", "tag"])
def test_the_serving_runtime_runs_the_operators_image_under_kserves_contract(chart, values):
    docs = render(chart, values)
    runtime = serving_runtime(docs)
    (operator,) = deployment(docs)["spec"]["template"]["spec"]["containers"]
    (server,) = runtime["spec"]["containers"]
    assert server["image"] == operator["image"]
    assert server["name"] == "kserve-container"
    assert server["command"] == ["mlcd", "serve"]
    assert server["args"][:3] == ["--model_name={{.Name}}", "--model_dir=/mnt/models", "--http_port=8080"]
    assert "--host=0.0.0.0" in server["args"]
    assert runtime["metadata"]["name"] == DEFAULT_RUNTIME
    assert runtime["spec"]["protocolVersions"] == ["v1", "v2"]
    assert [f["name"] for f in runtime["spec"]["supportedModelFormats"]] == ["sklearn"]
    # Like KServe's own sklearn runtime, in the same container shape.
    (kserves,) = load_all((KSERVE / "kserve-sklearnserver.yaml").read_text())[0]["spec"]["containers"]
    assert server["args"][:3] == kserves["args"]
    assert server["securityContext"] == kserves["securityContext"]
    assert server["resources"]["limits"]["memory"] == "1Gi"


def test_the_serving_runtime_can_be_left_out(chart):
    assert by_kind(render(chart, {"servingRuntime": {"enabled": False}}), "ClusterServingRuntime") == []


def test_the_sample_modeldeployments_inferenceservice_names_the_charts_runtime(chart):
    runtime = serving_runtime(render(chart, {}))
    (sample,) = load_all((ROOT / "manifests" / "samples" / "iris-modeldeployment.yaml").read_text())
    sample["metadata"].setdefault("namespace", "default")
    isvc = build_inferenceservice(sample, storage_uri=sample["spec"]["model"]["uri"], model_sha256="ab" * 32)
    assert isvc["spec"]["predictor"]["model"]["runtime"] == runtime["metadata"]["name"]
    assert isvc["spec"]["predictor"]["model"]["modelFormat"]["name"] in {
        f["name"] for f in runtime["spec"]["supportedModelFormats"]}
    assert isvc["spec"]["predictor"]["model"]["protocolVersion"] in runtime["spec"]["protocolVersions"]
    validate_custom(isvc, KSERVE / "serving.kserve.io_inferenceservices.yaml")
    validate_custom(runtime, KSERVE / "serving.kserve.io_clusterservingruntimes.yaml")


def test_caps_on_runs_in_flight_and_the_schedule_spread_reach_the_operator(chart):
    assert {k: v["value"] for k, v in operator_env(render(chart, {})).items() if "FLIGHT" in k or "SPREAD" in k} == {
        "MLCD_MAX_RUNS_IN_FLIGHT": "100", "MLCD_MAX_RUNS_IN_FLIGHT_PER_NAMESPACE": "20",
        "MLCD_SCHEDULE_SPREAD_SECONDS": "0"}
    values = {"operator": {"maxRunsInFlight": 0, "maxRunsInFlightPerNamespace": 5, "scheduleSpreadSeconds": 900}}
    env = operator_env(render(chart, values))
    assert [env[k]["value"] for k in ("MLCD_MAX_RUNS_IN_FLIGHT", "MLCD_MAX_RUNS_IN_FLIGHT_PER_NAMESPACE",
                                      "MLCD_SCHEDULE_SPREAD_SECONDS")] == ["0", "5", "900"]
    with pytest.raises(Exception, match="maxRunsInFlight"):
        render(chart, {"operator": {"maxRunsInFlight": -1}})
