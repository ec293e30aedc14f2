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
#include <asm/perf_event.h>
#include <asm/processor.h>
#include <asm/special_insns.h>
#include <asm/tlbflush.h>
#include <asm/vmx.h>

#include "../kvisor.h"

/* IA32_VMX_BASIC fields (SDM Vol. 3D, A.1). */
#define VMX_BASIC_REVISION(b)	((u32)(b) & 0x7fffffff)
#define VMX_BASIC_SIZE(b)	(((b) >> 32) & 0x1fff)
#define VMX_BASIC_MEMTYPE(b)	(((b) >> 50) & 0xf)
#define VMX_BASIC_MEMTYPE_WB	6

/* VPIDs are 16 bits; 0 is the host's. */
#define VMX_USABLE_VPIDS	(VMX_NR_VPIDS - 1)

static u32 vmx_revision_id;
static DEFINE_PER_CPU(struct page *, vmxon_region);

static bool vmx_cpu_has_vmx(void)
{
	/* CPUID.1:ECX.VMX[bit 5]; the kernel clears X86_FEATURE_VMX when
	 * firmware disabled it, so ask the CPU to tell the two apart.
	 */
	return boot_cpu_data.x86_vendor == X86_VENDOR_INTEL &&
	       (cpuid_ecx(1) & BIT(5));
}

/* Allowed-1 settings are the high half of a control capability MSR. */
static bool vmx_ctl_allowed(u32 msr, u32 bit)
{
	u64 v;

	return !rdmsrl_safe(msr, &v) && ((v >> 32) & bit);
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
	vmx_revision_id = VMX_BASIC_REVISION(basic);

	caps->vendor = KVISOR_VENDOR_INTEL;
	if (vmx_ctl_allowed(MSR_IA32_VMX_PROCBASED_CTLS,
			    CPU_BASED_ACTIVATE_SECONDARY_CONTROLS)) {
		caps->nested_paging =
			vmx_ctl_allowed(MSR_IA32_VMX_PROCBASED_CTLS2,
					SECONDARY_EXEC_ENABLE_EPT);
		caps->unrestricted_guest = caps->nested_paging &&
			vmx_ctl_allowed(MSR_IA32_VMX_PROCBASED_CTLS2,
					SECONDARY_EXEC_UNRESTRICTED_GUEST);
		if (vmx_ctl_allowed(MSR_IA32_VMX_PROCBASED_CTLS2,
				    SECONDARY_EXEC_ENABLE_VPID))
			caps->tlb_tags = VMX_USABLE_VPIDS;
	}

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
		*(u32 *)page_address(page) = vmx_revision_id;
		per_cpu(vmxon_region, cpu) = page;
	}
	return 0;
}

static void vmx_unprobe(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		if (per_cpu(vmxon_region, cpu))
			__free_page(per_cpu(vmxon_region, cpu));
		per_cpu(vmxon_region, cpu) = NULL;
	}
}

/* SDM 23.8: CR0 and CR4 must honour the fixed bits in VMX operation. */
static bool vmx_fixed_ok(unsigned long val, u32 msr0, u32 msr1)
{
	u64 fixed0, fixed1;

	rdmsrl(msr0, fixed0);
	rdmsrl(msr1, fixed1);
	return (val & fixed0) == fixed0 && (val & ~fixed1) == 0;
}

static int vmx_vmxon(u64 pa)
{
	/* VMfail sets CF or ZF; a fault (#UD/#GP) lands on label 2. */
	asm goto("1: vmxon %[pa]\n\t"
		 "jna %l[fail]\n\t"
		 "jmp 3f\n"
		 "2: jmp %l[fail]\n"
		 "3:\n\t"
		 _ASM_EXTABLE(1b, 2b)
		 : : [pa] "m" (pa) : "cc", "memory" : fail);
	return 0;
fail:
	return -EIO;
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
	return 0;
}

static void vmx_hw_disable(void)
{
	asm volatile("vmxoff" : : : "cc", "memory");
	cr4_clear_bits(X86_CR4_VMXE);
	intel_pt_handle_vmx(0);
}

const struct kvisor_arch_ops kvisor_vmx_ops = {
	.name = "vmx",
	.probe = vmx_probe,
	.unprobe = vmx_unprobe,
	.hw_enable = vmx_hw_enable,
	.hw_disable = vmx_hw_disable,
};
