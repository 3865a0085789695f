#!/usr/bin/env bash
# Reliability at scale (issue 14), outside CI time: the two crash tests of
# box/tests/crash.rs with 1,000 SIGKILLs each (KILLS overrides), against the debug
# build the CI uses. Prints each test's summary line; BENCHMARKS.md ("Crash safety at
# scale") has the figures of a run.
#   bash .ci/scale/crash.sh            # 1,000 kills during quiz submissions, 1,000 during sync applies
#   KILLS=200 bash .ci/scale/crash.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
export CARGO_INCREMENTAL=0
kills="${KILLS:-1000}"
cargo build -q -p preau-box --bin preau
failed=0
for t in crash_test_acknowledged_answers_survive_sigkill crash_test_sync_applies_survive_sigkill; do
    echo "== $t ($kills kills)"
    start=$(date +%s)
    log=$(mktemp)
    PREAU_CRASH_KILLS="$kills" cargo test -q -p preau-box --test crash -- --exact "$t" --nocapture >"$log" 2>&1 \
        || failed=1
    grep -E "seed|kills|rounds|test result|panicked|assert" "$log" || true
    rm -f "$log"
    echo "   wall time: $(( $(date +%s) - start )) s"
done
exit "$failed"
