"""RFC 3339 time stamps as mlcd writes them everywhere (status, Events, the registry): UTC, whole seconds, a Z."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def parse_rfc3339(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def now_rfc3339() -> str:
    return rfc3339(datetime.now(UTC))
