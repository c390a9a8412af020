#!/usr/bin/env python3
"""Add the wire traffic of a wsconform JSON report to the fuzz seed corpora.

    import_report.py REPORT.json OUTDIR

For every case in the report (schema: reports/README.md; the fields used are
cases[].wire.log[] = {dir: "tx"|"rx"|"note", hex: "..."}), the two byte streams are rebuilt
from the logged chunks. The stream that starts with "GET " is the client's, the other the
server's, whichever side the harness played. Each is written in the input format of every
target that reads it (fuzz/README.md, "Input formats"):

  session_server  client bytes, fed as logged (a script of the recorded write sizes) and
                  in one piece
  session_client  server bytes, with Sec-WebSocket-Accept rewritten to the value for the
                  targets' fixed nonce so the handshake gets through
  http_request    the client's head            http_response  the server's head (rewritten)
  frame           the frames after each head, parsed in the matching role

File names are the first 16 hex digits of the content's SHA-1, so re-importing is
idempotent. Only the Python standard library is used.
"""
import hashlib
import json
import os
import re
import sys

SAMPLE_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # accept for the RFC 6455 sample nonce
MAX_FRAME_SEED = 4096 + 64


def write(outdir, target, data):
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    name = hashlib.sha1(data).hexdigest()[:16]
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def head_end(b):
    i = b.find(b"\r\n\r\n")
    if i >= 0:
        return i + 4
    i = b.find(b"\n\n")
    return i + 2 if i >= 0 else len(b)


def script_from_chunks(sizes):
    """Script op 0x1 feeds (next byte + 1) octets: one op per recorded write (split at 256)."""
    ops = bytearray()
    for n in sizes:
        while n > 0 and len(ops) < 254:
            k = min(n, 256)
            ops += bytes([0x10, k - 1])
            n -= k
    return bytes(ops[:254])


def session_seed(hb, ob, cfg, script, stream):
    return bytes([hb, ob, cfg, len(script)]) + script + stream


def import_case(outdir, case):
    log = (case.get("wire") or {}).get("log") or []
    streams = {"tx": [], "rx": []}
    for e in log:
        d = e.get("dir")
        if d in streams and e.get("hex"):
            try:
                streams[d].append(bytes.fromhex(e["hex"]))
            except ValueError:
                return 0
    tx, rx = b"".join(streams["tx"]), b"".join(streams["rx"])
    if tx.startswith(b"GET "):
        c2s, c2s_chunks, s2c = tx, streams["tx"], rx
    elif rx.startswith(b"GET "):
        c2s, c2s_chunks, s2c = rx, streams["rx"], tx
    else:
        return 0
    n = 0
    if c2s:
        sizes = [len(c) for c in c2s_chunks]
        write(outdir, "session_server", session_seed(0x08, 0x00, 0x20, b"", c2s))
        write(outdir, "session_server", session_seed(0x08, 0x00, 0x20, script_from_chunks(sizes), c2s))
        h = head_end(c2s)
        write(outdir, "http_request", bytes([0x00, 0x20, 0x00]) + c2s[:h])
        if len(c2s) > h:
            write(outdir, "frame", bytes([0x00, 0x00]) + c2s[h:h + MAX_FRAME_SEED])
        n += 4
    if s2c.startswith(b"HTTP/"):
        s2c = re.sub(rb"(?im)^(Sec-WebSocket-Accept:[ \t]*)[^\r\n]*", lambda m: m.group(1) + SAMPLE_ACCEPT, s2c, count=1)
        write(outdir, "session_client", session_seed(0x08, 0x00, 0x22, b"", s2c))
        h = head_end(s2c)
        write(outdir, "http_response", bytes([0x08, 0x00]) + s2c[:h])
        if len(s2c) > h:
            write(outdir, "frame", bytes([0x01, 0x00]) + s2c[h:h + MAX_FRAME_SEED])
        n += 3
    return n


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: import_report.py REPORT.json OUTDIR\n")
        return 2
    with open(sys.argv[1], "rb") as f:
        report = json.load(f)
    cases = report.get("cases") or []
    total = sum(import_case(sys.argv[2], c) for c in cases)
    sys.stderr.write("import_report: %d seeds from %d cases of %s\n" % (total, len(cases), sys.argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
