"""PATCH bodies by content type (API concepts: "Patch operations").

Custom resources accept JSON patch and JSON merge patch only; a strategic merge patch is 415,
which is what catches a client that forgot to pick a content type. Built-in kinds take strategic
merge patches too (see strategic.py). Server-side apply is handled apart (see ssa.py).
"""

import copy
from typing import Any

import jsonpatch
import jsonpointer

from tests.k8s import errors, strategic

MERGE = "application/merge-patch+json"
JSON = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386: objects merge key by key, null deletes, anything else (lists too) replaces."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def apply(obj: dict[str, Any], body: Any, content_type: str, custom: bool) -> dict[str, Any]:
    media = content_type.split(";")[0].strip().lower()
    if media == MERGE or (media == STRATEGIC and not custom):
        if not isinstance(body, dict):
            raise errors.bad_request("the body of a merge patch must be a JSON object")
        return merge_patch(obj, body) if media == MERGE else strategic.apply(obj, body)
    if media == JSON:
        if not isinstance(body, list):
            raise errors.bad_request("the body of a JSON patch must be a JSON array of operations")
        try:
            patched = jsonpatch.apply_patch(obj, body, in_place=False)
        except (jsonpatch.JsonPatchException, jsonpointer.JsonPointerException) as e:
            raise errors.patch_rejected(str(e)) from e
        if not isinstance(patched, dict):
            raise errors.patch_rejected("the patched document is not an object")
        return patched
    raise errors.unsupported_media_type(content_type)
