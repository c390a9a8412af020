/* Seed emitter: writes the seed corpus of every fuzz target into OUTDIR/<target>/.
 *
 * Nothing here is hand-picked bytes: the traffic comes from the library itself. A client
 * session and a server session are connected in memory and run through scenarios (every
 * opcode, every length form, fragmentation, ping/pong, each close code class, UTF-8 of each
 * sequence length, subprotocol and extension negotiation, handshake refusals); what each
 * side wrote is recorded, like nghttp2's corpus recorded from an h2spec run. Protocol
 * violations are then derived from that traffic by rewriting one field at a time (the frame
 * encoder with a bad opcode, an unmasked frame, a non-minimal length, an invalid UTF-8
 * payload, a request header removed...), mirroring the unit tests' vectors.
 *
 * Each recorded stream is written in the input format of each target that can read it
 * (fuzz/README.md), with a few option bytes, chunk plans and scripts, and named by a 64-bit
 * FNV-1a hash of its content (duplicates collapse). Deterministic: same library, same seeds.
 *
 * The STOMP targets' seeds come from emit_stomp.c (the codec's encoder, and scripted
 * broker sessions).
 *
 * Usage: emit OUTDIR
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/buf.h"
#include "codec/close.h"
#include "codec/frame.h"
#include "codec/mask.h"
#include "handshake/handshake.h"
#include "handshake/http.h"
#include "session/session.h"
#include "support/common.h"
#include "support/registry_fixture.h"
#include "support/session_driver.h"

/* fuzz/seeds/emit_stomp.c: the STOMP targets' seeds. */
void emit_stomp_seeds(void (*write)(const char *target, const void *data, size_t n));
/* fuzz/seeds/emit_harness.c: the harness targets' seeds, derived from the others. */
void emit_harness_derive(void (*write)(const char *target, const void *data, size_t n),
                         const char *target, const uint8_t *p, size_t n);

static const char *g_out;
static unsigned long g_written;

/* ---- output ---- */

static void mkdir_p(const char *path) {
  if (mkdir(path, 0777) != 0 && errno != EEXIST) {
    perror(path);
    exit(1);
  }
}

static void write_seed(const char *target, const void *data, size_t n) {
  const uint8_t *p = data;
  uint64_t h = UINT64_C(0xcbf29ce484222325);
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * UINT64_C(0x100000001b3);
  char dir[4096], path[4200];
  snprintf(dir, sizeof dir, "%s/%s", g_out, target);
  mkdir_p(dir);
  snprintf(path, sizeof path, "%s/%016llx", dir, (unsigned long long)h);
  FILE *f = fopen(path, "wb");
  if (!f || (n && fwrite(p, 1, n, f) != n) || fclose(f) != 0) {
    perror(path);
    exit(1);
  }
  g_written++;
  emit_harness_derive(write_seed, target, p, n);
}

/* prefix bytes + body */
static void write_with(const char *target, const uint8_t *pre, size_t npre, const void *body,
                       size_t n) {
  wsref_buf b = WSREF_BUF_INIT;
  if (wsref_buf_append(&b, pre, npre) < 0 || wsref_buf_append(&b, body, n) < 0) abort();
  write_seed(target, fuzz_buf_head(&b), wsref_buf_len(&b));
  wsref_buf_free(&b);
}

static void put(wsref_buf *b, const void *p, size_t n) {
  if (wsref_buf_append(b, p, n) < 0) abort();
}

/* ---- frames via the library's encoder ---- */

static const uint8_t k_key[4] = {0x37, 0xfa, 0x21, 0x3d}; /* RFC 6455 5.7 */

static void frame(wsref_buf *b, unsigned opcode, bool fin, unsigned rsv, bool masked,
                  const void *payload, size_t n) {
  wsref_frame_header h;
  memset(&h, 0, sizeof h);
  h.fin = fin;
  h.rsv1 = rsv & 4;
  h.rsv2 = rsv & 2;
  h.rsv3 = rsv & 1;
  h.opcode = (uint8_t)opcode;
  h.masked = masked;
  h.length = n;
  if (masked) memcpy(h.mask, k_key, 4);
  uint8_t hb[WSREF_FRAME_HEADER_MAX];
  put(b, hb, wsref_frame_header_encode(hb, &h));
  if (!n) return;
  uint8_t *dst = wsref_buf_reserve(b, n);
  if (!dst) abort();
  if (masked)
    wsref_mask_copy(dst, payload, n, k_key, 0);
  else
    memcpy(dst, payload, n);
  wsref_buf_commit(b, n);
}

/* A header whose length uses the given form (7, 16 or 64 bits), minimal or not. */
static void header_form(wsref_buf *b, uint8_t b0, bool masked, uint64_t len, int bits) {
  uint8_t h[14];
  size_t n = 2;
  h[0] = b0;
  uint8_t m = masked ? 0x80 : 0;
  if (bits == 7) {
    h[1] = (uint8_t)(m | len);
  } else if (bits == 16) {
    h[1] = m | 126;
    h[2] = (uint8_t)(len >> 8);
    h[3] = (uint8_t)len;
    n = 4;
  } else {
    h[1] = m | 127;
    for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)(len >> (56 - 8 * i));
    n = 10;
  }
  if (masked) {
    memcpy(h + n, k_key, 4);
    n += 4;
  }
  put(b, h, n);
}

static void close_frame(wsref_buf *b, bool masked, unsigned code, const char *reason) {
  uint8_t pl[125];
  size_t n = wsref_close_encode(pl, code, reason, reason ? strlen(reason) : 0);
  frame(b, WSREF_OP_CLOSE, true, 0, masked, pl, n);
}

/* ---- UTF-8 families (one per sequence length, boundaries, and each invalid form) ---- */

static const char *const k_utf8_valid[] = {
    "Hello-\xc2\x80-\xdf\xbf",                          /* 2-octet boundaries */
    "\xe0\xa0\x80\xef\xbf\xbf\xed\x9f\xbf\xee\x80\x80", /* 3-octet boundaries, around surrogates */
    "\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",                 /* 4-octet boundaries */
    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",     /* kosme, Autobahn 6.2 */
    "\xef\xbb\xbf BOM and \xe2\x82\xac euro",
};
static const char *const k_utf8_invalid[] = {
    "\xc0\x80",
    "\xc1\xbf",
    "\xe0\x80\x80",
    "\xe0\x9f\xbf",
    "\xed\xa0\x80",
    "\xed\xbf\xbf",
    "\xf0\x80\x80\x80",
    "\xf0\x8f\xbf\xbf",
    "\xf4\x90\x80\x80",
    "\xf5\x80\x80\x80",
    "\xf8\x88\x80\x80\x80",
    "\xfe\xff",
    "\x80",
    "abc\xbf",
    "\xce\xba\xe1\xbd",
    "\xe2\x82",
    "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64ited",
};
#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- paired sessions ---- */

typedef struct pair {
  wsref_session *c, *s;
  wsref_registry *reg;
  fuzz_reg_ctx rctx;
  wsref_handler sh, ch;
  wsref_buf c2s, s2c;
  uint64_t now;
  bool echo;
} pair;

static int srv_message(wsref_session *s, const wsref_message *m, void *ud) {
  pair *p = ud;
  if (p->echo && m->type != WSREF_MSG_PONG) (void)wsref_session_send(s, m);
  return 0;
}

static void move(wsref_session *from, wsref_session *to, wsref_buf *log, uint64_t now) {
  size_t n;
  const uint8_t *o = wsref_session_output(from, &n);
  if (!n) return;
  put(log, o, n);
  uint8_t *copy = fuzz_dup(o, n);
  wsref_session_output_done(from, n, now);
  (void)wsref_session_recv(to, copy, n, now);
  free(copy);
}

static void pump(pair *p) {
  for (int i = 0; i < 64; i++) {
    size_t a, b;
    (void)wsref_session_output(p->c, &a);
    (void)wsref_session_output(p->s, &b);
    if (!a && !b) return;
    move(p->c, p->s, &p->c2s, p->now);
    move(p->s, p->c, &p->s2c, p->now);
  }
}

static void pair_open(pair *p, uint8_t ccfg, uint8_t rcfg, bool partial) {
  memset(p, 0, sizeof *p);
  p->now = 1000;
  p->echo = true;
  p->sh.on_message = srv_message;
  p->sh.partial_messages = partial;
  p->sh.ud = p;
  p->reg = fuzz_registry_new(rcfg, &p->sh, &p->rctx);
  wsref_session_options so, co;
  fuzz_session_options(0, &so);
  fuzz_session_options(0, &co);
  p->s = wsref_session_new_server(p->reg, &so, NULL, "192.0.2.9:6000", p->now);
  wsref_handshake_client hs;
  fuzz_session_client_config(ccfg, &hs);
  p->c = wsref_session_new_client(&hs, &p->ch, &co, NULL, p->now);
  if (!p->s || !p->c) abort();
  pump(p);
}

static void pair_free(pair *p) {
  wsref_session_free(p->c);
  wsref_session_free(p->s);
  wsref_registry_free(p->reg);
  wsref_buf_free(&p->c2s);
  wsref_buf_free(&p->s2c);
}

static void send_msg(wsref_session *s, enum wsref_message_type t, const void *d, size_t n,
                     bool last) {
  wsref_message m = {t, d, n, last};
  (void)wsref_session_send(s, &m);
}

/* ---- writing one conversation in every target's format ---- */

/* Handler / options / script presets for the session targets (support/session_driver.h
 * documents the bytes). Each conversation is written with the first preset and a few of
 * the others, in rotation. */
static const uint8_t k_script_bytewise[] = {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                                            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00};
static const uint8_t k_script_chunks[] = {0x0D, 0x06, 0x02, 0x10, 0x80, 0x0A, 0x0F};
static const uint8_t k_script_app[] = {0x0D, 0x41, 0x70, 0x52, 0x62, 0x66, 0x0F, 0x81, 0x2F};
static const uint8_t k_script_app2[] = {0x0F, 0x4B, 0x53, 0x83, 0x7C, 0x6D, 0xD0, 0x90, 0x2F};
static const uint8_t k_script_time[] = {0x2D, 0x0F, 0x2B, 0x30, 0x2F};
static const uint8_t k_script_block[] = {0xA0, 0x0F, 0x41, 0x5C, 0x71, 0xA5, 0x2F, 0xA1};
static const uint8_t k_script_drain[] = {0xA0, 0x0F, 0x41, 0xA5, 0x59, 0xA3, 0x42, 0xA1};
static const uint8_t k_script_limit[] = {0xA0, 0x0F, 0x59, 0x59, 0x59, 0x25,
                                         0x21, 0x59, 0x70, 0x7D, 0xA1, 0x59};
static const uint8_t k_script_end[] = {0x0D, 0x0F, 0xD0, 0x92, 0xB1};
static const uint8_t k_script_idle[] = {0x0F, 0x2A, 0x2A, 0x31, 0x2F};
#define SCRIPT(a) a, sizeof a
static const struct {
  uint8_t hb, ob;
  const uint8_t *script;
  size_t n;
} k_presets[] = {
    {0x08, 0x00, NULL, 0},
    {0x09, 0x00, SCRIPT(k_script_bytewise)},
    {0x0A, 0x01, SCRIPT(k_script_chunks)},
    {0x0C, 0x02, SCRIPT(k_script_app)},
    {0x98, 0x40, SCRIPT(k_script_limit)},
    {0x98, 0x20, SCRIPT(k_script_limit)},
    {0x38, 0x08, SCRIPT(k_script_idle)},
    {0x40, 0x00, NULL, 0},
    {0x08, 0x80, SCRIPT(k_script_time)},
    {0x08, 0x20, SCRIPT(k_script_block)},
    {0x09, 0x10, SCRIPT(k_script_end)},
    {0x88, 0x04, SCRIPT(k_script_app2)},
    {0x08, 0x43, SCRIPT(k_script_drain)},
    {0x00, 0x00, SCRIPT(k_script_app2)},
};

static unsigned g_variant; /* rotates option/script choices across seeds */

static void session_seed(const char *target, uint8_t cfg, const uint8_t *stream, size_t n,
                         int variants) {
  for (int v = 0; v < variants; v++) {
    size_t k = v == 0 ? 0 : 1 + g_variant++ % (N(k_presets) - 1);
    uint8_t pre[4 + 64];
    pre[0] = k_presets[k].hb;
    pre[1] = k_presets[k].ob;
    /* Now and then without io callbacks, or abandoned without a transport close. */
    pre[2] = (uint8_t)(cfg | (v == 2 && g_variant % 3 == 0 ? 0x40 : 0) |
                       (v == 2 && g_variant % 3 == 1 ? 0x80 : 0));
    pre[3] = (uint8_t)k_presets[k].n;
    if (k_presets[k].n) memcpy(pre + 4, k_presets[k].script, k_presets[k].n);
    write_with(target, pre, 4 + k_presets[k].n, stream, n);
  }
}

static const uint8_t k_plans[][4] = {{0}, {1, 1}, {2, 2, 3}, {3, 7, 1, 0xC1}, {2, 0, 5}};

static void chunked_seed(const char *target, const uint8_t *opts, size_t nopts, const uint8_t *body,
                         size_t n, int variants) {
  for (int v = 0; v < variants; v++) {
    const uint8_t *plan = k_plans[v == 0 ? 0 : 1 + g_variant++ % (N(k_plans) - 1)];
    uint8_t pre[16];
    memcpy(pre, opts, nopts);
    memcpy(pre + nopts, plan, 1 + plan[0]);
    write_with(target, pre, nopts + 1 + plan[0], body, n);
  }
}

/* The frames of a stream (after its head) for fuzz_frame, as the role that parses them. */
static void frame_seeds(const uint8_t *frames, size_t n, bool from_client) {
  if (n > 4096 + 64) n = 4096 + 64; /* long payloads: the header and a start are enough */
  uint8_t role = from_client ? 0 : 1;
  const uint8_t opts[] = {role, (uint8_t)(role | 0x04), (uint8_t)(role | 0x08),
                          (uint8_t)(role | 0x20), 2};
  chunked_seed("frame", &opts[0], 1, frames, n, 2);
  chunked_seed("frame", &opts[1 + g_variant % 4], 1, frames, n, 1);
}

static size_t head_len(const uint8_t *p, size_t n) {
  for (size_t i = 3; i < n; i++)
    if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') return i + 1;
  return n;
}

/* One recorded conversation: client config byte, registry byte, both directions. */
static void record(uint8_t ccfg, uint8_t rcfg, const wsref_buf *c2s, const wsref_buf *s2c) {
  const uint8_t *cs = fuzz_buf_head(c2s), *sc = fuzz_buf_head(s2c);
  size_t ncs = wsref_buf_len(c2s), nsc = wsref_buf_len(s2c);
  session_seed("session_server", rcfg, cs, ncs, 3);
  session_seed("session_client", ccfg, sc, nsc, 3);
  size_t hc = head_len(cs, ncs), hs = head_len(sc, nsc);
  uint8_t ro[2] = {0x00, rcfg};
  chunked_seed("http_request", ro, 2, cs, hc, 2);
  uint8_t co = (uint8_t)(((ccfg & 3) ? 0x08 : 0) | ((ccfg & 0x0C) ? 0x30 : 0));
  chunked_seed("http_response", &co, 1, sc, hs, 2);
  if (ncs > hc) frame_seeds(cs + hc, ncs - hc, true);
  if (nsc > hs) frame_seeds(sc + hs, nsc - hs, false);
}

/* ---- scenarios ---- */

typedef void (*scenario_fn)(pair *p);

static void sc_text(pair *p) {
  send_msg(p->c, WSREF_MSG_TEXT, "Hello", 5, true);
  pump(p);
  for (size_t i = 0; i < N(k_utf8_valid); i++) {
    send_msg(p->c, WSREF_MSG_TEXT, k_utf8_valid[i], strlen(k_utf8_valid[i]), true);
    pump(p);
  }
  wsref_session_close(p->c, 1000, NULL);
  pump(p);
}

static void sc_lengths(pair *p) {
  static const size_t lens[] = {0, 1, 125, 126, 127, 128, 1000, 65535, 65536};
  uint8_t *buf = malloc(65536);
  if (!buf) abort();
  for (size_t i = 0; i < 65536; i++) buf[i] = (uint8_t)(i * 31);
  for (size_t i = 0; i < N(lens); i++) {
    send_msg(p->c, WSREF_MSG_BINARY, buf, lens[i], true);
    pump(p);
  }
  free(buf);
  wsref_session_close(p->c, 1000, "done");
  pump(p);
}

static void sc_fragments(pair *p) {
  /* A code point split across fragments, then a binary message in three pieces with a
   * ping between them. */
  send_msg(p->c, WSREF_MSG_TEXT, "Hel\xe2\x82", 5, false);
  send_msg(p->c, WSREF_MSG_TEXT, "\xac", 1, false);
  send_msg(p->c, WSREF_MSG_TEXT, "lo", 2, true);
  pump(p);
  send_msg(p->c, WSREF_MSG_BINARY, "\x01\x02", 2, false);
  send_msg(p->c, WSREF_MSG_PING, "mid", 3, true);
  send_msg(p->c, WSREF_MSG_BINARY, "", 0, false);
  send_msg(p->c, WSREF_MSG_BINARY, "\x03", 1, true);
  pump(p);
  wsref_session_close(p->c, 1001, "going");
  pump(p);
}

static void sc_control(pair *p) {
  uint8_t pl[125];
  memset(pl, 'x', sizeof pl);
  send_msg(p->c, WSREF_MSG_PING, "", 0, true);
  send_msg(p->c, WSREF_MSG_PING, pl, 125, true);
  send_msg(p->c, WSREF_MSG_PONG, "unsolicited", 11, true);
  send_msg(p->s, WSREF_MSG_PING, "srv", 3, true);
  pump(p);
  wsref_session_close(p->c, 0, NULL); /* close without a code */
  pump(p);
}

static void sc_server_close(pair *p) {
  send_msg(p->s, WSREF_MSG_TEXT, "server says hi", 14, true);
  pump(p);
  wsref_session_close(p->s, 4000, "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5");
  pump(p);
}

static unsigned g_close_code;
static void sc_close_code(pair *p) {
  wsref_session_close(p->c, g_close_code, g_close_code % 2 ? "odd" : NULL);
  pump(p);
}

static void sc_long_reason(pair *p) {
  char r[200];
  for (int i = 0; i < 199; i++) r[i] = "ab\xc3\xa9"[i % 4];
  r[199] = 0;
  r[198] = 'z';
  wsref_session_close(p->c, 3000, r);
  pump(p);
}

static void sc_server_fragments(pair *p) {
  send_msg(p->s, WSREF_MSG_TEXT, "\xf0\x9f", 2, false);
  send_msg(p->s, WSREF_MSG_TEXT, "\x98\x80", 2, true);
  send_msg(p->s, WSREF_MSG_BINARY, "abc", 3, false);
  send_msg(p->s, WSREF_MSG_PONG, "", 0, true);
  send_msg(p->s, WSREF_MSG_BINARY, "def", 3, true);
  pump(p);
  wsref_session_close(p->c, 1000, NULL);
  pump(p);
}

static void run_scenario(uint8_t ccfg, uint8_t rcfg, bool partial, scenario_fn fn) {
  pair p;
  pair_open(&p, ccfg, rcfg, partial);
  if (fn) fn(&p);
  record(ccfg, rcfg, &p.c2s, &p.s2c);
  pair_free(&p);
}

/* ---- violations derived from a valid head ---- */

static void request_head(uint8_t ccfg, wsref_buf *out) {
  wsref_handshake_client hs;
  fuzz_session_client_config(ccfg, &hs);
  if (wsref_handshake_client_request(&hs, out) < 0) abort();
}

static void response_head(uint8_t ccfg, uint8_t rcfg, wsref_buf *out) {
  pair p;
  pair_open(&p, ccfg, rcfg, false);
  const uint8_t *sc = fuzz_buf_head(&p.s2c);
  put(out, sc, head_len(sc, wsref_buf_len(&p.s2c)));
  pair_free(&p);
}

/* Replace the first occurrence of `from` in b by `to`. */
static void edit(const wsref_buf *b, const char *from, const char *to, wsref_buf *out) {
  wsref_buf_reset(out);
  const char *s = (const char *)fuzz_buf_head(b);
  size_t n = wsref_buf_len(b), fl = strlen(from);
  const char *hit = NULL;
  for (size_t i = 0; i + fl <= n && !hit; i++)
    if (memcmp(s + i, from, fl) == 0) hit = s + i;
  if (!hit) {
    put(out, s, n);
    return;
  }
  put(out, s, (size_t)(hit - s));
  put(out, to, strlen(to));
  put(out, hit + fl, n - (size_t)(hit - s) - fl);
}

static void bad_requests(void) {
  static const char *const edits[][2] = {
      {"GET ", "POST "},
      {"HTTP/1.1\r\n", "HTTP/1.0\r\n"},
      {"HTTP/1.1\r\n", "HTTP/2.0\r\n"},
      {"Host: server.example.com\r\n", ""},
      {"Host: server.example.com\r\n", "Host: a\r\nHost: b\r\n"},
      {"Host: server.example.com", "Host: a, b"},
      {"Upgrade: websocket", "Upgrade: h2c"},
      {"Connection: Upgrade", "Connection: keep-alive"},
      {"Connection: Upgrade", "Connection: keep-alive, Upgrade"},
      {"Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"},
      {"Sec-WebSocket-Version: 13\r\n",
       "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n"},
      {"dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ"},
      {"dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ=x"},
      {"GET /chat", "GET /nope"},
      {"GET /chat", "GET http://server.example.com/chat?x=1"},
      {"GET /chat", "GET ws://server.example.com"},
      {"GET /chat", "GET /chat?room=1"},
      {"GET /chat", "GET /echo"},
      {"GET /chat", "GET /stomp"},
      {"GET /chat HTTP/1.1\r\n", "GET /echo HTTP/1.1\r\nOrigin: https://example.org\r\n"},
      {"GET /chat HTTP/1.1\r\n", "GET /stomp HTTP/1.1\r\nOrigin: http://evil.example\r\n"},
      {"\r\n\r\n", "\r\nOrigin: null\r\nOrigin: http://example.com\r\n\r\n"},
      {"\r\n\r\n", "\r\nOrigin: http://evil.example\r\n\r\n"},
      {"\r\n\r\n", "\r\nOrigin: http://example.com\r\n\r\n"},
      {"\r\n\r\n", "\r\nX-User: alice\r\n\r\n"},
      {"\r\n\r\n", "\r\nX-Reject: 401\r\nX-Reject-Body: no entry\r\n\r\n"},
      {"\r\n\r\n", "\r\nX-Reject: 200\r\n\r\n"},
      {"\r\n\r\n", "\r\nSec-WebSocket-Extensions: x-fuzz; v=1, permessage-deflate\r\n\r\n"},
      {"\r\n\r\n", "\r\n folded: header\r\n\r\n"},
      {"\r\n\r\n", "\r\nBad Name: x\r\n\r\n"},
      {"\r\n\r\n", "\r\nCtl: a\x01z\r\n\r\n"},
      {"GET", "\r\n\r\nGET"},
      {"\r\n", "\n"},
  };
  for (uint8_t ccfg = 0x20; ccfg <= 0x2F; ccfg += 5) {
    wsref_buf req = WSREF_BUF_INIT, v = WSREF_BUF_INIT;
    request_head(ccfg, &req);
    for (size_t i = 0; i < N(edits); i++) {
      edit(&req, edits[i][0], edits[i][1], &v);
      uint8_t ro[2] = {(uint8_t)(g_variant % 8),
                       (uint8_t)(0x10 | (g_variant % 4) | ((i % 4) << 2))};
      chunked_seed("http_request", ro, 2, fuzz_buf_head(&v), wsref_buf_len(&v), 2);
      session_seed("session_server", ro[1], fuzz_buf_head(&v), wsref_buf_len(&v), 1);
    }
    /* Bare LF line ends throughout, and a head over the default header count. */
    wsref_buf_reset(&v);
    for (size_t i = 0; i < wsref_buf_len(&req); i++)
      if (fuzz_buf_head(&req)[i] != '\r') put(&v, fuzz_buf_head(&req) + i, 1);
    uint8_t ro[2] = {0, 0x10};
    chunked_seed("http_request", ro, 2, fuzz_buf_head(&v), wsref_buf_len(&v), 2);
    wsref_buf_reset(&v);
    put(&v, fuzz_buf_head(&req), wsref_buf_len(&req) - 2);
    for (int i = 0; i < 70; i++) {
      char line[32];
      snprintf(line, sizeof line, "X-H%d: %d\r\n", i, i);
      put(&v, line, strlen(line));
    }
    put(&v, "\r\n", 2);
    chunked_seed("http_request", ro, 2, fuzz_buf_head(&v), wsref_buf_len(&v), 1);
    ro[0] = 2; /* small limits */
    chunked_seed("http_request", ro, 2, fuzz_buf_head(&req), wsref_buf_len(&req), 1);
    wsref_buf_free(&req);
    wsref_buf_free(&v);
  }
}

static void bad_responses(void) {
  static const char *const edits[][2] = {
      {"101 Switching Protocols", "200 OK"},
      {"101 Switching Protocols", "404 Not Found"},
      {"HTTP/1.1 101", "HTTP/1.0 101"},
      {"Upgrade: websocket\r\n", ""},
      {"Connection: Upgrade\r\n", ""},
      {"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo"},
      {"Sec-WebSocket-Accept", "Sec-WebSocket-Accept: x\r\nSec-WebSocket-Accept"},
      {"\r\n\r\n", "\r\nSec-WebSocket-Protocol: nope\r\n\r\n"},
      {"\r\n\r\n", "\r\nSec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n\r\n"},
      {"\r\n\r\n", "\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"},
      {"\r\n\r\n", "\r\nSec-WebSocket-Extensions: unknown-ext\r\n\r\n"},
      {"HTTP/1.1 101 Switching Protocols", "HTTP/1.1 101"},
      {"HTTP/1.1 101 Switching Protocols", "HTTP/1.1 1010 Switching"},
      {"\r\n", "\n"},
  };
  uint8_t ccfgs[] = {0x22, 0x25, 0x29};
  for (size_t c = 0; c < N(ccfgs); c++) {
    wsref_buf res = WSREF_BUF_INIT, v = WSREF_BUF_INIT;
    response_head(ccfgs[c], 0x00, &res);
    for (size_t i = 0; i < N(edits); i++) {
      edit(&res, edits[i][0], edits[i][1], &v);
      uint8_t co = (uint8_t)(((ccfgs[c] & 3) ? 0x08 : 0) | (i & 1 ? 0x40 : 0));
      chunked_seed("http_response", &co, 1, fuzz_buf_head(&v), wsref_buf_len(&v), 2);
      session_seed("session_client", ccfgs[c], fuzz_buf_head(&v), wsref_buf_len(&v), 1);
    }
    wsref_buf_free(&res);
    wsref_buf_free(&v);
  }
  /* Request-writer mode: client configurations as NUL-separated fields. */
#define CFG(s) \
  { s, sizeof s - 1 }
  static const struct {
    const char *s;
    size_t n;
  } cfgs[] = {
      CFG("server.example.com\0/chat\0http://example.com\0permessage-deflate\0chat,superchat"),
      CFG("server.example.com:8080\0/chat?x=1\0\0x-fuzz\0v12.stomp\0X-User: bob"),
      CFG("h\0/\0\0\0\0X-A: 1\0X-B: 2"),
      CFG("bad host\0/chat"),
      CFG("server.example.com\0/ch at\0\0\0chat,chat"),
      CFG("server.example.com\0/\0null\0\0a(b"),
  };
  for (size_t i = 0; i < N(cfgs); i++) {
    uint8_t pre[1 + 1 + 16] = {0x80, 0};
    memcpy(pre + 2, "the sample nonce", 16);
    write_with("http_response", pre, sizeof pre, cfgs[i].s, cfgs[i].n);
  }
}

static void bad_frames(void) {
  /* From the client: each violation after a valid head, as the server session sees it. */
  for (int variant = 0; variant < 2; variant++) {
    uint8_t ccfg = variant ? 0x29 : 0x20, rcfg = variant ? 0x00 : 0x30;
    wsref_buf head = WSREF_BUF_INIT;
    request_head(ccfg, &head);
    for (int k = 0;; k++) {
      wsref_buf f = WSREF_BUF_INIT;
      uint8_t ob = 0;
      switch (k) {
        case 0:
          frame(&f, 1, true, 0, false, "unmasked", 8);
          break;
        case 1:
          frame(&f, 3, true, 0, true, "op3", 3);
          break;
        case 2:
          frame(&f, 0xB, true, 0, true, "", 0);
          break;
        case 3:
          frame(&f, 1, true, 4, true, "rsv1", 4);
          break;
        case 4:
          frame(&f, 1, true, 2, true, "rsv2", 4);
          break;
        case 5:
          frame(&f, 1, true, 1, true, "rsv3", 4);
          break;
        case 6:
          frame(&f, 9, false, 0, true, "frag ping", 9);
          break;
        case 7:
          header_form(&f, 0x89, true, 126, 16);
          for (int i = 0; i < 126; i++) put(&f, "p", 1);
          break;
        case 8:
          frame(&f, 0, true, 0, true, "cont", 4);
          break;
        case 9:
          frame(&f, 1, false, 0, true, "a", 1);
          frame(&f, 1, true, 0, true, "b", 1);
          break;
        case 10:
          header_form(&f, 0x81, true, 5, 16);
          put(&f, "Hello", 5);
          ob = 0;
          break;
        case 11:
          header_form(&f, 0x81, true, 5, 16);
          put(&f, "Hello", 5);
          ob = 0x10;
          break;
        case 12:
          header_form(&f, 0x82, true, 300, 64);
          for (int i = 0; i < 300; i++) put(&f, "b", 1);
          break;
        case 13:
          header_form(&f, 0x82, true, 300, 64);
          for (int i = 0; i < 300; i++) put(&f, "b", 1);
          ob = 0x10;
          break;
        case 14:
          header_form(&f, 0x82, true, UINT64_C(1) << 63, 64);
          break;
        case 15:
          header_form(&f, 0x82, true, UINT64_C(1) << 40, 64);
          break;
        case 16:
          frame(&f, 2, true, 0, true, "0123456789abcdefXYZ", 19);
          ob = 0x01;
          break;
        case 17:
          frame(&f, 2, true, 0, true, "0123456789abcdefghijklmnopqrstuvwxyz0123", 40);
          ob = 0x04;
          break;
        case 18:
          frame(&f, 8, true, 0, true, "\x03", 1);
          break;
        case 19:
          close_frame(&f, true, 1005, NULL);
          break;
        case 20:
          close_frame(&f, true, 999, NULL);
          break;
        case 21:
          close_frame(&f, true, 5000, NULL);
          break;
        case 22:
          close_frame(&f, true, 1004, NULL);
          break;
        case 23:
          close_frame(&f, true, 1000, "bad \xff");
          break;
        case 24:
          close_frame(&f, true, 1000, NULL);
          frame(&f, 1, true, 0, true, "after", 5);
          break;
        case 25:
          frame(&f, 1, false, 0, true, "x", 1);
          frame(&f, 2, true, 0, true, "y", 1);
          break;
        case 26:
          frame(&f, 1, true, 0, true, "close me", 8);
          break;
        case 27:
          frame(&f, 1, true, 0, true, "!fail", 5);
          break;
        case 28:
          frame(&f, 2, true, 0, true, "bin", 3);
          break;
        case 29:
          frame(&f, 1, true, 0, true, "txt", 3);
          break;
        default:
          break;
      }
      if (k > 29) {
        wsref_buf_free(&f);
        break;
      }
      wsref_buf s = WSREF_BUF_INIT;
      put(&s, fuzz_buf_head(&head), wsref_buf_len(&head));
      put(&s, fuzz_buf_head(&f), wsref_buf_len(&f));
      uint8_t pre[4] = {(uint8_t)(k == 28 ? 0x0A : k == 29 ? 0x0C : 0x38), ob, rcfg, 0};
      write_with("session_server", pre, 4, fuzz_buf_head(&s), wsref_buf_len(&s));
      pre[0] |= 1;
      write_with("session_server", pre, 4, fuzz_buf_head(&s), wsref_buf_len(&s));
      uint8_t fo = (uint8_t)(ob & 0x10 ? 0x04 : 0x00);
      chunked_seed("frame", &fo, 1, fuzz_buf_head(&f), wsref_buf_len(&f), 2);
      wsref_buf_free(&s);
      wsref_buf_free(&f);
    }
    /* UTF-8: each valid and invalid family as a text message, whole and fragmented. */
    for (int inv = 0; inv < 2; inv++) {
      size_t cnt = inv ? N(k_utf8_invalid) : N(k_utf8_valid);
      for (size_t i = 0; i < cnt; i++) {
        const char *t = inv ? k_utf8_invalid[i] : k_utf8_valid[i];
        size_t tl = strlen(t), cut = tl / 2;
        wsref_buf s = WSREF_BUF_INIT;
        put(&s, fuzz_buf_head(&head), wsref_buf_len(&head));
        frame(&s, 1, true, 0, true, t, tl);
        frame(&s, 1, false, 0, true, t, cut);
        frame(&s, 0, true, 0, true, t + cut, tl - cut);
        session_seed("session_server", rcfg, fuzz_buf_head(&s), wsref_buf_len(&s), 1);
        uint8_t pre[4] = {0x09, 0x00, rcfg, 0};
        write_with("session_server", pre, 4, fuzz_buf_head(&s), wsref_buf_len(&s));
        wsref_buf_free(&s);
        static const uint8_t whole[1] = {0}, split[4] = {3, 1, 2, 3};
        write_with("utf8", whole, 1, t, tl);
        write_with("utf8", split, 4, t, tl);
        uint8_t cp[128];
        size_t cn = wsref_close_encode(cp, 1000, t, tl);
        write_seed("close", cp, cn);
      }
    }
    wsref_buf_free(&head);
  }

  /* From the server: violations a client session must catch, after a valid 101. */
  wsref_buf head = WSREF_BUF_INIT;
  response_head(0x21, 0x00, &head);
  for (int k = 0; k < 10; k++) {
    wsref_buf s = WSREF_BUF_INIT;
    put(&s, fuzz_buf_head(&head), wsref_buf_len(&head));
    switch (k) {
      case 0:
        frame(&s, 1, true, 0, true, "masked", 6);
        break;
      case 1:
        frame(&s, 1, true, 4, false, "rsv1", 4);
        break;
      case 2:
        frame(&s, 0, true, 0, false, "cont", 4);
        break;
      case 3:
        frame(&s, 1, true, 0, false, "\xed\xa0\x80", 3);
        break;
      case 4:
        close_frame(&s, false, 1006, NULL);
        break;
      case 5:
        frame(&s, 8, true, 0, false, "\x03", 1);
        break;
      case 6:
        header_form(&s, 0x81, false, 3, 16);
        put(&s, "abc", 3);
        break;
      case 7:
        frame(&s, 9, true, 0, false, "ping", 4);
        close_frame(&s, false, 1000, NULL);
        break;
      case 8:
        close_frame(&s, false, 1000, NULL);
        frame(&s, 1, true, 0, false, "late", 4);
        break;
      default:
        frame(&s, 1, true, 0, false, "c", 1);
        break;
    }
    session_seed("session_client", 0x21, fuzz_buf_head(&s), wsref_buf_len(&s), 2);
    wsref_buf_free(&s);
  }
  wsref_buf_free(&head);
}

static void close_payloads(void) {
  static const unsigned codes[] = {0,    999,  1000, 1001, 1002, 1003, 1004, 1005,
                                   1006, 1007, 1010, 1011, 1014, 1015, 1016, 2999,
                                   3000, 3999, 4000, 4999, 5000, 65535};
  char reason[130];
  for (int i = 0; i < 129; i++) reason[i] = (char)('A' + i % 26);
  reason[129] = 0;
  for (size_t i = 0; i < N(codes); i++) {
    uint8_t pl[125];
    size_t n = wsref_close_encode(pl, codes[i], i % 2 ? "reason" : NULL, i % 2 ? 6 : 0);
    write_seed("close", pl, n);
    uint8_t raw[140] = {(uint8_t)(codes[i] >> 8), (uint8_t)codes[i]};
    memcpy(raw + 2, reason, 130);
    write_seed("close", raw, 2 + 121 + (i % 4)); /* 123..126 octets around the limit */
  }
  write_seed("close", "\x03", 1);
  write_seed("close", "", 0);
}

static void utf8_blocks(void) {
  /* Long runs so the validator's block paths run, with the defect at various offsets. */
  char buf[300];
  for (int pos = 0; pos < 4; pos++) {
    memset(buf, 'a', sizeof buf);
    memcpy(buf + 31 + pos * 37, "\xe2\x82\xac", 3);
    static const uint8_t whole[1] = {0}, plan[3] = {2, 0xC0, 17};
    write_with("utf8", whole, 1, buf, sizeof buf);
    write_with("utf8", plan, 3, buf, sizeof buf);
    memcpy(buf + 100 + pos * 41, "\xed\xb0\x80", 3);
    write_with("utf8", whole, 1, buf, sizeof buf);
    write_with("utf8", plan, 3, buf, sizeof buf);
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: %s OUTDIR\n", argv[0]);
    return 2;
  }
  g_out = argv[1];
  mkdir_p(g_out);

  /* Conversations. Client config bytes: see support/session_driver.h; registry bytes: see
   * support/registry_fixture.h (0x20 registers "/", 0x10 adds interceptors). */
  static const struct {
    uint8_t ccfg, rcfg;
    bool partial;
    scenario_fn fn;
  } convs[] = {
      {0x20, 0x00, false, sc_text},
      {0x21, 0x00, false, sc_lengths},
      {0x22, 0x10, true, sc_fragments},
      {0x00, 0x20, false, sc_control},
      {0x29, 0x00, false, sc_server_close},
      {0x2E, 0x30, false, sc_text},
      {0x23, 0x00, true, sc_server_fragments},
      {0x30, 0x01, false, sc_text},
      {0x30, 0x03, false, sc_text},
      {0x00, 0x00, false, sc_text}, /* 404 */
      {0x25, 0x08, false, sc_text},
      {0x26, 0x0C, false, sc_text},
      {0x20, 0x00, false, sc_long_reason},
      {0x20, 0x00, false, NULL},
  };
  for (size_t i = 0; i < N(convs); i++)
    run_scenario(convs[i].ccfg, convs[i].rcfg, convs[i].partial, convs[i].fn);
  /* Two conversations under every preset: a full one, and one that stays open after the
   * handshake (so the application's own sends and timers run on an open session). */
  for (size_t k = 1; k < 2 * N(k_presets); k++) {
    if (k == N(k_presets)) continue;
    pair p;
    pair_open(&p, 0x20, 0x00, false);
    if (k < N(k_presets)) sc_text(&p);
    size_t j = k % N(k_presets);
    uint8_t pre[4 + 64] = {k_presets[j].hb, k_presets[j].ob, 0x00, (uint8_t)k_presets[j].n};
    if (k_presets[j].n) memcpy(pre + 4, k_presets[j].script, k_presets[j].n);
    write_with("session_server", pre, 4 + k_presets[j].n, fuzz_buf_head(&p.c2s),
               wsref_buf_len(&p.c2s));
    pre[2] = 0x20;
    write_with("session_client", pre, 4 + k_presets[j].n, fuzz_buf_head(&p.s2c),
               wsref_buf_len(&p.s2c));
    pair_free(&p);
  }
  static const unsigned close_codes[] = {1000, 1001, 1002, 1003, 1007, 1008, 1009,
                                         1010, 1011, 1012, 1013, 1014, 3000, 4999};
  for (size_t i = 0; i < N(close_codes); i++) {
    g_close_code = close_codes[i];
    run_scenario(0x20, 0x00, false, sc_close_code);
  }
  bad_requests();
  bad_responses();
  bad_frames();
  close_payloads();
  utf8_blocks();
  emit_stomp_seeds(write_seed);
  fprintf(stderr, "emit: %lu seeds written to %s\n", g_written, g_out);
  return 0;
}
