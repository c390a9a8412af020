/* The hardware ceiling for the echo benchmark: the least work a WebSocket echo server can
 * do per round trip on this machine. One recv and one send per readable connection, the
 * opening handshake answered with libwsref's parser and accept computation, frames echoed
 * with no validation at all (no UTF-8 check, no limits, no close handshake, no timers): not
 * a server anyone should run, only the floor a real one is measured against.
 *
 * usage: ceiling_echo [PORT]   (0 or none: a free port; prints `listening on ws://...`) */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/error.h"
#include "codec/mask.h"
#include "handshake/accept.h"
#include "handshake/http.h"

#define BUF (256 * 1024)

typedef struct conn {
  int fd;
  int upgraded;
  size_t have;
  uint8_t in[BUF];
} conn;

static uint8_t out[BUF + 4096];

/* Echo every complete frame in c->in; keep a partial one for the next read. */
static void echo_frames(conn *c) {
  size_t pos = 0, olen = 0;
  while (c->have - pos >= 2) {
    uint8_t *p = c->in + pos;
    uint64_t len = p[1] & 0x7f;
    size_t hl = 2;
    if (len == 126) {
      if (c->have - pos < 4) break;
      len = (uint64_t)p[2] << 8 | p[3];
      hl = 4;
    } else if (len == 127) {
      if (c->have - pos < 10) break;
      len = 0;
      for (int i = 0; i < 8; i++) len = len << 8 | p[2 + i];
      hl = 10;
    }
    size_t mk = (p[1] & 0x80) ? 4 : 0;
    if (len > BUF || c->have - pos < hl + mk + len) break;
    uint8_t *payload = p + hl + mk;
    if (mk) wsref_mask_apply(payload, (size_t)len, p + hl, 0);
    if (olen + hl + len > sizeof out) break;
    out[olen] = p[0];
    out[olen + 1] = (uint8_t)(p[1] & 0x7f);
    memcpy(out + olen + 2, p + 2, hl - 2);
    memcpy(out + olen + hl, payload, (size_t)len);
    olen += hl + (size_t)len;
    pos += hl + mk + (size_t)len;
  }
  if (olen && send(c->fd, out, olen, MSG_NOSIGNAL) < 0 && errno != EAGAIN) perror("send");
  memmove(c->in, c->in + pos, c->have - pos);
  c->have -= pos;
}

static int handshake(conn *c) {
  wsref_http_request req;
  ssize_t n = wsref_http_parse_request((const char *)c->in, c->have, NULL, &req);
  if (n == WSREF_NEED_MORE) return 0;
  if (n < 0) return -1;
  const wsref_http_header *k = wsref_http_find(req.headers, req.nheaders, "Sec-WebSocket-Key");
  if (!k) return -1;
  char acc[WSREF_ACCEPT_LEN + 1], resp[256];
  wsref_accept_compute(k->value.p, k->value.n, acc);
  int rl = snprintf(resp, sizeof resp,
                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
                    acc);
  if (send(c->fd, resp, (size_t)rl, MSG_NOSIGNAL) != rl) return -1;
  memmove(c->in, c->in + n, c->have - (size_t)n);
  c->have -= (size_t)n;
  c->upgraded = 1;
  return 0;
}

int main(int argc, char **argv) {
  int port = argc > 1 ? atoi(argv[1]) : 0;
  int ls = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  if (bind(ls, (struct sockaddr *)&a, sizeof a) || listen(ls, 1024) ||
      getsockname(ls, (struct sockaddr *)&a, &al)) {
    perror("ceiling_echo: bind");
    return 2;
  }
  printf("listening on ws://127.0.0.1:%d\n", ntohs(a.sin_port));
  fflush(stdout);
  int ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
  epoll_ctl(ep, EPOLL_CTL_ADD, ls, &ev);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      conn *c = evs[i].data.ptr;
      if (!c) {
        int fd;
        while ((fd = accept4(ls, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
          setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
          conn *nc = calloc(1, sizeof *nc);
          if (!nc) {
            close(fd);
            continue;
          }
          nc->fd = fd;
          struct epoll_event e = {.events = EPOLLIN, .data.ptr = nc};
          epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e);
        }
        continue;
      }
      ssize_t r = recv(c->fd, c->in + c->have, BUF - c->have, 0);
      if (r <= 0) {
        if (r < 0 && errno == EAGAIN) continue;
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        free(c);
        continue;
      }
      c->have += (size_t)r;
      if (!c->upgraded && handshake(c) < 0) {
        epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        free(c);
        continue;
      }
      if (c->upgraded) echo_frames(c);
    }
  }
}
