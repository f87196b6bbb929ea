"""Constant-time request routing for kmock handlers.

kmock 0.8 decides whether a reaction applies to the request being served with
``request in reaction._source``. For most views that membership test iterates
the whole request history through the view's filters, so every request costs
O(requests so far) and a run of N requests costs O(N^2): kopf handling 200
objects took 34 s and 1,000 did not finish in 10 minutes.

The request being routed is the newest request of the handler, so whether a
view "sees" it can be decided from the request alone for every view whose
membership does not depend on history (filters, priorities, and/or/not groups,
live streams). Views that do depend on history (slices, reactions used as
sources, unknown subclasses) keep kmock's own membership test.
"""

import aiohttp.web
import kmock
from kmock._internal import dsl, rendering


def sees(view: dsl.View, request: rendering.Request, root: dsl.Root) -> bool:
    """Whether ``view`` contains ``request``, the request ``root`` is routing now."""
    kind = type(view)
    if isinstance(view, dsl.Root):
        return view is root
    if kind is dsl.Priority:
        return sees(view._source, request, root)
    if kind is dsl.Filter:
        return bool(view.criteria(request)) and sees(view._source, request, root)
    if kind is dsl.OrGroup:
        return any(sees(source, request, root) for source in view._sources)
    if kind is dsl.AndGroup:
        return all(sees(source, request, root) for source in view._sources)
    if kind is dsl.Exclusion:
        excluded = any(sees(other, request, root) for other in view._exclusions)
        return not excluded and sees(view._source, request, root)
    if kind is dsl.Stream:
        return bool(request._stream_bus.consumer_count) and sees(view._source, request, root)
    return request in view


def by_priority(payloads: list[dsl.Reaction]) -> list[dsl.Reaction]:
    # Same ordering as kmock: pad priorities to equal length, highest first, stable.
    priorities = [tuple(-p for p in payload.priorities) for payload in payloads]
    width = max((len(priority) for priority in priorities), default=0)
    padded = [priority + (0,) * (width - len(priority)) for priority in priorities]
    order = sorted(range(len(payloads)), key=lambda index: padded[index])
    return [payloads[index] for index in order]


class ConstantTimeRouting(kmock.RawHandler):
    """A mixin that replaces kmock's history-scanning router with :func:`sees`.

    Put it after the kmock class in the bases so that ``super()._handle`` of
    that class lands here: ``class X(kmock.KubernetesEmulator, ConstantTimeRouting)``.
    """

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        for payload in by_priority(self._payloads):
            if payload._disabled.is_set() or not sees(payload._source, request, self):
                continue
            try:
                return await payload(request)
            except rendering.ReactionMismatchError:
                payload._disabled.set()
            except NotImplementedError:
                pass
        raise NotImplementedError(
            "Undefined server behaviour: no reaction matching the request is defined. "
            "Consider adding a catch-all fallback reaction: `kmock.fallback << 404`."
        )
