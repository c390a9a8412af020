# Fuzzing (fuzz/README.md). Included by the main Makefile; every path is relative to the
# project root.
#
#   make fuzz-build     libFuzzer targets (clang, ASan + UBSan) and generated seed corpora
#   make fuzz           run each target for FUZZ_SECONDS (default 60), print a table
#   make fuzz-regress   replay seeds + fuzz/regressions/ through every target (CI)
#   make fuzz-coverage  line coverage of reference/ reached by the corpora (llvm-cov)
#   make fuzz-seeds-run seeds + the wire traffic of a corpus run against the embedded server
#
# Knobs: FUZZ_SECONDS, FUZZ_TARGETS (names without the fuzz_ prefix, default all),
# FUZZ_DEFINES (e.g. -DFUZZ_SKIP_OPEN_BUGS, with its own FUZZ_OUT: README, "When a target
# crashes"),
# FUZZ_FLAGS (extra libFuzzer flags, e.g. -jobs=2 -workers=2), FUZZ_REPORT (a wsconform JSON
# report whose wire traffic is added to the seeds), FUZZ_CC, LLVM_SUFFIX (-14 on Debian).

FUZZ_CC      ?= clang
FUZZ_OUT     ?= build/fuzz
FUZZ_SECONDS ?= 60
FUZZ_REPORT  ?=
LLVM_SUFFIX  ?= $(if $(shell command -v llvm-profdata-14 2>/dev/null),-14,)

# Everything below io/: nothing here needs a socket. (app/ is there for STOMP broker
# targets; the archive links only what a target uses.)
FUZZ_LIB_SRC := $(sort $(wildcard reference/base/*.c reference/codec/*.c \
                  reference/handshake/*.c reference/session/*.c reference/app/*.c))
# The harness's own parsers (case files, the strict observers of what a server sends, report
# JSON) link the harness as the main build does (libwsc.a: all of harness/ but main.c); the
# archive pulls in only what each target uses.
FUZZ_WSC_SRC := $(sort $(filter-out harness/main.c,$(wildcard harness/*.c)))
FUZZ_WSC_NAMES := caseparse observer stomp_observer report

FUZZ_ALL_SRC := $(sort $(wildcard fuzz/fuzz_*.c))
# The harness targets are built only where the harness exists.
FUZZ_SRC     := $(if $(wildcard harness/caseparse.c),$(FUZZ_ALL_SRC),\
                  $(filter-out $(FUZZ_WSC_NAMES:%=fuzz/fuzz_%.c),$(FUZZ_ALL_SRC)))
FUZZ_NAMES   := $(FUZZ_SRC:fuzz/fuzz_%.c=%)
FUZZ_WSC_BINS := $(filter $(FUZZ_WSC_NAMES:%=$(FUZZ_OUT)/bin/fuzz_%),\
                   $(FUZZ_NAMES:%=$(FUZZ_OUT)/bin/fuzz_%))
FUZZ_WSC_COVBINS := $(filter $(FUZZ_WSC_NAMES:%=$(FUZZ_OUT)/cov/bin/fuzz_%),\
                      $(FUZZ_NAMES:%=$(FUZZ_OUT)/cov/bin/fuzz_%))
FUZZ_BINS    := $(FUZZ_NAMES:%=$(FUZZ_OUT)/bin/fuzz_%)
FUZZ_COVBINS := $(FUZZ_NAMES:%=$(FUZZ_OUT)/cov/bin/fuzz_%)

FUZZ_DEFINES  ?=
FUZZ_CPPFLAGS := -Ireference -Iharness -Ifuzz -D_GNU_SOURCE $(FUZZ_DEFINES)
FUZZ_WARN     := -std=c11 -Wall -Wextra -Wshadow -Wno-unused-parameter $(WERROR)
# UBSan findings must abort, or libFuzzer would not see them as crashes.
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS   := $(FUZZ_WARN) -g -O1 $(FUZZ_SAN) -fsanitize=fuzzer-no-link
FUZZ_COVFLAGS := $(FUZZ_WARN) -g -O0 -fprofile-instr-generate -fcoverage-mapping \
                 -DFUZZ_COVERAGE_BUILD
FUZZ_TOOLFLAGS := $(FUZZ_WARN) -g -O1 -fsanitize=address,undefined -fno-sanitize-recover=all
FUZZ_LIBS     := -lssl -lcrypto -lz -lm -pthread

FUZZ_SUPPORT := $(sort $(filter-out fuzz/support/replay_main.c,$(wildcard fuzz/support/*.c)))

# ---- libFuzzer build ----
FUZZ_LIB_OBJ := $(FUZZ_LIB_SRC:%.c=$(FUZZ_OUT)/obj/%.o)
FUZZ_WSC_OBJ := $(FUZZ_WSC_SRC:%.c=$(FUZZ_OUT)/obj/%.o)
FUZZ_LIBA    := $(FUZZ_OUT)/libwsref-fuzz.a
FUZZ_WSCA    := $(FUZZ_OUT)/libwsc-fuzz.a

$(FUZZ_OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_CFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_LIBA): $(FUZZ_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_WSCA): $(FUZZ_WSC_OBJ)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_WSC_BINS): $(FUZZ_OUT)/bin/fuzz_%: $(FUZZ_OUT)/obj/fuzz/fuzz_%.o \
    $(FUZZ_SUPPORT:%.c=$(FUZZ_OUT)/obj/%.o) $(FUZZ_WSCA) $(FUZZ_LIBA)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ $(FUZZ_LIBS) -o $@

$(FUZZ_OUT)/bin/fuzz_%: $(FUZZ_OUT)/obj/fuzz/fuzz_%.o $(FUZZ_SUPPORT:%.c=$(FUZZ_OUT)/obj/%.o) \
    $(FUZZ_LIBA)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_SAN) -fsanitize=fuzzer $^ $(FUZZ_LIBS) -o $@

# ---- coverage build: same sources, clang source-based coverage, replay main ----
# The measured layers are linked as whole objects, not through an archive, so a file no
# target reaches still has its coverage mapping and shows up at 0% instead of vanishing
# from the report. app/ (which needs io/) stays in an archive for the targets that use it.
FUZZ_COV_LAYERS  := $(sort $(wildcard reference/base/*.c reference/codec/*.c \
                      reference/handshake/*.c reference/session/*.c))
FUZZ_COV_LAY_OBJ := $(FUZZ_COV_LAYERS:%.c=$(FUZZ_OUT)/cov/obj/%.o)
FUZZ_COV_APP_OBJ := $(patsubst %.c,$(FUZZ_OUT)/cov/obj/%.o,$(wildcard reference/app/*.c))
FUZZ_COV_WSC_OBJ := $(FUZZ_WSC_SRC:%.c=$(FUZZ_OUT)/cov/obj/%.o)
FUZZ_COV_MAIN    := $(FUZZ_OUT)/cov/obj/fuzz/support/replay_main.o

$(FUZZ_OUT)/cov/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_COVFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_OUT)/cov/libapp-cov.a: $(FUZZ_COV_APP_OBJ)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_OUT)/cov/libwsc-cov.a: $(FUZZ_COV_WSC_OBJ)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_WSC_COVBINS): $(FUZZ_OUT)/cov/bin/fuzz_%: $(FUZZ_OUT)/cov/obj/fuzz/fuzz_%.o $(FUZZ_COV_MAIN) \
    $(FUZZ_SUPPORT:%.c=$(FUZZ_OUT)/cov/obj/%.o) $(FUZZ_OUT)/cov/libwsc-cov.a \
    $(FUZZ_COV_LAY_OBJ) $(FUZZ_OUT)/cov/libapp-cov.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fprofile-instr-generate $^ $(FUZZ_LIBS) -o $@

$(FUZZ_OUT)/cov/bin/fuzz_%: $(FUZZ_OUT)/cov/obj/fuzz/fuzz_%.o $(FUZZ_COV_MAIN) \
    $(FUZZ_SUPPORT:%.c=$(FUZZ_OUT)/cov/obj/%.o) $(FUZZ_COV_LAY_OBJ) $(FUZZ_OUT)/cov/libapp-cov.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fprofile-instr-generate $^ $(FUZZ_LIBS) -o $@

# ---- seeds: generated from the library's own output, never committed ----
FUZZ_EMIT := $(FUZZ_OUT)/tools/emit
FUZZ_SEEDS_STAMP := $(FUZZ_OUT)/seeds/.stamp

$(FUZZ_OUT)/tools/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_CPPFLAGS) $(FUZZ_TOOLFLAGS) -MMD -MP -c $< -o $@

$(FUZZ_OUT)/tools/libwsref-tools.a: $(FUZZ_LIB_SRC:%.c=$(FUZZ_OUT)/tools/obj/%.o)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_OUT)/tools/libwsc-tools.a: $(FUZZ_WSC_SRC:%.c=$(FUZZ_OUT)/tools/obj/%.o)
	rm -f $@ && ar rcs $@ $^

$(FUZZ_EMIT): $(FUZZ_OUT)/tools/obj/fuzz/seeds/emit.o $(FUZZ_OUT)/tools/obj/fuzz/seeds/emit_stomp.o \
    $(FUZZ_OUT)/tools/obj/fuzz/seeds/emit_harness.o $(FUZZ_SUPPORT:%.c=$(FUZZ_OUT)/tools/obj/%.o) \
    $(FUZZ_OUT)/tools/libwsc-tools.a $(FUZZ_OUT)/tools/libwsref-tools.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) -fsanitize=address,undefined $^ $(FUZZ_LIBS) -o $@

$(FUZZ_SEEDS_STAMP): $(FUZZ_EMIT) fuzz/seeds/gen.sh fuzz/seeds/import_report.py $(FUZZ_REPORT)
	FUZZ_EMIT=$(FUZZ_EMIT) fuzz/seeds/gen.sh $(FUZZ_OUT)/seeds $(FUZZ_REPORT)
	@touch $@

# The targets' own objects are intermediates of pattern rules; keep them for incremental builds.
.SECONDARY: $(FUZZ_NAMES:%=$(FUZZ_OUT)/obj/fuzz/fuzz_%.o) \
  $(FUZZ_NAMES:%=$(FUZZ_OUT)/cov/obj/fuzz/fuzz_%.o)

.PHONY: fuzz fuzz-build fuzz-regress fuzz-coverage fuzz-seeds fuzz-seeds-run fuzz-clean

fuzz-seeds: $(FUZZ_SEEDS_STAMP)

# Seeds plus the wire traffic of a conformance run of the whole case corpus against the
# embedded reference server (wsconform exits 1 when a case fails; the report is still there).
fuzz-seeds-run: $(FUZZ_EMIT) $(WSCONFORM)
	@mkdir -p $(FUZZ_OUT)
	-$(WSCONFORM) run --out $(FUZZ_OUT)/run >$(FUZZ_OUT)/run.log 2>&1
	FUZZ_EMIT=$(FUZZ_EMIT) fuzz/seeds/gen.sh $(FUZZ_OUT)/seeds $(FUZZ_OUT)/run/report.json
	@touch $(FUZZ_SEEDS_STAMP)

fuzz-build: $(FUZZ_BINS) $(FUZZ_SEEDS_STAMP)

FUZZ_RUN_ENV = FUZZ_OUT=$(FUZZ_OUT) FUZZ_SECONDS=$(FUZZ_SECONDS) \
  FUZZ_NAMES="$(if $(FUZZ_TARGETS),$(FUZZ_TARGETS),$(FUZZ_NAMES))" FUZZ_FLAGS="$(FUZZ_FLAGS)" \
  LLVM_SUFFIX=$(LLVM_SUFFIX)

fuzz: fuzz-build
	@$(FUZZ_RUN_ENV) fuzz/run.sh fuzz

fuzz-regress: fuzz-build
	@$(FUZZ_RUN_ENV) fuzz/run.sh regress

fuzz-coverage: $(FUZZ_COVBINS) $(FUZZ_SEEDS_STAMP)
	@$(FUZZ_RUN_ENV) fuzz/run.sh coverage

fuzz-clean:
	rm -rf $(FUZZ_OUT)

-include $(shell find $(FUZZ_OUT) -name '*.d' 2>/dev/null)
