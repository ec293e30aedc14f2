// SPDX-License-Identifier: GPL-2.0
/*
 * 4 VMs x 4 vCPUs running at once, one thread each.  Every vCPU counts
 * down with OUTs; each thread checks that its vCPU's values arrive in
 * order, none lost, none from another vCPU (the vCPU id is in the top
 * byte), and that its stats count exactly those exits.
 */
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "kselftest_harness.h"
#include "vm.h"

#define NR_VMS		4
#define NR_VCPUS	4
#define NR_OUTS		500

/* rbx = vCPU id << 24 (set by the test); OUT NR_OUTS..1, then HLT */
GUEST_ASM(g_count,
	"mov ecx, 500\n"
	"1: lea eax, [rbx + rcx]\n"
	"out 0x10, eax\n"
	"loop 1b\n"
	"hlt\n");

struct worker {
	struct vcpu v;
	char err[160];
};

static void *worker_fn(void *arg)
{
	struct worker *w = arg;
	struct kvisor_vcpu_stats st;
	uint32_t want;
	int i, r;

	for (i = NR_OUTS; i >= 1; i--) {
		want = ((uint32_t)w->v.id << 24) + i;
		r = vcpu_run(&w->v);
		if (r || w->v.run->exit_reason != KVISOR_EXIT_IO ||
		    w->v.run->io.port != PORT_REPORT || vcpu_io_value(&w->v) != want) {
			snprintf(w->err, sizeof(w->err), "vCPU %d, OUT %d: RUN %d, %s; wanted %#x",
				 w->v.id, i, r, vcpu_exit_str(&w->v), want);
			return NULL;
		}
	}
	r = vcpu_run(&w->v);
	if (r || w->v.run->exit_reason != KVISOR_EXIT_HLT) {
		snprintf(w->err, sizeof(w->err), "vCPU %d: no HLT: %s", w->v.id,
			 vcpu_exit_str(&w->v));
		return NULL;
	}
	if (vcpu_get_stats(&w->v, &st) || st.counters[KVISOR_STAT_IO] != NR_OUTS ||
	    st.counters[KVISOR_STAT_HLT] != 1)
		snprintf(w->err, sizeof(w->err), "vCPU %d: stats IO %llu HLT %llu",
			 w->v.id, (unsigned long long)st.counters[KVISOR_STAT_IO],
			 (unsigned long long)st.counters[KVISOR_STAT_HLT]);
	return NULL;
}

EMPTY_FIXTURE(smp)

TEST_F_TIMEOUT(smp, four_vms_four_vcpus, 280)
{
	static struct vm vms[NR_VMS];
	static struct worker w[NR_VMS][NR_VCPUS];
	pthread_t th[NR_VMS][NR_VCPUS];
	struct kvisor_regs r;
	int i, j;

	for (i = 0; i < NR_VMS; i++) {
		VM_CREATE_OR_SKIP(&vms[i]);
		vm_load_code(&vms[i], g_count, g_count_end);
		for (j = 0; j < NR_VCPUS; j++) {
			struct vcpu *v = &w[i][j].v;

			ASSERT_EQ(0, vcpu_add(&vms[i], v, j)) TH_LOG("VM %d vCPU %d", i, j);
			ASSERT_EQ(0, vcpu_setup_mode(v, MODE_LONG, CODE_GPA));
			ASSERT_EQ(0, vcpu_get_regs(v, &r));
			r.rbx = (uint64_t)j << 24;
			ASSERT_EQ(0, vcpu_set_regs(v, &r));
		}
	}
	for (i = 0; i < NR_VMS; i++)
		for (j = 0; j < NR_VCPUS; j++)
			ASSERT_EQ(0, pthread_create(&th[i][j], NULL, worker_fn, &w[i][j]));
	for (i = 0; i < NR_VMS; i++)
		for (j = 0; j < NR_VCPUS; j++) {
			ASSERT_EQ(0, pthread_join(th[i][j], NULL));
			EXPECT_EQ(0, w[i][j].err[0]) TH_LOG("VM %d: %s", i, w[i][j].err);
		}
	for (i = 0; i < NR_VMS; i++) {
		for (j = 0; j < NR_VCPUS; j++)
			vcpu_close(&w[i][j].v);
		vm_destroy(&vms[i]);
	}
}

TEST_HARNESS_MAIN
