"""Import one handler module as Lambda would: from its unpacked package and the runtime's SDK only.

Run by path in a clean interpreter (`python -I -S import_probe.py <package folder> <runtime folder>
<module>`), never imported by the kit; standard library only. `sys.path` is the package folder, the
runtime folder (devkit/packages.py `runtime_folder`) and the standard library. Prints one JSON line:
`{"ok": true}`, `{"missing": name, "file", "line"}` (a top-level module that is in neither folder,
with the line of the package's code that imported it), or `{"warning": text}` for any other failure
(which may come from this machine, e.g. a compiled module built for Lambda's platform).
"""

import importlib
import importlib.machinery
import json
import os
import sys
import traceback


def main(package: str, runtime: str, module: str) -> dict:
    sys.path[:0] = [package, runtime]
    os.chdir(package)
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as error:
        top = (error.name or "").partition(".")[0]
        file, line = _where(error, package)
        if top and top not in sys.stdlib_module_names and importlib.machinery.PathFinder.find_spec(top, [package, runtime]) is None:
            return {"missing": top, "file": file, "line": line}
        return {"warning": f"{file}:{line}: ModuleNotFoundError: {error}"}
    except BaseException as error:  # the handler's own import-time code: reported, never raised
        file, line = _where(error, package)
        return {"warning": f"{file}:{line}: {type(error).__name__}: {error}"}
    return {"ok": True}


def _where(error: BaseException, package: str) -> tuple[str, int]:
    """The package's own file and line the failure came through last (the import statement)."""
    found = ("?", 0)
    for frame in traceback.extract_tb(error.__traceback__):
        path = os.path.abspath(frame.filename)
        if not frame.filename.startswith("<") and path.startswith(os.path.abspath(package) + os.sep):
            found = (os.path.relpath(path, package), frame.lineno or 0)
    return found


if __name__ == "__main__":
    print(json.dumps(main(*sys.argv[1:4])))
