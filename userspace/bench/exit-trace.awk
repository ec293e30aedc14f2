# SPDX-License-Identifier: GPL-2.0
#
# Where a kvisor exit's time goes, from `trace-cmd report` of the kvisor
# tracepoints (Documentation/performance.rst):
#   trace-cmd record -e kvisor kvisor-bench -b kvisor ...
#   trace-cmd report | awk -f exit-trace.awk
# For each exit reason: how many, the mean time from kvisor_entry to that
# exit (guest run + VMRUN/#VMEXIT) and from the exit to the next
# kvisor_entry of the same vCPU (handling, in the kernel or through
# userspace and back), in microseconds.
# trace-cmd prints the exit kind as a number: enum kvisor_exit_kind
# (module/kvisor.h), in order.
BEGIN {
	split("handled external_interrupt nmi interrupt_window hlt io npf " \
	      "hypercall cpuid rdmsr wrmsr xsetbv rdtscp nop_insn " \
	      "undefined_insn shutdown fail_entry unexpected", kind, " ")
	for (i = 1; i in kind; i++) name[sprintf("0x%x", i - 1)] = kind[i]
}
{
	ev = ""; ts = -1
	for (i = 1; i <= NF; i++) {
		if ($i ~ /^[0-9]+\.[0-9]+:$/) { ts = substr($i, 1, length($i) - 1) + 0 }
		if ($i == "kvisor_entry:" || $i == "kvisor_exit:") { ev = $i; v = $(i + 2) }
		if ($i == "reason") r = ($(i + 1) in name) ? name[$(i + 1)] : $(i + 1)
	}
	if (ev == "" || ts < 0) next
	if (ev == "kvisor_entry:") {
		if (v in xr) { out[xr[v]] += ts - xt[v]; nout[xr[v]]++; delete xr[v] }
		et[v] = ts
	} else {
		if (v in et) { in_[r] += ts - et[v]; n[r]++; delete et[v] }
		xr[v] = r; xt[v] = ts
	}
}
END {
	printf "%-20s %8s %14s %16s\n", "exit", "count", "guest+switch us", "exit->entry us"
	for (r in n)
		printf "%-20s %8d %14.1f %16.1f\n", r, n[r], 1e6 * in_[r] / n[r],
		       nout[r] ? 1e6 * out[r] / nout[r] : 0
}
