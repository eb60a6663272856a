/* Ground-truth fixture (C): static functions, always_inline chains,
 * a noreturn call at the end of a function, function pointers. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct point { int x, y; };

static inline __attribute__((always_inline)) int sq(int v) { return v * v; }
static inline __attribute__((always_inline)) int dist2(struct point a, struct point b) {
  return sq(a.x - b.x) + sq(a.y - b.y);
}

static __attribute__((noinline)) int nearest(const struct point *ps, int n, struct point q) {
  int best = -1, bd = 1 << 30;
  for (int i = 0; i < n; i++) {
    int d = dist2(ps[i], q);
    if (d < bd) { bd = d; best = i; }
  }
  return best;
}

__attribute__((noreturn, noinline)) void fail(const char *msg) {
  fprintf(stderr, "%s\n", msg);
  abort();
}

__attribute__((noinline)) int parse_positive(const char *s) {
  int v = atoi(s);
  if (v > 0) return v;
  fail("not positive");
}

static int cmp_int(const void *a, const void *b) {
  return *(const int *)a - *(const int *)b;
}

int main(int argc, char **argv) {
  struct point ps[16];
  for (int i = 0; i < 16; i++) { ps[i].x = i * 3 % 7; ps[i].y = i * 5 % 11; }
  struct point q = { argc, argc * 2 };
  int vals[8];
  for (int i = 0; i < 8; i++) vals[i] = (argc * 31 + i * 17) % 13;
  qsort(vals, 8, sizeof vals[0], cmp_int);
  int n = parse_positive(argc > 1 ? argv[1] : "5");
  printf("%d %d %d\n", nearest(ps, 16, q), vals[0], n);
  return 0;
}
