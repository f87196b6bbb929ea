"""Reading datasets from builtin://, file:// and s3:// (a real SeaweedFS), their fingerprints and errors."""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd
import pytest
from minio.versioningconfig import ENABLED, VersioningConfig

from mlcd.storage import BUILTIN_DATASETS, StorageError, fingerprint, read_dataset
from tests.integration.s3server import S3Server


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    return read_dataset("builtin://iris")[0]


@dataclass
class Place:
    """Where a test puts a data file: ``put(name, bytes)`` returns the URI to read it back from."""

    kind: str
    put: Callable[[str, bytes], str]


@pytest.fixture(params=["file", pytest.param("s3", marks=pytest.mark.s3)])
def place(request, tmp_path, monkeypatch) -> Place:
    if request.param == "file":

        def put_file(name: str, data: bytes) -> str:
            (tmp_path / name).write_bytes(data)
            return (tmp_path / name).as_uri()

        return Place("file", put_file)
    server: S3Server = request.getfixturevalue("s3_server")
    server.use(monkeypatch)
    bucket = server.create_bucket()

    def put_object(name: str, data: bytes) -> str:
        server.put(bucket, f"data/{name}", data)
        return f"s3://{bucket}/data/{name}"

    return Place("s3", put_object)


@pytest.mark.parametrize("name", BUILTIN_DATASETS)
def test_builtin_datasets_have_a_target_column_and_a_stable_fingerprint(name):
    frame, print_ = read_dataset(f"builtin://{name}")
    assert "target" in frame.columns and len(frame) > 100
    assert print_.kind == "builtin" and print_ == fingerprint(f"builtin://{name}")
    assert name in print_.value and "scikit-learn" in print_.value


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False).encode()


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_csv_and_parquet_round_trip_with_the_fingerprint_of_what_was_read(place, iris, fmt):
    uri = place.put(f"iris.{fmt}", _csv(iris) if fmt == "csv" else _parquet(iris))

    frame, print_ = read_dataset(uri)

    pd.testing.assert_frame_equal(frame, iris, check_dtype=fmt == "parquet")
    assert print_ == fingerprint(uri)
    assert print_.kind == {"file": "sha256", "s3": "etag"}[place.kind] and print_.value


def test_the_format_can_be_given_when_the_name_does_not_tell(place, iris):
    uri = place.put("iris.data", _parquet(iris))
    with pytest.raises(StorageError, match=rf"^{re.escape(uri)}: cannot tell the format .*spec.data.format"):
        read_dataset(uri)
    assert read_dataset(uri, fmt="parquet")[0].shape == iris.shape
    with pytest.raises(StorageError, match=rf"^{re.escape(uri)}: unknown data format 'xlsx'"):
        read_dataset(uri, fmt="xlsx")


def test_the_fingerprint_changes_with_the_content_and_only_with_it(place, iris):
    uri = place.put("iris.csv", _csv(iris))
    before = fingerprint(uri)

    assert place.put("iris.csv", _csv(iris)) == uri
    assert fingerprint(uri) == before
    place.put("iris.csv", _csv(iris.head(100)))
    after = fingerprint(uri)

    assert after != before
    assert read_dataset(uri)[1] == after


@pytest.mark.s3
def test_a_versioned_bucket_adds_the_version_id(s3_server, monkeypatch, iris):
    s3_server.use(monkeypatch)
    bucket = s3_server.create_bucket()
    s3_server.client().set_bucket_versioning(bucket, VersioningConfig(ENABLED))
    s3_server.put(bucket, "iris.csv", _csv(iris))
    first = fingerprint(f"s3://{bucket}/iris.csv")
    s3_server.put(bucket, "iris.csv", _csv(iris))
    second = fingerprint(f"s3://{bucket}/iris.csv")

    assert first.version_id and second.version_id and first.version_id != second.version_id
    assert first.value == second.value
    assert read_dataset(f"s3://{bucket}/iris.csv")[1] == second
    assert second.as_dict() == {"kind": "etag", "value": second.value, "version_id": second.version_id}


@pytest.mark.parametrize(
    ("name", "data", "problem"),
    [
        ("empty.csv", b"", "the csv file is empty"),
        ("blank.parquet", b"\n\n", "the parquet file is empty"),
        ("ragged.csv", b"a,b\n1,2\n3,4,5\n", "not a valid csv file: .*Expected 2 fields in line 3, saw 3"),
        ("text.parquet", b"a,b\n1,2\n", "not a valid parquet file: .*magic bytes"),
    ],
)
def test_data_that_does_not_parse_is_an_error_naming_the_uri(place, name, data, problem):
    uri = place.put(name, data)
    with pytest.raises(StorageError, match=rf"^{re.escape(uri)}: {problem}"):
        read_dataset(uri)


def test_a_missing_file_or_object_is_an_error_naming_the_uri(place):
    uri = place.put("present.csv", b"a\n1\n").replace("present", "absent")
    problem = {"file": "no such file", "s3": "no such object"}[place.kind]
    for call in (read_dataset, fingerprint):
        with pytest.raises(StorageError, match=rf"^{re.escape(uri)}: {problem}$"):
            call(uri)


def test_unknown_builtin_and_unsupported_schemes_are_errors():
    with pytest.raises(
        StorageError, match=r"^builtin://mnist: no builtin dataset 'mnist'; expected one of iris"
    ):
        read_dataset("builtin://mnist")
    with pytest.raises(StorageError, match=r"^gs://data/x.csv: unsupported scheme 'gs'"):
        read_dataset("gs://data/x.csv")


@pytest.mark.s3
def test_an_unknown_bucket_is_an_error_naming_it(s3_server, monkeypatch):
    s3_server.use(monkeypatch)
    for call in (read_dataset, fingerprint):
        with pytest.raises(
            StorageError, match=r"^s3://no-such-bucket/x.csv: bucket 'no-such-bucket' does not exist$"
        ):
            call("s3://no-such-bucket/x.csv")
    with pytest.raises(StorageError, match=r"^s3://no-such-bucket: names a bucket, not an object"):
        read_dataset("s3://no-such-bucket")


@pytest.mark.s3
@pytest.mark.parametrize("variable", ["AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"])
def test_wrong_credentials_are_an_access_error(s3_server, monkeypatch, iris, variable):
    s3_server.use(monkeypatch)
    bucket = s3_server.create_bucket()
    s3_server.put(bucket, "iris.csv", _csv(iris))
    s3_server.use(monkeypatch, **{variable: "not-the-right-one"})
    uri = f"s3://{bucket}/iris.csv"
    for call in (read_dataset, fingerprint):
        with pytest.raises(StorageError, match=rf"^{uri}: access denied \(\w+\): check the credentials"):
            call(uri)


@pytest.mark.s3
def test_an_unreachable_endpoint_fails_after_a_bounded_retry(s3_server, monkeypatch):
    s3_server.use(monkeypatch, MLCD_S3_ENDPOINT="http://127.0.0.1:9")
    with pytest.raises(
        StorageError, match=r"^s3://data/x.csv: S3 endpoint 127.0.0.1:9 is unreachable .* attempts$"
    ):
        read_dataset("s3://data/x.csv")


def test_incomplete_s3_settings_are_an_error_naming_the_variable(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "someone")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY", raising=False)
    with pytest.raises(
        StorageError, match=r"^s3://data/x.csv: S3 settings: .*AWS_SECRET_ACCESS_KEY must be set"
    ):
        fingerprint("s3://data/x.csv")
