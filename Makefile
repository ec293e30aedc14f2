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

.PHONY: all module userspace selftests check check-svm check-vmx check-none \
	demo deps install clean lint checkpatch sparse help uapi-check

all: module userspace selftests

help:
	@echo "make            build kvisor.ko, the kvisor tool, libkvisor, the selftests"
	@echo "make check      lint, then the selftests in the svm, vmx and none boxes"
	@echo "make demo       boot the svm box and show the module working"
	@echo "make deps       install the Debian packages the build and the boxes need"
	@echo "make install    install module, tool, header, udev rule (real hardware)"
	@echo "make lint       checkpatch + sparse + W=1 on the kernel code"
	@echo "variables: KDIR=<kernel build dir>  BOX=svm|vmx|none  V=1"

deps:
	@scripts/deps

# --- the module --------------------------------------------------------------
module:
	@echo "kvisor: building against $(KDIR) ($(KDIR_WHY))"
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules

# --- userspace ---------------------------------------------------------------
userspace: uapi-check $(LIB) $(BIN)/kvisor

# The uapi header must compile on its own, in C and in C++.
uapi-check: $(O_DIR)/.uapi-ok
$(O_DIR)/.uapi-ok: uapi/linux/kvisor.h
	@mkdir -p $(O_DIR)
	$(CC) -fsyntax-only -Wall -Wextra -Werror -x c -Iuapi uapi/linux/kvisor.h
	c++ -fsyntax-only -Wall -Wextra -Werror -x c++ -Iuapi uapi/linux/kvisor.h
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
		$(LIB) $(KSFT)/.extracted uapi/linux/kvisor.h
	@mkdir -p $(dir $@)
	$(CC) $(ST_CFLAGS) -o $@ $< $(ST_LIB_SRC) $(LIB) $(ULDFLAGS)

selftests: $(ST_BINS) $(KSFT)/.extracted selftests/kvisor/settings
	@mkdir -p $(STDIR)/kselftest
	cp $(KSFT)/tools/testing/selftests/run_kselftest.sh $(STDIR)/
	cp $(KSFT)/tools/testing/selftests/kselftest/runner.sh \
	   $(KSFT)/tools/testing/selftests/kselftest/prefix.pl $(STDIR)/kselftest/
	cp selftests/kvisor/settings $(STDIR)/kvisor/
	@for t in $(notdir $(ST_BINS)); do echo "kvisor:$$t"; done > $(STDIR)/kselftest-list.txt

# --- style -------------------------------------------------------------------
KCODE := $(wildcard module/*.[ch] module/*/*.[ch]) uapi/linux/kvisor.h

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
	$(MAKE) check-svm check-vmx check-none

check-svm check-vmx check-none: check-%:
	scripts/testbox --box $*

demo: deps
	$(MAKE) all
	scripts/testbox --box svm --run 'scripts/demo'

# --- install (real hardware) -------------------------------------------------
PREFIX  ?= /usr/local
DESTDIR ?=
install: all
	$(MAKE) -C $(KDIR) M=$(CURDIR) modules_install
	depmod -a $(notdir $(patsubst %/build,%,$(KDIR)))
	install -D -m 0755 $(BIN)/kvisor $(DESTDIR)$(PREFIX)/bin/kvisor
	install -D -m 0644 uapi/linux/kvisor.h $(DESTDIR)$(PREFIX)/include/linux/kvisor.h
	install -D -m 0644 scripts/udev/60-kvisor.rules \
		$(DESTDIR)/etc/udev/rules.d/60-kvisor.rules
	getent group kvisor >/dev/null || groupadd --system kvisor
	-udevadm control --reload-rules && udevadm trigger --name-match=kvisor

clean:
	-$(MAKE) -C $(KDIR) M=$(CURDIR) clean
	rm -rf $(O_DIR)
include userspace/bench/bench.mk
