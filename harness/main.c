/* wsconform: the command line.
 *
 *   wsconform run [URL]            run the corpus (no URL: against the embedded reference server)
 *   wsconform list                 print the selected cases
 *   wsconform lint [FILES...]      check case files
 *   wsconform diff A.json B.json   compare two reports
 *   wsconform replay RESULT.json CASE-ID
 *   wsconform fuzz URL             live fuzz campaign (fuzzcamp.h)
 *
 * Exit status: 0 no failure, 1 at least one FAIL (or ERROR), 2 usage or case-file error,
 * 3 target unreachable, 4 regression against the baseline.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "app/echo.h"
#include "app/stomp_broker.h"
#include "base/error.h"
#include "case.h"
#include "caseparse.h"
#include "conn.h"
#include "diff.h"
#include "fuzzcamp.h"
#include "handshake/http.h"
#include "handshake/registry.h"
#include "io/server.h"
#include "report.h"
#include "result.h"
#include "runner.h"
#include "session/stomp_server.h"

#define WSC_VERSION "0.1.0"

enum {
  EXIT_PASS = 0,
  EXIT_FAILED = 1,
  EXIT_USAGE = 2,
  EXIT_UNREACHABLE = 3,
  EXIT_REGRESSION = 4,
};

/* ------------------------------------------------------------------------------------------
 * Help
 */

static const char usage_main[] =
    "usage: wsconform COMMAND [OPTIONS] [ARGS]\n"
    "\n"
    "Checks a WebSocket server against RFC 6455, case by case, with evidence.\n"
    "\n"
    "commands:\n"
    "  run [URL]                 run the cases (no URL: against the embedded reference server)\n"
    "  list                      print the selected cases\n"
    "  lint [FILES...]           check case files, report file:line:col: message\n"
    "  diff A.json B.json        list what changed between two JSON reports\n"
    "  replay RESULT.json ID     re-run one case against the recorded target, print its wire log\n"
    "  fuzz URL                  mutate the corpus' traffic against URL: crashes, hangs,\n"
    "                            protocol violations, memory growth, as replayable cases\n"
    "\n"
    "`wsconform COMMAND --help` describes each command. `wsconform --version`.\n"
    "Exit status: 0 no failure, 1 a FAIL or ERROR, 2 usage or case-file error,\n"
    "3 target unreachable, 4 regression against --baseline.\n";

static const char usage_run[] =
    "usage: wsconform run [OPTIONS] [URL]\n"
    "\n"
    "Runs the selected cases against URL (ws://host[:port]/path or wss://...). Without a URL,\n"
    "starts the embedded reference server on a free loopback port and runs the WebSocket cases\n"
    "against its /echo and the STOMP cases against its /stomp broker.\n"
    "\n"
    "selection:\n"
    "  -c, --cases GLOB        run cases whose id or alias matches (repeatable; 'all' = every\n"
    "                          case, perf and STOMP included; default: the WebSocket cases not\n"
    "                          tagged perf, plus the STOMP cases when there is a STOMP target:\n"
    "                          no URL, or --stomp-url)\n"
    "      --stomp             the STOMP corpus only (cases/stomp/), against URL\n"
    "  -x, --exclude GLOB      skip cases whose id or alias matches (repeatable)\n"
    "      --case FILE         load cases from FILE (repeatable) instead of the cases folder\n"
    "      --cases-dir DIR     the cases folder (default: $WSC_CASES, else found next to the\n"
    "                          binary's source tree, else ./cases)\n"
    "running:\n"
    "  -j, --jobs N            parallel connections (default: number of CPUs)\n"
    "  -t, --timeout DURATION  per-case deadline, e.g. 5s, 500ms (default 5s)\n"
    "      --strict            NON-STRICT verdicts count as failures\n"
    "connection:\n"
    "      --stomp-url URL     run the STOMP cases against URL (the WebSocket ones against\n"
    "                          the run's URL)\n"
    "      --stomp-login NAME, --stomp-passcode SECRET, --stomp-host VHOST\n"
    "                          CONNECT login, passcode and host of STOMP cases (host default:\n"
    "                          the target's host name; RabbitMQ wants --stomp-host /)\n"
    "      --origin VALUE      Origin header of the default request\n"
    "      --subprotocol NAME  offer this subprotocol in the default request\n"
    "  -H, --header 'N: V'     add a header to the default request (repeatable)\n"
    "      --cacert FILE       CA certificates (PEM) for wss\n"
    "  -k, --insecure          do not verify the server certificate\n"
    "      --sni NAME          TLS server name (and the name verified)\n"
    "      --proxy URL         connect through an HTTP(S) or SOCKS proxy\n"
    "reports:\n"
    "  -o, --out DIR           report folder (default reports/out/RUN-ID); '-' writes the one\n"
    "                          --format given to standard output\n"
    "  -f, --format LIST       json,html,tap,junit,md (default: all)\n"
    "      --baseline FILE     a previous report.json: exit 4 only on regressions\n"
    "      --agent NAME        name of the target in the reports (default: its Server header)\n"
    "  -q, --quiet             no progress output\n";

static const char usage_list[] =
    "usage: wsconform list [-c GLOB]... [-x GLOB]... [--stomp] [--case FILE]... [--cases-dir DIR]\n"
    "\n"
    "Prints the selected cases, one per line: id, alias, level, clause, title (--stomp: the\n"
    "STOMP cases only).\n";

static const char usage_lint[] =
    "usage: wsconform lint [--cases-dir DIR] [FILES or DIRS...]\n"
    "\n"
    "Checks case files (default: the whole cases folder) and prints every error as\n"
    "file:line:col: message. Exit 0 when clean, 2 otherwise.\n";

static const char usage_diff[] =
    "usage: wsconform diff [--strict] A.json B.json\n"
    "\n"
    "Lists the cases whose verdict changed from report A to report B, and the cases added and\n"
    "removed. Exit 4 if a case that passed in A fails in B, else 0.\n";

static const char usage_replay[] =
    "usage: wsconform replay [OPTIONS] RESULT.json CASE-ID\n"
    "\n"
    "Re-runs one case (by id or alias) against the target and with the connection options\n"
    "recorded in RESULT.json (the embedded server is started again if the run used it), then\n"
    "prints the verdict, the reason and the wire log.\n"
    "  --url URL            run against URL instead\n"
    "  --stomp-url URL, --stomp-login, --stomp-passcode, --stomp-host  as for run\n"
    "  --case FILE, --cases-dir DIR, -t/--timeout, --insecure, --cacert  as for run\n";

/* ------------------------------------------------------------------------------------------
 * Small helpers
 */

typedef struct strv {
  char **v;
  size_t n;
} strv;

static void sv_push(strv *s, const char *x) {
  if (wsc_strv_push(&s->v, &s->n, x)) {
    fputs("wsconform: out of memory\n", stderr);
    exit(EXIT_USAGE);
  }
}

static int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int usage_error(const char *cmd, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "wsconform%s%s: ", cmd ? " " : "", cmd ? cmd : "");
  vfprintf(stderr, fmt, ap);
  fprintf(stderr, "\n(try 'wsconform %s%s--help')\n", cmd ? cmd : "", cmd ? " " : "");
  va_end(ap);
  return EXIT_USAGE;
}

static bool is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}


static int parse_timeout(const char *s, uint64_t *us) {
  if (wsc_parse_duration(s, strlen(s), us) == 0 && *us > 0) return 0;
  char *end;
  double secs = strtod(s, &end);
  if (end != s && !*end && secs > 0 && secs < 86400) {
    *us = (uint64_t)(secs * 1e6);
    return 0;
  }
  return WSREF_E_INVALID_ARG;
}

/* Loads the cases: --case files, or the cases folder. Returns an exit status (0 on success). */
static int load_suite(const strv *files, const char *cases_dir_opt, struct wsc_suite *suite,
                      char **dir_out) {
  char *dir = wsc_cases_dir_find(cases_dir_opt);
  struct wsc_diags diags = {0};
  int rc;
  if (files->n) {
    rc = wsc_suite_load_files((const char *const *)files->v, files->n, NULL, suite, &diags);
  } else {
    if (!is_dir(dir)) {
      fprintf(stderr, "wsconform: cases folder not found: %s (use --cases-dir or WSC_CASES)\n",
              dir);
      free(dir);
      return EXIT_USAGE;
    }
    const char *p = dir;
    rc = wsc_suite_load_files(&p, 1, NULL, suite, &diags);
  }
  if (rc) {
    wsc_diags_print(&diags, stderr);
    if (!diags.n) fprintf(stderr, "wsconform: cannot load cases: %s\n", wsref_strerror(rc));
    wsc_diags_free(&diags);
    free(dir);
    return EXIT_USAGE;
  }
  wsc_diags_free(&diags);
  if (dir_out)
    *dir_out = dir;
  else
    free(dir);
  return 0;
}

/* Which cases a run covers. The patterns of -c decide when given (a STOMP case matched by
 * -c 'stomp.*' runs against a plain URL: that URL is then the broker); without them the
 * default corpus is the WebSocket cases, plus the STOMP ones when the run has a STOMP
 * target. --stomp keeps the STOMP cases only, with or without patterns. */
enum { CORPUS_WS = 1, CORPUS_STOMP = 2 };

static const struct wsc_case **select_cases(const struct wsc_suite *s, const strv *inc,
                                            const strv *exc, unsigned corpus, bool stomp_only,
                                            size_t *n) {
  const struct wsc_case **v = calloc(s->ncases + 1, sizeof *v);
  *n = 0;
  if (!v) return NULL;
  for (size_t i = 0; i < s->ncases; i++) {
    const struct wsc_case *c = &s->cases[i];
    if (!wsc_case_selected(c, (const char *const *)inc->v, inc->n, (const char *const *)exc->v,
                           exc->n))
      continue;
    if (stomp_only && !c->stomp) continue;
    if (!inc->n && !(corpus & (c->stomp ? CORPUS_STOMP : CORPUS_WS))) continue;
    v[(*n)++] = c;
  }
  return v;
}

/* ------------------------------------------------------------------------------------------
 * The embedded reference server (isolated: the only code that knows about reference/io)
 */

typedef struct embedded {
  wsref_registry *reg;
  wsref_stomp_broker *broker;
  wsref_server *srv;
  pthread_t th;
  bool running;
  char url[160];
  char stomp_url[160];
} embedded;

static void *embedded_main(void *arg) {
  wsref_server_run(arg);
  return NULL;
}

static int embedded_start(embedded *e, char *err, size_t err_len) {
  memset(e, 0, sizeof *e);
  e->reg = wsref_registry_new();
  /* the reference broker, strict STOMP, as wsref-server serves it */
  wsref_stomp_broker_options bo;
  wsref_stomp_broker_options_default(&bo, WSREF_STOMP_PROFILE_SPEC);
  /* Offer 1 s heart-beats (the server default is 10 s): heart-beat cases wait for a beat, and
   * a conformance run should not spend its time waiting. */
  bo.server.heartbeat_send_ms = 1000;
  bo.server.heartbeat_recv_ms = 1000;
  e->broker = wsref_stomp_broker_new(&bo);
  if (!e->reg || !e->broker || wsref_echo_register(e->reg) != 0 ||
      !wsref_stomp_broker_register(e->broker, e->reg, "/stomp")) {
    snprintf(err, err_len, "cannot set up the embedded server's handlers");
    return WSREF_E_NOMEM;
  }
  wsref_server_options o;
  wsref_server_options_default(&o);
  o.host = "127.0.0.1";
  o.port = 0;
  o.quiet = true;
  o.handler_deadline = wsref_stomp_session_deadline;
  o.handler_tick = wsref_stomp_session_tick;
  e->srv = wsref_server_new(e->reg, &o, err, err_len);
  if (!e->srv) return WSREF_E_IO;
  int rc = wsref_server_bind(e->srv, err, err_len);
  if (rc) return rc;
  if (pthread_create(&e->th, NULL, embedded_main, e->srv) != 0) {
    snprintf(err, err_len, "cannot start the embedded server thread");
    return WSREF_E_IO;
  }
  e->running = true;
  snprintf(e->url, sizeof e->url, "%s/echo", wsref_server_url(e->srv));
  snprintf(e->stomp_url, sizeof e->stomp_url, "%s/stomp", wsref_server_url(e->srv));
  return 0;
}

static void embedded_stop(embedded *e) {
  if (e->running) {
    wsref_server_stop(e->srv);
    pthread_join(e->th, NULL);
  }
  /* the server frees the sessions the broker serves: it goes first */
  if (e->srv) wsref_server_free(e->srv);
  if (e->broker) wsref_stomp_broker_free(e->broker);
  if (e->reg) wsref_registry_free(e->reg);
  memset(e, 0, sizeof *e);
}

/* ------------------------------------------------------------------------------------------
 * Progress
 */

typedef struct progress {
  bool tty;
  bool quiet;
  bool strict;
  size_t fails;
  uint64_t last_draw;
} progress;

static void on_progress(void *ud, size_t done, size_t total, const wsc_result *r) {
  progress *p = ud;
  bool failing = wsc_verdict_is_failure(r->verdict, p->strict);
  if (failing) p->fails++;
  if (p->quiet) return;
  if (p->tty) {
    if (failing) {
      fprintf(stderr, "\r\033[K%s %s%s%s%s: %s\n", wsc_verdict_name(r->verdict), r->id,
              r->alias ? " [" : "", r->alias ? r->alias : "", r->alias ? "]" : "",
              r->reason ? r->reason : "");
    }
    /* redraw at most every 50 ms: a terminal is slower than a fast target */
    uint64_t now = wsc_now_us();
    if (done != total && !failing && now - p->last_draw < 50000) return;
    p->last_draw = now;
    int width = 30;
    int filled = total ? (int)(done * (size_t)width / total) : width;
    char bar[64];
    for (int i = 0; i < width; i++) bar[i] = i < filled ? '#' : '.';
    bar[width] = 0;
    fprintf(stderr, "\r\033[K[%s] %zu/%zu  failing %zu", bar, done, total, p->fails);
    if (done == total) fputc('\n', stderr);
    fflush(stderr);
  } else if (failing) {
    fprintf(stderr, "%s %s%s%s%s (%s): %s\n", wsc_verdict_name(r->verdict), r->id,
            r->alias ? " [" : "", r->alias ? r->alias : "", r->alias ? "]" : "",
            r->clause ? r->clause : "", r->reason ? r->reason : "");
  }
}

/* The target's Server header from the first complete response, for the agent name. */
static char *server_header(const wsc_run *run) {
  wsref_http_response *rs = malloc(sizeof *rs);
  if (!rs) return NULL;
  char *out = NULL;
  for (size_t i = 0; i < run->n && !out; i++) {
    const wsc_result *r = &run->results[i];
    if (!r->response_len || r->status == 0) continue;
    if (wsref_http_parse_response((const char *)r->response, r->response_len, NULL, rs) <= 0)
      continue;
    const wsref_http_header *h = wsref_http_find(rs->headers, rs->nheaders, "Server");
    if (h) out = wsc_strndup(h->value.p, h->value.n);
  }
  free(rs);
  return out;
}

/* Reports name case files relative to the folder that holds the cases folder
 * ("cases/close/codes.case"), so they read the same on every machine. */
static void relativize_sources(wsc_run *run, const char *cases_dir) {
  if (!cases_dir) return;
  char *real = realpath(cases_dir, NULL);
  if (!real) return;
  char *slash = strrchr(real, '/');
  if (slash && slash != real) {
    slash[1] = 0;
    size_t pl = strlen(real);
    for (size_t i = 0; i < run->n; i++) {
      char *f = run->results[i].file;
      if (f && strncmp(f, real, pl) == 0) memmove(f, f + pl, strlen(f + pl) + 1);
    }
  }
  free(real);
}

static char *iso_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  char b[32];
  wsc_iso_time(b, (long long)ts.tv_sec, ts.tv_nsec);
  return strdup(b);
}

/* ------------------------------------------------------------------------------------------
 * run
 */

enum {
  OPT_STRICT = 1000,
  OPT_BASELINE,
  OPT_CACERT,
  OPT_SNI,
  OPT_ORIGIN,
  OPT_SUBPROTOCOL,
  OPT_PROXY,
  OPT_AGENT,
  OPT_CASE,
  OPT_CASES_DIR,
  OPT_URL,
  OPT_HELP,
  OPT_STOMP,
  OPT_STOMP_URL,
  OPT_STOMP_LOGIN,
  OPT_STOMP_PASSCODE,
  OPT_STOMP_HOST,
};

static const struct option run_opts[] = {
    {"cases", required_argument, 0, 'c'},
    {"exclude", required_argument, 0, 'x'},
    {"jobs", required_argument, 0, 'j'},
    {"timeout", required_argument, 0, 't'},
    {"strict", no_argument, 0, OPT_STRICT},
    {"out", required_argument, 0, 'o'},
    {"format", required_argument, 0, 'f'},
    {"baseline", required_argument, 0, OPT_BASELINE},
    {"cacert", required_argument, 0, OPT_CACERT},
    {"insecure", no_argument, 0, 'k'},
    {"sni", required_argument, 0, OPT_SNI},
    {"origin", required_argument, 0, OPT_ORIGIN},
    {"subprotocol", required_argument, 0, OPT_SUBPROTOCOL},
    {"header", required_argument, 0, 'H'},
    {"proxy", required_argument, 0, OPT_PROXY},
    {"agent", required_argument, 0, OPT_AGENT},
    {"case", required_argument, 0, OPT_CASE},
    {"cases-dir", required_argument, 0, OPT_CASES_DIR},
    {"url", required_argument, 0, OPT_URL},
    {"stomp", no_argument, 0, OPT_STOMP},
    {"stomp-url", required_argument, 0, OPT_STOMP_URL},
    {"stomp-login", required_argument, 0, OPT_STOMP_LOGIN},
    {"stomp-passcode", required_argument, 0, OPT_STOMP_PASSCODE},
    {"stomp-host", required_argument, 0, OPT_STOMP_HOST},
    {"quiet", no_argument, 0, 'q'},
    {"help", no_argument, 0, OPT_HELP},
    {0, 0, 0, 0},
};

typedef struct cli {
  strv inc, exc, files, headers;
  unsigned jobs;
  uint64_t timeout_us;
  bool strict, insecure, quiet, stomp;
  const char *out, *format, *baseline, *cacert, *sni, *origin, *subprotocol, *proxy, *agent;
  const char *cases_dir, *url;
  const char *stomp_url, *stomp_login, *stomp_passcode, *stomp_host;
} cli;

/* Parses the options shared by run, list and replay. Returns -1 to continue, else an exit
 * status. */
static int parse_common(int argc, char **argv, const char *cmd, const char *help, cli *o) {
  memset(o, 0, sizeof *o);
  optind = 1;
  opterr = 0;
  int ch;
  while ((ch = getopt_long(argc, argv, "c:x:j:t:o:f:kH:q", run_opts, NULL)) != -1) {
    switch (ch) {
      case 'c':
        sv_push(&o->inc, optarg);
        break;
      case 'x':
        sv_push(&o->exc, optarg);
        break;
      case 'j': {
        char *end;
        long v = strtol(optarg, &end, 10);
        if (*end || v < 1 || v > 1024)
          return usage_error(cmd, "--jobs: expected 1..1024, got '%s'", optarg);
        o->jobs = (unsigned)v;
        break;
      }
      case 't':
        if (parse_timeout(optarg, &o->timeout_us))
          return usage_error(cmd, "--timeout: expected a duration like 5s or 500ms, got '%s'",
                             optarg);
        break;
      case OPT_STRICT:
        o->strict = true;
        break;
      case 'o':
        o->out = optarg;
        break;
      case 'f':
        o->format = optarg;
        break;
      case OPT_BASELINE:
        o->baseline = optarg;
        break;
      case OPT_CACERT:
        o->cacert = optarg;
        break;
      case 'k':
        o->insecure = true;
        break;
      case OPT_SNI:
        o->sni = optarg;
        break;
      case OPT_ORIGIN:
        o->origin = optarg;
        break;
      case OPT_SUBPROTOCOL:
        o->subprotocol = optarg;
        break;
      case 'H':
        if (!strchr(optarg, ':') || optarg[0] == ':')
          return usage_error(cmd, "--header: expected 'Name: value', got '%s'", optarg);
        sv_push(&o->headers, optarg);
        break;
      case OPT_PROXY:
        o->proxy = optarg;
        break;
      case OPT_AGENT:
        o->agent = optarg;
        break;
      case OPT_CASE:
        sv_push(&o->files, optarg);
        break;
      case OPT_CASES_DIR:
        o->cases_dir = optarg;
        break;
      case OPT_URL:
        o->url = optarg;
        break;
      case OPT_STOMP:
        o->stomp = true;
        break;
      case OPT_STOMP_URL:
        o->stomp_url = optarg;
        break;
      case OPT_STOMP_LOGIN:
        o->stomp_login = optarg;
        break;
      case OPT_STOMP_PASSCODE:
        o->stomp_passcode = optarg;
        break;
      case OPT_STOMP_HOST:
        o->stomp_host = optarg;
        break;
      case 'q':
        o->quiet = true;
        break;
      case OPT_HELP:
        fputs(help, stdout);
        return EXIT_PASS;
      case '?':
      default:
        if (optopt && optopt < 256)
          return usage_error(cmd, "unknown or incomplete option -%c", optopt);
        return usage_error(cmd, "unknown or incomplete option %s", argv[optind - 1]);
    }
  }
  return -1;
}

static void cli_free(cli *o) {
  wsc_strv_free(o->inc.v, o->inc.n);
  wsc_strv_free(o->exc.v, o->exc.n);
  wsc_strv_free(o->files.v, o->files.n);
  wsc_strv_free(o->headers.v, o->headers.n);
}

static void fill_runner_opts(const cli *o, wsc_runner_options *ro, progress *pg) {
  wsc_runner_options_default(ro);
  ro->conn.cacert = o->cacert;
  ro->conn.insecure = o->insecure;
  ro->conn.sni = o->sni;
  ro->conn.proxy = o->proxy;
  ro->origin = o->origin;
  ro->subprotocol = o->subprotocol;
  ro->headers = (const char *const *)o->headers.v;
  ro->nheaders = o->headers.n;
  if (o->timeout_us) ro->timeout_us = o->timeout_us;
  ro->jobs = o->jobs;
  ro->stomp_url = o->stomp_url;
  ro->stomp_login = o->stomp_login;
  ro->stomp_passcode = o->stomp_passcode;
  ro->stomp_host = o->stomp_host;
  if (pg) {
    ro->progress = on_progress;
    ro->progress_ud = pg;
  }
}

static int cmd_run(int argc, char **argv) {
  cli o;
  int st = parse_common(argc, argv, "run", usage_run, &o);
  if (st >= 0) {
    cli_free(&o);
    return st;
  }
  const char *url = o.url;
  if (optind < argc) url = argv[optind++];
  if (optind < argc) {
    st = usage_error("run", "unexpected argument '%s'", argv[optind]);
    cli_free(&o);
    return st;
  }
  unsigned formats = WSC_FMT_ALL;
  if (o.format) {
    const char *bad = NULL;
    if (wsc_format_parse(o.format, &formats, &bad)) {
      st = usage_error("run", "--format: unknown format in '%s' (json, html, tap, junit, md)",
                       o.format);
      cli_free(&o);
      return st;
    }
  }
  bool to_stdout = o.out && strcmp(o.out, "-") == 0;
  if (to_stdout && (formats & (formats - 1))) {
    st = usage_error("run", "--out -: give exactly one --format");
    cli_free(&o);
    return st;
  }
  char err[512];
  const char *check[2] = {url, o.stomp_url};
  for (int k = 0; k < 2; k++) {
    if (!check[k]) continue;
    wsc_url u;
    if (wsc_url_parse(check[k], &u, err, sizeof err)) {
      fprintf(stderr, "wsconform run: %s%s\n", k ? "--stomp-url: " : "", err);
      cli_free(&o);
      return EXIT_USAGE;
    }
    wsc_url_free(&u);
  }
  wsc_run baseline;
  memset(&baseline, 0, sizeof baseline);
  if (o.baseline && wsc_report_load_file(o.baseline, &baseline, err, sizeof err)) {
    fprintf(stderr, "wsconform run: --baseline %s\n", err);
    cli_free(&o);
    return EXIT_USAGE;
  }

  struct wsc_suite suite;
  memset(&suite, 0, sizeof suite);
  char *cases_dir = NULL;
  st = load_suite(&o.files, o.cases_dir, &suite, &cases_dir);
  if (st) {
    wsc_run_free(&baseline);
    cli_free(&o);
    return st;
  }
  size_t nsel = 0;
  unsigned corpus = CORPUS_WS | (!url || o.stomp_url || o.stomp ? CORPUS_STOMP : 0);
  const struct wsc_case **sel = select_cases(&suite, &o.inc, &o.exc, corpus, o.stomp, &nsel);
  if (!(corpus & CORPUS_STOMP) && !o.inc.n && !o.quiet) {
    size_t left = 0;
    for (size_t i = 0; i < suite.ncases; i++) left += suite.cases[i].stomp;
    if (left)
      fprintf(stderr,
              "wsconform run: %zu STOMP cases not run against a WebSocket URL (--stomp or "
              "-c 'stomp.*' runs them there, --stomp-url elsewhere)\n",
              left);
  }
  if (!nsel) {
    fprintf(stderr, "wsconform run: no case selected\n");
    free(sel);
    wsc_suite_free(&suite);
    wsc_run_free(&baseline);
    cli_free(&o);
    return EXIT_USAGE;
  }

  embedded emb;
  memset(&emb, 0, sizeof emb);
  if (!url) {
    if (embedded_start(&emb, err, sizeof err)) {
      fprintf(stderr, "wsconform run: cannot start the embedded server: %s\n", err);
      embedded_stop(&emb);
      free(sel);
      wsc_suite_free(&suite);
      wsc_run_free(&baseline);
      cli_free(&o);
      return EXIT_UNREACHABLE;
    }
    url = emb.url;
  }

  /* the run's id is also $run in STOMP cases: destinations unique to the run */
  struct timespec wall;
  clock_gettime(CLOCK_REALTIME, &wall);
  struct tm tm;
  gmtime_r(&wall.tv_sec, &tm);
  char id[64];
  snprintf(id, sizeof id, "%04d%02d%02d-%02d%02d%02d-%d", tm.tm_year + 1900, tm.tm_mon + 1,
           tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)getpid());

  progress pg = {isatty(2) && !to_stdout, o.quiet, o.strict, 0, 0};
  wsc_runner_options ro;
  fill_runner_opts(&o, &ro, &pg);
  ro.url = url;
  ro.run_id = id;
  if (emb.running && !o.stomp_url) ro.stomp_url = emb.stomp_url;
  int rc;
  wsc_runner *rn = wsc_runner_new(&ro, &rc, err, sizeof err);
  if (!rn) {
    fprintf(stderr, "wsconform run: %s\n", err);
    st = rc == WSREF_E_URL ? EXIT_USAGE : EXIT_UNREACHABLE;
    goto done_noreport;
  }
  if (wsc_runner_probe(rn, err, sizeof err)) {
    fprintf(stderr, "wsconform run: target unreachable: %s\n", err);
    st = EXIT_UNREACHABLE;
    goto done_noreport;
  }

  wsc_run run;
  memset(&run, 0, sizeof run);
  run.tool_version = strdup(WSC_VERSION);
  run.run_id = strdup(id);
  run.target = strdup(url);
  run.stomp_target = wsc_strdup(ro.stomp_url);
  run.embedded = emb.running;
  run.started = iso_now();
  run.jobs =
      ro.jobs ? ro.jobs
              : (unsigned)(sysconf(_SC_NPROCESSORS_ONLN) > 0 ? sysconf(_SC_NPROCESSORS_ONLN) : 1);
  run.timeout_ms = ro.timeout_us / 1000;
  run.strict = o.strict;
  for (size_t i = 0; i < o.inc.n; i++) wsc_strv_push(&run.select, &run.nselect, o.inc.v[i]);
  for (size_t i = 0; i < o.exc.n; i++) wsc_strv_push(&run.exclude, &run.nexclude, o.exc.v[i]);
  for (size_t i = 0; i < o.headers.n; i++)
    wsc_strv_push(&run.headers, &run.nheaders, o.headers.v[i]);
  run.origin = wsc_strdup(o.origin);
  run.subprotocol = wsc_strdup(o.subprotocol);
  run.proxy = wsc_strdup(o.proxy);
  run.sni = wsc_strdup(o.sni);
  run.cacert = wsc_strdup(o.cacert);
  run.insecure = o.insecure;

  uint64_t t0 = wsc_now_us();
  rc = wsc_runner_run(rn, sel, nsel, &run);
  run.duration_us = wsc_now_us() - t0;
  run.finished = iso_now();
  run.agent = o.agent ? strdup(o.agent) : server_header(&run);
  if (rc) {
    fprintf(stderr, "wsconform run: %s\n", wsref_strerror(rc));
    st = EXIT_USAGE;
    goto done;
  }
  relativize_sources(&run, cases_dir);

  /* reports */
  if (to_stdout) {
    wsref_buf b = WSREF_BUF_INIT;
    rc = wsc_report_format((enum wsc_format)formats, &run, &b);
    if (!rc) fwrite(wsref_buf_head(&b), 1, wsref_buf_len(&b), stdout);
    wsref_buf_free(&b);
  } else {
    char dir[PATH_MAX];
    if (o.out)
      snprintf(dir, sizeof dir, "%s", o.out);
    else
      snprintf(dir, sizeof dir, "reports/out/%s", id);
    rc = wsc_report_write_dir(&run, dir, formats, err, sizeof err);
    if (rc)
      fprintf(stderr, "wsconform run: cannot write the reports: %s\n", err);
    else if (!o.quiet)
      fprintf(stderr, "reports: %s/\n", dir);
  }

  wsc_counts c;
  wsc_run_count(&run, &c);
  size_t failing = 0;
  for (size_t i = 0; i < run.n; i++)
    failing += wsc_verdict_is_failure(run.results[i].verdict, o.strict);
  if (!o.quiet) {
    fprintf(stderr, "%zu cases in %.1f s:", c.total, (double)run.duration_us / 1e6);
    for (int v = 0; v < WSC_VERDICT_COUNT; v++)
      fprintf(stderr, " %zu %s%s", c.v[v], wsc_verdict_name((enum wsc_verdict)v),
              v + 1 < WSC_VERDICT_COUNT ? "," : "\n");
  }
  st = failing ? EXIT_FAILED : EXIT_PASS;
  if (o.baseline) {
    wsc_diff d;
    if (wsc_diff_runs(&baseline, &run, o.strict, &d) == 0) {
      if (!o.quiet && d.count[WSC_CHANGE_REGRESSION]) {
        fprintf(stderr, "regressions against %s:\n", o.baseline);
        for (size_t i = 0; i < d.n; i++) {
          if (d.v[i].kind != WSC_CHANGE_REGRESSION) continue;
          const wsc_result *r = d.v[i].b;
          fprintf(stderr, "  %s: %s -> %s: %s\n", r->id, wsc_verdict_name(d.v[i].a->verdict),
                  wsc_verdict_name(r->verdict), r->reason ? r->reason : "");
        }
      }
      st = d.count[WSC_CHANGE_REGRESSION] ? EXIT_REGRESSION : EXIT_PASS;
      if (!o.quiet)
        fprintf(stderr, "baseline: %zu regressions, %zu fixed, %zu failing as before or new\n",
                d.count[WSC_CHANGE_REGRESSION], d.count[WSC_CHANGE_FIXED],
                failing - d.count[WSC_CHANGE_REGRESSION]);
      wsc_diff_free(&d);
    }
  }
  if (rc && st == EXIT_PASS) st = EXIT_FAILED;
done:
  wsc_run_free(&run);
done_noreport:
  wsc_runner_free(rn);
  embedded_stop(&emb);
  free(sel);
  free(cases_dir);
  wsc_suite_free(&suite);
  wsc_run_free(&baseline);
  cli_free(&o);
  return st;
}

/* ------------------------------------------------------------------------------------------
 * list, lint, diff, replay
 */

static int cmd_list(int argc, char **argv) {
  cli o;
  int st = parse_common(argc, argv, "list", usage_list, &o);
  if (st >= 0) {
    cli_free(&o);
    return st;
  }
  if (optind < argc) {
    st = usage_error("list", "unexpected argument '%s'", argv[optind]);
    cli_free(&o);
    return st;
  }
  struct wsc_suite suite;
  memset(&suite, 0, sizeof suite);
  st = load_suite(&o.files, o.cases_dir, &suite, NULL);
  if (st) {
    cli_free(&o);
    return st;
  }
  size_t n = 0;
  const struct wsc_case **sel =
      select_cases(&suite, &o.inc, &o.exc, CORPUS_WS | CORPUS_STOMP, o.stomp, &n);
  for (size_t i = 0; i < n; i++) {
    const struct wsc_case *c = sel[i];
    printf("%-40s %-10s %-6s %-28s %s\n", c->id, c->alias ? c->alias : "-",
           wsc_level_name(c->level), c->nclauses ? c->clauses[0] : "-", c->title ? c->title : "");
  }
  fprintf(stderr, "%zu of %zu cases selected\n", n, suite.ncases);
  free(sel);
  wsc_suite_free(&suite);
  cli_free(&o);
  return EXIT_PASS;
}

static int cmd_lint(int argc, char **argv) {
  cli o;
  int st = parse_common(argc, argv, "lint", usage_lint, &o);
  if (st >= 0) {
    cli_free(&o);
    return st;
  }
  size_t errors;
  if (optind < argc) {
    errors =
        wsc_lint_files((const char *const *)(argv + optind), (size_t)(argc - optind), NULL, stdout);
  } else {
    char *dir = wsc_cases_dir_find(o.cases_dir);
    const char *p = dir;
    errors = wsc_lint_files(&p, 1, NULL, stdout);
    free(dir);
  }
  cli_free(&o);
  if (errors) fprintf(stderr, "%zu error%s\n", errors, errors == 1 ? "" : "s");
  return errors ? EXIT_USAGE : EXIT_PASS;
}

static int cmd_diff(int argc, char **argv) {
  bool strict = false;
  int i = 1;
  for (; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
    if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
      fputs(usage_diff, stdout);
      return EXIT_PASS;
    }
    if (strcmp(argv[i], "--strict") == 0)
      strict = true;
    else if (strcmp(argv[i], "--") == 0) {
      i++;
      break;
    } else
      return usage_error("diff", "unknown option %s", argv[i]);
  }
  if (argc - i != 2) return usage_error("diff", "expected two reports, A.json B.json");
  wsc_run a, b;
  char err[512];
  if (wsc_report_load_file(argv[i], &a, err, sizeof err)) {
    fprintf(stderr, "wsconform diff: %s\n", err);
    return EXIT_USAGE;
  }
  if (wsc_report_load_file(argv[i + 1], &b, err, sizeof err)) {
    fprintf(stderr, "wsconform diff: %s\n", err);
    wsc_run_free(&a);
    return EXIT_USAGE;
  }
  wsc_diff d;
  int st = EXIT_USAGE;
  if (wsc_diff_runs(&a, &b, strict || b.strict, &d) == 0) {
    wsref_buf out = WSREF_BUF_INIT;
    if (wsc_diff_format(&d, &out) == 0)
      fwrite(wsref_buf_head(&out), 1, wsref_buf_len(&out), stdout);
    wsref_buf_free(&out);
    st = d.count[WSC_CHANGE_REGRESSION] ? EXIT_REGRESSION : EXIT_PASS;
    wsc_diff_free(&d);
  }
  wsc_run_free(&a);
  wsc_run_free(&b);
  return st;
}

static void print_wirelog(const wsc_result *r) {
  wsref_buf b = WSREF_BUF_INIT;
  for (size_t i = 0; i < r->wire.n; i++) {
    const wsc_wire_chunk *c = &r->wire.chunks[i];
    char who[80] = "";
    if (c->conn) snprintf(who, sizeof who, "[%s] ", c->conn);
    if (c->dir == WSC_WIRE_NOTE) {
      printf("%10.3f ms  -- %s%s\n", (double)c->t_us / 1000.0, who, c->note);
      continue;
    }
    printf("%10.3f ms  %s%s %zu octets @%llu\n", (double)c->t_us / 1000.0, who,
           c->dir == WSC_WIRE_TX ? ">> sent" : "<< received", c->len,
           (unsigned long long)c->offset);
    wsref_buf_reset(&b);
    wsc_hexdump(&b, c->data, c->data_len, c->offset);
    fwrite(wsref_buf_head(&b), 1, wsref_buf_len(&b), stdout);
    if (c->data_len < c->len)
      printf("            ... %zu more octets not kept\n", c->len - c->data_len);
  }
  wsref_buf_free(&b);
}

static int cmd_replay(int argc, char **argv) {
  cli o;
  int st = parse_common(argc, argv, "replay", usage_replay, &o);
  if (st >= 0) {
    cli_free(&o);
    return st;
  }
  if (argc - optind != 2) {
    st = usage_error("replay", "expected RESULT.json and a case id");
    cli_free(&o);
    return st;
  }
  const char *report = argv[optind], *id = argv[optind + 1];
  char err[512];
  wsc_run rec;
  if (wsc_report_load_file(report, &rec, err, sizeof err)) {
    fprintf(stderr, "wsconform replay: %s\n", err);
    cli_free(&o);
    return EXIT_USAGE;
  }
  const wsc_result *old = wsc_run_find(&rec, id);
  for (size_t i = 0; !old && i < rec.n; i++)
    if (rec.results[i].alias && strcmp(rec.results[i].alias, id) == 0) old = &rec.results[i];
  struct wsc_suite suite;
  memset(&suite, 0, sizeof suite);
  st = load_suite(&o.files, o.cases_dir, &suite, NULL);
  if (st) {
    wsc_run_free(&rec);
    cli_free(&o);
    return st;
  }
  const struct wsc_case *c = NULL;
  const char *want = old ? old->id : id;
  for (size_t i = 0; i < suite.ncases && !c; i++)
    if (strcmp(suite.cases[i].id, want) == 0 ||
        (suite.cases[i].alias && strcmp(suite.cases[i].alias, want) == 0))
      c = &suite.cases[i];
  if (!c) {
    fprintf(stderr, "wsconform replay: no case '%s' in the cases folder\n", id);
    wsc_suite_free(&suite);
    wsc_run_free(&rec);
    cli_free(&o);
    return EXIT_USAGE;
  }
  embedded emb;
  memset(&emb, 0, sizeof emb);
  const char *url = o.url ? o.url : rec.target;
  if (!o.url && rec.embedded) {
    if (embedded_start(&emb, err, sizeof err)) {
      fprintf(stderr, "wsconform replay: cannot start the embedded server: %s\n", err);
      embedded_stop(&emb);
      wsc_suite_free(&suite);
      wsc_run_free(&rec);
      cli_free(&o);
      return EXIT_UNREACHABLE;
    }
    url = emb.url;
  }
  wsc_runner_options ro;
  fill_runner_opts(&o, &ro, NULL);
  ro.url = url;
  if (!o.stomp_url) ro.stomp_url = emb.running ? emb.stomp_url : (o.url ? NULL : rec.stomp_target);
  /* fresh destinations: a broker may still hold what the recorded run left in its queues */
  char replay_id[96];
  snprintf(replay_id, sizeof replay_id, "%s-replay%d", rec.run_id ? rec.run_id : "run",
           (int)getpid());
  ro.run_id = replay_id;
  /* the connection options the run used, unless overridden here */
  if (!o.origin) ro.origin = rec.origin;
  if (!o.subprotocol) ro.subprotocol = rec.subprotocol;
  if (!o.headers.n) {
    ro.headers = (const char *const *)rec.headers;
    ro.nheaders = rec.nheaders;
  }
  if (!o.proxy) ro.conn.proxy = rec.proxy;
  if (!o.sni) ro.conn.sni = rec.sni;
  if (!o.cacert) ro.conn.cacert = rec.cacert;
  if (!o.insecure) ro.conn.insecure = rec.insecure;
  if (!o.timeout_us && rec.timeout_ms) ro.timeout_us = rec.timeout_ms * 1000;
  ro.wire_pass_cap = WSC_WIRE_CAP_DEFAULT; /* show everything */
  int rc;
  wsc_runner *rn = wsc_runner_new(&ro, &rc, err, sizeof err);
  if (!rn) {
    fprintf(stderr, "wsconform replay: %s\n", err);
    st = rc == WSREF_E_URL ? EXIT_USAGE : EXIT_UNREACHABLE;
  } else if (wsc_runner_probe(rn, err, sizeof err)) {
    fprintf(stderr, "wsconform replay: target unreachable: %s\n", err);
    st = EXIT_UNREACHABLE;
  } else {
    wsc_result res;
    wsc_runner_run_case(rn, c, &res);
    printf("case %s%s%s%s against %s\n", res.id, res.alias ? " [" : "", res.alias ? res.alias : "",
           res.alias ? "]" : "", c->stomp && ro.stomp_url ? ro.stomp_url : url);
    if (old)
      printf("recorded: %s: %s\n", wsc_verdict_name(old->verdict), old->reason ? old->reason : "");
    printf("now:      %s: %s\n", wsc_verdict_name(res.verdict), res.reason ? res.reason : "");
    for (size_t i = 0; i < res.nfindings; i++)
      printf("finding:  %s %s: %s%s%s\n", res.findings[i].clause, res.findings[i].rule,
             res.findings[i].conn ? res.findings[i].conn : "", res.findings[i].conn ? ": " : "",
             res.findings[i].message);
    printf("\n");
    print_wirelog(&res);
    st = wsc_verdict_is_failure(res.verdict, o.strict || rec.strict) ? EXIT_FAILED : EXIT_PASS;
    wsc_result_free(&res);
  }
  wsc_runner_free(rn);
  embedded_stop(&emb);
  wsc_suite_free(&suite);
  wsc_run_free(&rec);
  cli_free(&o);
  return st;
}

int main(int argc, char **argv) {
  /* OpenSSL and libcurl write with write(2): a peer's reset must be an error, not a signal */
  signal(SIGPIPE, SIG_IGN);
  if (argc < 2) {
    fputs(usage_main, stderr);
    return EXIT_USAGE;
  }
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    if (argc > 2) {
      const char *sub = argv[2];
      const char *t = strcmp(sub, "run") == 0      ? usage_run
                      : strcmp(sub, "list") == 0   ? usage_list
                      : strcmp(sub, "lint") == 0   ? usage_lint
                      : strcmp(sub, "diff") == 0   ? usage_diff
                      : strcmp(sub, "replay") == 0 ? usage_replay
                      : strcmp(sub, "fuzz") == 0   ? wsc_fuzz_usage
                                                   : usage_main;
      fputs(t, stdout);
    } else {
      fputs(usage_main, stdout);
    }
    return EXIT_PASS;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    printf("wsconform %s\n", WSC_VERSION);
    return EXIT_PASS;
  }
  if (strcmp(cmd, "run") == 0) return cmd_run(argc - 1, argv + 1);
  if (strcmp(cmd, "list") == 0) return cmd_list(argc - 1, argv + 1);
  if (strcmp(cmd, "lint") == 0) return cmd_lint(argc - 1, argv + 1);
  if (strcmp(cmd, "diff") == 0) return cmd_diff(argc - 1, argv + 1);
  if (strcmp(cmd, "replay") == 0) return cmd_replay(argc - 1, argv + 1);
  if (strcmp(cmd, "fuzz") == 0) return wsc_fuzz_main(argc - 1, argv + 1);
  fprintf(stderr, "wsconform: unknown command '%s'\n", cmd);
  fputs(usage_main, stderr);
  return EXIT_USAGE;
}
