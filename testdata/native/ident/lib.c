/* Source of the identification fixtures; build.sh compiles it for each target. */
#if defined(_WIN32)
#define EXPORT __declspec(dllexport)
#else
#define EXPORT
#endif

static volatile int sink;

int helper(int x) {
	sink = x;
	return x * 3 + 1;
}

EXPORT int entry(int a) {
	int r = helper(a) + 2;
	sink = r;
	return r;
}
