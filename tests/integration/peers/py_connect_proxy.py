#!/usr/bin/python3
"""A minimal HTTP CONNECT proxy for testing a client's proxy support.

Usage: py_connect_proxy.py [--port 0]
Binds 127.0.0.1 and prints `listening on http://127.0.0.1:PORT`. Tunnels CONNECT requests to
loopback targets only (127.0.0.0/8, localhost) and prints `CONNECT host:port` for each; any
other method gets 405 and `REFUSED METHOD target`, any other target 403.
"""
import argparse
import asyncio


def out(line):
    print(line, flush=True)


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.write_eof()
        except (OSError, RuntimeError):
            pass


async def handle(creader, cwriter):
    try:
        head = await asyncio.wait_for(creader.readuntil(b"\r\n\r\n"), 10)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError):
        cwriter.close()
        return
    method, target, _ = head.split(b"\r\n", 1)[0].decode("latin1").split(" ", 2)
    if method != "CONNECT":
        out(f"REFUSED {method} {target}")
        cwriter.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
        cwriter.close()
        return
    host, _, port = target.rpartition(":")
    if not (host.startswith("127.") or host == "localhost") or not port.isdigit():
        out(f"REFUSED CONNECT {target}")
        cwriter.write(b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
        cwriter.close()
        return
    try:
        sreader, swriter = await asyncio.open_connection(host, int(port))
    except OSError:
        cwriter.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
        cwriter.close()
        return
    out(f"CONNECT {target}")
    cwriter.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
    await asyncio.gather(pipe(creader, swriter), pipe(sreader, cwriter))
    swriter.close()
    cwriter.close()


async def main(port):
    srv = await asyncio.start_server(handle, "127.0.0.1", port)
    out(f"listening on http://127.0.0.1:{srv.sockets[0].getsockname()[1]}")
    async with srv:
        await srv.serve_forever()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    try:
        asyncio.run(main(ap.parse_args().port))
    except KeyboardInterrupt:
        pass
