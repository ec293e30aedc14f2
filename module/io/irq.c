// SPDX-License-Identifier: GPL-2.0
/*
 * The VM-level half of the in-kernel irqchip: struct kvisor_irqchip, the
 * GSI lines and their routing to the PIC pair and the IOAPIC, MSIs,
 * irqfds, chip state, and the dispatch of port and MMIO exits to the
 * devices (Documentation/api.rst, "The in-kernel irqchip").
 *
 * GSI routing is the PC's, with the interrupt source override every PC
 * firmware declares for the timer (ACPI MADT "Interrupt Source Override"
 * ISA IRQ 0 -> GSI 2, or the MP table's equivalent):
 *
 *   GSI 0       PIC IRQ 0 and IOAPIC pin 2 (the PIT drives it too)
 *   GSI 1, 3-15 PIC IRQ n and IOAPIC pin n
 *   GSI 16-23   IOAPIC pin n
 *   GSI 2       refused: PIC IRQ 2 is the cascade, IOAPIC pin 2 is GSI 0
 *
 * IOAPIC pin 0 (on PCs the 8259's INTR, for virtual wire through the
 * IOAPIC) is not connected: the PIC reaches the CPUs through LINT0.
 * Each line is the OR of its sources (KVISOR_IRQ_LINE, irqfds, the PIT),
 * so a PIT pulse cannot drop a level userspace holds.
 */
#include <linux/errno.h>
#include <linux/eventfd.h>
#include <linux/file.h>
#include <linux/poll.h>
#include <linux/sched.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/uaccess.h>
#include <linux/wait.h>

#include "../kvisor.h"
#include "irqdev.h"

/* The IOAPIC pin of @gsi, or -1 (GSI 2). */
static int gsi_to_pin(unsigned int gsi)
{
	if (gsi == 0)
		return 2;
	return gsi == 2 ? -1 : gsi;
}

static bool gsi_valid(u32 gsi)
{
	return gsi < KVISOR_NR_GSIS && gsi != 2;
}

void kvisor_ioapic_deliver(struct kvisor_irqchip *chip,
			   struct kvisor_ioapic_out *out)
{
	unsigned long flags;
	unsigned int i;

	for (i = 0; i < out->n; i++) {
		const struct kvisor_irq_msg *m = &out->msg[i];

		if (kvisor_lapic_deliver(chip->vm, NULL, m) > 0 || !m->level)
			continue;
		/* nobody took it: no EOI will come, so no Remote IRR */
		spin_lock_irqsave(&chip->lock, flags);
		chip->ioapic.redir[out->pin[i]] &= ~BIT_ULL(14);
		spin_unlock_irqrestore(&chip->lock, flags);
	}
}

void kvisor_irq_set(struct kvisor_irqchip *chip, unsigned int gsi, int src,
		    bool level)
{
	struct kvisor_ioapic_out out;
	unsigned long flags;
	bool old, new, changed = false;

	out.n = 0;
	spin_lock_irqsave(&chip->lock, flags);
	old = chip->line_src[gsi];
	if (level)
		chip->line_src[gsi] |= BIT(src);
	else
		chip->line_src[gsi] &= ~BIT(src);
	new = chip->line_src[gsi];
	if (old != new) {
		if (gsi < 16) {
			kvisor_pic_set_input(chip, gsi, new);
			changed = kvisor_pic_update(chip);
		}
		kvisor_ioapic_set_pin(&chip->ioapic, gsi_to_pin(gsi), new, &out);
	}
	spin_unlock_irqrestore(&chip->lock, flags);
	kvisor_ioapic_deliver(chip, &out);
	if (changed)
		kvisor_lapic_extint_changed(chip->vm);
}

void kvisor_irq_pulse(struct kvisor_irqchip *chip, unsigned int gsi, int src)
{
	kvisor_irq_set(chip, gsi, src, true);
	kvisor_irq_set(chip, gsi, src, false);
}

/* ------------------------------------------------------------------ */
/* irqfd: an eventfd's signal pulses a GSI                            */
/* ------------------------------------------------------------------ */

struct irqfd {
	struct kvisor_irqchip *chip;
	struct eventfd_ctx *ctx;
	u32 gsi;
	bool active;			/* on chip->irqfds, under irqfd_lock */
	struct list_head list;
	wait_queue_entry_t wait;
	wait_queue_head_t *wqh;		/* the eventfd's */
	poll_table pt;
	struct work_struct shutdown;
};

static void irqfd_free(struct irqfd *irqfd)
{
	u64 cnt;

	/* takes the eventfd's wait-queue lock: no wakeup runs after it */
	eventfd_ctx_remove_wait_queue(irqfd->ctx, &irqfd->wait, &cnt);
	eventfd_ctx_put(irqfd->ctx);
	kfree(irqfd);
}

static void irqfd_shutdown(struct work_struct *work)
{
	irqfd_free(container_of(work, struct irqfd, shutdown));
}

/*
 * Called with the eventfd's wait-queue lock held, interrupts off: no
 * sleeping.  EPOLLIN: consume the count and pulse the line.  EPOLLHUP:
 * the eventfd's last file went away; unhook in a work item (the wait
 * queue cannot be left from inside its own wakeup).
 */
static int irqfd_wakeup(wait_queue_entry_t *wait, unsigned int mode,
			int sync, void *key)
{
	struct irqfd *irqfd = container_of(wait, struct irqfd, wait);
	struct kvisor_irqchip *chip = irqfd->chip;
	__poll_t events = key_to_poll(key);
	unsigned long flags;

	if (events & EPOLLIN) {
		u64 cnt;

		eventfd_ctx_do_read(irqfd->ctx, &cnt);
		kvisor_irq_pulse(chip, irqfd->gsi, KVISOR_IRQ_SRC_IRQFD);
	}
	if (events & EPOLLHUP) {
		spin_lock_irqsave(&chip->irqfd_lock, flags);
		if (irqfd->active) {
			irqfd->active = false;
			list_del_init(&irqfd->list);
			queue_work(chip->irqfd_wq, &irqfd->shutdown);
		}
		spin_unlock_irqrestore(&chip->irqfd_lock, flags);
	}
	return 0;
}

static void irqfd_queue_proc(struct file *file, wait_queue_head_t *wqh,
			     poll_table *pt)
{
	struct irqfd *irqfd = container_of(pt, struct irqfd, pt);

	irqfd->wqh = wqh;
	add_wait_queue(wqh, &irqfd->wait);
}

static struct irqfd *irqfd_find(struct kvisor_irqchip *chip,
				       struct eventfd_ctx *ctx)
{
	struct irqfd *irqfd;

	list_for_each_entry(irqfd, &chip->irqfds, list)
		if (irqfd->ctx == ctx)
			return irqfd;
	return NULL;
}

static int irqfd_assign(struct kvisor_irqchip *chip, int fd, u32 gsi)
{
	struct irqfd *irqfd;
	struct eventfd_ctx *ctx;
	struct fd f;
	__poll_t events;
	int ret;

	f = fdget(fd);
	if (!f.file)
		return -EBADF;
	ctx = eventfd_ctx_fileget(f.file);
	if (IS_ERR(ctx)) {
		ret = PTR_ERR(ctx);	/* -EINVAL: not an eventfd */
		goto out;
	}
	ret = -ENOMEM;
	irqfd = kzalloc(sizeof(*irqfd), GFP_KERNEL_ACCOUNT);
	if (!irqfd)
		goto out_ctx;
	irqfd->chip = chip;
	irqfd->ctx = ctx;
	irqfd->gsi = gsi;
	INIT_LIST_HEAD(&irqfd->list);
	INIT_WORK(&irqfd->shutdown, irqfd_shutdown);
	init_waitqueue_func_entry(&irqfd->wait, irqfd_wakeup);
	init_poll_funcptr(&irqfd->pt, irqfd_queue_proc);

	spin_lock_irq(&chip->irqfd_lock);
	if (irqfd_find(chip, ctx)) {
		spin_unlock_irq(&chip->irqfd_lock);
		kfree(irqfd);
		ret = -EBUSY;
		goto out_ctx;
	}
	irqfd->active = true;
	list_add_tail(&irqfd->list, &chip->irqfds);
	spin_unlock_irq(&chip->irqfd_lock);

	/*
	 * Hook into the eventfd's wait queue.  The file stays open until
	 * fdput(), so no EPOLLHUP can free irqfd under us; a count already
	 * there is a signal that came before: deliver it.
	 */
	events = vfs_poll(f.file, &irqfd->pt);
	if (!irqfd->wqh) {
		/* not a pollable eventfd after all: never hooked */
		spin_lock_irq(&chip->irqfd_lock);
		list_del(&irqfd->list);
		spin_unlock_irq(&chip->irqfd_lock);
		kfree(irqfd);
		ret = -EINVAL;
		goto out_ctx;
	}
	if (events & EPOLLIN) {
		u64 cnt;

		spin_lock_irq(&irqfd->wqh->lock);
		eventfd_ctx_do_read(ctx, &cnt);
		spin_unlock_irq(&irqfd->wqh->lock);
		kvisor_irq_pulse(chip, gsi, KVISOR_IRQ_SRC_IRQFD);
	}
	fdput(f);
	return 0;

out_ctx:
	eventfd_ctx_put(ctx);
out:
	fdput(f);
	return ret;
}

static int irqfd_deassign(struct kvisor_irqchip *chip, int fd, u32 gsi)
{
	struct irqfd *irqfd;
	struct eventfd_ctx *ctx;

	ctx = eventfd_ctx_fdget(fd);
	if (IS_ERR(ctx))
		return PTR_ERR(ctx);	/* -EBADF, or -EINVAL: not an eventfd */
	spin_lock_irq(&chip->irqfd_lock);
	irqfd = irqfd_find(chip, ctx);
	if (irqfd && irqfd->gsi == gsi) {
		irqfd->active = false;
		list_del_init(&irqfd->list);
	} else {
		irqfd = NULL;
	}
	spin_unlock_irq(&chip->irqfd_lock);
	eventfd_ctx_put(ctx);
	if (!irqfd)
		return -ENOENT;
	irqfd_free(irqfd);
	return 0;
}

static int irqfd_ioctl(struct kvisor_irqchip *chip, void __user *argp)
{
	struct kvisor_irqfd args;
	int ret;

	if (copy_from_user(&args, argp, sizeof(args)))
		return -EFAULT;
	if ((args.flags & ~KVISOR_IRQFD_FLAG_DEASSIGN) || args.padding ||
	    !gsi_valid(args.gsi))
		return -EINVAL;
	if (args.fd < 0)
		return -EBADF;
	mutex_lock(&chip->irqfd_mutex);
	if (args.flags & KVISOR_IRQFD_FLAG_DEASSIGN)
		ret = irqfd_deassign(chip, args.fd, args.gsi);
	else
		ret = irqfd_assign(chip, args.fd, args.gsi);
	mutex_unlock(&chip->irqfd_mutex);
	return ret;
}

/* ------------------------------------------------------------------ */
/* VM ioctls                                                          */
/* ------------------------------------------------------------------ */

static int irqchip_create(struct kvisor_vm *vm, unsigned long arg)
{
	struct kvisor_irqchip *chip;
	int ret = 0;

	if (arg)
		return -EINVAL;
	chip = kzalloc(sizeof(*chip), GFP_KERNEL_ACCOUNT);
	if (!chip)
		return -ENOMEM;
	chip->irqfd_wq = alloc_workqueue("kvisor-irqfd", 0, 0);
	if (!chip->irqfd_wq) {
		kfree(chip);
		return -ENOMEM;
	}
	chip->vm = vm;
	spin_lock_init(&chip->lock);
	spin_lock_init(&chip->irqfd_lock);
	mutex_init(&chip->irqfd_mutex);
	INIT_LIST_HEAD(&chip->irqfds);
	kvisor_pic_reset(chip);
	kvisor_ioapic_reset(&chip->ioapic);
	kvisor_pit_init(chip);

	mutex_lock(&vm->lock);
	if (vm->irqchip)
		ret = -EEXIST;
	else if (vm->created_vcpus)
		ret = -EBUSY;	/* the LAPICs come with the vCPUs */
	else
		/* publish a fully set-up chip to lockless readers */
		smp_store_release(&vm->irqchip, chip);
	mutex_unlock(&vm->lock);
	if (ret) {
		kvisor_pit_destroy(chip);
		destroy_workqueue(chip->irqfd_wq);
		kfree(chip);
	}
	return ret;
}

static int irq_line(struct kvisor_irqchip *chip, void __user *argp)
{
	struct kvisor_irq_level l;

	if (copy_from_user(&l, argp, sizeof(l)))
		return -EFAULT;
	if (!gsi_valid(l.gsi) || l.level > 1)
		return -EINVAL;
	kvisor_irq_set(chip, l.gsi, KVISOR_IRQ_SRC_USER, l.level);
	return 0;
}

/* An MSI: the address and data formats of SDM vol. 3 11.11.1, 11.11.2. */
#define MSI_ADDR_BASE		0xfee00000ull
#define MSI_ADDR_MASK		0xfff00000ull
#define MSI_DATA_RESERVED	0xffff3800u	/* bits 31:16, 13:11 */

static long signal_msi(struct kvisor_irqchip *chip, void __user *argp)
{
	struct kvisor_msi msi;
	unsigned int dm;

	if (copy_from_user(&msi, argp, sizeof(msi)))
		return -EFAULT;
	dm = (msi.data >> 8) & 7;
	if (msi.flags || msi.padding ||
	    (msi.address & ~0xfffffull) != MSI_ADDR_BASE ||
	    (msi.data & MSI_DATA_RESERVED) || dm == 3 || dm == 6)
		return -EINVAL;
	return kvisor_lapic_deliver_msi(chip->vm, msi.address, msi.data);
}

#define STATE_DATA_SIZE	sizeof(((struct kvisor_irqchip_state *)0)->data)

static size_t irqchip_state_size(u32 chip_id)
{
	switch (chip_id) {
	case KVISOR_IRQCHIP_PIC_MASTER:
	case KVISOR_IRQCHIP_PIC_SLAVE:
		return sizeof(struct kvisor_pic_state);
	case KVISOR_IRQCHIP_IOAPIC:
		return sizeof(struct kvisor_ioapic_state);
	case KVISOR_IRQCHIP_PIT:
		return sizeof(struct kvisor_pit_state);
	default:
		return 0;
	}
}

static int get_irqchip(struct kvisor_irqchip *chip, void __user *argp)
{
	struct kvisor_irqchip_state *st;
	unsigned long flags;
	int ret = 0;

	st = kmalloc(sizeof(*st), GFP_KERNEL);
	if (!st)
		return -ENOMEM;
	if (copy_from_user(st, argp, offsetof(struct kvisor_irqchip_state, data))) {
		ret = -EFAULT;
		goto out;
	}
	if (st->padding || !irqchip_state_size(st->chip_id)) {
		ret = -EINVAL;
		goto out;
	}
	memset(st->data, 0, sizeof(st->data));
	switch (st->chip_id) {
	case KVISOR_IRQCHIP_PIC_MASTER:
	case KVISOR_IRQCHIP_PIC_SLAVE:
		spin_lock_irqsave(&chip->lock, flags);
		kvisor_pic_get(&chip->pic[st->chip_id],
			       (struct kvisor_pic_state *)st->data);
		spin_unlock_irqrestore(&chip->lock, flags);
		break;
	case KVISOR_IRQCHIP_IOAPIC:
		spin_lock_irqsave(&chip->lock, flags);
		kvisor_ioapic_get(&chip->ioapic,
				  (struct kvisor_ioapic_state *)st->data);
		spin_unlock_irqrestore(&chip->lock, flags);
		break;
	case KVISOR_IRQCHIP_PIT:
		kvisor_pit_get(chip, (struct kvisor_pit_state *)st->data);
		break;
	}
	if (copy_to_user(argp, st, sizeof(*st)))
		ret = -EFAULT;
out:
	kfree(st);
	return ret;
}

static int set_irqchip(struct kvisor_irqchip *chip, void __user *argp)
{
	struct kvisor_irqchip_state *st;
	struct kvisor_ioapic_out out;
	unsigned long flags;
	bool changed = false;
	size_t size;
	int ret;

	st = memdup_user(argp, sizeof(*st));
	if (IS_ERR(st))
		return PTR_ERR(st);
	ret = -EINVAL;
	size = irqchip_state_size(st->chip_id);
	if (st->padding || !size ||
	    memchr_inv(st->data + size, 0, STATE_DATA_SIZE - size))
		goto out;
	out.n = 0;
	switch (st->chip_id) {
	case KVISOR_IRQCHIP_PIC_MASTER:
	case KVISOR_IRQCHIP_PIC_SLAVE: {
		struct kvisor_pic *p = &chip->pic[st->chip_id];
		const struct kvisor_pic_state *ps = (void *)st->data;

		ret = kvisor_pic_check(p, ps);
		if (ret)
			goto out;
		spin_lock_irqsave(&chip->lock, flags);
		kvisor_pic_set(p, ps);
		changed = kvisor_pic_update(chip);
		spin_unlock_irqrestore(&chip->lock, flags);
		break;
	}
	case KVISOR_IRQCHIP_IOAPIC: {
		const struct kvisor_ioapic_state *is = (void *)st->data;

		ret = kvisor_ioapic_check(is);
		if (ret)
			goto out;
		spin_lock_irqsave(&chip->lock, flags);
		kvisor_ioapic_set(&chip->ioapic, is, &out);
		spin_unlock_irqrestore(&chip->lock, flags);
		break;
	}
	case KVISOR_IRQCHIP_PIT: {
		const struct kvisor_pit_state *ts = (void *)st->data;

		ret = kvisor_pit_check(ts);
		if (ret)
			goto out;
		kvisor_pit_set(chip, ts);
		break;
	}
	}
	kvisor_ioapic_deliver(chip, &out);
	if (changed)
		kvisor_lapic_extint_changed(chip->vm);
out:
	kfree(st);
	return ret;
}

long kvisor_irqchip_vm_ioctl(struct kvisor_vm *vm, unsigned int ioctl,
			     unsigned long arg)
{
	void __user *argp = (void __user *)arg;
	struct kvisor_irqchip *chip;

	switch (ioctl) {
	case KVISOR_CREATE_IRQCHIP:
	case KVISOR_IRQ_LINE:
	case KVISOR_SIGNAL_MSI:
	case KVISOR_IRQFD:
	case KVISOR_GET_IRQCHIP:
	case KVISOR_SET_IRQCHIP:
		break;
	default:
		return -ENOTTY;
	}
	if (current->mm != vm->mm)
		return -EIO;
	if (ioctl == KVISOR_CREATE_IRQCHIP)
		return irqchip_create(vm, arg);
	/* pairs with the release in irqchip_create() */
	chip = smp_load_acquire(&vm->irqchip);
	if (!chip)
		return -ENXIO;
	switch (ioctl) {
	case KVISOR_IRQ_LINE:
		return irq_line(chip, argp);
	case KVISOR_SIGNAL_MSI:
		return signal_msi(chip, argp);
	case KVISOR_IRQFD:
		return irqfd_ioctl(chip, argp);
	case KVISOR_GET_IRQCHIP:
		return get_irqchip(chip, argp);
	default:
		return set_irqchip(chip, argp);
	}
}

/* The VM is going away: no vCPU and no fd is left. */
void kvisor_irqchip_destroy(struct kvisor_vm *vm)
{
	struct kvisor_irqchip *chip = vm->irqchip;
	struct irqfd *irqfd, *tmp;
	LIST_HEAD(left);

	kvisor_pit_destroy(chip);
	spin_lock_irq(&chip->irqfd_lock);
	list_for_each_entry(irqfd, &chip->irqfds, list)
		irqfd->active = false;
	list_splice_init(&chip->irqfds, &left);
	spin_unlock_irq(&chip->irqfd_lock);
	/* runs the shutdowns EPOLLHUP queued, then frees the queue */
	destroy_workqueue(chip->irqfd_wq);
	list_for_each_entry_safe(irqfd, tmp, &left, list)
		irqfd_free(irqfd);
	vm->irqchip = NULL;
	kfree(chip);
}

/* ------------------------------------------------------------------ */
/* Exits                                                              */
/* ------------------------------------------------------------------ */

static bool irqchip_port(u16 port)
{
	switch (port) {
	case 0x20: case 0x21: case 0xa0: case 0xa1:
	case 0x4d0: case 0x4d1:
	case 0x40: case 0x41: case 0x42: case 0x43:
	case 0x61:
		return true;
	}
	return false;
}

static void irqchip_port_byte(struct kvisor_irqchip *chip, u16 port, bool in,
			      u8 *val)
{
	if (!irqchip_port(port)) {
		if (in)
			*val = 0xff;	/* nothing answers: the bus floats */
		return;
	}
	if ((port >= 0x40 && port <= 0x43) || port == 0x61)
		kvisor_pit_pio(chip, port, in, val);
	else
		kvisor_pic_pio(chip, port, in, val);
}

/*
 * The devices' registers are bytes; a wider access acts on consecutive
 * ports, one byte each, as on the ISA bus.
 */
bool kvisor_irqchip_pio(struct kvisor_vcpu *vcpu, u16 port, unsigned int size,
			bool in, void *data)
{
	struct kvisor_irqchip *chip = vcpu->vm->irqchip;
	u8 *bytes = data;
	unsigned int i;

	if (!chip || !irqchip_port(port))
		return false;
	for (i = 0; i < size; i++)
		irqchip_port_byte(chip, port + i, in, &bytes[i]);
	return true;
}

bool kvisor_irqchip_mmio(struct kvisor_vcpu *vcpu, u64 gpa, unsigned int len,
			 bool write, void *data)
{
	struct kvisor_irqchip *chip = vcpu->vm->irqchip;

	if (!chip)
		return false;
	if (vcpu->lapic && kvisor_lapic_mmio(vcpu, gpa, len, write, data))
		return true;
	return kvisor_ioapic_mmio(chip, gpa, len, write, data);
}
