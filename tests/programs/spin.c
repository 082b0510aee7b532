// The flame graph tests' workload: spins on the CPU for the seconds its argument gives
// (default 1), in spin_hot three times as long as in spin_cold, both called by spin.
// Built with frame pointers so that user stacks can be walked.
#include <stdlib.h>
#include <time.h>

static volatile unsigned long sink;

__attribute__((noinline)) void spin_hot(void) {
    for (unsigned long i = 0; i < 3000000; i++)
        sink += i;
}

__attribute__((noinline)) void spin_cold(void) {
    for (unsigned long i = 0; i < 1000000; i++)
        sink += i;
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

__attribute__((noinline)) void spin(double seconds) {
    double end = now() + seconds;
    while (now() < end) {
        spin_hot();
        spin_cold();
    }
}

int main(int argc, char **argv) {
    spin(argc > 1 ? atof(argv[1]) : 1.0);
    return 0;
}
