/* wsref-server: the reference WebSocket server with the demo handlers of app/echo.h and
 * the STOMP broker of app/stomp_broker.h at /stomp.
 * Prints "listening on ws://HOST:PORT" on stdout once bound; logs connection events on
 * stderr; SIGTERM / SIGINT close every session with 1001 and exit 0. */
#include "app/echo.h"
#include "app/stomp_broker.h"
#include "base/error.h"
#include "io/server.h"
#include "session/stomp_server.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char usage[] =
    "usage: wsref-server [options]\n"
    "\n"
    "Serves the reference WebSocket handlers:\n"
    "  /echo          echoes every message (text stays text, binary stays binary)\n"
    "  /echo-partial  echoes each received piece as it arrives (partial messages)\n"
    "  /text          echoes text; binary messages are refused with close 1003\n"
    "  /stomp         STOMP 1.0/1.1/1.2 broker (subprotocols v10.stomp, v11.stomp,\n"
    "                 v12.stomp or none): /topic/... fan-out, /queue/... one consumer per\n"
    "                 message with client acks and redelivery, /user/... user destinations,\n"
    "                 transactions, receipts; SEND to /app/echo is republished to\n"
    "                 /topic/echo\n"
    "\n"
    "Once listening it prints one line, \"listening on ws://HOST:PORT\" (wss:// with TLS),\n"
    "to stdout. SIGTERM or SIGINT closes every open session with 1001 (going away) and\n"
    "exits 0 once all are closed or the close timeout has passed; a second signal drops\n"
    "the remaining connections at once.\n"
    "\n"
    "options:\n"
    "  --host ADDR              address to bind (IPv4/IPv6 literal or name); default 127.0.0.1\n"
    "  --port N                 TCP port; 0 (the default) picks a free port\n"
    "  --tls-cert FILE          PEM certificate chain; with --tls-key, serve wss://\n"
    "  --tls-key FILE           PEM private key for --tls-cert\n"
    "  --max-message SIZE       largest reassembled message; larger ones close with 1009\n"
    "                           (default 64M)\n"
    "  --max-frame SIZE         largest declared frame length; larger frames close with 1009\n"
    "                           (default 0 = same as --max-message)\n"
    "  --handshake-timeout MS   time allowed for the whole opening handshake (default 10000)\n"
    "  --close-timeout MS       wait for the peer's close frame / TCP close (default 3000)\n"
    "  --idle-timeout MS        close a session that received nothing for MS; 0 = off\n"
    "                           (default 0)\n"
    "  --max-connections N      close further connections at once; 0 = no limit (default)\n"
    "  --stomp-profile P        spec (strict STOMP, the default) or spring (Spring's simple\n"
    "                           broker and StompSubProtocolHandler, byte for byte)\n"
    "  --stomp-heartbeat SX,SY  CONNECTED heart-beat: the server sends every SX ms and\n"
    "                           wants a beat every SY ms; 0 = never (default 10000,10000;\n"
    "                           spring 0,0)\n"
    "  --stomp-read-factor N    close a client silent for N x the read interval (default\n"
    "                           2; spring 3)\n"
    "  --stomp-connect-timeout MS  no CONNECT within MS closes the connection; 0 = off\n"
    "                           (default 60000)\n"
    "  --stomp-max-headers N    headers per frame (default 64; spring 65536)\n"
    "  --stomp-max-header-line SIZE  octets per command/header line (default 8K; spring 64K)\n"
    "  --stomp-max-body SIZE    body octets (default 1M; spring 64K)\n"
    "  --stomp-max-buffer SIZE  octets of a frame split across messages (default 1M;\n"
    "                           spring 64K)\n"
    "  --stomp-send-buffer SIZE unsent octets per client before it is closed with 4500\n"
    "                           (default 512K)\n"
    "  --quiet                  no connection log on stderr\n"
    "  --help                   this text\n"
    "\n"
    "SIZE is a byte count with an optional K (1024) or M (1048576) suffix. Invalid options\n"
    "print one line on stderr and exit with status 2.\n";

static int bad(const char *fmt, const char *a, const char *b) {
  fprintf(stderr, "wsref-server: ");
  fprintf(stderr, fmt, a, b);
  fprintf(stderr, " (see --help)\n");
  return 2;
}

/* Non-negative decimal with an optional K/M suffix, up to max. */
static bool parse_size(const char *s, uint64_t max, uint64_t *out) {
  if (!*s || *s == '-' || *s == '+') return false;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s) return false;
  uint64_t mul = 1;
  if (*end == 'K' || *end == 'k') {
    mul = 1024;
    end++;
  } else if (*end == 'M' || *end == 'm') {
    mul = 1024 * 1024;
    end++;
  }
  if (*end) return false;
  if (v > max / mul) return false;
  *out = v * mul;
  return true;
}

/* SX,SY for --stomp-heartbeat. */
static bool parse_pair(const char *s, uint32_t *a, uint32_t *b) {
  const char *comma = strchr(s, ',');
  if (!comma || comma == s || !comma[1]) return false;
  char first[32];
  size_t n = (size_t)(comma - s);
  if (n >= sizeof first) return false;
  memcpy(first, s, n);
  first[n] = 0;
  char *end;
  errno = 0;
  for (int i = 0; i < 2; i++) {
    const char *p = i ? comma + 1 : first;
    if (*p < '0' || *p > '9') return false;
    unsigned long long v = strtoull(p, &end, 10);
    if (errno || *end || v > UINT32_MAX) return false;
    *(i ? b : a) = (uint32_t)v;
  }
  return true;
}

/* A STOMP demo application destination: SEND /app/echo is republished to /topic/echo. */
static int on_app_echo(wsref_stomp_broker *b, wsref_stomp_conn *c, const char *dest,
                       const wsref_stomp_frame *f, void *ud) {
  (void)c;
  (void)dest;
  (void)ud;
  return wsref_template_send(b, "/topic/echo", f->headers, f->nheaders, f->body, f->body_len);
}

static bool parse_uint(const char *s, uint64_t max, uint64_t *out) {
  if (!*s || *s == '-' || *s == '+') return false;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno || end == s || *end || v > max) return false;
  *out = v;
  return true;
}

typedef struct signal_thread_arg {
  wsref_server *srv;
  sigset_t set;
} signal_thread_arg;

/* Signals are taken synchronously by this thread, so the stop request needs no global
 * variable and no async-signal-safety reasoning. */
static void *signal_thread(void *p) {
  signal_thread_arg *a = p;
  for (;;) {
    int sig;
    if (sigwait(&a->set, &sig) == 0) wsref_server_stop(a->srv);
  }
  return NULL;
}

int main(int argc, char **argv) {
  wsref_server_options o;
  wsref_server_options_default(&o);
  /* STOMP settings are collected first and applied over the profile's defaults. */
  const char *stomp_profile = "spec";
  bool have_hb = false;
  uint32_t hb_sx = 0, hb_sy = 0;
  uint64_t st_factor = 0, st_connect = UINT64_MAX, st_headers = 0, st_line = 0, st_body = 0,
           st_buffer = 0, st_sendbuf = 0;

  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(usage, stdout);
      return 0;
    }
    if (strcmp(arg, "--quiet") == 0) {
      o.quiet = true;
      continue;
    }
    if (strncmp(arg, "--", 2) != 0) return bad("unexpected argument '%s'%s", arg, "");
    /* Every other option takes a value: "--opt VALUE" or "--opt=VALUE". */
    char name[64];
    const char *val;
    const char *eq = strchr(arg, '=');
    if (eq) {
      size_t n = (size_t)(eq - arg);
      if (n >= sizeof name) return bad("unknown option '%s'%s", arg, "");
      memcpy(name, arg, n);
      name[n] = '\0';
      val = eq + 1;
    } else {
      snprintf(name, sizeof name, "%s", arg);
      val = NULL;
    }
    static const char *const known[] = {"--host",
                                        "--port",
                                        "--tls-cert",
                                        "--tls-key",
                                        "--max-message",
                                        "--max-frame",
                                        "--handshake-timeout",
                                        "--close-timeout",
                                        "--idle-timeout",
                                        "--max-connections",
                                        "--stomp-profile",
                                        "--stomp-heartbeat",
                                        "--stomp-read-factor",
                                        "--stomp-connect-timeout",
                                        "--stomp-max-headers",
                                        "--stomp-max-header-line",
                                        "--stomp-max-body",
                                        "--stomp-max-buffer",
                                        "--stomp-send-buffer"};
    bool ok = false;
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) ok |= strcmp(name, known[k]) == 0;
    if (!ok) return bad("unknown option '%s'%s", name, "");
    if (!val) {
      if (i + 1 >= argc) return bad("option %s needs a value%s", name, "");
      val = argv[++i];
    }
    uint64_t v;
    if (strcmp(name, "--host") == 0) {
      if (!*val) return bad("option %s needs a non-empty value%s", name, "");
      o.host = val;
    } else if (strcmp(name, "--port") == 0) {
      if (!parse_uint(val, 65535, &v)) return bad("invalid port '%s'%s", val, "");
      o.port = (uint16_t)v;
    } else if (strcmp(name, "--tls-cert") == 0) {
      o.tls_cert = val;
    } else if (strcmp(name, "--tls-key") == 0) {
      o.tls_key = val;
    } else if (strcmp(name, "--max-message") == 0) {
      if (!parse_size(val, UINT64_MAX, &v) || v == 0)
        return bad("invalid size '%s' for %s", val, name);
      o.session.max_message = v;
    } else if (strcmp(name, "--max-frame") == 0) {
      if (!parse_size(val, UINT64_MAX, &v)) return bad("invalid size '%s' for %s", val, name);
      o.session.max_frame = v;
    } else if (strcmp(name, "--stomp-profile") == 0) {
      if (strcmp(val, "spec") != 0 && strcmp(val, "spring") != 0)
        return bad("invalid STOMP profile '%s'%s (spec or spring)", val, "");
      stomp_profile = val;
    } else if (strcmp(name, "--stomp-heartbeat") == 0) {
      if (!parse_pair(val, &hb_sx, &hb_sy))
        return bad("invalid heart-beat '%s'%s (SX,SY)", val, "");
      have_hb = true;
    } else if (strcmp(name, "--stomp-read-factor") == 0) {
      if (!parse_uint(val, 1000, &st_factor) || st_factor == 0)
        return bad("invalid factor '%s' for %s", val, name);
    } else if (strcmp(name, "--stomp-connect-timeout") == 0) {
      if (!parse_uint(val, UINT32_MAX, &st_connect))
        return bad("invalid time '%s' for %s", val, name);
    } else if (strcmp(name, "--stomp-max-headers") == 0) {
      if (!parse_uint(val, SIZE_MAX, &st_headers) || st_headers == 0)
        return bad("invalid count '%s' for %s", val, name);
    } else if (strncmp(name, "--stomp-", 8) == 0) {
      if (!parse_size(val, SIZE_MAX, &v) || v == 0)
        return bad("invalid size '%s' for %s", val, name);
      if (strcmp(name, "--stomp-max-header-line") == 0)
        st_line = v;
      else if (strcmp(name, "--stomp-max-body") == 0)
        st_body = v;
      else if (strcmp(name, "--stomp-max-buffer") == 0)
        st_buffer = v;
      else
        st_sendbuf = v;
    } else if (strcmp(name, "--max-connections") == 0) {
      if (!parse_uint(val, SIZE_MAX, &v)) return bad("invalid count '%s' for %s", val, name);
      o.max_connections = (size_t)v;
    } else {
      if (!parse_uint(val, UINT32_MAX, &v)) return bad("invalid time '%s' for %s", val, name);
      if (strcmp(name, "--handshake-timeout") == 0) {
        if (v == 0) return bad("invalid time '%s' for %s", val, name);
        o.session.handshake_timeout_ms = (uint32_t)v;
      } else if (strcmp(name, "--close-timeout") == 0) {
        if (v == 0) return bad("invalid time '%s' for %s", val, name);
        o.session.close_timeout_ms = (uint32_t)v;
      } else {
        o.session.idle_timeout_ms = (uint32_t)v;
      }
    }
  }
  if ((o.tls_cert != NULL) != (o.tls_key != NULL))
    return bad("--tls-cert and --tls-key go together%s%s", "", "");

  /* Block the signals before any thread exists so that only signal_thread receives them. */
  signal_thread_arg sa;
  sigemptyset(&sa.set);
  sigaddset(&sa.set, SIGTERM);
  sigaddset(&sa.set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &sa.set, NULL);

  wsref_stomp_broker_options bo;
  wsref_stomp_broker_options_default(&bo, strcmp(stomp_profile, "spring") == 0
                                              ? WSREF_STOMP_PROFILE_SPRING
                                              : WSREF_STOMP_PROFILE_SPEC);
  if (have_hb) {
    bo.server.heartbeat_send_ms = hb_sx;
    bo.server.heartbeat_recv_ms = hb_sy;
  }
  if (st_factor) bo.server.heartbeat_read_factor = (uint32_t)st_factor;
  if (st_connect != UINT64_MAX) bo.server.connect_timeout_ms = (uint32_t)st_connect;
  if (st_headers) bo.server.limits.max_headers = (size_t)st_headers;
  if (st_line) bo.server.limits.max_header_line = (size_t)st_line;
  if (st_body) bo.server.limits.max_body = (size_t)st_body;
  if (st_buffer) bo.server.limits.max_buffer = (size_t)st_buffer;
  if (st_sendbuf) bo.server.send_buffer_limit = (size_t)st_sendbuf;
  /* The broker's heart-beats run on the server's handler timer hook. */
  o.handler_deadline = wsref_stomp_session_deadline;
  o.handler_tick = wsref_stomp_session_tick;

  wsref_registry *reg = wsref_registry_new();
  wsref_stomp_broker *broker = wsref_stomp_broker_new(&bo);
  if (!reg || !broker || wsref_echo_register(reg) != 0 ||
      !wsref_stomp_broker_register(broker, reg, "/stomp") ||
      wsref_stomp_broker_add_handler(broker, "/echo", on_app_echo, NULL) != 0) {
    fprintf(stderr, "wsref-server: cannot set up the handlers\n");
    return 1;
  }
  char err[512];
  wsref_server *srv = wsref_server_new(reg, &o, err, sizeof err);
  if (!srv) {
    fprintf(stderr, "wsref-server: %s\n", err);
    wsref_registry_free(reg);
    return 1;
  }
  if (wsref_server_bind(srv, err, sizeof err) != 0) {
    fprintf(stderr, "wsref-server: %s\n", err);
    wsref_server_free(srv);
    wsref_registry_free(reg);
    return 1;
  }
  sa.srv = srv;
  pthread_t th;
  if (pthread_create(&th, NULL, signal_thread, &sa) != 0) {
    fprintf(stderr, "wsref-server: cannot start the signal thread\n");
    return 1;
  }
  pthread_detach(th);

  printf("listening on %s\n", wsref_server_url(srv));
  fflush(stdout);

  int r = wsref_server_run(srv);
  if (r != 0) fprintf(stderr, "wsref-server: event loop failed: %s\n", wsref_strerror(r));
  /* The signal thread still blocks in sigwait() on srv: leave without freeing. */
  fflush(stderr);
  _Exit(r == 0 ? 0 : 1);
}
