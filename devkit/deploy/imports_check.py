"""Before anything reaches AWS: each function's zip imports its handler with only what Lambda gives it.

Each zip is unpacked and its handler module imported in a clean interpreter (`-I -S`) whose path is the
unpacked zip, a folder holding only the runtime's SDK (devkit/packages.py `runtime_folder`: this
environment's boto3, botocore and their dependencies) and the standard library
(devkit/deploy/import_probe.py). A module that is in neither is a missing package: one line
`file:line: missing package X: add <distribution> to <requirements.txt>`. Other import failures are
warnings: they may come from this machine rather than Lambda (a compiled module built for Lambda's
platform and Python, a setting only the deployed function has). Only import-time imports are seen; an
import inside a function body runs first on Lambda.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from devkit import contract, packages
from devkit.deploy.package import Package
from devkit.manifest import Function, Manifest

PROBE = Path(__file__).with_name("import_probe.py")
TIMEOUT_SECONDS = 60
UNREACHABLE = "http://127.0.0.1:9"  # any AWS call made while importing fails at once, never leaves the machine


def check(manifest: Manifest, built: Mapping[str, Package], progress: Callable[[str], None] = lambda line: None) -> list[str]:
    """The missing-package lines, one per built function that lacks one (empty: every handler imports);
    warnings go to `progress`."""
    with tempfile.TemporaryDirectory(prefix="devkit-imports-") as scratch:
        runtime = packages.runtime_folder(Path(scratch, "runtime"))
        with ThreadPoolExecutor(max_workers=2) as pool:
            outcomes = list(
                pool.map(lambda f: (f, _probe(manifest, f, built[f.id].path, Path(scratch), runtime)), [f for f in manifest.functions if f.id in built])
            )
    problems = []
    for function, outcome in outcomes:
        if "missing" in outcome:
            problems.append(
                f"{_source(manifest, function, outcome['file'])}:{outcome['line']}: missing package "
                f"{outcome['missing']}: add {packages.distribution_of(outcome['missing'])} to "
                f"{packages.requirements_path(manifest, function)}"
            )
        elif "warning" in outcome:
            progress(f"warning: {function.id} could not be import-checked here: {outcome['warning']}")
    return problems


def _probe(manifest: Manifest, function: Function, zip_path: Path, scratch: Path, runtime: Path) -> dict:
    folder = scratch / function.id
    with zipfile.ZipFile(zip_path) as archive:
        archive.extractall(folder)
    env = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "AWS_REGION": manifest.aws.region,
        "AWS_DEFAULT_REGION": manifest.aws.region,
        "AWS_ENDPOINT_URL": UNREACHABLE,
        "LAMBDA_TASK_ROOT": str(folder),
        "AWS_LAMBDA_FUNCTION_NAME": function.id,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory),
        **contract.DUMMY_CREDENTIALS,
        **contract.variables(
            manifest,
            "staging",
            wss_url="wss://example.invalid",
            allowed_origins="https://example.invalid",
            table_names={t.name: t.name for t in manifest.tables},
            secret_names={s: s for s in manifest.secrets},
            queue_urls={q.name: q.name for q in manifest.queues},
        ),
    }
    try:
        result = subprocess.run(
            [sys.executable, "-I", "-S", str(PROBE), str(folder), str(runtime), Path(function.handler_file).stem],
            env=env,
            capture_output=True,
            text=True,
            timeout=TIMEOUT_SECONDS,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        return {"warning": f"importing {function.handler_file} took over {TIMEOUT_SECONDS} s"}
    lines = result.stdout.strip().splitlines()
    try:
        return json.loads(lines[-1])
    except (IndexError, ValueError):
        return {
            "warning": f"importing {function.handler_file} ended the interpreter (status {result.returncode}): "
            f"{(result.stderr.strip().splitlines() or ['no output'])[-1]}"
        }


def _source(manifest: Manifest, function: Function, name: str) -> str:
    """Where a file of the zip comes from, relative to the app: the function's folder, src/shared, or
    (an installed requirement) the zip itself."""
    path = manifest.shared_dir / name.removeprefix("shared/") if name.startswith("shared/") else function.source_dir / name
    return str(path.relative_to(manifest.root)) if path.is_file() else f"{function.id}.zip:{name}"
