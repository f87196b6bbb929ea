import pytest

from mlcd.storage import StorageError
from mlcd.storage.s3 import client_from_env, parse_bool, parse_endpoint, settings_from_env


@pytest.mark.parametrize(
    ("value", "endpoint", "secure"),
    [
        ("minio.kubeflow:9000", "minio.kubeflow:9000", True),
        ("http://minio.kubeflow:9000", "minio.kubeflow:9000", False),
        ("https://s3.eu-west-1.amazonaws.com", "s3.eu-west-1.amazonaws.com", True),
        ("HTTP://127.0.0.1:8333/", "127.0.0.1:8333", False),
    ],
)
def test_parse_endpoint(value, endpoint, secure):
    assert parse_endpoint(value) == (endpoint, secure)


@pytest.mark.parametrize("value", ["ftp://host:21", "http://", "http://host:1/bucket", "http://me:pw@host:1"])
def test_parse_endpoint_refuses_what_is_not_a_host_and_port(value):
    with pytest.raises(ValueError, match="MLCD_S3_ENDPOINT"):
        parse_endpoint(value)


def test_settings_come_from_the_environment_only():
    settings = settings_from_env(
        {
            "MLCD_S3_ENDPOINT": "http://minio:9000",
            "AWS_ACCESS_KEY_ID": "access",
            "AWS_SECRET_ACCESS_KEY": "s3cr3t-value",
            "AWS_REGION": "eu-west-1",
        }
    )
    assert (settings.endpoint, settings.secure, settings.region) == ("minio:9000", False, "eu-west-1")
    assert (settings.access_key, settings.secret_key, settings.session_token) == (
        "access",
        "s3cr3t-value",
        None,
    )
    assert "s3cr3t-value" not in repr(settings)


def test_defaults_and_the_secure_override():
    assert settings_from_env({}).endpoint == "s3.amazonaws.com"
    assert settings_from_env({}).secure is True
    assert settings_from_env({}).access_key is None
    assert settings_from_env({"MLCD_S3_ENDPOINT": "minio:9000", "MLCD_S3_SECURE": "false"}).secure is False
    assert settings_from_env({"MLCD_S3_ENDPOINT": "http://minio:9000", "MLCD_S3_SECURE": "1"}).secure is True


@pytest.mark.parametrize(
    ("environ", "problem"),
    [
        ({"AWS_ACCESS_KEY_ID": "a"}, "must be set together"),
        ({"AWS_SECRET_ACCESS_KEY": "hidden-value"}, "must be set together"),
        ({"MLCD_S3_SECURE": "maybe"}, "MLCD_S3_SECURE must be true or false"),
    ],
)
def test_bad_settings_are_refused_without_quoting_a_secret(environ, problem):
    with pytest.raises(ValueError, match=problem) as caught:
        settings_from_env(environ)
    assert "hidden-value" not in str(caught.value)


def test_parse_bool():
    assert [parse_bool(v, "X") for v in ("true", "YES", "1", "on", "false", "No", "0", "off")] == [
        True
    ] * 4 + [False] * 4


def test_client_errors_name_the_uri(monkeypatch):
    monkeypatch.setenv("MLCD_S3_ENDPOINT", "ftp://nowhere")
    with pytest.raises(StorageError, match=r"^s3://models/iris: S3 settings: MLCD_S3_ENDPOINT must be"):
        client_from_env("s3://models/iris")


@pytest.mark.parametrize("value", ["ftp://me:hunter2-pw@host:21", "s3://me:hunter2-pw@host", "http://:hunter2-pw@host:1",
                                   "me:hunter2-pw@host:9000"])
def test_a_malformed_endpoint_with_credentials_is_refused_without_echoing_them(value):
    with pytest.raises(ValueError, match="MLCD_S3_ENDPOINT") as refused:
        parse_endpoint(value)
    assert "hunter2-pw" not in str(refused.value)
    with pytest.raises(StorageError) as wrapped:
        client_from_env("s3://bucket/key", {"MLCD_S3_ENDPOINT": value})
    assert "hunter2-pw" not in str(wrapped.value) and "MLCD_S3_ENDPOINT" in str(wrapped.value)
