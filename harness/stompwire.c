/* STOMP on the harness's side of the wire (see stompwire.h). */
#include "stompwire.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/error.h"
#include "codec/utf8.h"

#define OBS_MAX_KEPT_DEFAULT (64u << 20)
/* A frame that has not ended after this many buffered octets is not a frame: the observer
 * reports it and starts over rather than buffering a misbehaving target forever. */
#define OBS_MAX_PENDING (64u << 20)

/* ------------------------------------------------------------------------------------------
 * Names and versions
 */

static const char *const server_cmds[] = {"CONNECTED", "MESSAGE", "RECEIPT", "ERROR"};
static const char *const all_cmds[] = {
    "CONNECT", "STOMP",  "CONNECTED", "SEND",       "SUBSCRIBE", "UNSUBSCRIBE", "ACK",  "NACK",
    "BEGIN",   "COMMIT", "ABORT",     "DISCONNECT", "MESSAGE",   "RECEIPT",     "ERROR"};

static bool in_list(const char *const *v, size_t nv, const char *s, size_t n) {
  for (size_t i = 0; i < nv; i++)
    if (strlen(v[i]) == n && memcmp(v[i], s, n) == 0) return true;
  return false;
}

bool wsc_stomp_is_server_command(const char *s, size_t n) {
  return in_list(server_cmds, 4, s, n);
}

bool wsc_stomp_is_command(const char *s, size_t n) {
  return in_list(all_cmds, sizeof all_cmds / sizeof all_cmds[0], s, n);
}

bool wsc_stomp_escape_exempt(const char *cmd, size_t n) {
  return (n == 7 && memcmp(cmd, "CONNECT", 7) == 0) || (n == 5 && memcmp(cmd, "STOMP", 5) == 0) ||
         (n == 9 && memcmp(cmd, "CONNECTED", 9) == 0);
}

int wsc_stomp_version_parse(const char *s, size_t n) {
  if (n == 3 && s[0] == '1' && s[1] == '.') {
    if (s[2] == '0') return 10;
    if (s[2] == '1') return 11;
    if (s[2] == '2') return 12;
  }
  return 0;
}

/* The next comma-separated token of an accept-version list at *i, spaces and tabs around it
 * trimmed (the specs show none, clients such as "1.1, 1.2" exist: the suite reads what they
 * mean). Returns false past the end. */
static bool version_token(const char *list, size_t n, size_t *i, const char **tok, size_t *tn) {
  if (*i > n) return false;
  size_t a = *i, j = *i;
  while (j < n && list[j] != ',') j++;
  size_t b = j;
  while (a < b && (list[a] == ' ' || list[a] == '\t')) a++;
  while (b > a && (list[b - 1] == ' ' || list[b - 1] == '\t')) b--;
  *tok = list + a;
  *tn = b - a;
  *i = j + 1;
  return true;
}

int wsc_stomp_version_max(const char *list, size_t n) {
  int best = 0;
  size_t i = 0, tn;
  const char *tok;
  while (version_token(list, n, &i, &tok, &tn)) {
    int v = wsc_stomp_version_parse(tok, tn);
    if (v > best) best = v;
  }
  return best;
}

int wsc_stomp_subprotocol_version(const char *name) {
  if (!name) return 0;
  if (strcasecmp(name, "v10.stomp") == 0) return 10;
  if (strcasecmp(name, "v11.stomp") == 0) return 11;
  if (strcasecmp(name, "v12.stomp") == 0) return 12;
  return 0;
}

/* ------------------------------------------------------------------------------------------
 * Encoding
 */

int wsc_stomp_escape(wsref_buf *out, int rules, const char *s, size_t n) {
  if (rules < 11) return wsref_buf_append(out, s, n);
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    const char *esc = NULL;
    switch (s[i]) {
      case '\\':
        esc = "\\\\";
        break;
      case '\n':
        esc = "\\n";
        break;
      case ':':
        esc = "\\c";
        break;
      case '\r':
        if (rules >= 12) esc = "\\r";
        break;
      default:
        break;
    }
    if (!esc) continue;
    int rc = wsref_buf_append(out, s + run, i - run);
    if (!rc) rc = wsref_buf_append(out, esc, 2);
    if (rc) return rc;
    run = i + 1;
  }
  return wsref_buf_append(out, s + run, n - run);
}

int wsc_stomp_encode(wsref_buf *out, const wsc_stomp_out *f) {
  const char *eol = f->crlf ? "\r\n" : "\n";
  size_t el = f->crlf ? 2 : 1;
  int rc = wsref_buf_append(out, f->command, f->command_len);
  if (!rc) rc = wsref_buf_append(out, eol, el);
  for (size_t i = 0; i < f->nheaders && !rc; i++) {
    const wsc_stomp_out_header *h = &f->headers[i];
    if (h->line) {
      rc = wsref_buf_append(out, h->value, h->value_len);
      if (!rc) rc = wsref_buf_append(out, eol, el);
      continue;
    }
    rc = wsc_stomp_escape(out, f->escape_rules, h->name, h->name_len);
    if (!rc) rc = wsref_buf_append(out, ":", 1);
    if (!rc) rc = wsc_stomp_escape(out, f->escape_rules, h->value, h->value_len);
    if (!rc) rc = wsref_buf_append(out, eol, el);
  }
  if (!rc && f->content_length)
    rc = wsref_buf_appendf(out, "content-length:%llu%s", (unsigned long long)f->clen, eol);
  if (!rc) rc = wsref_buf_append(out, eol, el);
  if (!rc && f->body_len) rc = wsref_buf_append(out, f->body, f->body_len);
  if (!rc) {
    if (f->terminator)
      rc = wsref_buf_append(out, f->terminator, f->terminator_len);
    else
      rc = wsref_buf_append(out, "", 1);
  }
  for (uint32_t i = 0; i < f->trailing_eols && !rc; i++) rc = wsref_buf_append(out, eol, el);
  return rc;
}

/* ------------------------------------------------------------------------------------------
 * Scanning a frame's extent (shared by the observer, the client-side tracker and parse)
 */

enum { SCAN_NEED_MORE = 0, SCAN_BAD_TERMINATOR = -1 };

/* A line of p[from..n): returns the offset of its LF, or -1 if none yet. */
static long find_lf(const uint8_t *p, size_t from, size_t n) {
  const uint8_t *q = memchr(p + from, '\n', n - from);
  return q ? (long)(q - p) : -1;
}

static bool parse_uint(const char *s, size_t n, uint64_t *out) {
  if (n == 0 || n > 19) return false;
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (uint64_t)(s[i] - '0');
  }
  *out = v;
  return true;
}

typedef struct scan {
  size_t cmd_end; /* offset of the command line's LF */
  size_t hdr_end; /* offset of the first body octet */
  size_t len;     /* frame length through its NUL */
  bool has_clen;  /* a valid content-length decided the body */
  bool clen_bad;  /* the first content-length was not a non-negative decimal */
  uint64_t clen;
} scan;

/* Finds where the frame starting at p[0] ends. Returns the frame's length (> 0),
 * SCAN_NEED_MORE, or SCAN_BAD_TERMINATOR (content-length octets not followed by NUL; s->len
 * is then where the NUL should have been). The first content-length header decides
 * (repeated headers: the first wins); an invalid one is ignored and the body runs to the
 * first NUL, as most decoders do. Header values are not unescaped: a content-length is
 * never escaped. */
static long scan_frame(const uint8_t *p, size_t n, int version, scan *s) {
  memset(s, 0, sizeof *s);
  long lf = find_lf(p, 0, n);
  if (lf < 0) return SCAN_NEED_MORE;
  s->cmd_end = (size_t)lf;
  size_t i = (size_t)lf + 1;
  bool first_clen = true;
  for (;;) {
    lf = find_lf(p, i, n);
    if (lf < 0) return SCAN_NEED_MORE;
    size_t le = (size_t)lf;
    if (version >= 12 && le > i && p[le - 1] == '\r') le--;
    if (le == i) {
      i = (size_t)lf + 1;
      break;
    }
    if (first_clen && le - i > 15 && memcmp(p + i, "content-length:", 15) == 0) {
      first_clen = false;
      uint64_t v;
      if (parse_uint((const char *)p + i + 15, le - i - 15, &v)) {
        s->has_clen = true;
        s->clen = v;
      } else {
        s->clen_bad = true;
      }
    }
    i = (size_t)lf + 1;
  }
  s->hdr_end = i;
  if (s->has_clen) {
    if (s->clen > n || n - i < s->clen + 1) return SCAN_NEED_MORE;
    size_t at = i + (size_t)s->clen;
    s->len = at + 1;
    if (p[at] != 0) return SCAN_BAD_TERMINATOR;
    return (long)s->len;
  }
  const uint8_t *z = memchr(p + i, 0, n - i);
  if (!z) return SCAN_NEED_MORE;
  s->len = (size_t)(z - p) + 1;
  return (long)s->len;
}

/* ------------------------------------------------------------------------------------------
 * Parsing a whole frame
 */

/* Unescape per version; undefined escapes are kept verbatim (the observer reports them). */
static char *unescape(const uint8_t *s, size_t n, int rules, size_t *out_len) {
  char *r = malloc(n + 1);
  if (!r) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    if (rules >= 11 && s[i] == '\\' && i + 1 < n) {
      char e = (char)s[i + 1];
      char c = 0;
      if (e == 'n')
        c = '\n';
      else if (e == 'c')
        c = ':';
      else if (e == '\\')
        c = '\\';
      else if (e == 'r' && rules >= 12)
        c = '\r';
      if (c) {
        r[k++] = c;
        i++;
        continue;
      }
    }
    r[k++] = (char)s[i];
  }
  r[k] = 0;
  *out_len = k;
  return r;
}

static char *dupn(const void *p, size_t n) {
  char *r = malloc(n + 1);
  if (!r) return NULL;
  memcpy(r, p, n);
  r[n] = 0;
  return r;
}

void wsc_stomp_msg_free(wsc_stomp_msg *m) {
  if (!m) return;
  free(m->command);
  for (size_t i = 0; i < m->nheaders; i++) {
    free(m->headers[i].name);
    free(m->headers[i].value);
  }
  free(m->headers);
  free(m->body);
  memset(m, 0, sizeof *m);
}

int wsc_stomp_parse(const uint8_t *p, size_t n, int version, wsc_stomp_msg *out) {
  memset(out, 0, sizeof *out);
  if (version == 0) version = 12;
  scan s;
  long k = scan_frame(p, n, version, &s);
  if (k <= 0) return WSREF_E_INVALID_ARG;
  size_t cl = s.cmd_end;
  if (version >= 12 && cl > 0 && p[cl - 1] == '\r') cl--;
  out->command = dupn(p, cl);
  if (!out->command) return WSREF_E_NOMEM;
  out->command_len = cl;
  int rules = wsc_stomp_escape_exempt(out->command, cl) ? 0 : version;
  size_t i = s.cmd_end + 1;
  while (i < s.hdr_end) {
    size_t lf = (size_t)find_lf(p, i, n);
    size_t le = lf;
    if (version >= 12 && le > i && p[le - 1] == '\r') le--;
    if (le == i) break;
    const uint8_t *colon = memchr(p + i, ':', le - i);
    size_t nl = colon ? (size_t)(colon - (p + i)) : le - i;
    size_t vo = colon ? nl + 1 : le - i;
    wsc_stomp_header *hv = realloc(out->headers, (out->nheaders + 1) * sizeof *hv);
    if (!hv) {
      wsc_stomp_msg_free(out);
      return WSREF_E_NOMEM;
    }
    out->headers = hv;
    wsc_stomp_header *h = &hv[out->nheaders];
    h->name = unescape(p + i, nl, rules, &h->name_len);
    h->value = unescape(p + i + vo, le - i - vo, rules, &h->value_len);
    out->nheaders++;
    if (!h->name || !h->value) {
      wsc_stomp_msg_free(out);
      return WSREF_E_NOMEM;
    }
    i = lf + 1;
  }
  out->body_len = s.len - 1 - s.hdr_end;
  out->body = (uint8_t *)dupn(p + s.hdr_end, out->body_len);
  if (!out->body) {
    wsc_stomp_msg_free(out);
    return WSREF_E_NOMEM;
  }
  return 0;
}

const wsc_stomp_header *wsc_stomp_msg_header(const wsc_stomp_msg *m, const char *name,
                                             size_t name_len) {
  for (size_t i = 0; i < m->nheaders; i++)
    if (m->headers[i].name_len == name_len && memcmp(m->headers[i].name, name, name_len) == 0)
      return &m->headers[i];
  return NULL;
}

/* Printable rendering: escapes for control octets and quotes, at most max input octets. */
static size_t printable(char *out, size_t cap, const char *s, size_t n, size_t max) {
  size_t k = 0;
  for (size_t i = 0; i < n && i < max && k + 5 < cap; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '\n') {
      out[k++] = '\\';
      out[k++] = 'n';
    } else if (c == '\r') {
      out[k++] = '\\';
      out[k++] = 'r';
    } else if (c == '"' || c == '\\') {
      out[k++] = '\\';
      out[k++] = (char)c;
    } else if (c < 0x20 || c == 0x7F) {
      k += (size_t)snprintf(out + k, cap - k, "\\x%02x", c);
    } else {
      out[k++] = (char)c;
    }
  }
  if (n > max && k + 4 < cap) {
    memcpy(out + k, "...", 3);
    k += 3;
  }
  out[k] = 0;
  return k;
}

void wsc_stomp_describe(char *out, size_t cap, const uint8_t *frame, size_t n, int version) {
  if (cap == 0) return;
  out[0] = 0;
  wsc_stomp_msg m;
  if (wsc_stomp_parse(frame, n, version, &m) != 0) {
    char pv[120];
    printable(pv, sizeof pv, (const char *)frame, n, 48);
    snprintf(out, cap, "undecodable STOMP bytes \"%s\"", pv);
    return;
  }
  size_t k = printable(out, cap, m.command, m.command_len, 32);
  for (size_t i = 0; i < m.nheaders && k + 8 < cap; i++) {
    if (i == 6) {
      k += (size_t)snprintf(out + k, cap - k, " ...");
      break;
    }
    out[k++] = ' ';
    k += printable(out + k, cap - k, m.headers[i].name, m.headers[i].name_len, 32);
    if (k + 2 < cap) out[k++] = ':';
    k += printable(out + k, cap - k, m.headers[i].value, m.headers[i].value_len, 48);
  }
  if (k + 8 < cap) {
    if (m.body_len) {
      char pv[120];
      printable(pv, sizeof pv, (const char *)m.body, m.body_len, 40);
      snprintf(out + k, cap - k, " (%zu-octet body \"%s\")", m.body_len, pv);
    } else {
      snprintf(out + k, cap - k, " (no body)");
    }
  }
  wsc_stomp_msg_free(&m);
}

/* ------------------------------------------------------------------------------------------
 * Random cuts: splitmix64, so that a seed means the same cuts everywhere
 */

static uint64_t splitmix(uint64_t *s) {
  uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

size_t wsc_stomp_random_cuts(uint64_t seed, size_t len, uint32_t cuts, uint64_t *out, size_t cap) {
  if (len < 2 || cap == 0) return 0;
  uint64_t st = seed;
  size_t room = len - 1; /* offsets 1..len-1 */
  size_t k = cuts;
  if (k == 0) k = 1 + (size_t)(splitmix(&st) % (room < 16 ? room : 16));
  if (k > room) k = room;
  if (k > cap) k = cap;
  size_t n = 0;
  if (k == room) {
    for (size_t i = 1; i < len; i++) out[n++] = i;
    return n;
  }
  /* Floyd's sampling of k distinct values, kept sorted by insertion */
  for (size_t j = room - k; j < room; j++) {
    uint64_t t = 1 + splitmix(&st) % (j + 1); /* 1..j+1 */
    uint64_t pick = t;
    for (size_t i = 0; i < n; i++)
      if (out[i] == t) {
        pick = j + 1;
        break;
      }
    size_t at = n;
    while (at > 0 && out[at - 1] > pick) at--;
    memmove(out + at + 1, out + at, (n - at) * sizeof *out);
    out[at] = pick;
    n++;
  }
  return n;
}

/* ------------------------------------------------------------------------------------------
 * The observer
 */

typedef struct strset {
  char **v;
  size_t cap, n;
} strset;

static uint64_t fnv(const char *s, size_t n) {
  uint64_t h = 1469598103934665603ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
  return h;
}

/* Returns 1 if added, 0 if already there, <0 on allocation failure. */
static int strset_add(strset *s, const char *k, size_t n) {
  if ((s->n + 1) * 2 > s->cap) {
    size_t nc = s->cap ? s->cap * 2 : 64;
    char **nv = calloc(nc, sizeof *nv);
    if (!nv) return WSREF_E_NOMEM;
    for (size_t i = 0; i < s->cap; i++) {
      if (!s->v[i]) continue;
      size_t j = fnv(s->v[i], strlen(s->v[i])) & (nc - 1);
      while (nv[j]) j = (j + 1) & (nc - 1);
      nv[j] = s->v[i];
    }
    free(s->v);
    s->v = nv;
    s->cap = nc;
  }
  size_t j = fnv(k, n) & (s->cap - 1);
  while (s->v[j]) {
    if (strlen(s->v[j]) == n && memcmp(s->v[j], k, n) == 0) return 0;
    j = (j + 1) & (s->cap - 1);
  }
  s->v[j] = dupn(k, n);
  if (!s->v[j]) return WSREF_E_NOMEM;
  s->n++;
  return 1;
}

static bool strset_has(const strset *s, const char *k, size_t n) {
  if (!s->cap) return false;
  size_t j = fnv(k, n) & (s->cap - 1);
  while (s->v[j]) {
    if (strlen(s->v[j]) == n && memcmp(s->v[j], k, n) == 0) return true;
    j = (j + 1) & (s->cap - 1);
  }
  return false;
}

static void strset_free(strset *s) {
  for (size_t i = 0; i < s->cap; i++) free(s->v[i]);
  free(s->v);
  memset(s, 0, sizeof *s);
}

enum { ACK_AUTO = 0, ACK_CLIENT, ACK_INDIVIDUAL };

typedef struct sub {
  char *id;
  int ack;
} sub;

struct wsc_stomp_obs {
  wsc_stomp_obs_options opt;
  wsc_result *res;
  int version;
  bool connected;

  wsref_buf rx;         /* a frame in progress, carried across messages */
  uint8_t frame_opcode; /* the opcode of the message the pending frame began in */
  uint32_t frame_msgs;  /* messages it spans so far */

  wsc_event *q;
  size_t qhead, qn, qcap;

  /* what the suite sent */
  wsref_buf tx;
  bool untracked;
  bool connect_sent;
  char *accept_version; /* NULL: CONNECT without accept-version (or none sent) */
  strset receipts;
  sub *subs;
  size_t nsubs;

  uint64_t cx, cy, sx, sy; /* heart-beat values of CONNECT and CONNECTED (0 if absent) */
  bool hb_known;

  strset message_ids;
  bool error_seen;
  uint64_t error_t;
  uint32_t noted; /* SHOULD notes already written, one bit per kind */
  int err;
};

wsc_stomp_obs *wsc_stomp_obs_new(const wsc_stomp_obs_options *opt, wsc_result *res) {
  wsc_stomp_obs *o = calloc(1, sizeof *o);
  if (!o) return NULL;
  if (opt) o->opt = *opt;
  if (!o->opt.max_kept) o->opt.max_kept = OBS_MAX_KEPT_DEFAULT;
  o->version = o->opt.version ? o->opt.version : 12;
  o->res = res;
  o->rx = (wsref_buf)WSREF_BUF_INIT;
  o->tx = (wsref_buf)WSREF_BUF_INIT;
  return o;
}

void wsc_stomp_obs_free(wsc_stomp_obs *o) {
  if (!o) return;
  wsref_buf_free(&o->rx);
  wsref_buf_free(&o->tx);
  for (size_t i = 0; i < o->qn; i++) wsc_event_free(&o->q[o->qhead + i]);
  free(o->q);
  free(o->accept_version);
  strset_free(&o->receipts);
  strset_free(&o->message_ids);
  for (size_t i = 0; i < o->nsubs; i++) free(o->subs[i].id);
  free(o->subs);
  free(o);
}

int wsc_stomp_obs_version(const wsc_stomp_obs *o) {
  return o->version;
}

bool wsc_stomp_obs_error_seen(const wsc_stomp_obs *o, uint64_t *t_us) {
  if (o->error_seen && t_us) *t_us = o->error_t;
  return o->error_seen;
}

void wsc_stomp_obs_untracked(wsc_stomp_obs *o) {
  o->untracked = true;
}

static void finding(wsc_stomp_obs *o, const char *rule, const char *id, uint64_t t, uint64_t off,
                    const char *fmt, ...) __attribute__((format(printf, 6, 7)));
static void finding(wsc_stomp_obs *o, const char *rule, const char *id, uint64_t t, uint64_t off,
                    const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  char clause[32];
  snprintf(clause, sizeof clause, "STOMP1.%d %s", o->version % 10, id);
  if (wsc_result_add_finding_conn(o->res, o->opt.conn, rule, clause, t, off, "%s", msg))
    o->err = WSREF_E_NOMEM;
}

static void note_should(wsc_stomp_obs *o, unsigned bit, uint64_t t, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void note_should(wsc_stomp_obs *o, unsigned bit, uint64_t t, const char *fmt, ...) {
  if (!o->opt.notes || (o->noted & (1u << bit))) return;
  o->noted |= 1u << bit;
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  wsc_wirelog_note(o->opt.notes, t, "STOMP1.%d %s", o->version % 10, msg);
}

static int qpush(wsc_stomp_obs *o, wsc_event *ev) {
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

bool wsc_stomp_obs_next(wsc_stomp_obs *o, wsc_event *ev) {
  if (!o->qn) return false;
  *ev = o->q[o->qhead++];
  o->qn--;
  if (!o->qn) o->qhead = 0;
  return true;
}

static void emit(wsc_stomp_obs *o, enum wsc_event_type t, const uint8_t *p, size_t n,
                 const char *detail, uint8_t opcode, uint32_t msgs, uint64_t t_us) {
  wsc_event ev;
  memset(&ev, 0, sizeof ev);
  ev.type = t;
  ev.t_us = t_us;
  ev.opcode = opcode;
  ev.fin = true;
  ev.frames = msgs;
  ev.len = n;
  ev.code = -1;
  size_t keep = n < o->opt.max_kept ? n : (size_t)o->opt.max_kept;
  ev.data = malloc(keep ? keep : 1);
  ev.detail = detail ? strdup(detail) : NULL;
  if (!ev.data || (detail && !ev.detail)) {
    wsc_event_free(&ev);
    o->err = WSREF_E_NOMEM;
    return;
  }
  memcpy(ev.data, p, keep);
  ev.data_len = keep;
  wsc_sha256(p, n, ev.sha256);
  ev.has_sha256 = true;
  if (qpush(o, &ev)) {
    wsc_event_free(&ev);
    o->err = WSREF_E_NOMEM;
  }
}

/* The raw lines of a complete frame: grammar, escaping and UTF-8 of what the target wrote. */
static void check_lines(wsc_stomp_obs *o, const uint8_t *p, const scan *s, bool exempt, uint64_t t,
                        uint64_t off) {
  int v = o->version;
  bool seen_colon_rule = false, seen_escape = false, seen_syntax = false, seen_cr = false,
       seen_utf8 = false;
  size_t i = s->cmd_end + 1;
  while (i < s->hdr_end) {
    size_t lf = (size_t)find_lf(p, i, s->hdr_end);
    size_t le = lf;
    if (v >= 12 && le > i && p[le - 1] == '\r') le--;
    if (le == i) break;
    const uint8_t *line = p + i;
    size_t ln = le - i;
    char pv[120];
    if (v >= 12 && !seen_cr && memchr(line, '\r', ln)) {
      seen_cr = true;
      printable(pv, sizeof pv, (const char *)line, ln, 60);
      finding(o, "stomp-cr", "FR-03", t, off, "a CR not followed by LF in the header line \"%s\"",
              pv);
    }
    if (!seen_utf8 && !wsref_utf8_valid(line, ln)) {
      seen_utf8 = true;
      printable(pv, sizeof pv, (const char *)line, ln, 60);
      finding(o, "stomp-utf8", "FR-08", t, off, "the header line \"%s\" is not UTF-8", pv);
    }
    const uint8_t *colon = memchr(line, ':', ln);
    if ((!colon || colon == line) && !seen_syntax) {
      seen_syntax = true;
      printable(pv, sizeof pv, (const char *)line, ln, 60);
      finding(o, "stomp-header-syntax", "FR-11", t, off,
              colon ? "a header with an empty name: \"%s\"" : "a header line without ':': \"%s\"",
              pv);
    }
    if (!exempt && v >= 11) {
      for (size_t k = 0; k < ln && !seen_escape; k++) {
        if (line[k] != '\\') continue;
        char e = k + 1 < ln ? (char)line[k + 1] : 0;
        bool ok = e == 'n' || e == 'c' || e == '\\' || (e == 'r' && v >= 12);
        if (!ok) {
          seen_escape = true;
          printable(pv, sizeof pv, (const char *)line, ln, 60);
          if (e)
            finding(o, "stomp-escape", v == 11 && e == 'r' ? "ES-02" : "ES-04", t, off,
                    "an undefined escape sequence \"\\%c\" in \"%s\"", e, pv);
          else
            finding(o, "stomp-escape", "ES-04", t, off, "a lone '\\' ends the header \"%s\"", pv);
        }
        k++;
      }
      if (colon && !seen_colon_rule && memchr(colon + 1, ':', (size_t)(line + ln - colon - 1))) {
        seen_colon_rule = true;
        printable(pv, sizeof pv, (const char *)line, ln, 60);
        finding(o, "stomp-escape", "ES-04", t, off,
                "a raw ':' in the header value of \"%s\" (an encoder escapes it as \\c)", pv);
      }
    }
    i = lf + 1;
  }
  if (s->clen_bad) {
    finding(o, "stomp-content-length", "BD-01", t, off,
            "content-length is not a non-negative decimal number");
  }
}

static bool hb_value(const char *s, size_t n, uint64_t *a, uint64_t *b) {
  const char *comma = memchr(s, ',', n);
  return comma && parse_uint(s, (size_t)(comma - s), a) &&
         parse_uint(comma + 1, n - (size_t)(comma - s) - 1, b);
}

static bool hb_value_ok(const char *s, size_t n) {
  uint64_t a, b;
  return hb_value(s, n, &a, &b);
}

bool wsc_stomp_obs_heartbeats(const wsc_stomp_obs *o, uint64_t *s2c, uint64_t *c2s) {
  if (!o->hb_known) return false;
  *s2c = o->sx && o->cy ? (o->sx > o->cy ? o->sx : o->cy) : 0;
  *c2s = o->cx && o->sy ? (o->cx > o->sy ? o->cx : o->sy) : 0;
  return true;
}

/* server = name ["/" version] *(comment): a lenient reading (RFC 7231 product tokens). */
static bool server_ok(const char *s, size_t n) {
  size_t i = 0;
  while (i < n && s[i] != '/' && s[i] != ' ' && s[i] != '(') i++;
  if (i == 0) return false;
  if (i < n && s[i] == '/') {
    size_t j = ++i;
    while (i < n && s[i] != ' ' && s[i] != '(') i++;
    if (i == j) return false;
  }
  while (i < n) {
    while (i < n && s[i] == ' ') i++;
    if (i >= n) break;
    if (s[i] != '(') return false;
    int depth = 0;
    for (; i < n; i++) {
      if (s[i] == '(') depth++;
      if (s[i] == ')' && --depth == 0) break;
    }
    if (i >= n) return false;
    i++;
  }
  return true;
}

/* The suite's values are tracked as read with CRLF line ends (suite_lf_frame()); a broker
 * that keeps the CR (1.0/1.1 read it as part of the line) echoes "r1<CR>" for receipt:r1<CR>. */
static size_t kept_cr(const wsc_stomp_obs *o, const char *v, size_t n) {
  return o->version < 12 && n && v[n - 1] == '\r' ? n - 1 : n;
}

static const sub *find_sub(const wsc_stomp_obs *o, const char *id, size_t n) {
  size_t k = kept_cr(o, id, n);
  for (size_t i = o->nsubs; i-- > 0;) {
    size_t l = strlen(o->subs[i].id);
    if ((l == n || l == k) && memcmp(o->subs[i].id, id, l) == 0) return &o->subs[i];
  }
  return NULL;
}

static bool in_accept(const char *list, const char *v, size_t vn) {
  size_t i = 0, tn;
  const char *tok;
  while (version_token(list, strlen(list), &i, &tok, &tn))
    if (tn == vn && memcmp(tok, v, vn) == 0) return true;
  return false;
}

/* Does the suite's unfinished frame (still in the tracker) carry receipt:<v>? */
static bool pending_asks_receipt(const wsc_stomp_obs *o, const char *v, size_t n) {
  size_t len = wsref_buf_len(&o->tx);
  if (len == 0) return false; /* and the buffer may never have had memory: no NULL + 0 */
  const uint8_t *p = wsref_buf_head(&o->tx);
  for (size_t i = 0; i + 9 + n <= len; i++)
    if (p[i] == '\n' && memcmp(p + i + 1, "receipt:", 8) == 0 && memcmp(p + i + 9, v, n) == 0 &&
        (i + 9 + n == len || p[i + 9 + n] == '\n' || p[i + 9 + n] == '\r'))
      return true;
  return false;
}

/* A complete frame from the target: the sender's rules, then the event. */
static void server_frame(wsc_stomp_obs *o, const uint8_t *p, const scan *s, uint64_t t,
                         uint64_t off) {
  size_t cl = s->cmd_end;
  if (o->version >= 12 && cl > 0 && p[cl - 1] == '\r') cl--;
  const char *cmd = (const char *)p;
  char pv[120];
  bool known = wsc_stomp_is_server_command(cmd, cl);
  if (o->error_seen && o->version >= 12) {
    printable(pv, sizeof pv, cmd, cl, 32);
    finding(o, "stomp-after-error", "SF-05", t, off,
            "a %s frame after ERROR (the server must close the connection after ERROR)", pv);
  }
  if (!known) {
    printable(pv, sizeof pv, cmd, cl, 40);
    bool caseless = false;
    for (size_t i = 0; i < 4; i++)
      if (strlen(server_cmds[i]) == cl && strncasecmp(server_cmds[i], cmd, cl) == 0)
        caseless = true;
    if (caseless)
      finding(o, "stomp-command", "FR-05", t, off,
              "\"%s\": commands are case sensitive (CONNECTED, MESSAGE, RECEIPT, ERROR)", pv);
    else if (wsc_stomp_is_command(cmd, cl))
      finding(o, "stomp-command", "FR-05", t, off, "a server sent %s, a client command", pv);
    else
      finding(o, "stomp-syntax", "FR-01", t, off, "\"%s\" is not a STOMP command", pv);
  }
  if (!wsref_utf8_valid(p, cl))
    finding(o, "stomp-utf8", "FR-08", t, off, "the command is not UTF-8");
  if (o->version >= 12 && memchr(p, '\r', cl))
    finding(o, "stomp-cr", "FR-03", t, off, "a CR not followed by LF in the command line");
  bool is_connected = cl == 9 && memcmp(cmd, "CONNECTED", 9) == 0;
  check_lines(o, p, s, wsc_stomp_escape_exempt(cmd, cl), t, off);

  wsc_stomp_msg m;
  int prc = wsc_stomp_parse(p, s->len, o->version, &m);
  if (prc) {
    if (prc == WSREF_E_NOMEM) o->err = prc;
    return;
  }
  size_t body = m.body_len;
  bool has_body = body > 0;
#define H(name) wsc_stomp_msg_header(&m, name, sizeof name - 1)
  if (is_connected) {
    const wsc_stomp_header *ver = H("version");
    bool offered_11 = o->accept_version &&
                      wsc_stomp_version_max(o->accept_version, strlen(o->accept_version)) >= 11;
    if (!ver && offered_11 && !o->untracked)
      finding(o, "stomp-connected-version", "CN-06", t, off,
              "CONNECTED has no version header (CONNECT offered accept-version:%s)",
              o->accept_version);
    if (ver && o->accept_version && !o->untracked &&
        !in_accept(o->accept_version, ver->value, ver->value_len)) {
      printable(pv, sizeof pv, ver->value, ver->value_len, 40);
      finding(o, "stomp-version-not-offered", "CN-05", t, off,
              "CONNECTED version:%s, but CONNECT offered accept-version:%s", pv, o->accept_version);
    }
    int nv = ver ? wsc_stomp_version_parse(ver->value, ver->value_len) : 10;
    if (nv) o->version = nv;
    o->connected = true;
    const wsc_stomp_header *hb = H("heart-beat");
    o->sx = o->sy = 0;
    if (hb && o->version >= 11) hb_value(hb->value, hb->value_len, &o->sx, &o->sy);
    o->hb_known = o->version >= 11;
    if (hb && o->version >= 11 && !hb_value_ok(hb->value, hb->value_len)) {
      printable(pv, sizeof pv, hb->value, hb->value_len, 40);
      finding(o, "stomp-heart-beat", "HB-01", t, off,
              "heart-beat:%s is not two non-negative integers separated by a comma", pv);
    }
    const wsc_stomp_header *sv = H("server");
    if (sv && o->version >= 11 && !server_ok(sv->value, sv->value_len)) {
      printable(pv, sizeof pv, sv->value, sv->value_len, 60);
      finding(o, "stomp-server-header", "CN-09", t, off,
              "server:%s is not name[\"/\"version] *(comment)", pv);
    }
    if (has_body)
      finding(o, "stomp-body-not-allowed", "FR-07", t, off, "CONNECTED with a %zu-octet body",
              body);
  } else if (cl == 7 && memcmp(cmd, "MESSAGE", 7) == 0) {
    if (!H("destination"))
      finding(o, "stomp-message-destination", "SF-01", t, off, "MESSAGE without destination");
    const wsc_stomp_header *mid = H("message-id");
    if (!mid) {
      finding(o, "stomp-message-id", "SF-02", t, off, "MESSAGE without message-id");
    } else {
      int r = strset_add(&o->message_ids, mid->value, mid->value_len);
      if (r < 0) o->err = r;
      if (r == 0) {
        printable(pv, sizeof pv, mid->value, mid->value_len, 60);
        finding(o, "stomp-message-id", "SF-02", t, off,
                "message-id:%s was already used on this connection", pv);
      }
    }
    const wsc_stomp_header *sb = H("subscription");
    if (!sb && o->version >= 11) {
      finding(o, "stomp-message-subscription", "SF-03", t, off, "MESSAGE without subscription");
    } else if (sb && !o->untracked && o->nsubs && !find_sub(o, sb->value, sb->value_len)) {
      printable(pv, sizeof pv, sb->value, sb->value_len, 60);
      finding(o, "stomp-message-subscription", "SF-03", t, off,
              "MESSAGE with subscription:%s, which no SUBSCRIBE of this connection has as its id",
              pv);
    }
    if (sb && o->version >= 12 && !o->untracked) {
      const sub *su = find_sub(o, sb->value, sb->value_len);
      if (su && su->ack != ACK_AUTO && !H("ack"))
        finding(o, "stomp-message-ack", "AK-04", t, off,
                "MESSAGE for a subscription with ack:%s has no ack header",
                su->ack == ACK_CLIENT ? "client" : "client-individual");
    }
    if (has_body && (!H("content-length") || !H("content-type")))
      note_should(o, 0, t, "SF-04 (SHOULD): a MESSAGE with a body has no %s",
                  !H("content-length") ? "content-length" : "content-type");
  } else if (cl == 7 && memcmp(cmd, "RECEIPT", 7) == 0) {
    const wsc_stomp_header *rid = H("receipt-id");
    if (!rid) {
      finding(o, "stomp-receipt-id", "RC-02", t, off, "RECEIPT without receipt-id");
    } else if (!o->untracked && !strset_has(&o->receipts, rid->value, rid->value_len) &&
               !strset_has(&o->receipts, rid->value, kept_cr(o, rid->value, rid->value_len))) {
      printable(pv, sizeof pv, rid->value, rid->value_len, 60);
      if (pending_asks_receipt(o, rid->value, rid->value_len))
        finding(o, "stomp-receipt-id", "RC-02", t, off,
                "RECEIPT with receipt-id:%s for a frame the suite has not finished sending "
                "(its content-length or terminating NUL is still to come)", pv);
      else
        finding(o, "stomp-receipt-id", "RC-02", t, off,
                "RECEIPT with receipt-id:%s, which no frame of this connection asked for", pv);
    }
    if (has_body)
      finding(o, "stomp-receipt-body", "RC-04", t, off, "RECEIPT with a %zu-octet body", body);
  } else if (cl == 5 && memcmp(cmd, "ERROR", 5) == 0) {
    if (!o->error_seen) {
      o->error_seen = true;
      o->error_t = t;
    }
    if (!H("message")) note_should(o, 1, t, "SF-06 (SHOULD): ERROR without a message header");
    if (has_body && (!H("content-length") || !H("content-type")))
      note_should(o, 2, t, "SF-08 (SHOULD): an ERROR with a body has no %s",
                  !H("content-length") ? "content-length" : "content-type");
  }
#undef H
  wsc_stomp_msg_free(&m);
}

static bool is_eol_start(const uint8_t *p, size_t n, size_t i) {
  return p[i] == '\n' || (p[i] == '\r' && (i + 1 >= n || p[i + 1] == '\n'));
}

/* Does p[i..n) look like the start of a server frame (a command line)? Used to tell the
 * next frame from the rest of a body that held a NUL. */
static bool looks_like_frame(const uint8_t *p, size_t n, size_t i) {
  const uint8_t *lf = memchr(p + i, '\n', n - i);
  size_t e = lf ? (size_t)(lf - p) : n;
  if (e > i && p[e - 1] == '\r') e--;
  if (!lf) {
    /* a command cut by the message boundary: a prefix of one */
    for (size_t k = 0; k < sizeof all_cmds / sizeof all_cmds[0]; k++)
      if (n - i <= strlen(all_cmds[k]) && memcmp(p + i, all_cmds[k], n - i) == 0) return true;
    return false;
  }
  return wsc_stomp_is_command((const char *)p + i, e - i);
}

int wsc_stomp_obs_message(wsc_stomp_obs *o, const uint8_t *msg, size_t mn, uint8_t ws_opcode,
                          uint64_t t, uint64_t off) {
  if (o->err) return o->err;
  bool carried = wsref_buf_len(&o->rx) > 0;
  if (mn == 0) return 0; /* an empty message carries no STOMP octet */
  if (wsref_buf_append(&o->rx, msg, mn)) return o->err = WSREF_E_NOMEM;
  const uint8_t *p = wsref_buf_head(&o->rx);
  size_t n = wsref_buf_len(&o->rx);
  size_t i = 0;
  bool after_frame = false; /* the last thing in this message was a frame's NUL */
  bool prev_had_clen = false;
  size_t hb_start = 0, hb_len = 0; /* a run of heart-beat EOLs */
  if (carried) {
    o->frame_msgs++;
  } else {
    o->frame_opcode = ws_opcode;
    o->frame_msgs = 1;
  }
  bool in_frame = carried;
  while (i < n) {
    if (!in_frame) {
      if (is_eol_start(p, n, i)) {
        size_t el = p[i] == '\r' ? 2 : 1;
        if (i + el > n) el = n - i;
        if (p[i] == '\r' && o->version < 12) {
          if (after_frame)
            finding(o, "stomp-cr", "FR-01", t, off,
                    "a CR in the EOLs after a frame (STOMP 1.%d EOL is LF)", o->version % 10);
          else if (o->version == 11)
            finding(o, "stomp-heartbeat-eol", "HB-05", t, off,
                    "a heart-beat with CR (STOMP 1.1 heart-beats are one LF)");
        }
        if (!after_frame) {
          if (!hb_len) hb_start = i;
          hb_len += el;
        }
        i += el;
        continue;
      }
      if (hb_len) {
        emit(o, WSC_EV_HEARTBEAT, p + hb_start, hb_len, NULL, ws_opcode, 1, t);
        hb_len = 0;
      }
      if (p[i] == '\r') {
        finding(o, "stomp-cr", o->version >= 12 ? "FR-03" : "FR-01", t, off,
                "a CR not followed by LF between frames");
        i++;
        continue;
      }
      if (p[i] == 0) {
        finding(o, "stomp-syntax", "FR-01", t, off, "a NUL octet where a frame should begin");
        i++;
        continue;
      }
      if (after_frame && !looks_like_frame(p, n, i)) {
        char pv[120];
        printable(pv, sizeof pv, (const char *)p + i, n - i, 40);
        if (!prev_had_clen)
          finding(o, "stomp-nul-in-body", "BD-03", t, off,
                  "\"%s\" follows a frame's NUL in the same message: a body with NUL octets "
                  "must carry content-length",
                  pv);
        else
          finding(o, "stomp-syntax", "FR-01", t, off, "\"%s\" follows a frame's NUL", pv);
        i = n; /* resynchronise at the next message */
        break;
      }
      in_frame = true;
      o->frame_opcode = ws_opcode;
      o->frame_msgs = 1;
    }
    scan s;
    long k = scan_frame(p + i, n - i, o->version, &s);
    if (k == SCAN_NEED_MORE) {
      if (n - i > OBS_MAX_PENDING) {
        finding(o, "stomp-syntax", "FR-01", t, off,
                "no end of frame after %zu octets: not a STOMP frame", n - i);
        i = n;
        in_frame = false;
      }
      break;
    }
    if (k == SCAN_BAD_TERMINATOR) {
      finding(o, "stomp-terminator", "BD-02", t, off,
              "content-length:%llu, but the octet after that many body octets is 0x%02x, not NUL",
              (unsigned long long)s.clen, p[i + s.len - 1]);
      i = n;
      in_frame = false;
      break;
    }
    size_t cl = s.cmd_end;
    if (o->version >= 12 && cl > 0 && p[i + cl - 1] == '\r') cl--;
    char cmd[64];
    printable(cmd, sizeof cmd, (const char *)p + i, cl, 40);
    server_frame(o, p + i, &s, t, off);
    emit(o, WSC_EV_STOMP, p + i, (size_t)k, cmd, o->frame_opcode, o->frame_msgs, t);
    prev_had_clen = s.has_clen;
    i += (size_t)k;
    in_frame = false;
    after_frame = true;
  }
  if (hb_len) emit(o, WSC_EV_HEARTBEAT, p + hb_start, hb_len, NULL, ws_opcode, 1, t);
  if (in_frame && i < n) {
    /* keep the incomplete frame for the next message */
    wsref_buf_consume(&o->rx, i);
  } else {
    wsref_buf_reset(&o->rx);
  }
  return o->err;
}

void wsc_stomp_obs_end(wsc_stomp_obs *o, uint64_t t, uint64_t off) {
  size_t n = wsref_buf_len(&o->rx);
  if (!n) return;
  char pv[120];
  printable(pv, sizeof pv, (const char *)wsref_buf_head(&o->rx), n, 40);
  finding(o, "stomp-syntax", "FR-01", t, off,
          "the connection ended inside a frame (%zu octets without their end: \"%s\")", n, pv);
  wsref_buf_reset(&o->rx);
}

/* ---- what the suite sends ---- */

/* The suite's own frame as the suite means it. Before 1.2 a CR before the LF belongs to the
 * line, but a frame the suite wrote with eol=crlf means CRLF line ends, and brokers commonly
 * read it so (RabbitMQ answers receipt:r1<CR> with receipt-id:r1). Returns a copy of the frame
 * with the CRs before LFs of its command and header lines removed and its length in *n, or
 * NULL when there are none (or no memory: the frame is then read as it is). */
static uint8_t *suite_lf_frame(const uint8_t *p, const scan *s, size_t *n) {
  if (!memchr(p, '\r', s->hdr_end)) return NULL;
  uint8_t *c = malloc(s->len);
  if (!c) return NULL;
  size_t k = 0;
  for (size_t i = 0; i < s->hdr_end; i++)
    if (!(p[i] == '\r' && i + 1 < s->hdr_end && p[i + 1] == '\n')) c[k++] = p[i];
  memcpy(c + k, p + s->hdr_end, s->len - s->hdr_end);
  *n = k + s->len - s->hdr_end;
  return c;
}

static void track_client_frame(wsc_stomp_obs *o, const uint8_t *p, const scan *s) {
  wsc_stomp_msg m;
  size_t fn = s->len;
  uint8_t *lf = o->version < 12 ? suite_lf_frame(p, s, &fn) : NULL;
  int prc = wsc_stomp_parse(lf ? lf : p, fn, o->version, &m);
  free(lf);
  if (prc) {
    o->untracked = true;
    return;
  }
  if (s->clen_bad || !wsc_stomp_is_command(m.command, m.command_len)) o->untracked = true;
#define H(name) wsc_stomp_msg_header(&m, name, sizeof name - 1)
  bool is_connect = (m.command_len == 7 && memcmp(m.command, "CONNECT", 7) == 0) ||
                    (m.command_len == 5 && memcmp(m.command, "STOMP", 5) == 0);
  if (is_connect && !o->connect_sent) {
    o->connect_sent = true;
    const wsc_stomp_header *chb = H("heart-beat");
    if (chb && !hb_value(chb->value, chb->value_len, &o->cx, &o->cy)) o->cx = o->cy = 0;
    const wsc_stomp_header *av = H("accept-version");
    if (av) {
      o->accept_version = dupn(av->value, av->value_len);
      int mx = wsc_stomp_version_max(av->value, av->value_len);
      if (mx && !o->connected) o->version = mx;
    } else if (!o->connected) {
      o->version = 10;
    }
  }
  if (m.command_len == 9 && memcmp(m.command, "SUBSCRIBE", 9) == 0) {
    const wsc_stomp_header *id = H("id");
    const wsc_stomp_header *ack = H("ack");
    int mode = ACK_AUTO;
    if (ack && ack->value_len == 6 && memcmp(ack->value, "client", 6) == 0) mode = ACK_CLIENT;
    if (ack && ack->value_len == 17 && memcmp(ack->value, "client-individual", 17) == 0)
      mode = ACK_INDIVIDUAL;
    sub *nv = realloc(o->subs, (o->nsubs + 1) * sizeof *nv);
    if (nv) {
      o->subs = nv;
      nv[o->nsubs].id = id ? dupn(id->value, id->value_len) : dupn("", 0);
      nv[o->nsubs].ack = mode;
      if (nv[o->nsubs].id) o->nsubs++;
    }
  }
  const wsc_stomp_header *rc = H("receipt");
  if (rc && strset_add(&o->receipts, rc->value, rc->value_len) < 0) o->err = WSREF_E_NOMEM;
#undef H
  wsc_stomp_msg_free(&m);
}

void wsc_stomp_obs_sent(wsc_stomp_obs *o, const uint8_t *p, size_t n) {
  if (o->untracked || !n) return;
  if (wsref_buf_append(&o->tx, p, n)) {
    o->untracked = true;
    return;
  }
  const uint8_t *b = wsref_buf_head(&o->tx);
  size_t len = wsref_buf_len(&o->tx), i = 0;
  /* a frame that makes tracking give up ends it here, as it would have in a later call: the
   * verdict must not depend on how the suite's bytes were cut */
  while (i < len && !o->untracked) {
    if (b[i] == '\n' || b[i] == '\r') {
      i++;
      continue;
    }
    scan s;
    /* read as 1.2 does: CRLF ends a line (suite_lf_frame() says why) */
    long k = scan_frame(b + i, len - i, 12, &s);
    if (k == SCAN_NEED_MORE) break;
    if (k < 0) {
      o->untracked = true;
      i = len;
      break;
    }
    track_client_frame(o, b + i, &s);
    i += (size_t)k;
  }
  if (o->untracked) {
    wsref_buf_reset(&o->tx);
    return;
  }
  wsref_buf_consume(&o->tx, i);
  if (wsref_buf_len(&o->tx) > OBS_MAX_PENDING) {
    o->untracked = true;
    wsref_buf_reset(&o->tx);
  }
}
