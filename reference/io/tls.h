/* Server-side TLS (OpenSSL) for non-blocking sockets on the epoll loop.
 *
 * One wsref_tls_server (an SSL_CTX with the certificate chain and key) is shared by all
 * connections; each accepted socket gets a wsref_tls_conn. The handshake runs implicitly
 * inside the first reads and writes. Socket I/O goes through a private BIO that writes
 * with send(MSG_NOSIGNAL), so a peer that resets the connection never raises SIGPIPE and
 * the library never has to change the process's signal dispositions.
 *
 * Memory per idle connection is kept small with SSL_MODE_RELEASE_BUFFERS.
 * OpenSSL's error queue is per thread; these calls clear it before each operation.
 */
#ifndef WSREF_IO_TLS_H
#define WSREF_IO_TLS_H

#include <stddef.h>

typedef struct wsref_tls_server wsref_tls_server;
typedef struct wsref_tls_conn wsref_tls_conn;

/* Results of wsref_tls_read/_write besides 0 (progress or EOF) and negative errors. */
#define WSREF_TLS_WANT_READ 1  /* retry when the socket is readable */
#define WSREF_TLS_WANT_WRITE 2 /* retry when the socket is writable (arm EPOLLOUT) */

/* cert_file: PEM certificate chain (leaf first); key_file: PEM private key. On failure
 * returns NULL and writes a one-line reason (with OpenSSL's message) to err. */
wsref_tls_server *wsref_tls_server_new(const char *cert_file, const char *key_file, char *err,
                                       size_t errlen);
void wsref_tls_server_free(wsref_tls_server *ts);

/* The fd stays owned by the caller. Returns NULL on allocation failure. */
wsref_tls_conn *wsref_tls_conn_new(wsref_tls_server *ts, int fd);
void wsref_tls_conn_free(wsref_tls_conn *c);

/* Read decrypted bytes. Returns 0 with *got > 0 (data) or *got == 0 (peer closed: TCP EOF
 * or close_notify), WSREF_TLS_WANT_READ / WSREF_TLS_WANT_WRITE, or WSREF_E_TLS (protocol
 * failure; see wsref_tls_conn_error) / WSREF_E_IO (socket error). Data may remain buffered
 * inside OpenSSL after a successful read, invisible to epoll: read until WANT_*. */
int wsref_tls_read(wsref_tls_conn *c, void *buf, size_t len, size_t *got);

/* Write plaintext. Returns 0 with *written > 0 (a prefix may have been taken: partial
 * writes are enabled), WSREF_TLS_WANT_*, or a negative error. After WANT_*, retry with at
 * least the same bytes (the buffer may have moved). */
int wsref_tls_write(wsref_tls_conn *c, const void *buf, size_t len, size_t *written);

/* Send close_notify once, without waiting for the peer's. */
void wsref_tls_shutdown(wsref_tls_conn *c);

/* True once the TLS handshake has completed. */
int wsref_tls_handshake_done(const wsref_tls_conn *c);

/* The reason of the last failure on this connection ("" if none). */
const char *wsref_tls_conn_error(const wsref_tls_conn *c);

#endif
