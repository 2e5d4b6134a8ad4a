"""A WebSocket session with Python's websockets (Debian's python3-websockets): a client that checks
the opening handshake (RFC 6455 §4.1: Sec-WebSocket-Accept, Upgrade, Connection, no subprotocol it
did not offer), unmasked server frames, control frames and the closing handshake, and fails on
any deviation.

argv: base ws:// URL of the hub. Prints JSON: what each step saw, or the exception it raised.
"""

import asyncio
import json
import sys

import websockets


async def session(base):
    out = {}
    # Offers subprotocols the hub does not speak: the handshake must choose none of them.
    async with websockets.connect(f"{base}/sub/pw.a?last=1", subprotocols=["chat", "v2.chat"]) as ws:
        out["subprotocol"] = ws.subprotocol
        frames = [json.loads(await ws.recv()), json.loads(await ws.recv())]
        out["first"] = frames
        await ws.send(json.dumps({"type": "publish", "channel": "pw.a", "data": {"from": "py"}, "id": 7}))
        got = []
        while len(got) < 2:
            got.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        out["after_publish"] = got
        pong = await ws.ping(b"judge")
        await asyncio.wait_for(pong, 5)
        out["pong"] = True
        await ws.close(1000, "done")
        out["close_code"] = ws.close_code
    # A frame over websocket.maxPayload: the hub closes with 1009.
    async with websockets.connect(f"{base}/sub/pw.b", max_size=None) as ws:
        await ws.recv()
        await ws.send("x" * 70000)
        try:
            await asyncio.wait_for(ws.recv(), 5)
        except websockets.ConnectionClosed as closed:
            out["too_big_code"] = closed.rcvd.code if closed.rcvd else None
    return out


def main():
    try:
        result = asyncio.run(session(sys.argv[1]))
    except Exception as err:  # reported to the test, which fails with it
        result = {"exception": f"{type(err).__name__}: {err}"}
    json.dump(result, sys.stdout)


if __name__ == "__main__":
    main()
