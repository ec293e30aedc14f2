// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor tool: create the VM, set the vCPU up as struct boot says, and
 * run it, handling exits: port I/O through the bus to the devices, MMIO
 * (no MMIO devices: reads return all ones, writes are ignored; both
 * counted), hypercalls (console write to stdout, exit with a status; the
 * VMM range: ret = -ENOSYS), HLT (the guest is done:
 * status 0 with IF=0, EXIT_IDLE with IF=1), shutdown (triple fault),
 * entry failure and internal errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
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

struct vm {
	const struct run_opts *o;
	struct guest *g;
	int sys, vm, vcpu;
	struct kvisor_run *run;
	struct pio_bus bus;
	struct uart uart;
	struct debug_exit dexit;
	struct fw_cfg fwcfg;
	struct tool_stats st;
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

static int setup_vcpu(struct vm *v, const struct boot *b)
{
	struct kvisor_sregs s;
	struct kvisor_regs regs = {
		.rip = b->entry, .rflags = 0x2,
		.rax = b->rax, .rbx = b->rbx, .rdx = b->rdx, .rsp = b->rsp,
	};
	struct kvisor_segment data;
	int r;

	r = kvisor_get_sregs(v->vcpu, &s);
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
		s.cs = seg(0, 0xffffffff, GDT_CODE64, 0xb, 0, 1, 1);
		data = seg(0, 0xffffffff, GDT_DATA, 0x3, 1, 0, 1);
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
	r = kvisor_set_sregs(v->vcpu, &s);
	if (r)
		return fail("KVISOR_SET_SREGS", r, EXIT_RUNTIME);
	r = kvisor_set_regs(v->vcpu, &regs);
	if (r)
		return fail("KVISOR_SET_REGS", r, EXIT_RUNTIME);
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

static void dump_regs(struct vm *v)
{
	struct kvisor_sregs s;
	struct kvisor_regs r;

	if (kvisor_get_regs(v->vcpu, &r)) {
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
	if (kvisor_get_sregs(v->vcpu, &s))
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

static void handle_io(struct vm *v)
{
	struct kvisor_run *run = v->run;
	uint8_t *p = kvisor_io_data(run);
	unsigned int i, size = run->io.size;
	uint32_t val;

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
}

static void handle_mmio(struct vm *v)
{
	struct kvisor_run *run = v->run;

	if (run->mmio.is_write) {
		v->st.mmio_writes++;
	} else {
		v->st.mmio_reads++;
		memset(run->mmio.data, 0xff, sizeof(run->mmio.data));
	}
}

/*
 * KVISOR_EXIT_HYPERCALL: the module has checked and copied a console
 * write's bytes into the run page.  -1 to go on, or the exit status.
 */
static int handle_hypercall(struct vm *v)
{
	struct kvisor_run *run = v->run;
	const uint8_t *p = (const uint8_t *)run + run->hypercall.data_offset;
	size_t len = run->hypercall.data_len;
	ssize_t n;

	v->st.hypercalls++;
	switch (run->hypercall.nr) {
	case KVISOR_HC_CONSOLE_WRITE:
		v->st.console_calls++;
		v->st.console_bytes += len;
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
	struct kvisor_vcpu_stats ks;
	uint64_t total_ns = v->st.guest_ns + v->st.tool_ns, exits = 0;
	unsigned int i;
	int r;

	fprintf(stderr, "--- kvisor stats ---\n");
	r = kvisor_get_stats(v->vcpu, &ks);
	if (r) {
		fprintf(stderr, "kvisor: %s\n",
			kvisor_strerror("KVISOR_GET_STATS", r));
	} else {
		exits = ks.counters[KVISOR_STAT_EXITS];
		fprintf(stderr, "exits by reason (module, all exits):\n");
		for (i = 0; i < KVISOR_STAT_NR; i++)
			if (ks.counters[i] || i == KVISOR_STAT_EXITS)
				fprintf(stderr, "  %-16s %" PRIu64 "\n",
					kvisor_stat_name(i),
					(uint64_t)ks.counters[i]);
	}
	fprintf(stderr, "exits to the tool, by reason:\n");
	for (i = 0; i < sizeof(v->st.exits) / sizeof(v->st.exits[0]); i++)
		if (v->st.exits[i])
			fprintf(stderr, "  %-16s %" PRIu64 "\n",
				i <= KVISOR_EXIT_IRQ_WINDOW_OPEN ?
				kvisor_exit_reason_name(i) : "other",
				v->st.exits[i]);
	fprintf(stderr, "port I/O by device:\n");
	for (i = 0; i < v->bus.nr_devs; i++)
		fprintf(stderr, "  %-16s %" PRIu64 " in, %" PRIu64 " out\n",
			v->bus.devs[i]->name, v->bus.devs[i]->reads,
			v->bus.devs[i]->writes);
	fprintf(stderr, "  %-16s %" PRIu64 " in, %" PRIu64 " out\n",
		"unassigned", v->bus.unassigned_reads,
		v->bus.unassigned_writes);
	fprintf(stderr, "mmio (no devices): %" PRIu64 " reads, %" PRIu64 " writes\n",
		v->st.mmio_reads, v->st.mmio_writes);
	if (v->st.hypercalls)
		fprintf(stderr, "hypercalls to the tool: %" PRIu64 ", console writes %" PRIu64
			" (%" PRIu64 " bytes)\n", v->st.hypercalls,
			v->st.console_calls, v->st.console_bytes);
	fprintf(stderr, "uart: %" PRIu64 " bytes out, %" PRIu64 " bytes in\n",
		v->uart.tx_bytes, v->uart.rx_bytes);
	fprintf(stderr, "time: %.6f s, in guest %.6f s (%.1f%%), in kvisor %.6f s\n",
		secs(total_ns), secs(v->st.guest_ns),
		total_ns ? 100.0 * v->st.guest_ns / total_ns : 0.0,
		secs(v->st.tool_ns));
	fprintf(stderr, "exits per second: %.0f\n",
		total_ns ? exits / secs(total_ns) : 0.0);
}

/* The run loop: returns the exit status. */
static int loop(struct vm *v)
{
	struct kvisor_run *run = v->run;
	struct kvisor_regs regs;
	uint64_t t0, t1, t_out = now_ns();
	unsigned int reason;
	int r;

	for (;;) {
		t0 = now_ns();
		v->st.tool_ns += t0 - t_out;
		r = kvisor_run(v->vcpu);
		t1 = now_ns();
		v->st.guest_ns += t1 - t0;
		t_out = t1;
		if (r == -EINTR || r == -EAGAIN) {
			v->st.eintr++;
			continue;
		}
		if (r)
			return fail("KVISOR_RUN", r, EXIT_RUNTIME);

		reason = run->exit_reason;
		v->st.exits[reason <= KVISOR_EXIT_IRQ_WINDOW_OPEN ? reason :
			    KVISOR_EXIT_IRQ_WINDOW_OPEN + 1]++;
		switch (reason) {
		case KVISOR_EXIT_IO:
			handle_io(v);
			if (v->dexit.fired)
				return v->dexit.status;
			break;
		case KVISOR_EXIT_MMIO:
			handle_mmio(v);
			break;
		case KVISOR_EXIT_HYPERCALL:
			r = handle_hypercall(v);
			if (r >= 0)
				return r;
			break;
		case KVISOR_EXIT_HLT:
			r = kvisor_get_regs(v->vcpu, &regs);
			if (r)
				return fail("KVISOR_GET_REGS", r, EXIT_RUNTIME);
			if (!(regs.rflags & X86_RFLAGS_IF))
				return 0;
			fprintf(stderr,
				"kvisor: guest halted with interrupts on at rip 0x%llx; kvisor has no interrupt sources, so nothing can wake it\n",
				regs.rip);
			return EXIT_IDLE;
		case KVISOR_EXIT_INTR:
		case KVISOR_EXIT_IRQ_WINDOW_OPEN:
			break;
		case KVISOR_EXIT_SHUTDOWN:
			fprintf(stderr, "kvisor: guest triple fault (shutdown)\n");
			dump_regs(v);
			return EXIT_TRIPLE_FAULT;
		case KVISOR_EXIT_FAIL_ENTRY:
			fprintf(stderr,
				"kvisor: VM entry failed: hardware reason 0x%llx, error 0x%llx, cpu %u\n",
				run->fail_entry.hardware_reason,
				run->fail_entry.error, run->fail_entry.cpu);
			dump_regs(v);
			return EXIT_ENTRY_FAIL;
		case KVISOR_EXIT_INTERNAL_ERROR: {
			unsigned int i, n = run->internal.insn_len;

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
			dump_regs(v);
			return EXIT_INTERNAL;
		}
		default:
			fprintf(stderr, "kvisor: unexpected exit reason %u (%s)\n",
				reason, kvisor_exit_reason_name(reason));
			dump_regs(v);
			return EXIT_INTERNAL;
		}
	}
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

int run_guest(const struct run_opts *o, struct guest *g, struct boot *b)
{
	struct vm v = { .o = o, .g = g, .sys = -1, .vm = -1, .vcpu = -1 };
	char what[300];
	uint64_t avail;
	long max_mb;
	int r, status;

	snprintf(what, sizeof(what), "open %s", o->device);
	v.sys = kvisor_open_system(o->device);
	if (v.sys < 0)
		return fail(what, v.sys, EXIT_NODEV);
	r = kvisor_api_version(v.sys);
	if (r != KVISOR_API_VERSION) {
		if (r < 0)
			status = fail("KVISOR_GET_API_VERSION", r, EXIT_NODEV);
		else
			fprintf(stderr, "kvisor: %s has API version %d, this tool wants %d\n",
				o->device, r, KVISOR_API_VERSION);
		status = EXIT_NODEV;
		goto out;
	}
	max_mb = kvisor_check_extension(v.sys, KVISOR_CAP_MAX_MEMORY_MB);
	if (max_mb > 0 && g->size > ((uint64_t)max_mb << 20)) {
		fprintf(stderr, "kvisor: --mem %s is more than the module allows (%ld MiB)\n",
			fmt_size(g->size), max_mb);
		status = EXIT_USAGE;
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
	v.vm = kvisor_create_vm(v.sys);
	if (v.vm < 0) {
		status = fail("KVISOR_CREATE_VM", v.vm,
			      nodev_errno(v.vm) ? EXIT_NODEV : EXIT_RUNTIME);
		goto out;
	}
	r = kvisor_set_memory_region(v.vm, 0, 0, 0, g->size, g->ram);
	if (r) {
		snprintf(what, sizeof(what), "KVISOR_SET_MEMORY_REGION (%s of guest RAM)",
			 fmt_size(g->size));
		fail(what, r, 0);
		goto out;
	}
	v.vcpu = kvisor_create_vcpu(v.vm, 0);
	if (v.vcpu < 0) {
		fail("KVISOR_CREATE_VCPU", v.vcpu, 0);
		goto out;
	}
	v.run = kvisor_map_run(v.sys, v.vcpu);
	if (!v.run) {
		fail("mmap of the vCPU's run structure", -errno, 0);
		goto out;
	}
	r = setup_vcpu(&v, b);
	if (r) {
		status = r;
		goto out;
	}

	uart_init(&v.uart, STDIN_FILENO, STDOUT_FILENO);
	debug_exit_init(&v.dexit);
	r = fw_cfg_init(&v.fwcfg, g->size, 1, o->cmdline);
	if (r) {
		fail("fw_cfg", r, 0);
		goto out;
	}
	pio_register(&v.bus, &v.uart.dev);
	pio_register(&v.bus, &v.dexit.dev);
	pio_register(&v.bus, &v.fwcfg.dev);

	status = loop(&v);
	if (o->stats)
		print_stats(&v);
	fw_cfg_free(&v.fwcfg);
out:
	if (v.run)
		kvisor_unmap_run(v.sys, v.run);
	if (v.vcpu >= 0)
		close(v.vcpu);
	if (v.vm >= 0)
		close(v.vm);
	close(v.sys);
	return status;
}
