// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor vCPUs: the vCPU fd, the shared run page, register ioctls, event
 * injection and the run loop.
 *
 * The run loop enters the guest with preemption and interrupts disabled
 * and lets the backend reload all per-CPU state on every entry, so a vCPU
 * thread may be preempted or migrated between any two entries.  The guest
 * FPU/XSAVE state is swapped in for the whole RUN ioctl with the kernel's
 * fpu_swap_kvm_fpstate(): while it is loaded the task's FPU state *is*
 * the guest's, and the kernel's context switch saves and restores it.
 *
 * Reset state (vCPU creation) is that of a PC after RESET, except that
 * CR0 is 0x10 (ET; caches enabled): CS selector F000 base FFFF0000,
 * RIP FFF0, RFLAGS 2, data segments base 0 limit FFFF, TR a busy TSS and
 * LDTR an LDT (limit FFFF), GDTR/IDTR limit FFFF, EFER 0, APIC base
 * FEE00000 | enable | BSP (vCPU 0), RDX = CPUID(1).EAX.  The backends set
 * the segments (Documentation/api.rst has the table).
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/uaccess.h>
#include <asm/debugreg.h>
#include <asm/fpu/api.h>
#include <asm/msr-index.h>
#include <asm/mtrr.h>
#include <asm/pkru.h>
#include <asm/processor-flags.h>

#include "kvisor.h"
#include "io/lapic.h"
#include "trace.h"

void kvisor_vcpu_queue_exception(struct kvisor_vcpu *vcpu, u32 vector,
				 bool has_error, u32 error)
{
	vcpu->exception.type = KVISOR_EVENT_EXCEPTION;
	vcpu->exception.vector = vector;
	vcpu->exception.error_code = error;
	vcpu->exception.flags = has_error ? KVISOR_EVENT_HAS_ERROR_CODE : 0;
	vcpu->exception_pending = true;
}

/* Exceptions that are traps (#DB, #BP, #OF) or aborts (#DF, #MC). */
#define EXC_NOT_FAULT	(BIT(1) | BIT(3) | BIT(4) | BIT(8) | BIT(18))

/*
 * An irqchip VM: the next interrupt of the LAPIC (or the PIC through
 * LINT0), moved from IRR to ISR once the backend took it.  Returns true
 * when one is still waiting for the guest to accept interrupts.
 */
static bool vcpu_inject_lapic(struct kvisor_vcpu *vcpu, bool allowed)
{
	struct kvisor_event ev = { .type = KVISOR_EVENT_INTERRUPT };
	bool extint;
	int vector;

	if (!allowed)
		return kvisor_lapic_has_irq(vcpu);
	vector = kvisor_lapic_next_irq(vcpu, &extint);
	if (vector < 0)
		return false;
	ev.vector = vector;
	if (!kvisor_ops->inject_event(vcpu, &ev))
		return true;
	trace_kvisor_inject(vcpu->id, KVISOR_EVENT_INTERRUPT, vector, 0);
	kvisor_lapic_irq_injected(vcpu, vector, extint);
	/* another one waits for the next window */
	return kvisor_lapic_has_irq(vcpu);
}

/*
 * Before entry, interrupts off: deliver what userspace queued, in the
 * architectural priority order, and arm the interrupt window when an
 * interrupt must wait for the guest.  Returns true when RUN should return
 * to userspace instead (the window it asked for is already open).
 */
static bool vcpu_inject_events(struct kvisor_vcpu *vcpu)
{
	const struct kvisor_arch_ops *ops = kvisor_ops;
	bool allowed, want_window, lapic_wait = false, lapic_done = false;

	/* a single-step trap still due (exit.c, kvisor_skip_insn()) */
	if (vcpu->singlestep_pending) {
		vcpu->singlestep_pending = false;
		if ((vcpu->rflags & X86_EFLAGS_TF) &&
		    vcpu->rip == vcpu->singlestep_rip)
			kvisor_queue_debug_trap(vcpu, DR_STEP);
	}
	if (vcpu->exception_pending) {
		if (ops->inject_event(vcpu, &vcpu->exception)) {
			trace_kvisor_inject(vcpu->id, KVISOR_EVENT_EXCEPTION,
					    vcpu->exception.vector,
					    vcpu->exception.error_code);
			/*
			 * A fault pushes RFLAGS with RF set (SDM Vol. 3A,
			 * 17.3.1.1); an injected event pushes the RFLAGS
			 * the guest enters with.
			 */
			if (!(EXC_NOT_FAULT & BIT(vcpu->exception.vector)))
				vcpu->rflags |= X86_EFLAGS_RF;
			vcpu->exception_pending = false;
		}
	} else if (vcpu->nmi_pending) {
		struct kvisor_event ev = { .type = KVISOR_EVENT_NMI, .vector = 2 };

		/* refused while the guest's last NMI has not IRETed */
		if (ops->inject_event(vcpu, &ev)) {
			trace_kvisor_inject(vcpu->id, KVISOR_EVENT_NMI, 2, 0);
			vcpu->nmi_pending = false;
		}
	} else if (vcpu->irq_pending && ops->interrupt_allowed(vcpu)) {
		struct kvisor_event ev = {
			.type = KVISOR_EVENT_INTERRUPT,
			.vector = vcpu->irq_vector,
		};

		if (ops->inject_event(vcpu, &ev)) {
			trace_kvisor_inject(vcpu->id, KVISOR_EVENT_INTERRUPT,
					    ev.vector, 0);
			vcpu->irq_pending = false;
		}
	} else if (vcpu->lapic && !vcpu->irq_pending) {
		lapic_wait = vcpu_inject_lapic(vcpu, ops->interrupt_allowed(vcpu));
		lapic_done = true;
	}
	/* an event above went first: the LAPIC's waits for the next window */
	if (vcpu->lapic && !lapic_done)
		lapic_wait = kvisor_lapic_has_irq(vcpu);

	allowed = ops->interrupt_allowed(vcpu);
	if (!vcpu->irq_pending && READ_ONCE(vcpu->run->request_interrupt_window) &&
	    allowed) {
		vcpu->run->exit_reason = KVISOR_EXIT_IRQ_WINDOW_OPEN;
		return true;
	}
	want_window = vcpu->irq_pending || lapic_wait ||
		      READ_ONCE(vcpu->run->request_interrupt_window);
	ops->set_irq_window(vcpu, want_window);
	/* an NMI that waits: exit as soon as the guest can take it */
	ops->set_nmi_window(vcpu, vcpu->nmi_pending);
	return false;
}

/*
 * State neither VMRUN nor VM entry switches, around one guest entry with
 * interrupts off: DR0-3 (the guest owns them natively; the host's are
 * reloaded only if host breakpoints are in use, as the kernel reloads
 * them at context switch anyway) and PKRU (a guest with CR4.PKE writes
 * it with WRPKRU; the host's must be back before any user access).
 */
static u32 vcpu_enter_extra(struct kvisor_vcpu *vcpu)
{
	unsigned long dr;
	u32 host_pkru = read_pkru();

	write_pkru(vcpu->pkru);
	get_debugreg(dr, 0);
	if (dr != vcpu->dr[0])
		set_debugreg(vcpu->dr[0], 0);
	get_debugreg(dr, 1);
	if (dr != vcpu->dr[1])
		set_debugreg(vcpu->dr[1], 1);
	get_debugreg(dr, 2);
	if (dr != vcpu->dr[2])
		set_debugreg(vcpu->dr[2], 2);
	get_debugreg(dr, 3);
	if (dr != vcpu->dr[3])
		set_debugreg(vcpu->dr[3], 3);
	return host_pkru;
}

static void vcpu_exit_extra(struct kvisor_vcpu *vcpu, u32 host_pkru)
{
	get_debugreg(vcpu->dr[0], 0);
	get_debugreg(vcpu->dr[1], 1);
	get_debugreg(vcpu->dr[2], 2);
	get_debugreg(vcpu->dr[3], 3);
	if (hw_breakpoint_active())
		hw_breakpoint_restore();
	vcpu->pkru = read_pkru();
	write_pkru(host_pkru);
}

static int vcpu_run(struct kvisor_vcpu *vcpu)
{
	struct kvisor_run *run = vcpu->run;
	struct kvisor_exit x;
	u32 host_pkru;
	int ret;

	if (vcpu->shutdown) {
		run->exit_reason = KVISOR_EXIT_SHUTDOWN;
		return 0;
	}
	ret = kvisor_exit_complete_pending(vcpu);
	if (ret <= 0)
		goto out;

	fpu_swap_kvm_fpstate(&vcpu->guest_fpu, true);
	for (;;) {
		if (READ_ONCE(run->immediate_exit) || signal_pending(current)) {
			run->exit_reason = KVISOR_EXIT_INTR;
			vcpu->stats.counters[KVISOR_STAT_SIGNAL]++;
			ret = -EINTR;
			break;
		}
		cond_resched();
		/* requests from other vCPUs/timers; HLT and wait-for-SIPI sleep */
		if (vcpu->lapic) {
			ret = kvisor_lapic_prepare(vcpu);
			if (ret == -EINTR)
				continue;	/* reported at the top */
			if (ret <= 0)
				break;
		}

		preempt_disable();
		local_irq_disable();
		if (need_resched() || signal_pending(current) ||
		    (vcpu->lapic && !kvisor_lapic_enter(vcpu))) {
			local_irq_enable();
			preempt_enable();
			continue;
		}
		if (vcpu_inject_events(vcpu)) {
			if (vcpu->lapic)
				kvisor_lapic_exit(vcpu);
			local_irq_enable();
			preempt_enable();
			ret = 0;
			break;
		}
		/* The task's FPU registers were given away: load them back. */
		if (test_thread_flag(TIF_NEED_FPU_LOAD))
			switch_fpu_return();
		trace_kvisor_entry(vcpu->id, vcpu->rip);
		host_pkru = vcpu_enter_extra(vcpu);
		kvisor_ops->run(vcpu, &x);
		vcpu_exit_extra(vcpu, host_pkru);
		if (vcpu->lapic)
			kvisor_lapic_exit(vcpu);
		local_irq_enable();
		preempt_enable();

		ret = kvisor_exit_handle(vcpu, &x);
		if (ret <= 0)
			break;
	}
	fpu_swap_kvm_fpstate(&vcpu->guest_fpu, false);
out:
	run->if_flag = !!(vcpu->rflags & X86_EFLAGS_IF);
	run->nmi_blocked = kvisor_ops->nmi_blocked(vcpu);
	run->ready_for_interrupt_injection = !vcpu->irq_pending &&
					     kvisor_ops->interrupt_allowed(vcpu);
	return ret;
}

static int vcpu_get_regs(struct kvisor_vcpu *vcpu, void __user *argp)
{
	struct kvisor_regs r;

	r.rax = vcpu->gpr[KVISOR_RAX];
	r.rbx = vcpu->gpr[KVISOR_RBX];
	r.rcx = vcpu->gpr[KVISOR_RCX];
	r.rdx = vcpu->gpr[KVISOR_RDX];
	r.rsi = vcpu->gpr[KVISOR_RSI];
	r.rdi = vcpu->gpr[KVISOR_RDI];
	r.rsp = vcpu->gpr[KVISOR_RSP];
	r.rbp = vcpu->gpr[KVISOR_RBP];
	r.r8 = vcpu->gpr[KVISOR_R8];
	r.r9 = vcpu->gpr[KVISOR_R9];
	r.r10 = vcpu->gpr[KVISOR_R10];
	r.r11 = vcpu->gpr[KVISOR_R11];
	r.r12 = vcpu->gpr[KVISOR_R12];
	r.r13 = vcpu->gpr[KVISOR_R13];
	r.r14 = vcpu->gpr[KVISOR_R14];
	r.r15 = vcpu->gpr[KVISOR_R15];
	r.rip = vcpu->rip;
	r.rflags = vcpu->rflags;
	return copy_to_user(argp, &r, sizeof(r)) ? -EFAULT : 0;
}

/* RFLAGS bits software may set (bit 1 always reads 1). */
#define RFLAGS_SETTABLE	(X86_EFLAGS_CF | X86_EFLAGS_PF | X86_EFLAGS_AF | \
			 X86_EFLAGS_ZF | X86_EFLAGS_SF | X86_EFLAGS_TF | \
			 X86_EFLAGS_IF | X86_EFLAGS_DF | X86_EFLAGS_OF | \
			 X86_EFLAGS_IOPL | X86_EFLAGS_NT | X86_EFLAGS_RF | \
			 X86_EFLAGS_VM | X86_EFLAGS_AC | X86_EFLAGS_VIF | \
			 X86_EFLAGS_VIP | X86_EFLAGS_ID)

static int vcpu_set_regs(struct kvisor_vcpu *vcpu, void __user *argp)
{
	struct kvisor_regs r;

	if (copy_from_user(&r, argp, sizeof(r)))
		return -EFAULT;
	if (r.rflags & ~(u64)(RFLAGS_SETTABLE | X86_EFLAGS_FIXED))
		return -EINVAL;
	vcpu->gpr[KVISOR_RAX] = r.rax;
	vcpu->gpr[KVISOR_RBX] = r.rbx;
	vcpu->gpr[KVISOR_RCX] = r.rcx;
	vcpu->gpr[KVISOR_RDX] = r.rdx;
	vcpu->gpr[KVISOR_RSI] = r.rsi;
	vcpu->gpr[KVISOR_RDI] = r.rdi;
	vcpu->gpr[KVISOR_RSP] = r.rsp;
	vcpu->gpr[KVISOR_RBP] = r.rbp;
	vcpu->gpr[KVISOR_R8] = r.r8;
	vcpu->gpr[KVISOR_R9] = r.r9;
	vcpu->gpr[KVISOR_R10] = r.r10;
	vcpu->gpr[KVISOR_R11] = r.r11;
	vcpu->gpr[KVISOR_R12] = r.r12;
	vcpu->gpr[KVISOR_R13] = r.r13;
	vcpu->gpr[KVISOR_R14] = r.r14;
	vcpu->gpr[KVISOR_R15] = r.r15;
	vcpu->rip = r.rip;
	vcpu->rflags = r.rflags | X86_EFLAGS_FIXED;
	return 0;
}

static bool segment_valid(const struct kvisor_segment *s)
{
	if (s->padding || s->type >= 16 || s->present > 1 || s->dpl >= 4 ||
	    s->db > 1 || s->s > 1 || s->l > 1 || s->g > 1 || s->avl > 1 ||
	    s->unusable > 1)
		return false;
	/*
	 * A usable segment's byte-granular limit must be one a descriptor
	 * can give: with G=1 its low 12 bits are all ones, with G=0 it fits
	 * in 20 bits.  VM entry refuses anything else (SDM Vol. 3C,
	 * 26.3.1.2); VMRUN does not check (APM Vol. 2, 15.5.1), so both
	 * vendors refuse it here, at SET_SREGS.
	 */
	if (s->present && !s->unusable &&
	    (s->g ? (s->limit & 0xfff) != 0xfff : s->limit > 0xfffff))
		return false;
	return true;
}

/*
 * TR and LDTR as VM entry requires them (SDM Vol. 3C, 26.3.1.2), on both
 * vendors: TR a present, usable busy TSS (type 3 or 11; 11 in long mode);
 * LDTR unusable (or not present), or a present LDT (type 2, S=0).
 */
static bool system_segments_valid(const struct kvisor_sregs *s)
{
	bool lm = (s->efer & EFER_LME) && (s->cr0 & X86_CR0_PG);

	if (!s->tr.present || s->tr.unusable || s->tr.s ||
	    (s->tr.type != 11 && (lm || s->tr.type != 3)))
		return false;
	if (s->ldt.present && !s->ldt.unusable && (s->ldt.s || s->ldt.type != 2))
		return false;
	return true;
}

#define EFER_VALID	(EFER_SCE | EFER_LME | EFER_LMA | EFER_NX)

static u64 apic_base_reserved(struct kvisor_vcpu *vcpu)
{
	/* BSP (8), global enable (11), base address below MAXPHYADDR */
	return ~(BIT_ULL(8) | BIT_ULL(11) |
		 GENMASK_ULL(boot_cpu_data.x86_phys_bits - 1, 12) |
		 (vcpu->lapic ? BIT_ULL(10) : 0));	/* x2APIC mode */
}

/*
 * The CR4 bits a guest may hold (SDM Vol. 3A 2.5, APM Vol. 2 3.1.3):
 * those of every x86-64 CPU, and those of features the host has.  A
 * reserved bit fails VMRUN on AMD-V but is dropped by VM entry on VT-x,
 * and kvisor offers neither VMX/SMX, LA57, PKE nor CET to guests: refused
 * on both, so that no vendor decides.
 */
static u64 vcpu_cr4_settable(void)
{
	u64 ok = X86_CR4_VME | X86_CR4_PVI | X86_CR4_TSD | X86_CR4_DE |
		 X86_CR4_PSE | X86_CR4_PAE | X86_CR4_MCE | X86_CR4_PGE |
		 X86_CR4_PCE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;

	if (boot_cpu_has(X86_FEATURE_UMIP))
		ok |= X86_CR4_UMIP;
	if (boot_cpu_has(X86_FEATURE_FSGSBASE))
		ok |= X86_CR4_FSGSBASE;
	if (boot_cpu_has(X86_FEATURE_PCID))
		ok |= X86_CR4_PCIDE;
	if (boot_cpu_has(X86_FEATURE_XSAVE))
		ok |= X86_CR4_OSXSAVE;
	if (boot_cpu_has(X86_FEATURE_SMEP))
		ok |= X86_CR4_SMEP;
	if (boot_cpu_has(X86_FEATURE_SMAP))
		ok |= X86_CR4_SMAP;
	return ok;
}

static int vcpu_set_sregs(struct kvisor_vcpu *vcpu, void __user *argp)
{
	struct kvisor_sregs s;

	if (copy_from_user(&s, argp, sizeof(s)))
		return -EFAULT;
	if (!segment_valid(&s.cs) || !segment_valid(&s.ds) ||
	    !segment_valid(&s.es) || !segment_valid(&s.fs) ||
	    !segment_valid(&s.gs) || !segment_valid(&s.ss) ||
	    !segment_valid(&s.tr) || !segment_valid(&s.ldt) ||
	    s.gdt.padding[0] || s.gdt.padding[1] || s.gdt.padding[2] ||
	    s.idt.padding[0] || s.idt.padding[1] || s.idt.padding[2] ||
	    !system_segments_valid(&s))
		return -EINVAL;
	if ((s.cr0 >> 32) || (s.cr4 & ~vcpu_cr4_settable()) || s.cr8 > 15 ||
	    (s.efer & ~(u64)EFER_VALID) || (s.apic_base & apic_base_reserved(vcpu)))
		return -EINVAL;
	/*
	 * CR0 combinations MOV to CR0 refuses with #GP (SDM Vol. 3A, 2.5):
	 * VMRUN refuses NW without CD, VM entry PG without PE; VM entry
	 * would run NW without CD.  Refused here on both.
	 */
	if (((s.cr0 & X86_CR0_NW) && !(s.cr0 & X86_CR0_CD)) ||
	    ((s.cr0 & X86_CR0_PG) && !(s.cr0 & X86_CR0_PE)))
		return -EINVAL;
	/* the LAPIC follows its base register's mode (io/lapic.c) */
	if (vcpu->lapic && s.apic_base != vcpu->apic_base &&
	    kvisor_msr_set(vcpu, MSR_IA32_APICBASE, s.apic_base, true))
		return -EINVAL;
	kvisor_ops->set_sregs(vcpu, &s);
	vcpu->apic_base = s.apic_base;
	vcpu->shutdown = false;
	return 0;
}

static int vcpu_get_sregs(struct kvisor_vcpu *vcpu, void __user *argp)
{
	struct kvisor_sregs s;

	memset(&s, 0, sizeof(s));
	kvisor_ops->get_sregs(vcpu, &s);
	s.apic_base = vcpu->apic_base;
	return copy_to_user(argp, &s, sizeof(s)) ? -EFAULT : 0;
}

static int vcpu_msrs(struct kvisor_vcpu *vcpu, void __user *argp, bool set)
{
	struct kvisor_msrs hdr;
	struct kvisor_msr_entry *e;
	u32 i;
	int ret;

	if (copy_from_user(&hdr, argp, sizeof(hdr)))
		return -EFAULT;
	if (hdr.nmsrs > KVISOR_MAX_MSR_ENTRIES || hdr.padding)
		return -EINVAL;
	if (!hdr.nmsrs)
		return 0;
	e = memdup_user(argp + sizeof(hdr), hdr.nmsrs * sizeof(*e));
	if (IS_ERR(e))
		return PTR_ERR(e);
	for (i = 0; i < hdr.nmsrs; i++) {
		if (e[i].reserved) {
			ret = -EINVAL;
			goto out;
		}
	}
	for (i = 0; i < hdr.nmsrs; i++) {
		if (set ? kvisor_msr_set(vcpu, e[i].index, e[i].data, true) :
			  kvisor_msr_get(vcpu, e[i].index, &e[i].data))
			break;
	}
	ret = i;
	if (!set && copy_to_user(argp + sizeof(hdr), e, i * sizeof(*e)))
		ret = -EFAULT;
out:
	kfree(e);
	return ret;
}

static int vcpu_set_cpuid(struct kvisor_vcpu *vcpu, void __user *argp)
{
	struct kvisor_cpuid hdr;
	struct kvisor_cpuid_entry *e;
	u32 i;

	if (copy_from_user(&hdr, argp, sizeof(hdr)))
		return -EFAULT;
	if (hdr.nent > KVISOR_MAX_CPUID_ENTRIES || hdr.padding)
		return -EINVAL;
	e = kvmalloc_array(KVISOR_MAX_CPUID_ENTRIES, sizeof(*e), GFP_KERNEL_ACCOUNT);
	if (!e)
		return -ENOMEM;
	if (copy_from_user(e, argp + sizeof(hdr), hdr.nent * sizeof(*e))) {
		kvfree(e);
		return -EFAULT;
	}
	for (i = 0; i < hdr.nent; i++) {
		if (e[i].padding || (e[i].flags & ~KVISOR_CPUID_FLAG_INDEXED)) {
			kvfree(e);
			return -EINVAL;
		}
	}
	kvfree(vcpu->cpuid);
	vcpu->cpuid = e;
	vcpu->cpuid_nent = hdr.nent;
	return 0;
}

static int vcpu_get_cpuid(struct kvisor_vcpu *vcpu, void __user *argp)
{
	struct kvisor_cpuid hdr;

	if (copy_from_user(&hdr, argp, sizeof(hdr)))
		return -EFAULT;
	if (hdr.padding)
		return -EINVAL;
	if (hdr.nent < vcpu->cpuid_nent) {
		hdr.nent = vcpu->cpuid_nent;
		if (copy_to_user(argp, &hdr, sizeof(hdr)))
			return -EFAULT;
		return -E2BIG;
	}
	hdr.nent = vcpu->cpuid_nent;
	if (copy_to_user(argp, &hdr, sizeof(hdr)) ||
	    copy_to_user(argp + sizeof(hdr), vcpu->cpuid,
			 hdr.nent * sizeof(*vcpu->cpuid)))
		return -EFAULT;
	return 0;
}

/* Exceptions that push an error code (AMD APM Vol. 2, 8.2). */
#define EXC_WITH_ERROR	(BIT(8) | BIT(10) | BIT(11) | BIT(12) | BIT(13) | \
			 BIT(14) | BIT(17) | BIT(21) | BIT(29) | BIT(30))
/* Vectors 0-31 that are reserved or not exceptions (2 is NMI). */
#define EXC_INVALID	(BIT(2) | BIT(15) | GENMASK(27, 22) | BIT(31))

static int vcpu_inject_event(struct kvisor_vcpu *vcpu, void __user *argp)
{
	struct kvisor_event ev;
	bool has_err;

	if (copy_from_user(&ev, argp, sizeof(ev)))
		return -EFAULT;
	if (ev.flags & ~KVISOR_EVENT_HAS_ERROR_CODE)
		return -EINVAL;
	has_err = ev.flags & KVISOR_EVENT_HAS_ERROR_CODE;
	switch (ev.type) {
	case KVISOR_EVENT_EXCEPTION:
		if (ev.vector > 31 || (EXC_INVALID & BIT(ev.vector)) ||
		    has_err != !!(EXC_WITH_ERROR & BIT(ev.vector)) ||
		    (!has_err && ev.error_code))
			return -EINVAL;
		if (vcpu->exception_pending)
			return -EBUSY;
		kvisor_vcpu_queue_exception(vcpu, ev.vector, has_err, ev.error_code);
		return 0;
	case KVISOR_EVENT_INTERRUPT:
		if (ev.vector < 32 || ev.vector > 255 || has_err || ev.error_code)
			return -EINVAL;
		if (vcpu->irq_pending)
			return -EBUSY;
		vcpu->irq_vector = ev.vector;
		vcpu->irq_pending = true;
		return 0;
	case KVISOR_EVENT_NMI:
		if ((ev.vector && ev.vector != 2) || has_err || ev.error_code)
			return -EINVAL;
		if (vcpu->nmi_pending)
			return -EBUSY;
		vcpu->nmi_pending = true;
		return 0;
	default:
		return -EINVAL;
	}
}

static long kvisor_vcpu_ioctl(struct file *file, unsigned int ioctl,
			      unsigned long arg)
{
	struct kvisor_vcpu *vcpu = file->private_data;
	void __user *argp = (void __user *)arg;
	long ret;

	switch (ioctl) {
	case KVISOR_RUN:
	case KVISOR_GET_REGS:
	case KVISOR_SET_REGS:
	case KVISOR_GET_SREGS:
	case KVISOR_SET_SREGS:
	case KVISOR_GET_MSRS:
	case KVISOR_SET_MSRS:
	case KVISOR_SET_CPUID:
	case KVISOR_GET_CPUID:
	case KVISOR_INJECT_EVENT:
	case KVISOR_GET_STATS:
	case KVISOR_GET_LAPIC:
	case KVISOR_SET_LAPIC:
	case KVISOR_GET_MP_STATE:
	case KVISOR_SET_MP_STATE:
		break;
	default:
		return -ENOTTY;
	}
	/* Guest memory and pins belong to the VM's process. */
	if (current->mm != vcpu->vm->mm)
		return -EIO;
	if (ioctl == KVISOR_RUN && arg)
		return -EINVAL;
	/* Counters are read without stopping a running vCPU. */
	if (ioctl == KVISOR_GET_STATS)
		return copy_to_user(argp, &vcpu->stats, sizeof(vcpu->stats)) ?
		       -EFAULT : 0;
	/* A second thread entering RUN waits for the first, as with KVM. */
	if (mutex_lock_killable(&vcpu->mutex))
		return -EINTR;

	if (kvisor_ops->vcpu_load)
		kvisor_ops->vcpu_load(vcpu);
	switch (ioctl) {
	case KVISOR_RUN:
		ret = vcpu_run(vcpu);
		break;
	case KVISOR_GET_REGS:
		ret = vcpu_get_regs(vcpu, argp);
		break;
	case KVISOR_SET_REGS:
		ret = vcpu_set_regs(vcpu, argp);
		break;
	case KVISOR_GET_SREGS:
		ret = vcpu_get_sregs(vcpu, argp);
		break;
	case KVISOR_SET_SREGS:
		ret = vcpu_set_sregs(vcpu, argp);
		break;
	case KVISOR_GET_MSRS:
		ret = vcpu_msrs(vcpu, argp, false);
		break;
	case KVISOR_SET_MSRS:
		ret = vcpu_msrs(vcpu, argp, true);
		break;
	case KVISOR_SET_CPUID:
		ret = vcpu_set_cpuid(vcpu, argp);
		break;
	case KVISOR_GET_CPUID:
		ret = vcpu_get_cpuid(vcpu, argp);
		break;
	case KVISOR_INJECT_EVENT:
		ret = vcpu_inject_event(vcpu, argp);
		break;
	case KVISOR_GET_LAPIC:
	case KVISOR_SET_LAPIC:
	case KVISOR_GET_MP_STATE:
	case KVISOR_SET_MP_STATE:
		ret = vcpu->lapic ? kvisor_lapic_ioctl(vcpu, ioctl, argp) : -ENXIO;
		break;
	default:
		ret = -ENOTTY;
		break;
	}
	if (kvisor_ops->vcpu_put)
		kvisor_ops->vcpu_put(vcpu);
	mutex_unlock(&vcpu->mutex);
	return ret;
}

static vm_fault_t vcpu_run_page_fault(struct vm_fault *vmf)
{
	struct kvisor_vcpu *vcpu = vmf->vma->vm_file->private_data;
	struct page *page;

	if (vmf->pgoff)
		return VM_FAULT_SIGBUS;
	page = virt_to_page(vcpu->run);
	get_page(page);
	vmf->page = page;
	return 0;
}

static const struct vm_operations_struct vcpu_vm_ops = {
	.fault = vcpu_run_page_fault,
};

static int kvisor_vcpu_mmap(struct file *file, struct vm_area_struct *vma)
{
	vma->vm_ops = &vcpu_vm_ops;
	return 0;
}

static void vcpu_free(struct kvisor_vcpu *vcpu)
{
	if (vcpu->lapic)
		kvisor_lapic_free(vcpu);
	kvisor_ops->vcpu_free(vcpu);
	fpu_free_guest_fpstate(&vcpu->guest_fpu);
	kvisor_mmu_free_cache(&vcpu->mmu_cache);
	kvfree(vcpu->cpuid);
	free_page((unsigned long)vcpu->run);
	kfree(vcpu);
}

static int kvisor_vcpu_release(struct inode *inode, struct file *file)
{
	struct kvisor_vcpu *vcpu = file->private_data;
	struct kvisor_vm *vm = vcpu->vm;

	mutex_lock(&vm->lock);
	WRITE_ONCE(vm->vcpus[vcpu->id], NULL);
	vm->created_vcpus--;
	mutex_unlock(&vm->lock);
	/* other vCPUs and timers find LAPICs under rcu_read_lock() */
	if (vcpu->lapic)
		synchronize_rcu();
	vcpu_free(vcpu);
	kvisor_vm_put(vm);
	return 0;
}

static const struct file_operations kvisor_vcpu_fops = {
	.owner = THIS_MODULE,
	.release = kvisor_vcpu_release,
	.unlocked_ioctl = kvisor_vcpu_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.mmap = kvisor_vcpu_mmap,
	.llseek = noop_llseek,
};

int kvisor_vcpu_create(struct kvisor_vm *vm, unsigned long id)
{
	struct kvisor_vcpu *vcpu;
	int ret, fd;

	if (id >= KVISOR_MAX_VCPUS)
		return -EINVAL;

	/* Counted first: KVISOR_CREATE_IRQCHIP must come before any vCPU. */
	mutex_lock(&vm->lock);
	vm->created_vcpus++;
	mutex_unlock(&vm->lock);

	ret = -ENOMEM;
	vcpu = kzalloc(sizeof(*vcpu), GFP_KERNEL_ACCOUNT);
	if (!vcpu)
		goto err_count;
	vcpu->vm = vm;
	vcpu->id = id;
	mutex_init(&vcpu->mutex);
	ret = -ENOMEM;
	vcpu->run = (void *)get_zeroed_page(GFP_KERNEL_ACCOUNT);
	if (!vcpu->run)
		goto err_free;
	if (!fpu_alloc_guest_fpstate(&vcpu->guest_fpu))
		goto err_run;
	ret = kvisor_cpuid_init_default(vcpu);
	if (ret)
		goto err_fpu;
	ret = kvisor_mmu_topup_cache(&vcpu->mmu_cache);
	if (ret)
		goto err_cpuid;

	vcpu->rip = 0xfff0;
	vcpu->rflags = X86_EFLAGS_FIXED;
	vcpu->gpr[KVISOR_RDX] = cpuid_eax(1);
	vcpu->xcr0 = XFEATURE_MASK_FP;
	vcpu->mtrr_def_type = KVISOR_MTRR_DEF_E | MTRR_TYPE_WRBACK;
	vcpu->amd_hwcr = KVISOR_K7_HWCR_TSCFREQSEL;
	vcpu->apic_base = 0xfee00000ULL | BIT_ULL(11) | (id == 0 ? BIT_ULL(8) : 0);
	ret = kvisor_ops->vcpu_create(vcpu);
	if (ret)
		goto err_cache;
	if (vm->irqchip) {
		ret = kvisor_lapic_create(vcpu);
		if (ret)
			goto err_arch;
	}

	mutex_lock(&vm->lock);
	if (vm->vcpus[id]) {
		mutex_unlock(&vm->lock);
		ret = -EEXIST;
		goto err_arch;
	}
	/* published complete: IPI senders read it under RCU */
	smp_store_release(&vm->vcpus[id], vcpu);
	kref_get(&vm->ref);
	mutex_unlock(&vm->lock);

	fd = anon_inode_getfd("kvisor-vcpu", &kvisor_vcpu_fops, vcpu,
			      O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		mutex_lock(&vm->lock);
		WRITE_ONCE(vm->vcpus[id], NULL);
		mutex_unlock(&vm->lock);
		if (vcpu->lapic)
			synchronize_rcu();
		kvisor_vm_put(vm);	/* not the last: the VM fd is open */
		ret = fd;
		goto err_arch;
	}
	return fd;

err_arch:
	if (vcpu->lapic)
		kvisor_lapic_free(vcpu);
	kvisor_ops->vcpu_free(vcpu);
err_cache:
	kvisor_mmu_free_cache(&vcpu->mmu_cache);
err_cpuid:
	kvfree(vcpu->cpuid);
err_fpu:
	fpu_free_guest_fpstate(&vcpu->guest_fpu);
err_run:
	free_page((unsigned long)vcpu->run);
err_free:
	kfree(vcpu);
err_count:
	mutex_lock(&vm->lock);
	vm->created_vcpus--;
	mutex_unlock(&vm->lock);
	return ret;
}
