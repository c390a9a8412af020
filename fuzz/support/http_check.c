#include "http_check.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/error.h"
#include "support/common.h"

static void put_u64(wsref_buf *b, uint64_t v) {
  if (wsref_buf_append(b, &v, sizeof v) < 0) abort();
}

static void put_str(wsref_buf *b, wsref_str s, const char *base) {
  put_u64(b, s.n ? (uint64_t)(s.p - base) : 0);
  put_u64(b, s.n);
}

static void describe_headers(const wsref_http_header *h, size_t n, const char *base,
                             wsref_buf *out) {
  put_u64(out, n);
  for (size_t i = 0; i < n; i++) {
    put_str(out, h[i].name, base);
    put_str(out, h[i].value, base);
  }
}

void fuzz_describe_request(const wsref_http_request *r, const char *base, wsref_buf *out) {
  put_str(out, r->method, base);
  put_str(out, r->target, base);
  put_u64(out, (uint64_t)r->version_major);
  put_u64(out, (uint64_t)r->version_minor);
  describe_headers(r->headers, r->nheaders, base, out);
}

void fuzz_describe_response(const wsref_http_response *r, const char *base, wsref_buf *out) {
  put_u64(out, (uint64_t)r->version_major);
  put_u64(out, (uint64_t)r->version_minor);
  put_u64(out, (uint64_t)r->status);
  put_str(out, r->reason, base);
  describe_headers(r->headers, r->nheaders, base, out);
}

static int tchar(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void check_in(wsref_str s, const char *base, size_t len) {
  if (s.n == 0) return;
  FUZZ_CHECK(s.p >= base && s.p + s.n <= base + len);
}

void fuzz_check_headers(const wsref_http_header *h, size_t n, const char *base, size_t len) {
  FUZZ_CHECK(n <= WSREF_HTTP_HEADERS_CAP);
  for (size_t i = 0; i < n; i++) {
    FUZZ_CHECK(h[i].name.n > 0);
    check_in(h[i].name, base, len);
    check_in(h[i].value, base, len);
    for (size_t j = 0; j < h[i].name.n; j++) FUZZ_CHECK(tchar((unsigned char)h[i].name.p[j]));
    for (size_t j = 0; j < h[i].value.n; j++) {
      unsigned char c = (unsigned char)h[i].value.p[j];
      FUZZ_CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
    }
    if (h[i].value.n) {
      char a = h[i].value.p[0], z = h[i].value.p[h[i].value.n - 1];
      FUZZ_CHECK(a != ' ' && a != '\t' && z != ' ' && z != '\t');
    }
  }
}

void fuzz_check_request(const wsref_http_request *r, const char *base, size_t len) {
  FUZZ_CHECK(r->method.n > 0 && r->target.n > 0);
  check_in(r->method, base, len);
  check_in(r->target, base, len);
  for (size_t j = 0; j < r->method.n; j++) FUZZ_CHECK(tchar((unsigned char)r->method.p[j]));
  for (size_t j = 0; j < r->target.n; j++) {
    unsigned char c = (unsigned char)r->target.p[j];
    FUZZ_CHECK(c > 0x20 && c < 0x7f);
  }
  FUZZ_CHECK(r->version_major >= 0 && r->version_major <= 9);
  FUZZ_CHECK(r->version_minor >= 0 && r->version_minor <= 9);
  fuzz_check_headers(r->headers, r->nheaders, base, len);
}

void fuzz_check_response(const wsref_http_response *r, const char *base, size_t len) {
  FUZZ_CHECK(r->status >= 100 && r->status <= 599);
  FUZZ_CHECK(r->version_major >= 0 && r->version_major <= 9);
  FUZZ_CHECK(r->version_minor >= 0 && r->version_minor <= 9);
  check_in(r->reason, base, len);
  fuzz_check_headers(r->headers, r->nheaders, base, len);
}

void fuzz_check_tokens(const wsref_http_header *h, size_t n) {
  static const char *const names[] = {"Connection", "Upgrade", "Sec-WebSocket-Protocol",
                                      "Sec-WebSocket-Extensions", "Origin"};
  for (size_t k = 0; k < sizeof names / sizeof names[0]; k++) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) total += h[i].value.n + 1;
    size_t pos = 0, count = 0;
    wsref_str t;
    while (wsref_http_next_token(h, n, names[k], &pos, &t)) {
      FUZZ_CHECK(++count <= total);
      FUZZ_CHECK(t.n > 0);
      FUZZ_CHECK(t.p[0] != ' ' && t.p[0] != '\t' && t.p[0] != ',');
      FUZZ_CHECK(t.p[t.n - 1] != ' ' && t.p[t.n - 1] != '\t');
      bool inside = false;
      for (size_t i = 0; i < n && !inside; i++)
        inside = wsref_str_ieq(h[i].name, names[k]) && t.p >= h[i].value.p &&
                 t.p + t.n <= h[i].value.p + h[i].value.n;
      FUZZ_CHECK(inside);
      char *tok = malloc(t.n + 1);
      if (!tok) abort();
      memcpy(tok, t.p, t.n);
      tok[t.n] = '\0';
      if (strlen(tok) == t.n) FUZZ_CHECK(wsref_http_has_token(h, n, names[k], tok));
      free(tok);
    }
  }
}

int fuzz_http_result_ok(ssize_t r) {
  return r > 0 || r == WSREF_NEED_MORE || r == WSREF_E_HTTP_SYNTAX || r == WSREF_E_HTTP_TOO_LARGE ||
         r == WSREF_E_HTTP_TOO_MANY_HEADERS;
}
