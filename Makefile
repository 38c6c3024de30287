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

# One binary for every x86-64 machine of a cluster: the code is built for a
# portable baseline, and the model kernels again for AVX2 and AVX-512, the
# widest the CPU runs being chosen at load time (common/kernel_dispatch.h).
ifeq ($(shell uname -m),x86_64)
  BASE_ARCH  ?= -march=x86-64-v2 -mtune=generic
  KERNEL_AVX2   := -mavx2 -mfma -mbmi -mbmi2
  KERNEL_AVX512 := $(KERNEL_AVX2) -mavx512f -mavx512vl -mavx512bw -mavx512dq
endif
ifeq ($(SAN),1)
  OPT   ?= -O1 $(BASE_ARCH)
endif
OPT     ?= -O3 $(BASE_ARCH)
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

# the kernel instances: model_kernels.c again, with their target flags
$(BUILD)/common/model_kernels_avx2.o: CFLAGS += $(KERNEL_AVX2)
$(BUILD)/common/model_kernels_avx512.o: CFLAGS += $(KERNEL_AVX512)
$(BUILD)/common/model_kernels_avx2.o $(BUILD)/common/model_kernels_avx512.o: common/model_kernels.c
$(BUILD)/common/gemm_avx2.o: CFLAGS += $(KERNEL_AVX2)
$(BUILD)/common/gemm_avx512.o: CFLAGS += $(KERNEL_AVX512)
$(BUILD)/common/gemm_avx2.o $(BUILD)/common/gemm_avx512.o: common/gemm.c

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
