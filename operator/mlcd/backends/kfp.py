"""The `kfp` backend: Kubeflow Pipelines' v2beta1 REST API (routes and shapes as in its swagger).

Runs are found by their display name, which mlcd derives from the TrainingRun, so a retry
or a restart adopts the run it submitted before instead of starting another. The token comes
from MLCD_KFP_TOKEN or the pod's service account, never from a spec, and is never logged.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import requests

from mlcd.backends.base import BackendError, BackendUnavailable, RunRef, RunState

log = logging.getLogger(__name__)
SA_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


def _token() -> str:
    token = os.environ.get("MLCD_KFP_TOKEN", "")
    if not token and SA_TOKEN.exists():
        token = SA_TOKEN.read_text().strip()
    return token


class KfpBackend:
    name = "kfp"

    def __init__(self, host: str, namespace: str = "", experiment_id: str = "", timeout: float = 10.0):
        if not host:
            raise BackendError("the kfp backend needs a host: --kfp-host or MLCD_KFP_HOST")
        self.host = host.rstrip("/")
        self.namespace = namespace
        self.experiment_id = experiment_id
        self.timeout = timeout
        self.session = requests.Session()

    def _request(self, method: str, path: str, **kwargs) -> dict:
        headers = {"Accept": "application/json"}
        token = _token()
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = f"{self.host}/apis/v2beta1{path}"
        try:
            response = self.session.request(method, url, headers=headers, timeout=self.timeout, **kwargs)
        except requests.RequestException as exc:
            raise BackendUnavailable(f"KFP API at {self.host} is unreachable: {type(exc).__name__}") from None
        if response.status_code >= 500 or response.status_code == 429:
            raise BackendUnavailable(f"KFP API answered {response.status_code} to {method} {path}")
        if response.status_code >= 400:
            raise BackendError(f"KFP API refused {method} {path}: {response.status_code} {_message(response)}")
        return response.json() if response.content else {}

    def run_url(self, run_id: str) -> str:
        return f"{self.host}/#/runs/details/{run_id}"

    def find(self, run_name: str) -> RunRef | None:
        predicate = {"key": "display_name", "operation": "EQUALS", "string_value": run_name}
        params = {"filter": json.dumps({"predicates": [predicate]}), "page_size": 2}
        if self.namespace:
            params["namespace"] = self.namespace
        runs = self._request("GET", "/runs", params=params).get("runs", [])
        matching = [r for r in runs if r.get("display_name") == run_name]
        if not matching:
            return None
        run_id = matching[0]["run_id"]
        return RunRef(run_name, run_id, self.run_url(run_id), adopted=True)

    def submit(self, run_name: str, document: dict, arguments: dict, labels: dict) -> RunRef:
        body = {
            "display_name": run_name,
            "description": json.dumps(labels, sort_keys=True),
            "pipeline_spec": document,
            "runtime_config": {"parameters": arguments},
        }
        if self.experiment_id:
            body["experiment_id"] = self.experiment_id
        run = self._request("POST", "/runs", json=body)
        run_id = run.get("run_id") or ""
        if not run_id:
            raise BackendError("KFP API accepted the run but returned no run_id")
        log.info("run submitted backend=kfp run=%s run_id=%s", run_name, run_id)
        return RunRef(run_name, run_id, self.run_url(run_id))

    def get(self, ref: RunRef) -> RunState:
        run = self._request("GET", f"/runs/{ref.run_id}")
        state = run.get("state") or "PENDING"
        error = run.get("error") or {}
        message = error.get("message", "") if isinstance(error, dict) else str(error)
        return RunState(ref.run_id, state, message)

    def stop(self, ref: RunRef) -> None:
        self._request("POST", f"/runs/{ref.run_id}:terminate")


def _message(response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("message") or body.get("error") or body)[:200]
