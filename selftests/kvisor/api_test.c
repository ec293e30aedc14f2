// SPDX-License-Identifier: GPL-2.0
/*
 * The system fd: API version, unknown ioctls, and CHECK_EXTENSION agreeing
 * with what the CPU itself reports (CPUID, VMX capability MSRs).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>

#include "kselftest_harness.h"
#include "kvisor_test.h"

#define MSR_IA32_VMX_PROCBASED_CTLS	0x482
#define MSR_IA32_VMX_PROCBASED_CTLS2	0x48b

/*
 * Open the system device, or SKIP where there is no VT-x/AMD-V.  A macro,
 * not a fixture: the 6.1 harness runs a test body even after its
 * FIXTURE_SETUP skipped.
 */
#define OPEN_SYSFD(fd) do {						\
	if (cpu_virt() == CPU_VIRT_NONE)				\
		SKIP(return, "no VT-x or AMD-V in this box");		\
	fd = open(KVISOR_DEV, O_RDWR | O_CLOEXEC);			\
	ASSERT_LE(0, fd) TH_LOG("open %s: %s", KVISOR_DEV, strerror(errno)); \
} while (0)

TEST(api_version)
{
	int fd;

	OPEN_SYSFD(fd);
	EXPECT_EQ(KVISOR_API_VERSION, ioctl(fd, KVISOR_GET_API_VERSION, 0));
	EXPECT_EQ(-1, ioctl(fd, KVISOR_GET_API_VERSION, 1));
	EXPECT_EQ(EINVAL, errno);
}

TEST(unknown_ioctls)
{
	const unsigned long bad[] = {
		_IO(KVISOR_IO, 0x7f), _IO(KVISOR_IO, 0xff), _IO(0xAE, 0x00),
		_IOW(KVISOR_IO, 0x00, int), 0x12345678, 0, ~0ul,
		KVISOR_RUN, KVISOR_SET_MEMORY_REGION,	/* vCPU / VM fd only */
	};
	unsigned int i;
	int fd;

	OPEN_SYSFD(fd);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		EXPECT_EQ(-1, ioctl(fd, bad[i], 0)) TH_LOG("ioctl %#lx", bad[i]);
		EXPECT_EQ(ENOTTY, errno) TH_LOG("ioctl %#lx", bad[i]);
	}
}

TEST(vendor_matches_cpu)
{
	int fd;
	long v;

	OPEN_SYSFD(fd);
	v = ioctl(fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_VENDOR);
	EXPECT_EQ(cpu_virt() == CPU_VIRT_VMX ? KVISOR_VENDOR_INTEL : KVISOR_VENDOR_AMD, v);
}

/* Nested paging, unrestricted guest and TLB tags, as the CPU states them. */
TEST(features_match_cpu)
{
	bool want_np, want_ug;
	long np, ug, tags, want_tags;
	int fd;

	OPEN_SYSFD(fd);
	np = ioctl(fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_NESTED_PAGING);
	ug = ioctl(fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_UNRESTRICTED_GUEST);
	tags = ioctl(fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_TAGGED_TLB);

	if (cpu_virt() == CPU_VIRT_SVM) {
		uint32_t r[4];

		cpuid_count(0x8000000a, 0, r);
		want_np = r[3] & 1;		/* EDX[0]: NP */
		want_ug = want_np;
		want_tags = r[1] ? r[1] - 1 : 0;	/* EBX: ASIDs, 0 is the host's */
	} else {
		uint64_t ctls, ctls2 = 0;

		ASSERT_EQ(0, msr_read(0, MSR_IA32_VMX_PROCBASED_CTLS, &ctls))
			TH_LOG("cannot read VMX capability MSRs (msr.ko?)");
		if (ctls & (1ull << 63))	/* secondary controls allowed */
			ASSERT_EQ(0, msr_read(0, MSR_IA32_VMX_PROCBASED_CTLS2, &ctls2));
		want_np = ctls2 & (1ull << (32 + 1));	/* EPT */
		want_ug = want_np && (ctls2 & (1ull << (32 + 7)));
		want_tags = (ctls2 & (1ull << (32 + 5))) ? 0xffff : 0;	/* VPID */
	}
	EXPECT_EQ(want_np, np);
	EXPECT_EQ(want_ug, ug);
	EXPECT_EQ(want_tags, tags);
}

/*
 * Without nested paging or unrestricted guest (VT-x of a Core 2, AMD-V
 * without NPT) kvisor still loads and says so above, but refuses VMs.
 */
TEST(no_vms_without_nested_paging)
{
	long np, ug;
	int fd, vm;

	OPEN_SYSFD(fd);
	np = ioctl(fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_NESTED_PAGING);
	ug = ioctl(fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_UNRESTRICTED_GUEST);
	if (np > 0 && ug > 0)
		SKIP(return, "this CPU has nested paging and unrestricted guest");
	vm = ioctl(fd, KVISOR_CREATE_VM, 0);
	EXPECT_EQ(-1, vm);
	EXPECT_EQ(EOPNOTSUPP, errno) TH_LOG("CREATE_VM: %s", strerror(errno));
	if (vm >= 0)
		close(vm);
	close(fd);
}

TEST(limits)
{
	int fd;

	OPEN_SYSFD(fd);
	EXPECT_LE(1, ioctl(fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_MAX_VCPUS));
	EXPECT_LE(1, ioctl(fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_MAX_MEMORY_SLOTS));
	EXPECT_LE(1, ioctl(fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_MAX_MEMORY_MB));
	/* unknown capabilities are absent, not an error */
	EXPECT_EQ(0, ioctl(fd, KVISOR_CHECK_EXTENSION, 0));
	EXPECT_EQ(0, ioctl(fd, KVISOR_CHECK_EXTENSION, 0x7fffffff));
	EXPECT_EQ(0, ioctl(fd, KVISOR_CHECK_EXTENSION, -1L));
}

TEST_HARNESS_MAIN
