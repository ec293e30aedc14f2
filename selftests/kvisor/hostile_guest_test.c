// SPDX-License-Identifier: GPL-2.0
/*
 * A hostile guest, beyond guest_attacks_test: every SVM and VMX
 * instruction at CPL 0 and 3, privileged instructions and hypercalls at
 * CPL 3, RDMSR/WRMSR of every host-critical MSR (host values compared on
 * every CPU), all 65 536 ports, the edges of every GPA hole and read-only
 * region (and GPAs up to bit 51), illegal CR/EFER/XCR0 writes, triple
 * faults, and hostile SET_SREGS/SET_REGS state that must give EINVAL or a
 * clean exit, after which the vCPU is usable again.
 *
 * Each test prints how many attacks it tried.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include "kselftest_harness.h"
#include "vm.h"

#define NR(a)	(sizeof(a) / sizeof((a)[0]))

/*
 * Run once; if the guest took an exception (the 64-bit stubs report it),
 * read vector and RIP, leave the vCPU at the stub's HLT and return 1.
 * Else 0 with the exit in v->run, or -errno of RUN.
 */
static int run_exc(struct vcpu *v, uint32_t *vec, uint32_t *rip)
{
	int r = vcpu_run(v);

	if (r)
		return r;
	if (v->run->exit_reason != KVISOR_EXIT_IO || v->run->io.port != PORT_EXC_VECTOR)
		return 0;
	*vec = vcpu_io_value(v);
	if (vcpu_run(v))
		return -EPROTO;
	/*
	 * A state the CPU accepted but VM entry refuses (QEMU TCG takes
	 * CR0.NW without CD; VMRUN does not, APM 15.5.1) fails the next
	 * entry, whenever that is: right after the MOV, or, as here, once
	 * the guest has reported an exception.  The caller judges the exit.
	 */
	if (v->run->exit_reason == KVISOR_EXIT_FAIL_ENTRY)
		return 0;
	if (v->run->io.port != PORT_EXC_ERROR)
		return -EPROTO;
	if (vcpu_run(v) || v->run->io.port != PORT_EXC_RIP)
		return -EPROTO;
	*rip = vcpu_io_value(v);
	return 1;
}

/* Long mode at CPL @cpl, RIP @rip, the given GPRs, IOPL 0. */
static int enter(struct vcpu *v, int cpl, uint64_t rip, uint64_t rax, uint64_t rcx,
		 uint64_t rdx)
{
	struct kvisor_regs r;
	int e = vcpu_setup_mode(v, MODE_LONG, rip);

	if (e)
		return e;
	if (cpl == 3) {
		e = vcpu_enter_cpl3(v);
		if (e)
			return e;
	}
	e = vcpu_get_regs(v, &r);
	if (e)
		return e;
	r.rax = rax;
	r.rcx = rcx;
	r.rdx = rdx;
	r.rbx = DATA_GPA;
	r.rsp = STACK_TOP - 0x1000;	/* below the stubs' RSP0 stack */
	return vcpu_set_regs(v, &r);
}

/*
 * One instruction per 32-byte slot, then INT3: vector 3 from the stubs
 * means the instruction ran, #UD/#GP at its address that it was refused.
 * rax/rbx point to zeroed guest memory; rcx = rdx = 0.
 */
#define SLOT(insn)	".balign 32\n" insn "\nint3\nhlt\n"
/* The first slot: GUEST_ASM aligns the blob to 16 bytes only. */
#define SLOTS(name)	((const uint8_t *)(((uintptr_t)name + 31) & ~(uintptr_t)31))
#define NSLOTS(name)	((size_t)(name##_end - SLOTS(name)) / 32)
GUEST_ASM(g_virt,
	SLOT("vmrun") SLOT("vmload") SLOT("vmsave") SLOT("stgi") SLOT("clgi")
	SLOT("skinit") SLOT("invlpga") SLOT("vmxon [rax]") SLOT("vmxoff")
	SLOT("vmlaunch") SLOT("vmresume") SLOT("vmptrld [rax]")
	SLOT("vmptrst [rax]") SLOT("vmclear [rax]") SLOT("vmread rcx, rax")
	SLOT("vmwrite rax, rcx") SLOT("invept rax, [rbx]") SLOT("invvpid rax, [rbx]")
	SLOT("vmfunc") SLOT("getsec") SLOT("monitor") SLOT("mwait")
	SLOT(".byte 0x0f, 0x01, 0xfd") /* rdpru */
	".balign 32\n");
static const char *const virt_names[] = {
	"VMRUN", "VMLOAD", "VMSAVE", "STGI", "CLGI", "SKINIT", "INVLPGA", "VMXON",
	"VMXOFF", "VMLAUNCH", "VMRESUME", "VMPTRLD", "VMPTRST", "VMCLEAR",
	"VMREAD", "VMWRITE", "INVEPT", "INVVPID", "VMFUNC", "GETSEC", "MONITOR",
	"MWAIT", "RDPRU",
};

GUEST_ASM(g_priv,
	SLOT("hlt") SLOT("cli") SLOT("sti") SLOT("in al, 0x80") SLOT("out 0x80, al")
	SLOT("in al, dx") SLOT("out dx, al") SLOT("insb") SLOT("outsb")
	SLOT("rdmsr") SLOT("wrmsr") SLOT("mov rax, cr0") SLOT("mov cr0, rax")
	SLOT("mov rax, cr3") SLOT("mov cr3, rax") SLOT("mov cr4, rax")
	SLOT("mov cr8, rax") SLOT("mov rax, dr7") SLOT("mov dr7, rax")
	SLOT("lgdt [rax]") SLOT("lidt [rax]") SLOT("lldt ax") SLOT("ltr ax")
	SLOT("invd") SLOT("wbinvd") SLOT("invlpg [rax]") SLOT("clts")
	SLOT("xsetbv") SLOT("rdpmc") SLOT("swapgs") SLOT("sysretq")
	SLOT("lmsw ax") SLOT("wrpkru") SLOT("vmmcall") SLOT("vmcall")
	".balign 32\n");
static const char *const priv_names[] = {
	"HLT", "CLI", "STI", "IN imm", "OUT imm", "IN dx", "OUT dx", "INSB", "OUTSB",
	"RDMSR", "WRMSR", "MOV from CR0", "MOV to CR0", "MOV from CR3", "MOV to CR3",
	"MOV to CR4", "MOV to CR8", "MOV from DR7", "MOV to DR7", "LGDT", "LIDT",
	"LLDT", "LTR", "INVD", "WBINVD", "INVLPG", "CLTS", "XSETBV", "RDPMC",
	"SWAPGS", "SYSRET", "LMSW", "WRPKRU", "VMMCALL", "VMCALL",
};

/* Run slot @i of @code at @cpl: the vector it took (3: it ran). */
static int try_slot(struct vm *vm, struct vcpu *v, const uint8_t *code, size_t len,
		    unsigned int i, int cpl, uint32_t *rip, unsigned int *exit_reason)
{
	uint32_t vec = 0;
	int r;

	vm_load(vm, CODE_GPA, code, len);
	memset(vm->mem + DATA_GPA, 0, 0x1000);
	r = enter(v, cpl, CODE_GPA + 32 * i, DATA_GPA, 0, 0);
	if (r)
		return r;
	r = run_exc(v, &vec, rip);
	*exit_reason = v->run->exit_reason;
	if (r < 0)
		return r;
	return r ? (int)vec : -1000;	/* an exit to userspace: not an exception */
}

TEST(virtualization_insns_cpl0_cpl3)
{
	struct vm vm;
	struct vcpu v;
	unsigned int i, tried = 0;
	int cpl;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_virt);
	ASSERT_EQ(NR(virt_names), NSLOTS(g_virt));
	for (cpl = 0; cpl <= 3; cpl += 3)
		for (i = 0; i < NR(virt_names); i++) {
			unsigned int exit_reason;
			uint32_t rip = 0;
			int vec = try_slot(&vm, &v, SLOTS(g_virt), NSLOTS(g_virt) * 32, i, cpl,
					   &rip, &exit_reason);

			tried++;
			/* refused: #UD, or #GP for an SVM instruction at CPL 3 */
			EXPECT_TRUE(vec == 6 || (cpl == 3 && vec == 13))
				TH_LOG("%s at CPL %d: %s", virt_names[i], cpl,
				       vec == 3 ? "it ran" : vec == -1000 ?
				       vcpu_exit_str(&v) : "another exception");
			if (vec == 6 || vec == 13)
				EXPECT_EQ(CODE_GPA + 32 * i, rip) TH_LOG("%s", virt_names[i]);
		}
	printf("# %u virtualization instructions at CPL 0 and 3: all refused\n", tried);
	fflush(stdout);
	vm_destroy(&vm);
}

TEST(privileged_insns_cpl3)
{
	struct vm vm;
	struct vcpu v;
	unsigned int i;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_priv);
	ASSERT_EQ(NR(priv_names), NSLOTS(g_priv));
	for (i = 0; i < NR(priv_names); i++) {
		unsigned int exit_reason;
		uint32_t rip = 0;
		int vec = try_slot(&vm, &v, SLOTS(g_priv), NSLOTS(g_priv) * 32, i, 3, &rip,
				   &exit_reason);

		/*
		 * A hypercall from CPL 3 fails in the guest: -EPERM, no exit
		 * (hypercall_test checks RAX).  VMCALL and VMMCALL are both
		 * hypercalls on both vendors, the foreign one through its #UD.
		 */
		if (!strcmp(priv_names[i], "VMMCALL") || !strcmp(priv_names[i], "VMCALL")) {
			struct kvisor_regs r;

			EXPECT_EQ(3, vec) TH_LOG("%s at CPL 3: %s", priv_names[i],
						 vcpu_exit_str(&v));
			ASSERT_EQ(0, vcpu_get_regs(&v, &r));
			continue;
		}
		EXPECT_TRUE(vec == 13 || vec == 6)
			TH_LOG("%s at CPL 3: %s", priv_names[i],
			       vec == 3 ? "it ran" : vec == -1000 ? vcpu_exit_str(&v) :
			       "another exception");
		if (vec == 13 || vec == 6)
			EXPECT_EQ(CODE_GPA + 32 * i, rip) TH_LOG("%s", priv_names[i]);
	}
	printf("# %zu privileged instructions and hypercalls at CPL 3: all refused\n",
	       NR(priv_names));
	fflush(stdout);
	vm_destroy(&vm);
}

/* rcx = MSR: read it into r8/r9, int3 */
GUEST_ASM(g_rdmsr, "rdmsr\nmov r8, rax\nmov r9, rdx\nint3\nhlt\n");
/* rcx = MSR, rdx:rax = value */
GUEST_ASM(g_wrmsr, "wrmsr\nint3\nhlt\n");

/*
 * Every MSR whose host value matters: the syscall and segment-base MSRs,
 * SVM and VMX control, APIC, power/perf, speculation control, microcode,
 * machine check, SMM, MTRR/PAT, debug, CET/PKS, x2APIC, SEV.
 */
static const uint32_t host_msrs[] = {
	0x10, 0x1b, 0x3a, 0x48, 0x49, 0x79, 0x8b, 0x9b, 0xc1, 0xc2, 0xe7, 0xe8,
	0xfe, 0x10a, 0x10b, 0x122, 0x174, 0x175, 0x176, 0x179, 0x17a, 0x17b,
	0x186, 0x187, 0x198, 0x199, 0x1a0, 0x1d9, 0x1db, 0x1dc, 0x1dd, 0x1de,
	0x200, 0x201, 0x250, 0x258, 0x259, 0x268, 0x277, 0x2ff, 0x400, 0x401,
	0x402, 0x403, 0x480, 0x48d, 0x491, 0x6a0, 0x6a2, 0x6a4, 0x6e0, 0x802,
	0x808, 0x80b, 0x830, 0xda0, 0x6e1,
	0xc0000080, 0xc0000081, 0xc0000082, 0xc0000083, 0xc0000084,
	0xc0000100, 0xc0000101, 0xc0000102, 0xc0000103, 0xc0000104,
	0xc0010000, 0xc0010004, 0xc0010010, 0xc0010015, 0xc0010016, 0xc0010017,
	0xc001001a, 0xc001001d, 0xc001001f, 0xc0010020, 0xc0010055, 0xc0010058,
	0xc0010111, 0xc0010112, 0xc0010113, 0xc0010114, 0xc0010115, 0xc0010117,
	0xc0010118, 0xc0010119, 0xc001011f, 0xc0010130, 0xc0010131, 0xc0010140,
	0xc0010141, 0xc0010200, 0xc0010201, 0xc0011020, 0xc0011021, 0xc0011022,
	0xc0011029, 0xc001102a,
};
/* MSRs whose host value is an address or secret the guest must not see */
static const uint32_t host_secret_msrs[] = {
	0xc0000082, 0xc0000083, 0xc0000101, 0xc0000102, 0x175, 0x176, 0xc0010117,
};
static const uint64_t hostile_values[] = {
	0, ~0ull, 0x8000000000000000ull, 0xffffffff8badc0deull, 0x1000,
};

TEST(host_critical_msrs_read_write)
{
	enum { NM = NR(host_msrs) };
	static uint64_t before[2][NM], after[2][NM];
	static int readable[2][NM];
	int cpus = cpus_online() > 2 ? 2 : cpus_online();
	unsigned int i, j, reads = 0, writes = 0, refused = 0, kept = 0;
	struct vm vm;
	struct vcpu v;
	int c;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_rdmsr);
	for (c = 0; c < cpus; c++)
		for (i = 0; i < NM; i++)
			readable[c][i] = !msr_read(c, host_msrs[i], &before[c][i]);
	for (i = 0; i < NM; i++) {
		struct kvisor_regs r;
		uint32_t vec = 0, rip;
		int e;

		vm_load_code(&vm, g_rdmsr, g_rdmsr_end);
		ASSERT_EQ(0, enter(&v, 0, CODE_GPA, 0, host_msrs[i], 0));
		e = run_exc(&v, &vec, &rip);
		ASSERT_EQ(1, e) TH_LOG("RDMSR %#x: %s", host_msrs[i], vcpu_exit_str(&v));
		EXPECT_TRUE(vec == 3 || vec == 13) TH_LOG("RDMSR %#x: vector %u", host_msrs[i], vec);
		reads++;
		if (vec == 3) {
			ASSERT_EQ(0, vcpu_get_regs(&v, &r));
			for (j = 0; j < NR(host_secret_msrs); j++)
				if (host_msrs[i] == host_secret_msrs[j] && readable[0][i] &&
				    before[0][i])
					EXPECT_NE(before[0][i], (r.r9 << 32 | (uint32_t)r.r8))
						TH_LOG("RDMSR %#x gave the host's value",
						       host_msrs[i]);
		}
		for (j = 0; j < NR(hostile_values); j++) {
			uint64_t val = hostile_values[j];

			vm_load_code(&vm, g_wrmsr, g_wrmsr_end);
			ASSERT_EQ(0, enter(&v, 0, CODE_GPA, (uint32_t)val, host_msrs[i],
					   val >> 32));
			e = run_exc(&v, &vec, &rip);
			ASSERT_EQ(1, e) TH_LOG("WRMSR %#x <- %#llx: %s", host_msrs[i],
					       (unsigned long long)val, vcpu_exit_str(&v));
			EXPECT_TRUE(vec == 3 || vec == 13)
				TH_LOG("WRMSR %#x: vector %u", host_msrs[i], vec);
			writes++;
			if (vec == 13)
				refused++;
			else
				kept++;
		}
	}
	/* the host's MSRs, on every CPU, unchanged */
	for (c = 0; c < cpus; c++)
		for (i = 0; i < NM; i++) {
			if (!readable[c][i])
				continue;
			/* counters and time move on their own */
			/* FS_BASE: whichever task the read interrupts */
			if (host_msrs[i] == 0x10 || host_msrs[i] == 0xe7 || host_msrs[i] == 0xe8 ||
			    host_msrs[i] == 0xc0000100 ||
			    host_msrs[i] == 0x6e0 || host_msrs[i] == 0x198 ||
			    (host_msrs[i] >= 0xc0010004 && host_msrs[i] <= 0xc0010007) ||
			    host_msrs[i] == 0xc0010201)
				continue;
			ASSERT_EQ(0, msr_read(c, host_msrs[i], &after[c][i]));
			EXPECT_EQ(before[c][i], after[c][i])
				TH_LOG("host MSR %#x on CPU %d changed", host_msrs[i], c);
		}
	printf("# %u MSRs: %u guest reads, %u hostile writes (%u #GP, %u kept in the guest); "
	       "host MSRs unchanged on %d CPUs\n", NM, reads, writes, refused, kept, cpus);
	fflush(stdout);
	vm_destroy(&vm);
}

/* IN then OUT the value back, on every port; then 16/32 bits at the top. */
GUEST_ASM(g_ports,
	"xor edx, edx\n"
	"1: in al, dx\n"
	"out dx, al\n"
	"inc edx\n"
	"cmp edx, 0x10000\n"
	"jb 1b\n"
	"mov edx, 0xffff\n"
	"in ax, dx\n"
	"out dx, ax\n"
	"mov edx, 0xfffd\n"
	"in eax, dx\n"
	"out dx, eax\n"
	"hlt\n");

TEST(all_65536_ports)
{
	struct vm vm;
	struct vcpu v;
	unsigned int port, exits = 0;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_ports);
	for (port = 0; port < 0x10000; port++) {
		uint8_t val = (port * 7 + 1) & 0xff;

		RUN_EXPECT(&v, KVISOR_EXIT_IO);
		ASSERT_EQ(KVISOR_EXIT_IO_IN, v.run->io.direction) TH_LOG("%s", vcpu_exit_str(&v));
		ASSERT_EQ(port, v.run->io.port) TH_LOG("%s", vcpu_exit_str(&v));
		ASSERT_EQ(1, v.run->io.size);
		vcpu_io_set(&v, val);
		/* what the guest got is ours, not the device's */
		ASSERT_EQ(val, EXPECT_OUT(&v, port)) TH_LOG("port %#x", port);
		exits += 2;
	}
	RUN_EXPECT(&v, KVISOR_EXIT_IO);
	EXPECT_EQ(0xffff, v.run->io.port);
	EXPECT_EQ(2, v.run->io.size);
	vcpu_io_set(&v, 0xbeef);
	EXPECT_EQ(0xbeef, EXPECT_OUT(&v, 0xffff));
	RUN_EXPECT(&v, KVISOR_EXIT_IO);
	EXPECT_EQ(0xfffd, v.run->io.port);
	EXPECT_EQ(4, v.run->io.size);
	vcpu_io_set(&v, 0x12345678);
	EXPECT_EQ(0x12345678, EXPECT_OUT(&v, 0xfffd));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	printf("# 65536 ports read and written (%u exits), 16/32-bit at 0xfffd-0xffff: "
	       "all to userspace\n", exits + 4);
	fflush(stdout);
	vm_destroy(&vm);
}

/* Read 8 bytes at rbx, report, write them back; or execute at rbx. */
GUEST_ASM(g_touch,
	"mov rax, [rbx]\n"
	"out 0x10, eax\n"
	"mov [rbx], rax\n"
	"hlt\n");

#define RO_GPA		0x400000ull	/* 16 KiB read-only */
#define RAM2_GPA	0x800000ull	/* 8 KiB */
#define ROM_GPA		0xfff00000ull	/* 1 MiB read-only, up to 4 GiB */
#define HIGH_PD_GPA	0x28000ull	/* page directory for 4-5 GiB virtual */
#define HIGH_VA		0x100000000ull

enum region { R_RAM, R_RO, R_HOLE };

static enum region region_of(uint64_t gpa)
{
	if (gpa < GUEST_MEM_SIZE || (gpa >= RAM2_GPA && gpa < RAM2_GPA + 0x2000))
		return R_RAM;
	if ((gpa >= RO_GPA && gpa < RO_GPA + 0x4000) || (gpa >= ROM_GPA && gpa < 0x100000000ull))
		return R_RO;
	return R_HOLE;
}

/* Touch @va (mapping to @gpa) with g_touch; 0 if all went as @gpa's region says. */
static int touch(struct __test_metadata *_metadata, struct vm *vm, struct vcpu *v,
		 uint64_t va, uint64_t gpa, uint8_t *ro_mem, unsigned int *mmio_exits)
{
	enum region reg = region_of(gpa);
	uint64_t want = 0x1122334455667788ull ^ gpa, got;
	struct kvisor_regs r;
	uint32_t vec, rip;
	int e;

	vm_load_code(vm, g_touch, g_touch_end);
	if (enter(v, 0, CODE_GPA, 0, 0, 0) || vcpu_get_regs(v, &r))
		return -1;
	r.rbx = va;
	if (vcpu_set_regs(v, &r))
		return -1;
	e = run_exc(v, &vec, &rip);
	if (e == 1) {
		/* a GPA beyond the guest's physical width: #PF (RSVD) */
		EXPECT_EQ(14, vec) TH_LOG("gpa %#llx: vector %u", (unsigned long long)gpa, vec);
		return 0;
	}
	if (e)
		return -1;
	if (reg == R_HOLE) {
		EXPECT_EQ(KVISOR_EXIT_MMIO, v->run->exit_reason)
			TH_LOG("read of hole %#llx: %s", (unsigned long long)gpa, vcpu_exit_str(v));
		if (v->run->exit_reason != KVISOR_EXIT_MMIO)
			return -1;
		EXPECT_EQ(gpa, v->run->mmio.phys_addr);
		EXPECT_EQ(0, v->run->mmio.is_write);
		memcpy(v->run->mmio.data, &want, 8);
		(*mmio_exits)++;
		if (vcpu_run(v))
			return -1;
	} else {
		if (reg == R_RO)
			memcpy(&want, ro_mem + (gpa >= ROM_GPA ? 0x4000 + gpa - ROM_GPA :
						gpa - RO_GPA), 8);
		else if (gpa < GUEST_MEM_SIZE)
			memcpy(&want, vm->mem + gpa, 8);
	}
	EXPECT_EQ(KVISOR_EXIT_IO, v->run->exit_reason) TH_LOG("gpa %#llx: %s",
		(unsigned long long)gpa, vcpu_exit_str(v));
	if (v->run->exit_reason != KVISOR_EXIT_IO)
		return -1;
	got = vcpu_io_value(v);
	if (reg != R_RAM || gpa < GUEST_MEM_SIZE)
		EXPECT_EQ((uint32_t)want, got) TH_LOG("gpa %#llx read %#llx", (unsigned long long)gpa,
						       (unsigned long long)got);
	if (vcpu_run(v))
		return -1;
	if (reg != R_RAM) {
		EXPECT_EQ(KVISOR_EXIT_MMIO, v->run->exit_reason)
			TH_LOG("write to %#llx: %s", (unsigned long long)gpa, vcpu_exit_str(v));
		if (v->run->exit_reason != KVISOR_EXIT_MMIO)
			return -1;
		EXPECT_EQ(gpa, v->run->mmio.phys_addr);
		EXPECT_EQ(1, v->run->mmio.is_write);
		(*mmio_exits)++;
		if (vcpu_run(v))
			return -1;
	}
	EXPECT_EQ(KVISOR_EXIT_HLT, v->run->exit_reason) TH_LOG("gpa %#llx: %s",
		(unsigned long long)gpa, vcpu_exit_str(v));
	return 0;
}

TEST(gpa_holes_and_readonly_edges)
{
	static const uint64_t edges[] = {
		0, GUEST_MEM_SIZE, RO_GPA, RO_GPA + 0x4000, RAM2_GPA, RAM2_GPA + 0x2000,
		0xa0000, 0xc0000000ull, 0xfec00000ull, 0xfee00000ull, ROM_GPA,
		0x100000000ull,
	};
	uint8_t *ro, *ram2;
	unsigned int i, k, touched = 0, mmio = 0, phys_bits;
	uint32_t cpuid[4];
	uint64_t *pd;
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_touch);
	ro = mmap(NULL, 0x4000 + 0x100000, PROT_READ | PROT_WRITE,
		  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ram2 = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, ro);
	ASSERT_NE(MAP_FAILED, ram2);
	for (i = 0; i < (0x4000 + 0x100000) / 8; i++)
		((uint64_t *)ro)[i] = 0xa5a5000000000000ull | i;
	ASSERT_EQ(0, vm_set_region(&vm, 1, KVISOR_MEM_READONLY, RO_GPA, 0x4000, ro));
	ASSERT_EQ(0, vm_set_region(&vm, 2, 0, RAM2_GPA, 0x2000, ram2));
	ASSERT_EQ(0, vm_set_region(&vm, 3, KVISOR_MEM_READONLY, ROM_GPA, 0x100000, ro + 0x4000));

	/* both sides of every edge, page-aligned 8-byte accesses */
	for (i = 0; i < NR(edges); i++)
		for (k = 0; k < 2; k++) {
			uint64_t gpa = edges[i] + (k ? 0 : -8ull);

			if (gpa >= 0x100000000ull)
				continue;
			ASSERT_EQ(0, touch(_metadata, &vm, &v, gpa, gpa, ro, &mmio))
				TH_LOG("gpa %#llx", (unsigned long long)gpa);
			touched++;
		}
	/* RAM the guest wrote back is intact; the read-only copies too */
	EXPECT_EQ(0xa5a5000000000000ull, ((uint64_t *)ro)[0]);
	EXPECT_EQ(0xa5a5000000000000ull | (0x4000 / 8 - 1), ((uint64_t *)ro)[0x4000 / 8 - 1]);

	/* GPAs above 4 GiB up to bit 51, through 2 MiB pages at 4 GiB virtual */
	cpuid_count(0x80000008, 0, cpuid);
	phys_bits = cpuid[0] & 0xff;
	pd = (uint64_t *)(vm.mem + HIGH_PD_GPA);
	for (k = 0; k < 52 - 32; k++) {
		uint64_t gpa = 1ull << (32 + k);

		/* a fresh virtual address each time: no stale translation */
		memset(pd, 0, 0x1000);
		pd[k] = gpa | 0x87;
		/* PDPT[4] covers 4-5 GiB virtual: after vcpu_setup_mode wrote it */
		vm_load_code(&vm, g_touch, g_touch_end);
		ASSERT_EQ(0, enter(&v, 0, CODE_GPA, 0, 0, 0));
		((uint64_t *)(vm.mem + PDPT_GPA))[4] = HIGH_PD_GPA | 7;
		{
			struct kvisor_regs r;
			uint32_t vec, rip;
			int e;

			ASSERT_EQ(0, vcpu_get_regs(&v, &r));
			r.rbx = HIGH_VA + ((uint64_t)k << 21);
			ASSERT_EQ(0, vcpu_set_regs(&v, &r));
			e = run_exc(&v, &vec, &rip);
			ASSERT_LE(0, e);
			if (e == 1) {
				EXPECT_EQ(14, vec) TH_LOG("gpa %#llx", (unsigned long long)gpa);
				EXPECT_GE(32 + k, phys_bits) TH_LOG("#PF for gpa %#llx below "
					"the %u-bit physical width", (unsigned long long)gpa, phys_bits);
			} else {
				ASSERT_EQ(KVISOR_EXIT_MMIO, v.run->exit_reason)
					TH_LOG("gpa %#llx: %s", (unsigned long long)gpa,
					       vcpu_exit_str(&v));
				EXPECT_EQ(gpa, v.run->mmio.phys_addr);
				memcpy(v.run->mmio.data, &gpa, 8);
				mmio++;
				/*
				 * Finish it: an exit left pending completes at the
				 * next RUN, into whatever state was set meanwhile.
				 */
				EXPECT_EQ((uint32_t)gpa, EXPECT_OUT(&v, PORT_REPORT));
				RUN_EXPECT(&v, KVISOR_EXIT_MMIO);
				EXPECT_EQ(gpa, v.run->mmio.phys_addr);
				EXPECT_EQ(1, v.run->mmio.is_write);
				mmio++;
				RUN_EXPECT(&v, KVISOR_EXIT_HLT);
			}
		}
		touched++;
	}

	/* execute from a hole: a clean exit, whatever kind */
	{
		struct kvisor_regs r;
		unsigned int why;

		ASSERT_EQ(0, enter(&v, 0, 0xc0000000ull, 0, 0, 0));
		ASSERT_EQ(0, vcpu_get_regs(&v, &r));
		vcpu_run(&v);
		why = v.run->exit_reason;
		EXPECT_TRUE(why == KVISOR_EXIT_INTERNAL_ERROR || why == KVISOR_EXIT_MMIO ||
			    why == KVISOR_EXIT_SHUTDOWN || why == KVISOR_EXIT_IO)
			TH_LOG("fetch from a hole: %s", vcpu_exit_str(&v));
		printf("# fetch from the hole at 0xc0000000: %s\n", exit_name(why));
		touched++;
	}
	/* execute from read-only memory: fine */
	ro[0] = 0xf4;	/* HLT */
	ASSERT_EQ(0, enter(&v, 0, RO_GPA, 0, 0, 0));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	touched++;
	/* the guest's page tables in read-only memory: A/D updates cannot be made */
	{
		struct kvisor_sregs s;
		unsigned int why;

		memcpy(ro + 0x1000, vm.mem + PML4_GPA, 0x1000);
		memcpy(ro + 0x2000, vm.mem + PDPT_GPA, 0x1000);
		((uint64_t *)(ro + 0x1000))[0] = (RO_GPA + 0x2000) | 7;	/* A bit clear */
		for (i = 0; i < 4; i++)
			((uint64_t *)(ro + 0x2000))[i] = (PD_GPA + i * 0x1000) | 7;
		ASSERT_EQ(0, enter(&v, 0, CODE_GPA, 0, 0, 0));
		ASSERT_EQ(0, vcpu_get_sregs(&v, &s));
		s.cr3 = RO_GPA + 0x1000;
		ASSERT_EQ(0, vcpu_set_sregs(&v, &s));
		vm_load_code(&vm, g_touch, g_touch_end);
		vcpu_run(&v);
		why = v.run->exit_reason;
		printf("# page tables in read-only memory: %s\n", vcpu_exit_str(&v));
		EXPECT_NE(KVISOR_EXIT_UNKNOWN, why);
		/*
		 * EPT and NPT treat the walker's A/D updates as writes (SDM
		 * 28.3.3.2; APM 15.25.5).  Bochs 2.7's VT-x does not: its
		 * walker checks EPT for a read, then sets the A bit anyway.
		 * That is the emulator, not kvisor's EPT entry (W clear).
		 */
		if (cpu_virt() == CPU_VIRT_VMX && box_is_bochs() &&
		    ((uint64_t *)(ro + 0x1000))[0] == ((RO_GPA + 0x2000) | 0x27))
			printf("# page tables in read-only memory: Bochs set the A bit "
			       "through a read-only EPT entry (emulator gap, not checked)\n");
		else
			EXPECT_EQ((RO_GPA + 0x2000) | 7, ((uint64_t *)(ro + 0x1000))[0])
				TH_LOG("read-only memory was written");
		touched++;
	}
	printf("# %u GPA probes (edges of 4 holes and 2 read-only regions, 2^32..2^51, "
	       "fetches): %u MMIO exits\n", touched, mmio);
	fflush(stdout);
	vm_destroy(&vm);
	munmap(ro, 0x4000 + 0x100000);
	munmap(ram2, 0x2000);
}

/*
 * Illegal control-register, EFER and XCR0 writes from CPL 0.  kvisor
 * intercepts WRMSR and XSETBV: those must #GP.  MOV to CR is the CPU's
 * to check (not intercepted): #GP, or a clean exit when the state it
 * left cannot be entered; under QEMU TCG a few are accepted.
 */
GUEST_ASM(g_cr,
	SLOT("mov cr0, rax")	/* rax: PG without PE */
	SLOT("mov cr0, rax")	/* NW without CD */
	SLOT("mov cr0, rax")	/* bit 32 */
	SLOT("mov cr4, rax")	/* bit 63 */
	SLOT("mov cr4, rax")	/* PAE off in long mode */
	SLOT("mov cr3, rax")	/* bits 63:52 */
	SLOT("mov cr8, rax")	/* 16 */
	SLOT("wrmsr")		/* EFER.LME off with paging */
	SLOT("wrmsr")		/* EFER.SVME */
	SLOT("wrmsr")		/* EFER reserved bit 20 */
	SLOT("wrmsr")		/* EFER all ones */
	SLOT("xor ecx, ecx\nxsetbv")	/* XCR0 = 0 (x87 off) */
	SLOT("xor ecx, ecx\nxsetbv")	/* XCR0 = YMM without SSE */
	SLOT("mov ecx, 1\nxsetbv")	/* XCR1 */
	SLOT("mov cr4, rax")	/* LA57 while in long mode */
	".balign 32\n");

TEST(illegal_cr_efer_xcr0)
{
	static const struct { const char *what; uint64_t rax, rcx, rdx; } t[] = {
		{ "CR0 PG without PE", 0x80000010, 0, 0 },
		{ "CR0 NW without CD", 0x80050033 | (1u << 29), 0, 0 },
		{ "CR0 bit 32", 0x80050033 | (1ull << 32), 0, 0 },
		{ "CR4 bit 63", 0x620 | (1ull << 63), 0, 0 },
		{ "CR4 PAE off in long mode", 0x600, 0, 0 },
		{ "CR3 bits 63:52", PML4_GPA | (0xfffull << 52), 0, 0 },
		{ "CR8 16", 16, 0, 0 },
		{ "EFER LME off", 0x400, 0xc0000080, 0 },
		{ "EFER SVME", 0x1500, 0xc0000080, 0 },
		{ "EFER bit 20", 0x100500, 0xc0000080, 0 },
		{ "EFER all ones", 0xffffffff, 0xc0000080, 0xffffffff },
		{ "XCR0 0", 0, 0, 0 },
		{ "XCR0 YMM without SSE", 5, 0, 0 },
		{ "XCR1", 1, 1, 0 },
		{ "CR4 LA57 in long mode", 0x620 | (1u << 12), 0, 0 },
	};
	struct vm vm;
	struct vcpu v;
	struct kvisor_sregs s;
	unsigned int i, gp = 0, other = 0, accepted = 0;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_cr);
	ASSERT_EQ(NR(t), NSLOTS(g_cr));
	for (i = 0; i < NR(t); i++) {
		uint32_t vec = 0, rip = 0;
		int e;

		vm_load_code(&vm, SLOTS(g_cr), g_cr_end);
		ASSERT_EQ(0, enter(&v, 0, CODE_GPA + 32 * i, t[i].rax, t[i].rcx, t[i].rdx));
		if (!strncmp(t[i].what, "XCR", 3)) {
			ASSERT_EQ(0, vcpu_get_sregs(&v, &s));
			s.cr4 |= 1u << 18;	/* OSXSAVE, or XSETBV is #UD */
			ASSERT_EQ(0, vcpu_set_sregs(&v, &s));
		}
		e = run_exc(&v, &vec, &rip);
		ASSERT_LE(0, e) TH_LOG("%s: RUN %s", t[i].what, strerror(-e));
		if (t[i].what[0] == 'C' && e == 0) {
			/*
			 * MOV to CR is not intercepted: the CPU checks it.
			 * Anything but going on is a refusal (QEMU TCG
			 * makes some of these NPFs kvisor cannot emulate).
			 */
			EXPECT_TRUE(v.run->exit_reason == KVISOR_EXIT_INTERNAL_ERROR ||
				    v.run->exit_reason == KVISOR_EXIT_SHUTDOWN ||
				    v.run->exit_reason == KVISOR_EXIT_FAIL_ENTRY)
				TH_LOG("%s: %s", t[i].what, vcpu_exit_str(&v));
			printf("# %s: %s (not #GP)\n", t[i].what, exit_name(v.run->exit_reason));
			other++;
			continue;
		}
		ASSERT_EQ(1, e) TH_LOG("%s: %s", t[i].what, vcpu_exit_str(&v));
		if (t[i].what[0] == 'C' && vec == 3) {
			/* QEMU TCG does not check these; a real CPU raises #GP */
			printf("# %s: accepted by the CPU (emulator), guest-local\n", t[i].what);
			accepted++;
			continue;
		}
		EXPECT_EQ(13, vec) TH_LOG("%s: vector %u%s", t[i].what, vec,
					  vec == 3 ? " (kvisor accepted it)" : "");
		gp += vec == 13;
		/* and the state is still long mode, SVME hidden */
		ASSERT_EQ(0, vcpu_get_sregs(&v, &s));
		EXPECT_EQ(0x500, s.efer) TH_LOG("%s", t[i].what);
	}
	printf("# %zu illegal CR0/CR3/CR4/CR8/EFER/XCR writes: %u #GP, %u other refusal, "
	       "%u CR writes accepted by the CPU\n", NR(t), gp, other, accepted);
	fflush(stdout);
	vm_destroy(&vm);
}

GUEST_ASM(g_hlt, "hlt\n");

/* Triple faults three ways; the vCPU stays shut down until SET_SREGS. */
GUEST_ASM(g_tf_idt, "lidt [rip + 1f]\nud2\n1: .word 0\n.quad 0\n");
GUEST_ASM(g_tf_stack, "mov rsp, 0x8000000000000000\nud2\n");		/* #UD -> #SS -> #DF */
GUEST_ASM(g_tf_gdt, "lgdt [rip + 1f]\nmov ax, 0x18\nmov ss, ax\nud2\n1: .word 0\n.quad 0\n");

TEST(triple_faults)
{
	static const struct { const char *what; const uint8_t *s, *e; } t[] = {
		{ "empty IDT", g_tf_idt, g_tf_idt_end },
		{ "non-canonical stack", g_tf_stack, g_tf_stack_end },
		{ "empty GDT", g_tf_gdt, g_tf_gdt_end },
	};
	struct vm vm;
	struct vcpu v;
	unsigned int i;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_tf_idt);
	for (i = 0; i < NR(t); i++) {
		uint32_t vec, rip;
		int e;

		vm_load_code(&vm, t[i].s, t[i].e);
		ASSERT_EQ(0, enter(&v, 0, CODE_GPA, 0, 0, 0));
		e = run_exc(&v, &vec, &rip);
		ASSERT_LE(0, e);
		if (e == 1) {
			/* the stubs got it (a #GP/#SS on the load): not a triple fault */
			TH_LOG("%s: vector %u at %#x, no triple fault", t[i].what, vec, rip);
			continue;
		}
		EXPECT_EQ(KVISOR_EXIT_SHUTDOWN, v.run->exit_reason)
			TH_LOG("%s: %s", t[i].what, vcpu_exit_str(&v));
		RUN_EXPECT(&v, KVISOR_EXIT_SHUTDOWN);	/* stays down */
	}
	/* and it comes back */
	vm_load_code(&vm, g_hlt, g_hlt_end);
	ASSERT_EQ(0, enter(&v, 0, CODE_GPA, 0, 0, 0));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vm_destroy(&vm);
}

/* Outcomes of running hostile state: nothing else is acceptable. */
static bool clean_exit(unsigned int why)
{
	return why == KVISOR_EXIT_FAIL_ENTRY || why == KVISOR_EXIT_SHUTDOWN ||
	       why == KVISOR_EXIT_IO || why == KVISOR_EXIT_HLT || why == KVISOR_EXIT_MMIO ||
	       why == KVISOR_EXIT_INTERNAL_ERROR || why == KVISOR_EXIT_INTR;
}

static void on_alarm(int sig)
{
}

TEST(hostile_sregs_and_regs)
{
	enum { SEG_CS, SEG_SS, SEG_DS, SEG_TR };
	struct sigaction sa = { .sa_handler = on_alarm };
	unsigned int i, einval = 0, ran = 0, fail_entry = 0, exc = 0, other = 0;
	char outcome[64] = "";
	struct kvisor_sregs good, s;
	struct kvisor_regs goodr, r;
	uint8_t *pristine;
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_hlt);
	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));
	ASSERT_EQ(0, vcpu_get_sregs(&v, &good));
	ASSERT_EQ(0, vcpu_get_regs(&v, &goodr));
	pristine = malloc(GUEST_MEM_SIZE);
	ASSERT_NE(NULL, pristine);
	memcpy(pristine, vm.mem, GUEST_MEM_SIZE);
	for (i = 0; i < 48; i++) {
		bool regs = false, recovered;
		int e;

		s = good;
		r = goodr;
		switch (i) {
		case 0: s.cs.db = 1; break;				/* L and D */
		case 1: s.cs.type = 3; break;				/* data as code */
		case 2: s.cs.present = 0; break;
		case 3: s.cs.s = 0; break;
		case 4: s.ss.dpl = 3; break;				/* SS.DPL != CPL */
		case 5: s.cs.dpl = 3; break;
		case 6: s.tr.type = 1; break;				/* 16-bit TSS */
		case 7: s.tr.unusable = 1; s.tr.present = 0; break;
		case 8: s.gdt.limit = 0; break;
		case 9: s.idt.base = 0x8000000000000000ull; break;
		case 10: s.cs.base = 0x8000000000000000ull; break;
		case 11: s.fs.base = 0x8000000000000000ull; break;
		case 12: s.gs.base = 0x8000000000000000ull; break;
		case 13: s.tr.base = 0x8000000000000000ull; break;
		case 14: s.cr0 = 0x80000010; break;			/* PG without PE */
		case 15: s.cr0 |= 1u << 29; s.cr0 &= ~(1u << 30); break;	/* NW, no CD */
		case 16: s.cr0 = 0x0000000100000000ull | good.cr0; break;	/* EINVAL */
		case 17: s.cr4 = 0xffffffff; break;
		case 18: s.cr4 = 0x80000000 | good.cr4; break;
		case 19: s.cr4 &= ~0x20ull; break;			/* long mode, no PAE */
		case 20: s.cr3 = ~0ull; break;
		case 21: s.cr3 |= 0xfffull << 52; break;
		case 22: s.efer = 0x100; break;				/* LME, paging, no LMA */
		case 23: s.efer = 0x400; break;				/* LMA only */
		case 24: s.efer |= 1u << 12; break;			/* SVME: EINVAL */
		case 25: s.efer = ~0ull; break;
		case 26: s.cr8 = 16; break;
		case 27: s.apic_base = ~0ull; break;
		case 28: s.cs.type = 16; break;				/* EINVAL */
		case 29: s.ds.padding = 1; break;
		case 30: s.cr0 &= ~1ull; break;				/* PE off, PG on */
		case 31: s.cs.l = 1; s.cr0 = 0x10; s.efer = 0; s.cr4 = 0; break;	/* real, L */
		case 32: s.ss.type = 0xb; break;			/* code in SS */
		case 33: s.ldt.unusable = 0; s.ldt.present = 1; s.ldt.type = 0x2;
			 s.ldt.base = 0x8000000000000000ull; break;
		case 34: s.cr4 |= 1u << 17; break;			/* PCIDE, CR3 low bits */
		case 35: s.cr4 |= 1u << 12; break;			/* LA57 */
		case 36: s.cr4 |= 1u << 13; break;			/* VMXE */
		case 37: s.cr0 = 0x60000010; s.efer = 0x500; break;	/* LMA, no paging */
		/* registers */
		case 38: regs = true; r.rip = 0x8000000000000000ull; break;
		case 39: regs = true; r.rip = 0x0000800000000000ull; break;
		case 40: regs = true; r.rflags = ~0ull; break;		/* EINVAL */
		case 41: regs = true; r.rflags = 2 | (1u << 17); break;	/* VM in long mode */
		case 42: regs = true; r.rflags = 2 | (1u << 8); break;	/* TF */
		case 43: regs = true; r.rsp = 0x8000000000000000ull; break;
		case 44: regs = true; r.rflags = 2 | (1u << 3); break;	/* reserved: EINVAL */
		case 45: regs = true; r.rflags = 0; break;		/* bit 1 clear */
		case 46: regs = true; r.rip = ~0ull; break;
		case 47: regs = true; r.rflags = 2 | (1u << 14) | (3u << 12); break; /* NT, IOPL */
		}
		e = regs ? vcpu_set_regs(&v, &r) : vcpu_set_sregs(&v, &s);
		if (e) {
			EXPECT_EQ(-EINVAL, e) TH_LOG("case %u: %s", i, strerror(-e));
			einval++;
			outcome[i] = 'E';
			continue;
		}
		alarm(2);	/* a guest that loops must not hold the test */
		e = vcpu_run(&v);
		alarm(0);
		EXPECT_TRUE(e == 0 || e == -EINTR) TH_LOG("case %u: RUN %s", i, strerror(-e));
		EXPECT_TRUE(clean_exit(v.run->exit_reason)) TH_LOG("case %u: %s", i,
								   vcpu_exit_str(&v));
		ran++;
		outcome[i] = "?HXMYSFTIW"[v.run->exit_reason < 10 ? v.run->exit_reason : 0];
		if (v.run->exit_reason == KVISOR_EXIT_FAIL_ENTRY)
			fail_entry++;
		else if (v.run->exit_reason == KVISOR_EXIT_IO ||
			 v.run->exit_reason == KVISOR_EXIT_SHUTDOWN)
			exc++;
		else
			other++;
		/*
		 * Good state back: the vCPU runs again.  A hostile state may
		 * have run the guest into an endless exception loop whose
		 * frames ran down over its own tables and code, so its memory
		 * comes back too.  RUN may first finish an exit the hostile
		 * state left (RIP moves on): HLTs all over.
		 */
		memcpy(vm.mem, pristine, GUEST_MEM_SIZE);
		memset(vm.mem + CODE_GPA, 0xf4, 0x100);
		ASSERT_EQ(0, vcpu_set_sregs(&v, &good)) TH_LOG("case %u", i);
		ASSERT_EQ(0, vcpu_set_regs(&v, &goodr));
		e = vcpu_run(&v);
		recovered = !e && v.run->exit_reason == KVISOR_EXIT_HLT;
		if (!recovered) {
			struct kvisor_sregs now;

			ASSERT_EQ(0, vcpu_get_sregs(&v, &now));
			TH_LOG("good state now: cr0 %#llx cr3 %#llx cr4 %#llx efer %#llx "
			       "cs %#x/%#x ss %#x tr %#x/%#x; set: cr0 %#llx cr4 %#llx efer %#llx",
			       (unsigned long long)now.cr0, (unsigned long long)now.cr3,
			       (unsigned long long)now.cr4, (unsigned long long)now.efer,
			       now.cs.selector, now.cs.type, now.ss.selector,
			       now.tr.selector, now.tr.type,
			       (unsigned long long)good.cr0, (unsigned long long)good.cr4,
			       (unsigned long long)good.efer);
		}
		ASSERT_TRUE(recovered)
			TH_LOG("case %u (outcome %c): the vCPU did not recover: RUN %d, %s",
			       i, outcome[i], e, vcpu_exit_str(&v));
	}
	printf("# 48 hostile SET_SREGS/SET_REGS states: %u EINVAL, %u ran "
	       "(%u failed entry, %u guest exception/shutdown, %u other clean exit); "
	       "each time the vCPU recovered\n", einval, ran, fail_entry, exc, other);
	printf("# per case (E EINVAL, F failed entry, S shutdown, X I/O (exception stub), "
	       "H HLT, M MMIO, I internal error, T interrupted): %s\n", outcome);
	fflush(stdout);
	free(pristine);
	vm_destroy(&vm);
}

TEST_HARNESS_MAIN
