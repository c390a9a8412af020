#include "codec/stomp.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "codec/utf8.h"

/* Design notes (the subtle choices, in one place).
 *
 * Streaming, no re-parse. The decoder is a state machine that never looks at a byte twice
 * across feeds: a command or header line is handled in place when its LF is in the input,
 * and only the unfinished tail of a line (or of a body) is copied to `carry` at the end of a
 * feed. Header names and values are unescaped into `pool` (NUL-terminated) as each line
 * completes. A body that is whole in the input (plus its NUL) is handed out in place, so a
 * decoded frame's body may point into the caller's buffer: still valid only during on_frame.
 * The hot loop is memchr for LF / NUL / CR / ':' / '\' plus one UTF-8 pass per header line.
 *
 * Heart-beats (spec profile). The grammar is `frame = ... NULL *(EOL)`: EOLs after a frame's
 * NUL belong to that frame and never yield a heart-beat event (as in Spring, where EOLs right
 * after a NUL are skipped). A run of EOLs where a frame could begin and which follows no
 * frame (the start of the stream) yields ONE WSREF_STOMP_HEARTBEAT, reported as soon as its
 * first EOL is complete. This is a property of the bytes, so it is split invariant; liveness
 * (HB-08) is the session's business: it must count received bytes, not heart-beat events.
 *
 * Heart-beats (spring profile). Spring's rule depends on transport chunks: one heart-beat
 * when a feed arrives while no frame is in progress and consists only of EOLs; EOLs sharing a
 * feed with anything else are skipped silently.
 *
 * EOL and CR. 1.2 (and Spring, any version): EOL is [CR] LF, any other CR in a command or
 * header line (or between frames) is WSREF_E_STOMP_EOL once the octet after it is known; a CR
 * that ends the input is just incomplete in the spec profile and an error in the spring
 * profile (Spring throws on "\r" at the end of its buffer). 1.0 / 1.1: EOL is LF and a raw CR
 * is an ordinary octet of a header (the 1.1 grammar excludes only LF and ':'), except where it
 * can only be a CRLF the version does not have: a command line ending in CR, or a header line
 * that is exactly CR (the blank line), fail with WSREF_E_STOMP_EOL.
 *
 * Error order is by position, so every split reports the same code. Within a line: an
 * over-long line (WSREF_E_STOMP_HEADER_TOO_LONG, position max_header_line) and a bad CR
 * (position of the CR) race by position, the CR winning ties. When the line is complete:
 * command (unknown -> WSREF_E_STOMP_COMMAND; NACK and STOMP are unknown in 1.0), or for a
 * header: count (TOO_MANY_HEADERS), colon (HEADER), UTF-8 (1.1/1.2 spec profile), escapes,
 * then content-length (first occurrence only: CONTENT_LENGTH, BODY_TOO_BIG). A body octet on a
 * frame that may not have one fails at that octet (a declared content-length > 0 at the blank
 * line); BODY_TOO_BIG for bodies without content-length fires once the body has more octets
 * than max_body. WSREF_E_STOMP_BUFFER_LIMIT is the one split-dependent error by nature: it
 * fires at the end of a feed that leaves more than max_buffer octets of an incomplete frame.
 *
 * Headers are never trimmed, in any version (1.0 included: many 1.0 servers trimmed, but
 * keeping the octets is the only choice that loses nothing). 1.0 has no escapes (ES-07) and
 * its header octets are not checked for UTF-8 (its grammar says US-ASCII; we are lenient).
 *
 * Spring profile (stomp-and-spring.md 2.1-2.3), in addition to the above:
 *   - not version-aware: 1.2 escapes and CRLF in every version, NACK/STOMP known in 1.0;
 *   - an unknown command or a header line without ':' (or with an empty name) is detected
 *     only once an octet follows its EOL;
 *   - header octets that are not UTF-8 are replaced with U+FFFD (maximal subparts), no error;
 *   - content-length is parsed as a Java int (sign, Unicode BMP decimal digits); a value that
 *     does not parse, or a negative one, is ignored (body read to NUL);
 *   - the body check (BODY_NOT_ALLOWED) runs on the complete frame, after the NUL check;
 *   - BufferingStompDecoder: at the start of every feed, a partial frame's content-length
 *     over max_buffer, or partial + new octets over max_buffer, fail with BUFFER_LIMIT; while
 *     partial + new octets < the partial frame's content-length the feed is only buffered;
 *     at the end of a feed, a partial frame whose first content-length is not a Java int
 *     fails with CONTENT_LENGTH (D6b);
 *   - a feed is atomic: its frames are delivered at the end of the feed, and not at all if
 *     the feed fails (Spring loses the frames decoded before an exception).
 *   Limits that Spring lacks (max_headers, max_header_line, max_body) still apply: set them
 *   high to mirror Spring exactly. Content-type is not parsed as a MIME type here.
 */

enum {
  ST_IDLE = 0,    /* stream start: EOLs here are a heart-beat */
  ST_TRAIL,       /* between frames, after a NUL: EOLs are skipped */
  ST_CMD,         /* in the command line */
  ST_CMD_UNKNOWN, /* spring: unknown command, waiting for an octet after its EOL */
  ST_HDR,         /* in a header line (or the blank line) */
  ST_HDR_BAD,     /* spring: malformed header line, waiting for an octet after its EOL */
  ST_BODY_CL,     /* reading content-length octets */
  ST_BODY_NUL,    /* reading to the first NUL */
  ST_TERM,        /* the octet after a content-length body: must be NUL */
};

#define NO_HDR SIZE_MAX

typedef struct hoff {
  size_t name, name_len, value, value_len; /* offsets into pool */
} hoff;

/* Spring profile: a frame decoded during the current feed, delivered at its end. */
typedef struct pframe {
  int cmd;
  size_t h0, nh;
  const uint8_t *body; /* in the input, or NULL when in pool at body_off */
  size_t body_off, body_len;
} pframe;

struct wsref_stomp_decoder {
  enum wsref_stomp_version version, next_version;
  bool spring;
  wsref_stomp_limits lim;
  int err; /* sticky: an error or the non-zero return of on_frame */
  int state;
  bool cr; /* IDLE/TRAIL: the previous piece ended with a CR */

  /* the frame in progress */
  int cmd;
  bool unescape, cr_escape;
  size_t raw;    /* octets of this frame consumed in earlier pieces */
  size_t fstart; /* where it began in the current piece */
  size_t h0;     /* its first header in hs */
  size_t pool0;  /* its first octet in pool */
  size_t cl_hdr; /* index in hs of its first content-length header, or NO_HDR */
  bool has_cl;
  uint64_t cl;
  size_t need;     /* ST_BODY_CL: octets still missing */
  size_t body_len; /* ST_BODY_NUL: octets in carry */

  wsref_buf carry;   /* unfinished line or body */
  wsref_buf pool;    /* unescaped names and values */
  wsref_buf scratch; /* spring: a line with U+FFFD replacements */
  hoff *hs;
  size_t nhs, hs_cap;
  wsref_stomp_header *out;
  size_t out_cap;

  /* spring */
  pframe *pf;
  size_t npf, pf_cap;
  wsref_buf pend; /* octets of a feed deferred by the content-length rule */
  bool has_expected;
  long long expected;

  int (*cb)(const wsref_stomp_frame *f, void *ud);
  void *ud;
};

/* ---- commands ---- */

static const char *const cmd_names[WSREF_STOMP_COMMAND_COUNT] = {
    "HEARTBEAT",   "CONNECT", "STOMP",   "CONNECTED", "SEND",   "SUBSCRIBE",
    "UNSUBSCRIBE", "ACK",     "NACK",    "BEGIN",     "COMMIT", "ABORT",
    "DISCONNECT",  "MESSAGE", "RECEIPT", "ERROR"};

const char *wsref_stomp_command_name(enum wsref_stomp_command c) {
  if ((unsigned)c >= WSREF_STOMP_COMMAND_COUNT) return "UNKNOWN";
  return cmd_names[c];
}

#define IS(lit) (memcmp(s, lit, sizeof(lit) - 1) == 0)

int wsref_stomp_command_parse(const char *s, size_t n) {
  if (!s) return -1;
  switch (n) {
    case 3:
      if (IS("ACK")) return WSREF_STOMP_ACK;
      break;
    case 4:
      if (IS("SEND")) return WSREF_STOMP_SEND;
      if (IS("NACK")) return WSREF_STOMP_NACK;
      break;
    case 5:
      if (IS("STOMP")) return WSREF_STOMP_STOMP;
      if (IS("BEGIN")) return WSREF_STOMP_BEGIN;
      if (IS("ABORT")) return WSREF_STOMP_ABORT;
      if (IS("ERROR")) return WSREF_STOMP_ERROR;
      break;
    case 6:
      if (IS("COMMIT")) return WSREF_STOMP_COMMIT;
      break;
    case 7:
      if (IS("CONNECT")) return WSREF_STOMP_CONNECT;
      if (IS("MESSAGE")) return WSREF_STOMP_MESSAGE;
      if (IS("RECEIPT")) return WSREF_STOMP_RECEIPT;
      break;
    case 9:
      if (IS("CONNECTED")) return WSREF_STOMP_CONNECTED;
      if (IS("SUBSCRIBE")) return WSREF_STOMP_SUBSCRIBE;
      break;
    case 10:
      if (IS("DISCONNECT")) return WSREF_STOMP_DISCONNECT;
      break;
    case 11:
      if (IS("UNSUBSCRIBE")) return WSREF_STOMP_UNSUBSCRIBE;
      break;
    default:
      break;
  }
  return -1;
}

#undef IS

bool wsref_stomp_body_allowed(enum wsref_stomp_command c) {
  return c == WSREF_STOMP_SEND || c == WSREF_STOMP_MESSAGE || c == WSREF_STOMP_ERROR;
}

/* CONNECT, STOMP and CONNECTED are neither escaped nor unescaped (1.0 compatibility). */
static bool raw_command(int c) {
  return c == WSREF_STOMP_CONNECT || c == WSREF_STOMP_STOMP || c == WSREF_STOMP_CONNECTED;
}

const wsref_stomp_header *wsref_stomp_frame_header(const wsref_stomp_frame *f, const char *name) {
  if (!f || !name) return NULL;
  size_t n = strlen(name);
  for (size_t i = 0; i < f->nheaders; i++) {
    const wsref_stomp_header *h = &f->headers[i];
    if (h->name_len == n && (n == 0 || memcmp(h->name, name, n) == 0)) return h;
  }
  return NULL;
}

const char *wsref_stomp_frame_get(const wsref_stomp_frame *f, const char *name) {
  const wsref_stomp_header *h = wsref_stomp_frame_header(f, name);
  return h ? h->value : NULL;
}

/* ---- decoder setup ---- */

static bool valid_version(int v) {
  return v == WSREF_STOMP_V10 || v == WSREF_STOMP_V11 || v == WSREF_STOMP_V12;
}

wsref_stomp_decoder *wsref_stomp_decoder_new(const wsref_stomp_decoder_options *opt) {
  wsref_stomp_decoder *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  d->version = WSREF_STOMP_V12;
  if (opt) {
    if (valid_version((int)opt->version)) d->version = opt->version;
    d->spring = opt->profile == WSREF_STOMP_PROFILE_SPRING;
    d->lim = opt->limits;
  }
  d->next_version = d->version;
  if (!d->lim.max_headers) d->lim.max_headers = WSREF_STOMP_MAX_HEADERS_DEFAULT;
  if (!d->lim.max_header_line) d->lim.max_header_line = WSREF_STOMP_MAX_HEADER_LINE_DEFAULT;
  if (!d->lim.max_body) d->lim.max_body = WSREF_STOMP_MAX_BODY_DEFAULT;
  if (!d->lim.max_buffer) d->lim.max_buffer = WSREF_STOMP_MAX_BUFFER_DEFAULT;
  /* Spring has no stream-start heart-beat rule of its own (see the notes). */
  d->state = d->spring ? ST_TRAIL : ST_IDLE;
  d->cl_hdr = NO_HDR;
  return d;
}

void wsref_stomp_decoder_free(wsref_stomp_decoder *d) {
  if (!d) return;
  wsref_buf_free(&d->carry);
  wsref_buf_free(&d->pool);
  wsref_buf_free(&d->scratch);
  wsref_buf_free(&d->pend);
  free(d->hs);
  free(d->out);
  free(d->pf);
  free(d);
}

static bool between_frames(const wsref_stomp_decoder *d) {
  return d->state == ST_IDLE || d->state == ST_TRAIL;
}

void wsref_stomp_decoder_set_version(wsref_stomp_decoder *d, enum wsref_stomp_version v) {
  if (!d || !valid_version((int)v)) return;
  d->next_version = v;
  if (between_frames(d)) d->version = v;
}

size_t wsref_stomp_decoder_buffered(const wsref_stomp_decoder *d) {
  if (!d || between_frames(d)) return 0;
  return d->raw + wsref_buf_len(&d->pend);
}

/* ---- helpers ---- */

/* EOL is [CR] LF: 1.2, and Spring in every version. */
static bool crlf_mode(const wsref_stomp_decoder *d) {
  return d->spring || d->version == WSREF_STOMP_V12;
}

static void begin_frame(wsref_stomp_decoder *d, size_t at) {
  d->version = d->next_version;
  if (!d->spring) {
    /* One pool per frame: frames are handed out (and forgotten) as they complete. */
    wsref_buf_reset(&d->pool);
    d->nhs = 0;
  }
  d->h0 = d->nhs;
  d->pool0 = wsref_buf_len(&d->pool);
  d->cl_hdr = NO_HDR;
  d->has_cl = false;
  d->cl = 0;
  d->raw = 0;
  d->fstart = at;
  d->need = 0;
  d->body_len = 0;
  wsref_buf_reset(&d->carry);
  d->state = ST_CMD;
}

static int grow(void **p, size_t *cap, size_t need, size_t elem) {
  if (need <= *cap) return 0;
  size_t c = *cap ? *cap : 16;
  while (c < need) c *= 2;
  void *q = realloc(*p, c * elem);
  if (!q) return WSREF_E_NOMEM;
  *p = q;
  *cap = c;
  return 0;
}

/* The carried body, or NULL when empty (an empty buf may have no storage). */
static const uint8_t *carry_body(const wsref_stomp_decoder *d) {
  return wsref_buf_len(&d->carry) ? wsref_buf_head(&d->carry) : NULL;
}

static int carry_append(wsref_stomp_decoder *d, const uint8_t *p, size_t n) {
  return wsref_buf_append(&d->carry, p, n);
}

/* Unescape s[0..n) to dst (room for n octets). 1.2 (cr_ok): \r \n \c \\; 1.1: \n \c \\.
 * Escapes are not recursive (ES-06): each output octet comes from one input escape. */
static int unescape(uint8_t *dst, const uint8_t *s, size_t n, bool cr_ok, size_t *out_len) {
  size_t o = 0, i = 0;
  while (i < n) {
    const uint8_t *bs = memchr(s + i, '\\', n - i);
    size_t run = bs ? (size_t)(bs - (s + i)) : n - i;
    memcpy(dst + o, s + i, run);
    o += run;
    i += run;
    if (!bs) break;
    if (i + 1 >= n) return WSREF_E_STOMP_ESCAPE; /* trailing lone backslash */
    switch (s[i + 1]) {
      case 'n':
        dst[o++] = '\n';
        break;
      case 'c':
        dst[o++] = ':';
        break;
      case '\\':
        dst[o++] = '\\';
        break;
      case 'r':
        if (!cr_ok) return WSREF_E_STOMP_ESCAPE;
        dst[o++] = '\r';
        break;
      default:
        return WSREF_E_STOMP_ESCAPE;
    }
    i += 2;
  }
  *out_len = o;
  return 0;
}

/* Spring decodes header octets with Java's UTF-8 decoder in REPLACE mode (String's
 * decodeUTF8): each maximal subpart of an ill-formed sequence becomes U+FFFD (EF BF BD),
 * except that Java reads ED A0..BF as the start of a (surrogate) 3-octet form: ED A0..BF
 * 80..BF is ONE U+FFFD, and ED A0..BF followed by anything else is one U+FFFD for 2 octets.
 * Only called when the line is not valid UTF-8. */
static int replace_invalid_utf8(wsref_buf *out, const uint8_t *s, size_t n) {
  wsref_buf_reset(out);
  uint8_t *dst = wsref_buf_reserve(out, n * 3 + 1);
  if (!dst) return WSREF_E_NOMEM;
  size_t o = 0, i = 0;
  while (i < n) {
    uint8_t b = s[i];
    if (b < 0x80) {
      dst[o++] = b;
      i++;
      continue;
    }
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      need = 1;
    } else if (b >= 0xE0 && b <= 0xEF) {
      need = 2;
      if (b == 0xE0) lo = 0xA0;
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      dst[o++] = 0xEF, dst[o++] = 0xBF, dst[o++] = 0xBD;
      i++;
      continue;
    }
    size_t k = 1;
    while (k <= need && i + k < n) {
      uint8_t c = s[i + k];
      if (c < lo || c > hi) break;
      lo = 0x80, hi = 0xBF;
      k++;
    }
    if (k == need + 1 && !(b == 0xED && s[i + 1] >= 0xA0)) {
      memcpy(dst + o, s + i, k);
      o += k;
    } else {
      dst[o++] = 0xEF, dst[o++] = 0xBF, dst[o++] = 0xBD;
    }
    i += k;
  }
  out->end = out->start + o;
  return 0;
}

/* Java's Character.digit(ch, 10) for BMP code points: the Unicode decimal digits (Nd). Each
 * entry is the zero of a run of ten. */
static const uint16_t nd_zero[] = {0x0030, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6,
                                   0x0B66, 0x0BE6, 0x0C66, 0x0CE6, 0x0D66, 0x0DE6, 0x0E50, 0x0ED0,
                                   0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946, 0x19D0, 0x1A80,
                                   0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900,
                                   0xA9D0, 0xA9F0, 0xAA50, 0xABF0, 0xFF10};

static int java_digit(uint32_t cp) {
  for (size_t i = 0; i < sizeof nd_zero / sizeof nd_zero[0]; i++)
    if (cp >= nd_zero[i] && cp < nd_zero[i] + 10u) return (int)(cp - nd_zero[i]);
  return -1;
}

/* Integer.parseInt(s, 10) on the UTF-8 string s (already valid UTF-8 in the spring profile).
 * Returns false where Java throws NumberFormatException. */
static bool java_parse_int(const uint8_t *s, size_t n, long long *out) {
  size_t i = 0;
  bool neg = false;
  if (n == 0) return false;
  if (s[0] == '-' || s[0] == '+') {
    neg = s[0] == '-';
    if (n == 1) return false;
    i = 1;
  }
  long long v = 0, limit = neg ? 2147483648LL : 2147483647LL;
  while (i < n) {
    uint32_t cp;
    uint8_t b = s[i];
    if (b < 0x80) {
      cp = b;
      i += 1;
    } else if (b < 0xE0 && i + 1 < n) {
      cp = (uint32_t)(b & 0x1F) << 6 | (s[i + 1] & 0x3F);
      i += 2;
    } else if (b < 0xF0 && i + 2 < n) {
      cp = (uint32_t)(b & 0x0F) << 12 | (uint32_t)(s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3F);
      i += 3;
    } else {
      return false; /* a supplementary character is two UTF-16 surrogates: not digits */
    }
    int dg = java_digit(cp);
    if (dg < 0) return false;
    v = v * 10 + dg;
    if (v > limit) return false;
  }
  *out = neg ? -v : v;
  return true;
}

/* Spec profile: 1*DIGIT, no sign, no overflow of size_t. */
static bool parse_cl(const uint8_t *s, size_t n, uint64_t *out) {
  if (n == 0) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    unsigned dg = (unsigned)(s[i] - '0');
    if (v > (UINT64_MAX - dg) / 10) return false;
    v = v * 10 + dg;
  }
  if (v > SIZE_MAX) return false;
  *out = v;
  return true;
}

/* ---- frame delivery ---- */

static int deliver(wsref_stomp_decoder *d, int cmd, size_t h0, size_t nh, const uint8_t *body,
                   size_t body_len) {
  if (grow((void **)&d->out, &d->out_cap, nh ? nh : 1, sizeof *d->out)) return WSREF_E_NOMEM;
  const char *base = (const char *)d->pool.data;
  for (size_t k = 0; k < nh; k++) {
    const hoff *h = &d->hs[h0 + k];
    d->out[k].name = base + h->name;
    d->out[k].name_len = h->name_len;
    d->out[k].value = base + h->value;
    d->out[k].value_len = h->value_len;
  }
  wsref_stomp_frame f = {(enum wsref_stomp_command)cmd, nh ? d->out : NULL, nh, body, body_len};
  if (!d->cb) return 0;
  return d->cb(&f, d->ud);
}

static int collect(wsref_stomp_decoder *d, int cmd, size_t h0, size_t nh, const uint8_t *body,
                   size_t body_len, bool body_in_carry) {
  if (grow((void **)&d->pf, &d->pf_cap, d->npf + 1, sizeof *d->pf)) return WSREF_E_NOMEM;
  pframe *f = &d->pf[d->npf];
  f->cmd = cmd;
  f->h0 = h0;
  f->nh = nh;
  f->body = body;
  f->body_off = 0;
  f->body_len = body_len;
  if (body_in_carry) {
    /* carry is reused by later frames of this feed: keep the body with the headers. */
    f->body = NULL;
    f->body_off = wsref_buf_len(&d->pool);
    if (wsref_buf_append(&d->pool, body, body_len)) return WSREF_E_NOMEM;
  }
  d->npf++;
  return 0;
}

static int heartbeat(wsref_stomp_decoder *d) {
  if (d->spring) return collect(d, WSREF_STOMP_HEARTBEAT, 0, 0, NULL, 0, false);
  return deliver(d, WSREF_STOMP_HEARTBEAT, 0, 0, NULL, 0);
}

static int complete(wsref_stomp_decoder *d, const uint8_t *body, size_t body_len,
                    bool body_in_carry) {
  if (d->spring && body_len > 0 && !wsref_stomp_body_allowed(d->cmd))
    return WSREF_E_STOMP_BODY_NOT_ALLOWED;
  d->state = ST_TRAIL;
  size_t nh = d->nhs - d->h0;
  if (d->spring) return collect(d, d->cmd, d->h0, nh, body, body_len, body_in_carry);
  return deliver(d, d->cmd, d->h0, nh, body, body_len);
}

/* ---- lines ---- */

/* Take the current line from p[*pi..n). Returns 1 with the line (without its EOL) in
 * (*line, *len) when its LF is here, 0 when the piece ended inside it (the tail is kept in
 * carry), or an error. */
static int take_line(wsref_stomp_decoder *d, const uint8_t *p, size_t n, size_t *pi, bool final,
                     const uint8_t **line, size_t *len) {
  size_t s = *pi;
  const uint8_t *lf = memchr(p + s, '\n', n - s);
  size_t e = lf ? (size_t)(lf - p) : n;
  size_t have = wsref_buf_len(&d->carry);
  const uint8_t *cd = have ? wsref_buf_head(&d->carry) : NULL;
  size_t total = have + (e - s);
  size_t max = d->lim.max_header_line;
  bool tail_cr = false;
  size_t bad = SIZE_MAX;
  if (crlf_mode(d)) {
    if (have && cd[have - 1] == '\r' && s < e) {
      bad = have - 1;
    } else {
      const uint8_t *c = e > s ? memchr(p + s, '\r', e - s) : NULL;
      if (c && (size_t)(c - p) + 1 < e) bad = have + (size_t)(c - (p + s));
    }
    uint8_t last = e > s ? p[e - 1] : (have ? cd[have - 1] : 0);
    tail_cr = total > 0 && last == '\r';
  }
  size_t content = total - (tail_cr ? 1 : 0);
  if (bad != SIZE_MAX && (content <= max || bad <= max)) return WSREF_E_STOMP_EOL;
  if (content > max) return WSREF_E_STOMP_HEADER_TOO_LONG;
  if (!lf) {
    /* Spring throws on a CR that ends its buffer ("'\r' must be followed by '\n'"). */
    if (d->spring && final && tail_cr) return WSREF_E_STOMP_EOL;
    if (carry_append(d, p + s, n - s)) return WSREF_E_NOMEM;
    *pi = n;
    return 0;
  }
  if (have) {
    if (carry_append(d, p + s, e - s)) return WSREF_E_NOMEM;
    *line = wsref_buf_head(&d->carry);
  } else {
    *line = p + s;
  }
  *len = content;
  *pi = e + 1;
  return 1;
}

static int on_command(wsref_stomp_decoder *d, const uint8_t *line, size_t len, bool at_end) {
  if (!crlf_mode(d) && len && line[len - 1] == '\r') return WSREF_E_STOMP_EOL;
  int c = wsref_stomp_command_parse((const char *)line, len);
  if (c >= 0 && !d->spring && d->version == WSREF_STOMP_V10 &&
      (c == WSREF_STOMP_NACK || c == WSREF_STOMP_STOMP))
    c = -1;
  if (c < 0) {
    if (d->spring && at_end) {
      d->state = ST_CMD_UNKNOWN;
      return 0;
    }
    return WSREF_E_STOMP_COMMAND;
  }
  d->cmd = c;
  d->unescape = !raw_command(c) && (d->spring || d->version != WSREF_STOMP_V10);
  d->cr_escape = d->spring || d->version == WSREF_STOMP_V12;
  d->state = ST_HDR;
  return 0;
}

static int end_of_headers(wsref_stomp_decoder *d) {
  if (d->spring) {
    long long v;
    d->has_cl = false;
    if (d->cl_hdr != NO_HDR) {
      const hoff *h = &d->hs[d->cl_hdr];
      if (java_parse_int(d->pool.data + h->value, h->value_len, &v) && v >= 0) {
        d->has_cl = true;
        d->cl = (uint64_t)v;
        if (d->cl > d->lim.max_body) return WSREF_E_STOMP_BODY_TOO_BIG;
      }
    }
  }
  if (d->has_cl) {
    if (!d->spring && d->cl > 0 && !wsref_stomp_body_allowed(d->cmd))
      return WSREF_E_STOMP_BODY_NOT_ALLOWED;
    d->need = (size_t)d->cl;
    d->state = ST_BODY_CL;
  } else {
    d->body_len = 0;
    d->state = ST_BODY_NUL;
  }
  return 0;
}

static int on_header(wsref_stomp_decoder *d, const uint8_t *line, size_t len, bool at_end) {
  if (len == 0) return end_of_headers(d);
  if (!crlf_mode(d) && len == 1 && line[0] == '\r') return WSREF_E_STOMP_EOL;
  if (d->nhs - d->h0 >= d->lim.max_headers) return WSREF_E_STOMP_TOO_MANY_HEADERS;
  const uint8_t *colon = memchr(line, ':', len);
  if (!colon || colon == line) {
    if (d->spring && at_end) {
      d->state = ST_HDR_BAD;
      return 0;
    }
    return WSREF_E_STOMP_HEADER;
  }
  if (d->spring || d->version != WSREF_STOMP_V10) {
    if (!wsref_utf8_valid(line, len)) {
      if (!d->spring) return WSREF_E_STOMP_UTF8;
      if (replace_invalid_utf8(&d->scratch, line, len)) return WSREF_E_NOMEM;
      line = wsref_buf_head(&d->scratch);
      len = wsref_buf_len(&d->scratch);
      colon = memchr(line, ':', len);
    }
  }
  size_t nlen = (size_t)(colon - line), vlen = len - nlen - 1;
  if (grow((void **)&d->hs, &d->hs_cap, d->nhs + 1, sizeof *d->hs)) return WSREF_E_NOMEM;
  /* The line may live in carry or scratch, never in pool: reserving is safe. */
  uint8_t *dst = wsref_buf_reserve(&d->pool, len + 1);
  if (!dst) return WSREF_E_NOMEM;
  size_t at = wsref_buf_len(&d->pool);
  hoff *h = &d->hs[d->nhs];
  size_t on, ov;
  if (d->unescape) {
    int rc = unescape(dst, line, nlen, d->cr_escape, &on);
    if (rc) return rc;
    dst[on] = 0;
    rc = unescape(dst + on + 1, colon + 1, vlen, d->cr_escape, &ov);
    if (rc) return rc;
    dst[on + 1 + ov] = 0;
  } else {
    memcpy(dst, line, nlen);
    dst[nlen] = 0;
    memcpy(dst + nlen + 1, colon + 1, vlen);
    dst[len] = 0;
    on = nlen;
    ov = vlen;
  }
  h->name = at;
  h->name_len = on;
  h->value = at + on + 1;
  h->value_len = ov;
  wsref_buf_commit(&d->pool, on + ov + 2);
  if (d->cl_hdr == NO_HDR && on == 14 && memcmp(dst, "content-length", 14) == 0) {
    d->cl_hdr = d->nhs;
    if (!d->spring) {
      uint64_t v;
      if (!parse_cl(dst + on + 1, ov, &v)) return WSREF_E_STOMP_CONTENT_LENGTH;
      if (v > d->lim.max_body) return WSREF_E_STOMP_BODY_TOO_BIG;
      d->has_cl = true;
      d->cl = v;
    }
  }
  d->nhs++;
  return 0;
}

/* ---- the engine ---- */

/* Decode one piece. `final` is false only for the spring profile's deferred octets, which
 * are followed by more octets of the same feed. Returns 0 when the piece is consumed. */
static int run(wsref_stomp_decoder *d, const uint8_t *p, size_t n, bool final) {
  size_t i = 0;
  int rc;
  if (!between_frames(d)) d->fstart = 0;
  for (;;) {
    switch (d->state) {
      case ST_IDLE:
      case ST_TRAIL: {
        bool crlf = crlf_mode(d);
        if (d->cr) {
          if (i == n) return 0;
          if (p[i] != '\n') return WSREF_E_STOMP_EOL;
          i++;
          d->cr = false;
          if (d->state == ST_IDLE) {
            d->state = ST_TRAIL;
            if ((rc = heartbeat(d))) return rc;
          }
        }
        while (i < n) {
          if (p[i] == '\n') {
            i++;
          } else if (p[i] == '\r' && crlf) {
            if (i + 1 == n) {
              if (d->spring && final) return WSREF_E_STOMP_EOL;
              d->cr = true;
              return 0;
            }
            if (p[i + 1] != '\n') return WSREF_E_STOMP_EOL;
            i += 2;
          } else {
            break;
          }
          if (d->state == ST_IDLE) {
            d->state = ST_TRAIL;
            if ((rc = heartbeat(d))) return rc;
          }
        }
        if (i == n) return 0;
        begin_frame(d, i);
        break;
      }
      case ST_CMD:
      case ST_HDR: {
        const uint8_t *line;
        size_t len;
        rc = take_line(d, p, n, &i, final, &line, &len);
        if (rc < 0) return rc;
        if (rc == 0) goto partial;
        rc =
            d->state == ST_CMD ? on_command(d, line, len, i == n) : on_header(d, line, len, i == n);
        if (rc) return rc;
        wsref_buf_reset(&d->carry);
        break;
      }
      case ST_CMD_UNKNOWN:
        if (i == n) goto partial;
        return WSREF_E_STOMP_COMMAND;
      case ST_HDR_BAD:
        if (i == n) goto partial;
        return WSREF_E_STOMP_HEADER;
      case ST_BODY_CL: {
        size_t avail = n - i;
        size_t have = wsref_buf_len(&d->carry);
        if (have == 0 && avail > d->need) {
          /* The body and its terminator are here: hand the body out in place. */
          const uint8_t *body = p + i;
          size_t blen = d->need;
          i += blen;
          if (p[i] != 0) return WSREF_E_STOMP_NULL;
          i++;
          if ((rc = complete(d, body, blen, false))) return rc;
          break;
        }
        size_t take = avail < d->need ? avail : d->need;
        if (!d->spring && take < d->need && d->raw + (n - d->fstart) > d->lim.max_buffer)
          return WSREF_E_STOMP_BUFFER_LIMIT;
        if (take && carry_append(d, p + i, take)) return WSREF_E_NOMEM;
        i += take;
        d->need -= take;
        if (d->need) goto partial;
        d->state = ST_TERM;
        break;
      }
      case ST_TERM:
        if (i == n) goto partial;
        if (p[i] != 0) return WSREF_E_STOMP_NULL;
        i++;
        if ((rc = complete(d, carry_body(d), wsref_buf_len(&d->carry), true))) return rc;
        break;
      case ST_BODY_NUL: {
        if (i == n) goto partial;
        if (!d->spring && !wsref_stomp_body_allowed(d->cmd) && p[i] != 0)
          return WSREF_E_STOMP_BODY_NOT_ALLOWED;
        const uint8_t *z = memchr(p + i, 0, n - i);
        size_t seg = z ? (size_t)(z - (p + i)) : n - i;
        if (seg > d->lim.max_body - d->body_len) return WSREF_E_STOMP_BODY_TOO_BIG;
        if (!z) {
          if (!d->spring && d->raw + (n - d->fstart) > d->lim.max_buffer)
            return WSREF_E_STOMP_BUFFER_LIMIT;
          if (carry_append(d, p + i, seg)) return WSREF_E_NOMEM;
          d->body_len += seg;
          i = n;
          goto partial;
        }
        const uint8_t *body;
        bool in_carry = d->body_len > 0;
        if (in_carry) {
          if (carry_append(d, p + i, seg)) return WSREF_E_NOMEM;
          body = wsref_buf_head(&d->carry);
          seg = wsref_buf_len(&d->carry);
        } else {
          body = p + i;
        }
        i = (size_t)(z - p) + 1;
        if ((rc = complete(d, body, seg, in_carry))) return rc;
        break;
      }
      default:
        return WSREF_E_STATE;
    }
  }
partial:
  d->raw += n - d->fstart;
  d->fstart = 0;
  return 0;
}

/* ---- feeding ---- */

static int fail(wsref_stomp_decoder *d, int rc) {
  d->err = rc;
  return rc;
}

/* Buffers are reused across frames, but one big frame must not pin its memory on an idle
 * connection: between frames, anything over this is given back. */
#define KEEP_CAP 16384

static void trim(wsref_buf *b) {
  if (b->cap > KEEP_CAP && wsref_buf_len(b) == 0) wsref_buf_free(b);
}

static void trim_idle(wsref_stomp_decoder *d) {
  if (!between_frames(d)) return;
  wsref_buf_reset(&d->carry); /* the last frame has been delivered */
  trim(&d->carry);
  trim(&d->scratch);
  trim(&d->pend);
  if (!d->spring) wsref_buf_reset(&d->pool); /* spec: the last frame has been delivered */
  trim(&d->pool);
}

static int spec_feed(wsref_stomp_decoder *d, const uint8_t *p, size_t n) {
  int rc = run(d, p, n, true);
  if (rc) return fail(d, rc);
  if (!between_frames(d) && d->raw > d->lim.max_buffer) return fail(d, WSREF_E_STOMP_BUFFER_LIMIT);
  trim_idle(d);
  return 0;
}

static int spring_feed(wsref_stomp_decoder *d, const uint8_t *p, size_t n) {
  bool in_frame = !between_frames(d);
  size_t partial = in_frame ? d->raw + wsref_buf_len(&d->pend) : 0;
  size_t limit = d->lim.max_buffer;
  if (d->has_expected && d->expected > 0 && (unsigned long long)d->expected > limit)
    return fail(d, WSREF_E_STOMP_BUFFER_LIMIT);
  if (partial > limit || n > limit - partial) return fail(d, WSREF_E_STOMP_BUFFER_LIMIT);
  if (d->has_expected && (long long)(partial + n) < d->expected) {
    if (wsref_buf_append(&d->pend, p, n)) return fail(d, WSREF_E_NOMEM);
    return 0;
  }
  d->has_expected = false;
  d->npf = 0;
  int rc = 0;
  if (!in_frame && n > 0) {
    /* A feed of nothing but EOLs, while no frame is in progress, is one heart-beat. */
    size_t i = 0;
    while (i < n) {
      if (p[i] == '\n') {
        i++;
      } else if (p[i] == '\r') {
        if (i + 1 == n || p[i + 1] != '\n') return fail(d, WSREF_E_STOMP_EOL);
        i += 2;
      } else {
        break;
      }
    }
    if (i == n) {
      d->state = ST_TRAIL;
      rc = heartbeat(d);
      if (rc) return fail(d, rc);
      goto deliver;
    }
  }
  if (wsref_buf_len(&d->pend))
    rc = run(d, wsref_buf_head(&d->pend), wsref_buf_len(&d->pend), false);
  if (!rc) rc = run(d, p, n, true);
  if (!rc && !between_frames(d) && d->cl_hdr != NO_HDR) {
    /* BufferingStompDecoder parses a partial frame's content-length unguarded (D6b). */
    const hoff *h = &d->hs[d->cl_hdr];
    long long v;
    if (!java_parse_int(d->pool.data + h->value, h->value_len, &v))
      rc = WSREF_E_STOMP_CONTENT_LENGTH;
    else
      d->has_expected = true, d->expected = v;
  }
  if (rc) return fail(d, rc);
deliver:
  for (size_t k = 0; k < d->npf; k++) {
    const pframe *f = &d->pf[k];
    const uint8_t *body = f->body ? f->body : (f->body_len ? d->pool.data + f->body_off : NULL);
    rc = deliver(d, f->cmd, f->h0, f->nh, body, f->body_len);
    if (rc) break;
  }
  d->npf = 0;
  wsref_buf_reset(&d->pend);
  if (rc) return fail(d, rc);
  /* Keep only the frame in progress in pool and hs. */
  if (between_frames(d)) {
    wsref_buf_reset(&d->pool);
    d->nhs = 0;
  } else if (d->h0 > 0 || d->pool0 > 0) {
    size_t live = wsref_buf_len(&d->pool) - d->pool0;
    memmove(d->pool.data + d->pool.start, d->pool.data + d->pool.start + d->pool0, live);
    d->pool.end = d->pool.start + live;
    size_t nh = d->nhs - d->h0;
    if (nh) memmove(d->hs, d->hs + d->h0, nh * sizeof *d->hs);
    for (size_t k = 0; k < nh; k++) {
      d->hs[k].name -= d->pool0;
      d->hs[k].value -= d->pool0;
    }
    if (d->cl_hdr != NO_HDR) d->cl_hdr -= d->h0;
    d->nhs = nh;
    d->h0 = 0;
    d->pool0 = 0;
  }
  trim_idle(d);
  return 0;
}

int wsref_stomp_decode(wsref_stomp_decoder *d, const uint8_t *p, size_t n,
                       int (*on_frame)(const wsref_stomp_frame *f, void *ud), void *ud) {
  if (!d) return WSREF_E_INVALID_ARG;
  if (d->err) return d->err;
  if (!p && n) return WSREF_E_INVALID_ARG;
  if (!p) p = (const uint8_t *)"";
  d->cb = on_frame;
  d->ud = ud;
  return d->spring ? spring_feed(d, p, n) : spec_feed(d, p, n);
}

/* ---- encoder ---- */

/* Bit 0: escaped in 1.1; bit 1: escaped in 1.2. */
static const uint8_t esc_class[256] = {['\n'] = 3, [':'] = 3, ['\\'] = 3, ['\r'] = 2};

/* Writes s escaped at dst (room for 2n octets); returns the octets written. */
static size_t escape_to(uint8_t *dst, int v, const uint8_t *s, size_t n) {
  uint8_t bit = v == WSREF_STOMP_V12 ? 2 : 1;
  size_t o = 0;
  for (size_t i = 0; i < n; i++) {
    uint8_t c = s[i];
    if (!(esc_class[c] & bit)) {
      dst[o++] = c;
      continue;
    }
    dst[o++] = '\\';
    dst[o++] = c == '\n' ? 'n' : c == '\r' ? 'r' : c == ':' ? 'c' : '\\';
  }
  return o;
}

int wsref_stomp_escape(wsref_buf *out, enum wsref_stomp_version v, const char *s, size_t n) {
  if (!out || (!s && n) || !valid_version((int)v)) return WSREF_E_INVALID_ARG;
  if (v == WSREF_STOMP_V10) {
    if (n && memchr(s, '\n', n)) return WSREF_E_INVALID_ARG;
    return wsref_buf_append(out, s, n);
  }
  if (n == 0) return 0;
  if (n > SIZE_MAX / 2) return WSREF_E_NOMEM;
  uint8_t *dst = wsref_buf_reserve(out, n * 2);
  if (!dst) return WSREF_E_NOMEM;
  wsref_buf_commit(out, escape_to(dst, (int)v, (const uint8_t *)s, n));
  return 0;
}

static bool is_cl_name(const wsref_stomp_header *h) {
  return h->name_len == 14 && memcmp(h->name, "content-length", 14) == 0;
}

/* Spec profile: can this octet string be written raw as a header name or value? */
static bool raw_ok(int v, const char *s, size_t n, bool is_name) {
  if (!n) return true;
  if (memchr(s, '\n', n)) return false;
  if (is_name && memchr(s, ':', n)) return false;
  if (v == WSREF_STOMP_V12 && memchr(s, '\r', n)) return false;
  return true;
}

static size_t put_decimal(uint8_t *dst, size_t v) {
  uint8_t tmp[24];
  size_t n = 0;
  do {
    tmp[n++] = (uint8_t)('0' + v % 10);
    v /= 10;
  } while (v);
  for (size_t i = 0; i < n; i++) dst[i] = tmp[n - 1 - i];
  return n;
}

static int encode_frame(wsref_buf *out, int v, bool spring, const wsref_stomp_frame *f) {
  int cmd = (int)f->command;
  bool raw = raw_command(cmd) || (!spring && v == WSREF_STOMP_V10);
  int ev = spring ? WSREF_STOMP_V12 : v;
  bool allowed = wsref_stomp_body_allowed(cmd);
  /* Validate and size everything first, then write in one reservation. */
  size_t need = 12 + 1 + 1 + f->body_len + 1 + sizeof "content-length:\n" + 20;
  bool have_cl = false;
  for (size_t k = 0; k < f->nheaders; k++) {
    const wsref_stomp_header *h = &f->headers[k];
    if ((!h->name && h->name_len) || (!h->value && h->value_len)) return WSREF_E_INVALID_ARG;
    if (!spring) {
      if (h->name_len == 0) return WSREF_E_INVALID_ARG;
      if (raw &&
          (!raw_ok(v, h->name, h->name_len, true) || !raw_ok(v, h->value, h->value_len, false)))
        return WSREF_E_INVALID_ARG;
      if (!have_cl && is_cl_name(h)) {
        uint64_t cl;
        if (!parse_cl((const uint8_t *)h->value, h->value_len, &cl) || cl != f->body_len)
          return WSREF_E_INVALID_ARG;
        have_cl = true;
      }
    }
    size_t hl = h->name_len + h->value_len;
    if (hl > (SIZE_MAX - need) / 2 - 2) return WSREF_E_NOMEM;
    need += 2 * hl + 2;
  }
  uint8_t *dst = wsref_buf_reserve(out, need);
  if (!dst) return WSREF_E_NOMEM;
  size_t o = 0, cl = strlen(cmd_names[cmd]);
  memcpy(dst, cmd_names[cmd], cl);
  o += cl;
  dst[o++] = '\n';
  for (size_t k = 0; k < f->nheaders; k++) {
    const wsref_stomp_header *h = &f->headers[k];
    /* Spring drops a content-length on SEND/MESSAGE/ERROR and appends its own, last. */
    if (spring && allowed && is_cl_name(h)) continue;
    if (raw) {
      if (h->name_len) memcpy(dst + o, h->name, h->name_len);
      o += h->name_len;
      dst[o++] = ':';
      if (h->value_len) memcpy(dst + o, h->value, h->value_len);
      o += h->value_len;
    } else {
      o += escape_to(dst + o, ev, (const uint8_t *)h->name, h->name_len);
      dst[o++] = ':';
      o += escape_to(dst + o, ev, (const uint8_t *)h->value, h->value_len);
    }
    dst[o++] = '\n';
  }
  if (spring ? allowed : (f->body_len > 0 && !have_cl)) {
    memcpy(dst + o, "content-length:", 15);
    o += 15;
    o += put_decimal(dst + o, f->body_len);
    dst[o++] = '\n';
  }
  dst[o++] = '\n';
  if (f->body_len) memcpy(dst + o, f->body, f->body_len);
  o += f->body_len;
  dst[o++] = 0;
  wsref_buf_commit(out, o);
  return 0;
}

int wsref_stomp_encode(wsref_buf *out, enum wsref_stomp_version v, enum wsref_stomp_profile pr,
                       const wsref_stomp_frame *f) {
  if (!out || !f || !valid_version((int)v)) return WSREF_E_INVALID_ARG;
  if (pr != WSREF_STOMP_PROFILE_SPEC && pr != WSREF_STOMP_PROFILE_SPRING)
    return WSREF_E_INVALID_ARG;
  if (f->command == WSREF_STOMP_HEARTBEAT) return wsref_buf_append(out, "\n", 1);
  if ((unsigned)f->command >= WSREF_STOMP_COMMAND_COUNT) return WSREF_E_INVALID_ARG;
  bool spring = pr == WSREF_STOMP_PROFILE_SPRING;
  if (!spring && v == WSREF_STOMP_V10 &&
      (f->command == WSREF_STOMP_NACK || f->command == WSREF_STOMP_STOMP))
    return WSREF_E_INVALID_ARG;
  if ((f->nheaders && !f->headers) || (f->body_len && !f->body)) return WSREF_E_INVALID_ARG;
  if (f->body_len > 0 && !wsref_stomp_body_allowed(f->command)) return WSREF_E_INVALID_ARG;
  /* All or nothing: on failure, out is as it was. */
  size_t keep = wsref_buf_len(out);
  int rc = encode_frame(out, (int)v, spring, f);
  if (rc) out->end = out->start + keep;
  return rc;
}
