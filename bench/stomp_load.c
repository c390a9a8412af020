/* stomp_load: a STOMP-over-WebSocket load client, for comparing brokers (the wsref broker,
 * RabbitMQ web-stomp) on one machine with the same client.
 *
 * One thread, epoll, non-blocking sockets, raw WebSocket (RFC 6455 client frames, masked
 * with a fresh key per frame) carrying STOMP 1.2 frames encoded and decoded with
 * codec/stomp.h. Every connection negotiates v12.stomp, sends CONNECT (heart-beat:0,0, so
 * that no heart-beat traffic mixes in) and waits for CONNECTED.
 *
 * Modes:
 *   fanout   1 publisher -> S subscribers (ack:auto) of one /topic destination. Counts the
 *            MESSAGE frames the subscribers receive per second (deliveries/s).
 *   queue    P publishers -> 1 consumer (ack:auto) of one /queue destination. Counts the
 *            messages consumed per second.
 *   --idle N N sessions connect (CONNECTED) and stay silent until SIGTERM/SIGINT or --hold
 *            seconds; a runner reads the broker's memory meanwhile.
 *
 * Pacing: a broker that accepts SENDs faster than it delivers them would only be filling
 * buffers, and a RECEIPT says only that the broker took a SEND, not that anyone got it. So
 * the window is end to end, measured where this client sees it: fanout keeps at most
 * --window messages published but not yet received by every subscriber; queue keeps at most
 * --window messages of each publisher published but not yet consumed. Both brokers get the
 * same pacing. Every subscription is confirmed (SUBSCRIBE with receipt) before the first
 * SEND.
 *
 * Checks: every body is the 256 (--size) octets that were sent: a run id, the publisher
 * number and its sequence number, then a fixed filler. Per publisher, each subscriber (the
 * consumer) must see the sequence numbers in order with no gap and no repeat. After the
 * measured window the publishers stop and the run waits (--drain seconds at most) until every
 * message sent has arrived: a message still missing then is counted lost.
 *
 * Output: progress lines, then one machine-readable `RESULT mode=... msgs_per_s=...` line
 * last. Exit status 0, 1 when a connection failed, a message was lost, repeated, reordered
 * or corrupted, or the broker sent ERROR; 2 for usage errors.
 */
#include <errno.h>
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

#include "base/buf.h"
#include "base/error.h"
#include "codec/frame.h"
#include "codec/mask.h"
#include "codec/stomp.h"
#include "handshake/accept.h"

enum mode { M_FANOUT, M_QUEUE, M_IDLE };
enum role { R_PUB, R_SUB, R_IDLE };
enum cstate { C_CONNECTING, C_HS_SEND, C_HS_RECV, C_STOMP, C_READY, C_CLOSING, C_DONE };

/* Body layout: "wscb-RRRRRRRR-PPPPP-SSSSSSSSSSSS-" then filler (printable ASCII, so the
 * text frames stay valid UTF-8). */
#define BODY_PUB_OFF 14
#define BODY_PUB_LEN 5
#define BODY_SEQ_OFF 20
#define BODY_SEQ_LEN 12
#define BODY_HEAD_LEN 33
#define MAX_PUBLISHERS 99999

struct run;

typedef struct conn {
  struct run *r;
  int fd;
  int idx;
  enum role role;
  enum cstate state;
  uint32_t events; /* epoll interest */
  char accept[WSREF_ACCEPT_LEN + 1];
  char resp[4096];
  size_t resp_len;
  wsref_frame_parser fp;
  uint8_t opcode; /* of the message being received */
  uint8_t ctl[WSREF_CONTROL_MAX];
  size_t ctl_len;
  wsref_stomp_decoder *dec;
  wsref_buf out;
  bool close_sent;
  bool subscribed; /* its SUBSCRIBE's RECEIPT arrived */
  /* publisher */
  uint32_t pub;
  uint64_t sent;
  /* subscriber / consumer: next expected sequence number per publisher */
  uint64_t *next;
  uint64_t received;
} conn;

typedef struct opts {
  enum mode mode;
  const char *url;
  char addr[64];
  int port;
  char hostport[96];
  char path[256];
  const char *vhost, *login, *passcode, *dest;
  const char *server_pids; /* comma-separated: their CPU time is sampled over the window */
  int subscribers, publishers, idle;
  size_t size;
  double duration, warmup, hold, drain;
  uint64_t window;
} opts;

typedef struct run {
  opts o;
  int ep;
  conn *c;
  int nconns;
  int npub; /* publishers are c[0 .. npub-1], the receivers follow */
  int nsub;
  char dest[256];
  char runid[9];
  uint8_t *tmpl; /* the SEND frame (STOMP bytes), body at body_off */
  size_t tmpl_len, body_off;
  uint8_t *scratch;
  uint64_t rng;
  int connected, ready, subscribed, failed, done;
  /* fanout window: got[s % window] = subscribers that have message s; completed = messages
   * every subscriber has */
  uint32_t *got;
  uint64_t completed;
  uint64_t *consumed; /* queue: per publisher */
  uint64_t sent_total, received_total;
  bool publishing;
  uint64_t now, t_measure, t_end;
  uint64_t counted; /* deliveries inside the measured window */
  uint64_t sent_in_window;
  unsigned long lost, dup, corrupt, errors, unexpected;
  uint8_t rbuf[1 << 18];
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

static double cpu_s(void) {
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
         (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* utime + stime of the processes in a comma-separated pid list, from /proc/PID/stat;
 * processes that are gone count 0. */
static double procs_cpu_s(const char *list) {
  double ticks = 0;
  for (const char *p = list; p && *p;) {
    char *end;
    long pid = strtol(p, &end, 10);
    if (end == p) break;
    p = *end == ',' ? end + 1 : end;
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) continue;
    size_t n = fread(line, 1, sizeof line - 1, f);
    fclose(f);
    line[n] = '\0';
    /* the command name may hold spaces and parentheses: fields start after the last ')' */
    char *q = strrchr(line, ')');
    if (!q) continue;
    unsigned long long ut, st;
    if (sscanf(q + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &st) == 2)
      ticks += (double)(ut + st);
  }
  return ticks / (double)sysconf(_SC_CLK_TCK);
}

static void fill_random(void *p, size_t n) {
  uint8_t *b = p;
  while (n > 0) {
    ssize_t k = getrandom(b, n, 0);
    if (k < 0) {
      if (errno == EINTR) continue;
      perror("stomp_load: getrandom");
      exit(1);
    }
    b += k;
    n -= (size_t)k;
  }
}

/* Mask keys: RFC 6455 wants them unpredictable to the network, and a getrandom() call per
 * frame would cost the client more than the frame; xorshift seeded from getrandom(). */
static uint32_t next_key(run *r) {
  uint64_t x = r->rng;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  r->rng = x;
  return (uint32_t)(x >> 16) | 1u; /* never the all-zero key */
}

static const char usage_text[] =
    "usage: stomp_load --url ws://ADDR:PORT/PATH [options] fanout|queue\n"
    "       stomp_load --url ws://ADDR:PORT/PATH --idle N [--hold 60]\n"
    "\n"
    "  fanout             1 publisher -> --subscribers S on one /topic destination\n"
    "  queue              --publishers P -> 1 consumer on one /queue destination\n"
    "  --idle N           N sessions CONNECTED, then silent until SIGTERM or --hold s\n"
    "  --url URL          ws://IPv4:PORT/PATH (wsref-server: /stomp; RabbitMQ: /ws)\n"
    "  --host H           CONNECT host header (default: the URL's address; RabbitMQ: /)\n"
    "  --login L --passcode P   CONNECT credentials (RabbitMQ: guest guest); default none\n"
    "  --subscribers S    fanout subscribers (default 100)\n"
    "  --publishers P     queue publishers (default 100)\n"
    "  --size B           body octets (default 256, at least 40)\n"
    "  --duration D       measured seconds (default 5)\n"
    "  --warmup W         seconds before the measurement (default 1)\n"
    "  --window N         messages in flight end to end: fanout, published and not yet at\n"
    "                     every subscriber (default 128); queue, per publisher, published\n"
    "                     and not yet consumed (default 8)\n"
    "  --drain S          after the run, wait at most S s for every message (default 10)\n"
    "  --dest NAME        destination (default /topic|/queue/wsc-bench-PID-TIME-RUNID)\n"
    "  --server-pids L    comma-separated broker process ids: report their CPU use over\n"
    "                     the measured window (server_cpu, in CPUs)\n";

static bool parse_num(const char *s, double lo, double hi, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || v < lo || v > hi) return false;
  *out = v;
  return true;
}

static bool parse_url(opts *o) {
  const char *u = o->url;
  if (strncmp(u, "ws://", 5) != 0) return false;
  u += 5;
  const char *colon = strchr(u, ':');
  if (!colon || (size_t)(colon - u) >= sizeof o->addr) return false;
  memcpy(o->addr, u, (size_t)(colon - u));
  o->addr[colon - u] = '\0';
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (end == colon + 1 || port < 1 || port > 65535) return false;
  o->port = (int)port;
  const char *path = *end ? end : "/";
  if (*path != '/' || strlen(path) >= sizeof o->path) return false;
  snprintf(o->path, sizeof o->path, "%s", path);
  snprintf(o->hostport, sizeof o->hostport, "%s:%d", o->addr, o->port);
  return true;
}

static int parse_opts(int argc, char **argv, opts *o) {
  *o = (opts){.mode = M_FANOUT,
              .subscribers = 100,
              .publishers = 100,
              .size = 256,
              .duration = 5,
              .warmup = 1,
              .hold = 60,
              .drain = 10};
  bool have_mode = false;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    double v;
    if (!strcmp(a, "fanout") || !strcmp(a, "queue")) {
      o->mode = a[0] == 'f' ? M_FANOUT : M_QUEUE;
      have_mode = true;
      continue;
    }
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      fputs(usage_text, stdout);
      exit(0);
    }
    if (i + 1 >= argc) goto bad;
    const char *val = argv[++i];
    if (!strcmp(a, "--url")) {
      o->url = val;
    } else if (!strcmp(a, "--host")) {
      o->vhost = val;
    } else if (!strcmp(a, "--login")) {
      o->login = val;
    } else if (!strcmp(a, "--passcode")) {
      o->passcode = val;
    } else if (!strcmp(a, "--dest")) {
      o->dest = val;
    } else if (!strcmp(a, "--server-pids")) {
      o->server_pids = val;
    } else if (!strcmp(a, "--subscribers") && parse_num(val, 1, 100000, &v)) {
      o->subscribers = (int)v;
    } else if (!strcmp(a, "--publishers") && parse_num(val, 1, MAX_PUBLISHERS, &v)) {
      o->publishers = (int)v;
    } else if (!strcmp(a, "--idle") && parse_num(val, 1, 200000, &v)) {
      o->idle = (int)v;
    } else if (!strcmp(a, "--size") && parse_num(val, 40, 1 << 20, &v)) {
      o->size = (size_t)v;
    } else if (!strcmp(a, "--duration") && parse_num(val, 0.1, 3600, &v)) {
      o->duration = v;
    } else if (!strcmp(a, "--warmup") && parse_num(val, 0, 3600, &v)) {
      o->warmup = v;
    } else if (!strcmp(a, "--hold") && parse_num(val, 0, 86400, &v)) {
      o->hold = v;
    } else if (!strcmp(a, "--drain") && parse_num(val, 0, 3600, &v)) {
      o->drain = v;
    } else if (!strcmp(a, "--window") && parse_num(val, 1, 1 << 20, &v)) {
      o->window = (uint64_t)v;
    } else {
      goto bad;
    }
  }
  if (!o->url || !parse_url(o)) {
    fprintf(stderr, "stomp_load: --url ws://IPv4:PORT/PATH is required\n");
    goto bad;
  }
  if (o->idle) {
    if (have_mode) goto bad;
    o->mode = M_IDLE;
  } else if (!have_mode) {
    goto bad;
  }
  if (!o->vhost) o->vhost = o->addr;
  if (!o->window) o->window = o->mode == M_FANOUT ? 128 : 8;
  return 0;
bad:
  fputs(usage_text, stderr);
  return -1;
}

/* Each connection needs a descriptor; the default soft limit (often 1024) is too low for
 * the idle test. */
static void raise_nofile(int conns) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t want = (rlim_t)conns + 64;
  if (rl.rlim_cur >= want) return;
  rl.rlim_cur = want < rl.rlim_max ? want : rl.rlim_max;
  setrlimit(RLIMIT_NOFILE, &rl);
}

static void set_events(run *r, conn *c, uint32_t ev) {
  if (c->events == ev || c->fd < 0) return;
  struct epoll_event e = {.events = ev, .data.ptr = c};
  epoll_ctl(r->ep, EPOLL_CTL_MOD, c->fd, &e);
  c->events = ev;
}

static void conn_close(run *r, conn *c) {
  if (c->state == C_DONE) return;
  if (c->fd >= 0) {
    epoll_ctl(r->ep, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
  }
  c->state = C_DONE;
  r->done++;
}

static void conn_fail(run *r, conn *c, const char *why) {
  if (c->state == C_DONE) return;
  if (r->failed < 5)
    fprintf(stderr, "stomp_load: connection %d (%s): %s\n", c->idx,
            c->role == R_PUB   ? "publisher"
            : c->role == R_SUB ? "subscriber"
                               : "idle",
            why);
  r->failed++;
  conn_close(r, c);
}

/* Write what is pending of c->out. */
static void flush_out(run *r, conn *c) {
  while (wsref_buf_len(&c->out) > 0) {
    ssize_t n = send(c->fd, wsref_buf_head(&c->out), wsref_buf_len(&c->out), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        set_events(r, c, EPOLLIN | EPOLLOUT);
        return;
      }
      conn_fail(r, c, strerror(errno));
      return;
    }
    wsref_buf_consume(&c->out, (size_t)n);
  }
  set_events(r, c, EPOLLIN);
}

/* Append one masked client frame of len payload octets; the payload is copied from p. */
static bool queue_frame(run *r, conn *c, uint8_t opcode, const uint8_t *p, size_t len) {
  wsref_frame_header h = {.fin = true, .opcode = opcode, .masked = true, .length = len};
  uint32_t k = next_key(r);
  memcpy(h.mask, &k, 4);
  uint8_t *dst = wsref_buf_reserve(&c->out, WSREF_FRAME_HEADER_MAX + len);
  if (!dst) {
    conn_fail(r, c, "out of memory");
    return false;
  }
  size_t hl = wsref_frame_header_encode(dst, &h);
  wsref_mask_copy(dst + hl, p, len, h.mask, 0);
  wsref_buf_commit(&c->out, hl + len);
  return true;
}

static bool send_stomp(run *r, conn *c, enum wsref_stomp_command cmd, const wsref_stomp_header *h,
                       size_t nh) {
  wsref_buf b = WSREF_BUF_INIT;
  wsref_stomp_frame f = {.command = cmd, .headers = h, .nheaders = nh};
  int rc = wsref_stomp_encode(&b, WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &f);
  bool ok = rc == 0 && queue_frame(r, c, WSREF_OP_TEXT, wsref_buf_head(&b), wsref_buf_len(&b));
  if (rc != 0) conn_fail(r, c, wsref_strerror(rc));
  wsref_buf_free(&b);
  if (ok) flush_out(r, c);
  return ok && c->state != C_DONE;
}

static void send_close(run *r, conn *c) {
  if (c->state == C_DONE || c->close_sent) return;
  static const uint8_t code[2] = {0x03, 0xe8}; /* 1000 */
  c->close_sent = true;
  c->state = C_CLOSING;
  if (queue_frame(r, c, WSREF_OP_CLOSE, code, 2)) flush_out(r, c);
}

#define H(n, v) \
  { n, sizeof n - 1, v, strlen(v) }

static void stomp_connect(run *r, conn *c) {
  wsref_stomp_header h[5] = {H("accept-version", "1.2"), H("host", r->o.vhost),
                             H("heart-beat", "0,0")};
  size_t n = 3;
  if (r->o.login) h[n++] = (wsref_stomp_header)H("login", r->o.login);
  if (r->o.passcode) h[n++] = (wsref_stomp_header)H("passcode", r->o.passcode);
  c->state = C_STOMP;
  send_stomp(r, c, WSREF_STOMP_CONNECT, h, n);
}

static void stomp_subscribe(run *r, conn *c) {
  char receipt[32];
  snprintf(receipt, sizeof receipt, "sub-%d", c->idx);
  wsref_stomp_header h[] = {H("id", "0"), H("destination", r->dest), H("ack", "auto"),
                            H("receipt", receipt)};
  send_stomp(r, c, WSREF_STOMP_SUBSCRIBE, h, sizeof h / sizeof h[0]);
}

/* ---- publishing ---- */

static void put_dec(uint8_t *p, size_t width, uint64_t v) {
  for (size_t i = width; i-- > 0; v /= 10) p[i] = (uint8_t)('0' + v % 10);
}

static bool get_dec(const uint8_t *p, size_t width, uint64_t *v) {
  uint64_t x = 0;
  for (size_t i = 0; i < width; i++) {
    if (p[i] < '0' || p[i] > '9') return false;
    x = x * 10 + (uint64_t)(p[i] - '0');
  }
  *v = x;
  return true;
}

/* The SEND frame of every message, encoded once by the codec; each message patches its
 * publisher and sequence number into the body. */
static int build_template(run *r) {
  size_t n = r->o.size;
  uint8_t *body = malloc(n);
  if (!body) return -1;
  for (size_t i = 0; i < n; i++) body[i] = (uint8_t)('a' + (i * 7 + i / 26) % 26);
  char head[BODY_HEAD_LEN + 1];
  snprintf(head, sizeof head, "wscb-%s-%05d-%012d-", r->runid, 0, 0);
  memcpy(body, head, BODY_HEAD_LEN);
  wsref_stomp_header h[] = {H("destination", r->dest), H("content-type", "text/plain")};
  wsref_stomp_frame f = {.command = WSREF_STOMP_SEND,
                         .headers = h,
                         .nheaders = sizeof h / sizeof h[0],
                         .body = body,
                         .body_len = n};
  wsref_buf b = WSREF_BUF_INIT;
  int rc = wsref_stomp_encode(&b, WSREF_STOMP_V12, WSREF_STOMP_PROFILE_SPEC, &f);
  free(body);
  if (rc != 0) {
    fprintf(stderr, "stomp_load: encoding SEND: %s\n", wsref_strerror(rc));
    wsref_buf_free(&b);
    return -1;
  }
  r->tmpl_len = wsref_buf_len(&b);
  r->tmpl = malloc(r->tmpl_len);
  r->scratch = malloc(r->tmpl_len);
  if (!r->tmpl || !r->scratch) {
    wsref_buf_free(&b);
    return -1;
  }
  memcpy(r->tmpl, wsref_buf_head(&b), r->tmpl_len);
  wsref_buf_free(&b);
  /* the body is what follows the blank line and precedes the final NUL */
  uint8_t *blank = memmem(r->tmpl, r->tmpl_len, "\n\n", 2);
  if (!blank || r->tmpl_len < n + 1) return -1;
  r->body_off = (size_t)(blank - r->tmpl) + 2;
  if (r->body_off + n + 1 != r->tmpl_len) {
    fprintf(stderr, "stomp_load: unexpected SEND encoding\n");
    return -1;
  }
  return 0;
}

static void publish_one(run *r, conn *c) {
  memcpy(r->scratch, r->tmpl, r->tmpl_len);
  put_dec(r->scratch + r->body_off + BODY_PUB_OFF, BODY_PUB_LEN, c->pub);
  put_dec(r->scratch + r->body_off + BODY_SEQ_OFF, BODY_SEQ_LEN, c->sent);
  if (!queue_frame(r, c, WSREF_OP_TEXT, r->scratch, r->tmpl_len)) return;
  c->sent++;
  r->sent_total++;
  if (r->now >= r->t_measure && r->now < r->t_end) r->sent_in_window++;
}

/* Publish what the windows allow, then write it (one send() per publisher per round). */
static void refill(run *r) {
  if (!r->publishing) return;
  if (r->now >= r->t_end) {
    r->publishing = false;
    return;
  }
  for (int i = 0; i < r->npub; i++) {
    conn *c = &r->c[i];
    if (c->state != C_READY) continue;
    bool any = false;
    if (r->o.mode == M_FANOUT) {
      while (c->sent - r->completed < r->o.window && c->state == C_READY) {
        publish_one(r, c);
        any = true;
      }
    } else {
      while (c->sent - r->consumed[c->pub] < r->o.window && c->state == C_READY) {
        publish_one(r, c);
        any = true;
      }
    }
    if (any && c->state == C_READY && !(c->events & EPOLLOUT)) flush_out(r, c);
  }
}

/* ---- receiving ---- */

static void on_delivery(run *r, conn *c, const wsref_stomp_frame *f) {
  if (c->role != R_SUB) {
    r->unexpected++;
    return;
  }
  const uint8_t *b = f->body;
  uint64_t pub, seq;
  if (f->body_len != r->o.size || memcmp(b, r->tmpl + r->body_off, BODY_PUB_OFF) != 0 ||
      !get_dec(b + BODY_PUB_OFF, BODY_PUB_LEN, &pub) ||
      !get_dec(b + BODY_SEQ_OFF, BODY_SEQ_LEN, &seq) || pub >= (uint64_t)r->npub ||
      seq >= r->c[pub].sent ||
      memcmp(b + BODY_HEAD_LEN - 1, r->tmpl + r->body_off + BODY_HEAD_LEN - 1,
             r->o.size - BODY_HEAD_LEN + 1) != 0) {
    if (!r->corrupt)
      fprintf(stderr, "stomp_load: subscriber %d: unexpected body (%zu octets): %.*s\n", c->idx,
              f->body_len, (int)(f->body_len < 40 ? f->body_len : 40), (const char *)b);
    r->corrupt++;
    return;
  }
  uint64_t want = c->next[pub];
  if (seq < want) {
    if (!r->dup)
      fprintf(stderr,
              "stomp_load: subscriber %d: publisher %" PRIu64 " message %" PRIu64
              " again or late (expected %" PRIu64 ")\n",
              c->idx, pub, seq, want);
    r->dup++;
    return;
  }
  if (seq > want) {
    if (!r->lost)
      fprintf(stderr,
              "stomp_load: subscriber %d: publisher %" PRIu64 " messages %" PRIu64 "..%" PRIu64
              " missing\n",
              c->idx, pub, want, seq - 1);
    r->lost += seq - want;
  }
  c->next[pub] = seq + 1;
  c->received++;
  r->received_total++;
  if (r->now >= r->t_measure && r->now < r->t_end) r->counted++;
  if (r->o.mode == M_FANOUT) {
    /* Gaps (already counted lost) must not stall the window: count every message up to
     * this one as arrived here. */
    for (uint64_t s = want; s <= seq; s++) {
      if (s < r->completed) continue;
      r->got[s % r->o.window]++;
    }
    while (r->completed < r->c[0].sent && r->got[r->completed % r->o.window] >= (uint32_t)r->nsub) {
      r->got[r->completed % r->o.window] = 0;
      r->completed++;
    }
  } else {
    r->consumed[pub] = seq + 1;
  }
}

static int on_stomp(const wsref_stomp_frame *f, void *ud) {
  conn *c = ud;
  run *r = c->r;
  switch (f->command) {
    case WSREF_STOMP_HEARTBEAT:
      break;
    case WSREF_STOMP_MESSAGE:
      on_delivery(r, c, f);
      break;
    case WSREF_STOMP_CONNECTED: {
      const char *v = wsref_stomp_frame_get(f, "version");
      if (c->state != C_STOMP || !v || strcmp(v, "1.2") != 0) {
        conn_fail(r, c, c->state != C_STOMP ? "CONNECTED again" : "CONNECTED without version:1.2");
        return 1;
      }
      c->state = C_READY;
      r->ready++;
      if (c->role == R_SUB) stomp_subscribe(r, c);
      break;
    }
    case WSREF_STOMP_RECEIPT: {
      const char *id = wsref_stomp_frame_get(f, "receipt-id");
      char want[32];
      snprintf(want, sizeof want, "sub-%d", c->idx);
      if (c->subscribed || !id || strcmp(id, want) != 0) {
        r->unexpected++;
        break;
      }
      c->subscribed = true;
      r->subscribed++;
      break;
    }
    case WSREF_STOMP_ERROR: {
      const char *m = wsref_stomp_frame_get(f, "message");
      char why[300];
      snprintf(why, sizeof why, "ERROR from the broker: %s%s%.*s", m ? m : "(no message header)",
               f->body_len ? " -- " : "", (int)(f->body_len > 160 ? 160 : f->body_len),
               (const char *)f->body);
      for (char *p = why; *p; p++)
        if (*p == '\n' || *p == '\r') *p = ' ';
      r->errors++;
      conn_fail(r, c, why);
      return 1;
    }
    default:
      r->unexpected++;
      break;
  }
  return c->state == C_DONE ? 1 : 0;
}

static void on_control(run *r, conn *c, unsigned op) {
  if (op == WSREF_OP_PING) {
    if (queue_frame(r, c, WSREF_OP_PONG, c->ctl, c->ctl_len)) flush_out(r, c);
  } else if (op == WSREF_OP_CLOSE) {
    if (c->close_sent) {
      conn_close(r, c);
    } else {
      char why[160];
      unsigned code = c->ctl_len >= 2 ? (unsigned)c->ctl[0] << 8 | c->ctl[1] : 1005;
      snprintf(why, sizeof why, "the broker closed the WebSocket: %u %.*s", code,
               (int)(c->ctl_len > 2 ? c->ctl_len - 2 : 0), (const char *)c->ctl + 2);
      conn_fail(r, c, why);
    }
  }
}

static void on_frames(run *r, conn *c, uint8_t *buf, size_t len) {
  size_t off = 0;
  /* Until no event: an END event consumes no bytes, so it may follow the last byte. */
  while (c->state != C_DONE) {
    wsref_frame_event ev;
    ssize_t n = wsref_frame_parse(&c->fp, buf + off, len - off, &ev);
    if (n < 0) {
      char why[128];
      snprintf(why, sizeof why, "bad frame from the broker: %s", wsref_strerror((int)n));
      conn_fail(r, c, why);
      return;
    }
    off += (size_t)n;
    if (ev.type == WSREF_FRAME_EV_NONE) break;
    switch (ev.type) {
      case WSREF_FRAME_EV_HEADER:
        if (wsref_opcode_is_control(ev.header->opcode)) {
          c->ctl_len = 0;
        } else if (ev.header->opcode != WSREF_OP_CONT) {
          c->opcode = ev.header->opcode;
        }
        break;
      case WSREF_FRAME_EV_PAYLOAD:
        if (wsref_opcode_is_control(ev.header->opcode)) {
          memcpy(c->ctl + c->ctl_len, ev.data, ev.len); /* the parser caps it at 125 */
          c->ctl_len += ev.len;
        } else if (c->close_sent) {
          /* in flight before our close: not judged */
        } else {
          int rc = wsref_stomp_decode(c->dec, ev.data, ev.len, on_stomp, c);
          if (rc < 0) {
            char why[128];
            snprintf(why, sizeof why, "bad STOMP from the broker: %s", wsref_strerror(rc));
            conn_fail(r, c, why);
          }
        }
        break;
      case WSREF_FRAME_EV_END:
        if (wsref_opcode_is_control(ev.header->opcode)) on_control(r, c, ev.header->opcode);
        break;
      default:
        break;
    }
  }
}

static void handshake_response(run *r, conn *c) {
  char *end = memmem(c->resp, c->resp_len, "\r\n\r\n", 4);
  if (!end) {
    if (c->resp_len == sizeof c->resp) conn_fail(r, c, "handshake response too long");
    return;
  }
  size_t head = (size_t)(end - c->resp) + 4;
  char saved = c->resp[head - 1];
  c->resp[head - 1] = '\0';
  bool ok101 = !strncmp(c->resp, "HTTP/1.1 101", 12);
  bool accept_ok = false, proto_ok = false;
  for (char *line = strstr(c->resp, "\r\n"); line; line = strstr(line + 2, "\r\n")) {
    const char *v = strchr(line + 2, ':');
    if (!v) continue;
    v++;
    while (*v == ' ' || *v == '\t') v++;
    if (!strncasecmp(line + 2, "Sec-WebSocket-Accept:", 21)) {
      accept_ok = !strncmp(v, c->accept, WSREF_ACCEPT_LEN);
    } else if (!strncasecmp(line + 2, "Sec-WebSocket-Protocol:", 23)) {
      proto_ok = !strncmp(v, "v12.stomp", 9);
    }
  }
  c->resp[head - 1] = saved;
  if (!ok101 || !accept_ok || !proto_ok) {
    char why[200];
    char *eol = strstr(c->resp, "\r\n");
    int l = eol ? (int)(eol - c->resp) : 40;
    snprintf(why, sizeof why, "handshake refused: %.*s%s", l > 100 ? 100 : l, c->resp,
             !ok101      ? ""
             : accept_ok ? " (subprotocol v12.stomp not chosen)"
                         : " (bad Sec-WebSocket-Accept)");
    conn_fail(r, c, why);
    return;
  }
  wsref_frame_parser_options po = {.role = WSREF_ROLE_CLIENT};
  wsref_frame_parser_init(&c->fp, &po);
  r->connected++;
  stomp_connect(r, c);
  if (c->state != C_DONE && head < c->resp_len)
    on_frames(r, c, (uint8_t *)c->resp + head, c->resp_len - head);
}

static void on_readable(run *r, conn *c) {
  for (int rounds = 0; rounds < 4 && c->state != C_DONE; rounds++) {
    if (c->state == C_HS_RECV) {
      ssize_t n = recv(c->fd, c->resp + c->resp_len, sizeof c->resp - c->resp_len, 0);
      if (n == 0) return conn_fail(r, c, "the broker closed during the handshake");
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) conn_fail(r, c, strerror(errno));
        return;
      }
      c->resp_len += (size_t)n;
      handshake_response(r, c);
      continue;
    }
    ssize_t n = recv(c->fd, r->rbuf, sizeof r->rbuf, 0);
    if (n == 0) {
      if (c->close_sent) return conn_close(r, c);
      return conn_fail(r, c, "the broker closed the TCP connection");
    }
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) conn_fail(r, c, strerror(errno));
      return;
    }
    on_frames(r, c, r->rbuf, (size_t)n);
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
  flush_out(r, c);
  if (c->state == C_HS_SEND && wsref_buf_len(&c->out) == 0) c->state = C_HS_RECV;
}

static int conn_start(run *r, conn *c, const struct sockaddr_in *sa) {
  c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (c->fd < 0) {
    perror("stomp_load: socket");
    return -1;
  }
  int one = 1;
  setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  uint8_t nonce[16];
  char key[WSREF_KEY_LEN + 1];
  fill_random(nonce, sizeof nonce);
  wsref_key_encode(nonce, key);
  wsref_accept_compute(key, WSREF_KEY_LEN, c->accept);
  if (wsref_buf_appendf(&c->out,
                        "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                        "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: v12.stomp\r\n\r\n",
                        r->o.path, r->o.hostport, key) != 0)
    return -1;
  wsref_stomp_decoder_options dopt = {.version = WSREF_STOMP_V12};
  c->dec = wsref_stomp_decoder_new(&dopt);
  if (!c->dec) return -1;
  c->state = C_CONNECTING;
  c->events = EPOLLOUT;
  struct epoll_event e = {.events = EPOLLOUT, .data.ptr = c};
  if (epoll_ctl(r->ep, EPOLL_CTL_ADD, c->fd, &e) != 0) {
    perror("stomp_load: epoll_ctl");
    return -1;
  }
  if (connect(c->fd, (const struct sockaddr *)sa, sizeof *sa) != 0 && errno != EINPROGRESS)
    conn_fail(r, c, strerror(errno));
  return 0;
}

/* Run the loop until done(r), the deadline, or a signal: 0, -1 (deadline), -2 (signal). */
static int loop(run *r, uint64_t until, bool (*done)(run *)) {
  struct epoll_event evs[256];
  for (;;) {
    r->now = now_ns();
    refill(r);
    if (done(r)) return 0;
    if (r->now >= until) return -1;
    if (g_stop) return -2;
    uint64_t next = until;
    if (r->publishing && r->t_end < next) next = r->t_end;
    if (r->now < r->t_measure && r->t_measure < next) next = r->t_measure;
    int ms = next > r->now ? (int)((next - r->now + 999999) / 1000000u) : 0;
    if (ms > 100) ms = 100; /* notice signals promptly */
    int n = epoll_wait(r->ep, evs, 256, ms);
    if (n < 0) {
      if (errno == EINTR) continue;
      perror("stomp_load: epoll_wait");
      return -3;
    }
    r->now = now_ns();
    for (int i = 0; i < n; i++) {
      conn *c = evs[i].data.ptr;
      if (c->state == C_DONE) continue;
      if (evs[i].events & (EPOLLOUT | EPOLLERR)) on_writable(r, c);
      if (c->state != C_DONE && (evs[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
        on_readable(r, c);
    }
  }
}

static bool all_ready(run *r) {
  return r->ready + r->failed >= r->nconns;
}
static bool all_subscribed(run *r) {
  return r->subscribed >= r->nsub || r->failed;
}
static bool never(run *r) {
  return r->failed > 0 && r->o.mode != M_IDLE;
}
static bool drained(run *r) {
  if (r->failed) return true;
  return r->received_total >= r->sent_total * (r->o.mode == M_FANOUT ? (uint64_t)r->nsub : 1u);
}
static bool all_closed(run *r) {
  return r->done >= r->nconns;
}

static int finish(run *r, int rc) {
  for (int i = 0; r->c && i < r->nconns; i++) {
    conn *c = &r->c[i];
    if (c->fd >= 0) close(c->fd);
    wsref_buf_free(&c->out);
    wsref_stomp_decoder_free(c->dec);
    free(c->next);
  }
  free(r->c);
  free(r->tmpl);
  free(r->scratch);
  free(r->got);
  free(r->consumed);
  if (r->ep >= 0) close(r->ep);
  free(r);
  return rc;
}

static void close_all(run *r) {
  for (int i = 0; i < r->nconns; i++) send_close(r, &r->c[i]);
  loop(r, now_ns() + 3000000000u, all_closed);
}

static const char *mode_name(enum mode m) {
  return m == M_FANOUT ? "fanout" : m == M_QUEUE ? "queue" : "idle";
}

int main(int argc, char **argv) {
  run *r = calloc(1, sizeof *r);
  if (!r) return 1;
  r->ep = -1;
  if (parse_opts(argc, argv, &r->o) != 0) {
    free(r);
    return 2;
  }
  const opts *o = &r->o;
  signal(SIGPIPE, SIG_IGN);
  struct sigaction sa = {.sa_handler = on_signal};
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
  if (inet_pton(AF_INET, o->addr, &addr.sin_addr) != 1) {
    fprintf(stderr, "stomp_load: the URL must name an IPv4 address (got %s)\n", o->addr);
    return finish(r, 2);
  }
  fill_random(&r->rng, sizeof r->rng);
  r->rng |= 1;
  uint32_t id;
  fill_random(&id, sizeof id);
  snprintf(r->runid, sizeof r->runid, "%08x", id);
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  if (o->dest) {
    snprintf(r->dest, sizeof r->dest, "%s", o->dest);
  } else {
    snprintf(r->dest, sizeof r->dest, "/%s/wsc-bench-%d-%lld-%s",
             o->mode == M_QUEUE ? "queue" : "topic", (int)getpid(), (long long)wall.tv_sec,
             r->runid);
  }

  if (o->mode == M_IDLE) {
    r->npub = 0;
    r->nsub = 0;
    r->nconns = o->idle;
  } else if (o->mode == M_FANOUT) {
    r->npub = 1;
    r->nsub = o->subscribers;
  } else {
    r->npub = o->publishers;
    r->nsub = 1;
  }
  if (o->mode != M_IDLE) r->nconns = r->npub + r->nsub;
  raise_nofile(r->nconns);
  r->ep = epoll_create1(EPOLL_CLOEXEC);
  r->c = calloc((size_t)r->nconns, sizeof *r->c);
  if (r->ep < 0 || !r->c) {
    perror("stomp_load");
    return finish(r, 1);
  }
  if (o->mode != M_IDLE) {
    r->got = calloc(o->window, sizeof *r->got);
    r->consumed = calloc((size_t)r->npub, sizeof *r->consumed);
    if (!r->got || !r->consumed || build_template(r) != 0) return finish(r, 1);
  }
  for (int i = 0; i < r->nconns; i++) {
    conn *c = &r->c[i];
    c->r = r;
    c->fd = -1;
    c->idx = i;
    c->role = o->mode == M_IDLE ? R_IDLE : i < r->npub ? R_PUB : R_SUB;
    c->pub = (uint32_t)i;
    if (c->role == R_SUB && !(c->next = calloc((size_t)r->npub, sizeof *c->next)))
      return finish(r, 1);
  }

  /* Connect everything, then subscribe, before the first SEND. */
  uint64_t t0 = now_ns();
  r->t_measure = r->t_end = UINT64_MAX;
  for (int i = 0; i < r->nconns; i++)
    if (conn_start(r, &r->c[i], &addr) != 0) return finish(r, 1);
  int w = loop(r, t0 + 60000000000ull, all_ready);
  if (w == 0 && !r->failed) w = loop(r, t0 + 60000000000ull, all_subscribed);
  double setup_s = (double)(now_ns() - t0) / 1e9;
  if (w != 0 || r->failed) {
    fprintf(stderr,
            "stomp_load: %d of %d sessions CONNECTED, %d of %d subscribed after %.1f s (%d "
            "failed)\n",
            r->ready, r->nconns, r->subscribed, r->nsub, setup_s, r->failed);
    printf("RESULT mode=%s sessions=%d connected=%d failed=%d error=setup msgs_per_s=0\n",
           mode_name(o->mode), r->nconns, r->ready, r->failed);
    return finish(r, 1);
  }

  if (o->mode == M_IDLE) {
    printf("IDLE %d STOMP sessions connected (took %.2f s)\n", r->ready, setup_s);
    fflush(stdout);
    loop(r, now_ns() + (uint64_t)(o->hold * 1e9), never);
    int still = r->nconns - r->done;
    int failed = r->failed;
    g_stop = 0;
    close_all(r);
    printf("RESULT mode=idle sessions=%d open_at_end=%d failed=%d\n", r->nconns, still, failed);
    return finish(r, failed ? 1 : 0);
  }

  printf(
      "stomp_load: %s, %d publisher%s -> %d subscriber%s of %s on ws://%s%s, %zu B bodies, "
      "window %" PRIu64 "%s; set-up %.2f s\n",
      mode_name(o->mode), r->npub, r->npub == 1 ? "" : "s", r->nsub, r->nsub == 1 ? "" : "s",
      r->dest, o->hostport, o->path, o->size, o->window,
      o->mode == M_QUEUE ? " per publisher" : " messages", setup_s);
  fflush(stdout);

  uint64_t start = now_ns();
  r->t_measure = start + (uint64_t)(o->warmup * 1e9);
  r->t_end = r->t_measure + (uint64_t)(o->duration * 1e9);
  r->publishing = true;
  /* CPU use over the measured window, the client's own and the broker's: a side near 1.0
   * (one core each) is the one that set the pace. */
  if (o->warmup > 0) loop(r, r->t_measure, never);
  double cpu0 = cpu_s(), scpu0 = procs_cpu_s(o->server_pids);
  loop(r, r->t_end, never);
  uint64_t measured_end = now_ns() < r->t_end ? now_ns() : r->t_end;
  double cpu = cpu_s() - cpu0, scpu = procs_cpu_s(o->server_pids) - scpu0;
  bool interrupted = g_stop;
  r->publishing = false;
  g_stop = 0;
  uint64_t td = now_ns();
  int dr = loop(r, td + (uint64_t)(o->drain * 1e9), drained);
  double drain_s = (double)(now_ns() - td) / 1e9;

  /* What never arrived: the tail each subscriber is missing (gaps were counted on arrival). */
  uint64_t missing = 0;
  for (int i = r->npub; i < r->nconns; i++)
    for (int p = 0; p < r->npub; p++) missing += r->c[p].sent - r->c[i].next[p];
  r->lost += missing;
  close_all(r);

  double secs = (double)(measured_end - r->t_measure) / 1e9;
  if (secs <= 0) secs = 1e-9;
  double rate = (double)r->counted / secs;
  double pub_rate = (double)r->sent_in_window / secs;
  char scpu_text[32] = "not sampled (--server-pids)";
  char scpu_str[16];
  snprintf(scpu_str, sizeof scpu_str, "%.2f", scpu / secs);
  if (o->server_pids) snprintf(scpu_text, sizeof scpu_text, "%.0f%%", 100.0 * scpu / secs);
  bool bad = r->failed || r->lost || r->dup || r->corrupt || r->errors || r->unexpected;
  printf("stomp_load: warm-up %.1f s, measured %.2f s%s: %" PRIu64
         " deliveries, %.0f msgs/s "
         "received, %.0f msgs/s published; drained in %.2f s%s; CPU: client %.0f%%, "
         "broker %s\n",
         o->warmup, secs, interrupted ? " (interrupted)" : "", r->counted, rate, pub_rate, drain_s,
         dr == 0 ? "" : " (timed out)", 100.0 * cpu / secs, scpu_text);
  if (bad)
    printf(
        "stomp_load: %d connections failed, %lu lost, %lu repeated or late, %lu corrupt, "
        "%lu ERROR frames, %lu unexpected frames\n",
        r->failed, r->lost, r->dup, r->corrupt, r->errors, r->unexpected);
  printf("RESULT mode=%s publishers=%d subscribers=%d size=%zu window=%" PRIu64
         " seconds=%.2f msgs_per_s=%.0f published_per_s=%.0f sent=%" PRIu64 " received=%" PRIu64
         " lost=%lu dup=%lu corrupt=%lu errors=%lu failed=%d client_cpu=%.2f server_cpu=%s\n",
         mode_name(o->mode), r->npub, r->nsub, o->size, o->window, secs, rate, pub_rate,
         r->sent_total, r->received_total, r->lost, r->dup, r->corrupt, r->errors, r->failed,
         cpu / secs, o->server_pids ? scpu_str : "na");
  return finish(r, bad ? 1 : 0);
}
