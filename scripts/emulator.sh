#!/usr/bin/env bash
# Starts the AWS-API emulator (dev/emulator.py) on 127.0.0.1:<port> unless one answers there,
# and waits until it does. Prints the PID it started (nothing if one was already running).
#   usage: scripts/emulator.sh <port> <log file>
set -euo pipefail
cd "$(dirname "$0")/.."
port="$1"
log="$2"

answers() { .dev/venv/bin/python - "$port" <<'PY'
import sys, urllib.request
try:
    urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_notify/health", timeout=2)
except Exception:
    sys.exit(1)
PY
}

if answers; then
  exit 0
fi
mkdir -p "$(dirname "$log")"
# setsid: the emulator is not killed by a Ctrl-C meant for the foreground command.
setsid .dev/venv/bin/python dev/emulator.py --host 127.0.0.1 --port "$port" >"$log" 2>&1 &
pid=$!
for _ in $(seq 1 150); do
  if answers; then
    echo "$pid"
    exit 0
  fi
  if ! kill -0 "$pid" 2>/dev/null; then
    echo "error: the emulator exited; see $log" >&2
    exit 1
  fi
  sleep 0.2
done
echo "error: the emulator did not answer on port $port within 30 s; see $log" >&2
exit 1
