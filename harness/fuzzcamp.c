/* Live fuzz campaigns (see fuzzcamp.h). */
#include "fuzzcamp.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>

#include "base/error.h"
#include "caseparse.h"
#include "conn.h"
#include "fuzzmut.h"
#include "report.h"
#include "result.h"

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

const char *wsc_fuzz_kind_name(enum wsc_fuzz_kind k) {
  static const char *const n[WSC_FUZZ_KIND_COUNT] = {"none", "crash", "hang", "protocol", "memory"};
  return (unsigned)k < WSC_FUZZ_KIND_COUNT ? n[k] : "?";
}

/* ------------------------------------------------------------------------------------------
 * Small helpers
 */

bool wsc_fuzz_is_loopback(const char *host) {
  if (!host || !*host) return false;
  if (strcasecmp(host, "localhost") == 0 || strcmp(host, "::1") == 0 || strcmp(host, "[::1]") == 0)
    return true;
  struct in_addr a;
  if (inet_pton(AF_INET, host, &a) == 1) return (ntohl(a.s_addr) >> 24) == 127;
  return false;
}

int wsc_fuzz_subst_port(const char *in, unsigned port, char **out) {
  char num[16];
  snprintf(num, sizeof num, "%u", port);
  size_t n = 0, nl = strlen(num);
  for (const char *p = in; *p;) {
    if (strncmp(p, "{port}", 6) == 0) {
      n += nl;
      p += 6;
    } else {
      n++;
      p++;
    }
  }
  char *s = malloc(n + 1);
  if (!s) return WSREF_E_NOMEM;
  char *d = s;
  for (const char *p = in; *p;) {
    if (strncmp(p, "{port}", 6) == 0) {
      memcpy(d, num, nl);
      d += nl;
      p += 6;
    } else {
      *d++ = *p++;
    }
  }
  *d = 0;
  *out = s;
  return 0;
}

int wsc_fuzz_free_port(uint16_t *port) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return WSREF_E_IO;
  struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t sl = sizeof sa;
  int rc = WSREF_E_IO;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
      getsockname(fd, (struct sockaddr *)&sa, &sl) == 0) {
    *port = ntohs(sa.sin_port);
    rc = 0;
  }
  close(fd);
  return rc;
}

int wsc_fuzz_rss_kib(int pid, uint64_t *kib) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/statm", pid);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return WSREF_E_IO;
  char b[128];
  ssize_t n = read(fd, b, sizeof b - 1);
  close(fd);
  if (n <= 0) return WSREF_E_IO;
  b[n] = 0;
  unsigned long long size, resident;
  if (sscanf(b, "%llu %llu", &size, &resident) != 2) return WSREF_E_IO;
  long page = sysconf(_SC_PAGESIZE);
  *kib = resident * (uint64_t)(page > 0 ? page : 4096) / 1024;
  return 0;
}

static void sleep_us(uint64_t us) {
  struct timespec ts = {(time_t)(us / 1000000), (long)(us % 1000000) * 1000};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static bool stopping(const wsc_fuzz_options *o) {
  return o->stop && *o->stop;
}

static int mkdir_p(const char *path) {
  char tmp[PATH_MAX];
  if (snprintf(tmp, sizeof tmp, "%s", path) >= (int)sizeof tmp) return WSREF_E_INVALID_ARG;
  for (char *p = tmp + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(tmp, 0777) != 0 && errno != EEXIST) return WSREF_E_IO;
    *p = '/';
  }
  if (mkdir(tmp, 0777) != 0 && errno != EEXIST) return WSREF_E_IO;
  return 0;
}

/* TCP only: is something accepting connections at host:port? 0, WSREF_E_CONNECT (refused,
 * unresolvable) or WSREF_E_TIMEOUT. */
static int tcp_probe(const char *host, uint16_t port, uint64_t timeout_us) {
  char ps[8];
  snprintf(ps, sizeof ps, "%u", port);
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
  if (getaddrinfo(host, ps, &hints, &ai) != 0 || !ai) return WSREF_E_CONNECT;
  int rc = WSREF_E_CONNECT;
  for (struct addrinfo *a = ai; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) continue;
    int c = connect(fd, a->ai_addr, a->ai_addrlen);
    if (c == 0) {
      close(fd);
      rc = 0;
      break;
    }
    if (errno == EINPROGRESS) {
      struct pollfd p = {fd, POLLOUT, 0};
      int k;
      do {
        k = poll(&p, 1, (int)(timeout_us / 1000));
      } while (k < 0 && errno == EINTR);
      if (k == 0) {
        close(fd);
        rc = WSREF_E_TIMEOUT;
        continue;
      }
      int e = 0;
      socklen_t el = sizeof e;
      getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &el);
      close(fd);
      if (e == 0) {
        rc = 0;
        break;
      }
      continue;
    }
    close(fd);
  }
  freeaddrinfo(ai);
  return rc;
}

/* ------------------------------------------------------------------------------------------
 * The --exec target
 */

typedef struct target {
  const char *cmd;
  char *log_path;
  char host[256];
  uint16_t port;
  uint64_t start_timeout_us;
  pid_t pid;
  bool running;
  unsigned starts;
  off_t log_start; /* where the current incarnation's output starts in the log */
  char exit_desc[96];

  /* RSS sampler: peak since the last reset */
  pthread_t th;
  bool th_on;
  pthread_mutex_t mu;
  bool th_stop;
  uint64_t peak_kib, base_kib;
} target;

static void describe_status(int st, char *out, size_t cap) {
  if (WIFEXITED(st))
    snprintf(out, cap, "exited with status %d", WEXITSTATUS(st));
  else if (WIFSIGNALED(st))
    snprintf(out, cap, "was killed by signal %d (%s)%s", WTERMSIG(st), strsignal(WTERMSIG(st)),
             WCOREDUMP(st) ? ", core dumped" : "");
  else
    snprintf(out, cap, "stopped (status 0x%x)", (unsigned)st);
}

/* Has the target exited? Reaps it and says how. */
static bool target_exited(target *t) {
  pthread_mutex_lock(&t->mu);
  bool running = t->running;
  pid_t pid = t->pid;
  pthread_mutex_unlock(&t->mu);
  if (!running) return true;
  int st;
  pid_t r = waitpid(pid, &st, WNOHANG);
  if (r == pid) {
    describe_status(st, t->exit_desc, sizeof t->exit_desc);
    pthread_mutex_lock(&t->mu);
    t->running = false;
    pthread_mutex_unlock(&t->mu);
    return true;
  }
  return false;
}

static void *sampler(void *arg) {
  target *t = arg;
  for (;;) {
    pthread_mutex_lock(&t->mu);
    bool stop = t->th_stop;
    pid_t pid = t->running ? t->pid : 0;
    pthread_mutex_unlock(&t->mu);
    if (stop) break;
    uint64_t kib;
    if (pid && wsc_fuzz_rss_kib(pid, &kib) == 0) {
      pthread_mutex_lock(&t->mu);
      if (kib > t->peak_kib) t->peak_kib = kib;
      pthread_mutex_unlock(&t->mu);
    }
    sleep_us(20000);
  }
  return NULL;
}

static uint64_t target_peak(target *t, bool reset) {
  pthread_mutex_lock(&t->mu);
  uint64_t p = t->peak_kib;
  if (reset) t->peak_kib = 0;
  pthread_mutex_unlock(&t->mu);
  return p;
}

static void target_stop(target *t) {
  pthread_mutex_lock(&t->mu);
  bool running = t->running;
  pid_t pid = t->pid;
  pthread_mutex_unlock(&t->mu);
  if (!running) return;
  kill(-pid, SIGTERM);
  kill(pid, SIGTERM);
  for (int i = 0; i < 200; i++) {
    if (target_exited(t)) break;
    sleep_us(10000);
  }
  if (!target_exited(t)) {
    kill(-pid, SIGKILL);
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
  }
  /* whatever the group left behind */
  kill(-pid, SIGKILL);
  pthread_mutex_lock(&t->mu);
  t->running = false;
  pthread_mutex_unlock(&t->mu);
}

static int target_start(target *t, char *err, size_t err_len) {
  int lfd = open(t->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0666);
  if (lfd < 0) {
    snprintf(err, err_len, "cannot open %s: %s", t->log_path, strerror(errno));
    return WSREF_E_IO;
  }
  dprintf(lfd, "== wsconform fuzz: start %u: %s\n", t->starts + 1, t->cmd);
  t->log_start = lseek(lfd, 0, SEEK_END);
  size_t cl = strlen(t->cmd);
  char *line = malloc(cl + 8);
  if (!line) {
    close(lfd);
    return WSREF_E_NOMEM;
  }
  memcpy(line, "exec ", 5);
  memcpy(line + 5, t->cmd, cl + 1);
  pid_t pid = fork();
  if (pid < 0) {
    snprintf(err, err_len, "fork: %s", strerror(errno));
    close(lfd);
    free(line);
    return WSREF_E_IO;
  }
  if (pid == 0) {
    setpgid(0, 0);
    int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    dup2(lfd, 1);
    dup2(lfd, 2);
    /* the harness ignores SIGPIPE; the target gets the defaults */
    signal(SIGPIPE, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    execl("/bin/sh", "sh", "-c", line, (char *)NULL);
    _exit(127);
  }
  setpgid(pid, pid);
  close(lfd);
  free(line);
  pthread_mutex_lock(&t->mu);
  t->pid = pid;
  t->running = true;
  t->exit_desc[0] = 0;
  pthread_mutex_unlock(&t->mu);
  t->starts++;
  uint64_t deadline = wsc_now_us() + t->start_timeout_us;
  for (;;) {
    if (target_exited(t)) {
      snprintf(err, err_len, "the target %s during start-up (its output: %s)", t->exit_desc,
               t->log_path);
      return WSREF_E_CONNECT;
    }
    if (tcp_probe(t->host, t->port, 200000) == 0) break;
    if (wsc_now_us() > deadline) {
      snprintf(err, err_len, "the target did not listen on %s:%u within %llu ms (its output: %s)",
               t->host, t->port, (unsigned long long)(t->start_timeout_us / 1000), t->log_path);
      target_stop(t);
      return WSREF_E_CONNECT;
    }
    sleep_us(20000);
  }
  uint64_t kib = 0;
  wsc_fuzz_rss_kib(pid, &kib);
  pthread_mutex_lock(&t->mu);
  t->base_kib = kib;
  t->peak_kib = 0;
  pthread_mutex_unlock(&t->mu);
  return 0;
}

/* The target's output since its last start (a crash's last words), at most cap octets. */
static char *target_output(const target *t, size_t cap) {
  int fd = open(t->log_path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NULL;
  off_t end = lseek(fd, 0, SEEK_END);
  off_t from = t->log_start;
  if (end - from > (off_t)cap) from = end - (off_t)cap;
  if (from < 0) from = 0;
  size_t n = (size_t)(end - from);
  char *b = malloc(n + 1);
  if (b) {
    ssize_t k = pread(fd, b, n, from);
    b[k > 0 ? (size_t)k : 0] = 0;
  }
  close(fd);
  return b;
}

/* ------------------------------------------------------------------------------------------
 * The campaign's state
 */

typedef struct camp {
  const wsc_fuzz_options *o;
  wsc_fuzz_stats *st;
  wsc_runner *rn;
  wsc_runner_options ro;
  target tgt;
  bool exec;
  uint64_t hang_us, expect_us, rss_growth_kib;
  size_t max_findings;
  /* the liveness check: a ping on a new connection, for each endpoint */
  struct wsc_suite live[2];
  int live_pong_line[2];
  wsc_url url, surl;
  bool has_surl;
  size_t written[WSC_FUZZ_KIND_COUNT];
  char **sigs; /* signatures written */
  size_t nsigs;
  uint64_t t0;
} camp;

typedef struct mutant {
  const struct wsc_case *base;
  enum wsc_mut_family fam;
  struct wsc_mutation m[WSC_MUT_MAX + 512];
  size_t n;
  uint64_t iter;
} mutant;

/* What one run of a mutant showed. */
typedef struct verdict {
  enum wsc_fuzz_kind kind;
  char detail[600];
  char rule[160]; /* protocol: "rule clause" */
  char reason[400];
} verdict;

static void render_opts(const camp *cp, const mutant *mu, struct wsc_render_opts *ro) {
  wsc_render_opts_default(ro);
  ro->fuzz = true;
  ro->family = mu->fam;
  ro->expect_timeout_us = cp->expect_us;
  ro->probe_timeout_us = cp->hang_us;
}

static bool live_init(camp *cp, char *err, size_t err_len) {
  for (int k = 0; k < 2; k++) {
    char text[1024];
    unsigned long long T = (unsigned long long)(cp->hang_us / 1000);
    const char *p = k ? "l " : "";
    int n = snprintf(text, sizeof text,
                     "case fuzz.liveness \"The target answers a ping on a new connection\"\n"
                     "  clause RFC6455 5.5.2\n"
                     "  level MUST\n"
                     "  timeout %llums\n"
                     "%s"
                     "  expect handshake ok else=pass\n"
                     "  %ssend ping \"wsconform-fuzz-liveness\"\n"
                     "  %sexpect pong \"wsconform-fuzz-liveness\" timeout=%llums\n",
                     T * 2 + 1000, k ? "  conn l stomp\n" : "", p, p, T);
    /* the line of its `expect pong`, to find that expectation in the result */
    int line = 1;
    for (const char *q = text; q < strstr(text, "expect pong"); q++) line += *q == '\n';
    cp->live_pong_line[k] = line;
    struct wsc_diags d = {0};
    if (wsc_suite_load_buffer("fuzz-liveness.case", text, (size_t)n, NULL, &cp->live[k], &d)) {
      snprintf(err, err_len, "internal: the liveness case does not load");
      wsc_diags_free(&d);
      return false;
    }
  }
  return true;
}

static const wsc_expect_alt *expect_at(const wsc_result *r, int line) {
  for (size_t i = 0; i < r->nexpected; i++)
    if (r->expected[i].line == line) return &r->expected[i];
  return NULL;
}

enum live { LIVE_OK = 0, LIVE_REFUSED, LIVE_NO_ANSWER };

/* Is the target still serving? A new connection, a handshake, a ping. */
static enum live liveness(camp *cp, bool stomp, char *why, size_t cap) {
  const wsc_url *u = stomp && cp->has_surl ? &cp->surl : &cp->url;
  int rc = tcp_probe(u->host, u->port, cp->hang_us);
  if (rc == WSREF_E_CONNECT) {
    snprintf(why, cap, "a new connection to %s:%u was refused", u->host, u->port);
    return LIVE_REFUSED;
  }
  if (rc == WSREF_E_TIMEOUT) {
    snprintf(why, cap, "a new connection to %s:%u was not accepted within %llu ms", u->host,
             u->port, (unsigned long long)(cp->hang_us / 1000));
    return LIVE_NO_ANSWER;
  }
  wsc_result res;
  const struct wsc_case *lc = &cp->live[stomp ? 1 : 0].cases[0];
  wsc_runner_run_case(cp->rn, lc, &res);
  cp->st->execs++;
  enum live out = LIVE_OK;
  bool by_us = res.close.tcp == WSC_TCP_HARNESS || res.close.tcp == WSC_TCP_NEVER;
  if (res.status == 0) {
    if (by_us && res.verdict != WSC_ERROR) {
      snprintf(why, cap, "a new connection got no handshake response within %llu ms",
               (unsigned long long)(cp->hang_us / 1000));
      out = LIVE_NO_ANSWER;
    } else {
      int again = tcp_probe(u->host, u->port, cp->hang_us);
      if (again == WSREF_E_CONNECT) {
        snprintf(why, cap, "a new connection was closed, then refused");
        out = LIVE_REFUSED;
      } else if (again == WSREF_E_TIMEOUT) {
        snprintf(why, cap, "a new connection was not accepted within %llu ms",
                 (unsigned long long)(cp->hang_us / 1000));
        out = LIVE_NO_ANSWER;
      }
    }
  } else if (res.status == 101) {
    const wsc_expect_alt *pong = expect_at(&res, cp->live_pong_line[stomp ? 1 : 0]);
    if (pong && !pong->matched && by_us) {
      snprintf(why, cap, "a new connection got no pong within %llu ms",
               (unsigned long long)(cp->hang_us / 1000));
      out = LIVE_NO_ANSWER;
    }
  }
  wsc_result_free(&res);
  return out;
}

/* The mutant's probe: did its pong come? (-1: not run, 0: came, 1: nothing within the wait,
 * 2: its connection ended) */
static int probe_outcome(const camp *cp, const wsc_result *r, int line) {
  const wsc_expect_alt *a = expect_at(r, line);
  if (!a) return -1;
  if (a->matched) return 0;
  const char *why = a->outcome ? a->outcome : "";
  const char *w = strstr(why, "nothing arrived within ");
  if (w) {
    /* cut short by the case's deadline: the budget, not the target */
    unsigned long long ms = strtoull(w + 23, NULL, 10);
    return ms + 100 >= cp->hang_us / 1000 ? 1 : -1;
  }
  if (strstr(why, "not reached")) return -1;
  return 2;
}

/* Runs case c (a loaded mutant) once and judges what the target did. */
static void run_and_judge(camp *cp, const struct wsc_case *c, int probe_line, bool stomp,
                          enum wsc_mut_family fam, verdict *v, wsc_result *keep) {
  memset(v, 0, sizeof *v);
  if (cp->exec) target_peak(&cp->tgt, true);
  wsc_result res;
  wsc_runner_run_case(cp->rn, c, &res);
  cp->st->execs++;
  snprintf(v->reason, sizeof v->reason, "%s: %s", wsc_verdict_name(res.verdict),
           res.reason ? res.reason : "");
  if (cp->exec && target_exited(&cp->tgt)) {
    v->kind = WSC_FUZZ_CRASH;
    snprintf(v->detail, sizeof v->detail, "the target %s", cp->tgt.exit_desc);
    goto out;
  }
  int probe = probe_line ? probe_outcome(cp, &res, probe_line) : -1;
  char why[300];
  enum live lv = liveness(cp, stomp, why, sizeof why);
  /* a dying process closes its sockets before it can be reaped: give it a moment */
  for (int i = 0; cp->exec && lv != LIVE_OK && i < 50 && !target_exited(&cp->tgt); i++)
    sleep_us(10000);
  if (cp->exec && target_exited(&cp->tgt)) {
    v->kind = WSC_FUZZ_CRASH;
    snprintf(v->detail, sizeof v->detail, "the target %s", cp->tgt.exit_desc);
    goto out;
  }
  if (lv == LIVE_REFUSED) {
    v->kind = WSC_FUZZ_CRASH;
    snprintf(v->detail, sizeof v->detail, "%s after the case", why);
    goto out;
  }
  if (lv == LIVE_NO_ANSWER) {
    v->kind = WSC_FUZZ_HANG;
    snprintf(v->detail, sizeof v->detail, "%s after the case", why);
    goto out;
  }
  if (probe == 1) {
    v->kind = WSC_FUZZ_HANG;
    snprintf(v->detail, sizeof v->detail,
             "the probe connection got no pong within %llu ms while the case ran",
             (unsigned long long)(cp->hang_us / 1000));
    goto out;
  }
  if (fam == WSC_MUT_HANDSHAKE && res.status == 0 &&
      (res.close.tcp == WSC_TCP_TARGET_FIN || res.close.tcp == WSC_TCP_TARGET_RESET)) {
    /* RFC 6455 4.2.1: a request the server will not upgrade gets an HTTP error response; a
     * target that is alive (above) and just closed did not send one */
    bool reset = res.close.tcp == WSC_TCP_TARGET_RESET;
    v->kind = WSC_FUZZ_PROTOCOL;
    snprintf(v->rule, sizeof v->rule, "handshake-unanswered RFC6455 4.2.1 (%s)",
             reset ? "reset" : "FIN");
    if (reset)
      snprintf(v->detail, sizeof v->detail,
               "RFC6455 4.2.1 handshake-unanswered: no HTTP response arrived, the connection was "
               "reset (a response sent before closing with unread input is lost that way: RFC9112 "
               "9.6)");
    else
      snprintf(v->detail, sizeof v->detail,
               "RFC6455 4.2.1 handshake-unanswered: the target closed the connection without an "
               "HTTP response");
    goto out;
  }
  if (res.nfindings) {
    const wsc_finding *f = &res.findings[0];
    v->kind = WSC_FUZZ_PROTOCOL;
    snprintf(v->rule, sizeof v->rule, "%s %s", f->rule ? f->rule : "?",
             f->clause ? f->clause : "?");
    snprintf(v->detail, sizeof v->detail, "strict observer: %s %s: %s%s%s", f->clause, f->rule,
             f->conn ? f->conn : "", f->conn ? ": " : "", f->message ? f->message : "");
    goto out;
  }
  if (cp->exec) {
    uint64_t peak = target_peak(&cp->tgt, false), cur = 0;
    if (wsc_fuzz_rss_kib(cp->tgt.pid, &cur) == 0 && cur > peak) peak = cur;
    if (peak > cp->tgt.base_kib && peak - cp->tgt.base_kib > cp->rss_growth_kib) {
      v->kind = WSC_FUZZ_MEMORY;
      snprintf(v->detail, sizeof v->detail,
               "the target's RSS reached %llu KiB, %llu KiB above its %llu KiB after start-up",
               (unsigned long long)peak, (unsigned long long)(peak - cp->tgt.base_kib),
               (unsigned long long)cp->tgt.base_kib);
    }
  }
out:
  if (keep)
    *keep = res;
  else
    wsc_result_free(&res);
}

/* A fresh target for a finding that leaves it broken (or whose measure needs a clean start). */
static bool ensure_target(camp *cp, bool fresh) {
  if (!cp->exec) return true;
  if (cp->tgt.running && !fresh && !target_exited(&cp->tgt)) return true;
  target_stop(&cp->tgt);
  char err[300];
  for (int attempt = 0; attempt < 3; attempt++) {
    if (target_start(&cp->tgt, err, sizeof err) == 0) {
      cp->st->restarts++;
      return true;
    }
    sleep_us(200000);
  }
  snprintf(cp->st->stop_reason, sizeof cp->st->stop_reason,
           "the target could not be restarted: %.160s", err);
  return false;
}

/* Renders and loads a mutant. Returns false (counted as invalid) if it does not load. */
static bool load_mutant(camp *cp, const mutant *mu, const char *id, const char *title,
                        const char *const *notes, size_t nnotes, struct wsc_suite *s,
                        struct wsc_render_info *info, char **text_out) {
  struct wsc_render_opts ro;
  render_opts(cp, mu, &ro);
  ro.probe_case = text_out != NULL; /* the file written for a finding */
  ro.id = id;
  ro.title = title;
  ro.notes = notes;
  ro.nnotes = nnotes;
  char *text = NULL;
  size_t len = 0;
  char err[256];
  if (wsc_mut_render(mu->base, mu->m, mu->n, &ro, &text, &len, info, err, sizeof err)) return false;
  struct wsc_diags d = {0};
  memset(s, 0, sizeof *s);
  int rc = wsc_suite_load_buffer("fuzz-mutant.case", text, len, NULL, s, &d);
  wsc_diags_free(&d);
  if (rc || s->ncases != (info && info->probe_case ? 2u : 1u)) {
    wsc_suite_free(s);
    free(text);
    return false;
  }
  if (text_out)
    *text_out = text;
  else
    free(text);
  return true;
}

static bool same_finding(const verdict *a, enum wsc_fuzz_kind kind, const char *rule) {
  if (a->kind != kind) return false;
  return kind != WSC_FUZZ_PROTOCOL || strcmp(a->rule, rule) == 0;
}

/* Does the mutant (still) show the finding? */
static bool reproduce(camp *cp, const mutant *mu, enum wsc_fuzz_kind kind, const char *rule,
                      verdict *v) {
  bool fresh = kind != WSC_FUZZ_PROTOCOL;
  if (!ensure_target(cp, fresh)) return false;
  if (!cp->exec && kind == WSC_FUZZ_CRASH) return false; /* nothing to restart */
  struct wsc_suite s;
  struct wsc_render_info info;
  if (!load_mutant(cp, mu, "fuzz.shrink", NULL, NULL, 0, &s, &info, NULL)) return false;
  verdict tmp;
  run_and_judge(cp, &s.cases[0], info.probe_line, mu->base->stomp, mu->fam, v ? v : &tmp, NULL);
  bool ok = same_finding(v ? v : &tmp, kind, rule);
  wsc_suite_free(&s);
  return ok;
}

static void mutant_remove(mutant *mu, size_t i) {
  memmove(&mu->m[i], &mu->m[i + 1], (mu->n - i - 1) * sizeof mu->m[0]);
  mu->n--;
}

static bool step_targeted(const mutant *mu, size_t step) {
  for (size_t i = 0; i < mu->n; i++)
    if (mu->m[i].step == step && mu->m[i].kind != WSC_MUT_DROP_STEP &&
        mu->m[i].kind != WSC_MUT_INSERT && mu->m[i].kind != WSC_MUT_SLEEP)
      return true;
  return false;
}

static bool step_dropped(const mutant *mu, size_t step) {
  for (size_t i = 0; i < mu->n; i++)
    if (mu->m[i].step == step && mu->m[i].kind == WSC_MUT_DROP_STEP) return true;
  return false;
}

/* Minimises a confirmed finding within the shrink deadline. */
static void shrink(camp *cp, mutant *mu, enum wsc_fuzz_kind kind, const char *rule,
                   uint64_t deadline) {
  const struct wsc_case *c = mu->base;
  /* 1. each mutation, last first */
  for (size_t i = mu->n; i-- > 0;) {
    if (wsc_now_us() > deadline || stopping(cp->o)) return;
    mutant t = *mu;
    mutant_remove(&t, i);
    if (t.n == 0 && t.fam == WSC_MUT_HANDSHAKE) {
      /* the base case alone: as a steps mutant it gets the probe connection */
      t.fam = WSC_MUT_STEPS;
      if (reproduce(cp, &t, kind, rule, NULL)) {
        *mu = t;
        continue;
      }
      t.fam = WSC_MUT_HANDSHAKE;
    }
    if (reproduce(cp, &t, kind, rule, NULL)) *mu = t;
  }
  if (mu->fam != WSC_MUT_STEPS) return;
  /* 2. each step of the base case that no mutation aims at, last first */
  for (size_t j = c->nsteps; j-- > 0;) {
    if (wsc_now_us() > deadline || stopping(cp->o)) return;
    if (mu->n >= NELEM(mu->m)) break;
    const struct wsc_step *st = &c->steps[j];
    if (st->kind == WSC_STEP_CAPTURE || step_targeted(mu, j) || step_dropped(mu, j)) continue;
    if (st->kind == WSC_STEP_FLUSH || st->kind == WSC_STEP_STOMP_FLUSH) continue;
    mutant t = *mu;
    t.m[t.n++] = (struct wsc_mutation){WSC_MUT_DROP_STEP, j, 0, 0};
    if (reproduce(cp, &t, kind, rule, NULL)) *mu = t;
  }
  /* 3. payloads halved while the finding holds */
  for (size_t j = 0; j < c->nsteps; j++) {
    const struct wsc_step *st = &c->steps[j];
    const struct wsc_payload *p = st->kind == WSC_STEP_SEND       ? st->frame.payload
                                  : st->kind == WSC_STEP_SEND_RAW ? st->raw
                                  : st->kind == WSC_STEP_STOMP    ? st->stomp.body
                                                                  : NULL;
    if (!p || step_dropped(mu, j) || wsc_payload_has_vars(p)) continue;
    uint64_t len;
    if (wsc_payload_length(p, NULL, &len) || len <= 8 || len > WSC_MUT_MAX_PAYLOAD_DEFAULT)
      continue;
    while (len > 8 && mu->n < NELEM(mu->m)) {
      if (wsc_now_us() > deadline || stopping(cp->o)) return;
      mutant t = *mu;
      t.m[t.n++] = (struct wsc_mutation){WSC_MUT_TRUNC, j, len / 2, 0};
      if (!reproduce(cp, &t, kind, rule, NULL)) break;
      *mu = t;
      len /= 2;
    }
  }
}

/* What duplicates share: the rule, or the kinds of mutation that remain after shrinking. */
static char *signature(const mutant *mu, enum wsc_fuzz_kind kind, const char *rule) {
  char b[512];
  size_t k = (size_t)snprintf(b, sizeof b, "%s:", wsc_fuzz_kind_name(kind));
  if (kind == WSC_FUZZ_PROTOCOL) {
    snprintf(b + k, sizeof b - k, "%s", rule);
    return strdup(b);
  }
  bool seen[WSC_MUT_KIND_COUNT] = {false};
  for (size_t i = 0; i < mu->n; i++)
    if (mu->m[i].kind != WSC_MUT_DROP_STEP && mu->m[i].kind != WSC_MUT_TRUNC)
      seen[mu->m[i].kind] = true;
  bool any = false;
  for (int i = 0; i < WSC_MUT_KIND_COUNT && k < sizeof b - 32; i++)
    if (seen[i]) {
      k += (size_t)snprintf(b + k, sizeof b - k, "%s+", wsc_mut_kind_name(i));
      any = true;
    }
  if (!any) {
    /* the corpus case itself (or steps left out of it) shows it */
    snprintf(b + k, sizeof b - k, "=%s", mu->base->id);
    return strdup(b);
  }
  if (b[k - 1] == '+') b[k - 1] = 0;
  return strdup(b);
}

/* Could this detection be one already written? (protocol: same rule; others: a written
 * finding's mutation kinds all occur here) */
static bool known(const camp *cp, const mutant *mu, enum wsc_fuzz_kind kind, const char *rule) {
  char *mine = signature(mu, kind, rule);
  bool dup = false;
  for (size_t i = 0; mine && i < cp->nsigs && !dup; i++) {
    const char *s = cp->sigs[i];
    size_t kl = strlen(wsc_fuzz_kind_name(kind));
    if (strncmp(s, wsc_fuzz_kind_name(kind), kl) != 0 || s[kl] != ':') continue;
    if (kind == WSC_FUZZ_PROTOCOL || s[kl + 1] == '=' || mine[kl + 1] == '=') {
      dup = strcmp(s, mine) == 0;
      continue;
    }
    /* every kind named in s occurs in mine */
    char tmp[512];
    snprintf(tmp, sizeof tmp, "%s", s + kl + 1);
    bool all = tmp[0] != 0;
    for (char *save = NULL, *tok = strtok_r(tmp, "+", &save); tok && all;
         tok = strtok_r(NULL, "+", &save)) {
      size_t tl = strlen(tok);
      const char *p = mine + kl + 1;
      bool found = false;
      while (p && *p && !found) {
        const char *e = strchr(p, '+');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        found = n == tl && strncmp(p, tok, tl) == 0;
        p = e ? e + 1 : NULL;
      }
      all = found;
    }
    dup = all;
  }
  free(mine);
  return dup;
}

/* ------------------------------------------------------------------------------------------
 * Writing a finding
 */

static int write_file(const char *path, const char *text, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return WSREF_E_IO;
  size_t w = fwrite(text, 1, n, f);
  int rc = fclose(f);
  return w == n && rc == 0 ? 0 : WSREF_E_IO;
}

static void hexdump_result(FILE *f, const wsc_result *r) {
  wsref_buf b = WSREF_BUF_INIT;
  for (size_t i = 0; i < r->wire.n; i++) {
    const wsc_wire_chunk *c = &r->wire.chunks[i];
    char who[80] = "";
    if (c->conn) snprintf(who, sizeof who, "[%s] ", c->conn);
    if (c->dir == WSC_WIRE_NOTE) {
      fprintf(f, "%10.3f ms  -- %s%s\n", (double)c->t_us / 1000.0, who, c->note ? c->note : "");
      continue;
    }
    fprintf(f, "%10.3f ms  %s%s %zu octets @%llu\n", (double)c->t_us / 1000.0, who,
            c->dir == WSC_WIRE_TX ? ">> sent" : "<< received", c->len,
            (unsigned long long)c->offset);
    wsref_buf_reset(&b);
    wsc_hexdump(&b, c->data, c->data_len > 512 ? 512 : c->data_len, c->offset);
    fwrite(wsref_buf_head(&b), 1, wsref_buf_len(&b), f);
    if (c->data_len > 512 || c->data_len < c->len)
      fprintf(f, "            ... %zu more octets not shown\n",
              c->len - (c->data_len > 512 ? 512 : c->data_len));
  }
  wsref_buf_free(&b);
}

static void record_finding(camp *cp, mutant *mu, const verdict *v, bool confirmed) {
  const wsc_fuzz_options *o = cp->o;
  wsc_fuzz_stats *st = cp->st;
  size_t idx = ++cp->written[v->kind];
  char base[40], path[PATH_MAX], tpath[PATH_MAX], id[64];
  snprintf(base, sizeof base, "%s-%03zu", wsc_fuzz_kind_name(v->kind), idx);
  snprintf(path, sizeof path, "%s/%s.case", o->out_dir, base);
  snprintf(tpath, sizeof tpath, "%s/%s.txt", o->out_dir, base);
  snprintf(id, sizeof id, "fuzz.%s", base);

  /* notes say where it came from and how to replay it */
  char *notes[WSC_MUT_MAX + 520];
  size_t nn = 0;
  char buf[1024];
  snprintf(buf, sizeof buf, "wsconform fuzz %s: seed %llu, iteration %llu, target %s",
           o->run_id ? o->run_id : "fuzz", (unsigned long long)o->seed,
           (unsigned long long)mu->iter, o->runner.url);
  notes[nn++] = strdup(buf);
  snprintf(buf, sizeof buf, "%s: %s%s", wsc_fuzz_kind_name(v->kind), v->detail,
           confirmed ? "" : " (did not happen again when run a second time)");
  notes[nn++] = strdup(buf);
  snprintf(buf, sizeof buf, "mutant of %s (%s:%d)", mu->base->id, mu->base->loc.file,
           mu->base->loc.line);
  notes[nn++] = strdup(buf);
  for (size_t i = 0; i < mu->n && nn < NELEM(notes) - 1; i++) {
    char d[300];
    wsc_mut_describe(mu->base, &mu->m[i], d, sizeof d);
    snprintf(buf, sizeof buf, "mutation: %s", d);
    notes[nn++] = strdup(buf);
  }
  snprintf(buf, sizeof buf,
           "replay: wsconform run --case %s.case URL (FAIL or ERROR while it reproduces)", base);
  notes[nn++] = strdup(buf);
  char title[200];
  snprintf(title, sizeof title, "fuzz %s: %.150s", wsc_fuzz_kind_name(v->kind),
           v->kind == WSC_FUZZ_PROTOCOL ? v->rule : v->detail);
  title[120] = 0;

  struct wsc_suite s;
  struct wsc_render_info info;
  char *text = NULL;
  bool ok = load_mutant(cp, mu, id, title, (const char *const *)notes, nn, &s, &info, &text);
  for (size_t i = 0; i < nn; i++) free(notes[i]);
  if (!ok) {
    st->invalid++;
    return;
  }
  wsc_suite_free(&s);
  if (write_file(path, text, strlen(text))) {
    if (o->progress) fprintf(o->progress, "wsconform fuzz: cannot write %s\n", path);
    free(text);
    return;
  }
  free(text);

  /* replay the file as a user would, on a fresh target for the kinds that break it */
  wsc_fuzz_finding fnd = {0};
  fnd.kind = v->kind;
  fnd.path = strdup(path);
  fnd.detail = strdup(v->detail);
  fnd.base_id = strdup(mu->base->id);
  fnd.iteration = mu->iter;
  fnd.nmutations = mu->n;
  fnd.confirmed = confirmed;
  fnd.signature = signature(mu, v->kind, v->rule);
  verdict rv;
  memset(&rv, 0, sizeof rv);
  wsc_result res;
  memset(&res, 0, sizeof res);
  bool have_res = false;
  char *out_before = cp->exec ? target_output(&cp->tgt, 4000) : NULL;
  char probe_verdict[32] = "", probe_reason[400] = "";
  struct wsc_suite fs;
  memset(&fs, 0, sizeof fs);
  struct wsc_diags d = {0};
  const char *pp = path;
  if ((cp->exec || v->kind == WSC_FUZZ_PROTOCOL) &&
      ensure_target(cp, v->kind != WSC_FUZZ_PROTOCOL) &&
      wsc_suite_load_files(&pp, 1, NULL, &fs, &d) == 0 && fs.ncases >= 1) {
    run_and_judge(cp, &fs.cases[0], info.probe_line, mu->base->stomp, mu->fam, &rv, &res);
    have_res = true;
    fnd.replayed = same_finding(&rv, v->kind, v->rule);
    fnd.replay_fails = wsc_verdict_is_failure(res.verdict, false);
    /* the probe case, after the mutant (-j 1 order; in parallel it is connected first) */
    for (size_t i = 1; i < fs.ncases; i++) {
      wsc_result pr;
      wsc_runner_run_case(cp->rn, &fs.cases[i], &pr);
      cp->st->execs++;
      if (wsc_verdict_is_failure(pr.verdict, false)) {
        fnd.replay_fails = true;
        snprintf(probe_verdict, sizeof probe_verdict, "%s", wsc_verdict_name(pr.verdict));
        snprintf(probe_reason, sizeof probe_reason, "%s", pr.reason ? pr.reason : "");
      }
      wsc_result_free(&pr);
    }
  }
  wsc_diags_free(&d);
  wsc_suite_free(&fs);

  FILE *f = fopen(tpath, "w");
  if (f) {
    fprintf(f, "finding   %s\nkind      %s\nseen      %s\nbase case %s (%s:%d)\n", base,
            wsc_fuzz_kind_name(v->kind), v->detail, mu->base->id, mu->base->loc.file,
            mu->base->loc.line);
    fprintf(f, "campaign  %s, seed %llu, iteration %llu\ntarget    %s\n",
            o->run_id ? o->run_id : "fuzz", (unsigned long long)o->seed,
            (unsigned long long)mu->iter, o->runner.url);
    if (o->exec_cmd) fprintf(f, "exec      %s\n", o->exec_cmd);
    fprintf(f, "confirmed %s\nreplayed  %s%s%s\n", confirmed ? "yes" : "no",
            fnd.replayed ? "yes" : "no", have_res ? ": " : "", have_res ? rv.detail : "");
    if (have_res)
      fprintf(f, "verdict   %s%s%s: %s\n", wsc_verdict_name(res.verdict),
              probe_verdict[0] ? ", probe case " : "", probe_verdict[0] ? probe_verdict : "",
              fnd.replay_fails ? "the file fails while the finding reproduces"
                               : "only the campaign's watch on the target shows it");
    fprintf(f, "replay    wsconform run --case %s URL\n\nmutations:\n", path);
    for (size_t i = 0; i < mu->n; i++) {
      char dd[300];
      wsc_mut_describe(mu->base, &mu->m[i], dd, sizeof dd);
      fprintf(f, "  %s\n", dd);
    }
    if (out_before && *out_before)
      fprintf(f, "\nthe target's output since its last start, when it was found:\n%s\n",
              out_before);
    if (have_res) {
      fprintf(f, "\nthe replay: %s\n", rv.reason);
      if (probe_verdict[0]) fprintf(f, "the probe case: %s: %s\n", probe_verdict, probe_reason);
      for (size_t i = 0; i < res.nfindings; i++)
        fprintf(f, "finding: %s %s: %s%s%s\n", res.findings[i].clause, res.findings[i].rule,
                res.findings[i].conn ? res.findings[i].conn : "", res.findings[i].conn ? ": " : "",
                res.findings[i].message);
      fputs("\nwire log of the replay:\n", f);
      hexdump_result(f, &res);
    }
    fclose(f);
  }
  if (have_res) wsc_result_free(&res);
  free(out_before);

  wsc_fuzz_finding *nv = realloc(st->findings, (st->nfindings + 1) * sizeof *nv);
  char **ns = realloc(cp->sigs, (cp->nsigs + 1) * sizeof *ns);
  if (ns) cp->sigs = ns;
  if (!nv || !ns) {
    free(fnd.path);
    free(fnd.detail);
    free(fnd.signature);
    free(fnd.base_id);
    if (nv) st->findings = nv;
    return;
  }
  st->findings = nv;
  cp->sigs[cp->nsigs++] = strdup(fnd.signature ? fnd.signature : "");
  st->findings[st->nfindings++] = fnd;
  if (o->progress)
    fprintf(o->progress, "%s%s: %s (%zu mutation%s%s) -> %s\n",
            isatty(fileno(o->progress)) ? "\r\033[K" : "", wsc_fuzz_kind_name(v->kind), v->detail,
            mu->n, mu->n == 1 ? "" : "s", fnd.replayed ? ", replays" : "", path);
}

/* A detection: confirm, shrink, write, or count it as a duplicate. */
static void handle(camp *cp, mutant *mu, const verdict *v) {
  wsc_fuzz_stats *st = cp->st;
  st->found[v->kind]++;
  if (cp->written[v->kind] >= cp->max_findings || known(cp, mu, v->kind, v->rule)) {
    st->duplicates++;
    ensure_target(cp, v->kind != WSC_FUZZ_PROTOCOL);
    return;
  }
  uint64_t deadline = wsc_now_us() + (cp->o->shrink_time_us ? cp->o->shrink_time_us
                                                            : WSC_FUZZ_SHRINK_TIME_DEFAULT_US);
  if (!cp->exec && v->kind != WSC_FUZZ_PROTOCOL) {
    /* a crashed or hung target nobody restarts cannot show it again: keep it as found */
    record_finding(cp, mu, v, false);
    return;
  }
  bool confirmed = reproduce(cp, mu, v->kind, v->rule, NULL);
  if (!confirmed && v->kind != WSC_FUZZ_PROTOCOL)
    confirmed = reproduce(cp, mu, v->kind, v->rule, NULL);
  if (!confirmed && v->kind != WSC_FUZZ_CRASH) {
    /* hangs, findings and growth that do not come back are noise, not findings */
    st->unconfirmed++;
    ensure_target(cp, v->kind != WSC_FUZZ_PROTOCOL);
    return;
  }
  if (confirmed) shrink(cp, mu, v->kind, v->rule, deadline);
  if (known(cp, mu, v->kind, v->rule)) {
    st->duplicates++;
  } else {
    record_finding(cp, mu, v, confirmed);
  }
  ensure_target(cp, v->kind != WSC_FUZZ_PROTOCOL);
}

/* ------------------------------------------------------------------------------------------
 * The loop
 */

bool wsc_fuzz_eligible(const struct wsc_case *c) {
  if (c->role != WSC_ROLE_SERVER || c->nsteps > WSC_FUZZ_MAX_BASE_STEPS) return false;
  for (int fam = 0; fam < 2; fam++) {
    if (!wsc_mut_family_ok(c, (enum wsc_mut_family)fam)) continue;
    struct wsc_render_opts ro;
    wsc_render_opts_default(&ro);
    ro.fuzz = true;
    ro.family = (enum wsc_mut_family)fam;
    char *text = NULL;
    size_t len;
    if (wsc_mut_render(c, NULL, 0, &ro, &text, &len, NULL, NULL, 0)) return false;
    struct wsc_suite s = {0};
    int rc = wsc_suite_load_buffer("fuzz-check.case", text, len, NULL, &s, NULL);
    wsc_suite_free(&s);
    free(text);
    if (rc) return false;
  }
  return true;
}

static void progress(camp *cp, bool final) {
  FILE *f = cp->o->progress;
  if (!f) return;
  const wsc_fuzz_stats *st = cp->st;
  double el = (double)(wsc_now_us() - cp->t0) / 1e6;
  size_t nf = 0;
  for (int k = 1; k < WSC_FUZZ_KIND_COUNT; k++) nf += st->found[k];
  bool tty = isatty(fileno(f));
  fprintf(f,
          "%s[fuzz] %5.1fs  iterations %llu  %.1f exec/s  found %zu (crash %zu, hang %zu, "
          "protocol %zu, memory %zu)  written %zu%s",
          tty ? "\r\033[K" : "", el, (unsigned long long)st->iterations,
          el > 0 ? (double)st->iterations / el : 0.0, nf, st->found[WSC_FUZZ_CRASH],
          st->found[WSC_FUZZ_HANG], st->found[WSC_FUZZ_PROTOCOL], st->found[WSC_FUZZ_MEMORY],
          st->nfindings, tty && !final ? "" : "\n");
  fflush(f);
}

int wsc_fuzz_campaign(const wsc_fuzz_options *o, wsc_fuzz_stats *st, char *err, size_t err_len) {
  memset(st, 0, sizeof *st);
  if (!o->runner.url || !o->out_dir || !o->nbases) {
    snprintf(err, err_len, "%s", !o->nbases ? "no case to mutate" : "no target or output folder");
    return WSREF_E_INVALID_ARG;
  }
  camp *cp = calloc(1, sizeof *cp);
  if (!cp) return WSREF_E_NOMEM;
  cp->o = o;
  cp->st = st;
  cp->exec = o->exec_cmd != NULL;
  cp->hang_us = o->hang_timeout_us ? o->hang_timeout_us : WSC_FUZZ_HANG_TIMEOUT_DEFAULT_US;
  cp->expect_us = o->expect_timeout_us ? o->expect_timeout_us : WSC_MUT_EXPECT_TIMEOUT_DEFAULT_US;
  cp->rss_growth_kib = o->rss_growth_kib ? o->rss_growth_kib : WSC_FUZZ_RSS_GROWTH_DEFAULT_KIB;
  cp->max_findings = o->max_findings ? o->max_findings : WSC_FUZZ_MAX_FINDINGS_DEFAULT;
  pthread_mutex_init(&cp->tgt.mu, NULL);
  int rc = 0;
  uint64_t t_start = wsc_now_us();

  if (wsc_url_parse(o->runner.url, &cp->url, err, err_len)) {
    rc = WSREF_E_INVALID_ARG;
    goto done_nourl;
  }
  if (o->runner.stomp_url) {
    if (wsc_url_parse(o->runner.stomp_url, &cp->surl, err, err_len)) {
      rc = WSREF_E_INVALID_ARG;
      goto done;
    }
    cp->has_surl = true;
  }
  if (mkdir_p(o->out_dir)) {
    snprintf(err, err_len, "cannot create %s: %s", o->out_dir, strerror(errno));
    rc = WSREF_E_IO;
    goto done;
  }
  if (!live_init(cp, err, err_len)) {
    rc = WSREF_E_INVALID_ARG;
    goto done;
  }

  cp->ro = o->runner;
  cp->ro.jobs = 1;
  cp->ro.connect_timeout_us = cp->hang_us;
  cp->ro.close_wait_us = 200000;
  if (!cp->ro.wire_cap) cp->ro.wire_cap = 256 * 1024;
  cp->ro.progress = NULL;
  cp->ro.run_id = o->run_id ? o->run_id : "fuzz";
  int rrc;
  cp->rn = wsc_runner_new(&cp->ro, &rrc, err, err_len);
  if (!cp->rn) {
    rc = rrc == WSREF_E_URL ? WSREF_E_INVALID_ARG : WSREF_E_CONNECT;
    goto done;
  }

  if (cp->exec) {
    target *t = &cp->tgt;
    t->cmd = o->exec_cmd;
    size_t pl = strlen(o->out_dir) + 16;
    t->log_path = malloc(pl);
    if (!t->log_path) {
      rc = WSREF_E_NOMEM;
      goto done;
    }
    snprintf(t->log_path, pl, "%s/target.log", o->out_dir);
    snprintf(t->host, sizeof t->host, "%s", cp->url.host);
    t->port = cp->url.port;
    t->start_timeout_us =
        o->start_timeout_us ? o->start_timeout_us : WSC_FUZZ_START_TIMEOUT_DEFAULT_US;
    if (target_start(t, err, err_len)) {
      rc = WSREF_E_CONNECT;
      goto done;
    }
    if (pthread_create(&t->th, NULL, sampler, t) == 0) t->th_on = true;
  }
  {
    char why[300];
    if (wsc_runner_probe(cp->rn, why, sizeof why)) {
      snprintf(err, err_len, "target unreachable: %s", why);
      rc = WSREF_E_CONNECT;
      goto done;
    }
    enum live lv = liveness(cp, false, why, sizeof why);
    if (lv != LIVE_OK) {
      snprintf(err, err_len, "target unreachable: %s", why);
      rc = WSREF_E_CONNECT;
      goto done;
    }
  }

  cp->t0 = wsc_now_us();
  uint64_t limit = o->time_us ? o->time_us : WSC_FUZZ_TIME_DEFAULT_US;
  uint64_t last_progress = 0;
  snprintf(st->stop_reason, sizeof st->stop_reason, "time is up");
  for (uint64_t it = 0;; it++) {
    if (stopping(o)) {
      snprintf(st->stop_reason, sizeof st->stop_reason, "interrupted");
      break;
    }
    if (o->iterations && it >= o->iterations) {
      snprintf(st->stop_reason, sizeof st->stop_reason, "%llu iterations done",
               (unsigned long long)it);
      break;
    }
    if (wsc_now_us() - cp->t0 >= limit) break;
    if (!ensure_target(cp, false)) break;

    mutant mu;
    memset(&mu, 0, sizeof mu);
    uint64_t rng = wsc_mut_iter_state(o->seed, it);
    mu.base = o->bases[wsc_mut_rand(&rng) % o->nbases];
    mu.iter = it;
    mu.n = wsc_mut_generate(mu.base, &rng, &mu.fam, mu.m, WSC_MUT_MAX);
    char id[48];
    snprintf(id, sizeof id, "fuzz.i%llu", (unsigned long long)it);
    struct wsc_suite s;
    struct wsc_render_info info;
    st->iterations++;
    if (!load_mutant(cp, &mu, id, NULL, NULL, 0, &s, &info, NULL)) {
      st->invalid++;
      continue;
    }
    verdict v;
    uint64_t t_run = wsc_now_us();
    run_and_judge(cp, &s.cases[0], info.probe_line, mu.base->stomp, mu.fam, &v, NULL);
    wsc_suite_free(&s);
    if (o->verbose && o->progress) {
      fprintf(o->progress, "%siteration %llu: %s, %s, %zu mutation%s, %.0f ms: %s%s%s\n",
              isatty(fileno(o->progress)) ? "\r\033[K" : "", (unsigned long long)it, mu.base->id,
              mu.fam == WSC_MUT_HANDSHAKE ? "handshake" : "steps", mu.n, mu.n == 1 ? "" : "s",
              (double)(wsc_now_us() - t_run) / 1000.0, v.kind ? wsc_fuzz_kind_name(v.kind) : "",
              v.kind ? ": " : "", v.kind ? v.detail : v.reason);
      for (size_t k = 0; k < mu.n; k++) {
        char d[300];
        wsc_mut_describe(mu.base, &mu.m[k], d, sizeof d);
        fprintf(o->progress, "  %s\n", d);
      }
    }
    if (v.kind != WSC_FUZZ_NONE) {
      uint64_t paused = wsc_now_us();
      handle(cp, &mu, &v);
      /* shrinking does not eat the fuzzing time */
      cp->t0 += wsc_now_us() - paused;
      if (!cp->exec && (v.kind == WSC_FUZZ_CRASH || v.kind == WSC_FUZZ_HANG)) {
        /* nobody restarts it: wait a little for a supervisor, else stop */
        char why[300];
        bool back = false;
        uint64_t until = wsc_now_us() + 2 * cp->hang_us;
        while (!back && !stopping(o)) {
          back = liveness(cp, mu.base->stomp, why, sizeof why) == LIVE_OK;
          if (back || wsc_now_us() > until) break;
          sleep_us(250000);
        }
        if (!back) {
          snprintf(st->stop_reason, sizeof st->stop_reason,
                   "the target stopped answering and nothing restarts it (use --exec)");
          break;
        }
      }
    }
    uint64_t now = wsc_now_us();
    if (now - cp->t0 >= 1000000 &&
        now - last_progress >= (o->progress && isatty(fileno(o->progress)) ? 250000 : 5000000)) {
      last_progress = now;
      progress(cp, false);
    }
  }
  st->elapsed_us = wsc_now_us() - cp->t0;
  progress(cp, true);

done:
  if (cp->exec) {
    if (cp->tgt.th_on) {
      pthread_mutex_lock(&cp->tgt.mu);
      cp->tgt.th_stop = true;
      pthread_mutex_unlock(&cp->tgt.mu);
      pthread_join(cp->tgt.th, NULL);
    }
    target_stop(&cp->tgt);
  }
  free(cp->tgt.log_path);
  wsc_runner_free(cp->rn);
  wsc_suite_free(&cp->live[0]);
  wsc_suite_free(&cp->live[1]);
  if (cp->has_surl) wsc_url_free(&cp->surl);
  wsc_url_free(&cp->url);
done_nourl:
  for (size_t i = 0; i < cp->nsigs; i++) free(cp->sigs[i]);
  free(cp->sigs);
  pthread_mutex_destroy(&cp->tgt.mu);
  free(cp);
  st->total_us = wsc_now_us() - t_start;
  return rc;
}

void wsc_fuzz_stats_free(wsc_fuzz_stats *st) {
  for (size_t i = 0; i < st->nfindings; i++) {
    free(st->findings[i].path);
    free(st->findings[i].detail);
    free(st->findings[i].signature);
    free(st->findings[i].base_id);
  }
  free(st->findings);
  memset(st, 0, sizeof *st);
}

void wsc_fuzz_print_summary(FILE *out, const wsc_fuzz_options *o, const wsc_fuzz_stats *st) {
  double el = (double)st->elapsed_us / 1e6;
  fprintf(out, "wsconform fuzz %s: seed %llu, %s\n", o->run_id ? o->run_id : "",
          (unsigned long long)o->seed, st->stop_reason);
  fprintf(out, "  target        %s%s%s\n", o->runner.url, o->runner.stomp_url ? " + " : "",
          o->runner.stomp_url ? o->runner.stomp_url : "");
  if (o->exec_cmd)
    fprintf(out, "  exec          %s (%llu restart%s)\n", o->exec_cmd,
            (unsigned long long)st->restarts, st->restarts == 1 ? "" : "s");
  fprintf(out, "  base cases    %zu\n", o->nbases);
  fprintf(out, "  iterations    %llu in %.1f s, %.1f exec/s (%llu cases run in all, %.1f s)\n",
          (unsigned long long)st->iterations, el, el > 0 ? (double)st->iterations / el : 0.0,
          (unsigned long long)st->execs, (double)st->total_us / 1e6);
  if (st->invalid) fprintf(out, "  unusable      %llu mutants\n", (unsigned long long)st->invalid);
  fprintf(out, "  %-10s %8s %8s  %s\n", "finding", "seen", "written", "files");
  for (int k = 1; k < WSC_FUZZ_KIND_COUNT; k++) {
    size_t w = 0;
    for (size_t i = 0; i < st->nfindings; i++) w += st->findings[i].kind == (enum wsc_fuzz_kind)k;
    fprintf(out, "  %-10s %8zu %8zu  ", wsc_fuzz_kind_name((enum wsc_fuzz_kind)k), st->found[k], w);
    bool first = true;
    for (size_t i = 0; i < st->nfindings; i++) {
      if (st->findings[i].kind != (enum wsc_fuzz_kind)k) continue;
      fprintf(out, "%s%s%s", first ? "" : ", ", st->findings[i].path,
              !st->findings[i].replayed       ? " (did not replay)"
              : !st->findings[i].replay_fails ? " (the case passes: see its .txt)"
                                              : "");
      first = false;
    }
    fputc('\n', out);
  }
  if (st->duplicates || st->unconfirmed)
    fprintf(out, "  (%llu duplicate, %llu not reproduced)\n", (unsigned long long)st->duplicates,
            (unsigned long long)st->unconfirmed);
  fprintf(out, "  findings in   %s\n", o->out_dir);
}

/* ------------------------------------------------------------------------------------------
 * The command line
 */

const char wsc_fuzz_usage[] =
    "usage: wsconform fuzz [OPTIONS] URL\n"
    "\n"
    "Mutates the traffic of the case corpus (frame fields, declared lengths, TCP cuts and\n"
    "pauses, UTF-8 payloads, handshake requests, STOMP frames and headers), sends it to URL and\n"
    "watches the target: crashes (the --exec process exits, or new connections are refused),\n"
    "hangs (no answer within --hang-timeout), protocol violations (strict-observer findings,\n"
    "and mutated requests closed without any HTTP response), and RSS growth (with --exec).\n"
    "Each finding is shrunk and written as a case file: `wsconform run --case FILE URL`\n"
    "replays it (FAIL or ERROR while it reproduces).\n"
    "\n"
    "campaign:\n"
    "  -s, --seed N            mutation seed (default: from the clock, printed); the same seed\n"
    "                          gives the same mutants in the same order\n"
    "      --time DURATION     fuzz for this long (default 60s; shrinking findings comes on top)\n"
    "  -n, --iterations N      stop after N mutants (default: no limit)\n"
    "  -o, --out DIR           findings folder (default fuzz-findings/RUN-ID)\n"
    "      --max-findings N    findings written per kind (default 10)\n"
    "      --shrink-time D     time spent minimising each finding (default 30s)\n"
    "target:\n"
    "      --exec 'CMD'        start the target yourself: sh -c 'exec CMD', with {port} in CMD\n"
    "                          and in URL replaced by a free loopback port; restarted after a\n"
    "                          crash, its exit and RSS watched, its output in DIR/target.log\n"
    "      --start-timeout D   wait this long for --exec's target to listen (default 10s)\n"
    "      --allow-remote      fuzz a target that is not on a loopback address\n"
    "oracles:\n"
    "      --hang-timeout D    no handshake or pong within D is a hang (default 2s)\n"
    "      --expect-timeout D  wait for each expected answer while fuzzing (default 250ms)\n"
    "      --rss-growth SIZE   --exec: RSS growth above start-up that is a finding (default\n"
    "                          256MiB)\n"
    "corpus (as for run):\n"
    "  -c, --cases GLOB, -x, --exclude GLOB, --case FILE, --cases-dir DIR\n"
    "      --stomp             mutate the STOMP cases only, URL is the broker\n"
    "      --stomp-url URL     mutate the STOMP cases too, against this broker\n"
    "connection (as for run):\n"
    "  -H, --header 'N: V', --origin V, --subprotocol NAME, --cacert FILE, -k, --insecure,\n"
    "  --sni NAME, --stomp-login NAME, --stomp-passcode SECRET, --stomp-host VHOST\n"
    "  -q, --quiet             no progress line\n"
    "  -v, --verbose           one line per mutant: base case, mutations, time, outcome\n"
    "\n"
    "Exit status: 0 no finding, 1 findings written, 2 usage error, 3 target unreachable.\n";

enum {
  F_HELP = 2000,
  F_TIME,
  F_EXEC,
  F_START_TIMEOUT,
  F_ALLOW_REMOTE,
  F_HANG,
  F_EXPECT,
  F_RSS,
  F_SHRINK,
  F_MAXF,
  F_CASE,
  F_CASES_DIR,
  F_STOMP,
  F_STOMP_URL,
  F_ORIGIN,
  F_SUBPROTOCOL,
  F_CACERT,
  F_SNI,
  F_STOMP_LOGIN,
  F_STOMP_PASSCODE,
  F_STOMP_HOST,
};

static const struct option fuzz_opts[] = {
    {"seed", required_argument, 0, 's'},
    {"time", required_argument, 0, F_TIME},
    {"iterations", required_argument, 0, 'n'},
    {"out", required_argument, 0, 'o'},
    {"max-findings", required_argument, 0, F_MAXF},
    {"shrink-time", required_argument, 0, F_SHRINK},
    {"exec", required_argument, 0, F_EXEC},
    {"start-timeout", required_argument, 0, F_START_TIMEOUT},
    {"allow-remote", no_argument, 0, F_ALLOW_REMOTE},
    {"hang-timeout", required_argument, 0, F_HANG},
    {"expect-timeout", required_argument, 0, F_EXPECT},
    {"rss-growth", required_argument, 0, F_RSS},
    {"cases", required_argument, 0, 'c'},
    {"exclude", required_argument, 0, 'x'},
    {"case", required_argument, 0, F_CASE},
    {"cases-dir", required_argument, 0, F_CASES_DIR},
    {"stomp", no_argument, 0, F_STOMP},
    {"stomp-url", required_argument, 0, F_STOMP_URL},
    {"header", required_argument, 0, 'H'},
    {"origin", required_argument, 0, F_ORIGIN},
    {"subprotocol", required_argument, 0, F_SUBPROTOCOL},
    {"cacert", required_argument, 0, F_CACERT},
    {"insecure", no_argument, 0, 'k'},
    {"sni", required_argument, 0, F_SNI},
    {"stomp-login", required_argument, 0, F_STOMP_LOGIN},
    {"stomp-passcode", required_argument, 0, F_STOMP_PASSCODE},
    {"stomp-host", required_argument, 0, F_STOMP_HOST},
    {"quiet", no_argument, 0, 'q'},
    {"verbose", no_argument, 0, 'v'},
    {"help", no_argument, 0, F_HELP},
    {0, 0, 0, 0},
};

static volatile sig_atomic_t g_stop; /* the one piece of global state: a signal's flag */

static void on_signal(int sig) {
  (void)sig;
  g_stop = 1;
}

static int usage_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_err(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("wsconform fuzz: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs("\n(try 'wsconform fuzz --help')\n", stderr);
  va_end(ap);
  return 2;
}

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}


static int parse_dur(const char *s, uint64_t *us) {
  return wsc_parse_duration(s, strlen(s), us) == 0 && *us > 0 ? 0 : -1;
}

static int parse_u64(const char *s, uint64_t *v) {
  char *end;
  errno = 0;
  unsigned long long x = strtoull(s, &end, 0);
  if (errno || end == s || *end || s[0] == '-') return -1;
  *v = x;
  return 0;
}

typedef struct fcli {
  char **inc, **exc, **files, **headers;
  size_t ninc, nexc, nfiles, nheaders;
} fcli;

static void fcli_free(fcli *c) {
  wsc_strv_free(c->inc, c->ninc);
  wsc_strv_free(c->exc, c->nexc);
  wsc_strv_free(c->files, c->nfiles);
  wsc_strv_free(c->headers, c->nheaders);
}

int wsc_fuzz_main(int argc, char **argv) {
  wsc_fuzz_options o;
  memset(&o, 0, sizeof o);
  wsc_runner_options_default(&o.runner);
  fcli cl;
  memset(&cl, 0, sizeof cl);
  bool seed_set = false, allow_remote = false, quiet = false, stomp_only = false;
  const char *exec_cmd = NULL, *out = NULL, *cdir = NULL, *url_arg = NULL, *surl_arg = NULL;
  uint64_t v;
  int st = 2;
  optind = 1;
  opterr = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, "s:n:o:c:x:H:kqv", fuzz_opts, NULL)) != -1) {
    switch (ch) {
      case 's':
        if (parse_u64(optarg, &o.seed))
          return usage_err("--seed: expected a number, got '%s'", optarg);
        seed_set = true;
        break;
      case F_TIME:
        if (parse_dur(optarg, &o.time_us))
          return usage_err("--time: expected a duration like 60s, got '%s'", optarg);
        break;
      case 'n':
        if (parse_u64(optarg, &o.iterations) || !o.iterations)
          return usage_err("--iterations: expected a positive number, got '%s'", optarg);
        break;
      case 'o':
        out = optarg;
        break;
      case F_MAXF:
        if (parse_u64(optarg, &v) || !v || v > 100000)
          return usage_err("--max-findings: expected 1..100000, got '%s'", optarg);
        o.max_findings = (size_t)v;
        break;
      case F_SHRINK:
        if (parse_dur(optarg, &o.shrink_time_us))
          return usage_err("--shrink-time: expected a duration, got '%s'", optarg);
        break;
      case F_EXEC:
        exec_cmd = optarg;
        break;
      case F_START_TIMEOUT:
        if (parse_dur(optarg, &o.start_timeout_us))
          return usage_err("--start-timeout: expected a duration, got '%s'", optarg);
        break;
      case F_ALLOW_REMOTE:
        allow_remote = true;
        break;
      case F_HANG:
        if (parse_dur(optarg, &o.hang_timeout_us))
          return usage_err("--hang-timeout: expected a duration, got '%s'", optarg);
        break;
      case F_EXPECT:
        if (parse_dur(optarg, &o.expect_timeout_us))
          return usage_err("--expect-timeout: expected a duration, got '%s'", optarg);
        break;
      case F_RSS:
        if (wsc_parse_size(optarg, strlen(optarg), &v) || v < 1024)
          return usage_err("--rss-growth: expected a size like 256MiB, got '%s'", optarg);
        o.rss_growth_kib = v / 1024;
        break;
      case 'c':
        wsc_strv_push(&cl.inc, &cl.ninc, optarg);
        break;
      case 'x':
        wsc_strv_push(&cl.exc, &cl.nexc, optarg);
        break;
      case F_CASE:
        wsc_strv_push(&cl.files, &cl.nfiles, optarg);
        break;
      case F_CASES_DIR:
        cdir = optarg;
        break;
      case F_STOMP:
        stomp_only = true;
        break;
      case F_STOMP_URL:
        surl_arg = optarg;
        break;
      case 'H':
        if (!strchr(optarg, ':') || optarg[0] == ':') {
          fcli_free(&cl);
          return usage_err("--header: expected 'Name: value', got '%s'", optarg);
        }
        wsc_strv_push(&cl.headers, &cl.nheaders, optarg);
        break;
      case F_ORIGIN:
        o.runner.origin = optarg;
        break;
      case F_SUBPROTOCOL:
        o.runner.subprotocol = optarg;
        break;
      case F_CACERT:
        o.runner.conn.cacert = optarg;
        break;
      case 'k':
        o.runner.conn.insecure = true;
        break;
      case F_SNI:
        o.runner.conn.sni = optarg;
        break;
      case F_STOMP_LOGIN:
        o.runner.stomp_login = optarg;
        break;
      case F_STOMP_PASSCODE:
        o.runner.stomp_passcode = optarg;
        break;
      case F_STOMP_HOST:
        o.runner.stomp_host = optarg;
        break;
      case 'q':
        quiet = true;
        break;
      case 'v':
        o.verbose = true;
        break;
      case F_HELP:
        fcli_free(&cl);
        fputs(wsc_fuzz_usage, stdout);
        return 0;
      default:
        fcli_free(&cl);
        if (optopt && optopt < 256) return usage_err("unknown or incomplete option -%c", optopt);
        return usage_err("unknown or incomplete option %s", argv[optind - 1]);
    }
  }
  if (optind < argc) url_arg = argv[optind++];
  if (optind < argc) {
    fcli_free(&cl);
    return usage_err("unexpected argument '%s'", argv[optind]);
  }
  if (!url_arg) {
    fcli_free(&cl);
    return usage_err("a target URL is required (ws://127.0.0.1:PORT/path)");
  }

  /* --exec: a free port for {port}, in the command and the URLs */
  char *cmd = NULL, *url = NULL, *surl = NULL;
  uint16_t port = 0;
  bool uses_port = strstr(url_arg, "{port}") || (surl_arg && strstr(surl_arg, "{port}")) ||
                   (exec_cmd && strstr(exec_cmd, "{port}"));
  if (uses_port && !exec_cmd) {
    fcli_free(&cl);
    return usage_err("{port} in the URL needs --exec (the command that listens on it)");
  }
  if (uses_port && wsc_fuzz_free_port(&port)) {
    fprintf(stderr, "wsconform fuzz: no free loopback port\n");
    fcli_free(&cl);
    return 3;
  }
  if (wsc_fuzz_subst_port(url_arg, port, &url) ||
      (surl_arg && wsc_fuzz_subst_port(surl_arg, port, &surl)) ||
      (exec_cmd && wsc_fuzz_subst_port(exec_cmd, port, &cmd))) {
    fcli_free(&cl);
    free(url);
    free(surl);
    return 2;
  }
  o.runner.url = url;
  o.runner.stomp_url = surl;
  o.exec_cmd = cmd;
  o.runner.headers = (const char *const *)cl.headers;
  o.runner.nheaders = cl.nheaders;

  char err[512];
  struct wsc_suite suite;
  memset(&suite, 0, sizeof suite);
  const struct wsc_case **bases = NULL;
  char *cd = NULL;
  wsc_fuzz_stats stats;
  memset(&stats, 0, sizeof stats);
  const char *check[2] = {url, surl};
  for (int k = 0; k < 2; k++) {
    if (!check[k]) continue;
    wsc_url u;
    if (wsc_url_parse(check[k], &u, err, sizeof err)) {
      fprintf(stderr, "wsconform fuzz: %s%s\n", k ? "--stomp-url: " : "", err);
      goto out;
    }
    bool local = wsc_fuzz_is_loopback(u.host);
    if (!local && !allow_remote) {
      fprintf(stderr,
              "wsconform fuzz: refusing to fuzz %s: not a loopback address (a campaign attacks "
              "the target; --allow-remote if it is yours)\n",
              u.host);
      wsc_url_free(&u);
      goto out;
    }
    if (exec_cmd && !local) {
      fprintf(stderr, "wsconform fuzz: --exec starts the target here: use a loopback URL\n");
      wsc_url_free(&u);
      goto out;
    }
    wsc_url_free(&u);
  }

  /* the corpus, selected as `run` does */
  cd = wsc_cases_dir_find(cdir);
  {
    struct wsc_diags d = {0};
    int rc;
    if (cl.nfiles) {
      rc = wsc_suite_load_files((const char *const *)cl.files, cl.nfiles, NULL, &suite, &d);
    } else {
      if (!is_dir(cd)) {
        fprintf(stderr, "wsconform fuzz: cases folder not found: %s (use --cases-dir)\n", cd);
        goto out;
      }
      const char *p = cd;
      rc = wsc_suite_load_files(&p, 1, NULL, &suite, &d);
    }
    if (rc) {
      wsc_diags_print(&d, stderr);
      if (!d.n) fprintf(stderr, "wsconform fuzz: cannot load cases: %s\n", wsref_strerror(rc));
      wsc_diags_free(&d);
      goto out;
    }
    wsc_diags_free(&d);
  }
  bases = calloc(suite.ncases + 1, sizeof *bases);
  if (!bases) goto out;
  for (size_t i = 0; i < suite.ncases; i++) {
    const struct wsc_case *c = &suite.cases[i];
    if (!wsc_case_selected(c, (const char *const *)cl.inc, cl.ninc, (const char *const *)cl.exc,
                           cl.nexc))
      continue;
    if (stomp_only && !c->stomp) continue;
    if (!cl.ninc && c->stomp && !stomp_only && !surl) continue;
    if (!wsc_fuzz_eligible(c)) continue;
    bases[o.nbases++] = c;
  }
  o.bases = bases;
  if (!o.nbases) {
    fprintf(stderr, "wsconform fuzz: no case to mutate (check -c, -x, --stomp)\n");
    goto out;
  }

  /* run id, seed, output folder */
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  struct tm tm;
  gmtime_r(&wall.tv_sec, &tm);
  char id[64];
  snprintf(id, sizeof id, "%04d%02d%02d-%02d%02d%02d-%d", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)getpid());
  if (!seed_set)
    o.seed = ((uint64_t)wall.tv_sec * 1000003u) ^ (uint64_t)wall.tv_nsec ^ (uint64_t)getpid();
  o.run_id = id;
  char outdir[PATH_MAX];
  if (out)
    snprintf(outdir, sizeof outdir, "%s", out);
  else
    snprintf(outdir, sizeof outdir, "fuzz-findings/%s", id);
  o.out_dir = outdir;
  o.progress = quiet ? NULL : stderr;

  g_stop = 0;
  struct sigaction sa, old_int, old_term;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);
  o.stop = &g_stop;

  if (!quiet)
    fprintf(stderr, "wsconform fuzz: seed %llu, %zu base cases, %s, findings in %s\n",
            (unsigned long long)o.seed, o.nbases, url, outdir);
  if (!quiet && cmd) fprintf(stderr, "wsconform fuzz: exec %s\n", cmd);
  int rc = wsc_fuzz_campaign(&o, &stats, err, sizeof err);
  sigaction(SIGINT, &old_int, NULL);
  sigaction(SIGTERM, &old_term, NULL);
  if (rc) {
    fprintf(stderr, "wsconform fuzz: %s\n", err);
    st = rc == WSREF_E_CONNECT ? 3 : 2;
    goto out;
  }
  wsc_fuzz_print_summary(stdout, &o, &stats);
  char sp[PATH_MAX + 16];
  snprintf(sp, sizeof sp, "%s/summary.txt", outdir);
  FILE *sf = fopen(sp, "w");
  if (sf) {
    wsc_fuzz_print_summary(sf, &o, &stats);
    fclose(sf);
  }
  st = stats.nfindings ? 1 : 0;
out:
  wsc_fuzz_stats_free(&stats);
  free(bases);
  free(cd);
  wsc_suite_free(&suite);
  fcli_free(&cl);
  free(url);
  free(surl);
  free(cmd);
  return st;
}
