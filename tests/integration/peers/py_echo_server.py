#!/usr/bin/python3
"""An independent WebSocket server for testing clients: Debian's python3-websockets.

Usage: py_echo_server.py [--port 0] [--cert FILE --key FILE] [--subprotocols a,b]
Binds 127.0.0.1 (port 0 picks a free one) and prints `listening on ws[s]://127.0.0.1:PORT`.
Paths:
  /info   first sends one text message, a JSON object describing the opening handshake
          (path, subprotocol, origin, user_agent, x_test header), then echoes
  /type   answers each message with its type, "text" or "binary"
  other   echoes every message as it came (text stays text, binary stays binary)
For every connection it prints `closed CODE REASON` (the close frame the client sent; 1006 when
none came) once the connection is closed. permessage-deflate is not offered.
"""
import argparse
import asyncio
import json
import ssl

import websockets


def out(line):
    print(line, flush=True)


async def handler(ws, path):
    try:
        if path == "/info":
            h = ws.request_headers
            await ws.send(json.dumps({
                "path": path,
                "subprotocol": ws.subprotocol,
                "origin": h.get("Origin"),
                "user_agent": h.get("User-Agent"),
                "x_test": h.get("X-Test"),
            }, sort_keys=True))
        async for msg in ws:
            if path == "/type":
                await ws.send("text" if isinstance(msg, str) else "binary")
            else:
                await ws.send(msg)
    except websockets.ConnectionClosed:
        pass
    finally:
        await ws.wait_closed()
        out(f"closed {ws.close_code} {ws.close_reason}")


async def main(a):
    ctx = None
    if a.cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(a.cert, a.key)
    protos = [p for p in a.subprotocols.split(",") if p] if a.subprotocols else None
    async with websockets.serve(handler, "127.0.0.1", a.port, ssl=ctx, compression=None,
                                subprotocols=protos, max_size=64 << 20, ping_interval=None) as srv:
        port = srv.sockets[0].getsockname()[1]
        out(f"listening on {'wss' if ctx else 'ws'}://127.0.0.1:{port}")
        await asyncio.Future()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--cert")
    ap.add_argument("--key")
    ap.add_argument("--subprotocols")
    try:
        asyncio.run(main(ap.parse_args()))
    except KeyboardInterrupt:
        pass
