// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor tool: the ACPI tables of a Linux guest (ACPI 6.x, section 5.2).
 *
 * Why ACPI and not only an Intel MP table: both enumerate the CPUs and
 * the IOAPIC, but a guest's `poweroff` needs a way to turn the machine
 * off, and on a PC without a BIOS that way is ACPI S5 (\_S5 in the DSDT,
 * then SLP_TYP|SLP_EN written to the PM1a control block).  The reset
 * register of the FADT gives reboot a defined path too.  With the MADT
 * listing the CPUs, Linux ignores an MP table, so kvisor writes none.
 *
 * Full (not hardware-reduced) ACPI, so the legacy PC devices stay: the
 * 8259 pair, the PIT, the CMOS RTC and COM1 at IRQ 4 (which Linux finds
 * without the DSDT describing it).  The FADT says: no 8042 (Linux skips
 * the keyboard controller probe; port 0x64's reset still works), no VGA,
 * no PM timer, no GPE blocks, SMI_CMD 0 (always in ACPI mode), fixed
 * power and sleep buttons absent.
 *
 *   ACPI_BASE + 0x000  RSDP (revision 2) -> XSDT
 *   ACPI_BASE + 0x040  XSDT -> FADT, MADT
 *   ACPI_BASE + 0x100  FADT (revision 6) -> FACS, DSDT
 *   ACPI_BASE + 0x240  FACS
 *   ACPI_BASE + 0x300  DSDT: \_S5 and the pvpanic device (QEMU0001)
 *   ACPI_BASE + 0x400  MADT: a LAPIC per vCPU (APIC IDs 0..N-1), the
 *                      IOAPIC (ID 0, GSI base 0), the ISA IRQ 0 and SCI
 *                      overrides, LINT1 as NMI on every CPU
 *
 * ISA IRQ n is IOAPIC pin n, except IRQ 0 (the PIT), which is pin 2, as
 * on every PC and as the module wires it (module/io/irq.c: KVISOR_IRQ_LINE
 * GSI 0 drives PIC IRQ 0 and IOAPIC pin 2); ACPI numbers IOAPIC pins as
 * GSIs, so the MADT says ISA IRQ 0 -> GSI 2.
 */
#include <string.h>

#include "tool.h"

#define RSDP_OFF	0x000
#define XSDT_OFF	0x040
#define FADT_OFF	0x100
#define FACS_OFF	0x240
#define DSDT_OFF	0x300
#define MADT_OFF	0x400

#define FADT_LEN	276
#define SCI_IRQ		9

static void put16(uint8_t *p, uint16_t v)
{
	memcpy(p, &v, 2);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static void put64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, 8);
}

static uint8_t checksum(const uint8_t *p, size_t len)
{
	uint8_t sum = 0;

	while (len--)
		sum += *p++;
	return -sum;
}

/* The common header of a system description table (ACPI 5.2.6). */
static void sdt_header(uint8_t *t, const char *sig, uint32_t len,
		       uint8_t rev)
{
	memcpy(t, sig, 4);
	put32(t + 4, len);
	t[8] = rev;
	memcpy(t + 10, "KVISOR", 6);		/* OEM ID */
	memcpy(t + 16, "KVISORVM", 8);		/* OEM table ID */
	put32(t + 24, 1);			/* OEM revision */
	memcpy(t + 28, "KVSR", 4);		/* creator ID */
	put32(t + 32, 1);			/* creator revision */
}

static void sdt_checksum(uint8_t *t)
{
	uint32_t len;

	memcpy(&len, t + 4, 4);
	t[9] = 0;
	t[9] = checksum(t, len);
}

/* A Generic Address Structure for @width-bit I/O at @port (5.2.3.2). */
static void gas_io(uint8_t *p, uint16_t port, uint8_t width)
{
	p[0] = 1;			/* system I/O */
	p[1] = width;
	p[2] = 0;
	p[3] = width / 8 == 4 ? 3 : width / 8 == 2 ? 2 : 1;
	put64(p + 4, port);
}

/*
 * DSDT body, AML (ACPI 20.2):
 *   Name (_S5, Package () { 5, 5, 0, 0 })
 *   Scope (\_SB) {
 *     Device (PEVT) {
 *       Name (_HID, "QEMU0001")
 *       Name (_CRS, ResourceTemplate () { IO (Decode16, 0x505, 0x505, 1, 1) })
 *     }
 *   }
 */
static const uint8_t dsdt_aml[] = {
	0x08, '_', 'S', '5', '_', 0x12, 0x08, 0x04,	/* Name, Package */
	0x0a, ACPI_S5_SLP_TYP, 0x0a, ACPI_S5_SLP_TYP, 0x00, 0x00,
	0x10, 0x2f, '\\', '_', 'S', 'B', '_',		/* Scope (\_SB) */
	0x5b, 0x82, 0x27, 'P', 'E', 'V', 'T',		/* Device (PEVT) */
	0x08, '_', 'H', 'I', 'D', 0x0d,			/* Name (_HID, */
	'Q', 'E', 'M', 'U', '0', '0', '0', '1', 0x00,
	0x08, '_', 'C', 'R', 'S', 0x11, 0x0d, 0x0a, 0x0a,	/* Buffer */
	0x47, 0x01, PVPANIC_PORT & 0xff, PVPANIC_PORT >> 8,	/* IO */
	PVPANIC_PORT & 0xff, PVPANIC_PORT >> 8, 0x01, 0x01,
	0x79, 0x00,					/* end tag */
};

static void write_fadt(uint8_t *f)
{
	memset(f, 0, FADT_LEN);
	sdt_header(f, "FACP", FADT_LEN, 6);
	f[131] = 5;					/* minor version 6.5 */
	put32(f + 36, ACPI_BASE + FACS_OFF);		/* FIRMWARE_CTRL */
	put32(f + 40, ACPI_BASE + DSDT_OFF);		/* DSDT */
	put16(f + 46, SCI_IRQ);				/* SCI_INT */
	/* SMI_CMD 0: no mode switch, always in ACPI mode */
	put32(f + 56, ACPI_PM_PORT);			/* PM1a_EVT_BLK */
	put32(f + 64, ACPI_PM_PORT + ACPI_PM1_CNT);	/* PM1a_CNT_BLK */
	f[88] = 4;					/* PM1_EVT_LEN */
	f[89] = 2;					/* PM1_CNT_LEN */
	put16(f + 96, 101);	/* P_LVL2_LAT > 100: no C2 */
	put16(f + 98, 1001);	/* P_LVL3_LAT > 1000: no C3 */
	/* IAPC_BOOT_ARCH: legacy devices, no 8042, no VGA */
	put16(f + 109, (1 << 0) | (1 << 2));
	/* flags: WBINVD, PWR_BUTTON and SLP_BUTTON (not fixed), RESET_REG_SUP */
	put32(f + 112, (1 << 0) | (1 << 4) | (1 << 5) | (1 << 10));
	gas_io(f + 116, PCI_CONF1_PORT + 1, 8);		/* RESET_REG: 0xcf9 */
	f[128] = 0x06;					/* RESET_VALUE */
	put64(f + 132, ACPI_BASE + FACS_OFF);		/* X_FIRMWARE_CTRL */
	put64(f + 140, ACPI_BASE + DSDT_OFF);		/* X_DSDT */
	gas_io(f + 148, ACPI_PM_PORT, 32);		/* X_PM1a_EVT_BLK */
	gas_io(f + 172, ACPI_PM_PORT + ACPI_PM1_CNT, 16);	/* X_PM1a_CNT_BLK */
	memcpy(f + 268, "KVISOR", 6);			/* hypervisor vendor */
	sdt_checksum(f);
}

static uint32_t write_madt(uint8_t *m, unsigned int cpus)
{
	uint32_t len = 44;
	unsigned int i;

	for (i = 0; i < cpus; i++, len += 8) {
		m[len] = 0;			/* processor local APIC */
		m[len + 1] = 8;
		m[len + 2] = i;			/* ACPI processor UID */
		m[len + 3] = i;			/* APIC ID */
		put32(m + len + 4, 1);		/* enabled */
	}
	m[len] = 1;				/* I/O APIC */
	m[len + 1] = 12;
	m[len + 2] = 0;				/* I/O APIC ID */
	m[len + 3] = 0;
	put32(m + len + 4, IOAPIC_ADDR);
	put32(m + len + 8, 0);			/* GSI base */
	len += 12;
	m[len] = 2;				/* interrupt source override */
	m[len + 1] = 10;
	m[len + 2] = 0;				/* ISA */
	m[len + 3] = 0;				/* IRQ 0 (the PIT) */
	put32(m + len + 4, 2);			/* is IOAPIC pin 2 */
	put16(m + len + 8, 0x0000);		/* conforming: edge, high */
	len += 10;
	m[len] = 2;				/* interrupt source override */
	m[len + 1] = 10;
	m[len + 2] = 0;				/* ISA */
	m[len + 3] = SCI_IRQ;
	put32(m + len + 4, SCI_IRQ);
	put16(m + len + 8, 0x000d);		/* level, active high */
	len += 10;
	m[len] = 4;				/* local APIC NMI */
	m[len + 1] = 6;
	m[len + 2] = 0xff;			/* all processors */
	put16(m + len + 3, 0x0000);		/* conforming */
	m[len + 5] = 1;				/* LINT1 */
	len += 6;
	sdt_header(m, "APIC", len, 5);
	put32(m + 36, LAPIC_ADDR);
	put32(m + 40, 1);			/* PCAT_COMPAT: 8259s present */
	sdt_checksum(m);
	return len;
}

uint64_t acpi_write(struct guest *g, unsigned int cpus)
{
	uint8_t *base = g->ram + ACPI_BASE;
	uint8_t *rsdp = base + RSDP_OFF, *xsdt = base + XSDT_OFF;
	uint8_t *facs = base + FACS_OFF, *dsdt = base + DSDT_OFF;

	memset(base, 0, ACPI_SIZE);

	memcpy(rsdp, "RSD PTR ", 8);
	memcpy(rsdp + 9, "KVISOR", 6);
	rsdp[15] = 2;				/* revision: ACPI 2.0+ */
	put32(rsdp + 20, 36);			/* length */
	put64(rsdp + 24, ACPI_BASE + XSDT_OFF);
	rsdp[8] = checksum(rsdp, 20);
	rsdp[32] = checksum(rsdp, 36);

	sdt_header(xsdt, "XSDT", 36 + 2 * 8, 1);
	put64(xsdt + 36, ACPI_BASE + FADT_OFF);
	put64(xsdt + 44, ACPI_BASE + MADT_OFF);
	sdt_checksum(xsdt);

	write_fadt(base + FADT_OFF);

	memcpy(facs, "FACS", 4);
	put32(facs + 4, 64);
	facs[32] = 2;				/* version */

	sdt_header(dsdt, "DSDT", 36 + sizeof(dsdt_aml), 2);
	memcpy(dsdt + 36, dsdt_aml, sizeof(dsdt_aml));
	sdt_checksum(dsdt);

	write_madt(base + MADT_OFF, cpus);
	return ACPI_BASE + RSDP_OFF;
}
