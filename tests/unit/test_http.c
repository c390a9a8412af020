/* HTTP/1.1 head parsers and header helpers (handshake/http.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/error.h"
#include "handshake/http.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static const char k_rfc_request[] =
    "GET /chat HTTP/1.1\r\n"
    "Host: server.example.com\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Origin: http://example.com\r\n"
    "Sec-WebSocket-Protocol: chat, superchat\r\n"
    "Sec-WebSocket-Version: 13\r\n"
    "\r\n";

static const char k_rfc_response[] =
    "HTTP/1.1 101 Switching Protocols\r\n"
    "Upgrade: websocket\r\n"
    "Connection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    "Sec-WebSocket-Protocol: chat\r\n"
    "\r\n";

/* Parse from an exactly sized heap copy so ASan catches any read past len. */
static ssize_t req_parse(const char *in, size_t len, const wsref_http_limits *lim,
                         wsref_http_request *req, char **copy) {
  *copy = malloc(len ? len : 1);
  assert_non_null(*copy);
  memcpy(*copy, in, len);
  return wsref_http_parse_request(*copy, len, lim, req);
}

static ssize_t res_parse(const char *in, size_t len, const wsref_http_limits *lim,
                         wsref_http_response *res, char **copy) {
  *copy = malloc(len ? len : 1);
  assert_non_null(*copy);
  memcpy(*copy, in, len);
  return wsref_http_parse_response(*copy, len, lim, res);
}

static size_t put_str(char *d, size_t cap, size_t at, wsref_str s) {
  int n = snprintf(d + at, cap - at, "%.*s|", (int)s.n, s.p);
  return at + (size_t)n;
}

static void describe_headers(char *d, size_t cap, size_t *at, const wsref_http_header *h,
                             size_t n) {
  for (size_t i = 0; i < n; i++) {
    *at = put_str(d, cap, *at, h[i].name);
    *at = put_str(d, cap, *at, h[i].value);
  }
}

/* A canonical text of a parse result, to compare results of differently split inputs. */
static void describe_request(ssize_t rc, const wsref_http_request *r, char *d, size_t cap) {
  size_t at = (size_t)snprintf(d, cap, "rc=%zd ", rc);
  if (rc <= 0) return;
  at = put_str(d, cap, at, r->method);
  at = put_str(d, cap, at, r->target);
  at += (size_t)snprintf(d + at, cap - at, "%d.%d n=%zu ", r->version_major, r->version_minor,
                         r->nheaders);
  describe_headers(d, cap, &at, r->headers, r->nheaders);
}

static void describe_response(ssize_t rc, const wsref_http_response *r, char *d, size_t cap) {
  size_t at = (size_t)snprintf(d, cap, "rc=%zd ", rc);
  if (rc <= 0) return;
  at += (size_t)snprintf(d + at, cap - at, "%d.%d %d ", r->version_major, r->version_minor,
                         r->status);
  at = put_str(d, cap, at, r->reason);
  at += (size_t)snprintf(d + at, cap - at, "n=%zu ", r->nheaders);
  describe_headers(d, cap, &at, r->headers, r->nheaders);
}

static char g_want[65536], g_got[65536];

/* Every prefix length k (which covers every two-way split and byte-by-byte feeding, since the
 * caller accumulates) must report NEED_MORE until the result is decided and then exactly the
 * one-buffer result, parsed fields included. Returns the one-buffer result. */
static ssize_t check_split(const char *in, size_t len, const wsref_http_limits *lim,
                           bool response) {
  static wsref_http_request req;
  static wsref_http_response res;
  char *copy;
  ssize_t whole =
      response ? res_parse(in, len, lim, &res, &copy) : req_parse(in, len, lim, &req, &copy);
  if (response)
    describe_response(whole, &res, g_want, sizeof g_want);
  else
    describe_request(whole, &req, g_want, sizeof g_want);
  free(copy);
  assert_int_not_equal(whole, WSREF_NEED_MORE);
  bool decided = false;
  for (size_t k = 0; k <= len; k++) {
    ssize_t rc = response ? res_parse(in, k, lim, &res, &copy) : req_parse(in, k, lim, &req, &copy);
    if (rc == WSREF_NEED_MORE) {
      if (decided) fail_msg("NEED_MORE at %zu after the result was decided", k);
    } else {
      decided = true;
      if (response)
        describe_response(rc, &res, g_got, sizeof g_got);
      else
        describe_request(rc, &req, g_got, sizeof g_got);
      if (strcmp(g_got, g_want) != 0)
        fail_msg("prefix %zu of %zu: got\n  %s\nwant\n  %s", k, len, g_got, g_want);
    }
    free(copy);
  }
  return whole;
}

static void test_rfc_request(void **state) {
  (void)state;
  wsref_http_request req;
  char *copy;
  ssize_t rc = req_parse(S(k_rfc_request), NULL, &req, &copy);
  assert_int_equal(rc, sizeof k_rfc_request - 1);
  assert_true(wsref_str_eq(req.method, "GET"));
  assert_true(wsref_str_eq(req.target, "/chat"));
  assert_int_equal(req.version_major, 1);
  assert_int_equal(req.version_minor, 1);
  assert_int_equal(req.nheaders, 7);
  assert_true(wsref_str_eq(req.headers[0].name, "Host"));
  assert_true(wsref_str_eq(req.headers[0].value, "server.example.com"));
  assert_true(wsref_str_eq(req.headers[5].name, "Sec-WebSocket-Protocol"));
  assert_true(wsref_str_eq(req.headers[5].value, "chat, superchat"));
  assert_true(wsref_str_eq(req.headers[6].value, "13"));
  /* Pointers go into the caller's buffer. */
  assert_ptr_equal(req.method.p, copy);
  assert_ptr_equal(req.target.p, copy + 4);
  free(copy);
}

static void test_trailing_bytes_not_consumed(void **state) {
  (void)state;
  char in[sizeof k_rfc_request + 8];
  memcpy(in, k_rfc_request, sizeof k_rfc_request - 1);
  memcpy(in + sizeof k_rfc_request - 1, "\x81\x85\x37\xfa", 4);
  wsref_http_request req;
  char *copy;
  assert_int_equal(req_parse(in, sizeof k_rfc_request + 3, NULL, &req, &copy),
                   sizeof k_rfc_request - 1);
  free(copy);
}

static void test_bare_lf_and_mixed(void **state) {
  (void)state;
  wsref_http_request req;
  char *copy;
  static const char lf[] = "GET /a?b=c HTTP/1.1\nHost: h\nX: 1\n\n";
  assert_int_equal(req_parse(S(lf), NULL, &req, &copy), sizeof lf - 1);
  assert_true(wsref_str_eq(req.target, "/a?b=c"));
  assert_int_equal(req.nheaders, 2);
  assert_true(wsref_str_eq(req.headers[1].name, "X"));
  assert_true(wsref_str_eq(req.headers[1].value, "1"));
  free(copy);
  /* LF lines ended by a CRLF empty line, and CRLF lines ended by a bare LF. */
  static const char mixed1[] = "GET / HTTP/1.1\nHost: h\r\nX: 1\n\r\nrest";
  assert_int_equal(req_parse(S(mixed1), NULL, &req, &copy), sizeof mixed1 - 1 - 4);
  assert_true(wsref_str_eq(req.headers[0].value, "h"));
  assert_true(wsref_str_eq(req.headers[1].value, "1"));
  free(copy);
  static const char mixed2[] = "GET / HTTP/1.1\r\nHost: h\r\n\n";
  assert_int_equal(req_parse(S(mixed2), NULL, &req, &copy), sizeof mixed2 - 1);
  assert_int_equal(req.nheaders, 1);
  free(copy);
  /* No headers at all. */
  static const char none[] = "GET / HTTP/1.0\r\n\r\n";
  assert_int_equal(req_parse(S(none), NULL, &req, &copy), sizeof none - 1);
  assert_int_equal(req.nheaders, 0);
  assert_int_equal(req.version_minor, 0);
  free(copy);
}

static void test_leading_empty_lines(void **state) {
  (void)state;
  /* RFC 9112 2.2: a server SHOULD ignore empty lines before the request line; they are
   * part of what the caller consumes. */
  wsref_http_request req;
  char *copy;
  static const char in[] = "\r\n\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n";
  assert_int_equal(req_parse(S(in), NULL, &req, &copy), sizeof in - 1);
  assert_true(wsref_str_eq(req.method, "GET"));
  assert_true(wsref_str_eq(req.headers[0].value, "h"));
  free(copy);
  assert_int_equal(req_parse(S("\r\n\r\n"), NULL, &req, &copy), WSREF_NEED_MORE);
  free(copy);
  assert_int_equal(req_parse(S("\r"), NULL, &req, &copy), WSREF_NEED_MORE);
  free(copy);
  assert_int_equal(check_split(S(in), NULL, false), sizeof in - 1);
  /* A response has no such allowance. */
  wsref_http_response res;
  assert_int_equal(res_parse(S("\r\nHTTP/1.1 101 OK\r\n\r\n"), NULL, &res, &copy),
                   WSREF_E_HTTP_SYNTAX);
  free(copy);
}

static void test_value_trimming(void **state) {
  (void)state;
  wsref_http_request req;
  char *copy;
  static const char in[] =
      "GET / HTTP/1.1\r\nA:   x y  \t\r\nB:\r\nC: \t \r\nD:z\r\nE: caf\xc3\xa9\r\n"
      "F: \"q, \\\"r\"\r\n\r\n";
  assert_int_equal(req_parse(S(in), NULL, &req, &copy), sizeof in - 1);
  assert_int_equal(req.nheaders, 6);
  assert_true(wsref_str_eq(req.headers[0].value, "x y"));
  assert_int_equal(req.headers[1].value.n, 0);
  assert_int_equal(req.headers[2].value.n, 0);
  assert_true(wsref_str_eq(req.headers[3].value, "z"));
  assert_true(wsref_str_eq(req.headers[4].value, "caf\xc3\xa9")); /* obs-text is kept */
  assert_true(wsref_str_eq(req.headers[5].value, "\"q, \\\"r\""));
  free(copy);
}

static void test_split_invariance(void **state) {
  (void)state;
  wsref_http_limits small = {60, 3};
  static const char *const reqs[] = {
      k_rfc_request,
      "GET / HTTP/1.1\nHost: h\nX: 1\n\n",
      "\n\r\nGET / HTTP/1.1\r\nHost: h\r\n\n",
      "GET / HTTP/1.1\r\nHost: h\r\n\r\n\x81\x80garbage",
      "GET / HTTP/1.1\r\nHost : h\r\n\r\n",   /* syntax */
      "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n", /* obs-fold */
      "POST /x?y HTTP/1.0\r\nA: 1\r\nA: 2\r\n\r\n",
      "GET / HTTP/1.1\r\nA: \t1 \r\nB:\r\n\r\n",
      "GARBAGE\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof reqs / sizeof reqs[0]; i++)
    check_split(reqs[i], strlen(reqs[i]), NULL, false);
  /* Limits decide too: too large (also while incomplete), too many headers. */
  static const char big[] =
      "GET /0123456789012345678901234567890123456789 HTTP/1.1\r\nHost: h\r\n\r\n";
  assert_int_equal(check_split(S(big), &small, false), WSREF_E_HTTP_TOO_LARGE);
  static const char many[] = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n";
  assert_int_equal(check_split(S(many), &small, false), WSREF_E_HTTP_TOO_MANY_HEADERS);
  assert_int_equal(check_split(S(k_rfc_request), NULL, false), sizeof k_rfc_request - 1);

  static const char *const resps[] = {
      k_rfc_response,
      "HTTP/1.1 101 \nUpgrade: websocket\n\n",
      "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\n\r\nbody",
      "HTTP/1.1 101\r\n\r\n", /* syntax */
      "HTTP/1.1 101 OK\r\nX : y\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof resps / sizeof resps[0]; i++)
    check_split(resps[i], strlen(resps[i]), NULL, true);
  assert_int_equal(check_split(S(k_rfc_response), NULL, true), sizeof k_rfc_response - 1);
}

static void test_limits_head(void **state) {
  (void)state;
  wsref_http_request req;
  char *copy;
  static const char in[] = "GET / HTTP/1.1\r\nHost: h\r\n\r\n"; /* 27 bytes */
  size_t L = sizeof in - 1;
  wsref_http_limits lim = {L, 0};
  assert_int_equal(req_parse(in, L, &lim, &req, &copy), (ssize_t)L);
  free(copy);
  lim.max_head = L - 1;
  assert_int_equal(req_parse(in, L, &lim, &req, &copy), WSREF_E_HTTP_TOO_LARGE);
  free(copy);
  /* Incomplete: exactly max_head bytes without an end is still NEED_MORE; one more byte is
   * too large. */
  lim.max_head = 10;
  assert_int_equal(req_parse(in, 10, &lim, &req, &copy), WSREF_NEED_MORE);
  free(copy);
  assert_int_equal(req_parse(in, 11, &lim, &req, &copy), WSREF_E_HTTP_TOO_LARGE);
  free(copy);

  /* Defaults (NULL and zero fields): 8192 bytes. */
  static char buf[9000];
  static const char head[] = "GET / HTTP/1.1\r\nX: ";
  memcpy(buf, head, sizeof head - 1);
  size_t vlen = 8192 - (sizeof head - 1) - 4;
  memset(buf + sizeof head - 1, 'a', vlen);
  memcpy(buf + sizeof head - 1 + vlen, "\r\n\r\n", 4);
  wsref_http_limits zero = {0, 0};
  assert_int_equal(wsref_http_parse_request(buf, 8192, NULL, &req), 8192);
  assert_int_equal(wsref_http_parse_request(buf, 8192, &zero, &req), 8192);
  assert_int_equal(req.headers[0].value.n, vlen);
  memset(buf + sizeof head - 1, 'a', vlen + 1);
  memcpy(buf + sizeof head - 1 + vlen + 1, "\r\n\r\n", 4);
  assert_int_equal(wsref_http_parse_request(buf, 8193, NULL, &req), WSREF_E_HTTP_TOO_LARGE);
  /* Incomplete garbage is refused as soon as it passes the limit, not left waiting. */
  memset(buf, 'a', sizeof buf);
  assert_int_equal(wsref_http_parse_request(buf, 8192, NULL, &req), WSREF_NEED_MORE);
  assert_int_equal(wsref_http_parse_request(buf, 8193, NULL, &req), WSREF_E_HTTP_TOO_LARGE);
  wsref_http_response res;
  assert_int_equal(wsref_http_parse_response(buf, 8193, NULL, &res), WSREF_E_HTTP_TOO_LARGE);
  lim.max_head = 10;
  assert_int_equal(res_parse(S("HTTP/1.1 101 Switching Protocols\r\n\r\n"), &lim, &res, &copy),
                   WSREF_E_HTTP_TOO_LARGE);
  free(copy);
}

/* A request with n header lines "Hn: v". */
static size_t make_headers(char *buf, size_t cap, size_t n) {
  size_t at = (size_t)snprintf(buf, cap, "GET / HTTP/1.1\r\n");
  for (size_t i = 0; i < n; i++) at += (size_t)snprintf(buf + at, cap - at, "H%zu: v\r\n", i);
  at += (size_t)snprintf(buf + at, cap - at, "\r\n");
  return at;
}

static void test_limits_headers(void **state) {
  (void)state;
  static wsref_http_request req;
  static wsref_http_response res;
  static char buf[8192];
  wsref_http_limits lim = {0, 5};
  size_t len = make_headers(buf, sizeof buf, 5);
  assert_int_equal(wsref_http_parse_request(buf, len, &lim, &req), (ssize_t)len);
  assert_int_equal(req.nheaders, 5);
  len = make_headers(buf, sizeof buf, 6);
  assert_int_equal(wsref_http_parse_request(buf, len, &lim, &req), WSREF_E_HTTP_TOO_MANY_HEADERS);
  /* Default 64. */
  len = make_headers(buf, sizeof buf, 64);
  assert_int_equal(wsref_http_parse_request(buf, len, NULL, &req), (ssize_t)len);
  len = make_headers(buf, sizeof buf, 65);
  assert_int_equal(wsref_http_parse_request(buf, len, NULL, &req), WSREF_E_HTTP_TOO_MANY_HEADERS);
  /* More than the array holds is capped at WSREF_HTTP_HEADERS_CAP. */
  wsref_http_limits huge = {65536, 100000};
  static char big[65536];
  len = make_headers(big, sizeof big, WSREF_HTTP_HEADERS_CAP);
  assert_int_equal(wsref_http_parse_request(big, len, &huge, &req), (ssize_t)len);
  assert_int_equal(req.nheaders, WSREF_HTTP_HEADERS_CAP);
  len = make_headers(big, sizeof big, WSREF_HTTP_HEADERS_CAP + 1);
  assert_int_equal(wsref_http_parse_request(big, len, &huge, &req), WSREF_E_HTTP_TOO_MANY_HEADERS);
  /* A syntax error on an earlier line wins over the count. */
  static const char early[] = "GET / HTTP/1.1\r\nA : 1\r\nB: 2\r\nC: 3\r\n\r\n";
  lim.max_headers = 2;
  assert_int_equal(wsref_http_parse_request(S(early), &lim, &req), WSREF_E_HTTP_SYNTAX);
  static const char resp[] = "HTTP/1.1 101 OK\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  assert_int_equal(wsref_http_parse_response(S(resp), &lim, &res), WSREF_E_HTTP_TOO_MANY_HEADERS);
  lim.max_headers = 3;
  assert_int_equal(wsref_http_parse_response(S(resp), &lim, &res), (ssize_t)sizeof resp - 1);
}

static void test_malformed_request(void **state) {
  (void)state;
  static const char *const bad[] = {
      "GET  / HTTP/1.1\r\n\r\n", /* two spaces */
      "GET / HTTP/1.1 \r\n\r\n", /* trailing space */
      "GET /  HTTP/1.1\r\n\r\n",
      "GET\t/ HTTP/1.1\r\n\r\n",
      "GET /HTTP/1.1\r\n\r\n", /* no target separator */
      "GET / \r\n\r\n",
      "GET /\r\n\r\n", /* HTTP/0.9 style */
      "GET\r\n\r\n",
      " GET / HTTP/1.1\r\n\r\n",
      "G@T / HTTP/1.1\r\n\r\n", /* method not a token */
      "GET / http/1.1\r\n\r\n", /* HTTP-name is case-sensitive */
      "GET / HTTP/1.10\r\n\r\n",
      "GET / HTTP/11\r\n\r\n",
      "GET / HTTP/1.x\r\n\r\n",
      "GET / HTTP/1\r\n\r\n",
      "GET / HTTP/a.1\r\n\r\n",
      "GET /a\x01z HTTP/1.1\r\n\r\n", /* CTL in target */
      "GET /a\x7fz HTTP/1.1\r\n\r\n",
      "GET /caf\xc3\xa9 HTTP/1.1\r\n\r\n",
      "GET / HTTP/1.1\r\rHost: h\r\n\r\n",
      "GET / HTTP/1.1\r\nHost : h\r\n\r\n", /* space before colon (RFC 9112 5.1) */
      "GET / HTTP/1.1\r\nHost\t: h\r\n\r\n",
      "GET / HTTP/1.1\r\n Host: h\r\n\r\n",    /* whitespace before the first field */
      "GET / HTTP/1.1\r\nX: a\r\n\tb\r\n\r\n", /* obs-fold */
      "GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n",
      "GET / HTTP/1.1\r\nHost\r\n\r\n", /* no colon */
      "GET / HTTP/1.1\r\n: h\r\n\r\n",  /* empty name */
      "GET / HTTP/1.1\r\nX(y): h\r\n\r\n",
      "GET / HTTP/1.1\r\nH\xc3\xb6: h\r\n\r\n",
      "GET / HTTP/1.1\r\nX: a\x01z\r\n\r\n", /* CTL in value */
      "GET / HTTP/1.1\r\nX: a\x7fz\r\n\r\n",
      "GET / HTTP/1.1\r\nX: a\rz\r\n\r\n", /* bare CR */
      "GET / HTTP/1.1\r\nX: a\r\r\n\r\n",
      "\r\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    wsref_http_request req;
    char *copy;
    ssize_t rc = req_parse(bad[i], strlen(bad[i]), NULL, &req, &copy);
    free(copy);
    if (rc != WSREF_E_HTTP_SYNTAX) fail_msg("case %zu: rc %zd for \"%s\"", i, rc, bad[i]);
  }
  /* NUL in a value. */
  wsref_http_request req;
  char *copy;
  static const char nul[] = "GET / HTTP/1.1\r\nX: a\0b\r\n\r\n";
  assert_int_equal(req_parse(S(nul), NULL, &req, &copy), WSREF_E_HTTP_SYNTAX);
  free(copy);
  /* Tokens allowed in names and methods. */
  static const char ok[] = "M-1.x! /* HTTP/9.9\r\n!#$%&'*+-.^_`|~09azAZ: v\r\n\r\n";
  assert_int_equal(req_parse(S(ok), NULL, &req, &copy), sizeof ok - 1);
  assert_true(wsref_str_eq(req.method, "M-1.x!"));
  assert_true(wsref_str_eq(req.target, "/*"));
  assert_int_equal(req.version_major, 9);
  assert_true(wsref_str_eq(req.headers[0].name, "!#$%&'*+-.^_`|~09azAZ"));
  free(copy);
}

static void test_response(void **state) {
  (void)state;
  wsref_http_response res;
  char *copy;
  assert_int_equal(res_parse(S(k_rfc_response), NULL, &res, &copy), sizeof k_rfc_response - 1);
  assert_int_equal(res.status, 101);
  assert_int_equal(res.version_major, 1);
  assert_int_equal(res.version_minor, 1);
  assert_true(wsref_str_eq(res.reason, "Switching Protocols"));
  assert_int_equal(res.nheaders, 4);
  assert_true(wsref_str_eq(res.headers[2].name, "Sec-WebSocket-Accept"));
  assert_true(wsref_str_eq(res.headers[2].value, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
  free(copy);
  static const char empty_reason[] = "HTTP/1.0 599 \n\n";
  assert_int_equal(res_parse(S(empty_reason), NULL, &res, &copy), sizeof empty_reason - 1);
  assert_int_equal(res.status, 599);
  assert_int_equal(res.reason.n, 0);
  assert_int_equal(res.version_minor, 0);
  free(copy);

  static const char *const bad[] = {
      "HTTP/1.1 101\r\n\r\n", /* SP after the code is required */
      "HTTP/1.1  101 OK\r\n\r\n",
      "HTTP/1.1 1011 OK\r\n\r\n",
      "HTTP/1.1 10a OK\r\n\r\n",
      "HTTP/1.1 099 OK\r\n\r\n", /* RFC 9110 15: 100..599 */
      "HTTP/1.1 600 OK\r\n\r\n",
      "http/1.1 101 OK\r\n\r\n",
      "HTTP/1.1\t101 OK\r\n\r\n",
      "HTTP/1.1 101 O\x01K\r\n\r\n",
      "HTTP/11 101 OK\r\n\r\n",
      "ICY 200 OK\r\n\r\n",
      "HTTP/1.1 101 OK\r\nX : y\r\n\r\n",
      "HTTP/1.1 101 OK\r\nX: y\r\n z\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    ssize_t rc = res_parse(bad[i], strlen(bad[i]), NULL, &res, &copy);
    free(copy);
    if (rc != WSREF_E_HTTP_SYNTAX) fail_msg("case %zu: rc %zd for \"%s\"", i, rc, bad[i]);
  }
}

static wsref_http_header hdr(const char *name, const char *value) {
  return (wsref_http_header){{name, strlen(name)}, {value, strlen(value)}};
}

static void test_find_count(void **state) {
  (void)state;
  wsref_http_header h[] = {hdr("Host", "a"), hdr("connection", "keep-alive"),
                           hdr("CONNECTION", "Upgrade"), hdr("Hosts", "b")};
  const wsref_http_header *f = wsref_http_find(h, 4, "Connection");
  assert_ptr_equal(f, &h[1]);
  assert_ptr_equal(wsref_http_find(h, 4, "hosts"), &h[3]);
  assert_null(wsref_http_find(h, 4, "Hos"));
  assert_null(wsref_http_find(h, 0, "Host"));
  assert_int_equal(wsref_http_count(h, 4, "connection"), 2);
  assert_int_equal(wsref_http_count(h, 4, "host"), 1);
  assert_int_equal(wsref_http_count(h, 4, "Upgrade"), 0);
}

static void test_tokens(void **state) {
  (void)state;
  wsref_http_header h[] = {
      hdr("Sec-WebSocket-Protocol", " , b ,,a\t"),
      hdr("Other", "x"),
      hdr("sec-websocket-protocol", ""),
      hdr("Sec-WebSocket-Protocol", "c,d"),
      hdr("X-Q", "a; p=\"1,2\", b; q=\"x\\\",y\", \"unterminated, z"),
  };
  size_t pos = 0;
  wsref_str t;
  const char *want[] = {"b", "a", "c", "d"};
  for (size_t i = 0; i < 4; i++) {
    assert_true(wsref_http_next_token(h, 5, "Sec-WebSocket-Protocol", &pos, &t));
    if (!wsref_str_eq(t, want[i])) fail_msg("element %zu: '%.*s'", i, (int)t.n, t.p);
  }
  assert_false(wsref_http_next_token(h, 5, "Sec-WebSocket-Protocol", &pos, &t));
  assert_false(wsref_http_next_token(h, 5, "Sec-WebSocket-Protocol", &pos, &t));
  pos = 0;
  assert_false(wsref_http_next_token(h, 5, "Missing", &pos, &t));
  /* Quoted commas do not split. */
  pos = 0;
  const char *q[] = {"a; p=\"1,2\"", "b; q=\"x\\\",y\"", "\"unterminated, z"};
  for (size_t i = 0; i < 3; i++) {
    assert_true(wsref_http_next_token(h, 5, "x-q", &pos, &t));
    if (!wsref_str_eq(t, q[i])) fail_msg("quoted %zu: '%.*s'", i, (int)t.n, t.p);
  }
  assert_false(wsref_http_next_token(h, 5, "x-q", &pos, &t));

  wsref_http_header c[] = {hdr("Connection", "keep-alive, UPGRADE"), hdr("Upgrade", "h2c"),
                           hdr("upgrade", "WebSocket"), hdr("X", "websockets, web socket")};
  assert_true(wsref_http_has_token(c, 4, "connection", "upgrade"));
  assert_true(wsref_http_has_token(c, 4, "Connection", "Keep-Alive"));
  assert_true(wsref_http_has_token(c, 4, "Upgrade", "websocket")); /* second line */
  assert_false(wsref_http_has_token(c, 1, "Upgrade", "websocket"));
  assert_false(wsref_http_has_token(c, 4, "X", "websocket"));
  assert_false(wsref_http_has_token(c, 4, "X", "web"));
  assert_false(wsref_http_has_token(c, 4, "Connection", "upgrad"));
}

static void test_str_and_reason(void **state) {
  (void)state;
  wsref_str s = {"Upgrade!", 7};
  assert_true(wsref_str_eq(s, "Upgrade"));
  assert_false(wsref_str_eq(s, "upgrade"));
  assert_false(wsref_str_eq(s, "Upgrade!"));
  assert_true(wsref_str_ieq(s, "uPGRADE"));
  assert_false(wsref_str_ieq(s, "upgrad"));
  wsref_str empty = {"", 0};
  assert_true(wsref_str_eq(empty, ""));
  assert_true(wsref_str_ieq(empty, ""));
  /* '@' and '`' differ from letters only by the case bit. */
  wsref_str at = {"@", 1};
  assert_false(wsref_str_ieq(at, "`"));
  assert_string_equal(wsref_http_reason(101), "Switching Protocols");
  assert_string_equal(wsref_http_reason(400), "Bad Request");
  assert_string_equal(wsref_http_reason(403), "Forbidden");
  assert_string_equal(wsref_http_reason(404), "Not Found");
  assert_string_equal(wsref_http_reason(405), "Method Not Allowed");
  assert_string_equal(wsref_http_reason(426), "Upgrade Required");
  assert_string_equal(wsref_http_reason(431), "Request Header Fields Too Large");
  assert_string_equal(wsref_http_reason(500), "Internal Server Error");
  assert_string_equal(wsref_http_reason(505), "HTTP Version Not Supported");
  assert_string_equal(wsref_http_reason(402), "Payment Required");
  assert_string_equal(wsref_http_reason(299), "Unknown");
  assert_string_equal(wsref_http_reason(0), "Unknown");
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_rfc_request),       cmocka_unit_test(test_trailing_bytes_not_consumed),
      cmocka_unit_test(test_bare_lf_and_mixed), cmocka_unit_test(test_leading_empty_lines),
      cmocka_unit_test(test_value_trimming),    cmocka_unit_test(test_split_invariance),
      cmocka_unit_test(test_limits_head),       cmocka_unit_test(test_limits_headers),
      cmocka_unit_test(test_malformed_request), cmocka_unit_test(test_response),
      cmocka_unit_test(test_find_count),        cmocka_unit_test(test_tokens),
      cmocka_unit_test(test_str_and_reason),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
