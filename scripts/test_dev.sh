#!/usr/bin/env bash
# make dev tried from outside: it survives its workers being killed mid-drain
# (scripts/load.py --chaos: every notification still ends sent), it answers as openapi.yaml
# says on every route (scripts/fuzz.sh: schemathesis, every check and phase, a fixed seed so a
# failure repeats; FUZZ_SECONDS bounds it), and it stops cleanly both ways a user stops it:
# Ctrl-C (SIGINT to the foreground process group) and SIGTERM to make's process group. Each time nothing of it is left (no process
# started for it, no port of it listening) within seconds, and a start right after works; a
# second make dev while one runs refuses. It runs a stack of its own (other ports, its own
# NOTIFY_DEV_DIR), so it can run beside a make dev of yours.
set -euo pipefail
cd "$(dirname "$0")/.."

export NOTIFY_DEV_DIR="$PWD/target/dev-stop-test"
export NOTIFY_EMULATOR_PORT=4766 NOTIFY_API_PORT=9766 NOTIFY_FCM_PORT=4781 NOTIFY_RECEIVER_PORT=4791
export NOTIFY_WEBSOCKET_PORT=9767 NOTIFY_CHAT_PORT=4796
ports="4766 9766 4781 4791"
rm -rf "$NOTIFY_DEV_DIR"
mkdir -p "$NOTIFY_DEV_DIR"
py=.dev/venv/bin/python

fail() { echo "FAIL: $*" >&2; exit 1; }

# Whatever ends this script (a failed check included) stops the stack it started, so no
# make dev of the test is left holding its ports.
group=""
stop_left() {
  [ -n "$group" ] || return 0
  kill -TERM -- "-$group" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 -- "-$group" 2>/dev/null || return 0; sleep 0.1; done
  kill -KILL -- "-$group" 2>/dev/null || true
}
trap stop_left EXIT

# Starts make dev in a process group of its own, as a terminal's foreground job is, and with
# SIGINT handled as there: a job started with & in a script ignores it, which Ctrl-C never
# meets. Prints the group's id.
start() {
  "$py" -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.setsid()
os.execvp("make", ["make", "dev"])' >"$NOTIFY_DEV_DIR/make-$1.log" 2>&1 </dev/null &
  echo "$!"
}

ready() {
  for _ in $(seq 1 900); do
    # A make dev that gave up (it says why in its log) will never answer.
    kill -0 "$group" 2>/dev/null || return 1
    if [ -f "$NOTIFY_DEV_DIR/env" ]; then
      # shellcheck disable=SC1091
      . "$NOTIFY_DEV_DIR/env"
      curl -sf "$NOTIFY_API_URL/health" >/dev/null && return 0
    fi
    sleep 1
  done
  return 1
}

# What is left of the test stack: every process whose environment names its NOTIFY_DEV_DIR
# (all that make dev starts inherits it) or its emulator (the functions, which get only their
# own variables, as in Lambda), and its ports that still accept connections.
left() {
  for environ in /proc/[0-9]*/environ; do
    pid="${environ#/proc/}"
    pid="${pid%/environ}"
    [ "$pid" = "$$" ] && continue
    if { tr '\0' '\n' <"$environ"; } 2>/dev/null | grep -qxE "NOTIFY_DEV_DIR=$NOTIFY_DEV_DIR|AWS_ENDPOINT_URL=http://127.0.0.1:$NOTIFY_EMULATOR_PORT"; then
      # This script and its own subshells carry it too: only count make dev's.
      case "$({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null)" in
        *test_dev.sh*|"") ;;
        *) echo "process $pid: $({ tr '\0' ' ' <"/proc/$pid/cmdline"; } 2>/dev/null | cut -c1-100)" ;;
      esac
    fi
  done
  "$py" - $ports <<'PY'
import socket, sys
for port in map(int, sys.argv[1:]):
    with socket.socket() as s:
        s.settimeout(0.2)
        if s.connect_ex(("127.0.0.1", port)) == 0:
            print(f"port {port} still listening")
PY
}

stops_cleanly() {
  for _ in $(seq 1 100); do
    [ -z "$(left)" ] && return 0
    sleep 0.1
  done
  left
  return 1
}

echo "== make dev starts (its first start may build)"
group="$(start 1)"
ready || fail "make dev did not answer; see $NOTIFY_DEV_DIR/make-1.log"
echo "== a second make dev refuses while one runs"
if make dev >"$NOTIFY_DEV_DIR/make-second.log" 2>&1 </dev/null; then
  fail "a second make dev started"
fi
grep -q "already running" "$NOTIFY_DEV_DIR/make-second.log" || fail "the second make dev did not say why: $(cat "$NOTIFY_DEV_DIR/make-second.log")"
ready || fail "the second make dev disturbed the first"

echo "== workers killed mid-drain (kill -9): every notification still ends sent"
"$py" scripts/load.py -n 80 -c 8 --chaos 4 --within 240 || fail "the load with chaos failed; see $NOTIFY_DEV_DIR/logs/poller.log"

echo "== the contract fuzzer on every route (${FUZZ_SECONDS:-150} s)"
FUZZ_SEED="${FUZZ_SEED:-1}" FUZZ_SECONDS="${FUZZ_SECONDS:-150}" scripts/fuzz.sh \
  || fail "the contract fuzzer found answers openapi.yaml does not describe (above; replay one with FUZZ_SEED=${FUZZ_SEED:-1} make fuzz)"

echo "== the console in a headless Chromium (screenshots: target/console-screenshots)"
scripts/console_test.sh || fail "the console test failed (above; its last screenshot is target/console-screenshots/failure.png)"

# Twice, a moment apart: make passes a signal on to its child, so the script sees a second one
# while it is stopping the stack (and a terminal user presses Ctrl-C again).
signal_twice() {
  kill "-$1" -- "-$2"
  sleep 0.05
  kill "-$1" -- "-$2" 2>/dev/null || true
}

echo "== Ctrl-C (SIGINT to the foreground group) stops everything"
signal_twice INT "$group"
stops_cleanly || fail "left behind after Ctrl-C"
[ ! -e "$NOTIFY_DEV_DIR/env" ] || fail "$NOTIFY_DEV_DIR/env outlived make dev"

echo "== a start right after works; SIGTERM to make's group stops everything"
group="$(start 2)"
ready || fail "make dev did not start again; see $NOTIFY_DEV_DIR/make-2.log"
signal_twice TERM "$group"
stops_cleanly || fail "left behind after SIGTERM"

echo "make dev: survives killed workers, answers as its contract says, refuses a second start, stops cleanly on Ctrl-C and on SIGTERM, starts again right after"
