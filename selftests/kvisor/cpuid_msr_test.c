// SPDX-License-Identifier: GPL-2.0
/*
 * CPUID and MSRs, handled in the kernel: the default CPUID table (host
 * filtered, hypervisor bit, kvisor signature, no SVM/VMX), SET_CPUID seen
 * by the guest, MSRs through GET/SET_MSRS and from the guest, and #GP in
 * the guest for unknown MSRs and reserved bits.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "vm.h"

#define MSR_EFER		0xc0000080
#define MSR_STAR		0xc0000081
#define MSR_LSTAR		0xc0000082
#define MSR_CSTAR		0xc0000083
#define MSR_SFMASK		0xc0000084
#define MSR_FS_BASE		0xc0000100
#define MSR_GS_BASE		0xc0000101
#define MSR_KERNEL_GS_BASE	0xc0000102
#define MSR_TSC_AUX		0xc0000103
#define MSR_SYSENTER_CS		0x174
#define MSR_SYSENTER_ESP	0x175
#define MSR_SYSENTER_EIP	0x176
#define MSR_PAT			0x277
#define MSR_APIC_BASE		0x1b
#define MSR_TSC			0x10
#define MSR_MTRRCAP		0xfe
#define MSR_MTRR_DEF_TYPE	0x2ff
#define MSR_UNKNOWN		0x12345
#define MSR_K7_HWCR		0xc0010015
#define MSR_AMD64_NB_CFG	0xc001001f

struct cpuid_buf {
	struct kvisor_cpuid h;
	struct kvisor_cpuid_entry e[KVISOR_MAX_CPUID_ENTRIES];
};

static struct kvisor_cpuid_entry *find(struct cpuid_buf *c, uint32_t fn, uint32_t idx)
{
	uint32_t i;

	for (i = 0; i < c->h.nent; i++)
		if (c->e[i].function == fn &&
		    (!(c->e[i].flags & KVISOR_CPUID_FLAG_INDEXED) || c->e[i].index == idx))
			return &c->e[i];
	return NULL;
}

/* CPUID leaf in eax/ecx -> OUT eax, ebx, ecx, edx; the next leaf... */
GUEST_ASM(g_cpuid,
	"mov rsi, 0x20000\n"		/* leaves to ask, 0-terminated list */
	"1: mov eax, [rsi]\n"
	"test eax, eax\n"
	"jz 2f\n"
	"xor ecx, ecx\n"
	"cpuid\n"
	"out 0x10, eax\n"
	"mov eax, ebx\n"
	"out 0x10, eax\n"
	"mov eax, ecx\n"
	"out 0x10, eax\n"
	"mov eax, edx\n"
	"out 0x10, eax\n"
	"add rsi, 4\n"
	"jmp 1b\n"
	"2: hlt\n");

TEST(cpuid_default)
{
	static struct cpuid_buf c;
	static const uint32_t leaves[] = { 1, 0x40000000, 0x80000001, 0 };
	struct kvisor_cpuid_entry *e1, *hv, *ext;
	struct kvisor_vcpu_stats st0, st1;
	struct vm vm;
	struct vcpu v;
	char sig[13];
	unsigned int i, k;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_cpuid);
	c.h.nent = KVISOR_MAX_CPUID_ENTRIES;
	ASSERT_LE(0, ioctl(v.fd, KVISOR_GET_CPUID, &c)) TH_LOG("%s", strerror(errno));
	ASSERT_LE(3, c.h.nent);
	e1 = find(&c, 1, 0);
	hv = find(&c, 0x40000000, 0);
	ext = find(&c, 0x80000001, 0);
	ASSERT_NE(NULL, e1);
	ASSERT_NE(NULL, hv);
	ASSERT_NE(NULL, ext);
	EXPECT_EQ(1u << 31, e1->ecx & (1u << 31)) TH_LOG("hypervisor bit");
	EXPECT_EQ(0, e1->ecx & (1u << 5)) TH_LOG("VMX advertised");
	EXPECT_EQ(0, ext->ecx & (1u << 2)) TH_LOG("SVM advertised");
	memcpy(sig, &hv->ebx, 4);
	memcpy(sig + 4, &hv->ecx, 4);
	memcpy(sig + 8, &hv->edx, 4);
	sig[12] = 0;
	for (k = 0; k < 12; k++)
		sig[k] = tolower((unsigned char)sig[k]);
	EXPECT_NE(NULL, strstr(sig, "kvisor")) TH_LOG("signature '%.12s'", sig);
	/* the host's family/model/stepping come through */
	{
		uint32_t h[4];

		cpuid_count(1, 0, h);
		EXPECT_EQ(h[0], e1->eax);
	}

	/* the guest sees the table */
	vm_load(&vm, DATA_GPA, leaves, sizeof(leaves));
	ASSERT_EQ(0, vcpu_get_stats(&v, &st0));
	for (i = 0; i < 3; i++) {
		struct kvisor_cpuid_entry *e = find(&c, leaves[i], 0);

		EXPECT_EQ(e->eax, EXPECT_OUT(&v, PORT_REPORT)) TH_LOG("leaf %#x eax", leaves[i]);
		EXPECT_EQ(e->ebx, EXPECT_OUT(&v, PORT_REPORT)) TH_LOG("leaf %#x ebx", leaves[i]);
		EXPECT_EQ(e->ecx, EXPECT_OUT(&v, PORT_REPORT)) TH_LOG("leaf %#x ecx", leaves[i]);
		EXPECT_EQ(e->edx, EXPECT_OUT(&v, PORT_REPORT)) TH_LOG("leaf %#x edx", leaves[i]);
	}
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	ASSERT_EQ(0, vcpu_get_stats(&v, &st1));
	EXPECT_EQ(3, st1.counters[KVISOR_STAT_CPUID] - st0.counters[KVISOR_STAT_CPUID]);
	EXPECT_EQ(12, st1.counters[KVISOR_STAT_IO] - st0.counters[KVISOR_STAT_IO]);
	vm_destroy(&vm);
}

TEST(cpuid_set)
{
	static struct cpuid_buf c, back;
	static const uint32_t leaves[] = { 1, 0x40000000, 0 };
	struct vm vm;
	struct vcpu v;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_cpuid);
	memset(&c, 0, sizeof(c));
	c.h.nent = 3;
	c.e[0] = (struct kvisor_cpuid_entry){ .function = 0, .eax = 1,
		.ebx = 0x74736554, .ecx = 0x21212121, .edx = 0x21212121 };
	c.e[1] = (struct kvisor_cpuid_entry){ .function = 1, .eax = 0x12345678,
		.ebx = 0x9abcdef0, .ecx = 0x80000000, .edx = 0x0f0f0f0f };
	c.e[2] = (struct kvisor_cpuid_entry){ .function = 0x40000000, .eax = 0x40000000,
		.ebx = 0x11111111, .ecx = 0x22222222, .edx = 0x33333333 };
	ASSERT_EQ(0, ioctl(v.fd, KVISOR_SET_CPUID, &c)) TH_LOG("%s", strerror(errno));
	back.h.nent = KVISOR_MAX_CPUID_ENTRIES;
	ASSERT_LE(0, ioctl(v.fd, KVISOR_GET_CPUID, &back));
	EXPECT_EQ(3, back.h.nent);
	EXPECT_EQ(0, memcmp(c.e, back.e, 3 * sizeof(c.e[0])));

	vm_load(&vm, DATA_GPA, leaves, sizeof(leaves));
	EXPECT_EQ(0x12345678, EXPECT_OUT(&v, PORT_REPORT));
	EXPECT_EQ(0x9abcdef0, EXPECT_OUT(&v, PORT_REPORT));
	EXPECT_EQ(0x80000000, EXPECT_OUT(&v, PORT_REPORT));
	EXPECT_EQ(0x0f0f0f0f, EXPECT_OUT(&v, PORT_REPORT));
	EXPECT_EQ(0x40000000, EXPECT_OUT(&v, PORT_REPORT));
	EXPECT_EQ(0x11111111, EXPECT_OUT(&v, PORT_REPORT));
	EXPECT_EQ(0x22222222, EXPECT_OUT(&v, PORT_REPORT));
	EXPECT_EQ(0x33333333, EXPECT_OUT(&v, PORT_REPORT));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vm_destroy(&vm);
}

TEST(msrs_ioctl)
{
	static const struct { uint32_t index; uint64_t val; } m[] = {
		{ MSR_STAR, 0x0023001000000000ull }, { MSR_LSTAR, 0xffffffff81000000ull },
		{ MSR_CSTAR, 0xffffffff81000100ull }, { MSR_SFMASK, 0x47700 },
		{ MSR_KERNEL_GS_BASE, 0x7f0000001000ull }, { MSR_FS_BASE, 0x7f0000002000ull },
		{ MSR_GS_BASE, 0xffff888000000000ull }, { MSR_SYSENTER_CS, 0x10 },
		{ MSR_SYSENTER_ESP, 0xffff888000001000ull }, { MSR_SYSENTER_EIP, 0xffffffff81000200ull },
		{ MSR_PAT, 0x0007040600070406ull }, { MSR_TSC_AUX, 3 },
	};
	struct {
		struct kvisor_msrs h;
		struct kvisor_msr_entry e[3];
	} two;
	struct vm vm;
	struct vcpu v;
	uint64_t val;
	unsigned int i;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_cpuid);
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		EXPECT_EQ(1, vcpu_set_msr(&v, m[i].index, m[i].val)) TH_LOG("set %#x", m[i].index);
		EXPECT_EQ(1, vcpu_get_msr(&v, m[i].index, &val)) TH_LOG("get %#x", m[i].index);
		EXPECT_EQ(m[i].val, val) TH_LOG("MSR %#x", m[i].index);
	}
	EXPECT_EQ(1, vcpu_get_msr(&v, MSR_EFER, &val));
	EXPECT_EQ(0x500, val & 0x500);
	EXPECT_EQ(0, val & 0x1000) TH_LOG("guest EFER shows SVME");
	/* unknown: nothing processed; processing stops there */
	EXPECT_EQ(0, vcpu_get_msr(&v, MSR_UNKNOWN, &val));
	EXPECT_EQ(0, vcpu_set_msr(&v, MSR_UNKNOWN, 0));
	memset(&two, 0, sizeof(two));
	two.h.nmsrs = 3;
	two.e[0].index = MSR_LSTAR;
	two.e[1].index = MSR_UNKNOWN;
	two.e[2].index = MSR_STAR;
	EXPECT_EQ(1, ioctl(v.fd, KVISOR_GET_MSRS, &two));
	EXPECT_EQ(m[1].val, two.e[0].data);
	/* reserved bits refused: PAT type 2, EFER bit 63 */
	EXPECT_EQ(0, vcpu_set_msr(&v, MSR_PAT, 0x0202020202020202ull));
	EXPECT_EQ(0, vcpu_set_msr(&v, MSR_EFER, 0x8000000000000500ull));
	vm_destroy(&vm);
}

/* rcx = MSR, rdx:rax = value: wrmsr, rdmsr, OUT low and high halves */
GUEST_ASM(g_msr,
	"wrmsr\n"
	"xor eax, eax\n"
	"xor edx, edx\n"
	"rdmsr\n"
	"out 0x10, eax\n"
	"mov eax, edx\n"
	"out 0x10, eax\n"
	"hlt\n");

/* rcx = MSR: rdmsr, OUT low half */
GUEST_ASM(g_rdmsr,
	"rdmsr\n"
	"out 0x10, eax\n"
	"hlt\n");

static void guest_regs(struct __test_metadata *_metadata, struct vcpu *v,
		       uint64_t rip, uint32_t msr, uint64_t val)
{
	struct kvisor_regs r;

	ASSERT_EQ(0, vcpu_get_regs(v, &r));
	r.rip = rip;
	r.rsp = STACK_TOP;
	r.rflags = 2;
	r.rcx = msr;
	r.rax = (uint32_t)val;
	r.rdx = val >> 32;
	ASSERT_EQ(0, vcpu_set_regs(v, &r));
}

TEST(msrs_from_guest)
{
	static const struct { uint32_t index; uint64_t val; } m[] = {
		{ MSR_LSTAR, 0xffffffff81234560ull }, { MSR_STAR, 0x0023001000000000ull },
		{ MSR_KERNEL_GS_BASE, 0x12345678000ull }, { MSR_GS_BASE, 0x7f0000003000ull },
		{ MSR_FS_BASE, 0x7f0000004000ull }, { MSR_SYSENTER_EIP, 0x81000300ull },
		{ MSR_TSC_AUX, 7 }, { MSR_PAT, 0x0007040600070406ull },
		{ MSR_CSTAR, 0xffffffff81000400ull }, { MSR_SFMASK, 0x700 },
	};
	struct vm vm;
	struct vcpu v;
	uint64_t val;
	unsigned int i;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_msr);
	for (i = 0; i < sizeof(m) / sizeof(m[0]); i++) {
		guest_regs(_metadata, &v, CODE_GPA, m[i].index, m[i].val);
		EXPECT_EQ((uint32_t)m[i].val, EXPECT_OUT(&v, PORT_REPORT)) TH_LOG("MSR %#x", m[i].index);
		EXPECT_EQ(m[i].val >> 32, EXPECT_OUT(&v, PORT_REPORT)) TH_LOG("MSR %#x", m[i].index);
		RUN_EXPECT(&v, KVISOR_EXIT_HLT);
		EXPECT_EQ(1, vcpu_get_msr(&v, m[i].index, &val));
		EXPECT_EQ(m[i].val, val) TH_LOG("MSR %#x via ioctl", m[i].index);
	}
	/* set by ioctl, read by the guest; and the read-only ones read */
	vm_load_code(&vm, g_rdmsr, g_rdmsr_end);
	EXPECT_EQ(1, vcpu_set_msr(&v, MSR_KERNEL_GS_BASE, 0xabcdef00));
	guest_regs(_metadata, &v, CODE_GPA, MSR_KERNEL_GS_BASE, 0);
	EXPECT_EQ(0xabcdef00, EXPECT_OUT(&v, PORT_REPORT));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	{
		static const uint32_t ro[] = { MSR_APIC_BASE, MSR_TSC, MSR_MTRRCAP,
					       MSR_MTRR_DEF_TYPE, MSR_EFER };

		for (i = 0; i < sizeof(ro) / sizeof(ro[0]); i++) {
			guest_regs(_metadata, &v, CODE_GPA, ro[i], 0);
			RUN_EXPECT(&v, KVISOR_EXIT_IO);
			EXPECT_EQ(PORT_REPORT, v.run->io.port)
				TH_LOG("rdmsr %#x: %s", ro[i], vcpu_exit_str(&v));
			RUN_EXPECT(&v, KVISOR_EXIT_HLT);
		}
	}
	vm_destroy(&vm);
}

TEST(msr_gp)
{
	static const struct { uint32_t index; uint64_t val; bool write; } bad[] = {
		{ MSR_UNKNOWN, 0, false }, { MSR_UNKNOWN, 1, true },
		{ MSR_PAT, 0x0202020202020202ull, true },	/* type 2 reserved */
		{ MSR_EFER, 0x8000000000000500ull, true },	/* bit 63 reserved */
		{ MSR_LSTAR, 0x0000800000000000ull, true },	/* non-canonical */
	};
	struct vm vm;
	struct vcpu v;
	uint32_t err, rip;
	unsigned int i;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_msr);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* g_msr starts with wrmsr (2 bytes) then rdmsr at +6 */
		uint64_t rip0 = bad[i].write ? CODE_GPA : CODE_GPA + 6;

		guest_regs(_metadata, &v, rip0, bad[i].index, bad[i].val);
		rip = EXPECT_EXCEPTION(&v, 13, &err);
		EXPECT_EQ(rip0, rip) TH_LOG("MSR %#x", bad[i].index);
		EXPECT_EQ(0, err);
	}
	vm_destroy(&vm);
}

/*
 * MSRs Linux writes or reads without a fallback: MTRR_DEF_TYPE keeps a
 * valid type and E (FE and the rest reserved: MTRRcap has no fixed
 * ranges); on AMD hosts HWCR (TscFreqSel reads 1) and NB_CFG keep what
 * is written, on Intel they #GP; CPUID does not offer TSC_ADJUST.
 */
TEST(msrs_linux_uses)
{
	struct cpuid_buf c;
	struct vm vm;
	struct vcpu v;
	uint32_t err;
	uint64_t val;
	bool amd;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_msr);
	amd = ioctl(vm.sys_fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_VENDOR) ==
	      KVISOR_VENDOR_AMD;
	EXPECT_EQ(1, vcpu_get_msr(&v, MSR_MTRR_DEF_TYPE, &val));
	EXPECT_EQ(0x806, val) TH_LOG("reset: enabled, write-back");
	guest_regs(_metadata, &v, CODE_GPA, MSR_MTRR_DEF_TYPE, 0x800);
	EXPECT_EQ(0x800, EXPECT_OUT(&v, PORT_REPORT));
	EXPECT_EQ(0, EXPECT_OUT(&v, PORT_REPORT));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	/* FE without fixed ranges, type 2, bit 12: #GP at the WRMSR */
	guest_regs(_metadata, &v, CODE_GPA, MSR_MTRR_DEF_TYPE, 0xc06);
	EXPECT_EQ(CODE_GPA, EXPECT_EXCEPTION(&v, 13, &err));
	EXPECT_EQ(0, vcpu_set_msr(&v, MSR_MTRR_DEF_TYPE, 0x802));
	EXPECT_EQ(0, vcpu_set_msr(&v, MSR_MTRR_DEF_TYPE, 0x1806));
	EXPECT_EQ(1, vcpu_get_msr(&v, MSR_MTRR_DEF_TYPE, &val));
	EXPECT_EQ(0x800, val);

	if (amd) {
		EXPECT_EQ(1, vcpu_get_msr(&v, MSR_K7_HWCR, &val));
		EXPECT_EQ(1ull << 24, val & (1ull << 24)) TH_LOG("TscFreqSel");
		guest_regs(_metadata, &v, CODE_GPA, MSR_K7_HWCR, 1);
		EXPECT_EQ(1 | (1u << 24), EXPECT_OUT(&v, PORT_REPORT));
		EXPECT_EQ(0, EXPECT_OUT(&v, PORT_REPORT));
		RUN_EXPECT(&v, KVISOR_EXIT_HLT);
		guest_regs(_metadata, &v, CODE_GPA, MSR_AMD64_NB_CFG, 1ull << 46);
		EXPECT_EQ(0, EXPECT_OUT(&v, PORT_REPORT));
		EXPECT_EQ(1u << 14, EXPECT_OUT(&v, PORT_REPORT));
		RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	} else {
		EXPECT_EQ(0, vcpu_get_msr(&v, MSR_K7_HWCR, &val));
		guest_regs(_metadata, &v, CODE_GPA + 6, MSR_AMD64_NB_CFG, 0);
		EXPECT_EQ(CODE_GPA + 6, EXPECT_EXCEPTION(&v, 13, &err));
	}

	c.h.nent = KVISOR_MAX_CPUID_ENTRIES;
	c.h.padding = 0;
	ASSERT_EQ(0, ioctl(v.fd, KVISOR_GET_CPUID, &c));
	ASSERT_NE(NULL, find(&c, 7, 0));
	EXPECT_EQ(0, find(&c, 7, 0)->ebx & 2) TH_LOG("TSC_ADJUST offered");
	vm_destroy(&vm);
}

TEST_HARNESS_MAIN
