#!/usr/bin/env bash
# Usage: test-totals.sh [--numbers] FILE.trx... — prints "N passed, N failed[, N skipped]" summed over the TRX files.
# (--numbers: just "P F S"). failed counts every outcome that is neither passed nor skipped (failed, error, timeout, aborted);
# skipped = tests counted but not executed ([Fact(Skip=...)]).
set -euo pipefail

numbers=0
if [[ ${1:-} == --numbers ]]; then numbers=1; shift; fi

passed=0 failed=0 skipped=0
for trx in "$@"; do
  counters=$(grep -o '<Counters [^>]*>' "$trx" | head -n 1 || true)
  [[ -n $counters ]] || { echo "no <Counters> in $trx" >&2; continue; }
  attr() { local v; v=$(grep -o " $1=\"[0-9]*\"" <<<"$counters" | grep -o '[0-9]\+' || true); echo "${v:-0}"; }
  passed=$((passed + $(attr passed)))
  failed=$((failed + $(attr failed) + $(attr error) + $(attr timeout) + $(attr aborted)))
  # xunit skips show up as total - executed (notExecuted stays 0 with the VSTest TRX logger).
  total=$(attr total) executed=$(attr executed) not_executed=$(attr notExecuted)
  if ((total - executed > not_executed)); then not_executed=$((total - executed)); fi
  skipped=$((skipped + not_executed))
done

if ((numbers)); then echo "$passed $failed $skipped"; exit 0; fi
line="$passed passed, $failed failed"
((skipped > 0)) && line+=", $skipped skipped"
echo "$line"
