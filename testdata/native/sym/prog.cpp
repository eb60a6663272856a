// Ground-truth fixture for debugfiles/symbolizer: C++ features that stress
// DWARF names and inline trees (namespaces, templates, lambdas, always_inline
// chains, virtual calls, a noreturn call ending a function, static functions).
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
#include <map>
#include <string>
#include <algorithm>
#include <functional>

namespace shop {
namespace detail {

__attribute__((always_inline)) inline int leaf(int x) { return x * 3 + (x >> 2); }
__attribute__((always_inline)) inline int middle(int x) { return leaf(x) + leaf(x + 1); }
__attribute__((always_inline)) inline int outer(int x) { return middle(x) * middle(x - 1); }

}  // namespace detail

template <typename T>
struct Accumulator {
  T total{};
  void add(T v) { total += v * v; }
  template <typename F>
  T fold(const std::vector<T>& xs, F f) {
    for (const T& x : xs) total = f(total, x);
    return total;
  }
};

class Shape {
 public:
  virtual ~Shape() = default;
  virtual double area() const = 0;
  virtual const char* name() const { return "shape"; }
};

class Square : public Shape {
 public:
  explicit Square(double s) : side_(s) {}
  double area() const override { return side_ * side_; }
  const char* name() const override { return "square"; }
 private:
  double side_;
};

class Circle : public Shape {
 public:
  explicit Circle(double r) : r_(r) {}
  double area() const override { return 3.14159 * r_ * r_; }
 private:
  double r_;
};

[[noreturn]] __attribute__((noinline)) void die(const char* why) {
  std::fprintf(stderr, "fatal: %s\n", why);
  std::exit(3);
}

__attribute__((noinline)) int checked(int v) {
  if (v >= 0) return detail::outer(v);
  die("negative");
}

}  // namespace shop

namespace {
__attribute__((noinline)) long anon_sum(const std::map<std::string, int>& m) {
  long s = 0;
  for (const auto& kv : m) s += kv.second * static_cast<long>(kv.first.size());
  return s;
}
}  // namespace

static __attribute__((noinline)) int static_helper(int a, int b) {
  int r = 0;
  for (int i = 0; i < a; i++) r += (i ^ b) % 7;
  return r;
}

template <int N>
__attribute__((noinline)) int unrolled(int x) {
  return unrolled<N - 1>(x) * 2 + N;
}
template <>
__attribute__((noinline)) int unrolled<0>(int x) { return x; }

int main(int argc, char** argv) {
  std::vector<shop::Shape*> shapes;
  for (int i = 0; i < argc + 3; i++) {
    if (i % 2) shapes.push_back(new shop::Square(i));
    else shapes.push_back(new shop::Circle(i));
  }
  double a = 0;
  for (auto* s : shapes) {
    a += s->area();
    std::printf("%s\n", s->name());
  }
  shop::Accumulator<int> acc;
  std::vector<int> xs = {1, 2, 3, argc};
  for (int x : xs) acc.add(x);
  int scale = argc * 7;
  auto lam = [scale](int t, int x) { return t + x * scale; };
  int folded = acc.fold(xs, lam);
  std::map<std::string, int> m;
  m[argv[0]] = argc;
  m["two"] = 2;
  std::sort(xs.begin(), xs.end(), [](int l, int r) { return l > r; });
  std::function<int(int)> fn = [&](int v) { return static_helper(v, folded); };
  int c = shop::checked(argc);
  std::printf("%f %d %ld %d %d %d\n", a, folded, anon_sum(m), fn(argc + 5), unrolled<4>(argc), c);
  for (auto* s : shapes) delete s;
  if (argc > 10) shop::die("too many args");
  return 0;
}
