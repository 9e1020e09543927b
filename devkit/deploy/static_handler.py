"""GET /_static/{proxy+}: serve a file bundled from the app's public/ folder (HTTP API payload 2.0).

Deployed as `index.py` of a generated function whose zip carries `public/` next to it; never imported
by the kit. Returns 200 with the file (always base64, so any file type passes unchanged), 304 when
`If-None-Match` matches its ETag, 404 for anything that is not a visible file inside public/.
"""

import base64
import hashlib
import mimetypes
from pathlib import Path

PUBLIC = Path(__file__).resolve().parent / "public"
TEXT_TYPES = ("text/", "application/javascript", "application/json", "image/svg+xml", "application/xml")
CACHE_CONTROL = "public, max-age=300"  # short: file names carry no content hash
mimetypes.add_type("text/javascript", ".mjs")
mimetypes.add_type("text/javascript", ".js")


def handler(event, context):
    relative = (event.get("pathParameters") or {}).get("proxy", "")
    path = _resolve(relative)
    if path is None:
        return {"statusCode": 404, "headers": {"content-type": "text/plain; charset=utf-8"}, "body": "Not found"}
    data = path.read_bytes()
    etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
    headers = {"etag": etag, "cache-control": CACHE_CONTROL, "x-content-type-options": "nosniff"}
    if etag in _header(event, "if-none-match"):
        return {"statusCode": 304, "headers": headers}
    content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    headers["content-type"] = content_type + ("; charset=utf-8" if content_type.startswith(TEXT_TYPES) else "")
    return {"statusCode": 200, "headers": headers, "body": base64.b64encode(data).decode(), "isBase64Encoded": True}


def _resolve(relative: str):
    """The file under PUBLIC named by `relative`, or None when it is not a plain visible file there."""
    parts = [p for p in relative.split("/") if p]
    if not parts or any(p.startswith(".") for p in parts):
        return None
    path = PUBLIC.joinpath(*parts).resolve()
    if PUBLIC not in path.parents or not path.is_file():
        return None
    return path


def _header(event, name: str) -> str:
    return next((v for k, v in (event.get("headers") or {}).items() if k.lower() == name), "")
