// SPDX-License-Identifier: GPL-2.0
/*
 * Every ioctl with bad input: the wrong kind of fd, bad sizes, unaligned,
 * overlapping and wrapping regions, NULL and unmapped pointers, huge
 * values, nonzero padding; RUN from another process; closing the VM fd
 * while a vCPU thread runs.  Each must fail with its errno, not crash.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "vm.h"

#define EXPECT_ERRNO(err, call) do {					\
	errno = 0;							\
	EXPECT_EQ(-1, (long)(call)) TH_LOG("%s", #call);		\
	EXPECT_EQ(err, errno) TH_LOG("%s: %s", #call, strerror(errno));	\
} while (0)

/*
 * An address no access can succeed at: a PROT_NONE page that stays
 * reserved, so that no later mmap (a vCPU's run page, say) can land there
 * and make the "bad" pointer valid.
 */
static void *unmapped_page(void)
{
	static void *p;

	if (!p)
		p = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p;
}

TEST(wrong_fd_type)
{
	struct vm vm;
	struct vcpu v;
	struct kvisor_regs r;
	struct kvisor_memory_region mr = { 0 };

	VM_CREATE_OR_SKIP(&vm);
	ASSERT_EQ(0, vcpu_add(&vm, &v, 0));
	EXPECT_ERRNO(EINVAL, ioctl(vm.sys_fd, KVISOR_CREATE_VM, 1));
	/* vCPU ioctls on the VM and system fds */
	EXPECT_ERRNO(ENOTTY, ioctl(vm.fd, KVISOR_RUN, 0));
	EXPECT_ERRNO(ENOTTY, ioctl(vm.fd, KVISOR_GET_REGS, &r));
	EXPECT_ERRNO(ENOTTY, ioctl(vm.sys_fd, KVISOR_GET_REGS, &r));
	/* VM ioctls on the vCPU and system fds */
	EXPECT_ERRNO(ENOTTY, ioctl(v.fd, KVISOR_SET_MEMORY_REGION, &mr));
	EXPECT_ERRNO(ENOTTY, ioctl(v.fd, KVISOR_CREATE_VCPU, 1));
	EXPECT_ERRNO(ENOTTY, ioctl(vm.sys_fd, KVISOR_CREATE_VCPU, 1));
	/* system ioctls on the VM and vCPU fds */
	EXPECT_ERRNO(ENOTTY, ioctl(vm.fd, KVISOR_CREATE_VM, 0));
	EXPECT_ERRNO(ENOTTY, ioctl(v.fd, KVISOR_CREATE_VM, 0));
	EXPECT_ERRNO(ENOTTY, ioctl(v.fd, KVISOR_GET_VCPU_MMAP_SIZE, 0));
	/* unknown numbers */
	EXPECT_ERRNO(ENOTTY, ioctl(vm.fd, _IO(KVISOR_IO, 0x7f), 0));
	EXPECT_ERRNO(ENOTTY, ioctl(v.fd, _IO(KVISOR_IO, 0x7f), 0));
	/* GET_REGS with a wrong size encoded in the number */
	EXPECT_ERRNO(ENOTTY, ioctl(v.fd, _IOR(KVISOR_IO, 0x21, int), &r));
	vcpu_close(&v);
	vm_destroy(&vm);
}

TEST(memory_regions)
{
	long slots, max_mb;
	struct vm vm;
	uint8_t *extra, *huge;
	size_t huge_size;

	VM_CREATE_OR_SKIP(&vm);
	slots = ioctl(vm.sys_fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_MAX_MEMORY_SLOTS);
	max_mb = ioctl(vm.sys_fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_MAX_MEMORY_MB);
	ASSERT_LE(2, slots);
	ASSERT_LE(1, max_mb);
	extra = mmap(NULL, 0x4000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, extra);

	EXPECT_EQ(-EINVAL, vm_set_region(&vm, slots, 0, 0x400000, 0x1000, extra));
	EXPECT_EQ(-EINVAL, vm_set_region(&vm, 0xffffffff, 0, 0x400000, 0x1000, extra));
	EXPECT_EQ(-EINVAL, vm_set_region(&vm, 1, 2, 0x400000, 0x1000, extra));
	EXPECT_EQ(-EINVAL, vm_set_region(&vm, 1, 0x80000000, 0x400000, 0x1000, extra));
	EXPECT_EQ(-EINVAL, vm_set_region(&vm, 1, 0, 0x400800, 0x1000, extra));
	EXPECT_EQ(-EINVAL, vm_set_region(&vm, 1, 0, 0x400000, 0x1800, extra));
	EXPECT_EQ(-EINVAL, vm_set_region(&vm, 1, 0, 0x400000, 0x1000, extra + 8));
	/* gpa + size wraps around */
	EXPECT_EQ(-EINVAL, vm_set_region(&vm, 1, 0, 0xfffffffffffff000ull, 0x2000, extra));
	EXPECT_EQ(-EINVAL, vm_set_region(&vm, 1, 0, 0x400000, 0xfffffffffffff000ull, extra));
	/* overlaps slot 0 (RAM 0 .. 2 MiB), at either end */
	EXPECT_EQ(-EEXIST, vm_set_region(&vm, 1, 0, 0x100000, 0x1000, extra));
	EXPECT_EQ(-EEXIST, vm_set_region(&vm, 1, 0, 0x1ff000, 0x2000, extra));
	/* unmapped and NULL userspace memory */
	EXPECT_EQ(-EFAULT, vm_set_region(&vm, 1, 0, 0x400000, 0x1000, unmapped_page()));
	EXPECT_EQ(-EFAULT, vm_set_region(&vm, 1, 0, 0x400000, 0x1000, NULL));
	/* NULL argument */
	EXPECT_ERRNO(EFAULT, ioctl(vm.fd, KVISOR_SET_MEMORY_REGION, NULL));
	EXPECT_ERRNO(EFAULT, ioctl(vm.fd, KVISOR_SET_MEMORY_REGION, unmapped_page()));

	/* more than the VM may have: refused (which errno is up to the module) */
	huge_size = ((size_t)max_mb + 1) << 20;
	huge = mmap(NULL, huge_size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (huge != MAP_FAILED) {
		int r = vm_set_region(&vm, 1, 0, 0x100000000ull, huge_size, huge);

		EXPECT_TRUE(r == -EINVAL || r == -E2BIG || r == -ENOSPC)
			TH_LOG("%zu MiB region: %s", huge_size >> 20, strerror(-r));
		munmap(huge, huge_size);
	}

	/* a good one, then size 0 deletes it and the place is free again */
	EXPECT_EQ(0, vm_set_region(&vm, 1, 0, 0x400000, 0x4000, extra));
	EXPECT_EQ(-EEXIST, vm_set_region(&vm, 2, 0, 0x403000, 0x1000, extra));
	EXPECT_EQ(0, vm_set_region(&vm, 1, 0, 0x400000, 0, extra));
	EXPECT_EQ(0, vm_set_region(&vm, 2, 0, 0x403000, 0x1000, extra));
	EXPECT_EQ(0, vm_set_region(&vm, 1, KVISOR_MEM_READONLY, 0x400000, 0x1000, extra));
	vm_destroy(&vm);
	munmap(extra, 0x4000);
}

TEST(vcpu_ids)
{
	struct vm vm;
	struct vcpu v;
	long max;

	VM_CREATE_OR_SKIP(&vm);
	max = ioctl(vm.sys_fd, KVISOR_CHECK_EXTENSION, KVISOR_CAP_MAX_VCPUS);
	ASSERT_LE(1, max);
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_CREATE_VCPU, max));
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_CREATE_VCPU, -1L));
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_CREATE_VCPU, 1L << 32));
	ASSERT_EQ(0, vcpu_add(&vm, &v, max - 1));
	EXPECT_ERRNO(EEXIST, ioctl(vm.fd, KVISOR_CREATE_VCPU, max - 1));
	vcpu_close(&v);
	vm_destroy(&vm);
}

TEST(vcpu_pointers_and_padding)
{
	struct vm vm;
	struct vcpu v;
	struct kvisor_sregs s, good;
	struct kvisor_event ev;
	struct {
		struct kvisor_msrs h;
		struct kvisor_msr_entry e[2];
	} m;
	struct {
		struct kvisor_cpuid h;
		struct kvisor_cpuid_entry e[1];
	} c;
	struct kvisor_cpuid *big;
	void *bad = unmapped_page();

	VM_CREATE_OR_SKIP(&vm);
	ASSERT_EQ(0, vcpu_add(&vm, &v, 0));
	EXPECT_ERRNO(EFAULT, ioctl(v.fd, KVISOR_GET_REGS, NULL));
	EXPECT_ERRNO(EFAULT, ioctl(v.fd, KVISOR_SET_REGS, NULL));
	EXPECT_ERRNO(EFAULT, ioctl(v.fd, KVISOR_GET_SREGS, bad));
	EXPECT_ERRNO(EFAULT, ioctl(v.fd, KVISOR_SET_SREGS, bad));
	EXPECT_ERRNO(EFAULT, ioctl(v.fd, KVISOR_GET_MSRS, NULL));
	EXPECT_ERRNO(EFAULT, ioctl(v.fd, KVISOR_SET_MSRS, bad));
	EXPECT_ERRNO(EFAULT, ioctl(v.fd, KVISOR_GET_CPUID, NULL));
	EXPECT_ERRNO(EFAULT, ioctl(v.fd, KVISOR_SET_CPUID, bad));
	EXPECT_ERRNO(EFAULT, ioctl(v.fd, KVISOR_INJECT_EVENT, NULL));
	EXPECT_ERRNO(EFAULT, ioctl(v.fd, KVISOR_GET_STATS, bad));

	/* nonzero padding in sregs */
	ASSERT_EQ(0, vcpu_get_sregs(&v, &good));
	s = good;
	s.cs.padding = 1;
	EXPECT_ERRNO(EINVAL, ioctl(v.fd, KVISOR_SET_SREGS, &s));
	s = good;
	s.tr.padding = 0x80;
	EXPECT_ERRNO(EINVAL, ioctl(v.fd, KVISOR_SET_SREGS, &s));
	s = good;
	s.gdt.padding[2] = 1;
	EXPECT_ERRNO(EINVAL, ioctl(v.fd, KVISOR_SET_SREGS, &s));
	s = good;
	s.idt.padding[0] = 1;
	EXPECT_ERRNO(EINVAL, ioctl(v.fd, KVISOR_SET_SREGS, &s));
	EXPECT_EQ(0, ioctl(v.fd, KVISOR_SET_SREGS, &good));

	/* MSRs: padding, reserved, too many, a count past the buffer */
	memset(&m, 0, sizeof(m));
	m.h.nmsrs = 1;
	m.e[0].index = 0xc0000082;	/* LSTAR */
	EXPECT_EQ(1, ioctl(v.fd, KVISOR_GET_MSRS, &m));
	m.h.padding = 1;
	EXPECT_ERRNO(EINVAL, ioctl(v.fd, KVISOR_GET_MSRS, &m));
	m.h.padding = 0;
	m.e[0].reserved = 1;
	EXPECT_ERRNO(EINVAL, ioctl(v.fd, KVISOR_SET_MSRS, &m));
	m.e[0].reserved = 0;
	m.h.nmsrs = KVISOR_MAX_MSR_ENTRIES + 1;
	errno = 0;
	EXPECT_EQ(-1, ioctl(v.fd, KVISOR_GET_MSRS, &m));
	EXPECT_TRUE(errno == E2BIG || errno == EINVAL) TH_LOG("%s", strerror(errno));
	m.h.nmsrs = 0xffffffff;
	errno = 0;
	EXPECT_EQ(-1, ioctl(v.fd, KVISOR_SET_MSRS, &m));
	EXPECT_TRUE(errno == E2BIG || errno == EINVAL) TH_LOG("%s", strerror(errno));
	{
		/* entries running into an unmapped page */
		uint8_t *two = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
				    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		struct kvisor_msrs *edge;

		ASSERT_NE(MAP_FAILED, two);
		munmap(two + 4096, 4096);
		edge = (struct kvisor_msrs *)(two + 4096 - sizeof(*edge) - 16);
		memset(edge, 0, sizeof(*edge) + 16);
		edge->nmsrs = 4;
		edge->entries[0].index = 0xc0000082;
		EXPECT_ERRNO(EFAULT, ioctl(v.fd, KVISOR_GET_MSRS, edge));
		munmap(two, 4096);
	}

	/* CPUID: too small (E2BIG with the size needed), too many, padding */
	memset(&c, 0, sizeof(c));
	c.h.nent = 0;
	EXPECT_ERRNO(E2BIG, ioctl(v.fd, KVISOR_GET_CPUID, &c));
	EXPECT_LE(1, c.h.nent);
	EXPECT_GE(KVISOR_MAX_CPUID_ENTRIES, c.h.nent);
	big = calloc(1, sizeof(*big) + (KVISOR_MAX_CPUID_ENTRIES + 1) * sizeof(big->entries[0]));
	ASSERT_NE(NULL, big);
	big->nent = KVISOR_MAX_CPUID_ENTRIES + 1;
	errno = 0;
	EXPECT_EQ(-1, ioctl(v.fd, KVISOR_SET_CPUID, big));
	EXPECT_TRUE(errno == E2BIG || errno == EINVAL) TH_LOG("%s", strerror(errno));
	free(big);
	memset(&c, 0, sizeof(c));
	c.h.nent = 1;
	c.e[0].function = 0;
	c.e[0].padding = 1;
	EXPECT_ERRNO(EINVAL, ioctl(v.fd, KVISOR_SET_CPUID, &c));
	c.e[0].padding = 0;
	c.h.padding = 1;
	EXPECT_ERRNO(EINVAL, ioctl(v.fd, KVISOR_SET_CPUID, &c));
	c.h.padding = 0;
	c.e[0].flags = 0x80;
	EXPECT_ERRNO(EINVAL, ioctl(v.fd, KVISOR_SET_CPUID, &c));

	/* events: unknown type, vector out of range for the type, flags */
	ev = (struct kvisor_event){ .type = 0, .vector = 13 };
	EXPECT_ERRNO(EINVAL, ioctl(v.fd, KVISOR_INJECT_EVENT, &ev));
	ev = (struct kvisor_event){ .type = 99, .vector = 13 };
	EXPECT_ERRNO(EINVAL, ioctl(v.fd, KVISOR_INJECT_EVENT, &ev));
	ev = (struct kvisor_event){ .type = KVISOR_EVENT_EXCEPTION, .vector = 32 };
	EXPECT_ERRNO(EINVAL, ioctl(v.fd, KVISOR_INJECT_EVENT, &ev));
	ev = (struct kvisor_event){ .type = KVISOR_EVENT_INTERRUPT, .vector = 5 };
	EXPECT_ERRNO(EINVAL, ioctl(v.fd, KVISOR_INJECT_EVENT, &ev));
	ev = (struct kvisor_event){ .type = KVISOR_EVENT_INTERRUPT, .vector = 256 };
	EXPECT_ERRNO(EINVAL, ioctl(v.fd, KVISOR_INJECT_EVENT, &ev));
	ev = (struct kvisor_event){ .type = KVISOR_EVENT_EXCEPTION, .vector = 13, .flags = 2 };
	EXPECT_ERRNO(EINVAL, ioctl(v.fd, KVISOR_INJECT_EVENT, &ev));

	vcpu_close(&v);
	vm_destroy(&vm);
}

GUEST_ASM(g_spin_bad, "1: jmp 1b\n");
GUEST_ASM(g_hlt_bad, "hlt\n");

/* A vCPU belongs to the process that created it: RUN elsewhere is EIO. */
TEST(run_from_other_process)
{
	struct vm vm;
	struct vcpu v;
	int status;
	pid_t pid;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_hlt_bad);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		if (ioctl(v.fd, KVISOR_RUN, 0) != -1)
			_exit(1);
		_exit(errno == EIO ? 0 : 2);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("child: 1 = RUN worked, 2 = other errno");
	/* the owner still runs it */
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vm_destroy(&vm);
}

struct runner {
	struct vcpu *v;
	volatile int started;
	int ret, err;
	unsigned int exit_reason;
};

static void on_usr1(int sig)
{
}

static void *run_thread(void *arg)
{
	struct runner *t = arg;

	t->started = 1;
	t->ret = ioctl(t->v->fd, KVISOR_RUN, 0);
	t->err = errno;
	t->exit_reason = t->v->run->exit_reason;
	return NULL;
}

/* Close the VM fd under a running vCPU: it keeps going, a signal stops it. */
TEST(close_vm_while_running)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct vm vm;
	struct vcpu v;
	struct runner t = { .v = &v };
	pthread_t th;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_spin_bad);
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	ASSERT_EQ(0, pthread_create(&th, NULL, run_thread, &t));
	while (!t.started)
		usleep(1000);
	usleep(200000);			/* well inside RUN */
	ASSERT_EQ(0, close(vm.fd));
	vm.fd = -1;
	usleep(100000);
	ASSERT_EQ(0, pthread_kill(th, SIGUSR1));
	ASSERT_EQ(0, pthread_join(th, NULL));
	EXPECT_EQ(-1, t.ret);
	EXPECT_EQ(EINTR, t.err);
	EXPECT_EQ(KVISOR_EXIT_INTR, t.exit_reason);
	vcpu_close(&v);
	vm_destroy(&vm);
	/* and the module still works */
	GUEST_SETUP(&vm, &v, MODE_LONG, g_hlt_bad);
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vm_destroy(&vm);
}

TEST_HARNESS_MAIN
