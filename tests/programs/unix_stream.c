/* A message through a Unix stream socket pair, read back: what undump.bt traces
 * (unix_stream_read_actor). Built static for the guests of tests/kernels.rs. */
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void) {
    int fds[2];
    char buf[64];
    const char *msg = "hello over unix";
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, fds) != 0)
        return 1;
    if (write(fds[0], msg, strlen(msg)) != (ssize_t)strlen(msg))
        return 1;
    return read(fds[1], buf, sizeof buf) > 0 ? 0 : 1;
}
