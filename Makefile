# SPDX-License-Identifier: GPL-2.0
#
# kvisor: build the module, the userspace side and the selftests; run them
# in the emulated test boxes.  `make help` lists the targets.

# --- which kernel ----------------------------------------------------------
# KDIR: the running kernel's build directory when it exists, else the
# Debian 6.1 headers of the kernel the test boxes boot.
BOX_KVER := $(shell scripts/box/kernel-version 2>/dev/null)
RUN_KDIR := /lib/modules/$(shell uname -r)/build
ifeq ($(origin KDIR),undefined)
  ifneq ($(wildcard $(RUN_KDIR)/Makefile),)
    KDIR := $(RUN_KDIR)
    KDIR_WHY := the running kernel
  else
    KDIR := /lib/modules/$(BOX_KVER)/build
    KDIR_WHY := the test boxes' kernel; no build dir for the running kernel
  endif
else
  KDIR_WHY := KDIR= given
endif

O_DIR   := $(CURDIR)/build
KSFT    := $(O_DIR)/ksft
BIN     := $(O_DIR)/bin
STDIR   := $(O_DIR)/selftests
BOX     ?= svm

CC      ?= cc
CFLAGS  ?= -O2 -g
UCFLAGS := $(CFLAGS) -Wall -Wextra -Werror -std=gnu11 -D_GNU_SOURCE \
	   -I$(CURDIR)/uapi -I$(CURDIR)/userspace/lib
# Static binaries run in the boxes' busybox initramfs as they are.
ULDFLAGS := -static -pthread

LIB_SRC  := $(wildcard userspace/lib/*.c)
LIB      := $(O_DIR)/lib/libkvisor.a
TOOL_SRC := $(wildcard userspace/kvisor/*.c)
ST_LIB_SRC := $(wildcard selftests/kvisor/lib/*.c)
ST_SRC   := $(wildcard selftests/kvisor/*_test.c)
ST_BINS  := $(patsubst selftests/kvisor/%.c,$(STDIR)/kvisor/%,$(ST_SRC))

.PHONY: all module userspace selftests check check-svm check-vmx check-vmx2 check-none check-nonpt \
	check-linux check-linux-vmx difftest \
	demo deps install clean lint checkpatch sparse help uapi-check \
	guests userspace-test install-userspace

all: module userspace selftests

help:
	@echo "make            build kvisor.ko, the kvisor tool, libkvisor, the selftests"
	@echo "make check      lint, then the selftests in the svm, vmx (Skylake-X and,"
	@echo "               check-vmx2, Haswell) and none boxes, and api_test without"
	@echo "               nested paging (check-nonpt); two boxes at a time"
	@echo "make demo       boot the svm box and show the module working, and a"
	@echo "               Linux guest booting to a shell under kvisor"
	@echo "make check-linux  boot the box's Linux under kvisor, 1 and 2 vCPUs"
	@echo "               (check-linux-vmx: in the vmx box)"
	@echo "make difftest SEED=.. N=..  kvisor against KVM on N random guest programs"
	@echo "make deps       install the Debian packages the build and the boxes need"
	@echo "make install    install module, tool, libkvisor, headers, udev rule (real hardware)"
	@echo "make install-userspace  the tool, libkvisor and libkvisor.pc only"
	@echo "make guests     the sample guests, in build/guests/"
	@echo "make userspace-test     host unit tests of the tool (no module needed)"
	@echo "make lint       checkpatch + sparse + W=1 on the kernel code"
	@echo "variables: KDIR=<kernel build dir>  BOX=svm|vmx|none  V=1"

deps:
	@scripts/deps

# --- the module --------------------------------------------------------------
module:
	@echo "kvisor: building against $(KDIR) ($(KDIR_WHY))"
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# --- userspace ---------------------------------------------------------------
userspace: uapi-check $(LIB) $(BIN)/kvisor guests

# The uapi headers must compile on their own, in C and in C++; kvisor_para.h
# also freestanding, as the guests use it.
UAPI_HDRS := uapi/linux/kvisor.h uapi/linux/kvisor_para.h
uapi-check: $(O_DIR)/.uapi-ok
$(O_DIR)/.uapi-ok: $(UAPI_HDRS)
	@mkdir -p $(O_DIR)
	for h in $(UAPI_HDRS); do \
		$(CC) -fsyntax-only -Wall -Wextra -Werror -x c -Iuapi $$h && \
		c++ -fsyntax-only -Wall -Wextra -Werror -x c++ -Iuapi $$h || exit 1; \
	done
	$(CC) -fsyntax-only -Wall -Wextra -Werror -ffreestanding -nostdinc -x c \
		uapi/linux/kvisor_para.h
	@touch $@

$(O_DIR)/lib/%.o: userspace/lib/%.c $(wildcard userspace/lib/*.h) uapi/linux/kvisor.h
	@mkdir -p $(dir $@)
	$(CC) $(UCFLAGS) -c -o $@ $<

$(LIB): $(patsubst userspace/lib/%.c,$(O_DIR)/lib/%.o,$(LIB_SRC))
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BIN)/kvisor: $(TOOL_SRC) $(wildcard userspace/kvisor/*.h) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(UCFLAGS) -o $@ $(TOOL_SRC) $(LIB) $(ULDFLAGS)

# The tool's device models and image checks, unit-tested on the host (no
# /dev/kvisor needed): `make userspace-test`.
TOOL_DEV_SRC := $(filter userspace/kvisor/pio.c userspace/kvisor/dev_%.c,$(TOOL_SRC))
$(O_DIR)/tests/dev_test: userspace/tests/dev_test.c $(TOOL_DEV_SRC) \
		$(wildcard userspace/kvisor/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(UCFLAGS) -Iuserspace/kvisor -o $@ $< $(TOOL_DEV_SRC) $(ULDFLAGS)

userspace-test: userspace
	$(O_DIR)/tests/dev_test
	KVISOR_TOOL_TEST_NODEV=1 userspace/tests/tool_test.sh $(O_DIR)/guests

# --- sample guests (freestanding; gcc, as and ld only) ------------------------
GDIR    := $(O_DIR)/guests
GSRC    := userspace/guests
GCFLAGS := -O2 -g -Wall -Wextra -Werror -std=gnu11 -ffreestanding -nostdlib \
	   -fno-pic -fno-pie -fno-stack-protector -fno-asynchronous-unwind-tables \
	   -fcf-protection=none -mgeneral-regs-only -I$(GSRC)/include -Iuapi
GLDFLAGS := -nostdlib -static --build-id=none -z max-page-size=0x1000 \
	    -z noexecstack --no-warn-rwx-segments
GUESTS  := $(GDIR)/real16.bin $(GDIR)/halt16.bin $(GDIR)/triple16.bin \
	   $(GDIR)/idle16.bin \
	   $(GDIR)/mb32.elf $(GDIR)/mb32-kludge.bin $(GDIR)/long64.elf \
	   $(GDIR)/pv64.elf \
	   $(GDIR)/bad/.made
GHDR    := $(wildcard $(GSRC)/include/*.h) uapi/linux/kvisor_para.h

guests: $(GUESTS) $(O_DIR)/tests/dev_test

$(GDIR)/%16.o: $(GSRC)/%16.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -c -o $@ $<

$(GDIR)/%16.bin: $(GDIR)/%16.o $(GSRC)/flat.ld
	ld -m elf_i386 -T $(GSRC)/flat.ld $(GLDFLAGS) -o $@ $<

$(GDIR)/mb_start.o: $(GSRC)/mb_start.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -c -o $@ $<

$(GDIR)/mb_start-kludge.o: $(GSRC)/mb_start.S
	@mkdir -p $(dir $@)
	$(CC) -m32 -DAOUT_KLUDGE -c -o $@ $<

$(GDIR)/mb32.o: $(GSRC)/mb32.c $(GHDR)
	@mkdir -p $(dir $@)
	$(CC) -m32 $(GCFLAGS) -c -o $@ $<

$(GDIR)/mb32.elf: $(GDIR)/mb_start.o $(GDIR)/mb32.o $(GSRC)/mb32.ld
	ld -m elf_i386 -T $(GSRC)/mb32.ld $(GLDFLAGS) -o $@ $(filter %.o,$^)

# the same kernel as a flat binary: the header's a.out kludge fields place it
$(GDIR)/mb32-kludge.bin: $(GDIR)/mb_start-kludge.o $(GDIR)/mb32.o $(GSRC)/mb32.ld
	ld -m elf_i386 -T $(GSRC)/mb32.ld $(GLDFLAGS) --oformat binary -o $@ \
		$(filter %.o,$^)

$(GDIR)/long64_start.o: $(GSRC)/long64_start.S
	@mkdir -p $(dir $@)
	$(CC) -c -o $@ $<

$(GDIR)/long64.o: $(GSRC)/long64.c $(GHDR)
	@mkdir -p $(dir $@)
	$(CC) -m64 -mno-red-zone $(GCFLAGS) -c -o $@ $<

$(GDIR)/long64.elf: $(GDIR)/long64_start.o $(GDIR)/long64.o $(GSRC)/long64.ld
	ld -m elf_x86_64 -T $(GSRC)/long64.ld $(GLDFLAGS) -o $@ $(filter %.o,$^)

# the paravirtual sample: long64's entry calling pv64_main
$(GDIR)/pv64_start.o: $(GSRC)/long64_start.S
	@mkdir -p $(dir $@)
	$(CC) -DENTRY_MAIN=pv64_main -c -o $@ $<

$(GDIR)/pv64.o: $(GSRC)/pv64.c $(GHDR)
	@mkdir -p $(dir $@)
	$(CC) -m64 -mno-red-zone $(GCFLAGS) -c -o $@ $<

$(GDIR)/pv64.elf: $(GDIR)/pv64_start.o $(GDIR)/pv64.o $(GSRC)/long64.ld
	ld -m elf_x86_64 -T $(GSRC)/long64.ld $(GLDFLAGS) -o $@ $(filter %.o,$^)

# crafted bad images for userspace/tests/tool_test.sh
$(O_DIR)/tests/mkbad: userspace/tests/mkbad.c
	@mkdir -p $(dir $@)
	$(CC) $(UCFLAGS) -o $@ $< $(ULDFLAGS)

$(GDIR)/bad/.made: $(O_DIR)/tests/mkbad
	@mkdir -p $(dir $@)
	$(O_DIR)/tests/mkbad $(dir $@)
	@touch $@

# --- selftests ---------------------------------------------------------------
# kselftest_harness.h, kselftest.h, the runner and checkpatch.pl come from
# Debian's linux-source-6.1, extracted here at build time (never into git).
KSRC_TAR := $(firstword $(wildcard /usr/src/linux-source-6.1.tar.xz))
KSFT_FILES := tools/testing/selftests/kselftest_harness.h \
	tools/testing/selftests/kselftest.h \
	tools/testing/selftests/run_kselftest.sh \
	tools/testing/selftests/kselftest/runner.sh \
	tools/testing/selftests/kselftest/prefix.pl \
	scripts/checkpatch.pl scripts/spelling.txt \
	scripts/const_structs.checkpatch

$(KSFT)/.extracted:
	@test -n "$(KSRC_TAR)" || { echo "linux-source-6.1 is missing: run 'make deps'" >&2; exit 1; }
	@rm -rf $(KSFT) && mkdir -p $(KSFT)
	tar -xJf $(KSRC_TAR) -C $(KSFT) --strip-components=1 \
		$(addprefix linux-source-6.1/,$(KSFT_FILES))
	@touch $@

ST_CFLAGS := $(UCFLAGS) -I$(KSFT)/tools/testing/selftests -I$(CURDIR)/selftests/kvisor/lib \
	-Wno-unused-parameter

$(STDIR)/kvisor/%: selftests/kvisor/%.c $(ST_LIB_SRC) $(wildcard selftests/kvisor/lib/*.h) \
		$(LIB) $(KSFT)/.extracted $(UAPI_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(ST_CFLAGS) -o $@ $< $(ST_LIB_SRC) $(LIB) $(ULDFLAGS)

# The tool's end-to-end test runs as a kselftest too, with the sample
# guests and the bad images beside it.
ST_SCRIPTS := tool_test.sh
# Booting the box's own Linux under kvisor (Documentation/linux.rst):
# installed beside the selftests, run by `make check-linux`.
LINUX_TEST := userspace/tests/linux_boot_test.sh userspace/tests/linux_initramfs.sh

selftests: $(ST_BINS) $(KSFT)/.extracted selftests/kvisor/settings guests
	@mkdir -p $(STDIR)/kselftest
	cp $(KSFT)/tools/testing/selftests/run_kselftest.sh $(STDIR)/
	cp $(KSFT)/tools/testing/selftests/kselftest/runner.sh \
	   $(KSFT)/tools/testing/selftests/kselftest/prefix.pl $(STDIR)/kselftest/
	cp selftests/kvisor/settings $(STDIR)/kvisor/
	cp userspace/tests/tool_test.sh $(STDIR)/kvisor/
	cp $(LINUX_TEST) $(STDIR)/kvisor/
	cp -r $(GDIR)/*.bin $(GDIR)/*.elf $(GDIR)/bad $(STDIR)/kvisor/
	@for t in $(notdir $(ST_BINS)) $(ST_SCRIPTS); do echo "kvisor:$$t"; done \
		> $(STDIR)/kselftest-list.txt

# --- style -------------------------------------------------------------------
KCODE := $(wildcard module/*.[ch] module/*/*.[ch]) $(UAPI_HDRS)

checkpatch: $(KSFT)/.extracted
	perl $(KSFT)/scripts/checkpatch.pl --no-tree --quiet \
		--ignore FILE_PATH_CHANGES,SPDX_LICENSE_TAG -f $(KCODE)

sparse:
	$(MAKE) -C $(KDIR) M=$(CURDIR) clean >/dev/null
	$(MAKE) -C $(KDIR) M=$(CURDIR) C=1 W=1 modules 2>&1 | tee $(O_DIR)/sparse.log
	@! grep -E '(warning|error):' $(O_DIR)/sparse.log

lint: checkpatch sparse

# --- the boxes ---------------------------------------------------------------
check: deps
	$(MAKE) all
	$(MAKE) lint
	$(MAKE) -k -j2 --output-sync=target check-vmx check-vmx2 check-svm \
		check-none check-nonpt

# Each box is one emulator process; the two whole-suite Bochs boxes take
# longest, so they start first and the others follow in whichever slot
# frees up.
# --output-sync keeps each box's console together.
check-svm check-vmx check-none: check-%:
	scripts/testbox --box $*

# The whole suite on a second VT-x model: Haswell has no XSAVES and no
# TSC frequency in CPUID, unlike the vmx box's default Skylake-X.
check-vmx2:
	scripts/testbox --box vmx --cpu corei7_haswell_4770

# CPUs with VT-x/AMD-V but without nested paging: kvisor loads, says so in
# CHECK_EXTENSION and refuses VMs (api_test): AMD-V without NPT in QEMU, a
# Core 2 (VT-x without EPT or unrestricted guest) in Bochs.
check-nonpt:
	scripts/testbox --box svm --cpu EPYC,+svm,-npt --tests kvisor:api_test
	scripts/testbox --box vmx --cpu core2_penryn_t9600 --tests kvisor:api_test

# The differential test against KVM (selftests/kvisor/diff_test.c) for
# longer runs than make check's: make difftest SEED=0x1234 N=20000 [BOX=vmx]
# Runs of CHUNK programs, each within the test's own time limit: chunk k
# starts at seed SEED + k * CHUNK, so the programs are those of one long
# run from SEED (a divergence names the program's own seed either way).
SEED  ?= 0x6466666b
N     ?= 20000
CHUNK ?= $(if $(filter vmx,$(BOX)),200,1000)
difftest: all
	scripts/testbox --box $(BOX) --timeout 36000 --run 'cd /selftests/kvisor && \
		k=0; while [ $$((k * $(CHUNK))) -lt $(N) ]; do \
		n=$$(($(N) - k * $(CHUNK))); [ $$n -gt $(CHUNK) ] && n=$(CHUNK); \
		KVISOR_DIFF_SEED=$$(($(SEED) + k * $(CHUNK))) KVISOR_DIFF_N=$$n \
		./diff_test >/tmp/diff.out 2>&1; r=$$?; \
		grep -E "programs|divergence|reproduce|^not ok|# (PASS|FAIL)" /tmp/diff.out; \
		[ $$r -eq 0 ] || exit 1; \
		k=$$((k + 1)); done'

demo: deps
	$(MAKE) all
	scripts/testbox --box svm --add scripts/demo.sh --run 'sh demo.sh'

# The box's own kernel booted under `kvisor run --kernel` with 1 and 2
# vCPUs (userspace/tests/linux_boot_test.sh), in the svm box and in the
# (slow) vmx box.
check-linux check-linux-vmx: check-linux%:
	scripts/testbox --box $(if $*,vmx,svm) --timeout $(if $*,14400,1800) \
		--mem 1536 --add /boot/initrd.img-$(BOX_KVER) \
		--run 'KVISOR_DEBIAN_INITRD=/work/initrd.img-$(BOX_KVER) sh /selftests/kvisor/linux_boot_test.sh'

# --- install (real hardware) -------------------------------------------------
# DESTDIR stages everything (module included) under a directory instead.
PREFIX  ?= /usr/local
DESTDIR ?=
LIBKVISOR_VERSION := 0.2
MOD_KVER := $(notdir $(patsubst %/build,%,$(KDIR)))
install: all install-userspace
	$(MAKE) -C $(KDIR) M=$(CURDIR) INSTALL_MOD_PATH=$(DESTDIR) modules_install
	depmod -a $(if $(DESTDIR),-b $(DESTDIR)) $(MOD_KVER)
	install -D -m 0644 scripts/udev/60-kvisor.rules \
		$(DESTDIR)/etc/udev/rules.d/60-kvisor.rules
ifeq ($(DESTDIR),)
	getent group kvisor >/dev/null || groupadd --system kvisor
	-udevadm control --reload-rules && udevadm trigger --sysname-match=kvisor
endif

# the tool, libkvisor and its pkg-config file (libkvisor.pc, for
# `pkg-config --cflags --libs libkvisor`); no module, no root needed with
# DESTDIR/PREFIX
install-userspace: userspace
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(LIBKVISOR_VERSION)|g' \
		userspace/lib/libkvisor.pc.in > $(O_DIR)/lib/libkvisor.pc
	install -D -m 0755 $(BIN)/kvisor $(DESTDIR)$(PREFIX)/bin/kvisor
	install -D -m 0644 uapi/linux/kvisor.h $(DESTDIR)$(PREFIX)/include/linux/kvisor.h
	install -D -m 0644 uapi/linux/kvisor_para.h \
		$(DESTDIR)$(PREFIX)/include/linux/kvisor_para.h
	install -D -m 0644 userspace/lib/libkvisor.h $(DESTDIR)$(PREFIX)/include/libkvisor.h
	install -D -m 0644 $(LIB) $(DESTDIR)$(PREFIX)/lib/libkvisor.a
	install -D -m 0644 $(O_DIR)/lib/libkvisor.pc \
		$(DESTDIR)$(PREFIX)/lib/pkgconfig/libkvisor.pc

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf $(O_DIR)
include userspace/bench/bench.mk
include scripts/pkg.mk
