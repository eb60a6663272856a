// Source of the Breakpad parser fixture (see mksym.py).
#include <cstdio>

namespace shop {
struct Cart {
	int items[8];
	int n;
	inline int sum() const {
		int s = 0;
		for (int i = 0; i < n; i++) s += items[i] * weight(i);
		return s;
	}
	static inline int weight(int i) { return (i & 1) ? 3 : 7; }
};

__attribute__((noinline)) int total(const Cart &c, int discount) {
	int s = c.sum();
	if (s > discount) s -= discount;
	return s;
}
}  // namespace shop

__attribute__((noinline)) static int checksum(const char *p) {
	int h = 0;
	while (*p) h = h * 31 + *p++;
	return h;
}

int main(int argc, char **argv) {
	shop::Cart c = {{1, 2, 3, 4, 5, 6, 7, 8}, argc + 3};
	std::printf("%d %d\n", shop::total(c, 5), checksum(argv[0]));
	return 0;
}
