#!/usr/bin/env bash
# Fuzz smoke run: every cargo-fuzz target for FUZZ_SECONDS (default 20) from the kept corpus
# (fuzz/corpus/<target>/). New inputs go to a scratch directory, not the repository; a crash
# fails the run and leaves its input in fuzz/artifacts/<target>/ — copy it into
# fuzz/corpus/<target>/ with the fix, so tests/fuzz_corpus.rs keeps it (docs/OPERATIONS.md §9).
#
# Needs a nightly toolchain and cargo-fuzz (installed here when missing). Sanitizer: none — the
# crate forbids `unsafe`, so what fuzzing can find is panics, overflows (debug assertions are
# on) and runaway memory or time, and an uninstrumented build takes a third of the time.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-20}"
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz: no nightly toolchain (rustup toolchain install nightly)" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "== installing cargo-fuzz"
    cargo install cargo-fuzz --locked --quiet
fi

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
targets="$(cargo +nightly fuzz list)"
# No separate `cargo fuzz build`: it builds with other flags than `run`, so everything would be
# built twice. The first `run` builds all of it; the others reuse it.
for target in $targets; do
    mkdir -p "$scratch/$target"
    echo "== fuzz $target for ${seconds}s"
    status=0
    cargo +nightly fuzz run --sanitizer none --debug-assertions --release "$target" \
        "$scratch/$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        >"$scratch/$target.log" 2>&1 || status=$?
    grep -E "^stat::(number_of_executed_units|new_units_added)" "$scratch/$target.log" || true
    if [ "$status" -ne 0 ]; then
        tail -40 "$scratch/$target.log" >&2
        echo "fuzz: $target failed; its input is in fuzz/artifacts/$target/" >&2
        exit 1
    fi
done
echo "fuzz: ${targets//$'\n'/ } ran ${seconds}s each without a failure"
