#!/usr/bin/env bash
# `make dev`: the whole stack on loopback. Installs what is missing, starts the AWS-API
# emulator, the FCM stand-in and the webhook receiver, creates the table and queues, runs the
# functions as Lambda runs them (notify-local's local Lambda: started again when they die,
# rebuilt when the code changes; the API behind a function URL), delivers queued messages to
# the workers as the SQS event source mapping would, and prints the API URL, a dev API key and ready-to-paste curls (the URL and
# key are also written to .dev/env).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/tools.sh
export PATH="$PWD/.dev/venv/bin:$PATH"

emulator_port="${NOTIFY_EMULATOR_PORT:-4566}"
api_port="${NOTIFY_API_PORT:-9000}"
fcm_port="${NOTIFY_FCM_PORT:-4580}"
receiver_port="${NOTIFY_RECEIVER_PORT:-4590}"
websocket_port="${NOTIFY_WEBSOCKET_PORT:-9001}"
chat_port="${NOTIFY_CHAT_PORT:-4595}"
emulator="http://127.0.0.1:$emulator_port"
fcm="http://127.0.0.1:$fcm_port"
receiver="http://127.0.0.1:$receiver_port"
websocket="ws://127.0.0.1:$websocket_port"
chat="http://127.0.0.1:$chat_port"
invoke="http://127.0.0.1:$api_port"
api_url="$invoke/lambda-url/api"
# Where this stack's state lives (keys, environment, logs); NOTIFY_DEV_DIR lets a second
# stack run beside the first (the stop test does).
state="${NOTIFY_DEV_DIR:-.dev}"
logs="$state/logs"
mkdir -p "$logs"

# One make dev at a time: a second one says so instead of half-starting. Only this script
# holds the lock: every process it starts gets `9>&-`, so none that is still exiting after a
# stop (the emulator, a function) keeps the next start out.
exec 9>"$state/dev.lock"
if ! flock -n 9; then
  echo "error: make dev is already running here (pid $(cat "$state/dev.pid" 2>/dev/null || echo '?')); stop it first (Ctrl-C)" >&2
  exit 1
fi
echo "$$" >"$state/dev.pid"
rm -f "$state/env"

groups=()
stopping=""
cleanup() {
  # Ignore the signals that keep coming while we stop (make forwards a second TERM, a
  # Ctrl-C reaches the whole foreground group): a cleanup cut short leaves processes behind.
  trap '' INT TERM
  trap - EXIT
  [ -n "$stopping" ] && return
  stopping=1
  rm -f "$state/env" "$state/env.pending"
  for g in "${groups[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=""
    for g in "${groups[@]}"; do kill -0 -- "-$g" 2>/dev/null && alive=1; done
    [ -z "$alive" ] && break
    sleep 0.1
  done
  for g in "${groups[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
  rm -f "$state/dev.pid"
  exit 0
}
trap cleanup EXIT INT TERM

port_busy() { .dev/venv/bin/python -c "import socket,sys; s=socket.socket(); sys.exit(0 if s.connect_ex(('127.0.0.1', $1)) == 0 else 1)"; }
for port in "$api_port" "$fcm_port" "$receiver_port" "$websocket_port" "$chat_port"; do
  if port_busy "$port"; then
    echo "error: port $port is in use (another make dev?). Stop it, or set NOTIFY_API_PORT / NOTIFY_FCM_PORT / NOTIFY_RECEIVER_PORT / NOTIFY_WEBSOCKET_PORT / NOTIFY_CHAT_PORT." >&2
    exit 1
  fi
done

started="$(scripts/emulator.sh "$emulator_port" "$logs/emulator.log" 9>&-)"
[ -n "$started" ] && groups+=("$started")
echo "emulator:  $emulator (log $logs/emulator.log)"

echo "building:  the functions and the local tools (the first build compiles the AWS SDK: several minutes)"
cargo build --workspace --bins --quiet

./target/debug/notify-local setup --endpoint "$emulator" --api-url "$api_url" --fcm-url "$fcm" \
  --receiver-url "$receiver" --websocket-url "$websocket" --chat-url "$chat" --dir "$state"
# $state/env appears once the API answers, so a script that waits for it can start at once.
mv "$state/env" "$state/env.pending"

setsid ./target/debug/notify-local fcm --fcm-url "$fcm" --dir "$state" >"$logs/fcm.log" 2>&1 9>&- &
groups+=("$!")
echo "FCM:       $fcm (stand-in, log $logs/fcm.log)"

setsid ./target/debug/notify-local receiver --receiver-url "$receiver" --endpoint "$emulator" \
  >"$logs/receiver.log" 2>&1 9>&- &
groups+=("$!")
echo "webhooks:  $receiver (a receiver that verifies signatures, log $logs/receiver.log)"

setsid ./target/debug/notify-local chat --chat-url "$chat" >"$logs/chat.log" 2>&1 9>&- &
groups+=("$!")
echo "chat:      $chat (Slack and Teams stand-in, log $logs/chat.log)"

# API Gateway's WebSocket API (a stand-in) in front of the realtime function.
setsid ./target/debug/notify-local websocket --websocket-url "$websocket" --dir "$state" \
  --bin-dir target/debug >"$logs/websocket.log" 2>&1 9>&- &
groups+=("$!")
echo "WebSocket: $websocket (stand-in for API Gateway's, log $logs/websocket.log)"

# The API behind a Lambda function URL, up to 8 requests at once (AWS_LAMBDA_MAX_CONCURRENCY).
setsid ./target/debug/notify-local api --listen "127.0.0.1:$api_port" --dir "$state" \
  --bin-dir target/debug >"$logs/functions.log" 2>&1 9>&- &
groups+=("$!")
# The queues' event source mappings and the schedules, with the workers and the cleanup they
# invoke; and the rebuild of every function when the code changes.
setsid ./target/debug/notify-local poll --endpoint "$emulator" --fcm-url "$fcm" --dir "$state" \
  --bin-dir target/debug --watch . >"$logs/poller.log" 2>&1 9>&- &
groups+=("$!")

echo -n "starting:  functions on $invoke "
for _ in $(seq 1 600); do
  if curl -sf "$api_url/health" >/dev/null 2>&1; then break; fi
  for g in "${groups[@]}"; do
    kill -0 "$g" 2>/dev/null || { echo; echo "error: a process exited; see $logs/" >&2; exit 1; }
  done
  echo -n "."
  sleep 1
done
curl -sf "$api_url/health" >/dev/null || { echo; echo "error: the API did not answer; see $logs/functions.log" >&2; exit 1; }
echo " up"
mv "$state/env.pending" "$state/env"

# shellcheck disable=SC1091
source "$state/env"
cat <<BANNER

  notify is running locally.

    API URL   $NOTIFY_API_URL
    API key   $NOTIFY_API_KEY
    Test key  $NOTIFY_TEST_KEY   (sends nothing: a simulator stands in)
    Console   $NOTIFY_API_URL/console   (paste the API key; the admin key for Operations)
    (all in $state/env:  source $state/env)

  Send an email:

    curl -sS -X POST "$NOTIFY_API_URL/v1/notifications" \\
      -H "Authorization: Bearer $NOTIFY_API_KEY" -H "Content-Type: application/json" \\
      -d '{"channel":"email","to":"jane@example.com","subject":"Hello from notify","text":"It works."}'

  Send an SMS:

    curl -sS -X POST "$NOTIFY_API_URL/v1/notifications" \\
      -H "Authorization: Bearer $NOTIFY_API_KEY" -H "Content-Type: application/json" \\
      -d '{"channel":"sms","to":"+33612345678","message":"Your code is 123456","priority":"high"}'

  Register a device, then push to its user:

    curl -sS -X PUT "$NOTIFY_API_URL/v1/users/jane/devices/demo-device-token" \\
      -H "Authorization: Bearer $NOTIFY_API_KEY" -H "Content-Type: application/json" \\
      -d '{"platform":"android"}'
    curl -sS -X POST "$NOTIFY_API_URL/v1/notifications" \\
      -H "Authorization: Bearer $NOTIFY_API_KEY" -H "Content-Type: application/json" \\
      -d '{"channel":"push","userId":"jane","title":"Hello","body":"From notify"}'

  Register a webhook endpoint at the local receiver (the answer shows its signing
  secret, once), then send it an event:

    curl -sS -X PUT "$NOTIFY_API_URL/v1/webhooks/endpoints/orders" \\
      -H "Authorization: Bearer $NOTIFY_API_KEY" -H "Content-Type: application/json" \\
      -d '{"url":"$receiver/orders"}'
    curl -sS -X POST "$NOTIFY_API_URL/v1/notifications" \\
      -H "Authorization: Bearer $NOTIFY_API_KEY" -H "Content-Type: application/json" \\
      -d '{"channel":"webhook","endpoint":"orders","payload":{"type":"order.shipped","orderId":42}}'

  Then a status (use the id from the answer):

    curl -sS "$NOTIFY_API_URL/v1/notifications/<id>" -H "Authorization: Bearer $NOTIFY_API_KEY"

  With a template (built-in: otp, welcome, reset, confirmation, event-confirmation,
  event-reminder, newsletter; list them with GET /v1/templates, save yours with PUT):

    curl -sS -X POST "$NOTIFY_API_URL/v1/notifications" \\
      -H "Authorization: Bearer $NOTIFY_API_KEY" -H "Content-Type: application/json" \\
      -d '{"channel":"sms","to":"+33612345678","template":"otp","locale":"fr","data":{"code":"123456"}}'

  To many recipients at once (up to 10,000), then the batch's progress:

    curl -sS -X POST "$NOTIFY_API_URL/v1/notifications/batch" \\
      -H "Authorization: Bearer $NOTIFY_API_KEY" -H "Content-Type: application/json" \\
      -d '{"channel":"email","template":"newsletter","batchId":"demo","data":{"month":"Janvier 2027"},
           "recipients":[{"to":"alice@example.com","data":{"name":"Alice"}},{"to":"bob@example.com","data":{"name":"Bob"}}]}'
    curl -sS "$NOTIFY_API_URL/v1/batches/demo" -H "Authorization: Bearer $NOTIFY_API_KEY"

  Status callbacks: subscribe the local receiver to every event (the answer shows the
  signing secret if this created it); each send then calls it back (make outbox):

    curl -sS -X PUT "$NOTIFY_API_URL/v1/callbacks" \\
      -H "Authorization: Bearer $NOTIFY_API_KEY" -H "Content-Type: application/json" \\
      -d '{"subscriptions":[{"url":"$receiver/callbacks"}]}'

  Delivered, bounced, suppressed: SES's mailbox simulator works here as on SES (success@,
  bounce@, complaint@, suppressionlist@simulator.amazonses.com; SMS to +33755512501 is
  delivered, +33755512502 fails), then the list, the suppressions and the stats:

    curl -sS -X POST "$NOTIFY_API_URL/v1/notifications" \\
      -H "Authorization: Bearer $NOTIFY_API_KEY" -H "Content-Type: application/json" \\
      -d '{"channel":"email","to":"bounce@simulator.amazonses.com","subject":"Hi","text":"Bounces"}'
    curl -sS "$NOTIFY_API_URL/v1/notifications?status=failed" -H "Authorization: Bearer $NOTIFY_API_KEY"
    curl -sS "$NOTIFY_API_URL/v1/suppressions" -H "Authorization: Bearer $NOTIFY_API_KEY"
    curl -sS "$NOTIFY_API_URL/v1/stats" -H "Authorization: Bearer $NOTIFY_API_KEY"

  The Event Planner API's routes answer too, e.g.
    POST $NOTIFY_API_URL/api/notifications/email   (see README, "The Event Planner API")

  Later, or retried exactly once:  add "scheduledAt":"<RFC 3339 time>" to the body,
  or send the header  -H "Idempotency-Key: <your key>"

  In-app: a user's inbox, live over WebSocket (see README, "The in-app inbox"):

    curl -sS -X POST "$NOTIFY_API_URL/v1/notifications" \\
      -H "Authorization: Bearer $NOTIFY_API_KEY" -H "Content-Type: application/json" \\
      -d '{"channel":"in_app","userId":"jane","title":"Order shipped","body":"Your order is on its way","actionUrl":"/orders/42"}'
    curl -sS "$NOTIFY_API_URL/v1/users/jane/inbox" -H "Authorization: Bearer $NOTIFY_API_KEY"
    WebSocket URL: $NOTIFY_WEBSOCKET_URL (with ?token=<a user token>)

  Slack (or Teams): register a target at the local stand-in, then send it a message:

    curl -sS -X PUT "$NOTIFY_API_URL/v1/chat/targets/ops" \\
      -H "Authorization: Bearer $NOTIFY_API_KEY" -H "Content-Type: application/json" \\
      -d '{"type":"slack_webhook","url":"$chat/slack/webhook/T000/B000/XXXX"}'
    curl -sS -X POST "$NOTIFY_API_URL/v1/notifications" \\
      -H "Authorization: Bearer $NOTIFY_API_KEY" -H "Content-Type: application/json" \\
      -d '{"channel":"chat","target":"ops","text":"db-1 is down"}'

  Tenants and keys (admin key in $state/env): a tenant, a key with only the send scope,
  a test send that reaches "delivered" with nothing sent (see README, "Tenants and keys"):

    curl -sS -X POST "$NOTIFY_API_URL/v1/admin/tenants" \\
      -H "Authorization: Bearer $NOTIFY_ADMIN_KEY" -H "Content-Type: application/json" \\
      -d '{"id":"acme","name":"Acme","limits":{"requestsPerMinute":2}}'
    curl -sS -X POST "$NOTIFY_API_URL/v1/admin/tenants/acme/keys" \\
      -H "Authorization: Bearer $NOTIFY_ADMIN_KEY" -H "Content-Type: application/json" \\
      -d '{"scopes":["send"]}'
    curl -sS -X POST "$NOTIFY_API_URL/v1/notifications" \\
      -H "Authorization: Bearer $NOTIFY_TEST_KEY" -H "Content-Type: application/json" \\
      -d '{"channel":"email","to":"jane@example.com","subject":"Hi","text":"Simulated"}'

  What SES, SNS, FCM, the receiver and Slack/Teams got:   make outbox
  Move dead-lettered messages back:          make redrive
  Logs:    $logs/ (functions, poller, fcm, receiver, websocket, chat, emulator)
  Stop:    Ctrl-C

BANNER
# In the background with `wait`, so Ctrl-C (or a TERM) runs the cleanup at once.
setsid tail -n 0 -f "$logs/functions.log" "$logs/poller.log" "$logs/fcm.log" "$logs/receiver.log" \
  "$logs/websocket.log" "$logs/chat.log" 9>&- &
groups+=("$!")
wait "$!"
