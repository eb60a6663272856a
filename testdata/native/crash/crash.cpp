// A C++ program that "crashes" the way sentry-native reports it: at the
// failure point it walks its own stack (glibc backtrace), lists its loaded
// images (dl_iterate_phdr: path, load address, size, GNU build-id) and prints
// a Sentry event on stdout. The e2e tests build it several ways, upload its
// debug information to stacklens and check the symbolicated event against
// llvm-symbolizer. The call chain covers namespaces, a template, a lambda,
// always_inline functions, a virtual call and a noreturn call that ends a
// function (whose return address lies past the function's end).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <execinfo.h>
#include <link.h>
#include <unistd.h>
#include <functional>
#include <string>

namespace {

struct Image {
  std::string path;
  uintptr_t addr = 0, end = 0;
  std::string build_id;
};

Image images[64];
int nimages = 0;

int collect(struct dl_phdr_info* info, size_t, void*) {
  if (nimages == 64) return 1;
  Image& im = images[nimages];
  im.path = info->dlpi_name && info->dlpi_name[0] ? info->dlpi_name : "";
  uintptr_t lo = UINTPTR_MAX, hi = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD) {
      uintptr_t s = info->dlpi_addr + ph.p_vaddr, e = s + ph.p_memsz;
      if (s < lo) lo = s;
      if (e > hi) hi = e;
    }
    if (ph.p_type == PT_NOTE) {
      const char* p = reinterpret_cast<const char*>(info->dlpi_addr + ph.p_vaddr);
      const char* end = p + ph.p_memsz;
      while (p + 12 <= end) {
        uint32_t namesz, descsz, type;
        std::memcpy(&namesz, p, 4);
        std::memcpy(&descsz, p + 4, 4);
        std::memcpy(&type, p + 8, 4);
        const char* name = p + 12;
        const char* desc = name + ((namesz + 3) & ~3u);
        if (type == 3 && namesz == 4 && std::memcmp(name, "GNU", 4) == 0) {
          char hex[3];
          for (uint32_t k = 0; k < descsz; k++) {
            std::snprintf(hex, sizeof hex, "%02x", static_cast<unsigned char>(desc[k]));
            im.build_id += hex;
          }
        }
        p = desc + ((descsz + 3) & ~3u);
      }
    }
  }
  if (lo == UINTPTR_MAX) return 0;
  // sentry-native: the first mapping's start (the image's lowest address,
  // page aligned) and a size spanning all mappings.
  im.addr = lo & ~uintptr_t(0xfff);
  im.end = hi;
  nimages++;
  return 0;
}

// The main program reports an empty dlpi_name; use its real path.
std::string self_path() {
  char buf[4096];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return "";
  buf[n] = 0;
  return buf;
}

}  // namespace

extern "C" __attribute__((noinline)) void report_crash(const char* what) {
  void* pcs[64];
  int n = backtrace(pcs, 64);
  dl_iterate_phdr(collect, nullptr);
  std::string exe = self_path();
  std::printf("{\"platform\":\"native\",\"level\":\"fatal\",\"exception\":{\"values\":[{\"type\":\"CrashReport\",\"value\":\"%s\",", what);
  // Every address from backtrace() is a return address, the first one too.
  std::printf("\"stacktrace\":{\"instruction_addr_adjustment\":\"all\",\"frames\":[");
  for (int i = n - 1; i >= 0; i--) {  // Sentry order: oldest first
    std::printf("%s{\"instruction_addr\":\"0x%lx\"}", i == n - 1 ? "" : ",", reinterpret_cast<unsigned long>(pcs[i]));
  }
  std::printf("]}}]},\"debug_meta\":{\"images\":[");
  bool first = true;
  for (int i = 0; i < nimages; i++) {
    const Image& im = images[i];
    if (im.build_id.size() < 32) continue;
    std::string path = im.path.empty() ? exe : im.path;
    // debug_id: the first 16 bytes of the build-id as a little-endian GUID.
    const std::string& b = im.build_id;
    std::string g = b.substr(6, 2) + b.substr(4, 2) + b.substr(2, 2) + b.substr(0, 2) + "-" + b.substr(10, 2) + b.substr(8, 2) + "-" +
                    b.substr(14, 2) + b.substr(12, 2) + "-" + b.substr(16, 4) + "-" + b.substr(20, 12);
    std::printf("%s{\"type\":\"elf\",\"code_file\":\"%s\",\"code_id\":\"%s\",\"debug_id\":\"%s\",\"image_addr\":\"0x%lx\",\"image_size\":%lu}",
                first ? "" : ",", path.c_str(), b.c_str(), g.c_str(), static_cast<unsigned long>(im.addr),
                static_cast<unsigned long>(im.end - im.addr));
    first = false;
  }
  std::printf("]}}\n");
  std::fflush(stdout);
}

namespace shop {

[[noreturn]] __attribute__((noinline)) void fatal(const char* why) {
  report_crash(why);
  std::exit(0);
}

namespace detail {
volatile int sink;
__attribute__((always_inline)) inline void check_total(int total) {
  if (total > 100) fatal("total over limit");
  sink = total;
}
__attribute__((always_inline)) inline void apply(int v) { check_total(v * 7); }
}  // namespace detail

template <typename T>
struct Cart {
  T total{};
  __attribute__((noinline)) void add(T v) {
    total += v;
    detail::apply(static_cast<int>(total));
  }
};

class Pricer {
 public:
  virtual ~Pricer() = default;
  virtual void price(Cart<long>& cart, int n) const = 0;
};

class BulkPricer : public Pricer {
 public:
  __attribute__((noinline)) void price(Cart<long>& cart, int n) const override {
    std::function<void(int)> each = [&cart](int i) { cart.add(i * 3); };
    for (int i = 0; i < n; i++) each(i);
    detail::sink = -1;
  }
};

}  // namespace shop

__attribute__((noinline)) int run(const shop::Pricer& p, int n) {
  shop::Cart<long> cart;
  p.price(cart, n);
  return static_cast<int>(cart.total);
}

int main(int argc, char**) {
  shop::BulkPricer bulk;
  volatile int n = 10 + argc;
  return run(bulk, n);
}
