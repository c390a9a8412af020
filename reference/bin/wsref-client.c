/* wsref-client: a line-oriented WebSocket client.
 * Lines from stdin go out as messages; received messages are printed on stdout; at the end
 * of stdin it sends close 1000 and waits for the closing handshake.
 * With --stomp it is a STOMP client (app/stomp_client.h): stdin lines are commands
 * (subscribe, send, ack...), every received frame is printed. */
#include "app/stomp_client.h"
#include "base/buf.h"
#include "base/error.h"
#include "codec/utf8.h"
#include "io/client.h"
#include "io/loop.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <inttypes.h>

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
    "the connection failed or ended otherwise; 2 for invalid arguments.\n"
    "\n"
    "STOMP mode (--stomp): a STOMP 1.0/1.1/1.2 client over the WebSocket. It offers the\n"
    "subprotocols v12.stomp, v11.stomp, v10.stomp (unless --subprotocol is given), sends\n"
    "CONNECT, then reads one command per stdin line once CONNECTED. Every frame received is\n"
    "printed on stdout as the command line, its headers as name:value (values unescaped;\n"
    "LF, CR, backslash and other control octets shown as \\n, \\r, \\\\, \\xNN), an empty\n"
    "line, the body (as text if it is UTF-8 without control octets other than LF, CR and\n"
    "TAB, else \"[binary N bytes] HEX\"; a newline is added if it has none), and a line\n"
    "\"^@\". Heart-beats are not printed. Events go to stderr.\n"
    "\n"
    "  --stomp              STOMP mode\n"
    "  --stomp-host H       CONNECT host header (virtual host; RabbitMQ: /); default: the\n"
    "                       URL's host name\n"
    "  --login L            CONNECT login\n"
    "  --passcode P         CONNECT passcode\n"
    "  --accept-version V   CONNECT accept-version (default 1.0,1.1,1.2)\n"
    "  --heart-beat CX,CY   CONNECT heart-beat in ms: what we send, what we want\n"
    "                       (default 10000,10000; 0,0 = none)\n"
    "  --stomp-frame        connect with a STOMP frame instead of CONNECT\n"
    "  --wait-timeout MS    limit of each wait command (default 10000)\n"
    "  --binary             send frames as binary messages\n"
    "\n"
    "commands (one per line; empty lines and lines starting with # are skipped):\n"
    "  subscribe DEST [ack=auto|client|client-individual]\n"
    "                       SUBSCRIBE with ids 0, 1, 2...\n"
    "  unsubscribe [ID]     UNSUBSCRIBE (default: the latest subscription)\n"
    "  send DEST [BODY]     SEND; the body is the rest of the line after one space\n"
    "  ack [ID] / nack [ID] ACK / NACK the latest MESSAGE received, with the headers of the\n"
    "                       negotiated version (1.2 id, 1.1 message-id + subscription, 1.0\n"
    "                       message-id); ID replaces its ack (1.2) or message-id (1.0, 1.1)\n"
    "  begin TX | commit TX | abort TX\n"
    "                       transaction frames\n"
    "  header NAME:VALUE    add a header to the next subscribe or send (repeatable); for\n"
    "                       ack and nack only transaction:TX\n"
    "  receipt              ask a receipt for the next frame (the RECEIPT is printed like\n"
    "                       any frame; one that does not come is noted on stderr)\n"
    "  wait COMMAND [N]     read no further command until N frames COMMAND (MESSAGE,\n"
    "                       RECEIPT, ERROR...) were received in all; without N, one more\n"
    "                       than the previous wait for COMMAND asked for\n"
    "  sleep MS             read no further command for MS ms\n"
    "  disconnect           DISCONNECT with a receipt, then the WebSocket close; also done\n"
    "                       at the end of stdin\n"
    "\n"
    "STOMP exit status: 0 after a graceful disconnect (DISCONNECT sent, clean close; a\n"
    "missing RECEIPT for it is only noted on stderr) with no ERROR frame, no failed\n"
    "command, no lost receipt and no timed-out wait; 1 otherwise; 2 for invalid arguments.\n";

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

/* ---- STOMP mode ---- */

typedef struct stomp_cli {
  wsref_stomp_client *c;
  uint64_t counts[WSREF_STOMP_COMMAND_COUNT]; /* frames received, per command */
  uint64_t waited[WSREF_STOMP_COMMAND_COUNT]; /* what the last wait per command asked for */
  char *last_ack, *last_mid, *last_sub;       /* ids of the latest MESSAGE */
  wsref_stomp_subscription *last_subscription;
  wsref_stomp_kv hdrs[MAX_LIST]; /* `header` lines for the next frame */
  char *hdr_mem[MAX_LIST];
  size_t nhdrs;
  bool want_receipt;
  int wait_cmd;        /* -1 = not waiting */
  uint64_t wait_count; /* until counts[wait_cmd] >= this */
  uint64_t wait_until; /* deadline of the wait, or end of a sleep (wait_cmd -1) */
  uint32_t wait_timeout;
  bool failed; /* a command failed, a wait timed out, or an ERROR arrived */
  bool disconnect_sent, disconnect_receipt;
  size_t lineno;
} stomp_cli;

static void print_escaped(const char *p, size_t n) {
  for (size_t i = 0; i < n; i++) {
    unsigned char ch = (unsigned char)p[i];
    if (ch == '\\')
      fputs("\\\\", stdout);
    else if (ch == '\n')
      fputs("\\n", stdout);
    else if (ch == '\r')
      fputs("\\r", stdout);
    else if (ch < 0x20 || ch == 0x7f)
      printf("\\x%02x", ch);
    else
      fputc(ch, stdout);
  }
}

static bool printable_body(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t') || p[i] == 0x7f) return false;
  return wsref_utf8_valid(p, n);
}

static void print_frame(const wsref_stomp_frame *f) {
  printf("%s\n", wsref_stomp_command_name(f->command));
  for (size_t i = 0; i < f->nheaders; i++) {
    print_escaped(f->headers[i].name, f->headers[i].name_len);
    fputc(':', stdout);
    print_escaped(f->headers[i].value, f->headers[i].value_len);
    fputc('\n', stdout);
  }
  fputc('\n', stdout);
  if (f->body_len && printable_body(f->body, f->body_len)) {
    fwrite(f->body, 1, f->body_len, stdout);
    if (f->body[f->body_len - 1] != '\n') fputc('\n', stdout);
  } else if (f->body_len) {
    printf("[binary %zu bytes] ", f->body_len);
    for (size_t i = 0; i < f->body_len; i++) printf("%02x", f->body[i]);
    fputc('\n', stdout);
  }
  fputs("^@\n", stdout);
  fflush(stdout);
}

static char *dup_header(const wsref_stomp_frame *f, const char *name) {
  const wsref_stomp_header *h = wsref_stomp_frame_header(f, name);
  return h ? strndup(h->value, h->value_len) : NULL;
}

static void sc_on_frame(wsref_stomp_client *c, const wsref_stomp_frame *f, void *ud) {
  stomp_cli *k = ud;
  (void)c;
  print_frame(f);
  if ((unsigned)f->command < WSREF_STOMP_COMMAND_COUNT) k->counts[f->command]++;
  if (f->command == WSREF_STOMP_MESSAGE) {
    free(k->last_ack);
    free(k->last_mid);
    free(k->last_sub);
    k->last_ack = dup_header(f, "ack");
    k->last_mid = dup_header(f, "message-id");
    k->last_sub = dup_header(f, "subscription");
  }
}

static void sc_on_connected(wsref_stomp_client *c, const wsref_stomp_frame *f, void *ud) {
  (void)f;
  (void)ud;
  uint32_t s, r;
  wsref_stomp_client_heartbeat(c, &s, &r);
  int v = wsref_stomp_client_version(c);
  fprintf(stderr,
          "wsref-client: STOMP %d.%d session, heart-beat: send %" PRIu32 " ms, expect %" PRIu32
          " ms\n",
          v / 10, v % 10, s, r);
}

static void sc_on_error(wsref_stomp_client *c, const wsref_stomp_frame *f, void *ud) {
  stomp_cli *k = ud;
  (void)c;
  const wsref_stomp_header *m = wsref_stomp_frame_header(f, "message");
  fprintf(stderr, "wsref-client: ERROR frame%s%.*s\n", m ? ": " : "", m ? (int)m->value_len : 0,
          m ? m->value : "");
  k->failed = true;
}

static void sc_on_transport_error(wsref_stomp_client *c, int err, void *ud) {
  stomp_cli *k = ud;
  (void)c;
  fprintf(stderr, "wsref-client: STOMP session failed: %s (%s)\n", wsref_strerror(err),
          wsref_err_name(err));
  k->failed = true;
}

static void sc_on_receipt(wsref_stomp_client *c, const char *id, bool received, void *ud) {
  stomp_cli *k = ud;
  (void)c;
  if (!received) {
    fprintf(stderr, "wsref-client: receipt %s lost\n", id);
    k->failed = true;
  }
}

static void sc_on_disconnect_receipt(wsref_stomp_client *c, const char *id, bool received,
                                     void *ud) {
  stomp_cli *k = ud;
  (void)c;
  k->disconnect_receipt = received;
  if (!received) fprintf(stderr, "wsref-client: no RECEIPT for DISCONNECT (%s)\n", id);
}

static void clear_pending(stomp_cli *k) {
  for (size_t i = 0; i < k->nhdrs; i++) free(k->hdr_mem[i]);
  k->nhdrs = 0;
  k->want_receipt = false;
}

/* Next whitespace-separated word of *p (advanced past it); NULL at the end. */
static char *next_word(char **p) {
  char *s = *p;
  while (*s == ' ' || *s == '\t') s++;
  if (!*s) {
    *p = s;
    return NULL;
  }
  char *w = s;
  while (*s && *s != ' ' && *s != '\t') s++;
  if (*s) *s++ = '\0';
  *p = s;
  return w;
}

static int sc_fail(stomp_cli *k, const char *what, const char *detail) {
  fprintf(stderr, "wsref-client: line %zu: %s%s%s\n", k->lineno, what, detail ? ": " : "",
          detail ? detail : "");
  k->failed = true;
  return -1;
}

/* Run one command line (NUL-terminated, no newline). */
static void stomp_command(stomp_cli *k, char *line, uint64_t now) {
  size_t len = strlen(line);
  if (len && line[len - 1] == '\r') line[--len] = '\0';
  char *p = line;
  char *verb = next_word(&p);
  if (!verb || verb[0] == '#') return;
  wsref_stomp_receipt rc = {sc_on_receipt, k};
  const wsref_stomp_receipt *r = k->want_receipt ? &rc : NULL;
  int e = 0;
  bool uses_headers = false, tx_only = false;
  const char *tx = NULL;

  if (strcmp(verb, "header") == 0) {
    while (*p == ' ' || *p == '\t') p++;
    char *colon = strchr(p, ':');
    if (!colon || colon == p) {
      sc_fail(k, "header wants NAME:VALUE", NULL);
      return;
    }
    if (k->nhdrs == MAX_LIST) {
      sc_fail(k, "too many headers", NULL);
      return;
    }
    char *mem = strdup(p);
    if (!mem) {
      sc_fail(k, "out of memory", NULL);
      return;
    }
    mem[colon - p] = '\0';
    k->hdr_mem[k->nhdrs] = mem;
    k->hdrs[k->nhdrs].name = mem;
    k->hdrs[k->nhdrs].value = mem + (colon - p) + 1;
    k->nhdrs++;
    return;
  }
  if (strcmp(verb, "receipt") == 0) {
    k->want_receipt = true;
    return;
  }
  if (strcmp(verb, "wait") == 0) {
    char *cmd = next_word(&p), *n = next_word(&p);
    int ci = cmd ? wsref_stomp_command_parse(cmd, strlen(cmd)) : -1;
    if (ci <= 0) {
      sc_fail(k, "wait wants a frame command (MESSAGE, RECEIPT, ERROR...)", cmd);
      return;
    }
    uint64_t want = k->waited[ci] + 1;
    if (n) {
      char *end;
      errno = 0;
      unsigned long long v = strtoull(n, &end, 10);
      if (*end || errno || *n == '-') {
        sc_fail(k, "wait: bad count", n);
        return;
      }
      want = v;
    }
    k->waited[ci] = want;
    k->wait_cmd = ci;
    k->wait_count = want;
    k->wait_until = now + k->wait_timeout;
    return;
  }
  if (strcmp(verb, "sleep") == 0) {
    char *n = next_word(&p), *end = NULL;
    unsigned long v = n ? strtoul(n, &end, 10) : 0;
    if (!n || *end || *n == '-') {
      sc_fail(k, "sleep wants milliseconds", n);
      return;
    }
    k->wait_cmd = -1;
    k->wait_until = now + v;
    return;
  }

  if (strcmp(verb, "subscribe") == 0) {
    uses_headers = true;
    char *dest = next_word(&p), *w;
    int ack = WSREF_STOMP_ACK_AUTO;
    if (!dest) e = sc_fail(k, "subscribe wants a destination", NULL);
    while (!e && (w = next_word(&p)) != NULL) {
      if (strncmp(w, "ack=", 4) == 0 && (ack = wsref_stomp_ack_mode_parse(w + 4)) >= 0) continue;
      e = sc_fail(k, "subscribe: unknown argument (ack=auto|client|client-individual)", w);
    }
    if (!e) {
      e = wsref_stomp_client_subscribe(k->c, dest, (enum wsref_stomp_ack_mode)ack, NULL, k->hdrs,
                                       k->nhdrs, r, &k->last_subscription);
      if (!e)
        fprintf(stderr, "wsref-client: subscription %s: %s\n",
                wsref_stomp_subscription_id(k->last_subscription), dest);
    }
  } else if (strcmp(verb, "unsubscribe") == 0) {
    char *id = next_word(&p);
    wsref_stomp_subscription *sub =
        id ? wsref_stomp_client_subscription(k->c, id) : k->last_subscription;
    if (!sub)
      e = sc_fail(k, "unsubscribe: no such subscription", id);
    else {
      bool latest = sub == k->last_subscription;
      e = wsref_stomp_client_unsubscribe(k->c, sub, r);
      if (!e && latest) k->last_subscription = NULL;
    }
  } else if (strcmp(verb, "send") == 0) {
    uses_headers = true;
    char *dest = next_word(&p);
    if (!dest)
      e = sc_fail(k, "send wants a destination", NULL);
    else
      e = wsref_stomp_client_send(k->c, dest, p, strlen(p), k->hdrs, k->nhdrs, r);
  } else if (strcmp(verb, "ack") == 0 || strcmp(verb, "nack") == 0) {
    tx_only = true;
    bool nack = verb[0] == 'n';
    char *id = next_word(&p);
    for (size_t i = 0; i < k->nhdrs; i++)
      if (strcmp(k->hdrs[i].name, "transaction") == 0) tx = k->hdrs[i].value;
    if (!id && !k->last_mid && !k->last_ack)
      e = sc_fail(k, "no MESSAGE to acknowledge yet", NULL);
    else
      e = wsref_stomp_client_ack_ids(k->c, nack, id ? id : k->last_ack, id ? id : k->last_mid,
                                     k->last_sub, tx, r);
  } else if (strcmp(verb, "begin") == 0 || strcmp(verb, "commit") == 0 ||
             strcmp(verb, "abort") == 0) {
    char *id = next_word(&p);
    if (!id)
      e = sc_fail(k, "transaction id missing", NULL);
    else if (verb[0] == 'b')
      e = wsref_stomp_client_begin(k->c, id, r);
    else if (verb[0] == 'c')
      e = wsref_stomp_client_commit(k->c, id, r);
    else
      e = wsref_stomp_client_abort(k->c, id, r);
  } else if (strcmp(verb, "disconnect") == 0) {
    wsref_stomp_receipt dr = {sc_on_disconnect_receipt, k};
    e = wsref_stomp_client_disconnect(k->c, &dr);
    if (e == 0) k->disconnect_sent = true;
  } else {
    e = sc_fail(k, "unknown command", verb);
  }
  if (e > 0 || e == 0) {
    for (size_t i = 0; e == 0 && !uses_headers && i < k->nhdrs; i++)
      if (!(tx_only && strcmp(k->hdrs[i].name, "transaction") == 0))
        sc_fail(k, "header ignored: not used by this command", k->hdrs[i].name);
  } else if (e != -1) {
    sc_fail(k, verb, wsref_strerror(e));
  }
  clear_pending(k);
}

static bool waiting(stomp_cli *k, uint64_t now) {
  if (!k->wait_until) return false;
  if (k->wait_cmd >= 0 && k->counts[k->wait_cmd] >= k->wait_count) {
    k->wait_until = 0;
    return false;
  }
  if (now >= k->wait_until) {
    if (k->wait_cmd >= 0) {
      fprintf(stderr, "wsref-client: wait %s %" PRIu64 ": timed out with %" PRIu64 "\n",
              wsref_stomp_command_name((enum wsref_stomp_command)k->wait_cmd), k->wait_count,
              k->counts[k->wait_cmd]);
      k->failed = true;
    }
    k->wait_until = 0;
    return false;
  }
  return true;
}

static int stomp_main(const char *url, wsref_stomp_client_options *so, uint32_t wait_timeout) {
  stomp_cli k;
  memset(&k, 0, sizeof k);
  k.wait_cmd = -1;
  k.wait_timeout = wait_timeout;
  wsref_stomp_session_handler h = {sc_on_connected, sc_on_error, sc_on_transport_error,
                                   sc_on_frame,     NULL,        &k};
  char err[512];
  curl_global_init(CURL_GLOBAL_DEFAULT);
  k.c = wsref_stomp_client_connect(url, &h, so, err, sizeof err);
  if (!k.c) {
    fprintf(stderr, "wsref-client: %s\n", err);
    curl_global_cleanup();
    return 1;
  }
  wsref_client *wc = wsref_stomp_client_ws(k.c);
  const char *sp = wsref_session_subprotocol(wsref_client_session(wc));
  fprintf(stderr, "wsref-client: connected to %s%s%s\n", url, *sp ? ", subprotocol " : "", sp);

  wsref_buf in = WSREF_BUF_INIT;
  bool stdin_eof = false, ignored_noted = false;
  for (;;) {
    if (wsref_stomp_client_process(k.c) != 0) break;
    uint64_t now = wsref_now_ms();
    enum wsref_stomp_client_state st = wsref_stomp_client_state(k.c);
    /* Commands run once CONNECTED, in order, each after the previous wait / sleep. */
    while (st == WSREF_STOMP_CLIENT_CONNECTED && wsref_buf_len(&in) && !waiting(&k, now)) {
      uint8_t *head = wsref_buf_head(&in);
      uint8_t *nl = memchr(head, '\n', wsref_buf_len(&in));
      size_t n = nl ? (size_t)(nl - head) : wsref_buf_len(&in);
      if (!nl && !(stdin_eof && n)) break;
      bool has_nul = memchr(head, '\0', n) != NULL;
      char *line = strndup((const char *)head, n);
      wsref_buf_consume(&in, nl ? n + 1 : n);
      k.lineno++;
      if (!line) {
        k.failed = true;
        break;
      }
      if (has_nul)
        sc_fail(&k, "NUL in command line", NULL);
      else
        stomp_command(&k, line, now);
      free(line);
      st = wsref_stomp_client_state(k.c);
    }
    if (st == WSREF_STOMP_CLIENT_CONNECTED && stdin_eof && !wsref_buf_len(&in) &&
        !waiting(&k, now)) {
      wsref_stomp_receipt dr = {sc_on_disconnect_receipt, &k};
      int e = wsref_stomp_client_disconnect(k.c, &dr);
      if (e == 0) k.disconnect_sent = true;
      if (e) {
        fprintf(stderr, "wsref-client: DISCONNECT not sent: %s\n", wsref_strerror(e));
        k.failed = true;
        wsref_session_close(wsref_client_session(wc), WSREF_CLOSE_NORMAL, NULL);
      }
      continue;
    }
    if (st > WSREF_STOMP_CLIENT_CONNECTED && wsref_buf_len(&in) && !ignored_noted) {
      /* After DISCONNECT (or an ERROR) nothing may be sent (RC-06). */
      fprintf(stderr, "wsref-client: session %s: remaining commands ignored\n",
              wsref_stomp_client_state_name(st));
      ignored_noted = true;
    }
    struct pollfd pf[2] = {
        {.fd = wsref_stomp_client_fd(k.c), .events = wsref_stomp_client_poll_events(k.c)},
        {.fd = 0, .events = POLLIN},
    };
    bool want_stdin = !stdin_eof && wsref_buf_len(&in) < STDIN_PAUSE_BYTES;
    int wait = wsref_stomp_client_timeout_ms(k.c);
    if (k.wait_until && st == WSREF_STOMP_CLIENT_CONNECTED) {
      int w = k.wait_until > now ? (int)(k.wait_until - now) : 0;
      if (wait < 0 || w < wait) wait = w;
    }
    if (poll(pf, want_stdin ? 2 : 1, wait) < 0 && errno != EINTR) break;
    if (!want_stdin || !(pf[1].revents & (POLLIN | POLLHUP | POLLERR))) continue;
    uint8_t *dst = wsref_buf_reserve(&in, 65536);
    if (!dst) {
      fprintf(stderr, "wsref-client: out of memory\n");
      break;
    }
    ssize_t n = read(0, dst, 65536);
    if (n < 0 && errno == EINTR) continue;
    if (n > 0) wsref_buf_commit(&in, (size_t)n);
    if (n <= 0) {
      if (n < 0) fprintf(stderr, "wsref-client: reading stdin: %s\n", strerror(errno));
      stdin_eof = true;
    }
  }
  wsref_buf_free(&in);

  const wsref_close_status *cs = wsref_client_close_status(wc);
  int e = wsref_client_error(wc);
  unsigned code = cs->code ? cs->code : WSREF_CLOSE_NO_STATUS;
  if (wsref_client_closed(wc))
    fprintf(stderr, "wsref-client: closed %u%s%s%s%s%s\n", code, cs->reason_len ? " " : "",
            cs->reason, e ? " (not clean: " : "", e ? wsref_err_name(e) : "", e ? ")" : "");
  /* After DISCONNECT the STOMP session is over: a server that closes before its RECEIPT
   * for it is out, or resets the TCP connection right after its close frame (RabbitMQ
   * does both), is noted on stderr but not a failure (LC-02). */
  bool clean = wsref_client_closed(wc) && (e == 0 || k.disconnect_sent) &&
               (code == WSREF_CLOSE_NORMAL || code == WSREF_CLOSE_GOING_AWAY ||
                code == WSREF_CLOSE_NO_STATUS);
  bool ok = clean && k.disconnect_sent && !k.failed && !wsref_stomp_client_error(k.c);
  clear_pending(&k);
  free(k.last_ack);
  free(k.last_mid);
  free(k.last_sub);
  wsref_stomp_client_free(k.c);
  curl_global_cleanup();
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  wsref_client_options o;
  wsref_client_options_default(&o);
  const char *protos[MAX_LIST], *headers[MAX_LIST];
  size_t nprotos = 0, nheaders = 0;
  bool binary = false, stomp = false;
  const char *url = NULL;
  wsref_stomp_client_options so;
  wsref_stomp_client_options_default(&so);
  uint32_t wait_timeout = 10000;
  const char *stomp_only = NULL; /* a STOMP option given (for the error without --stomp) */

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
    if (strcmp(arg, "--stomp") == 0) {
      stomp = true;
      continue;
    }
    if (strcmp(arg, "--stomp-frame") == 0) {
      so.use_stomp_command = true;
      stomp_only = arg;
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
    static const char *const known[] = {"--subprotocol",    "--header",     "--origin",
                                        "--cacert",         "--proxy",      "--timeout",
                                        "--stomp-host",     "--login",      "--passcode",
                                        "--accept-version", "--heart-beat", "--wait-timeout"};
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
    } else if (strcmp(name, "--stomp-host") == 0) {
      so.host = val;
      stomp_only = "--stomp-host";
    } else if (strcmp(name, "--login") == 0) {
      so.login = val;
      stomp_only = "--login";
    } else if (strcmp(name, "--passcode") == 0) {
      so.passcode = val;
      stomp_only = "--passcode";
    } else if (strcmp(name, "--accept-version") == 0) {
      /* a comma-separated list of the versions we know */
      for (const char *q = val;;) {
        if (strncmp(q, "1.0", 3) != 0 && strncmp(q, "1.1", 3) != 0 && strncmp(q, "1.2", 3) != 0)
          return bad("invalid accept-version '%s' (e.g. 1.0,1.1,1.2)", val);
        q += 3;
        if (!*q) break;
        if (*q++ != ',') return bad("invalid accept-version '%s' (e.g. 1.0,1.1,1.2)", val);
      }
      so.accept_version = val;
      stomp_only = "--accept-version";
    } else if (strcmp(name, "--heart-beat") == 0) {
      unsigned long cx, cy;
      char *end;
      errno = 0;
      cx = strtoul(val, &end, 10);
      bool hok = end != val && *end == ',' && *val != '-' && errno == 0 && cx <= 86400000ul;
      const char *y = hok ? end + 1 : "";
      cy = hok ? strtoul(y, &end, 10) : 0;
      if (!hok || end == y || *end || *y == '-' || errno || cy > 86400000ul)
        return bad("invalid heart-beat '%s' (CX,CY in ms, e.g. 10000,10000)", val);
      so.heartbeat_send_ms = (uint32_t)cx;
      so.heartbeat_receive_ms = (uint32_t)cy;
      stomp_only = "--heart-beat";
    } else {
      char *end;
      errno = 0;
      unsigned long v = strtoul(val, &end, 10);
      bool wt = strcmp(name, "--wait-timeout") == 0;
      if (!*val || *val == '-' || *end || errno || v == 0 || v > 86400000ul)
        return bad(wt ? "invalid wait timeout '%s'" : "invalid timeout '%s'", val);
      if (wt) {
        wait_timeout = (uint32_t)v;
        stomp_only = "--wait-timeout";
      } else {
        o.timeout_ms = (uint32_t)v;
      }
    }
  }
  if (!url) return bad("missing URL%s", "");
  if (stomp_only && !stomp) return bad("%s needs --stomp", stomp_only);
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

  if (stomp) {
    so.ws = o;
    /* Without --subprotocol the STOMP client offers v12.stomp, v11.stomp and v10.stomp. */
    if (nprotos == 0) {
      so.ws.subprotocols = NULL;
      so.ws.nsubprotocols = 0;
    }
    so.binary_frames = binary;
    return stomp_main(url, &so, wait_timeout);
  }

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
