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
#include <asm/debugreg.h>
#include <asm/fpu/xcr.h>
#include <asm/msr-index.h>
#include <asm/mtrr.h>
#include <asm/processor.h>
#include <asm/processor-flags.h>

#include "kvisor.h"
#include "io/lapic.h"

#define CREATE_TRACE_POINTS
#include "trace.h"

/* Where string I/O data lives in the run page. */
#define RUN_IO_DATA_OFFSET	KVISOR_RUN_DATA_OFFSET
#define RUN_IO_DATA_SIZE	(PAGE_SIZE - RUN_IO_DATA_OFFSET)

/*
 * A #DB trap for the guest: DR6 gets @dr6's bits as the CPU would set
 * them, and the exception is queued unless another one is (an exception
 * userspace queued, or a fault of the same instruction, comes first).
 */
void kvisor_queue_debug_trap(struct kvisor_vcpu *vcpu, unsigned long dr6)
{
	if (vcpu->exception_pending)
		return;
	kvisor_ops->set_dr6_trap(vcpu, dr6);
	kvisor_vcpu_queue_exception(vcpu, KVISOR_DB_VECTOR, false, 0);
}

/*
 * kvisor completed the instruction at RIP: move past it.  With
 * EFLAGS.TF set the CPU would have raised a single-step #DB (DR6.BS)
 * right after it (SDM Vol. 3B 17.3.1.4); since the instruction exited
 * instead of completing, the hardware will not, so kvisor does.
 */
void kvisor_skip_insn(struct kvisor_vcpu *vcpu, u32 len)
{
	vcpu->rip += len;
	/* the instruction completed: RF goes (SDM Vol. 3A, 17.3.1.1) */
	vcpu->rflags &= ~(u64)X86_EFLAGS_RF;
	if (vcpu->rflags & X86_EFLAGS_TF) {
		vcpu->singlestep_pending = true;
		vcpu->singlestep_rip = vcpu->rip;
	}
}

static void exit_skip_insn(struct kvisor_vcpu *vcpu, u32 len)
{
	kvisor_skip_insn(vcpu, len);
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
/* Guest memory as the emulated instruction sees it                 */
/* ---------------------------------------------------------------- */

/* The segment an override prefix names; DS without one. */
static const struct kvisor_segment *exit_prefix_seg(const struct kvisor_sregs *s,
						    u8 prefix)
{
	switch (prefix) {
	case 0x26:
		return &s->es;
	case 0x2e:
		return &s->cs;
	case 0x36:
		return &s->ss;
	case 0x64:
		return &s->fs;
	case 0x65:
		return &s->gs;
	default:
		return &s->ds;
	}
}

/*
 * The linear address of @seg:@reg for a string instruction: the offset
 * is the register masked to the address size (16-bit addresses wrap at
 * 64 KiB), in 64-bit mode only FS and GS have a base (SDM Vol. 3A
 * 3.4.4), and outside it linear addresses wrap at 4 GiB.  Segment limits
 * are not checked.
 */
static u64 exit_linear(const struct kvisor_sregs *s,
		       const struct kvisor_segment *seg, u64 reg,
		       unsigned int asz)
{
	u64 off = reg & exit_reg_mask(asz);

	if (kvisor_long_mode(s))
		return seg == &s->fs || seg == &s->gs ? seg->base + off : off;
	return (seg->base + off) & 0xffffffffULL;
}

/*
 * Of @count ascending elements of @size bytes from @reg (linear @lin),
 * those before the end of the page and before the address size wraps:
 * the CPU faults, or wraps, at the element where that happens, so each
 * exit does one page and one side of a wrap; at least one element.
 */
static u64 exit_string_clamp(u64 count, u64 lin, u64 reg, unsigned int size,
			     unsigned int asz)
{
	u64 room = PAGE_SIZE - offset_in_page(lin);

	if (asz < 8)
		room = min_t(u64, room, exit_reg_mask(asz) + 1 -
					(reg & exit_reg_mask(asz)));
	return clamp_t(u64, room / size, 1, count);
}

/*
 * Copy @len bytes (at most two pages) between @buf and the guest's linear
 * address @lin for the instruction kvisor emulates, as the CPU accesses
 * them: through the guest's page tables with the guest's CPL and all
 * the checks of kvisor_gva_translate(), A/D bits set.  With @buf NULL
 * only the checks are made.  Returns 0; 1 when the guest got a #PF
 * instead (CR2 and the error code as the CPU sets them, nothing
 * copied); -EIO when kvisor cannot emulate the access (a page that is
 * not RAM, paging structures outside RAM).
 */
static int exit_guest_copy(struct kvisor_vcpu *vcpu, const struct kvisor_sregs *s,
			   u64 lin, void *buf, unsigned int len, bool write)
{
	u32 access = write ? KVISOR_PFEC_WRITE : 0, pfec;
	unsigned int n[2], i, pages = 0;
	u64 gpa[2], addr = lin;
	int ret;

	if (kvisor_ops->get_cpl(vcpu) == 3)
		access |= KVISOR_PFEC_USER;
	while (len) {
		unsigned int chunk = min_t(unsigned int, len,
					   PAGE_SIZE - offset_in_page(addr));

		if (pages == ARRAY_SIZE(gpa))
			return -EIO;
		ret = kvisor_gva_translate(vcpu, s, vcpu->rflags, addr, access,
					   &gpa[pages], &pfec);
		if (ret == -EFAULT) {
			kvisor_ops->set_cr2(vcpu, addr);
			kvisor_vcpu_queue_exception(vcpu, KVISOR_PF_VECTOR, true,
						    pfec);
			return 1;
		}
		if (ret)
			return -EIO;
		n[pages++] = chunk;
		addr += chunk;
		if (!kvisor_long_mode(s))
			addr &= 0xffffffffULL;
		len -= chunk;
	}
	for (i = 0; buf && i < pages; i++) {
		ret = write ? kvisor_write_gpa(vcpu->vm, gpa[i], buf, n[i]) :
			      kvisor_read_gpa(vcpu->vm, gpa[i], buf, n[i]);
		if (ret)
			return -EIO;
		buf += n[i];
	}
	return 0;
}

/* exit_guest_copy() failed: the #PF is queued (1), or not emulated (0). */
static int exit_copy_failed(struct kvisor_vcpu *vcpu, u64 hw_reason, int ret)
{
	if (ret > 0)
		return 1;
	exit_internal_error(vcpu, KVISOR_INTERNAL_ERROR_EMULATION, hw_reason,
			    0, NULL, 0);
	return 0;
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
	u64 count, lin, reg;
	s64 step;
	int ret;

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
		/* an in-kernel device's port: answered here, as userspace would */
		if (vcpu->vm->irqchip &&
		    kvisor_irqchip_pio(vcpu, x->io.port, size, x->io.in, data))
			return kvisor_exit_complete_pending(vcpu);
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
	/* INS stores to ES:rDI (no override), OUTS reads seg:rSI, DS default */
	if (x->io.in)
		seg = &s.es;
	reg = vcpu->gpr[x->io.in ? KVISOR_RDI : KVISOR_RSI];
	lin = exit_linear(&s, seg, reg, asz);
	count = exit_string_clamp(count, lin, reg, size, asz);
	run->io.count = count;

	if (x->io.in) {
		/*
		 * The destination must be writable before the port is read:
		 * a faulting INS does no I/O here.
		 */
		ret = exit_guest_copy(vcpu, &s, lin, NULL, count * size, true);
		if (ret)
			return exit_copy_failed(vcpu, x->hw_reason, ret);
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

	ret = exit_guest_copy(vcpu, &s, lin, data, count * size, false);
	if (ret)
		return exit_copy_failed(vcpu, x->hw_reason, ret);
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

/* The linear address of a MOV's memory operand (decode.h). */
static u64 exit_ea_linear(struct kvisor_vcpu *vcpu, const struct kvisor_sregs *s,
			  const struct kvisor_insn *insn)
{
	const struct kvisor_segment *seg;
	u64 off = insn->ea_disp;

	if (insn->ea_base == KVISOR_REG_RIP)
		off += vcpu->rip + insn->len;
	else if (insn->ea_base != KVISOR_REG_NONE)
		off += vcpu->gpr[insn->ea_base];
	if (insn->ea_index != KVISOR_REG_NONE)
		off += vcpu->gpr[insn->ea_index] * insn->ea_scale;
	if (insn->seg_prefix)
		seg = exit_prefix_seg(s, insn->seg_prefix);
	else
		seg = insn->ss_default ? &s->ss : &s->ds;
	return exit_linear(s, seg, off, insn->addr_size);
}

/*
 * A MOV store that crosses a page boundary, one page RAM and the other
 * not (issue 20, item 9): the CPU writes the RAM bytes and the device
 * gets the others, so RAM is written here and userspace gets an MMIO
 * write of just the rest (1 to 7 bytes, at its own GPA).  Which GPA the
 * hardware reports for such a fault differs between CPUs, so both pages
 * are translated again.  Returns -1 when the store does not cross a
 * page, else what an exit handler returns.
 */
static int exit_split_store(struct kvisor_vcpu *vcpu, struct kvisor_exit *x,
			    const struct kvisor_sregs *s,
			    const struct kvisor_insn *insn, u64 val)
{
	u64 lin = exit_ea_linear(vcpu, s, insn), gpa[2], part;
	unsigned int len[2], i, mmio = 2;
	u32 access = KVISOR_PFEC_WRITE, pfec;
	struct kvisor_run *run = vcpu->run;
	u8 bytes[8];
	int ret;

	len[0] = PAGE_SIZE - offset_in_page(lin);
	if (len[0] >= insn->size)
		return -1;
	len[1] = insn->size - len[0];
	if (kvisor_ops->get_cpl(vcpu) == 3)
		access |= KVISOR_PFEC_USER;
	for (i = 0; i < 2; i++) {
		part = i ? lin + len[0] : lin;
		if (!kvisor_long_mode(s))
			part &= 0xffffffffULL;
		ret = kvisor_gva_translate(vcpu, s, vcpu->rflags, part, access,
					   &gpa[i], &pfec);
		if (ret == -EFAULT) {
			kvisor_ops->set_cr2(vcpu, part);
			kvisor_vcpu_queue_exception(vcpu, KVISOR_PF_VECTOR, true, pfec);
			return 1;
		}
		if (ret)
			return exit_copy_failed(vcpu, x->hw_reason, -EIO);
	}
	memcpy(bytes, &val, sizeof(bytes));
	for (i = 0; i < 2; i++) {
		if (!kvisor_write_gpa(vcpu->vm, gpa[i], bytes + (i ? len[0] : 0),
				      len[i]))
			continue;
		if (mmio != 2)		/* both sides MMIO: two exits, not done */
			return exit_copy_failed(vcpu, x->hw_reason, -EIO);
		mmio = i;
	}
	exit_skip_insn(vcpu, insn->len);
	if (mmio == 2)
		return 1;		/* both RAM after all */
	run->exit_reason = KVISOR_EXIT_MMIO;
	run->mmio.phys_addr = gpa[mmio];
	run->mmio.len = len[mmio];
	run->mmio.is_write = 1;
	memset(run->mmio.padding, 0, sizeof(run->mmio.padding));
	memset(run->mmio.data, 0, sizeof(run->mmio.data));
	memcpy(run->mmio.data, bytes + (mmio ? len[0] : 0), len[mmio]);
	trace_kvisor_mmio(vcpu->id, gpa[mmio], len[mmio], true, val);
	return 0;
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
	int ret;

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
		/* source seg:rSI (DS unless overridden), destination ES:rDI */
		if (write) {
			u64 src = exit_linear(&s, exit_prefix_seg(&s, insn->seg_prefix),
					      vcpu->gpr[KVISOR_RSI], insn->addr_size);

			ret = exit_guest_copy(vcpu, &s, src, &val, insn->size, false);
			if (ret > 0)
				return 1;		/* #PF on the source */
			if (ret)
				goto unsupported;	/* MMIO to MMIO */
		} else {
			vcpu->pending_addr = exit_linear(&s, &s.es,
							 vcpu->gpr[KVISOR_RDI],
							 insn->addr_size);
			/* a destination that faults: no MMIO read */
			ret = exit_guest_copy(vcpu, &s, vcpu->pending_addr, NULL,
					      insn->size, true);
			if (ret > 0)
				return 1;
			if (ret)
				goto unsupported;
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
	if (insn->has_ea && write) {
		ret = exit_split_store(vcpu, x, &s, insn,
				       val & exit_reg_mask(insn->size));
		if (ret >= 0)
			return ret;
	} else if (insn->has_ea) {
		u64 ea = exit_ea_linear(vcpu, &s, insn);

		/* a load split across RAM and MMIO: not emulated (yet) */
		if (offset_in_page(ea) + insn->size > PAGE_SIZE)
			goto unsupported;
	}

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
	/* the LAPIC or IOAPIC: answered here, as userspace would */
	if (vcpu->vm->irqchip &&
	    kvisor_irqchip_mmio(vcpu, x->npf.gpa, insn->size, write,
				run->mmio.data))
		return kvisor_exit_complete_pending(vcpu);
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
	/*
	 * The CPU's own access to the guest's page tables (reading them
	 * from MMIO, or setting A/D bits in read-only memory) is no access
	 * of the instruction: emulating the instruction as MMIO would send
	 * its data to the page-table address and lose it.  Not emulated.
	 */
	if (x->npf.walk) {
		exit_internal_error(vcpu, KVISOR_INTERNAL_ERROR_EMULATION,
				    x->hw_reason, x->npf.gpa, NULL, 0);
		return 0;
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

		int ret;

		kvisor_ops->get_sregs(vcpu, &s);
		/*
		 * Checked at the exit; a fault now means the guest changed
		 * its tables meanwhile: the #PF, the data is lost.
		 */
		ret = exit_guest_copy(vcpu, &s, vcpu->pending_addr, (void *)data,
				      count * insn->size, true);
		if (ret)
			return exit_copy_failed(vcpu, 0, ret);
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
		case KVISOR_INSN_MOVS: {
			int ret;

			kvisor_ops->get_sregs(vcpu, &s);
			ret = exit_guest_copy(vcpu, &s, vcpu->pending_addr, &val,
					      insn->size, true);
			if (ret)
				return exit_copy_failed(vcpu, 0, ret);
			exit_finish_string(vcpu, insn, true);
			break;
		}
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

/* The guest's CPUID vendor is the host's: AMD's own MSRs exist there only. */
static bool exit_amd_msrs(void)
{
	return kvisor_caps.vendor == KVISOR_VENDOR_AMD;
}

static bool exit_mtrr_type_valid(u64 type)
{
	return type == MTRR_TYPE_UNCACHABLE || type == MTRR_TYPE_WRCOMB ||
	       type == MTRR_TYPE_WRTHROUGH || type == MTRR_TYPE_WRPROT ||
	       type == MTRR_TYPE_WRBACK;
}

int kvisor_msr_get(struct kvisor_vcpu *vcpu, u32 index, u64 *data)
{
	if (vcpu->lapic) {
		int r = kvisor_lapic_msr_get(vcpu, index, data);

		if (r != -ENOENT)
			return r;
	}
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
		*data = vcpu->mtrr_def_type;	/* reset: enabled, write-back */
		return 0;
	case MSR_K7_HWCR:
	case MSR_AMD64_NB_CFG:
		if (!exit_amd_msrs())
			return -EINVAL;
		*data = index == MSR_K7_HWCR ? vcpu->amd_hwcr : vcpu->amd_nb_cfg;
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
	if (vcpu->lapic) {
		int r = kvisor_lapic_msr_set(vcpu, index, data, host);

		if (r != -ENOENT)
			return r;
	}
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
	case MSR_MTRRdefType:
		/*
		 * Type and E only (MTRRcap has no fixed ranges, so FE is
		 * reserved): UC, WC, WT, WP or WB (SDM Vol. 3A 11.11.2.1).
		 */
		if ((data & ~(u64)(KVISOR_MTRR_DEF_E | KVISOR_MTRR_DEF_TYPE)) ||
		    !exit_mtrr_type_valid(data & KVISOR_MTRR_DEF_TYPE))
			return -EINVAL;
		vcpu->mtrr_def_type = data;
		return 0;
	case MSR_K7_HWCR:
		/*
		 * Linux reads it without a fallback on AMD (bsp_init_amd):
		 * kept as written, TscFreqSel (bit 24) reads 1 as on every
		 * part since family 10h (APM Vol. 2, A.1 / BKDG).
		 */
		if (!exit_amd_msrs())
			return -EINVAL;
		vcpu->amd_hwcr = data | KVISOR_K7_HWCR_TSCFREQSEL;
		return 0;
	case MSR_AMD64_NB_CFG:
		/* Linux sets its extended-config bit at boot; no effect here */
		if (!exit_amd_msrs())
			return -EINVAL;
		vcpu->amd_nb_cfg = data;
		return 0;
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

/*
 * The hardware gave no instruction length (AMD-V without NRIP save): the
 * backend reported the unprefixed one.  Prefixes (legacy, and REX in
 * 64-bit mode) are legal on every instruction kvisor completes and
 * lengthen it: `66 0f a2` is a CPUID of 3 bytes.  Read them at CS:RIP
 * through the guest's tables, as the CPU just fetched them.
 */
static void exit_add_prefix_len(struct kvisor_vcpu *vcpu, struct kvisor_exit *x)
{
	u8 bytes[KVISOR_INSN_MAX];
	struct kvisor_sregs s;
	unsigned int first;
	u64 lin;
	int n;

	kvisor_ops->get_sregs(vcpu, &s);
	lin = kvisor_rip_linear(vcpu, &s);
	first = min_t(unsigned int, KVISOR_INSN_MAX, PAGE_SIZE - offset_in_page(lin));
	if (kvisor_read_gva(vcpu, &s, lin, bytes, first))
		return;
	if (first < KVISOR_INSN_MAX &&
	    kvisor_read_gva(vcpu, &s, lin + first, bytes + first,
			    KVISOR_INSN_MAX - first))
		memset(bytes + first, 0, KVISOR_INSN_MAX - first);
	n = kvisor_decode_prefixes(bytes, KVISOR_INSN_MAX, exit_code_size(&s));
	if (n > 0 && n + x->insn_len <= KVISOR_INSN_MAX)
		x->insn_len += n;
}

/*
 * INT1 (F1) never raises #UD on a CPU; QEMU's TCG, whose translator has
 * it compiled out, raises #UD instead of #DB.  A #UD at an F1 is given
 * to the guest as the #DB the instruction raises.  The length (prefixes
 * included) of the INT1 at RIP, or 0.
 */
static u32 exit_icebp_len(struct kvisor_vcpu *vcpu)
{
	u8 bytes[KVISOR_INSN_MAX];
	struct kvisor_sregs s;
	unsigned int n;
	u64 lin;
	int p;

	kvisor_ops->get_sregs(vcpu, &s);
	lin = kvisor_rip_linear(vcpu, &s);
	n = min_t(unsigned int, KVISOR_INSN_MAX, PAGE_SIZE - offset_in_page(lin));
	if (kvisor_read_gva(vcpu, &s, lin, bytes, n))
		return 0;
	p = kvisor_decode_prefixes(bytes, n, exit_code_size(&s));
	return p >= 0 && bytes[p] == 0xf1 ? p + 1 : 0;
}

int kvisor_exit_handle(struct kvisor_vcpu *vcpu, struct kvisor_exit *x)
{
	struct kvisor_run *run = vcpu->run;
	u64 *c = vcpu->stats.counters;

	c[KVISOR_STAT_EXITS]++;
	trace_kvisor_exit(vcpu->id, x->kind, x->hw_reason, vcpu->rip);
	if (x->insn_unprefixed && x->insn_len)
		exit_add_prefix_len(vcpu, x);

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
		/* with an irqchip the vCPU sleeps in the kernel (io/lapic.c) */
		if (vcpu->lapic)
			return kvisor_lapic_halt(vcpu);
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
	case KVISOR_X_UD_FAULT: {
		/* the other vendor's hypercall instruction, or a real #UD */
		u32 len = kvisor_hypercall_insn(vcpu);

		if (len)
			return kvisor_hypercall(vcpu, len);
		len = exit_icebp_len(vcpu);
		if (len) {
			x->insn_len = len;
			goto icebp;
		}
		fallthrough;
	}
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
	case KVISOR_X_EXCEPTION:
		/*
		 * An exception kvisor intercepts only so that the guest
		 * cannot hold the CPU with it (#DB, #AC: a delivery that
		 * raises the same exception again loops inside the CPU
		 * without an exit), or one an intercepted instruction
		 * raises (RDPMC).  The guest gets it as the CPU raised it.
		 * #AC is a fault: the image of RFLAGS it pushes has RF set
		 * (SDM Vol. 3A 6.15, "Interrupt 17").
		 */
		c[KVISOR_STAT_EXCEPTION]++;
		if (x->exc.vector == KVISOR_AC_VECTOR)
			vcpu->rflags |= X86_EFLAGS_RF;
		kvisor_vcpu_queue_exception(vcpu, x->exc.vector, x->exc.has_error,
					    x->exc.error);
		return 1;
	case KVISOR_X_ICEBP:
icebp:
		/*
		 * INT1 (F1) is a trap: #DB after the instruction, DR6 not
		 * changed (SDM Vol. 3B 17.3.1, "INT1"; AMD APM Vol. 3 "INT1").
		 */
		c[KVISOR_STAT_EXCEPTION]++;
		vcpu->rip += x->insn_len;
		if (!vcpu->exception_pending)
			kvisor_vcpu_queue_exception(vcpu, KVISOR_DB_VECTOR, false, 0);
		return 1;
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
	case 0xa:
		/* no architectural PMU: RDPMC raises #GP (svm/, vmx/) */
		eax = ebx = ecx = edx = 0;
		break;
	case 7:
		if (index == 0) {
			/* TSC_ADJUST (no IA32_TSC_ADJUST here), SGX */
			ebx &= ~(BIT(1) | BIT(2));
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
	if (vcpu->vm->irqchip)
		kvisor_lapic_cpuid_adjust(vcpu);
	return 0;
}
