#!/usr/bin/python3
"""A deliberately broken WebSocket echo server: the target that `wsconform fuzz` must catch.

Usage: broken_ws_server.py [--port 0] [--bug rsv1-exit,len-hang]
Binds 127.0.0.1 (port 0 picks a free one) and prints `listening on ws://127.0.0.1:PORT`.

It echoes text and binary messages and answers pings and closes like a plain server, but with
two bugs (both on by default; --bug selects):
  rsv1-exit  a frame with RSV1 set makes the whole process exit (status 3), as a crash would;
  len-hang   a frame that declares more than 1 MiB makes it block its only thread for an hour,
             as a server that reads the whole declared payload synchronously would.
It is single-threaded (one select loop), so a hang stops every connection. Standard library
only, so it starts fast and restarts fast.
"""
import argparse
import base64
import hashlib
import os
import selectors
import socket
import struct
import sys
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def log(msg):
    print(msg, flush=True)


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.upgraded = False
        self.out = b""
        self.message = None  # (opcode, bytearray) of a fragmented message
        self.closing = False


def accept_value(key):
    return base64.b64encode(hashlib.sha1(key + GUID).digest())


def frame(opcode, payload):
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n < 65536:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return head + payload


def handshake(c):
    end = c.buf.find(b"\r\n\r\n")
    if end < 0:
        if len(c.buf) > 65536:
            return False
        return True
    head, c.buf = c.buf[:end], c.buf[end + 4:]
    key = None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"sec-websocket-key":
            key = value.strip()
    if not key:
        c.out += b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        c.closing = True
        return True
    c.out += (b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
              b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept_value(key) + b"\r\n\r\n")
    c.upgraded = True
    return True


def frames(c, bugs):
    """Handles the complete frames in c.buf; False when the connection must end."""
    while True:
        if len(c.buf) < 2:
            return True
        b0, b1 = c.buf[0], c.buf[1]
        fin, rsv, opcode = b0 & 0x80, (b0 >> 4) & 7, b0 & 0x0F
        masked, n = b1 & 0x80, b1 & 0x7F
        pos = 2
        if n == 126:
            if len(c.buf) < 4:
                return True
            n = struct.unpack("!H", c.buf[2:4])[0]
            pos = 4
        elif n == 127:
            if len(c.buf) < 10:
                return True
            n = struct.unpack("!Q", c.buf[2:10])[0]
            pos = 10
        if rsv & 4 and "rsv1-exit" in bugs:
            log("bug: a frame with RSV1: exiting")
            os._exit(3)
        if n > (1 << 20) and "len-hang" in bugs:
            log(f"bug: a frame declares {n} octets: blocking")
            time.sleep(3600)
        if rsv or (opcode in (3, 4, 5, 6, 7, 11, 12, 13, 14, 15)) or not masked:
            c.out += frame(8, struct.pack("!H", 1002))
            return False
        if len(c.buf) < pos + 4 + n:
            return True
        mask = c.buf[pos:pos + 4]
        data = bytearray(c.buf[pos + 4:pos + 4 + n])
        c.buf = c.buf[pos + 4 + n:]
        for i in range(len(data)):
            data[i] ^= mask[i & 3]
        if opcode == 9:
            c.out += frame(10, bytes(data))
        elif opcode == 10:
            pass
        elif opcode == 8:
            code = bytes(data[:2]) if len(data) >= 2 else b""
            c.out += frame(8, code)
            return False
        elif opcode in (1, 2):
            if c.message is not None:
                c.out += frame(8, struct.pack("!H", 1002))
                return False
            if fin:
                c.out += frame(opcode, bytes(data))
            else:
                c.message = (opcode, data)
        elif opcode == 0:
            if c.message is None:
                c.out += frame(8, struct.pack("!H", 1002))
                return False
            c.message[1].extend(data)
            if fin:
                c.out += frame(c.message[0], bytes(c.message[1]))
                c.message = None


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--bug", default="rsv1-exit,len-hang")
    a = ap.parse_args()
    bugs = set(b for b in a.bug.split(",") if b)
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", a.port))
    ls.listen(64)
    ls.setblocking(False)
    sel = selectors.DefaultSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    log(f"listening on ws://127.0.0.1:{ls.getsockname()[1]}")

    def drop(c):
        sel.unregister(c.sock)
        c.sock.close()

    while True:
        for key, _ in sel.select():
            if key.data is None:
                try:
                    s, _ = ls.accept()
                except OSError:
                    continue
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, Conn(s))
                continue
            c = key.data
            try:
                chunk = c.sock.recv(65536)
            except OSError:
                chunk = b""
            if not chunk:
                drop(c)
                continue
            c.buf += chunk
            keep = handshake(c) if not c.upgraded else True
            if keep and c.upgraded and not c.closing:
                keep = frames(c, bugs)
            try:
                if c.out:
                    c.sock.setblocking(True)
                    c.sock.settimeout(2)
                    c.sock.sendall(c.out)
                    c.sock.setblocking(False)
                    c.out = b""
            except OSError:
                keep = False
            if not keep or c.closing:
                drop(c)


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
