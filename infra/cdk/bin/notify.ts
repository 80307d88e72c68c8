#!/usr/bin/env node
// The CDK app: one stack, `Notify`, the same system as template.yaml (infra/parity.py compares them).
//
// `cdk deploy` builds the twelve Rust functions (the API, one worker per channel (six), the
// cleanup, the events, the changes, the callbacks and the realtime functions) with `cargo lambda
// build --release --arm64` (cargo-lambda on PATH, or Docker); the thirteenth,
// SmsDeliveryStatusLoggingFunction, is inline Python (the custom resource that turns SNS's SMS
// delivery status logging on), with nothing to build.
// Set NOTIFY_CDK_SKIP_BUNDLING=1 to synthesise without building anything
// (offline checks, scripts/iac.sh): the CLI refuses `--context aws:cdk:bundling-stacks=...`
// (reserved prefix) and sets it to every stack for `synth`, so the app sets it after the CLI.
import * as cdk from 'aws-cdk-lib';
import { NotifyStack } from '../lib/notify-stack';

const skipBundling = ['1', 'true'].includes(process.env.NOTIFY_CDK_SKIP_BUNDLING ?? '');

const app = new cdk.App({
  analyticsReporting: false,
  postCliContext: skipBundling ? { 'aws:cdk:bundling-stacks': [] } : undefined,
});

new NotifyStack(app, 'Notify', {
  description: 'notify: serverless notification service (email, SMS, push, webhooks, in-app, Slack and Teams)',
});
