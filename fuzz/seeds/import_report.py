#!/usr/bin/env python3
"""Add the wire traffic of a wsconform JSON report to the fuzz seed corpora.

    import_report.py REPORT.json OUTDIR

For every case in the report (schema: reports/README.md; the fields used are
cases[].wire.log[] = {dir: "tx"|"rx"|"note", hex: "...", conn: name (cases with several
connections), t_us}), the byte streams of each connection are rebuilt from the logged
chunks. The stream that starts with "GET " is the client's, the other the server's,
whichever side the harness played. Each is written in the input format of every target
that reads it (fuzz/README.md, "Input formats"):

  session_server  client bytes, fed as logged (a script of the recorded write sizes) and
                  in one piece
  session_client  server bytes, with Sec-WebSocket-Accept rewritten to the value for the
                  targets' fixed nonce so the handshake gets through
  http_request    the client's head            http_response  the server's head (rewritten)
  frame           the frames after each head, parsed in the matching role

  observer        the server's stream with its head (options bit 6) and its frames alone
  report          the case as a one-case report (the run's header kept), when it fits in
                  the target's max_len

STOMP connections (a request for a path with "stomp" in it, or a v1x.stomp subprotocol)
also give:

  stomp           each direction's STOMP byte stream (the payloads of its WebSocket data
                  messages, unmasked), read in the version the CONNECTED frame named
  stomp_server    the case's STOMP connections (up to 4) as a fuzz_stomp_server script
                  (support/stomp_script.h): every client message in the order of the log,
                  close/ping/pong frames as control operations, pauses as clock advances;
                  once for the spec profile with the embedded broker's 1 s heart-beats,
                  once for the spring profile
  stomp_observer  the connection's STOMP traffic as records in the order of the log: each
                  broker message, and each client message as octets the suite sent

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
MAX_STOMP_SEED = 8000  # fuzz_stomp max_len is 8192
MAX_OBSERVER_SEED = 8000  # fuzz_observer, fuzz_stomp_observer max_len is 8192
MAX_REPORT_SEED = 16000  # fuzz_report max_len is 16384


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


def ws_frames(b):
    """(fin, opcode, unmasked payload) of each complete frame of a stream."""
    out, i = [], 0
    while i + 2 <= len(b):
        b0, b1 = b[i], b[i + 1]
        n, h = b1 & 127, 2
        if n == 126:
            if i + 4 > len(b):
                break
            n, h = int.from_bytes(b[i + 2:i + 4], "big"), 4
        elif n == 127:
            if i + 10 > len(b):
                break
            n, h = int.from_bytes(b[i + 2:i + 10], "big"), 10
        key = None
        if b1 & 0x80:
            key = b[i + h:i + h + 4]
            h += 4
        if i + h + n > len(b):
            break
        pl = b[i + h:i + h + n]
        if key is not None and len(key) == 4:
            pl = bytes(c ^ key[j & 3] for j, c in enumerate(pl))
        out.append((bool(b0 & 0x80), b0 & 15, pl, i + h + n))
        i += h + n
    return out


def ws_messages(b):
    """(opcode, payload, end offset) per whole data message or control frame."""
    out, cur, op = [], None, 0
    for fin, opcode, pl, end in ws_frames(b):
        if opcode >= 8:
            out.append((opcode, pl, end))
            continue
        if opcode:
            cur, op = bytearray(), opcode
        if cur is None:
            continue
        cur += pl
        if fin:
            out.append((op, bytes(cur), end))
            cur = None
    return out


STOMP_PROTOS = {b"v10.stomp": 1, b"v11.stomp": 2, b"v12.stomp": 3}
K_DT = [0, 1, 10, 49, 50, 51, 99, 100, 500, 999, 1000, 1001, 2000, 5000, 10000, 60000]


def stomp_proto(head):
    """None if not a STOMP connection, else the subprotocol code (0 = none)."""
    m = re.search(rb"(?im)^Sec-WebSocket-Protocol:[ \t]*([^\r\n]*)", head)
    if m:
        for tok in m.group(1).split(b","):
            code = STOMP_PROTOS.get(tok.strip().lower())
            if code:
                return code
    line = head.split(b"\r\n", 1)[0]
    return 0 if b"stomp" in line.lower() else None


def stomp_version_bits(server_stomp):
    """fuzz_stomp options bits for the version CONNECTED named (1.2 if none seen)."""
    m = re.search(rb"CONNECTED\r?\n(?:[^\n]*\n)*?version:(1\.[012])\r?\n", server_stomp)
    if not m:
        return 0
    return {b"1.0": 1, b"1.1": 2, b"1.2": 0}[m.group(1)]


def advance_ops(ms):
    """SS_OP_ADVANCE operations that add up to about ms (at most 4)."""
    ops = bytearray()
    for _ in range(4):
        k = max(i for i, v in enumerate(K_DT) if v <= ms)
        if K_DT[k] == 0:
            break
        ops.append(0x40 | k)
        ms -= K_DT[k]
    return bytes(ops)


def stomp_server_seeds(outdir, conns, events):
    """conns: [(name, client stream, subprotocol code)] in order of appearance; events: the
    log's (name, dir, chunk, t_us) in order."""
    conns = conns[:4]
    index = {name: i for i, (name, _, _) in enumerate(conns)}
    msgs = {name: ws_messages(c2s[head_end(c2s):]) for name, c2s, _ in conns}
    pos = {name: 0 for name in index}  # client octets seen so far (after the head)
    done = {name: 0 for name in index}  # messages already scripted
    head = {name: head_end(c2s) for name, c2s, _ in conns}
    script, pool, cur, last_t = bytearray(), bytearray(), 0, None
    for name, d, chunk, t in events:
        if name not in index or d != "tx":
            continue
        pos[name] += len(chunk)
        seen = pos[name] - head[name]
        ready = [m for m in msgs[name][done[name]:] if m[2] <= seen]
        if not ready:
            continue
        if last_t is not None and t - last_t > 40000:
            script += advance_ops((t - last_t) // 1000)
        last_t = t
        if index[name] != cur:
            cur = index[name]
            script.append(0x00 | cur)
        for op, pl, _ in ready:
            done[name] += 1
            if op in (1, 2) and len(pl) < 65536:
                script += bytes([0xE0 | (op == 2), len(pl) >> 8, len(pl) & 255])
                pool += pl
            elif op == 8:
                code = int.from_bytes(pl[:2], "big") if len(pl) >= 2 else 0
                script.append(0x73 if not code else 0x74 if code == 1002 else 0x72)
            elif op == 9:
                script.append(0x70)
            elif op == 10:
                script.append(0x71)
    if not script or len(script) > 0xFFFF:
        return 0
    n = max(2, len(conns))
    cfg1 = 0
    for i, (_, _, proto) in enumerate(conns):
        cfg1 |= proto << (2 * i)
    body = bytes([len(script) >> 8, len(script) & 255]) + bytes(script) + bytes(pool)
    # spec, with the embedded broker's 1 s heart-beats; spring, with its defaults
    write(outdir, "stomp_server", bytes([(n - 2) << 6, cfg1, 0x0A, 0]) + body)
    write(outdir, "stomp_server", bytes([((n - 2) << 6) | 1, cfg1, 0x00, 0]) + body)
    return 2


def import_connection(outdir, tx, tx_chunks, rx, rx_chunks):
    """The WebSocket targets' seeds of one connection; returns (seeds, client stream,
    server stream) with the streams None when neither side is a client."""
    if tx.startswith(b"GET "):
        c2s, c2s_chunks, s2c = tx, tx_chunks, rx
    elif rx.startswith(b"GET "):
        c2s, c2s_chunks, s2c = rx, rx_chunks, tx
    else:
        return 0, None, None
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
        write(outdir, "observer", bytes([0x40, 0x00]) + s2c[:MAX_OBSERVER_SEED])
        if len(s2c) > h:
            write(outdir, "frame", bytes([0x01, 0x00]) + s2c[h:h + MAX_FRAME_SEED])
            write(outdir, "observer", bytes([0x00, 0x02, 1, 7]) + s2c[h:h + MAX_OBSERVER_SEED])
        n += 4
    return n, c2s, s2c


def stomp_observer_seed(outdir, name, c2s, s2c, events, vbits):
    """The connection's data messages as fuzz_stomp_observer records, in log order."""
    hc, hs = head_end(c2s), head_end(s2c)
    msgs = {"tx": ws_messages(c2s[hc:]), "rx": ws_messages(s2c[hs:])}
    base = {"tx": hc, "rx": hs}
    pos, done = {"tx": 0, "rx": 0}, {"tx": 0, "rx": 0}
    recs = bytearray()
    for ename, d, chunk, _ in events:
        if ename != name:
            continue
        pos[d] += len(chunk)
        seen = pos[d] - base[d]
        for op, pl, end in msgs[d][done[d]:]:
            if end > seen:
                break
            done[d] += 1
            if op not in (1, 2) or len(pl) > 0xFFFF:
                continue
            tag = 2 if d == "tx" else op - 1
            recs += bytes([tag, len(pl) & 255, len(pl) >> 8]) + pl
    if recs and len(recs) <= MAX_OBSERVER_SEED:
        write(outdir, "stomp_observer", bytes([vbits | 0x20, 0]) + bytes(recs))
        return 1
    return 0


def stomp_stream(b):
    return b"".join(pl for op, pl, _ in ws_messages(b[head_end(b):]) if op in (1, 2))


def import_case(outdir, case):
    log = (case.get("wire") or {}).get("log") or []
    conns, order, events = {}, [], []
    for e in log:
        d = e.get("dir")
        if d not in ("tx", "rx") or not e.get("hex"):
            continue
        try:
            chunk = bytes.fromhex(e["hex"])
        except ValueError:
            return 0
        name = e.get("conn")
        if name not in conns:
            conns[name] = {"tx": [], "rx": []}
            order.append(name)
        conns[name][d].append(chunk)
        events.append((name, d, chunk, e.get("t_us") or 0))
    n, stomp = 0, []
    for name in order:
        tx_chunks, rx_chunks = conns[name]["tx"], conns[name]["rx"]
        k, c2s, s2c = import_connection(outdir, b"".join(tx_chunks), tx_chunks, b"".join(rx_chunks), rx_chunks)
        n += k
        if c2s is None:
            continue
        proto = stomp_proto(c2s[:head_end(c2s)])
        if proto is None:
            continue
        client, server = stomp_stream(c2s), stomp_stream(s2c or b"")
        vb = stomp_version_bits(server)
        for data, bits in ((client, vb), (server, vb)):
            if data:
                write(outdir, "stomp", bytes([bits, 0x80, 0]) + data[:MAX_STOMP_SEED])
                write(outdir, "stomp", bytes([bits | 4, 0x80, 2, 1, 7]) + data[:MAX_STOMP_SEED])
                n += 2
        # the harness played the client: its tx is the client stream
        if tx_chunks and b"".join(tx_chunks).startswith(b"GET "):
            stomp.append((name, c2s, proto))
            n += stomp_observer_seed(outdir, name, c2s, s2c or b"", events,
                                     {1: 1, 2: 2, 3: 3}.get(proto, 0))
    if stomp:
        n += stomp_server_seeds(outdir, stomp, events)
    return n


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: import_report.py REPORT.json OUTDIR\n")
        return 2
    with open(sys.argv[1], "rb") as f:
        report = json.load(f)
    cases = report.get("cases") or []
    total = sum(import_case(sys.argv[2], c) for c in cases)
    header = {k: report[k] for k in ("schema", "tool", "run") if k in report}
    for c in cases:
        mini = json.dumps(dict(header, cases=[c]), indent=1).encode()
        if len(mini) <= MAX_REPORT_SEED:
            write(sys.argv[2], "report", mini)
            total += 1
    sys.stderr.write("import_report: %d seeds from %d cases of %s\n" % (total, len(cases), sys.argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
