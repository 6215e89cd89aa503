# mod_s2s_partners — build, test and run.
#
# Overridable variables:
#   LUA        Lua interpreter used for specs             (default: lua5.4)
#   LUA_PC     pkg-config name of the Lua headers         (default: lua5.4)
#   PKG_CONFIG pkg-config program                         (default: pkg-config)
#   CC         C compiler                                 (default: cc)
#   PROSODY    prosody launcher for `make run`            (default: prosody)
#   PREFIX, DESTDIR, MODDIR  install locations (see `make install`)

LUA        ?= lua5.4
LUA_PC     ?= lua5.4
PKG_CONFIG ?= pkg-config
CC         ?= cc
PROSODY    ?= prosody
BUSTED     ?= $(LUA) /usr/bin/busted
PREFIX     ?= /usr/local
MODDIR     ?= $(PREFIX)/lib/prosody/modules-s2s-partners

BUILD   := build
PLUGIN  := $(BUILD)/plugins/mod_s2s_partners
SO_NAME := s2s_partners.so

WARN     := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes
CFLAGS   ?= -O2 -g
override CFLAGS += -std=c11 -fPIC -D_POSIX_C_SOURCE=200809L $(WARN) \
            $(shell $(PKG_CONFIG) --cflags $(LUA_PC) libidn2 libcrypto 2>/dev/null)
LDLIBS   := $(shell $(PKG_CONFIG) --libs libidn2 libcrypto 2>/dev/null)

SRCS     := $(wildcard module/*.c)
HDRS     := $(wildcard module/*.h)
LUA_SRCS := $(wildcard lua/*.lua)
WEB_SRCS := $(wildcard lua/web/*.css lua/web/*.js)  # the web panel's assets (lua/http.lib.lua)

.PHONY: all deps test unit integration lint run install uninstall deb asan valgrind fuzz fuzz-long bench soak clean help

all: $(PLUGIN)/$(SO_NAME) $(patsubst lua/%,$(PLUGIN)/%,$(LUA_SRCS) $(WEB_SRCS))  ## build the C core and stage the plugin in build/plugins

$(PLUGIN)/$(SO_NAME): $(SRCS) $(HDRS) | $(PLUGIN)
	$(CC) $(CFLAGS) -shared -o $@ $(SRCS) $(LDLIBS)

$(PLUGIN)/%.lua: lua/%.lua | $(PLUGIN)
	cp $< $@

$(PLUGIN)/web/%: lua/web/% | $(PLUGIN)/web
	cp $< $@

$(PLUGIN) $(PLUGIN)/web:
	mkdir -p $@

deps:  ## install the Debian packages needed to build, test and run (as root, when missing)
	sh scripts/install-deps.sh

test: deps  ## install deps, build, lint, unit specs (also under ASan/UBSan), integration specs, short fuzz run
	@MAKE="$(MAKE)" sh scripts/test-stages.sh build/test.log all lint unit asan integration fuzz-short

unit: all  ## unit specs only (fast, no servers)
	$(BUSTED) --run=unit

# Prosody versions the integration suite runs against, one busted run each with S2SP_PROSODY set
# (spec/harness/prosody.lua: 0.12 = the system package, 13 = scripts/install-prosody13.sh's
# prefix). A failure on either fails the target. One version: make integration INTEGRATION_PROSODY=13
INTEGRATION_PROSODY ?= 0.12 13

integration: all  ## integration specs with real Prosody servers on loopback, on Prosody 0.12 and 13
	@rc=0; summary=""; for v in $(INTEGRATION_PROSODY); do \
		echo "== integration specs, S2SP_PROSODY=$$v"; start=$$(date +%s); \
		S2SP_PROSODY=$$v $(BUSTED) --run=integration; r=$$?; \
		sh scripts/kill-test-processes.sh; \
		if [ $$r = 0 ]; then res=ok; else res=FAILED; rc=1; fi; \
		summary="$$summary  Prosody $$v: $$res ($$(($$(date +%s) - start)) s)"; \
	done; echo "== integration:$$summary"; exit $$rc

lint:  ## cppcheck for C, luacheck for Lua
	cppcheck --quiet --error-exitcode=1 --enable=warning,performance,portability \
		--std=c11 --suppress=missingIncludeSystem --inline-suppr module
	luacheck -q lua spec scripts/s2s-partners-import

run: deps all  ## start a real Prosody in the foreground with the example config
	sh scripts/run-example.sh

install: all  ## install plugin + C core into $(DESTDIR)$(MODDIR)/mod_s2s_partners
	install -d $(DESTDIR)$(MODDIR)/mod_s2s_partners
	install -m 0644 $(PLUGIN)/*.lua $(DESTDIR)$(MODDIR)/mod_s2s_partners/
	install -m 0755 $(PLUGIN)/$(SO_NAME) $(DESTDIR)$(MODDIR)/mod_s2s_partners/
	install -d $(DESTDIR)$(MODDIR)/mod_s2s_partners/web
	install -m 0644 $(PLUGIN)/web/* $(DESTDIR)$(MODDIR)/mod_s2s_partners/web/

deb: all  ## build the Debian package into build/deb/ (packaging/debian; needs dpkg-dev, debhelper)
	sh scripts/build-deb.sh

uninstall:  ## remove what `make install` installed
	rm -rf $(DESTDIR)$(MODDIR)/mod_s2s_partners

# The sanitizer runtimes are preloaded into the lua5.4 that runs the unit specs (it loads the
# ASan build of the C core) and, through S2SP_PROSODY_ENV, into every Prosody the integration
# specs start (spec/harness/server.lua), which load that build too. Nothing else gets them: the
# integration specs' own process, its XMPP clients, openssl and ejabberd run as usual, with the
# plain build of the core for the test process's own use (S2SP_CORE_DIR, .busted).
ASAN_RT      = $$($(CC) -print-file-name=libasan.so):$$($(CC) -print-file-name=libubsan.so)
ASAN_OPTS    = ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ASAN_PLUGIN  = build-asan/plugins/mod_s2s_partners

asan: all  ## build under ASan + UBSan; run the unit specs, and the integration specs (Prosody 0.12) with it
	$(MAKE) BUILD=build-asan CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all" all
	$(ASAN_OPTS) LD_PRELOAD="$(ASAN_RT)" S2SP_PLUGIN_DIR=$(ASAN_PLUGIN) $(BUSTED) --run=unit
	S2SP_PROSODY_ENV="LD_PRELOAD=$(ASAN_RT) $(ASAN_OPTS)" S2SP_PLUGIN_DIR=$(ASAN_PLUGIN) \
		S2SP_CORE_DIR=$(PLUGIN) S2SP_PROSODY=0.12 $(BUSTED) --run=integration; \
		rc=$$?; sh scripts/kill-test-processes.sh; exit $$rc

# ---- fuzzing (libFuzzer, clang) and valgrind --------------------------------------------
#   FUZZ_CC         clang with libFuzzer                      (default: clang)
#   FUZZ_TIME       seconds per target in `make fuzz-short`    (default: 20; each spec/fuzz/fuzz_*.c)
#   FUZZ_LONG_TIME  seconds per target in `make fuzz-long`     (default: 600)
#   VALGRIND        valgrind command                           (default: valgrind)
# Targets are spec/fuzz/<name>.c linked with every module/*.c and liblua (fuzzers only);
# new corpus entries go to build-fuzz/corpus/<name>, crashes to build-fuzz/<name>-crash-*.
FUZZ_CC        ?= clang
FUZZ_TIME      ?= 20
FUZZ_LONG_TIME ?= 600
VALGRIND       ?= valgrind
FUZZ_TARGETS   := $(basename $(notdir $(wildcard spec/fuzz/fuzz_*.c)))
FUZZ_CFLAGS    := -g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined \
                  -fno-sanitize-recover=all -std=c11 -D_POSIX_C_SOURCE=200809L -Imodule -Ispec/fuzz \
                  $(filter-out -Werror,$(WARN)) \
                  $(shell $(PKG_CONFIG) --cflags $(LUA_PC) libidn2 libcrypto 2>/dev/null)
FUZZ_LDLIBS    := $(shell $(PKG_CONFIG) --libs $(LUA_PC) libidn2 libcrypto 2>/dev/null)
FUZZ_RUN        = for t in $(FUZZ_TARGETS); do \
		mkdir -p build-fuzz/corpus/$$t && \
		echo "== $$t ($(1) s)" && \
		build-fuzz/$$t -max_total_time=$(1) -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix=build-fuzz/$$t- build-fuzz/corpus/$$t spec/fuzz/corpus/$$t || exit 1; \
	done

.PHONY: fuzz-short

fuzz:  ## build the libFuzzer targets (spec/fuzz/fuzz_*.c) into build-fuzz/
	@mkdir -p build-fuzz
	@for t in $(FUZZ_TARGETS); do \
		if [ ! -e build-fuzz/$$t ] || \
		   [ -n "$$(find spec/fuzz/$$t.c spec/fuzz/*.h $(SRCS) $(HDRS) Makefile -newer build-fuzz/$$t)" ]; then \
			echo "$(FUZZ_CC) ... -o build-fuzz/$$t"; \
			$(FUZZ_CC) $(FUZZ_CFLAGS) -o build-fuzz/$$t spec/fuzz/$$t.c $(SRCS) $(FUZZ_LDLIBS) \
				|| exit 1; \
		fi; \
	done

fuzz-short: fuzz  ## run every fuzz target for FUZZ_TIME s (default 20) from its seed corpus
	@$(call FUZZ_RUN,$(FUZZ_TIME))

fuzz-long: fuzz  ## run every fuzz target for FUZZ_LONG_TIME s (default 600, i.e. 10 min each)
	@$(call FUZZ_RUN,$(FUZZ_LONG_TIME))

valgrind: all  ## unit specs + spec/valgrind/exercise.lua under valgrind memcheck (no leaks)
	$(VALGRIND) --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=1 \
		$(LUA) spec/valgrind/exercise.lua build/plugins/mod_s2s_partners
	$(VALGRIND) --leak-check=full --show-leak-kinds=definite,indirect \
		--errors-for-leak-kinds=definite,indirect --error-exitcode=1 \
		$(BUSTED) --run=unit

# ---- benchmarks (spec/bench/, README "Performance"; not part of `make test`) -------------
#   BENCH_PARTS  parts to run, in order  (default: core callgrind e2e stanzas table reload streams; ~8 min in all;
#                profile: where the module's Lua time goes, no targets)
# Each part prints its figures and targets and fails when a target is missed; every part runs.
# Tuning of the end-to-end part: S2SP_BENCH_MESSAGES, S2SP_BENCH_PAIRS, S2SP_BENCH_COLD (env).
# Of the streams part: S2SP_BENCH_STREAMS (500), S2SP_BENCH_STREAMS_ROUNDS (3) (env).
BENCH_PARTS ?= core callgrind e2e stanzas table reload streams

bench: all  ## benchmarks with checked speed/memory targets: C core, callgrind, real Prosody s2s
	@rc=0; summary=""; all_start=$$(date +%s); for p in $(BENCH_PARTS); do \
		echo "== bench $$p"; start=$$(date +%s); \
		case $$p in \
			core) $(LUA) spec/bench/core_bench.lua $(PLUGIN) ;; \
			callgrind) VALGRIND="$(VALGRIND)" LUA="$(LUA)" $(LUA) spec/bench/callgrind_bench.lua $(PLUGIN) ;; \
			e2e) S2SP_PLUGIN_DIR=$(PLUGIN) $(LUA) spec/bench/e2e_bench.lua ;; \
			stanzas) S2SP_PLUGIN_DIR=$(PLUGIN) VALGRIND="$(VALGRIND)" LUA="$(LUA)" $(LUA) spec/bench/stanza_callgrind_bench.lua ;; \
			profile) S2SP_PLUGIN_DIR=$(PLUGIN) $(LUA) spec/bench/profile_bench.lua ;; \
			table) $(LUA) spec/bench/table_bench.lua $(PLUGIN) ;; \
			reload) S2SP_PLUGIN_DIR=$(PLUGIN) $(LUA) spec/bench/reload_bench.lua ;; \
			streams) S2SP_PLUGIN_DIR=$(PLUGIN) $(LUA) spec/bench/streams_bench.lua ;; \
			*) echo "unknown bench part $$p (core, callgrind, e2e, stanzas, profile, table, reload, streams)"; false ;; \
		esac; r=$$?; \
		if [ $$r = 0 ]; then res=ok; else res=FAILED; rc=1; fi; \
		summary="$$summary  $$p: $$res ($$(($$(date +%s) - start)) s)"; \
	done; sh scripts/kill-test-processes.sh; \
	echo "== bench:$$summary; total $$(($$(date +%s) - all_start)) s"; exit $$rc

# ---- soak (spec/soak/, README "Reliability"; not part of `make test`) --------------------
#   SOAK_MINUTES  length of the run (default 10)
#   SOAK_OUT      directory of the report, samples and plot (default bench/results/soak)
# Exit status 1 when any outcome, metric or log does not match the policy.
SOAK_MINUTES ?= 10
SOAK_OUT     ?= bench/results/soak

soak: all  ## soak: 3 peer servers, 49 domains, traffic, admin edits and reloads for SOAK_MINUTES (default 10)
	SOAK_MINUTES=$(SOAK_MINUTES) S2SP_SOAK_OUT=$(SOAK_OUT) S2SP_PLUGIN_DIR=$(PLUGIN) $(LUA) spec/soak/soak.lua; \
		rc=$$?; sh scripts/kill-test-processes.sh; exit $$rc

clean:  ## remove build products
	rm -rf build build-asan build-fuzz

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 14
