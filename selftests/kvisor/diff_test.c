// SPDX-License-Identifier: GPL-2.0
/*
 * Differential test against KVM: random but valid 64-bit guest programs
 * run under kvisor and under Debian's KVM in the same box, from the same
 * initial state (memory, registers, segments, CPUID table, MSRs), with
 * every exit answered with the same data.  The two runs must give the
 * same sequence of exits and the same final registers, MSRs and memory.
 *
 * A program is a sequence of operations, each a few instructions:
 * arithmetic on random values, CPUID, RDMSR/WRMSR (valid and #GP values),
 * IN/OUT (imm8 and DX forms, 1/2/4 bytes), INS/OUTS with and without REP
 * and with DF=0/1, MMIO loads and stores in every form kvisor's decoder
 * takes (MOV to/from registers including AH..BH, MOV immediate, MOVZX,
 * MOVSX, MOVSXD, moffs, STOS, MOVS both ways, REP forms, [base],
 * [base+disp8/32], [base+index*scale+disp], 32-bit addressing), HLT, and
 * exceptions taken through the guest's IDT (#UD, #BP, #DE, #GP, #PF,
 * INT n), whose handler reports vector, error code, RIP, CR2 and RFLAGS
 * on ports and resumes after the faulting instruction.
 *
 * What is compared (Documentation/testing.rst, "Differential testing
 * against KVM", has the allow-list of intentional differences):
 *  - port I/O item by item (direction, port, size, data): string I/O is
 *    split into items because how many items one exit carries differs
 *    by design;
 *  - MMIO accesses (GPA, length, direction, data), element by element;
 *  - the registers at every HLT, and at the end;
 *  - any other exit (shutdown, internal error, failed entry) by kind;
 *  - at the end: the GPRs, RIP, RFLAGS, CR0/CR3/CR4/EFER, the MSRs the
 *    programs use, and a hash of the data area and stack.
 *
 * kvisor and KVM cannot hold VT-x/AMD-V at the same time: each holds it
 * while it has a VM (api.rst, "enable_at_load").  So a batch of programs
 * runs under kvisor in one VM, the VM goes, and the same batch runs under
 * KVM in one VM; then the traces are compared.
 *
 * KVISOR_DIFF_SEED (default 0x6466666b), KVISOR_DIFF_N (programs; default
 * 1000, 300 in the Bochs box), KVISOR_DIFF_PROG (run only the program with
 * this seed and print its trace), KVISOR_DIFF_DUMP=FILE with
 * KVISOR_DIFF_PROG (write that program's code to FILE and stop; runs
 * anywhere, for objdump -D -b binary -mi386:x86-64 -M intel).  The first
 * divergence is reported with the program's seed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/kvm.h>

#include "kselftest_harness.h"
#include "kvisor_test.h"
#include "vm.h"

#define MMIO_BASE	0xc0000000ull
#define BUF_OFF		0x1000		/* string I/O buffers from DATA_GPA + this */
#define HASH_START	DATA_GPA
#define HASH_END	STACK_TOP
#define CODE_MAX	0x8000		/* CODE_GPA .. DATA_GPA-ish, with room */
#define OPS_PER_PROG	24
#define MAX_EXITS	2000
#define MAX_EV		2048
#define MAX_HLT		64

/* ---------------------------------------------------------------- */
/* Random numbers                                                   */
/* ---------------------------------------------------------------- */

static uint64_t splitmix(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t rnd(uint64_t *s, uint64_t n)
{
	return n ? splitmix(s) % n : 0;
}

/* The answer to the k-th read (IN item or MMIO read) of a program. */
static uint64_t answer(uint64_t pseed, unsigned int k)
{
	uint64_t s = pseed ^ (0x5851f42d4c957f2dull * (k + 1));

	return splitmix(&s);
}

/* ---------------------------------------------------------------- */
/* The guest's exception handler                                    */
/* ---------------------------------------------------------------- */

/*
 * Vector v at STUBS_GPA + 16 * v, as lib/guest.c lays them out; the
 * common part reports vector, error code, RIP and CR2, then returns to
 * the address in R15 (set before every operation: the next one).  The
 * RFLAGS image it reports shows RF, which a fault sets (SDM Vol. 3A,
 * 17.3.1.1).
 */
GUEST_ASM(diff_stubs,
	".code64\n"
	".set vec, 0\n"
	".rept 256\n"
	"  .balign 16\n"
	"  .if (vec == 8) || ((vec >= 10) && (vec <= 14)) || (vec == 17) || (vec == 21) || (vec == 29) || (vec == 30)\n"
	"  .else\n"
	"    push 0\n"
	"  .endif\n"
	"  push vec\n"
	"  jmp diff_stubs_common\n"
	"  .set vec, vec + 1\n"
	".endr\n"
	"diff_stubs_common:\n"
	"  push rax\n"
	"  mov eax, [rsp + 8]\n"
	"  out 0xe0, eax\n"
	"  mov eax, [rsp + 16]\n"
	"  out 0xe1, eax\n"
	"  mov eax, [rsp + 24]\n"
	"  out 0xe2, eax\n"
	"  mov rax, cr2\n"
	"  out 0xe3, eax\n"
	"  mov eax, [rsp + 40]\n"
	"  out 0xe4, eax\n"
	"  pop rax\n"
	"  add rsp, 16\n"
	"  mov [rsp], r15\n"
	/*
	 * RF off in the frame: QEMU's TCG keeps a popped RF=1 for a whole
	 * translation block rather than one instruction (allow-list)
	 */
	"  and dword ptr [rsp + 16], 0xfffeffff\n"
	"  iretq\n");

/* ---------------------------------------------------------------- */
/* Program generation                                               */
/* ---------------------------------------------------------------- */

struct prog {
	uint64_t seed;
	uint8_t code[CODE_MAX];
	size_t len;
	uint64_t end_rip;		/* RIP after the final HLT */
	struct kvisor_regs regs;
	unsigned int nops;
};

struct gen {
	struct prog *p;
	uint64_t *s;
};

static void emit(struct gen *g, const void *b, size_t n)
{
	if (g->p->len + n > CODE_MAX - 64)
		abort();
	memcpy(g->p->code + g->p->len, b, n);
	g->p->len += n;
}

static void e8(struct gen *g, uint8_t b)
{
	emit(g, &b, 1);
}

static void e32(struct gen *g, uint32_t v)
{
	emit(g, &v, 4);
}

static void e64(struct gen *g, uint64_t v)
{
	emit(g, &v, 8);
}

/* mov r64, imm64 */
static void mov_imm(struct gen *g, int reg, uint64_t v)
{
	e8(g, 0x48 | (reg >> 3));
	e8(g, 0xb8 | (reg & 7));
	e64(g, v);
}

/* mov r32, imm32 (zero-extends) */
static void mov_imm32(struct gen *g, int reg, uint32_t v)
{
	if (reg >= 8)
		e8(g, 0x41);
	e8(g, 0xb8 | (reg & 7));
	e32(g, v);
}

enum { RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8, R9, R10, R11, R12, R13, R14, R15 };

/* Registers random values go to: not RSP, not R15 (the resume address). */
static int value_reg(struct gen *g)
{
	static const int regs[] = { RAX, RCX, RDX, RBX, RBP, RSI, RDI, R8, R9,
				    R10, R11, R12, R13, R14 };

	return regs[rnd(g->s, sizeof(regs) / sizeof(regs[0]))];
}

static uint64_t rnd_value(struct gen *g)
{
	switch (rnd(g->s, 4)) {
	case 0:
		return rnd(g->s, 256);
	case 1:
		return (uint32_t)splitmix(g->s);
	case 2:
		return (uint64_t)(int64_t)(int32_t)splitmix(g->s);
	default:
		return splitmix(g->s);
	}
}

static uint64_t canonical(struct gen *g)
{
	return (uint64_t)((int64_t)(splitmix(g->s) << 16) >> 16);
}

static void op_alu(struct gen *g)
{
	static const uint8_t ops[] = { 0x01, 0x29, 0x31, 0x21, 0x09 };
	int a = value_reg(g), b = value_reg(g);

	mov_imm(g, b, rnd_value(g));
	if (rnd(g->s, 4) == 0) {	/* imul a, b */
		e8(g, 0x48 | ((a >> 3) << 2) | (b >> 3));
		e8(g, 0x0f);
		e8(g, 0xaf);
		e8(g, 0xc0 | ((a & 7) << 3) | (b & 7));
		return;
	}
	e8(g, 0x48 | ((b >> 3) << 2) | (a >> 3));
	e8(g, ops[rnd(g->s, sizeof(ops))]);
	e8(g, 0xc0 | ((b & 7) << 3) | (a & 7));
}

/*
 * The CPUID table both get (struct kvisor_cpuid_entry and kvm_cpuid_entry2
 * hold the same fields).  Only leaves inside the table's ranges are asked:
 * beyond the maximum leaf KVM returns the highest basic leaf on an Intel
 * vendor, kvisor zeros (allow-list).
 */
struct cpuid_leaf {
	uint32_t fn, idx, flags, eax, ebx, ecx, edx;
};
static struct cpuid_leaf cpuid_table[16];
static unsigned int cpuid_n;

static void cpuid_table_init(void)
{
	uint32_t r[4];

	cpuid_count(0, 0, r);
	cpuid_table[cpuid_n++] = (struct cpuid_leaf){ 0, 0, 0, 7, r[1], r[2], r[3] };
	/* family 6, SSE3; FPU TSC MSR PAE APIC CX8 SEP PGE CMOV PAT FXSR SSE SSE2 */
	cpuid_table[cpuid_n++] = (struct cpuid_leaf){ 1, 0, 0, 0x000306a9, 0x00010800,
		0x80000001, 0x07018b71 };
	cpuid_table[cpuid_n++] = (struct cpuid_leaf){ 2, 0, 0, 0x76036301, 0x00f0b5ff, 0,
		0x00c30000 };
	cpuid_table[cpuid_n++] = (struct cpuid_leaf){ 4, 0, 1, 0x1c004121, 0x01c0003f,
		0x3f, 0 };
	cpuid_table[cpuid_n++] = (struct cpuid_leaf){ 4, 1, 1, 0x1c004122, 0x01c0003f,
		0x3f, 0 };
	cpuid_table[cpuid_n++] = (struct cpuid_leaf){ 7, 0, 1, 0, 0x00000209, 0, 0 };
	cpuid_table[cpuid_n++] = (struct cpuid_leaf){ 0x80000000, 0, 0, 0x80000008,
		r[1], r[2], r[3] };
	/* LAHF; SYSCALL, NX, RDTSCP, LM */
	cpuid_table[cpuid_n++] = (struct cpuid_leaf){ 0x80000001, 0, 0, 0, 0, 1,
		(1u << 11) | (1u << 20) | (1u << 27) | (1u << 29) };
	cpuid_table[cpuid_n++] = (struct cpuid_leaf){ 0x80000008, 0, 0, 0x3028, 0, 0, 0 };
}

static void op_cpuid(struct gen *g)
{
	uint32_t fn, idx;

	switch (rnd(g->s, 5)) {
	case 0:
		fn = rnd(g->s, 8);		/* 0-7: in range, some not in table */
		break;
	case 1:
		fn = 0x80000000 + rnd(g->s, 9);
		break;
	default:
		fn = cpuid_table[rnd(g->s, cpuid_n)].fn;
		break;
	}
	idx = rnd(g->s, 3);
	mov_imm32(g, RAX, fn);
	mov_imm32(g, RCX, idx);
	e8(g, 0x0f);
	e8(g, 0xa2);
	/*
	 * KVM rewrites CPUID.1:EDX.APIC from the APIC base and
	 * CPUID.1:ECX.OSXSAVE / CPUID.7:ECX.OSPKE from CR4; kvisor gives
	 * OSXSAVE from CR4 and the rest from the table (allow-list): mask
	 * them in the guest.
	 */
	e8(g, 0x81); e8(g, 0xe2); e32(g, ~(1u << 9));		/* and edx */
	e8(g, 0x81); e8(g, 0xe1); e32(g, ~((1u << 27) | (1u << 4)));	/* and ecx */
}

/* MSRs both support, with the values both treat alike. */
enum { V_ANY, V_CANON, V_CANON_ONLY, V_32, V_PAT, V_EFER, V_BAD };
static const struct { uint32_t idx; int kind; } msrs[] = {
	{ 0xc0000081, V_ANY },		/* STAR */
	{ 0xc0000082, V_CANON },	/* LSTAR */
	{ 0xc0000083, V_CANON },	/* CSTAR */
	{ 0xc0000084, V_32 },		/* SFMASK: upper half differs (allow-list) */
	{ 0xc0000100, V_CANON },	/* FS_BASE */
	{ 0xc0000101, V_CANON },	/* GS_BASE */
	{ 0xc0000102, V_CANON },	/* KERNEL_GS_BASE */
	{ 0x174, V_32 },		/* SYSENTER_CS: 16 bits (allow-list) */
	{ 0x175, V_32 },		/* SYSENTER_ESP: 32 bits (allow-list) */
	{ 0x176, V_32 },		/* SYSENTER_EIP */
	{ 0x277, V_PAT },
	{ 0xc0000103, V_32 },		/* TSC_AUX */
	{ 0xc0000080, V_EFER },
	{ 0x00001234, V_BAD },		/* unknown: #GP on both */
	{ 0xc0001234, V_BAD },
};
#define NR_MSRS		(sizeof(msrs) / sizeof(msrs[0]))
#define NR_GOOD_MSRS	(NR_MSRS - 2)

static uint64_t msr_value(struct gen *g, int kind)
{
	switch (kind) {
	case V_ANY:
		return rnd_value(g);
	case V_CANON:
	case V_CANON_ONLY:
		/*
		 * Non-canonical values: KVM passes LSTAR, CSTAR, FS/GS_BASE
		 * and KERNEL_GS_BASE through to the CPU, and QEMU's TCG
		 * takes them without the #GP hardware raises (allow-list).
		 */
		return canonical(g);
	case V_32:
		/* bits 63:32 of TSC_AUX: KVM drops them for an AMD guest */
		return (uint32_t)splitmix(g->s);
	case V_PAT: {
		static const uint8_t t[] = { 0, 1, 4, 5, 6, 7 };
		uint64_t v = 0;
		int i;

		for (i = 0; i < 8; i++)
			v |= (uint64_t)t[rnd(g->s, 6)] << (8 * i);
		if (!rnd(g->s, 6))
			v |= 2ull << (8 * rnd(g->s, 8));	/* reserved type */
		return v;
	}
	case V_EFER:
		/* LME|LMA kept; SCE and NX toggled; sometimes a reserved bit */
		return 0x500 | (rnd(g->s, 2) ? 1 : 0) | (rnd(g->s, 2) ? 0x800 : 0) |
		       (rnd(g->s, 8) ? 0 : 1ull << (2 + rnd(g->s, 6)));
	default:
		return rnd_value(g);
	}
}

static void op_msr(struct gen *g)
{
	unsigned int i = rnd(g->s, NR_MSRS);
	uint64_t v;

	mov_imm32(g, RCX, msrs[i].idx);
	if (rnd(g->s, 2)) {
		e8(g, 0x0f);
		e8(g, 0x32);		/* rdmsr */
		return;
	}
	if (msrs[i].idx == 0x174)
		v = (uint16_t)splitmix(g->s);	/* bits 31:16 differ (allow-list) */
	else if (msrs[i].idx == 0xc0000084)
		v = (uint32_t)splitmix(g->s);
	else
		v = msr_value(g, msrs[i].kind);
	mov_imm32(g, RAX, (uint32_t)v);
	mov_imm32(g, RDX, v >> 32);
	e8(g, 0x0f);
	e8(g, 0x30);			/* wrmsr */
}

static void op_pio(struct gen *g)
{
	unsigned int size = 1u << rnd(g->s, 3);
	bool in = rnd(g->s, 2), imm = rnd(g->s, 2);
	uint16_t port = imm ? rnd(g->s, 256) : rnd(g->s, 65536);

	mov_imm(g, RAX, rnd_value(g));
	if (!imm)
		mov_imm32(g, RDX, port);
	if (size == 2)
		e8(g, 0x66);
	if (imm) {
		e8(g, (in ? 0xe4 : 0xe6) | (size > 1));
		e8(g, port);
	} else {
		e8(g, (in ? 0xec : 0xee) | (size > 1));
	}
}

static void op_string_pio(struct gen *g)
{
	unsigned int size = 1u << rnd(g->s, 3);
	bool in = rnd(g->s, 2), rep = rnd(g->s, 3), down = !rnd(g->s, 4);
	unsigned int count = rep ? 1 + rnd(g->s, rnd(g->s, 4) ? 16 : 300) : 1;
	uint64_t buf = DATA_GPA + BUF_OFF + rnd(g->s, 0x100);

	if (down)
		buf += (count - 1) * size;
	mov_imm32(g, RDX, rnd(g->s, 65536));
	mov_imm(g, in ? RDI : RSI, buf);
	mov_imm(g, RCX, rep ? count : rnd_value(g));
	if (down)
		e8(g, 0xfd);		/* std */
	if (size == 2)
		e8(g, 0x66);
	if (rep)
		e8(g, 0xf3);
	e8(g, (in ? 0x6c : 0x6e) | (size > 1));
	if (down)
		e8(g, 0xfc);		/* cld */
}

/*
 * A memory operand at MMIO_BASE + off: ModRM (with reg) and what follows;
 * sets the REX.X/B bits it needs in *rex.  Base RBX (or EBX with 0x67),
 * index R12.
 */
static void mmio_operand_setup(struct gen *g, uint32_t off, int *form,
			       uint32_t *disp, unsigned int *scale)
{
	*form = rnd(g->s, 4);
	*scale = rnd(g->s, 4);
	mov_imm(g, RBX, MMIO_BASE);
	switch (*form) {
	case 0:				/* [rbx] */
		mov_imm(g, RBX, MMIO_BASE + off);
		*disp = 0;
		break;
	case 1:				/* [rbx + disp8] */
		*disp = off & 0x7f;
		mov_imm(g, RBX, MMIO_BASE + off - *disp);
		break;
	case 2:				/* [rbx + disp32] */
		*disp = off;
		break;
	default: {			/* [rbx + r12 * scale + disp32] */
		uint32_t idx = rnd(g->s, 0x40);

		*disp = off - (idx << *scale);
		mov_imm(g, R12, idx);
		break;
	}
	}
}

static void mmio_modrm(struct gen *g, int reg, int form, uint32_t disp,
		       unsigned int scale)
{
	switch (form) {
	case 0:
		e8(g, ((reg & 7) << 3) | 3);
		break;
	case 1:
		e8(g, 0x40 | ((reg & 7) << 3) | 3);
		e8(g, disp);
		break;
	case 2:
		e8(g, 0x80 | ((reg & 7) << 3) | 3);
		e32(g, disp);
		break;
	default:
		e8(g, 0x80 | ((reg & 7) << 3) | 4);
		e8(g, (scale << 6) | (4 << 3) | 3);	/* index r12 (REX.X), base rbx */
		e32(g, disp);
		break;
	}
}

/* Prefixes and REX for an operand of @size with register @reg. */
static void mmio_prefix(struct gen *g, unsigned int size, int reg, bool a32,
			int form, bool force_rex)
{
	uint8_t rex = 0x40;

	if (size == 2)
		e8(g, 0x66);
	if (a32)
		e8(g, 0x67);
	if (size == 8)
		rex |= 8;
	if (reg >= 8)
		rex |= 4;
	if (form == 3)
		rex |= 2;
	if (rex != 0x40 || force_rex)
		e8(g, rex);
}

static void op_mmio(struct gen *g)
{
	unsigned int size = 1u << rnd(g->s, 4), scale, kind = rnd(g->s, 10);
	/* never across a page: KVM splits such an access, kvisor does not */
	uint32_t off = rnd(g->s, 0xf00), disp;
	bool a32 = !rnd(g->s, 5);
	int reg, form;
	bool rex8;

	switch (kind) {
	case 0: case 1: case 2:		/* mov [m], reg / mov reg, [m] */
	case 3: {			/* movzx/movsx/movsxd reg, [m] */
		bool load = kind != 0;

		mmio_operand_setup(g, off, &form, &disp, &scale);
		if (a32 && form == 3)
			form = 2;
		do {
			reg = value_reg(g);
		} while (reg == RBX || (form == 3 && reg == R12));
		if (!load)
			mov_imm(g, reg, rnd_value(g));
		/* 8-bit: regs 4-7 are AH..BH without REX, SPL.. with it */
		rex8 = size == 1 && reg >= 4 && reg < 8 && rnd(g->s, 2);
		if (size == 1 && reg == RSP + 0 && rex8)
			rex8 = false;
		if (kind == 3) {
			unsigned int src = rnd(g->s, 3);	/* byte, word, dword */
			unsigned int dst = src == 2 ? 8 : (4u << rnd(g->s, 2));

			if (src == 0 && !rnd(g->s, 4))
				dst = 2;
			mmio_prefix(g, dst, reg, a32, form, false);
			if (src == 2) {
				e8(g, 0x63);		/* movsxd (REX.W) */
			} else {
				e8(g, 0x0f);
				e8(g, (rnd(g->s, 2) ? 0xb6 : 0xbe) | src);
			}
			mmio_modrm(g, reg, form, disp, scale);
			break;
		}
		mmio_prefix(g, size, reg, a32, form, rex8);
		e8(g, (load ? 0x8a : 0x88) | (size > 1));
		mmio_modrm(g, reg, form, disp, scale);
		break;
	}
	case 4: {			/* mov [m], imm */
		mmio_operand_setup(g, off, &form, &disp, &scale);
		if (a32 && form == 3)
			form = 2;
		mmio_prefix(g, size, 0, a32, form, false);
		e8(g, size == 1 ? 0xc6 : 0xc7);
		mmio_modrm(g, 0, form, disp, scale);
		if (size == 1)
			e8(g, splitmix(g->s));
		else if (size == 2)
			emit(g, (uint16_t[]){ (uint16_t)splitmix(g->s) }, 2);
		else
			e32(g, splitmix(g->s));
		break;
	}
	case 5: {			/* mov al/ax/eax/rax <-> moffs64 */
		bool load = rnd(g->s, 2);

		mov_imm(g, RAX, rnd_value(g));
		if (size == 2)
			e8(g, 0x66);
		if (size == 8)
			e8(g, 0x48);
		e8(g, (load ? 0xa0 : 0xa2) | (size > 1));
		e64(g, MMIO_BASE + off);
		break;
	}
	case 6: case 7: {		/* stos / rep stos */
		bool rep = kind == 7, down = !rnd(g->s, 4);
		unsigned int count = 1 + rnd(g->s, 6);

		mov_imm(g, RAX, rnd_value(g));
		mov_imm(g, RDI, MMIO_BASE + off + (down ? 0x80 : 0));
		mov_imm(g, RCX, count);
		if (down)
			e8(g, 0xfd);
		if (size == 2)
			e8(g, 0x66);
		if (rep)
			e8(g, 0xf3);
		if (size == 8)
			e8(g, 0x48);
		e8(g, size == 1 ? 0xaa : 0xab);
		if (down)
			e8(g, 0xfc);
		break;
	}
	default: {			/* movs RAM -> MMIO or MMIO -> RAM */
		bool rep = rnd(g->s, 2), down = !rnd(g->s, 4), to_mmio = rnd(g->s, 2);
		unsigned int count = 1 + rnd(g->s, 6);
		uint64_t ram = DATA_GPA + BUF_OFF + rnd(g->s, 0x100) + (down ? 0x80 : 0);
		uint64_t mmio = MMIO_BASE + off + (down ? 0x80 : 0);

		mov_imm(g, RSI, to_mmio ? ram : mmio);
		mov_imm(g, RDI, to_mmio ? mmio : ram);
		mov_imm(g, RCX, count);
		if (down)
			e8(g, 0xfd);
		if (size == 2)
			e8(g, 0x66);
		if (rep)
			e8(g, 0xf3);
		if (size == 8)
			e8(g, 0x48);
		e8(g, size == 1 ? 0xa4 : 0xa5);
		if (down)
			e8(g, 0xfc);
		break;
	}
	}
}

static void op_exception(struct gen *g)
{
	switch (rnd(g->s, 6)) {
	case 0:
		e8(g, 0x0f);
		e8(g, 0x0b);		/* ud2 */
		break;
	case 1:
		e8(g, 0xcc);		/* int3 */
		break;
	case 2:
		e8(g, 0xcd);		/* int n, 32-255 */
		e8(g, 32 + rnd(g->s, 224));
		break;
	case 3:
		mov_imm(g, RAX, rnd_value(g));
		e8(g, 0x31); e8(g, 0xc9);	/* xor ecx, ecx */
		e8(g, 0x31); e8(g, 0xd2);	/* xor edx, edx */
		e8(g, 0xf7); e8(g, 0xf1);	/* div ecx: #DE */
		break;
	case 4:				/* #PF: beyond the 4 GiB mapped */
		mov_imm(g, R13, 0x100000000ull + (rnd(g->s, 1u << 20) << 4));
		e8(g, 0x49); e8(g, 0x8b); e8(g, 0x45); e8(g, 0x00);	/* mov rax, [r13] */
		break;
	default:			/* #GP: an MSR neither knows */
		mov_imm32(g, RCX, 0x1234);
		mov_imm32(g, RAX, 0);
		mov_imm32(g, RDX, 0);
		e8(g, 0x0f);
		e8(g, 0x30);
		break;
	}
}

/* lea r15, [rip + 0]: patched to the next operation afterwards. */
static size_t resume_mark(struct gen *g)
{
	e8(g, 0x4c); e8(g, 0x8d); e8(g, 0x3d);
	e32(g, 0);
	return g->p->len;
}

static void gen_prog(struct prog *p, uint64_t seed)
{
	uint64_t s = seed;
	struct gen g = { .p = p, .s = &s };
	unsigned int i;
	int r;

	p->seed = seed;
	p->len = 0;
	memset(&p->regs, 0, sizeof(p->regs));
	for (r = 0; r < 16; r++)
		((uint64_t *)&p->regs)[r] = rnd_value(&g);
	p->regs.rsp = STACK_TOP;
	p->regs.rip = CODE_GPA;
	p->regs.rflags = 2 | (rnd(&s, 2) ? 1 : 0) | (rnd(&s, 2) ? 0x80 : 0);
	p->nops = 4 + rnd(&s, OPS_PER_PROG);
	for (i = 0; i < p->nops; i++) {
		size_t at = resume_mark(&g);
		uint32_t rel;

		switch (rnd(&s, 20)) {
		case 0: case 1: case 2:
			op_alu(&g);
			break;
		case 3: case 4:
			op_cpuid(&g);
			break;
		case 5: case 6: case 7:
			op_msr(&g);
			break;
		case 8: case 9: case 10:
			op_pio(&g);
			break;
		case 11: case 12:
			op_string_pio(&g);
			break;
		case 13: case 14: case 15: case 16:
			op_mmio(&g);
			break;
		case 17:
			e8(&g, 0xf4);	/* hlt */
			break;
		default:
			op_exception(&g);
			break;
		}
		rel = p->len - at;
		memcpy(p->code + at - 4, &rel, 4);
	}
	e8(&g, 0xf4);
	p->end_rip = CODE_GPA + p->len;
}

/* ---------------------------------------------------------------- */
/* Traces                                                           */
/* ---------------------------------------------------------------- */

enum { EV_IO = 1, EV_MMIO, EV_HLT, EV_OTHER, EV_RUNAWAY };

struct ev {
	uint8_t kind, in, size;
	uint16_t port;
	uint32_t reason;		/* EV_OTHER: the backend's exit reason */
	uint64_t addr, data;
	int hlt;			/* EV_HLT: index in hlt[] */
};

#define NR_FINAL_MSRS	NR_GOOD_MSRS

struct trace {
	struct ev ev[MAX_EV];
	unsigned int n;
	bool overflow;
	struct kvisor_regs hlt[MAX_HLT];
	unsigned int nhlt;
	struct kvisor_regs regs;	/* at the end */
	uint64_t cr0, cr3, cr4, efer;
	uint64_t msr[NR_FINAL_MSRS];
	uint64_t mem_hash;
	uint8_t *mem;			/* KVISOR_DIFF_PROG: the hashed bytes */
	bool ended;			/* reached the final HLT */
	unsigned int exits;
};

static void ev_add(struct trace *t, const struct ev *e)
{
	if (t->n < MAX_EV)
		t->ev[t->n++] = *e;
	else
		t->overflow = true;
}

static uint64_t fnv(const uint8_t *p, size_t n)
{
	uint64_t h = 0xcbf29ce484222325ull;

	while (n--)
		h = (h ^ *p++) * 0x100000001b3ull;
	return h;
}

/* ---------------------------------------------------------------- */
/* The two backends                                                 */
/* ---------------------------------------------------------------- */

struct exit_info {
	enum { X_IO, X_MMIO, X_HLT, X_OTHER } kind;
	uint32_t reason;
	bool in;
	unsigned int size, count;
	uint16_t port;
	uint8_t *data;			/* IO items / MMIO data */
	uint64_t addr;
};

struct backend {
	const char *name;
	int sys, vm, vcpu;
	void *run;
	size_t run_size;
	uint8_t *mem;
	struct vm kv;			/* kvisor: the selftest library's VM */
	struct vcpu kvcpu;
};

static int kvm_cpuid_set(int vcpu)
{
	struct {
		struct kvm_cpuid2 h;
		struct kvm_cpuid_entry2 e[16];
	} c;
	unsigned int i;

	memset(&c, 0, sizeof(c));
	c.h.nent = cpuid_n;
	for (i = 0; i < cpuid_n; i++) {
		c.e[i].function = cpuid_table[i].fn;
		c.e[i].index = cpuid_table[i].idx;
		c.e[i].flags = cpuid_table[i].flags ? KVM_CPUID_FLAG_SIGNIFCANT_INDEX : 0;
		c.e[i].eax = cpuid_table[i].eax;
		c.e[i].ebx = cpuid_table[i].ebx;
		c.e[i].ecx = cpuid_table[i].ecx;
		c.e[i].edx = cpuid_table[i].edx;
	}
	return ioctl(vcpu, KVM_SET_CPUID2, &c) ? -errno : 0;
}

static int kvisor_cpuid_set(int vcpu)
{
	struct {
		struct kvisor_cpuid h;
		struct kvisor_cpuid_entry e[16];
	} c;
	unsigned int i;

	memset(&c, 0, sizeof(c));
	c.h.nent = cpuid_n;
	for (i = 0; i < cpuid_n; i++) {
		c.e[i].function = cpuid_table[i].fn;
		c.e[i].index = cpuid_table[i].idx;
		c.e[i].flags = cpuid_table[i].flags ? KVISOR_CPUID_FLAG_INDEXED : 0;
		c.e[i].eax = cpuid_table[i].eax;
		c.e[i].ebx = cpuid_table[i].ebx;
		c.e[i].ecx = cpuid_table[i].ecx;
		c.e[i].edx = cpuid_table[i].edx;
	}
	return ioctl(vcpu, KVISOR_SET_CPUID, &c) ? -errno : 0;
}

/* struct kvm_segment and struct kvisor_segment: the same fields. */
static void seg_to_kvm(struct kvm_segment *k, const struct kvisor_segment *s)
{
	memset(k, 0, sizeof(*k));
	k->base = s->base;
	k->limit = s->limit;
	k->selector = s->selector;
	k->type = s->type;
	k->present = s->present;
	k->dpl = s->dpl;
	k->db = s->db;
	k->s = s->s;
	k->l = s->l;
	k->g = s->g;
	k->avl = s->avl;
	k->unusable = s->unusable;
}

static int kvm_sregs_set(int vcpu, const struct kvisor_sregs *s)
{
	struct kvm_sregs k;

	memset(&k, 0, sizeof(k));
	seg_to_kvm(&k.cs, &s->cs);
	seg_to_kvm(&k.ds, &s->ds);
	seg_to_kvm(&k.es, &s->es);
	seg_to_kvm(&k.fs, &s->fs);
	seg_to_kvm(&k.gs, &s->gs);
	seg_to_kvm(&k.ss, &s->ss);
	seg_to_kvm(&k.tr, &s->tr);
	seg_to_kvm(&k.ldt, &s->ldt);
	k.gdt.base = s->gdt.base;
	k.gdt.limit = s->gdt.limit;
	k.idt.base = s->idt.base;
	k.idt.limit = s->idt.limit;
	k.cr0 = s->cr0;
	k.cr2 = s->cr2;
	k.cr3 = s->cr3;
	k.cr4 = s->cr4;
	k.cr8 = s->cr8;
	k.efer = s->efer;
	k.apic_base = s->apic_base;
	return ioctl(vcpu, KVM_SET_SREGS, &k) ? -errno : 0;
}

static bool is_kvm(const struct backend *b)
{
	return b->name[1] == 'V';	/* "KVM" */
}

static int be_set_msrs(struct backend *b, const uint64_t *vals)
{
	struct {
		struct kvisor_msrs h;	/* struct kvm_msrs: the same layout */
		struct kvisor_msr_entry e[NR_FINAL_MSRS];
	} m;
	unsigned int i;
	int r;

	memset(&m, 0, sizeof(m));
	m.h.nmsrs = NR_FINAL_MSRS;
	for (i = 0; i < NR_FINAL_MSRS; i++) {
		m.e[i].index = msrs[i].idx;
		m.e[i].data = vals[i];
	}
	r = ioctl(b->vcpu, is_kvm(b) ? KVM_SET_MSRS : KVISOR_SET_MSRS, &m);
	return r == NR_FINAL_MSRS ? 0 : -1;
}

static int be_get_msrs(struct backend *b, uint64_t *vals)
{
	struct {
		struct kvisor_msrs h;
		struct kvisor_msr_entry e[NR_FINAL_MSRS];
	} m;
	unsigned int i;
	int r;

	memset(&m, 0, sizeof(m));
	m.h.nmsrs = NR_FINAL_MSRS;
	for (i = 0; i < NR_FINAL_MSRS; i++)
		m.e[i].index = msrs[i].idx;
	r = ioctl(b->vcpu, is_kvm(b) ? KVM_GET_MSRS : KVISOR_GET_MSRS, &m);
	for (i = 0; i < NR_FINAL_MSRS; i++)
		vals[i] = m.e[i].data;
	return r == NR_FINAL_MSRS ? 0 : -1;
}

/* The MSRs' values at the start of every program. */
static uint64_t msr_init[NR_FINAL_MSRS];

static void msr_init_values(const struct kvisor_sregs *s)
{
	unsigned int i;

	for (i = 0; i < NR_FINAL_MSRS; i++)
		msr_init[i] = msrs[i].idx == 0x277 ? 0x0007040600070406ull :
			      msrs[i].idx == 0xc0000080 ? s->efer : 0;
}

static const uint8_t *base_image;	/* guest RAM as the first program sees it */
static struct kvisor_sregs base_sregs;

static int kvm_open_backend(struct backend *b)
{
	struct kvm_userspace_memory_region mr = { 0 };
	int r;

	b->name = "KVM";
	b->sys = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (b->sys < 0)
		return -errno;
	b->vm = ioctl(b->sys, KVM_CREATE_VM, 0);
	if (b->vm < 0)
		return -errno;
	ioctl(b->vm, KVM_SET_TSS_ADDR, 0xfffbd000ul);
	b->mem = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (b->mem == MAP_FAILED)
		return -ENOMEM;
	memcpy(b->mem, base_image, GUEST_MEM_SIZE);
	mr.memory_size = GUEST_MEM_SIZE;
	mr.userspace_addr = (uintptr_t)b->mem;
	if (ioctl(b->vm, KVM_SET_USER_MEMORY_REGION, &mr))
		return -errno;
	b->vcpu = ioctl(b->vm, KVM_CREATE_VCPU, 0);
	if (b->vcpu < 0)
		return -errno;
	b->run_size = ioctl(b->sys, KVM_GET_VCPU_MMAP_SIZE, 0);
	b->run = mmap(NULL, b->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, b->vcpu, 0);
	if (b->run == MAP_FAILED)
		return -errno;
	r = kvm_cpuid_set(b->vcpu);
	if (r)
		return r;
	return kvm_sregs_set(b->vcpu, &base_sregs);
}

static void kvm_close_backend(struct backend *b)
{
	if (b->run && b->run != MAP_FAILED)
		munmap(b->run, b->run_size);
	if (b->vcpu >= 0)
		close(b->vcpu);
	if (b->vm >= 0)
		close(b->vm);
	if (b->sys >= 0)
		close(b->sys);
	if (b->mem && b->mem != MAP_FAILED)
		munmap(b->mem, GUEST_MEM_SIZE);
}

static int be_run(struct backend *b, struct exit_info *x)
{
	memset(x, 0, sizeof(*x));
	if (is_kvm(b)) {
		struct kvm_run *run = b->run;

		if (ioctl(b->vcpu, KVM_RUN, 0))
			return -errno;
		x->reason = run->exit_reason;
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			x->kind = X_IO;
			x->in = run->io.direction == KVM_EXIT_IO_IN;
			x->size = run->io.size;
			x->port = run->io.port;
			x->count = run->io.count;
			x->data = (uint8_t *)run + run->io.data_offset;
			break;
		case KVM_EXIT_MMIO:
			x->kind = X_MMIO;
			x->in = !run->mmio.is_write;
			x->size = run->mmio.len;
			x->addr = run->mmio.phys_addr;
			x->data = run->mmio.data;
			break;
		case KVM_EXIT_HLT:
			x->kind = X_HLT;
			break;
		default:
			x->kind = X_OTHER;
			break;
		}
		return 0;
	} else {
		struct kvisor_run *run = b->run;

		if (ioctl(b->vcpu, KVISOR_RUN, 0))
			return -errno;
		x->reason = run->exit_reason;
		switch (run->exit_reason) {
		case KVISOR_EXIT_IO:
			x->kind = X_IO;
			x->in = run->io.direction == KVISOR_EXIT_IO_IN;
			x->size = run->io.size;
			x->port = run->io.port;
			x->count = run->io.count;
			x->data = (uint8_t *)run + run->io.data_offset;
			break;
		case KVISOR_EXIT_MMIO:
			x->kind = X_MMIO;
			x->in = !run->mmio.is_write;
			x->size = run->mmio.len;
			x->addr = run->mmio.phys_addr;
			x->data = run->mmio.data;
			break;
		case KVISOR_EXIT_HLT:
			x->kind = X_HLT;
			break;
		default:
			x->kind = X_OTHER;
			break;
		}
		return 0;
	}
}

/* KVM and kvisor share struct kvm_regs' layout for GET/SET_REGS. */
static int be_regs(struct backend *b, struct kvisor_regs *r, bool set)
{
	unsigned long req = is_kvm(b) ? (set ? KVM_SET_REGS : KVM_GET_REGS) :
			    (set ? KVISOR_SET_REGS : KVISOR_GET_REGS);

	return ioctl(b->vcpu, req, r) ? -errno : 0;
}

static int be_sregs_get(struct backend *b, uint64_t *cr0, uint64_t *cr3,
			uint64_t *cr4, uint64_t *efer)
{
	if (is_kvm(b)) {
		struct kvm_sregs k;

		if (ioctl(b->vcpu, KVM_GET_SREGS, &k))
			return -errno;
		*cr0 = k.cr0; *cr3 = k.cr3; *cr4 = k.cr4; *efer = k.efer;
	} else {
		struct kvisor_sregs s;

		if (ioctl(b->vcpu, KVISOR_GET_SREGS, &s))
			return -errno;
		*cr0 = s.cr0; *cr3 = s.cr3; *cr4 = s.cr4; *efer = s.efer;
	}
	return 0;
}

/* Run one program from the base state; fill @t.  0, or -errno of an ioctl. */
static int run_prog(struct backend *b, const struct prog *p, struct trace *t,
		    bool verbose)
{
	struct kvisor_regs r = p->regs;
	unsigned int k = 0, i;
	struct exit_info x;
	struct ev e;
	int err;

	memset(t, 0, offsetof(struct trace, hlt));
	free(t->mem);
	t->mem = NULL;
	t->nhlt = 0;
	t->ended = false;
	t->exits = 0;
	memcpy(b->mem + CODE_GPA, base_image + CODE_GPA, STACK_TOP - CODE_GPA);
	memcpy(b->mem + CODE_GPA, p->code, p->len);
	err = is_kvm(b) ? kvm_sregs_set(b->vcpu, &base_sregs) :
			  vcpu_set_sregs(&b->kvcpu, &base_sregs);
	if (err)
		return err;
	if (be_set_msrs(b, msr_init))
		return -EIO;
	err = be_regs(b, &r, true);
	if (err)
		return err;

	for (;;) {
		if (t->exits++ >= MAX_EXITS) {
			memset(&e, 0, sizeof(e));
			e.kind = EV_RUNAWAY;
			ev_add(t, &e);
			break;
		}
		err = be_run(b, &x);
		if (err)
			return err;
		memset(&e, 0, sizeof(e));
		if (x.kind == X_IO) {
			for (i = 0; i < x.count; i++) {
				uint8_t *d = x.data + i * x.size;
				uint64_t v = 0;

				e.kind = EV_IO;
				e.in = x.in;
				e.size = x.size;
				e.port = x.port;
				if (x.in) {
					v = answer(p->seed, k++);
					memcpy(d, &v, x.size);
				} else {
					memcpy(&v, d, x.size);
				}
				e.data = v & (x.size == 4 ? 0xffffffffull :
					      (1ull << (8 * x.size)) - 1);
				ev_add(t, &e);
			}
			if (verbose)
				printf("#   %s: %s port %#x size %u count %u\n", b->name,
				       x.in ? "IN" : "OUT", x.port, x.size, x.count);
			continue;
		}
		if (x.kind == X_MMIO) {
			uint64_t v = 0;

			e.kind = EV_MMIO;
			e.in = x.in;
			e.size = x.size;
			e.addr = x.addr;
			if (x.in) {
				v = answer(p->seed, k++);
				memcpy(x.data, &v, 8);
			} else {
				memcpy(&v, x.data, x.size <= 8 ? x.size : 8);
			}
			e.data = x.size >= 8 ? v : v & ((1ull << (8 * x.size)) - 1);
			ev_add(t, &e);
			if (verbose)
				printf("#   %s: MMIO %s %#llx len %u data %#llx\n", b->name,
				       x.in ? "read" : "write", (unsigned long long)x.addr,
				       x.size, (unsigned long long)e.data);
			continue;
		}
		if (x.kind == X_HLT) {
			err = be_regs(b, &r, false);
			if (err)
				return err;
			if (verbose)
				printf("#   %s: HLT rip %#llx\n", b->name,
				       (unsigned long long)r.rip);
			if (r.rip == p->end_rip) {
				t->ended = true;
				break;
			}
			e.kind = EV_HLT;
			e.hlt = t->nhlt;
			if (t->nhlt < MAX_HLT)
				t->hlt[t->nhlt++] = r;
			ev_add(t, &e);
			continue;
		}
		e.kind = EV_OTHER;
		e.reason = x.reason;
		ev_add(t, &e);
		if (verbose)
			printf("#   %s: exit reason %u\n", b->name, x.reason);
		break;
	}
	err = be_regs(b, &t->regs, false);
	if (err)
		return err;
	err = be_sregs_get(b, &t->cr0, &t->cr3, &t->cr4, &t->efer);
	if (err)
		return err;
	if (be_get_msrs(b, t->msr))
		return -EIO;
	t->mem_hash = fnv(b->mem + HASH_START, HASH_END - HASH_START);
	if (verbose) {
		t->mem = malloc(HASH_END - HASH_START);
		if (t->mem)
			memcpy(t->mem, b->mem + HASH_START, HASH_END - HASH_START);
	}
	return 0;
}

/* ---------------------------------------------------------------- */
/* Comparison                                                        */
/* ---------------------------------------------------------------- */

static const char *const reg_names[18] = {
	"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rsp", "rbp", "r8", "r9",
	"r10", "r11", "r12", "r13", "r14", "r15", "rip", "rflags",
};

static const char *ev_kind[] = { "?", "io", "mmio", "hlt", "other", "runaway" };

/*
 * The exit reasons both return for the same thing: kvisor's numbers to
 * KVM's, for EV_OTHER.
 */
static uint32_t other_reason(uint32_t kvisor_reason)
{
	switch (kvisor_reason) {
	case KVISOR_EXIT_SHUTDOWN:
		return KVM_EXIT_SHUTDOWN;
	case KVISOR_EXIT_FAIL_ENTRY:
		return KVM_EXIT_FAIL_ENTRY;
	case KVISOR_EXIT_INTERNAL_ERROR:
		return KVM_EXIT_INTERNAL_ERROR;
	default:
		return 1000 + kvisor_reason;
	}
}

static bool regs_diff(const struct kvisor_regs *a, const struct kvisor_regs *b,
		      char *why, size_t len)
{
	const uint64_t *x = (const uint64_t *)a, *y = (const uint64_t *)b;
	int i;

	for (i = 0; i < 18; i++) {
		if (x[i] != y[i]) {
			snprintf(why, len, "%s: kvisor %#llx, KVM %#llx", reg_names[i],
				 (unsigned long long)x[i], (unsigned long long)y[i]);
			return true;
		}
	}
	return false;
}

/* The first divergence, described in @why; false when none. */
static bool compare(const struct trace *a, const struct trace *b, char *why,
		    size_t len)
{
	unsigned int i, n = a->n < b->n ? a->n : b->n;
	char sub[160];

	for (i = 0; i < n; i++) {
		const struct ev *x = &a->ev[i], *y = &b->ev[i];

		if (x->kind == EV_OTHER && y->kind == EV_OTHER &&
		    other_reason(x->reason) == y->reason)
			continue;
		if (x->kind != y->kind || x->in != y->in || x->size != y->size ||
		    x->port != y->port || x->addr != y->addr || x->data != y->data ||
		    (x->kind == EV_OTHER && x->reason != y->reason)) {
			snprintf(why, len, "event %u: kvisor %s %s port %#x addr %#llx size %u "
				 "data %#llx reason %u; KVM %s %s port %#x addr %#llx size %u "
				 "data %#llx reason %u", i,
				 ev_kind[x->kind], x->in ? "in" : "out", x->port,
				 (unsigned long long)x->addr, x->size,
				 (unsigned long long)x->data, x->reason,
				 ev_kind[y->kind], y->in ? "in" : "out", y->port,
				 (unsigned long long)y->addr, y->size,
				 (unsigned long long)y->data, y->reason);
			return true;
		}
		if (x->kind == EV_HLT && x->hlt < MAX_HLT && y->hlt < MAX_HLT &&
		    regs_diff(&a->hlt[x->hlt], &b->hlt[y->hlt], sub, sizeof(sub))) {
			snprintf(why, len, "event %u (HLT): %s", i, sub);
			return true;
		}
	}
	if (a->n != b->n || a->overflow != b->overflow) {
		snprintf(why, len, "kvisor had %u events, KVM %u", a->n, b->n);
		return true;
	}
	if (a->ended != b->ended) {
		snprintf(why, len, "end reached: kvisor %d, KVM %d", a->ended, b->ended);
		return true;
	}
	if (regs_diff(&a->regs, &b->regs, sub, sizeof(sub))) {
		snprintf(why, len, "final %s", sub);
		return true;
	}
	if (a->cr0 != b->cr0 || a->cr3 != b->cr3 || a->cr4 != b->cr4 || a->efer != b->efer) {
		snprintf(why, len, "final CR0/CR3/CR4/EFER: kvisor %#llx/%#llx/%#llx/%#llx, "
			 "KVM %#llx/%#llx/%#llx/%#llx",
			 (unsigned long long)a->cr0, (unsigned long long)a->cr3,
			 (unsigned long long)a->cr4, (unsigned long long)a->efer,
			 (unsigned long long)b->cr0, (unsigned long long)b->cr3,
			 (unsigned long long)b->cr4, (unsigned long long)b->efer);
		return true;
	}
	for (i = 0; i < NR_FINAL_MSRS; i++) {
		if (a->msr[i] != b->msr[i]) {
			snprintf(why, len, "final MSR %#x: kvisor %#llx, KVM %#llx",
				 msrs[i].idx, (unsigned long long)a->msr[i],
				 (unsigned long long)b->msr[i]);
			return true;
		}
	}
	if (a->mem_hash != b->mem_hash) {
		snprintf(why, len, "memory %#x-%#x differs", HASH_START, HASH_END);
		for (i = 0; a->mem && b->mem && i < HASH_END - HASH_START; i++) {
			if (a->mem[i] != b->mem[i]) {
				snprintf(why, len, "memory at %#x: kvisor %02x %02x %02x %02x "
					 "%02x %02x %02x %02x, KVM %02x %02x %02x %02x %02x %02x "
					 "%02x %02x", HASH_START + (i & ~7u),
					 a->mem[i & ~7u], a->mem[(i & ~7u) + 1],
					 a->mem[(i & ~7u) + 2], a->mem[(i & ~7u) + 3],
					 a->mem[(i & ~7u) + 4], a->mem[(i & ~7u) + 5],
					 a->mem[(i & ~7u) + 6], a->mem[(i & ~7u) + 7],
					 b->mem[i & ~7u], b->mem[(i & ~7u) + 1],
					 b->mem[(i & ~7u) + 2], b->mem[(i & ~7u) + 3],
					 b->mem[(i & ~7u) + 4], b->mem[(i & ~7u) + 5],
					 b->mem[(i & ~7u) + 6], b->mem[(i & ~7u) + 7]);
				break;
			}
		}
		return true;
	}
	return false;
}

/* ---------------------------------------------------------------- */
/* The test                                                         */
/* ---------------------------------------------------------------- */

static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

static const char *kvm_module(void)
{
	return cpu_virt() == CPU_VIRT_SVM ? "kvm-amd" : "kvm-intel";
}

EMPTY_FIXTURE(diff)

TEST_F_TIMEOUT(diff, kvisor_vs_kvm, 580)
{
	uint64_t seed = env_u64("KVISOR_DIFF_SEED", 0x6466666b);
	uint64_t only = env_u64("KVISOR_DIFF_PROG", 0);
	unsigned int n = env_u64("KVISOR_DIFF_N", box_is_bochs() ? 300 : 1000);
	unsigned int batch = 100, start, i, events = 0, hlts = 0, exits = 0;
	unsigned int ended = 0, other = 0;
	struct backend kv, km;
	struct timespec t0, t1;
	struct trace *ta, *tb;
	struct prog *progs;
	uint8_t *image;
	char why[512];
	int r;

	cpuid_table_init();
	if (only && getenv("KVISOR_DIFF_DUMP")) {
		/* the program's code, for objdump -D -b binary -mi386:x86-64 */
		FILE *f = fopen(getenv("KVISOR_DIFF_DUMP"), "w");
		struct prog *p = calloc(1, sizeof(*p));

		ASSERT_TRUE(f && p);
		gen_prog(p, only);
		ASSERT_EQ(p->len, fwrite(p->code, 1, p->len, f));
		fclose(f);
		free(p);
		return;
	}
	if (cpu_virt() == CPU_VIRT_NONE)
		SKIP(return, "no VT-x or AMD-V in this box");
	if (only)
		n = 1;

	/* The base image and state, built once by the selftest library. */
	memset(&kv, 0, sizeof(kv));
	kv.name = "kvisor";
	VM_CREATE_OR_SKIP(&kv.kv);
	ASSERT_EQ(0, vcpu_add(&kv.kv, &kv.kvcpu, 0));
	ASSERT_EQ(0, kvisor_cpuid_set(kv.kvcpu.fd));
	ASSERT_EQ(0, vcpu_setup_mode(&kv.kvcpu, MODE_LONG, CODE_GPA));
	vm_load(&kv.kv, STUBS_GPA, diff_stubs, GUEST_LEN(diff_stubs));
	ASSERT_EQ(0, vcpu_get_sregs(&kv.kvcpu, &base_sregs));
	msr_init_values(&base_sregs);
	image = malloc(GUEST_MEM_SIZE);
	ASSERT_NE(NULL, image);
	memcpy(image, kv.kv.mem, GUEST_MEM_SIZE);
	base_image = image;
	vcpu_close(&kv.kvcpu);
	vm_destroy(&kv.kv);

	if (run_modprobe(kvm_module()) || access("/dev/kvm", F_OK))
		SKIP(return, "cannot load %s", kvm_module());

	/* the box's clock (Bochs: emulated time): a figure, never asserted */
	clock_gettime(CLOCK_MONOTONIC, &t0);
	progs = calloc(batch, sizeof(*progs));
	ta = calloc(batch, sizeof(*ta));
	tb = calloc(batch, sizeof(*tb));
	ASSERT_TRUE(progs && ta && tb);

	for (start = 0; start < n; start += batch) {
		unsigned int cnt = n - start < batch ? n - start : batch;

		for (i = 0; i < cnt; i++) {
			uint64_t s = seed + start + i;

			gen_prog(&progs[i], only ? only : splitmix(&s));
		}

		/* kvisor: one VM for the batch */
		memset(&kv, 0, sizeof(kv));
		kv.name = "kvisor";
		ASSERT_EQ(0, vm_create(&kv.kv));
		ASSERT_EQ(0, vcpu_add(&kv.kv, &kv.kvcpu, 0));
		ASSERT_EQ(0, kvisor_cpuid_set(kv.kvcpu.fd));
		memcpy(kv.kv.mem, base_image, GUEST_MEM_SIZE);
		kv.vcpu = kv.kvcpu.fd;
		kv.run = kv.kvcpu.run;
		kv.mem = kv.kv.mem;
		for (i = 0; i < cnt; i++) {
			r = run_prog(&kv, &progs[i], &ta[i], !!only);
			ASSERT_EQ(0, r) TH_LOG("kvisor, program %#llx: %s",
					       (unsigned long long)progs[i].seed, strerror(-r));
		}
		vcpu_close(&kv.kvcpu);
		vm_destroy(&kv.kv);

		/* KVM: one VM for the batch, once kvisor let go of the hardware */
		memset(&km, 0, sizeof(km));
		km.vcpu = km.vm = km.sys = -1;
		r = kvm_open_backend(&km);
		ASSERT_EQ(0, r) TH_LOG("KVM setup: %s", strerror(-r));
		for (i = 0; i < cnt; i++) {
			r = run_prog(&km, &progs[i], &tb[i], !!only);
			ASSERT_EQ(0, r) TH_LOG("KVM, program %#llx: %s",
					       (unsigned long long)progs[i].seed, strerror(-r));
		}
		kvm_close_backend(&km);

		for (i = 0; i < cnt; i++) {
			events += ta[i].n;
			exits += ta[i].exits;
			hlts += ta[i].nhlt;
			ended += ta[i].ended;
			other += ta[i].n && ta[i].ev[ta[i].n - 1].kind == EV_OTHER;
			if (compare(&ta[i], &tb[i], why, sizeof(why))) {
				printf("# divergence in program %u (seed %#llx, %u ops, %zu bytes): %s\n",
				       start + i, (unsigned long long)progs[i].seed,
				       progs[i].nops, progs[i].len, why);
				printf("# reproduce: KVISOR_DIFF_PROG=%#llx %s\n",
				       (unsigned long long)progs[i].seed, "diff_test");
				fflush(stdout);
				ASSERT_TRUE(false) TH_LOG("kvisor and KVM diverge: %s", why);
			}
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	printf("# %u programs (seed %#llx): %u exits under kvisor, %u events compared "
	       "(%u HLT register sets), %u reached the end, %u stopped on another exit; "
	       "no divergence; %ld s by the box's clock\n", n, (unsigned long long)seed,
	       exits, events, hlts, ended, other, (long)(t1.tv_sec - t0.tv_sec));
	fflush(stdout);
	free(progs);
	free(ta);
	free(tb);
	free(image);
	run_modprobe(cpu_virt() == CPU_VIRT_SVM ? "-r kvm-amd" : "-r kvm-intel");
}

TEST_HARNESS_MAIN
