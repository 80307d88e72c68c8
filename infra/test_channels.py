#!/usr/bin/env python3
"""Tests of infra/channels.py: template.yaml is what it writes, and a channel added to its list
is all a new channel takes.

Run: python3 infra/test_channels.py (scripts/iac.sh runs it with .dev/iac-venv's Python).
"""

from __future__ import annotations

import sys
import unittest
from pathlib import Path
from unittest import mock

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import channels  # noqa: E402
import parity  # noqa: E402

TEMPLATE = channels.DEFAULT_TEMPLATE


def expanded(text: str) -> dict:
    """template.yaml's text as CloudFormation deploys it (loops expanded, Mappings looked up)."""
    template = yaml.load(text, Loader=parity.CfnYamlLoader)  # noqa: S506
    out: list[str] = []
    result = parity.prepare(template, "template", out)
    assert out == [], out
    return result


class ChannelsTest(unittest.TestCase):
    def test_template_yaml_is_what_the_generator_writes(self) -> None:
        text = TEMPLATE.read_text(encoding="utf-8")
        self.assertEqual(
            channels.render(text), text, "template.yaml is out of date: run python3 infra/channels.py"
        )

    def test_every_channel_and_priority_has_its_resources(self) -> None:
        resources = expanded(TEMPLATE.read_text(encoding="utf-8"))["Resources"]
        for c in channels.CHANNELS:
            for suffix in ("WorkerRole", "WorkerFunction", "WorkerFunctionLogGroup", "WorkerErrorRateAlarm"):
                self.assertIn(f"{c.id}{suffix}", resources)
            for p in channels.PRIORITIES:
                for suffix in ("Queue", "DeadLetterQueue", "DeadLetterQueueAlarm", "QueueAgeAlarm"):
                    self.assertIn(f"{c.id}{p.id}{suffix}", resources)
                mapping = resources[f"{c.id}Worker{p.id}Mapping"]["Properties"]
                self.assertEqual(mapping["FunctionName"], {"Ref": f"{c.id}WorkerFunction"})
                self.assertEqual(mapping["MaximumBatchingWindowInSeconds"], p.batching_window)
                self.assertEqual(mapping["ScalingConfig"], {"MaximumConcurrency": p.max_concurrency})

    def test_adding_a_channel_to_the_list_is_all_it_takes(self) -> None:
        before = expanded(TEMPLATE.read_text(encoding="utf-8"))["Resources"]
        fax = channels.Channel(id="Fax", name="fax", description="Delivers the fax queues")
        with mock.patch.object(channels, "CHANNELS", [*channels.CHANNELS, fax]):
            text = channels.render(TEMPLATE.read_text(encoding="utf-8"))
        t = expanded(text)
        r = t["Resources"]
        new = sorted(set(r) - set(before))
        self.assertEqual(
            new,
            sorted(
                [f"Fax{p.id}{s}" for p in channels.PRIORITIES for s in ("Queue", "DeadLetterQueue", "DeadLetterQueueAlarm", "QueueAgeAlarm")]
                + [f"FaxWorker{p.id}Mapping" for p in channels.PRIORITIES]
                + ["FaxWorkerRole", "FaxWorkerFunction", "FaxWorkerFunctionLogGroup", "FaxWorkerErrorRateAlarm"]
            ),
        )
        self.assertEqual(set(before) - set(r), set())
        self.assertEqual(parity.norm(r["FaxHighQueueAgeAlarm"]["Properties"]["AlarmDescription"]),
                         "The fax high-priority queue is falling behind")
        function = r["FaxWorkerFunction"]
        self.assertEqual(function["Metadata"]["BuildProperties"], {"Binary": "fax-worker"})
        self.assertEqual(function["Properties"]["Role"], {"Fn::GetAtt": ["FaxWorkerRole", "Arn"]})
        # The skeleton's grants only: its log group, the table, its own three queues.
        grants = parity.iam_grants(r["FaxWorkerRole"]["Properties"]["Policies"], "", [])
        resources = {g[2] for g in grants}
        self.assertEqual(
            {x for x in resources if "Queue" in x},
            {f'Resource:{{"Fn::Sub": "${{Fax{p.id}Queue.Arn}}"}}' for p in channels.PRIORITIES},
        )
        self.assertFalse([g for g in grants if g[1].startswith(("Action:ses:", "Action:sns:", "Action:secretsmanager:"))])
        # The API and the cleanup reach its queues; the dashboard shows them.
        api = r["ApiFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(api["NOTIFY_QUEUE_URL_FAX_LOW"], {"Ref": "FaxLowQueue"})
        self.assertEqual(api["NOTIFY_DLQ_URL_FAX_LOW"], {"Ref": "FaxLowDeadLetterQueue"})
        cleanup = r["CleanupFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(cleanup["NOTIFY_QUEUE_URL_FAX_HIGH"], {"Ref": "FaxHighQueue"})
        for role in ("ApiRole", "CleanupRole"):
            grants = parity.iam_grants(r[role]["Properties"]["Policies"], "", [])
            self.assertTrue([g for g in grants if "FaxNormalQueue" in g[2]], role)
        metrics, _ = parity.dashboard_metrics(parity.norm(r["Dashboard"]["Properties"]["DashboardBody"]), "", [])
        self.assertIn(("AWS/SQS", "ApproximateAgeOfOldestMessage", (("QueueName", "${FaxLowQueue.QueueName}"),)), metrics)
        self.assertIn(("AWS/Lambda", "Errors", (("FunctionName", "${FaxWorkerFunction}"),)), metrics)
        self.assertIn(("${MetricsNamespace}", "Sent", (("Channel", "fax"),)), metrics)
        self.assertLint(text)

    def test_a_name_with_an_underscore(self) -> None:
        # As in_app: the variables keep the `_` (Rust's QueueUrls::var_name upper-cases the
        # name), the binary has `-` (Channel::worker), the logical IDs are the id's.
        group = channels.Channel(id="GroupChat", name="group_chat", description="Delivers the group chat queues")
        self.assertEqual((group.env, group.binary, group.policy), ("GROUP_CHAT", "group-chat-worker", "groupChatWorker"))
        with mock.patch.object(channels, "CHANNELS", [*channels.CHANNELS, group]):
            text = channels.render(TEMPLATE.read_text(encoding="utf-8"))
        r = expanded(text)["Resources"]
        self.assertEqual(r["GroupChatWorkerFunction"]["Metadata"]["BuildProperties"], {"Binary": "group-chat-worker"})
        self.assertEqual(r["GroupChatWorkerRole"]["Properties"]["Policies"][0]["PolicyName"], "groupChatWorker")
        api = r["ApiFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(api["NOTIFY_QUEUE_URL_GROUP_CHAT_HIGH"], {"Ref": "GroupChatHighQueue"})
        self.assertEqual(parity.norm(r["GroupChatLowQueueAgeAlarm"]["Properties"]["AlarmDescription"]),
                         "The group_chat low-priority queue is falling behind")

    def test_the_in_app_worker_pushes_to_the_websocket_stage(self) -> None:
        r = expanded(TEMPLATE.read_text(encoding="utf-8"))["Resources"]
        function = r["InAppWorkerFunction"]
        self.assertEqual(function["Metadata"]["BuildProperties"], {"Binary": "in-app-worker"})
        variables = function["Properties"]["Environment"]["Variables"]
        self.assertEqual(
            parity.norm(variables["NOTIFY_WEBSOCKET_ENDPOINT"]),
            {"Fn::Sub": "https://${WebSocketApi}.execute-api.${AWS::Region}.amazonaws.com/${WebSocketStage}"},
        )
        grants = parity.iam_grants(r["InAppWorkerRole"]["Properties"]["Policies"], "", [])
        self.assertEqual(
            {(g[1], g[2]) for g in grants if g[1].startswith("Action:execute-api:")},
            {("Action:execute-api:manageconnections",
              'Resource:{"Fn::Sub": "arn:aws:execute-api:${AWS::Region}:${AWS::AccountId}:${WebSocketApi}/${WebSocketStage}/POST/@connections/*"}')},
        )
        # No other worker reaches the connections.
        for c in channels.CHANNELS:
            if c.id != "InApp":
                other = parity.iam_grants(r[f"{c.worker}Role"]["Properties"]["Policies"], "", [])
                self.assertFalse([g for g in other if g[1].startswith("Action:execute-api:")], c.id)
        # Its queues, as the Rust side names their variables (QueueUrls::var_name).
        cleanup = r["CleanupFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(cleanup["NOTIFY_QUEUE_URL_IN_APP_NORMAL"], {"Ref": "InAppNormalQueue"})
        self.assertEqual(cleanup["NOTIFY_DLQ_URL_IN_APP_LOW"], {"Ref": "InAppLowDeadLetterQueue"})
        # On the dashboard, with the realtime function.
        metrics, _ = parity.dashboard_metrics(parity.norm(r["Dashboard"]["Properties"]["DashboardBody"]), "", [])
        for fn in ("InAppWorkerFunction", "RealtimeFunction"):
            self.assertIn(("AWS/Lambda", "Errors", (("FunctionName", "${" + fn + "}"),)), metrics)
        self.assertIn(("${MetricsNamespace}", "Sent", (("Channel", "in_app"),)), metrics)

    def test_the_chat_worker_posts_with_the_webhooks_timeout_to_slacks_web_api(self) -> None:
        text = TEMPLATE.read_text(encoding="utf-8")
        r = expanded(text)["Resources"]
        function = r["ChatWorkerFunction"]
        self.assertEqual(function["Metadata"]["BuildProperties"], {"Binary": "chat-worker"})
        variables = function["Properties"]["Environment"]["Variables"]
        # The webhook worker's timeout (the same parameter: both post through the network guard).
        self.assertEqual(variables["NOTIFY_WEBHOOK_TIMEOUT_SECONDS"], {"Ref": "WebhookTimeoutSeconds"})
        webhook = r["WebhookWorkerFunction"]["Properties"]["Environment"]["Variables"]
        self.assertEqual(webhook["NOTIFY_WEBHOOK_TIMEOUT_SECONDS"], {"Ref": "WebhookTimeoutSeconds"})
        # Slack's Web API, for chat.postMessage: the chat worker's only.
        self.assertEqual(variables["NOTIFY_SLACK_API_URL"], {"Ref": "SlackApiUrl"})
        for c in channels.CHANNELS:
            if c.id != "Chat":
                self.assertNotIn("NOTIFY_SLACK_API_URL", r[f"{c.worker}Function"]["Properties"]["Environment"]["Variables"], c.id)
        parameters = yaml.load(text, Loader=parity.CfnYamlLoader)["Parameters"]  # noqa: S506
        self.assertEqual(
            {k: v for k, v in parameters["SlackApiUrl"].items() if k != "Description"},
            {"Type": "String", "Default": "https://slack.com/api"},
        )
        # The targets read (GetItem), the send slots (a conditional UpdateItem), the records: the
        # skeleton's Records statement covers them.
        grants = parity.iam_grants(r["ChatWorkerRole"]["Properties"]["Policies"], "", [])
        table = 'Resource:{"Fn::Sub": "${NotificationsTable.Arn}"}'
        for action in ("getitem", "putitem", "updateitem", "query"):
            self.assertIn(("Allow", f"Action:dynamodb:{action}", table, ""), grants)
        # Nothing else: the webhook worker's grants, on its own log group and queues.
        webhook_grants = parity.iam_grants(r["WebhookWorkerRole"]["Properties"]["Policies"], "", [])
        self.assertEqual(grants, {(e, a, res.replace("Webhook", "Chat"), c) for e, a, res, c in webhook_grants})
        # On the dashboard.
        metrics, _ = parity.dashboard_metrics(parity.norm(r["Dashboard"]["Properties"]["DashboardBody"]), "", [])
        self.assertIn(("AWS/Lambda", "Errors", (("FunctionName", "${ChatWorkerFunction}"),)), metrics)
        self.assertIn(("AWS/SQS", "ApproximateNumberOfMessagesVisible", (("QueueName", "${ChatLowDeadLetterQueue.QueueName}"),)), metrics)
        self.assertIn(("${MetricsNamespace}", "Sent", (("Channel", "chat"),)), metrics)

    def assertLint(self, text: str) -> None:
        try:
            from cfnlint.api import ManualArgs, lint
        except ImportError:  # pragma: no cover (cfn-lint is in .dev/iac-venv)
            return
        self.assertEqual([str(m) for m in lint(text, config=ManualArgs(regions=["us-east-1"]))], [])

    def test_markers(self) -> None:
        text = TEMPLATE.read_text(encoding="utf-8")
        with self.assertRaisesRegex(channels.GenerationError, "no generated part dashboard-body"):
            channels.render(text.replace("# BEGIN GENERATED dashboard-body", "# begin").replace("# END GENERATED dashboard-body", "# end"))
        with self.assertRaisesRegex(channels.GenerationError, "BEGIN GENERATED inside 'workers'"):
            channels.render(text.replace("# END GENERATED workers", "# end"))
        with self.assertRaisesRegex(channels.GenerationError, "'dashboard-body' has no matching END"):
            channels.render(text.replace("# END GENERATED dashboard-body", "# end"))
        with self.assertRaisesRegex(channels.GenerationError, "unknown generated part 'nope'"):
            channels.render(text.replace("# BEGIN GENERATED workers", "# BEGIN GENERATED nope", 1))
        stale = text.replace("NOTIFY_QUEUE_URL_SMS_LOW: !Ref SmsLowQueue", "NOTIFY_QUEUE_URL_SMS_LOW: !Ref SmsHighQueue", 1)
        self.assertNotEqual(stale, text)
        self.assertEqual(channels.render(stale), text)


if __name__ == "__main__":
    unittest.main(verbosity=1)
