#include "io/server.h"

#include "base/error.h"
#include "io/loop.h"
#include "io/tls.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define ACCEPT_BATCH 256    /* accept4 calls per readiness event of the listener */
#define READ_ROUNDS 4       /* plain reads per readiness event: fairness between peers */
#define ACCEPT_PAUSE_MS 100 /* after EMFILE and friends */
#define DIRTY_ROUNDS 8      /* cross-session flush rounds per loop iteration */

typedef struct conn conn;

struct conn {
  wsref_watch w; /* w.ud == this */
  wsref_timer t; /* session deadline, or the linger / drain limit */
  wsref_server *srv;
  wsref_session *s;    /* NULL once the session was told the transport closed */
  wsref_tls_conn *tls; /* NULL for plain TCP */
  wsref_session_io io;
  conn *prev, *next; /* live connections; `next` links the zombie list after death */
  conn *dirty_next;
  uint64_t done_since; /* when transport_done was first seen with output still queued */
  bool busy;           /* inside this connection's own processing: it flushes itself */
  bool dirty;          /* on the dirty list */
  bool dead;           /* fd closed; memory freed after the iteration */
  bool lingering;      /* FIN sent, draining input until the peer's FIN */
  bool tls_read_wants_write;
  char id[17];
  char addr[INET6_ADDRSTRLEN + 8];
};

struct wsref_server {
  const wsref_registry *reg;
  wsref_server_options o;
  wsref_loop *loop;
  wsref_tls_server *tls;
  int lfd;
  wsref_watch lw;
  wsref_timer accept_timer;
  wsref_timer drain_timer;
  uint16_t port;
  char url[INET6_ADDRSTRLEN + 300];
  uint8_t *rbuf;
  conn *conns;
  size_t nconns;
  conn *dirty;
  conn *zombies;
  atomic_uint stop_requests;
  unsigned stops_seen;
  uint64_t sessions_made; /* session ids count up from options.session.id (1 when 0) */
  bool draining;
  bool ran;
};

void wsref_server_options_default(wsref_server_options *o) {
  memset(o, 0, sizeof *o);
  o->host = "127.0.0.1";
  o->backlog = 1024;
  wsref_session_options_default(&o->session);
  o->read_buffer = 256 * 1024;
  o->linger_ms = 2000;
}

/* ---- logging ---- */

static void srv_logv(wsref_server *srv, const conn *c, const char *fmt, va_list ap) {
  char line[600];
  int off = 0;
  if (c) off = snprintf(line, sizeof line, "[%s %s] ", c->id, c->addr);
  if (off < 0) off = 0;
  vsnprintf(line + off, sizeof line - (size_t)off, fmt, ap);
  if (srv->o.log) {
    srv->o.log(line, srv->o.log_ud);
  } else {
    fprintf(stderr, "wsref-server: %s\n", line);
  }
}

__attribute__((format(printf, 3, 4))) static void srv_log(wsref_server *srv, const conn *c,
                                                          const char *fmt, ...) {
  if (srv->o.quiet) return;
  va_list ap;
  va_start(ap, fmt);
  srv_logv(srv, c, fmt, ap);
  va_end(ap);
}

static void on_session_log(wsref_session *s, const char *line, void *ud) {
  (void)s;
  conn *c = ud;
  srv_log(c->srv, c, "%s", line);
}

/* ---- connection life cycle ---- */

static uint64_t now_of(const wsref_server *srv) {
  return wsref_loop_now(srv->loop);
}

static uint64_t final_output_ms(const wsref_server *srv) {
  return srv->o.session.close_timeout_ms ? srv->o.session.close_timeout_ms : 3000;
}

static void conn_finish(conn *c) {
  wsref_server *srv = c->srv;
  if (c->s) {
    wsref_session_free(c->s);
    c->s = NULL;
  }
  wsref_tls_conn_free(c->tls);
  c->tls = NULL;
  wsref_loop_del(srv->loop, &c->w);
  close(c->w.fd);
  wsref_loop_timer_cancel(srv->loop, &c->t);
  if (c->prev)
    c->prev->next = c->next;
  else
    srv->conns = c->next;
  if (c->next) c->next->prev = c->prev;
  srv->nconns--;
  c->dead = true;
  c->next = srv->zombies;
  srv->zombies = c;
}

/* The transport failed (or we gave up on it): no closing handshake is possible. */
static void conn_abort(conn *c, int err, const char *why) {
  if (c->s) {
    srv_log(c->srv, c, "error: %s (%s)", why, wsref_err_name(err));
    wsref_session_transport_closed(c->s, err, now_of(c->srv));
  }
  conn_finish(c);
}

static void arm_out(conn *c, bool on) {
  uint32_t ev = EPOLLIN | (on ? EPOLLOUT : 0u);
  if (c->w.events != ev && wsref_loop_mod(c->srv->loop, &c->w, ev) != 0)
    srv_log(c->srv, c, "epoll_ctl: %s", strerror(errno));
}

/* Write queued session output until it is empty or the socket is full. Returns false if
 * the connection died. */
static bool conn_flush(conn *c) {
  wsref_server *srv = c->srv;
  for (;;) {
    size_t len = 0, n = 0;
    const uint8_t *p = wsref_session_output(c->s, &len);
    if (!p || len == 0) break;
    if (c->tls) {
      int r = wsref_tls_write(c->tls, p, len, &n);
      if (r == WSREF_TLS_WANT_WRITE) {
        arm_out(c, true);
        return true;
      }
      if (r == WSREF_TLS_WANT_READ) return true; /* EPOLLIN is always armed */
      if (r < 0) {
        conn_abort(c, r, wsref_tls_conn_error(c->tls));
        return false;
      }
    } else {
      ssize_t w = send(c->w.fd, p, len, MSG_NOSIGNAL);
      if (w < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
          arm_out(c, true);
          return true;
        }
        conn_abort(c, WSREF_E_IO, strerror(errno));
        return false;
      }
      n = (size_t)w;
    }
    wsref_session_output_done(c->s, n, now_of(srv));
  }
  if (c->w.events & EPOLLOUT && !c->tls_read_wants_write) arm_out(c, false);
  return true;
}

/* The session is done with the transport and its output is on the wire: send FIN, let
 * the session close, then linger for the peer's FIN. */
static void conn_close_graceful(conn *c, bool peer_eof) {
  wsref_server *srv = c->srv;
  if (c->tls) wsref_tls_shutdown(c->tls);
  if (!peer_eof) shutdown(c->w.fd, SHUT_WR);
  wsref_session_transport_closed(c->s, 0, now_of(srv));
  wsref_session_free(c->s);
  c->s = NULL;
  wsref_tls_conn_free(c->tls);
  c->tls = NULL;
  if (peer_eof || srv->o.linger_ms == 0) {
    conn_finish(c);
    return;
  }
  c->lingering = true;
  c->tls_read_wants_write = false;
  arm_out(c, false);
  wsref_loop_timer_set(srv->loop, &c->t, now_of(srv) + srv->o.linger_ms);
}

/* After any activity: flush, close when the session is done, re-arm the timer. */
static void conn_progress(conn *c) {
  if (c->dead || c->lingering) return;
  wsref_server *srv = c->srv;
  if (!conn_flush(c)) return;
  uint64_t deadline = wsref_session_deadline(c->s);
  if (srv->o.handler_deadline) {
    uint64_t hd = srv->o.handler_deadline(c->s, srv->o.handler_timer_ud);
    if (hd && (!deadline || hd < deadline)) deadline = hd;
  }
  if (wsref_session_transport_done(c->s) || wsref_session_state(c->s) == WSREF_STATE_CLOSED) {
    size_t len = 0;
    if (!wsref_session_output(c->s, &len) || len == 0) {
      conn_close_graceful(c, false);
      return;
    }
    /* A peer that stops reading must not pin the connection forever: it gets the close
     * timeout to take the final bytes. */
    if (!c->done_since) c->done_since = now_of(srv);
    uint64_t limit = c->done_since + final_output_ms(srv);
    if (!deadline || deadline > limit) deadline = limit;
  }
  if (wsref_loop_timer_set(srv->loop, &c->t, deadline) != 0)
    conn_abort(c, WSREF_E_NOMEM, "cannot arm timer");
}

static void conn_eof(conn *c) {
  /* Output queued by the last recv (e.g. the echo of a close frame sent just before a
   * half-close) still has a chance to leave. */
  size_t len = 0;
  if (wsref_session_output(c->s, &len) && len) {
    if (!conn_flush(c)) return;
  }
  conn_close_graceful(c, true);
}

/* Returns false if the connection died. */
static bool conn_read(conn *c) {
  wsref_server *srv = c->srv;
  size_t cap = srv->o.read_buffer;
  for (int round = 0; c->tls || round < READ_ROUNDS; round++) {
    size_t got = 0;
    if (c->tls) {
      int r = wsref_tls_read(c->tls, srv->rbuf, cap, &got);
      c->tls_read_wants_write = r == WSREF_TLS_WANT_WRITE;
      if (r == WSREF_TLS_WANT_READ) break;
      if (r == WSREF_TLS_WANT_WRITE) {
        arm_out(c, true);
        break;
      }
      if (r < 0) {
        conn_abort(c, r, wsref_tls_conn_error(c->tls));
        return false;
      }
    } else {
      ssize_t n = recv(c->w.fd, srv->rbuf, cap, 0);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) break;
        conn_abort(c, WSREF_E_IO, strerror(errno));
        return false;
      }
      got = (size_t)n;
    }
    if (got == 0) {
      conn_eof(c);
      return false;
    }
    /* A failure is already answered inside the session (close frame or error response
     * queued, transport_done set); the checks below pick that up. */
    (void)wsref_session_recv(c->s, srv->rbuf, got, now_of(srv));
    if (!conn_flush(c)) return false;
    if (wsref_session_transport_done(c->s) || wsref_session_state(c->s) == WSREF_STATE_CLOSED)
      break;
    if (!c->tls && got < cap) break;
  }
  return true;
}

static void linger_drain(conn *c) {
  for (int i = 0; i < READ_ROUNDS; i++) {
    ssize_t n = recv(c->w.fd, c->srv->rbuf, c->srv->o.read_buffer, 0);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    conn_finish(c);
    return;
  }
}

static void on_conn_event(wsref_loop *loop, wsref_watch *w, uint32_t revents) {
  (void)loop;
  conn *c = w->ud;
  if (c->dead) return;
  if (c->lingering) {
    linger_drain(c);
    return;
  }
  c->busy = true;
  bool alive = true;
  if (revents & (EPOLLIN | EPOLLERR | EPOLLHUP) || (c->tls_read_wants_write && revents & EPOLLOUT))
    alive = conn_read(c);
  if (alive) conn_progress(c);
  c->busy = false;
}

static void on_conn_timer(wsref_loop *loop, wsref_timer *t) {
  conn *c = t->ud;
  if (c->dead) return;
  if (c->lingering) {
    conn_finish(c);
    return;
  }
  uint64_t now = wsref_loop_now(loop);
  if (c->done_since && now >= c->done_since + final_output_ms(c->srv)) {
    conn_abort(c, WSREF_E_TIMEOUT, "peer does not read the final output");
    return;
  }
  c->busy = true;
  wsref_session_tick(c->s, now);
  if (c->srv->o.handler_tick) c->srv->o.handler_tick(c->s, now, c->srv->o.handler_timer_ud);
  conn_progress(c);
  c->busy = false;
}

/* Output appeared on a session outside its own processing (a handler on another
 * connection sent to it): flush it at the end of the iteration. */
static void on_want_write(wsref_session *s, void *ud) {
  (void)s;
  conn *c = ud;
  if (c->busy || c->dirty || c->dead) return;
  c->dirty = true;
  c->dirty_next = c->srv->dirty;
  c->srv->dirty = c;
}

static void format_addr(const struct sockaddr_storage *ss, char *out, size_t n) {
  char host[INET6_ADDRSTRLEN] = "?";
  unsigned port = 0;
  if (ss->ss_family == AF_INET) {
    const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    port = ntohs(a->sin_port);
    snprintf(out, n, "%s:%u", host, port);
  } else if (ss->ss_family == AF_INET6) {
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    port = ntohs(a->sin6_port);
    snprintf(out, n, "[%s]:%u", host, port);
  } else {
    snprintf(out, n, "unknown");
  }
}

static void conn_open(wsref_server *srv, int fd, const struct sockaddr_storage *ss) {
  char addr[INET6_ADDRSTRLEN + 8];
  format_addr(ss, addr, sizeof addr);
  if (srv->o.max_connections && srv->nconns >= srv->o.max_connections) {
    srv_log(srv, NULL, "refused %s: connection limit %zu reached", addr, srv->o.max_connections);
    close(fd);
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  conn *c = calloc(1, sizeof *c);
  if (!c) {
    srv_log(srv, NULL, "refused %s: out of memory", addr);
    close(fd);
    return;
  }
  c->srv = srv;
  memcpy(c->addr, addr, sizeof addr);
  c->w.fd = fd;
  c->w.cb = on_conn_event;
  c->w.ud = c;
  c->t.cb = on_conn_timer;
  c->t.ud = c;
  c->io.want_write = on_want_write;
  c->io.log = on_session_log;
  c->io.io_ud = c;
  wsref_session_options so = srv->o.session;
  so.id = (srv->o.session.id ? srv->o.session.id : 1) + srv->sessions_made++;
  c->s = wsref_session_new_server(srv->reg, &so, &c->io, c->addr, now_of(srv));
  if (c->s && srv->tls) c->tls = wsref_tls_conn_new(srv->tls, fd);
  if (!c->s || (srv->tls && !c->tls) || wsref_loop_add(srv->loop, &c->w, fd, EPOLLIN) != 0) {
    srv_log(srv, NULL, "refused %s: cannot set up the connection", addr);
    wsref_session_free(c->s);
    wsref_tls_conn_free(c->tls);
    close(fd);
    free(c);
    return;
  }
  snprintf(c->id, sizeof c->id, "%s", wsref_session_id(c->s));
  c->next = srv->conns;
  if (srv->conns) srv->conns->prev = c;
  srv->conns = c;
  srv->nconns++;
  srv_log(srv, c, "accept%s", srv->tls ? " (tls)" : "");
  conn_progress(c);
}

/* ---- listener ---- */

static void on_accept_timer(wsref_loop *loop, wsref_timer *t) {
  wsref_server *srv = t->ud;
  if (srv->lfd >= 0 && !srv->draining) wsref_loop_add(loop, &srv->lw, srv->lfd, EPOLLIN);
}

static void on_accept(wsref_loop *loop, wsref_watch *w, uint32_t revents) {
  (void)revents;
  wsref_server *srv = w->ud;
  for (int i = 0; i < ACCEPT_BATCH; i++) {
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    int fd = accept4(srv->lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return;
      /* Out of descriptors or memory: the level-triggered listener would spin, so stop
       * listening for a moment. */
      srv_log(srv, NULL, "accept: %s; pausing %d ms", strerror(errno), ACCEPT_PAUSE_MS);
      wsref_loop_del(loop, &srv->lw);
      wsref_loop_timer_set(loop, &srv->accept_timer, wsref_loop_now(loop) + ACCEPT_PAUSE_MS);
      return;
    }
    conn_open(srv, fd, &ss);
  }
}

static void close_listener(wsref_server *srv) {
  if (srv->lfd < 0) return;
  wsref_loop_del(srv->loop, &srv->lw);
  wsref_loop_timer_cancel(srv->loop, &srv->accept_timer);
  close(srv->lfd);
  srv->lfd = -1;
}

/* ---- stop ---- */

static void drop_all(wsref_server *srv, const char *why) {
  while (srv->conns) {
    conn *c = srv->conns;
    if (c->s)
      conn_abort(c, WSREF_E_CLOSED, why);
    else
      conn_finish(c);
  }
}

static void on_drain_timer(wsref_loop *loop, wsref_timer *t) {
  wsref_server *srv = t->ud;
  if (srv->nconns) srv_log(srv, NULL, "shutdown: dropping %zu connections", srv->nconns);
  drop_all(srv, "server shutdown grace period over");
  wsref_loop_break(loop);
}

static void begin_drain(wsref_server *srv) {
  srv->draining = true;
  close_listener(srv);
  srv_log(srv, NULL, "shutting down: closing %zu connections", srv->nconns);
  for (conn *c = srv->conns, *next; c; c = next) {
    next = c->next;
    if (c->lingering || !c->s) continue;
    c->busy = true;
    switch (wsref_session_state(c->s)) {
      case WSREF_STATE_OPEN:
        wsref_session_close(c->s, WSREF_CLOSE_GOING_AWAY, NULL);
        conn_progress(c);
        break;
      case WSREF_STATE_CONNECTING:
        conn_abort(c, WSREF_E_CLOSED, "server shutting down during the opening handshake");
        break;
      default:
        conn_progress(c);
        break;
    }
    c->busy = false;
  }
  uint32_t grace =
      srv->o.shutdown_grace_ms ? srv->o.shutdown_grace_ms : srv->o.session.close_timeout_ms + 500;
  wsref_loop_timer_set(srv->loop, &srv->drain_timer, now_of(srv) + grace);
}

static void on_wake(wsref_loop *loop, void *ud) {
  wsref_server *srv = ud;
  unsigned req = atomic_load(&srv->stop_requests);
  if (req == srv->stops_seen) return;
  srv->stops_seen = req;
  if (!srv->draining) {
    begin_drain(srv);
  } else {
    srv_log(srv, NULL, "shutdown: dropping %zu connections", srv->nconns);
    drop_all(srv, "server stopped");
    wsref_loop_break(loop);
  }
}

static void free_zombies(wsref_server *srv) {
  while (srv->zombies) {
    conn *c = srv->zombies;
    srv->zombies = c->next;
    free(c);
  }
}

static void on_after(wsref_loop *loop, void *ud) {
  wsref_server *srv = ud;
  for (int round = 0; srv->dirty && round < DIRTY_ROUNDS; round++) {
    conn *list = srv->dirty;
    srv->dirty = NULL;
    while (list) {
      conn *c = list;
      list = c->dirty_next;
      c->dirty = false;
      if (c->dead || c->lingering) continue;
      c->busy = true;
      conn_progress(c);
      c->busy = false;
    }
  }
  if (srv->dirty) {
    /* Sessions keep feeding each other: finish next iteration, without blocking in
     * epoll_wait, and never keep a dead connection on the list across the free below. */
    conn **pp = &srv->dirty;
    while (*pp) {
      if ((*pp)->dead) {
        (*pp)->dirty = false;
        *pp = (*pp)->dirty_next;
      } else {
        pp = &(*pp)->dirty_next;
      }
    }
    wsref_loop_wake(loop);
  }
  free_zombies(srv);
  if (srv->draining && srv->nconns == 0) wsref_loop_break(loop);
}

/* ---- public API ---- */

wsref_server *wsref_server_new(const wsref_registry *reg, const wsref_server_options *o, char *err,
                               size_t errlen) {
  wsref_server *srv = calloc(1, sizeof *srv);
  if (!srv) {
    snprintf(err, errlen, "out of memory");
    return NULL;
  }
  srv->lfd = -1;
  srv->reg = reg;
  if (o)
    srv->o = *o;
  else
    wsref_server_options_default(&srv->o);
  if (!srv->o.host) srv->o.host = "127.0.0.1";
  if (srv->o.backlog <= 0) srv->o.backlog = 1024;
  if (srv->o.read_buffer == 0) srv->o.read_buffer = 256 * 1024;
  if ((srv->o.tls_cert != NULL) != (srv->o.tls_key != NULL)) {
    snprintf(err, errlen, "TLS needs both a certificate and a private key");
    goto fail;
  }
  if (srv->o.tls_cert) {
    srv->tls = wsref_tls_server_new(srv->o.tls_cert, srv->o.tls_key, err, errlen);
    if (!srv->tls) goto fail;
  }
  srv->rbuf = malloc(srv->o.read_buffer);
  srv->loop = wsref_loop_new(NULL);
  if (!srv->rbuf || !srv->loop) {
    snprintf(err, errlen, "cannot create the event loop: %s", strerror(errno));
    goto fail;
  }
  srv->lw.cb = on_accept;
  srv->lw.ud = srv;
  srv->accept_timer.cb = on_accept_timer;
  srv->accept_timer.ud = srv;
  srv->drain_timer.cb = on_drain_timer;
  srv->drain_timer.ud = srv;
  wsref_loop_set_wake_cb(srv->loop, on_wake, srv);
  wsref_loop_set_after_cb(srv->loop, on_after, srv);
  atomic_init(&srv->stop_requests, 0);
  return srv;
fail:
  wsref_server_free(srv);
  return NULL;
}

void wsref_server_free(wsref_server *srv) {
  if (!srv) return;
  if (srv->loop) {
    drop_all(srv, "server freed");
    free_zombies(srv);
    close_listener(srv);
    wsref_loop_free(srv->loop);
  }
  wsref_tls_server_free(srv->tls);
  free(srv->rbuf);
  free(srv);
}

int wsref_server_bind(wsref_server *srv, char *err, size_t errlen) {
  if (srv->lfd >= 0) {
    snprintf(err, errlen, "already bound");
    return WSREF_E_STATE;
  }
  char portstr[8];
  snprintf(portstr, sizeof portstr, "%u", (unsigned)srv->o.port);
  struct addrinfo hints = {0}, *res = NULL;
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  int gai = getaddrinfo(srv->o.host, portstr, &hints, &res);
  if (gai != 0) {
    snprintf(err, errlen, "cannot resolve %s: %s", srv->o.host, gai_strerror(gai));
    return WSREF_E_RESOLVE;
  }
  int fd = -1, saved = 0;
  for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      saved = errno;
      continue;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, srv->o.backlog) == 0) break;
    saved = errno;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  if (fd < 0) {
    snprintf(err, errlen, "cannot listen on %s port %u: %s", srv->o.host, (unsigned)srv->o.port,
             strerror(saved));
    return WSREF_E_IO;
  }
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  getsockname(fd, (struct sockaddr *)&ss, &sl);
  srv->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
  bool v6 = strchr(srv->o.host, ':') != NULL;
  snprintf(srv->url, sizeof srv->url, "%s://%s%s%s:%u", srv->tls ? "wss" : "ws", v6 ? "[" : "",
           srv->o.host, v6 ? "]" : "", (unsigned)srv->port);
  if (wsref_loop_add(srv->loop, &srv->lw, fd, EPOLLIN) != 0) {
    snprintf(err, errlen, "epoll_ctl: %s", strerror(errno));
    close(fd);
    return WSREF_E_IO;
  }
  srv->lfd = fd;
  return 0;
}

uint16_t wsref_server_port(const wsref_server *srv) {
  return srv->port;
}

const char *wsref_server_url(const wsref_server *srv) {
  return srv->url;
}

int wsref_server_run(wsref_server *srv) {
  if (srv->lfd < 0 || srv->ran) return WSREF_E_STATE;
  srv->ran = true;
  int r = wsref_loop_run(srv->loop);
  drop_all(srv, "server loop ended");
  free_zombies(srv);
  close_listener(srv);
  return r;
}

void wsref_server_stop(wsref_server *srv) {
  atomic_fetch_add(&srv->stop_requests, 1u);
  wsref_loop_wake(srv->loop);
}

size_t wsref_server_connections(const wsref_server *srv) {
  return srv->nconns;
}
