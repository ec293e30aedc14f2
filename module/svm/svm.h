/* SPDX-License-Identifier: GPL-2.0 */
/* AMD-V backend: what svm.c, svm_vcpu.c and vmrun.S share. */
#ifndef KVISOR_SVM_H
#define KVISOR_SVM_H

#include <linux/types.h>
#include <asm/svm.h>

struct svm_cpu {
	struct page *hsave;	/* host save area, VM_HSAVE_PA */
	u64 old_hsave_pa;	/* restored on disable: leave CPUs as found */
	struct page *host_vmcb;	/* VMSAVE/VMLOAD of the host's state */
	/* ASIDs handed out on this CPU; a new generation flushes all. */
	u32 asid_next;
	u64 asid_gen;
};

DECLARE_PER_CPU(struct svm_cpu, svm_cpu);

/* Optional features, CPUID 8000_000A EDX (APM Vol. 3, E.4.9). */
extern bool svm_has_nrips;
extern u32 svm_max_asid;
extern u64 svm_iopm_pa, svm_msrpm_pa;

int svm_vcpu_setup(void);
void svm_vcpu_cleanup(void);

struct kvisor_vm;
struct kvisor_vcpu;
struct kvisor_exit;
struct kvisor_sregs;
struct kvisor_event;

/* svm_vcpu.c: the VM/vCPU half of kvisor_svm_ops. */
int svm_vm_init(struct kvisor_vm *vm);
int svm_vcpu_create(struct kvisor_vcpu *vcpu);
void svm_vcpu_free(struct kvisor_vcpu *vcpu);
void svm_run(struct kvisor_vcpu *vcpu, struct kvisor_exit *x);
void svm_get_sregs(struct kvisor_vcpu *vcpu, struct kvisor_sregs *s);
void svm_set_sregs(struct kvisor_vcpu *vcpu, const struct kvisor_sregs *s);
int svm_get_cpl(struct kvisor_vcpu *vcpu);
bool svm_long_mode(struct kvisor_vcpu *vcpu);
int svm_get_msr(struct kvisor_vcpu *vcpu, u32 index, u64 *data);
int svm_set_msr(struct kvisor_vcpu *vcpu, u32 index, u64 data);
bool svm_interrupt_allowed(struct kvisor_vcpu *vcpu);
bool svm_inject_event(struct kvisor_vcpu *vcpu, const struct kvisor_event *ev);
void svm_set_irq_window(struct kvisor_vcpu *vcpu, bool on);
u8 svm_get_cr8(struct kvisor_vcpu *vcpu);
void svm_set_cr8(struct kvisor_vcpu *vcpu, u8 cr8);
void svm_clear_interrupt_shadow(struct kvisor_vcpu *vcpu);

/* vmrun.S: one VMLOAD/VMRUN/VMSAVE round trip (APM Vol. 2, 15.5). */
void kvisor_svm_vmrun(u64 vmcb_pa, u64 *gprs, u64 host_vmcb_pa);

#endif /* KVISOR_SVM_H */
