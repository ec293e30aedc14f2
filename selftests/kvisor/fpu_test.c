// SPDX-License-Identifier: GPL-2.0
/*
 * FPU/SSE state stays with its owner.  A guest fills XMM0-15, MXCSR, the
 * x87 control word and ST0 with its own values and checks them after
 * every exit; the vCPU thread holds other values in the same registers
 * across each KVISOR_RUN (the syscall is made from inline asm, so
 * nothing but the kernel can touch them) and checks them when RUN
 * returns; and a bystander process pinned to the same CPU yields in a
 * loop with a third set, so that every context switch saves and restores
 * all three.  Variants: the guest without XSAVE, and with CR4.OSXSAVE
 * and an XCR0 other than the host's, which kvisor must switch around
 * every entry: a guest XCR0 left on the CPU makes the host's next
 * XRSTORS fault ("Bad FPU state", which the test also looks for).
 * Where the host has AVX, all three also hold the upper halves of
 * YMM0-15, and a third variant gives the guest XCR0 = x87+SSE+AVX.  A
 * fourth has the guest turn on CR4.OSXSAVE itself before its XSETBV
 * (QEMU's SVM intercepts neither), and every variant checks the host's
 * XCR0 when RUN returns.
 */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "vm.h"

#define NR_EXITS	300
#define SCRATCH		"0x20000"	/* DATA_GPA */

/* xmmN = { rbx + N, ~(rbx + N) } */
#define LOADX(n)							\
	"lea rax, [rbx + " #n "]\n"					\
	"mov [" SCRATCH " + 0x20], rax\n"				\
	"not rax\n"							\
	"mov [" SCRATCH " + 0x28], rax\n"				\
	"movdqu xmm" #n ", [" SCRATCH " + 0x20]\n"
#define CHECKX(n)							\
	"movdqu [" SCRATCH " + 0x20], xmm" #n "\n"			\
	"lea rax, [rbx + " #n "]\n"					\
	"cmp [" SCRATCH " + 0x20], rax\n"				\
	"mov eax, " #n "\n"						\
	"jne 9f\n"							\
	"lea rax, [rbx + " #n "]\n"					\
	"not rax\n"							\
	"cmp [" SCRATCH " + 0x28], rax\n"				\
	"mov eax, " #n "\n"						\
	"jne 9f\n"

/* The upper half of ymmN = { ror(rbx + N, 17), ~ror(rbx + N, 17) } */
#define LOADY(n)							\
	"lea rax, [rbx + " #n "]\n"					\
	"ror rax, 17\n"							\
	"mov [" SCRATCH " + 0x30], rax\n"				\
	"not rax\n"							\
	"mov [" SCRATCH " + 0x38], rax\n"				\
	"vinsertf128 ymm" #n ", ymm" #n ", xmmword ptr [" SCRATCH " + 0x30], 1\n"
#define CHECKY(n)							\
	"vextractf128 xmmword ptr [" SCRATCH " + 0x30], ymm" #n ", 1\n"	\
	"lea rax, [rbx + " #n "]\n"					\
	"ror rax, 17\n"							\
	"cmp [" SCRATCH " + 0x30], rax\n"				\
	"mov eax, 19 + " #n "\n"					\
	"jne 9f\n"							\
	"lea rax, [rbx + " #n "]\n"					\
	"ror rax, 17\n"							\
	"not rax\n"							\
	"cmp [" SCRATCH " + 0x38], rax\n"				\
	"mov eax, 19 + " #n "\n"					\
	"jne 9f\n"

/*
 * rbx: seed; r12: number of OUTs; r13: XCR0 to set (0: leave XSAVE off;
 * with bit 2, AVX, the YMM upper halves are checked too); r14 non-zero:
 * set CR4.OSXSAVE itself first (a MOV to CR4 need not exit) and OUT 0x14
 * right after the XSETBV, so that this exit goes to userspace.  OUT 0x10
 * <count left> per round; OUT 0x11 <what> on a mismatch (0-15 XMMn,
 * 16 MXCSR, 17 x87 control word, 18 ST0, 19-34 upper half of YMM0-15);
 * HLT at the end.
 */
GUEST_ASM(g_fpu,
	"test r14, r14\n"
	"jz 1f\n"
	"mov rax, cr4\n"
	"bts rax, 18\n"
	"mov cr4, rax\n"
	"1: test r13, r13\n"
	"jz 1f\n"
	"mov rax, r13\n"
	"xor edx, edx\n"
	"xor ecx, ecx\n"
	"xsetbv\n"
	"test r14, r14\n"
	"jz 1f\n"
	"out 0x14, eax\n"
	"1: mov dword ptr [" SCRATCH "], 0xdf80\n"	/* masks, FTZ, round up */
	"ldmxcsr [" SCRATCH "]\n"
	"fninit\n"
	"mov word ptr [" SCRATCH " + 4], 0x027f\n"	/* 53-bit precision */
	"fldcw [" SCRATCH " + 4]\n"
	"mov [" SCRATCH " + 8], rbx\n"
	"fild qword ptr [" SCRATCH " + 8]\n"
	LOADX(0) LOADX(1) LOADX(2) LOADX(3) LOADX(4) LOADX(5) LOADX(6)
	LOADX(7) LOADX(8) LOADX(9) LOADX(10) LOADX(11) LOADX(12) LOADX(13)
	LOADX(14) LOADX(15)
	"test r13d, 4\n"
	"jz 2f\n"
	LOADY(0) LOADY(1) LOADY(2) LOADY(3) LOADY(4) LOADY(5) LOADY(6)
	LOADY(7) LOADY(8) LOADY(9) LOADY(10) LOADY(11) LOADY(12) LOADY(13)
	LOADY(14) LOADY(15)
	"2: mov eax, r12d\n"
	"out 0x10, eax\n"
	CHECKX(0) CHECKX(1) CHECKX(2) CHECKX(3) CHECKX(4) CHECKX(5) CHECKX(6)
	CHECKX(7) CHECKX(8) CHECKX(9) CHECKX(10) CHECKX(11) CHECKX(12)
	CHECKX(13) CHECKX(14) CHECKX(15)
	"test r13d, 4\n"
	"jz 3f\n"
	CHECKY(0) CHECKY(1) CHECKY(2) CHECKY(3) CHECKY(4) CHECKY(5) CHECKY(6)
	CHECKY(7) CHECKY(8) CHECKY(9) CHECKY(10) CHECKY(11) CHECKY(12)
	CHECKY(13) CHECKY(14) CHECKY(15)
	"3: stmxcsr [" SCRATCH "]\n"
	"cmp dword ptr [" SCRATCH "], 0xdf80\n"
	"mov eax, 16\n"
	"jne 9f\n"
	"fnstcw [" SCRATCH " + 4]\n"
	"cmp word ptr [" SCRATCH " + 4], 0x027f\n"
	"mov eax, 17\n"
	"jne 9f\n"
	"fistp qword ptr [" SCRATCH " + 16]\n"
	"fild qword ptr [" SCRATCH " + 16]\n"
	"cmp [" SCRATCH " + 16], rbx\n"
	"mov eax, 18\n"
	"jne 9f\n"
	"dec r12\n"
	"jnz 2b\n"
	"hlt\n"
	"9: out 0x11, eax\n"
	"hlt\n");

#define XMM_LOAD_ALL(p)							\
	"movdqu   0(" p "), %%xmm0\n"  "movdqu  16(" p "), %%xmm1\n"	\
	"movdqu  32(" p "), %%xmm2\n"  "movdqu  48(" p "), %%xmm3\n"	\
	"movdqu  64(" p "), %%xmm4\n"  "movdqu  80(" p "), %%xmm5\n"	\
	"movdqu  96(" p "), %%xmm6\n"  "movdqu 112(" p "), %%xmm7\n"	\
	"movdqu 128(" p "), %%xmm8\n"  "movdqu 144(" p "), %%xmm9\n"	\
	"movdqu 160(" p "), %%xmm10\n" "movdqu 176(" p "), %%xmm11\n"	\
	"movdqu 192(" p "), %%xmm12\n" "movdqu 208(" p "), %%xmm13\n"	\
	"movdqu 224(" p "), %%xmm14\n" "movdqu 240(" p "), %%xmm15\n"
#define XMM_STORE_ALL(p)						\
	"movdqu %%xmm0,    0(" p ")\n" "movdqu %%xmm1,   16(" p ")\n"	\
	"movdqu %%xmm2,   32(" p ")\n" "movdqu %%xmm3,   48(" p ")\n"	\
	"movdqu %%xmm4,   64(" p ")\n" "movdqu %%xmm5,   80(" p ")\n"	\
	"movdqu %%xmm6,   96(" p ")\n" "movdqu %%xmm7,  112(" p ")\n"	\
	"movdqu %%xmm8,  128(" p ")\n" "movdqu %%xmm9,  144(" p ")\n"	\
	"movdqu %%xmm10, 160(" p ")\n" "movdqu %%xmm11, 176(" p ")\n"	\
	"movdqu %%xmm12, 192(" p ")\n" "movdqu %%xmm13, 208(" p ")\n"	\
	"movdqu %%xmm14, 224(" p ")\n" "movdqu %%xmm15, 240(" p ")\n"
/* The upper halves of YMM0-15 from/to 256(p), if %[avx] is non-zero. */
#define YMMH_LOAD_ALL(p)						\
	"testl %[avx], %[avx]\n" "jz 7f\n"				\
	YMMH_LOAD(0, p) YMMH_LOAD(1, p) YMMH_LOAD(2, p) YMMH_LOAD(3, p)	\
	YMMH_LOAD(4, p) YMMH_LOAD(5, p) YMMH_LOAD(6, p) YMMH_LOAD(7, p)	\
	YMMH_LOAD(8, p) YMMH_LOAD(9, p) YMMH_LOAD(10, p) YMMH_LOAD(11, p)	\
	YMMH_LOAD(12, p) YMMH_LOAD(13, p) YMMH_LOAD(14, p)		\
	YMMH_LOAD(15, p) "7:\n"
#define YMMH_LOAD(n, p)							\
	"vinsertf128 $1, 256 + 16 * " #n "(" p "), %%ymm" #n ", %%ymm" #n "\n"
#define YMMH_STORE_ALL(p)						\
	"testl %[avx], %[avx]\n" "jz 8f\n"				\
	YMMH_STORE(0, p) YMMH_STORE(1, p) YMMH_STORE(2, p) YMMH_STORE(3, p)	\
	YMMH_STORE(4, p) YMMH_STORE(5, p) YMMH_STORE(6, p) YMMH_STORE(7, p)	\
	YMMH_STORE(8, p) YMMH_STORE(9, p) YMMH_STORE(10, p)		\
	YMMH_STORE(11, p) YMMH_STORE(12, p) YMMH_STORE(13, p)		\
	YMMH_STORE(14, p) YMMH_STORE(15, p) "8:\n"
#define YMMH_STORE(n, p)						\
	"vextractf128 $1, %%ymm" #n ", 256 + 16 * " #n "(" p ")\n"
#define XMM_CLOBBERS							\
	"xmm0", "xmm1", "xmm2", "xmm3", "xmm4", "xmm5", "xmm6", "xmm7",	\
	"xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13", "xmm14", "xmm15"

struct fpu_regs {
	uint8_t xmm[256];
	uint8_t ymmh[256];	/* only where the host has AVX */
	uint32_t mxcsr;
};

/* CPUID.1:ECX.OSXSAVE: the host kernel has CR4.OSXSAVE on (XGETBV works). */
static bool host_osxsave(void)
{
	uint32_t c[4];

	cpuid_count(1, 0, c);
	return c[2] & (1u << 27);
}

/* XCR0 as this thread sees it; 0 if @osxsave (host_osxsave()) is false. */
static uint64_t xcr0_now(bool osxsave)
{
	uint32_t lo, hi;

	if (!osxsave)
		return 0;
	asm volatile("xgetbv" : "=a" (lo), "=d" (hi) : "c" (0));
	return ((uint64_t)hi << 32) | lo;
}

/* AVX usable in user space: CPUID.1:ECX AVX and OSXSAVE, XCR0 SSE+YMM. */
static int host_avx(void)
{
	uint32_t c[4];

	cpuid_count(1, 0, c);
	return (c[2] & (1u << 28)) && (xcr0_now(host_osxsave()) & 6) == 6;
}

static void fill(struct fpu_regs *r, uint8_t seed, uint32_t mxcsr)
{
	unsigned int i;

	for (i = 0; i < sizeof(r->xmm); i++) {
		r->xmm[i] = (uint8_t)(seed + i * 7);
		r->ymmh[i] = (uint8_t)(seed + i * 13 + 1);
	}
	r->mxcsr = mxcsr;
}

/*
 * The first register that differs: 0-15 XMMn, 16 MXCSR, 19-34 the upper
 * half of YMM0-15 (compared only if @avx); -1 if none.
 */
static int differs(const struct fpu_regs *a, const struct fpu_regs *b,
		   int avx)
{
	int i;

	for (i = 0; i < 16; i++)
		if (memcmp(a->xmm + 16 * i, b->xmm + 16 * i, 16))
			return i;
	if (a->mxcsr != b->mxcsr)
		return 16;
	for (i = 0; avx && i < 16; i++)
		if (memcmp(a->ymmh + 16 * i, b->ymmh + 16 * i, 16))
			return 19 + i;
	return -1;
}

/*
 * KVISOR_RUN with @in in XMM0-15 and MXCSR (and the YMM upper halves if
 * @avx) over the whole syscall; what the registers hold when it returns
 * goes to @out.  The host's default MXCSR is put back afterwards.
 * Returns the syscall's result.
 */
static long run_holding(int fd, const struct fpu_regs *in,
			struct fpu_regs *out, int avx)
{
	const uint32_t dflt = 0x1f80;
	long ret = SYS_ioctl;

	asm volatile(XMM_LOAD_ALL("%[in]")
		     YMMH_LOAD_ALL("%[in]")
		     "ldmxcsr 512(%[in])\n"
		     "syscall\n"
		     XMM_STORE_ALL("%[out]")
		     YMMH_STORE_ALL("%[out]")
		     "stmxcsr 512(%[out])\n"
		     "ldmxcsr %[dflt]\n"
		     : "+a" (ret)
		     : "D" ((long)fd), "S" ((long)KVISOR_RUN), "d" (0L),
		       [in] "r" (in), [out] "r" (out), [dflt] "m" (dflt),
		       [avx] "r" (avx)
		     : "rcx", "r11", "memory", "cc", XMM_CLOBBERS);
	return ret;
}

/* One round of the bystander: @n sched_yield()s holding @in. */
static void yield_holding(unsigned int n, const struct fpu_regs *in,
			  struct fpu_regs *out, int avx)
{
	const uint32_t dflt = 0x1f80;
	long nr = n;

	asm volatile(XMM_LOAD_ALL("%[in]")
		     YMMH_LOAD_ALL("%[in]")
		     "ldmxcsr 512(%[in])\n"
		     "1: mov %[sys], %%eax\n"
		     "syscall\n"
		     "dec %[nr]\n"
		     "jnz 1b\n"
		     XMM_STORE_ALL("%[out]")
		     YMMH_STORE_ALL("%[out]")
		     "stmxcsr 512(%[out])\n"
		     "ldmxcsr %[dflt]\n"
		     : [nr] "+r" (nr)
		     : [sys] "i" (SYS_sched_yield), [in] "r" (in),
		       [out] "r" (out), [dflt] "m" (dflt), [avx] "r" (avx)
		     : "rax", "rcx", "r11", "memory", "cc", XMM_CLOBBERS);
}

struct shared {
	volatile int stop;
	volatile int bad_reg;		/* -1: none */
	volatile unsigned long rounds;
};

static int pin_cpu0(void)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(0, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

static void bystander(struct shared *sh, int avx)
{
	struct fpu_regs in, out;

	fill(&in, 0xb5, 0x3f80);	/* masks, round down */
	pin_cpu0();
	while (!sh->stop) {
		yield_holding(20, &in, &out, avx);
		sh->rounds++;
		if (differs(&in, &out, avx) >= 0) {
			sh->bad_reg = differs(&in, &out, avx);
			_exit(1);
		}
	}
	_exit(0);
}

static const char *reg_name(int r)
{
	static const char *const n[] = {
		"XMM0", "XMM1", "XMM2", "XMM3", "XMM4", "XMM5", "XMM6", "XMM7",
		"XMM8", "XMM9", "XMM10", "XMM11", "XMM12", "XMM13", "XMM14",
		"XMM15", "MXCSR", "x87 control word", "ST0", "YMM0 upper half",
		"YMM1 upper half", "YMM2 upper half", "YMM3 upper half",
		"YMM4 upper half", "YMM5 upper half", "YMM6 upper half",
		"YMM7 upper half", "YMM8 upper half", "YMM9 upper half",
		"YMM10 upper half", "YMM11 upper half", "YMM12 upper half",
		"YMM13 upper half", "YMM14 upper half", "YMM15 upper half",
	};

	return r >= 0 && r < (int)(sizeof(n) / sizeof(n[0])) ? n[r] : "?";
}

/*
 * @xcr0: the XCR0 the guest sets (0: none); @guest_cr4: the guest sets
 * CR4.OSXSAVE itself rather than starting with it (SET_SREGS).
 */
static void fpu_apart(struct __test_metadata *_metadata, uint64_t xcr0,
		      bool guest_cr4)
{
	struct fpu_regs in, out;
	struct kvisor_sregs s;
	struct kvisor_regs r;
	struct shared *sh;
	struct vm vm;
	struct vcpu v;
	unsigned int left;
	int status, bad = -1, avx = host_avx();
	bool osxsave = host_osxsave();
	uint64_t host_xcr0 = xcr0_now(osxsave), xcr0_after = host_xcr0;
	pid_t child;

	if (xcr0) {
		uint32_t c[4];

		cpuid_count(1, 0, c);
		if (!(c[2] & (1u << 26)))
			SKIP(return, "no XSAVE on this CPU");
		if ((xcr0 & 4) && !avx)
			SKIP(return, "no AVX in user space on this CPU");
	}
	GUEST_SETUP(&vm, &v, MODE_LONG, g_fpu);
	if (xcr0 && !guest_cr4) {
		ASSERT_EQ(0, vcpu_get_sregs(&v, &s));
		s.cr4 |= 1u << 18;	/* OSXSAVE */
		ASSERT_EQ(0, vcpu_set_sregs(&v, &s));
	}
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	r.rbx = 0x0123456789abcdefull;
	r.r12 = NR_EXITS;
	r.r13 = xcr0;
	r.r14 = guest_cr4;
	ASSERT_EQ(0, vcpu_set_regs(&v, &r));

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
	sh->bad_reg = -1;
	kmsg_mark("fpu_test");
	child = fork();
	ASSERT_LE(0, child);
	if (!child)
		bystander(sh, avx);
	ASSERT_EQ(0, pin_cpu0());

	fill(&in, 0x5a, 0x5f80);	/* masks, round toward zero */
	for (left = NR_EXITS; left;) {
		long ret = run_holding(v.fd, &in, &out, avx);

		xcr0_after = xcr0_now(osxsave);
		bad = differs(&in, &out, avx);
		if (ret || bad >= 0 || xcr0_after != host_xcr0 ||
		    v.run->exit_reason != KVISOR_EXIT_IO)
			break;
		if (v.run->io.port == PORT_REPORT + 4)	/* after XSETBV */
			continue;
		if (v.run->io.port != PORT_REPORT)
			break;
		EXPECT_EQ(left, vcpu_io_value(&v));
		left--;
	}
	sh->stop = 1;
	ASSERT_EQ(child, waitpid(child, &status, 0));

	EXPECT_EQ(-1, bad) TH_LOG("the vCPU thread's %s changed across RUN",
				  reg_name(bad));
	EXPECT_EQ(host_xcr0, xcr0_after) TH_LOG("XCR0 after RUN");
	if (!left) {
		ASSERT_EQ(0, vcpu_run(&v));
	}
	if (v.run->exit_reason == KVISOR_EXIT_IO && v.run->io.port == PORT_REPORT + 1)
		TH_LOG("the guest's %s changed across an exit",
		       reg_name((int)vcpu_io_value(&v)));
	if (v.run->exit_reason == KVISOR_EXIT_IO &&
	    v.run->io.port == PORT_EXC_VECTOR) {
		uint32_t vec = vcpu_io_value(&v), rip;

		EXPECT_OUT(&v, PORT_EXC_ERROR);
		rip = EXPECT_OUT(&v, PORT_EXC_RIP);
		TH_LOG("the guest took exception %u at rip %#x (offset %#lx in g_fpu)",
		       vec, rip, (unsigned long)(rip - CODE_GPA));
	}
	EXPECT_EQ(KVISOR_EXIT_HLT, v.run->exit_reason)
		TH_LOG("after %u of %u exits: %s", NR_EXITS - left, NR_EXITS,
		       vcpu_exit_str(&v));
	EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
		TH_LOG("the bystander's %s changed (status %#x)",
		       reg_name(sh->bad_reg), status);
	EXPECT_FALSE(kmsg_since_mark_has("fpu_test", "Bad FPU state"));
	printf("# %u exits, bystander %lu rounds of 20 yields on the same CPU%s\n",
	       NR_EXITS - left, sh->rounds,
	       avx ? ", YMM upper halves held too" : "");
	fflush(stdout);
	munmap(sh, sizeof(*sh));
	vm_destroy(&vm);
}

TEST(without_xsave)
{
	fpu_apart(_metadata, 0, false);
}

/* x87 and SSE only: unlike the host's XCR0 wherever the host has AVX. */
TEST(guest_xcr0_x87_sse)
{
	fpu_apart(_metadata, 3, false);
}

/* x87, SSE and AVX: the guest's YMM upper halves are checked too. */
TEST(guest_xcr0_avx)
{
	fpu_apart(_metadata, 7, false);
}

/*
 * The guest turns on CR4.OSXSAVE itself and then sets an XCR0 without
 * AVX: XCR0 must be the host's again after every exit, though it was
 * the host's at the entry.
 */
TEST(guest_enables_xsave_x87_sse)
{
	fpu_apart(_metadata, 3, true);
}

TEST_HARNESS_MAIN
