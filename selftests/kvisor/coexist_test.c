// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor and Debian's KVM in one kernel.  Whoever holds VT-x/AMD-V first
 * keeps it: the other one gets EBUSY, and gets the hardware once the first
 * lets go.  KVM must run a guest again after kvisor is gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/kvm.h>

#include "kselftest_harness.h"
#include "kvisor_test.h"

static const char *kvm_module(void)
{
	return cpu_virt() == CPU_VIRT_SVM ? "kvm-amd" : "kvm-intel";
}

/* A KVM VM holds the hardware in KVM 6.1 (it enables on first VM). */
static int kvm_create_vm(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm;

	if (kvm < 0)
		return -errno;
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		vm = -errno;
	close(kvm);
	return vm;
}

/* Run one HLT in real mode under KVM; returns the KVM exit reason. */
static int kvm_run_hlt(int vm)
{
	struct kvm_userspace_memory_region mr = { 0 };
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };
	struct kvm_run *run;
	int kvm, vcpu, size, reason = -1;
	unsigned char *mem;

	mem = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -1;
	mem[0x1000] = 0xf4;	/* hlt */
	mr.memory_size = 0x2000;
	mr.userspace_addr = (unsigned long)mem;
	if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &mr))
		goto out;
	vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
	kvm = open("/dev/kvm", O_RDWR);
	size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
	close(kvm);
	if (vcpu < 0 || size <= 0)
		goto out;
	run = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
	if (run == MAP_FAILED)
		goto out_vcpu;
	if (ioctl(vcpu, KVM_GET_SREGS, &sregs) == 0) {
		sregs.cs.base = 0;
		sregs.cs.selector = 0;
		regs.rip = 0x1000;
		regs.rflags = 2;
		if (!ioctl(vcpu, KVM_SET_SREGS, &sregs) &&
		    !ioctl(vcpu, KVM_SET_REGS, &regs) &&
		    !ioctl(vcpu, KVM_RUN, 0))
			reason = run->exit_reason;
	}
	munmap(run, size);
out_vcpu:
	close(vcpu);
out:
	munmap(mem, 0x2000);
	return reason;
}

static void kvm_unload(void)
{
	run_modprobe(cpu_virt() == CPU_VIRT_SVM ? "-r kvm-amd" : "-r kvm-intel");
}

/*
 * Load KVM for the CPU's vendor, or SKIP.  A macro, not a fixture: the 6.1
 * harness runs a test body even after its FIXTURE_SETUP skipped.
 */
#define NEED_KVM() do {							\
	if (cpu_virt() == CPU_VIRT_NONE)				\
		SKIP(return, "no VT-x or AMD-V in this box");		\
	if (run_modprobe(kvm_module()) || access("/dev/kvm", F_OK))	\
		SKIP(return, "cannot load %s", kvm_module());		\
} while (0)

/*
 * Loading kvm and kvm-intel/kvm-amd takes about 30 s of emulated time in the
 * Bochs box: more than the harness's default 30 s per test.
 */
EMPTY_FIXTURE(coexist)

TEST_F_TIMEOUT(coexist, kvm_first, 240)
{
	int vm, fd;

	NEED_KVM();
	vm = kvm_create_vm();
	ASSERT_LE(0, vm) TH_LOG("KVM_CREATE_VM: %s", strerror(-vm));
	if (module_loaded("kvisor"))
		ASSERT_EQ(0, module_unload("kvisor"));

	kmsg_mark("kvm_first");
	EXPECT_EQ(-EBUSY, module_load(kvisor_ko_path(), "enable_at_load=1"));
	EXPECT_TRUE(kmsg_since_mark_has("kvm_first", "in use by another hypervisor"));

	/* On demand (the default), kvisor loads beside a running KVM. */
	ASSERT_EQ(0, module_load(kvisor_ko_path(), ""));
	fd = open(KVISOR_DEV, O_RDWR);
	ASSERT_LE(0, fd);
	EXPECT_EQ(0, ioctl(fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_HW_ENABLED));
	close(fd);

	/* KVM lets go: kvisor can take the hardware. */
	close(vm);
	EXPECT_EQ(0, kvisor_reload("enable_at_load=1"));
	EXPECT_EQ(0, kvisor_restore());
	kvm_unload();
}

TEST_F_TIMEOUT(coexist, kvisor_first, 240)
{
	int vm;

	NEED_KVM();
	ASSERT_EQ(0, kvisor_reload("enable_at_load=1"));
	vm = kvm_create_vm();
	EXPECT_EQ(-EBUSY, vm);
	if (vm >= 0)
		close(vm);

	/* kvisor lets go: KVM works again, guest and all. */
	ASSERT_EQ(0, module_unload("kvisor"));
	vm = kvm_create_vm();
	ASSERT_LE(0, vm) TH_LOG("KVM_CREATE_VM after kvisor left: %s", strerror(-vm));
	EXPECT_EQ(KVM_EXIT_HLT, kvm_run_hlt(vm));
	close(vm);
	EXPECT_EQ(0, kvisor_restore());
	kvm_unload();
}

TEST_HARNESS_MAIN
