#include "io/tls.h"

#include "base/error.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

struct wsref_tls_server {
  SSL_CTX *ctx;
  BIO_METHOD *bio_method; /* per server, not global: no library-wide mutable state */
};

struct wsref_tls_conn {
  SSL *ssl;
  int fd;
  bool eof; /* the socket read returned 0 */
  bool shut;
  char err[120];
};

static void last_ssl_error(char *out, size_t n, const char *what) {
  unsigned long e = ERR_peek_last_error();
  char buf[200] = "";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  snprintf(out, n, "%s%s%s", what, *buf ? ": " : "", buf);
}

static int bio_write(BIO *b, const char *buf, int len) {
  wsref_tls_conn *c = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  ssize_t n;
  do {
    n = send(c->fd, buf, (size_t)len, MSG_NOSIGNAL);
  } while (n < 0 && errno == EINTR);
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_write(b);
    return -1;
  }
  return (int)n;
}

static int bio_read(BIO *b, char *buf, int len) {
  wsref_tls_conn *c = BIO_get_data(b);
  BIO_clear_retry_flags(b);
  ssize_t n;
  do {
    n = recv(c->fd, buf, (size_t)len, 0);
  } while (n < 0 && errno == EINTR);
  if (n == 0) c->eof = true;
  if (n < 0) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) BIO_set_retry_read(b);
    return -1;
  }
  return (int)n;
}

static long bio_ctrl(BIO *b, int cmd, long num, void *ptr) {
  (void)num;
  (void)ptr;
  wsref_tls_conn *c = BIO_get_data(b);
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_EOF:
      return c && c->eof;
    default:
      return 0;
  }
}

static int bio_create(BIO *b) {
  BIO_set_init(b, 1);
  return 1;
}

static int bio_destroy(BIO *b) {
  (void)b;
  return 1;
}

wsref_tls_server *wsref_tls_server_new(const char *cert_file, const char *key_file, char *err,
                                       size_t errlen) {
  ERR_clear_error();
  wsref_tls_server *ts = calloc(1, sizeof *ts);
  if (!ts) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  ts->ctx = SSL_CTX_new(TLS_server_method());
  if (!ts->ctx) {
    last_ssl_error(err, errlen, "SSL_CTX_new");
    goto fail;
  }
  SSL_CTX_set_min_proto_version(ts->ctx, TLS1_2_VERSION);
  /* A peer that drops TCP without close_notify after the WebSocket closing handshake is
   * normal; report it as EOF. */
  SSL_CTX_set_options(ts->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_RENEGOTIATION);
  /* Partial writes + moving buffer: the session's output buffer may be compacted or grown
   * between a WANT_WRITE and the retry. */
  SSL_CTX_set_mode(ts->ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                                SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  if (SSL_CTX_use_certificate_chain_file(ts->ctx, cert_file) != 1) {
    char what[300];
    snprintf(what, sizeof what, "cannot load certificate %s", cert_file);
    last_ssl_error(err, errlen, what);
    goto fail;
  }
  if (SSL_CTX_use_PrivateKey_file(ts->ctx, key_file, SSL_FILETYPE_PEM) != 1) {
    char what[300];
    snprintf(what, sizeof what, "cannot load private key %s", key_file);
    last_ssl_error(err, errlen, what);
    goto fail;
  }
  if (SSL_CTX_check_private_key(ts->ctx) != 1) {
    last_ssl_error(err, errlen, "private key does not match the certificate");
    goto fail;
  }
  ts->bio_method = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "wsref_socket");
  if (!ts->bio_method || !BIO_meth_set_write(ts->bio_method, bio_write) ||
      !BIO_meth_set_read(ts->bio_method, bio_read) ||
      !BIO_meth_set_ctrl(ts->bio_method, bio_ctrl) ||
      !BIO_meth_set_create(ts->bio_method, bio_create) ||
      !BIO_meth_set_destroy(ts->bio_method, bio_destroy)) {
    snprintf(err, errlen, "cannot create the socket BIO method");
    goto fail;
  }
  return ts;
fail:
  wsref_tls_server_free(ts);
  ERR_clear_error();
  return NULL;
}

void wsref_tls_server_free(wsref_tls_server *ts) {
  if (!ts) return;
  SSL_CTX_free(ts->ctx);
  if (ts->bio_method) BIO_meth_free(ts->bio_method);
  free(ts);
}

wsref_tls_conn *wsref_tls_conn_new(wsref_tls_server *ts, int fd) {
  wsref_tls_conn *c = calloc(1, sizeof *c);
  if (!c) return NULL;
  c->fd = fd;
  c->ssl = SSL_new(ts->ctx);
  BIO *bio = c->ssl ? BIO_new(ts->bio_method) : NULL;
  if (!bio) {
    SSL_free(c->ssl);
    free(c);
    ERR_clear_error();
    return NULL;
  }
  BIO_set_data(bio, c);
  SSL_set_bio(c->ssl, bio, bio); /* one reference, owned by the SSL */
  SSL_set_accept_state(c->ssl);
  return c;
}

void wsref_tls_conn_free(wsref_tls_conn *c) {
  if (!c) return;
  SSL_free(c->ssl);
  free(c);
}

static int map_error(wsref_tls_conn *c, int ret, const char *op) {
  int e = SSL_get_error(c->ssl, ret);
  switch (e) {
    case SSL_ERROR_WANT_READ:
      return WSREF_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
      return WSREF_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
      return 0;
    case SSL_ERROR_SYSCALL:
      if (c->eof && ERR_peek_error() == 0) return 0;
      snprintf(c->err, sizeof c->err, "%s: %s", op, errno ? strerror(errno) : "unexpected EOF");
      return WSREF_E_IO;
    default:
      last_ssl_error(c->err, sizeof c->err, op);
      ERR_clear_error();
      return WSREF_E_TLS;
  }
}

int wsref_tls_read(wsref_tls_conn *c, void *buf, size_t len, size_t *got) {
  *got = 0;
  ERR_clear_error();
  errno = 0;
  int n = SSL_read(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
  if (n > 0) {
    *got = (size_t)n;
    return 0;
  }
  return map_error(c, n, SSL_is_init_finished(c->ssl) ? "TLS read" : "TLS handshake");
}

int wsref_tls_write(wsref_tls_conn *c, const void *buf, size_t len, size_t *written) {
  *written = 0;
  if (len == 0) return 0;
  ERR_clear_error();
  errno = 0;
  int n = SSL_write(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
  if (n > 0) {
    *written = (size_t)n;
    return 0;
  }
  int r = map_error(c, n, SSL_is_init_finished(c->ssl) ? "TLS write" : "TLS handshake");
  /* A write cannot meet a clean EOF: the peer is gone. */
  return r == 0 ? WSREF_E_IO : r;
}

void wsref_tls_shutdown(wsref_tls_conn *c) {
  if (c->shut) return;
  c->shut = true;
  if (!SSL_is_init_finished(c->ssl)) return;
  ERR_clear_error();
  SSL_shutdown(c->ssl);
  ERR_clear_error();
}

int wsref_tls_handshake_done(const wsref_tls_conn *c) {
  return SSL_is_init_finished(c->ssl);
}

const char *wsref_tls_conn_error(const wsref_tls_conn *c) {
  return c->err;
}
