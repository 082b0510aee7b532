/* A program with USDT probes, for tests/usdt.rs, which builds it with the system's cc and
 * <sys/sdt.h> (Debian: systemtap-sdt-dev), once optimised (arguments in registers, constants,
 * rip-relative and indexed memory) and once not (arguments on the stack).
 *
 *   usdt N        fires each probe N times, then prints how often `guarded` fired
 *   usdt N wait   the same, after a line is read from standard input
 */
#define _SDT_HAS_SEMAPHORES 1
#include <sys/sdt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A probe with a semaphore fires only while a tracer has it attached: the kernel counts
 * attached probes here. */
#define SEMAPHORE(name)                                                             \
  __extension__ unsigned short scry_test_##name##_semaphore __attribute__((unused)) \
  __attribute__((section(".probes")))
SEMAPHORE(tick);
SEMAPHORE(mixed);
SEMAPHORE(array);
SEMAPHORE(guarded);

volatile int counter = 40;
long total;
int guarded_fired;

__attribute__((noinline)) static void work(int i, const char *name) {
  long big = (long)i * 1000000007L;
  short small = -i;
  int squares[8];
  for (int k = 0; k < 8; k++)
    squares[k] = k * k;
  STAP_PROBE3(scry_test, tick, i, name, big);
  STAP_PROBE3(scry_test, mixed, counter, small, 42);
  STAP_PROBE2(scry_test, array, i, squares[(i + 2) & 7]);
  if (__builtin_expect(scry_test_guarded_semaphore, 0)) {
    STAP_PROBE1(scry_test, guarded, i);
    guarded_fired++;
  }
  total += big + squares[i & 7];
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1;
  if (argc > 2 && strcmp(argv[2], "wait") == 0) {
    char line[16];
    if (!fgets(line, sizeof line, stdin))
      return 1;
  }
  const char *names[] = {"zero", "one", "two", "three"};
  for (int i = 0; i < n; i++) {
    /* Copied to the stack: a string the process never touched may not be in memory yet, and
     * a probe cannot fault it in. */
    char name[16];
    snprintf(name, sizeof name, "%s", names[i % 4]);
    counter++;
    work(i, name);
  }
  printf("guarded fired %d times (total %ld)\n", guarded_fired, total);
  return 0;
}
