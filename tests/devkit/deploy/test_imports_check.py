"""Deploy imports each handler from its zip plus the runtime's SDK only, before anything reaches AWS
(devkit/deploy/imports_check.py), on the packages fixture app.

Lambda runs a Python function with its zip's contents and the runtime's boto3 ("Building Lambda
functions with Python" and "Working with .zip file archives for Python" in the AWS Lambda developer
guide); a module in neither fails the function's init with `Runtime.ImportModuleError`. What the mock
installer below cannot show: packages built for Lambda's platform (compiled parts for arm64 and its
Python); tests/devkit/deploy/test_command.py's dry run on the starter app uses real pip for that.
"""

import os
import shutil
import subprocess
import sys

import pytest

from devkit import manifest as manifest_module
from devkit import packages
from devkit.deploy import imports_check, package
from tests.support.deploy import AWS_VARIABLES
from tests.support.repo import ROOT
from tests.support.sandbox import copy_fixture

UNDECLARED = (
    "error: src/http/get-undeclared/index.py:3: missing package aws_lambda_powertools: add aws-lambda-powertools to src/http/get-undeclared/requirements.txt"
)


def local_pip(requirements, platform, target) -> None:
    """Installs the requirements (and their dependencies) by copying this environment's files of them:
    the same pure-Python code pip would fetch, without the network."""
    found, missing = packages.closure(packages.declared(requirements.read_text()))
    assert not missing
    for distribution in found.values():
        base = distribution.locate_file("")
        for file in distribution.files or ():
            source = base / file
            if file.parts[0] not in ("..", "bin") and source.is_file():
                (target / file).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, target / file)


def only_routes(app_dir, *routes: str) -> None:
    """Keep only `routes` under @http in the copy's app.arc."""
    arc = app_dir / "app.arc"
    lines = [line for line in arc.read_text().splitlines() if not line.startswith("get /") or line.split()[1] in routes]
    arc.write_text("\n".join(lines) + "\n")


def test_dry_run_stops_on_a_handler_importing_an_undeclared_package(tmp_path):
    """The real command, as `make dry-run` runs it: one line naming the file, the package and the
    requirements.txt to add it to; status 1; no template written."""
    app = copy_fixture("packages", tmp_path)
    only_routes(app, "/runtime", "/undeclared", "/probe", "/vendored")  # none needs pip
    env = {k: v for k, v in os.environ.items() if k not in AWS_VARIABLES}
    env["DEVKIT_BUILD_DIR"] = str(tmp_path / "build")
    result = subprocess.run(
        [sys.executable, "-m", "devkit", "--app", str(app / "app.arc"), "deploy", "--stage", "staging", "--dry-run"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr.strip().splitlines() == [UNDECLARED]
    assert not (tmp_path / "build/template.json").exists() and "Dry run" not in result.stdout


def test_declared_packages_their_dependencies_the_runtime_and_own_folder_pass(tmp_path):
    app_dir = copy_fixture("packages", tmp_path)
    only_routes(app_dir, "/runtime", "/declared", "/dependency", "/vendored", "/probe")
    app = manifest_module.load(app_dir / "app.arc")
    warnings: list[str] = []
    built = package.build_all(app, tmp_path / "build", installer=local_pip)
    assert imports_check.check(app, built, progress=warnings.append) == []
    assert warnings == []


def test_an_undeclared_import_in_a_vendored_package_names_that_file(tmp_path):
    app_dir = copy_fixture("packages", tmp_path)
    only_routes(app_dir, "/vendored")
    (app_dir / "src/http/get-vendored/tinylib/__init__.py").write_text('NAME = "tinylib"\nimport markupsafe\n')
    app = manifest_module.load(app_dir / "app.arc")
    built = package.build_all(app, tmp_path / "build", installer=local_pip)
    assert imports_check.check(app, built) == [
        "src/http/get-vendored/tinylib/__init__.py:2: missing package markupsafe: add markupsafe to src/http/get-vendored/requirements.txt"
    ]


def test_the_runtime_folder_holds_boto3_and_its_dependencies_only(tmp_path):
    """The probe's interpreter is clean (-I -S): the kit's environment, where Powertools is installed,
    is not on its path; this folder of links is, beside the unpacked zip."""
    runtime = packages.runtime_folder(tmp_path / "runtime")
    assert sorted(p.name for p in runtime.iterdir()) == ["boto3", "botocore", "dateutil", "jmespath", "s3transfer", "six.py", "urllib3"]


def test_a_failure_other_than_a_missing_package_is_a_warning_not_a_stop(tmp_path):
    """An import-time error may come from this machine (a setting only the deployed function has, a
    module compiled for Lambda's platform), so it is said, and the deploy goes on."""
    app_dir = copy_fixture("packages", tmp_path)
    only_routes(app_dir, "/runtime")
    (app_dir / "src/http/get-runtime/index.py").write_text("import os\nSECRET = os.environ['ONLY_ON_AWS']\n")
    app = manifest_module.load(app_dir / "app.arc")
    warnings: list[str] = []
    built = package.build_all(app, tmp_path / "build", installer=local_pip)
    assert imports_check.check(app, built, progress=warnings.append) == []
    assert warnings == ["warning: http-get-runtime could not be import-checked here: index.py:2: KeyError: 'ONLY_ON_AWS'"]


@pytest.mark.parametrize("route", ["/runtime", "/declared"])
def test_no_aws_call_leaves_the_machine_while_importing(tmp_path, route):
    """A handler that calls AWS at import time reaches an address that refuses at once."""
    app_dir = copy_fixture("packages", tmp_path)
    only_routes(app_dir, route)
    folder = app_dir / "src/http" / ("get-" + route.strip("/"))
    (folder / "index.py").write_text("import boto3\nboto3.client('sts').get_caller_identity()\n")
    app = manifest_module.load(app_dir / "app.arc")
    warnings: list[str] = []
    built = package.build_all(app, tmp_path / "build", installer=local_pip)
    assert imports_check.check(app, built, progress=warnings.append) == []
    assert len(warnings) == 1 and "EndpointConnectionError" in warnings[0] and "127.0.0.1:9" in warnings[0]
