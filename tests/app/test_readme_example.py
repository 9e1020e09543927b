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
    section = readme[readme.index("## Testing your app") :]
    conftest, tests = re.findall(r"```python\n(.*?)```", section, re.DOTALL)[:2]
    return conftest, tests


def run_in_copy(tmp_path, files: dict[str, str]) -> subprocess.CompletedProcess:
    """A copy of the app with the example's conftest line and `files` under tests/app/, run by pytest."""
    app = tmp_path / "app"
    app.mkdir()
    for name in ("app.arc", "smoke.json"):
        shutil.copy(ROOT / name, app / name)
    for folder in ("src", "public"):
        shutil.copytree(ROOT / folder, app / folder, ignore=shutil.ignore_patterns("__pycache__"))
    conftest, _ = readme_example()
    (app / "tests" / "app").mkdir(parents=True)
    (app / "tests" / "conftest.py").write_text(conftest)
    for name, text in files.items():
        (app / "tests" / "app" / name).write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=app,
        text=True,
        capture_output=True,
        timeout=240,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
    )


def test_the_readme_example_passes_in_a_copy_of_the_app_and_fails_readably_when_a_reply_changes(tmp_path):
    """One run (one sandbox): the example as written, and a copy whose expected echo is changed."""
    conftest, tests = readme_example()
    assert conftest.strip().splitlines()[-1] == 'pytest_plugins = ["devkit.testing"]'
    changed = tests.replace('" - Echoing hi"', '" - Echoing hi!"')
    assert changed != tests
    result = run_in_copy(tmp_path, {"test_chat.py": tests, "test_changed.py": changed})
    out = result.stdout
    assert re.search(r"\b1 failed, 9 passed\b", out), out
    assert "FAILED tests/app/test_changed.py::test_a_message_is_echoed" in out
    assert re.search(r"where False = <built-in method endswith of str object .*>\(' - Echoing hi!'\)", out), out
    assert re.search(r"socket 1 received .*\n'\{\"text\": \"\S+ - Echoing hi\"", out), out
