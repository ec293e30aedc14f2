// SPDX-License-Identifier: GPL-2.0
/*
 * kvisor: module load/unload, /dev/kvisor and the system-fd ioctls.
 *
 * Loading picks the backend (VT-x or AMD-V) whose probe accepts this
 * machine, and refuses with one log line and a precise errno otherwise:
 *   ENODEV      neither VT-x nor AMD-V
 *   EOPNOTSUPP  present but disabled by firmware, or lacking what kvisor
 *               needs
 *   EBUSY       another hypervisor holds VMX/SVM (enable_at_load=1 only;
 *               otherwise VM creation reports it)
 */
#include <linux/compat.h>
#include <linux/fs.h>
#include <linux/miscdevice.h>
#include <linux/module.h>

#include "kvisor.h"

static bool enable_at_load;
module_param(enable_at_load, bool, 0444);
MODULE_PARM_DESC(enable_at_load,
		 "Turn VT-x/AMD-V on at load and keep it on (default: only while a VM exists)");

const struct kvisor_arch_ops *kvisor_ops;
struct kvisor_arch_caps kvisor_caps;

/* On the system fd and, as KVM_CAP_CHECK_EXTENSION_VM allows, a VM fd. */
long kvisor_check_extension(unsigned long cap)
{
	switch (cap) {
	case KVISOR_CAP_VENDOR:
		return kvisor_caps.vendor;
	case KVISOR_CAP_NESTED_PAGING:
		return kvisor_caps.nested_paging;
	case KVISOR_CAP_UNRESTRICTED_GUEST:
		return kvisor_caps.unrestricted_guest;
	case KVISOR_CAP_TAGGED_TLB:
		return kvisor_caps.tlb_tags;
	case KVISOR_CAP_MAX_VCPUS:
		return KVISOR_MAX_VCPUS;
	case KVISOR_CAP_MAX_MEMORY_SLOTS:
		return KVISOR_MAX_MEM_SLOTS;
	case KVISOR_CAP_MAX_MEMORY_MB:
		return KVISOR_MAX_MEMORY_MB;
	case KVISOR_CAP_HW_ENABLED:
		return kvisor_hw_enabled();
	case KVISOR_CAP_HYPERCALLS:
		return KVISOR_HC_ABI_VERSION;
	case KVISOR_CAP_IRQCHIP:
	case KVISOR_CAP_CHECK_EXTENSION_VM:
		return 1;
	default:
		return 0;	/* unknown capabilities are absent, as in KVM */
	}
}

static long kvisor_dev_ioctl(struct file *file, unsigned int ioctl,
			     unsigned long arg)
{
	switch (ioctl) {
	case KVISOR_GET_API_VERSION:
		return arg ? -EINVAL : KVISOR_API_VERSION;
	case KVISOR_CHECK_EXTENSION:
		return kvisor_check_extension(arg);
	case KVISOR_CREATE_VM:
		return arg ? -EINVAL : kvisor_vm_create();
	case KVISOR_GET_VCPU_MMAP_SIZE:
		return arg ? -EINVAL : PAGE_SIZE;
	default:
		return -ENOTTY;
	}
}

static const struct file_operations kvisor_dev_fops = {
	.owner = THIS_MODULE,
	.unlocked_ioctl = kvisor_dev_ioctl,
	.compat_ioctl = compat_ptr_ioctl,
	.llseek = noop_llseek,
};

static struct miscdevice kvisor_dev = {
	.minor = MISC_DYNAMIC_MINOR,
	.name = "kvisor",
	.fops = &kvisor_dev_fops,
};

static const struct kvisor_arch_ops * const kvisor_backends[] = {
	&kvisor_vmx_ops,
	&kvisor_svm_ops,
};

static int kvisor_arch_probe(void)
{
	int i, r;

	for (i = 0; i < ARRAY_SIZE(kvisor_backends); i++) {
		r = kvisor_backends[i]->probe(&kvisor_caps);
		if (r == -ENODEV)
			continue;
		if (!r)
			kvisor_ops = kvisor_backends[i];
		return r;	/* the backend logged why it refused */
	}
	pr_err("kvisor: no VT-x or AMD-V on this CPU, not loading\n");
	return -ENODEV;
}

static int __init kvisor_init(void)
{
	int r;

	r = kvisor_arch_probe();
	if (r)
		return r;

	r = kvisor_hw_init();
	if (r)
		goto err_unprobe;

	if (enable_at_load) {
		/* On failure the backend logged which CPU refused and why. */
		r = kvisor_hw_get();
		if (r)
			goto err_hw_exit;
	}

	r = misc_register(&kvisor_dev);
	if (r) {
		pr_err("kvisor: cannot register /dev/kvisor (%d)\n", r);
		goto err_hw_put;
	}

	pr_info("kvisor: %s ready (nested paging %s, virtualization %s)\n",
		kvisor_ops->name, kvisor_caps.nested_paging ? "on" : "off",
		enable_at_load ? "on" : "on while VMs exist");
	return 0;

err_hw_put:
	if (enable_at_load)
		kvisor_hw_put();
err_hw_exit:
	kvisor_hw_exit();
err_unprobe:
	kvisor_ops->unprobe();
	return r;
}

static void __exit kvisor_exit(void)
{
	misc_deregister(&kvisor_dev);
	if (enable_at_load)
		kvisor_hw_put();
	kvisor_hw_exit();
	kvisor_ops->unprobe();
}

module_init(kvisor_init);
module_exit(kvisor_exit);

MODULE_DESCRIPTION("kvisor: a small VT-x/AMD-V hypervisor");
MODULE_LICENSE("GPL");
