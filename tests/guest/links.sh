#!/bin/busybox sh
# links.sh SCRIPT: runs scry on SCRIPT and, once it has attached, prints the types of the BPF
# links it holds as fdinfo shows them (`link_type: kprobe_multi`, one line per kind), then
# stops it.
scry -e "$1" > /tmp/links.out 2>&1 &
pid=$!
i=0
while ! grep -q '^Attached' /tmp/links.out && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
cat /tmp/links.out
grep -h '^link_type:' /proc/$pid/fdinfo/* 2>/dev/null | tr -s ' \t' ' ' | sort -u
kill -INT $pid
# Bounded, so a scry that does not stop says so (with what it printed) within the check's time.
i=0
while kill -0 $pid 2>/dev/null && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $pid 2>/dev/null; then
    echo "scry did not stop within 60 s of SIGINT; it printed:"
    cat /tmp/links.out
    kill -KILL $pid
fi
wait $pid
