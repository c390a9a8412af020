/* STOMP protocol handler plus broker (reference/session/stomp_server.h,
 * reference/app/stomp_broker.h), driven by 2-4 scripted client connections: each a server
 * wsref_session fed a client handshake and masked WebSocket frames in input-chosen chunks,
 * with a virtual clock, heart-beat timers (deadline()/tick() as the io server calls them),
 * the messaging template, both profiles. Input format: support/stomp_script.h.
 *
 * Invariants (trap on violation):
 *   - each connection's output is a 101 response, then frames that obey the sender's rules
 *     of RFC 6455 (support/common.h), each data message exactly one STOMP frame (or one LF,
 *     a heart-beat) that the codec decodes in the negotiated version and that encodes back
 *     to the very same octets; CONNECTED first and once, MESSAGE and RECEIPT only after it
 *     (spring: or after a CONNECT without a common version, D1);
 *   - an ERROR is immediately followed by a close frame (checked whenever the output has
 *     been read to its end), nothing after the close frame;
 *   - RECEIPTs answer, in order, exactly the frames with a receipt header the server
 *     accepted (as the inbound interceptor saw them: post_send with sent = true);
 *   - no MESSAGE for a subscription after the RECEIPT of its UNSUBSCRIBE (unless the
 *     client subscribed with that id again), none after the close frame;
 *   - no acknowledged queue message is delivered again (spec profile): the inbound
 *     interceptor tags each SEND with a unique x-fuzz-seq header and records every
 *     SUBSCRIBE, UNSUBSCRIBE, ACK, NACK, BEGIN, COMMIT and ABORT with the broker's delivery
 *     counter before and after it; the MESSAGEs on the wire (message-id is that counter)
 *     are replayed against those events per connection to find the deliveries an ACK
 *     certainly acknowledged (or that went out in ack:auto mode); no delivery of the same
 *     message may have a larger message-id;
 *   - memory bounded: unsent output per connection within the send-limit decorator's
 *     bound, unacknowledged deliveries within max_unacked per subscription, waiting plus
 *     unacknowledged queue messages within what max_queue_messages and max_unacked allow
 *     (requeued messages come on top of a full queue), and (small-broker configuration,
 *     ASan builds) heap growth within a bound;
 *   - at the end, with every session freed: no connection, subscription or unacknowledged
 *     delivery left in the broker.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app/stomp_broker.h"
#include "base/error.h"
#include "codec/stomp.h"
#include "handshake/registry.h"
#include "session/session.h"
#include "session/stomp_server.h"
#include "support/common.h"
#include "support/stomp_script.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#include <sanitizer/allocator_interface.h>
#define FUZZ_HEAP_CHECK 1
#endif
#endif

#define MAXC 4
#define RECENT 8
#define SETTLE_ROUNDS 48
#define END_TICKS 24

static const uint32_t k_dt[16] = {0,   1,   10,   49,   50,   51,   99,    100,
                                  500, 999, 1000, 1001, 2000, 5000, 10000, 60000};
static const size_t k_sizes[16] = {0, 0, 0, 0, 1, 2, 3, 5, 8, 13, 32, 64, 128, 512, 2048, 0};
static const size_t k_part[16] = {0,    0,    1,    2,     7,     64,      100,     500,
                                  1000, 2000, 4096, 10000, 65536, 1 << 18, 1 << 20, 1 << 22};
static const uint32_t k_hb[4] = {0, 50, 1000, 10000};
static const char *const k_tdest[8] = {"/topic/a",
                                       "/queue/a",
                                       "/topic/b",
                                       "/queue/b",
                                       "/app/echo",
                                       "/queue/echo",
                                       "/user/alice/queue/a",
                                       "/bogus"};
static const char *const k_tuser[2] = {"alice", "bob"};
static const char *const k_tudest[4] = {"/queue/a", "/topic/a", "/queue/reply", "/x"};
static const uint8_t k_key[4] = {0x37, 0xfa, 0x21, 0x3d};

/* FUZZ_TRACE=1 in the environment prints every client write and server message (for
 * reading a reproducer); set once at start-up. */
static int g_trace;

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv) {
  (void)argc;
  (void)argv;
  const char *t = getenv("FUZZ_TRACE");
  g_trace = t && *t && *t != '0';
  return 0;
}

static void trace_bytes(const char *what, int conn, const uint8_t *p, size_t n) {
  if (!g_trace) return;
  fprintf(stderr, "[%d] %s (%zu) ", conn, what, n);
  for (size_t i = 0; i < n && i < 400; i++) {
    if (p[i] == '\n')
      fputs("\\n", stderr);
    else if (p[i] >= 0x20 && p[i] < 0x7f)
      fputc(p[i], stderr);
    else
      fprintf(stderr, "\\x%02x", p[i]);
  }
  fputs(n > 400 ? "...\n" : "\n", stderr);
}

/* ---- small owned strings ---- */

typedef struct str {
  char *p;
  size_t n;
  bool set;
} str;

static void str_set(str *s, const char *p, size_t n) {
  free(s->p);
  s->p = malloc(n + 1);
  if (!s->p) abort();
  if (n) memcpy(s->p, p, n);
  s->p[n] = 0;
  s->n = n;
  s->set = true;
}

static bool str_eq(const str *a, const str *b) {
  return a->set == b->set && (!a->set || (a->n == b->n && memcmp(a->p, b->p, a->n) == 0));
}

static void str_free(str *s) {
  free(s->p);
  memset(s, 0, sizeof *s);
}

static const wsref_stomp_header *hget(const wsref_stomp_frame *f, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < f->nheaders; i++)
    if (f->headers[i].name_len == n && memcmp(f->headers[i].name, name, n) == 0)
      return &f->headers[i];
  return NULL;
}

static void str_from(str *s, const wsref_stomp_header *h) {
  if (h)
    str_set(s, h->value, h->value_len);
  else
    str_free(s);
}

/* The broker's parse_id (stomp_broker.c), so that an ACK names what the broker reads. */
static bool parse_id(const char *p, size_t n, uint64_t *out) {
  if (!n || n > 20) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return false;
    uint64_t nv = v * 10 + (uint64_t)(p[i] - '0');
    if (nv < v) return false;
    v = nv;
  }
  *out = v;
  return true;
}

/* ---- what the oracle records ---- */

enum ev_kind { EV_SUB, EV_UNSUB, EV_ACK, EV_NACK, EV_BEGIN, EV_COMMIT, EV_ABORT };
enum { MODE_AUTO = 0, MODE_CLIENT, MODE_INDIVIDUAL };

typedef struct ev {
  int inst;
  enum ev_kind kind;
  uint64_t pre, post; /* broker delivery counter before / after the frame */
  bool ok;            /* post_send(sent = true) */
  str sub;            /* SUB/UNSUB id; ACK/NACK subscription header */
  int mode;
  bool target_ok;
  uint64_t target;
  str tx;
  enum wsref_stomp_version v;
} ev;

typedef struct dlv {
  int inst;
  uint64_t id;
  str sub;
  uint64_t seq;
  bool tagged, queue;
  /* replay state */
  bool acked, outstanding, poisoned;
  int mode;
} dlv;

typedef struct rcpt {
  str id;
  long ev; /* SUB / UNSUB event index, or -1 */
} rcpt;

typedef struct seen_msg {
  str ack, mid, sub;
  bool reacted;
} seen_msg;

typedef struct conn {
  wsref_session *s;
  int inst;
  unsigned proto;
  bool closed;   /* transport closed: the session is only kept until freed */
  bool blocked;  /* the client does not read */
  wsref_buf out; /* read, not yet parsed */
  bool head_done;
  fuzz_wire_check wc;
  wsref_buf msg;
  unsigned msg_op;
  bool in_msg;
  bool server_close, client_close, echo_close;
  unsigned server_code;
  enum wsref_stomp_version v;
  bool connected, any_stomp, err_pending;
  rcpt *rq;
  size_t rqh, rqn, rqcap;
  struct {
    str id;
    size_t ev;
  } dead[16];
  size_t ndead;
  seen_msg recent[RECENT];
  size_t nrecent; /* total seen; ring index = count % RECENT */
} conn;

typedef struct ctx {
  uint8_t cfg0, cfg1, cfg2;
  bool spring;
  int n;
  conn c[MAXC];
  int cur;
  int next_inst;
  uint64_t now;
  fuzz_chunks plan;
  const uint8_t *pool;
  size_t pool_n, pool_pos;
  wsref_registry *reg;
  wsref_stomp_broker *b;
  wsref_stomp_broker_options bo;
  wsref_session_options so;
  size_t unsent_bound;
  size_t hw_dest, hw_subs; /* high-water marks of the broker's destinations, subscriptions */
  /* oracle */
  ev *evs;
  size_t nev, capev;
  dlv *dls;
  size_t ndl, capdl;
  uint64_t next_seq;
  long cur_ev; /* event of the inbound frame being processed */
  bool cur_receipt_pushed;
  /* the rewritten inbound frame (valid until the next pre_send) */
  wsref_stomp_header *rw_h;
  size_t rw_cap;
  char rw_tag[32];
  wsref_stomp_frame rw;
  unsigned template_n;
#ifdef FUZZ_HEAP_CHECK
  size_t heap0, heap_bound;
#endif
} ctx;

static conn *conn_of_stomp(ctx *x, wsref_stomp_conn *sc) {
  wsref_session *s = wsref_stomp_conn_session(sc);
  for (int i = 0; i < x->n; i++)
    if (x->c[i].s == s) return &x->c[i];
  return NULL;
}

static uint64_t delivered(ctx *x) {
  wsref_stomp_broker_stats st;
  wsref_stomp_broker_get_stats(x->b, &st);
  return st.delivered;
}

static long ev_add(ctx *x, int inst, enum ev_kind k, enum wsref_stomp_version v) {
  if (x->nev == x->capev) {
    x->capev = x->capev ? 2 * x->capev : 64;
    x->evs = realloc(x->evs, x->capev * sizeof *x->evs);
    if (!x->evs) abort();
  }
  ev *e = &x->evs[x->nev];
  memset(e, 0, sizeof *e);
  e->inst = inst;
  e->kind = k;
  e->v = v;
  e->pre = delivered(x);
  return (long)x->nev++;
}

static void rq_push(conn *c, const wsref_stomp_header *h, long evi) {
  if (c->rqn == c->rqcap) {
    c->rqcap = c->rqcap ? 2 * c->rqcap : 16;
    c->rq = realloc(c->rq, c->rqcap * sizeof *c->rq);
    if (!c->rq) abort();
  }
  rcpt *r = &c->rq[c->rqn++];
  memset(r, 0, sizeof *r);
  str_set(&r->id, h->value, h->value_len);
  r->ev = evi;
}

/* ---- interceptors ---- */

static bool user_dest(const wsref_stomp_frame *f) {
  const wsref_stomp_header *d = hget(f, "destination");
  return !d || (d->value_len >= 5 && memcmp(d->value, "/user", 5) == 0);
}

/* SEND frames get a unique x-fuzz-seq header first (the spec broker passes it on to the
 * MESSAGE); a client's own x-fuzz-seq headers are removed so that none is forged. */
static const wsref_stomp_frame *rewrite(ctx *x, const wsref_stomp_frame *f) {
  bool tag = !x->spring && f->command == WSREF_STOMP_SEND && !user_dest(f);
  bool strip = hget(f, "x-fuzz-seq") != NULL;
  if (!tag && !strip) return f;
  if (f->nheaders + 1 > x->rw_cap) {
    x->rw_cap = f->nheaders + 16;
    free(x->rw_h);
    x->rw_h = malloc(x->rw_cap * sizeof *x->rw_h);
    if (!x->rw_h) abort();
  }
  size_t k = 0;
  if (tag) {
    int n = snprintf(x->rw_tag, sizeof x->rw_tag, "%llu", (unsigned long long)++x->next_seq);
    x->rw_h[k++] = (wsref_stomp_header){"x-fuzz-seq", 10, x->rw_tag, (size_t)n};
  }
  for (size_t i = 0; i < f->nheaders; i++) {
    const wsref_stomp_header *h = &f->headers[i];
    if (h->name_len == 10 && memcmp(h->name, "x-fuzz-seq", 10) == 0) continue;
    x->rw_h[k++] = *h;
  }
  x->rw = *f;
  x->rw.headers = x->rw_h;
  x->rw.nheaders = k;
  return &x->rw;
}

static const wsref_stomp_frame *in_pre(wsref_stomp_conn *sc, const wsref_stomp_frame *f,
                                       enum wsref_stomp_channel ch, void *ud) {
  ctx *x = ud;
  FUZZ_CHECK(ch == WSREF_STOMP_INBOUND);
  conn *c = conn_of_stomp(x, sc);
  FUZZ_CHECK(c != NULL);
  x->cur_ev = -1;
  x->cur_receipt_pushed = false;
  if (!c) return f;
  if (x->cfg0 & SS_REJECT) {
    if (hget(f, "x-reject")) {
      wsref_stomp_conn_reject(sc, "refused by the fuzz interceptor");
      return NULL;
    }
    if (hget(f, "x-drop")) {
      /* A dropped DISCONNECT still ends the session, with its RECEIPT. */
      const wsref_stomp_header *r = hget(f, "receipt");
      if (f->command == WSREF_STOMP_DISCONNECT && r) rq_push(c, r, -1);
      return NULL;
    }
  }
  enum wsref_stomp_version v = wsref_stomp_conn_version(sc);
  const wsref_stomp_header *h;
  long e = -1;
  switch (f->command) {
    case WSREF_STOMP_SUBSCRIBE:
      e = ev_add(x, c->inst, EV_SUB, v);
      str_from(&x->evs[e].sub, hget(f, "id"));
      h = hget(f, "ack");
      if (h && h->value_len == 6 && memcmp(h->value, "client", 6) == 0)
        x->evs[e].mode = MODE_CLIENT;
      if (h && h->value_len == 17 && memcmp(h->value, "client-individual", 17) == 0)
        x->evs[e].mode = MODE_INDIVIDUAL;
      break;
    case WSREF_STOMP_UNSUBSCRIBE:
      e = ev_add(x, c->inst, EV_UNSUB, v);
      str_from(&x->evs[e].sub, hget(f, "id"));
      break;
    case WSREF_STOMP_ACK:
    case WSREF_STOMP_NACK:
      e = ev_add(x, c->inst, f->command == WSREF_STOMP_ACK ? EV_ACK : EV_NACK, v);
      h = hget(f, v == WSREF_STOMP_V12 ? "id" : "message-id");
      x->evs[e].target_ok = h && parse_id(h->value, h->value_len, &x->evs[e].target);
      if (v != WSREF_STOMP_V12) str_from(&x->evs[e].sub, hget(f, "subscription"));
      str_from(&x->evs[e].tx, hget(f, "transaction"));
      break;
    case WSREF_STOMP_BEGIN:
    case WSREF_STOMP_COMMIT:
    case WSREF_STOMP_ABORT:
      e = ev_add(x, c->inst,
                 f->command == WSREF_STOMP_BEGIN    ? EV_BEGIN
                 : f->command == WSREF_STOMP_COMMIT ? EV_COMMIT
                                                    : EV_ABORT,
                 v);
      str_from(&x->evs[e].tx, hget(f, "transaction"));
      break;
    default:
      break;
  }
  x->cur_ev = e;
  return rewrite(x, f);
}

static void in_post(wsref_stomp_conn *sc, const wsref_stomp_frame *f, enum wsref_stomp_channel ch,
                    bool sent, void *ud) {
  ctx *x = ud;
  conn *c = conn_of_stomp(x, sc);
  if (!c) return;
  if (x->cur_ev >= 0) {
    x->evs[x->cur_ev].ok = sent;
    x->evs[x->cur_ev].post = delivered(x);
  }
  const wsref_stomp_header *r = hget(f, "receipt");
  if (!sent || !r || f->command == WSREF_STOMP_CONNECT || f->command == WSREF_STOMP_STOMP ||
      f->command == WSREF_STOMP_HEARTBEAT)
    return;
  if (x->spring && f->command != WSREF_STOMP_DISCONNECT) return;
  rq_push(c, r, x->cur_ev);
}

/* Passes everything, but drops heart-beats when refusing is on too (a frame dropped on
 * the way out counts as sent). */
static const wsref_stomp_frame *out_pre(wsref_stomp_conn *sc, const wsref_stomp_frame *f,
                                        enum wsref_stomp_channel ch, void *ud) {
  (void)sc;
  ctx *x = ud;
  FUZZ_CHECK(ch == WSREF_STOMP_OUTBOUND);
  FUZZ_CHECK(f->command != WSREF_STOMP_ERROR); /* the error path bypasses the channel */
  if ((x->cfg0 & SS_REJECT) && f->command == WSREF_STOMP_HEARTBEAT) return NULL;
  return f;
}

/* ---- application handlers ---- */

static int app_echo(wsref_stomp_broker *b, wsref_stomp_conn *c, const char *dest,
                    const wsref_stomp_frame *f, void *ud) {
  (void)c;
  (void)dest;
  (void)ud;
  (void)wsref_template_send(b, "/queue/echo", f->headers, f->nheaders, f->body, f->body_len);
  (void)wsref_template_send(b, "/topic/echo", f->headers, f->nheaders, f->body, f->body_len);
  return 0;
}

static int app_fail(wsref_stomp_broker *b, wsref_stomp_conn *c, const char *dest,
                    const wsref_stomp_frame *f, void *ud) {
  (void)b;
  (void)dest;
  (void)f;
  (void)ud;
  if (c) wsref_stomp_conn_set_error(c, "refused by %s", "/app/fail");
  return WSREF_E_HANDLER;
}

static int app_reply(wsref_stomp_broker *b, wsref_stomp_conn *c, const char *dest,
                     const wsref_stomp_frame *f, void *ud) {
  (void)dest;
  (void)ud;
  const char *u = c ? wsref_stomp_conn_user(c) : NULL;
  if (!u) return 0;
  wsref_stomp_header h = {"x-reply", 7, "yes", 3};
  return wsref_template_send_to_user(b, u, "/queue/reply", &h, 1, f->body, f->body_len) == 0
             ? 0
             : WSREF_E_HANDLER;
}

/* ---- client side: writing ---- */

/* Feed n client octets through the chunk plan, each piece a private heap block. */
static void feed(ctx *x, conn *c, const uint8_t *p, size_t n) {
  if (!c->s || c->closed) return;
  fuzz_chunks_rewind(&x->plan);
  size_t pos = 0;
  do {
    size_t len = fuzz_chunks_next(&x->plan, n - pos);
    uint8_t *piece = fuzz_dup(p + pos, len);
    int rc = wsref_session_recv(c->s, piece, len, x->now);
    free(piece);
    (void)rc;
    pos += len;
  } while (pos < n);
}

static void put_frame(wsref_buf *b, unsigned b0, const uint8_t *p, size_t n) {
  uint8_t h[14];
  size_t hl = 2;
  h[0] = (uint8_t)b0;
  if (n < 126) {
    h[1] = (uint8_t)(0x80 | n);
  } else if (n < 65536) {
    h[1] = 0x80 | 126;
    h[2] = (uint8_t)(n >> 8);
    h[3] = (uint8_t)n;
    hl = 4;
  } else {
    h[1] = 0x80 | 127;
    for (int i = 0; i < 8; i++) h[2 + i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    hl = 10;
  }
  memcpy(h + hl, k_key, 4);
  hl += 4;
  if (wsref_buf_append(b, h, hl) < 0) abort();
  if (!n) return;
  uint8_t *d = wsref_buf_reserve(b, n);
  if (!d) abort();
  for (size_t i = 0; i < n; i++) d[i] = p[i] ^ k_key[i & 3];
  wsref_buf_commit(b, n);
}

static void send_message(ctx *x, conn *c, unsigned op, const uint8_t *p, size_t n) {
  trace_bytes(op == 1   ? "client text"
              : op == 2 ? "client binary"
                        : "client control",
              (int)(c - x->c), p, n);
  wsref_buf b = WSREF_BUF_INIT;
  put_frame(&b, 0x80 | op, p, n);
  feed(x, c, fuzz_buf_head(&b), wsref_buf_len(&b));
  wsref_buf_free(&b);
}

/* ---- the pool ---- */

static size_t pool_left(const ctx *x) {
  return x->pool_n - x->pool_pos;
}

/* Through the k-th NUL (and the EOLs after it), or everything left. */
static size_t through_nuls(const ctx *x, int k) {
  const uint8_t *p = x->pool + x->pool_pos;
  size_t n = pool_left(x), i = 0;
  for (int seen = 0; seen < k && i < n; i++)
    if (p[i] == 0) seen++;
  while (i < n && (p[i] == '\n' || p[i] == '\r')) i++;
  return i;
}

static size_t select_size(const ctx *x, unsigned k) {
  size_t left = pool_left(x);
  switch (k) {
    case 0:
      return through_nuls(x, 1);
    case 1:
      return through_nuls(x, 2);
    case 2:
      return through_nuls(x, 4);
    case 3: {
      const uint8_t *nl = memchr(x->pool + x->pool_pos, '\n', left);
      return nl ? (size_t)(nl - (x->pool + x->pool_pos)) + 1 : left;
    }
    case 15:
      return left;
    default:
      return k_sizes[k] < left ? k_sizes[k] : left;
  }
}

static const uint8_t *take(ctx *x, size_t n) {
  const uint8_t *p = x->pool + x->pool_pos;
  x->pool_pos += n;
  return p;
}

/* ---- server output: reading and checking ---- */

typedef struct got {
  int n, heartbeats;
  wsref_buf canon;
  enum wsref_stomp_command cmd;
  str version, sub, mid, ack, rid, seq, dest;
  bool has_version;
  enum wsref_stomp_version v;
  enum wsref_stomp_profile pr;
  wsref_buf enc;
  int enc_rc;
} got;

static int on_out_frame(const wsref_stomp_frame *f, void *ud) {
  got *g = ud;
  if (f->command == WSREF_STOMP_HEARTBEAT) {
    g->heartbeats++;
    return 0;
  }
  g->n++;
  if (g->n > 1) return 0;
  g->cmd = f->command;
  const wsref_stomp_header *h = hget(f, "version");
  g->has_version = h != NULL;
  str_from(&g->version, h);
  str_from(&g->sub, hget(f, "subscription"));
  str_from(&g->mid, hget(f, "message-id"));
  str_from(&g->ack, hget(f, "ack"));
  str_from(&g->rid, hget(f, "receipt-id"));
  str_from(&g->seq, hget(f, "x-fuzz-seq"));
  str_from(&g->dest, hget(f, "destination"));
  g->enc_rc = wsref_stomp_encode(&g->enc, g->v, g->pr, f);
  return 0;
}

static void got_free(got *g) {
  str_free(&g->version);
  str_free(&g->sub);
  str_free(&g->mid);
  str_free(&g->ack);
  str_free(&g->rid);
  str_free(&g->seq);
  str_free(&g->dest);
  wsref_buf_free(&g->enc);
  wsref_buf_free(&g->canon);
}

static void dl_add(ctx *x, conn *c, got *g) {
  if (x->ndl == x->capdl) {
    x->capdl = x->capdl ? 2 * x->capdl : 64;
    x->dls = realloc(x->dls, x->capdl * sizeof *x->dls);
    if (!x->dls) abort();
  }
  dlv *d = &x->dls[x->ndl];
  memset(d, 0, sizeof *d);
  if (!g->mid.set || !parse_id(g->mid.p, g->mid.n, &d->id)) return;
  d->inst = c->inst;
  if (g->sub.set) str_set(&d->sub, g->sub.p, g->sub.n);
  d->tagged = g->seq.set && parse_id(g->seq.p, g->seq.n, &d->seq);
  d->queue = g->dest.set && g->dest.n > 7 && memcmp(g->dest.p, "/queue/", 7) == 0;
  if (!d->tagged || !d->queue) {
    str_free(&d->sub);
    return;
  }
  x->ndl++;
}

/* A MESSAGE for a subscription whose UNSUBSCRIBE was answered, with no SUBSCRIBE of that id
 * processed since? */
static bool sub_dead(ctx *x, conn *c, const str *sub) {
  for (size_t i = 0; i < c->ndead; i++) {
    if (!str_eq(&c->dead[i].id, sub)) continue;
    for (size_t j = c->dead[i].ev + 1; j < x->nev; j++)
      if (x->evs[j].inst == c->inst && x->evs[j].kind == EV_SUB && str_eq(&x->evs[j].sub, sub))
        return false;
    return true;
  }
  return false;
}

static void on_receipt(ctx *x, conn *c, const got *g) {
  FUZZ_CHECK(g->rid.set);
  FUZZ_CHECK(c->rqh < c->rqn); /* a RECEIPT nobody asked for */
  if (c->rqh >= c->rqn || !g->rid.set) return;
  rcpt *r = &c->rq[c->rqh++];
  FUZZ_CHECK(r->id.n == g->rid.n && memcmp(r->id.p, g->rid.p, r->id.n) == 0);
  if (r->ev < 0) return;
  const ev *e = &x->evs[r->ev];
  if (e->kind == EV_UNSUB && e->ok && e->sub.set && c->ndead < sizeof c->dead / sizeof c->dead[0]) {
    str_set(&c->dead[c->ndead].id, e->sub.p, e->sub.n);
    c->dead[c->ndead].ev = (size_t)r->ev;
    c->ndead++;
  }
}

static void remember(conn *c, const got *g) {
  seen_msg *m = &c->recent[c->nrecent++ % RECENT];
  str_free(&m->ack);
  str_free(&m->mid);
  str_free(&m->sub);
  if (g->ack.set) str_set(&m->ack, g->ack.p, g->ack.n);
  if (g->mid.set) str_set(&m->mid, g->mid.p, g->mid.n);
  if (g->sub.set) str_set(&m->sub, g->sub.p, g->sub.n);
  m->reacted = false;
}

/* One whole data message from the server. */
static void on_server_message(ctx *x, conn *c, unsigned op, const uint8_t *p, size_t n) {
  trace_bytes(op == 1 ? "server text" : "server binary", (int)(c - x->c), p, n);
  if (n == 1 && p[0] == '\n') {
    FUZZ_CHECK(c->connected); /* heart-beats are negotiated by CONNECT */
    return;
  }
  got g;
  memset(&g, 0, sizeof g);
  /* Spring's encoder escapes with the 1.2 rules whatever the version. */
  g.v = x->spring ? WSREF_STOMP_V12 : c->v;
  g.pr = x->spring ? WSREF_STOMP_PROFILE_SPRING : WSREF_STOMP_PROFILE_SPEC;
  wsref_stomp_decoder_options o;
  memset(&o, 0, sizeof o);
  o.version = g.v;
  o.profile = WSREF_STOMP_PROFILE_SPEC;
  o.limits.max_headers = 1 << 20;
  o.limits.max_header_line = (size_t)1 << 26;
  o.limits.max_body = (size_t)1 << 28;
  o.limits.max_buffer = (size_t)1 << 28;
  wsref_stomp_decoder *d = wsref_stomp_decoder_new(&o);
  FUZZ_CHECK(d != NULL);
  int rc = wsref_stomp_decode(d, p, n, on_out_frame, &g);
  FUZZ_CHECK(rc == 0);
  FUZZ_CHECK(wsref_stomp_decoder_buffered(d) == 0);
  wsref_stomp_decoder_free(d);
  FUZZ_CHECK(g.n == 1 && g.heartbeats == 0); /* one frame per message */
  if (rc != 0 || g.n != 1) {
    got_free(&g);
    return;
  }
  /* The broker assembles MESSAGE by hand (encode once per version): it must be what the
   * codec's encoder writes for the same frame. */
  FUZZ_CHECK(g.enc_rc == 0);
  if (wsref_buf_len(&g.enc) != n || memcmp(fuzz_buf_head(&g.enc), p, n) != 0) {
    trace_bytes("re-encoded", c->inst, fuzz_buf_head(&g.enc), wsref_buf_len(&g.enc));
    if (g_trace) fprintf(stderr, "    (decoded and re-encoded as STOMP 1.%d)\n", g.v % 10);
  }
  FUZZ_CHECK(wsref_buf_len(&g.enc) == n && memcmp(fuzz_buf_head(&g.enc), p, n) == 0);
  switch (g.cmd) {
    case WSREF_STOMP_CONNECTED:
      FUZZ_CHECK(!c->any_stomp);
      c->connected = true;
      if (!x->spring) {
        c->v = WSREF_STOMP_V10;
        if (g.has_version && g.version.n == 3 && !memcmp(g.version.p, "1.1", 3))
          c->v = WSREF_STOMP_V11;
        if (g.has_version && g.version.n == 3 && !memcmp(g.version.p, "1.2", 3))
          c->v = WSREF_STOMP_V12;
      }
      break;
    case WSREF_STOMP_MESSAGE:
      /* spring D1: a CONNECT without a common version is accepted silently, no CONNECTED */
      FUZZ_CHECK(c->connected || x->spring);
      if (g.sub.set) FUZZ_CHECK(!sub_dead(x, c, &g.sub));
      remember(c, &g);
      if (!x->spring) dl_add(x, c, &g);
      break;
    case WSREF_STOMP_RECEIPT:
      FUZZ_CHECK(c->connected || x->spring);
      on_receipt(x, c, &g);
      break;
    case WSREF_STOMP_ERROR:
      c->err_pending = true;
      break;
    default:
      FUZZ_CHECK(!"a client command from the server");
  }
  c->any_stomp = true;
  got_free(&g);
}

static void parse_out(ctx *x, conn *c) {
  if (!c->head_done) {
    const uint8_t *p = fuzz_buf_head(&c->out);
    size_t n = wsref_buf_len(&c->out), end = 0;
    for (size_t i = 3; i < n && !end; i++)
      if (p[i] == '\n' && p[i - 1] == '\r' && p[i - 2] == '\n' && p[i - 3] == '\r') end = i + 1;
    if (!end) return;
    /* The driver's requests are valid and /stomp is registered. */
    FUZZ_CHECK(end > 13 && memcmp(p, "HTTP/1.1 101 ", 13) == 0);
    static const char *const protos[4] = {NULL, "v10.stomp", "v11.stomp", "v12.stomp"};
    if (protos[c->proto]) {
      char want[64];
      int wn = snprintf(want, sizeof want, "\r\nSec-WebSocket-Protocol: %s\r\n", protos[c->proto]);
      FUZZ_CHECK(memmem(p, end, want, (size_t)wn) != NULL);
    }
    wsref_buf_consume(&c->out, end);
    c->head_done = true;
  }
  for (;;) {
    const uint8_t *p = fuzz_buf_head(&c->out);
    size_t n = wsref_buf_len(&c->out);
    fuzz_frame f;
    size_t total = fuzz_frame_decode(p, n, &f);
    if (!total) break;
    /* After an ERROR, the next frame is the close frame. */
    if (c->err_pending) FUZZ_CHECK(f.opcode == 8);
    FUZZ_CHECK(fuzz_wire_check_frames(&c->wc, p, total) == total);
    const uint8_t *pl = p + f.hlen;
    size_t len = (size_t)f.len;
    if (f.opcode == 8) {
      trace_bytes("server close", (int)(c - x->c), pl, len);
      c->err_pending = false;
      c->server_close = true;
      c->server_code = len >= 2 ? (unsigned)pl[0] << 8 | pl[1] : 0;
      if (!c->client_close) c->echo_close = true;
    } else if (f.opcode == 1 || f.opcode == 2 || f.opcode == 0) {
      if (f.opcode) {
        wsref_buf_reset(&c->msg);
        c->msg_op = f.opcode;
      }
      if (len && wsref_buf_append(&c->msg, pl, len) < 0) abort();
      if (f.fin) {
        uint8_t *m = fuzz_dup(fuzz_buf_head(&c->msg), wsref_buf_len(&c->msg));
        size_t mn = wsref_buf_len(&c->msg);
        wsref_buf_reset(&c->msg);
        on_server_message(x, c, c->msg_op, m, mn);
        free(m);
      }
    }
    wsref_buf_consume(&c->out, total);
  }
}

/* Read up to limit octets of the server's output. Returns true if any. */
static bool drain(ctx *x, conn *c, size_t limit) {
  size_t total = 0;
  while (total < limit) {
    size_t n = 0;
    const uint8_t *p = wsref_session_output(c->s, &n);
    if (!p || !n) break;
    size_t k = n < limit - total ? n : limit - total;
    if (wsref_buf_append(&c->out, p, k) < 0) abort();
    wsref_session_output_done(c->s, k, x->now);
    total += k;
  }
  if (total) parse_out(x, c);
  size_t left = 0;
  (void)wsref_session_output(c->s, &left);
  /* ERROR and its close frame are queued in one go: with everything read, no ERROR may
   * still be waiting for its close. */
  if (!left) FUZZ_CHECK(!c->err_pending);
  return total > 0;
}

static void close_transport(ctx *x, conn *c, int err) {
  if (!c->s || c->closed) return;
  wsref_session_transport_closed(c->s, err, x->now);
  c->closed = true;
  FUZZ_CHECK(wsref_stomp_conn_of(c->s) == NULL);
}

static void client_close(ctx *x, conn *c, unsigned code) {
  uint8_t pl[2] = {(uint8_t)(code >> 8), (uint8_t)code};
  wsref_buf b = WSREF_BUF_INIT;
  put_frame(&b, 0x88, pl, code ? 2 : 0);
  c->client_close = true;
  feed(x, c, fuzz_buf_head(&b), wsref_buf_len(&b));
  wsref_buf_free(&b);
}

static void check_bounds(ctx *x) {
  wsref_stomp_broker_stats st;
  wsref_stomp_broker_get_stats(x->b, &st);
  /* A SEND is refused once its queue holds max_queue_messages; what NACK, UNSUBSCRIBE or a
   * departure requeues comes on top, but was accepted under that limit and delivered under
   * max_unacked. So waiting + unacknowledged stays within these (high-water) products. */
  if (st.destinations > x->hw_dest) x->hw_dest = st.destinations;
  if (st.subscriptions > x->hw_subs) x->hw_subs = st.subscriptions;
  FUZZ_CHECK(st.unacked <= st.subscriptions * (size_t)x->bo.max_unacked);
  FUZZ_CHECK(st.queued + st.unacked <=
             x->hw_dest * x->bo.max_queue_messages + x->hw_subs * (size_t)x->bo.max_unacked);
  for (int i = 0; i < x->n; i++) {
    conn *c = &x->c[i];
    if (!c->s || c->closed) continue;
    wsref_stomp_conn *sc = wsref_stomp_conn_of(c->s);
    if (sc) FUZZ_CHECK(wsref_stomp_conn_unsent(sc) <= x->unsent_bound);
  }
#ifdef FUZZ_HEAP_CHECK
  if (x->heap_bound) {
    size_t now = __sanitizer_get_current_allocated_bytes();
    FUZZ_CHECK(now <= x->heap0 || now - x->heap0 <= x->heap_bound);
  }
#endif
}

/* What the io server does between events: flush what the client reads, run the session's
 * and the STOMP handler's timers when due, close finished transports. */
static void settle(ctx *x, bool timers) {
  for (int round = 0; round < SETTLE_ROUNDS; round++) {
    bool progress = false;
    for (int i = 0; i < x->n; i++) {
      conn *c = &x->c[i];
      if (!c->s || c->closed) continue;
      if (!c->blocked) progress |= drain(x, c, SIZE_MAX);
      if (c->echo_close && !c->client_close) {
        c->echo_close = false;
        client_close(x, c, c->server_code);
        progress = true;
      }
      if (timers) {
        uint64_t sd = wsref_session_deadline(c->s), hd = wsref_stomp_session_deadline(c->s, NULL);
        if ((sd && sd <= x->now) || (hd && hd <= x->now)) {
          wsref_session_tick(c->s, x->now);
          wsref_stomp_session_tick(c->s, x->now, NULL);
          progress = true;
        }
      }
      size_t left = 0;
      (void)wsref_session_output(c->s, &left);
      if (wsref_session_transport_done(c->s) && !left) {
        close_transport(x, c, 0);
        progress = true;
      }
    }
    if (!progress) break;
  }
  check_bounds(x);
}

/* ---- connections ---- */

static void conn_release(ctx *x, conn *c) {
  if (c->s) {
    close_transport(x, c, 0);
    wsref_session_free(c->s);
  }
  wsref_buf_free(&c->out);
  wsref_buf_free(&c->msg);
  fuzz_wire_check_free(&c->wc);
  for (size_t i = 0; i < c->rqn; i++) str_free(&c->rq[i].id);
  free(c->rq);
  for (size_t i = 0; i < c->ndead; i++) str_free(&c->dead[i].id);
  for (int i = 0; i < RECENT; i++) {
    str_free(&c->recent[i].ack);
    str_free(&c->recent[i].mid);
    str_free(&c->recent[i].sub);
  }
  memset(c, 0, sizeof *c);
}

static void conn_open(ctx *x, conn *c, unsigned proto) {
  conn_release(x, c);
  c->inst = x->next_inst++;
  c->proto = proto & 3;
  c->v = WSREF_STOMP_V12;
  wsref_session_options so = x->so;
  so.id = c->inst + 1; /* repeatable ids: a reproducer behaves the same on every run */
  c->s = wsref_session_new_server(x->reg, &so, NULL, "192.0.2.1:5000", x->now);
  FUZZ_CHECK(c->s != NULL);
  static const char *const protos[4] = {"", "Sec-WebSocket-Protocol: v10.stomp\r\n",
                                        "Sec-WebSocket-Protocol: v11.stomp\r\n",
                                        "Sec-WebSocket-Protocol: v12.stomp\r\n"};
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET /stomp HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Sec-WebSocket-Version: 13\r\n%s\r\n",
                   protos[c->proto]);
  feed(x, c, (const uint8_t *)req, (size_t)n);
}

/* ---- script operations ---- */

static void op_control(ctx *x, conn *c, unsigned k) {
  static const uint8_t ping_hb[] = {0x89, 0x80, 0x37, 0xfa, 0x21, 0x3d,       0x81,
                                    0x81, 0x37, 0xfa, 0x21, 0x3d, '\n' ^ 0x37};
  switch (k) {
    case 0:
      send_message(x, c, 9, (const uint8_t *)"ping", 4);
      break;
    case 1:
      send_message(x, c, 10, (const uint8_t *)"", 0);
      break;
    case 2:
      client_close(x, c, 1000);
      break;
    case 3:
      client_close(x, c, 0);
      break;
    case 4:
      client_close(x, c, 1002);
      break;
    case 5:
      send_message(x, c, 1, (const uint8_t *)"\n", 1);
      break;
    case 6:
      send_message(x, c, 1, (const uint8_t *)"\r\n", 2);
      break;
    case 7:
      send_message(x, c, 1, (const uint8_t *)"", 0);
      break;
    case 8:
      close_transport(x, c, 0);
      break;
    case 9:
      close_transport(x, c, WSREF_E_IO);
      break;
    case 10:
      send_message(x, c, 2, (const uint8_t *)"\n", 1);
      break;
    case 11:
      feed(x, c, ping_hb, sizeof ping_hb);
      break;
    default: {
      wsref_buf b = WSREF_BUF_INIT;
      for (unsigned i = 0; i < k - 11; i++) put_frame(&b, 0x81, (const uint8_t *)"\n", 1);
      feed(x, c, fuzz_buf_head(&b), wsref_buf_len(&b));
      wsref_buf_free(&b);
      break;
    }
  }
}

static void op_template(ctx *x, unsigned k) {
  char body[32];
  int n = snprintf(body, sizeof body, "t%u", x->template_n++);
  wsref_stomp_header h[2] = {{"content-type", 12, "text/plain", 10}, {"x-t", 3, body, (size_t)n}};
  int rc;
  if (k < 8) {
    rc = wsref_template_send(x->b, k_tdest[k], h, 2, body, (size_t)n);
    FUZZ_CHECK(rc == 0 || rc == WSREF_E_INVALID_ARG || rc == WSREF_E_LIMIT ||
               rc == WSREF_E_HANDLER);
  } else {
    rc = wsref_template_send_to_user(x->b, k_tuser[k & 1], k_tudest[(k >> 1) & 3], h, 2, body,
                                     (size_t)n);
    FUZZ_CHECK(rc == 0 || rc == WSREF_E_INVALID_ARG || rc == WSREF_E_LIMIT);
  }
}

static void op_check(ctx *x) {
  wsref_stomp_server *srv = wsref_stomp_broker_server(x->b);
  size_t open = 0;
  for (int i = 0; i < x->n; i++) {
    conn *c = &x->c[i];
    if (!c->s || c->closed) continue;
    wsref_stomp_conn *sc = wsref_stomp_conn_of(c->s);
    if (!sc) continue;
    open++;
    FUZZ_CHECK(wsref_stomp_conn_session(sc) == c->s);
    FUZZ_CHECK(wsref_stomp_conn_server(sc) == srv);
    FUZZ_CHECK(strcmp(wsref_stomp_conn_id(sc), wsref_session_id(c->s)) == 0);
    enum wsref_stomp_version v = wsref_stomp_conn_version(sc);
    FUZZ_CHECK(v == WSREF_STOMP_V10 || v == WSREF_STOMP_V11 || v == WSREF_STOMP_V12);
    FUZZ_CHECK(wsref_stomp_conn_profile(sc) ==
               (x->spring ? WSREF_STOMP_PROFILE_SPRING : WSREF_STOMP_PROFILE_SPEC));
    if (wsref_stomp_conn_is_connected(sc)) FUZZ_CHECK(wsref_session_is_open(c->s));
    FUZZ_CHECK(wsref_stomp_conn_high_water(sc) ==
               wsref_stomp_server_options_of(srv)->send_buffer_limit / 2);
    (void)wsref_stomp_conn_write_interval(sc);
    (void)wsref_stomp_conn_read_interval(sc);
    (void)wsref_stomp_conn_user(sc);
  }
  FUZZ_CHECK(wsref_stomp_server_connections(srv) == open);
  wsref_stomp_broker_stats st;
  wsref_stomp_broker_get_stats(x->b, &st);
  FUZZ_CHECK(st.connections <= open);
  FUZZ_CHECK(st.redelivered <= st.delivered);
}

static void op_react(ctx *x, conn *c, unsigned k) {
  if (!c->nrecent) return;
  seen_msg *m = NULL;
  if (k & SS_REACT_OLDEST) {
    size_t first = c->nrecent > RECENT ? c->nrecent - RECENT : 0;
    for (size_t i = first; i < c->nrecent && !m; i++)
      if (!c->recent[i % RECENT].reacted) m = &c->recent[i % RECENT];
  } else {
    m = &c->recent[(c->nrecent - 1) % RECENT];
  }
  if (!m) return;
  m->reacted = true;
  wsref_stomp_header h[4];
  size_t nh = 0;
  if (c->v == WSREF_STOMP_V12) {
    const str *id = m->ack.set ? &m->ack : &m->mid;
    if (!id->set) return;
    h[nh++] = (wsref_stomp_header){"id", 2, id->p, id->n};
  } else {
    if (!m->mid.set) return;
    h[nh++] = (wsref_stomp_header){"message-id", 10, m->mid.p, m->mid.n};
    if (m->sub.set) h[nh++] = (wsref_stomp_header){"subscription", 12, m->sub.p, m->sub.n};
  }
  if (k & SS_REACT_RECEIPT) h[nh++] = (wsref_stomp_header){"receipt", 7, "rr", 2};
  if (k & SS_REACT_TX) h[nh++] = (wsref_stomp_header){"transaction", 11, "tx1", 3};
  wsref_stomp_frame f = {(k & SS_REACT_NACK) ? WSREF_STOMP_NACK : WSREF_STOMP_ACK, h, nh, NULL, 0};
  wsref_buf b = WSREF_BUF_INIT;
  if (wsref_stomp_encode(
          &b, c->v, x->spring ? WSREF_STOMP_PROFILE_SPRING : WSREF_STOMP_PROFILE_SPEC, &f) == 0)
    send_message(x, c, 1, fuzz_buf_head(&b), wsref_buf_len(&b));
  wsref_buf_free(&b);
}

static void op_kick(ctx *x, conn *c, unsigned k) {
  (void)x;
  wsref_stomp_conn *sc = c->s && !c->closed ? wsref_stomp_conn_of(c->s) : NULL;
  if (!sc) return;
  static const int errs[4] = {WSREF_E_LIMIT, WSREF_E_STOMP_HEARTBEAT, WSREF_E_NOMEM,
                              WSREF_E_HANDLER};
  wsref_stomp_conn_error(sc, errs[k & 3], (k & 4) ? NULL : "kicked\nout",
                         (k & 8) ? "r-kick" : NULL);
}

/* ---- the acknowledgement oracle ---- */

static int mode_of(ctx *x, int inst, const str *sub, size_t upto) {
  int mode = -1;
  for (size_t i = 0; i < upto; i++) {
    const ev *e = &x->evs[i];
    if (e->inst == inst && e->kind == EV_SUB && e->ok && str_eq(&e->sub, sub)) mode = e->mode;
  }
  return mode;
}

typedef struct replay {
  ctx *x;
  int inst;
  dlv **d; /* deliveries of inst, by id */
  size_t nd, next;
  size_t evi; /* events before this index are applied */
} replay;

static void rp_add_until(replay *r, uint64_t upto, bool poison) {
  while (r->next < r->nd && r->d[r->next]->id <= upto) {
    dlv *d = r->d[r->next++];
    d->mode = d->sub.set ? mode_of(r->x, r->inst, &d->sub, r->evi) : -1;
    if (d->mode == MODE_AUTO) {
      d->acked = true; /* ack:auto: acknowledged as it is sent */
    } else if (d->mode > 0 && !poison) {
      d->outstanding = true;
    }
  }
}

static void rp_release_sub(replay *r, const str *sub) {
  for (size_t i = 0; i < r->next; i++)
    if (r->d[i]->outstanding && (!sub || str_eq(&r->d[i]->sub, sub))) r->d[i]->outstanding = false;
}

static void rp_ack(replay *r, const ev *e, bool nack) {
  if (!e->target_ok) return;
  dlv *t = NULL;
  for (size_t i = 0; i < r->next && !t; i++)
    if (r->d[i]->outstanding && r->d[i]->id == e->target) t = r->d[i];
  if (!t) return;
  /* 1.0/1.1: a subscription header must name the delivery's subscription. */
  if (e->v != WSREF_STOMP_V12 && e->sub.set && !str_eq(&e->sub, &t->sub)) return;
  if (nack) {
    rp_release_sub(r, &t->sub); /* at least what the broker requeues */
    return;
  }
  for (size_t i = 0; i < r->next; i++) {
    dlv *d = r->d[i];
    if (!d->outstanding || !str_eq(&d->sub, &t->sub)) continue;
    if (d == t || (t->mode == MODE_CLIENT && d->id < t->id)) {
      d->acked = true;
      d->outstanding = false;
    }
  }
}

static int cmp_dlv(const void *a, const void *b) {
  const dlv *x = *(dlv *const *)a, *y = *(dlv *const *)b;
  return x->id < y->id ? -1 : x->id > y->id;
}

static void replay_inst(ctx *x, int inst) {
  replay r = {x, inst, NULL, 0, 0, 0};
  r.d = malloc((x->ndl + 1) * sizeof *r.d);
  if (!r.d) abort();
  for (size_t i = 0; i < x->ndl; i++)
    if (x->dls[i].inst == inst) r.d[r.nd++] = &x->dls[i];
  qsort(r.d, r.nd, sizeof *r.d, cmp_dlv);
  for (size_t i = 0; i < x->nev; i++) {
    const ev *e = &x->evs[i];
    if (e->inst != inst) continue;
    r.evi = i;
    rp_add_until(&r, e->pre, false);
    if (!e->ok) continue;
    if ((e->kind == EV_ACK || e->kind == EV_NACK) && e->tx.set) continue; /* at COMMIT */
    switch (e->kind) {
      case EV_ACK:
      case EV_NACK:
        rp_ack(&r, e, e->kind == EV_NACK);
        break;
      case EV_UNSUB:
        rp_release_sub(&r, e->sub.set ? &e->sub : NULL);
        break;
      case EV_COMMIT: {
        /* The transaction's ACK/NACKs (those after the BEGIN this COMMIT ends), in order,
         * as if sent now; what was delivered while the COMMIT ran (its SENDs) is left out
         * of the count. */
        size_t begin = 0;
        for (size_t k = 0; k < i; k++)
          if (x->evs[k].inst == inst && x->evs[k].kind == EV_BEGIN && x->evs[k].ok &&
              str_eq(&x->evs[k].tx, &e->tx))
            begin = k;
        for (size_t j = begin + 1; j < i; j++) {
          const ev *t = &x->evs[j];
          if (t->inst != inst || !t->ok || !t->tx.set || !str_eq(&t->tx, &e->tx)) continue;
          if (t->kind == EV_ACK || t->kind == EV_NACK) rp_ack(&r, t, t->kind == EV_NACK);
        }
        rp_add_until(&r, e->post, true);
        break;
      }
      default:
        break;
    }
  }
  r.evi = x->nev;
  rp_add_until(&r, UINT64_MAX, false);
  free(r.d);
}

static void check_acks(ctx *x) {
  if (x->spring) return;
  for (int inst = 0; inst < x->next_inst; inst++) replay_inst(x, inst);
  for (size_t i = 0; i < x->ndl; i++) {
    if (!x->dls[i].acked) continue;
    for (size_t j = 0; j < x->ndl; j++) {
      if (x->dls[j].seq != x->dls[i].seq) continue;
      /* an acknowledged message is never delivered again */
      FUZZ_CHECK(x->dls[j].id <= x->dls[i].id);
    }
  }
}

/* ---- setup ---- */

static void configure(ctx *x) {
  enum wsref_stomp_profile pr = x->spring ? WSREF_STOMP_PROFILE_SPRING : WSREF_STOMP_PROFILE_SPEC;
  wsref_stomp_broker_options_default(&x->bo, pr);
  wsref_stomp_server_options *so = &x->bo.server;
  if (x->cfg0 & SS_SMALL_LIMITS) {
    so->limits.max_headers = 8;
    so->limits.max_header_line = 256;
    so->limits.max_body = 512;
    so->limits.max_buffer = 512;
  }
  if (x->cfg0 & SS_SMALL_BROKER) {
    x->bo.max_queue_messages = 4;
    x->bo.max_queued_bytes = 4096;
    x->bo.queue_flow_high = 2;
    x->bo.max_unacked = 2;
    x->bo.max_subscriptions = 4;
    x->bo.max_transactions = 2;
    x->bo.max_transaction_bytes = 1024;
    so->send_buffer_limit = 2048;
    so->send_time_limit_ms = 500;
  }
  so->heartbeat_send_ms = k_hb[x->cfg2 & 3];
  so->heartbeat_recv_ms = k_hb[(x->cfg2 >> 2) & 3];
  static const uint32_t ct[4] = {60000, 0, 100, 5000};
  so->connect_timeout_ms = ct[(x->cfg2 >> 4) & 3];
  if (x->cfg2 & 0x40) so->heartbeat_flood = 64;
  if (x->cfg2 & 0x80) so->heartbeat_read_factor = 1;
  wsref_session_options_default(&x->so);

  /* Largest frame the server may write: the client's headers escaped (twice as long at
   * worst), its body, the broker's own headers; an ERROR's description. */
  size_t mh = so->limits.max_headers ? so->limits.max_headers
                                     : (x->spring ? 65536 : WSREF_STOMP_MAX_HEADERS_DEFAULT);
  size_t ml = so->limits.max_header_line
                  ? so->limits.max_header_line
                  : (x->spring ? 65536 : WSREF_STOMP_MAX_HEADER_LINE_DEFAULT);
  size_t mb = so->limits.max_body ? so->limits.max_body
                                  : (x->spring ? 65536 : WSREF_STOMP_MAX_BODY_DEFAULT);
  size_t frame = 2 * mh * (2 * ml + 2) + mb + 16384;
  /* The decorator queues up to its limit while the session holds one batch (a previous
   * queue, with frame headers), plus the message that overflows it. */
  x->unsent_bound = 4 * so->send_buffer_limit + 2 * frame + 4096;
}

static void ctx_free(ctx *x) {
  for (int i = 0; i < MAXC; i++) conn_release(x, &x->c[i]);
  wsref_stomp_broker_free(x->b);
  wsref_registry_free(x->reg);
  for (size_t i = 0; i < x->nev; i++) {
    str_free(&x->evs[i].sub);
    str_free(&x->evs[i].tx);
  }
  free(x->evs);
  for (size_t i = 0; i < x->ndl; i++) str_free(&x->dls[i].sub);
  free(x->dls);
  free(x->rw_h);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  ctx x;
  memset(&x, 0, sizeof x);
#ifdef FUZZ_HEAP_CHECK
  x.heap0 = __sanitizer_get_current_allocated_bytes();
#endif
  fuzz_in in = {data, size, 0};
  x.cfg0 = fuzz_u8(&in);
  x.cfg1 = fuzz_u8(&in);
  x.cfg2 = fuzz_u8(&in);
  fuzz_chunks_read(&x.plan, &in);
  size_t L = (size_t)fuzz_u8(&in) << 8;
  L |= fuzz_u8(&in);
  if (L > fuzz_left(&in)) L = fuzz_left(&in);
  const uint8_t *script = fuzz_rest(&in);
  x.pool = script + L;
  x.pool_n = fuzz_left(&in) - L;
  x.spring = x.cfg0 & SS_SPRING;
  x.n = 2 + (x.cfg0 >> 6) % 3;
  x.now = 1000;
  x.cur_ev = -1;
  configure(&x);
  x.b = wsref_stomp_broker_new(&x.bo);
  x.reg = wsref_registry_new();
  FUZZ_CHECK(x.b && x.reg);
  if (!x.b || !x.reg) {
    ctx_free(&x);
    return 0;
  }
  FUZZ_CHECK(wsref_stomp_broker_register(x.b, x.reg, "/stomp") != NULL);
  wsref_stomp_interceptor in_ic = {in_pre, in_post, NULL, &x};
  FUZZ_CHECK(wsref_stomp_broker_add_interceptor(x.b, WSREF_STOMP_INBOUND, &in_ic) == 0);
  if (x.cfg0 & SS_OUT_IC) {
    wsref_stomp_interceptor out_ic = {out_pre, NULL, NULL, &x};
    FUZZ_CHECK(wsref_stomp_broker_add_interceptor(x.b, WSREF_STOMP_OUTBOUND, &out_ic) == 0);
  }
  if (x.cfg0 & SS_HANDLERS) {
    FUZZ_CHECK(wsref_stomp_broker_add_handler(x.b, "/echo", app_echo, NULL) == 0);
    FUZZ_CHECK(wsref_stomp_broker_add_handler(x.b, "/fail", app_fail, NULL) == 0);
    FUZZ_CHECK(wsref_stomp_broker_add_handler(x.b, "/reply", app_reply, NULL) == 0);
  }
#ifdef FUZZ_HEAP_CHECK
  /* Everything here grows with the input or is bounded by the small limits. */
  if (x.cfg0 & SS_SMALL_BROKER) x.heap_bound = ((size_t)8 << 20) + 256 * size;
#endif
  for (int i = 0; i < x.n; i++) conn_open(&x, &x.c[i], (x.cfg1 >> (2 * i)) & 3);
  settle(&x, true);

  for (size_t i = 0; i < L; i++) {
    uint8_t b = script[i];
    unsigned k = b & 15;
    conn *c = &x.c[x.cur];
    bool timers = true;
    switch (b & 0xF0) {
      case SS_OP_SELECT:
        x.cur = (int)(k % (unsigned)x.n);
        break;
      case SS_OP_TEXT:
      case SS_OP_BINARY: {
        size_t n = select_size(&x, k);
        send_message(&x, c, (b & 0xF0) == SS_OP_TEXT ? 1 : 2, take(&x, n), n);
        break;
      }
      case SS_OP_FRAGMENTS: {
        size_t n = through_nuls(&x, 1);
        const uint8_t *p = take(&x, n);
        unsigned parts = 2 + (k & 7);
        wsref_buf w = WSREF_BUF_INIT;
        size_t pos = 0;
        for (unsigned j = 0; j < parts; j++) {
          size_t len = j + 1 == parts ? n - pos : (n - pos) / (parts - j);
          put_frame(&w, (j + 1 == parts ? 0x80 : 0) | (j ? 0 : 1), p + pos, len);
          if (j == 0 && (k & 8)) put_frame(&w, 0x89, (const uint8_t *)"", 0);
          pos += len;
        }
        feed(&x, c, fuzz_buf_head(&w), wsref_buf_len(&w));
        wsref_buf_free(&w);
        break;
      }
      case SS_OP_ADVANCE:
        x.now += k_dt[k];
        break;
      case SS_OP_DEADLINE: {
        uint64_t best = 0;
        for (int j = 0; j < x.n; j++) {
          conn *d = &x.c[j];
          if (!d->s || d->closed) continue;
          uint64_t t[2] = {wsref_session_deadline(d->s), wsref_stomp_session_deadline(d->s, NULL)};
          for (int q = 0; q < 2; q++)
            if (t[q] && (!best || t[q] < best)) best = t[q];
        }
        if (best && best + k > x.now + 1) x.now = best + k - 1;
        break;
      }
      case SS_OP_WRITER:
        if (!c->s || c->closed) break;
        if (k == 0) {
          c->blocked = true;
        } else if (k == 1) {
          c->blocked = false;
        } else {
          c->blocked = true;
          drain(&x, c, k_part[k]);
        }
        break;
      case SS_OP_CONTROL:
        op_control(&x, c, k);
        break;
      case SS_OP_RECONNECT:
        conn_open(&x, c, k);
        break;
      case SS_OP_TEMPLATE:
        op_template(&x, k);
        break;
      case SS_OP_CHECK:
        op_check(&x);
        break;
      case SS_OP_REACT:
        op_react(&x, c, k);
        break;
      case SS_OP_RAW: {
        size_t n = k_sizes[k] ? k_sizes[k] : k == 15 ? pool_left(&x) : select_size(&x, k);
        if (n > pool_left(&x)) n = pool_left(&x);
        feed(&x, c, take(&x, n), n);
        break;
      }
      case SS_OP_KICK:
        op_kick(&x, c, k);
        break;
      case SS_OP_EXACT: {
        size_t n = 0;
        if (i + 2 < L) {
          n = (size_t)script[i + 1] << 8 | script[i + 2];
          i += 2;
        }
        if (n > pool_left(&x)) n = pool_left(&x);
        send_message(&x, c, (k & 1) ? 2 : 1, take(&x, n), n);
        break;
      }
      case SS_OP_LATE:
        x.now += (uint64_t)(k + 1) * 250;
        timers = false;
        break;
    }
    settle(&x, timers);
  }

  /* The end: the rest of the pool, every writer reading, the clock through the deadlines,
   * every transport closed. */
  if (pool_left(&x)) {
    size_t n = pool_left(&x);
    send_message(&x, &x.c[x.cur], 1, take(&x, n), n);
  }
  for (int i = 0; i < x.n; i++) x.c[i].blocked = false;
  settle(&x, true);
  for (int round = 0; round < END_TICKS; round++) {
    uint64_t best = 0;
    for (int j = 0; j < x.n; j++) {
      conn *d = &x.c[j];
      if (!d->s || d->closed) continue;
      uint64_t t[2] = {wsref_session_deadline(d->s), wsref_stomp_session_deadline(d->s, NULL)};
      for (int q = 0; q < 2; q++)
        if (t[q] && (!best || t[q] < best)) best = t[q];
    }
    if (!best) break;
    if (best > x.now) x.now = best;
    settle(&x, true);
  }
  for (int i = 0; i < x.n; i++) {
    if (x.c[i].s && !x.c[i].closed) drain(&x, &x.c[i], SIZE_MAX);
    close_transport(&x, &x.c[i], 0);
  }
  for (int i = 0; i < x.n; i++) {
    if (x.c[i].s) wsref_session_free(x.c[i].s);
    x.c[i].s = NULL;
  }
  wsref_stomp_broker_stats st;
  wsref_stomp_broker_get_stats(x.b, &st);
  FUZZ_CHECK(st.connections == 0);
  FUZZ_CHECK(st.subscriptions == 0);
  FUZZ_CHECK(st.unacked == 0);
  FUZZ_CHECK(wsref_stomp_server_connections(wsref_stomp_broker_server(x.b)) == 0);
  check_acks(&x);
  ctx_free(&x);
  return 0;
}
