#!/bin/busybox sh
# TCP packets dropped with a reason while their socket holds them, for tcpdrop: a connection
# to 10.98.0.1 (dummy0's address, so over loopback) is established, then the address goes
# away, so the client's next data has no route (SKB_DROP_REASON_IP_OUTNOROUTES, ESTABLISHED).
ip link set dummy0 up
ip addr add 10.98.0.1/24 dev dummy0
# The listener's stdin stays open, or it would close the connection at once.
sleep 5 | nc -l -p 8080 > /dev/null &
sleep 1
(sleep 2; echo after) | nc 10.98.0.1 8080 > /dev/null &
sleep 1
ip addr del 10.98.0.1/24 dev dummy0
sleep 2
killall nc
exit 0
