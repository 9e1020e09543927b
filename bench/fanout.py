"""`make bench`'s fan-out through the queue: one broadcast to many sockets, counted per socket (exactly
once, twice, never), the CPU one post costs (boto3's client against a leaner signed request), and the
capacity table built from it (bench/capacity.py). Its section is appended to the bench page.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from urllib.parse import quote

import aiohttp

from bench import capacity, client

SETTLE_S = 3.0  # after the last arrival, how long a socket is watched for a second copy


async def exactly_once(url: str, connections: int, *, origin: str | None = None, deadline_s: float = 300.0) -> dict:
    """Open `connections` sockets, broadcast one message from the first, and count each socket's copies
    until all arrived (or `deadline_s`), then `SETTLE_S` more. `seconds`: until the last first copy."""
    marker = f"queue fan-out {uuid.uuid4().hex[:12]}"
    async with client.new_session() as session:
        sockets, errors = await client.open_many(session, url, connections, origin=origin, deadline_s=deadline_s)
        copies = [0] * len(sockets)
        first: list[float] = []
        everyone = asyncio.Event()

        async def reader(index: int, ws: aiohttp.ClientWebSocketResponse) -> None:
            async for message in ws:
                if message.type == aiohttp.WSMsgType.TEXT and marker in message.data:
                    copies[index] += 1
                    if copies[index] == 1:
                        first.append(time.perf_counter())
                        if len(first) == len(sockets):
                            everyone.set()

        readers = [asyncio.create_task(reader(i, ws)) for i, ws in enumerate(sockets)]
        started = time.perf_counter()
        try:
            if sockets:
                await sockets[0].send_str(json.dumps({"action": "broadcast", "text": marker}))
                try:
                    await asyncio.wait_for(everyone.wait(), deadline_s)
                except asyncio.TimeoutError:
                    pass
                await asyncio.sleep(SETTLE_S)
        finally:
            for task in readers:
                task.cancel()
            await asyncio.gather(*readers, return_exceptions=True)
            await client.close_all(sockets)
    return {
        "connections": connections,
        "connected": len(sockets),
        "seconds": (max(first) - started) if first else None,
        "exactly_once": sum(1 for c in copies if c == 1),
        "more_than_once": sum(1 for c in copies if c > 1),
        "never": sum(1 for c in copies if c == 0),
        "connect_errors": errors.as_dict(),
    }


# A stand-in for API Gateway's Management API in a process of its own (so its CPU is not counted):
# 200 for any id, 410 GoneException for ids starting "gone".
_FAKE = r"""
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        gone = "/@connections/gone" in self.path
        self.send_response(410 if gone else 200)
        if gone:
            self.send_header("x-amzn-ErrorType", "GoneException")
        self.send_header("content-length", "0")
        self.end_headers()
    def log_message(self, *args):
        pass
server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(server.server_address[1], flush=True)
server.serve_forever()
"""


def cpu_per_post(posts: int = 2000, rounds: int = 3) -> dict:
    """CPU seconds per `post_to_connection`, one thread: boto3's client, and botocore's SigV4 signer
    over a pooled urllib3 connection (the same request, the same GoneException on 410). Median of rounds."""
    import boto3
    import urllib3
    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.config import Config
    from botocore.credentials import Credentials
    from botocore.exceptions import ClientError

    fake = subprocess.Popen([sys.executable, "-c", _FAKE], stdout=subprocess.PIPE, text=True)
    try:
        assert fake.stdout is not None
        url = f"http://127.0.0.1:{fake.stdout.readline().strip()}"
        data = json.dumps({"text": "2026-12-02T18:00:00.000Z - hello everyone", "broadcast": True, "id": str(uuid.uuid4())}).encode()
        management = boto3.client(
            "apigatewaymanagementapi",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
            config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
        )
        credentials, pool = Credentials("bench", "bench"), urllib3.PoolManager(maxsize=16)

        def with_boto3(connection_id: str) -> bool:
            try:
                management.post_to_connection(ConnectionId=connection_id, Data=data)
            except ClientError as error:
                if error.response["Error"]["Code"] == "GoneException":
                    return False
                raise
            return True

        def lean(connection_id: str) -> bool:
            target = f"{url}/@connections/{quote(connection_id, safe='')}"
            request = AWSRequest("POST", target, data=data)
            SigV4Auth(credentials, "execute-api", "us-east-1").add_auth(request)
            answer = pool.request("POST", target, body=data, headers=dict(request.headers.items()))
            if answer.status == 410 and answer.headers.get("x-amzn-ErrorType") == "GoneException":
                return False
            if answer.status >= 300:
                raise RuntimeError(f"{answer.status} {answer.headers.get('x-amzn-ErrorType')}")
            return True

        assert with_boto3("goneAAAAAAAAAA=") is False and lean("goneAAAAAAAAAA=") is False
        measured: dict[str, list[float]] = {"boto3": [], "lean": []}
        for _ in range(rounds):
            for name, post in (("boto3", with_boto3), ("lean", lean)):
                for i in range(50):
                    post(f"warm{i:011d}=")
                started = time.process_time()
                for i in range(posts):
                    post(f"conn{i:011d}=")
                measured[name].append((time.process_time() - started) / posts)
        return {name: sorted(values)[len(values) // 2] for name, values in measured.items()} | {"load_average": [round(x, 2) for x in os.getloadavg()]}
    finally:
        fake.kill()
        fake.wait()


def section(results: dict) -> str:
    """The bench page's section: the queue fan-out row, the CPU per post, the capacity table."""
    sandbox = results.get("servers", {}).get("sandbox", {})
    row, posts = sandbox.get("queue_fanout"), results.get("cpu_per_post")
    lines = ["", "## Broadcast through the queue", ""]
    if row:
        seconds = f"{row['seconds']:.1f} s" if row.get("seconds") is not None else "did not finish"
        lines += [
            "| row | time | received exactly once | more than once | never |",
            "|---|---:|---:|---:|---:|",
            f"| broadcast to {row['connections']:,} sockets through the queue | {seconds} | {row['exactly_once']:,} | "
            f"{row['more_than_once']:,} | {row['never']:,} |",
            "",
        ]
    if posts:
        lines += [
            f"CPU per `post_to_connection`, one thread (median of rounds, load average {posts['load_average']}): "
            f"boto3's client {posts['boto3'] * 1000:.2f} ms, botocore's signer over pooled urllib3 "
            f"{posts['lean'] * 1000:.2f} ms ({posts['boto3'] / posts['lean']:.1f}x).",
            "",
            capacity.table(capacity.Inputs(cpu_per_post_s=posts["boto3"])),
        ]
    return "\n".join(lines) + "\n"
