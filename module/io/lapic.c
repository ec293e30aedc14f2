// SPDX-License-Identifier: GPL-2.0
/*
 * The local APIC of a vCPU in an irqchip VM (Intel SDM Vol. 3A, ch. 11
 * "Advanced Programmable Interrupt Controller"; AMD APM Vol. 2, ch. 16).
 *
 * State: the 1 KiB xAPIC register page (the layout KVISOR_GET/SET_LAPIC
 * use), plus the timer, the run state (mp_state) and the requests other
 * contexts leave for the vCPU's own thread.
 *
 * Who touches what:
 *  - The vCPU's own thread (exits, vCPU ioctls under vcpu->mutex) owns
 *    every register and the timer.
 *  - Other vCPUs' threads, the IOAPIC/MSI paths and irqfds deliver
 *    interrupts: they set IRR/TMR (or queue an NMI/INIT/SIPI) under the
 *    LAPIC's spinlock, set a request bit and kick (module/io/irqchip.h).
 *    They find their targets in vm->vcpus[] under rcu_read_lock(); vcpu.c
 *    clears the slot and waits for a grace period before freeing a vCPU.
 *  - The timer's hrtimer callback only sets KVISOR_REQ_TIMER and kicks.
 * A kick wakes the vCPU if it sleeps (HLT, wait-for-SIPI) and sends the
 * reschedule IPI to its host CPU if it is in guest mode, so that it exits
 * and sees the request at the next entry (the order of the checks in
 * kvisor_lapic_enter() and lapic_kick() makes the request never lost).
 *
 * Also here: INIT/SIPI (SDM 9.4, table 9-1), HLT that sleeps, the CPUID
 * bits of an irqchip VM and the KVM-compatible paravirtual clock.
 */
#include <linux/errno.h>
#include <linux/hrtimer.h>
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/math64.h>
#include <linux/rcupdate.h>
#include <linux/sched/signal.h>
#include <linux/slab.h>
#include <linux/smp.h>
#include <linux/timekeeping.h>
#include <linux/uaccess.h>
#include <linux/wait.h>
#include <asm/cpufeature.h>
#include <asm/msr-index.h>
#include <asm/processor-flags.h>
#include <asm/tsc.h>

#include "../kvisor.h"
#include "lapic.h"

/* Register offsets in the xAPIC page (SDM table 11-1). */
#define LAPIC_ID		0x20
#define LAPIC_VER	0x30
#define LAPIC_TPR	0x80
#define LAPIC_APR	0x90
#define LAPIC_PPR	0xa0
#define LAPIC_EOI	0xb0
#define LAPIC_RRD	0xc0
#define LAPIC_LDR	0xd0
#define LAPIC_DFR	0xe0
#define LAPIC_SVR	0xf0
#define LAPIC_ISR	0x100
#define LAPIC_TMR	0x180
#define LAPIC_IRR	0x200
#define LAPIC_ESR	0x280
#define LAPIC_ICR	0x300
#define LAPIC_ICR2	0x310
#define LAPIC_LVTT	0x320
#define LAPIC_LVTTHMR	0x330
#define LAPIC_LVTPC	0x340
#define LAPIC_LVT0	0x350
#define LAPIC_LVT1	0x360
#define LAPIC_LVTERR	0x370
#define LAPIC_TMICT	0x380
#define LAPIC_TMCCT	0x390
#define LAPIC_TDCR	0x3e0
#define LAPIC_SELF_IPI	0x3f0	/* x2APIC only */

/* Version: integrated APIC (0x14), max LVT entry 5 (6 LVTs, no CMCI). */
#define LAPIC_VERSION	0x00050014

#define LAPIC_SVR_ENABLE		BIT(8)
#define LAPIC_LVT_MASKED		BIT(16)
#define LAPIC_LVT_DM(v)		(((v) >> 8) & 7)
#define LAPIC_LVT_TIMER_MODE(v)	(((v) >> 17) & 3)
#define TIMER_ONESHOT		0
#define TIMER_PERIODIC		1
#define TIMER_TSC_DEADLINE	2

/* Writable bits (SDM figures 11-8, 11-12, 11-23, 11-31). */
#define LVTT_MASK	0x700ffu
#define LVT_PM_MASK	0x107ffu	/* thermal, performance counters */
#define LVT_LINT_MASK	0x1a7ffu	/* LINT0, LINT1 */
#define LVTERR_MASK	0x100ffu
#define SVR_MASK	0x3ffu
#define ICR_LOW_MASK	0xccfffu
#define TDCR_MASK	0xbu
/*
 * ESR bits: send/receive checksum (0, 1), accept (2, 3), redirectable
 * IPI (4), send/receive illegal vector (5, 6), illegal register (7).
 */
#define ESR_SEND_ILLEGAL	BIT(5)
#define ESR_RECV_ILLEGAL	BIT(6)
#define ESR_ILLEGAL_REG		BIT(7)

#define LAPIC_BASE_BSP		BIT_ULL(8)
#define LAPIC_BASE_EXTD		BIT_ULL(10)
#define LAPIC_BASE_EN		BIT_ULL(11)

/*
 * The APIC timer counts at 1 GHz (one count per ns before the divider):
 * the "bus clock" is ours to choose, and Linux learns the TSC rate from
 * the paravirtual clock and uses the TSC-deadline mode anyway.
 */
#define LAPIC_BUS_NS		1
/*
 * A periodic timer fires at most every 200 us (the rationale of KVM's
 * min_timer_period_us): each period costs the host an hrtimer interrupt,
 * a kick and a guest exit, so a guest programming a 1-count period would
 * otherwise turn a host CPU into an interrupt storm; 5000 ticks per
 * second is far above any OS tick (Linux: HZ <= 1000).  One-shot and
 * TSC-deadline timers need an exit to re-arm each time and are not
 * limited.
 */
#define LAPIC_MIN_PERIOD_NS	200000ULL

/* The KVM paravirtual clock (Documentation/virt/kvm/x86/msr.rst). */
#define MSR_KVM_WALL_CLOCK_NEW	0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW	0x4b564d01
#define KVM_CPUID_BASE		0x40000100
#define KVM_FEATURE_CLOCKSOURCE2		BIT(3)
#define KVM_FEATURE_CLOCKSOURCE_STABLE_BIT	BIT(24)
#define PVCLOCK_TSC_STABLE	BIT(0)

struct pvclock_time_info {
	u32 version;
	u32 pad0;
	u64 tsc_timestamp;
	u64 system_time;
	u32 tsc_to_system_mul;
	s8 tsc_shift;
	u8 flags;
	u8 pad[2];
} __packed;

struct pvclock_wall {
	u32 version;
	u32 sec;
	u32 nsec;
} __packed;

/* Requests: work another context left for the vCPU's thread. */
enum {
	KVISOR_REQ_EVENT,	/* IRR or the PIC's output changed */
	KVISOR_REQ_TIMER,	/* the APIC timer expired */
	KVISOR_REQ_NMI,		/* an NMI was delivered */
	KVISOR_REQ_INIT,	/* INIT */
	KVISOR_REQ_SIPI,	/* start-up IPI, vector in sipi_vector */
	KVISOR_REQ_CLOCK,	/* rewrite the pvclock page */
};

enum { LAPIC_OUTSIDE_GUEST, LAPIC_IN_GUEST };

struct kvisor_lapic {
	struct kvisor_vcpu *vcpu;
	spinlock_t lock;		/* IRR, TMR, ISR, esr_pending */
	u8 regs[1024] __aligned(16);

	unsigned long requests;
	int mode;			/* LAPIC_*: for kicks */
	int cpu;			/* the host CPU while in the guest */
	wait_queue_head_t wq;		/* the vCPU sleeps here */
	atomic_t nmi_queued;
	u8 sipi_vector;
	u32 mp_state;			/* KVISOR_MP_STATE_* */
	bool hlt_reported;		/* cli;hlt told to userspace */
	u8 cr8;				/* TPR[7:4] as last given to the guest */
	u32 esr_pending;		/* errors since the last ESR write */

	/* the timer, owned by the vCPU thread */
	struct hrtimer timer;
	u64 period_ns;			/* periodic mode */
	ktime_t target;			/* expiry of the running count */
	u64 count_ns;			/* the programmed count, in ns */
	u64 tsc_deadline;

	/* the paravirtual clock */
	u64 pv_system_time_msr;
	u64 pv_wall_clock_msr;
	u32 pv_version;
};

static inline u32 reg_get(struct kvisor_lapic *l, u32 off)
{
	return *(u32 *)(l->regs + off);
}

static inline void reg_set(struct kvisor_lapic *l, u32 off, u32 val)
{
	*(u32 *)(l->regs + off) = val;
}

static inline bool lapic_x2apic(struct kvisor_vcpu *vcpu)
{
	return (vcpu->apic_base & (LAPIC_BASE_EN | LAPIC_BASE_EXTD)) ==
	       (LAPIC_BASE_EN | LAPIC_BASE_EXTD);
}

static inline bool lapic_hw_enabled(struct kvisor_vcpu *vcpu)
{
	return vcpu->apic_base & LAPIC_BASE_EN;
}

static inline bool lapic_sw_enabled(struct kvisor_lapic *l)
{
	return reg_get(l, LAPIC_SVR) & LAPIC_SVR_ENABLE;
}

/* The 256-bit vector registers: eight 32-bit words 16 bytes apart. */
static inline bool vec_test(struct kvisor_lapic *l, u32 base, u8 v)
{
	return reg_get(l, base + (v >> 5) * 0x10) & BIT(v & 31);
}

static inline void vec_set(struct kvisor_lapic *l, u32 base, u8 v)
{
	u32 *w = (u32 *)(l->regs + base + (v >> 5) * 0x10);

	*w |= BIT(v & 31);
}

static inline void vec_clear(struct kvisor_lapic *l, u32 base, u8 v)
{
	u32 *w = (u32 *)(l->regs + base + (v >> 5) * 0x10);

	*w &= ~BIT(v & 31);
}

/* The highest vector set in ISR/IRR, -1 if none. */
static int vec_highest(struct kvisor_lapic *l, u32 base)
{
	int i;

	for (i = 7; i >= 0; i--) {
		u32 w = reg_get(l, base + i * 0x10);

		if (w)
			return i * 32 + __fls(w);
	}
	return -1;
}

/* PPR (SDM 11.8.3.1): the higher of the TPR and the ISR's class. */
static void lapic_update_ppr(struct kvisor_lapic *l)
{
	u32 tpr = reg_get(l, LAPIC_TPR);
	int isrv = vec_highest(l, LAPIC_ISR);
	u32 ppr;

	if (isrv < 0 || (tpr & 0xf0) >= ((u32)isrv & 0xf0))
		ppr = tpr & 0xff;
	else
		ppr = isrv & 0xf0;
	reg_set(l, LAPIC_PPR, ppr);
}

static u32 lapic_id(struct kvisor_vcpu *vcpu)
{
	struct kvisor_lapic *l = vcpu->lapic;

	return lapic_x2apic(vcpu) ? reg_get(l, LAPIC_ID) : reg_get(l, LAPIC_ID) >> 24;
}

/* x2APIC: LDR is derived from the ID (SDM 11.12.10.2). */
static u32 x2apic_ldr(u32 id)
{
	return ((id >> 4) << 16) | BIT(id & 0xf);
}

/* ---------------------------------------------------------------- */
/* Requests and kicks                                               */
/* ---------------------------------------------------------------- */

static void lapic_kick(struct kvisor_lapic *l)
{
	int cpu, me;

	/* the request bit is set: order it before reading mode and wq */
	smp_mb__after_atomic();
	if (wq_has_sleeper(&l->wq))
		wake_up_interruptible(&l->wq);
	if (READ_ONCE(l->mode) != LAPIC_IN_GUEST)
		return;
	cpu = READ_ONCE(l->cpu);
	me = get_cpu();
	/* a reschedule IPI makes the CPU leave the guest (an INTR exit) */
	if (cpu != me && cpu_online(cpu))
		smp_send_reschedule(cpu);
	put_cpu();
}

static void lapic_request(struct kvisor_lapic *l, int req)
{
	set_bit(req, &l->requests);
	lapic_kick(l);
}

/* ---------------------------------------------------------------- */
/* Accepting interrupts (SDM 11.8.3)                                */
/* ---------------------------------------------------------------- */

static void lapic_set_error(struct kvisor_lapic *l, u32 err)
{
	u32 lvt;

	l->esr_pending |= err;
	lvt = reg_get(l, LAPIC_LVTERR);
	if (!(lvt & LAPIC_LVT_MASKED) && lapic_sw_enabled(l) &&
	    (lvt & 0xff) >= 16) {
		vec_set(l, LAPIC_IRR, lvt & 0xff);
		vec_clear(l, LAPIC_TMR, lvt & 0xff);
	}
}

/* Under l->lock: a fixed interrupt arrives at this LAPIC. */
static bool lapic_accept_fixed(struct kvisor_lapic *l, u8 vector, bool level)
{
	if (!lapic_sw_enabled(l))
		return false;	/* held off while software-disabled (11.4.7.2) */
	if (vector < 16) {
		lapic_set_error(l, ESR_RECV_ILLEGAL);
		return true;
	}
	vec_set(l, LAPIC_IRR, vector);
	if (level)
		vec_set(l, LAPIC_TMR, vector);
	else
		vec_clear(l, LAPIC_TMR, vector);
	return true;
}

static int lapic_accept(struct kvisor_vcpu *vcpu, u8 delivery, u8 vector,
			bool level, bool assert)
{
	struct kvisor_lapic *l = vcpu->lapic;
	unsigned long flags;
	bool ok;

	if (!lapic_hw_enabled(vcpu))
		return 0;
	switch (delivery) {
	case KVISOR_DM_FIXED:
	case KVISOR_DM_LOWEST:
		spin_lock_irqsave(&l->lock, flags);
		ok = lapic_accept_fixed(l, vector, level);
		spin_unlock_irqrestore(&l->lock, flags);
		if (!ok)
			return 0;
		lapic_request(l, KVISOR_REQ_EVENT);
		return 1;
	case KVISOR_DM_NMI:
		atomic_inc(&l->nmi_queued);
		lapic_request(l, KVISOR_REQ_NMI);
		return 1;
	case KVISOR_DM_INIT:
		/* INIT level de-assert only resets arbitration IDs: nothing */
		if (level && !assert)
			return 0;
		lapic_request(l, KVISOR_REQ_INIT);
		return 1;
	case KVISOR_DM_SIPI:
		WRITE_ONCE(l->sipi_vector, vector);
		lapic_request(l, KVISOR_REQ_SIPI);
		return 1;
	case KVISOR_DM_EXTINT:
		lapic_request(l, KVISOR_REQ_EVENT);
		return 1;
	default:		/* SMI and reserved modes: not modelled */
		return 0;
	}
}

/* Does this LAPIC match the destination (SDM 11.6.2)? */
static bool lapic_match(struct kvisor_vcpu *vcpu, u32 dest, bool logical,
			bool x2apic_msg)
{
	struct kvisor_lapic *l = vcpu->lapic;
	bool x2 = lapic_x2apic(vcpu);
	u32 ldr, dfr;

	if (!x2apic_msg)
		dest &= 0xff;
	if (!logical) {
		if (x2apic_msg ? dest == 0xffffffff : dest == 0xff)
			return true;
		return lapic_id(vcpu) == dest;
	}
	if (x2) {
		if (dest == 0xffffffff || (!x2apic_msg && dest == 0xff))
			return true;
		if (!x2apic_msg)
			return false;
		ldr = reg_get(l, LAPIC_LDR);
		return (ldr >> 16) == (dest >> 16) && (ldr & dest & 0xffff);
	}
	if (dest == 0xff)
		return true;
	ldr = reg_get(l, LAPIC_LDR) >> 24;
	dfr = reg_get(l, LAPIC_DFR) >> 28;
	if (dfr == 0xf)					/* flat */
		return ldr & dest;
	/* cluster: high nibble the cluster, low nibble the members */
	return (ldr >> 4) == (dest >> 4) && (ldr & dest & 0xf);
}

static int deliver(struct kvisor_vm *vm, struct kvisor_vcpu *src,
		   const struct kvisor_irq_msg *m, bool x2apic_msg)
{
	struct kvisor_vcpu *v, *lowest = NULL;
	u32 lowest_ppr = ~0u;
	int i, n = 0;

	rcu_read_lock();
	for (i = 0; i < KVISOR_MAX_VCPUS; i++) {
		v = READ_ONCE(vm->vcpus[i]);
		if (!v || !v->lapic || !lapic_hw_enabled(v))
			continue;
		switch (m->shorthand) {
		case KVISOR_SH_SELF:
			if (v != src)
				continue;
			break;
		case KVISOR_SH_ALL:
			break;
		case KVISOR_SH_OTHERS:
			if (v == src)
				continue;
			break;
		default:
			if (!lapic_match(v, m->dest, m->logical, x2apic_msg))
				continue;
			break;
		}
		/* lowest priority: the matching LAPIC with the lowest PPR */
		if (m->delivery == KVISOR_DM_LOWEST &&
		    m->shorthand == KVISOR_SH_NONE) {
			u32 ppr = READ_ONCE(*(u32 *)(v->lapic->regs + LAPIC_PPR));

			if (lapic_sw_enabled(v->lapic) && ppr < lowest_ppr) {
				lowest_ppr = ppr;
				lowest = v;
			}
			continue;
		}
		n += lapic_accept(v, m->delivery, m->vector, m->level,
				  m->assert);
	}
	if (lowest)
		n += lapic_accept(lowest, KVISOR_DM_FIXED, m->vector, m->level,
				  m->assert);
	rcu_read_unlock();
	return n;
}

int kvisor_lapic_deliver(struct kvisor_vm *vm, struct kvisor_vcpu *src,
			 const struct kvisor_irq_msg *m)
{
	return deliver(vm, src, m, false);
}

/* An MSI (SDM 11.11.1 address, 11.11.2 data). */
int kvisor_lapic_deliver_msi(struct kvisor_vm *vm, u64 address, u32 data)
{
	struct kvisor_irq_msg m = {
		.dest = (address >> 12) & 0xff,
		.logical = address & BIT(2),
		.vector = data & 0xff,
		.delivery = (data >> 8) & 7,
		.level = data & BIT(15),
		.assert = data & BIT(14),
		.shorthand = KVISOR_SH_NONE,
	};

	if ((address & 0xfff00000) != 0xfee00000)
		return 0;
	return deliver(vm, NULL, &m, false);
}

/* LINT0 takes the PIC's INTR: ExtINT unmasked, or no APIC at all. */
static bool lapic_accepts_extint(struct kvisor_vcpu *vcpu)
{
	u32 lvt0 = reg_get(vcpu->lapic, LAPIC_LVT0);

	if (!lapic_hw_enabled(vcpu))
		return vcpu->id == 0;
	return !(lvt0 & LAPIC_LVT_MASKED) && LAPIC_LVT_DM(lvt0) == KVISOR_DM_EXTINT;
}

void kvisor_lapic_extint_changed(struct kvisor_vm *vm)
{
	struct kvisor_vcpu *v;
	int i;

	rcu_read_lock();
	for (i = 0; i < KVISOR_MAX_VCPUS; i++) {
		v = READ_ONCE(vm->vcpus[i]);
		if (v && v->lapic && lapic_accepts_extint(v))
			lapic_request(v->lapic, KVISOR_REQ_EVENT);
	}
	rcu_read_unlock();
}

/* ---------------------------------------------------------------- */
/* Interrupt delivery into the vCPU (called with interrupts off)    */
/* ---------------------------------------------------------------- */

/* The highest IRR vector PPR lets through (11.8.3.1), -1 if none. */
static int lapic_pending_vector(struct kvisor_lapic *l)
{
	int irr = vec_highest(l, LAPIC_IRR);

	if (irr < 0 || ((u32)irr & 0xf0) <= (reg_get(l, LAPIC_PPR) & 0xf0))
		return -1;
	return irr;
}

static bool lapic_extint_pending(struct kvisor_vcpu *vcpu)
{
	return lapic_accepts_extint(vcpu) && kvisor_pic_intr(vcpu->vm);
}

int kvisor_lapic_next_irq(struct kvisor_vcpu *vcpu, bool *extint)
{
	struct kvisor_lapic *l = vcpu->lapic;
	int v;

	*extint = false;
	if (lapic_extint_pending(vcpu)) {
		v = kvisor_pic_intack(vcpu->vm);
		if (v >= 0) {
			*extint = true;
			return v & 0xff;
		}
	}
	if (!lapic_hw_enabled(vcpu))
		return -1;
	spin_lock(&l->lock);
	v = lapic_pending_vector(l);
	spin_unlock(&l->lock);
	return v;
}

/* An interrupt waits (ExtINT or IRR above PPR), without acknowledging. */
bool kvisor_lapic_has_irq(struct kvisor_vcpu *vcpu)
{
	struct kvisor_lapic *l = vcpu->lapic;
	bool r;

	if (lapic_extint_pending(vcpu))
		return true;
	if (!lapic_hw_enabled(vcpu))
		return false;
	spin_lock(&l->lock);
	r = lapic_pending_vector(l) >= 0;
	spin_unlock(&l->lock);
	return r;
}

void kvisor_lapic_irq_injected(struct kvisor_vcpu *vcpu, int vector,
			       bool extint)
{
	struct kvisor_lapic *l = vcpu->lapic;

	if (extint)
		return;		/* the PIC's INTA cycle did the bookkeeping */
	spin_lock(&l->lock);
	vec_clear(l, LAPIC_IRR, vector);
	vec_set(l, LAPIC_ISR, vector);
	lapic_update_ppr(l);
	spin_unlock(&l->lock);
}

/* ---------------------------------------------------------------- */
/* The timer (SDM 11.5.4)                                           */
/* ---------------------------------------------------------------- */

static enum hrtimer_restart lapic_timer_fn(struct hrtimer *t)
{
	struct kvisor_lapic *l = container_of(t, struct kvisor_lapic, timer);
	u64 period = READ_ONCE(l->period_ns);

	lapic_request(l, KVISOR_REQ_TIMER);
	if (period) {
		hrtimer_forward_now(t, ns_to_ktime(period));
		return HRTIMER_RESTART;
	}
	return HRTIMER_NORESTART;
}

static u32 lapic_divide(struct kvisor_lapic *l)
{
	u32 d = reg_get(l, LAPIC_TDCR);
	u32 v = (d & 3) | ((d & 8) >> 1);

	return 1u << ((v + 1) & 7);	/* 111b: divide by 1 */
}

static void lapic_timer_stop(struct kvisor_lapic *l)
{
	hrtimer_cancel(&l->timer);
	WRITE_ONCE(l->period_ns, 0);
	l->count_ns = 0;
}

/* TMICT written (one-shot or periodic mode): start counting down. */
static void lapic_timer_start(struct kvisor_lapic *l)
{
	u32 lvtt = reg_get(l, LAPIC_LVTT);
	u64 ns = (u64)reg_get(l, LAPIC_TMICT) * lapic_divide(l) * LAPIC_BUS_NS;

	lapic_timer_stop(l);
	if (!ns)
		return;
	if (LAPIC_LVT_TIMER_MODE(lvtt) == TIMER_PERIODIC) {
		ns = max(ns, LAPIC_MIN_PERIOD_NS);
		WRITE_ONCE(l->period_ns, ns);
	}
	l->count_ns = ns;
	l->target = ktime_add_ns(ktime_get(), ns);
	hrtimer_start(&l->timer, l->target, HRTIMER_MODE_ABS_HARD);
}

/* TMCCT: what is left of the count, in timer counts (11.5.4). */
static u32 lapic_timer_current(struct kvisor_lapic *l)
{
	s64 left;
	u64 period;

	if (LAPIC_LVT_TIMER_MODE(reg_get(l, LAPIC_LVTT)) == TIMER_TSC_DEADLINE ||
	    !l->count_ns)
		return 0;
	left = ktime_to_ns(ktime_sub(hrtimer_get_expires(&l->timer),
				     ktime_get()));
	period = READ_ONCE(l->period_ns);
	if (left < 0) {
		if (!period || !hrtimer_active(&l->timer))
			return 0;
		left = period - (u64)(-left) % period;
	}
	if (!hrtimer_active(&l->timer) && !period)
		return 0;
	return div_u64((u64)left, lapic_divide(l) * LAPIC_BUS_NS);
}

static u64 lapic_guest_tsc(struct kvisor_vcpu *vcpu)
{
	u64 tsc;

	if (kvisor_ops->get_msr(vcpu, MSR_IA32_TSC, &tsc))
		tsc = rdtsc();
	return tsc;
}

/* IA32_TSC_DEADLINE written in TSC-deadline mode (11.5.4.1). */
static void lapic_tsc_deadline_arm(struct kvisor_vcpu *vcpu)
{
	struct kvisor_lapic *l = vcpu->lapic;
	u64 now_tsc, delta, ns;

	hrtimer_cancel(&l->timer);
	WRITE_ONCE(l->period_ns, 0);
	if (!l->tsc_deadline)
		return;
	now_tsc = lapic_guest_tsc(vcpu);
	if (l->tsc_deadline <= now_tsc || !tsc_khz) {
		lapic_request(l, KVISOR_REQ_TIMER);
		return;
	}
	delta = l->tsc_deadline - now_tsc;
	/* rounded up: never before the deadline in guest TSC */
	ns = mul_u64_u32_div(delta, 1000000, tsc_khz) + 1;
	l->target = ktime_add_ns(ktime_get(), ns);
	hrtimer_start(&l->timer, l->target, HRTIMER_MODE_ABS_HARD);
}

/* KVISOR_REQ_TIMER, in the vCPU's thread. */
static void lapic_timer_expired(struct kvisor_vcpu *vcpu)
{
	struct kvisor_lapic *l = vcpu->lapic;
	u32 lvtt = reg_get(l, LAPIC_LVTT);
	unsigned long flags;

	if (LAPIC_LVT_TIMER_MODE(lvtt) == TIMER_TSC_DEADLINE) {
		if (!l->tsc_deadline)
			return;		/* disarmed meanwhile */
		if (lapic_guest_tsc(vcpu) < l->tsc_deadline) {
			lapic_tsc_deadline_arm(vcpu);	/* early: not yet */
			return;
		}
		l->tsc_deadline = 0;	/* disarms itself (11.5.4.1) */
	} else if (!READ_ONCE(l->period_ns)) {
		l->count_ns = 0;	/* one-shot: done, TMCCT reads 0 */
	}
	if (lvtt & LAPIC_LVT_MASKED)
		return;
	spin_lock_irqsave(&l->lock, flags);
	lapic_accept_fixed(l, lvtt & 0xff, false);
	spin_unlock_irqrestore(&l->lock, flags);
}

/* ---------------------------------------------------------------- */
/* Reset, INIT, SIPI                                                */
/* ---------------------------------------------------------------- */

/* Power-up/INIT state of the registers (SDM 11.4.7.1); keeps the ID. */
static void lapic_reset_regs(struct kvisor_vcpu *vcpu)
{
	struct kvisor_lapic *l = vcpu->lapic;
	unsigned long flags;
	u32 off;

	lapic_timer_stop(l);
	l->tsc_deadline = 0;
	spin_lock_irqsave(&l->lock, flags);
	memset(l->regs, 0, sizeof(l->regs));
	reg_set(l, LAPIC_ID, lapic_x2apic(vcpu) ? vcpu->id : vcpu->id << 24);
	reg_set(l, LAPIC_VER, LAPIC_VERSION);
	reg_set(l, LAPIC_DFR, 0xffffffff);
	reg_set(l, LAPIC_SVR, 0xff);
	for (off = LAPIC_LVTT; off <= LAPIC_LVTERR; off += 0x10)
		reg_set(l, off, LAPIC_LVT_MASKED);
	if (lapic_x2apic(vcpu))
		reg_set(l, LAPIC_LDR, x2apic_ldr(vcpu->id));
	l->esr_pending = 0;
	spin_unlock_irqrestore(&l->lock, flags);
	atomic_set(&l->nmi_queued, 0);
}

static void lapic_set_mp_state(struct kvisor_lapic *l, u32 state)
{
	l->mp_state = state;
	l->hlt_reported = false;
}

/* INIT (SDM 9.1.1, table 9-1): the processor's INIT state. */
static void lapic_do_init(struct kvisor_vcpu *vcpu)
{
	struct kvisor_lapic *l = vcpu->lapic;
	struct kvisor_sregs s;
	int i;

	memset(&s, 0, sizeof(s));
	kvisor_ops->get_sregs(vcpu, &s);
	s.cs.selector = 0xf000;
	s.cs.base = 0xffff0000;
	s.cs.limit = 0xffff;
	s.cs.type = 0xb;
	s.cs.s = 1;
	s.cs.present = 1;
	s.cs.dpl = 0;
	s.cs.db = 0;
	s.cs.l = 0;
	s.cs.g = 0;
	s.cs.avl = 0;
	s.cs.unusable = 0;
	s.ds = s.cs;
	s.ds.selector = 0;
	s.ds.base = 0;
	s.ds.type = 3;
	s.es = s.ds;
	s.fs = s.ds;
	s.gs = s.ds;
	s.ss = s.ds;
	s.ldt = s.ds;
	s.ldt.type = 2;
	s.ldt.s = 0;
	s.tr = s.ds;
	s.tr.type = 0xb;
	s.tr.s = 0;
	s.gdt.base = 0;
	s.gdt.limit = 0xffff;
	s.idt.base = 0;
	s.idt.limit = 0xffff;
	s.cr0 = X86_CR0_ET;	/* as at creation: CD/NW clear (vcpu.c) */
	s.cr2 = 0;
	s.cr3 = 0;
	s.cr4 = 0;
	s.cr8 = 0;
	s.efer = 0;
	vcpu->rflags = X86_EFLAGS_FIXED;
	kvisor_ops->set_sregs(vcpu, &s);
	for (i = 0; i < KVISOR_NR_GPRS; i++)
		vcpu->gpr[i] = 0;
	vcpu->gpr[KVISOR_RDX] = cpuid_eax(1);
	vcpu->rip = 0xfff0;
	vcpu->exception_pending = false;
	vcpu->nmi_pending = false;
	vcpu->irq_pending = false;
	vcpu->pending = KVISOR_PENDING_NONE;
	vcpu->shutdown = false;
	lapic_reset_regs(vcpu);
	l->cr8 = 0;
	/* the BSP restarts at the reset vector, APs wait for a SIPI */
	lapic_set_mp_state(l, (vcpu->apic_base & LAPIC_BASE_BSP) ?
			   KVISOR_MP_STATE_RUNNABLE : KVISOR_MP_STATE_WAIT_SIPI);
}

/* SIPI (SDM 9.4.4): CS = vector << 8, base vector << 12, IP 0. */
static void lapic_do_sipi(struct kvisor_vcpu *vcpu, u8 vector)
{
	struct kvisor_sregs s;

	memset(&s, 0, sizeof(s));
	kvisor_ops->get_sregs(vcpu, &s);
	s.cs.selector = (u16)vector << 8;
	s.cs.base = (u64)vector << 12;
	kvisor_ops->set_sregs(vcpu, &s);
	vcpu->rip = 0;
	lapic_set_mp_state(vcpu->lapic, KVISOR_MP_STATE_RUNNABLE);
}

/* ---------------------------------------------------------------- */
/* The paravirtual clock (KVM's kvmclock ABI)                       */
/* ---------------------------------------------------------------- */

/*
 * ns = ((tsc << shift) * mul) >> 32 (shift right if negative), the
 * pvclock formula; mul/shift for the host's TSC rate, found once.
 */
static u32 pv_mul;
static s8 pv_shift;

static void pvclock_init_scale(void)
{
	u64 hz = (u64)tsc_khz * 1000;
	int shift;

	if (pv_mul || !hz)
		return;
	for (shift = -8; shift <= 8; shift++) {
		u64 mul = shift >= 0 ?
			mul_u64_u64_div_u64(NSEC_PER_SEC, 1ULL << (32 - shift), hz) :
			mul_u64_u64_div_u64(NSEC_PER_SEC << -shift, 1ULL << 32, hz);

		if (mul <= U32_MAX) {
			WRITE_ONCE(pv_shift, shift);
			WRITE_ONCE(pv_mul, mul);
			return;
		}
	}
}

static u64 pvclock_scale(u64 tsc)
{
	if (pv_shift < 0)
		tsc >>= -pv_shift;
	else
		tsc <<= pv_shift;
	return mul_u64_u32_shr(tsc, pv_mul, 32);
}

/*
 * The guest's system time is a function of the host TSC alone, so every
 * vCPU's page describes the same clock; tsc_timestamp is in guest TSC
 * (host TSC + this vCPU's offset).
 */
static void pvclock_update(struct kvisor_vcpu *vcpu)
{
	struct kvisor_lapic *l = vcpu->lapic;
	struct pvclock_time_info ti;
	u64 gpa = l->pv_system_time_msr & ~1ULL, h1, h2, g;

	if (!(l->pv_system_time_msr & 1) || !pv_mul)
		return;
	memset(&ti, 0, sizeof(ti));
	h1 = rdtsc();
	g = lapic_guest_tsc(vcpu);
	h2 = rdtsc();
	h1 += (h2 - h1) / 2;
	ti.tsc_timestamp = g;
	ti.system_time = pvclock_scale(h1);
	ti.tsc_to_system_mul = pv_mul;
	ti.tsc_shift = pv_shift;
	if (boot_cpu_has(X86_FEATURE_CONSTANT_TSC) &&
	    boot_cpu_has(X86_FEATURE_NONSTOP_TSC) && !check_tsc_unstable())
		ti.flags = PVCLOCK_TSC_STABLE;
	/* odd version while the fields change (the guest retries) */
	ti.version = ++l->pv_version | 1;
	if (kvisor_write_gpa(vcpu->vm, gpa, &ti.version, sizeof(ti.version)))
		return;
	smp_wmb();	/* odd version visible before the fields change */
	kvisor_write_gpa(vcpu->vm, gpa, &ti, sizeof(ti));
	smp_wmb();	/* fields visible before the even version */
	ti.version = ++l->pv_version;
	if (ti.version & 1)
		ti.version = ++l->pv_version;
	kvisor_write_gpa(vcpu->vm, gpa, &ti.version, sizeof(ti.version));
}

/* The wall-clock time at system time 0. */
static int pvclock_write_wall(struct kvisor_vcpu *vcpu, u64 gpa)
{
	struct pvclock_wall w = { .version = 1 };
	u64 now, st;
	u32 rem;

	if (gpa & 3)
		return -EINVAL;
	if (kvisor_write_gpa(vcpu->vm, gpa, &w.version, sizeof(w.version)))
		return 0;	/* not RAM: nothing to write, as KVM */
	st = pv_mul ? pvclock_scale(rdtsc()) : 0;
	now = ktime_get_real_ns();
	now = now > st ? now - st : 0;
	w.sec = div_u64_rem(now, NSEC_PER_SEC, &rem);
	w.nsec = rem;
	smp_wmb();	/* odd version visible before the fields change */
	kvisor_write_gpa(vcpu->vm, gpa, &w, sizeof(w));
	smp_wmb();	/* fields visible before the even version */
	w.version = 2;
	kvisor_write_gpa(vcpu->vm, gpa, &w.version, sizeof(w.version));
	return 0;
}

/* ---------------------------------------------------------------- */
/* Register reads and writes (xAPIC MMIO and x2APIC MSRs)           */
/* ---------------------------------------------------------------- */

static void lapic_send_ipi(struct kvisor_vcpu *vcpu, u32 low, u32 dest)
{
	struct kvisor_lapic *l = vcpu->lapic;
	struct kvisor_irq_msg m = {
		.vector = low & 0xff,
		.delivery = (low >> 8) & 7,
		.logical = low & BIT(11),
		.assert = low & BIT(14),
		.level = low & BIT(15),
		.shorthand = (low >> 18) & 3,
		.dest = dest,
	};
	unsigned long flags;

	/* a fixed IPI with an illegal vector is not sent (11.5.3) */
	if ((m.delivery == KVISOR_DM_FIXED || m.delivery == KVISOR_DM_LOWEST) &&
	    m.vector < 16) {
		spin_lock_irqsave(&l->lock, flags);
		lapic_set_error(l, ESR_SEND_ILLEGAL);
		spin_unlock_irqrestore(&l->lock, flags);
		lapic_request(l, KVISOR_REQ_EVENT);
		return;
	}
	/* "self" and "all" send fixed interrupts only; lowest -> fixed */
	if (m.shorthand != KVISOR_SH_NONE && m.delivery == KVISOR_DM_LOWEST)
		m.delivery = KVISOR_DM_FIXED;
	if (m.shorthand == KVISOR_SH_SELF)
		lapic_accept(vcpu, m.delivery, m.vector, m.level, m.assert);
	else
		deliver(vcpu->vm, vcpu, &m, lapic_x2apic(vcpu));
}

static void lapic_eoi(struct kvisor_vcpu *vcpu)
{
	struct kvisor_lapic *l = vcpu->lapic;
	unsigned long flags;
	bool level = false;
	int v;

	spin_lock_irqsave(&l->lock, flags);
	v = vec_highest(l, LAPIC_ISR);
	if (v >= 0) {
		vec_clear(l, LAPIC_ISR, v);
		level = vec_test(l, LAPIC_TMR, v);
		lapic_update_ppr(l);
	}
	spin_unlock_irqrestore(&l->lock, flags);
	/* level-triggered: the IOAPIC's remote IRR (SDM 11.8.5) */
	if (level)
		kvisor_ioapic_eoi(vcpu->vm, v);
}

static void lapic_set_svr(struct kvisor_lapic *l, u32 val)
{
	u32 off;

	reg_set(l, LAPIC_SVR, val & SVR_MASK);
	/* software disable masks every LVT (11.4.7.2) */
	if (!(val & LAPIC_SVR_ENABLE)) {
		for (off = LAPIC_LVTT; off <= LAPIC_LVTERR; off += 0x10)
			reg_set(l, off, reg_get(l, off) | LAPIC_LVT_MASKED);
	}
}

static void lapic_set_lvt(struct kvisor_vcpu *vcpu, u32 off, u32 val)
{
	struct kvisor_lapic *l = vcpu->lapic;
	u32 mask;

	switch (off) {
	case LAPIC_LVTT:
		mask = LVTT_MASK;
		break;
	case LAPIC_LVTTHMR:
	case LAPIC_LVTPC:
		mask = LVT_PM_MASK;
		break;
	case LAPIC_LVT0:
	case LAPIC_LVT1:
		mask = LVT_LINT_MASK & ~BIT(14);	/* remote IRR: RO */
		break;
	default:
		mask = LVTERR_MASK;
		break;
	}
	val &= mask;
	if (!lapic_sw_enabled(l))
		val |= LAPIC_LVT_MASKED;
	if (off == LAPIC_LVTT) {
		u32 old = reg_get(l, LAPIC_LVTT);

		if (LAPIC_LVT_TIMER_MODE(val) == 3)	/* reserved mode */
			val &= ~(3u << 17);
		/* a mode change disarms the timer (11.5.4.1) */
		if (LAPIC_LVT_TIMER_MODE(old) != LAPIC_LVT_TIMER_MODE(val)) {
			lapic_timer_stop(l);
			l->tsc_deadline = 0;
		}
	}
	reg_set(l, off, val);
	if (off == LAPIC_LVT0)
		lapic_request(l, KVISOR_REQ_EVENT);	/* ExtINT: look again */
}

/* A register read: 0 or -EINVAL for a register that cannot be read. */
static int lapic_reg_read(struct kvisor_vcpu *vcpu, u32 off, u64 *val)
{
	struct kvisor_lapic *l = vcpu->lapic;
	bool x2 = lapic_x2apic(vcpu);

	switch (off) {
	case LAPIC_ID:
	case LAPIC_VER:
	case LAPIC_TPR:
	case LAPIC_PPR:
	case LAPIC_LDR:
	case LAPIC_SVR:
	case LAPIC_ISR ... LAPIC_IRR + 0x70:
	case LAPIC_ESR:
	case LAPIC_ICR2:
	case LAPIC_LVTT ... LAPIC_LVTERR:
	case LAPIC_TMICT:
	case LAPIC_TDCR:
		if (off & 0xf)
			return -EINVAL;
		*val = reg_get(l, off);
		return 0;
	case LAPIC_ICR:
		*val = reg_get(l, LAPIC_ICR) & ~BIT(12);	/* delivery: idle */
		if (x2)
			*val |= (u64)reg_get(l, LAPIC_ICR2) << 32;
		return 0;
	case LAPIC_TMCCT:
		*val = lapic_timer_current(l);
		return 0;
	case LAPIC_DFR:
	case LAPIC_APR:
	case LAPIC_RRD:
		if (x2)
			return -EINVAL;	/* no such x2APIC register */
		*val = off == LAPIC_DFR ? reg_get(l, LAPIC_DFR) : 0;
		return 0;
	case LAPIC_EOI:
		if (x2)
			return -EINVAL;	/* write-only */
		*val = 0;
		return 0;
	default:
		return -EINVAL;
	}
}

/*
 * A register write.  @x2: through the x2APIC MSR, where reserved bits and
 * read-only registers #GP (SDM 11.12.1.2); the xAPIC ignores them.
 * Returns 0 or -EINVAL.
 */
static int lapic_reg_write(struct kvisor_vcpu *vcpu, u32 off, u64 val64,
			   bool x2)
{
	struct kvisor_lapic *l = vcpu->lapic;
	unsigned long flags;
	u32 val = val64;

	if (x2 && off != LAPIC_ICR && (val64 >> 32))
		return -EINVAL;
	switch (off) {
	case LAPIC_ID:
		if (x2)
			return -EINVAL;
		reg_set(l, LAPIC_ID, val & 0xff000000);
		return 0;
	case LAPIC_TPR:
		if (x2 && (val & ~0xffu))
			return -EINVAL;
		spin_lock_irqsave(&l->lock, flags);
		reg_set(l, LAPIC_TPR, val & 0xff);
		lapic_update_ppr(l);
		spin_unlock_irqrestore(&l->lock, flags);
		return 0;
	case LAPIC_EOI:
		if (x2 && val)
			return -EINVAL;
		lapic_eoi(vcpu);
		return 0;
	case LAPIC_LDR:
		if (x2)
			return -EINVAL;
		reg_set(l, LAPIC_LDR, val & 0xff000000);
		return 0;
	case LAPIC_DFR:
		if (x2)
			return -EINVAL;
		reg_set(l, LAPIC_DFR, val | 0x0fffffff);
		return 0;
	case LAPIC_SVR:
		if (x2 && (val & ~SVR_MASK))
			return -EINVAL;
		lapic_set_svr(l, val);
		lapic_request(l, KVISOR_REQ_EVENT);
		return 0;
	case LAPIC_ESR:
		if (x2 && val)
			return -EINVAL;
		/* a write latches the errors since the last one (11.5.3) */
		spin_lock_irqsave(&l->lock, flags);
		reg_set(l, LAPIC_ESR, l->esr_pending);
		l->esr_pending = 0;
		spin_unlock_irqrestore(&l->lock, flags);
		return 0;
	case LAPIC_ICR:
		if (x2) {
			if (val & ~ICR_LOW_MASK)
				return -EINVAL;
			reg_set(l, LAPIC_ICR2, val64 >> 32);
		}
		reg_set(l, LAPIC_ICR, val & ICR_LOW_MASK);
		lapic_send_ipi(vcpu, val & ICR_LOW_MASK,
			       x2 ? (u32)(val64 >> 32) : reg_get(l, LAPIC_ICR2) >> 24);
		return 0;
	case LAPIC_ICR2:
		if (x2)
			return -EINVAL;
		reg_set(l, LAPIC_ICR2, val & 0xff000000);
		return 0;
	case LAPIC_LVTT:
	case LAPIC_LVTTHMR:
	case LAPIC_LVTPC:
	case LAPIC_LVT0:
	case LAPIC_LVT1:
	case LAPIC_LVTERR: {
		u32 mask = off == LAPIC_LVTT ? LVTT_MASK :
			   off == LAPIC_LVT0 || off == LAPIC_LVT1 ? LVT_LINT_MASK :
			   off == LAPIC_LVTERR ? LVTERR_MASK : LVT_PM_MASK;

		if (x2 && (val & ~mask))
			return -EINVAL;
		lapic_set_lvt(vcpu, off, val);
		return 0;
	}
	case LAPIC_TMICT:
		reg_set(l, LAPIC_TMICT, val);
		/* ignored in TSC-deadline mode (11.5.4.1) */
		if (LAPIC_LVT_TIMER_MODE(reg_get(l, LAPIC_LVTT)) != TIMER_TSC_DEADLINE)
			lapic_timer_start(l);
		return 0;
	case LAPIC_TDCR:
		if (x2 && (val & ~TDCR_MASK))
			return -EINVAL;
		reg_set(l, LAPIC_TDCR, val & TDCR_MASK);
		return 0;
	case LAPIC_SELF_IPI:
		if (!x2 || (val & ~0xffu))
			return -EINVAL;
		lapic_send_ipi(vcpu, (val & 0xff) | (KVISOR_SH_SELF << 18), 0);
		return 0;
	default:
		/* read-only or reserved: #GP in x2APIC mode, ignored else */
		return x2 ? -EINVAL : 0;
	}
}

bool kvisor_lapic_mmio(struct kvisor_vcpu *vcpu, u64 gpa, unsigned int len,
		       bool write, void *data)
{
	struct kvisor_lapic *l = vcpu->lapic;
	u64 base = vcpu->apic_base & PAGE_MASK & ~0xfffULL;
	u32 off, shift;
	u64 val = 0;

	if (!l || !lapic_hw_enabled(vcpu) || lapic_x2apic(vcpu) ||
	    gpa < base || gpa >= base + PAGE_SIZE)
		return false;
	off = gpa - base;
	/* registers are 32 bits at 16-byte boundaries (11.4.1) */
	if (off >= 0x400 || (off & 0xf) + len > 4) {
		if (!write)
			memset(data, 0, len);
		return true;
	}
	shift = (off & 3) * 8;
	off &= ~0xfu;
	if (write) {
		if (len == 4 && !(gpa & 3)) {
			memcpy(&val, data, 4);
			lapic_reg_write(vcpu, off, val, false);
		}
		return true;
	}
	if (lapic_reg_read(vcpu, off, &val))
		val = 0;
	val >>= shift;
	memcpy(data, &val, len);
	return true;
}

/* IA32_APIC_BASE: mode transitions (SDM 11.12.5, figure 11-27). */
static int lapic_set_apic_base(struct kvisor_vcpu *vcpu, u64 data, bool host)
{
	struct kvisor_lapic *l = vcpu->lapic;
	u64 old = vcpu->apic_base;
	bool old_en = old & LAPIC_BASE_EN, old_x2 = lapic_x2apic(vcpu);
	bool en = data & LAPIC_BASE_EN, x2 = en && (data & LAPIC_BASE_EXTD);

	if (data & ~(LAPIC_BASE_BSP | LAPIC_BASE_EXTD | LAPIC_BASE_EN |
		     GENMASK_ULL(boot_cpu_data.x86_phys_bits - 1, 12)))
		return -EINVAL;
	if ((data & LAPIC_BASE_EXTD) && !en)
		return -EINVAL;			/* invalid state */
	if (!host) {
		if (old_x2 && en && !x2)
			return -EINVAL;		/* x2APIC -> xAPIC */
		if (!old_en && x2)
			return -EINVAL;		/* disabled -> x2APIC */
		data = (data & ~LAPIC_BASE_BSP) | (old & LAPIC_BASE_BSP);
	}
	vcpu->apic_base = data;
	if (old_en && !en) {
		lapic_reset_regs(vcpu);		/* disabling resets the APIC */
	} else if (x2 != old_x2 || en != old_en) {
		/* the ID's format follows the mode (11.12.5.1) */
		reg_set(l, LAPIC_ID, x2 ? vcpu->id : vcpu->id << 24);
		reg_set(l, LAPIC_LDR, x2 ? x2apic_ldr(vcpu->id) : 0);
	}
	lapic_request(l, KVISOR_REQ_EVENT);
	return 0;
}

int kvisor_lapic_msr_get(struct kvisor_vcpu *vcpu, u32 index, u64 *data)
{
	struct kvisor_lapic *l = vcpu->lapic;

	switch (index) {
	case MSR_IA32_APICBASE:
		*data = vcpu->apic_base;
		return 0;
	case MSR_IA32_TSC_DEADLINE:
		*data = LAPIC_LVT_TIMER_MODE(reg_get(l, LAPIC_LVTT)) ==
			TIMER_TSC_DEADLINE ? l->tsc_deadline : 0;
		return 0;
	case MSR_KVM_WALL_CLOCK_NEW:
		*data = l->pv_wall_clock_msr;
		return 0;
	case MSR_KVM_SYSTEM_TIME_NEW:
		*data = l->pv_system_time_msr;
		return 0;
	case 0x800 ... 0x8ff:
		if (!lapic_x2apic(vcpu) || index == 0x800 + (LAPIC_ICR2 >> 4) ||
		    index == 0x800 + (LAPIC_SELF_IPI >> 4))
			return -EINVAL;
		return lapic_reg_read(vcpu, (index - 0x800) << 4, data);
	default:
		return -ENOENT;
	}
}

int kvisor_lapic_msr_set(struct kvisor_vcpu *vcpu, u32 index, u64 data,
			 bool host)
{
	struct kvisor_lapic *l = vcpu->lapic;

	switch (index) {
	case MSR_IA32_APICBASE:
		return lapic_set_apic_base(vcpu, data, host);
	case MSR_IA32_TSC_DEADLINE:
		if (LAPIC_LVT_TIMER_MODE(reg_get(l, LAPIC_LVTT)) != TIMER_TSC_DEADLINE)
			return 0;	/* ignored in other modes */
		l->tsc_deadline = data;
		lapic_tsc_deadline_arm(vcpu);
		return 0;
	case MSR_KVM_WALL_CLOCK_NEW:
		if (pvclock_write_wall(vcpu, data))
			return -EINVAL;
		l->pv_wall_clock_msr = data;
		return 0;
	case MSR_KVM_SYSTEM_TIME_NEW:
		/* bit 0 enable; 32 bytes that must not cross a page */
		if ((data & 1) && ((data & ~1ULL) & 31))
			return -EINVAL;
		if (data >> boot_cpu_data.x86_phys_bits)
			return -EINVAL;
		l->pv_system_time_msr = data;
		pvclock_update(vcpu);
		return 0;
	case MSR_IA32_TSC:
		/* the guest's TSC moves: its pvclock page follows */
		set_bit(KVISOR_REQ_CLOCK, &l->requests);
		return -ENOENT;		/* the core sets the TSC itself */
	case 0x800 ... 0x8ff:
		if (!lapic_x2apic(vcpu))
			return -EINVAL;
		return lapic_reg_write(vcpu, (index - 0x800) << 4, data, true);
	default:
		return -ENOENT;
	}
}

/* ---------------------------------------------------------------- */
/* CPUID                                                            */
/* ---------------------------------------------------------------- */

static struct kvisor_cpuid_entry *cpuid_entry(struct kvisor_vcpu *vcpu,
					      u32 function)
{
	u32 i;

	for (i = 0; i < vcpu->cpuid_nent; i++)
		if (vcpu->cpuid[i].function == function)
			return &vcpu->cpuid[i];
	return NULL;
}

void kvisor_lapic_cpuid_adjust(struct kvisor_vcpu *vcpu)
{
	struct kvisor_cpuid_entry *e;
	u32 i;

	for (i = 0; i < vcpu->cpuid_nent; i++) {
		e = &vcpu->cpuid[i];
		switch (e->function) {
		case 1:
			/* x2APIC (21), TSC-deadline (24); APIC (EDX 9) */
			e->ecx |= BIT(21) | BIT(24);
			e->edx |= BIT(9);
			e->ebx = (e->ebx & 0x00ffffff) | (vcpu->id << 24);
			break;
		case 6:
			e->eax |= BIT(2);		/* ARAT */
			break;
		case 0xb:
			e->edx = vcpu->id;		/* x2APIC ID */
			break;
		case 0x80000007:
			e->edx |= BIT(8);		/* invariant TSC */
			break;
		}
	}
	if (cpuid_entry(vcpu, KVM_CPUID_BASE) ||
	    vcpu->cpuid_nent + 2 > KVISOR_MAX_CPUID_ENTRIES)
		return;
	/* "KVMKVMKVM\0\0\0" beside kvisor's own leaves at 0x40000000 */
	e = &vcpu->cpuid[vcpu->cpuid_nent++];
	memset(e, 0, sizeof(*e));
	e->function = KVM_CPUID_BASE;
	e->eax = KVM_CPUID_BASE + 1;
	e->ebx = 0x4b4d564b;	/* "KVMK" */
	e->ecx = 0x564b4d56;	/* "VMKV" */
	e->edx = 0x0000004d;	/* "M\0\0\0" */
	e = &vcpu->cpuid[vcpu->cpuid_nent++];
	memset(e, 0, sizeof(*e));
	e->function = KVM_CPUID_BASE + 1;
	e->eax = KVM_FEATURE_CLOCKSOURCE2 | KVM_FEATURE_CLOCKSOURCE_STABLE_BIT;
}

/* ---------------------------------------------------------------- */
/* The run loop                                                     */
/* ---------------------------------------------------------------- */

static void lapic_process_requests(struct kvisor_vcpu *vcpu)
{
	struct kvisor_lapic *l = vcpu->lapic;

	if (!READ_ONCE(l->requests))
		return;
	if (test_and_clear_bit(KVISOR_REQ_INIT, &l->requests))
		lapic_do_init(vcpu);
	if (test_and_clear_bit(KVISOR_REQ_SIPI, &l->requests) &&
	    l->mp_state == KVISOR_MP_STATE_WAIT_SIPI)
		lapic_do_sipi(vcpu, READ_ONCE(l->sipi_vector));
	if (test_and_clear_bit(KVISOR_REQ_TIMER, &l->requests))
		lapic_timer_expired(vcpu);
	if (test_and_clear_bit(KVISOR_REQ_NMI, &l->requests) &&
	    atomic_xchg(&l->nmi_queued, 0) &&
	    l->mp_state != KVISOR_MP_STATE_WAIT_SIPI)
		vcpu->nmi_pending = true;	/* NMIs pending merge into one */
	if (test_and_clear_bit(KVISOR_REQ_CLOCK, &l->requests))
		pvclock_update(vcpu);
	clear_bit(KVISOR_REQ_EVENT, &l->requests);
}

/* Would an event end HLT now (SDM 9.? HLT: interrupt, NMI, INIT, SMI)? */
static bool lapic_halt_wakes(struct kvisor_vcpu *vcpu)
{
	struct kvisor_lapic *l = vcpu->lapic;
	unsigned long flags;
	bool irq;

	if (vcpu->nmi_pending || vcpu->exception_pending)
		return true;
	if (!(vcpu->rflags & X86_EFLAGS_IF))
		return false;
	if (vcpu->irq_pending || lapic_extint_pending(vcpu))
		return true;
	if (!lapic_hw_enabled(vcpu))
		return false;
	spin_lock_irqsave(&l->lock, flags);
	irq = lapic_pending_vector(l) >= 0;
	spin_unlock_irqrestore(&l->lock, flags);
	return irq;
}

int kvisor_lapic_prepare(struct kvisor_vcpu *vcpu)
{
	struct kvisor_lapic *l = vcpu->lapic;
	int r;

	for (;;) {
		lapic_process_requests(vcpu);
		if (l->mp_state == KVISOR_MP_STATE_RUNNABLE)
			return 1;
		if (l->mp_state == KVISOR_MP_STATE_HALTED) {
			if (lapic_halt_wakes(vcpu)) {
				lapic_set_mp_state(l, KVISOR_MP_STATE_RUNNABLE);
				return 1;
			}
			/* cli; hlt: only NMI/INIT can end it; tell once */
			if (!(vcpu->rflags & X86_EFLAGS_IF) && !l->hlt_reported) {
				l->hlt_reported = true;
				vcpu->run->exit_reason = KVISOR_EXIT_HLT;
				return 0;
			}
		}
		if (READ_ONCE(vcpu->run->immediate_exit) ||
		    signal_pending(current))
			return -EINTR;
		vcpu->stats.counters[KVISOR_STAT_HLT]++;
		r = wait_event_interruptible(l->wq, READ_ONCE(l->requests));
		if (r)
			return -EINTR;
	}
}

bool kvisor_lapic_enter(struct kvisor_vcpu *vcpu)
{
	struct kvisor_lapic *l = vcpu->lapic;
	u8 cr8 = reg_get(l, LAPIC_TPR) >> 4;

	WRITE_ONCE(l->cpu, smp_processor_id());
	/* pairs with lapic_kick(): either we see the bit or it sees us */
	smp_store_mb(l->mode, LAPIC_IN_GUEST);
	if (READ_ONCE(l->requests)) {
		WRITE_ONCE(l->mode, LAPIC_OUTSIDE_GUEST);
		return false;
	}
	/* CR8 is the TPR's class in 64-bit mode (SDM 11.8.6) */
	if (cr8 != l->cr8 && kvisor_ops->set_cr8) {
		kvisor_ops->set_cr8(vcpu, cr8);
		l->cr8 = cr8;
	}
	return true;
}

void kvisor_lapic_exit(struct kvisor_vcpu *vcpu)
{
	struct kvisor_lapic *l = vcpu->lapic;
	u8 cr8;

	WRITE_ONCE(l->mode, LAPIC_OUTSIDE_GUEST);
	if (!kvisor_ops->get_cr8)
		return;
	cr8 = kvisor_ops->get_cr8(vcpu) & 0xf;
	if (cr8 != l->cr8) {
		/* the guest wrote CR8: TPR[7:4] = CR8, TPR[3:0] = 0 */
		l->cr8 = cr8;
		spin_lock(&l->lock);
		reg_set(l, LAPIC_TPR, cr8 << 4);
		lapic_update_ppr(l);
		spin_unlock(&l->lock);
	}
}

int kvisor_lapic_halt(struct kvisor_vcpu *vcpu)
{
	/* HLT is done: "sti; hlt" takes its interrupt after it (SDM 6.8.3) */
	if (kvisor_ops->clear_interrupt_shadow)
		kvisor_ops->clear_interrupt_shadow(vcpu);
	lapic_set_mp_state(vcpu->lapic, KVISOR_MP_STATE_HALTED);
	return 1;
}

/* ---------------------------------------------------------------- */
/* vCPU ioctls, creation                                            */
/* ---------------------------------------------------------------- */

/* Reserved-bit check of a KVISOR_SET_LAPIC page. */
static bool lapic_state_valid(struct kvisor_vcpu *vcpu, const u8 *regs)
{
	bool x2 = lapic_x2apic(vcpu);
	u32 off, v;

	for (off = 0; off < 0x400; off += 4) {
		v = *(const u32 *)(regs + off);
		if ((off & 0xf) && v)
			return false;	/* between registers: reserved */
		if (off & 0xf)
			continue;
		switch (off) {
		case LAPIC_ID:
			if (!x2 && (v & 0x00ffffff))
				return false;
			if (x2 && v != vcpu->id)
				return false;
			break;
		case LAPIC_VER:
		case LAPIC_PPR:
		case LAPIC_TMCCT:
		case LAPIC_EOI:
		case LAPIC_APR:
		case LAPIC_RRD:
			break;		/* computed: ignored */
		case LAPIC_TPR:
			if (v & ~0xffu)
				return false;
			break;
		case LAPIC_LDR:
			if (x2 ? v != x2apic_ldr(vcpu->id) : (v & 0x00ffffff))
				return false;
			break;
		case LAPIC_DFR:
			if ((v & 0x0fffffff) != 0x0fffffff ||
			    ((v >> 28) != 0xf && (v >> 28) != 0))
				return false;
			break;
		case LAPIC_SVR:
			if (v & ~SVR_MASK)
				return false;
			break;
		case LAPIC_ISR ... LAPIC_IRR + 0x70:
			break;
		case LAPIC_ESR:
			if (v & ~0xefu)
				return false;
			break;
		case LAPIC_ICR:
			if (v & ~(ICR_LOW_MASK | BIT(12)))
				return false;
			break;
		case LAPIC_ICR2:
			if (!x2 && (v & 0x00ffffff))
				return false;
			break;
		case LAPIC_LVTT:
			if ((v & ~(LVTT_MASK | BIT(12))) ||
			    LAPIC_LVT_TIMER_MODE(v) == 3)
				return false;
			break;
		case LAPIC_LVTTHMR:
		case LAPIC_LVTPC:
			if (v & ~(LVT_PM_MASK | BIT(12)))
				return false;
			break;
		case LAPIC_LVT0:
		case LAPIC_LVT1:
			if (v & ~(LVT_LINT_MASK | BIT(12)))
				return false;
			break;
		case LAPIC_LVTERR:
			if (v & ~(LVTERR_MASK | BIT(12)))
				return false;
			break;
		case LAPIC_TMICT:
			break;
		case LAPIC_TDCR:
			if (v & ~TDCR_MASK)
				return false;
			break;
		default:
			if (v)
				return false;	/* reserved register */
			break;
		}
	}
	return true;
}

static long lapic_set_state(struct kvisor_vcpu *vcpu, void __user *argp)
{
	struct kvisor_lapic *l = vcpu->lapic;
	unsigned long flags;
	u8 *regs;
	u32 off;

	regs = memdup_user(argp, sizeof(struct kvisor_lapic_state));
	if (IS_ERR(regs))
		return PTR_ERR(regs);
	if (!lapic_state_valid(vcpu, regs)) {
		kfree(regs);
		return -EINVAL;
	}
	lapic_timer_stop(l);
	spin_lock_irqsave(&l->lock, flags);
	memcpy(l->regs, regs, sizeof(l->regs));
	reg_set(l, LAPIC_VER, LAPIC_VERSION);
	reg_set(l, LAPIC_EOI, 0);
	reg_set(l, LAPIC_APR, 0);
	reg_set(l, LAPIC_RRD, 0);
	reg_set(l, LAPIC_TMCCT, 0);
	reg_set(l, LAPIC_ICR, reg_get(l, LAPIC_ICR) & ~BIT(12));
	for (off = LAPIC_LVTT; off <= LAPIC_LVTERR; off += 0x10)
		reg_set(l, off, reg_get(l, off) & ~BIT(12));
	lapic_update_ppr(l);
	l->esr_pending = 0;
	spin_unlock_irqrestore(&l->lock, flags);
	kfree(regs);
	l->tsc_deadline = 0;
	if (LAPIC_LVT_TIMER_MODE(reg_get(l, LAPIC_LVTT)) != TIMER_TSC_DEADLINE)
		lapic_timer_start(l);	/* a full count from now */
	lapic_request(l, KVISOR_REQ_EVENT);
	return 0;
}

long kvisor_lapic_ioctl(struct kvisor_vcpu *vcpu, unsigned int ioctl,
			void __user *argp)
{
	struct kvisor_lapic *l = vcpu->lapic;
	struct kvisor_mp_state mp;
	u8 *regs;
	long r;

	switch (ioctl) {
	case KVISOR_GET_LAPIC:
		regs = kmalloc(sizeof(l->regs), GFP_KERNEL);
		if (!regs)
			return -ENOMEM;
		memcpy(regs, l->regs, sizeof(l->regs));
		*(u32 *)(regs + LAPIC_TMCCT) = lapic_timer_current(l);
		*(u32 *)(regs + LAPIC_ICR) &= ~BIT(12);
		r = copy_to_user(argp, regs, sizeof(l->regs)) ? -EFAULT : 0;
		kfree(regs);
		return r;
	case KVISOR_SET_LAPIC:
		return lapic_set_state(vcpu, argp);
	case KVISOR_GET_MP_STATE:
		lapic_process_requests(vcpu);
		memset(&mp, 0, sizeof(mp));
		mp.state = l->mp_state;
		return copy_to_user(argp, &mp, sizeof(mp)) ? -EFAULT : 0;
	case KVISOR_SET_MP_STATE:
		if (copy_from_user(&mp, argp, sizeof(mp)))
			return -EFAULT;
		if (mp.padding || mp.state > KVISOR_MP_STATE_WAIT_SIPI)
			return -EINVAL;
		lapic_set_mp_state(l, mp.state);
		return 0;
	default:
		return -ENOTTY;
	}
}

int kvisor_lapic_create(struct kvisor_vcpu *vcpu)
{
	struct kvisor_lapic *l;

	l = kzalloc(sizeof(*l), GFP_KERNEL_ACCOUNT);
	if (!l)
		return -ENOMEM;
	l->vcpu = vcpu;
	spin_lock_init(&l->lock);
	init_waitqueue_head(&l->wq);
	hrtimer_init(&l->timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS_HARD);
	l->timer.function = lapic_timer_fn;
	l->cpu = -1;
	vcpu->lapic = l;
	lapic_reset_regs(vcpu);
	pvclock_init_scale();
	/* vCPU 0 is the BSP; the others wait for INIT/SIPI (SDM 9.4) */
	l->mp_state = vcpu->id ? KVISOR_MP_STATE_WAIT_SIPI :
		      KVISOR_MP_STATE_RUNNABLE;
	return 0;
}

/* Nobody can reach the LAPIC any more (vcpu.c waited for RCU readers). */
void kvisor_lapic_free(struct kvisor_vcpu *vcpu)
{
	struct kvisor_lapic *l = vcpu->lapic;

	hrtimer_cancel(&l->timer);
	kfree(l);
	vcpu->lapic = NULL;
}
