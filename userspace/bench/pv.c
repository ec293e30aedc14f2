// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor-bench -P: full virtualization against paravirtualization, on
 * kvisor alone (Documentation/performance.rst, Documentation/
 * hypercalls.rst).
 *
 * The same guest work is done both ways:
 *   text   64 KiB of text printed through the emulated 16550A UART (the
 *          kvisor tool's device model: poll LSR, write THR -- two port
 *          I/O exits per byte) and through the console hypercall (one
 *          exit per KVISOR_HC_CONSOLE_MAX bytes);
 *   ops    100 000 port reads (IN from the UART's LSR, each answered by
 *          userspace) and 100 000 no-op hypercalls (answered in the
 *          kernel), with the CPU's own hypercall instruction and with the
 *          foreign one (through the #UD intercept).
 * Both text runs go to a memfd, compared with the text afterwards.  Exits
 * are KVISOR_STAT_EXITS of the vCPU across the timed run; time is
 * CLOCK_MONOTONIC around it, the median of the repetitions.  Every
 * measurement has its own VM, run once on a small count first.
 *
 * Guests: 32-bit flat protected mode, no paging, like bench.c's.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <linux/kvisor.h>
#include <linux/kvisor_para.h>

#include "bench.h"
#include "libkvisor.h"
#include "tool.h"

#define PV_MEM		0x100000ull
#define PV_CODE		0x1000ull
#define PV_TEXT		0x10000ull
#define PV_TEXT_MAX	0x20000ull	/* 128 KiB */
#define PV_MAX_REPS	16

/* Parameters: ESI the text or nothing, ECX/EDI a count, see each guest. */
#define PV_GUEST(name, text)						\
	extern const uint8_t name[], name##_end[];			\
	asm(".pushsection .rodata.guest, \"a\"\n"			\
	    ".balign 16\n"						\
	    ".globl " #name "\n" #name ":\n"				\
	    ".code32\n.intel_syntax noprefix\n"				\
	    text "\n"							\
	    ".att_syntax prefix\n.code64\n"				\
	    ".globl " #name "_end\n" #name "_end:\n"			\
	    ".popsection\n")

/* ECX bytes at ESI through COM1, polling LSR.THRE first, as a driver does. */
PV_GUEST(pv_uart,
	"1: mov dx, 0x3fd\n"
	"2: in al, dx\n"
	"test al, 0x20\n"
	"jz 2b\n"
	"mov dx, 0x3f8\n"
	"mov al, [esi]\n"
	"out dx, al\n"
	"inc esi\n"
	"dec ecx\n"
	"jnz 1b\n"
	"hlt\n");

/* EDI bytes at ESI through the console hypercall, in calls of 2048. */
#define PV_CONSOLE(insn)						\
	"1: mov ecx, edi\n"						\
	"cmp ecx, 2048\n"						\
	"jbe 2f\n"							\
	"mov ecx, 2048\n"						\
	"2: mov eax, 1\n"						\
	"mov ebx, esi\n"						\
	insn "\n"							\
	"test eax, eax\n"						\
	"jle 3f\n"							\
	"add esi, eax\n"						\
	"sub edi, eax\n"						\
	"jnz 1b\n"							\
	"3: hlt\n"
PV_GUEST(pv_console_vmmcall, PV_CONSOLE("vmmcall"));
PV_GUEST(pv_console_vmcall, PV_CONSOLE("vmcall"));

/* ECX reads of LSR. */
PV_GUEST(pv_pio_read,
	"mov dx, 0x3fd\n"
	"1: in al, dx\n"
	"dec ecx\n"
	"jnz 1b\n"
	"hlt\n");

/* ECX no-op hypercalls; stops early (ECX != 0) on a nonzero result. */
#define PV_NOP(insn)							\
	"1: xor eax, eax\n"						\
	insn "\n"							\
	"test eax, eax\n"						\
	"jnz 2f\n"							\
	"dec ecx\n"							\
	"jnz 1b\n"							\
	"2: hlt\n"
PV_GUEST(pv_nop_vmmcall, PV_NOP("vmmcall"));
PV_GUEST(pv_nop_vmcall, PV_NOP("vmcall"));

enum { W_UART, W_CONSOLE, W_PIO, W_NOP, W_NOP_FOREIGN, W_NR };

struct pv_row {
	const char *work, *way, *what;
	bool text;			/* ops are bytes */
	const uint8_t *code, *code_end;
	double ns[PV_MAX_REPS];
	uint64_t exits, stats[KVISOR_STAT_NR];
	int err;
};

static struct pv_row rows[W_NR] = {
	[W_UART] = { "text", "uart", "text through the emulated UART (IN LSR + OUT THR per byte)", true,
		     pv_uart, pv_uart_end },
	[W_CONSOLE] = { "text", "pv-console", "text through the console hypercall, 2048 bytes a call",
			true },
	[W_PIO] = { "ops", "port-read", "IN from the UART's LSR, answered by userspace", false,
		    pv_pio_read, pv_pio_read_end },
	[W_NOP] = { "ops", "hc-nop", "no-op hypercall, the CPU's own instruction", false },
	[W_NOP_FOREIGN] = { "ops", "hc-nop-foreign",
			    "no-op hypercall, the other vendor's instruction (#UD intercept)",
			    false },
};

static struct {
	int reps;
	long text, ops, timeout;
	bool verbose;
} pv = { .reps = 5, .text = 65536, .ops = 100000, .timeout = 300 };

static uint8_t *pv_mem;
static uint8_t *pv_text;
static bool pv_failed;

static double pv_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* The text: numbered lines of printable ASCII, cut to @len bytes. */
static void pv_make_text(long len)
{
	long off = 0, line = 0;
	char buf[96];
	int n;

	while (off < len) {
		n = snprintf(buf, sizeof(buf),
			     "kvisor-bench -P line %05ld: the quick brown fox jumps over the lazy dog\n",
			     line++);
		if (n > len - off)
			n = len - off;
		memcpy(pv_text + off, buf, n);
		off += n;
	}
}

struct pv_vm {
	struct bench_vm vm;
	struct bench_vcpu v;
	struct pio_bus bus;
	struct uart uart;
	int out_fd;			/* memfd: what the guest printed */
};

static int pv_open(struct pv_vm *p)
{
	int r;

	memset(p, 0, sizeof(*p));
	p->out_fd = memfd_create("kvisor-bench-pv", MFD_CLOEXEC);
	if (p->out_fd < 0)
		return -errno;
	r = bench_kvisor.vm_create(&bench_kvisor, &p->vm);
	if (r)
		goto out_fd;
	r = bench_kvisor.vm_add_mem(&p->vm, 0, 0, PV_MEM, pv_mem);
	if (!r)
		r = bench_kvisor.vcpu_create(&bench_kvisor, &p->vm, &p->v, 0);
	if (r)
		goto out_vm;
	uart_init(&p->uart, -1, p->out_fd);
	pio_register(&p->bus, &p->uart.dev);
	return 0;
out_vm:
	bench_kvisor.vm_destroy(&p->vm);
out_fd:
	close(p->out_fd);
	return r;
}

static void pv_close(struct pv_vm *p)
{
	bench_kvisor.vcpu_destroy(&p->v);
	bench_kvisor.vm_destroy(&p->vm);
	close(p->out_fd);
}

/*
 * Run to HLT, answering port I/O with the UART and console writes with
 * a write(2) to the memfd.  0 or -errno (-EPROTO: an unexpected exit).
 */
static int pv_run(struct pv_vm *p)
{
	struct kvisor_run *run = p->v.run;
	uint8_t *data;
	uint32_t val, i;

	for (;;) {
		if (ioctl(p->v.fd, KVISOR_RUN, 0)) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		switch (run->exit_reason) {
		case KVISOR_EXIT_HLT:
			return 0;
		case KVISOR_EXIT_IO:
			data = (uint8_t *)run + run->io.data_offset;
			for (i = 0; i < run->io.count; i++, data += run->io.size) {
				if (run->io.direction == KVISOR_EXIT_IO_OUT) {
					val = 0;
					memcpy(&val, data, run->io.size);
					pio_out(&p->bus, run->io.port, run->io.size, val);
				} else {
					val = pio_in(&p->bus, run->io.port, run->io.size);
					memcpy(data, &val, run->io.size);
				}
			}
			break;
		case KVISOR_EXIT_HYPERCALL:
			if (run->hypercall.nr != KVISOR_HC_CONSOLE_WRITE)
				goto bad;
			data = (uint8_t *)run + run->hypercall.data_offset;
			if (write(p->out_fd, data, run->hypercall.data_len) !=
			    (ssize_t)run->hypercall.data_len)
				return -EIO;
			break;
		case KVISOR_EXIT_INTR:
			break;
		default:
			goto bad;
		}
	}
bad:
	fprintf(stderr, "kvisor-bench -P: unexpected exit %u\n", run->exit_reason);
	return -EPROTO;
}

static int pv_setup(struct pv_vm *p, const uint8_t *code, const uint8_t *end,
		    long count)
{
	struct bench_regs r = {
		.rip = PV_CODE,
		.rsi = PV_TEXT,
		.rcx = count,
		.rdi = count,
	};

	memcpy(pv_mem + PV_CODE, code, end - code);
	return bench_kvisor.vcpu_setup(&p->v, &r);
}

/* What the guest printed must be the text's first @len bytes. */
static int pv_check_output(struct pv_vm *p, long len)
{
	uint8_t *got = malloc(len + 1);
	ssize_t n;
	int r = 0;

	if (!got)
		return -ENOMEM;
	n = pread(p->out_fd, got, len + 1, 0);
	if (n != len || memcmp(got, pv_text, len)) {
		fprintf(stderr, "kvisor-bench -P: the guest printed %zd bytes, not the %ld of the text\n",
			n, len);
		r = -EPROTO;
	}
	free(got);
	return r;
}

/* One measurement of row @w: ns per op (> 0), or -errno. */
static double pv_measure(int w, int rep)
{
	struct pv_row *x = &rows[w];
	struct kvisor_vcpu_stats s0, s1;
	long n = x->text ? pv.text : pv.ops;
	struct kvisor_regs regs;
	double t0, t1;
	struct pv_vm p;
	int r, i;

	r = pv_open(&p);
	if (r)
		return r;
	/* warm-up: the code and text pages mapped, the vCPU entered */
	r = pv_setup(&p, x->code, x->code_end, 16);
	if (!r)
		r = pv_run(&p);
	if (!r && (ftruncate(p.out_fd, 0) || lseek(p.out_fd, 0, SEEK_SET)))
		r = -errno;
	if (!r)
		r = pv_setup(&p, x->code, x->code_end, n);
	if (!r && ioctl(p.v.fd, KVISOR_GET_STATS, &s0))
		r = -errno;
	if (r)
		goto out;
	t0 = pv_now();
	r = pv_run(&p);
	t1 = pv_now();
	if (!r && ioctl(p.v.fd, KVISOR_GET_STATS, &s1))
		r = -errno;
	if (!r && ioctl(p.v.fd, KVISOR_GET_REGS, &regs))
		r = -errno;
	if (r)
		goto out;
	/* the guest went all the way: count (ECX/EDI) down to 0 */
	if ((x->code == pv_console_vmmcall || x->code == pv_console_vmcall) ?
	    (uint32_t)regs.rdi : (uint32_t)regs.rcx) {
		fprintf(stderr, "kvisor-bench -P: %s %s stopped early (eax %#x)\n",
			x->work, x->way, (uint32_t)regs.rax);
		r = -EPROTO;
		goto out;
	}
	if (x->text)
		r = pv_check_output(&p, n);
	if (r)
		goto out;
	x->exits = s1.counters[KVISOR_STAT_EXITS] - s0.counters[KVISOR_STAT_EXITS];
	for (i = 0; i < KVISOR_STAT_NR; i++)
		x->stats[i] = s1.counters[i] - s0.counters[i];
	x->ns[rep] = t1 - t0;
	if (pv.verbose)
		fprintf(stderr, "# rep %d %-5s %-15s %8llu exits %10.1f ms\n", rep, x->work,
			x->way, (unsigned long long)x->exits, (t1 - t0) / 1e6);
out:
	pv_close(&p);
	return r ? r : (t1 - t0) / n;
}

static int pv_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pv_median(const double *v, int n, double *lo, double *hi)
{
	double s[PV_MAX_REPS];

	memcpy(s, v, n * sizeof(*v));
	qsort(s, n, sizeof(*s), pv_cmp);
	*lo = s[0];
	*hi = s[n - 1];
	return n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
}

/*
 * The table.  ratio: the full-virtualization row of the same work (uart,
 * port-read) divided by this row, for exits and for time.
 */
static void pv_table(void)
{
	double ms[W_NR], lo, hi;
	char range[64], epb[32], rx[32], rt[32];
	int w, base;

	printf("\n%-5s %-15s %8s %9s %10s %9s %-19s %9s %9s\n", "work", "way", "ops",
	       "exits", "exits/op", "time-ms", "time-min..max", "exits-x", "time-x");
	for (w = 0; w < W_NR; w++) {
		struct pv_row *x = &rows[w];
		long n = x->text ? pv.text : pv.ops;

		base = x->text ? W_UART : W_PIO;
		if (x->err) {
			printf("%-5s %-15s %8ld %9s %10s %9s %-19s %9s %9s\n", x->work,
			       x->way, n, "-", "-", "-", "-", "-", "-");
			continue;
		}
		ms[w] = pv_median(x->ns, pv.reps, &lo, &hi) / 1e6;
		snprintf(range, sizeof(range), "%.1f..%.1f", lo / 1e6, hi / 1e6);
		snprintf(epb, sizeof(epb), "%.4f", (double)x->exits / n);
		if (!rows[base].err && x->exits) {
			snprintf(rx, sizeof(rx), "%.1f", (double)rows[base].exits / x->exits);
			snprintf(rt, sizeof(rt), "%.2f", ms[base] / ms[w]);
		} else {
			snprintf(rx, sizeof(rx), "-");
			snprintf(rt, sizeof(rt), "-");
		}
		printf("%-5s %-15s %8ld %9llu %10s %9.1f %-19s %9s %9s\n", x->work, x->way,
		       n, (unsigned long long)x->exits, epb, ms[w], range, rx, rt);
	}
	printf("\n");
	for (w = 0; w < W_NR; w++)
		printf("# %-15s %s\n", rows[w].way, rows[w].what);
	printf("# ops: bytes for text, operations for ops; exits: KVISOR_STAT_EXITS of the timed run\n");
	printf("# (last repetition); exits/op: per byte for text; time: median of the repetitions;\n");
	printf("# exits-x, time-x: uart (text) or port-read (ops) divided by this row\n");
	if (pv.verbose) {
		printf("# kvisor exit counters of the last repetition:\n");
		for (w = 0; w < W_NR; w++) {
			int i;

			printf("#   %-15s", rows[w].way);
			for (i = 0; i < KVISOR_STAT_NR; i++)
				if (rows[w].stats[i])
					printf(" %s=%llu", kvisor_stat_name(i),
					       (unsigned long long)rows[w].stats[i]);
			printf("\n");
		}
	}
}

static void pv_usage(FILE *f)
{
	fprintf(f,
		"usage: kvisor-bench -P [-q] [-v] [-r REPS] [-T BYTES] [-n OPS] [-t SECONDS]\n"
		"  full virtualization vs paravirtualization on kvisor\n"
		"  -q            quick: 1 repetition, 4 KiB of text, 1000 ops\n"
		"  -v            per-run lines and kvisor's exit counters\n"
		"  -r REPS       repetitions (default 5, at most %d)\n"
		"  -T BYTES      text size (default 65536, at most %llu)\n"
		"  -n OPS        port reads and no-op hypercalls (default 100000)\n"
		"  -t SECONDS    give up (exit 3) when one measurement takes longer (300)\n",
		PV_MAX_REPS, PV_TEXT_MAX);
}

int pv_main(int argc, char **argv)
{
	bool amd;
	uint32_t ebx;
	int c, w, rep;

	optind = 1;
	while ((c = getopt(argc, argv, "Pqvr:T:n:t:h")) != -1) {
		switch (c) {
		case 'P':
			break;
		case 'q':
			pv.reps = 1;
			pv.text = 4096;
			pv.ops = 1000;
			break;
		case 'v':
			pv.verbose = true;
			break;
		case 'r':
			pv.reps = num_arg(optarg);
			break;
		case 'T':
			pv.text = num_arg(optarg);
			break;
		case 'n':
			pv.ops = num_arg(optarg);
			break;
		case 't':
			pv.timeout = num_arg(optarg);
			break;
		case 'h':
			pv_usage(stdout);
			return 0;
		default:
			pv_usage(stderr);
			return 2;
		}
	}
	if (optind != argc || pv.reps < 1 || pv.reps > PV_MAX_REPS || pv.text < 1 ||
	    pv.text > (long)PV_TEXT_MAX || pv.ops < 1 || pv.ops > 0x7fffffff ||
	    pv.timeout < 1) {
		pv_usage(stderr);
		return 2;
	}

	/* the CPU's own instruction: VMMCALL on AMD/Hygon, VMCALL on Intel */
	asm volatile("cpuid" : "=b"(ebx) : "a"(0), "c"(0) : "edx");
	amd = ebx == 0x68747541 || ebx == 0x6f677948;
	rows[W_CONSOLE].code = amd ? pv_console_vmmcall : pv_console_vmcall;
	rows[W_CONSOLE].code_end = amd ? pv_console_vmmcall_end : pv_console_vmcall_end;
	rows[W_NOP].code = amd ? pv_nop_vmmcall : pv_nop_vmcall;
	rows[W_NOP].code_end = amd ? pv_nop_vmmcall_end : pv_nop_vmcall_end;
	rows[W_NOP_FOREIGN].code = amd ? pv_nop_vmcall : pv_nop_vmmcall;
	rows[W_NOP_FOREIGN].code_end = amd ? pv_nop_vmcall_end : pv_nop_vmmcall_end;
	rows[W_NOP].way = amd ? "hc-nop-vmmcall" : "hc-nop-vmcall";
	rows[W_NOP_FOREIGN].way = amd ? "hc-nop-vmcall" : "hc-nop-vmmcall";

	pv_mem = mmap(NULL, PV_MEM, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (pv_mem == MAP_FAILED) {
		perror("kvisor-bench: mmap");
		return 2;
	}
	pv_text = pv_mem + PV_TEXT;
	pv_make_text(pv.text);

	setvbuf(stdout, NULL, _IOLBF, 0);
	bench_print_header("-P");
	printf("# %d repetitions; text %ld bytes, %ld ops; %s\n", pv.reps, pv.text,
	       pv.ops, amd ? "AMD: VMMCALL native, VMCALL foreign" :
	       "Intel: VMCALL native, VMMCALL foreign");
	/* no kvisor here (the none box): say so, and print an empty table */
	c = bench_kvisor.open(&bench_kvisor);
	if (c) {
		printf("kvisor: %s: %s\n", bench_kvisor.dev, strerror(-c));
		for (w = 0; w < W_NR; w++)
			rows[w].err = -c;
	}
	for (rep = 0; rep < pv.reps; rep++)
		for (w = 0; w < W_NR; w++) {
			double r;

			if (rows[w].err)
				continue;
			alarm(pv.timeout);
			r = pv_measure(w, rep);
			alarm(0);
			if (r < 0) {
				int e = (int)-r;

				if (e == EOPNOTSUPP || e == ENXIO) {
					/* VT-x for now: no row can run */
					printf("kvisor: VM creation not supported on this CPU (%s)\n",
					       strerror(e));
					for (c = 0; c < W_NR; c++)
						rows[c].err = e;
					continue;
				}
				fprintf(stderr, "kvisor-bench -P: %s %s: %s\n",
					rows[w].work, rows[w].way, strerror(e));
				rows[w].err = e;
				pv_failed = true;
			}
		}
	pv_table();
	return pv_failed ? 1 : 0;
}
