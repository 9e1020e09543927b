"""The only private parts of aiohttp the sandbox touches, in one place.

API Gateway limits each WebSocket frame (32 KB); aiohttp limits only whole messages. To see frame
headers, the sandbox wraps the frame parser aiohttp installs on the connection when the upgrade
completes: `WebSocketResponse._post_start` (private) sets `request.protocol._payload_parser` (private)
to a parser whose `feed_data(bytes)` takes the raw stream, and the response's `_reader` (private) is
the queue a failure is reported to. requirements.txt pins aiohttp to the minor version these were
checked against; tests/devkit/sandbox/test_aiohttp_internals.py fails, naming this module, when an
aiohttp release changes any of them.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web


class FrameParserHookResponse(web.WebSocketResponse):
    """A WebSocketResponse whose subclass may wrap aiohttp's frame parser once the upgrade is done."""

    def wrap_frame_parser(self, parser: Any, queue: Any) -> Any:
        """Return the parser to install in place of `parser`; `queue.set_exception(...)` fails the socket."""
        return parser

    def _post_start(self, request, protocol, writer):
        super()._post_start(request, protocol, writer)
        handler = request.protocol
        handler._payload_parser = self.wrap_frame_parser(handler._payload_parser, self._reader)
