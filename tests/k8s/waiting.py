"""Waiting for state without sleeping a fixed time: poll until a predicate holds or a deadline passes."""

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class NotReached(AssertionError):
    pass


def wait_for(
    fetch: Callable[[], T], predicate: Callable[[T], bool], deadline: float = 10.0, interval: float = 0.02
) -> T:
    """Return the first fetched value that satisfies ``predicate``; fail with the last one seen.

    ``fetch`` may raise (e.g. 404 before the object exists): that counts as "not yet".
    """
    give_up = time.monotonic() + deadline
    last: object = None
    while True:
        try:
            value = fetch()
        except Exception as e:  # any failure to read is "not there yet"
            last = e
        else:
            if predicate(value):
                return value
            last = value
        if time.monotonic() >= give_up:
            raise NotReached(f"not reached within {deadline} s; last seen: {last!r}")
        time.sleep(interval)
