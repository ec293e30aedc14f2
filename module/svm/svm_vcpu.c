// SPDX-License-Identifier: GPL-2.0
/*
 * AMD-V backend: the VMCB of a vCPU, VMRUN, and decoding #VMEXIT into the
 * neutral struct kvisor_exit.
 *
 * AMD APM Vol. 2, chapter 15: 15.5 (VMRUN), 15.6 (#VMEXIT), 15.9-15.13
 * (intercepts, I/O and MSR permission maps), 15.16 (TLB control, ASIDs),
 * 15.20 (event injection), 15.21 (virtual interrupts), 15.25 (nested
 * paging), appendix B (VMCB layout).
 *
 * Works without NRIP save, decode assists and flush-by-ASID (QEMU TCG has
 * none): instruction lengths are those of the intercepted instructions
 * unless next_rip is available, MMIO instruction bytes are fetched by the
 * core, and TLB entries are dropped by giving a vCPU a fresh ASID, with a
 * full flush only when a CPU runs out of ASIDs.
 */
#include <linux/gfp.h>
#include <linux/io.h>
#include <linux/mm.h>
#include <linux/percpu.h>
#include <linux/slab.h>
#include <asm/cpufeature.h>
#include <asm/debugreg.h>
#include <asm/fpu/xcr.h>
#include <asm/mce.h>
#include <asm/msr.h>
#include <asm/processor-flags.h>

#include "../kvisor.h"
#include "svm.h"

struct svm_vcpu {
	struct vmcb *vmcb;
	u64 vmcb_pa;
	/* the ASID this vCPU holds on asid_cpu, valid for asid_gen */
	u32 asid;
	int asid_cpu;
	u64 asid_gen;
	u64 tlb_gen;		/* vm->tlb_gen the ASID was taken under */
	/* an event whose delivery the last exit interrupted (15.7.2) */
	bool reinject;
	u32 reinject_info;
	u32 reinject_err;
	/*
	 * NMI blocking, which VMRUN does not keep for the guest without
	 * vNMI: set when an NMI is injected, cleared once the guest's IRET
	 * has completed (IRET is intercepted while NMIs are blocked; the
	 * intercept comes before the IRET, so blocking ends at the first
	 * exit with RIP elsewhere).  APM Vol. 2, 15.20 and 8.2.11.
	 */
	bool nmi_masked;
	bool iret_seen;		/* the IRET intercept fired at iret_rip */
	u64 iret_rip;
	/* what wants the VINTR exit: the core's IRQ or NMI window */
	bool irq_window, nmi_window;
};

u64 svm_iopm_pa, svm_msrpm_pa;
static struct page *svm_iopm, *svm_msrpm;
static u64 svm_host_xcr0;

/* APM 15.10.1 (IOPM: 12 KiB) and 15.11 (MSRPM: 8 KiB): all set. */
#define SVM_IOPM_ORDER	2
#define SVM_MSRPM_ORDER	1

int svm_vcpu_setup(void)
{
	svm_iopm = alloc_pages(GFP_KERNEL, SVM_IOPM_ORDER);
	svm_msrpm = alloc_pages(GFP_KERNEL, SVM_MSRPM_ORDER);
	if (!svm_iopm || !svm_msrpm) {
		svm_vcpu_cleanup();
		return -ENOMEM;
	}
	/* Every port and every MSR intercepted: nothing is passed through. */
	memset(page_address(svm_iopm), 0xff, PAGE_SIZE << SVM_IOPM_ORDER);
	memset(page_address(svm_msrpm), 0xff, PAGE_SIZE << SVM_MSRPM_ORDER);
	svm_iopm_pa = page_to_phys(svm_iopm);
	svm_msrpm_pa = page_to_phys(svm_msrpm);
	if (boot_cpu_has(X86_FEATURE_OSXSAVE))
		svm_host_xcr0 = xgetbv(XCR_XFEATURE_ENABLED_MASK);
	return 0;
}

void svm_vcpu_cleanup(void)
{
	if (svm_iopm)
		__free_pages(svm_iopm, SVM_IOPM_ORDER);
	if (svm_msrpm)
		__free_pages(svm_msrpm, SVM_MSRPM_ORDER);
	svm_iopm = NULL;
	svm_msrpm = NULL;
}

int svm_vm_init(struct kvisor_vm *vm)
{
	/* Guest memory is nested paging only: no shadow page tables. */
	if (!kvisor_caps.nested_paging) {
		pr_info_once("kvisor: AMD-V: cannot run VMs on this CPU (no NPT)\n");
		return -EOPNOTSUPP;
	}
	return 0;	/* all VM state is in the core (nested tables) */
}

static void svm_intercept(struct vmcb *vmcb, int bit, bool on)
{
	if (on)
		vmcb->control.intercepts[bit / 32] |= BIT(bit % 32);
	else
		vmcb->control.intercepts[bit / 32] &= ~BIT(bit % 32);
}

static void svm_set_seg(struct vmcb_seg *seg, u16 sel, u64 base, u32 limit,
			u16 attrib)
{
	seg->selector = sel;
	seg->base = base;
	seg->limit = limit;
	seg->attrib = attrib;
}

/* The state after RESET (APM Vol. 2, 14.1.3), CR0.CD/NW cleared. */
static void svm_reset_state(struct vmcb_save_area *save)
{
	svm_set_seg(&save->cs, 0xf000, 0xffff0000, 0xffff, 0x9b);
	svm_set_seg(&save->ds, 0, 0, 0xffff, 0x93);
	svm_set_seg(&save->es, 0, 0, 0xffff, 0x93);
	svm_set_seg(&save->fs, 0, 0, 0xffff, 0x93);
	svm_set_seg(&save->gs, 0, 0, 0xffff, 0x93);
	svm_set_seg(&save->ss, 0, 0, 0xffff, 0x93);
	svm_set_seg(&save->ldtr, 0, 0, 0xffff, 0x82);
	svm_set_seg(&save->tr, 0, 0, 0xffff, 0x8b);
	svm_set_seg(&save->gdtr, 0, 0, 0xffff, 0);
	svm_set_seg(&save->idtr, 0, 0, 0xffff, 0);
	save->cr0 = X86_CR0_ET;
	save->efer = EFER_SVME;		/* must be set for VMRUN (15.5.1) */
	save->dr6 = 0xffff0ff0;
	save->dr7 = 0x400;
	save->g_pat = 0x0007040600070406ULL;	/* the power-on PAT */
}

int svm_vcpu_create(struct kvisor_vcpu *vcpu)
{
	struct svm_vcpu *sv;
	struct page *page;
	struct vmcb *vmcb;
	static const int intercepts[] = {
		INTERCEPT_INTR, INTERCEPT_NMI, INTERCEPT_CPUID, INTERCEPT_INVD,
		INTERCEPT_HLT, INTERCEPT_INVLPGA, INTERCEPT_IOIO_PROT,
		INTERCEPT_MSR_PROT, INTERCEPT_SHUTDOWN, INTERCEPT_VMRUN,
		INTERCEPT_VMMCALL, INTERCEPT_VMLOAD, INTERCEPT_VMSAVE,
		INTERCEPT_STGI, INTERCEPT_CLGI, INTERCEPT_SKINIT,
		INTERCEPT_RDTSCP, INTERCEPT_WBINVD, INTERCEPT_MONITOR,
		INTERCEPT_MWAIT, INTERCEPT_MWAIT_COND, INTERCEPT_XSETBV,
		INTERCEPT_RDPRU, INTERCEPT_RDPMC, INTERCEPT_ICEBP,
	};
	/*
	 * Exceptions: #UD (VMCALL, Intel's hypercall, raises it here,
	 * 15.12); #DB and #AC, which a guest can make recur inside their
	 * own delivery forever without an exit (CVE-2015-8104,
	 * CVE-2015-5307): intercepted, each round trip gives the host the
	 * CPU back, and the guest gets them as raised; #MC, which belongs
	 * to the host (see svm_run()).
	 */
	static const int exceptions[] = {
		KVISOR_DB_VECTOR, KVISOR_UD_VECTOR, KVISOR_AC_VECTOR,
		KVISOR_MC_VECTOR,
	};
	int i;

	sv = kzalloc(sizeof(*sv), GFP_KERNEL_ACCOUNT);
	if (!sv)
		return -ENOMEM;
	page = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
	if (!page) {
		kfree(sv);
		return -ENOMEM;
	}
	vmcb = page_address(page);
	sv->vmcb = vmcb;
	sv->vmcb_pa = page_to_phys(page);
	sv->asid_cpu = -1;

	/* VMRUN must be intercepted or VMRUN fails (15.5.1). */
	for (i = 0; i < ARRAY_SIZE(intercepts); i++)
		svm_intercept(vmcb, intercepts[i], true);
	for (i = 0; i < ARRAY_SIZE(exceptions); i++)
		svm_intercept(vmcb, INTERCEPT_EXCEPTION_OFFSET + exceptions[i],
			      true);
	vmcb->control.iopm_base_pa = svm_iopm_pa;
	vmcb->control.msrpm_base_pa = svm_msrpm_pa;
	/*
	 * V_INTR_MASKING: the guest's RFLAGS.IF masks only virtual
	 * interrupts, host interrupts always exit (15.21.1).
	 */
	vmcb->control.int_ctl = V_INTR_MASKING_MASK;
	vmcb->control.nested_ctl = SVM_NESTED_CTL_NP_ENABLE;
	vmcb->control.nested_cr3 = page_to_phys(vcpu->vm->npt_root);
	svm_reset_state(&vmcb->save);

	vcpu->arch = sv;
	return 0;
}

void svm_vcpu_free(struct kvisor_vcpu *vcpu)
{
	struct svm_vcpu *sv = vcpu->arch;

	if (!sv)
		return;
	__free_page(virt_to_page(sv->vmcb));
	kfree(sv);
	vcpu->arch = NULL;
}

/* ---------------------------------------------------------------- */

static u32 svm_insn_len(struct vmcb *vmcb, struct kvisor_exit *x, u32 len)
{
	if (svm_has_nrips && vmcb->control.next_rip > vmcb->save.rip)
		return vmcb->control.next_rip - vmcb->save.rip;
	/*
	 * Without NRIP save: the intercepted instruction, unprefixed; the
	 * core adds the prefixes it finds at CS:RIP.
	 */
	x->insn_unprefixed = true;
	return len;
}

/* An exception the guest raised, reflected back to it by the core. */
static void svm_reflect(struct svm_vcpu *sv, struct kvisor_exit *x, u8 vector)
{
	/*
	 * Raised while delivering another event (exit_int_info valid):
	 * that event is delivered again and raises it again if it still
	 * must; queuing this one too would deliver it twice.
	 */
	if (sv->reinject) {
		x->kind = KVISOR_X_NONE;
		return;
	}
	x->kind = KVISOR_X_EXCEPTION;
	x->exc.vector = vector;
	/* #AC pushes an error code, always 0; #DB none (APM 8.4) */
	x->exc.has_error = vector == KVISOR_AC_VECTOR;
	x->exc.error = 0;
}

static void svm_decode_exit(struct kvisor_vcpu *vcpu, struct kvisor_exit *x)
{
	struct svm_vcpu *sv = vcpu->arch;
	struct vmcb *vmcb = sv->vmcb;
	struct vmcb_control_area *c = &vmcb->control;
	u32 code = c->exit_code, ii = c->exit_int_info;
	u64 info1 = c->exit_info_1, info2 = c->exit_info_2;

	/*
	 * EXITCODE is 64 bits wide and VMEXIT_INVALID is -1 (APM App. C);
	 * some implementations (QEMU) write only the low half of it.
	 */
	if (code == (u32)SVM_EXIT_ERR)
		x->hw_reason = ~0ULL;
	else
		x->hw_reason = ((u64)c->exit_code_hi << 32) | code;
	x->hw_info = info1;
	x->insn_len = 0;
	x->insn_unprefixed = false;

	/*
	 * An event whose delivery was cut short is delivered again.  Soft
	 * interrupts and INT3/INTO are re-executed instead: without NRIP
	 * save the CPU cannot be told where they end.
	 */
	if ((ii & SVM_EXITINTINFO_VALID) && code != (u32)SVM_EXIT_ERR) {
		u32 type = ii & SVM_EXITINTINFO_TYPE_MASK;
		u32 vec = ii & SVM_EXITINTINFO_VEC_MASK;

		if (type != SVM_EXITINTINFO_TYPE_SOFT &&
		    !(type == SVM_EXITINTINFO_TYPE_EXEPT && (vec == 3 || vec == 4))) {
			sv->reinject = true;
			sv->reinject_info = ii;
			sv->reinject_err = c->exit_int_info_err;
		}
	}

	switch (code) {
	case SVM_EXIT_INTR:
		x->kind = KVISOR_X_EXT_INTR;
		break;
	case SVM_EXIT_NMI:
		x->kind = KVISOR_X_NMI;
		break;
	case SVM_EXIT_VINTR:
		svm_set_irq_window(vcpu, false);
		x->kind = KVISOR_X_IRQ_WINDOW;
		break;
	case SVM_EXIT_HLT:
		x->kind = KVISOR_X_HLT;
		x->insn_len = svm_insn_len(vmcb, x, 1);
		break;
	case SVM_EXIT_IOIO:
		/* EXITINFO1 layout: APM 15.10.2; EXITINFO2 is the next RIP. */
		x->kind = KVISOR_X_IO;
		x->io.port = info1 >> 16;
		x->io.size = (info1 & SVM_IOIO_SIZE_MASK) >> SVM_IOIO_SIZE_SHIFT;
		x->io.addr_size = ((info1 & SVM_IOIO_ASIZE_MASK) >> SVM_IOIO_ASIZE_SHIFT) * 2;
		x->io.in = info1 & SVM_IOIO_TYPE_MASK;
		x->io.string = info1 & SVM_IOIO_STR_MASK;
		x->io.rep = info1 & SVM_IOIO_REP_MASK;
		x->insn_len = info2 - vmcb->save.rip;
		if (x->io.size != 1 && x->io.size != 2 && x->io.size != 4)
			x->kind = KVISOR_X_UNEXPECTED;
		break;
	case SVM_EXIT_NPF:
		/* EXITINFO1: #PF-style error code; EXITINFO2: the GPA (15.25.6) */
		x->kind = KVISOR_X_NPF;
		x->npf.gpa = info2;
		x->npf.present = info1 & BIT(0);
		x->npf.write = info1 & BIT(1);
		x->npf.fetch = info1 & BIT(4);
		/* bit 33: during the guest's page-table walk (15.25.6) */
		x->npf.walk = info1 & BIT_ULL(33);
		break;
	case SVM_EXIT_VMMCALL:
		x->kind = KVISOR_X_HYPERCALL;
		x->insn_len = svm_insn_len(vmcb, x, KVISOR_HC_INSN_LEN);
		break;
	case SVM_EXIT_EXCP_BASE + KVISOR_UD_VECTOR:
		/*
		 * A fault: RIP is the instruction's.  The core fetches it
		 * (no decode assists in TCG) and either treats a VMCALL as
		 * a hypercall or gives the guest its #UD back.
		 */
		x->kind = KVISOR_X_UD_FAULT;
		break;
	case SVM_EXIT_EXCP_BASE + KVISOR_DB_VECTOR:
		/* DR6 in the VMCB already has the cause (15.12.2) */
		svm_reflect(sv, x, KVISOR_DB_VECTOR);
		break;
	case SVM_EXIT_EXCP_BASE + KVISOR_AC_VECTOR:
		svm_reflect(sv, x, KVISOR_AC_VECTOR);
		break;
	case SVM_EXIT_EXCP_BASE + KVISOR_MC_VECTOR:
		x->kind = KVISOR_X_NONE;	/* the host's: svm_run() */
		break;
	case SVM_EXIT_ICEBP:
		x->kind = KVISOR_X_ICEBP;
		x->insn_len = svm_insn_len(vmcb, x, 1);
		break;
	case SVM_EXIT_RDPMC:
		/*
		 * No performance counters are virtualized (CPUID leaf 0xA
		 * and the AMD extensions say so): RDPMC raises #GP(0), as
		 * for a counter that does not exist, never the host's.
		 */
		x->kind = KVISOR_X_EXCEPTION;
		x->exc.vector = KVISOR_GP_VECTOR;
		x->exc.has_error = true;
		x->exc.error = 0;
		break;
	case SVM_EXIT_IRET:
		/* the guest's NMI handler returns: blocking ends after it */
		sv->iret_seen = true;
		sv->iret_rip = vmcb->save.rip;
		svm_intercept(vmcb, INTERCEPT_IRET, false);
		x->kind = KVISOR_X_NONE;
		break;
	case SVM_EXIT_CPUID:
		x->kind = KVISOR_X_CPUID;
		x->insn_len = svm_insn_len(vmcb, x, 2);
		break;
	case SVM_EXIT_MSR:
		x->kind = info1 ? KVISOR_X_WRMSR : KVISOR_X_RDMSR;
		x->insn_len = svm_insn_len(vmcb, x, 2);
		break;
	case SVM_EXIT_XSETBV:
		x->kind = KVISOR_X_XSETBV;
		x->insn_len = svm_insn_len(vmcb, x, 3);
		break;
	case SVM_EXIT_RDTSCP:
		x->kind = KVISOR_X_RDTSCP;
		x->insn_len = svm_insn_len(vmcb, x, 3);
		break;
	case SVM_EXIT_INVD:
	case SVM_EXIT_WBINVD:
		x->kind = KVISOR_X_NOP_INSN;
		x->insn_len = svm_insn_len(vmcb, x, 2);
		break;
	case SVM_EXIT_VMRUN:
	case SVM_EXIT_VMLOAD:
	case SVM_EXIT_VMSAVE:
	case SVM_EXIT_STGI:
	case SVM_EXIT_CLGI:
	case SVM_EXIT_SKINIT:
	case SVM_EXIT_INVLPGA:
	case SVM_EXIT_MONITOR:
	case SVM_EXIT_MWAIT:
	case SVM_EXIT_MWAIT_COND:
	case SVM_EXIT_RDPRU:
		x->kind = KVISOR_X_UD;
		break;
	case SVM_EXIT_SHUTDOWN:
		x->kind = KVISOR_X_SHUTDOWN;
		break;
	case (u32)SVM_EXIT_ERR:
		x->kind = KVISOR_X_FAIL_ENTRY;
		break;
	default:
		x->kind = KVISOR_X_UNEXPECTED;
		break;
	}
}

/* A new ASID when the vCPU moved, the CPU's ASIDs rolled over, or the
 * VM's nested translations shrank (APM 15.16).
 */
static void svm_assign_asid(struct kvisor_vcpu *vcpu, struct svm_vcpu *sv)
{
	struct svm_cpu *sc = this_cpu_ptr(&svm_cpu);
	int cpu = smp_processor_id();
	u64 gen = atomic64_read(&vcpu->vm->tlb_gen);
	struct vmcb_control_area *c = &sv->vmcb->control;

	c->tlb_ctl = TLB_CONTROL_DO_NOTHING;
	if (sv->asid_cpu == cpu && sv->asid_gen == sc->asid_gen &&
	    sv->tlb_gen == gen)
		return;
	if (sc->asid_next == 0 || sc->asid_next > svm_max_asid) {
		sc->asid_gen++;
		sc->asid_next = 1;
		c->tlb_ctl = TLB_CONTROL_FLUSH_ALL_ASID;
	}
	sv->asid = sc->asid_next++;
	sv->asid_cpu = cpu;
	sv->asid_gen = sc->asid_gen;
	sv->tlb_gen = gen;
	c->asid = sv->asid;
}

void svm_run(struct kvisor_vcpu *vcpu, struct kvisor_exit *x)
{
	struct svm_vcpu *sv = vcpu->arch;
	struct vmcb *vmcb = sv->vmcb;
	struct svm_cpu *sc = this_cpu_ptr(&svm_cpu);
	/* segments, EFER, CPL, CR0/3/4, DR6/7: the save area up to RFLAGS */
	u8 entry_save[offsetof(struct vmcb_save_area, rflags)];
	u64 entry_cr2;
	u32 entry_int_ctl;
	u64 entry_xcr0, xcr0;
	bool swap_tsc_aux;

	/* An emulated instruction ends an STI/MOV SS shadow. */
	if (vcpu->rip != vmcb->save.rip)
		vmcb->control.int_state &= ~SVM_INTERRUPT_SHADOW_MASK;
	vmcb->save.rax = vcpu->gpr[KVISOR_RAX];
	vmcb->save.rsp = vcpu->gpr[KVISOR_RSP];
	vmcb->save.rip = vcpu->rip;
	vmcb->save.rflags = vcpu->rflags;

	svm_assign_asid(vcpu, sv);
	if (sv->reinject) {
		vmcb->control.event_inj = sv->reinject_info;
		vmcb->control.event_inj_err = sv->reinject_err;
		sv->reinject = false;
	}
	/* Any CPU may have cached this VMCB: nothing is clean (15.15.3). */
	vmcb->control.clean = 0;

	/*
	 * XCR0 is not switched by VMRUN.  The guest's goes in whatever its
	 * CR4.OSXSAVE: a MOV to CR4 does not exit, so a guest that turns
	 * OSXSAVE on inside this run must find its own XCR0 there, not the
	 * host's (which it would otherwise keep without kvisor noticing:
	 * an XSETBV of the host's value changes nothing to read back).
	 */
	entry_xcr0 = svm_host_xcr0;
	if (svm_host_xcr0 && vcpu->xcr0 != svm_host_xcr0) {
		entry_xcr0 = vcpu->xcr0;
		xsetbv(XCR_XFEATURE_ENABLED_MASK, entry_xcr0);
	}

	/*
	 * Nor is TSC_AUX, which RDPID reads without an intercept: the
	 * guest's goes in, the host's (its CPU and node number) must not
	 * reach the guest.  RDTSCP is intercepted, but QEMU's TCG ignores
	 * that intercept and reads the MSR too.
	 */
	swap_tsc_aux = false;
	if (boot_cpu_has(X86_FEATURE_RDPID) || boot_cpu_has(X86_FEATURE_RDTSCP)) {
		if (!sc->host_tsc_aux_valid) {
			rdmsrl(MSR_TSC_AUX, sc->host_tsc_aux);
			sc->host_tsc_aux_valid = true;
		}
		swap_tsc_aux = vcpu->tsc_aux != sc->host_tsc_aux;
		if (swap_tsc_aux)
			wrmsrl(MSR_TSC_AUX, vcpu->tsc_aux);
	}
	memcpy(entry_save, &vmcb->save, sizeof(entry_save));
	entry_cr2 = vmcb->save.cr2;
	entry_int_ctl = vmcb->control.int_ctl;

	/* GIF=0: host interrupts and NMIs wait until STGI (15.17). */
	asm volatile("clgi" ::: "memory");
	kvisor_svm_vmrun(sv->vmcb_pa, vcpu->gpr, page_to_phys(sc->host_vmcb));
	if (swap_tsc_aux)
		wrmsrl(MSR_TSC_AUX, sc->host_tsc_aux);
	/*
	 * XSETBV is intercepted, but an implementation without that
	 * intercept (QEMU's TCG) lets the guest write XCR0 itself, also
	 * after turning on CR4.OSXSAVE, which does not exit either.  So
	 * read XCR0 back (XGETBV does not serialise): whatever differs
	 * from the entry value is the guest's, and the host's goes back.
	 */
	if (svm_host_xcr0) {
		xcr0 = xgetbv(XCR_XFEATURE_ENABLED_MASK);
		if (xcr0 != entry_xcr0)
			vcpu->xcr0 = xcr0;
		if (xcr0 != svm_host_xcr0)
			xsetbv(XCR_XFEATURE_ENABLED_MASK, svm_host_xcr0);
	}
	asm volatile("stgi" ::: "memory");

	/*
	 * A machine check in guest mode exits instead of reaching the
	 * guest's IDT (#MC is intercepted): it reports the host's hardware,
	 * so the host's handler gets it, as if it had interrupted user mode
	 * (the vCPU thread), with interrupts still off.
	 */
	if (IS_ENABLED(CONFIG_X86_MCE) &&
	    vmcb->control.exit_code == SVM_EXIT_EXCP_BASE + KVISOR_MC_VECTOR) {
		struct pt_regs regs = { .cs = 3, .flags = X86_EFLAGS_IF };

		do_machine_check(&regs);
	}

	/*
	 * A VMRUN that failed its consistency checks (VMEXIT_INVALID) ran
	 * nothing: keep the registers userspace gave, whatever an
	 * implementation wrote back to the save area.
	 */
	if (vmcb->control.exit_code != (u32)SVM_EXIT_ERR) {
		vcpu->gpr[KVISOR_RAX] = vmcb->save.rax;
		vcpu->gpr[KVISOR_RSP] = vmcb->save.rsp;
		vcpu->rip = vmcb->save.rip;
		vcpu->rflags = vmcb->save.rflags;
	} else {
		/*
		 * The same for the state GET_SREGS reads: QEMU's VMRUN writes
		 * the host's CR0/CR3/CR4/EFER/segments back here when its
		 * checks fail.
		 */
		memcpy(&vmcb->save, entry_save, sizeof(entry_save));
		vmcb->save.cr2 = entry_cr2;
		vmcb->control.int_ctl = entry_int_ctl;
	}
	vmcb->control.event_inj = 0;
	/* the NMI handler's IRET has completed: NMIs are unblocked */
	if (sv->iret_seen && vmcb->save.rip != sv->iret_rip) {
		sv->iret_seen = false;
		sv->nmi_masked = false;
	}
	svm_decode_exit(vcpu, x);
}

/* ---------------------------------------------------------------- */
/* Registers                                                        */
/* ---------------------------------------------------------------- */

static void svm_seg_get(const struct vmcb_seg *v, struct kvisor_segment *s)
{
	s->base = v->base;
	s->limit = v->limit;
	s->selector = v->selector;
	kvisor_seg_set_attr(s, v->attrib);
	s->unusable = !s->present;
}

static void svm_seg_set(struct vmcb_seg *v, const struct kvisor_segment *s)
{
	v->base = s->base;
	v->limit = s->limit;
	v->selector = s->selector;
	v->attrib = s->unusable ? 0 : kvisor_seg_attr(s);
}

void svm_get_sregs(struct kvisor_vcpu *vcpu, struct kvisor_sregs *s)
{
	struct vmcb_save_area *save = &((struct svm_vcpu *)vcpu->arch)->vmcb->save;
	struct vmcb_control_area *c = &((struct svm_vcpu *)vcpu->arch)->vmcb->control;

	svm_seg_get(&save->cs, &s->cs);
	svm_seg_get(&save->ds, &s->ds);
	svm_seg_get(&save->es, &s->es);
	svm_seg_get(&save->fs, &s->fs);
	svm_seg_get(&save->gs, &s->gs);
	svm_seg_get(&save->ss, &s->ss);
	svm_seg_get(&save->tr, &s->tr);
	svm_seg_get(&save->ldtr, &s->ldt);
	s->gdt.base = save->gdtr.base;
	s->gdt.limit = save->gdtr.limit;
	s->idt.base = save->idtr.base;
	s->idt.limit = save->idtr.limit;
	s->cr0 = save->cr0;
	s->cr2 = save->cr2;
	s->cr3 = save->cr3;
	s->cr4 = save->cr4;
	s->cr8 = c->int_ctl & V_TPR_MASK;
	s->efer = save->efer & ~(u64)EFER_SVME;
}

void svm_set_sregs(struct kvisor_vcpu *vcpu, const struct kvisor_sregs *s)
{
	struct svm_vcpu *sv = vcpu->arch;
	struct vmcb_save_area *save = &sv->vmcb->save;
	u64 efer = s->efer | EFER_SVME;

	/*
	 * New CR3/paging state from userspace: VMRUN does not flush the
	 * guest's TLB for a changed CR3, so take a fresh ASID at the next
	 * entry rather than let the guest see stale translations.
	 */
	sv->asid_cpu = -1;
	svm_seg_set(&save->cs, &s->cs);
	svm_seg_set(&save->ds, &s->ds);
	svm_seg_set(&save->es, &s->es);
	svm_seg_set(&save->fs, &s->fs);
	svm_seg_set(&save->gs, &s->gs);
	svm_seg_set(&save->ss, &s->ss);
	svm_seg_set(&save->tr, &s->tr);
	svm_seg_set(&save->ldtr, &s->ldt);
	save->gdtr.base = s->gdt.base;
	save->gdtr.limit = s->gdt.limit;
	save->idtr.base = s->idt.base;
	save->idtr.limit = s->idt.limit;
	save->cr0 = s->cr0;
	save->cr2 = s->cr2;
	save->cr3 = s->cr3;
	save->cr4 = s->cr4;
	sv->vmcb->control.int_ctl = (sv->vmcb->control.int_ctl & ~V_TPR_MASK) |
				    (s->cr8 & V_TPR_MASK);
	/* LMA follows LME and paging, as the CPU would have set it. */
	if ((efer & EFER_LME) && (s->cr0 & X86_CR0_PG))
		efer |= EFER_LMA;
	else
		efer &= ~(u64)EFER_LMA;
	save->efer = efer;
	/* The VMCB's CPL is SS.DPL in protected mode (15.5.1). */
	if (!(s->cr0 & X86_CR0_PE))
		save->cpl = 0;
	else if (vcpu->rflags & X86_EFLAGS_VM)
		save->cpl = 3;
	else
		save->cpl = s->ss.dpl;
	/* A triple fault left the interrupt state undefined: start clean. */
	sv->vmcb->control.int_state = 0;
	sv->reinject = false;
	sv->nmi_masked = false;
	sv->iret_seen = false;
	svm_intercept(sv->vmcb, INTERCEPT_IRET, false);
}

int svm_get_cpl(struct kvisor_vcpu *vcpu)
{
	return ((struct svm_vcpu *)vcpu->arch)->vmcb->save.cpl;
}

bool svm_long_mode(struct kvisor_vcpu *vcpu)
{
	const struct vmcb_save_area *save =
		&((struct svm_vcpu *)vcpu->arch)->vmcb->save;

	return (save->efer & EFER_LMA) && (save->cs.attrib & SVM_SELECTOR_L_MASK);
}

int svm_get_msr(struct kvisor_vcpu *vcpu, u32 index, u64 *data)
{
	struct vmcb *vmcb = ((struct svm_vcpu *)vcpu->arch)->vmcb;
	struct vmcb_save_area *save = &vmcb->save;

	switch (index) {
	case MSR_EFER:
		*data = save->efer & ~(u64)EFER_SVME;
		break;
	case MSR_IA32_CR_PAT:
		*data = save->g_pat;
		break;
	case MSR_IA32_SYSENTER_CS:
		*data = save->sysenter_cs;
		break;
	case MSR_IA32_SYSENTER_ESP:
		*data = save->sysenter_esp;
		break;
	case MSR_IA32_SYSENTER_EIP:
		*data = save->sysenter_eip;
		break;
	case MSR_STAR:
		*data = save->star;
		break;
	case MSR_LSTAR:
		*data = save->lstar;
		break;
	case MSR_CSTAR:
		*data = save->cstar;
		break;
	case MSR_SYSCALL_MASK:
		*data = save->sfmask;
		break;
	case MSR_KERNEL_GS_BASE:
		*data = save->kernel_gs_base;
		break;
	case MSR_FS_BASE:
		*data = save->fs.base;
		break;
	case MSR_GS_BASE:
		*data = save->gs.base;
		break;
	case MSR_IA32_TSC:
		*data = rdtsc() + vmcb->control.tsc_offset;
		break;
	default:
		return -ENOENT;
	}
	return 0;
}

int svm_set_msr(struct kvisor_vcpu *vcpu, u32 index, u64 data)
{
	struct vmcb *vmcb = ((struct svm_vcpu *)vcpu->arch)->vmcb;
	struct vmcb_save_area *save = &vmcb->save;

	switch (index) {
	case MSR_EFER:
		/* LME may not change while paging is on (APM 14.6.1). */
		if (((data ^ save->efer) & EFER_LME) && (save->cr0 & X86_CR0_PG))
			return -EINVAL;
		save->efer = (data & ~(u64)EFER_LMA) | (save->efer & EFER_LMA) |
			     EFER_SVME;
		break;
	case MSR_IA32_CR_PAT:
		save->g_pat = data;
		break;
	case MSR_IA32_SYSENTER_CS:
		save->sysenter_cs = data;
		break;
	case MSR_IA32_SYSENTER_ESP:
		save->sysenter_esp = data;
		break;
	case MSR_IA32_SYSENTER_EIP:
		save->sysenter_eip = data;
		break;
	case MSR_STAR:
		save->star = data;
		break;
	case MSR_LSTAR:
		save->lstar = data;
		break;
	case MSR_CSTAR:
		save->cstar = data;
		break;
	case MSR_SYSCALL_MASK:
		save->sfmask = data;
		break;
	case MSR_KERNEL_GS_BASE:
		save->kernel_gs_base = data;
		break;
	case MSR_FS_BASE:
		save->fs.base = data;
		break;
	case MSR_GS_BASE:
		save->gs.base = data;
		break;
	case MSR_IA32_TSC:
		vmcb->control.tsc_offset = data - rdtsc();
		break;
	default:
		return -ENOENT;
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Events (APM 15.20 injection, 15.21 virtual interrupts)           */
/* ---------------------------------------------------------------- */

bool svm_interrupt_allowed(struct kvisor_vcpu *vcpu)
{
	struct svm_vcpu *sv = vcpu->arch;
	struct vmcb_control_area *c = &sv->vmcb->control;

	return (vcpu->rflags & X86_EFLAGS_IF) &&
	       !(c->int_state & SVM_INTERRUPT_SHADOW_MASK) &&
	       !sv->reinject && !(c->event_inj & SVM_EVTINJ_VALID);
}

bool svm_inject_event(struct kvisor_vcpu *vcpu, const struct kvisor_event *ev)
{
	struct svm_vcpu *sv = vcpu->arch;
	struct vmcb_control_area *c = &sv->vmcb->control;
	u32 inj = SVM_EVTINJ_VALID | (ev->vector & SVM_EVTINJ_VEC_MASK);

	if (sv->reinject || (c->event_inj & SVM_EVTINJ_VALID))
		return false;
	if (ev->type == KVISOR_EVENT_NMI && sv->nmi_masked)
		return false;
	switch (ev->type) {
	case KVISOR_EVENT_EXCEPTION:
		inj |= SVM_EVTINJ_TYPE_EXEPT;
		if (ev->flags & KVISOR_EVENT_HAS_ERROR_CODE)
			inj |= SVM_EVTINJ_VALID_ERR;
		break;
	case KVISOR_EVENT_NMI:
		inj = SVM_EVTINJ_VALID | SVM_EVTINJ_TYPE_NMI | 2;
		/* blocked until the handler's IRET (APM 8.2.11) */
		sv->nmi_masked = true;
		sv->iret_seen = false;
		svm_intercept(sv->vmcb, INTERCEPT_IRET, true);
		break;
	default:
		inj |= SVM_EVTINJ_TYPE_INTR;
		break;
	}
	c->event_inj_err = ev->error_code;
	c->event_inj = inj;
	return true;
}

static void svm_update_vintr(struct svm_vcpu *sv)
{
	struct vmcb *vmcb = sv->vmcb;
	u32 bits = V_IRQ_MASK | V_INTR_PRIO_MASK | V_IGN_TPR_MASK;
	bool on = sv->irq_window || sv->nmi_window;

	/*
	 * A virtual interrupt the guest takes as soon as it can; its
	 * acknowledgment is intercepted (VINTR) and tells the core the
	 * window is open.
	 */
	if (on)
		vmcb->control.int_ctl |= bits;
	else
		vmcb->control.int_ctl &= ~bits;
	svm_intercept(vmcb, INTERCEPT_VINTR, on);
}

void svm_set_irq_window(struct kvisor_vcpu *vcpu, bool on)
{
	struct svm_vcpu *sv = vcpu->arch;

	sv->irq_window = on;
	if (!on)
		sv->nmi_window = false;	/* the VINTR exit serves both */
	svm_update_vintr(sv);
}

bool svm_nmi_blocked(struct kvisor_vcpu *vcpu)
{
	return ((struct svm_vcpu *)vcpu->arch)->nmi_masked;
}

/*
 * An NMI waits for the IRET of the last one.  Before that IRET there is
 * nothing to do: its intercept brings the exit.  After it, the first
 * exit with RIP past it ends blocking: the VINTR window gives one right
 * away when the guest runs with RFLAGS.IF set, and otherwise the next
 * host interrupt does (every host interrupt exits), so the NMI is late,
 * never early.
 */
void svm_set_nmi_window(struct kvisor_vcpu *vcpu, bool on)
{
	struct svm_vcpu *sv = vcpu->arch;
	bool want = on && sv->nmi_masked && sv->iret_seen;

	if (want == sv->nmi_window)
		return;
	sv->nmi_window = want;
	svm_update_vintr(sv);
}

/* The #DB kvisor queues: DR6 as the CPU sets it (APM Vol. 2, 13.1.1.3). */
void svm_set_dr6_trap(struct kvisor_vcpu *vcpu, unsigned long dr6)
{
	struct vmcb *vmcb = ((struct svm_vcpu *)vcpu->arch)->vmcb;

	vmcb->save.dr6 = (vmcb->save.dr6 & ~(u64)DR_TRAP_BITS) | DR6_RESERVED |
			 dr6;
}

void svm_set_cr2(struct kvisor_vcpu *vcpu, u64 cr2)
{
	((struct svm_vcpu *)vcpu->arch)->vmcb->save.cr2 = cr2;
}

/* CR8 is V_TPR while V_INTR_MASKING is on (APM 15.21.1, 15.23). */
u8 svm_get_cr8(struct kvisor_vcpu *vcpu)
{
	return ((struct svm_vcpu *)vcpu->arch)->vmcb->control.int_ctl & V_TPR_MASK;
}

void svm_set_cr8(struct kvisor_vcpu *vcpu, u8 cr8)
{
	struct vmcb_control_area *c = &((struct svm_vcpu *)vcpu->arch)->vmcb->control;

	c->int_ctl = (c->int_ctl & ~V_TPR_MASK) | (cr8 & V_TPR_MASK);
}

void svm_clear_interrupt_shadow(struct kvisor_vcpu *vcpu)
{
	((struct svm_vcpu *)vcpu->arch)->vmcb->control.int_state &=
		~SVM_INTERRUPT_SHADOW_MASK;
}
