/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The seam between the vendor-neutral core and a hardware backend.
 *
 * The core reaches VT-x or AMD-V only through one struct kvisor_arch_ops,
 * chosen once at module load by kvisor_arch_probe().  Nothing outside
 * module/vmx/ and module/svm/ knows which vendor it runs on.
 */
#ifndef KVISOR_ARCH_H
#define KVISOR_ARCH_H

#include <linux/types.h>

/* What a backend found at probe time; the core answers CHECK_EXTENSION. */
struct kvisor_arch_caps {
	u32 vendor;			/* KVISOR_VENDOR_* */
	bool nested_paging;		/* EPT / NPT */
	bool unrestricted_guest;	/* real and unpaged modes run natively */
	u32 tlb_tags;			/* VPIDs / ASIDs usable, 0 if none */
};

struct kvisor_arch_ops {
	const char *name;		/* "vmx" or "svm", for log lines */

	/*
	 * Whole-system checks and per-CPU allocations, in process context.
	 * Returns -ENODEV when the CPU is not of this vendor (silently), or
	 * another errno after logging why the hardware cannot be used.
	 */
	int (*probe)(struct kvisor_arch_caps *caps);
	void (*unprobe)(void);

	/*
	 * Turn virtualization on/off on the calling CPU.  Called with
	 * preemption disabled, possibly with interrupts disabled (reboot,
	 * resume); must not sleep or allocate.  hw_enable fails with -EBUSY
	 * when another hypervisor already holds the CPU.
	 */
	int (*hw_enable)(void);
	void (*hw_disable)(void);
};

extern const struct kvisor_arch_ops kvisor_vmx_ops;
extern const struct kvisor_arch_ops kvisor_svm_ops;

#endif /* KVISOR_ARCH_H */
