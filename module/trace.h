/* SPDX-License-Identifier: GPL-2.0 */
/*
 * kvisor tracepoints: `trace-cmd record -e kvisor` or
 * /sys/kernel/tracing/events/kvisor/.
 */
#undef TRACE_SYSTEM
#define TRACE_SYSTEM kvisor

#if !defined(KVISOR_TRACE_H) || defined(TRACE_HEADER_MULTI_READ)
#define KVISOR_TRACE_H

#include <linux/tracepoint.h>

TRACE_EVENT(kvisor_entry,
	TP_PROTO(u32 vcpu_id, u64 rip),
	TP_ARGS(vcpu_id, rip),
	TP_STRUCT__entry(
		__field(u32, vcpu_id)
		__field(u64, rip)
	),
	TP_fast_assign(
		__entry->vcpu_id = vcpu_id;
		__entry->rip = rip;
	),
	TP_printk("vcpu %u rip 0x%llx", __entry->vcpu_id, __entry->rip)
);

/* Let trace-cmd and perf resolve the enum names in kvisor_exit. */
TRACE_DEFINE_ENUM(KVISOR_X_NONE);
TRACE_DEFINE_ENUM(KVISOR_X_EXT_INTR);
TRACE_DEFINE_ENUM(KVISOR_X_NMI);
TRACE_DEFINE_ENUM(KVISOR_X_IRQ_WINDOW);
TRACE_DEFINE_ENUM(KVISOR_X_HLT);
TRACE_DEFINE_ENUM(KVISOR_X_IO);
TRACE_DEFINE_ENUM(KVISOR_X_NPF);
TRACE_DEFINE_ENUM(KVISOR_X_HYPERCALL);
TRACE_DEFINE_ENUM(KVISOR_X_CPUID);
TRACE_DEFINE_ENUM(KVISOR_X_RDMSR);
TRACE_DEFINE_ENUM(KVISOR_X_WRMSR);
TRACE_DEFINE_ENUM(KVISOR_X_XSETBV);
TRACE_DEFINE_ENUM(KVISOR_X_RDTSCP);
TRACE_DEFINE_ENUM(KVISOR_X_NOP_INSN);
TRACE_DEFINE_ENUM(KVISOR_X_UD);
TRACE_DEFINE_ENUM(KVISOR_X_UD_FAULT);
TRACE_DEFINE_ENUM(KVISOR_X_SHUTDOWN);
TRACE_DEFINE_ENUM(KVISOR_X_FAIL_ENTRY);
TRACE_DEFINE_ENUM(KVISOR_X_UNEXPECTED);

TRACE_EVENT(kvisor_exit,
	TP_PROTO(u32 vcpu_id, u32 kind, u64 hw_reason, u64 rip),
	TP_ARGS(vcpu_id, kind, hw_reason, rip),
	TP_STRUCT__entry(
		__field(u32, vcpu_id)
		__field(u32, kind)
		__field(u64, hw_reason)
		__field(u64, rip)
	),
	TP_fast_assign(
		__entry->vcpu_id = vcpu_id;
		__entry->kind = kind;
		__entry->hw_reason = hw_reason;
		__entry->rip = rip;
	),
	TP_printk("vcpu %u reason %s hw 0x%llx rip 0x%llx", __entry->vcpu_id,
		  __print_symbolic(__entry->kind,
				   { KVISOR_X_NONE, "handled" },
				   { KVISOR_X_EXT_INTR, "external_interrupt" },
				   { KVISOR_X_NMI, "nmi" },
				   { KVISOR_X_IRQ_WINDOW, "interrupt_window" },
				   { KVISOR_X_HLT, "hlt" },
				   { KVISOR_X_IO, "io" },
				   { KVISOR_X_NPF, "npf" },
				   { KVISOR_X_HYPERCALL, "hypercall" },
				   { KVISOR_X_CPUID, "cpuid" },
				   { KVISOR_X_RDMSR, "rdmsr" },
				   { KVISOR_X_WRMSR, "wrmsr" },
				   { KVISOR_X_XSETBV, "xsetbv" },
				   { KVISOR_X_RDTSCP, "rdtscp" },
				   { KVISOR_X_NOP_INSN, "nop_insn" },
				   { KVISOR_X_UD, "undefined_insn" },
				   { KVISOR_X_UD_FAULT, "ud_fault" },
				   { KVISOR_X_SHUTDOWN, "shutdown" },
				   { KVISOR_X_FAIL_ENTRY, "fail_entry" },
				   { KVISOR_X_UNEXPECTED, "unexpected" }),
		  __entry->hw_reason, __entry->rip)
);

TRACE_EVENT(kvisor_pio,
	TP_PROTO(u32 vcpu_id, u16 port, u8 size, bool in, u32 count, u64 val),
	TP_ARGS(vcpu_id, port, size, in, count, val),
	TP_STRUCT__entry(
		__field(u32, vcpu_id)
		__field(u16, port)
		__field(u8, size)
		__field(bool, in)
		__field(u32, count)
		__field(u64, val)
	),
	TP_fast_assign(
		__entry->vcpu_id = vcpu_id;
		__entry->port = port;
		__entry->size = size;
		__entry->in = in;
		__entry->count = count;
		__entry->val = val;
	),
	TP_printk("vcpu %u %s port 0x%x size %u count %u val 0x%llx",
		  __entry->vcpu_id, __entry->in ? "in" : "out", __entry->port,
		  __entry->size, __entry->count, __entry->val)
);

TRACE_EVENT(kvisor_mmio,
	TP_PROTO(u32 vcpu_id, u64 gpa, u32 len, bool write, u64 val),
	TP_ARGS(vcpu_id, gpa, len, write, val),
	TP_STRUCT__entry(
		__field(u32, vcpu_id)
		__field(u64, gpa)
		__field(u32, len)
		__field(bool, write)
		__field(u64, val)
	),
	TP_fast_assign(
		__entry->vcpu_id = vcpu_id;
		__entry->gpa = gpa;
		__entry->len = len;
		__entry->write = write;
		__entry->val = val;
	),
	TP_printk("vcpu %u %s gpa 0x%llx len %u val 0x%llx", __entry->vcpu_id,
		  __entry->write ? "write" : "read", __entry->gpa, __entry->len,
		  __entry->val)
);

TRACE_EVENT(kvisor_hypercall,
	TP_PROTO(u32 vcpu_id, u64 nr, u64 a0, u64 a1, u64 a2, u64 a3),
	TP_ARGS(vcpu_id, nr, a0, a1, a2, a3),
	TP_STRUCT__entry(
		__field(u32, vcpu_id)
		__field(u64, nr)
		__array(u64, args, 4)
	),
	TP_fast_assign(
		__entry->vcpu_id = vcpu_id;
		__entry->nr = nr;
		__entry->args[0] = a0;
		__entry->args[1] = a1;
		__entry->args[2] = a2;
		__entry->args[3] = a3;
	),
	TP_printk("vcpu %u nr 0x%llx args 0x%llx 0x%llx 0x%llx 0x%llx",
		  __entry->vcpu_id, __entry->nr, __entry->args[0],
		  __entry->args[1], __entry->args[2], __entry->args[3])
);

TRACE_EVENT(kvisor_inject,
	TP_PROTO(u32 vcpu_id, u32 type, u32 vector, u32 error_code),
	TP_ARGS(vcpu_id, type, vector, error_code),
	TP_STRUCT__entry(
		__field(u32, vcpu_id)
		__field(u32, type)
		__field(u32, vector)
		__field(u32, error_code)
	),
	TP_fast_assign(
		__entry->vcpu_id = vcpu_id;
		__entry->type = type;
		__entry->vector = vector;
		__entry->error_code = error_code;
	),
	TP_printk("vcpu %u %s vector %u error 0x%x", __entry->vcpu_id,
		  __print_symbolic(__entry->type,
				   { KVISOR_EVENT_EXCEPTION, "exception" },
				   { KVISOR_EVENT_INTERRUPT, "interrupt" },
				   { KVISOR_EVENT_NMI, "nmi" }),
		  __entry->vector, __entry->error_code)
);

#endif /* KVISOR_TRACE_H */

#undef TRACE_INCLUDE_PATH
#define TRACE_INCLUDE_PATH .
#undef TRACE_INCLUDE_FILE
#define TRACE_INCLUDE_FILE trace
#include <trace/define_trace.h>
