# SPDX-License-Identifier: GPL-2.0
#
# kvisor-bench: kvisor's exit paths against KVM's, side by side in one box
# boot (Documentation/performance.rst).  Included from the top Makefile,
# after its variables.
#
#   make bench              boot the svm box (QEMU TCG, AMD-V), run both
#   make bench BOX=vmx      the vmx box (Bochs, VT-x)
#   BENCH_ARGS=...          kvisor-bench options (default: -v; in the vmx box,
#                           where Bochs is ~100x slower, smaller counts)
#   make bench-pv           full vs paravirtual on kvisor (kvisor-bench -P):
#                           64 KiB through the UART and the console hypercall,
#                           100 000 port reads and no-op hypercalls
#   make bench-pv BOX=vmx   the same in the vmx box
#   BENCH_PV_ARGS=...       kvisor-bench -P options (default: -v -r 5; fewer
#                           in the vmx box)
#
# The table is also kept in build/bench-$(BOX).log or build/bench-pv-$(BOX).log
# (the serial log).

# The UART of the -P comparison is the kvisor tool's own device model.
BENCH_SRC  := $(wildcard userspace/bench/*.c) userspace/kvisor/dev_uart.c \
	      userspace/kvisor/pio.c
BENCH_BIN  := $(BIN)/kvisor-bench
ifeq ($(BOX),vmx)
BENCH_ARGS ?= -v -r 3 -n 500 -c 1000000 -m 32 -s 3 -p 200 -t 1200
else
BENCH_ARGS ?= -v
endif
BENCH_KVM_MOD := $(if $(filter vmx,$(BOX)),kvm-intel,kvm-amd)
# QEMU's multi-threaded TCG (one host thread per vCPU) can leave a vCPU
# executing a stale INT3 after the kernel patches a static key, which KVM
# does on every VM create and destroy; both vCPUs then spin forever
# (performance.rst, "Box instability").  One TCG thread for both vCPUs
# does not.
BENCH_BOX_ARGS := $(if $(filter vmx,$(BOX)),,--tcg single)
ifeq ($(BOX),vmx)
BENCH_PV_ARGS ?= -v -r 1 -T 4096 -n 2000
else
BENCH_PV_ARGS ?= -v -r 5
endif

.PHONY: bench bench-pv

# Built with the userspace tools, and before the selftests (bench_test runs it).
userspace selftests: $(BENCH_BIN)

$(BENCH_BIN): $(BENCH_SRC) $(wildcard userspace/bench/*.h) $(wildcard userspace/kvisor/*.h) \
		$(UAPI_HDRS) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(UCFLAGS) -Iuserspace/kvisor -o $@ $(BENCH_SRC) $(LIB) $(ULDFLAGS)

bench: module userspace selftests
	scripts/testbox --box $(BOX) $(BENCH_BOX_ARGS) --log $(O_DIR)/bench-$(BOX).log \
		--run 'modprobe $(BENCH_KVM_MOD) && kvisor-bench $(BENCH_ARGS)'

bench-pv: module userspace selftests
	scripts/testbox --box $(BOX) --log $(O_DIR)/bench-pv-$(BOX).log \
		--run 'kvisor-bench -P $(BENCH_PV_ARGS)'
