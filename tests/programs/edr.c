// The workload of the EDR toolkit's tests (tests/toolkit.rs): each subcommand causes one
// kind of event a tool reports, from a process whose comm is known ("edr"), and prints what
// the test needs to recognise it.
//
//   edr exec-missing            an execve of a path that does not exist (ENOENT)
//   edr execveat-missing        the same with execveat
//   edr exit CODE               exits with CODE
//   edr open PATH               openat2(PATH), openat(PATH), then open(PATH); prints each
//                               result
//   edr tcp ADDR                listens on ADDR (127.0.0.1 or ::1), connects to itself,
//                               accepts, sends 1000 bytes one way and 300 back, closes;
//                               prints "ports LISTEN CLIENT"
//   edr retrans                 a connect whose SYN the full listener drops, so the kernel
//                               retransmits it; prints "port LISTEN"
//   edr kill                    sends SIGTERM to a child, and signal 0 to a pid that does
//                               not exist; prints "child PID"
//   edr setuid                  setresuid(65534, 65534, -1), then kill(1, 0), which the
//                               kernel refuses for lack of CAP_KILL
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int die(const char *what) {
    perror(what);
    exit(100);
}

static socklen_t sockaddr_of(const char *addr, int port, struct sockaddr_storage *ss) {
    memset(ss, 0, sizeof(*ss));
    if (strchr(addr, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons(port);
        inet_pton(AF_INET6, addr, &a->sin6_addr);
        return sizeof(*a);
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons(port);
    inet_pton(AF_INET, addr, &a->sin_addr);
    return sizeof(*a);
}

static int port_of(int fd) {
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
        die("getsockname");
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return ntohs(((struct sockaddr_in *)&ss)->sin_port);
}

/// A listening socket on ADDR and a port the kernel picks.
static int listener(const char *addr, int backlog) {
    struct sockaddr_storage ss;
    socklen_t len = sockaddr_of(addr, 0, &ss);
    int l = socket(ss.ss_family, SOCK_STREAM, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&ss, len) < 0 || listen(l, backlog) < 0)
        die("listen");
    return l;
}

static int connect_to(const char *addr, int port, int flags) {
    struct sockaddr_storage ss;
    socklen_t len = sockaddr_of(addr, port, &ss);
    int c = socket(ss.ss_family, SOCK_STREAM | flags, 0);
    if (c < 0)
        die("socket");
    if (connect(c, (struct sockaddr *)&ss, len) < 0 && errno != EINPROGRESS)
        die("connect");
    return c;
}

static void transfer(int from, int to, size_t n) {
    char buf[1000];
    memset(buf, 'x', sizeof(buf));
    if (write(from, buf, n) != (ssize_t)n)
        die("write");
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(to, buf, sizeof(buf));
        if (r <= 0)
            die("read");
        got += r;
    }
}

int main(int argc, char **argv) {
    if (argc < 2)
        return 2;
    const char *cmd = argv[1];
    if (!strcmp(cmd, "exec-missing")) {
        char *args[] = {"/nonexistent/scry-edr-test", "never", NULL};
        execve(args[0], args, environ);
        return 0;
    }
    if (!strcmp(cmd, "execveat-missing")) {
        char *args[] = {"/nonexistent/scry-edr-execveat", "at", NULL};
        syscall(SYS_execveat, AT_FDCWD, args[0], args, environ, 0);
        return 0;
    }
    if (!strcmp(cmd, "exit") && argc > 2)
        return atoi(argv[2]);
    if (!strcmp(cmd, "open") && argc > 2) {
        struct open_how how = {.flags = O_RDONLY | O_CLOEXEC};
        long fd = syscall(SYS_openat2, AT_FDCWD, argv[2], &how, sizeof(how));
        printf("openat2 %ld\n", fd < 0 ? -errno : fd);
        fd = openat(AT_FDCWD, argv[2], O_RDONLY);
        printf("openat %ld\n", fd < 0 ? -errno : fd);
        fd = syscall(SYS_open, argv[2], O_RDONLY | O_NONBLOCK);
        printf("open %ld\n", fd < 0 ? -errno : fd);
        return 0;
    }
    if (!strcmp(cmd, "tcp") && argc > 2) {
        int l = listener(argv[2], 8);
        int port = port_of(l);
        int c = connect_to(argv[2], port, 0);
        int s = accept(l, NULL, NULL);
        if (s < 0)
            die("accept");
        transfer(c, s, 1000);
        transfer(s, c, 300);
        printf("ports %d %d\n", port, port_of(c));
        fflush(stdout);
        close(c);
        close(s);
        close(l);
        // The closing handshake ends in softirqs; let it finish before exiting.
        usleep(100 * 1000);
        return 0;
    }
    if (!strcmp(cmd, "retrans")) {
        // A backlog of 0 holds one connection; the next SYN is dropped and sent again
        // after the initial retransmission timeout (1 s).
        int l = listener("127.0.0.1", 0);
        int port = port_of(l);
        connect_to("127.0.0.1", port, 0);
        connect_to("127.0.0.1", port, SOCK_NONBLOCK);
        printf("port %d\n", port);
        fflush(stdout);
        sleep(2);
        return 0;
    }
    if (!strcmp(cmd, "kill")) {
        pid_t child = fork();
        if (child == 0) {
            pause();
            _exit(0);
        }
        kill(child, SIGTERM);
        waitpid(child, NULL, 0);
        kill(999999, 0);
        printf("child %d\n", child);
        return 0;
    }
    if (!strcmp(cmd, "setuid")) {
        if (setresuid(65534, 65534, -1) < 0)
            die("setresuid");
        kill(1, 0);
        return 0;
    }
    fprintf(stderr, "unknown command %s\n", cmd);
    return 2;
}
