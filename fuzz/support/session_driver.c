#include "session_driver.h"

#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "codec/close.h"
#include "codec/frame.h"
#include "handshake/http.h"
#include "session/send_limit.h"
#include "session/session.h"
#include "support/common.h"
#include "support/http_check.h"
#include "support/registry_fixture.h"

/* The RFC 6455 section 1.3 sample nonce: its accept value is in the dictionaries. */
static const uint8_t k_nonce[16] = "the sample nonce";

static const size_t k_feed[16] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14, 16, 32, 64, 128, SIZE_MAX};
static const uint32_t k_dt[16] = {1,    10,   100,  500,   999,   1000,  2999,  3000,
                                  3001, 5000, 9999, 10000, 10001, 30000, 60000, 100000};
static const size_t k_bin[16] = {0,   1,    2,     5,     16,    125, 126, 127,
                                 200, 1000, 65535, 65536, 70000, 3,   17,  33};
static const size_t k_ctl[8] = {0, 1, 2, 5, 124, 125, 126, 200};
static const unsigned k_codes[16] = {0,    1000, 1001, 1002, 1003, 1004, 1005, 1006,
                                     1007, 1011, 1015, 2999, 3000, 4999, 5000, 4500};

#define LONG_REASON                                                                          \
  "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5 a reason long enough to be cut at 123 "      \
  "octets, which must happen on a code point boundary: \xe2\x82\xac\xe2\x82\xac\xe2\x82\xac" \
  "\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac\xe2\x82\xac"
static const char *const k_reasons[4] = {NULL, "bye", LONG_REASON, "bad \xff utf-8"};

typedef struct drv {
  bool client;
  wsref_session *s;
  wsref_send_limit *sl;
  wsref_registry *reg;
  fuzz_reg_ctx rctx;
  wsref_handler h;
  wsref_session_options opt;
  wsref_session_io io;
  uint8_t hb, ob, cb;
  uint64_t now;
  fuzz_in script;
  const uint8_t *stream;
  size_t slen, spos;
  bool blocked, gone, cut;
  wsref_buf wire;
  unsigned opens, closes, errors, want_writes;
  bool in_rx;
  unsigned rx_type;
  wsref_buf rx;
  unsigned term_codes[8];
  size_t nterm;
} drv;

/* ---- small checks ---- */

static bool err_known(int rc) {
  return rc < 0 && strcmp(wsref_err_name(rc), "WSREF_E_UNKNOWN") != 0 && rc != WSREF_NEED_MORE;
}

static void note_terminate(drv *d, unsigned code) {
  if (d->nterm < sizeof d->term_codes / sizeof d->term_codes[0]) d->term_codes[d->nterm++] = code;
}

static bool code_reportable(const drv *d, unsigned code) {
  if (fuzz_close_code_ok(code) || code == WSREF_CLOSE_NO_STATUS || code == WSREF_CLOSE_ABNORMAL)
    return true;
  for (size_t i = 0; i < d->nterm; i++)
    if (d->term_codes[i] == code) return true;
  return false;
}

/* ---- handler ---- */

static int app_send(drv *d, const wsref_message *m);

static int h_open(wsref_session *s, void *ud) {
  drv *d = ud;
  FUZZ_CHECK(s == d->s);
  FUZZ_CHECK(d->opens == 0 && d->closes == 0);
  FUZZ_CHECK(wsref_session_state(s) == WSREF_STATE_OPEN && wsref_session_is_open(s));
  d->opens++;
  return (d->hb & 0x40) ? -1 : 0;
}

static int h_message(wsref_session *s, const wsref_message *m, void *ud) {
  drv *d = ud;
  FUZZ_CHECK(s == d->s);
  FUZZ_CHECK(d->opens == 1 && d->closes == 0);
  FUZZ_CHECK(m->data != NULL);
  bool partial = d->hb & 1;
  switch (m->type) {
    case WSREF_MSG_PONG:
      FUZZ_CHECK(m->len <= WSREF_CONTROL_MAX && m->is_last);
      return 0;
    case WSREF_MSG_TEXT:
    case WSREF_MSG_BINARY:
      break;
    default:
      FUZZ_CHECK(!"message type not delivered to handlers");
  }
  if (d->h.accept)
    FUZZ_CHECK(d->h.accept & (m->type == WSREF_MSG_TEXT ? WSREF_ACCEPT_TEXT : WSREF_ACCEPT_BINARY));
  if (!partial) {
    FUZZ_CHECK(m->is_last);
    FUZZ_CHECK(m->len <= d->opt.max_message);
    if (m->type == WSREF_MSG_TEXT) FUZZ_CHECK(fuzz_utf8_ok(m->data, m->len));
  } else {
    if (d->in_rx) {
      FUZZ_CHECK((unsigned)m->type == d->rx_type);
    } else {
      d->in_rx = true;
      d->rx_type = m->type;
      wsref_buf_reset(&d->rx);
    }
    if (m->len) FUZZ_CHECK(wsref_buf_append(&d->rx, m->data, m->len) == 0);
    size_t have = wsref_buf_len(&d->rx);
    FUZZ_CHECK(have <= d->opt.max_message);
    if (m->type == WSREF_MSG_TEXT) {
      bool complete;
      FUZZ_CHECK(fuzz_utf8_first_bad(fuzz_buf_head(&d->rx), have, &complete) == have);
      if (m->is_last) FUZZ_CHECK(complete);
    }
    if (m->is_last) d->in_rx = false;
  }
  if (d->hb & 0x08) {
    int rc = app_send(d, m);
    FUZZ_CHECK(rc == 0 || err_known(rc));
  }
  if ((d->hb & 0x10) && m->len && m->data[0] == 'c') {
    int rc = wsref_session_close(s, 1000, "bye");
    FUZZ_CHECK(rc == 0 || rc == WSREF_E_STATE);
  }
  if ((d->hb & 0x20) && m->len && m->data[0] == '!') return -1;
  return 0;
}

static void h_error(wsref_session *s, int err, void *ud) {
  drv *d = ud;
  FUZZ_CHECK(s == d->s);
  FUZZ_CHECK(d->closes == 0);
  FUZZ_CHECK(err_known(err));
  d->errors++;
  FUZZ_CHECK(d->errors == 1); /* one failure per connection */
}

static void h_close(wsref_session *s, const wsref_close_status *st, void *ud) {
  drv *d = ud;
  FUZZ_CHECK(s == d->s);
  FUZZ_CHECK(d->opens == 1 && d->closes == 0);
  FUZZ_CHECK(wsref_session_state(s) == WSREF_STATE_CLOSED && !wsref_session_is_open(s));
  FUZZ_CHECK(code_reportable(d, st->code));
  FUZZ_CHECK(st->reason_len <= 123 && st->reason[st->reason_len] == '\0');
  d->closes++;
  /* Everything the session API allows from inside on_close must be refused politely. */
  FUZZ_CHECK(wsref_session_send_text(s, "x", 1) == WSREF_E_STATE);
  FUZZ_CHECK(wsref_session_close(s, 1000, NULL) == WSREF_E_STATE);
}

/* ---- io ---- */

static void io_want_write(wsref_session *s, void *ud) {
  drv *d = ud;
  FUZZ_CHECK(!d->gone);
  d->want_writes++;
}

static void io_log(wsref_session *s, const char *line, void *ud) {
  FUZZ_CHECK(line != NULL && strlen(line) < 512);
}

static void maybe_close_transport(drv *d) {
  if (d->gone || !wsref_session_transport_done(d->s)) return;
  size_t n;
  (void)wsref_session_output(d->s, &n);
  d->cut = d->cut || n > 0;
  wsref_session_transport_closed(d->s, 0, d->now);
  d->gone = true;
  FUZZ_CHECK(wsref_session_state(d->s) == WSREF_STATE_CLOSED);
}

static void drain(drv *d, size_t limit) {
  for (int i = 0; i < 64 && limit; i++) {
    size_t n;
    const uint8_t *p = wsref_session_output(d->s, &n);
    if (d->gone) FUZZ_CHECK(n == 0);
    if (!n) break;
    FUZZ_CHECK(p != NULL);
    if (n > limit) n = limit;
    FUZZ_CHECK(wsref_buf_append(&d->wire, p, n) == 0);
    limit -= n;
    wsref_session_output_done(d->s, n, d->now);
  }
}

static void after_step(drv *d) {
  if (!d->blocked) drain(d, SIZE_MAX);
  maybe_close_transport(d);
  if (d->gone) {
    size_t n;
    (void)wsref_session_output(d->s, &n);
    FUZZ_CHECK(n == 0);
    FUZZ_CHECK(wsref_session_deadline(d->s) == 0);
  }
}

static void tick_due(drv *d) {
  for (int i = 0; i < 8; i++) {
    uint64_t dl = wsref_session_deadline(d->s);
    if (!dl || dl > d->now) return;
    wsref_session_tick(d->s, d->now);
    /* A tick handles everything that was due: no deadline may stay in the past. */
    uint64_t after = wsref_session_deadline(d->s);
    FUZZ_CHECK(!after || after > d->now);
    after_step(d);
  }
}

static void feed(drv *d, size_t n) {
  if (n > d->slen - d->spos) n = d->slen - d->spos;
  uint8_t *piece = fuzz_dup(d->stream + d->spos, n);
  d->spos += n;
  int rc = wsref_session_recv(d->s, piece, n, d->now);
  free(piece);
  FUZZ_CHECK(rc == 0 || err_known(rc));
  if (rc < 0) FUZZ_CHECK(wsref_session_state(d->s) == WSREF_STATE_CLOSED);
  after_step(d);
}

/* ---- application sends ---- */

static int app_send(drv *d, const wsref_message *m) {
  enum wsref_session_state before = wsref_session_state(d->s);
  int rc = d->sl ? wsref_send_limit_send(d->sl, m) : wsref_session_send(d->s, m);
  FUZZ_CHECK(rc == 0 || err_known(rc));
  if (rc == 0) FUZZ_CHECK(before == WSREF_STATE_OPEN);
  /* The decorator's time limit always terminates (its E_LIMIT may also be the session's
   * own max_output refusal, which does not). */
  if (d->sl && rc == WSREF_E_TIMEOUT) FUZZ_CHECK(wsref_session_state(d->s) != WSREF_STATE_OPEN);
  return rc;
}

static void send_text(drv *d, unsigned arg) {
  static const char *const small[] = {"",
                                      "Hello",
                                      "\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5",
                                      "\xed\xa0\x80", /* a surrogate: refused */
                                      "\xe2\x82",     /* cut code point: refused */
                                      "close me",
                                      "!fail",
                                      "\xf0\x9f\x98\x80 ok"};
  wsref_message m = {WSREF_MSG_TEXT, NULL, 0, true};
  char *big = NULL;
  if (arg < 8) {
    m.data = (const uint8_t *)small[arg];
    m.len = strlen(small[arg]);
  } else {
    static const size_t sizes[8] = {125, 126, 127, 1000, 65535, 65536, 70000, 124};
    size_t n = sizes[arg - 8];
    big = malloc(n);
    if (!big) abort();
    for (size_t i = 0; i < n; i++) big[i] = (char)('a' + i % 26);
    if (arg == 15) memcpy(big + n - 2, "\xc3\xa9", 2); /* ends on a 2-octet code point */
    m.data = (const uint8_t *)big;
    m.len = n;
  }
  int rc;
  if (!d->sl && arg < 8 && arg != 1) {
    rc = wsref_session_send_text(d->s, (const char *)m.data, m.len); /* the wrapper */
    FUZZ_CHECK(rc == 0 || err_known(rc));
  } else {
    rc = app_send(d, &m);
  }
  /* Invalid text is refused at once (the decorator only checks it when it sends). */
  if ((arg == 3 || arg == 4) && !d->sl) FUZZ_CHECK(rc < 0);
  free(big);
}

static void send_binary(drv *d, size_t n) {
  uint8_t *p = malloc(n ? n : 1);
  if (!p) abort();
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)(i * 7);
  wsref_message m = {WSREF_MSG_BINARY, p, n, true};
  if (!d->sl && n == 3) {
    /* The convenience wrapper, same rules. */
    enum wsref_session_state before = wsref_session_state(d->s);
    int rc = wsref_session_send_binary(d->s, p, n);
    FUZZ_CHECK(rc == 0 || err_known(rc));
    if (rc == 0) FUZZ_CHECK(before == WSREF_STATE_OPEN);
  } else {
    (void)app_send(d, &m);
  }
  free(p);
}

static void send_fragment(drv *d, unsigned arg) {
  static const char *const text[4] = {"Hel", "\xe2\x82", "\xac", "lo"};
  static const size_t bin[4] = {0, 3, 126, 1000};
  uint8_t buf[1000];
  memset(buf, 0x5A, sizeof buf);
  wsref_message m;
  m.is_last = (arg & 2) != 0;
  if (arg & 1) {
    m.type = WSREF_MSG_BINARY;
    m.data = buf;
    m.len = bin[(arg >> 2) & 3];
  } else {
    m.type = WSREF_MSG_TEXT;
    m.data = (const uint8_t *)text[(arg >> 2) & 3];
    m.len = strlen(text[(arg >> 2) & 3]);
  }
  (void)app_send(d, &m);
}

static void send_control(drv *d, unsigned arg) {
  uint8_t buf[200];
  memset(buf, 'p', sizeof buf);
  wsref_message m = {(arg & 1) ? WSREF_MSG_PONG : WSREF_MSG_PING, buf, k_ctl[arg >> 1], true};
  int rc = app_send(d, &m);
  if (m.len > WSREF_CONTROL_MAX) FUZZ_CHECK(rc < 0);
}

static void app_close(drv *d, unsigned arg) {
  unsigned code = k_codes[arg];
  const char *reason = k_reasons[arg & 3];
  enum wsref_session_state before = wsref_session_state(d->s);
  int rc = wsref_session_close(d->s, code, reason);
  FUZZ_CHECK(rc == 0 || err_known(rc));
  if (rc == 0) {
    FUZZ_CHECK(before == WSREF_STATE_OPEN);
    FUZZ_CHECK(code == 0 || fuzz_close_code_ok(code));
    FUZZ_CHECK(wsref_session_state(d->s) != WSREF_STATE_OPEN);
  }
  if (code && !fuzz_close_code_ok(code)) FUZZ_CHECK(rc < 0);
}

static void app_terminate(drv *d, unsigned arg) {
  unsigned code = k_codes[arg];
  const char *reason = k_reasons[arg & 3];
  note_terminate(d, code);
  wsref_session_terminate(d->s, code, reason);
  FUZZ_CHECK(wsref_session_state(d->s) == WSREF_STATE_CLOSED);
  FUZZ_CHECK(!wsref_session_is_open(d->s));
}

static void accessors(drv *d) {
  wsref_session *s = d->s;
  const char *id = wsref_session_id(s);
  FUZZ_CHECK(id && id[0] && strlen(id) <= 16);
  FUZZ_CHECK(wsref_session_attributes(s) != NULL);
  const char *sp = wsref_session_subprotocol(s);
  FUZZ_CHECK(sp && strlen(sp) < WSREF_SUBPROTOCOL_MAX);
  const char *ex = wsref_session_extensions(s);
  FUZZ_CHECK(ex && strlen(ex) < WSREF_EXTENSIONS_MAX);
  FUZZ_CHECK(wsref_session_remote_addr(s) != NULL);
  FUZZ_CHECK(wsref_session_path(s) != NULL);
  (void)wsref_session_request_header(s, "Host");
  (void)wsref_session_request_header(s, "X-User");
  FUZZ_CHECK(wsref_session_now(s) <= d->now); /* the last time the io layer gave */
  size_t n;
  (void)wsref_session_output(s, &n);
  FUZZ_CHECK(wsref_session_buffered(s) == n);
  if (n)
    FUZZ_CHECK(wsref_session_output_since(s) != 0 || d->now == 0);
  else
    FUZZ_CHECK(wsref_session_output_since(s) == 0);
  FUZZ_CHECK(wsref_session_handler(s) != NULL);
  wsref_session_set_user_data(s, d);
  FUZZ_CHECK(wsref_session_user_data(s) == d);
  if (d->sl) {
    (void)wsref_send_limit_queued_bytes(d->sl);
    (void)wsref_send_limit_dropped(d->sl);
    FUZZ_CHECK(wsref_send_limit_session(d->sl) == s);
  }
}

static void op(drv *d, uint8_t b) {
  unsigned arg = b & 15;
  switch (b >> 4) {
    case 0x1:
      feed(d, (size_t)fuzz_u8(&d->script) + 1);
      return;
    case 0x2:
      d->now += k_dt[arg];
      tick_due(d);
      return;
    case 0x3: {
      uint64_t dl = wsref_session_deadline(d->s);
      if (dl && dl + arg - 1 > d->now) d->now = dl + arg - 1;
      tick_due(d);
      return;
    }
    case 0x4:
      send_text(d, arg);
      break;
    case 0x5:
      send_binary(d, k_bin[arg]);
      break;
    case 0x6:
      send_fragment(d, arg);
      break;
    case 0x7:
      send_control(d, arg);
      break;
    case 0x8:
      app_close(d, arg);
      break;
    case 0x9:
      app_terminate(d, arg);
      break;
    case 0xA:
      if (arg == 0) {
        d->blocked = true;
      } else if (arg == 1) {
        d->blocked = false;
      } else {
        drain(d, k_feed[arg]);
      }
      break;
    case 0xB: {
      static const int errs[3] = {0, WSREF_E_IO, WSREF_E_TLS};
      if (!d->gone) {
        size_t n;
        (void)wsref_session_output(d->s, &n);
        d->cut = d->cut || n > 0;
      }
      wsref_session_transport_closed(d->s, errs[arg % 3], d->now);
      d->gone = true;
      FUZZ_CHECK(wsref_session_state(d->s) == WSREF_STATE_CLOSED);
      break;
    }
    case 0xC: {
      uint8_t dummy = 0;
      FUZZ_CHECK(wsref_session_recv(d->s, &dummy, 0, d->now) == 0);
      break;
    }
    case 0xD:
      accessors(d);
      break;
    default: /* 0x0, 0xE, 0xF */
      feed(d, k_feed[arg]);
      return;
  }
  after_step(d);
}

/* ---- the final output check ---- */

static void check_wire(drv *d) {
  const char *w = (const char *)fuzz_buf_head(&d->wire);
  size_t n = wsref_buf_len(&d->wire);
  if (n == 0) return; /* nothing was written before the transport went away */
  wsref_http_limits big = {1 << 20, WSREF_HTTP_HEADERS_CAP};
  size_t head;
  bool switched;
  if (d->client) {
    wsref_http_request *req = malloc(sizeof *req);
    if (!req) abort();
    ssize_t r = wsref_http_parse_request(w, n, &big, req);
    if (r == WSREF_NEED_MORE) {
      FUZZ_CHECK(d->cut);
      free(req);
      return;
    }
    FUZZ_CHECK(r > 0);
    fuzz_check_request(req, w, (size_t)r);
    FUZZ_CHECK(wsref_str_eq(req->method, "GET"));
    free(req);
    head = (size_t)r;
    switched = d->opens == 1;
  } else {
    wsref_http_response *res = malloc(sizeof *res);
    if (!res) abort();
    ssize_t r = wsref_http_parse_response(w, n, &big, res);
    if (r == WSREF_NEED_MORE) {
      FUZZ_CHECK(d->cut);
      free(res);
      return;
    }
    FUZZ_CHECK(r > 0);
    fuzz_check_response(res, w, (size_t)r);
    head = (size_t)r;
    switched = res->status == 101;
    /* A 101 exactly when the application saw on_open. */
    FUZZ_CHECK(switched == (d->opens == 1));
    if (!switched) {
      FUZZ_CHECK(res->status >= 300 && res->status <= 599); /* 3xx from an interceptor */
      const wsref_http_header *cl = wsref_http_find(res->headers, res->nheaders, "Content-Length");
      FUZZ_CHECK(cl != NULL);
      size_t clen = 0;
      for (size_t i = 0; i < cl->value.n; i++) clen = clen * 10 + (size_t)(cl->value.p[i] - '0');
      /* The error body, and nothing after it. */
      if (d->cut)
        FUZZ_CHECK(n - head <= clen);
      else
        FUZZ_CHECK(n - head == clen);
    }
    free(res);
    if (!switched) return;
  }
  fuzz_wire_check wc;
  memset(&wc, 0, sizeof wc);
  wc.sender_is_client = d->client;
  size_t used = fuzz_wire_check_frames(&wc, (const uint8_t *)w + head, n - head);
  /* Frames are queued whole, so only a transport cut with output pending leaves a tail. */
  if (!d->cut) FUZZ_CHECK(used == n - head);
  if (!switched) FUZZ_CHECK(n == head); /* client: no frame before the 101 */
  fuzz_wire_check_free(&wc);
}

/* ---- setup ---- */

void fuzz_session_options(uint8_t ob, wsref_session_options *opt) {
  static const uint64_t max_msg[4] = {UINT64_C(64) << 20, 16, 125, 70000};
  wsref_session_options_default(opt);
  opt->max_message = max_msg[ob & 3];
  if (ob & 0x04) opt->max_frame = 32;
  if (ob & 0x08) opt->idle_timeout_ms = 5000;
  if (ob & 0x10) opt->allow_non_minimal = true;
  if (ob & 0x20) opt->max_output = 256;
  if (ob & 0x80) opt->handshake_timeout_ms = opt->close_timeout_ms = 1;
  opt->seed = 0x5EED;
  opt->id = 0x1D; /* repeatable: the id shows up in logs and handler output */
}

void fuzz_session_client_config(uint8_t cb, wsref_handshake_client *hs) {
  static const char *const protos[4][2] = {
      {NULL, NULL}, {"chat", NULL}, {"chat", "superchat"}, {"v12.stomp", "v11.stomp"}};
  static const size_t nprotos[4] = {0, 1, 2, 2};
  static const char *const exts[4] = {NULL, "permessage-deflate", "x-fuzz",
                                      "x-fuzz, permessage-deflate"};
  memset(hs, 0, sizeof *hs);
  hs->host = "server.example.com";
  hs->path = (cb & 0x20) ? "/chat" : "/";
  hs->origin = (cb & 0x10) ? "http://example.com" : NULL;
  hs->subprotocols = protos[cb & 3];
  hs->nsubprotocols = nprotos[cb & 3];
  hs->extensions = exts[(cb >> 2) & 3];
  memcpy(hs->nonce, k_nonce, 16);
}

static void setup_handler(drv *d) {
  static const unsigned accept[4] = {0, WSREF_ACCEPT_TEXT, WSREF_ACCEPT_BINARY,
                                     WSREF_ACCEPT_TEXT | WSREF_ACCEPT_BINARY};
  unsigned a = (d->hb >> 1) & 3;
  /* Build through the Spring-style constructors where they fit, to cover them too. */
  if (a == 1)
    d->h = wsref_text_handler(h_message, d);
  else if (a == 2)
    d->h = wsref_binary_handler(h_message, d);
  else
    memset(&d->h, 0, sizeof d->h);
  d->h.on_open = h_open;
  d->h.on_message = h_message;
  d->h.on_transport_error = h_error;
  d->h.on_close = h_close;
  d->h.partial_messages = d->hb & 1;
  d->h.accept = accept[a];
  d->h.ud = d;
}

void fuzz_session_run(const uint8_t *data, size_t size, bool client) {
  drv *d = calloc(1, sizeof *d);
  if (!d) abort();
  fuzz_in in = {data, size, 0};
  d->client = client;
  d->hb = fuzz_u8(&in);
  d->ob = fuzz_u8(&in);
  d->cb = fuzz_u8(&in);
  size_t L = fuzz_u8(&in);
  if (L > fuzz_left(&in)) L = fuzz_left(&in);
  d->script = (fuzz_in){fuzz_rest(&in), L, 0};
  d->stream = fuzz_rest(&in) + L;
  d->slen = fuzz_left(&in) - L;
  d->now = 1000;
  fuzz_session_options(d->ob, &d->opt);
  setup_handler(d);
  d->io.want_write = io_want_write;
  d->io.log = io_log;
  d->io.io_ud = d;

  /* Options byte 0 passes NULL (the defaults); config bit 6 runs without io callbacks. */
  const wsref_session_options *opt = d->ob ? &d->opt : NULL;
  const wsref_session_io *io = (d->cb & 0x40) ? NULL : &d->io;
  if (!opt) wsref_session_options_default(&d->opt);
  if (client) {
    wsref_handshake_client hs;
    fuzz_session_client_config(d->cb, &hs);
    d->s = wsref_session_new_client(&hs, &d->h, opt, io, d->now);
    FUZZ_CHECK(d->s != NULL);
    if (io) FUZZ_CHECK(d->want_writes == 1); /* the request is queued */
  } else {
    d->reg = fuzz_registry_new(d->cb & 0x3F, &d->h, &d->rctx);
    d->s = wsref_session_new_server(d->reg, opt, io, "192.0.2.9:6000", d->now);
    FUZZ_CHECK(d->s != NULL);
  }
  FUZZ_CHECK(wsref_session_state(d->s) == WSREF_STATE_CONNECTING);
  if (d->hb & 0x80) {
    d->sl = wsref_send_limit_new(d->s, 1000, 512,
                                 (d->ob & 0x40) ? WSREF_OVERFLOW_DROP : WSREF_OVERFLOW_TERMINATE);
    FUZZ_CHECK(d->sl != NULL);
    note_terminate(d, WSREF_CLOSE_SESSION_NOT_RELIABLE);
  }

  while (fuzz_left(&d->script)) op(d, fuzz_u8(&d->script));
  if (d->spos < d->slen) feed(d, SIZE_MAX);
  d->blocked = false;
  after_step(d);
  for (int i = 0; i < 8 && wsref_session_deadline(d->s); i++) {
    d->now = wsref_session_deadline(d->s);
    tick_due(d);
  }
  /* Config bit 7: the io layer frees the session without telling it the transport closed;
   * on_close is still owed and must come from wsref_session_free(). */
  bool abandon = (d->cb & 0x80) && !d->gone;
  if (!d->gone && !abandon) {
    size_t n;
    (void)wsref_session_output(d->s, &n);
    d->cut = d->cut || n > 0;
    wsref_session_transport_closed(d->s, 0, d->now);
    d->gone = true;
  }
  if (!abandon) {
    FUZZ_CHECK(wsref_session_state(d->s) == WSREF_STATE_CLOSED);
    FUZZ_CHECK(d->closes == d->opens); /* on_close exactly once iff on_open ran */
  } else {
    d->cut = true; /* unsent output is dropped with the session */
  }

  check_wire(d);
  wsref_send_limit_free(d->sl);
  wsref_session_free(d->s);
  FUZZ_CHECK(d->closes == d->opens);
  FUZZ_CHECK(d->rctx.live_states == 0); /* the session released the extension state */
  wsref_registry_free(d->reg);
  wsref_buf_free(&d->wire);
  wsref_buf_free(&d->rx);
  free(d);
}
