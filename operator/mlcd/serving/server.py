"""``mlcd serve``: one registered model behind KServe's own model server, protocols v1 and v2.

KServe's ModelServer brings the endpoints (``/v1/models/NAME:predict``, ``/v2/models/NAME/infer``,
health, readiness, model metadata) and ``/metrics``; mlcd brings a ``kserve.Model`` that checks every
request against the signature recorded at training. KServe 0.21's REST server always binds 0.0.0.0,
so the server is assembled here from KServe's parts with the host mlcd was given (127.0.0.1 unless
told otherwise), behind :class:`RequestGate`, which refuses oversized bodies before they are read.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import uuid
import warnings

from mlcd.serving.predictor import Predictor
from mlcd.serving.signature import InputError

log = logging.getLogger(__name__)

_DATATYPES = {"f": "FP64", "i": "INT64", "u": "UINT64", "b": "BOOL"}


@contextlib.contextmanager
def _argv_hidden():
    """kserve.model_server parses sys.argv when imported; mlcd's own options are none of its business
    (``--workers`` would even be taken as KServe's)."""
    saved = sys.argv
    sys.argv = saved[:1]
    try:
        yield
    finally:
        sys.argv = saved


def make_model(name: str, predictor: Predictor):
    """A ready ``kserve.Model`` serving ``predictor`` as ``name``."""
    with _argv_hidden():
        import kserve
        from kserve.errors import InvalidInput
        from kserve.protocol.infer_type import InferOutput, InferRequest, InferResponse

    class SklearnSignatureModel(kserve.Model):
        def __init__(self):
            super().__init__(name)
            self.ready = True

        def get_input_types(self) -> list[dict]:
            return [{"name": f.name, "datatype": "FP64" if f.numeric else "BYTES", "shape": [-1]}
                    for f in predictor.signature.features]

        def get_output_types(self) -> list[dict]:
            return [{"name": "output-0", "datatype": "FP64", "shape": [-1]}]

        def predict(self, payload, headers=None):
            v2 = isinstance(payload, InferRequest)
            try:
                if isinstance(payload, (bytes, str)):  # v1 sent without a JSON content type
                    payload = _json(payload)
                rows = (predictor.signature.rows_from_v2(payload.inputs) if v2
                        else predictor.signature.rows_from_v1(payload))
                result = predictor.predict(rows)
            except InputError as exc:
                log.warning("request refused model=%s protocol=%s reason=%r", name, "v2" if v2 else "v1", str(exc))
                raise InvalidInput(str(exc)) from None
            if not v2:
                return {"predictions": result.tolist()}
            output = InferOutput("output-0", list(result.shape), _datatype(result))
            output.set_data_from_numpy(result, binary_data=False)
            # Binary or JSON outputs, as the client asked (Open Inference Protocol's binary extension).
            return InferResponse(payload.id or str(uuid.uuid4()), name, [output],
                                 use_binary_outputs=payload.use_binary_outputs,
                                 requested_outputs=payload.request_outputs)

    return SklearnSignatureModel()


def _json(body: bytes | str):
    try:
        return json.loads(body)
    except ValueError as exc:
        raise InputError(f"the request body is not JSON: {exc}") from None


class _NoTracebackForBadRequests(logging.Filter):
    """KServe logs every refused request with a traceback at ERROR; a client's mistake is one warning
    line (logged where it is refused), not a server error for whoever is on call."""

    def filter(self, record: logging.LogRecord) -> bool:
        from kserve.errors import InvalidInput

        return not (record.exc_info and isinstance(record.exc_info[1], InvalidInput))


def _datatype(result) -> str:
    return _DATATYPES.get(result.dtype.kind, "BYTES")


class RequestGate:
    """ASGI middleware in front of KServe's app.

    A body larger than ``max_bytes`` is refused with 413 before it is read: by its Content-Length at once,
    or, sent in chunks, as soon as the count passes the limit. One worker parses requests on one event
    loop, so an unbounded body (60 MB of JSON) would hold up every small request behind it.

    A POST with no Content-Type and no binary-extension header is JSON: Open Inference Protocol clients
    (tritonclient's JSON mode) send none, and KServe would take the body for the binary extension and
    refuse it."""

    def __init__(self, app, max_bytes: int):
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT"):
            return await self.app(scope, receive, send)
        headers = dict(scope["headers"])
        if b"content-type" not in headers and b"inference-header-content-length" not in headers:
            scope = {**scope, "headers": [*scope["headers"], (b"content-type", b"application/json")]}
        length = headers.get(b"content-length")
        if length is not None:
            if not length.isdigit() or int(length) > self.max_bytes:
                return await self._refuse(send, length.decode(errors="replace"))
            return await self.app(scope, receive, send)  # the HTTP parser holds the body to its length
        body, more = [], True
        size = 0
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away
            size += len(message.get("body", b""))
            if size > self.max_bytes:
                return await self._refuse(send, f"more than {size}")
            body.append(message.get("body", b""))
            more = message.get("more_body", False)
        return await self.app(scope, _replay(b"".join(body)), send)

    async def _refuse(self, send, size: str) -> None:
        log.warning("request refused reason=too-large size=%s limit=%d", size, self.max_bytes)
        message = json.dumps({"error": f"request body of {size} bytes is over this server's limit of "
                                       f"{self.max_bytes} bytes (spec.serving.maxRequestBytes)"}).encode()
        await send({"type": "http.response.start", "status": 413,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(message)).encode()),
                                (b"connection", b"close")]})
        await send({"type": "http.response.body", "body": message})


def _replay(body: bytes):
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


def run_server(model, *, host: str, port: int, max_request_bytes: int) -> None:
    """Serve ``model`` over REST on host:port until SIGINT or SIGTERM (uvicorn handles both)."""
    with _argv_hidden():
        from kserve import ModelServer
        from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
        from kserve.model_server import app
        from kserve.protocol.rest.server import RESTServer

    server = ModelServer(http_port=port, enable_grpc=False, workers=1, enable_latency_logging=False)
    server.register_model(model)
    logging.getLogger("kserve").addFilter(_NoTracebackForBadRequests())
    # KServe 0.21 still answers through FastAPI's ORJSONResponse; the deprecation is KServe's to act on,
    # not something a user of `mlcd serve` can do anything about.
    warnings.filterwarnings("ignore", message="ORJSONResponse is deprecated", category=UserWarning)
    rest = RESTServer(FASTAPI_APP_IMPORT_STRING, server.dataplane, server.model_repository_extension, port,
                      workers=1, grace_period=5)
    rest.config.host = host  # KServe hard-codes 0.0.0.0 here
    rest.config.app = RequestGate(app, max_request_bytes)  # KServe's app, which rest.start() completes
    log.info("serving model=%s url=http://%s:%d/", model.name, host, port)
    asyncio.run(rest.start())
