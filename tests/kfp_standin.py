"""A stand-in for the Kubeflow Pipelines API server: the v2beta1 run routes, in the swagger's shapes.

Every request body and every answer is checked against the swagger copied from KFP
(tests/fixtures/kfp/), so a test fails when mlcd sends or expects something KFP would not.
A submitted run really executes: its pipeline spec and runtime parameters go to mlcd's local
queue (KFP's local runner), which is as close to KFP's own execution as this machine gets.

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


def _schema(name: str) -> dict:
    swagger = json.loads(SWAGGER.read_text())
    return {"$ref": f"#/definitions/{name}", "definitions": swagger["definitions"]}


class KfpStandIn:
    def __init__(self, executor=None, secrets=None, home: Path | None = None):
        """executor: submit(run_name, ir, arguments, labels) and get(ref) -> RunState (mlcd's local queue).
        secrets: read(namespace, name) -> dict of the Secret's keys, or None when it does not exist; with
        it, each namespace's runs go to a local queue of their own under ``home``, whose worker has the
        Secrets the steps mount as its environment."""
        self.executor = executor
        self.secrets = secrets
        self.home = home
        self._executors: dict[str, object] = {}
        self._run_executor: dict[str, object] = {}
        self.runs: dict[str, dict] = {}
        self.requests: list[tuple[str, str, dict | None]] = []
        self.fail_next: list[int] = []  # status codes to answer the next requests with
        self.token_seen: list[str] = []
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self.run_schema = _schema("v2beta1Run")
        self.list_schema = _schema("v2beta1ListRunsResponse")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def start(self) -> KfpStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def created(self) -> list[dict]:
        return [body for method, path, body in self.requests if method == "POST" and path == "/apis/v2beta1/runs"]

    # -- the routes -----------------------------------------------------------------------------------
    def create(self, body: dict) -> dict:
        jsonschema.validate(body, self.run_schema)
        run_id = str(uuid.uuid4())
        run = {**body, "run_id": run_id, "state": "PENDING", "created_at": _now(), "storage_state": "AVAILABLE"}
        self.runs[run_id] = run
        executor = self.executor
        if self.secrets is not None:
            executor = self._executor_for(run)
        if executor is not None:
            self._run_executor[run_id] = executor
            executor.submit(run_id, body["pipeline_spec"], body["runtime_config"]["parameters"], {})
        return run

    def _executor_for(self, run: dict):
        """The queue of the run's namespace (from the labels mlcd puts in its description: KFP takes it from
        the run's experiment), with the Secrets its steps mount; None, with the run failed, when one is missing."""
        from mlcd.backends.queue import LocalQueueBackend

        namespace = json.loads(run.get("description") or "{}")["mlcd.io/namespace"]
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

    def list(self, query: dict) -> dict:
        runs = list(self.runs.values())
        if "filter" in query:
            for predicate in json.loads(query["filter"][0])["predicates"]:
                assert predicate["operation"] == "EQUALS", predicate
                runs = [r for r in runs if r.get(predicate["key"]) == predicate["string_value"]]
        return {"runs": runs, "total_size": len(runs)} if runs else {}

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # keep test output clean
                pass

            def _answer(self, code: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _route(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length)) if length else None
                with standin._lock:
                    standin.requests.append((method, parts.path, body))
                    standin.token_seen.append(self.headers.get("Authorization", ""))
                    if standin.fail_next:
                        code = standin.fail_next.pop(0)
                        return self._answer(code, {"code": 14, "message": "stand-in: injected failure"})
                    try:
                        code, answer = self._dispatch(method, parts.path, parse_qs(parts.query), body)
                    except jsonschema.ValidationError as exc:
                        code, answer = 400, {"code": 3, "message": f"invalid request: {exc.message}"}
                self._answer(code, answer)

            def _dispatch(self, method, path, query, body):
                if path == "/apis/v2beta1/runs" and method == "POST":
                    return 200, standin.create(body)
                if path == "/apis/v2beta1/runs" and method == "GET":
                    answer = standin.list(query)
                    jsonschema.validate(answer, standin.list_schema)
                    return 200, answer
                match = re.fullmatch(r"/apis/v2beta1/runs/([^/:]+)(:terminate)?", path)
                if match and match[1] in standin.runs:
                    run = standin.runs[match[1]]
                    if method == "POST" and match[2]:
                        run["state"] = "CANCELED"
                        return 200, {}
                    if method == "GET" and not match[2]:
                        answer = standin.refresh(run)
                        jsonschema.validate(answer, standin.run_schema)
                        return 200, answer
                return 404, {"code": 5, "message": f"no route or run for {method} {path}"}

            def do_GET(self):
                self._route("GET")

            def do_POST(self):
                self._route("POST")

        return Handler


def _mounted_secrets(document: dict) -> set[str]:
    platform = document.get("platform_spec") or {}
    executors = (((platform.get("platforms") or {}).get("kubernetes") or {}).get("deploymentSpec") or {}).get(
        "executors") or {}
    return {ref["secretName"] for config in executors.values() for ref in config.get("secretAsEnv") or []}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
