"""gate: the thresholds of the spec, and the model now serving (the champion)."""

from mlcd.catalog import LOWER_IS_BETTER


def champion_metrics(registry_uri: str) -> tuple[dict | None, str]:
    from mlcd.storage import open_registry

    registry = open_registry(registry_uri)
    champion = registry.champion()
    if not champion:
        return None, ""
    return registry.metadata(champion["version"]).get("metrics", {}), f"v{champion['version']}"


def judge(metrics: dict, gates: list[dict], champion: dict | None, champion_name: str) -> list[dict]:
    results = []
    for gate in gates:
        name = gate["metric"]
        value = metrics.get(name)
        if value is None:
            results.append({"metric": name, "passed": False, "message": f"{name} was not computed for this model"})
            continue
        lower = name in LOWER_IS_BETTER
        if gate.get("min") is not None:
            results.append(_bound(name, value, gate["min"], value >= gate["min"], ">="))
        if gate.get("max") is not None:
            results.append(_bound(name, value, gate["max"], value <= gate["max"], "<="))
        if gate.get("vsChampion") is not None:
            results.append(_versus(name, value, champion, champion_name, gate["vsChampion"], lower))
    return results


def _bound(name, value, threshold, passed, op) -> dict:
    verdict = "passes" if passed else "fails"
    return {"metric": name, "passed": bool(passed), "value": value, "threshold": threshold,
            "message": f"{name} {value:.4g} {verdict} {op} {threshold:g}"}


def _versus(name, value, champion, champion_name, rule, lower) -> dict:
    allowed = float(rule.get("maxRegression", 0.0))
    if champion is None or name not in champion:
        return {"metric": name, "passed": True, "value": value,
                "message": f"no champion with {name} yet: the gate passes"}
    threshold = champion[name] + allowed if lower else champion[name] - allowed
    passed = value <= threshold if lower else value >= threshold
    verdict = "passes" if passed else "fails"
    return {"metric": name, "passed": bool(passed), "value": value, "threshold": round(threshold, 6),
            "message": f"{name} {value:.4g} {verdict} against champion {champion_name} ({champion[name]:.4g},"
                       f" max regression {allowed:g})"}


def summary(metrics: dict, results: list[dict]) -> str:
    lines = ["## Gates", "", "| metric | value | threshold | result |", "|---|---|---|---|"]
    for r in results:
        mark = "pass" if r["passed"] else "**FAIL**"
        lines.append(f"| {r['metric']} | {r.get('value', '')} | {r.get('threshold', '')} | {mark}: {r['message']} |")
    lines += ["", "## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {v:.4f} |" for k, v in metrics.items()]
    return "\n".join(lines) + "\n"
