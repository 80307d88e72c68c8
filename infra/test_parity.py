#!/usr/bin/env python3
"""Self-tests of infra/parity.py: equal things compare equal, and every kind of drift fails.

Run: python3 infra/test_parity.py (scripts/iac.sh runs it before parity.py itself).
"""

from __future__ import annotations

import copy
import json
import sys
import textwrap
import unittest
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
import parity  # noqa: E402

SAM = textwrap.dedent(
    """
    AWSTemplateFormatVersion: '2010-09-09'
    Transform: AWS::Serverless-2016-10-31
    Parameters:
      MaxReceives: {Type: Number, Default: 5, MinValue: 2, MaxValue: 20, Description: sam words}
      ApiKeys: {Type: String, NoEcho: true}
      AlarmEmail: {Type: String, Default: ''}
    Conditions:
      HasAlarmEmail: !Not [!Equals [!Ref AlarmEmail, '']]
    Globals:
      Function:
        Runtime: provided.al2023
        Architectures: [arm64]
        Handler: bootstrap
        Timeout: 30
        Environment:
          Variables:
            RUST_LOG: info
    Resources:
      EmailHighDeadLetterQueue:
        Type: AWS::SQS::Queue
        Properties: {MessageRetentionPeriod: 1209600}
      EmailHighQueue:
        Type: AWS::SQS::Queue
        Properties:
          VisibilityTimeout: 180
          RedrivePolicy:
            deadLetterTargetArn: !GetAtt EmailHighDeadLetterQueue.Arn
            maxReceiveCount: !Ref MaxReceives
      EmailWorkerRole:
        Type: AWS::IAM::Role
        Properties:
          AssumeRolePolicyDocument:
            Version: 2012-10-17
            Statement:
              - {Effect: Allow, Principal: {Service: lambda.amazonaws.com}, Action: sts:AssumeRole}
          ManagedPolicyArns:
            - !Sub arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole
          Policies:
            - PolicyName: sam-name
              PolicyDocument:
                Version: '2012-10-17'
                Statement:
                  - Effect: Allow
                    Action: [sqs:ReceiveMessage, sqs:DeleteMessage]
                    Resource: !GetAtt EmailHighQueue.Arn
                  - Effect: Allow
                    Action: ses:SendEmail
                    Resource: !Sub arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/*
      EmailWorkerFunction:
        Type: AWS::Serverless::Function
        Metadata: {BuildMethod: rust-cargolambda, BuildProperties: {Binary: email-worker}}
        Properties:
          CodeUri: .
          MemorySize: 256
          Role: !GetAtt EmailWorkerRole.Arn
          Environment:
            Variables:
              NOTIFY_MAX_RECEIVES: !Ref MaxReceives
              NOTIFY_QUEUE: !Ref EmailHighQueue
      CleanupSweepSchedule:
        Type: AWS::Events::Rule
        Properties:
          ScheduleExpression: rate(1 minute)
          Targets:
            - {Id: cleanup, Arn: !GetAtt EmailWorkerFunction.Arn, Input: '{"task": "sweep"}'}
      AlarmTopic:
        Type: AWS::SNS::Topic
      DlqAlarm:
        Type: AWS::CloudWatch::Alarm
        Properties:
          Metrics:
            - Id: rate
              Expression: 100 * e / i
              ReturnData: true
            - Id: e
              MetricStat:
                Metric: {Namespace: AWS/Lambda, MetricName: Errors, Dimensions: [{Name: FunctionName, Value: !Ref EmailWorkerFunction}]}
                Period: 60
                Stat: Sum
              ReturnData: false
          Threshold: 5
          AlarmActions: [!Ref AlarmTopic]
      Dashboard:
        Type: AWS::CloudWatch::Dashboard
        Properties:
          DashboardBody: !Sub |
            {"widgets": [
              {"type": "metric", "properties": {"metrics": [
                ["AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName", "${EmailHighQueue.QueueName}"],
                [".", "ApproximateAgeOfOldestMessage", ".", "."],
                ["${MetricsNamespace}", "Sent", "Channel", "email", {"stat": "Sum"}],
                [{"expression": "SUM(METRICS())", "label": "all"}]
              ], "period": ${Period}}},
              {"type": "text", "properties": {"markdown": "hello"}}
            ]}
    """
)

CDK = {
    "Description": "anything",
    "Parameters": {
        "MaxReceives": {"Type": "Number", "Default": 5, "MinValue": 2, "MaxValue": 20},
        "ApiKeys": {"Type": "String", "NoEcho": True},
        "AlarmEmail": {"Type": "String", "Default": ""},
        "BootstrapVersion": {"Type": "AWS::SSM::Parameter::Value<String>", "Default": "/cdk-bootstrap/hnb659fds/version"},
    },
    "Conditions": {"HasAlarmEmail": {"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]}},
    "Rules": {"CheckBootstrapVersion": {"Assertions": []}},
    "Resources": {
        "CDKMetadata": {"Type": "AWS::CDK::Metadata", "Properties": {"Analytics": "v2"}},
        "EmailHighDeadLetterQueue": {"Type": "AWS::SQS::Queue", "Properties": {"MessageRetentionPeriod": "1209600"}},
        "EmailHighQueue": {
            "Type": "AWS::SQS::Queue",
            "Properties": {
                "RedrivePolicy": {
                    "maxReceiveCount": {"Ref": "MaxReceives"},
                    "deadLetterTargetArn": {"Fn::GetAtt": ["EmailHighDeadLetterQueue", "Arn"]},
                },
                "VisibilityTimeout": 180,
            },
        },
        "EmailWorkerRole": {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Statement": [
                        {"Action": "sts:AssumeRole", "Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]}}
                    ],
                    "Version": "2012-10-17",
                },
                "ManagedPolicyArns": [
                    {
                        "Fn::Join": [
                            "",
                            ["arn:", {"Ref": "AWS::Partition"}, ":iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"],
                        ]
                    }
                ],
                "Policies": [
                    {
                        "PolicyName": "cdk-name-1",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {"Effect": "Allow", "Action": "sqs:DeleteMessage", "Resource": [{"Fn::GetAtt": ["EmailHighQueue", "Arn"]}]},
                            ],
                        },
                    },
                    {
                        "PolicyName": "cdk-name-2",
                        "PolicyDocument": {
                            "Version": "2012-10-17",
                            "Statement": [
                                {"Effect": "Allow", "Action": ["sqs:ReceiveMessage"], "Resource": {"Fn::GetAtt": "EmailHighQueue.Arn"}},
                                {
                                    "Effect": "Allow",
                                    "Action": "ses:SendEmail",
                                    "Resource": {
                                        "Fn::Join": [
                                            ":",
                                            ["arn", {"Ref": "AWS::Partition"}, "ses", {"Ref": "AWS::Region"}, {"Ref": "AWS::AccountId"}, "identity/*"],
                                        ]
                                    },
                                },
                            ],
                        },
                    },
                ],
            },
        },
        "EmailWorkerFunction": {
            "Type": "AWS::Lambda::Function",
            "DependsOn": ["EmailWorkerRole"],
            "Metadata": {
                "aws:cdk:path": "Notify/EmailWorkerFunction/Resource",
                "aws:asset:path": "/work",
                "BuildMethod": "rust-cargolambda",
                "BuildProperties": {"Binary": "email-worker"},
            },
            "Properties": {
                "Code": {"S3Bucket": "b", "S3Key": "k.zip"},
                "Runtime": "provided.al2023",
                "Architectures": ["arm64"],
                "Handler": "bootstrap",
                "Timeout": 30,
                "MemorySize": 256,
                "Role": {"Fn::GetAtt": ["EmailWorkerRole", "Arn"]},
                "Environment": {
                    "Variables": {
                        "RUST_LOG": "info",
                        "NOTIFY_MAX_RECEIVES": {"Ref": "MaxReceives"},
                        "NOTIFY_QUEUE": {"Ref": "EmailHighQueue"},
                    }
                },
            },
        },
        "CleanupSweepSchedule": {
            "Type": "AWS::Events::Rule",
            "Properties": {
                "ScheduleExpression": "rate(1 minute)",
                "Targets": [{"Arn": {"Fn::GetAtt": ["EmailWorkerFunction", "Arn"]}, "Id": "cleanup", "Input": '{"task":"sweep"}'}],
            },
        },
        "AlarmTopic": {"Type": "AWS::SNS::Topic"},
        "DlqAlarm": {
            "Type": "AWS::CloudWatch::Alarm",
            "Properties": {
                "AlarmActions": [{"Ref": "AlarmTopic"}],
                "Threshold": 5,
                "Metrics": [
                    {
                        "Id": "e",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "AWS/Lambda",
                                "MetricName": "Errors",
                                "Dimensions": [{"Name": "FunctionName", "Value": {"Ref": "EmailWorkerFunction"}}],
                            },
                            "Period": 60,
                            "Stat": "Sum",
                        },
                        "ReturnData": False,
                    },
                    {"Id": "rate", "Expression": "100 * e / i", "ReturnData": True},
                ],
            },
        },
        "Dashboard": {
            "Type": "AWS::CloudWatch::Dashboard",
            "Properties": {
                "DashboardBody": {
                    "Fn::Join": [
                        "",
                        [
                            '{"widgets":[{"type":"metric","properties":{"period":',
                            {"Ref": "Period"},
                            ',"metrics":[["',
                            {"Ref": "MetricsNamespace"},
                            '","Sent","Channel","email"],[{"expression":"SUM(METRICS())"}]]}},'
                            '{"type":"metric","properties":{"metrics":[["AWS/SQS","ApproximateAgeOfOldestMessage","QueueName","',
                            {"Fn::GetAtt": ["EmailHighQueue", "QueueName"]},
                            '"],["AWS/SQS","ApproximateNumberOfMessagesVisible","QueueName","',
                            {"Fn::GetAtt": ["EmailHighQueue", "QueueName"]},
                            '",{"label":"x"}]]}}]}',
                        ],
                    ]
                }
            },
        },
    },
}


def fixed_cdk() -> dict:
    return copy.deepcopy(CDK)


class ParityTest(unittest.TestCase):
    def sam(self) -> dict:
        return yaml.load(SAM, Loader=parity.CfnYamlLoader)  # noqa: S506

    def assertAgree(self, sam: dict, cdk: dict) -> None:
        self.assertEqual(parity.compare(sam, cdk), [])

    def assertDrift(self, sam: dict, cdk: dict, *fragments: str) -> None:
        differences = parity.compare(sam, cdk)
        self.assertTrue(differences, "expected a difference")
        text = "\n".join(differences)
        for fragment in fragments:
            self.assertIn(fragment, text)

    def test_equal_templates_in_different_spellings_agree(self) -> None:
        self.assertAgree(self.sam(), fixed_cdk())

    def test_normalisation(self) -> None:
        n = parity.norm
        self.assertEqual(n({"Ref": "X"}), n({"Fn::Sub": "${X}"}))
        self.assertEqual(n({"Fn::GetAtt": "X.Arn"}), n({"Fn::GetAtt": ["X", "Arn"]}))
        self.assertEqual(n({"Fn::Join": ["", ["a-", {"Ref": "X"}]]}), n({"Fn::Sub": "a-${X}"}))
        self.assertEqual(n({"Fn::Sub": ["a-${Y}", {"Y": {"Ref": "X"}}]}), n({"Fn::Sub": "a-${X}"}))
        self.assertEqual(n({"Fn::Sub": "arn:${AWS::Partition}:s3:::b"}), "arn:aws:s3:::b")
        self.assertEqual(n(180), n("180"))
        self.assertEqual(n(0.05), n("0.050"))
        self.assertEqual(n(True), n("true"))
        self.assertNotEqual(n({"Ref": "X"}), n({"Ref": "Y"}))
        self.assertNotEqual(n({"Fn::Sub": "${X}/index/*"}), n({"Fn::GetAtt": ["X", "Arn"]}))

    def test_a_setting_on_one_side_only_fails(self) -> None:
        sam = self.sam()
        sam["Resources"]["EmailHighQueue"]["Properties"]["DelaySeconds"] = 5
        self.assertDrift(sam, fixed_cdk(), "EmailHighQueue.Properties.DelaySeconds: only in template.yaml")
        cdk = fixed_cdk()
        cdk["Resources"]["EmailHighDeadLetterQueue"]["Properties"]["SqsManagedSseEnabled"] = True
        self.assertDrift(self.sam(), cdk, "SqsManagedSseEnabled: only in cdk")
        cdk = fixed_cdk()
        cdk["Resources"]["EmailHighQueue"]["DeletionPolicy"] = "Retain"
        self.assertDrift(self.sam(), cdk, "EmailHighQueue.DeletionPolicy")

    def test_changed_values_fail(self) -> None:
        cdk = fixed_cdk()
        cdk["Resources"]["EmailHighQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] = 5
        self.assertDrift(self.sam(), cdk, "maxReceiveCount")
        cdk = fixed_cdk()
        cdk["Resources"]["DlqAlarm"]["Properties"]["Metrics"][1]["Expression"] = "e / i"
        self.assertDrift(self.sam(), cdk, "DlqAlarm")
        cdk = fixed_cdk()
        cdk["Resources"]["CleanupSweepSchedule"]["Properties"]["Targets"][0]["Input"] = '{"task":"purge"}'
        self.assertDrift(self.sam(), cdk, "CleanupSweepSchedule")

    def test_json_text_compares_parsed(self) -> None:
        sam, cdk = self.sam(), fixed_cdk()
        sam["Resources"]["EmailHighQueue"]["Properties"]["RedrivePolicy"] = '{"maxReceiveCount": 5, "deadLetterTargetArn": "a"}'
        cdk["Resources"]["EmailHighQueue"]["Properties"]["RedrivePolicy"] = {"deadLetterTargetArn": "a", "maxReceiveCount": "5"}
        self.assertAgree(sam, cdk)
        cdk["Resources"]["EmailHighQueue"]["Properties"]["RedrivePolicy"]["maxReceiveCount"] = 6
        self.assertDrift(sam, cdk, "RedrivePolicy.maxReceiveCount")

    def test_parameters_and_conditions(self) -> None:
        cdk = fixed_cdk()
        cdk["Parameters"]["MaxReceives"]["Default"] = 6
        self.assertDrift(self.sam(), cdk, "Parameters.MaxReceives.Default")
        cdk = fixed_cdk()
        del cdk["Parameters"]["ApiKeys"]["NoEcho"]
        self.assertDrift(self.sam(), cdk, "Parameters.ApiKeys.NoEcho")
        cdk = fixed_cdk()
        cdk["Parameters"]["Extra"] = {"Type": "String"}
        self.assertDrift(self.sam(), cdk, "parameter only in cdk: Extra")
        cdk = fixed_cdk()
        cdk["Conditions"]["HasAlarmEmail"] = {"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}
        self.assertDrift(self.sam(), cdk, "Conditions.HasAlarmEmail")

    def test_logical_ids(self) -> None:
        cdk = fixed_cdk()
        cdk["Resources"]["AlarmTopic2"] = cdk["Resources"].pop("AlarmTopic")
        self.assertDrift(self.sam(), cdk, "logical ID only in template.yaml: AlarmTopic", "only in cdk: AlarmTopic2")

    def test_functions(self) -> None:
        sam = self.sam()
        sam["Globals"]["Function"]["Timeout"] = 10
        self.assertDrift(sam, fixed_cdk(), "EmailWorkerFunction.Properties.Timeout")
        sam = self.sam()
        sam["Globals"]["Function"]["Tracing"] = "Active"
        self.assertDrift(sam, fixed_cdk(), "TracingConfig: only in template.yaml")
        sam = self.sam()
        sam["Resources"]["EmailWorkerFunction"]["Metadata"]["BuildProperties"]["Binary"] = "api"
        self.assertDrift(sam, fixed_cdk(), "Binary")
        cdk = fixed_cdk()
        cdk["Resources"]["EmailWorkerFunction"]["Properties"]["Environment"]["Variables"]["NOTIFY_QUEUE"] = {
            "Ref": "EmailHighDeadLetterQueue"
        }
        self.assertDrift(self.sam(), cdk, "Variables.NOTIFY_QUEUE")
        cdk = fixed_cdk()
        del cdk["Resources"]["EmailWorkerFunction"]["Properties"]["Environment"]["Variables"]["RUST_LOG"]
        self.assertDrift(self.sam(), cdk, "Variables.RUST_LOG: only in template.yaml")
        sam = self.sam()
        sam["Resources"]["EmailWorkerFunction"]["Properties"]["Events"] = {"Q": {"Type": "SQS"}}
        self.assertDrift(sam, fixed_cdk(), "SAM-only shorthand")
        cdk = fixed_cdk()
        cdk["Resources"]["EmailWorkerFunction"]["Properties"]["Architectures"] = ["x86_64"]
        self.assertDrift(self.sam(), cdk, "Architectures")

    def test_inline_functions(self) -> None:
        """Inline code (Code.ZipFile) has no binary: the code is what is compared."""
        def with_inline(template: dict, code: str) -> dict:
            template["Resources"]["Inline"] = {
                "Type": "AWS::Lambda::Function",
                "Properties": {
                    "Runtime": "python3.12",
                    "Handler": "index.handler",
                    "Role": {"Fn::GetAtt": ["EmailWorkerRole", "Arn"]},
                    "Code": {"ZipFile": code},
                },
            }
            return template

        code = "import cfnresponse\n\ndef handler(event, context):\n    pass\n"
        # A YAML block scalar and a CDK string may end differently.
        self.assertAgree(with_inline(self.sam(), code), with_inline(fixed_cdk(), code.rstrip("\n")))
        self.assertDrift(
            with_inline(self.sam(), code),
            with_inline(fixed_cdk(), code.replace("pass", "return")),
            "Inline.Properties.Code.ZipFile: differs (line 4:",
        )
        cdk = with_inline(fixed_cdk(), code)
        cdk["Resources"]["Inline"]["Properties"]["Code"] = {"S3Bucket": "b", "S3Key": "k.zip"}
        self.assertDrift(with_inline(self.sam(), code), cdk, "Inline.Properties.Code.ZipFile")
        # Neither inline nor built from a binary: still reported.
        sam, cdk = with_inline(self.sam(), code), with_inline(fixed_cdk(), code)
        for t in (sam, cdk):
            t["Resources"]["Inline"]["Properties"]["Code"] = {"S3Bucket": "b", "S3Key": "k.zip"}
        self.assertDrift(sam, cdk, "Inline.Metadata.BuildProperties.Binary: missing")

    def test_iam(self) -> None:
        cdk = fixed_cdk()
        statements = cdk["Resources"]["EmailWorkerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        statements.append({"Effect": "Allow", "Action": "sqs:PurgeQueue", "Resource": "*"})
        self.assertDrift(self.sam(), cdk, "grant only in cdk", "sqs:purgequeue")
        sam = self.sam()
        sam["Resources"]["EmailWorkerRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][1][
            "Resource"
        ] = "*"
        self.assertDrift(sam, fixed_cdk(), "ses:sendemail")
        cdk = fixed_cdk()
        cdk["Resources"]["EmailWorkerRole"]["Properties"]["ManagedPolicyArns"] = []
        self.assertDrift(self.sam(), cdk, "ManagedPolicyArns")

    def test_dashboard(self) -> None:
        cdk = fixed_cdk()
        body = cdk["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Join"][1]
        body[4] = body[4].replace("Sent", "Failed")
        self.assertDrift(self.sam(), cdk, "metric only in template.yaml", "Sent", "metric only in cdk", "Failed")
        cdk = fixed_cdk()
        body = cdk["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Join"][1]
        body[4] = body[4].replace("SUM(METRICS())", "AVG(METRICS())")
        self.assertDrift(self.sam(), cdk, "expression only in cdk: AVG(METRICS())")

    def test_unsupported_sam_resources_are_reported(self) -> None:
        sam = self.sam()
        sam["Resources"]["Api"] = {"Type": "AWS::Serverless::HttpApi", "Properties": {}}
        self.assertDrift(sam, fixed_cdk(), "AWS::Serverless::HttpApi generates resources implicitly")

    def test_a_looped_template_agrees_with_its_expansion(self) -> None:
        sam = self.sam()
        sam["Transform"] = [parity.LANGUAGE_EXTENSIONS, parity.SERVERLESS]
        resources = sam["Resources"]
        del resources["EmailHighDeadLetterQueue"], resources["EmailHighQueue"]
        resources["Fn::ForEach::Queues"] = yaml.load(LOOPED_QUEUES, Loader=parity.CfnYamlLoader)  # noqa: S506
        sam["Mappings"] = {"Retention": {"Dlq": {"Seconds": 1209600}}}
        self.assertAgree(sam, fixed_cdk())
        sam["Mappings"]["Retention"]["Dlq"]["Seconds"] = 60
        self.assertDrift(sam, fixed_cdk(), "Resources.EmailHighDeadLetterQueue.Properties.MessageRetentionPeriod")

    def test_transforms(self) -> None:
        sam = self.sam()
        sam["Transform"] = [parity.SERVERLESS, parity.LANGUAGE_EXTENSIONS]
        self.assertDrift(sam, fixed_cdk(), "AWS::LanguageExtensions must come before")
        sam = self.sam()
        sam["Transform"] = "AWS::Include"
        self.assertDrift(sam, fixed_cdk(), "Transform: template.yaml: unexpected")
        sam = self.sam()
        sam["Resources"]["Fn::ForEach::Queues"] = yaml.load(LOOPED_QUEUES, Loader=parity.CfnYamlLoader)  # noqa: S506
        self.assertDrift(sam, fixed_cdk(), "uses Fn::ForEach without AWS::LanguageExtensions")
        sam["Transform"] = [parity.LANGUAGE_EXTENSIONS, parity.SERVERLESS]
        sam["Resources"]["Fn::ForEach::Queues"][0] = "MaxReceives"
        self.assertDrift(sam, fixed_cdk(), "the identifier MaxReceives is also a parameter")

    def test_find_in_map(self) -> None:
        out: list[str] = []
        t = {
            "Mappings": {"M": {"A": {"X": "1", "L": ["a", "b"]}}, "Unused": {"A": {"X": "2"}}, "Kept": {"A": {"X": "3"}}},
            "Resources": {
                "R": {
                    "Type": "T",
                    "Properties": {
                        "X": {"Fn::FindInMap": ["M", "A", "X"]},
                        "L": {"Fn::FindInMap": ["M", "A", "L"]},
                        "D": {"Fn::FindInMap": ["M", "B", "X", {"DefaultValue": "d"}]},
                        "K": {"Fn::FindInMap": ["Kept", {"Ref": "AWS::Region"}, "X"]},
                    },
                }
            },
        }
        r = parity.resolve_find_in_map(t, out, "t")
        self.assertEqual(out, [])
        self.assertEqual(r["Resources"]["R"]["Properties"], {
            "X": "1", "L": ["a", "b"], "D": "d", "K": {"Fn::FindInMap": ["Kept", {"Ref": "AWS::Region"}, "X"]},
        })
        self.assertEqual(sorted(r["Mappings"]), ["Kept"])
        t["Resources"]["R"]["Properties"]["Y"] = {"Fn::FindInMap": ["M", "A", "Nope"]}
        parity.resolve_find_in_map(t, out, "t")
        self.assertIn("Fn::FindInMap ['M', 'A', 'Nope'] not in the Mappings of t", out[0])


# A queue and its DLQ per channel, as template.yaml writes them (against SAM above).
LOOPED_QUEUES = textwrap.dedent(
    """
    - Channel
    - [Email]
    - ${Channel}HighDeadLetterQueue:
        Type: AWS::SQS::Queue
        Properties:
          MessageRetentionPeriod: !FindInMap [Retention, Dlq, Seconds]
      ${Channel}HighQueue:
        Type: AWS::SQS::Queue
        Properties:
          VisibilityTimeout: 180
          RedrivePolicy:
            deadLetterTargetArn: !GetAtt [!Sub "${Channel}HighDeadLetterQueue", Arn]
            maxReceiveCount: !Ref MaxReceives
    """
)


def expand(text: str) -> dict:
    return parity.expand_language_extensions(yaml.load(textwrap.dedent(text), Loader=parity.CfnYamlLoader))  # noqa: S506


class ForEachTest(unittest.TestCase):
    """parity.expand_language_extensions: Fn::ForEach as CloudFormation expands it."""

    def assertRefused(self, text: str, fragment: str) -> None:
        with self.assertRaises(parity.ExpansionError) as e:
            expand(text)
        self.assertIn(fragment, str(e.exception))

    def test_keys_sub_ref_and_nested_loops(self) -> None:
        t = expand(
            """
            Parameters:
              Size: {Type: Number}
            Resources:
              Topic: {Type: AWS::SNS::Topic}
              Fn::ForEach::Channels:
                - Channel
                - [Email, Sms]
                - ${Channel}Log:
                    Type: AWS::Logs::LogGroup
                    Properties:
                      LogGroupName: !Sub "/notify/${Channel}/${AWS::Region}"
                      Name: !Ref Channel
                      Size: !Ref Size
                      Literal: !Sub "${!Channel} ${Channel}"
                      Tags:
                        Fn::ForEach::Tags:
                          - Tag
                          - [a.b, c-d]
                          - Tag&{Tag}${Channel}: !Sub "${Tag}=${Channel}"
                  Fn::ForEach::Priorities:
                    - Priority
                    - [High, Low]
                    - ${Channel}${Priority}Queue:
                        Type: AWS::SQS::Queue
                        Properties:
                          Arn: !GetAtt [!Sub "${Channel}${Priority}Dlq", Arn]
                          Function: {Ref: !Sub "${Channel}Function"}
                          Words: !Sub
                            - "${Name} ${Priority} ${Other}"
                            - Name: !FindInMap [Channels, !Ref Channel, Name]
                      ${Channel}${Priority}Dlq: {Type: AWS::SQS::Queue}
            Outputs:
              Fn::ForEach::Out:
                - Channel
                - [Email]
                - ${Channel}LogArn:
                    Value: !GetAtt [!Sub "${Channel}Log", Arn]
            Conditions:
              Fn::ForEach::Conditions:
                - Channel
                - [Email]
                - Is${Channel}: !Equals [!Ref Channel, Email]
            """
        )
        r = t["Resources"]
        self.assertEqual(
            list(r),
            ["Topic", "EmailLog", "EmailHighQueue", "EmailHighDlq", "EmailLowQueue", "EmailLowDlq",
             "SmsLog", "SmsHighQueue", "SmsHighDlq", "SmsLowQueue", "SmsLowDlq"],
        )
        self.assertEqual(r["SmsLog"]["Properties"], {
            "LogGroupName": {"Fn::Sub": "/notify/Sms/${AWS::Region}"},
            "Name": "Sms",
            "Size": {"Ref": "Size"},
            "Literal": {"Fn::Sub": "${!Channel} Sms"},
            "Tags": {"TagabSms": "a.b=Sms", "TagcdSms": "c-d=Sms"},
        })
        self.assertEqual(r["SmsLowQueue"]["Properties"], {
            "Arn": {"Fn::GetAtt": ["SmsLowDlq", "Arn"]},
            "Function": {"Ref": "SmsFunction"},
            "Words": {"Fn::Sub": ["${Name} Low ${Other}", {"Name": {"Fn::FindInMap": ["Channels", "Sms", "Name"]}}]},
        })
        self.assertEqual(t["Outputs"], {"EmailLogArn": {"Value": {"Fn::GetAtt": ["EmailLog", "Arn"]}}})
        self.assertEqual(t["Conditions"], {"IsEmail": {"Fn::Equals": ["Email", "Email"]}})

    def test_without_loops_nothing_changes(self) -> None:
        t = {"Resources": {"A": {"Type": "T", "Properties": {"S": {"Fn::Sub": "x"}, "R": {"Ref": "Channel"}}}}}
        self.assertEqual(parity.expand_language_extensions(t), t)

    def test_ambiguous_and_malformed_loops_are_refused(self) -> None:
        loop = "Resources:\n  Fn::ForEach::L:\n    - C\n    - [A, B]\n"
        self.assertRefused(loop + "    - ${C}Q: {Type: T, Properties: {Name: '${C}'}}", "names a loop identifier outside Fn::Sub")
        self.assertRefused(loop + "    - ${C}Q: {Type: T, Properties: {Arn: !GetAtt '${C}D.Arn'}}", "outside Fn::Sub")
        self.assertRefused(loop + "    - Q: {Type: T}", "must name ${C} or &{C}")
        self.assertRefused(loop + "    - ${C}Q: {Type: T}\n  AQ: {Type: T}", "AQ is defined twice")
        self.assertRefused(loop + "    - Q${Other}${C}: {Type: T}", "an output key can only name loop identifiers")
        self.assertRefused(
            "Resources:\n  Fn::ForEach::L:\n    - C\n    - [a-b, a.b]\n    - Q&{C}: {Type: T}", "Qab is generated twice"
        )
        self.assertRefused("Resources:\n  Fn::ForEach::L: [C, !Ref List, {'${C}': {Type: T}}]", "only literal collections")
        self.assertRefused("Resources:\n  Fn::ForEach::L: [C, [A]]", "expected [Identifier")
        self.assertRefused("Resources:\n  Fn::ForEach::L-1: [C, [A], {'${C}': {Type: T}}]", "letters and digits")
        self.assertRefused(
            "Resources:\n  Fn::ForEach::L: [C, [A], {'${C}': {Type: T}, 'Fn::ForEach::M': [C, [B], {'${C}x': {Type: T}}]}]",
            "the identifier C is an enclosing loop's",
        )
        self.assertRefused(
            "Resources:\n  Fn::ForEach::L: [C, [A], {'${C}': {Type: T}}]\n  Fn::ForEach::M: [C, [A], {'${C}': {Type: T}}]\n"
            "Outputs:\n  Fn::ForEach::L: [C, [A], {'${C}': {Value: x}}]",
            "Fn::ForEach::L: the loop name is used twice",
        )
        self.assertRefused("Resources:\n  L: {Type: T}\n  Fn::ForEach::L: [C, [A], {'${C}': {Type: T}}]", "clash with resources")

        def nested(depth: int) -> str:
            body = "{'" + "".join(f"${{I{d}}}" for d in range(1, depth + 1)) + "x': {Type: T}}"
            for d in range(depth, 0, -1):
                body = f"{{'Fn::ForEach::L{d}': [I{d}, [a], {body}]}}"
            return "Resources: " + body

        self.assertEqual(list(expand(nested(5))["Resources"]), ["aaaaax"])
        self.assertRefused(nested(6), "more than 5 nested Fn::ForEach")

    def test_agrees_with_cfn_lint_on_template_yaml(self) -> None:
        """template.yaml expanded here and by cfn-lint's own AWS::LanguageExtensions transform."""
        try:
            from cfnlint.decode import decode
            from cfnlint.template import Template
            from cfnlint.template.transforms._language_extensions import language_extension
        except ImportError:  # pragma: no cover (cfn-lint is in .dev/iac-venv)
            self.skipTest("cfn-lint is not installed")
        path = parity.DEFAULT_SAM
        decoded, matches = decode(str(path))
        self.assertFalse(matches)
        errors, theirs = language_extension(Template(str(path), decoded, ["us-east-1"]))
        self.assertEqual(errors, [])
        theirs = json.loads(json.dumps(theirs, default=str))
        ours = parity.expand_language_extensions(parity.load_template(path))
        out: list[str] = []
        # (Conditions left out: cfn-lint reorders their Fn::Equals; template.yaml loops none.)
        for section in ("Resources", "Outputs"):
            a = parity.norm(parity.resolve_find_in_map(ours, out, "ours").get(section))
            b = parity.norm(parity.resolve_find_in_map(theirs, out, "cfn-lint").get(section))
            self.assertEqual(sorted(a), sorted(b), section)
            for k in a:
                self.assertEqual(a[k], b[k], f"{section}.{k}")
        self.assertEqual(out, [])
        self.assertGreater(len(ours["Resources"]), 60)


if __name__ == "__main__":
    unittest.main(verbosity=1)
