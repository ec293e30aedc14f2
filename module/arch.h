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

struct kvisor_vm;
struct kvisor_vcpu;
struct kvisor_exit;
struct kvisor_sregs;
struct kvisor_event;

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

	/*
	 * Nested page table entry format.  The table walker (mmu.c) is
	 * shared; only the bits of an entry differ between EPT and NPT.
	 */
	u64 (*npt_table_entry)(u64 pa);
	u64 (*npt_leaf_entry)(u64 pa, bool writable, bool large);
	bool (*npt_present)(u64 entry);

	/*
	 * VMs.  Process context.
	 * vm_init runs after the (empty) nested root is allocated and may
	 * set vm->npt_levels: NPT walks in the host's paging mode, EPT
	 * walks as many levels as the EPTP says.  It returns EOPNOTSUPP
	 * (after one pr_info_once line) when this CPU lacks what the
	 * backend needs, e.g. VT-x without EPT or unrestricted guest.
	 */
	int (*vm_init)(struct kvisor_vm *vm);
	void (*vm_destroy)(struct kvisor_vm *vm);

	/* vCPUs: allocate/free the control block, PC reset state. */
	int (*vcpu_create)(struct kvisor_vcpu *vcpu);
	void (*vcpu_free)(struct kvisor_vcpu *vcpu);

	/*
	 * Optional.  The core calls vcpu_load before and vcpu_put after
	 * every vCPU ioctl that uses the ops below, under the vCPU mutex,
	 * in process context; all other vCPU ops except vcpu_create and
	 * vcpu_free run between the two.  VT-x makes the VMCS current on
	 * the calling CPU there and keeps it so across preemption and
	 * migration (module/vmx/vmx_vcpu.c).
	 */
	void (*vcpu_load)(struct kvisor_vcpu *vcpu);
	void (*vcpu_put)(struct kvisor_vcpu *vcpu);

	/*
	 * Enter the guest once and decode the exit into @exit.  Called
	 * with preemption and interrupts disabled, guest FPU loaded; the
	 * backend reloads whatever per-CPU state it needs each time (so
	 * migration between entries is always safe) and returns with
	 * interrupts still disabled.  Syncs rsp/rip/rflags and gpr[] of the
	 * core to and from its own state.
	 */
	void (*run)(struct kvisor_vcpu *vcpu, struct kvisor_exit *exit);

	/* Registers held in the backend's control block. */
	void (*get_sregs)(struct kvisor_vcpu *vcpu, struct kvisor_sregs *sregs);
	void (*set_sregs)(struct kvisor_vcpu *vcpu,
			  const struct kvisor_sregs *sregs);
	int (*get_cpl)(struct kvisor_vcpu *vcpu);
	/* 64-bit mode (EFER.LMA and CS.L), without a full get_sregs(). */
	bool (*long_mode)(struct kvisor_vcpu *vcpu);
	/*
	 * MSRs whose guest value lives in the control block (EFER, PAT,
	 * SYSCALL/SYSENTER, segment bases, TSC).  The core has validated the
	 * value.  Return -ENOENT for an MSR the backend does not hold.
	 */
	int (*get_msr)(struct kvisor_vcpu *vcpu, u32 index, u64 *data);
	int (*set_msr)(struct kvisor_vcpu *vcpu, u32 index, u64 data);

	/*
	 * Events.  inject_event returns false when the injection slot is
	 * taken (an event interrupted by the last exit is re-delivered
	 * first); the core retries after the next exit.  The interrupt
	 * window makes the next exit KVISOR_X_IRQ_WINDOW as soon as the
	 * guest can take an external interrupt.
	 */
	bool (*interrupt_allowed)(struct kvisor_vcpu *vcpu);
	bool (*inject_event)(struct kvisor_vcpu *vcpu,
			     const struct kvisor_event *event);
	void (*set_irq_window)(struct kvisor_vcpu *vcpu, bool on);

	/*
	 * CR8 as the guest sees it (bits 3:0; Intel SDM Vol. 3A 11.8.6):
	 * the in-kernel LAPIC keeps it equal to TPR[7:4], reading it after
	 * every exit and writing it before an entry when the TPR changed.
	 * With interrupts off, between vcpu_load and vcpu_put.
	 */
	u8 (*get_cr8)(struct kvisor_vcpu *vcpu);
	void (*set_cr8)(struct kvisor_vcpu *vcpu, u8 cr8);
	/*
	 * The core completed the exiting instruction (HLT that the LAPIC
	 * emulates by sleeping): an STI or MOV SS shadow covering it is
	 * over, or "sti; hlt" could never take its wake-up interrupt.
	 */
	void (*clear_interrupt_shadow)(struct kvisor_vcpu *vcpu);
};

extern const struct kvisor_arch_ops kvisor_vmx_ops;
extern const struct kvisor_arch_ops kvisor_svm_ops;

#endif /* KVISOR_ARCH_H */
