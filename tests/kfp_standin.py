"""A stand-in for the Kubeflow Pipelines API server: the v2beta1 run routes, in the swagger's shapes.

Every request body and every answer is checked against the swagger copied from KFP
(tests/fixtures/kfp/), so a test fails when mlcd sends or expects something KFP would not.
A submitted run really executes: its pipeline spec and runtime parameters go to mlcd's local
queue (KFP's local runner), which is as close to KFP's own execution as this machine gets.
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
    def __init__(self, executor=None):
        """executor: submit(run_name, ir, arguments, labels) and get(ref) -> RunState (mlcd's local queue)."""
        self.executor = executor
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
        if self.executor is not None:
            self.executor.submit(run_id, body["pipeline_spec"], body["runtime_config"]["parameters"], {})
        return run

    def refresh(self, run: dict) -> dict:
        if self.executor is None or run["state"] in ("SUCCEEDED", "FAILED", "CANCELED"):
            return run
        from mlcd.backends.base import RunRef

        state = self.executor.get(RunRef(run["run_id"], run["run_id"]))
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


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
