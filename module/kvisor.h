/* SPDX-License-Identifier: GPL-2.0 */
/* kvisor core: what the files of module/ share. */
#ifndef KVISOR_H
#define KVISOR_H

#include <linux/kvisor.h>
#include "arch.h"

/* Limits, reported by KVISOR_CHECK_EXTENSION (Documentation/api.rst). */
#define KVISOR_MAX_VCPUS	16
#define KVISOR_MAX_MEM_SLOTS	32
#define KVISOR_MAX_MEMORY_MB	(64 * 1024)

/* The backend in use and what it found; set once at module load. */
extern const struct kvisor_arch_ops *kvisor_ops;
extern struct kvisor_arch_caps kvisor_caps;

/* hw.c: virtualization on every online CPU while there is a user. */
int kvisor_hw_init(void);
void kvisor_hw_exit(void);
int kvisor_hw_get(void);
void kvisor_hw_put(void);
bool kvisor_hw_enabled(void);

#endif /* KVISOR_H */
