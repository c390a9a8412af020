#include "runner.h"

#include <curl/curl.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "base/buf.h"
#include "base/error.h"
#include "codec/close.h"
#include "codec/frame.h"
#include "codec/mask.h"
#include "codec/utf8.h"
#include "handshake/accept.h"
#include "handshake/http.h"
#include "observer.h"
#include "payload.h"

/* Payload octets of each observed event kept in the result: the wire log holds the bytes,
 * the event keeps enough to read and its full length and SHA-256. */
#define EVENT_KEEP 1024
/* ... and of PASS/INFO results, whose evidence nobody needs to argue. */
#define PASS_EVENT_KEEP 64
/* A response head larger than this is a failed handshake, not a reason to buffer forever. */
#define RESPONSE_HEAD_MAX 65536

/* snprintf for explanations: truncation is fine (and vsnprintf keeps -Wformat-truncation quiet
 * about what we accept). */
static void sfmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sfmt(char *out, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out, cap, fmt, ap);
  va_end(ap);
}

struct wsc_runner {
  wsc_runner_options opt;
  wsc_url url;
  void *tls;
  bool curl_init;
};

void wsc_runner_options_default(wsc_runner_options *o) {
  memset(o, 0, sizeof *o);
  o->timeout_us = WSC_TIMEOUT_DEFAULT_US;
  o->connect_timeout_us = WSC_CONNECT_TIMEOUT_DEFAULT_US;
  o->close_wait_us = WSC_CLOSE_WAIT_DEFAULT_US;
}

wsc_runner *wsc_runner_new(const wsc_runner_options *o, int *rc, char *err, size_t err_len) {
  wsc_runner *r = calloc(1, sizeof *r);
  if (!r) {
    *rc = WSREF_E_NOMEM;
    sfmt(err, err_len, "out of memory");
    return NULL;
  }
  r->opt = *o;
  if (!r->opt.timeout_us) r->opt.timeout_us = WSC_TIMEOUT_DEFAULT_US;
  if (!r->opt.connect_timeout_us) r->opt.connect_timeout_us = WSC_CONNECT_TIMEOUT_DEFAULT_US;
  if (!r->opt.close_wait_us) r->opt.close_wait_us = WSC_CLOSE_WAIT_DEFAULT_US;
  if (!r->opt.wire_pass_cap) r->opt.wire_pass_cap = WSC_WIRE_PASS_CAP_DEFAULT;
  if (!r->opt.jobs) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    r->opt.jobs = n > 0 ? (unsigned)n : 1;
  }
  *rc = wsc_url_parse(o->url ? o->url : "", &r->url, err, err_len);
  if (*rc) {
    free(r);
    return NULL;
  }
  if (r->opt.conn.proxy) {
    /* libcurl's global setup is not thread-safe: do it here, before any worker exists */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    r->curl_init = true;
  }
  if (r->url.tls && !r->opt.conn.proxy) {
    r->tls = wsc_tls_ctx_new(&r->opt.conn, err, err_len);
    if (!r->tls) {
      *rc = WSREF_E_TLS;
      wsc_url_free(&r->url);
      free(r);
      return NULL;
    }
  }
  *rc = 0;
  return r;
}

void wsc_runner_free(wsc_runner *r) {
  if (!r) return;
  wsc_url_free(&r->url);
  if (r->tls) wsc_tls_ctx_free(r->tls);
  if (r->curl_init) curl_global_cleanup();
  free(r);
}

int wsc_runner_probe(wsc_runner *r, char *err, size_t err_len) {
  wsc_conn c;
  wsc_conn_init(&c);
  uint64_t now = wsc_now_us();
  int rc = wsc_conn_open(&c, &r->url, &r->opt.conn, r->tls, now + r->opt.connect_timeout_us, NULL,
                         now, err, err_len);
  if (!rc) wsc_conn_close(&c);
  return rc;
}

/* ------------------------------------------------------------------------------------------
 * Handshake request
 */

typedef struct hdr {
  char *name, *value;
} hdr;

typedef struct hdrs {
  hdr *v;
  size_t n;
} hdrs;

static int hdrs_add(hdrs *h, const char *name, size_t nl, const char *value, size_t vl) {
  hdr *v = realloc(h->v, (h->n + 1) * sizeof *v);
  if (!v) return WSREF_E_NOMEM;
  h->v = v;
  v[h->n].name = wsc_strndup(name, nl);
  v[h->n].value = wsc_strndup(value, vl);
  h->n++;
  return v[h->n - 1].name && v[h->n - 1].value ? 0 : WSREF_E_NOMEM;
}

static int hdrs_adds(hdrs *h, const char *name, const char *value) {
  return hdrs_add(h, name, strlen(name), value, strlen(value));
}

static void hdrs_remove_at(hdrs *h, size_t i) {
  free(h->v[i].name);
  free(h->v[i].value);
  memmove(&h->v[i], &h->v[i + 1], (h->n - i - 1) * sizeof *h->v);
  h->n--;
}

static void hdrs_free(hdrs *h) {
  for (size_t i = 0; i < h->n; i++) {
    free(h->v[i].name);
    free(h->v[i].value);
  }
  free(h->v);
  h->v = NULL;
  h->n = 0;
}

static int join_append(char **acc, const char *item) {
  char *n = NULL;
  if (asprintf(&n, "%s%s%s", *acc ? *acc : "", *acc ? ", " : "", item) < 0) return WSREF_E_NOMEM;
  free(*acc);
  *acc = n;
  return 0;
}

static int build_request(const wsc_runner *r, const struct wsc_case *c, const char *key,
                         const struct wsc_payload_env *env, uint8_t **out, size_t *len) {
  const struct wsc_handshake *hs = &c->hs;
  if (hs->raw) return wsc_payload_materialize(hs->raw, env, out, len);
  hdrs h = {0, 0};
  int rc = 0;
  rc |= hdrs_adds(&h, "Host", r->url.host_header);
  rc |= hdrs_adds(&h, "Upgrade", "websocket");
  rc |= hdrs_adds(&h, "Connection", "Upgrade");
  rc |= hdrs_adds(&h, "Sec-WebSocket-Key", key);
  rc |= hdrs_adds(&h, "Sec-WebSocket-Version", "13");
  if (r->opt.origin) rc |= hdrs_adds(&h, "Origin", r->opt.origin);
  char *protos = NULL, *exts = NULL;
  if (r->opt.subprotocol) rc |= join_append(&protos, r->opt.subprotocol);
  for (size_t i = 0; i < c->nrequires; i++) {
    if (c->requires[i].kind == WSC_REQ_SUBPROTOCOL)
      rc |= join_append(&protos, c->requires[i].value);
    else
      rc |= join_append(&exts, c->requires[i].value);
  }
  if (protos) rc |= hdrs_adds(&h, "Sec-WebSocket-Protocol", protos);
  if (exts) rc |= hdrs_adds(&h, "Sec-WebSocket-Extensions", exts);
  free(protos);
  free(exts);
  for (size_t i = 0; i < r->opt.nheaders; i++) {
    const char *line = r->opt.headers[i];
    const char *colon = strchr(line, ':');
    if (!colon) continue;
    const char *v = colon + 1;
    while (*v == ' ' || *v == '\t') v++;
    rc |= hdrs_add(&h, line, (size_t)(colon - line), v, strlen(v));
  }
  for (size_t e = 0; e < hs->nedits && !rc; e++) {
    const struct wsc_hdr_edit *ed = &hs->edits[e];
    if (ed->op == WSC_HDR_ADD) {
      rc = hdrs_adds(&h, ed->name, ed->value ? ed->value : "");
      continue;
    }
    /* SET keeps the position of the first field of that name; REMOVE drops them all */
    size_t first = h.n;
    for (size_t i = 0; i < h.n;) {
      if (strcasecmp(h.v[i].name, ed->name) != 0) {
        i++;
        continue;
      }
      if (ed->op == WSC_HDR_SET && first == h.n) {
        first = i;
        char *nv = strdup(ed->value ? ed->value : "");
        char *nn = strdup(ed->name);
        if (!nv || !nn) {
          free(nv);
          free(nn);
          rc = WSREF_E_NOMEM;
          break;
        }
        free(h.v[i].value);
        free(h.v[i].name);
        h.v[i].value = nv;
        h.v[i].name = nn;
        i++;
      } else {
        hdrs_remove_at(&h, i);
      }
    }
    if (ed->op == WSC_HDR_SET && first == h.n && !rc)
      rc = hdrs_adds(&h, ed->name, ed->value ? ed->value : "");
  }
  wsref_buf b = WSREF_BUF_INIT;
  if (!rc)
    rc = wsref_buf_appendf(&b, "%s %s %s\r\n", hs->method ? hs->method : "GET",
                           hs->target ? hs->target : r->url.target,
                           hs->version ? hs->version : "HTTP/1.1");
  for (size_t i = 0; i < h.n && !rc; i++)
    rc = wsref_buf_appendf(&b, "%s: %s\r\n", h.v[i].name, h.v[i].value);
  if (!rc) rc = wsref_buf_append(&b, "\r\n", 2);
  hdrs_free(&h);
  if (!rc && hs->body) {
    uint8_t *body;
    size_t bl;
    rc = wsc_payload_materialize(hs->body, env, &body, &bl);
    if (!rc) {
      rc = wsref_buf_append(&b, body, bl);
      free(body);
    }
  }
  if (rc) {
    wsref_buf_free(&b);
    return rc < 0 ? rc : WSREF_E_NOMEM;
  }
  *len = wsref_buf_len(&b);
  *out = malloc(*len ? *len : 1);
  if (!*out) {
    wsref_buf_free(&b);
    return WSREF_E_NOMEM;
  }
  memcpy(*out, wsref_buf_head(&b), *len);
  wsref_buf_free(&b);
  return 0;
}

int wsc_runner_build_request(const wsc_runner *r, const struct wsc_case *c, const char *key,
                             uint8_t **out, size_t *len) {
  struct wsc_payload_env env = {r->url.host_header, r->url.target, key, r->opt.origin};
  return build_request(r, c, key, &env, out, len);
}

/* ------------------------------------------------------------------------------------------
 * Per-case execution state
 */

typedef struct cx {
  wsc_runner *rn;
  const struct wsc_case *c;
  wsc_result *res;
  wsc_conn conn;
  uint64_t t0;
  uint64_t deadline;
  char key[WSREF_KEY_LEN + 1];
  struct wsc_payload_env env;
  wsc_observer obs;
  bool obs_on;

  wsc_event *pend; /* decoded events not consumed by an expectation yet */
  size_t npend, cappend;

  bool connected;
  bool upgraded;
  bool ended; /* the TCP connection is over (either side) */
  enum wsc_tcp_end tcp_end;
  uint64_t t_end;
  bool stalled; /* a write timed out: the target stopped reading */

  bool close_sent;
  int close_sent_code;
  uint64_t t_close_sent;
  bool close_rcvd;
  int close_rcvd_code;
  uint8_t close_reason[125];
  size_t close_reason_len;
  uint64_t t_close_rcvd;
  int close_reply_code; /* -2 none due, -1 empty payload, else the code */

  bool in_write; /* inside a write sequence: replies wait for the boundary */
  /* what we send after the request, decoded, so that a close frame counts when it is on the
   * wire however it was built (send close, raw bytes, coalesced, chopped) */
  bool tx_track;
  wsref_frame_parser txp;
  bool tx_mid; /* our own frame is incomplete on the wire */
  uint8_t tx_close[WSREF_CONTROL_MAX];
  size_t tx_close_len;
  wsref_buf replies; /* pongs due */
  wsref_buf coalesce;

  enum wsc_grade worst;
  bool error;
  bool unsupported;
  char *why; /* the first non-PASS explanation */
  enum wsc_grade why_grade;
} cx;

static uint64_t rel(const cx *x) {
  return wsc_now_us() - x->t0;
}

static void set_why(cx *x, enum wsc_grade g, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_why(cx *x, enum wsc_grade g, const char *fmt, ...) {
  /* keep the explanation of the worst grade, the first one among equals */
  if (x->why && g <= x->why_grade) return;
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0) s = NULL;
  va_end(ap);
  if (!s) return;
  free(x->why);
  x->why = s;
  x->why_grade = g;
}

static void grade(cx *x, enum wsc_grade g) {
  if (g > x->worst) x->worst = g;
}

static void fail_error(cx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail_error(cx *x, const char *fmt, ...) {
  if (x->error) return;
  x->error = true;
  va_list ap;
  va_start(ap, fmt);
  char *s = NULL;
  if (vasprintf(&s, fmt, ap) < 0) s = NULL;
  va_end(ap);
  free(x->why);
  x->why = s;
  x->why_grade = WSC_GRADE_FAIL;
}

/* Short printable rendering of bytes for explanations. */
static void preview(char *out, size_t cap, const uint8_t *p, size_t n, uint64_t total) {
  size_t k = 0;
  bool text = wsref_utf8_valid(p, n < 48 ? n : 48);
  if (cap < 16) {
    out[0] = 0;
    return;
  }
  if (text) {
    out[k++] = '"';
    for (size_t i = 0; i < n && i < 48 && k + 6 < cap; i++) {
      unsigned char ch = p[i];
      if (ch == '"' || ch == '\\') {
        out[k++] = '\\';
        out[k++] = (char)ch;
      } else if (ch < 0x20 || ch == 0x7F) {
        k += (size_t)snprintf(out + k, cap - k, "\\x%02x", ch);
      } else {
        out[k++] = (char)ch;
      }
    }
    out[k++] = '"';
  } else {
    k += (size_t)snprintf(out, cap, "hex ");
    for (size_t i = 0; i < n && i < 24 && k + 4 < cap; i++)
      k += (size_t)snprintf(out + k, cap - k, "%02x", p[i]);
  }
  if (total > 48 && k + 20 < cap) k += (size_t)snprintf(out + k, cap - k, "...");
  out[k < cap ? k : cap - 1] = 0;
}

static void describe_event(char *out, size_t cap, const wsc_event *e) {
  char pv[160] = "";
  switch (e->type) {
    case WSC_EV_TEXT:
    case WSC_EV_BINARY:
    case WSC_EV_PING:
    case WSC_EV_PONG:
      preview(pv, sizeof pv, e->data, e->data_len, e->len);
      sfmt(out, cap, "%s (%llu octets%s%s)", wsc_event_type_name(e->type),
           (unsigned long long)e->len, e->len ? ": " : "", e->len ? pv : "");
      break;
    case WSC_EV_CLOSE:
      if (e->code < 0)
        sfmt(out, cap, "close frame without status code");
      else if (e->detail && *e->detail)
        sfmt(out, cap, "close %d \"%.60s\"", e->code, e->detail);
      else
        sfmt(out, cap, "close %d", e->code);
      break;
    case WSC_EV_FRAME:
      sfmt(out, cap, "frame %s fin=%d rsv=%u (%llu octets)", wsref_opcode_name(e->opcode), e->fin,
           e->rsv, (unsigned long long)e->len);
      break;
    case WSC_EV_TCP_FIN:
      snprintf(out, cap, "the target closed the TCP connection");
      break;
    case WSC_EV_TCP_RESET:
      snprintf(out, cap, "the TCP connection was reset");
      break;
    case WSC_EV_ERROR:
      sfmt(out, cap, "undecodable data (%s)", e->detail ? e->detail : "error");
      break;
    default:
      snprintf(out, cap, "%s", wsc_event_type_name(e->type));
      break;
  }
}

static int pend_push(cx *x, const wsc_event *ev) {
  if (x->npend == x->cappend) {
    size_t nc = x->cappend ? x->cappend * 2 : 16;
    wsc_event *p = realloc(x->pend, nc * sizeof *p);
    if (!p) return WSREF_E_NOMEM;
    x->pend = p;
    x->cappend = nc;
  }
  x->pend[x->npend++] = *ev;
  return 0;
}

static void pend_consume(cx *x, size_t n) {
  for (size_t i = 0; i < n && i < x->npend; i++) wsc_event_free(&x->pend[i]);
  if (n > x->npend) n = x->npend;
  if (!n) return;
  memmove(x->pend, x->pend + n, (x->npend - n) * sizeof *x->pend);
  x->npend -= n;
}

/* The result keeps a capped copy of every event. */
static void record_event(cx *x, const wsc_event *ev) {
  wsc_event copy = *ev;
  if (copy.data_len > EVENT_KEEP) copy.data_len = EVENT_KEEP;
  if (wsc_result_add_event(x->res, &copy)) x->error = true;
}

static void mark_end(cx *x, enum wsc_tcp_end how, uint64_t t) {
  if (x->ended) return;
  x->ended = true;
  x->tcp_end = how;
  x->t_end = t;
  if (x->obs_on && wsc_observer_partial(&x->obs))
    wsc_wirelog_note(&x->res->wire, t, "the connection ended inside a frame or message");
  if (how == WSC_TCP_TARGET_FIN || how == WSC_TCP_TARGET_RESET) {
    wsc_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = how == WSC_TCP_TARGET_FIN ? WSC_EV_TCP_FIN : WSC_EV_TCP_RESET;
    ev.t_us = t;
    ev.code = -1;
    record_event(x, &ev);
    pend_push(x, &ev);
  }
}

/* ---- frames we send ---- */

static int random_bytes(uint8_t *p, size_t n) {
  return RAND_bytes(p, (int)n) == 1 ? 0 : WSREF_E_IO;
}

static int emit_frame(wsref_buf *out, bool fin, uint8_t rsv, uint8_t opcode, enum wsc_mask_mode mm,
                      const uint8_t key[4], uint64_t declared, enum wsc_len_form form,
                      const uint8_t *p, size_t n) {
  uint8_t h[WSREF_FRAME_HEADER_MAX];
  size_t k = 0;
  h[k++] = (uint8_t)((fin ? 0x80 : 0) | (rsv & 7) << 4 | (opcode & 0x0F));
  bool masked = mm != WSC_MASK_NONE;
  if (form == WSC_LEN_AUTO)
    form = declared <= 125 ? WSC_LEN_7 : declared <= 0xFFFF ? WSC_LEN_16 : WSC_LEN_64;
  uint8_t mbit = masked ? 0x80 : 0;
  if (form == WSC_LEN_7) {
    h[k++] = (uint8_t)(mbit | (declared & 0x7F));
  } else if (form == WSC_LEN_16) {
    h[k++] = mbit | 126;
    h[k++] = (uint8_t)(declared >> 8);
    h[k++] = (uint8_t)declared;
  } else {
    h[k++] = mbit | 127;
    for (int i = 7; i >= 0; i--) h[k++] = (uint8_t)(declared >> (8 * i));
  }
  uint8_t mk[4] = {0, 0, 0, 0};
  if (mm == WSC_MASK_KEY)
    memcpy(mk, key, 4);
  else if (mm == WSC_MASK_RANDOM && random_bytes(mk, 4))
    return WSREF_E_IO;
  if (masked) {
    memcpy(h + k, mk, 4);
    k += 4;
  }
  int rc = wsref_buf_append(out, h, k);
  if (rc || !n) return rc;
  uint8_t *dst = wsref_buf_reserve(out, n);
  if (!dst) return WSREF_E_NOMEM;
  if (masked)
    wsref_mask_copy(dst, p, n, mk, 0);
  else
    memcpy(dst, p, n);
  wsref_buf_commit(out, n);
  return 0;
}

static int build_frames(cx *x, const struct wsc_frame_spec *f, wsref_buf *out) {
  uint8_t *p = NULL;
  size_t n = 0;
  int rc = wsc_payload_materialize(f->payload, &x->env, &p, &n);
  if (rc) return rc;
  if (f->fragment_size > 0) {
    size_t pieces = n == 0 ? 1 : (size_t)((n + f->fragment_size - 1) / f->fragment_size);
    for (size_t i = 0; i < pieces && !rc; i++) {
      size_t off = (size_t)(i * f->fragment_size);
      size_t len = n - off < f->fragment_size ? n - off : (size_t)f->fragment_size;
      rc = emit_frame(out, i + 1 == pieces, i == 0 ? f->rsv : 0, i == 0 ? f->opcode : 0, f->mask,
                      f->key, len, WSC_LEN_AUTO, p + off, len);
    }
  } else {
    rc = emit_frame(out, f->fin, f->rsv, f->opcode, f->mask, f->key, f->has_len ? f->len : n,
                    f->len_form, p, n);
  }
  free(p);
  return rc;
}

/* ---- input ---- */

static void on_event(cx *x, wsc_event *ev) {
  record_event(x, ev);
  if (ev->type == WSC_EV_PING && !x->close_sent && !x->ended) {
    /* a conformant client answers; the answer waits for the next step boundary */
    emit_frame(&x->replies, true, 0, WSREF_OP_PONG, WSC_MASK_RANDOM, NULL, ev->len, WSC_LEN_AUTO,
               ev->data, ev->data_len);
  }
  if (ev->type == WSC_EV_CLOSE && !x->close_rcvd) {
    x->close_rcvd = true;
    x->close_rcvd_code = ev->code;
    x->t_close_rcvd = ev->t_us;
    size_t rl = ev->data_len > 2 ? ev->data_len - 2 : 0;
    if (rl > sizeof x->close_reason) rl = sizeof x->close_reason;
    if (rl) memcpy(x->close_reason, ev->data + 2, rl);
    x->close_reason_len = rl;
    if (!x->close_sent) {
      /* echo a valid code; fail a broken close frame with 1002 (1007 for a bad reason) */
      wsref_close_status st;
      int prc = wsref_close_parse(ev->data, ev->data_len, &st);
      x->close_reply_code = prc == 0                           ? (st.code ? st.code : -1)
                            : prc == WSREF_E_CLOSE_REASON_UTF8 ? WSREF_CLOSE_BAD_DATA
                                                               : WSREF_CLOSE_PROTOCOL_ERROR;
    }
  }
  if (pend_push(x, ev)) {
    wsc_event_free(ev);
    x->error = true;
  }
}

static void process_rx(cx *x) {
  size_t n = wsref_buf_len(&x->conn.rx);
  if (n && x->obs_on) {
    if (wsc_observer_feed(&x->obs, wsref_buf_head(&x->conn.rx), n, rel(x))) x->error = true;
    wsref_buf_consume(&x->conn.rx, n);
    wsc_event ev;
    while (wsc_observer_next(&x->obs, &ev)) on_event(x, &ev);
  }
  if (x->conn.eof)
    mark_end(x, WSC_TCP_TARGET_FIN, x->conn.t_end);
  else if (x->conn.reset)
    mark_end(x, WSC_TCP_TARGET_RESET, x->conn.t_end);
}

/* Wait for input until `until`; returns true if anything happened. */
static bool pump(cx *x, uint64_t until) {
  if (x->ended) return false; /* nothing can arrive any more; the caller's timers decide */
  int rc = wsc_conn_read(&x->conn, until);
  if (rc == WSREF_E_TIMEOUT) return false;
  if (rc < 0) {
    x->conn.reset = true;
    x->conn.t_end = rel(x);
  }
  process_rx(x);
  return true;
}

static void send_replies(cx *x);

static void sleep_until(cx *x, uint64_t until) {
  while (wsc_now_us() < until) {
    if (x->ended) {
      uint64_t left = until - wsc_now_us();
      if ((int64_t)left <= 0) break;
      struct timespec ts = {(time_t)(left / 1000000), (long)(left % 1000000) * 1000};
      nanosleep(&ts, NULL);
      break;
    }
    pump(x, until);
    send_replies(x); /* a no-op inside a write sequence */
  }
}

/* ---- output ---- */

static void track_tx(cx *x, const uint8_t *p, size_t n) {
  if (!x->tx_track || !n) return;
  uint8_t *copy = malloc(n); /* the parser unmasks in place */
  if (!copy) {
    x->tx_track = false;
    return;
  }
  memcpy(copy, p, n);
  size_t pos = 0;
  for (;;) {
    wsref_frame_event ev;
    ssize_t k = wsref_frame_parse(&x->txp, copy + pos, n - pos, &ev);
    if (k < 0) {
      x->tx_track = false; /* a deliberately broken frame: nothing more to learn */
      break;
    }
    pos += (size_t)k;
    if (ev.type == WSREF_FRAME_EV_NONE) break;
    if (ev.type == WSREF_FRAME_EV_HEADER) x->tx_mid = true;
    if (ev.type == WSREF_FRAME_EV_END) x->tx_mid = false;
    if (ev.header->opcode != WSREF_OP_CLOSE) continue;
    if (ev.type == WSREF_FRAME_EV_HEADER) {
      x->tx_close_len = 0;
    } else if (ev.type == WSREF_FRAME_EV_PAYLOAD) {
      size_t room = sizeof x->tx_close - x->tx_close_len;
      size_t k2 = ev.len < room ? ev.len : room;
      memcpy(x->tx_close + x->tx_close_len, ev.data, k2);
      x->tx_close_len += k2;
    } else if (ev.type == WSREF_FRAME_EV_END && !x->close_sent) {
      x->close_sent = true;
      x->t_close_sent = rel(x);
      x->close_sent_code = x->tx_close_len >= 2 ? x->tx_close[0] << 8 | x->tx_close[1] : -1;
    }
  }
  free(copy);
}

/* Writes bytes cut as the policy says. Returns false if nothing could be written. */
static bool write_policy(cx *x, const uint8_t *p, size_t n, const struct wsc_write *w,
                         const char *what) {
  if (x->ended || x->conn.wr_shut || x->stalled) {
    wsc_wirelog_note(&x->res->wire, rel(x), "%s not sent: the connection is %s", what,
                     x->ended     ? "closed"
                     : x->stalled ? "stalled"
                                  : "half-closed");
    return false;
  }
  if (n == 0) return true;
  x->in_write = true;
  size_t off = 0;
  bool ok = true;
  while (off < n) {
    size_t end = n;
    if (w->nsplits) {
      /* the next explicit cut strictly inside the buffer */
      end = n;
      for (size_t i = 0; i < w->nsplits; i++) {
        if (w->splits[i] > off && w->splits[i] < n) {
          end = (size_t)w->splits[i];
          break;
        }
      }
    } else if (w->chop && n - off > w->chop) {
      end = off + (size_t)w->chop;
    }
    if (off > 0 && w->delay_us) sleep_until(x, wsc_now_us() + w->delay_us);
    if (x->ended) {
      wsc_wirelog_note(&x->res->wire, rel(x), "%s: %zu of %zu octets not sent: connection closed",
                       what, n - off, n);
      ok = off > 0;
      break;
    }
    uint64_t before = x->conn.log ? x->res->wire.total[WSC_WIRE_TX] : 0;
    int rc = wsc_conn_write(&x->conn, p + off, end - off, x->deadline);
    /* what reached the socket counts as sent before anything the target answers */
    track_tx(x, p + off,
             x->conn.log ? (size_t)(x->res->wire.total[WSC_WIRE_TX] - before)
                         : (rc == 0 ? end - off : 0));
    process_rx(x);
    if (rc == WSREF_E_CLOSED) {
      mark_end(x, x->conn.eof ? WSC_TCP_TARGET_FIN : WSC_TCP_TARGET_RESET, rel(x));
      ok = off > 0;
      break;
    }
    if (rc == WSREF_E_TIMEOUT) {
      x->stalled = true;
      wsc_wirelog_note(&x->res->wire, rel(x),
                       "%s: write timed out with %zu octets unsent (the target stopped reading)",
                       what, n - off);
      ok = off > 0;
      break;
    }
    if (rc < 0) {
      mark_end(x, WSC_TCP_TARGET_RESET, rel(x));
      ok = off > 0;
      break;
    }
    off = end;
  }
  x->in_write = false;
  return ok;
}

/* Inside a frame the case left incomplete: a frame of ours there would corrupt it. */
static bool tx_mid_frame(const cx *x) {
  return x->tx_track && (x->tx_mid || x->txp.hhave > 0);
}

/* Step boundary: send the pongs and close reply that incoming frames asked for. */
static void send_replies(cx *x) {
  if (x->in_write || x->ended || x->conn.wr_shut || x->stalled) return;
  if (x->coalesce.end != x->coalesce.start) return; /* never inside a coalesced write */
  if (tx_mid_frame(x)) return;
  static const struct wsc_write whole = {0, 0, NULL, 0, false};
  if (wsref_buf_len(&x->replies)) {
    wsref_buf b = x->replies;
    x->replies = (wsref_buf)WSREF_BUF_INIT;
    write_policy(x, wsref_buf_head(&b), wsref_buf_len(&b), &whole, "pong");
    wsref_buf_free(&b);
  }
  if (x->close_rcvd && !x->close_sent && !x->ended) {
    uint8_t pl[2];
    size_t pn = 0;
    if (x->close_reply_code >= 0) {
      pl[0] = (uint8_t)(x->close_reply_code >> 8);
      pl[1] = (uint8_t)x->close_reply_code;
      pn = 2;
    }
    wsref_buf b = WSREF_BUF_INIT;
    if (!emit_frame(&b, true, 0, WSREF_OP_CLOSE, WSC_MASK_RANDOM, NULL, pn, WSC_LEN_AUTO, pl, pn)) {
      x->close_sent = true;
      x->close_sent_code = x->close_reply_code >= 0 ? x->close_reply_code : -1;
      x->t_close_sent = rel(x);
      write_policy(x, wsref_buf_head(&b), wsref_buf_len(&b), &whole, "close reply");
    }
    wsref_buf_free(&b);
  }
}

/* ------------------------------------------------------------------------------------------
 * Expectations
 */

static void payload_desc(char *out, size_t cap, const struct wsc_payload *p,
                         const struct wsc_payload_env *env) {
  const char *src = wsc_payload_source(p);
  uint64_t len = 0;
  wsc_payload_length(p, env, &len);
  if (src && *src) {
    if (strlen(src) > 80)
      sfmt(out, cap, "%.77s... (%llu octets)", src, (unsigned long long)len);
    else
      sfmt(out, cap, "%s", src);
  } else {
    uint8_t head[24];
    size_t k = len < sizeof head ? (size_t)len : sizeof head;
    if (wsc_payload_read(p, env, 0, head, k) == 0) {
      char pv[96];
      preview(pv, sizeof pv, head, k, len);
      sfmt(out, cap, "%s", pv);
    } else {
      sfmt(out, cap, "(%llu octets)", (unsigned long long)len);
    }
  }
}

static void match_desc(wsref_buf *b, const struct wsc_match *m, const struct wsc_payload_env *env) {
  char t[200];
  if (m->payload) {
    payload_desc(t, sizeof t, m->payload, env);
    wsref_buf_appendf(b, " %s", t);
  }
  if (m->has_len) wsref_buf_appendf(b, " len=%llu", (unsigned long long)m->len);
  if (m->has_sha256) {
    wsref_buf_appendf(b, " sha256=");
    for (int i = 0; i < 32; i++) wsref_buf_appendf(b, "%02x", m->sha256[i]);
  }
}

static char *expect_desc(const struct wsc_expect *e, const struct wsc_payload_env *env) {
  wsref_buf b = WSREF_BUF_INIT;
  wsref_buf_appendf(&b, "%s", wsc_expect_kind_name(e->kind));
  switch (e->kind) {
    case WSC_EXP_FRAME:
      if (e->opcode >= 0) wsref_buf_appendf(&b, " %s", wsref_opcode_name((unsigned)e->opcode));
      if (e->fin >= 0) wsref_buf_appendf(&b, " fin=%d", e->fin);
      if (e->rsv >= 0) wsref_buf_appendf(&b, " rsv=%d", e->rsv);
      match_desc(&b, &e->match, env);
      break;
    case WSC_EXP_CLOSE: {
      const struct wsc_expect_close *c = &e->close;
      if (c->any_code) wsref_buf_appendf(&b, " any");
      for (size_t i = 0; i < c->ncodes; i++) {
        if (c->codes[i].lo == c->codes[i].hi)
          wsref_buf_appendf(&b, " %u", c->codes[i].lo);
        else
          wsref_buf_appendf(&b, " %u..%u", c->codes[i].lo, c->codes[i].hi);
      }
      if (c->no_code) wsref_buf_appendf(&b, " none");
      if (c->drop_ok) wsref_buf_appendf(&b, " drop");
      if (c->clean) wsref_buf_appendf(&b, " clean");
      if (c->by == WSC_BY_PEER) wsref_buf_appendf(&b, " by=peer");
      if (c->by == WSC_BY_SUITE) wsref_buf_appendf(&b, " by=suite");
      if (c->reason) {
        char t[200];
        payload_desc(t, sizeof t, c->reason, env);
        wsref_buf_appendf(&b, " reason=%s", t);
      }
      break;
    }
    case WSC_EXP_NOTHING:
      wsref_buf_appendf(&b, " for %llu ms", (unsigned long long)(e->duration_us / 1000));
      break;
    default:
      match_desc(&b, &e->match, env);
      break;
  }
  if (e->timeout_us)
    wsref_buf_appendf(&b, " (within %llu ms)", (unsigned long long)(e->timeout_us / 1000));
  char *s =
      wsc_strndup(wsref_buf_head(&b) ? (const char *)wsref_buf_head(&b) : "", wsref_buf_len(&b));
  wsref_buf_free(&b);
  return s;
}

/* Does the event's payload pass the match? */
static bool payload_ok(cx *x, const struct wsc_match *m, const wsc_event *ev, char *why,
                       size_t cap) {
  if (m->has_len && ev->len != m->len) {
    sfmt(why, cap, "length %llu, expected %llu", (unsigned long long)ev->len,
         (unsigned long long)m->len);
    return false;
  }
  if (m->has_sha256 && (!ev->has_sha256 || memcmp(ev->sha256, m->sha256, 32) != 0)) {
    sfmt(why, cap, "SHA-256 differs");
    return false;
  }
  if (m->payload) {
    uint64_t want = 0;
    if (wsc_payload_length(m->payload, &x->env, &want) != 0) {
      sfmt(why, cap, "the expected payload cannot be read");
      x->error = true;
      return false;
    }
    if (want != ev->len) {
      sfmt(why, cap, "length %llu, expected %llu", (unsigned long long)ev->len,
           (unsigned long long)want);
      return false;
    }
    int eq;
    if (ev->data_len == ev->len) {
      eq = wsc_payload_equals(m->payload, &x->env, ev->data, ev->data_len);
    } else {
      /* only a prefix was kept: compare it, then the hash of the whole */
      eq = wsc_payload_equals(m->payload, &x->env, ev->data, ev->data_len) >= 0 ? 1 : -1;
      uint8_t *full = NULL;
      size_t fl = 0;
      if (wsc_payload_materialize(m->payload, &x->env, &full, &fl) == 0) {
        uint8_t h[32];
        wsc_sha256(full, fl, h);
        eq = memcmp(h, ev->sha256, 32) == 0 && memcmp(full, ev->data, ev->data_len) == 0;
        free(full);
      } else {
        eq = -1;
      }
    }
    if (eq < 0) {
      sfmt(why, cap, "the expected payload cannot be read");
      x->error = true;
      return false;
    }
    if (!eq) {
      /* say where the first difference is */
      uint8_t *full = NULL;
      size_t fl = 0;
      size_t at = 0;
      if (wsc_payload_materialize(m->payload, &x->env, &full, &fl) == 0) {
        size_t lim = fl < ev->data_len ? fl : ev->data_len;
        while (at < lim && full[at] == ev->data[at]) at++;
        free(full);
      }
      sfmt(why, cap, "payload differs from octet %zu", at);
      return false;
    }
  }
  return true;
}

/* Does event ev satisfy item e (not CLOSE/NOTHING)? */
static bool item_matches(cx *x, const struct wsc_expect *e, const wsc_event *ev, char *why,
                         size_t cap) {
  bool type_ok;
  switch (e->kind) {
    case WSC_EXP_TEXT:
      type_ok = ev->type == WSC_EV_TEXT;
      break;
    case WSC_EXP_BINARY:
      type_ok = ev->type == WSC_EV_BINARY;
      break;
    case WSC_EXP_MESSAGE:
      type_ok = ev->type == WSC_EV_TEXT || ev->type == WSC_EV_BINARY;
      break;
    case WSC_EXP_PING:
      type_ok = ev->type == WSC_EV_PING;
      break;
    case WSC_EXP_PONG:
      type_ok = ev->type == WSC_EV_PONG;
      break;
    case WSC_EXP_FRAME:
      type_ok = ev->type == WSC_EV_FRAME || ev->type == WSC_EV_PING || ev->type == WSC_EV_PONG ||
                ev->type == WSC_EV_CLOSE || ev->type == WSC_EV_TEXT || ev->type == WSC_EV_BINARY;
      if (type_ok &&
          ((e->opcode >= 0 && ev->opcode != e->opcode) ||
           (e->fin >= 0 && ev->fin != (e->fin != 0)) || (e->rsv >= 0 && ev->rsv != e->rsv))) {
        char d[200];
        describe_event(d, sizeof d, ev);
        sfmt(why, cap, "got %s", d);
        return false;
      }
      break;
    default:
      type_ok = false;
      break;
  }
  if (!type_ok) {
    char d[200];
    describe_event(d, sizeof d, ev);
    sfmt(why, cap, "got %s", d);
    return false;
  }
  char pw[160];
  if (!payload_ok(x, &e->match, ev, pw, sizeof pw)) {
    char d[200];
    describe_event(d, sizeof d, ev);
    sfmt(why, cap, "got %s: %s", d, pw);
    return false;
  }
  return true;
}

static enum wsc_side initiated_by(const cx *x) {
  if (x->close_sent && (!x->close_rcvd || x->t_close_sent <= x->t_close_rcvd))
    return WSC_SIDE_HARNESS;
  if (x->close_rcvd) return WSC_SIDE_TARGET;
  if (!x->ended) return WSC_SIDE_NONE;
  return x->tcp_end == WSC_TCP_HARNESS ? WSC_SIDE_HARNESS : WSC_SIDE_TARGET;
}

static bool clean_close(const cx *x) {
  return x->close_sent && x->close_rcvd && x->ended && x->tcp_end == WSC_TCP_TARGET_FIN;
}

/* Judge a CLOSE item against the connection's recorded end. */
static bool judge_close(cx *x, const struct wsc_expect_close *ec, char *why, size_t cap) {
  if (x->close_rcvd) {
    int code = x->close_rcvd_code;
    bool ok = false;
    if (code < 0) {
      ok = ec->no_code;
    } else {
      ok = ec->any_code;
      for (size_t i = 0; i < ec->ncodes && !ok; i++)
        ok = (uint32_t)code >= ec->codes[i].lo && (uint32_t)code <= ec->codes[i].hi;
    }
    if (!ok) {
      if (code < 0)
        sfmt(why, cap, "the target's close frame has no status code");
      else
        sfmt(why, cap, "the target closed with code %d", code);
      return false;
    }
    if (ec->reason) {
      int eq = wsc_payload_equals(ec->reason, &x->env, x->close_reason, x->close_reason_len);
      if (eq != 1) {
        char pv[96];
        preview(pv, sizeof pv, x->close_reason, x->close_reason_len, x->close_reason_len);
        sfmt(why, cap, "close reason %s differs", pv);
        return false;
      }
    }
  } else {
    bool target_dropped = x->tcp_end == WSC_TCP_TARGET_FIN || x->tcp_end == WSC_TCP_TARGET_RESET;
    if (!ec->drop_ok || (!target_dropped && ec->by == WSC_BY_PEER)) {
      sfmt(why, cap, "%s without a close frame",
           x->tcp_end == WSC_TCP_HARNESS        ? "the target never closed; the harness dropped it"
           : x->tcp_end == WSC_TCP_TARGET_RESET ? "the target reset the connection"
                                                : "the target closed the TCP connection");
      return false;
    }
  }
  enum wsc_side by = initiated_by(x);
  if (ec->by == WSC_BY_PEER && by != WSC_SIDE_TARGET) {
    sfmt(why, cap, "the harness, not the target, started the close");
    return false;
  }
  if (ec->by == WSC_BY_SUITE && by != WSC_SIDE_HARNESS) {
    sfmt(why, cap, "the target, not the harness, started the close");
    return false;
  }
  if (ec->clean && !clean_close(x)) {
    sfmt(
        why, cap, "not a clean close (%s%s, TCP %s)", x->close_sent ? "" : "no close sent",
        x->close_sent ? (x->close_rcvd ? "close frames exchanged" : "no close frame received") : "",
        wsc_tcp_end_name(x->tcp_end));
    return false;
  }
  return true;
}

typedef struct altst {
  const struct wsc_alt *a;
  size_t rec;      /* index into res->expected (the array moves as it grows) */
  size_t pos;      /* next item */
  size_t consumed; /* events consumed */
  bool dead, done;
  bool saw_close; /* the current CLOSE item consumed the target's close frame */
  uint64_t item_start;
  char why[400];
} altst;

static uint64_t item_deadline(const cx *x, const altst *s) {
  const struct wsc_expect *e = &s->a->items[s->pos];
  if (e->kind == WSC_EXP_NOTHING) {
    uint64_t d = s->item_start + e->duration_us;
    return d < x->deadline ? d : x->deadline;
  }
  if (e->timeout_us) {
    uint64_t d = s->item_start + e->timeout_us;
    return d < x->deadline ? d : x->deadline;
  }
  return x->deadline;
}

static void alt_advance(altst *s, uint64_t now) {
  s->pos++;
  s->saw_close = false;
  s->item_start = now;
  if (s->pos >= s->a->nitems) s->done = true;
}

static void alt_kill(altst *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void alt_kill(altst *s, const char *fmt, ...) {
  s->dead = true;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->why, sizeof s->why, fmt, ap);
  va_end(ap);
}

static void alt_feed(cx *x, altst *s, const wsc_event *ev, uint64_t now) {
  const struct wsc_expect *e = &s->a->items[s->pos];
  char w[300] = "";
  char d[200];
  s->consumed++;
  switch (e->kind) {
    case WSC_EXP_CLOSE:
      if (ev->type == WSC_EV_CLOSE && !s->saw_close) {
        s->saw_close = true;
        return; /* the rest is judged when the TCP connection ends */
      }
      if (ev->type == WSC_EV_TCP_FIN || ev->type == WSC_EV_TCP_RESET) return;
      describe_event(d, sizeof d, ev);
      alt_kill(s, "line %d: expected the connection to close, got %s", e->loc.line, d);
      return;
    case WSC_EXP_NOTHING:
      describe_event(d, sizeof d, ev);
      alt_kill(s, "line %d: expected nothing for %llu ms, got %s after %llu ms", e->loc.line,
               (unsigned long long)(e->duration_us / 1000), d,
               (unsigned long long)((now - s->item_start) / 1000));
      return;
    default:
      if (ev->type == WSC_EV_TCP_FIN || ev->type == WSC_EV_TCP_RESET) {
        char *ed = expect_desc(e, &x->env);
        alt_kill(s, "line %d: expected %s, but %s", e->loc.line, ed ? ed : "an event",
                 ev->type == WSC_EV_TCP_FIN ? "the target closed the connection"
                                            : "the connection was reset");
        free(ed);
        return;
      }
      if (!item_matches(x, e, ev, w, sizeof w)) {
        char *ed = expect_desc(e, &x->env);
        alt_kill(s, "line %d: expected %s, %s", e->loc.line, ed ? ed : "an event", w);
        free(ed);
        return;
      }
      alt_advance(s, now);
  }
}

/* The connection is over and every event was fed: settle the alternative. */
static void alt_end(cx *x, altst *s, uint64_t now) {
  while (!s->dead && !s->done) {
    const struct wsc_expect *e = &s->a->items[s->pos];
    if (e->kind == WSC_EXP_CLOSE) {
      char w[300];
      if (!judge_close(x, &e->close, w, sizeof w)) {
        char *ed = expect_desc(e, &x->env);
        alt_kill(s, "line %d: expected %s: %s", e->loc.line, ed ? ed : "close", w);
        free(ed);
        return;
      }
      alt_advance(s, now);
      continue;
    }
    char *ed = expect_desc(e, &x->env);
    alt_kill(s, "line %d: expected %s, but the connection %s", e->loc.line, ed ? ed : "an event",
             x->tcp_end == WSC_TCP_HARNESS ? "was closed by the harness" : "ended");
    free(ed);
  }
}

/* Drop the connection from our side (a CLOSE item waited long enough, or a DROP step). */
static void harness_drop(cx *x, const char *why) {
  if (x->ended) return;
  wsc_wirelog_note(&x->res->wire, rel(x), "%s", why);
  uint64_t t = rel(x);
  wsc_conn_close(&x->conn);
  mark_end(x, WSC_TCP_HARNESS, t);
}

static void run_expect(cx *x, const struct wsc_step *st) {
  const struct wsc_expect_step *es = &st->expect;
  size_t n = es->nalts;
  altst *s = calloc(n ? n : 1, sizeof *s);
  if (!s) {
    fail_error(x, "out of memory");
    return;
  }
  uint64_t now = wsc_now_us();
  for (size_t i = 0; i < n; i++) {
    s[i].a = &es->alts[i];
    s[i].item_start = now;
    enum wsc_verdict g = es->alts[i].grade == WSC_GRADE_PASS         ? WSC_PASS
                         : es->alts[i].grade == WSC_GRADE_NON_STRICT ? WSC_NON_STRICT
                         : es->alts[i].grade == WSC_GRADE_INFO       ? WSC_INFO
                                                                     : WSC_FAIL;
    wsc_expect_alt *rec = wsc_result_add_expect(x->res, es->alts[i].loc.line, g, NULL, 0);
    if (!rec) {
      fail_error(x, "out of memory");
      free(s);
      return;
    }
    s[i].rec = x->res->nexpected - 1;
    for (size_t k = 0; k < es->alts[i].nitems; k++) {
      char *d = expect_desc(&es->alts[i].items[k], &x->env);
      if (d) wsc_expect_alt_push(rec, d);
      free(d);
    }
    if (es->alts[i].nitems == 0) s[i].done = true;
  }
  size_t fed = 0;
  int decided = -1;
  for (;;) {
    /* decided: the first alternative in written order that is alive has completed */
    for (size_t i = 0; i < n; i++) {
      if (s[i].dead) continue;
      if (s[i].done) decided = (int)i;
      break;
    }
    if (decided >= 0) break;
    bool alive = false;
    for (size_t i = 0; i < n; i++) alive |= !s[i].dead;
    if (!alive || x->error) break;
    now = wsc_now_us();
    if (fed < x->npend) {
      const wsc_event *ev = &x->pend[fed++];
      for (size_t i = 0; i < n; i++)
        if (!s[i].dead && !s[i].done) alt_feed(x, &s[i], ev, now);
      continue;
    }
    if (x->ended) {
      for (size_t i = 0; i < n; i++)
        if (!s[i].dead && !s[i].done) alt_end(x, &s[i], now);
      continue;
    }
    /* timers */
    uint64_t next = x->deadline;
    bool expired = false;
    for (size_t i = 0; i < n; i++) {
      if (s[i].dead || s[i].done) continue;
      const struct wsc_expect *e = &s[i].a->items[s[i].pos];
      uint64_t d = item_deadline(x, &s[i]);
      if (now >= d) {
        expired = true;
        if (e->kind == WSC_EXP_NOTHING && d == s[i].item_start + e->duration_us) {
          alt_advance(&s[i], now);
        } else if (e->kind == WSC_EXP_CLOSE && (!e->timeout_us || d == x->deadline)) {
          /* waited until the deadline for the target to close: end it, judge what we saw */
          harness_drop(x, "the harness gives up waiting for the target to close");
        } else if (e->kind == WSC_EXP_CLOSE) {
          /* a bounded wait (timeout=): this alternative is out, the connection stays */
          alt_kill(&s[i], "line %d: the connection did not close within %llu ms", e->loc.line,
                   (unsigned long long)(e->timeout_us / 1000));
        } else {
          char *ed = expect_desc(e, &x->env);
          alt_kill(&s[i], "line %d: expected %s, nothing arrived within %llu ms", e->loc.line,
                   ed ? ed : "an event", (unsigned long long)((now - s[i].item_start) / 1000));
          free(ed);
        }
      } else if (d < next) {
        next = d;
      }
    }
    if (expired) continue;
    send_replies(x);
    if (x->ended || fed < x->npend) continue;
    pump(x, next);
  }
  now = wsc_now_us();
  if (decided >= 0) {
    altst *d = &s[decided];
    enum wsc_grade g = d->a->grade;
    grade(x, g);
    wsc_expect_alt_outcome(&x->res->expected[d->rec], true, "matched");
    if (g != WSC_GRADE_PASS) {
      /* say why the better alternatives did not match */
      const char *why = "";
      for (int i = 0; i < decided; i++)
        if (s[i].why[0]) {
          why = s[i].why;
          break;
        }
      set_why(x, g, "%s%s(matched the %s alternative at line %d)", why, *why ? " " : "",
              wsc_grade_name(g), d->a->loc.line);
    }
    pend_consume(x, d->consumed);
  } else {
    grade(x, WSC_GRADE_FAIL);
    const char *why = n ? s[0].why : "no alternatives";
    set_why(x, WSC_GRADE_FAIL, "%s", why[0] ? why : "no alternative matched");
    /* nothing sensible can be consumed: the events stay for the evidence, later steps see
     * them as unexpected */
    size_t most = 0;
    for (size_t i = 0; i < n; i++)
      if (s[i].consumed > most) most = s[i].consumed;
    pend_consume(x, most);
  }
  for (size_t i = 0; i < n; i++)
    if (!x->res->expected[s[i].rec].matched)
      wsc_expect_alt_outcome(&x->res->expected[s[i].rec], false, "%s",
                             s[i].why[0] ? s[i].why : "not reached");
  free(s);
}

/* ------------------------------------------------------------------------------------------
 * Handshake
 */

static bool status_in(int st, const struct wsc_code_range *r, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((uint32_t)st >= r[i].lo && (uint32_t)st <= r[i].hi) return true;
  return false;
}

static bool header_equals(const wsref_http_response *rs, const char *name, const char *value) {
  size_t vl = strlen(value);
  for (size_t i = 0; i < rs->nheaders; i++) {
    const wsref_http_header *h = &rs->headers[i];
    if (!wsref_str_ieq(h->name, name)) continue;
    const char *p = h->value.p;
    size_t n = h->value.n;
    while (n && (*p == ' ' || *p == '\t')) p++, n--;
    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t')) n--;
    if (n == vl && memcmp(p, value, vl) == 0) return true;
  }
  return false;
}

static bool mem_contains(const uint8_t *h, size_t hn, const uint8_t *nd, size_t nn) {
  if (nn == 0) return true;
  if (nn > hn) return false;
  return memmem(h, hn, nd, nn) != NULL;
}

typedef struct hsresp {
  bool complete;
  size_t head_len;
  wsref_http_response *rs;
  const uint8_t *body;
  size_t body_len;
  bool handshake_findings;
} hsresp;

static char *hs_expect_desc(const struct wsc_hs_expect *h, const struct wsc_payload_env *env) {
  wsref_buf b = WSREF_BUF_INIT;
  switch (h->kind) {
    case WSC_HSX_OK:
      wsref_buf_appendf(&b, "handshake ok");
      break;
    case WSC_HSX_FAIL:
      wsref_buf_appendf(&b, "handshake fail");
      break;
    case WSC_HSX_STATUS:
      wsref_buf_appendf(&b, "status");
      for (size_t i = 0; i < h->nstatuses; i++) {
        if (h->statuses[i].lo == h->statuses[i].hi)
          wsref_buf_appendf(&b, " %u", h->statuses[i].lo);
        else
          wsref_buf_appendf(&b, " %u..%u", h->statuses[i].lo, h->statuses[i].hi);
      }
      break;
    case WSC_HSX_HEADER: {
      static const char *const ops[] = {"=", "contains", "absent", "present", "= $accept"};
      wsref_buf_appendf(
          &b, "header %s %s%s%s", h->name ? h->name : "", ops[h->op],
          (h->op == WSC_HM_EQUALS || h->op == WSC_HM_CONTAINS) ? " " : "",
          (h->op == WSC_HM_EQUALS || h->op == WSC_HM_CONTAINS) && h->value ? h->value : "");
      break;
    }
    case WSC_HSX_BODY: {
      char t[200] = "";
      if (h->body) payload_desc(t, sizeof t, h->body, env);
      wsref_buf_appendf(&b, "body contains %s", t);
      break;
    }
  }
  char *s =
      wsc_strndup(wsref_buf_head(&b) ? (const char *)wsref_buf_head(&b) : "", wsref_buf_len(&b));
  wsref_buf_free(&b);
  return s;
}

static bool hs_check(cx *x, const struct wsc_hs_expect *h, const hsresp *r, const char *accept,
                     char *why, size_t cap) {
  const wsref_http_response *rs = r->rs;
  switch (h->kind) {
    case WSC_HSX_OK:
      if (!r->complete) {
        sfmt(why, cap, "no complete response");
        return false;
      }
      if (rs->status != 101) {
        sfmt(why, cap, "status %d", rs->status);
        return false;
      }
      if (r->handshake_findings) {
        sfmt(why, cap, "the 101 response breaks RFC 6455 4.2.2 (see findings)");
        return false;
      }
      return true;
    case WSC_HSX_FAIL:
      if (r->complete && rs->status == 101) {
        sfmt(why, cap, "the target accepted the upgrade (101)");
        return false;
      }
      return true;
    case WSC_HSX_STATUS:
      if (!r->complete) {
        sfmt(why, cap, "no complete response");
        return false;
      }
      if (!status_in(rs->status, h->statuses, h->nstatuses)) {
        sfmt(why, cap, "status %d", rs->status);
        return false;
      }
      return true;
    case WSC_HSX_HEADER: {
      if (!r->complete) {
        sfmt(why, cap, "no complete response");
        return false;
      }
      size_t cnt = wsref_http_count(rs->headers, rs->nheaders, h->name);
      const wsref_http_header *f = wsref_http_find(rs->headers, rs->nheaders, h->name);
      bool ok = false;
      switch (h->op) {
        case WSC_HM_ABSENT:
          ok = cnt == 0;
          break;
        case WSC_HM_PRESENT:
          ok = cnt > 0;
          break;
        case WSC_HM_EQUALS:
          ok = header_equals(rs, h->name, h->value ? h->value : "");
          break;
        case WSC_HM_CONTAINS:
          ok = wsref_http_has_token(rs->headers, rs->nheaders, h->name, h->value ? h->value : "");
          break;
        case WSC_HM_ACCEPT:
          ok = accept && header_equals(rs, h->name, accept);
          break;
      }
      if (!ok) {
        if (!f)
          sfmt(why, cap, "no %s header", h->name);
        else
          sfmt(why, cap, "%s: %.*s%s", h->name, (int)(f->value.n > 100 ? 100 : f->value.n),
               f->value.p, cnt > 1 ? " (and more)" : "");
      }
      return ok;
    }
    case WSC_HSX_BODY: {
      uint8_t *nd = NULL;
      size_t nn = 0;
      if (h->body && wsc_payload_materialize(h->body, &x->env, &nd, &nn) != 0) {
        sfmt(why, cap, "the expected body cannot be read");
        x->error = true;
        return false;
      }
      bool ok = r->complete && mem_contains(r->body, r->body_len, nd, nn);
      free(nd);
      if (!ok) sfmt(why, cap, "the response body (%zu octets) does not contain it", r->body_len);
      return ok;
    }
  }
  return false;
}

/* Response body for BODY expectations: Content-Length octets, or until the target closes
 * (bounded by the deadline). */
static void read_body(cx *x, hsresp *r, wsref_buf *acc) {
  const wsref_http_header *cl = wsref_http_find(r->rs->headers, r->rs->nheaders, "Content-Length");
  long long want = -1;
  if (cl) {
    char t[24];
    size_t k = cl->value.n < sizeof t - 1 ? cl->value.n : sizeof t - 1;
    memcpy(t, cl->value.p, k);
    t[k] = 0;
    want = atoll(t);
  }
  bool chunked =
      wsref_http_has_token(r->rs->headers, r->rs->nheaders, "Transfer-Encoding", "chunked");
  for (;;) {
    size_t have = wsref_buf_len(acc) - r->head_len;
    if (want >= 0 && (long long)have >= want) break;
    if (chunked && have >= 5 && memmem(wsref_buf_head(acc) + r->head_len, have, "0\r\n\r\n", 5))
      break;
    if (want < 0 && !chunked && have > 0 && x->conn.eof) break;
    if (x->conn.eof || x->conn.reset) break;
    if (wsc_conn_read(&x->conn, x->deadline) < 0) break;
    wsref_buf_append(acc, wsref_buf_head(&x->conn.rx), wsref_buf_len(&x->conn.rx));
    wsref_buf_consume(&x->conn.rx, wsref_buf_len(&x->conn.rx));
  }
  size_t have = wsref_buf_len(acc) - r->head_len;
  if (want >= 0 && (long long)have > want) have = (size_t)want;
  r->body = wsref_buf_head(acc) + r->head_len;
  r->body_len = have;
}

static bool selected_extension(const wsref_http_response *rs, const char *offer) {
  size_t ol = strcspn(offer, "; \t,");
  size_t pos = 0;
  wsref_str t;
  while (wsref_http_next_token(rs->headers, rs->nheaders, "Sec-WebSocket-Extensions", &pos, &t)) {
    size_t tl = 0;
    while (tl < t.n && t.p[tl] != ';' && t.p[tl] != ' ' && t.p[tl] != '\t') tl++;
    if (tl == ol && strncasecmp(t.p, offer, ol) == 0) return true;
  }
  return false;
}

/* Returns true if the connection was upgraded and the steps should run. */
static bool do_handshake(cx *x, size_t *first_step) {
  const struct wsc_case *c = x->c;
  const struct wsc_handshake *hs = &c->hs;
  uint8_t *req = NULL;
  size_t req_len = 0;
  int rc = build_request(x->rn, c, x->key, &x->env, &req, &req_len);
  if (rc) {
    fail_error(x, "cannot build the request: %s", wsref_strerror(rc));
    return false;
  }
  x->res->request = req;
  x->res->request_len = req_len;
  write_policy(x, req, req_len, &hs->write, "handshake request");
  wsref_frame_parser_options to = {
      .role = WSREF_ROLE_SERVER, .max_frame = 0, .allow_non_minimal = true, .allow_reserved = true};
  wsref_frame_parser_init(&x->txp, &to);
  x->tx_track = true;
  *first_step = 0;
  if (hs->pipeline) {
    /* the leading sends go out right behind the request */
    size_t i = 0;
    for (; i < c->nsteps; i++) {
      const struct wsc_step *st = &c->steps[i];
      if (st->kind != WSC_STEP_SEND && st->kind != WSC_STEP_SEND_RAW && st->kind != WSC_STEP_FLUSH)
        break;
    }
    *first_step = i;
  }
  return true;
}

static void run_steps(cx *x, size_t from, size_t to);

/* Reads and judges the response; runs the pipelined steps [0, pipelined) first. */
static bool finish_handshake(cx *x, size_t pipelined) {
  const struct wsc_case *c = x->c;
  const struct wsc_handshake *hs = &c->hs;
  if (pipelined) run_steps(x, 0, pipelined);

  wsref_buf acc = WSREF_BUF_INIT;
  hsresp r;
  memset(&r, 0, sizeof r);
  r.rs = malloc(sizeof *r.rs);
  if (!r.rs) {
    fail_error(x, "out of memory");
    return false;
  }
  wsref_http_limits lim = {RESPONSE_HEAD_MAX, WSREF_HTTP_HEADERS_CAP};
  bool bad = false;
  for (;;) {
    if (wsref_buf_len(&x->conn.rx)) {
      wsref_buf_append(&acc, wsref_buf_head(&x->conn.rx), wsref_buf_len(&x->conn.rx));
      wsref_buf_consume(&x->conn.rx, wsref_buf_len(&x->conn.rx));
    }
    if (wsref_buf_len(&acc)) {
      ssize_t k = wsref_http_parse_response((const char *)wsref_buf_head(&acc), wsref_buf_len(&acc),
                                            &lim, r.rs);
      if (k > 0) {
        r.complete = true;
        r.head_len = (size_t)k;
        break;
      }
      if (k != WSREF_NEED_MORE) {
        bad = true;
        wsc_wirelog_note(&x->res->wire, rel(x), "the response head is malformed (%s)",
                         wsref_err_name((int)k));
        break;
      }
    }
    if (x->ended || x->conn.eof || x->conn.reset) break;
    int k = wsc_conn_read(&x->conn, x->deadline);
    if (k == WSREF_E_TIMEOUT) {
      wsc_wirelog_note(&x->res->wire, rel(x), "no complete response before the deadline");
      break;
    }
    if (k < 0) break;
  }
  uint64_t t_resp = rel(x);
  if (r.complete) {
    x->res->response = (uint8_t *)wsc_memdup(wsref_buf_head(&acc), r.head_len);
    x->res->response_len = r.head_len;
    x->res->status = r.rs->status;
    wsc_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = WSC_EV_HTTP;
    ev.t_us = t_resp;
    ev.code = r.rs->status;
    ev.len = r.head_len;
    ev.data = wsref_buf_head(&acc);
    ev.data_len = r.head_len;
    record_event(x, &ev);
    size_t before = x->res->nfindings;
    wsc_observer_check_response(x->res, x->res->request, x->res->request_len, r.rs, t_resp);
    r.handshake_findings = x->res->nfindings > before;
  } else if (wsref_buf_len(&acc)) {
    /* keep what came as the response so the evidence shows it */
    x->res->response = (uint8_t *)wsc_memdup(wsref_buf_head(&acc), wsref_buf_len(&acc));
    x->res->response_len = wsref_buf_len(&acc);
  }
  (void)bad;

  bool need_body = false;
  for (size_t i = 0; i < hs->nexpects; i++) need_body |= hs->expects[i].kind == WSC_HSX_BODY;
  if (need_body && r.complete && r.rs->status != 101) read_body(x, &r, &acc);

  /* accept value for the key actually sent */
  char accept[WSREF_ACCEPT_LEN + 1] = "";
  bool have_accept = false;
  {
    wsref_http_request *rq = malloc(sizeof *rq);
    if (rq && wsref_http_parse_request((const char *)x->res->request, x->res->request_len, NULL,
                                       rq) > 0) {
      const wsref_http_header *k = wsref_http_find(rq->headers, rq->nheaders, "Sec-WebSocket-Key");
      if (k) {
        wsref_accept_compute(k->value.p, k->value.n, accept);
        have_accept = true;
      }
    }
    free(rq);
  }

  for (size_t i = 0; i < hs->nexpects; i++) {
    const struct wsc_hs_expect *h = &hs->expects[i];
    char why[300] = "";
    bool ok = hs_check(x, h, &r, have_accept ? accept : NULL, why, sizeof why);
    char *d = hs_expect_desc(h, &x->env);
    enum wsc_grade g = ok ? WSC_GRADE_PASS : h->miss_grade;
    enum wsc_verdict v = g == WSC_GRADE_PASS         ? WSC_PASS
                         : g == WSC_GRADE_NON_STRICT ? WSC_NON_STRICT
                         : g == WSC_GRADE_INFO       ? WSC_INFO
                                                     : WSC_FAIL;
    wsc_expect_alt *a = wsc_result_add_expect(x->res, h->loc.line, ok ? WSC_PASS : v, NULL, 0);
    if (a) {
      if (d) wsc_expect_alt_push(a, d);
      if (ok)
        wsc_expect_alt_outcome(a, true, "matched");
      else
        wsc_expect_alt_outcome(a, false, "%s", why);
    }
    if (!ok) {
      grade(x, g);
      set_why(x, g, "line %d: expected %s: %s", h->loc.line, d ? d : "handshake", why);
    }
    free(d);
  }

  bool upgraded = r.complete && r.rs->status == 101;
  x->upgraded = upgraded;
  if (upgraded) {
    for (size_t i = 0; i < c->nrequires && !x->unsupported; i++) {
      const struct wsc_requirement *q = &c->requires[i];
      bool sel = q->kind == WSC_REQ_SUBPROTOCOL
                     ? header_equals(r.rs, "Sec-WebSocket-Protocol", q->value)
                     : selected_extension(r.rs, q->value);
      if (!sel) {
        x->unsupported = true;
        free(x->why);
        if (asprintf(&x->why, "the target did not select %s %s",
                     q->kind == WSC_REQ_SUBPROTOCOL ? "subprotocol" : "extension", q->value) < 0)
          x->why = NULL;
        x->why_grade = WSC_GRADE_PASS;
      }
    }
    wsc_observer_options oo;
    memset(&oo, 0, sizeof oo);
    oo.frame_level = c->frame_level;
    oo.max_kept = x->rn->opt.max_kept;
    if (wsref_http_has_token(r.rs->headers, r.rs->nheaders, "Sec-WebSocket-Extensions",
                             "permessage-deflate") ||
        selected_extension(r.rs, "permessage-deflate"))
      oo.rsv_allowed = 4;
    wsc_observer_init(&x->obs, &oo, x->res);
    wsc_observer_set_base(&x->obs, r.head_len);
    x->obs_on = true;
    /* octets behind the head belong to the WebSocket stream */
    size_t extra = wsref_buf_len(&acc) - r.head_len;
    if (extra) {
      wsref_buf tail = WSREF_BUF_INIT;
      wsref_buf_append(&tail, wsref_buf_head(&acc) + r.head_len, extra);
      wsref_buf_append(&tail, wsref_buf_head(&x->conn.rx), wsref_buf_len(&x->conn.rx));
      wsref_buf_free(&x->conn.rx);
      x->conn.rx = tail;
    }
    process_rx(x);
  } else {
    process_rx(x);
  }
  wsref_buf_free(&acc);
  free(r.rs);
  return upgraded && !x->unsupported;
}

/* ------------------------------------------------------------------------------------------
 * Steps
 */

static void run_steps(cx *x, size_t from, size_t to) {
  const struct wsc_case *c = x->c;
  for (size_t i = from; i < to && !x->error; i++) {
    const struct wsc_step *st = &c->steps[i];
    if (x->worst == WSC_GRADE_FAIL || x->res->nfindings) {
      /* FAIL is final: the remaining steps cannot change the verdict, only cost time */
      wsc_wirelog_note(&x->res->wire, rel(x),
                       "line %d and later steps skipped: the case has failed", st->loc.line);
      break;
    }
    send_replies(x);
    switch (st->kind) {
      case WSC_STEP_SEND:
      case WSC_STEP_SEND_RAW: {
        wsref_buf b = WSREF_BUF_INIT;
        int rc;
        if (st->kind == WSC_STEP_SEND) {
          rc = build_frames(x, &st->frame, &b);
        } else {
          uint8_t *p = NULL;
          size_t n = 0;
          rc = wsc_payload_materialize(st->raw, &x->env, &p, &n);
          if (!rc) rc = wsref_buf_append(&b, p ? p : (const uint8_t *)"", n);
          free(p);
        }
        if (rc) {
          fail_error(x, "line %d: cannot build the bytes to send: %s", st->loc.line,
                     wsref_strerror(rc));
          wsref_buf_free(&b);
          break;
        }
        if (st->write.coalesce) {
          wsref_buf_append(&x->coalesce, wsref_buf_head(&b), wsref_buf_len(&b));
        } else {
          char what[48];
          sfmt(what, sizeof what, "line %d", st->loc.line);
          write_policy(x, wsref_buf_head(&b), wsref_buf_len(&b), &st->write, what);
        }
        wsref_buf_free(&b);
        break;
      }
      case WSC_STEP_FLUSH: {
        wsref_buf b = x->coalesce;
        x->coalesce = (wsref_buf)WSREF_BUF_INIT;
        char what[48];
        sfmt(what, sizeof what, "line %d (flush)", st->loc.line);
        write_policy(x, wsref_buf_head(&b) ? wsref_buf_head(&b) : (const uint8_t *)"",
                     wsref_buf_len(&b), &st->write, what);
        wsref_buf_free(&b);
        break;
      }
      case WSC_STEP_SLEEP:
        wsc_wirelog_note(&x->res->wire, rel(x), "line %d: sleep %llu ms", st->loc.line,
                         (unsigned long long)(st->sleep_us / 1000));
        sleep_until(x, wsc_now_us() + st->sleep_us);
        break;
      case WSC_STEP_EXPECT:
        run_expect(x, st);
        break;
      case WSC_STEP_DROP:
        harness_drop(x, "the harness drops the connection (drop)");
        break;
      case WSC_STEP_SHUTDOWN:
        if (!x->ended) wsc_conn_shutdown_write(&x->conn);
        break;
    }
  }
}

/* After the last step: end the connection politely, without judging the exchange. */
static void polite_close(cx *x) {
  if (x->ended) return;
  if (!x->upgraded) {
    /* no WebSocket to close: note whether the target already ended it, then drop */
    pump(x, wsc_now_us());
    harness_drop(x, "the harness closes the connection (no upgrade)");
    return;
  }
  send_replies(x);
  if (!x->close_sent && !x->ended && !x->conn.wr_shut && !x->stalled && !tx_mid_frame(x)) {
    uint8_t pl[2] = {0x03, 0xE8};
    wsref_buf b = WSREF_BUF_INIT;
    if (!emit_frame(&b, true, 0, WSREF_OP_CLOSE, WSC_MASK_RANDOM, NULL, 2, WSC_LEN_AUTO, pl, 2)) {
      x->close_sent = true;
      x->close_sent_code = 1000;
      x->t_close_sent = rel(x);
      static const struct wsc_write whole = {0, 0, NULL, 0, false};
      write_policy(x, wsref_buf_head(&b), wsref_buf_len(&b), &whole, "closing");
    }
    wsref_buf_free(&b);
  }
  uint64_t until = wsc_now_us() + x->rn->opt.close_wait_us;
  while (!x->ended && wsc_now_us() < until) {
    pump(x, until);
    send_replies(x);
  }
  harness_drop(x, "the harness closes the connection after the last step");
}

static char *join_clauses(const struct wsc_case *c) {
  char *s = NULL;
  for (size_t i = 0; i < c->nclauses; i++)
    if (join_append(&s, c->clauses[i])) break;
  return s;
}

static void fill_meta(wsc_result *res, const struct wsc_case *c) {
  res->id = wsc_strdup(c->id);
  res->title = wsc_strdup(c->title);
  res->alias = wsc_strdup(c->alias);
  res->clause = join_clauses(c);
  res->level = wsc_strdup(wsc_level_name(c->level));
  size_t al = strcspn(c->id ? c->id : "", ".");
  res->area = wsc_strndup(c->id ? c->id : "", al);
  for (size_t i = 0; i < c->ntags; i++) wsc_strv_push(&res->tags, &res->ntags, c->tags[i]);
  res->file = wsc_strdup(c->loc.file);
  res->line = c->loc.line;
}

static enum wsc_verdict verdict_of(cx *x) {
  wsc_result *res = x->res;
  if (x->error) return WSC_ERROR;
  enum wsc_verdict v;
  switch (x->worst) {
    case WSC_GRADE_PASS:
      v = WSC_PASS;
      break;
    case WSC_GRADE_NON_STRICT:
      v = WSC_NON_STRICT;
      break;
    case WSC_GRADE_INFO:
      v = WSC_INFO;
      break;
    default:
      v = WSC_FAIL;
      break;
  }
  if (x->c->level == WSC_LEVEL_SHOULD && v == WSC_FAIL) v = WSC_NON_STRICT;
  if (x->c->level == WSC_LEVEL_MAY && v == WSC_FAIL) v = WSC_INFO;
  if (x->c->level == WSC_LEVEL_INFO) v = WSC_INFO;
  /* checks on what the requirement would have negotiated are moot without it */
  if (x->unsupported) v = WSC_UNSUPPORTED;
  if (res->nfindings) v = WSC_FAIL;
  return v;
}

void wsc_runner_run_case(wsc_runner *rn, const struct wsc_case *c, wsc_result *res) {
  memset(res, 0, sizeof *res);
  res->close.sent_code = -1;
  res->close.code = -1;
  fill_meta(res, c);
  cx *x = calloc(1, sizeof *x);
  if (!x) {
    res->verdict = WSC_ERROR;
    wsc_result_set_reason(res, "out of memory");
    return;
  }
  x->rn = rn;
  x->c = c;
  x->res = res;
  wsc_conn_init(&x->conn);
  x->close_reply_code = -2;
  x->close_sent_code = -1;
  x->close_rcvd_code = -1;
  res->wire.max_stored = rn->opt.wire_cap;
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  char iso[32];
  wsc_iso_time(iso, (long long)wall.tv_sec, wall.tv_nsec);
  res->started = strdup(iso);
  x->t0 = wsc_now_us();
  x->deadline = x->t0 + (c->timeout_us ? c->timeout_us : rn->opt.timeout_us);

  uint8_t nonce[16];
  if (random_bytes(nonce, sizeof nonce)) {
    fail_error(x, "no randomness for the key");
  }
  wsref_key_encode(nonce, x->key);
  x->env.host = rn->url.host_header;
  x->env.target = rn->url.target;
  x->env.key = x->key;
  x->env.origin = rn->opt.origin;

  if (c->role != WSC_ROLE_SERVER) {
    fail_error(x, "role %s is not supported by this runner", wsc_role_name(c->role));
  } else if (!x->error) {
    char err[256];
    int rc = wsc_conn_open(&x->conn, &rn->url, &rn->opt.conn, rn->tls,
                           x->t0 + rn->opt.connect_timeout_us, &res->wire, x->t0, err, sizeof err);
    if (rc) {
      fail_error(x, "cannot connect: %s", err);
      x->tcp_end = WSC_TCP_NEVER;
    } else {
      x->connected = true;
      size_t pipelined = 0;
      if (do_handshake(x, &pipelined)) {
        if (finish_handshake(x, pipelined)) run_steps(x, pipelined, c->nsteps);
      }
      if (!x->error) polite_close(x);
    }
  }
  wsc_conn_close(&x->conn);
  if (x->connected && !x->ended) mark_end(x, WSC_TCP_HARNESS, rel(x));

  /* close behaviour */
  wsc_close_info *ci = &res->close;
  ci->initiated_by = x->connected ? initiated_by(x) : WSC_SIDE_NONE;
  ci->sent = x->close_sent;
  ci->sent_code = x->close_sent ? x->close_sent_code : -1;
  ci->received = x->close_rcvd;
  ci->code = x->close_rcvd ? x->close_rcvd_code : -1;
  if (x->close_reason_len) {
    ci->reason = (uint8_t *)wsc_memdup(x->close_reason, x->close_reason_len);
    ci->reason_len = ci->reason ? x->close_reason_len : 0;
  }
  ci->tcp = x->connected ? x->tcp_end : WSC_TCP_NEVER;
  ci->clean = clean_close(x);
  ci->t_us = x->t_end;

  res->verdict = verdict_of(x);
  if (res->nfindings && res->verdict == WSC_FAIL && x->worst != WSC_GRADE_FAIL) {
    const wsc_finding *f = &res->findings[0];
    wsc_result_set_reason(res, "strict observer: %s %s: %s%s", f->clause, f->rule, f->message,
                          res->nfindings > 1 ? " (and more findings)" : "");
  } else if (x->why && res->verdict != WSC_PASS) {
    wsc_result_set_reason(res, "%s", x->why);
  } else if (res->verdict == WSC_PASS) {
    wsc_result_set_reason(res, "as expected");
  } else if (res->verdict == WSC_INFO) {
    wsc_result_set_reason(res, "recorded (informational)");
  }
  wsc_wirelog_finish(&res->wire);
  if (res->verdict == WSC_PASS || res->verdict == WSC_INFO) {
    wsc_wirelog_trim(&res->wire, rn->opt.wire_pass_cap);
    wsc_result_trim_events(res, PASS_EVENT_KEEP);
  }
  res->duration_us = wsc_now_us() - x->t0;

  if (x->obs_on) wsc_observer_free(&x->obs);
  pend_consume(x, x->npend);
  free(x->pend);
  wsref_buf_free(&x->replies);
  wsref_buf_free(&x->coalesce);
  free(x->why);
  free(x);
}

/* ------------------------------------------------------------------------------------------
 * Parallel runs
 */

typedef struct pool {
  wsc_runner *rn;
  const struct wsc_case *const *cases;
  size_t n;
  wsc_result *out;
  pthread_mutex_t mu;
  size_t next, done;
} pool;

static void *worker(void *arg) {
  pool *p = arg;
  for (;;) {
    pthread_mutex_lock(&p->mu);
    size_t i = p->next < p->n ? p->next++ : p->n;
    pthread_mutex_unlock(&p->mu);
    if (i >= p->n) break;
    wsc_runner_run_case(p->rn, p->cases[i], &p->out[i]);
    pthread_mutex_lock(&p->mu);
    p->done++;
    if (p->rn->opt.progress) p->rn->opt.progress(p->rn->opt.progress_ud, p->done, p->n, &p->out[i]);
    pthread_mutex_unlock(&p->mu);
  }
  return NULL;
}

int wsc_runner_run(wsc_runner *rn, const struct wsc_case *const *cases, size_t n, wsc_run *run) {
  if (!n) return 0;
  wsc_result *out = calloc(n, sizeof *out);
  if (!out) return WSREF_E_NOMEM;
  pool p = {rn, cases, n, out, PTHREAD_MUTEX_INITIALIZER, 0, 0};
  unsigned jobs = rn->opt.jobs ? rn->opt.jobs : 1;
  if (jobs > n) jobs = (unsigned)n;
  pthread_t *th = calloc(jobs, sizeof *th);
  if (!th) {
    free(out);
    return WSREF_E_NOMEM;
  }
  unsigned started = 0;
  for (unsigned i = 1; i < jobs; i++) {
    if (pthread_create(&th[i], NULL, worker, &p) != 0) break;
    started++;
  }
  worker(&p); /* the calling thread works too */
  for (unsigned i = 1; i <= started; i++) pthread_join(th[i], NULL);
  free(th);
  int rc = 0;
  for (size_t i = 0; i < n; i++) {
    wsc_result *r = wsc_run_add(run);
    if (!r) {
      rc = WSREF_E_NOMEM;
      wsc_result_free(&out[i]);
      continue;
    }
    *r = out[i];
  }
  free(out);
  pthread_mutex_destroy(&p.mu);
  return rc;
}
