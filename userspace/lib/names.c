// SPDX-License-Identifier: LGPL-2.1
/* libkvisor: names for the numbers of the ABI, and error messages. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "libkvisor.h"

#define NAME(table, i) \
	((i) < sizeof(table) / sizeof(table[0]) && table[i] ? table[i] : "unknown")

const char *kvisor_vendor_name(long vendor)
{
	switch (vendor) {
	case KVISOR_VENDOR_INTEL:
		return "Intel VT-x";
	case KVISOR_VENDOR_AMD:
		return "AMD-V";
	default:
		return "unknown";
	}
}

static const char * const exit_names[] = {
	[KVISOR_EXIT_UNKNOWN] = "unknown",
	[KVISOR_EXIT_HLT] = "hlt",
	[KVISOR_EXIT_IO] = "io",
	[KVISOR_EXIT_MMIO] = "mmio",
	[KVISOR_EXIT_HYPERCALL] = "hypercall",
	[KVISOR_EXIT_SHUTDOWN] = "shutdown",
	[KVISOR_EXIT_FAIL_ENTRY] = "fail_entry",
	[KVISOR_EXIT_INTR] = "intr",
	[KVISOR_EXIT_INTERNAL_ERROR] = "internal_error",
	[KVISOR_EXIT_IRQ_WINDOW_OPEN] = "irq_window_open",
};

const char *kvisor_exit_reason_name(unsigned int reason)
{
	return NAME(exit_names, reason);
}

static const char * const stat_names[KVISOR_STAT_NR] = {
	[KVISOR_STAT_EXITS] = "exits",
	[KVISOR_STAT_HLT] = "hlt",
	[KVISOR_STAT_IO] = "io",
	[KVISOR_STAT_MMIO] = "mmio",
	[KVISOR_STAT_HYPERCALL] = "hypercall",
	[KVISOR_STAT_CPUID] = "cpuid",
	[KVISOR_STAT_MSR_READ] = "msr_read",
	[KVISOR_STAT_MSR_WRITE] = "msr_write",
	[KVISOR_STAT_NPF] = "npf",
	[KVISOR_STAT_EXTERNAL_INTR] = "external_intr",
	[KVISOR_STAT_NMI] = "nmi",
	[KVISOR_STAT_INTR_WINDOW] = "intr_window",
	[KVISOR_STAT_EXCEPTION] = "exception",
	[KVISOR_STAT_XSETBV] = "xsetbv",
	[KVISOR_STAT_CR_ACCESS] = "cr_access",
	[KVISOR_STAT_SHUTDOWN] = "shutdown",
	[KVISOR_STAT_SIGNAL] = "signal",
	[KVISOR_STAT_OTHER] = "other",
	[KVISOR_STAT_HC_KERNEL] = "hc_kernel",
	[KVISOR_STAT_HC_CONSOLE_BYTES] = "hc_console_bytes",
};

const char *kvisor_stat_name(unsigned int stat)
{
	return NAME(stat_names, stat);
}

const char *kvisor_event_type_name(unsigned int type)
{
	switch (type) {
	case KVISOR_EVENT_EXCEPTION:
		return "exception";
	case KVISOR_EVENT_INTERRUPT:
		return "interrupt";
	case KVISOR_EVENT_NMI:
		return "nmi";
	default:
		return "unknown";
	}
}

const char *kvisor_strerror(const char *what, int err)
{
	static char buf[512];
	const char *advice = "";

	if (err < 0)
		err = -err;
	if (err == ENOENT && strstr(what, "/dev/kvisor")) {
		/* "open /dev/kvisor" -> "/dev/kvisor not found: ..." */
		if (!strncmp(what, "open ", 5))
			what += 5;
		snprintf(buf, sizeof(buf),
			 "%s not found: load the module with 'sudo modprobe kvisor'",
			 what);
		return buf;
	}
	if (err == EACCES && strstr(what, "/dev/kvisor"))
		advice = ": add yourself to group 'kvisor'";
	else if (err == EBUSY)
		advice = " (another hypervisor holds VT-x/AMD-V)";
	else if (err == ENOTTY)
		advice = " (not a kvisor device, or an older module)";
	else if (err == EOPNOTSUPP)
		advice = " (the module cannot do this on this CPU: see dmesg)";
	else if (err == ENODEV && strstr(what, "/dev/kvisor"))
		advice = " (VT-x/AMD-V is off or unavailable)";
	snprintf(buf, sizeof(buf), "%s: %s%s", what, strerror(err), advice);
	return buf;
}
