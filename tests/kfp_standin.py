"""A stand-in for the Kubeflow Pipelines API server: the v2beta1 run and experiment routes, in the swagger's
shapes, and, with multi_user=True, the multi-user rules KFP's API server enforces.

Every request body and every answer is checked against the swagger copied from KFP
(tests/fixtures/kfp/), so a test fails when mlcd sends or expects something KFP would not.
A submitted run really executes: its pipeline spec and runtime parameters go to mlcd's local
queue (KFP's local runner), which is as close to KFP's own execution as this machine gets.

The multi-user rules and their messages are taken from KFP's source at the commit the swagger comes
from (github.com/kubeflow/pipelines @ 7b70c7b95f6832772efd6fd0029a4024491a0f44, backend/src/apiserver/):
- auth/auth.go, auth/authenticator_token_review.go, auth/util.go: the caller's identity comes from a
  `Bearer` token that a TokenReview accepts for the audience common.DefaultTokenReviewAudience
  (`pipelines.kubeflow.org`, common/const.go); anything else is Unauthenticated (HTTP 401).
- resource/resource_manager.go IsAuthorized: a SubjectAccessReview of the identity for
  (pipelines.kubeflow.org, v1beta1, runs|experiments, verb) in the namespace; refused is PermissionDenied (403).
  The verbs the ClusterRole kubeflow-pipelines-edit grants (it aggregates kubeflow-pipelines-view) are
  copied from manifests/kustomize/base/installs/multi-user/view-edit-cluster-roles.yaml.
- resource/resource_manager.go GetValidExperimentNamespacePair and CheckExperimentBelongsToNamespace,
  server/run_server.go createRun/listRuns/canAccessRun: a run needs an experiment_id and takes the
  experiment's namespace; ListRuns needs a namespace or an experiment (InvalidArgument, 400).
- server/experiment_server.go createExperiment/listExperiments/canAccessExperiment: experiments live in
  a namespace, which must not be empty in multi-user mode.
- Istio in front of KFP (manifests/kustomize/base/installs/multi-user/istio-authorization-config.yaml)
  denies a caller that sends a `kubeflow-userid` header with a plain-text 403 `RBAC: access denied`.
Errors are answered as grpc-gateway does: googleRpcStatus {code, message, details} with the HTTP status
of the gRPC code. In single-user mode (KFP's default) there is no auth and namespaces are ignored
(resource_manager.go ReplaceNamespace), and a run without an experiment goes to the default experiment.

Secrets the platform spec mounts into steps (kfp-kubernetes ``secretAsEnv``) are looked up in the
run's namespace, as KFP's driver does; a missing one fails the run, as a pod that cannot start does.
The local runner runs every step in one environment, so here every step gets the variables that KFP
gives only to the steps that mount the Secret (which steps those are is checked on the compiled spec).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jsonschema

SWAGGER = Path(__file__).parent / "fixtures" / "kfp" / "kfp_api_single_file.swagger.json"
AUDIENCE = "pipelines.kubeflow.org"  # common/const.go DefaultTokenReviewAudience
KUBERNETES_AUDIENCE = "https://kubernetes.default.svc.cluster.local"  # what a pod's default token carries
# kubeflow-pipelines-edit, with the rules it aggregates from kubeflow-pipelines-view (runs and experiments).
EDIT_VERBS = {
    "runs": {"archive", "create", "delete", "retry", "terminate", "unarchive", "reportMetrics", "readArtifact",
             "get", "list"},
    "experiments": {"archive", "create", "delete", "unarchive", "get", "list"},
}
HTTP_OF_GRPC = {3: 400, 5: 404, 6: 409, 7: 403, 13: 500, 14: 503, 16: 401}
INVALID, NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED, UNAUTHENTICATED = 3, 5, 6, 7, 16


def _schema(name: str) -> dict:
    swagger = json.loads(SWAGGER.read_text())
    return {"$ref": f"#/definitions/{name}", "definitions": swagger["definitions"]}


class KfpError(Exception):
    """A gRPC status, as KFP's util.UserError carries it: the code and the wrapped message chain."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def wrap(self, context: str) -> KfpError:  # util.Wrap / util.Wrapf: "context: cause"
        return KfpError(self.code, f"{context}: {self.message}")


class KfpStandIn:
    def __init__(self, executor=None, multi_user: bool = False, secrets=None, home: Path | None = None):
        """executor: submit(run_name, ir, arguments, labels) and get(ref) -> RunState (mlcd's local queue).
        secrets: read(namespace, name) -> dict of the Secret's keys, or None when it does not exist; with
        it, each namespace's runs go to a local queue of their own under ``home``, whose worker has the
        Secrets the steps mount as its environment."""
        self.executor = executor
        self.multi_user = multi_user
        self.secrets = secrets
        self.home = home
        self._executors: dict[str, object] = {}
        self._run_executor: dict[str, object] = {}
        self.runs: dict[str, dict] = {}
        self.experiments: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict | None]] = []
        self.headers_seen: list[dict[str, str]] = []  # lower-cased header names, one dict per request
        self.queries: list[dict[str, list[str]]] = []  # the query of each request
        self.fail_next: list[int] = []  # status codes to answer the next requests with
        self.token_seen: list[str] = []
        # What the TokenReview and SubjectAccessReview of the cluster would say.
        self.tokens: dict[str, tuple[str, list[str]]] = {}  # token -> (username, audiences)
        self.grants: dict[tuple[str, str], dict[str, set[str]]] = {}  # (username, namespace) -> resource -> verbs
        self.default_experiment_id = ""
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.run_schema = _schema("v2beta1Run")
        self.list_schema = _schema("v2beta1ListRunsResponse")
        self.experiment_schema = _schema("v2beta1Experiment")
        self.experiments_schema = _schema("v2beta1ListExperimentsResponse")
        self.status_schema = _schema("googleRpcStatus")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> KfpStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- the cluster's side of auth ---------------------------------------------------------------------
    def issue_token(self, token: str, username: str, audiences: tuple[str, ...] = (AUDIENCE,)) -> None:
        """A token the TokenReview accepts as `username`, carrying `audiences`."""
        self.tokens[token] = (username, list(audiences))

    def bind_edit(self, username: str, namespace: str, resources: tuple[str, ...] = ("runs", "experiments")) -> None:
        """A RoleBinding of `username` to kubeflow-pipelines-edit in `namespace` (or only some of its rules)."""
        granted = self.grants.setdefault((username, namespace), {})
        for resource in resources:
            granted.setdefault(resource, set()).update(EDIT_VERBS[resource])

    def created(self) -> list[dict]:
        return [body for method, path, body in self.requests if method == "POST" and path == "/apis/v2beta1/runs"]

    # -- auth/ and resource_manager.go IsAuthorized -----------------------------------------------------
    def identify(self, headers: dict[str, str]) -> str:
        """The identity behind the request, as the HTTP-header and TokenReview authenticators find it."""
        missing = "Request header error: there is no user identity header."
        errors = [f"Unauthenticated: {missing}: {missing}"]  # the kubeflow-userid authenticator (Istio denies it)
        value = headers.get("authorization")
        if value is None:
            errors.append(f"Unauthenticated: {missing}: {missing}")
        elif not value.startswith("Bearer "):
            errors.append("Header 'Authorization' is incorrectly formatted. Expected prefix 'Bearer '")
        else:
            found = self.tokens.get(value.removeprefix("Bearer "))
            if found is None:
                errors.append("Authentication failure: Unauthenticated: Review.Status.Authenticated is false. "
                              "Error [invalid bearer token]: Failed to authenticate token review")
            elif AUDIENCE not in found[1]:
                errors.append(f"Authentication failure: Unauthenticated: Failed to find all of '[{AUDIENCE}]' in "
                              f"audience: [{' '.join(found[1])}]: Failed to authenticate token review")
            else:
                return found[0]
        unique = list(dict.fromkeys(errors))  # k8s utilerrors.NewAggregate drops repeated messages
        listed = unique[0] if len(unique) == 1 else "[" + ", ".join(unique) + "]"
        raise KfpError(UNAUTHENTICATED, "Unauthenticated: Failed to check authorization. User identity is empty "
                                        f"in the request header: {listed}")

    def authorize(self, headers: dict[str, str], namespace: str, resource: str, verb: str, name: str = "") -> None:
        if not self.multi_user:
            return
        user = self.identify(headers)
        if verb in self.grants.get((user, namespace), {}).get(resource, set()):
            return
        attributes = (f"&ResourceAttributes{{Namespace:{namespace},Verb:{verb},Group:pipelines.kubeflow.org,"
                      f"Version:v1beta1,Resource:{resource},Subresource:,Name:{name},}}")
        raise KfpError(PERMISSION_DENIED, f"PermissionDenied: User '{user}' is not authorized with reason:  "
                                          f"(request: {attributes}): Unauthorized access")

    # -- server/experiment_server.go ---------------------------------------------------------------------
    def create_experiment(self, headers, body: dict) -> dict:
        jsonschema.validate(body, self.experiment_schema)
        namespace = body.get("namespace", "") if self.multi_user else ""
        try:
            self._can_access_experiment(headers, namespace, "create", body.get("display_name", ""))
        except KfpError as exc:
            raise exc.wrap("Failed to authorize the request").wrap("Failed to create a experiment") from None
        if any(e["display_name"] == body.get("display_name") and e.get("namespace", "") == namespace
               for e in self.experiments.values()):
            raise KfpError(ALREADY_EXISTS, "Failed to create a experiment: Failed to create a new experiment: "
                                           f"AlreadyExistError: Experiment {body['display_name']} already exists")
        return self._new_experiment(body["display_name"], namespace, body.get("description", ""))

    def _new_experiment(self, name: str, namespace: str, description: str = "") -> dict:
        experiment_id = str(uuid.uuid4())
        experiment = {"experiment_id": experiment_id, "display_name": name, "description": description,
                      "namespace": namespace, "created_at": _now(), "storage_state": "AVAILABLE"}
        self.experiments[experiment_id] = experiment
        return experiment

    def list_experiments(self, headers, query: dict) -> dict:
        namespace = _one(query, "namespace") if self.multi_user else ""
        try:
            self._can_access_experiment(headers, namespace, "list")
        except KfpError as exc:
            raise exc.wrap("Failed to authorize with API").wrap("List experiments failed") from None
        found = [e for e in self.experiments.values() if e.get("namespace", "") == namespace]
        found = _filtered(found, query)
        return {"experiments": found, "total_size": len(found)} if found else {}

    def get_experiment(self, headers, experiment_id: str) -> dict:
        experiment = self.experiments.get(experiment_id)
        if experiment is None:
            raise KfpError(NOT_FOUND, f"Failed to fetch experiment: Failed to get experiment {experiment_id}: "
                                      f"ResourceNotFoundError: Experiment {experiment_id} not found")
        try:
            self._can_access_experiment(headers, experiment["namespace"], "get", experiment["display_name"])
        except KfpError as exc:
            raise exc.wrap("Failed to authorize the request").wrap("Failed to fetch experiment") from None
        return experiment

    def _can_access_experiment(self, headers, namespace: str, verb: str, name: str = "") -> None:
        if not self.multi_user:
            return
        if namespace in ("", "-"):
            raise KfpError(INVALID, "Invalid input error: An experiment cannot have an empty namespace in "
                                    "multi-user mode")
        try:
            self.authorize(headers, namespace, "experiments", verb, name)
        except KfpError as exc:
            raise exc.wrap("Failed to authorize with API") from None

    # -- server/run_server.go ----------------------------------------------------------------------------
    def create(self, headers, body: dict, query: dict) -> dict:
        jsonschema.validate(body, self.run_schema)
        try:
            run = self._create_run(headers, body, query)
        except KfpError as exc:
            raise exc.wrap("Failed to create a new run") from None
        executor = self.executor if self.secrets is None else self._executor_for(self.runs[run["run_id"]])
        if executor is not None:
            self._run_executor[run["run_id"]] = executor
            executor.submit(run["run_id"], body["pipeline_spec"], body["runtime_config"]["parameters"], {})
        return run

    def _executor_for(self, run: dict):
        """The queue of the run's namespace (its experiment's in multi-user mode; in single-user mode, where
        KFP ignores namespaces, the one in the labels mlcd puts in the description), with the Secrets its
        steps mount; None, with the run failed, when one is missing."""
        from mlcd.backends.queue import LocalQueueBackend

        namespace = run["_namespace"] or json.loads(run.get("description") or "{}")["mlcd.io/namespace"]
        env = {}
        for name in sorted(_mounted_secrets(run["pipeline_spec"])):
            values = self.secrets(namespace, name)
            if values is None:
                run["state"], run["error"] = "FAILED", {"code": 5, "message": f"secret {name!r} not found"}
                return None
            env.update(values)
        if namespace not in self._executors:
            self._executors[namespace] = LocalQueueBackend(self.home / namespace, env=env)
        return self._executors[namespace]

    def _create_run(self, headers, body: dict, query: dict) -> dict:
        if not body.get("display_name"):
            raise KfpError(INVALID, "Failed to create a run due to invalid name: Invalid input error: The run name "
                                    "is empty. Please specify a valid name")
        experiment_id = body.get("experiment_id") or _one(query, "experiment_id")
        try:
            experiment_id, namespace = self._experiment_namespace_pair(experiment_id)
        except KfpError as exc:
            raise exc.wrap("Failed to create a run due to invalid experimentId and namespace combination") from None
        try:
            self._can_access_run(headers, namespace, "create")
        except KfpError as exc:
            raise exc.wrap("Failed to create a run due to authorization error. Check if you have write permissions "
                           f"to namespace {namespace}") from None
        run_id = str(uuid.uuid4())
        # resource_manager.go CreateRun keeps the workflow's ServiceAccount: the request's, else the server's
        # default (template/template.go setDefaultServiceAccount: DEFAULTPIPELINERUNNERSERVICEACCOUNT, which
        # multi-user Kubeflow's manifests set to default-editor; pipeline-runner otherwise).
        run = {**body, "run_id": run_id, "experiment_id": experiment_id, "state": "PENDING", "created_at": _now(),
               "storage_state": "AVAILABLE", "service_account": body.get("service_account") or
               ("default-editor" if self.multi_user else "pipeline-runner")}
        run["_namespace"] = namespace
        self.runs[run_id] = run
        return _public(run)

    def _experiment_namespace_pair(self, experiment_id: str) -> tuple[str, str]:
        """resource_manager.go GetValidExperimentNamespacePair (the run's own namespace field is v1 only)."""
        if self.multi_user and not experiment_id:
            raise KfpError(INVALID, "Invalid input error: Experiment id can not be empty in multi-user mode")
        if not experiment_id:
            if not self.default_experiment_id:
                self.default_experiment_id = self._new_experiment("Default", "")["experiment_id"]
            return self.default_experiment_id, ""
        experiment = self.experiments.get(experiment_id)
        if experiment is None:
            raise KfpError(NOT_FOUND, f"Failed to fetch namespace for experiment {experiment_id}: Failed to fetch "
                                      f"namespace from experiment {experiment_id}: Failed to get experiment "
                                      f"{experiment_id}: ResourceNotFoundError: Experiment {experiment_id} not found")
        return experiment_id, experiment["namespace"]

    def _can_access_run(self, headers, namespace: str, verb: str, run_id: str = "") -> None:
        if not self.multi_user:
            return
        if namespace in ("", "-"):
            raise KfpError(INVALID, "Invalid input error: A run cannot have an empty namespace in multi-user mode")
        try:
            self.authorize(headers, namespace, "runs", verb)
        except KfpError as exc:
            raise exc.wrap(f"Failed to access run {run_id}. Check if you have access to namespace "
                           f"{namespace}") from None

    def refresh(self, run: dict) -> dict:
        executor = self._run_executor.get(run["run_id"], self.executor)
        if executor is None or run["state"] in ("SUCCEEDED", "FAILED", "CANCELED"):
            return run
        from mlcd.backends.base import RunRef

        state = executor.get(RunRef(run["run_id"], run["run_id"]))
        run["state"] = state.state
        if state.state == "FAILED":
            run["error"] = {"code": 2, "message": state.message}
        if state.finished:
            run["finished_at"] = _now()
        return run

    def get(self, headers, run_id: str, verb: str = "get") -> dict:
        run = self.runs.get(run_id)
        if run is None:
            raise KfpError(NOT_FOUND, f"Failed to get a run: Failed to authorize the request: Failed to authorize with "
                                      f"the run ID {run_id}: Failed to get a run {run_id}: ResourceNotFoundError: "
                                      f"Run {run_id} not found")
        try:
            self._can_access_run(headers, run["_namespace"], verb, run_id)
        except KfpError as exc:
            raise exc.wrap("Failed to authorize the request").wrap("Failed to get a run") from None
        return run

    def list(self, headers, query: dict) -> dict:
        try:
            runs = self._list_runs(headers, query)
        except KfpError as exc:
            raise exc.wrap("Failed to list runs") from None
        runs = _filtered(runs, query)
        return {"runs": [_public(r) for r in runs], "total_size": len(runs)} if runs else {}

    def _list_runs(self, headers, query: dict) -> list[dict]:
        namespace = _one(query, "namespace") if self.multi_user else ""
        experiment_id = _one(query, "experiment_id")
        if experiment_id:
            if experiment_id not in self.experiments:
                raise KfpError(NOT_FOUND, f"Failed to list runs due to error fetching namespace for experiment "
                                          f"{experiment_id}. Try filtering based on namespace: Experiment "
                                          f"{experiment_id} not found")
            namespace = self.experiments[experiment_id]["namespace"]
        try:
            self._can_access_run(headers, namespace, "list")
        except KfpError as exc:
            raise exc.wrap("Failed to list runs due to authorization error. Check if you have permission to access "
                           f"namespace {namespace}") from None
        if experiment_id:
            return [r for r in self.runs.values() if r["experiment_id"] == experiment_id]
        if not self.multi_user:
            return list(self.runs.values())
        return [r for r in self.runs.values() if r["_namespace"] == namespace]

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _answer(self, code: int, body: dict | str) -> None:
                data = body.encode() if isinstance(body, str) else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                headers = {k.lower(): v for k, v in self.headers.items()}
                with standin._lock:
                    standin.requests.append((method, parts.path, body))
                    standin.headers_seen.append(headers)
                    standin.queries.append(parse_qs(parts.query))
                    standin.token_seen.append(self.headers.get("Authorization", ""))
                    if standin.fail_next:
                        code = standin.fail_next.pop(0)
                        return self._answer(code, {"code": 14, "message": "stand-in: injected failure"})
                    if standin.multi_user and "kubeflow-userid" in headers:
                        return self._answer(403, "RBAC: access denied")
                    try:
                        code, answer = self._dispatch(method, parts.path, parse_qs(parts.query), body, headers)
                    except jsonschema.ValidationError as exc:
                        code, answer = 400, {"code": INVALID, "message": f"invalid request: {exc.message}"}
                    except KfpError as exc:
                        code, answer = HTTP_OF_GRPC[exc.code], {"code": exc.code, "message": exc.message,
                                                                "details": []}
                        jsonschema.validate(answer, standin.status_schema)
                self._answer(code, answer)

            def _dispatch(self, method, path, query, body, headers):
                if path == "/apis/v2beta1/healthz" and method == "GET":
                    return 200, {"multi_user": standin.multi_user, "pipeline_store": "database"}
                if path == "/apis/v2beta1/experiments" and method == "POST":
                    return 200, standin.create_experiment(headers, body)
                if path == "/apis/v2beta1/experiments" and method == "GET":
                    answer = standin.list_experiments(headers, query)
                    jsonschema.validate(answer, standin.experiments_schema)
                    return 200, answer
                match = re.fullmatch(r"/apis/v2beta1/experiments/([^/:]+)", path)
                if match and method == "GET":
                    return 200, standin.get_experiment(headers, match[1])
                if path == "/apis/v2beta1/runs" and method == "POST":
                    return 200, standin.create(headers, body, query)
                if path == "/apis/v2beta1/runs" and method == "GET":
                    answer = standin.list(headers, query)
                    jsonschema.validate(answer, standin.list_schema)
                    return 200, answer
                match = re.fullmatch(r"/apis/v2beta1/runs/([^/:]+)(:terminate)?", path)
                if match and method == "POST" and match[2]:
                    try:
                        run = standin.get(headers, match[1], "terminate")
                    except KfpError as exc:
                        raise KfpError(exc.code, exc.message.replace("Failed to get a run", "Failed to terminate "
                                                                     "a run", 1)) from None
                    run["state"] = "CANCELED"
                    return 200, {}
                if match and method == "GET" and not match[2]:
                    answer = _public(standin.refresh(standin.get(headers, match[1])))
                    jsonschema.validate(answer, standin.run_schema)
                    return 200, answer
                return 404, {"code": NOT_FOUND, "message": f"no route for {method} {path}"}

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

        return Handler


def _one(query: dict, name: str) -> str:
    return (query.get(name) or [""])[0]


def _filtered(items: list[dict], query: dict) -> list[dict]:
    """A v2beta1 Filter of EQUALS predicates; protojson takes the operation by name or number, and the
    value as string_value or stringValue (kfp.Client sends the latter)."""
    if "filter" not in query:
        return items
    for predicate in json.loads(query["filter"][0])["predicates"]:
        assert predicate["operation"] in ("EQUALS", 1), predicate
        value = predicate.get("string_value", predicate.get("stringValue"))
        items = [i for i in items if i.get(predicate["key"]) == value]
    return items


def _mounted_secrets(document: dict) -> set[str]:
    platform = document.get("platform_spec") or {}
    executors = (((platform.get("platforms") or {}).get("kubernetes") or {}).get("deploymentSpec") or {}).get(
        "executors") or {}
    return {ref["secretName"] for config in executors.values() for ref in config.get("secretAsEnv") or []}


def _public(run: dict) -> dict:
    return {k: v for k, v in run.items() if not k.startswith("_")}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
