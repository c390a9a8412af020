/* The WebSocket server: a single-threaded epoll loop accepting TCP (optionally TLS)
 * connections, each driven by one sans-I/O server session (session/session.h).
 *
 * Embedding: create with a registry and options, bind (port 0 picks a free port, readable
 * with wsref_server_port), then wsref_server_run() in any one thread until another thread
 * (or a signal handler) calls wsref_server_stop(). The registry must outlive the server.
 *
 * Data path: received bytes go into one server-owned read buffer (read_buffer bytes) and
 * straight into wsref_session_recv(); session output is written at once with
 * send(MSG_NOSIGNAL), EPOLLOUT is armed only when the socket is full. Output a handler
 * queues on another connection (broadcast) is flushed at the end of the loop iteration.
 * Per-connection memory is the connection record plus what the session keeps.
 *
 * Closing: when a session says the transport is done and its output is flushed, the
 * server sends FIN (TLS: close_notify first), tells the session the transport is closed,
 * frees it, and then drains and discards input until the peer's FIN or linger_ms, so that
 * unread input never turns the close into a TCP reset that could destroy the close frame.
 */
#ifndef WSREF_IO_SERVER_H
#define WSREF_IO_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "handshake/registry.h"
#include "session/session.h"

typedef struct wsref_server wsref_server;

typedef struct wsref_server_options {
  const char *host;              /* bind address (IPv4 or IPv6 literal or name);
                                    default "127.0.0.1" */
  uint16_t port;                 /* 0 = any free port (default) */
  int backlog;                   /* listen() backlog; default 1024 */
  wsref_session_options session; /* per-connection session limits and timeouts */
  const char *tls_cert;          /* PEM certificate chain; with tls_key: serve wss */
  const char *tls_key;           /* PEM private key */
  size_t read_buffer;            /* bytes read per recv() into the shared buffer;
                                    default 256 KiB */
  uint32_t linger_ms;            /* after our FIN, wait this long for the peer's; default 2000 */
  uint32_t shutdown_grace_ms;    /* after wsref_server_stop(): wait for closing handshakes
                                    this long; 0 = session.close_timeout_ms + 500 */
  size_t max_connections;        /* further accepted sockets are closed at once; 0 = no limit
                                    (default) */
  bool quiet;                    /* no log lines */
  /* One line per connection event, without newline. NULL = write "wsref-server: LINE\n"
   * to stderr. Called in the loop thread. */
  void (*log)(const char *line, void *ud);
  void *log_ud;
  /* Timers a handler keeps per session beyond the session's own (STOMP heart-beats:
   * wsref_stomp_session_deadline / _tick). Each connection's timer is armed at the earlier
   * of wsref_session_deadline() and handler_deadline(s) (0 = none, evaluated after every
   * activity of the connection); when it fires the server calls wsref_session_tick() and
   * then handler_tick(s, now). Both NULL (the default) = no handler timers. */
  uint64_t (*handler_deadline)(wsref_session *s, void *ud);
  void (*handler_tick)(wsref_session *s, uint64_t now_ms, void *ud);
  void *handler_timer_ud;
} wsref_server_options;

/* Defaults for every field. */
void wsref_server_options_default(wsref_server_options *o);

/* Loads the TLS certificate when configured. o may be NULL (defaults); it is copied (the
 * strings must live as long as the server). Returns NULL with a one-line reason in err. */
wsref_server *wsref_server_new(const wsref_registry *reg, const wsref_server_options *o, char *err,
                               size_t errlen);
void wsref_server_free(wsref_server *srv);

/* Resolve host, bind and listen. Returns 0, or WSREF_E_RESOLVE / WSREF_E_IO with a reason. */
int wsref_server_bind(wsref_server *srv, char *err, size_t errlen);
/* The bound port (after bind). */
uint16_t wsref_server_port(const wsref_server *srv);
/* "ws://127.0.0.1:PORT" or "wss://[::1]:PORT" (after bind). */
const char *wsref_server_url(const wsref_server *srv);

/* Serve until stopped. On stop: stop accepting, close every open session with 1001, end
 * connections still in their opening handshake, and return 0 once all connections are
 * gone or after shutdown_grace_ms (then the rest are dropped). A second stop while
 * draining drops them at once. Returns WSREF_E_STATE if not bound, WSREF_E_IO on an
 * epoll failure. Run it once. */
int wsref_server_run(wsref_server *srv);

/* Thread-safe and async-signal-safe. */
void wsref_server_stop(wsref_server *srv);

/* Open connections (loop thread, or after run returned). */
size_t wsref_server_connections(const wsref_server *srv);

#endif
