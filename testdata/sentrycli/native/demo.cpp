// A small program with a few frames and an inlined function, uploaded by
// the sentry-cli tests as a debug file (and, stripped, with its
// --only-keep-debug companion).
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

namespace demo {

static inline int checked_div(int a, int b) {
  if (b == 0) {
    throw std::runtime_error("division by zero");
  }
  return a / b;
}

__attribute__((noinline)) int average(const int* values, int count) {
  int sum = 0;
  for (int i = 0; i < count; i++) {
    sum += values[i];
  }
  return checked_div(sum, count);
}

}  // namespace demo

int main(int argc, char** argv) {
  int values[] = {3, 5, 7};
  std::printf("%d\n", demo::average(values, argc > 1 ? std::atoi(argv[1]) : 3));
  return 0;
}
