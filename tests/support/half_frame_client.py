"""A client process for the load test, killed with SIGKILL in the middle of a frame.

`python half_frame_client.py PORT COUNT MESSAGES [PROTOCOLS]`: opens COUNT sockets to 127.0.0.1:PORT, exchanges
MESSAGES echoes on each, then sends the first half of one more frame on every socket, prints
`READY <messages>` and waits to be killed. PROTOCOLS: the page's `Sec-WebSocket-Protocol` (its token).
The kernel, not the client, ends those TCP connections.
"""

import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support.wsclient import PAGE_PROTOCOLS, TEXT, connect_retrying, frame


async def main(port: int, count: int, messages: int) -> None:
    gate = asyncio.Semaphore(50)

    async def one(index: int):
        async with gate:
            client = await connect_retrying(port)
            for n in range(messages):
                reply = await client.ask({"text": f"killed-{index}-{n}"})
                assert reply["text"].endswith(f"Echoing killed-{index}-{n}"), reply
            return client

    clients = await asyncio.gather(*(one(i) for i in range(count)))
    whole = frame(TEXT, b'{"text": "this frame never ends, its sender dies halfway through it"}')
    for client in clients:
        await client.send_raw(whole[: len(whole) // 2])
    print(f"READY {count * messages}", flush=True)
    await asyncio.sleep(120)  # bounded: the test kills it long before


if __name__ == "__main__":
    started = time.monotonic()
    if len(sys.argv) > 4 and sys.argv[4]:
        PAGE_PROTOCOLS[int(sys.argv[1])] = sys.argv[4]
    asyncio.run(main(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])))
