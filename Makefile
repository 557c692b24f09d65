# bntk - one entry point. See README.md.
#
#   make          build libbn.a and every tool into build/
#   make check    build, then run every Check suite and CLI test
#   make asan     the same tests under AddressSanitizer + UBSan (build-asan/)
#   make demo     convert the bundled model and run the pipeline on it
#   make bench    benchmarks (figures go in closing notes, never into tests)
#   make bench-vs bn-run against the reference engines' llama-bench (scripts/bench_vs.sh)
#   make clean
#
# Layout is discovered, not listed: every src/<module>/*.c goes into libbn.a,
# every src/tools/bn-*.c is a tool (linked with src/tools/common/*.c), every
# tests/test_*.c is a Check suite (linked with tests/common/*.c and
# src/tools/common/*.c), every tests/cli/*.sh a CLI test.

SHELL   := /bin/bash
BUILD   ?= build
SHARED  ?= ../shared
OPT     ?= -O2
SAN     ?=
ARCH    := $(shell $(CC) -dumpmachine 2>/dev/null)

# Install missing build dependencies first (fresh Debian/Ubuntu machines).
ifeq ($(filter clean help,$(MAKECMDGOALS)),)
ifneq ($(BN_SKIP_DEPS),1)
DEPS_RC := $(shell ./scripts/install-deps.sh $(if $(filter fuzz fuzz-build,$(MAKECMDGOALS)),--fuzz)$(if $(filter lint,$(MAKECMDGOALS)),--lint) >&2; echo $$?)
ifneq ($(DEPS_RC),0)
$(error scripts/install-deps.sh failed (exit $(DEPS_RC)))
endif
endif
endif

PKGS        := libzip libcjson zlib
PKG_CFLAGS  := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS    := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CHECK_CFLAGS:= $(shell pkg-config --cflags check 2>/dev/null)
CHECK_LIBS  := $(shell pkg-config --libs check 2>/dev/null)

CFLAGS_ALL  = -std=c11 $(OPT) -g -Wall -Wextra -Werror -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 \
              -Iinclude -Isrc -pthread $(PKG_CFLAGS) $(SAN) $(CFLAGS)
LDLIBS_ALL  = $(PKG_LIBS) -lm -pthread $(SAN) $(LDFLAGS)

LIB_SRC     := $(sort $(wildcard src/util/*.c src/gguf/*.c src/convert/*.c src/quant/*.c \
                 src/runtime/*.c src/runtime/kernels/*.c))
TOOL_COMMON := $(sort $(wildcard src/tools/common/*.c))
TOOL_SRC    := $(sort $(wildcard src/tools/bn-*.c))
TEST_SRC    := $(sort $(wildcard tests/test_*.c))
TEST_COMMON := $(sort $(wildcard tests/common/*.c))
BENCH_SRC   := $(sort $(wildcard bench/bench_*.c))

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
LIB_OBJ     := $(call obj,$(LIB_SRC))
TOOL_COMMON_OBJ := $(call obj,$(TOOL_COMMON))
TEST_COMMON_OBJ := $(call obj,$(TEST_COMMON))
TOOLS       := $(patsubst src/tools/%.c,$(BUILD)/%,$(TOOL_SRC))
TESTS       := $(patsubst tests/%.c,$(BUILD)/tests/%,$(TEST_SRC))
BENCHES     := $(patsubst bench/%.c,$(BUILD)/bench/%,$(BENCH_SRC))
LIB         := $(BUILD)/libbn.a

# SIMD translation units get their instruction sets; everything else is plain C11.
ifneq ($(findstring x86_64,$(ARCH)),)
$(BUILD)/obj/%_avx2.o:   XFLAGS := -mavx2 -mfma -mf16c
$(BUILD)/obj/%_avx512.o: XFLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c
$(BUILD)/obj/%_amx.o:    XFLAGS := -mamx-tile -mamx-int8 -mavx512f -mavx512bw -mavx512vl -mavx512vnni -mavx2 -mfma -mf16c
endif

.PHONY: all check asan demo bench clean tests help
.SECONDARY:
.DEFAULT_GOAL := all

all: $(LIB) $(TOOLS)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) $(XFLAGS) $(if $(findstring /tests/,$@),$(CHECK_CFLAGS) -Itests/common) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	@rm -f $@
	$(AR) rcs $@ $^

$(BUILD)/bn-%: $(BUILD)/obj/src/tools/bn-%.o $(TOOL_COMMON_OBJ) $(LIB)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(TEST_COMMON_OBJ) $(TOOL_COMMON_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(CHECK_LIBS) $(LDLIBS_ALL)

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

tests: all $(TESTS)

check: tests
	@BN_BUILD=$(abspath $(BUILD)) BN_SHARED=$(abspath $(SHARED)) BN_ROOT=$(CURDIR) \
	  ./tests/run.sh $(TESTS) $(filter-out tests/cli/lib.sh,$(sort $(wildcard tests/cli/*.sh)))

asan:
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" \
	  BN_SKIP_DEPS=1 check

demo: all
	@./scripts/demo.sh $(BUILD) $(SHARED)

bench: all $(BENCHES)
	@./scripts/bench.sh $(BUILD)

# bn-run against llama-bench on the same files (BN_VS_BITNET / BN_VS_LLAMA: their llama-bench)
.PHONY: bench-vs
bench-vs: all $(BENCHES)
	@./scripts/bench_vs.sh $(BUILD)

clean:
	rm -rf build build-asan build-*

help:
	@sed -n '2,14p' Makefile

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# check-arm: the kernel suite (Check-free build, -DBN_NO_CHECK) cross-compiled
# for aarch64, static, run under qemu with -cpu max so NEON dotprod exists.
# Installs the cross toolchain and qemu (Debian packages) when missing.
ARM_CC      ?= aarch64-linux-gnu-gcc
ARM_QEMU    ?= qemu-aarch64
ARM_SRC     := $(sort $(wildcard src/runtime/kernels/*.c)) src/runtime/threadpool.c src/util/error.c src/util/util.c
.PHONY: check-arm
check-arm:
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

# ---- hardening: fuzzing (mk/fuzz.mk) and static checks (scripts/lint.sh) ----
include mk/fuzz.mk

.PHONY: lint
lint:
	@./scripts/lint.sh
