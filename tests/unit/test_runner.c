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
#include "conn.h"
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
  bool interim;            /* 100 Continue and 103 Early Hints before the 101 */
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
  if (f->o.interim) {
    static const char hints[] = "HTTP/1.1 100 Continue\r\n\r\n"
                                "HTTP/1.1 103 Early Hints\r\nLink: </a.css>\r\n\r\n";
    send_all(fd, hints, 10);
    usleep(20000);
    send_all(fd, hints + 10, sizeof hints - 11);
  }
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

static bool wire_has_note(const wsc_wirelog *w, const char *s) {
  for (size_t i = 0; i < w->n; i++)
    if (w->chunks[i].dir == WSC_WIRE_NOTE && w->chunks[i].note && strstr(w->chunks[i].note, s))
      return true;
  print_error("no wire note with: %s\n", s);
  return false;
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

/* Pauses the case asks for never outlast its timeout: the case ends at the timeout as
 * ERROR (a case problem), with what was not sent in the wire log. */
static const char pause_cases[] =
    "clause RFC6455 5.2\n"
    "case t.pauses \"write pauses longer than the timeout\"\n"
    "  timeout 300ms\n"
    "  send text \"Hello, world\" chop=1 delay=100ms\n"
    "  expect text \"Hello, world\"\n"
    "case t.sleepy \"a sleep longer than the timeout\"\n"
    "  timeout 200ms\n"
    "  sleep 5s\n"
    "  send text \"x\"\n"
    "  expect text \"x\"\n";

static void test_pauses_bounded_by_timeout(void **state) {
  (void)state;
  env e;
  setup(&e, NULL, pause_cases, 0);
  const wsc_result *r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_ERROR);
  assert_true(reason_has(r, "line 5: the pauses the case asks for outlast its timeout (300 ms)"));
  assert_true(r->duration_us >= 250000 && r->duration_us < 1500000);
  assert_true(wire_has_note(&r->wire, "line 5: 15 of 18 octets not sent: the case timeout passed"));

  r = run1(&e, 1);
  assert_int_equal(r->verdict, WSC_ERROR);
  assert_true(reason_has(r, "line 9 (sleep): the pauses the case asks for outlast its timeout"));
  assert_true(r->duration_us >= 150000 && r->duration_us < 1500000);
  teardown(&e);
}

/* Interim 1xx responses before the 101 are skipped and noted (RFC 9110 15.2). */
static void test_interim_responses(void **state) {
  (void)state;
  fake_opts o = {.interim = true};
  env e;
  setup(&e, &o, echo_case, 0);
  const wsc_result *r = run1(&e, 0);
  assert_int_equal(r->verdict, WSC_PASS);
  assert_int_equal(r->status, 101);
  assert_true(r->response_len > 0 && memcmp(r->response, "HTTP/1.1 101 ", 13) == 0);
  assert_true(wire_has_note(&r->wire, "interim response 100 skipped (RFC 9110 15.2)"));
  assert_true(wire_has_note(&r->wire, "interim response 103 skipped"));
  teardown(&e);
}

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

  /* lacks: the token is in no field of that name (an absent field lacks every token) */
  static const char lacks_cases[] =
      "clause RFC6455 4.2.2\n"
      "case t.lacks \"lacks holds\"\n"
      "  requires subprotocol chat\n"
      "  expect header Sec-WebSocket-Protocol lacks superchat\n"
      "  expect header X-None lacks x\n"
      "  finish\n"
      "case t.lacks.not \"lacks fails\"\n"
      "  requires subprotocol chat\n"
      "  expect header Sec-WebSocket-Protocol lacks CHAT\n"
      "  finish\n";
  setup(&e, &o, lacks_cases, 0);
  assert_int_equal(run1(&e, 0)->verdict, WSC_PASS);
  r = run1(&e, 1);
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_true(reason_has(r, "header Sec-WebSocket-Protocol lacks CHAT"));
  assert_true(reason_has(r, "Sec-WebSocket-Protocol: chat"));
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

/* ------------------------------------------------------------------------------------------
 * A scripted STOMP 1.2 broker over WebSocket, one thread per connection: CONNECT, SUBSCRIBE
 * (queue semantics: one subscriber gets each message, messages wait for a subscriber),
 * SEND, ACK (client-individual), UNSUBSCRIBE, DISCONNECT, receipts for every frame that asks,
 * ERROR then close for anything it does not understand, redelivery of unacknowledged
 * messages when a subscriber goes away, heart-beats. Correct unless an option breaks one
 * rule. Frames may arrive split across messages or several per message.
 */

typedef struct sbroker_opts {
  bool no_receipt_id;    /* RECEIPT without receipt-id */
  bool receipt_body;     /* RECEIPT with a body */
  bool stay_after_error; /* ERROR, then the connection stays open */
  bool no_subscription;  /* MESSAGE without subscription */
  uint32_t heartbeat_ms; /* sx of CONNECTED; beats every max(sx, cy) */
} sbroker_opts;

typedef struct sbroker sbroker;

typedef struct sconn {
  sbroker *b;
  int fd;
  pthread_mutex_t wmu;
  bool alive;
} sconn;

typedef struct ssub {
  sconn *c;
  char id[64], dest[160];
  bool client_ack;
} ssub;

typedef struct smsg {
  char dest[160];
  char body[512];
  size_t body_len;
} smsg;

typedef struct sunacked {
  sconn *c;
  char ackid[32];
  smsg m;
} sunacked;

struct sbroker {
  int lfd;
  uint16_t port;
  pthread_t th;
  sbroker_opts o;
  atomic_int stop, active, messages_in;
  pthread_mutex_t mu;
  ssub subs[32];
  size_t nsubs;
  smsg queue[32];
  size_t nqueue;
  sunacked un[32];
  size_t nun;
  unsigned next_id;
};

static void s_send_text(sconn *c, const void *p, size_t n) {
  uint8_t h[WSREF_FRAME_HEADER_MAX];
  wsref_frame_header fh;
  memset(&fh, 0, sizeof fh);
  fh.fin = true;
  fh.opcode = WSREF_OP_TEXT;
  fh.length = n;
  size_t hl = wsref_frame_header_encode(h, &fh);
  pthread_mutex_lock(&c->wmu);
  if (c->alive) {
    send_all(c->fd, h, hl);
    send_all(c->fd, p, n);
  }
  pthread_mutex_unlock(&c->wmu);
}

static void s_close(sconn *c, uint16_t code) {
  uint8_t fr[4] = {0x88, 2, (uint8_t)(code >> 8), (uint8_t)code};
  pthread_mutex_lock(&c->wmu);
  if (c->alive) send_all(c->fd, fr, 4);
  shutdown(c->fd, SHUT_WR);
  c->alive = false;
  pthread_mutex_unlock(&c->wmu);
}

/* Under b->mu: hand m to the first subscriber of its destination, or queue it. */
static void s_deliver(sbroker *b, const smsg *m) {
  for (size_t i = 0; i < b->nsubs; i++) {
    ssub *s = &b->subs[i];
    if (strcmp(s->dest, m->dest) != 0 || !s->c->alive) continue;
    unsigned id = ++b->next_id;
    char head[512];
    int hl =
        snprintf(head, sizeof head, "MESSAGE\n%s%s%smessage-id:%u\ndestination:%s\n",
                 b->o.no_subscription ? "" : "subscription:", b->o.no_subscription ? "" : s->id,
                 b->o.no_subscription ? "" : "\n", id, m->dest);
    if (s->client_ack) {
      hl += snprintf(head + hl, sizeof head - (size_t)hl, "ack:%u\n", id);
      sunacked *u = &b->un[b->nun++];
      u->c = s->c;
      snprintf(u->ackid, sizeof u->ackid, "%u", id);
      u->m = *m;
    }
    hl += snprintf(head + hl, sizeof head - (size_t)hl, "content-length:%zu\n\n", m->body_len);
    char out[1200];
    memcpy(out, head, (size_t)hl);
    memcpy(out + hl, m->body, m->body_len);
    out[hl + m->body_len] = 0;
    s_send_text(s->c, out, (size_t)hl + m->body_len + 1);
    return;
  }
  b->queue[b->nqueue++] = *m;
}

static const char *s_header(char **names, char **values, size_t n, const char *name) {
  for (size_t i = 0; i < n; i++)
    if (strcmp(names[i], name) == 0) return values[i];
  return NULL;
}

/* One frame. Returns false when the connection is to end. */
static bool s_frame(sconn *c, const char *cmd, char **hn, char **hv, size_t nh, const char *body,
                    size_t body_len, bool bad_header) {
  sbroker *b = c->b;
  const char *receipt = s_header(hn, hv, nh, "receipt");
  bool known = true, ok = true;
  pthread_mutex_lock(&b->mu);
  if (bad_header) {
    ok = false;
  } else if (strcmp(cmd, "CONNECT") == 0 || strcmp(cmd, "STOMP") == 0) {
    char r[128];
    int n = snprintf(r, sizeof r, "CONNECTED\nversion:1.2\nheart-beat:%u,0\nserver:fake/1\n\n",
                     b->o.heartbeat_ms);
    s_send_text(c, r, (size_t)n + 1);
  } else if (strcmp(cmd, "SUBSCRIBE") == 0) {
    ssub *s = &b->subs[b->nsubs++];
    s->c = c;
    const char *id = s_header(hn, hv, nh, "id"), *dest = s_header(hn, hv, nh, "destination");
    snprintf(s->id, sizeof s->id, "%s", id ? id : "");
    snprintf(s->dest, sizeof s->dest, "%s", dest ? dest : "");
    const char *ack = s_header(hn, hv, nh, "ack");
    s->client_ack = ack && strcmp(ack, "auto") != 0;
    /* waiting messages first */
    size_t nq = b->nqueue;
    smsg q[32];
    memcpy(q, b->queue, nq * sizeof *q);
    b->nqueue = 0;
    for (size_t i = 0; i < nq; i++) s_deliver(b, &q[i]);
  } else if (strcmp(cmd, "SEND") == 0) {
    smsg m;
    memset(&m, 0, sizeof m);
    const char *dest = s_header(hn, hv, nh, "destination");
    snprintf(m.dest, sizeof m.dest, "%s", dest ? dest : "");
    m.body_len = body_len < sizeof m.body ? body_len : sizeof m.body;
    memcpy(m.body, body, m.body_len);
    s_deliver(b, &m);
  } else if (strcmp(cmd, "ACK") == 0) {
    const char *id = s_header(hn, hv, nh, "id");
    for (size_t i = 0; id && i < b->nun; i++)
      if (b->un[i].c == c && strcmp(b->un[i].ackid, id) == 0) {
        b->un[i] = b->un[--b->nun];
        break;
      }
  } else if (strcmp(cmd, "UNSUBSCRIBE") == 0) {
    const char *id = s_header(hn, hv, nh, "id");
    for (size_t i = 0; id && i < b->nsubs; i++)
      if (b->subs[i].c == c && strcmp(b->subs[i].id, id) == 0) {
        b->subs[i] = b->subs[--b->nsubs];
        break;
      }
  } else if (strcmp(cmd, "DISCONNECT") != 0) {
    known = false;
  }
  pthread_mutex_unlock(&b->mu);
  if (!known || !ok) {
    char r[256];
    int n =
        snprintf(r, sizeof r, "ERROR\nmessage:%s\n%s%s%s\n", ok ? "unknown command" : "bad header",
                 receipt ? "receipt-id:" : "", receipt ? receipt : "", receipt ? "\n" : "");
    s_send_text(c, r, (size_t)n + 1);
    if (!b->o.stay_after_error) {
      s_close(c, 1002);
      return false;
    }
    return true;
  }
  if (receipt) {
    char r[256];
    int n = snprintf(r, sizeof r, "RECEIPT\n%s%s%s\n%s",
                     b->o.no_receipt_id ? "" : "receipt-id:", b->o.no_receipt_id ? "" : receipt,
                     b->o.no_receipt_id ? "" : "\n", b->o.receipt_body ? "body" : "");
    s_send_text(c, r, (size_t)n + 1);
  }
  if (strcmp(cmd, "DISCONNECT") == 0) {
    s_close(c, 1000);
    return false;
  }
  return true;
}

/* Takes the complete frames off the front of buf (leading EOLs are heart-beats). */
static bool s_frames(sconn *c, uint8_t *buf, size_t *len) {
  size_t pos = 0;
  bool go = true;
  while (go && pos < *len) {
    if (buf[pos] == '\n' || buf[pos] == '\r') {
      pos++;
      continue;
    }
    uint8_t *p = buf + pos, *end = buf + *len;
    uint8_t *lf = memchr(p, '\n', (size_t)(end - p));
    if (!lf) break;
    char cmd[64];
    size_t cl = (size_t)(lf - p);
    if (cl && p[cl - 1] == '\r') cl--;
    snprintf(cmd, sizeof cmd, "%.*s", (int)cl, (const char *)p);
    char *hn[32], *hv[32];
    size_t nh = 0;
    bool bad = false, complete = false;
    uint8_t *q = lf + 1;
    long clen = -1;
    for (;;) {
      uint8_t *e = memchr(q, '\n', (size_t)(end - q));
      if (!e) break;
      size_t ll = (size_t)(e - q);
      if (ll && q[ll - 1] == '\r') ll--;
      if (ll == 0) {
        q = e + 1;
        complete = true;
        break;
      }
      uint8_t *colon = memchr(q, ':', ll);
      if (!colon) {
        bad = true;
      } else if (nh < 32) {
        hn[nh] = strndup((const char *)q, (size_t)(colon - q));
        hv[nh] = strndup((const char *)colon + 1, ll - (size_t)(colon - q) - 1);
        if (strcmp(hn[nh], "content-length") == 0 && clen < 0) clen = atol(hv[nh]);
        nh++;
      }
      q = e + 1;
    }
    size_t body_len = 0;
    uint8_t *nul = NULL;
    if (complete) {
      if (clen >= 0) {
        if ((size_t)(end - q) > (size_t)clen) nul = q + clen;
      } else {
        nul = memchr(q, 0, (size_t)(end - q));
      }
      if (nul) body_len = (size_t)(nul - q);
    }
    if (nul) {
      go = s_frame(c, cmd, hn, hv, nh, (const char *)q, body_len, bad);
      pos = (size_t)(nul + 1 - buf);
    }
    for (size_t i = 0; i < nh; i++) {
      free(hn[i]);
      free(hv[i]);
    }
    if (!nul) break;
  }
  memmove(buf, buf + pos, *len - pos);
  *len -= pos;
  return go;
}

static void s_serve(sconn *c) {
  sbroker *b = c->b;
  char req[8192];
  size_t have = 0;
  ssize_t hl = WSREF_NEED_MORE;
  wsref_http_request *rq = malloc(sizeof *rq);
  while (have < sizeof req) {
    ssize_t k = recv(c->fd, req + have, sizeof req - have, 0);
    if (k <= 0) break;
    have += (size_t)k;
    hl = wsref_http_parse_request(req, have, NULL, rq);
    if (hl != WSREF_NEED_MORE) break;
  }
  if (hl <= 0) {
    free(rq);
    return;
  }
  const wsref_http_header *key = wsref_http_find(rq->headers, rq->nheaders, "Sec-WebSocket-Key");
  bool v12 = wsref_http_has_token(rq->headers, rq->nheaders, "Sec-WebSocket-Protocol", "v12.stomp");
  char accept[WSREF_ACCEPT_LEN + 1];
  wsref_accept_compute(key->value.p, key->value.n, accept);
  char resp[512];
  int rl = snprintf(resp, sizeof resp,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: "
                    "Upgrade\r\nSec-WebSocket-Accept: %s\r\n%s\r\n",
                    accept, v12 ? "Sec-WebSocket-Protocol: v12.stomp\r\n" : "");
  send_all(c->fd, resp, (size_t)rl);
  uint8_t *in = malloc(1 << 16), *msg = malloc(1 << 16), *stomp = malloc(1 << 17), ctl[128];
  size_t n = have - (size_t)hl, msg_len = 0, stomp_len = 0, ctl_len = 0;
  memcpy(in, req + hl, n);
  free(rq);
  wsref_frame_parser p;
  wsref_frame_parser_init(&p, NULL);
  uint64_t last_beat = 0;
  for (;;) {
    size_t pos = 0;
    bool go = true;
    while (go && pos <= n) {
      wsref_frame_event ev;
      ssize_t k = wsref_frame_parse(&p, in + pos, n - pos, &ev);
      if (k < 0) {
        s_close(c, 1002);
        go = false;
        break;
      }
      pos += (size_t)k;
      if (ev.type == WSREF_FRAME_EV_NONE) break;
      const wsref_frame_header *h = ev.header;
      bool control = wsref_opcode_is_control(h->opcode);
      if (ev.type == WSREF_FRAME_EV_HEADER) {
        if (control) ctl_len = 0;
      } else if (ev.type == WSREF_FRAME_EV_PAYLOAD) {
        if (control) {
          memcpy(ctl + ctl_len, ev.data, ev.len);
          ctl_len += ev.len;
        } else if (msg_len + ev.len <= (1 << 16)) {
          memcpy(msg + msg_len, ev.data, ev.len);
          msg_len += ev.len;
        }
      } else if (ev.type == WSREF_FRAME_EV_END) {
        if (h->opcode == WSREF_OP_CLOSE) {
          uint16_t code = ctl_len >= 2 ? (uint16_t)(ctl[0] << 8 | ctl[1]) : 1000;
          s_close(c, code);
          go = false;
        } else if (!control && h->fin) {
          atomic_fetch_add(&b->messages_in, 1);
          memcpy(stomp + stomp_len, msg, msg_len);
          stomp_len += msg_len;
          msg_len = 0;
          go = s_frames(c, stomp, &stomp_len);
        }
      }
    }
    if (!go) break;
    /* heart-beats every heartbeat_ms (the tests ask cy <= sx) */
    int wait = 200;
    if (b->o.heartbeat_ms) {
      uint64_t now = wsc_now_us() / 1000;
      if (!last_beat) last_beat = now;
      if (now - last_beat >= b->o.heartbeat_ms) {
        s_send_text(c, "\n", 1);
        last_beat = now;
      }
      wait = (int)b->o.heartbeat_ms / 4 + 1;
    }
    struct pollfd pf = {c->fd, POLLIN, 0};
    int pr = poll(&pf, 1, wait);
    if (atomic_load(&b->stop)) break;
    if (pr == 0) {
      n = 0;
      continue;
    }
    ssize_t k = recv(c->fd, in, 1 << 16, 0);
    if (k <= 0) break;
    n = (size_t)k;
  }
  /* the client is gone: its unacknowledged messages go to the next subscriber */
  pthread_mutex_lock(&c->wmu);
  c->alive = false;
  pthread_mutex_unlock(&c->wmu);
  pthread_mutex_lock(&b->mu);
  for (size_t i = 0; i < b->nsubs;)
    if (b->subs[i].c == c)
      b->subs[i] = b->subs[--b->nsubs];
    else
      i++;
  smsg back[32];
  size_t nb = 0;
  for (size_t i = 0; i < b->nun;)
    if (b->un[i].c == c) {
      back[nb++] = b->un[i].m;
      b->un[i] = b->un[--b->nun];
    } else {
      i++;
    }
  for (size_t i = 0; i < nb; i++) s_deliver(b, &back[i]);
  pthread_mutex_unlock(&b->mu);
  /* drain until the client closes (no reset under its feet) */
  char d[256];
  struct pollfd pf = {c->fd, POLLIN, 0};
  while (poll(&pf, 1, 500) > 0 && recv(c->fd, d, sizeof d, 0) > 0) {
  }
  free(in);
  free(msg);
  free(stomp);
}

static void *s_conn_main(void *arg) {
  sconn *c = arg;
  s_serve(c);
  sbroker *b = c->b;
  /* the broker may still name c in a queue it hands out under mu: free under it */
  pthread_mutex_lock(&b->mu);
  close(c->fd);
  c->fd = -1;
  pthread_mutex_unlock(&b->mu);
  atomic_fetch_sub(&b->active, 1);
  return NULL;
}

typedef struct sbroker_run {
  sbroker *b;
  sconn conns[16];
  atomic_int nconns;
} sbroker_run;

static sbroker_run *SR; /* the running broker's connections, freed at stop */

static void *s_accept_main(void *arg) {
  sbroker *b = arg;
  while (!atomic_load(&b->stop)) {
    struct pollfd p = {b->lfd, POLLIN, 0};
    if (poll(&p, 1, 20) <= 0) continue;
    int fd = accept(b->lfd, NULL, NULL);
    if (fd < 0) continue;
    int i = atomic_fetch_add(&SR->nconns, 1);
    if (i >= 16) {
      close(fd);
      continue;
    }
    sconn *c = &SR->conns[i];
    c->b = b;
    c->fd = fd;
    c->alive = true;
    pthread_mutex_init(&c->wmu, NULL);
    atomic_fetch_add(&b->active, 1);
    pthread_t t;
    if (pthread_create(&t, NULL, s_conn_main, c) != 0) {
      close(fd);
      atomic_fetch_sub(&b->active, 1);
      continue;
    }
    pthread_detach(t);
  }
  return NULL;
}

static void sbroker_start(sbroker *b, const sbroker_opts *o) {
  memset(b, 0, sizeof *b);
  if (o) b->o = *o;
  SR = calloc(1, sizeof *SR);
  SR->b = b;
  pthread_mutex_init(&b->mu, NULL);
  b->lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  assert_int_equal(bind(b->lfd, (struct sockaddr *)&a, sizeof a), 0);
  assert_int_equal(listen(b->lfd, 64), 0);
  socklen_t al = sizeof a;
  getsockname(b->lfd, (struct sockaddr *)&a, &al);
  b->port = ntohs(a.sin_port);
  assert_int_equal(pthread_create(&b->th, NULL, s_accept_main, b), 0);
}

static void sbroker_stop(sbroker *b) {
  atomic_store(&b->stop, 1);
  pthread_join(b->th, NULL);
  close(b->lfd);
  for (int i = 0; i < 300 && atomic_load(&b->active) > 0; i++) usleep(10000);
  int n = atomic_load(&SR->nconns);
  for (int i = 0; i < n && i < 16; i++) pthread_mutex_destroy(&SR->conns[i].wmu);
  free(SR);
  SR = NULL;
  pthread_mutex_destroy(&b->mu);
}

typedef struct senv {
  sbroker b;
  wsc_runner *rn;
  struct wsc_suite suite;
  wsc_result res;
  char url[64];
} senv;

static void ssetup(senv *e, const sbroker_opts *o, const char *cases) {
  memset(e, 0, sizeof *e);
  sbroker_start(&e->b, o);
  snprintf(e->url, sizeof e->url, "ws://127.0.0.1:%u/stomp", e->b.port);
  wsc_runner_options ro;
  wsc_runner_options_default(&ro);
  ro.url = e->url;
  ro.jobs = 1;
  ro.run_id = "RUN1";
  ro.stomp_error_wait_us = 300000;
  ro.close_wait_us = 300000;
  char err[200];
  int rc;
  e->rn = wsc_runner_new(&ro, &rc, err, sizeof err);
  assert_non_null(e->rn);
  struct wsc_diags d = {0};
  char *full = NULL;
  assert_true(asprintf(&full, "level MUST\nclause STOMP1.2 FR-01\n%s", cases) > 0);
  rc = wsc_suite_load_buffer("stomp.case", full, strlen(full), NULL, &e->suite, &d);
  free(full);
  if (rc) wsc_diags_print(&d, stderr);
  wsc_diags_free(&d);
  assert_int_equal(rc, 0);
}

static const wsc_result *srun(senv *e, size_t i) {
  wsc_result_free(&e->res);
  assert_true(i < e->suite.ncases);
  wsc_runner_run_case(e->rn, &e->suite.cases[i], &e->res);
  return &e->res;
}

static void steardown(senv *e) {
  wsc_result_free(&e->res);
  wsc_runner_free(e->rn);
  wsc_suite_free(&e->suite);
  sbroker_stop(&e->b);
}

/* Lines 1-2 are the defaults added by ssetup: case lines count from 3. */
static const char stomp_cases[] =
    "case t.redeliver \"an unacknowledged message goes to the next subscriber\"\n" /* 3 */
    "  conn a b pub  subprotocol=v12.stomp  connect=1.2\n"
    "  a SUBSCRIBE id:0 destination:/queue/q-$run-$case ack:client-individual receipt:r1\n"
    "  a expect RECEIPT receipt-id:r1\n"
    "  pub SEND destination:/queue/q-$run-$case body=\"hello\"\n"
    "  a expect MESSAGE subscription:0 destination:/queue/q-RUN1-t.redeliver ack? body=\"hello\"\n"
    "  a close\n"
    "  a expect close\n"
    "  b SUBSCRIBE id:0 destination:/queue/q-$run-$case\n"
    "  b expect MESSAGE subscription:0 body=\"hello\"\n"
    "case t.ack \"ACK by the captured ack value; nothing comes back\"\n" /* 13 */
    "  conn a pub connect=1.2\n"
    "  a SUBSCRIBE id:s destination:/queue/ack ack:client-individual receipt:r1\n"
    "  a expect RECEIPT receipt-id:r1\n"
    "  pub SEND destination:/queue/ack body=\"m\" split=random seed=3 cuts=4\n"
    "  a expect MESSAGE subscription:s message-id:~\"[0-9]+\" ack:~\"[0-9]+\" body=\"m\"\n"
    "  a capture ackid = header ack\n"
    "  a ACK id:$ackid receipt:r-$ackid chunk=1\n"
    "  a expect RECEIPT receipt-id:r-$ackid\n"
    "  a close\n"
    "  a expect close\n"
    "  pub stomp coalesce\n"
    "  pub SEND destination:/queue/ack body=\"x\"\n"
    "  pub heartbeat 2\n"
    "  pub SEND destination:/queue/ack body=\"y\" receipt:r9\n"
    "  pub stomp flush\n"
    "  pub expect RECEIPT receipt-id:r9\n"
    "case t.error \"a bad header gets ERROR, then the close\"\n" /* 30 */
    "  conn a connect=1.2\n"
    "  a SEND destination:/q line=\"oops\" receipt:e1\n"
    "  a expect ERROR message? receipt-id:e1\n"
    "  a expect fail\n"
    "case t.receipt \"a receipt\"\n" /* 35 */
    "  conn a connect=1.2\n"
    "  a SUBSCRIBE id:0 destination:/queue/r receipt:r1\n"
    "  a expect RECEIPT receipt-id:r1\n"
    "  a expect no frame for 100ms\n"
    "case t.message \"a message\"\n" /* 40 */
    "  conn a connect=1.2\n"
    "  a SUBSCRIBE id:0 destination:/queue/m\n"
    "  a SEND destination:/queue/m body=\"z\"\n"
    "  a expect MESSAGE body=\"z\"\n"
    "case t.error-only \"ERROR without a close expectation\"\n" /* 45 */
    "  conn a connect=1.2\n"
    "  a stomp FOO\n"
    "  a expect ERROR\n"
    "case t.beat \"heart-beats within the negotiated interval\"\n" /* 49 */
    "  conn a connect=1.2 heart-beat=0,100\n"
    "  loop 3\n"
    "    a expect heartbeat within 2x\n"
    "  end\n";

static bool has_stomp_finding(const wsc_result *r, const char *rule, const char *clause) {
  for (size_t i = 0; i < r->nfindings; i++)
    if (strcmp(r->findings[i].rule, rule) == 0 &&
        (!clause || strcmp(r->findings[i].clause, clause) == 0))
      return true;
  for (size_t i = 0; i < r->nfindings; i++)
    print_error("finding: %s %s %s\n", r->findings[i].clause, r->findings[i].rule,
                r->findings[i].message);
  print_error("reason: %s\n", r->reason ? r->reason : "(null)");
  return false;
}

static void test_stomp_broker_pass(void **state) {
  (void)state;
  sbroker_opts o = {.heartbeat_ms = 100};
  senv e;
  ssetup(&e, &o, stomp_cases);
  const wsc_result *r = srun(&e, 0);
  assert_int_equal(r->verdict, WSC_PASS);
  assert_int_equal(r->nfindings, 0);
  /* evidence names the connections */
  bool named = false;
  for (size_t i = 0; i < r->nobserved; i++)
    if (r->observed[i].type == WSC_EV_STOMP && r->observed[i].conn &&
        strcmp(r->observed[i].conn, "b") == 0 && strcmp(r->observed[i].detail, "MESSAGE") == 0)
      named = true;
  assert_true(named);
  assert_string_equal(r->expected[0].items[0], "a: handshake ok");
  bool tagged = false;
  for (size_t i = 0; i < r->wire.n; i++)
    tagged |= r->wire.chunks[i].conn && strcmp(r->wire.chunks[i].conn, "pub") == 0;
  assert_true(tagged);
  assert_false(r->wire.has_sha256); /* several streams: no single hash */

  int before = atomic_load(&e.b.messages_in);
  r = srun(&e, 1);
  assert_int_equal(r->verdict, WSC_PASS);
  /* CONNECT x2, SUBSCRIBE, SEND in 5 pieces, ACK octet by octet, the coalesced message */
  const char *ack = "ACK\nid:2\nreceipt:r-2\n\n";
  int want = 2 + 1 + 5 + (int)strlen(ack) + 1 + 1;
  assert_int_equal(atomic_load(&e.b.messages_in) - before, want);

  r = srun(&e, 2);
  assert_int_equal(r->verdict, WSC_PASS);
  assert_int_equal(r->close.code, 1002);
  assert_int_equal(r->close.initiated_by, WSC_SIDE_TARGET);
  r = srun(&e, 3);
  assert_int_equal(r->verdict, WSC_PASS);
  r = srun(&e, 4);
  assert_int_equal(r->verdict, WSC_PASS);
  r = srun(&e, 5);
  assert_int_equal(r->verdict, WSC_PASS); /* the broker closed after ERROR */
  r = srun(&e, 6);
  assert_int_equal(r->verdict, WSC_PASS);
  size_t beats = 0;
  for (size_t i = 0; i < r->nobserved; i++) beats += r->observed[i].type == WSC_EV_HEARTBEAT;
  assert_true(beats >= 3);
  steardown(&e);
}

static void test_stomp_broker_no_receipt_id(void **state) {
  (void)state;
  sbroker_opts o = {.no_receipt_id = true};
  senv e;
  ssetup(&e, &o, stomp_cases);
  const wsc_result *r = srun(&e, 3);
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_true(has_stomp_finding(r, "stomp-receipt-id", "STOMP1.2 RC-02"));
  assert_non_null(
      strstr(r->reason, "line 38: expected RECEIPT receipt-id:r1, got RECEIPT (no body)"));
  steardown(&e);
}

static void test_stomp_broker_receipt_body(void **state) {
  (void)state;
  sbroker_opts o = {.receipt_body = true};
  senv e;
  ssetup(&e, &o, stomp_cases);
  const wsc_result *r = srun(&e, 3);
  /* the expectation matched; the observer fails the case */
  assert_true(r->expected[2].matched);
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_true(has_stomp_finding(r, "stomp-receipt-body", "STOMP1.2 RC-04"));
  assert_non_null(strstr(r->reason, "strict observer: STOMP1.2 RC-04 stomp-receipt-body"));
  steardown(&e);
}

static void test_stomp_broker_no_close_after_error(void **state) {
  (void)state;
  sbroker_opts o = {.stay_after_error = true};
  senv e;
  ssetup(&e, &o, stomp_cases);
  /* the case says nothing about the close: the observer does */
  const wsc_result *r = srun(&e, 5);
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_true(has_stomp_finding(r, "stomp-error-not-closed", "STOMP1.2 SF-05"));
  assert_true(r->close.initiated_by == WSC_SIDE_HARNESS);
  /* and a case that expects the close fails there too */
  r = srun(&e, 2);
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_non_null(strstr(r->reason, "line 34: expected close any none drop by=peer"));
  steardown(&e);
}

static void test_stomp_broker_no_subscription(void **state) {
  (void)state;
  sbroker_opts o = {.no_subscription = true};
  senv e;
  ssetup(&e, &o, stomp_cases);
  const wsc_result *r = srun(&e, 4);
  assert_true(r->expected[r->nexpected - 1].matched); /* `expect MESSAGE body="z"` matched */
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_true(has_stomp_finding(r, "stomp-message-subscription", "STOMP1.2 SF-03"));
  /* with a subscription check in the case, the expectation fails as well */
  r = srun(&e, 0);
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_non_null(strstr(r->reason, "line 8: a: expected MESSAGE subscription:0"));
  assert_non_null(strstr(r->reason, "no subscription header"));
  steardown(&e);
}

static void test_stomp_broker_silent_heartbeat(void **state) {
  (void)state;
  senv e;
  ssetup(&e, NULL, stomp_cases); /* sx = 0: no heart-beats can be negotiated */
  const wsc_result *r = srun(&e, 6);
  assert_int_equal(r->verdict, WSC_FAIL);
  assert_non_null(strstr(r->reason, "expected a heart-beat, but none was negotiated"));
  assert_true(r->duration_us < 1500000);
  steardown(&e);
}

int main(void) {
  signal(SIGPIPE, SIG_IGN);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_echo_pass),
      cmocka_unit_test(test_masking_server_fails),
      cmocka_unit_test(test_rsv),
      cmocka_unit_test(test_wrong_close_code),
      cmocka_unit_test(test_invalid_utf8),
      cmocka_unit_test(test_handshake),
      cmocka_unit_test(test_timing),
      cmocka_unit_test(test_pauses_bounded_by_timeout),
      cmocka_unit_test(test_interim_responses),
      cmocka_unit_test(test_ping_answered),
      cmocka_unit_test(test_unclean_close),
      cmocka_unit_test(test_requirements),
      cmocka_unit_test(test_unreachable),
      cmocka_unit_test(test_parallel_and_chop),
      cmocka_unit_test(test_request),
      cmocka_unit_test(test_stomp_broker_pass),
      cmocka_unit_test(test_stomp_broker_no_receipt_id),
      cmocka_unit_test(test_stomp_broker_receipt_body),
      cmocka_unit_test(test_stomp_broker_no_close_after_error),
      cmocka_unit_test(test_stomp_broker_no_subscription),
      cmocka_unit_test(test_stomp_broker_silent_heartbeat),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
