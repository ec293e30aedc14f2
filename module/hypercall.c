// SPDX-License-Identifier: GPL-2.0
/*
 * The hypercall ABI of <linux/kvisor_para.h> (Documentation/hypercalls.rst),
 * the same on both vendors: the backends turn VMCALL and VMMCALL -- their
 * own, intercepted, and the foreign one, which raises #UD -- into
 * kvisor_hypercall().
 *
 * The kernel answers what needs no VMM: the no-op, the clock, and every
 * refusal (CPL > 0, unknown numbers, bad console buffers).  A console
 * write goes to userspace with the guest's bytes already copied into the
 * run page, an exit with its status, and the VMM range as the guest gave
 * it; userspace's run->hypercall.ret becomes RAX at the next RUN.
 */
#include <linux/kernel.h>
#include <linux/ktime.h>
#include <linux/mm.h>
#include <linux/timekeeping.h>
#include <linux/kvisor_para.h>

#include "kvisor.h"
#include "trace.h"

u32 kvisor_hypercall_insn(struct kvisor_vcpu *vcpu)
{
	static const u8 vmcall[KVISOR_HC_INSN_LEN] = { 0x0f, 0x01, 0xc1 };
	static const u8 vmmcall[KVISOR_HC_INSN_LEN] = { 0x0f, 0x01, 0xd9 };
	u8 bytes[KVISOR_INSN_MAX];
	struct kvisor_sregs s;
	u64 lin;
	int n;

	kvisor_ops->get_sregs(vcpu, &s);
	lin = kvisor_rip_linear(vcpu, &s);
	/* prefixes are legal (and ignored) on both: count them in */
	n = min_t(unsigned int, sizeof(bytes), PAGE_SIZE - offset_in_page(lin));
	if (kvisor_read_gva(vcpu, &s, lin, bytes, n))
		return 0;
	if (n < sizeof(bytes) &&
	    kvisor_read_gva(vcpu, &s, lin + n, bytes + n, sizeof(bytes) - n))
		memset(bytes + n, 0, sizeof(bytes) - n);
	n = kvisor_decode_prefixes(bytes, sizeof(bytes),
				   kvisor_long_mode(&s) ? 8 : s.cs.db ? 4 : 2);
	if (n < 0 || n + KVISOR_HC_INSN_LEN > sizeof(bytes))
		return 0;
	if (memcmp(bytes + n, vmcall, KVISOR_HC_INSN_LEN) &&
	    memcmp(bytes + n, vmmcall, KVISOR_HC_INSN_LEN))
		return 0;
	return n + KVISOR_HC_INSN_LEN;
}

/*
 * Copy the console buffer [gpa, gpa + len) into the run page.  0, or the
 * negative errno the guest gets.
 */
static int hc_console_fetch(struct kvisor_vcpu *vcpu, u64 gpa, u64 len)
{
	u8 *data = (u8 *)vcpu->run + KVISOR_RUN_DATA_OFFSET;

	BUILD_BUG_ON(sizeof(struct kvisor_run) > KVISOR_RUN_DATA_OFFSET);
	BUILD_BUG_ON(KVISOR_RUN_DATA_OFFSET + KVISOR_HC_CONSOLE_MAX > PAGE_SIZE);
	if (len > KVISOR_HC_CONSOLE_MAX)
		return -KVISOR_HC_E2BIG;
	if (gpa + len < gpa)
		return -KVISOR_HC_EFAULT;	/* wraps around the address space */
	/* every page must be guest RAM: a slot, read-only ones included */
	if (kvisor_read_gpa(vcpu->vm, gpa, data, len))
		return -KVISOR_HC_EFAULT;
	return 0;
}

/* Hand the call to userspace; RUN finishes it with run->hypercall.ret. */
static int hc_to_user(struct kvisor_vcpu *vcpu, u64 nr, const u64 *args,
		      u64 ret, u32 data_len)
{
	struct kvisor_run *run = vcpu->run;

	run->exit_reason = KVISOR_EXIT_HYPERCALL;
	run->hypercall.nr = nr;
	memcpy(run->hypercall.args, args, sizeof(run->hypercall.args));
	run->hypercall.ret = ret;
	run->hypercall.data_offset = data_len ? KVISOR_RUN_DATA_OFFSET : 0;
	run->hypercall.data_len = data_len;
	vcpu->pending = KVISOR_PENDING_HYPERCALL;
	return 0;
}

int kvisor_hypercall(struct kvisor_vcpu *vcpu, u32 insn_len)
{
	u64 *c = vcpu->stats.counters, mask, nr, args[4];
	s64 ret;

	/* The ABI's error numbers are Linux's (<linux/kvisor_para.h>). */
	BUILD_BUG_ON(KVISOR_HC_EPERM != EPERM || KVISOR_HC_E2BIG != E2BIG ||
		     KVISOR_HC_EFAULT != EFAULT || KVISOR_HC_EINVAL != EINVAL);

	c[KVISOR_STAT_HYPERCALL]++;
	kvisor_skip_insn(vcpu, insn_len);

	/* Only the guest kernel talks to the VMM. */
	if (kvisor_ops->get_cpl(vcpu)) {
		ret = -KVISOR_HC_EPERM;
		goto answer;
	}
	mask = kvisor_ops->long_mode(vcpu) ? ~0ULL : 0xffffffffULL;
	nr = vcpu->gpr[KVISOR_RAX] & mask;
	args[0] = vcpu->gpr[KVISOR_RBX] & mask;
	args[1] = vcpu->gpr[KVISOR_RCX] & mask;
	args[2] = vcpu->gpr[KVISOR_RDX] & mask;
	args[3] = vcpu->gpr[KVISOR_RSI] & mask;
	trace_kvisor_hypercall(vcpu->id, nr, args[0], args[1], args[2], args[3]);

	switch (nr) {
	case KVISOR_HC_NOP:
		ret = 0;
		break;
	case KVISOR_HC_CLOCK:
		if (args[0] == KVISOR_CLOCK_MONOTONIC)
			ret = ktime_get_ns();
		else if (args[0] == KVISOR_CLOCK_REALTIME)
			ret = ktime_get_real_ns();
		else
			ret = -KVISOR_HC_EINVAL;
		if (ret >= 0)
			vcpu->gpr[KVISOR_RDX] = (u64)ret >> 32;
		break;
	case KVISOR_HC_CONSOLE_WRITE:
		if (!args[1]) {
			ret = 0;	/* nothing to write: no exit */
			break;
		}
		ret = hc_console_fetch(vcpu, args[0], args[1]);
		if (ret)
			break;
		c[KVISOR_STAT_HC_CONSOLE_BYTES] += args[1];
		return hc_to_user(vcpu, nr, args, args[1], args[1]);
	case KVISOR_HC_EXIT:
		return hc_to_user(vcpu, nr, args, 0, 0);
	case KVISOR_HC_VMM_FIRST ... KVISOR_HC_VMM_LAST:
		return hc_to_user(vcpu, nr, args, 0, 0);
	default:
		ret = -KVISOR_HC_ENOSYS;
		break;
	}
answer:
	c[KVISOR_STAT_HC_KERNEL]++;
	vcpu->gpr[KVISOR_RAX] = (u64)ret;
	return 1;
}

/* The default CPUID leaves that announce kvisor (Documentation/hypercalls.rst). */
void kvisor_hypercall_cpuid(struct kvisor_cpuid_entry *sig,
			    struct kvisor_cpuid_entry *features)
{
	memset(sig, 0, sizeof(*sig));
	sig->function = KVISOR_CPUID_SIGNATURE;
	sig->eax = KVISOR_CPUID_FEATURES;
	sig->ebx = KVISOR_CPUID_SIG_EBX;
	sig->ecx = KVISOR_CPUID_SIG_ECX;
	sig->edx = KVISOR_CPUID_SIG_EDX;

	memset(features, 0, sizeof(*features));
	features->function = KVISOR_CPUID_FEATURES;
	features->eax = KVISOR_FEATURE_NOP | KVISOR_FEATURE_CONSOLE |
			KVISOR_FEATURE_EXIT | KVISOR_FEATURE_CLOCK |
			KVISOR_FEATURE_ANY_INSN | KVISOR_FEATURE_VMM_RANGE;
	features->ebx = KVISOR_HC_CONSOLE_MAX;
}
