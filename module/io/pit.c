// SPDX-License-Identifier: GPL-2.0
/*
 * The 8254 PIT: channels 0-2 at ports 0x40-0x42, the control word at
 * 0x43, and port 0x61 (channel 2's gate in bit 0, its output in bit 5),
 * after the Intel 82C54 datasheet (order no. 231244): "Control Word
 * Format", "Read Operations" (counter latch, read-back), "Modes" 0-5.
 *
 * The counters are not stepped: a channel remembers when its count was
 * loaded (host ktime) and computes its counter and OUT from the ticks of
 * the 1.193182 MHz clock since then, so reads track host time exactly,
 * as Linux's PIT calibration of the TSC and LAPIC timer needs
 * (pit_calibrate_tsc() and quick_pit_calibrate() poll channel 2 in mode
 * 0 through port 0x61 and the counter's MSB).
 *
 * Channel 0's OUT is wired to GSI 0 (PIC IRQ 0, IOAPIC pin 2): an hrtimer
 * pulses the line on each rising edge of OUT (modes 0 and 4 once, modes 2
 * and 3 every period).  A periodic channel 0 fires at most every
 * KVISOR_PIT_MIN_PERIOD_NS, so a guest that programs a count of 1
 * (838 ns) costs the host 5000 timer interrupts a second, not 1.2
 * million; the counter itself still reads the programmed period.  Edges
 * a late timer missed are merged (hrtimer_forward), never replayed.
 * Channel 1 (DRAM refresh on old PCs) counts but drives nothing.
 *
 * Not modelled: a count written while a mode 2/3 counter runs takes
 * effect at once (the 8254 waits for the end of the period); writing the
 * LSB of a lobyte/hibyte count in mode 0 does not stop counting; modes 1
 * and 5 on channels 0 and 1 never start (their gates are tied high, so
 * there is never a trigger edge); the speaker (port 0x61 bit 1) is
 * silent.
 *
 * The hrtimer callback takes no PIT lock (it reads period_ns only), so
 * hrtimer_cancel() may be called under pit->lock.
 */
#include <linux/bcd.h>
#include <linux/errno.h>
#include <linux/hrtimer.h>
#include <linux/math64.h>
#include <linux/spinlock.h>

#include "../kvisor.h"
#include "irqdev.h"

#define PIT_HZ			1193182u
#define KVISOR_PIT_MIN_PERIOD_NS	(200 * NSEC_PER_USEC)

#define CW_BCD			0x01
#define CW_MODE(m)		(((m) >> 1) & 7)
#define CW_RW(m)		(((m) >> 4) & 3)
#define RW_LATCH		0
#define RW_LSB			1
#define RW_MSB			2
#define RW_BOTH			3

static u64 pit_ns_to_ticks(u64 ns)
{
	return mul_u64_u32_div(ns, PIT_HZ, NSEC_PER_SEC);
}

static u64 pit_ticks_to_ns(u64 ticks)
{
	return mul_u64_u32_div(ticks, NSEC_PER_SEC, PIT_HZ);
}

/* Modes 6 and 7 are 2 and 3 ("X10", "X11" in the control word). */
static unsigned int pit_mode(const struct kvisor_pit_channel *c)
{
	unsigned int m = CW_MODE(c->mode);

	return m > 5 ? m - 4 : m;
}

/* Ticks counted since the count was loaded (or when counting stopped). */
static u64 pit_elapsed(const struct kvisor_pit_channel *c, ktime_t now)
{
	s64 ns;

	if (!(c->flags & KVISOR_PIT_COUNTING))
		return c->frozen;
	ns = ktime_to_ns(ktime_sub(now, c->load));
	return c->frozen + pit_ns_to_ticks(ns > 0 ? ns : 0);
}

static void pit_start(struct kvisor_pit_channel *c, ktime_t now, u64 from)
{
	c->load = now;
	c->frozen = from;
	c->flags |= KVISOR_PIT_COUNTING;
}

static void pit_stop(struct kvisor_pit_channel *c, ktime_t now)
{
	c->frozen = pit_elapsed(c, now);
	c->flags &= ~KVISOR_PIT_COUNTING;
}

/* The counting element's value (binary; BCD converted by the reader). */
static u32 pit_counter(const struct kvisor_pit_channel *c, ktime_t now)
{
	u32 n = c->count, wrap = (c->mode & CW_BCD) ? 10000 : 0x10000;
	u64 t = pit_elapsed(c, now);
	u32 half, k;

	if (c->flags & KVISOR_PIT_NULL_COUNT)
		return n & 0xffff;
	switch (pit_mode(c)) {
	case 2:
		return n - do_div(t, n);
	case 3:
		/* decrements by 2, twice a period: N..2, then N..2 again */
		k = do_div(t, n);
		half = (n + 1) / 2;
		if (k >= half)
			k -= half;
		return max_t(int, n - 2 * k, 2) & ~1u;
	case 1:
	case 5:
		if (!(c->flags & KVISOR_PIT_TRIGGERED))
			return n & 0xffff;
		fallthrough;
	default:
		/* 0, 4: down to 0, then on down through the wrap */
		return (n + wrap - do_div(t, wrap)) % wrap;
	}
}

static bool pit_out(const struct kvisor_pit_channel *c, ktime_t now)
{
	u64 t;
	u32 n = c->count;

	if (c->flags & KVISOR_PIT_NULL_COUNT)
		return pit_mode(c) != 0;	/* mode 0: low once written */
	t = pit_elapsed(c, now);
	switch (pit_mode(c)) {
	case 0:		/* low until terminal count, then high */
		return t >= n;
	case 1:		/* high; low from the trigger to terminal count */
		return !(c->flags & KVISOR_PIT_TRIGGERED) || t >= n;
	case 2:		/* low for the tick before each reload */
		if (!(c->flags & KVISOR_PIT_COUNTING))
			return true;
		return do_div(t, n) != n - 1;
	case 3:		/* square wave: high for ceil(N/2), low for floor(N/2) */
		if (!(c->flags & KVISOR_PIT_COUNTING))
			return true;
		return do_div(t, n) < (n + 1) / 2;
	case 4:		/* high; one tick low at terminal count */
		return t != n;
	default:	/* 5 */
		return !(c->flags & KVISOR_PIT_TRIGGERED) || t != n;
	}
}

static enum hrtimer_restart pit_timer_fn(struct hrtimer *timer)
{
	struct kvisor_irqchip *chip = container_of(timer, struct kvisor_irqchip,
						   pit.timer);
	u64 period = READ_ONCE(chip->pit.period_ns);

	kvisor_irq_pulse(chip, 0, KVISOR_IRQ_SRC_PIT);
	if (!period)
		return HRTIMER_NORESTART;
	hrtimer_forward_now(timer, ns_to_ktime(period));
	return HRTIMER_RESTART;
}

/* Channel 0's next rising edge of OUT, from its state (pit->lock held). */
static void pit_arm(struct kvisor_pit *pit, ktime_t now)
{
	struct kvisor_pit_channel *c = &pit->ch[0];
	u32 n = c->count;
	u64 t, first;

	hrtimer_cancel(&pit->timer);
	pit->period_ns = 0;
	if (!(c->flags & KVISOR_PIT_COUNTING) ||
	    (c->flags & KVISOR_PIT_NULL_COUNT))
		return;
	t = pit_elapsed(c, now);
	switch (pit_mode(c)) {
	case 0:
	case 4:
		/* mode 0: OUT rises at N; mode 4: after the strobe, N + 1 */
		first = pit_mode(c) == 0 ? n : n + 1;
		if (t >= first)
			return;
		first -= t;
		break;
	case 2:
	case 3:
		/* OUT rises at each reload */
		first = n - do_div(t, n);
		pit->period_ns = max_t(u64, pit_ticks_to_ns(n),
				       KVISOR_PIT_MIN_PERIOD_NS);
		break;
	default:
		return;
	}
	hrtimer_start(&pit->timer, ktime_add_ns(now, pit_ticks_to_ns(first)),
		      HRTIMER_MODE_ABS);
}

static void pit_latch_count(struct kvisor_pit_channel *c, ktime_t now)
{
	u32 v;

	if (c->flags & KVISOR_PIT_LATCH_COUNT)
		return;		/* the first latch holds until read */
	v = pit_counter(c, now);
	if (c->mode & CW_BCD)
		v = bin2bcd(v / 100) << 8 | bin2bcd(v % 100);
	c->latched_count = v;
	c->flags |= KVISOR_PIT_LATCH_COUNT;
	c->flags &= ~KVISOR_PIT_LATCH_MSB;
}

static void pit_latch_status(struct kvisor_pit_channel *c, ktime_t now)
{
	if (c->flags & KVISOR_PIT_LATCH_STATUS)
		return;
	c->status = (pit_out(c, now) << 7) |
		    (!!(c->flags & KVISOR_PIT_NULL_COUNT) << 6) | c->mode;
	c->flags |= KVISOR_PIT_LATCH_STATUS;
}

static void pit_control(struct kvisor_pit *pit, u8 val, ktime_t now)
{
	unsigned int sc = val >> 6, i;
	struct kvisor_pit_channel *c;

	if (sc == 3) {
		/* read-back: bit 5 = !COUNT, bit 4 = !STATUS, 3:1 = CNT2-0 */
		for (i = 0; i < 3; i++) {
			if (!(val & (2 << i)))
				continue;
			if (!(val & 0x20))
				pit_latch_count(&pit->ch[i], now);
			if (!(val & 0x10))
				pit_latch_status(&pit->ch[i], now);
		}
		return;
	}
	c = &pit->ch[sc];
	if (CW_RW(val) == RW_LATCH) {
		pit_latch_count(c, now);
		return;
	}
	/* a control word resets the channel: OUT to its initial state */
	c->mode = val & 0x3f;
	c->flags = KVISOR_PIT_NULL_COUNT;
	c->frozen = 0;
	if (sc == 0)
		pit_arm(pit, now);
}

/* A count was written: it is loaded and counting starts. */
static void pit_load(struct kvisor_pit *pit, unsigned int i, u32 v, ktime_t now)
{
	struct kvisor_pit_channel *c = &pit->ch[i];

	if (c->mode & CW_BCD) {
		v = bcd2bin(v >> 8) * 100 + bcd2bin(v & 0xff);
		if (!v || v > 9999)
			v = v ? v % 10000 : 10000;
	} else if (!v) {
		v = 0x10000;
	}
	c->count = v;
	c->flags &= ~(KVISOR_PIT_NULL_COUNT | KVISOR_PIT_TRIGGERED |
		      KVISOR_PIT_COUNTING);
	c->frozen = 0;
	switch (pit_mode(c)) {
	case 1:
	case 5:
		break;		/* waits for a gate edge */
	default:
		if (c->gate)
			pit_start(c, now, 0);
		break;
	}
	if (i == 0)
		pit_arm(pit, now);
}

static void pit_write(struct kvisor_pit *pit, unsigned int i, u8 val,
		      ktime_t now)
{
	struct kvisor_pit_channel *c = &pit->ch[i];

	switch (CW_RW(c->mode)) {
	case RW_LSB:
		pit_load(pit, i, val, now);
		break;
	case RW_MSB:
		pit_load(pit, i, val << 8, now);
		break;
	case RW_BOTH:
		if (!(c->flags & KVISOR_PIT_WRITE_MSB)) {
			c->write_lsb = val;
			c->flags |= KVISOR_PIT_WRITE_MSB;
		} else {
			c->flags &= ~KVISOR_PIT_WRITE_MSB;
			pit_load(pit, i, c->write_lsb | val << 8, now);
		}
		break;
	default:
		break;	/* no control word yet: ignored */
	}
}

static u8 pit_read(struct kvisor_pit_channel *c, ktime_t now)
{
	unsigned int rw = CW_RW(c->mode);
	u32 v;
	u8 b;

	if (c->flags & KVISOR_PIT_LATCH_STATUS) {
		c->flags &= ~KVISOR_PIT_LATCH_STATUS;
		return c->status;
	}
	if (c->flags & KVISOR_PIT_LATCH_COUNT) {
		v = c->latched_count;
		if (rw == RW_BOTH && !(c->flags & KVISOR_PIT_LATCH_MSB)) {
			c->flags |= KVISOR_PIT_LATCH_MSB;
			return v;
		}
		c->flags &= ~(KVISOR_PIT_LATCH_COUNT | KVISOR_PIT_LATCH_MSB);
		return rw == RW_MSB || rw == RW_BOTH ? v >> 8 : v;
	}
	v = pit_counter(c, now);
	if (c->mode & CW_BCD)
		v = bin2bcd(v / 100) << 8 | bin2bcd(v % 100);
	switch (rw) {
	case RW_MSB:
		return v >> 8;
	case RW_BOTH:
		b = (c->flags & KVISOR_PIT_READ_MSB) ? v >> 8 : v;
		c->flags ^= KVISOR_PIT_READ_MSB;
		return b;
	default:
		return v;
	}
}

/* Channel 2's gate, from port 0x61 bit 0 (datasheet "Gate" per mode). */
static void pit_gate(struct kvisor_pit *pit, bool gate, ktime_t now)
{
	struct kvisor_pit_channel *c = &pit->ch[2];
	bool rising = gate && !c->gate;

	if (gate == !!c->gate)
		return;
	c->gate = gate;
	if (c->flags & KVISOR_PIT_NULL_COUNT)
		return;
	switch (pit_mode(c)) {
	case 0:
	case 4:		/* gate low suspends counting */
		if (gate)
			pit_start(c, now, c->frozen);
		else
			pit_stop(c, now);
		break;
	case 2:
	case 3:		/* low stops (OUT high); a rising edge reloads */
		if (gate)
			pit_start(c, now, 0);
		else
			pit_stop(c, now);
		break;
	default:	/* 1, 5: a rising edge (re)triggers */
		if (rising) {
			c->flags |= KVISOR_PIT_TRIGGERED;
			pit_start(c, now, 0);
		}
		break;
	}
}

void kvisor_pit_pio(struct kvisor_irqchip *chip, u16 port, bool in, u8 *val)
{
	struct kvisor_pit *pit = &chip->pit;
	ktime_t now = ktime_get();
	unsigned long flags;

	spin_lock_irqsave(&pit->lock, flags);
	if (port == 0x61) {
		/*
		 * Bits 3:0 as written; bit 4 toggles every 15.085 us (the
		 * refresh request some delay loops poll); bit 5 is OUT2.
		 * Bits 7:6 (SERR#, IOCHK# NMI sources) read 0.
		 */
		if (in) {
			*val = (pit->port61 & 0x0f) |
			       ((ktime_to_ns(now) / 15085) & 1) << 4 |
			       pit_out(&pit->ch[2], now) << 5;
		} else {
			pit->port61 = *val & 0x0f;
			pit_gate(pit, *val & 1, now);
		}
	} else if (port == 0x43) {
		if (!in)
			pit_control(pit, *val, now);
		else
			*val = 0xff;	/* the control word is write-only */
	} else if (in) {
		*val = pit_read(&pit->ch[port - 0x40], now);
	} else {
		pit_write(pit, port - 0x40, *val, now);
	}
	spin_unlock_irqrestore(&pit->lock, flags);
}

/*
 * Power-on: the control words are undefined until written; kvisor starts
 * each channel as "mode 0, lobyte/hibyte, no count" with OUT low, and
 * channel 2's gate low (port 0x61 reads 0).
 */
void kvisor_pit_init(struct kvisor_irqchip *chip)
{
	struct kvisor_pit *pit = &chip->pit;
	int i;

	spin_lock_init(&pit->lock);
	hrtimer_init(&pit->timer, CLOCK_MONOTONIC, HRTIMER_MODE_ABS);
	pit->timer.function = pit_timer_fn;
	for (i = 0; i < 3; i++) {
		pit->ch[i].mode = RW_BOTH << 4;
		pit->ch[i].count = 0x10000;
		pit->ch[i].flags = KVISOR_PIT_NULL_COUNT;
		pit->ch[i].gate = i != 2;
	}
}

void kvisor_pit_destroy(struct kvisor_irqchip *chip)
{
	hrtimer_cancel(&chip->pit.timer);
}

void kvisor_pit_get(struct kvisor_irqchip *chip, struct kvisor_pit_state *s)
{
	struct kvisor_pit *pit = &chip->pit;
	ktime_t now = ktime_get();
	unsigned long flags;
	int i;

	spin_lock_irqsave(&pit->lock, flags);
	for (i = 0; i < 3; i++) {
		const struct kvisor_pit_channel *c = &pit->ch[i];

		s->ch[i].count = c->count;
		s->ch[i].latched_count = c->latched_count;
		s->ch[i].status = c->status;
		s->ch[i].mode = c->mode;
		s->ch[i].elapsed = pit_elapsed(c, now);
		s->ch[i].gate = c->gate;
		s->ch[i].write_lsb = c->write_lsb;
		s->ch[i].flags = c->flags;
	}
	s->port61 = pit->port61;
	spin_unlock_irqrestore(&pit->lock, flags);
}

int kvisor_pit_check(const struct kvisor_pit_state *s)
{
	int i;

	if (s->port61 & ~0x0f || memchr_inv(s->padding, 0, sizeof(s->padding)))
		return -EINVAL;
	for (i = 0; i < 3; i++) {
		const struct kvisor_pit_channel_state *c = &s->ch[i];

		if (!c->count || c->count > 0x10000 || (c->mode & ~0x3f) ||
		    c->gate > 1 || (i != 2 && !c->gate) ||
		    (c->flags & ~KVISOR_PIT_CH_FLAGS) ||
		    memchr_inv(c->padding, 0, sizeof(c->padding)) ||
		    ((c->mode & CW_BCD) && c->count > 10000) ||
		    c->elapsed > (1ull << 48))
			return -EINVAL;
	}
	if (s->ch[2].gate != (s->port61 & 1))
		return -EINVAL;
	return 0;
}

void kvisor_pit_set(struct kvisor_irqchip *chip,
		    const struct kvisor_pit_state *s)
{
	struct kvisor_pit *pit = &chip->pit;
	ktime_t now = ktime_get();
	unsigned long flags;
	int i;

	spin_lock_irqsave(&pit->lock, flags);
	for (i = 0; i < 3; i++) {
		struct kvisor_pit_channel *c = &pit->ch[i];

		c->count = s->ch[i].count;
		c->latched_count = s->ch[i].latched_count;
		c->status = s->ch[i].status;
		c->mode = s->ch[i].mode;
		c->gate = s->ch[i].gate;
		c->write_lsb = s->ch[i].write_lsb;
		c->flags = s->ch[i].flags;
		c->load = now;
		c->frozen = s->ch[i].elapsed;
	}
	pit->port61 = s->port61;
	pit_arm(pit, now);
	spin_unlock_irqrestore(&pit->lock, flags);
}
