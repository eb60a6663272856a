// Crash fixture (C++): a namespace, a template, a lambda, a virtual call and
// an always_inline chain lead to a NULL store; see crash_common.h.
#include "crash_common.h"
#include <functional>
#include <vector>

namespace shop {

struct Item { int qty; int* out; };

__attribute__((always_inline)) inline void write_total(int* out, int v) { *out = v; }

template <typename T>
struct Ledger {
  std::vector<T> items;
  __attribute__((noinline)) void close() {
    int sum = 0;
    for (auto& it : items) sum += it.qty;
    for (auto& it : items) write_total(it.out, sum);
  }
};

class Checkout {
 public:
  virtual ~Checkout() = default;
  virtual void pay(Ledger<Item>& l) = 0;
};

class CardCheckout : public Checkout {
 public:
  __attribute__((noinline)) void pay(Ledger<Item>& l) override {
    std::function<void()> f = [&l]() { l.close(); };
    f();
    __asm__ volatile("" ::: "memory");  // no tail call: keep pay's frame
  }
};

}  // namespace shop

__attribute__((noinline)) void run(shop::Checkout* c, shop::Ledger<shop::Item>& l) {
  c->pay(l);
  __asm__ volatile("" ::: "memory");
}

int main(int argc, char**) {
  crash_install();
  shop::Ledger<shop::Item> l;
  l.items.push_back({argc, nullptr});
  shop::CardCheckout c;
  run(&c, l);
  return 0;
}
