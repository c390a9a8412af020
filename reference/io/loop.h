/* A single-threaded epoll event loop with a min-heap of timers and a thread-safe wake-up.
 *
 * The loop never owns the objects it watches: a wsref_watch (one file descriptor) and a
 * wsref_timer are embedded in the caller's own structs, and the loop only keeps pointers to
 * them. A watch must be removed (wsref_loop_del) and a timer cancelled before the memory
 * holding it is freed; as events of one iteration are taken from the kernel in a batch, a
 * watch removed during an iteration must stay allocated until that iteration's after
 * callback (the loop skips its pending event: wsref_loop_del sets w->events to 0).
 *
 * Times are milliseconds of CLOCK_MONOTONIC (wsref_now_ms). The loop samples the clock once
 * per iteration; wsref_loop_now() returns that sample, which is what sessions should be given
 * (cheap, and consistent within one batch of events).
 *
 * Everything except wsref_loop_wake() must be called from the thread running the loop.
 */
#ifndef WSREF_IO_LOOP_H
#define WSREF_IO_LOOP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct wsref_loop wsref_loop;

/* ---- timer heap (no I/O; usable and testable on its own) ---- */

typedef struct wsref_timer {
  uint64_t when; /* absolute deadline in ms; 0 = not armed */
  size_t idx;    /* position in the heap while armed (internal) */
  void (*cb)(wsref_loop *loop, struct wsref_timer *t);
  void *ud;
} wsref_timer;

#define WSREF_TIMER_INIT(cb_, ud_) \
  { 0, 0, (cb_), (ud_) }

/* A binary min-heap of timer pointers ordered by `when`. Arming, re-arming and cancelling
 * are O(log n); the array grows by doubling and never shrinks, so steady-state operation
 * allocates nothing. */
typedef struct wsref_timer_heap {
  wsref_timer **v;
  size_t n, cap;
} wsref_timer_heap;

#define WSREF_TIMER_HEAP_INIT \
  { 0, 0, 0 }

/* Arm or move t to `when` (0 cancels). Returns 0 or WSREF_E_NOMEM (t is then unchanged). */
int wsref_timer_heap_set(wsref_timer_heap *h, wsref_timer *t, uint64_t when);
void wsref_timer_heap_cancel(wsref_timer_heap *h, wsref_timer *t);
/* Earliest timer or NULL. */
static inline wsref_timer *wsref_timer_heap_top(const wsref_timer_heap *h) {
  return h->n ? h->v[0] : 0;
}
/* Remove and return the earliest timer if its deadline is <= now, else NULL. */
wsref_timer *wsref_timer_heap_pop_expired(wsref_timer_heap *h, uint64_t now);
void wsref_timer_heap_free(wsref_timer_heap *h);

/* ---- event loop ---- */

/* One watched file descriptor. events/revents are EPOLL* bits; the loop is level-triggered. */
typedef struct wsref_watch {
  int fd;
  uint32_t events; /* currently registered mask (read-only for the caller) */
  void (*cb)(wsref_loop *loop, struct wsref_watch *w, uint32_t revents);
  void *ud;
} wsref_watch;

typedef struct wsref_loop_options {
  unsigned max_events; /* events taken per epoll_wait; default 256 */
} wsref_loop_options;

/* Monotonic clock in ms (never 0 in practice: the clock starts at boot). */
uint64_t wsref_now_ms(void);

/* opt may be NULL. Returns NULL on failure (errno tells why). */
wsref_loop *wsref_loop_new(const wsref_loop_options *opt);
void wsref_loop_free(wsref_loop *loop);

/* Register w for fd with the given EPOLL* mask. Returns 0 or WSREF_E_IO (errno set). */
int wsref_loop_add(wsref_loop *loop, wsref_watch *w, int fd, uint32_t events);
/* Change the mask (no system call when unchanged). */
int wsref_loop_mod(wsref_loop *loop, wsref_watch *w, uint32_t events);
/* Unregister; call before closing the fd if it may be duplicated elsewhere. */
void wsref_loop_del(wsref_loop *loop, wsref_watch *w);

/* Arm or move a timer to an absolute deadline (0 cancels). Returns 0 or WSREF_E_NOMEM. */
int wsref_loop_timer_set(wsref_loop *loop, wsref_timer *t, uint64_t when);
void wsref_loop_timer_cancel(wsref_loop *loop, wsref_timer *t);

/* Clock sample of the current iteration. */
uint64_t wsref_loop_now(const wsref_loop *loop);

/* Called in the loop thread after a wsref_loop_wake() (several wakes may coalesce). */
void wsref_loop_set_wake_cb(wsref_loop *loop, void (*cb)(wsref_loop *, void *), void *ud);
/* Called after each iteration's events and timers (batch work: deferred flushes, frees). */
void wsref_loop_set_after_cb(wsref_loop *loop, void (*cb)(wsref_loop *, void *), void *ud);

/* Thread-safe and async-signal-safe (one write() to an eventfd). */
void wsref_loop_wake(wsref_loop *loop);

/* One iteration: wait up to max_wait_ms (-1 = until the next timer or event), dispatch
 * events, run expired timers, then the after callback. Returns the number of events
 * dispatched, or WSREF_E_IO if epoll_wait failed. */
int wsref_loop_run_once(wsref_loop *loop, int max_wait_ms);
/* Iterate until wsref_loop_break(). Returns 0 or WSREF_E_IO. */
int wsref_loop_run(wsref_loop *loop);
/* Make wsref_loop_run() return after the current iteration (loop thread only). */
void wsref_loop_break(wsref_loop *loop);

#endif
