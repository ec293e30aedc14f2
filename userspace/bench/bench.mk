# SPDX-License-Identifier: GPL-2.0
#
# kvisor-bench: kvisor's exit paths against KVM's, side by side in one box
# boot (Documentation/performance.rst).  Included from the top Makefile,
# after its variables.
#
#   make bench              boot the svm box (QEMU TCG, AMD-V), run both
#   make bench BOX=vmx      the vmx box (Bochs, VT-x): KVM only, for now
#   BENCH_ARGS=...          kvisor-bench options (default: -v; in the vmx box,
#                           where Bochs is ~100x slower, smaller counts)
#
# The table is also kept in build/bench-$(BOX).log (the serial log).

BENCH_SRC  := $(wildcard userspace/bench/*.c)
BENCH_BIN  := $(BIN)/kvisor-bench
ifeq ($(BOX),vmx)
BENCH_ARGS ?= -v -r 3 -n 500 -c 1000000 -m 32 -s 3 -p 200 -t 1200
else
BENCH_ARGS ?= -v
endif
BENCH_KVM_MOD := $(if $(filter vmx,$(BOX)),kvm-intel,kvm-amd)

.PHONY: bench

# Built with the userspace tools, and before the selftests (bench_test runs it).
userspace selftests: $(BENCH_BIN)

$(BENCH_BIN): $(BENCH_SRC) $(wildcard userspace/bench/*.h) uapi/linux/kvisor.h
	@mkdir -p $(dir $@)
	$(CC) $(UCFLAGS) -o $@ $(BENCH_SRC) $(ULDFLAGS)

bench: module userspace selftests
	scripts/testbox --box $(BOX) --log $(O_DIR)/bench-$(BOX).log \
		--run 'modprobe $(BENCH_KVM_MOD) && kvisor-bench $(BENCH_ARGS)'
