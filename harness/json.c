#include "json.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "codec/utf8.h"

/* ---- writer ---- */

void wsc_jw_init(wsc_jw *w, wsref_buf *out, int indent) {
  memset(w, 0, sizeof *w);
  w->out = out;
  w->indent = indent;
  w->first[0] = true;
}

static void put(wsc_jw *w, const void *p, size_t n) {
  if (w->err) return;
  int rc = wsref_buf_append(w->out, p, n);
  if (rc < 0) w->err = rc;
}

static void puts_(wsc_jw *w, const char *s) {
  put(w, s, strlen(s));
}

static void newline(wsc_jw *w) {
  if (w->indent <= 0) return;
  put(w, "\n", 1);
  for (int i = 0; i < w->depth * w->indent; i++) put(w, " ", 1);
}

/* Separator and indentation before a value or key at the current depth. */
static void before_item(wsc_jw *w) {
  if (w->after_key) {
    w->after_key = false;
    return;
  }
  if (w->depth == 0) return;
  if (!w->first[w->depth]) put(w, ",", 1);
  w->first[w->depth] = false;
  newline(w);
}

static void open_(wsc_jw *w, char c) {
  before_item(w);
  if (w->depth + 1 >= WSC_JSON_MAX_DEPTH) {
    if (!w->err) w->err = WSREF_E_LIMIT;
    return;
  }
  put(w, &c, 1);
  w->depth++;
  w->first[w->depth] = true;
}

static void close_(wsc_jw *w, char c) {
  if (w->depth <= 0) {
    if (!w->err) w->err = WSREF_E_STATE;
    return;
  }
  bool empty = w->first[w->depth];
  w->depth--;
  if (!empty) newline(w);
  put(w, &c, 1);
}

void wsc_jw_obj_begin(wsc_jw *w) {
  open_(w, '{');
}
void wsc_jw_obj_end(wsc_jw *w) {
  close_(w, '}');
}
void wsc_jw_arr_begin(wsc_jw *w) {
  open_(w, '[');
}
void wsc_jw_arr_end(wsc_jw *w) {
  close_(w, ']');
}

/* Length of the valid UTF-8 sequence at p (1-4), or 0 if the byte starts no valid sequence. */
static size_t utf8_seq(const uint8_t *p, size_t n) {
  uint8_t c = p[0];
  if (c < 0x80) return 1;
  size_t len;
  uint32_t min, cp;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2, min = 0x80, cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3, min = 0x800, cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4, min = 0x10000, cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < len) return 0;
  for (size_t i = 1; i < len; i++) {
    if ((p[i] & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return len;
}

int wsc_json_escape(wsref_buf *out, const void *s, size_t n) {
  const uint8_t *p = s;
  size_t i = 0;
  int rc = 0;
  while (i < n && rc == 0) {
    uint8_t c = p[i];
    if (c == '"' || c == '\\') {
      char e[2] = {'\\', (char)c};
      rc = wsref_buf_append(out, e, 2);
      i++;
    } else if (c < 0x20 || c == 0x7F) {
      char e[8];
      switch (c) {
        case '\n':
          memcpy(e, "\\n", 3);
          break;
        case '\r':
          memcpy(e, "\\r", 3);
          break;
        case '\t':
          memcpy(e, "\\t", 3);
          break;
        default:
          snprintf(e, sizeof e, "\\u%04x", c);
          break;
      }
      rc = wsref_buf_append(out, e, strlen(e));
      i++;
    } else {
      size_t k = utf8_seq(p + i, n - i);
      if (k == 0) {
        rc = wsref_buf_append(out, "\xEF\xBF\xBD", 3);
        i++;
      } else {
        /* copy a run of valid printable bytes at once */
        size_t j = i + k;
        while (j < n && p[j] >= 0x20 && p[j] != '"' && p[j] != '\\' && p[j] != 0x7F) {
          size_t k2 = utf8_seq(p + j, n - j);
          if (k2 == 0) break;
          j += k2;
        }
        rc = wsref_buf_append(out, p + i, j - i);
        i = j;
      }
    }
  }
  return rc;
}

void wsc_jw_strn(wsc_jw *w, const void *s, size_t n) {
  before_item(w);
  put(w, "\"", 1);
  if (!w->err) {
    int rc = wsc_json_escape(w->out, s, n);
    if (rc < 0) w->err = rc;
  }
  put(w, "\"", 1);
}

void wsc_jw_str(wsc_jw *w, const char *s) {
  if (!s) {
    wsc_jw_null(w);
    return;
  }
  wsc_jw_strn(w, s, strlen(s));
}

void wsc_jw_key(wsc_jw *w, const char *key) {
  before_item(w);
  put(w, "\"", 1);
  if (!w->err) {
    int rc = wsc_json_escape(w->out, key, strlen(key));
    if (rc < 0) w->err = rc;
  }
  puts_(w, w->indent > 0 ? "\": " : "\":");
  w->after_key = true;
}

void wsc_jw_hex(wsc_jw *w, const void *p, size_t n) {
  static const char digits[] = "0123456789abcdef";
  before_item(w);
  put(w, "\"", 1);
  const uint8_t *b = p;
  if (!w->err && n) {
    uint8_t *o = wsref_buf_reserve(w->out, n * 2);
    if (!o) {
      w->err = WSREF_E_NOMEM;
    } else {
      for (size_t i = 0; i < n; i++) {
        o[2 * i] = (uint8_t)digits[b[i] >> 4];
        o[2 * i + 1] = (uint8_t)digits[b[i] & 15];
      }
      wsref_buf_commit(w->out, n * 2);
    }
  }
  put(w, "\"", 1);
}

void wsc_jw_int(wsc_jw *w, int64_t v) {
  char t[32];
  before_item(w);
  snprintf(t, sizeof t, "%lld", (long long)v);
  puts_(w, t);
}

void wsc_jw_uint(wsc_jw *w, uint64_t v) {
  char t[32];
  before_item(w);
  snprintf(t, sizeof t, "%llu", (unsigned long long)v);
  puts_(w, t);
}

void wsc_jw_bool(wsc_jw *w, bool v) {
  before_item(w);
  puts_(w, v ? "true" : "false");
}

void wsc_jw_null(wsc_jw *w) {
  before_item(w);
  puts_(w, "null");
}

void wsc_jw_kstr(wsc_jw *w, const char *key, const char *s) {
  wsc_jw_key(w, key);
  wsc_jw_str(w, s);
}
void wsc_jw_kint(wsc_jw *w, const char *key, int64_t v) {
  wsc_jw_key(w, key);
  wsc_jw_int(w, v);
}
void wsc_jw_kuint(wsc_jw *w, const char *key, uint64_t v) {
  wsc_jw_key(w, key);
  wsc_jw_uint(w, v);
}
void wsc_jw_kbool(wsc_jw *w, const char *key, bool v) {
  wsc_jw_key(w, key);
  wsc_jw_bool(w, v);
}
void wsc_jw_khex(wsc_jw *w, const char *key, const void *p, size_t n) {
  wsc_jw_key(w, key);
  wsc_jw_hex(w, p, n);
}

int wsc_jw_finish(wsc_jw *w) {
  if (!w->err && w->depth != 0) w->err = WSREF_E_STATE;
  put(w, "\n", 1);
  return w->err;
}

/* ---- reader ---- */

typedef struct rd {
  const char *s;
  size_t n, i;
  int depth;
  char *err;
  size_t err_len;
  bool failed;
} rd;

static void fail(rd *r, const char *msg) {
  if (r->failed) return;
  r->failed = true;
  if (!r->err || !r->err_len) return;
  size_t line = 1, col = 1;
  for (size_t k = 0; k < r->i && k < r->n; k++) {
    if (r->s[k] == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  snprintf(r->err, r->err_len, "%zu:%zu: %s", line, col, msg);
}

static void ws(rd *r) {
  while (r->i < r->n &&
         (r->s[r->i] == ' ' || r->s[r->i] == '\t' || r->s[r->i] == '\n' || r->s[r->i] == '\r'))
    r->i++;
}

static wsc_json *node(rd *r, enum wsc_json_type t) {
  wsc_json *j = calloc(1, sizeof *j);
  if (!j)
    fail(r, "out of memory");
  else
    j->type = t;
  return j;
}

static int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

static bool read_u4(rd *r, uint32_t *out) {
  if (r->n - r->i < 4) return false;
  uint32_t v = 0;
  for (int k = 0; k < 4; k++) {
    int h = hexval(r->s[r->i + k]);
    if (h < 0) return false;
    v = v << 4 | (uint32_t)h;
  }
  r->i += 4;
  *out = v;
  return true;
}

static size_t put_utf8(char *o, uint32_t cp) {
  if (cp < 0x80) {
    o[0] = (char)cp;
    return 1;
  }
  if (cp < 0x800) {
    o[0] = (char)(0xC0 | cp >> 6);
    o[1] = (char)(0x80 | (cp & 0x3F));
    return 2;
  }
  if (cp < 0x10000) {
    o[0] = (char)(0xE0 | cp >> 12);
    o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
  }
  o[0] = (char)(0xF0 | cp >> 18);
  o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
  o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
  o[3] = (char)(0x80 | (cp & 0x3F));
  return 4;
}

/* Parses a string at r->i (which is at the opening quote) into a new buffer. */
static char *parse_string(rd *r, size_t *len_out) {
  r->i++; /* opening quote */
  size_t start = r->i;
  /* decoded output is never longer than the input */
  size_t end = start;
  while (end < r->n && r->s[end] != '"') end += (r->s[end] == '\\') ? 2 : 1;
  if (end >= r->n) {
    fail(r, "unterminated string");
    return NULL;
  }
  /* JSON text is UTF-8 (RFC 8259 8.1); escapes are ASCII, so the raw bytes can be checked */
  if (!wsref_utf8_valid((const uint8_t *)r->s + start, end - start)) {
    fail(r, "invalid UTF-8 in string");
    return NULL;
  }
  char *o = malloc(end - start + 1);
  if (!o) {
    fail(r, "out of memory");
    return NULL;
  }
  size_t k = 0;
  while (r->i < r->n && r->s[r->i] != '"') {
    unsigned char c = (unsigned char)r->s[r->i];
    if (c < 0x20) {
      fail(r, "control character in string");
      free(o);
      return NULL;
    }
    if (c != '\\') {
      o[k++] = (char)c;
      r->i++;
      continue;
    }
    r->i++;
    char e = r->i < r->n ? r->s[r->i++] : 0;
    switch (e) {
      case '"':
        o[k++] = '"';
        break;
      case '\\':
        o[k++] = '\\';
        break;
      case '/':
        o[k++] = '/';
        break;
      case 'b':
        o[k++] = '\b';
        break;
      case 'f':
        o[k++] = '\f';
        break;
      case 'n':
        o[k++] = '\n';
        break;
      case 'r':
        o[k++] = '\r';
        break;
      case 't':
        o[k++] = '\t';
        break;
      case 'u': {
        uint32_t cp;
        if (!read_u4(r, &cp)) {
          fail(r, "bad \\u escape");
          free(o);
          return NULL;
        }
        if (cp >= 0xD800 && cp <= 0xDBFF && r->n - r->i >= 6 && r->s[r->i] == '\\' &&
            r->s[r->i + 1] == 'u') {
          size_t save = r->i;
          uint32_t lo;
          r->i += 2;
          if (read_u4(r, &lo) && lo >= 0xDC00 && lo <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
          } else {
            r->i = save;
          }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD; /* lone surrogate */
        /* \uXXXX (6 input bytes) never decodes to more than 4 bytes */
        k += put_utf8(o + k, cp);
        break;
      }
      default:
        fail(r, "bad escape");
        free(o);
        return NULL;
    }
  }
  r->i++; /* closing quote */
  o[k] = 0;
  *len_out = k;
  return o;
}

static wsc_json *parse_value(rd *r);

static wsc_json *parse_container(rd *r, bool object) {
  wsc_json *j = node(r, object ? WSC_JSON_OBJECT : WSC_JSON_ARRAY);
  if (!j) return NULL;
  if (++r->depth > WSC_JSON_MAX_DEPTH) {
    fail(r, "nesting too deep");
    return j;
  }
  r->i++;
  ws(r);
  char closer = object ? '}' : ']';
  if (r->i < r->n && r->s[r->i] == closer) {
    r->i++;
    r->depth--;
    return j;
  }
  wsc_json **tail = &j->child;
  for (;;) {
    char *key = NULL;
    ws(r);
    if (object) {
      if (r->i >= r->n || r->s[r->i] != '"') {
        fail(r, "expected a member name");
        return j;
      }
      size_t kl;
      key = parse_string(r, &kl);
      if (!key) return j;
      ws(r);
      if (r->i >= r->n || r->s[r->i] != ':') {
        free(key);
        fail(r, "expected ':'");
        return j;
      }
      r->i++;
    }
    wsc_json *v = parse_value(r);
    if (!v) {
      free(key);
      return j;
    }
    v->key = key;
    *tail = v;
    tail = &v->next;
    j->n++;
    if (r->failed) return j;
    ws(r);
    if (r->i < r->n && r->s[r->i] == ',') {
      r->i++;
      continue;
    }
    if (r->i < r->n && r->s[r->i] == closer) {
      r->i++;
      break;
    }
    fail(r, object ? "expected ',' or '}'" : "expected ',' or ']'");
    return j;
  }
  r->depth--;
  return j;
}

static wsc_json *parse_value(rd *r) {
  ws(r);
  if (r->i >= r->n) {
    fail(r, "unexpected end of input");
    return NULL;
  }
  char c = r->s[r->i];
  if (c == '{' || c == '[') return parse_container(r, c == '{');
  if (c == '"') {
    wsc_json *j = node(r, WSC_JSON_STRING);
    if (!j) return NULL;
    j->str = parse_string(r, &j->str_len);
    return j;
  }
  static const struct {
    const char *lit;
    enum wsc_json_type t;
    bool b;
  } lits[] = {{"null", WSC_JSON_NULL, false},
              {"true", WSC_JSON_BOOL, true},
              {"false", WSC_JSON_BOOL, false}};
  for (size_t k = 0; k < sizeof lits / sizeof lits[0]; k++) {
    size_t l = strlen(lits[k].lit);
    if (r->n - r->i >= l && memcmp(r->s + r->i, lits[k].lit, l) == 0) {
      r->i += l;
      wsc_json *j = node(r, lits[k].t);
      if (j) j->b = lits[k].b;
      return j;
    }
  }
  if (c == '-' || (c >= '0' && c <= '9')) {
    size_t st = r->i;
    bool is_int = true;
    if (r->s[r->i] == '-') r->i++;
    while (r->i < r->n) {
      char d = r->s[r->i];
      if (d >= '0' && d <= '9') {
        r->i++;
      } else if (d == '.' || d == 'e' || d == 'E' || d == '+' || d == '-') {
        is_int = false;
        r->i++;
      } else {
        break;
      }
    }
    char tmp[64];
    size_t l = r->i - st;
    if (l >= sizeof tmp) {
      fail(r, "number too long");
      return NULL;
    }
    memcpy(tmp, r->s + st, l);
    tmp[l] = 0;
    char *endp;
    errno = 0;
    double d = strtod(tmp, &endp);
    if (*endp || l == 0) {
      fail(r, "bad number");
      return NULL;
    }
    wsc_json *j = node(r, WSC_JSON_NUMBER);
    if (!j) return NULL;
    j->num = d;
    j->is_int = is_int;
    if (is_int) {
      errno = 0;
      long long v = strtoll(tmp, NULL, 10);
      if (errno == ERANGE && tmp[0] != '-') {
        /* positive values beyond int64 (uint64 counters) keep their low bits */
        j->i = (int64_t)strtoull(tmp, NULL, 10);
      } else {
        j->i = v;
      }
    } else if (d != d) {
      j->i = 0;
    } else if (d >= 9223372036854775807.0) {
      j->i = INT64_MAX; /* 1e999 is inf: converting it would be undefined */
    } else if (d <= -9223372036854775808.0) {
      j->i = INT64_MIN;
    } else {
      j->i = (int64_t)d;
    }
    return j;
  }
  fail(r, "unexpected character");
  return NULL;
}

wsc_json *wsc_json_parse(const char *s, size_t n, char *err, size_t err_len) {
  rd r = {s, n, 0, 0, err, err_len, false};
  if (err && err_len) err[0] = 0;
  wsc_json *root = parse_value(&r);
  if (!r.failed) {
    ws(&r);
    if (r.i != r.n) fail(&r, "trailing data after the document");
  }
  if (r.failed) {
    wsc_json_free(root);
    return NULL;
  }
  return root;
}

void wsc_json_free(wsc_json *j) {
  while (j) {
    wsc_json *next = j->next;
    wsc_json_free(j->child);
    free(j->key);
    free(j->str);
    free(j);
    j = next;
  }
}

const wsc_json *wsc_json_get(const wsc_json *obj, const char *key) {
  if (!obj || obj->type != WSC_JSON_OBJECT) return NULL;
  for (const wsc_json *c = obj->child; c; c = c->next)
    if (c->key && strcmp(c->key, key) == 0) return c;
  return NULL;
}

const char *wsc_json_get_str(const wsc_json *obj, const char *key, const char *dflt) {
  const wsc_json *v = wsc_json_get(obj, key);
  return v && v->type == WSC_JSON_STRING ? v->str : dflt;
}

int64_t wsc_json_get_int(const wsc_json *obj, const char *key, int64_t dflt) {
  const wsc_json *v = wsc_json_get(obj, key);
  return v && v->type == WSC_JSON_NUMBER ? v->i : dflt;
}

bool wsc_json_get_bool(const wsc_json *obj, const char *key, bool dflt) {
  const wsc_json *v = wsc_json_get(obj, key);
  return v && v->type == WSC_JSON_BOOL ? v->b : dflt;
}

int wsc_hex_decode(const char *hex, size_t n, uint8_t **out, size_t *out_len) {
  *out = NULL;
  *out_len = 0;
  if (n % 2) return WSREF_E_INVALID_ARG;
  if (n == 0) return 0;
  uint8_t *b = malloc(n / 2);
  if (!b) return WSREF_E_NOMEM;
  for (size_t i = 0; i < n / 2; i++) {
    int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      free(b);
      return WSREF_E_INVALID_ARG;
    }
    b[i] = (uint8_t)(hi << 4 | lo);
  }
  *out = b;
  *out_len = n / 2;
  return 0;
}
