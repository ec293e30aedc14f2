// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor tool: how a guest ends the machine, and the first-one-wins record
 * of it (struct vm_end), as port I/O devices:
 *
 *   0x60, 0x64     the 8042 keyboard controller, reset only: port 0x64
 *                  reads 0 (output buffer empty, input buffer empty, so a
 *                  driver's wait loops end), command 0xfe (pulse the reset
 *                  line) resets; other commands and port 0x60 are ignored,
 *                  0x60 reads 0.  Linux's reboot=k path.
 *   0xcf8-0xcff    PCI configuration mechanism #1 with no device: the
 *                  32-bit CONFIG_ADDRESS at 0xcf8 reads back (bits 30-24
 *                  and 1-0 read 0), CONFIG_DATA at 0xcfc-0xcff reads all
 *                  ones ("no device": vendor 0xffff) and ignores writes.
 *                  Byte access at 0xcf9 is the reset control register of
 *                  PC chipsets (Intel ICH/PCH 'RST_CNT'): writing a value
 *                  with bit 2 (RST_CPU) set resets; bit 1 (SYS_RST) is
 *                  kept.  Linux's reboot=pci, and the FADT's reset register.
 *   0x600-0x605    ACPI PM1a event block (status 0x600, enable 0x602; no
 *                  event is ever raised: status reads 0, enable reads
 *                  back) and control block (0x604: SCI_EN reads 1 as SMI_CMD
 *                  is 0; SLP_EN (bit 13) with SLP_TYP (bits 10-12) equal
 *                  to \_S5's value powers off, other sleep types are
 *                  ignored) (ACPI 4.8.3).
 *   0x505          QEMU's pvpanic ISA device: reads 3 (PANICKED and
 *                  CRASH_LOADED supported); a write with bit 0 set means
 *                  the guest kernel panicked, bit 1 alone (crash kernel
 *                  loaded) is ignored.
 */
#include <stdio.h>

#include "tool.h"

void end_init(struct vm_end *e)
{
	e->status = -1;
	e->why[0] = 0;
	e->kick = NULL;
	e->ctx = NULL;
}

bool end_request(struct vm_end *e, int status, const char *why)
{
	int running = -1;

	if (!__atomic_compare_exchange_n(&e->status, &running, status, false,
					 __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST))
		return false;
	snprintf(e->why, sizeof(e->why), "%s", why);
	if (e->kick)
		e->kick(e->ctx);
	return true;
}

/* --- 8042 -------------------------------------------------------------- */

static uint32_t i8042_in(void *opaque, uint16_t off, unsigned int size)
{
	(void)opaque;
	(void)off;
	(void)size;
	return 0;		/* status: both buffers empty; data: 0 */
}

static void i8042_cmd_out(void *opaque, uint16_t off, unsigned int size,
			  uint32_t val)
{
	struct i8042 *k = opaque;

	(void)off;
	(void)size;
	if (val == 0xfe)
		end_request(k->end, EXIT_REBOOT,
			    "guest reset the machine (keyboard controller command 0xfe)");
}

static void i8042_data_out(void *opaque, uint16_t off, unsigned int size,
			   uint32_t val)
{
	(void)opaque;
	(void)off;
	(void)size;
	(void)val;
}

void i8042_init(struct i8042 *k, struct vm_end *end)
{
	*k = (struct i8042) {
		.data = {
			.name = "i8042-data", .base = I8042_DATA_PORT, .len = 1,
			.byte_regs = true, .in = i8042_in,
			.out = i8042_data_out, .opaque = k,
		},
		.cmd = {
			.name = "i8042-cmd", .base = I8042_CMD_PORT, .len = 1,
			.byte_regs = true, .in = i8042_in,
			.out = i8042_cmd_out, .opaque = k,
		},
		.end = end,
	};
}

/* --- PCI conf1 and 0xcf9 ------------------------------------------------ */

static uint32_t conf1_in(void *opaque, uint16_t off, unsigned int size)
{
	struct pci_conf1 *p = opaque;

	if (off == 0 && size == 4)
		return p->addr;
	if (off == 1 && size == 1)
		return p->rcr;
	if (off >= 4)
		return 0xffffffff;	/* no device */
	return 0xffffffff;		/* other sizes at 0xcf8-0xcfb: nothing */
}

static void conf1_out(void *opaque, uint16_t off, unsigned int size,
		      uint32_t val)
{
	struct pci_conf1 *p = opaque;

	if (off == 0 && size == 4) {
		p->addr = val & 0x80fffffcu;
		return;
	}
	if (off == 1 && size == 1) {
		p->rcr = val & 0x02;
		if (val & 0x04)
			end_request(p->end, EXIT_REBOOT,
				    "guest reset the machine (port 0xcf9)");
	}
	/* CONFIG_DATA writes: no device, ignored */
}

void pci_conf1_init(struct pci_conf1 *p, struct vm_end *end)
{
	*p = (struct pci_conf1) {
		.dev = {
			.name = "pci-conf1", .base = PCI_CONF1_PORT, .len = 8,
			.in = conf1_in, .out = conf1_out, .opaque = p,
		},
		.end = end,
	};
}

/* --- ACPI PM1a ------------------------------------------------------------ */

#define PM1_SCI_EN	(1u << 0)
#define PM1_SLP_TYP(v)	(((v) >> 10) & 7)
#define PM1_SLP_EN	(1u << 13)

static uint32_t acpi_pm_in(void *opaque, uint16_t off, unsigned int size)
{
	struct acpi_pm *a = opaque;
	uint64_t regs = a->sts | (uint64_t)a->en << 16 |
			(uint64_t)(a->cnt | PM1_SCI_EN) << 32;

	if (off + size > 6)
		return 0xffffffff;
	return regs >> (8 * off);
}

static void acpi_pm_out(void *opaque, uint16_t off, unsigned int size,
			uint32_t val)
{
	struct acpi_pm *a = opaque;
	unsigned int i;

	for (i = 0; i < size && off + i < 6; i++) {
		uint8_t b = val >> (8 * i);
		unsigned int o = off + i;

		switch (o) {
		case 0:
		case 1:
			/* status: write 1 to clear; nothing is ever set */
			a->sts &= ~((uint16_t)b << (8 * o));
			break;
		case 2:
		case 3:
			a->en = (a->en & ~(0xff << (8 * (o - 2)))) |
				b << (8 * (o - 2));
			break;
		default:
			a->cnt = (a->cnt & ~(0xff << (8 * (o - 4)))) |
				 b << (8 * (o - 4));
			break;
		}
	}
	if ((a->cnt & PM1_SLP_EN) && PM1_SLP_TYP(a->cnt) == ACPI_S5_SLP_TYP)
		end_request(a->end, 0, "guest powered off (ACPI S5)");
	a->cnt &= ~PM1_SLP_EN;	/* write-only: reads as 0 */
}

void acpi_pm_init(struct acpi_pm *a, struct vm_end *end)
{
	*a = (struct acpi_pm) {
		.dev = {
			.name = "acpi-pm", .base = ACPI_PM_PORT, .len = 6,
			.in = acpi_pm_in, .out = acpi_pm_out, .opaque = a,
		},
		.end = end,
	};
}

/* --- pvpanic ------------------------------------------------------------- */

static uint32_t pvpanic_in(void *opaque, uint16_t off, unsigned int size)
{
	(void)opaque;
	(void)off;
	(void)size;
	return 3;
}

static void pvpanic_out(void *opaque, uint16_t off, unsigned int size,
			uint32_t val)
{
	struct pvpanic *p = opaque;

	(void)off;
	(void)size;
	if (val & 1)
		end_request(p->end, EXIT_PANIC,
			    "guest kernel panicked (pvpanic)");
}

void pvpanic_init(struct pvpanic *p, struct vm_end *end)
{
	*p = (struct pvpanic) {
		.dev = {
			.name = "pvpanic", .base = PVPANIC_PORT, .len = 1,
			.byte_regs = true, .in = pvpanic_in,
			.out = pvpanic_out, .opaque = p,
		},
		.end = end,
	};
}
