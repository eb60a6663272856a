/* Smallest ELF with DWARF and an inline: seeds for FuzzOpen. */
static inline __attribute__((always_inline)) int sq(int x) { return x * x; }
int f(int a) { return sq(a) + 1; }
void _start(void) { for (;;) f(3); }
