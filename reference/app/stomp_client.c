#include "app/stomp_client.h"

#include "base/buf.h"
#include "base/error.h"
#include "codec/utf8.h"
#include "io/loop.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* Headers we add ourselves to a frame, at most: CONNECT has accept-version, host, login,
 * passcode, heart-beat; ACK has id or message-id + subscription, transaction, receipt. */
#define OWN_HEADERS 8

struct wsref_stomp_subscription {
  char *id;
  char *destination;
  enum wsref_stomp_ack_mode ack;
  wsref_stomp_frame_handler h;
};

typedef struct pending_receipt {
  char id[24];
  wsref_stomp_receipt r;
  uint64_t deadline; /* 0 = none (the DISCONNECT's: the disconnect timer covers it) */
  bool disconnect;
} pending_receipt;

struct wsref_stomp_client {
  /* options, strings owned */
  char *accept_version, *host, *login, *passcode;
  wsref_stomp_kv *connect_headers;
  size_t nconnect_headers;
  uint32_t hb_cx, hb_cy, hb_factor;
  uint32_t connect_timeout, receipt_timeout, disconnect_timeout;
  bool use_stomp, binary_frames;
  enum wsref_stomp_profile profile;

  const wsref_stomp_session_handler *h;
  wsref_stomp_transport t;
  wsref_stomp_decoder *dec;
  wsref_buf out;

  enum wsref_stomp_client_state state;
  enum wsref_stomp_version version;
  uint32_t hb_send, hb_recv; /* negotiated */
  uint64_t now, last_sent, last_recv;
  uint64_t connect_deadline, close_deadline;
  bool close_requested;
  bool quiet; /* being freed: no callbacks */
  int err;
  bool error_received;

  wsref_stomp_subscription **subs;
  size_t nsubs, subs_cap;
  uint64_t next_sub;

  pending_receipt *receipts;
  size_t nreceipts, receipts_cap;
  uint64_t next_receipt;

  /* io glue */
  wsref_client *ws;
  wsref_session *wss;
  wsref_handler wsh;
  int ws_err;
};

/* ---- small helpers ---- */

const char *wsref_stomp_ack_mode_name(enum wsref_stomp_ack_mode m) {
  switch (m) {
    case WSREF_STOMP_ACK_AUTO:
      return "auto";
    case WSREF_STOMP_ACK_CLIENT:
      return "client";
    case WSREF_STOMP_ACK_CLIENT_INDIVIDUAL:
      return "client-individual";
  }
  return "?";
}

int wsref_stomp_ack_mode_parse(const char *s) {
  if (!s) return -1;
  if (strcmp(s, "auto") == 0) return WSREF_STOMP_ACK_AUTO;
  if (strcmp(s, "client") == 0) return WSREF_STOMP_ACK_CLIENT;
  if (strcmp(s, "client-individual") == 0) return WSREF_STOMP_ACK_CLIENT_INDIVIDUAL;
  return -1;
}

const char *wsref_stomp_client_state_name(enum wsref_stomp_client_state s) {
  switch (s) {
    case WSREF_STOMP_CLIENT_NEW:
      return "NEW";
    case WSREF_STOMP_CLIENT_CONNECTING:
      return "CONNECTING";
    case WSREF_STOMP_CLIENT_CONNECTED:
      return "CONNECTED";
    case WSREF_STOMP_CLIENT_DISCONNECTING:
      return "DISCONNECTING";
    case WSREF_STOMP_CLIENT_CLOSING:
      return "CLOSING";
    case WSREF_STOMP_CLIENT_CLOSED:
      return "CLOSED";
  }
  return "?";
}

void wsref_stomp_client_options_default(wsref_stomp_client_options *o) {
  memset(o, 0, sizeof *o);
  o->accept_version = "1.0,1.1,1.2";
  o->heartbeat_send_ms = 10000;
  o->heartbeat_receive_ms = 10000;
  o->heartbeat_read_factor = 3;
  o->connect_timeout_ms = 10000;
  o->receipt_timeout_ms = 15000;
  o->disconnect_timeout_ms = 5000;
  o->profile = WSREF_STOMP_PROFILE_SPEC;
  wsref_client_options_default(&o->ws);
}

static char *dup_or_null(const char *s, bool *fail) {
  if (!s) return NULL;
  char *d = strdup(s);
  if (!d) *fail = true;
  return d;
}

static wsref_stomp_header hdr(const char *name, const char *value) {
  wsref_stomp_header h = {name, strlen(name), value, strlen(value)};
  return h;
}

static wsref_stomp_header hdr_n(const char *name, const char *value, size_t len) {
  wsref_stomp_header h = {name, strlen(name), value, len};
  return h;
}

/* Does the comma-separated list hold exactly this token? */
static bool list_has(const char *list, const char *tok) {
  size_t n = strlen(tok);
  for (const char *p = list; p && *p;) {
    const char *e = strchr(p, ',');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len == n && memcmp(p, tok, n) == 0) return true;
    p = e ? e + 1 : NULL;
  }
  return false;
}

/* "123" -> 123 (saturating at UINT32_MAX); false unless all digits, at least one. */
static bool parse_ms(const char *p, size_t n, uint32_t *out) {
  if (n == 0) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return false;
    if (v < UINT32_MAX) v = v * 10 + (uint64_t)(p[i] - '0');
  }
  *out = v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
  return true;
}

static uint32_t max_u32(uint32_t a, uint32_t b) {
  return a > b ? a : b;
}

/* ---- lifecycle ---- */

static void free_sub(wsref_stomp_subscription *s) {
  if (!s) return;
  free(s->id);
  free(s->destination);
  free(s);
}

wsref_stomp_client *wsref_stomp_client_new(const wsref_stomp_client_options *o,
                                           const wsref_stomp_session_handler *h,
                                           const wsref_stomp_transport *t) {
  wsref_stomp_client_options def;
  if (!o) {
    wsref_stomp_client_options_default(&def);
    o = &def;
  }
  wsref_stomp_client *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  bool fail = false;
  c->accept_version = dup_or_null(o->accept_version ? o->accept_version : "1.0,1.1,1.2", &fail);
  c->host = dup_or_null(o->host ? o->host : "localhost", &fail);
  c->login = dup_or_null(o->login, &fail);
  c->passcode = dup_or_null(o->passcode, &fail);
  if (o->nconnect_headers) {
    c->connect_headers = calloc(o->nconnect_headers, sizeof *c->connect_headers);
    if (!c->connect_headers) fail = true;
    for (size_t i = 0; !fail && i < o->nconnect_headers; i++) {
      c->connect_headers[i].name = dup_or_null(o->connect_headers[i].name, &fail);
      c->connect_headers[i].value = dup_or_null(o->connect_headers[i].value, &fail);
      c->nconnect_headers = i + 1;
      if (!c->connect_headers[i].name || !c->connect_headers[i].value) fail = true;
    }
  }
  c->hb_cx = o->heartbeat_send_ms;
  c->hb_cy = o->heartbeat_receive_ms;
  c->hb_factor = o->heartbeat_read_factor ? o->heartbeat_read_factor : 3;
  c->connect_timeout = o->connect_timeout_ms;
  c->receipt_timeout = o->receipt_timeout_ms;
  c->disconnect_timeout = o->disconnect_timeout_ms;
  c->use_stomp = o->use_stomp_command;
  c->binary_frames = o->binary_frames;
  c->profile = o->profile;
  c->h = h;
  if (t) c->t = *t;
  wsref_stomp_decoder_options dopt = {WSREF_STOMP_V12, o->profile, o->limits};
  c->dec = wsref_stomp_decoder_new(&dopt);
  if (!c->dec) fail = true;
  c->out = (wsref_buf)WSREF_BUF_INIT;
  if (fail) {
    wsref_stomp_client_free(c);
    return NULL;
  }
  return c;
}

void wsref_stomp_client_free(wsref_stomp_client *c) {
  if (!c) return;
  c->quiet = true;
  if (c->ws) wsref_client_free(c->ws); /* reports on_close from inside: quietly */
  free(c->accept_version);
  free(c->host);
  free(c->login);
  free(c->passcode);
  for (size_t i = 0; i < c->nconnect_headers; i++) {
    free((char *)c->connect_headers[i].name);
    free((char *)c->connect_headers[i].value);
  }
  free(c->connect_headers);
  for (size_t i = 0; i < c->nsubs; i++) free_sub(c->subs[i]);
  free(c->subs);
  free(c->receipts);
  if (c->dec) wsref_stomp_decoder_free(c->dec);
  wsref_buf_free(&c->out);
  free(c);
}

/* ---- state changes ---- */

static void request_close(wsref_stomp_client *c, unsigned code, const char *reason) {
  if (c->close_requested) return;
  c->close_requested = true;
  if (c->t.close) c->t.close(c->t.ud, code, reason);
}

/* The session failed: report once, close the WebSocket. */
static void fail(wsref_stomp_client *c, int err, unsigned code, const char *reason) {
  if (c->state >= WSREF_STOMP_CLIENT_CLOSING) return;
  c->state = WSREF_STOMP_CLIENT_CLOSING;
  if (!c->err) c->err = err;
  request_close(c, code, reason);
  if (!c->quiet && c->h && c->h->on_transport_error) c->h->on_transport_error(c, err, c->h->ud);
}

/* Remove receipt i and run its callback (after removal: the callback may add receipts). */
static void finish_receipt(wsref_stomp_client *c, size_t i, bool received) {
  pending_receipt p = c->receipts[i];
  memmove(c->receipts + i, c->receipts + i + 1, (c->nreceipts - i - 1) * sizeof *c->receipts);
  c->nreceipts--;
  if (!c->quiet && p.r.fn) p.r.fn(c, p.id, received, p.r.ud);
  if (received && p.disconnect && c->state == WSREF_STOMP_CLIENT_DISCONNECTING) {
    c->state = WSREF_STOMP_CLIENT_CLOSING;
    request_close(c, WSREF_CLOSE_NORMAL, NULL);
  }
}

static ssize_t find_receipt(const wsref_stomp_client *c, const char *id, size_t len) {
  for (size_t i = 0; i < c->nreceipts; i++)
    if (strlen(c->receipts[i].id) == len && memcmp(c->receipts[i].id, id, len) == 0)
      return (ssize_t)i;
  return -1;
}

/* ---- sending ---- */

static int transmit(wsref_stomp_client *c, const uint8_t *p, size_t n, bool binary) {
  if (!c->t.send) return WSREF_E_STATE;
  int r = c->t.send(c->t.ud, p, n, binary);
  if (r == 0) c->last_sent = c->now;
  return r;
}

/* Encode and send one frame; with r, add a receipt header and register it once sent. */
static int send_frame(wsref_stomp_client *c, enum wsref_stomp_command cmd, wsref_stomp_header *own,
                      size_t nown, const wsref_stomp_kv *extra, size_t nextra,
                      const wsref_stomp_header *raw, size_t nraw, const void *body, size_t len,
                      const wsref_stomp_receipt *r, bool disconnect) {
  wsref_stomp_header stackbuf[24];
  size_t total = nown + nextra + nraw + (r ? 1 : 0);
  wsref_stomp_header *hs = total <= 24 ? stackbuf : malloc(total * sizeof *hs);
  if (!hs) return WSREF_E_NOMEM;
  size_t n = 0;
  for (size_t i = 0; i < nown; i++) hs[n++] = own[i];
  pending_receipt pr;
  memset(&pr, 0, sizeof pr);
  if (r) {
    snprintf(pr.id, sizeof pr.id, "r-%" PRIu64, ++c->next_receipt);
    hs[n++] = hdr("receipt", pr.id);
  }
  for (size_t i = 0; i < nraw; i++) hs[n++] = raw[i];
  int rc = 0;
  for (size_t i = 0; i < nextra; i++) {
    if (!extra[i].name || !extra[i].value) {
      rc = WSREF_E_INVALID_ARG;
      break;
    }
    hs[n++] = hdr(extra[i].name, extra[i].value);
  }
  if (rc == 0 && r && c->nreceipts == c->receipts_cap) {
    size_t cap = c->receipts_cap ? c->receipts_cap * 2 : 8;
    pending_receipt *v = realloc(c->receipts, cap * sizeof *v);
    if (!v)
      rc = WSREF_E_NOMEM;
    else {
      c->receipts = v;
      c->receipts_cap = cap;
    }
  }
  if (rc == 0) {
    wsref_stomp_frame f = {cmd, hs, n, body, len};
    wsref_buf_reset(&c->out);
    enum wsref_stomp_version v = c->version ? c->version : WSREF_STOMP_V12;
    rc = wsref_stomp_encode(&c->out, v, c->profile, &f);
  }
  if (hs != stackbuf) free(hs);
  if (rc != 0) return rc;
  const uint8_t *p = wsref_buf_head(&c->out);
  size_t plen = wsref_buf_len(&c->out);
  bool binary = c->binary_frames || !wsref_utf8_valid(p, plen);
  rc = transmit(c, p, plen, binary);
  if (rc != 0) return rc;
  if (r) {
    pr.r = *r;
    pr.disconnect = disconnect;
    pr.deadline = (!disconnect && c->receipt_timeout) ? c->now + c->receipt_timeout : 0;
    c->receipts[c->nreceipts++] = pr;
  }
  return 0;
}

int wsref_stomp_client_start(wsref_stomp_client *c, uint64_t now_ms) {
  if (c->state != WSREF_STOMP_CLIENT_NEW) return WSREF_E_STATE;
  c->now = now_ms;
  c->last_recv = now_ms;
  char hb[32];
  snprintf(hb, sizeof hb, "%" PRIu32 ",%" PRIu32, c->hb_cx, c->hb_cy);
  wsref_stomp_header own[OWN_HEADERS];
  size_t n = 0;
  own[n++] = hdr("accept-version", c->accept_version);
  own[n++] = hdr("host", c->host);
  if (c->login) own[n++] = hdr("login", c->login);
  if (c->passcode) own[n++] = hdr("passcode", c->passcode);
  own[n++] = hdr("heart-beat", hb);
  int r = send_frame(c, c->use_stomp ? WSREF_STOMP_STOMP : WSREF_STOMP_CONNECT, own, n,
                     c->connect_headers, c->nconnect_headers, NULL, 0, NULL, 0, NULL, false);
  if (r != 0) return r;
  c->state = WSREF_STOMP_CLIENT_CONNECTING;
  c->connect_deadline = c->connect_timeout ? now_ms + c->connect_timeout : 0;
  return 0;
}

static int need_connected(const wsref_stomp_client *c) {
  return c->state == WSREF_STOMP_CLIENT_CONNECTED ? 0 : WSREF_E_STATE;
}

int wsref_stomp_client_send(wsref_stomp_client *c, const char *destination, const void *body,
                            size_t len, const wsref_stomp_kv *extra, size_t nextra,
                            const wsref_stomp_receipt *r) {
  int e = need_connected(c);
  if (e) return e;
  if (!destination || (len && !body)) return WSREF_E_INVALID_ARG;
  wsref_stomp_header own[1] = {hdr("destination", destination)};
  return send_frame(c, WSREF_STOMP_SEND, own, 1, extra, nextra, NULL, 0, body, len, r, false);
}

int wsref_stomp_client_subscribe(wsref_stomp_client *c, const char *destination,
                                 enum wsref_stomp_ack_mode ack, const wsref_stomp_frame_handler *h,
                                 const wsref_stomp_kv *extra, size_t nextra,
                                 const wsref_stomp_receipt *r, wsref_stomp_subscription **out) {
  if (out) *out = NULL;
  int e = need_connected(c);
  if (e) return e;
  if (!destination || wsref_stomp_ack_mode_parse(wsref_stomp_ack_mode_name(ack)) < 0)
    return WSREF_E_INVALID_ARG;
  if (ack == WSREF_STOMP_ACK_CLIENT_INDIVIDUAL && c->version == WSREF_STOMP_V10)
    return WSREF_E_INVALID_ARG;
  if (c->nsubs == c->subs_cap) {
    size_t cap = c->subs_cap ? c->subs_cap * 2 : 4;
    wsref_stomp_subscription **v = realloc(c->subs, cap * sizeof *v);
    if (!v) return WSREF_E_NOMEM;
    c->subs = v;
    c->subs_cap = cap;
  }
  wsref_stomp_subscription *s = calloc(1, sizeof *s);
  char id[24];
  snprintf(id, sizeof id, "%" PRIu64, c->next_sub);
  if (!s || !(s->id = strdup(id)) || !(s->destination = strdup(destination))) {
    free_sub(s);
    return WSREF_E_NOMEM;
  }
  s->ack = ack;
  if (h) s->h = *h;
  wsref_stomp_header own[3] = {hdr("id", s->id), hdr("destination", s->destination),
                               hdr("ack", wsref_stomp_ack_mode_name(ack))};
  e = send_frame(c, WSREF_STOMP_SUBSCRIBE, own, 3, extra, nextra, NULL, 0, NULL, 0, r, false);
  if (e != 0) {
    free_sub(s);
    return e;
  }
  c->next_sub++;
  c->subs[c->nsubs++] = s;
  if (out) *out = s;
  return 0;
}

static ssize_t find_sub(const wsref_stomp_client *c, const char *id, size_t len) {
  for (size_t i = 0; i < c->nsubs; i++)
    if (strlen(c->subs[i]->id) == len && memcmp(c->subs[i]->id, id, len) == 0) return (ssize_t)i;
  return -1;
}

wsref_stomp_subscription *wsref_stomp_client_subscription(wsref_stomp_client *c, const char *id) {
  ssize_t i = id ? find_sub(c, id, strlen(id)) : -1;
  return i < 0 ? NULL : c->subs[i];
}

int wsref_stomp_client_unsubscribe(wsref_stomp_client *c, wsref_stomp_subscription *sub,
                                   const wsref_stomp_receipt *r) {
  int e = need_connected(c);
  if (e) return e;
  ssize_t i = -1;
  for (size_t k = 0; k < c->nsubs; k++)
    if (c->subs[k] == sub) i = (ssize_t)k;
  if (i < 0) return WSREF_E_INVALID_ARG;
  wsref_stomp_header own[1] = {hdr("id", sub->id)};
  e = send_frame(c, WSREF_STOMP_UNSUBSCRIBE, own, 1, NULL, 0, NULL, 0, NULL, 0, r, false);
  if (e != 0) return e;
  memmove(c->subs + i, c->subs + i + 1, (c->nsubs - (size_t)i - 1) * sizeof *c->subs);
  c->nsubs--;
  free_sub(sub);
  return 0;
}

const char *wsref_stomp_subscription_id(const wsref_stomp_subscription *sub) {
  return sub->id;
}
const char *wsref_stomp_subscription_destination(const wsref_stomp_subscription *sub) {
  return sub->destination;
}
enum wsref_stomp_ack_mode wsref_stomp_subscription_ack(const wsref_stomp_subscription *sub) {
  return sub->ack;
}

/* ACK/NACK with the identifying values as (pointer, length); NULL = absent. */
static int ack_impl(wsref_stomp_client *c, bool nack, const char *ack, size_t ack_len,
                    const char *mid, size_t mid_len, const char *sub, size_t sub_len,
                    const char *tx, const wsref_stomp_receipt *r) {
  int e = need_connected(c);
  if (e) return e;
  wsref_stomp_header own[4];
  size_t n = 0;
  switch (c->version) {
    case WSREF_STOMP_V12:
      if (!ack) return WSREF_E_STOMP_MISSING_HEADER;
      own[n++] = hdr_n("id", ack, ack_len);
      break;
    case WSREF_STOMP_V11:
      if (!mid || !sub) return WSREF_E_STOMP_MISSING_HEADER;
      own[n++] = hdr_n("message-id", mid, mid_len);
      own[n++] = hdr_n("subscription", sub, sub_len);
      break;
    default:
      if (nack) return WSREF_E_STATE;
      if (!mid) return WSREF_E_STOMP_MISSING_HEADER;
      own[n++] = hdr_n("message-id", mid, mid_len);
      break;
  }
  if (tx) own[n++] = hdr("transaction", tx);
  return send_frame(c, nack ? WSREF_STOMP_NACK : WSREF_STOMP_ACK, own, n, NULL, 0, NULL, 0, NULL, 0,
                    r, false);
}

int wsref_stomp_client_ack_ids(wsref_stomp_client *c, bool nack, const char *ack_id,
                               const char *message_id, const char *subscription,
                               const char *transaction, const wsref_stomp_receipt *r) {
  return ack_impl(c, nack, ack_id, ack_id ? strlen(ack_id) : 0, message_id,
                  message_id ? strlen(message_id) : 0, subscription,
                  subscription ? strlen(subscription) : 0, transaction, r);
}

static int ack_frame(wsref_stomp_client *c, bool nack, const wsref_stomp_frame *m, const char *tx,
                     const wsref_stomp_receipt *r) {
  if (!m) return WSREF_E_INVALID_ARG;
  const wsref_stomp_header *a = wsref_stomp_frame_header(m, "ack");
  const wsref_stomp_header *id = wsref_stomp_frame_header(m, "message-id");
  const wsref_stomp_header *s = wsref_stomp_frame_header(m, "subscription");
  return ack_impl(c, nack, a ? a->value : NULL, a ? a->value_len : 0, id ? id->value : NULL,
                  id ? id->value_len : 0, s ? s->value : NULL, s ? s->value_len : 0, tx, r);
}

int wsref_stomp_client_ack(wsref_stomp_client *c, const wsref_stomp_frame *message,
                           const char *transaction, const wsref_stomp_receipt *r) {
  return ack_frame(c, false, message, transaction, r);
}

int wsref_stomp_client_nack(wsref_stomp_client *c, const wsref_stomp_frame *message,
                            const char *transaction, const wsref_stomp_receipt *r) {
  return ack_frame(c, true, message, transaction, r);
}

static int tx_frame(wsref_stomp_client *c, enum wsref_stomp_command cmd, const char *tx,
                    const wsref_stomp_receipt *r) {
  int e = need_connected(c);
  if (e) return e;
  if (!tx) return WSREF_E_INVALID_ARG;
  wsref_stomp_header own[1] = {hdr("transaction", tx)};
  return send_frame(c, cmd, own, 1, NULL, 0, NULL, 0, NULL, 0, r, false);
}

int wsref_stomp_client_begin(wsref_stomp_client *c, const char *tx, const wsref_stomp_receipt *r) {
  return tx_frame(c, WSREF_STOMP_BEGIN, tx, r);
}
int wsref_stomp_client_commit(wsref_stomp_client *c, const char *tx, const wsref_stomp_receipt *r) {
  return tx_frame(c, WSREF_STOMP_COMMIT, tx, r);
}
int wsref_stomp_client_abort(wsref_stomp_client *c, const char *tx, const wsref_stomp_receipt *r) {
  return tx_frame(c, WSREF_STOMP_ABORT, tx, r);
}

int wsref_stomp_client_disconnect(wsref_stomp_client *c, const wsref_stomp_receipt *r) {
  int e = need_connected(c);
  if (e) return e;
  wsref_stomp_receipt none = {NULL, NULL};
  e = send_frame(c, WSREF_STOMP_DISCONNECT, NULL, 0, NULL, 0, NULL, 0, NULL, 0, r ? r : &none,
                 true);
  if (e != 0) return e;
  c->state = WSREF_STOMP_CLIENT_DISCONNECTING;
  c->close_deadline = c->disconnect_timeout ? c->now + c->disconnect_timeout : 0;
  return 0;
}

int wsref_stomp_client_send_frame(wsref_stomp_client *c, const wsref_stomp_frame *f,
                                  const wsref_stomp_receipt *r) {
  int e = need_connected(c);
  if (e) return e;
  if (!f || (f->nheaders && !f->headers) || (f->body_len && !f->body)) return WSREF_E_INVALID_ARG;
  return send_frame(c, f->command, NULL, 0, NULL, 0, f->headers, f->nheaders, f->body, f->body_len,
                    r, false);
}

/* ---- receiving ---- */

static bool hv_eq(const wsref_stomp_header *h, const char *s) {
  return h && h->value_len == strlen(s) && memcmp(h->value, s, h->value_len) == 0;
}

static int on_connected_frame(wsref_stomp_client *c, const wsref_stomp_frame *f) {
  const wsref_stomp_header *vh = wsref_stomp_frame_header(f, "version");
  enum wsref_stomp_version v;
  if (!vh)
    v = WSREF_STOMP_V10; /* a 1.0 server does not name its version */
  else if (hv_eq(vh, "1.0"))
    v = WSREF_STOMP_V10;
  else if (hv_eq(vh, "1.1"))
    v = WSREF_STOMP_V11;
  else if (hv_eq(vh, "1.2"))
    v = WSREF_STOMP_V12;
  else
    return WSREF_E_STOMP_VERSION;
  static const char *const names[] = {"1.0", "1.1", "1.2"};
  if (!list_has(c->accept_version, names[v - WSREF_STOMP_V10])) return WSREF_E_STOMP_VERSION;
  uint32_t sx = 0, sy = 0;
  const wsref_stomp_header *hb = wsref_stomp_frame_header(f, "heart-beat");
  if (hb && v != WSREF_STOMP_V10) {
    const char *comma = memchr(hb->value, ',', hb->value_len);
    if (!comma || !parse_ms(hb->value, (size_t)(comma - hb->value), &sx) ||
        !parse_ms(comma + 1, hb->value_len - (size_t)(comma + 1 - hb->value), &sy))
      return WSREF_E_STOMP_HEARTBEAT;
  }
  c->version = v;
  wsref_stomp_decoder_set_version(c->dec, v);
  /* stomp-1.2.md "Heart-beating": each side's interval is the larger of what one can give
   * and the other wants, 0 if either is 0. */
  c->hb_send = (c->hb_cx == 0 || sy == 0) ? 0 : max_u32(c->hb_cx, sy);
  c->hb_recv = (sx == 0 || c->hb_cy == 0) ? 0 : max_u32(sx, c->hb_cy);
  c->state = WSREF_STOMP_CLIENT_CONNECTED;
  c->connect_deadline = 0;
  if (!c->quiet && c->h && c->h->on_connected) c->h->on_connected(c, f, c->h->ud);
  return 0;
}

static void on_error_frame(wsref_stomp_client *c, const wsref_stomp_frame *f) {
  c->error_received = true;
  c->state = WSREF_STOMP_CLIENT_CLOSING;
  /* The server closes after ERROR (stomp-1.2.md "ERROR"); give it the time to. */
  c->close_deadline = c->disconnect_timeout ? c->now + c->disconnect_timeout : 0;
  if (!c->quiet && c->h && c->h->on_error) c->h->on_error(c, f, c->h->ud);
  /* An ERROR naming a receipt says that frame failed (SF-07). */
  const wsref_stomp_header *rid = wsref_stomp_frame_header(f, "receipt-id");
  ssize_t i = rid ? find_receipt(c, rid->value, rid->value_len) : -1;
  if (i >= 0) finish_receipt(c, (size_t)i, false);
  if (!c->disconnect_timeout) request_close(c, WSREF_CLOSE_NORMAL, NULL);
}

static void on_message_frame(wsref_stomp_client *c, const wsref_stomp_frame *f) {
  const wsref_stomp_header *sh = wsref_stomp_frame_header(f, "subscription");
  ssize_t i = -1;
  if (sh) {
    i = find_sub(c, sh->value, sh->value_len);
  } else {
    /* A 1.0 server may leave the subscription out: match the destination. */
    const wsref_stomp_header *d = wsref_stomp_frame_header(f, "destination");
    for (size_t k = 0; d && k < c->nsubs && i < 0; k++)
      if (hv_eq(d, c->subs[k]->destination)) i = (ssize_t)k;
  }
  if (i < 0) return;
  wsref_stomp_subscription *s = c->subs[i];
  if (!c->quiet && s->h.on_message) s->h.on_message(c, s, f, s->h.ud);
}

static int on_decoded(const wsref_stomp_frame *f, void *ud) {
  wsref_stomp_client *c = ud;
  if (c->state >= WSREF_STOMP_CLIENT_CLOSING) return 1;
  if (f->command == WSREF_STOMP_HEARTBEAT) return 0;
  if (!c->quiet && c->h && c->h->on_frame) c->h->on_frame(c, f, c->h->ud);
  if (c->state >= WSREF_STOMP_CLIENT_CLOSING) return 1;
  if (c->state == WSREF_STOMP_CLIENT_CONNECTING) {
    if (f->command == WSREF_STOMP_CONNECTED) {
      int e = on_connected_frame(c, f);
      if (e) fail(c, e, WSREF_CLOSE_PROTOCOL_ERROR, "bad CONNECTED frame");
    } else if (f->command == WSREF_STOMP_ERROR) {
      on_error_frame(c, f);
    } else {
      fail(c, WSREF_E_STOMP_NOT_CONNECTED, WSREF_CLOSE_PROTOCOL_ERROR, "frame before CONNECTED");
    }
  } else {
    switch (f->command) {
      case WSREF_STOMP_MESSAGE:
        on_message_frame(c, f);
        break;
      case WSREF_STOMP_RECEIPT: {
        const wsref_stomp_header *rid = wsref_stomp_frame_header(f, "receipt-id");
        ssize_t i = rid ? find_receipt(c, rid->value, rid->value_len) : -1;
        if (i >= 0) finish_receipt(c, (size_t)i, true);
        break;
      }
      case WSREF_STOMP_ERROR:
        on_error_frame(c, f);
        break;
      case WSREF_STOMP_CONNECTED:
        fail(c, WSREF_E_STOMP_STATE, WSREF_CLOSE_PROTOCOL_ERROR, "second CONNECTED");
        break;
      default:
        fail(c, WSREF_E_STOMP_COMMAND, WSREF_CLOSE_PROTOCOL_ERROR, "client frame from server");
        break;
    }
  }
  return c->state >= WSREF_STOMP_CLIENT_CLOSING ? 1 : 0;
}

int wsref_stomp_client_recv(wsref_stomp_client *c, const uint8_t *p, size_t n, uint64_t now_ms) {
  c->now = now_ms;
  if (c->state >= WSREF_STOMP_CLIENT_CLOSING) return 0;
  if (c->state == WSREF_STOMP_CLIENT_NEW) {
    fail(c, WSREF_E_STOMP_NOT_CONNECTED, WSREF_CLOSE_PROTOCOL_ERROR, "data before CONNECT");
    return c->err;
  }
  c->last_recv = now_ms;
  int r = wsref_stomp_decode(c->dec, p, n, on_decoded, c);
  if (r < 0) {
    fail(c, r, WSREF_CLOSE_PROTOCOL_ERROR, "malformed STOMP frame");
    return r;
  }
  return 0;
}

/* ---- timers ---- */

static uint64_t min_deadline(uint64_t a, uint64_t b) {
  if (!a) return b;
  if (!b) return a;
  return a < b ? a : b;
}

uint64_t wsref_stomp_client_deadline(const wsref_stomp_client *c) {
  uint64_t d = 0;
  switch (c->state) {
    case WSREF_STOMP_CLIENT_CONNECTING:
      d = c->connect_deadline;
      break;
    case WSREF_STOMP_CLIENT_CONNECTED:
      if (c->hb_send) d = min_deadline(d, c->last_sent + c->hb_send);
      if (c->hb_recv) d = min_deadline(d, c->last_recv + (uint64_t)c->hb_recv * c->hb_factor);
      break;
    case WSREF_STOMP_CLIENT_DISCONNECTING:
      d = c->close_deadline;
      break;
    case WSREF_STOMP_CLIENT_CLOSING:
      if (!c->close_requested) d = c->close_deadline;
      break;
    default:
      return 0;
  }
  for (size_t i = 0; i < c->nreceipts; i++) d = min_deadline(d, c->receipts[i].deadline);
  return d;
}

void wsref_stomp_client_tick(wsref_stomp_client *c, uint64_t now_ms) {
  c->now = now_ms;
  switch (c->state) {
    case WSREF_STOMP_CLIENT_CONNECTING:
      if (c->connect_deadline && now_ms >= c->connect_deadline)
        fail(c, WSREF_E_TIMEOUT, WSREF_CLOSE_GOING_AWAY, "no CONNECTED frame");
      break;
    case WSREF_STOMP_CLIENT_CONNECTED:
      if (c->hb_recv && now_ms >= c->last_recv + (uint64_t)c->hb_recv * c->hb_factor) {
        fail(c, WSREF_E_STOMP_HEARTBEAT, WSREF_CLOSE_GOING_AWAY, "server heart-beat missing");
        break;
      }
      if (c->hb_send && now_ms >= c->last_sent + c->hb_send) {
        static const uint8_t eol[1] = {'\n'};
        if (transmit(c, eol, 1, c->binary_frames) != 0) c->last_sent = now_ms;
      }
      break;
    case WSREF_STOMP_CLIENT_DISCONNECTING:
      if (c->close_deadline && now_ms >= c->close_deadline) {
        /* No RECEIPT for the DISCONNECT: close anyway; its callback hears of it when the
         * transport ends. */
        c->state = WSREF_STOMP_CLIENT_CLOSING;
        request_close(c, WSREF_CLOSE_NORMAL, NULL);
      }
      break;
    case WSREF_STOMP_CLIENT_CLOSING:
      if (!c->close_requested && c->close_deadline && now_ms >= c->close_deadline)
        request_close(c, WSREF_CLOSE_NORMAL, NULL);
      break;
    default:
      return;
  }
  for (size_t i = 0; i < c->nreceipts;) {
    if (c->receipts[i].deadline && now_ms >= c->receipts[i].deadline) {
      finish_receipt(c, i, false);
      i = 0; /* the callback may have changed the list */
    } else {
      i++;
    }
  }
}

void wsref_stomp_client_transport_closed(wsref_stomp_client *c, int err, uint64_t now_ms) {
  c->now = now_ms;
  if (c->state == WSREF_STOMP_CLIENT_CLOSED) return;
  enum wsref_stomp_client_state prev = c->state;
  c->state = WSREF_STOMP_CLIENT_CLOSED;
  c->close_requested = true;
  if (prev < WSREF_STOMP_CLIENT_DISCONNECTING) {
    int e = err ? err : WSREF_E_CLOSED;
    if (!c->err) c->err = e;
    if (!c->quiet && c->h && c->h->on_transport_error) c->h->on_transport_error(c, e, c->h->ud);
  }
  while (c->nreceipts) finish_receipt(c, 0, false);
  if (!c->quiet && c->h && c->h->on_closed) c->h->on_closed(c, c->h->ud);
}

/* ---- state ---- */

enum wsref_stomp_client_state wsref_stomp_client_state(const wsref_stomp_client *c) {
  return c->state;
}
enum wsref_stomp_version wsref_stomp_client_version(const wsref_stomp_client *c) {
  return c->version;
}
void wsref_stomp_client_heartbeat(const wsref_stomp_client *c, uint32_t *send_ms,
                                  uint32_t *receive_ms) {
  if (send_ms) *send_ms = c->hb_send;
  if (receive_ms) *receive_ms = c->hb_recv;
}
int wsref_stomp_client_error(const wsref_stomp_client *c) {
  return c->err;
}
bool wsref_stomp_client_error_received(const wsref_stomp_client *c) {
  return c->error_received;
}
size_t wsref_stomp_client_pending_receipts(const wsref_stomp_client *c) {
  return c->nreceipts;
}

/* ---- io glue ---- */

static int g_send(void *ud, const uint8_t *p, size_t n, bool binary) {
  wsref_stomp_client *c = ud;
  if (!c->wss) return WSREF_E_STATE;
  wsref_message m = {binary ? WSREF_MSG_BINARY : WSREF_MSG_TEXT, p, n, true};
  return wsref_session_send(c->wss, &m);
}

static void g_close(void *ud, unsigned code, const char *reason) {
  wsref_stomp_client *c = ud;
  if (c->wss) (void)wsref_session_close(c->wss, code, reason);
}

static int g_on_open(wsref_session *s, void *ud) {
  wsref_stomp_client *c = ud;
  c->wss = s;
  return wsref_stomp_client_start(c, wsref_now_ms());
}

static int g_on_message(wsref_session *s, const wsref_message *m, void *ud) {
  (void)s;
  wsref_stomp_client *c = ud;
  if (m->type == WSREF_MSG_TEXT || m->type == WSREF_MSG_BINARY)
    (void)wsref_stomp_client_recv(c, m->data, m->len, wsref_now_ms());
  return 0;
}

static void g_on_transport_error(wsref_session *s, int err, void *ud) {
  (void)s;
  wsref_stomp_client *c = ud;
  if (!c->ws_err) c->ws_err = err;
}

static void g_on_close(wsref_session *s, const wsref_close_status *st, void *ud) {
  (void)s;
  wsref_stomp_client *c = ud;
  int err = c->ws_err;
  if (!err && st->code == WSREF_CLOSE_ABNORMAL) err = WSREF_E_CLOSED;
  wsref_stomp_client_transport_closed(c, err, wsref_now_ms());
}

static const char *const default_subprotocols[] = {"v12.stomp", "v11.stomp", "v10.stomp"};

wsref_stomp_client *wsref_stomp_client_connect(const char *url,
                                               const wsref_stomp_session_handler *h,
                                               const wsref_stomp_client_options *o, char *err,
                                               size_t errlen) {
  wsref_stomp_client_options opt;
  if (o)
    opt = *o;
  else
    wsref_stomp_client_options_default(&opt);
  wsref_url u;
  if (wsref_url_parse(url, &u, err, errlen) != 0) {
    char why[256];
    snprintf(why, sizeof why, "%s", err);
    snprintf(err, errlen, "bad URL: %s", why);
    return NULL;
  }
  if (!opt.host) opt.host = u.host;
  wsref_stomp_client *c = wsref_stomp_client_new(&opt, h, NULL);
  if (!c) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  c->t = (wsref_stomp_transport){g_send, g_close, c};
  wsref_client_options wo = opt.ws;
  if (!wo.subprotocols) {
    wo.subprotocols = default_subprotocols;
    wo.nsubprotocols = sizeof default_subprotocols / sizeof default_subprotocols[0];
  }
  memset(&c->wsh, 0, sizeof c->wsh);
  c->wsh.on_open = g_on_open;
  c->wsh.on_message = g_on_message;
  c->wsh.on_transport_error = g_on_transport_error;
  c->wsh.on_close = g_on_close;
  c->wsh.ud = c;
  c->ws = wsref_client_connect(url, &c->wsh, &wo, err, errlen);
  if (!c->ws) {
    wsref_stomp_client_free(c);
    return NULL;
  }
  return c;
}

int wsref_stomp_client_process(wsref_stomp_client *c) {
  if (!c->ws) return WSREF_E_STATE;
  uint64_t now = wsref_now_ms();
  uint64_t d = wsref_stomp_client_deadline(c);
  if (d && now >= d)
    wsref_stomp_client_tick(c, now);
  else
    c->now = now;
  return wsref_client_process(c->ws);
}

int wsref_stomp_client_fd(const wsref_stomp_client *c) {
  return c->ws ? wsref_client_fd(c->ws) : -1;
}

short wsref_stomp_client_poll_events(const wsref_stomp_client *c) {
  return c->ws ? wsref_client_poll_events(c->ws) : 0;
}

int wsref_stomp_client_timeout_ms(const wsref_stomp_client *c) {
  if (!c->ws || wsref_client_closed(c->ws)) return -1;
  int w = wsref_client_timeout_ms(c->ws);
  uint64_t d = wsref_stomp_client_deadline(c);
  if (d) {
    uint64_t now = wsref_now_ms();
    int s = d <= now ? 0 : (d - now > 86400000u ? 86400000 : (int)(d - now));
    if (w < 0 || s < w) w = s;
  }
  return w;
}

wsref_client *wsref_stomp_client_ws(wsref_stomp_client *c) {
  return c->ws;
}

int wsref_stomp_client_run(wsref_stomp_client *c, int timeout_ms) {
  if (!c->ws) return WSREF_E_STATE;
  uint64_t end = timeout_ms >= 0 ? wsref_now_ms() + (uint64_t)timeout_ms : 0;
  for (;;) {
    int r = wsref_stomp_client_process(c);
    if (r != 0) return r;
    int wait = wsref_stomp_client_timeout_ms(c);
    if (timeout_ms >= 0) {
      uint64_t now = wsref_now_ms();
      if (now >= end) return 0;
      if (wait < 0 || (uint64_t)wait > end - now) wait = (int)(end - now);
    }
    struct pollfd pfd = {.fd = wsref_stomp_client_fd(c),
                         .events = wsref_stomp_client_poll_events(c)};
    if (poll(&pfd, 1, wait) < 0 && errno != EINTR) return WSREF_E_IO;
  }
}

int wsref_stomp_client_wait_connected(wsref_stomp_client *c, int timeout_ms) {
  if (!c->ws) return WSREF_E_STATE;
  uint64_t end = timeout_ms >= 0 ? wsref_now_ms() + (uint64_t)timeout_ms : 0;
  for (;;) {
    int r = wsref_stomp_client_process(c);
    if (c->state == WSREF_STOMP_CLIENT_CONNECTED) return 0;
    if (r != 0 || c->state >= WSREF_STOMP_CLIENT_DISCONNECTING)
      return c->err ? c->err : (r < 0 ? r : WSREF_E_CLOSED);
    int wait = wsref_stomp_client_timeout_ms(c);
    if (timeout_ms >= 0) {
      uint64_t now = wsref_now_ms();
      if (now >= end) return WSREF_E_TIMEOUT;
      if (wait < 0 || (uint64_t)wait > end - now) wait = (int)(end - now);
    }
    struct pollfd pfd = {.fd = wsref_stomp_client_fd(c),
                         .events = wsref_stomp_client_poll_events(c)};
    if (poll(&pfd, 1, wait) < 0 && errno != EINTR) return WSREF_E_IO;
  }
}
