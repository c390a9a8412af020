/* Event loop and timer heap (reference/io/loop.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "base/error.h"
#include "io/loop.h"

/* ---- heap ---- */

static void check_heap(const wsref_timer_heap *h) {
  for (size_t i = 0; i < h->n; i++) {
    assert_int_equal(h->v[i]->idx, i);
    assert_true(h->v[i]->when != 0);
    if (i > 0) assert_true(h->v[(i - 1) / 2]->when <= h->v[i]->when);
  }
}

static void test_heap_basic(void **state) {
  (void)state;
  wsref_timer_heap h = WSREF_TIMER_HEAP_INIT;
  wsref_timer a = WSREF_TIMER_INIT(NULL, NULL), b = a, c = a;
  assert_null(wsref_timer_heap_top(&h));
  assert_null(wsref_timer_heap_pop_expired(&h, UINT64_MAX));
  assert_int_equal(wsref_timer_heap_set(&h, &a, 30), 0);
  assert_int_equal(wsref_timer_heap_set(&h, &b, 10), 0);
  assert_int_equal(wsref_timer_heap_set(&h, &c, 20), 0);
  check_heap(&h);
  assert_ptr_equal(wsref_timer_heap_top(&h), &b);
  /* Nothing is due before its deadline; equal counts as due. */
  assert_null(wsref_timer_heap_pop_expired(&h, 9));
  assert_ptr_equal(wsref_timer_heap_pop_expired(&h, 10), &b);
  assert_int_equal(b.when, 0);
  /* Moving a timer earlier and later. */
  assert_int_equal(wsref_timer_heap_set(&h, &a, 5), 0);
  assert_ptr_equal(wsref_timer_heap_top(&h), &a);
  assert_int_equal(wsref_timer_heap_set(&h, &a, 50), 0);
  assert_ptr_equal(wsref_timer_heap_top(&h), &c);
  check_heap(&h);
  /* Setting 0 cancels; cancelling an unarmed timer is harmless. */
  assert_int_equal(wsref_timer_heap_set(&h, &c, 0), 0);
  assert_int_equal(h.n, 1);
  wsref_timer_heap_cancel(&h, &c);
  wsref_timer_heap_cancel(&h, &b);
  assert_int_equal(h.n, 1);
  assert_ptr_equal(wsref_timer_heap_pop_expired(&h, 100), &a);
  assert_int_equal(h.n, 0);
  wsref_timer_heap_free(&h);
}

/* Random arm / move / cancel / pop against a plain array model. */
static void test_heap_random(void **state) {
  (void)state;
  enum { N = 300 };
  wsref_timer_heap h = WSREF_TIMER_HEAP_INIT;
  wsref_timer *t = calloc(N, sizeof *t);
  assert_non_null(t);
  uint64_t model[N] = {0};
  uint32_t x = 12345;
  for (int step = 0; step < 20000; step++) {
    x = x * 1103515245u + 12345u;
    size_t i = (x >> 8) % N;
    unsigned op = (x >> 24) % 4;
    if (op < 2) {
      uint64_t when = 1 + (x >> 4) % 1000;
      assert_int_equal(wsref_timer_heap_set(&h, &t[i], when), 0);
      model[i] = when;
    } else if (op == 2) {
      wsref_timer_heap_cancel(&h, &t[i]);
      model[i] = 0;
    } else {
      uint64_t now = (x >> 6) % 1000;
      wsref_timer *p = wsref_timer_heap_pop_expired(&h, now);
      uint64_t min = 0;
      for (size_t k = 0; k < N; k++)
        if (model[k] && (!min || model[k] < min)) min = model[k];
      if (min && min <= now) {
        assert_non_null(p);
        size_t k = (size_t)(p - t);
        assert_int_equal(model[k], min);
        model[k] = 0;
      } else {
        assert_null(p);
      }
    }
    if (step % 97 == 0) check_heap(&h);
    size_t armed = 0;
    for (size_t k = 0; k < N; k++) armed += model[k] != 0;
    assert_int_equal(h.n, armed);
  }
  /* Drain: deadlines come out in non-decreasing order. */
  uint64_t last = 0;
  wsref_timer *p;
  while ((p = wsref_timer_heap_pop_expired(&h, UINT64_MAX)) != NULL) {
    size_t k = (size_t)(p - t);
    assert_true(model[k] >= last);
    last = model[k];
    model[k] = 0;
  }
  for (size_t k = 0; k < N; k++) assert_int_equal(model[k], 0);
  wsref_timer_heap_free(&h);
  free(t);
}

/* ---- loop ---- */

typedef struct rec {
  wsref_timer *fired[8]; /* in firing order */
  int n;
  int reads;
  int wakes;
  int afters;
  wsref_timer *rearm; /* re-armed at "now" every time it fires */
} rec;

static void on_timer(wsref_loop *loop, wsref_timer *t) {
  rec *r = t->ud;
  if (r->n < 8) r->fired[r->n++] = t;
  if (t == r->rearm) wsref_loop_timer_set(loop, t, wsref_loop_now(loop));
}

static void test_loop_timers_order(void **state) {
  (void)state;
  wsref_loop *loop = wsref_loop_new(NULL);
  assert_non_null(loop);
  rec r = {0};
  wsref_timer t[3];
  uint64_t now = wsref_now_ms();
  int delays[3] = {30, 10, 20};
  for (int i = 0; i < 3; i++) {
    t[i] = (wsref_timer)WSREF_TIMER_INIT(on_timer, &r);
    assert_int_equal(wsref_loop_timer_set(loop, &t[i], now + (uint64_t)delays[i]), 0);
  }
  uint64_t start = wsref_now_ms();
  while (r.n < 3 && wsref_now_ms() - start < 2000) wsref_loop_run_once(loop, -1);
  assert_int_equal(r.n, 3);
  assert_ptr_equal(r.fired[0], &t[1]);
  assert_ptr_equal(r.fired[1], &t[2]);
  assert_ptr_equal(r.fired[2], &t[0]);
  /* The loop waited for the deadlines rather than spinning past them. */
  assert_true(wsref_now_ms() - now >= 30);
  wsref_loop_free(loop);
}

static void test_loop_rearm_no_spin(void **state) {
  (void)state;
  wsref_loop *loop = wsref_loop_new(NULL);
  assert_non_null(loop);
  rec r = {0};
  wsref_timer t = WSREF_TIMER_INIT(on_timer, &r);
  r.rearm = &t;
  assert_int_equal(wsref_loop_timer_set(loop, &t, wsref_now_ms()), 0);
  /* A timer that re-arms itself as due fires once per iteration, not forever. */
  wsref_loop_run_once(loop, 0);
  assert_int_equal(r.n, 1);
  wsref_loop_run_once(loop, 0);
  assert_int_equal(r.n, 2);
  wsref_loop_timer_cancel(loop, &t);
  wsref_loop_run_once(loop, 0);
  assert_int_equal(r.n, 2);
  wsref_loop_free(loop);
}

static void on_readable(wsref_loop *loop, wsref_watch *w, uint32_t revents) {
  (void)loop;
  rec *r = w->ud;
  assert_true(revents & EPOLLIN);
  char buf[16];
  ssize_t n = read(w->fd, buf, sizeof buf);
  assert_true(n > 0);
  r->reads++;
}

static void on_after(wsref_loop *loop, void *ud) {
  (void)loop;
  ((rec *)ud)->afters++;
}

static void test_loop_watch(void **state) {
  (void)state;
  wsref_loop *loop = wsref_loop_new(NULL);
  assert_non_null(loop);
  rec r = {0};
  int p[2];
  assert_int_equal(pipe(p), 0);
  wsref_watch w = {.cb = on_readable, .ud = &r};
  assert_int_equal(wsref_loop_add(loop, &w, p[0], EPOLLIN), 0);
  wsref_loop_set_after_cb(loop, on_after, &r);
  /* Nothing to read: the iteration times out with no event, the after hook still runs. */
  assert_int_equal(wsref_loop_run_once(loop, 10), 0);
  assert_int_equal(r.reads, 0);
  assert_int_equal(r.afters, 1);
  assert_int_equal(write(p[1], "x", 1), 1);
  assert_int_equal(wsref_loop_run_once(loop, 1000), 1);
  assert_int_equal(r.reads, 1);
  assert_int_equal(r.afters, 2);
  /* With the mask cleared no event is delivered, with it restored the data is read. */
  assert_int_equal(write(p[1], "y", 1), 1);
  assert_int_equal(wsref_loop_mod(loop, &w, EPOLLOUT), 0); /* never ready on a read end */
  assert_int_equal(wsref_loop_run_once(loop, 10), 0);
  assert_int_equal(r.reads, 1);
  assert_int_equal(wsref_loop_mod(loop, &w, EPOLLIN), 0);
  assert_int_equal(wsref_loop_run_once(loop, 1000), 1);
  assert_int_equal(r.reads, 2);
  /* Removed: no more events. */
  wsref_loop_del(loop, &w);
  assert_int_equal(write(p[1], "z", 1), 1);
  assert_int_equal(wsref_loop_run_once(loop, 10), 0);
  assert_int_equal(r.reads, 2);
  close(p[0]);
  close(p[1]);
  wsref_loop_free(loop);
}

static void on_wake(wsref_loop *loop, void *ud) {
  rec *r = ud;
  r->wakes++;
  wsref_loop_break(loop);
}

static void *waker(void *p) {
  usleep(20000);
  wsref_loop_wake(p);
  return NULL;
}

static void test_loop_wake_from_thread(void **state) {
  (void)state;
  wsref_loop *loop = wsref_loop_new(NULL);
  assert_non_null(loop);
  rec r = {0};
  wsref_loop_set_wake_cb(loop, on_wake, &r);
  pthread_t th;
  assert_int_equal(pthread_create(&th, NULL, waker, loop), 0);
  /* No timers, no fds: only the wake can end this run. */
  assert_int_equal(wsref_loop_run(loop), 0);
  pthread_join(th, NULL);
  assert_int_equal(r.wakes, 1);
  /* Several wakes before the loop looks coalesce into one callback. */
  wsref_loop_wake(loop);
  wsref_loop_wake(loop);
  wsref_loop_wake(loop);
  assert_int_equal(wsref_loop_run(loop), 0);
  assert_int_equal(r.wakes, 2);
  assert_int_equal(wsref_loop_run_once(loop, 0), 0);
  assert_int_equal(r.wakes, 2);
  wsref_loop_free(loop);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_heap_basic),        cmocka_unit_test(test_heap_random),
      cmocka_unit_test(test_loop_timers_order), cmocka_unit_test(test_loop_rearm_no_spin),
      cmocka_unit_test(test_loop_watch),        cmocka_unit_test(test_loop_wake_from_thread),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
