"""A stand-in for API Gateway's Management API over real HTTP, for what moto cannot do.

moto's fake answers 200 for every connection id; this one answers 410 GoneException, exactly as AWS
does, for ids in `gone`, so boto3 raises the real `GoneException`, and 429 LimitExceededException for
ids in `stalled` (what API Gateway answers a post to a client that stopped reading).
"""

import json
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote


class ManagementApiFake:
    def __init__(self):
        self.gone: set[str] = set()
        self.stalled: set[str] = set()
        self.delay = 0.0  # seconds each POST takes, to play a slow fan-out
        self.posts: dict[str, list[dict]] = defaultdict(list)
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as API Gateway: botocore's pool reuses each connection

            def do_POST(self):
                connection_id = unquote(self.path.rsplit("/@connections/", 1)[-1])
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                time.sleep(fake.delay)
                if connection_id in fake.gone:
                    self._answer(410, {"message": None}, {"x-amzn-ErrorType": "GoneException"})
                    return
                if connection_id in fake.stalled:
                    self._answer(429, {"message": "Too Many Requests"}, {"x-amzn-ErrorType": "LimitExceededException"})
                    return
                fake.posts[connection_id].append(json.loads(body))
                self._answer(200, None)

            def _answer(self, status, payload, headers=()):
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                for name, value in dict(headers).items():
                    self.send_header(name, value)
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            request_queue_size = 128  # the default 5 drops connects when 16 sender threads open theirs at once

        self.server = Server(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
