// SPDX-License-Identifier: GPL-2.0
/*
 * AMD-V backend: detection and SVM enable on each CPU.
 *
 * AMD APM Vol. 2, chapter 15 ("Secure Virtual Machine"), 15.4 (enabling
 * SVM) and 15.30 (VM_CR, VM_HSAVE_PA).
 */
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/smp.h>
#include <asm/cpufeature.h>
#include <asm/msr.h>
#include <asm/processor.h>

#include "../kvisor.h"
#include "svm.h"

#define SVM_VM_CR_SVMDIS	BIT(4)	/* APM 15.30.1 */

DEFINE_PER_CPU(struct svm_cpu, svm_cpu);
bool svm_has_nrips;
u32 svm_max_asid;

static void svm_free_cpu_pages(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		struct svm_cpu *sc = &per_cpu(svm_cpu, cpu);

		if (sc->hsave)
			__free_page(sc->hsave);
		if (sc->host_vmcb)
			__free_page(sc->host_vmcb);
		sc->hsave = NULL;
		sc->host_vmcb = NULL;
	}
}

static int svm_probe(struct kvisor_arch_caps *caps)
{
	u64 vm_cr;
	int cpu;

	if (boot_cpu_data.x86_vendor != X86_VENDOR_AMD &&
	    boot_cpu_data.x86_vendor != X86_VENDOR_HYGON)
		return -ENODEV;
	if (!boot_cpu_has(X86_FEATURE_SVM))
		return -ENODEV;

	/* Not every implementation has VM_CR (TCG does not): absent = allowed. */
	if (!rdmsrl_safe(MSR_VM_CR, &vm_cr) && (vm_cr & SVM_VM_CR_SVMDIS)) {
		pr_err("kvisor: AMD-V is disabled by firmware (VM_CR.SVMDIS), not loading\n");
		return -EOPNOTSUPP;
	}

	caps->vendor = KVISOR_VENDOR_AMD;
	caps->nested_paging = boot_cpu_has(X86_FEATURE_NPT);
	/* With nested paging, SVM runs real and unpaged guests natively. */
	caps->unrestricted_guest = caps->nested_paging;
	/* CPUID 8000_000A EBX: number of ASIDs; ASID 0 is the host's. */
	caps->tlb_tags = cpuid_ebx(0x8000000a);
	if (caps->tlb_tags)
		caps->tlb_tags--;
	svm_max_asid = caps->tlb_tags;
	/* CPUID 8000_000A EDX bit 3: NRIP save (next_rip in the VMCB). */
	svm_has_nrips = cpuid_edx(0x8000000a) & BIT(3);

	for_each_possible_cpu(cpu) {
		struct svm_cpu *sc = &per_cpu(svm_cpu, cpu);

		sc->hsave = alloc_pages_node(cpu_to_node(cpu),
					     GFP_KERNEL | __GFP_ZERO, 0);
		sc->host_vmcb = alloc_pages_node(cpu_to_node(cpu),
						 GFP_KERNEL | __GFP_ZERO, 0);
		if (!sc->hsave || !sc->host_vmcb) {
			svm_free_cpu_pages();
			return -ENOMEM;
		}
	}
	if (svm_vcpu_setup()) {
		svm_free_cpu_pages();
		return -ENOMEM;
	}
	return 0;
}

static void svm_unprobe(void)
{
	svm_vcpu_cleanup();
	svm_free_cpu_pages();
}

static int svm_hw_enable(void)
{
	struct svm_cpu *sc = this_cpu_ptr(&svm_cpu);
	u64 efer;

	rdmsrl(MSR_EFER, efer);
	if (efer & EFER_SVME) {
		pr_err_ratelimited("kvisor: CPU %d: AMD-V is in use by another hypervisor (EFER.SVME is set)\n",
				   smp_processor_id());
		return -EBUSY;
	}
	if (rdmsrl_safe(MSR_VM_HSAVE_PA, &sc->old_hsave_pa))
		sc->old_hsave_pa = 0;

	wrmsrl(MSR_EFER, efer | EFER_SVME);
	wrmsrl(MSR_VM_HSAVE_PA, page_to_phys(sc->hsave));
	/*
	 * Another hypervisor may have left entries tagged with any ASID:
	 * start a new generation, so the first VMRUN here flushes them all.
	 */
	sc->asid_gen++;
	sc->asid_next = svm_max_asid + 1;
	return 0;
}

static void svm_hw_disable(void)
{
	struct svm_cpu *sc = this_cpu_ptr(&svm_cpu);
	u64 efer;

	wrmsrl(MSR_VM_HSAVE_PA, sc->old_hsave_pa);
	rdmsrl(MSR_EFER, efer);
	wrmsrl(MSR_EFER, efer & ~EFER_SVME);
}

/*
 * NPT entries are long-mode page table entries (APM Vol. 2, 15.25.5);
 * nested walks are user accesses, so U is set at every level.
 */
static u64 svm_npt_table_entry(u64 pa)
{
	return pa | _PAGE_PRESENT | _PAGE_RW | _PAGE_USER | _PAGE_ACCESSED;
}

static u64 svm_npt_leaf_entry(u64 pa, bool writable, bool large)
{
	u64 e = pa | _PAGE_PRESENT | _PAGE_USER | _PAGE_ACCESSED | _PAGE_DIRTY;

	if (writable)
		e |= _PAGE_RW;
	if (large)
		e |= _PAGE_PSE;
	return e;
}

static bool svm_npt_present(u64 e)
{
	return e & _PAGE_PRESENT;
}

const struct kvisor_arch_ops kvisor_svm_ops = {
	.name = "svm",
	.probe = svm_probe,
	.unprobe = svm_unprobe,
	.hw_enable = svm_hw_enable,
	.hw_disable = svm_hw_disable,
	.npt_table_entry = svm_npt_table_entry,
	.npt_leaf_entry = svm_npt_leaf_entry,
	.npt_present = svm_npt_present,
	.vm_init = svm_vm_init,
	.vcpu_create = svm_vcpu_create,
	.vcpu_free = svm_vcpu_free,
	.run = svm_run,
	.get_sregs = svm_get_sregs,
	.set_sregs = svm_set_sregs,
	.get_cpl = svm_get_cpl,
	.long_mode = svm_long_mode,
	.get_msr = svm_get_msr,
	.set_msr = svm_set_msr,
	.interrupt_allowed = svm_interrupt_allowed,
	.inject_event = svm_inject_event,
	.set_irq_window = svm_set_irq_window,
	.get_cr8 = svm_get_cr8,
	.set_cr8 = svm_set_cr8,
	.clear_interrupt_shadow = svm_clear_interrupt_shadow,
};
