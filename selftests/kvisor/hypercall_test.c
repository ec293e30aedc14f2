// SPDX-License-Identifier: GPL-2.0
/*
 * The hypercall ABI (Documentation/hypercalls.rst, <linux/kvisor_para.h>):
 * the CPUID leaves, every call with good and bad arguments, VMCALL and
 * VMMCALL on either vendor (the foreign one through the #UD intercept,
 * in real mode and across a page boundary too), other #UDs still the
 * guest's, CPL 3 callers refused, unknown numbers refused, 32-bit
 * callers' arguments truncated, and the counters.
 *
 * Most tests set the registers with SET_REGS and run a guest that is
 * only "hypercall; hlt", so that RAX/RDX after the HLT are the results.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/kvisor_para.h>

#include "kselftest_harness.h"
#include "vm.h"

#define NR(a)		(sizeof(a) / sizeof((a)[0]))
#define ERR(e)		((uint64_t)-(int64_t)(e))

/* The calls at fixed places: VMMCALL at CODE_GPA, VMCALL 0x100 after. */
enum insn { VMMCALL, VMCALL };
static const char *const insn_name[] = { "VMMCALL", "VMCALL" };
#define INSN_GPA(i)	(CODE_GPA + 0x100 * (i))

GUEST_ASM(g_vmmcall_hlt, "vmmcall\nhlt\n");
GUEST_ASM(g_vmcall_hlt, "vmcall\nhlt\n");

/* VM + vCPU 0 in @mode with both call sites loaded. */
static void hc_setup(struct __test_metadata *_metadata, struct vm *vm,
		     struct vcpu *v, enum guest_mode mode)
{
	int r;

	ASSERT_EQ(0, vcpu_add(vm, v, 0));
	vm_load(vm, INSN_GPA(VMMCALL), g_vmmcall_hlt, GUEST_LEN(g_vmmcall_hlt));
	vm_load(vm, INSN_GPA(VMCALL), g_vmcall_hlt, GUEST_LEN(g_vmcall_hlt));
	r = vcpu_setup_mode(v, mode, CODE_GPA);
	ASSERT_EQ(0, r) TH_LOG("mode %s: %s", guest_mode_name[mode], strerror(-r));
}

#define HC_SETUP(vm, v, mode) do {					\
	VM_CREATE_OR_SKIP(vm);						\
	hc_setup(_metadata, vm, v, mode);				\
} while (0)

/* Registers for one call with @insn; RIP at its call site. */
static void hc_start(struct __test_metadata *_metadata, struct vcpu *v,
		     enum insn insn, uint64_t nr, uint64_t a0, uint64_t a1,
		     uint64_t a2, uint64_t a3)
{
	struct kvisor_regs r;

	ASSERT_EQ(0, vcpu_get_regs(v, &r));
	r.rip = INSN_GPA(insn);
	r.rax = nr;
	r.rbx = a0;
	r.rcx = a1;
	r.rdx = a2;
	r.rsi = a3;
	r.rflags = 2;
	ASSERT_EQ(0, vcpu_set_regs(v, &r));
}

/* Run to the HLT after the call: no exit to userspace on the way. */
static void hc_finish(struct __test_metadata *_metadata, struct vcpu *v,
		      enum insn insn, struct kvisor_regs *out)
{
	RUN_EXPECT(v, KVISOR_EXIT_HLT);
	ASSERT_EQ(0, vcpu_get_regs(v, out));
	ASSERT_EQ(INSN_GPA(insn) + 4, out->rip) TH_LOG("%s: RIP after the HLT",
						       insn_name[insn]);
}

/* A call the kernel answers: RAX. */
static uint64_t hc_kernel(struct __test_metadata *_metadata, struct vcpu *v,
			  enum insn insn, uint64_t nr, uint64_t a0, uint64_t a1,
			  uint64_t a2, uint64_t a3, struct kvisor_regs *out)
{
	struct kvisor_regs r;

	hc_start(_metadata, v, insn, nr, a0, a1, a2, a3);
	hc_finish(_metadata, v, insn, out ? out : &r);
	return out ? out->rax : r.rax;
}

/* --- detection --------------------------------------------------------- */

GUEST_ASM(g_cpuid_pv,
	"mov eax, 1\n"
	"cpuid\n"
	"mov eax, ecx\n"
	"out 0x10, eax\n"
	"mov eax, 0x40000000\n"
	"cpuid\n"
	"out 0x10, eax\n"
	"mov eax, ebx\n"
	"out 0x10, eax\n"
	"mov eax, ecx\n"
	"out 0x10, eax\n"
	"mov eax, edx\n"
	"out 0x10, eax\n"
	"mov eax, 0x40000001\n"
	"cpuid\n"
	"out 0x10, eax\n"
	"mov eax, ebx\n"
	"out 0x10, eax\n"
	"mov eax, ecx\n"
	"out 0x10, eax\n"
	"mov eax, edx\n"
	"out 0x10, eax\n"
	"hlt\n");

TEST(cpuid_leaves)
{
	const uint32_t features = KVISOR_FEATURE_NOP | KVISOR_FEATURE_CONSOLE |
				  KVISOR_FEATURE_EXIT | KVISOR_FEATURE_CLOCK |
				  KVISOR_FEATURE_ANY_INSN | KVISOR_FEATURE_VMM_RANGE;
	char sig[13] = { 0 };
	uint32_t w[3];
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_cpuid_pv);
	EXPECT_EQ(1u << 31, EXPECT_OUT(&v, PORT_REPORT) & (1u << 31))
		TH_LOG("CPUID.1:ECX[31] (hypervisor present) clear");
	EXPECT_EQ(KVISOR_CPUID_FEATURES, EXPECT_OUT(&v, PORT_REPORT));
	w[0] = EXPECT_OUT(&v, PORT_REPORT);
	w[1] = EXPECT_OUT(&v, PORT_REPORT);
	w[2] = EXPECT_OUT(&v, PORT_REPORT);
	memcpy(sig, w, 12);
	EXPECT_STREQ("KvisorKvisor", sig);
	EXPECT_EQ(KVISOR_CPUID_SIG_EBX, w[0]);
	EXPECT_EQ(KVISOR_CPUID_SIG_ECX, w[1]);
	EXPECT_EQ(KVISOR_CPUID_SIG_EDX, w[2]);
	EXPECT_EQ(features, EXPECT_OUT(&v, PORT_REPORT));
	EXPECT_EQ(KVISOR_HC_CONSOLE_MAX, EXPECT_OUT(&v, PORT_REPORT));
	EXPECT_EQ(0, EXPECT_OUT(&v, PORT_REPORT));
	EXPECT_EQ(0, EXPECT_OUT(&v, PORT_REPORT));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	EXPECT_EQ(1, ioctl(vm.sys_fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_HYPERCALLS));
	vm_destroy(&vm);
}

/* --- the calls the kernel answers ---------------------------------------- */

TEST(nop_both_instructions)
{
	struct kvisor_vcpu_stats st0, st1;
	struct kvisor_regs r;
	struct vm vm;
	struct vcpu v;
	int i, n;

	HC_SETUP(&vm, &v, MODE_LONG);
	ASSERT_EQ(0, vcpu_get_stats(&v, &st0));
	for (n = 0; n < 5; n++)
		for (i = VMMCALL; i <= VMCALL; i++) {
			EXPECT_EQ(0, hc_kernel(_metadata, &v, i, KVISOR_HC_NOP,
					       0x11, 0x22, 0x33, 0x44, &r))
				TH_LOG("%s no-op", insn_name[i]);
			/* the arguments are preserved */
			EXPECT_EQ(0x11, r.rbx);
			EXPECT_EQ(0x22, r.rcx);
			EXPECT_EQ(0x33, r.rdx);
			EXPECT_EQ(0x44, r.rsi);
		}
	ASSERT_EQ(0, vcpu_get_stats(&v, &st1));
	EXPECT_EQ(10, st1.counters[KVISOR_STAT_HYPERCALL] - st0.counters[KVISOR_STAT_HYPERCALL]);
	EXPECT_EQ(10, st1.counters[KVISOR_STAT_HC_KERNEL] - st0.counters[KVISOR_STAT_HC_KERNEL]);
	EXPECT_EQ(10, st1.counters[KVISOR_STAT_HLT] - st0.counters[KVISOR_STAT_HLT]);
	/* the foreign instruction is a hypercall, not an exception */
	EXPECT_EQ(0, st1.counters[KVISOR_STAT_EXCEPTION] - st0.counters[KVISOR_STAT_EXCEPTION]);
	/* exits: 10 hypercalls + 10 HLTs (+ nested page faults of the first) */
	EXPECT_LE(20, st1.counters[KVISOR_STAT_EXITS] - st0.counters[KVISOR_STAT_EXITS]);
	vm_destroy(&vm);
}

TEST(unknown_numbers)
{
	static const uint64_t nrs[] = {
		4, 5, 0xff, 0xffff, KVISOR_HC_VMM_LAST + 1, 0x7fffffff, 0x80000000,
		0xffffffff, 0x100000000ull, 0x100000001ull, 0x8000000000000000ull,
		ERR(1), ~0ull,
	};
	struct kvisor_regs r;
	struct vm vm;
	struct vcpu v;
	unsigned int k;
	int i;

	HC_SETUP(&vm, &v, MODE_LONG);
	for (k = 0; k < NR(nrs); k++)
		for (i = VMMCALL; i <= VMCALL; i++) {
			EXPECT_EQ(ERR(KVISOR_HC_ENOSYS),
				  hc_kernel(_metadata, &v, i, nrs[k], 1, 2, 3, 4, &r))
				TH_LOG("%s number %#llx", insn_name[i],
				       (unsigned long long)nrs[k]);
			EXPECT_EQ(1, r.rbx);
			EXPECT_EQ(3, r.rdx);
		}
	vm_destroy(&vm);
}

static uint64_t host_ns(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

TEST(clock_ns)
{
	static const struct { uint64_t id; clockid_t host; } clocks[] = {
		{ KVISOR_CLOCK_MONOTONIC, CLOCK_MONOTONIC },
		{ KVISOR_CLOCK_REALTIME, CLOCK_REALTIME },
	};
	static const uint64_t bad[] = { 2, 3, 0x100, 0x80000000, ~0ull };
	struct kvisor_regs r;
	uint64_t before, t, after, last;
	struct vm vm;
	struct vcpu v;
	unsigned int k;
	int i;

	HC_SETUP(&vm, &v, MODE_LONG);
	for (k = 0; k < NR(clocks); k++)
		for (i = VMMCALL; i <= VMCALL; i++) {
			before = host_ns(clocks[k].host);
			t = hc_kernel(_metadata, &v, i, KVISOR_HC_CLOCK, clocks[k].id,
				      0, 0xdead, 0, &r);
			after = host_ns(clocks[k].host);
			/* the same kernel's clock: read between ours */
			EXPECT_LE(before, t) TH_LOG("%s clock %llu", insn_name[i],
						    (unsigned long long)clocks[k].id);
			EXPECT_GE(after, t) TH_LOG("%s clock %llu", insn_name[i],
						   (unsigned long long)clocks[k].id);
			EXPECT_EQ(t >> 32, r.rdx) TH_LOG("RDX: the high half");
		}
	/* monotonic: never backwards */
	last = 0;
	for (k = 0; k < 20; k++) {
		t = hc_kernel(_metadata, &v, k & 1, KVISOR_HC_CLOCK,
			      KVISOR_CLOCK_MONOTONIC, 0, 0, 0, NULL);
		EXPECT_LE(last, t);
		last = t;
	}
	for (k = 0; k < NR(bad); k++) {
		EXPECT_EQ(ERR(KVISOR_HC_EINVAL),
			  hc_kernel(_metadata, &v, VMMCALL, KVISOR_HC_CLOCK, bad[k], 0,
				    0xdead, 0, &r))
			TH_LOG("clock %#llx", (unsigned long long)bad[k]);
		EXPECT_EQ(0xdead, r.rdx) TH_LOG("RDX changed by a failed call");
	}
	vm_destroy(&vm);
}

/* --- console write ----------------------------------------------------- */

/*
 * A console write that reaches userspace: check what the module put in
 * the run page against guest memory, answer @ret (or leave the preset
 * length when @ret is -1), and return the guest's RAX.
 */
static uint64_t console_ok(struct __test_metadata *_metadata, struct vm *vm,
			   struct vcpu *v, enum insn insn, uint64_t gpa,
			   uint64_t len, const uint8_t *want, int64_t ret)
{
	struct kvisor_regs r;
	uint8_t *data;

	hc_start(_metadata, v, insn, KVISOR_HC_CONSOLE_WRITE, gpa, len, 0, 0);
	RUN_EXPECT(v, KVISOR_EXIT_HYPERCALL);
	EXPECT_EQ(KVISOR_HC_CONSOLE_WRITE, v->run->hypercall.nr);
	EXPECT_EQ(gpa, v->run->hypercall.args[0]);
	EXPECT_EQ(len, v->run->hypercall.args[1]);
	EXPECT_EQ(len, v->run->hypercall.ret) TH_LOG("ret preset to the length");
	ASSERT_EQ(len, v->run->hypercall.data_len);
	ASSERT_LE(sizeof(struct kvisor_run), v->run->hypercall.data_offset);
	ASSERT_GE(v->run_size, v->run->hypercall.data_offset + len);
	data = (uint8_t *)v->run + v->run->hypercall.data_offset;
	EXPECT_EQ(0, memcmp(data, want, len)) TH_LOG("console bytes differ");
	if (ret != -1)
		v->run->hypercall.ret = ret;
	hc_finish(_metadata, v, insn, &r);
	return r.rax;
}

TEST(console_write)
{
	static const char hello[] = "hello, paravirtual world\n";
	struct kvisor_vcpu_stats st0, st1;
	static uint8_t big[KVISOR_HC_CONSOLE_MAX];
	uint64_t gpa;
	struct vm vm;
	struct vcpu v;
	unsigned int k;
	int i;

	HC_SETUP(&vm, &v, MODE_LONG);
	vm_load(&vm, DATA_GPA, hello, sizeof(hello) - 1);
	ASSERT_EQ(0, vcpu_get_stats(&v, &st0));
	for (i = VMMCALL; i <= VMCALL; i++) {
		EXPECT_EQ(sizeof(hello) - 1,
			  console_ok(_metadata, &vm, &v, i, DATA_GPA, sizeof(hello) - 1,
				     (const uint8_t *)hello, -1));
		/* userspace's answer is what the guest gets */
		EXPECT_EQ(ERR(5), console_ok(_metadata, &vm, &v, i, DATA_GPA, 3,
					     (const uint8_t *)hello, -5));
	}
	/* the largest write, across a page boundary and from offset 0 */
	for (k = 0; k < sizeof(big); k++)
		big[k] = k * 7 + 3;
	gpa = DATA_GPA + 0x1000 - 0x123;
	vm_load(&vm, gpa, big, sizeof(big));
	EXPECT_EQ(sizeof(big), console_ok(_metadata, &vm, &v, VMMCALL, gpa, sizeof(big),
					  big, -1));
	vm_load(&vm, 0, big, sizeof(big));
	EXPECT_EQ(sizeof(big), console_ok(_metadata, &vm, &v, VMCALL, 0, sizeof(big),
					  big, -1));
	/* the last byte of guest RAM */
	vm_load(&vm, GUEST_MEM_SIZE - 1, "!", 1);
	EXPECT_EQ(1, console_ok(_metadata, &vm, &v, VMMCALL, GUEST_MEM_SIZE - 1, 1,
				(const uint8_t *)"!", -1));
	/* nothing to write: answered in the kernel */
	EXPECT_EQ(0, hc_kernel(_metadata, &v, VMMCALL, KVISOR_HC_CONSOLE_WRITE,
			       DATA_GPA, 0, 0, 0, NULL));
	EXPECT_EQ(0, hc_kernel(_metadata, &v, VMCALL, KVISOR_HC_CONSOLE_WRITE,
			       MMIO_GPA, 0, 0, 0, NULL));
	ASSERT_EQ(0, vcpu_get_stats(&v, &st1));
	EXPECT_EQ(2 * (sizeof(hello) - 1 + 3) + 2 * sizeof(big) + 1,
		  st1.counters[KVISOR_STAT_HC_CONSOLE_BYTES] -
		  st0.counters[KVISOR_STAT_HC_CONSOLE_BYTES]);
	EXPECT_EQ(2, st1.counters[KVISOR_STAT_HC_KERNEL] - st0.counters[KVISOR_STAT_HC_KERNEL]);
	EXPECT_EQ(9, st1.counters[KVISOR_STAT_HYPERCALL] - st0.counters[KVISOR_STAT_HYPERCALL]);
	vm_destroy(&vm);
}

/* Read-only regions and a buffer spanning two regions are guest RAM too. */
TEST(console_write_regions)
{
	static uint8_t want[64];
	uint8_t *ro, *next;
	struct vm vm;
	struct vcpu v;
	unsigned int k;

	HC_SETUP(&vm, &v, MODE_LONG);
	ro = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	next = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_NE(MAP_FAILED, next);
	memset(ro, 'r', 0x1000);
	for (k = 0; k < 0x1000; k++)
		next[k] = k;
	ASSERT_EQ(0, vm_set_region(&vm, 1, KVISOR_MEM_READONLY, 0x400000, 0x1000, ro));
	ASSERT_EQ(0, vm_set_region(&vm, 2, 0, GUEST_MEM_SIZE, 0x1000, next));
	EXPECT_EQ(16, console_ok(_metadata, &vm, &v, VMMCALL, 0x400ff0, 16, ro, -1));
	for (k = 0; k < 32; k++)
		want[k] = k;
	memset(vm.mem + GUEST_MEM_SIZE - 32, 0x5a, 32);
	memmove(want + 32, want, 32);
	memset(want, 0x5a, 32);
	EXPECT_EQ(64, console_ok(_metadata, &vm, &v, VMCALL, GUEST_MEM_SIZE - 32, 64,
				 want, -1));
	vm_destroy(&vm);
	munmap(ro, 0x1000);
	munmap(next, 0x1000);
}

TEST(console_write_bad_buffers)
{
	static const struct {
		const char *what;
		uint64_t gpa, len, err;
	} bad[] = {
		{ "one byte too long", DATA_GPA, KVISOR_HC_CONSOLE_MAX + 1, KVISOR_HC_E2BIG },
		{ "4 GiB long", DATA_GPA, 0x100000000ull, KVISOR_HC_E2BIG },
		{ "2^64 - 1 long", DATA_GPA, ~0ull, KVISOR_HC_E2BIG },
		{ "too long and outside", MMIO_GPA, 1ull << 40, KVISOR_HC_E2BIG },
		{ "just past RAM", GUEST_MEM_SIZE, 1, KVISOR_HC_EFAULT },
		{ "straddling the end of RAM", GUEST_MEM_SIZE - 8, 16, KVISOR_HC_EFAULT },
		{ "the largest, straddling", GUEST_MEM_SIZE - KVISOR_HC_CONSOLE_MAX + 1,
		  KVISOR_HC_CONSOLE_MAX, KVISOR_HC_EFAULT },
		{ "MMIO hole", MMIO_GPA, 16, KVISOR_HC_EFAULT },
		{ "above 4 GiB", 0x100000000ull, 16, KVISOR_HC_EFAULT },
		{ "beyond any physical address", 1ull << 60, 16, KVISOR_HC_EFAULT },
		{ "wrapped: last byte of the space + 1", ~0ull, 2, KVISOR_HC_EFAULT },
		{ "wrapped: into RAM at 0", ~0ull - 15, 32, KVISOR_HC_EFAULT },
		{ "wrapped, the largest", ~0ull - 100, KVISOR_HC_CONSOLE_MAX, KVISOR_HC_EFAULT },
		{ "ends at 2^64", 0ull - KVISOR_HC_CONSOLE_MAX, KVISOR_HC_CONSOLE_MAX,
		  KVISOR_HC_EFAULT },
	};
	struct kvisor_vcpu_stats st0, st1;
	struct kvisor_regs r;
	struct vm vm;
	struct vcpu v;
	unsigned int k;
	int i;

	HC_SETUP(&vm, &v, MODE_LONG);
	ASSERT_EQ(0, vcpu_get_stats(&v, &st0));
	for (k = 0; k < NR(bad); k++)
		for (i = VMMCALL; i <= VMCALL; i++) {
			/* no exit to userspace: straight to the HLT */
			EXPECT_EQ(ERR(bad[k].err),
				  hc_kernel(_metadata, &v, i, KVISOR_HC_CONSOLE_WRITE,
					    bad[k].gpa, bad[k].len, 0, 0, &r))
				TH_LOG("%s: %s (gpa %#llx len %#llx)", insn_name[i],
				       bad[k].what, (unsigned long long)bad[k].gpa,
				       (unsigned long long)bad[k].len);
			EXPECT_EQ(bad[k].gpa, r.rbx);
		}
	ASSERT_EQ(0, vcpu_get_stats(&v, &st1));
	EXPECT_EQ(0, st1.counters[KVISOR_STAT_HC_CONSOLE_BYTES] -
		     st0.counters[KVISOR_STAT_HC_CONSOLE_BYTES]);
	EXPECT_EQ(2 * NR(bad), st1.counters[KVISOR_STAT_HC_KERNEL] -
			       st0.counters[KVISOR_STAT_HC_KERNEL]);
	/* and the vCPU still works */
	vm_load(&vm, DATA_GPA, "ok", 2);
	EXPECT_EQ(2, console_ok(_metadata, &vm, &v, VMMCALL, DATA_GPA, 2,
				(const uint8_t *)"ok", -1));
	vm_destroy(&vm);
}

/* --- exit, and the VMM range ---------------------------------------------- */

TEST(exit_and_vmm_range)
{
	static const uint64_t vmm[] = { KVISOR_HC_VMM_FIRST, 0x1abcd, KVISOR_HC_VMM_LAST };
	struct kvisor_regs r;
	struct vm vm;
	struct vcpu v;
	unsigned int k;
	int i;

	HC_SETUP(&vm, &v, MODE_LONG);
	for (i = VMMCALL; i <= VMCALL; i++) {
		hc_start(_metadata, &v, i, KVISOR_HC_EXIT, 0x1234, 7, 8, 9);
		RUN_EXPECT(&v, KVISOR_EXIT_HYPERCALL);
		EXPECT_EQ(KVISOR_HC_EXIT, v.run->hypercall.nr);
		EXPECT_EQ(0x1234, v.run->hypercall.args[0]);
		EXPECT_EQ(0, v.run->hypercall.ret);
		EXPECT_EQ(0, v.run->hypercall.data_len);
		/* a VMM that lets the guest go on: it gets ret */
		v.run->hypercall.ret = 0x77;
		hc_finish(_metadata, &v, i, &r);
		EXPECT_EQ(0x77, r.rax);

		for (k = 0; k < NR(vmm); k++) {
			hc_start(_metadata, &v, i, vmm[k], 1, 2, 3, 4);
			RUN_EXPECT(&v, KVISOR_EXIT_HYPERCALL);
			EXPECT_EQ(vmm[k], v.run->hypercall.nr);
			EXPECT_EQ(1, v.run->hypercall.args[0]);
			EXPECT_EQ(2, v.run->hypercall.args[1]);
			EXPECT_EQ(3, v.run->hypercall.args[2]);
			EXPECT_EQ(4, v.run->hypercall.args[3]);
			EXPECT_EQ(0, v.run->hypercall.data_len);
			v.run->hypercall.ret = ERR(KVISOR_HC_ENOSYS);
			hc_finish(_metadata, &v, i, &r);
			EXPECT_EQ(ERR(KVISOR_HC_ENOSYS), r.rax);
		}
	}
	vm_destroy(&vm);
}

/* --- CPL 3 --------------------------------------------------------------- */

GUEST_ASM(g_vmmcall_user,
	"vmmcall\n"
	"out 0x10, eax\n"	/* IOPL 3 */
	"shr rax, 32\n"
	"out 0x10, eax\n"
	"1: jmp 1b\n");
GUEST_ASM(g_vmcall_user,
	"vmcall\n"
	"out 0x10, eax\n"
	"shr rax, 32\n"
	"out 0x10, eax\n"
	"1: jmp 1b\n");

TEST(cpl3_refused)
{
	const struct { uint64_t nr, a0, a1; } calls[] = {
		{ KVISOR_HC_NOP, 0, 0 },
		{ KVISOR_HC_CONSOLE_WRITE, DATA_GPA, 16 },
		{ KVISOR_HC_CONSOLE_WRITE, MMIO_GPA, 1ull << 40 },
		{ KVISOR_HC_EXIT, 1, 0 },
		{ KVISOR_HC_CLOCK, KVISOR_CLOCK_MONOTONIC, 0 },
		{ KVISOR_HC_VMM_FIRST, 0, 0 },
		{ 0x7777, 0, 0 },
	};
	struct kvisor_vcpu_stats st0, st1;
	struct kvisor_regs r;
	struct vm vm;
	struct vcpu v;
	unsigned int k;
	int i;

	HC_SETUP(&vm, &v, MODE_LONG);
	vm_load(&vm, INSN_GPA(VMMCALL), g_vmmcall_user, GUEST_LEN(g_vmmcall_user));
	vm_load(&vm, INSN_GPA(VMCALL), g_vmcall_user, GUEST_LEN(g_vmcall_user));
	ASSERT_EQ(0, vcpu_enter_cpl3(&v));
	ASSERT_EQ(0, vcpu_get_stats(&v, &st0));
	for (k = 0; k < NR(calls); k++)
		for (i = VMMCALL; i <= VMCALL; i++) {
			hc_start(_metadata, &v, i, calls[k].nr, calls[k].a0, calls[k].a1, 0, 0);
			ASSERT_EQ(0, vcpu_get_regs(&v, &r));
			r.rflags = 0x3002;	/* IOPL 3 */
			ASSERT_EQ(0, vcpu_set_regs(&v, &r));
			/* -EPERM, and the first exit is the guest's OUT */
			EXPECT_EQ((uint32_t)ERR(KVISOR_HC_EPERM), EXPECT_OUT(&v, PORT_REPORT))
				TH_LOG("%s of %#llx at CPL 3", insn_name[i],
				       (unsigned long long)calls[k].nr);
			EXPECT_EQ(0xffffffff, EXPECT_OUT(&v, PORT_REPORT));
		}
	ASSERT_EQ(0, vcpu_get_stats(&v, &st1));
	EXPECT_EQ(2 * NR(calls), st1.counters[KVISOR_STAT_HYPERCALL] -
				 st0.counters[KVISOR_STAT_HYPERCALL]);
	EXPECT_EQ(2 * NR(calls), st1.counters[KVISOR_STAT_HC_KERNEL] -
				 st0.counters[KVISOR_STAT_HC_KERNEL]);
	EXPECT_EQ(0, st1.counters[KVISOR_STAT_HC_CONSOLE_BYTES] -
		     st0.counters[KVISOR_STAT_HC_CONSOLE_BYTES]);
	vm_destroy(&vm);
}

/* --- other modes, other places ------------------------------------------- */

GUEST_ASM(g_vmmcall32_hlt, ".code32\nvmmcall\nhlt\n");
GUEST_ASM(g_vmcall32_hlt, ".code32\nvmcall\nhlt\n");

/* Outside 64-bit mode the number and arguments are 32 bits wide. */
TEST(protected_mode_32bit)
{
	static const char msg[] = "from 32-bit mode";
	const uint64_t junk = 0xdead000000000000ull;
	struct kvisor_regs r;
	uint64_t before, after, t;
	struct vm vm;
	struct vcpu v;
	int i;

	VM_CREATE_OR_SKIP(&vm);
	ASSERT_EQ(0, vcpu_add(&vm, &v, 0));
	vm_load(&vm, INSN_GPA(VMMCALL), g_vmmcall32_hlt, GUEST_LEN(g_vmmcall32_hlt));
	vm_load(&vm, INSN_GPA(VMCALL), g_vmcall32_hlt, GUEST_LEN(g_vmcall32_hlt));
	ASSERT_EQ(0, vcpu_setup_mode(&v, MODE_PROT32, CODE_GPA));
	vm_load(&vm, DATA_GPA, msg, sizeof(msg) - 1);
	for (i = VMMCALL; i <= VMCALL; i++) {
		/* high halves the guest cannot even see are ignored */
		EXPECT_EQ(0, (uint32_t)hc_kernel(_metadata, &v, i, junk | KVISOR_HC_NOP,
						 junk, junk, junk, junk, &r))
			TH_LOG("%s: 32-bit no-op", insn_name[i]);
		EXPECT_EQ((uint32_t)ERR(KVISOR_HC_ENOSYS),
			  (uint32_t)hc_kernel(_metadata, &v, i, 0x7777, 0, 0, 0, 0, NULL));
		hc_start(_metadata, &v, i, KVISOR_HC_CONSOLE_WRITE, junk | DATA_GPA,
			 junk | (sizeof(msg) - 1), 0, 0);
		RUN_EXPECT(&v, KVISOR_EXIT_HYPERCALL);
		EXPECT_EQ(DATA_GPA, v.run->hypercall.args[0]);
		EXPECT_EQ(sizeof(msg) - 1, v.run->hypercall.args[1]);
		ASSERT_EQ(sizeof(msg) - 1, v.run->hypercall.data_len);
		EXPECT_EQ(0, memcmp((uint8_t *)v.run + v.run->hypercall.data_offset, msg,
				    sizeof(msg) - 1));
		hc_finish(_metadata, &v, i, &r);
		EXPECT_EQ(sizeof(msg) - 1, (uint32_t)r.rax);
		/* the clock in EDX:EAX */
		before = host_ns(CLOCK_MONOTONIC);
		hc_kernel(_metadata, &v, i, KVISOR_HC_CLOCK, junk | KVISOR_CLOCK_MONOTONIC,
			  0, 0, 0, &r);
		after = host_ns(CLOCK_MONOTONIC);
		t = ((r.rdx & 0xffffffff) << 32) | (r.rax & 0xffffffff);
		EXPECT_LE(before, t) TH_LOG("%s: EDX:EAX %#llx", insn_name[i],
					    (unsigned long long)t);
		EXPECT_GE(after, t);
	}
	vm_destroy(&vm);
}

/* VMCALL in real mode: fetched at CS.base + IP. */
GUEST_ASM(g_real,
	".code16\n"
	"vmcall\n"
	"out 0x10, eax\n"
	"vmmcall\n"
	"out 0x10, eax\n"
	"hlt\n"
	".code64\n");

TEST(real_mode)
{
	struct kvisor_regs r;
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_REAL, g_real);
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	r.rax = 0x7777;
	ASSERT_EQ(0, vcpu_set_regs(&v, &r));
	EXPECT_EQ((uint32_t)ERR(KVISOR_HC_ENOSYS), EXPECT_OUT(&v, PORT_REPORT));
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	r.rax = KVISOR_HC_NOP;
	ASSERT_EQ(0, vcpu_set_regs(&v, &r));
	EXPECT_EQ(0, EXPECT_OUT(&v, PORT_REPORT));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vm_destroy(&vm);
}

/* Either instruction split over two pages, and #UDs that are not calls. */
GUEST_ASM(g_ud2, "ud2\nhlt\n");
GUEST_ASM(g_prefixed_vmcall, ".byte 0x66, 0x0f, 0x01, 0xc1\nhlt\n");
GUEST_ASM(g_near_miss, ".byte 0x0f, 0x01, 0xc2\nhlt\n");	/* VMLAUNCH */

TEST(foreign_instruction_fetch)
{
	static const uint8_t calls[2][4] = {
		{ 0x0f, 0x01, 0xd9, 0xf4 },	/* vmmcall; hlt */
		{ 0x0f, 0x01, 0xc1, 0xf4 },	/* vmcall; hlt */
	};
	struct kvisor_vcpu_stats st0, st1;
	struct kvisor_regs r;
	uint64_t at;
	struct vm vm;
	struct vcpu v;
	int i, split;

	HC_SETUP(&vm, &v, MODE_LONG);
	for (i = VMMCALL; i <= VMCALL; i++)
		for (split = 1; split <= 2; split++) {
			at = DATA_GPA + 0x1000 - split;
			vm_load(&vm, at, calls[i], 4);
			ASSERT_EQ(0, vcpu_get_regs(&v, &r));
			r.rip = at;
			r.rax = KVISOR_HC_CLOCK;
			r.rbx = 99;	/* a bad clock: -EINVAL */
			ASSERT_EQ(0, vcpu_set_regs(&v, &r));
			RUN_EXPECT(&v, KVISOR_EXIT_HLT);
			ASSERT_EQ(0, vcpu_get_regs(&v, &r));
			EXPECT_EQ(ERR(KVISOR_HC_EINVAL), r.rax)
				TH_LOG("%s split %d|%d", insn_name[i], split, 3 - split);
			EXPECT_EQ(at + 4, r.rip);
		}

	/* a #UD that is no call is the guest's, at the instruction */
	ASSERT_EQ(0, vcpu_get_stats(&v, &st0));
	vm_load_code(&vm, g_ud2, g_ud2_end);
	ASSERT_EQ(0, vcpu_setup_mode(&v, MODE_LONG, CODE_GPA));
	EXPECT_EQ(CODE_GPA, EXPECT_EXCEPTION(&v, 6, NULL));
	vm_load_code(&vm, g_near_miss, g_near_miss_end);
	ASSERT_EQ(0, vcpu_setup_mode(&v, MODE_LONG, CODE_GPA));
	EXPECT_EQ(CODE_GPA, EXPECT_EXCEPTION(&v, 6, NULL));
	ASSERT_EQ(0, vcpu_get_stats(&v, &st1));
	EXPECT_EQ(0, st1.counters[KVISOR_STAT_HYPERCALL] - st0.counters[KVISOR_STAT_HYPERCALL]);

	/*
	 * A prefixed VMCALL is a hypercall on both vendors: Intel runs it
	 * natively, prefix and all, and on AMD the #UD path counts the
	 * prefixes in (issue 20: the same on both vendors).
	 */
	vm_load_code(&vm, g_prefixed_vmcall, g_prefixed_vmcall_end);
	ASSERT_EQ(0, vcpu_setup_mode(&v, MODE_LONG, CODE_GPA));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	ASSERT_EQ(0, vcpu_get_regs(&v, &r));
	EXPECT_EQ(CODE_GPA + 5, r.rip);
	EXPECT_EQ(0, r.rax);		/* KVISOR_HC_NOP's answer */
	vm_destroy(&vm);
}

TEST_HARNESS_MAIN
