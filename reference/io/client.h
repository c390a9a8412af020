/* The WebSocket client (Spring's StandardWebSocketClient.execute).
 *
 * Connection setup goes through libcurl: the ws(s):// URL becomes an http(s):// URL that
 * libcurl connects with CURLOPT_CONNECT_ONLY, so TCP, TLS (certificate verification on by
 * default, custom CA file) and HTTP / SOCKS proxies are libcurl's. Every byte after that
 * (the opening handshake and all frames) is written and parsed by a libwsref client session
 * and moved with curl_easy_send / curl_easy_recv.
 *
 * The client is not thread-safe; drive one client from one thread. Programs that start
 * threads should call curl_global_init() before the first connect (libcurl 7.88's implicit
 * initialisation is not thread-safe).
 */
#ifndef WSREF_IO_CLIENT_H
#define WSREF_IO_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "session/session.h"

/* ---- ws:// and wss:// URLs (RFC 6455 section 3) ---- */

#define WSREF_URL_HOST_MAX 256
#define WSREF_URL_PATH_MAX 4096

typedef struct wsref_url {
  bool tls;                                 /* wss */
  char host[WSREF_URL_HOST_MAX];            /* without IPv6 brackets */
  uint16_t port;                            /* explicit or 80 / 443 */
  bool default_port;                        /* no port, or the scheme's default */
  char path[WSREF_URL_PATH_MAX];            /* path and query ("/" if empty), no fragment */
  char host_header[WSREF_URL_HOST_MAX + 8]; /* Host: host[:port], IPv6 bracketed */
  char http_url[WSREF_URL_HOST_MAX + 24];   /* http(s)://host:port/ for libcurl */
} wsref_url;

/* Parse a ws:// or wss:// URL (scheme case-insensitive). Returns 0, or WSREF_E_URL with a
 * one-line reason in err (unknown scheme, fragment, userinfo, bad port, empty host, too
 * long, characters not allowed in a URI). */
int wsref_url_parse(const char *url, wsref_url *out, char *err, size_t errlen);

/* ---- client ---- */

typedef struct wsref_client wsref_client;

typedef struct wsref_client_options {
  wsref_session_options session;   /* limits and timeouts of the session */
  const char *const *subprotocols; /* offered, in preference order */
  size_t nsubprotocols;
  const char *const *headers; /* extra "Name: value" request header lines */
  size_t nheaders;
  const char *origin;     /* Origin header; NULL = none */
  const char *extensions; /* Sec-WebSocket-Extensions offer; NULL = none */
  const char *cacert;     /* PEM CA bundle for wss; NULL = system store */
  bool insecure;          /* wss without certificate / host name verification */
  const char *proxy;      /* http://, https://, socks4://, socks5://, socks5h://
                             URL; NULL = no proxy (environment variables are
                             ignored so runs are reproducible) */
  uint32_t timeout_ms;    /* TCP + TLS + proxy + opening handshake; default 10000 */
  size_t read_buffer;     /* bytes per curl_easy_recv; default 64 KiB */
  bool verbose;           /* libcurl's connection trace on stderr */
} wsref_client_options;

void wsref_client_options_default(wsref_client_options *o);

/* Connect and complete the opening handshake (blocking, at most o->timeout_ms). h (may be
 * NULL: no callbacks) must outlive the client; its callbacks get h->ud and run from inside
 * the wsref_client_* calls: on_open before this returns, the others only after a
 * successful open (a failed handshake is reported through the return value alone).
 * wsref_session_handler() of the client's session returns an internal forwarding handler,
 * not h. o may be NULL (defaults); its strings need only live through this call.
 * Returns NULL with a one-line reason in err ("bad URL: ...", "connect HOST:PORT: ...",
 * "handshake: server answered HTTP/1.1 404 Not Found"). */
wsref_client *wsref_client_connect(const char *url, const wsref_handler *h,
                                   const wsref_client_options *o, char *err, size_t errlen);

/* Closes the socket if still open (no closing handshake) and frees the session; a session
 * that was open and not yet closed still reports on_close (1006) from inside this call. */
void wsref_client_free(wsref_client *c);

/* The session: send with wsref_session_send*(), close with wsref_session_close(). */
wsref_session *wsref_client_session(wsref_client *c);

/* Non-blocking step: write pending output, read and process everything available, run
 * due timers, close the transport when the session is done. Returns 0 while the
 * connection lives, 1 once it is closed (on_close has run), or a negative error. */
int wsref_client_process(wsref_client *c);

/* Process and wait (poll) for up to timeout_ms (-1 = until closed). Returns 1 once
 * closed, 0 when the time is up, or a negative error. */
int wsref_client_run(wsref_client *c, int timeout_ms);

/* For callers multiplexing other descriptors with poll(): the socket (-1 once closed),
 * the poll events to wait for, and the ms until the next session timer (-1 = none). */
int wsref_client_fd(const wsref_client *c);
short wsref_client_poll_events(const wsref_client *c);
int wsref_client_timeout_ms(const wsref_client *c);

/* True once the transport is closed and on_close has run. */
bool wsref_client_closed(const wsref_client *c);
/* How the connection ended: the status handed to on_close (1006 if it ended without a
 * closing handshake), and the transport / protocol error seen (0 if none). */
const wsref_close_status *wsref_client_close_status(const wsref_client *c);
int wsref_client_error(const wsref_client *c);

#endif
