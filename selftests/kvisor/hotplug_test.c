// SPDX-License-Identifier: GPL-2.0
/*
 * CPU hotplug with virtualization on: CPU1 goes offline and online 20
 * times; each time it comes back, VT-x/AMD-V must be on again on it, and
 * off while it is away.
 */
#include <errno.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kvisor_test.h"

#define MSR_EFER	0xc0000080
#define EFER_SVME	(1ull << 12)
#define ROUNDS		20

static bool svme_on(int cpu)
{
	uint64_t v = 0;

	return msr_read(cpu, MSR_EFER, &v) == 0 && (v & EFER_SVME);
}

/* 20 rounds take about 20 s of emulated time in the Bochs box. */
EMPTY_FIXTURE(hotplug)

TEST_F_TIMEOUT(hotplug, cpu1_offline_online, 240)
{
	bool svm = cpu_virt() == CPU_VIRT_SVM;
	char got[64];
	int round;

	if (cpu_virt() == CPU_VIRT_NONE)
		SKIP(return, "no VT-x or AMD-V in this box");
	if (cpus_online() != 2 || access("/sys/devices/system/cpu/cpu1/online", W_OK))
		SKIP(return, "needs exactly 2 CPUs with CPU1 hotpluggable");

	ASSERT_EQ(0, kvisor_reload("enable_at_load=1"));
	for (round = 0; round < ROUNDS; round++) {
		ASSERT_EQ(0, cpu_set_online(1, false)) TH_LOG("round %d: offline", round);
		ASSERT_EQ(0, kvisor_hw_cpus(got, sizeof(got)));
		EXPECT_STREQ("0", got) TH_LOG("round %d, CPU1 offline", round);

		ASSERT_EQ(0, cpu_set_online(1, true)) TH_LOG("round %d: online", round);
		ASSERT_EQ(0, kvisor_hw_cpus(got, sizeof(got)));
		EXPECT_STREQ("0-1", got) TH_LOG("round %d, CPU1 back", round);
		if (svm)
			EXPECT_TRUE(svme_on(1)) TH_LOG("round %d: EFER.SVME off on CPU1", round);
	}

	/* With virtualization off (on-demand mode, no VM), hotplug leaves it off. */
	ASSERT_EQ(0, kvisor_restore());
	ASSERT_EQ(0, cpu_set_online(1, false));
	ASSERT_EQ(0, cpu_set_online(1, true));
	ASSERT_EQ(0, kvisor_hw_cpus(got, sizeof(got)));
	EXPECT_STREQ("", got);
	if (svm)
		EXPECT_FALSE(svme_on(1));
}

TEST_HARNESS_MAIN
