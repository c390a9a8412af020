/* wsref-client: a line-oriented WebSocket client.
 * Lines from stdin go out as messages; received messages are printed on stdout; at the end
 * of stdin it sends close 1000 and waits for the closing handshake. */
#include "base/buf.h"
#include "base/error.h"
#include "io/client.h"
#include "io/loop.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

static const char usage[] =
    "usage: wsref-client [options] ws[s]://host[:port]/path\n"
    "\n"
    "Each line read from stdin (without its newline) is sent as one text message (binary\n"
    "with --binary). Each received message is printed on stdout: text as is followed by a\n"
    "newline, binary as \"[binary N bytes] HEX\". At the end of stdin the client sends\n"
    "close 1000; replies still in flight are printed as they arrive, until the server's\n"
    "close frame and TCP close. Connection events go to stderr.\n"
    "\n"
    "options:\n"
    "  --subprotocol P      offer subprotocol P (repeatable, in preference order)\n"
    "  --header 'N: V'      add a request header line (repeatable)\n"
    "  --origin O           send Origin: O\n"
    "  --cacert FILE        verify the wss server against the CA certificates in FILE\n"
    "                       (default: the system store)\n"
    "  --insecure           wss: do not verify the server certificate or host name\n"
    "  --proxy URL          connect through a proxy: http://host:port (CONNECT tunnel),\n"
    "                       socks5://host:port, socks5h://, socks4://\n"
    "  --binary             send lines as binary messages\n"
    "  --timeout MS         limit for TCP + TLS + proxy + opening handshake (default 10000)\n"
    "  --verbose            libcurl's connection trace on stderr\n"
    "  --help               this text\n"
    "\n"
    "exit status: 0 after a clean closing handshake with code 1000, 1001 or none; 1 when\n"
    "the connection failed or ended otherwise; 2 for invalid arguments.\n";

#define MAX_LIST 64
#define STDIN_PAUSE_BYTES (1u << 20) /* stop reading stdin while this much is unsent */

static int bad(const char *fmt, const char *a) {
  fprintf(stderr, "wsref-client: ");
  fprintf(stderr, fmt, a);
  fprintf(stderr, " (see --help)\n");
  return 2;
}

static int print_message(wsref_session *s, const wsref_message *m, void *ud) {
  (void)s;
  (void)ud;
  if (m->type == WSREF_MSG_TEXT) {
    fwrite(m->data, 1, m->len, stdout);
    fputc('\n', stdout);
  } else if (m->type == WSREF_MSG_BINARY) {
    printf("[binary %zu bytes]%s", m->len, m->len ? " " : "");
    for (size_t i = 0; i < m->len; i++) printf("%02x", m->data[i]);
    fputc('\n', stdout);
  } else {
    return 0;
  }
  fflush(stdout);
  return 0;
}

static void report_error(wsref_session *s, int err, void *ud) {
  (void)s;
  (void)ud;
  fprintf(stderr, "wsref-client: %s (%s)\n", wsref_strerror(err), wsref_err_name(err));
}

static void send_line(wsref_session *s, const char *p, size_t n, bool binary, size_t lineno) {
  int r = binary ? wsref_session_send_binary(s, p, n) : wsref_session_send_text(s, p, n);
  if (r == WSREF_E_UTF8)
    fprintf(stderr, "wsref-client: line %zu is not valid UTF-8; not sent (use --binary)\n", lineno);
  else if (r != 0)
    fprintf(stderr, "wsref-client: line %zu not sent: %s\n", lineno, wsref_strerror(r));
}

int main(int argc, char **argv) {
  wsref_client_options o;
  wsref_client_options_default(&o);
  const char *protos[MAX_LIST], *headers[MAX_LIST];
  size_t nprotos = 0, nheaders = 0;
  bool binary = false;
  const char *url = NULL;

  for (int i = 1; i < argc; i++) {
    const char *arg = argv[i];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      fputs(usage, stdout);
      return 0;
    }
    if (strcmp(arg, "--insecure") == 0) {
      o.insecure = true;
      continue;
    }
    if (strcmp(arg, "--binary") == 0) {
      binary = true;
      continue;
    }
    if (strcmp(arg, "--verbose") == 0) {
      o.verbose = true;
      continue;
    }
    if (strncmp(arg, "--", 2) != 0) {
      if (url) return bad("unexpected argument '%s': only one URL", arg);
      url = arg;
      continue;
    }
    char name[32];
    const char *val = NULL, *eq = strchr(arg, '=');
    size_t nlen = eq ? (size_t)(eq - arg) : strlen(arg);
    if (nlen >= sizeof name) return bad("unknown option '%s'", arg);
    memcpy(name, arg, nlen);
    name[nlen] = '\0';
    static const char *const known[] = {"--subprotocol", "--header", "--origin",
                                        "--cacert",      "--proxy",  "--timeout"};
    bool ok = false;
    for (size_t k = 0; k < sizeof known / sizeof known[0]; k++) ok |= strcmp(name, known[k]) == 0;
    if (!ok) return bad("unknown option '%s'", name);
    if (eq) {
      val = eq + 1;
    } else {
      if (i + 1 >= argc) return bad("option %s needs a value", name);
      val = argv[++i];
    }
    if (strcmp(name, "--subprotocol") == 0) {
      if (!*val || strpbrk(val, " ,\t\r\n")) return bad("invalid subprotocol '%s'", val);
      if (nprotos == MAX_LIST) return bad("too many subprotocols%s", "");
      protos[nprotos++] = val;
    } else if (strcmp(name, "--header") == 0) {
      const char *colon = strchr(val, ':');
      if (!colon || colon == val || strpbrk(val, "\r\n"))
        return bad("invalid header '%s' (expected 'Name: value')", val);
      if (nheaders == MAX_LIST) return bad("too many headers%s", "");
      headers[nheaders++] = val;
    } else if (strcmp(name, "--origin") == 0) {
      if (strpbrk(val, "\r\n")) return bad("invalid origin '%s'", val);
      o.origin = val;
    } else if (strcmp(name, "--cacert") == 0) {
      if (access(val, R_OK) != 0) return bad("cannot read CA file '%s'", val);
      o.cacert = val;
    } else if (strcmp(name, "--proxy") == 0) {
      static const char *const schemes[] = {"http://",    "https://",  "socks4://",
                                            "socks4a://", "socks5://", "socks5h://"};
      bool sok = false;
      for (size_t k = 0; k < sizeof schemes / sizeof schemes[0]; k++)
        sok |= strncasecmp(val, schemes[k], strlen(schemes[k])) == 0;
      if (!sok) return bad("unsupported proxy URL '%s' (http:// or socks5:// expected)", val);
      o.proxy = val;
    } else {
      char *end;
      errno = 0;
      unsigned long v = strtoul(val, &end, 10);
      if (!*val || *val == '-' || *end || errno || v == 0 || v > 86400000ul)
        return bad("invalid timeout '%s'", val);
      o.timeout_ms = (uint32_t)v;
    }
  }
  if (!url) return bad("missing URL%s", "");
  wsref_url u;
  char err[512];
  if (wsref_url_parse(url, &u, err, sizeof err) != 0) {
    fprintf(stderr, "wsref-client: bad URL: %s\n", err);
    return 2;
  }
  o.subprotocols = protos;
  o.nsubprotocols = nprotos;
  o.headers = headers;
  o.nheaders = nheaders;

  curl_global_init(CURL_GLOBAL_DEFAULT);
  wsref_handler h = {0};
  h.on_message = print_message;
  h.on_transport_error = report_error;
  wsref_client *c = wsref_client_connect(url, &h, &o, err, sizeof err);
  if (!c) {
    fprintf(stderr, "wsref-client: %s\n", err);
    return 1;
  }
  wsref_session *s = wsref_client_session(c);
  const char *sp = wsref_session_subprotocol(s);
  fprintf(stderr, "wsref-client: connected to %s%s%s\n", url, *sp ? ", subprotocol " : "", sp);

  wsref_buf in = WSREF_BUF_INIT;
  bool stdin_eof = false, close_sent = false;
  size_t lineno = 0;
  for (;;) {
    if (wsref_client_process(c) != 0) break;
    if (stdin_eof && !close_sent) {
      close_sent = true;
      wsref_session_close(s, WSREF_CLOSE_NORMAL, NULL);
      continue;
    }
    struct pollfd p[2] = {
        {.fd = wsref_client_fd(c), .events = wsref_client_poll_events(c)},
        {.fd = 0, .events = POLLIN},
    };
    bool want_stdin =
        !stdin_eof && wsref_session_is_open(s) && wsref_session_buffered(s) < STDIN_PAUSE_BYTES;
    int wait = wsref_client_timeout_ms(c);
    if (poll(p, want_stdin ? 2 : 1, wait) < 0 && errno != EINTR) break;
    if (!want_stdin || !(p[1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    uint8_t *dst = wsref_buf_reserve(&in, 65536);
    if (!dst) {
      fprintf(stderr, "wsref-client: out of memory\n");
      break;
    }
    ssize_t n = read(0, dst, 65536);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) wsref_buf_commit(&in, (size_t)n);
    for (;;) {
      const char *head = (const char *)wsref_buf_head(&in);
      const char *nl = memchr(head, '\n', wsref_buf_len(&in));
      if (!nl) break;
      send_line(s, head, (size_t)(nl - head), binary, ++lineno);
      wsref_buf_consume(&in, (size_t)(nl - head) + 1);
    }
    if (n <= 0) {
      if (n < 0) fprintf(stderr, "wsref-client: reading stdin: %s\n", strerror(errno));
      if (wsref_buf_len(&in))
        send_line(s, (const char *)wsref_buf_head(&in), wsref_buf_len(&in), binary, ++lineno);
      wsref_buf_reset(&in);
      stdin_eof = true;
    }
  }
  wsref_buf_free(&in);

  const wsref_close_status *st = wsref_client_close_status(c);
  int e = wsref_client_error(c);
  unsigned code = st->code ? st->code : WSREF_CLOSE_NO_STATUS;
  if (wsref_client_closed(c))
    fprintf(stderr, "wsref-client: closed %u%s%s%s\n", code, st->reason_len ? " " : "", st->reason,
            e ? " (not clean)" : "");
  bool clean = wsref_client_closed(c) && e == 0 &&
               (code == WSREF_CLOSE_NORMAL || code == WSREF_CLOSE_GOING_AWAY ||
                code == WSREF_CLOSE_NO_STATUS);
  wsref_client_free(c);
  curl_global_cleanup();
  return clean ? 0 : 1;
}
