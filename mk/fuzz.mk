# mk/fuzz.mk - libFuzzer harnesses, included by the Makefile.
#
#   make fuzz FUZZ_SECONDS=N   build every harness and run each for N seconds
#   make fuzz-build            only build them (build-fuzz/fuzz_*)
#   make fuzz FUZZ=gguf        one harness (names are tests/fuzz/fuzz_NAME.c)
#
# Every tests/fuzz/fuzz_*.c is a harness. The library is rebuilt with clang,
# ASan+UBSan and coverage into build-fuzz/ (the gcc builds are not touched).
# A harness lists the sources it exercises on " * needs: PATH..." lines in its
# header comment; a path there that does not exist (a file moved or renamed)
# stops the build naming it, so no harness is left out unseen. scripts/fuzz.sh
# does the running:
# corpora, dictionaries, limits, and crash artifacts (see there).

FUZZ_CC      ?= clang
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 60
FUZZ         ?=
FUZZ_SAN     := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
# No -Werror here: clang warns about things gcc does not, and the gcc build
# already enforces a warning-free tree.
FUZZ_CFLAGS   = -std=c11 -O1 -g -Wall -Wextra -D_DEFAULT_SOURCE -D_FILE_OFFSET_BITS=64 \
                -Iinclude -Isrc -Itests/fuzz -pthread $(PKG_CFLAGS) $(FUZZ_SAN)

FUZZ_SRC     := $(sort $(wildcard tests/fuzz/fuzz_*.c))
fuzz_needs    = $(shell sed -n 's/^ \* needs: //p' $(1))
fuzz_ready    = $(if $(strip $(foreach f,$(call fuzz_needs,$(1)),$(if $(wildcard $(f)),,x))),,$(1))
FUZZ_READY   := $(foreach h,$(FUZZ_SRC),$(call fuzz_ready,$(h)))
FUZZ_SKIPPED := $(filter-out $(FUZZ_READY),$(FUZZ_SRC))
FUZZ_BINS    := $(patsubst tests/fuzz/%.c,$(FUZZ_BUILD)/%,$(FUZZ_READY))
FUZZ_LIB_OBJ := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(LIB_SRC))
FUZZ_COMMON  := $(patsubst %.c,$(FUZZ_BUILD)/obj/%.o,$(sort $(wildcard tests/fuzz/common*.c)))

.PHONY: fuzz fuzz-build

# SIMD translation units get their instruction sets, as in the main build.
ifneq ($(findstring x86_64,$(ARCH)),)
$(foreach i,$(ISA_SUFFIXES),$(eval $(FUZZ_BUILD)/obj/%_$(i).o: FUZZ_XFLAGS := $(ISA_$(i))))
endif

$(FUZZ_BUILD)/obj/%.o: %.c | deps-fuzz
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(FUZZ_XFLAGS) -fsanitize=fuzzer-no-link -MMD -MP -c $< -o $@

$(FUZZ_BUILD)/libbn.a: $(FUZZ_LIB_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_BUILD)/fuzz_%: $(FUZZ_BUILD)/obj/tests/fuzz/fuzz_%.o $(FUZZ_COMMON) $(FUZZ_BUILD)/libbn.a
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer -o $@ $^ $(PKG_LIBS) -lm -pthread

fuzz-build: $(FUZZ_BINS) ## build the libFuzzer harnesses (build-fuzz/)
	@$(foreach h,$(FUZZ_SKIPPED),echo "fuzz: $(h) needs $(call fuzz_needs,$(h)), and not all of them exist" >&2;) \
	  $(if $(FUZZ_SKIPPED),exit 2,:)

fuzz: fuzz-build ## run every harness FUZZ_SECONDS each (FUZZ=name: one)
	@./scripts/fuzz.sh $(FUZZ_BUILD) $(FUZZ_SECONDS) \
	  $(if $(FUZZ),$(addprefix $(FUZZ_BUILD)/fuzz_,$(FUZZ)),$(FUZZ_BINS))

-include $(shell find $(FUZZ_BUILD)/obj -name '*.d' 2>/dev/null)
