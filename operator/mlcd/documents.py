"""Reading resource files: YAML streams of TrainingRun and ModelDeployment documents.

A file is input from anyone, so reading it is bounded: its size, its nesting, and how far
its aliases expand are all limited before anything else looks at it, and a key written
twice is an error rather than a value that silently wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml
from yaml.composer import ComposerError
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, Node, SequenceNode

from mlcd.api.v1alpha1.validation import MAX_DEPTH, Problem, Validated, validate_document

MAX_FILE_BYTES = 1 << 20
# Aliases may repeat what is written, within reason: an alias bomb of a few hundred bytes
# otherwise expands to gigabytes in whatever walks the data next (validation, compilation).
MAX_ALIAS_GROWTH = 10
MAX_NODES = 1_000_000
_SMALL = 10_000


class FileError(Exception):
    """Why a file cannot be read as resources; the message is for a person."""


@dataclass(frozen=True)
class Loaded:
    file: str
    index: int
    validated: Validated

    def problems(self) -> list[str]:
        where = self.file if self.index == 0 else f"{self.file}[{self.index}]"
        return [f"{where}: {p}" for p in self.validated.problems]


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys and nesting deeper than MAX_DEPTH."""

    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node, deep=False):
        if isinstance(node, MappingNode):
            seen: dict = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node)
                except TypeError:  # an unhashable key: the constructor below says so
                    continue
                if first is not key_node:
                    raise ConstructorError(
                        "while constructing a mapping", node.start_mark,
                        f"duplicate key {key!r} (first at line {first.start_mark.line + 1})", key_node.start_mark)
        return super().construct_mapping(node, deep=deep)


def _expanded_size(root: Node) -> tuple[int, int]:
    """(written, expanded): nodes as written, and as aliases expand them. FileError on a cycle."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    stack: list[tuple[Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            active.discard(key)
            sizes[key] = min(MAX_NODES + 1, 1 + sum(sizes[id(c)] for c in _children(node)))
            continue
        if key in sizes:
            continue
        if key in active:
            raise FileError("an alias refers to a node that contains it (a recursive structure)")
        active.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    return len(sizes), sizes[id(root)]


def _children(node: Node) -> list[Node]:
    if isinstance(node, SequenceNode):
        return list(node.value)
    if isinstance(node, MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def read_documents(path: str | Path) -> list:
    """The documents of a file; FileError says why there are none to read."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise FileError(f"cannot read the file: {exc.strerror or exc}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise FileError(f"larger than the {MAX_FILE_BYTES // 1024} KiB a resource file may be")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FileError(f"not UTF-8 text: byte 0x{raw[exc.start]:02x} at offset {exc.start}") from None
    if "\x00" in text:
        raise FileError("not a text file: it holds NUL bytes")
    loader = _BoundedLoader(text)
    try:
        docs = []
        while loader.check_node():
            node = loader.get_node()
            written, expanded = _expanded_size(node)
            if expanded > MAX_NODES or (expanded > _SMALL and expanded > MAX_ALIAS_GROWTH * written):
                raise FileError(f"its aliases expand {written} written values to more than "
                                f"{min(expanded, MAX_NODES)}; refused as an alias bomb")
            docs.append(loader.construct_document(node))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise FileError(f"malformed YAML{where}: {problem}") from None
    finally:
        loader.dispose()
    return [d for d in docs if d is not None]


def load_file(path: str | Path) -> list[Loaded]:
    """Every document of a file, validated; a file that cannot be read is a problem, not a crash."""
    name = str(path)
    try:
        docs = read_documents(path)
    except FileError as exc:
        return [_failed(name, str(exc))]
    if not docs:
        return [_failed(name, "the file holds no document")]
    return [Loaded(name, i, validate_document(doc)) for i, doc in enumerate(docs)]


def _failed(name: str, message: str) -> Loaded:
    return Loaded(name, 0, Validated(None, [Problem("", message)]))
