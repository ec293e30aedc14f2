/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers shared by the kvisor selftests: the module, MSRs, CPUID, the
 * kernel log.  Tests include this after kselftest_harness.h.
 */
#ifndef KVISOR_TEST_H
#define KVISOR_TEST_H

#include <stdbool.h>
#include <stdint.h>
#include <linux/kvisor.h>

#define KVISOR_DEV	"/dev/kvisor"

/* Which virtualization the CPU offers, from CPUID alone. */
enum cpu_virt { CPU_VIRT_NONE, CPU_VIRT_VMX, CPU_VIRT_SVM };
enum cpu_virt cpu_virt(void);
void cpuid_count(uint32_t leaf, uint32_t sub, uint32_t r[4]);
/*
 * True when the box is Bochs (its BIOS version in DMI), for the few
 * places where Bochs's VT-x differs from the SDM; each use says how.
 */
bool box_is_bochs(void);

/* The module: loaded from $KVISOR_KO, unloaded by name. */
const char *kvisor_ko_path(void);
int module_load(const char *path, const char *params);	/* 0 or -errno */
int module_unload(const char *name);			/* 0 or -errno */
bool module_loaded(const char *name);
/* Load kvisor with @params, unloading it first if needed. 0 or -errno. */
int kvisor_reload(const char *params);
/* Leave kvisor loaded with default parameters, as the box loads it. */
int kvisor_restore(void);
/* modprobe through the box's busybox (or the system's kmod). */
int run_modprobe(const char *args);

/* /proc/meminfo field in kB, -1 if absent; kvisor's module use count, -1 if not loaded. */
long meminfo_kb(const char *field);
long kvisor_refcnt(void);

/* MSRs through /dev/cpu/N/msr (msr.ko). 0 or -errno. */
int msr_read(int cpu, uint32_t index, uint64_t *val);

/* Number of online CPUs, and set one on or off line. */
int cpus_online(void);
int cpu_set_online(int cpu, bool online);

/* debugfs kvisor/hw_cpus, e.g. "0-1" or "" (trailing newline removed). */
int kvisor_hw_cpus(char *buf, size_t len);

/* The kernel log: mark a point, then look for text logged after it. */
void kmsg_mark(const char *tag);
bool kmsg_since_mark_has(const char *tag, const char *text);

/*
 * kselftest_harness.h gives its own timeout only to fixture tests
 * (TEST_F_TIMEOUT): an empty fixture for tests that need no other.
 */
#define EMPTY_FIXTURE(name)						\
	FIXTURE(name) {};						\
	FIXTURE_SETUP(name) {}						\
	FIXTURE_TEARDOWN(name) {}

#endif /* KVISOR_TEST_H */
