# mk/install.mk - installing bntk, included by the Makefile.
#
#   make install     PREFIX=/usr/local (default) DESTDIR= (staging root)
#   make uninstall   removes exactly the files `make install` writes
#   make check-install   install into a temporary DESTDIR, build examples/
#                    against it through pkg-config, run it, uninstall, and
#                    check that nothing is left (scripts/check-install.sh)
#   make man, make completion   into build/man, build/completion
#   make dist        bntk-VERSION.tar.gz: `git archive` of HEAD plus .commit
#
# GNU layout under $(DESTDIR)$(PREFIX): bin/bn-*, lib/libbn.a,
# lib/libbn.so.VERSION (+ the libbn.so.ABI and libbn.so links),
# include/bn/*.h, lib/pkgconfig/bntk.pc, share/man/man1/bn-*.1,
# share/bash-completion/completions/bn-*. Tools, man pages and completions
# follow src/tools/bn-*.c, so a new tool is installed without a change here.
# Man pages come from each tool's --help and --version (help2man, installed
# by `make deps-man`); completions from --help (scripts/gen-completion.sh).

PREFIX       ?= /usr/local
DESTDIR      ?=
bindir       ?= $(PREFIX)/bin
libdir       ?= $(PREFIX)/lib
includedir   ?= $(PREFIX)/include
pkgconfigdir ?= $(libdir)/pkgconfig
mandir       ?= $(PREFIX)/share/man
man1dir      ?= $(mandir)/man1
bashcompdir  ?= $(PREFIX)/share/bash-completion/completions
INSTALL      ?= install

# A real install (no DESTDIR) as root refreshes the loader's cache, so programs
# find libbn.so.ABI in $(libdir) at once; a staged one leaves that to the package.
LDCONFIG_CMD = if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -eq 0 ] && command -v ldconfig >/dev/null; then \
                 ldconfig; fi

MANPAGES    := $(addprefix $(BUILD)/man/,$(addsuffix .1,$(TOOL_NAMES)))
COMPLETIONS := $(addprefix $(BUILD)/completion/,$(TOOL_NAMES))
DIST        := bntk-$(VERSION)

.PHONY: install uninstall check-install man completion dist

man: $(MANPAGES) ## man pages for every tool, from --help (build/man/)
completion: $(COMPLETIONS) ## bash completion for every tool, from --help (build/completion/)

$(BUILD)/man/%.1: $(BUILD)/% scripts/gen-man.sh | deps-man
	@mkdir -p $(dir $@)
	./scripts/gen-man.sh $< src/tools/$*.c $@

$(BUILD)/completion/%: $(BUILD)/% scripts/gen-completion.sh
	@mkdir -p $(dir $@)
	./scripts/gen-completion.sh $< $@

# Rewritten only when its text changes (the prefix is part of it).
$(BUILD)/bntk.pc: FORCE
	@mkdir -p $(dir $@)
	@printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$(libdir)' 'includedir=$(includedir)' '' \
	  'Name: bntk' \
	  'Description: BitNet b1.58 (ternary) models: GGUF conversion, ternarization, runtime, verification' \
	  'Version: $(VERSION)' \
	  'Requires.private: zlib libzip libcjson' \
	  'Libs: -L$${libdir} -lbn' \
	  'Libs.private: -lm -pthread' \
	  'Cflags: -I$${includedir}' >$@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

install: all man completion $(BUILD)/bntk.pc ## install into $(DESTDIR)$(PREFIX) (GNU layout)
	$(INSTALL) -d $(DESTDIR)$(bindir) $(DESTDIR)$(libdir) $(DESTDIR)$(includedir)/bn \
	  $(DESTDIR)$(pkgconfigdir) $(DESTDIR)$(man1dir) $(DESTDIR)$(bashcompdir)
	$(INSTALL) -m 755 $(TOOLS) $(DESTDIR)$(bindir)/
	$(INSTALL) -m 644 $(LIB) $(DESTDIR)$(libdir)/
	$(INSTALL) -m 755 $(SHLIB) $(DESTDIR)$(libdir)/
	ln -sf $(notdir $(SHLIB)) $(DESTDIR)$(libdir)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(libdir)/libbn.so
	$(INSTALL) -m 644 $(HEADERS) $(DESTDIR)$(includedir)/bn/
	$(INSTALL) -m 644 $(BUILD)/bntk.pc $(DESTDIR)$(pkgconfigdir)/
	$(INSTALL) -m 644 $(MANPAGES) $(DESTDIR)$(man1dir)/
	$(INSTALL) -m 644 $(COMPLETIONS) $(DESTDIR)$(bashcompdir)/
	@$(LDCONFIG_CMD)

# Only our files: the layout's directories may be shared (and may have
# existed before), so they stay; include/bn is ours and goes when empty.
uninstall: ## remove what `make install` installed (same PREFIX and DESTDIR)
	rm -f $(addprefix $(DESTDIR)$(bindir)/,$(TOOL_NAMES)) \
	  $(DESTDIR)$(libdir)/libbn.a $(DESTDIR)$(libdir)/$(notdir $(SHLIB)) \
	  $(DESTDIR)$(libdir)/$(SONAME) $(DESTDIR)$(libdir)/libbn.so \
	  $(addprefix $(DESTDIR)$(includedir)/bn/,$(notdir $(HEADERS))) \
	  $(DESTDIR)$(pkgconfigdir)/bntk.pc \
	  $(addprefix $(DESTDIR)$(man1dir)/,$(notdir $(MANPAGES))) \
	  $(addprefix $(DESTDIR)$(bashcompdir)/,$(TOOL_NAMES))
	rmdir $(DESTDIR)$(includedir)/bn 2>/dev/null || true
	@$(LDCONFIG_CMD)

check-install: all deps-man ## install into a temp DESTDIR, build and run examples/ against it, uninstall
	@BN_SHARED=$(abspath $(SHARED)) ./scripts/check-install.sh "$(MAKE)" $(BUILD)

# The tarball of the committed tree (git archive) with the commit in .commit,
# so its build reports "VERSION+g<commit>" like the checkout it came from.
dist: ## bntk-VERSION.tar.gz from git HEAD (builds with make && make check)
	@git rev-parse --verify -q HEAD >/dev/null || { echo "make dist: needs a git checkout" >&2; exit 2; }
	@[ -z "$$(git status --porcelain --untracked-files=no)" ] || \
	  echo "make dist: warning: uncommitted changes are not in the tarball" >&2
	@mkdir -p $(BUILD)
	@git rev-parse --short=12 HEAD >$(BUILD)/.commit
	git archive --format=tar.gz --prefix=$(DIST)/ --add-file=$(BUILD)/.commit \
	  -o $(BUILD)/$(DIST).tar.gz HEAD
	@rm -f $(BUILD)/.commit
	@echo "make dist: $(BUILD)/$(DIST).tar.gz ($$(du -h $(BUILD)/$(DIST).tar.gz | cut -f1))"
