"""Failures answered the way the API server answers them: a ``v1 Status`` body.

Clients branch on ``code`` and ``reason`` (kopf retries 5xx and 429, treats 422 as
a lost JSON-patch race; the official client raises ``ApiException`` with the body),
so both are spelled exactly as in ``k8s.io/apimachinery/pkg/api/errors``.
"""

from typing import Any

CONFLICT_MESSAGE = "the object has been modified; please apply your changes to the latest version and try again"


class StatusError(Exception):
    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details or {}
        self.headers = headers or {}

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def _details(qualified: str, name: str | None) -> dict[str, Any]:
    plural, _, group = qualified.partition(".")
    details: dict[str, Any] = {"group": group, "kind": plural}
    if name:
        details["name"] = name
    return details


def not_found(qualified: str, name: str) -> StatusError:
    return StatusError(404, "NotFound", f'{qualified} "{name}" not found', _details(qualified, name))


def no_such_resource() -> StatusError:
    return StatusError(404, "NotFound", "the server could not find the requested resource")


def already_exists(qualified: str, name: str) -> StatusError:
    return StatusError(409, "AlreadyExists", f'{qualified} "{name}" already exists', _details(qualified, name))


def conflict(qualified: str, name: str) -> StatusError:
    message = f'Operation cannot be fulfilled on {qualified} "{name}": {CONFLICT_MESSAGE}'
    return StatusError(409, "Conflict", message, _details(qualified, name))


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def unsupported_media_type(content_type: str) -> StatusError:
    message = (
        f"the body of the request was in an unknown format - accepted media types include: "
        f"application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml "
        f"(got {content_type})"
    )
    return StatusError(415, "UnsupportedMediaType", message)


def unknown_fields(kind: str, version: str, paths: list[str]) -> StatusError:
    """``fieldValidation=Strict`` and fields the schema does not know: the decoder's 400."""
    fields = ", ".join(f'unknown field "{path}"' for path in paths)
    message = f'{kind} in version "{version}" cannot be handled as a {kind}: strict decoding error: {fields}'
    return StatusError(400, "BadRequest", message)


def invalid(group_kind: str, name: str, causes: list[dict[str, str]]) -> StatusError:
    """422 Invalid; each cause is ``{'reason', 'message', 'field'}`` as in ``details.causes``."""
    texts = [f"{cause['field']}: {cause['message']}" for cause in causes]
    joined = texts[0] if len(texts) == 1 else f"[{', '.join(texts)}]"
    kind, _, group = group_kind.partition(".")
    details = {"name": name, "group": group, "kind": kind, "causes": causes}
    return StatusError(422, "Invalid", f'{group_kind} "{name}" is invalid: {joined}', details)


def patch_rejected(problem: str) -> StatusError:
    return StatusError(422, "Invalid", f"the server rejected our request due to an error in our request: {problem}")


def forbidden_finalizers(group_kind: str, name: str) -> StatusError:
    cause = {
        "reason": "FieldValueForbidden",
        "message": "Forbidden: no new finalizers can be added if the object is being deleted",
        "field": "metadata.finalizers",
    }
    return invalid(group_kind, name, [cause])


def injected(code: int, retry_after: int) -> StatusError:
    """A fault chosen by the test's fault plan, shaped like the real server's answer to overload."""
    if code == 429:
        message = "the server has received too many requests and has asked us to try again later"
        return StatusError(
            429,
            "TooManyRequests",
            message,
            {"retryAfterSeconds": retry_after},
            {"Retry-After": str(retry_after)},
        )
    if code == 409:
        return StatusError(409, "Conflict", f"Operation cannot be fulfilled: {CONFLICT_MESSAGE}")
    if code == 503:
        return StatusError(503, "ServiceUnavailable", "the server is currently unable to handle the request")
    if code == 422:  # as an admission webhook or a schema rule refuses an object: the same request never passes
        return StatusError(422, "Invalid", "the object is invalid: injected refusal")
    return StatusError(code, "InternalError", "Internal error occurred: injected fault")
