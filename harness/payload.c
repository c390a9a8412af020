/* Payload specs: parser and lazy materialisation (see payload.h). */
#include "payload.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/error.h"

#define WSC_PAYLOAD_DEFAULT_MAX (1ull << 30)

enum seg_kind { SEG_BYTES, SEG_REPEAT, SEG_FILE, SEG_VAR };
enum seg_var { VAR_HOST, VAR_TARGET, VAR_KEY, VAR_ORIGIN, VAR_RUN, VAR_CASE, VAR_NAMED };

struct seg {
  enum seg_kind kind;
  uint8_t *bytes; /* BYTES: the bytes; REPEAT: the pattern */
  size_t nbytes;
  uint64_t len; /* REPEAT: total length; FILE: size when parsed */
  char *path;   /* FILE; VAR_NAMED: the name */
  enum seg_var var;
};

struct wsc_payload {
  struct seg *segs;
  size_t nsegs, cap;
  char *src;
};

static const char *const var_names[] = {"host", "target", "key", "origin", "run", "case"};
#define NBUILTIN_VARS 6

/* ---------------------------------------------------------------------------------------- */

static void seg_free(struct seg *s) {
  free(s->bytes);
  free(s->path);
}

void wsc_payload_free(struct wsc_payload *p) {
  if (!p) return;
  for (size_t i = 0; i < p->nsegs; i++) seg_free(&p->segs[i]);
  free(p->segs);
  free(p->src);
  free(p);
}

static struct wsc_payload *payload_new(void) {
  struct wsc_payload *p = calloc(1, sizeof *p);
  if (!p) return NULL;
  p->src = strdup("");
  if (!p->src) {
    free(p);
    return NULL;
  }
  return p;
}

/* Takes ownership of s's buffers, also on failure. */
static int push_seg(struct wsc_payload *p, struct seg *s) {
  if (p->nsegs == p->cap) {
    size_t ncap = p->cap ? p->cap * 2 : 4;
    struct seg *n = realloc(p->segs, ncap * sizeof *n);
    if (!n) {
      seg_free(s);
      return WSREF_E_NOMEM;
    }
    p->segs = n;
    p->cap = ncap;
  }
  /* Adjacent literal segments are merged so repeat() patterns and equality stay simple. */
  if (s->kind == SEG_BYTES && p->nsegs > 0 && p->segs[p->nsegs - 1].kind == SEG_BYTES) {
    struct seg *last = &p->segs[p->nsegs - 1];
    uint8_t *nb = realloc(last->bytes, last->nbytes + s->nbytes + 1);
    if (!nb) {
      seg_free(s);
      return WSREF_E_NOMEM;
    }
    if (s->nbytes) memcpy(nb + last->nbytes, s->bytes, s->nbytes);
    last->bytes = nb;
    last->nbytes += s->nbytes;
    seg_free(s);
    return 0;
  }
  p->segs[p->nsegs++] = *s;
  return 0;
}

struct wsc_payload *wsc_payload_from_bytes(const void *data, size_t n) {
  struct wsc_payload *p = payload_new();
  if (!p) return NULL;
  struct seg s = {.kind = SEG_BYTES, .nbytes = n};
  s.bytes = malloc(n ? n : 1);
  if (!s.bytes) {
    wsc_payload_free(p);
    return NULL;
  }
  if (n) memcpy(s.bytes, data, n);
  if (push_seg(p, &s) != 0) {
    wsc_payload_free(p);
    return NULL;
  }
  return p;
}

int wsc_payload_append(struct wsc_payload *dst, struct wsc_payload *src) {
  int rc = 0;
  size_t i = 0;
  for (; i < src->nsegs; i++) {
    rc = push_seg(dst, &src->segs[i]);
    if (rc) {
      i++;
      break;
    }
  }
  for (; i < src->nsegs; i++) seg_free(&src->segs[i]);
  src->nsegs = 0;
  if (rc == 0 && src->src[0]) {
    if (!dst->src[0]) {
      free(dst->src);
      dst->src = src->src;
      src->src = NULL;
    } else {
      size_t a = strlen(dst->src), b = strlen(src->src);
      char *n = malloc(a + b + 4);
      if (!n) {
        rc = WSREF_E_NOMEM;
      } else {
        memcpy(n, dst->src, a);
        memcpy(n + a, " + ", 3);
        memcpy(n + a + 3, src->src, b + 1);
        free(dst->src);
        dst->src = n;
      }
    }
  }
  wsc_payload_free(src);
  return rc;
}

bool wsc_payload_has_vars(const struct wsc_payload *p) {
  for (size_t i = 0; i < p->nsegs; i++)
    if (p->segs[i].kind == SEG_VAR) return true;
  return false;
}

const char *wsc_payload_source(const struct wsc_payload *p) {
  return p->src ? p->src : "";
}

/* ---------------------------------------------------------------------------------------- */

int wsc_parse_size(const char *s, size_t len, uint64_t *out) {
  size_t i = 0;
  uint64_t v = 0;
  if (len == 0) return WSREF_E_INVALID_ARG;
  if (len > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    i = 2;
    size_t start = i;
    for (; i < len; i++) {
      int d;
      char c = s[i];
      if (c >= '0' && c <= '9')
        d = c - '0';
      else if (c >= 'a' && c <= 'f')
        d = c - 'a' + 10;
      else if (c >= 'A' && c <= 'F')
        d = c - 'A' + 10;
      else
        break;
      if (v > (UINT64_MAX >> 4)) return WSREF_E_INVALID_ARG;
      v = (v << 4) | (uint64_t)d;
    }
    if (i == start) return WSREF_E_INVALID_ARG;
  } else {
    size_t start = i;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
      uint64_t d = (uint64_t)(s[i] - '0');
      if (v > (UINT64_MAX - d) / 10) return WSREF_E_INVALID_ARG;
      v = v * 10 + d;
    }
    if (i == start) return WSREF_E_INVALID_ARG;
  }
  if (i < len) {
    unsigned shift;
    size_t rest = len - i;
    if (rest == 3 && memcmp(s + i, "KiB", 3) == 0)
      shift = 10;
    else if (rest == 3 && memcmp(s + i, "MiB", 3) == 0)
      shift = 20;
    else if (rest == 3 && memcmp(s + i, "GiB", 3) == 0)
      shift = 30;
    else
      return WSREF_E_INVALID_ARG;
    if (v > (UINT64_MAX >> shift)) return WSREF_E_INVALID_ARG;
    v <<= shift;
  }
  *out = v;
  return 0;
}

/* ---------------------------------------------------------------------------------------- */

struct pp {
  const char *s;
  size_t len, pos;
  const struct wsc_payload_parse_opts *opts;
  struct wsc_payload_error *err;
};

static int perr(struct pp *p, size_t off, const char *fmt, ...) {
  if (p->err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof p->err->msg, fmt, ap);
    va_end(ap);
    p->err->offset = off;
  }
  return WSREF_E_INVALID_ARG;
}

static void skip_ws(struct pp *p) {
  while (p->pos < p->len && (p->s[p->pos] == ' ' || p->s[p->pos] == '\t')) p->pos++;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* A growable byte buffer for literals. */
struct bb {
  uint8_t *v;
  size_t n, cap;
};

static int bb_put(struct bb *b, const void *d, size_t n) {
  if (b->n + n > b->cap) {
    size_t ncap = b->cap ? b->cap : 32;
    while (ncap < b->n + n) ncap *= 2;
    uint8_t *nv = realloc(b->v, ncap);
    if (!nv) return WSREF_E_NOMEM;
    b->v = nv;
    b->cap = ncap;
  }
  memcpy(b->v + b->n, d, n);
  b->n += n;
  return 0;
}

/* Generalised UTF-8: the pre-2003 scheme up to 6 bytes, so surrogates, values over
 * 0x10FFFF and 5/6-byte forms can be produced on purpose. */
static size_t utf8_encode(uint32_t cp, uint8_t out[6]) {
  if (cp < 0x80) {
    out[0] = (uint8_t)cp;
    return 1;
  }
  size_t n;
  uint8_t lead;
  if (cp < 0x800)
    n = 2, lead = 0xC0;
  else if (cp < 0x10000)
    n = 3, lead = 0xE0;
  else if (cp < 0x200000)
    n = 4, lead = 0xF0;
  else if (cp < 0x4000000)
    n = 5, lead = 0xF8;
  else
    n = 6, lead = 0xFC;
  for (size_t i = n - 1; i > 0; i--) {
    out[i] = (uint8_t)(0x80 | (cp & 0x3F));
    cp >>= 6;
  }
  out[0] = (uint8_t)(lead | cp);
  return n;
}

/* "..." with escapes; p->pos at the opening quote. */
static int parse_string(struct pp *p, struct bb *out) {
  size_t start = p->pos;
  p->pos++;
  for (;;) {
    if (p->pos >= p->len) return perr(p, start, "unterminated string");
    char c = p->s[p->pos];
    if (c == '"') {
      p->pos++;
      return 0;
    }
    if (c != '\\') {
      size_t run = p->pos;
      while (run < p->len && p->s[run] != '"' && p->s[run] != '\\') run++;
      if (bb_put(out, p->s + p->pos, run - p->pos)) return WSREF_E_NOMEM;
      p->pos = run;
      continue;
    }
    size_t esc = p->pos;
    if (p->pos + 1 >= p->len) return perr(p, start, "unterminated string");
    char e = p->s[p->pos + 1];
    p->pos += 2;
    uint8_t b;
    switch (e) {
      case 'n':
        b = '\n';
        break;
      case 'r':
        b = '\r';
        break;
      case 't':
        b = '\t';
        break;
      case '0':
        b = 0;
        break;
      case '\\':
        b = '\\';
        break;
      case '"':
        b = '"';
        break;
      case 'x': {
        int h = p->pos + 1 < p->len ? hexval(p->s[p->pos]) : -1;
        int l = h >= 0 ? hexval(p->s[p->pos + 1]) : -1;
        if (h < 0 || l < 0) return perr(p, esc, "bad \\x escape: two hex digits needed");
        b = (uint8_t)(h << 4 | l);
        p->pos += 2;
        break;
      }
      case 'u': {
        if (p->pos >= p->len || p->s[p->pos] != '{')
          return perr(p, esc, "bad \\u escape: write \\u{HEX}");
        size_t q = p->pos + 1;
        uint32_t cp = 0;
        size_t nd = 0;
        while (q < p->len && hexval(p->s[q]) >= 0 && nd < 9) {
          cp = cp << 4 | (uint32_t)hexval(p->s[q]);
          q++;
          nd++;
        }
        if (nd == 0 || nd > 8 || q >= p->len || p->s[q] != '}' || cp > 0x7FFFFFFF)
          return perr(p, esc, "bad \\u escape: write \\u{HEX} with at most 7FFFFFFF");
        p->pos = q + 1;
        uint8_t u[6];
        size_t n = utf8_encode(cp, u);
        if (bb_put(out, u, n)) return WSREF_E_NOMEM;
        continue;
      }
      default:
        return perr(p, esc, "unknown escape '\\%c'", e);
    }
    if (bb_put(out, &b, 1)) return WSREF_E_NOMEM;
  }
}

/* hex"..."; p->pos at the opening quote. */
static int parse_hex(struct pp *p, struct bb *out) {
  size_t start = p->pos;
  p->pos++;
  int hi = -1;
  size_t hi_pos = 0;
  for (;;) {
    if (p->pos >= p->len) return perr(p, start, "unterminated hex string");
    char c = p->s[p->pos];
    if (c == '"') {
      if (hi >= 0) return perr(p, hi_pos, "odd number of hex digits");
      p->pos++;
      return 0;
    }
    if (c == ' ' || c == '\t' || c == '_' || c == ':') {
      if (hi >= 0) return perr(p, p->pos, "separator inside a hex byte");
      p->pos++;
      continue;
    }
    int v = hexval(c);
    if (v < 0) return perr(p, p->pos, "bad hex digit '%c'", c);
    if (hi < 0) {
      hi = v;
      hi_pos = p->pos;
    } else {
      uint8_t b = (uint8_t)(hi << 4 | v);
      if (bb_put(out, &b, 1)) return WSREF_E_NOMEM;
      hi = -1;
    }
    p->pos++;
  }
}

static bool is_ident(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static int parse_expr(struct pp *p, struct wsc_payload *out, uint64_t *total);

static int add_len(struct pp *p, size_t at, uint64_t *total, uint64_t n) {
  uint64_t max = p->opts && p->opts->max_len ? p->opts->max_len : WSC_PAYLOAD_DEFAULT_MAX;
  if (n > max || *total > max - n)
    return perr(p, at, "payload longer than the limit of %llu bytes", (unsigned long long)max);
  *total += n;
  return 0;
}

static int expect_char(struct pp *p, char c, const char *what) {
  skip_ws(p);
  if (p->pos >= p->len || p->s[p->pos] != c) return perr(p, p->pos, "expected %s", what);
  p->pos++;
  skip_ws(p);
  return 0;
}

static bool file_name_ok(const char *n) {
  if (!n[0] || n[0] == '/') return false;
  /* Reject ".." as a path component so cases cannot read outside the data directory. */
  const char *c = n;
  while (*c) {
    const char *e = strchr(c, '/');
    size_t l = e ? (size_t)(e - c) : strlen(c);
    if (l == 2 && c[0] == '.' && c[1] == '.') return false;
    if (l == 0) return false;
    c += l;
    if (*c == '/') c++;
  }
  return true;
}

static int parse_term(struct pp *p, struct wsc_payload *out, uint64_t *total) {
  size_t at = p->pos;
  const char *s = p->s;
  int rc;
  if (at < p->len && s[at] == '"') {
    struct bb b = {0};
    rc = parse_string(p, &b);
    if (rc == 0) rc = add_len(p, at, total, b.n);
    if (rc) {
      free(b.v);
      return rc;
    }
    struct seg sg = {.kind = SEG_BYTES, .bytes = b.v ? b.v : malloc(1), .nbytes = b.n};
    if (!sg.bytes) return WSREF_E_NOMEM;
    return push_seg(out, &sg);
  }
  size_t w = at;
  if (w < p->len && s[w] == '$') w++;
  while (w < p->len && is_ident(s[w])) w++;
  size_t wl = w - at;
  if (wl == 3 && memcmp(s + at, "hex", 3) == 0 && w < p->len && s[w] == '"') {
    p->pos = w;
    struct bb b = {0};
    rc = parse_hex(p, &b);
    if (rc == 0) rc = add_len(p, at, total, b.n);
    if (rc) {
      free(b.v);
      return rc;
    }
    struct seg sg = {.kind = SEG_BYTES, .bytes = b.v ? b.v : malloc(1), .nbytes = b.n};
    if (!sg.bytes) return WSREF_E_NOMEM;
    return push_seg(out, &sg);
  }
  if (wl > 1 && s[at] == '$') {
    for (int v = 0; v < NBUILTIN_VARS; v++) {
      if (strlen(var_names[v]) == wl - 1 && memcmp(s + at + 1, var_names[v], wl - 1) == 0) {
        p->pos = w;
        struct seg sg = {.kind = SEG_VAR, .var = (enum seg_var)v};
        return push_seg(out, &sg);
      }
    }
    for (size_t v = 0; p->opts && v < p->opts->nnames; v++) {
      const char *nm = p->opts->names[v];
      if (strlen(nm) == wl - 1 && memcmp(s + at + 1, nm, wl - 1) == 0) {
        p->pos = w;
        struct seg sg = {.kind = SEG_VAR, .var = VAR_NAMED, .path = strndup(nm, wl - 1)};
        if (!sg.path) return WSREF_E_NOMEM;
        return push_seg(out, &sg);
      }
    }
    return perr(p, at, "unknown payload variable '%.*s'", (int)wl, s + at);
  }
  if (wl == 6 && memcmp(s + at, "repeat", 6) == 0) {
    p->pos = w;
    skip_ws(p);
    if (p->pos >= p->len || s[p->pos] != '(') return perr(p, p->pos, "expected '(' after repeat");
    p->pos++;
    skip_ws(p);
    size_t pat_at = p->pos;
    struct wsc_payload *pat = payload_new();
    if (!pat) return WSREF_E_NOMEM;
    uint64_t pat_total = 0;
    rc = parse_expr(p, pat, &pat_total);
    if (rc == 0 && (pat->nsegs != 1 || pat->segs[0].kind != SEG_BYTES))
      rc = perr(p, pat_at, "repeat pattern must be literal bytes (text or hex)");
    if (rc == 0) rc = expect_char(p, ',', "',' before the repeat size");
    if (rc) {
      wsc_payload_free(pat);
      return rc;
    }
    size_t sz_at = p->pos;
    while (p->pos < p->len && s[p->pos] != ')' && s[p->pos] != ' ' && s[p->pos] != '\t') p->pos++;
    uint64_t n;
    if (wsc_parse_size(s + sz_at, p->pos - sz_at, &n) != 0) {
      wsc_payload_free(pat);
      return perr(p, sz_at, "bad size '%.*s'", (int)(p->pos - sz_at), s + sz_at);
    }
    rc = expect_char(p, ')', "')' after the repeat size");
    if (rc == 0 && n > 0 && pat->segs[0].nbytes == 0)
      rc = perr(p, pat_at, "repeat of an empty pattern");
    if (rc == 0) rc = add_len(p, at, total, n);
    if (rc) {
      wsc_payload_free(pat);
      return rc;
    }
    struct seg sg = {
        .kind = SEG_REPEAT, .bytes = pat->segs[0].bytes, .nbytes = pat->segs[0].nbytes, .len = n};
    pat->segs[0].bytes = NULL;
    wsc_payload_free(pat);
    if (n == 0) {
      free(sg.bytes);
      return 0;
    }
    return push_seg(out, &sg);
  }
  if (wl == 4 && memcmp(s + at, "file", 4) == 0) {
    p->pos = w;
    skip_ws(p);
    if (p->pos >= p->len || s[p->pos] != '(') return perr(p, p->pos, "expected '(' after file");
    p->pos++;
    skip_ws(p);
    size_t name_at = p->pos;
    if (p->pos >= p->len || s[p->pos] != '"')
      return perr(p, name_at, "expected a quoted file name");
    struct bb b = {0};
    rc = parse_string(p, &b);
    if (rc == 0) rc = bb_put(&b, "", 1);
    if (rc == 0) rc = expect_char(p, ')', "')' after the file name");
    if (rc) {
      free(b.v);
      return rc;
    }
    const char *name = (const char *)b.v;
    if (strlen(name) != b.n - 1 || !file_name_ok(name)) {
      rc = perr(p, name_at, "bad data file name '%s': relative, without '..'", name);
      free(b.v);
      return rc;
    }
    if (!p->opts || !p->opts->data_dir) {
      rc = perr(p, name_at, "missing data file '%s': no data directory", name);
      free(b.v);
      return rc;
    }
    size_t dl = strlen(p->opts->data_dir);
    char *path = malloc(dl + b.n + 1);
    if (!path) {
      free(b.v);
      return WSREF_E_NOMEM;
    }
    memcpy(path, p->opts->data_dir, dl);
    path[dl] = '/';
    memcpy(path + dl + 1, name, b.n);
    free(b.v);
    struct stat st;
    if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
      rc = perr(p, name_at, "missing data file '%s'", path);
      free(path);
      return rc;
    }
    rc = add_len(p, at, total, (uint64_t)st.st_size);
    if (rc) {
      free(path);
      return rc;
    }
    struct seg sg = {.kind = SEG_FILE, .path = path, .len = (uint64_t)st.st_size};
    return push_seg(out, &sg);
  }
  if (at >= p->len) return perr(p, at, "expected a payload: \"text\", hex\"..\", repeat(), file()");
  return perr(p, at, "expected a payload: \"text\", hex\"..\", repeat(), file(), not '%.*s'",
              (int)(wl ? wl : 1), s + at);
}

static int parse_expr(struct pp *p, struct wsc_payload *out, uint64_t *total) {
  for (;;) {
    skip_ws(p);
    int rc = parse_term(p, out, total);
    if (rc) return rc;
    skip_ws(p);
    if (p->pos < p->len && p->s[p->pos] == '+') {
      p->pos++;
      continue;
    }
    return 0;
  }
}

int wsc_payload_parse(const char *src, size_t len, const struct wsc_payload_parse_opts *opts,
                      struct wsc_payload **out, struct wsc_payload_error *err) {
  struct pp p = {.s = src, .len = len, .opts = opts, .err = err};
  *out = NULL;
  struct wsc_payload *pl = payload_new();
  if (!pl) return WSREF_E_NOMEM;
  uint64_t total = 0;
  int rc = parse_expr(&p, pl, &total);
  if (rc == 0 && p.pos < len) rc = perr(&p, p.pos, "unexpected '%c' after the payload", src[p.pos]);
  if (rc == 0) {
    size_t a = 0, b = len;
    while (a < b && (src[a] == ' ' || src[a] == '\t')) a++;
    while (b > a && (src[b - 1] == ' ' || src[b - 1] == '\t')) b--;
    char *s = strndup(src + a, b - a);
    if (!s) {
      rc = WSREF_E_NOMEM;
    } else {
      free(pl->src);
      pl->src = s;
    }
  }
  if (rc) {
    wsc_payload_free(pl);
    return rc;
  }
  *out = pl;
  return 0;
}

/* ---------------------------------------------------------------------------------------- */

static const char *var_value(const struct seg *s, const struct wsc_payload_env *env) {
  if (!env) return NULL;
  switch (s->var) {
    case VAR_HOST:
      return env->host;
    case VAR_TARGET:
      return env->target;
    case VAR_KEY:
      return env->key;
    case VAR_ORIGIN:
      return env->origin;
    case VAR_RUN:
      return env->run;
    case VAR_CASE:
      return env->case_id;
    case VAR_NAMED:
      return env->lookup ? env->lookup(env->lookup_ud, s->path) : NULL;
  }
  return NULL;
}

static int seg_len(const struct seg *s, const struct wsc_payload_env *env, uint64_t *n) {
  switch (s->kind) {
    case SEG_BYTES:
      *n = s->nbytes;
      return 0;
    case SEG_REPEAT:
    case SEG_FILE:
      *n = s->len;
      return 0;
    case SEG_VAR: {
      const char *v = var_value(s, env);
      if (!v) return WSREF_E_INVALID_ARG;
      *n = strlen(v);
      return 0;
    }
  }
  return WSREF_E_INVALID_ARG;
}

int wsc_payload_length(const struct wsc_payload *p, const struct wsc_payload_env *env,
                       uint64_t *len) {
  uint64_t t = 0;
  for (size_t i = 0; i < p->nsegs; i++) {
    uint64_t n;
    int rc = seg_len(&p->segs[i], env, &n);
    if (rc) return rc;
    t += n;
  }
  *len = t;
  return 0;
}

static int read_file(const char *path, uint64_t off, uint8_t *dst, size_t n) {
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return WSREF_E_IO;
  while (n > 0) {
    ssize_t r = pread(fd, dst, n, (off_t)off);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      close(fd);
      return WSREF_E_IO;
    }
    dst += r;
    off += (uint64_t)r;
    n -= (size_t)r;
  }
  close(fd);
  return 0;
}

/* Copy [off, off + n) of one segment whose length is at least off + n. */
static int seg_read(const struct seg *s, const struct wsc_payload_env *env, uint64_t off,
                    uint8_t *dst, size_t n) {
  switch (s->kind) {
    case SEG_BYTES:
      memcpy(dst, s->bytes + off, n);
      return 0;
    case SEG_REPEAT: {
      size_t at = (size_t)(off % s->nbytes);
      while (n > 0) {
        size_t k = s->nbytes - at;
        if (k > n) k = n;
        memcpy(dst, s->bytes + at, k);
        dst += k;
        n -= k;
        at = 0;
      }
      return 0;
    }
    case SEG_FILE:
      return read_file(s->path, off, dst, n);
    case SEG_VAR:
      memcpy(dst, var_value(s, env) + off, n);
      return 0;
  }
  return WSREF_E_INVALID_ARG;
}

int wsc_payload_read(const struct wsc_payload *p, const struct wsc_payload_env *env, uint64_t off,
                     void *dst, size_t n) {
  uint8_t *d = dst;
  uint64_t base = 0;
  for (size_t i = 0; i < p->nsegs && n > 0; i++) {
    uint64_t sl;
    int rc = seg_len(&p->segs[i], env, &sl);
    if (rc) return rc;
    if (off < base + sl) {
      uint64_t in = off - base;
      uint64_t k = sl - in;
      if (k > n) k = n;
      rc = seg_read(&p->segs[i], env, in, d, (size_t)k);
      if (rc) return rc;
      d += k;
      n -= (size_t)k;
      off += k;
    }
    base += sl;
  }
  return n == 0 ? 0 : WSREF_E_INVALID_ARG;
}

int wsc_payload_materialize(const struct wsc_payload *p, const struct wsc_payload_env *env,
                            uint8_t **out, size_t *len) {
  uint64_t n;
  int rc = wsc_payload_length(p, env, &n);
  if (rc) return rc;
  if (n > SIZE_MAX - 1) return WSREF_E_NOMEM;
  uint8_t *b = malloc((size_t)n + 1);
  if (!b) return WSREF_E_NOMEM;
  rc = wsc_payload_read(p, env, 0, b, (size_t)n);
  if (rc) {
    free(b);
    return rc;
  }
  *out = b;
  *len = (size_t)n;
  return 0;
}

int wsc_payload_equals(const struct wsc_payload *p, const struct wsc_payload_env *env,
                       const void *data, size_t n) {
  uint64_t total;
  int rc = wsc_payload_length(p, env, &total);
  if (rc) return rc;
  if (total != n) return 0;
  const uint8_t *d = data;
  uint8_t buf[8192];
  for (size_t off = 0; off < n;) {
    size_t k = n - off < sizeof buf ? n - off : sizeof buf;
    rc = wsc_payload_read(p, env, off, buf, k);
    if (rc) return rc;
    if (memcmp(buf, d + off, k) != 0) return 0;
    off += k;
  }
  return 1;
}
