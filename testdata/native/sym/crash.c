/* Crash fixture (C): a static function, an always_inline chain and a
 * function pointer lead to a NULL store; see crash_common.h for the event. */
#include "crash_common.h"

struct job { int id; int *slot; };

static inline __attribute__((always_inline)) void store(int *p, int v) { *p = v; }
static inline __attribute__((always_inline)) void finish(struct job *j) { store(j->slot, j->id * 2); }

static __attribute__((noinline)) void run_job(struct job *j) {
  finish(j);
  __asm__ volatile("" ::: "memory");
}

__attribute__((noinline)) void dispatch(void (*fn)(struct job *), struct job *j) {
  fn(j);
  __asm__ volatile("" ::: "memory");
}

int main(int argc, char **argv) {
  (void)argv;
  crash_install();
  struct job j = { argc, NULL };
  dispatch(run_job, &j);
  return 0;
}
