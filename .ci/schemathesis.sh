#!/usr/bin/env bash
# Property-based API tests: schemathesis (PyPI) against a live release server on the seed
# scenario, driven by the server's own /openapi.json. Any finding is a bug in the server or in
# the document (docs/API.md, "Checking the API description").
#
# The checks (.ci/schemathesis.toml): no 5xx; every status, content type, header and body as
# documented; requests that break the document refused.
#
# Locally: bash .ci/schemathesis.sh   (SCHEMATHESIS_EXAMPLES=N for more or fewer cases)
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-25}"
VENV=target/ci-venv

if ! "$VENV/bin/schemathesis" --version 2>/dev/null | grep -q "$SCHEMATHESIS_VERSION"; then
    echo "== installing schemathesis $SCHEMATHESIS_VERSION into $VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

cargo build --release --quiet
WORK="$(mktemp -d)"
SERVER_PID=""
stop_server() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap stop_server EXIT

# The demo: a fresh ledger with the seed scenario, served on a free port.
LODESTONE_CHECKPOINT_GUARD="$WORK/guard" LODESTONE_LOG=warn \
    target/release/lodestone demo --data "$WORK/demo" --addr 127.0.0.1:0 >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

URL=""
for _ in $(seq 1 300); do
    URL="$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$WORK/server.log" | head -n 1)"
    if [[ -n "$URL" ]] && curl -fsS "$URL/readyz" >/dev/null 2>&1; then
        break
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        echo "the server exited:"; cat "$WORK/server.log"; exit 1
    fi
    URL=""
    sleep 0.2
done
if [[ -z "$URL" ]]; then
    echo "the server did not get ready:"; cat "$WORK/server.log"; exit 1
fi
echo "== schemathesis $SCHEMATHESIS_VERSION against $URL/openapi.json ($EXAMPLES examples per operation)"

"$VENV/bin/schemathesis" --config-file .ci/schemathesis.toml run "$URL/openapi.json" \
    --phases examples,coverage,fuzzing \
    --max-examples "$EXAMPLES" \
    --workers 2 \
    --request-timeout 30 \
    --generation-database none
