#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# tool_test.sh: end-to-end test of the kvisor command, in TAP.  Runs
# `kvisor run` on every sample guest (checking what they print and the
# exit status) and on every crafted bad image (checking it is refused
# with the file, the reason and status 6 before /dev/kvisor is opened:
# those runs point --device at a path that does not exist, so a tool
# that opened the device first would fail with status 4 instead).
# POSIX sh; runs in the boxes' busybox.
#
# usage: tool_test.sh [DIR]
#   DIR       the sample guests (real16.bin, halt16.bin, triple16.bin,
#             idle16.bin, mb32.elf, mb32-kludge.bin, long64.elf, pv64.elf) and
#             bad/, the bad
#             images made by mkbad (made here when missing and mkbad is
#             in DIR or on PATH); default: build/guests next to this
#             script's tree, else the current directory
#   KVISOR    the tool (default: kvisor on PATH, else build/bin/kvisor)
#   KVISOR_TOOL_TEST_NODEV=1   only the tests that need no module (on a
#             host without /dev/kvisor); without it, guest runs need it
#
# Exit status: 0 when every test passed, 1 otherwise.

here=$(cd "$(dirname "$0")" && pwd)
dir=${1:-}
if [ -z "$dir" ]; then
	if [ -f "$here/../../build/guests/long64.elf" ]; then
		dir=$here/../../build/guests
	else
		dir=.
	fi
fi
dir=$(cd "$dir" && pwd) || { echo "Bail out! no directory $1"; exit 1; }
if [ -z "${KVISOR:-}" ]; then
	if command -v kvisor >/dev/null 2>&1; then
		KVISOR=kvisor
	else
		KVISOR=$here/../../build/bin/kvisor
	fi
fi
nodev=${KVISOR_TOOL_TEST_NODEV:-0}

tmp=$(mktemp -d /tmp/tool_test.XXXXXX) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM

if [ ! -d "$dir/bad" ]; then
	if [ -x "$dir/mkbad" ]; then
		"$dir/mkbad" "$tmp/bad" >/dev/null
	elif command -v mkbad >/dev/null 2>&1; then
		mkbad "$tmp/bad" >/dev/null
	fi
	bad=$tmp/bad
else
	bad=$dir/bad
fi

n=0
failed=0
echo "TAP version 13"

ok() {
	n=$((n + 1))
	echo "ok $n - $1"
}

not_ok() {
	n=$((n + 1))
	failed=$((failed + 1))
	echo "not ok $n - $1"
}

skip() {
	n=$((n + 1))
	echo "ok $n - $1 # SKIP $2"
}

# t DESC STATUS STDOUT-PATTERN STDERR-PATTERN -- ARGS...: run kvisor
# ARGS with stdin from $T_STDIN (default /dev/null); the patterns are fixed strings, ""
# for none; several may be given separated by '|'.
t() {
	desc=$1 want=$2 opat=$3 epat=$4
	shift 5
	"$KVISOR" "$@" <"${T_STDIN:-/dev/null}" >"$tmp/out" 2>"$tmp/err"
	st=$?
	why=
	[ "$st" = "$want" ] || why="status $st, want $want"
	for pair in "out:$opat" "err:$epat"; do
		f=${pair%%:*}
		pats=${pair#*:}
		[ -n "$pats" ] || continue
		oldifs=$IFS
		IFS='|'
		for p in $pats; do
			IFS=$oldifs
			grep -qF -- "$p" "$tmp/$f" || why="$why${why:+; }std$f lacks '$p'"
		done
		IFS=$oldifs
	done
	if [ -z "$why" ]; then
		ok "$desc"
	else
		not_ok "$desc: $why"
		echo "# command: $KVISOR $*"
		sed -e 's/^/# stdout: /' "$tmp/out" | head -n 30
		sed -e 's/^/# stderr: /' "$tmp/err" | head -n 30
	fi
}

nodevice=/dev/kvisor-missing	# a device path that does not exist

# --- needs no module ---------------------------------------------------------
t "--help" 0 "exit status:|kvisor run" "" -- --help
t "--version" 0 "kvisor " "" -- --version
t "run --help" 0 "--mem SIZE|--format|--module FILE" "" -- run --help
t "no command: usage, status 2" 2 "" "usage:" --
t "unknown command: status 2" 2 "" "unknown command" -- frobnicate
t "run without IMAGE: status 2" 2 "" "no IMAGE" -- run
t "bad --mem: status 2" 2 "" "--mem '12X'" -- run --mem 12X "$dir/real16.bin"
t "--mem too small: status 2" 2 "" "must be from 1 MiB" -- run --mem 64K "$dir/real16.bin"
t "bad --format: status 2" 2 "" "--format 'coff'" -- run --format coff "$dir/real16.bin"
t "bad --mode: status 2" 2 "" "--mode 'virtual86'" -- run --mode virtual86 "$dir/real16.bin"
t "--cpus 0: status 2" 2 "" "--cpus '0': not a number from 1 to 64" -- run --cpus 0 "$dir/real16.bin"
t "--cpus 65: status 2" 2 "" "--cpus '65': not a number from 1 to 64" -- run --cpus 65 "$dir/real16.bin"
t "--cpus 2 with a flat image: status 2" 2 "" "are for Linux kernels" -- run --cpus 2 "$dir/real16.bin"
t "--initrd with ELF: status 2" 2 "" "are for Linux kernels" -- run --initrd "$dir/real16.bin" "$dir/long64.elf"
t "--kernel and IMAGE: status 2" 2 "" "--kernel and an IMAGE" -- run --kernel "$dir/real16.bin" "$dir/long64.elf"
t "--load with ELF: status 2" 2 "" "for flat images" -- run --load 0x1000 "$dir/long64.elf"
t "--module with ELF: status 2" 2 "" "for multiboot" -- run --module "$dir/real16.bin" "$dir/long64.elf"
t "module missing: status 4 and advice" 4 "" "$nodevice not found: load the module with 'sudo modprobe kvisor'" \
	-- --device "$nodevice" run "$dir/real16.bin"
t "info, module missing: status 4" 4 "" "not found: load the module" -- --device "$nodevice" info

# bad images: refused with file and reason, before opening the device
b() {
	desc=$1 img=$2 reason=$3
	shift 3
	t "bad image $desc: status 6" 6 "" "kvisor: $img: |$reason" \
		-- --device "$nodevice" run "$@" "$img"
}
if [ -d "$bad" ]; then
	b "empty file" "$bad/empty.img" "empty file"
	b "directory" "$bad/dir.img" "is a directory"
	b "truncated ELF header" "$bad/trunc-hdr.elf" "truncated ELF header"
	b "truncated program headers" "$bad/trunc-phdr.elf" "truncated: program headers"
	b "truncated segment" "$bad/trunc-seg.elf" "truncated: segment 0's data"
	b "wrong machine" "$bad/machine.elf" "wrong machine 183"
	b "not an executable" "$bad/dyn.elf" "not an executable"
	b "segment beyond --mem" "$bad/beyond.elf" \
		"segment 1 at 0x8000000-0x8001000 is beyond guest memory (128 MiB)"
	b "overlapping segments" "$bad/overlap.elf" \
		"segment 1 at 0x101000-0x102000 overlaps segment 0"
	b "segment on kvisor's page tables" "$bad/collide.elf" \
		"kvisor's page-table area at 0x4000-0x7000 overlaps segment 0"
	b "entry in no segment" "$bad/noentry.elf" "entry point 0x200000 is in no loadable segment"
	b "multiboot video mode" "$bad/mb-video.bin" "asks for a video mode"
	# Linux bzImages (boot_linux.c)
	b "Linux: not a bzImage" "$bad/linux-nohdrs.bz" "not a Linux bzImage" --format linux
	b "Linux: --kernel not a bzImage" "$bad/mb-video.bin" "not a Linux bzImage" --format linux
	b "Linux: protocol 2.06" "$bad/linux-old.bz" "boot protocol 2.06 is too old: kvisor needs 2.12"
	b "Linux: 32-bit kernel" "$bad/linux-32.bz" "no 64-bit entry point (xloadflags 0x2"
	b "Linux: truncated kernel" "$bad/linux-trunc.bz" "truncated: the header says the kernel is 8192 bytes, the file has 4096"
	b "Linux: no kernel after the setup" "$bad/linux-nosetup.bz" "truncated: 2560 bytes, no protected-mode kernel"
	b "Linux: init_size beyond --mem" "$bad/linux-huge.bz" \
		"the kernel needs 0x1000000-0x21000000 (pref_address + init_size) but --mem is 128 MiB: give --mem 528M or more"
	b "Linux: command line over cmdline_size" "$bad/linux-ok.bz" \
		"the command line is 33 bytes; this kernel accepts at most 32 (cmdline_size)" \
		--cmdline "console=ttyS0 0123456789abcdefghi"
	head -c 1000 /dev/zero > "$tmp/initrd-1k"
	dd if=/dev/zero of="$tmp/initrd-120m" bs=1 count=0 seek=120M 2>/dev/null
	t "Linux: initrd beyond --mem: status 6" 6 "" \
		"kvisor: $tmp/initrd-120m: the initrd (120 MiB) does not fit in --mem 128 MiB above the kernel's end at 0x1200000" \
		-- --device "$nodevice" run --initrd "$tmp/initrd-120m" --kernel "$bad/linux-ok.bz"
	t "Linux: missing initrd: status 6" 6 "" "kvisor: $tmp/none.img: cannot open initrd" \
		-- --device "$nodevice" run --initrd "$tmp/none.img" --kernel "$bad/linux-ok.bz"
	t "Linux --check: the boot plan" 0 \
"format    linux bzImage|entry     0x1000200|0x01000000-0x01200000 the kernel (pref_address + init_size)|0x07fff000-0x07fff3e8 the initrd|the ACPI tables" \
		"" -- --device "$nodevice" run --check --initrd "$tmp/initrd-1k" --kernel "$bad/linux-ok.bz"
	t "Linux: auto-detected as IMAGE" 0 "format    linux bzImage" "" \
		-- --device "$nodevice" run --check "$bad/linux-ok.bz"
	t "Linux: --mem above 3 GiB: status 2" 2 "" "a Linux guest gets at most 3 GiB" \
		-- --device "$nodevice" run --mem 4G --kernel "$bad/linux-ok.bz"
	t "Linux: module missing: status 4" 4 "" "not found: load the module" \
		-- --device "$nodevice" run --cpus 2 --kernel "$bad/linux-ok.bz"
else
	skip "bad images" "no $dir/bad and no mkbad"
fi
b "nonexistent file" "$tmp/nonexistent.elf" "cannot open guest image"
b "guest beyond --mem 1M" "$dir/long64.elf" \
	"segment 0 at 0x100000-" --mem 1M
b "multiboot without header" "$dir/real16.bin" "no multiboot header" --format multiboot
b "real-mode entry beyond 1 MiB" "$dir/real16.bin" "not reachable in real mode" --entry 0x200000
t "missing module file: status 6" 6 "" "kvisor: $tmp/nonexistent.mod: cannot open module" \
	-- --device "$nodevice" run --module "$tmp/nonexistent.mod" "$dir/mb32.elf"

# --check: load and print the plan without the device
t "check real16.bin" 0 "format    flat|mode      real|entry     0x7c00" "" \
	-- --device "$nodevice" run --check "$dir/real16.bin"
t "check mb32.elf" 0 "format    multiboot elf32|eax/ebx   0x2badb002 0x2000" "" \
	-- --device "$nodevice" run --check "$dir/mb32.elf"
t "check mb32-kludge.bin" 0 "format    multiboot|region    0x00100000-" "" \
	-- --device "$nodevice" run --check "$dir/mb32-kludge.bin"
t "check long64.elf" 0 "format    elf64|mode      long|kvisor's page-table area" "" \
	-- --device "$nodevice" run --check "$dir/long64.elf"
t "check pv64.elf" 0 "format    elf64|mode      long" "" \
	-- --device "$nodevice" run --check "$dir/pv64.elf"

# --- the guests, in the VM ---------------------------------------------------
if [ "$nodev" = 1 ]; then
	skip "guest runs" "KVISOR_TOOL_TEST_NODEV=1"
elif [ ! -e /dev/kvisor ] && ! grep -qwE 'vmx|svm' /proc/cpuinfo; then
	# no VT-x/AMD-V at all (the "none" box): kvisor cannot load here
	skip "guest runs" "no VT-x or AMD-V on this CPU"
elif [ ! -e /dev/kvisor ]; then
	not_ok "guest runs: /dev/kvisor missing (set KVISOR_TOOL_TEST_NODEV=1 to skip)"
elif ! "$KVISOR" run "$dir/halt16.bin" </dev/null >/dev/null 2>"$tmp/probe" &&
     grep -q "KVISOR_CREATE_VM: .*not supported" "$tmp/probe"; then
	# the module says it cannot run VMs on this CPU (yet): skip, as
	# kselftests do for a missing feature
	skip "guest runs" "$(head -n 1 "$tmp/probe")"
else
	echo "kvisor module text" > "$tmp/mod.txt"
	t "info" 0 "API version|vendor" "" -- info
	t "real16.bin: real mode, UART, debug-exit 1 -> 3" 3 \
		"Hello from real mode!|uart scratch register ok" "" -- run "$dir/real16.bin"
	t "real16.bin --format flat --mode real" 3 "Hello from real mode!" "" \
		-- run --format flat --mode real --load 0x7c00 "$dir/real16.bin"
	t "halt16.bin: HLT with IF=0 -> 0" 0 "halting" "" -- run "$dir/halt16.bin"
	t "triple16.bin: triple fault -> 8, registers" 8 "T" "triple fault|rip " \
		-- run "$dir/triple16.bin"
	t "idle16.bin: HLT with IF=1 -> 16" 16 "I" "halted with interrupts on" \
		-- run "$dir/idle16.bin"
	t "mb32.elf: multiboot, cmdline, module -> 5" 5 \
"hello from multiboot|mem_lower 640 KiB, mem_upper 130048 KiB|cmdline 'hello kvisor'|1 module(s)|module '$tmp/mod.txt' 19 bytes: kvisor module text|fw_cfg signature QEMU|mb32: bye" \
		"" -- run --cmdline "hello kvisor" --module "$tmp/mod.txt" "$dir/mb32.elf"
	t "mb32.elf: MMIO beyond RAM reads all ones, counted" 5 \
		"mmio read 0xffffffff" "mmio (no devices): 1 reads, 1 writes" \
		-- run --stats "$dir/mb32.elf"
	t "mb32.elf: empty command line, 64M" 5 \
		"cmdline ''|mem_upper 64512 KiB|mmap 0x100000 len 0x3f00000 type 1" "" \
		-- run --mem 64M "$dir/mb32.elf"
	t "mb32-kludge.bin: a.out kludge -> 5" 5 "hello from multiboot|cmdline 'k'|mb32: bye" "" \
		-- run --cmdline k "$dir/mb32-kludge.bin"
	t "long64.elf: long mode, fw_cfg -> 7" 7 \
		"hello from long mode|fw_cfg signature QEMU|ram 128 MiB, cpus 1|stdin ''|last page of RAM ok|long64: bye" \
		"" -- run "$dir/long64.elf"
	t "long64.elf --mem 256M --cmdline" 7 "ram 256 MiB|cmdline 'x=1 y'|last page of RAM ok" "" \
		-- run --mem 256M --cmdline "x=1 y" "$dir/long64.elf"
	echo "typed input" > "$tmp/stdin.txt"
	T_STDIN=$tmp/stdin.txt
	t "long64.elf: UART input from stdin" 7 \
		"stdin 'typed input'" "" -- run "$dir/long64.elf"
	T_STDIN=
	t "long64.elf --stats" 7 "long64: bye" \
		"exits by reason|io |exits per second|in guest|fw_cfg|uart-16550a" \
		-- run --stats "$dir/long64.elf"
	t "pv64.elf: console, clock and exit hypercalls -> 7" 7 \
"pv64: hello through the console hypercall|console writes up to 2048 bytes|VMCALL and VMMCALL no-ops ok|unknown numbers and bad arguments refused|pv64: bye" \
		"" -- run "$dir/pv64.elf"
	t "pv64.elf --stats: console bytes counted, no UART" 7 "pv64: bye" \
		"hc_console_bytes|hc_kernel|console writes|uart: 0 bytes out" \
		-- run --stats "$dir/pv64.elf"
fi

echo "1..$n"
[ "$failed" = 0 ]
