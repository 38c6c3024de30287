#!/usr/bin/env bash
# Builds every libFuzzer target in tests/fuzz into build-fuzz/ (clang,
# -fsanitize=fuzzer,address,undefined, the project sources compiled
# directly: no MPI, no mpicc objects) and runs each for SECONDS (default 60)
# under nice, on a scratch copy of its seed corpus so the committed corpus
# never grows. Prints executions/s and total executions per target; exits
# non-zero if any target crashed, naming the saved reproducer.
#   bash tests/fuzz/run_fuzz.sh [SECONDS_PER_TARGET]
#   FUZZ_TARGETS="wire config" bash tests/fuzz/run_fuzz.sh 30   # a subset
#   FUZZ_BUILD_ONLY=1 bash tests/fuzz/run_fuzz.sh                # just build
# Reproduce a crash: build-fuzz/fuzz_<name> build-fuzz/crashes/<file>
# Regenerate the seeds: build-fuzz/make_seeds tests/fuzz/corpus
set -u
secs=${1:-60}
case "$secs" in '' | *[!0-9]*) echo "run_fuzz.sh: SECONDS must be a whole number, got '$secs'" >&2; exit 2 ;; esac
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root" || exit 2
out=build-fuzz
CC=${FUZZ_CC:-clang}
PKGS="openblas msgpack libzstd jansson inih libxxhash zlib libseccomp"

if ! command -v "$CC" > /dev/null; then
  echo "run_fuzz.sh: $CC not found: run 'bash deploy/install-deps.sh' as root (packages clang, libclang-rt-14-dev)" >&2
  exit 2
fi
for p in $PKGS; do
  pkg-config --exists "$p" || { echo "run_fuzz.sh: pkg-config cannot find '$p': run 'bash deploy/install-deps.sh' as root" >&2; exit 2; }
done

# Every project source but the MPI one and main() goes into one archive;
# each target links it and takes only what it references, so a new
# dependency of a decoder never breaks the fuzz build.
LIB_SRCS=$(ls common/*.c actors/*.c learner/*.c proto/*.c deploy/*.c | grep -v -e '^proto/comm.c$' -e '^deploy/main.c$')
UTIL="common/util.c"
all_targets="wire headers checkpoint tokenizer tokenizer_json config jsonl comparisons countdown rs verifier_reply safetensors llama2c"
targets=${FUZZ_TARGETS:-$all_targets}

CFLAGS="-std=c11 -D_GNU_SOURCE -g -O1 -fno-omit-frame-pointer -Wall -Wextra -Wshadow -Werror \
 -Wno-unused-parameter -fno-sanitize-recover=undefined -Icommon -Iactors -Ilearner -Iproto -Ideploy \
 $(pkg-config --cflags $PKGS)"
LIBS="$(pkg-config --libs $PKGS) -lm"

# ---- build: each project source once (fuzzer-no-link), then one link per target
echo "run_fuzz.sh: building into $out/ with $($CC --version | head -n1)"
mkdir -p "$out/obj" "$out/crashes"
build_failed=0
objs=()
# the kernel instances (common/kernel_names.h) take the Makefile's target flags
kernel_flags() {
  case "$1" in
    common/model_kernels_avx2.c | common/gemm_avx2.c) echo "-mavx2 -mfma -mbmi -mbmi2" ;;
    common/model_kernels_avx512.c | common/gemm_avx512.c) echo "-mavx2 -mfma -mbmi -mbmi2 -mavx512f -mavx512vl -mavx512bw -mavx512dq" ;;
  esac
}
for src in $LIB_SRCS; do
  o="$out/obj/${src//\//_}.o"
  if [ ! -f "$o" ] || [ "$src" -nt "$o" ] || [ -n "$(find common proto learner actors deploy -name '*.h' -newer "$o" 2> /dev/null | head -n1)" ] \
     || { [[ "$src" == common/model_kernels_* ]] && [ common/model_kernels.c -nt "$o" ]; } \
     || { [[ "$src" == common/gemm_* ]] && [ common/gemm.c -nt "$o" ]; }; then
    nice -n 19 $CC $CFLAGS $(kernel_flags "$src") -fsanitize=fuzzer-no-link,address,undefined -c "$src" -o "$o" || build_failed=1
  fi
  objs+=("$o")
done
rm -f "$out/libproject.a"
ar rcs "$out/libproject.a" "${objs[@]}" || build_failed=1
for t in $targets; do
  [ -f "tests/fuzz/fuzz_$t.c" ] || { echo "run_fuzz.sh: unknown target '$t' (known: $all_targets)" >&2; exit 2; }
  nice -n 19 $CC $CFLAGS -Itests/fuzz -fsanitize=fuzzer,address,undefined \
    -o "$out/fuzz_$t" "tests/fuzz/fuzz_$t.c" "$out/libproject.a" $LIBS || build_failed=1
done
# the seed writer (plain build): keeps it compiling with the encoders it uses;
# its kernel instances get no target flags, so all three are portable C
nice -n 19 $CC $CFLAGS -o "$out/make_seeds" tests/fuzz/make_seeds.c proto/wire.c proto/weights.c proto/rs_records.c \
  common/checkpoint.c common/model.c common/model_decode.c common/packed_layout.c \
  common/attention_packed.c common/model_kernels.c \
  common/model_kernels_avx2.c \
  common/model_kernels_avx512.c common/gemm.c common/gemm_avx2.c common/gemm_avx512.c \
  common/kernel_dispatch.c common/sample_dist.c common/tokenizer.c \
  common/tokenizer_bpe.c common/tokenizer_json.c common/tokenizer_llama2c.c \
  common/format_safetensors.c common/format_llama2c.c common/format_hf.c common/atomic_file.c \
  $UTIL \
  $LIBS || build_failed=1
if [ "$build_failed" != 0 ]; then
  echo "run_fuzz.sh: build failed" >&2
  exit 2
fi
[ "${FUZZ_BUILD_ONLY:-0}" = 1 ] && { echo "run_fuzz.sh: built $targets"; exit 0; }

# ---- run
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
results=()
crashed=0
for t in $targets; do
  work=$(mktemp -d /tmp/grpo_fuzz.XXXXXX)
  mkdir -p "$work/corpus" "$work/artifacts"
  [ -d "tests/fuzz/corpus/$t" ] && cp -r "tests/fuzz/corpus/$t/." "$work/corpus/"
  dict=()
  [ -f "tests/fuzz/dict/$t.dict" ] && dict=(-dict="tests/fuzz/dict/$t.dict")
  echo "=== fuzz_$t: ${secs}s, $(ls "$work/corpus" | wc -l) seeds"
  TMPDIR="$work" nice -n 19 "$out/fuzz_$t" -max_total_time="$secs" -print_final_stats=1 \
    -timeout=10 -rss_limit_mb=2048 -max_len=16384 -artifact_prefix="$work/artifacts/" \
    "${dict[@]}" "$work/corpus" > "$work/log" 2>&1
  rc=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$work/log" | tail -n1)
  done_line=$(grep -E '^Done [0-9]+ runs in [0-9]+ second' "$work/log" | tail -n1)
  if [ -z "$runs" ] && [ -n "$done_line" ]; then runs=$(echo "$done_line" | awk '{print $2}'); fi
  took=$(echo "$done_line" | awk '{print $5}')
  rate=$(sed -n 's/^stat::average_exec_per_sec: *\([0-9]*\).*/\1/p' "$work/log" | tail -n1)
  if [ -z "$rate" ] && [ -n "$runs" ] && [ -n "$took" ] && [ "$took" -gt 0 ]; then rate=$((runs / took)); fi
  cov=$(grep -E '^#[0-9]+' "$work/log" | tail -n1 | sed -n 's/.*cov: \([0-9]*\).*/\1/p')
  if [ "$rc" != 0 ]; then
    crashed=1
    status="CRASH"
    for a in "$work"/artifacts/*; do
      [ -e "$a" ] || continue
      dest="$out/crashes/fuzz_${t}-$(basename "$a")"
      cp "$a" "$dest"
      status="CRASH (reproducer: $dest)"
    done
    cp "$work/log" "$out/crashes/fuzz_$t.log"
    echo "--- fuzz_$t failed (exit $rc); last lines of its log (full log: $out/crashes/fuzz_$t.log):"
    grep -v '^#[0-9]' "$work/log" | tail -n 30
    echo "--- reproduce with: $out/fuzz_$t <reproducer>"
  else
    status="ok"
  fi
  results+=("$(printf '%-12s %10s %14s %8s  %s' "fuzz_$t" "${rate:-?}" "${runs:-?}" "${cov:-?}" "$status")")
  rm -rf "$work"
done
echo
printf '%-12s %10s %14s %8s  %s\n' target "exec/s" "total execs" "cov" status
for r in "${results[@]}"; do echo "$r"; done
exit "$crashed"
