#!/bin/busybox sh
# A TCP connect that goes unanswered, for tcpretrans: dummy0 swallows every packet, so the
# SYN to 10.99.0.2 is retransmitted after a second.
ip addr add 10.99.0.1/24 dev dummy0
ip link set dummy0 up
nc -w 3 10.99.0.2 8080 < /dev/null
exit 0
