"""Seeded, bounded fault injection for reliability tests.

A real API server under load answers 429 with Retry-After, loses optimistic-concurrency races
with 409, fails with 500/503, is slow, and ends watch streams at any time (clients must resume
from the last resourceVersion). A test declares which of these it wants, for which verbs and
resources, how often (``share``) and at most how many times (``limit``); every draw comes from
one ``random.Random(seed)``, so a failing run can be replayed.

Verbs are the RBAC verbs (get, list, watch, create, update, patch, delete); resources are the
plural, optionally with the subresource (``trainingruns/status``), as in RBAC rules.
"""

import random
from collections.abc import Collection
from dataclasses import dataclass, field

from kmock._internal import enums, rendering

_VERBS = {
    enums.action.FETCH: "get",
    enums.action.LIST: "list",
    enums.action.WATCH: "watch",
    enums.action.CREATE: "create",
    enums.action.UPDATE: "patch",
    enums.action.DELETE: "delete",
}
INJECTABLE_CODES = frozenset({409, 422, 429, 500, 503})


def verb_of(request: rendering.Request) -> str | None:
    if request.action is None and request.method == enums.method.PUT and request.name:
        return "update"
    return _VERBS.get(request.action) if request.action is not None else None


def resource_of(request: rendering.Request) -> str | None:
    if request.resource is None or request.resource.plural is None:
        return None
    plural = request.resource.plural
    return f"{plural}/{request.subresource}" if request.subresource else plural


@dataclass
class Rule:
    share: float
    limit: int
    verbs: frozenset[str] | None
    resource: str | None
    code: int = 0
    retry_after: int = 1
    seconds: float = 0.0
    after_events: tuple[int, int] = (0, 0)
    used: int = 0

    def applies(self, verb: str | None, resource: str | None) -> bool:
        return (
            self.used < self.limit
            and (self.verbs is None or verb in self.verbs)
            and (self.resource is None or self.resource == resource)
        )


@dataclass(frozen=True)
class Injection:
    verb: str | None
    resource: str | None
    what: str
    code: int = 0


@dataclass
class Decision:
    code: int = 0
    retry_after: int = 1
    delay: float = 0.0


@dataclass
class FaultPlan:
    """What to break; ``injected`` records every fault served, for assertions."""

    seed: int = 0
    injected: list[Injection] = field(default_factory=list)
    _random: random.Random = field(init=False)
    _errors: list[Rule] = field(default_factory=list, init=False)
    _delays: list[Rule] = field(default_factory=list, init=False)
    _drops: list[Rule] = field(default_factory=list, init=False)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    def error(
        self,
        code: int,
        *,
        limit: int,
        share: float = 1.0,
        verbs: Collection[str] | None = None,
        resource: str | None = None,
        retry_after: int = 1,
    ) -> Rule:
        if code not in INJECTABLE_CODES:
            raise ValueError(f"code: expected one of {sorted(INJECTABLE_CODES)}, got {code}")
        rule = Rule(share, limit, _verbs(verbs), resource, code=code, retry_after=retry_after)
        self._errors.append(rule)
        return rule

    def latency(
        self,
        seconds: float,
        *,
        limit: int,
        share: float = 1.0,
        verbs: Collection[str] | None = None,
        resource: str | None = None,
    ) -> Rule:
        rule = Rule(share, limit, _verbs(verbs), resource, seconds=seconds)
        self._delays.append(rule)
        return rule

    def drop_watches(
        self,
        *,
        limit: int,
        after_events: tuple[int, int] = (0, 3),
        share: float = 1.0,
        resource: str | None = None,
    ) -> Rule:
        """End watch streams after a number of events drawn from ``after_events`` (inclusive)."""
        rule = Rule(share, limit, frozenset({"watch"}), resource, after_events=after_events)
        self._drops.append(rule)
        return rule

    def clear(self) -> None:
        self._errors.clear()
        self._delays.clear()
        self._drops.clear()

    def decide(self, request: rendering.Request) -> Decision:
        verb, resource = verb_of(request), resource_of(request)
        decision = Decision()
        for rule in self._draw(self._delays, verb, resource, "latency"):
            decision.delay += rule.seconds
        for rule in self._draw(self._errors, verb, resource, "error", first=True):
            decision.code, decision.retry_after = rule.code, rule.retry_after
        return decision

    def watch_budget(self, request: rendering.Request) -> int | None:
        """How many events this watch stream may deliver before it is dropped; None: no drop."""
        for rule in self._draw(self._drops, "watch", resource_of(request), "drop", first=True):
            low, high = rule.after_events
            return self._random.randint(low, high)
        return None

    def _draw(
        self, rules: list[Rule], verb: str | None, resource: str | None, what: str, first: bool = False
    ) -> list[Rule]:
        chosen = []
        for rule in rules:
            if rule.applies(verb, resource) and self._random.random() < rule.share:
                rule.used += 1
                self.injected.append(Injection(verb, resource, what, rule.code))
                chosen.append(rule)
                if first:
                    break
        return chosen


def _verbs(verbs: Collection[str] | None) -> frozenset[str] | None:
    return None if verbs is None else frozenset(verbs)
