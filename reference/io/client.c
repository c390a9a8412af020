#include "io/client.h"

#include "base/error.h"
#include "io/loop.h"

#include <ctype.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>

#include <curl/curl.h>

/* ---- URL ---- */

static bool host_char_ok(unsigned char ch) {
  return isalnum(ch) || strchr("-._~%!$&'()*+,;=", ch) != NULL;
}

int wsref_url_parse(const char *url, wsref_url *u, char *err, size_t errlen) {
  memset(u, 0, sizeof *u);
  const char *p;
  if (strncasecmp(url, "ws://", 5) == 0) {
    p = url + 5;
  } else if (strncasecmp(url, "wss://", 6) == 0) {
    p = url + 6;
    u->tls = true;
  } else {
    const char *sep = strstr(url, "://");
    if (sep && sep > url && sep - url < 16)
      snprintf(err, errlen, "unsupported scheme '%.*s' (use ws:// or wss://)", (int)(sep - url),
               url);
    else
      snprintf(err, errlen, "not a ws:// or wss:// URL");
    return WSREF_E_URL;
  }
  for (const char *q = p; *q; q++) {
    unsigned char ch = (unsigned char)*q;
    if (ch == '#') {
      snprintf(err, errlen,
               "fragment identifiers are not allowed in WebSocket URLs "
               "(RFC 6455 section 3)");
      return WSREF_E_URL;
    }
    if (ch <= 0x20 || ch >= 0x7f) {
      snprintf(err, errlen,
               "character 0x%02x at offset %zu is not allowed in a URL "
               "(percent-encode it)",
               ch, (size_t)(q - url));
      return WSREF_E_URL;
    }
  }
  size_t alen = strcspn(p, "/?");
  const char *auth = p, *rest = p + alen;
  if (memchr(auth, '@', alen)) {
    snprintf(err, errlen, "user information (user@host) is not allowed in WebSocket URLs");
    return WSREF_E_URL;
  }
  const char *host, *port = NULL;
  size_t hlen, plen = 0;
  bool v6 = false;
  if (alen > 0 && auth[0] == '[') {
    const char *close = memchr(auth, ']', alen);
    if (!close) {
      snprintf(err, errlen, "unterminated IPv6 address (missing ']')");
      return WSREF_E_URL;
    }
    host = auth + 1;
    hlen = (size_t)(close - host);
    for (size_t i = 0; i < hlen; i++) {
      if (!isxdigit((unsigned char)host[i]) && host[i] != ':' && host[i] != '.') {
        snprintf(err, errlen, "invalid IPv6 address '%.*s'", (int)hlen, host);
        return WSREF_E_URL;
      }
    }
    v6 = true;
    const char *after = close + 1;
    if (after < rest) {
      if (*after != ':') {
        snprintf(err, errlen, "unexpected text after the IPv6 address");
        return WSREF_E_URL;
      }
      port = after + 1;
      plen = (size_t)(rest - port);
    }
  } else {
    const char *colon = memchr(auth, ':', alen);
    host = auth;
    hlen = colon ? (size_t)(colon - auth) : alen;
    if (colon) {
      port = colon + 1;
      plen = (size_t)(rest - port);
    }
    for (size_t i = 0; i < hlen; i++) {
      if (!host_char_ok((unsigned char)host[i])) {
        snprintf(err, errlen, "character '%c' is not allowed in a host name", host[i]);
        return WSREF_E_URL;
      }
    }
  }
  if (hlen == 0) {
    snprintf(err, errlen, "missing host");
    return WSREF_E_URL;
  }
  if (hlen >= WSREF_URL_HOST_MAX) {
    snprintf(err, errlen, "host name longer than %d characters", WSREF_URL_HOST_MAX - 1);
    return WSREF_E_URL;
  }
  unsigned long portnum = u->tls ? 443 : 80;
  if (port && plen > 0) {
    portnum = 0;
    for (size_t i = 0; i < plen; i++) {
      if (!isdigit((unsigned char)port[i]) || i >= 5) {
        snprintf(err, errlen, "invalid port '%.*s'", (int)plen, port);
        return WSREF_E_URL;
      }
      portnum = portnum * 10 + (unsigned long)(port[i] - '0');
    }
    if (portnum == 0 || portnum > 65535) {
      snprintf(err, errlen, "port %lu out of range 1-65535", portnum);
      return WSREF_E_URL;
    }
  }
  u->port = (uint16_t)portnum;
  u->default_port = portnum == (u->tls ? 443u : 80u);
  memcpy(u->host, host, hlen);
  u->host[hlen] = '\0';
  size_t rlen = strlen(rest);
  if (rlen + 2 > WSREF_URL_PATH_MAX) {
    snprintf(err, errlen, "path longer than %d characters", WSREF_URL_PATH_MAX - 2);
    return WSREF_E_URL;
  }
  snprintf(u->path, sizeof u->path, "%s%s", rest[0] == '/' ? "" : "/", rest);
  const char *lb = v6 ? "[" : "", *rb = v6 ? "]" : "";
  if (u->default_port)
    snprintf(u->host_header, sizeof u->host_header, "%s%s%s", lb, u->host, rb);
  else
    snprintf(u->host_header, sizeof u->host_header, "%s%s%s:%u", lb, u->host, rb, u->port);
  snprintf(u->http_url, sizeof u->http_url, "%s://%s%s%s:%u/", u->tls ? "https" : "http", lb,
           u->host, rb, u->port);
  return 0;
}

/* ---- client ---- */

struct wsref_client {
  CURL *curl;
  int fd; /* -1 once the transport is closed */
  bool tls;
  wsref_session *s;
  const wsref_handler *user;
  wsref_handler wrap; /* forwards to user; keeps the handshake outcome to itself */
  bool opened;
  int error;
  wsref_close_status status;
  uint8_t *rbuf;
  size_t rcap;
  char head[128]; /* first response bytes, to name a refused handshake */
  size_t headlen;
  char curl_err[CURL_ERROR_SIZE];
};

void wsref_client_options_default(wsref_client_options *o) {
  memset(o, 0, sizeof *o);
  wsref_session_options_default(&o->session);
  o->timeout_ms = 10000;
  o->read_buffer = 64 * 1024;
}

static int w_on_open(wsref_session *s, void *ud) {
  wsref_client *c = ud;
  c->opened = true;
  return c->user->on_open ? c->user->on_open(s, c->user->ud) : 0;
}

static int w_on_message(wsref_session *s, const wsref_message *m, void *ud) {
  wsref_client *c = ud;
  return c->user->on_message ? c->user->on_message(s, m, c->user->ud) : 0;
}

static void w_on_transport_error(wsref_session *s, int err, void *ud) {
  wsref_client *c = ud;
  if (!c->error) c->error = err;
  if (c->opened && c->user->on_transport_error) c->user->on_transport_error(s, err, c->user->ud);
}

static void w_on_close(wsref_session *s, const wsref_close_status *st, void *ud) {
  wsref_client *c = ud;
  c->status = *st;
  if (c->opened && c->user->on_close) c->user->on_close(s, st, c->user->ud);
}

static void transport_close(wsref_client *c, int err) {
  if (c->fd < 0) return;
  curl_easy_cleanup(c->curl);
  c->curl = NULL;
  c->fd = -1;
  if (err && !c->error) c->error = err;
  wsref_session_transport_closed(c->s, err, wsref_now_ms());
}

static int flush(wsref_client *c) {
  while (c->fd >= 0) {
    size_t len = 0, n = 0;
    const uint8_t *p = wsref_session_output(c->s, &len);
    if (!p || len == 0) return 0;
    CURLcode rc = curl_easy_send(c->curl, p, len, &n);
    if (rc == CURLE_AGAIN) return 0;
    if (rc != CURLE_OK) {
      snprintf(c->curl_err, sizeof c->curl_err, "%s", curl_easy_strerror(rc));
      transport_close(c, c->tls ? WSREF_E_TLS : WSREF_E_IO);
      return c->error;
    }
    wsref_session_output_done(c->s, n, wsref_now_ms());
  }
  return 0;
}

int wsref_client_process(wsref_client *c) {
  if (c->fd < 0) return 1;
  int r = flush(c);
  if (r < 0) return 1;
  while (c->fd >= 0) {
    size_t n = 0;
    CURLcode rc = curl_easy_recv(c->curl, c->rbuf, c->rcap, &n);
    if (rc == CURLE_AGAIN) break;
    if (rc != CURLE_OK) {
      snprintf(c->curl_err, sizeof c->curl_err, "%s", curl_easy_strerror(rc));
      transport_close(c, c->tls ? WSREF_E_TLS : WSREF_E_IO);
      return 1;
    }
    if (n == 0) {
      transport_close(c, 0);
      return 1;
    }
    if (!c->opened && c->headlen < sizeof c->head - 1) {
      size_t k = sizeof c->head - 1 - c->headlen;
      if (k > n) k = n;
      memcpy(c->head + c->headlen, c->rbuf, k);
      c->headlen += k;
      c->head[c->headlen] = '\0';
    }
    (void)wsref_session_recv(c->s, c->rbuf, n, wsref_now_ms());
    if (flush(c) < 0) return 1;
    if (wsref_session_transport_done(c->s)) break;
  }
  uint64_t deadline = wsref_session_deadline(c->s), now = wsref_now_ms();
  if (deadline && now >= deadline) {
    wsref_session_tick(c->s, now);
    if (flush(c) < 0) return 1;
  }
  /* After the closing handshake the server closes TCP first (RFC 6455 7.1.1); the session
   * says when we stop waiting for that (its close timeout). */
  if (wsref_session_transport_done(c->s)) transport_close(c, 0);
  return c->fd < 0 ? 1 : 0;
}

int wsref_client_fd(const wsref_client *c) {
  return c->fd;
}

short wsref_client_poll_events(const wsref_client *c) {
  size_t len = 0;
  const uint8_t *p = c->fd >= 0 ? wsref_session_output(c->s, &len) : NULL;
  return (short)(POLLIN | (p && len ? POLLOUT : 0));
}

int wsref_client_timeout_ms(const wsref_client *c) {
  if (c->fd < 0) return -1;
  uint64_t d = wsref_session_deadline(c->s);
  if (!d) return -1;
  uint64_t now = wsref_now_ms();
  if (d <= now) return 0;
  return d - now > 86400000u ? 86400000 : (int)(d - now);
}

int wsref_client_run(wsref_client *c, int timeout_ms) {
  uint64_t end = timeout_ms >= 0 ? wsref_now_ms() + (uint64_t)timeout_ms : 0;
  for (;;) {
    int r = wsref_client_process(c);
    if (r != 0) return r;
    int wait = wsref_client_timeout_ms(c);
    if (timeout_ms >= 0) {
      uint64_t now = wsref_now_ms();
      if (now >= end) return 0;
      if (wait < 0 || (uint64_t)wait > end - now) wait = (int)(end - now);
    }
    struct pollfd pfd = {.fd = c->fd, .events = wsref_client_poll_events(c)};
    if (poll(&pfd, 1, wait) < 0 && errno != EINTR) return WSREF_E_IO;
  }
}

bool wsref_client_closed(const wsref_client *c) {
  return c->fd < 0;
}

const wsref_close_status *wsref_client_close_status(const wsref_client *c) {
  return &c->status;
}

int wsref_client_error(const wsref_client *c) {
  return c->error;
}

wsref_session *wsref_client_session(wsref_client *c) {
  return c->s;
}

void wsref_client_free(wsref_client *c) {
  if (!c) return;
  if (c->curl) curl_easy_cleanup(c->curl);
  wsref_session_free(c->s);
  free(c->rbuf);
  free(c);
}

static int fill_random(void *p, size_t n) {
  uint8_t *b = p;
  while (n > 0) {
    ssize_t r = getrandom(b, n, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      return WSREF_E_IO;
    }
    b += r;
    n -= (size_t)r;
  }
  return 0;
}

static void handshake_failure(wsref_client *c, bool timed_out, uint32_t timeout_ms, char *err,
                              size_t errlen) {
  if (c->headlen > 0 && strncmp(c->head, "HTTP/1.1 101", 12) != 0) {
    size_t line = strcspn(c->head, "\r\n");
    snprintf(err, errlen, "handshake: server answered %.*s", (int)line, c->head);
  } else if (c->error && c->error != WSREF_E_TIMEOUT) {
    snprintf(err, errlen, "handshake: %s (%s)", wsref_strerror(c->error), wsref_err_name(c->error));
  } else if (timed_out || c->error == WSREF_E_TIMEOUT) {
    snprintf(err, errlen, "handshake: no complete response within %u ms", timeout_ms);
  } else if (c->curl_err[0]) {
    snprintf(err, errlen, "handshake: %s", c->curl_err);
  } else {
    snprintf(err, errlen, "handshake: the server closed the connection");
  }
}

wsref_client *wsref_client_connect(const char *url, const wsref_handler *h,
                                   const wsref_client_options *o, char *err, size_t errlen) {
  static const wsref_handler no_handler = {0};
  if (!h) h = &no_handler;
  wsref_client_options defaults;
  if (!o) {
    wsref_client_options_default(&defaults);
    o = &defaults;
  }
  wsref_url *u = malloc(sizeof *u); /* 4.5 KiB: keep it off small thread stacks */
  if (!u) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  char uerr[200];
  if (wsref_url_parse(url, u, uerr, sizeof uerr) != 0) {
    snprintf(err, errlen, "bad URL: %s", uerr);
    free(u);
    return NULL;
  }
  uint64_t start = wsref_now_ms();
  wsref_client *c = calloc(1, sizeof *c);
  if (!c) goto nomem;
  c->fd = -1;
  c->tls = u->tls;
  c->user = h;
  c->wrap.on_open = w_on_open;
  c->wrap.on_message = w_on_message;
  c->wrap.on_transport_error = w_on_transport_error;
  c->wrap.on_close = w_on_close;
  c->wrap.partial_messages = h->partial_messages;
  c->wrap.accept = h->accept;
  c->wrap.ud = c;
  c->rcap = o->read_buffer ? o->read_buffer : 64 * 1024;
  c->rbuf = malloc(c->rcap);
  c->curl = curl_easy_init();
  if (!c->rbuf || !c->curl) goto nomem;

  CURL *k = c->curl;
  uint32_t timeout = o->timeout_ms ? o->timeout_ms : 10000;
  curl_easy_setopt(k, CURLOPT_URL, u->http_url);
  curl_easy_setopt(k, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(k, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(k, CURLOPT_ERRORBUFFER, c->curl_err);
  curl_easy_setopt(k, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout);
  curl_easy_setopt(k, CURLOPT_TIMEOUT_MS, (long)timeout);
  curl_easy_setopt(k, CURLOPT_VERBOSE, o->verbose ? 1L : 0L);
  /* "" disables the *_proxy environment variables. */
  curl_easy_setopt(k, CURLOPT_PROXY, o->proxy ? o->proxy : "");
  /* CONNECT_ONLY through an HTTP proxy would otherwise talk plain HTTP to the proxy; a
   * WebSocket needs a tunnel (RFC 6455 section 4.1, item 2). */
  if (o->proxy) curl_easy_setopt(k, CURLOPT_HTTPPROXYTUNNEL, 1L);
  if (o->cacert) curl_easy_setopt(k, CURLOPT_CAINFO, o->cacert);
  if (o->insecure) {
    curl_easy_setopt(k, CURLOPT_SSL_VERIFYPEER, 0L);
    curl_easy_setopt(k, CURLOPT_SSL_VERIFYHOST, 0L);
  }
  CURLcode rc = curl_easy_perform(k);
  if (rc != CURLE_OK) {
    snprintf(err, errlen, "connect %s:%u: %s", u->host, u->port,
             c->curl_err[0] ? c->curl_err : curl_easy_strerror(rc));
    goto fail;
  }
  curl_socket_t sock = CURL_SOCKET_BAD;
  if (curl_easy_getinfo(k, CURLINFO_ACTIVESOCKET, &sock) != CURLE_OK || sock == CURL_SOCKET_BAD) {
    snprintf(err, errlen, "connect: libcurl gave no socket");
    goto fail;
  }
  c->fd = (int)sock;
  c->curl_err[0] = '\0';

  wsref_session_options sopt = o->session;
  wsref_handshake_client hs = {0};
  if (fill_random(hs.nonce, sizeof hs.nonce) != 0 ||
      fill_random(&sopt.seed, sizeof sopt.seed) != 0) {
    snprintf(err, errlen, "getrandom: %s", strerror(errno));
    goto fail;
  }
  uint64_t now = wsref_now_ms();
  uint64_t left = start + timeout > now ? start + timeout - now : 1;
  if (!sopt.handshake_timeout_ms || sopt.handshake_timeout_ms > left)
    sopt.handshake_timeout_ms = (uint32_t)left;
  hs.host = u->host_header;
  hs.path = u->path;
  hs.origin = o->origin;
  hs.subprotocols = o->subprotocols;
  hs.nsubprotocols = o->nsubprotocols;
  hs.extensions = o->extensions;
  hs.headers = o->headers;
  hs.nheaders = o->nheaders;
  c->s = wsref_session_new_client(&hs, &c->wrap, &sopt, NULL, now);
  if (!c->s) goto nomem;

  bool timed_out = false;
  while (!c->opened && c->fd >= 0) {
    if (wsref_client_process(c) != 0 || c->opened) break;
    now = wsref_now_ms();
    if (now >= start + timeout) {
      timed_out = true;
      break;
    }
    int wait = wsref_client_timeout_ms(c);
    int rem = (int)(start + timeout - now);
    if (wait < 0 || wait > rem) wait = rem;
    struct pollfd pfd = {.fd = c->fd, .events = wsref_client_poll_events(c)};
    if (poll(&pfd, 1, wait) < 0 && errno != EINTR) break;
  }
  if (!c->opened) {
    handshake_failure(c, timed_out, timeout, err, errlen);
    goto fail;
  }
  free(u);
  return c;
nomem:
  snprintf(err, errlen, "out of memory");
fail:
  wsref_client_free(c);
  free(u);
  return NULL;
}
