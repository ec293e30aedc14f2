#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# `make demo`, inside the svm box: show kvisor loaded and working.
set -e
echo "== the kernel log: kvisor loaded"
dmesg | grep 'kvisor:' | grep -v 'taints kernel'
echo "== /dev/kvisor"
ls -l /dev/kvisor
echo "== kvisor info"
kvisor info
echo "== CPUs in AMD-V operation (on demand: none until a VM exists)"
echo "[$(cat /sys/kernel/debug/kvisor/hw_cpus)]"
