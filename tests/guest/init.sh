#!/bin/busybox sh
# The guest's /init: mounts what scry needs, runs the matrix, prints one line per result on the
# serial console (`GUEST-RESULT ok|FAIL name`), and powers off. tests/kernels.rs boots it.
/bin/busybox --install -s /bin
export PATH=/bin:/sbin:/usr/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
mkdir -p /tmp && mount -t tmpfs tmp /tmp
ip link set lo up
# A module, for the checks of module functions (it makes a dummy0 interface).
insmod /dummy.ko
echo "GUEST-UP $(uname -r)"
. /matrix.sh
echo "GUEST-DONE"
poweroff -f
