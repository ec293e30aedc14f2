// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor tool: the MC146818A CMOS real-time clock (ports 0x70 index, 0x71
 * data) with the host's date and time (UTC, as Linux assumes on x86
 * unless told otherwise).
 *
 * Registers 0x00-0x09 (seconds, minutes, hours, day of week, day, month,
 * year) and 0x32 (century) are computed from the host clock plus the
 * offset the guest set by writing them, in BCD or binary and 12- or
 * 24-hour form as status register B says (default: 24-hour BCD, as a PC
 * BIOS leaves it).  Status A: UIP always 0 (an update never seems to be in
 * progress, so readers never wait), divider 0x26 (32.768 kHz, 1024 Hz).
 * Status C reads 0 (no interrupt flags: no alarm, periodic or update
 * interrupt is ever raised), status D reads 0x80 (valid RAM and time).
 * The alarm registers and the rest of the 128 bytes are CMOS RAM that
 * reads back what was written, preset with the base and extended memory
 * sizes (0x15-0x18, 0x30-0x31, 0x34-0x35) as a BIOS would.  Bit 7 of the
 * index (NMI disable) is ignored.
 */
#include <time.h>

#include "tool.h"

#define RTC_SEC		0x00
#define RTC_MIN		0x02
#define RTC_HOUR	0x04
#define RTC_WDAY	0x06
#define RTC_MDAY	0x07
#define RTC_MON		0x08
#define RTC_YEAR	0x09
#define RTC_A		0x0a
#define RTC_B		0x0b
#define RTC_C		0x0c
#define RTC_D		0x0d
#define RTC_CENTURY	0x32

#define B_SET		0x80
#define B_DM_BINARY	0x04
#define B_24H		0x02

static uint8_t to_bcd(const struct rtc *r, unsigned int v)
{
	if (r->cmos[RTC_B] & B_DM_BINARY)
		return v;
	return (v / 10) << 4 | (v % 10);
}

static unsigned int from_bcd(const struct rtc *r, uint8_t v)
{
	if (r->cmos[RTC_B] & B_DM_BINARY)
		return v;
	return (v >> 4) * 10 + (v & 0xf);
}

static void rtc_now(const struct rtc *r, struct tm *tm)
{
	time_t t = r->now() + r->offset;

	gmtime_r(&t, tm);
}

static uint8_t rtc_time_reg(const struct rtc *r, unsigned int reg)
{
	struct tm tm;
	unsigned int h;

	rtc_now(r, &tm);
	switch (reg) {
	case RTC_SEC:
		return to_bcd(r, tm.tm_sec > 59 ? 59 : tm.tm_sec);
	case RTC_MIN:
		return to_bcd(r, tm.tm_min);
	case RTC_HOUR:
		if (r->cmos[RTC_B] & B_24H)
			return to_bcd(r, tm.tm_hour);
		h = tm.tm_hour % 12 ? tm.tm_hour % 12 : 12;
		return to_bcd(r, h) | (tm.tm_hour >= 12 ? 0x80 : 0);
	case RTC_WDAY:
		return to_bcd(r, tm.tm_wday + 1);
	case RTC_MDAY:
		return to_bcd(r, tm.tm_mday);
	case RTC_MON:
		return to_bcd(r, tm.tm_mon + 1);
	case RTC_YEAR:
		return to_bcd(r, tm.tm_year % 100);
	default:	/* RTC_CENTURY */
		return to_bcd(r, (tm.tm_year + 1900) / 100);
	}
}

static bool is_time_reg(unsigned int reg)
{
	return reg == RTC_SEC || reg == RTC_MIN || reg == RTC_HOUR ||
	       (reg >= RTC_WDAY && reg <= RTC_YEAR) || reg == RTC_CENTURY;
}

/* The guest set one time register: keep the difference to the host. */
static void rtc_set_time_reg(struct rtc *r, unsigned int reg, uint8_t val)
{
	struct tm tm;
	unsigned int v;
	time_t t;

	rtc_now(r, &tm);
	if (reg == RTC_HOUR && !(r->cmos[RTC_B] & B_24H)) {
		v = from_bcd(r, val & 0x7f) % 12;
		if (val & 0x80)
			v += 12;
	} else {
		v = from_bcd(r, val);
	}
	switch (reg) {
	case RTC_SEC:
		tm.tm_sec = v;
		break;
	case RTC_MIN:
		tm.tm_min = v;
		break;
	case RTC_HOUR:
		tm.tm_hour = v;
		break;
	case RTC_WDAY:
		return;		/* derived from the date */
	case RTC_MDAY:
		tm.tm_mday = v;
		break;
	case RTC_MON:
		tm.tm_mon = v - 1;
		break;
	case RTC_YEAR:
		tm.tm_year = (tm.tm_year + 1900) / 100 * 100 + v - 1900;
		break;
	default:
		tm.tm_year = v * 100 + tm.tm_year % 100 - 1900;
		break;
	}
	t = timegm(&tm);
	if (t != (time_t)-1)
		r->offset = t - r->now();
}

static uint32_t rtc_in(void *opaque, uint16_t off, unsigned int size)
{
	struct rtc *r = opaque;
	unsigned int reg = r->index;

	(void)size;
	if (off == 0)
		return 0xff;	/* the index port is write-only */
	if (is_time_reg(reg))
		return rtc_time_reg(r, reg);
	switch (reg) {
	case RTC_A:
		return r->cmos[RTC_A] & 0x7f;	/* UIP 0 */
	case RTC_C:
		return 0;
	case RTC_D:
		return 0x80;
	}
	return r->cmos[reg];
}

static void rtc_out(void *opaque, uint16_t off, unsigned int size,
		    uint32_t val)
{
	struct rtc *r = opaque;
	unsigned int reg = r->index;

	(void)size;
	if (off == 0) {
		r->index = val & 0x7f;	/* bit 7: NMI mask, ignored */
		return;
	}
	if (is_time_reg(reg)) {
		rtc_set_time_reg(r, reg, val);
		return;
	}
	switch (reg) {
	case RTC_C:
	case RTC_D:
		return;		/* read-only */
	case RTC_B:
		r->cmos[RTC_B] = val & ~B_SET;	/* SET: the clock runs on */
		return;
	}
	r->cmos[reg] = val;
}

void rtc_init(struct rtc *r, uint64_t ram_size, int64_t (*now)(void))
{
	uint64_t ext_k, above16_64k;

	*r = (struct rtc) {
		.dev = {
			.name = "rtc-cmos", .base = RTC_PORT, .len = 2,
			.byte_regs = true, .in = rtc_in, .out = rtc_out,
			.opaque = r,
		},
		.now = now,
	};
	r->cmos[RTC_A] = 0x26;
	r->cmos[RTC_B] = B_24H;
	/*
	 * base memory 640 KiB, extended memory (KiB, from 1 MiB, max 63 MiB),
	 * memory above 16 MiB in 64 KiB units (max 0xffff)
	 */
	ext_k = ram_size > (1ull << 20) ? (ram_size - (1ull << 20)) >> 10 : 0;
	if (ext_k > 0xfc00)
		ext_k = 0xfc00;
	above16_64k = ram_size > (16ull << 20) ? (ram_size - (16ull << 20)) >> 16 : 0;
	if (above16_64k > 0xffff)
		above16_64k = 0xffff;
	r->cmos[0x15] = 640 & 0xff;
	r->cmos[0x16] = 640 >> 8;
	r->cmos[0x17] = r->cmos[0x30] = ext_k & 0xff;
	r->cmos[0x18] = r->cmos[0x31] = ext_k >> 8;
	r->cmos[0x34] = above16_64k & 0xff;
	r->cmos[0x35] = above16_64k >> 8;
}
