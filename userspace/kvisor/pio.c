// SPDX-License-Identifier: GPL-2.0
/* kvisor tool: a tiny port I/O bus. */
#include <errno.h>

#include "tool.h"

int pio_register(struct pio_bus *bus, struct pio_dev *dev)
{
	unsigned int i;

	if (bus->nr_devs == PIO_MAX_DEVS || !dev->len ||
	    dev->base + dev->len > 0x10000)
		return -EINVAL;
	for (i = 0; i < bus->nr_devs; i++) {
		struct pio_dev *d = bus->devs[i];

		if (dev->base < d->base + d->len && d->base < dev->base + dev->len)
			return -EBUSY;
	}
	bus->devs[bus->nr_devs++] = dev;
	return 0;
}

static struct pio_dev *find(struct pio_bus *bus, uint16_t port)
{
	unsigned int i;

	for (i = 0; i < bus->nr_devs; i++) {
		struct pio_dev *d = bus->devs[i];

		if (port >= d->base && port < d->base + d->len)
			return d;
	}
	return NULL;
}

static uint32_t size_mask(unsigned int size)
{
	return size >= 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
}

uint32_t pio_in(struct pio_bus *bus, uint16_t port, unsigned int size)
{
	struct pio_dev *d = find(bus, port);
	uint32_t val = 0;
	unsigned int i;

	if (!d) {
		bus->unassigned_reads++;
		return size_mask(size);
	}
	if (d->byte_regs && size > 1) {
		for (i = 0; i < size; i++)
			val |= pio_in(bus, port + i, 1) << (8 * i);
		return val;
	}
	d->reads++;
	return d->in(d->opaque, port - d->base, size) & size_mask(size);
}

void pio_out(struct pio_bus *bus, uint16_t port, unsigned int size,
	     uint32_t val)
{
	struct pio_dev *d = find(bus, port);
	unsigned int i;

	if (!d) {
		bus->unassigned_writes++;
		return;
	}
	if (d->byte_regs && size > 1) {
		for (i = 0; i < size; i++)
			pio_out(bus, port + i, 1, (val >> (8 * i)) & 0xff);
		return;
	}
	d->writes++;
	d->out(d->opaque, port - d->base, size, val & size_mask(size));
}
