"""The importers' parsing is pure (DESIGN.md): no Flask, no SQLAlchemy, no other app module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import campaigns.fees.importers as importers

PACKAGE = "campaigns.fees.importers"
MODULES = sorted(Path(importers.__file__).parent.glob("*.py"))
ALLOWED_APP_MODULES = {"campaigns.codes", "campaigns.money"}


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, relative imports resolved against the package."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = PACKAGE.rsplit(".", node.level - 1)[0] if node.level > 1 else PACKAGE
                found.add(f"{base}.{node.module}" if node.module else base)
            else:
                found.add(node.module or "")
    return found


def test_all_parser_modules_are_checked():
    assert {path.name for path in MODULES} >= {
        "__init__.py", "preview.py", "csv_file.py", "xlsx.py", "pdf.py",
    }  # fmt: skip


@pytest.mark.parametrize("path", MODULES, ids=lambda path: path.name)
def test_parser_modules_import_neither_flask_nor_sqlalchemy(path):
    for module in imported_modules(path):
        top = module.split(".")[0]
        assert not top.startswith(("flask", "sqlalchemy", "werkzeug")), (path.name, module)
        if top == "campaigns":
            assert module in ALLOWED_APP_MODULES or module.startswith(PACKAGE), (path.name, module)
