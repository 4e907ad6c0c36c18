"""Python `websockets` against the echo example: text, binary, large and fragmented messages,
and the close handshake. Prints `N passed, M failed`; exits non-zero on any failure."""
import asyncio
import sys

import websockets

URL = sys.argv[1]
passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAIL {name} {detail}")


async def main():
    async with websockets.connect(URL, max_size=None) as ws:
        for text in ["hello", "", "ünïcödé ✓", "x" * 70000]:
            await ws.send(text)
            reply = await asyncio.wait_for(ws.recv(), 10)
            check(f"text {len(text)}", reply == text and isinstance(reply, str))
        for data in [b"\x00\x01\x02", b"", bytes(range(256)) * 1000]:
            await ws.send(data)
            reply = await asyncio.wait_for(ws.recv(), 10)
            check(f"binary {len(data)}", reply == data and isinstance(reply, bytes))
        # A fragmented message: the server sees it reassembled and echoes one message.
        await ws.send(["frag", "men", "ted"])
        reply = await asyncio.wait_for(ws.recv(), 10)
        check("fragmented", reply == "fragmented", repr(reply))
        pong = await ws.ping(b"py")
        await asyncio.wait_for(pong, 10)
        check("ping", True)
        await ws.close(code=1000, reason="done")
        check("close code", ws.close_code == 1000, str(ws.close_code))


asyncio.run(main())
print(f"python websockets: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
