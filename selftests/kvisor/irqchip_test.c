// SPDX-License-Identifier: GPL-2.0
/*
 * The VM-level irqchip (module/io/irq.c, ioapic.c, pic.c, pit.c): the VM
 * ioctls with bad input, the chip state blobs, a guest programming the
 * IOAPIC through MMIO, the PIC pair through its ports and the PIT
 * against its own TSC; GSI lines, irqfds and MSIs seen in the chips'
 * state; and the hostile cases (a 1-tick PIT, a level line never EOIed,
 * garbage written to the IOAPIC).
 */
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/time.h>

#include "kselftest_harness.h"
#include "vm.h"

#define EXPECT_ERRNO(err, call) do {					\
	errno = 0;							\
	EXPECT_EQ(-1, (long)(call)) TH_LOG("%s", #call);		\
	EXPECT_EQ(err, errno) TH_LOG("%s: %s", #call, strerror(errno));	\
} while (0)

static int create_irqchip(struct vm *vm)
{
	return ioctl(vm->fd, KVISOR_CREATE_IRQCHIP, 0) ? -errno : 0;
}

static int irq_line(struct vm *vm, uint32_t gsi, uint32_t level)
{
	struct kvisor_irq_level l = { .gsi = gsi, .level = level };

	return ioctl(vm->fd, KVISOR_IRQ_LINE, &l) ? -errno : 0;
}

static int get_chip(struct vm *vm, uint32_t id, void *out, size_t size)
{
	struct kvisor_irqchip_state st = { .chip_id = id };

	if (ioctl(vm->fd, KVISOR_GET_IRQCHIP, &st))
		return -errno;
	memcpy(out, st.data, size);
	return 0;
}

static int set_chip(struct vm *vm, uint32_t id, const void *in, size_t size)
{
	struct kvisor_irqchip_state st = { .chip_id = id };

	memcpy(st.data, in, size);
	return ioctl(vm->fd, KVISOR_SET_IRQCHIP, &st) ? -errno : 0;
}

static struct kvisor_pic_state pic(struct vm *vm, uint32_t id)
{
	struct kvisor_pic_state p;

	memset(&p, 0xee, sizeof(p));
	get_chip(vm, id, &p, sizeof(p));
	return p;
}

static struct kvisor_ioapic_state ioapic(struct vm *vm)
{
	struct kvisor_ioapic_state s;

	memset(&s, 0xee, sizeof(s));
	get_chip(vm, KVISOR_IRQCHIP_IOAPIC, &s, sizeof(s));
	return s;
}

/* VM with an irqchip and vCPU 0 in long mode running @code. */
#define IRQCHIP_GUEST(vm, v, code) do {					\
	int __s;							\
	VM_CREATE_OR_SKIP(vm);						\
	ASSERT_EQ(0, create_irqchip(vm));				\
	__s = vcpu_add(vm, v, 0);					\
	ASSERT_EQ(0, __s) TH_LOG("CREATE_VCPU 0: %s", strerror(-__s));	\
	vm_load_code(vm, code, code##_end);				\
	__s = vcpu_setup_mode(v, MODE_LONG, CODE_GPA);			\
	ASSERT_EQ(0, __s) TH_LOG("long mode: %s", strerror(-__s));	\
} while (0)

/* ------------------------------------------------------------------ */
/* Bad input                                                          */
/* ------------------------------------------------------------------ */

TEST(create_irqchip_rules)
{
	struct vm vm;
	struct vcpu v;

	VM_CREATE_OR_SKIP(&vm);
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_CREATE_IRQCHIP, 1));
	EXPECT_EQ(0, create_irqchip(&vm));
	EXPECT_ERRNO(EEXIST, ioctl(vm.fd, KVISOR_CREATE_IRQCHIP, 0));
	vm_destroy(&vm);

	/* after a vCPU: EBUSY, and the VM goes on without one */
	VM_CREATE_OR_SKIP(&vm);
	ASSERT_EQ(0, vcpu_add(&vm, &v, 0));
	EXPECT_ERRNO(EBUSY, ioctl(vm.fd, KVISOR_CREATE_IRQCHIP, 0));
	EXPECT_ERRNO(ENXIO, ioctl(vm.fd, KVISOR_IRQ_LINE,
				  &(struct kvisor_irq_level){ 4, 1 }));
	/* the vCPU gone, an irqchip may come */
	vcpu_close(&v);
	EXPECT_EQ(0, create_irqchip(&vm));
	vm_destroy(&vm);
}

TEST(enxio_without_irqchip)
{
	struct kvisor_irq_level l = { .gsi = 4, .level = 1 };
	struct kvisor_msi msi = { .address = 0xfee00000, .data = 0x40 };
	struct kvisor_irqfd fd = { .fd = -1 };
	struct kvisor_irqchip_state st = { 0 };
	struct vm vm;

	VM_CREATE_OR_SKIP(&vm);
	EXPECT_ERRNO(ENXIO, ioctl(vm.fd, KVISOR_IRQ_LINE, &l));
	EXPECT_ERRNO(ENXIO, ioctl(vm.fd, KVISOR_SIGNAL_MSI, &msi));
	EXPECT_ERRNO(ENXIO, ioctl(vm.fd, KVISOR_IRQFD, &fd));
	EXPECT_ERRNO(ENXIO, ioctl(vm.fd, KVISOR_GET_IRQCHIP, &st));
	EXPECT_ERRNO(ENXIO, ioctl(vm.fd, KVISOR_SET_IRQCHIP, &st));
	/* unknown VM ioctls stay ENOTTY, with or without an irqchip */
	EXPECT_ERRNO(ENOTTY, ioctl(vm.fd, _IO(KVISOR_IO, 0x1f), 0));
	ASSERT_EQ(0, create_irqchip(&vm));
	EXPECT_ERRNO(ENOTTY, ioctl(vm.fd, _IO(KVISOR_IO, 0x1f), 0));
	EXPECT_ERRNO(ENOTTY, ioctl(vm.fd, _IOW(KVISOR_IO, 0x13, int), &l));
	/* the irqchip ioctls on the system fd */
	EXPECT_ERRNO(ENOTTY, ioctl(vm.sys_fd, KVISOR_IRQ_LINE, &l));
	EXPECT_ERRNO(ENOTTY, ioctl(vm.sys_fd, KVISOR_CREATE_IRQCHIP, 0));
	vm_destroy(&vm);
}

TEST(irq_line_and_msi_bad_input)
{
	struct kvisor_msi msi;
	struct vm vm;
	int i;

	VM_CREATE_OR_SKIP(&vm);
	ASSERT_EQ(0, create_irqchip(&vm));
	EXPECT_EQ(-EINVAL, irq_line(&vm, 24, 1));
	EXPECT_EQ(-EINVAL, irq_line(&vm, 2, 1));	/* the cascade */
	EXPECT_EQ(-EINVAL, irq_line(&vm, 0xffffffff, 0));
	EXPECT_EQ(-EINVAL, irq_line(&vm, 4, 2));
	for (i = 0; i < KVISOR_NR_GSIS; i++)
		if (i != 2)
			EXPECT_EQ(0, irq_line(&vm, i, 0));
	EXPECT_ERRNO(EFAULT, ioctl(vm.fd, KVISOR_IRQ_LINE, NULL));

	memset(&msi, 0, sizeof(msi));
	msi.address = 0xfee00000;
	msi.data = 0x41;
	EXPECT_LE(0, ioctl(vm.fd, KVISOR_SIGNAL_MSI, &msi));	/* no vCPU: 0 */
	msi.flags = 1;
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_SIGNAL_MSI, &msi));
	msi.flags = 0;
	msi.padding = 1;
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_SIGNAL_MSI, &msi));
	msi.padding = 0;
	msi.address = 0xfed00000;
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_SIGNAL_MSI, &msi));
	msi.address = 0x1fee00000ull;
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_SIGNAL_MSI, &msi));
	msi.address = 0xfeefffff;
	msi.data = 0x10041;	/* bit 16: reserved */
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_SIGNAL_MSI, &msi));
	msi.data = 0x341;	/* delivery mode 3: reserved */
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_SIGNAL_MSI, &msi));
	msi.data = 0x841;	/* bit 11: reserved */
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_SIGNAL_MSI, &msi));
	EXPECT_ERRNO(EFAULT, ioctl(vm.fd, KVISOR_SIGNAL_MSI, NULL));
	vm_destroy(&vm);
}

TEST(irqfd_bad_input)
{
	struct kvisor_irqfd a;
	struct vm vm;
	int efd, pfd[2];

	VM_CREATE_OR_SKIP(&vm);
	ASSERT_EQ(0, create_irqchip(&vm));
	efd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, efd);
	ASSERT_EQ(0, pipe(pfd));

	memset(&a, 0, sizeof(a));
	a.fd = pfd[0];
	a.gsi = 5;
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_IRQFD, &a));	/* a pipe */
	a.fd = vm.fd;
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_IRQFD, &a));	/* the VM */
	a.fd = -1;
	EXPECT_ERRNO(EBADF, ioctl(vm.fd, KVISOR_IRQFD, &a));
	a.fd = 1000000;
	EXPECT_ERRNO(EBADF, ioctl(vm.fd, KVISOR_IRQFD, &a));
	a.fd = efd;
	a.gsi = 24;
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_IRQFD, &a));
	a.gsi = 2;
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_IRQFD, &a));
	a.gsi = 5;
	a.flags = 2;
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_IRQFD, &a));
	a.flags = 0;
	a.padding = 1;
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_IRQFD, &a));
	a.padding = 0;
	/* deassign what is not assigned */
	a.flags = KVISOR_IRQFD_FLAG_DEASSIGN;
	EXPECT_ERRNO(ENOENT, ioctl(vm.fd, KVISOR_IRQFD, &a));
	a.flags = 0;
	EXPECT_EQ(0, ioctl(vm.fd, KVISOR_IRQFD, &a));
	EXPECT_ERRNO(EBUSY, ioctl(vm.fd, KVISOR_IRQFD, &a));
	a.gsi = 6;
	a.flags = KVISOR_IRQFD_FLAG_DEASSIGN;	/* wrong GSI */
	EXPECT_ERRNO(ENOENT, ioctl(vm.fd, KVISOR_IRQFD, &a));
	a.gsi = 5;
	EXPECT_EQ(0, ioctl(vm.fd, KVISOR_IRQFD, &a));
	EXPECT_ERRNO(ENOENT, ioctl(vm.fd, KVISOR_IRQFD, &a));
	/* again, then left assigned when the VM goes */
	a.flags = 0;
	EXPECT_EQ(0, ioctl(vm.fd, KVISOR_IRQFD, &a));
	EXPECT_ERRNO(EFAULT, ioctl(vm.fd, KVISOR_IRQFD, NULL));
	close(pfd[0]);
	close(pfd[1]);
	vm_destroy(&vm);
	close(efd);
}

/* An irqfd whose eventfd is closed first is released (EPOLLHUP path). */
TEST(irqfd_eventfd_closed_first)
{
	struct kvisor_irqfd a = { .gsi = 7 };
	struct vm vm;
	int i;

	VM_CREATE_OR_SKIP(&vm);
	ASSERT_EQ(0, create_irqchip(&vm));
	for (i = 0; i < 200; i++) {
		a.fd = eventfd(0, EFD_CLOEXEC);
		ASSERT_LE(0, a.fd);
		ASSERT_EQ(0, ioctl(vm.fd, KVISOR_IRQFD, &a));
		ASSERT_EQ(0, eventfd_write(a.fd, 1));
		close(a.fd);
	}
	vm_destroy(&vm);
}

TEST(irqchip_state_bad_input)
{
	struct kvisor_irqchip_state st;
	struct kvisor_pic_state p, p0;
	struct kvisor_ioapic_state io, io0;
	struct kvisor_pit_state t, t0;
	struct vm vm;

	VM_CREATE_OR_SKIP(&vm);
	ASSERT_EQ(0, create_irqchip(&vm));
	memset(&st, 0, sizeof(st));
	st.chip_id = 4;
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_GET_IRQCHIP, &st));
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_SET_IRQCHIP, &st));
	st.chip_id = 0xffffffff;
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_GET_IRQCHIP, &st));
	st.chip_id = KVISOR_IRQCHIP_PIC_MASTER;
	st.padding = 1;
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_GET_IRQCHIP, &st));
	EXPECT_ERRNO(EFAULT, ioctl(vm.fd, KVISOR_GET_IRQCHIP, NULL));
	EXPECT_ERRNO(EFAULT, ioctl(vm.fd, KVISOR_SET_IRQCHIP, NULL));

	/* PIC */
	ASSERT_EQ(0, get_chip(&vm, KVISOR_IRQCHIP_PIC_MASTER, &p0, sizeof(p0)));
	EXPECT_EQ(0, set_chip(&vm, KVISOR_IRQCHIP_PIC_MASTER, &p0, sizeof(p0)));
	st.padding = 0;
	ASSERT_EQ(0, ioctl(vm.fd, KVISOR_GET_IRQCHIP, &st));
	st.data[sizeof(p0)] = 1;		/* beyond the layout */
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_SET_IRQCHIP, &st));
	st.data[sizeof(p0)] = 0;
	st.data[sizeof(st.data) - 1] = 1;
	EXPECT_ERRNO(EINVAL, ioctl(vm.fd, KVISOR_SET_IRQCHIP, &st));
	p = p0; p.vector_base = 0x21;
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_PIC_MASTER, &p, sizeof(p)));
	p = p0; p.priority_base = 8;
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_PIC_MASTER, &p, sizeof(p)));
	p = p0; p.init_step = 4;
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_PIC_MASTER, &p, sizeof(p)));
	p = p0; p.flags = 0x200;
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_PIC_MASTER, &p, sizeof(p)));
	p = p0; p.elcr = 0x01;		/* IRQ 0 cannot be level */
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_PIC_MASTER, &p, sizeof(p)));
	p = p0; p.elcr = 0x01;		/* IRQ 8 neither */
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_PIC_SLAVE, &p, sizeof(p)));
	p = p0; p.icw3 = 8;		/* a slave id has 3 bits */
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_PIC_SLAVE, &p, sizeof(p)));
	/* nothing of the refused blobs stuck */
	p = pic(&vm, KVISOR_IRQCHIP_PIC_MASTER);
	EXPECT_EQ(0, memcmp(&p, &p0, sizeof(p)));

	/* IOAPIC */
	ASSERT_EQ(0, get_chip(&vm, KVISOR_IRQCHIP_IOAPIC, &io0, sizeof(io0)));
	io = io0; io.id = 0x01000001;
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_IOAPIC, &io, sizeof(io)));
	io = io0; io.ioregsel = 0x100;
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_IOAPIC, &io, sizeof(io)));
	io = io0; io.redir[3] |= 1ull << 17;
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_IOAPIC, &io, sizeof(io)));
	io = io0; io.redir[23] |= 1ull << 55;
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_IOAPIC, &io, sizeof(io)));
	io = io0; io.redir[0] |= 1ull << 12;	/* delivery status: read-only */
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_IOAPIC, &io, sizeof(io)));
	io = ioapic(&vm);
	EXPECT_EQ(0, memcmp(&io, &io0, sizeof(io)));

	/* PIT */
	ASSERT_EQ(0, get_chip(&vm, KVISOR_IRQCHIP_PIT, &t0, sizeof(t0)));
	t = t0; t.ch[0].count = 0;
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_PIT, &t, sizeof(t)));
	t = t0; t.ch[1].count = 0x10001;
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_PIT, &t, sizeof(t)));
	t = t0; t.ch[2].mode = 0x40;
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_PIT, &t, sizeof(t)));
	t = t0; t.ch[0].gate = 0;	/* tied high */
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_PIT, &t, sizeof(t)));
	t = t0; t.ch[2].flags = 0x100;
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_PIT, &t, sizeof(t)));
	t = t0; t.ch[2].padding[1] = 1;
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_PIT, &t, sizeof(t)));
	t = t0; t.port61 = 0x10;
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_PIT, &t, sizeof(t)));
	t = t0; t.port61 = 1;		/* gate bit without ch2's gate */
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_PIT, &t, sizeof(t)));
	t = t0; t.ch[1].mode = 0x01; t.ch[1].count = 10001;	/* BCD > 9999 */
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_PIT, &t, sizeof(t)));
	t = t0; t.padding[6] = 1;
	EXPECT_EQ(-EINVAL, set_chip(&vm, KVISOR_IRQCHIP_PIT, &t, sizeof(t)));
	vm_destroy(&vm);
}

/* ------------------------------------------------------------------ */
/* State round trips and lines seen in the chips' state               */
/* ------------------------------------------------------------------ */

TEST(irqchip_state_round_trip)
{
	struct kvisor_pic_state p, q;
	struct kvisor_ioapic_state io, io2;
	struct kvisor_pit_state t, t2;
	struct vm vm;
	int i;

	VM_CREATE_OR_SKIP(&vm);
	ASSERT_EQ(0, create_irqchip(&vm));
	/* reset state */
	p = pic(&vm, KVISOR_IRQCHIP_PIC_MASTER);
	EXPECT_EQ(0xff, p.imr);
	EXPECT_EQ(0x08, p.vector_base);
	EXPECT_EQ(0x04, p.icw3);
	p = pic(&vm, KVISOR_IRQCHIP_PIC_SLAVE);
	EXPECT_EQ(0x70, p.vector_base);
	EXPECT_EQ(0x02, p.icw3);
	io = ioapic(&vm);
	for (i = 0; i < KVISOR_IOAPIC_PINS; i++)
		EXPECT_EQ(1ull << 16, io.redir[i]);

	memset(&p, 0, sizeof(p));
	p.isr = 0x10;
	p.imr = 0x5a;
	p.elcr = 0x28;
	p.vector_base = 0x48;
	p.icw3 = 0x04;
	p.priority_base = 3;
	p.flags = KVISOR_PIC_AUTO_EOI | KVISOR_PIC_READ_ISR | KVISOR_PIC_SFNM;
	ASSERT_EQ(0, set_chip(&vm, KVISOR_IRQCHIP_PIC_MASTER, &p, sizeof(p)));
	q = pic(&vm, KVISOR_IRQCHIP_PIC_MASTER);
	EXPECT_EQ(0, memcmp(&p, &q, sizeof(p)));
	p.icw3 = 2;
	p.elcr = 0x08;
	p.vector_base = 0xa0;
	ASSERT_EQ(0, set_chip(&vm, KVISOR_IRQCHIP_PIC_SLAVE, &p, sizeof(p)));
	q = pic(&vm, KVISOR_IRQCHIP_PIC_SLAVE);
	EXPECT_EQ(0, memcmp(&p, &q, sizeof(p)));

	memset(&io, 0, sizeof(io));
	io.id = 0x0a000000;
	io.ioregsel = 0x13;
	for (i = 0; i < KVISOR_IOAPIC_PINS; i++)
		io.redir[i] = (uint64_t)i << 56 | 1u << 16 | (0x30 + i);
	io.redir[9] = 0x0300000000018039ull;	/* level, masked */
	ASSERT_EQ(0, set_chip(&vm, KVISOR_IRQCHIP_IOAPIC, &io, sizeof(io)));
	io2 = ioapic(&vm);
	EXPECT_EQ(0, memcmp(&io, &io2, sizeof(io)));

	ASSERT_EQ(0, get_chip(&vm, KVISOR_IRQCHIP_PIT, &t, sizeof(t)));
	t.ch[1].mode = 0x34;		/* lobyte/hibyte, mode 2 */
	t.ch[1].count = 1000;
	t.ch[1].flags = KVISOR_PIT_WRITE_MSB;
	t.ch[1].write_lsb = 0x12;
	t.ch[2].mode = 0x31;		/* mode 0, BCD */
	t.ch[2].count = 9999;
	t.ch[2].elapsed = 5000;
	t.ch[2].flags = KVISOR_PIT_LATCH_COUNT;	/* not counting: held */
	t.ch[2].latched_count = 0x4999;
	t.ch[2].gate = 1;
	t.port61 = 0x01;
	ASSERT_EQ(0, set_chip(&vm, KVISOR_IRQCHIP_PIT, &t, sizeof(t)));
	ASSERT_EQ(0, get_chip(&vm, KVISOR_IRQCHIP_PIT, &t2, sizeof(t2)));
	EXPECT_EQ(0, memcmp(&t.ch[1], &t2.ch[1], sizeof(t.ch[1])))
		TH_LOG("ch1 count %u mode %#x flags %#x elapsed %llu",
		       t2.ch[1].count, t2.ch[1].mode, t2.ch[1].flags,
		       (unsigned long long)t2.ch[1].elapsed);
	EXPECT_EQ(0, memcmp(&t.ch[2], &t2.ch[2], sizeof(t.ch[2])));
	EXPECT_EQ(0x01, t2.port61);
	vm_destroy(&vm);
}

TEST(gsi_lines_reach_pic_and_ioapic)
{
	struct kvisor_pic_state m, s;
	struct vm vm;

	VM_CREATE_OR_SKIP(&vm);
	ASSERT_EQ(0, create_irqchip(&vm));
	/* edge: a rising edge latches IRR, the fall keeps it */
	ASSERT_EQ(0, irq_line(&vm, 4, 1));
	ASSERT_EQ(0, irq_line(&vm, 4, 0));
	m = pic(&vm, KVISOR_IRQCHIP_PIC_MASTER);
	EXPECT_EQ(0x10, m.irr);
	/* GSI 0 is PIC IRQ 0 */
	ASSERT_EQ(0, irq_line(&vm, 0, 1));
	m = pic(&vm, KVISOR_IRQCHIP_PIC_MASTER);
	EXPECT_EQ(0x11, m.irr);
	ASSERT_EQ(0, irq_line(&vm, 0, 0));
	/* GSI 10 is the slave's IRQ 2; masked: the cascade stays quiet */
	ASSERT_EQ(0, irq_line(&vm, 10, 1));
	s = pic(&vm, KVISOR_IRQCHIP_PIC_SLAVE);
	EXPECT_EQ(0x04, s.irr);
	m = pic(&vm, KVISOR_IRQCHIP_PIC_MASTER);
	EXPECT_EQ(0x11, m.irr);
	/* unmasked on the slave: the master's IR2 requests */
	s.imr = 0;
	ASSERT_EQ(0, set_chip(&vm, KVISOR_IRQCHIP_PIC_SLAVE, &s, sizeof(s)));
	m = pic(&vm, KVISOR_IRQCHIP_PIC_MASTER);
	EXPECT_EQ(0x15, m.irr);
	/* level (ELCR): IRR follows the line */
	m.elcr = 0x20;
	m.irr = 0;
	ASSERT_EQ(0, set_chip(&vm, KVISOR_IRQCHIP_PIC_MASTER, &m, sizeof(m)));
	ASSERT_EQ(0, irq_line(&vm, 5, 1));
	EXPECT_EQ(0x24, pic(&vm, KVISOR_IRQCHIP_PIC_MASTER).irr);
	ASSERT_EQ(0, irq_line(&vm, 5, 0));
	EXPECT_EQ(0x04, pic(&vm, KVISOR_IRQCHIP_PIC_MASTER).irr);
	/* GSI 16-23 reach the IOAPIC only: no PIC bit moves */
	ASSERT_EQ(0, irq_line(&vm, 20, 1));
	EXPECT_EQ(0x04, pic(&vm, KVISOR_IRQCHIP_PIC_MASTER).irr);
	EXPECT_EQ(0x04, pic(&vm, KVISOR_IRQCHIP_PIC_SLAVE).irr);
	vm_destroy(&vm);
}

/* An eventfd signal pulses its GSI: seen as a latched edge in the PIC. */
TEST(irqfd_pulses_gsi)
{
	struct kvisor_irqfd a = { .gsi = 6 };
	struct kvisor_pic_state m;
	struct vm vm;
	int i;

	VM_CREATE_OR_SKIP(&vm);
	ASSERT_EQ(0, create_irqchip(&vm));
	a.fd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, a.fd);
	/* a count before the assign is a signal too */
	ASSERT_EQ(0, eventfd_write(a.fd, 1));
	ASSERT_EQ(0, ioctl(vm.fd, KVISOR_IRQFD, &a));
	EXPECT_EQ(0x40, pic(&vm, KVISOR_IRQCHIP_PIC_MASTER).irr);
	m = pic(&vm, KVISOR_IRQCHIP_PIC_MASTER);
	m.irr = 0;
	ASSERT_EQ(0, set_chip(&vm, KVISOR_IRQCHIP_PIC_MASTER, &m, sizeof(m)));
	EXPECT_EQ(0, pic(&vm, KVISOR_IRQCHIP_PIC_MASTER).irr);
	for (i = 0; i < 3; i++) {
		ASSERT_EQ(0, eventfd_write(a.fd, 1));
		EXPECT_EQ(0x40, pic(&vm, KVISOR_IRQCHIP_PIC_MASTER).irr);
		ASSERT_EQ(0, set_chip(&vm, KVISOR_IRQCHIP_PIC_MASTER, &m, sizeof(m)));
	}
	/* the count was consumed: nothing left to read */
	{
		struct pollfd pf = { .fd = a.fd, .events = POLLIN };

		EXPECT_EQ(0, poll(&pf, 1, 0));
	}
	/* deassigned: a signal no longer reaches the line */
	a.flags = KVISOR_IRQFD_FLAG_DEASSIGN;
	ASSERT_EQ(0, ioctl(vm.fd, KVISOR_IRQFD, &a));
	ASSERT_EQ(0, eventfd_write(a.fd, 1));
	EXPECT_EQ(0, pic(&vm, KVISOR_IRQCHIP_PIC_MASTER).irr);
	close(a.fd);
	vm_destroy(&vm);
}

/* VMs with irqchips and irqfds come and go: memory returns to baseline. */
TEST(irqchip_no_leak)
{
	struct kvisor_irqfd a = { .gsi = 9 };
	long before, after;
	struct vm vm;
	int i;

	VM_CREATE_OR_SKIP(&vm);
	vm_destroy(&vm);
	before = meminfo_kb("Slab") + meminfo_kb("KernelStack");
	for (i = 0; i < 100; i++) {
		VM_CREATE_OR_SKIP(&vm);
		ASSERT_EQ(0, create_irqchip(&vm));
		a.fd = eventfd(0, EFD_CLOEXEC);
		ASSERT_EQ(0, ioctl(vm.fd, KVISOR_IRQFD, &a));
		if (i & 1)
			close(a.fd);		/* HUP first */
		vm_destroy(&vm);
		if (!(i & 1))
			close(a.fd);
	}
	usleep(200000);
	after = meminfo_kb("Slab") + meminfo_kb("KernelStack");
	/* 100 chips of ~1 KiB and workqueues would be far more than this */
	EXPECT_LT(after - before, 400) TH_LOG("slab %ld kB -> %ld kB", before, after);
}

/* ------------------------------------------------------------------ */
/* Guests                                                             */
/* ------------------------------------------------------------------ */

GUEST_ASM(g_ioapic,
	"mov rbx, 0xfec00000\n"
	"mov dword ptr [rbx], 1\n"		/* IOAPICVER */
	"mov eax, [rbx + 0x10]\n"
	"out 0x10, eax\n"
	"mov dword ptr [rbx], 0\n"		/* IOAPICID: garbage in */
	"mov dword ptr [rbx + 0x10], 0xff5a5a5a\n"
	"mov eax, [rbx + 0x10]\n"
	"out 0x10, eax\n"
	"mov dword ptr [rbx], 2\n"		/* IOAPICARB */
	"mov eax, [rbx + 0x10]\n"
	"out 0x10, eax\n"
	"mov dword ptr [rbx], 0x1a\n"		/* pin 5 low: garbage in */
	"mov dword ptr [rbx + 0x10], 0xfffe5f41\n"
	"mov eax, [rbx + 0x10]\n"
	"out 0x10, eax\n"
	"mov dword ptr [rbx], 0x1b\n"		/* pin 5 high */
	"mov dword ptr [rbx + 0x10], 0x12345678\n"
	"mov eax, [rbx + 0x10]\n"
	"out 0x10, eax\n"
	"mov dword ptr [rbx], 0x1e\n"		/* pin 7: level, low, masked */
	"mov dword ptr [rbx + 0x10], 0x0001a030\n"
	"mov eax, [rbx + 0x10]\n"
	"out 0x10, eax\n"
	"movzx eax, byte ptr [rbx + 0x10]\n"	/* a byte of IOWIN */
	"out 0x10, eax\n"
	"mov byte ptr [rbx + 0x11], 0x80\n"	/* a byte into IOWIN */
	"mov eax, [rbx + 0x10]\n"
	"out 0x10, eax\n"
	"mov dword ptr [rbx], 0xffffff50\n"	/* IOREGSEL: 8 bits */
	"mov eax, [rbx]\n"
	"out 0x10, eax\n"
	"mov eax, [rbx + 0x10]\n"		/* index 0x50: nothing */
	"out 0x10, eax\n"
	"mov dword ptr [rbx + 0x20], 0xffffffff\n"	/* nothing there */
	"mov eax, [rbx + 0x20]\n"
	"out 0x10, eax\n"
	"mov dword ptr [rbx], 0x1e\n"
	"hlt\n");

TEST(guest_programs_ioapic)
{
	static const uint32_t want[] = {
		0x00170011, 0x0f000000, 0x0f000000, 0x00000f41, 0x12000000,
		0x0001a030, 0x30, 0x00018030, 0x50, 0, 0,
	};
	struct kvisor_ioapic_state io;
	struct vm vm;
	struct vcpu v;
	unsigned int i;

	IRQCHIP_GUEST(&vm, &v, g_ioapic);
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		EXPECT_EQ(want[i], EXPECT_OUT(&v, PORT_REPORT)) TH_LOG("read %u", i);
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	io = ioapic(&vm);
	EXPECT_EQ(0x0f000000, io.id);
	EXPECT_EQ(0x1e, io.ioregsel);
	EXPECT_EQ(0x1200000000000f41ull, io.redir[5]);
	EXPECT_EQ(0x18030ull, io.redir[7]);
	EXPECT_EQ(1ull << 16, io.redir[6]);
	vm_destroy(&vm);
}

GUEST_ASM(g_pic,
	/* master: edge, cascade, ICW4; vectors 0x20 */
	"mov al, 0x11\n out 0x20, al\n"
	"mov al, 0x20\n out 0x21, al\n"
	"mov al, 0x04\n out 0x21, al\n"
	"mov al, 0x01\n out 0x21, al\n"
	/* slave: vectors 0x28, id 2 */
	"mov al, 0x11\n out 0xa0, al\n"
	"mov al, 0x28\n out 0xa1, al\n"
	"mov al, 0x02\n out 0xa1, al\n"
	"mov al, 0x01\n out 0xa1, al\n"
	"mov al, 0xf5\n out 0x21, al\n"		/* OCW1 */
	"mov al, 0xff\n out 0xa1, al\n"
	"in al, 0x21\n out 0x10, al\n"
	"in al, 0xa1\n out 0x10, al\n"
	"mov dx, 0x4d0\n mov al, 0xff\n out dx, al\n in al, dx\n out 0x10, al\n"
	"mov dx, 0x4d1\n mov al, 0xff\n out dx, al\n in al, dx\n out 0x10, al\n"
	"mov al, 0\n out dx, al\n mov dx, 0x4d0\n out dx, al\n"
	"mov al, 0xaa\n out 0x10, al\n"		/* host pulses GSI 3, 1 */
	"mov al, 0x0a\n out 0x20, al\n"		/* OCW3: read IRR */
	"in al, 0x20\n out 0x10, al\n"
	"mov al, 0x0b\n out 0x20, al\n"		/* OCW3: read ISR */
	"in al, 0x20\n out 0x10, al\n"
	"mov al, 0x0c\n out 0x20, al\n"		/* OCW3: poll */
	"in al, 0x20\n out 0x10, al\n"
	"in al, 0x20\n out 0x10, al\n"		/* ISR again */
	"mov al, 0x0c\n out 0x20, al\n"		/* poll: IRQ 1 is lower */
	"in al, 0x20\n out 0x10, al\n"
	"in al, 0x20\n out 0x10, al\n"		/* ISR */
	"mov al, 0x20\n out 0x20, al\n"		/* non-specific EOI: IRQ 1 */
	"in al, 0x20\n out 0x10, al\n"
	"mov al, 0x63\n out 0x20, al\n"		/* specific EOI: IRQ 3 */
	"in al, 0x20\n out 0x10, al\n"
	"mov al, 0xc4\n out 0x20, al\n"		/* set priority: IRQ 4 lowest */
	"mov al, 0x0c\n out 0x20, al\n"		/* poll: IRQ 3 now */
	"in al, 0x20\n out 0x10, al\n"
	"hlt\n");

TEST(guest_programs_pic)
{
	struct kvisor_pic_state m, s;
	struct vm vm;
	struct vcpu v;

	IRQCHIP_GUEST(&vm, &v, g_pic);
	EXPECT_EQ(0xf5, EXPECT_OUT(&v, PORT_REPORT) & 0xff);
	EXPECT_EQ(0xff, EXPECT_OUT(&v, PORT_REPORT) & 0xff);
	EXPECT_EQ(0xf8, EXPECT_OUT(&v, PORT_REPORT) & 0xff);	/* IRQ 0-2 edge */
	EXPECT_EQ(0xde, EXPECT_OUT(&v, PORT_REPORT) & 0xff);	/* IRQ 8, 13 edge */
	EXPECT_EQ(0xaa, EXPECT_OUT(&v, PORT_REPORT) & 0xff);
	ASSERT_EQ(0, irq_line(&vm, 3, 1));
	ASSERT_EQ(0, irq_line(&vm, 3, 0));
	ASSERT_EQ(0, irq_line(&vm, 1, 1));
	EXPECT_EQ(0x0a, EXPECT_OUT(&v, PORT_REPORT) & 0xff);	/* IRR */
	EXPECT_EQ(0x00, EXPECT_OUT(&v, PORT_REPORT) & 0xff);	/* ISR */
	EXPECT_EQ(0x81, EXPECT_OUT(&v, PORT_REPORT) & 0xff);	/* poll: IRQ 1 */
	EXPECT_EQ(0x02, EXPECT_OUT(&v, PORT_REPORT) & 0xff);	/* ISR */
	EXPECT_EQ(0x00, EXPECT_OUT(&v, PORT_REPORT) & 0xff);	/* IRQ 3 waits */
	EXPECT_EQ(0x02, EXPECT_OUT(&v, PORT_REPORT) & 0xff);
	EXPECT_EQ(0x00, EXPECT_OUT(&v, PORT_REPORT) & 0xff);	/* EOI'd IRQ 1 */
	EXPECT_EQ(0x00, EXPECT_OUT(&v, PORT_REPORT) & 0xff);
	EXPECT_EQ(0x83, EXPECT_OUT(&v, PORT_REPORT) & 0xff);	/* now IRQ 3 */
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	m = pic(&vm, KVISOR_IRQCHIP_PIC_MASTER);
	s = pic(&vm, KVISOR_IRQCHIP_PIC_SLAVE);
	EXPECT_EQ(0x20, m.vector_base);
	EXPECT_EQ(0x04, m.icw3);
	EXPECT_EQ(0xf5, m.imr);
	EXPECT_EQ(0x08, m.isr);
	EXPECT_EQ(5, m.priority_base);
	EXPECT_EQ(0, m.init_step);
	EXPECT_EQ(0x28, s.vector_base);
	EXPECT_EQ(0x02, s.icw3);
	EXPECT_EQ(0xff, s.imr);
	vm_destroy(&vm);
}

/* The host's TSC rate (the guest's TSC runs at it), from CLOCK_MONOTONIC. */
static double tsc_hz(void)
{
	struct timespec a, b;
	uint64_t t0, t1;
	double ns;

	clock_gettime(CLOCK_MONOTONIC, &a);
	t0 = __rdtsc();
	usleep(200000);
	t1 = __rdtsc();
	clock_gettime(CLOCK_MONOTONIC, &b);
	ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
	return (t1 - t0) / (ns / 1e9);
}

#define PIT_HZ		1193182.0
#define PIT_SAMPLES	512

/* TSC and channel 2's latched count, 16 bytes a sample at DATA_GPA. */
GUEST_ASM(g_pit_rate,
	"in al, 0x61\n and al, 0xfc\n or al, 1\n out 0x61, al\n"	/* gate */
	"mov al, 0xb4\n out 0x43, al\n"		/* ch2, LSB/MSB, mode 2 */
	"xor eax, eax\n out 0x42, al\n out 0x42, al\n"	/* 65536 */
	"mov rdi, 0x20000\n"
	"mov ecx, 512\n"
	"1: rdtsc\n mov [rdi], eax\n mov [rdi + 4], edx\n"
	"mov al, 0x80\n out 0x43, al\n"		/* latch ch2 */
	"in al, 0x42\n mov [rdi + 8], al\n"
	"in al, 0x42\n mov [rdi + 9], al\n"
	"add rdi, 16\n"
	"mov edx, 3000\n 2: dec edx\n jnz 2b\n"
	"dec ecx\n jnz 1b\n"
	"mov eax, 1\n out 0x10, eax\n"
	"hlt\n");

TEST(pit_counts_at_its_rate)
{
	double hz, ticks = 0, tsc = 0, want;
	uint8_t *d;
	struct vm vm;
	struct vcpu v;
	int i, used = 0;

	hz = tsc_hz();
	IRQCHIP_GUEST(&vm, &v, g_pit_rate);
	EXPECT_EQ(1, EXPECT_OUT(&v, PORT_REPORT));
	d = vm.mem + DATA_GPA;
	for (i = 1; i < PIT_SAMPLES; i++) {
		uint64_t t0, t1;
		uint16_t c0, c1;

		memcpy(&t0, d + (i - 1) * 16, 8);
		memcpy(&t1, d + i * 16, 8);
		memcpy(&c0, d + (i - 1) * 16 + 8, 2);
		memcpy(&c1, d + i * 16 + 8, 2);
		/* pairs closer than 30 ms cannot hide a wrap (55 ms) */
		if (t1 <= t0 || t1 - t0 > 0.03 * hz)
			continue;
		ticks += (uint16_t)(c0 - c1);
		tsc += t1 - t0;
		used++;
	}
	want = tsc / hz * PIT_HZ;
	TH_LOG("%d pairs, %.0f PIT ticks over %.0f TSC cycles (%.0f expected at %.0f Hz)",
	       used, ticks, tsc, want, hz);
	ASSERT_LT(100, used);
	ASSERT_LT(100, want) TH_LOG("too little time to compare");
	EXPECT_LT(ticks, want * 1.3);
	EXPECT_GT(ticks, want / 1.3);
	vm_destroy(&vm);
}

/*
 * Channel 2's OUT on port 0x61 bit 5 in mode 0: low once the control word
 * is written, high at terminal count (about 65535 ticks later), held
 * while the gate (bit 0) is low.  [0x21000]: a TSC deadline for spins,
 * [0x21008]: 5 ms of TSC.
 */
GUEST_ASM(g_pit_out2,
	"in al, 0x61\n and al, 0xfc\n or al, 1\n out 0x61, al\n"
	"mov al, 0xb0\n out 0x43, al\n"		/* ch2, LSB/MSB, mode 0 */
	"in al, 0x61\n out 0x10, al\n"
	"mov al, 0xff\n out 0x42, al\n out 0x42, al\n"
	"rdtsc\n shl rdx, 32\n or rax, rdx\n mov r9, rax\n"
	"in al, 0x61\n out 0x10, al\n"
	"mov r8, r9\n add r8, [0x21000]\n"
	"3: in al, 0x61\n test al, 0x20\n jnz 4f\n"
	"rdtsc\n shl rdx, 32\n or rax, rdx\n cmp rax, r8\n jb 3b\n"
	"mov eax, 0xdead\n out 0x10, eax\n hlt\n"
	"4: rdtsc\n shl rdx, 32\n or rax, rdx\n sub rax, r9\n"
	"out 0x10, eax\n shr rax, 32\n out 0x10, eax\n"
	"mov al, 0xe8\n out 0x43, al\n"		/* read-back: ch2 status */
	"in al, 0x42\n out 0x10, al\n"
	/* gate low, count 100: held */
	"in al, 0x61\n and al, 0xfe\n out 0x61, al\n"
	"mov al, 0xb0\n out 0x43, al\n"
	"mov al, 100\n out 0x42, al\n xor al, al\n out 0x42, al\n"
	"rdtsc\n shl rdx, 32\n or rax, rdx\n mov r8, rax\n add r8, [0x21008]\n"
	"5: rdtsc\n shl rdx, 32\n or rax, rdx\n cmp rax, r8\n jb 5b\n"
	"in al, 0x61\n out 0x10, al\n"
	"mov al, 0x80\n out 0x43, al\n"		/* latch: still 100 */
	"in al, 0x42\n out 0x10, al\n in al, 0x42\n out 0x10, al\n"
	/* gate high: counts, OUT goes high */
	"in al, 0x61\n or al, 1\n out 0x61, al\n"
	"rdtsc\n shl rdx, 32\n or rax, rdx\n mov r8, rax\n add r8, [0x21000]\n"
	"6: in al, 0x61\n test al, 0x20\n jnz 7f\n"
	"rdtsc\n shl rdx, 32\n or rax, rdx\n cmp rax, r8\n jb 6b\n"
	"mov eax, 0xdead\n out 0x10, eax\n hlt\n"
	"7: mov eax, 0x600d\n out 0x10, eax\n"
	"hlt\n");

TEST(pit_channel2_out_and_gate)
{
	uint64_t deadline, five_ms, lo, hi, elapsed;
	double hz, full;
	struct vm vm;
	struct vcpu v;

	hz = tsc_hz();
	IRQCHIP_GUEST(&vm, &v, g_pit_out2);
	deadline = 2 * hz;
	five_ms = hz / 200;
	memcpy(vm.mem + 0x21000, &deadline, 8);
	memcpy(vm.mem + 0x21008, &five_ms, 8);
	EXPECT_EQ(0, EXPECT_OUT(&v, PORT_REPORT) & 0x20);	/* no count */
	EXPECT_EQ(0, EXPECT_OUT(&v, PORT_REPORT) & 0x20);	/* counting */
	lo = EXPECT_OUT(&v, PORT_REPORT);
	ASSERT_NE(0xdead, lo) TH_LOG("OUT2 never went high");
	hi = EXPECT_OUT(&v, PORT_REPORT);
	elapsed = hi << 32 | lo;
	full = 65535 / PIT_HZ * hz;
	TH_LOG("OUT2 high after %llu TSC cycles, %.0f expected",
	       (unsigned long long)elapsed, full);
	EXPECT_GT(elapsed, full / 1.3);
	EXPECT_EQ(0xb0, EXPECT_OUT(&v, PORT_REPORT) & 0xff);	/* OUT, LSB/MSB, mode 0 */
	EXPECT_EQ(0, EXPECT_OUT(&v, PORT_REPORT) & 0x21);	/* gate low, OUT low */
	EXPECT_EQ(100, EXPECT_OUT(&v, PORT_REPORT) & 0xff);
	EXPECT_EQ(0, EXPECT_OUT(&v, PORT_REPORT) & 0xff);
	EXPECT_EQ(0x600d, EXPECT_OUT(&v, PORT_REPORT));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vm_destroy(&vm);
}

/* ------------------------------------------------------------------ */
/* Hostile guests                                                     */
/* ------------------------------------------------------------------ */

/* Every IOAPIC index written with garbage, every dword of the page too. */
GUEST_ASM(g_ioapic_garbage,
	"mov rbx, 0xfec00000\n"
	"mov esi, 0x9e3779b9\n"
	"xor ecx, ecx\n"
	"1: mov [rbx], ecx\n"
	"imul esi, esi, 1103515245\n add esi, 12345\n"
	"mov [rbx + 0x10], esi\n"
	"mov eax, [rbx + 0x10]\n"
	"inc ecx\n cmp ecx, 0x200\n jb 1b\n"
	"xor ecx, ecx\n"
	"2: imul esi, esi, 1103515245\n add esi, 12345\n"
	"mov [rbx + rcx * 4], esi\n"
	"inc ecx\n cmp ecx, 0x400\n jb 2b\n"
	"mov eax, 1\n out 0x10, eax\n"
	"hlt\n");

TEST(hostile_ioapic_garbage)
{
	struct kvisor_ioapic_state io;
	struct vm vm;
	struct vcpu v;
	int i;

	IRQCHIP_GUEST(&vm, &v, g_ioapic_garbage);
	EXPECT_EQ(1, EXPECT_OUT(&v, PORT_REPORT));
	/* lines moving under whatever the guest left */
	for (i = 0; i < KVISOR_NR_GSIS; i++) {
		if (i == 2)
			continue;
		EXPECT_EQ(0, irq_line(&vm, i, 1));
		EXPECT_EQ(0, irq_line(&vm, i, 0));
	}
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	/* what the guest left is a state SET_IRQCHIP accepts: no reserved bits */
	io = ioapic(&vm);
	EXPECT_EQ(0, set_chip(&vm, KVISOR_IRQCHIP_IOAPIC, &io, sizeof(io)));
	EXPECT_EQ(0, io.id & ~0x0f000000u);
	vm_destroy(&vm);
}

/*
 * Channel 0 in mode 2 with a count of 1 (an 838 ns period), the PIC and
 * the IOAPIC pin open, while the guest spins with interrupts off: the
 * host's timer stays at its minimum period, the run finishes, and the
 * process's CPU time is that of the spin, not of a timer storm.
 */
GUEST_ASM(g_pit_1tick,
	"mov al, 0x11\n out 0x20, al\n mov al, 0x20\n out 0x21, al\n"
	"mov al, 0x04\n out 0x21, al\n mov al, 0x01\n out 0x21, al\n"
	"mov al, 0xfe\n out 0x21, al\n"
	"mov al, 0x34\n out 0x43, al\n"		/* ch0, LSB/MSB, mode 2 */
	"mov al, 1\n out 0x40, al\n xor al, al\n out 0x40, al\n"
	"rdtsc\n shl rdx, 32\n or rax, rdx\n mov r8, rax\n add r8, [0x21000]\n"
	"1: rdtsc\n shl rdx, 32\n or rax, rdx\n cmp rax, r8\n jb 1b\n"
	"mov al, 0x0a\n out 0x20, al\n in al, 0x20\n out 0x10, al\n"
	"hlt\n");

TEST(hostile_pit_one_tick)
{
	struct vm vm;
	struct vcpu v;
	uint64_t spin;

	spin = tsc_hz() / 5;		/* 200 ms of guest spin */
	IRQCHIP_GUEST(&vm, &v, g_pit_1tick);
	memcpy(vm.mem + 0x21000, &spin, 8);
	/* IRQ 0 latched in the PIC's IRR: the timer did fire */
	EXPECT_EQ(0x01, EXPECT_OUT(&v, PORT_REPORT) & 0x01);
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vm_destroy(&vm);
}


/* ------------------------------------------------------------------ */
/* End to end: lines, irqfds, MSIs, ExtINT and the PIT to the LAPIC   */
/* ------------------------------------------------------------------ */

#define COUNT_GPA	0x20000		/* interrupts taken (the handlers) */
#define VEC_GPA		0x20008		/* the last handler's vector */

/* The gate of @vec to guest code at @gpa (64-bit interrupt gate). */
static void set_gate(struct vm *vm, unsigned int vec, uint64_t gpa)
{
	uint64_t *idt = (uint64_t *)(vm->mem + IDT_GPA);

	idt[2 * vec] = (gpa & 0xffff) | ((uint64_t)SEL_CODE64 << 16) |
		       (0x8eull << 40) | ((gpa >> 16 & 0xffff) << 48);
	idt[2 * vec + 1] = gpa >> 32;
}

#define GPA_OF(blob, label)	(CODE_GPA + (uint64_t)((label) - (blob)))

static uint32_t guest_u32(struct vm *vm, uint64_t gpa)
{
	uint32_t v;

	memcpy(&v, vm->mem + gpa, 4);
	return v;
}

/* LAPIC on (SVR), IOAPIC pin @pin = @lo, destination APIC 0 */
#define SETUP_LAPIC_PIN(pin, lo)					\
	"mov rsi, 0xfee00000\n"						\
	"mov dword ptr [rsi + 0xf0], 0x1ff\n"				\
	"mov rbx, 0xfec00000\n"						\
	"mov dword ptr [rbx], " #pin " * 2 + 0x11\n"			\
	"mov dword ptr [rbx + 0x10], 0\n"				\
	"mov dword ptr [rbx], " #pin " * 2 + 0x10\n"			\
	"mov dword ptr [rbx + 0x10], " #lo "\n"

extern const uint8_t g_level_isr[], g_edge_isr[], g_extint_isr[],
	g_pit_isr[], g_noeoi_isr[], g_livelock_isr[];

/*
 * Level-triggered GSI 5 -> pin 5, vector 0x50.  The handler counts and
 * does not EOI: Remote IRR holds the pin; the guest's EOI with the line
 * still high sends it again; with the line low, nothing more comes.
 */
GUEST_ASM(g_level,
	SETUP_LAPIC_PIN(5, 0x8050)
	"mov eax, 1\n out 0x10, eax\n"		/* host asserts GSI 5 */
	"sti\n"
	"1: cmp dword ptr [0x20000], 1\n jb 1b\n"
	"mov dword ptr [rbx], 0x1a\n"
	"mov eax, [rbx + 0x10]\n out 0x10, eax\n"	/* Remote IRR set */
	"mov eax, [0x20000]\n out 0x10, eax\n"	/* host re-edges: still 1 */
	"mov eax, [0x20000]\n out 0x10, eax\n"
	"mov dword ptr [rsi + 0xb0], 0\n"	/* EOI: line high, again */
	"2: cmp dword ptr [0x20000], 2\n jb 2b\n"
	"cli\n"
	"mov eax, [0x20000]\n out 0x10, eax\n"	/* host lowers GSI 5 */
	"mov dword ptr [rsi + 0xb0], 0\n"
	"sti\n"
	"mov ecx, 100000\n 3: dec ecx\n jnz 3b\n"
	"cli\n"
	"mov eax, [rbx + 0x10]\n out 0x10, eax\n"	/* Remote IRR clear */
	"mov eax, [0x20000]\n out 0x10, eax\n"
	"hlt\n"
	"g_level_isr:\n"
	"inc dword ptr [0x20000]\n"
	"iretq\n");

TEST(e2e_level_line_eoi_remote_irr)
{
	struct vm vm;
	struct vcpu v;

	IRQCHIP_GUEST(&vm, &v, g_level);
	set_gate(&vm, 0x50, GPA_OF(g_level, g_level_isr));
	EXPECT_EQ(1, EXPECT_OUT(&v, PORT_REPORT));
	ASSERT_EQ(0, irq_line(&vm, 5, 1));
	EXPECT_EQ(0xc050, EXPECT_OUT(&v, PORT_REPORT));	/* level, Remote IRR */
	EXPECT_EQ(1ull << 14, ioapic(&vm).redir[5] & (1ull << 14));
	ASSERT_EQ(0, irq_line(&vm, 5, 0));
	ASSERT_EQ(0, irq_line(&vm, 5, 1));
	EXPECT_EQ(1, EXPECT_OUT(&v, PORT_REPORT));
	EXPECT_EQ(1, EXPECT_OUT(&v, PORT_REPORT));
	EXPECT_EQ(2, EXPECT_OUT(&v, PORT_REPORT));
	ASSERT_EQ(0, irq_line(&vm, 5, 0));
	EXPECT_EQ(0x8050, EXPECT_OUT(&v, PORT_REPORT));
	EXPECT_EQ(2, EXPECT_OUT(&v, PORT_REPORT));
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	EXPECT_EQ(0, ioapic(&vm).redir[5] & (1ull << 14));
	vm_destroy(&vm);
}

/*
 * Edge: GSI 6 -> pin 6 vector 0x51 from an irqfd, then an MSI (vector
 * 0x52) through SIGNAL_MSI.  The handler records its vector and EOIs.
 */
GUEST_ASM(g_edge,
	SETUP_LAPIC_PIN(6, 0x0051)
	"sti\n"
	"mov edi, 1\n"
	"1: mov eax, edi\n out 0x10, eax\n"	/* host signals */
	"2: cmp [0x20000], edi\n jb 2b\n"
	"mov eax, [0x20008]\n out 0x10, eax\n"
	"inc edi\n cmp edi, 5\n jb 1b\n"
	"cli\n hlt\n"
	"g_edge_isr:\n"
	"push rax\n"
	"mov eax, [rsi + 0x120]\n"		/* ISR 0x40-0x5f */
	"bsr eax, eax\n add eax, 0x40\n"
	"mov [0x20008], eax\n"
	"inc dword ptr [0x20000]\n"
	"mov dword ptr [rsi + 0xb0], 0\n"
	"pop rax\n"
	"iretq\n");

TEST(e2e_irqfd_edge_and_msi)
{
	struct kvisor_irqfd a = { .gsi = 6 };
	struct kvisor_msi msi = { .address = 0xfee00000, .data = 0x52 };
	struct vm vm;
	struct vcpu v;
	int i;

	IRQCHIP_GUEST(&vm, &v, g_edge);
	set_gate(&vm, 0x51, GPA_OF(g_edge, g_edge_isr));
	set_gate(&vm, 0x52, GPA_OF(g_edge, g_edge_isr));
	a.fd = eventfd(0, EFD_CLOEXEC);
	ASSERT_LE(0, a.fd);
	ASSERT_EQ(0, ioctl(vm.fd, KVISOR_IRQFD, &a));
	for (i = 1; i < 5; i++) {
		EXPECT_EQ(i, EXPECT_OUT(&v, PORT_REPORT));
		if (i & 1) {
			ASSERT_EQ(0, eventfd_write(a.fd, 1));
		} else {
			EXPECT_EQ(1, ioctl(vm.fd, KVISOR_SIGNAL_MSI, &msi));
		}
		EXPECT_EQ(i & 1 ? 0x51 : 0x52, EXPECT_OUT(&v, PORT_REPORT));
	}
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	close(a.fd);
	vm_destroy(&vm);
}

/*
 * The PIC through LINT0 (virtual wire): master at vector 0x20, IRQ 3
 * unmasked, LVT LINT0 = ExtINT.  A pulse on GSI 3 arrives as vector
 * 0x23; the handler EOIs the PIC.
 */
GUEST_ASM(g_extint,
	"mov rsi, 0xfee00000\n"
	"mov dword ptr [rsi + 0xf0], 0x1ff\n"
	"mov dword ptr [rsi + 0x350], 0x700\n"	/* LINT0: ExtINT */
	"mov al, 0x11\n out 0x20, al\n mov al, 0x20\n out 0x21, al\n"
	"mov al, 0x04\n out 0x21, al\n mov al, 0x01\n out 0x21, al\n"
	"mov al, 0xf7\n out 0x21, al\n"
	"sti\n"
	"mov edi, 1\n"
	"1: mov eax, edi\n out 0x10, eax\n"	/* host pulses GSI 3 */
	"2: cmp [0x20000], edi\n jb 2b\n"
	"inc edi\n cmp edi, 4\n jb 1b\n"
	"cli\n"
	"mov al, 0x0b\n out 0x20, al\n in al, 0x20\n out 0x10, al\n"
	"hlt\n"
	"g_extint_isr:\n"
	"push rax\n"
	"inc dword ptr [0x20000]\n"
	"mov al, 0x20\n out 0x20, al\n"
	"pop rax\n"
	"iretq\n");

TEST(e2e_pic_extint_lint0)
{
	struct vm vm;
	struct vcpu v;
	int i;

	IRQCHIP_GUEST(&vm, &v, g_extint);
	set_gate(&vm, 0x23, GPA_OF(g_extint, g_extint_isr));
	for (i = 1; i < 4; i++) {
		EXPECT_EQ(i, EXPECT_OUT(&v, PORT_REPORT));
		ASSERT_EQ(0, irq_line(&vm, 3, 1));
		ASSERT_EQ(0, irq_line(&vm, 3, 0));
	}
	EXPECT_EQ(0, EXPECT_OUT(&v, PORT_REPORT) & 0xff);	/* ISR empty */
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	EXPECT_EQ(3, guest_u32(&vm, COUNT_GPA));
	vm_destroy(&vm);
}

/*
 * PIT channel 0 in mode 2, through IOAPIC pin 2 (GSI 0) at vector 0x53,
 * counted over [0x21000] TSC cycles; the count, N, goes in [0x21008].
 */
GUEST_ASM(g_pit_irq,
	SETUP_LAPIC_PIN(2, 0x0053)
	"mov al, 0x34\n out 0x43, al\n"
	"mov eax, [0x21008]\n out 0x40, al\n shr eax, 8\n out 0x40, al\n"
	"sti\n"
	"rdtsc\n shl rdx, 32\n or rax, rdx\n mov r8, rax\n add r8, [0x21000]\n"
	"1: rdtsc\n shl rdx, 32\n or rax, rdx\n cmp rax, r8\n jb 1b\n"
	"cli\n"
	"mov eax, [0x20000]\n out 0x10, eax\n"
	"hlt\n"
	"g_pit_isr:\n"
	"inc dword ptr [0x20000]\n"
	"mov dword ptr [rsi + 0xb0], 0\n"
	"iretq\n");

static void pit_irqs(struct __test_metadata *_metadata, uint32_t count,
		     double seconds, double hz, uint32_t *got)
{
	uint64_t spin = seconds * hz, n = count;
	struct vm vm;
	struct vcpu v;

	IRQCHIP_GUEST(&vm, &v, g_pit_irq);
	set_gate(&vm, 0x53, GPA_OF(g_pit_irq, g_pit_isr));
	memcpy(vm.mem + 0x21000, &spin, 8);
	memcpy(vm.mem + 0x21008, &n, 8);
	*got = EXPECT_OUT(&v, PORT_REPORT);
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vm_destroy(&vm);
}

TEST(e2e_pit_irq0_arrivals)
{
	double hz = tsc_hz();
	uint32_t got = 0;

	/* 11932 ticks: 10 ms; 300 ms of guest time: about 30 */
	pit_irqs(_metadata, 11932, 0.3, hz, &got);
	TH_LOG("%u PIT interrupts at 100 Hz in 300 ms of TSC", got);
	EXPECT_LE(got, 32);
	EXPECT_GE(got, 10);
}

TEST(hostile_pit_one_tick_delivered)
{
	double hz = tsc_hz();
	uint32_t got = 0;

	/* a 2-tick period (1.7 us) arrives at most every 200 us */
	pit_irqs(_metadata, 2, 0.2, hz, &got);
	TH_LOG("%u PIT interrupts with a 2-tick period in 200 ms of TSC", got);
	EXPECT_LE(got, 1000 * 1.1 + 2);
	EXPECT_GE(got, 1);
}

/* A level line the guest never EOIs, toggled by a host thread. */
struct toggler {
	struct vm *vm;
	volatile bool stop;
	unsigned long n;
};

static void *toggle_line(void *arg)
{
	struct toggler *t = arg;

	while (!t->stop && t->n < 200000) {
		irq_line(t->vm, 9, t->n & 1);
		t->n++;
	}
	irq_line(t->vm, 9, 1);
	return NULL;
}

GUEST_ASM(g_noeoi,
	SETUP_LAPIC_PIN(9, 0x8055)
	"mov eax, 1\n out 0x10, eax\n"
	"sti\n"
	"rdtsc\n shl rdx, 32\n or rax, rdx\n mov r8, rax\n add r8, [0x21000]\n"
	"1: rdtsc\n shl rdx, 32\n or rax, rdx\n cmp rax, r8\n jb 1b\n"
	"cli\n"
	"mov eax, [0x20000]\n out 0x10, eax\n"
	/* now EOI each time: the guest drives a storm of its own */
	"mov dword ptr [0x20010], 1\n"
	"mov dword ptr [rsi + 0xb0], 0\n"
	"sti\n"
	"rdtsc\n shl rdx, 32\n or rax, rdx\n mov r8, rax\n add r8, [0x21008]\n"
	"2: cmp dword ptr [0x20000], 3000\n jae 4f\n"
	"rdtsc\n shl rdx, 32\n or rax, rdx\n cmp rax, r8\n jb 2b\n"
	"4: cli\n"
	"mov eax, [0x20000]\n out 0x10, eax\n"
	"hlt\n"
	"g_noeoi_isr:\n"
	"inc dword ptr [0x20000]\n"
	"cmp dword ptr [0x20010], 0\n je 3f\n"
	/* EOI re-raises at once: the main loop never runs, so stop here */
	"cmp dword ptr [0x20000], 3000\n jae 3f\n"
	"mov dword ptr [rsi + 0xb0], 0\n"
	"3: iretq\n");

TEST(hostile_level_storm)
{
	struct toggler t = { 0 };
	uint64_t spin, limit;
	uint32_t n;
	pthread_t th;
	struct vm vm;
	struct vcpu v;

	spin = tsc_hz() / 5;
	limit = spin * 10;
	IRQCHIP_GUEST(&vm, &v, g_noeoi);
	set_gate(&vm, 0x55, GPA_OF(g_noeoi, g_noeoi_isr));
	memcpy(vm.mem + 0x21000, &spin, 8);
	memcpy(vm.mem + 0x21008, &limit, 8);
	t.vm = &vm;
	EXPECT_EQ(1, EXPECT_OUT(&v, PORT_REPORT));
	ASSERT_EQ(0, pthread_create(&th, NULL, toggle_line, &t));
	/* never EOIed: one interrupt, however often the line moves */
	EXPECT_EQ(1, EXPECT_OUT(&v, PORT_REPORT));
	t.stop = true;
	pthread_join(th, NULL);
	TH_LOG("line toggled %lu times", t.n);
	/*
	 * EOIed with the line held: a delivery per EOI (3000, or as many
	 * as 2 s of guest time allow), and RUN returns.
	 */
	n = EXPECT_OUT(&v, PORT_REPORT);
	TH_LOG("%u deliveries, one per EOI", n);
	EXPECT_LE(100, n);
	RUN_EXPECT(&v, KVISOR_EXIT_HLT);
	vm_destroy(&vm);
}

/*
 * A guest that EOIs a level interrupt whose line stays asserted, inside
 * its handler: the interrupt comes back at every IRET and the guest
 * never runs anything else.  A signal still ends RUN (EINTR).
 */
GUEST_ASM(g_livelock,
	SETUP_LAPIC_PIN(11, 0x8056)
	"mov eax, 1\n out 0x10, eax\n"
	"sti\n"
	"1: jmp 1b\n"
	"g_livelock_isr:\n"
	"inc dword ptr [0x20000]\n"
	"mov dword ptr [rsi + 0xb0], 0\n"
	"iretq\n");

static void on_alarm(int sig)
{
}

TEST(hostile_interrupt_livelock_signal_ends_run)
{
	struct sigaction sa = { .sa_handler = on_alarm };
	struct itimerval it = { .it_value = { .tv_usec = 300000 } };
	struct vm vm;
	struct vcpu v;
	uint32_t n;

	IRQCHIP_GUEST(&vm, &v, g_livelock);
	set_gate(&vm, 0x56, GPA_OF(g_livelock, g_livelock_isr));
	EXPECT_EQ(1, EXPECT_OUT(&v, PORT_REPORT));
	ASSERT_EQ(0, irq_line(&vm, 11, 1));
	ASSERT_EQ(0, sigaction(SIGALRM, &sa, NULL));	/* no SA_RESTART */
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &it, NULL));
	RUN_EXPECT(&v, KVISOR_EXIT_INTR);
	n = guest_u32(&vm, COUNT_GPA);
	TH_LOG("%u interrupts before the signal", n);
	EXPECT_LT(10, n);
	/* and again, with the line dropped the guest is free */
	ASSERT_EQ(0, irq_line(&vm, 11, 0));
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &it, NULL));
	RUN_EXPECT(&v, KVISOR_EXIT_INTR);
	EXPECT_GE(guest_u32(&vm, COUNT_GPA), n);
	vm_destroy(&vm);
}

TEST_HARNESS_MAIN
