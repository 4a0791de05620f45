"""Two shape rules for stacks/, components/ and automation/: no function longer than 80
lines, and imports at the top of each module, except a deferred heavy import that says why in
a comment on its line or in the few lines above it (one comment may cover a short block)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("stacks", "components", "automation")
MAX_LINES = 80


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


def _functions(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node


def long_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    out = []
    for fn in _functions(tree):
        assert fn.end_lineno is not None
        length = fn.end_lineno - fn.lineno + 1
        if length > MAX_LINES:
            out.append(f"{path.relative_to(ROOT)}:{fn.lineno} {fn.name} ({length} lines)")
    return out


def unexplained_local_imports(path: Path) -> list[str]:
    lines = path.read_text().splitlines()
    tree = ast.parse("\n".join(lines))
    out = []
    for fn in _functions(tree):
        for node in ast.walk(fn):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            here = lines[node.lineno - 1]
            above = [ln.strip() for ln in lines[max(fn.lineno, node.lineno - 5) : node.lineno - 1]]
            if "#" not in here and not any(ln.startswith("#") for ln in above):
                out.append(f"{path.relative_to(ROOT)}:{node.lineno} {here.strip()}")
    return out


def test_no_function_is_longer_than_80_lines() -> None:
    assert [f for p in _modules() for f in long_functions(p)] == []


def test_function_local_imports_say_why() -> None:
    assert [i for p in _modules() for i in unexplained_local_imports(p)] == []


def test_the_checks_catch_what_they_look_for(tmp_path: Path) -> None:
    """Both checks fire on a module written to break them (so a green run means something)."""
    body = "\n".join(f"    x{i} = {i}" for i in range(80))
    bad = tmp_path / "bad.py"
    bad.write_text(f"def f():\n    import json\n{body}\n")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        assert long_functions(bad) == ["bad.py:1 f (82 lines)"]
        assert unexplained_local_imports(bad) == ["bad.py:2 import json"]
    finally:
        ROOT = saved
