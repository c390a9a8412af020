/* The opening handshake, server and client side (handshake/handshake.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "base/error.h"
#include "handshake/handshake.h"

static int g_h1, g_h2;
#define H1 ((const struct wsref_handler *)(const void *)&g_h1)
#define H2 ((const struct wsref_handler *)(const void *)&g_h2)

/* ---- helpers ---- */

static void escape(const uint8_t *p, size_t n, char *d, size_t cap) {
  size_t at = 0;
  for (size_t i = 0; i < n && at + 5 < cap; i++) {
    if (p[i] == '\r')
      at += (size_t)snprintf(d + at, cap - at, "\\r");
    else if (p[i] == '\n')
      at += (size_t)snprintf(d + at, cap - at, "\\n\n");
    else if (p[i] < 0x20 || p[i] >= 0x7f)
      at += (size_t)snprintf(d + at, cap - at, "\\x%02x", p[i]);
    else
      d[at++] = (char)p[i];
  }
  d[at] = '\0';
}

#define assert_buf(b, lit) assert_buf_eq((b), (lit), __FILE__, __LINE__)
static void assert_buf_eq(const wsref_buf *b, const char *want, const char *file, int line) {
  size_t n = strlen(want);
  if (wsref_buf_len(b) == n && memcmp(wsref_buf_head(b), want, n) == 0) return;
  static char got_s[8192], want_s[8192];
  escape(wsref_buf_head(b), wsref_buf_len(b), got_s, sizeof got_s);
  escape((const uint8_t *)want, n, want_s, sizeof want_s);
  fail_msg("%s:%d: bytes differ\n--- got\n%s\n--- want\n%s", file, line, got_s, want_s);
}

/* Parsed request; the text must outlive the request (headers point into it). */
static wsref_http_request g_req;

static const wsref_http_request *parse_req(const char *text) {
  ssize_t rc = wsref_http_parse_request(text, strlen(text), NULL, &g_req);
  if (rc != (ssize_t)strlen(text)) fail_msg("request did not parse (%zd):\n%s", rc, text);
  return &g_req;
}

static wsref_http_response g_res;

static const wsref_http_response *parse_res(const char *text) {
  ssize_t rc = wsref_http_parse_response(text, strlen(text), NULL, &g_res);
  if (rc != (ssize_t)strlen(text)) fail_msg("response did not parse (%zd):\n%s", rc, text);
  return &g_res;
}

/* A well-formed upgrade request for `target` with `extra` header lines appended. */
static char g_text[4096];
static const char *upgrade_req(const char *target, const char *extra) {
  snprintf(g_text, sizeof g_text,
           "GET %s HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
           "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
           "Sec-WebSocket-Version: 13\r\n%s\r\n",
           target, extra ? extra : "");
  return g_text;
}

#define OK_101_NO_PROTO                                        \
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n" \
  "Connection: Upgrade\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"

typedef struct fixture {
  wsref_registry *reg;
  wsref_registration *chat, *ab, *origin, *ic, *ext;
  wsref_handshake_result res;
  wsref_buf out;
} fixture;

static int setup(void **state) {
  fixture *f = calloc(1, sizeof *f);
  f->reg = wsref_registry_new();
  f->chat = wsref_registry_add(f->reg, "/chat", H1);
  const char *const chat[] = {"superchat", "chat"};
  wsref_registration_subprotocols(f->chat, chat, 2);
  f->ab = wsref_registry_add(f->reg, "/ab", H2);
  const char *const ab[] = {"a", "b"};
  wsref_registration_subprotocols(f->ab, ab, 2);
  f->origin = wsref_registry_add(f->reg, "/origin", H1);
  const char *const origins[] = {"http://good.example", "https://good.example:8443"};
  wsref_registration_allow_origins(f->origin, origins, 2);
  f->ic = wsref_registry_add(f->reg, "/ic", H1);
  f->ext = wsref_registry_add(f->reg, "/ext", H1);
  *state = f;
  return 0;
}

static int teardown(void **state) {
  fixture *f = *state;
  wsref_registry_free(f->reg);
  wsref_attrs_free(&f->res.attrs);
  wsref_buf_free(&f->out);
  free(f);
  return 0;
}

/* Runs the server side on a fresh output buffer and result. */
static int serve(fixture *f, const char *text) {
  wsref_attrs_free(&f->res.attrs);
  wsref_buf_reset(&f->out);
  return wsref_handshake_server(f->reg, parse_req(text), "192.0.2.7:5555", &f->res, &f->out);
}

/* Expect an error outcome whose body line is `body`; the status line and headers are checked
 * byte for byte by the tests that spell them out. */
#define expect_error(f, rc, st, e, body) expect_error_at((f), (rc), (st), (e), (body), __LINE__)
static void expect_error_at(fixture *f, int rc, int status, int err, const char *body, int line) {
  if (rc != err || f->res.status != status || f->res.err != err)
    fail_msg("line %d: rc %d status %d err %d, want %d/%d", line, rc, f->res.status, f->res.err,
             status, err);
  char want[1024];
  const char *extra = status == 405   ? "Allow: GET\r\n"
                      : status == 426 ? "Sec-WebSocket-Version: 13\r\n"
                                      : "";
  const char *conn = status == 426 ? "Upgrade: websocket\r\nConnection: Upgrade, close"
                                   : "Connection: close";
  snprintf(want, sizeof want,
           "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
           "%s\r\n%s\r\n%s\n",
           status, wsref_http_reason(status), strlen(body) + 1, conn, extra, body);
  assert_buf_eq(&f->out, want, __FILE__, line);
  assert_string_equal(f->res.subprotocol, "");
  assert_string_equal(f->res.extensions, "");
}

static void expect_101(fixture *f, int rc, const char *proto) {
  assert_int_equal(rc, 0);
  assert_int_equal(f->res.status, 101);
  assert_int_equal(f->res.err, 0);
  assert_string_equal(f->res.subprotocol, proto ? proto : "");
  char want[512];
  snprintf(want, sizeof want,
           "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n%s%s%s\r\n",
           proto ? "Sec-WebSocket-Protocol: " : "", proto ? proto : "", proto ? "\r\n" : "");
  assert_buf(&f->out, want);
}

/* ---- server: the RFC sample and every status ---- */

static void test_rfc_sample(void **state) {
  fixture *f = *state;
  int rc = serve(f,
                 "GET /chat HTTP/1.1\r\n"
                 "Host: server.example.com\r\n"
                 "Upgrade: websocket\r\n"
                 "Connection: Upgrade\r\n"
                 "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                 "Origin: http://example.com\r\n"
                 "Sec-WebSocket-Protocol: chat, superchat\r\n"
                 "Sec-WebSocket-Version: 13\r\n"
                 "\r\n");
  assert_int_equal(rc, 0);
  assert_buf(&f->out,
             "HTTP/1.1 101 Switching Protocols\r\n"
             "Upgrade: websocket\r\n"
             "Connection: Upgrade\r\n"
             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
             "Sec-WebSocket-Protocol: chat\r\n"
             "\r\n");
  assert_int_equal(f->res.status, 101);
  assert_int_equal(f->res.err, 0);
  assert_ptr_equal(f->res.registration, f->chat);
  assert_ptr_equal(f->res.handler, H1);
  /* Client order wins over the server's list ["superchat", "chat"]. */
  assert_string_equal(f->res.subprotocol, "chat");
  assert_string_equal(f->res.extensions, "");
  assert_int_equal(f->res.rsv_mask, 0);
  assert_null(f->res.extension_state);
  assert_int_equal(f->res.attrs.n, 0);
}

static void test_output_is_appended(void **state) {
  fixture *f = *state;
  wsref_buf_reset(&f->out);
  wsref_buf_append(&f->out, "prev", 4);
  wsref_attrs_free(&f->res.attrs);
  int rc =
      wsref_handshake_server(f->reg, parse_req(upgrade_req("/ab", NULL)), NULL, &f->res, &f->out);
  assert_int_equal(rc, 0);
  assert_buf(&f->out, "prev" OK_101_NO_PROTO);
}

static void test_405(void **state) {
  fixture *f = *state;
  int rc =
      serve(f,
            "POST /chat HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  assert_int_equal(rc, WSREF_E_HTTP_METHOD);
  assert_buf(&f->out,
             "HTTP/1.1 405 Method Not Allowed\r\n"
             "Content-Type: text/plain\r\n"
             "Content-Length: 33\r\n"
             "Connection: close\r\n"
             "Allow: GET\r\n"
             "\r\n"
             "WebSocket handshake requires GET\n");
  assert_int_equal(f->res.status, 405);
  assert_int_equal(f->res.err, WSREF_E_HTTP_METHOD);
  assert_null(f->res.registration);
  /* Methods are case-sensitive. */
  rc = serve(f, "get /chat HTTP/1.1\r\nHost: h\r\n\r\n");
  expect_error(f, rc, 405, WSREF_E_HTTP_METHOD, "WebSocket handshake requires GET");
  rc = serve(f, "HEAD /nowhere HTTP/1.0\r\n\r\n");
  expect_error(f, rc, 405, WSREF_E_HTTP_METHOD, "WebSocket handshake requires GET");
}

static void test_version(void **state) {
  fixture *f = *state;
  int rc =
      serve(f,
            "GET /chat HTTP/1.0\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  assert_int_equal(rc, WSREF_E_HTTP_VERSION);
  assert_buf(&f->out,
             "HTTP/1.1 400 Bad Request\r\n"
             "Content-Type: text/plain\r\n"
             "Content-Length: 18\r\n"
             "Connection: close\r\n"
             "\r\n"
             "HTTP/1.1 required\n");
  assert_int_equal(f->res.status, 400);
  rc = serve(f, "GET /chat HTTP/0.9\r\n\r\n");
  expect_error(f, rc, 400, WSREF_E_HTTP_VERSION, "HTTP/1.1 required");
  rc = serve(f, "GET /chat HTTP/2.0\r\nHost: h\r\n\r\n");
  expect_error(f, rc, 505, WSREF_E_HTTP_VERSION, "HTTP/1.1 required");
  /* A later 1.x minor is fine. */
  rc = serve(f,
             "GET /ab HTTP/1.2\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  expect_101(f, rc, NULL);
}

static void test_host(void **state) {
  fixture *f = *state;
  const char *body = "missing or invalid Host header";
  int rc =
      serve(f,
            "GET /chat HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  expect_error(f, rc, 400, WSREF_E_HS_HOST, body);
  rc = serve(f, "GET /chat HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n"); /* RFC 9112 3.2 */
  expect_error(f, rc, 400, WSREF_E_HS_HOST, body);
  rc = serve(f, "GET /chat HTTP/1.1\r\nHost:\r\n\r\n");
  expect_error(f, rc, 400, WSREF_E_HS_HOST, body);
  rc = serve(f, "GET /chat HTTP/1.1\r\nHost: a, b\r\n\r\n");
  expect_error(f, rc, 400, WSREF_E_HS_HOST, body);
  rc = serve(f, "GET /chat HTTP/1.1\r\nHost: a b\r\n\r\n");
  expect_error(f, rc, 400, WSREF_E_HS_HOST, body);
  /* Host comes before the path lookup. */
  rc = serve(f, "GET /nowhere HTTP/1.1\r\n\r\n");
  expect_error(f, rc, 400, WSREF_E_HS_HOST, body);
  assert_null(f->res.registration);
  rc = serve(f,
             "GET /ab HTTP/1.1\r\nHOST: [::1]:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  expect_101(f, rc, NULL);
}

static void test_404(void **state) {
  fixture *f = *state;
  const char *body = "no WebSocket endpoint at this path";
  int rc = serve(f, upgrade_req("/nowhere", NULL));
  assert_int_equal(rc, WSREF_E_HS_PATH);
  assert_buf(&f->out,
             "HTTP/1.1 404 Not Found\r\n"
             "Content-Type: text/plain\r\n"
             "Content-Length: 35\r\n"
             "Connection: close\r\n"
             "\r\n"
             "no WebSocket endpoint at this path\n");
  assert_int_equal(f->res.status, 404);
  assert_null(f->res.registration);
  assert_null(f->res.handler);
  const char *misses[] = {"/chat/", "/Chat",   "/cha",     "/chat/x", "/",
                          "*",      "/%63hat", "http://h", "//chat",  "ftp://h/chat"};
  for (size_t i = 0; i < sizeof misses / sizeof misses[0]; i++) {
    rc = serve(f, upgrade_req(misses[i], NULL));
    expect_error(f, rc, 404, WSREF_E_HS_PATH, body);
  }
  /* The query is not part of the path; absolute-form targets are accepted. */
  const char *hits[] = {
      "/ab?x=1",   "/ab?",      "http://server.example.com/ab", "HTTPS://h:443/ab?q",
      "ws://h/ab", "wss://h/ab"};
  for (size_t i = 0; i < sizeof hits / sizeof hits[0]; i++) {
    rc = serve(f, upgrade_req(hits[i], NULL));
    expect_101(f, rc, NULL);
    assert_ptr_equal(f->res.registration, f->ab);
    assert_ptr_equal(f->res.handler, H2);
  }
}

static void test_upgrade_header(void **state) {
  fixture *f = *state;
  const char *body = "Upgrade header must contain websocket";
  int rc =
      serve(f,
            "GET /ab HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n");
  assert_int_equal(rc, WSREF_E_HS_UPGRADE);
  assert_buf(&f->out,
             "HTTP/1.1 400 Bad Request\r\n"
             "Content-Type: text/plain\r\n"
             "Content-Length: 38\r\n"
             "Connection: close\r\n"
             "\r\n"
             "Upgrade header must contain websocket\n");
  assert_int_equal(f->res.status, 400);
  assert_int_equal(f->res.err, WSREF_E_HS_UPGRADE);
  assert_ptr_equal(f->res.registration, f->ab); /* the path was matched */
  const char *bad[] = {"Upgrade: websockets",   "Upgrade: h2c",
                       "Upgrade: web socket",   "Upgrade:",
                       "Upgrade: websocket/13", "X-Upgrade: websocket"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[512];
    snprintf(text, sizeof text,
             "GET /ab HTTP/1.1\r\nHost: h\r\n%s\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             bad[i]);
    rc = serve(f, text);
    expect_error(f, rc, 400, WSREF_E_HS_UPGRADE, body);
  }
  const char *good[] = {"Upgrade: WebSocket", "Upgrade: h2c, websocket",
                        "Upgrade: h2c\r\nUpgrade: WEBSOCKET", "Upgrade: ,websocket ,"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char text[512];
    snprintf(text, sizeof text,
             "GET /ab HTTP/1.1\r\nHost: h\r\n%s\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             good[i]);
    rc = serve(f, text);
    expect_101(f, rc, NULL);
  }
}

static void test_connection_header(void **state) {
  fixture *f = *state;
  const char *body = "Connection header must contain upgrade";
  const char *bad[] = {"", "Connection: keep-alive\r\n", "Connection: upgrades\r\n",
                       "Connection: close\r\nConnection: keep-alive\r\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char text[512];
    snprintf(text, sizeof text,
             "GET /ab HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n%s"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             bad[i]);
    int rc = serve(f, text);
    expect_error(f, rc, 400, WSREF_E_HS_CONNECTION, body);
  }
  const char *good[] = {"Connection: keep-alive, Upgrade\r\n", "Connection: UPGRADE\r\n",
                        "Connection: keep-alive\r\nConnection: upgrade\r\n"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    char text[512];
    snprintf(text, sizeof text,
             "GET /ab HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n%s"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
             good[i]);
    int rc = serve(f, text);
    expect_101(f, rc, NULL);
  }
}

static const char *with_version_and_key(const char *lines) {
  snprintf(g_text, sizeof g_text,
           "GET /ab HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n%s\r\n",
           lines);
  return g_text;
}

/* A body would be read as frames after the 101; malformed negotiation headers are refused
 * even by endpoints that negotiate nothing. */
static void hs_line(char *line, size_t n, const char *name, const char *value) {
  snprintf(line, n, "%s: %s\r\n", name, value);
}

static void test_body_and_negotiation_syntax(void **state) {
  fixture *f = *state;
  const char *nobody = "a WebSocket upgrade request has no body";
  const char *bodies[] = {"Content-Length: 5\r\n", "Transfer-Encoding: chunked\r\n",
                          "Content-Length: 0\r\nContent-Length: 0\r\n", "Content-Length: 00\r\n"};
  for (size_t i = 0; i < sizeof bodies / sizeof bodies[0]; i++)
    expect_error(f, serve(f, upgrade_req("/ab", bodies[i])), 400, WSREF_E_HS_BODY, nobody);
  expect_101(f, serve(f, upgrade_req("/ab", "Content-Length: 0\r\n")), NULL);

  char line[200];
  const char *bad_protos[] = {"chat;v=1", "a b", "a, b c", "\"a\"", "a/b"};
  for (size_t i = 0; i < sizeof bad_protos / sizeof bad_protos[0]; i++) {
    hs_line(line, sizeof line, "Sec-WebSocket-Protocol", bad_protos[i]);
    expect_error(f, serve(f, upgrade_req("/ic", line)), 400, WSREF_E_HS_PROTOCOL_SYNTAX,
                 "Sec-WebSocket-Protocol must be a list of tokens");
  }
  const char *good_protos[] = {"a", "a,b", " a , , b ", "v12.stomp, v11.stomp"};
  for (size_t i = 0; i < sizeof good_protos / sizeof good_protos[0]; i++) {
    hs_line(line, sizeof line, "Sec-WebSocket-Protocol", good_protos[i]);
    expect_101(f, serve(f, upgrade_req("/ic", line)), NULL);
  }
  const char *bad_exts[] = {"x-a; =1", "x-a;",        "x-a; p=\"open", "x-a p",
                            ";p",      "x-a; p=a b", "x-a; p==1",     "x-a; p=\"x\\"};
  for (size_t i = 0; i < sizeof bad_exts / sizeof bad_exts[0]; i++) {
    hs_line(line, sizeof line, "Sec-WebSocket-Extensions", bad_exts[i]);
    expect_error(f, serve(f, upgrade_req("/ic", line)), 400, WSREF_E_HS_EXTENSION_SYNTAX,
                 "Sec-WebSocket-Extensions is malformed");
  }
  const char *good_exts[] = {"x-a",
                             "x-a; p",
                             "x-a;p=1",
                             "x-a; p=\"a, b;\\\"c\"",
                             "x-a , x-b; q = 2",
                             "permessage-deflate; client_max_window_bits, permessage-deflate"};
  for (size_t i = 0; i < sizeof good_exts / sizeof good_exts[0]; i++) {
    hs_line(line, sizeof line, "Sec-WebSocket-Extensions", good_exts[i]);
    expect_101(f, serve(f, upgrade_req("/ic", line)), NULL);
  }
}

static void test_426(void **state) {
  fixture *f = *state;
  int rc = serve(f, with_version_and_key("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                                         "Sec-WebSocket-Version: 8\r\n"));
  assert_int_equal(rc, WSREF_E_HS_VERSION);
  assert_buf(&f->out,
             "HTTP/1.1 426 Upgrade Required\r\n"
             "Content-Type: text/plain\r\n"
             "Content-Length: 33\r\n"
             "Upgrade: websocket\r\n"
             "Connection: Upgrade, close\r\n"
             "Sec-WebSocket-Version: 13\r\n"
             "\r\n"
             "Sec-WebSocket-Version must be 13\n");
  assert_int_equal(f->res.status, 426);
  assert_int_equal(f->res.err, WSREF_E_HS_VERSION);
  const char *body = "Sec-WebSocket-Version must be 13";
  const char *bad[] = {
      "",
      "Sec-WebSocket-Version:\r\n",
      "Sec-WebSocket-Version: 013\r\n",
      "Sec-WebSocket-Version: 13, 8\r\n",
      "Sec-WebSocket-Version: 13,13\r\n",
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Version: 13\r\n",
      "Sec-WebSocket-Version: 8\r\nSec-WebSocket-Version: 13\r\n",
      "Sec-WebSocket-Version: \"13\"\r\n",
      /* Key problems come after the version. */
      "Sec-WebSocket-Version: 7\r\nSec-WebSocket-Key: bad\r\n",
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char lines[256];
    snprintf(lines, sizeof lines, "%s%s", bad[i],
             i + 1 == sizeof bad / sizeof bad[0]
                 ? ""
                 : "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n");
    rc = serve(f, with_version_and_key(lines));
    expect_error(f, rc, 426, WSREF_E_HS_VERSION, body);
  }
  /* Surrounding whitespace is not part of the value. */
  rc = serve(f, with_version_and_key("Sec-WebSocket-Key:  dGhlIHNhbXBsZSBub25jZQ== \r\n"
                                     "sec-websocket-version:   13\t\r\n"));
  expect_101(f, rc, NULL);
}

static void test_key(void **state) {
  fixture *f = *state;
  const char *body = "Sec-WebSocket-Key missing or invalid";
  int rc = serve(f, with_version_and_key("Sec-WebSocket-Version: 13\r\n"));
  assert_int_equal(rc, WSREF_E_HS_KEY);
  assert_buf(&f->out,
             "HTTP/1.1 400 Bad Request\r\n"
             "Content-Type: text/plain\r\n"
             "Content-Length: 37\r\n"
             "Connection: close\r\n"
             "\r\n"
             "Sec-WebSocket-Key missing or invalid\n");
  const char *bad[] = {
      "Sec-WebSocket-Key:\r\n",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ\r\n",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25j\r\n",     /* 15 bytes */
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZWU=\r\n", /* 17 bytes */
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ-=\r\n",
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==, dGhlIHNhbXBsZSBub25jZQ==\r\n",
      ("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
       "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"), /* repeated, even if equal */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    char lines[256];
    snprintf(lines, sizeof lines, "Sec-WebSocket-Version: 13\r\n%s", bad[i]);
    rc = serve(f, with_version_and_key(lines));
    expect_error(f, rc, 400, WSREF_E_HS_KEY, body);
  }
  /* Another valid key gives its own accept value. */
  rc = serve(f, with_version_and_key("Sec-WebSocket-Version: 13\r\n"
                                     "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==\r\n"));
  assert_int_equal(rc, 0);
  assert_buf(&f->out,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\r\n\r\n");
}

static void test_origin(void **state) {
  fixture *f = *state;
  int rc = serve(f, upgrade_req("/origin", "Origin: http://evil.example\r\n"));
  assert_int_equal(rc, WSREF_E_HS_ORIGIN);
  assert_buf(&f->out,
             "HTTP/1.1 403 Forbidden\r\n"
             "Content-Type: text/plain\r\n"
             "Content-Length: 19\r\n"
             "Connection: close\r\n"
             "\r\n"
             "Origin not allowed\n");
  assert_int_equal(f->res.status, 403);
  assert_int_equal(f->res.err, WSREF_E_HS_ORIGIN);
  const char *body = "Origin not allowed";
  const char *bad[] = {"Origin: null\r\n", "Origin: http://good.example:80\r\n",
                       "Origin: https://good.example\r\n",
                       "Origin: http://good.example\r\nOrigin: http://evil.example\r\n"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    rc = serve(f, upgrade_req("/origin", bad[i]));
    expect_error(f, rc, 403, WSREF_E_HS_ORIGIN, body);
  }
  const char *good[] = {"Origin: http://good.example\r\n", "Origin: HTTP://GOOD.example\r\n",
                        "Origin: https://good.example:8443\r\n"};
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    rc = serve(f, upgrade_req("/origin", good[i]));
    expect_101(f, rc, NULL);
  }
  /* No Origin header at all: a non-browser client, allowed as in Spring. */
  rc = serve(f, upgrade_req("/origin", NULL));
  expect_101(f, rc, NULL);
  /* No list: any origin, or none. */
  rc = serve(f, upgrade_req("/ab", "Origin: http://evil.example\r\n"));
  expect_101(f, rc, NULL);
  /* The key is checked before the origin. */
  rc = serve(f,
             "GET /origin HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Origin: http://evil.example\r\nSec-WebSocket-Version: 13\r\n\r\n");
  expect_error(f, rc, 400, WSREF_E_HS_KEY, "Sec-WebSocket-Key missing or invalid");
}

/* ---- interceptors ---- */

typedef struct ic_log {
  char text[512];
  const char *addr_seen;
} ic_log;

typedef struct ic_ud {
  ic_log *log;
  const char *name;
  int reject_status; /* 0 = accept, -1 = reject without filling */
  const char *reject_body;
} ic_ud;

static void log_add(ic_log *log, const char *fmt, ...) {
  size_t at = strlen(log->text);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(log->text + at, sizeof log->text - at, fmt, ap);
  va_end(ap);
}

static int ic_before(const wsref_http_request *req, const char *addr, wsref_attrs *attrs,
                     wsref_reject *rej, void *p) {
  ic_ud *u = p;
  log_add(u->log, "b%s ", u->name);
  u->log->addr_seen = addr;
  assert_non_null(req);
  char key[32];
  snprintf(key, sizeof key, "seen-%s", u->name);
  assert_int_equal(wsref_attrs_set(attrs, key, u->name), 0);
  /* A later interceptor sees what an earlier one set. */
  const char *prev = wsref_attrs_get(attrs, "last");
  assert_int_equal(wsref_attrs_set(attrs, "last", prev ? u->name : "first"), 0);
  if (u->reject_status == 0) return 0;
  if (u->reject_status > 0) rej->status = u->reject_status;
  if (u->reject_body) snprintf(rej->body, sizeof rej->body, "%s", u->reject_body);
  return 1;
}

static void ic_after(const wsref_http_request *req, int status, void *p) {
  ic_ud *u = p;
  assert_non_null(req);
  log_add(u->log, "a%s(%d) ", u->name, status);
}

static void add_ic(wsref_registration *r, ic_ud *u, bool with_before) {
  wsref_interceptor ic = {with_before ? ic_before : NULL, ic_after, u};
  assert_int_equal(wsref_registration_add_interceptor(r, &ic), 0);
}

static void test_interceptor_chain(void **state) {
  fixture *f = *state;
  ic_log log = {{0}, NULL};
  ic_ud u1 = {&log, "1", 0, NULL}, u2 = {&log, "2", 0, NULL}, u3 = {&log, "3", 0, NULL};
  add_ic(f->ic, &u1, true);
  add_ic(f->ic, &u2, true);
  add_ic(f->ic, &u3, true);
  int rc = serve(f, upgrade_req("/ic", NULL));
  expect_101(f, rc, NULL);
  assert_string_equal(log.text, "b1 b2 b3 a3(101) a2(101) a1(101) ");
  assert_string_equal(log.addr_seen, "192.0.2.7:5555");
  assert_string_equal(wsref_attrs_get(&f->res.attrs, "seen-1"), "1");
  assert_string_equal(wsref_attrs_get(&f->res.attrs, "seen-2"), "2");
  assert_string_equal(wsref_attrs_get(&f->res.attrs, "seen-3"), "3");
  assert_string_equal(wsref_attrs_get(&f->res.attrs, "last"), "3");

  /* The second rejects with its own status and body: the third never runs, after() runs for
   * the two whose before() ran, in reverse, with the final status. */
  log.text[0] = '\0';
  u2.reject_status = 401;
  u2.reject_body = "token required";
  rc = serve(f, upgrade_req("/ic", NULL));
  assert_int_equal(rc, WSREF_E_HS_REJECTED);
  assert_buf(&f->out,
             "HTTP/1.1 401 Unauthorized\r\n"
             "Content-Type: text/plain\r\n"
             "Content-Length: 15\r\n"
             "Connection: close\r\n"
             "\r\n"
             "token required\n");
  assert_int_equal(f->res.status, 401);
  assert_int_equal(f->res.err, WSREF_E_HS_REJECTED);
  assert_string_equal(log.text, "b1 b2 a2(401) a1(401) ");
  assert_string_equal(wsref_attrs_get(&f->res.attrs, "seen-2"), "2");
  assert_null(wsref_attrs_get(&f->res.attrs, "seen-3"));

  /* Unfilled reject: 403 and a default body. */
  log.text[0] = '\0';
  u2.reject_status = -1;
  u2.reject_body = NULL;
  rc = serve(f, upgrade_req("/ic", NULL));
  expect_error(f, rc, 403, WSREF_E_HS_REJECTED, "handshake rejected");
  assert_string_equal(log.text, "b1 b2 a2(403) a1(403) ");

  /* A status that would read as success is not honoured; a multi-line body is cut. */
  u2.reject_status = 200;
  u2.reject_body = "one\r\nInjected: yes";
  rc = serve(f, upgrade_req("/ic", NULL));
  expect_error(f, rc, 403, WSREF_E_HS_REJECTED, "one");
  u2.reject_status = 101;
  rc = serve(f, upgrade_req("/ic", NULL));
  expect_error(f, rc, 403, WSREF_E_HS_REJECTED, "one");

  /* Interceptors never run when an earlier check fails. */
  log.text[0] = '\0';
  rc = serve(f, "GET /ic HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
  expect_error(f, rc, 426, WSREF_E_HS_VERSION, "Sec-WebSocket-Version must be 13");
  assert_string_equal(log.text, "");
}

static void test_interceptor_after_only(void **state) {
  fixture *f = *state;
  ic_log log = {{0}, NULL};
  ic_ud u1 = {&log, "1", 0, NULL}, u2 = {&log, "2", 0, NULL}, u3 = {&log, "3", 402, "pay"};
  add_ic(f->ic, &u1, false); /* after() only: counts as having run */
  add_ic(f->ic, &u2, true);
  add_ic(f->ic, &u3, true);
  int rc = serve(f, upgrade_req("/ic", NULL));
  assert_int_equal(rc, WSREF_E_HS_REJECTED);
  assert_int_equal(f->res.status, 402);
  assert_string_equal(log.text, "b2 b3 a3(402) a2(402) a1(402) ");
}

/* ---- subprotocols ---- */

static void test_subprotocol_order(void **state) {
  fixture *f = *state;
  struct {
    const char *lines, *want;
  } cases[] = {
      {"Sec-WebSocket-Protocol: b, a\r\n", "b"},
      {"Sec-WebSocket-Protocol: a, b\r\n", "a"},
      {"Sec-WebSocket-Protocol: c, b\r\n", "b"},
      {"Sec-WebSocket-Protocol: c\r\n", NULL},
      {"Sec-WebSocket-Protocol: A, B\r\n", NULL}, /* case-sensitive */
      {"Sec-WebSocket-Protocol: ab\r\n", NULL},
      {"Sec-WebSocket-Protocol: \r\n", NULL},
      {NULL, NULL},
      {"Sec-WebSocket-Protocol: c\r\nSec-WebSocket-Protocol: b, a\r\n", "b"},
      {"Sec-WebSocket-Protocol: ,, c ,\r\nsec-websocket-protocol:a\r\n", "a"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int rc = serve(f, upgrade_req("/ab", cases[i].lines));
    expect_101(f, rc, cases[i].want);
  }
  /* A registration without subprotocols never picks one. */
  int rc = serve(f, upgrade_req("/ic", "Sec-WebSocket-Protocol: a, b\r\n"));
  expect_101(f, rc, NULL);
}

/* ---- extensions ---- */

typedef struct ext_ud {
  int calls;
  int result;
  const char *value;
  unsigned rsv;
  void *state;
  int freed;
} ext_ud;

static int ext_hook(const wsref_http_request *req, wsref_buf *resp, unsigned *rsv, void **st,
                    void *p) {
  ext_ud *u = p;
  u->calls++;
  assert_non_null(wsref_http_find(req->headers, req->nheaders, "Sec-WebSocket-Extensions"));
  if (u->result > 0) {
    wsref_buf_append(resp, u->value, strlen(u->value));
    *rsv = u->rsv;
    *st = u->state;
  }
  return u->result;
}

static void ext_free(void *st, void *p) {
  ext_ud *u = p;
  assert_ptr_equal(st, u->state);
  u->freed++;
}

static void test_extensions(void **state) {
  fixture *f = *state;
  int st1, st2;
  ext_ud pmd = {0, 1, "permessage-deflate; server_no_context_takeover", 0x4 | 0x8, &st1, 0};
  ext_ud other = {0, 1, "x-other", 0x2, &st2, 0};
  wsref_extension e1 = {"permessage-deflate", ext_hook, ext_free, &pmd};
  wsref_extension e2 = {"x-other", ext_hook, ext_free, &other};
  assert_int_equal(wsref_registration_add_extension(f->ext, &e1), 0);
  assert_int_equal(wsref_registration_add_extension(f->ext, &e2), 0);

  /* No offer: no hook runs, no header. */
  int rc = serve(f, upgrade_req("/ext", NULL));
  expect_101(f, rc, NULL);
  assert_int_equal(pmd.calls + other.calls, 0);
  assert_int_equal(f->res.rsv_mask, 0);
  assert_null(f->res.extension_state);

  /* First accepting hook wins; later hooks are not asked. */
  rc = serve(f, upgrade_req("/ext",
                            "Sec-WebSocket-Extensions: x-other, permessage-deflate; "
                            "client_max_window_bits\r\n"));
  assert_int_equal(rc, 0);
  assert_buf(&f->out,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
             "Sec-WebSocket-Extensions: permessage-deflate; server_no_context_takeover\r\n\r\n");
  assert_int_equal(pmd.calls, 1);
  assert_int_equal(other.calls, 0);
  assert_string_equal(f->res.extensions, "permessage-deflate; server_no_context_takeover");
  assert_int_equal(f->res.rsv_mask, 0x4); /* only RSV bits */
  assert_ptr_equal(f->res.extension_state, &st1);
  assert_string_equal(f->res.extension->name, "permessage-deflate");
  assert_int_equal(pmd.freed, 0);

  /* A hook is only asked about an extension the client offered. */
  pmd.calls = 0;
  rc = serve(f, upgrade_req("/ext", "Sec-WebSocket-Extensions: x-other\r\n"));
  assert_int_equal(rc, 0);
  assert_int_equal(pmd.calls, 0);
  assert_int_equal(other.calls, 1);
  assert_string_equal(f->res.extensions, "x-other");
  assert_int_equal(f->res.rsv_mask, 0x2);
  assert_ptr_equal(f->res.extension_state, &st2);

  /* Declines: none accepted, all asked. */
  pmd.result = 0;
  other.result = 0;
  pmd.calls = other.calls = 0;
  rc = serve(f, upgrade_req("/ext",
                            "Sec-WebSocket-Extensions: permessage-deflate\r\n"
                            "Sec-WebSocket-Extensions: X-Other; p=1\r\n"));
  expect_101(f, rc, NULL);
  assert_int_equal(pmd.calls, 1);
  assert_int_equal(other.calls, 1);
  assert_int_equal(f->res.rsv_mask, 0);
  assert_null(f->res.extension_state);

  /* Unknown offers only: nothing. */
  rc = serve(f, upgrade_req("/ext", "Sec-WebSocket-Extensions: x-unknown, permessage\r\n"));
  expect_101(f, rc, NULL);
  assert_int_equal(pmd.calls, 1);

  /* A hook failing the handshake: 400, and interceptors see it. */
  ic_log log = {{0}, NULL};
  ic_ud u1 = {&log, "1", 0, NULL};
  add_ic(f->ext, &u1, true);
  pmd.result = -1;
  rc = serve(f, upgrade_req("/ext", "Sec-WebSocket-Extensions: permessage-deflate; x=1\r\n"));
  expect_error(f, rc, 400, WSREF_E_HS_EXTENSION, "Sec-WebSocket-Extensions not acceptable");
  assert_string_equal(log.text, "b1 a1(400) ");

  /* A hook answering with bytes that cannot go on the wire is a server error. */
  pmd.result = 1;
  pmd.value = "permessage-deflate\r\nX-Injected: 1";
  log.text[0] = '\0';
  rc = serve(f, upgrade_req("/ext", "Sec-WebSocket-Extensions: permessage-deflate\r\n"));
  assert_int_equal(rc, WSREF_E_HANDLER);
  assert_int_equal(f->res.status, 500);
  assert_buf(&f->out,
             "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
             "Content-Length: 29\r\nConnection: close\r\n\r\nextension negotiation failed\n");
  assert_string_equal(log.text, "b1 a1(500) ");
  /* The accepted state is released with the hook's free_state, not leaked to the caller. */
  assert_null(f->res.extension_state);
  assert_null(f->res.extension);
  assert_int_equal(pmd.freed, 1);

  /* Both subprotocol and extension headers, in that order. */
  pmd.value = "permessage-deflate";
  rc = serve(f, upgrade_req("/ext", "Sec-WebSocket-Extensions: permessage-deflate\r\n"));
  assert_int_equal(rc, 0);
  const char *const protos[] = {"v12.stomp"};
  assert_int_equal(wsref_registration_subprotocols(f->ext, protos, 1), 0);
  rc = serve(f, upgrade_req("/ext",
                            "Sec-WebSocket-Protocol: v10.stomp, v12.stomp\r\n"
                            "Sec-WebSocket-Extensions: permessage-deflate\r\n"));
  assert_int_equal(rc, 0);
  assert_buf(&f->out,
             "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
             "Sec-WebSocket-Protocol: v12.stomp\r\n"
             "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n");
  /* A failure after the subprotocol was chosen reports none. */
  pmd.result = -1;
  rc = serve(f, upgrade_req("/ext",
                            "Sec-WebSocket-Protocol: v12.stomp\r\n"
                            "Sec-WebSocket-Extensions: permessage-deflate\r\n"));
  expect_error(f, rc, 400, WSREF_E_HS_EXTENSION, "Sec-WebSocket-Extensions not acceptable");
}

/* ---- unparsable requests: the caller's 400/431 ---- */

static void test_write_error_and_limits(void **state) {
  fixture *f = *state;
  wsref_buf_reset(&f->out);
  wsref_handshake_write_error(&f->out, 431, "request header section too large", NULL);
  assert_buf(&f->out,
             "HTTP/1.1 431 Request Header Fields Too Large\r\n"
             "Content-Type: text/plain\r\n"
             "Content-Length: 33\r\n"
             "Connection: close\r\n"
             "\r\n"
             "request header section too large\n");

  /* The parser's limit errors map to 431 through this call. */
  static char big[9000];
  memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
  memset(big + 19, 'a', sizeof big - 19);
  wsref_http_request req;
  assert_int_equal(wsref_http_parse_request(big, 8193, NULL, &req), WSREF_E_HTTP_TOO_LARGE);
  wsref_http_limits lim = {0, 2};
  static const char many[] = "GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n";
  assert_int_equal(wsref_http_parse_request(many, sizeof many - 1, &lim, &req),
                   WSREF_E_HTTP_TOO_MANY_HEADERS);

  /* Defaults and sanitising: reason as body, body cut at a line end, extra headers get
   * their CRLF, nonsense statuses become 500. */
  wsref_buf_reset(&f->out);
  wsref_handshake_write_error(&f->out, 400, NULL, NULL);
  assert_buf(&f->out,
             "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 12\r\n"
             "Connection: close\r\n\r\nBad Request\n");
  wsref_buf_reset(&f->out);
  wsref_handshake_write_error(&f->out, 400, "bad\r\nX-Evil: 1", "Retry-After: 5");
  assert_buf(&f->out,
             "HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n"
             "Connection: close\r\nRetry-After: 5\r\n\r\nbad\n");
  wsref_buf_reset(&f->out);
  wsref_handshake_write_error(&f->out, 7, "", "A: 1\r\nB: 2\r\n");
  assert_buf(&f->out,
             "HTTP/1.1 500 Internal Server Error\r\nContent-Type: text/plain\r\n"
             "Content-Length: 22\r\nConnection: close\r\nA: 1\r\nB: 2\r\n\r\n"
             "Internal Server Error\n");
}

/* ---- client ---- */

static void test_client_request_bytes(void **state) {
  fixture *f = *state;
  const char *const protos[] = {"chat", "superchat"};
  const char *const extra[] = {"Authorization: Bearer abc", "X-Trace:1"};
  wsref_handshake_client c = {0};
  c.host = "server.example.com";
  c.path = "/chat?room=1";
  c.origin = "http://example.com";
  c.subprotocols = protos;
  c.nsubprotocols = 2;
  c.extensions = "permessage-deflate; client_max_window_bits";
  c.headers = extra;
  c.nheaders = 2;
  memcpy(c.nonce, "the sample nonce", 16);
  wsref_buf_reset(&f->out);
  assert_int_equal(wsref_handshake_client_request(&c, &f->out), 0);
  assert_string_equal(c.key, "dGhlIHNhbXBsZSBub25jZQ==");
  assert_buf(&f->out,
             "GET /chat?room=1 HTTP/1.1\r\n"
             "Host: server.example.com\r\n"
             "Upgrade: websocket\r\n"
             "Connection: Upgrade\r\n"
             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
             "Sec-WebSocket-Version: 13\r\n"
             "Origin: http://example.com\r\n"
             "Sec-WebSocket-Protocol: chat, superchat\r\n"
             "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
             "Authorization: Bearer abc\r\n"
             "X-Trace:1\r\n"
             "\r\n");

  /* Minimal: path defaults to "/". */
  wsref_handshake_client m = {0};
  m.host = "h:8080";
  for (int i = 0; i < 16; i++) m.nonce[i] = (uint8_t)i;
  wsref_buf_reset(&f->out);
  assert_int_equal(wsref_handshake_client_request(&m, &f->out), 0);
  assert_buf(&f->out,
             "GET / HTTP/1.1\r\nHost: h:8080\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Key: AAECAwQFBgcICQoLDA0ODw==\r\nSec-WebSocket-Version: 13\r\n\r\n");
}

static void test_client_request_invalid(void **state) {
  fixture *f = *state;
  const char *const dup[] = {"a", "a"};
  const char *const badp[] = {"a b"};
  const char *const emptyp[] = {""};
  const char *const nocolon[] = {"X-Nothing"};
  const char *const crlf[] = {"X: a\r\nY: b"};
  const char *const badname[] = {"X Y: a"};
  struct {
    const char *host, *path, *origin, *ext;
    const char *const *protos;
    size_t nprotos;
    const char *const *hdrs;
    size_t nhdrs;
  } cases[] = {
      {NULL, NULL, NULL, NULL, NULL, 0, NULL, 0},
      {"", NULL, NULL, NULL, NULL, 0, NULL, 0},
      {"h\r\nX: 1", NULL, NULL, NULL, NULL, 0, NULL, 0},
      {"h h", NULL, NULL, NULL, NULL, 0, NULL, 0},
      {"h", "", NULL, NULL, NULL, 0, NULL, 0},
      {"h", "/a b", NULL, NULL, NULL, 0, NULL, 0},
      {"h", "/a\nb", NULL, NULL, NULL, 0, NULL, 0},
      {"h", NULL, "http://o\r\n", NULL, NULL, 0, NULL, 0},
      {"h", NULL, NULL, "", NULL, 0, NULL, 0},
      {"h", NULL, NULL, "x\n", NULL, 0, NULL, 0},
      {"h", NULL, NULL, NULL, dup, 2, NULL, 0},
      {"h", NULL, NULL, NULL, badp, 1, NULL, 0},
      {"h", NULL, NULL, NULL, emptyp, 1, NULL, 0},
      {"h", NULL, NULL, NULL, NULL, 1, NULL, 0},
      {"h", NULL, NULL, NULL, NULL, 0, nocolon, 1},
      {"h", NULL, NULL, NULL, NULL, 0, crlf, 1},
      {"h", NULL, NULL, NULL, NULL, 0, badname, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    wsref_handshake_client c = {0};
    c.host = cases[i].host;
    c.path = cases[i].path;
    c.origin = cases[i].origin;
    c.extensions = cases[i].ext;
    c.subprotocols = cases[i].protos;
    c.nsubprotocols = cases[i].nprotos;
    c.headers = cases[i].hdrs;
    c.nheaders = cases[i].nhdrs;
    wsref_buf_reset(&f->out);
    wsref_buf_append(&f->out, "keep", 4);
    int rc = wsref_handshake_client_request(&c, &f->out);
    if (rc != WSREF_E_INVALID_ARG) fail_msg("case %zu: rc %d", i, rc);
    assert_buf(&f->out, "keep");
  }
}

/* The client's own request, served by the reference server, verifies. */
static void test_client_server_round_trip(void **state) {
  fixture *f = *state;
  const char *const protos[] = {"x", "b", "a"};
  wsref_handshake_client c = {0};
  c.host = "localhost:9001";
  c.path = "/ab";
  c.subprotocols = protos;
  c.nsubprotocols = 3;
  memcpy(c.nonce, "0123456789abcdef", 16);
  wsref_buf req = WSREF_BUF_INIT;
  assert_int_equal(wsref_handshake_client_request(&c, &req), 0);
  wsref_http_request parsed;
  ssize_t n = wsref_http_parse_request((const char *)wsref_buf_head(&req), wsref_buf_len(&req),
                                       NULL, &parsed);
  assert_int_equal(n, (ssize_t)wsref_buf_len(&req));
  wsref_buf_reset(&f->out);
  wsref_attrs_free(&f->res.attrs);
  assert_int_equal(wsref_handshake_server(f->reg, &parsed, NULL, &f->res, &f->out), 0);
  assert_string_equal(f->res.subprotocol, "b");
  wsref_http_response res;
  n = wsref_http_parse_response((const char *)wsref_buf_head(&f->out), wsref_buf_len(&f->out), NULL,
                                &res);
  assert_int_equal(n, (ssize_t)wsref_buf_len(&f->out));
  char proto[WSREF_SUBPROTOCOL_MAX];
  memset(proto, 'Z', sizeof proto);
  assert_int_equal(wsref_handshake_client_verify(&c, &res, proto), 0);
  assert_string_equal(proto, "b");
  wsref_buf_free(&req);
}

static void test_client_verify(void **state) {
  (void)state;
  const char *const protos[] = {"chat", "superchat"};
  wsref_handshake_client c = {0};
  c.host = "server.example.com";
  c.subprotocols = protos;
  c.nsubprotocols = 2;
  c.extensions = "permessage-deflate; client_max_window_bits, x-webkit-deflate-frame";
  memcpy(c.nonce, "the sample nonce", 16);
  /* c.key is empty: verify derives it from the nonce. */
#define OK_HEAD                                                                       \
  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" \
  "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
  struct {
    const char *text;
    int want;
    const char *proto;
  } cases[] = {
      {OK_HEAD "\r\n", 0, ""},
      {OK_HEAD "Sec-WebSocket-Protocol: chat\r\n\r\n", 0, "chat"},
      {OK_HEAD "Sec-WebSocket-Protocol: superchat\r\n\r\n", 0, "superchat"},
      {OK_HEAD "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n", 0, ""},
      {OK_HEAD "Sec-WebSocket-Extensions: PERMESSAGE-DEFLATE; server_max_window_bits=10, "
               "x-webkit-deflate-frame\r\n\r\n",
       0, ""},
      {"HTTP/1.1 101 X\r\nupgrade: WebSocket\r\nconnection: keep-alive, upgrade\r\n"
       "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
       0, ""},
      /* status */
      {"HTTP/1.1 200 OK\r\n\r\n", WSREF_E_HS_STATUS, ""},
      {"HTTP/1.1 426 Upgrade Required\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
       WSREF_E_HS_STATUS, ""},
      /* Upgrade, Connection */
      {"HTTP/1.1 101 X\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
       WSREF_E_HS_UPGRADE, ""},
      {"HTTP/1.1 101 X\r\nUpgrade: websockets\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
       WSREF_E_HS_UPGRADE, ""},
      {"HTTP/1.1 101 X\r\nUpgrade: websocket\r\n"
       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
       WSREF_E_HS_CONNECTION, ""},
      {"HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: close\r\n"
       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n",
       WSREF_E_HS_CONNECTION, ""},
      /* Accept */
      {"HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", WSREF_E_HS_ACCEPT,
       ""},
      {"HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo\r\n\r\n",
       WSREF_E_HS_ACCEPT, ""},
      {"HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: S3PPLMBITXAQ9KYGZZHZRBK+XOO=\r\n\r\n",
       WSREF_E_HS_ACCEPT, ""},
      {"HTTP/1.1 101 X\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       "Sec-WebSocket-Accept: HSmrc0sMlYUkAGmm5OPpG2HaGWk=\r\n\r\n",
       WSREF_E_HS_ACCEPT, ""},
      {OK_HEAD "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n", WSREF_E_HS_ACCEPT, ""},
      /* subprotocol */
      {OK_HEAD "Sec-WebSocket-Protocol: other\r\n\r\n", WSREF_E_HS_SUBPROTOCOL, ""},
      {OK_HEAD "Sec-WebSocket-Protocol: Chat\r\n\r\n", WSREF_E_HS_SUBPROTOCOL, ""},
      {OK_HEAD "Sec-WebSocket-Protocol: chat, superchat\r\n\r\n", WSREF_E_HS_SUBPROTOCOL, ""},
      {OK_HEAD "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Protocol: chat\r\n\r\n",
       WSREF_E_HS_SUBPROTOCOL, ""},
      {OK_HEAD "Sec-WebSocket-Protocol:\r\n\r\n", WSREF_E_HS_SUBPROTOCOL, ""},
      /* extensions */
      {OK_HEAD "Sec-WebSocket-Extensions: x-unknown\r\n\r\n", WSREF_E_HS_EXTENSION, ""},
      {OK_HEAD "Sec-WebSocket-Extensions: permessage-deflate, permessage\r\n\r\n",
       WSREF_E_HS_EXTENSION, ""},
      {OK_HEAD "Sec-WebSocket-Extensions: permessage-deflate\r\n"
               "Sec-WebSocket-Extensions: client_max_window_bits\r\n\r\n",
       WSREF_E_HS_EXTENSION, ""},
      {OK_HEAD "Sec-WebSocket-Protocol: chat\r\nSec-WebSocket-Extensions: ;x\r\n\r\n",
       WSREF_E_HS_EXTENSION, ""},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char proto[WSREF_SUBPROTOCOL_MAX];
    memset(proto, 'Z', sizeof proto);
    int rc = wsref_handshake_client_verify(&c, parse_res(cases[i].text), proto);
    if (rc != cases[i].want) fail_msg("case %zu: rc %d want %d", i, rc, cases[i].want);
    if (strcmp(proto, cases[i].proto) != 0) fail_msg("case %zu: subprotocol '%s'", i, proto);
    assert_int_equal(wsref_handshake_client_verify(&c, parse_res(cases[i].text), NULL),
                     cases[i].want);
  }

  /* Nothing offered: any subprotocol or extension is an error. */
  wsref_handshake_client bare = {0};
  memcpy(bare.nonce, "the sample nonce", 16);
  assert_int_equal(wsref_handshake_client_verify(&bare, parse_res(OK_HEAD "\r\n"), NULL), 0);
  assert_int_equal(wsref_handshake_client_verify(
                       &bare, parse_res(OK_HEAD "Sec-WebSocket-Protocol: chat\r\n\r\n"), NULL),
                   WSREF_E_HS_SUBPROTOCOL);
  assert_int_equal(
      wsref_handshake_client_verify(
          &bare, parse_res(OK_HEAD "Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"), NULL),
      WSREF_E_HS_EXTENSION);
  /* An explicit key (from _request) is what the accept is checked against. */
  memcpy(bare.key, "x3JJHMbDL1EzLkh9GBhXDw==", 25);
  assert_int_equal(wsref_handshake_client_verify(&bare, parse_res(OK_HEAD "\r\n"), NULL),
                   WSREF_E_HS_ACCEPT);
#undef OK_HEAD
}

int main(void) {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
  const struct CMUnitTest tests[] = {
      T(test_rfc_sample),
      T(test_output_is_appended),
      T(test_405),
      T(test_version),
      T(test_host),
      T(test_404),
      T(test_upgrade_header),
      T(test_connection_header),
      T(test_body_and_negotiation_syntax),
      T(test_426),
      T(test_key),
      T(test_origin),
      T(test_interceptor_chain),
      T(test_interceptor_after_only),
      T(test_subprotocol_order),
      T(test_extensions),
      T(test_write_error_and_limits),
      T(test_client_request_bytes),
      T(test_client_request_invalid),
      T(test_client_server_round_trip),
      T(test_client_verify),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
