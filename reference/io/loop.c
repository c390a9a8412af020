#include "io/loop.h"

#include "base/error.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

/* ---- timer heap ---- */

static void heap_place(wsref_timer_heap *h, size_t i, wsref_timer *t) {
  h->v[i] = t;
  t->idx = i;
}

static void heap_up(wsref_timer_heap *h, size_t i) {
  wsref_timer *t = h->v[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (h->v[parent]->when <= t->when) break;
    heap_place(h, i, h->v[parent]);
    i = parent;
  }
  heap_place(h, i, t);
}

static void heap_down(wsref_timer_heap *h, size_t i) {
  wsref_timer *t = h->v[i];
  for (;;) {
    size_t c = 2 * i + 1;
    if (c >= h->n) break;
    if (c + 1 < h->n && h->v[c + 1]->when < h->v[c]->when) c++;
    if (t->when <= h->v[c]->when) break;
    heap_place(h, i, h->v[c]);
    i = c;
  }
  heap_place(h, i, t);
}

static void heap_remove_at(wsref_timer_heap *h, size_t i) {
  wsref_timer *t = h->v[i];
  h->n--;
  if (i != h->n) {
    heap_place(h, i, h->v[h->n]);
    /* The moved element may belong above or below its new slot. */
    if (i > 0 && h->v[(i - 1) / 2]->when > h->v[i]->when)
      heap_up(h, i);
    else
      heap_down(h, i);
  }
  t->when = 0;
  t->idx = 0;
}

void wsref_timer_heap_cancel(wsref_timer_heap *h, wsref_timer *t) {
  if (t->when == 0) return;
  heap_remove_at(h, t->idx);
}

int wsref_timer_heap_set(wsref_timer_heap *h, wsref_timer *t, uint64_t when) {
  if (when == t->when) return 0;
  if (when == 0) {
    heap_remove_at(h, t->idx);
    return 0;
  }
  if (t->when != 0) {
    uint64_t old = t->when;
    t->when = when;
    if (when < old)
      heap_up(h, t->idx);
    else
      heap_down(h, t->idx);
    return 0;
  }
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 64;
    wsref_timer **v = realloc(h->v, cap * sizeof *v);
    if (!v) return WSREF_E_NOMEM;
    h->v = v;
    h->cap = cap;
  }
  t->when = when;
  h->v[h->n] = t;
  t->idx = h->n++;
  heap_up(h, t->idx);
  return 0;
}

wsref_timer *wsref_timer_heap_pop_expired(wsref_timer_heap *h, uint64_t now) {
  if (h->n == 0 || h->v[0]->when > now) return NULL;
  wsref_timer *t = h->v[0];
  heap_remove_at(h, 0);
  return t;
}

void wsref_timer_heap_free(wsref_timer_heap *h) {
  for (size_t i = 0; i < h->n; i++) h->v[i]->when = 0;
  free(h->v);
  h->v = NULL;
  h->n = h->cap = 0;
}

/* ---- loop ---- */

struct wsref_loop {
  int epfd;
  int wakefd;
  wsref_watch wake_watch;
  wsref_timer_heap timers;
  uint64_t now;
  bool stop;
  unsigned max_events;
  struct epoll_event *events;
  void (*wake_cb)(wsref_loop *, void *);
  void *wake_ud;
  void (*after_cb)(wsref_loop *, void *);
  void *after_ud;
};

uint64_t wsref_now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void on_wakefd(wsref_loop *loop, wsref_watch *w, uint32_t revents) {
  (void)revents;
  uint64_t v;
  /* The eventfd counter is reset by one read; a failed read only means no pending wake. */
  if (read(w->fd, &v, sizeof v) != (ssize_t)sizeof v) return;
  if (loop->wake_cb) loop->wake_cb(loop, loop->wake_ud);
}

wsref_loop *wsref_loop_new(const wsref_loop_options *opt) {
  int saved;
  wsref_loop *loop = calloc(1, sizeof *loop);
  if (!loop) return NULL;
  loop->max_events = opt && opt->max_events ? opt->max_events : 256;
  loop->epfd = epoll_create1(EPOLL_CLOEXEC);
  loop->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  loop->events = calloc(loop->max_events, sizeof *loop->events);
  if (loop->epfd < 0 || loop->wakefd < 0 || !loop->events) goto fail;
  loop->wake_watch.cb = on_wakefd;
  if (wsref_loop_add(loop, &loop->wake_watch, loop->wakefd, EPOLLIN) != 0) goto fail;
  loop->now = wsref_now_ms();
  return loop;
fail:
  saved = errno;
  wsref_loop_free(loop);
  errno = saved ? saved : ENOMEM;
  return NULL;
}

void wsref_loop_free(wsref_loop *loop) {
  if (!loop) return;
  if (loop->epfd >= 0) close(loop->epfd);
  if (loop->wakefd >= 0) close(loop->wakefd);
  wsref_timer_heap_free(&loop->timers);
  free(loop->events);
  free(loop);
}

int wsref_loop_add(wsref_loop *loop, wsref_watch *w, int fd, uint32_t events) {
  struct epoll_event ev = {.events = events, .data.ptr = w};
  w->fd = fd;
  w->events = events;
  if (epoll_ctl(loop->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) return WSREF_E_IO;
  return 0;
}

int wsref_loop_mod(wsref_loop *loop, wsref_watch *w, uint32_t events) {
  if (w->events == events) return 0;
  struct epoll_event ev = {.events = events, .data.ptr = w};
  if (epoll_ctl(loop->epfd, EPOLL_CTL_MOD, w->fd, &ev) != 0) return WSREF_E_IO;
  w->events = events;
  return 0;
}

void wsref_loop_del(wsref_loop *loop, wsref_watch *w) {
  if (w->fd >= 0) epoll_ctl(loop->epfd, EPOLL_CTL_DEL, w->fd, NULL);
  w->events = 0;
}

int wsref_loop_timer_set(wsref_loop *loop, wsref_timer *t, uint64_t when) {
  return wsref_timer_heap_set(&loop->timers, t, when);
}

void wsref_loop_timer_cancel(wsref_loop *loop, wsref_timer *t) {
  wsref_timer_heap_cancel(&loop->timers, t);
}

uint64_t wsref_loop_now(const wsref_loop *loop) {
  return loop->now;
}

void wsref_loop_set_wake_cb(wsref_loop *loop, void (*cb)(wsref_loop *, void *), void *ud) {
  loop->wake_cb = cb;
  loop->wake_ud = ud;
}

void wsref_loop_set_after_cb(wsref_loop *loop, void (*cb)(wsref_loop *, void *), void *ud) {
  loop->after_cb = cb;
  loop->after_ud = ud;
}

void wsref_loop_wake(wsref_loop *loop) {
  uint64_t one = 1;
  /* EAGAIN means the counter is already non-zero: a wake is pending, which is enough. */
  ssize_t r = write(loop->wakefd, &one, sizeof one);
  (void)r;
}

static int wait_ms(const wsref_loop *loop, int max_wait_ms) {
  const wsref_timer *t = wsref_timer_heap_top(&loop->timers);
  if (!t) return max_wait_ms;
  uint64_t now = wsref_now_ms();
  uint64_t d = t->when > now ? t->when - now : 0;
  if (d > INT_MAX) d = INT_MAX;
  if (max_wait_ms >= 0 && (uint64_t)max_wait_ms < d) return max_wait_ms;
  return (int)d;
}

int wsref_loop_run_once(wsref_loop *loop, int max_wait_ms) {
  int n = epoll_wait(loop->epfd, loop->events, (int)loop->max_events, wait_ms(loop, max_wait_ms));
  if (n < 0 && errno != EINTR) return WSREF_E_IO;
  if (n < 0) n = 0;
  loop->now = wsref_now_ms();
  for (int i = 0; i < n; i++) {
    wsref_watch *w = loop->events[i].data.ptr;
    /* Removed earlier in this batch: its event was already taken from the kernel. */
    if (w->events == 0) continue;
    w->cb(loop, w, loop->events[i].events);
  }
  /* Bound the work to the timers present now: a callback that re-arms at or before `now`
   * runs again next iteration instead of spinning here. */
  size_t budget = loop->timers.n;
  wsref_timer *t;
  while (budget-- > 0 && (t = wsref_timer_heap_pop_expired(&loop->timers, loop->now)) != NULL)
    t->cb(loop, t);
  if (loop->after_cb) loop->after_cb(loop, loop->after_ud);
  return n;
}

int wsref_loop_run(wsref_loop *loop) {
  loop->stop = false;
  while (!loop->stop) {
    int r = wsref_loop_run_once(loop, -1);
    if (r < 0) return r;
  }
  return 0;
}

void wsref_loop_break(wsref_loop *loop) {
  loop->stop = true;
}
