// SPDX-License-Identifier: GPL-2.0
/*
 * ioctl fuzzer: random sequences of ioctls with random numbers, sizes,
 * pointers and flags on system, VM, vCPU and unrelated fds (pipes,
 * eventfds, memfds, /dev/null -- never a tty or a block device), from
 * several threads, with close/dup/fork/mmap/munmap in between.
 *
 *   KVISOR_FUZZ_CALLS    system calls in all (default 200000; 20000 in the
 *                        vmx box, whose Bochs CPU is ~20x slower)
 *   KVISOR_FUZZ_SEED     the seed (default 0x6b76697a); thread t uses
 *                        seed + t, so each thread's sequence is reproducible
 *   KVISOR_FUZZ_THREADS  threads (default 4); 1 makes a run fully
 *                        deterministic
 *
 * The fuzzing runs in a child process; when it is gone, every VM must be
 * freed (virtualization is off again on every CPU, the module's use count
 * is back), no page may stay pinned, and unreclaimable slab and free
 * memory must be back to the baseline taken after a warm-up round.  A kernel WARNING/BUG/Oops or
 * soft lockup fails the box run; a hang fails here (the child is killed).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <grp.h>
#include <ucontext.h>

#include "kselftest_harness.h"
#include "vm.h"

#define NFDS		48
#define NMAPS		32
#define POOL_SIZE	GUEST_MEM_SIZE
#define MAX_THREADS	16
#define KVISOR_MAX_VCPUS_TEST	18	/* a few beyond the limit */

enum fd_kind { K_FREE, K_SYS, K_VM, K_VCPU, K_OTHER };

static struct {
	int fd;
	enum fd_kind kind;
} fds[NFDS];
static struct {
	void *addr;
	size_t len;
} maps[NMAPS];
static pthread_mutex_t tab_lock = PTHREAD_MUTEX_INITIALIZER;

static uint8_t *pool;		/* guest RAM shared by the fuzzer's VMs */
static uint8_t *bufs;		/* 4 pages rw, then 1 page PROT_NONE, 1 read-only */
/*
 * An address the kernel cannot use: a PROT_NONE page kept reserved.  An
 * unmapped one would not stay bad -- the next mmap (a thread's stack)
 * may land there, and a guest given it as RAM would write that stack.
 */
static uint8_t *hole;
static unsigned long stats_calls[MAX_THREADS], stats_ioctls[MAX_THREADS],
	stats_ok[MAX_THREADS], stats_vms[MAX_THREADS], stats_runs[MAX_THREADS],
	stats_forks[MAX_THREADS];
static unsigned long per_thread_calls;

struct rng { uint64_t s; };

static uint64_t rnd(struct rng *r)
{
	/* splitmix64 */
	uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static unsigned int rn(struct rng *r, unsigned int n)
{
	return rnd(r) % n;
}

/* Pick a table slot holding an fd (of @kind if not K_FREE), or -1. */
static int pick(struct rng *r, enum fd_kind kind)
{
	int i, start = rn(r, NFDS);

	for (i = 0; i < NFDS; i++) {
		int j = (start + i) % NFDS;

		if (fds[j].kind != K_FREE && (kind == K_FREE || fds[j].kind == kind))
			return j;
	}
	return -1;
}

static void fd_add(struct rng *r, int fd, enum fd_kind kind)
{
	int victim = -1, i;

	if (fd < 0)
		return;
	pthread_mutex_lock(&tab_lock);
	for (i = 0; i < NFDS; i++)
		if (fds[i].kind == K_FREE) {
			victim = i;
			break;
		}
	if (victim < 0) {
		victim = rn(r, NFDS);
		close(fds[victim].fd);
	}
	fds[victim].fd = fd;
	fds[victim].kind = kind;
	pthread_mutex_unlock(&tab_lock);
}

static void fd_close(struct rng *r)
{
	int i;

	pthread_mutex_lock(&tab_lock);
	i = pick(r, K_FREE);
	if (i >= 0) {
		close(fds[i].fd);
		fds[i].kind = K_FREE;
	}
	pthread_mutex_unlock(&tab_lock);
}

static void map_add(struct rng *r, void *addr, size_t len)
{
	int i = rn(r, NMAPS);

	pthread_mutex_lock(&tab_lock);
	if (maps[i].addr)
		munmap(maps[i].addr, maps[i].len);
	maps[i].addr = addr;
	maps[i].len = len;
	pthread_mutex_unlock(&tab_lock);
}

static void map_drop(struct rng *r)
{
	int i = rn(r, NMAPS);

	pthread_mutex_lock(&tab_lock);
	if (maps[i].addr)
		munmap(maps[i].addr, maps[i].len);
	maps[i].addr = NULL;
	pthread_mutex_unlock(&tab_lock);
}

static const unsigned long known_ioctls[] = {
	KVISOR_GET_API_VERSION, KVISOR_CHECK_EXTENSION, KVISOR_CREATE_VM,
	KVISOR_GET_VCPU_MMAP_SIZE, KVISOR_SET_MEMORY_REGION, KVISOR_CREATE_VCPU,
	KVISOR_RUN, KVISOR_GET_REGS, KVISOR_SET_REGS, KVISOR_GET_SREGS,
	KVISOR_SET_SREGS, KVISOR_GET_MSRS, KVISOR_SET_MSRS, KVISOR_SET_CPUID,
	KVISOR_GET_CPUID, KVISOR_INJECT_EVENT, KVISOR_GET_STATS,
};
#define NKNOWN	(sizeof(known_ioctls) / sizeof(known_ioctls[0]))

static unsigned long random_cmd(struct rng *r)
{
	unsigned long cmd;
	unsigned int type;

	switch (rn(r, 10)) {
	case 0: case 1: case 2: case 3: case 4: case 5:
		return known_ioctls[rn(r, NKNOWN)];
	case 6: case 7:	/* kvisor type, random number, size and direction */
		return _IOC(rn(r, 4), KVISOR_IO, rn(r, 0x40), rn(r, 0x4000));
	case 8:		/* a known number with another size or direction */
		cmd = known_ioctls[rn(r, NKNOWN)];
		return _IOC(rn(r, 4), KVISOR_IO, _IOC_NR(cmd), rn(r, 0x4000));
	default:
		cmd = (uint32_t)rnd(r);
		type = _IOC_TYPE(cmd);
		/*
		 * Never the generic VFS ioctls ('X': FIFREEZE/FITHAW of the
		 * superblock, 'f': inode flags, 'T': FIONBIO & co of the
		 * tty layer, 0x12: block devices): those act on more than
		 * this fd and have their own tests in the kernel.
		 */
		if (type == 'X' || type == 'f' || type == 'T' || type == 0x12 ||
		    type == 0x94)
			cmd = (cmd & ~(0xffUL << _IOC_TYPESHIFT)) |
			      (KVISOR_IO << _IOC_TYPESHIFT);
		return cmd;
	}
}

/* Fill @p with @len random bytes, sometimes with plausible values. */
static void fill(struct rng *r, void *p, size_t len)
{
	uint8_t *b = p;
	size_t i;

	switch (rn(r, 4)) {
	case 0:
		memset(p, 0, len);
		break;
	case 1:
		memset(p, 0xff, len);
		break;
	default:
		for (i = 0; i < len; i += 8) {
			uint64_t v = rnd(r);

			if (rn(r, 3) == 0)
				v &= 0xff;
			memcpy(b + i, &v, len - i < 8 ? len - i : 8);
		}
	}
}

/* A structured argument: plausible enough to get past the first checks. */
static void *structured_arg(struct rng *r, int fd, unsigned long cmd, uint8_t *buf)
{
	switch (cmd) {
	case KVISOR_SET_MEMORY_REGION: {
		struct kvisor_memory_region *m = (void *)buf;
		static const uint64_t sizes[] = { 0, 0x1000, 0x2000, 0x10000,
						   0x200000, 0x40000000ull,
						   0x1000000000ull, 0x1001000000ull };

		m->slot = rn(r, 36);
		m->flags = rn(r, 8) ? rn(r, 2) : (uint32_t)rnd(r);
		m->guest_phys_addr = rn(r, 2) ? (uint64_t)rn(r, 0x1000) << 12 :
				     rnd(r) & ~0xfffull;
		m->memory_size = sizes[rn(r, 8)];
		/* huge sizes cost a vmalloc()ed page array: rarely */
		if (m->memory_size > POOL_SIZE && rn(r, 8))
			m->memory_size = 0x1000;
		switch (rn(r, 5)) {
		case 0: m->userspace_addr = (uintptr_t)pool; break;
		case 1: m->userspace_addr = (uintptr_t)bufs; break;
		case 2: m->userspace_addr = (uintptr_t)hole; break;
		case 3: m->userspace_addr = (uintptr_t)(bufs + 5 * 4096); break; /* RO */
		default: m->userspace_addr = rnd(r) & ~0xfffull; break;
		}
		if (rn(r, 16) == 0)
			m->userspace_addr |= rn(r, 0x1000);
		return buf;
	}
	case KVISOR_GET_MSRS:
	case KVISOR_SET_MSRS: {
		struct kvisor_msrs *m = (void *)buf;
		static const uint32_t idx[] = { 0x10, 0x1b, 0x174, 0x175, 0x176,
			0x277, 0x2ff, 0xc0000080, 0xc0000081, 0xc0000082,
			0xc0000083, 0xc0000084, 0xc0000100, 0xc0000101,
			0xc0000102, 0xc0000103, 0xc0010114, 0xc0010117, 0x48 };
		unsigned int i, n = rn(r, 8) ? rn(r, 40) : (unsigned int)rnd(r);

		m->nmsrs = n;
		m->padding = rn(r, 16) ? 0 : 1;
		for (i = 0; i < 40; i++) {
			m->entries[i].index = rn(r, 4) ? idx[rn(r, sizeof(idx) / 4)] :
					      (uint32_t)rnd(r);
			m->entries[i].reserved = rn(r, 16) ? 0 : 1;
			m->entries[i].data = rn(r, 2) ? rnd(r) : rnd(r) & 0xfff;
		}
		return buf;
	}
	case KVISOR_SET_CPUID:
	case KVISOR_GET_CPUID: {
		struct kvisor_cpuid *c = (void *)buf;

		fill(r, buf, 4096);
		c->nent = rn(r, 4) ? rn(r, 80) : (uint32_t)rnd(r);
		c->padding = rn(r, 8) ? 0 : 1;
		return buf;
	}
	case KVISOR_INJECT_EVENT: {
		struct kvisor_event *e = (void *)buf;

		e->type = rn(r, 5);
		e->vector = rn(r, 4) ? rn(r, 256) : (uint32_t)rnd(r);
		e->flags = rn(r, 3);
		e->error_code = rn(r, 2) ? 0 : (uint32_t)rnd(r);
		return buf;
	}
	case KVISOR_SET_SREGS:
	case KVISOR_SET_REGS: {
		/* the vCPU's state with a few fields made hostile */
		unsigned int i, n = cmd == KVISOR_SET_SREGS ? sizeof(struct kvisor_sregs) :
				    sizeof(struct kvisor_regs);

		fill(r, buf, 512);
		if (rn(r, 4) &&
		    ioctl(fd, cmd == KVISOR_SET_SREGS ? KVISOR_GET_SREGS : KVISOR_GET_REGS,
			  buf) == 0) {
			for (i = rn(r, 4); i < 4; i++) {
				uint64_t v = rn(r, 2) ? rnd(r) : 1ull << rn(r, 64);
				unsigned int off = rn(r, n / 8) * 8;

				if (rn(r, 2))
					v ^= *(uint64_t *)(buf + off);
				memcpy(buf + off, &v, rn(r, 2) ? 8 : 1);
			}
		}
		return buf;
	}
	default:
		fill(r, buf, 4096);
		return buf;
	}
}

static unsigned long random_arg(struct rng *r, int fd, unsigned long cmd, uint8_t *buf)
{
	switch (rn(r, 12)) {
	case 0: return 0;
	case 1: return rn(r, 64);
	case 2: return rnd(r);
	case 3: return 0xffff888000000000ull + (rnd(r) & 0xffffff000ull);	/* kernel */
	case 4: return 0x8000000000000000ull;				/* non-canonical */
	case 5: return (uintptr_t)(bufs + 4 * 4096 - rn(r, 64));	/* runs into PROT_NONE */
	case 6: return (uintptr_t)(bufs + 5 * 4096);			/* read-only */
	case 7: return (uintptr_t)hole + rn(r, 4096);
	default:
		fill(r, buf, 4096);
		return (uintptr_t)structured_arg(r, fd, cmd, buf);
	}
}

/* A VM with RAM at 0 (the shared pool, random bytes) and a vCPU in a mode. */
static void make_vm(struct rng *r, int tid)
{
	struct vm vm = { .sys_fd = -1, .fd = -1, .mem = pool };
	struct vcpu v;
	int i, sys;

	pthread_mutex_lock(&tab_lock);
	i = pick(r, K_SYS);
	sys = i >= 0 ? dup(fds[i].fd) : -1;
	pthread_mutex_unlock(&tab_lock);
	stats_calls[tid]++;
	if (sys < 0)
		return;
	vm.sys_fd = sys;
	vm.fd = ioctl(sys, KVISOR_CREATE_VM, 0);
	stats_calls[tid]++;
	if (vm.fd < 0)
		goto out;
	stats_vms[tid]++;
	stats_calls[tid] += 6;
	if (vm_set_region(&vm, 0, 0, 0, POOL_SIZE, pool) ||
	    vcpu_add(&vm, &v, rn(r, KVISOR_MAX_VCPUS_TEST))) {
		close(vm.fd);
		goto out;
	}
	/* random guest code; tables from lib/vm.c, racing other threads */
	fill(r, pool + CODE_GPA + rn(r, 16) * 64, 64);
	if (rn(r, 2))
		pool[CODE_GPA + rn(r, 0x400)] = 0xf4;	/* a HLT somewhere */
	vcpu_setup_mode(&v, rn(r, MODE_NR), CODE_GPA + rn(r, 0x400));
	v.run->immediate_exit = rn(r, 2);
	if (ioctl(v.fd, KVISOR_RUN, 0) == 0 || errno == EINTR)
		stats_runs[tid]++;
	map_add(r, v.run, v.run_size);	/* the mapping outlives the fds, maybe */
	fd_add(r, vm.fd, K_VM);
	fd_add(r, v.fd, K_VCPU);
out:
	close(sys);
}

static void do_fork(struct rng *r, int tid)
{
	pid_t pid;
	int i, j;

	stats_forks[tid]++;
	pid = fork();
	if (pid == 0) {
		/* async-signal-safe only: other threads held locks */
		for (i = 0; i < 8; i++) {
			j = rn(r, NFDS);
			if (fds[j].kind == K_FREE)
				continue;
			ioctl(fds[j].fd, known_ioctls[rn(r, NKNOWN)], 0);
			if (fds[j].kind == K_VM || fds[j].kind == K_VCPU)
				ioctl(fds[j].fd, KVISOR_RUN, 0);
		}
		_exit(0);
	}
	if (pid > 0)
		waitpid(pid, NULL, 0);
}

static void on_timer(int sig)
{
}

/* What each thread did last, for the crash report below. */
static volatile unsigned long last_op[MAX_THREADS], last_cmd[MAX_THREADS],
	last_arg[MAX_THREADS];

static void on_fault(int sig, siginfo_t *si, void *uc)
{
	ucontext_t *u = uc;
	char msg[256];
	int n, t;

	n = snprintf(msg, sizeof(msg), "# fuzz: signal %d at rip %#llx, address %p\n", sig,
		     (unsigned long long)u->uc_mcontext.gregs[REG_RIP], si->si_addr);
	if (write(2, msg, n) < 0)
		_exit(4);
	for (t = 0; t < MAX_THREADS; t++) {
		n = snprintf(msg, sizeof(msg), "# fuzz: thread %d: op %lu cmd %#lx arg %#lx\n", t,
			     last_op[t], last_cmd[t], last_arg[t]);
		if (write(2, msg, n) < 0)
			break;
	}
	_exit(4);
}

struct thread_arg {
	int tid;
	uint64_t seed;
};

static void *fuzz_thread(void *p)
{
	struct thread_arg *a = p;
	int tid = a->tid;
	struct rng r = { a->seed };
	uint8_t *buf = aligned_alloc(4096, 8192);
	struct sigevent sev = { 0 };
	struct itimerspec its = { { 0, 5000000 }, { 0, 5000000 } };
	timer_t timer;

	/* A RUN of a spinning guest ends at the next 5 ms tick (EINTR). */
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = SIGALRM;
	sev._sigev_un._tid = syscall(SYS_gettid);
	if (timer_create(CLOCK_MONOTONIC, &sev, &timer) == 0)
		timer_settime(timer, 0, &its, NULL);

	while (stats_calls[tid] < per_thread_calls) {
		unsigned int op = rn(&r, 1000);
		int i, fd;

		last_op[tid] = op;

		if (op < 800) {
			unsigned long cmd = random_cmd(&r);
			unsigned long arg;
			int kind;

			/* mostly the fd type the ioctl is for, sometimes any */
			kind = K_FREE;
			if (rn(&r, 4)) {
				if (_IOC_NR(cmd) >= 0x20 && _IOC_NR(cmd) < 0x30)
					kind = K_VCPU;
				else if (_IOC_NR(cmd) >= 0x10 && _IOC_NR(cmd) < 0x20)
					kind = K_VM;
				else if (_IOC_NR(cmd) < 0x10)
					kind = K_SYS;
			}
			pthread_mutex_lock(&tab_lock);
			i = pick(&r, kind);
			if (i < 0)
				i = pick(&r, K_FREE);
			fd = i >= 0 ? fds[i].fd : -1;
			kind = i >= 0 ? fds[i].kind : K_FREE;
			pthread_mutex_unlock(&tab_lock);
			if (fd < 0)
				continue;
			if (cmd == KVISOR_RUN && kind == K_VCPU && rn(&r, 4))
				arg = 0;
			else
				arg = random_arg(&r, fd, cmd, buf);
			/*
			 * The fd may have been closed and its number reused by
			 * another thread since: it is still one of ours.
			 */
			last_cmd[tid] = cmd;
			last_arg[tid] = arg;
			if (ioctl(fd, cmd, arg) >= 0)
				stats_ok[tid]++;
			stats_ioctls[tid]++;
			stats_calls[tid]++;
		} else if (op < 840) {
			fd_add(&r, open(KVISOR_DEV, O_RDWR | O_CLOEXEC), K_SYS);
			stats_calls[tid]++;
		} else if (op < 880) {
			pthread_mutex_lock(&tab_lock);
			i = pick(&r, K_SYS);
			fd = i >= 0 ? fds[i].fd : -1;
			pthread_mutex_unlock(&tab_lock);
			if (fd >= 0) {
				fd_add(&r, ioctl(fd, KVISOR_CREATE_VM, 0), K_VM);
				stats_ioctls[tid]++;
				stats_calls[tid]++;
			}
		} else if (op < 910) {
			pthread_mutex_lock(&tab_lock);
			i = pick(&r, K_VM);
			fd = i >= 0 ? fds[i].fd : -1;
			pthread_mutex_unlock(&tab_lock);
			if (fd >= 0) {
				fd_add(&r, ioctl(fd, KVISOR_CREATE_VCPU, rn(&r, 18)), K_VCPU);
				stats_ioctls[tid]++;
				stats_calls[tid]++;
			}
		} else if (op < 935) {
			fd_close(&r);
			stats_calls[tid]++;
		} else if (op < 950) {
			pthread_mutex_lock(&tab_lock);
			i = pick(&r, K_FREE);
			fd = i >= 0 ? dup(fds[i].fd) : -1;
			pthread_mutex_unlock(&tab_lock);
			fd_add(&r, fd, i >= 0 ? fds[i].kind : K_OTHER);
			stats_calls[tid]++;
		} else if (op < 965) {
			/* mmap any fd: size, offset, protection at random */
			static const size_t lens[] = { 4096, 8192, 1 << 20, 3 };
			off_t off;
			void *m;

			pthread_mutex_lock(&tab_lock);
			i = pick(&r, rn(&r, 2) ? K_VCPU : K_FREE);
			fd = i >= 0 ? dup(fds[i].fd) : -1;
			pthread_mutex_unlock(&tab_lock);
			if (fd < 0)
				continue;
			off = rn(&r, 4) ? 0 : (off_t)rn(&r, 4) << 12;
			m = mmap(NULL, lens[rn(&r, 4)], rn(&r, 4) ? PROT_READ | PROT_WRITE : PROT_READ,
				 rn(&r, 4) ? MAP_SHARED : MAP_PRIVATE, fd, off);
			stats_calls[tid] += 2;
			close(fd);
			if (m != MAP_FAILED) {
				/*
				 * Touch the first page at offset 0 (the run page
				 * of a vCPU fd); beyond it a vCPU fd gives SIGBUS,
				 * which the fuzzer cannot survive.
				 */
				if (!off && rn(&r, 2))
					((volatile uint8_t *)m)[rn(&r, 4096)];
				map_add(&r, m, 4096);
			}
		} else if (op < 975) {
			map_drop(&r);
			stats_calls[tid]++;
		} else if (op < 985) {
			int p[2];

			switch (rn(&r, 4)) {
			case 0:
				if (!pipe2(p, O_CLOEXEC)) {
					fd_add(&r, p[0], K_OTHER);
					fd_add(&r, p[1], K_OTHER);
				}
				break;
			case 1:
				fd_add(&r, eventfd(0, EFD_CLOEXEC), K_OTHER);
				break;
			case 2:
				fd = memfd_create("kvisor-fuzz", MFD_CLOEXEC);
				if (fd >= 0 && ftruncate(fd, 8192)) {
					close(fd);
					fd = -1;
				}
				fd_add(&r, fd, K_OTHER);
				break;
			default:
				fd_add(&r, open("/dev/null", O_RDWR | O_CLOEXEC), K_OTHER);
				break;
			}
			stats_calls[tid]++;
		} else if (op < 996) {
			make_vm(&r, tid);
		} else if (op < 998) {
			do_fork(&r, tid);
			stats_calls[tid]++;
		} else {
			/* a region of the shared pool on a VM, then maybe gone */
			struct kvisor_memory_region mr = {
				.slot = rn(&r, 4), .guest_phys_addr = (uint64_t)rn(&r, 64) << 21,
				.memory_size = (uint64_t)(1 + rn(&r, 512)) << 12,
				.userspace_addr = (uintptr_t)pool,
				.flags = rn(&r, 2),
			};

			pthread_mutex_lock(&tab_lock);
			i = pick(&r, K_VM);
			fd = i >= 0 ? fds[i].fd : -1;
			pthread_mutex_unlock(&tab_lock);
			if (fd >= 0) {
				if (ioctl(fd, KVISOR_SET_MEMORY_REGION, &mr) == 0)
					stats_ok[tid]++;
				if (rn(&r, 2)) {
					mr.memory_size = 0;
					ioctl(fd, KVISOR_SET_MEMORY_REGION, &mr);
				}
				stats_ioctls[tid] += 2;
				stats_calls[tid] += 2;
			}
		}
	}
	timer_delete(timer);
	free(buf);
	return NULL;
}

/* The fuzzing process: exits 0 when all calls were made. */
static void fuzz_child(uint64_t seed, unsigned long calls, int nthreads)
{
	pthread_t th[MAX_THREADS];
	struct thread_arg args[MAX_THREADS];
	struct sigaction sa = { .sa_handler = on_timer };
	unsigned long c = 0, io = 0, ok = 0, vms = 0, runs = 0, forks = 0;
	int t;

	sigaction(SIGALRM, &sa, NULL);	/* no SA_RESTART: RUN returns EINTR */
	sa.sa_handler = NULL;
	sa.sa_sigaction = on_fault;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGSEGV, &sa, NULL);
	sigaction(SIGBUS, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	pool = mmap(NULL, POOL_SIZE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	bufs = mmap(NULL, 6 * 4096, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	hole = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pool == MAP_FAILED || bufs == MAP_FAILED || hole == MAP_FAILED)
		_exit(2);
	mprotect(bufs + 4 * 4096, 4096, PROT_NONE);
	mprotect(bufs + 5 * 4096, 4096, PROT_READ);
	memset(pool, 0xf4, POOL_SIZE);	/* HLT everywhere to start with */
	for (t = 0; t < NFDS; t++)
		fds[t].kind = K_FREE;
	per_thread_calls = calls / nthreads;
	for (t = 0; t < nthreads; t++) {
		args[t].tid = t;
		args[t].seed = seed + t;
		pthread_create(&th[t], NULL, fuzz_thread, &args[t]);
	}
	for (t = 0; t < nthreads; t++) {
		pthread_join(th[t], NULL);
		c += stats_calls[t];
		io += stats_ioctls[t];
		ok += stats_ok[t];
		vms += stats_vms[t];
		runs += stats_runs[t];
		forks += stats_forks[t];
	}
	printf("# fuzz: seed %#llx, %d threads: %lu calls, %lu ioctls (%lu succeeded), "
	       "%lu VMs built, %lu RUNs, %lu forks\n",
	       (unsigned long long)seed, nthreads, c, io, ok, vms, runs, forks);
	fflush(stdout);
	_exit(c >= calls - nthreads ? 0 : 3);
}

struct meminfo { long memfree, sunreclaim, slab, pins; };

/* Pages pinned with FOLL_PIN and not released yet, system-wide. */
static long pins_outstanding(void)
{
	char line[128];
	long acq = 0, rel = 0;
	FILE *f;
	int fd;

	/*
	 * The counters live partly in per-CPU deltas that are folded into
	 * the totals lazily; writing stat_refresh folds them all, so the
	 * reading is exact.
	 */
	fd = open("/proc/sys/vm/stat_refresh", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "1", 1) < 0)
			perror("/proc/sys/vm/stat_refresh");
		close(fd);
	}
	f = fopen("/proc/vmstat", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "nr_foll_pin_acquired %ld", &acq);
		sscanf(line, "nr_foll_pin_released %ld", &rel);
	}
	fclose(f);
	return acq - rel;
}

static void meminfo_read(struct meminfo *m)
{
	char line[128];
	FILE *f;
	int fd;

	sync();
	fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
	if (fd >= 0) {
		if (write(fd, "3", 1) < 0)
			fd = -fd - 1;	/* nothing dropped: measure anyway */
		close(fd < 0 ? -fd - 1 : fd);
	}
	memset(m, 0, sizeof(*m));
	f = fopen("/proc/meminfo", "r");
	if (!f)
		return;
	while (fgets(line, sizeof(line), f)) {
		sscanf(line, "MemFree: %ld", &m->memfree);
		sscanf(line, "SUnreclaim: %ld", &m->sunreclaim);
		sscanf(line, "Slab: %ld", &m->slab);
	}
	fclose(f);
	m->pins = pins_outstanding();
}

static unsigned long env_ul(const char *name, unsigned long def)
{
	const char *s = getenv(name);

	return s && *s ? strtoull(s, NULL, 0) : def;
}

/* Run the fuzzer in a child; 0 if it finished, else a description. */
/* scripts/box/init: kvmember (uid 1001) is in group kvisor (990). */
#define UID_KVMEMBER	1001
#define GID_KVISOR	990

static const char *fuzz_round(uint64_t seed, unsigned long calls, int nthreads,
			      int limit_s, bool member)
{
	int status, waited;
	pid_t pid;

	fflush(stdout);
	pid = fork();
	if (pid < 0)
		return "fork failed";
	if (pid == 0) {
		if (member) {
			/* an unprivileged caller: 8 MiB RLIMIT_MEMLOCK, no caps */
			const gid_t groups[] = { UID_KVMEMBER, GID_KVISOR };
			struct rlimit rl = { 8 << 20, 8 << 20 };

			if (setrlimit(RLIMIT_MEMLOCK, &rl) || setgroups(2, groups) ||
			    setgid(UID_KVMEMBER) || setuid(UID_KVMEMBER))
				_exit(5);
		}
		fuzz_child(seed, calls, nthreads);
	}
	for (waited = 0; waited < limit_s * 10; waited++) {
		if (waitpid(pid, &status, WNOHANG) == pid)
			break;
		usleep(100000);
	}
	if (waited >= limit_s * 10) {
		kill(pid, SIGKILL);
		waitpid(pid, &status, 0);
		return "the fuzzer hung (killed)";
	}
	if (WIFSIGNALED(status)) {
		static char msg[64];

		snprintf(msg, sizeof(msg), "the fuzzer died of signal %d", WTERMSIG(status));
		return msg;
	}
	if (WEXITSTATUS(status))
		return "the fuzzer did not complete its calls";
	return NULL;
}

EMPTY_FIXTURE(fuzz)

static void fuzz_and_check(struct __test_metadata *_metadata, unsigned long calls,
			   uint64_t seed, int nthreads, bool member)
{
	struct meminfo m0, m1;
	char hw[64] = "";
	const char *err;
	long ref0, ref1;
	int i;

	/* Warm-up: slab caches and per-CPU lists reach their working size. */
	err = fuzz_round(seed ^ 0xffff, calls / 20 + 100, nthreads, 120, member);
	ASSERT_EQ(NULL, err) TH_LOG("warm-up, seed %#llx: %s",
				    (unsigned long long)(seed ^ 0xffff), err);
	usleep(200000);
	meminfo_read(&m0);
	ref0 = kvisor_refcnt();

	err = fuzz_round(seed, calls, nthreads, member ? 100 : 240, member);
	ASSERT_EQ(NULL, err) TH_LOG("seed %#llx: %s", (unsigned long long)seed, err);

	/* Everything is released when the last fd closes; RCU/vfree lag a bit. */
	for (i = 0; i < 20; i++) {
		usleep(100000);
		if (kvisor_refcnt() == ref0)
			break;
	}
	meminfo_read(&m1);
	ref1 = kvisor_refcnt();
	EXPECT_EQ(ref0, ref1) TH_LOG("kvisor module use count %ld -> %ld: fds or VMs leaked",
				     ref0, ref1);
	if (cpu_virt() != CPU_VIRT_NONE && !kvisor_hw_cpus(hw, sizeof(hw)))
		EXPECT_STREQ("", hw) TH_LOG("virtualization still on: a VM was not freed");
	printf("# memory: MemFree %ld -> %ld kB, Slab %ld -> %ld kB, SUnreclaim %ld -> %ld kB, "
	       "pinned pages %ld -> %ld\n", m0.memfree, m1.memfree, m0.slab, m1.slab,
	       m0.sunreclaim, m1.sunreclaim, m0.pins, m1.pins);
	fflush(stdout);
	EXPECT_LE(m1.sunreclaim - m0.sunreclaim, 2048)
		TH_LOG("unreclaimable slab grew by %ld kB", m1.sunreclaim - m0.sunreclaim);
	EXPECT_EQ(m0.pins, m1.pins) TH_LOG("%ld pinned pages not released",
					   m1.pins - m0.pins);
	/*
	 * MemFree moves by ±16 MiB in the box between readings with nothing
	 * leaked (page allocator lists, lazily freed vmap areas); leaked
	 * pins and slab are caught exactly above.
	 */
	EXPECT_LE(m0.memfree - m1.memfree, 32768)
		TH_LOG("free memory shrank by %ld kB", m0.memfree - m1.memfree);
}

static unsigned long fuzz_calls(struct __test_metadata *_metadata)
{
	const char *box = getenv("KVISOR_BOX");
	bool slow = box && !strcmp(box, "vmx");
	unsigned long calls = env_ul("KVISOR_FUZZ_CALLS", slow ? 20000 : 200000);

	if (slow && !getenv("KVISOR_FUZZ_CALLS"))
		TH_LOG("vmx box (Bochs): %lu calls instead of 200000", calls);
	return calls;
}

static int fuzz_threads(void)
{
	int n = env_ul("KVISOR_FUZZ_THREADS", 4);

	return n < 1 || n > MAX_THREADS ? 4 : n;
}

TEST_F_TIMEOUT(fuzz, ioctls, 290)
{
	if (access(KVISOR_DEV, F_OK))
		SKIP(return, "no /dev/kvisor in this box");
	fuzz_and_check(_metadata, fuzz_calls(_metadata),
		       env_ul("KVISOR_FUZZ_SEED", 0x6b76697a), fuzz_threads(), false);
}

/*
 * The same as a member of group kvisor, as the shipped udev rule allows:
 * no CAP_IPC_LOCK, RLIMIT_MEMLOCK 8 MiB.  A tenth of the calls.
 */
TEST_F_TIMEOUT(fuzz, ioctls_as_kvisor_member, 200)
{
	struct stat st;

	if (stat(KVISOR_DEV, &st))
		SKIP(return, "no /dev/kvisor in this box");
	/* what scripts/udev/60-kvisor.rules does: GROUP="kvisor", MODE="0660" */
	ASSERT_EQ(0, chown(KVISOR_DEV, 0, GID_KVISOR));
	ASSERT_EQ(0, chmod(KVISOR_DEV, 0660));
	fuzz_and_check(_metadata, fuzz_calls(_metadata) / 10,
		       env_ul("KVISOR_FUZZ_SEED", 0x6b76697a) + 0x100, fuzz_threads(), true);
	if (chown(KVISOR_DEV, st.st_uid, st.st_gid) || chmod(KVISOR_DEV, st.st_mode & 07777))
		TH_LOG("could not restore %s", KVISOR_DEV);
}

TEST_HARNESS_MAIN
