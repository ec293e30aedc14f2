// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor tool: create the VM, set the vCPU up as struct boot says, and
 * run it, handling exits: port I/O through the bus to the devices, MMIO
 * (no MMIO devices: reads return all ones, writes are ignored; both
 * counted), hypercalls (console write to stdout, exit with a status; the
 * VMM range: ret = -ENOSYS), HLT (the guest is done:
 * status 0 with IF=0, EXIT_IDLE with IF=1), shutdown (triple fault),
 * entry failure and internal errors.
 *
 * A Linux guest (b->is_linux) runs in a VM with the module's in-kernel
 * irqchip (LAPICs, IOAPIC, PIC, PIT), one host thread per vCPU: vCPU 0
 * starts at the kernel's entry, the others wait for the guest's
 * INIT-SIPI-SIPI (KVISOR_MP_STATE_WAIT_SIPI).  The devices are shared by
 * the vCPU threads and the input thread under one lock; the UART raises
 * IRQ 4 with KVISOR_IRQ_LINE.  Whoever ends the run (a device, a vCPU, a
 * signal, Ctrl-A x) records it in struct vm_end and kicks every vCPU
 * out of KVISOR_RUN (immediate_exit and SIGUSR1).
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvisor_para.h>

#include "libkvisor.h"
#include "tool.h"

#define X86_CR0_PE	(1ull << 0)
#define X86_CR0_MP	(1ull << 1)
#define X86_CR0_ET	(1ull << 4)
#define X86_CR0_NE	(1ull << 5)
#define X86_CR0_WP	(1ull << 16)
#define X86_CR0_PG	(1ull << 31)
#define X86_CR4_PAE	(1ull << 5)
#define X86_CR4_OSFXSR	(1ull << 9)
#define X86_CR4_OSXMMEXCPT (1ull << 10)
#define EFER_LME	(1ull << 8)
#define EFER_LMA	(1ull << 10)
#define X86_RFLAGS_IF	(1ull << 9)

/* The tool's own counts, for --stats. */
struct tool_stats {
	uint64_t exits[KVISOR_EXIT_IRQ_WINDOW_OPEN + 2];	/* last: other */
	uint64_t mmio_reads, mmio_writes, hypercalls, eintr;
	uint64_t console_calls, console_bytes;
	uint64_t guest_ns, tool_ns;
};

struct vm;

struct vcpu {
	struct vm *v;
	unsigned int id;
	int fd;
	struct kvisor_run *run;
	pthread_t thread;
	bool started;
	bool halted;			/* Linux: told HLT with IF=0, no exit since */
	struct tool_stats st;
};

struct vm {
	const struct run_opts *o;
	const struct boot *b;
	struct guest *g;
	int sys, vm;
	unsigned int nr_vcpus;
	struct vcpu vcpus[MAX_VCPUS];
	pthread_mutex_t lock;		/* the devices */
	struct vm_end end;
	pthread_t main_thread;
	unsigned int halted;		/* Linux: vCPUs parked in HLT, IF=0 */
	struct pio_bus bus;
	struct uart uart;
	struct debug_exit dexit;
	struct fw_cfg fwcfg;
	struct rtc rtc;
	struct pci_conf1 pci;
	struct i8042 kbc;
	struct acpi_pm pm;
	struct pvpanic pvpanic;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static int fail(const char *what, int err, int status)
{
	fprintf(stderr, "kvisor: %s\n", kvisor_strerror(what, err));
	return status;
}

static struct kvisor_segment seg(uint64_t base, uint32_t limit, uint16_t sel,
				 uint8_t type, bool db, bool l, bool g)
{
	return (struct kvisor_segment) {
		.base = base, .limit = limit, .selector = sel, .type = type,
		.present = 1, .dpl = 0, .db = db, .s = 1, .l = l, .g = g,
	};
}

static int setup_vcpu(struct vcpu *c, const struct boot *b)
{
	struct kvisor_sregs s;
	struct kvisor_regs regs = {
		.rip = b->entry, .rflags = 0x2,
		.rax = b->rax, .rbx = b->rbx, .rdx = b->rdx, .rsp = b->rsp,
		.rsi = b->rsi,
	};
	struct kvisor_segment data;
	int r;

	r = kvisor_get_sregs(c->fd, &s);
	if (r)
		return fail("KVISOR_GET_SREGS", r, EXIT_RUNTIME);

	switch (b->mode) {
	case MODE_REAL: {
		uint16_t cs = b->entry < 0x10000 ? 0 : (b->entry >> 4) & 0xf000;

		s.cs = seg((uint64_t)cs << 4, 0xffff, cs, 0xb, 0, 0, 0);
		data = seg(0, 0xffff, 0, 0x3, 0, 0, 0);
		regs.rip = b->entry - ((uint64_t)cs << 4);
		s.cr0 = X86_CR0_ET;
		s.cr4 = 0;
		s.efer = 0;
		s.idt.base = 0;
		s.idt.limit = 0x3ff;
		break;
	}
	case MODE_PROTECTED:
		s.cs = seg(0, 0xffffffff, GDT_CODE32, 0xb, 1, 0, 1);
		data = seg(0, 0xffffffff, GDT_DATA, 0x3, 1, 0, 1);
		s.cr0 = X86_CR0_PE | X86_CR0_ET;
		s.cr4 = 0;
		s.efer = 0;
		break;
	default:
		s.cs = seg(0, 0xffffffff, b->cs_sel ? b->cs_sel : GDT_CODE64,
			   0xb, 0, 1, 1);
		data = seg(0, 0xffffffff, b->ds_sel ? b->ds_sel : GDT_DATA,
			   0x3, 1, 0, 1);
		s.cr0 = X86_CR0_PE | X86_CR0_MP | X86_CR0_ET | X86_CR0_NE |
			X86_CR0_WP | X86_CR0_PG;
		s.cr3 = BOOT_PML4;
		s.cr4 = X86_CR4_PAE | X86_CR4_OSFXSR | X86_CR4_OSXMMEXCPT;
		s.efer = EFER_LME | EFER_LMA;
		break;
	}
	if (b->mode != MODE_REAL) {
		s.gdt.base = BOOT_GDT;
		s.gdt.limit = 4 * 8 - 1;
		s.idt.base = 0;
		s.idt.limit = 0;	/* undefined for the guest: faults */
	}
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	/* a busy TSS, as VM entry wants in every mode */
	s.tr = (struct kvisor_segment) {
		.limit = 0xffff, .type = 0xb, .present = 1,
	};
	r = kvisor_set_sregs(c->fd, &s);
	if (r)
		return fail("KVISOR_SET_SREGS", r, EXIT_RUNTIME);
	r = kvisor_set_regs(c->fd, &regs);
	if (r)
		return fail("KVISOR_SET_REGS", r, EXIT_RUNTIME);
	return 0;
}

/*
 * A Linux guest's CPUID: the module's default table, with LA57 (5-level
 * paging, CPUID.(7,0):ECX[16]) hidden -- the decompressor would otherwise
 * switch paging modes through its 32-bit trampoline -- and the number of
 * logical processors (CPUID.1:EBX[23:16]) set to the vCPU count.
 */
static int setup_linux_cpuid(struct vcpu *c)
{
	struct kvisor_cpuid_entry e[KVISOR_MAX_CPUID_ENTRIES];
	unsigned int i, n = KVISOR_MAX_CPUID_ENTRIES;
	int r;

	r = kvisor_get_cpuid(c->fd, e, &n);
	if (r)
		return fail("KVISOR_GET_CPUID", r, EXIT_RUNTIME);
	for (i = 0; i < n; i++) {
		if (e[i].function == 7 && e[i].index == 0)
			e[i].ecx &= ~(1u << 16);
		if (e[i].function == 1)
			e[i].ebx = (e[i].ebx & 0xff00ffff) |
				   (c->v->nr_vcpus & 0xff) << 16;
	}
	r = kvisor_set_cpuid(c->fd, e, n);
	if (r)
		return fail("KVISOR_SET_CPUID", r, EXIT_RUNTIME);
	return 0;
}

static void dump_seg(const char *name, const struct kvisor_segment *s)
{
	fprintf(stderr,
		"%-3s %04x base %016" PRIx64 " limit %08x type %x p %u dpl %u db %u s %u l %u g %u%s\n",
		name, s->selector, (uint64_t)s->base, s->limit, s->type,
		s->present, s->dpl, s->db, s->s, s->l, s->g,
		s->unusable ? " unusable" : "");
}

static void dump_regs(struct vcpu *c)
{
	struct kvisor_sregs s;
	struct kvisor_regs r;

	if (c->v->nr_vcpus > 1)
		fprintf(stderr, "vCPU %u:\n", c->id);
	if (kvisor_get_regs(c->fd, &r)) {
		fprintf(stderr, "kvisor: (cannot read the registers)\n");
		return;
	}
	fprintf(stderr,
		"rax %016llx rbx %016llx rcx %016llx rdx %016llx\n"
		"rsi %016llx rdi %016llx rsp %016llx rbp %016llx\n"
		"r8  %016llx r9  %016llx r10 %016llx r11 %016llx\n"
		"r12 %016llx r13 %016llx r14 %016llx r15 %016llx\n"
		"rip %016llx rflags %08llx\n",
		r.rax, r.rbx, r.rcx, r.rdx, r.rsi, r.rdi, r.rsp, r.rbp,
		r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15,
		r.rip, r.rflags);
	if (kvisor_get_sregs(c->fd, &s))
		return;
	dump_seg("cs", &s.cs);
	dump_seg("ds", &s.ds);
	dump_seg("es", &s.es);
	dump_seg("fs", &s.fs);
	dump_seg("gs", &s.gs);
	dump_seg("ss", &s.ss);
	dump_seg("tr", &s.tr);
	dump_seg("ldt", &s.ldt);
	fprintf(stderr,
		"gdt %016llx/%04x idt %016llx/%04x\n"
		"cr0 %016llx cr2 %016llx cr3 %016llx cr4 %016llx\n"
		"cr8 %016llx efer %016llx apic_base %016llx\n",
		s.gdt.base, s.gdt.limit, s.idt.base, s.idt.limit,
		s.cr0, s.cr2, s.cr3, s.cr4, s.cr8, s.efer, s.apic_base);
}

static void handle_io(struct vcpu *c)
{
	struct vm *v = c->v;
	struct kvisor_run *run = c->run;
	uint8_t *p = kvisor_io_data(run);
	unsigned int i, size = run->io.size;
	uint32_t val;

	pthread_mutex_lock(&v->lock);
	for (i = 0; i < run->io.count; i++, p += size) {
		if (run->io.direction == KVISOR_EXIT_IO_OUT) {
			val = 0;
			memcpy(&val, p, size);
			pio_out(&v->bus, run->io.port, size, val);
			if (v->dexit.fired)
				break;
		} else {
			val = pio_in(&v->bus, run->io.port, size);
			memcpy(p, &val, size);
		}
	}
	pthread_mutex_unlock(&v->lock);
}

static void handle_mmio(struct vcpu *c)
{
	struct kvisor_run *run = c->run;

	if (run->mmio.is_write) {
		c->st.mmio_writes++;
	} else {
		c->st.mmio_reads++;
		memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
	}
}

/*
 * KVISOR_EXIT_HYPERCALL: the module has checked and copied a console
 * write's bytes into the run page.  -1 to go on, or the exit status.
 */
static int handle_hypercall(struct vcpu *c)
{
	struct kvisor_run *run = c->run;
	const uint8_t *p = (const uint8_t *)run + run->hypercall.data_offset;
	size_t len = run->hypercall.data_len;
	ssize_t n;

	c->st.hypercalls++;
	switch (run->hypercall.nr) {
	case KVISOR_HC_CONSOLE_WRITE:
		c->st.console_calls++;
		c->st.console_bytes += len;
		while (len) {
			n = write(STDOUT_FILENO, p, len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;	/* stdout gone: the guest still goes on */
			p += n;
			len -= n;
		}
		/* ret: the length, as the module preset it */
		return -1;
	case KVISOR_HC_EXIT:
		return (int)(((run->hypercall.args[0] << 1) | 1) & 0xff);
	default:
		run->hypercall.ret = (uint64_t)-ENOSYS;
		return -1;
	}
}

static double secs(uint64_t ns)
{
	return ns / 1e9;
}

static void print_stats(struct vm *v)
{
	struct kvisor_vcpu_stats ks, sum = { 0 };
	struct tool_stats st = { 0 };
	uint64_t total_ns, exits = 0;
	unsigned int i, j;
	int r = 0;

	for (j = 0; j < v->nr_vcpus; j++) {
		const struct tool_stats *t = &v->vcpus[j].st;

		if (v->vcpus[j].fd < 0)
			continue;
		r = kvisor_get_stats(v->vcpus[j].fd, &ks);
		if (r)
			break;
		for (i = 0; i < KVISOR_STAT_NR; i++)
			sum.counters[i] += ks.counters[i];
		for (i = 0; i < sizeof(st.exits) / sizeof(st.exits[0]); i++)
			st.exits[i] += t->exits[i];
		st.mmio_reads += t->mmio_reads;
		st.mmio_writes += t->mmio_writes;
		st.hypercalls += t->hypercalls;
		st.console_calls += t->console_calls;
		st.console_bytes += t->console_bytes;
		st.guest_ns += t->guest_ns;
		st.tool_ns += t->tool_ns;
	}
	total_ns = st.guest_ns + st.tool_ns;
	fprintf(stderr, "--- kvisor stats ---\n");
	if (v->nr_vcpus > 1)
		fprintf(stderr, "vCPUs: %u (counts and times summed over them)\n",
			v->nr_vcpus);
	if (r) {
		fprintf(stderr, "kvisor: %s\n",
			kvisor_strerror("KVISOR_GET_STATS", r));
	} else {
		exits = sum.counters[KVISOR_STAT_EXITS];
		fprintf(stderr, "exits by reason (module, all exits):\n");
		for (i = 0; i < KVISOR_STAT_NR; i++)
			if (sum.counters[i] || i == KVISOR_STAT_EXITS)
				fprintf(stderr, "  %-16s %" PRIu64 "\n",
					kvisor_stat_name(i),
					(uint64_t)sum.counters[i]);
	}
	fprintf(stderr, "exits to the tool, by reason:\n");
	for (i = 0; i < sizeof(st.exits) / sizeof(st.exits[0]); i++)
		if (st.exits[i])
			fprintf(stderr, "  %-16s %" PRIu64 "\n",
				i <= KVISOR_EXIT_IRQ_WINDOW_OPEN ?
				kvisor_exit_reason_name(i) : "other",
				st.exits[i]);
	fprintf(stderr, "port I/O by device:\n");
	for (i = 0; i < v->bus.nr_devs; i++)
		fprintf(stderr, "  %-16s %" PRIu64 " in, %" PRIu64 " out\n",
			v->bus.devs[i]->name, v->bus.devs[i]->reads,
			v->bus.devs[i]->writes);
	fprintf(stderr, "  %-16s %" PRIu64 " in, %" PRIu64 " out\n",
		"unassigned", v->bus.unassigned_reads,
		v->bus.unassigned_writes);
	fprintf(stderr, "mmio (no devices): %" PRIu64 " reads, %" PRIu64 " writes\n",
		st.mmio_reads, st.mmio_writes);
	if (st.hypercalls)
		fprintf(stderr, "hypercalls to the tool: %" PRIu64 ", console writes %" PRIu64
			" (%" PRIu64 " bytes)\n", st.hypercalls,
			st.console_calls, st.console_bytes);
	fprintf(stderr, "uart: %" PRIu64 " bytes out, %" PRIu64 " bytes in\n",
		v->uart.tx_bytes, v->uart.rx_bytes);
	fprintf(stderr, "time: %.6f s, in guest %.6f s (%.1f%%), in kvisor %.6f s\n",
		secs(total_ns), secs(st.guest_ns),
		total_ns ? 100.0 * st.guest_ns / total_ns : 0.0,
		secs(st.tool_ns));
	fprintf(stderr, "exits per second: %.0f\n",
		total_ns ? exits / secs(total_ns / v->nr_vcpus) : 0.0);
}

static bool ended(struct vm *v)
{
	return __atomic_load_n(&v->end.status, __ATOMIC_SEQ_CST) >= 0;
}

/* End the run with @status after a vCPU's exit; the registers, if asked. */
static int vcpu_end(struct vcpu *c, int status, const char *why, bool dump)
{
	if (end_request(&c->v->end, status, why) && dump)
		dump_regs(c);
	return status;
}

/*
 * A Linux vCPU halted with interrupts off: only an NMI, INIT or SIPI can
 * wake it, and the module sleeps in KVISOR_RUN until one comes, telling
 * the tool once.  Once every vCPU is in that state with no exit since,
 * the machine is halted (Linux's `halt`, or poweroff without ACPI):
 * status 0.
 */
static void vcpu_halted(struct vcpu *c, bool halted)
{
	struct vm *v = c->v;

	if (halted == c->halted)
		return;
	c->halted = halted;
	if (!halted) {
		__atomic_sub_fetch(&v->halted, 1, __ATOMIC_SEQ_CST);
		return;
	}
	if (__atomic_add_fetch(&v->halted, 1, __ATOMIC_SEQ_CST) == v->nr_vcpus)
		end_request(&v->end, 0, "every vCPU halted with interrupts off");
}

/* The run loop of one vCPU: returns when the run ends. */
static void vcpu_loop(struct vcpu *c)
{
	struct vm *v = c->v;
	struct kvisor_run *run = c->run;
	struct kvisor_regs regs;
	uint64_t t0, t1, t_out = now_ns();
	unsigned int reason;
	char why[160];
	int r;

	for (;;) {
		if (ended(v))
			return;
		t0 = now_ns();
		c->st.tool_ns += t0 - t_out;
		r = kvisor_run(c->fd);
		t1 = now_ns();
		c->st.guest_ns += t1 - t0;
		t_out = t1;
		if (r == -EINTR || r == -EAGAIN) {
			c->st.eintr++;
			continue;
		}
		if (r) {
			fail("KVISOR_RUN", r, 0);
			vcpu_end(c, EXIT_RUNTIME, "KVISOR_RUN failed", false);
			return;
		}

		reason = run->exit_reason;
		c->st.exits[reason <= KVISOR_EXIT_IRQ_WINDOW_OPEN ? reason :
			    KVISOR_EXIT_IRQ_WINDOW_OPEN + 1]++;
		if (reason != KVISOR_EXIT_HLT && v->b->is_linux)
			vcpu_halted(c, false);
		switch (reason) {
		case KVISOR_EXIT_IO:
			handle_io(c);
			if (v->dexit.fired) {
				vcpu_end(c, v->dexit.status,
					 "the guest wrote to the debug-exit port", false);
				return;
			}
			break;
		case KVISOR_EXIT_MMIO:
			handle_mmio(c);
			break;
		case KVISOR_EXIT_HYPERCALL:
			r = handle_hypercall(c);
			if (r >= 0) {
				vcpu_end(c, r, "the guest made the exit hypercall",
					 false);
				return;
			}
			break;
		case KVISOR_EXIT_HLT:
			r = kvisor_get_regs(c->fd, &regs);
			if (r) {
				fail("KVISOR_GET_REGS", r, 0);
				vcpu_end(c, EXIT_RUNTIME, "KVISOR_GET_REGS failed",
					 false);
				return;
			}
			if (v->b->is_linux) {
				vcpu_halted(c, !(regs.rflags & X86_RFLAGS_IF));
				break;	/* the module sleeps in the next RUN */
			}
			if (!(regs.rflags & X86_RFLAGS_IF)) {
				vcpu_end(c, 0, "the guest halted with interrupts off",
					 false);
				return;
			}
			snprintf(why, sizeof(why),
				 "guest halted with interrupts on at rip 0x%llx; kvisor has no interrupt sources, so nothing can wake it",
				 regs.rip);
			if (end_request(&v->end, EXIT_IDLE, why))
				fprintf(stderr, "kvisor: %s\n", why);
			return;
		case KVISOR_EXIT_INTR:
		case KVISOR_EXIT_IRQ_WINDOW_OPEN:
			break;
		case KVISOR_EXIT_SHUTDOWN:
			if (end_request(&v->end, EXIT_TRIPLE_FAULT,
					"guest triple fault (shutdown)")) {
				fprintf(stderr, "kvisor: guest triple fault (shutdown)\n");
				dump_regs(c);
			}
			return;
		case KVISOR_EXIT_FAIL_ENTRY:
			snprintf(why, sizeof(why),
				 "VM entry failed: hardware reason 0x%llx, error 0x%llx, cpu %u",
				 run->fail_entry.hardware_reason,
				 run->fail_entry.error, run->fail_entry.cpu);
			if (end_request(&v->end, EXIT_ENTRY_FAIL, why)) {
				fprintf(stderr, "kvisor: %s\n", why);
				dump_regs(c);
			}
			return;
		case KVISOR_EXIT_INTERNAL_ERROR: {
			unsigned int i, n = run->internal.insn_len;

			if (!end_request(&v->end, EXIT_INTERNAL, "internal error"))
				return;
			fprintf(stderr,
				"kvisor: internal error: %s (suberror %u), hardware reason 0x%llx, gpa 0x%llx",
				run->internal.suberror == KVISOR_INTERNAL_ERROR_EMULATION ?
				"cannot emulate the MMIO instruction" :
				run->internal.suberror == KVISOR_INTERNAL_ERROR_UNEXPECTED ?
				"unexpected hardware exit" : "unknown",
				run->internal.suberror,
				run->internal.hardware_reason, run->internal.gpa);
			if (n > sizeof(run->internal.insn_bytes))
				n = sizeof(run->internal.insn_bytes);
			if (n)
				fprintf(stderr, ", instruction");
			for (i = 0; i < n; i++)
				fprintf(stderr, " %02x", run->internal.insn_bytes[i]);
			fputc('\n', stderr);
			dump_regs(c);
			return;
		}
		default:
			snprintf(why, sizeof(why), "unexpected exit reason %u (%s)",
				 reason, kvisor_exit_reason_name(reason));
			if (end_request(&v->end, EXIT_INTERNAL, why)) {
				fprintf(stderr, "kvisor: %s\n", why);
				dump_regs(c);
			}
			return;
		}
	}
}

static void *vcpu_thread(void *arg)
{
	vcpu_loop(arg);
	return NULL;
}

static void sigusr1(int sig)
{
	(void)sig;	/* only to end KVISOR_RUN with EINTR */
}

/* end_request()'s kick: every vCPU out of KVISOR_RUN, main awake. */
static void kick_all(void *ctx)
{
	struct vm *v = ctx;
	unsigned int i;

	for (i = 0; i < v->nr_vcpus; i++) {
		if (v->vcpus[i].run)
			__atomic_store_n(&v->vcpus[i].run->immediate_exit, 1,
					 __ATOMIC_SEQ_CST);
		if (v->vcpus[i].started)
			pthread_kill(v->vcpus[i].thread, SIGUSR1);
	}
	pthread_kill(v->main_thread, SIGUSR2);
}

/* --- the input thread: stdin to the UART -------------------------------- */

static struct termios saved_tty;
static bool tty_raw;

static void tty_restore(void)
{
	if (tty_raw) {
		tcsetattr(STDIN_FILENO, TCSANOW, &saved_tty);
		tty_raw = false;
	}
}

/*
 * A terminal on stdin goes raw: every key, Ctrl-C included, goes to the
 * guest; Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A (as in QEMU).
 */
static void tty_make_raw(void)
{
	struct termios t;

	if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_tty))
		return;
	t = saved_tty;
	t.c_iflag &= ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR |
		       ICRNL | IXON);
	t.c_oflag &= ~OPOST;
	t.c_lflag &= ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
	t.c_cflag &= ~(CSIZE | PARENB);
	t.c_cflag |= CS8;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (!tcsetattr(STDIN_FILENO, TCSANOW, &t)) {
		tty_raw = true;
		atexit(tty_restore);
	}
}

/* Hand @len bytes to the UART, waiting while its FIFO is full. */
static void input_feed(struct vm *v, const uint8_t *buf, unsigned int len)
{
	unsigned int n;

	while (len && !ended(v)) {
		pthread_mutex_lock(&v->lock);
		n = uart_receive(&v->uart, buf, len);
		pthread_mutex_unlock(&v->lock);
		buf += n;
		len -= n;
		if (len)
			usleep(1000);	/* the guest reads 16 bytes a time */
	}
}

static void *input_thread(void *arg)
{
	struct vm *v = arg;
	bool escape = false;
	uint8_t buf[256], out[256];
	unsigned int i, n;
	ssize_t got;

	for (;;) {
		got = read(STDIN_FILENO, buf, sizeof(buf));
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;	/* end of input: the guest just gets no more */
		n = 0;
		for (i = 0; i < (size_t)got; i++) {
			if (!tty_raw) {
				out[n++] = buf[i];
			} else if (escape) {
				escape = false;
				if (buf[i] == 'x' || buf[i] == 'X') {
					end_request(&v->end, EXIT_STOPPED,
						    "Ctrl-A x typed");
					return NULL;
				}
				out[n++] = buf[i] == 0x01 ? 0x01 : buf[i];
			} else if (buf[i] == 0x01) {
				escape = true;
			} else {
				out[n++] = buf[i];
			}
		}
		input_feed(v, out, n);
	}
	pthread_mutex_lock(&v->lock);
	v->uart.in_eof = true;
	pthread_mutex_unlock(&v->lock);
	return NULL;
}

/* The UART's interrupt line: GSI 4 (ISA IRQ 4). */
static void uart_set_irq(void *ctx, int level)
{
	struct vm *v = ctx;
	int r = kvisor_irq_line(v->vm, UART_IRQ, level);

	if (r)
		fprintf(stderr, "kvisor: %s\n",
			kvisor_strerror("KVISOR_IRQ_LINE (UART IRQ 4)", r));
}

static int64_t host_time(void)
{
	return time(NULL);
}

/* MemAvailable from /proc/meminfo in bytes; 0 when unknown. */
static uint64_t mem_available(void)
{
	unsigned long long kb = 0;
	char line[128];
	FILE *f = fopen("/proc/meminfo", "r");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb << 10;
}

static int nodev_errno(int err)
{
	return err == -ENOENT || err == -ENODEV || err == -EACCES ||
	       err == -EPERM || err == -ENOTTY || err == -EBUSY ||
	       err == -ENXIO || err == -EOPNOTSUPP;
}

static int create_vcpus(struct vm *v, const struct boot *b)
{
	unsigned int i;
	int r;

	for (i = 0; i < v->nr_vcpus; i++) {
		struct vcpu *c = &v->vcpus[i];

		c->fd = kvisor_create_vcpu(v->vm, i);
		if (c->fd < 0) {
			fail("KVISOR_CREATE_VCPU", c->fd, 0);
			return EXIT_RUNTIME;
		}
		c->run = kvisor_map_run(v->sys, c->fd);
		if (!c->run) {
			fail("mmap of the vCPU's run structure", -errno, 0);
			return EXIT_RUNTIME;
		}
		if (b->is_linux) {
			r = setup_linux_cpuid(c);
			if (r)
				return r;
		}
		if (i == 0) {
			r = setup_vcpu(c, b);
			if (r)
				return r;
			continue;
		}
		/* an AP: waits for the guest's INIT-SIPI-SIPI */
		r = kvisor_set_mp_state(c->fd, KVISOR_MP_STATE_WAIT_SIPI);
		if (r)
			return fail("KVISOR_SET_MP_STATE (WAIT_SIPI for an AP)",
				    r, EXIT_RUNTIME);
	}
	return 0;
}

static int setup_devices(struct vm *v, const struct boot *b)
{
	int r;

	/* a Linux guest's input comes from the input thread */
	uart_init(&v->uart, b->is_linux ? -1 : STDIN_FILENO, STDOUT_FILENO);
	debug_exit_init(&v->dexit);
	r = fw_cfg_init(&v->fwcfg, v->g->size, v->nr_vcpus, v->o->cmdline);
	if (r)
		return fail("fw_cfg", r, EXIT_RUNTIME);
	pio_register(&v->bus, &v->uart.dev);
	pio_register(&v->bus, &v->dexit.dev);
	pio_register(&v->bus, &v->fwcfg.dev);
	if (!b->is_linux)
		return 0;
	v->uart.set_irq = uart_set_irq;
	v->uart.irq_ctx = v;
	rtc_init(&v->rtc, v->g->size, host_time);
	pci_conf1_init(&v->pci, &v->end);
	i8042_init(&v->kbc, &v->end);
	acpi_pm_init(&v->pm, &v->end);
	pvpanic_init(&v->pvpanic, &v->end);
	pio_register(&v->bus, &v->rtc.dev);
	pio_register(&v->bus, &v->pci.dev);
	pio_register(&v->bus, &v->kbc.data);
	pio_register(&v->bus, &v->kbc.cmd);
	pio_register(&v->bus, &v->pm.dev);
	pio_register(&v->bus, &v->pvpanic.dev);
	return 0;
}

/*
 * Run every vCPU on its own thread; the calling thread waits for the end
 * (a vCPU's, a device's, or SIGINT/SIGTERM/SIGHUP) and joins them.
 */
static int run_threads(struct vm *v)
{
	struct sigaction sa = { .sa_handler = sigusr1 };
	sigset_t wait_set, old;
	pthread_t input;
	bool has_input = false;
	unsigned int i;
	int sig, r;

	sigemptyset(&sa.sa_mask);
	sigaction(SIGUSR1, &sa, NULL);
	/* the kick of the main thread may still be pending when it unblocks */
	sigaction(SIGUSR2, &sa, NULL);
	sigemptyset(&wait_set);
	sigaddset(&wait_set, SIGINT);
	sigaddset(&wait_set, SIGTERM);
	sigaddset(&wait_set, SIGHUP);
	sigaddset(&wait_set, SIGUSR2);
	/* blocked here and, inherited, in every thread: sigwait() gets them */
	pthread_sigmask(SIG_BLOCK, &wait_set, &old);
	v->main_thread = pthread_self();
	v->end.kick = kick_all;
	v->end.ctx = v;

	if (v->b->is_linux) {
		tty_make_raw();
		if (!pthread_create(&input, NULL, input_thread, v))
			has_input = true;
	}
	for (i = 0; i < v->nr_vcpus; i++) {
		r = pthread_create(&v->vcpus[i].thread, NULL, vcpu_thread,
				   &v->vcpus[i]);
		if (r) {
			fprintf(stderr, "kvisor: cannot start the thread of vCPU %u: %s\n",
				i, strerror(r));
			end_request(&v->end, EXIT_RUNTIME, "pthread_create failed");
			break;
		}
		v->vcpus[i].started = true;
	}
	while (!ended(v)) {
		if (sigwait(&wait_set, &sig))
			continue;
		if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP) {
			char why[64];

			snprintf(why, sizeof(why), "stopped by %s",
				 sig == SIGINT ? "SIGINT" :
				 sig == SIGTERM ? "SIGTERM" : "SIGHUP");
			end_request(&v->end, EXIT_STOPPED, why);
		}
	}
	for (i = 0; i < v->nr_vcpus; i++)
		if (v->vcpus[i].started)
			pthread_join(v->vcpus[i].thread, NULL);
	if (has_input)
		pthread_cancel(input);	/* blocked in read(2): not joined */
	tty_restore();
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return v->end.status;
}

int run_guest(const struct run_opts *o, struct guest *g, struct boot *b)
{
	struct vm *v;
	char what[300];
	uint64_t avail;
	long max_mb, max_vcpus;
	unsigned int i;
	int r, status;

	v = calloc(1, sizeof(*v));
	if (!v) {
		fprintf(stderr, "kvisor: out of memory\n");
		return EXIT_RUNTIME;
	}
	v->o = o;
	v->b = b;
	v->g = g;
	v->sys = v->vm = -1;
	v->nr_vcpus = o->cpus ? o->cpus : 1;
	for (i = 0; i < MAX_VCPUS; i++)
		v->vcpus[i] = (struct vcpu) { .v = v, .id = i, .fd = -1 };
	pthread_mutex_init(&v->lock, NULL);
	end_init(&v->end);

	snprintf(what, sizeof(what), "open %s", o->device);
	v->sys = kvisor_open_system(o->device);
	if (v->sys < 0) {
		status = fail(what, v->sys, EXIT_NODEV);
		free(v);
		return status;
	}
	r = kvisor_api_version(v->sys);
	if (r != KVISOR_API_VERSION) {
		if (r < 0)
			status = fail("KVISOR_GET_API_VERSION", r, EXIT_NODEV);
		else
			fprintf(stderr, "kvisor: %s has API version %d, this tool wants %d\n",
				o->device, r, KVISOR_API_VERSION);
		status = EXIT_NODEV;
		goto out;
	}
	max_mb = kvisor_check_extension(v->sys, KVISOR_CAP_MAX_MEMORY_MB);
	if (max_mb > 0 && g->size > ((uint64_t)max_mb << 20)) {
		fprintf(stderr, "kvisor: --mem %s is more than the module allows (%ld MiB)\n",
			fmt_size(g->size), max_mb);
		status = EXIT_USAGE;
		goto out;
	}
	max_vcpus = kvisor_check_extension(v->sys, KVISOR_CAP_MAX_VCPUS);
	if (max_vcpus > 0 && v->nr_vcpus > max_vcpus) {
		fprintf(stderr, "kvisor: --cpus %u is more than the module allows (%ld)\n",
			v->nr_vcpus, max_vcpus);
		status = EXIT_USAGE;
		goto out;
	}
	if (b->is_linux && kvisor_check_extension(v->sys, KVISOR_CAP_IRQCHIP) != 1) {
		fprintf(stderr,
			"kvisor: %s has no in-kernel irqchip (KVISOR_CAP_IRQCHIP), which a Linux guest needs for its interrupts and timers\n",
			o->device);
		status = EXIT_NODEV;
		goto out;
	}

	/*
	 * The module pins all of guest RAM when it is added: more than the
	 * host has free would end in the OOM killer, not in an error.
	 */
	avail = mem_available();
	if (avail && g->size > avail) {
		fprintf(stderr,
			"kvisor: --mem %s is more than the host's available memory (%" PRIu64 " MiB); guest RAM is pinned in host memory\n",
			fmt_size(g->size), avail >> 20);
		status = EXIT_RUNTIME;
		goto out;
	}

	status = EXIT_RUNTIME;
	v->vm = kvisor_create_vm(v->sys);
	if (v->vm < 0) {
		status = fail("KVISOR_CREATE_VM", v->vm,
			      nodev_errno(v->vm) ? EXIT_NODEV : EXIT_RUNTIME);
		goto out;
	}
	r = kvisor_set_memory_region(v->vm, 0, 0, 0, g->size, g->ram);
	if (r) {
		snprintf(what, sizeof(what), "KVISOR_SET_MEMORY_REGION (%s of guest RAM)",
			 fmt_size(g->size));
		fail(what, r, 0);
		goto out;
	}
	if (b->is_linux) {
		r = kvisor_create_irqchip(v->vm);
		if (r) {
			status = fail("KVISOR_CREATE_IRQCHIP (a Linux guest needs the in-kernel irqchip)",
				      r, nodev_errno(r) ? EXIT_NODEV : EXIT_RUNTIME);
			goto out;
		}
	}
	r = create_vcpus(v, b);
	if (r) {
		status = r;
		goto out;
	}
	r = setup_devices(v, b);
	if (r) {
		status = r;
		goto out;
	}

	status = run_threads(v);
	if (v->end.why[0] && (b->is_linux || status == EXIT_STOPPED))
		fprintf(stderr, "kvisor: %s (status %d)\n", v->end.why, status);
	if (o->stats)
		print_stats(v);
	fw_cfg_free(&v->fwcfg);
out:
	for (i = 0; i < v->nr_vcpus; i++) {
		if (v->vcpus[i].run)
			kvisor_unmap_run(v->sys, v->vcpus[i].run);
		if (v->vcpus[i].fd >= 0)
			close(v->vcpus[i].fd);
	}
	if (v->vm >= 0)
		close(v->vm);
	close(v->sys);
	free(v);
	return status;
}
