#!/bin/busybox sh
# A TCP session over loopback for the tcp tools: a listener on port 8080 (busybox nc) accepts
# one connection; the client sends a line and closes.
nc -l -p 8080 > /dev/null &
listener=$!
sleep 1
echo hello | nc -w 2 127.0.0.1 8080
wait $listener
