// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor tool: QEMU's isa-debug-exit at port 0xf4 (QEMU: -device
 * isa-debug-exit,iobase=0xf4,iosize=0x04).  A write of V (any width)
 * ends the run with exit status (V << 1) | 1; reads return all ones.
 */
#include "tool.h"

static uint32_t debug_exit_in(void *opaque, uint16_t off, unsigned int size)
{
	(void)opaque;
	(void)off;
	(void)size;
	return 0xffffffffu;
}

static void debug_exit_out(void *opaque, uint16_t off, unsigned int size,
			   uint32_t val)
{
	struct debug_exit *d = opaque;

	(void)off;
	(void)size;
	if (d->fired)
		return;
	d->fired = true;
	d->status = (int)(((val << 1) | 1) & 0xff);
}

void debug_exit_init(struct debug_exit *d)
{
	*d = (struct debug_exit) {
		.dev = {
			.name = "isa-debug-exit",
			.base = DEBUG_EXIT_PORT,
			.len = 4,
			.in = debug_exit_in,
			.out = debug_exit_out,
			.opaque = d,
		},
	};
}
