"""What a function can import on Lambda, as top-level import names, for the sandbox and for deploy.

Lambda gives a Python function the standard library, the runtime's own SDK (boto3 with its dependencies:
"Building Lambda functions with Python" in the AWS Lambda developer guide, "Your code runs in an
environment that includes the SDK for Python (Boto3)"; the versions per runtime are listed under
"Runtime-included SDK versions" on its "Lambda runtimes" page), and its package: its own folder,
`shared/`, and what its requirements install (devkit/deploy/package.py). Anything else is missing.

The sandbox runs every function from the kit's one virtual environment, so it restricts each worker
to `importable()` (devkit/sandbox/imports.py); deploy imports each handler from its zip beside
`runtime_folder()` (devkit/deploy/package.py `check_imports`). A declared distribution brings its
dependencies (their metadata's `Requires-Dist`, extras included), as pip installs them.
"""

from __future__ import annotations

import functools
import importlib.metadata as metadata
import os
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from devkit.manifest import Function, Manifest

# The runtime's SDK: boto3 and its dependencies' closure (tests/devkit/test_packages.py checks this
# against the installed boto3's metadata, so a new dependency of boto3 is noticed).
RUNTIME_DISTRIBUTIONS = ("boto3", "botocore", "jmespath", "python-dateutil", "s3transfer", "urllib3", "six")


def requirements_files(manifest: Manifest, function: Function) -> list[Path]:
    """The requirements a function's package is built from: `src/shared/requirements.txt`, then its own."""
    files = [manifest.shared_dir / "requirements.txt", function.source_dir / "requirements.txt"]
    return [f for f in files if f.is_file()]


def requirements_text(manifest: Manifest, function: Function) -> str:
    """The shared requirements, then the function's own; empty when there are none."""
    return "\n".join(f.read_text(encoding="utf-8").strip() for f in requirements_files(manifest, function)).strip()


def declared(text: str) -> list[Requirement]:
    """The requirements in a requirements.txt's text (options, URLs' names kept; unparsable lines skipped)."""
    found = []
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        try:
            found.append(Requirement(line))
        except InvalidRequirement:
            continue
    return found


def top_level(distribution: metadata.Distribution) -> set[str]:
    """The import names a distribution installs (its top_level.txt, else the first part of its files)."""
    listed = distribution.read_text("top_level.txt")
    if listed:
        return {name.split("/")[0] for name in listed.split() if name.split("/")[0].isidentifier()}
    names = set()
    for file in distribution.files or ():
        parts = file.parts
        if not parts or parts[0].endswith((".dist-info", ".egg-info", ".data")) or parts[0] in ("..", "__pycache__"):
            continue
        name = parts[0] if len(parts) > 1 else parts[0].split(".")[0] if parts[0].endswith((".py", ".so", ".pyd")) else ""
        if name.isidentifier():
            names.add(name)
    return names


def closure(requirements: list[Requirement]) -> tuple[dict[str, metadata.Distribution], list[str]]:
    """The installed distributions `requirements` bring, dependencies included (canonical name ->
    distribution), and the names of the ones not installed here."""
    found: dict[str, metadata.Distribution] = {}
    missing: list[str] = []
    pending = [(r, frozenset({""})) for r in requirements]  # (requirement, the extras its dependant asked for)
    while pending:
        requirement, wanted = pending.pop()
        if requirement.marker is not None and not any(requirement.marker.evaluate({"extra": e}) for e in wanted):
            continue
        name = canonicalize_name(requirement.name)
        if name in found:
            continue
        try:
            distribution = metadata.distribution(requirement.name)
        except metadata.PackageNotFoundError:
            missing.append(requirement.name)
            continue
        found[name] = distribution
        extras = frozenset({"", *requirement.extras})
        pending += [(Requirement(text), extras) for text in distribution.requires or ()]
    return found, missing


@functools.lru_cache(maxsize=64)
def _importable(requirements: str) -> frozenset[str]:
    runtime, _ = closure([Requirement(d) for d in RUNTIME_DISTRIBUTIONS])
    own, _ = closure(declared(requirements))
    return frozenset(name for d in (*runtime.values(), *own.values()) for name in top_level(d))


def importable(manifest: Manifest, function: Function) -> frozenset[str]:
    """The third-party import names `function` gets on Lambda: the runtime's SDK and what its
    requirements install (not counting its own folder and `shared`, which are always there)."""
    return _importable(requirements_text(manifest, function))


def runtime_modules() -> frozenset[str]:
    """The import names of the runtime's SDK."""
    return _importable("")


def distribution_of(module: str) -> str:
    """The distribution that installs import name `module` here (the name to put in requirements.txt),
    else `module` itself."""
    try:
        return canonicalize_name(metadata.distribution(module).metadata["Name"])
    except metadata.PackageNotFoundError:
        owners = metadata.packages_distributions().get(module)
        return canonicalize_name(owners[0]) if owners else module


def requirements_path(manifest: Manifest, function: Function) -> str:
    """Where `function`'s requirements.txt is (or goes), relative to the app's folder."""
    return os.path.relpath(function.source_dir / "requirements.txt", manifest.root)


def runtime_folder(target: Path) -> Path:
    """`target`, filled with symbolic links to this environment's copy of the runtime's SDK (one per
    import name), so an interpreter can be given the runtime's packages and nothing else."""
    target.mkdir(parents=True, exist_ok=True)
    distributions, _ = closure([Requirement(d) for d in RUNTIME_DISTRIBUTIONS])
    for distribution in distributions.values():
        base = Path(str(distribution.locate_file("")))
        for name in top_level(distribution):
            for candidate in (base / name, base / f"{name}.py"):
                if candidate.exists() and not (target / candidate.name).exists():
                    (target / candidate.name).symlink_to(candidate)
    return target
