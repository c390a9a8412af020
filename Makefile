# wsconform build. `make help` lists the targets.
#
# Variants share one Makefile: BUILD names the output folder, SAN=1 adds ASan+UBSan.
#   make                 release build in build/
#   make SAN=1           sanitizer build in build/asan/
#   make check           unit + integration tests under prove, then the sanitizer unit tests

CC      ?= cc
SAN     ?= 0
WERROR  ?= -Werror
ifeq ($(SAN),1)
  BUILD   ?= build/asan
  CC      := clang
  SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  OPT     ?= -O1
else
  BUILD   ?= build
  SANFLAGS :=
  OPT     ?= -O2
endif

CPPFLAGS += -Ireference -Iharness -D_GNU_SOURCE
CFLAGS   ?= $(OPT) -g
CFLAGS   += -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter $(WERROR) $(SANFLAGS) -pthread
LDFLAGS  += $(SANFLAGS) -pthread
LIBS     := -lcurl -lssl -lcrypto -lz

LIB_SRC  := $(sort $(wildcard reference/base/*.c reference/codec/*.c reference/handshake/*.c \
              reference/session/*.c reference/app/*.c reference/io/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB      := $(BUILD)/libwsref.a

# The harness: everything but main.c goes into libwsc.a so unit tests can link it.
WSC_SRC  := $(sort $(filter-out harness/main.c,$(wildcard harness/*.c)))
WSC_OBJ  := $(WSC_SRC:%.c=$(BUILD)/obj/%.o)
WSC_LIB  := $(BUILD)/libwsc.a
WSCONFORM := $(if $(wildcard harness/main.c),$(BUILD)/bin/wsconform)

BIN_SRC  := $(wildcard reference/bin/*.c)
BINS     := $(BIN_SRC:reference/bin/%.c=$(BUILD)/bin/%)

EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLES := $(EXAMPLE_SRC:examples/%.c=$(BUILD)/examples/%)

BENCH_SRC := $(wildcard bench/*.c)
BENCHES   := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_SUPPORT := $(wildcard tests/unit/support/*.c)
UNIT_T   := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%.t)

.PHONY: all lib bins unit check test test-unit test-integration asan bench clean help

all: $(LIB) $(BINS) $(WSCONFORM) $(BENCHES) $(EXAMPLES)
lib: $(LIB)
bins: $(BINS)
unit: $(UNIT_T)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(WSC_LIB): $(WSC_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/wsconform: $(BUILD)/obj/harness/main.o $(WSC_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< $(WSC_LIB) $(LIB) $(LIBS) -o $@

$(BUILD)/bin/%: $(BUILD)/obj/reference/bin/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< $(LIB) $(LIBS) -o $@

$(BUILD)/examples/%: $(BUILD)/obj/examples/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< $(LIB) $(LIBS) -o $@

$(BUILD)/bench/%: $(BUILD)/obj/bench/%.o $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< $(LIB) $(LIBS) -lm -o $@

# A test named after a harness module (test_runner for harness/runner.c) links libwsc.a too;
# the library's own tests never depend on the harness building.
WSC_MODULES := $(basename $(notdir $(WSC_SRC)))
UNIT_WSC_T := $(filter $(WSC_MODULES:%=$(BUILD)/tests/test_%.t),$(UNIT_T))
UNIT_REF_T := $(filter-out $(UNIT_WSC_T),$(UNIT_T))
UNIT_SUPPORT_OBJ := $(UNIT_SUPPORT:%.c=$(BUILD)/obj/%.o)

$(UNIT_REF_T): $(BUILD)/tests/%.t: $(BUILD)/obj/tests/unit/%.o $(UNIT_SUPPORT_OBJ) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< $(UNIT_SUPPORT_OBJ) $(LIB) $(LIBS) -lcmocka -o $@

$(UNIT_WSC_T): $(BUILD)/tests/%.t: $(BUILD)/obj/tests/unit/%.o $(UNIT_SUPPORT_OBJ) $(WSC_LIB) $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< $(UNIT_SUPPORT_OBJ) $(WSC_LIB) $(LIB) $(LIBS) -lcmocka -o $@

# cmocka prints TAP when asked; prove runs the compiled .t files directly.
PROVE ?= prove
PROVE_FLAGS ?= -j2

test-unit: $(UNIT_T)
	CMOCKA_MESSAGE_OUTPUT=TAP $(PROVE) $(PROVE_FLAGS) $(UNIT_T)

# Integration tests start real processes on loopback ports; they find binaries via WSC_BUILD.
# The .t files are bash scripts: --exec bash says so (rather than relying on perl re-running
# a non-perl #! line).
test-integration: $(BINS) $(WSCONFORM) $(BENCHES) $(EXAMPLES)
	WSC_BUILD=$(abspath $(BUILD)) $(PROVE) --exec bash $(wildcard tests/integration/*.t)

# Test phases run one after another even under -j (each still builds in parallel): two
# prove runs at once would interleave their output and compete for the 2 cores that the
# integration tests' servers need. A failing phase does not stop the later ones, so one run
# reports every failure; the target still fails.
test:
	@rc=0; \
	$(MAKE) --no-print-directory test-unit || rc=1; \
	$(MAKE) --no-print-directory test-integration || rc=1; \
	exit $$rc

# The sanitizer build runs the unit tests and the integration tests: real peers reach code
# paths (slow readers, TLS, signals) that scripted unit tests do not.
asan:
	@rc=0; \
	$(MAKE) --no-print-directory SAN=1 test-unit || rc=1; \
	$(MAKE) --no-print-directory SAN=1 test-integration || rc=1; \
	exit $$rc

# The fuzz targets replay their seeds and every stored regression input (fuzz/fuzz.mk).
check:
	@rc=0; \
	$(MAKE) --no-print-directory test || rc=1; \
	$(MAKE) --no-print-directory asan || rc=1; \
	$(MAKE) --no-print-directory fuzz-regress || rc=1; \
	exit $$rc

bench: all
	WSC_BUILD=$(abspath $(BUILD)) bash bench/run.sh

clean:
	rm -rf build

help:
	@echo 'make            build libwsref, wsref-server, wsref-client, benchmarks (build/)'
	@echo 'make check      unit + integration tests, the same under ASan+UBSan, fuzz regressions'
	@echo 'make test-unit  unit tests only;  make asan  unit + integration tests under ASan+UBSan'
	@echo 'make bench      codec, server, conformance-run and broker benchmarks (prints tables)'
	@echo 'make fuzz       every libFuzzer target for FUZZ_SECONDS (default 60): see fuzz/README.md'

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)

# Objects of programs are intermediate files to make; keep them so a rebuild is incremental.
.SECONDARY:
-include fuzz/fuzz.mk
