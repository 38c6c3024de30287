# Build for the GRPO actor-learner trainer.
#   make            build/grpo, the one binary (subcommands sft, train, eval, sample, demo)
#   make test       build and run the whole test suite (cmocka)
#   make asan       the test suite again under AddressSanitizer + UBSan (build-asan/)
#   make bench      benchmarks (timings live here, never in tests)
#   make fuzz       libFuzzer targets, FUZZ_SECONDS each (default 60)
#   make clean
# Every library is found through pkg-config; the probe results are printed.

BUILD   ?= build
SAN     ?=
CC      := mpicc
PKGS    := openblas msgpack libzstd jansson inih libxxhash zlib libseccomp
TESTPKG := cmocka

define probe
$(if $(shell pkg-config --exists $(1) && echo y),,$(error pkg-config cannot find '$(1)': run 'bash deploy/install-deps.sh' as root))
endef
$(foreach p,$(PKGS) $(TESTPKG),$(call probe,$(p)))
ifeq ($(shell command -v mpicc),)
$(error mpicc not found: run 'bash deploy/install-deps.sh' as root (package libopenmpi-dev))
endif

ifeq ($(SAN),1)
  OPT   ?= -O1 -march=native
endif
OPT     ?= -O3 -march=native
CFLAGS  := -std=c11 -D_GNU_SOURCE -g $(OPT) -fno-math-errno -Wall -Wextra -Wshadow -Wvla \
           -Wno-unused-parameter -Icommon -Iactors -Ilearner -Iproto -Ideploy \
           $(shell pkg-config --cflags $(PKGS))
LDLIBS  := $(shell pkg-config --libs $(PKGS)) -lm
ifeq ($(SAN),1)
  CFLAGS  += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
endif

LIB_SRC  := $(filter-out deploy/main.c,$(wildcard common/*.c actors/*.c learner/*.c proto/*.c deploy/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
TEST_SRC := $(wildcard tests/test_*.c)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
BENCH_SRC:= $(wildcard tests/bench_*.c)
BENCH_BIN:= $(BENCH_SRC:tests/%.c=$(BUILD)/tests/%)

FUZZ_SECONDS ?= 60

.PHONY: all test asan bench fuzz clean found
all: found $(BUILD)/grpo $(TEST_BIN) $(BENCH_BIN)

found:
	@printf 'found:'; for p in $(PKGS) $(TESTPKG); do printf ' %s-%s' $$p $$(pkg-config --modversion $$p); done; \
	 printf ' mpicc(%s)\n' "$$(mpicc --showme:version 2>&1 | head -n1 | sed 's/.*Open MPI/Open MPI/')"

$(BUILD)/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libgrpo.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/grpo: $(BUILD)/deploy/main.o $(BUILD)/libgrpo.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(BUILD)/libgrpo.a $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libgrpo.a $(LDLIBS) $(shell pkg-config --libs $(TESTPKG))

test: all
	@bash tests/run_tests.sh $(BUILD)

asan:
	$(MAKE) BUILD=build-asan SAN=1 test

bench: all
	@bash tests/run_bench.sh $(BUILD)

fuzz:
	bash tests/fuzz/run_fuzz.sh $(FUZZ_SECONDS)

clean:
	rm -rf build build-asan build-fuzz

# The pipeline, distill and import-vocabulary tests drive the binary: it must be built first.
$(BUILD)/tests/test_pipeline $(BUILD)/tests/test_distill $(BUILD)/tests/test_import_vocab: $(BUILD)/grpo
