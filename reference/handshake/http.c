#include "handshake/http.h"

#include <string.h>

#include "base/error.h"

/* RFC 9110 5.6.2 tchar, as a table: the parsers test every name and method byte. */
static const bool k_tchar[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1, ['&'] = 1, ['\''] = 1, ['*'] = 1, ['+'] = 1,
    ['-'] = 1, ['.'] = 1, ['^'] = 1, ['_'] = 1, ['`'] = 1, ['|'] = 1,  ['~'] = 1, ['0'] = 1,
    ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1,  ['7'] = 1, ['8'] = 1,
    ['9'] = 1, ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1,  ['F'] = 1, ['G'] = 1,
    ['H'] = 1, ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1,  ['N'] = 1, ['O'] = 1,
    ['P'] = 1, ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1,  ['V'] = 1, ['W'] = 1,
    ['X'] = 1, ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1,  ['d'] = 1, ['e'] = 1,
    ['f'] = 1, ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1,  ['l'] = 1, ['m'] = 1,
    ['n'] = 1, ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1,  ['t'] = 1, ['u'] = 1,
    ['v'] = 1, ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

static inline bool is_tchar(unsigned char c) {
  return k_tchar[c];
}

static inline bool is_ows(unsigned char c) {
  return c == ' ' || c == '\t';
}

/* field-vchar / SP / HTAB (RFC 9110 5.5): everything but CTLs and DEL. obs-text is kept
 * because RFC 9110 still lets recipients accept it in values. */
static inline bool is_field_char(unsigned char c) {
  return c == '\t' || (c >= 0x20 && c != 0x7f);
}

static inline unsigned char lower(unsigned char c) {
  return (c >= 'A' && c <= 'Z') ? (unsigned char)(c | 0x20) : c;
}

static bool ieq_n(const char *a, const char *b, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (lower((unsigned char)a[i]) != lower((unsigned char)b[i])) return false;
  return true;
}

bool wsref_str_eq(wsref_str s, const char *lit) {
  size_t n = strlen(lit);
  return s.n == n && (n == 0 || memcmp(s.p, lit, n) == 0);
}

bool wsref_str_ieq(wsref_str s, const char *lit) {
  size_t n = strlen(lit);
  return s.n == n && ieq_n(s.p, lit, n);
}

static void limits_resolve(const wsref_http_limits *l, size_t *max_head, size_t *max_headers) {
  *max_head = (l && l->max_head) ? l->max_head : WSREF_HTTP_MAX_HEAD_DEFAULT;
  *max_headers = (l && l->max_headers) ? l->max_headers : WSREF_HTTP_MAX_HEADERS_DEFAULT;
  if (*max_headers > WSREF_HTTP_HEADERS_CAP) *max_headers = WSREF_HTTP_HEADERS_CAP;
}

/* Locates the head without parsing it, so a caller feeding one byte at a time pays only a
 * memchr scan per call. *first gets the offset of the start line (after the empty lines a
 * request may be preceded by, RFC 9112 2.2). Returns the head length, WSREF_NEED_MORE, or
 * WSREF_E_HTTP_TOO_LARGE when max_head bytes hold no end of head. */
static ssize_t find_head(const char *buf, size_t len, size_t max_head, bool skip_empty,
                         size_t *first) {
  size_t lim = len < max_head ? len : max_head;
  size_t i = 0;
  if (skip_empty) {
    for (;;) {
      if (i < lim && buf[i] == '\n') {
        i++;
      } else if (i + 1 < lim && buf[i] == '\r' && buf[i + 1] == '\n') {
        i += 2;
      } else if (i + 1 == lim && buf[i] == '\r') {
        goto incomplete; /* may still become an empty line */
      } else {
        break;
      }
    }
  }
  *first = i;
  while (i < lim) {
    const char *lf = memchr(buf + i, '\n', lim - i);
    if (!lf) break;
    size_t k = (size_t)(lf - buf);
    /* The start line is never empty here, so an empty line right after k ends the head. */
    if (k + 1 < lim && buf[k + 1] == '\n') return (ssize_t)(k + 2);
    if (k + 2 < lim && buf[k + 1] == '\r' && buf[k + 2] == '\n') return (ssize_t)(k + 3);
    i = k + 1;
  }
incomplete:
  return len > max_head ? WSREF_E_HTTP_TOO_LARGE : WSREF_NEED_MORE;
}

static size_t line_end(const char *buf, size_t from, size_t end) {
  const char *lf = memchr(buf + from, '\n', end - from);
  return lf ? (size_t)(lf - buf) : end; /* the head always ends with LF */
}

/* Content of [s, lf) without a trailing CR. */
static size_t strip_cr(const char *buf, size_t s, size_t lf) {
  return (lf > s && buf[lf - 1] == '\r') ? lf - 1 : lf;
}

static bool parse_version(const char *p, size_t n, int *major, int *minor) {
  if (n != 8 || memcmp(p, "HTTP/", 5) != 0) return false;
  if (p[5] < '0' || p[5] > '9' || p[6] != '.' || p[7] < '0' || p[7] > '9') return false;
  *major = p[5] - '0';
  *minor = p[7] - '0';
  return true;
}

/* Header lines from pos up to the empty line that ends the head at `end`. */
static ssize_t parse_headers(const char *buf, size_t pos, size_t end, size_t max_headers,
                             wsref_http_header *hdrs, size_t *nheaders) {
  size_t nh = 0;
  for (;;) {
    size_t lf = line_end(buf, pos, end);
    size_t e = strip_cr(buf, pos, lf);
    if (e == pos) break; /* the empty line */
    if (nh == max_headers) return WSREF_E_HTTP_TOO_MANY_HEADERS;
    /* Leading whitespace is obs-fold or whitespace before the first field (RFC 9112 5.2,
     * 2.2): both rejected. Whitespace before the colon is rejected per RFC 9112 5.1. */
    size_t i = pos;
    while (i < e && is_tchar((unsigned char)buf[i])) i++;
    if (i == pos || i == e || buf[i] != ':') return WSREF_E_HTTP_SYNTAX;
    wsref_http_header *h = &hdrs[nh];
    h->name.p = buf + pos;
    h->name.n = i - pos;
    i++;
    for (size_t j = i; j < e; j++)
      if (!is_field_char((unsigned char)buf[j])) return WSREF_E_HTTP_SYNTAX;
    size_t vs = i, ve = e;
    while (vs < ve && is_ows((unsigned char)buf[vs])) vs++;
    while (ve > vs && is_ows((unsigned char)buf[ve - 1])) ve--;
    h->value.p = buf + vs;
    h->value.n = ve - vs;
    nh++;
    pos = lf + 1;
  }
  *nheaders = nh;
  return 0;
}

ssize_t wsref_http_parse_request(const char *buf, size_t len, const wsref_http_limits *limits,
                                 wsref_http_request *req) {
  size_t max_head, max_headers, pos = 0;
  limits_resolve(limits, &max_head, &max_headers);
  req->nheaders = 0;
  ssize_t end = find_head(buf, len, max_head, true, &pos);
  if (end < 0) return end;

  size_t lf = line_end(buf, pos, (size_t)end);
  size_t e = strip_cr(buf, pos, lf);
  /* method SP request-target SP HTTP-version, single spaces (RFC 9112 3). */
  size_t i = pos;
  while (i < e && is_tchar((unsigned char)buf[i])) i++;
  if (i == pos || i == e || buf[i] != ' ') return WSREF_E_HTTP_SYNTAX;
  req->method.p = buf + pos;
  req->method.n = i - pos;
  size_t t = ++i;
  /* Only printable ASCII: URIs have no raw spaces, CTLs or non-ASCII octets. */
  while (i < e && (unsigned char)buf[i] > 0x20 && (unsigned char)buf[i] < 0x7f) i++;
  if (i == t || i == e || buf[i] != ' ') return WSREF_E_HTTP_SYNTAX;
  req->target.p = buf + t;
  req->target.n = i - t;
  i++;
  if (!parse_version(buf + i, e - i, &req->version_major, &req->version_minor))
    return WSREF_E_HTTP_SYNTAX;

  ssize_t rc = parse_headers(buf, lf + 1, (size_t)end, max_headers, req->headers, &req->nheaders);
  return rc < 0 ? rc : end;
}

ssize_t wsref_http_parse_response(const char *buf, size_t len, const wsref_http_limits *limits,
                                  wsref_http_response *res) {
  size_t max_head, max_headers, pos = 0;
  limits_resolve(limits, &max_head, &max_headers);
  res->nheaders = 0;
  ssize_t end = find_head(buf, len, max_head, false, &pos);
  if (end < 0) return end;

  size_t lf = line_end(buf, pos, (size_t)end);
  size_t e = strip_cr(buf, pos, lf);
  /* HTTP-version SP status-code SP [ reason-phrase ] (RFC 9112 4). */
  if (e - pos < 13 || buf[pos + 8] != ' ' || buf[pos + 12] != ' ') return WSREF_E_HTTP_SYNTAX;
  if (!parse_version(buf + pos, 8, &res->version_major, &res->version_minor))
    return WSREF_E_HTTP_SYNTAX;
  int status = 0;
  for (size_t i = pos + 9; i < pos + 12; i++) {
    if (buf[i] < '0' || buf[i] > '9') return WSREF_E_HTTP_SYNTAX;
    status = status * 10 + (buf[i] - '0');
  }
  if (status < 100 || status > 599) return WSREF_E_HTTP_SYNTAX; /* RFC 9110 15 */
  res->status = status;
  for (size_t i = pos + 13; i < e; i++)
    if (!is_field_char((unsigned char)buf[i])) return WSREF_E_HTTP_SYNTAX;
  res->reason.p = buf + pos + 13;
  res->reason.n = e - (pos + 13);

  ssize_t rc = parse_headers(buf, lf + 1, (size_t)end, max_headers, res->headers, &res->nheaders);
  return rc < 0 ? rc : end;
}

static bool name_is(const wsref_http_header *h, const char *name, size_t nlen) {
  return h->name.n == nlen && ieq_n(h->name.p, name, nlen);
}

const wsref_http_header *wsref_http_find(const wsref_http_header *h, size_t n, const char *name) {
  size_t nlen = strlen(name);
  for (size_t i = 0; i < n; i++)
    if (name_is(&h[i], name, nlen)) return &h[i];
  return NULL;
}

size_t wsref_http_count(const wsref_http_header *h, size_t n, const char *name) {
  size_t nlen = strlen(name), c = 0;
  for (size_t i = 0; i < n; i++)
    if (name_is(&h[i], name, nlen)) c++;
  return c;
}

bool wsref_http_has_token(const wsref_http_header *h, size_t n, const char *name,
                          const char *token) {
  size_t pos = 0;
  wsref_str t;
  while (wsref_http_next_token(h, n, name, &pos, &t))
    if (wsref_str_ieq(t, token)) return true;
  return false;
}

/* *pos is an offset into the values of all `name` lines joined as if by one separator
 * each (RFC 9110 5.3 combines repeated lines with commas), so iteration needs no state
 * beyond one integer. Commas inside quoted strings do not split elements. */
bool wsref_http_next_token(const wsref_http_header *h, size_t n, const char *name, size_t *pos,
                           wsref_str *out) {
  size_t nlen = strlen(name), base = 0;
  for (size_t i = 0; i < n; i++) {
    if (!name_is(&h[i], name, nlen)) continue;
    const char *v = h[i].value.p;
    size_t vn = h[i].value.n;
    if (*pos > base + vn) {
      base += vn + 1;
      continue;
    }
    size_t j = *pos - base;
    while (j < vn && (v[j] == ',' || is_ows((unsigned char)v[j]))) j++;
    if (j == vn) {
      base += vn + 1;
      *pos = base;
      continue;
    }
    size_t s = j;
    bool quoted = false;
    for (; j < vn; j++) {
      if (quoted) {
        if (v[j] == '\\' && j + 1 < vn)
          j++;
        else if (v[j] == '"')
          quoted = false;
      } else if (v[j] == '"') {
        quoted = true;
      } else if (v[j] == ',') {
        break;
      }
    }
    size_t e = j;
    while (e > s && is_ows((unsigned char)v[e - 1])) e--;
    out->p = v + s;
    out->n = e - s;
    *pos = base + j;
    return true;
  }
  *pos = base;
  return false;
}

static const struct {
  int status;
  const char *reason;
} k_reasons[] = {
    {100, "Continue"},
    {101, "Switching Protocols"},
    {200, "OK"},
    {204, "No Content"},
    {301, "Moved Permanently"},
    {302, "Found"},
    {303, "See Other"},
    {304, "Not Modified"},
    {307, "Temporary Redirect"},
    {308, "Permanent Redirect"},
    {400, "Bad Request"},
    {401, "Unauthorized"},
    {402, "Payment Required"},
    {403, "Forbidden"},
    {404, "Not Found"},
    {405, "Method Not Allowed"},
    {406, "Not Acceptable"},
    {407, "Proxy Authentication Required"},
    {408, "Request Timeout"},
    {409, "Conflict"},
    {410, "Gone"},
    {411, "Length Required"},
    {412, "Precondition Failed"},
    {413, "Content Too Large"},
    {414, "URI Too Long"},
    {415, "Unsupported Media Type"},
    {421, "Misdirected Request"},
    {422, "Unprocessable Content"},
    {426, "Upgrade Required"},
    {428, "Precondition Required"},
    {429, "Too Many Requests"},
    {431, "Request Header Fields Too Large"},
    {500, "Internal Server Error"},
    {501, "Not Implemented"},
    {502, "Bad Gateway"},
    {503, "Service Unavailable"},
    {504, "Gateway Timeout"},
    {505, "HTTP Version Not Supported"},
};

const char *wsref_http_reason(int status) {
  for (size_t i = 0; i < sizeof k_reasons / sizeof k_reasons[0]; i++)
    if (k_reasons[i].status == status) return k_reasons[i].reason;
  return "Unknown";
}
