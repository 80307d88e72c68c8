#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit tests, and integration tests against the
# AWS-API emulator (started here, and stopped at the end if this script started it), and the
# checks of the two deployment definitions (template.yaml, infra/cdk).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh

port="${NOTIFY_TEST_EMULATOR_PORT:-4567}"
export NOTIFY_TEST_EMULATOR_URL="http://127.0.0.1:$port"
started="$(scripts/emulator.sh "$port" target/test-emulator.log)"
if [ -n "$started" ]; then
  trap 'kill "$started" 2>/dev/null || true' EXIT
fi

echo "== no import circles between the files of a crate"
python3 scripts/import_cycles.py shared functions/* local tests
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets --quiet -- -D warnings
echo "== cargo test"
cargo test --workspace
echo "== make dev from outside: workers killed mid-drain, the contract fuzzer, one at a time, stops cleanly (Ctrl-C, SIGTERM), starts again"
scripts/test_dev.sh
echo "== infrastructure: cfn-lint, sam validate, cdk synth, CDK tests, SAM/CDK parity"
scripts/iac.sh
