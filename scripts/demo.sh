#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
# `make demo`, inside the svm box: kvisor loaded, then the sample guests
# run by the kvisor tool (their files are in /selftests/kvisor), then the
# box's own Linux kernel booted to a shell under kvisor.
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

# A Linux guest: the box's own kernel under `kvisor run --kernel`, one
# vCPU, a busybox initramfs whose /init starts a shell on the console;
# the commands go in through kvisor's stdin once the shell is up.
echo "== kvisor run --kernel /boot/vmlinuz-$(uname -r) (a Linux guest)"
d=$(mktemp -d)
cat >"$d/init" <<'EOI'
#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo "guest: Linux $(uname -r), $(grep -c ^processor /proc/cpuinfo) CPUs, shell on the console"
exec setsid cttyhack sh -i
EOI
sh "$g/linux_initramfs.sh" "$d/initrd" "$d/init"
mkfifo "$d/in"
kvisor run --stats --mem 256M --kernel "/boot/vmlinuz-$(uname -r)" \
	--initrd "$d/initrd" --cmdline "console=ttyS0 quiet panic=-1" \
	<"$d/in" >"$d/out" 2>&1 &
pid=$!
exec 3>"$d/in"
i=0
while kill -0 "$pid" 2>/dev/null && ! grep -q "shell on the console" "$d/out" && [ $i -lt 3000 ]; do
	sleep 0.2
	i=$((i + 1))
done
sleep 2
echo 'echo "hello from a shell in the Linux guest"; uname -a; cat /proc/interrupts | head -3; date; poweroff -f' >&3
set +e
wait "$pid"
st=$?
cat "$d/out"
echo "-> exit status $st"
exec 3>&-
rm -rf "$d"
