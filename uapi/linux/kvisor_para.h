/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kvisor: the paravirtual interface a guest sees -- the CPUID leaves that
 * announce kvisor and the hypercall ABI (Documentation/hypercalls.rst).
 *
 * Only numbers, no types and no includes: the header serves the module,
 * userspace VMMs and freestanding guests alike, in C and C++.
 *
 * A hypercall is VMCALL (0f 01 c1) or VMMCALL (0f 01 d9), either one on
 * either vendor, executed at CPL 0: number in RAX, arguments in RBX, RCX,
 * RDX, RSI, result in RAX (negative: a Linux errno value).  Outside
 * 64-bit mode the number and the arguments are the low 32 bits of those
 * registers.  Every other register is preserved, except RDX for
 * KVISOR_HC_CLOCK.
 */
#ifndef _UAPI_LINUX_KVISOR_PARA_H
#define _UAPI_LINUX_KVISOR_PARA_H

/* CPUID 0x40000000: EAX the highest hypervisor leaf, EBX ECX EDX "KvisorKvisor". */
#define KVISOR_CPUID_SIGNATURE		0x40000000
#define KVISOR_CPUID_SIG_EBX		0x7369764b	/* "Kvis" */
#define KVISOR_CPUID_SIG_ECX		0x764b726f	/* "orKv" */
#define KVISOR_CPUID_SIG_EDX		0x726f7369	/* "isor" */

/*
 * CPUID 0x40000001: EAX the KVISOR_FEATURE_* bits, EBX the largest
 * console write (KVISOR_HC_CONSOLE_MAX), ECX and EDX 0.
 */
#define KVISOR_CPUID_FEATURES		0x40000001

#define KVISOR_FEATURE_NOP		(1u << 0)
#define KVISOR_FEATURE_CONSOLE		(1u << 1)
#define KVISOR_FEATURE_EXIT		(1u << 2)
#define KVISOR_FEATURE_CLOCK		(1u << 3)
/* VMCALL and VMMCALL both work, whatever the CPU's vendor */
#define KVISOR_FEATURE_ANY_INSN		(1u << 4)
/* KVISOR_HC_VMM_FIRST .. KVISOR_HC_VMM_LAST go to the VMM */
#define KVISOR_FEATURE_VMM_RANGE	(1u << 5)

/* ------------------------------------------------------------------ */
/* Hypercall numbers (RAX)                                            */
/* ------------------------------------------------------------------ */

/* No-op, answered in the kernel: RAX = 0. */
#define KVISOR_HC_NOP			0
/*
 * Console write: RBX = guest-physical address, RCX = length in bytes
 * (at most KVISOR_HC_CONSOLE_MAX).  RAX = the length, or -E2BIG (too
 * long), -EFAULT (a byte outside guest RAM, or the range wraps).
 */
#define KVISOR_HC_CONSOLE_WRITE		1
/* Exit: RBX = status; the VMM ends the VM.  RAX = 0 if it does not. */
#define KVISOR_HC_EXIT			2
/*
 * Host clock, answered in the kernel: RBX = KVISOR_CLOCK_*.  RAX = the
 * time in nanoseconds, and RDX = its high 32 bits (so EDX:EAX holds it
 * outside 64-bit mode); -EINVAL for an unknown clock, RDX unchanged.
 */
#define KVISOR_HC_CLOCK			3

/* Numbers the kernel does not interpret: the VMM answers them. */
#define KVISOR_HC_VMM_FIRST		0x10000
#define KVISOR_HC_VMM_LAST		0x1ffff

#define KVISOR_HC_CONSOLE_MAX		2048

#define KVISOR_CLOCK_MONOTONIC		0	/* CLOCK_MONOTONIC */
#define KVISOR_CLOCK_REALTIME		1	/* CLOCK_REALTIME */

/*
 * Error results, negated in RAX: the Linux errno values, spelled out for
 * guests without <errno.h>.
 */
#define KVISOR_HC_EPERM			1	/* called from CPL > 0 */
#define KVISOR_HC_E2BIG			7	/* buffer too long */
#define KVISOR_HC_EFAULT		14	/* buffer outside guest RAM */
#define KVISOR_HC_EINVAL		22	/* bad argument */
#define KVISOR_HC_ENOSYS		38	/* unknown hypercall number */

#endif /* _UAPI_LINUX_KVISOR_PARA_H */
