# mk/serve.mk - bn-serve, included by the Makefile.
#
#   make                 also builds build/bn-serve (src/tools/bn-serve.c + src/serve/*.c)
#   make check-clients   real clients against bn-serve: the openai npm package and the chat
#                        page in headless Chromium (tests/clients/; installs node, npm and
#                        chromium from Debian, the npm packages into build/clients/)
#   make bench-serve     bn-serve against bitnet.cpp's llama-server (LLAMA_SERVER=...), 1/4/8
#                        streams, median aggregate tok/s and time to first token
#
# src/serve/ is not part of libbn.a: it is the only code that needs libmicrohttpd,
# so it is linked into bn-serve alone and every other tool (and libbn's users)
# stays free of an HTTP library. The chat page (src/serve/page.html) is turned
# into a C array at build time, so the binary serves it without any file.

SERVE_SRC    := $(sort $(wildcard src/serve/*.c))
SERVE_OBJ    := $(call obj,$(SERVE_SRC)) $(BUILD)/obj/gen/serve_page.o
# asked lazily, after `make deps` has installed libmicrohttpd-dev on a fresh machine
SERVE_CFLAGS  = $(call lazy,SERVE_CFLAGS,pkg-config --cflags libmicrohttpd 2>/dev/null)
SERVE_LIBS    = $(call lazy,SERVE_LIBS,pkg-config --libs libmicrohttpd 2>/dev/null)

$(call obj,$(SERVE_SRC)) $(BUILD)/obj/src/tools/bn-serve.o: XFLAGS = $(SERVE_CFLAGS)

$(BUILD)/gen/serve_page.c: src/serve/page.html
	@mkdir -p $(dir $@)
	@{ echo '/* generated from src/serve/page.html by mk/serve.mk; do not edit */'; \
	   echo '#include <stddef.h>'; \
	   echo 'const unsigned char bn_srv_page[] = {'; \
	   od -An -v -tx1 $< | sed -e 's/ \([0-9a-f][0-9a-f]\)/0x\1,/g' -e 's/^/   /'; \
	   echo '};'; \
	   echo "const size_t bn_srv_page_len = $$(wc -c <$<);"; } >$@.tmp && mv $@.tmp $@

$(BUILD)/obj/gen/serve_page.o: $(BUILD)/gen/serve_page.c | deps
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/bn-serve: $(BUILD)/obj/src/tools/bn-serve.o $(SERVE_OBJ) $(TOOL_COMMON_OBJ) $(LIB)
	$(CC) -o $@ $^ $(SERVE_LIBS) $(LDLIBS_ALL)

.PHONY: check-clients
check-clients: all deps-clients ## the openai npm client and the chat page in headless Chromium against bn-serve
	@BN_BUILD=$(abspath $(BUILD)) BN_ROOT=$(CURDIR) ./tests/clients/run.sh

# bn-serve against bitnet.cpp's llama-server (LLAMA_SERVER: its binary); the load
# driver bench/serve_load is not a bench_* program, so make bench builds it without running it
bench: $(BUILD)/bench/serve_load
.PHONY: bench-serve
bench-serve: all $(BUILD)/bench/serve_load ## bn-serve against llama-server, 1/4/8 streams (scripts/bench_serve.sh)
	@BUILD=$(BUILD) ./scripts/bench_serve.sh
