// Echo server on the npm package `ws`: the independent peer of the benchmark.
// Usage: node ws_echo_server.js [PORT]   (default 0: a free port)
// Binds 127.0.0.1 and prints `listening on ws://127.0.0.1:PORT`. permessage-deflate off (the
// benchmark compares framing and I/O, not compression). SIGTERM closes clients with 1001.
'use strict';
const { WebSocketServer } = require('ws');
const port = Number(process.argv[2] || 0);
const wss = new WebSocketServer({ host: '127.0.0.1', port, perMessageDeflate: false, maxPayload: 64 << 20 });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', () => {}); // a protocol error closes that socket; keep serving the others
});
wss.on('listening', () => {
  console.log(`listening on ws://127.0.0.1:${wss.address().port} (ws ${require('ws/package.json').version})`);
});
process.on('SIGTERM', () => {
  for (const ws of wss.clients) ws.close(1001, 'going away');
  wss.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
