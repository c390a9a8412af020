#include "session/stomp_server.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/error.h"
#include "codec/close.h"
#include "codec/utf8.h"
#include "session/send_limit.h"

/* Design notes (what stomp_server.h does not show):
 *
 * Lifetime. A conn is created in on_open and freed in on_close. on_close can fire from deep
 * inside a send (the send-limit decorator terminates a slow client; a broker fan-out sends
 * to other connections), so every entry point holds the conn (busy count) and on_close only
 * marks it dead while held: the last release frees it. The backend hears on_disconnect
 * exactly once, at the first of DISCONNECT, ERROR and on_close.
 *
 * Order. Ordinary frames for the client go through the send-limit decorator, so MESSAGE,
 * RECEIPT and heart-beats keep their order. An ERROR goes straight to the session, ahead of
 * anything the decorator still holds for a slow client, because the close frame queued
 * right after it must not overtake it (what the decorator held is then dropped).
 *
 * Leaving (spec DISCONNECT). The client gets no new frames, its RECEIPT is queued behind
 * what it was already sent, and only once all of that is written (or send_time_limit_ms
 * passed) does the backend hear on_disconnect and the WebSocket close. A broker therefore
 * hands the client's unacknowledged messages to others only after every MESSAGE it had
 * for this client is on the wire: no message reaches two consumers at once.
 *
 * spring profile. Spring's error texts for decoder failures
 * quote the offending line; the decoder reports only the error code, so the first frame of
 * the message is re-read here to quote it (frames split across messages get the text
 * without the quote). */

#define ERR_TEXT_MAX 224
#define DUMP_HEADERS 16
#define DUMP_VALUE 128

typedef struct chain {
  wsref_stomp_interceptor *v;
  size_t n, cap;
} chain;

struct wsref_stomp_server {
  wsref_stomp_server_options o;
  char *server_name;
  char *user_attr;
  wsref_stomp_backend be;
  wsref_handler h;
  chain ch[2];
  size_t nconns;
};

enum cstate {
  C_WAIT = 0,  /* no CONNECT yet */
  C_CONNECTED, /* connected: frames go to the backend */
  C_LEAVING,   /* DISCONNECT processed (spec): waiting for the output to flush */
  C_DONE,      /* left, or ERROR sent: input is ignored */
};

struct wsref_stomp_conn {
  wsref_stomp_server *srv;
  wsref_session *s;
  wsref_stomp_decoder *dec;
  wsref_send_limit *sl;
  enum cstate st;
  enum wsref_stomp_version v;
  bool owed;   /* backend on_connect succeeded: on_disconnect is owed */
  bool closed; /* on_close ran */
  bool dead;   /* on_close ran while held: free on the last release */
  bool rejected;
  bool have_err;
  bool want_writable;
  bool hold_receipts;
  wsref_buf held; /* receipt ids waiting: each NUL-terminated, with its length */
  size_t nheld;
  int busy;
  char *user;
  void *data;
  uint32_t hb_write, hb_read;
  uint64_t read_limit; /* hb_read * factor */
  uint64_t last_read, last_write, connect_deadline, leave_deadline, now;
  uint64_t flood_window; /* start of the current second of EOL-only input */
  uint32_t flood_octets;
  char err[ERR_TEXT_MAX];
};

/* ---- small helpers ---- */

static char *dup_str(const char *p) {
  if (!p) return NULL;
  size_t n = strlen(p);
  char *d = malloc(n + 1);
  if (d) memcpy(d, p, n + 1);
  return d;
}

static const wsref_stomp_header *hget(const wsref_stomp_frame *f, const char *name) {
  size_t n = strlen(name);
  for (size_t i = 0; i < f->nheaders; i++) {
    const wsref_stomp_header *h = &f->headers[i];
    if (h->name_len == n && memcmp(h->name, name, n) == 0) return h;
  }
  return NULL;
}

/* Header value copied into buf as a C string (truncated to cap - 1), or NULL if absent. */
static const char *hcopy(const wsref_stomp_frame *f, const char *name, char *buf, size_t cap) {
  const wsref_stomp_header *h = hget(f, name);
  if (!h) return NULL;
  size_t n = h->value_len < cap - 1 ? h->value_len : cap - 1;
  if (n) memcpy(buf, h->value, n);
  buf[n] = 0;
  return buf;
}

static bool spring(const wsref_stomp_conn *c) {
  return c->srv->o.profile == WSREF_STOMP_PROFILE_SPRING;
}

static uint64_t conn_now(wsref_stomp_conn *c) {
  uint64_t t = wsref_session_now(c->s);
  if (t > c->now) c->now = t;
  return c->now;
}

static bool is_size_error(int err) {
  return err == WSREF_E_STOMP_TOO_MANY_HEADERS || err == WSREF_E_STOMP_HEADER_TOO_LONG ||
         err == WSREF_E_STOMP_BODY_TOO_BIG || err == WSREF_E_STOMP_BUFFER_LIMIT;
}

static bool is_stomp_error(int err) {
  return err <= WSREF_E_STOMP_COMMAND && err >= WSREF_E_STOMP_HEARTBEAT;
}

/* The close code after an ERROR in the spec profile (stomp_server.h). */
static unsigned spec_close_code(int err) {
  if (is_size_error(err)) return WSREF_CLOSE_TOO_BIG;
  if (is_stomp_error(err)) return WSREF_CLOSE_PROTOCOL_ERROR;
  if (err == WSREF_E_NOMEM) return WSREF_CLOSE_SERVER_ERROR;
  return WSREF_CLOSE_POLICY_VIOLATION;
}

/* ---- options ---- */

void wsref_stomp_server_options_default(wsref_stomp_server_options *o,
                                        enum wsref_stomp_profile profile) {
  memset(o, 0, sizeof *o);
  o->profile = profile;
  if (profile == WSREF_STOMP_PROFILE_SPRING) {
    o->heartbeat_send_ms = 0;
    o->heartbeat_recv_ms = 0;
    o->heartbeat_read_factor = 3;
  } else {
    o->heartbeat_send_ms = 10000;
    o->heartbeat_recv_ms = 10000;
    o->heartbeat_read_factor = 2;
  }
  o->connect_timeout_ms = 60000;
  o->heartbeat_flood = profile == WSREF_STOMP_PROFILE_SPRING ? 0 : 1024;
  o->send_time_limit_ms = 10000;
  o->send_buffer_limit = 512 * 1024;
  o->server_name = WSREF_STOMP_SERVER_NAME;
  o->user_attribute = WSREF_STOMP_USER_ATTRIBUTE;
}

/* ---- interceptor chains ---- */

static const wsref_stomp_frame *chain_pre(wsref_stomp_conn *c, enum wsref_stomp_channel ch,
                                          const wsref_stomp_frame *f, size_t *ran,
                                          const wsref_stomp_frame **last) {
  chain *k = &c->srv->ch[ch];
  *ran = 0;
  *last = f;
  for (size_t i = 0; i < k->n; i++) {
    const wsref_stomp_interceptor *ic = &k->v[i];
    if (ic->pre_send) {
      const wsref_stomp_frame *g = ic->pre_send(c, f, ch, ic->ud);
      if (!g) return NULL;
      f = g;
      *last = f;
    }
    *ran = i + 1;
  }
  return f;
}

static void chain_post(wsref_stomp_conn *c, enum wsref_stomp_channel ch, const wsref_stomp_frame *f,
                       size_t ran, bool sent, bool post) {
  chain *k = &c->srv->ch[ch];
  if (post)
    for (size_t i = 0; i < ran; i++)
      if (k->v[i].post_send) k->v[i].post_send(c, f, ch, sent, k->v[i].ud);
  for (size_t i = ran; i-- > 0;)
    if (k->v[i].after_send_completion) k->v[i].after_send_completion(c, f, ch, sent, k->v[i].ud);
}

/* ---- conn life cycle ---- */

static void conn_free(wsref_stomp_conn *c) {
  wsref_buf_free(&c->held);
  wsref_send_limit_free(c->sl);
  wsref_stomp_decoder_free(c->dec);
  free(c->user);
  free(c);
}

static void hold(wsref_stomp_conn *c) {
  c->busy++;
}

static void release(wsref_stomp_conn *c) {
  if (--c->busy == 0 && c->dead) conn_free(c);
}

static void backend_disconnect(wsref_stomp_conn *c) {
  if (!c->owed) return;
  c->owed = false;
  wsref_stomp_server *srv = c->srv;
  if (srv->be.on_disconnect) srv->be.on_disconnect(c, srv->be.ud);
}

/* ---- sending ---- */

static int raw_send(wsref_stomp_conn *c, const uint8_t *p, size_t n, bool binary, bool direct) {
  if (c->closed) return WSREF_E_STATE;
  wsref_message m = {binary ? WSREF_MSG_BINARY : WSREF_MSG_TEXT, p, n, true};
  hold(c);
  /* direct (the ERROR): past the send limit, but after everything queued before it */
  if (direct) wsref_send_limit_flush(c->sl);
  int rc = direct ? wsref_session_send(c->s, &m) : wsref_send_limit_send(c->sl, &m);
  if (rc == 0) c->last_write = conn_now(c);
  release(c);
  return rc;
}

/* Spring's StompSubProtocolHandler sends a BinaryMessage for a non-empty payload whose
 * content-type is compatible with application/octet-stream. */
static bool octet_stream(const wsref_stomp_frame *f) {
  const wsref_stomp_header *h = hget(f, "content-type");
  if (!h || !f->body_len) return false;
  size_t n = h->value_len;
  for (size_t i = 0; i < h->value_len; i++)
    if (h->value[i] == ';') {
      n = i;
      break;
    }
  while (n && (h->value[n - 1] == ' ' || h->value[n - 1] == '\t')) n--;
  static const char *const ok[] = {"application/octet-stream", "application/*", "*/*", "*"};
  for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
    if (strlen(ok[i]) == n && strncasecmp(h->value, ok[i], n) == 0) return true;
  return false;
}

/* Encode and send without the outbound channel. */
static int send_frame_now(wsref_stomp_conn *c, const wsref_stomp_frame *f, bool direct) {
  wsref_buf out = WSREF_BUF_INIT;
  int rc = wsref_stomp_encode(&out, c->v, c->srv->o.profile, f);
  if (rc == 0) {
    const uint8_t *p = wsref_buf_head(&out);
    size_t n = wsref_buf_len(&out);
    bool binary = !wsref_utf8_valid(p, n) ||
                  (spring(c) && f->command == WSREF_STOMP_MESSAGE && octet_stream(f));
    rc = raw_send(c, p, n, binary, direct);
  }
  wsref_buf_free(&out);
  return rc;
}

/* Through the outbound channel. A frame an interceptor dropped counts as sent. */
static int send_frame(wsref_stomp_conn *c, const wsref_stomp_frame *f, bool direct) {
  if (c->srv->ch[WSREF_STOMP_OUTBOUND].n == 0) return send_frame_now(c, f, direct);
  hold(c);
  size_t ran;
  const wsref_stomp_frame *last;
  const wsref_stomp_frame *g = chain_pre(c, WSREF_STOMP_OUTBOUND, f, &ran, &last);
  int rc = 0;
  if (g) {
    rc = send_frame_now(c, g, direct);
    chain_post(c, WSREF_STOMP_OUTBOUND, g, ran, rc == 0, true);
  } else {
    chain_post(c, WSREF_STOMP_OUTBOUND, last, ran, false, false);
  }
  release(c);
  return rc;
}

#define MAX_HELD_RECEIPTS 65536

static int send_receipt(wsref_stomp_conn *c, const wsref_stomp_header *r, bool direct) {
  if (c->hold_receipts || c->nheld) {
    /* Receipts are cumulative acknowledgements: once one waits, all later ones wait. */
    if (c->nheld >= MAX_HELD_RECEIPTS) return WSREF_E_LIMIT;
    size_t n = r->value_len;
    if (wsref_buf_append(&c->held, &n, sizeof n) || wsref_buf_append(&c->held, r->value, n))
      return WSREF_E_NOMEM;
    c->nheld++;
    return 0;
  }
  wsref_stomp_header h = {"receipt-id", 10, r->value, r->value_len};
  wsref_stomp_frame f = {WSREF_STOMP_RECEIPT, &h, 1, NULL, 0};
  return send_frame(c, &f, direct);
}

/* ---- ERROR ---- */

static size_t utf8_cut(const char *p, size_t n, size_t max) {
  if (n <= max) return n;
  while (max > 0 && ((unsigned char)p[max] & 0xC0) == 0x80) max--;
  return max;
}

/* Spec ERROR body: the problem, then the offending frame's command and headers. */
static void describe(wsref_buf *b, const char *text, const wsref_stomp_frame *f) {
  wsref_buf_appendf(b, "%s\n", text);
  if (!f) return;
  wsref_buf_appendf(b, "\nThe offending frame:\n-----\n%s\n", wsref_stomp_command_name(f->command));
  for (size_t i = 0; i < f->nheaders && i < DUMP_HEADERS; i++) {
    const wsref_stomp_header *h = &f->headers[i];
    size_t nn = utf8_cut(h->name, h->name_len, DUMP_VALUE);
    size_t vn = utf8_cut(h->value, h->value_len, DUMP_VALUE);
    wsref_buf_append(b, h->name, nn);
    wsref_buf_append(b, ":", 1);
    wsref_buf_append(b, h->value, vn);
    if (nn < h->name_len || vn < h->value_len) wsref_buf_append(b, "...", 3);
    wsref_buf_append(b, "\n", 1);
  }
  if (f->nheaders > DUMP_HEADERS)
    wsref_buf_appendf(b, "(%zu more headers)\n", f->nheaders - DUMP_HEADERS);
  if (f->body_len) wsref_buf_appendf(b, "\n(body of %zu octets)\n", f->body_len);
  wsref_buf_appendf(b, "-----\n");
}

/* The ERROR message header from a text: valid UTF-8 (1.1/1.2 headers are UTF-8, and
 * Spring builds its texts from decoded strings, so the quoted input lines of its decoder
 * errors carry U+FFFD where the input was not UTF-8): each maximal ill-formed subpart
 * becomes U+FFFD, as Java's decoder does; an incomplete sequence that ends a text cut at
 * ERR_TEXT_MAX is dropped; line breaks become spaces (a 1.0 header cannot hold a line feed,
 * and none of these texts needs one). */
static void header_text(char *out, size_t cap, const char *text) {
  const unsigned char *s = (const unsigned char *)text;
  bool cut = strlen(text) + 1 >= ERR_TEXT_MAX;
  size_t o = 0;
  while (*s) {
    unsigned char b = s[0], lo = 0x80, hi = 0xBF;
    size_t need = 0, len = 1;
    bool valid = true;
    if (b >= 0xC2 && b <= 0xDF) {
      need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      need = 2;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else if (b >= 0x80) {
      valid = false;
    }
    for (size_t k = 1; valid && k <= need; k++) {
      unsigned char c = s[k];
      if (!c && cut) goto done;
      if (c < (k == 1 ? lo : 0x80) || c > (k == 1 ? hi : 0xBF)) {
        valid = false;
        break;
      }
      len++;
    }
    const char *piece = valid ? (const char *)s : "\xEF\xBF\xBD";
    size_t pn = valid ? len : 3;
    if (o + pn >= cap) break;
    memcpy(out + o, piece, pn);
    if (pn == 1 && (out[o] == '\n' || out[o] == '\r')) out[o] = ' ';
    o += pn;
    s += len;
  }
done:
  out[o] = 0;
}

/* Send ERROR and close. text: the message header. f: the offending frame (described in
 * the body) or NULL; receipt: the receipt header of the failing frame or NULL. extra: one
 * more header (the version list) or NULL. body: replaces the description when not NULL. */
static void conn_fail_ex(wsref_stomp_conn *c, const char *text, const wsref_stomp_frame *f,
                         const wsref_stomp_header *receipt, const wsref_stomp_header *extra,
                         const char *body, unsigned code) {
  if (c->st == C_DONE || c->closed) return;
  hold(c);
  c->st = C_DONE;
  c->connect_deadline = 0;
  backend_disconnect(c);
  char msg[ERR_TEXT_MAX];
  header_text(msg, sizeof msg, text ? text : "");
  wsref_stomp_header h[4];
  size_t nh = 0;
  wsref_buf b = WSREF_BUF_INIT;
  if (spring(c)) {
    if (text) h[nh++] = (wsref_stomp_header){"message", 7, msg, strlen(msg)};
  } else {
    if (extra) h[nh++] = *extra;
    h[nh++] = (wsref_stomp_header){"message", 7, msg, strlen(msg)};
    if (receipt)
      h[nh++] = (wsref_stomp_header){"receipt-id", 10, receipt->value, receipt->value_len};
    h[nh++] = (wsref_stomp_header){"content-type", 12, "text/plain", 10};
    if (body)
      wsref_buf_appendf(&b, "%s", body);
    else
      describe(&b, msg, f);
  }
  wsref_stomp_frame ef = {WSREF_STOMP_ERROR, h, nh, wsref_buf_len(&b) ? wsref_buf_head(&b) : NULL,
                          wsref_buf_len(&b)};
  (void)send_frame_now(c, &ef, true);
  wsref_buf_free(&b);
  if (!c->closed) wsref_session_close(c->s, code, NULL);
  release(c);
}

static const wsref_stomp_header *receipt_of(const wsref_stomp_frame *f) {
  if (!f || f->command == WSREF_STOMP_CONNECT || f->command == WSREF_STOMP_STOMP) return NULL;
  return hget(f, "receipt");
}

static void conn_fail(wsref_stomp_conn *c, int err, const char *text, const wsref_stomp_frame *f) {
  unsigned code = spring(c) ? WSREF_CLOSE_PROTOCOL_ERROR : spec_close_code(err);
  conn_fail_ex(c, text, f, receipt_of(f), NULL, NULL, code);
}

/* The text for an error a backend or interceptor reported. */
static const char *err_text(wsref_stomp_conn *c, int err) {
  if (c->have_err) {
    c->have_err = false;
    return c->err;
  }
  return wsref_strerror(err);
}

/* ---- Spring's decoder error texts ---- */

static size_t skip_eols(const uint8_t *p, size_t n, size_t i) {
  for (;;) {
    if (i < n && p[i] == '\n') {
      i++;
    } else if (i + 1 < n && p[i] == '\r' && p[i + 1] == '\n') {
      i += 2;
    } else {
      return i;
    }
  }
}

/* Line [i, end) without its EOL; returns the index after the EOL, or n if none. */
static size_t line_at(const uint8_t *p, size_t n, size_t i, size_t *end) {
  size_t j = i;
  while (j < n && p[j] != '\n') j++;
  size_t e = j;
  if (e > i && p[e - 1] == '\r') e--;
  *end = e;
  return j < n ? j + 1 : n;
}

/* Spring's unescape failure on s: index of the bad backslash, or -1. */
static long bad_escape(const uint8_t *s, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (s[i] != '\\') continue;
    if (i + 1 >= n) return (long)i;
    uint8_t e = s[i + 1];
    if (e != 'r' && e != 'n' && e != 'c' && e != '\\') return (long)i;
    i++;
  }
  return -1;
}

/* Re-read the first frame of a message to quote what Spring's StompDecoder quotes. */
static void spring_decode_text(int err, const uint8_t *p, size_t n, bool at_start, size_t limit,
                               char *out, size_t cap) {
  size_t cmd_end;
  size_t i = skip_eols(p, n, 0);
  size_t hs = line_at(p, n, i, &cmd_end);
  switch (err) {
    case WSREF_E_STOMP_COMMAND:
      if (at_start)
        snprintf(out, cap,
                 "No enum constant org.springframework.messaging.simp.stomp.StompCommand.%.*s",
                 (int)(cmd_end - i), (const char *)p + i);
      else
        snprintf(out, cap,
                 "No enum constant org.springframework.messaging.simp.stomp.StompCommand");
      return;
    case WSREF_E_STOMP_HEADER:
    case WSREF_E_STOMP_ESCAPE: {
      bool unescape = true;
      int cmd = wsref_stomp_command_parse((const char *)p + i, cmd_end - i);
      if (cmd == WSREF_STOMP_CONNECT || cmd == WSREF_STOMP_STOMP || cmd == WSREF_STOMP_CONNECTED)
        unescape = false;
      for (size_t j = hs; at_start && j < n;) {
        size_t e;
        size_t next = line_at(p, n, j, &e);
        if (e == j) break;
        const uint8_t *colon = memchr(p + j, ':', e - j);
        if (err == WSREF_E_STOMP_HEADER && (!colon || colon == p + j)) {
          snprintf(out, cap,
                   "Illegal header: '%.*s'. A header must be of the form <name>:[<value>].",
                   (int)(e - j), (const char *)p + j);
          return;
        }
        if (err == WSREF_E_STOMP_ESCAPE && colon && unescape) {
          size_t cn = (size_t)(colon - (p + j));
          long k = bad_escape(p + j, cn);
          const uint8_t *s = p + j;
          size_t sn = cn;
          if (k < 0) {
            s = colon + 1;
            sn = e - j - cn - 1;
            k = bad_escape(s, sn);
          }
          if (k >= 0) {
            snprintf(out, cap, "Illegal escape sequence at index %ld: %.*s", k, (int)sn,
                     (const char *)s);
            return;
          }
        }
        j = next;
      }
      if (err == WSREF_E_STOMP_HEADER)
        snprintf(out, cap, "Illegal header. A header must be of the form <name>:[<value>].");
      else
        snprintf(out, cap, "Illegal escape sequence");
      return;
    }
    case WSREF_E_STOMP_EOL:
      snprintf(out, cap, "'\\r' must be followed by '\\n'");
      return;
    case WSREF_E_STOMP_NULL:
      snprintf(out, cap, "Frame must be terminated with a null octet");
      return;
    case WSREF_E_STOMP_BODY_NOT_ALLOWED:
      snprintf(out, cap, "%.*s shouldn't have a payload", (int)(cmd_end - i), (const char *)p + i);
      return;
    case WSREF_E_STOMP_CONTENT_LENGTH:
      snprintf(out, cap, "Invalid content-length");
      return;
    default:
      if (is_size_error(err)) {
        snprintf(out, cap, "The configured STOMP buffer size limit of %zu bytes has been exceeded",
                 limit);
        return;
      }
      snprintf(out, cap, "%s", wsref_strerror(err));
      return;
  }
}

static void decode_failed(wsref_stomp_conn *c, int err, const uint8_t *p, size_t n, bool at_start) {
  char text[ERR_TEXT_MAX];
  if (spring(c)) {
    spring_decode_text(err, p, n, at_start, c->srv->o.limits.max_buffer, text, sizeof text);
  } else {
    snprintf(text, sizeof text, "%s", wsref_strerror(err));
  }
  conn_fail(c, err, text, NULL);
}

/* ---- negotiation ---- */

/* Decimal, at most UINT32_MAX (larger values are clamped: a day-long interval is already
 * "never"). */
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

/* spec: "cx,cy" exactly (HB-01); absent = 0,0 (HB-02). */
static bool spec_heartbeat(const wsref_stomp_header *h, uint32_t *cx, uint32_t *cy) {
  *cx = *cy = 0;
  if (!h) return true;
  const char *comma = memchr(h->value, ',', h->value_len);
  if (!comma) return false;
  size_t a = (size_t)(comma - h->value);
  return parse_ms(h->value, a, cx) && parse_ms(comma + 1, h->value_len - a - 1, cy);
}

/* Java's Long.parseLong: optional sign, decimal digits. */
static bool java_long(const char *p, size_t n, long long *out) {
  size_t i = 0;
  bool neg = false;
  if (n && (p[0] == '-' || p[0] == '+')) {
    neg = p[0] == '-';
    i = 1;
  }
  if (i >= n) return false;
  long long v = 0;
  for (; i < n; i++) {
    if (p[i] < '0' || p[i] > '9') return false;
    if (v > (INT64_MAX - 9) / 10) return false;
    v = v * 10 + (p[i] - '0');
  }
  *out = neg ? -v : v;
  return true;
}

/* Spring's StompHeaderAccessor.getHeartbeat: no comma means 0,0; otherwise both fields must
 * parse as Java longs (else NumberFormatException, written to text). */
static bool spring_heartbeat(const wsref_stomp_frame *f, uint32_t *cx, uint32_t *cy, char *text,
                             size_t cap) {
  *cx = *cy = 0;
  const wsref_stomp_header *h = hget(f, "heart-beat");
  if (!h) return true;
  const char *comma = memchr(h->value, ',', h->value_len);
  if (!comma) return true;
  const char *parts[2] = {h->value, comma + 1};
  size_t a = (size_t)(comma - h->value);
  const char *comma2 = memchr(comma + 1, ',', h->value_len - a - 1);
  size_t lens[2] = {a, comma2 ? (size_t)(comma2 - comma - 1) : h->value_len - a - 1};
  long long v[2];
  for (int i = 0; i < 2; i++) {
    if (!java_long(parts[i], lens[i], &v[i])) {
      snprintf(text, cap, "For input string: \"%.*s\"", (int)lens[i], parts[i]);
      return false;
    }
  }
  *cx = v[0] <= 0 ? 0 : v[0] > UINT32_MAX ? UINT32_MAX : (uint32_t)v[0];
  *cy = v[1] <= 0 ? 0 : v[1] > UINT32_MAX ? UINT32_MAX : (uint32_t)v[1];
  return true;
}

/* Spring's StompDecoder parses content-type with MimeTypeUtils.parseMimeType; the common
 * failures, with InvalidMimeTypeException's text. */
static bool spring_mime_ok(const wsref_stomp_frame *f, char *text, size_t cap) {
  const wsref_stomp_header *h = hget(f, "content-type");
  if (!h) return true;
  const char *v = h->value;
  size_t n = h->value_len, a = 0, e = 0;
  while (e < n && v[e] != ';') e++;
  while (a < e && (v[a] == ' ' || v[a] == '\t')) a++;
  while (e > a && (v[e - 1] == ' ' || v[e - 1] == '\t')) e--;
  const char *why = NULL;
  const char *slash = memchr(v + a, '/', e - a);
  if (e == a) {
    why = "'mimeType' must not be empty";
  } else if (e - a == 1 && v[a] == '*') {
    return true; /* a lone star is the all-types wildcard */
  } else if (!slash) {
    why = "does not contain '/'";
  } else if (slash + 1 == v + e) {
    why = "does not contain subtype after '/'";
  } else if (slash == v + a) {
    why = "'type' must not be empty";
  } else if (slash == v + a + 1 && v[a] == '*' && !(slash + 2 == v + e && slash[1] == '*')) {
    why = "wildcard type is legal only in '*/*' (all mime types)";
  }
  if (!why) return true;
  snprintf(text, cap, "Invalid mime type \"%.*s\": %s", (int)(n > 100 ? 100 : n), v, why);
  return false;
}

/* Bit 0/1/2 = 1.0/1.1/1.2 offered. spec trims blanks around the entries (CN-04 asks for a
 * plain list; the blank costs nothing to forgive); spring compares them untrimmed. */
static unsigned offered_versions(const wsref_stomp_header *h, bool trim) {
  unsigned set = 0;
  size_t i = 0;
  while (i <= h->value_len) {
    size_t j = i;
    while (j < h->value_len && h->value[j] != ',') j++;
    size_t a = i, b = j;
    if (trim) {
      while (a < b && (h->value[a] == ' ' || h->value[a] == '\t')) a++;
      while (b > a && (h->value[b - 1] == ' ' || h->value[b - 1] == '\t')) b--;
    }
    if (b - a == 3 && h->value[a] == '1' && h->value[a + 1] == '.') {
      char d = h->value[a + 2];
      if (d >= '0' && d <= '2') set |= 1u << (d - '0');
    }
    i = j + 1;
  }
  return set;
}

static uint32_t max_u32(uint32_t a, uint32_t b) {
  return a > b ? a : b;
}

static void arm_heartbeats(wsref_stomp_conn *c, uint32_t cx, uint32_t cy) {
  const wsref_stomp_server_options *o = &c->srv->o;
  c->hb_write = (cy && o->heartbeat_send_ms) ? max_u32(cy, o->heartbeat_send_ms) : 0;
  c->hb_read = (cx && o->heartbeat_recv_ms) ? max_u32(cx, o->heartbeat_recv_ms) : 0;
  c->read_limit = (uint64_t)c->hb_read * o->heartbeat_read_factor;
  c->last_read = c->last_write = conn_now(c);
}

static int send_connected(wsref_stomp_conn *c, bool version_header) {
  const wsref_stomp_server_options *o = &c->srv->o;
  wsref_stomp_header h[5];
  size_t nh = 0;
  char hb[32];
  const char *ver = c->v == WSREF_STOMP_V12 ? "1.2" : c->v == WSREF_STOMP_V11 ? "1.1" : "1.0";
  snprintf(hb, sizeof hb, "%u,%u", (unsigned)o->heartbeat_send_ms, (unsigned)o->heartbeat_recv_ms);
  if (version_header) h[nh++] = (wsref_stomp_header){"version", 7, ver, 3};
  if (spring(c)) {
    h[nh++] = (wsref_stomp_header){"heart-beat", 10, hb, strlen(hb)};
    if (c->user) h[nh++] = (wsref_stomp_header){"user-name", 9, c->user, strlen(c->user)};
  } else {
    if (c->v >= WSREF_STOMP_V11) h[nh++] = (wsref_stomp_header){"heart-beat", 10, hb, strlen(hb)};
    const char *id = wsref_session_id(c->s);
    h[nh++] = (wsref_stomp_header){"session", 7, id, strlen(id)};
    h[nh++] = (wsref_stomp_header){"server", 6, c->srv->server_name, strlen(c->srv->server_name)};
  }
  wsref_stomp_frame f = {WSREF_STOMP_CONNECTED, h, nh, NULL, 0};
  return send_frame(c, &f, false);
}

/* Returns 1 to stop processing the current message. */
static int handle_connect(wsref_stomp_conn *c, const wsref_stomp_frame *f) {
  wsref_stomp_server *srv = c->srv;
  if (c->st != C_WAIT) {
    conn_fail(c, WSREF_E_STOMP_STATE, spring(c) ? "Session already exists" : "Already connected",
              f);
    return 1;
  }
  /* The user known before the interceptors run; an interceptor may replace it. */
  const char *attr = wsref_attrs_get(wsref_session_attributes(c->s), srv->user_attr);
  char login[256];
  const char *user = attr ? attr : hcopy(f, "login", login, sizeof login);
  if (user && *user && wsref_stomp_conn_set_user(c, user) < 0) {
    conn_fail(c, WSREF_E_NOMEM, "Out of memory", f);
    return 1;
  }
  size_t ran;
  const wsref_stomp_frame *last;
  const wsref_stomp_frame *g = chain_pre(c, WSREF_STOMP_INBOUND, f, &ran, &last);
  if (!g) {
    chain_post(c, WSREF_STOMP_INBOUND, last, ran, false, false);
    if (c->rejected) {
      conn_fail(c, WSREF_E_HANDLER, c->err, f);
    } else if (!spring(c)) {
      conn_fail(c, WSREF_E_HANDLER, "Connection refused", f);
    }
    /* spring: the session state is dropped with the rest of the message, silently. */
    return 1;
  }
  uint32_t cx = 0, cy = 0;
  bool version_header = true;
  if (spring(c)) {
    int rc = srv->be.on_connect ? srv->be.on_connect(c, g, srv->be.ud) : 0;
    chain_post(c, WSREF_STOMP_INBOUND, g, ran, rc == 0, true);
    if (rc < 0) {
      conn_fail(c, rc, err_text(c, rc), g);
      return 1;
    }
    c->owed = srv->be.on_connect != NULL;
    c->st = C_CONNECTED;
    c->connect_deadline = 0;
    char text[ERR_TEXT_MAX];
    if (!spring_heartbeat(g, &cx, &cy, text, sizeof text)) {
      conn_fail(c, WSREF_E_STOMP_HEARTBEAT, text, g);
      return 1;
    }
    const wsref_stomp_header *av = hget(g, "accept-version");
    unsigned set = av ? offered_versions(av, false) : 0;
    /* D1: no (common) version: Spring's handler throws while building CONNECTED and the
     * exception is swallowed, so nothing is sent and the session stays as it is. */
    if (!set) return 0;
    c->v = (set & 4) ? WSREF_STOMP_V12 : (set & 2) ? WSREF_STOMP_V11 : WSREF_STOMP_V10;
    arm_heartbeats(c, cx, cy);
    send_connected(c, true);
    return c->st == C_DONE;
  }
  const wsref_stomp_header *av = hget(g, "accept-version");
  if (!av) {
    c->v = WSREF_STOMP_V10; /* CN-03: a 1.0 client */
    version_header = false;
  } else {
    unsigned set = offered_versions(av, true);
    if (!set) {
      chain_post(c, WSREF_STOMP_INBOUND, g, ran, false, true);
      wsref_stomp_header vh = {"version", 7, "1.0,1.1,1.2", 11};
      conn_fail_ex(c, "Unsupported protocol version", g, NULL, &vh,
                   "Supported protocol versions are 1.0 1.1 1.2\n", WSREF_CLOSE_PROTOCOL_ERROR);
      return 1;
    }
    c->v = (set & 4) ? WSREF_STOMP_V12 : (set & 2) ? WSREF_STOMP_V11 : WSREF_STOMP_V10;
  }
  if (c->v >= WSREF_STOMP_V11 && !spec_heartbeat(hget(g, "heart-beat"), &cx, &cy)) {
    chain_post(c, WSREF_STOMP_INBOUND, g, ran, false, true);
    c->v = WSREF_STOMP_V12;
    conn_fail(c, WSREF_E_STOMP_HEARTBEAT, "Invalid heart-beat header", g);
    return 1;
  }
  int rc = srv->be.on_connect ? srv->be.on_connect(c, g, srv->be.ud) : 0;
  chain_post(c, WSREF_STOMP_INBOUND, g, ran, rc == 0, true);
  if (rc < 0) {
    conn_fail(c, rc, err_text(c, rc), g);
    return 1;
  }
  c->owed = srv->be.on_connect != NULL;
  c->st = C_CONNECTED;
  c->connect_deadline = 0;
  wsref_stomp_decoder_set_version(c->dec, c->v);
  arm_heartbeats(c, cx, cy);
  send_connected(c, version_header);
  return c->st == C_DONE;
}

/* ---- frames after CONNECT ---- */

static const char *ack_modes[] = {"auto", "client", "client-individual"};

/* Required headers (spec profile). Returns 0, or an error with text filled. */
static int validate(const wsref_stomp_conn *c, const wsref_stomp_frame *f, char *text, size_t cap) {
  const char *cmd = wsref_stomp_command_name(f->command);
  const char *need[3] = {NULL, NULL, NULL};
  bool v10 = c->v == WSREF_STOMP_V10, v12 = c->v == WSREF_STOMP_V12;
  switch (f->command) {
    case WSREF_STOMP_SEND:
      need[0] = "destination";
      break;
    case WSREF_STOMP_SUBSCRIBE: {
      need[0] = "destination";
      if (!v10) need[1] = "id";
      const wsref_stomp_header *a = hget(f, "ack");
      if (a) {
        bool ok = false;
        for (size_t i = 0; i < 3; i++)
          ok |= strlen(ack_modes[i]) == a->value_len &&
                memcmp(a->value, ack_modes[i], a->value_len) == 0;
        if (!ok) {
          snprintf(text, cap, "Invalid ack mode '%.*s'",
                   (int)(a->value_len > 64 ? 64 : a->value_len), a->value);
          return WSREF_E_STOMP_STATE;
        }
      }
      break;
    }
    case WSREF_STOMP_UNSUBSCRIBE:
      if (!v10) {
        need[0] = "id";
      } else if (!hget(f, "id") && !hget(f, "destination")) {
        snprintf(text, cap, "UNSUBSCRIBE frame has no id or destination header");
        return WSREF_E_STOMP_MISSING_HEADER;
      }
      break;
    case WSREF_STOMP_NACK:
      if (v10) {
        snprintf(text, cap, "NACK is not a STOMP 1.0 command");
        return WSREF_E_STOMP_COMMAND;
      }
      /* fall through */
    case WSREF_STOMP_ACK:
      if (v12) {
        need[0] = "id";
      } else {
        need[0] = "message-id";
        if (!v10) need[1] = "subscription";
      }
      break;
    case WSREF_STOMP_BEGIN:
    case WSREF_STOMP_COMMIT:
    case WSREF_STOMP_ABORT:
      need[0] = "transaction";
      break;
    case WSREF_STOMP_DISCONNECT:
      break;
    default:
      snprintf(text, cap, "Unexpected %s frame from a client", cmd);
      return WSREF_E_STOMP_COMMAND;
  }
  for (size_t i = 0; i < 3 && need[i]; i++) {
    if (!hget(f, need[i])) {
      snprintf(text, cap, "%s frame has no %s header", cmd, need[i]);
      return WSREF_E_STOMP_MISSING_HEADER;
    }
  }
  return 0;
}

/* The leaving client's output is written (or the wait is over): now it is gone. */
static void finish_leave(wsref_stomp_conn *c) {
  if (c->st != C_LEAVING) return;
  hold(c);
  c->st = C_DONE;
  backend_disconnect(c);
  if (!c->closed) wsref_session_close(c->s, WSREF_CLOSE_NORMAL, NULL);
  release(c);
}

static int handle_disconnect_done(wsref_stomp_conn *c, const wsref_stomp_frame *f) {
  const wsref_stomp_header *r = hget(f, "receipt");
  wsref_stomp_conn_release_receipts(c);
  if (spring(c) && !r) {
    /* D4: DISCONNECT_ACK without a receipt becomes ERROR "Session closed." + 1002. */
    conn_fail(c, WSREF_E_CLOSED, "Session closed.", NULL);
    return 1;
  }
  c->connect_deadline = 0;
  if (spring(c)) {
    /* D4: the RECEIPT, and the client is expected to close. */
    c->st = C_DONE;
    backend_disconnect(c);
    if (r) send_receipt(c, r, false);
    return 1;
  }
  c->st = C_LEAVING;
  uint64_t now = conn_now(c);
  c->leave_deadline = now + c->srv->o.send_time_limit_ms;
  if (r) send_receipt(c, r, false);
  if (!c->closed && wsref_stomp_conn_unsent(c) == 0) finish_leave(c);
  return 1;
}

/* Process one decoded frame. Returns 1 to stop processing the current message. */
static int process_frame(wsref_stomp_conn *c, const wsref_stomp_frame *f) {
  wsref_stomp_server *srv = c->srv;
  if (c->st >= C_LEAVING || c->closed) return 1;
  char text[ERR_TEXT_MAX];
  if (spring(c) && f->command != WSREF_STOMP_HEARTBEAT) {
    uint32_t cx, cy;
    if (c->st == C_WAIT && f->command != WSREF_STOMP_CONNECT && f->command != WSREF_STOMP_STOMP) {
      snprintf(text, sizeof text, "Unknown session: %s", wsref_session_id(c->s));
      conn_fail(c, WSREF_E_STOMP_NOT_CONNECTED, text, f);
      return 1;
    }
    if (!spring_heartbeat(f, &cx, &cy, text, sizeof text) ||
        !spring_mime_ok(f, text, sizeof text)) {
      conn_fail(c, WSREF_E_STOMP_HEARTBEAT, text, f);
      return 1;
    }
  }
  switch (f->command) {
    case WSREF_STOMP_HEARTBEAT:
      if (c->st == C_WAIT) {
        if (!spring(c)) return 0; /* FR-04: EOLs before the first frame are padding */
        snprintf(text, sizeof text, "Unknown session: %s", wsref_session_id(c->s));
        conn_fail(c, WSREF_E_STOMP_NOT_CONNECTED, text, f);
        return 1;
      }
      if (srv->ch[WSREF_STOMP_INBOUND].n) {
        size_t ran;
        const wsref_stomp_frame *last;
        const wsref_stomp_frame *g = chain_pre(c, WSREF_STOMP_INBOUND, f, &ran, &last);
        chain_post(c, WSREF_STOMP_INBOUND, g ? g : last, ran, g != NULL, g != NULL);
      }
      return c->st == C_DONE;
    case WSREF_STOMP_CONNECT:
    case WSREF_STOMP_STOMP:
      return handle_connect(c, f);
    default:
      break;
  }
  if (c->st == C_WAIT) {
    conn_fail(c, WSREF_E_STOMP_NOT_CONNECTED, "Not connected (no CONNECT yet)", f);
    return 1;
  }
  if (spring(c)) {
    /* Spring's broker ignores what it does not know (D2, D3). */
    if (f->command == WSREF_STOMP_CONNECTED || f->command == WSREF_STOMP_RECEIPT ||
        f->command == WSREF_STOMP_ERROR)
      return 0;
  } else {
    int verr = validate(c, f, text, sizeof text);
    if (verr < 0) {
      conn_fail(c, verr, text, f);
      return 1;
    }
  }
  size_t ran;
  const wsref_stomp_frame *last;
  const wsref_stomp_frame *g = chain_pre(c, WSREF_STOMP_INBOUND, f, &ran, &last);
  if (!g) {
    chain_post(c, WSREF_STOMP_INBOUND, last, ran, false, false);
    if (c->rejected) {
      conn_fail(c, WSREF_E_HANDLER, c->err, f);
      return 1;
    }
    /* A dropped DISCONNECT still ends the session: the client will not send again. */
    if (f->command == WSREF_STOMP_DISCONNECT) return handle_disconnect_done(c, f);
    return 0;
  }
  hold(c);
  int rc = srv->be.on_frame ? srv->be.on_frame(c, g, srv->be.ud) : 0;
  chain_post(c, WSREF_STOMP_INBOUND, g, ran, rc == 0, true);
  int stop = 0;
  if (c->closed || c->st >= C_LEAVING) {
    stop = 1;
  } else if (rc < 0) {
    conn_fail(c, rc, err_text(c, rc), g);
    stop = 1;
  } else if (g->command == WSREF_STOMP_DISCONNECT) {
    stop = handle_disconnect_done(c, g);
  } else if (!spring(c)) {
    const wsref_stomp_header *r = hget(g, "receipt");
    if (r && send_receipt(c, r, false) == WSREF_E_LIMIT)
      conn_fail(c, WSREF_E_LIMIT, "Too many receipts waiting (the queue is congested)", g);
    stop = c->st >= C_LEAVING;
  }
  release(c);
  return stop;
}

/* ---- handler callbacks ---- */

static int on_frame_cb(const wsref_stomp_frame *f, void *ud) {
  wsref_stomp_conn *c = ud;
  int r = process_frame(c, f);
  return (r || c->st >= C_LEAVING || c->closed) ? 1 : 0;
}

static int on_open(wsref_session *s, void *ud) {
  wsref_stomp_server *srv = ud;
  wsref_stomp_conn *c = calloc(1, sizeof *c);
  if (!c) return WSREF_E_NOMEM;
  c->srv = srv;
  c->s = s;
  c->v = WSREF_STOMP_V12;
  wsref_stomp_decoder_options dopt;
  memset(&dopt, 0, sizeof dopt);
  dopt.version = WSREF_STOMP_V12;
  dopt.profile = srv->o.profile;
  dopt.limits = srv->o.limits;
  c->dec = wsref_stomp_decoder_new(&dopt);
  c->sl = wsref_send_limit_new(s, srv->o.send_time_limit_ms, srv->o.send_buffer_limit,
                               WSREF_OVERFLOW_TERMINATE);
  if (!c->dec || !c->sl) {
    conn_free(c);
    return WSREF_E_NOMEM;
  }
  c->now = wsref_session_now(s);
  c->last_read = c->last_write = c->now;
  if (srv->o.connect_timeout_ms) {
    c->connect_deadline = c->now + srv->o.connect_timeout_ms;
    if (!c->connect_deadline) c->connect_deadline = 1;
  }
  wsref_session_set_user_data(s, c);
  srv->nconns++;
  return 0;
}

/* A message of nothing but EOLs: heart-beats. Counted per second against heartbeat_flood. */
static bool flooding(wsref_stomp_conn *c, const wsref_message *m) {
  uint32_t limit = c->srv->o.heartbeat_flood;
  if (!limit || !m->len) return false;
  for (size_t i = 0; i < m->len; i++)
    if (m->data[i] != '\n' && m->data[i] != '\r') return false;
  uint64_t now = conn_now(c);
  if (now >= c->flood_window + 1000) {
    c->flood_window = now;
    c->flood_octets = 0;
  }
  c->flood_octets =
      m->len > UINT32_MAX - c->flood_octets ? UINT32_MAX : c->flood_octets + (uint32_t)m->len;
  return c->flood_octets > limit;
}

static int on_message(wsref_session *s, const wsref_message *m, void *ud) {
  (void)ud;
  wsref_stomp_conn *c = wsref_session_user_data(s);
  if (!c || (m->type != WSREF_MSG_TEXT && m->type != WSREF_MSG_BINARY)) return 0;
  if (c->st >= C_LEAVING || c->closed) return 0;
  c->last_read = conn_now(c);
  hold(c);
  if (flooding(c, m)) {
    char text[ERR_TEXT_MAX];
    snprintf(text, sizeof text, "Heart-beat flood (more than %u EOL octets in a second)",
             (unsigned)c->srv->o.heartbeat_flood);
    conn_fail_ex(c, text, NULL, NULL, NULL, NULL, WSREF_CLOSE_POLICY_VIOLATION);
    release(c);
    return 0;
  }
  bool at_start = wsref_stomp_decoder_buffered(c->dec) == 0;
  /* spring: the codec delivers a feed's frames only once all of it decoded (Spring loses
   * the frames decoded before an exception), so both profiles act on frames as they come. */
  int rc = wsref_stomp_decode(c->dec, m->data, m->len, on_frame_cb, c);
  if (rc < 0 && !c->closed) decode_failed(c, rc, m->data, m->len, at_start);
  release(c);
  return 0;
}

static void on_close(wsref_session *s, const wsref_close_status *st, void *ud) {
  (void)st;
  wsref_stomp_server *srv = ud;
  wsref_stomp_conn *c = wsref_session_user_data(s);
  if (!c) return;
  wsref_session_set_user_data(s, NULL);
  c->closed = true;
  hold(c);
  backend_disconnect(c);
  c->st = C_DONE;
  srv->nconns--;
  c->dead = true;
  release(c);
}

/* ---- timers ---- */

wsref_stomp_conn *wsref_stomp_conn_of(wsref_session *s) {
  const wsref_handler *h = wsref_session_handler(s);
  if (!h || h->on_open != on_open) return NULL;
  return wsref_session_user_data(s);
}

static void take_min(uint64_t *best, uint64_t t) {
  if (t && (!*best || t < *best)) *best = t;
}

static size_t low_water(const wsref_stomp_conn *c) {
  return c->srv->o.send_buffer_limit / 4;
}

static bool writable_due(const wsref_stomp_conn *c) {
  return c->want_writable && c->st == C_CONNECTED && wsref_stomp_conn_unsent(c) <= low_water(c);
}

uint64_t wsref_stomp_conn_deadline(const wsref_stomp_conn *c) {
  if (!c || c->closed) return 0;
  uint64_t best = 0;
  if (writable_due(c) || (c->st == C_LEAVING && wsref_stomp_conn_unsent(c) == 0)) {
    uint64_t now = wsref_session_now(c->s);
    if (c->now > now) now = c->now;
    return now ? now : 1;
  }
  if (c->st == C_LEAVING) take_min(&best, c->leave_deadline);
  if (c->st == C_WAIT) take_min(&best, c->connect_deadline);
  if (c->st == C_CONNECTED) {
    if (c->read_limit) take_min(&best, c->last_read + c->read_limit);
    if (c->hb_write) take_min(&best, c->last_write + c->hb_write);
  }
  return best;
}

void wsref_stomp_conn_tick(wsref_stomp_conn *c, uint64_t now_ms) {
  if (!c || c->closed) return;
  if (now_ms > c->now) c->now = now_ms;
  uint64_t now = conn_now(c);
  hold(c);
  if (c->st == C_WAIT && c->connect_deadline && now >= c->connect_deadline) {
    c->connect_deadline = 0;
    if (spring(c)) {
      /* SubProtocolWebSocketHandler.checkSessions: SESSION_NOT_RELIABLE, no ERROR. */
      c->st = C_DONE;
      wsref_session_close(c->s, WSREF_CLOSE_SESSION_NOT_RELIABLE, NULL);
    } else {
      char text[ERR_TEXT_MAX];
      snprintf(text, sizeof text, "No CONNECT frame within %u ms",
               (unsigned)c->srv->o.connect_timeout_ms);
      conn_fail_ex(c, text, NULL, NULL, NULL, NULL, WSREF_CLOSE_POLICY_VIOLATION);
    }
  }
  if (c->st == C_CONNECTED && c->read_limit && now >= c->last_read + c->read_limit) {
    if (spring(c)) {
      conn_fail(c, WSREF_E_STOMP_HEARTBEAT, "Session closed.", NULL);
    } else {
      char text[ERR_TEXT_MAX];
      snprintf(text, sizeof text, "No data received for %llu ms (heart-beat %u ms)",
               (unsigned long long)(now - c->last_read), (unsigned)c->hb_read);
      conn_fail(c, WSREF_E_STOMP_HEARTBEAT, text, NULL);
    }
  }
  if (c->st == C_CONNECTED && c->hb_write && now >= c->last_write + c->hb_write) {
    wsref_stomp_frame hb = {WSREF_STOMP_HEARTBEAT, NULL, 0, NULL, 0};
    if (send_frame(c, &hb, false) != 0) c->last_write = now; /* dropped: retry next interval */
  }
  if (c->st == C_LEAVING && (wsref_stomp_conn_unsent(c) == 0 || now >= c->leave_deadline))
    finish_leave(c);
  if (writable_due(c) && !c->closed) {
    c->want_writable = false;
    if (c->srv->be.on_writable) c->srv->be.on_writable(c, c->srv->be.ud);
  }
  release(c);
}

uint64_t wsref_stomp_session_deadline(wsref_session *s, void *ud) {
  (void)ud;
  return wsref_stomp_conn_deadline(wsref_stomp_conn_of(s));
}

void wsref_stomp_session_tick(wsref_session *s, uint64_t now_ms, void *ud) {
  (void)ud;
  wsref_stomp_conn_tick(wsref_stomp_conn_of(s), now_ms);
}

/* ---- server ---- */

wsref_stomp_server *wsref_stomp_server_new(const wsref_stomp_server_options *o,
                                           const wsref_stomp_backend *be) {
  wsref_stomp_server *srv = calloc(1, sizeof *srv);
  if (!srv) return NULL;
  if (o)
    srv->o = *o;
  else
    wsref_stomp_server_options_default(&srv->o, WSREF_STOMP_PROFILE_SPEC);
  wsref_stomp_limits *l = &srv->o.limits;
  if (srv->o.profile == WSREF_STOMP_PROFILE_SPRING) {
    /* Spring bounds everything by its 64 KiB messageSizeLimit only. */
    if (!l->max_headers) l->max_headers = 65536;
    if (!l->max_header_line) l->max_header_line = 65536;
    if (!l->max_body) l->max_body = 65536;
    if (!l->max_buffer) l->max_buffer = 65536;
  } else {
    if (!l->max_headers) l->max_headers = WSREF_STOMP_MAX_HEADERS_DEFAULT;
    if (!l->max_header_line) l->max_header_line = WSREF_STOMP_MAX_HEADER_LINE_DEFAULT;
    if (!l->max_body) l->max_body = WSREF_STOMP_MAX_BODY_DEFAULT;
    if (!l->max_buffer) l->max_buffer = WSREF_STOMP_MAX_BUFFER_DEFAULT;
  }
  if (!srv->o.heartbeat_read_factor)
    srv->o.heartbeat_read_factor = srv->o.profile == WSREF_STOMP_PROFILE_SPRING ? 3 : 2;
  if (!srv->o.send_buffer_limit) srv->o.send_buffer_limit = 512 * 1024;
  if (!srv->o.send_time_limit_ms) srv->o.send_time_limit_ms = 10000;
  srv->server_name = dup_str(srv->o.server_name ? srv->o.server_name : WSREF_STOMP_SERVER_NAME);
  srv->user_attr =
      dup_str(srv->o.user_attribute ? srv->o.user_attribute : WSREF_STOMP_USER_ATTRIBUTE);
  if (!srv->server_name || !srv->user_attr) {
    wsref_stomp_server_free(srv);
    return NULL;
  }
  /* A server name is written unescaped in CONNECTED: no line breaks. */
  for (char *p = srv->server_name; *p; p++)
    if (*p == '\n' || *p == '\r') *p = ' ';
  srv->o.server_name = srv->server_name;
  srv->o.user_attribute = srv->user_attr;
  if (be) srv->be = *be;
  srv->h.on_open = on_open;
  srv->h.on_message = on_message;
  srv->h.on_close = on_close;
  srv->h.partial_messages = false;
  srv->h.accept = 0;
  srv->h.ud = srv;
  return srv;
}

void wsref_stomp_server_free(wsref_stomp_server *srv) {
  if (!srv) return;
  free(srv->ch[0].v);
  free(srv->ch[1].v);
  free(srv->server_name);
  free(srv->user_attr);
  free(srv);
}

const wsref_stomp_server_options *wsref_stomp_server_options_of(const wsref_stomp_server *srv) {
  return &srv->o;
}

const wsref_handler *wsref_stomp_server_handler(const wsref_stomp_server *srv) {
  return &srv->h;
}

wsref_registration *wsref_stomp_server_register(wsref_stomp_server *srv, wsref_registry *reg,
                                                const char *path) {
  static const char *const protos[] = {"v12.stomp", "v11.stomp", "v10.stomp"};
  wsref_registration *r = wsref_registry_add(reg, path, &srv->h);
  if (!r) return NULL;
  if (wsref_registration_subprotocols(r, protos, 3) != 0) return NULL;
  return r;
}

int wsref_stomp_server_add_interceptor(wsref_stomp_server *srv, enum wsref_stomp_channel ch,
                                       const wsref_stomp_interceptor *ic) {
  if (!ic || (ch != WSREF_STOMP_INBOUND && ch != WSREF_STOMP_OUTBOUND)) return WSREF_E_INVALID_ARG;
  chain *k = &srv->ch[ch];
  if (k->n == k->cap) {
    size_t nc = k->cap ? 2 * k->cap : 4;
    wsref_stomp_interceptor *nv = realloc(k->v, nc * sizeof *nv);
    if (!nv) return WSREF_E_NOMEM;
    k->v = nv;
    k->cap = nc;
  }
  k->v[k->n++] = *ic;
  return 0;
}

size_t wsref_stomp_server_ninterceptors(const wsref_stomp_server *srv,
                                        enum wsref_stomp_channel ch) {
  return (ch == WSREF_STOMP_INBOUND || ch == WSREF_STOMP_OUTBOUND) ? srv->ch[ch].n : 0;
}

size_t wsref_stomp_server_connections(const wsref_stomp_server *srv) {
  return srv->nconns;
}

/* ---- conn accessors ---- */

wsref_session *wsref_stomp_conn_session(const wsref_stomp_conn *c) {
  return c->s;
}
wsref_stomp_server *wsref_stomp_conn_server(const wsref_stomp_conn *c) {
  return c->srv;
}
const char *wsref_stomp_conn_id(const wsref_stomp_conn *c) {
  return wsref_session_id(c->s);
}
enum wsref_stomp_version wsref_stomp_conn_version(const wsref_stomp_conn *c) {
  return c->v;
}
enum wsref_stomp_profile wsref_stomp_conn_profile(const wsref_stomp_conn *c) {
  return c->srv->o.profile;
}
bool wsref_stomp_conn_is_connected(const wsref_stomp_conn *c) {
  return c->st == C_CONNECTED && !c->closed && wsref_session_is_open(c->s);
}
const char *wsref_stomp_conn_user(const wsref_stomp_conn *c) {
  return c->user;
}
int wsref_stomp_conn_set_user(wsref_stomp_conn *c, const char *user) {
  char *u = NULL;
  if (user) {
    u = dup_str(user);
    if (!u) return WSREF_E_NOMEM;
  }
  free(c->user);
  c->user = u;
  return 0;
}
uint32_t wsref_stomp_conn_write_interval(const wsref_stomp_conn *c) {
  return c->hb_write;
}
uint32_t wsref_stomp_conn_read_interval(const wsref_stomp_conn *c) {
  return c->hb_read;
}
void wsref_stomp_conn_set_data(wsref_stomp_conn *c, void *data) {
  c->data = data;
}
void *wsref_stomp_conn_data(const wsref_stomp_conn *c) {
  return c->data;
}

size_t wsref_stomp_conn_unsent(const wsref_stomp_conn *c) {
  if (c->closed) return 0;
  return wsref_session_buffered(c->s) + wsref_send_limit_queued_bytes(c->sl);
}

size_t wsref_stomp_conn_high_water(const wsref_stomp_conn *c) {
  return c->srv->o.send_buffer_limit / 2;
}

void wsref_stomp_conn_notify_writable(wsref_stomp_conn *c) {
  c->want_writable = true;
}

void wsref_stomp_conn_hold_receipts(wsref_stomp_conn *c) {
  c->hold_receipts = true;
}

void wsref_stomp_conn_release_receipts(wsref_stomp_conn *c) {
  c->hold_receipts = false;
  if (!c->nheld) return;
  /* Taken out first: an interceptor may hold again while these go out (they then queue
   * again, still in order). */
  wsref_buf list = c->held;
  size_t count = c->nheld;
  c->held = (wsref_buf)WSREF_BUF_INIT;
  c->nheld = 0;
  hold(c);
  size_t off = 0, total = wsref_buf_len(&list);
  const uint8_t *base = wsref_buf_head(&list);
  for (size_t i = 0; i < count && off + sizeof(size_t) <= total && !c->closed; i++) {
    size_t n;
    memcpy(&n, base + off, sizeof n);
    off += sizeof n;
    wsref_stomp_header r = {"receipt", 7, (const char *)base + off, n};
    off += n;
    send_receipt(c, &r, false);
  }
  wsref_buf_free(&list);
  release(c);
}

int wsref_stomp_conn_send(wsref_stomp_conn *c, const wsref_stomp_frame *f) {
  if (c->st != C_CONNECTED || c->closed) return WSREF_E_STATE;
  return send_frame(c, f, false);
}

int wsref_stomp_conn_send_encoded(wsref_stomp_conn *c, const uint8_t *p, size_t n, bool binary) {
  if (c->st != C_CONNECTED || c->closed) return WSREF_E_STATE;
  return raw_send(c, p, n, binary, false);
}

void wsref_stomp_conn_set_error(wsref_stomp_conn *c, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(c->err, sizeof c->err, fmt, ap);
  va_end(ap);
  c->have_err = true;
}

void wsref_stomp_conn_reject(wsref_stomp_conn *c, const char *message) {
  snprintf(c->err, sizeof c->err, "%s", message ? message : "Frame refused");
  c->rejected = true;
}

void wsref_stomp_conn_error(wsref_stomp_conn *c, int err, const char *message,
                            const char *receipt_id) {
  if (!c) return;
  wsref_stomp_header r = {"receipt", 7, receipt_id, receipt_id ? strlen(receipt_id) : 0};
  unsigned code = spring(c) ? WSREF_CLOSE_PROTOCOL_ERROR : spec_close_code(err);
  conn_fail_ex(c, message ? message : wsref_strerror(err), NULL, receipt_id ? &r : NULL, NULL, NULL,
               code);
}
