/* STOMP seeds, written by the library's own encoder (codec/stomp.h):
 *
 *   stomp         every command in every version and both profiles, header escaping,
 *                 bodies with NULs (content-length), empty and binary bodies, heart-beat
 *                 EOLs between frames, CRLF line ends, whole streams under several chunk
 *                 plans and limits; then violations derived one field at a time (case,
 *                 colon, escape, content-length, NUL, CR, UTF-8, limits), as the unit
 *                 tests' vectors do;
 *   stomp_server  realistic sessions of 2-4 connections in the format of
 *                 support/stomp_script.h: CONNECT (each version, heart-beats, login),
 *                 SUBSCRIBE / SEND / MESSAGE on topics, queues and user destinations, ACK
 *                 and NACK in each mode (through the driver's "react" operation, which
 *                 names the MESSAGE it saw), transactions, receipts, DISCONNECT, slow
 *                 consumers, heart-beat timeouts, the template, and protocol errors.
 *
 * Called by emit.c's main(); write() stores one seed of a target.
 */
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "codec/stomp.h"
#include "support/common.h"
#include "support/stomp_script.h"

typedef void (*seed_writer)(const char *target, const void *data, size_t n);
void emit_stomp_seeds(seed_writer write);

static seed_writer g_write;
static unsigned g_rot; /* rotates plans and options across seeds */

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void put(wsref_buf *b, const void *p, size_t n) {
  if (n && wsref_buf_append(b, p, n) < 0) abort();
}

/* A frame from a NULL-terminated list of header name/value pairs. Returns the encoder's
 * result (a 1.0 value with a line feed cannot be written). */
static int vframe(wsref_buf *out, enum wsref_stomp_version v, enum wsref_stomp_profile pr,
                  enum wsref_stomp_command cmd, const void *body, size_t blen, va_list ap) {
  wsref_stomp_header h[32];
  size_t nh = 0;
  const char *name;
  while ((name = va_arg(ap, const char *)) && nh < N(h)) {
    const char *value = va_arg(ap, const char *);
    h[nh++] = (wsref_stomp_header){name, strlen(name), value, strlen(value)};
  }
  wsref_stomp_frame f = {cmd, h, nh, body, blen};
  return wsref_stomp_encode(out, v, pr, &f);
}

static int frame(wsref_buf *out, enum wsref_stomp_version v, enum wsref_stomp_profile pr,
                 enum wsref_stomp_command cmd, const void *body, size_t blen, ...) {
  va_list ap;
  va_start(ap, blen);
  int rc = vframe(out, v, pr, cmd, body, blen, ap);
  va_end(ap);
  return rc;
}

/* ================= fuzz_stomp ================= */

static const uint8_t k_plans[][5] = {{0},       {1, 1},           {2, 2, 3}, {3, 7, 1, 0xC1},
                                     {2, 0, 5}, {4, 13, 2, 64, 1}};

/* options byte: version bits as fuzz_stomp.c reads them */
static uint8_t vbits(enum wsref_stomp_version v) {
  return v == WSREF_STOMP_V10 ? 1 : v == WSREF_STOMP_V11 ? 2 : 0;
}

static void codec_seed(uint8_t ob, uint8_t lb, const uint8_t *plan, const uint8_t *p, size_t n) {
  wsref_buf b = WSREF_BUF_INIT;
  put(&b, &ob, 1);
  put(&b, &lb, 1);
  put(&b, plan, 1u + plan[0]);
  put(&b, p, n);
  g_write("stomp", fuzz_buf_head(&b), wsref_buf_len(&b));
  wsref_buf_free(&b);
}

/* A stream under the whole plan and one or two others. */
static void codec_seeds(uint8_t ob, uint8_t lb, const wsref_buf *s, int variants) {
  for (int i = 0; i < variants; i++) {
    const uint8_t *plan = k_plans[i == 0 ? 0 : 1 + g_rot++ % (N(k_plans) - 1)];
    codec_seed(ob, lb, plan, fuzz_buf_head(s), wsref_buf_len(s));
  }
}

static const uint8_t k_binary[] = {0x00, 0x01, 0x0a, 0x0d, 0x00, 0xff, 0xfe, 0x80, 0x00, 0x5c};

/* One frame of each command with the headers it usually carries. */
static void all_commands(wsref_buf *out, enum wsref_stomp_version v, enum wsref_stomp_profile pr,
                         wsref_buf *each, size_t *ends, size_t *nends) {
  const char *av = v == WSREF_STOMP_V10 ? "1.0" : v == WSREF_STOMP_V11 ? "1.0,1.1" : "1.0,1.1,1.2";
  const char *ver = v == WSREF_STOMP_V10 ? "1.0" : v == WSREF_STOMP_V11 ? "1.1" : "1.2";
  size_t n0 = wsref_buf_len(out);
#define F(...)                                                                                    \
  do {                                                                                            \
    if (frame(out, v, pr, __VA_ARGS__, NULL) == 0 && ends) ends[(*nends)++] = wsref_buf_len(out); \
  } while (0)
  F(WSREF_STOMP_CONNECT, NULL, 0, "accept-version", av, "host", "stomp.example.com", "heart-beat",
    "10000,10000", "login", "guest", "passcode", "guest");
  F(WSREF_STOMP_STOMP, NULL, 0, "accept-version", av, "host", "/");
  F(WSREF_STOMP_CONNECTED, NULL, 0, "version", ver, "heart-beat", "0,0", "session", "1f", "server",
    "wsref/0.1");
  F(WSREF_STOMP_SUBSCRIBE, NULL, 0, "id", "0", "destination", "/queue/a", "ack",
    "client-individual", "receipt", "r1");
  F(WSREF_STOMP_SEND, "hello", 5, "destination", "/queue/a", "content-type", "text/plain",
    "receipt", "r2");
  F(WSREF_STOMP_SEND, k_binary, sizeof k_binary, "destination", "/topic/b", "content-type",
    "application/octet-stream");
  F(WSREF_STOMP_SEND, "", 0, "destination", "/topic/b");
  F(WSREF_STOMP_MESSAGE, "hello", 5, "subscription", "0", "message-id", "1", "ack", "1",
    "destination", "/queue/a", "content-type", "text/plain");
  F(WSREF_STOMP_ACK, NULL, 0, "id", "1", "message-id", "1", "subscription", "0", "transaction",
    "tx1");
  F(WSREF_STOMP_NACK, NULL, 0, "id", "2", "message-id", "2", "subscription", "0");
  F(WSREF_STOMP_BEGIN, NULL, 0, "transaction", "tx1");
  F(WSREF_STOMP_COMMIT, NULL, 0, "transaction", "tx1", "receipt", "r3");
  F(WSREF_STOMP_ABORT, NULL, 0, "transaction", "tx2");
  F(WSREF_STOMP_UNSUBSCRIBE, NULL, 0, "id", "0", "destination", "/queue/a", "receipt", "r4");
  F(WSREF_STOMP_RECEIPT, NULL, 0, "receipt-id", "r4");
  F(WSREF_STOMP_ERROR, "The offending frame\n", 20, "message", "malformed frame received",
    "receipt-id", "r5", "content-type", "text/plain");
  F(WSREF_STOMP_DISCONNECT, NULL, 0, "receipt", "bye");
  F(WSREF_STOMP_HEARTBEAT, NULL, 0);
#undef F
  if (each) {
    wsref_buf_reset(each);
    put(each, fuzz_buf_head(out) + n0, wsref_buf_len(out) - n0);
  }
}

/* CR LF for every LF of the command and header lines (1.2 and Spring accept it). */
static void crlf(const wsref_buf *in, wsref_buf *out) {
  const uint8_t *p = fuzz_buf_head(in);
  size_t n = wsref_buf_len(in);
  bool in_head = true;
  for (size_t i = 0; i < n; i++) {
    if (in_head && p[i] == '\n') {
      put(out, "\r\n", 2);
      if (i > 0 && p[i - 1] == '\n') in_head = false; /* the blank line ends the head */
      continue;
    }
    put(out, p + i, 1);
    if (!in_head && p[i] == 0) in_head = true; /* naive: bodies of these seeds hold no NUL */
  }
}

/* Frames whose headers need escaping. */
static void escapes(wsref_buf *out, enum wsref_stomp_version v, enum wsref_stomp_profile pr) {
  static const char *const vals[] = {"a:b",
                                     "line\nfeed",
                                     "back\\slash",
                                     "cr\rhere",
                                     "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
                                     "",
                                     " spaced "};
  for (size_t i = 0; i < N(vals); i++) {
    (void)frame(out, v, pr, WSREF_STOMP_SEND, "x", 1, "destination", "/topic/esc", "x-key", vals[i],
                vals[i], "name-as-value", NULL);
    (void)frame(out, v, pr, WSREF_STOMP_MESSAGE, "y", 1, "destination", "/topic/esc", "message-id",
                "7", "subscription", vals[i], NULL);
  }
  /* A repeated header (the first wins) and a content-length of 0 before a NUL body. */
  (void)frame(out, v, pr, WSREF_STOMP_SEND, "\0\0", 2, "destination", "/q/1", "destination", "/q/2",
              "content-length", "2", NULL);
}

/* One field at a time, from valid frames. */
static void codec_violations(void) {
  static const struct {
    const char *s;
    size_t n;
  } bad[] = {
#define B(lit) {lit, sizeof(lit) - 1}
      B("send\ndestination:/a\n\n\0"),
      B("SEND\ndestination/a\n\n\0"),
      B("SEND\n:empty-name\n\n\0"),
      B("SEND\ndestination:/a\\t\n\n\0"),
      B("SEND\ndestination:/a\\\n\n\0"),
      B("SEND\ndestination:/a\ncontent-length:5\n\nabc\0"),
      B("SEND\ndestination:/a\ncontent-length:2\n\nabc\0"),
      B("SEND\ndestination:/a\ncontent-length:-1\n\nabc\0"),
      B("SEND\ndestination:/a\ncontent-length:1x\n\nabc\0"),
      B("SEND\ndestination:/a\ncontent-length:99999999999999999999\n\na\0"),
      B("SEND\ndestination:/a\n\nno terminator"),
      B("SUBSCRIBE\nid:0\ndestination:/a\n\nbody\0"),
      B("SEND\rdestination:/a\n\n\0"),
      B("SEND\ndestination:/a\r\r\n\n\0"),
      B("SEND\r\ndestination:/a\r\n\r\n\0"),
      B("SEND\ndestination:\xff\xfe\n\n\0"),
      B("\xc0\x80\n\n\0"),
      B("\n\n\r\n\nCONNECT\naccept-version:1.2\n\n\0\n\r\n"),
      B("\r"),
      B("CONNECT\naccept-version:1.2\nhost:a\\cb\n\n\0"),
      B("MESSAGE\nsubscription:\\r\n\n\0"),
      B("SEND\na:1\nb:2\nc:3\nd:4\ne:5\nf:6\ng:7\nh:8\ni:9\nj:10\n\n\0"),
      B("SEND\ndestination:/0123456789012345678901234567890123456789\n\n\0"),
      B("SEND\ndestination:/a\n\n0123456789012345678901234567890123456789\0"),
      B("NACK\nid:1\n\n\0STOMP\n\n\0"),
      B("DISCONNECT\n\n\0\r"),
#undef B
  };
  static const uint8_t opts[] = {0x00, 0x01, 0x02, 0x04, 0x05, 0x08};
  for (size_t i = 0; i < N(bad); i++) {
    for (size_t k = 0; k < 2; k++) {
      uint8_t ob = opts[(i + k * 3) % N(opts)];
      uint8_t lb = k ? 0x00 : 0x80; /* small limits or defaults */
      codec_seed(ob, lb, k_plans[k ? 1 + g_rot++ % (N(k_plans) - 1) : 0], (const uint8_t *)bad[i].s,
                 bad[i].n);
    }
  }
}

static void codec_corpus(void) {
  static const enum wsref_stomp_version vs[] = {WSREF_STOMP_V10, WSREF_STOMP_V11, WSREF_STOMP_V12};
  wsref_buf all = WSREF_BUF_INIT, each = WSREF_BUF_INIT, one = WSREF_BUF_INIT, t = WSREF_BUF_INIT;
  for (size_t vi = 0; vi < N(vs); vi++) {
    for (int spring = 0; spring < 2; spring++) {
      enum wsref_stomp_version v = vs[vi];
      enum wsref_stomp_profile pr = spring ? WSREF_STOMP_PROFILE_SPRING : WSREF_STOMP_PROFILE_SPEC;
      uint8_t ob = (uint8_t)(vbits(v) | (spring ? 4 : 0));
      size_t ends[64], nends = 0;
      wsref_buf_reset(&all);
      /* heart-beat EOLs before the first frame */
      put(&all, "\n\r\n", v == WSREF_STOMP_V12 || spring ? 3 : 1);
      all_commands(&all, v, pr, &each, ends, &nends);
      /* each frame alone */
      size_t start = wsref_buf_len(&all) - wsref_buf_len(&each);
      for (size_t i = 0; i < nends; i++) {
        size_t a = i ? ends[i - 1] : start;
        wsref_buf_reset(&one);
        put(&one, fuzz_buf_head(&all) + a, ends[i] - a);
        codec_seeds(ob, 0x80, &one, 1);
      }
      /* the whole stream, with EOLs between frames, under plans, limits and a small buffer */
      codec_seeds(ob, 0x80, &all, 4);
      codec_seeds((uint8_t)(ob | 8), 0x80, &all, 2);
      codec_seeds(ob, (uint8_t)(0x1B + 0x20 * (g_rot % 3)), &all, 2);
      wsref_buf_reset(&t);
      escapes(&t, v, pr);
      codec_seeds(ob, 0x80, &t, 3);
      if (v == WSREF_STOMP_V12 || spring) {
        wsref_buf_reset(&one);
        crlf(&each, &one);
        codec_seeds(ob, 0x80, &one, 3);
      }
      /* the same bytes read in another version: escapes that version does not have */
      codec_seeds(
          (uint8_t)((ob & ~3u) | vbits(v == WSREF_STOMP_V10 ? WSREF_STOMP_V12 : WSREF_STOMP_V10)),
          0x80, &t, 1);
      /* a long body, and a body of every octet value */
      wsref_buf_reset(&one);
      uint8_t big[1200];
      for (size_t i = 0; i < sizeof big; i++) big[i] = (uint8_t)(i * 7);
      (void)frame(&one, v, pr, WSREF_STOMP_SEND, big, sizeof big, "destination", "/queue/big",
                  NULL);
      (void)frame(&one, v, pr, WSREF_STOMP_MESSAGE, big, 256, "destination", "/queue/big",
                  "message-id", "9", NULL);
      codec_seeds(ob, 0x80, &one, 2);
      codec_seeds(ob, 0x3F, &one, 1);
    }
  }
  wsref_buf_free(&all);
  wsref_buf_free(&each);
  wsref_buf_free(&one);
  wsref_buf_free(&t);
  codec_violations();
}

/* ================= fuzz_stomp_server ================= */

typedef struct sb {
  uint8_t cfg0, cfg1, cfg2;
  uint8_t plan[9];
  wsref_buf script, pool;
  int cur;
  enum wsref_stomp_version v[4];
} sb;

static void sb_init(sb *b, uint8_t cfg0, uint8_t cfg1, uint8_t cfg2) {
  memset(b, 0, sizeof *b);
  b->cfg0 = cfg0;
  b->cfg1 = cfg1;
  b->cfg2 = cfg2;
  for (int i = 0; i < 4; i++) b->v[i] = WSREF_STOMP_V12;
}

static void sb_free(sb *b) {
  wsref_buf_free(&b->script);
  wsref_buf_free(&b->pool);
}

static void sb_op(sb *b, uint8_t op) {
  put(&b->script, &op, 1);
}

static void sb_sel(sb *b, int c) {
  if (c != b->cur) sb_op(b, (uint8_t)(SS_OP_SELECT | c));
  b->cur = c;
}

/* A client message holding exactly these octets. */
static void sb_bytes(sb *b, int c, const uint8_t *p, size_t n, bool binary) {
  sb_sel(b, c);
  const uint8_t *nul = memchr(p, 0, n);
  bool one_frame = nul && nul == p + n - 1;
  if (one_frame && !binary) {
    sb_op(b, SS_OP_TEXT | SS_SZ_FRAME);
  } else {
    uint8_t e[3] = {(uint8_t)(SS_OP_EXACT | (binary ? 1 : 0)), (uint8_t)(n >> 8), (uint8_t)n};
    put(&b->script, e, 3);
  }
  put(&b->pool, p, n);
}

/* A frame from connection c, encoded in its version; sb_frame() ends the header list. */
#define sb_frame(b, c, cmd, body, blen, ...) sb_frame_(b, c, cmd, body, blen, __VA_ARGS__, NULL)
static void sb_frame_(sb *b, int c, enum wsref_stomp_command cmd, const void *body, size_t blen,
                      ...) {
  wsref_buf f = WSREF_BUF_INIT;
  va_list ap;
  va_start(ap, blen);
  enum wsref_stomp_profile pr =
      (b->cfg0 & SS_SPRING) ? WSREF_STOMP_PROFILE_SPRING : WSREF_STOMP_PROFILE_SPEC;
  int rc = vframe(&f, b->v[c], pr, cmd, body, blen, ap);
  va_end(ap);
  if (rc == 0) sb_bytes(b, c, fuzz_buf_head(&f), wsref_buf_len(&f), false);
  wsref_buf_free(&f);
}

static void sb_connect(sb *b, int c, enum wsref_stomp_version v, const char *hb,
                       const char *login) {
  const char *av = v == WSREF_STOMP_V10 ? "1.0" : v == WSREF_STOMP_V11 ? "1.0,1.1" : "1.1,1.2";
  b->v[c] = WSREF_STOMP_V12; /* CONNECT is read with the 1.2 rules */
  if (login)
    sb_frame(b, c, WSREF_STOMP_CONNECT, NULL, 0, "accept-version", av, "host", "/", "heart-beat",
             hb ? hb : "0,0", "login", login, "passcode", "secret");
  else
    sb_frame(b, c, WSREF_STOMP_CONNECT, NULL, 0, "accept-version", av, "host", "/", "heart-beat",
             hb ? hb : "0,0");
  b->v[c] = v;
}

static void sb_write(sb *b, const uint8_t *plan) {
  wsref_buf o = WSREF_BUF_INIT;
  uint8_t cfg[3] = {b->cfg0, b->cfg1, b->cfg2};
  put(&o, cfg, 3);
  put(&o, plan, 1u + plan[0]);
  size_t L = wsref_buf_len(&b->script);
  uint8_t l[2] = {(uint8_t)(L >> 8), (uint8_t)L};
  put(&o, l, 2);
  put(&o, fuzz_buf_head(&b->script), L);
  put(&o, fuzz_buf_head(&b->pool), wsref_buf_len(&b->pool));
  g_write("stomp_server", fuzz_buf_head(&o), wsref_buf_len(&o));
  wsref_buf_free(&o);
}

/* Each scenario under the whole plan, a rotating other plan, and (when it makes sense)
 * the other profile. */
static void sb_done(sb *b, bool both_profiles) {
  sb_write(b, k_plans[0]);
  sb_write(b, k_plans[1 + g_rot++ % (N(k_plans) - 1)]);
  if (both_profiles) {
    b->cfg0 ^= SS_SPRING;
    sb_write(b, k_plans[0]);
    b->cfg0 ^= SS_SPRING;
  }
  sb_free(b);
}

#define ALL12 (SS_PROTO(0, 3) | SS_PROTO(1, 3) | SS_PROTO(2, 3) | SS_PROTO(3, 3))

/* Topic publish/subscribe, UNSUBSCRIBE with a receipt, DISCONNECT. */
static void sc_topic(uint8_t cfg0, enum wsref_stomp_version v) {
  sb b;
  sb_init(&b, cfg0 | SS_NCONN(2), ALL12, 0);
  sb_connect(&b, 0, v, NULL, NULL);
  sb_frame(&b, 0, WSREF_STOMP_SUBSCRIBE, NULL, 0, "id", "0", "destination", "/topic/a", "receipt",
           "r1");
  sb_frame(&b, 0, WSREF_STOMP_SUBSCRIBE, NULL, 0, "id", "1", "destination", "/topic/a");
  sb_connect(&b, 1, WSREF_STOMP_V12, NULL, NULL);
  sb_frame(&b, 1, WSREF_STOMP_SEND, "hello", 5, "destination", "/topic/a", "content-type",
           "text/plain", "receipt", "s1");
  sb_frame(&b, 1, WSREF_STOMP_SEND, "\0bin\0", 5, "destination", "/topic/a", "content-type",
           "application/octet-stream", "x-custom", "a:b\\c");
  sb_frame(&b, 0, WSREF_STOMP_UNSUBSCRIBE, NULL, 0, "id", "0", "receipt", "u1");
  sb_frame(&b, 1, WSREF_STOMP_SEND, "again", 5, "destination", "/topic/a");
  sb_op(&b, SS_OP_CHECK);
  sb_frame(&b, 0, WSREF_STOMP_DISCONNECT, NULL, 0, "receipt", "bye");
  sb_frame(&b, 1, WSREF_STOMP_DISCONNECT, NULL, 0, "receipt", "bye");
  sb_done(&b, true);
}

/* Queue with client-individual / client acknowledgement, ACK and NACK through the driver,
 * redelivery when the consumer goes. */
static void sc_queue(uint8_t cfg0, enum wsref_stomp_version v, const char *mode) {
  sb b;
  sb_init(&b, cfg0 | SS_NCONN(3), ALL12, 0);
  sb_connect(&b, 0, v, NULL, NULL);
  sb_frame(&b, 0, WSREF_STOMP_SUBSCRIBE, NULL, 0, "id", "sub-a", "destination", "/queue/q", "ack",
           mode, "receipt", "r1");
  sb_connect(&b, 1, WSREF_STOMP_V12, NULL, NULL);
  for (int i = 0; i < 4; i++) {
    char body[8];
    snprintf(body, sizeof body, "m%d", i);
    sb_frame(&b, 1, WSREF_STOMP_SEND, body, strlen(body), "destination", "/queue/q", "receipt",
             "s");
  }
  sb_sel(&b, 0);
  sb_op(&b, SS_OP_REACT | SS_REACT_RECEIPT);                /* ACK the latest */
  sb_op(&b, SS_OP_REACT | SS_REACT_OLDEST | SS_REACT_NACK); /* NACK the oldest */
  sb_op(&b, SS_OP_REACT | SS_REACT_OLDEST);
  sb_connect(&b, 2, WSREF_STOMP_V11, NULL, NULL);
  sb_frame(&b, 2, WSREF_STOMP_SUBSCRIBE, NULL, 0, "id", "0", "destination", "/queue/q", "ack",
           "client", "prefetch-count", "1");
  sb_sel(&b, 0);
  sb_op(&b, SS_OP_CONTROL | 2); /* connection 0 closes: its unacknowledged go to 2 */
  sb_sel(&b, 2);
  sb_op(&b, SS_OP_REACT);
  sb_op(&b, SS_OP_REACT | SS_REACT_RECEIPT);
  sb_frame(&b, 2, WSREF_STOMP_UNSUBSCRIBE, NULL, 0, "id", "0", "receipt", "u");
  sb_frame(&b, 1, WSREF_STOMP_DISCONNECT, NULL, 0, "receipt", "bye");
  sb_done(&b, false);
}

/* Transactions: SEND and ACK kept until COMMIT, dropped at ABORT. */
static void sc_transactions(uint8_t cfg0) {
  sb b;
  sb_init(&b, cfg0 | SS_NCONN(2), ALL12, 0);
  sb_connect(&b, 0, WSREF_STOMP_V12, NULL, NULL);
  sb_frame(&b, 0, WSREF_STOMP_SUBSCRIBE, NULL, 0, "id", "0", "destination", "/queue/t", "ack",
           "client");
  sb_connect(&b, 1, WSREF_STOMP_V12, NULL, NULL);
  sb_frame(&b, 1, WSREF_STOMP_BEGIN, NULL, 0, "transaction", "tx1", "receipt", "b1");
  sb_frame(&b, 1, WSREF_STOMP_SEND, "in tx", 5, "destination", "/queue/t", "transaction", "tx1");
  sb_frame(&b, 1, WSREF_STOMP_SEND, "in tx 2", 7, "destination", "/queue/t", "transaction", "tx1");
  sb_frame(&b, 1, WSREF_STOMP_COMMIT, NULL, 0, "transaction", "tx1", "receipt", "c1");
  sb_frame(&b, 0, WSREF_STOMP_BEGIN, NULL, 0, "transaction", "tx1");
  sb_sel(&b, 0);
  sb_op(&b, SS_OP_REACT | SS_REACT_TX);
  sb_op(&b, SS_OP_REACT | SS_REACT_TX | SS_REACT_NACK | SS_REACT_OLDEST);
  sb_frame(&b, 0, WSREF_STOMP_COMMIT, NULL, 0, "transaction", "tx1", "receipt", "c2");
  sb_frame(&b, 1, WSREF_STOMP_BEGIN, NULL, 0, "transaction", "tx2");
  sb_frame(&b, 1, WSREF_STOMP_SEND, "dropped", 7, "destination", "/queue/t", "transaction", "tx2");
  sb_frame(&b, 1, WSREF_STOMP_ABORT, NULL, 0, "transaction", "tx2", "receipt", "a2");
  sb_frame(&b, 1, WSREF_STOMP_COMMIT, NULL, 0, "transaction", "tx2");
  sb_done(&b, true);
}

/* A 1.0 client: no accept-version, SUBSCRIBE without id, UNSUBSCRIBE by destination. */
static void sc_v10(uint8_t cfg0) {
  sb b;
  sb_init(&b, cfg0 | SS_NCONN(2), 0, 0);
  b.v[0] = WSREF_STOMP_V12;
  sb_frame(&b, 0, WSREF_STOMP_CONNECT, NULL, 0, "login", "old", "passcode", "timer");
  b.v[0] = WSREF_STOMP_V10;
  sb_frame(&b, 0, WSREF_STOMP_SUBSCRIBE, NULL, 0, "destination", "/topic/old", "receipt", "r");
  sb_frame(&b, 0, WSREF_STOMP_SUBSCRIBE, NULL, 0, "destination", "/queue/old", "ack", "client");
  sb_connect(&b, 1, WSREF_STOMP_V12, NULL, NULL);
  sb_frame(&b, 1, WSREF_STOMP_SEND, "x", 1, "destination", "/topic/old", "k", "has\\back", "k2",
           "colon:inside");
  sb_frame(&b, 1, WSREF_STOMP_SEND, "q", 1, "destination", "/queue/old", "k", "line\nfeed");
  sb_sel(&b, 0);
  sb_op(&b, SS_OP_REACT);
  sb_frame(&b, 0, WSREF_STOMP_UNSUBSCRIBE, NULL, 0, "destination", "/topic/old", "receipt", "u");
  sb_frame(&b, 0, WSREF_STOMP_NACK, NULL, 0, "message-id", "1");
  sb_done(&b, true);
}

/* Heart-beats: server beats, client EOLs, then silence until the read timeout. */
static void sc_heartbeat(uint8_t cfg0, uint8_t cfg2) {
  sb b;
  sb_init(&b, cfg0 | SS_NCONN(2), ALL12, cfg2);
  sb_connect(&b, 0, WSREF_STOMP_V12, "50,50", NULL);
  sb_connect(&b, 1, WSREF_STOMP_V11, "1000,0", NULL);
  sb_op(&b, SS_OP_ADVANCE | SS_DT_50);
  sb_sel(&b, 0);
  sb_op(&b, SS_OP_CONTROL | 5);
  sb_op(&b, SS_OP_DEADLINE | 1);
  sb_op(&b, SS_OP_CONTROL | 6);
  sb_op(&b, SS_OP_LATE | 0);
  sb_op(&b, SS_OP_CONTROL | 11);
  sb_op(&b, SS_OP_ADVANCE | SS_DT_100);
  sb_op(&b, SS_OP_CONTROL | 14);
  sb_op(&b, SS_OP_DEADLINE | 0);
  sb_op(&b, SS_OP_DEADLINE | 1);
  sb_op(&b, SS_OP_ADVANCE | SS_DT_1000);
  sb_op(&b, SS_OP_ADVANCE | SS_DT_2000);
  sb_done(&b, true);
}

/* User destinations, application handlers, the template. */
static void sc_users(uint8_t cfg0) {
  sb b;
  sb_init(&b, cfg0 | SS_HANDLERS | SS_NCONN(3), ALL12, 0);
  sb_connect(&b, 0, WSREF_STOMP_V12, NULL, "alice");
  sb_frame(&b, 0, WSREF_STOMP_SUBSCRIBE, NULL, 0, "id", "0", "destination", "/user/queue/reply");
  sb_frame(&b, 0, WSREF_STOMP_SUBSCRIBE, NULL, 0, "id", "1", "destination", "/user/queue/a");
  sb_frame(&b, 0, WSREF_STOMP_SUBSCRIBE, NULL, 0, "id", "2", "destination", "/topic/echo");
  sb_connect(&b, 1, WSREF_STOMP_V12, NULL, "bob");
  sb_frame(&b, 1, WSREF_STOMP_SUBSCRIBE, NULL, 0, "id", "0", "destination", "/queue/echo", "ack",
           "client-individual");
  sb_frame(&b, 1, WSREF_STOMP_SEND, "hi alice", 8, "destination", "/user/alice/queue/reply",
           "receipt", "u1");
  sb_frame(&b, 0, WSREF_STOMP_SEND, "echo me", 7, "destination", "/app/echo");
  sb_frame(&b, 0, WSREF_STOMP_SEND, "reply me", 8, "destination", "/app/reply");
  sb_frame(&b, 1, WSREF_STOMP_SEND, "", 0, "destination", "/app/nothing");
  for (uint8_t k = 0; k < 16; k += 3) sb_op(&b, SS_OP_TEMPLATE | k);
  sb_sel(&b, 1);
  sb_op(&b, SS_OP_REACT);
  sb_connect(&b, 2, WSREF_STOMP_V12, NULL, "alice");
  sb_frame(&b, 2, WSREF_STOMP_SUBSCRIBE, NULL, 0, "id", "0", "destination", "/user/queue/a");
  sb_op(&b, SS_OP_TEMPLATE | 6);
  sb_op(&b, SS_OP_TEMPLATE | 8);
  sb_frame(&b, 1, WSREF_STOMP_SEND, "fail", 4, "destination", "/app/fail", "receipt", "f");
  sb_done(&b, true);
}

/* Flow control: a consumer that does not read, small send buffer and queues. */
static void sc_slow(uint8_t cfg0) {
  sb b;
  sb_init(&b, cfg0 | SS_SMALL_BROKER | SS_NCONN(3), ALL12, 0);
  sb_connect(&b, 0, WSREF_STOMP_V12, NULL, NULL);
  sb_frame(&b, 0, WSREF_STOMP_SUBSCRIBE, NULL, 0, "id", "0", "destination", "/queue/slow", "ack",
           "client-individual", "prefetch-count", "1");
  sb_frame(&b, 0, WSREF_STOMP_SUBSCRIBE, NULL, 0, "id", "1", "destination", "/topic/slow");
  sb_op(&b, SS_OP_WRITER | 0);
  sb_connect(&b, 1, WSREF_STOMP_V12, NULL, NULL);
  char body[600];
  memset(body, 'z', sizeof body);
  for (int i = 0; i < 6; i++) {
    sb_frame(&b, 1, WSREF_STOMP_SEND, body, sizeof body, "destination", "/queue/slow", "receipt",
             "q");
    sb_frame(&b, 1, WSREF_STOMP_SEND, body, 300, "destination", "/topic/slow");
  }
  sb_sel(&b, 0);
  sb_op(&b, SS_OP_WRITER | 6);
  sb_op(&b, SS_OP_REACT);
  sb_op(&b, SS_OP_WRITER | 1);
  sb_op(&b, SS_OP_REACT | SS_REACT_OLDEST);
  sb_op(&b, SS_OP_ADVANCE | SS_DT_1000);
  sb_connect(&b, 2, WSREF_STOMP_V12, NULL, NULL);
  sb_frame(&b, 2, WSREF_STOMP_BEGIN, NULL, 0, "transaction", "a");
  sb_frame(&b, 2, WSREF_STOMP_BEGIN, NULL, 0, "transaction", "b");
  sb_frame(&b, 2, WSREF_STOMP_BEGIN, NULL, 0, "transaction", "c");
  sb_frame(&b, 1, WSREF_STOMP_DISCONNECT, NULL, 0, "receipt", "bye");
  sb_done(&b, true);
}

/* Protocol errors, each on its own connection. */
static void sc_errors(uint8_t cfg0) {
  static const char *const frames[] = {
      "SEND\ndestination:/queue/a\n\nbefore connect\0",
      "CONNECT\naccept-version:2.0\n\n\0",
      "CONNECT\naccept-version:1.2\nheart-beat:x,1\n\n\0",
      "CONNECT\naccept-version:1.2\n\n\0CONNECT\naccept-version:1.2\n\n\0",
      "CONNECT\naccept-version:1.2\n\n\0SUBSCRIBE\nid:0\nreceipt:r\n\n\0",
      "CONNECT\naccept-version:1.2\n\n\0SUBSCRIBE\nid:0\ndestination:/nowhere\n\n\0",
      "CONNECT\naccept-version:1.2\n\n\0SUBSCRIBE\nid:0\ndestination:/queue/a\nack:sometimes\n\n\0",
      ("CONNECT\naccept-version:1.2\n\n\0SUBSCRIBE\nid:0\ndestination:/queue/a\n\n\0"
       "SUBSCRIBE\nid:0\ndestination:/queue/b\n\n\0"),
      "CONNECT\naccept-version:1.2\n\n\0UNSUBSCRIBE\nid:9\nreceipt:u\n\n\0",
      "CONNECT\naccept-version:1.2\n\n\0COMMIT\ntransaction:none\n\n\0",
      "CONNECT\naccept-version:1.0\n\n\0NACK\nmessage-id:1\n\n\0",
      "CONNECT\naccept-version:1.2\n\n\0MESSAGE\ndestination:/topic/a\n\n\0",
      "CONNECT\naccept-version:1.2\n\n\0send\ndestination:/topic/a\n\n\0",
      "CONNECT\naccept-version:1.2\n\n\0SEND\ndestination:/topic/a\nbad\\q:1\n\n\0",
      "CONNECT\naccept-version:1.2\n\n\0SEND\ndestination:/topic/a\ncontent-length:9\n\nshort\0",
      "CONNECT\naccept-version:1.2\n\n\0SEND\ndestination:/app/x\nreceipt:r\n\n\0",
      "CONNECT\naccept-version:1.2\n\n\0DISCONNECT\n\n\0",
      "CONNECT\naccept-version:1.2\n\n\0SEND\ndestination:/topic/a\ncontent-type:text\n\n\0",
      "CONNECT\naccept-version:1.2\n\n\0SEND\ndestination:/topic/a\nx-reject:1\nreceipt:9\n\n\0",
      "CONNECT\naccept-version:1.2\n\n\0DISCONNECT\nx-drop:1\nreceipt:d\n\n\0",
  };
  for (size_t i = 0; i < N(frames); i += 2) {
    sb b;
    sb_init(&b, (uint8_t)(cfg0 | SS_REJECT | SS_SMALL_LIMITS | SS_NCONN(2)), ALL12, SS_CT_100);
    for (size_t j = i; j < i + 2 && j < N(frames); j++) {
      const char *f = frames[j];
      size_t n = 0;
      /* the frames' length: through the last NUL of the literal */
      const char *p = f;
      for (;;) {
        size_t l = strlen(p);
        if (l == 0) break;
        n += l + 1;
        p += l + 1;
      }
      sb_bytes(&b, (int)(j - i), (const uint8_t *)f, n, false);
    }
    sb_op(&b, SS_OP_ADVANCE | SS_DT_1000);
    sb_done(&b, true);
  }
}

/* Frames split across WebSocket messages, several frames in one, fragments, raw bytes,
 * heart-beat floods, a kick. */
static void sc_framing(uint8_t cfg0) {
  sb b;
  sb_init(&b, cfg0 | SS_NCONN(4), ALL12, SS_FLOOD_64);
  sb_connect(&b, 0, WSREF_STOMP_V12, NULL, NULL);
  wsref_buf f = WSREF_BUF_INIT;
  (void)frame(&f, WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, WSREF_STOMP_SUBSCRIBE, NULL, 0, "id",
              "0", "destination", "/topic/f", "receipt", "r1", NULL);
  (void)frame(&f, WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, WSREF_STOMP_SEND, "split", 5,
              "destination", "/topic/f", NULL);
  put(&f, "\n\r\n", 3);
  (void)frame(&f, WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, WSREF_STOMP_SEND, "two", 3,
              "destination", "/topic/f", "receipt", "r2", NULL);
  sb_sel(&b, 0);
  size_t n = wsref_buf_len(&f);
  put(&b.pool, fuzz_buf_head(&f), n);
  /* 13 octets, 8, then through the next NUL, then two frames at once */
  sb_op(&b, SS_OP_TEXT | 9);
  sb_op(&b, SS_OP_TEXT | 8);
  sb_op(&b, SS_OP_TEXT | SS_SZ_FRAME);
  sb_op(&b, SS_OP_TEXT | SS_SZ_2FRAMES);
  wsref_buf_reset(&f);
  (void)frame(&f, WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, WSREF_STOMP_SEND, "frag", 4,
              "destination", "/topic/f", NULL);
  put(&b.pool, fuzz_buf_head(&f), wsref_buf_len(&f));
  sb_op(&b, SS_OP_FRAGMENTS | 0x0A);
  sb_connect(&b, 1, WSREF_STOMP_V12, NULL, NULL);
  sb_sel(&b, 1);
  for (int i = 0; i < 6; i++) sb_op(&b, SS_OP_CONTROL | 15);
  sb_connect(&b, 2, WSREF_STOMP_V12, NULL, NULL);
  sb_sel(&b, 2);
  sb_op(&b, SS_OP_KICK | 8);
  sb_op(&b, SS_OP_RECONNECT | 2);
  sb_connect(&b, 2, WSREF_STOMP_V11, NULL, NULL);
  sb_sel(&b, 3);
  sb_op(&b, SS_OP_CONTROL | 0);
  sb_op(&b, SS_OP_CONTROL | 7);
  /* a CONNECT as raw, unmasked-key WebSocket frame bytes of the client's own making */
  static const uint8_t raw[] = {0x81, 0x9A, 0,   0,   0,   0,   'C', 'O', 'N',  'N',  'E', 'C',
                                'T',  '\n', 'a', 'c', 'c', 'e', 'p', 't', '-',  'v',  'e', 'r',
                                's',  'i',  'o', 'n', ':', '1', '.', '2', '\n', '\n', 0};
  put(&b.pool, raw, sizeof raw - 5); /* 26 payload octets: a frame cut short */
  put(&b.pool, raw + sizeof raw - 5, 5);
  sb_op(&b, SS_OP_RAW | 12);
  sb_op(&b, SS_OP_CHECK);
  sb_op(&b, SS_OP_CONTROL | 8);
  wsref_buf_free(&f);
  sb_done(&b, true);
}

/* Nothing but a timeout: no CONNECT in time; a DISCONNECT whose output cannot flush. */
static void sc_timeouts(uint8_t cfg0) {
  sb b;
  sb_init(&b, cfg0 | SS_NCONN(2), ALL12, SS_CT_100);
  sb_op(&b, SS_OP_ADVANCE | SS_DT_50);
  sb_op(&b, SS_OP_DEADLINE | 0);
  sb_op(&b, SS_OP_DEADLINE | 1);
  sb_connect(&b, 1, WSREF_STOMP_V12, NULL, NULL);
  sb_frame(&b, 1, WSREF_STOMP_SUBSCRIBE, NULL, 0, "id", "0", "destination", "/topic/t");
  sb_op(&b, SS_OP_WRITER | 0);
  sb_op(&b, SS_OP_TEMPLATE | 0);
  sb_frame(&b, 1, WSREF_STOMP_DISCONNECT, NULL, 0, "receipt", "late");
  sb_op(&b, SS_OP_ADVANCE | SS_DT_10000);
  sb_op(&b, SS_OP_ADVANCE | SS_DT_10000);
  sb_op(&b, SS_OP_WRITER | 1);
  sb_done(&b, true);
}

/* The broker's limits and less common paths: too many subscriptions and transactions, a
 * transaction and queues over their byte limits, many unacknowledged deliveries on one
 * connection (its delivery map grows), several throttled producers, a %2F user name,
 * Spring's MIME type checks, an ERROR quoting a frame of many headers. */
static void sc_limits(uint8_t cfg0) {
  sb b;
  sb_init(&b, cfg0 | SS_NCONN(4), ALL12, 0);
  sb_connect(&b, 0, WSREF_STOMP_V12, NULL, "a/b");
  for (int i = 0; i < 5; i++) {
    char id[4], dest[16];
    snprintf(id, sizeof id, "%d", i);
    snprintf(dest, sizeof dest, "/queue/l%d", i % 2);
    sb_frame(&b, 0, WSREF_STOMP_SUBSCRIBE, NULL, 0, "id", id, "destination", dest, "ack",
             "client-individual");
  }
  sb_frame(&b, 0, WSREF_STOMP_SUBSCRIBE, NULL, 0, "id", "u", "destination", "/user/queue/x");
  sb_connect(&b, 1, WSREF_STOMP_V12, NULL, NULL);
  sb_connect(&b, 2, WSREF_STOMP_V12, NULL, NULL);
  char body[1500];
  memset(body, 'b', sizeof body);
  for (int i = 0; i < 16; i++) {
    int c = 1 + (i & 1);
    sb_frame(&b, c, WSREF_STOMP_SEND, body, i < 4 ? sizeof body : 20, "destination",
             i & 2 ? "/queue/l1" : "/queue/l0", "receipt", "p", "content-type",
             i & 1 ? "text/plain;charset=utf-8" : "application/octet-stream; q=1");
  }
  sb_frame(&b, 1, WSREF_STOMP_SEND, "to a/b", 6, "destination", "/user/a%2Fb/queue/x");
  sb_sel(&b, 0);
  sb_op(&b, SS_OP_REACT | SS_REACT_OLDEST);
  sb_op(&b, SS_OP_REACT | SS_REACT_OLDEST | SS_REACT_NACK);
  sb_op(&b, SS_OP_REACT);
  sb_frame(&b, 0, WSREF_STOMP_UNSUBSCRIBE, NULL, 0, "id", "1", "receipt", "u1");
  sb_connect(&b, 3, WSREF_STOMP_V12, NULL, NULL);
  sb_frame(&b, 3, WSREF_STOMP_BEGIN, NULL, 0, "transaction", "t1");
  sb_frame(&b, 3, WSREF_STOMP_SEND, body, 800, "destination", "/topic/t", "transaction", "t1");
  sb_frame(&b, 3, WSREF_STOMP_SEND, body, 800, "destination", "/topic/t", "transaction", "t1");
  sb_frame(&b, 3, WSREF_STOMP_BEGIN, NULL, 0, "transaction", "t2");
  sb_frame(&b, 3, WSREF_STOMP_BEGIN, NULL, 0, "transaction", "t3");
  sb_frame(&b, 3, WSREF_STOMP_SEND, "", 0, "destination", "/topic/t", "content-type", "");
  sb_frame(&b, 3, WSREF_STOMP_SEND, "", 0, "destination", "/topic/t", "content-type", "/plain");
  sb_frame(&b, 3, WSREF_STOMP_SEND, "", 0, "destination", "/topic/t", "content-type", "*/x");
  sb_frame(&b, 3, WSREF_STOMP_SEND, "", 0, "destination", "/topic/t", "content-type", "*");
  sb_frame(&b, 3, WSREF_STOMP_SUBSCRIBE, NULL, 0, "id", "0", "h1", "1", "h2", "2", "h3", "3", "h4",
           "4", "h5", "5", "h6", "6", "h7", "7", "h8", "8", "h9", "9", "h10", "10", "h11", "11",
           "h12", "12", "h13", "13", "h14", "14", "h15", "15", "h16", "16", "h17", "17");
  sb_done(&b, true);
}

static void server_corpus(void) {
  static const uint8_t cfgs[] = {0, SS_OUT_IC, SS_SMALL_LIMITS, SS_OUT_IC | SS_SMALL_BROKER};
  for (size_t i = 0; i < N(cfgs); i++) {
    sc_topic(cfgs[i], i & 1 ? WSREF_STOMP_V11 : WSREF_STOMP_V12);
    sc_queue(cfgs[i], WSREF_STOMP_V12, i & 1 ? "client" : "client-individual");
    sc_queue(cfgs[i], i & 1 ? WSREF_STOMP_V10 : WSREF_STOMP_V11,
             i & 1 ? "client-individual" : "client");
    sc_transactions(cfgs[i]);
  }
  sc_topic(0, WSREF_STOMP_V10);
  sc_v10(0);
  sc_v10(SS_OUT_IC);
  sc_heartbeat(0, SS_HB_SEND(1) | SS_HB_RECV(1));
  sc_heartbeat(0, SS_HB_SEND(1) | SS_HB_RECV(1) | SS_FACTOR_1);
  sc_heartbeat(SS_OUT_IC, SS_HB_SEND(2) | SS_HB_RECV(1));
  sc_users(0);
  sc_users(SS_OUT_IC);
  sc_slow(0);
  sc_slow(SS_OUT_IC);
  sc_errors(0);
  sc_framing(0);
  sc_timeouts(0);
  sc_limits(0);
  sc_limits(SS_SMALL_BROKER);
  sc_limits(SS_SMALL_BROKER | SS_OUT_IC | SS_REJECT);
}

void emit_stomp_seeds(seed_writer write) {
  g_write = write;
  codec_corpus();
  server_corpus();
}
