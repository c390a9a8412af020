/* The harness's connection to a target: TCP with plain sockets, TLS with OpenSSL, or (with a
 * proxy) a tunnel set up by libcurl CONNECT_ONLY. Blocking semantics with deadlines on top of
 * non-blocking sockets, raw writes (the caller decides the cuts), and a byte-exact wire log.
 *
 * Every write waits for writability while draining input into c->rx, so a target that stops
 * reading while it sends (a close frame, say) never deadlocks the harness. Reads append to
 * c->rx; the caller consumes from it. Every octet written or read is logged with its time.
 *
 * SIGPIPE: plain TCP writes use MSG_NOSIGNAL; OpenSSL and libcurl write with write(2), so a
 * program using TLS or a proxy must ignore SIGPIPE (wsconform's main does).
 * Times are CLOCK_MONOTONIC microseconds (wsc_now_us); deadlines are absolute.
 */
#ifndef WSC_CONN_H
#define WSC_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/buf.h"
#include "result.h"

uint64_t wsc_now_us(void);

typedef struct wsc_url {
  bool tls;   /* wss */
  char *host; /* without brackets */
  uint16_t port;
  char *target;      /* path and query, "/" when empty */
  char *host_header; /* "host", "host:port", "[::1]:port" (port only when not the default) */
  char *text;        /* the URL as given */
} wsc_url;

/* ws://host[:port][/path][?query] or wss://...; a fragment is an error (RFC 6455 3).
 * Returns 0 or WSREF_E_URL with a one-line reason. */
int wsc_url_parse(const char *s, wsc_url *u, char *err, size_t err_len);
void wsc_url_free(wsc_url *u);

typedef struct wsc_conn_options {
  const char *cacert; /* PEM CA file for wss; NULL = system store */
  bool insecure;      /* do not verify the certificate or host name */
  const char *sni;    /* TLS server name (and verified name); NULL = the URL host */
  const char *proxy;  /* http://, https://, socks4://, socks5://, socks5h:// proxy URL */
} wsc_conn_options;

/* A TLS client context shared by every connection of a run (thread-safe once built).
 * Returns NULL with a reason in err (bad CA file). */
void *wsc_tls_ctx_new(const wsc_conn_options *o, char *err, size_t err_len);
void wsc_tls_ctx_free(void *ctx);

typedef struct wsc_conn {
  int fd;
  void *ssl;         /* SSL * */
  void *curl;        /* CURL *, proxy tunnels: I/O goes through curl_easy_send/recv */
  wsc_wirelog *log;  /* may be NULL */
  uint64_t t0;       /* wire log times are relative to this */
  wsref_buf rx;      /* received, not yet consumed */
  bool eof;          /* the target closed its sending side (FIN or TLS close) */
  bool reset;        /* the connection was reset */
  bool wr_shut;      /* we shut down our sending side */
  uint64_t t_end;    /* when eof/reset was seen (relative to t0) */
  size_t read_chunk; /* octets per read call; default 64 KiB */
} wsc_conn;

/* A closed conn (fd -1): wsc_conn_close() on it does nothing. */
void wsc_conn_init(wsc_conn *c);

/* Connect (TCP, proxy tunnel, TLS handshake) by deadline. tls_ctx is required for wss URLs.
 * Returns 0, or WSREF_E_RESOLVE, WSREF_E_CONNECT, WSREF_E_TLS, WSREF_E_TIMEOUT with a
 * one-line reason; on failure c is left closed. */
int wsc_conn_open(wsc_conn *c, const wsc_url *u, const wsc_conn_options *o, void *tls_ctx,
                  uint64_t deadline, wsc_wirelog *log, uint64_t t0, char *err, size_t err_len);

/* Write all n octets in as few calls as the socket allows (one call when it has room).
 * Returns 0, WSREF_E_TIMEOUT, WSREF_E_CLOSED (the target closed or reset the connection:
 * nothing more can be written), or WSREF_E_IO. */
int wsc_conn_write(wsc_conn *c, const void *p, size_t n, uint64_t deadline);

/* Wait for input until deadline; appends what arrived to c->rx.
 * Returns the number of octets read (> 0), 0 at the end of input (c->eof or c->reset is
 * set), WSREF_E_TIMEOUT, or WSREF_E_IO. */
int wsc_conn_read(wsc_conn *c, uint64_t deadline);

/* Wait until one of cs[0..n) has input (or its end) to read, or deadline passes. Connections
 * that are closed or whose input already ended are skipped. Sets ready[i]. Returns the number
 * ready (> 0), WSREF_E_TIMEOUT, or WSREF_E_IO. A ready connection's wsc_conn_read() with an
 * expired deadline then reads without waiting. */
int wsc_conn_wait_any(wsc_conn *const *cs, size_t n, uint64_t deadline, bool *ready);

/* Half-close: FIN (TLS: close_notify first). Reading continues. */
int wsc_conn_shutdown_write(wsc_conn *c);
/* Close and free everything (logs a note when the harness closes a live connection). */
void wsc_conn_close(wsc_conn *c);

#endif
