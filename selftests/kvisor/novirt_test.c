// SPDX-License-Identifier: GPL-2.0
/*
 * On a CPU without VT-x or AMD-V (the "none" box), kvisor refuses to load
 * with ENODEV and one log line that says why.
 */
#include <errno.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kvisor_test.h"

TEST(refuses_to_load)
{
	if (cpu_virt() != CPU_VIRT_NONE)
		SKIP(return, "this box has VT-x or AMD-V");

	ASSERT_FALSE(module_loaded("kvisor"));
	kmsg_mark("novirt");
	EXPECT_EQ(-ENODEV, module_load(kvisor_ko_path(), ""));
	EXPECT_EQ(-ENODEV, module_load(kvisor_ko_path(), "enable_at_load=1"));
	EXPECT_TRUE(kmsg_since_mark_has("novirt",
					"kvisor: no VT-x or AMD-V on this CPU, not loading"));
	EXPECT_FALSE(module_loaded("kvisor"));
	EXPECT_EQ(-1, access(KVISOR_DEV, F_OK));
	EXPECT_EQ(ENOENT, errno);
}

TEST_HARNESS_MAIN
