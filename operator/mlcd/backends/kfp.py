"""The `kfp` backend: Kubeflow Pipelines' v2beta1 API through KFP's own generated client (kfp_server_api).

Multi-user KFP, as its API server checks it (backend/src/apiserver/ in KFP's source):
- the bearer token is a projected ServiceAccount token with audience `pipelines.kubeflow.org`, read
  by KFP's `ServiceAccountTokenVolumeCredentials` from $KF_PIPELINES_SA_TOKEN_PATH or
  /var/run/secrets/kubeflow/pipelines/token before every request, so a rotated token is used at
  once; MLCD_KFP_TOKEN overrides it. No `kubeflow-userid` header, ever: Istio denies in-cluster
  callers that send one. With no token file and no override nothing is sent (single-user KFP).
- every run carries the experiment_id of the experiment named `experiment_name` in the TrainingRun's
  namespace (got or created once per namespace), and KFP gives the run that experiment's namespace;
  lookups list that experiment's runs only.
Single-user KFP ignores namespaces: the experiment is then one shared by every namespace.

Runs are found by their display name, which mlcd derives from the TrainingRun, so a retry
or a restart adopts the run it submitted before instead of starting another. Tokens are never logged.
Why not kfp.Client itself: see "Kubeflow Pipelines client" in the README's design notes.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from pathlib import Path

import kfp_server_api
import urllib3
from kfp.client import KF_PIPELINES_SA_TOKEN_ENV, KF_PIPELINES_SA_TOKEN_PATH
from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

from mlcd.backends.base import AccessDenied, BackendError, BackendUnavailable, Placement, RunRef, RunState

log = logging.getLogger(__name__)
AUDIENCE = "pipelines.kubeflow.org"  # KFP's DefaultTokenReviewAudience (backend/src/apiserver/common/const.go)
DEFAULT_EXPERIMENT = "mlcd"


def token_path() -> Path:
    """Where KFP's SDK looks for the projected token: $KF_PIPELINES_SA_TOKEN_PATH, else its standard path."""
    return Path(os.environ.get(KF_PIPELINES_SA_TOKEN_ENV) or KF_PIPELINES_SA_TOKEN_PATH)


class KfpBackend:
    name = "kfp"

    def __init__(self, host: str, experiment_name: str = DEFAULT_EXPERIMENT, service_account: str = "",
                 ui_url: str = "", timeout: float = 10.0):
        """service_account: the runs' ServiceAccount when a TrainingRun names none (empty: KFP's default,
        default-editor in multi-user Kubeflow). ui_url: where the KFP UI is, for run links (default: host)."""
        if not host:
            raise BackendError("the kfp backend needs a host: --kfp-host or MLCD_KFP_HOST")
        self.host = host.rstrip("/")
        self.ui_url = (ui_url or host).rstrip("/")
        self.experiment_name = experiment_name or DEFAULT_EXPERIMENT
        self.service_account = service_account
        self.timeout = timeout
        self.token_path = token_path()
        config = kfp_server_api.Configuration(host=self.host)
        config.retries = urllib3.Retry(total=1, redirect=0)  # the operator retries with backoff itself
        override = os.environ.get("MLCD_KFP_TOKEN", "")
        if override:
            self.token_source = "MLCD_KFP_TOKEN"
            config.api_key["authorization"] = override
        elif self.token_path.exists():
            self.token_source = str(self.token_path)
            config.api_key["authorization"] = "placeholder"  # the hook runs only when the key is present
            config.refresh_api_key_hook = _reader(ServiceAccountTokenVolumeCredentials(str(self.token_path)))
        else:
            self.token_source = ""
        config.api_key_prefix["authorization"] = "Bearer"
        client = kfp_server_api.ApiClient(config)
        self.runs = kfp_server_api.RunServiceApi(client)
        self.experiments = kfp_server_api.ExperimentServiceApi(client)
        self._experiment_ids: dict[str, str] = {}
        self._experiment_lock = threading.Lock()
        self._namespace_locks: dict[str, threading.Lock] = {}
        log.info("kfp backend host=%s token=%s experiment=%s", self.host, self.token_source or "none",
                 self.experiment_name)

    def run_url(self, run_id: str) -> str:
        return f"{self.ui_url}/#/runs/details/{run_id}"

    def _call(self, what: str, where: str, method, **kwargs):
        """One API call; KFP's refusals become AccessDenied (401/403), BackendUnavailable or BackendError."""
        try:
            return method(**kwargs, _request_timeout=self.timeout)
        except kfp_server_api.ApiException as exc:
            if exc.status == 0 or exc.status == 429 or (exc.status or 0) >= 500:
                raise BackendUnavailable(f"KFP API answered {exc.status} to {what}") from None
            text = _message(exc.body)
            if exc.status == 401:
                raise AccessDenied(self._unauthenticated(what, text)) from None
            if exc.status == 403:
                raise AccessDenied(_forbidden(what, where, text)) from None
            if exc.status == 404:
                raise _NotFound(f"KFP API refused to {what}: {exc.status} {text}") from None
            raise BackendError(f"KFP API refused to {what}: {exc.status} {text}") from None
        except urllib3.exceptions.HTTPError as exc:
            raise BackendUnavailable(f"KFP API at {self.host} is unreachable: {type(exc).__name__}") from None
        except _TokenUnreadable as exc:  # the token file went away between requests
            raise AccessDenied(f"cannot read the KFP token file {self.token_path} ({exc}): mount a "
                               f"projected ServiceAccount token with audience {AUDIENCE} there") from None

    def _unauthenticated(self, what: str, text: str) -> str:
        said = f" (KFP said: {_cause(text)})" if text else ""
        if not self.token_source:
            return (f"KFP refused to {what} without a token (401): {self.token_path} does not exist; mount a "
                    f"projected ServiceAccount token with audience {AUDIENCE} there or set "
                    f"{KF_PIPELINES_SA_TOKEN_ENV}{said}")
        return (f"KFP did not accept the token from {self.token_source} to {what} (401): it must be a "
                f"ServiceAccount token with audience {AUDIENCE}{said}")

    def experiment_id(self, namespace: str) -> str:
        """The id of the experiment named experiment_name in `namespace`, created when missing. One lock per
        namespace: a namespace whose calls hang does not hold up another's."""
        with self._experiment_lock:
            lock = self._namespace_locks.setdefault(namespace, threading.Lock())
        with lock:
            if namespace not in self._experiment_ids:
                self._experiment_ids[namespace] = self._get_or_create_experiment(namespace)
            return self._experiment_ids[namespace]

    def _find_experiment(self, namespace: str) -> str | None:
        found = self._call(f"list experiments in namespace {namespace}", namespace,
                           self.experiments.experiment_service_list_experiments, namespace=namespace,
                           filter=_name_filter(self.experiment_name), page_size=2)
        matching = [e for e in found.experiments or [] if e.display_name == self.experiment_name]
        return matching[0].experiment_id if matching else None

    def _get_or_create_experiment(self, namespace: str) -> str:
        found = self._find_experiment(namespace)
        if found:
            return found
        experiment = kfp_server_api.V2beta1Experiment(
            display_name=self.experiment_name, namespace=namespace,
            description="Pipeline runs of mlcd TrainingRuns in this namespace")
        try:
            created = self._call(f"create experiment {self.experiment_name} in namespace {namespace}", namespace,
                                 self.experiments.experiment_service_create_experiment, experiment=experiment)
        except BackendError:
            found = self._find_experiment(namespace)  # made meanwhile by someone else (409)
            if found:
                return found
            raise
        log.info("experiment created backend=kfp namespace=%s experiment=%s id=%s", namespace,
                 self.experiment_name, created.experiment_id)
        return created.experiment_id

    def _experiment_gone(self, namespace: str, exc: _NotFound) -> BackendUnavailable:
        """Someone deleted the experiment: forget it, so that the next attempt makes it again."""
        self._experiment_ids.pop(namespace, None)
        return BackendUnavailable(f"the experiment {self.experiment_name} of namespace {namespace} is gone; it is "
                                  f"made again on the next attempt ({exc})")

    def find(self, run_name: str, place: Placement | None = None) -> RunRef | None:
        namespace = place.namespace if place else ""
        experiment_id = self.experiment_id(namespace)
        try:
            found = self._call(f"list runs in namespace {namespace}", namespace, self.runs.run_service_list_runs,
                               experiment_id=experiment_id, filter=_name_filter(run_name), page_size=2)
        except _NotFound as exc:
            raise self._experiment_gone(namespace, exc) from None
        matching = [r for r in found.runs or [] if r.display_name == run_name]
        if not matching:
            return None
        run_id = matching[0].run_id
        return RunRef(run_name, run_id, self.run_url(run_id), adopted=True)

    def submit(self, run_name: str, document: dict, arguments: dict, labels: dict,
               place: Placement | None = None) -> RunRef:
        namespace = place.namespace if place else ""
        run = kfp_server_api.V2beta1Run(
            display_name=run_name, description=json.dumps(labels, sort_keys=True),
            experiment_id=self.experiment_id(namespace), pipeline_spec=document,
            runtime_config=kfp_server_api.V2beta1RuntimeConfig(parameters=arguments),
            service_account=(place.service_account if place else "") or self.service_account or None)
        try:
            created = self._call(f"create runs in namespace {namespace}", namespace,
                                 self.runs.run_service_create_run, run=run)
        except _NotFound as exc:
            raise self._experiment_gone(namespace, exc) from None
        if not created.run_id:
            raise BackendError("KFP API accepted the run but returned no run_id")
        log.info("run submitted backend=kfp namespace=%s run=%s run_id=%s", namespace, run_name, created.run_id)
        return RunRef(run_name, created.run_id, self.run_url(created.run_id))

    def get(self, ref: RunRef) -> RunState:
        run = self._call(f"get run {ref.name}", "", self.runs.run_service_get_run, run_id=ref.run_id)
        error = run.error
        message = (error.message or "") if error is not None else ""
        return RunState(ref.run_id, run.state or "PENDING", message)

    def stop(self, ref: RunRef) -> None:
        self._call(f"terminate run {ref.name}", "", self.runs.run_service_terminate_run, run_id=ref.run_id)


class _NotFound(BackendError):
    """KFP answered 404."""


class _TokenUnreadable(Exception):
    """The token file could not be read before a request."""


def _reader(credentials: ServiceAccountTokenVolumeCredentials):
    """KFP's hook, which reads the file before every request, with its failure told apart from the network's."""

    def refresh(config) -> None:
        try:
            credentials.refresh_api_key_hook(config)
        except OSError as exc:
            raise _TokenUnreadable(exc.strerror or type(exc).__name__) from None

    return refresh


def _name_filter(name: str) -> str:
    return json.dumps({"predicates": [{"key": "display_name", "operation": "EQUALS", "string_value": name}]})


def _forbidden(what: str, namespace: str, text: str) -> str:
    if text == "RBAC: access denied":  # Istio's answer, not KFP's
        return f"Istio in front of KFP denied the request to {what} (403 RBAC: access denied)"
    where = f" in namespace {namespace}" if namespace else ""
    return (f"KFP refused to {what} (403): the operator's ServiceAccount needs a RoleBinding to ClusterRole "
            f"kubeflow-pipelines-edit{where} (KFP said: {_cause(text)})")


def _cause(text: str) -> str:
    """The root of KFP's wrapped message chain ("context: context: cause"), where it says what it checked."""
    marks = [text.rfind(mark) for mark in ("User '", "Failed to find all of", "Review.Status", "there is no user")]
    start = max(marks)
    return (text[start:] if start >= 0 else text)[:300]


def _message(body) -> str:
    if not body:
        return ""
    text = body.decode(errors="replace") if isinstance(body, bytes) else str(body)
    try:
        decoded = json.loads(text)
    except ValueError:
        return text[:300]
    return str(decoded.get("message") or decoded.get("error") or decoded) if isinstance(decoded, dict) else text
