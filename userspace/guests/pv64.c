// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor sample guest: a paravirtual ELF64 kernel.  Finds kvisor through
 * CPUID, prints through the console hypercall (one exit per string, not
 * two per byte as through the UART), reads the host clock, checks that
 * both hypercall instructions work and that an unknown number fails, and
 * leaves with the exit hypercall, status 3 (exit status 7 from the
 * kvisor tool), or 0x7f (status 255) on a failed check.
 */
#include "kvisor_guest.h"
#include "kvisor_pv.h"

static void put_dec(uint64_t v)
{
	char buf[21];
	int i = sizeof(buf);

	do {
		buf[--i] = '0' + v % 10;
		v /= 10;
	} while (v);
	kvisor_console_write(buf + i, sizeof(buf) - i);
}

static void bad(const char *why)
{
	kvisor_console_puts("pv64: FAIL: ");
	kvisor_console_puts(why);
	kvisor_console_puts("\n");
	kvisor_exit(0x7f);
}

void pv64_main(void);

void pv64_main(void)
{
	uint32_t features = kvisor_pv_detect();
	int64_t t0, t1;

	if (!features) {
		/* not kvisor: the UART is all there is */
		uart_puts("pv64: not running on kvisor\n");
		debug_exit(0x7f);
	}
	if (!(features & KVISOR_FEATURE_CONSOLE) || !(features & KVISOR_FEATURE_EXIT))
		debug_exit(0x7f);
	kvisor_console_puts("pv64: hello through the console hypercall\n");
	kvisor_console_puts("pv64: features ");
	put_dec(features);
	kvisor_console_puts(", console writes up to ");
	put_dec(kvisor_console_max());
	kvisor_console_puts(" bytes\n");

	t0 = kvisor_clock_ns(KVISOR_CLOCK_MONOTONIC);
	if (kvisor_vmcall(KVISOR_HC_NOP, 0, 0, 0, 0) != 0)
		bad("VMCALL no-op");
	if (kvisor_vmmcall(KVISOR_HC_NOP, 0, 0, 0, 0) != 0)
		bad("VMMCALL no-op");
	t1 = kvisor_clock_ns(KVISOR_CLOCK_MONOTONIC);
	if (t0 <= 0 || t1 < t0)
		bad("monotonic clock");
	kvisor_console_puts("pv64: VMCALL and VMMCALL no-ops ok, ");
	put_dec(t1 - t0);
	kvisor_console_puts(" ns for both\n");
	if (kvisor_clock_ns(KVISOR_CLOCK_REALTIME) < 1000000000ll * 1000000000ll)
		bad("realtime clock before 2001");
	if (kvisor_clock_ns(99) != -KVISOR_HC_EINVAL)
		bad("unknown clock accepted");
	if (kvisor_hypercall(0x7777, 0, 0, 0, 0) != -KVISOR_HC_ENOSYS)
		bad("unknown hypercall accepted");
	if (kvisor_hypercall(KVISOR_HC_CONSOLE_WRITE, 0, KVISOR_HC_CONSOLE_MAX + 1,
			     0, 0) != -KVISOR_HC_E2BIG)
		bad("too long console write accepted");
	kvisor_console_puts("pv64: unknown numbers and bad arguments refused\n");
	kvisor_console_puts("pv64: bye\n");
	kvisor_exit(3);
}
