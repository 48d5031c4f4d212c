"""Reading workflow files: YAML with the file and line of every key, ``extends`` and the
merge (mappings key by key, a list replaces a list, ``null`` removes a key), and the
problems found, each with its file, line and key."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

WORKFLOWS_DIR = Path(os.environ.get("CASEWORK_WORKFLOWS", Path(__file__).resolve().parent.parent.parent / "workflows"))
Path_ = tuple[Any, ...]


# -- errors -------------------------------------------------------------------


@dataclass(frozen=True)
class WorkflowProblem:
    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.key}: {self.message}" if self.key else f"{self.file}:{self.line}: {self.message}"


class WorkflowError(ValueError):
    def __init__(self, problems: list[WorkflowProblem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


# -- YAML with line numbers ---------------------------------------------------


class _Located:
    """Where each key of a loaded file came from: path -> (file, line)."""

    def __init__(self) -> None:
        self.where: dict[Path_, tuple[str, int]] = {}

    def lookup(self, path: Path_) -> tuple[str, int]:
        path = tuple(path)
        while path:
            if path in self.where:
                return self.where[path]
            path = path[:-1]
        return self.where.get((), ("?", 1))


# libyaml reads a file in a tenth of the time, with the same nodes and line numbers (pure Python if absent).
_COMPOSER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

def _load_yaml(path: Path, located: _Located) -> dict:
    name = _display(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise WorkflowError([WorkflowProblem(name, 0, "", f"cannot read the workflow file: {exc.strerror}")]) from None
    try:
        node = yaml.compose(text, Loader=_COMPOSER)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 0
        raise WorkflowError([WorkflowProblem(name, line, "", f"not valid YAML: {getattr(exc, 'problem', exc)}")]) from None
    if node is None:
        raise WorkflowError([WorkflowProblem(name, 1, "", "the file is empty")])
    problems: list[WorkflowProblem] = []
    data = _construct(node, (), name, located, problems)
    if problems:
        raise WorkflowError(problems)
    if not isinstance(data, dict):
        raise WorkflowError([WorkflowProblem(name, 1, "", "a workflow file is a mapping of keys")])
    located.where[()] = (name, 1)
    return data


def _construct(node, path: Path_, name: str, located: _Located, problems: list[WorkflowProblem]):
    if isinstance(node, yaml.MappingNode):
        out: dict = {}
        for knode, vnode in node.value:
            key = knode.value
            if key in out:
                problems.append(WorkflowProblem(name, knode.start_mark.line + 1, _dotted(path + (key,)), "key appears twice"))
                continue
            located.where[path + (key,)] = (name, knode.start_mark.line + 1)
            out[key] = _construct(vnode, path + (key,), name, located, problems)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            located.where[path + (i,)] = (name, item.start_mark.line + 1)
            items.append(_construct(item, path + (i,), name, located, problems))
        return items
    return _scalar(node)


def _scalar(node: yaml.ScalarNode):
    loader = yaml.SafeLoader("")
    value = loader.construct_object(node)
    loader.dispose()
    # Times like 09:20 must stay text: YAML 1.1 would read them as sexagesimal numbers.
    if isinstance(value, int) and ":" in node.value:
        return node.value
    return value


def _dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path)


def _display(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _merge(base: Any, over: Any, path: Path_, base_loc: _Located, over_loc: _Located, out_loc: _Located) -> Any:
    if isinstance(base, dict) and isinstance(over, dict):
        merged = {}
        for k, v in base.items():
            if k in over:
                continue
            merged[k] = v
            _copy_where(base_loc, out_loc, path + (k,))
        for k, v in over.items():
            if v is None and k in base:
                continue  # null removes an inherited key
            if k in base:
                merged[k] = _merge(base[k], v, path + (k,), base_loc, over_loc, out_loc)
                out_loc.where[path + (k,)] = over_loc.where.get(path + (k,), out_loc.lookup(path))
            else:
                merged[k] = v
                _copy_where(over_loc, out_loc, path + (k,))
        return merged
    _copy_where(over_loc, out_loc, path)
    return copy.deepcopy(over)


def _copy_where(src: _Located, dst: _Located, prefix: Path_) -> None:
    n = len(prefix)
    for p, w in src.where.items():
        if p[:n] == prefix:
            dst.where[p] = w


def resolve(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    candidate = WORKFLOWS_DIR / f"{name_or_path}.yaml"
    if candidate.exists():
        return candidate
    if p.exists():
        return p
    raise WorkflowError([WorkflowProblem(str(name_or_path), 0, "", f"no workflow file {name_or_path!r} (looked in {WORKFLOWS_DIR})")])


def load_raw(path: Path, _seen: tuple[Path, ...] = ()) -> tuple[dict, _Located]:
    """A workflow file with everything it extends merged in, and where each key came from."""
    path = path.resolve()
    if path in _seen:
        raise WorkflowError([WorkflowProblem(_display(path), 1, "extends", "the workflow extends itself (a loop)")])
    located = _Located()
    data = _load_yaml(path, located)
    parent = data.pop("extends", None)
    if parent is None:
        return data, located
    if not isinstance(parent, str):
        file, line = located.lookup(("extends",))
        raise WorkflowError([WorkflowProblem(file, line, "extends", "name one workflow file to extend")])
    try:
        parent_path = resolve(parent) if not (path.parent / f"{parent}.yaml").exists() else path.parent / f"{parent}.yaml"
    except WorkflowError:
        file, line = located.lookup(("extends",))
        raise WorkflowError([WorkflowProblem(file, line, "extends", f"no workflow {parent!r} to extend")]) from None
    base, base_loc = load_raw(parent_path, _seen + (path,))
    out = _Located()
    merged = _merge(base, data, (), base_loc, located, out)
    out.where[()] = located.where[()]
    return merged, out


