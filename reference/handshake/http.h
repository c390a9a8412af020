/* HTTP/1.1 message heads (RFC 9110/9112) for the WebSocket opening handshake: request and
 * response head parsers and header helpers.
 *
 * Parser contract (picohttpparser style): the caller accumulates input in one buffer and
 * calls the parser with all of it; the parser returns the length of the complete head
 * (through the empty line), WSREF_NEED_MORE if the head is not complete yet, or a negative
 * error. Any split of the input gives the same result once the head is complete.
 * Parsed strings point into the caller's buffer (not NUL-terminated: use the lengths).
 * Line ends may be CRLF or bare LF (RFC 9112 section 2.2 allows a recipient to accept LF).
 */
#ifndef WSREF_HANDSHAKE_HTTP_H
#define WSREF_HANDSHAKE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct wsref_str { const char *p; size_t n; } wsref_str;

typedef struct wsref_http_header { wsref_str name, value; } wsref_http_header;

#define WSREF_HTTP_MAX_HEADERS_DEFAULT 64
#define WSREF_HTTP_MAX_HEAD_DEFAULT 8192

typedef struct wsref_http_limits {
  size_t max_head;     /* bytes in the request/status line + headers; default 8192 */
  size_t max_headers;  /* header lines; default 64, at most WSREF_HTTP_HEADERS_CAP */
} wsref_http_limits;

#define WSREF_HTTP_HEADERS_CAP 256

typedef struct wsref_http_request {
  wsref_str method, target;
  int version_major, version_minor;
  wsref_http_header headers[WSREF_HTTP_HEADERS_CAP];
  size_t nheaders;
} wsref_http_request;

typedef struct wsref_http_response {
  int version_major, version_minor;
  int status;
  wsref_str reason;
  wsref_http_header headers[WSREF_HTTP_HEADERS_CAP];
  size_t nheaders;
} wsref_http_response;

/* Returns head length (> 0), WSREF_NEED_MORE, or WSREF_E_HTTP_SYNTAX,
 * WSREF_E_HTTP_TOO_LARGE, WSREF_E_HTTP_TOO_MANY_HEADERS. limits may be NULL (defaults). */
ssize_t wsref_http_parse_request(const char *buf, size_t len, const wsref_http_limits *limits,
                                 wsref_http_request *req);
ssize_t wsref_http_parse_response(const char *buf, size_t len, const wsref_http_limits *limits,
                                  wsref_http_response *res);

/* First header with this name (case-insensitive), or NULL. */
const wsref_http_header *wsref_http_find(const wsref_http_header *h, size_t n, const char *name);
/* Number of header lines with this name. */
size_t wsref_http_count(const wsref_http_header *h, size_t n, const char *name);
/* True if any header line `name` holds `token` in its comma-separated list
 * (case-insensitive, optional whitespace around elements). */
bool wsref_http_has_token(const wsref_http_header *h, size_t n, const char *name,
                          const char *token);

/* Iterate the comma-separated elements of all header lines named `name`, in order.
 * *pos starts at 0; returns false at the end. Elements are trimmed; empty ones skipped. */
bool wsref_http_next_token(const wsref_http_header *h, size_t n, const char *name,
                           size_t *pos, wsref_str *out);

bool wsref_str_eq(wsref_str s, const char *lit);      /* exact */
bool wsref_str_ieq(wsref_str s, const char *lit);     /* ASCII case-insensitive */

/* Standard reason phrase ("Switching Protocols"), or "Unknown". */
const char *wsref_http_reason(int status);

#endif
