"""Every submodule our code uses is imported by the module that uses it.

`import importlib` then `importlib.util.find_spec(...)` works only if someone else imported
`importlib.util` first: pytest does, the installed console script does not (issue #14). This test
reads every source module's syntax tree and flags `pkg.sub.…` used through a plain `import pkg`
where `pkg.sub` is a submodule that the file never imports itself.
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(p for folder in ("agent", "checks", "exporters", "alerts", "reports") for p in (ROOT / folder).rglob("*.py"))
# os.path is bound by `os` itself (documented), not by an import side effect.
ALWAYS_BOUND = {"os.path"}


def _is_submodule(name: str) -> bool:
    parent = name.rpartition(".")[0]
    try:
        parent_spec = importlib.util.find_spec(parent)
        if parent_spec is None or parent_spec.submodule_search_locations is None:
            return False  # not a package: an attribute, not a submodule
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def missing_imports(source: str) -> list[tuple[int, str]]:
    """(line, dotted name) of submodules used through a parent bound by `import parent` only."""
    tree = ast.parse(source)
    imported: set[str] = set()
    bound: dict[str, str] = {}  # local name -> module it is bound to by `import X[.Y]`
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                imported.update(".".join(parts[: i + 1]) for i in range(len(parts)))
                if alias.asname:
                    bound[alias.asname] = alias.name
                else:
                    bound.setdefault(parts[0], parts[0])
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            parts = node.module.split(".")
            imported.update(".".join(parts[: i + 1]) for i in range(len(parts)))
            imported.update(f"{node.module}.{a.name}" for a in node.names)
    problems: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        chain: list[str] = []
        cur: ast.expr = node
        while isinstance(cur, ast.Attribute):
            chain.append(cur.attr)
            cur = cur.value
        if not isinstance(cur, ast.Name) or cur.id not in bound:
            continue
        dotted = bound[cur.id]
        for attr in reversed(chain):  # from the name outwards: pkg.sub.subsub.attr
            candidate = f"{dotted}.{attr}"
            if candidate in imported or candidate in ALWAYS_BOUND:
                dotted = candidate
                continue
            if _is_submodule(candidate):
                problems.append((node.lineno, candidate))
            break
    return sorted(set(problems))


def test_detects_the_importlib_util_bug() -> None:
    assert missing_imports("import importlib\nimportlib.util.find_spec('x')\n") == [(2, "importlib.util")]
    assert missing_imports("import importlib.util\nimportlib.util.find_spec('x')\n") == []
    assert missing_imports("import concurrent\nconcurrent.futures.Future()\n") == [(2, "concurrent.futures")]
    assert missing_imports("import xml.etree.ElementTree as ET\nET.fromstring('<a/>')\n") == []
    assert missing_imports("import os\nos.path.join('a')\n") == []
    assert missing_imports("import logging\nlogging.handlers.RotatingFileHandler\n") == [(2, "logging.handlers")]
    assert missing_imports("import email\nemail.utils.formatdate()\n") == [(2, "email.utils")]
    assert missing_imports("import urllib\nurllib.parse.quote('x')\n") == [(2, "urllib.parse")]
    assert missing_imports("import urllib.parse\nurllib.parse.quote('x')\n") == []


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_imports_what_it_uses(path: Path) -> None:
    problems = missing_imports(path.read_text(encoding="utf-8"))
    assert not problems, "; ".join(f"{path.relative_to(ROOT)}:{line}: uses {name} without `import {name}`" for line, name in problems)
