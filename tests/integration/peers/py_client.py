#!/usr/bin/python3
"""Interop checks with an independent client, Debian's python3-websockets, against a server.

Usage: py_client.py URL [--ca FILE] [--suite echo|deflate|text-only|wait-close]
  echo        text, binary, empty, length-encoding boundaries, 64 KiB and 16 MiB messages and
              fragmented messages are echoed byte for byte; ping gets its pong; close 1000 is
              answered with 1000. permessage-deflate is not offered.
  deflate     permessage-deflate is offered: declined or negotiated, echo works either way.
  text-only   (for a text-only handler) text is echoed, binary gets close 1003.
  wait-close  open, one echo (`PASS echo before shutdown ...` once it came back), then wait
              (20 s at most) for the server to close: `PASS close 1001` or
              `FAIL close 1001: ...` with the close code it saw.
  too-big     (for a server limited to fewer than 4096-byte messages) a 4096-byte binary
              message gets close 1009.
Output: `PLAN n`, then `PASS name` / `FAIL name: why` lines. Exits 0 once every check ran.
"""
import argparse
import asyncio
import os
import ssl
import sys

import websockets

MIB = 1 << 20


PRINTABLE = bytes(0x20 + i % 95 for i in range(256))


def ascii_text(n):
    return os.urandom(n).translate(PRINTABLE).decode("ascii")


def utf8_text(min_bytes):
    unit = "h\u00e9llo \u2713 \U0001d11e \u20ac\u00a0"
    n = len(unit.encode())
    return unit * (-(-min_bytes // n))


def out(line):
    print(line, flush=True)


def messages(suite):
    if suite == "deflate":
        return [
            ('text "Hello"', "Hello"),
            ("text 64 KiB compressible", "compress me, please. " * 3200),
            ("binary 64 KiB", os.urandom(65536)),
        ]
    return [
        ('text "Hello"', "Hello"),
        ("text UTF-8", "h\u00e9llo \u2713 \U0001d11e"),
        ("text empty", ""),
        ("binary 0..255", bytes(range(256))),
        ("binary empty", b""),
        ("text 125 B", ascii_text(125)),
        ("text 126 B", ascii_text(126)),
        ("binary 65535 B", os.urandom(65535)),
        ("binary 65536 B", os.urandom(65536)),
        ("text 64 KiB", ascii_text(65536)),
        ("text 64 KiB UTF-8", utf8_text(65536)),
        ("binary 16 MiB", os.urandom(16 * MIB)),
        ("text 16 MiB", ascii_text(16 * MIB)),
        # A list is sent as one fragmented message: one frame per element.
        ("text fragmented in 3 frames", ["frag", "mented \u00e9", " \U0001d11e text"]),
        ("binary fragmented in 4 frames", [os.urandom(1000) for _ in range(4)]),
    ]


def joined(sent):
    if isinstance(sent, list):
        return "".join(sent) if isinstance(sent[0], str) else b"".join(sent)
    return sent


def kind(m):
    return "text" if isinstance(m, str) else "binary"


async def echo_one(ws, name, sent):
    want = joined(sent)
    await ws.send(sent)
    try:
        got = await asyncio.wait_for(ws.recv(), 30)
    except asyncio.TimeoutError:
        return f"FAIL {name}: no echo within 30 s", True
    except websockets.ConnectionClosed as e:
        return f"FAIL {name}: connection closed ({e.code} {e.reason})", True
    if kind(got) != kind(want):
        return f"FAIL {name}: echoed as {kind(got)}", False
    if len(got) != len(want):
        return f"FAIL {name}: echo has {len(got)} units, sent {len(want)}", False
    if got != want:
        return f"FAIL {name}: echo differs from what was sent", False
    return f"PASS {name} echoed byte-exact", False


async def run(url, suite, ca):
    ctx = None
    if url.startswith("wss:"):
        ctx = ssl.create_default_context(cafile=ca) if ca else ssl.create_default_context()
    msgs = messages(suite) if suite in ("echo", "deflate") else []
    plans = {"echo": len(msgs) + 3, "deflate": len(msgs) + 3, "text-only": 3, "wait-close": 3, "too-big": 2}
    out(f"PLAN {plans[suite]}")
    try:
        ws = await websockets.connect(
            url, ssl=ctx, compression="deflate" if suite == "deflate" else None,
            max_size=64 * MIB, ping_interval=None, open_timeout=10, close_timeout=10)
    except Exception as e:  # noqa: BLE001 - any failure to open is the finding
        out(f"FAIL open: {type(e).__name__}: {e}")
        sys.exit(1)
    out("PASS open")

    if suite == "deflate":
        exts = [e.name for e in ws.extensions]
        if not exts:
            out("PASS extension: permessage-deflate offer declined")
        elif exts == ["permessage-deflate"]:
            out("PASS extension: permessage-deflate negotiated")
        else:
            out(f"FAIL extension: unexpected {exts}")

    if suite in ("echo", "deflate"):
        stuck = None
        for name, sent in msgs:
            if stuck:
                out(f"FAIL {name}: not run: {stuck}")
                continue
            line, fatal = await echo_one(ws, name, sent)
            out(line)
            if fatal:
                stuck = line.split(": ", 1)[1]
        if suite == "echo":
            if stuck:
                out(f"FAIL ping/pong: not run: {stuck}")
            else:
                try:
                    waiter = await ws.ping(b"ping-\xc3\xa9")
                    await asyncio.wait_for(waiter, 10)
                    out("PASS ping/pong: pong carries the ping payload")
                except Exception as e:  # noqa: BLE001
                    out(f"FAIL ping/pong: {type(e).__name__}: {e}")
        await close_1000(ws)

    elif suite == "text-only":
        line, _ = await echo_one(ws, "text echoed on a text-only path", "only text here")
        out(line)
        await ws.send(b"\x00\x01binary")
        try:
            got = await asyncio.wait_for(ws.recv(), 10)
            out(f"FAIL binary refused with close 1003: got a {kind(got)} message")
        except websockets.ConnectionClosed:
            code = ws.close_code
            out("PASS binary refused with close 1003" if code == 1003
                else f"FAIL binary refused with close 1003: close code {code}")
        except asyncio.TimeoutError:
            out("FAIL binary refused with close 1003: nothing within 10 s")

    elif suite == "too-big":
        await ws.send(os.urandom(4096))
        try:
            got = await asyncio.wait_for(ws.recv(), 10)
            out(f"FAIL 4096 B over the limit gets close 1009: got a {kind(got)} message")
        except websockets.ConnectionClosed:
            code = ws.close_code
            out("PASS 4096 B over the limit gets close 1009" if code == 1009
                else f"FAIL 4096 B over the limit gets close 1009: close code {code}")
        except asyncio.TimeoutError:
            out("FAIL 4096 B over the limit gets close 1009: nothing within 10 s")

    elif suite == "wait-close":
        line, _ = await echo_one(ws, "echo before shutdown", "hi")
        out(line)
        try:
            await asyncio.wait_for(ws.wait_closed(), 20)
            code = ws.close_code
            out("PASS close 1001: server going away" if code == 1001
                else f"FAIL close 1001: close code {code} ({ws.close_reason!r})")
        except asyncio.TimeoutError:
            out("FAIL close 1001: no close within 20 s")


async def close_1000(ws):
    try:
        await asyncio.wait_for(ws.close(1000, "bye"), 15)
    except asyncio.TimeoutError:
        pass
    code = ws.close_code
    out("PASS close 1000: server answered with close 1000" if code == 1000
        else f"FAIL close 1000: close code {code} ({ws.close_reason!r})")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--ca")
    ap.add_argument("--suite", default="echo",
                    choices=["echo", "deflate", "text-only", "wait-close", "too-big"])
    a = ap.parse_args()
    asyncio.run(run(a.url, a.suite, a.ca))


if __name__ == "__main__":
    main()
