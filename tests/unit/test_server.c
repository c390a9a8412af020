/* The epoll server (reference/io/server.h) with the demo handlers (reference/app/echo.h),
 * end to end: a wsref_server on 127.0.0.1 port 0 runs in a thread, the test talks to it
 * over plain sockets and asserts the exact bytes on the wire. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "app/echo.h"
#include "base/error.h"
#include "io/loop.h"
#include "io/server.h"
#include "support/peer.h"

/* ---- a server in a thread ---- */

typedef struct tsrv {
  wsref_registry *reg;
  wsref_server *srv;
  pthread_t th;
  int run_result;
  uint16_t port;
  pthread_mutex_t mu;
  char log[8192];
  size_t loglen;
} tsrv;

static void log_line(const char *line, void *ud) {
  tsrv *t = ud;
  pthread_mutex_lock(&t->mu);
  int n = snprintf(t->log + t->loglen, sizeof t->log - t->loglen, "%s\n", line);
  if (n > 0 && (size_t)n < sizeof t->log - t->loglen) t->loglen += (size_t)n;
  pthread_mutex_unlock(&t->mu);
}

static bool log_has(tsrv *t, const char *needle) {
  pthread_mutex_lock(&t->mu);
  bool r = strstr(t->log, needle) != NULL;
  pthread_mutex_unlock(&t->mu);
  return r;
}

static void *run_thread(void *p) {
  tsrv *t = p;
  t->run_result = wsref_server_run(t->srv);
  return NULL;
}

/* The echo handlers, plus extra_h at extra_path when given. */
static tsrv *start_with(const wsref_server_options *base, const char *extra_path,
                        const wsref_handler *extra_h) {
  tsrv *t = calloc(1, sizeof *t);
  assert_non_null(t);
  pthread_mutex_init(&t->mu, NULL);
  t->reg = wsref_registry_new();
  assert_non_null(t->reg);
  assert_int_equal(wsref_echo_register(t->reg), 0);
  if (extra_path) assert_non_null(wsref_registry_add(t->reg, extra_path, extra_h));
  wsref_server_options o;
  if (base)
    o = *base;
  else
    wsref_server_options_default(&o);
  o.port = 0;
  o.log = log_line;
  o.log_ud = t;
  char err[256];
  t->srv = wsref_server_new(t->reg, &o, err, sizeof err);
  assert_non_null(t->srv);
  assert_int_equal(wsref_server_bind(t->srv, err, sizeof err), 0);
  t->port = wsref_server_port(t->srv);
  assert_true(t->port != 0);
  t->run_result = 1;
  assert_int_equal(pthread_create(&t->th, NULL, run_thread, t), 0);
  return t;
}

static tsrv *start(const wsref_server_options *base) {
  return start_with(base, NULL, NULL);
}

static int stop(tsrv *t) {
  wsref_server_stop(t->srv);
  pthread_join(t->th, NULL);
  int r = t->run_result;
  wsref_server_free(t->srv);
  wsref_registry_free(t->reg);
  pthread_mutex_destroy(&t->mu);
  free(t);
  return r;
}

/* ---- a plain socket peer ---- */

static int dial(uint16_t port) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  assert_true(fd >= 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof a), 0);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  /* A test never waits forever on a silent server. */
  struct timeval tv = {.tv_sec = 5};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  return fd;
}

static void put(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n > 0) {
    ssize_t w = send(fd, b, n, MSG_NOSIGNAL);
    assert_true(w > 0);
    b += w;
    n -= (size_t)w;
  }
}

static void put_hex(int fd, const char *hex) {
  uint8_t buf[1024];
  size_t n = peer_unhex(hex, buf, sizeof buf);
  assert_true(n != (size_t)-1);
  put(fd, buf, n);
}

/* Read exactly n bytes (fails on EOF or timeout). */
static void get(int fd, uint8_t *out, size_t n) {
  size_t have = 0;
  while (have < n) {
    ssize_t r = recv(fd, out + have, n - have, 0);
    if (r <= 0)
      fail_msg("expected %zu bytes, got %zu then %s", n, have, r == 0 ? "EOF" : "timeout");
    have += (size_t)r;
  }
}

static void expect_hex(int fd, const char *hex) {
  uint8_t want[1024], got[1024];
  size_t n = peer_unhex(hex, want, sizeof want);
  assert_true(n != (size_t)-1);
  get(fd, got, n);
  if (memcmp(got, want, n) != 0) {
    char a[3200], b[3200];
    peer_hex(want, n, a);
    peer_hex(got, n, b);
    fail_msg("want %s\n got %s", a, b);
  }
}

static void expect_text(int fd, const char *text) {
  size_t n = strlen(text);
  char *got = malloc(n + 1);
  get(fd, (uint8_t *)got, n);
  got[n] = '\0';
  assert_string_equal(got, text);
  free(got);
}

/* The server closed TCP: the next read returns 0 (not a timeout, not a reset). */
static void expect_eof(int fd) {
  uint8_t b[64];
  ssize_t r = recv(fd, b, sizeof b, 0);
  if (r != 0) fail_msg("expected EOF, got %zd (%s)", r, r < 0 ? strerror(errno) : "data");
}

static void pause_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

/* RFC 6455 section 1.3 sample request (path changed) and its exact 101 answer. */
static void handshake_path(int fd, const char *path) {
  char req[512];
  int n = snprintf(req, sizeof req,
                   "GET %s HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   "Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n",
                   path);
  put(fd, req, (size_t)n);
  expect_text(fd,
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
}

/* Client close 1000 (masked with the sample key), the echoed close, then the server's FIN. */
static void close_handshake(int fd) {
  put_hex(fd, "88 82 37fa213d 34 12"); /* 03 e8 masked */
  expect_hex(fd, "88 02 03 e8");
  expect_eof(fd);
}

/* ---- tests ---- */

static void test_echo_rfc_sample(void **state) {
  (void)state;
  tsrv *t = start(NULL);
  int fd = dial(t->port);
  handshake_path(fd, "/echo");
  /* RFC 6455 5.7: a single-frame masked text message "Hello". */
  put_hex(fd, "81 85 37 fa 21 3d 7f 9f 4d 51 58");
  expect_hex(fd, "81 05 48 65 6c 6c 6f");
  /* Binary stays binary, byte-exact (00 ff 80 masked with the sample key). */
  put_hex(fd, "82 83 37 fa 21 3d 37 05 a1");
  expect_hex(fd, "82 03 00 ff 80");
  /* Empty text message. */
  put_hex(fd, "81 80 37 fa 21 3d");
  expect_hex(fd, "81 00");
  /* RFC 6455 5.7 masked ping "Hello" -> unmasked pong "Hello". */
  put_hex(fd, "89 85 37 fa 21 3d 7f 9f 4d 51 58");
  expect_hex(fd, "8a 05 48 65 6c 6c 6f");
  close_handshake(fd);
  close(fd);
  assert_int_equal(stop(t), 0);
}

/* A client that sends its first frames right behind the request, in one write. */
static void test_pipelined_first_frame(void **state) {
  (void)state;
  tsrv *t = start(NULL);
  int fd = dial(t->port);
  const char *req =
      "GET /echo HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  uint8_t buf[512];
  size_t n = strlen(req);
  memcpy(buf, req, n);
  n += peer_unhex("81 85 37 fa 21 3d 7f 9f 4d 51 58  82 83 37 fa 21 3d 37 05 a1", buf + n,
                  sizeof buf - n);
  put(fd, buf, n);
  expect_text(fd,
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  expect_hex(fd, "81 05 48 65 6c 6c 6f 82 03 00 ff 80");
  close_handshake(fd);
  close(fd);
  assert_int_equal(stop(t), 0);
}

/* The handshake and a frame written one octet at a time still make one message. */
static void test_echo_bytewise(void **state) {
  (void)state;
  tsrv *t = start(NULL);
  int fd = dial(t->port);
  const char *req =
      "GET /echo HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  for (const char *p = req; *p; p++) {
    put(fd, p, 1);
    if ((p - req) % 16 == 0) pause_ms(1);
  }
  expect_text(fd,
              "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
              "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n");
  uint8_t frame[11];
  peer_unhex("81 85 37 fa 21 3d 7f 9f 4d 51 58", frame, sizeof frame);
  for (size_t i = 0; i < sizeof frame; i++) {
    put(fd, frame + i, 1);
    pause_ms(2);
  }
  expect_hex(fd, "81 05 48 65 6c 6c 6f");
  close_handshake(fd);
  close(fd);
  assert_int_equal(stop(t), 0);
}

/* /echo-partial echoes every received piece as it arrives, is_last carried through. */
static void test_echo_partial(void **state) {
  (void)state;
  tsrv *t = start(NULL);
  int fd = dial(t->port);
  handshake_path(fd, "/echo-partial");
  /* Fragmented "Hel" + "lo": each frame comes back as a fragment. */
  put_hex(fd, "01 83 37 fa 21 3d 7f 9f 4d");
  expect_hex(fd, "01 03 48 65 6c");
  put_hex(fd, "80 82 37 fa 21 3d 5b 95");
  expect_hex(fd, "80 02 6c 6f");
  /* One frame "Hello" in two TCP writes: the first piece goes back as a non-final
   * fragment, the rest as the final continuation. */
  put_hex(fd, "81 85 37 fa 21 3d 7f 9f");
  expect_hex(fd, "01 02 48 65");
  pause_ms(20);
  put_hex(fd, "4d 51 58");
  expect_hex(fd, "80 03 6c 6c 6f");
  /* A text frame cut inside a UTF-8 sequence (c3 | a9 = U+00E9): each piece goes back
   * as it came; the outgoing check is incremental too. */
  put_hex(fd, "81 82 37 fa 21 3d f4");
  expect_hex(fd, "01 01 c3");
  pause_ms(20);
  put_hex(fd, "53");
  expect_hex(fd, "80 01 a9");
  /* A binary message whole in one write comes back whole. */
  put_hex(fd, "82 83 37 fa 21 3d 37 05 a1");
  expect_hex(fd, "82 03 00 ff 80");
  close_handshake(fd);
  close(fd);
  assert_int_equal(stop(t), 0);
}

/* /text echoes text and refuses binary with 1003; the server then completes the closing
 * handshake and closes TCP. */
static void test_text_only(void **state) {
  (void)state;
  tsrv *t = start(NULL);
  int fd = dial(t->port);
  handshake_path(fd, "/text");
  put_hex(fd, "81 85 37 fa 21 3d 7f 9f 4d 51 58");
  expect_hex(fd, "81 05 48 65 6c 6c 6f");
  put_hex(fd, "82 83 37 fa 21 3d 37 05 a1");
  expect_hex(fd, "88 02 03 eb");
  put_hex(fd, "88 82 37 fa 21 3d 34 11"); /* 03 eb masked */
  expect_eof(fd);
  close(fd);
  assert_int_equal(stop(t), 0);
}

static void test_unknown_path_404(void **state) {
  (void)state;
  tsrv *t = start(NULL);
  int fd = dial(t->port);
  const char *req =
      "GET /nope HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
  put(fd, req, strlen(req));
  expect_text(fd,
              "HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 35\r\n"
              "Connection: close\r\n\r\nno WebSocket endpoint at this path\n");
  expect_eof(fd);
  close(fd);
  assert_int_equal(stop(t), 0);
  /* (the log is gone with the server; see test_log_lines for log content) */
}

/* A protocol error: the close frame must reach the peer even though the peer keeps
 * sending (the lingering close keeps unread input from turning FIN into RST). */
static void test_protocol_error_close_arrives(void **state) {
  (void)state;
  tsrv *t = start(NULL);
  int fd = dial(t->port);
  handshake_path(fd, "/echo");
  /* Unmasked client frame -> 1002, followed at once by more data the server never reads. */
  uint8_t junk[70000];
  memset(junk, 0x81, sizeof junk);
  junk[0] = 0x81;
  junk[1] = 0x05;
  memcpy(junk + 2, "Hello", 5);
  put(fd, junk, sizeof junk);
  expect_hex(fd, "88 02 03 ea");
  expect_eof(fd);
  close(fd);
  assert_int_equal(stop(t), 0);
}

/* Big messages both ways: the echo of 4 MiB cannot be written at once, so the server has
 * to arm EPOLLOUT and continue when the peer reads. */
static void test_big_message(void **state) {
  (void)state;
  tsrv *t = start(NULL);
  int fd = dial(t->port);
  handshake_path(fd, "/echo");
  size_t len = 4u << 20;
  uint8_t *msg = malloc(14 + len), *back = malloc(10 + len);
  assert_non_null(msg);
  assert_non_null(back);
  uint8_t key[4] = {1, 2, 3, 4};
  msg[0] = 0x82;
  msg[1] = 0x80 | 127;
  for (int i = 0; i < 8; i++) msg[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
  memcpy(msg + 10, key, 4);
  for (size_t i = 0; i < len; i++) msg[14 + i] = (uint8_t)((i * 7) ^ key[i % 4]);
  put(fd, msg, 14 + len);
  get(fd, back, 10 + len);
  assert_int_equal(back[0], 0x82);
  assert_int_equal(back[1], 127);
  for (int i = 0; i < 8; i++)
    assert_int_equal(back[2 + i], (uint8_t)((uint64_t)len >> (56 - 8 * i)));
  for (size_t i = 0; i < len; i++)
    if (back[10 + i] != (uint8_t)(i * 7)) fail_msg("payload differs at %zu", i);
  free(msg);
  free(back);
  close_handshake(fd);
  close(fd);
  assert_int_equal(stop(t), 0);
}

/* A peer that closes but never reads its echo: the server gives it the close timeout to
 * take the final output, then drops the connection instead of keeping it forever. */
static void test_peer_not_reading(void **state) {
  (void)state;
  wsref_server_options o;
  wsref_server_options_default(&o);
  o.session.close_timeout_ms = 200;
  tsrv *t = start(&o);
  int fd = dial(t->port);
  int small = 4096;
  setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  handshake_path(fd, "/echo");
  size_t len = 16u << 20;
  uint8_t *msg = calloc(1, 14 + len);
  assert_non_null(msg);
  msg[0] = 0x82;
  msg[1] = 0x80 | 127;
  for (int i = 0; i < 8; i++) msg[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
  put(fd, msg, 14 + len); /* zero mask key: payload stays zeros */
  free(msg);
  put_hex(fd, "88 82 37 fa 21 3d 34 12");
  for (int i = 0; i < 400 && !log_has(t, "does not read"); i++) pause_ms(5);
  assert_true(log_has(t, "peer does not read the final output"));
  close(fd);
  assert_int_equal(stop(t), 0);
}

/* Many connections interleaved on the one loop thread. */
static void test_many_connections(void **state) {
  (void)state;
  tsrv *t = start(NULL);
  enum { N = 64, ROUNDS = 20 };
  int fds[N];
  for (int i = 0; i < N; i++) {
    fds[i] = dial(t->port);
    handshake_path(fds[i], "/echo");
  }
  for (int r = 0; r < ROUNDS; r++) {
    for (int i = 0; i < N; i++) put_hex(fds[i], "81 85 37 fa 21 3d 7f 9f 4d 51 58");
    for (int i = 0; i < N; i++) expect_hex(fds[i], "81 05 48 65 6c 6c 6f");
  }
  for (int i = 0; i < N; i++) {
    close_handshake(fds[i]);
    close(fds[i]);
  }
  assert_int_equal(stop(t), 0);
}

/* wsref_server_stop(): open sessions get close 1001, the server waits for their close
 * frames, closes TCP, and run() returns 0. */
static void test_stop_going_away(void **state) {
  (void)state;
  tsrv *t = start(NULL);
  int a = dial(t->port), b = dial(t->port);
  handshake_path(a, "/echo");
  handshake_path(b, "/text");
  wsref_server_stop(t->srv);
  expect_hex(a, "88 02 03 e9");
  expect_hex(b, "88 02 03 e9");
  put_hex(a, "88 82 37 fa 21 3d 34 13"); /* 03 e9 masked */
  expect_eof(a);
  put_hex(b, "88 82 37 fa 21 3d 34 13");
  expect_eof(b);
  pthread_join(t->th, NULL);
  assert_int_equal(t->run_result, 0);
  assert_true(log_has(t, "shutting down"));
  /* The listener is gone. */
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(t->port)};
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), -1);
  close(fd);
  close(a);
  close(b);
  wsref_server_free(t->srv);
  wsref_registry_free(t->reg);
  pthread_mutex_destroy(&t->mu);
  free(t);
}

/* A peer that never answers the 1001 is dropped after the grace period. */
static void test_stop_grace_period(void **state) {
  (void)state;
  wsref_server_options o;
  wsref_server_options_default(&o);
  o.session.close_timeout_ms = 200;
  o.shutdown_grace_ms = 300;
  tsrv *t = start(&o);
  int a = dial(t->port);
  handshake_path(a, "/echo");
  uint64_t t0 = wsref_now_ms();
  wsref_server_stop(t->srv);
  expect_hex(a, "88 02 03 e9");
  expect_eof(a);
  pthread_join(t->th, NULL);
  uint64_t took = wsref_now_ms() - t0;
  assert_int_equal(t->run_result, 0);
  assert_true(took >= 150 && took < 2000);
  close(a);
  wsref_server_free(t->srv);
  wsref_registry_free(t->reg);
  pthread_mutex_destroy(&t->mu);
  free(t);
}

static void test_handshake_timeout(void **state) {
  (void)state;
  wsref_server_options o;
  wsref_server_options_default(&o);
  o.session.handshake_timeout_ms = 100;
  tsrv *t = start(&o);
  int fd = dial(t->port);
  put(fd, "GET /echo HTTP/1.1\r\n", 20);
  uint64_t t0 = wsref_now_ms();
  /* Whatever the session answers (maybe nothing), the connection ends soon after 100 ms. */
  uint8_t b[512];
  ssize_t r;
  while ((r = recv(fd, b, sizeof b, 0)) > 0) {
  }
  assert_int_equal(r, 0);
  uint64_t took = wsref_now_ms() - t0;
  assert_true(took >= 80 && took < 2000);
  close(fd);
  assert_int_equal(stop(t), 0);
}

/* Session timers run on the loop's heap: the idle timeout closes with 1001, and a peer
 * that ignores that close frame loses TCP after the close timeout. */
static void test_idle_and_close_timeout(void **state) {
  (void)state;
  wsref_server_options o;
  wsref_server_options_default(&o);
  o.session.idle_timeout_ms = 150;
  o.session.close_timeout_ms = 150;
  tsrv *t = start(&o);
  int fd = dial(t->port);
  handshake_path(fd, "/echo");
  uint64_t t0 = wsref_now_ms();
  /* Activity moves the idle deadline. */
  pause_ms(100);
  put_hex(fd, "81 85 37 fa 21 3d 7f 9f 4d 51 58");
  expect_hex(fd, "81 05 48 65 6c 6c 6f");
  expect_hex(fd, "88 0e 03 e9 69 64 6c 65 20 74 69 6d 65 6f 75 74"); /* "idle timeout" */
  uint64_t t1 = wsref_now_ms();
  assert_true(t1 - t0 >= 240);
  expect_eof(fd);
  assert_true(wsref_now_ms() - t1 >= 100);
  close(fd);
  assert_int_equal(stop(t), 0);
}

/* A handler that sends to *other* sessions (a broadcast): their output appears outside
 * their own processing and must be flushed by the loop (want_write -> dirty list). */
typedef struct room {
  wsref_session *members[8];
  int n;
} room;

static int room_open(wsref_session *s, void *ud) {
  room *r = ud;
  if (r->n < 8) r->members[r->n++] = s;
  return 0;
}

static int room_message(wsref_session *s, const wsref_message *m, void *ud) {
  room *r = ud;
  for (int i = 0; i < r->n; i++)
    if (r->members[i] != s) wsref_session_send(r->members[i], m);
  return 0;
}

static void room_close(wsref_session *s, const wsref_close_status *st, void *ud) {
  (void)st;
  room *r = ud;
  for (int i = 0; i < r->n; i++)
    if (r->members[i] == s) r->members[i] = r->members[--r->n];
}

static void test_broadcast_to_other_sessions(void **state) {
  (void)state;
  room rm = {{0}, 0};
  wsref_handler h = {
      .on_open = room_open, .on_message = room_message, .on_close = room_close, .ud = &rm};
  tsrv *t = start_with(NULL, "/room", &h);
  int a = dial(t->port), b = dial(t->port), c = dial(t->port);
  handshake_path(a, "/room");
  handshake_path(b, "/room");
  handshake_path(c, "/room");
  put_hex(a, "81 85 37 fa 21 3d 7f 9f 4d 51 58");
  expect_hex(b, "81 05 48 65 6c 6c 6f");
  expect_hex(c, "81 05 48 65 6c 6c 6f");
  put_hex(c, "82 83 37 fa 21 3d 37 05 a1");
  expect_hex(a, "82 03 00 ff 80");
  expect_hex(b, "82 03 00 ff 80");
  close_handshake(a);
  close_handshake(b);
  close_handshake(c);
  close(a);
  close(b);
  close(c);
  assert_int_equal(stop(t), 0);
  assert_int_equal(rm.n, 0);
}

static void test_max_connections(void **state) {
  (void)state;
  wsref_server_options o;
  wsref_server_options_default(&o);
  o.max_connections = 1;
  tsrv *t = start(&o);
  int a = dial(t->port);
  handshake_path(a, "/echo");
  int b = dial(t->port);
  expect_eof(b); /* accepted and closed at once */
  close(b);
  for (int i = 0; i < 100 && !log_has(t, "connection limit 1 reached"); i++) pause_ms(5);
  assert_true(log_has(t, "connection limit 1 reached"));
  close_handshake(a);
  close(a);
  /* The slot is free again once the first connection is gone. */
  int c = -1;
  for (int i = 0; i < 100; i++) {
    c = dial(t->port);
    const char *req =
        "GET /echo HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    put(c, req, strlen(req));
    uint8_t buf[12];
    if (recv(c, buf, sizeof buf, MSG_WAITALL) == 12 && memcmp(buf, "HTTP/1.1 101", 12) == 0) break;
    close(c);
    c = -1;
    pause_ms(10);
  }
  assert_true(c >= 0);
  close(c);
  assert_int_equal(stop(t), 0);
}

static void test_log_lines(void **state) {
  (void)state;
  tsrv *t = start(NULL);
  int fd = dial(t->port);
  handshake_path(fd, "/echo");
  close_handshake(fd);
  close(fd);
  int g = dial(t->port);
  put(g, "GET /x HTTP/1.1\r\nHost: h\r\n\r\n", 28);
  uint8_t b[512];
  while (recv(g, b, sizeof b, 0) > 0) {
  }
  close(g);
  /* The log is written by the server thread; give it a moment after our EOF. */
  for (int i = 0; i < 100 && !log_has(t, "close 1000"); i++) pause_ms(5);
  assert_true(log_has(t, "] accept"));
  assert_true(log_has(t, "] open /echo"));
  assert_true(log_has(t, "] close 1000"));
  assert_true(log_has(t, "handshake 4"));
  /* Sessions are numbered per server, in accept order: repeatable logs. */
  assert_true(log_has(t, "[1 127.0.0.1:"));
  assert_true(log_has(t, "[2 127.0.0.1:"));
  assert_int_equal(stop(t), 0);
}

/* options.session.id sets where the numbering starts (hex in the log). */
static void test_session_id_base(void **state) {
  (void)state;
  wsref_server_options o;
  wsref_server_options_default(&o);
  o.session.id = 0x100;
  tsrv *t = start(&o);
  for (int i = 0; i < 2; i++) {
    int fd = dial(t->port);
    handshake_path(fd, "/echo");
    close_handshake(fd);
    close(fd);
  }
  for (int i = 0; i < 100 && !log_has(t, "[101 127.0.0.1:"); i++) pause_ms(5);
  assert_true(log_has(t, "[100 127.0.0.1:"));
  assert_true(log_has(t, "[101 127.0.0.1:"));
  assert_int_equal(stop(t), 0);
}

static void test_options_and_errors(void **state) {
  (void)state;
  wsref_registry *reg = wsref_registry_new();
  assert_int_equal(wsref_echo_register(reg), 0);
  /* Registering twice is refused, not duplicated. */
  assert_int_equal(wsref_echo_register(reg), WSREF_E_INVALID_ARG);
  char err[256];
  wsref_server_options o;
  wsref_server_options_default(&o);
  assert_string_equal(o.host, "127.0.0.1");
  assert_int_equal(o.read_buffer, 256 * 1024);
  o.tls_cert = "/nonexistent/cert.pem";
  assert_null(wsref_server_new(reg, &o, err, sizeof err)); /* key missing */
  assert_non_null(strstr(err, "certificate and a private key"));
  o.tls_key = "/nonexistent/key.pem";
  assert_null(wsref_server_new(reg, &o, err, sizeof err));
  assert_non_null(strstr(err, "/nonexistent/cert.pem"));
  wsref_server_options_default(&o);
  o.host = "no-such-host.invalid";
  wsref_server *srv = wsref_server_new(reg, &o, err, sizeof err);
  assert_non_null(srv);
  assert_int_equal(wsref_server_run(srv), WSREF_E_STATE); /* not bound */
  assert_int_equal(wsref_server_bind(srv, err, sizeof err), WSREF_E_RESOLVE);
  wsref_server_free(srv);
  /* A port in use. */
  wsref_server_options_default(&o);
  wsref_server *a = wsref_server_new(reg, &o, err, sizeof err);
  assert_int_equal(wsref_server_bind(a, err, sizeof err), 0);
  char url[64];
  snprintf(url, sizeof url, "ws://127.0.0.1:%u", wsref_server_port(a));
  assert_string_equal(wsref_server_url(a), url);
  o.port = wsref_server_port(a);
  wsref_server *b = wsref_server_new(reg, &o, err, sizeof err);
  assert_int_equal(wsref_server_bind(b, err, sizeof err), WSREF_E_IO);
  assert_non_null(strstr(err, "in use"));
  wsref_server_free(b);
  wsref_server_free(a);
  /* The demo handlers are what wsref_text_handler() and a plain handler build. */
  wsref_handler th = wsref_text_handler(wsref_echo_on_message, NULL);
  assert_int_equal(wsref_echo_text_handler()->accept, th.accept);
  assert_ptr_equal(wsref_echo_text_handler()->on_message, th.on_message);
  assert_false(wsref_echo_text_handler()->partial_messages);
  assert_true(wsref_echo_partial_handler()->partial_messages);
  assert_int_equal(wsref_echo_handler()->accept, 0);
  assert_ptr_equal(wsref_registration_handler(wsref_registry_find(reg, "/echo-partial", 13)),
                   wsref_echo_partial_handler());
  wsref_registry_free(reg);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_echo_rfc_sample),
      cmocka_unit_test(test_pipelined_first_frame),
      cmocka_unit_test(test_echo_bytewise),
      cmocka_unit_test(test_echo_partial),
      cmocka_unit_test(test_text_only),
      cmocka_unit_test(test_unknown_path_404),
      cmocka_unit_test(test_protocol_error_close_arrives),
      cmocka_unit_test(test_big_message),
      cmocka_unit_test(test_peer_not_reading),
      cmocka_unit_test(test_many_connections),
      cmocka_unit_test(test_stop_going_away),
      cmocka_unit_test(test_stop_grace_period),
      cmocka_unit_test(test_handshake_timeout),
      cmocka_unit_test(test_idle_and_close_timeout),
      cmocka_unit_test(test_broadcast_to_other_sessions),
      cmocka_unit_test(test_max_connections),
      cmocka_unit_test(test_log_lines),
      cmocka_unit_test(test_session_id_base),
      cmocka_unit_test(test_options_and_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
