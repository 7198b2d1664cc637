"""Every test function checks something: an `assert`, `pytest.raises/fail/warns`, or a call
to a function (of its module, or imported from another test module) that does."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
CHECKS = {"raises", "fail", "warns"}
Func = ast.FunctionDef | ast.AsyncFunctionDef


def _functions(tree: ast.Module) -> dict[str, Func]:
    return {n.name: n for n in ast.walk(tree) if isinstance(n, Func)}


def _scopes(modules: dict[Path, ast.Module]) -> dict[Path, dict[str, Func]]:
    """The functions each module can call by name: its own and those it imports from tests/."""
    by_name = {".".join(p.relative_to(TESTS).with_suffix("").parts): p for p in modules}
    by_name.update({p.stem: p for p in modules})
    scopes = {}
    for path, tree in modules.items():
        names = _functions(tree)
        for node in tree.body:
            if isinstance(node, ast.ImportFrom) and node.module in by_name:
                theirs = _functions(modules[by_name[node.module]])
                names.update({a.asname or a.name: theirs[a.name] for a in node.names
                              if a.name in theirs})
        scopes[path] = names
    return scopes


def test_every_test_checks_something() -> None:
    modules = {p: ast.parse(p.read_text(encoding="utf-8")) for p in TESTS.rglob("*.py")}
    scopes = _scopes(modules)

    def checks(fn: Func, names: dict[str, Func], seen: set[int]) -> bool:
        seen.add(id(fn))
        for node in ast.walk(fn):
            if isinstance(node, ast.Assert):
                return True
            if not isinstance(node, ast.Call):
                continue
            f = node.func
            if (isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name)
                    and f.value.id == "pytest" and f.attr in CHECKS):
                return True
            callee = names.get(f.id) if isinstance(f, ast.Name) else None
            if callee is not None and id(callee) not in seen and checks(callee, names, seen):
                return True
        return False

    tests = [(path, fn) for path, tree in modules.items() if path.name.startswith("test_")
             for fn in ast.walk(tree) if isinstance(fn, Func) and fn.name.startswith("test_")]
    idle = [f"{path.relative_to(TESTS)}:{fn.lineno} {fn.name}" for path, fn in tests
            if not checks(fn, scopes[path], set())]
    assert len(tests) > 300 and idle == []
