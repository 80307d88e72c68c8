#!/usr/bin/env bash
# The web console in a real headless browser against a running make dev (scripts/test_dev.sh
# runs it on its own stack; `make console-test` against yours): installs what it needs when it
# is missing — Debian's Chromium (apt-get, as root or through sudo) and playwright-core from npm
# (console/test/package-lock.json) — then console/test/console.test.mjs. Screenshots of each
# page go to target/console-screenshots (SHOTS to change it).
set -euo pipefail
cd "$(dirname "$0")/.."

need() { command -v "$1" >/dev/null 2>&1 || { echo "error: $1 is required ($2)" >&2; exit 1; }; }
need node "install Node.js 20 or later (with npm)"
need npm "install npm (it comes with Node.js)"

chromium="${CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "== installing Debian's chromium (for the console's browser test)"
  as_root=()
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "error: install Debian's chromium (apt-get install chromium)" >&2; exit 1; }
    as_root=(sudo)
  fi
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

dir=console/test
lock_hash="$(sha256sum "$dir/package-lock.json" | cut -c1-16)"
if [ ! -f "$dir/node_modules/.installed-$lock_hash" ]; then
  echo "== npm ci in $dir (package-lock.json)"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  touch "$dir/node_modules/.installed-$lock_hash"
fi

state="${NOTIFY_DEV_DIR:-.dev}"
[ -f "$state/env" ] || { echo "error: no running make dev ($state/env is missing)" >&2; exit 1; }
set -a
# shellcheck disable=SC1091
. "$state/env"
set +a
export NOTIFY_DEV_DIR="$state" CHROMIUM="$chromium" SHOTS="${SHOTS:-target/console-screenshots}"
exec node "$dir/console.test.mjs"
