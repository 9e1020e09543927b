"""Each worker imports only what Lambda will give its function (devkit/packages.py, devkit/sandbox/imports.py).

Lambda's Python runtime includes the SDK for Python, boto3 ("Building Lambda functions with Python" in
the AWS Lambda developer guide; versions under "Runtime-included SDK versions" on its "Lambda
runtimes" page); everything else comes from the function's package ("Working with .zip file archives
for Python": the function's code and the dependencies installed next to it). A module that is in
neither raises `ModuleNotFoundError: No module named '...'`, and Lambda reports it as
`Runtime.ImportModuleError`. Which packages boto3 brings is boto3's own metadata; the exact list on
each runtime is AWS's to change.
"""

import json

import pytest

from devkit import packages
from devkit.manifest import load
from tests.support.sandbox import RunningSandbox, copy_fixture, wait_until


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    running = RunningSandbox(copy_fixture("packages", tmp_path_factory.mktemp("app")))
    try:
        yield running
    finally:
        running.stop()


def ask(sandbox, path: str) -> dict:
    status, _, body = sandbox.get(path)
    assert status == 200, body
    return json.loads(body)


def test_the_runtimes_sdk_is_boto3_and_its_dependencies_as_boto3s_metadata_says():
    """Guards RUNTIME_DISTRIBUTIONS against a boto3 release that adds or drops a dependency."""
    from packaging.requirements import Requirement

    found, missing = packages.closure([Requirement("boto3")])
    assert set(found) == set(packages.RUNTIME_DISTRIBUTIONS) and not missing


def test_a_function_without_requirements_imports_the_runtimes_boto3(sandbox):
    assert ask(sandbox, "/runtime")["others"] == ["dateutil", "jmespath"]


def test_a_declared_package_keeps_the_copy_the_preloaded_parent_loaded(sandbox):
    declared = ask(sandbox, "/declared")
    assert declared["logger"] == "Logger"
    assert declared["preloaded"], "Powertools was already loaded in the forked worker: its import cost nothing"
    assert declared["ppid"] != sandbox.process.pid, "forked from the preloaded parent"


def test_an_undeclared_package_fails_to_import_and_one_line_names_the_requirements_file(sandbox):
    status, _, body = sandbox.get("/undeclared")
    assert status == 500
    assert b"Runtime.ImportModuleError: No module named &#x27;aws_lambda_powertools&#x27;" in body
    sandbox.wait_for_output(
        "http-get-undeclared | ModuleNotFoundError: aws_lambda_powertools is installed here but "
        "not in this function's package, so Lambda will not have it: add aws-lambda-powertools to "
        "src/http/get-undeclared/requirements.txt"
    )


def test_a_forked_worker_cannot_reach_what_the_parent_preloaded_for_other_functions(sandbox):
    probe = ask(sandbox, "/probe")
    assert probe["ppid"] != sandbox.process.pid, "forked from the preloaded parent, which loaded both"
    # boto3 is not asked about: whether the parent had loaded it depends on whether this worker was
    # forked before or after the staged preload's second stage (test_a_function_without_requirements... reaches it)
    assert {name: probe["before"][name] for name in ("aws_lambda_powertools", "jinja2")} == {"aws_lambda_powertools": False, "jinja2": False}
    assert probe["failures"] == {"aws_lambda_powertools": "No module named 'aws_lambda_powertools'", "jinja2": "No module named 'jinja2'"}
    sandbox.wait_for_output("add jinja2 to src/http/get-probe/requirements.txt")


def test_a_declared_package_brings_its_dependencies(sandbox):
    assert ask(sandbox, "/dependency")["escaped"] == "&lt;b&gt;"


def test_a_package_in_the_functions_own_folder_is_importable(sandbox):
    assert ask(sandbox, "/vendored")["vendored"] == "tinylib"


PROBE = """
import sys, sysconfig
sys.path.insert(0, {kit!r})
import imports
imports.restrict({{"boto3"}}, {task!r}, "src/http/get-x/requirements.txt")
for where, name in ((sysconfig.get_paths()["purelib"] + "/some_library.py", "jinja2"), ({task!r} + "/index.py", "markupsafe")):
    try:
        exec(compile("import " + name, where, "exec"))
    except ModuleNotFoundError as error:
        print(where.rsplit("/", 1)[1], error)
"""


def test_only_the_functions_own_code_gets_the_line_not_a_library_probing_for_an_optional_module(tmp_path):
    """A library's optional import (`try: import x`) fails quietly, as on Lambda; the function's own
    import of an undeclared package gets the line. Both fail the same way."""
    import subprocess
    import sys

    from tests.support.repo import ROOT

    code = PROBE.format(kit=str(ROOT / "devkit/sandbox"), task=str(tmp_path))
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.stdout.splitlines() == ["some_library.py No module named 'jinja2'", "index.py No module named 'markupsafe'"]
    assert result.stderr.splitlines() == [
        "ModuleNotFoundError: markupsafe is installed here but not in this function's package, so Lambda will not "
        "have it: add markupsafe to src/http/get-x/requirements.txt"
    ]


def test_adding_the_requirement_applies_on_the_next_request(sandbox):
    folder = sandbox.app_dir / "src/http/get-undeclared"
    (folder / "requirements.txt").write_text("aws-lambda-powertools>=3.0,<4\n")
    wait_until(lambda: sandbox.get("/undeclared")[0] == 200, 10, "the declared package to be importable")


def test_every_import_of_the_apps_own_functions_is_declared_or_the_runtimes():
    """The starter's functions and src/shared: each third-party module they import (anywhere in the
    file, also inside a function) is the runtime's or in the function's requirements.txt."""
    import ast
    import sys

    from tests.support.repo import ROOT

    app = load(ROOT / "app.arc")
    shared = {n for p in app.shared_dir.rglob("*.py") for n in _imports(ast.parse(p.read_text()))}
    for function in app.functions:
        own = {p.stem for p in function.source_dir.iterdir()}
        used = shared | {n for p in function.source_dir.rglob("*.py") for n in _imports(ast.parse(p.read_text()))}
        undeclared = used - set(sys.stdlib_module_names) - own - {"shared"} - packages.importable(app, function)
        assert not undeclared, f"{function.id} imports {undeclared}"


def _imports(tree) -> set[str]:
    import ast

    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.partition(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level:
            names.add((node.module or "").partition(".")[0])
    return names
