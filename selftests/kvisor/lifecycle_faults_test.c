// SPDX-License-Identifier: GPL-2.0
/*
 * Faults in a VM's life: SIGKILL at random points of RUN with 4 vCPUs,
 * closing the VM fd before the vCPU fds (while they run), use of every
 * ioctl from a forked child (EIO), rmmod while a VM, a vCPU fd or only a
 * run-page mapping is left (refused), a CPU going offline under a vCPU
 * that ran on it, RLIMIT_MEMLOCK too small for a region, and the
 * permissions of the shipped udev rule.
 *
 * After each test every VM must be gone: virtualization off again on
 * every CPU (debugfs hw_cpus empty) and the module's use count back.
 */
#include <fcntl.h>
#include <grp.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "kselftest_harness.h"
#include "vm.h"

#define KILL_ROUNDS	24
#define NVCPUS		4

/* vCPU i: 0 spins, 1 does port I/O, 2 MMIO, 3 HLTs; all forever. */
GUEST_ASM(g_spin, "1: jmp 1b\n");
GUEST_ASM(g_io, "1: out 0x10, eax\ninc eax\njmp 1b\n");
GUEST_ASM(g_mmio, "mov rbx, 0xc0000000\n1: mov [rbx], eax\nmov eax, [rbx]\njmp 1b\n");
GUEST_ASM(g_hlt, "1: hlt\njmp 1b\n");

#define CODE_STRIDE	0x400	/* vCPU i runs CODE_GPA + i * CODE_STRIDE */

/* Wait (≤ 3 s) until the module's use count is @want and no VM holds the hardware. */
static bool all_released(long want)
{
	char hw[64];
	int i;

	for (i = 0; i < 30; i++) {
		if (kvisor_refcnt() == want && !kvisor_hw_cpus(hw, sizeof(hw)) && !hw[0])
			return true;
		usleep(100000);
	}
	return false;
}

static void load_guests(struct vm *vm)
{
	vm_load(vm, CODE_GPA, g_spin, g_spin_end - g_spin);
	vm_load(vm, CODE_GPA + CODE_STRIDE, g_io, g_io_end - g_io);
	vm_load(vm, CODE_GPA + 2 * CODE_STRIDE, g_mmio, g_mmio_end - g_mmio);
	vm_load(vm, CODE_GPA + 3 * CODE_STRIDE, g_hlt, g_hlt_end - g_hlt);
}

/* 4 vCPUs, each in long mode at its guest; 0 or -errno. */
static int vcpus_setup(struct vm *vm, struct vcpu *v)
{
	int i, r;

	load_guests(vm);
	for (i = 0; i < NVCPUS; i++) {
		r = vcpu_add(vm, &v[i], i);
		if (r)
			return r;
		r = vcpu_setup_mode(&v[i], MODE_LONG, CODE_GPA + i * CODE_STRIDE);
		if (r)
			return r;
	}
	return 0;
}

static volatile int stop_runs;

static void *run_forever(void *arg)
{
	struct vcpu *v = arg;

	while (!stop_runs) {
		if (ioctl(v->fd, KVISOR_RUN, 0) && errno != EINTR)
			break;
		/* MMIO reads get 0; IN gets 0; the rest needs nothing */
		if (v->run->exit_reason == KVISOR_EXIT_MMIO)
			memset(v->run->mmio.data, 0, 8);
	}
	return NULL;
}

static void on_sig(int sig)
{
}

/* The child of sigkill_in_run: 4 vCPU threads running until killed. */
static void kill_child(void)
{
	struct vm vm;
	struct vcpu v[NVCPUS];
	pthread_t th[NVCPUS];
	int i;

	if (vm_create(&vm) || vcpus_setup(&vm, v))
		_exit(2);
	for (i = 0; i < NVCPUS; i++)
		if (pthread_create(&th[i], NULL, run_forever, &v[i]))
			_exit(3);
	for (;;)
		pause();
}

TEST(sigkill_in_run_4_vcpus)
{
	struct vm vm;
	unsigned int seed = 0x4b494c4c, round;
	long ref0;

	VM_CREATE_OR_SKIP(&vm);
	vm_destroy(&vm);
	ref0 = kvisor_refcnt();
	for (round = 0; round < KILL_ROUNDS; round++) {
		/* 0-40 ms into the run: setup, first entries, or deep in it */
		unsigned int delay = rand_r(&seed) % 40000;
		int status, waited;
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (pid == 0)
			kill_child();
		usleep(delay + (round % 4 == 0 ? 0 : 20000));
		ASSERT_EQ(0, kill(pid, SIGKILL));
		for (waited = 0; waited < 100; waited++) {
			if (waitpid(pid, &status, WNOHANG) == pid)
				break;
			usleep(100000);
		}
		ASSERT_LT(waited, 100) TH_LOG("round %u: the killed process did not exit in 10 s",
					      round);
		ASSERT_TRUE(WIFSIGNALED(status)) TH_LOG("round %u: child exited %d early", round,
							WEXITSTATUS(status));
	}
	EXPECT_TRUE(all_released(ref0)) TH_LOG("a killed process's VM was not freed");
	printf("# %u SIGKILLs at 0-60 ms of RUN with %d vCPUs: all reaped, all freed\n",
	       KILL_ROUNDS, NVCPUS);
	fflush(stdout);
}

/* The VM fd goes first, while 4 vCPUs run; they go on, then stop and close. */
TEST(close_vm_fd_before_vcpu_fds)
{
	struct sigaction sa = { .sa_handler = on_sig };
	struct vm vm;
	struct vcpu v[NVCPUS];
	pthread_t th[NVCPUS];
	struct kvisor_vcpu_stats st0, st1;
	long ref0;
	int i;

	VM_CREATE_OR_SKIP(&vm);
	vm_destroy(&vm);
	ref0 = kvisor_refcnt();
	VM_CREATE_OR_SKIP(&vm);
	ASSERT_EQ(0, vcpus_setup(&vm, v));
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	stop_runs = 0;
	for (i = 0; i < NVCPUS; i++)
		ASSERT_EQ(0, pthread_create(&th[i], NULL, run_forever, &v[i]));
	usleep(100000);
	ASSERT_EQ(0, close(vm.fd));
	ASSERT_EQ(0, close(vm.sys_fd));
	vm.fd = vm.sys_fd = -1;
	ASSERT_EQ(0, vcpu_get_stats(&v[1], &st0));
	usleep(200000);
	ASSERT_EQ(0, vcpu_get_stats(&v[1], &st1));
	EXPECT_LT(st0.counters[KVISOR_STAT_IO], st1.counters[KVISOR_STAT_IO])
		TH_LOG("the I/O vCPU stopped when the VM fd closed");
	stop_runs = 1;
	for (i = 0; i < NVCPUS; i++) {
		pthread_kill(th[i], SIGUSR1);
		ASSERT_EQ(0, pthread_join(th[i], NULL));
	}
	/* close in an odd order; the mapping of vCPU 2 outlives its fd */
	vcpu_close(&v[3]);
	close(v[2].fd);
	vcpu_close(&v[0]);
	vcpu_close(&v[1]);
	EXPECT_NE(ref0, kvisor_refcnt()) TH_LOG("the run page mapping holds nothing");
	munmap(v[2].run, v[2].run_size);
	munmap(vm.mem, GUEST_MEM_SIZE);
	EXPECT_TRUE(all_released(ref0));
}

/* Every vCPU/VM ioctl from a forked child fails with EIO; the parent goes on. */
TEST(fork_then_use_from_child)
{
	static const unsigned long vcpu_ioctls[] = {
		KVISOR_RUN, KVISOR_GET_REGS, KVISOR_SET_REGS, KVISOR_GET_SREGS,
		KVISOR_SET_SREGS, KVISOR_GET_MSRS, KVISOR_SET_MSRS, KVISOR_SET_CPUID,
		KVISOR_GET_CPUID, KVISOR_INJECT_EVENT, KVISOR_GET_STATS,
	};
	struct vm vm;
	struct vcpu v;
	int status;
	pid_t pid;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_hlt);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		static uint8_t buf[8192];
		struct kvisor_memory_region mr = {
			.slot = 1, .guest_phys_addr = 0x400000, .memory_size = 0x1000,
			.userspace_addr = (uintptr_t)buf & ~0xfffUL,
		};
		unsigned int i;
		int bad = 0;

		for (i = 0; i < sizeof(vcpu_ioctls) / sizeof(vcpu_ioctls[0]); i++) {
			unsigned long arg = vcpu_ioctls[i] == KVISOR_RUN ? 0 : (uintptr_t)buf;

			if (ioctl(v.fd, vcpu_ioctls[i], arg) != -1 || errno != EIO)
				bad |= 1;
		}
		if (ioctl(vm.fd, KVISOR_SET_MEMORY_REGION, &mr) != -1 || errno != EIO)
			bad |= 2;
		if (ioctl(vm.fd, KVISOR_CREATE_VCPU, 1) != -1 || errno != EIO)
			bad |= 4;
		/* the shared run page may be looked at, and nothing else */
		if (v.run->exit_reason > KVISOR_EXIT_IRQ_WINDOW_OPEN)
			bad |= 8;
		_exit(bad);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status))
		TH_LOG("child: 1 = a vCPU ioctl, 2 = SET_MEMORY_REGION, 4 = CREATE_VCPU not EIO");
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vm_destroy(&vm);
}

/* rmmod is refused while a VM fd, a vCPU fd, or a run-page mapping is left. */
TEST(rmmod_refused_while_in_use)
{
	struct vm vm;
	struct vcpu v;
	int r;

	GUEST_SETUP(&vm, &v, MODE_LONG, g_hlt);
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	r = module_unload("kvisor");
	EXPECT_TRUE(r == -EBUSY || r == -EWOULDBLOCK) TH_LOG("rmmod with a VM: %s",
							     strerror(-r));
	close(vm.sys_fd);
	close(vm.fd);
	vm.fd = vm.sys_fd = -1;
	r = module_unload("kvisor");
	EXPECT_TRUE(r == -EBUSY || r == -EWOULDBLOCK) TH_LOG("rmmod with a vCPU fd: %s",
							     strerror(-r));
	close(v.fd);
	r = module_unload("kvisor");
	EXPECT_TRUE(r == -EBUSY || r == -EWOULDBLOCK)
		TH_LOG("rmmod with only the run page mapped: %s", strerror(-r));
	EXPECT_EQ(KVISOR_EXIT_HLT, v.run->exit_reason);	/* still readable */
	munmap(v.run, v.run_size);
	munmap(vm.mem, GUEST_MEM_SIZE);
	r = module_unload("kvisor");
	EXPECT_EQ(0, r) TH_LOG("rmmod with nothing left: %s", strerror(-r));
	ASSERT_EQ(0, kvisor_restore());
	/* and it works after the reload */
	GUEST_SETUP(&vm, &v, MODE_LONG, g_hlt);
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vm_destroy(&vm);
}

static int run_on(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set);
}

/* CPU 1 goes offline with a vCPU that ran there; it runs on, on either CPU. */
TEST(cpu_offline_under_a_vcpu)
{
	struct sigaction sa = { .sa_handler = on_sig };
	struct vm vm;
	struct vcpu v[2];
	pthread_t th;
	char hw[64];
	int round;

	if (cpu_virt() == CPU_VIRT_NONE)
		SKIP(return, "no VT-x or AMD-V in this box");
	if (cpus_online() != 2 || access("/sys/devices/system/cpu/cpu1/online", W_OK))
		SKIP(return, "needs exactly 2 CPUs with CPU1 hotpluggable");
	VM_CREATE_OR_SKIP(&vm);
	load_guests(&vm);
	ASSERT_EQ(0, vcpu_add(&vm, &v[0], 0));
	ASSERT_EQ(0, vcpu_setup_mode(&v[0], MODE_LONG, CODE_GPA + 3 * CODE_STRIDE));
	ASSERT_EQ(0, vcpu_add(&vm, &v[1], 1));
	ASSERT_EQ(0, vcpu_setup_mode(&v[1], MODE_LONG, CODE_GPA));	/* spins */
	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	for (round = 0; round < 4; round++) {
		/* vCPU 0 halts on CPU 1; vCPU 1 spins there in a thread */
		ASSERT_EQ(0, run_on(1));
		RUN_EXPECT(&v[0], KVISOR_EXIT_HLT);
		stop_runs = 0;
		ASSERT_EQ(0, pthread_create(&th, NULL, run_forever, &v[1]));
		usleep(50000);
		ASSERT_EQ(0, run_on(0));
		/* the spinning thread is moved off CPU 1 mid-RUN */
		ASSERT_EQ(0, cpu_set_online(1, false)) TH_LOG("round %d", round);
		ASSERT_EQ(0, kvisor_hw_cpus(hw, sizeof(hw)));
		EXPECT_STREQ("0", hw);
		RUN_EXPECT(&v[0], KVISOR_EXIT_HLT);		/* on CPU 0 now */
		usleep(50000);
		ASSERT_EQ(0, cpu_set_online(1, true)) TH_LOG("round %d", round);
		ASSERT_EQ(0, kvisor_hw_cpus(hw, sizeof(hw)));
		EXPECT_STREQ("0-1", hw);
		stop_runs = 1;
		pthread_kill(th, SIGUSR1);
		ASSERT_EQ(0, pthread_join(th, NULL));
		ASSERT_EQ(0, run_on(1));
		RUN_EXPECT(&v[0], KVISOR_EXIT_HLT);		/* back on CPU 1 */
	}
	ASSERT_EQ(0, run_on(0));
	vcpu_close(&v[0]);
	vcpu_close(&v[1]);
	vm_destroy(&vm);
}

#define GID_KVISOR	990	/* scripts/box/init: group kvisor */
#define UID_KVTEST	1000	/* not in group kvisor */
#define UID_KVMEMBER	1001	/* in group kvisor */

/* Become @uid (primary group = uid, supplementary @groups), no capabilities. */
static int become(uid_t uid, const gid_t *groups, int ngroups)
{
	if (setgroups(ngroups, groups) || setgid(uid) || setuid(uid))
		return -1;
	return 0;
}

/*
 * In a child as @uid: open /dev/kvisor; with @memlock_kb set, also create
 * a VM and try a 2 MiB region and a 16 KiB one under that RLIMIT_MEMLOCK.
 * Exit: 0 open ok (and limits as expected), 10 + errno of open, 1-9 other.
 */
static int as_user(uid_t uid, const gid_t *groups, int ngroups, long memlock_kb)
{
	int status;
	pid_t pid = fork();

	if (pid < 0)
		return -1;
	if (pid == 0) {
		struct rlimit rl = { memlock_kb * 1024, memlock_kb * 1024 };
		struct kvisor_memory_region mr = { 0 };
		int fd, vmfd;
		void *mem;

		if (memlock_kb && setrlimit(RLIMIT_MEMLOCK, &rl))
			_exit(1);
		if (become(uid, groups, ngroups))
			_exit(2);
		fd = open(KVISOR_DEV, O_RDWR);
		if (fd < 0)
			_exit(errno == EACCES ? 10 : 11);
		if (!memlock_kb)
			_exit(0);
		vmfd = ioctl(fd, KVISOR_CREATE_VM, 0);
		if (vmfd < 0)
			_exit(3);
		mem = mmap(NULL, 0x200000, PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (mem == MAP_FAILED)
			_exit(4);
		mr.memory_size = 0x200000;
		mr.userspace_addr = (uintptr_t)mem;
		if (ioctl(vmfd, KVISOR_SET_MEMORY_REGION, &mr) != -1 ||
		    (errno != ENOMEM && errno != EPERM))
			_exit(5);	/* over the limit: clean ENOMEM/EPERM */
		mr.memory_size = 0x4000;
		if (ioctl(vmfd, KVISOR_SET_MEMORY_REGION, &mr))
			_exit(6);	/* within it: fine */
		mr.slot = 1;
		mr.guest_phys_addr = 0x100000;
		mr.userspace_addr += 0x100000;
		mr.memory_size = memlock_kb * 1024;	/* 16 KiB more is too much */
		if (ioctl(vmfd, KVISOR_SET_MEMORY_REGION, &mr) != -1 ||
		    (errno != ENOMEM && errno != EPERM))
			_exit(7);
		_exit(0);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

struct dev_mode {
	struct stat st;
	bool saved;
};

/*
 * What scripts/udev/60-kvisor.rules does (there is no udev in the box):
 *   KERNEL=="kvisor", SUBSYSTEM=="misc", GROUP="kvisor", MODE="0660"
 */
static void apply_udev_rule(struct dev_mode *m)
{
	m->saved = !stat(KVISOR_DEV, &m->st);
	if (chown(KVISOR_DEV, 0, GID_KVISOR) || chmod(KVISOR_DEV, 0660))
		m->saved = false;
}

static void restore_dev(struct dev_mode *m)
{
	if (m->saved) {
		if (chown(KVISOR_DEV, m->st.st_uid, m->st.st_gid))
			return;
		chmod(KVISOR_DEV, m->st.st_mode & 07777);
	}
}

TEST(udev_rule_permissions)
{
	const gid_t kvtest[] = { UID_KVTEST }, kvmember[] = { UID_KVMEMBER, GID_KVISOR };
	struct dev_mode m;
	int r;

	if (access(KVISOR_DEV, F_OK))
		SKIP(return, "no /dev/kvisor in this box");
	apply_udev_rule(&m);
	r = as_user(UID_KVTEST, kvtest, 1, 0);
	EXPECT_EQ(10, r) TH_LOG("uid %d (not in group kvisor): open gave %d, not EACCES",
				UID_KVTEST, r);
	r = as_user(UID_KVMEMBER, kvmember, 2, 0);
	EXPECT_EQ(0, r) TH_LOG("uid %d (group kvisor): open failed (%d)", UID_KVMEMBER, r);
	restore_dev(&m);
}

TEST(rlimit_memlock_too_small)
{
	const gid_t kvmember[] = { UID_KVMEMBER, GID_KVISOR };
	struct dev_mode m;
	struct vm vm;
	long ref0;
	int r;

	VM_CREATE_OR_SKIP(&vm);
	vm_destroy(&vm);
	ref0 = kvisor_refcnt();
	apply_udev_rule(&m);
	r = as_user(UID_KVMEMBER, kvmember, 2, 16);
	EXPECT_EQ(0, r) TH_LOG("RLIMIT_MEMLOCK 16 KiB: step %d failed "
			       "(5: 2 MiB not refused, 6: 16 KiB refused, 7: 16 KiB more not refused)",
			       r);
	restore_dev(&m);
	EXPECT_TRUE(all_released(ref0));
}

#define HUGE_REGION	(64ull << 30)	/* KVISOR_CAP_MAX_MEMORY_MB */
#define HUGE_TRIES	16

static int huge_fd;
static void *huge_uaddr;

static void *huge_regions(void *arg)
{
	struct kvisor_memory_region mr = {
		.slot = (uintptr_t)arg, .memory_size = HUGE_REGION,
		.guest_phys_addr = (uintptr_t)arg * HUGE_REGION,
		.userspace_addr = (uintptr_t)huge_uaddr,
	};
	int i;

	for (i = 0; i < HUGE_TRIES; i++)
		if (ioctl(huge_fd, KVISOR_SET_MEMORY_REGION, &mr) != -1 ||
		    (errno != ENOMEM && errno != EPERM))
			return (void *)1;
	return NULL;
}

/*
 * An unprivileged caller over RLIMIT_MEMLOCK is refused before the kernel
 * allocates anything for the region: asking for 64 GiB regions, over and
 * over from 2 threads, must not make the kernel vmalloc() their 128 MiB
 * page arrays first (a box of 1 GiB would be pushed to the OOM killer).
 */
TEST(rlimit_memlock_checked_before_allocating)
{
	const gid_t kvmember[] = { UID_KVMEMBER, GID_KVISOR };
	long base, peak = 0, now;
	struct dev_mode m;
	struct vm vm;
	int status;
	pid_t pid;

	VM_CREATE_OR_SKIP(&vm);
	vm_destroy(&vm);
	apply_udev_rule(&m);
	base = meminfo_kb("VmallocUsed");
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct rlimit rl = { 64 << 10, 64 << 10 };
		pthread_t th[2];
		void *r0 = NULL, *r1 = NULL;
		int fd;

		if (setrlimit(RLIMIT_MEMLOCK, &rl) || become(UID_KVMEMBER, kvmember, 2))
			_exit(2);
		fd = open(KVISOR_DEV, O_RDWR);
		huge_fd = fd < 0 ? -1 : ioctl(fd, KVISOR_CREATE_VM, 0);
		/* low in the address space, so that 64 GiB from it is user space */
		huge_uaddr = mmap((void *)0x10000000000ull, 0x200000, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
		if (huge_fd < 0 || huge_uaddr == MAP_FAILED)
			_exit(3);
		if (pthread_create(&th[0], NULL, huge_regions, (void *)0) ||
		    pthread_create(&th[1], NULL, huge_regions, (void *)1))
			_exit(4);
		pthread_join(th[0], &r0);
		pthread_join(th[1], &r1);
		_exit(r0 || r1 ? 1 : 0);
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		now = meminfo_kb("VmallocUsed");
		if (now - base > peak)
			peak = now - base;
		usleep(500);
	}
	restore_dev(&m);
	ASSERT_TRUE(WIFEXITED(status));
	ASSERT_EQ(0, WEXITSTATUS(status)) TH_LOG("1: a 64 GiB region was not refused with "
						 "ENOMEM/EPERM; 2-4: setup");
	printf("# %d refused 64 GiB regions under a 64 KiB RLIMIT_MEMLOCK: vmalloc peak +%ld kB\n",
	       2 * HUGE_TRIES, peak);
	fflush(stdout);
	EXPECT_LT(peak, 32768) TH_LOG("the kernel allocated %ld kB for regions it then refused",
				      peak);
}

TEST_HARNESS_MAIN
