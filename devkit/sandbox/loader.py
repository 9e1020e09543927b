"""Load a function's handler by path, the way Lambda lays out a package.

Lambda imports the handler module from the function's root with `shared` beside it. Locally the
function folder goes first on `sys.path` and `src/shared` is registered as the package `shared`;
`src/` itself never goes on the path (`src/http` would shadow the standard library's `http`).
"""

import importlib.util
import sys
from pathlib import Path
from types import ModuleType


def register_shared(shared_dir: Path) -> None:
    """Make `import shared` load `shared_dir` (a no-op when it does not exist)."""
    init = shared_dir / "__init__.py"
    if not shared_dir.is_dir() or sys.modules.get("shared") is not None:
        return
    spec = importlib.util.spec_from_file_location("shared", init if init.is_file() else None, submodule_search_locations=[str(shared_dir)])
    assert spec is not None  # a package spec always exists for a directory
    module = importlib.util.module_from_spec(spec)
    sys.modules["shared"] = module
    if spec.loader is not None:
        spec.loader.exec_module(module)


def load_handler(handler_path: Path, shared_dir: Path, module_name: str | None = None):
    """Import `handler_path` and return its `handler` callable."""
    register_shared(shared_dir)
    name = module_name or handler_path.stem
    spec = importlib.util.spec_from_file_location(name, handler_path)
    assert spec is not None and spec.loader is not None  # a .py path always has a source loader
    module: ModuleType = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    handler = getattr(module, "handler", None)
    if not callable(handler):
        raise AttributeError(f"{handler_path} defines no function handler(event, context)")
    return handler
