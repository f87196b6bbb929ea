"""A Kubernetes API emulator with the API-server semantics mlcd's operator and its users depend on.

The operator's client, kopf and the official client need the object semantics below; the real
kubectl and helm also need discovery as the API server writes it (discovery.py), OpenAPI
documents (openapi.py), server-side Tables (tables.py), strategic merge patch (strategic.py),
server-side apply (ssa.py), strict field validation and protobuf request bodies (protobuf.py).

Built on ``kmock.KubernetesEmulator``: routing, the ``kmock.objects`` store (with each
object's history, for assertions), the reaction DSL (``emulator['patch', ...] << 409`` still
overrides any answer) and streaming come from kmock. The state transitions are replaced by
the ones of the real API server (see the docstrings of the ``_serve_*`` methods), and they
happen only in the fallback handlers: a request that a test's own reaction answers changes no
state, as if a proxy had answered it. kmock's own bookkeeping in ``KubernetesEmulator._handle``
is therefore skipped.

All state changes happen synchronously inside one event loop, so there is no lock: a write
and the watch notifications it causes are atomic.
"""

import asyncio
import copy
import datetime
import json
import random
import re
import uuid
from collections.abc import AsyncIterator, Iterable
from typing import Any

import aiohttp.web
import attrs
import kmock
from kmock._internal import rendering

from tests.k8s import discovery, errors, openapi, patches, paths, protobuf, schema, ssa, tables
from tests.k8s.faults import FaultPlan
from tests.k8s.kinds import BUILTINS, CRD_RESOURCE, NAMESPACE_RESOURCE, Kind, kinds_of, read_crds
from tests.k8s.routing import ConstantTimeRouting
from tests.k8s.selectors import Selector
from tests.k8s.watches import Change, Expired, WatchHub

Obj = dict[str, Any]

# Metadata only the server sets; a client's values for these are ignored on update.
SERVER_FIELDS = (
    "uid",
    "creationTimestamp",
    "generation",
    "resourceVersion",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "namespace",
    "name",
)
_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")
_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
# The alphabet of generateName suffixes (no vowels, no look-alike digits), as in apimachinery.
_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _meta(obj: Obj) -> Obj:
    return obj.setdefault("metadata", {})


@attrs.define(kw_only=True)
class Emulator(kmock.KubernetesEmulator, ConstantTimeRouting):
    faults: FaultPlan = attrs.field(factory=FaultPlan)
    watch_history: int = 10_000
    _revision: int = attrs.field(default=0, init=False)
    _kinds: dict[kmock.resource, Kind] = attrs.field(factory=dict, init=False)
    _hub: WatchHub = attrs.field(init=False)
    _suffixes: random.Random = attrs.field(factory=lambda: random.Random(0), init=False)
    # What each field manager last applied server-side, by (object uid, manager); see ssa.py.
    _applied: dict[tuple[str, str], Obj] = attrs.field(factory=dict, init=False)

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._hub = WatchHub(self.watch_history)
        self.fallback[kmock.method.PUT] << self._serve_replace
        self.fallback["get /openapi/v2"] << self._serve_openapi_v2
        self.fallback["get /openapi/v3"] << self._serve_openapi_v3_root
        self.fallback["get", re.compile(r"/openapi/v3/(api|apis)/.+")] << self._serve_openapi_v3
        for kind in BUILTINS:
            self._register(kind)
        self.create(BUILTINS[0], None, {"metadata": {"name": "default"}})

    # Public helpers for tests (call them in the emulator's loop, see ServedEmulator.call).

    def load_crds(self, files: Iterable[str]) -> list[Obj]:
        """Create the CRDs found in these YAML files, as ``kubectl create -f`` would."""
        crd_kind = self._kinds[CRD_RESOURCE]
        return [self.create(crd_kind, None, crd) for crd in read_crds(files)]

    def get(self, kind: Kind, namespace: str | None, name: str) -> Obj | None:
        key = (kind.storage, namespace if kind.namespaced else None, name)
        if key not in self._objects or self._objects[key].deleted:
            return None
        return self._objects[key].last.raw

    def close_watches(self) -> None:
        self._hub.close()

    # Request plumbing.

    async def __call__(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.StreamResponse:
        if raw_request.path.rstrip("/") == "/api/v1/namespaces":
            # kmock's parser raises on this path (see paths.py); hand it a harmless spelling. with_path drops
            # the query, which carries watch=true when kopf watches namespaces (a namespaced operator does).
            url = raw_request.rel_url
            raw_request = raw_request.clone(rel_url=url.with_path("/api/v1//namespaces").with_query(url.query))
        if raw_request.content_type == protobuf.MEDIA:
            raw_request = await self._as_json(raw_request)
        return await super().__call__(raw_request)

    async def _as_json(self, raw_request: aiohttp.web.BaseRequest) -> aiohttp.web.BaseRequest:
        # kmock reads every body as UTF-8 text, so a protobuf body is turned into JSON before it does.
        converted = raw_request.clone(headers={**raw_request.headers, "Content-Type": "application/json"})
        try:
            obj = protobuf.decode(await raw_request.read())
        except errors.StatusError as e:
            obj = {"$undecodable": e.status()}
        converted._read_bytes = json.dumps(obj).encode()  # aiohttp serves read()/json() from this cache
        return converted

    async def _handle(self, request: rendering.Request) -> aiohttp.web.StreamResponse:
        request = self._reinterpret(request)
        if request.resource is not None and request.resource.plural:
            decision = self.faults.decide(request)
            if decision.delay:
                await asyncio.sleep(decision.delay)
            if decision.code:
                raise errors.injected(decision.code, decision.retry_after)
        return await ConstantTimeRouting._handle(self, request)

    def _reinterpret(self, request: rendering.Request) -> rendering.Request:
        target = paths.target_of(request.url.path)
        if target is None:
            return request
        # Go's strconv.ParseBool spellings: the official Python client sends "True".
        watch = request.params.get("watch") in ("1", "t", "T", "true", "TRUE", "True")
        # Corrected in place, not copied: kmock's history-based views (slices) match requests by identity.
        fields = {
            "resource": kmock.resource(target.group, target.version, target.plural),
            "namespace": target.namespace,
            "name": target.name,
            "subresource": target.subresource,
            "action": paths.action_of(target, request.method.value, watch),
        }
        for field, value in fields.items():
            object.__setattr__(request, field, value)
        return request

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        if isinstance(exc, errors.StatusError):
            return aiohttp.web.json_response(exc.status(), status=exc.code, headers=exc.headers)
        return await super()._render_error(exc)

    def _get_resources(self) -> list[kmock.resource]:
        # Discovery lists what is served now, not every resource that ever held an object.
        return list(self._kinds)

    # Discovery and OpenAPI (see discovery.py and openapi.py).

    async def _serve_server_version(self, request: rendering.Request) -> rendering.Payload:
        # Charts check it (mlcd's Chart.yaml: kubeVersion >=1.29); kmock says v1.26.
        return discovery.server_version()

    def _served(self, group: str, version: str | None = None) -> list[Kind]:
        return [k for k in self._kinds.values() if k.group == group and version in (None, k.version)]

    async def _serve_apis(self, request: rendering.Request) -> rendering.Payload:
        return discovery.api_group_list(self._kinds.values())

    async def _serve_group(self, request: rendering.Request) -> rendering.Payload:
        group = request.url.path.strip("/").split("/")[1]
        kinds = self._served(group)
        if not group or not kinds:
            raise errors.no_such_resource()
        return discovery.api_group(group, [kind.version for kind in kinds])

    async def _serve_version(self, request: rendering.Request) -> rendering.Payload:
        parts = request.url.path.strip("/").split("/")
        group, version = ("", parts[1]) if parts[0] == "api" else (parts[1], parts[2])
        kinds = self._served(group, version)
        if not kinds:
            raise errors.no_such_resource()
        return discovery.resource_list(group, version, kinds)

    def _openapi_v3_documents(self) -> dict[str, Obj]:
        by_path: dict[str, list[Kind]] = {}
        for kind in self._kinds.values():
            by_path.setdefault(openapi.group_version_path(kind), []).append(kind)
        return {path: openapi.v3_document(kinds) for path, kinds in by_path.items()}

    async def _serve_openapi_v3_root(self, request: rendering.Request) -> rendering.Payload:
        return openapi.v3_root(self._openapi_v3_documents())

    async def _serve_openapi_v3(self, request: rendering.Request) -> rendering.Payload:
        path = request.url.path.removeprefix("/openapi/v3/").strip("/")
        document = self._openapi_v3_documents().get(path)
        if document is None:
            raise errors.no_such_resource()
        return document

    async def _serve_openapi_v2(self, request: rendering.Request) -> rendering.Payload:
        return openapi.v2_document(self._kinds.values())

    def _kind_of(self, request: rendering.Request) -> Kind:
        kind = self._kinds.get(request.resource) if request.resource is not None else None
        if kind is None:
            raise errors.no_such_resource()
        if request.subresource not in (None, "status") or (request.subresource and not kind.status_subresource):
            raise errors.no_such_resource()
        return kind

    def _existing(self, kind: Kind, request: rendering.Request) -> Obj:
        assert request.name is not None
        obj = self.get(kind, request.namespace, request.name)
        if obj is None:
            raise errors.not_found(kind.qualified, request.name)
        return obj

    def _present(self, kind: Kind, obj: Obj) -> Obj:
        # Objects are stored once, in the storage version; other served versions see their own apiVersion.
        return obj if kind.version == kind.storage.version else {**obj, "apiVersion": kind.api_version}

    # Reads.

    async def _serve_fetch(self, request: rendering.Request) -> rendering.Payload:
        kind = self._kind_of(request)
        obj = self._present(kind, self._existing(kind, request))
        return self._as_table(kind, request, [obj], obj["metadata"]["resourceVersion"]) or obj

    def _as_table(self, kind: Kind, request: rendering.Request, objs: list[Obj], revision: str) -> Obj | None:
        """The objects as a meta.k8s.io Table when the client asks for one (server-side printing)."""
        version = tables.wanted_version(_header(request, "Accept"))
        if version is None or request.subresource:
            return None
        return tables.table(kind, objs, revision, dict(request.params), version)

    async def _serve_list(self, request: rendering.Request) -> rendering.Payload:
        """API concepts: "Retrieving large results sets" (no paging here) and selectors."""
        kind = self._kind_of(request)
        selector = self._selector(kind, request)
        items = [self._present(kind, obj) for obj in self._scan(kind, request.namespace) if selector.matches(obj)]
        table = self._as_table(kind, request, items, str(self._revision))
        if table is not None:
            return table
        return {
            "apiVersion": kind.api_version,
            "kind": f"{kind.kind}List",
            "metadata": {"resourceVersion": str(self._revision)},
            "items": items,
        }

    def _scan(self, kind: Kind, namespace: str | None) -> list[Obj]:
        found = [
            (key[1] or "", key[2], stored.last.raw)
            for key, stored in self._objects.items()
            if key[0] == kind.storage and not stored.deleted and (namespace is None or key[1] == namespace)
        ]
        return [obj for _, _, obj in sorted(found, key=lambda item: item[:2])]

    def _selector(self, kind: Kind, request: rendering.Request) -> Selector:
        fields = request.params.get("fieldSelector", "")
        if request.name:
            fields = ",".join(filter(None, [fields, f"metadata.name={request.name}"]))
        return Selector(request.params.get("labelSelector", ""), fields, kind.field_labels)

    # Watches.

    async def _serve_watch(self, request: rendering.Request) -> rendering.Payload:
        kind = self._kind_of(request)
        selector = self._selector(kind, request)
        since = request.params.get("resourceVersion") or "0"
        if not since.isdigit():
            raise errors.bad_request(f"invalid resource version: {since!r}")
        timeout = float(request.params.get("timeoutSeconds") or 0) or None
        budget = self.faults.watch_budget(request)
        stream = self._stream(kind, request.namespace, selector, int(since), timeout, budget)
        if tables.wanted_version(_header(request, "Accept")) is not None:
            stream = self._table_events(kind, request, stream)
        # client-go picks its stream decoder by this header (kmock sends application/octet-stream).
        return kmock.Response(payload=stream, headers={"Content-Type": "application/json"})

    async def _table_events(
        self, kind: Kind, request: rendering.Request, stream: AsyncIterator[rendering.Payload]
    ) -> AsyncIterator[rendering.Payload]:
        # A watch asked for as Table sends each event's object as a one-row Table (kubectl get -w).
        async for event in stream:
            if isinstance(event, dict) and event.get("type") in ("ADDED", "MODIFIED", "DELETED"):
                obj = event["object"]
                event = {**event, "object": self._as_table(kind, request, [obj], obj["metadata"]["resourceVersion"])}
            yield event

    async def _stream(
        self,
        kind: Kind,
        namespace: str | None,
        selector: Selector,
        since: int,
        timeout: float | None,
        budget: int | None,
    ) -> AsyncIterator[rendering.Payload]:
        yield b""  # send the headers now: a watch with nothing to report is still a watch
        try:
            backlog, queue = self._subscribe(kind, namespace, since)
        except Expired:
            yield {
                "type": "ERROR",
                "object": errors.StatusError(
                    410, "Expired", f"too old resource version: {since} ({self._revision})"
                ).status(),
            }
            return
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        try:
            sent = 0
            async for change in self._changes(backlog, queue, deadline):
                event = self._event(kind, namespace, selector, change)
                if event is None:
                    continue
                if budget is not None and sent >= budget:
                    return  # a dropped stream: the client must resume from its last resourceVersion
                yield event
                sent += 1
        finally:
            self._hub.unsubscribe(kind.storage, queue)

    def _subscribe(self, kind: Kind, namespace: str | None, since: int) -> tuple[list[Change], asyncio.Queue]:
        # API concepts, "Semantics for watch": no resourceVersion (or "0") starts with the current
        # state as synthetic ADDED events; a given one resumes right after it.
        if since:
            return self._hub.subscribe(kind.storage, since)
        current = [
            Change(int(obj["metadata"].get("resourceVersion") or 0), "ADDED", obj, None)
            for obj in self._scan(kind, namespace)
        ]
        _, queue = self._hub.subscribe(kind.storage, self._revision)
        return current, queue

    async def _changes(
        self, backlog: list[Change], queue: asyncio.Queue, deadline: float | None
    ) -> AsyncIterator[Change]:
        for change in backlog:
            yield change
        loop = asyncio.get_running_loop()
        while True:
            try:
                remaining = None if deadline is None else max(0.0, deadline - loop.time())
                change = await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                return  # timeoutSeconds elapsed: the server ends the stream cleanly
            if change is None:
                return
            yield change

    def _event(self, kind: Kind, namespace: str | None, selector: Selector, change: Change) -> Obj | None:
        # An object that starts or stops matching the selector is ADDED or DELETED for this watcher.
        def visible(obj: Obj | None) -> bool:
            in_namespace = obj is not None and (namespace is None or obj["metadata"].get("namespace") == namespace)
            return in_namespace and selector.matches(obj)

        now_visible = visible(change.obj)
        was_visible = change.type == "MODIFIED" and visible(change.old)
        if change.type == "MODIFIED" and now_visible != was_visible:
            kind_of_event = "ADDED" if now_visible else "DELETED"
        elif now_visible or was_visible:
            kind_of_event = change.type
        else:
            return None
        return {"type": kind_of_event, "object": self._present(kind, change.obj)}

    # Writes.

    async def _serve_create(self, request: rendering.Request) -> rendering.Payload:
        """API concepts: create answers 201 with the stored object, uid and resourceVersion set."""
        kind = self._kind_of(request)
        if kind.namespaced and request.namespace is None:
            raise errors.no_such_resource()
        body = self._body(request)
        self._check_fields(kind, request, body)
        return kmock.Response(status=201, payload=self._present(kind, self.create(kind, request.namespace, body)))

    def _check_fields(self, kind: Kind, request: rendering.Request, obj: Obj) -> None:
        """``fieldValidation=Strict`` (what kubectl and Helm send): unknown fields are a 400, not pruned."""
        if request.params.get("fieldValidation") != "Strict" or kind.schema is None:
            return
        unknown = schema.unknown_fields(obj, kind.schema)
        if unknown:
            raise errors.unknown_fields(kind.kind, kind.version, unknown)

    async def _serve_update(self, request: rendering.Request) -> rendering.Payload:
        kind = self._kind_of(request)
        content_type = _header(request, "Content-Type") or patches.MERGE
        if content_type.split(";")[0].strip().lower() == ssa.MEDIA:
            return await self._serve_apply(kind, request)
        old = self._existing(kind, request)
        patched = patches.apply(self._present(kind, old), request.data, content_type, kind.custom)
        self._check_fields(kind, request, patched)
        # kmock keeps the status of a returned Response on the reaction: always say which one.
        return kmock.Response(
            status=200, payload=self._present(kind, self.update(kind, old, patched, request.subresource))
        )

    async def _serve_apply(self, kind: Kind, request: rendering.Request) -> rendering.Payload:
        """Server-side apply (see ssa.py): creates a missing object, else merges the configuration in."""
        manager = request.params.get("fieldManager")
        if not manager:
            raise errors.bad_request("PATCH with apply requires fieldManager to be set")
        applied = ssa.parse(request.body, request.data)
        self._check_type_meta(kind, copy.deepcopy(applied))
        self._check_fields(kind, request, applied)
        assert request.name is not None
        if _meta(applied).get("name", request.name) != request.name:
            raise errors.bad_request("the name of the object does not match the name on the URL")
        old = self.get(kind, request.namespace, request.name)
        if old is None:
            if request.subresource:
                raise errors.not_found(kind.qualified, request.name)
            created = self.create(
                kind, request.namespace, {**applied, "metadata": {**_meta(applied), "name": request.name}}
            )
            self._applied[(created["metadata"]["uid"], manager)] = applied
            return kmock.Response(status=201, payload=self._present(kind, created))
        key = (old["metadata"]["uid"], manager)
        new = ssa.merged(self._present(kind, old), applied, self._applied.get(key))
        stored = self.update(kind, old, new, request.subresource)
        self._applied[key] = applied
        return kmock.Response(status=200, payload=self._present(kind, stored))

    async def _serve_replace(self, request: rendering.Request) -> rendering.Payload:
        """PUT: the whole object; for custom resources only with the resourceVersion it was read at."""
        kind = self._kind_of(request)
        if request.name is None:
            raise errors.StatusError(405, "MethodNotAllowed", "the server does not allow this method")
        old = self._existing(kind, request)
        body = self._body(request)
        meta = _meta(body)
        if meta.get("name", request.name) != request.name:
            raise errors.bad_request(
                f"the name of the object ({meta['name']}) does not match the name on the URL ({request.name})"
            )
        if kind.custom and not meta.get("resourceVersion"):
            cause = {
                "reason": "FieldValueInvalid",
                "field": "metadata.resourceVersion",
                "message": "Invalid value: 0x0: must be specified for an update",
            }
            raise errors.invalid(kind.group_kind, request.name, [cause])
        self._check_type_meta(kind, body)
        return self._present(kind, self.update(kind, old, body, request.subresource))

    async def _serve_delete(self, request: rendering.Request) -> rendering.Payload:
        """With finalizers, deletion only sets deletionTimestamp; the last finalizer removed deletes."""
        kind = self._kind_of(request)
        old = self._existing(kind, request)
        self._check_preconditions(kind, old, request.data)
        meta = old["metadata"]
        if meta.get("deletionTimestamp"):
            return self._present(kind, old)
        if not meta.get("finalizers"):
            return self._present(kind, self._commit(kind, copy.deepcopy(old), "DELETED", old))
        marked = copy.deepcopy(old)
        marked["metadata"].update(
            deletionTimestamp=now(), deletionGracePeriodSeconds=0, generation=meta.get("generation", 0) + 1
        )
        return self._present(kind, self._commit(kind, marked, "MODIFIED", old))

    def _check_preconditions(self, kind: Kind, old: Obj, options: Any) -> None:
        wanted = options.get("preconditions") or {} if isinstance(options, dict) else {}
        meta = old["metadata"]
        for field in ("uid", "resourceVersion"):
            if wanted.get(field) and wanted[field] != meta.get(field):
                raise errors.conflict(kind.qualified, meta["name"])

    def _body(self, request: rendering.Request) -> Obj:
        if isinstance(request.data, dict) and "$undecodable" in request.data:
            status = request.data["$undecodable"]
            raise errors.StatusError(status["code"], status["reason"], status["message"])
        if not isinstance(request.data, dict):
            raise errors.bad_request("the request body must be a JSON object")
        return request.data

    def create(self, kind: Kind, namespace: str | None, body: Obj) -> Obj:
        """Admit and store a new object exactly as a POST would; returns the stored object."""
        obj = copy.deepcopy(body)
        meta = _meta(obj)
        self._check_type_meta(kind, obj)
        self._place(kind, obj, namespace)
        if meta.get("resourceVersion"):
            raise errors.bad_request("resourceVersion should not be set on objects to be created")
        meta["name"] = meta.get("name") or self._generate_name(kind, meta)
        if self.get(kind, meta.get("namespace"), meta["name"]) is not None:
            raise errors.already_exists(kind.qualified, meta["name"])
        for field in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(field, None)
        meta.update(uid=str(uuid.uuid4()), creationTimestamp=now(), generation=1)
        if kind.status_subresource:
            obj.pop("status", None)  # status is written through /status only
        if kind.resource == CRD_RESOURCE:
            obj["status"] = _crd_status(obj)
        elif kind.resource == NAMESPACE_RESOURCE:
            obj["status"] = {"phase": "Active"}
        return self._commit(kind, self._admitted(kind, obj), "ADDED", None)

    def update(self, kind: Kind, old: Obj, new: Obj, subresource: str | None) -> Obj:
        """Store ``new`` over ``old`` (a PATCH result or a PUT body) as the API server would."""
        meta = old["metadata"]
        wanted_version = (new.get("metadata") or {}).get("resourceVersion")
        if wanted_version and wanted_version != meta["resourceVersion"]:
            raise errors.conflict(kind.qualified, meta["name"])
        candidate = self._owned(kind, old, new, subresource)
        added = set(candidate["metadata"].get("finalizers") or []) - set(meta.get("finalizers") or [])
        if meta.get("deletionTimestamp") and added:
            raise errors.forbidden_finalizers(kind.group_kind, meta["name"])
        candidate = self._admitted(kind, candidate)
        if candidate == old:
            return old  # a no-op write changes nothing: same resourceVersion, no watch event
        if _desired(kind, candidate) != _desired(kind, old):
            candidate["metadata"]["generation"] = meta.get("generation", 0) + 1
        finalized = candidate["metadata"].get("deletionTimestamp") and not candidate["metadata"].get("finalizers")
        return self._commit(kind, candidate, "DELETED" if finalized else "MODIFIED", old)

    def _owned(self, kind: Kind, old: Obj, new: Obj, subresource: str | None) -> Obj:
        # API concepts, "Subresources": /status takes only .status; the main resource keeps .status.
        if kind.status_subresource and subresource == "status":
            candidate = copy.deepcopy(old)
            candidate.pop("status", None)
            if "status" in new:
                candidate["status"] = copy.deepcopy(new["status"])
            return candidate
        candidate = copy.deepcopy(new)
        candidate["apiVersion"], candidate["kind"] = old["apiVersion"], old["kind"]
        if kind.status_subresource:
            candidate.pop("status", None)
            if "status" in old:
                candidate["status"] = old["status"]
        meta = _meta(candidate)
        for field in SERVER_FIELDS:
            meta.pop(field, None)
            if field in old["metadata"]:
                meta[field] = old["metadata"][field]
        return candidate

    def _admitted(self, kind: Kind, obj: Obj) -> Obj:
        meta = obj["metadata"]
        causes = _name_causes(kind, meta["name"])
        if kind.schema is not None:
            obj, schema_causes = schema.admit(obj, kind.schema)
            causes += schema_causes
        if causes:
            raise errors.invalid(kind.group_kind, meta["name"], causes)
        return obj

    def _check_type_meta(self, kind: Kind, obj: Obj) -> None:
        # Built-in kinds are typed: the URL supplies apiVersion/kind. Custom resources are unstructured.
        if not kind.custom:
            obj.setdefault("apiVersion", kind.api_version)
            obj.setdefault("kind", kind.kind)
        if not obj.get("kind"):
            raise errors.bad_request(f"Object 'Kind' is missing in '{obj}'")
        if obj.get("apiVersion") != kind.api_version:
            raise errors.bad_request(
                f"the API version in the data ({obj.get('apiVersion')}) does not match the "
                f"expected API version ({kind.api_version})"
            )
        if obj["kind"] != kind.kind:
            raise errors.bad_request(
                f"the kind in the data ({obj['kind']}) does not match the expected kind ({kind.kind})"
            )
        obj["apiVersion"] = f"{kind.group}/{kind.storage.version}" if kind.group else kind.storage.version

    def _place(self, kind: Kind, obj: Obj, namespace: str | None) -> None:
        meta = obj["metadata"]
        if not kind.namespaced:
            meta.pop("namespace", None)
        elif meta.get("namespace", namespace) != namespace:
            raise errors.bad_request(
                "the namespace of the provided object does not match the namespace sent on the request"
            )
        else:
            meta["namespace"] = namespace

    def _generate_name(self, kind: Kind, meta: Obj) -> str:
        prefix = meta.get("generateName")
        if not prefix:
            cause = {
                "reason": "FieldValueRequired",
                "field": "metadata.name",
                "message": "Required value: name or generateName is required",
            }
            raise errors.invalid(kind.group_kind, "", [cause])
        while True:
            name = prefix[:58] + "".join(self._suffixes.choice(_SUFFIX_ALPHABET) for _ in range(5))
            if self.get(kind, meta.get("namespace"), name) is None:
                return name

    def _commit(self, kind: Kind, obj: Obj, change: str, old: Obj | None) -> Obj:
        self._revision += 1
        obj["metadata"]["resourceVersion"] = str(self._revision)
        meta = obj["metadata"]
        key = (kind.storage, meta.get("namespace"), meta["name"])
        if key in self._objects:
            self._objects[key].history.append(obj)
        else:
            self._objects[key] = obj
        if change == "DELETED":
            self._objects[key].delete()
        self._hub.publish(kind.storage, Change(self._revision, change, obj, old))
        if kind.resource == CRD_RESOURCE:
            self._crd_changed(obj, deleted=change == "DELETED")
        return obj

    def _crd_changed(self, crd: Obj, deleted: bool) -> None:
        # The API server starts serving a CRD's resources as soon as it is established.
        for kind in self._kinds_named(crd):
            self._kinds.pop(kind.resource, None)
            self.resources.pop(kind.resource, None)
        if deleted:
            for kind in kinds_of(crd)[:1]:
                for obj in self._scan(kind, None):
                    self._commit(kind, copy.deepcopy(obj), "DELETED", obj)
            return
        for kind in kinds_of(crd):
            self._register(kind)

    def _kinds_named(self, crd: Obj) -> list[Kind]:
        group, plural = crd["spec"]["group"], crd["spec"]["names"]["plural"]
        return [kind for kind in self._kinds.values() if (kind.group, kind.plural) == (group, plural)]

    def _register(self, kind: Kind) -> None:
        self._kinds[kind.resource] = kind
        self.resources[kind.resource] = kind.info()


def _header(request: rendering.Request, name: str) -> str | None:
    return next((value for key, value in request.headers.items() if key.lower() == name.lower()), None)


def _desired(kind: Kind, obj: Obj) -> Obj:
    """What ``metadata.generation`` counts: all but metadata, and all but status if it is a subresource."""
    ignored = {"metadata", "status"} if kind.status_subresource else {"metadata"}
    return {key: value for key, value in obj.items() if key not in ignored}


def _name_causes(kind: Kind, name: str) -> list[schema.Cause]:
    pattern, limit, what = (
        (_LABEL, 63, "label") if kind.plural == "namespaces" and not kind.group else (_SUBDOMAIN, 253, "subdomain")
    )
    if pattern.match(name) and len(name) <= limit:
        return []
    message = (
        f'Invalid value: "{name}": a lowercase RFC 1123 {what} must consist of lower case alphanumeric '
        f"characters, '-' or '.', and must start and end with an alphanumeric character"
    )
    return [{"reason": "FieldValueInvalid", "message": message, "field": "metadata.name"}]


def _crd_status(crd: Obj) -> Obj:
    stamp = now()
    conditions = [
        {
            "type": "NamesAccepted",
            "status": "True",
            "reason": "NoConflicts",
            "lastTransitionTime": stamp,
            "message": "no conflicts found",
        },
        {
            "type": "Established",
            "status": "True",
            "reason": "InitialNamesAccepted",
            "lastTransitionTime": stamp,
            "message": "the initial names have been accepted",
        },
    ]
    versions = [version["name"] for version in crd["spec"]["versions"] if version.get("storage")]
    return {"acceptedNames": crd["spec"]["names"], "conditions": conditions, "storedVersions": versions}
