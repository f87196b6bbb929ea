"""Argo CD's health assessment of mlcd's resources, as Argo CD computes it: the shipped Lua check of the
kind (manifests/argocd/resource_customizations/mlcd.io/<Kind>/health.lua) run by a real Lua 5.1
(Argo CD runs gopher-lua, a Lua 5.1), with the object as the global ``obj``."""

from lupa import lua51

from tests.k8s.files import ROOT

CUSTOMIZATIONS = ROOT / "manifests" / "argocd" / "resource_customizations" / "mlcd.io"


def health(kind: str, obj: dict) -> dict:
    """``{"status": ..., "message": ...}`` as Argo CD shows it for ``obj``."""
    runtime = lua51.LuaRuntime()
    runtime.globals().obj = runtime.table_from(obj, recursive=True)
    result = runtime.execute((CUSTOMIZATIONS / kind / "health.lua").read_text(encoding="utf-8"))
    return {"status": result["status"], "message": result["message"]}
