#!/usr/bin/env bash
# Runs every cmocka test binary in BUILD/tests (test_*), then prints the
# combined totals: "N passed, M failed, K skipped". Exit status is non-zero
# if any test failed or crashed, or, when CI=true, if a test skipped that
# the allow-list (tests/expected_skips.txt, or GRPO_EXPECTED_SKIPS=FILE)
# does not name: CI must not pass by not running a test.
# TEST_FILTER=substring limits the run to matching binaries.
set -u
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
allow_file=${GRPO_EXPECTED_SKIPS:-$here/expected_skips.txt}
export GRPO_BIN="$(cd "$build" && pwd)/grpo"
export GRPO_TESTS_DIR="$here"
export CMOCKA_MESSAGE_OUTPUT=stdout
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# Leak checking is off: Open MPI's runtime keeps allocations until exit.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# The allow-list: "binary:test reason" per line; '#' starts a comment.
declare -A allowed=()
if [ -f "$allow_file" ]; then
  n=0
  while IFS= read -r line || [ -n "$line" ]; do
    n=$((n + 1))
    line=${line%%#*}
    read -r key reason <<< "$line"
    [ -z "${key:-}" ] && continue
    if [[ "$key" != *:* ]] || [ -z "${reason:-}" ]; then
      echo "error: $allow_file:$n: expected 'test_binary:test_name reason', found '$line'" >&2
      exit 2
    fi
    allowed[$key]=$reason
  done < "$allow_file"
fi

passed=0; failed=0; skipped=0; crashed=(); skips=(); unexpected=(); times=()
suite_start=$SECONDS
for bin in "$build"/tests/test_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  [ -n "${TEST_FILTER:-}" ] && [[ "$name" != *"$TEST_FILTER"* ]] && continue
  echo "=== $name"
  out=$(mktemp)
  t0=$(date +%s.%N)
  "$bin" 2>&1 | tee "$out"
  rc=${PIPESTATUS[0]}
  times+=("$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN {printf "%.1f", b - a}') $name")
  # cmocka's summary per group: "[  PASSED  ] N test(s).", "[  FAILED  ] N
  # test(s), listed below:", "[  SKIPPED ] N test(s), listed below:" and then
  # one "[  SKIPPED ] name" line per skipped test
  p=$(awk '/^\[  PASSED  \] [0-9]+ test/ {s += $4} END {print s + 0}' "$out")
  f=$(sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' "$out" | awk '{s += $1} END {print s + 0}')
  names=$(awk '/^\[  SKIPPED \] [0-9]+ test\(s\), listed below:/ {left = $4; next}
               left > 0 && /^\[  SKIPPED \] / {sub(/^\[  SKIPPED \] /, ""); print; left--}' "$out")
  k=$(awk '/^\[  SKIPPED \] [0-9]+ test/ {s += $4} END {print s + 0}' "$out")
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + k))
  while IFS= read -r t; do
    [ -z "$t" ] && continue
    skips+=("$name:$t")
    [ -z "${allowed[$name:$t]:-}" ] && unexpected+=("$name:$t")
  done <<< "$names"
  if [ "$rc" != 0 ] && [ "$f" = 0 ]; then crashed+=("$name"); failed=$((failed + 1)); fi
  rm -f "$out"
done
echo
[ ${#crashed[@]} -gt 0 ] && echo "crashed (counted as one failure each): ${crashed[*]}"
for s in "${skips[@]}"; do
  if [ -n "${allowed[$s]:-}" ]; then echo "skipped: $s (expected: ${allowed[$s]})"
  else echo "skipped: $s (not in $allow_file)"; fi
done
status=0
[ "$failed" = 0 ] && [ "$passed" -gt 0 ] || status=1
if [ "${CI:-}" = true ] && [ ${#unexpected[@]} -gt 0 ]; then
  echo "CI=true: ${#unexpected[@]} unexpected skip(s) fail the run: ${unexpected[*]}" \
       "(fix the cause, or list 'binary:test reason' in $allow_file)"
  status=1
fi
# wall time per binary, slowest first: where the suite's minutes go
echo "wall time per test binary (s), slowest first:"
printf '%s\n' "${times[@]}" | sort -rn | head -n 8 | sed 's/^/  /'
echo "suite wall time: $((SECONDS - suite_start)) s"
echo "$passed passed, $failed failed, $skipped skipped"
exit $status
