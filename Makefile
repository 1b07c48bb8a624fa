# vigil: one hand-written Makefile (redis, llm.c).
#
#   make             libvigil.a and ./vigil
#   make test        unit tests (cmocka) + CLI tests, ends with a summary line
#   make SAN=1 test  the same under ASan + UBSan (build-san/)
#   make bench       benchmarks and side-by-side peer comparisons (bench/)
#   make fuzz        libFuzzer targets, 60 s each (FUZZ_SECONDS=N)
#   make deps        apt-get installs every Debian package we need (root)
#   make fmt         clang-format over the tree
#   make results     regenerate docs/results.md sections from kept datasets (data/)
#
# Optional dependencies (libvirt, libnetfilter_queue, libnats) are detected
# with pkg-config; when one is missing its *_stub.c is built instead and the
# feature answers VIGIL_ENOTSUP.

CC      ?= cc
SAN     ?= 0
WERROR  ?= 0
V       ?= 0

ifeq ($(SAN),1)
B       := build-san
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined
LDSAN   := -fsanitize=address,undefined
else
B       := build
OPT     := -O2 -g
LDSAN   :=
endif

WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wvla \
           -Wformat=2 -Wdouble-promotion -Wno-format-nonliteral
ifeq ($(WERROR),1)
WARN    += -Werror
endif

PKGS    := openblas lapacke yaml-0.1 zlib sqlite3 libcjson libmicrohttpd libcurl cairo fontconfig libpcap
OPTPKGS := libvirt libnetfilter_queue libnats

have = $(shell pkg-config --exists $(1) && echo 1)
HAVE_LIBVIRT := $(call have,libvirt)
HAVE_NFQ     := $(call have,libnetfilter_queue)
HAVE_NATS    := $(call have,libnats)

USEPKGS := $(PKGS) $(if $(HAVE_LIBVIRT),libvirt) $(if $(HAVE_NFQ),libnetfilter_queue) \
           $(if $(HAVE_NATS),libnats)
PKG_CFLAGS := $(shell pkg-config --cflags $(USEPKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(USEPKGS) 2>/dev/null)
# The bus and the HTTP server load the NATS client and libmicrohttpd with
# dlopen (src/io/nats.c, src/io/http.c), by the soname of the library
# pkg-config points at.
soname = $(shell objdump -p $$(pkg-config --variable=libdir $(1))/$(2).so 2>/dev/null | \
           awk '$$1 == "SONAME" {print $$2}')
NATS_SONAME := $(if $(HAVE_NATS),$(call soname,libnats,libnats))
MHD_SONAME  := $(call soname,libmicrohttpd,libmicrohttpd)

DEFS    := -D_GNU_SOURCE $(if $(HAVE_LIBVIRT),-DVIGIL_HAVE_LIBVIRT=1) \
           $(if $(HAVE_NFQ),-DVIGIL_HAVE_NFQ=1) $(if $(HAVE_NATS),-DVIGIL_HAVE_NATS=1) \
           $(if $(NATS_SONAME),-DVIGIL_NATS_SONAME='"$(NATS_SONAME)"') \
           $(if $(MHD_SONAME),-DVIGIL_MHD_SONAME='"$(MHD_SONAME)"')
CFLAGS  := -std=c11 $(OPT) $(WARN) $(DEFS) -pthread -Iinclude $(PKG_CFLAGS) $(EXTRA_CFLAGS)
LDLIBS  := $(PKG_LIBS) -lm -pthread
# The vigil binary links neither libvirt, libnats nor libmicrohttpd: the
# libvirt collector, the bus and the HTTP server load them with dlopen when
# they run (src/collect/libvirt.c, src/io/nats.c, src/io/http.c). Tests and
# benchmarks still link them (harmless: dlopen then finds them loaded).
DL_LIBS    := $(if $(HAVE_LIBVIRT),$(shell pkg-config --libs libvirt)) \
              $(if $(HAVE_NATS),$(shell pkg-config --libs libnats)) $(shell pkg-config --libs libmicrohttpd)
BIN_LDLIBS := $(filter-out $(DL_LIBS),$(LDLIBS)) -ldl
# vigil-collect: `vigil collect` on its own (vigil execs it when it sits next
# to it), the same objects linked with libc alone, so the collector does not
# map the ~70 libraries of the models, plots, HTTP client and SQLite
# (docs/perf.md, ## Collection); --listen and --nats load libmicrohttpd and
# the NATS client on demand.
COLLECT_OBJ := $(B)/src/cli/lean/collect_main.o $(B)/src/cli/cmd_collect.o $(B)/src/cli/util.o
COLLECT_LDLIBS := -Wl,--as-needed -ldl -lm -pthread
LDFLAGS := $(LDSAN) $(EXTRA_LDFLAGS)

# Each optional feature: the real file and its stub; exactly one is built.
STUBBED := $(if $(HAVE_LIBVIRT),src/collect/libvirt_stub.c,src/collect/libvirt.c) \
           $(if $(HAVE_NFQ),src/inject/nfq_stub.c,src/inject/nfq.c) \
           $(if $(HAVE_NATS),src/io/nats_stub.c,src/io/nats.c)

LIB_SRC := $(filter-out $(STUBBED),$(sort $(shell find src -name '*.c' -not -path 'src/cli/*')))
CLI_SRC := $(sort $(wildcard src/cli/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(B)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(B)/%.o)
LIB     := $(B)/libvigil.a
BIN     := $(B)/vigil

TEST_SRC  := $(sort $(wildcard tests/unit/test_*.c))
TEST_BIN  := $(TEST_SRC:tests/unit/%.c=$(B)/tests/%)
TEST_UTIL := $(B)/tests/testutil.o
BENCH_SRC := $(sort $(wildcard bench/bench_*.c))
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(B)/bench/%)
HDRS      := $(sort $(wildcard include/vigil/*.h))
HDR_CHECK := $(HDRS:include/vigil/%.h=$(B)/hdrcheck/%.o)

ifeq ($(V),1)
Q :=
else
Q := @
endif

.PHONY: all test unit cli bench fuzz deps fmt clean headers results
all: $(LIB) $(BIN) $(B)/vigil-collect $(if $(filter 0,$(SAN)),vigil)

vigil: $(BIN)
	$(Q)ln -sf $(BIN) vigil

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  CC    $<"
	$(Q)$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@[ "$(V)" = 1 ] || echo "  AR    $@"
	$(Q)rm -f $@ && ar rcs $@ $^

# The watch page is embedded at build time as one C string.
$(B)/gen/watch_page.c: src/cli/watch_page.html
	@mkdir -p $(dir $@)
	$(Q){ echo '/* Generated from src/cli/watch_page.html by the Makefile. */'; \
	  echo 'const char vigil_watch_page[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/"/' -e 's/$$/\\n"/' $<; echo ';'; } > $@
$(B)/gen/watch_page.o: $(B)/gen/watch_page.c
	$(Q)$(CC) $(CFLAGS) -Wno-overlength-strings -c $< -o $@

$(BIN): $(CLI_OBJ) $(B)/gen/watch_page.o $(LIB)
	@[ "$(V)" = 1 ] || echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(B)/gen/watch_page.o $(LIB) $(BIN_LDLIBS)

$(B)/vigil-collect: $(COLLECT_OBJ) $(LIB)
	@[ "$(V)" = 1 ] || echo "  LD    $@"
	$(Q)$(CC) $(LDFLAGS) -o $@ $(COLLECT_OBJ) $(LIB) $(COLLECT_LDLIBS)

# Every public header must compile on its own.
$(B)/hdrcheck/%.o: include/vigil/%.h
	@mkdir -p $(dir $@)
	$(Q)printf '#include "vigil/%s.h"\n' $* | $(CC) $(CFLAGS) -x c -c - -o $@
headers: $(HDR_CHECK)

$(TEST_UTIL): tests/unit/testutil.c tests/unit/testutil.h
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) -Itests/unit -c $< -o $@

$(B)/tests/%: tests/unit/%.c $(LIB) $(TEST_UTIL)
	@mkdir -p $(dir $@)
	@[ "$(V)" = 1 ] || echo "  TEST  $@"
	$(Q)$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(TEST_UTIL) $(LIB) $(LDLIBS) -lcmocka

$(B)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(Q)$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

test: all headers $(TEST_BIN)
	$(Q)VIGIL_BIN=$(abspath $(BIN)) VIGIL_BUILD=$(B) tests/run.sh $(TEST_BIN)

bench: all $(BENCH_BIN)
	$(Q)VIGIL_BIN=$(abspath $(BIN)) VIGIL_BUILD=$(B) bench/run.sh $(BENCH_BIN)

# ---- fuzzing: clang + libFuzzer, its own build of the library ----
FUZZ_SECONDS ?= 60
FB       := build-fuzz
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=$(FB)/%)
FUZZ_CFLAGS := -std=c11 -O1 -g -fsanitize=fuzzer-no-link,address,undefined $(DEFS) -pthread \
               -Iinclude $(PKG_CFLAGS)
FUZZ_OBJ := $(LIB_SRC:%.c=$(FB)/%.o)

$(FB)/%.o: %.c
	@mkdir -p $(dir $@)
	$(Q)clang $(FUZZ_CFLAGS) -c $< -o $@
$(FB)/libvigil.a: $(FUZZ_OBJ)
	$(Q)rm -f $@ && ar rcs $@ $^
$(FB)/fuzz_%: tests/fuzz/fuzz_%.c $(FB)/libvigil.a
	$(Q)clang $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FB)/libvigil.a $(LDLIBS)

fuzz: $(FUZZ_BIN)
	$(Q)set -e; for f in $(FUZZ_BIN); do \
	  n=$$(basename $$f); mkdir -p $(FB)/corpus/$$n; \
	  seeds=tests/fuzz/corpus/$$n; [ -d $$seeds ] || seeds=; \
	  echo "== $$n ($(FUZZ_SECONDS) s)"; \
	  $$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 $(FB)/corpus/$$n $$seeds 2>&1 | tail -n 3; \
	done

# ---- results: docs/results.md sections regenerated from kept datasets ----
results: all
	$(Q)tools/campaign_results.sh data/campaign-full docs/results.md
	$(Q)RESULTS_SECTION="Campaign over UDP" RESULTS_IMG=docs/img/campaign-udp \
	  tools/campaign_results.sh data/campaign-udp docs/results.md

# ---- housekeeping ----
DEB_PKGS := build-essential pkg-config clang libclang-rt-14-dev clang-format \
            libopenblas-dev liblapacke-dev libyaml-dev zlib1g-dev libsqlite3-dev libcjson-dev \
            libmicrohttpd-dev libcurl4-openssl-dev libcairo2-dev libfontconfig-dev libpcap-dev libvirt-dev \
            libnetfilter-queue-dev libnats-dev libcmocka-dev \
            nats-server prometheus-alertmanager prometheus-node-exporter stress-ng kamailio \
            sip-tester iptables iproute2 chromium sqlite3 hyperfine \
            python3-sklearn python3-torch python3-prometheus-client argus-client argus-server \
            softflowd procps curl strace

deps:
	@missing=$$(for p in $(DEB_PKGS); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | \
	  grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "deps: all $(words $(DEB_PKGS)) packages present"; \
	else echo "deps: installing $$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; fi

fmt:
	clang-format -i $$(find src include tests bench tools -name '*.[ch]')

clean:
	rm -rf build build-san build-fuzz vigil

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d) $(COLLECT_OBJ:.o=.d)
