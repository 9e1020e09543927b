"""GET /: the chat page.

Renders `index.html` with Jinja2 (autoescaping on); the WebSocket URL and the visitor's token (a new
guest identity, `shared.tokens`) enter the page only as escaped data attributes. Returns 200 with a Content-Security-Policy allowing the page's own static
files and its socket, nothing else.
"""

from pathlib import Path
from urllib.parse import urlsplit

from aws_lambda_powertools import Logger
from jinja2 import Environment, FileSystemLoader, select_autoescape

from shared import config, lambda_context, tokens

logger = Logger()
templates = Environment(loader=FileSystemLoader(Path(__file__).parent), autoescape=select_autoescape(default=True))


def content_security_policy(wss_url: str) -> str:
    """Allow scripts and styles from this site and a socket to `wss_url`'s host only."""
    parts = urlsplit(wss_url)
    socket_source = f"{parts.scheme}://{parts.netloc}"
    if parts.scheme not in ("ws", "wss") or not parts.netloc or any(c in socket_source for c in " ;,'\""):
        raise ValueError(f"ARC_WSS_URL is not a ws:// or wss:// URL: {wss_url!r}")
    return (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        f"connect-src {socket_source}; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )


@lambda_context.accepts_dict_context
@logger.inject_lambda_context(correlation_id_path="requestContext.requestId")
def handler(event, context):
    wss_url = config.wss_url()
    token, name = tokens.mint()
    return {
        "statusCode": 200,
        "headers": {
            "content-type": "text/html; charset=utf-8",
            "content-security-policy": content_security_policy(wss_url),
            "x-content-type-options": "nosniff",
            "referrer-policy": "no-referrer",
            "cache-control": "no-store",
        },
        "body": templates.get_template("index.html").render(wss_url=wss_url, token=token, name=name),
    }
