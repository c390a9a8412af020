#include "session/session.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/error.h"
#include "codec/close.h"
#include "codec/frame.h"
#include "codec/mask.h"
#include "codec/utf8.h"

/* Design notes (the choices a reader of session.h cannot see):
 *
 * Input. Frames go through wsref_frame_parse (role SERVER for a server session, CLIENT for a
 * client); the session adds what needs context: RSV bits against the negotiated rsv_mask,
 * fragmentation sequence, accept mask (decided at a message's first frame), message size
 * (checked against the declared length at each header, so a too-big message fails before its
 * payload arrives and nothing is ever allocated for a declared length), UTF-8 (fed piece by
 * piece: fail-fast inside a frame, code points may span fragments). A single-frame message
 * whose payload arrived in one recv() is delivered straight from the input buffer; anything
 * else is reassembled in s->msg as bytes arrive.
 *
 * Failing (RFC 6455 7.1.7): queue a close frame with the code wsref_err_close_code() names,
 * stop reading, on_transport_error(err), then on_close(1006) at once (the peer's close was
 * never read), state CLOSED. wsref_session_transport_done() turns true once the output is
 * flushed, or after close_timeout_ms if the peer does not read it.
 *
 * Closing. Peer first: echo its code (empty payload for none), on_close(its status, 1005 for
 * none), CLOSED; a server then closes TCP after the flush, a client waits up to
 * close_timeout_ms for the server's TCP close. We first (wsref_session_close): CLOSING; what the
 * peer sent before it saw our close is still validated and delivered (as browsers and npm
 * ws do: a reply in flight is not lost), pings are no longer answered (nothing may follow
 * our close, RFC 6455 5.5.1), and the peer's close ends it, within close_timeout_ms (then
 * on_close(1006)).
 *
 * Pongs. A peer that pings while not reading our output could grow it without bound: over
 * max_output the pong is skipped (RFC 6455 5.5.3 allows answering only the latest ping).
 *
 * Ids. session_alloc() mixes the session's address, the creation time and opt.seed through
 * splitmix64; no global counter exists, and two live sessions colliding is as likely as two
 * random 64-bit values doing so.
 *
 * Client masks. Each frame takes the low 32 bits of the next splitmix64 output (seeded with
 * opt.seed), least significant byte first, so tests and replays are deterministic. */

/* A reassembly buffer that grew past this is released after its message, so one large
 * message does not pin its memory for the rest of a long-lived connection. */
#define MSG_KEEP_CAP 65536

typedef struct req_header {
  const char *name, *value;
} req_header;

struct wsref_session {
  bool client;
  enum wsref_session_state state;
  wsref_session_options opt;
  wsref_session_io io;
  const wsref_registry *reg;
  const wsref_handler *h;
  wsref_handler client_handler; /* the client's handler is copied: no lifetime demands */
  void *user_data;
  char id[17];
  char *remote_addr;
  char *path;
  char subprotocol[WSREF_SUBPROTOCOL_MAX];
  char extensions[WSREF_EXTENSIONS_MAX];
  unsigned rsv_mask;
  const wsref_extension *extension;
  void *extension_state;
  wsref_attrs attrs;

  /* opening handshake */
  wsref_buf hs_in;
  wsref_http_request *req;  /* server, while CONNECTING */
  wsref_http_response *res; /* client, while CONNECTING */
  char *hdr_block;          /* request headers kept for wsref_session_request_header() */
  req_header *hdrs;
  size_t nhdrs;
  wsref_handshake_client hs; /* client: deep copy, for verification */
  char **hs_subprotocols;

  /* life cycle */
  bool opened;       /* on_open ran (so on_close is owed) */
  bool close_called; /* on_close ran */
  bool close_sent, close_received, failed;
  bool stopped;    /* no further input is processed */
  bool done;       /* close the transport once output is flushed */
  bool force_done; /* close the transport now, flushed or not */
  bool transport_closed;

  /* receiving */
  wsref_frame_parser fp;
  uint8_t fop; /* current frame */
  bool ffin;
  uint64_t flen;
  bool in_msg; /* a data message is being received */
  uint8_t msg_type;
  uint64_t msg_len;
  wsref_utf8 rx_utf8;
  wsref_buf msg;
  const uint8_t *direct; /* whole single-frame message, still in the input buffer */
  size_t direct_len;
  bool have_direct;
  uint8_t ctrl[WSREF_CONTROL_MAX];
  size_t ctrl_len;
  wsref_close_status peer_status;

  /* sending */
  wsref_buf out;
  bool tx_in_msg;
  uint8_t tx_type;
  wsref_utf8 tx_utf8;
  uint64_t prng;
  void (*drain)(wsref_session *, void *);
  void *drain_ud;

  /* time */
  uint64_t now, output_since, last_rx;
  uint64_t hs_deadline, close_deadline, linger_deadline;
};

static const wsref_handler empty_handler;

/* ---- helpers ---- */

static uint64_t splitmix64(uint64_t *x) {
  uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
  z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
  z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
  return z ^ (z >> 31);
}

static char *dup_str(const char *p) {
  if (!p) return NULL;
  size_t n = strlen(p);
  char *d = malloc(n + 1);
  if (d) memcpy(d, p, n + 1);
  return d;
}

static char *dup_mem(const char *p, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  if (n) memcpy(d, p, n);
  d[n] = 0;
  return d;
}

static void slog(wsref_session *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void slog(wsref_session *s, const char *fmt, ...) {
  if (!s->io.log) return;
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  s->io.log(s, line, s->io.io_ud);
}

/* 0 is "no timer" everywhere, so a deadline never computes to 0. */
static uint64_t after(uint64_t now, uint32_t ms) {
  uint64_t t = now + ms;
  return t ? t : 1;
}

static void out_changed(wsref_session *s, bool was_empty) {
  if (!was_empty || wsref_buf_len(&s->out) == 0) return;
  s->output_since = s->now;
  if (s->io.want_write && !s->transport_closed) s->io.want_write(s, s->io.io_ud);
}

/* Queue one frame. Client frames get a fresh mask key from the seeded PRNG. */
static int queue_frame(wsref_session *s, unsigned opcode, bool fin, const uint8_t *p, size_t n) {
  wsref_frame_header h;
  memset(&h, 0, sizeof h);
  h.fin = fin;
  h.opcode = (uint8_t)opcode;
  h.length = n;
  if (s->client) {
    uint64_t r = splitmix64(&s->prng);
    h.masked = true;
    for (int i = 0; i < 4; i++) h.mask[i] = (uint8_t)(r >> (8 * i));
  }
  uint8_t hb[WSREF_FRAME_HEADER_MAX];
  size_t hl = wsref_frame_header_encode(hb, &h);
  if (n > SIZE_MAX - hl) return WSREF_E_LIMIT;
  bool was_empty = wsref_buf_len(&s->out) == 0;
  uint8_t *dst = wsref_buf_reserve(&s->out, hl + n);
  if (!dst) return WSREF_E_NOMEM;
  memcpy(dst, hb, hl);
  if (n) {
    if (h.masked)
      wsref_mask_copy(dst + hl, p, n, h.mask, 0);
    else
      memcpy(dst + hl, p, n);
  }
  wsref_buf_commit(&s->out, hl + n);
  out_changed(s, was_empty);
  return 0;
}

static int queue_close(wsref_session *s, unsigned code, const char *reason) {
  uint8_t pl[WSREF_CONTROL_MAX];
  size_t n = wsref_close_encode(pl, code, reason, reason ? strlen(reason) : 0);
  s->close_sent = true;
  return queue_frame(s, WSREF_OP_CLOSE, true, pl, n);
}

/* Server: close once flushed; a peer that stops reading gets close_timeout to drain. */
static void set_done(wsref_session *s) {
  s->done = true;
  if (!s->linger_deadline) s->linger_deadline = after(s->now, s->opt.close_timeout_ms);
}

/* Reach CLOSED and run on_close once. how == NULL: the caller already logged the event. */
static void finish_closed(wsref_session *s, const wsref_close_status *st, const char *how) {
  if (s->state == WSREF_STATE_CLOSED) return;
  s->state = WSREF_STATE_CLOSED;
  s->close_deadline = 0;
  s->hs_deadline = 0;
  if (how) slog(s, "close %u %s", (unsigned)st->code, how);
  if (s->opened && !s->close_called) {
    s->close_called = true;
    if (s->h->on_close) s->h->on_close(s, st, s->h->ud);
  }
}

static void abnormal_status(wsref_close_status *st) {
  wsref_close_status_set(st, WSREF_CLOSE_ABNORMAL, NULL);
}

/* RFC 6455 7.1.7 _Fail the WebSocket Connection_: send the close code that names the
 * violation (unless a close frame already went out), stop reading, close the transport. */
static int fail(wsref_session *s, int err) {
  s->stopped = true;
  if (s->failed || s->state == WSREF_STATE_CLOSED) return err;
  s->failed = true;
  unsigned code = wsref_err_close_code(err);
  if (!code) code = WSREF_CLOSE_SERVER_ERROR;
  if (s->state != WSREF_STATE_CONNECTING && !s->close_sent) queue_close(s, code, NULL);
  slog(s, "fail %u %s", code, wsref_err_name(err));
  set_done(s);
  if ((s->opened || s->client) && s->h->on_transport_error)
    s->h->on_transport_error(s, err, s->h->ud);
  wsref_close_status st;
  abnormal_status(&st);
  finish_closed(s, &st, NULL);
  return err;
}

static int deliver(wsref_session *s, enum wsref_message_type type, const uint8_t *p, size_t n,
                   bool last) {
  if (!s->h->on_message) return 0;
  wsref_message m = {type, p ? p : (const uint8_t *)"", n, last};
  if (s->h->on_message(s, &m, s->h->ud) != 0) return fail(s, WSREF_E_HANDLER);
  return 0;
}

/* ---- receiving frames ---- */

static uint64_t max_frame(const wsref_session *s) {
  return s->opt.max_frame ? s->opt.max_frame : s->opt.max_message;
}

static void parser_init(wsref_session *s) {
  wsref_frame_parser_options po;
  memset(&po, 0, sizeof po);
  po.role = s->client ? WSREF_ROLE_CLIENT : WSREF_ROLE_SERVER;
  po.max_frame = max_frame(s);
  po.allow_non_minimal = s->opt.allow_non_minimal;
  wsref_frame_parser_init(&s->fp, &po);
}

static int on_header(wsref_session *s, const wsref_frame_header *h) {
  s->fop = h->opcode;
  s->ffin = h->fin;
  s->flen = h->length;
  s->ctrl_len = 0;
  s->have_direct = false;
  unsigned rsv = (h->rsv1 ? 4u : 0u) | (h->rsv2 ? 2u : 0u) | (h->rsv3 ? 1u : 0u);
  if (rsv & ~s->rsv_mask) return fail(s, WSREF_E_FRAME_RSV);
  if (!wsref_opcode_is_defined(h->opcode)) return fail(s, WSREF_E_FRAME_OPCODE);
  if (wsref_opcode_is_control(h->opcode)) {
    if (!h->fin) return fail(s, WSREF_E_FRAME_CONTROL_FRAG);
    if (h->length > WSREF_CONTROL_MAX) return fail(s, WSREF_E_FRAME_CONTROL_LEN);
    return 0;
  }
  if (h->opcode == WSREF_OP_CONT) {
    if (!s->in_msg) return fail(s, WSREF_E_FRAME_CONT);
  } else {
    if (s->in_msg) return fail(s, WSREF_E_FRAME_NOT_CONT);
    unsigned bit = h->opcode == WSREF_OP_TEXT ? WSREF_ACCEPT_TEXT : WSREF_ACCEPT_BINARY;
    if (s->h->accept && !(s->h->accept & bit)) return fail(s, WSREF_E_MESSAGE_TYPE);
    s->in_msg = true;
    s->msg_type = h->opcode;
    s->msg_len = 0;
    wsref_utf8_init(&s->rx_utf8);
    wsref_buf_reset(&s->msg);
  }
  if (h->length > max_frame(s)) return fail(s, WSREF_E_FRAME_TOO_BIG);
  /* The declared length is a promise of bytes to come, so exceeding the message limit is
   * known here; nothing is allocated for it (a 2^62 declaration costs nothing). */
  if (h->length > s->opt.max_message - s->msg_len) return fail(s, WSREF_E_MESSAGE_TOO_BIG);
  return 0;
}

static int on_payload(wsref_session *s, const wsref_frame_event *ev) {
  if (ev->len == 0) return 0;
  if (wsref_opcode_is_control(s->fop)) {
    if (ev->offset > WSREF_CONTROL_MAX || ev->len > WSREF_CONTROL_MAX - ev->offset)
      return fail(s, WSREF_E_FRAME_CONTROL_LEN);
    memcpy(s->ctrl + ev->offset, ev->data, ev->len);
    s->ctrl_len = (size_t)ev->offset + ev->len;
    return 0;
  }
  if (s->msg_type == WSREF_OP_TEXT && wsref_utf8_feed(&s->rx_utf8, ev->data, ev->len, NULL) < 0)
    return fail(s, WSREF_E_UTF8);
  if (ev->len > s->opt.max_message - s->msg_len) return fail(s, WSREF_E_MESSAGE_TOO_BIG);
  s->msg_len += ev->len;
  bool frame_done = ev->offset + ev->len == s->flen;
  if (s->h->partial_messages) {
    bool last = s->ffin && frame_done;
    if (last && s->msg_type == WSREF_OP_TEXT && !wsref_utf8_complete(&s->rx_utf8))
      return fail(s, WSREF_E_UTF8);
    return deliver(s, (enum wsref_message_type)s->msg_type, ev->data, ev->len, last);
  }
  /* Hot path: a single-frame message that arrived in one piece is delivered from the input
   * buffer at END (same recv call), with no copy. */
  if (s->fop != WSREF_OP_CONT && s->ffin && ev->offset == 0 && frame_done) {
    s->direct = ev->data;
    s->direct_len = ev->len;
    s->have_direct = true;
    return 0;
  }
  if (wsref_buf_append(&s->msg, ev->data, ev->len) < 0) return fail(s, WSREF_E_NOMEM);
  return 0;
}

static int on_close_frame(wsref_session *s) {
  wsref_close_status st;
  int rc = wsref_close_parse(s->ctrl, s->ctrl_len, &st);
  if (rc < 0) return fail(s, rc);
  s->close_received = true;
  s->stopped = true;
  if (!s->close_sent) {
    /* Echo the code (RFC 6455 5.5.1); no code in, no code out. */
    uint8_t pl[2];
    size_t n = 0;
    if (st.code) {
      pl[0] = (uint8_t)(st.code >> 8);
      pl[1] = (uint8_t)st.code;
      n = 2;
    }
    s->close_sent = true;
    queue_frame(s, WSREF_OP_CLOSE, true, pl, n);
  }
  if (st.code == 0) st.code = WSREF_CLOSE_NO_STATUS;
  s->peer_status = st;
  if (s->client) {
    /* RFC 6455 7.1.1: the server closes TCP first; wait for it, but not forever. */
    s->linger_deadline = after(s->now, s->opt.close_timeout_ms);
  } else {
    set_done(s);
  }
  finish_closed(s, &s->peer_status, "clean");
  return 0;
}

static int on_end(wsref_session *s) {
  switch (s->fop) {
    case WSREF_OP_CLOSE:
      return on_close_frame(s);
    case WSREF_OP_PING:
      /* A peer that pings without reading must not grow our output without bound; RFC 6455
       * 5.5.3 lets us skip pongs for earlier pings. Nothing follows our close frame. */
      if (!s->close_sent && wsref_buf_len(&s->out) <= s->opt.max_output) {
        int rc = queue_frame(s, WSREF_OP_PONG, true, s->ctrl, s->ctrl_len);
        if (rc < 0) return fail(s, rc);
      }
      return 0;
    case WSREF_OP_PONG:
      return deliver(s, WSREF_MSG_PONG, s->ctrl, s->ctrl_len, true);
    default:
      break;
  }
  if (!s->ffin) return 0;
  if (s->msg_type == WSREF_OP_TEXT && !wsref_utf8_complete(&s->rx_utf8))
    return fail(s, WSREF_E_UTF8);
  s->in_msg = false;
  enum wsref_message_type type = (enum wsref_message_type)s->msg_type;
  if (s->h->partial_messages) {
    /* An empty final frame still ends the message: one empty is_last piece. */
    return s->flen == 0 ? deliver(s, type, NULL, 0, true) : 0;
  }
  int rc;
  if (s->have_direct) {
    s->have_direct = false;
    rc = deliver(s, type, s->direct, s->direct_len, true);
  } else {
    size_t n = wsref_buf_len(&s->msg);
    rc = deliver(s, type, n ? wsref_buf_head(&s->msg) : NULL, n, true);
  }
  wsref_buf_reset(&s->msg);
  if (s->msg.cap > MSG_KEEP_CAP) wsref_buf_free(&s->msg);
  return rc;
}

static int feed_frames(wsref_session *s, uint8_t *p, size_t n) {
  size_t off = 0;
  int rc = 0;
  while (!s->stopped) {
    wsref_frame_event ev;
    ssize_t r = wsref_frame_parse(&s->fp, p + off, n - off, &ev);
    if (r < 0) {
      rc = fail(s, (int)r);
      break;
    }
    off += (size_t)r;
    if (ev.type == WSREF_FRAME_EV_NONE) {
      if (r == 0 || off >= n) break;
      continue;
    }
    if (ev.type == WSREF_FRAME_EV_HEADER)
      rc = on_header(s, ev.header);
    else if (ev.type == WSREF_FRAME_EV_PAYLOAD)
      rc = on_payload(s, &ev);
    else
      rc = on_end(s);
    if (rc < 0) break;
  }
  /* The input buffer is the caller's; a message not yet delivered must not point into it. */
  if (s->have_direct) {
    s->have_direct = false;
    if (!s->stopped && wsref_buf_append(&s->msg, s->direct, s->direct_len) < 0)
      rc = fail(s, WSREF_E_NOMEM);
  }
  return rc;
}

/* ---- opening handshake ---- */

static void handshake_failed(wsref_session *s) {
  s->stopped = true;
  s->state = WSREF_STATE_CLOSED;
  s->hs_deadline = 0;
  set_done(s);
}

static int start_open(wsref_session *s, size_t head_len) {
  s->state = WSREF_STATE_OPEN;
  s->hs_deadline = 0;
  parser_init(s);
  if (s->subprotocol[0] && s->extensions[0])
    slog(s, "open %s subprotocol=%s extensions=%s", s->path, s->subprotocol, s->extensions);
  else if (s->subprotocol[0])
    slog(s, "open %s subprotocol=%s", s->path, s->subprotocol);
  else if (s->extensions[0])
    slog(s, "open %s extensions=%s", s->path, s->extensions);
  else
    slog(s, "open %s", s->path);
  s->opened = true;
  if (s->h->on_open && s->h->on_open(s, s->h->ud) != 0) return fail(s, WSREF_E_HANDLER);
  /* Bytes after the head in the same read are the peer's first frames. */
  size_t have = wsref_buf_len(&s->hs_in);
  int rc = 0;
  if (have > head_len && !s->stopped)
    rc = feed_frames(s, wsref_buf_head(&s->hs_in) + head_len, have - head_len);
  wsref_buf_free(&s->hs_in);
  return rc;
}

static int keep_request_headers(wsref_session *s, const wsref_http_request *req) {
  size_t total = 0;
  for (size_t i = 0; i < req->nheaders; i++)
    total += req->headers[i].name.n + req->headers[i].value.n + 2;
  s->hdr_block = malloc(total ? total : 1);
  s->hdrs = calloc(req->nheaders ? req->nheaders : 1, sizeof *s->hdrs);
  if (!s->hdr_block || !s->hdrs) return WSREF_E_NOMEM;
  char *p = s->hdr_block;
  for (size_t i = 0; i < req->nheaders; i++) {
    const wsref_http_header *h = &req->headers[i];
    s->hdrs[i].name = p;
    memcpy(p, h->name.p, h->name.n);
    p += h->name.n;
    *p++ = 0;
    s->hdrs[i].value = p;
    memcpy(p, h->value.p, h->value.n);
    p += h->value.n;
    *p++ = 0;
  }
  s->nhdrs = req->nheaders;
  return 0;
}

static int server_handshake(wsref_session *s, const uint8_t *data, size_t len) {
  if (wsref_buf_append(&s->hs_in, data, len) < 0) {
    handshake_failed(s);
    return WSREF_E_NOMEM;
  }
  const char *buf = (const char *)wsref_buf_head(&s->hs_in);
  ssize_t r = wsref_http_parse_request(buf, wsref_buf_len(&s->hs_in), &s->opt.http, s->req);
  if (r == WSREF_NEED_MORE) return 0;
  bool was_empty = wsref_buf_len(&s->out) == 0;
  if (r < 0) {
    int status = (r == WSREF_E_HTTP_TOO_LARGE || r == WSREF_E_HTTP_TOO_MANY_HEADERS) ? 431 : 400;
    wsref_handshake_write_error(&s->out, status, wsref_strerror((int)r), NULL);
    out_changed(s, was_empty);
    slog(s, "handshake %d %s", status, wsref_err_name((int)r));
    handshake_failed(s);
    return (int)r;
  }
  size_t head_len = (size_t)r;
  const wsref_http_request *req = s->req;
  size_t plen = 0;
  while (plen < req->target.n && req->target.p[plen] != '?') plen++;
  s->path = dup_mem(req->target.p, plen);
  if (!s->path) {
    handshake_failed(s);
    return WSREF_E_NOMEM;
  }

  wsref_handshake_result res;
  int hr = wsref_handshake_server(s->reg, req, s->remote_addr, &res, &s->out);
  out_changed(s, was_empty);
  if (hr < 0) {
    slog(s, "handshake %d %.200s", res.status, s->path);
    wsref_attrs_free(&res.attrs);
    handshake_failed(s);
    return hr;
  }
  s->h = res.handler ? res.handler : &empty_handler;
  /* The registered path: the request target may have been in absolute form. */
  const char *rp = res.registration ? wsref_registration_path(res.registration) : NULL;
  if (rp) {
    char *np = dup_str(rp);
    if (np) {
      free(s->path);
      s->path = np;
    }
  }
  snprintf(s->subprotocol, sizeof s->subprotocol, "%s", res.subprotocol);
  snprintf(s->extensions, sizeof s->extensions, "%s", res.extensions);
  s->rsv_mask = res.rsv_mask;
  s->extension = res.extension;
  s->extension_state = res.extension_state;
  wsref_attrs_free(&s->attrs);
  s->attrs = res.attrs; /* moved */
  if (keep_request_headers(s, req) < 0) return fail(s, WSREF_E_NOMEM);
  free(s->req);
  s->req = NULL;
  return start_open(s, head_len);
}

/* No WebSocket connection exists yet, so no close frame: the handler learns of the failure
 * through on_transport_error (on_close is owed only after on_open). */
static int client_handshake_failed(wsref_session *s, int status, int err) {
  slog(s, "handshake %d %s", status, wsref_err_name(err));
  s->failed = true;
  handshake_failed(s);
  if (s->h->on_transport_error) s->h->on_transport_error(s, err, s->h->ud);
  return err;
}

static int client_handshake(wsref_session *s, const uint8_t *data, size_t len) {
  if (wsref_buf_append(&s->hs_in, data, len) < 0)
    return client_handshake_failed(s, 0, WSREF_E_NOMEM);
  ssize_t r;
  for (;;) {
    const char *buf = (const char *)wsref_buf_head(&s->hs_in);
    r = wsref_http_parse_response(buf, wsref_buf_len(&s->hs_in), &s->opt.http, s->res);
    if (r == WSREF_NEED_MORE) return 0;
    if (r < 0) return client_handshake_failed(s, 0, (int)r);
    /* RFC 9110 15.2: a 1xx other than 101 is interim; the final response follows. */
    if (s->res->status < 100 || s->res->status > 199 || s->res->status == 101) break;
    slog(s, "interim response %d skipped", s->res->status);
    wsref_buf_consume(&s->hs_in, (size_t)r);
  }
  int rc = wsref_handshake_client_verify(&s->hs, s->res, s->subprotocol);
  if (rc < 0) return client_handshake_failed(s, s->res->status, rc);
  const wsref_http_header *ext =
      wsref_http_find(s->res->headers, s->res->nheaders, "Sec-WebSocket-Extensions");
  if (ext) {
    size_t n = ext->value.n < sizeof s->extensions - 1 ? ext->value.n : sizeof s->extensions - 1;
    memcpy(s->extensions, ext->value.p, n);
    s->extensions[n] = 0;
  }
  free(s->res);
  s->res = NULL;
  return start_open(s, (size_t)r);
}

/* ---- construction ---- */

void wsref_session_options_default(wsref_session_options *o) {
  memset(o, 0, sizeof *o);
  o->max_message = UINT64_C(64) << 20;
  o->max_frame = 0;
  o->max_output = (size_t)256 << 20;
  o->http.max_head = WSREF_HTTP_MAX_HEAD_DEFAULT;
  o->http.max_headers = WSREF_HTTP_MAX_HEADERS_DEFAULT;
  o->handshake_timeout_ms = 10000;
  o->close_timeout_ms = 3000;
  o->idle_timeout_ms = 0;
  o->allow_non_minimal = false;
  o->seed = 0;
  o->id = 0;
}

static wsref_session *session_alloc(const wsref_session_options *opt, const wsref_session_io *io,
                                    uint64_t now_ms) {
  wsref_session *s = calloc(1, sizeof *s);
  if (!s) return NULL;
  if (opt)
    s->opt = *opt;
  else
    wsref_session_options_default(&s->opt);
  if (!s->opt.http.max_head) s->opt.http.max_head = WSREF_HTTP_MAX_HEAD_DEFAULT;
  if (!s->opt.http.max_headers) s->opt.http.max_headers = WSREF_HTTP_MAX_HEADERS_DEFAULT;
  if (io) s->io = *io;
  s->h = &empty_handler;
  s->state = WSREF_STATE_CONNECTING;
  s->now = now_ms;
  s->last_rx = now_ms;
  if (s->opt.handshake_timeout_ms) s->hs_deadline = after(now_ms, s->opt.handshake_timeout_ms);
  s->prng = s->opt.seed;
  uint64_t id = s->opt.id;
  if (!id) {
    uint64_t mix = (uint64_t)(uintptr_t)s ^ (now_ms << 32 | now_ms >> 32) ^ s->opt.seed;
    id = splitmix64(&mix);
  }
  snprintf(s->id, sizeof s->id, "%" PRIx64, id);
  return s;
}

wsref_session *wsref_session_new_server(const wsref_registry *reg, const wsref_session_options *opt,
                                        const wsref_session_io *io, const char *remote_addr,
                                        uint64_t now_ms) {
  wsref_session *s = session_alloc(opt, io, now_ms);
  if (!s) return NULL;
  s->reg = reg;
  s->remote_addr = dup_str(remote_addr ? remote_addr : "");
  s->req = malloc(sizeof *s->req);
  if (!s->remote_addr || !s->req) {
    wsref_session_free(s);
    return NULL;
  }
  return s;
}

static int copy_client(wsref_session *s, const wsref_handshake_client *c) {
  wsref_handshake_client *d = &s->hs;
  memcpy(d->nonce, c->nonce, sizeof d->nonce);
  memcpy(d->key, c->key, sizeof d->key);
  d->host = dup_str(c->host ? c->host : "");
  d->path = dup_str(c->path ? c->path : "/");
  d->origin = c->origin ? dup_str(c->origin) : NULL;
  d->extensions = c->extensions ? dup_str(c->extensions) : NULL;
  if (!d->host || !d->path || (c->origin && !d->origin) || (c->extensions && !d->extensions))
    return WSREF_E_NOMEM;
  if (c->nsubprotocols) {
    s->hs_subprotocols = calloc(c->nsubprotocols, sizeof(char *));
    if (!s->hs_subprotocols) return WSREF_E_NOMEM;
    for (size_t i = 0; i < c->nsubprotocols; i++) {
      s->hs_subprotocols[i] = dup_str(c->subprotocols[i]);
      if (!s->hs_subprotocols[i]) return WSREF_E_NOMEM;
      d->nsubprotocols = i + 1;
    }
    d->subprotocols = (const char *const *)s->hs_subprotocols;
  }
  /* Extra request headers matter only for the request itself. */
  d->headers = NULL;
  d->nheaders = 0;
  return 0;
}

wsref_session *wsref_session_new_client(wsref_handshake_client *hs, const wsref_handler *h,
                                        const wsref_session_options *opt,
                                        const wsref_session_io *io, uint64_t now_ms) {
  wsref_session *s = session_alloc(opt, io, now_ms);
  if (!s) return NULL;
  s->client = true;
  if (h) s->client_handler = *h;
  s->h = &s->client_handler;
  s->res = malloc(sizeof *s->res);
  s->remote_addr = dup_str("");
  if (!s->res || !s->remote_addr || wsref_handshake_client_request(hs, &s->out) < 0 ||
      copy_client(s, hs) < 0) {
    wsref_session_free(s);
    return NULL;
  }
  s->path = dup_mem(s->hs.path, strlen(s->hs.path));
  if (!s->path) {
    wsref_session_free(s);
    return NULL;
  }
  out_changed(s, true);
  return s;
}

void wsref_session_free(wsref_session *s) {
  if (!s) return;
  if (s->opened && !s->close_called) {
    /* The io layer dropped the session without transport_closed(): on_close is still owed. */
    wsref_close_status st;
    abnormal_status(&st);
    finish_closed(s, &st, NULL);
  }
  if (s->extension && s->extension_state && s->extension->free_state)
    s->extension->free_state(s->extension_state, s->extension->ud);
  wsref_buf_free(&s->hs_in);
  wsref_buf_free(&s->msg);
  wsref_buf_free(&s->out);
  wsref_attrs_free(&s->attrs);
  free(s->req);
  free(s->res);
  free(s->hdr_block);
  free(s->hdrs);
  free(s->remote_addr);
  free(s->path);
  free((char *)s->hs.host);
  free((char *)s->hs.path);
  free((char *)s->hs.origin);
  free((char *)s->hs.extensions);
  if (s->hs_subprotocols) {
    for (size_t i = 0; i < s->hs.nsubprotocols; i++) free(s->hs_subprotocols[i]);
    free(s->hs_subprotocols);
  }
  free(s);
}

/* ---- io side ---- */

int wsref_session_recv(wsref_session *s, uint8_t *data, size_t len, uint64_t now_ms) {
  s->now = now_ms;
  if (s->stopped || s->transport_closed || len == 0) return 0;
  s->last_rx = now_ms;
  if (s->state == WSREF_STATE_CONNECTING)
    return s->client ? client_handshake(s, data, len) : server_handshake(s, data, len);
  return feed_frames(s, data, len);
}

const uint8_t *wsref_session_output(wsref_session *s, size_t *len) {
  size_t n = wsref_buf_len(&s->out);
  *len = n;
  return n ? wsref_buf_head(&s->out) : NULL;
}

void wsref_session_output_done(wsref_session *s, size_t n, uint64_t now_ms) {
  s->now = now_ms;
  if (n == 0) return;
  wsref_buf_consume(&s->out, n);
  if (wsref_buf_len(&s->out) == 0) {
    s->output_since = 0;
    if (s->drain && !s->transport_closed) s->drain(s, s->drain_ud);
  }
}

static void take_min(uint64_t *best, uint64_t t) {
  if (t && (!*best || t < *best)) *best = t;
}

uint64_t wsref_session_deadline(const wsref_session *s) {
  if (s->transport_closed) return 0;
  uint64_t best = 0;
  if (s->state == WSREF_STATE_CONNECTING) take_min(&best, s->hs_deadline);
  if (s->state == WSREF_STATE_OPEN && s->opt.idle_timeout_ms)
    take_min(&best, after(s->last_rx, s->opt.idle_timeout_ms));
  if (s->state == WSREF_STATE_CLOSING) take_min(&best, s->close_deadline);
  if (!s->force_done) take_min(&best, s->linger_deadline);
  return best;
}

void wsref_session_tick(wsref_session *s, uint64_t now_ms) {
  s->now = now_ms;
  if (s->transport_closed) return;
  if (s->state == WSREF_STATE_CONNECTING && s->hs_deadline && now_ms >= s->hs_deadline) {
    slog(s, "handshake timeout");
    handshake_failed(s);
    s->force_done = true;
    if (s->client && s->h->on_transport_error)
      s->h->on_transport_error(s, WSREF_E_TIMEOUT, s->h->ud);
  }
  if (s->state == WSREF_STATE_OPEN && s->opt.idle_timeout_ms &&
      now_ms >= after(s->last_rx, s->opt.idle_timeout_ms)) {
    slog(s, "idle timeout");
    wsref_session_close(s, WSREF_CLOSE_GOING_AWAY, "idle timeout");
  }
  if (s->state == WSREF_STATE_CLOSING && s->close_deadline && now_ms >= s->close_deadline) {
    slog(s, "close timeout");
    s->stopped = true;
    s->done = s->force_done = true;
    wsref_close_status st;
    abnormal_status(&st);
    finish_closed(s, &st, NULL);
  }
  if (s->linger_deadline && now_ms >= s->linger_deadline) {
    s->linger_deadline = 0;
    s->done = s->force_done = true;
  }
}

void wsref_session_transport_closed(wsref_session *s, int err, uint64_t now_ms) {
  s->now = now_ms;
  if (s->transport_closed) return;
  s->transport_closed = true;
  s->stopped = true;
  s->done = true;
  s->linger_deadline = 0;
  wsref_buf_reset(&s->out);
  s->output_since = 0;
  if (s->state == WSREF_STATE_CLOSED) return;
  if (s->state == WSREF_STATE_CONNECTING) {
    slog(s, "handshake aborted %s", wsref_err_name(err ? err : WSREF_E_CLOSED));
    s->state = WSREF_STATE_CLOSED;
    if (s->client && s->h->on_transport_error)
      s->h->on_transport_error(s, err ? err : WSREF_E_CLOSED, s->h->ud);
    return;
  }
  if (err < 0 && s->opened && s->h->on_transport_error) s->h->on_transport_error(s, err, s->h->ud);
  wsref_close_status st;
  abnormal_status(&st);
  finish_closed(s, &st, "abnormal");
}

bool wsref_session_transport_done(const wsref_session *s) {
  return s->transport_closed || s->force_done || (s->done && wsref_buf_len(&s->out) == 0);
}

/* ---- application side ---- */

const char *wsref_session_id(const wsref_session *s) {
  return s->id;
}
wsref_attrs *wsref_session_attributes(wsref_session *s) {
  return &s->attrs;
}
const char *wsref_session_subprotocol(const wsref_session *s) {
  return s->subprotocol;
}
const char *wsref_session_extensions(const wsref_session *s) {
  return s->extensions;
}
const char *wsref_session_remote_addr(const wsref_session *s) {
  return s->remote_addr ? s->remote_addr : "";
}
const char *wsref_session_path(const wsref_session *s) {
  return s->path ? s->path : "";
}

const char *wsref_session_request_header(const wsref_session *s, const char *name) {
  for (size_t i = 0; i < s->nhdrs; i++)
    if (strcasecmp(s->hdrs[i].name, name) == 0) return s->hdrs[i].value;
  return NULL;
}

enum wsref_session_state wsref_session_state(const wsref_session *s) {
  return s->state;
}
bool wsref_session_is_open(const wsref_session *s) {
  return s->state == WSREF_STATE_OPEN;
}
const wsref_handler *wsref_session_handler(const wsref_session *s) {
  return s->h;
}
void wsref_session_set_user_data(wsref_session *s, void *ud) {
  s->user_data = ud;
}
void *wsref_session_user_data(const wsref_session *s) {
  return s->user_data;
}
uint64_t wsref_session_now(const wsref_session *s) {
  return s->now;
}
size_t wsref_session_buffered(const wsref_session *s) {
  return wsref_buf_len(&s->out);
}
uint64_t wsref_session_output_since(const wsref_session *s) {
  return wsref_buf_len(&s->out) ? s->output_since : 0;
}

int wsref_session_send(wsref_session *s, const wsref_message *m) {
  if (!s || !m || (m->len && !m->data)) return WSREF_E_INVALID_ARG;
  if (s->state != WSREF_STATE_OPEN || s->close_sent || s->transport_closed) return WSREF_E_STATE;
  unsigned opcode;
  wsref_utf8 u;
  wsref_utf8_init(&u);
  switch (m->type) {
    case WSREF_MSG_PING:
    case WSREF_MSG_PONG:
      if (m->len > WSREF_CONTROL_MAX || !m->is_last) return WSREF_E_INVALID_ARG;
      opcode = (unsigned)m->type;
      break;
    case WSREF_MSG_TEXT:
    case WSREF_MSG_BINARY:
      if (s->tx_in_msg && (unsigned)m->type != s->tx_type) return WSREF_E_INVALID_ARG;
      opcode = s->tx_in_msg ? WSREF_OP_CONT : (unsigned)m->type;
      if (m->type == WSREF_MSG_TEXT) {
        /* Fragments may split a code point; only the message end must be on a boundary. */
        if (s->tx_in_msg) u = s->tx_utf8;
        if (wsref_utf8_feed(&u, m->data, m->len, NULL) < 0) return WSREF_E_UTF8;
        if (m->is_last && !wsref_utf8_complete(&u)) return WSREF_E_UTF8;
      }
      break;
    default:
      return WSREF_E_INVALID_ARG;
  }
  size_t have = wsref_buf_len(&s->out);
  size_t hl = (m->len <= WSREF_CONTROL_MAX ? 2 : m->len <= 0xFFFF ? 4 : 10) + (s->client ? 4 : 0);
  if (m->len > SIZE_MAX - hl - have || have + hl + m->len > s->opt.max_output) return WSREF_E_LIMIT;
  int rc = queue_frame(s, opcode, m->is_last, m->data, m->len);
  if (rc < 0) return rc;
  if (opcode != WSREF_OP_PING && opcode != WSREF_OP_PONG) {
    s->tx_in_msg = !m->is_last;
    s->tx_type = (uint8_t)m->type;
    s->tx_utf8 = u;
  }
  return 0;
}

int wsref_session_send_text(wsref_session *s, const char *text, size_t len) {
  wsref_message m = {WSREF_MSG_TEXT, (const uint8_t *)text, len, true};
  return wsref_session_send(s, &m);
}

int wsref_session_send_binary(wsref_session *s, const void *data, size_t len) {
  wsref_message m = {WSREF_MSG_BINARY, (const uint8_t *)data, len, true};
  return wsref_session_send(s, &m);
}

int wsref_session_close(wsref_session *s, unsigned code, const char *reason) {
  if (s->state != WSREF_STATE_OPEN || s->close_sent || s->transport_closed) return WSREF_E_STATE;
  if (code && !wsref_close_code_valid(code)) return WSREF_E_INVALID_ARG;
  if (code && reason && !wsref_utf8_valid((const uint8_t *)reason, strlen(reason)))
    return WSREF_E_UTF8;
  int rc = queue_close(s, code, code ? reason : NULL);
  if (rc < 0) return rc;
  s->state = WSREF_STATE_CLOSING;
  s->close_deadline = after(s->now, s->opt.close_timeout_ms);
  return 0;
}

void wsref_session_terminate(wsref_session *s, unsigned code, const char *reason) {
  if (s->transport_closed) return;
  s->stopped = true;
  set_done(s);
  if (s->state == WSREF_STATE_CLOSED) return;
  if (s->state == WSREF_STATE_CONNECTING) {
    s->state = WSREF_STATE_CLOSED;
    s->hs_deadline = 0;
    return;
  }
  /* Only what may appear on the wire goes out (RFC 6455 7.4.1, 5.5.1): a code that must not
   * be sent becomes 1011, a reason that is not UTF-8 is dropped (for on_close too). */
  if (reason && !wsref_utf8_valid((const uint8_t *)reason, strlen(reason))) reason = NULL;
  if (code && !s->close_sent)
    queue_close(s, wsref_close_code_valid(code) ? code : WSREF_CLOSE_SERVER_ERROR, reason);
  slog(s, "terminate %u", code);
  wsref_close_status st;
  if (code)
    wsref_close_status_set(&st, code, reason);
  else
    abnormal_status(&st);
  finish_closed(s, &st, NULL);
}

void wsref_session_set_drain_hook(wsref_session *s, void (*fn)(wsref_session *, void *), void *ud) {
  s->drain = fn;
  s->drain_ud = fn ? ud : NULL;
}
