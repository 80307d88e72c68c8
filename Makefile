# The two commands of the README, and a few helpers.
.PHONY: dev test tools outbox redrive lint release bench load fuzz console-test

## Run the whole stack locally (emulator, functions, queue delivery) and print how to call it.
dev:
	@scripts/dev.sh

## The whole test suite: fmt, clippy, unit and integration tests (starts the emulator itself).
test:
	@scripts/test.sh

## Install the local tools (moto, cargo-lambda, standardwebhooks, schemathesis) into .dev/venv.
tools:
	@scripts/tools.sh

## List what the local SES, SNS, FCM, webhook receiver and Slack/Teams stand-in got (while `make dev` runs).
outbox:
	@cargo run --quiet --bin notify-local -- outbox --endpoint http://127.0.0.1:$${NOTIFY_EMULATOR_PORT:-4566} \
		--fcm-url http://127.0.0.1:$${NOTIFY_FCM_PORT:-4580} --receiver-url http://127.0.0.1:$${NOTIFY_RECEIVER_PORT:-4590} \
		--chat-url http://127.0.0.1:$${NOTIFY_CHAT_PORT:-4595}

## Move every dead-lettered message back to its queue (while `make dev` runs).
redrive:
	@. ./.dev/env && curl -sS -X POST "$$NOTIFY_API_URL/v1/admin/redrive" \
		-H "Authorization: Bearer $$NOTIFY_ADMIN_KEY" && echo

## The console in a headless Chromium against a running `make dev` (screenshots in target/console-screenshots).
console-test:
	@scripts/console_test.sh

## N notifications across the channels against a running `make dev`: latencies, and a check
## that every one reached a final status and none was sent twice (N=200, C=16 by default).
load:
	@python3 scripts/load.py -n $${N:-200} -c $${C:-16} --chaos $${CHAOS:-0}

## How long the API takes to accept 10,000 recipients (in-memory ports, then the emulator), a worker a batch of 10,
## what a notification costs in AWS requests; then the cold starts of every function's release binary beside a
## hello-world (COLD_START_RUNS, 21 by default).
bench: tools
	cargo bench -p notify-tests --bench batch_accept --bench worker_batch --bench cost
	cargo build --release --bin api --bin email-worker --bin sms-worker --bin push-worker --bin webhook-worker \
		--bin in-app-worker --bin chat-worker --bin realtime \
		--bin cleanup --bin events --bin changes --bin callbacks --example hello_world --example cold_start
	@# The in-process API that queues the workers' messages prints its metric lines on stdout: keep the table.
	$${CARGO_TARGET_DIR:-target}/release/examples/cold_start > $${CARGO_TARGET_DIR:-target}/release/cold-start.txt
	@grep -v '"_aws"' $${CARGO_TARGET_DIR:-target}/release/cold-start.txt

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

## Release builds of the functions for Lambda (arm64), with their sizes.
release: tools
	PATH="$$PWD/.dev/venv/bin:$$PATH" cargo lambda build --release --arm64 \
		--bin api --bin email-worker --bin sms-worker --bin push-worker --bin webhook-worker --bin in-app-worker --bin chat-worker \
		--bin events --bin changes --bin callbacks --bin cleanup --bin realtime
	@ls -l target/lambda/*/bootstrap

## The contract fuzzer against a running `make dev`: FUZZ_SECONDS (120), FUZZ_SEED to repeat a run.
fuzz:
	@scripts/fuzz.sh
