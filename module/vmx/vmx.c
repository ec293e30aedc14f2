// SPDX-License-Identifier: GPL-2.0
/*
 * VT-x backend: detection and VMX operation on each CPU.
 *
 * Intel SDM Vol. 3C, chapter 24 ("Introduction to VMX operation") and
 * appendix A (the VMX capability MSRs).
 */
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/smp.h>
#include <asm/asm.h>
#include <asm/cpufeature.h>
#include <asm/msr.h>
#include <asm/mtrr.h>
#include <asm/perf_event.h>
#include <asm/processor.h>
#include <asm/special_insns.h>
#include <asm/tlbflush.h>
#include <asm/tsc.h>
#include <asm/vmx.h>

#include "../compat.h"
#include "../kvisor.h"
#include "vmx.h"

/* IA32_VMX_BASIC fields (SDM Vol. 3D, A.1). */
#define VMX_BASIC_REVISION(b)	((u32)(b) & 0x7fffffff)
#define VMX_BASIC_SIZE(b)	(((b) >> 32) & 0x1fff)
#define VMX_BASIC_MEMTYPE(b)	(((b) >> 50) & 0xf)
#define VMX_BASIC_MEMTYPE_WB	6

/* VPIDs are 16 bits; 0 is the host's. */
#define VMX_USABLE_VPIDS	(VMX_NR_VPIDS - 1)

static DEFINE_PER_CPU(struct page *, vmxon_region);
struct vmx_config vmx_cfg;

static bool vmx_cpu_has_vmx(void)
{
	/* CPUID.1:ECX.VMX[bit 5]; the kernel clears X86_FEATURE_VMX when
	 * firmware disabled it, so ask the CPU to tell the two apart.
	 */
	return boot_cpu_data.x86_vendor == X86_VENDOR_INTEL &&
	       (cpuid_ecx(1) & BIT(5));
}

static void vmx_unprobe_regions(void);

/*
 * A control field's setting from its capability MSR (SDM Vol. 3D, A.3-A.5):
 * bits 31:0 are the allowed 0-settings (a 1 there: must be 1), bits 63:32
 * the allowed 1-settings.  @want bits are set where allowed; @need bits
 * must all be allowed, and @forbid bits must be allowed to be 0.
 */
static bool vmx_adjust(u32 msr, u32 want, u32 need, u32 forbid, u32 *ctl)
{
	u64 v;
	u32 must1, may1;

	if (rdmsrl_safe(msr, &v))
		return false;
	must1 = (u32)v;
	may1 = v >> 32;
	*ctl = (want & may1) | must1;
	return (*ctl & need) == need && !(*ctl & forbid);
}

/*
 * What kvisor needs to run guests: EPT with write-back 4-level tables,
 * 2 MiB pages and INVEPT, unrestricted guest, EFER/PAT switched by the
 * CPU, and no forced CR3 or RDTSC exiting.  Without it kvisor still loads
 * (CHECK_EXTENSION tells) and refuses VM creation.
 */
static void vmx_setup_config(u64 basic, struct kvisor_arch_caps *caps)
{
	struct vmx_config *c = &vmx_cfg;
	bool true_ctls = basic & VMX_BASIC_TRUE_CTLS;
	u64 ept_need = VMX_EPT_PAGE_WALK_4_BIT | VMX_EPTP_WB_BIT |
		       VMX_EPT_2MB_PAGE_BIT | VMX_EPT_INVEPT_BIT;
	bool ok = true;

	c->revision_id = VMX_BASIC_REVISION(basic);
	c->inout_info = basic & VMX_BASIC_INOUT;
	rdmsrl(MSR_IA32_VMX_CR0_FIXED0, c->cr0_fixed0);
	rdmsrl(MSR_IA32_VMX_CR0_FIXED1, c->cr0_fixed1);
	rdmsrl(MSR_IA32_VMX_CR4_FIXED0, c->cr4_fixed0);
	rdmsrl(MSR_IA32_VMX_CR4_FIXED1, c->cr4_fixed1);

	ok &= vmx_adjust(true_ctls ? MSR_IA32_VMX_TRUE_PINBASED_CTLS :
				     MSR_IA32_VMX_PINBASED_CTLS,
			 PIN_BASED_EXT_INTR_MASK | PIN_BASED_NMI_EXITING |
			 PIN_BASED_VIRTUAL_NMIS | PIN_BASED_VMX_PREEMPTION_TIMER,
			 PIN_BASED_EXT_INTR_MASK | PIN_BASED_NMI_EXITING,
			 PIN_BASED_POSTED_INTR, &c->pin);
	if (c->pin & PIN_BASED_VMX_PREEMPTION_TIMER) {
		u64 misc;

		/* A.6: the timer ticks every 2^rate TSC cycles. */
		rdmsrl(MSR_IA32_VMX_MISC, misc);
		c->preempt_ticks = max_t(u64, 1,
			((u64)tsc_khz * VMX_PREEMPT_MS) >>
			(misc & VMX_MISC_PREEMPTION_TIMER_RATE_MASK));
		c->preempt_ticks = min_t(u64, c->preempt_ticks, U32_MAX);
	}
	ok &= vmx_adjust(true_ctls ? MSR_IA32_VMX_TRUE_PROCBASED_CTLS :
				     MSR_IA32_VMX_PROCBASED_CTLS,
			 CPU_BASED_HLT_EXITING | CPU_BASED_USE_TSC_OFFSETTING |
			 CPU_BASED_CR8_LOAD_EXITING |
			 CPU_BASED_CR8_STORE_EXITING |
			 CPU_BASED_USE_IO_BITMAPS | CPU_BASED_USE_MSR_BITMAPS |
			 CPU_BASED_MWAIT_EXITING | CPU_BASED_MONITOR_EXITING |
			 CPU_BASED_RDPMC_EXITING |
			 CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
			 CPU_BASED_HLT_EXITING | CPU_BASED_USE_TSC_OFFSETTING |
			 CPU_BASED_CR8_LOAD_EXITING |
			 CPU_BASED_CR8_STORE_EXITING |
			 CPU_BASED_USE_IO_BITMAPS | CPU_BASED_USE_MSR_BITMAPS |
			 CPU_BASED_RDPMC_EXITING |
			 CPU_BASED_ACTIVATE_SECONDARY_CONTROLS,
			 CPU_BASED_CR3_LOAD_EXITING | CPU_BASED_CR3_STORE_EXITING |
			 CPU_BASED_RDTSC_EXITING | CPU_BASED_TPR_SHADOW |
			 CPU_BASED_MOV_DR_EXITING | CPU_BASED_INVLPG_EXITING,
			 &c->proc);
	/*
	 * NMI-window exiting (A.3.2), used while an NMI waits for the
	 * guest's IRET; it exists only with virtual NMIs (26.2.1.1).
	 */
	if (c->pin & PIN_BASED_VIRTUAL_NMIS) {
		u32 nmi_win;

		c->nmi_window = vmx_adjust(true_ctls ?
					   MSR_IA32_VMX_TRUE_PROCBASED_CTLS :
					   MSR_IA32_VMX_PROCBASED_CTLS,
					   CPU_BASED_NMI_WINDOW_EXITING,
					   CPU_BASED_NMI_WINDOW_EXITING, 0,
					   &nmi_win);
	}
	if (ok && vmx_adjust(MSR_IA32_VMX_PROCBASED_CTLS2,
			     SECONDARY_EXEC_ENABLE_EPT |
			     SECONDARY_EXEC_UNRESTRICTED_GUEST |
			     SECONDARY_EXEC_ENABLE_VPID |
			     SECONDARY_EXEC_ENABLE_RDTSCP |
			     SECONDARY_EXEC_ENABLE_INVPCID |
			     SECONDARY_EXEC_WBINVD_EXITING,
			     0, 0, &c->proc2)) {
		caps->nested_paging = c->proc2 & SECONDARY_EXEC_ENABLE_EPT;
		caps->unrestricted_guest = caps->nested_paging &&
			(c->proc2 & SECONDARY_EXEC_UNRESTRICTED_GUEST);
		c->has_vpid = c->proc2 & SECONDARY_EXEC_ENABLE_VPID;
		if (c->has_vpid)
			caps->tlb_tags = VMX_USABLE_VPIDS;
	}
	if (caps->nested_paging)
		rdmsrl_safe(MSR_IA32_VMX_EPT_VPID_CAP, &c->ept_vpid_cap);
	if (c->has_vpid &&
	    !(c->ept_vpid_cap & ((u64)VMX_VPID_INVVPID_BIT << 32)))
		c->has_vpid = false;	/* tags we could not flush */
	if (!c->has_vpid) {
		c->proc2 &= ~SECONDARY_EXEC_ENABLE_VPID;
		caps->tlb_tags = 0;
	}

	ok &= vmx_adjust(true_ctls ? MSR_IA32_VMX_TRUE_EXIT_CTLS :
				     MSR_IA32_VMX_EXIT_CTLS,
			 VM_EXIT_HOST_ADDR_SPACE_SIZE | VM_EXIT_SAVE_DEBUG_CONTROLS |
			 VM_EXIT_LOAD_IA32_EFER | VM_EXIT_SAVE_IA32_EFER |
			 VM_EXIT_LOAD_IA32_PAT | VM_EXIT_SAVE_IA32_PAT,
			 VM_EXIT_HOST_ADDR_SPACE_SIZE |
			 VM_EXIT_LOAD_IA32_EFER | VM_EXIT_SAVE_IA32_EFER |
			 VM_EXIT_LOAD_IA32_PAT | VM_EXIT_SAVE_IA32_PAT,
			 VM_EXIT_ACK_INTR_ON_EXIT, &c->exit);
	ok &= vmx_adjust(true_ctls ? MSR_IA32_VMX_TRUE_ENTRY_CTLS :
				     MSR_IA32_VMX_ENTRY_CTLS,
			 VM_ENTRY_LOAD_DEBUG_CONTROLS | VM_ENTRY_LOAD_IA32_EFER |
			 VM_ENTRY_LOAD_IA32_PAT,
			 VM_ENTRY_LOAD_IA32_EFER | VM_ENTRY_LOAD_IA32_PAT,
			 VM_ENTRY_IA32E_MODE | VM_ENTRY_SMM, &c->entry);

	if (!caps->nested_paging)
		c->why_not = "no EPT";
	else if (!caps->unrestricted_guest)
		c->why_not = "no unrestricted guest";
	else if ((c->ept_vpid_cap & ept_need) != ept_need)
		c->why_not = "EPT lacks 4-level WB tables, 2 MiB pages or INVEPT";
	else if (!ok)
		c->why_not = "missing VM-execution/exit/entry controls";
	c->can_run = !c->why_not;
}

static int vmx_probe(struct kvisor_arch_caps *caps)
{
	u64 feat, basic;
	int cpu;

	if (!vmx_cpu_has_vmx())
		return -ENODEV;

	/* SDM 23.7: VMXON outside SMX needs the lock bit and bit 2 set. */
	if (rdmsrl_safe(MSR_IA32_FEAT_CTL, &feat) ||
	    !(feat & FEAT_CTL_LOCKED) ||
	    !(feat & FEAT_CTL_VMX_ENABLED_OUTSIDE_SMX)) {
		pr_err("kvisor: VT-x is disabled by firmware (IA32_FEATURE_CONTROL=%#llx), not loading\n",
		       feat);
		return -EOPNOTSUPP;
	}

	rdmsrl(MSR_IA32_VMX_BASIC, basic);
	if (VMX_BASIC_SIZE(basic) > PAGE_SIZE ||
	    VMX_BASIC_MEMTYPE(basic) != VMX_BASIC_MEMTYPE_WB) {
		pr_err("kvisor: VT-x: unsupported VMCS layout (IA32_VMX_BASIC=%#llx), not loading\n",
		       basic);
		return -EOPNOTSUPP;
	}
	caps->vendor = KVISOR_VENDOR_INTEL;
	vmx_setup_config(basic, caps);

	for_each_possible_cpu(cpu) {
		struct page *page;

		page = alloc_pages_node(cpu_to_node(cpu),
					GFP_KERNEL | __GFP_ZERO, 0);
		if (!page) {
			while (--cpu >= 0) {
				__free_page(per_cpu(vmxon_region, cpu));
				per_cpu(vmxon_region, cpu) = NULL;
			}
			return -ENOMEM;
		}
		/* SDM 24.11.5: the region starts with the revision id. */
		*(u32 *)page_address(page) = vmx_cfg.revision_id;
		per_cpu(vmxon_region, cpu) = page;
	}
	if (vmx_vcpu_setup()) {
		vmx_unprobe_regions();
		return -ENOMEM;
	}
	return 0;
}

static void vmx_unprobe_regions(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		if (per_cpu(vmxon_region, cpu))
			__free_page(per_cpu(vmxon_region, cpu));
		per_cpu(vmxon_region, cpu) = NULL;
	}
}

static void vmx_unprobe(void)
{
	vmx_vcpu_cleanup();
	vmx_unprobe_regions();
}

/* SDM 23.8: CR0 and CR4 must honour the fixed bits in VMX operation. */
static bool vmx_fixed_ok(unsigned long val, u32 msr0, u32 msr1)
{
	u64 fixed0, fixed1;

	rdmsrl(msr0, fixed0);
	rdmsrl(msr1, fixed1);
	return (val & fixed0) == fixed0 && (val & ~fixed1) == 0;
}

static int vmx_hw_enable(void)
{
	int cpu = smp_processor_id();
	u64 pa = page_to_phys(per_cpu(vmxon_region, cpu));

	if (cr4_read_shadow() & X86_CR4_VMXE) {
		pr_err_ratelimited("kvisor: CPU %d: VT-x is in use by another hypervisor (CR4.VMXE is set)\n",
				   cpu);
		return -EBUSY;
	}
	if (!vmx_fixed_ok(read_cr0(), MSR_IA32_VMX_CR0_FIXED0,
			  MSR_IA32_VMX_CR0_FIXED1) ||
	    !vmx_fixed_ok(cr4_read_shadow() | X86_CR4_VMXE,
			  MSR_IA32_VMX_CR4_FIXED0, MSR_IA32_VMX_CR4_FIXED1)) {
		pr_err_ratelimited("kvisor: CPU %d: CR0/CR4 do not allow VMX operation\n",
				   cpu);
		return -EOPNOTSUPP;
	}

	/* Intel PT must not trace across VMXON without VMX support in PT. */
	intel_pt_handle_vmx(1);
	cr4_set_bits(X86_CR4_VMXE);
	if (vmx_vmxon(pa)) {
		cr4_clear_bits(X86_CR4_VMXE);
		intel_pt_handle_vmx(0);
		pr_err_ratelimited("kvisor: CPU %d: VMXON failed\n", cpu);
		return -EIO;
	}
	/*
	 * VMXON does not flush EPT- or VPID-tagged TLB entries: whoever used
	 * VMX here before may have left some (SDM 28.3.3.3).
	 */
	vmx_flush_all_this_cpu();
	return 0;
}

static void vmx_hw_disable(void)
{
	asm volatile("vmxoff" : : : "cc", "memory");
	cr4_clear_bits(X86_CR4_VMXE);
	intel_pt_handle_vmx(0);
}

/*
 * EPT entries (SDM Vol. 3C, 28.3.2): bits 2:0 read/write/execute (an
 * entry is present when any is set), bits 5:3 the memory type of a leaf,
 * bit 7 a large page, the same position as mmu.c's NPT_LARGE.
 */
#define EPT_RWX		VMX_EPT_RWX_MASK
#define EPT_LARGE	BIT_ULL(7)

static u64 vmx_npt_table_entry(u64 pa)
{
	return pa | EPT_RWX;
}

static u64 vmx_npt_leaf_entry(u64 pa, bool writable, bool large)
{
	u64 e = pa | VMX_EPT_READABLE_MASK | VMX_EPT_EXECUTABLE_MASK |
		((u64)MTRR_TYPE_WRBACK << VMX_EPT_MT_EPTE_SHIFT);

	if (writable)
		e |= VMX_EPT_WRITABLE_MASK;
	if (large)
		e |= EPT_LARGE;
	return e;
}

static bool vmx_npt_present(u64 e)
{
	return e & EPT_RWX;
}

const struct kvisor_arch_ops kvisor_vmx_ops = {
	.name = "vmx",
	.probe = vmx_probe,
	.unprobe = vmx_unprobe,
	.hw_enable = vmx_hw_enable,
	.hw_disable = vmx_hw_disable,
	.npt_table_entry = vmx_npt_table_entry,
	.npt_leaf_entry = vmx_npt_leaf_entry,
	.npt_present = vmx_npt_present,
	.vm_init = vmx_vm_init,
	.vm_destroy = vmx_vm_destroy,
	.vcpu_create = vmx_vcpu_create,
	.vcpu_free = vmx_vcpu_free,
	.vcpu_load = vmx_vcpu_load,
	.vcpu_put = vmx_vcpu_put,
	.run = vmx_run,
	.get_sregs = vmx_get_sregs,
	.set_sregs = vmx_set_sregs,
	.get_cpl = vmx_get_cpl,
	.long_mode = vmx_long_mode,
	.get_msr = vmx_get_msr,
	.set_msr = vmx_set_msr,
	.interrupt_allowed = vmx_interrupt_allowed,
	.inject_event = vmx_inject_event,
	.set_irq_window = vmx_set_irq_window,
	.nmi_blocked = vmx_nmi_blocked,
	.set_nmi_window = vmx_set_nmi_window,
	.set_dr6_trap = vmx_set_dr6_trap,
	.set_cr2 = vmx_set_cr2,
	.get_cr8 = vmx_get_cr8,
	.set_cr8 = vmx_set_cr8,
	.clear_interrupt_shadow = vmx_clear_interrupt_shadow,
};
