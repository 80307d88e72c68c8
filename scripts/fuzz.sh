#!/usr/bin/env bash
# The contract fuzzer: schemathesis (pinned in dev/requirements.txt, installed into .dev/venv)
# generates requests from openapi.yaml for every operation, valid and invalid, through every
# phase (the schema's examples, its boundaries, random data, and stateful sequences that
# follow the contract's links), sends them to a running make dev and fails on any answer the
# contract does not describe. Settings: schemathesis.toml.
#
# Usage: scripts/fuzz.sh   (FUZZ_SECONDS=120 bounds the run; FUZZ_SEED=<n> repeats one;
# NOTIFY_DEV_DIR names the stack's state directory, .dev by default)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
state="${NOTIFY_DEV_DIR:-.dev}"
[ -f "$state/env" ] || { echo "error: $state/env is missing: start make dev first" >&2; exit 1; }
# shellcheck disable=SC1091
. "$state/env"
export NOTIFY_API_KEY NOTIFY_ADMIN_KEY
seed=()
[ -n "${FUZZ_SEED:-}" ] && seed=(--seed "$FUZZ_SEED")
exec .dev/venv/bin/schemathesis --no-color run openapi.yaml --url "$NOTIFY_API_URL" \
  --max-time "${FUZZ_SECONDS:-120}" "${seed[@]}" --report junit --report-dir "$state/fuzz"
