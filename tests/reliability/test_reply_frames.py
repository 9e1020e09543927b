"""The app's longest legal reply, read frame by frame from a raw client (the app's own tests see only
whole messages through devkit.testing)."""

import asyncio
import json

from tests.support.wsclient import TEXT, Client, frame


def test_the_longest_legal_reply_is_48_kb_and_arrives_whole_in_32_kb_frames(app):
    """4,000 emoji (the most `text` may hold) make a 48 KB reply: over API Gateway's 32 KB frame, so it is
    sent in frames (API Gateway's quotas: frame 32 KB, message 128 KB; the Management API's `Data` is
    capped at 131072 bytes, botocore's apigatewaymanagementapi model), and the client gets it whole."""

    async def ask() -> list[tuple[int, bytes]]:
        client = await Client.connect(app.port, headers={"Origin": f"http://localhost:{app.port}"})
        await client.send_raw(frame(TEXT, json.dumps({"text": "\U0001f600" * 4000}, ensure_ascii=False).encode()))
        frames = [await client.receive()]  # 16 KB of UTF-8 went out in one frame, as a browser sends it
        while len(frames) < 5 and not _whole_json(b"".join(payload for _, payload in frames)):
            frames.append(await client.receive())
        await client.close()
        return frames

    frames = asyncio.run(ask())
    data = b"".join(payload for _, payload in frames)
    assert json.loads(data)["text"].endswith(" - Echoing " + "\U0001f600" * 4000)
    assert 48_000 < len(data) <= 131072
    assert [opcode for opcode, _ in frames] == [TEXT, 0] and all(len(p) <= 32 * 1024 for _, p in frames)


def _whole_json(data: bytes) -> bool:
    try:
        json.loads(data)
        return True
    except ValueError:
        return False
