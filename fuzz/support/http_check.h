/* Checks shared by the HTTP and session targets: well-formedness of parsed heads, a
 * position-independent description of them (for split invariance), and token iteration. */
#ifndef WSREF_FUZZ_HTTP_CHECK_H
#define WSREF_FUZZ_HTTP_CHECK_H

#include <stddef.h>

#include "base/buf.h"
#include "handshake/http.h"

/* Everything the parser reported, with pointers turned into offsets from base. */
void fuzz_describe_request(const wsref_http_request *r, const char *base, wsref_buf *out);
void fuzz_describe_response(const wsref_http_response *r, const char *base, wsref_buf *out);

/* The grammar the parsers promise (tokens, field values, trimming, bounds in base[0..len)). */
void fuzz_check_headers(const wsref_http_header *h, size_t n, const char *base, size_t len);
void fuzz_check_request(const wsref_http_request *r, const char *base, size_t len);
void fuzz_check_response(const wsref_http_response *r, const char *base, size_t len);

/* wsref_http_next_token() over every header name of interest: it terminates, yields
 * trimmed non-empty elements inside the header values, and wsref_http_has_token() finds
 * each element it yielded. */
void fuzz_check_tokens(const wsref_http_header *h, size_t n);

/* The result of parsing a complete head may only be one of the documented codes. */
int fuzz_http_result_ok(ssize_t r);

#endif
