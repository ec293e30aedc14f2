/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvisor: kernel API differences between the kernel series kvisor is built
 * for (Debian 12's 6.1 and 6.1 PREEMPT_RT, Debian 13's 6.12; see
 * Documentation/packaging.rst).  One entry per change, naming the kernel
 * and the upstream commit; no version checks elsewhere.
 */
#ifndef KVISOR_COMPAT_H
#define KVISOR_COMPAT_H

#include <linux/bits.h>
#include <linux/syscore_ops.h>
#include <asm/vmx.h>

/*
 * v6.11, "KVM: VMX: Open code VMX preemption timer rate mask in its
 * accessor": the mask (MSR IA32_VMX_MISC bits 4:0, SDM A.6) lost its name.
 */
#ifndef VMX_MISC_PREEMPTION_TIMER_RATE_MASK
#define VMX_MISC_PREEMPTION_TIMER_RATE_MASK GENMASK_ULL(4, 0)
#endif

/*
 * v6.19, a97fbc3ee3e2 "syscore: Pass context data to callbacks"; also in
 * 6.12.y stable (Debian 13's 6.12), so the version number cannot tell:
 * Kbuild looks for register_syscore(struct syscore *) in the kernel's syscore_ops.h and
 * defines KVISOR_SYSCORE_DATA.  The callbacks take a data pointer and
 * register_syscore() takes a struct syscore holding the ops.
 */
#ifdef KVISOR_SYSCORE_DATA
#define KVISOR_SYSCORE_ARGS void *data
#define KVISOR_DEFINE_SYSCORE(name, suspend_fn, resume_fn)		\
	static const struct syscore_ops name##_ops = {			\
		.suspend = suspend_fn,					\
		.resume = resume_fn,					\
	};								\
	static struct syscore name = { .ops = &name##_ops }
#define kvisor_register_syscore(s) register_syscore(s)
#define kvisor_unregister_syscore(s) unregister_syscore(s)
#else
#define KVISOR_SYSCORE_ARGS void
#define KVISOR_DEFINE_SYSCORE(name, suspend_fn, resume_fn)		\
	static struct syscore_ops name = {				\
		.suspend = suspend_fn,					\
		.resume = resume_fn,					\
	}
#define kvisor_register_syscore(s) register_syscore_ops(s)
#define kvisor_unregister_syscore(s) unregister_syscore_ops(s)
#endif

#endif /* KVISOR_COMPAT_H */
