// SPDX-License-Identifier: GPL-2.0
/*
 * Load and unload kvisor 50 times, alternating the two enabling modes, and
 * check each time that the device works, that virtualization is on exactly
 * when it should be, and that unloading leaves every CPU as it was found
 * (on AMD, read back EFER.SVME and VM_HSAVE_PA through the msr driver).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "kvisor_test.h"

#define MSR_EFER	0xc0000080
#define EFER_SVME	(1ull << 12)
#define MSR_VM_HSAVE_PA	0xc0010117
#define MAX_CPUS	64
#define ROUNDS		50

static void all_cpus(char *buf, size_t len)
{
	int n = cpus_online();

	if (n == 1)
		snprintf(buf, len, "0");
	else
		snprintf(buf, len, "0-%d", n - 1);
}

/* One load/unload takes about 2 s in the Bochs box: 50 need more than 30 s. */
EMPTY_FIXTURE(load)

TEST_F_TIMEOUT(load, load_unload_50, 280)
{
	uint64_t efer0[MAX_CPUS], hsave0[MAX_CPUS], v;
	bool svm = cpu_virt() == CPU_VIRT_SVM;
	int ncpu = cpus_online(), round, cpu;
	char want[32], got[64];

	if (cpu_virt() == CPU_VIRT_NONE)
		SKIP(return, "no VT-x or AMD-V in this box");
	ASSERT_GE(MAX_CPUS, ncpu);
	all_cpus(want, sizeof(want));

	if (module_loaded("kvisor"))
		ASSERT_EQ(0, module_unload("kvisor"));
	if (svm) {
		for (cpu = 0; cpu < ncpu; cpu++) {
			ASSERT_EQ(0, msr_read(cpu, MSR_EFER, &efer0[cpu]));
			ASSERT_EQ(0, msr_read(cpu, MSR_VM_HSAVE_PA, &hsave0[cpu]));
			ASSERT_EQ(0ull, efer0[cpu] & EFER_SVME) TH_LOG("SVM on before kvisor loaded");
		}
	}

	for (round = 0; round < ROUNDS; round++) {
		bool at_load = round & 1;
		int fd;

		ASSERT_EQ(0, module_load(kvisor_ko_path(), at_load ? "enable_at_load=1" : ""))
			TH_LOG("round %d: load failed", round);
		fd = open(KVISOR_DEV, O_RDWR);
		ASSERT_LE(0, fd) TH_LOG("round %d: open: %s", round, strerror(errno));
		EXPECT_EQ(KVISOR_API_VERSION, ioctl(fd, KVISOR_GET_API_VERSION, 0));
		EXPECT_EQ(at_load, ioctl(fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_HW_ENABLED));
		close(fd);

		ASSERT_EQ(0, kvisor_hw_cpus(got, sizeof(got)));
		EXPECT_STREQ(at_load ? want : "", got) TH_LOG("round %d", round);
		for (cpu = 0; svm && cpu < ncpu; cpu++) {
			ASSERT_EQ(0, msr_read(cpu, MSR_EFER, &v));
			EXPECT_EQ(at_load, !!(v & EFER_SVME)) TH_LOG("round %d cpu %d", round, cpu);
		}

		ASSERT_EQ(0, module_unload("kvisor")) TH_LOG("round %d: unload", round);
		EXPECT_EQ(-1, access(KVISOR_DEV, F_OK));

		for (cpu = 0; svm && cpu < ncpu; cpu++) {
			ASSERT_EQ(0, msr_read(cpu, MSR_EFER, &v));
			EXPECT_EQ(efer0[cpu], v) TH_LOG("round %d cpu %d: EFER", round, cpu);
			ASSERT_EQ(0, msr_read(cpu, MSR_VM_HSAVE_PA, &v));
			EXPECT_EQ(hsave0[cpu], v) TH_LOG("round %d cpu %d: VM_HSAVE_PA", round, cpu);
		}
	}
	ASSERT_EQ(0, kvisor_restore());
}

/* Unknown parameters and bad values are refused; nothing stays loaded. */
TEST(bad_parameters)
{
	if (cpu_virt() == CPU_VIRT_NONE)
		SKIP(return, "no VT-x or AMD-V in this box");
	if (module_loaded("kvisor"))
		ASSERT_EQ(0, module_unload("kvisor"));
	EXPECT_EQ(-EINVAL, module_load(kvisor_ko_path(), "enable_at_load=banana"));
	EXPECT_FALSE(module_loaded("kvisor"));
	ASSERT_EQ(0, kvisor_restore());
}

TEST_HARNESS_MAIN
