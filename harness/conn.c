#include "conn.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "base/error.h"

#define READ_CHUNK_DEFAULT 65536

uint64_t wsc_now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- URLs ---- */

int wsc_url_parse(const char *s, wsc_url *u, char *err, size_t err_len) {
  memset(u, 0, sizeof *u);
  const char *p;
  if (strncasecmp(s, "ws://", 5) == 0) {
    p = s + 5;
  } else if (strncasecmp(s, "wss://", 6) == 0) {
    p = s + 6;
    u->tls = true;
  } else {
    snprintf(err, err_len, "%s: the URL must start with ws:// or wss://", s);
    return WSREF_E_URL;
  }
  if (strchr(s, '#')) {
    snprintf(err, err_len, "%s: a WebSocket URL cannot have a fragment (RFC 6455 3)", s);
    return WSREF_E_URL;
  }
  for (const char *q = s; *q; q++) {
    if ((unsigned char)*q <= 0x20 || (unsigned char)*q >= 0x7F) {
      snprintf(err, err_len, "%s: the URL contains a space or a non-ASCII character", s);
      return WSREF_E_URL;
    }
  }
  size_t alen = strcspn(p, "/?");
  const char *auth_end = p + alen;
  if (memchr(p, '@', alen)) {
    snprintf(err, err_len, "%s: user information in the URL is not supported", s);
    return WSREF_E_URL;
  }
  const char *h = p, *he, *port_s = NULL;
  bool v6 = false;
  if (*h == '[') {
    he = memchr(h, ']', alen);
    if (!he) {
      snprintf(err, err_len, "%s: unterminated IPv6 address", s);
      return WSREF_E_URL;
    }
    h++;
    v6 = true;
    if (he + 1 < auth_end) {
      if (he[1] != ':') {
        snprintf(err, err_len, "%s: unexpected text after the IPv6 address", s);
        return WSREF_E_URL;
      }
      port_s = he + 2;
    }
  } else {
    const char *colon = memchr(h, ':', alen);
    he = colon ? colon : auth_end;
    if (colon) port_s = colon + 1;
  }
  if (he == h) {
    snprintf(err, err_len, "%s: the URL has no host", s);
    return WSREF_E_URL;
  }
  unsigned long port = u->tls ? 443 : 80;
  bool explicit_port = false;
  if (port_s) {
    if (port_s == auth_end) {
      snprintf(err, err_len, "%s: empty port", s);
      return WSREF_E_URL;
    }
    port = 0;
    for (const char *q = port_s; q < auth_end; q++) {
      if (!isdigit((unsigned char)*q) || port > 65535) {
        snprintf(err, err_len, "%s: bad port", s);
        return WSREF_E_URL;
      }
      port = port * 10 + (unsigned long)(*q - '0');
    }
    if (port == 0 || port > 65535) {
      snprintf(err, err_len, "%s: port out of range (1-65535)", s);
      return WSREF_E_URL;
    }
    explicit_port = true;
  }
  u->port = (uint16_t)port;
  u->host = wsc_strndup(h, (size_t)(he - h));
  const char *t = auth_end;
  if (*t == '?') {
    if (asprintf(&u->target, "/%s", t) < 0) u->target = NULL;
  } else {
    u->target = strdup(*t ? t : "/");
  }
  bool dflt = port == (u->tls ? 443u : 80u);
  int rc;
  if (explicit_port && !dflt)
    rc = asprintf(&u->host_header, v6 ? "[%s]:%lu" : "%s:%lu", u->host, port);
  else
    rc = asprintf(&u->host_header, v6 ? "[%s]" : "%s", u->host);
  if (rc < 0) u->host_header = NULL;
  u->text = strdup(s);
  if (!u->host || !u->target || !u->host_header || !u->text) {
    wsc_url_free(u);
    snprintf(err, err_len, "out of memory");
    return WSREF_E_NOMEM;
  }
  return 0;
}

void wsc_url_free(wsc_url *u) {
  free(u->host);
  free(u->target);
  free(u->host_header);
  free(u->text);
  memset(u, 0, sizeof *u);
}

/* ---- TLS context ---- */

void *wsc_tls_ctx_new(const wsc_conn_options *o, char *err, size_t err_len) {
  SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
  if (!ctx) {
    snprintf(err, err_len, "TLS: cannot create a context");
    return NULL;
  }
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  /* a TCP FIN without close_notify is an end of input we judge, not a TLS error */
  SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (o->insecure) {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    int ok = o->cacert ? SSL_CTX_load_verify_locations(ctx, o->cacert, NULL)
                       : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
      snprintf(err, err_len, "TLS: cannot load CA certificates%s%s", o->cacert ? " from " : "",
               o->cacert ? o->cacert : "");
      SSL_CTX_free(ctx);
      return NULL;
    }
  }
  return ctx;
}

void wsc_tls_ctx_free(void *ctx) {
  SSL_CTX_free(ctx);
}

/* ---- low-level I/O ---- */

enum { IO_AGAIN_R = -1, IO_AGAIN_W = -2, IO_EOF = -3, IO_RESET = -4, IO_ERR = -5 };

static uint64_t rel(const wsc_conn *c) {
  return wsc_now_us() - c->t0;
}

static int wait_fd(int fd, short events, uint64_t deadline) {
  uint64_t now = wsc_now_us();
  if (now >= deadline) return 0;
  uint64_t left = deadline - now;
  int ms = (int)((left + 999) / 1000);
  if (left > 3600ull * 1000000) ms = 3600 * 1000;
  struct pollfd pfd = {fd, events, 0};
  int rc;
  do {
    rc = poll(&pfd, 1, ms);
  } while (rc < 0 && errno == EINTR);
  if (rc <= 0) return rc;
  return pfd.revents ? pfd.revents : 0;
}

static long io_recv(wsc_conn *c, uint8_t *p, size_t n) {
  if (c->curl) {
    size_t got = 0;
    CURLcode rc = curl_easy_recv(c->curl, p, n, &got);
    if (rc == CURLE_AGAIN) return IO_AGAIN_R;
    if (rc != CURLE_OK) return IO_RESET;
    return got ? (long)got : IO_EOF;
  }
  if (c->ssl) {
    ERR_clear_error();
    int k = SSL_read(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
    if (k > 0) return k;
    int e = SSL_get_error(c->ssl, k);
    if (e == SSL_ERROR_WANT_READ) return IO_AGAIN_R;
    if (e == SSL_ERROR_WANT_WRITE) return IO_AGAIN_W;
    if (e == SSL_ERROR_ZERO_RETURN) return IO_EOF;
    if (e == SSL_ERROR_SYSCALL && (errno == ECONNRESET || errno == EPIPE)) return IO_RESET;
    if (e == SSL_ERROR_SYSCALL && k == 0) return IO_EOF;
    return IO_ERR;
  }
  ssize_t k = recv(c->fd, p, n, 0);
  if (k > 0) return (long)k;
  if (k == 0) return IO_EOF;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return IO_AGAIN_R;
  if (errno == ECONNRESET || errno == EPIPE || errno == ETIMEDOUT) return IO_RESET;
  return IO_ERR;
}

static long io_send(wsc_conn *c, const uint8_t *p, size_t n) {
  if (c->curl) {
    size_t sent = 0;
    CURLcode rc = curl_easy_send(c->curl, p, n, &sent);
    if (rc == CURLE_AGAIN) return IO_AGAIN_W;
    if (rc != CURLE_OK) return IO_RESET;
    return (long)sent;
  }
  if (c->ssl) {
    ERR_clear_error();
    int k = SSL_write(c->ssl, p, n > INT32_MAX ? INT32_MAX : (int)n);
    if (k > 0) return k;
    int e = SSL_get_error(c->ssl, k);
    if (e == SSL_ERROR_WANT_WRITE) return IO_AGAIN_W;
    if (e == SSL_ERROR_WANT_READ) return IO_AGAIN_R;
    if (e == SSL_ERROR_SYSCALL && (errno == ECONNRESET || errno == EPIPE)) return IO_RESET;
    return IO_ERR;
  }
  ssize_t k = send(c->fd, p, n, MSG_NOSIGNAL);
  if (k >= 0) return (long)k;
  if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) return IO_AGAIN_W;
  if (errno == ECONNRESET || errno == EPIPE) return IO_RESET;
  return IO_ERR;
}

/* One read attempt into c->rx. Returns > 0 octets, 0 when the input ended, or IO_AGAIN_*. */
static long read_once(wsc_conn *c) {
  if (c->eof || c->reset) return 0;
  size_t chunk = c->read_chunk ? c->read_chunk : READ_CHUNK_DEFAULT;
  uint8_t *dst = wsref_buf_reserve(&c->rx, chunk);
  if (!dst) return IO_ERR;
  long k = io_recv(c, dst, chunk);
  if (k > 0) {
    wsref_buf_commit(&c->rx, (size_t)k);
    if (c->log) wsc_wirelog_add(c->log, WSC_WIRE_RX, rel(c), dst, (size_t)k);
    return k;
  }
  if (k == IO_EOF || k == IO_RESET || k == IO_ERR) {
    if (k == IO_EOF)
      c->eof = true;
    else
      c->reset = true;
    c->t_end = rel(c);
    if (c->log)
      wsc_wirelog_note(
          c->log, c->t_end, "%s",
          k == IO_EOF ? "the target closed the connection" : "the connection was reset");
    return 0;
  }
  return k;
}

int wsc_conn_read(wsc_conn *c, uint64_t deadline) {
  for (;;) {
    if (c->eof || c->reset) return 0;
    long k = read_once(c);
    if (k >= 0) return (int)(k > INT32_MAX ? INT32_MAX : k);
    if (k == IO_ERR) return WSREF_E_IO;
    int ev = wait_fd(c->fd, k == IO_AGAIN_W ? POLLOUT : POLLIN, deadline);
    if (ev < 0) return WSREF_E_IO;
    if (ev == 0) return WSREF_E_TIMEOUT;
  }
}

int wsc_conn_wait_any(wsc_conn *const *cs, size_t n, uint64_t deadline, bool *ready) {
  struct pollfd pf[64];
  size_t map[64], k = 0, nready = 0;
  for (size_t i = 0; i < n; i++) {
    ready[i] = false;
    wsc_conn *c = cs[i];
    if (c->fd < 0 || c->eof || c->reset) continue;
    /* TLS may hold decrypted bytes the socket no longer shows */
    if (c->ssl && SSL_pending(c->ssl) > 0) {
      ready[i] = true;
      nready++;
      continue;
    }
    if (k < sizeof pf / sizeof pf[0]) {
      pf[k].fd = c->fd;
      pf[k].events = POLLIN;
      pf[k].revents = 0;
      map[k++] = i;
    }
  }
  if (nready) return (int)nready;
  if (!k) return WSREF_E_TIMEOUT;
  uint64_t now = wsc_now_us();
  if (now >= deadline) return WSREF_E_TIMEOUT;
  uint64_t left = deadline - now;
  int ms = left > 3600ull * 1000000 ? 3600 * 1000 : (int)((left + 999) / 1000);
  int rc;
  do {
    rc = poll(pf, (nfds_t)k, ms);
  } while (rc < 0 && errno == EINTR);
  if (rc < 0) return WSREF_E_IO;
  if (rc == 0) return WSREF_E_TIMEOUT;
  for (size_t j = 0; j < k; j++)
    if (pf[j].revents) {
      ready[map[j]] = true;
      nready++;
    }
  return nready ? (int)nready : WSREF_E_TIMEOUT;
}

int wsc_conn_write(wsc_conn *c, const void *p, size_t n, uint64_t deadline) {
  const uint8_t *b = p;
  size_t off = 0;
  while (off < n) {
    if (c->reset) return WSREF_E_CLOSED;
    if (c->wr_shut) return WSREF_E_STATE;
    long k = io_send(c, b + off, n - off);
    if (k > 0) {
      if (c->log) wsc_wirelog_add(c->log, WSC_WIRE_TX, rel(c), b + off, (size_t)k);
      off += (size_t)k;
      continue;
    }
    if (k == IO_RESET) {
      c->reset = true;
      if (!c->t_end) c->t_end = rel(c);
      if (c->log)
        wsc_wirelog_note(c->log, rel(c), "write failed: the target closed the connection");
      return WSREF_E_CLOSED;
    }
    if (k == IO_ERR || k == 0) return WSREF_E_IO;
    /* blocked: drain input meanwhile so that a target busy writing to us can progress */
    short want = k == IO_AGAIN_R ? POLLIN : POLLOUT;
    if (!c->eof) want |= POLLIN;
    int ev = wait_fd(c->fd, want, deadline);
    if (ev < 0) return WSREF_E_IO;
    if (ev == 0) return WSREF_E_TIMEOUT;
    if ((ev & (POLLIN | POLLHUP | POLLERR)) && !c->eof) {
      long r = read_once(c);
      if (r == IO_ERR) return WSREF_E_IO;
    }
  }
  return 0;
}

int wsc_conn_shutdown_write(wsc_conn *c) {
  if (c->wr_shut) return 0;
  c->wr_shut = true;
  if (c->ssl) SSL_shutdown(c->ssl);
  if (c->log) wsc_wirelog_note(c->log, rel(c), "the harness shut down its sending side");
  return shutdown(c->fd, SHUT_WR) == 0 ? 0 : WSREF_E_IO;
}

void wsc_conn_init(wsc_conn *c) {
  memset(c, 0, sizeof *c);
  c->fd = -1;
}

void wsc_conn_close(wsc_conn *c) {
  if (c->fd >= 0 && c->log && !c->eof && !c->reset)
    wsc_wirelog_note(c->log, rel(c), "the harness closed the connection");
  if (c->ssl) SSL_free(c->ssl);
  if (c->curl) {
    curl_easy_cleanup(c->curl); /* closes the socket */
  } else if (c->fd >= 0) {
    close(c->fd);
  }
  wsref_buf_free(&c->rx);
  memset(c, 0, sizeof *c);
  c->fd = -1;
}

/* ---- connecting ---- */

static int tcp_connect(wsc_conn *c, const wsc_url *u, uint64_t deadline, char *err,
                       size_t err_len) {
  char port[8];
  snprintf(port, sizeof port, "%u", u->port);
  struct addrinfo hints, *res = NULL;
  memset(&hints, 0, sizeof hints);
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  int g = getaddrinfo(u->host, port, &hints, &res);
  if (g != 0) {
    snprintf(err, err_len, "cannot resolve %s: %s", u->host, gai_strerror(g));
    return WSREF_E_RESOLVE;
  }
  int rc = WSREF_E_CONNECT;
  int last = 0;
  for (struct addrinfo *a = res; a; a = a->ai_next) {
    int fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, a->ai_protocol);
    if (fd < 0) {
      last = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (connect(fd, a->ai_addr, a->ai_addrlen) != 0 && errno != EINPROGRESS) {
      last = errno;
      close(fd);
      continue;
    }
    int ev = wait_fd(fd, POLLOUT, deadline);
    if (ev == 0) {
      close(fd);
      rc = WSREF_E_TIMEOUT;
      last = ETIMEDOUT;
      continue;
    }
    int soerr = 0;
    socklen_t sl = sizeof soerr;
    if (ev < 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
      last = soerr ? soerr : errno;
      close(fd);
      continue;
    }
    c->fd = fd;
    rc = 0;
    break;
  }
  freeaddrinfo(res);
  if (rc)
    snprintf(err, err_len, "cannot connect to %s port %u: %s", u->host, u->port,
             strerror(last ? last : ECONNREFUSED));
  return rc;
}

static int proxy_connect(wsc_conn *c, const wsc_url *u, const wsc_conn_options *o,
                         uint64_t deadline, char *err, size_t err_len) {
  CURL *h = curl_easy_init();
  if (!h) {
    snprintf(err, err_len, "cannot initialise libcurl");
    return WSREF_E_NOMEM;
  }
  /* curl sees an http(s) URL so that it tunnels (and, for wss, does TLS) and then stops */
  const char *name = o->sni ? o->sni : u->host;
  bool v6 = strchr(name, ':') != NULL;
  char *url = NULL, *cto = NULL;
  int a = asprintf(&url, "%s://%s%s%s:%u/", u->tls ? "https" : "http", v6 ? "[" : "", name,
                   v6 ? "]" : "", u->port);
  struct curl_slist *connect_to = NULL;
  if (a >= 0 && o->sni) {
    bool hv6 = strchr(u->host, ':') != NULL;
    if (asprintf(&cto, "%s%s%s:%u:%s%s%s:%u", v6 ? "[" : "", name, v6 ? "]" : "", u->port,
                 hv6 ? "[" : "", u->host, hv6 ? "]" : "", u->port) >= 0)
      connect_to = curl_slist_append(NULL, cto);
  }
  if (a < 0) {
    curl_easy_cleanup(h);
    return WSREF_E_NOMEM;
  }
  uint64_t now = wsc_now_us();
  long ms = deadline > now ? (long)((deadline - now) / 1000) + 1 : 1;
  curl_easy_setopt(h, CURLOPT_URL, url);
  curl_easy_setopt(h, CURLOPT_PROXY, o->proxy);
  curl_easy_setopt(h, CURLOPT_HTTPPROXYTUNNEL, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, ms);
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
  if (connect_to) curl_easy_setopt(h, CURLOPT_CONNECT_TO, connect_to);
  if (u->tls) {
    if (o->cacert) curl_easy_setopt(h, CURLOPT_CAINFO, o->cacert);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, o->insecure ? 0L : 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, o->insecure ? 0L : 2L);
  }
  char ebuf[CURL_ERROR_SIZE] = "";
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
  CURLcode rc = curl_easy_perform(h);
  free(url);
  free(cto);
  curl_slist_free_all(connect_to);
  if (rc != CURLE_OK) {
    snprintf(err, err_len, "cannot connect through proxy %s: %s", o->proxy,
             ebuf[0] ? ebuf : curl_easy_strerror(rc));
    curl_easy_cleanup(h);
    return rc == CURLE_OPERATION_TIMEDOUT                                          ? WSREF_E_TIMEOUT
           : rc == CURLE_SSL_CONNECT_ERROR || rc == CURLE_PEER_FAILED_VERIFICATION ? WSREF_E_TLS
           : rc == CURLE_COULDNT_RESOLVE_HOST || rc == CURLE_COULDNT_RESOLVE_PROXY
               ? WSREF_E_RESOLVE
               : WSREF_E_CONNECT;
  }
  curl_socket_t fd = CURL_SOCKET_BAD;
  curl_easy_getinfo(h, CURLINFO_ACTIVESOCKET, &fd);
  if (fd == CURL_SOCKET_BAD) {
    snprintf(err, err_len, "proxy %s: no socket after CONNECT", o->proxy);
    curl_easy_cleanup(h);
    return WSREF_E_CONNECT;
  }
  c->curl = h;
  c->fd = fd;
  return 0;
}

static bool is_ip_literal(const char *s) {
  unsigned char b[16];
  return inet_pton(AF_INET, s, b) == 1 || inet_pton(AF_INET6, s, b) == 1;
}

static int tls_connect(wsc_conn *c, const wsc_url *u, const wsc_conn_options *o, SSL_CTX *ctx,
                       uint64_t deadline, char *err, size_t err_len) {
  SSL *ssl = SSL_new(ctx);
  if (!ssl) {
    snprintf(err, err_len, "TLS: cannot create a session");
    return WSREF_E_TLS;
  }
  c->ssl = ssl;
  SSL_set_fd(ssl, c->fd);
  const char *name = o->sni ? o->sni : u->host;
  if (!is_ip_literal(name)) SSL_set_tlsext_host_name(ssl, name);
  if (!o->insecure) {
    if (is_ip_literal(name))
      X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name);
    else
      SSL_set1_host(ssl, name);
  }
  for (;;) {
    ERR_clear_error();
    int k = SSL_connect(ssl);
    if (k == 1) return 0;
    int e = SSL_get_error(ssl, k);
    short want = e == SSL_ERROR_WANT_READ ? POLLIN : e == SSL_ERROR_WANT_WRITE ? POLLOUT : 0;
    if (!want) {
      long vr = SSL_get_verify_result(ssl);
      if (vr != X509_V_OK) {
        snprintf(err, err_len, "TLS handshake with %s failed: certificate: %s", name,
                 X509_verify_cert_error_string(vr));
      } else {
        unsigned long le = ERR_peek_last_error();
        char eb[160] = "connection closed";
        if (le) ERR_error_string_n(le, eb, sizeof eb);
        snprintf(err, err_len, "TLS handshake with %s failed: %s", name, eb);
      }
      return WSREF_E_TLS;
    }
    int ev = wait_fd(c->fd, want, deadline);
    if (ev <= 0) {
      snprintf(err, err_len, "TLS handshake with %s timed out", name);
      return WSREF_E_TIMEOUT;
    }
  }
}

int wsc_conn_open(wsc_conn *c, const wsc_url *u, const wsc_conn_options *o, void *tls_ctx,
                  uint64_t deadline, wsc_wirelog *log, uint64_t t0, char *err, size_t err_len) {
  memset(c, 0, sizeof *c);
  c->fd = -1;
  c->log = log;
  c->t0 = t0;
  int rc;
  if (o->proxy && o->proxy[0]) {
    rc = proxy_connect(c, u, o, deadline, err, err_len);
  } else {
    rc = tcp_connect(c, u, deadline, err, err_len);
    if (!rc && u->tls) {
      if (!tls_ctx) {
        snprintf(err, err_len, "TLS: no context");
        rc = WSREF_E_TLS;
      } else {
        rc = tls_connect(c, u, o, tls_ctx, deadline, err, err_len);
      }
    }
  }
  if (rc) {
    wsc_wirelog *keep = c->log;
    c->log = NULL;
    wsc_conn_close(c);
    c->log = keep;
    return rc;
  }
  if (log)
    wsc_wirelog_note(log, rel(c), "connected to %s port %u%s%s", u->host, u->port,
                     u->tls ? " (TLS)" : "", c->curl ? " through the proxy" : "");
  return 0;
}
