// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor-bench: kvisor's exit paths side by side with KVM's.
 *
 * Every metric runs the same guest bytes, in the same 32-bit flat
 * protected-mode setup (no paging), on both hypervisors, in one boot.
 * Each repetition measures every metric on both, alternating which goes
 * first, and each measurement creates and destroys its own VM: kvisor and
 * KVM hold AMD-V/VT-x only while they have VMs, so they never run at the
 * same time.  Times are CLOCK_MONOTONIC around many operations; the table
 * gives per-operation medians over the repetitions, their min..max, and
 * the median and min..max of the per-repetition ratios kvisor/KVM (pairs
 * measured back to back, which cancels most drift of a noisy machine).
 *
 * Guest memory map (both backends):
 *   slot 0  0 .. 1 MiB        the guests' code at CODE_GPA
 *   slot 1  TOUCH_GPA ..      fresh memory for mem-touch only
 *   MMIO_GPA                  in no slot: MMIO exits to userspace
 * Documentation/performance.rst describes the metrics and the results.
 */
#include <errno.h>
#include <getopt.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/utsname.h>

#include "bench.h"

#define LOW_SIZE	0x100000ull
#define CODE_GPA	0x1000ull
#define TOUCH_GPA	0x10000000ull
#define MMIO_GPA	0xd0000000ull
#define BENCH_PORT	0x80
#define HUGE_2M		0x200000ull
#define MAX_VCPUS	4
#define MAX_REPS	64

/*
 * The guests, 32-bit code.  Parameters: ESI iterations, DX the port, EBX
 * the MMIO address, EDI..EBP the range to touch.
 */
#define GUEST_ASM(name, text)						\
	extern const uint8_t name[], name##_end[];			\
	asm(".pushsection .rodata.guest, \"a\"\n"			\
	    ".balign 16\n"						\
	    ".globl " #name "\n" #name ":\n"				\
	    ".code32\n.intel_syntax noprefix\n"				\
	    text "\n"							\
	    ".att_syntax prefix\n.code64\n"				\
	    ".globl " #name "_end\n" #name "_end:\n"			\
	    ".popsection\n")

GUEST_ASM(g_cpuid, "1: xor eax, eax\n cpuid\n dec esi\n jnz 1b\n hlt\n");
GUEST_ASM(g_out, "1: out dx, al\n dec esi\n jnz 1b\n hlt\n");
GUEST_ASM(g_mmio, "1: mov dword ptr [ebx], eax\n dec esi\n jnz 1b\n hlt\n");
GUEST_ASM(g_compute, "1: add eax, 3\n xor edx, eax\n dec esi\n jnz 1b\n hlt\n");
GUEST_ASM(g_touch, "1: mov dword ptr [edi], eax\n add edi, 4096\n"
		   " cmp edi, ebp\n jb 1b\n hlt\n");

enum { G_CPUID, G_OUT, G_MMIO, G_COMPUTE, G_TOUCH, G_NR };
static const struct {
	const uint8_t *start, *end;
} guests[G_NR] = {
	[G_CPUID] = { g_cpuid, g_cpuid_end },
	[G_OUT] = { g_out, g_out_end },
	[G_MMIO] = { g_mmio, g_mmio_end },
	[G_COMPUTE] = { g_compute, g_compute_end },
	[G_TOUCH] = { g_touch, g_touch_end },
};
#define GUEST_RIP(g)	(CODE_GPA + 0x100 * (g))

/* ------------------------------------------------------------------ */

static struct {
	int reps;
	long exits;		/* cpuid, pio-out, mmio-write */
	long compute;		/* loop iterations */
	long touch_mib;
	long startups;
	long smp_exits;		/* per vCPU */
	long timeout;		/* s per measurement */
	unsigned int only_metrics;	/* -M: bit per metric, 0 = all */
	bool verbose;
} opt = {
	.reps = 7,
	.exits = 5000,
	.compute = 50000000,
	.touch_mib = 256,
	.startups = 10,
	.smp_exits = 2000,
	.timeout = 120,
};

static uint8_t *low_mem;	/* slot 0, shared by every VM (one at a time) */
static bool failed;

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static const char *errno_name(int e)
{
	switch (e) {
	case ENOENT: return "ENOENT";
	case ENXIO: return "ENXIO";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EBUSY: return "EBUSY";
	case EACCES: return "EACCES";
	case EPERM: return "EPERM";
	case ENOMEM: return "ENOMEM";
	case EINVAL: return "EINVAL";
	case EFAULT: return "EFAULT";
	case EPROTO: return "EPROTO";
	case EIO: return "EIO";
	default: return "errno";
	}
}

/* A VM with slot 0 and @n vCPUs. */
struct ctx {
	struct bench_backend *b;
	struct bench_vm vm;
	struct bench_vcpu v[MAX_VCPUS];
	int nvcpus;
	uint64_t stats[32];
};

static void ctx_close(struct ctx *c)
{
	while (c->nvcpus > 0)
		c->b->vcpu_destroy(&c->v[--c->nvcpus]);
	c->b->vm_destroy(&c->vm);
}

static int ctx_open(struct bench_backend *b, struct ctx *c, int n)
{
	int r;

	memset(c, 0, sizeof(*c));
	c->b = b;
	r = b->vm_create(b, &c->vm);
	if (r)
		return r;
	r = b->vm_add_mem(&c->vm, 0, 0, LOW_SIZE, low_mem);
	while (!r && c->nvcpus < n) {
		r = b->vcpu_create(b, &c->vm, &c->v[c->nvcpus], c->nvcpus);
		if (!r)
			c->nvcpus++;
	}
	if (r)
		ctx_close(c);
	return r;
}

/* kvisor's exit counters of all vCPUs, for -v. */
static void ctx_stats(struct ctx *c)
{
	uint64_t s[32];
	int i, j;

	if (!c->b->stats)
		return;
	for (i = 0; i < c->nvcpus; i++) {
		if (c->b->stats(&c->v[i], s, 32))
			return;
		for (j = 0; j < 32; j++)
			c->stats[j] += s[j];
	}
}

static int setup(struct bench_vcpu *v, struct bench_backend *b, int g,
		 uint64_t iters)
{
	struct bench_regs r = {
		.rip = GUEST_RIP(g),
		.rsi = iters,
		.rdx = BENCH_PORT,
		.rbx = MMIO_GPA,
	};

	return b->vcpu_setup(v, &r);
}

/*
 * Run until HLT, counting the OUT and MMIO-write exits on the way.
 * 0, or -errno; -EPROTO for an exit no guest here should make.
 */
static int run_to_hlt(struct bench_backend *b, struct bench_vcpu *v,
		      uint64_t *outs, uint64_t *mmios)
{
	struct bench_exit x;
	int r;

	for (;;) {
		r = b->run(v, &x);
		if (r)
			return r;
		switch (x.kind) {
		case BX_HLT:
			return 0;
		case BX_IO_OUT:
			if (x.port != BENCH_PORT)
				goto bad;
			(*outs)++;
			break;
		case BX_MMIO_WRITE:
			if (x.addr != MMIO_GPA)
				goto bad;
			(*mmios)++;
			break;
		case BX_INTR:
			break;
		default:
			goto bad;
		}
	}
bad:
	fprintf(stderr, "%s: unexpected exit, reason %u (port %#x, address %#llx)\n",
		b->name, x.reason, x.port, (unsigned long long)x.addr);
	return -EPROTO;
}

/* ------------------------------------------------------------------ */
/* The metrics: each returns its value (> 0) or -errno                */
/* ------------------------------------------------------------------ */

/* cpuid, pio-out, mmio-write, compute: one vCPU, a warm-up run first. */
static double m_loop(struct bench_backend *b, int g, long iters,
		     struct ctx *c)
{
	uint64_t outs = 0, mmios = 0, want_outs = 0, want_mmios = 0;
	double t0 = 0, t1 = 0;
	int r;

	r = ctx_open(b, c, 1);
	if (r)
		return r;
	r = setup(&c->v[0], b, g, 10);
	if (!r)
		r = run_to_hlt(b, &c->v[0], &outs, &mmios);
	if (!r)
		r = setup(&c->v[0], b, g, iters);
	if (r)
		goto out;
	outs = mmios = 0;
	t0 = now_ns();
	r = run_to_hlt(b, &c->v[0], &outs, &mmios);
	t1 = now_ns();
	if (g == G_OUT)
		want_outs = iters;
	if (g == G_MMIO)
		want_mmios = iters;
	if (!r && (outs != want_outs || mmios != want_mmios)) {
		fprintf(stderr, "%s: %llu OUT and %llu MMIO exits, expected %llu and %llu\n",
			b->name, (unsigned long long)outs, (unsigned long long)mmios,
			(unsigned long long)want_outs, (unsigned long long)want_mmios);
		r = -EPROTO;
	}
	ctx_stats(c);
out:
	ctx_close(c);
	return r ? r : (t1 - t0) / iters;
}

static double m_cpuid(struct bench_backend *b, struct ctx *c)
{
	return m_loop(b, G_CPUID, opt.exits, c);
}

static double m_out(struct bench_backend *b, struct ctx *c)
{
	return m_loop(b, G_OUT, opt.exits, c);
}

static double m_mmio(struct bench_backend *b, struct ctx *c)
{
	return m_loop(b, G_MMIO, opt.exits, c);
}

static double m_compute(struct bench_backend *b, struct ctx *c)
{
	return m_loop(b, G_COMPUTE, opt.compute, c);
}

/*
 * mem-touch: add a region of fresh anonymous memory (2 MiB aligned, so
 * either hypervisor may map it with large pages) and let the guest write
 * one word per 4 KiB page.  From SET_MEMORY_REGION to HLT, as kvisor
 * pins at SET_MEMORY_REGION what KVM faults in at first touch.
 */
static double m_touch(struct bench_backend *b, struct ctx *c)
{
	uint64_t size = opt.touch_mib << 20, outs = 0, mmios = 0;
	struct bench_regs regs = {
		.rip = GUEST_RIP(G_TOUCH),
		.rdi = TOUCH_GPA,
		.rbp = TOUCH_GPA + size,
	};
	uint8_t *map, *mem;
	double t0 = 0, tm, t1 = 0;
	int r;

	map = mmap(NULL, size + HUGE_2M, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (map == MAP_FAILED)
		return -errno;
	mem = (uint8_t *)(((uintptr_t)map + HUGE_2M - 1) & ~(HUGE_2M - 1));
	r = ctx_open(b, c, 1);
	if (r)
		goto out_unmap;
	/* Warm up: the code page mapped, the vCPU entered once. */
	r = setup(&c->v[0], b, G_CPUID, 1);
	if (!r)
		r = run_to_hlt(b, &c->v[0], &outs, &mmios);
	if (r)
		goto out;
	t0 = now_ns();
	r = b->vm_add_mem(&c->vm, 1, TOUCH_GPA, size, mem);
	tm = now_ns();
	if (!r)
		r = b->vcpu_setup(&c->v[0], &regs);
	if (!r)
		r = run_to_hlt(b, &c->v[0], &outs, &mmios);
	t1 = now_ns();
	if (!r && opt.verbose)
		fprintf(stderr, "# %s mem-touch: add region %.1f ms, run %.1f ms\n",
			b->name, (tm - t0) / 1e6, (t1 - tm) / 1e6);
	ctx_stats(c);
out:
	ctx_close(c);
out_unmap:
	munmap(map, size + HUGE_2M);
	return r ? r : (t1 - t0) / (size >> 12);
}

/* startup: CREATE_VM to the first exit (an OUT), in microseconds. */
static double m_startup(struct bench_backend *b, struct ctx *c)
{
	double total = 0, t0;
	struct bench_exit x;
	long i;
	int r;

	for (i = 0; i < opt.startups; i++) {
		t0 = now_ns();
		r = ctx_open(b, c, 1);
		if (r)
			return r;
		r = setup(&c->v[0], b, G_OUT, 1);
		do {
			if (!r)
				r = b->run(&c->v[0], &x);
		} while (!r && x.kind == BX_INTR);
		total += now_ns() - t0;
		if (!r && x.kind != BX_IO_OUT) {
			fprintf(stderr, "%s: first exit: reason %u, not OUT\n",
				b->name, x.reason);
			r = -EPROTO;
		}
		if (!r && i == opt.startups - 1)
			ctx_stats(c);
		ctx_close(c);
		if (r)
			return r;
	}
	return total / opt.startups / 1000;
}

/* smp4-pio-out: 4 vCPU threads doing OUT round trips at once. */
struct smp_arg {
	struct bench_backend *b;
	struct bench_vcpu *v;
	pthread_barrier_t *go;
	int r;
};

static void *smp_thread(void *p)
{
	struct smp_arg *a = p;
	uint64_t outs = 0, mmios = 0;

	a->r = setup(a->v, a->b, G_OUT, 10);
	if (!a->r)
		a->r = run_to_hlt(a->b, a->v, &outs, &mmios);
	if (!a->r)
		a->r = setup(a->v, a->b, G_OUT, opt.smp_exits);
	pthread_barrier_wait(a->go);
	outs = 0;
	if (!a->r)
		a->r = run_to_hlt(a->b, a->v, &outs, &mmios);
	if (!a->r && outs != (uint64_t)opt.smp_exits)
		a->r = -EPROTO;
	return NULL;
}

static double m_smp(struct bench_backend *b, struct ctx *c)
{
	struct smp_arg a[MAX_VCPUS];
	pthread_t t[MAX_VCPUS];
	pthread_barrier_t go;
	double t0, t1;
	int i, r;

	r = ctx_open(b, c, MAX_VCPUS);
	if (r)
		return r;
	pthread_barrier_init(&go, NULL, MAX_VCPUS + 1);
	for (i = 0; i < MAX_VCPUS; i++) {
		a[i] = (struct smp_arg){ .b = b, .v = &c->v[i], .go = &go };
		if (pthread_create(&t[i], NULL, smp_thread, &a[i])) {
			fprintf(stderr, "pthread_create failed\n");
			exit(2);
		}
	}
	pthread_barrier_wait(&go);
	t0 = now_ns();
	for (i = 0; i < MAX_VCPUS; i++)
		pthread_join(t[i], NULL);
	t1 = now_ns();
	pthread_barrier_destroy(&go);
	for (i = 0; i < MAX_VCPUS; i++)
		if (a[i].r && !r)
			r = a[i].r;
	ctx_stats(c);
	ctx_close(c);
	return r ? r : (t1 - t0) / (MAX_VCPUS * (double)opt.smp_exits);
}

/* ------------------------------------------------------------------ */

struct metric {
	const char *name, *unit, *what;
	double (*fn)(struct bench_backend *b, struct ctx *c);
	double val[2][MAX_REPS];	/* [backend][rep] */
	int err[2];
	uint64_t stats[32];		/* kvisor's counters, last rep */
};

static struct metric metrics[] = {
	{ .name = "cpuid", .unit = "ns/exit", .what = "CPUID, handled in the kernel", .fn = m_cpuid },
	{ .name = "pio-out", .unit = "ns/exit", .what = "OUT to a port, round trip through userspace", .fn = m_out },
	{ .name = "mmio-write", .unit = "ns/exit", .what = "MOV to unmapped memory, round trip through userspace", .fn = m_mmio },
	{ .name = "compute", .unit = "ns/iter", .what = "register-only loop, no exits (guest speed)", .fn = m_compute },
	{ .name = "mem-touch", .unit = "ns/page", .what = "write one word per 4 KiB of fresh memory (region add + nested faults)", .fn = m_touch },
	{ .name = "startup", .unit = "us/VM", .what = "create VM + memory + vCPU + registers, run to the first exit", .fn = m_startup },
	{ .name = "smp4-pio-out", .unit = "ns/exit", .what = "4 vCPUs doing OUT round trips at once (wall time / all exits)", .fn = m_smp },
};
#define NR_METRICS	(sizeof(metrics) / sizeof(metrics[0]))

static struct bench_backend *backends[2] = { &bench_kvm, &bench_kvisor };
static int backend_err[2];

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	double s[MAX_REPS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), cmp_double);
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

static void minmax(double *v, int n, double *lo, double *hi)
{
	int i;

	*lo = *hi = v[0];
	for (i = 1; i < n; i++) {
		if (v[i] < *lo)
			*lo = v[i];
		if (v[i] > *hi)
			*hi = v[i];
	}
}

static const char *fmt(char *buf, double v)
{
	if (v >= 100)
		sprintf(buf, "%.0f", v);
	else if (v >= 10)
		sprintf(buf, "%.1f", v);
	else
		sprintf(buf, "%.2f", v);
	return buf;
}

static void cell(char *out, double *v, int n, bool ok)
{
	char a[32], b[32], c[80];
	double lo, hi;

	if (!ok) {
		sprintf(out, "%8s %-17s", "-", "-");
		return;
	}
	minmax(v, n, &lo, &hi);
	sprintf(c, "%s..", fmt(a, lo));
	strcat(c, fmt(b, hi));
	sprintf(out, "%8s %-17s", fmt(a, median(v, n)), c);
}

void bench_print_header(const char *mode)
{
	char model[128] = "unknown", line[256], date[64], thp[64] = "unknown";
	const char *box = getenv("KVISOR_BOX");
	struct utsname u;
	time_t t = time(NULL);
	FILE *f;

	f = fopen("/proc/cpuinfo", "r");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(model, sizeof(model), "%s", strchr(line, ':') + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	f = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
	if (f) {
		if (fgets(thp, sizeof(thp), f))
			thp[strcspn(thp, "\n")] = '\0';
		fclose(f);
	}
	uname(&u);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", gmtime(&t));
	printf("# kvisor-bench%s%s: box %s, %ld CPUs, kernel %s, %s\n",
	       *mode ? " " : "", mode, box ? box : "-", sysconf(_SC_NPROCESSORS_ONLN),
	       u.release, date);
	printf("# cpu: %s\n", model);
	printf("# transparent hugepages: %s\n", thp);
}

static void print_header(void)
{
	bench_print_header("");
	printf("# %d repetitions; per repetition: %ld exits, %ld loop iterations, %ld MiB touched, %ld start-ups, 4 vCPUs x %ld exits\n",
	       opt.reps, opt.exits, opt.compute, opt.touch_mib, opt.startups,
	       opt.smp_exits);
}

static void print_table(void)
{
	char k[96], v[96], lo[32], hi[32], med[32];
	double ratio[MAX_REPS];
	unsigned int m;
	int i;

	printf("\n%-13s %-8s %8s %-17s %8s %-17s %10s %s\n", "metric", "unit",
	       "KVM", "KVM-min..max", "kvisor", "kvisor-min..max", "kvisor/KVM",
	       "ratio-min..max");
	for (m = 0; m < NR_METRICS; m++) {
		struct metric *x = &metrics[m];
		bool ok0 = !backend_err[0] && !x->err[0];
		bool ok1 = !backend_err[1] && !x->err[1];
		double rlo, rhi;

		cell(k, x->val[0], opt.reps, ok0);
		cell(v, x->val[1], opt.reps, ok1);
		printf("%-13s %-8s %s %s ", x->name, x->unit, k, v);
		if (ok0 && ok1) {
			for (i = 0; i < opt.reps; i++)
				ratio[i] = x->val[1][i] / x->val[0][i];
			minmax(ratio, opt.reps, &rlo, &rhi);
			snprintf(med, sizeof(med), "%.2f", median(ratio, opt.reps));
			snprintf(lo, sizeof(lo), "%.2f", rlo);
			snprintf(hi, sizeof(hi), "%.2f", rhi);
			printf("%10s %s..%s\n", med, lo, hi);
		} else {
			printf("%10s %s\n", "-", "-");
		}
	}
	printf("\n");
	for (m = 0; m < NR_METRICS; m++)
		printf("# %-13s %s\n", metrics[m].name, metrics[m].what);
	printf("# values: median over repetitions; kvisor/KVM: median of the per-repetition ratios\n");
}

static const char *const stat_names[] = {
	"exits", "hlt", "io", "mmio", "hypercall", "cpuid", "msr_read",
	"msr_write", "npf", "external_intr", "nmi", "intr_window",
	"exception", "xsetbv", "cr_access", "shutdown", "signal", "other",
	"hc_kernel", "hc_console_bytes",
};

static void print_stats(void)
{
	unsigned int m, i;

	printf("# kvisor exit counters of the last repetition (all vCPUs of the measured VM):\n");
	for (m = 0; m < NR_METRICS; m++) {
		printf("#   %-13s", metrics[m].name);
		for (i = 0; i < sizeof(stat_names) / sizeof(stat_names[0]); i++)
			if (metrics[m].stats[i])
				printf(" %s=%llu", stat_names[i],
				       (unsigned long long)metrics[m].stats[i]);
		printf("\n");
	}
}

/* Open the device and create one VM: can this backend run at all? */
static void probe(int i)
{
	struct bench_backend *b = backends[i];
	struct bench_vm vm;
	int r;

	r = b->open(b);
	if (r) {
		printf("%s: %s: %s (%s)\n", b->name, b->dev, strerror(-r),
		       errno_name(-r));
		backend_err[i] = r;
		return;
	}
	r = b->vm_create(b, &vm);
	if (r) {
		if (r == -EOPNOTSUPP || r == -ENXIO)
			printf("%s: VM creation not supported on this CPU (%s)\n",
			       b->name, errno_name(-r));
		else
			printf("%s: VM creation failed: %s (%s)\n", b->name,
			       strerror(-r), errno_name(-r));
		backend_err[i] = r;
		return;
	}
	b->vm_destroy(&vm);
}

static const char *volatile current_what = "start-up";

/* A guest or a hypervisor that hangs must not hang the box run. */
static void watchdog(int sig)
{
	static const char msg[] = "kvisor-bench: no progress, giving up in: ";

	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0 ||
	    write(2, current_what, strlen(current_what)) < 0 ||
	    write(2, "\n", 1) < 0)
		_exit(3);
	_exit(3);
}

static void measure(int rep, unsigned int m, int i)
{
	struct metric *x = &metrics[m];
	static char what[64];
	struct ctx c;
	double v;

	if (backend_err[i] || x->err[i] ||
	    (opt.only_metrics && !(opt.only_metrics & (1u << m)))) {
		x->err[i] = x->err[i] ?: ENODATA;
		return;
	}
	snprintf(what, sizeof(what), "%s %s, repetition %d", x->name,
		 backends[i]->name, rep);
	current_what = what;
	memset(&c, 0, sizeof(c));
	alarm(opt.timeout);
	v = x->fn(backends[i], &c);
	alarm(0);
	if (v <= 0) {
		int e = (int)-v;

		fprintf(stderr, "%s: %s failed: %s (%s)\n", backends[i]->name,
			x->name, strerror(e), errno_name(e));
		x->err[i] = e ? e : EIO;
		failed = true;
		return;
	}
	x->val[i][rep] = v;
	if (opt.verbose)
		fprintf(stderr, "# rep %d %-13s %-6s %.1f %s\n", rep, x->name,
			backends[i]->name, v, x->unit);
	if (i == 1)
		memcpy(x->stats, c.stats, sizeof(x->stats));
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: kvisor-bench [-q] [-v] [-r REPS] [-n EXITS] [-c LOOPS] [-m MIB]\n"
		"                    [-s STARTUPS] [-p SMP_EXITS] [-t SECONDS] [-M METRIC]\n"
		"                    [-b kvm|kvisor|both]\n"
		"       kvisor-bench -P [...]   full vs paravirtual (kvisor-bench -P -h)\n"
		"  -q            quick: 1 repetition, tiny counts (a smoke test)\n"
		"  -v            also print kvisor's exit counters per metric\n"
		"  -r REPS       repetitions (default 7, at most %d)\n"
		"  -n EXITS      exits per cpuid/pio-out/mmio-write measurement (5000)\n"
		"  -c LOOPS      compute loop iterations (50000000)\n"
		"  -m MIB        memory touched by mem-touch (256)\n"
		"  -s STARTUPS   VM start-ups per startup measurement (10)\n"
		"  -p SMP_EXITS  exits per vCPU in smp4-pio-out (2000)\n"
		"  -t SECONDS    give up (exit 3) when one measurement takes longer (120)\n"
		"  -M METRIC     measure only this metric (repeatable)\n"
		"  -b WHICH      measure only KVM or only kvisor\n", MAX_REPS);
}

long num_arg(const char *s)
{
	char *end;
	long v = strtol(s, &end, 0);

	if (*s == '\0' || *end != '\0' || v < 1) {
		fprintf(stderr, "kvisor-bench: bad number '%s'\n", s);
		exit(2);
	}
	return v;
}

int main(int argc, char **argv)
{
	int c, rep, i, only = -1;
	unsigned int m, g;

	/* -P first: the full vs paravirtual comparison (pv.c), kvisor only */
	if (argc > 1 && !strcmp(argv[1], "-P")) {
		signal(SIGALRM, watchdog);
		current_what = "kvisor-bench -P";
		return pv_main(argc, argv);
	}

	while ((c = getopt(argc, argv, "qvr:n:c:m:s:p:b:t:M:h")) != -1) {
		switch (c) {
		case 'q':
			opt.reps = 1;
			opt.exits = 50;
			opt.compute = 1000;
			opt.touch_mib = 4;
			opt.startups = 2;
			opt.smp_exits = 20;
			break;
		case 'v':
			opt.verbose = true;
			break;
		case 'r':
			opt.reps = num_arg(optarg);
			break;
		case 'n':
			opt.exits = num_arg(optarg);
			break;
		case 'c':
			opt.compute = num_arg(optarg);
			break;
		case 'm':
			opt.touch_mib = num_arg(optarg);
			break;
		case 's':
			opt.startups = num_arg(optarg);
			break;
		case 'p':
			opt.smp_exits = num_arg(optarg);
			break;
		case 'M':
			for (m = 0; m < NR_METRICS; m++)
				if (!strcmp(optarg, metrics[m].name))
					break;
			if (m == NR_METRICS)
				goto bad;
			opt.only_metrics |= 1u << m;
			break;
		case 't':
			opt.timeout = num_arg(optarg);
			break;
		case 'b':
			if (!strcmp(optarg, "kvm"))
				only = 0;
			else if (!strcmp(optarg, "kvisor"))
				only = 1;
			else if (strcmp(optarg, "both"))
				goto bad;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			goto bad;
		}
	}
	if (optind != argc || opt.reps > MAX_REPS || opt.touch_mib > 2048 ||
	    opt.exits > 0x7fffffff || opt.compute > 0x7fffffff ||
	    opt.smp_exits > 0x7fffffff)
		goto bad;

	low_mem = mmap(NULL, LOW_SIZE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (low_mem == MAP_FAILED) {
		perror("kvisor-bench: mmap");
		return 2;
	}
	for (g = 0; g < G_NR; g++)
		memcpy(low_mem + GUEST_RIP(g), guests[g].start,
		       guests[g].end - guests[g].start);

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGALRM, watchdog);
	print_header();
	for (i = 0; i < 2; i++) {
		if (only >= 0 && i != only) {
			printf("%s: not measured (-b)\n", backends[i]->name);
			backend_err[i] = -ECANCELED;
		} else {
			probe(i);
		}
	}
	for (rep = 0; rep < opt.reps; rep++)
		for (m = 0; m < NR_METRICS; m++) {
			/* Alternate who goes first. */
			measure(rep, m, rep % 2);
			measure(rep, m, !(rep % 2));
		}
	print_table();
	if (opt.verbose && !backend_err[1])
		print_stats();
	return failed ? 1 : 0;
bad:
	usage(stderr);
	return 2;
}
