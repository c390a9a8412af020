/* The runner (harness/runner.h) against scripted fake servers in threads: a correct echo server
 * gets PASS, and servers that break one rule each (mask their frames, ignore RSV bits, close
 * with the wrong code, echo invalid UTF-8, answer with a wrong accept, never close TCP) get
 * FAIL with the evidence that says why. Also: levels and alternatives, timing (a case ends when
 * decided; waits only when waiting is tested), pings, parallel runs, TCP chopping. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"
#include "case.h"
#include "codec/frame.h"
#include "codec/mask.h"
#include "codec/utf8.h"
#include "handshake/accept.h"
#include "handshake/http.h"
#include "result.h"
#include "runner.h"

/* ------------------------------------------------------------------------------------------
 * A scripted server: correct unless an option breaks one rule.
 */

typedef struct fake_opts {
  bool wrong_accept;       /* 101 with a wrong Sec-WebSocket-Accept */
  bool mask;               /* masks the frames it sends */
  bool lenient_rsv;        /* echoes frames with RSV bits instead of failing */
  bool lenient_utf8;       /* echoes invalid UTF-8 text instead of failing with 1007 */
  uint16_t fail_code;      /* code it fails the connection with; 0 = 1002 */
  bool fail_all;           /* fails the connection on the first data message */
  bool silent;             /* never echoes */
  bool ping_first;         /* sends ping "hi" right after the 101 and checks the pong */
  bool keep_tcp;           /* after the closing handshake, leaves TCP open */
  const char *subprotocol; /* selected in the 101 */
} fake_opts;

typedef struct fake {
  int lfd;
  uint16_t port;
  pthread_t th;
  fake_opts o;
  atomic_int stop;
  atomic_int active;
  atomic_int conns;
  atomic_int pong_ok;
} fake;

static void send_all(int fd, const void *p, size_t n) {
  const uint8_t *b = p;
  while (n) {
    ssize_t k = send(fd, b, n, MSG_NOSIGNAL);
    if (k <= 0) return;
    b += k;
    n -= (size_t)k;
  }
}

static void send_frame(const fake *f, int fd, uint8_t op, const uint8_t *p, size_t n) {
  wsref_frame_header h;
  memset(&h, 0, sizeof h);
  h.fin = true;
  h.opcode = op;
  h.length = n;
  h.masked = f->o.mask;
  static const uint8_t key[4] = {1, 2, 3, 4};
  if (h.masked) memcpy(h.mask, key, 4);
  uint8_t *buf = malloc(WSREF_FRAME_HEADER_MAX + n + 1);
  size_t hl = wsref_frame_header_encode(buf, &h);
  if (h.masked)
    wsref_mask_copy(buf + hl, p, n, key, 0);
  else if (n)
    memcpy(buf + hl, p, n);
  send_all(fd, buf, hl + n);
  free(buf);
}

/* Close frame, FIN, then read until the client's FIN so no reset destroys the close. */
static void close_and_drain(const fake *f, int fd, int code) {
  uint8_t pl[2] = {(uint8_t)(code >> 8), (uint8_t)code};
  if (code >= 0)
    send_frame(f, fd, WSREF_OP_CLOSE, pl, 2);
  else
    send_frame(f, fd, WSREF_OP_CLOSE, NULL, 0);
  if (f->o.keep_tcp) {
    char b[256];
    struct pollfd p = {fd, POLLIN, 0};
    while (poll(&p, 1, 5000) > 0 && recv(fd, b, sizeof b, 0) > 0) {
    }
    return;
  }
  shutdown(fd, SHUT_WR);
  char b[256];
  struct pollfd p = {fd, POLLIN, 0};
  while (poll(&p, 1, 2000) > 0 && recv(fd, b, sizeof b, 0) > 0) {
  }
}

static void serve(fake *f, int fd) {
  char req[8192];
  size_t have = 0;
  ssize_t hl = WSREF_NEED_MORE;
  wsref_http_request *rq = malloc(sizeof *rq);
  while (have < sizeof req) {
    ssize_t k = recv(fd, req + have, sizeof req - have, 0);
    if (k <= 0) break;
    have += (size_t)k;
    hl = wsref_http_parse_request(req, have, NULL, rq);
    if (hl != WSREF_NEED_MORE) break;
  }
  if (hl <= 0) {
    free(rq);
    return;
  }
  const wsref_http_header *ver =
      wsref_http_find(rq->headers, rq->nheaders, "Sec-WebSocket-Version");
  const wsref_http_header *key = wsref_http_find(rq->headers, rq->nheaders, "Sec-WebSocket-Key");
  if (!ver || !wsref_str_eq(ver->value, "13") || !key) {
    static const char r426[] =
        "HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n";
    send_all(fd, r426, sizeof r426 - 1);
    free(rq);
    shutdown(fd, SHUT_WR);
    return;
  }
  char accept[WSREF_ACCEPT_LEN + 1];
  wsref_accept_compute(key->value.p, key->value.n, accept);
  if (f->o.wrong_accept) accept[0] = accept[0] == 'A' ? 'B' : 'A';
  char resp[512];
  int rl =
      snprintf(resp, sizeof resp,
               "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Accept: %s\r\n%s%s%s\r\n",
               accept, f->o.subprotocol ? "Sec-WebSocket-Protocol: " : "",
               f->o.subprotocol ? f->o.subprotocol : "", f->o.subprotocol ? "\r\n" : "");
  send_all(fd, resp, (size_t)rl);
  if (f->o.ping_first) send_frame(f, fd, WSREF_OP_PING, (const uint8_t *)"hi", 2);

  /* the frames already read behind the request, then the socket */
  uint8_t *buf = malloc(1 << 20);
  size_t n = have - (size_t)hl;
  memcpy(buf, req + hl, n);
  free(rq);
  wsref_frame_parser p;
  wsref_frame_parser_init(&p, NULL); /* a server parser: masks required, strict */
  uint8_t *msg = malloc(1 << 20), ctl[128];
  size_t msg_len = 0, ctl_len = 0;
  int msg_op = -1;
  uint16_t fail_code = f->o.fail_code ? f->o.fail_code : 1002;
  for (;;) {
    size_t pos = 0;
    while (pos <= n) {
      wsref_frame_event ev;
      ssize_t k = wsref_frame_parse(&p, buf + pos, n - pos, &ev);
      if (k < 0) {
        close_and_drain(f, fd, fail_code);
        goto out;
      }
      pos += (size_t)k;
      if (ev.type == WSREF_FRAME_EV_NONE) break;
      const wsref_frame_header *h = ev.header;
      if (ev.type == WSREF_FRAME_EV_HEADER) {
        bool rsv = h->rsv1 || h->rsv2 || h->rsv3;
        if (rsv && !f->o.lenient_rsv) {
          close_and_drain(f, fd, fail_code);
          goto out;
        }
        if (!wsref_opcode_is_control(h->opcode)) {
          if (h->opcode != 0) msg_op = h->opcode, msg_len = 0;
        } else {
          ctl_len = 0;
        }
      } else if (ev.type == WSREF_FRAME_EV_PAYLOAD) {
        if (wsref_opcode_is_control(h->opcode)) {
          memcpy(ctl + ctl_len, ev.data, ev.len);
          ctl_len += ev.len;
        } else if (msg_len + ev.len <= (1 << 20)) {
          memcpy(msg + msg_len, ev.data, ev.len);
          msg_len += ev.len;
        }
      } else if (ev.type == WSREF_FRAME_EV_END) {
        if (h->opcode == WSREF_OP_PING) {
          send_frame(f, fd, WSREF_OP_PONG, ctl, ctl_len);
        } else if (h->opcode == WSREF_OP_PONG) {
          if (ctl_len == 2 && memcmp(ctl, "hi", 2) == 0) atomic_store(&f->pong_ok, 1);
        } else if (h->opcode == WSREF_OP_CLOSE) {
          close_and_drain(f, fd, ctl_len >= 2 ? ctl[0] << 8 | ctl[1] : -1);
          goto out;
        } else if (h->fin && msg_op >= 0) {
          if (f->o.fail_all) {
            close_and_drain(f, fd, fail_code);
            goto out;
          }
          if (msg_op == WSREF_OP_TEXT && !f->o.lenient_utf8 && !wsref_utf8_valid(msg, msg_len)) {
            close_and_drain(f, fd, 1007);
            goto out;
          }
          if (!f->o.silent) send_frame(f, fd, (uint8_t)msg_op, msg, msg_len);
          msg_op = -1;
        }
      }
    }
    ssize_t k = recv(fd, buf, 1 << 20, 0);
    if (k <= 0) break;
    n = (size_t)k;
  }
out:
  free(buf);
  free(msg);
}

typedef struct conn_arg {
  fake *f;
  int fd;
} conn_arg;

static void *conn_main(void *arg) {
  conn_arg *c = arg;
  serve(c->f, c->fd);
  close(c->fd);
  atomic_fetch_sub(&c->f->active, 1);
  free(c);
  return NULL;
}

static void *accept_main(void *arg) {
  fake *f = arg;
  while (!atomic_load(&f->stop)) {
    struct pollfd p = {f->lfd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    int fd = accept(f->lfd, NULL, NULL);
    if (fd < 0) continue;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    conn_arg *c = malloc(sizeof *c);
    c->f = f;
    c->fd = fd;
    atomic_fetch_add(&f->active, 1);
    atomic_fetch_add(&f->conns, 1);
    pthread_t t;
    if (pthread_create(&t, NULL, conn_main, c) != 0) {
      close(fd);
      atomic_fetch_sub(&f->active, 1);
      free(c);
      continue;
    }
    pthread_detach(t);
  }
  return NULL;
}

static void fake_start(fake *f, const fake_opts *o) {
  memset(f, 0, sizeof *f);
  if (o) f->o = *o;
  f->lfd = socket(AF_INET, SOCK_STREAM, 0);
  assert_true(f->lfd >= 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(f->lfd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(f->lfd, 64), 0);
  socklen_t al = sizeof a;
  getsockname(f->lfd, (struct sockaddr *)&a, &al);
  f->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&f->th, NULL, accept_main, f), 0);
}

static void fake_stop(fake *f) {
  atomic_store(&f->stop, 1);
  pthread_join(f->th, NULL);
  close(f->lfd);
  for (int i = 0; i < 500 && atomic_load(&f->active) > 0; i++) usleep(10000);
}

/* ------------------------------------------------------------------------------------------
 * Helpers
 */

typedef struct env {
  fake f;
  wsc_runner *rn;
  struct wsc_suite suite;
  wsc_result res;
  char url[64];
} env;

static void load(env *e, const char *text) {
  struct wsc_diags d = {0};
  /* every case file names a level; the line numbers in reasons below count this line */
  char *full = NULL;
  assert_true(asprintf(&full, "level MUST\n%s", text) > 0);
  int rc = wsc_suite_load_buffer("test.case", full, strlen(full), NULL, &e->suite, &d);
  free(full);
  if (rc) wsc_diags_print(&d, stderr);
  wsc_diags_free(&d);
  assert_int_equal(rc, 0);
}

static void setup(env *e, const fake_opts *o, const char *cases, uint64_t timeout_us) {
  memset(e, 0, sizeof *e);
  fake_start(&e->f, o);
  snprintf(e->url, sizeof e->url, "ws://127.0.0.1:%u/echo", e->f.port);
  wsc_runner_options ro;
  wsc_runner_options_default(&ro);
  ro.url = e->url;
  ro.jobs = 1;
  if (timeout_us) ro.timeout_us = timeout_us;
  char err[200];
  int rc;
  e->rn = wsc_runner_new(&ro, &rc, err, sizeof err);
  assert_non_null(e->rn);
  load(e, cases);
}

static const wsc_result *run1(env *e, size_t i) {
  wsc_result_free(&e->res);
  assert_true(i < e->suite.ncases);
  wsc_runner_run_case(e->rn, &e->suite.cases[i], &e->res);
  return &e->res;
}

static void teardown(env *e) {
  wsc_result_free(&e->res);
  wsc_runner_free(e->rn);
  wsc_suite_free(&e->suite);
  fake_stop(&e->f);
}

static bool has_finding(const wsc_result *r, const char *rule) {
  for (size_t i = 0; i < r->nfindings; i++)
    if (strcmp(r->findings[i].rule, rule) == 0) return true;
  return false;
}

static bool reason_has(const wsc_result *r, const char *s) {
  if (!r->reason || !strstr(r->reason, s)) {
    print_error("reason: %s\n", r->reason ? r->reason : "(null)");
    return false;
  }
  return true;
}

static const char echo_case[] =
    "clause RFC6455 5.6\n"
    "case t.echo \"echo\"\n"
    "  send text \"Hello\"\n"
    "  expect text \"Hello\"\n"
    "  finish\n";

/* ------------------------------------------------------------------------------------------
 * Tests
 */

static void test_echo_pass(void **state) {
  (void)state;
  env e;
  setup(&e, NULL, echo_case, 0);
  const wsc_result *r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_PASS);
  assert_string_equal(r->reason, "as expected");
  assert_string_equal(r->id, "t.echo");
  assert_string_equal(r->area, "t");
  assert_string_equal(r->level, "MUST");
  assert_int_equal(r->status, 101);
  assert_int_equal(r->nfindings, 0);
  /* observed: the 101, the echo, the close reply, the TCP end */
  assert_int_equal(r->nobserved, 4);
  assert_int_equal(r->observed[0].type, WSC_EV_HTTP);
  assert_int_equal(r->observed[1].type, WSC_EV_TEXT);
  assert_memory_equal(r->observed[1].data, "Hello", 5);
  assert_int_equal(r->observed[2].type, WSC_EV_CLOSE);
  assert_int_equal(r->observed[2].code, 1000);
  assert_int_equal(r->observed[3].type, WSC_EV_TCP_FIN);
  /* the close behaviour */
  assert_int_equal(r->close.initiated_by, WSC_SIDE_HARNESS);
  assert_true(r->close.sent);
  assert_int_equal(r->close.sent_code, 1000);
  assert_true(r->close.received);
  assert_int_equal(r->close.code, 1000);
  assert_int_equal(r->close.tcp, WSC_TCP_TARGET_FIN);
  assert_true(r->close.clean);
  /* handshake and expectations are evidence */
  assert_true(r->request_len > 0 &&
              memcmp(r->request, "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:", 36) == 0);
  assert_true(r->response_len > 0 && memcmp(r->response, "HTTP/1.1 101 ", 13) == 0);
  assert_int_equal(r->nexpected, 3); /* handshake ok, text, close */
  assert_string_equal(r->expected[1].items[0], "text \"Hello\"");
  assert_true(r->expected[1].matched);
  assert_string_equal(r->expected[2].items[0], "close 1000 none clean by=suite");
  /* the wire log holds both directions byte-exact: rx = response + echo + close */
  assert_true(r->wire.has_sha256);
  assert_int_equal(r->wire.total[WSC_WIRE_RX], r->response_len + 7 + 4);
  teardown(&e);
}

static void test_masking_server_fails(void **state) {
  (void)state;
  fake_opts o = {.mask = true};
  env e;
  setup(&e, &o, echo_case, 0);
  const wsc_result *r = run1(&e, 0);
  /* the expectation matched (the observer unmasks), the finding fails the case anyway */
  assert_true(r->expected[1].matched);
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_true(has_finding(r, "server-frame-masked"));
  assert_string_equal(r->findings[0].clause, "RFC6455 5.1");
  assert_true(reason_has(r, "strict observer: RFC6455 5.1 server-frame-masked"));
  teardown(&e);
}

static const char rsv_cases[] =
    "clause RFC6455 5.2\n"
    "case t.rsv \"RSV1 without extension fails the connection\"\n"
    "  send text \"Hello\" rsv=4\n"
    "  expect fail 1002\n"
    "case t.rsv.should \"same, at SHOULD level\"\n"
    "  level SHOULD\n"
    "  send text \"Hello\" rsv=4\n"
    "  expect fail 1002\n"
    "case t.rsv.info \"same, informational\"\n"
    "  level INFO\n"
    "  send text \"Hello\" rsv=4\n"
    "  expect fail 1002\n"
    "case t.rsv.after-good \"good text, then RSV=2: echo, then fail\"\n"
    "  timeout 10s\n"
    "  send text \"Hello\"\n"
    "  send text \"Hello\" rsv=2\n"
    "  expect text \"Hello\" else=non-strict\n"
    "  expect fail 1002\n";

static void test_rsv(void **state) {
  (void)state;
  env e;
  setup(&e, NULL, rsv_cases, 0);
  const wsc_result *r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_PASS);
  assert_int_equal(r->close.initiated_by, WSC_SIDE_TARGET);
  assert_int_equal(r->close.code, 1002);
  assert_true(r->close.sent); /* the runner answered the close */
  assert_int_equal(r->close.sent_code, 1002);
  /* decided as soon as the target failed: far below the 5 s deadline */
  r = run1(&e, 3);
  assert_int_equal(r->verdict, WSC_PASS);
  assert_true(r->duration_us < 1000000);
  teardown(&e);

  fake_opts o = {.lenient_rsv = true};
  setup(&e, &o, rsv_cases, 300000);
  r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_true(
      reason_has(r, "line 5: expected the connection to close, got text (5 octets: \"Hello\")"));
  r = run1(&e, 1);
  assert_int_equal(r->verdict, WSC_NON_STRICT);
  r = run1(&e, 2);
  assert_int_equal(r->verdict, WSC_INFO);
  teardown(&e);

  /* fails at once, before echoing the good message: the non-strict branch */
  fake_opts o2 = {.fail_all = true};
  setup(&e, &o2, rsv_cases, 0);
  r = run1(&e, 3);
  assert_int_equal(r->verdict, WSC_NON_STRICT);
  assert_true(reason_has(r, "matched the NON-STRICT alternative at line 18"));
  teardown(&e);
}

static const char ping_too_long[] =
    "clause RFC6455 5.5\n"
    "case t.ping.long \"a ping payload of 126 octets fails the connection\"\n"
    "  send ping payload=repeat(\"*\", 126)\n"
    "  expect fail 1002\n";

static void test_wrong_close_code(void **state) {
  (void)state;
  env e;
  setup(&e, NULL, ping_too_long, 0);
  assert_int_equal(run1(&e, 0)->verdict, WSC_PASS);
  teardown(&e);

  fake_opts o = {.fail_code = 1000};
  setup(&e, &o, ping_too_long, 0);
  const wsc_result *r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_true(
      reason_has(r, "line 5: expected close 1002 drop by=peer: the target closed with code 1000"));
  assert_int_equal(r->close.code, 1000);
  teardown(&e);

  /* a code that may not appear on the wire is a finding as well */
  fake_opts o2 = {.fail_code = 1005};
  setup(&e, &o2, ping_too_long, 0);
  r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_true(has_finding(r, "close-code-invalid"));
  teardown(&e);
}

static const char utf8_case[] =
    "clause RFC6455 8.1\n"
    "case t.utf8 \"invalid UTF-8 text fails with 1007\"\n"
    "  send text hex\"ce ba ed a0 80\"\n"
    "  expect fail 1007\n";

static void test_invalid_utf8(void **state) {
  (void)state;
  env e;
  setup(&e, NULL, utf8_case, 0);
  const wsc_result *r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_PASS);
  assert_int_equal(r->close.code, 1007);
  teardown(&e);

  fake_opts o = {.lenient_utf8 = true};
  setup(&e, &o, utf8_case, 300000);
  r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_true(reason_has(r, "expected the connection to close, got text (5 octets: hex ceba"));
  /* and the server sent invalid UTF-8 in a text message: a finding of its own */
  assert_true(has_finding(r, "text-invalid-utf8"));
  teardown(&e);
}

static const char hs_cases[] =
    "clause RFC6455 4.2.2\n"
    "case t.hs.ok \"the default request is accepted\"\n"
    "  finish\n"
    "case t.hs.v8 \"version 8 is refused with 426\"\n"
    "  handshake set Sec-WebSocket-Version: 8\n"
    "  expect status 426\n"
    "  expect header Sec-WebSocket-Version contains 13\n";

static void test_handshake(void **state) {
  (void)state;
  env e;
  setup(&e, NULL, hs_cases, 0);
  const wsc_result *r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_PASS);
  r = run1(&e, 1);
  assert_int_equal(r->verdict, WSC_PASS);
  assert_int_equal(r->status, 426);
  assert_non_null(strstr((const char *)r->request, "\r\nSec-WebSocket-Version: 8\r\n"));
  /* the target's FIN may or may not be in before the harness hangs up */
  assert_true(r->close.tcp == WSC_TCP_TARGET_FIN || r->close.tcp == WSC_TCP_HARNESS);
  assert_false(r->close.sent); /* no WebSocket, no close frame */
  teardown(&e);

  fake_opts o = {.wrong_accept = true};
  setup(&e, &o, hs_cases, 0);
  r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_true(has_finding(r, "accept-mismatch"));
  assert_false(r->expected[0].matched);
  assert_string_equal(r->expected[0].items[0], "handshake ok");
  teardown(&e);
}

static const char timing_cases[] =
    "clause RFC6455 5.2\n"
    "case t.quiet \"nothing comes back\"\n"
    "  send binary \"abc\" len=1000\n"
    "  expect nothing 200ms\n"
    "  drop\n"
    "case t.slow \"an echo that never comes\"\n"
    "  timeout 300ms\n"
    "  send text \"Hello\"\n"
    "  expect text \"Hello\"\n"
    "case t.bounded \"a bounded wait: timeout=\"\n"
    "  send text \"Hello\"\n"
    "  expect text \"Hello\" timeout=100ms else=info\n"
    "  drop\n";

static void test_timing(void **state) {
  (void)state;
  fake_opts o = {.silent = true};
  env e;
  setup(&e, &o, timing_cases, 0);
  const wsc_result *r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_PASS);
  assert_true(r->duration_us >= 200000 && r->duration_us < 1500000);
  assert_int_equal(r->close.tcp, WSC_TCP_HARNESS);
  assert_int_equal(r->close.initiated_by, WSC_SIDE_HARNESS);

  r = run1(&e, 1);
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_true(reason_has(r, "line 10: expected text \"Hello\", nothing arrived within"));
  assert_true(r->duration_us >= 300000 && r->duration_us < 1500000);

  r = run1(&e, 2);
  assert_int_equal(r->verdict, WSC_INFO);
  assert_true(r->duration_us >= 100000 && r->duration_us < 1500000);
  teardown(&e);
}

static const char ping_case[] =
    "clause RFC6455 5.5.2\n"
    "case t.ping \"the target pings first\"\n"
    "  send text \"Hello\"\n"
    "  expect ping \"hi\"\n"
    "  expect text \"Hello\"\n"
    "  finish\n";

static void test_ping_answered(void **state) {
  (void)state;
  fake_opts o = {.ping_first = true};
  env e;
  setup(&e, &o, ping_case, 0);
  const wsc_result *r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_PASS);
  for (int i = 0; i < 100 && !atomic_load(&e.f.pong_ok); i++) usleep(10000);
  assert_true(atomic_load(&e.f.pong_ok));
  teardown(&e);

  /* the echo case does not expect the ping: the unexpected event fails it */
  setup(&e, &o, echo_case, 0);
  r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_true(reason_has(r, "line 5: expected text \"Hello\", got ping (2 octets: \"hi\")"));
  teardown(&e);
}

static const char close_case[] =
    "clause RFC6455 7.1.1\n"
    "case t.close \"clean close\"\n"
    "  timeout 400ms\n"
    "  close 1000\n"
    "  expect close 1000 none clean by=suite\n";

static const char raw_close_cases[] =
    "clause RFC6455 7.1.1\n"
    "case t.close.raw \"a hand-built close frame counts as the suite's close\"\n"
    "  send raw hex\"88 82 00 00 00 00 03 e8\"\n"
    "  expect close 1000 none clean by=suite\n"
    "case t.close.coalesced \"a close written together with a text frame\"\n"
    "  write coalesce\n"
    "  send text \"Hello\"\n"
    "  close 1000\n"
    "  flush\n"
    "  expect text \"Hello\"\n"
    "  expect close 1000 none clean by=suite\n";

static void test_unclean_close(void **state) {
  (void)state;
  env e;
  setup(&e, NULL, close_case, 0);
  assert_int_equal(run1(&e, 0)->verdict, WSC_PASS);
  teardown(&e);

  setup(&e, NULL, raw_close_cases, 0);
  const wsc_result *rr = run1(&e, 0);
  assert_int_equal(rr->verdict, WSC_PASS);
  assert_int_equal(rr->close.sent_code, 1000);
  assert_int_equal(rr->close.initiated_by, WSC_SIDE_HARNESS);
  rr = run1(&e, 1);
  assert_int_equal(rr->verdict, WSC_PASS);
  assert_true(rr->close.clean);
  teardown(&e);

  fake_opts o = {.keep_tcp = true};
  setup(&e, &o, close_case, 0);
  const wsc_result *r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_true(reason_has(r, "not a clean close"));
  assert_int_equal(r->close.tcp, WSC_TCP_HARNESS);
  assert_false(r->close.clean);
  assert_true(r->duration_us >= 400000);
  teardown(&e);
}

static const char sub_case[] =
    "clause RFC6455 4.2.2\n"
    "case t.sub \"a subprotocol\"\n"
    "  requires subprotocol chat\n"
    "  expect header Sec-WebSocket-Protocol = chat\n"
    "  finish\n";

static void test_requirements(void **state) {
  (void)state;
  env e;
  setup(&e, NULL, sub_case, 0);
  const wsc_result *r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_UNSUPPORTED);
  assert_string_equal(r->reason, "the target did not select subprotocol chat");
  assert_non_null(strstr((const char *)r->request, "\r\nSec-WebSocket-Protocol: chat\r\n"));
  teardown(&e);

  fake_opts o = {.subprotocol = "chat"};
  setup(&e, &o, sub_case, 0);
  assert_int_equal(run1(&e, 0)->verdict, WSC_PASS);
  teardown(&e);

  /* choosing what was not offered is a finding */
  fake_opts o2 = {.subprotocol = "other"};
  setup(&e, &o2, echo_case, 0);
  r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_true(has_finding(r, "subprotocol-not-offered"));
  teardown(&e);
}

static void test_unreachable(void **state) {
  (void)state;
  env e;
  setup(&e, NULL, echo_case, 0);
  fake_stop(&e.f);
  /* a port nobody listens on: reuse the stopped fake's */
  const wsc_result *r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_ERROR);
  assert_true(reason_has(r, "cannot connect: cannot connect to 127.0.0.1 port"));
  assert_int_equal(r->close.tcp, WSC_TCP_NEVER);
  char err[200];
  assert_int_not_equal(wsc_runner_probe(e.rn, err, sizeof err), 0);
  wsc_result_free(&e.res);
  wsc_runner_free(e.rn);
  wsc_suite_free(&e.suite);
}

static const char chop_cases[] =
    "clause RFC6455 5.2\n"
    "case t.chop.{n} \"octet-wise frame {n}\"\n"
    "  each n = 1..8\n"
    "  send text \"Hello\" chop=1\n"
    "  expect text \"Hello\"\n"
    "  finish\n";

static void test_parallel_and_chop(void **state) {
  (void)state;
  env e;
  setup(&e, NULL, chop_cases, 0);
  assert_int_equal(e.suite.ncases, 8);
  const struct wsc_case *list[8];
  for (size_t i = 0; i < 8; i++) list[i] = &e.suite.cases[i];
  wsc_runner_free(e.rn);
  wsc_runner_options ro;
  wsc_runner_options_default(&ro);
  ro.url = e.url;
  ro.jobs = 4;
  char err[200];
  int rc;
  e.rn = wsc_runner_new(&ro, &rc, err, sizeof err);
  assert_non_null(e.rn);
  wsc_run run;
  memset(&run, 0, sizeof run);
  assert_int_equal(wsc_runner_run(e.rn, list, 8, &run), 0);
  assert_int_equal(run.n, 8);
  for (size_t i = 0; i < 8; i++) {
    char id[32];
    snprintf(id, sizeof id, "t.chop.%zu", i + 1);
    assert_string_equal(run.results[i].id, id);
    assert_int_equal(run.results[i].verdict, WSC_PASS);
  }
  assert_int_equal(atomic_load(&e.f.conns), 8);
  /* the 11-octet frame went out in 11 writes of one octet */
  const wsc_wirelog *w = &run.results[0].wire;
  size_t ones = 0;
  for (size_t i = 0; i < w->n; i++)
    ones += w->chunks[i].dir == WSC_WIRE_TX && w->chunks[i].len == 1;
  assert_int_equal(ones, 11);
  wsc_run_free(&run);
  teardown(&e);
}

static void test_request(void **state) {
  (void)state;
  env e;
  setup(&e, NULL,
        "clause RFC6455 4.1\n"
        "case t.req \"edits\"\n"
        "  handshake set Upgrade: WebSocket\n"
        "  handshake add X-A: 1\n"
        "  handshake remove Connection\n"
        "  handshake set Connection: keep-alive, Upgrade\n"
        "  finish\n",
        0);
  uint8_t *req;
  size_t n;
  assert_int_equal(
      wsc_runner_build_request(e.rn, &e.suite.cases[0], "dGhlIHNhbXBsZSBub25jZQ==", &req, &n), 0);
  char want[512];
  snprintf(want, sizeof want,
           "GET /echo HTTP/1.1\r\nHost: 127.0.0.1:%u\r\nUpgrade: WebSocket\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           "X-A: 1\r\nConnection: keep-alive, Upgrade\r\n\r\n",
           e.f.port);
  assert_int_equal(n, strlen(want));
  assert_memory_equal(req, want, n);
  free(req);
  assert_int_equal(run1(&e, 0)->verdict, WSC_PASS);
  teardown(&e);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_echo_pass),     cmocka_unit_test(test_masking_server_fails),
      cmocka_unit_test(test_rsv),           cmocka_unit_test(test_wrong_close_code),
      cmocka_unit_test(test_invalid_utf8),  cmocka_unit_test(test_handshake),
      cmocka_unit_test(test_timing),        cmocka_unit_test(test_ping_answered),
      cmocka_unit_test(test_unclean_close), cmocka_unit_test(test_requirements),
      cmocka_unit_test(test_unreachable),   cmocka_unit_test(test_parallel_and_chop),
      cmocka_unit_test(test_request),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
