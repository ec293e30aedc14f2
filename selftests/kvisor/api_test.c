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

FIXTURE(sysfd) {
	int fd;
};

FIXTURE_SETUP(sysfd)
{
	if (cpu_virt() == CPU_VIRT_NONE)
		SKIP(return, "no VT-x or AMD-V in this box");
	self->fd = open(KVISOR_DEV, O_RDWR | O_CLOEXEC);
	ASSERT_LE(0, self->fd) TH_LOG("open %s: %s", KVISOR_DEV, strerror(errno));
}

FIXTURE_TEARDOWN(sysfd)
{
	if (self->fd >= 0)
		close(self->fd);
}

TEST_F(sysfd, api_version)
{
	EXPECT_EQ(KVISOR_API_VERSION, ioctl(self->fd, KVISOR_GET_API_VERSION, 0));
	EXPECT_EQ(-1, ioctl(self->fd, KVISOR_GET_API_VERSION, 1));
	EXPECT_EQ(EINVAL, errno);
}

TEST_F(sysfd, unknown_ioctls)
{
	const unsigned long bad[] = {
		_IO(KVISOR_IO, 0x7f), _IO(KVISOR_IO, 0xff), _IO(0xAE, 0x00),
		_IOW(KVISOR_IO, 0x00, int), 0x12345678, 0, ~0ul,
		KVISOR_RUN, KVISOR_SET_MEMORY_REGION,	/* vCPU / VM fd only */
	};
	unsigned int i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		EXPECT_EQ(-1, ioctl(self->fd, bad[i], 0)) TH_LOG("ioctl %#lx", bad[i]);
		EXPECT_EQ(ENOTTY, errno) TH_LOG("ioctl %#lx", bad[i]);
	}
}

TEST_F(sysfd, vendor_matches_cpu)
{
	long v = ioctl(self->fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_VENDOR);

	EXPECT_EQ(cpu_virt() == CPU_VIRT_VMX ? KVISOR_VENDOR_INTEL : KVISOR_VENDOR_AMD, v);
}

/* Nested paging, unrestricted guest and TLB tags, as the CPU states them. */
TEST_F(sysfd, features_match_cpu)
{
	long np = ioctl(self->fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_NESTED_PAGING);
	long ug = ioctl(self->fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_UNRESTRICTED_GUEST);
	long tags = ioctl(self->fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_TAGGED_TLB);
	bool want_np, want_ug;
	long want_tags;

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

TEST_F(sysfd, limits)
{
	EXPECT_LE(1, ioctl(self->fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_MAX_VCPUS));
	EXPECT_LE(1, ioctl(self->fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_MAX_MEMORY_SLOTS));
	EXPECT_LE(1, ioctl(self->fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_MAX_MEMORY_MB));
	/* unknown capabilities are absent, not an error */
	EXPECT_EQ(0, ioctl(self->fd, KVISOR_CHECK_EXTENSION, 0));
	EXPECT_EQ(0, ioctl(self->fd, KVISOR_CHECK_EXTENSION, 0x7fffffff));
	EXPECT_EQ(0, ioctl(self->fd, KVISOR_CHECK_EXTENSION, -1L));
}

TEST_HARNESS_MAIN
