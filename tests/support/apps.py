"""A minimal app written into a folder: an app.arc and a handler per function folder."""

import textwrap
from pathlib import Path


def write_app(tmp_path: Path, arc: str, functions=("http/get-index", "ws/connect", "ws/default", "ws/disconnect")) -> Path:
    for folder in functions:
        (tmp_path / "src" / folder).mkdir(parents=True, exist_ok=True)
        (tmp_path / "src" / folder / "index.py").write_text("def handler(event, context):\n    return {'statusCode': 200}\n")
    path = tmp_path / "app.arc"
    path.write_text(textwrap.dedent(arc))
    return path
