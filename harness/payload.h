/* Payload specs: byte strings described by a small expression language, materialised lazily.
 *
 *   "Hello\r\n"             text with escapes: \n \r \t \0 \\ \" \xHH \u{HHHHHH}
 *                           (\u{} encodes any value up to 0x7FFFFFFF as UTF-8, surrogates
 *                           and 5/6-byte forms included, so invalid sequences can be
 *                           written as code points)
 *   hex"ce ba e1"           bytes in hex; spaces, '_' and ':' between digit pairs ignored
 *   repeat(PAYLOAD, SIZE)   the pattern repeated and truncated to SIZE bytes in total
 *                           (Autobahn's payload_len); the pattern must be literal bytes
 *   file("name")            the bytes of a file under the data directory (cases/data/)
 *   $host $target $key $origin
 *                           runtime values the runner supplies (raw handshakes)
 *   $run $case              the run's id and the case's id (names unique to a run)
 *   $name                   a value the case captured earlier (parse opts list the names)
 *   A + B                   concatenation
 * SIZE is a decimal or 0x number with an optional KiB/MiB/GiB suffix.
 *
 * Nothing big is allocated at parse time: repeat() keeps its pattern and total length,
 * file() keeps the path and the size it had when parsed. The runner streams with
 * wsc_payload_read() or allocates once with wsc_payload_materialize(). A parsed payload is
 * immutable, and every function taking a const payload is safe to call from several
 * threads at once (file segments are read with open/pread/close per call).
 */
#ifndef WSC_PAYLOAD_H
#define WSC_PAYLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct wsc_payload; /* opaque */

/* Runtime values for $variables; a NULL field when the payload uses it is an error
 * (WSREF_E_INVALID_ARG). */
struct wsc_payload_env {
  const char *host;    /* Host header value: "example.com:8080" */
  const char *target;  /* request target: "/chat?x=1" */
  const char *key;     /* the Sec-WebSocket-Key the runner generated */
  const char *origin;  /* the --origin value */
  const char *run;     /* $run: the run's id (unique names on targets that keep state) */
  const char *case_id; /* $case: the case's id */
  /* Any other $name (values a case captured): returns the value or NULL. May be NULL. */
  const char *(*lookup)(void *ud, const char *name);
  void *lookup_ud;
};

struct wsc_payload_parse_opts {
  const char *data_dir; /* directory file() names are relative to; NULL: file() is an error */
  uint64_t max_len;     /* largest total length; 0 = 1 GiB */
  /* Names allowed as $name besides the built-in ones (the case parser passes the names
   * captured earlier in the case); their values come from env->lookup. */
  const char *const *names;
  size_t nnames;
};

/* Where and why parsing failed: offset is the byte offset in src of the offending input. */
struct wsc_payload_error {
  size_t offset;
  char msg[200];
};

/* Parse src[0..len) as one complete payload expression (leading/trailing blanks allowed).
 * Returns 0 and *out, or WSREF_E_INVALID_ARG with *err filled (WSREF_E_NOMEM on OOM).
 * file() names must be relative, without "..", and exist (their size is recorded). */
int wsc_payload_parse(const char *src, size_t len, const struct wsc_payload_parse_opts *opts,
                      struct wsc_payload **out, struct wsc_payload_error *err);

/* A payload holding a copy of data[0..n) (n may be 0). NULL on OOM. */
struct wsc_payload *wsc_payload_from_bytes(const void *data, size_t n);

/* Append src's segments to dst and free src (src is consumed even on failure).
 * Returns 0 or WSREF_E_NOMEM. */
int wsc_payload_append(struct wsc_payload *dst, struct wsc_payload *src);

void wsc_payload_free(struct wsc_payload *p);

/* True if the payload uses a $variable and so needs an env to be materialised. */
bool wsc_payload_has_vars(const struct wsc_payload *p);

/* The expression as written (after {var} substitution), for evidence and reports; "" for
 * payloads built from bytes. Owned by p. */
const char *wsc_payload_source(const struct wsc_payload *p);

/* Total length. env may be NULL when the payload has no $variables. */
int wsc_payload_length(const struct wsc_payload *p, const struct wsc_payload_env *env,
                       uint64_t *len);

/* Copy bytes [off, off + n) into dst. Returns 0, WSREF_E_INVALID_ARG if the range is
 * past the end (or a variable is missing), WSREF_E_IO if a data file cannot be read or
 * has shrunk since parsing. */
int wsc_payload_read(const struct wsc_payload *p, const struct wsc_payload_env *env, uint64_t off,
                     void *dst, size_t n);

/* Allocate (malloc) and fill the whole payload. *out is never NULL on success, even for
 * length 0; free it with free(). */
int wsc_payload_materialize(const struct wsc_payload *p, const struct wsc_payload_env *env,
                            uint8_t **out, size_t *len);

/* 1 if the payload equals data[0..n), 0 if not, negative wsref_err on failure. Does not
 * allocate the whole payload. */
int wsc_payload_equals(const struct wsc_payload *p, const struct wsc_payload_env *env,
                       const void *data, size_t n);

/* Parse a size: decimal or 0x hex, optional suffix KiB, MiB or GiB. Returns 0 or
 * WSREF_E_INVALID_ARG (also on overflow of uint64_t). Shared with the case parser. */
int wsc_parse_size(const char *s, size_t len, uint64_t *out);

#endif
