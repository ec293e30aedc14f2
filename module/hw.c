// SPDX-License-Identifier: GPL-2.0
/*
 * Turning VT-x / AMD-V on and off on every CPU.
 *
 * Virtualization is on while there is at least one user: a VM, or the
 * module itself when loaded with enable_at_load=1.  The first user
 * registers a CPU hotplug state, whose callbacks enable every online CPU
 * (and every CPU that comes online later); the last user removes the
 * state, which disables every CPU again.  Letting the hotplug core drive
 * both directions gives rollback on partial failure for free: if one CPU
 * refuses (another hypervisor holds it), the ones already enabled are
 * disabled again and the error reaches the caller.
 *
 * Staying off while unused is what KVM 6.1 does, and is what lets kvisor
 * and KVM be loaded at the same time: each holds the hardware only while
 * it has VMs.
 */
#include <linux/cpu.h>
#include <linux/cpuhotplug.h>
#include <linux/debugfs.h>
#include <linux/mutex.h>
#include <linux/percpu.h>
#include <linux/reboot.h>
#include <linux/seq_file.h>
#include <linux/syscore_ops.h>

#include "compat.h"
#include "kvisor.h"

static DEFINE_MUTEX(hw_lock);
static unsigned int hw_users;		/* under hw_lock */
static int hw_cpuhp_state;		/* valid while hw_users > 0 */
static bool hw_rebooting;
static DEFINE_PER_CPU(bool, hw_on);
static struct dentry *hw_debugfs;

/* Idempotent, so that reboot, hotplug and resume may overlap safely. */
static int hw_enable_this_cpu(void)
{
	int r;

	if (__this_cpu_read(hw_on))
		return 0;
	r = kvisor_ops->hw_enable();
	if (!r)
		__this_cpu_write(hw_on, true);
	return r;
}

static void hw_disable_this_cpu(void)
{
	if (!__this_cpu_read(hw_on))
		return;
	kvisor_ops->hw_disable();
	__this_cpu_write(hw_on, false);
}

static void hw_disable_ipi(void *unused)
{
	hw_disable_this_cpu();
}

/* cpuhp callbacks: they run on @cpu itself, in its hotplug thread. */
static int hw_cpu_online(unsigned int cpu)
{
	int r;

	if (READ_ONCE(hw_rebooting))
		return -EBUSY;
	preempt_disable();
	r = hw_enable_this_cpu();
	preempt_enable();
	return r;
}

static int hw_cpu_offline(unsigned int cpu)
{
	preempt_disable();
	hw_disable_this_cpu();
	preempt_enable();
	return 0;
}

int kvisor_hw_get(void)
{
	int r = 0;

	mutex_lock(&hw_lock);
	if (hw_rebooting) {
		r = -EBUSY;
	} else if (hw_users == 0) {
		r = cpuhp_setup_state(CPUHP_AP_ONLINE_DYN, "kvisor/hw:online",
				      hw_cpu_online, hw_cpu_offline);
		if (r >= 0) {
			hw_cpuhp_state = r;
			r = 0;
		} else if (r == -EBUSY) {
			/* KVM 6.12 and later: enable_virt_at_load, on by default */
			pr_err_ratelimited("kvisor: %s is held by another hypervisor; KVM (6.12 and later) holds it for as long as it is loaded unless loaded with kvm.enable_virt_at_load=0\n",
					   kvisor_ops->name);
		}
	}
	if (!r)
		hw_users++;
	mutex_unlock(&hw_lock);
	return r;
}

void kvisor_hw_put(void)
{
	mutex_lock(&hw_lock);
	if (!WARN_ON_ONCE(hw_users == 0) && --hw_users == 0)
		cpuhp_remove_state(hw_cpuhp_state);
	mutex_unlock(&hw_lock);
}

bool kvisor_hw_enabled(void)
{
	return READ_ONCE(hw_users) > 0;
}

/*
 * A CPU left in VMX operation cannot be reset by INIT on some systems, and
 * a kexec'd kernel must find it clean: turn everything off before reboot.
 */
static int hw_reboot(struct notifier_block *nb, unsigned long code, void *p)
{
	WRITE_ONCE(hw_rebooting, true);
	on_each_cpu(hw_disable_ipi, NULL, 1);
	return NOTIFY_OK;
}

static struct notifier_block hw_reboot_nb = {
	.notifier_call = hw_reboot,
};

/*
 * Suspend: the other CPUs went offline through the hotplug callbacks; the
 * boot CPU is the only one left, with interrupts off.
 */
static int hw_suspend(KVISOR_SYSCORE_ARGS)
{
	if (READ_ONCE(hw_users))
		hw_disable_this_cpu();
	return 0;
}

static void hw_resume(KVISOR_SYSCORE_ARGS)
{
	if (READ_ONCE(hw_users) && hw_enable_this_cpu())
		pr_err("kvisor: CPU %d: could not re-enable %s after resume\n",
		       smp_processor_id(), kvisor_ops->name);
}

KVISOR_DEFINE_SYSCORE(hw_syscore, hw_suspend, hw_resume);

/* debugfs kvisor/hw_cpus: the CPUs in VMX/SVM operation, as a list. */
static int hw_cpus_show(struct seq_file *m, void *unused)
{
	cpumask_var_t mask;
	int cpu;

	if (!zalloc_cpumask_var(&mask, GFP_KERNEL))
		return -ENOMEM;
	for_each_possible_cpu(cpu)
		if (per_cpu(hw_on, cpu))
			cpumask_set_cpu(cpu, mask);
	seq_printf(m, "%*pbl\n", cpumask_pr_args(mask));
	free_cpumask_var(mask);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(hw_cpus);

int kvisor_hw_init(void)
{
	register_reboot_notifier(&hw_reboot_nb);
	kvisor_register_syscore(&hw_syscore);
	hw_debugfs = debugfs_create_dir("kvisor", NULL);
	debugfs_create_file("hw_cpus", 0444, hw_debugfs, NULL, &hw_cpus_fops);
	return 0;
}

void kvisor_hw_exit(void)
{
	debugfs_remove_recursive(hw_debugfs);
	kvisor_unregister_syscore(&hw_syscore);
	unregister_reboot_notifier(&hw_reboot_nb);
}
