"""Declared once: $MLCD_HOME's default, the registry's version folders, the time stamps mlcd writes."""

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from mlcd.home import mlcd_home
from mlcd.timestamps import parse_rfc3339, rfc3339
from mlcd.versions import split_version_uri, version_folder, version_of_folder


@pytest.mark.parametrize("value", [None, ""])
def test_an_unset_or_empty_mlcd_home_is_dot_mlcd_in_the_home_folder(monkeypatch, value):
    if value is None:
        monkeypatch.delenv("MLCD_HOME", raising=False)
    else:
        monkeypatch.setenv("MLCD_HOME", value)
    assert mlcd_home() == (Path.home() / ".mlcd").resolve()


def test_every_user_of_mlcd_home_sees_the_same_absolute_folder(monkeypatch, tmp_path):
    from mlcd import catalog
    from mlcd.handlers.config import OperatorConfig

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("MLCD_HOME", "relative/home")
    home = (tmp_path / "relative" / "home").resolve()
    assert mlcd_home() == home
    assert OperatorConfig().home == home
    assert catalog._cache_file("1.0").parent == home / "cache"


def test_version_folders_count_from_one():
    assert version_folder(3) == "v3" and version_of_folder("v3") == 3
    assert [version_of_folder(n) for n in ("v0", "v03", "v", "latest", "v3x")] == [None] * 5
    assert split_version_uri("s3://models/iris/v12/") == ("s3://models/iris", 12)
    assert split_version_uri("s3://models/iris/v0") is None and split_version_uri("s3://models/iris") is None


def test_the_registry_and_the_champion_read_version_uris_alike():
    from mlcd.api.v1alpha1 import ModelDeploymentStatus
    from mlcd.reconcile import ChampionUpdate, champion_step
    from mlcd.storage.errors import StorageError
    from mlcd.storage.uri import split_version_uri as storage_split

    for uri in ("file:///r/v1", "s3://models/iris/v7", "s3://models/iris/v0", "s3://models/iris/latest"):
        ready = ModelDeploymentStatus.model_validate({"phase": "Ready", "activeModel": uri})
        step = champion_step(ready, deployment="iris", file_allowed=True)
        update = step if isinstance(step, ChampionUpdate) else None
        try:
            stored = storage_split(uri)
        except StorageError:
            stored = None
        assert stored == (None if update is None else (update.registry_uri, update.version)), uri


def test_time_stamps_are_utc_whole_seconds_with_a_z():
    moment = datetime(2030, 1, 1, 2, 0, 0, 999_000, tzinfo=timezone(timedelta(hours=2)))
    assert rfc3339(moment) == "2030-01-01T00:00:00Z"
    assert parse_rfc3339("2030-01-01T00:00:00Z") == datetime(2030, 1, 1, tzinfo=UTC)


def test_time_stamps_are_formatted_in_timestamps_py_alone():
    import mlcd

    # The package as imported, not a path from this file: `make mutate` runs the tests against a copy of it.
    package = Path(mlcd.__file__).resolve().parent
    formatting = ('replace("+00:00"', "replace('+00:00'", 'strftime("%Y-%m-%dT', "strftime('%Y-%m-%dT")
    modules = [module for module in sorted(package.rglob("*.py")) if module != package / "timestamps.py"]
    assert len(modules) > 50 and (package / "timestamps.py").is_file()
    found = [str(m.relative_to(package)) for m in modules if any(text in m.read_text() for text in formatting)]
    assert not found, f"{found}: use mlcd.timestamps (rfc3339, now_rfc3339)"
