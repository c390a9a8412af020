// @stomp/stompjs (npm, over the npm ws client) against a STOMP-over-WebSocket broker: an
// independent client's view of connect, subscribe with receipt, send / receive (text with
// escaped headers, binary with NULs), client-individual ACK with redelivery of the message
// left unacknowledged, transactions (commit and abort), heart-beats, and DISCONNECT with its
// RECEIPT.
//
// usage: node stompjs_check.js URL [--host H] [--login L --passcode P]
// Prints `PLAN n`, then `PASS name` / `FAIL name: why` per check (tests/integration/lib.sh
// peer_tap); exits 0 once the plan ran, whatever it found.
'use strict';
const WebSocket = require('ws');
const { Client } = require('@stomp/stompjs');

const args = process.argv.slice(2);
const opt = (k, d) => {
  const j = args.indexOf(k);
  return j >= 0 ? args[j + 1] : d;
};
const url = args[0];
const connectHeaders = {};
if (opt('--host')) connectHeaders.host = opt('--host');
if (opt('--login')) {
  connectHeaders.login = opt('--login');
  connectHeaders.passcode = opt('--passcode', '');
}
const run = `${process.pid}-${Date.now()}`;
const CHECKS = 11;
console.log(`PLAN ${CHECKS}`);
let reported = 0;
const pass = (name) => { reported++; console.log(`PASS ${name}`); };
const fail = (name, why) => { reported++; console.log(`FAIL ${name}: ${why}`); };
const check = (name, ok, why) => (ok ? pass(name) : fail(name, why));
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const protocols = ['v12.stomp', 'v11.stomp', 'v10.stomp'];

// A connected client, with a log of its socket-level events.
function connect(label, extra = {}) {
  return new Promise((resolve, reject) => {
    const state = { closed: false, errors: [], ws: null };
    const c = new Client({
      webSocketFactory: () => {
        state.ws = new WebSocket(url, protocols);
        return state.ws;
      },
      connectHeaders,
      reconnectDelay: 0,
      heartbeatIncoming: 0,
      heartbeatOutgoing: 0,
      connectionTimeout: 5000,
      ...extra,
      onConnect: (frame) => resolve({ c, frame, state }),
      onStompError: (f) => {
        state.errors.push(`ERROR ${f.headers.message || ''} ${f.body}`);
        reject(new Error(`${label}: ERROR frame: ${f.headers.message || ''} ${f.body}`));
      },
      onWebSocketError: (e) => {
        state.errors.push(`ws error ${e.message || e}`);
        reject(new Error(`${label}: WebSocket error ${e.message || e}`));
      },
      onWebSocketClose: (e) => {
        state.closed = true;
        state.closeCode = e.code;
        reject(new Error(`${label}: WebSocket closed (${e.code}) before CONNECTED`));
      },
    });
    c.activate();
  });
}

// Resolves with the frames received until `count` arrived or `ms` passed.
function collect(client, dest, headers, count, ms, onEach) {
  return new Promise((resolve) => {
    const got = [];
    let sub;
    const done = () => resolve({ got, sub });
    const t = setTimeout(done, ms);
    sub = client.subscribe(dest, (m) => {
      got.push(m);
      if (onEach) onEach(m);
      if (got.length === count) {
        clearTimeout(t);
        setImmediate(done);
      }
    }, headers);
  });
}

// Subscribe with a receipt and wait for it.
function subscribeWithReceipt(client, dest, headers, onMessage, ms = 3000) {
  return new Promise((resolve) => {
    const receipt = `sub-r-${Math.random().toString(36).slice(2)}`;
    const t = setTimeout(() => resolve({ sub: null, receipt: null }), ms);
    client.watchForReceipt(receipt, (f) => {
      clearTimeout(t);
      resolve({ sub, receipt: f });
    });
    const sub = client.subscribe(dest, onMessage, { ...headers, receipt });
  });
}

function disconnectWithReceipt(entry, ms = 3000) {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), ms);
    entry.c.onDisconnect = (frame) => {
      clearTimeout(t);
      resolve(frame);
    };
    entry.c.onWebSocketClose = () => {};
    entry.c.deactivate();
  });
}

async function main() {
  // 1. connect
  let a;
  try {
    a = await connect('client a');
  } catch (e) {
    fail('connect: CONNECTED', e.message);
    for (let i = reported; i < CHECKS; i++) fail(`check ${i + 1}`, 'not run: no connection');
    return;
  }
  const proto = a.state.ws.protocol;
  check('connect: CONNECTED version 1.2 over subprotocol v12.stomp',
    a.frame.headers.version === '1.2' && proto === 'v12.stomp',
    `version ${a.frame.headers.version}, subprotocol '${proto}'`);

  // 2. subscribe with receipt, 3. text message with headers that need escaping
  const topic = `/topic/wsc-stompjs-${run}`;
  const texts = [];
  const s1 = await subscribeWithReceipt(a.c, topic, {}, (m) => texts.push(m));
  check('SUBSCRIBE with a receipt header: RECEIPT with its receipt-id',
    s1.receipt && s1.receipt.command === 'RECEIPT', 'no RECEIPT within 3 s');
  // stompjs 7.5 unescapes with sequential replaces, so a backslash followed by c, n or r
  // would come back wrong whatever the broker does (a nested escape, ES-06): avoid that.
  const special = 'a:b\\ d\ne';
  a.c.publish({ destination: topic, body: 'héllo wörld ✓', headers: { 'x-special': special, 'content-type': 'text/plain' } });
  await sleep(50);
  for (let i = 0; i < 40 && texts.length < 1; i++) await sleep(50);
  const t0 = texts[0];
  check('SEND / MESSAGE: UTF-8 body and a header with : \\ LF round-trip',
    t0 && t0.body === 'héllo wörld ✓' && t0.headers['x-special'] === special &&
      t0.headers.destination === topic && t0.headers.subscription === s1.sub.id &&
      t0.headers['message-id'] !== undefined,
    t0 ? `body ${JSON.stringify(t0.body)}, headers ${JSON.stringify(t0.headers)}` : 'no MESSAGE within 2 s');

  // 4. binary body with NULs (content-length)
  const bin = new Uint8Array([0, 1, 2, 0, 255, 10, 0]);
  a.c.publish({ destination: topic, binaryBody: bin, headers: { 'content-type': 'application/octet-stream' } });
  for (let i = 0; i < 40 && texts.length < 2; i++) await sleep(50);
  const t1 = texts[1];
  const gotBin = t1 ? Buffer.from(t1.binaryBody) : null;
  check('binary body with NUL octets arrives intact (content-length)',
    gotBin && gotBin.equals(Buffer.from(bin)),
    t1 ? `got ${gotBin.toString('hex')}` : 'no MESSAGE within 2 s');
  s1.sub.unsubscribe();

  // 5. queue with client-individual acks: three messages
  const queue = `/queue/wsc-stompjs-${run}`;
  const qgot = [];
  const s2 = await subscribeWithReceipt(a.c, queue, { ack: 'client-individual' }, (m) => qgot.push(m));
  for (const n of ['one', 'two', 'three']) a.c.publish({ destination: queue, body: n });
  for (let i = 0; i < 40 && qgot.length < 3; i++) await sleep(50);
  check('queue, ack:client-individual: three MESSAGEs in order with an ack header',
    s2.receipt && qgot.length === 3 && qgot.map((m) => m.body).join(',') === 'one,two,three' &&
      qgot.every((m) => m.headers.ack !== undefined),
    `got ${JSON.stringify(qgot.map((m) => [m.body, m.headers.ack]))}`);

  // 6. ACK the first and the third, leave the second unacknowledged
  let ackOk = qgot.length === 3;
  if (ackOk) {
    const r1 = `ack-r-${run}`;
    const acked = new Promise((resolve) => {
      const t = setTimeout(() => resolve(false), 3000);
      a.c.watchForReceipt(r1, () => { clearTimeout(t); resolve(true); });
    });
    qgot[0].ack();
    qgot[2].ack({ receipt: r1 });
    ackOk = await acked;
  }
  check('ACK (1.2: id = the ack header) with a receipt: RECEIPT', ackOk, 'no RECEIPT for the ACK');

  // 7. DISCONNECT with receipt
  const rframe = await disconnectWithReceipt(a);
  check('DISCONNECT with a receipt: RECEIPT, then the close',
    rframe && rframe.command === 'RECEIPT' && /^close-/.test(rframe.headers['receipt-id']),
    rframe ? `got ${rframe.command} ${JSON.stringify(rframe.headers)}` : 'no RECEIPT within 3 s');

  // 8. the unacknowledged message goes to the next subscriber, the acknowledged ones do not
  let b;
  try {
    b = await connect('client b');
  } catch (e) {
    fail('redelivery of the unacknowledged message', e.message);
    fail('transactions', 'not run: no connection');
    fail('heart-beats', 'not run');
    fail('ERROR-free run', e.message);
    return;
  }
  const { got: again } = await collect(b.c, queue, { ack: 'client-individual' }, 3, 1500);
  check('after the subscriber left: only the unacknowledged MESSAGE is delivered again',
    again.length === 1 && again[0].body === 'two',
    `got ${JSON.stringify(again.map((m) => m.body))}`);
  if (again.length) again.forEach((m) => m.ack());

  // 9. transactions: committed SEND arrives (after COMMIT only), aborted one never
  const ttopic = `/topic/wsc-stompjs-tx-${run}`;
  const tgot = [];
  await subscribeWithReceipt(b.c, ttopic, {}, (m) => tgot.push(m.body));
  const tx1 = b.c.begin();
  b.c.publish({ destination: ttopic, body: 'committed', headers: { transaction: tx1.id } });
  await sleep(300);
  const beforeCommit = tgot.length;
  tx1.commit();
  const tx2 = b.c.begin();
  b.c.publish({ destination: ttopic, body: 'aborted', headers: { transaction: tx2.id } });
  tx2.abort();
  await sleep(600);
  check('transactions: SEND held until COMMIT, dropped at ABORT',
    beforeCommit === 0 && tgot.join(',') === 'committed',
    `before COMMIT ${beforeCommit} messages; got ${JSON.stringify(tgot)}`);
  await disconnectWithReceipt(b);

  // 10. heart-beats both ways at 500 ms: the connection lives through 2.5 s of silence
  let h;
  try {
    h = await connect('client h', { heartbeatIncoming: 500, heartbeatOutgoing: 500 });
  } catch (e) {
    fail('heart-beats', e.message);
    fail('ERROR-free run', e.message);
    return;
  }
  let hClosed = false;
  h.c.onWebSocketClose = () => { hClosed = true; };
  await sleep(2500);
  check('heart-beat 500,500: CONNECTED heart-beat header, connection alive after 2.5 s idle',
    !hClosed && h.c.connected && /^\d+,\d+$/.test(h.frame.headers['heart-beat'] || ''),
    `closed ${hClosed}, heart-beat '${h.frame.headers['heart-beat']}'`);
  await disconnectWithReceipt(h);

  // 11. no ERROR anywhere
  const errs = [...a.state.errors, ...b.state.errors, ...h.state.errors];
  check('no ERROR frame or WebSocket error', errs.length === 0, errs.join('; '));
}

const guard = setTimeout(() => {
  for (let i = reported; i < CHECKS; i++) fail(`check ${i + 1}`, 'timed out (30 s)');
  process.exit(1);
}, 30000);
main().then(() => {
  clearTimeout(guard);
  process.exit(0);
}, (e) => {
  // The connection went away under a step (stompjs throws): the rest did not run.
  console.error(e);
  for (let i = reported; i < CHECKS; i++) fail(`check ${i + 1}`, `not run: ${e.message}`);
  clearTimeout(guard);
  process.exit(0);
});
