"""What a finished run tells: phase, metrics, gates, model and, when it failed, why."""

from dataclasses import dataclass, field


@dataclass
class StepRecord:
    name: str
    seconds: float | None = None
    status: str = "running"
    message: str = ""


@dataclass
class RunResult:
    phase: str
    message: str = ""
    metrics: dict = field(default_factory=dict)
    gates: list = field(default_factory=list)
    model: dict | None = None
    run_id: str = ""
    steps: list[StepRecord] = field(default_factory=list)
    seconds: float = 0.0
    tuning: dict | None = None  # spec.tuning's search: best, score, metric, trials (one row each)

    def to_json(self) -> dict:
        out = {"phase": self.phase, "metrics": self.metrics, "gates": self.gates, "model": self.model,
               "message": self.message, "runId": self.run_id, "seconds": round(self.seconds, 3),
               "steps": [{"name": s.name, "status": s.status, "seconds": s.seconds} for s in self.steps]}
        if self.tuning is not None:
            out["tuning"] = self.tuning
        return out


def decide(outputs: dict, failure: str) -> RunResult:
    """The phase of a run from its pipeline outputs: Succeeded, Rejected (a gate failed) or Failed."""
    import json

    if failure or not outputs:
        return RunResult(phase="Failed", message=failure or "the pipeline produced no outputs")
    metrics = json.loads(outputs.get("metrics") or "{}")
    gates = json.loads(outputs.get("gates") or "[]")
    tuning = json.loads(outputs["tuning"]) if outputs.get("tuning") else None
    if tuning is not None:
        tuning = {key: tuning[key] for key in ("best", "score", "metric", "trials")}
    version = int(outputs.get("version") or 0)
    if version <= 0:
        failed = [g["message"] for g in gates if not g["passed"]]
        return RunResult(phase="Rejected", message="; ".join(failed), metrics=metrics, gates=gates, tuning=tuning)
    uri = outputs.get("model_uri", "")
    return RunResult(phase="Succeeded", message=f"registered {uri}", metrics=metrics, gates=gates,
                     model={"uri": uri, "version": version, "sha256": outputs.get("model_sha256") or None},
                     tuning=tuning)
