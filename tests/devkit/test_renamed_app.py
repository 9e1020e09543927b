"""The kit's tests do not ride on the starter app: in a copy of the repository whose app is renamed
(`@app`, the `broadcast` route, the `connections` table), a quick part of tests/devkit passes unchanged."""

import shutil
import subprocess
import sys

from tests.support.repo import ROOT

# Quick files of tests/devkit (no sandbox started, each in well under a minute) that once read the root app.arc
# or named its parts. The deploy and permission tests now run on tests/fixtures/relay, and the starter app's
# own manifest golden is in tests/app; a file that names the app's parts again fails here.
QUICK = [
    "tests/devkit/test_contract.py",
    "tests/devkit/test_manifest.py",
    "tests/devkit/test_permissions.py",
    "tests/devkit/deploy/test_static_handler.py",
    "tests/devkit/deploy/test_package.py",
    "tests/devkit/deploy/test_production_profile.py",
    "tests/devkit/deploy/test_production_cycle.py",
    "tests/devkit/deploy/test_command.py",
]
RENAMES = {  # file -> (old, new) pairs, applied to the copy
    "app.arc": [("\nmywsapp\n", "\nrenamedapp\n"), ("\nbroadcast ", "\nshout "), ("\nconnections\n", "\nmembers\n")],
    "src/ws/connect/config.arc": [("table connections", "table members")],
    "src/ws/disconnect/config.arc": [("table connections", "table members")],
    "src/ws/broadcast/config.arc": [("table connections", "table members")],
    "src/queues/deliver/config.arc": [("table connections", "table members")],
    "src/shared/connections.py": [('table_name("connections")', 'table_name("members")')],
    "smoke.json": [('"action": "broadcast"', '"action": "shout"')],
    "public/index.mjs": [("message.action = 'broadcast'", "message.action = 'shout'")],
}


def renamed_copy(destination):
    ignore = shutil.ignore_patterns(".venv", ".git", "build", "__pycache__", ".*_cache", "node_modules", "records")
    shutil.copytree(ROOT, destination, ignore=ignore, symlinks=True)
    for name, changes in RENAMES.items():
        path = destination / name
        text = path.read_text()
        for old, new in changes:
            assert old in text, f"{name} no longer holds {old!r}: update RENAMES"
            text = text.replace(old, new)
        path.write_text(text)
    (destination / "src/ws/broadcast").rename(destination / "src/ws/shout")
    return destination


def test_the_kits_quick_tests_pass_on_an_app_with_its_route_and_table_renamed(tmp_path):
    copy = renamed_copy(tmp_path / "repo")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *QUICK], cwd=copy, text=True, capture_output=True, timeout=300
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
