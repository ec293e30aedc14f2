/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kvisor: the ioctl ABI of /dev/kvisor.
 *
 * Three kinds of file descriptor, as with KVM:
 *   system fd  open("/dev/kvisor")      -> KVISOR_CREATE_VM
 *   VM fd      memory regions            -> KVISOR_CREATE_VCPU
 *   vCPU fd    registers, events, RUN, mmap of struct kvisor_run
 *
 * Every structure has a fixed layout on x86-64 (explicit padding, which
 * must be zero on input).  Documentation/api.rst describes every ioctl,
 * field and errno.
 */
#ifndef _UAPI_LINUX_KVISOR_H
#define _UAPI_LINUX_KVISOR_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define KVISOR_API_VERSION	1

/* Free in Documentation/userspace-api/ioctl/ioctl-number.rst (6.1). */
#define KVISOR_IO		0xB9

/* ------------------------------------------------------------------ */
/* System fd                                                          */
/* ------------------------------------------------------------------ */

/* Returns KVISOR_API_VERSION.  The argument must be 0. */
#define KVISOR_GET_API_VERSION		_IO(KVISOR_IO, 0x00)
/*
 * Argument: a KVISOR_CAP_* number.  Returns its value, 0 if absent.  Also
 * on a VM fd (KVISOR_CAP_CHECK_EXTENSION_VM), with the same answers.
 */
#define KVISOR_CHECK_EXTENSION		_IO(KVISOR_IO, 0x01)
/* Argument must be 0.  Returns a new VM fd. */
#define KVISOR_CREATE_VM		_IO(KVISOR_IO, 0x02)
/* Argument must be 0.  Returns the size to mmap() on a vCPU fd. */
#define KVISOR_GET_VCPU_MMAP_SIZE	_IO(KVISOR_IO, 0x03)

/* KVISOR_CHECK_EXTENSION capabilities. */
#define KVISOR_CAP_VENDOR		1	/* KVISOR_VENDOR_* */
#define KVISOR_CAP_NESTED_PAGING	2	/* EPT or NPT: 1 */
#define KVISOR_CAP_UNRESTRICTED_GUEST	3	/* real mode runs natively: 1 */
#define KVISOR_CAP_TAGGED_TLB		4	/* VPIDs/ASIDs available */
#define KVISOR_CAP_MAX_VCPUS		5	/* vCPUs per VM */
#define KVISOR_CAP_MAX_MEMORY_SLOTS	6	/* memory regions per VM */
#define KVISOR_CAP_MAX_MEMORY_MB	7	/* guest memory per VM, MiB */
#define KVISOR_CAP_HW_ENABLED		8	/* 1 while VT-x/AMD-V is on */
/* the hypercall ABI of <linux/kvisor_para.h>: its version, 1 */
#define KVISOR_CAP_HYPERCALLS		9
/* KVISOR_CHECK_EXTENSION also works on a VM fd: 1 */
#define KVISOR_CAP_CHECK_EXTENSION_VM	10
/* KVISOR_CREATE_IRQCHIP works: 1 (Documentation/api.rst, "irqchip") */
#define KVISOR_CAP_IRQCHIP		11

#define KVISOR_VENDOR_INTEL		1	/* VT-x */
#define KVISOR_VENDOR_AMD		2	/* AMD-V */

/* ------------------------------------------------------------------ */
/* VM fd                                                              */
/* ------------------------------------------------------------------ */

#define KVISOR_MEM_READONLY		(1u << 0)

struct kvisor_memory_region {
	__u32 slot;
	__u32 flags;		/* KVISOR_MEM_* */
	__u64 guest_phys_addr;	/* page aligned */
	__u64 memory_size;	/* page aligned; 0 deletes the slot */
	__u64 userspace_addr;	/* page aligned */
};

#define KVISOR_SET_MEMORY_REGION \
	_IOW(KVISOR_IO, 0x10, struct kvisor_memory_region)
/* Argument: the vCPU id (0 .. MAX_VCPUS-1).  Returns a new vCPU fd. */
#define KVISOR_CREATE_VCPU		_IO(KVISOR_IO, 0x11)

/*
 * The in-kernel interrupt controllers and timers (Documentation/api.rst,
 * "irqchip"): a local APIC per vCPU, an IOAPIC, a PIC pair and a PIT.
 * Opt-in per VM, before any vCPU is created; argument 0.
 */
#define KVISOR_CREATE_IRQCHIP		_IO(KVISOR_IO, 0x12)

/* GSIs: IOAPIC pins 0-23; 0-15 also drive the PIC pair's IRQ lines. */
#define KVISOR_NR_GSIS			24

struct kvisor_irq_level {
	__u32 gsi;		/* < KVISOR_NR_GSIS */
	__u32 level;		/* 0 or 1 */
};
#define KVISOR_IRQ_LINE		_IOW(KVISOR_IO, 0x13, struct kvisor_irq_level)

/* An MSI as a device writes it: address 0xFEExxxxx, data (SDM 11.11). */
struct kvisor_msi {
	__u64 address;
	__u32 data;
	__u32 flags;		/* must be 0 */
	__u64 padding;		/* must be 0 */
};
#define KVISOR_SIGNAL_MSI	_IOW(KVISOR_IO, 0x14, struct kvisor_msi)

/* An eventfd whose signal pulses a GSI (edge) without a vCPU ioctl. */
#define KVISOR_IRQFD_FLAG_DEASSIGN	(1u << 0)
struct kvisor_irqfd {
	__s32 fd;
	__u32 gsi;
	__u32 flags;		/* KVISOR_IRQFD_FLAG_* */
	__u32 padding;
};
#define KVISOR_IRQFD		_IOW(KVISOR_IO, 0x15, struct kvisor_irqfd)

#define KVISOR_IRQCHIP_PIC_MASTER	0
#define KVISOR_IRQCHIP_PIC_SLAVE	1
#define KVISOR_IRQCHIP_IOAPIC		2
#define KVISOR_IRQCHIP_PIT		3

/* One chip's state; the layouts of data are in Documentation/api.rst. */
struct kvisor_irqchip_state {
	__u32 chip_id;		/* KVISOR_IRQCHIP_* */
	__u32 padding;
	__u8 data[512];
};
#define KVISOR_GET_IRQCHIP	_IOWR(KVISOR_IO, 0x16, struct kvisor_irqchip_state)
#define KVISOR_SET_IRQCHIP	_IOW(KVISOR_IO, 0x17, struct kvisor_irqchip_state)

/*
 * The layouts of kvisor_irqchip_state.data, one per chip id.  Bytes of
 * data after the layout are zero on GET and must be zero on SET.
 */
#define KVISOR_PIC_ICW4_NEEDED	(1u << 0)	/* ICW1.IC4 */
#define KVISOR_PIC_SINGLE	(1u << 1)	/* ICW1.SNGL */
#define KVISOR_PIC_LTIM		(1u << 2)	/* ICW1.LTIM: all inputs level */
#define KVISOR_PIC_AUTO_EOI	(1u << 3)	/* ICW4.AEOI */
#define KVISOR_PIC_ROTATE_AEOI	(1u << 4)	/* OCW2 rotate in auto-EOI mode */
#define KVISOR_PIC_SPECIAL_MASK	(1u << 5)	/* OCW3 special mask mode */
#define KVISOR_PIC_SFNM		(1u << 6)	/* ICW4 special fully nested */
#define KVISOR_PIC_READ_ISR	(1u << 7)	/* OCW3: reads return ISR */
#define KVISOR_PIC_POLL		(1u << 8)	/* OCW3 poll: next read polls */
#define KVISOR_PIC_FLAGS	0x1ffu

/* KVISOR_IRQCHIP_PIC_MASTER, KVISOR_IRQCHIP_PIC_SLAVE */
struct kvisor_pic_state {
	__u8 irr;		/* interrupt request register */
	__u8 isr;		/* in-service register */
	__u8 imr;		/* interrupt mask register (OCW1) */
	__u8 elcr;		/* 1 = level (master 0xf8, slave 0xde settable) */
	__u8 vector_base;	/* ICW2: bits 2:0 zero */
	__u8 icw3;		/* master: slave inputs; slave: its id (0-7) */
	__u8 priority_base;	/* the highest-priority IRQ (rotation): 0-7 */
	__u8 init_step;		/* 0: ready; 1, 2, 3: ICW2, ICW3, ICW4 next */
	__u32 flags;		/* KVISOR_PIC_* */
};

#define KVISOR_IOAPIC_PINS	24
/* KVISOR_IRQCHIP_IOAPIC */
struct kvisor_ioapic_state {
	__u32 id;		/* IOAPICID: bits 27:24 */
	__u32 ioregsel;		/* IOREGSEL: bits 7:0 */
	/* 82093AA 3.2.4 layout; bits 55:17 and 12 (delivery status) zero */
	__u64 redir[KVISOR_IOAPIC_PINS];
};

#define KVISOR_PIT_LATCH_COUNT	(1u << 0)	/* latched_count is valid */
#define KVISOR_PIT_LATCH_STATUS	(1u << 1)	/* status byte latched */
#define KVISOR_PIT_READ_MSB	(1u << 2)	/* lobyte/hibyte: MSB next */
#define KVISOR_PIT_WRITE_MSB	(1u << 3)	/* lobyte/hibyte: MSB next */
#define KVISOR_PIT_LATCH_MSB	(1u << 4)	/* latched count: MSB next */
#define KVISOR_PIT_NULL_COUNT	(1u << 5)	/* control word written, no count */
#define KVISOR_PIT_COUNTING	(1u << 6)	/* counting (else holding) */
#define KVISOR_PIT_TRIGGERED	(1u << 7)	/* modes 1, 5: gate edge seen */
#define KVISOR_PIT_CH_FLAGS	0xffu

struct kvisor_pit_channel_state {
	__u32 count;		/* the count register: 1-0x10000 */
	__u16 latched_count;
	__u8 status;		/* the latched status byte */
	__u8 mode;		/* control word bits 5:0: RW, M (0-5), BCD */
	__u64 elapsed;		/* PIT ticks since the count was loaded */
	__u8 gate;		/* 0 or 1 (channels 0, 1: always 1) */
	__u8 write_lsb;		/* lobyte/hibyte: the LSB written first */
	__u8 padding[2];	/* zero */
	__u32 flags;		/* KVISOR_PIT_* */
};

/* KVISOR_IRQCHIP_PIT */
struct kvisor_pit_state {
	struct kvisor_pit_channel_state ch[3];
	__u8 port61;		/* port 0x61 bits 3:0 as written */
	__u8 padding[7];	/* zero */
};

/* ------------------------------------------------------------------ */
/* vCPU fd                                                            */
/* ------------------------------------------------------------------ */

struct kvisor_regs {
	__u64 rax, rbx, rcx, rdx;
	__u64 rsi, rdi, rsp, rbp;
	__u64 r8, r9, r10, r11;
	__u64 r12, r13, r14, r15;
	__u64 rip, rflags;
};

/*
 * A segment register with its hidden part.  SET_SREGS refuses (EINVAL)
 * fields out of range and, for a usable segment (present, not unusable),
 * a limit that G cannot express: G=1 needs limit bits 11:0 all ones, G=0
 * a limit below 2^20.  Documentation/api.rst has the TR and LDT rules.
 */
struct kvisor_segment {
	__u64 base;
	__u32 limit;		/* byte granular, as the CPU uses it */
	__u16 selector;
	__u8  type;		/* the 4-bit type field, without S: 0-15 */
	__u8  present, dpl, db, s, l, g, avl;	/* 0/1; dpl 0-3 */
	__u8  unusable;		/* 1: no usable descriptor (= present 0) */
	__u8  padding;
};

struct kvisor_dtable {
	__u64 base;
	__u16 limit;
	__u16 padding[3];
};

struct kvisor_sregs {
	struct kvisor_segment cs, ds, es, fs, gs, ss;
	struct kvisor_segment tr, ldt;
	struct kvisor_dtable gdt, idt;
	__u64 cr0, cr2, cr3, cr4, cr8;
	__u64 efer;		/* LMA is derived from LME and CR0.PG */
	__u64 apic_base;
};

struct kvisor_msr_entry {
	__u32 index;
	__u32 reserved;		/* must be 0 */
	__u64 data;
};

/*
 * KVISOR_GET_MSRS/KVISOR_SET_MSRS: nmsrs entries follow.  Both return the
 * number of entries processed; processing stops at the first MSR that is
 * unknown or whose value is refused.
 */
struct kvisor_msrs {
	__u32 nmsrs;		/* at most KVISOR_MAX_MSR_ENTRIES */
	__u32 padding;
	struct kvisor_msr_entry entries[];
};

#define KVISOR_MAX_MSR_ENTRIES		256

#define KVISOR_CPUID_FLAG_INDEXED	(1u << 0)	/* index matters */

struct kvisor_cpuid_entry {
	__u32 function;
	__u32 index;
	__u32 flags;		/* KVISOR_CPUID_FLAG_* */
	__u32 eax, ebx, ecx, edx;
	__u32 padding;
};

/*
 * KVISOR_SET_CPUID replaces the table the guest sees.  KVISOR_GET_CPUID
 * returns it (the default is the host's, filtered); if nent is too small
 * it fails with E2BIG and sets nent to the size needed.
 */
struct kvisor_cpuid {
	__u32 nent;		/* at most KVISOR_MAX_CPUID_ENTRIES */
	__u32 padding;
	struct kvisor_cpuid_entry entries[];
};

#define KVISOR_MAX_CPUID_ENTRIES	256

#define KVISOR_EVENT_EXCEPTION		1
#define KVISOR_EVENT_INTERRUPT		2	/* external, maskable */
#define KVISOR_EVENT_NMI		3

#define KVISOR_EVENT_HAS_ERROR_CODE	(1u << 0)

struct kvisor_event {
	__u32 type;		/* KVISOR_EVENT_* */
	__u32 vector;		/* exceptions 0-31, interrupts 32-255 */
	__u32 error_code;
	__u32 flags;		/* KVISOR_EVENT_* flags */
};

/*
 * Exit counters: KVISOR_GET_STATS fills counters[] indexed by
 * KVISOR_STAT_*; every hardware exit (failed entries included) counts
 * once in KVISOR_STAT_EXITS and once under its reason (KVISOR_STAT_HLT ..
 * KVISOR_STAT_OTHER, except KVISOR_STAT_SIGNAL), whether it was handled
 * in the kernel or not.  KVISOR_STAT_SIGNAL counts RUNs that returned
 * EINTR and is not a reason; nor are the counters from
 * KVISOR_STAT_HC_KERNEL on, which are details of one.
 */
#define KVISOR_STAT_EXITS		0
#define KVISOR_STAT_HLT			1
#define KVISOR_STAT_IO			2
#define KVISOR_STAT_MMIO		3
#define KVISOR_STAT_HYPERCALL		4
#define KVISOR_STAT_CPUID		5
#define KVISOR_STAT_MSR_READ		6
#define KVISOR_STAT_MSR_WRITE		7
#define KVISOR_STAT_NPF			8	/* nested page fault, mapped */
#define KVISOR_STAT_EXTERNAL_INTR	9
#define KVISOR_STAT_NMI			10
#define KVISOR_STAT_INTR_WINDOW		11
#define KVISOR_STAT_EXCEPTION		12
#define KVISOR_STAT_XSETBV		13
#define KVISOR_STAT_CR_ACCESS		14
#define KVISOR_STAT_SHUTDOWN		15
#define KVISOR_STAT_SIGNAL		16	/* RUN returned EINTR; no exit */
#define KVISOR_STAT_OTHER		17
/* hypercalls answered in the kernel (no exit to userspace) */
#define KVISOR_STAT_HC_KERNEL		18
/* bytes passed to userspace by KVISOR_HC_CONSOLE_WRITE */
#define KVISOR_STAT_HC_CONSOLE_BYTES	19
#define KVISOR_STAT_NR			20

struct kvisor_vcpu_stats {
	__u64 counters[64];	/* KVISOR_STAT_NR used; the rest are 0 */
};

#define KVISOR_RUN		_IO(KVISOR_IO, 0x20)
#define KVISOR_GET_REGS		_IOR(KVISOR_IO, 0x21, struct kvisor_regs)
#define KVISOR_SET_REGS		_IOW(KVISOR_IO, 0x22, struct kvisor_regs)
#define KVISOR_GET_SREGS	_IOR(KVISOR_IO, 0x23, struct kvisor_sregs)
#define KVISOR_SET_SREGS	_IOW(KVISOR_IO, 0x24, struct kvisor_sregs)
#define KVISOR_GET_MSRS		_IOWR(KVISOR_IO, 0x25, struct kvisor_msrs)
#define KVISOR_SET_MSRS		_IOW(KVISOR_IO, 0x26, struct kvisor_msrs)
#define KVISOR_SET_CPUID	_IOW(KVISOR_IO, 0x27, struct kvisor_cpuid)
#define KVISOR_GET_CPUID	_IOWR(KVISOR_IO, 0x28, struct kvisor_cpuid)
#define KVISOR_INJECT_EVENT	_IOW(KVISOR_IO, 0x29, struct kvisor_event)
#define KVISOR_GET_STATS	_IOR(KVISOR_IO, 0x2a, struct kvisor_vcpu_stats)

/* With an irqchip: the local APIC's register page (xAPIC layout). */
struct kvisor_lapic_state {
	__u8 regs[1024];
};
#define KVISOR_GET_LAPIC	_IOR(KVISOR_IO, 0x2b, struct kvisor_lapic_state)
#define KVISOR_SET_LAPIC	_IOW(KVISOR_IO, 0x2c, struct kvisor_lapic_state)

/* With an irqchip: a vCPU's run state (SMP start-up by INIT/SIPI). */
#define KVISOR_MP_STATE_RUNNABLE	0
#define KVISOR_MP_STATE_HALTED		1
#define KVISOR_MP_STATE_WAIT_SIPI	2
struct kvisor_mp_state {
	__u32 state;		/* KVISOR_MP_STATE_* */
	__u32 padding;
};
#define KVISOR_GET_MP_STATE	_IOR(KVISOR_IO, 0x2d, struct kvisor_mp_state)
#define KVISOR_SET_MP_STATE	_IOW(KVISOR_IO, 0x2e, struct kvisor_mp_state)

/* ------------------------------------------------------------------ */
/* The run structure, mmap()ed from a vCPU fd at offset 0             */
/* ------------------------------------------------------------------ */

#define KVISOR_EXIT_UNKNOWN		0	/* before the first RUN only */
#define KVISOR_EXIT_HLT			1
#define KVISOR_EXIT_IO			2
#define KVISOR_EXIT_MMIO		3
#define KVISOR_EXIT_HYPERCALL		4
#define KVISOR_EXIT_SHUTDOWN		5	/* triple fault */
#define KVISOR_EXIT_FAIL_ENTRY		6
#define KVISOR_EXIT_INTR		7	/* RUN returned -EINTR */
#define KVISOR_EXIT_INTERNAL_ERROR	8
#define KVISOR_EXIT_IRQ_WINDOW_OPEN	9

#define KVISOR_EXIT_IO_IN		0
#define KVISOR_EXIT_IO_OUT		1

#define KVISOR_INTERNAL_ERROR_EMULATION	1	/* undecodable MMIO insn */
#define KVISOR_INTERNAL_ERROR_UNEXPECTED 2	/* unhandled hardware exit */

struct kvisor_run {
	/* in: set by userspace before KVISOR_RUN */
	__u8 request_interrupt_window;
	__u8 immediate_exit;	/* never cleared by the kernel */
	__u8 padding1[6];

	/* out: set by the kernel when KVISOR_RUN returns */
	__u32 exit_reason;			/* KVISOR_EXIT_* */
	__u8 ready_for_interrupt_injection;
	__u8 if_flag;
	__u8 nmi_blocked;	/* an NMI would wait for the guest's IRET */
	__u8 padding2;
	__u64 padding3;

	union {
		/* KVISOR_EXIT_FAIL_ENTRY */
		struct {
			__u64 hardware_reason;	/* VMX exit reason / SVM code */
			__u64 error;		/* VM-instruction error */
			__u32 cpu;
			__u32 padding;
		} fail_entry;
		/*
		 * KVISOR_EXIT_IO: count items of size bytes each, at
		 * data_offset from the start of this structure.  For IN,
		 * userspace writes them there before the next RUN.
		 */
		struct {
			__u8 direction;		/* KVISOR_EXIT_IO_* */
			__u8 size;		/* 1, 2 or 4 */
			__u16 port;
			__u32 count;
			__u64 data_offset;
		} io;
		/*
		 * KVISOR_EXIT_MMIO: for a read, fill data (zeroed by the
		 * kernel) before the next RUN; RIP stays at the instruction
		 * until then.
		 */
		struct {
			__u64 phys_addr;
			__u8 data[8];
			__u32 len;		/* 1, 2, 4, 8; 1-7: split store */
			__u8 is_write;
			__u8 padding[3];
		} mmio;
		/*
		 * KVISOR_EXIT_HYPERCALL: userspace may change ret, the
		 * guest's RAX.  Only KVISOR_HC_CONSOLE_WRITE, KVISOR_HC_EXIT
		 * and the KVISOR_HC_VMM_* range get here (<linux/
		 * kvisor_para.h>).  For a console write the kernel copied
		 * the guest's data_len bytes to data_offset from the start
		 * of this structure; data_len is 0 otherwise.
		 */
		struct {
			__u64 nr;
			__u64 args[4];
			__u64 ret;
			__u32 data_offset;
			__u32 data_len;
		} hypercall;
		/*
		 * KVISOR_EXIT_INTERNAL_ERROR.  EMULATION: gpa accessed, and
		 * insn_len valid bytes read at CS:RIP (up to 15; 0 for a
		 * fetch outside RAM), not the instruction's length;
		 * hardware_reason 0.  UNEXPECTED: hardware_reason, and gpa
		 * for a nested page fault.  RIP is not moved.
		 */
		struct {
			__u32 suberror;		/* KVISOR_INTERNAL_ERROR_* */
			__u32 insn_len;
			__u8 insn_bytes[16];
			__u64 hardware_reason;
			__u64 gpa;
		} internal;
		char padding[256];
	};
};

#endif /* _UAPI_LINUX_KVISOR_H */
