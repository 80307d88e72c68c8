#!/usr/bin/env python3
"""The channel list of template.yaml, and the per-channel parts Fn::ForEach cannot write.

template.yaml writes the per-channel skeleton once, in Fn::ForEach loops over the channels and,
nested, the priorities (AWS::LanguageExtensions): the queues and their dead-letter queues, the
event source mappings, the workers' log groups and every per-queue and per-worker alarm. This
file holds the one list those loops iterate (CHANNELS, and PRIORITIES), and writes into
template.yaml, between `# BEGIN GENERATED <part>` and `# END GENERATED <part>` (and on the
lines ending in `# GENERATED <part>`), what a loop cannot express:

  channels, priorities  the loops' collections;
  mappings              the values the loops look up per channel and per priority (Mappings);
  workers               each worker's role and function: besides their common skeleton (written
                        once, below) they carry the channel's own permissions and settings, which
                        are structured values (Fn::Sub, Fn::If) where a loop can only pick strings
                        from Mappings;
  queue-arns, dead-letter-queue-arns, queue-urls
                        every queue, in the API's and the cleanup's permissions and environment
                        (a loop makes object keys, never list items; the variable names are in
                        capitals, which a loop over the logical IDs cannot derive);
  dashboard-body        the dashboard, a JSON string.

Adding a channel is one entry in CHANNELS (and its worker crate): run this script, and
template.yaml has its queues, DLQs, mappings, alarms, role, function, log group, the API's and
the cleanup's access to its queues and its dashboard rows. infra/test_channels.py fails while
template.yaml is not what this script writes; infra/parity.py then holds it to infra/cdk.

Usage: channels.py [--check] [--template template.yaml]
  (no option: rewrites the generated parts of template.yaml; --check: exits 1 if they differ)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEMPLATE = ROOT / "template.yaml"


@dataclass(frozen=True)
class Channel:
    """A delivery channel: its queues and worker, and what only its worker needs."""

    id: str  # the logical ID prefix: EmailHighQueue, EmailWorkerRole, EmailWorkerHighMapping, ...
    name: str  # the channel as the API spells it (in_app); labels, metrics, the worker's binary
    description: str  # the worker function's
    # The worker role's own IAM statements (template.yaml YAML), after Logs, Records and Consume.
    statements: str = ""
    # The worker function's own environment variables (YAML), after those all workers have.
    variables: str = ""

    @property
    def env(self) -> str:
        """NOTIFY_QUEUE_URL_<env>_<priority env>."""
        return self.name.upper()

    @property
    def worker(self) -> str:
        return f"{self.id}Worker"

    @property
    def binary(self) -> str:
        """The worker's cargo binary, `<name>-worker` with `-` for `_` (in_app: in-app-worker),
        as shared/src/domain/channel.rs's Channel::worker names it."""
        return self.name.replace("_", "-") + "-worker"

    @property
    def policy(self) -> str:
        """The worker role's policy name: emailWorker, inAppWorker."""
        return self.id[0].lower() + self.id[1:] + "Worker"


@dataclass(frozen=True)
class Priority:
    id: str  # EmailHighQueue, EmailWorkerHighMapping, ...
    batching_window: int  # the event source mapping's MaximumBatchingWindowInSeconds
    max_concurrency: int  # and its ScalingConfig.MaximumConcurrency

    @property
    def name(self) -> str:
        return self.id.lower()

    @property
    def env(self) -> str:
        return self.id.upper()


# THE CHANNEL LIST of template.yaml (infra/cdk/lib/notify-stack.ts has the CDK's). Each entry
# makes, once this script has run: 3 queues and 3 DLQs (one per priority), 3 event source
# mappings, a worker (role, function, log group), the DLQ, queue-age and error-rate alarms, the
# API's and the cleanup's access to its queues, its dashboard rows. `statements` and `variables`
# are the channel's own knowledge; the rest is the skeleton every channel shares.
CHANNELS: list[Channel] = [
    Channel(
        id="Email",
        name="email",
        description="Delivers the email queues through Amazon SES",
        statements="""\
            - Sid: Send
              Effect: Allow
              Action:
                - ses:SendEmail
              Resource:
                - !Sub "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*"
                - !Sub "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:configuration-set/${EmailConfigurationSet}"
            """,
        variables="""\
            NOTIFY_EMAIL_FROM: !Ref SenderEmail
            NOTIFY_SES_CONFIGURATION_SET: !Ref EmailConfigurationSet
            # SES's send rate, across all the worker's instances (0: unlimited).
            NOTIFY_SEND_RATE_PER_SECOND: !Ref EmailSendRatePerSecond
            """,
    ),
    Channel(
        id="Sms",
        name="sms",
        description="Delivers the SMS queues through Amazon SNS",
        # An SMS to a phone number has no ARN to scope to.
        statements="""\
            - Sid: Send
              Effect: Allow
              Action:
                - sns:Publish
                - sns:CheckIfPhoneNumberIsOptedOut
              Resource:
                - "*"
            """,
        variables="""\
            NOTIFY_SMS_SENDER_ID: !Ref SmsSenderId
            NOTIFY_SMS_TYPE_NORMAL: !Ref SmsTypeNormal
            # The origination identity's parts a second, across all the worker's instances (0: unlimited).
            NOTIFY_SEND_RATE_PER_SECOND: !Ref SmsPartsPerSecond
            """,
    ),
    Channel(
        id="Push",
        name="push",
        description="Delivers the push queues through Firebase Cloud Messaging",
        statements="""\
            - Sid: FcmKey
              Effect: Allow
              Action:
                - secretsmanager:GetSecretValue
              Resource:
                - !If [CreateFcmSecret, !Ref FcmCredentialsSecret, !Ref FcmCredentialsSecretArn]
            """,
        variables="""\
            NOTIFY_FCM_CREDENTIALS_SECRET: !If [CreateFcmSecret, !Ref FcmCredentialsSecret, !Ref FcmCredentialsSecretArn]
            NOTIFY_FCM_PROJECT_ID: !Ref FcmProjectId
            """,
    ),
    Channel(
        id="Webhook",
        name="webhook",
        description="Delivers the webhook queues: signed HTTPS POSTs (Standard Webhooks)",
        # No AWS permissions beyond its queues, the table (endpoints, records) and its logs.
        variables="""\
            NOTIFY_WEBHOOK_TIMEOUT_SECONDS: !Ref WebhookTimeoutSeconds
            """,
    ),
    Channel(
        id="InApp",
        name="in_app",
        description="Delivers the in-app queues: the user's inbox, pushed to their live WebSocket connections",
        statements="""\
            # The inbox items, counters and change log (written in TransactWriteItems, which IAM
            # authorises as the Put and Update in it) and the connection items deleted on 410
            # Gone are the skeleton's Records. The pushes: POST to a connection of the WebSocket
            # API's stage, nothing else of the API.
            - Sid: PushToConnections
              Effect: Allow
              Action:
                - execute-api:ManageConnections
              Resource:
                - !Sub "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${WebSocketStage}/POST/@connections/*"
            """,
        variables="""\
            # The WebSocket API stage's management endpoint (the worker refuses to start without it).
            NOTIFY_WEBSOCKET_ENDPOINT: !Sub "https://${WebSocketApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/${WebSocketStage}"
            """,
    ),
    Channel(
        id="Chat",
        name="chat",
        description="Delivers the chat queues to Slack (incoming webhooks, chat.postMessage) and Microsoft Teams (Workflows)",
        # No AWS permissions beyond its queues, the table (chat targets, the send slots taken
        # with a conditional UpdateItem, records) and its logs.
        variables="""\
            # Its posts go through the webhooks' network guard, with their timeout.
            NOTIFY_WEBHOOK_TIMEOUT_SECONDS: !Ref WebhookTimeoutSeconds
            NOTIFY_SLACK_API_URL: !Ref SlackApiUrl
            """,
    ),
]

# Highest first: each has its own queue and mapping, so a low backlog never starves high.
PRIORITIES: list[Priority] = [
    Priority("High", batching_window=0, max_concurrency=50),
    Priority("Normal", batching_window=1, max_concurrency=20),
    Priority("Low", batching_window=5, max_concurrency=5),
]


# What the events function counts, per batch (EMF, dimension Function=events; the names are
# functions/events/src/lib.rs's): shown on the dashboard.
EVENT_OUTCOMES: list[str] = ["Recorded", "Duplicate", "NotYet", "Foreign", "Ignored", "Unreadable", "StoreErrors"]
# What the changes function counts, per stream batch (EMF, dimension Function=changes; the names
# are functions/changes/src/lib.rs's): shown on the dashboard with the function's IteratorAge.
CHANGES_COUNTS: list[str] = ["Records", "StatusChanges"]
# What the callbacks function counts (EMF, dimension Function=callbacks; functions/callbacks), and
# the callbacks the changes function queues (Function=changes): shown on the dashboard with the
# callbacks queue and its DLQ.
CALLBACK_OUTCOMES: list[str] = ["Delivered", "Retried", "Failed", "Unreadable"]
CALLBACKS_QUEUED = "CallbacksQueued"
# SNS's SMS delivery status log groups (logical ID, label): the records logged, on the dashboard.
SMS_STATUS_LOG_GROUPS: list[tuple[str, str]] = [
    ("SmsDeliveryStatusLogGroup", "successes"),
    ("SmsDeliveryStatusFailureLogGroup", "failures"),
]


# ----------------------------------------------------------------------------- rendering


def pairs() -> list[tuple[Channel, Priority]]:
    return [(c, p) for c in CHANNELS for p in PRIORITIES]


def _block(text: str, indent: int) -> list[str]:
    """A YAML snippet of CHANNELS, re-indented."""
    return [" " * indent + line if line else line for line in textwrap.dedent(text).splitlines()]


def render_channels() -> str:
    return "[" + ", ".join(c.id for c in CHANNELS) + "]"


def render_priorities() -> str:
    return "[" + ", ".join(p.id for p in PRIORITIES) + "]"


def render_mappings() -> list[str]:
    lines = ["# Per channel and per priority, the values the loops of Resources look up."]
    lines.append("Channels:")
    lines += [f"  {c.id}: {{Name: {c.name}}}" for c in CHANNELS]
    lines.append("Priorities:")
    lines += [
        f"  {p.id}: {{Name: {p.name}, BatchingWindow: {p.batching_window}, MaxConcurrency: {p.max_concurrency}}}"
        for p in PRIORITIES
    ]
    return lines


def render_queue_arns() -> list[str]:
    return [f"- !GetAtt {c.id}{p.id}Queue.Arn" for c, p in pairs()]


def render_dead_letter_queue_arns() -> list[str]:
    return [f"- !GetAtt {c.id}{p.id}DeadLetterQueue.Arn" for c, p in pairs()]


def render_queue_urls() -> list[str]:
    return [f"NOTIFY_QUEUE_URL_{c.env}_{p.env}: !Ref {c.id}{p.id}Queue" for c, p in pairs()]


def render_dead_letter_queue_urls() -> list[str]:
    return [f"NOTIFY_DLQ_URL_{c.env}_{p.env}: !Ref {c.id}{p.id}DeadLetterQueue" for c, p in pairs()]


def render_workers() -> list[str]:
    lines: list[str] = []
    for c in CHANNELS:
        lines += textwrap.dedent(
            f"""\
            {c.worker}Role:
              Type: AWS::IAM::Role
              Properties:
                AssumeRolePolicyDocument:
                  Version: "2012-10-17"
                  Statement:
                    - Effect: Allow
                      Principal: {{Service: lambda.amazonaws.com}}
                      Action: sts:AssumeRole
                Policies:
                  - PolicyName: {c.policy}
                    PolicyDocument:
                      Version: "2012-10-17"
                      Statement:
                        - Sid: Logs
                          Effect: Allow
                          Action:
                            - logs:CreateLogStream
                            - logs:PutLogEvents
                          Resource:
                            - !GetAtt {c.worker}FunctionLogGroup.Arn
                        - Sid: Records
                          Effect: Allow
                          Action:
                            - dynamodb:GetItem
                            - dynamodb:PutItem
                            - dynamodb:UpdateItem
                            - dynamodb:DeleteItem
                            - dynamodb:Query
                          Resource:
                            - !GetAtt NotificationsTable.Arn
                            - !Sub "${{NotificationsTable.Arn}}/index/*"
                        - Sid: Consume
                          Effect: Allow
                          Action:
                            - sqs:ReceiveMessage
                            - sqs:DeleteMessage
                            - sqs:ChangeMessageVisibility
                            - sqs:GetQueueAttributes
                            - sqs:GetQueueUrl
                            - sqs:SendMessage
                          Resource:
            """
        ).splitlines()
        lines += [f"                - !GetAtt {c.id}{p.id}Queue.Arn" for p in PRIORITIES]
        lines += _block(c.statements, 12)
        lines += textwrap.dedent(
            f"""\
            {c.worker}Function:
              Type: AWS::Serverless::Function
              Metadata:
                BuildMethod: rust-cargolambda
                BuildProperties:
                  Binary: {c.binary}
              Properties:
                Description: "{c.description}"
                CodeUri: .
                Handler: bootstrap
                Runtime: provided.al2023
                Architectures: [arm64]
                MemorySize: 256
                Timeout: 30
                Role: !GetAtt {c.worker}Role.Arn
                LoggingConfig:
                  LogGroup: !Ref {c.worker}FunctionLogGroup
                Environment:
                  Variables:
                    NOTIFY_TABLE: !Ref NotificationsTable
                    NOTIFY_METRICS_NAMESPACE: !Ref MetricsNamespace
                    RUST_LOG: info
                    NOTIFY_MAX_RECEIVES: !Ref MaxReceives
            """
        ).splitlines()
        lines += _block(c.variables, 8)
    return lines


def _metric_widget(x: int, y: int, width: int, title: str, metrics: list[list]) -> str:
    widget = {
        "type": "metric",
        "x": x,
        "y": y,
        "width": width,
        "height": 6,
        "properties": {
            "title": title,
            "region": "${AWS::Region}",
            "view": "timeSeries",
            "stacked": False,
            "period": 60,
            "metrics": metrics,
        },
    }
    return json.dumps(widget, ensure_ascii=False)


def render_dashboard_body() -> list[str]:
    """Eight rows under a title: API, queues, functions, deliveries (the service's EMF metrics, by
    Channel), receipts (the events function's counts, its queue), SNS's SMS delivery status log
    groups, the stats counters (the changes function's counts, its IteratorAge, its DLQ), status
    callbacks (the callbacks function's counts and the changes function's, its queue and DLQ);
    infra/cdk builds the same widgets."""
    def api(metric: str, stat: str, label: str) -> list:
        return ["AWS/ApiGateway", metric, "ApiId", "${HttpApi}", {"stat": stat, "label": label}]

    def per_channel(metric: str, stat: str) -> list[list]:
        return [
            ["${MetricsNamespace}", metric, "Channel", c.name, {"stat": stat, "label": c.name}]
            for c in CHANNELS
        ]

    def per_queue(metric: str, suffix: str) -> list[list]:
        return [
            ["AWS/SQS", metric, "QueueName", "${" + f"{c.id}{p.id}{suffix}.QueueName" + "}",
             {"stat": "Maximum", "label": f"{c.name} {p.name}"}]
            for c, p in pairs()
        ]

    functions = [c.worker for c in CHANNELS] + ["Api", "Cleanup", "Events", "Changes", "Callbacks", "Realtime"]

    def queue_metric(metric: str, queue: str, label: str) -> list:
        return ["AWS/SQS", metric, "QueueName", "${" + f"{queue}.QueueName" + "}", {"stat": "Maximum", "label": label}]

    def per_function(metric: str, stat: str) -> list[list]:
        return [
            ["AWS/Lambda", metric, "FunctionName", "${" + f"{k}Function" + "}", {"stat": stat, "label": k}]
            for k in functions
        ]

    title = {"type": "text", "x": 0, "y": 0, "width": 24, "height": 1,
             "properties": {"markdown": "## notify: API, queues, workers and deliveries"}}
    widgets = [json.dumps(title)]
    widgets += [
        _metric_widget(0, 1, 8, "API requests", [api("Count", "Sum", "requests"), api("4xx", "Sum", "4xx"), api("5xx", "Sum", "5xx")]),
        _metric_widget(8, 1, 8, "API latency", [api("Latency", "p50", "p50"), api("Latency", "p99", "p99")]),
        _metric_widget(16, 1, 8, "Notifications accepted", per_channel("Accepted", "Sum")),
        _metric_widget(0, 7, 8, "Queue depth", per_queue("ApproximateNumberOfMessagesVisible", "Queue")),
        _metric_widget(8, 7, 8, "Age of oldest message (s)", per_queue("ApproximateAgeOfOldestMessage", "Queue")),
        _metric_widget(16, 7, 8, "Dead-letter queue depth", per_queue("ApproximateNumberOfMessagesVisible", "DeadLetterQueue")),
        _metric_widget(0, 13, 6, "Invocations", per_function("Invocations", "Sum")),
        _metric_widget(6, 13, 6, "Errors", per_function("Errors", "Sum")),
        _metric_widget(12, 13, 6, "Throttles", per_function("Throttles", "Sum")),
        _metric_widget(18, 13, 6, "Duration p99 (ms)", per_function("Duration", "p99")),
        _metric_widget(0, 19, 6, "Sent per channel", per_channel("Sent", "Sum")),
        _metric_widget(6, 19, 6, "Failed per channel", per_channel("Failed", "Sum")),
        _metric_widget(12, 19, 6, "Suppressed per channel", per_channel("Suppressed", "Sum")),
        _metric_widget(18, 19, 6, "Provider latency p99 (ms)", per_channel("ProviderLatency", "p99")),
        _metric_widget(0, 25, 12, "Receipts: SES events and SMS statuses", [
            ["${MetricsNamespace}", name, "Function", "events", {"stat": "Sum", "label": name}] for name in EVENT_OUTCOMES
        ]),
        _metric_widget(12, 25, 6, "Events queue: age of oldest message (s)", [
            queue_metric("ApproximateAgeOfOldestMessage", "EventsQueue", "events"),
        ]),
        _metric_widget(18, 25, 6, "Events queue depth", [
            queue_metric("ApproximateNumberOfMessagesVisible", "EventsQueue", "queue"),
            queue_metric("ApproximateNumberOfMessagesVisible", "EventsDeadLetterQueue", "dead-letter queue"),
        ]),
        # What SNS logged (the records the subscriptions hand to the events function).
        _metric_widget(0, 31, 12, "SMS delivery statuses logged", [
            ["AWS/Logs", "IncomingLogEvents", "LogGroupName", "${" + group + "}", {"stat": "Sum", "label": label}]
            for group, label in SMS_STATUS_LOG_GROUPS
        ]),
        # The stats counters: what the changes function counted, and how far behind the table's
        # stream it is (the stats' lag; ChangesIteratorAgeAlarm at 5 minutes).
        _metric_widget(0, 37, 12, "Stats: stream records and status changes counted", [
            ["${MetricsNamespace}", name, "Function", "changes", {"stat": "Sum", "label": name}] for name in CHANGES_COUNTS
        ]),
        _metric_widget(12, 37, 6, "Stats lag: stream iterator age (ms)", [
            ["AWS/Lambda", "IteratorAge", "FunctionName", "${ChangesFunction}", {"stat": "Maximum", "label": "changes"}],
        ]),
        _metric_widget(18, 37, 6, "Stats: batches given up (dead-letter queue)", [
            queue_metric("ApproximateNumberOfMessagesVisible", "ChangesDeadLetterQueue", "dead-letter queue"),
        ]),
        # Status callbacks: queued by the changes function, then delivered, retried or failed by
        # the callbacks function; its queue's age and depth, and those given up (its DLQ).
        _metric_widget(0, 43, 12, "Status callbacks", [
            ["${MetricsNamespace}", CALLBACKS_QUEUED, "Function", "changes", {"stat": "Sum", "label": CALLBACKS_QUEUED}],
        ] + [
            ["${MetricsNamespace}", name, "Function", "callbacks", {"stat": "Sum", "label": name}] for name in CALLBACK_OUTCOMES
        ]),
        _metric_widget(12, 43, 6, "Callbacks queue: age of oldest message (s)", [
            queue_metric("ApproximateAgeOfOldestMessage", "CallbacksQueue", "callbacks"),
        ]),
        _metric_widget(18, 43, 6, "Callbacks queue depth", [
            queue_metric("ApproximateNumberOfMessagesVisible", "CallbacksQueue", "queue"),
            queue_metric("ApproximateNumberOfMessagesVisible", "CallbacksDeadLetterQueue", "dead-letter queue"),
        ]),
    ]
    lines = ["DashboardBody: !Sub |", '    {"widgets": [']
    lines += ["      " + w + ("," if i < len(widgets) - 1 else "") for i, w in enumerate(widgets)]
    lines.append("    ]}")
    return lines


BLOCKS = {
    "mappings": render_mappings,
    "queue-arns": render_queue_arns,
    "dead-letter-queue-arns": render_dead_letter_queue_arns,
    "queue-urls": render_queue_urls,
    "dead-letter-queue-urls": render_dead_letter_queue_urls,
    "workers": render_workers,
    "dashboard-body": render_dashboard_body,
}
LINES = {"channels": render_channels, "priorities": render_priorities}

BEGIN = re.compile(r"^(?P<indent> *)# BEGIN GENERATED (?P<part>[a-z-]+)\b.*$")
END = re.compile(r"^ *# END GENERATED (?P<part>[a-z-]+)\s*$")
LINE = re.compile(r"^(?P<head> *- )(?P<value>\[[^\]]*\])(?P<tag> +# GENERATED (?P<part>[a-z-]+)\b.*)$")


class GenerationError(ValueError):
    pass


def render(text: str) -> str:
    """template.yaml's text with every generated part as this file writes it."""
    out: list[str] = []
    lines = text.split("\n")
    seen: set[str] = set()
    i = 0
    while i < len(lines):
        line = lines[i]
        tagged = LINE.match(line)
        if tagged:
            part = tagged["part"]
            if part not in LINES:
                raise GenerationError(f"line {i + 1}: unknown generated line {part!r}")
            seen.add(part)
            out.append(tagged["head"] + LINES[part]() + tagged["tag"])
            i += 1
            continue
        begin = BEGIN.match(line)
        if not begin:
            if END.match(line):
                raise GenerationError(f"line {i + 1}: END GENERATED without its BEGIN")
            out.append(line)
            i += 1
            continue
        part, indent = begin["part"], len(begin["indent"])
        if part not in BLOCKS:
            raise GenerationError(f"line {i + 1}: unknown generated part {part!r}")
        j = i + 1
        while j < len(lines) and not END.match(lines[j]):
            if BEGIN.match(lines[j]):
                raise GenerationError(f"line {j + 1}: BEGIN GENERATED inside {part!r}")
            j += 1
        if j == len(lines) or END.match(lines[j])["part"] != part:
            raise GenerationError(f"line {i + 1}: {part!r} has no matching END GENERATED {part}")
        seen.add(part)
        out.append(line)
        out += [" " * indent + x if x else x for x in BLOCKS[part]()]
        out.append(lines[j])
        i = j + 1
    missing = sorted((set(BLOCKS) | set(LINES)) - seen)
    if missing:
        raise GenerationError(f"template has no generated part {', '.join(missing)}")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--template", type=Path, default=DEFAULT_TEMPLATE)
    parser.add_argument("--check", action="store_true", help="exit 1 if the generated parts are not up to date")
    args = parser.parse_args(argv)
    text = args.template.read_text(encoding="utf-8")
    try:
        rendered = render(text)
    except GenerationError as e:
        print(f"channels: {args.template}: {e}", file=sys.stderr)
        return 2
    if args.check:
        if rendered != text:
            print(
                f"channels: the generated parts of {args.template.name} are out of date: "
                "run python3 infra/channels.py",
                file=sys.stderr,
            )
            return 1
        print(f"channels: {args.template.name} is up to date ({len(CHANNELS)} channels, {len(PRIORITIES)} priorities)")
        return 0
    if rendered != text:
        args.template.write_text(rendered, encoding="utf-8")
        print(f"channels: rewrote the generated parts of {args.template}")
    else:
        print(f"channels: {args.template.name} already up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
