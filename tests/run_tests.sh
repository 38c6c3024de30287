#!/usr/bin/env bash
# Runs every cmocka test binary in BUILD/tests (test_*), then prints the
# combined totals. Exit status is non-zero if any test failed or crashed.
# TEST_FILTER=substring limits the run to matching binaries.
set -u
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
export GRPO_BIN="$(cd "$build" && pwd)/grpo"
export GRPO_TESTS_DIR="$here"
export CMOCKA_MESSAGE_OUTPUT=stdout
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# Leak checking is off: Open MPI's runtime keeps allocations until exit.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
passed=0; failed=0; crashed=()
for bin in "$build"/tests/test_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  [ -n "${TEST_FILTER:-}" ] && [[ "$name" != *"$TEST_FILTER"* ]] && continue
  echo "=== $name"
  out=$(mktemp)
  "$bin" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  p=$(sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n1)
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | tail -n1)
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
  if [ "$rc" != 0 ] && [ -z "$f" ]; then crashed+=("$name"); failed=$((failed + 1)); fi
  rm -f "$out"
done
echo
[ ${#crashed[@]} -gt 0 ] && echo "crashed (counted as one failure each): ${crashed[*]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 0 ]
