/* stomp_delivery: checks a STOMP broker's queue delivery guarantee with the wsref STOMP
 * client (app/stomp_client.h): no acknowledged message is ever delivered again and no
 * unacknowledged one is lost, while consumers come and go.
 *
 * A publisher sends N numbered messages to a fresh /queue destination; K consumers subscribe
 * to it with ack:client-individual (and a prefetch-count, so the messages spread over them)
 * and ACK each MESSAGE with a receipt. M times during the run one consumer "dies": it stops
 * acknowledging, waits until the RECEIPTs of the ACKs it already sent are in (so every ACK
 * is known to be processed), keeps receiving a few more MESSAGEs without acknowledging them,
 * then disconnects, alternately abruptly (TCP dropped: no DISCONNECT, no closing handshake)
 * and gracefully (DISCONNECT with receipt, then the close). A new consumer takes its place.
 *
 * Every delivery is counted. The run ends once every message has a confirmed ACK (plus a
 * short settling time, to catch late duplicates) or at the time limit. Checks:
 *   - each of the N messages was acknowledged (ACK + RECEIPT) exactly once in all;
 *   - no message was delivered again after its ACK's RECEIPT arrived;
 *   - no message went to a second consumer while the one it was delivered to was still
 *     there (it had neither left nor, since we never NACK, given it back);
 *   - every message a departing consumer held unacknowledged was delivered again (and
 *     acknowledged by another consumer);
 *   - no ERROR frame, no lost receipt, no failure but the planned abrupt disconnects.
 *
 * Output follows the peer-check convention of tests/integration/lib.sh (peer_tap): `PLAN n`,
 * then one `PASS what` or `FAIL what: why` line per check, and `INFO ...` lines. Exit status
 * 0 once the plan ran (whatever it found), 1 if the run could not start, 2 for usage errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "app/stomp_client.h"
#include "base/buf.h"
#include "base/error.h"
#include "io/loop.h"

static const char usage[] =
    "usage: stomp_delivery [options] ws[s]://host:port/path\n"
    "\n"
    "  --messages N     messages to publish (default 2000)\n"
    "  --consumers K    consumers at any time (default 4)\n"
    "  --kills M        consumers that disconnect mid-stream holding unacknowledged\n"
    "                   messages, alternately abruptly and gracefully (default 6)\n"
    "  --prefetch P     prefetch-count header on SUBSCRIBE (default 20; 0 = none)\n"
    "  --body-size B    body octets (default 64; at least the sequence number)\n"
    "  --queue NAME     destination (default /queue/wsc-delivery-PID-TIME)\n"
    "  --host H         CONNECT host (default: the URL's host; RabbitMQ: /)\n"
    "  --login L --passcode P\n"
    "  --heart-beat MS  heart-beat both ways (default 2000; 0 = none)\n"
    "  --seed S         which consumer dies and how many messages it holds (default 1)\n"
    "  --time-limit S   give up after S seconds (default 60)\n";

#define MAX_CONNS 256
#define PUB_RECEIPT_EVERY 50 /* a SEND with a receipt every this many */
#define PUB_WINDOW 200       /* SENDs without a RECEIPT at most */

enum role { PUBLISHER, CONSUMER };

typedef struct run run;

typedef struct conn {
  run *r;
  int idx;
  enum role role;
  wsref_stomp_client *c;
  wsref_stomp_session_handler h;
  bool subscribed; /* the SUBSCRIBE's receipt arrived */
  bool dying;      /* stopped acknowledging */
  bool leaving;    /* disconnect started */
  bool abrupt;
  bool gone;
  uint64_t dying_since;
  unsigned to_hold, held;
  uint64_t delivered;
} conn;

typedef struct ack_ctx {
  run *r;
  uint32_t seq;
  int conn;
} ack_ctx;

/* What happened to one message, for the diagnosis of a FAIL: up to HIST events. */
#define HIST 8
typedef struct hist {
  uint8_t n;
  struct {
    char what; /* d delivered, D delivered with redelivered:true, h held, a ACK sent,
                  c ACK confirmed, l ACK receipt lost */
    uint8_t conn;
    uint32_t ms; /* since the start */
  } ev[HIST];
} hist;

struct run {
  const char *url;
  wsref_stomp_client_options o;
  const char *queue;
  uint32_t n, consumers, kills, prefetch, body_size;
  uint64_t seed;
  uint64_t deadline;

  conn *conns[MAX_CONNS];
  size_t nconns;
  conn *pub;
  uint32_t next_pub;     /* next sequence number to publish */
  uint32_t pub_receipts; /* SEND receipts confirmed */
  uint32_t pub_expected; /* SEND receipts asked for */
  bool pub_last_confirmed;

  /* per message */
  uint32_t *deliveries;
  uint32_t *confirmed; /* ACK receipts */
  bool *ack_done;      /* its ACK's RECEIPT arrived */
  bool *held;          /* held unacknowledged by a consumer that then left */
  uint16_t *held_by;   /* 1 + the last connection that held it */
  uint16_t *acked_by;  /* 1 + the connection whose ACK of it was confirmed first */
  hist *hist;
  uint64_t t0;
  uint16_t *owner;     /* 1 + the connection it was last delivered to; 0 = none */
  wsref_buf log;       /* connection events, shown when a check fails */
  uint64_t concurrent; /* deliveries while another live consumer still had it */
  uint32_t first_concurrent;

  uint64_t total_confirmed; /* messages with at least one confirmed ACK */
  uint64_t dup_after_ack;   /* deliveries of a message after its ACK's RECEIPT */
  uint32_t first_dup;
  uint64_t bad_bodies;
  uint64_t redelivered_flag;
  uint32_t kills_done, abrupt_done, graceful_done, held_total;
  uint32_t errors, lost_receipts, failures, subscribe_failures;
  char first_problem[256];
};

static void note(run *r, uint32_t seq, char what, int who) {
  hist *h = &r->hist[seq];
  if (h->n == HIST) return;
  h->ev[h->n].what = what;
  h->ev[h->n].conn = (uint8_t)who;
  h->ev[h->n].ms = (uint32_t)(wsref_now_ms() - r->t0);
  h->n++;
}

static void log_event(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_event(run *r, const char *fmt, ...) {
  char line[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  (void)wsref_buf_appendf(&r->log, "INFO at %" PRIu64 " ms: %s\n", wsref_now_ms() - r->t0, line);
}

static void print_hist(const run *r, uint32_t seq) {
  const hist *h = &r->hist[seq];
  printf("INFO message %" PRIu32 ":", seq);
  for (unsigned i = 0; i < h->n; i++) {
    const char *w = "?";
    switch (h->ev[i].what) {
      case 'd':
        w = "delivered to";
        break;
      case 'D':
        w = "delivered (redelivered:true) to";
        break;
      case 'h':
        w = "held by";
        break;
      case 'a':
        w = "ACK sent by";
        break;
      case 'c':
        w = "ACK confirmed for";
        break;
      case 'l':
        w = "ACK receipt lost for";
        break;
    }
    printf("%s %s connection %u at %" PRIu32 " ms", i ? "," : "", w, h->ev[i].conn, h->ev[i].ms);
  }
  printf("%s\n", h->n == HIST ? ", ..." : "");
}

static uint64_t xorshift(uint64_t *s) {
  uint64_t x = *s ? *s : 0x9e3779b97f4a7c15ull;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static void problem(run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void problem(run *r, const char *fmt, ...) {
  if (r->first_problem[0]) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(r->first_problem, sizeof r->first_problem, fmt, ap);
  va_end(ap);
}

/* ---- callbacks ---- */

static void on_error(wsref_stomp_client *c, const wsref_stomp_frame *f, void *ud) {
  conn *k = ud;
  (void)c;
  const char *m = wsref_stomp_frame_get(f, "message");
  k->r->errors++;
  printf("INFO connection %d got ERROR: %s\n", k->idx, m ? m : "(no message header)");
  problem(k->r, "ERROR frame: %s", m ? m : "");
}

static void on_transport_error(wsref_stomp_client *c, int err, void *ud) {
  conn *k = ud;
  if (k->leaving) return;
  k->r->failures++;
  wsref_client *w = wsref_stomp_client_ws(c);
  const wsref_close_status *st = w ? wsref_client_close_status(w) : NULL;
  printf("INFO connection %d (%s) failed: %s; WebSocket close %u %s, %" PRIu64
         " messages published, %" PRIu64 " confirmed\n",
         k->idx, k->role == PUBLISHER ? "publisher" : "consumer", wsref_err_name(err),
         st ? st->code : 0, st ? st->reason : "", (uint64_t)k->r->next_pub, k->r->total_confirmed);
  problem(k->r, "a connection failed: %s", wsref_err_name(err));
}

static void on_ack_receipt(wsref_stomp_client *c, const char *id, bool received, void *ud) {
  ack_ctx *a = ud;
  run *r = a->r;
  (void)c;
  (void)id;
  note(r, a->seq, received ? 'c' : 'l', a->conn);
  if (received) {
    if (r->confirmed[a->seq]++ == 0) {
      r->total_confirmed++;
      r->acked_by[a->seq] = (uint16_t)(a->conn + 1);
    }
    r->ack_done[a->seq] = true;
  } else {
    r->lost_receipts++;
    problem(r, "the RECEIPT of an ACK was lost (message %" PRIu32 ")", a->seq);
  }
  free(a);
}

static void on_message(wsref_stomp_client *c, wsref_stomp_subscription *sub,
                       const wsref_stomp_frame *f, void *ud) {
  conn *k = ud;
  run *r = k->r;
  (void)sub;
  char num[16];
  size_t n = f->body_len < sizeof num - 1 ? f->body_len : sizeof num - 1;
  memcpy(num, f->body, n);
  num[n] = '\0';
  char *end;
  unsigned long seq = strtoul(num, &end, 10);
  if (end == num || *end != ' ' || seq >= r->n) {
    r->bad_bodies++;
    problem(r, "a MESSAGE body is not one of ours");
    return;
  }
  r->deliveries[seq]++;
  k->delivered++;
  /* Sockets are read one after the other: what the broker sent a consumer before its
   * DISCONNECT may be read after the same message was redelivered to another, acknowledged
   * and confirmed there. A delivery read on a leaving consumer is no evidence of a delivery
   * after the ACK (the same reasoning as for concurrent holders below). */
  if (r->ack_done[seq] && !k->leaving) {
    if (!r->dup_after_ack) r->first_dup = (uint32_t)seq;
    r->dup_after_ack++;
    problem(r, "message %lu delivered again after its ACK's RECEIPT", seq);
  }
  /* A queue message is with one consumer at a time: it may go to another only once the
   * one that had it left (we never NACK or UNSUBSCRIBE during the run). Sockets are read
   * one after the other, so what the broker sent a consumer before its DISCONNECT may be
   * read after the redelivery of the same message to another: a consumer that is leaving
   * neither takes a message over nor is blamed for having it. */
  if (r->owner[seq] && r->owner[seq] != k->idx + 1 && !k->leaving) {
    const conn *o = r->conns[r->owner[seq] - 1];
    if (!o->gone && !o->leaving) {
      if (!r->concurrent) r->first_concurrent = (uint32_t)seq;
      r->concurrent++;
      problem(r, "message %lu delivered to connection %d while connection %d still had it", seq,
              k->idx, o->idx);
    }
  }
  if (!k->leaving) r->owner[seq] = (uint16_t)(k->idx + 1);
  const char *rd = wsref_stomp_frame_get(f, "redelivered");
  bool redelivered = rd && strcmp(rd, "true") == 0;
  if (redelivered) r->redelivered_flag++;
  note(r, (uint32_t)seq, redelivered ? 'D' : 'd', k->idx);
  if (k->dying || k->leaving) {
    note(r, (uint32_t)seq, 'h', k->idx);
    /* Held: not acknowledged; the broker must give it to another consumer. */
    if (!r->held[seq]) r->held_total++;
    r->held[seq] = true;
    r->held_by[seq] = (uint16_t)(k->idx + 1);
    k->held++;
    return;
  }
  ack_ctx *a = malloc(sizeof *a);
  if (!a) {
    r->failures++;
    return;
  }
  a->r = r;
  a->seq = (uint32_t)seq;
  a->conn = k->idx;
  wsref_stomp_receipt rc = {on_ack_receipt, a};
  int e = wsref_stomp_client_ack(c, f, NULL, &rc);
  if (e == 0) note(r, (uint32_t)seq, 'a', k->idx);
  if (e != 0) {
    free(a);
    r->failures++;
    problem(r, "ACK not sent: %s", wsref_err_name(e));
  }
}

static void on_sub_receipt(wsref_stomp_client *c, const char *id, bool received, void *ud) {
  conn *k = ud;
  (void)c;
  (void)id;
  if (received)
    k->subscribed = true;
  else {
    k->r->subscribe_failures++;
    problem(k->r, "no RECEIPT for SUBSCRIBE");
  }
}

static void on_pub_receipt(wsref_stomp_client *c, const char *id, bool received, void *ud) {
  run *r = ud;
  (void)c;
  (void)id;
  if (received)
    r->pub_receipts++;
  else {
    r->lost_receipts++;
    problem(r, "the RECEIPT of a SEND was lost");
  }
}

/* ---- connections ---- */

static conn *open_conn(run *r, enum role role, char *err, size_t errlen) {
  if (r->nconns == MAX_CONNS) {
    snprintf(err, errlen, "too many connections");
    return NULL;
  }
  conn *k = calloc(1, sizeof *k);
  if (!k) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  k->r = r;
  k->idx = (int)r->nconns;
  k->role = role;
  k->h = (wsref_stomp_session_handler){NULL, on_error, on_transport_error, NULL, NULL, k};
  k->c = wsref_stomp_client_connect(r->url, &k->h, &r->o, err, errlen);
  if (!k->c) {
    free(k);
    return NULL;
  }
  int e = wsref_stomp_client_wait_connected(k->c, 10000);
  if (e != 0) {
    snprintf(err, errlen, "no CONNECTED: %s", wsref_err_name(e));
    wsref_stomp_client_free(k->c);
    free(k);
    return NULL;
  }
  if (role == CONSUMER) {
    char pf[16];
    snprintf(pf, sizeof pf, "%" PRIu32, r->prefetch);
    wsref_stomp_kv extra[] = {{"prefetch-count", pf}};
    wsref_stomp_frame_handler fh = {on_message, k};
    wsref_stomp_receipt rc = {on_sub_receipt, k};
    e = wsref_stomp_client_subscribe(k->c, r->queue, WSREF_STOMP_ACK_CLIENT_INDIVIDUAL, &fh, extra,
                                     r->prefetch ? 1 : 0, &rc, NULL);
    if (e != 0) {
      snprintf(err, errlen, "SUBSCRIBE not sent: %s", wsref_err_name(e));
      wsref_stomp_client_free(k->c);
      free(k);
      return NULL;
    }
  }
  r->conns[r->nconns++] = k;
  log_event(r, "connection %d %s", k->idx, role == CONSUMER ? "subscribed" : "connected");
  return k;
}

static void drop_conn(conn *k) {
  wsref_stomp_client_free(k->c);
  k->c = NULL;
  k->gone = true;
}

static size_t live_consumers(const run *r) {
  size_t n = 0;
  for (size_t i = 0; i < r->nconns; i++)
    if (r->conns[i]->role == CONSUMER && !r->conns[i]->gone && !r->conns[i]->dying) n++;
  return n;
}

/* One step of every connection, then one poll over all of them (at most wait_ms). */
static int step(run *r, int wait_ms) {
  struct pollfd pf[MAX_CONNS];
  size_t n = 0;
  for (size_t i = 0; i < r->nconns; i++) {
    conn *k = r->conns[i];
    if (k->gone) continue;
    int rc = wsref_stomp_client_process(k->c);
    if (rc != 0) {
      /* closed: a graceful leaver is done; anyone else was counted by on_transport_error */
      drop_conn(k);
      continue;
    }
    int t = wsref_stomp_client_timeout_ms(k->c);
    if (t >= 0 && t < wait_ms) wait_ms = t;
    pf[n].fd = wsref_stomp_client_fd(k->c);
    pf[n++].events = wsref_stomp_client_poll_events(k->c);
  }
  if (n == 0) return 0;
  if (poll(pf, n, wait_ms) < 0 && errno != EINTR) return -1;
  return 0;
}

static void publish_some(run *r) {
  conn *p = r->pub;
  if (!p || p->gone || r->next_pub >= r->n) return;
  wsref_session *s = wsref_client_session(wsref_stomp_client_ws(p->c));
  char *body = malloc(r->body_size + 1);
  if (!body) return;
  for (unsigned batch = 0; batch < 64 && r->next_pub < r->n; batch++) {
    if (wsref_session_buffered(s) > (1u << 20)) break; /* let the socket drain */
    /* A window of unconfirmed SENDs: the point is delivery, not publishing speed, and
     * RabbitMQ 3.10's web-stomp crashes ({unexpected_message,resume}, connection dropped,
     * messages lost) when its credit flow blocks a publisher that never waits. */
    if (r->pub_expected - r->pub_receipts >= PUB_WINDOW / PUB_RECEIPT_EVERY) break;
    uint32_t seq = r->next_pub;
    int len = snprintf(body, r->body_size + 1, "%" PRIu32 " ", seq);
    memset(body + len, 'x', r->body_size - (size_t)len);
    bool last = seq + 1 == r->n;
    wsref_stomp_receipt rc = {on_pub_receipt, r};
    int e = wsref_stomp_client_send(
        p->c, r->queue, body, r->body_size, NULL, 0,
        (seq % PUB_RECEIPT_EVERY == PUB_RECEIPT_EVERY - 1 || last) ? &rc : NULL);
    if (e != 0) {
      r->failures++;
      problem(r, "SEND not sent: %s", wsref_err_name(e));
      break;
    }
    if (seq % PUB_RECEIPT_EVERY == PUB_RECEIPT_EVERY - 1 || last) r->pub_expected++;
    r->next_pub++;
  }
  free(body);
}

/* Kill schedule: the k-th death starts once k * N / (M + 1) messages are confirmed. */
static void maybe_start_dying(run *r, uint64_t now) {
  if (r->kills_done >= r->kills) return;
  uint64_t due = (uint64_t)(r->kills_done + 1) * r->n / (r->kills + 1);
  if (r->total_confirmed < due) return;
  for (size_t i = 0; i < r->nconns; i++)
    if (r->conns[i]->dying && !r->conns[i]->gone) return; /* one at a time */
  conn *cand[MAX_CONNS];
  size_t nc = 0;
  for (size_t i = 0; i < r->nconns; i++) {
    conn *k = r->conns[i];
    if (k->role == CONSUMER && !k->gone && !k->dying && k->subscribed) cand[nc++] = k;
  }
  if (nc == 0) return;
  conn *k = cand[xorshift(&r->seed) % nc];
  k->dying = true;
  k->dying_since = now;
  k->abrupt = r->kills_done % 2 == 0;
  k->to_hold = 1 + (unsigned)(xorshift(&r->seed) % (r->prefetch ? r->prefetch / 2 + 1 : 5));
  r->kills_done++;
  log_event(r, "connection %d stops acknowledging (%" PRIu64 " delivered to it so far)", k->idx,
            k->delivered);
  char err[512];
  /* Its replacement joins now, so the queue keeps K acknowledging consumers. */
  if (!open_conn(r, CONSUMER, err, sizeof err)) {
    r->failures++;
    problem(r, "replacement consumer: %s", err);
  }
}

static void advance_dying(run *r, uint64_t now) {
  for (size_t i = 0; i < r->nconns; i++) {
    conn *k = r->conns[i];
    if (!k->dying || k->gone || k->leaving) continue;
    /* Every ACK it sent is known processed before it goes (so none is in doubt). */
    if (wsref_stomp_client_pending_receipts(k->c) != 0) continue;
    if (k->held < k->to_hold && now < k->dying_since + 500) continue;
    k->leaving = true;
    log_event(r, "connection %d leaves %s, holding %u unacknowledged", k->idx,
              k->abrupt ? "abruptly" : "with DISCONNECT", k->held);
    if (k->abrupt) {
      r->abrupt_done++;
      drop_conn(k);
    } else {
      r->graceful_done++;
      wsref_stomp_receipt rc = {NULL, NULL};
      if (wsref_stomp_client_disconnect(k->c, &rc) != 0) drop_conn(k);
    }
  }
}

static bool all_confirmed(const run *r) {
  return r->total_confirmed >= r->n;
}

static int parse_u32(const char *s, uint32_t *out, uint32_t min, uint32_t max) {
  char *end;
  errno = 0;
  unsigned long v = strtoul(s, &end, 10);
  if (!*s || *s == '-' || *end || errno || v < min || v > max) return -1;
  *out = (uint32_t)v;
  return 0;
}

int main(int argc, char **argv) {
  run r;
  memset(&r, 0, sizeof r);
  r.n = 2000;
  r.consumers = 4;
  r.kills = 6;
  r.prefetch = 20;
  r.body_size = 64;
  r.seed = 1;
  uint32_t time_limit = 60, hb = 2000;
  wsref_stomp_client_options_default(&r.o);
  char qbuf[128];
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0) {
      fputs(usage, stdout);
      return 0;
    }
    if (strncmp(a, "--", 2) != 0) {
      if (r.url) goto bad;
      r.url = a;
      continue;
    }
    if (i + 1 >= argc) goto bad;
    const char *v = argv[++i];
    uint32_t seed32;
    if (strcmp(a, "--messages") == 0) {
      if (parse_u32(v, &r.n, 1, 10000000)) goto bad;
    } else if (strcmp(a, "--consumers") == 0) {
      if (parse_u32(v, &r.consumers, 1, 64)) goto bad;
    } else if (strcmp(a, "--kills") == 0) {
      if (parse_u32(v, &r.kills, 0, 128)) goto bad;
    } else if (strcmp(a, "--prefetch") == 0) {
      if (parse_u32(v, &r.prefetch, 0, 1000000)) goto bad;
    } else if (strcmp(a, "--body-size") == 0) {
      if (parse_u32(v, &r.body_size, 12, 1 << 20)) goto bad;
    } else if (strcmp(a, "--seed") == 0) {
      if (parse_u32(v, &seed32, 0, UINT32_MAX)) goto bad;
      r.seed = seed32;
    } else if (strcmp(a, "--time-limit") == 0) {
      if (parse_u32(v, &time_limit, 1, 86400)) goto bad;
    } else if (strcmp(a, "--heart-beat") == 0) {
      if (parse_u32(v, &hb, 0, 3600000)) goto bad;
    } else if (strcmp(a, "--queue") == 0) {
      r.queue = v;
    } else if (strcmp(a, "--host") == 0) {
      r.o.host = v;
    } else if (strcmp(a, "--login") == 0) {
      r.o.login = v;
    } else if (strcmp(a, "--passcode") == 0) {
      r.o.passcode = v;
    } else {
      goto bad;
    }
  }
  if (!r.url) goto bad;
  if (r.consumers + r.kills + 1 > MAX_CONNS) goto bad;
  if (!r.queue) {
    snprintf(qbuf, sizeof qbuf, "/queue/wsc-delivery-%d-%" PRIu64, (int)getpid(), wsref_now_ms());
    r.queue = qbuf;
  }
  r.o.accept_version = "1.2";
  r.o.heartbeat_send_ms = hb;
  r.o.heartbeat_receive_ms = hb;
  r.o.receipt_timeout_ms = 10000;
  r.deliveries = calloc(r.n, sizeof *r.deliveries);
  r.confirmed = calloc(r.n, sizeof *r.confirmed);
  r.ack_done = calloc(r.n, sizeof *r.ack_done);
  r.held = calloc(r.n, sizeof *r.held);
  r.held_by = calloc(r.n, sizeof *r.held_by);
  r.acked_by = calloc(r.n, sizeof *r.acked_by);
  r.hist = calloc(r.n, sizeof *r.hist);
  r.owner = calloc(r.n, sizeof *r.owner);
  r.t0 = wsref_now_ms();
  if (!r.deliveries || !r.confirmed || !r.ack_done || !r.held || !r.held_by || !r.acked_by ||
      !r.hist || !r.owner) {
    fprintf(stderr, "stomp_delivery: out of memory\n");
    return 1;
  }
  curl_global_init(CURL_GLOBAL_DEFAULT);
  printf("PLAN 7\n");
  printf("INFO %s: %" PRIu32 " messages to %s, %" PRIu32 " consumers, %" PRIu32
         " disconnects, prefetch %" PRIu32 "\n",
         r.url, r.n, r.queue, r.consumers, r.kills, r.prefetch);
  fflush(stdout);

  char err[512];
  bool started = true;
  for (uint32_t i = 0; i < r.consumers && started; i++)
    if (!open_conn(&r, CONSUMER, err, sizeof err)) started = false;
  if (started && !(r.pub = open_conn(&r, PUBLISHER, err, sizeof err))) started = false;
  if (!started) {
    printf("FAIL connect and subscribe: %s\n", err);
    fprintf(stderr, "stomp_delivery: %s\n", err);
    for (size_t i = 0; i < r.nconns; i++) wsref_stomp_client_free(r.conns[i]->c);
    curl_global_cleanup();
    return 1;
  }
  uint64_t t0 = wsref_now_ms();
  r.deadline = t0 + (uint64_t)time_limit * 1000;
  /* Consumers are subscribed (receipts in) before the first message goes out. */
  for (;;) {
    bool all = true;
    for (size_t i = 0; i < r.nconns; i++)
      if (r.conns[i]->role == CONSUMER && !r.conns[i]->subscribed) all = false;
    if (all || r.subscribe_failures || wsref_now_ms() > r.deadline) break;
    if (step(&r, 50) < 0) break;
  }
  uint64_t settle_until = 0;
  bool timed_out = false;
  for (;;) {
    uint64_t now = wsref_now_ms();
    if (now > r.deadline) {
      timed_out = true;
      break;
    }
    publish_some(&r);
    maybe_start_dying(&r, now);
    advance_dying(&r, now);
    if (all_confirmed(&r) && r.kills_done >= r.kills && live_consumers(&r) == r.consumers) {
      bool leavers = false;
      for (size_t i = 0; i < r.nconns; i++)
        if (r.conns[i]->dying && !r.conns[i]->gone) leavers = true;
      if (!leavers && !settle_until) settle_until = now + 300;
      if (settle_until && now >= settle_until) break;
    }
    if (step(&r, 20) < 0) break;
  }
  uint64_t elapsed = wsref_now_ms() - t0;
  /* Everyone left leaves gracefully. */
  for (size_t i = 0; i < r.nconns; i++) {
    conn *k = r.conns[i];
    if (k->gone) continue;
    k->leaving = true;
    wsref_stomp_receipt rc = {NULL, NULL};
    if (wsref_stomp_client_state(k->c) != WSREF_STOMP_CLIENT_CONNECTED ||
        wsref_stomp_client_disconnect(k->c, &rc) != 0)
      drop_conn(k);
  }
  uint64_t end = wsref_now_ms() + 5000;
  for (;;) {
    bool any = false;
    for (size_t i = 0; i < r.nconns; i++) any |= !r.conns[i]->gone;
    if (!any || wsref_now_ms() > end) break;
    if (step(&r, 50) < 0) break;
  }

  /* ---- verdicts ---- */
  uint32_t missing = 0, twice = 0, first_missing = UINT32_MAX, held_not_redelivered = 0;
  uint64_t deliveries = 0;
  for (uint32_t i = 0; i < r.n; i++) {
    deliveries += r.deliveries[i];
    if (r.confirmed[i] == 0) {
      missing++;
      if (first_missing == UINT32_MAX) first_missing = i;
    }
    if (r.confirmed[i] > 1) twice++;
    /* the holder never acknowledges it: a confirmed ACK from another consumer proves the
     * redelivery, whatever order the sockets were read in */
    if (r.held[i] && (r.confirmed[i] == 0 || r.acked_by[i] == r.held_by[i])) held_not_redelivered++;
  }
  bool any_fail = missing || twice || r.dup_after_ack || r.concurrent || held_not_redelivered ||
                  r.errors || r.failures || r.lost_receipts || r.bad_bodies ||
                  r.subscribe_failures || r.kills_done != r.kills ||
                  r.pub_receipts != r.pub_expected;
  if (any_fail && wsref_buf_len(&r.log))
    fwrite(wsref_buf_head(&r.log), 1, wsref_buf_len(&r.log), stdout);
  unsigned shown = 0;
  if (r.dup_after_ack) print_hist(&r, r.first_dup);
  if (r.concurrent) print_hist(&r, r.first_concurrent);
  for (uint32_t i = 0; i < r.n && shown < 5; i++) {
    if (r.confirmed[i] == 1 && !(r.held[i] && r.acked_by[i] == r.held_by[i])) continue;
    if ((r.dup_after_ack && i == r.first_dup) || (r.concurrent && i == r.first_concurrent))
      continue;
    print_hist(&r, i);
    shown++;
  }
  printf("INFO %" PRIu64 " deliveries in %.1f s, %" PRIu64 " with redelivered:true, %" PRIu32
         " messages held by departing consumers\n",
         deliveries, (double)elapsed / 1000.0, r.redelivered_flag, r.held_total);
  if (r.next_pub == r.n && r.pub_receipts == r.pub_expected)
    printf("PASS publisher: %" PRIu32 " messages sent, all %" PRIu32 " SEND receipts received\n",
           r.n, r.pub_expected);
  else
    printf("FAIL publisher: %" PRIu32 " of %" PRIu32 " messages sent, %" PRIu32 " of %" PRIu32
           " SEND receipts received\n",
           r.next_pub, r.n, r.pub_receipts, r.pub_expected);
  if (r.kills_done == r.kills && r.abrupt_done + r.graceful_done == r.kills)
    printf("PASS %" PRIu32 " consumers disconnected mid-stream (%" PRIu32 " abruptly, %" PRIu32
           " gracefully) holding %" PRIu32 " unacknowledged messages\n",
           r.kills, r.abrupt_done, r.graceful_done, r.held_total);
  else
    printf("FAIL disconnects mid-stream: %" PRIu32 " of %" PRIu32 " done\n",
           r.abrupt_done + r.graceful_done, r.kills);
  if (missing == 0 && twice == 0)
    printf("PASS every message acknowledged exactly once (%" PRIu32 " ACKs confirmed)\n", r.n);
  else if (missing)
    printf("FAIL every message acknowledged exactly once: %" PRIu32
           " never acknowledged (first: "
           "%" PRIu32 ", delivered %" PRIu32 " times%s), %" PRIu32 " twice%s\n",
           missing, first_missing, r.deliveries[first_missing],
           r.held[first_missing] ? ", held by a departed consumer" : "", twice,
           timed_out ? "; time limit reached" : "");
  else
    printf("FAIL every message acknowledged exactly once: %" PRIu32 " acknowledged twice\n", twice);
  if (r.dup_after_ack == 0)
    printf("PASS no acknowledged message delivered again\n");
  else
    printf("FAIL no acknowledged message delivered again: %" PRIu64 " such deliveries (%s)\n",
           r.dup_after_ack, r.first_problem);
  if (r.concurrent == 0)
    printf("PASS a message goes to another consumer only after the one holding it left\n");
  else
    printf("FAIL a message goes to another consumer only after the one holding it left: %" PRIu64
           " deliveries to a second consumer while the first still had it (first: message "
           "%" PRIu32 ")\n",
           r.concurrent, r.first_concurrent);
  if (held_not_redelivered == 0)
    printf(
        "PASS every message held unacknowledged by a departed consumer was delivered again "
        "(%" PRIu32 ")\n",
        r.held_total);
  else
    printf("FAIL messages held by departed consumers delivered again: %" PRIu32 " of %" PRIu32
           " were not\n",
           held_not_redelivered, r.held_total);
  if (r.errors == 0 && r.failures == 0 && r.lost_receipts == 0 && r.bad_bodies == 0 &&
      r.subscribe_failures == 0)
    printf("PASS no ERROR frame, lost receipt or failure besides the planned disconnects\n");
  else
    printf("FAIL no ERROR frame, lost receipt or failure: %" PRIu32 " ERRORs, %" PRIu32
           " lost receipts, %" PRIu32 " failures, %" PRIu64 " foreign bodies (first: %s)\n",
           r.errors, r.lost_receipts, r.failures + r.subscribe_failures, r.bad_bodies,
           r.first_problem);
  for (size_t i = 0; i < r.nconns; i++) {
    if (r.conns[i]->c) wsref_stomp_client_free(r.conns[i]->c);
    free(r.conns[i]);
  }
  free(r.deliveries);
  free(r.confirmed);
  free(r.ack_done);
  free(r.held);
  free(r.held_by);
  free(r.acked_by);
  free(r.hist);
  free(r.owner);
  wsref_buf_free(&r.log);
  curl_global_cleanup();
  return 0;
bad:
  fprintf(stderr, "stomp_delivery: invalid arguments (see --help)\n");
  return 2;
}
