/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvisor-bench: the interface both backends (KVM and kvisor) implement.
 *
 * Just enough to run the benchmark guests: create a VM, add memory,
 * create a vCPU, put it in 32-bit flat protected mode (no paging) at a
 * RIP with some registers set, run it, and tell what it exited for.
 */
#ifndef KVISOR_BENCH_H
#define KVISOR_BENCH_H

#include <stddef.h>
#include <stdint.h>

struct bench_vm {
	int fd;
	void *priv;
};

struct bench_vcpu {
	struct bench_vm *vm;
	int fd;
	void *run;		/* the mmap()ed run structure */
	size_t run_size;
};

enum bench_exit_kind {
	BX_HLT,
	BX_IO_OUT,	/* port, val */
	BX_MMIO_WRITE,	/* addr, val */
	BX_INTR,	/* the run was interrupted (signal): run again */
	BX_OTHER,	/* anything else: the benchmark failed */
};

struct bench_exit {
	enum bench_exit_kind kind;
	uint32_t reason;	/* the backend's own exit reason */
	uint16_t port;
	uint64_t addr;
	uint64_t val;
};

/* Registers the guests take their parameters in. */
struct bench_regs {
	uint64_t rip, rax, rbx, rcx, rdx, rsi, rdi, rbp;
};

struct bench_backend {
	const char *name;	/* "KVM", "kvisor" */
	const char *dev;	/* "/dev/kvm", "/dev/kvisor" */
	int sys_fd;		/* open device, or -1 */
	int run_size;
	/* All return 0 or -errno. */
	int (*open)(struct bench_backend *b);
	int (*vm_create)(struct bench_backend *b, struct bench_vm *vm);
	int (*vm_add_mem)(struct bench_vm *vm, uint32_t slot, uint64_t gpa,
			  uint64_t size, void *hva);
	int (*vcpu_create)(struct bench_backend *b, struct bench_vm *vm,
			   struct bench_vcpu *v, int id);
	int (*vcpu_setup)(struct bench_vcpu *v, const struct bench_regs *r);
	int (*run)(struct bench_vcpu *v, struct bench_exit *x);
	/* Exit counters, when the backend has them (kvisor): 0 or -errno. */
	int (*stats)(struct bench_vcpu *v, uint64_t *counters, int n);
	void (*vcpu_destroy)(struct bench_vcpu *v);
	void (*vm_destroy)(struct bench_vm *vm);
};

extern struct bench_backend bench_kvm, bench_kvisor;

/* bench.c: the header lines (box, CPUs, kernel, date, CPU model). */
void bench_print_header(const char *mode);
/* pv.c: kvisor-bench -P, full virtualization vs paravirtualization. */
/* A positive number from the command line, or exit status 2 with a message. */
long num_arg(const char *s);
int pv_main(int argc, char **argv);

#endif /* KVISOR_BENCH_H */
