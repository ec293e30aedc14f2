#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# `make demo`, inside the svm box: kvisor loaded, then the sample guests
# run by the kvisor tool (their files are in /selftests/kvisor).
set -e
g=/selftests/kvisor
echo "== the kernel log: kvisor loaded"
dmesg | grep 'kvisor:' | grep -v 'taint'
echo "== kvisor info"
kvisor info
for img in real16.bin mb32.elf long64.elf; do
	echo "== kvisor run --stats $img"
	set +e
	echo "hello from stdin" | kvisor run --stats --cmdline "demo cmdline" "$g/$img"
	echo "-> exit status $?"
	set -e
done
