#!/usr/bin/env bash
# The EDR toolkit's overhead per event, measured: each tool in examples/ runs (release build,
# -f json, output to a file) while a workload makes a known number of its events
# (tests/programs/edr.c), and the kernel's own BPF statistics (kernel.bpf_stats_enabled)
# give the time spent in the tool's programs. Prints, per tool:
#   events     event records the tool wrote (rows)
#   hits       times its programs ran (every probe hit, also those its predicates dropped)
#   ns/hit     kernel time per program run: what each traced syscall or state change pays
#   ns/event   kernel time of all its programs divided by the events reported
#   user µs    scry's own CPU time (its main thread's, from /proc/PID/schedstat) per event
#              reported, from attach to the end
# Usage: bench/edr.sh [ROUNDS]   (as root; installs bpftool when missing)
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-200}

cargo build -q --release
scry=target/release/scry
mkdir -p target/bench
cc -O2 -o target/bench/edr tests/programs/edr.c
edr=target/bench/edr
command -v bpftool >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends bpftool >/dev/null

stats_before=$(sysctl -n kernel.bpf_stats_enabled)
pid=
trap 'sysctl -qw kernel.bpf_stats_enabled=$stats_before; [ -z "$pid" ] || kill -INT "$pid" 2>/dev/null || true' EXIT
sysctl -qw kernel.bpf_stats_enabled=1

# The workload of each tool: one command, run ROUNDS times (fewer for the slow ones).
workload() {
  case $1 in
    execsnoop) "$edr" exec-missing ;;
    exitsnoop) "$edr" exit 3 || true ;;
    opensnoop) "$edr" open /etc/hostname >/dev/null ;;
    tcpconnect | tcpaccept | tcplife) "$edr" tcp 127.0.0.1 >/dev/null ;;
    tcpretrans) "$edr" retrans >/dev/null ;;
    capable | setuids) "$edr" setuid ;;
    killsnoop) "$edr" kill >/dev/null ;;
    syscount) "$edr" open /etc/hostname >/dev/null ;;
  esac
}

# measure NAME ROUNDS WORKLOAD SCRY-ARGS...: one row. Events are the `event` records written
# (for a tool that only keeps maps, the workload's rounds).
measure() {
  local name=$1 n=$2 work=$3
  shift 3
  local out=target/bench/$name.json
  "$scry" -f json "$@" >"$out" 2>"target/bench/$name.err" &
  pid=$!
  until grep -q attached_probes "$out" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { cat "target/bench/$name.err" >&2; exit 1; }
    sleep 0.05
  done
  local cpu0 cpu hits ns events
  cpu0=$(cut -d' ' -f1 "/proc/$pid/schedstat")
  for _ in $(seq "$n"); do workload "$work"; done
  sleep 0.2
  # `ID: TYPE  name NAME  tag …  run_time_ns T run_cnt C`, for each of the run's programs.
  read -r hits ns < <(bpftool prog show | awk -v p="$(printf 'scry%x_' "$pid")" '
    $0 ~ "name " p { for (i = 1; i < NF; i++) { if ($i == "run_time_ns") t += $(i+1); if ($i == "run_cnt") c += $(i+1) } }
    END { print c + 0, t + 0 }')
  cpu=$(cut -d' ' -f1 "/proc/$pid/schedstat")
  kill -INT "$pid"
  wait "$pid" || true
  pid=
  events=$(grep -c '"type": "event"' "$out" || true)
  [ "$events" != 0 ] || events=$n
  awk -v t="$name" -v e="$events" -v h="$hits" -v ns="$ns" -v u="$((cpu - cpu0))" 'BEGIN {
    printf "%-12s %7d %9d %8.0f %9.0f %8.1f\n", t, e, h, (h ? ns / h : 0), (e ? ns / e : 0), (e ? u / 1000 / e : 0) }'
}

printf '%-12s %7s %9s %8s %9s %8s\n' tool events hits ns/hit ns/event "user µs"
for tool in execsnoop exitsnoop opensnoop tcpconnect tcpaccept tcplife tcpretrans capable killsnoop setuids syscount; do
  n=$rounds
  case $tool in tcpconnect | tcpaccept | tcplife) n=$((rounds / 4)) ;; tcpretrans) n=3 ;; esac
  # Only the workload's events where the tool can tell them: its comm is edr.
  opts=(--name=edr)
  case $tool in tcpretrans | tcplife | killsnoop | setuids) opts=() ;; esac
  measure "$tool" "$n" "$tool" "examples/$tool.bt" -- "${opts[@]}"
done
echo "(syscount: events = workload runs; it reports one map at exit, not events)"

# Baselines on the same probe and workload as exitsnoop: an empty program, one that only
# counts in a map, one that sends a record per event.
echo
probe='tracepoint:sched:sched_process_exit /comm == "edr"/'
measure "(empty)" "$rounds" exitsnoop -e "$probe { }"
measure "(count)" "$rounds" exitsnoop -e "$probe { @[comm] = count(); }"
measure "(record)" "$rounds" exitsnoop -e "$probe { printf(\"%d\\n\", pid); }"
echo "(baselines: events = workload runs; printf records are not events)"
