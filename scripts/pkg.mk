# SPDX-License-Identifier: GPL-2.0
#
# Packaging and other kernels (Documentation/packaging.rst); included by
# the top-level Makefile.
#
#   make deb             kvisor-dkms, kvisor-tools, libkvisor-dev .debs in
#                        build/deb/ (dpkg-buildpackage -b -us -uc), lintian
#   make check-packages  install them in a throwaway Debian 12 root, let DKMS
#                        build the module there, boot the svm box with it
#   make kernels         kvisor.ko for each kernel series, build/kernels/*/
#   make check-kernels   the selftests on 6.1-rt and 6.12 in the svm box, on
#                        6.12 in the vmx box
#
# The Debian roots (scripts/pkg-root) live in KVISOR_ROOTS, outside the
# tree (default /var/tmp/kvisor-roots).

.PHONY: deb lintian check-packages kernels check-kernels pkg-userspace man

DEB_VERSION := $(shell dpkg-parsechangelog -S Version 2>/dev/null)
DEB_OUT     := $(O_DIR)/deb
KSERIES     := 6.1-rt 6.12
export KVISOR_ROOTS ?= /var/tmp/kvisor-roots

# --- the man page: one source, Documentation/tool.rst -----------------------
$(O_DIR)/man/kvisor.1: scripts/kvisor.1.rst Documentation/tool.rst
	@mkdir -p $(dir $@)
	awk '/^The kvisor command$$/ { on = 1; getline; next } \
	     on && /^libkvisor$$/ { exit } on { print }' Documentation/tool.rst \
		> $(O_DIR)/man/tool-command.rst
	@test -s $(O_DIR)/man/tool-command.rst || \
		{ echo "tool.rst: no section 'The kvisor command'" >&2; exit 1; }
	awk -v body=$(O_DIR)/man/tool-command.rst \
		'$$0 == "KVISOR-TOOL-RST" { while ((getline l < body) > 0) print l; next } \
		 { print }' scripts/kvisor.1.rst > $(O_DIR)/man/kvisor.1.rst
	rst2man --strict $(O_DIR)/man/kvisor.1.rst $@

man: $(O_DIR)/man/kvisor.1

# --- what debian/rules builds (O_DIR=debian/build-tmp, dpkg-buildflags) -----
LIBDIR ?= $(PREFIX)/lib
$(O_DIR)/lib/libkvisor-pkg.pc: userspace/lib/libkvisor.pc.in
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@VERSION@|$(LIBKVISOR_VERSION)|g' \
		-e 's|^libdir=.*|libdir=$(LIBDIR)|' $< > $@

pkg-userspace: uapi-check $(LIB) $(BIN)/kvisor $(O_DIR)/man/kvisor.1 \
		$(O_DIR)/lib/libkvisor-pkg.pc

# --- the packages -------------------------------------------------------------
# dpkg-buildpackage writes into the parent directory; the files are moved
# to build/deb/.
deb:
	dpkg-buildpackage -b -us -uc
	@mkdir -p $(DEB_OUT)
	rm -f $(DEB_OUT)/*
	mv $(addprefix ../,kvisor-dkms_$(DEB_VERSION)_all.deb \
		kvisor-tools_$(DEB_VERSION)_amd64.deb \
		kvisor-tools-dbgsym_$(DEB_VERSION)_amd64.deb \
		libkvisor-dev_$(DEB_VERSION)_amd64.deb \
		kvisor_$(DEB_VERSION)_amd64.buildinfo \
		kvisor_$(DEB_VERSION)_amd64.changes) $(DEB_OUT)/
	$(MAKE) --no-print-directory lintian
	@ls -l $(DEB_OUT)

lintian:
	lintian --fail-on error,warning --info $(DEB_OUT)/*.changes

# --- the packages in a throwaway Debian root -----------------------------------
check-packages: deb
	scripts/check-packages $(DEB_OUT)

# --- other kernel series --------------------------------------------------------
# Each series is built in its own Debian root (scripts/pkg-root), from a
# copy of the module's sources (Kbuild writes its objects beside them).
kernels: $(addprefix $(O_DIR)/kernels/,$(addsuffix /kvisor.ko,$(KSERIES)))

KMOD_SRC := Kbuild $(wildcard module/*.[ch] module/*.inc module/*.S \
	module/*/*.[ch] module/*/*.S) $(UAPI_HDRS)

$(O_DIR)/kernels/%/kvisor.ko: $(KMOD_SRC) scripts/pkg-root
	scripts/pkg-root $*
	scripts/pkg-root --run $* sh -c 'rm -rf /tmp/kvisor && mkdir -p /tmp/kvisor'
	tar -cf - $(KMOD_SRC) | tar -xf - -C "$$(scripts/pkg-root --path $*)/tmp/kvisor"
	scripts/pkg-root --run $* sh -c 'cd /tmp/kvisor && \
		for b in /lib/modules/*/build; do :; done && \
		echo "kvisor: building against $$b" && \
		make -C $$b M=/tmp/kvisor W=1 modules' 2>&1 | tee $(O_DIR)/kernels-$*.log
	@! grep -E '(warning|error):' $(O_DIR)/kernels-$*.log
	@mkdir -p $(dir $@)
	cp "$$(scripts/pkg-root --path $*)/tmp/kvisor/kvisor.ko" $@

# The whole suite on 6.1-rt and 6.12 in the svm box and on 6.12 in the vmx
# box (Bochs, the longest: it starts first), two boxes at a time.
check-kernels: all kernels
	$(MAKE) -k -j2 --output-sync=target check-kernel-vmx-6.12 \
		check-kernel-svm-6.1-rt check-kernel-svm-6.12

check-kernel-svm-6.1-rt check-kernel-svm-6.12 check-kernel-vmx-6.12: check-kernel-%:
	scripts/testbox --box $(firstword $(subst -, ,$*)) \
		--kernel $(patsubst $(firstword $(subst -, ,$*))-%,%,$*)
