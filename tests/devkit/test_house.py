"""The house rules of issue 20 that a change could quietly break: each module of the kit keeps to one
job (none over 500 lines), and tests share helpers through tests/support, never through each other."""

import ast

from tests.support.repo import ROOT

KIT_MODULE_LINES = 500


def test_no_module_of_the_kit_is_over_500_lines():
    long = {str(p.relative_to(ROOT)): n for p in (ROOT / "devkit").rglob("*.py") if (n := len(p.read_text().splitlines())) > KIT_MODULE_LINES}
    assert long == {}


def test_no_test_module_imports_another_test_module_or_a_conftest():
    """Helpers live in tests/support (the kit's) or tests/app/support.py (the app's); fixtures in conftests."""
    found = []
    for path in (ROOT / "tests").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                last = name.rsplit(".", 1)[-1]
                if name.startswith("tests.") and (last.startswith("test_") or last == "conftest"):
                    found.append(f"{path.relative_to(ROOT)}: {name}")
    assert found == []
