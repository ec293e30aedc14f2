/* SPDX-License-Identifier: LGPL-2.1 */
/*
 * libkvisor: the /dev/kvisor ioctl API in friendly C.
 *
 * Three kinds of file descriptor, as in the uapi (linux/kvisor.h):
 *
 *	int sys = kvisor_open_system(NULL);		// /dev/kvisor
 *	int vm = kvisor_create_vm(sys);
 *	void *ram = kvisor_alloc_memory(size);		// page aligned
 *	kvisor_set_memory_region(vm, 0, 0, 0, size, ram);
 *	int vcpu = kvisor_create_vcpu(vm, 0);
 *	struct kvisor_run *run = kvisor_map_run(sys, vcpu);
 *	kvisor_run(vcpu);  ... run->exit_reason ...
 *
 * Conventions: every function returns 0 (or a non-negative value such as
 * an fd) on success and -errno on failure; functions returning a pointer
 * return NULL and set errno.  kvisor_strerror() turns a -errno into a
 * message naming what failed.  No function prints anything.  Link with
 * `pkg-config --libs libkvisor`; the library only needs libc.
 */
#ifndef LIBKVISOR_H
#define LIBKVISOR_H

#include <stddef.h>
#include <linux/kvisor.h>

#ifdef __cplusplus
extern "C" {
#endif

#define KVISOR_DEFAULT_DEVICE	"/dev/kvisor"

/* --- system fd ------------------------------------------------------- */

/* Open the system device (NULL: /dev/kvisor).  Returns an fd or -errno. */
int kvisor_open_system(const char *path);
/* KVISOR_GET_API_VERSION; the version or -errno. */
int kvisor_api_version(int sys_fd);
/* KVISOR_CHECK_EXTENSION; the value (0: absent) or -errno. */
long kvisor_check_extension(int sys_fd, unsigned long cap);
/* KVISOR_CREATE_VM; a VM fd or -errno. */
int kvisor_create_vm(int sys_fd);
/* KVISOR_GET_VCPU_MMAP_SIZE; the size of struct kvisor_run's mapping. */
long kvisor_vcpu_mmap_size(int sys_fd);

/* --- VM fd ------------------------------------------------------------- */

/*
 * Anonymous, page-aligned, zeroed memory to back guest RAM (mmap; pages
 * are allocated on first touch).  NULL and errno on failure.  Release it
 * with kvisor_free_memory() once the VM is closed.
 */
void *kvisor_alloc_memory(size_t size);
void kvisor_free_memory(void *mem, size_t size);
/*
 * KVISOR_SET_MEMORY_REGION: map @size bytes at @hva to guest physical
 * @gpa in @slot (all page aligned); @size 0 deletes the slot.  @flags:
 * KVISOR_MEM_*.
 */
int kvisor_set_memory_region(int vm_fd, unsigned int slot, unsigned int flags,
			     unsigned long long gpa, unsigned long long size,
			     void *hva);
/* KVISOR_CREATE_VCPU; a vCPU fd or -errno. */
int kvisor_create_vcpu(int vm_fd, unsigned int id);

/*
 * The in-kernel interrupt controllers and timers (api.rst, "The in-kernel
 * irqchip"), when kvisor_check_extension(sys, KVISOR_CAP_IRQCHIP) says 1.
 * KVISOR_CREATE_IRQCHIP: before the first vCPU is created.
 */
int kvisor_create_irqchip(int vm_fd);
/* KVISOR_IRQ_LINE: drive GSI @gsi (0 .. KVISOR_NR_GSIS-1) to @level 0/1. */
int kvisor_irq_line(int vm_fd, unsigned int gsi, unsigned int level);
/* KVISOR_SIGNAL_MSI: deliver the MSI a device would write. */
int kvisor_signal_msi(int vm_fd, unsigned long long address,
		      unsigned int data);
/*
 * KVISOR_IRQFD: each signal of eventfd @fd pulses GSI @gsi; @deassign
 * removes the binding.
 */
int kvisor_irqfd(int vm_fd, int fd, unsigned int gsi, int deassign);
/* KVISOR_GET_IRQCHIP / KVISOR_SET_IRQCHIP: @state->chip_id selects. */
int kvisor_get_irqchip(int vm_fd, struct kvisor_irqchip_state *state);
int kvisor_set_irqchip(int vm_fd, const struct kvisor_irqchip_state *state);

/* --- vCPU fd ----------------------------------------------------------- */

/*
 * mmap() the vCPU's struct kvisor_run (size from @sys_fd).  NULL and
 * errno on failure; kvisor_unmap_run() releases it.
 */
struct kvisor_run *kvisor_map_run(int sys_fd, int vcpu_fd);
void kvisor_unmap_run(int sys_fd, struct kvisor_run *run);
/* The data of a KVISOR_EXIT_IO exit (count * size bytes). */
static inline void *kvisor_io_data(struct kvisor_run *run)
{
	return (char *)run + run->io.data_offset;
}
/*
 * KVISOR_RUN: run until an exit userspace must handle; the reason is in
 * run->exit_reason.  -EINTR when a signal interrupted it (retry).
 */
int kvisor_run(int vcpu_fd);
/* KVISOR_GET_REGS / KVISOR_SET_REGS / KVISOR_GET_SREGS / KVISOR_SET_SREGS */
int kvisor_get_regs(int vcpu_fd, struct kvisor_regs *regs);
int kvisor_set_regs(int vcpu_fd, const struct kvisor_regs *regs);
int kvisor_get_sregs(int vcpu_fd, struct kvisor_sregs *sregs);
int kvisor_set_sregs(int vcpu_fd, const struct kvisor_sregs *sregs);
/* One MSR through KVISOR_GET_MSRS / KVISOR_SET_MSRS. */
int kvisor_get_msr(int vcpu_fd, unsigned int index, unsigned long long *data);
int kvisor_set_msr(int vcpu_fd, unsigned int index, unsigned long long data);
/*
 * KVISOR_GET_CPUID: the table into @entries (room for *@nent); on E2BIG
 * *@nent is set to the number needed.  KVISOR_SET_CPUID: replace it.
 */
int kvisor_get_cpuid(int vcpu_fd, struct kvisor_cpuid_entry *entries,
		     unsigned int *nent);
int kvisor_set_cpuid(int vcpu_fd, const struct kvisor_cpuid_entry *entries,
		     unsigned int nent);
/*
 * KVISOR_INJECT_EVENT: @type KVISOR_EVENT_*, @vector; @error_code is
 * delivered when @has_error_code (exceptions only).
 */
int kvisor_inject_event(int vcpu_fd, unsigned int type, unsigned int vector,
			int has_error_code, unsigned int error_code);
/* KVISOR_GET_STATS: the vCPU's exit counters (KVISOR_STAT_*). */
int kvisor_get_stats(int vcpu_fd, struct kvisor_vcpu_stats *stats);

/* With an irqchip: KVISOR_GET/SET_LAPIC, KVISOR_GET/SET_MP_STATE. */
int kvisor_get_lapic(int vcpu_fd, struct kvisor_lapic_state *state);
int kvisor_set_lapic(int vcpu_fd, const struct kvisor_lapic_state *state);
/* *@state / @state: KVISOR_MP_STATE_* */
int kvisor_get_mp_state(int vcpu_fd, unsigned int *state);
int kvisor_set_mp_state(int vcpu_fd, unsigned int state);

/* --- names and messages ------------------------------------------------ */

/* Names for numbers, for messages and --stats; never NULL. */
const char *kvisor_vendor_name(long vendor);
const char *kvisor_exit_reason_name(unsigned int reason);
const char *kvisor_stat_name(unsigned int stat);
const char *kvisor_event_type_name(unsigned int type);

/*
 * A message for an error of @what (e.g. "open /dev/kvisor"), with advice
 * where one helps: "/dev/kvisor not found: load the module with ...".
 * @err is an errno, negative or positive.  Returns a static buffer,
 * overwritten by the next call.
 */
const char *kvisor_strerror(const char *what, int err);

#ifdef __cplusplus
}
#endif

#endif /* LIBKVISOR_H */
