"""Letters checked when a workflow is checked, not when a letter is printed.

For every letter a workflow names: its template must exist (the school's own folder,
then the national set), and every merge field it and the templates it extends or
includes use must be one casework fills for that letter. The fields a letter gets are
read from ``casework.letters.fields`` itself (the ``fields`` dict every letter gets, and
the ``f["..."]`` keys each letter's fact-finder adds), so this check cannot drift from
what printing does.
"""

from __future__ import annotations

import ast
import inspect
from functools import cache

from jinja2 import TemplateNotFound, meta

from casework.letters import fields as F
from casework.letters.render import environment, template_dirs
from casework.workflow import Workflow

# passed by render_html beside the fields; the certificate is attached when the letter asks for one
# (base.html reads it only under letter_def.certificate)
RENDER_NAMES = {"recipient", "letter_def", "certificate"}


@cache
def _field_names() -> tuple[frozenset[str], dict[str, frozenset[str]]]:
    tree = ast.parse(inspect.getsource(F))
    base: set[str] = set()
    added: dict[str, set[str]] = {}
    calls: dict[str, set[str]] = {}
    for fn in (n for n in tree.body if isinstance(n, ast.FunctionDef)):
        keys, called = set(), set()
        for node in ast.walk(fn):
            if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "fields" \
                    and isinstance(node.value, ast.Dict):
                base |= {k.value for k in node.value.keys if isinstance(k, ast.Constant)}
            if isinstance(node, ast.Assign):
                for t in node.targets:
                    if isinstance(t, ast.Subscript) and getattr(t.value, "id", "") == "f" \
                            and isinstance(t.slice, ast.Constant):
                        keys.add(t.slice.value)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                called.add(node.func.id)
        added[fn.name], calls[fn.name] = keys, called
    def reach(name: str, seen: set[str]) -> set[str]:  # keys a fact-finder adds, itself or through helpers
        if name in seen or name not in added:
            return set()
        seen.add(name)
        return added[name].union(*(reach(c, seen) for c in calls[name]))

    full = {name: frozenset(reach(name, set())) for name in added}
    return frozenset(base), full


def _used(env, name: str, seen: set[str]) -> set[str]:
    if name in seen:
        return set()
    seen.add(name)
    source = env.loader.get_source(env, name)[0]
    parsed = env.parse(source)
    used = set(meta.find_undeclared_variables(parsed))
    for child in meta.find_referenced_templates(parsed):
        if child:
            used |= _used(env, child, seen)
    return used


def letter_problems(workflow: Workflow) -> list[str]:
    """One line per problem: a missing template, or merge fields the letter does not get."""
    env = environment(workflow)
    base, per_builder = _field_names()
    problems = []
    for letter_id, ldef in workflow.model.letters.items():
        name = f"{ldef.template or letter_id}.html"
        try:
            used = _used(env, name, set())
        except TemplateNotFound as exc:
            where = ", ".join(str(d) for d in template_dirs(workflow))
            problems.append(f"letters.{letter_id}: no template {exc.name} (looked in {where})")
            continue
        builder = F.facts_for(letter_id, ldef)
        known = base | RENDER_NAMES | set(env.globals) | (per_builder.get(builder.__name__, frozenset()) if builder else set())
        unknown = sorted(used - known)
        if unknown:
            problems.append(f"letters.{letter_id}: template {name} uses merge field(s) casework does not fill "
                            f"for this letter: {', '.join(unknown)}")
    return problems
