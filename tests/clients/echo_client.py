"""Python `websockets` against the echo example: text, binary, large and fragmented messages,
and the close handshake. Prints `N passed, M failed`; exits non-zero on any failure.

Against a URL ending in `/deflate` (the example's `/ws/echo/deflate`) it also checks that
permessage-deflate was negotiated (websockets offers it by default), and runs the messages
again with an offer of `server_max_window_bits=8`, inflated by Python's zlib with an 8-bit
window."""
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


DEFLATE = URL.endswith("/deflate")


def extensions(ws):
    """The Sec-WebSocket-Extensions the server answered (new and legacy websockets APIs)."""
    headers = ws.response.headers if hasattr(ws, "response") else ws.response_headers
    return headers.get("Sec-WebSocket-Extensions") or ""


async def echo_all(ws, label=""):
    for text in ["hello", "", "ünïcödé ✓", "x" * 70000]:
        await ws.send(text)
        reply = await asyncio.wait_for(ws.recv(), 10)
        check(f"{label}text {len(text)}", reply == text and isinstance(reply, str))
    for data in [b"\x00\x01\x02", b"", bytes(range(256)) * 1000]:
        await ws.send(data)
        reply = await asyncio.wait_for(ws.recv(), 10)
        check(f"{label}binary {len(data)}", reply == data and isinstance(reply, bytes))
    # A fragmented message: the server sees it reassembled and echoes one message.
    await ws.send(["frag", "men", "ted"])
    reply = await asyncio.wait_for(ws.recv(), 10)
    check(f"{label}fragmented", reply == "fragmented", repr(reply))
    # Varied text: matches reach far back, so a window too large for the client shows.
    varied = " ".join(f"{{\"n\":{i},\"sq\":{i * i}}}" for i in range(20000))
    await ws.send(varied)
    reply = await asyncio.wait_for(ws.recv(), 10)
    check(f"{label}varied text {len(varied)}", reply == varied)
    pong = await ws.ping(b"py")
    await asyncio.wait_for(pong, 10)
    check(f"{label}ping", True)
    await ws.close(code=1000, reason="done")
    check(f"{label}close code", ws.close_code == 1000, str(ws.close_code))


async def main():
    async with websockets.connect(URL, max_size=None) as ws:
        agreed = extensions(ws)
        if DEFLATE:
            check("permessage-deflate negotiated", agreed.startswith("permessage-deflate")
                  and "server_no_context_takeover" in agreed
                  and "client_no_context_takeover" in agreed, repr(agreed))
        else:
            check("no extension on the plain route", agreed == "", repr(agreed))
        await echo_all(ws)
    if DEFLATE:
        from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
        offer = ClientPerMessageDeflateFactory(server_max_window_bits=8)
        async with websockets.connect(URL, max_size=None, compression=None,
                                      extensions=[offer]) as ws:
            agreed = extensions(ws)
            check("server_max_window_bits=8 answered", "server_max_window_bits=8" in agreed,
                  repr(agreed))
            await echo_all(ws, "8-bit window: ")


asyncio.run(main())
print(f"python websockets: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
