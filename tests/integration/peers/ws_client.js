// Interop checks with an independent client, the npm package `ws`, against a server under test.
// Usage: node ws_client.js URL [--ca FILE] [--suite echo|deflate]
//   echo     text, binary, empty, length-encoding boundaries, 64 KiB and 16 MiB messages are
//            echoed byte for byte; ping gets its pong; close 1000 is answered with 1000.
//            permessage-deflate is not offered.
//   deflate  permessage-deflate is offered: the server declines it or negotiates it, and
//            echo works either way.
// Output: `PLAN n`, then one `PASS name` / `FAIL name: why` line per check. Exits 0 once
// every check ran (lib.sh turns the lines into TAP), non-zero if it had to stop early.
'use strict';
const fs = require('fs');
const crypto = require('crypto');
const WebSocket = require('ws');

const args = process.argv.slice(2);
const url = args[0];
const opt = (name) => { const i = args.indexOf(name); return i >= 0 ? args[i + 1] : undefined; };
const suite = opt('--suite') || 'echo';
const ca = opt('--ca');
if (!url || !['echo', 'deflate'].includes(suite)) {
  console.error('usage: ws_client.js URL [--ca FILE] [--suite echo|deflate]');
  process.exit(2);
}

function asciiText(n) {
  const b = crypto.randomBytes(n);
  for (let i = 0; i < n; i++) b[i] = 0x20 + (b[i] % 95);
  return b.toString('latin1');
}
function utf8Text(minBytes) {
  const unit = 'h\u00e9llo \u2713 \ud834\udd1e \u20ac\u00a0'; // 1-, 2-, 3- and 4-byte sequences
  return unit.repeat(Math.ceil(minBytes / Buffer.byteLength(unit)));
}

const MiB = 1 << 20;
const messages = suite === 'echo' ? [
  ['text "Hello"', 'Hello'],
  ['text UTF-8', 'h\u00e9llo \u2713 \ud834\udd1e'],
  ['text empty', ''],
  ['binary 0..255', Buffer.from(Array.from({ length: 256 }, (_, i) => i))],
  ['binary empty', Buffer.alloc(0)],
  ['text 125 B', asciiText(125)],
  ['text 126 B', asciiText(126)],
  ['binary 65535 B', crypto.randomBytes(65535)],
  ['text 64 KiB', asciiText(65536)],
  ['text 64 KiB UTF-8', utf8Text(65536)],
  ['binary 64 KiB', crypto.randomBytes(65536)],
  ['binary 16 MiB', crypto.randomBytes(16 * MiB)],
  ['text 16 MiB', asciiText(16 * MiB)],
] : [
  ['text "Hello"', 'Hello'],
  ['text 64 KiB compressible', 'compress me, please. '.repeat(3200)],
  ['binary 64 KiB', crypto.randomBytes(65536)],
];

const extra = suite === 'echo' ? ['open', 'ping/pong', 'close 1000'] : ['open', 'extension', 'close 1000'];
console.log(`PLAN ${messages.length + extra.length}`);
const pass = (name) => console.log(`PASS ${name}`);
const fail = (name, why) => console.log(`FAIL ${name}: ${why}`);

const ws = new WebSocket(url, {
  perMessageDeflate: suite === 'deflate',
  maxPayload: 64 * MiB,
  handshakeTimeout: 10000,
  ca: ca ? fs.readFileSync(ca) : undefined,
});

const inbox = [];
let waiter = null;
let closed = null;
ws.on('message', (data, isBinary) => {
  inbox.push({ data, isBinary });
  if (waiter) waiter();
});
ws.on('pong', (data) => {
  inbox.push({ pong: data });
  if (waiter) waiter();
});
ws.on('close', (code, reason) => {
  closed = { code, reason: reason.toString() };
  if (waiter) waiter();
});
ws.on('error', (e) => {
  console.error(`ws error: ${e.message}`);
  if (!closed) closed = { code: -1, reason: e.message };
  if (waiter) waiter();
});

function next(ms) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      waiter = null;
      if (inbox.length) resolve(inbox.shift());
      else resolve(closed ? { closed } : { timeout: true });
    };
    const t = setTimeout(done, ms);
    if (inbox.length || closed) done();
    else waiter = done;
  });
}
const describe = (ev) => (ev.timeout ? 'timed out waiting' : ev.closed
  ? `connection closed (${ev.closed.code} ${ev.closed.reason})` : ev.pong ? 'got a pong' : null);

async function main() {
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('close', () => reject(new Error(`closed before open (${closed && closed.code})`)));
    ws.once('error', reject);
  }).then(() => pass('open'), (e) => { fail('open', e.message); process.exit(1); });

  if (suite === 'deflate') {
    const ext = ws.extensions || '';
    if (ext === '') pass('extension: permessage-deflate offer declined (no Sec-WebSocket-Extensions)');
    else if (/^permessage-deflate/.test(ext)) pass(`extension: negotiated ${ext}`);
    else fail('extension', `unexpected Sec-WebSocket-Extensions: ${ext}`);
  }

  let stuck = null; // once the connection is gone or silent, the remaining checks cannot run
  for (const [name, sent] of messages) {
    if (stuck) { fail(name, `not run: ${stuck}`); continue; }
    const binary = Buffer.isBuffer(sent);
    ws.send(sent, { binary });
    const ev = await next(30000);
    const why = describe(ev);
    if (why) { fail(name, why); if (ev.closed || ev.timeout) stuck = why; continue; }
    const want = binary ? sent : Buffer.from(sent, 'utf8');
    if (ev.isBinary !== binary) fail(name, `echoed as ${ev.isBinary ? 'binary' : 'text'}`);
    else if (ev.data.length !== want.length) fail(name, `echo has ${ev.data.length} bytes, sent ${want.length}`);
    else if (Buffer.compare(ev.data, want) !== 0) fail(name, 'echo differs from what was sent');
    else pass(`${name} echoed byte-exact`);
  }

  if (suite === 'echo' && stuck) fail('ping/pong', `not run: ${stuck}`);
  if (suite === 'echo' && !stuck) {
    const payload = Buffer.from('ping-\u00e9', 'utf8');
    ws.ping(payload);
    const ev = await next(10000);
    if (ev.pong && Buffer.compare(ev.pong, payload) === 0) pass('ping/pong: pong carries the ping payload');
    else fail('ping/pong', describe(ev) || 'pong payload differs');
  }

  if (!closed) ws.close(1000, 'bye');
  const start = Date.now();
  while (!closed && Date.now() - start < 10000) await next(10000 - (Date.now() - start));
  if (closed && closed.code === 1000) pass('close 1000: server answered with close 1000');
  else fail('close 1000', closed ? `close code ${closed.code} (${closed.reason})` : 'no close within 10 s');
  process.exit(0);
}
main().catch((e) => { console.error(e.stack || String(e)); process.exit(1); });
