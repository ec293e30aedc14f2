#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# linux_boot_test.sh: boot the test box's own kernel (/boot/vmlinuz-$(uname
# -r), Debian's, unmodified) under `kvisor run --kernel` with a busybox
# initramfs built here (linux_initramfs.sh), with 1 and with 2 vCPUs, and
# check from inside the guest (its /init prints GUEST-* lines):
#   - the CPU count (/proc/cpuinfo) is the --cpus given, all online
#   - time advances at the host's rate: /proc/uptime across `sleep 6` in
#     the guest against the box's /proc/uptime when those lines arrive
#     (ratio 0.75-1.33: the lines cross a UART, so no tighter), and the
#     guest's date (from the RTC and kvmclock) is the box's, within 10 s
#   - local timer interrupts (/proc/interrupts LOC) rise on every CPU
#   - a process runs on each CPU (taskset -c N, /proc/self/stat field 39)
#   - a line written to kvisor's stdin once the guest asks for it arrives
#     (interrupt-driven 8250: the guest's read blocks without polling)
#   - `poweroff -f` in the guest ends kvisor with status 0 (ACPI S5)
# and that `reboot -f` ends it with status 18.  With KVISOR_DEBIAN_INITRD,
# Debian's own initramfs (initramfs-tools) with break=top reaches its
# "(initramfs)" shell, runs a typed command and powers off.  TAP; POSIX sh
# (busybox).
#
# usage: linux_boot_test.sh
#   KVISOR         the tool (default: kvisor on PATH)
#   KVISOR_VMLINUZ the kernel (default: /boot/vmlinuz-$(uname -r))
#   KVISOR_DEBIAN_INITRD  Debian's initrd.img for the kernel (default: none,
#                  that part is skipped; `make check-linux` adds it)
#
# Exit status: 0 when every test passed, 1 otherwise (a missing kernel or
# /dev/kvisor is a failure, not a skip: the boxes have both).
here=$(cd "$(dirname "$0")" && pwd)
KVISOR=${KVISOR:-kvisor}
vmlinuz=${KVISOR_VMLINUZ:-/boot/vmlinuz-$(uname -r)}
boot_timeout=420	# seconds of box time for one guest run

n=0
failed=0
echo "TAP version 13"
ok() { n=$((n + 1)); echo "ok $n - $1"; }
not_ok() { n=$((n + 1)); failed=$((failed + 1)); echo "not ok $n - $1"; }
check() { if [ "$1" = 0 ]; then ok "$2"; else not_ok "$2"; fi; }

tmp=$(mktemp -d /tmp/linux_boot_test.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

uptime_s() { cut -d' ' -f1 /proc/uptime; }
# The guest's lines on our console: a guest panic must not read as the
# box's own (scripts/testbox stops the box on "Kernel panic - not syncing").
show() { tr -d '\r' | sed -e "s/^/# $1: /" -e 's/Kernel panic - not/Kernel panic (guest) - not/'; }

if ! grep -qwE 'vmx|svm' /proc/cpuinfo && [ ! -e /dev/kvisor ]; then
	echo "ok 1 - linux boot # SKIP no VT-x or AMD-V on this CPU"
	echo "1..1"
	exit 0
fi
if [ ! -r "$vmlinuz" ]; then
	not_ok "the box's kernel $vmlinuz is missing (scripts/testbox puts it in /boot)"
	echo "1..$n"
	exit 1
fi

# --- the guest's /init ----------------------------------------------------
cat >"$tmp/init" <<'EOF'
#!/bin/sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
exec </dev/console >/dev/console 2>&1
n=$(grep -c '^processor' /proc/cpuinfo)
echo "GUEST-CPUS $n online $(cat /sys/devices/system/cpu/online)"
i=0
while [ "$i" -lt "$n" ]; do
	echo "GUEST-RAN-ON $i $(taskset -c "$i" cut -d' ' -f39 /proc/self/stat)"
	i=$((i + 1))
done
echo "GUEST-LOC1 $(grep LOC: /proc/interrupts)"
read -r up0 rest </proc/uptime
echo "GUEST-T0 $up0 $(date +%s)"
sleep 6
read -r up1 rest </proc/uptime
echo "GUEST-T1 $up1 $(date +%s)"
echo "GUEST-LOC2 $(grep LOC: /proc/interrupts)"
if grep -q kvisor.reboot /proc/cmdline; then
	echo "GUEST-REBOOTING"
	reboot -f
fi
echo "GUEST-READY"
read -r line
echo "GUEST-GOT [$line]"
echo "GUEST-IRQ $(grep ttyS /proc/interrupts)"
poweroff -f
EOF
if sh "$here/linux_initramfs.sh" "$tmp/guest.cpio" "$tmp/init" >"$tmp/mk.err" 2>&1; then
	ok "busybox initramfs built ($(wc -c <"$tmp/guest.cpio") bytes)"
else
	not_ok "busybox initramfs: $(cat "$tmp/mk.err")"
	echo "1..$n"
	exit 1
fi

# field N (1-based, after the tag) of the first line tagged @tag
field() { grep -a "^$1 " "$tmp/out" | head -n 1 | tr -d '\r' | awk -v f="$2" '{ print $(f + 1) }'; }

# boot_guest CPUS EXTRA-CMDLINE: run kvisor in the background with stdin
# from a fifo (fd 3 writes it), timestamping the GUEST-T0/T1 lines with
# the box's uptime; answers GUEST-READY with a line; sets $status.
boot_guest() {
	cpus=$1
	rm -f "$tmp/in" "$tmp/out" "$tmp/err"
	mkfifo "$tmp/in"
	"$KVISOR" run --stats --mem 256M --cpus "$cpus" --kernel "$vmlinuz" \
		--initrd "$tmp/guest.cpio" \
		--cmdline "console=ttyS0 loglevel=4 panic=-1 $2" \
		<"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	exec 3>"$tmp/in"
	h0= h1= sent= start=$(uptime_s)
	while kill -0 "$pid" 2>/dev/null; do
		if [ -z "$h0" ] && grep -aq '^GUEST-T0 ' "$tmp/out"; then
			h0=$(uptime_s)
		fi
		if [ -z "$h1" ] && grep -aq '^GUEST-T1 ' "$tmp/out"; then
			h1=$(uptime_s)
		fi
		if [ -z "$sent" ] && grep -aq '^GUEST-READY' "$tmp/out"; then
			echo "typed into kvisor 42" >&3
			sent=1
		fi
		if awk -v s="$start" -v n="$(uptime_s)" -v t="$boot_timeout" \
		       'BEGIN { exit !(n - s > t) }'; then
			echo "# guest still running after ${boot_timeout}s: killing kvisor (pid $pid)"
			kill "$pid"
			break
		fi
		sleep 0.1
	done
	exec 3>&-
	wait "$pid"
	status=$?
	host_date=$(date +%s)
	grep -a -e GUEST -e 'kvisor' -e 'Kernel panic' -e 'bad frame' -e 'BUG' \
		-e 'WARNING' "$tmp/out" | head -n 40 | show out
	head -n 40 "$tmp/err" | show err
}

for cpus in 1 2; do
	boot_guest "$cpus" ""
	pre="--cpus $cpus:"
	got=$(field GUEST-CPUS 1)
	[ "$got" = "$cpus" ]
	check $? "$pre /proc/cpuinfo lists $cpus CPU(s) (got '${got:-nothing}')"
	want_online=0
	[ "$cpus" = 1 ] || want_online=0-$((cpus - 1))
	got=$(field GUEST-CPUS 3)
	[ "$got" = "$want_online" ]
	check $? "$pre CPUs online: $want_online (got '${got:-nothing}')"
	i=0
	while [ "$i" -lt "$cpus" ]; do
		got=$(grep -a "^GUEST-RAN-ON $i " "$tmp/out" | head -n 1 | tr -d '\r' | awk '{ print $3 }')
		[ "$got" = "$i" ]
		check $? "$pre a process pinned to CPU $i ran there (got '${got:-nothing}')"
		i=$((i + 1))
	done
	# LOC: counts per CPU, twice, 6 s apart: every column must rise
	l1=$(grep -a '^GUEST-LOC1 ' "$tmp/out" | head -n 1 | tr -d '\r')
	l2=$(grep -a '^GUEST-LOC2 ' "$tmp/out" | head -n 1 | tr -d '\r')
	echo "$l1" | awk -v l2="$l2" -v c="$cpus" '
		{ split(l2, b, " "); if (NF < 2 + c) exit 1
		  for (i = 3; i < 3 + c; i++) if (b[i] + 0 <= $i + 0) exit 1 }'
	check $? "$pre local timer interrupts rose on every CPU ('$l1' -> '$l2')"
	g0=$(field GUEST-T0 1) g1=$(field GUEST-T1 1) gd=$(field GUEST-T1 2)
	if [ -n "$g0" ] && [ -n "$g1" ] && [ -n "$h0" ] && [ -n "$h1" ]; then
		awk -v g0="$g0" -v g1="$g1" -v h0="$h0" -v h1="$h1" 'BEGIN {
			r = (g1 - g0) / (h1 - h0); exit !(r > 0.75 && r < 1.33) }'
		check $? "$pre guest time advances at the host's rate: guest $g0 -> $g1 s, box $h0 -> $h1 s"
	else
		not_ok "$pre guest time rate: no GUEST-T0/T1 lines (guest '$g0' '$g1', box '$h0' '$h1')"
	fi
	[ -n "$gd" ] && [ $((host_date - gd)) -le 10 ] && [ $((gd - host_date)) -le 10 ]
	check $? "$pre guest date $gd is the box's $host_date (within 10 s)"
	grep -aq '^GUEST-GOT \[typed into kvisor 42\]' "$tmp/out"
	check $? "$pre a line written to stdin reached the guest"
	got=$(grep -a '^GUEST-IRQ ' "$tmp/out" | head -n 1 | tr -d '\r')
	echo "$got" | awk '{ s = 0; for (i = 3; i <= NF; i++) if ($i ~ /^[0-9]+$/) s += $i; exit !(s > 0) }'
	check $? "$pre the UART's IRQ 4 was taken ('$got')"
	[ "$status" = 0 ] && grep -q "guest powered off (ACPI S5)" "$tmp/err"
	check $? "$pre poweroff: status 0 (got $status)"
	grep -q "exits by reason" "$tmp/err"
	check $? "$pre --stats printed"
done

boot_guest 1 "kvisor.reboot"
[ "$status" = 18 ] && grep -q "guest reset the machine" "$tmp/err"
check $? "reboot -f: status 18 (got $status)"

# Debian's initramfs-tools initrd, stopped at its first break point (no
# panic=: initramfs-tools' break goes through its panic(), which with
# panic= reboots instead of starting the shell)
if [ -n "${KVISOR_DEBIAN_INITRD:-}" ]; then
	rm -f "$tmp/in" "$tmp/out" "$tmp/err"
	mkfifo "$tmp/in"
	"$KVISOR" run --stats --mem 512M --kernel "$vmlinuz" \
		--initrd "$KVISOR_DEBIAN_INITRD" \
		--cmdline "console=ttyS0 break=top" \
		<"$tmp/in" >"$tmp/out" 2>"$tmp/err" &
	pid=$!
	exec 3>"$tmp/in"
	start=$(uptime_s) step=prompt
	while kill -0 "$pid" 2>/dev/null; do
		if [ "$step" = prompt ] && grep -aq '(initramfs)' "$tmp/out"; then
			sleep 1
			echo 'echo "typed command ran: $((6 * 7))"' >&3
			step=command
		elif [ "$step" = command ] && grep -aq '^typed command ran: 42' "$tmp/out"; then
			echo 'poweroff -f' >&3
			step=poweroff
		fi
		if awk -v s="$start" -v n="$(uptime_s)" -v t="$boot_timeout" \
		       'BEGIN { exit !(n - s > t) }'; then
			echo "# Debian initramfs still running after ${boot_timeout}s: killing kvisor (pid $pid)"
			kill "$pid"
			break
		fi
		sleep 0.2
	done
	exec 3>&-
	wait "$pid"
	status=$?
	tail -n 15 "$tmp/out" | show out
	grep -v '^ ' "$tmp/err" | show err
	[ "$step" != prompt ]
	check $? "Debian initramfs, break=top: the (initramfs) shell prompt"
	grep -aq '^typed command ran: 42' "$tmp/out"
	check $? "Debian initramfs: a typed command ran"
	[ "$status" = 0 ]
	check $? "Debian initramfs: poweroff -f, status 0 (got $status)"
fi

echo "1..$n"
[ "$failed" = 0 ]
