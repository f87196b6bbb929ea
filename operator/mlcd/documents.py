"""Reading resource files: YAML streams of TrainingRun and ModelDeployment documents."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from mlcd.api.v1alpha1.validation import Problem, Validated, validate_document


@dataclass(frozen=True)
class Loaded:
    file: str
    index: int
    validated: Validated

    def problems(self) -> list[str]:
        where = self.file if self.index == 0 else f"{self.file}[{self.index}]"
        return [f"{where}: {p}" for p in self.validated.problems]


def load_file(path: str | Path) -> list[Loaded]:
    """Every document of a file, validated; unreadable or malformed YAML is a problem, not a crash."""
    name = str(path)
    try:
        text = Path(path).read_text()
    except OSError as exc:
        return [_failed(name, f"cannot read the file: {exc.strerror or exc}")]
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        return [_failed(name, f"malformed YAML{where}: {problem}")]
    if not docs:
        return [_failed(name, "the file holds no document")]
    return [Loaded(name, i, validate_document(doc)) for i, doc in enumerate(docs)]


def _failed(name: str, message: str) -> Loaded:
    return Loaded(name, 0, Validated(None, [Problem("(file)", message)]))
