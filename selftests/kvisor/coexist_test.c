// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor and Debian's KVM in one kernel.  Whoever holds VT-x/AMD-V first
 * keeps it: the other one gets EBUSY, and gets the hardware once the first
 * lets go.  KVM must run a guest again after kvisor is gone.
 */
#include <errno.h>
#include <stdio.h>
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
	run_modprobe("-r kvm");
}

/*
 * KVM 6.12 and later take VT-x/AMD-V when kvm-amd/kvm-intel loads, not on
 * the first VM, unless kvm is loaded with enable_virt_at_load=0 (kvm's
 * parameter; 6.1 has none).  Load kvm with @params and say whether it has
 * that parameter.
 */
static bool kvm_load_core(const char *params)
{
	char args[96];

	snprintf(args, sizeof(args), "kvm %s", params);
	if (run_modprobe(args))
		return false;
	return access("/sys/module/kvm/parameters/enable_virt_at_load", F_OK) == 0;
}

/* Load kvm with enable_virt_at_load=0 where it has it: KVM 6.1's policy. */
static int kvm_load_on_demand(void)
{
	if (!module_loaded("kvm") && kvm_load_core("")) {
		run_modprobe("-r kvm");
		kvm_load_core("enable_virt_at_load=0");
	}
	return run_modprobe(kvm_module());
}

/*
 * Load KVM for the CPU's vendor, or SKIP.  A macro, not a fixture: the 6.1
 * harness runs a test body even after its FIXTURE_SETUP skipped.
 */
#define NEED_KVM() do {							\
	if (cpu_virt() == CPU_VIRT_NONE)				\
		SKIP(return, "no VT-x or AMD-V in this box");		\
	if (kvm_load_on_demand() || access("/dev/kvm", F_OK))		\
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
	/* KVM refuses: EBUSY on 6.1, EIO on 6.12 (with enable_virt_at_load=0) */
	EXPECT_TRUE(vm == -EBUSY || vm == -EIO) TH_LOG("KVM_CREATE_VM: %d", vm);
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

/*
 * KVM 6.12's default (enable_virt_at_load=1): KVM holds the hardware while
 * loaded, so kvisor cannot have it, and says which parameter lets both be
 * loaded.  Skipped where kvm has no such parameter (6.1).
 */
TEST_F_TIMEOUT(coexist, kvm_holds_at_load, 240)
{
	int sys, vm;

	if (cpu_virt() == CPU_VIRT_NONE)
		SKIP(return, "no VT-x or AMD-V in this box");
	kvm_unload();
	if (!kvm_load_core("enable_virt_at_load=1")) {
		kvm_unload();
		SKIP(return, "kvm has no enable_virt_at_load (before 6.12)");
	}
	ASSERT_EQ(0, run_modprobe(kvm_module()));
	if (module_loaded("kvisor"))
		ASSERT_EQ(0, module_unload("kvisor"));

	kmsg_mark("kvm_holds_at_load");
	EXPECT_EQ(-EBUSY, module_load(kvisor_ko_path(), "enable_at_load=1"));
	EXPECT_TRUE(kmsg_since_mark_has("kvm_holds_at_load",
					"kvm.enable_virt_at_load=0"));

	/* kvisor loads on demand, but cannot create a VM while KVM is loaded */
	ASSERT_EQ(0, module_load(kvisor_ko_path(), ""));
	sys = open(KVISOR_DEV, O_RDWR);
	ASSERT_LE(0, sys);
	vm = ioctl(sys, KVISOR_CREATE_VM, 0);
	EXPECT_EQ(-1, vm);
	EXPECT_EQ(EBUSY, errno);
	if (vm >= 0)
		close(vm);

	/* KVM gone: kvisor has the hardware */
	kvm_unload();
	vm = ioctl(sys, KVISOR_CREATE_VM, 0);
	EXPECT_LE(0, vm);
	if (vm >= 0)
		close(vm);
	close(sys);
	EXPECT_EQ(0, kvisor_restore());
}

TEST_HARNESS_MAIN
