#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# linux_initramfs.sh: build a tiny initramfs for a Linux guest of
# `kvisor run --kernel`: a static busybox (every applet a symlink made
# at boot by `busybox --install`), /dev/console, and the given /init.
# POSIX sh; runs on the build host and in the test boxes (busybox cpio).
#
# usage: linux_initramfs.sh OUT INIT [BUSYBOX]
#   OUT      the newc cpio archive to write (uncompressed: Linux takes it
#            as it is)
#   INIT     the script to run as /init (PID 1) in the guest
#   BUSYBOX  a statically linked busybox (default: /bin/busybox)
#
# Exit status: 0 written; 1 a missing input or a failed step.
set -eu
out=${1:?usage: linux_initramfs.sh OUT INIT [BUSYBOX]}
init=${2:?usage: linux_initramfs.sh OUT INIT [BUSYBOX]}
bb=${3:-/bin/busybox}
[ -f "$init" ] || { echo "linux_initramfs.sh: no $init" >&2; exit 1; }
[ -x "$bb" ] || { echo "linux_initramfs.sh: no busybox at $bb" >&2; exit 1; }
root=$(mktemp -d "${TMPDIR:-/tmp}/linux_initramfs.XXXXXX")
trap 'rm -rf "$root"' EXIT INT TERM
mkdir -p "$root/bin" "$root/sbin" "$root/dev" "$root/proc" "$root/sys" \
	"$root/tmp" "$root/etc"
cp "$bb" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
cp "$init" "$root/init"
chmod 755 "$root/init" "$root/bin/busybox"
# /dev/console for the kernel to open before devtmpfs is mounted; only
# root can make the node, and the kernel falls back without it
mknod "$root/dev/console" c 5 1 2>/dev/null || true
out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
(cd "$root" && find . | sort | cpio -o -H newc 2>/dev/null) >"$out_abs"
