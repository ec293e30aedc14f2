/* SPDX-License-Identifier: GPL-2.0 */
/* VT-x backend: what vmx.c, vmx_vcpu.c and vmenter.S share. */
#ifndef KVISOR_VMX_H
#define KVISOR_VMX_H

#include <linux/types.h>
#include <asm/asm.h>
#include <asm/vmx.h>

/* The VMX controls and capabilities kvisor uses, settled at probe time. */
struct vmx_config {
	u32 revision_id;
	u32 pin;		/* pin-based VM-execution controls */
	u32 proc;		/* primary processor-based controls */
	u32 proc2;		/* secondary processor-based controls */
	u32 exit;		/* VM-exit controls */
	u32 entry;		/* VM-entry controls */
	u64 cr0_fixed0, cr0_fixed1, cr4_fixed0, cr4_fixed1;
	u64 ept_vpid_cap;	/* IA32_VMX_EPT_VPID_CAP */
	u32 preempt_ticks;	/* VMX-preemption timer: VMX_PREEMPT_MS */
	bool inout_info;	/* IA32_VMX_BASIC[54]: INS/OUTS insn info */
	bool has_vpid;
	bool can_run;		/* EPT + unrestricted guest + what we need */
	const char *why_not;	/* when !can_run: for the pr_info_once line */
};

extern struct vmx_config vmx_cfg;

/*
 * The VMX-preemption timer bounds a guest's stay to this many ms: a
 * backstop for the external-interrupt exit, which Bochs 2.7 does not
 * always make while the guest runs with RFLAGS.IF=0.  On hardware the
 * interrupt exit comes first and the timer costs one exit per period.
 */
#define VMX_PREEMPT_MS	4

int vmx_vcpu_setup(void);
void vmx_vcpu_cleanup(void);
void vmx_flush_all_this_cpu(void);

struct kvisor_vm;
struct kvisor_vcpu;
struct kvisor_exit;
struct kvisor_sregs;
struct kvisor_event;

/* vmx_vcpu.c: the VM/vCPU half of kvisor_vmx_ops. */
int vmx_vm_init(struct kvisor_vm *vm);
void vmx_vm_destroy(struct kvisor_vm *vm);
int vmx_vcpu_create(struct kvisor_vcpu *vcpu);
void vmx_vcpu_free(struct kvisor_vcpu *vcpu);
void vmx_vcpu_load(struct kvisor_vcpu *vcpu);
void vmx_vcpu_put(struct kvisor_vcpu *vcpu);
void vmx_run(struct kvisor_vcpu *vcpu, struct kvisor_exit *x);
void vmx_get_sregs(struct kvisor_vcpu *vcpu, struct kvisor_sregs *s);
void vmx_set_sregs(struct kvisor_vcpu *vcpu, const struct kvisor_sregs *s);
int vmx_get_cpl(struct kvisor_vcpu *vcpu);
bool vmx_long_mode(struct kvisor_vcpu *vcpu);
int vmx_get_msr(struct kvisor_vcpu *vcpu, u32 index, u64 *data);
int vmx_set_msr(struct kvisor_vcpu *vcpu, u32 index, u64 data);
bool vmx_interrupt_allowed(struct kvisor_vcpu *vcpu);
bool vmx_inject_event(struct kvisor_vcpu *vcpu, const struct kvisor_event *ev);
void vmx_set_irq_window(struct kvisor_vcpu *vcpu, bool on);
u8 vmx_get_cr8(struct kvisor_vcpu *vcpu);
void vmx_set_cr8(struct kvisor_vcpu *vcpu, u8 cr8);
void vmx_clear_interrupt_shadow(struct kvisor_vcpu *vcpu);

/*
 * vmenter.S: VMLAUNCH (@launched == 0) or VMRESUME with the guest GPRs
 * of @gprs (ModRM order; RSP lives in the VMCS).  Returns 0 after a VM
 * exit, 1 on VMfailValid (ZF), 2 on VMfailInvalid (CF).
 */
int kvisor_vmx_vmenter(u64 *gprs, int launched);
void kvisor_vmx_vmexit(void);	/* HOST_RIP: not callable */

/* ---------------------------------------------------------------- */
/* VMX instructions (SDM Vol. 3C, 30.3)                             */
/* ---------------------------------------------------------------- */

static __always_inline unsigned long vmcs_read(unsigned long field)
{
	unsigned long value;

	/* A VMREAD that fails leaves the destination alone: read as 0. */
	asm volatile("xor %k[v], %k[v]\n\t"
		     "1: vmread %[f], %[v]\n"
		     "2:\n\t"
		     _ASM_EXTABLE(1b, 2b)
		     : [v] "=&r" (value) : [f] "r" (field) : "cc");
	return value;
}

static __always_inline void vmcs_write(unsigned long field, unsigned long value)
{
	asm volatile("1: vmwrite %[v], %[f]\n"
		     "2:\n\t"
		     _ASM_EXTABLE(1b, 2b)
		     : : [f] "r" (field), [v] "rm" (value) : "cc", "memory");
}

/*
 * The VMX instructions that take a physical address operand: 0, or -EIO
 * when they VMfail (CF or ZF set) or fault (#UD/#GP lands on label 2).
 */
#define VMX_PA_INSN(insn)						\
	"1: " insn " %[pa]\n\t"					\
	"jna %l[fail]\n\t"						\
	"jmp 3f\n"							\
	"2: jmp %l[fail]\n"						\
	"3:\n\t"							\
	_ASM_EXTABLE(1b, 2b)

static inline int vmx_vmxon(u64 pa)
{
	asm goto(VMX_PA_INSN("vmxon") : : [pa] "m" (pa) : "cc", "memory" : fail);
	return 0;
fail:
	return -EIO;
}

static inline int vmcs_clear(u64 pa)
{
	asm goto(VMX_PA_INSN("vmclear") : : [pa] "m" (pa) : "cc", "memory" : fail);
	return 0;
fail:
	return -EIO;
}

static inline int vmcs_load(u64 pa)
{
	asm goto(VMX_PA_INSN("vmptrld") : : [pa] "m" (pa) : "cc", "memory" : fail);
	return 0;
fail:
	return -EIO;
}

/* INVEPT / INVVPID descriptors (SDM Vol. 3C, 30.3). */
static inline void vmx_invept(unsigned long type, u64 eptp)
{
	struct { u64 eptp, rsvd; } desc = { eptp, 0 };

	asm volatile("1: invept %[d], %[t]\n"
		     "2:\n\t"
		     _ASM_EXTABLE(1b, 2b)
		     : : [d] "m" (desc), [t] "r" (type) : "cc", "memory");
}

static inline void vmx_invvpid(unsigned long type, u16 vpid)
{
	struct { u64 vpid, gva; } desc = { vpid, 0 };

	asm volatile("1: invvpid %[d], %[t]\n"
		     "2:\n\t"
		     _ASM_EXTABLE(1b, 2b)
		     : : [d] "m" (desc), [t] "r" (type) : "cc", "memory");
}

#endif /* KVISOR_VMX_H */
