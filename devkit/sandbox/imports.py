"""In a worker: only what Lambda will give the function can be imported (devkit/packages.py says what).

Imported by worker_main.py from the kit's folder (standard library only). `restrict()` runs before the
handler loads, in fresh and in forked workers alike:
- every library folder on `sys.path` (site-packages, anything but the function's folder and the
  standard library) gets a finder that finds only the allowed top-level names there, so any other
  import fails with Python's own `ModuleNotFoundError: No module named 'x'`, as on Lambda;
- modules already loaded from those folders under other names (the preloaded parent's Powertools,
  Jinja2, ...) leave `sys.modules`; allowed ones stay loaded, so forking keeps its head start for them.
The first time the function's own code (not a library probing for an optional module) asks for a name
that is installed here but not allowed, one line on stderr says which requirements.txt to add it to.
"""

from __future__ import annotations

import os
import re
import sys
import types

_IMPORT_MACHINERY = ("<frozen importlib", os.path.dirname(os.__file__) + os.sep + "importlib" + os.sep)


def restrict(allowed: set[str], task_root: str, requirements: str) -> None:
    """Allow `allowed` top-level names from library folders; `requirements` is named in the log line."""
    libraries = [entry for entry in sys.path if _is_library(entry, task_root)]
    said: set[str] = set()
    for entry in libraries:
        inner = sys.path_importer_cache.get(entry) or _finder(entry)
        if inner is not None:
            sys.path_importer_cache[entry] = _Allowed(inner, allowed, libraries, requirements, said)
    folders = tuple(os.path.join(os.path.abspath(entry), "") for entry in libraries)
    tops = {name.partition(".")[0] for name in sys.modules} - allowed - set(sys.stdlib_module_names)
    leaving = {top for top in tops if top in sys.modules and _loaded_from(sys.modules[top], folders)}
    for name in [n for n in sys.modules if n.partition(".")[0] in leaving]:
        del sys.modules[name]


def _is_library(entry: str, task_root: str) -> bool:
    """True for a folder of installed packages: site-packages, or anything but the function's folder and
    the standard library's."""
    if not entry or os.path.abspath(entry) == os.path.abspath(task_root):
        return False
    if {"site-packages", "dist-packages"} & set(os.path.abspath(entry).split(os.sep)):
        return True
    return not _within(entry, os.path.dirname(os.__file__)) and not entry.endswith(".zip")


def _within(path: str, folder: str) -> bool:
    path, folder = os.path.abspath(path), os.path.abspath(folder)
    return path == folder or path.startswith(folder + os.sep)


def _finder(entry: str):
    for hook in sys.path_hooks:
        try:
            return hook(entry)
        except ImportError:
            continue
    return None


def _loaded_from(module, folders: tuple[str, ...]) -> bool:
    """True when `module` was loaded from one of `folders` (each ending in a separator)."""
    spec = getattr(module, "__spec__", None)
    places = [getattr(module, "__file__", None), getattr(spec, "origin", None), *(getattr(module, "__path__", None) or ())]
    return any(isinstance(p, str) and p.startswith(folders) for p in places)


class _Allowed:
    """A library folder's finder that finds only allowed top-level names."""

    def __init__(self, inner, allowed: set[str], libraries: list[str], requirements: str, said: set[str]):
        self.inner, self.allowed, self.libraries = inner, allowed, libraries
        self.requirements, self.said = requirements, said

    def find_spec(self, fullname: str, target=None):
        if fullname.partition(".")[0] in self.allowed:
            return self.inner.find_spec(fullname, target)
        if fullname not in self.said and self.inner.find_spec(fullname, target) is not None and self._asked_by_function():
            self.said.add(fullname)
            print(
                f"ModuleNotFoundError: {fullname} is installed here but not in this function's package, so Lambda "
                f"will not have it: add {_distribution(fullname)} to {self.requirements}",
                file=sys.stderr,
                flush=True,
            )
        return None

    def invalidate_caches(self) -> None:
        if hasattr(self.inner, "invalidate_caches"):
            self.inner.invalidate_caches()

    def _asked_by_function(self) -> bool:
        """True unless the import comes from a library (which may probe for optional modules)."""
        frame: types.FrameType | None = sys._getframe(1)
        while frame is not None and (frame.f_code.co_filename.startswith(_IMPORT_MACHINERY) or frame.f_code.co_filename == __file__):
            frame = frame.f_back
        return frame is None or not any(_within(frame.f_code.co_filename, lib) for lib in self.libraries)


def _distribution(module: str) -> str:
    """The distribution installing `module` (most are named after it; else ask every one, slower)."""
    from importlib import metadata

    try:
        name = metadata.distribution(module).metadata["Name"]
    except metadata.PackageNotFoundError:
        owners = metadata.packages_distributions().get(module)
        name = owners[0] if owners else module
    return re.sub(r"[-_.]+", "-", name).lower()  # its canonical name, as pip and PyPI write it
