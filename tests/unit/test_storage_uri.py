import pytest

from mlcd.storage import StorageError, resolve_model_dir
from mlcd.storage.uri import join, parse_uri, split_version_uri


@pytest.mark.parametrize(
    ("uri", "scheme", "bucket", "path"),
    [
        ("builtin://iris", "builtin", "", "iris"),
        ("file:///data/iris.csv", "file", "", "/data/iris.csv"),
        ("file://localhost/data/my%20file.csv", "file", "", "/data/my file.csv"),
        ("file:///models/iris/", "file", "", "/models/iris"),
        ("s3://data/iris/latest.csv", "s3", "data", "iris/latest.csv"),
        ("s3://models/iris/", "s3", "models", "iris"),
        ("s3://models", "s3", "models", ""),
    ],
)
def test_parse_uri(uri, scheme, bucket, path):
    location = parse_uri(uri)
    assert (location.uri, location.scheme, location.bucket, location.path) == (uri, scheme, bucket, path)


@pytest.mark.parametrize(
    ("uri", "problem"),
    [
        ("gs://data/x.csv", "unsupported scheme 'gs'"),
        ("/data/x.csv", "unsupported scheme ''"),
        ("file://data/x.csv", "file:///PATH"),
        ("s3://Bad_Bucket/x.csv", "'Bad_Bucket' is not a valid bucket name"),
        ("s3://data/x.csv?versionId=3", "no query string"),
    ],
)
def test_parse_uri_errors_name_the_uri(uri, problem):
    with pytest.raises(StorageError, match=problem) as caught:
        parse_uri(uri)
    assert str(caught.value).startswith(f"{uri}: ")
    assert caught.value.uri == uri


def test_version_uris():
    assert split_version_uri("s3://models/iris/v3") == ("s3://models/iris", 3)
    assert split_version_uri("file:///home/me/.mlcd/registry/iris/v12/") == (
        "file:///home/me/.mlcd/registry/iris",
        12,
    )
    assert join("s3://models/iris/", "v3", "model.joblib") == "s3://models/iris/v3/model.joblib"
    for uri in ("s3://models/iris", "s3://models/iris/v3/model.joblib", "s3://models/iris/vX"):
        with pytest.raises(StorageError, match="not a model version URI"):
            split_version_uri(uri)


def test_resolve_model_dir_opens_the_registry_above_the_version(tmp_path):
    registry, version = resolve_model_dir(f"{tmp_path.as_uri()}/iris/v4")
    assert (registry.uri, version) == (f"{tmp_path.as_uri()}/iris", 4)
    assert registry.version_uri(4) == f"{tmp_path.as_uri()}/iris/v4"
