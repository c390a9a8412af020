/* The libcurl-based client (reference/io/client.h): URL parsing, then wsref_client_connect
 * against a wsref_server running in a thread: ws, wss with a CA file / without / insecure,
 * HTTP CONNECT and SOCKS5 proxies (tiny test proxies below), handshake failures. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <curl/curl.h>

#include "app/echo.h"
#include "base/error.h"
#include "io/client.h"
#include "io/loop.h"
#include "io/server.h"

/* ---- URL parsing ---- */

static void test_url_parse(void **state) {
  (void)state;
  wsref_url u;
  char err[200];
  assert_int_equal(wsref_url_parse("ws://example.com/chat?x=1", &u, err, sizeof err), 0);
  assert_false(u.tls);
  assert_string_equal(u.host, "example.com");
  assert_int_equal(u.port, 80);
  assert_true(u.default_port);
  assert_string_equal(u.path, "/chat?x=1");
  assert_string_equal(u.host_header, "example.com");
  assert_string_equal(u.http_url, "http://example.com:80/");

  assert_int_equal(wsref_url_parse("WSS://127.0.0.1:8443", &u, err, sizeof err), 0);
  assert_true(u.tls);
  assert_int_equal(u.port, 8443);
  assert_false(u.default_port);
  assert_string_equal(u.path, "/");
  assert_string_equal(u.host_header, "127.0.0.1:8443");
  assert_string_equal(u.http_url, "https://127.0.0.1:8443/");

  assert_int_equal(wsref_url_parse("wss://[::1]:443?q", &u, err, sizeof err), 0);
  assert_string_equal(u.host, "::1");
  assert_true(u.default_port); /* explicit default port: Host carries no port */
  assert_string_equal(u.host_header, "[::1]");
  assert_string_equal(u.path, "/?q");
  assert_string_equal(u.http_url, "https://[::1]:443/");

  assert_int_equal(wsref_url_parse("ws://h:/p", &u, err, sizeof err), 0); /* empty port */
  assert_int_equal(u.port, 80);

  static const struct {
    const char *url, *why;
  } bad[] = {
      {"http://h/", "unsupported scheme 'http'"},
      {"h/x", "not a ws:// or wss:// URL"},
      {"ws://h/p#frag", "fragment"},
      {"ws://user:pw@h/", "user information"},
      {"ws:///path", "missing host"},
      {"ws://h:0/", "out of range"},
      {"ws://h:65536/", "out of range"},
      {"ws://h:12a/", "invalid port"},
      {"ws://h:123456/", "invalid port"},
      {"ws://[::1/", "unterminated IPv6"},
      {"ws://[::1]x/", "after the IPv6"},
      {"ws://[zz]/", "invalid IPv6"},
      {"ws://h/a b", "not allowed"},
      {"ws://h\xc3\xa9/", "not allowed"},
      {"ws://h<x>/", "not allowed in a host name"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    assert_int_equal(wsref_url_parse(bad[i].url, &u, err, sizeof err), WSREF_E_URL);
    if (!strstr(err, bad[i].why)) fail_msg("%s: '%s' lacks '%s'", bad[i].url, err, bad[i].why);
  }
}

/* ---- a server in a thread ---- */

typedef struct tsrv {
  wsref_registry *reg;
  wsref_server *srv;
  pthread_t th;
  int run_result;
  uint16_t port;
} tsrv;

static void *run_thread(void *p) {
  tsrv *t = p;
  t->run_result = wsref_server_run(t->srv);
  return NULL;
}

static int require_token(const wsref_http_request *req, const char *remote, wsref_attrs *attrs,
                         wsref_reject *reject, void *ud) {
  (void)remote;
  (void)attrs;
  (void)ud;
  const wsref_http_header *h = wsref_http_find(req->headers, req->nheaders, "X-Token");
  if (h && wsref_str_eq(h->value, "secret")) return 0;
  reject->status = 401;
  snprintf(reject->body, sizeof reject->body, "token required");
  return 1;
}

static const char *const chat_protos[] = {"superchat", "chat"};
static const char *const allowed_origins[] = {"http://ok.example"};

static tsrv *start(const char *cert, const char *key) {
  tsrv *t = calloc(1, sizeof *t);
  assert_non_null(t);
  t->reg = wsref_registry_new();
  assert_int_equal(wsref_echo_register(t->reg), 0);
  wsref_registration *r = wsref_registry_add(t->reg, "/chat", wsref_echo_handler());
  assert_non_null(r);
  assert_int_equal(wsref_registration_subprotocols(r, chat_protos, 2), 0);
  r = wsref_registry_add(t->reg, "/origin", wsref_echo_handler());
  assert_int_equal(wsref_registration_allow_origins(r, allowed_origins, 1), 0);
  r = wsref_registry_add(t->reg, "/auth", wsref_echo_handler());
  wsref_interceptor ic = {.before = require_token};
  assert_int_equal(wsref_registration_add_interceptor(r, &ic), 0);
  wsref_server_options o;
  wsref_server_options_default(&o);
  o.quiet = true;
  o.tls_cert = cert;
  o.tls_key = key;
  char err[256];
  t->srv = wsref_server_new(t->reg, &o, err, sizeof err);
  if (!t->srv) fail_msg("server: %s", err);
  assert_int_equal(wsref_server_bind(t->srv, err, sizeof err), 0);
  t->port = wsref_server_port(t->srv);
  assert_int_equal(pthread_create(&t->th, NULL, run_thread, t), 0);
  return t;
}

static void stop(tsrv *t) {
  wsref_server_stop(t->srv);
  pthread_join(t->th, NULL);
  assert_int_equal(t->run_result, 0);
  wsref_server_free(t->srv);
  wsref_registry_free(t->reg);
  free(t);
}

/* ---- a recording handler ---- */

typedef struct got {
  int opens, closes, errors;
  int n;
  int type[16];
  bool last[16];
  char msg[16][64];
  size_t len[16];
  wsref_close_status st;
} got;

static int g_open(wsref_session *s, void *ud) {
  (void)s;
  ((got *)ud)->opens++;
  return 0;
}

static int g_message(wsref_session *s, const wsref_message *m, void *ud) {
  (void)s;
  got *g = ud;
  if (m->type == WSREF_MSG_PONG || g->n == 16) return 0;
  g->type[g->n] = m->type;
  g->last[g->n] = m->is_last;
  g->len[g->n] = m->len;
  memcpy(g->msg[g->n], m->data, m->len < 63 ? m->len : 63);
  g->n++;
  return 0;
}

static void g_error(wsref_session *s, int err, void *ud) {
  (void)s;
  (void)err;
  ((got *)ud)->errors++;
}

static void g_close(wsref_session *s, const wsref_close_status *st, void *ud) {
  (void)s;
  got *g = ud;
  g->closes++;
  g->st = *st;
}

static wsref_handler handler_for(got *g) {
  wsref_handler h = {0};
  h.on_open = g_open;
  h.on_message = g_message;
  h.on_transport_error = g_error;
  h.on_close = g_close;
  h.ud = g;
  return h;
}

static void wait_messages(wsref_client *c, got *g, int n) {
  uint64_t end = wsref_now_ms() + 5000;
  while (g->n < n && wsref_now_ms() < end) {
    if (wsref_client_run(c, 50) != 0) break;
  }
  assert_int_equal(g->n, n);
}

/* Send text + binary, get both back, close 1000, see the clean end. */
static void echo_round_trip(wsref_client *c, got *g) {
  wsref_session *s = wsref_client_session(c);
  assert_true(wsref_session_is_open(s));
  assert_int_equal(wsref_session_send_text(s, "hello", 5), 0);
  assert_int_equal(wsref_session_send_binary(s, "\x00\xff", 2), 0);
  wait_messages(c, g, 2);
  assert_int_equal(g->type[0], WSREF_MSG_TEXT);
  assert_int_equal(g->len[0], 5);
  assert_memory_equal(g->msg[0], "hello", 5);
  assert_int_equal(g->type[1], WSREF_MSG_BINARY);
  assert_int_equal(g->len[1], 2);
  assert_memory_equal(g->msg[1], "\x00\xff", 2);
  assert_int_equal(wsref_session_close(s, 1000, "bye"), 0);
  assert_int_equal(wsref_client_run(c, 5000), 1);
  assert_true(wsref_client_closed(c));
  assert_int_equal(wsref_client_fd(c), -1);
  assert_int_equal(g->closes, 1);
  assert_int_equal(g->st.code, 1000);
  /* (the server echoes the code; whether it repeats the reason is the session's choice) */
  assert_int_equal(wsref_client_error(c), 0);
  assert_int_equal(wsref_client_close_status(c)->code, 1000);
  assert_int_equal(g->errors, 0);
}

static void test_echo(void **state) {
  (void)state;
  tsrv *t = start(NULL, NULL);
  char url[64], err[256];
  snprintf(url, sizeof url, "ws://127.0.0.1:%u/echo", t->port);
  got g = {0};
  wsref_handler h = handler_for(&g);
  wsref_client *c = wsref_client_connect(url, &h, NULL, err, sizeof err);
  if (!c) fail_msg("connect: %s", err);
  assert_int_equal(g.opens, 1);
  assert_string_equal(wsref_session_subprotocol(wsref_client_session(c)), "");
  echo_round_trip(c, &g);
  wsref_client_free(c);
  stop(t);
}

/* A partial-message client handler sees the server's fragments as pieces. */
static void test_partial_and_server_close(void **state) {
  (void)state;
  tsrv *t = start(NULL, NULL);
  char url[64], err[256];
  snprintf(url, sizeof url, "ws://127.0.0.1:%u/echo-partial", t->port);
  got g = {0};
  wsref_handler h = handler_for(&g);
  h.partial_messages = true;
  wsref_client *c = wsref_client_connect(url, &h, NULL, err, sizeof err);
  if (!c) fail_msg("connect: %s", err);
  wsref_session *s = wsref_client_session(c);
  wsref_message m1 = {WSREF_MSG_TEXT, (const uint8_t *)"Hel", 3, false};
  wsref_message m2 = {WSREF_MSG_TEXT, (const uint8_t *)"lo", 2, true};
  assert_int_equal(wsref_session_send(s, &m1), 0);
  wait_messages(c, &g, 1);
  assert_int_equal(wsref_session_send(s, &m2), 0);
  wait_messages(c, &g, 2);
  assert_false(g.last[0]);
  assert_memory_equal(g.msg[0], "Hel", 3);
  assert_true(g.last[1]);
  assert_memory_equal(g.msg[1], "lo", 2);
  wsref_client_free(c);

  /* /text refuses binary: the server starts the closing handshake with 1003. */
  snprintf(url, sizeof url, "ws://127.0.0.1:%u/text", t->port);
  got g2 = {0};
  wsref_handler h2 = handler_for(&g2);
  c = wsref_client_connect(url, &h2, NULL, err, sizeof err);
  assert_non_null(c);
  assert_int_equal(wsref_session_send_binary(wsref_client_session(c), "x", 1), 0);
  assert_int_equal(wsref_client_run(c, 5000), 1);
  assert_int_equal(g2.closes, 1);
  assert_int_equal(g2.st.code, 1003);
  assert_int_equal(wsref_client_error(c), 0);
  wsref_client_free(c);
  stop(t);
}

static void test_handshake_options(void **state) {
  (void)state;
  tsrv *t = start(NULL, NULL);
  char url[64], err[256];
  got g = {0};
  wsref_handler h = handler_for(&g);
  wsref_client_options o;
  wsref_client_options_default(&o);

  /* Subprotocol: the server picks from what we offered. */
  const char *offer[] = {"chat", "v2"};
  o.subprotocols = offer;
  o.nsubprotocols = 2;
  snprintf(url, sizeof url, "ws://127.0.0.1:%u/chat", t->port);
  wsref_client *c = wsref_client_connect(url, &h, &o, err, sizeof err);
  if (!c) fail_msg("connect: %s", err);
  assert_string_equal(wsref_session_subprotocol(wsref_client_session(c)), "chat");
  wsref_client_free(c);
  o.nsubprotocols = 0;

  /* Origin: allowed and refused. */
  snprintf(url, sizeof url, "ws://127.0.0.1:%u/origin", t->port);
  o.origin = "http://ok.example";
  c = wsref_client_connect(url, &h, &o, err, sizeof err);
  if (!c) fail_msg("connect: %s", err);
  wsref_client_free(c);
  o.origin = "http://evil.example";
  assert_null(wsref_client_connect(url, &h, &o, err, sizeof err));
  assert_string_equal(err, "handshake: server answered HTTP/1.1 403 Forbidden");
  o.origin = NULL;

  /* Extra headers reach the server's interceptors. */
  snprintf(url, sizeof url, "ws://127.0.0.1:%u/auth", t->port);
  assert_null(wsref_client_connect(url, &h, &o, err, sizeof err));
  assert_string_equal(err, "handshake: server answered HTTP/1.1 401 Unauthorized");
  const char *hdrs[] = {"X-Token: secret"};
  o.headers = hdrs;
  o.nheaders = 1;
  c = wsref_client_connect(url, &h, &o, err, sizeof err);
  if (!c) fail_msg("connect: %s", err);
  wsref_client_free(c);

  /* Unknown path. */
  snprintf(url, sizeof url, "ws://127.0.0.1:%u/nope", t->port);
  assert_null(wsref_client_connect(url, &h, NULL, err, sizeof err));
  assert_string_equal(err, "handshake: server answered HTTP/1.1 404 Not Found");
  /* A failed handshake never reaches the handler's on_close / on_transport_error. */
  assert_int_equal(g.closes, 3); /* the three opened clients freed while open */
  assert_int_equal(g.errors, 0);
  stop(t);

  /* Nobody listening, and a bad URL. */
  assert_null(wsref_client_connect(url, &h, NULL, err, sizeof err));
  assert_true(strncmp(err, "connect 127.0.0.1:", 18) == 0);
  assert_null(wsref_client_connect("ws://h/#x", &h, NULL, err, sizeof err));
  assert_true(strncmp(err, "bad URL: fragment", 17) == 0);
}

/* A server that accepts TCP and never answers the handshake. */
static void test_handshake_timeout(void **state) {
  (void)state;
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(lfd, 4), 0);
  socklen_t al = sizeof a;
  getsockname(lfd, (struct sockaddr *)&a, &al);
  char url[64], err[256];
  snprintf(url, sizeof url, "ws://127.0.0.1:%u/", ntohs(a.sin_port));
  got g = {0};
  wsref_handler h = handler_for(&g);
  wsref_client_options o;
  wsref_client_options_default(&o);
  o.timeout_ms = 200;
  uint64_t t0 = wsref_now_ms();
  assert_null(wsref_client_connect(url, &h, &o, err, sizeof err));
  uint64_t took = wsref_now_ms() - t0;
  assert_true(took >= 150 && took < 3000);
  assert_string_equal(err, "handshake: no complete response within 200 ms");
  close(lfd);
}

/* ---- TLS ---- */

typedef struct certs {
  char dir[64], cert[96], key[96];
} certs;

static bool make_certs(certs *c) {
  snprintf(c->dir, sizeof c->dir, "/tmp/wsref-test-XXXXXX");
  if (!mkdtemp(c->dir)) return false;
  snprintf(c->cert, sizeof c->cert, "%s/cert.pem", c->dir);
  snprintf(c->key, sizeof c->key, "%s/key.pem", c->dir);
  char cmd[512];
  snprintf(cmd, sizeof cmd,
           "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes "
           "-keyout %s -out %s -days 2 -subj /CN=localhost "
           "-addext subjectAltName=IP:127.0.0.1,DNS:localhost >/dev/null 2>&1",
           c->key, c->cert);
  return system(cmd) == 0;
}

static void drop_certs(certs *c) {
  unlink(c->cert);
  unlink(c->key);
  rmdir(c->dir);
}

static void test_wss(void **state) {
  (void)state;
  certs cs;
  if (!make_certs(&cs)) {
    drop_certs(&cs);
    skip(); /* no openssl command */
  }
  tsrv *t = start(cs.cert, cs.key);
  char url[64], err[512];
  snprintf(url, sizeof url, "wss://127.0.0.1:%u/echo", t->port);
  assert_true(strncmp(wsref_server_url(t->srv), "wss://127.0.0.1:", 16) == 0);
  got g = {0};
  wsref_handler h = handler_for(&g);
  wsref_client_options o;
  wsref_client_options_default(&o);

  /* Verification is on by default: a self-signed certificate is refused. */
  assert_null(wsref_client_connect(url, &h, &o, err, sizeof err));
  if (!strstr(err, "certificate")) fail_msg("unexpected error: %s", err);

  /* With the certificate as CA it verifies (name = IP SAN 127.0.0.1). */
  o.cacert = cs.cert;
  wsref_client *c = wsref_client_connect(url, &h, &o, err, sizeof err);
  if (!c) fail_msg("connect: %s", err);
  echo_round_trip(c, &g);
  wsref_client_free(c);

  /* --insecure: no verification. */
  memset(&g, 0, sizeof g);
  o.cacert = NULL;
  o.insecure = true;
  c = wsref_client_connect(url, &h, &o, err, sizeof err);
  if (!c) fail_msg("connect: %s", err);
  echo_round_trip(c, &g);
  wsref_client_free(c);

  /* A plain ws client talking to the TLS port fails its handshake, and the server lives. */
  snprintf(url, sizeof url, "ws://127.0.0.1:%u/echo", t->port);
  o.timeout_ms = 2000;
  assert_null(wsref_client_connect(url, &h, &o, err, sizeof err));
  snprintf(url, sizeof url, "wss://127.0.0.1:%u/echo", t->port);
  c = wsref_client_connect(url, &h, &o, err, sizeof err);
  if (!c) fail_msg("connect after a bad peer: %s", err);
  wsref_client_free(c);
  stop(t);
  drop_certs(&cs);
}

/* ---- proxies ---- */

typedef struct proxy {
  int lfd;
  uint16_t port;
  bool socks;
  char seen[128]; /* the CONNECT line, or "socks5 A.B.C.D:P" */
  pthread_t th;
} proxy;

static bool read_full(int fd, void *p, size_t n) {
  uint8_t *b = p;
  while (n > 0) {
    ssize_t r = recv(fd, b, n, 0);
    if (r <= 0) return false;
    b += r;
    n -= (size_t)r;
  }
  return true;
}

static int dial_port(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

/* Copy both ways, passing half-closes on, until both directions ended. */
static void relay(int a, int b) {
  bool open_a = true, open_b = true;
  char buf[16384];
  while (open_a || open_b) {
    struct pollfd p[2] = {{a, open_a ? POLLIN : 0, 0}, {b, open_b ? POLLIN : 0, 0}};
    if (poll(p, 2, 5000) <= 0) return;
    for (int i = 0; i < 2; i++) {
      if (!p[i].revents) continue;
      int from = i ? b : a, to = i ? a : b;
      ssize_t n = recv(from, buf, sizeof buf, 0);
      if (n <= 0) {
        shutdown(to, SHUT_WR);
        if (i)
          open_b = false;
        else
          open_a = false;
        continue;
      }
      if (send(to, buf, (size_t)n, MSG_NOSIGNAL) != n) return;
    }
  }
}

static void *proxy_thread(void *p) {
  proxy *px = p;
  int c = accept(px->lfd, NULL, NULL);
  if (c < 0) return NULL;
  int up = -1;
  if (px->socks) {
    uint8_t b[262];
    if (!read_full(c, b, 2) || b[0] != 5 || !read_full(c, b + 2, b[1])) goto out;
    if (send(c, "\x05\x00", 2, MSG_NOSIGNAL) != 2) goto out;
    if (!read_full(c, b, 4) || b[1] != 1 || b[3] != 1 || !read_full(c, b + 4, 6)) goto out;
    uint16_t port = (uint16_t)(b[8] << 8 | b[9]);
    snprintf(px->seen, sizeof px->seen, "socks5 %u.%u.%u.%u:%u", b[4], b[5], b[6], b[7], port);
    up = dial_port(port);
    uint8_t rep[10] = {5, (uint8_t)(up < 0 ? 5 : 0), 0, 1, 0, 0, 0, 0, 0, 0};
    if (send(c, rep, sizeof rep, MSG_NOSIGNAL) != (ssize_t)sizeof rep || up < 0) goto out;
  } else {
    char head[1024];
    size_t n = 0;
    while (n < sizeof head - 1 && !strstr(head, "\r\n\r\n")) {
      ssize_t r = recv(c, head + n, 1, 0); /* byte by byte: never read past the head */
      if (r <= 0) goto out;
      n += (size_t)r;
      head[n] = '\0';
    }
    snprintf(px->seen, sizeof px->seen, "%.*s", (int)strcspn(head, "\r\n"), head);
    unsigned port = 0;
    if (sscanf(head, "CONNECT 127.0.0.1:%u HTTP/1.1", &port) != 1) goto out;
    up = dial_port((uint16_t)port);
    const char *ok = up >= 0 ? "HTTP/1.1 200 Connection established\r\n\r\n"
                             : "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n";
    if (send(c, ok, strlen(ok), MSG_NOSIGNAL) < 0 || up < 0) goto out;
  }
  relay(c, up);
out:
  if (up >= 0) close(up);
  close(c);
  return NULL;
}

static proxy *proxy_start(bool socks) {
  proxy *px = calloc(1, sizeof *px);
  px->socks = socks;
  px->lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(px->lfd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(px->lfd, 4), 0);
  socklen_t al = sizeof a;
  getsockname(px->lfd, (struct sockaddr *)&a, &al);
  px->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&px->th, NULL, proxy_thread, px), 0);
  return px;
}

static void test_proxies(void **state) {
  (void)state;
  tsrv *t = start(NULL, NULL);
  char url[64], purl[64], want[64], err[256];
  snprintf(url, sizeof url, "ws://127.0.0.1:%u/echo", t->port);
  for (int socks = 0; socks < 2; socks++) {
    proxy *px = proxy_start(socks);
    snprintf(purl, sizeof purl, "%s://127.0.0.1:%u", socks ? "socks5" : "http", px->port);
    got g = {0};
    wsref_handler h = handler_for(&g);
    wsref_client_options o;
    wsref_client_options_default(&o);
    o.proxy = purl;
    wsref_client *c = wsref_client_connect(url, &h, &o, err, sizeof err);
    if (!c) fail_msg("connect via %s: %s", purl, err);
    echo_round_trip(c, &g);
    wsref_client_free(c);
    if (socks)
      snprintf(want, sizeof want, "socks5 127.0.0.1:%u", t->port);
    else
      snprintf(want, sizeof want, "CONNECT 127.0.0.1:%u HTTP/1.1", t->port);
    char seen[128];
    pthread_join(px->th, NULL);
    memcpy(seen, px->seen, sizeof seen);
    close(px->lfd);
    free(px);
    assert_string_equal(seen, want);
  }
  stop(t);
}

int main(void) {
  curl_global_init(CURL_GLOBAL_DEFAULT);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_url_parse),
      cmocka_unit_test(test_echo),
      cmocka_unit_test(test_partial_and_server_close),
      cmocka_unit_test(test_handshake_options),
      cmocka_unit_test(test_handshake_timeout),
      cmocka_unit_test(test_wss),
      cmocka_unit_test(test_proxies),
  };
  int r = cmocka_run_group_tests(tests, NULL, NULL);
  curl_global_cleanup();
  return r;
}
