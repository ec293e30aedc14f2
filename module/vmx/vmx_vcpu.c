// SPDX-License-Identifier: GPL-2.0
/*
 * VT-x backend: the VMCS of a vCPU, VM entry, and decoding VM exits into
 * the neutral struct kvisor_exit.
 *
 * Intel SDM Vol. 3C: 24 (VMCS layout), 25 (VMX non-root operation), 26
 * (VM entries and their checks), 27 (VM exits), 28 (EPT, VPID), 30 (VMX
 * instructions); Vol. 3D appendix A (capability MSRs), B (field
 * encodings), C (exit reasons).
 *
 * Where the VMCS lives (SDM 24.1, 24.11.3): a VMCS is "active" on at most
 * one CPU at a time and must be VMCLEARed on that CPU before another CPU
 * may VMPTRLD it.  The core brackets every vCPU ioctl with vcpu_load /
 * vcpu_put (under the vCPU mutex, process context):
 *
 *  - vcpu_load VMPTRLDs the VMCS on the calling CPU and registers a
 *    preempt notifier for the calling task;
 *  - when the task is scheduled out (preemption, sleeping in an ioctl,
 *    migration), sched_out VMCLEARs the VMCS on the CPU it was active on
 *    (the notifier runs on that CPU, before the switch) and marks it not
 *    launched; sched_in VMPTRLDs it on whatever CPU the task now runs on
 *    and rewrites the per-CPU host-state fields;
 *  - vcpu_put VMCLEARs and unregisters.
 *
 * So between load and put the VMCS is current on the CPU the task runs
 * on, at every instruction boundary outside the two notifiers: VMREAD and
 * VMWRITE are safe from preemptible code, and run() (preemption off) sees
 * it current on this CPU.  Outside load/put it is clear (in memory) and
 * active nowhere, so it may be freed, and VMXOFF never finds it active.
 *
 * TLB tags: each vCPU has its own VPID.  Guest translations are cached
 * as combined mappings tagged with VPID and EPTP (SDM 28.3.1); INVEPT
 * single-context on the EPTP drops them for all VPIDs.  run() does it
 * when the vCPU arrives on a CPU other than the one it last ran on, and
 * when the core bumped vm->tlb_gen (translations removed, pages about to
 * be unpinned: the core's IPI guarantees nobody runs with the old
 * generation when it returns).  vm_destroy flushes the EPTP on every CPU,
 * so a reused root page or VPID finds nothing stale.
 */
#include <linux/bitmap.h>
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/moduleparam.h>
#include <linux/percpu.h>
#include <linux/preempt.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/spinlock.h>
#include <asm/cpu_entry_area.h>
#include <asm/debugreg.h>
#include <asm/desc.h>
#include <asm/fpu/xcr.h>
#include <asm/msr.h>
#include <asm/processor-flags.h>
#include <asm/segment.h>
#include <asm/special_insns.h>
#include <asm/tlbflush.h>

#include "../kvisor.h"
#include "vmx.h"

struct vmx_vcpu {
	struct kvisor_vcpu *vcpu;
	struct page *vmcs;
	u64 vmcs_pa;
	struct preempt_notifier pn;
	int cpu;		/* where the VMCS is active; -1: clear */
	bool launched;		/* VMRESUME, not VMLAUNCH */
	int last_cpu;		/* where the guest last ran */
	u64 tlb_gen;		/* vm->tlb_gen of the last flush */
	bool flush_tlb;		/* paging state changed behind the CPU */
	u16 vpid;
	u64 eptp;

	/* cached control fields */
	u32 proc;
	u32 entry;

	/* host values last written, to skip VMWRITEs */
	unsigned long host_cr3, host_cr4;
	unsigned long host_debugctl;	/* read when the VMCS is loaded */

	/* guest state the VMCS does not hold */
	u64 cr2;
	u64 cr8;
	unsigned long dr6;	/* DR0-3 are the core's; DR7 is in the VMCS */
	u64 star, lstar, cstar, sfmask, kernel_gs_base;
	u64 rip_at_exit;	/* to notice an emulated instruction */
	u64 rflags_at_exit;	/* and TF cleared by SET_REGS */

	/* an event whose delivery the last exit interrupted (27.2.4) */
	bool reinject;
	u32 reinject_info;
	u32 reinject_err;
	u32 reinject_len;
};

static struct page *vmx_io_bitmaps, *vmx_msr_bitmap;
static u64 vmx_host_xcr0;
static u64 vmx_host_star, vmx_host_lstar, vmx_host_cstar, vmx_host_sfmask;

/* VPIDs 1..65535; 0 is the host's. */
static unsigned long *vmx_vpid_map;
static DEFINE_SPINLOCK(vmx_vpid_lock);

/* Guest/host masks: the bits the guest writes only through kvisor. */
static u64 vmx_cr0_mask, vmx_cr4_mask;

int vmx_vcpu_setup(void)
{
	vmx_io_bitmaps = alloc_pages(GFP_KERNEL, 1);
	vmx_msr_bitmap = alloc_page(GFP_KERNEL);
	vmx_vpid_map = bitmap_zalloc(VMX_NR_VPIDS, GFP_KERNEL);
	if (!vmx_io_bitmaps || !vmx_msr_bitmap || !vmx_vpid_map) {
		vmx_vcpu_cleanup();
		return -ENOMEM;
	}
	/* Every port and every MSR exits (SDM 25.1.3, 24.6.4, 24.6.9). */
	memset(page_address(vmx_io_bitmaps), 0xff, 2 * PAGE_SIZE);
	memset(page_address(vmx_msr_bitmap), 0xff, PAGE_SIZE);
	__set_bit(0, vmx_vpid_map);

	if (boot_cpu_has(X86_FEATURE_OSXSAVE))
		vmx_host_xcr0 = xgetbv(XCR_XFEATURE_ENABLED_MASK);
	/* The kernel sets these once at boot, the same on every CPU. */
	rdmsrl(MSR_STAR, vmx_host_star);
	rdmsrl(MSR_LSTAR, vmx_host_lstar);
	rdmsrl(MSR_CSTAR, vmx_host_cstar);
	rdmsrl(MSR_SYSCALL_MASK, vmx_host_sfmask);

	/*
	 * SDM 23.8 and A.7/A.8: bits fixed to 1 or 0 in VMX operation.
	 * Unrestricted guest frees PE and PG (26.3.1.1), but kvisor owns
	 * PG anyway: turning paging on or off switches IA-32e mode, which
	 * the "IA-32e mode guest" entry control must follow.
	 */
	vmx_cr0_mask = (vmx_cfg.cr0_fixed0 & ~(u64)(X86_CR0_PE | X86_CR0_PG)) |
		       ~vmx_cfg.cr0_fixed1 | X86_CR0_PG;
	vmx_cr4_mask = vmx_cfg.cr4_fixed0 | ~vmx_cfg.cr4_fixed1 |
		       X86_CR4_VMXE | X86_CR4_SMXE;
	return 0;
}

void vmx_vcpu_cleanup(void)
{
	if (vmx_io_bitmaps)
		__free_pages(vmx_io_bitmaps, 1);
	if (vmx_msr_bitmap)
		__free_page(vmx_msr_bitmap);
	bitmap_free(vmx_vpid_map);
	vmx_io_bitmaps = NULL;
	vmx_msr_bitmap = NULL;
	vmx_vpid_map = NULL;
}

/* After VMXON: drop whatever a previous VMX user left (28.3.3.3). */
void vmx_flush_all_this_cpu(void)
{
	u64 cap = vmx_cfg.ept_vpid_cap;

	if (cap & VMX_EPT_EXTENT_GLOBAL_BIT)
		vmx_invept(VMX_EPT_EXTENT_GLOBAL, 0);
	if (vmx_cfg.has_vpid &&
	    (cap & ((u64)VMX_VPID_EXTENT_GLOBAL_CONTEXT_BIT << 32)))
		vmx_invvpid(VMX_VPID_EXTENT_ALL_CONTEXT, 0);
}

static void vmx_flush_ept(u64 eptp)
{
	if (vmx_cfg.ept_vpid_cap & VMX_EPT_EXTENT_CONTEXT_BIT)
		vmx_invept(VMX_EPT_EXTENT_CONTEXT, eptp);
	else
		vmx_invept(VMX_EPT_EXTENT_GLOBAL, 0);
}

/* ---------------------------------------------------------------- */
/* VMs                                                              */
/* ---------------------------------------------------------------- */

/* An administrator may keep VT-x for other users: vmx_vms=0 refuses VMs. */
static bool vmx_vms = true;
module_param(vmx_vms, bool, 0444);
MODULE_PARM_DESC(vmx_vms, "run VMs on VT-x (default on)");

int vmx_vm_init(struct kvisor_vm *vm)
{
	if (!vmx_cfg.can_run) {
		pr_info_once("kvisor: VT-x: cannot run VMs on this CPU (%s)\n",
			     vmx_cfg.why_not);
		return -EOPNOTSUPP;
	}
	if (!vmx_vms) {
		pr_info_once("kvisor: VMs on VT-x are off (vmx_vms=0)\n");
		return -EOPNOTSUPP;
	}
	/* The EPTP names a 4-level walk (SDM 24.6.11), whatever the host. */
	vm->npt_levels = 4;
	return 0;
}

static u64 vmx_eptp(struct kvisor_vm *vm)
{
	/* WB (bits 2:0 = 6), walk length - 1 in bits 5:3 (24.6.11). */
	return page_to_phys(vm->npt_root) | VMX_EPTP_MT_WB | VMX_EPTP_PWL_4;
}

static void vmx_flush_ept_ipi(void *eptp)
{
	vmx_flush_ept(*(u64 *)eptp);
}

void vmx_vm_destroy(struct kvisor_vm *vm)
{
	u64 eptp = vmx_eptp(vm);

	/* The root page and VPIDs may be reused: leave no tagged entries. */
	on_each_cpu(vmx_flush_ept_ipi, &eptp, 1);
}

/* ---------------------------------------------------------------- */
/* Loading the VMCS on a CPU                                        */
/* ---------------------------------------------------------------- */

static inline struct vmx_vcpu *to_vmx(struct kvisor_vcpu *vcpu)
{
	return vcpu->arch;
}

/* Host state that differs between CPUs (SDM 24.5, 26.2.3). */
static void vmx_write_host_percpu(struct vmx_vcpu *vx, int cpu)
{
	struct desc_ptr idt;
	u64 v;

	vmcs_write(HOST_TR_BASE,
		   (unsigned long)&get_cpu_entry_area(cpu)->tss.x86_tss);
	vmcs_write(HOST_GDTR_BASE, (unsigned long)get_current_gdt_ro());
	store_idt(&idt);
	vmcs_write(HOST_IDTR_BASE, idt.address);
	rdmsrl(MSR_GS_BASE, v);
	vmcs_write(HOST_GS_BASE, v);
	rdmsrl(MSR_FS_BASE, v);
	vmcs_write(HOST_FS_BASE, v);
	rdmsrl(MSR_IA32_SYSENTER_CS, v);
	vmcs_write(HOST_IA32_SYSENTER_CS, v);
	rdmsrl(MSR_IA32_SYSENTER_ESP, v);
	vmcs_write(HOST_IA32_SYSENTER_ESP, v);
	rdmsrl(MSR_IA32_SYSENTER_EIP, v);
	vmcs_write(HOST_IA32_SYSENTER_EIP, v);
	rdmsrl(MSR_EFER, v);
	vmcs_write(HOST_IA32_EFER, v);
	rdmsrl(MSR_IA32_CR_PAT, v);
	vmcs_write(HOST_IA32_PAT, v);
	vmcs_write(HOST_CR0, read_cr0());
	vx->host_cr3 = __read_cr3();
	vmcs_write(HOST_CR3, vx->host_cr3);
	vx->host_cr4 = cr4_read_shadow();
	vmcs_write(HOST_CR4, vx->host_cr4);
}

/* Preemption off.  Make the VMCS current here. */
static void vmx_activate(struct vmx_vcpu *vx)
{
	int cpu = smp_processor_id();

	if (WARN_ON_ONCE(vx->cpu != -1 && vx->cpu != cpu))
		return;
	if (vmcs_load(vx->vmcs_pa)) {
		pr_err_ratelimited("kvisor: CPU %d: VMPTRLD failed\n", cpu);
		return;
	}
	vx->cpu = cpu;
	vmx_write_host_percpu(vx, cpu);
	/*
	 * DEBUGCTL changes only with the task (BTF, LBR on context switch),
	 * and we are called at every switch to this task: read it here,
	 * not at every entry.
	 */
	vx->host_debugctl = get_debugctlmsr();
}

/* Preemption off, on the CPU where the VMCS is active. */
static void vmx_deactivate(struct vmx_vcpu *vx)
{
	if (vx->cpu == -1)
		return;
	WARN_ON_ONCE(vx->cpu != smp_processor_id());
	vmcs_clear(vx->vmcs_pa);
	vx->cpu = -1;
	vx->launched = false;
}

static void vmx_sched_in(struct preempt_notifier *pn, int cpu)
{
	vmx_activate(container_of(pn, struct vmx_vcpu, pn));
}

static void vmx_sched_out(struct preempt_notifier *pn, struct task_struct *next)
{
	vmx_deactivate(container_of(pn, struct vmx_vcpu, pn));
}

static struct preempt_ops vmx_preempt_ops = {
	.sched_in = vmx_sched_in,
	.sched_out = vmx_sched_out,
};

void vmx_vcpu_load(struct kvisor_vcpu *vcpu)
{
	struct vmx_vcpu *vx = to_vmx(vcpu);

	preempt_disable();
	vmx_activate(vx);
	preempt_notifier_register(&vx->pn);
	preempt_enable();
}

void vmx_vcpu_put(struct kvisor_vcpu *vcpu)
{
	struct vmx_vcpu *vx = to_vmx(vcpu);

	preempt_disable();
	preempt_notifier_unregister(&vx->pn);
	vmx_deactivate(vx);
	preempt_enable();
}

/* ---------------------------------------------------------------- */
/* vCPU creation: the VMCS fields (SDM 24.4-24.8)                   */
/* ---------------------------------------------------------------- */

/* VMCS field encodings of the segment registers. */
struct vmx_seg_fields {
	u32 sel, base, limit, ar;
};

#define SEG_FIELDS(s) { GUEST_##s##_SELECTOR, GUEST_##s##_BASE, \
			GUEST_##s##_LIMIT, GUEST_##s##_AR_BYTES }
enum {
	VSEG_ES, VSEG_CS, VSEG_SS, VSEG_DS, VSEG_FS, VSEG_GS, VSEG_LDTR, VSEG_TR
};
static const struct vmx_seg_fields vmx_segs[] = {
	[VSEG_ES] = SEG_FIELDS(ES),
	[VSEG_CS] = SEG_FIELDS(CS),
	[VSEG_SS] = SEG_FIELDS(SS),
	[VSEG_DS] = SEG_FIELDS(DS),
	[VSEG_FS] = SEG_FIELDS(FS),
	[VSEG_GS] = SEG_FIELDS(GS),
	[VSEG_LDTR] = SEG_FIELDS(LDTR),
	[VSEG_TR] = SEG_FIELDS(TR),
};

/* Access rights (24.4.1): the descriptor's bits 8-15, 20-23 and unusable. */
#define VMX_AR_DPL_SHIFT	5
#define VMX_AR_L		BIT(13)
#define VMX_AR_DB		BIT(14)
#define VMX_AR_UNUSABLE		BIT(16)

static void vmx_set_seg_raw(int seg, u16 sel, u64 base, u32 limit, u32 ar)
{
	vmcs_write(vmx_segs[seg].sel, sel);
	vmcs_write(vmx_segs[seg].base, base);
	vmcs_write(vmx_segs[seg].limit, limit);
	vmcs_write(vmx_segs[seg].ar, ar);
}

static u64 vmx_real_cr0(u64 cr0)
{
	u64 fixed0 = vmx_cfg.cr0_fixed0 & ~(u64)(X86_CR0_PE | X86_CR0_PG);

	return (cr0 | fixed0) & vmx_cfg.cr0_fixed1;
}

static u64 vmx_real_cr4(u64 cr4)
{
	return (cr4 | vmx_cfg.cr4_fixed0) & vmx_cfg.cr4_fixed1;
}

/* The state after RESET (SDM Vol. 3A, 9.1.1), CR0.CD/NW cleared. */
static void vmx_reset_state(struct vmx_vcpu *vx)
{
	int i;

	vmx_set_seg_raw(VSEG_CS, 0xf000, 0xffff0000, 0xffff, 0x9b);
	for (i = VSEG_ES; i <= VSEG_GS; i++)
		if (i != VSEG_CS)
			vmx_set_seg_raw(i, 0, 0, 0xffff, 0x93);
	vmx_set_seg_raw(VSEG_LDTR, 0, 0, 0xffff, 0x82);
	vmx_set_seg_raw(VSEG_TR, 0, 0, 0xffff, 0x8b);
	vmcs_write(GUEST_GDTR_BASE, 0);
	vmcs_write(GUEST_GDTR_LIMIT, 0xffff);
	vmcs_write(GUEST_IDTR_BASE, 0);
	vmcs_write(GUEST_IDTR_LIMIT, 0xffff);
	vmcs_write(CR0_READ_SHADOW, X86_CR0_ET);
	vmcs_write(GUEST_CR0, vmx_real_cr0(X86_CR0_ET));
	vmcs_write(CR4_READ_SHADOW, 0);
	vmcs_write(GUEST_CR4, vmx_real_cr4(0));
	vmcs_write(GUEST_CR3, 0);
	vmcs_write(GUEST_DR7, 0x400);
	vx->dr6 = DR6_RESERVED;
	vmcs_write(GUEST_IA32_EFER, 0);
	vmcs_write(GUEST_IA32_PAT, 0x0007040600070406ULL);
	vmcs_write(GUEST_IA32_DEBUGCTL, 0);
	vmcs_write(GUEST_SYSENTER_CS, 0);
	vmcs_write(GUEST_SYSENTER_ESP, 0);
	vmcs_write(GUEST_SYSENTER_EIP, 0);
	vmcs_write(GUEST_RFLAGS, X86_EFLAGS_FIXED);
	vmcs_write(GUEST_RIP, 0xfff0);
	vmcs_write(GUEST_RSP, 0);
	vmcs_write(GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE);
	vmcs_write(GUEST_INTERRUPTIBILITY_INFO, 0);
	vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS, 0);
	vmcs_write(VMCS_LINK_POINTER, ~0ULL);
}

static void vmx_setup_vmcs(struct vmx_vcpu *vx)
{
	u64 io = page_to_phys(vmx_io_bitmaps);

	vx->proc = vmx_cfg.proc;
	vx->entry = vmx_cfg.entry;
	vmcs_write(PIN_BASED_VM_EXEC_CONTROL, vmx_cfg.pin);
	vmcs_write(CPU_BASED_VM_EXEC_CONTROL, vx->proc);
	vmcs_write(SECONDARY_VM_EXEC_CONTROL, vmx_cfg.proc2);
	vmcs_write(VM_EXIT_CONTROLS, vmx_cfg.exit);
	vmcs_write(VM_ENTRY_CONTROLS, vx->entry);
	/* #UD only: VMMCALL, AMD's hypercall, is one on Intel (below). */
	vmcs_write(EXCEPTION_BITMAP, BIT(KVISOR_UD_VECTOR));
	vmcs_write(PAGE_FAULT_ERROR_CODE_MASK, 0);
	vmcs_write(PAGE_FAULT_ERROR_CODE_MATCH, 0);
	vmcs_write(CR3_TARGET_COUNT, 0);
	vmcs_write(IO_BITMAP_A, io);
	vmcs_write(IO_BITMAP_B, io + PAGE_SIZE);
	vmcs_write(MSR_BITMAP, page_to_phys(vmx_msr_bitmap));
	vmcs_write(TSC_OFFSET, 0);
	vmcs_write(CR0_GUEST_HOST_MASK, vmx_cr0_mask);
	vmcs_write(CR4_GUEST_HOST_MASK, vmx_cr4_mask);
	vmcs_write(VM_EXIT_MSR_STORE_COUNT, 0);
	vmcs_write(VM_EXIT_MSR_LOAD_COUNT, 0);
	vmcs_write(VM_ENTRY_MSR_LOAD_COUNT, 0);
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD, 0);
	vmcs_write(EPT_POINTER, vx->eptp);
	if (vmx_cfg.has_vpid)
		vmcs_write(VIRTUAL_PROCESSOR_ID, vx->vpid);

	/* Host state that is the same on every CPU (24.5). */
	vmcs_write(HOST_CS_SELECTOR, __KERNEL_CS);
	vmcs_write(HOST_SS_SELECTOR, __KERNEL_DS);
	vmcs_write(HOST_DS_SELECTOR, 0);
	vmcs_write(HOST_ES_SELECTOR, 0);
	vmcs_write(HOST_FS_SELECTOR, 0);
	vmcs_write(HOST_GS_SELECTOR, 0);
	vmcs_write(HOST_TR_SELECTOR, GDT_ENTRY_TSS * 8);
	vmcs_write(HOST_RIP, (unsigned long)kvisor_vmx_vmexit);

	vmx_reset_state(vx);
}

static u16 vmx_alloc_vpid(void)
{
	unsigned long v;

	if (!vmx_cfg.has_vpid)
		return 0;
	spin_lock(&vmx_vpid_lock);
	v = find_first_zero_bit(vmx_vpid_map, VMX_NR_VPIDS);
	if (v < VMX_NR_VPIDS)
		__set_bit(v, vmx_vpid_map);
	else
		v = 0;	/* out of tags: share the host's, flushed on entry */
	spin_unlock(&vmx_vpid_lock);
	return v;
}

static void vmx_free_vpid(u16 vpid)
{
	if (!vpid)
		return;
	spin_lock(&vmx_vpid_lock);
	__clear_bit(vpid, vmx_vpid_map);
	spin_unlock(&vmx_vpid_lock);
}

int vmx_vcpu_create(struct kvisor_vcpu *vcpu)
{
	struct vmx_vcpu *vx;
	int ret;

	vx = kzalloc(sizeof(*vx), GFP_KERNEL_ACCOUNT);
	if (!vx)
		return -ENOMEM;
	vx->vmcs = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!vx->vmcs) {
		kfree(vx);
		return -ENOMEM;
	}
	/* SDM 24.2: the revision identifier, shadow-VMCS indicator 0. */
	*(u32 *)page_address(vx->vmcs) = vmx_cfg.revision_id;
	vx->vmcs_pa = page_to_phys(vx->vmcs);
	vx->vcpu = vcpu;
	vx->cpu = -1;
	vx->last_cpu = -1;
	vx->vpid = vmx_alloc_vpid();
	vx->eptp = vmx_eptp(vcpu->vm);
	vx->rip_at_exit = 0xfff0;
	preempt_notifier_init(&vx->pn, &vmx_preempt_ops);

	/* A VMCS is initialized by VMCLEAR (24.11.3), then filled in. */
	ret = -EIO;
	preempt_disable();
	if (!vmcs_clear(vx->vmcs_pa) && !vmcs_load(vx->vmcs_pa)) {
		vmx_setup_vmcs(vx);
		vmcs_clear(vx->vmcs_pa);
		ret = 0;
	}
	preempt_enable();
	if (ret) {
		vmx_free_vpid(vx->vpid);
		__free_page(vx->vmcs);
		kfree(vx);
		return ret;
	}
	preempt_notifier_inc();
	vcpu->arch = vx;
	return 0;
}

void vmx_vcpu_free(struct kvisor_vcpu *vcpu)
{
	struct vmx_vcpu *vx = to_vmx(vcpu);

	if (!vx)
		return;
	/* vcpu_put left it clear; nothing is active anywhere. */
	WARN_ON_ONCE(vx->cpu != -1);
	preempt_notifier_dec();
	vmx_free_vpid(vx->vpid);
	__free_page(vx->vmcs);
	kfree(vx);
	vcpu->arch = NULL;
}

/* ---------------------------------------------------------------- */
/* Control registers                                                */
/* ---------------------------------------------------------------- */

static u64 vmx_guest_cr0(void)
{
	return (vmcs_read(GUEST_CR0) & ~vmx_cr0_mask) |
	       (vmcs_read(CR0_READ_SHADOW) & vmx_cr0_mask);
}

static u64 vmx_guest_cr4(void)
{
	return (vmcs_read(GUEST_CR4) & ~vmx_cr4_mask) |
	       (vmcs_read(CR4_READ_SHADOW) & vmx_cr4_mask);
}

static void vmx_set_entry(struct vmx_vcpu *vx, u32 entry)
{
	if (entry != vx->entry) {
		vx->entry = entry;
		vmcs_write(VM_ENTRY_CONTROLS, entry);
	}
}

/*
 * PAE paging with EPT: VM entry loads the PDPTEs from the VMCS, not from
 * CR3 (26.3.2.4).  After kvisor itself changed CR0/CR3/CR4 they must be
 * read from guest memory, as a MOV to CR would.
 */
static int vmx_load_pdptrs(struct kvisor_vcpu *vcpu)
{
	u64 pdpte[4];
	int i;

	if (kvisor_read_gpa(vcpu->vm, vmcs_read(GUEST_CR3) & 0xffffffe0ULL,
			    pdpte, sizeof(pdpte)))
		return -EFAULT;
	for (i = 0; i < 4; i++)
		vmcs_write(GUEST_PDPTR0 + 2 * i, pdpte[i]);
	return 0;
}

static bool vmx_pae_paging(u64 cr0, u64 cr4, u64 efer)
{
	return (cr0 & X86_CR0_PG) && (cr4 & X86_CR4_PAE) && !(efer & EFER_LMA);
}

/* MOV to CR0, CLTS, LMSW; also SET_SREGS (@check false). */
static int vmx_set_cr0(struct kvisor_vcpu *vcpu, u64 val, bool check)
{
	struct vmx_vcpu *vx = to_vmx(vcpu);
	u64 old = vmx_guest_cr0(), cr4 = vmx_guest_cr4();
	u64 efer = vmcs_read(GUEST_IA32_EFER);
	u32 entry = vx->entry;

	if (check) {
		/* SDM Vol. 3A 2.5, 4.1.2: the #GP(0) cases of MOV to CR0 */
		if ((val >> 32) || ((val & X86_CR0_PG) && !(val & X86_CR0_PE)) ||
		    ((val & X86_CR0_NW) && !(val & X86_CR0_CD)))
			return -EINVAL;
		if (!(old & X86_CR0_PG) && (val & X86_CR0_PG) &&
		    (efer & EFER_LME) && !(cr4 & X86_CR4_PAE))
			return -EINVAL;
	}
	/* IA32_EFER.LMA follows paging when LME is set (Vol. 3A 9.8.5). */
	if ((val & X86_CR0_PG) && (efer & EFER_LME))
		efer |= EFER_LMA;
	else if (!(val & X86_CR0_PG))
		efer &= ~(u64)EFER_LMA;
	if (efer & EFER_LMA)
		entry |= VM_ENTRY_IA32E_MODE;
	else
		entry &= ~VM_ENTRY_IA32E_MODE;
	vmcs_write(GUEST_IA32_EFER, efer);
	vmx_set_entry(vx, entry);
	vmcs_write(CR0_READ_SHADOW, val);
	vmcs_write(GUEST_CR0, vmx_real_cr0(val));
	/*
	 * Emulated or set from userspace, the write did not flush what a
	 * real MOV to CR0 would have (SDM Vol. 3A 4.10.4.1): the guest's
	 * translations go at the next entry when paging changed.
	 */
	if ((old ^ val) & (X86_CR0_PG | X86_CR0_WP | X86_CR0_PE))
		vx->flush_tlb = true;
	if (check && !(old & X86_CR0_PG) && vmx_pae_paging(val, cr4, efer))
		return vmx_load_pdptrs(vcpu);
	return 0;
}

static int vmx_set_cr4(struct kvisor_vcpu *vcpu, u64 val, bool check)
{
	struct vmx_vcpu *vx = to_vmx(vcpu);
	u64 old = vmx_guest_cr4(), cr0 = vmx_guest_cr0();
	u64 efer = vmcs_read(GUEST_IA32_EFER);
	u64 allowed = vmx_cfg.cr4_fixed1 & ~(u64)(X86_CR4_VMXE | X86_CR4_SMXE);

	if (check) {
		if ((val & ~allowed) ||
		    ((efer & EFER_LMA) && !(val & X86_CR4_PAE)))
			return -EINVAL;
	}
	vmcs_write(CR4_READ_SHADOW, val);
	vmcs_write(GUEST_CR4, vmx_real_cr4(val));
	/* The same for CR4 bits that change how linear addresses translate. */
	if ((old ^ val) & (X86_CR4_PGE | X86_CR4_PAE | X86_CR4_PSE |
			   X86_CR4_PCIDE | X86_CR4_SMEP | X86_CR4_SMAP |
			   X86_CR4_PKE | X86_CR4_LA57))
		vx->flush_tlb = true;
	if (check && ((old ^ val) & (X86_CR4_PAE | X86_CR4_PSE | X86_CR4_PGE)) &&
	    vmx_pae_paging(cr0, val, efer))
		return vmx_load_pdptrs(vcpu);
	return 0;
}

bool vmx_long_mode(struct kvisor_vcpu *vcpu)
{
	return (vmcs_read(GUEST_IA32_EFER) & EFER_LMA) &&
	       (vmcs_read(GUEST_CS_AR_BYTES) & VMX_AR_L);
}

/* Exit reason 28 (qualification: SDM Vol. 3C, table 27-3). */
static void vmx_handle_cr(struct kvisor_vcpu *vcpu, struct kvisor_exit *x,
			  u64 qual)
{
	struct vmx_vcpu *vx = to_vmx(vcpu);
	unsigned int cr = qual & 15, type = (qual >> 4) & 3;
	unsigned int reg = (qual >> 8) & 15;
	u64 val = vcpu->gpr[reg];
	int ret = -EINVAL;

	x->kind = KVISOR_X_NONE;
	if (!vmx_long_mode(vcpu))
		val = (u32)val;
	switch (type) {
	case 0:		/* MOV to CR */
		if (cr == 0)
			ret = vmx_set_cr0(vcpu, val, true);
		else if (cr == 4)
			ret = vmx_set_cr4(vcpu, val, true);
		else if (cr == 8 && val <= 15) {
			vx->cr8 = val;
			ret = 0;
		}
		break;
	case 1:		/* MOV from CR */
		if (cr == 8) {
			vcpu->gpr[reg] = vx->cr8;
			ret = 0;
		}
		break;
	case 2:		/* CLTS */
		ret = vmx_set_cr0(vcpu, vmx_guest_cr0() & ~(u64)X86_CR0_TS, true);
		break;
	case 3:		/* LMSW: PE, MP, EM, TS; PE cannot be cleared */
		val = vmx_guest_cr0();
		val = (val & ~0xeULL) | ((qual >> 16) & 0xf);
		ret = vmx_set_cr0(vcpu, val, true);
		break;
	}
	if (ret) {
		kvisor_vcpu_queue_exception(vcpu, KVISOR_GP_VECTOR, true, 0);
		return;
	}
	vcpu->rip += vmcs_read(VM_EXIT_INSTRUCTION_LEN);
}

/* ---------------------------------------------------------------- */
/* Entry and exit                                                   */
/* ---------------------------------------------------------------- */

/* VM-entry failures: what userspace and the log get to see. */
static void vmx_report_entry_failure(struct kvisor_vcpu *vcpu, u64 reason,
				     u64 detail)
{
	pr_info_ratelimited("kvisor: vCPU %u: VM entry failed: reason %#llx detail %#llx; cr0 %#lx cr4 %#lx efer %#lx entry %#lx cs %#lx/%#lx ss %#lx tr %#lx rip %#lx rflags %#lx intr %#lx\n",
			    vcpu->id, reason, detail,
			    vmcs_read(GUEST_CR0), vmcs_read(GUEST_CR4),
			    vmcs_read(GUEST_IA32_EFER),
			    vmcs_read(VM_ENTRY_CONTROLS),
			    vmcs_read(GUEST_CS_SELECTOR),
			    vmcs_read(GUEST_CS_AR_BYTES),
			    vmcs_read(GUEST_SS_AR_BYTES),
			    vmcs_read(GUEST_TR_AR_BYTES),
			    vmcs_read(GUEST_RIP), vmcs_read(GUEST_RFLAGS),
			    vmcs_read(VM_ENTRY_INTR_INFO_FIELD));
}

/* The address size of INS/OUTS (27.2.5, table 27-8) or of the mode. */
static u8 vmx_io_addr_size(struct kvisor_vcpu *vcpu)
{
	u32 ar;

	if (vmx_cfg.inout_info)
		return 2 << ((vmcs_read(VMX_INSTRUCTION_INFO) >> 7) & 7);
	if (vmx_long_mode(vcpu))
		return 8;
	ar = vmcs_read(GUEST_CS_AR_BYTES);
	return (vmx_guest_cr0() & X86_CR0_PE) && (ar & VMX_AR_DB) ? 4 : 2;
}

static void vmx_decode_exit(struct kvisor_vcpu *vcpu, struct kvisor_exit *x)
{
	struct vmx_vcpu *vx = to_vmx(vcpu);
	u32 reason = vmcs_read(VM_EXIT_REASON);
	u64 qual = vmcs_read(EXIT_QUALIFICATION);
	u32 idt = vmcs_read(IDT_VECTORING_INFO_FIELD);
	u32 len = vmcs_read(VM_EXIT_INSTRUCTION_LEN);
	u32 intr;

	x->hw_reason = reason;
	x->hw_info = qual;
	x->insn_len = 0;

	/* Entry failed while or after loading guest state (26.8). */
	if (reason & VMX_EXIT_REASONS_FAILED_VMENTRY) {
		x->kind = KVISOR_X_FAIL_ENTRY;
		vmx_report_entry_failure(vcpu, reason, qual);
		return;
	}

	/* An event whose delivery was cut short is delivered again. */
	if (idt & VECTORING_INFO_VALID_MASK) {
		vx->reinject = true;
		vx->reinject_info = idt & (VECTORING_INFO_VECTOR_MASK |
					   VECTORING_INFO_TYPE_MASK |
					   VECTORING_INFO_DELIVER_CODE_MASK |
					   VECTORING_INFO_VALID_MASK);
		vx->reinject_err = vmcs_read(IDT_VECTORING_ERROR_CODE);
		vx->reinject_len = len;
	}

	switch ((u16)reason) {
	case EXIT_REASON_EXCEPTION_NMI:
		intr = vmcs_read(VM_EXIT_INTR_INFO);
		if ((intr & INTR_INFO_INTR_TYPE_MASK) == INTR_TYPE_NMI_INTR)
			x->kind = KVISOR_X_NMI;
		else if ((intr & INTR_INFO_VECTOR_MASK) == KVISOR_UD_VECTOR)
			x->kind = KVISOR_X_UD_FAULT;	/* VMMCALL? the core looks */
		else
			x->kind = KVISOR_X_UNEXPECTED;
		break;
	case EXIT_REASON_EXTERNAL_INTERRUPT:
		x->kind = KVISOR_X_EXT_INTR;
		break;
	case EXIT_REASON_PREEMPTION_TIMER:
		x->kind = KVISOR_X_NONE;	/* host interrupts run next */
		break;
	case EXIT_REASON_TRIPLE_FAULT:
		x->kind = KVISOR_X_SHUTDOWN;
		break;
	case EXIT_REASON_INTERRUPT_WINDOW:
		vmx_set_irq_window(vcpu, false);
		x->kind = KVISOR_X_IRQ_WINDOW;
		break;
	case EXIT_REASON_CPUID:
		x->kind = KVISOR_X_CPUID;
		x->insn_len = len;
		break;
	case EXIT_REASON_HLT:
		x->kind = KVISOR_X_HLT;
		x->insn_len = len;
		break;
	case EXIT_REASON_VMCALL:
		x->kind = KVISOR_X_HYPERCALL;
		x->insn_len = len;
		break;
	case EXIT_REASON_CR_ACCESS:
		vmx_handle_cr(vcpu, x, qual);
		break;
	case EXIT_REASON_IO_INSTRUCTION:
		/* Qualification: SDM Vol. 3C, table 27-5. */
		x->kind = KVISOR_X_IO;
		x->io.port = qual >> 16;
		x->io.size = (qual & 7) + 1;
		x->io.in = qual & BIT(3);
		x->io.string = qual & BIT(4);
		x->io.rep = qual & BIT(5);
		x->io.addr_size = x->io.string ? vmx_io_addr_size(vcpu) : 2;
		x->insn_len = len;
		if (x->io.size != 1 && x->io.size != 2 && x->io.size != 4)
			x->kind = KVISOR_X_UNEXPECTED;
		break;
	case EXIT_REASON_MSR_READ:
		x->kind = KVISOR_X_RDMSR;
		x->insn_len = len;
		break;
	case EXIT_REASON_MSR_WRITE:
		x->kind = KVISOR_X_WRMSR;
		x->insn_len = len;
		break;
	case EXIT_REASON_XSETBV:
		x->kind = KVISOR_X_XSETBV;
		x->insn_len = len;
		break;
	case EXIT_REASON_RDTSCP:
		x->kind = KVISOR_X_RDTSCP;
		x->insn_len = len;
		break;
	case EXIT_REASON_INVD:
	case EXIT_REASON_WBINVD:
		x->kind = KVISOR_X_NOP_INSN;
		x->insn_len = len;
		break;
	case EXIT_REASON_EPT_VIOLATION:
		/* Qualification: SDM Vol. 3C, table 27-7. */
		x->kind = KVISOR_X_NPF;
		x->npf.gpa = vmcs_read(GUEST_PHYSICAL_ADDRESS);
		x->npf.write = qual & EPT_VIOLATION_ACC_WRITE;
		x->npf.fetch = qual & EPT_VIOLATION_ACC_INSTR;
		x->npf.present = qual & EPT_VIOLATION_RWX_MASK;
		/*
		 * A fault in an IRET that unblocked NMIs: blocking comes
		 * back when the IRET is restarted (27.2.3).
		 */
		if ((qual & INTR_INFO_UNBLOCK_NMI) &&
		    !(idt & VECTORING_INFO_VALID_MASK) &&
		    (vmx_cfg.pin & PIN_BASED_VIRTUAL_NMIS))
			vmcs_write(GUEST_INTERRUPTIBILITY_INFO,
				   vmcs_read(GUEST_INTERRUPTIBILITY_INFO) |
				   GUEST_INTR_STATE_NMI);
		break;
	case EXIT_REASON_VMCLEAR:
	case EXIT_REASON_VMLAUNCH:
	case EXIT_REASON_VMPTRLD:
	case EXIT_REASON_VMPTRST:
	case EXIT_REASON_VMREAD:
	case EXIT_REASON_VMRESUME:
	case EXIT_REASON_VMWRITE:
	case EXIT_REASON_VMOFF:
	case EXIT_REASON_VMON:
	case EXIT_REASON_INVEPT:
	case EXIT_REASON_INVVPID:
	case EXIT_REASON_VMFUNC:
	case EXIT_REASON_MWAIT_INSTRUCTION:
	case EXIT_REASON_MONITOR_INSTRUCTION:
	case 11:	/* GETSEC: only exits when CR4.SMXE, which we refuse */
		x->kind = KVISOR_X_UD;
		break;
	default:
		x->kind = KVISOR_X_UNEXPECTED;
		break;
	}
}

/* The registers of the host that a VM exit does not restore (27.5). */
struct vmx_host_save {
	u16 ds, es, fs, gs;
	u64 kernel_gs_base;
	u64 tsc_aux;
	unsigned long dr6;
};

static void vmx_wrmsr_if(u32 msr, u64 cur, u64 val)
{
	if (cur != val)
		wrmsrl(msr, val);
}

static void vmx_switch_to_guest(struct vmx_vcpu *vx, struct vmx_host_save *h)
{
	struct kvisor_vcpu *vcpu = vx->vcpu;

	savesegment(ds, h->ds);
	savesegment(es, h->es);
	savesegment(fs, h->fs);
	savesegment(gs, h->gs);
	rdmsrl(MSR_KERNEL_GS_BASE, h->kernel_gs_base);
	vmx_wrmsr_if(MSR_KERNEL_GS_BASE, h->kernel_gs_base, vx->kernel_gs_base);
	vmx_wrmsr_if(MSR_STAR, vmx_host_star, vx->star);
	vmx_wrmsr_if(MSR_LSTAR, vmx_host_lstar, vx->lstar);
	vmx_wrmsr_if(MSR_CSTAR, vmx_host_cstar, vx->cstar);
	vmx_wrmsr_if(MSR_SYSCALL_MASK, vmx_host_sfmask, vx->sfmask);
	if (vmx_cfg.proc2 & SECONDARY_EXEC_ENABLE_RDTSCP) {
		rdmsrl(MSR_TSC_AUX, h->tsc_aux);
		vmx_wrmsr_if(MSR_TSC_AUX, h->tsc_aux, vcpu->tsc_aux);
	}
	/* CR2 is not in the VMCS (27.3.1): the guest's is loaded by hand. */
	if (native_read_cr2() != vx->cr2)
		native_write_cr2(vx->cr2);
	/*
	 * Nor is DR6, and MOV DR does not exit: the guest reads and writes
	 * the real one, so it must see its own and leave the host's intact.
	 */
	get_debugreg(h->dr6, 6);
	if (h->dr6 != vx->dr6)
		set_debugreg(vx->dr6, 6);
}

static void vmx_switch_to_host(struct vmx_vcpu *vx, struct vmx_host_save *h)
{
	struct kvisor_vcpu *vcpu = vx->vcpu;

	vx->cr2 = native_read_cr2();
	get_debugreg(vx->dr6, 6);
	if (vx->dr6 != h->dr6)
		set_debugreg(h->dr6, 6);
	/*
	 * The guest's KERNEL_GS_BASE first: load_gs_index() below goes
	 * through SWAPGS and would overwrite it with the descriptor's base.
	 */
	rdmsrl(MSR_KERNEL_GS_BASE, vx->kernel_gs_base);
	/* The exit loaded null DS/ES/FS/GS selectors (27.5.2). */
	if (h->ds)
		loadsegment(ds, h->ds);
	if (h->es)
		loadsegment(es, h->es);
	if (h->fs) {
		loadsegment(fs, h->fs);
		wrmsrl(MSR_FS_BASE, vmcs_read(HOST_FS_BASE));
	}
	if (h->gs)
		load_gs_index(h->gs);
	wrmsrl(MSR_KERNEL_GS_BASE, h->kernel_gs_base);
	vmx_wrmsr_if(MSR_STAR, vx->star, vmx_host_star);
	vmx_wrmsr_if(MSR_LSTAR, vx->lstar, vmx_host_lstar);
	vmx_wrmsr_if(MSR_CSTAR, vx->cstar, vmx_host_cstar);
	vmx_wrmsr_if(MSR_SYSCALL_MASK, vx->sfmask, vmx_host_sfmask);
	if (vmx_cfg.proc2 & SECONDARY_EXEC_ENABLE_RDTSCP)
		vmx_wrmsr_if(MSR_TSC_AUX, vcpu->tsc_aux, h->tsc_aux);
	/*
	 * The exit cleared DEBUGCTL and set DR7 to 0x400 (27.5.1); the
	 * core reloads DR7 with the host's breakpoints after run().
	 */
	if (vx->host_debugctl)
		update_debugctlmsr(vx->host_debugctl);
	/* The exit set the TR limit to 0x67 (27.5.2): no I/O bitmap. */
	invalidate_tss_limit();
}

void vmx_run(struct kvisor_vcpu *vcpu, struct kvisor_exit *x)
{
	struct vmx_vcpu *vx = to_vmx(vcpu);
	int cpu = smp_processor_id();
	u64 gen = atomic64_read(&vcpu->vm->tlb_gen);
	struct vmx_host_save h;
	unsigned long cr3, cr4;
	bool swap_xcr0;
	int ret;

	if (WARN_ON_ONCE(vx->cpu != cpu)) {
		x->kind = KVISOR_X_FAIL_ENTRY;
		x->hw_reason = ~0ULL;
		x->hw_info = 0;
		return;
	}

	/*
	 * An emulated instruction (or SET_REGS) ends an STI/MOV SS shadow,
	 * and the debug exceptions the exiting instruction left pending
	 * (single step, data breakpoints: 27.3.4) go with it.  So do they
	 * when userspace cleared TF: VM entry would still deliver them.
	 */
	if (vcpu->rip != vx->rip_at_exit) {
		vmcs_write(GUEST_INTERRUPTIBILITY_INFO,
			   vmcs_read(GUEST_INTERRUPTIBILITY_INFO) &
			   ~(u64)(GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS));
		vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS, 0);
	} else if ((vx->rflags_at_exit & ~vcpu->rflags) & X86_EFLAGS_TF) {
		vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS, 0);
	}
	vmcs_write(GUEST_RSP, vcpu->gpr[KVISOR_RSP]);
	vmcs_write(GUEST_RIP, vcpu->rip);
	vmcs_write(GUEST_RFLAGS, vcpu->rflags);

	if (vx->last_cpu != cpu || vx->tlb_gen != gen || vx->flush_tlb) {
		vmx_flush_ept(vx->eptp);
		if (!vx->vpid)
			vmx_invvpid(VMX_VPID_EXTENT_ALL_CONTEXT, 0);
		vx->last_cpu = cpu;
		vx->tlb_gen = gen;
		vx->flush_tlb = false;
	}
	if (vx->reinject) {
		u32 type = vx->reinject_info & INTR_INFO_INTR_TYPE_MASK;

		vmcs_write(VM_ENTRY_INTR_INFO_FIELD, vx->reinject_info);
		vmcs_write(VM_ENTRY_EXCEPTION_ERROR_CODE, vx->reinject_err);
		if (type == INTR_TYPE_SOFT_INTR || type == INTR_TYPE_SOFT_EXCEPTION ||
		    type == INTR_TYPE_PRIV_SW_EXCEPTION)
			vmcs_write(VM_ENTRY_INSTRUCTION_LEN, vx->reinject_len);
		vx->reinject = false;
	}

	if (vmx_cfg.preempt_ticks)
		vmcs_write(VMX_PREEMPTION_TIMER_VALUE, vmx_cfg.preempt_ticks);

	/* The kernel may have switched PCIDs or CR4 bits since. */
	cr3 = __read_cr3();
	if (cr3 != vx->host_cr3) {
		vmcs_write(HOST_CR3, cr3);
		vx->host_cr3 = cr3;
	}
	cr4 = cr4_read_shadow();
	if (cr4 != vx->host_cr4) {
		vmcs_write(HOST_CR4, cr4);
		vx->host_cr4 = cr4;
	}

	/* XCR0 is not switched by VM entry or exit. */
	swap_xcr0 = vmx_host_xcr0 && (vmx_guest_cr4() & X86_CR4_OSXSAVE) &&
		    vcpu->xcr0 != vmx_host_xcr0;
	if (swap_xcr0)
		xsetbv(XCR_XFEATURE_ENABLED_MASK, vcpu->xcr0);
	vmx_switch_to_guest(vx, &h);

	ret = kvisor_vmx_vmenter(vcpu->gpr, vx->launched);

	vmx_switch_to_host(vx, &h);
	if (swap_xcr0)
		xsetbv(XCR_XFEATURE_ENABLED_MASK, vmx_host_xcr0);

	if (ret) {
		/* VMfail (30.2): nothing of the guest ran. */
		x->kind = KVISOR_X_FAIL_ENTRY;
		x->hw_reason = ~0ULL;
		x->hw_info = ret == 1 ? vmcs_read(VM_INSTRUCTION_ERROR) : ~0ULL;
		x->insn_len = 0;
		vmx_report_entry_failure(vcpu, x->hw_reason, x->hw_info);
		return;
	}

	/*
	 * An NMI exit: the NMI is blocked until the next IRET (27.5.5);
	 * the host's handler runs now, its IRET unblocks.
	 */
	if ((u16)vmcs_read(VM_EXIT_REASON) == EXIT_REASON_EXCEPTION_NMI &&
	    (vmcs_read(VM_EXIT_INTR_INFO) &
	     (INTR_INFO_INTR_TYPE_MASK | INTR_INFO_VALID_MASK)) ==
	    (INTR_TYPE_NMI_INTR | INTR_INFO_VALID_MASK))
		asm volatile("int $2" ::: "memory");

	vx->launched = true;
	vcpu->gpr[KVISOR_RSP] = vmcs_read(GUEST_RSP);
	vcpu->rip = vmcs_read(GUEST_RIP);
	vcpu->rflags = vmcs_read(GUEST_RFLAGS);
	vx->rip_at_exit = vcpu->rip;
	vx->rflags_at_exit = vcpu->rflags;
	vmx_decode_exit(vcpu, x);
	if (x->kind == KVISOR_X_FAIL_ENTRY) {
		/* Back to a clear launch state: the next entry is VMLAUNCH. */
		vmcs_clear(vx->vmcs_pa);
		vmcs_load(vx->vmcs_pa);
		vx->launched = false;
	}
}

/* ---------------------------------------------------------------- */
/* Registers                                                        */
/* ---------------------------------------------------------------- */

/* The VMCS access rights are the packed attributes with a gap (24.4.1). */
static u32 vmx_attr_to_ar(u16 a)
{
	return (a & 0xff) | (u32)(a & 0xf00) << 4;
}

static void vmx_seg_get(int seg, struct kvisor_segment *s)
{
	u32 ar = vmcs_read(vmx_segs[seg].ar);

	s->base = vmcs_read(vmx_segs[seg].base);
	s->limit = vmcs_read(vmx_segs[seg].limit);
	s->selector = vmcs_read(vmx_segs[seg].sel);
	kvisor_seg_set_attr(s, (ar & 0xff) | ((ar >> 4) & 0xf00));
	s->unusable = !!(ar & VMX_AR_UNUSABLE);
	if (s->unusable)
		s->present = 0;
}

/*
 * What SET_SREGS gives, made to pass the guest-state checks of VM entry
 * where the CPU itself would not care (26.3.1.2): usable code and data
 * segments are marked accessed, TR is a busy TSS, G matches the limit.
 */
static void vmx_seg_set(int seg, const struct kvisor_segment *s)
{
	struct kvisor_segment t = *s;

	if (seg == VSEG_TR) {
		t.present = 1;
		t.type = s->unusable || !s->present || !s->type ? 11 : s->type | 2;
		t.s = 0;
	} else if (s->unusable || !s->present) {
		vmx_set_seg_raw(seg, s->selector, s->base, s->limit, VMX_AR_UNUSABLE);
		return;
	} else if (seg != VSEG_LDTR) {
		t.type |= 1;
	}
	if (t.limit > 0xfffff)
		t.g = 1;
	else if ((t.limit & 0xfff) != 0xfff)
		t.g = 0;
	vmx_set_seg_raw(seg, t.selector, t.base, t.limit,
			vmx_attr_to_ar(kvisor_seg_attr(&t)));
}

void vmx_get_sregs(struct kvisor_vcpu *vcpu, struct kvisor_sregs *s)
{
	struct vmx_vcpu *vx = to_vmx(vcpu);

	vmx_seg_get(VSEG_CS, &s->cs);
	vmx_seg_get(VSEG_DS, &s->ds);
	vmx_seg_get(VSEG_ES, &s->es);
	vmx_seg_get(VSEG_FS, &s->fs);
	vmx_seg_get(VSEG_GS, &s->gs);
	vmx_seg_get(VSEG_SS, &s->ss);
	vmx_seg_get(VSEG_TR, &s->tr);
	vmx_seg_get(VSEG_LDTR, &s->ldt);
	s->gdt.base = vmcs_read(GUEST_GDTR_BASE);
	s->gdt.limit = vmcs_read(GUEST_GDTR_LIMIT);
	s->idt.base = vmcs_read(GUEST_IDTR_BASE);
	s->idt.limit = vmcs_read(GUEST_IDTR_LIMIT);
	s->cr0 = vmx_guest_cr0();
	s->cr2 = vx->cr2;
	s->cr3 = vmcs_read(GUEST_CR3);
	s->cr4 = vmx_guest_cr4();
	s->cr8 = vx->cr8;
	s->efer = vmcs_read(GUEST_IA32_EFER);
}

void vmx_set_sregs(struct kvisor_vcpu *vcpu, const struct kvisor_sregs *s)
{
	struct vmx_vcpu *vx = to_vmx(vcpu);
	u64 efer = s->efer;

	vmx_seg_set(VSEG_CS, &s->cs);
	vmx_seg_set(VSEG_DS, &s->ds);
	vmx_seg_set(VSEG_ES, &s->es);
	vmx_seg_set(VSEG_FS, &s->fs);
	vmx_seg_set(VSEG_GS, &s->gs);
	vmx_seg_set(VSEG_SS, &s->ss);
	vmx_seg_set(VSEG_TR, &s->tr);
	vmx_seg_set(VSEG_LDTR, &s->ldt);
	vmcs_write(GUEST_GDTR_BASE, s->gdt.base);
	vmcs_write(GUEST_GDTR_LIMIT, s->gdt.limit);
	vmcs_write(GUEST_IDTR_BASE, s->idt.base);
	vmcs_write(GUEST_IDTR_LIMIT, s->idt.limit);
	vx->cr2 = s->cr2;
	vx->cr8 = s->cr8;
	vmcs_write(GUEST_CR3, s->cr3);
	/* LMA follows LME and paging, as the CPU would have set it. */
	efer &= ~(u64)EFER_LMA;
	vmcs_write(GUEST_IA32_EFER, efer);
	vmx_set_cr4(vcpu, s->cr4, false);
	vmx_set_cr0(vcpu, s->cr0, false);
	if (vmx_pae_paging(s->cr0, s->cr4, vmcs_read(GUEST_IA32_EFER)))
		vmx_load_pdptrs(vcpu);
	/* A triple fault left the interrupt state undefined: start clean. */
	vmcs_write(GUEST_INTERRUPTIBILITY_INFO, 0);
	vmcs_write(GUEST_PENDING_DBG_EXCEPTIONS, 0);
	vmcs_write(GUEST_ACTIVITY_STATE, GUEST_ACTIVITY_ACTIVE);
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD, 0);
	vx->reinject = false;
	/*
	 * New CR3 and paging state from userspace: the translations the
	 * guest's VPID holds were made under the old one.
	 */
	vx->flush_tlb = true;
}

int vmx_get_cpl(struct kvisor_vcpu *vcpu)
{
	/* In VMX the CPL is SS.DPL in every mode (26.3.1.2). */
	return (vmcs_read(GUEST_SS_AR_BYTES) >> VMX_AR_DPL_SHIFT) & 3;
}

int vmx_get_msr(struct kvisor_vcpu *vcpu, u32 index, u64 *data)
{
	struct vmx_vcpu *vx = to_vmx(vcpu);

	switch (index) {
	case MSR_EFER:
		*data = vmcs_read(GUEST_IA32_EFER);
		break;
	case MSR_IA32_CR_PAT:
		*data = vmcs_read(GUEST_IA32_PAT);
		break;
	case MSR_IA32_SYSENTER_CS:
		*data = vmcs_read(GUEST_SYSENTER_CS);
		break;
	case MSR_IA32_SYSENTER_ESP:
		*data = vmcs_read(GUEST_SYSENTER_ESP);
		break;
	case MSR_IA32_SYSENTER_EIP:
		*data = vmcs_read(GUEST_SYSENTER_EIP);
		break;
	case MSR_STAR:
		*data = vx->star;
		break;
	case MSR_LSTAR:
		*data = vx->lstar;
		break;
	case MSR_CSTAR:
		*data = vx->cstar;
		break;
	case MSR_SYSCALL_MASK:
		*data = vx->sfmask;
		break;
	case MSR_KERNEL_GS_BASE:
		*data = vx->kernel_gs_base;
		break;
	case MSR_FS_BASE:
		*data = vmcs_read(GUEST_FS_BASE);
		break;
	case MSR_GS_BASE:
		*data = vmcs_read(GUEST_GS_BASE);
		break;
	case MSR_IA32_TSC:
		*data = rdtsc() + vmcs_read(TSC_OFFSET);
		break;
	default:
		return -ENOENT;
	}
	return 0;
}

int vmx_set_msr(struct kvisor_vcpu *vcpu, u32 index, u64 data)
{
	struct vmx_vcpu *vx = to_vmx(vcpu);
	u64 efer;

	switch (index) {
	case MSR_EFER:
		/* LME may not change while paging is on (Vol. 3A 9.8.5). */
		efer = vmcs_read(GUEST_IA32_EFER);
		if (((data ^ efer) & EFER_LME) &&
		    (vmx_guest_cr0() & X86_CR0_PG))
			return -EINVAL;
		vmcs_write(GUEST_IA32_EFER,
			   (data & ~(u64)EFER_LMA) | (efer & EFER_LMA));
		break;
	case MSR_IA32_CR_PAT:
		vmcs_write(GUEST_IA32_PAT, data);
		break;
	case MSR_IA32_SYSENTER_CS:
		vmcs_write(GUEST_SYSENTER_CS, data);
		break;
	case MSR_IA32_SYSENTER_ESP:
		vmcs_write(GUEST_SYSENTER_ESP, data);
		break;
	case MSR_IA32_SYSENTER_EIP:
		vmcs_write(GUEST_SYSENTER_EIP, data);
		break;
	case MSR_STAR:
		vx->star = data;
		break;
	case MSR_LSTAR:
		vx->lstar = data;
		break;
	case MSR_CSTAR:
		vx->cstar = data;
		break;
	case MSR_SYSCALL_MASK:
		vx->sfmask = data;
		break;
	case MSR_KERNEL_GS_BASE:
		vx->kernel_gs_base = data;
		break;
	case MSR_FS_BASE:
		vmcs_write(GUEST_FS_BASE, data);
		break;
	case MSR_GS_BASE:
		vmcs_write(GUEST_GS_BASE, data);
		break;
	case MSR_IA32_TSC:
		vmcs_write(TSC_OFFSET, data - rdtsc());
		break;
	default:
		return -ENOENT;
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Events (SDM Vol. 3C 26.6 event injection, 25.2 interrupt window)  */
/* ---------------------------------------------------------------- */

static bool vmx_injection_busy(struct vmx_vcpu *vx)
{
	return vx->reinject ||
	       (vmcs_read(VM_ENTRY_INTR_INFO_FIELD) & INTR_INFO_VALID_MASK);
}

bool vmx_interrupt_allowed(struct kvisor_vcpu *vcpu)
{
	return (vcpu->rflags & X86_EFLAGS_IF) &&
	       !(vmcs_read(GUEST_INTERRUPTIBILITY_INFO) &
		 (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS)) &&
	       !vmx_injection_busy(to_vmx(vcpu));
}

bool vmx_inject_event(struct kvisor_vcpu *vcpu, const struct kvisor_event *ev)
{
	struct vmx_vcpu *vx = to_vmx(vcpu);
	u32 info = INTR_INFO_VALID_MASK | (ev->vector & INTR_INFO_VECTOR_MASK);

	if (vmx_injection_busy(vx))
		return false;
	switch (ev->type) {
	case KVISOR_EVENT_EXCEPTION:
		info |= INTR_TYPE_HARD_EXCEPTION;
		/* Real mode delivers no error code (26.2.1.3). */
		if ((ev->flags & KVISOR_EVENT_HAS_ERROR_CODE) &&
		    (vmx_guest_cr0() & X86_CR0_PE)) {
			info |= INTR_INFO_DELIVER_CODE_MASK;
			vmcs_write(VM_ENTRY_EXCEPTION_ERROR_CODE, ev->error_code);
		}
		break;
	case KVISOR_EVENT_NMI:
		/* Not while NMIs or MOV SS block it (26.3.1.5). */
		if (vmcs_read(GUEST_INTERRUPTIBILITY_INFO) &
		    (GUEST_INTR_STATE_NMI | GUEST_INTR_STATE_MOV_SS))
			return false;
		info = INTR_INFO_VALID_MASK | INTR_TYPE_NMI_INTR | 2;
		break;
	default:
		info |= INTR_TYPE_EXT_INTR;
		break;
	}
	vmcs_write(VM_ENTRY_INTR_INFO_FIELD, info);
	return true;
}

void vmx_set_irq_window(struct kvisor_vcpu *vcpu, bool on)
{
	struct vmx_vcpu *vx = to_vmx(vcpu);
	u32 proc = vx->proc;

	/* Exit as soon as the guest can take an interrupt (25.2). */
	if (on)
		proc |= CPU_BASED_INTR_WINDOW_EXITING;
	else
		proc &= ~CPU_BASED_INTR_WINDOW_EXITING;
	if (proc != vx->proc) {
		vx->proc = proc;
		vmcs_write(CPU_BASED_VM_EXEC_CONTROL, proc);
	}
}

/* CR8 loads and stores exit and live in vx->cr8 (vmx_handle_cr()). */
u8 vmx_get_cr8(struct kvisor_vcpu *vcpu)
{
	return to_vmx(vcpu)->cr8;
}

void vmx_set_cr8(struct kvisor_vcpu *vcpu, u8 cr8)
{
	to_vmx(vcpu)->cr8 = cr8 & 15;
}

void vmx_clear_interrupt_shadow(struct kvisor_vcpu *vcpu)
{
	u64 info = vmcs_read(GUEST_INTERRUPTIBILITY_INFO);

	if (info & (GUEST_INTR_STATE_STI | GUEST_INTR_STATE_MOV_SS))
		vmcs_write(GUEST_INTERRUPTIBILITY_INFO,
			   info & ~(u64)(GUEST_INTR_STATE_STI |
					 GUEST_INTR_STATE_MOV_SS));
}
