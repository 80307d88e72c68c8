#!/usr/bin/env bash
# Installs the local tooling, from PyPI into .dev/venv (never globally): the AWS-API emulator
# (moto), cargo-lambda (release builds), the Standard Webhooks verifier and the contract
# fuzzer (schemathesis). Idempotent and quick when nothing changed.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "error: $1 is required ($2)" >&2; exit 1; }; }
need cargo "install the Rust toolchain: https://rustup.rs"
need python3 "install Python 3.9 or later with venv and pip"

venv=.dev/venv
stamp="$venv/.installed-$(sha256sum dev/requirements.txt | cut -c1-16)"
if [ -f "$stamp" ]; then
  exit 0
fi
echo "Installing local tools into $venv (moto, cargo-lambda, standardwebhooks, schemathesis)..."
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r dev/requirements.txt
touch "$stamp"
