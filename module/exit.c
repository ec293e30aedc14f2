// SPDX-License-Identifier: GPL-2.0
/*
 * Vendor-neutral exit handling: the backend has turned its exit into a
 * struct kvisor_exit; from here on nothing depends on VT-x or AMD-V.
 *
 * Each handler either finishes the exit in the kernel (returns 1: enter
 * the guest again), fills the run page for userspace (returns 0), or
 * fails the RUN ioctl (negative errno).  Exits that userspace completes
 * (IN, INS, MMIO reads, hypercalls) leave vcpu->pending, which
 * kvisor_exit_complete_pending() finishes at the next RUN.
 */
#include <linux/kernel.h>
#include <linux/sched.h>
#include <linux/smp.h>
#include <asm/cpufeatures.h>
#include <asm/fpu/xcr.h>
#include <asm/msr-index.h>
#include <asm/processor.h>
#include <asm/processor-flags.h>

#include "kvisor.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

/* Where string I/O data lives in the run page. */
#define RUN_IO_DATA_OFFSET	KVISOR_RUN_DATA_OFFSET
#define RUN_IO_DATA_SIZE	(PAGE_SIZE - RUN_IO_DATA_OFFSET)

static void exit_skip_insn(struct kvisor_vcpu *vcpu, u32 len)
{
	vcpu->rip += len;
	/* the instruction completed: RF goes (SDM Vol. 3A, 17.3.1.1) */
	vcpu->rflags &= ~(u64)X86_EFLAGS_RF;
}

static u64 exit_reg_mask(unsigned int size)
{
	return size >= 8 ? ~0ULL : (1ULL << (size * 8)) - 1;
}

/* Register write with x86 partial-register rules (32-bit zero-extends). */
static void exit_write_reg(struct kvisor_vcpu *vcpu, int reg, u64 val,
			   unsigned int size, bool high_byte)
{
	u64 *r = &vcpu->gpr[reg];

	if (high_byte)
		*r = (*r & ~0xff00ULL) | ((val & 0xff) << 8);
	else if (size == 4)
		*r = (u32)val;
	else
		*r = (*r & ~exit_reg_mask(size)) | (val & exit_reg_mask(size));
}

static u64 exit_read_reg(struct kvisor_vcpu *vcpu, int reg, unsigned int size,
			 bool high_byte)
{
	if (high_byte)
		return (vcpu->gpr[reg] >> 8) & 0xff;
	return vcpu->gpr[reg] & exit_reg_mask(size);
}

/* rSI/rDI/rCX by address size: a 32-bit update zero-extends. */
static void exit_add_addr_reg(struct kvisor_vcpu *vcpu, int reg, s64 delta,
			      unsigned int addr_size)
{
	exit_write_reg(vcpu, reg, vcpu->gpr[reg] + delta, addr_size, false);
}

/* The default address size of the code: 8, 4 or 2 bytes. */
static unsigned int exit_code_size(const struct kvisor_sregs *s)
{
	return kvisor_long_mode(s) ? 8 : s->cs.db ? 4 : 2;
}

/* The linear address of CS:RIP, as the CPU forms it in this mode. */
u64 kvisor_rip_linear(struct kvisor_vcpu *vcpu, const struct kvisor_sregs *s)
{
	if (kvisor_long_mode(s))
		return vcpu->rip;
	return (s->cs.base + vcpu->rip) & 0xffffffffULL;
}

static u64 exit_seg_base(const struct kvisor_sregs *s,
			 const struct kvisor_segment *seg)
{
	return kvisor_long_mode(s) ? 0 : seg->base;
}

static void exit_internal_error(struct kvisor_vcpu *vcpu, u32 suberror,
				u64 hw_reason, u64 gpa, const u8 *bytes,
				unsigned int len)
{
	struct kvisor_run *run = vcpu->run;

	run->exit_reason = KVISOR_EXIT_INTERNAL_ERROR;
	memset(&run->internal, 0, sizeof(run->internal));
	run->internal.suberror = suberror;
	/* the hardware's exit code only where no instruction was at fault */
	run->internal.hardware_reason =
		suberror == KVISOR_INTERNAL_ERROR_UNEXPECTED ? hw_reason : 0;
	run->internal.gpa = gpa;
	len = min_t(unsigned int, len, sizeof(run->internal.insn_bytes));
	run->internal.insn_len = len;
	if (len)
		memcpy(run->internal.insn_bytes, bytes, len);
}

/* ---------------------------------------------------------------- */
/* Port I/O                                                         */
/* ---------------------------------------------------------------- */

/*
 * INS/OUTS: the address size and the source segment of OUTS come from the
 * instruction's prefixes.  Without decode assists the exit information
 * does not carry the segment, and its address-size bits are not reliable
 * on every implementation (QEMU), so read the prefixes from guest memory.
 */
static void exit_string_prefixes(struct kvisor_vcpu *vcpu,
				 const struct kvisor_sregs *s,
				 unsigned int *asz, const struct kvisor_segment **seg)
{
	unsigned int mode = exit_code_size(s);
	u8 bytes[KVISOR_INSN_MAX];
	u64 lin = kvisor_rip_linear(vcpu, s);
	unsigned int i;

	*asz = mode;
	*seg = &s->ds;
	memset(bytes, 0, sizeof(bytes));
	if (kvisor_read_gva(vcpu, s, lin, bytes, 4) &&
	    kvisor_read_gva(vcpu, s, lin, bytes, 1))
		return;
	for (i = 0; i < 4; i++) {
		switch (bytes[i]) {
		case 0x67:
			*asz = mode == 8 ? 4 : mode == 4 ? 2 : 4;
			continue;
		case 0x26:
			*seg = &s->es;
			continue;
		case 0x2e:
			*seg = &s->cs;
			continue;
		case 0x36:
			*seg = &s->ss;
			continue;
		case 0x3e:
			*seg = &s->ds;
			continue;
		case 0x64:
			*seg = &s->fs;
			continue;
		case 0x65:
			*seg = &s->gs;
			continue;
		case 0x66:
		case 0xf2:
		case 0xf3:
			continue;
		default:
			return;
		}
	}
}

static int exit_handle_pio(struct kvisor_vcpu *vcpu, struct kvisor_exit *x)
{
	struct kvisor_run *run = vcpu->run;
	u8 *data = (u8 *)run + RUN_IO_DATA_OFFSET;
	unsigned int size = x->io.size, asz;
	const struct kvisor_segment *seg;
	struct kvisor_sregs s;
	u64 count, lin;
	s64 step;

	vcpu->stats.counters[KVISOR_STAT_IO]++;
	run->exit_reason = KVISOR_EXIT_IO;
	run->io.direction = x->io.in ? KVISOR_EXIT_IO_IN : KVISOR_EXIT_IO_OUT;
	run->io.size = size;
	run->io.port = x->io.port;
	run->io.count = 1;
	run->io.data_offset = RUN_IO_DATA_OFFSET;

	if (!x->io.string) {
		if (x->io.in) {
			vcpu->pending = KVISOR_PENDING_PIO_IN;
			memset(data, 0, size);
		} else {
			memcpy(data, &vcpu->gpr[KVISOR_RAX], size);
		}
		trace_kvisor_pio(vcpu->id, x->io.port, size, x->io.in, 1,
				 x->io.in ? 0 : vcpu->gpr[KVISOR_RAX] & exit_reg_mask(size));
		exit_skip_insn(vcpu, x->insn_len);
		return 0;
	}

	/* INS/OUTS, REP or not: as many items as fit in the run page. */
	kvisor_ops->get_sregs(vcpu, &s);
	exit_string_prefixes(vcpu, &s, &asz, &seg);
	count = x->io.rep ? vcpu->gpr[KVISOR_RCX] & exit_reg_mask(asz) : 1;
	if (!count) {
		exit_skip_insn(vcpu, x->insn_len);
		return 1;
	}
	step = (vcpu->rflags & X86_EFLAGS_DF) ? -(s64)size : size;
	if (step < 0)
		count = 1;	/* descending blocks: one item at a time */
	count = min_t(u64, count, RUN_IO_DATA_SIZE / size);
	run->io.count = count;

	if (x->io.in) {
		/* INS stores to ES:rDI (no segment override). */
		lin = exit_seg_base(&s, &s.es) +
		      (vcpu->gpr[KVISOR_RDI] & exit_reg_mask(asz));
		vcpu->pending = KVISOR_PENDING_PIO_INS;
		vcpu->pending_addr = lin;
		vcpu->pending_count = count;
		vcpu->insn.size = size;
		vcpu->insn.addr_size = asz;
		vcpu->insn.rep = x->io.rep;
		vcpu->insn.len = x->insn_len;
		memset(data, 0, count * size);
		trace_kvisor_pio(vcpu->id, x->io.port, size, true, count, 0);
		return 0;
	}

	/* OUTS reads seg:rSI, DS unless overridden. */
	lin = exit_seg_base(&s, seg) + (vcpu->gpr[KVISOR_RSI] & exit_reg_mask(asz));
	if (kvisor_read_gva(vcpu, &s, lin, data, count * size)) {
		exit_internal_error(vcpu, KVISOR_INTERNAL_ERROR_UNEXPECTED,
				    x->hw_reason, 0, NULL, 0);
		return 0;
	}
	trace_kvisor_pio(vcpu->id, x->io.port, size, false, count, data[0]);
	exit_add_addr_reg(vcpu, KVISOR_RSI, step * (s64)count, asz);
	if (x->io.rep)
		exit_add_addr_reg(vcpu, KVISOR_RCX, -(s64)count, asz);
	if (!x->io.rep || !(vcpu->gpr[KVISOR_RCX] & exit_reg_mask(asz)))
		exit_skip_insn(vcpu, x->insn_len);
	return 0;
}

/* ---------------------------------------------------------------- */
/* MMIO                                                             */
/* ---------------------------------------------------------------- */

/* After a STOS/MOVS element: advance pointers, count, and maybe RIP. */
static void exit_finish_string(struct kvisor_vcpu *vcpu,
			       const struct kvisor_insn *insn, bool movs)
{
	s64 step = (vcpu->rflags & X86_EFLAGS_DF) ? -(s64)insn->size : insn->size;

	exit_add_addr_reg(vcpu, KVISOR_RDI, step, insn->addr_size);
	if (movs)
		exit_add_addr_reg(vcpu, KVISOR_RSI, step, insn->addr_size);
	if (insn->rep) {
		exit_add_addr_reg(vcpu, KVISOR_RCX, -1, insn->addr_size);
		if (vcpu->gpr[KVISOR_RCX] & exit_reg_mask(insn->addr_size))
			return;		/* the guest re-executes it */
	}
	exit_skip_insn(vcpu, insn->len);
}

static int exit_emulate_mmio(struct kvisor_vcpu *vcpu, struct kvisor_exit *x)
{
	struct kvisor_run *run = vcpu->run;
	struct kvisor_insn *insn = &vcpu->insn;
	u8 bytes[KVISOR_INSN_MAX];
	unsigned int avail, mode, first;
	struct kvisor_sregs s;
	u64 lin, val = 0;
	bool write;

	vcpu->stats.counters[KVISOR_STAT_MMIO]++;
	kvisor_ops->get_sregs(vcpu, &s);
	mode = exit_code_size(&s);
	lin = kvisor_rip_linear(vcpu, &s);

	/* No decode assists: fetch the bytes through the guest's tables. */
	first = min_t(unsigned int, KVISOR_INSN_MAX, PAGE_SIZE - offset_in_page(lin));
	avail = 0;
	if (!kvisor_read_gva(vcpu, &s, lin, bytes, first)) {
		avail = first;
		if (first < KVISOR_INSN_MAX &&
		    !kvisor_read_gva(vcpu, &s, lin + first, bytes + first,
				     KVISOR_INSN_MAX - first))
			avail = KVISOR_INSN_MAX;
	}
	if (x->npf.fetch || !avail ||
	    kvisor_decode_mmio(bytes, avail, mode, insn)) {
		exit_internal_error(vcpu, KVISOR_INTERNAL_ERROR_EMULATION,
				    x->hw_reason, x->npf.gpa, bytes, avail);
		return 0;
	}

	write = x->npf.write;
	switch (insn->op) {
	case KVISOR_INSN_MOV_STORE:
		val = insn->has_imm ? insn->imm :
		      exit_read_reg(vcpu, insn->reg, insn->size, insn->high_byte);
		break;
	case KVISOR_INSN_STOS:
		val = vcpu->gpr[KVISOR_RAX];
		break;
	case KVISOR_INSN_MOVS:
		if (write) {
			u64 src = exit_seg_base(&s, &s.ds) +
				  (vcpu->gpr[KVISOR_RSI] & exit_reg_mask(insn->addr_size));

			if (kvisor_read_gva(vcpu, &s, src, &val, insn->size))
				goto unsupported;	/* MMIO to MMIO */
		} else {
			vcpu->pending_addr = exit_seg_base(&s, &s.es) +
				(vcpu->gpr[KVISOR_RDI] & exit_reg_mask(insn->addr_size));
		}
		break;
	default:
		if (write)
			goto unsupported;	/* a load cannot write */
		break;
	}
	if ((insn->op == KVISOR_INSN_MOV_STORE || insn->op == KVISOR_INSN_STOS) &&
	    !write)
		goto unsupported;

	run->exit_reason = KVISOR_EXIT_MMIO;
	run->mmio.phys_addr = x->npf.gpa;
	run->mmio.len = insn->size;
	run->mmio.is_write = write;
	memset(run->mmio.padding, 0, sizeof(run->mmio.padding));
	memset(run->mmio.data, 0, sizeof(run->mmio.data));
	if (write) {
		val &= exit_reg_mask(insn->size);
		memcpy(run->mmio.data, &val, insn->size);
		if (insn->op == KVISOR_INSN_STOS || insn->op == KVISOR_INSN_MOVS)
			exit_finish_string(vcpu, insn, insn->op == KVISOR_INSN_MOVS);
		else
			exit_skip_insn(vcpu, insn->len);
	} else {
		vcpu->pending = KVISOR_PENDING_MMIO_READ;
	}
	trace_kvisor_mmio(vcpu->id, x->npf.gpa, insn->size, write, val);
	return 0;

unsupported:
	exit_internal_error(vcpu, KVISOR_INTERNAL_ERROR_EMULATION, x->hw_reason,
			    x->npf.gpa, bytes, avail);
	return 0;
}

static int exit_handle_npf(struct kvisor_vcpu *vcpu, struct kvisor_exit *x)
{
	int ret;

	/* A protection fault on a page we map writable is not ours to fix. */
	if (x->npf.present && !x->npf.write) {
		vcpu->stats.counters[KVISOR_STAT_OTHER]++;
		exit_internal_error(vcpu, KVISOR_INTERNAL_ERROR_UNEXPECTED,
				    x->hw_reason, x->npf.gpa, NULL, 0);
		return 0;
	}
	ret = kvisor_mmu_map_gpa(vcpu, x->npf.gpa, x->npf.write);
	if (ret < 0) {
		vcpu->stats.counters[KVISOR_STAT_NPF]++;
		return ret;
	}
	if (ret > 0) {
		if (x->npf.present) {	/* mapped writable, yet a write fault */
			vcpu->stats.counters[KVISOR_STAT_OTHER]++;
			exit_internal_error(vcpu, KVISOR_INTERNAL_ERROR_UNEXPECTED,
					    x->hw_reason, x->npf.gpa, NULL, 0);
			return 0;
		}
		vcpu->stats.counters[KVISOR_STAT_NPF]++;
		return 1;
	}
	return exit_emulate_mmio(vcpu, x);
}

/* ---------------------------------------------------------------- */
/* Completion of exits that userspace answered                      */
/* ---------------------------------------------------------------- */

int kvisor_exit_complete_pending(struct kvisor_vcpu *vcpu)
{
	struct kvisor_run *run = vcpu->run;
	const u8 *data = (const u8 *)run + RUN_IO_DATA_OFFSET;
	struct kvisor_insn *insn = &vcpu->insn;
	enum kvisor_pending p = vcpu->pending;
	struct kvisor_sregs s;
	u64 val = 0;

	vcpu->pending = KVISOR_PENDING_NONE;
	switch (p) {
	case KVISOR_PENDING_NONE:
	case KVISOR_PENDING_PIO_OUTS:
		break;
	case KVISOR_PENDING_PIO_IN:
		memcpy(&val, data, run->io.size <= 4 ? run->io.size : 4);
		exit_write_reg(vcpu, KVISOR_RAX, val, run->io.size, false);
		break;
	case KVISOR_PENDING_PIO_INS: {
		s64 step = (vcpu->rflags & X86_EFLAGS_DF) ? -(s64)insn->size : insn->size;
		u32 count = vcpu->pending_count;

		kvisor_ops->get_sregs(vcpu, &s);
		if (kvisor_write_gva(vcpu, &s, vcpu->pending_addr, data,
				     count * insn->size)) {
			exit_internal_error(vcpu, KVISOR_INTERNAL_ERROR_UNEXPECTED,
					    0, 0, NULL, 0);
			return 0;
		}
		exit_add_addr_reg(vcpu, KVISOR_RDI, step * (s64)count, insn->addr_size);
		if (insn->rep)
			exit_add_addr_reg(vcpu, KVISOR_RCX, -(s64)count, insn->addr_size);
		if (!insn->rep || !(vcpu->gpr[KVISOR_RCX] & exit_reg_mask(insn->addr_size)))
			exit_skip_insn(vcpu, insn->len);
		break;
	}
	case KVISOR_PENDING_MMIO_READ:
		memcpy(&val, run->mmio.data, insn->size);
		switch (insn->op) {
		case KVISOR_INSN_MOV_LOAD:
			exit_write_reg(vcpu, insn->reg, val, insn->dst_size,
				       insn->high_byte);
			exit_skip_insn(vcpu, insn->len);
			break;
		case KVISOR_INSN_MOVZX:
			exit_write_reg(vcpu, insn->reg, val, insn->dst_size, false);
			exit_skip_insn(vcpu, insn->len);
			break;
		case KVISOR_INSN_MOVSX:
			val = (u64)sign_extend64(val, insn->size * 8 - 1);
			exit_write_reg(vcpu, insn->reg, val, insn->dst_size, false);
			exit_skip_insn(vcpu, insn->len);
			break;
		case KVISOR_INSN_MOVS:
			kvisor_ops->get_sregs(vcpu, &s);
			if (kvisor_write_gva(vcpu, &s, vcpu->pending_addr, &val,
					     insn->size)) {
				exit_internal_error(vcpu, KVISOR_INTERNAL_ERROR_EMULATION,
						    0, 0, NULL, 0);
				return 0;
			}
			exit_finish_string(vcpu, insn, true);
			break;
		default:
			break;
		}
		break;
	case KVISOR_PENDING_HYPERCALL:
		vcpu->gpr[KVISOR_RAX] = run->hypercall.ret;
		break;
	}
	return 1;
}

/* ---------------------------------------------------------------- */
/* CPUID, XSETBV (hypercalls: hypercall.c)                         */
/* ---------------------------------------------------------------- */

static const struct kvisor_cpuid_entry *
cpuid_find(struct kvisor_vcpu *vcpu, u32 function, u32 index)
{
	u32 i;

	for (i = 0; i < vcpu->cpuid_nent; i++) {
		const struct kvisor_cpuid_entry *e = &vcpu->cpuid[i];

		if (e->function == function &&
		    (!(e->flags & KVISOR_CPUID_FLAG_INDEXED) || e->index == index))
			return e;
	}
	return NULL;
}

static int exit_handle_cpuid(struct kvisor_vcpu *vcpu, struct kvisor_exit *x)
{
	u32 function = vcpu->gpr[KVISOR_RAX], index = vcpu->gpr[KVISOR_RCX];
	const struct kvisor_cpuid_entry *e;
	u32 eax = 0, ebx = 0, ecx = 0, edx = 0;

	vcpu->stats.counters[KVISOR_STAT_CPUID]++;
	e = cpuid_find(vcpu, function, index);
	if (e) {
		eax = e->eax;
		ebx = e->ebx;
		ecx = e->ecx;
		edx = e->edx;
	}
	if (function == 1) {
		struct kvisor_sregs s;

		/* OSXSAVE mirrors the guest's CR4 (APM Vol. 3, CPUID Fn1). */
		kvisor_ops->get_sregs(vcpu, &s);
		ecx &= ~BIT(27);
		if (s.cr4 & X86_CR4_OSXSAVE)
			ecx |= BIT(27);
	}
	vcpu->gpr[KVISOR_RAX] = eax;
	vcpu->gpr[KVISOR_RBX] = ebx;
	vcpu->gpr[KVISOR_RCX] = ecx;
	vcpu->gpr[KVISOR_RDX] = edx;
	exit_skip_insn(vcpu, x->insn_len);
	return 1;
}

/* XCR0 components a guest may enable: x87, SSE, AVX, MPX, AVX-512. */
#define XCR0_GUEST	(XFEATURE_MASK_FP | XFEATURE_MASK_SSE | XFEATURE_MASK_YMM | \
			 XFEATURE_MASK_BNDREGS | XFEATURE_MASK_BNDCSR | \
			 XFEATURE_MASK_AVX512)

static u64 exit_host_xcr0(void)
{
	return boot_cpu_has(X86_FEATURE_OSXSAVE) ?
	       xgetbv(XCR_XFEATURE_ENABLED_MASK) : XFEATURE_MASK_FP;
}

static int exit_handle_xsetbv(struct kvisor_vcpu *vcpu, struct kvisor_exit *x)
{
	u32 index = vcpu->gpr[KVISOR_RCX];
	u64 val = (vcpu->gpr[KVISOR_RDX] << 32) | (u32)vcpu->gpr[KVISOR_RAX];
	u64 allowed = exit_host_xcr0() & XCR0_GUEST;

	vcpu->stats.counters[KVISOR_STAT_XSETBV]++;
	/* The rules of the SDM/APM XSETBV pseudocode. */
	if (kvisor_ops->get_cpl(vcpu) || index != 0 || (val & ~allowed) ||
	    !(val & XFEATURE_MASK_FP) ||
	    ((val & XFEATURE_MASK_YMM) && !(val & XFEATURE_MASK_SSE)) ||
	    (!!(val & XFEATURE_MASK_BNDREGS) != !!(val & XFEATURE_MASK_BNDCSR)) ||
	    ((val & XFEATURE_MASK_AVX512) &&
	     ((val & XFEATURE_MASK_AVX512) != XFEATURE_MASK_AVX512 ||
	      !(val & XFEATURE_MASK_YMM)))) {
		kvisor_vcpu_queue_exception(vcpu, KVISOR_GP_VECTOR, true, 0);
		return 1;
	}
	vcpu->xcr0 = val;
	exit_skip_insn(vcpu, x->insn_len);
	return 1;
}

/* ---------------------------------------------------------------- */
/* MSRs                                                             */
/* ---------------------------------------------------------------- */

static bool msr_canonical(u64 v)
{
	unsigned int bits = pgtable_l5_enabled() ? 57 : 48;

	return (u64)sign_extend64(v, bits - 1) == v;
}

static bool msr_pat_valid(u64 pat)
{
	int i;

	for (i = 0; i < 8; i++) {
		u8 t = pat >> (i * 8);

		if (t == 2 || t == 3 || t > 7)
			return false;
	}
	return true;
}

int kvisor_msr_get(struct kvisor_vcpu *vcpu, u32 index, u64 *data)
{
	switch (index) {
	case MSR_IA32_APICBASE:
		*data = vcpu->apic_base;
		return 0;
	case MSR_TSC_AUX:
		*data = vcpu->tsc_aux;
		return 0;
	case MSR_MTRRcap:
		*data = 0;		/* no variable or fixed ranges */
		return 0;
	case MSR_MTRRdefType:
		*data = BIT(11) | 6;	/* enabled, default write-back */
		return 0;
	case MSR_MTRRfix64K_00000:
	case MSR_MTRRfix16K_80000:
	case MSR_MTRRfix16K_A0000:
	case MSR_MTRRfix4K_C0000 ... MSR_MTRRfix4K_F8000:
	case 0x200 ... 0x20f:		/* MTRRphysBase/Mask 0-7 */
	case MSR_IA32_UCODE_REV:
		*data = 0;
		return 0;
	default:
		return kvisor_ops->get_msr(vcpu, index, data) ? -EINVAL : 0;
	}
}

/* @host: from SET_MSRS rather than a guest WRMSR. */
int kvisor_msr_set(struct kvisor_vcpu *vcpu, u32 index, u64 data, bool host)
{
	switch (index) {
	case MSR_IA32_APICBASE:
		if (data & ~(BIT_ULL(8) | BIT_ULL(11) |
			     GENMASK_ULL(boot_cpu_data.x86_phys_bits - 1, 12)))
			return -EINVAL;
		vcpu->apic_base = data;
		return 0;
	case MSR_TSC_AUX:
		if (data >> 32)
			return -EINVAL;
		vcpu->tsc_aux = data;
		return 0;
	case MSR_EFER:
		if (data & ~(u64)(EFER_SCE | EFER_LME | EFER_LMA | EFER_NX))
			return -EINVAL;
		break;
	case MSR_IA32_CR_PAT:
		if (!msr_pat_valid(data))
			return -EINVAL;
		break;
	case MSR_SYSCALL_MASK:
		if (data >> 32)
			return -EINVAL;
		break;
	case MSR_LSTAR:
	case MSR_CSTAR:
	case MSR_FS_BASE:
	case MSR_GS_BASE:
	case MSR_KERNEL_GS_BASE:
	case MSR_IA32_SYSENTER_ESP:
	case MSR_IA32_SYSENTER_EIP:
		if (!msr_canonical(data))
			return -EINVAL;
		break;
	case MSR_IA32_SYSENTER_CS:
		if (data >> 32)
			return -EINVAL;
		break;
	case MSR_STAR:
	case MSR_IA32_TSC:
		break;
	default:
		return -EINVAL;		/* unknown: #GP for the guest */
	}
	return kvisor_ops->set_msr(vcpu, index, data) ? -EINVAL : 0;
}

static int exit_handle_rdmsr(struct kvisor_vcpu *vcpu, struct kvisor_exit *x)
{
	u64 data;

	vcpu->stats.counters[KVISOR_STAT_MSR_READ]++;
	if (kvisor_msr_get(vcpu, vcpu->gpr[KVISOR_RCX], &data)) {
		kvisor_vcpu_queue_exception(vcpu, KVISOR_GP_VECTOR, true, 0);
		return 1;
	}
	vcpu->gpr[KVISOR_RAX] = (u32)data;
	vcpu->gpr[KVISOR_RDX] = data >> 32;
	exit_skip_insn(vcpu, x->insn_len);
	return 1;
}

static int exit_handle_wrmsr(struct kvisor_vcpu *vcpu, struct kvisor_exit *x)
{
	u64 data = (vcpu->gpr[KVISOR_RDX] << 32) | (u32)vcpu->gpr[KVISOR_RAX];

	vcpu->stats.counters[KVISOR_STAT_MSR_WRITE]++;
	if (kvisor_msr_set(vcpu, vcpu->gpr[KVISOR_RCX], data, false)) {
		kvisor_vcpu_queue_exception(vcpu, KVISOR_GP_VECTOR, true, 0);
		return 1;
	}
	exit_skip_insn(vcpu, x->insn_len);
	return 1;
}

static int exit_handle_rdtscp(struct kvisor_vcpu *vcpu, struct kvisor_exit *x)
{
	u64 tsc;

	vcpu->stats.counters[KVISOR_STAT_OTHER]++;
	if (kvisor_ops->get_msr(vcpu, MSR_IA32_TSC, &tsc))
		tsc = rdtsc();
	vcpu->gpr[KVISOR_RAX] = (u32)tsc;
	vcpu->gpr[KVISOR_RDX] = tsc >> 32;
	vcpu->gpr[KVISOR_RCX] = (u32)vcpu->tsc_aux;
	exit_skip_insn(vcpu, x->insn_len);
	return 1;
}

/* ---------------------------------------------------------------- */

int kvisor_exit_handle(struct kvisor_vcpu *vcpu, struct kvisor_exit *x)
{
	struct kvisor_run *run = vcpu->run;
	u64 *c = vcpu->stats.counters;

	c[KVISOR_STAT_EXITS]++;
	trace_kvisor_exit(vcpu->id, x->kind, x->hw_reason, vcpu->rip);

	switch (x->kind) {
	case KVISOR_X_NONE:
		c[KVISOR_STAT_OTHER]++;
		return 1;
	case KVISOR_X_EXT_INTR:
		c[KVISOR_STAT_EXTERNAL_INTR]++;
		return 1;
	case KVISOR_X_NMI:
		c[KVISOR_STAT_NMI]++;
		return 1;
	case KVISOR_X_IRQ_WINDOW:
		c[KVISOR_STAT_INTR_WINDOW]++;
		if (READ_ONCE(run->request_interrupt_window) && !vcpu->irq_pending &&
		    kvisor_ops->interrupt_allowed(vcpu)) {
			run->exit_reason = KVISOR_EXIT_IRQ_WINDOW_OPEN;
			return 0;
		}
		return 1;
	case KVISOR_X_HLT:
		c[KVISOR_STAT_HLT]++;
		exit_skip_insn(vcpu, x->insn_len);
		run->exit_reason = KVISOR_EXIT_HLT;
		return 0;
	case KVISOR_X_IO:
		return exit_handle_pio(vcpu, x);
	case KVISOR_X_NPF:
		return exit_handle_npf(vcpu, x);
	case KVISOR_X_HYPERCALL:
		return kvisor_hypercall(vcpu, x->insn_len);
	case KVISOR_X_CPUID:
		return exit_handle_cpuid(vcpu, x);
	case KVISOR_X_RDMSR:
		return exit_handle_rdmsr(vcpu, x);
	case KVISOR_X_WRMSR:
		return exit_handle_wrmsr(vcpu, x);
	case KVISOR_X_XSETBV:
		return exit_handle_xsetbv(vcpu, x);
	case KVISOR_X_RDTSCP:
		return exit_handle_rdtscp(vcpu, x);
	case KVISOR_X_NOP_INSN:
		c[KVISOR_STAT_OTHER]++;
		exit_skip_insn(vcpu, x->insn_len);
		return 1;
	case KVISOR_X_UD_FAULT:
		/* the other vendor's hypercall instruction, or a real #UD */
		if (kvisor_hypercall_insn(vcpu))
			return kvisor_hypercall(vcpu, KVISOR_HC_INSN_LEN);
		fallthrough;
	case KVISOR_X_UD:
		c[KVISOR_STAT_EXCEPTION]++;
		kvisor_vcpu_queue_exception(vcpu, KVISOR_UD_VECTOR, false, 0);
		return 1;
	case KVISOR_X_SHUTDOWN:
		c[KVISOR_STAT_SHUTDOWN]++;
		vcpu->shutdown = true;
		run->exit_reason = KVISOR_EXIT_SHUTDOWN;
		return 0;
	case KVISOR_X_FAIL_ENTRY:
		c[KVISOR_STAT_OTHER]++;
		run->exit_reason = KVISOR_EXIT_FAIL_ENTRY;
		run->fail_entry.hardware_reason = x->hw_reason;
		run->fail_entry.error = x->hw_info;
		run->fail_entry.cpu = raw_smp_processor_id();
		run->fail_entry.padding = 0;
		return 0;
	case KVISOR_X_UNEXPECTED:
	default:
		c[KVISOR_STAT_OTHER]++;
		exit_internal_error(vcpu, KVISOR_INTERNAL_ERROR_UNEXPECTED,
				    x->hw_reason, 0, NULL, 0);
		return 0;
	}
}

/* ---------------------------------------------------------------- */
/* The default CPUID table: the host's, filtered                    */
/* ---------------------------------------------------------------- */

static void cpuid_add(struct kvisor_vcpu *vcpu, u32 function, u32 index,
		      bool indexed)
{
	struct kvisor_cpuid_entry *e;
	u32 eax, ebx, ecx, edx;

	if (vcpu->cpuid_nent >= KVISOR_MAX_CPUID_ENTRIES)
		return;
	cpuid_count(function, index, &eax, &ebx, &ecx, &edx);
	e = &vcpu->cpuid[vcpu->cpuid_nent++];
	memset(e, 0, sizeof(*e));
	e->function = function;
	e->index = index;
	e->flags = indexed ? KVISOR_CPUID_FLAG_INDEXED : 0;

	/*
	 * Hide what kvisor does not virtualize, so that a guest kernel does
	 * not touch MSRs that would #GP: MONITOR, VMX/SVM, PDCM, PCID,
	 * x2APIC, TSC deadline, MCE/MCA, PKU, speculation-control MSRs,
	 * performance counters, XSAVES (IA32_XSS), power management MSRs.
	 */
	switch (function) {
	case 1:
		ecx &= ~(BIT(3) | BIT(5) | BIT(15) | BIT(17) | BIT(21) | BIT(24) |
			 BIT(27));
		ecx |= BIT(31);				/* hypervisor present */
		edx &= ~(BIT(7) | BIT(14));		/* MCE, MCA */
		ebx = (ebx & 0x00ffffff) | (vcpu->id << 24);	/* APIC ID */
		break;
	case 6:
		ecx = 0;				/* APERF/MPERF, EPB */
		break;
	case 7:
		if (index == 0) {
			ebx &= ~BIT(2);			/* SGX */
			ecx &= ~(BIT(3) | BIT(4) | BIT(5));	/* PKU, OSPKE, WAITPKG */
			edx &= ~(BIT(26) | BIT(27) | BIT(28) | BIT(29) | BIT(31));
		}
		break;
	case 0xd:
		if (index == 1)
			eax &= ~BIT(3);			/* XSAVES */
		break;
	case 0x80000001:
		/* SVM, MWAITX, core/NB/LLC performance counter extensions */
		ecx &= ~(BIT(2) | BIT(13) | BIT(23) | BIT(24) | BIT(28));
		break;
	case 0x80000008:
		/* IBPB, IBRS, STIBP, ..., SSBD, VIRT_SSBD, SSB_NO-style MSRs */
		ebx &= ~(BIT(12) | BIT(14) | BIT(15) | BIT(16) | BIT(17) |
			 BIT(18) | BIT(24) | BIT(25) | BIT(26));
		break;
	}
	e->eax = eax;
	e->ebx = ebx;
	e->ecx = ecx;
	e->edx = edx;
}

int kvisor_cpuid_init_default(struct kvisor_vcpu *vcpu)
{
	u32 max, i, j, sub, unused;

	vcpu->cpuid = kvmalloc_array(KVISOR_MAX_CPUID_ENTRIES,
				     sizeof(*vcpu->cpuid), GFP_KERNEL_ACCOUNT);
	if (!vcpu->cpuid)
		return -ENOMEM;
	vcpu->cpuid_nent = 0;

	max = min_t(u32, cpuid_eax(0), 0xd);
	for (i = 0; i <= max; i++) {
		switch (i) {
		case 4:
			for (j = 0; j < 8; j++) {
				cpuid_add(vcpu, i, j, true);
				if (!(vcpu->cpuid[vcpu->cpuid_nent - 1].eax & 0x1f))
					break;
			}
			break;
		case 7:
			cpuid_count(7, 0, &sub, &unused, &unused, &unused);
			for (j = 0; j <= min_t(u32, sub, 2); j++)
				cpuid_add(vcpu, i, j, true);
			break;
		case 0xb:
			for (j = 0; j < 2; j++)
				cpuid_add(vcpu, i, j, true);
			break;
		case 0xd:
			for (j = 0; j < 8; j++)
				cpuid_add(vcpu, i, j, true);
			break;
		default:
			cpuid_add(vcpu, i, 0, false);
			break;
		}
	}
	if (vcpu->cpuid_nent)
		vcpu->cpuid[0].eax = max;

	/* The hypervisor leaves: "KvisorKvisor" and the PV features. */
	i = vcpu->cpuid_nent;
	vcpu->cpuid_nent += 2;
	kvisor_hypercall_cpuid(&vcpu->cpuid[i], &vcpu->cpuid[i + 1]);

	max = min_t(u32, cpuid_eax(0x80000000), 0x80000008);
	for (i = 0x80000000; i <= max; i++)
		cpuid_add(vcpu, i, 0, false);
	for (i = 0; i < vcpu->cpuid_nent; i++)
		if (vcpu->cpuid[i].function == 0x80000000)
			vcpu->cpuid[i].eax = max;
	return 0;
}
