/* A small JSON writer and reader for the harness's own reports.
 *
 * Why not a library: the harness only writes one documented schema and reads it back (diff,
 * baseline, replay); a streaming writer with deterministic output (byte-stable golden tests)
 * and a DOM reader of a few hundred lines cost less than a new build dependency.
 *
 * Writer: appends to a wsref_buf. Strings are written as JSON text; bytes that are not valid
 * UTF-8 become U+FFFD (byte-exact data always goes into separate hex fields). Errors (out of
 * memory, nesting over WSC_JSON_MAX_DEPTH) are sticky in w->err and reported by
 * wsc_jw_finish().
 *
 * Reader: parses a whole document into a tree of wsc_json nodes owned by the root. Strings are
 * decoded (escapes, surrogate pairs) and NUL-terminated; str_len counts decoded bytes.
 */
#ifndef WSC_JSON_H
#define WSC_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"

#define WSC_JSON_MAX_DEPTH 64

typedef struct wsc_jw {
  wsref_buf *out;
  int depth;
  int indent;                     /* spaces per level; 0 = compact one-line output */
  bool first[WSC_JSON_MAX_DEPTH]; /* no member written yet at this depth */
  bool after_key;                 /* a key was written; the value follows without a comma */
  int err;                        /* sticky wsref_err */
} wsc_jw;

void wsc_jw_init(wsc_jw *w, wsref_buf *out, int indent);
void wsc_jw_obj_begin(wsc_jw *w);
void wsc_jw_obj_end(wsc_jw *w);
void wsc_jw_arr_begin(wsc_jw *w);
void wsc_jw_arr_end(wsc_jw *w);
void wsc_jw_key(wsc_jw *w, const char *key);
void wsc_jw_str(wsc_jw *w, const char *s); /* NULL writes null */
void wsc_jw_strn(wsc_jw *w, const void *s, size_t n);
void wsc_jw_hex(wsc_jw *w, const void *p, size_t n); /* lowercase hex string */
void wsc_jw_int(wsc_jw *w, int64_t v);
void wsc_jw_uint(wsc_jw *w, uint64_t v);
void wsc_jw_bool(wsc_jw *w, bool v);
void wsc_jw_null(wsc_jw *w);
/* Key + value shorthands. */
void wsc_jw_kstr(wsc_jw *w, const char *key, const char *s);
void wsc_jw_kint(wsc_jw *w, const char *key, int64_t v);
void wsc_jw_kuint(wsc_jw *w, const char *key, uint64_t v);
void wsc_jw_kbool(wsc_jw *w, const char *key, bool v);
void wsc_jw_khex(wsc_jw *w, const char *key, const void *p, size_t n);
/* Ends the document with a newline; returns 0 or the sticky error. */
int wsc_jw_finish(wsc_jw *w);

/* Escape s[0..n) as the body of a JSON string (no quotes) into out: the same escaping the
 * writer uses, for callers (HTML reports) that embed JSON text. */
int wsc_json_escape(wsref_buf *out, const void *s, size_t n);

enum wsc_json_type {
  WSC_JSON_NULL,
  WSC_JSON_BOOL,
  WSC_JSON_NUMBER,
  WSC_JSON_STRING,
  WSC_JSON_ARRAY,
  WSC_JSON_OBJECT,
};

typedef struct wsc_json {
  enum wsc_json_type type;
  char *key; /* member name inside an object, else NULL */
  bool b;
  double num;
  int64_t i;   /* the number as an integer (truncated) */
  bool is_int; /* the number was written without fraction/exponent */
  char *str;   /* decoded, NUL-terminated */
  size_t str_len;
  struct wsc_json *child; /* first element/member */
  struct wsc_json *next;  /* next sibling */
  size_t n;               /* number of children */
} wsc_json;

/* Parse a complete document. Returns the root or NULL; on failure err (if not NULL) gets
 * "line:col: message". The caller frees the root with wsc_json_free(). */
wsc_json *wsc_json_parse(const char *s, size_t n, char *err, size_t err_len);
void wsc_json_free(wsc_json *j);

/* Lookups that tolerate NULL and wrong types (return NULL / the default). */
const wsc_json *wsc_json_get(const wsc_json *obj, const char *key);
const char *wsc_json_get_str(const wsc_json *obj, const char *key, const char *dflt);
int64_t wsc_json_get_int(const wsc_json *obj, const char *key, int64_t dflt);
bool wsc_json_get_bool(const wsc_json *obj, const char *key, bool dflt);

/* Decode a hex string into a new malloc'd buffer (*out, *out_len; NULL/0 for an empty
 * string). Returns 0 or WSREF_E_INVALID_ARG / WSREF_E_NOMEM. */
int wsc_hex_decode(const char *hex, size_t n, uint8_t **out, size_t *out_len);

#endif
