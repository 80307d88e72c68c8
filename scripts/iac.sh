#!/usr/bin/env bash
# Checks of the two deployment definitions, without AWS (no account, no credentials, no
# network but the package registries on the first run):
#
#   1. template.yaml's generated parts are what infra/channels.py writes from its channel list
#      (and that script's tests)
#   2. cfn-lint template.yaml
#   3. sam validate --lint (offline), and sam validate (SAM's own translation, with the
#      AWS::LanguageExtensions expansion samconfig.toml turns on; no AWS call)
#   4. tsc --noEmit on the CDK app and its tests
#   5. cdk synth of infra/cdk (no bundling: nothing is compiled; checked), and cfn-lint of what
#      it synthesised
#   6. the CDK tests (jest, aws-cdk-lib/assertions)
#   7. infra/parity.py (after its self-tests, Fn::ForEach expansion included): template.yaml,
#      expanded, and the synthesised CDK template describe the same system
#
# Tools are installed on demand, never globally: cfn-lint and the SAM CLI into .dev/iac-venv
# (from infra/requirements.txt, again when it changes), the CDK packages into
# infra/cdk/node_modules (npm ci, again when package-lock.json changes). Idempotent.
# Every check runs even when an earlier one failed; the exit status is non-zero if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "error: $1 is required ($2)" >&2; exit 1; }; }
need python3 "install Python 3.10 or later with venv and pip"
need node "install Node.js 20 or later (with npm)"
need npm "install npm (it comes with Node.js)"
python3 -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "error: the SAM CLI needs Python 3.10 or later (python3 is $(python3 -V 2>&1))" >&2; exit 1; }
node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)' \
  || { echo "error: aws-cdk-lib needs Node.js 20 or later (node is $(node -v))" >&2; exit 1; }

# ------------------------------------------------------------------------------ tools
venv=.dev/iac-venv
req_hash="$(sha256sum infra/requirements.txt | cut -c1-16)"
if [ ! -f "$venv/.installed-$req_hash" ] || [ ! -x "$venv/bin/cfn-lint" ] || [ ! -x "$venv/bin/sam" ]; then
  echo "== installing cfn-lint and the SAM CLI into $venv (infra/requirements.txt)"
  rm -rf "$venv"
  mkdir -p .dev
  python3 -m venv "$venv"
  if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r infra/requirements.txt; then
    echo "error: could not install infra/requirements.txt into $venv" >&2
    rm -rf "$venv"
    exit 1
  fi
  touch "$venv/.installed-$req_hash"
fi

cdk_dir=infra/cdk
lock_hash="$(sha256sum "$cdk_dir/package-lock.json" | cut -c1-16)"
if [ ! -f "$cdk_dir/node_modules/.installed-$lock_hash" ]; then
  echo "== npm ci in $cdk_dir (package-lock.json)"
  if ! (cd "$cdk_dir" && npm ci --no-audit --no-fund --loglevel=error); then
    echo "error: npm ci failed in $cdk_dir" >&2
    exit 1
  fi
  touch "$cdk_dir/node_modules/.installed-$lock_hash"
fi

# ------------------------------------------------------------------------------ offline, quiet
# Dummy credentials and region: nothing here may reach AWS, and nothing needs to.
export AWS_ACCESS_KEY_ID=AKIAIOSFODNN7EXAMPLE
export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY
export AWS_DEFAULT_REGION=us-east-1 AWS_REGION=us-east-1
export AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN
export SAM_CLI_TELEMETRY=0
export CDK_DISABLE_VERSION_CHECK=1 CDK_DISABLE_CLI_TELEMETRY=true
# The CDK CLI's AWS SDK announces it will want Node 22 from 2027; Node 20 is supported today.
export AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true
export PYTHONDONTWRITEBYTECODE=1
export NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_FUND=false NPM_CONFIG_AUDIT=false

failed=()
step() { echo "== $1"; }
fail() { echo "FAILED: $1" >&2; failed+=("$1"); }

# ------------------------------------------------------------------------------ template.yaml
if [ ! -f template.yaml ]; then
  fail "template.yaml is missing"
else
  step "template.yaml's generated parts (infra/channels.py) and their tests"
  if ! "$venv/bin/python" infra/channels.py --check; then
    fail "template.yaml's generated parts are out of date (run: python3 infra/channels.py)"
  fi
  if out="$("$venv/bin/python" infra/test_channels.py 2>&1)"; then
    echo "$out" | tail -n 1
  else
    echo "$out"
    fail "infra/test_channels.py"
  fi

  step "cfn-lint template.yaml"
  "$venv/bin/cfn-lint" template.yaml || fail "cfn-lint template.yaml"

  step "sam validate --lint"
  "$venv/bin/sam" validate --lint --template template.yaml --region us-east-1 \
    || fail "sam validate --lint --template template.yaml"

  # The roles are explicit (no SAM policy templates or managed policies to look up): offline.
  step "sam validate (SAM translation; language extensions from samconfig.toml)"
  "$venv/bin/sam" validate --template template.yaml --region us-east-1 \
    || fail "sam validate --template template.yaml"
fi

# ------------------------------------------------------------------------------ infra/cdk
step "tsc --noEmit (infra/cdk)"
(cd "$cdk_dir" && node_modules/.bin/tsc --noEmit) || fail "tsc --noEmit in infra/cdk"

step "cdk synth (no bundling, offline)"
# A stand-in `cargo` first on PATH records what the synthesis runs: it must not build anything
# (cargo-lambda-cdk only asks `cargo lambda --version`; the stand-in says no).
shim="$(mktemp -d)"
trap 'rm -rf "$shim"' EXIT
printf '#!/bin/sh\necho "cargo $*" >> "%s/calls"\nexit 1\n' "$shim" > "$shim/cargo"
chmod +x "$shim/cargo"
rm -rf "$cdk_dir/cdk.out"
synth_ok=true
if ! (cd "$cdk_dir" && PATH="$shim:$PATH" NOTIFY_CDK_SKIP_BUNDLING=1 \
  node_modules/.bin/cdk synth --quiet --no-notices --no-lookups --no-version-reporting) >"$shim/synth.log" 2>&1; then
  cat "$shim/synth.log" >&2
  fail "cdk synth in infra/cdk"
  synth_ok=false
elif grep -q "lambda build" "$shim/calls" 2>/dev/null; then
  fail "cdk synth ran 'cargo lambda build' (bundling was not skipped): $(grep 'lambda build' "$shim/calls" | head -1)"
  synth_ok=false
elif [ ! -f "$cdk_dir/cdk.out/Notify.template.json" ]; then
  fail "cdk synth wrote no $cdk_dir/cdk.out/Notify.template.json"
  synth_ok=false
else
  # Warnings of the CDK's own validation, if any (feature-flag advice left out).
  grep -v -e "feature flags are not configured" -e '^$' "$shim/synth.log" || true
fi
if $synth_ok; then
  step "cfn-lint of the synthesised CDK template"
  # W3005: the CDK adds DependsOn on each function's role, which its Role GetAtt already implies.
  "$venv/bin/cfn-lint" --ignore-checks W3005 -- "$cdk_dir/cdk.out/Notify.template.json" \
    || fail "cfn-lint $cdk_dir/cdk.out/Notify.template.json"
fi

step "CDK tests (jest)"
(cd "$cdk_dir" && node_modules/.bin/jest --silent) || fail "jest in infra/cdk"

# ------------------------------------------------------------------------------ parity
step "parity checker self-tests"
if out="$("$venv/bin/python" infra/test_parity.py 2>&1)"; then
  echo "$out" | tail -n 1
else
  echo "$out"
  fail "infra/test_parity.py"
fi

if [ -f template.yaml ] && $synth_ok; then
  step "parity: template.yaml vs infra/cdk"
  "$venv/bin/python" infra/parity.py || fail "infra/parity.py (template.yaml and infra/cdk differ)"
else
  fail "parity not checked (needs template.yaml and a successful cdk synth)"
fi

if [ "${#failed[@]}" -gt 0 ]; then
  echo >&2
  echo "infrastructure checks: ${#failed[@]} failed:" >&2
  printf '  - %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "infrastructure checks: all passed"
