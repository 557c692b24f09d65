# bntk - one entry point. See README.md; `make help` lists the targets.
#
# Layout is discovered, not listed: every src/<module>/*.c (except src/tools/)
# goes into libbn, every src/tools/bn-*.c is a tool (linked with
# src/tools/common/*.c), every tests/test_*.c is a Check suite (linked with
# tests/common/*.c and src/tools/common/*.c), every tests/cli/*.sh a CLI test,
# every mk/*.mk a piece of this Makefile (fuzzing, install, the server ...).
#
# Dependencies: the targets that compile or run something (all, check, demo,
# lint, fuzz, install ...) first run scripts/install-deps.sh, which installs
# missing Debian packages and is silent when nothing is missing; `make help`,
# `make clean` and `make dist` install nothing. BN_SKIP_DEPS=1 skips it.

SHELL   := /bin/bash
BUILD   ?= build
SHARED  ?= ../shared
OPT     ?= -O2
SAN     ?=
ARCH    := $(shell $(CC) -dumpmachine 2>/dev/null)

# The release and the ABI come from include/bn/version.h (the one place they
# are written); the commit from git when this is a checkout, else from the
# .commit file `make dist` puts into its tarball.
VERSION := $(shell sed -n 's/^\#define BN_VERSION "\([^"]*\)".*/\1/p' include/bn/version.h)
ABI     := $(shell sed -n 's/^\#define BN_ABI_VERSION \([0-9][0-9]*\).*/\1/p' include/bn/version.h)
GIT_COMMIT := $(shell if [ "$$(git rev-parse --show-toplevel 2>/dev/null)" = "$(CURDIR)" ]; then \
                c=$$(git rev-parse --short=12 HEAD 2>/dev/null) && \
                { [ -z "$$(git status --porcelain --untracked-files=no 2>/dev/null)" ] || c=$$c.dirty; } && \
                echo "$$c"; elif [ -f .commit ]; then head -c 64 .commit | tr -cd '0-9a-z.'; fi)

# pkg-config is asked when a recipe first needs the flags (after `deps` has
# installed what was missing), once per make run.
PKGS         := libzip libcjson zlib
lazy          = $(eval $(1) := $$(shell $(2)))$($(1))
PKG_CFLAGS    = $(call lazy,PKG_CFLAGS,pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS      = $(call lazy,PKG_LIBS,pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS  = $(call lazy,CHECK_CFLAGS,pkg-config --cflags check 2>/dev/null)
CHECK_LIBS    = $(call lazy,CHECK_LIBS,pkg-config --libs check 2>/dev/null)
EDIT_CFLAGS   = $(call lazy,EDIT_CFLAGS,pkg-config --cflags libedit 2>/dev/null)
EDIT_LIBS     = $(call lazy,EDIT_LIBS,pkg-config --libs libedit 2>/dev/null)

# Library objects are position-independent and hidden unless a public header
# declares them (each include/bn/*.h wraps its declarations in
# `#pragma GCC visibility push(default)`), so libbn.so exports its API only.
CFLAGS_ALL  = -std=c11 $(OPT) -g -Wall -Wextra -Werror -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 \
              -Iinclude -Isrc -pthread $(PKG_CFLAGS) $(SAN) $(CFLAGS)
LIB_CFLAGS  = -fPIC -fvisibility=hidden
LDLIBS_ALL  = $(PKG_LIBS) -lm -pthread $(SAN) $(LDFLAGS)

# src/serve/ (the HTTP server and its libmicrohttpd) is built by mk/serve.mk.
LIB_SRC     := $(sort $(filter-out src/tools/% src/serve/%,$(wildcard src/*/*.c src/runtime/kernels/*.c)))
TOOL_COMMON := $(sort $(wildcard src/tools/common/*.c))
TOOL_SRC    := $(sort $(wildcard src/tools/bn-*.c))
TEST_SRC    := $(sort $(wildcard tests/test_*.c))
TEST_COMMON := $(sort $(wildcard tests/common/*.c))
BENCH_SRC   := $(sort $(wildcard bench/bench_*.c))
HEADERS     := $(sort $(wildcard include/bn/*.h))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJ     := $(call obj,$(LIB_SRC))
TOOL_COMMON_OBJ := $(call obj,$(TOOL_COMMON))
TEST_COMMON_OBJ := $(call obj,$(TEST_COMMON))
TOOL_NAMES  := $(patsubst src/tools/%.c,%,$(TOOL_SRC))
TOOLS       := $(addprefix $(BUILD)/,$(TOOL_NAMES))
TESTS       := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
BENCHES     := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
LIB         := $(BUILD)/libbn.a
SONAME      := libbn.so.$(ABI)
SHLIB       := $(BUILD)/libbn.so.$(VERSION)

# SIMD translation units get their instruction sets (one list, used by the fuzz
# build too: mk/fuzz.mk); everything else is plain C11.
ISA_avx2    := -mavx2 -mfma -mf16c
ISA_avx512  := -mavx512f -mavx512bw -mavx512vl -mavx512vnni $(ISA_avx2)
ISA_amx     := -mamx-tile -mamx-int8 $(ISA_avx512)
ISA_SUFFIXES := avx2 avx512 amx
ifneq ($(findstring x86_64,$(ARCH)),)
$(foreach i,$(ISA_SUFFIXES),$(eval $(BUILD)/obj/%_$(i).o: XFLAGS := $(ISA_$(i))))
endif
$(BUILD)/obj/src/util/version.o: DEFS := -DBN_GIT_COMMIT='"$(GIT_COMMIT)"'
$(BUILD)/obj/src/util/version.o: $(BUILD)/gen/commit

.PHONY: all check asan demo bench clean tests help deps FORCE
.SECONDARY:
.DEFAULT_GOAL := all

all: $(LIB) $(BUILD)/libbn.so $(TOOLS) ## build libbn.a, libbn.so and every tool into build/

# ---- dependencies (Debian packages), installed by the targets that need them
deps: ## install missing build dependencies (scripts/install-deps.sh)
	@$(if $(filter 1,$(BN_SKIP_DEPS)),:,./scripts/install-deps.sh)
deps-%:
	@$(if $(filter 1,$(BN_SKIP_DEPS)),:,./scripts/install-deps.sh --$*)

$(BUILD)/obj/%.o: %.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(XFLAGS) $(DEFS) $(if $(filter $@,$(LIB_OBJ)),$(LIB_CFLAGS)) \
	  $(if $(findstring /tests/,$@),$(CHECK_CFLAGS) -Itests/common -I$(BUILD)/gen) -MMD -MP -c $< -o $@

# Rewritten only when the commit changes, so a new commit recompiles version.o alone.
$(BUILD)/gen/commit: FORCE
	@mkdir -p $(dir $@)
	@echo '$(GIT_COMMIT)' | cmp -s - $@ || echo '$(GIT_COMMIT)' >$@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(AR) rcs $@ $^

$(SHLIB): $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,$(SONAME) -Wl,--no-undefined -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/libbn.so: $(SHLIB)
	ln -sf $(notdir $(SHLIB)) $(BUILD)/$(SONAME)
	ln -sf $(SONAME) $@

$(BUILD)/bn-%: $(BUILD)/obj/src/tools/bn-%.o $(TOOL_COMMON_OBJ) $(LIB)
	$(CC) -o $@ $^ $(LDLIBS_ALL) $(TOOL_LIBS)

# libedit (chat line editing) is bn-run's alone
$(BUILD)/obj/src/tools/bn-run.o: XFLAGS += $(EDIT_CFLAGS)
$(BUILD)/bn-run: TOOL_LIBS = $(EDIT_LIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_COMMON_OBJ) $(TOOL_COMMON_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(CHECK_LIBS) $(LDLIBS_ALL)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# Every public header in one translation unit (tests/test_headers.c includes
# this list), generated from the directory so a new header joins by itself.
$(BUILD)/gen/all_headers.h: $(HEADERS) Makefile
	@mkdir -p $(dir $@)
	@{ echo '/* generated by the Makefile: every header under include/bn/ */'; \
	   $(foreach h,$(HEADERS),echo '#include "bn/$(notdir $(h))"';) } >$@.tmp && mv $@.tmp $@
$(BUILD)/obj/tests/test_headers.o: $(BUILD)/gen/all_headers.h

# ... and each header alone (-pedantic): it includes what it uses.
$(BUILD)/gen/headers-alone.ok: $(HEADERS) | deps
	@mkdir -p $(dir $@)
	@for h in $(HEADERS); do \
	  $(CC) -std=c11 -Wall -Wextra -Werror -pedantic -Iinclude -fsyntax-only -x c $$h || \
	  { echo "$$h does not compile on its own" >&2; exit 1; }; done; touch $@

tests: all $(TESTS) $(BUILD)/gen/headers-alone.ok ## build the tools and every Check suite

check: tests ## build, then run every Check suite and CLI test
	@BN_BUILD=$(abspath $(BUILD)) BN_SHARED=$(abspath $(SHARED)) BN_ROOT=$(CURDIR) \
	  ./tests/run.sh $(TESTS) $(filter-out tests/cli/lib.sh,$(sort $(wildcard tests/cli/*.sh)))

asan: deps ## the same tests under AddressSanitizer + UBSan (build-asan/)
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  BN_SKIP_DEPS=1 check

demo: all ## convert the bundled model and run the pipeline on it
	@./scripts/demo.sh $(BUILD) $(SHARED)

bench: all $(BENCHES) ## benchmarks (figures go in closing notes, never into tests)
	@./scripts/bench.sh $(BUILD)

# bn-run against llama-bench on the same files (BN_VS_BITNET / BN_VS_LLAMA: their llama-bench)
.PHONY: bench-vs
bench-vs: all $(BENCHES) ## bn-run against the reference engines' llama-bench (scripts/bench_vs.sh)
	@./scripts/bench_vs.sh $(BUILD)

clean: ## remove every build directory
	rm -rf build build-asan build-*

help: ## this list
	@echo "bntk $(VERSION): make [TARGET] [VAR=value ...]"
	@awk -F ':[^#]*## ' '/^[a-zA-Z][a-zA-Z0-9_.-]*:[^#]*## / { printf "  make %-14s %s\n", $$1, $$2 }' \
	  $(filter Makefile mk/%.mk,$(MAKEFILE_LIST))
	@echo "Variables: BUILD=$(BUILD) SHARED=$(SHARED) PREFIX=$(PREFIX) DESTDIR= BN_SKIP_DEPS=1 (install nothing)"

FORCE:

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# check-arm: the kernel suite (Check-free build, -DBN_NO_CHECK) cross-compiled
# for aarch64, static, run under qemu with -cpu max so NEON dotprod exists.
# Installs the cross toolchain and qemu (Debian packages) when missing.
ARM_CC      ?= aarch64-linux-gnu-gcc
ARM_QEMU    ?= qemu-aarch64
ARM_SRC     := $(sort $(wildcard src/runtime/kernels/*.c)) src/runtime/threadpool.c src/util/error.c src/util/util.c
.PHONY: check-arm
check-arm: ## the NEON kernels cross-built for aarch64, run under qemu
	@if ! command -v $(ARM_CC) >/dev/null || ! command -v $(ARM_QEMU) >/dev/null; then \
	  echo "check-arm: installing gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user" >&2; \
	  sudo=""; [ "$$(id -u)" -eq 0 ] || sudo=sudo; \
	  pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user"; \
	  DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$pkgs >&2 || \
	  { $$sudo apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq $$pkgs >&2; } \
	  || exit 1; fi
	@mkdir -p build-arm
	$(ARM_CC) -std=c11 -O2 -Wall -Wextra -Werror -D_DEFAULT_SOURCE -DBN_NO_CHECK -Iinclude -Isrc \
	  -Itests/common -pthread -static -o build-arm/test_kernels tests/test_kernels.c \
	  tests/common/testutil.c $(ARM_SRC) -lm
	BN_SHARED=$(abspath $(SHARED)) $(ARM_QEMU) -cpu max build-arm/test_kernels

# ---- static checks (scripts/lint.sh; the exported-symbol check, scripts/check-exports.sh)
.PHONY: lint
lint: deps-lint $(BUILD)/libbn.so $(LIB) ## cppcheck + clang-tidy; libbn exports exactly the public API, internals are prefixed
	@./scripts/lint.sh
	@./scripts/check-exports.sh $(SHLIB) $(LIB)

# ---- the other pieces: fuzzing, install/dist, the server ...
include $(sort $(wildcard mk/*.mk))
