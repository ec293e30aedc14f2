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

#define SVM_VM_CR_SVMDIS	BIT(4)	/* APM 15.30.1 */

struct svm_cpu {
	struct page *hsave;	/* host save area, VM_HSAVE_PA */
	u64 old_hsave_pa;	/* restored on disable: leave CPUs as found */
};

static DEFINE_PER_CPU(struct svm_cpu, svm_cpu);

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

	for_each_possible_cpu(cpu) {
		struct page *page;

		page = alloc_pages_node(cpu_to_node(cpu),
					GFP_KERNEL | __GFP_ZERO, 0);
		if (!page) {
			while (--cpu >= 0) {
				__free_page(per_cpu(svm_cpu, cpu).hsave);
				per_cpu(svm_cpu, cpu).hsave = NULL;
			}
			return -ENOMEM;
		}
		per_cpu(svm_cpu, cpu).hsave = page;
	}
	return 0;
}

static void svm_unprobe(void)
{
	int cpu;

	for_each_possible_cpu(cpu) {
		if (per_cpu(svm_cpu, cpu).hsave)
			__free_page(per_cpu(svm_cpu, cpu).hsave);
		per_cpu(svm_cpu, cpu).hsave = NULL;
	}
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

const struct kvisor_arch_ops kvisor_svm_ops = {
	.name = "svm",
	.probe = svm_probe,
	.unprobe = svm_unprobe,
	.hw_enable = svm_hw_enable,
	.hw_disable = svm_hw_disable,
};
