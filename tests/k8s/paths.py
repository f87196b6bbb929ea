"""Reading a request path the way the API server routes it.

kmock 0.8 treats the first ``namespaces`` segment as the namespace keyword, so the core
``namespaces`` resource cannot be addressed (``/api/v1/namespaces`` raises while parsing, and
``/api/v1/namespaces/default`` reads as "namespace default, no resource"). The API server has a
special case for it; so does this module.
"""

from dataclasses import dataclass

from kmock._internal import enums

NAMESPACE_SUBRESOURCES = frozenset({"status", "finalize"})


@dataclass(frozen=True)
class Target:
    group: str
    version: str
    plural: str
    namespace: str | None
    name: str | None
    subresource: str | None


def target_of(path: str) -> Target | None:
    """The resource a path addresses; None for discovery and non-API paths."""
    parts = [part for part in path.split("/") if part]
    if len(parts) >= 3 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 4 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return None
    namespace = None
    if rest[0] == "namespaces" and not _is_namespace_itself(rest):
        namespace, rest = rest[1], rest[2:]
    if not rest:
        return None
    name = rest[1] if len(rest) > 1 else None
    subresource = "/".join(rest[2:]) or None
    return Target(group, version, rest[0], namespace, name, subresource)


def _is_namespace_itself(rest: list[str]) -> bool:
    return len(rest) <= 2 or (len(rest) == 3 and rest[2] in NAMESPACE_SUBRESOURCES)


def action_of(target: Target, method: str, watch: bool) -> enums.action | None:
    if method == "GET":
        return enums.action.WATCH if watch else enums.action.FETCH if target.name else enums.action.LIST
    if target.name is None:
        return enums.action.CREATE if method == "POST" else None
    return {"PATCH": enums.action.UPDATE, "DELETE": enums.action.DELETE}.get(method)
