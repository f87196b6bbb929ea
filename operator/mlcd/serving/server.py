"""``mlcd serve``: one registered model behind KServe's own model server, protocols v1 and v2.

KServe's ModelServer brings the endpoints (``/v1/models/NAME:predict``, ``/v2/models/NAME/infer``,
health, readiness, model metadata) and ``/metrics``; mlcd brings a ``kserve.Model`` that checks every
request against the signature recorded at training. KServe 0.21's REST server always binds 0.0.0.0,
so the server is assembled here from KServe's parts with the host mlcd was given (127.0.0.1 unless
told otherwise).
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
            return InferResponse(payload.id or str(uuid.uuid4()), name, [output])

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


def run_server(model, *, host: str, port: int) -> None:
    """Serve ``model`` over REST on host:port until SIGINT or SIGTERM (uvicorn handles both)."""
    with _argv_hidden():
        from kserve import ModelServer
        from kserve.constants.constants import FASTAPI_APP_IMPORT_STRING
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
    log.info("serving model=%s url=http://%s:%d/", model.name, host, port)
    asyncio.run(rest.start())
