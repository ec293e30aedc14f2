// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor VMs: the VM fd, its memory regions, its vCPU table and lifetime.
 *
 * A VM lives while its fd or any vCPU fd is open (struct kvisor_vm.ref),
 * so closing the VM fd while a vCPU thread still runs is safe.  It holds
 * the hardware (kvisor_hw_get) for its whole life.
 *
 * Memory regions are pinned when set and unpinned when deleted.  Writers
 * (SET_MEMORY_REGION) hold vm->lock; the nested page fault path reads the
 * slot array under vm->mmu_lock, which writers take to publish or retire a
 * slot.
 */
#include <linux/anon_inodes.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/mm.h>
#include <linux/sched/mm.h>
#include <linux/slab.h>
#include <linux/uaccess.h>

#include "kvisor.h"

struct kvisor_memslot *kvisor_gfn_to_slot(struct kvisor_vm *vm, u64 gfn)
{
	int i;

	lockdep_assert_held(&vm->mmu_lock);
	for (i = 0; i < KVISOR_MAX_MEM_SLOTS; i++) {
		struct kvisor_memslot *s = &vm->slots[i];

		if (s->npages && gfn >= s->gfn && gfn - s->gfn < s->npages)
			return s;
	}
	return NULL;
}

static void vm_destroy(struct kref *ref)
{
	struct kvisor_vm *vm = container_of(ref, struct kvisor_vm, ref);
	int i;

	/* No vCPU is left: nothing runs the guest, no flush is needed. */
	if (vm->irqchip)
		kvisor_irqchip_destroy(vm);
	if (kvisor_ops->vm_destroy)
		kvisor_ops->vm_destroy(vm);
	kvisor_mmu_destroy(vm);
	for (i = 0; i < KVISOR_MAX_MEM_SLOTS; i++)
		if (vm->slots[i].npages)
			kvisor_mmu_unpin_slot(vm, &vm->slots[i]);
	mmdrop(vm->mm);
	kfree(vm);
	kvisor_hw_put();
}

void kvisor_vm_put(struct kvisor_vm *vm)
{
	kref_put(&vm->ref, vm_destroy);
}

static int vm_delete_slot(struct kvisor_vm *vm, struct kvisor_memslot *slot)
{
	struct kvisor_memslot old = *slot;

	spin_lock(&vm->mmu_lock);
	slot->npages = 0;		/* no new nested mappings from here */
	kvisor_mmu_zap_range(vm, old.gfn, old.npages);
	spin_unlock(&vm->mmu_lock);
	/* Every CPU stops using translations to the pages before unpin. */
	kvisor_mmu_flush_vm(vm);
	vm->total_pages -= old.npages;
	kvisor_mmu_unpin_slot(vm, &old);
	slot->pages = NULL;
	return 0;
}

static u64 vm_max_gpa(void)
{
	unsigned int bits = min_t(unsigned int, boot_cpu_data.x86_phys_bits, 48);

	return 1ULL << bits;
}

static int vm_set_memory_region(struct kvisor_vm *vm,
				const struct kvisor_memory_region *r)
{
	struct kvisor_memslot *slot, new;
	u64 npages, gfn;
	int i, ret;

	if (r->slot >= KVISOR_MAX_MEM_SLOTS ||
	    (r->flags & ~KVISOR_MEM_READONLY) ||
	    !PAGE_ALIGNED(r->guest_phys_addr) || !PAGE_ALIGNED(r->memory_size) ||
	    !PAGE_ALIGNED(r->userspace_addr))
		return -EINVAL;
	slot = &vm->slots[r->slot];
	if (!r->memory_size)
		return slot->npages ? vm_delete_slot(vm, slot) : 0;

	if (r->memory_size > (u64)KVISOR_MAX_MEMORY_MB << 20 ||
	    r->guest_phys_addr + r->memory_size < r->guest_phys_addr ||
	    r->guest_phys_addr + r->memory_size > vm_max_gpa() ||
	    r->userspace_addr + r->memory_size < r->userspace_addr ||
	    !access_ok((void __user *)(unsigned long)r->userspace_addr,
		       r->memory_size))
		return -EINVAL;
	if (slot->npages)
		return -EEXIST;

	npages = r->memory_size >> PAGE_SHIFT;
	gfn = r->guest_phys_addr >> PAGE_SHIFT;
	for (i = 0; i < KVISOR_MAX_MEM_SLOTS; i++) {
		struct kvisor_memslot *s = &vm->slots[i];

		if (s->npages && gfn < s->gfn + s->npages &&
		    s->gfn < gfn + npages)
			return -EEXIST;
	}
	if (vm->total_pages + npages > (u64)KVISOR_MAX_MEMORY_MB << (20 - PAGE_SHIFT))
		return -ENOSPC;

	new.gfn = gfn;
	new.npages = npages;
	new.uaddr = r->userspace_addr;
	new.flags = r->flags;
	new.pages = NULL;
	ret = kvisor_mmu_pin_slot(vm, &new);
	if (ret)
		return ret;
	vm->total_pages += npages;
	spin_lock(&vm->mmu_lock);
	*slot = new;
	spin_unlock(&vm->mmu_lock);
	kvisor_mmu_prefault_slot(vm, slot);
	return 0;
}

static long kvisor_vm_ioctl(struct file *file, unsigned int ioctl,
			    unsigned long arg)
{
	struct kvisor_vm *vm = file->private_data;
	long ret;

	switch (ioctl) {
	case KVISOR_SET_MEMORY_REGION: {
		struct kvisor_memory_region r;

		if (copy_from_user(&r, (void __user *)arg, sizeof(r)))
			return -EFAULT;
		if (current->mm != vm->mm)
			return -EIO;
		mutex_lock(&vm->lock);
		ret = vm_set_memory_region(vm, &r);
		mutex_unlock(&vm->lock);
		return ret;
	}
	case KVISOR_CREATE_VCPU:
		if (current->mm != vm->mm)
			return -EIO;
		return kvisor_vcpu_create(vm, arg);
	case KVISOR_CHECK_EXTENSION:
		/* the same answers as the system fd: nothing is per VM yet */
		return kvisor_check_extension(arg);
	default:
		/* the irqchip ioctls (module/io/irq.c) */
		return kvisor_irqchip_vm_ioctl(vm, ioctl, arg);
	}
}

static int kvisor_vm_release(struct inode *inode, struct file *file)
{
	kvisor_vm_put(file->private_data);
	return 0;
}

static const struct file_operations kvisor_vm_fops = {
	.owner = THIS_MODULE,
	.release = kvisor_vm_release,
	.unlocked_ioctl = kvisor_vm_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

int kvisor_vm_create(void)
{
	struct kvisor_vm *vm;
	int ret, fd;

	ret = kvisor_hw_get();
	if (ret)
		return ret;
	ret = -ENOMEM;
	vm = kzalloc(sizeof(*vm), GFP_KERNEL_ACCOUNT);
	if (!vm)
		goto err_put;
	kref_init(&vm->ref);
	mutex_init(&vm->lock);
	spin_lock_init(&vm->mmu_lock);
	atomic64_set(&vm->tlb_gen, 1);
	vm->mm = current->mm;
	mmgrab(vm->mm);

	ret = kvisor_mmu_init(vm);
	if (ret)
		goto err_free;
	ret = kvisor_ops->vm_init(vm);
	if (ret)
		goto err_mmu;

	fd = anon_inode_getfd("kvisor-vm", &kvisor_vm_fops, vm, O_RDWR | O_CLOEXEC);
	if (fd < 0) {
		/* the final put undoes everything above */
		kvisor_vm_put(vm);
		return fd;
	}
	return fd;

err_mmu:
	kvisor_mmu_destroy(vm);
err_free:
	mmdrop(vm->mm);
	kfree(vm);
err_put:
	kvisor_hw_put();
	return ret;
}
