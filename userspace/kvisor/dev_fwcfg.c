// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor tool: QEMU's fw_cfg, the traditional I/O port interface
 * (QEMU docs/specs/fw_cfg.txt): write a 16-bit key to the selector port
 * 0x510, then read the item's bytes one at a time from the data port
 * 0x511; selecting resets the offset, reads past the end (or of an
 * unknown key) return 0, writes to the data port are ignored.  No DMA
 * interface (FW_CFG_ID bit 1 clear), no port 0x514.
 *
 * Items, with QEMU's key numbers (include/standard-headers/linux/
 * qemu_fw_cfg.h), multi-byte values little-endian as QEMU stores them:
 *   0x00 FW_CFG_SIGNATURE    "QEMU"
 *   0x01 FW_CFG_ID           u32 1 (traditional interface only)
 *   0x03 FW_CFG_RAM_SIZE     u64 guest RAM in bytes
 *   0x05 FW_CFG_NB_CPUS      u16 1
 *   0x0f FW_CFG_MAX_CPUS     u16 1
 *   0x14 FW_CFG_CMDLINE_SIZE u32 strlen(--cmdline) + 1 (only with --cmdline)
 *   0x15 FW_CFG_CMDLINE_DATA the --cmdline string and its NUL
 *   0x19 FW_CFG_FILE_DIR     u32 file count, big-endian: 0 (no files)
 * QEMU has no "max RAM" key: 0x11 is FW_CFG_KERNEL_DATA, not provided.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "tool.h"

static struct fw_cfg_item *find_item(struct fw_cfg *f, uint16_t key)
{
	unsigned int i;

	for (i = 0; i < f->nr_items; i++)
		if (f->items[i].key == key)
			return &f->items[i];
	return NULL;
}

static int add_item(struct fw_cfg *f, uint16_t key, const void *data,
		    uint32_t len, bool own)
{
	struct fw_cfg_item *it;

	if (f->nr_items == FW_CFG_MAX_ITEMS)
		return -ENOSPC;
	it = &f->items[f->nr_items];
	if (own) {
		it->data = malloc(len);
		if (!it->data)
			return -ENOMEM;
	} else {
		if (f->store_used + len > sizeof(f->store))
			return -ENOSPC;
		it->data = f->store + f->store_used;
		f->store_used += len;
	}
	memcpy(it->data, data, len);
	it->owned = own;
	it->key = key;
	it->len = len;
	f->nr_items++;
	return 0;
}

static int add_le(struct fw_cfg *f, uint16_t key, uint64_t v, unsigned int n)
{
	uint8_t b[8];
	unsigned int i;

	for (i = 0; i < n; i++)
		b[i] = v >> (8 * i);
	return add_item(f, key, b, n, false);
}

static uint32_t fw_cfg_in(void *opaque, uint16_t off, unsigned int size)
{
	struct fw_cfg *f = opaque;
	struct fw_cfg_item *it;
	uint32_t val = 0;
	unsigned int i;

	if (off != 1)
		return 0;	/* the selector port reads as 0 */
	it = find_item(f, f->selector);
	for (i = 0; i < size; i++) {
		uint8_t b = 0;

		if (it && f->offset < it->len)
			b = it->data[f->offset];
		if (it && f->offset < it->len)
			f->offset++;
		val |= (uint32_t)b << (8 * i);
	}
	return val;
}

static void fw_cfg_out(void *opaque, uint16_t off, unsigned int size,
		       uint32_t val)
{
	struct fw_cfg *f = opaque;

	(void)size;
	if (off != 0)
		return;		/* data port writes: ignored, as QEMU >= 2.4 */
	f->selector = val & 0xffff;
	f->offset = 0;
}

int fw_cfg_init(struct fw_cfg *f, uint64_t ram_size, uint16_t nr_cpus,
		const char *cmdline)
{
	static const uint8_t file_dir[4];	/* count 0, big-endian */
	int r;

	*f = (struct fw_cfg) {
		.dev = {
			.name = "fw_cfg",
			.base = FW_CFG_PORT,
			.len = 2,
			.in = fw_cfg_in,
			.out = fw_cfg_out,
			.opaque = f,
		},
	};
	r = add_item(f, FW_CFG_SIGNATURE, "QEMU", 4, false);
	r = r ?: add_le(f, FW_CFG_ID, 1, 4);
	r = r ?: add_le(f, FW_CFG_RAM_SIZE, ram_size, 8);
	r = r ?: add_le(f, FW_CFG_NB_CPUS, nr_cpus, 2);
	r = r ?: add_le(f, FW_CFG_MAX_CPUS, nr_cpus, 2);
	r = r ?: add_item(f, FW_CFG_FILE_DIR, file_dir, 4, false);
	if (!r && cmdline) {
		uint32_t len = strlen(cmdline) + 1;

		r = add_le(f, FW_CFG_CMDLINE_SIZE, len, 4);
		r = r ?: add_item(f, FW_CFG_CMDLINE_DATA, cmdline, len, true);
	}
	if (r)
		fw_cfg_free(f);
	return r;
}

void fw_cfg_free(struct fw_cfg *f)
{
	unsigned int i;

	for (i = 0; i < f->nr_items; i++)
		if (f->items[i].owned)
			free(f->items[i].data);
	f->nr_items = 0;
}
