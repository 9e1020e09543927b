"""Cold start of the deployed functions: each Lambda package's size and the time to `import index`.

The packages are the zips `python -m devkit deploy --stage staging --dry-run` writes under `build/`.
Each zip is unpacked into a fresh folder and imported in a fresh interpreter with `-B` (no bytecode
written, as on Lambda's read-only file system, so the package's own modules compile every time) and
the package folder first on `sys.path`; boto3, which Lambda's runtime provides, comes from this venv.
`import_ms` is the import alone; `process_ms` the whole interpreter run. One `-X importtime` run names
the slowest imports under `index`, the first place to look when a package misses its target.
The local interpreter and CPU stand in for Lambda's: the figures compare packages, not platforms.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bench import stats

DRY_RUN_TIMEOUT_S = 300
IMPORT_TIMEOUT_S = 60
_TIMED_IMPORT = "import sys, time\nsys.path.insert(0, '.')\nstarted = time.perf_counter()\nimport index\nprint(time.perf_counter() - started)\n"


class Skipped(RuntimeError):
    """Cold start cannot be measured; the message says why."""


def build_packages(repo_root: Path) -> list[Path]:
    """Run the deploy dry run and return the zips it wrote under build/ (sorted); raises Skipped."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "devkit", "deploy", "--stage", "staging", "--dry-run"],
            cwd=repo_root,
            capture_output=True,
            text=True,
            timeout=DRY_RUN_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise Skipped(f"the deploy dry run did not finish within {DRY_RUN_TIMEOUT_S} s") from None
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise Skipped(f"the deploy dry run failed ({done.returncode}):\n{tail}")
    zips = sorted((repo_root / "build").rglob("*.zip"))
    if not zips:
        raise Skipped("the deploy dry run wrote no .zip under build/")
    return zips


def _handler_dir(root: Path) -> Path | None:
    """The folder holding the package's `index.py` (the zip's root, normally)."""
    candidates = sorted(root.rglob("index.py"), key=lambda p: len(p.parts))
    return candidates[0].parent if candidates else None


def _environment() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "ARC_", "AWS_"))}
    env.update({"PYTHONDONTWRITEBYTECODE": "1", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1"})
    return env


def top_imports(stderr: str, limit: int = 5) -> list[dict]:
    """The slowest imports under the handler in `-X importtime` output: modules that `index` imports
    and what those import (two levels), by cumulative time: `[{"module", "cumulative_ms"}]`."""
    found: list[dict[str, Any]] = []
    for line in stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        depth = (len(name) - len(name.lstrip(" ")) - 1) // 2
        if not cumulative.strip().isdigit() or not 1 <= depth <= 2:
            continue
        found.append({"module": name.strip(), "cumulative_ms": int(cumulative) / 1000})
    return sorted(found, key=lambda item: -item["cumulative_ms"])[:limit]


def measure_package(zip_path: Path, runs: int) -> dict:
    """Sizes and cold import times of one package (`runs` fresh interpreters)."""
    with zipfile.ZipFile(zip_path) as archive:
        unzipped = sum(info.file_size for info in archive.infolist())
        files = len(archive.infolist())
        with tempfile.TemporaryDirectory(prefix="devkit-bench-cold-") as scratch:
            archive.extractall(scratch)
            result = {"name": zip_path.stem, "zip": str(zip_path), "zip_bytes": zip_path.stat().st_size, "unzipped_bytes": unzipped, "files": files}
            where = _handler_dir(Path(scratch))
            if where is None:
                return result | {"error": "no index.py in the package"}
            import_ms, process_ms = [], []
            for _ in range(runs):
                started = time.perf_counter()
                done = subprocess.run(
                    [sys.executable, "-B", "-c", _TIMED_IMPORT], cwd=where, env=_environment(), capture_output=True, text=True, timeout=IMPORT_TIMEOUT_S
                )
                process_ms.append((time.perf_counter() - started) * 1000)
                if done.returncode != 0:
                    return result | {"error": "import index failed: " + done.stderr.strip().splitlines()[-1][:300]}
                import_ms.append(float(done.stdout.strip().splitlines()[-1]) * 1000)
            profile = subprocess.run(
                [sys.executable, "-B", "-X", "importtime", "-c", "import index"],
                cwd=where,
                env=_environment(),
                capture_output=True,
                text=True,
                timeout=IMPORT_TIMEOUT_S,
            )
    return result | {
        "import_ms": import_ms,
        "import_p50_ms": stats.median(import_ms),
        "process_p50_ms": stats.median(process_ms),
        "slowest_imports": top_imports(profile.stderr),
    }
