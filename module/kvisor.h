/* SPDX-License-Identifier: GPL-2.0 */
/* kvisor core: what the files of module/ share. */
#ifndef KVISOR_H
#define KVISOR_H

#include <linux/kref.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/types.h>
#include <asm/msr-index.h>
#include <asm/fpu/api.h>
#include <asm/fpu/types.h>
#include <linux/kvisor.h>
#include "arch.h"
#include "decode.h"
#include "io/irqchip.h"

/*
 * Limits, reported by KVISOR_CHECK_EXTENSION (Documentation/api.rst).
 *
 * Errno values of the VM and vCPU ioctls (for Documentation/api.rst):
 *
 *   any fd, unknown ioctl or ioctl of another fd type      ENOTTY
 *   KVISOR_CREATE_VM      arg != 0                          EINVAL
 *                         CPU lacks EPT/NPT or unrestricted
 *                         guest (see CHECK_EXTENSION)      EOPNOTSUPP
 *                         KVM or another hypervisor holds
 *                         the hardware                      EBUSY
 *   KVISOR_SET_MEMORY_REGION
 *                         slot >= KVISOR_MAX_MEM_SLOTS,
 *                         unknown flags, guest address, size
 *                         or user address not page aligned,
 *                         guest range wraps or goes beyond
 *                         the guest-physical limit (2^48 or
 *                         the CPU's physical width), single
 *                         region > KVISOR_MAX_MEMORY_MB     EINVAL
 *                         slot in use (delete it first), or
 *                         guest range overlaps another slot EEXIST
 *                         VM total > KVISOR_MAX_MEMORY_MB   ENOSPC
 *                         RLIMIT_MEMLOCK exceeded (without
 *                         CAP_IPC_LOCK), out of memory      ENOMEM
 *                         user range not mapped/accessible  EFAULT
 *                         caller is not the VM's process    EIO
 *                         size 0 on a free slot: no-op      0
 *   KVISOR_CREATE_VCPU    id >= KVISOR_MAX_VCPUS            EINVAL
 *                         id already created                EEXIST
 *                         caller is not the VM's process    EIO
 *   KVISOR_RUN            arg != 0                          EINVAL
 *                         caller is not the VM's process    EIO
 *                         signal pending or immediate_exit  EINTR
 *                         (exit_reason KVISOR_EXIT_INTR)
 *                         (a second thread's RUN waits for the first)
 *                         out of memory for nested tables   ENOMEM
 *   KVISOR_SET_REGS/SREGS nonzero padding, unknown EFER bits,
 *                         CR0/CR4 bits 63:32, CR8 > 15      EINVAL
 *   KVISOR_GET/SET_MSRS   nmsrs > KVISOR_MAX_MSR_ENTRIES,
 *                         nonzero padding or reserved       EINVAL
 *                         (otherwise: count processed, see uapi)
 *   KVISOR_SET_CPUID      nent > KVISOR_MAX_CPUID_ENTRIES,
 *                         nonzero padding, unknown flags    EINVAL
 *   KVISOR_GET_CPUID      nent too small (nent updated)     E2BIG
 *   KVISOR_INJECT_EVENT   unknown type/flags, vector out of
 *                         range for the type, error-code
 *                         flag not matching the vector      EINVAL
 *                         an event of that type is queued   EBUSY
 *   bad user pointer anywhere                               EFAULT
 */
#define KVISOR_MAX_VCPUS	16
#define KVISOR_MAX_MEM_SLOTS	32
#define KVISOR_MAX_MEMORY_MB	(64 * 1024)

/* The backend in use and what it found; set once at module load. */
extern const struct kvisor_arch_ops *kvisor_ops;
extern struct kvisor_arch_caps kvisor_caps;

/* hw.c: virtualization on every online CPU while there is a user. */
int kvisor_hw_init(void);
void kvisor_hw_exit(void);
int kvisor_hw_get(void);
void kvisor_hw_put(void);
bool kvisor_hw_enabled(void);

/* ------------------------------------------------------------------ */

/* ModRM register numbers; gpr[] of a vCPU is indexed by them. */
enum {
	KVISOR_RAX, KVISOR_RCX, KVISOR_RDX, KVISOR_RBX,
	KVISOR_RSP, KVISOR_RBP, KVISOR_RSI, KVISOR_RDI,
	KVISOR_R8, KVISOR_R9, KVISOR_R10, KVISOR_R11,
	KVISOR_R12, KVISOR_R13, KVISOR_R14, KVISOR_R15,
	KVISOR_NR_GPRS
};

struct kvisor_memslot {
	u64 gfn;		/* first guest frame */
	u64 npages;		/* 0: slot free */
	u64 uaddr;
	u32 flags;		/* KVISOR_MEM_* */
	struct page **pages;	/* pinned, npages entries */
};

struct kvisor_vcpu;

#define KVISOR_MMU_CACHE_PAGES	8	/* enough for one 5-level map */

/* Free pages for nested tables, filled outside mmu_lock. */
struct kvisor_mmu_cache {
	struct page *pages[KVISOR_MMU_CACHE_PAGES];
	unsigned int nr;
};

struct kvisor_vm {
	struct kref ref;		/* VM fd + one per vCPU fd */
	struct mm_struct *mm;		/* the creator's, mmgrab()ed */
	struct mutex lock;		/* slots (writers), vCPU table */
	spinlock_t mmu_lock;		/* slots (readers), nested tables */
	struct kvisor_memslot slots[KVISOR_MAX_MEM_SLOTS];
	u64 total_pages;		/* pinned over all slots */
	struct kvisor_vcpu *vcpus[KVISOR_MAX_VCPUS];
	/* nested page tables; format from kvisor_ops->npt */
	struct page *npt_root;
	unsigned int npt_levels;
	/* bumped when nested translations were removed: new tags needed */
	atomic64_t tlb_gen;
	void *arch;
	/* KVISOR_CREATE_IRQCHIP: NULL until then (module/io/irq.c) */
	struct kvisor_irqchip *irqchip;
	/* vCPUs created or being created, under lock: irqchip comes first */
	u32 created_vcpus;
};

/* What RUN must finish before entering the guest again. */
enum kvisor_pending {
	KVISOR_PENDING_NONE,
	KVISOR_PENDING_PIO_IN,		/* copy run->io data to AL/AX/EAX */
	KVISOR_PENDING_PIO_INS,		/* copy run->io data to ES:rDI */
	KVISOR_PENDING_PIO_OUTS,	/* advance rSI/rCX */
	KVISOR_PENDING_MMIO_READ,	/* run->mmio.data to the destination */
	KVISOR_PENDING_HYPERCALL,	/* run->hypercall.ret to RAX */
};

struct kvisor_vcpu {
	struct kvisor_vm *vm;
	u32 id;
	struct mutex mutex;		/* one ioctl at a time per vCPU */
	struct kvisor_run *run;		/* shared with userspace */

	/* guest registers the core owns; the backend syncs rsp/rip/rflags */
	u64 gpr[KVISOR_NR_GPRS];
	u64 rip;
	u64 rflags;

	struct fpu_guest guest_fpu;
	u64 xcr0;
	u64 apic_base;
	u64 tsc_aux;
	u64 mtrr_def_type;		/* IA32_MTRR_DEF_TYPE */
	u64 amd_hwcr, amd_nb_cfg;	/* AMD: MSR_K7_HWCR, MSR_AMD64_NB_CFG */
	unsigned long dr[4];		/* guest DR0-3 */
	u32 pkru;			/* guest PKRU */
	bool shutdown;			/* triple fault: RUN needs SET_SREGS */

	/* userspace-injected events, delivered at the next entry */
	struct kvisor_event exception;
	bool exception_pending;
	bool nmi_pending;
	bool irq_pending;
	u8 irq_vector;
	/*
	 * The single-step #DB after an instruction kvisor completed, due
	 * at the next entry if RIP and EFLAGS.TF are still as they were
	 * (userspace may have changed them meanwhile).
	 */
	bool singlestep_pending;
	u64 singlestep_rip;

	/* an exit handed to userspace that RUN completes */
	enum kvisor_pending pending;
	struct kvisor_insn insn;	/* KVISOR_PENDING_MMIO_READ */
	u64 pending_addr;		/* linear address for INS/MOVS */
	u32 pending_count;

	struct kvisor_cpuid_entry *cpuid;
	u32 cpuid_nent;

	struct kvisor_vcpu_stats stats;

	struct kvisor_mmu_cache mmu_cache;

	void *arch;
	/* the local APIC, in an irqchip VM (module/io/lapic.c) */
	struct kvisor_lapic *lapic;
};

/* The neutral form of an exit: the backend decodes its own once. */
enum kvisor_exit_kind {
	KVISOR_X_NONE,		/* backend handled it: just re-enter */
	KVISOR_X_EXT_INTR,
	KVISOR_X_NMI,
	KVISOR_X_IRQ_WINDOW,
	KVISOR_X_HLT,
	KVISOR_X_IO,
	KVISOR_X_NPF,
	KVISOR_X_HYPERCALL,
	KVISOR_X_CPUID,
	KVISOR_X_RDMSR,
	KVISOR_X_WRMSR,
	KVISOR_X_XSETBV,
	KVISOR_X_RDTSCP,
	KVISOR_X_NOP_INSN,	/* INVD, WBINVD: skip */
	KVISOR_X_UD,		/* virtualization insns: inject #UD */
	KVISOR_X_UD_FAULT,	/* the guest raised #UD: a hypercall or not */
	KVISOR_X_SHUTDOWN,
	KVISOR_X_FAIL_ENTRY,
	KVISOR_X_UNEXPECTED,
	KVISOR_X_EXCEPTION,	/* reflect exc.vector (#DB, #AC, #GP) to the guest */
	KVISOR_X_ICEBP,		/* INT1 (F1): a trap #DB after it */
};

struct kvisor_exit {
	enum kvisor_exit_kind kind;
	u32 insn_len;		/* of the exiting instruction, 0 if none */
	u64 hw_reason;		/* vendor exit code, for traces and errors */
	u64 hw_info;
	/*
	 * insn_len is the length of the unprefixed instruction: the
	 * hardware did not report it (AMD-V without NRIP save), and the
	 * core adds the prefixes it reads at CS:RIP.
	 */
	bool insn_unprefixed;
	union {
		struct {
			u16 port;
			u8 size;	/* 1, 2, 4 */
			u8 addr_size;	/* 2, 4, 8 as reported; see exit.c */
			bool in, string, rep;
		} io;
		struct {
			u64 gpa;
			bool write, fetch, present;
			/* on the guest's own paging structures, not the data */
			bool walk;
		} npf;
		struct {
			u8 vector;
			bool has_error;
			u32 error;
		} exc;
	};
};

/*
 * A segment's attributes packed as in the descriptor's bytes 5 and 6
 * without the limit nibble: bits 0-3 type, 4 S, 5-6 DPL, 7 P, 8 AVL,
 * 9 L, 10 D/B, 11 G.  The VMCB stores exactly this (AMD APM Vol. 2,
 * 15.5.1 "segment attrib"); the VMCS access rights put bits 8-11 at
 * 12-15 (Intel SDM Vol. 3C, 24.4.1).  "unusable" is the caller's.
 */
static inline u16 kvisor_seg_attr(const struct kvisor_segment *s)
{
	return (s->type & 0xf) | (s->s & 1) << 4 | (s->dpl & 3) << 5 |
	       (s->present & 1) << 7 | (s->avl & 1) << 8 | (s->l & 1) << 9 |
	       (s->db & 1) << 10 | (s->g & 1) << 11;
}

static inline void kvisor_seg_set_attr(struct kvisor_segment *s, u16 a)
{
	s->type = a & 0xf;
	s->s = (a >> 4) & 1;
	s->dpl = (a >> 5) & 3;
	s->present = (a >> 7) & 1;
	s->avl = (a >> 8) & 1;
	s->l = (a >> 9) & 1;
	s->db = (a >> 10) & 1;
	s->g = (a >> 11) & 1;
	s->padding = 0;
}

/* 64-bit mode: EFER.LMA and CS.L (compatibility mode is not). */
static inline bool kvisor_long_mode(const struct kvisor_sregs *s)
{
	return (s->efer & EFER_LMA) && s->cs.l;
}

/* IA32_MTRR_DEF_TYPE fields (SDM Vol. 3A 11.11.2.1), HWCR.TscFreqSel */
#define KVISOR_MTRR_DEF_E		BIT_ULL(11)
#define KVISOR_MTRR_DEF_TYPE		0xffULL
#define KVISOR_K7_HWCR_TSCFREQSEL	BIT_ULL(24)

/* x86 exception vectors the core injects. */
#define KVISOR_DB_VECTOR	1
#define KVISOR_NMI_VECTOR	2
#define KVISOR_UD_VECTOR	6
#define KVISOR_GP_VECTOR	13
#define KVISOR_PF_VECTOR	14
#define KVISOR_AC_VECTOR	17
#define KVISOR_MC_VECTOR	18

/* vm.c */
int kvisor_vm_create(void);
long kvisor_check_extension(unsigned long cap);
struct kvisor_memslot *kvisor_gfn_to_slot(struct kvisor_vm *vm, u64 gfn);
void kvisor_vm_put(struct kvisor_vm *vm);

/* vcpu.c */
int kvisor_vcpu_create(struct kvisor_vm *vm, unsigned long id);
void kvisor_vcpu_queue_exception(struct kvisor_vcpu *vcpu, u32 vector,
				 bool has_error, u32 error);

/* mmu.c */
int kvisor_mmu_init(struct kvisor_vm *vm);
void kvisor_mmu_destroy(struct kvisor_vm *vm);
int kvisor_mmu_pin_slot(struct kvisor_vm *vm, struct kvisor_memslot *slot);
void kvisor_mmu_unpin_slot(struct kvisor_vm *vm, struct kvisor_memslot *slot);
void kvisor_mmu_zap_range(struct kvisor_vm *vm, u64 gfn, u64 npages);
void kvisor_mmu_flush_vm(struct kvisor_vm *vm);
int kvisor_mmu_topup_cache(struct kvisor_mmu_cache *cache);
void kvisor_mmu_free_cache(struct kvisor_mmu_cache *cache);
/* 1: mapped; 0: not RAM or write to read-only (MMIO); <0 error */
int kvisor_mmu_map_gpa(struct kvisor_vcpu *vcpu, u64 gpa, bool write);
void kvisor_mmu_prefault_slot(struct kvisor_vm *vm,
			      const struct kvisor_memslot *slot);
int kvisor_read_gpa(struct kvisor_vm *vm, u64 gpa, void *buf, unsigned int len);
int kvisor_write_gpa(struct kvisor_vm *vm, u64 gpa, const void *buf,
		     unsigned int len);
int kvisor_gva_to_gpa(struct kvisor_vcpu *vcpu,
		      const struct kvisor_sregs *sregs, u64 gva, u64 *gpa);
/* #PF error code bits (Intel SDM Vol. 3A 4.7) */
#define KVISOR_PFEC_PRESENT	BIT(0)
#define KVISOR_PFEC_WRITE	BIT(1)
#define KVISOR_PFEC_USER	BIT(2)
#define KVISOR_PFEC_RSVD	BIT(3)
#define KVISOR_PFEC_FETCH	BIT(4)
int kvisor_gva_translate(struct kvisor_vcpu *vcpu,
			 const struct kvisor_sregs *s, u64 rflags, u64 gva,
			 u32 access, u64 *gpa, u32 *pfec);
int kvisor_read_gva(struct kvisor_vcpu *vcpu, const struct kvisor_sregs *sregs,
		    u64 gva, void *buf, unsigned int len);
int kvisor_write_gva(struct kvisor_vcpu *vcpu, const struct kvisor_sregs *sregs,
		     u64 gva, const void *buf, unsigned int len);

/*
 * hypercall.c: the ABI of <linux/kvisor_para.h>.  kvisor_hypercall()
 * handles a hypercall instruction of @insn_len bytes at the guest's RIP,
 * as kvisor_exit_handle() returns.  kvisor_hypercall_insn() returns the
 * length (prefixes included) of the VMCALL or VMMCALL at RIP, or 0 when
 * the instruction is neither (for a #UD intercept).
 */
#define KVISOR_HC_ABI_VERSION	1
/* Where IN/OUT string data and console-write bytes go in the run page. */
#define KVISOR_RUN_DATA_OFFSET	512
#define KVISOR_HC_INSN_LEN	3
int kvisor_hypercall(struct kvisor_vcpu *vcpu, u32 insn_len);
u32 kvisor_hypercall_insn(struct kvisor_vcpu *vcpu);
void kvisor_hypercall_cpuid(struct kvisor_cpuid_entry *sig,
			    struct kvisor_cpuid_entry *features);

/* exit.c */
int kvisor_exit_handle(struct kvisor_vcpu *vcpu, struct kvisor_exit *x);
u64 kvisor_rip_linear(struct kvisor_vcpu *vcpu, const struct kvisor_sregs *s);
int kvisor_exit_complete_pending(struct kvisor_vcpu *vcpu);
void kvisor_skip_insn(struct kvisor_vcpu *vcpu, u32 len);
void kvisor_queue_debug_trap(struct kvisor_vcpu *vcpu, unsigned long dr6);
int kvisor_cpuid_init_default(struct kvisor_vcpu *vcpu);
int kvisor_msr_get(struct kvisor_vcpu *vcpu, u32 index, u64 *data);
int kvisor_msr_set(struct kvisor_vcpu *vcpu, u32 index, u64 data, bool host);

#endif /* KVISOR_H */
