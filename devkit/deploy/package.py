"""Reproducible Lambda packages: one zip per function, the same bytes for the same input.

A function's zip holds, at its root: the function folder (handler, templates, ...), `src/shared/` as the
package `shared/`, and its requirements installed for the Lambda platform of its runtime and
architecture (`pip install --platform ... --only-binary=:all: --target`), never for this machine. The
requirements are the function's `requirements.txt` plus `src/shared/requirements.txt` when present
(packages every function needs, e.g. aws-lambda-powertools). The generated static function's zip holds
`static_handler.py` as `index.py` and the app's `public/` folder.

Entries are sorted, dated 1980-01-01 and mode 0644, so an unchanged function gives an unchanged zip and
an unchanged S3 key (`<app>/<function id>/<sha256>.zip`), and CloudFormation leaves it alone. Installed
requirements are cached under `<build>/requirements/<hash of requirements + platform>/`; delete that
folder (or `make clean`) to pick up newer releases within the declared ranges.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from devkit import packages, public
from devkit.deploy.template import STATIC_ID, has_static
from devkit.manifest import Function, Manifest

ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold
FILE_MODE = 0o100644  # regular file, rw-r--r--
CACHE_FORMAT = "1"  # bump when the cache layout or the pip command changes
EXCLUDED_DIRS = {"__pycache__", "tests", "test", "node_modules", ".venv", "venv"}
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
STATIC_HANDLER = Path(__file__).with_name("static_handler.py")
ARCHITECT_VENDOR = "vendor/"  # Architect's hydrated requirements and linked src/shared, per function


class PackageError(Exception):
    """Packaging failed in a way the user can fix (e.g. a requirement has no wheel for Lambda)."""


@dataclass(frozen=True)
class Platform:
    """The Lambda platform a requirement is installed for."""

    runtime: str  # python3.13
    architecture: str  # arm64 or x86_64

    @property
    def python_version(self) -> str:
        return self.runtime.removeprefix("python")

    @property
    def pip_platforms(self) -> tuple[str, ...]:
        """Wheel platform tags: manylinux2014, plus manylinux_2_28 on Amazon Linux 2023 runtimes (3.12+)."""
        arch = "aarch64" if self.architecture == "arm64" else "x86_64"
        tags: tuple[str, ...] = ("manylinux2014_" + arch,)
        if tuple(int(p) for p in self.python_version.split(".")) >= (3, 12):
            tags += ("manylinux_2_28_" + arch,)
        return tags


@dataclass(frozen=True)
class Package:
    function_id: str
    path: Path
    sha256: str
    size: int
    key: str  # content-addressed S3 key


Installer = Callable[[Path, Platform, Path], None]  # (requirements file, platform, target folder)


def pip_install(requirements: Path, platform: Platform, target: Path) -> None:
    """Install `requirements` into `target` as Lambda's runtime would need them (binary wheels only)."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        platform.python_version,
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]
    for tag in platform.pip_platforms:
        command += ["--platform", tag]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        detail = (result.stderr or result.stdout).strip().splitlines()
        raise PackageError(
            f"pip could not install {requirements} for {platform.runtime} on {platform.architecture} "
            f"(binary wheels only): {detail[-1] if detail else 'no output'}"
        )


def build_all(
    manifest: Manifest, build_dir: Path, installer: Installer | None = None, progress: Callable[[str], None] = lambda line: None
) -> dict[str, Package]:
    """Package every function (and the static function) into `<build_dir>/packages/`; keyed by function id.

    `installer` installs requirements not yet cached (default `pip_install`).
    """
    installer = installer or pip_install
    packages: dict[str, Package] = {}
    for function in manifest.functions:
        progress(f"packaging {function.id}")
        entries = dict(_installed(manifest, function, build_dir, installer))
        entries.update(("shared/" + name, path) for name, path in _tree(manifest.shared_dir))
        # `vendor/` is what Architect's sandbox installs into a function folder: never ours to ship
        entries.update((name, path) for name, path in _tree(function.source_dir) if not name.startswith(ARCHITECT_VENDOR))
        packages[function.id] = write(manifest.app, function.id, entries, build_dir)
    if has_static(manifest):
        progress(f"packaging {STATIC_ID} (public/)")
        entries = {"index.py": STATIC_HANDLER}
        try:  # what the sandbox serves, no more (devkit/public.py): never a link's outside target
            entries.update(("public/" + name, path) for name, path in public.files(manifest.public_dir))
        except public.PublicError as error:
            raise PackageError(str(error)) from None
        for warning in public.size_warnings(manifest.public_dir):
            progress(f"warning: {warning}")
        packages[STATIC_ID] = write(manifest.app, STATIC_ID, entries, build_dir)
    return packages


def write(app: str, function_id: str, entries: Mapping[str, Path | bytes], build_dir: Path) -> Package:
    """Write `entries` (zip name -> file or bytes) reproducibly to `<build_dir>/packages/<id>.zip`."""
    out = build_dir / "packages" / f"{function_id}.zip"
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(".zip.partial")
    with zipfile.ZipFile(partial, "w") as archive:
        for name in sorted(entries):
            source = entries[name]
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.external_attr = FILE_MODE << 16
            info.create_system = 3  # unix, so the mode above is honoured wherever the zip was built
            info.compress_type = zipfile.ZIP_DEFLATED
            data = source if isinstance(source, bytes) else source.read_bytes()
            archive.writestr(info, data, compresslevel=9)
    partial.replace(out)
    data = out.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    return Package(function_id, out, digest, len(data), f"{app}/{function_id}/{digest}.zip")


def requirements_text(manifest: Manifest, function: Function) -> str:
    """The shared requirements, then the function's own; empty when there are none."""
    return packages.requirements_text(manifest, function)


def cache_dir(build_dir: Path, requirements: str, platform: Platform) -> Path:
    """Where requirements installed for `platform` are kept, named by a hash of everything that matters."""
    key = "\n".join([CACHE_FORMAT, platform.runtime, platform.architecture, *platform.pip_platforms, requirements])
    return build_dir / "requirements" / hashlib.sha256(key.encode()).hexdigest()[:24]


def _installed(manifest: Manifest, function: Function, build_dir: Path, installer: Installer) -> Iterator[tuple[str, Path]]:
    requirements = requirements_text(manifest, function)
    if not requirements:
        return
    platform = Platform(function.runtime, function.architecture)
    cached = cache_dir(build_dir, requirements, platform)
    if not cached.is_dir():
        cached.parent.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=cached.name + ".", dir=cached.parent))
        try:
            (work / "requirements.txt").write_text(requirements + "\n", encoding="utf-8")
            (work / "site").mkdir()
            installer(work / "requirements.txt", platform, work / "site")
            os.replace(work / "site", cached)  # atomic: a cache folder is complete or absent
        finally:
            shutil.rmtree(work, ignore_errors=True)
    for name, path in _tree(cached, skip_tests=False):
        if not name.startswith("bin/"):  # console scripts: never run on Lambda
            yield name, path


def _tree(root: Path, skip_tests: bool = True) -> Iterator[tuple[str, Path]]:
    """Files under `root` as (posix name relative to root, path), skipping caches, hidden files and tests."""
    if not root.is_dir():
        return
    for folder, dirs, files in os.walk(root):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d != "__pycache__" and not (skip_tests and d in EXCLUDED_DIRS)]
        for name in files:
            if name.startswith(".") or name.endswith(EXCLUDED_SUFFIXES):
                continue
            if skip_tests and (name.startswith("test_") or name.endswith("_test.py") or name == "conftest.py"):
                continue
            path = Path(folder, name)
            yield path.relative_to(root).as_posix(), path
