/* load: a WebSocket echo load client, for benchmarking a server on this machine.
 *
 * Echo mode: N connections to ws://HOST:PORT/PATH; after the handshakes each connection keeps
 * exactly one message in flight (send, wait for its echo, send again), so the result is the
 * server's round-trip rate and latency at concurrency N, not its buffering. Frames are built
 * before the run (the client must not be the bottleneck) but are masked as RFC 6455 5.3
 * requires: each connection gets a set of frames, each masked with its own key from
 * getrandom(), and cycles through them, so the server unmasks real keys rather than a zero
 * mask it could skip. Round trips are counted, and their RTTs sampled, only inside the
 * measured window that follows a warm-up. Echoes are checked: type, length and bytes.
 *
 * Idle mode (--idle N): N connections complete the handshake and then stay silent until
 * SIGTERM/SIGINT or --hold seconds pass; a runner reads the server's memory meanwhile.
 *
 * One thread, epoll, non-blocking sockets. The last line printed is a machine-readable
 * `RESULT key=value ...` line. Exit status: 0, 1 when a connection failed or an echo was
 * wrong, 2 for a usage error.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"
#include "codec/frame.h"
#include "codec/mask.h"
#include "handshake/accept.h"

enum conn_state { C_CONNECTING, C_HS_SEND, C_HS_RECV, C_OPEN, C_CLOSING, C_DONE };

typedef struct conn {
  int fd;
  enum conn_state state;
  char req[512];
  size_t req_len, req_off;
  char accept[WSREF_ACCEPT_LEN + 1];
  char resp[2048];
  size_t resp_len;
  wsref_frame_parser parser;
  uint8_t *frames; /* nframes pre-built masked frames of frame_len bytes each */
  unsigned next;
  const uint8_t *out; /* frame being written, out_len bytes, out_off done */
  size_t out_len, out_off;
  bool in_flight;
  bool close_sent;
  uint64_t t_sent;
  uint64_t got;    /* payload bytes of the echo so far */
  uint8_t opcode;  /* opcode of the message being received */
  bool wrong;      /* the echo being received differs from the payload */
  bool bad;        /* a wrong echo was reported for this connection */
  uint32_t events; /* epoll interest */
} conn;

typedef struct opts {
  const char *host, *path;
  int port;
  int conns;
  size_t size;
  bool binary;
  double duration, warmup, hold;
  int idle;
  unsigned nframes;
} opts;

typedef struct run {
  opts o;
  int ep;
  conn *c;
  uint8_t *payload; /* the unmasked message: every echo must equal it */
  size_t frame_len;
  int open, failed, done;
  uint64_t t_measure, t_end; /* measured window */
  bool measuring, stopping;
  uint64_t count; /* round trips inside the window */
  uint64_t *rtt;
  size_t nrtt, cap_rtt;
  unsigned long mismatches;
  char close_frame[8];
  uint8_t rbuf[1 << 16]; /* read scratch: frames are parsed before the next read */
} run;

static volatile sig_atomic_t g_stop; /* set by SIGTERM/SIGINT: signals need a global */

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void fill_random(void *p, size_t n) {
  uint8_t *b = p;
  while (n > 0) {
    ssize_t r = getrandom(b, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      perror("load: getrandom");
      exit(1);
    }
    b += r;
    n -= (size_t)r;
  }
}

static void usage(void) {
  fprintf(stderr,
          "usage: load --port P [--host 127.0.0.1] [--path /echo] [--conns 1] [--size 512]\n"
          "            [--binary] [--duration 5] [--warmup 1] [--masks 16]\n"
          "       load --port P --idle N [--hold 60]\n");
}

static bool parse_num(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

static int parse_opts(int argc, char **argv, opts *o) {
  *o = (opts){.host = "127.0.0.1",
              .path = "/echo",
              .conns = 1,
              .size = 512,
              .duration = 5,
              .warmup = 1,
              .hold = 60,
              .nframes = 16};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    double v;
    if (!strcmp(a, "--binary")) {
      o->binary = true;
      continue;
    }
    if (!strcmp(a, "--text")) {
      o->binary = false;
      continue;
    }
    if (i + 1 >= argc) goto bad;
    const char *val = argv[++i];
    if (!strcmp(a, "--host")) {
      o->host = val;
    } else if (!strcmp(a, "--path")) {
      o->path = val;
    } else if (!strcmp(a, "--port") && parse_num(val, 1, 65535, &v)) {
      o->port = (int)v;
    } else if (!strcmp(a, "--conns") && parse_num(val, 1, 100000, &v)) {
      o->conns = (int)v;
    } else if (!strcmp(a, "--size") && parse_num(val, 0, 1 << 24, &v)) {
      o->size = (size_t)v;
    } else if (!strcmp(a, "--duration") && parse_num(val, 0.1, 3600, &v)) {
      o->duration = v;
    } else if (!strcmp(a, "--warmup") && parse_num(val, 0, 3600, &v)) {
      o->warmup = v;
    } else if (!strcmp(a, "--hold") && parse_num(val, 0, 86400, &v)) {
      o->hold = v;
    } else if (!strcmp(a, "--idle") && parse_num(val, 1, 100000, &v)) {
      o->idle = (int)v;
    } else if (!strcmp(a, "--masks") && parse_num(val, 1, 4096, &v)) {
      o->nframes = (unsigned)v;
    } else {
      goto bad;
    }
  }
  if (o->port == 0) goto bad;
  if (o->idle) o->conns = o->idle;
  return 0;
bad:
  usage();
  return -1;
}

/* Each connection may need one descriptor; the default soft limit (often 1024) is too low
 * for the idle test, so raise it to the hard limit. */
static void raise_nofile(int need) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  if (rl.rlim_cur >= (rlim_t)need + 16) return;
  rl.rlim_cur = rl.rlim_max;
  if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < (rlim_t)need + 16)
    fprintf(stderr, "load: warning: open-file limit %llu may be too low for %d connections\n",
            (unsigned long long)rl.rlim_cur, need);
}

static void set_events(run *r, conn *c, uint32_t ev) {
  if (c->events == ev) return;
  struct epoll_event e = {.events = ev, .data.ptr = c};
  if (epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &e) != 0) perror("load: epoll_ctl");
  c->events = ev;
}

static void conn_fail(run *r, conn *c, const char *why) {
  if (c->state == C_DONE) return;
  if (!r->stopping || c->state < C_OPEN) {
    if (r->failed < 5) fprintf(stderr, "load: connection %td: %s\n", c - r->c, why);
    r->failed++;
  }
  if (c->state >= C_OPEN) r->open--;
  epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  c->state = C_DONE;
  r->done++;
}

static void conn_finish(run *r, conn *c) {
  if (c->state == C_DONE) return;
  if (c->state >= C_OPEN) r->open--;
  epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
  close(c->fd);
  c->fd = -1;
  c->state = C_DONE;
  r->done++;
}

/* Write what is pending of c->out; returns false if the connection failed. */
static bool flush_out(run *r, conn *c) {
  while (c->out_off < c->out_len) {
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        set_events(r, c, EPOLLIN | EPOLLOUT);
        return true;
      }
      conn_fail(r, c, strerror(errno));
      return false;
    }
    c->out_off += (size_t)n;
  }
  set_events(r, c, EPOLLIN);
  return true;
}

static bool send_close(run *r, conn *c) {
  c->close_sent = true;
  c->state = C_CLOSING;
  c->out = (const uint8_t *)r->close_frame;
  c->out_len = sizeof r->close_frame;
  c->out_off = 0;
  return flush_out(r, c);
}

static bool send_message(run *r, conn *c) {
  if (r->stopping) return send_close(r, c);
  c->out = c->frames + (size_t)c->next * r->frame_len;
  c->out_len = r->frame_len;
  c->out_off = 0;
  c->next = (c->next + 1) % r->o.nframes;
  c->in_flight = true;
  c->got = 0;
  c->wrong = false;
  c->t_sent = now_ns();
  return flush_out(r, c);
}

static void add_rtt(run *r, uint64_t ns) {
  if (r->nrtt == r->cap_rtt) {
    size_t cap = r->cap_rtt ? r->cap_rtt * 2 : 1 << 16;
    uint64_t *p = realloc(r->rtt, cap * sizeof *p);
    if (!p) return; /* keep counting; the percentiles just see fewer samples */
    r->rtt = p;
    r->cap_rtt = cap;
  }
  r->rtt[r->nrtt++] = ns;
}

static void echo_done(run *r, conn *c) {
  uint64_t t = now_ns();
  c->in_flight = false;
  if (r->measuring && c->t_sent >= r->t_measure && t <= r->t_end) {
    r->count++;
    add_rtt(r, t - c->t_sent);
  }
  send_message(r, c);
}

/* Frames from the server: echoes, its close, pings (answered with nothing: the benchmark
 * servers do not ping). */
static void on_frames(run *r, conn *c, uint8_t *buf, size_t len) {
  size_t off = 0;
  /* Until the parser reports no event: an END event consumes no bytes, so it may come
   * after the last byte of buf has been consumed. */
  while (c->state != C_DONE) {
    wsref_frame_event ev;
    ssize_t n = wsref_frame_parse(&c->parser, buf + off, len - off, &ev);
    if (n < 0) {
      char why[128];
      snprintf(why, sizeof why, "bad frame from server: %s", wsref_strerror((int)n));
      conn_fail(r, c, why);
      return;
    }
    off += (size_t)n;
    if (ev.type == WSREF_FRAME_EV_NONE) break;
    switch (ev.type) {
      case WSREF_FRAME_EV_HEADER:
        if (ev.header->opcode != WSREF_OP_CONT) c->opcode = ev.header->opcode;
        break;
      case WSREF_FRAME_EV_PAYLOAD:
        if (c->opcode == WSREF_OP_TEXT || c->opcode == WSREF_OP_BINARY) {
          if (c->got + ev.len > r->o.size || memcmp(ev.data, r->payload + c->got, ev.len) != 0)
            c->wrong = true;
          c->got += ev.len;
        }
        break;
      case WSREF_FRAME_EV_END: {
        unsigned op = ev.header->opcode;
        if (op == WSREF_OP_CLOSE) {
          if (!c->close_sent) {
            conn_fail(r, c, "server closed the connection");
          } else {
            conn_finish(r, c);
          }
          return;
        }
        if (wsref_opcode_is_control(op) || !ev.header->fin) break;
        uint8_t want = r->o.binary ? WSREF_OP_BINARY : WSREF_OP_TEXT;
        if (!c->in_flight) {
          conn_fail(r, c, "unexpected message from server");
          return;
        }
        if (c->wrong || c->opcode != want || c->got != r->o.size) {
          if (!c->bad)
            fprintf(stderr, "load: connection %td: wrong echo: %s of %" PRIu64 " bytes%s\n",
                    c - r->c, wsref_opcode_name(c->opcode), c->got,
                    c->wrong ? ", bytes differ" : "");
          c->bad = true;
          r->mismatches++;
        }
        echo_done(r, c); /* sends the next message, or the close once stopping */
        break;
      }
      default:
        break;
    }
  }
}

static bool handshake_response(run *r, conn *c) {
  char *end = memmem(c->resp, c->resp_len, "\r\n\r\n", 4);
  if (!end) {
    if (c->resp_len == sizeof c->resp) conn_fail(r, c, "handshake response too long");
    return false;
  }
  size_t head = (size_t)(end - c->resp) + 4;
  char saved = c->resp[head - 1];
  c->resp[head - 1] = '\0';
  bool ok101 = !strncmp(c->resp, "HTTP/1.1 101", 12);
  bool accept_ok = false;
  for (char *line = strstr(c->resp, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
    if (!strncasecmp(line + 2, "Sec-WebSocket-Accept:", 21)) {
      const char *v = line + 23;
      while (*v == ' ' || *v == '\t') v++;
      accept_ok = !strncmp(v, c->accept, WSREF_ACCEPT_LEN) &&
                  (v[WSREF_ACCEPT_LEN] == '\r' || v[WSREF_ACCEPT_LEN] == ' ' ||
                   v[WSREF_ACCEPT_LEN] == '\t');
    }
  }
  c->resp[head - 1] = saved;
  if (!ok101 || !accept_ok) {
    char why[160];
    char *eol = strstr(c->resp, "\r\n");
    int l = eol ? (int)(eol - c->resp) : 40;
    snprintf(why, sizeof why, "handshake refused: %.*s%s", l > 100 ? 100 : l, c->resp,
             ok101 ? " (bad Sec-WebSocket-Accept)" : "");
    conn_fail(r, c, why);
    return false;
  }
  c->state = C_OPEN;
  r->open++;
  wsref_frame_parser_options po = {.role = WSREF_ROLE_CLIENT};
  wsref_frame_parser_init(&c->parser, &po);
  if (head < c->resp_len) on_frames(r, c, (uint8_t *)c->resp + head, c->resp_len - head);
  return true;
}

static void on_readable(run *r, conn *c) {
  uint8_t *buf = r->rbuf;
  for (int rounds = 0; rounds < 8 && c->state != C_DONE; rounds++) {
    if (c->state == C_HS_RECV) {
      ssize_t n = recv(c->fd, c->resp + c->resp_len, sizeof c->resp - c->resp_len, 0);
      if (n == 0) return conn_fail(r, c, "server closed during the handshake");
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) conn_fail(r, c, strerror(errno));
        return;
      }
      c->resp_len += (size_t)n;
      handshake_response(r, c);
      continue;
    }
    ssize_t n = recv(c->fd, buf, sizeof r->rbuf, 0);
    if (n == 0) {
      if (c->close_sent) return conn_finish(r, c);
      return conn_fail(r, c, "server closed the TCP connection");
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) conn_fail(r, c, strerror(errno));
      return;
    }
    on_frames(r, c, buf, (size_t)n);
    if ((size_t)n < sizeof r->rbuf) return;
  }
}

static void on_writable(run *r, conn *c) {
  if (c->state == C_CONNECTING) {
    int err = 0;
    socklen_t l = sizeof err;
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
    if (err) return conn_fail(r, c, strerror(err));
    c->state = C_HS_SEND;
  }
  if (c->state == C_HS_SEND) {
    while (c->req_off < c->req_len) {
      ssize_t n = send(c->fd, c->req + c->req_off, c->req_len - c->req_off, MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return set_events(r, c, EPOLLIN | EPOLLOUT);
        return conn_fail(r, c, strerror(errno));
      }
      c->req_off += (size_t)n;
    }
    c->state = C_HS_RECV;
    set_events(r, c, EPOLLIN);
    return;
  }
  flush_out(r, c);
}

static int conn_start(run *r, conn *c, const struct sockaddr_in *sa) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    perror("load: socket");
    return -1;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  uint8_t nonce[16];
  char key[WSREF_KEY_LEN + 1];
  fill_random(nonce, sizeof nonce);
  wsref_key_encode(nonce, key);
  wsref_accept_compute(key, WSREF_KEY_LEN, c->accept);
  int n = snprintf(c->req, sizeof c->req,
                   "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                   "Sec-WebSocket-Version: 13\r\n\r\n",
                   r->o.path, r->o.host, r->o.port, key);
  if (n < 0 || (size_t)n >= sizeof c->req) {
    fprintf(stderr, "load: path too long\n");
    return -1;
  }
  c->req_len = (size_t)n;
  c->state = C_CONNECTING;
  c->events = EPOLLOUT;
  struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
  if (epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &e) != 0) {
    perror("load: epoll_ctl");
    return -1;
  }
  if (connect(c->fd, (const struct sockaddr *)sa, sizeof *sa) != 0 && errno != EINPROGRESS) {
    conn_fail(r, c, strerror(errno));
  }
  return 0;
}

/* Pre-build nframes frames for connection c, each with its own random mask key. */
static int build_frames(run *r, conn *c) {
  c->frames = malloc(r->frame_len * r->o.nframes);
  if (!c->frames) return -1;
  for (unsigned i = 0; i < r->o.nframes; i++) {
    uint8_t *f = c->frames + (size_t)i * r->frame_len;
    wsref_frame_header h = {.fin = true,
                            .opcode = r->o.binary ? WSREF_OP_BINARY : WSREF_OP_TEXT,
                            .masked = true,
                            .length = r->o.size};
    do fill_random(h.mask, 4);
    while (!h.mask[0] && !h.mask[1] && !h.mask[2] && !h.mask[3]);
    size_t hl = wsref_frame_header_encode(f, &h);
    if (hl + r->o.size != r->frame_len) {
      fprintf(stderr, "load: frame header of %zu bytes, expected %zu\n", hl,
              r->frame_len - r->o.size);
      return -1;
    }
    wsref_mask_copy(f + hl, r->payload, r->o.size, h.mask, 0);
  }
  return 0;
}

static size_t header_len(size_t size) {
  return 2 + (size < 126 ? 0 : size <= 0xffff ? 2 : 8) + 4;
}

static int wait_loop(run *r, uint64_t until, bool (*done)(run *)) {
  struct epoll_event evs[256];
  while (!done(r)) {
    uint64_t t = now_ns();
    if (t >= until) return -1;
    if (g_stop) return -2;
    int ms = (int)((until - t) / 1000000u) + 1;
    if (ms > 100) ms = 100; /* notice signals and phase ends promptly */
    int n = epoll_wait(r->ep, evs, 256, ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("load: epoll_wait");
      return -3;
    }
    for (int i = 0; i < n; i++) {
      conn *c = evs[i].data.ptr;
      if (c->state == C_DONE) continue;
      if (evs[i].events & (EPOLLOUT | EPOLLERR)) on_writable(r, c);
      if (c->state != C_DONE && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        on_readable(r, c);
    }
  }
  return 0;
}

static bool handshakes_done(run *r) {
  int pending = 0;
  for (int i = 0; i < r->o.conns; i++)
    if (r->c[i].state < C_OPEN) pending++;
  return pending == 0;
}
static bool never(run *r) {
  return false;
}
static bool all_done(run *r) {
  return r->done >= r->o.conns;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static double pct_us(const uint64_t *s, size_t n, double p) {
  if (n == 0) return 0;
  size_t i = (size_t)(p * (double)(n - 1) + 0.5);
  return (double)s[i] / 1000.0;
}

/* Free everything (sanitizer builds check leaks at exit) and return rc. */
static int finish(run *r, int rc) {
  for (int i = 0; r->c && i < r->o.conns; i++) {
    if (r->c[i].fd >= 0) close(r->c[i].fd);
    free(r->c[i].frames);
  }
  free(r->c);
  free(r->payload);
  free(r->rtt);
  if (r->ep >= 0) close(r->ep);
  return rc;
}

int main(int argc, char **argv) {
  run r;
  memset(&r, 0, sizeof r);
  if (parse_opts(argc, argv, &r.o) != 0) return 2;
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  raise_nofile(r.o.conns);

  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)r.o.port)};
  if (inet_pton(AF_INET, r.o.host, &addr.sin_addr) != 1) {
    fprintf(stderr, "load: --host must be an IPv4 address (got %s)\n", r.o.host);
    return 2;
  }
  r.ep = epoll_create1(EPOLL_CLOEXEC);
  r.c = calloc((size_t)r.o.conns, sizeof *r.c);
  if (r.ep < 0 || !r.c) {
    perror("load");
    return finish(&r, 1);
  }
  for (int i = 0; i < r.o.conns; i++) r.c[i].fd = -1;
  /* close 1000, masked with a random key */
  {
    uint8_t key[4];
    fill_random(key, 4);
    uint8_t code[2] = {0x03, 0xe8};
    r.close_frame[0] = (char)0x88;
    r.close_frame[1] = (char)0x82;
    memcpy(r.close_frame + 2, key, 4);
    wsref_mask_copy((uint8_t *)r.close_frame + 6, code, 2, key, 0);
  }

  bool idle = r.o.idle > 0;
  if (!idle) {
    r.frame_len = header_len(r.o.size) + r.o.size;
    r.payload = malloc(r.o.size ? r.o.size : 1);
    if (!r.payload) return finish(&r, 1);
    fill_random(r.payload, r.o.size);
    if (!r.o.binary) /* printable ASCII: valid UTF-8 */
      for (size_t i = 0; i < r.o.size; i++) r.payload[i] = (uint8_t)(0x20 + r.payload[i] % 95);
    for (int i = 0; i < r.o.conns; i++)
      if (build_frames(&r, &r.c[i]) != 0) return finish(&r, 1);
  }

  uint64_t t0 = now_ns();
  for (int i = 0; i < r.o.conns; i++) {
    if (conn_start(&r, &r.c[i], &addr) != 0) return finish(&r, 1);
  }
  int w = wait_loop(&r, t0 + 60ull * 1000000000u, handshakes_done);
  double hs_s = (double)(now_ns() - t0) / 1e9;
  if (w != 0 || r.failed) {
    fprintf(stderr, "load: %d of %d connections open after %.1f s (%d failed)\n", r.open, r.o.conns,
            hs_s, r.failed);
    printf("RESULT mode=%s conns=%d open=%d failed=%d error=handshake\n", idle ? "idle" : "echo",
           r.o.conns, r.open, r.failed);
    return finish(&r, 1);
  }

  if (idle) {
    printf("IDLE %d connections open (handshakes took %.2f s)\n", r.open, hs_s);
    fflush(stdout);
    wait_loop(&r, now_ns() + (uint64_t)(r.o.hold * 1e9), never);
    int still = r.open;
    r.stopping = true;
    printf("RESULT mode=idle conns=%d open_at_end=%d failed=%d\n", r.o.conns, still, r.failed);
    fflush(stdout);
    return finish(&r, r.failed ? 1 : 0);
  }

  printf(
      "load: %d connection%s to ws://%s:%d%s, %zu B %s messages, one in flight per "
      "connection\n",
      r.o.conns, r.o.conns == 1 ? "" : "s", r.o.host, r.o.port, r.o.path, r.o.size,
      r.o.binary ? "binary" : "text");
  printf(
      "load: frames masked with random keys from getrandom() (not a zero mask), %u "
      "pre-built frames per connection\n",
      r.o.nframes);
  fflush(stdout);

  uint64_t start = now_ns();
  r.t_measure = start + (uint64_t)(r.o.warmup * 1e9);
  r.t_end = r.t_measure + (uint64_t)(r.o.duration * 1e9);
  r.measuring = true;
  for (int i = 0; i < r.o.conns; i++) send_message(&r, &r.c[i]);
  wait_loop(&r, r.t_end, never);
  uint64_t measured_end = now_ns() < r.t_end ? now_ns() : r.t_end;
  bool interrupted = g_stop;

  /* Stop: each connection sends close 1000 once its echo is back, then waits for the
   * server's close. Bounded, so a stuck server cannot hang the run. */
  r.stopping = true;
  for (int i = 0; i < r.o.conns; i++) {
    conn *c = &r.c[i];
    if (c->state == C_OPEN && !c->in_flight) send_close(&r, c);
  }
  g_stop = 0;
  wait_loop(&r, now_ns() + 3000000000u, all_done);
  int unclosed = r.o.conns - r.done;

  double secs = (double)(measured_end - r.t_measure) / 1e9;
  if (secs <= 0) secs = 1e-9;
  qsort(r.rtt, r.nrtt, sizeof *r.rtt, cmp_u64);
  double rate = (double)r.count / secs;
  double p50 = pct_us(r.rtt, r.nrtt, 0.50), p99 = pct_us(r.rtt, r.nrtt, 0.99);
  double max = r.nrtt ? (double)r.rtt[r.nrtt - 1] / 1000.0 : 0;
  printf("load: warm-up %.1f s, measured %.2f s%s: %" PRIu64
         " round trips, %.0f round trips/s, "
         "RTT p50 %.1f us, p99 %.1f us, max %.1f us\n",
         r.o.warmup, secs, interrupted ? " (interrupted)" : "", r.count, rate, p50, p99, max);
  if (r.failed || r.mismatches || unclosed)
    printf("load: %d connections failed, %lu wrong echoes, %d not closed cleanly\n", r.failed,
           r.mismatches, unclosed);
  printf("RESULT mode=echo conns=%d size=%zu type=%s seconds=%.2f round_trips=%" PRIu64
         " rt_per_s=%.0f p50_us=%.1f p99_us=%.1f max_us=%.1f failed=%d mismatches=%lu "
         "unclosed=%d\n",
         r.o.conns, r.o.size, r.o.binary ? "binary" : "text", secs, r.count, rate, p50, p99, max,
         r.failed, r.mismatches, unclosed);
  return finish(&r, (r.failed || r.mismatches) ? 1 : 0);
}
