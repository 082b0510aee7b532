# The kernel matrix: what runs in each guest kernel (sourced by init.sh). Each check runs scry,
# usually with `-c` starting the program that triggers the probe (scry stops when it exits), and
# passes when scry's exit status and a line of its output are as wanted. Result lines carry the
# seconds the check took (TCG is slow: about 10 s here per scry start).

uptime() { cut -d' ' -f1 /proc/uptime; }

# `scry.only=REGEX` on the kernel's command line (SCRY_GUEST_ONLY on the host) runs only the
# checks whose names match.
ONLY=$(sed -n 's/.*scry\.only=\([^ ]*\).*/\1/p' /proc/cmdline)
skipped() { [ -n "$ONLY" ] && ! echo "$1" | grep -qE -- "$ONLY"; }

# result NAME PASSED STARTED DETAIL OUTPUT
result() {
    took=$(awk -v a="$3" -v b="$(uptime)" 'BEGIN { printf "%.1f", b - a }')
    if [ "$2" = yes ]; then
        echo "GUEST-RESULT ok $1 (${took} s)"
    else
        echo "GUEST-RESULT FAIL $1 (${took} s; $4)"
        printf '%s\n' "$5" | head -40 | sed 's/^/    | /'
    fi
}

# check NAME REGEX ARGS...: scry ARGS exits 0 and prints a line matching REGEX (grep -E).
check() {
    name=$1; want=$2; shift 2
    skipped "$name" && return
    start=$(uptime)
    out=$(timeout 120 scry "$@" 2>&1); rc=$?
    passed=no
    [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -qE -- "$want" && passed=yes
    result "$name" $passed "$start" "exit $rc; wanted a line matching /$want/" "$out"
}

# fails NAME REGEX ARGS...: scry ARGS exits 1 with a message matching REGEX, and no panic.
fails() {
    name=$1; want=$2; shift 2
    skipped "$name" && return
    start=$(uptime)
    out=$(timeout 120 scry "$@" 2>&1); rc=$?
    passed=no
    [ $rc -eq 1 ] && printf '%s\n' "$out" | grep -qE -- "$want" \
        && ! printf '%s\n' "$out" | grep -q panicked && passed=yes
    result "$name" $passed "$start" "exit $rc; wanted exit 1 and /$want/" "$out"
}

# runs NAME REGEX COMMAND: the shell command exits 0 and prints a line matching REGEX.
runs() {
    name=$1; want=$2; shift 2
    skipped "$name" && return
    start=$(uptime)
    out=$(timeout 120 sh -c "$1" 2>&1); rc=$?
    passed=no
    [ $rc -eq 0 ] && printf '%s\n' "$out" | grep -qE -- "$want" && passed=yes
    result "$name" $passed "$start" "exit $rc; wanted a line matching /$want/" "$out"
}

# Multi links: Debian's 6.1 is built without CONFIG_FPROBE (so no kprobe_multi), and
# uprobe_multi came in 6.6; there each function is attached by a perf event of its own
# (fdinfo's link type `perf`).
case $(uname -r) in
    6.1.*) MULTI=no; KPROBE_LINK=perf; UPROBE_LINK=perf ;;
    *) MULTI=yes; KPROBE_LINK=kprobe_multi; UPROBE_LINK=uprobe_multi ;;
esac

# Triggers: busybox cat opens its file (and copies it with sendfile); dd reads it with read().
CAT='cat /proc/version'
READ='dd if=/proc/version of=/dev/null bs=64 count=1'

# What the kernel has, as --info says; each type said yes to is loaded and fired below.
check info-kprobe '^  kprobe: yes' --info
check info-fentry '^  fentry: yes' --info
check info-uprobe '^  uprobe: yes' --info
check info-rawtracepoint '^  rawtracepoint: yes' --info
check info-kprobe_multi "^  kprobe_multi: $MULTI\$" --info
check info-uprobe_multi "^  uprobe_multi: $MULTI\$" --info

# kprobes and kretprobes: arguments, return values, func, probe, wildcards, stacks.
check kprobe-arg 'open /proc/version' -c "$CAT" \
    -e 'kprobe:do_sys_openat2 /comm == "cat"/ { printf("open %s\n", str(arg1)); }'
check kretprobe-retval '^ret 3$' -c "$CAT" \
    -e 'kretprobe:do_sys_openat2 /comm == "cat"/ { printf("ret %d\n", retval); }'
check kprobe-func-probe '^vfs_read kprobe:vfs_read$' -c "$READ" \
    -e 'kprobe:vfs_read /comm == "dd"/ { printf("%s %s\n", func, probe); exit(); }'
# `ctx` is the registers (`struct pt_regs *`), and the probe interrupted kernel code.
check kprobe-ctx-usermode '^ctx 1 0$' -c "$READ" \
    -e 'kprobe:vfs_read /comm == "dd"/ { printf("ctx %d %d\n", ctx->di == arg0, usermode); exit(); }'
check kprobe-offset '^at offset 0$' -c "$READ" \
    -e 'kprobe:vfs_read+0 /comm == "dd"/ { printf("at offset 0\n"); exit(); }'
check kprobe-wildcard '^@\[vfs_read\]: [0-9]+$' -c "$READ" \
    -e 'kprobe:vfs_rea* /comm == "dd"/ { @[func] = count(); }'
# A wildcard is one kprobe_multi link where the kernel has them; `func` comes from each
# function's cookie.
runs kprobe-wildcard-link "^link_type: $KPROBE_LINK\$" \
    'sh /links.sh "kprobe:vfs_rea* { @[func] = count(); }"'
check kretprobe-wildcard '^@\[vfs_read\]: 64$' -c "$READ" \
    -e 'kretprobe:vfs_rea* /comm == "dd"/ { @[func] = retval; }'
# Hundreds of functions by one wildcard, attached (and detached) in one run.
check kprobe-hundreds '^Attached [0-9]{3,} probes$' --dry-run -e 'kprobe:tcp_* { @[func] = count(); }'
check kprobe-kstack 'ksys_read' -c "$READ" \
    -e 'kprobe:vfs_read /comm == "dd"/ { @[kstack] = count(); }'
check kprobe-list '^kprobe:vfs_read$' -l 'kprobe:vfs_rea*'
fails kprobe-unknown 'nosuch_function_xyz' -e 'kprobe:nosuch_function_xyz { }'
fails kprobe-untraceable 'cannot probe `vfs_caches_init`' -e 'kprobe:vfs_caches_init { }'
check kprobe-list-all '^kprobe:vfs_read$' -l 'kprobe:*'
# A module's function, named with its module: reading /proc/net/dev asks dummy0 for its stats.
check kprobe-module-list '^kprobe:dummy:dummy_get_stats64$' -l 'kprobe:dummy:*'
check kprobe-module '^kprobe:dummy:dummy_get_stats64$' -c 'cat /proc/net/dev' \
    -e 'kprobe:dummy:dummy_get_stats64 { printf("%s\n", probe); exit(); }'

# fentry and fexit: arguments typed from BTF (a __user string too), return values.
check fentry-args 'fentry /proc/version' -c "$CAT" \
    -e 'fentry:do_sys_openat2 /comm == "cat"/ { printf("fentry %s\n", str(args.filename)); }'
check fexit-retval '^fexit 3$' -c "$CAT" \
    -e 'fexit:do_sys_openat2 /comm == "cat"/ { printf("fexit %d\n", retval); }'

# The sanity set: BEGIN/END, a tracepoint, a uprobe.
check begin-end '^end$' -e 'BEGIN { printf("begin\n"); exit(); } END { printf("end\n"); }'
# comm named twice is read once, from the task where the kernel relocates its fields, and
# pid and tid are then read from that task too.
check tracepoint 'openat /proc/version cat 1 1' -c "$CAT" \
    -e 'tracepoint:syscalls:sys_enter_openat /comm == "cat"/ { printf("openat %s %s %d %d\n", str(args.filename), comm, pid == cpid, tid == cpid); }'
check iter-task '^1 init$' \
    -e 'iter:task /ctx.task->pid == 1/ { printf("%d %s\n", ctx.task->pid, ctx.task->comm); }'
check rawtracepoint '^raw exec cat$' -c "$CAT" \
    -e 'rawtracepoint:sched_process_exec /comm == "cat"/ { printf("raw exec %s\n", comm); exit(); }'
check uprobe '^@: [1-9][0-9]*$' -c 'scry --info' \
    -e 'uprobe:/lib/x86_64-linux-gnu/libc.so.6:malloc /comm == "scry" && pid == cpid/ { @ = count(); }'

# A uprobe wildcard: one uprobe_multi link where the kernel has them, each function named.
check uprobe-wildcard '^@\[malloc\]: [1-9][0-9]*$' -c 'scry --info' \
    -e 'uprobe:/lib/x86_64-linux-gnu/libc.so.6:mallo* /comm == "scry" && pid == cpid/ { @[func] = count(); }'
runs uprobe-wildcard-link "^link_type: $UPROBE_LINK\$" \
    'sh /links.sh "uprobe:/lib/x86_64-linux-gnu/libc.so.6:mallo* { @[func] = count(); }"'

# bpftrace's kprobe tools, as Debian's bpftrace package installs them (copied in at test time,
# unchanged), against a trigger made here: each row's columns checked.
IP='127\.0\.0\.1'
check tool-tcpconnect "^[0-9:]{8} +[0-9]+ +nc +$IP +[0-9]+ +$IP +8080 *$" \
    -c 'sh /tcp.sh' /tools/tcpconnect.bt
# busybox nc listens on a dual-stack socket: the accepted connection is IPv6, v4-mapped.
check tool-tcpaccept "^[0-9:]{8} +[0-9]+ +nc +(::ffff:)?$IP +[0-9]+ +(::ffff:)?$IP +8080 +[0-9]+/[0-9]+$" \
    -c 'sh /tcp.sh' /tools/tcpaccept.bt
check tool-tcplife "^[0-9]+ +nc +$IP +[0-9]+ +$IP +[0-9]+ +[0-9]+ +[0-9]+ +[0-9]+$" \
    -c 'sh /tcp.sh' /tools/tcplife.bt
check tool-tcpsynbl '^@backlog\[[0-9]+\]: *$' -c 'sh /tcp.sh' /tools/tcpsynbl.bt
check tool-vfscount '^@\[vfs_read\]: [0-9]+$' -c "$READ" /tools/vfscount.bt
check tool-vfsstat '^@\[vfs_read\]: [0-9]+$' -c 'sh -c "sleep 2; dd if=/proc/version of=/dev/null"' \
    /tools/vfsstat.bt
check tool-tcpretrans "^[0-9:]{8} +[0-9]+ +10\.99\.0\.1:[0-9]+ +10\.99\.0\.2:8080 +SYN_SENT$" \
    -c 'sh /retrans.sh' /tools/tcpretrans.bt
check tool-undump '^[0-9:]{8} unix_stream +[0-9]+ +15 +hello over unix$' -c 'unix_stream' /tools/undump.bt
check tool-capable '^[0-9:]{8} +0 +[0-9]+ +chown +0 +CAP_CHOWN +[0-9]+$' \
    -c 'chown 1 /tmp' /tools/capable.bt
check tool-tcpdrop "^[0-9:]{8} +[0-9]+ +[^ ]+ +10\.98\.0\.1:[0-9]+ +10\.98\.0\.1:8080 +ESTABLISHED *$" \
    -c 'sh /drop.sh' /tools/tcpdrop.bt

# scry's EDR toolkit (examples/), against the workload program tests/programs/edr.c: each
# tool's row for the event it causes. capable.bt needs the capability:cap_capable
# tracepoint, which these kernels do not have: it fails with a clear error.
check edr-execsnoop '^[0-9:]{8} +[0-9]+ +[0-9]+ +0 +edr +-2 /nonexistent/scry-edr-test never$' \
    -c 'edr exec-missing' /examples/execsnoop.bt
check edr-execsnoop-json '"comm": "edr", "ret": -2, "argv": \["/nonexistent/scry-edr-test", "never"\]\}\}$' \
    -f json -c 'edr exec-missing' /examples/execsnoop.bt
check edr-exitsnoop '^[0-9:]{8} +[0-9]+ +[0-9]+ +edr +7 +0 +[0-9]+$' \
    -c 'edr exit 7' /examples/exitsnoop.bt -- --name=edr
check edr-opensnoop '^[0-9:]{8} +[0-9]+ +edr +3 0 +02000000 /init$' \
    -c 'edr open /init' /examples/opensnoop.bt -- --name=edr
check edr-tcpconnect "^[0-9:]{8} +[0-9]+ +edr +4 $IP +[0-9]+ → $IP +[0-9]+ ok\$" \
    -c 'edr tcp 127.0.0.1' /examples/tcpconnect.bt -- --name=edr
check edr-tcpaccept "^[0-9:]{8} +[0-9]+ +edr +4 $IP +[0-9]+ ← $IP +[0-9]+\$" \
    -c 'edr tcp 127.0.0.1' /examples/tcpaccept.bt -- --name=edr
check edr-tcplife "^[0-9:]{8} +[0-9]+ +edr +4 $IP +[0-9]+ $IP +[0-9]+ +100[0-2] +30[0-2] +[0-9]+\$" \
    -c 'edr tcp 127.0.0.1' /examples/tcplife.bt
check edr-tcpretrans "^[0-9:]{8} +4 $IP +[0-9]+ → $IP +[0-9]+ SYN_SENT\$" \
    -c 'edr retrans' /examples/tcpretrans.bt
fails edr-capable-no-tracepoint 'capability:cap_capable' --dry-run /examples/capable.bt
check edr-killsnoop '^[0-9:]{8} +[0-9]+ +edr +15 Terminated +[0-9]+ +0$' \
    -c 'edr kill' /examples/killsnoop.bt
check edr-setuids '^[0-9:]{8} +[0-9]+ +edr +0 +setresuid +65534 +65534 +-1 +0$' \
    -c 'edr setuid' /examples/setuids.bt
check edr-syscount '^@syscalls\[openat2\]: 1$' -c 'edr open /init' /examples/syscount.bt -- --name=edr

# Flame graphs (docs/flamegraphs.md): offcputime.bt's folded stacks hold sleep's wait in the
# kernel, and profile.bt's SVG is drawn with its title.
check flame-offcputime '^sleep;.*;do_nanosleep_\[k\];.* [0-9]+$' \
    -q -f folded -c 'sleep 0.3' /examples/offcputime.bt
runs flame-profile-svg '<title>all \([0-9,]+ samples, 100%\)</title>.*@: profile:hz:99|@: profile:hz:99.*<title>all' \
    "scry -q --flamegraph /tmp/cpu.svg -c 'sleep 0.5' /examples/profile.bt >/dev/null && cat /tmp/cpu.svg"
