"""README.md's "Testing your app" example, run as a newcomer would: its two files in a copy of the app,
nothing else, under a pytest of their own. It passes, and fails readably when an expected reply changes."""

import re
import shutil
import subprocess
import sys

from tests.app.support import ROOT


def readme_example() -> tuple[str, str]:
    """The section's first two Python blocks: the conftest line and the test file."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Testing your app"):]
    conftest, tests = re.findall(r"```python\n(.*?)```", section, re.DOTALL)[:2]
    return conftest, tests


def run_in_copy(tmp_path, tests: str) -> subprocess.CompletedProcess:
    app = tmp_path / "app"
    app.mkdir()
    for name in ("app.arc", "smoke.json"):
        shutil.copy(ROOT / name, app / name)
    for folder in ("src", "public"):
        shutil.copytree(ROOT / folder, app / folder, ignore=shutil.ignore_patterns("__pycache__"))
    conftest, _ = readme_example()
    (app / "tests" / "app").mkdir(parents=True)
    (app / "tests" / "conftest.py").write_text(conftest)
    (app / "tests" / "app" / "test_chat.py").write_text(tests)
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"], cwd=app, text=True,
                          capture_output=True, timeout=240, env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                                                                 "HOME": str(tmp_path)})


def test_the_readme_example_passes_in_a_copy_of_the_app(tmp_path):
    conftest, tests = readme_example()
    assert conftest.strip().splitlines()[-1] == 'pytest_plugins = ["devkit.testing"]'
    result = run_in_copy(tmp_path, tests)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"\b5 passed\b", result.stdout), result.stdout


def test_the_example_fails_readably_when_an_expected_reply_changes(tmp_path):
    _, tests = readme_example()
    changed = tests.replace('" - Echoing hi"', '" - Echoing hi!"')
    assert changed != tests
    result = run_in_copy(tmp_path, changed)
    assert result.returncode == 1
    assert re.search(r"assert False\n.*where False = <built-in method endswith of str object .*>\(' - Echoing hi!'\)", result.stdout), result.stdout
    assert re.search(r"socket 1 received .*\n'\{\"text\": \"\S+ - Echoing hi\"\}'", result.stdout), result.stdout
