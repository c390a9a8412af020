#include "observer.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "codec/close.h"
#include "handshake/accept.h"

void wsc_observer_init(wsc_observer *o, const wsc_observer_options *opt, wsc_result *res) {
  memset(o, 0, sizeof *o);
  if (opt) o->opt = *opt;
  if (!o->opt.max_kept) o->opt.max_kept = WSC_OBSERVER_MAX_KEPT_DEFAULT;
  o->res = res;
  wsref_frame_parser_options fo = {
      .role = WSREF_ROLE_ANY, /* masking is our finding, not a parse error */
      .max_frame = 0,
      .allow_non_minimal = true, /* likewise the length encoding */
      .allow_reserved = true,
  };
  wsref_frame_parser_init(&o->fp, &fo);
}

void wsc_observer_set_base(wsc_observer *o, uint64_t rx_base) {
  o->rx_base = rx_base;
  o->rx_off = rx_base;
}

static void finding(wsc_observer *o, const char *rule, const char *clause, uint64_t t_us,
                    uint64_t off, const char *msg) {
  if (wsc_result_add_finding_conn(o->res, o->opt.conn, rule, clause, t_us, off, "%s", msg))
    o->err = WSREF_E_NOMEM;
}

static void acc_reset(wsc_obs_acc *a) {
  free(a->ev.data);
  free(a->ev.detail);
  if (a->sha) EVP_MD_CTX_free(a->sha);
  memset(a, 0, sizeof *a);
}

static void acc_start(wsc_obs_acc *a, enum wsc_event_type t, const wsref_frame_header *h) {
  acc_reset(a);
  a->active = true;
  a->ev.type = t;
  a->ev.opcode = h->opcode;
  a->ev.fin = h->fin;
  a->ev.rsv = (uint8_t)(h->rsv1 << 2 | h->rsv2 << 1 | h->rsv3);
  a->ev.code = -1;
}

static int acc_append(wsc_observer *o, wsc_obs_acc *a, const uint8_t *p, size_t n) {
  uint64_t kept = a->ev.data_len;
  size_t keep = 0;
  if (kept < o->opt.max_kept) {
    uint64_t room = o->opt.max_kept - kept;
    keep = n < room ? n : (size_t)room;
  }
  if (keep) {
    if (a->ev.data_len + keep > a->cap) {
      size_t nc = a->cap ? a->cap : 256;
      while (nc < a->ev.data_len + keep) nc *= 2;
      uint8_t *d = realloc(a->ev.data, nc);
      if (!d) return WSREF_E_NOMEM;
      a->ev.data = d;
      a->cap = nc;
    }
    memcpy(a->ev.data + a->ev.data_len, p, keep);
    a->ev.data_len += keep;
  }
  if (keep < n && !a->sha) {
    /* past the cap: hash what was kept, then everything that follows */
    a->sha = EVP_MD_CTX_new();
    if (!a->sha) return WSREF_E_NOMEM;
    EVP_DigestInit_ex(a->sha, EVP_sha256(), NULL);
    EVP_DigestUpdate(a->sha, a->ev.data, a->ev.data_len);
    EVP_DigestUpdate(a->sha, p + keep, n - keep);
  } else if (a->sha) {
    EVP_DigestUpdate(a->sha, p + keep, n - keep);
  }
  a->ev.len += n;
  return 0;
}

static int push(wsc_observer *o, wsc_event *ev) {
  if (o->qhead + o->qn == o->qcap) {
    if (o->qhead) {
      memmove(o->q, o->q + o->qhead, o->qn * sizeof *o->q);
      o->qhead = 0;
    } else {
      size_t nc = o->qcap ? o->qcap * 2 : 16;
      wsc_event *q = realloc(o->q, nc * sizeof *q);
      if (!q) return WSREF_E_NOMEM;
      o->q = q;
      o->qcap = nc;
    }
  }
  o->q[o->qhead + o->qn++] = *ev;
  return 0;
}

/* Moves the finished event out of the accumulator into the queue. */
static void acc_emit(wsc_observer *o, wsc_obs_acc *a, uint64_t t_us) {
  wsc_event ev = a->ev;
  ev.t_us = t_us;
  if (a->sha) {
    unsigned len = 32;
    EVP_DigestFinal_ex(a->sha, ev.sha256, &len);
    EVP_MD_CTX_free(a->sha);
  } else {
    wsc_sha256(ev.data ? ev.data : (const uint8_t *)"", ev.data_len, ev.sha256);
  }
  ev.has_sha256 = true;
  memset(a, 0, sizeof *a);
  if (push(o, &ev)) {
    wsc_event_free(&ev);
    o->err = WSREF_E_NOMEM;
  }
}

static enum wsc_event_type control_type(uint8_t op) {
  switch (op) {
    case WSREF_OP_PING:
      return WSC_EV_PING;
    case WSREF_OP_PONG:
      return WSC_EV_PONG;
    case WSREF_OP_CLOSE:
      return WSC_EV_CLOSE;
    default:
      return WSC_EV_FRAME;
  }
}

static size_t minimal_len_field(uint64_t len) {
  return len <= 125 ? 0 : len <= 0xFFFF ? 2 : 8;
}

static void on_header(wsc_observer *o, const wsref_frame_header *h, uint64_t t) {
  uint64_t off = o->frame_off;
  o->hdr = *h;
  uint8_t rsv = (uint8_t)(h->rsv1 << 2 | h->rsv2 << 1 | h->rsv3);
  bool data_op = h->opcode <= WSREF_OP_BINARY;
  bool first_of_message = h->opcode == WSREF_OP_TEXT || h->opcode == WSREF_OP_BINARY;

  /* 5.5.1 forbids data frames after a close frame; a control frame (a pong, a second close)
   * is pointless but not forbidden, so it is recorded as an event, not a finding. */
  if (o->close_seen && !o->after_close_reported && !wsref_opcode_is_control(h->opcode)) {
    o->after_close_reported = true;
    finding(o, "frame-after-close", "RFC6455 5.5.1", t, off,
            "the target sent a data frame after its close frame");
  }
  if (h->masked)
    finding(o, "server-frame-masked", "RFC6455 5.1", t, off,
            "a frame from the server has the MASK bit set");
  size_t ext = h->header_len - 2 - (h->masked ? 4 : 0);
  if (ext != minimal_len_field(h->length)) {
    char m[128];
    snprintf(m, sizeof m, "payload length %llu encoded in %zu extended length octets, not %zu",
             (unsigned long long)h->length, ext, minimal_len_field(h->length));
    finding(o, "non-minimal-length", "RFC6455 5.2", t, off, m);
  }
  /* negotiated extensions may claim RSV bits on the first frame of a data message only */
  uint8_t allowed = first_of_message ? o->opt.rsv_allowed : 0;
  if (rsv & ~allowed) {
    char m[96];
    snprintf(m, sizeof m, "RSV bits %u%u%u set on a %s frame without an extension claiming them",
             h->rsv1, h->rsv2, h->rsv3, wsref_opcode_name(h->opcode));
    finding(o, "rsv-without-extension", "RFC6455 5.2", t, off, m);
  }
  if (!wsref_opcode_is_defined(h->opcode)) {
    char m[64];
    snprintf(m, sizeof m, "reserved opcode %u", h->opcode);
    finding(o, "reserved-opcode", "RFC6455 5.2", t, off, m);
  }
  if (h->opcode == WSREF_OP_CONT && !o->in_message)
    finding(o, "continuation-unexpected", "RFC6455 5.4", t, off,
            "a continuation frame without a fragmented message in progress");
  if (first_of_message && o->in_message)
    finding(o, "message-interleaved", "RFC6455 5.4", t, off,
            "a new data message started inside a fragmented message");

  /* fragmentation and UTF-8 state */
  if (first_of_message) {
    o->in_message = true;
    o->msg_opcode = h->opcode;
    bool transformed = h->rsv1 && (o->opt.rsv_allowed & 4);
    o->utf8_check = h->opcode == WSREF_OP_TEXT && !transformed;
    wsref_utf8_init(&o->utf8);
    o->utf8_bad = false;
  }

  /* where the payload goes */
  if (data_op && !o->opt.frame_level) {
    if (first_of_message || (h->opcode == WSREF_OP_CONT && !o->msg.active)) {
      /* a stray continuation still becomes an event so that expectations see it */
      enum wsc_event_type t2 = h->opcode == WSREF_OP_BINARY ? WSC_EV_BINARY
                               : h->opcode == WSREF_OP_TEXT ? WSC_EV_TEXT
                                                            : WSC_EV_FRAME;
      acc_start(&o->msg, t2, h);
    }
    o->msg.ev.frames++;
    o->acc = &o->msg;
  } else {
    enum wsc_event_type t2 = data_op ? WSC_EV_FRAME : control_type(h->opcode);
    acc_start(&o->frm, t2, h);
    o->frm.ev.frames = 1;
    o->acc = &o->frm;
  }
}

static void on_payload(wsc_observer *o, const uint8_t *p, size_t n, uint64_t t, uint64_t off) {
  const wsref_frame_header *h = &o->hdr;
  if (acc_append(o, o->acc, p, n)) o->err = WSREF_E_NOMEM;
  bool data_op = h->opcode <= WSREF_OP_BINARY;
  if (data_op && o->in_message && o->utf8_check && !o->utf8_bad) {
    size_t bad = 0;
    if (wsref_utf8_feed(&o->utf8, p, n, &bad) < 0) {
      o->utf8_bad = true;
      finding(o, "text-invalid-utf8", "RFC6455 5.6", t, off + bad,
              "a text message is not valid UTF-8");
    }
  }
}

static void on_close_frame(wsc_observer *o, wsc_event *ev, uint64_t t) {
  uint64_t off = o->frame_off;
  o->close_seen = true;
  if (ev->len >= 2 && ev->data_len >= 2) ev->code = ev->data[0] << 8 | ev->data[1];
  if (ev->len > 2 && ev->data_len > 2) {
    ev->detail = wsc_strndup(ev->data + 2, ev->data_len - 2);
    if (!ev->detail) o->err = WSREF_E_NOMEM;
  }
  wsref_close_status st;
  int rc = wsref_close_parse(ev->data, ev->data_len, &st);
  char m[96];
  switch (rc) {
    case WSREF_E_CLOSE_PAYLOAD_LEN:
      finding(o, "close-payload-1", "RFC6455 5.5.1", t, off,
              "a close frame with a one-octet payload");
      break;
    case WSREF_E_CLOSE_CODE:
      snprintf(m, sizeof m, "close code %d must not appear in a close frame", ev->code);
      finding(o, "close-code-invalid", "RFC6455 7.4.1", t, off, m);
      break;
    case WSREF_E_CLOSE_REASON_UTF8:
      finding(o, "close-reason-utf8", "RFC6455 5.5.1", t, off,
              "the close reason is not valid UTF-8");
      break;
    default:
      break;
  }
}

static void on_end(wsc_observer *o, uint64_t t) {
  const wsref_frame_header *h = &o->hdr;
  bool data_op = h->opcode <= WSREF_OP_BINARY;
  if (data_op && h->fin && o->in_message) {
    if (o->utf8_check && !o->utf8_bad && !wsref_utf8_complete(&o->utf8)) {
      o->utf8_bad = true;
      finding(o, "text-invalid-utf8", "RFC6455 5.6", t, o->rx_off,
              "a text message ends inside a UTF-8 sequence");
    }
    o->in_message = false;
  }
  wsc_obs_acc *a = o->acc;
  o->acc = NULL;
  if (!a) return;
  if (a == &o->frm) {
    if (a->ev.type == WSC_EV_CLOSE) on_close_frame(o, &a->ev, t);
    acc_emit(o, a, t);
  } else if (h->fin) {
    a->ev.fin = true;
    acc_emit(o, a, t);
  }
}

static void on_error(wsc_observer *o, int err, uint64_t t) {
  const char *rule = "undecodable", *clause = "RFC6455 5.2", *msg = wsref_strerror(err);
  switch (err) {
    case WSREF_E_FRAME_LEN64_MSB:
      rule = "length-msb";
      break;
    case WSREF_E_FRAME_CONTROL_LEN:
      rule = "control-too-long", clause = "RFC6455 5.5";
      break;
    case WSREF_E_FRAME_CONTROL_FRAG:
      rule = "control-fragmented", clause = "RFC6455 5.5";
      break;
    default:
      break;
  }
  finding(o, rule, clause, t, o->frame_off, msg);
  o->dead = true;
  wsc_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = WSC_EV_ERROR;
  ev.t_us = t;
  ev.code = -1;
  ev.detail = wsc_strdup(wsref_err_name(err));
  if (!ev.detail || push(o, &ev)) {
    free(ev.detail);
    o->err = WSREF_E_NOMEM;
  }
}

int wsc_observer_feed(wsc_observer *o, const uint8_t *p, size_t n, uint64_t t_us) {
  if (o->err) return o->err;
  if (o->dead) {
    o->rx_off += n;
    return 0;
  }
  /* nothing to decode (and p may be NULL): every event of earlier input is already queued */
  if (n == 0) return 0;
  if (n > o->scratch_cap) {
    uint8_t *s = realloc(o->scratch, n);
    if (!s) return o->err = WSREF_E_NOMEM;
    o->scratch = s;
    o->scratch_cap = n;
  }
  memcpy(o->scratch, p, n);
  uint8_t *buf = o->scratch;
  size_t pos = 0;
  for (;;) {
    /* a header may arrive in pieces: it starts where the parser had nothing buffered */
    if (!o->in_frame && o->fp.hhave == 0) o->frame_off = o->rx_off;
    wsref_frame_event ev;
    size_t before = pos;
    ssize_t k = wsref_frame_parse(&o->fp, buf + pos, n - pos, &ev);
    if (k < 0) {
      on_error(o, (int)k, t_us);
      o->rx_off += n - pos;
      break;
    }
    pos += (size_t)k;
    o->rx_off += (uint64_t)k;
    switch (ev.type) {
      case WSREF_FRAME_EV_HEADER:
        o->in_frame = true;
        on_header(o, ev.header, t_us);
        break;
      case WSREF_FRAME_EV_PAYLOAD:
        on_payload(o, ev.data, ev.len, t_us,
                   o->rx_off - (uint64_t)k + (uint64_t)(ev.data - (buf + before)));
        break;
      case WSREF_FRAME_EV_END:
        on_end(o, t_us);
        o->in_frame = false;
        break;
      case WSREF_FRAME_EV_NONE:
        break;
    }
    if (o->err) return o->err;
    if (ev.type == WSREF_FRAME_EV_NONE) break;
  }
  return o->err;
}

bool wsc_observer_next(wsc_observer *o, wsc_event *ev) {
  if (!o->qn) return false;
  *ev = o->q[o->qhead++];
  o->qn--;
  if (!o->qn) o->qhead = 0;
  return true;
}

bool wsc_observer_partial(const wsc_observer *o) {
  return !o->dead && (o->in_frame || o->in_message || o->fp.hhave > 0);
}

void wsc_observer_free(wsc_observer *o) {
  acc_reset(&o->msg);
  acc_reset(&o->frm);
  for (size_t i = 0; i < o->qn; i++) wsc_event_free(&o->q[o->qhead + i]);
  free(o->q);
  free(o->scratch);
  memset(o, 0, sizeof *o);
}

/* ---- the 101 response ---- */

static bool token_in(const wsref_http_header *h, size_t n, const char *name, wsref_str tok) {
  size_t pos = 0;
  wsref_str t;
  while (wsref_http_next_token(h, n, name, &pos, &t)) {
    /* extension offers carry parameters: compare the name before ';' */
    size_t tl = t.n;
    for (size_t i = 0; i < t.n; i++)
      if (t.p[i] == ';') {
        tl = i;
        break;
      }
    while (tl && (t.p[tl - 1] == ' ' || t.p[tl - 1] == '\t')) tl--;
    size_t kl = tok.n;
    for (size_t i = 0; i < tok.n; i++)
      if (tok.p[i] == ';') {
        kl = i;
        break;
      }
    while (kl && (tok.p[kl - 1] == ' ' || tok.p[kl - 1] == '\t')) kl--;
    if (tl == kl && strncasecmp(t.p, tok.p, tl) == 0) return true;
  }
  return false;
}

void wsc_observer_check_response(wsc_result *res, const uint8_t *req, size_t req_len,
                                 const wsref_http_response *resp, uint64_t t_us) {
  if (resp->status != 101) return;
  uint64_t off = 0;
  if (!wsref_http_has_token(resp->headers, resp->nheaders, "Upgrade", "websocket"))
    wsc_result_add_finding(res, "upgrade-token", "RFC6455 4.2.2", t_us, off,
                           "the 101 response has no Upgrade: websocket");
  if (!wsref_http_has_token(resp->headers, resp->nheaders, "Connection", "upgrade"))
    wsc_result_add_finding(res, "connection-token", "RFC6455 4.2.2", t_us, off,
                           "the 101 response has no Connection: Upgrade");

  wsref_http_request *rq = malloc(sizeof *rq);
  if (!rq) return;
  ssize_t hl = wsref_http_parse_request((const char *)req, req_len, NULL, rq);
  if (hl > 0) {
    const wsref_http_header *key = wsref_http_find(rq->headers, rq->nheaders, "Sec-WebSocket-Key");
    const wsref_http_header *acc =
        wsref_http_find(resp->headers, resp->nheaders, "Sec-WebSocket-Accept");
    size_t nkeys = wsref_http_count(rq->headers, rq->nheaders, "Sec-WebSocket-Key");
    if (key && nkeys == 1 && wsref_key_valid(key->value.p, key->value.n)) {
      char want[WSREF_ACCEPT_LEN + 1];
      wsref_accept_compute(key->value.p, key->value.n, want);
      if (!acc) {
        wsc_result_add_finding(res, "accept-mismatch", "RFC6455 4.2.2", t_us, off,
                               "the 101 response has no Sec-WebSocket-Accept (expected %s)", want);
      } else if (!wsref_str_eq(acc->value, want) ||
                 wsref_http_count(resp->headers, resp->nheaders, "Sec-WebSocket-Accept") != 1) {
        wsc_result_add_finding(res, "accept-mismatch", "RFC6455 4.2.2", t_us, off,
                               "Sec-WebSocket-Accept is \"%.*s\", expected %s",
                               (int)(acc->value.n > 64 ? 64 : acc->value.n), acc->value.p, want);
      }
    }
    /* every subprotocol the server names must be one the client offered (and just one) */
    size_t pos = 0, nsub = 0;
    wsref_str t;
    while (
        wsref_http_next_token(resp->headers, resp->nheaders, "Sec-WebSocket-Protocol", &pos, &t)) {
      nsub++;
      if (!token_in(rq->headers, rq->nheaders, "Sec-WebSocket-Protocol", t))
        wsc_result_add_finding(res, "subprotocol-not-offered", "RFC6455 4.2.2", t_us, off,
                               "the server selected subprotocol \"%.*s\" that was not offered",
                               (int)(t.n > 64 ? 64 : t.n), t.p);
    }
    if (nsub > 1)
      wsc_result_add_finding(res, "subprotocol-not-offered", "RFC6455 4.2.2", t_us, off,
                             "the server selected %zu subprotocols; at most one is allowed", nsub);
    pos = 0;
    while (wsref_http_next_token(resp->headers, resp->nheaders, "Sec-WebSocket-Extensions", &pos,
                                 &t)) {
      if (!token_in(rq->headers, rq->nheaders, "Sec-WebSocket-Extensions", t))
        wsc_result_add_finding(res, "extension-not-offered", "RFC6455 4.2.2", t_us, off,
                               "the server selected extension \"%.*s\" that was not offered",
                               (int)(t.n > 64 ? 64 : t.n), t.p);
    }
  }
  free(rq);
}
