/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvisor paravirtual calls for freestanding 32- and 64-bit guests
 * (Documentation/hypercalls.rst).  No libc: include this and build with
 * -I uapi (for <linux/kvisor_para.h>).  A guest needs three lines:
 *
 *	if (!kvisor_pv_detect())
 *		...not running on kvisor...
 *	kvisor_console_puts("hello\n");
 *	kvisor_exit(0);
 *
 * Hypercalls must be made at CPL 0.  Buffers are passed by guest-physical
 * address: these helpers pass the pointer, so the guest must map its
 * buffers 1:1 (or run without paging), as the sample guests do.
 *
 * The instruction choice is a static variable: in a guest of several C
 * files, call kvisor_pv_detect() in each file that uses
 * kvisor_hypercall() (or use kvisor_vmcall()/kvisor_vmmcall(), which work
 * on both vendors anyway; the foreign one costs a little more).
 */
#ifndef KVISOR_PV_H
#define KVISOR_PV_H

#include <stdint.h>
#include <linux/kvisor_para.h>

/* 1: VMMCALL (AMD, Hygon), 0: VMCALL; set by kvisor_pv_detect(). */
static int kvisor_pv_vmmcall;

static inline void kvisor_cpuid(uint32_t leaf, uint32_t r[4])
{
	__asm__ volatile("cpuid"
			 : "=a"(r[0]), "=b"(r[1]), "=c"(r[2]), "=d"(r[3])
			 : "a"(leaf), "c"(0));
}

/*
 * The KVISOR_FEATURE_* bits, or 0 when the hypervisor is not kvisor (or
 * there is none).  Picks the CPU vendor's own hypercall instruction,
 * which costs one exit less than the foreign one.
 */
static inline uint32_t kvisor_pv_detect(void)
{
	uint32_t r[4];

	kvisor_cpuid(0, r);
	/* "AuthenticAMD", "HygonGenuine": EBX "Auth"/"Hygo" */
	kvisor_pv_vmmcall = r[1] == 0x68747541 || r[1] == 0x6f677948;
	kvisor_cpuid(1, r);
	if (!(r[2] & (1u << 31)))
		return 0;		/* no hypervisor */
	kvisor_cpuid(KVISOR_CPUID_SIGNATURE, r);
	if (r[0] < KVISOR_CPUID_FEATURES || r[1] != KVISOR_CPUID_SIG_EBX ||
	    r[2] != KVISOR_CPUID_SIG_ECX || r[3] != KVISOR_CPUID_SIG_EDX)
		return 0;
	kvisor_cpuid(KVISOR_CPUID_FEATURES, r);
	return r[0];
}

/* The largest console write, from CPUID. */
static inline unsigned long kvisor_console_max(void)
{
	uint32_t r[4];

	kvisor_cpuid(KVISOR_CPUID_FEATURES, r);
	return r[1];
}

/*
 * One hypercall: nr and four arguments in native register width; the
 * result, negative for an error (-KVISOR_HC_E*).
 */
static inline long kvisor_vmcall(unsigned long nr, unsigned long a0,
				 unsigned long a1, unsigned long a2,
				 unsigned long a3)
{
	long ret;

	__asm__ volatile("vmcall"
			 : "=a"(ret)
			 : "a"(nr), "b"(a0), "c"(a1), "d"(a2), "S"(a3)
			 : "memory");
	return ret;
}

static inline long kvisor_vmmcall(unsigned long nr, unsigned long a0,
				  unsigned long a1, unsigned long a2,
				  unsigned long a3)
{
	long ret;

	__asm__ volatile("vmmcall"
			 : "=a"(ret)
			 : "a"(nr), "b"(a0), "c"(a1), "d"(a2), "S"(a3)
			 : "memory");
	return ret;
}

static inline long kvisor_hypercall(unsigned long nr, unsigned long a0,
				    unsigned long a1, unsigned long a2,
				    unsigned long a3)
{
	if (kvisor_pv_vmmcall)
		return kvisor_vmmcall(nr, a0, a1, a2, a3);
	return kvisor_vmcall(nr, a0, a1, a2, a3);
}

static inline long kvisor_nop(void)
{
	return kvisor_hypercall(KVISOR_HC_NOP, 0, 0, 0, 0);
}

/*
 * Write @len bytes at @buf (1:1 mapped) to the VMM's console, in calls of
 * at most KVISOR_HC_CONSOLE_MAX bytes.  The bytes written, or the first
 * error.
 */
static inline long kvisor_console_write(const void *buf, unsigned long len)
{
	const char *p = (const char *)buf;
	unsigned long done = 0;

	while (done < len) {
		unsigned long n = len - done;
		long r;

		if (n > KVISOR_HC_CONSOLE_MAX)
			n = KVISOR_HC_CONSOLE_MAX;
		r = kvisor_hypercall(KVISOR_HC_CONSOLE_WRITE,
				     (unsigned long)(uintptr_t)(p + done), n, 0, 0);
		if (r < 0)
			return r;
		if (r == 0)
			break;
		done += (unsigned long)r;
	}
	return (long)done;
}

static inline long kvisor_console_puts(const char *s)
{
	unsigned long len = 0;

	while (s[len])
		len++;
	return kvisor_console_write(s, len);
}

/*
 * The host's clock (KVISOR_CLOCK_*) in ns, or a negative error.  RDX is
 * preset to all ones: the call writes the high half of the time there
 * only on success, and no clock reads 0xffffffff in its high half.
 */
static inline int64_t kvisor_clock_ns(unsigned long clock)
{
	unsigned long lo, hi = ~0ul;

	if (kvisor_pv_vmmcall)
		__asm__ volatile("vmmcall"
				 : "=a"(lo), "+d"(hi)
				 : "a"((unsigned long)KVISOR_HC_CLOCK), "b"(clock),
				   "c"(0ul), "S"(0ul)
				 : "memory");
	else
		__asm__ volatile("vmcall"
				 : "=a"(lo), "+d"(hi)
				 : "a"((unsigned long)KVISOR_HC_CLOCK), "b"(clock),
				   "c"(0ul), "S"(0ul)
				 : "memory");
#ifdef __x86_64__
	return (int64_t)lo;
#else
	if (hi == ~0ul)
		return (long)lo;	/* an error: -errno in EAX */
	return (int64_t)(((uint64_t)hi << 32) | lo);
#endif
}

/* Ask the VMM to end the VM with @status; halts if it does not. */
static inline __attribute__((noreturn)) void kvisor_exit(unsigned long status)
{
	kvisor_hypercall(KVISOR_HC_EXIT, status, 0, 0, 0);
	for (;;)
		__asm__ volatile("cli; hlt");
}

#endif /* KVISOR_PV_H */
