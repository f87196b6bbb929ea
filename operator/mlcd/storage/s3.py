"""The one place that reads S3 settings and credentials: a Secret's keys, never a spec.

A pipeline step and the CLI take them from their environment (in a cluster, the namespace's Secret
mounted as variables); the operator passes the namespace's Secret as a mapping. Credentials are handed
to the minio client and nowhere else: they are not logged, not put into metadata, not quoted in any error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import certifi
import urllib3

from mlcd.storage.errors import StorageError

if TYPE_CHECKING:  # minio is imported where it is used: the operator imports it only once it touches S3
    from minio import Minio
    from minio.error import S3Error

log = logging.getLogger(__name__)

ENDPOINT = "MLCD_S3_ENDPOINT"
SECURE = "MLCD_S3_SECURE"
ACCESS_KEY = "AWS_ACCESS_KEY_ID"
SECRET_KEY = "AWS_SECRET_ACCESS_KEY"
SESSION_TOKEN = "AWS_SESSION_TOKEN"
REGION = "AWS_REGION"
DEFAULT_ENDPOINT = "s3.amazonaws.com"

# An endpoint that does not answer fails in seconds, not after minio's default 5-minute timeouts:
# four connection attempts, 0 + 0.5 + 1 + 2 s apart, each given 5 s to connect.
CONNECT_ATTEMPTS = 4
_RETRY = urllib3.Retry(
    total=CONNECT_ATTEMPTS,
    connect=CONNECT_ATTEMPTS - 1,
    read=2,
    status=2,
    backoff_factor=0.25,
    status_forcelist=(500, 502, 503, 504),
    # The last 5xx answer reaches minio, which turns it into an S3Error with the server's own code.
    raise_on_status=False,
)
_TIMEOUT = urllib3.Timeout(connect=5, read=120)

_ACCESS_ERRORS = {
    "AccessDenied",
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "InvalidToken",
    "ExpiredToken",
    "AllAccessDisabled",
}
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://|)[^/@]*@")
_MISSING_OBJECT = {"NoSuchKey", "NoSuchVersion", "ResourceNotFound"}


@dataclass(frozen=True)
class S3Settings:
    endpoint: str  # host[:port]
    secure: bool
    region: str | None = None
    access_key: str | None = field(default=None, repr=False)
    secret_key: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)


def settings_from_env(environ: Mapping[str, str] | None = None) -> S3Settings:
    """Raises ValueError naming the variable that is wrong (never its value when it is a credential)."""
    env = os.environ if environ is None else environ
    endpoint, secure = parse_endpoint(env.get(ENDPOINT, "").strip() or DEFAULT_ENDPOINT)
    if env.get(SECURE, "").strip():
        secure = parse_bool(env[SECURE], SECURE)
    access_key, secret_key = env.get(ACCESS_KEY) or None, env.get(SECRET_KEY) or None
    if bool(access_key) != bool(secret_key):
        raise ValueError(f"{ACCESS_KEY} and {SECRET_KEY} must be set together")
    return S3Settings(
        endpoint=endpoint,
        secure=secure,
        region=env.get(REGION) or None,
        access_key=access_key,
        secret_key=secret_key,
        session_token=env.get(SESSION_TOKEN) or None,
    )


def parse_endpoint(value: str) -> tuple[str, bool]:
    """``host:port`` (TLS by default) or ``http(s)://host:port`` -> (host:port, secure)."""
    if "://" not in value:
        value, default_secure = f"https://{value}", True
    else:
        default_secure = value.lower().startswith("https://")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{ENDPOINT} must be host:port or http(s)://host:port, not {redact(value)!r}")
    if parts.path.strip("/") or parts.query or "@" in parts.netloc:
        raise ValueError(f"{ENDPOINT} must name only a host and port, without a path, query or user")
    return parts.netloc, default_secure


def redact(url: str) -> str:
    """``url`` without the user and password a careless endpoint may carry (``scheme://user:pass@host``)."""
    return _USERINFO.sub(r"\g<1>***@", url)


def parse_bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{name} must be true or false, not {value!r}")


@dataclass(frozen=True)
class S3Client:
    """A minio client and the endpoint it talks to, which errors name."""

    minio: Minio
    endpoint: str

    @contextlib.contextmanager
    def errors(self, uri: str) -> Iterator[None]:
        """Turns what minio and urllib3 raise into a StorageError that says, in mlcd's words, what went
        wrong with ``uri``. ``from None``: the originals quote request details that have no place in a
        run's status."""
        from minio.error import MinioException, S3Error

        try:
            yield
        except S3Error as exc:
            raise StorageError(uri, _describe(exc)) from None
        except urllib3.exceptions.HTTPError as exc:
            log.warning(
                "s3 endpoint unreachable uri=%s endpoint=%s error=%s", uri, self.endpoint, _reason(exc)
            )
            problem = f"S3 endpoint {self.endpoint} is unreachable ({_reason(exc)})"
            raise StorageError(uri, f"{problem} after {CONNECT_ATTEMPTS} attempts") from None
        except MinioException as exc:
            raise StorageError(uri, f"S3 request failed: {type(exc).__name__}") from None


def client_from_env(uri: str, environ: Mapping[str, str] | None = None) -> S3Client:
    """A client for ``uri``; the URI only serves to name what failed."""
    try:
        settings = settings_from_env(environ)
    except ValueError as exc:
        raise StorageError(uri, f"S3 settings: {exc}") from None
    log.debug(
        "s3 client endpoint=%s secure=%s region=%s", settings.endpoint, settings.secure, settings.region
    )
    http = urllib3.PoolManager(
        timeout=_TIMEOUT,
        retries=_RETRY,
        maxsize=10,
        cert_reqs="CERT_REQUIRED",
        ca_certs=os.environ.get("SSL_CERT_FILE") or certifi.where(),
    )
    from minio import Minio

    minio = Minio(
        settings.endpoint,
        access_key=settings.access_key,
        secret_key=settings.secret_key,
        session_token=settings.session_token,
        secure=settings.secure,
        region=settings.region,
        http_client=http,
    )
    return S3Client(minio, settings.endpoint)


def s3_error() -> type[Exception]:
    """minio's S3Error (for an ``except``), imported when first needed."""
    from minio.error import S3Error

    return S3Error


def _describe(exc: S3Error) -> str:
    if exc.code == "NoSuchBucket":
        return f"bucket {exc.bucket_name!r} does not exist"
    if exc.code in _MISSING_OBJECT:
        return "no such object"
    if exc.code in _ACCESS_ERRORS:
        return (
            f"access denied ({exc.code}): check the credentials in {ACCESS_KEY} / {SECRET_KEY} "
            "and their permissions on this bucket"
        )
    return f"S3 error {exc.code}: {exc.message}"


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    if isinstance(reason, urllib3.exceptions.NewConnectionError):
        return "connection refused or no route"
    if isinstance(reason, urllib3.exceptions.TimeoutError):
        return "timed out"
    if isinstance(reason, urllib3.exceptions.SSLError):
        return "TLS handshake failed; is MLCD_S3_SECURE right?"
    return type(reason).__name__
