#include "runner.h"

#include <curl/curl.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <regex.h>
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
#include "stompwire.h"

/* Payload octets of each observed event kept in the result: the wire log holds the bytes,
 * the event keeps enough to read and its full length and SHA-256. */
#define EVENT_KEEP 1024
/* ... and of PASS/INFO results, whose evidence nobody needs to argue. */
#define PASS_EVENT_KEEP 64
/* A response head larger than this is a failed handshake, not a reason to buffer forever. */
#define RESPONSE_HEAD_MAX 65536
/* poll() watches at most this many connections of one case */
#define MAX_CONNS 64

/* snprintf for explanations: truncation is fine (and vsnprintf keeps -Wformat-truncation quiet
 * about what we accept). */
static void sfmt(char *out, size_t cap, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void sfmt(char *out, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(out, cap, fmt, ap);
  va_end(ap);
}

/* The bytes of a buffer, "" when it has none (never a null pointer plus an offset). */
static const uint8_t *bhead(const wsref_buf *b) {
  return wsref_buf_len(b) ? wsref_buf_head(b) : (const uint8_t *)"";
}

struct wsc_runner {
  wsc_runner_options opt;
  wsc_url url;
  wsc_url stomp_url;
  bool has_stomp_url;
  char *run_id;
  char *stomp_host; /* the default $stomp_host: the STOMP target's host name */
  void *tls;
  bool curl_init;
};

void wsc_runner_options_default(wsc_runner_options *o) {
  memset(o, 0, sizeof *o);
  o->timeout_us = WSC_TIMEOUT_DEFAULT_US;
  o->connect_timeout_us = WSC_CONNECT_TIMEOUT_DEFAULT_US;
  o->close_wait_us = WSC_CLOSE_WAIT_DEFAULT_US;
  o->stomp_error_wait_us = WSC_STOMP_ERROR_WAIT_DEFAULT_US;
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
  if (!r->opt.stomp_error_wait_us) r->opt.stomp_error_wait_us = WSC_STOMP_ERROR_WAIT_DEFAULT_US;
  if (!r->opt.jobs) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    r->opt.jobs = n > 0 ? (unsigned)n : 1;
  }
  *rc = wsc_url_parse(o->url ? o->url : "", &r->url, err, err_len);
  if (*rc) {
    free(r);
    return NULL;
  }
  if (o->stomp_url) {
    char e2[200];
    *rc = wsc_url_parse(o->stomp_url, &r->stomp_url, e2, sizeof e2);
    if (*rc) {
      sfmt(err, err_len, "STOMP URL: %s", e2);
      wsc_url_free(&r->url);
      free(r);
      return NULL;
    }
    r->has_stomp_url = true;
  }
  if (o->run_id) {
    r->run_id = strdup(o->run_id);
  } else {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (asprintf(&r->run_id, "%lx%x", (unsigned long)ts.tv_sec, (unsigned)getpid()) < 0)
      r->run_id = NULL;
  }
  r->stomp_host = strdup(r->has_stomp_url ? r->stomp_url.host : r->url.host);
  if (!r->run_id || !r->stomp_host) {
    *rc = WSREF_E_NOMEM;
    sfmt(err, err_len, "out of memory");
    wsc_runner_free(r);
    return NULL;
  }
  if (r->opt.conn.proxy) {
    /* libcurl's global setup is not thread-safe: do it here, before any worker exists */
    curl_global_init(CURL_GLOBAL_DEFAULT);
    r->curl_init = true;
  }
  if ((r->url.tls || (r->has_stomp_url && r->stomp_url.tls)) && !r->opt.conn.proxy) {
    r->tls = wsc_tls_ctx_new(&r->opt.conn, err, err_len);
    if (!r->tls) {
      *rc = WSREF_E_TLS;
      wsc_runner_free(r);
      return NULL;
    }
  }
  *rc = 0;
  return r;
}

void wsc_runner_free(wsc_runner *r) {
  if (!r) return;
  wsc_url_free(&r->url);
  if (r->has_stomp_url) wsc_url_free(&r->stomp_url);
  free(r->run_id);
  free(r->stomp_host);
  if (r->tls) wsc_tls_ctx_free(r->tls);
  if (r->curl_init) curl_global_cleanup();
  free(r);
}

static int probe_url(wsc_runner *r, const wsc_url *u, char *err, size_t err_len) {
  wsc_conn c;
  wsc_conn_init(&c);
  uint64_t now = wsc_now_us();
  int rc = wsc_conn_open(&c, u, &r->opt.conn, r->tls, now + r->opt.connect_timeout_us, NULL, now,
                         err, err_len);
  if (!rc) wsc_conn_close(&c);
  return rc;
}

int wsc_runner_probe(wsc_runner *r, char *err, size_t err_len) {
  int rc = probe_url(r, &r->url, err, err_len);
  if (rc || !r->has_stomp_url) return rc;
  if (strcmp(r->stomp_url.host, r->url.host) == 0 && r->stomp_url.port == r->url.port &&
      r->stomp_url.tls == r->url.tls)
    return 0;
  char e2[256];
  rc = probe_url(r, &r->stomp_url, e2, sizeof e2);
  if (rc) sfmt(err, err_len, "STOMP target: %s", e2);
  return rc;
}

/* The URL a case runs against. */
static const wsc_url *case_url(const wsc_runner *r, const struct wsc_case *c) {
  return c->stomp && r->has_stomp_url ? &r->stomp_url : &r->url;
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

/* decl: the connection's declaration (its subprotocols replace the case's), or NULL. */
static int build_request(const wsc_runner *r, const struct wsc_case *c,
                         const struct wsc_conn_decl *decl, const char *key,
                         const struct wsc_payload_env *env, uint8_t **out, size_t *len) {
  const struct wsc_handshake *hs = &c->hs;
  const wsc_url *u = case_url(r, c);
  if (hs->raw) return wsc_payload_materialize(hs->raw, env, out, len);
  hdrs h = {0, 0};
  int rc = 0;
  rc |= hdrs_adds(&h, "Host", u->host_header);
  rc |= hdrs_adds(&h, "Upgrade", "websocket");
  rc |= hdrs_adds(&h, "Connection", "Upgrade");
  rc |= hdrs_adds(&h, "Sec-WebSocket-Key", key);
  rc |= hdrs_adds(&h, "Sec-WebSocket-Version", "13");
  if (r->opt.origin) rc |= hdrs_adds(&h, "Origin", r->opt.origin);
  char *protos = NULL, *exts = NULL;
  if (r->opt.subprotocol) rc |= join_append(&protos, r->opt.subprotocol);
  bool own = decl && decl->nsubprotocols;
  for (size_t i = 0; own && i < decl->nsubprotocols; i++)
    rc |= join_append(&protos, decl->subprotocols[i]);
  for (size_t i = 0; i < c->nrequires; i++) {
    if (c->requires[i].kind == WSC_REQ_SUBPROTOCOL) {
      if (!own) rc |= join_append(&protos, c->requires[i].value);
    } else {
      rc |= join_append(&exts, c->requires[i].value);
    }
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
                           hs->target ? hs->target : u->target,
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
  const wsc_url *u = case_url(r, c);
  struct wsc_payload_env env = {u->host_header, u->target, key,  r->opt.origin,
                                r->run_id,      c->id,     NULL, NULL};
  return build_request(r, c, c->nconns ? &c->conns[0] : NULL, key, &env, out, len);
}

/* ------------------------------------------------------------------------------------------
 * Per-case execution state: the case (cx) and each of its connections (pconn)
 */

typedef struct cx cx;

typedef struct pconn {
  cx *x;
  size_t idx;
  const char *name;                 /* in evidence only when the case has several */
  const struct wsc_conn_decl *decl; /* NULL: a plain WebSocket case's only connection */
  bool stomp;
  wsc_conn conn;
  wsc_wirelog *log; /* the result's log (one connection) or own (several) */
  wsc_wirelog own;
  char key[WSREF_KEY_LEN + 1];
  struct wsc_payload_env env;
  wsc_observer obs;
  bool obs_on;
  wsc_stomp_obs *sobs;
  uint8_t *request; /* the request as sent */
  size_t request_len;

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
  bool tx_mid;  /* our own frame is incomplete on the wire */
  bool tx_data; /* the frame being sent is a data frame (its payload is STOMP for tracking) */
  uint8_t tx_close[WSREF_CONTROL_MAX];
  size_t tx_close_len;
  wsref_buf replies; /* pongs due */
  wsref_buf coalesce;
  wsref_buf spack; /* STOMP bytes gathered by `stomp coalesce` */

  wsc_stomp_msg last; /* the last STOMP frame an expectation matched (for captures) */
  bool has_last;
  int last_line;
} pconn;

struct cx {
  wsc_runner *rn;
  const struct wsc_case *c;
  const wsc_url *url;
  wsc_result *res;
  uint64_t t0;
  uint64_t deadline;
  pconn *pc;
  size_t npc;
  bool multi; /* several connections: evidence names them */

  char **cap_names, **cap_values; /* captures, in the order first set */
  size_t ncap;

  enum wsc_grade worst;
  bool error;
  bool unsupported;
  char *why; /* the first non-PASS explanation */
  enum wsc_grade why_grade;
};

static uint64_t rel(const cx *x) {
  return wsc_now_us() - x->t0;
}

/* "a: " in a case with several connections, else "". */
static const char *cpfx(const pconn *p, char *buf, size_t cap) {
  if (!p->x->multi || !p->name) return "";
  sfmt(buf, cap, "%s: ", p->name);
  return buf;
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

/* Captured values, for $name in payloads and texts. */
static const char *capture_get(void *ud, const char *name) {
  const cx *x = ud;
  for (size_t i = 0; i < x->ncap; i++)
    if (strcmp(x->cap_names[i], name) == 0) return x->cap_values[i];
  return NULL;
}

static int capture_set(cx *x, const char *name, const char *value, size_t n) {
  char *v = wsc_strndup(value, n);
  if (!v) return WSREF_E_NOMEM;
  for (size_t i = 0; i < x->ncap; i++)
    if (strcmp(x->cap_names[i], name) == 0) {
      free(x->cap_values[i]);
      x->cap_values[i] = v;
      return 0;
    }
  char **nn = realloc(x->cap_names, (x->ncap + 1) * sizeof *nn);
  if (nn) x->cap_names = nn;
  char **nv = realloc(x->cap_values, (x->ncap + 1) * sizeof *nv);
  if (nv) x->cap_values = nv;
  char *name_copy = strdup(name);
  if (!nn || !nv || !name_copy) {
    free(v);
    free(name_copy);
    return WSREF_E_NOMEM;
  }
  x->cap_names[x->ncap] = name_copy;
  x->cap_values[x->ncap] = v;
  x->ncap++;
  return 0;
}

/* The STOMP version frames of this connection are read and written with. */
static int stomp_version(const pconn *p) {
  return p->sobs ? wsc_stomp_obs_version(p->sobs) : 12;
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

static void describe_event(char *out, size_t cap, const wsc_event *e, int sv) {
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
    case WSC_EV_STOMP:
      wsc_stomp_describe(out, cap, e->data, e->data_len, sv);
      break;
    case WSC_EV_HEARTBEAT:
      sfmt(out, cap, "a heart-beat (%llu EOL octets)", (unsigned long long)e->len);
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

static int pend_push(pconn *p, const wsc_event *ev) {
  if (p->npend == p->cappend) {
    size_t nc = p->cappend ? p->cappend * 2 : 16;
    wsc_event *q = realloc(p->pend, nc * sizeof *q);
    if (!q) return WSREF_E_NOMEM;
    p->pend = q;
    p->cappend = nc;
  }
  p->pend[p->npend++] = *ev;
  return 0;
}

static void pend_consume(pconn *p, size_t n) {
  for (size_t i = 0; i < n && i < p->npend; i++) wsc_event_free(&p->pend[i]);
  if (n > p->npend) n = p->npend;
  if (!n) return;
  memmove(p->pend, p->pend + n, (p->npend - n) * sizeof *p->pend);
  p->npend -= n;
}

/* The result keeps a capped copy of every event. */
static void record_event(pconn *p, const wsc_event *ev) {
  wsc_event copy = *ev;
  if (copy.data_len > EVENT_KEEP) copy.data_len = EVENT_KEEP;
  copy.conn = p->x->multi ? (char *)p->name : NULL;
  if (wsc_result_add_event(p->x->res, &copy)) p->x->error = true;
}

static void mark_end(pconn *p, enum wsc_tcp_end how, uint64_t t) {
  if (p->ended) return;
  p->ended = true;
  p->tcp_end = how;
  p->t_end = t;
  if (p->obs_on && wsc_observer_partial(&p->obs))
    wsc_wirelog_note(p->log, t, "the connection ended inside a frame or message");
  if (p->sobs) {
    wsc_stomp_obs_end(p->sobs, t, p->obs_on ? p->obs.rx_off : 0);
    wsc_event sev;
    while (wsc_stomp_obs_next(p->sobs, &sev)) {
      record_event(p, &sev);
      if (pend_push(p, &sev)) {
        wsc_event_free(&sev);
        p->x->error = true;
      }
    }
  }
  if (how == WSC_TCP_TARGET_FIN || how == WSC_TCP_TARGET_RESET) {
    wsc_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = how == WSC_TCP_TARGET_FIN ? WSC_EV_TCP_FIN : WSC_EV_TCP_RESET;
    ev.t_us = t;
    ev.code = -1;
    record_event(p, &ev);
    pend_push(p, &ev);
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

static int build_frames(pconn *p, const struct wsc_frame_spec *f, wsref_buf *out) {
  uint8_t *b = NULL;
  size_t n = 0;
  int rc = wsc_payload_materialize(f->payload, &p->env, &b, &n);
  if (rc) return rc;
  if (f->fragment_size > 0) {
    size_t pieces = n == 0 ? 1 : (size_t)((n + f->fragment_size - 1) / f->fragment_size);
    for (size_t i = 0; i < pieces && !rc; i++) {
      size_t off = (size_t)(i * f->fragment_size);
      size_t len = n - off < f->fragment_size ? n - off : (size_t)f->fragment_size;
      rc = emit_frame(out, i + 1 == pieces, i == 0 ? f->rsv : 0, i == 0 ? f->opcode : 0, f->mask,
                      f->key, len, WSC_LEN_AUTO, b + off, len);
    }
  } else {
    rc = emit_frame(out, f->fin, f->rsv, f->opcode, f->mask, f->key, f->has_len ? f->len : n,
                    f->len_form, b, n);
  }
  free(b);
  return rc;
}

/* ---- input ---- */

static void on_event(pconn *p, wsc_event *ev) {
  /* a STOMP connection's data messages are STOMP: its events are the frames */
  if (p->sobs && (ev->type == WSC_EV_TEXT || ev->type == WSC_EV_BINARY)) {
    if (wsc_stomp_obs_message(p->sobs, ev->data ? ev->data : (const uint8_t *)"", ev->data_len,
                              ev->opcode, ev->t_us, p->obs.rx_off))
      p->x->error = true;
    wsc_event_free(ev);
    wsc_event sev;
    while (wsc_stomp_obs_next(p->sobs, &sev)) {
      record_event(p, &sev);
      if (pend_push(p, &sev)) {
        wsc_event_free(&sev);
        p->x->error = true;
      }
    }
    return;
  }
  record_event(p, ev);
  if (ev->type == WSC_EV_PING && !p->close_sent && !p->ended) {
    /* a conformant client answers; the answer waits for the next step boundary */
    emit_frame(&p->replies, true, 0, WSREF_OP_PONG, WSC_MASK_RANDOM, NULL, ev->len, WSC_LEN_AUTO,
               ev->data, ev->data_len);
  }
  if (ev->type == WSC_EV_CLOSE && !p->close_rcvd) {
    p->close_rcvd = true;
    p->close_rcvd_code = ev->code;
    p->t_close_rcvd = ev->t_us;
    size_t rl = ev->data_len > 2 ? ev->data_len - 2 : 0;
    if (rl > sizeof p->close_reason) rl = sizeof p->close_reason;
    if (rl) memcpy(p->close_reason, ev->data + 2, rl);
    p->close_reason_len = rl;
    if (!p->close_sent) {
      /* echo a valid code; fail a broken close frame with 1002 (1007 for a bad reason) */
      wsref_close_status st;
      int prc = wsref_close_parse(ev->data, ev->data_len, &st);
      p->close_reply_code = prc == 0                           ? (st.code ? st.code : -1)
                            : prc == WSREF_E_CLOSE_REASON_UTF8 ? WSREF_CLOSE_BAD_DATA
                                                               : WSREF_CLOSE_PROTOCOL_ERROR;
    }
  }
  if (pend_push(p, ev)) {
    wsc_event_free(ev);
    p->x->error = true;
  }
}

static void process_rx(pconn *p) {
  size_t n = wsref_buf_len(&p->conn.rx);
  if (n && p->obs_on) {
    if (wsc_observer_feed(&p->obs, wsref_buf_head(&p->conn.rx), n, rel(p->x))) p->x->error = true;
    wsref_buf_consume(&p->conn.rx, n);
    wsc_event ev;
    while (wsc_observer_next(&p->obs, &ev)) on_event(p, &ev);
  }
  if (p->conn.eof)
    mark_end(p, WSC_TCP_TARGET_FIN, p->conn.t_end);
  else if (p->conn.reset)
    mark_end(p, WSC_TCP_TARGET_RESET, p->conn.t_end);
}

/* Wait for input on any live connection of the case until `until`; returns true if anything
 * happened. Every connection is read, so that heart-beats, pings and answers on one are
 * timed and answered while a step waits on another. */
static bool pump(cx *x, uint64_t until) {
  wsc_conn *cs[MAX_CONNS];
  pconn *ps[MAX_CONNS];
  bool ready[MAX_CONNS];
  size_t n = 0;
  for (size_t i = 0; i < x->npc && n < MAX_CONNS; i++) {
    pconn *p = &x->pc[i];
    if (!p->connected || p->ended) continue;
    cs[n] = &p->conn;
    ps[n++] = p;
  }
  if (!n) return false; /* nothing can arrive any more; the caller's timers decide */
  int k = wsc_conn_wait_any(cs, n, until, ready);
  if (k == WSREF_E_TIMEOUT) return false;
  bool any = false;
  for (size_t i = 0; i < n; i++) {
    if (k > 0 && !ready[i]) continue;
    pconn *p = ps[i];
    int rc = k < 0 ? k : wsc_conn_read(&p->conn, wsc_now_us());
    if (rc == WSREF_E_TIMEOUT) continue;
    if (rc < 0) {
      p->conn.reset = true;
      p->conn.t_end = rel(x);
    }
    process_rx(p);
    any = true;
  }
  return any;
}

static void send_replies(pconn *p);

static void send_replies_all(cx *x) {
  for (size_t i = 0; i < x->npc; i++) send_replies(&x->pc[i]);
}

static bool all_ended(const cx *x) {
  for (size_t i = 0; i < x->npc; i++)
    if (x->pc[i].connected && !x->pc[i].ended) return false;
  return true;
}

static void sleep_until(cx *x, uint64_t until) {
  while (wsc_now_us() < until) {
    if (all_ended(x)) {
      uint64_t left = until - wsc_now_us();
      if ((int64_t)left <= 0) break;
      struct timespec ts = {(time_t)(left / 1000000), (long)(left % 1000000) * 1000};
      nanosleep(&ts, NULL);
      break;
    }
    pump(x, until);
    send_replies_all(x); /* a no-op inside a write sequence */
  }
}

/* A pause the case asks for (sleep, delay=). A pause that would outlast the case timeout
 * waits until the timeout only, and ends the case as ERROR: a case problem, not the
 * target's (a chopped 64 KiB payload with delay=10 would otherwise run for 11 minutes). */
static bool pause_within_timeout(cx *x, uint64_t us, const char *what) {
  uint64_t until = wsc_now_us() + us;
  if (until <= x->deadline) {
    sleep_until(x, until);
    return true;
  }
  sleep_until(x, x->deadline);
  fail_error(x, "%s: the pauses the case asks for outlast its timeout (%llu ms); raise timeout= "
             "or shorten the pauses", what, (unsigned long long)((x->deadline - x->t0) / 1000));
  return false;
}

/* ---- output ---- */

static void track_tx(pconn *p, const uint8_t *b, size_t n) {
  if (!p->tx_track || !n) return;
  uint8_t *copy = malloc(n); /* the parser unmasks in place */
  if (!copy) {
    p->tx_track = false;
    if (p->sobs) wsc_stomp_obs_untracked(p->sobs);
    return;
  }
  memcpy(copy, b, n);
  size_t pos = 0;
  for (;;) {
    wsref_frame_event ev;
    ssize_t k = wsref_frame_parse(&p->txp, copy + pos, n - pos, &ev);
    if (k < 0) {
      p->tx_track = false; /* a deliberately broken frame: nothing more to learn */
      if (p->sobs) wsc_stomp_obs_untracked(p->sobs);
      break;
    }
    pos += (size_t)k;
    if (ev.type == WSREF_FRAME_EV_NONE) break;
    if (ev.type == WSREF_FRAME_EV_HEADER) {
      p->tx_mid = true;
      p->tx_data = !wsref_opcode_is_control(ev.header->opcode);
    }
    if (ev.type == WSREF_FRAME_EV_END) p->tx_mid = false;
    if (ev.type == WSREF_FRAME_EV_PAYLOAD && p->tx_data && p->sobs)
      wsc_stomp_obs_sent(p->sobs, ev.data, ev.len);
    if (ev.header->opcode != WSREF_OP_CLOSE) continue;
    if (ev.type == WSREF_FRAME_EV_HEADER) {
      p->tx_close_len = 0;
    } else if (ev.type == WSREF_FRAME_EV_PAYLOAD) {
      size_t room = sizeof p->tx_close - p->tx_close_len;
      size_t k2 = ev.len < room ? ev.len : room;
      memcpy(p->tx_close + p->tx_close_len, ev.data, k2);
      p->tx_close_len += k2;
    } else if (ev.type == WSREF_FRAME_EV_END && !p->close_sent) {
      p->close_sent = true;
      p->t_close_sent = rel(p->x);
      p->close_sent_code = p->tx_close_len >= 2 ? p->tx_close[0] << 8 | p->tx_close[1] : -1;
    }
  }
  free(copy);
}

/* Writes bytes cut as the policy says. Returns false if nothing could be written. */
static bool write_policy(pconn *p, const uint8_t *b, size_t n, const struct wsc_write *w,
                         const char *what) {
  cx *x = p->x;
  if (p->ended || p->conn.wr_shut || p->stalled) {
    wsc_wirelog_note(p->log, rel(x), "%s not sent: the connection is %s", what,
                     p->ended     ? "closed"
                     : p->stalled ? "stalled"
                                  : "half-closed");
    return false;
  }
  if (n == 0) return true;
  p->in_write = true;
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
    if (off > 0 && w->delay_us && !pause_within_timeout(x, w->delay_us, what)) {
      wsc_wirelog_note(p->log, rel(x), "%s: %zu of %zu octets not sent: the case timeout passed",
                       what, n - off, n);
      ok = off > 0;
      break;
    }
    if (p->ended) {
      wsc_wirelog_note(p->log, rel(x), "%s: %zu of %zu octets not sent: connection closed", what,
                       n - off, n);
      ok = off > 0;
      break;
    }
    uint64_t before = p->conn.log ? p->log->total[WSC_WIRE_TX] : 0;
    int rc = wsc_conn_write(&p->conn, b + off, end - off, x->deadline);
    /* what reached the socket counts as sent before anything the target answers */
    track_tx(
        p, b + off,
        p->conn.log ? (size_t)(p->log->total[WSC_WIRE_TX] - before) : (rc == 0 ? end - off : 0));
    process_rx(p);
    if (rc == WSREF_E_CLOSED) {
      mark_end(p, p->conn.eof ? WSC_TCP_TARGET_FIN : WSC_TCP_TARGET_RESET, rel(x));
      ok = off > 0;
      break;
    }
    if (rc == WSREF_E_TIMEOUT) {
      p->stalled = true;
      wsc_wirelog_note(p->log, rel(x),
                       "%s: write timed out with %zu octets unsent (the target stopped reading)",
                       what, n - off);
      ok = off > 0;
      break;
    }
    if (rc < 0) {
      mark_end(p, WSC_TCP_TARGET_RESET, rel(x));
      ok = off > 0;
      break;
    }
    off = end;
  }
  p->in_write = false;
  return ok;
}

/* Inside a frame the case left incomplete: a frame of ours there would corrupt it. */
static bool tx_mid_frame(const pconn *p) {
  return p->tx_track && (p->tx_mid || p->txp.hhave > 0);
}

/* Step boundary: send the pongs and close reply that incoming frames asked for. */
static void send_replies(pconn *p) {
  if (p->in_write || p->ended || p->conn.wr_shut || p->stalled || !p->connected) return;
  if (p->coalesce.end != p->coalesce.start) return; /* never inside a coalesced write */
  if (tx_mid_frame(p)) return;
  static const struct wsc_write whole = {0, 0, NULL, 0, false};
  if (wsref_buf_len(&p->replies)) {
    wsref_buf b = p->replies;
    p->replies = (wsref_buf)WSREF_BUF_INIT;
    write_policy(p, wsref_buf_head(&b), wsref_buf_len(&b), &whole, "pong");
    wsref_buf_free(&b);
  }
  if (p->close_rcvd && !p->close_sent && !p->ended) {
    uint8_t pl[2];
    size_t pn = 0;
    if (p->close_reply_code >= 0) {
      pl[0] = (uint8_t)(p->close_reply_code >> 8);
      pl[1] = (uint8_t)p->close_reply_code;
      pn = 2;
    }
    wsref_buf b = WSREF_BUF_INIT;
    if (!emit_frame(&b, true, 0, WSREF_OP_CLOSE, WSC_MASK_RANDOM, NULL, pn, WSC_LEN_AUTO, pl, pn)) {
      p->close_sent = true;
      p->close_sent_code = p->close_reply_code >= 0 ? p->close_reply_code : -1;
      p->t_close_sent = rel(p->x);
      write_policy(p, wsref_buf_head(&b), wsref_buf_len(&b), &whole, "close reply");
    }
    wsref_buf_free(&b);
  }
}

/* ------------------------------------------------------------------------------------------
 * Texts with $names (STOMP headers): the runner's half of cases/README.md section 17
 */

static int interp_text(pconn *p, const struct wsc_text *t, wsref_buf *out, int depth);

static int interp_opt(pconn *p, const struct wsc_text *own, const char *dflt, wsref_buf *out,
                      int depth) {
  if (own) return interp_text(p, own, out, depth + 1);
  return dflt ? wsref_buf_append(out, dflt, strlen(dflt)) : 0;
}

static int interp_var(pconn *p, const char *n, size_t len, wsref_buf *out, int depth) {
  cx *x = p->x;
  const wsc_runner_options *o = &x->rn->opt;
  const struct wsc_conn_decl *d = p->decl;
#define IS(s) (len == sizeof s - 1 && memcmp(n, s, len) == 0)
  if (IS("run")) return wsref_buf_append(out, x->rn->run_id, strlen(x->rn->run_id));
  if (IS("case")) return wsref_buf_append(out, x->c->id, strlen(x->c->id));
  if (IS("host")) return wsref_buf_append(out, p->env.host, strlen(p->env.host));
  if (IS("stomp_host"))
    return interp_opt(p, d ? d->host : NULL, o->stomp_host ? o->stomp_host : x->rn->stomp_host, out,
                      depth);
  if (IS("stomp_login")) return interp_opt(p, d ? d->login : NULL, o->stomp_login, out, depth);
  if (IS("stomp_passcode"))
    return interp_opt(p, d ? d->passcode : NULL, o->stomp_passcode, out, depth);
#undef IS
  char name[128];
  sfmt(name, sizeof name, "%.*s", (int)len, n);
  const char *v = capture_get(x, name);
  if (!v) return WSREF_E_INVALID_ARG; /* a capture that did not happen: the case failed */
  return wsref_buf_append(out, v, strlen(v));
}

static int interp_text(pconn *p, const struct wsc_text *t, wsref_buf *out, int depth) {
  if (depth > 2) return WSREF_E_INVALID_ARG; /* login=$stomp_login would loop */
  size_t run = 0;
  int rc = 0;
  for (size_t i = 0; i < t->n && !rc; i++) {
    if (t->s[i] != '$' || i + 1 >= t->n) continue;
    if (t->s[i + 1] == '$') {
      rc = wsref_buf_append(out, t->s + run, i + 1 - run);
      run = i + 2;
      i++;
      continue;
    }
    size_t a = i + 1;
    char c0 = t->s[a];
    if (!((c0 >= 'a' && c0 <= 'z') || (c0 >= 'A' && c0 <= 'Z') || c0 == '_')) continue;
    size_t b = a;
    while (b < t->n && ((t->s[b] >= 'a' && t->s[b] <= 'z') || (t->s[b] >= 'A' && t->s[b] <= 'Z') ||
                        (t->s[b] >= '0' && t->s[b] <= '9') || t->s[b] == '_'))
      b++;
    rc = wsref_buf_append(out, t->s + run, i - run);
    if (!rc) rc = interp_var(p, t->s + a, b - a, out, depth);
    run = b;
    i = run - 1;
  }
  if (!rc) rc = wsref_buf_append(out, t->s + run, t->n - run);
  return rc;
}

/* A NUL-terminated copy of an interpolated text (for comparisons and evidence). */
static char *interp_dup(pconn *p, const struct wsc_text *t, size_t *n) {
  wsref_buf b = WSREF_BUF_INIT;
  int rc = interp_text(p, t, &b, 0);
  char *s = rc ? NULL : wsc_strndup((const char *)bhead(&b), wsref_buf_len(&b));
  if (s && n) *n = wsref_buf_len(&b);
  wsref_buf_free(&b);
  return s;
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

static void match_desc(wsref_buf *b, const struct wsc_match *m, const struct wsc_payload_env *env,
                       bool stomp) {
  char t[200];
  if (m->payload) {
    payload_desc(t, sizeof t, m->payload, env);
    wsref_buf_appendf(b, stomp ? " body=%s" : " %s", t);
  }
  if (m->has_len) wsref_buf_appendf(b, " len=%llu", (unsigned long long)m->len);
  if (m->has_sha256) {
    wsref_buf_appendf(b, " sha256=");
    for (int i = 0; i < 32; i++) wsref_buf_appendf(b, "%02x", m->sha256[i]);
  }
}

static void text_desc(wsref_buf *b, const struct wsc_text *t) {
  char pv[160];
  bool plain = true;
  for (size_t i = 0; i < t->n; i++)
    if ((unsigned char)t->s[i] < 0x21 || t->s[i] == '"' || t->s[i] == '\\') plain = false;
  if (plain && t->n) {
    wsref_buf_appendf(b, "%.*s", (int)(t->n > 120 ? 120 : t->n), t->s);
  } else {
    preview(pv, sizeof pv, (const uint8_t *)t->s, t->n, t->n);
    wsref_buf_appendf(b, "%s", pv);
  }
}

static char *expect_desc(const struct wsc_expect *e, const struct wsc_payload_env *env) {
  wsref_buf b = WSREF_BUF_INIT;
  if (e->kind == WSC_EXP_STOMP)
    text_desc(&b, &e->stomp.command);
  else
    wsref_buf_appendf(&b, "%s", wsc_expect_kind_name(e->kind));
  switch (e->kind) {
    case WSC_EXP_FRAME:
      if (e->opcode >= 0) wsref_buf_appendf(&b, " %s", wsref_opcode_name((unsigned)e->opcode));
      if (e->fin >= 0) wsref_buf_appendf(&b, " fin=%d", e->fin);
      if (e->rsv >= 0) wsref_buf_appendf(&b, " rsv=%d", e->rsv);
      match_desc(&b, &e->match, env, false);
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
    case WSC_EXP_NO_FRAME:
      wsref_buf_appendf(&b, " for %llu ms", (unsigned long long)(e->duration_us / 1000));
      break;
    case WSC_EXP_HEARTBEAT:
      if (e->interval_permille)
        wsref_buf_appendf(&b, " within %u.%03ux the negotiated interval",
                          e->interval_permille / 1000, e->interval_permille % 1000);
      break;
    case WSC_EXP_STOMP: {
      const struct wsc_stomp_expect *se = &e->stomp;
      for (size_t i = 0; i < se->nheaders; i++) {
        const struct wsc_stomp_hmatch *h = &se->headers[i];
        wsref_buf_appendf(&b, " %s", h->op == WSC_HMO_ABSENT ? "!" : "");
        text_desc(&b, &h->name);
        if (h->op == WSC_HMO_PRESENT) wsref_buf_appendf(&b, "?");
        if (h->op == WSC_HMO_EQUALS || h->op == WSC_HMO_REGEX) {
          wsref_buf_appendf(&b, h->op == WSC_HMO_REGEX ? ":~" : ":");
          text_desc(&b, &h->value);
        }
      }
      match_desc(&b, &e->match, env, true);
      if (se->body_re.n) {
        wsref_buf_appendf(&b, " body=~");
        text_desc(&b, &se->body_re);
      }
      if (se->raw) {
        char t[200];
        payload_desc(t, sizeof t, se->raw, env);
        wsref_buf_appendf(&b, " raw=%s", t);
      }
      if (se->as > 0) wsref_buf_appendf(&b, " as=%s", se->as == 1 ? "text" : "binary");
      break;
    }
    default:
      match_desc(&b, &e->match, env, false);
      break;
  }
  if (e->timeout_us)
    wsref_buf_appendf(&b, " (within %llu ms)", (unsigned long long)(e->timeout_us / 1000));
  char *s = wsc_strndup((const char *)bhead(&b), wsref_buf_len(&b));
  wsref_buf_free(&b);
  return s;
}

/* Does the event's payload pass the match? */
static bool payload_ok(pconn *p, const struct wsc_match *m, const uint8_t *data, size_t data_len,
                       uint64_t len, bool has_sha, const uint8_t *sha, char *why, size_t cap) {
  cx *x = p->x;
  if (m->has_len && len != m->len) {
    sfmt(why, cap, "length %llu, expected %llu", (unsigned long long)len,
         (unsigned long long)m->len);
    return false;
  }
  if (m->has_sha256 && (!has_sha || memcmp(sha, m->sha256, 32) != 0)) {
    sfmt(why, cap, "SHA-256 differs");
    return false;
  }
  if (m->payload) {
    uint64_t want = 0;
    if (wsc_payload_length(m->payload, &p->env, &want) != 0) {
      sfmt(why, cap, "the expected payload cannot be read");
      x->error = true;
      return false;
    }
    if (want != len) {
      sfmt(why, cap, "length %llu, expected %llu", (unsigned long long)len,
           (unsigned long long)want);
      return false;
    }
    int eq;
    if (data_len == len) {
      eq = wsc_payload_equals(m->payload, &p->env, data, data_len);
    } else {
      /* only a prefix was kept: compare it, then the hash of the whole */
      uint8_t *full = NULL;
      size_t fl = 0;
      if (wsc_payload_materialize(m->payload, &p->env, &full, &fl) == 0) {
        uint8_t h[32];
        wsc_sha256(full, fl, h);
        eq = has_sha && memcmp(h, sha, 32) == 0 && memcmp(full, data, data_len) == 0;
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
      if (wsc_payload_materialize(m->payload, &p->env, &full, &fl) == 0) {
        size_t lim = fl < data_len ? fl : data_len;
        while (at < lim && full[at] == data[at]) at++;
        free(full);
      }
      sfmt(why, cap, "payload differs from octet %zu", at);
      return false;
    }
  }
  return true;
}

static bool regex_whole(void *re, const char *s, size_t n) {
  if (!re || memchr(s, 0, n)) return false;
  return regexec(re, s, 0, NULL, 0) == 0;
}

/* A STOMP frame against `expect COMMAND checks...`. */
static bool stomp_matches(pconn *p, const struct wsc_expect *e, const wsc_event *ev, char *why,
                          size_t cap) {
  const struct wsc_stomp_expect *se = &e->stomp;
  int sv = stomp_version(p);
  char d[300];
  describe_event(d, sizeof d, ev, sv);
  if (ev->type != WSC_EV_STOMP) {
    sfmt(why, cap, "got %s", d);
    return false;
  }
  wsc_stomp_msg m;
  if (wsc_stomp_parse(ev->data, ev->data_len, sv, &m) != 0) {
    sfmt(why, cap, "got %s", d);
    return false;
  }
  bool ok = true;
  char w[300] = "";
  char pv[120];
  if (m.command_len != se->command.n || memcmp(m.command, se->command.s, m.command_len) != 0) {
    ok = false;
  } else if (se->as > 0 && ev->opcode != (se->as == 1 ? WSREF_OP_TEXT : WSREF_OP_BINARY)) {
    sfmt(w, sizeof w, ": it came in a %s message", ev->opcode == WSREF_OP_TEXT ? "text" : "binary");
    ok = false;
  }
  for (size_t i = 0; ok && i < se->nheaders; i++) {
    const struct wsc_stomp_hmatch *h = &se->headers[i];
    const wsc_stomp_header *got = wsc_stomp_msg_header(&m, h->name.s, h->name.n);
    char nm[80];
    sfmt(nm, sizeof nm, "%.*s", (int)(h->name.n > 60 ? 60 : h->name.n), h->name.s);
    switch (h->op) {
      case WSC_HMO_PRESENT:
        if (!got) sfmt(w, sizeof w, ": no %s header", nm);
        ok = got != NULL;
        break;
      case WSC_HMO_ABSENT:
        if (got) {
          preview(pv, sizeof pv, (const uint8_t *)got->value, got->value_len, got->value_len);
          sfmt(w, sizeof w, ": it has %s:%s", nm, pv);
        }
        ok = got == NULL;
        break;
      case WSC_HMO_EQUALS: {
        size_t wn = 0;
        char *want = interp_dup(p, &h->value, &wn);
        if (!want) {
          sfmt(w, sizeof w, ": the expected %s value uses a capture that did not happen", nm);
          ok = false;
          break;
        }
        ok = got && got->value_len == wn && memcmp(got->value, want, wn) == 0;
        if (!ok && got) {
          preview(pv, sizeof pv, (const uint8_t *)got->value, got->value_len, got->value_len);
          char pw[120];
          preview(pw, sizeof pw, (const uint8_t *)want, wn, wn);
          sfmt(w, sizeof w, ": %s is %s, expected %s", nm, pv, pw);
        } else if (!ok) {
          sfmt(w, sizeof w, ": no %s header", nm);
        }
        free(want);
        break;
      }
      case WSC_HMO_REGEX:
        ok = got && regex_whole(h->re, got->value, got->value_len);
        if (!ok && got) {
          preview(pv, sizeof pv, (const uint8_t *)got->value, got->value_len, got->value_len);
          sfmt(w, sizeof w, ": %s is %s, which does not match ~%.*s", nm, pv,
               (int)(h->value.n > 60 ? 60 : h->value.n), h->value.s);
        } else if (!ok) {
          sfmt(w, sizeof w, ": no %s header", nm);
        }
        break;
    }
  }
  if (ok && (e->match.payload || e->match.has_len)) {
    char pw[200];
    if (!payload_ok(p, &e->match, m.body, m.body_len, m.body_len, false, NULL, pw, sizeof pw)) {
      sfmt(w, sizeof w, ": body %s", pw);
      ok = false;
    }
  }
  if (ok && se->body_re.n && !regex_whole(se->body_re_c, (const char *)m.body, m.body_len)) {
    sfmt(w, sizeof w, ": the body does not match ~%.*s",
         (int)(se->body_re.n > 60 ? 60 : se->body_re.n), se->body_re.s);
    ok = false;
  }
  if (ok && se->raw) {
    int eq = wsc_payload_equals(se->raw, &p->env, ev->data, ev->data_len);
    if (eq != 1) {
      sfmt(w, sizeof w, ": its bytes differ from raw=");
      ok = false;
    }
  }
  wsc_stomp_msg_free(&m);
  if (!ok) sfmt(why, cap, "got %s%s", d, w);
  return ok;
}

/* Does event ev satisfy item e (not CLOSE/NOTHING)? */
static bool item_matches(pconn *p, const struct wsc_expect *e, const wsc_event *ev, char *why,
                         size_t cap) {
  bool type_ok;
  int sv = stomp_version(p);
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
    case WSC_EXP_HEARTBEAT:
      type_ok = ev->type == WSC_EV_HEARTBEAT;
      break;
    case WSC_EXP_STOMP:
      return stomp_matches(p, e, ev, why, cap);
    case WSC_EXP_FRAME:
      type_ok = ev->type == WSC_EV_FRAME || ev->type == WSC_EV_PING || ev->type == WSC_EV_PONG ||
                ev->type == WSC_EV_CLOSE || ev->type == WSC_EV_TEXT || ev->type == WSC_EV_BINARY;
      if (type_ok &&
          ((e->opcode >= 0 && ev->opcode != e->opcode) ||
           (e->fin >= 0 && ev->fin != (e->fin != 0)) || (e->rsv >= 0 && ev->rsv != e->rsv))) {
        char d[200];
        describe_event(d, sizeof d, ev, sv);
        sfmt(why, cap, "got %s", d);
        return false;
      }
      break;
    default:
      type_ok = false;
      break;
  }
  if (!type_ok) {
    char d[300];
    describe_event(d, sizeof d, ev, sv);
    sfmt(why, cap, "got %s", d);
    return false;
  }
  char pw[160];
  if (!payload_ok(p, &e->match, ev->data, ev->data_len, ev->len, ev->has_sha256, ev->sha256, pw,
                  sizeof pw)) {
    char d[200];
    describe_event(d, sizeof d, ev, sv);
    sfmt(why, cap, "got %s: %s", d, pw);
    return false;
  }
  return true;
}

static enum wsc_side initiated_by(const pconn *p) {
  if (p->close_sent && (!p->close_rcvd || p->t_close_sent <= p->t_close_rcvd))
    return WSC_SIDE_HARNESS;
  if (p->close_rcvd) return WSC_SIDE_TARGET;
  if (!p->ended) return WSC_SIDE_NONE;
  return p->tcp_end == WSC_TCP_HARNESS ? WSC_SIDE_HARNESS : WSC_SIDE_TARGET;
}

static bool clean_close(const pconn *p) {
  return p->close_sent && p->close_rcvd && p->ended && p->tcp_end == WSC_TCP_TARGET_FIN;
}

/* Judge a CLOSE item against the connection's recorded end. */
static bool judge_close(pconn *p, const struct wsc_expect_close *ec, char *why, size_t cap) {
  if (p->close_rcvd) {
    int code = p->close_rcvd_code;
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
      int eq = wsc_payload_equals(ec->reason, &p->env, p->close_reason, p->close_reason_len);
      if (eq != 1) {
        char pv[96];
        preview(pv, sizeof pv, p->close_reason, p->close_reason_len, p->close_reason_len);
        sfmt(why, cap, "close reason %s differs", pv);
        return false;
      }
    }
  } else {
    bool target_dropped = p->tcp_end == WSC_TCP_TARGET_FIN || p->tcp_end == WSC_TCP_TARGET_RESET;
    if (!ec->drop_ok || (!target_dropped && ec->by == WSC_BY_PEER)) {
      sfmt(why, cap, "%s without a close frame",
           p->tcp_end == WSC_TCP_HARNESS        ? "the target never closed; the harness dropped it"
           : p->tcp_end == WSC_TCP_TARGET_RESET ? "the target reset the connection"
                                                : "the target closed the TCP connection");
      return false;
    }
  }
  enum wsc_side by = initiated_by(p);
  if (ec->by == WSC_BY_PEER && by != WSC_SIDE_TARGET) {
    sfmt(why, cap, "the harness, not the target, started the close");
    return false;
  }
  if (ec->by == WSC_BY_SUITE && by != WSC_SIDE_HARNESS) {
    sfmt(why, cap, "the target, not the harness, started the close");
    return false;
  }
  if (ec->clean && !clean_close(p)) {
    sfmt(
        why, cap, "not a clean close (%s%s, TCP %s)", p->close_sent ? "" : "no close sent",
        p->close_sent ? (p->close_rcvd ? "close frames exchanged" : "no close frame received") : "",
        wsc_tcp_end_name(p->tcp_end));
    return false;
  }
  return true;
}

typedef struct altst {
  const struct wsc_alt *a;
  size_t rec;      /* index into res->expected (the array moves as it grows) */
  size_t pos;      /* next item */
  size_t consumed; /* events consumed */
  long last_stomp; /* the pend index of the last STOMP frame it matched, -1 none */
  bool dead, done;
  bool saw_close; /* the current CLOSE item consumed the target's close frame */
  uint64_t item_start;
  char why[600];
} altst;

static bool quiet_kind(enum wsc_expect_kind k) {
  return k == WSC_EXP_NOTHING || k == WSC_EXP_NO_FRAME;
}

/* `within 1.5x`: the wait for a heart-beat, from the negotiated interval; 0 when none was
 * negotiated (or CONNECTED has not come). */
static uint64_t heartbeat_wait(const pconn *p, const struct wsc_expect *e) {
  uint64_t s2c = 0, c2s = 0;
  if (!p->sobs || !wsc_stomp_obs_heartbeats(p->sobs, &s2c, &c2s)) return 0;
  return s2c * e->interval_permille; /* ms x permille = us */
}

static uint64_t item_deadline(const pconn *p, const altst *s) {
  const cx *x = p->x;
  const struct wsc_expect *e = &s->a->items[s->pos];
  if (e->kind == WSC_EXP_HEARTBEAT && e->interval_permille) {
    uint64_t d = s->item_start + heartbeat_wait(p, e);
    return d < x->deadline ? d : x->deadline;
  }
  if (quiet_kind(e->kind)) {
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

/* On a STOMP connection heart-beats and pings are liveness, not answers: expectations that
 * do not ask for them step over them. */
static bool noise_for(const pconn *p, const struct wsc_expect *e, const wsc_event *ev) {
  if (!p->stomp) return false;
  if (ev->type == WSC_EV_HEARTBEAT)
    return e->kind != WSC_EXP_HEARTBEAT && e->kind != WSC_EXP_NOTHING;
  if (ev->type == WSC_EV_PING) return e->kind != WSC_EXP_PING && e->kind != WSC_EXP_NOTHING;
  if (ev->type == WSC_EV_PONG) return e->kind != WSC_EXP_PONG && e->kind != WSC_EXP_NOTHING;
  return false;
}

static void alt_feed(pconn *p, altst *s, const wsc_event *ev, size_t idx, uint64_t now) {
  const struct wsc_expect *e = &s->a->items[s->pos];
  char w[400] = "";
  char d[300];
  char cp[80];
  const char *pf = cpfx(p, cp, sizeof cp);
  int sv = stomp_version(p);
  s->consumed++;
  if (noise_for(p, e, ev)) return;
  switch (e->kind) {
    case WSC_EXP_CLOSE:
      if (ev->type == WSC_EV_CLOSE && !s->saw_close) {
        s->saw_close = true;
        return; /* the rest is judged when the TCP connection ends */
      }
      if (ev->type == WSC_EV_TCP_FIN || ev->type == WSC_EV_TCP_RESET) return;
      describe_event(d, sizeof d, ev, sv);
      alt_kill(s, "line %d: %sexpected the connection to close, got %s", e->loc.line, pf, d);
      return;
    case WSC_EXP_NOTHING:
    case WSC_EXP_NO_FRAME:
      describe_event(d, sizeof d, ev, sv);
      alt_kill(s, "line %d: %sexpected %s for %llu ms, got %s after %llu ms", e->loc.line, pf,
               e->kind == WSC_EXP_NOTHING ? "nothing" : "no frame",
               (unsigned long long)(e->duration_us / 1000), d,
               (unsigned long long)((now - s->item_start) / 1000));
      return;
    default:
      if (ev->type == WSC_EV_TCP_FIN || ev->type == WSC_EV_TCP_RESET) {
        char *ed = expect_desc(e, &p->env);
        alt_kill(s, "line %d: %sexpected %s, but %s", e->loc.line, pf, ed ? ed : "an event",
                 ev->type == WSC_EV_TCP_FIN ? "the target closed the connection"
                                            : "the connection was reset");
        free(ed);
        return;
      }
      if (!item_matches(p, e, ev, w, sizeof w)) {
        char *ed = expect_desc(e, &p->env);
        alt_kill(s, "line %d: %sexpected %s, %s", e->loc.line, pf, ed ? ed : "an event", w);
        free(ed);
        return;
      }
      if (e->kind == WSC_EXP_STOMP) s->last_stomp = (long)idx;
      alt_advance(s, now);
  }
}

/* The connection is over and every event was fed: settle the alternative. */
static void alt_end(pconn *p, altst *s, uint64_t now) {
  char cp[80];
  const char *pf = cpfx(p, cp, sizeof cp);
  while (!s->dead && !s->done) {
    const struct wsc_expect *e = &s->a->items[s->pos];
    if (e->kind == WSC_EXP_CLOSE) {
      char w[300];
      if (!judge_close(p, &e->close, w, sizeof w)) {
        char *ed = expect_desc(e, &p->env);
        alt_kill(s, "line %d: %sexpected %s: %s", e->loc.line, pf, ed ? ed : "close", w);
        free(ed);
        return;
      }
      alt_advance(s, now);
      continue;
    }
    char *ed = expect_desc(e, &p->env);
    alt_kill(s, "line %d: %sexpected %s, but the connection %s", e->loc.line, pf,
             ed ? ed : "an event",
             p->tcp_end == WSC_TCP_HARNESS ? "was closed by the harness" : "ended");
    free(ed);
  }
}

/* Drop the connection from our side (a CLOSE item waited long enough, or a DROP step). */
static void harness_drop(pconn *p, const char *why) {
  if (p->ended || !p->connected) return;
  wsc_wirelog_note(p->log, rel(p->x), "%s", why);
  uint64_t t = rel(p->x);
  wsc_conn_close(&p->conn);
  mark_end(p, WSC_TCP_HARNESS, t);
}

static void run_expect(pconn *p, const struct wsc_step *st) {
  cx *x = p->x;
  const struct wsc_expect_step *es = &st->expect;
  size_t n = es->nalts;
  altst *s = calloc(n ? n : 1, sizeof *s);
  if (!s) {
    fail_error(x, "out of memory");
    return;
  }
  char cp[80];
  const char *pf = cpfx(p, cp, sizeof cp);
  uint64_t now = wsc_now_us();
  for (size_t i = 0; i < n; i++) {
    s[i].a = &es->alts[i];
    s[i].item_start = now;
    s[i].last_stomp = -1;
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
      char *d = expect_desc(&es->alts[i].items[k], &p->env);
      if (d) {
        char *full = NULL;
        if (*pf && asprintf(&full, "%s%s", pf, d) >= 0) {
          wsc_expect_alt_push(rec, full);
          free(full);
        } else {
          wsc_expect_alt_push(rec, d);
        }
      }
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
    if (fed < p->npend) {
      size_t idx = fed++;
      const wsc_event *ev = &p->pend[idx];
      for (size_t i = 0; i < n; i++)
        if (!s[i].dead && !s[i].done) alt_feed(p, &s[i], ev, idx, now);
      continue;
    }
    if (p->ended) {
      for (size_t i = 0; i < n; i++)
        if (!s[i].dead && !s[i].done) alt_end(p, &s[i], now);
      continue;
    }
    /* timers */
    uint64_t next = x->deadline;
    bool expired = false;
    for (size_t i = 0; i < n; i++) {
      if (s[i].dead || s[i].done) continue;
      const struct wsc_expect *e = &s[i].a->items[s[i].pos];
      uint64_t d = item_deadline(p, &s[i]);
      if (e->kind == WSC_EXP_HEARTBEAT && e->interval_permille && !heartbeat_wait(p, e)) {
        alt_kill(&s[i],
                 "line %d: %sexpected a heart-beat, but none was negotiated (CONNECT heart-beat "
                 "cx,cy and CONNECTED sx,sy give 0 when cy or sx is 0)",
                 e->loc.line, pf);
        expired = true;
        continue;
      }
      if (now >= d) {
        expired = true;
        if (quiet_kind(e->kind) && d == s[i].item_start + e->duration_us) {
          alt_advance(&s[i], now);
        } else if (e->kind == WSC_EXP_CLOSE && (!e->timeout_us || d == x->deadline)) {
          /* waited until the deadline for the target to close: end it, judge what we saw */
          harness_drop(p, "the harness gives up waiting for the target to close");
        } else if (e->kind == WSC_EXP_CLOSE) {
          /* a bounded wait (timeout=): this alternative is out, the connection stays */
          alt_kill(&s[i], "line %d: %sthe connection did not close within %llu ms", e->loc.line, pf,
                   (unsigned long long)(e->timeout_us / 1000));
        } else {
          char *ed = expect_desc(e, &p->env);
          alt_kill(&s[i], "line %d: %sexpected %s, nothing arrived within %llu ms", e->loc.line, pf,
                   ed ? ed : "an event", (unsigned long long)((now - s[i].item_start) / 1000));
          free(ed);
        }
      } else if (d < next) {
        next = d;
      }
    }
    if (expired) continue;
    send_replies_all(x);
    if (p->ended || fed < p->npend) continue;
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
    if (d->last_stomp >= 0 && (size_t)d->last_stomp < p->npend) {
      /* what a later `capture` reads */
      const wsc_event *ev = &p->pend[d->last_stomp];
      wsc_stomp_msg_free(&p->last);
      p->has_last = wsc_stomp_parse(ev->data, ev->data_len, stomp_version(p), &p->last) == 0;
      p->last_line = st->loc.line;
    }
    pend_consume(p, d->consumed);
  } else {
    grade(x, WSC_GRADE_FAIL);
    const char *why = n ? s[0].why : "no alternatives";
    set_why(x, WSC_GRADE_FAIL, "%s", why[0] ? why : "no alternative matched");
    /* nothing sensible can be consumed: the events stay for the evidence, later steps see
     * them as unexpected */
    size_t most = 0;
    for (size_t i = 0; i < n; i++)
      if (s[i].consumed > most) most = s[i].consumed;
    pend_consume(p, most);
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
      static const char *const ops[] = {"=",       "contains",  "absent",
                                        "present", "= $accept", "lacks"};
      bool valued = h->op == WSC_HM_EQUALS || h->op == WSC_HM_CONTAINS || h->op == WSC_HM_LACKS;
      wsref_buf_appendf(&b, "header %s %s%s%s", h->name ? h->name : "", ops[h->op],
                        valued ? " " : "", valued && h->value ? h->value : "");
      break;
    }
    case WSC_HSX_BODY: {
      char t[200] = "";
      if (h->body) payload_desc(t, sizeof t, h->body, env);
      wsref_buf_appendf(&b, "body contains %s", t);
      break;
    }
  }
  char *s = wsc_strndup((const char *)bhead(&b), wsref_buf_len(&b));
  wsref_buf_free(&b);
  return s;
}

static bool hs_check(pconn *p, const struct wsc_hs_expect *h, const hsresp *r, const char *accept,
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
        case WSC_HM_LACKS:
          ok = !wsref_http_has_token(rs->headers, rs->nheaders, h->name, h->value ? h->value : "");
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
      if (h->body && wsc_payload_materialize(h->body, &p->env, &nd, &nn) != 0) {
        sfmt(why, cap, "the expected body cannot be read");
        p->x->error = true;
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
static void read_body(pconn *p, hsresp *r, wsref_buf *acc) {
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
    if (want < 0 && !chunked && have > 0 && p->conn.eof) break;
    if (p->conn.eof || p->conn.reset) break;
    if (wsc_conn_read(&p->conn, p->x->deadline) < 0) break;
    wsref_buf_append(acc, wsref_buf_head(&p->conn.rx), wsref_buf_len(&p->conn.rx));
    wsref_buf_consume(&p->conn.rx, wsref_buf_len(&p->conn.rx));
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

/* Sends the request. Returns true if it could be built (the connection is open). */
static bool do_handshake(pconn *p, size_t *first_step) {
  cx *x = p->x;
  const struct wsc_case *c = x->c;
  const struct wsc_handshake *hs = &c->hs;
  uint8_t *req = NULL;
  size_t req_len = 0;
  int rc = build_request(x->rn, c, p->decl, p->key, &p->env, &req, &req_len);
  if (rc) {
    fail_error(x, "cannot build the request: %s", wsref_strerror(rc));
    return false;
  }
  p->request = req;
  p->request_len = req_len;
  if (p->idx == 0) {
    x->res->request = (uint8_t *)wsc_memdup(req, req_len);
    x->res->request_len = x->res->request ? req_len : 0;
  }
  write_policy(p, req, req_len, &hs->write, "handshake request");
  wsref_frame_parser_options to = {
      .role = WSREF_ROLE_SERVER, .max_frame = 0, .allow_non_minimal = true, .allow_reserved = true};
  wsref_frame_parser_init(&p->txp, &to);
  p->tx_track = true;
  *first_step = 0;
  if (hs->pipeline && p->idx == 0) {
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

/* Does the 101 select what this connection asked for (its subprotocols, or the case's
 * requirements)? Sets the case UNSUPPORTED when not. */
static void check_requirements(pconn *p, const wsref_http_response *rs) {
  cx *x = p->x;
  const struct wsc_case *c = x->c;
  const struct wsc_conn_decl *d = p->decl;
  char cp[80];
  const char *pf = cpfx(p, cp, sizeof cp);
  if (d && d->nsubprotocols) {
    bool sel = false;
    for (size_t i = 0; i < d->nsubprotocols && !sel; i++)
      sel = header_equals(rs, "Sec-WebSocket-Protocol", d->subprotocols[i]);
    if (!sel && !x->unsupported) {
      x->unsupported = true;
      free(x->why);
      if (asprintf(&x->why, "%sthe target did not select subprotocol %s%s", pf, d->subprotocols[0],
                   d->nsubprotocols > 1 ? " (or the others offered)" : "") < 0)
        x->why = NULL;
      x->why_grade = WSC_GRADE_PASS;
    }
  }
  for (size_t i = 0; i < c->nrequires && !x->unsupported; i++) {
    const struct wsc_requirement *q = &c->requires[i];
    if (q->kind == WSC_REQ_SUBPROTOCOL && d && d->nsubprotocols) continue;
    bool sel = q->kind == WSC_REQ_SUBPROTOCOL
                   ? header_equals(rs, "Sec-WebSocket-Protocol", q->value)
                   : selected_extension(rs, q->value);
    if (!sel) {
      x->unsupported = true;
      free(x->why);
      if (asprintf(&x->why, "%sthe target did not select %s %s", pf,
                   q->kind == WSC_REQ_SUBPROTOCOL ? "subprotocol" : "extension", q->value) < 0)
        x->why = NULL;
      x->why_grade = WSC_GRADE_PASS;
    }
  }
}

/* The STOMP version a connection starts with: its subprotocol's, else its connect= offer's
 * highest, else 1.2 (CONNECTED then says). */
static int initial_stomp_version(const pconn *p, const wsref_http_response *rs) {
  const wsref_http_header *sp =
      wsref_http_find(rs->headers, rs->nheaders, "Sec-WebSocket-Protocol");
  if (sp) {
    char v[32];
    sfmt(v, sizeof v, "%.*s", (int)(sp->value.n < 31 ? sp->value.n : 31), sp->value.p);
    int k = wsc_stomp_subprotocol_version(v);
    if (k) return k;
  }
  if (p->decl && p->decl->connect) {
    int k = wsc_stomp_version_max(p->decl->connect, strlen(p->decl->connect));
    if (k) return k;
  }
  return 12;
}

/* Reads and judges the response; runs the pipelined steps [0, pipelined) first. The first
 * connection's response is the case's (its handshake expectations are judged); the others
 * must simply upgrade. */
static bool finish_handshake(pconn *p, size_t pipelined) {
  cx *x = p->x;
  const struct wsc_case *c = x->c;
  const struct wsc_handshake *hs = &c->hs;
  bool first = p->idx == 0;
  char cp[80];
  const char *pf = cpfx(p, cp, sizeof cp);
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
  for (;;) {
    if (wsref_buf_len(&p->conn.rx)) {
      wsref_buf_append(&acc, wsref_buf_head(&p->conn.rx), wsref_buf_len(&p->conn.rx));
      wsref_buf_consume(&p->conn.rx, wsref_buf_len(&p->conn.rx));
    }
    if (wsref_buf_len(&acc)) {
      ssize_t k = wsref_http_parse_response((const char *)wsref_buf_head(&acc), wsref_buf_len(&acc),
                                            &lim, r.rs);
      if (k > 0 && r.rs->status >= 100 && r.rs->status <= 199 && r.rs->status != 101) {
        /* RFC 9110 15.2: an interim response; the final one follows */
        wsc_wirelog_note(p->log, rel(x), "%sinterim response %d skipped (RFC 9110 15.2)", pf,
                         r.rs->status);
        wsref_buf_consume(&acc, (size_t)k);
        continue;
      }
      if (k > 0) {
        r.complete = true;
        r.head_len = (size_t)k;
        break;
      }
      if (k != WSREF_NEED_MORE) {
        wsc_wirelog_note(p->log, rel(x), "the response head is malformed (%s)",
                         wsref_err_name((int)k));
        break;
      }
    }
    if (p->ended || p->conn.eof || p->conn.reset) break;
    int k = wsc_conn_read(&p->conn, x->deadline);
    if (k == WSREF_E_TIMEOUT) {
      wsc_wirelog_note(p->log, rel(x), "no complete response before the deadline");
      break;
    }
    if (k < 0) break;
  }
  uint64_t t_resp = rel(x);
  if (r.complete) {
    if (first) {
      x->res->response = (uint8_t *)wsc_memdup(wsref_buf_head(&acc), r.head_len);
      x->res->response_len = r.head_len;
      x->res->status = r.rs->status;
    }
    wsc_event ev;
    memset(&ev, 0, sizeof ev);
    ev.type = WSC_EV_HTTP;
    ev.t_us = t_resp;
    ev.code = r.rs->status;
    ev.len = r.head_len;
    ev.data = wsref_buf_head(&acc);
    ev.data_len = r.head_len;
    record_event(p, &ev);
    size_t before = x->res->nfindings;
    wsc_observer_check_response(x->res, p->request, p->request_len, r.rs, t_resp);
    r.handshake_findings = x->res->nfindings > before;
    for (size_t i = before; x->multi && i < x->res->nfindings; i++)
      if (!x->res->findings[i].conn && p->name) x->res->findings[i].conn = strdup(p->name);
  } else if (wsref_buf_len(&acc) && first) {
    /* keep what came as the response so the evidence shows it */
    x->res->response = (uint8_t *)wsc_memdup(wsref_buf_head(&acc), wsref_buf_len(&acc));
    x->res->response_len = wsref_buf_len(&acc);
  }

  /* accept value for the key actually sent */
  char accept[WSREF_ACCEPT_LEN + 1] = "";
  bool have_accept = false;
  {
    wsref_http_request *rq = malloc(sizeof *rq);
    if (rq && wsref_http_parse_request((const char *)p->request, p->request_len, NULL, rq) > 0) {
      const wsref_http_header *k = wsref_http_find(rq->headers, rq->nheaders, "Sec-WebSocket-Key");
      if (k) {
        wsref_accept_compute(k->value.p, k->value.n, accept);
        have_accept = true;
      }
    }
    free(rq);
  }

  if (first) {
    bool need_body = false;
    for (size_t i = 0; i < hs->nexpects; i++) need_body |= hs->expects[i].kind == WSC_HSX_BODY;
    if (need_body && r.complete && r.rs->status != 101) read_body(p, &r, &acc);

    for (size_t i = 0; i < hs->nexpects; i++) {
      const struct wsc_hs_expect *h = &hs->expects[i];
      char why[300] = "";
      bool ok = hs_check(p, h, &r, have_accept ? accept : NULL, why, sizeof why);
      char *d = hs_expect_desc(h, &p->env);
      enum wsc_grade g = ok ? WSC_GRADE_PASS : h->miss_grade;
      enum wsc_verdict v = g == WSC_GRADE_PASS         ? WSC_PASS
                           : g == WSC_GRADE_NON_STRICT ? WSC_NON_STRICT
                           : g == WSC_GRADE_INFO       ? WSC_INFO
                                                       : WSC_FAIL;
      wsc_expect_alt *a = wsc_result_add_expect(x->res, h->loc.line, ok ? WSC_PASS : v, NULL, 0);
      if (a) {
        if (d) {
          char *full = NULL;
          if (*pf && asprintf(&full, "%s%s", pf, d) >= 0) {
            wsc_expect_alt_push(a, full);
            free(full);
          } else {
            wsc_expect_alt_push(a, d);
          }
        }
        if (ok)
          wsc_expect_alt_outcome(a, true, "matched");
        else
          wsc_expect_alt_outcome(a, false, "%s", why);
      }
      if (!ok) {
        grade(x, g);
        set_why(x, g, "line %d: %sexpected %s: %s", h->loc.line, pf, d ? d : "handshake", why);
      }
      free(d);
    }
  } else {
    /* another connection of the case: it must upgrade for the case to go on */
    struct wsc_hs_expect h = {.kind = WSC_HSX_OK, .loc = p->decl->loc};
    char why[300] = "";
    bool ok = hs_check(p, &h, &r, have_accept ? accept : NULL, why, sizeof why);
    wsc_expect_alt *a =
        wsc_result_add_expect(x->res, h.loc.line, ok ? WSC_PASS : WSC_FAIL, NULL, 0);
    if (a) {
      char item[120];
      sfmt(item, sizeof item, "%shandshake ok", pf);
      wsc_expect_alt_push(a, item);
      if (ok)
        wsc_expect_alt_outcome(a, true, "matched");
      else
        wsc_expect_alt_outcome(a, false, "%s", why);
    }
    if (!ok) {
      grade(x, WSC_GRADE_FAIL);
      set_why(x, WSC_GRADE_FAIL, "line %d: %sexpected handshake ok: %s", h.loc.line, pf, why);
    }
  }

  bool upgraded = r.complete && r.rs->status == 101;
  p->upgraded = upgraded;
  if (upgraded) {
    check_requirements(p, r.rs);
    wsc_observer_options oo;
    memset(&oo, 0, sizeof oo);
    oo.frame_level = c->frame_level;
    oo.max_kept = x->rn->opt.max_kept;
    oo.conn = x->multi ? p->name : NULL;
    if (wsref_http_has_token(r.rs->headers, r.rs->nheaders, "Sec-WebSocket-Extensions",
                             "permessage-deflate") ||
        selected_extension(r.rs, "permessage-deflate"))
      oo.rsv_allowed = 4;
    wsc_observer_init(&p->obs, &oo, x->res);
    wsc_observer_set_base(&p->obs, r.head_len);
    p->obs_on = true;
    if (p->stomp) {
      wsc_stomp_obs_options so;
      memset(&so, 0, sizeof so);
      so.version = initial_stomp_version(p, r.rs);
      so.conn = x->multi ? p->name : NULL;
      so.notes = p->log;
      so.max_kept = x->rn->opt.max_kept;
      p->sobs = wsc_stomp_obs_new(&so, x->res);
      if (!p->sobs) fail_error(x, "out of memory");
    }
    /* octets behind the head belong to the WebSocket stream */
    size_t extra = wsref_buf_len(&acc) - r.head_len;
    if (extra) {
      wsref_buf tail = WSREF_BUF_INIT;
      wsref_buf_append(&tail, wsref_buf_head(&acc) + r.head_len, extra);
      wsref_buf_append(&tail, wsref_buf_head(&p->conn.rx), wsref_buf_len(&p->conn.rx));
      wsref_buf_free(&p->conn.rx);
      p->conn.rx = tail;
    }
    process_rx(p);
  } else {
    process_rx(p);
  }
  wsref_buf_free(&acc);
  free(r.rs);
  return upgraded && !x->unsupported;
}

/* ------------------------------------------------------------------------------------------
 * STOMP steps
 */

typedef struct hbuf {
  wsref_buf name, value;
} hbuf;

/* The bytes of a STOMP frame (or heart-beat) step, for this connection's version. */
static int stomp_bytes(pconn *p, const struct wsc_stomp_frame_spec *f, wsref_buf *out) {
  int v = stomp_version(p);
  enum wsc_stomp_eol eol = f->eol;
  if (eol == WSC_EOL_DEFAULT && p->decl) eol = p->decl->eol;
  bool crlf = eol == WSC_EOL_CRLF;
  if (f->heartbeat) {
    int rc = 0;
    for (uint32_t i = 0; i < f->count && !rc; i++)
      rc = wsref_buf_append(out, crlf ? "\r\n" : "\n", crlf ? 2 : 1);
    return rc;
  }
  int rc = 0;
  hbuf *hb = calloc(f->nheaders ? f->nheaders : 1, sizeof *hb);
  wsc_stomp_out_header *oh = calloc(f->nheaders ? f->nheaders : 1, sizeof *oh);
  size_t nh = 0;
  bool has_clen = false;
  uint8_t *body = NULL, *term = NULL;
  size_t body_len = 0, term_len = 0;
  if (!hb || !oh) rc = WSREF_E_NOMEM;
  for (size_t i = 0; i < f->nheaders && !rc; i++) {
    hb[i].name = (wsref_buf)WSREF_BUF_INIT;
    hb[i].value = (wsref_buf)WSREF_BUF_INIT;
    rc = interp_text(p, &f->headers[i].name, &hb[i].name, 0);
    if (!rc) rc = interp_text(p, &f->headers[i].value, &hb[i].value, 0);
    if (rc) break;
    if (f->headers[i].optional && wsref_buf_len(&hb[i].value) == 0) continue;
    oh[nh].line = f->headers[i].line;
    oh[nh].name = (const char *)bhead(&hb[i].name);
    oh[nh].name_len = wsref_buf_len(&hb[i].name);
    oh[nh].value = (const char *)bhead(&hb[i].value);
    oh[nh].value_len = wsref_buf_len(&hb[i].value);
    if (oh[nh].name_len == 14 && memcmp(oh[nh].name, "content-length", 14) == 0) has_clen = true;
    nh++;
  }
  if (!rc && f->body) rc = wsc_payload_materialize(f->body, &p->env, &body, &body_len);
  if (!rc && f->terminator) rc = wsc_payload_materialize(f->terminator, &p->env, &term, &term_len);
  if (!rc) {
    wsc_stomp_out o;
    memset(&o, 0, sizeof o);
    o.command = f->command.s;
    o.command_len = f->command.n;
    o.headers = oh;
    o.nheaders = nh;
    o.body = body;
    o.body_len = body_len;
    switch (f->escape) {
      case WSC_ESC_AUTO:
        o.escape_rules = wsc_stomp_escape_exempt(f->command.s, f->command.n) ? 0 : v;
        break;
      case WSC_ESC_OFF:
        o.escape_rules = 0;
        break;
      case WSC_ESC_V11:
        o.escape_rules = 11;
        break;
      case WSC_ESC_V12:
        o.escape_rules = 12;
        break;
    }
    o.crlf = crlf;
    if (f->clen == WSC_CLEN_VALUE) {
      o.content_length = true;
      o.clen = f->clen_value;
    } else if (f->clen == WSC_CLEN_AUTO && body_len > 0 && !has_clen) {
      o.content_length = true;
      o.clen = body_len;
    }
    if (f->terminator) {
      o.terminator = term;
      o.terminator_len = term_len;
    }
    o.trailing_eols = f->count;
    rc = wsc_stomp_encode(out, &o);
  }
  for (size_t i = 0; hb && i < f->nheaders; i++) {
    wsref_buf_free(&hb[i].name);
    wsref_buf_free(&hb[i].value);
  }
  free(hb);
  free(oh);
  free(body);
  free(term);
  return rc;
}

/* Where a step cuts STOMP bytes into messages: offsets strictly inside (0, n), ascending. */
static size_t msg_cuts(const struct wsc_msg_policy *m, size_t n, uint64_t **out) {
  *out = NULL;
  if (n < 2) return 0;
  size_t k = 0;
  switch (m->split) {
    case WSC_SPLIT_WHOLE:
      return 0;
    case WSC_SPLIT_AT:
      *out = calloc(m->nat ? m->nat : 1, sizeof **out);
      for (size_t i = 0; *out && i < m->nat; i++)
        if (m->at[i] > 0 && m->at[i] < n) (*out)[k++] = m->at[i];
      return k;
    case WSC_SPLIT_CHUNK:
      *out = calloc(n / m->chunk + 1, sizeof **out);
      for (uint64_t at = m->chunk; *out && at < n; at += m->chunk) (*out)[k++] = at;
      return k;
    case WSC_SPLIT_RANDOM: {
      size_t cap = m->cuts ? m->cuts : 16;
      if (cap > n - 1) cap = n - 1;
      *out = calloc(cap, sizeof **out);
      return *out ? wsc_stomp_random_cuts(m->seed, n, m->cuts, *out, cap) : 0;
    }
  }
  return 0;
}

/* STOMP bytes as WebSocket messages, cut and typed as the step says. */
static void send_messages(pconn *p, const uint8_t *b, size_t n, const struct wsc_msg_policy *m,
                          const struct wsc_write *w, int line) {
  cx *x = p->x;
  bool binary = m->as_set ? m->binary : (p->decl && p->decl->binary);
  uint8_t op = binary ? WSREF_OP_BINARY : WSREF_OP_TEXT;
  uint64_t *cuts = NULL;
  size_t ncuts = msg_cuts(m, n, &cuts);
  size_t start = 0;
  char what[64];
  for (size_t i = 0; i <= ncuts && !x->error; i++) {
    size_t end = i < ncuts ? (size_t)cuts[i] : n;
    wsref_buf fr = WSREF_BUF_INIT;
    int rc = 0;
    size_t len = end - start;
    if (m->frag && len > m->frag) {
      for (size_t off = 0; off < len && !rc; off += (size_t)m->frag) {
        size_t k = len - off < m->frag ? len - off : (size_t)m->frag;
        rc = emit_frame(&fr, off + k == len, 0, off == 0 ? op : 0, WSC_MASK_RANDOM, NULL, k,
                        WSC_LEN_AUTO, b + start + off, k);
      }
    } else {
      rc = emit_frame(&fr, true, 0, op, WSC_MASK_RANDOM, NULL, len, WSC_LEN_AUTO, b + start, len);
    }
    if (rc) {
      fail_error(x, "line %d: cannot build the message: %s", line, wsref_strerror(rc));
    } else if (w->coalesce) {
      wsref_buf_append(&p->coalesce, bhead(&fr), wsref_buf_len(&fr));
    } else {
      if (ncuts)
        sfmt(what, sizeof what, "line %d (message %zu of %zu)", line, i + 1, ncuts + 1);
      else
        sfmt(what, sizeof what, "line %d", line);
      if (i > 0 && m->delay_us && !pause_within_timeout(x, m->delay_us, what)) {
        wsref_buf_free(&fr);
        break;
      }
      write_policy(p, bhead(&fr), wsref_buf_len(&fr), w, what);
    }
    wsref_buf_free(&fr);
    start = end;
  }
  free(cuts);
}

static void stomp_step(pconn *p, const struct wsc_step *st) {
  cx *x = p->x;
  wsref_buf b = WSREF_BUF_INIT;
  int rc = stomp_bytes(p, &st->stomp, &b);
  if (rc) {
    fail_error(x, "line %d: cannot build the STOMP frame: %s%s", st->loc.line, wsref_strerror(rc),
               rc == WSREF_E_INVALID_ARG ? " (a capture it uses did not happen?)" : "");
  } else if (st->coalesce) {
    wsref_buf_append(&p->spack, bhead(&b), wsref_buf_len(&b));
  } else {
    send_messages(p, bhead(&b), wsref_buf_len(&b), &st->msg, &st->write, st->loc.line);
  }
  wsref_buf_free(&b);
}

static void capture_step(pconn *p, const struct wsc_step *st) {
  cx *x = p->x;
  char cp[80];
  const char *pf = cpfx(p, cp, sizeof cp);
  if (!p->has_last) {
    grade(x, WSC_GRADE_FAIL);
    set_why(x, WSC_GRADE_FAIL, "line %d: %scapture %s: no STOMP frame was matched before",
            st->loc.line, pf, st->capture_name);
    return;
  }
  const char *v = NULL;
  size_t n = 0;
  switch (st->capture_src) {
    case WSC_CAP_HEADER: {
      const wsc_stomp_header *h =
          wsc_stomp_msg_header(&p->last, st->capture_header.s, st->capture_header.n);
      if (!h) {
        grade(x, WSC_GRADE_FAIL);
        set_why(x, WSC_GRADE_FAIL,
                "line %d: %scapture %s: the %s matched at line %d has no %s header", st->loc.line,
                pf, st->capture_name, p->last.command, p->last_line, st->capture_header.s);
        return;
      }
      v = h->value;
      n = h->value_len;
      break;
    }
    case WSC_CAP_BODY:
      v = (const char *)p->last.body;
      n = p->last.body_len;
      break;
    case WSC_CAP_COMMAND:
      v = p->last.command;
      n = p->last.command_len;
      break;
  }
  if (capture_set(x, st->capture_name, v, n)) {
    fail_error(x, "out of memory");
    return;
  }
  char pv[120];
  preview(pv, sizeof pv, (const uint8_t *)v, n, n);
  wsc_wirelog_note(p->log, rel(x), "line %d: captured %s = %s", st->loc.line, st->capture_name, pv);
}

/* ------------------------------------------------------------------------------------------
 * Steps
 */

static void run_steps(cx *x, size_t from, size_t to) {
  const struct wsc_case *c = x->c;
  for (size_t i = from; i < to && !x->error; i++) {
    const struct wsc_step *st = &c->steps[i];
    pconn *p = &x->pc[st->conn < x->npc ? st->conn : 0];
    if (x->worst == WSC_GRADE_FAIL || x->res->nfindings) {
      /* FAIL is final: the remaining steps cannot change the verdict, only cost time */
      wsc_wirelog_note(&x->res->wire, rel(x),
                       "line %d and later steps skipped: the case has failed", st->loc.line);
      break;
    }
    send_replies_all(x);
    switch (st->kind) {
      case WSC_STEP_SEND:
      case WSC_STEP_SEND_RAW: {
        wsref_buf b = WSREF_BUF_INIT;
        int rc;
        if (st->kind == WSC_STEP_SEND) {
          rc = build_frames(p, &st->frame, &b);
        } else {
          uint8_t *raw = NULL;
          size_t n = 0;
          rc = wsc_payload_materialize(st->raw, &p->env, &raw, &n);
          if (!rc) rc = wsref_buf_append(&b, raw ? raw : (const uint8_t *)"", n);
          free(raw);
        }
        if (rc) {
          fail_error(x, "line %d: cannot build the bytes to send: %s", st->loc.line,
                     wsref_strerror(rc));
          wsref_buf_free(&b);
          break;
        }
        if (st->write.coalesce) {
          wsref_buf_append(&p->coalesce, wsref_buf_head(&b), wsref_buf_len(&b));
        } else {
          char what[48];
          sfmt(what, sizeof what, "line %d", st->loc.line);
          write_policy(p, wsref_buf_head(&b), wsref_buf_len(&b), &st->write, what);
        }
        wsref_buf_free(&b);
        break;
      }
      case WSC_STEP_FLUSH: {
        wsref_buf b = p->coalesce;
        p->coalesce = (wsref_buf)WSREF_BUF_INIT;
        char what[48];
        sfmt(what, sizeof what, "line %d (flush)", st->loc.line);
        write_policy(p, bhead(&b), wsref_buf_len(&b), &st->write, what);
        wsref_buf_free(&b);
        break;
      }
      case WSC_STEP_SLEEP: {
        wsc_wirelog_note(&x->res->wire, rel(x), "line %d: sleep %llu ms", st->loc.line,
                         (unsigned long long)(st->sleep_us / 1000));
        char what[48];
        sfmt(what, sizeof what, "line %d (sleep)", st->loc.line);
        pause_within_timeout(x, st->sleep_us, what);
        break;
      }
      case WSC_STEP_EXPECT:
        run_expect(p, st);
        break;
      case WSC_STEP_DROP:
        harness_drop(p, "the harness drops the connection (drop)");
        break;
      case WSC_STEP_SHUTDOWN:
        if (!p->ended) wsc_conn_shutdown_write(&p->conn);
        break;
      case WSC_STEP_STOMP:
        stomp_step(p, st);
        break;
      case WSC_STEP_STOMP_FLUSH: {
        wsref_buf b = p->spack;
        p->spack = (wsref_buf)WSREF_BUF_INIT;
        send_messages(p, bhead(&b), wsref_buf_len(&b), &st->msg, &st->write, st->loc.line);
        wsref_buf_free(&b);
        break;
      }
      case WSC_STEP_CAPTURE:
        capture_step(p, st);
        break;
    }
  }
}

static bool target_closed(const pconn *p) {
  return p->close_rcvd ||
         (p->ended && (p->tcp_end == WSC_TCP_TARGET_FIN || p->tcp_end == WSC_TCP_TARGET_RESET));
}

/* STOMP 1.2 SF-05: after ERROR the server closes. Give it stomp_error_wait from the ERROR,
 * unless the harness closed first within that time (then nobody can tell). */
static void check_error_close(cx *x) {
  for (size_t i = 0; i < x->npc; i++) {
    pconn *p = &x->pc[i];
    uint64_t te;
    if (!p->sobs || !wsc_stomp_obs_error_seen(p->sobs, &te) || wsc_stomp_obs_version(p->sobs) < 12)
      continue;
    uint64_t limit = te + x->rn->opt.stomp_error_wait_us;
    if (target_closed(p)) continue;
    if ((p->close_sent && p->t_close_sent < limit) ||
        (p->ended && p->tcp_end == WSC_TCP_HARNESS && p->t_end < limit))
      continue;
    while (!target_closed(p) && !p->ended && rel(x) < limit) {
      pump(x, x->t0 + limit);
      send_replies_all(x);
    }
    if (target_closed(p)) continue;
    char clause[24];
    sfmt(clause, sizeof clause, "STOMP1.%d SF-05", wsc_stomp_obs_version(p->sobs) % 10);
    if (wsc_result_add_finding_conn(x->res, x->multi ? p->name : NULL, "stomp-error-not-closed",
                                    clause, rel(x), p->obs.rx_off,
                                    "the target did not close the connection within %llu ms of "
                                    "sending ERROR",
                                    (unsigned long long)(x->rn->opt.stomp_error_wait_us / 1000)))
      x->error = true;
  }
}

/* After the last step: end every connection politely, without judging the exchange. */
static void polite_close(cx *x) {
  check_error_close(x);
  for (size_t i = 0; i < x->npc; i++) {
    pconn *p = &x->pc[i];
    if (!p->connected || p->ended || p->upgraded) continue;
    /* no WebSocket to close: note whether the target already ended it, then drop */
    wsc_conn *cs[1] = {&p->conn};
    bool ready[1];
    if (wsc_conn_wait_any(cs, 1, wsc_now_us(), ready) > 0) {
      wsc_conn_read(&p->conn, wsc_now_us());
      process_rx(p);
    }
    harness_drop(p, "the harness closes the connection (no upgrade)");
  }
  for (size_t i = 0; i < x->npc; i++) {
    pconn *p = &x->pc[i];
    if (!p->connected || p->ended) continue;
    send_replies(p);
    if (!p->close_sent && !p->ended && !p->conn.wr_shut && !p->stalled && !tx_mid_frame(p)) {
      uint8_t pl[2] = {0x03, 0xE8};
      wsref_buf b = WSREF_BUF_INIT;
      if (!emit_frame(&b, true, 0, WSREF_OP_CLOSE, WSC_MASK_RANDOM, NULL, 2, WSC_LEN_AUTO, pl, 2)) {
        p->close_sent = true;
        p->close_sent_code = 1000;
        p->t_close_sent = rel(x);
        static const struct wsc_write whole = {0, 0, NULL, 0, false};
        write_policy(p, wsref_buf_head(&b), wsref_buf_len(&b), &whole, "closing");
      }
      wsref_buf_free(&b);
    }
  }
  uint64_t until = wsc_now_us() + x->rn->opt.close_wait_us;
  while (!all_ended(x) && wsc_now_us() < until) {
    pump(x, until);
    send_replies_all(x);
  }
  for (size_t i = 0; i < x->npc; i++)
    harness_drop(&x->pc[i], "the harness closes the connection after the last step");
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

static void pconn_free(pconn *p) {
  if (p->obs_on) wsc_observer_free(&p->obs);
  wsc_stomp_obs_free(p->sobs);
  pend_consume(p, p->npend);
  free(p->pend);
  wsref_buf_free(&p->replies);
  wsref_buf_free(&p->coalesce);
  wsref_buf_free(&p->spack);
  wsc_stomp_msg_free(&p->last);
  free(p->request);
  wsc_wirelog_free(&p->own);
}

void wsc_runner_run_case(wsc_runner *rn, const struct wsc_case *c, wsc_result *res) {
  memset(res, 0, sizeof *res);
  res->close.sent_code = -1;
  res->close.code = -1;
  fill_meta(res, c);
  cx *x = calloc(1, sizeof *x);
  size_t npc = c->nconns ? c->nconns : 1;
  pconn *pc = npc <= MAX_CONNS ? calloc(npc, sizeof *pc) : NULL;
  if (!x || !pc) {
    free(x);
    free(pc);
    res->verdict = WSC_ERROR;
    wsc_result_set_reason(res, npc > MAX_CONNS ? "too many connections" : "out of memory");
    return;
  }
  x->rn = rn;
  x->c = c;
  x->res = res;
  x->url = case_url(rn, c);
  x->pc = pc;
  x->npc = npc;
  x->multi = npc > 1;
  res->wire.max_stored = rn->opt.wire_cap;
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  char iso[32];
  wsc_iso_time(iso, (long long)wall.tv_sec, wall.tv_nsec);
  res->started = strdup(iso);
  x->t0 = wsc_now_us();
  x->deadline = x->t0 + (c->timeout_us ? c->timeout_us : rn->opt.timeout_us);

  for (size_t i = 0; i < npc; i++) {
    pconn *p = &pc[i];
    p->x = x;
    p->idx = i;
    p->decl = c->nconns ? &c->conns[i] : NULL;
    p->name = p->decl ? p->decl->name : NULL;
    p->stomp = p->decl && p->decl->stomp;
    p->log = x->multi ? &p->own : &res->wire;
    p->own.max_stored = rn->opt.wire_cap;
    wsc_conn_init(&p->conn);
    p->close_reply_code = -2;
    p->close_sent_code = -1;
    p->close_rcvd_code = -1;
    uint8_t nonce[16];
    if (random_bytes(nonce, sizeof nonce)) fail_error(x, "no randomness for the key");
    wsref_key_encode(nonce, p->key);
    p->env.host = x->url->host_header;
    p->env.target = x->url->target;
    p->env.key = p->key;
    p->env.origin = rn->opt.origin;
    p->env.run = rn->run_id;
    p->env.case_id = c->id;
    p->env.lookup = capture_get;
    p->env.lookup_ud = x;
  }

  if (c->role != WSC_ROLE_SERVER) {
    fail_error(x, "role %s is not supported by this runner", wsc_role_name(c->role));
  } else if (!x->error) {
    bool ok = true;
    size_t pipelined = 0;
    for (size_t i = 0; i < npc && ok && !x->error; i++) {
      pconn *p = &pc[i];
      char err[256], cp[80];
      int rc =
          wsc_conn_open(&p->conn, x->url, &rn->opt.conn, rn->tls,
                        wsc_now_us() + rn->opt.connect_timeout_us, p->log, x->t0, err, sizeof err);
      if (rc) {
        fail_error(x, "%scannot connect: %s", cpfx(p, cp, sizeof cp), err);
        p->tcp_end = WSC_TCP_NEVER;
        ok = false;
        break;
      }
      p->connected = true;
      size_t pl = 0;
      if (!do_handshake(p, &pl)) {
        ok = false;
        break;
      }
      if (i == 0) pipelined = pl;
      ok = finish_handshake(p, pl);
      if (x->worst == WSC_GRADE_FAIL && i + 1 < npc) ok = false; /* a connection was refused */
    }
    if (ok) run_steps(x, pipelined, c->nsteps);
    if (!x->error) polite_close(x);
  }
  for (size_t i = 0; i < npc; i++) {
    pconn *p = &pc[i];
    wsc_conn_close(&p->conn);
    if (p->connected && !p->ended) mark_end(p, WSC_TCP_HARNESS, rel(x));
  }

  /* close behaviour: the first connection's */
  pconn *p0 = &pc[0];
  wsc_close_info *ci = &res->close;
  ci->initiated_by = p0->connected ? initiated_by(p0) : WSC_SIDE_NONE;
  ci->sent = p0->close_sent;
  ci->sent_code = p0->close_sent ? p0->close_sent_code : -1;
  ci->received = p0->close_rcvd;
  ci->code = p0->close_rcvd ? p0->close_rcvd_code : -1;
  if (p0->close_reason_len) {
    ci->reason = (uint8_t *)wsc_memdup(p0->close_reason, p0->close_reason_len);
    ci->reason_len = ci->reason ? p0->close_reason_len : 0;
  }
  ci->tcp = p0->connected ? p0->tcp_end : WSC_TCP_NEVER;
  ci->clean = clean_close(p0);
  ci->t_us = p0->t_end;

  res->verdict = verdict_of(x);
  if (res->nfindings && res->verdict == WSC_FAIL && x->worst != WSC_GRADE_FAIL) {
    const wsc_finding *f = &res->findings[0];
    wsc_result_set_reason(res, "strict observer: %s %s: %s%s%s%s", f->clause, f->rule,
                          f->conn ? f->conn : "", f->conn ? ": " : "", f->message,
                          res->nfindings > 1 ? " (and more findings)" : "");
  } else if (x->why && res->verdict != WSC_PASS) {
    wsc_result_set_reason(res, "%s", x->why);
  } else if (res->verdict == WSC_PASS) {
    wsc_result_set_reason(res, "as expected");
  } else if (res->verdict == WSC_INFO) {
    wsc_result_set_reason(res, "recorded (informational)");
  }
  wsc_wirelog_finish(&res->wire);
  if (x->multi) {
    /* one log, every connection's chunks tagged with its name */
    for (size_t i = 0; i < npc; i++) {
      if (wsc_wirelog_merge(&res->wire, &pc[i].own, pc[i].name)) x->error = true;
      memset(&pc[i].own, 0, sizeof pc[i].own);
    }
    res->wire.has_sha256 = false;
  }
  if (res->verdict == WSC_PASS || res->verdict == WSC_INFO) {
    wsc_wirelog_trim(&res->wire, rn->opt.wire_pass_cap);
    wsc_result_trim_events(res, PASS_EVENT_KEEP);
  }
  res->duration_us = wsc_now_us() - x->t0;

  for (size_t i = 0; i < npc; i++) pconn_free(&pc[i]);
  free(pc);
  for (size_t i = 0; i < x->ncap; i++) {
    free(x->cap_names[i]);
    free(x->cap_values[i]);
  }
  free(x->cap_names);
  free(x->cap_values);
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
