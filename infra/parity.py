#!/usr/bin/env python3
"""Parity between the two definitions of the deployed system.

Compares template.yaml (AWS SAM) with the template the CDK app synthesises
(infra/cdk/cdk.out/Notify.template.json) and exits 1, listing every difference, when they
drift apart:

- Parameters (every attribute but Description), Conditions, Mappings, Rules, Outputs;
- the logical IDs of every resource, per type (AWS::Serverless::Function on the SAM side is
  AWS::Lambda::Function on the CDK side);
- every resource's attributes (Condition, DeletionPolicy, UpdateReplacePolicy, Metadata) and
  every property, compared as data after normalisation, so a setting present on one side only
  is a difference. Special cases:
    functions   SAM's Globals.Function merged in, Tracing/Tags translated, CodeUri and Code
                ignored (where the code comes from), the binary compared through
                Metadata.BuildProperties.Binary (the CDK app writes the binary it builds there);
    IAM roles   inline policies compared as the set of (effect, action, resource, condition)
                grants they make, whatever the policy names and statement grouping;
    dashboards  compared by the metrics they reference (namespace, name, dimensions) and their
                metric math expressions, not by layout;
    JSON text   (event rule Input, access log Format, a RedrivePolicy string) compared parsed.

Normalisation: `!Ref X`, `{"Ref": X}`, `!GetAtt X.Y`, `{"Fn::GetAtt": [X, Y]}`, `!Sub`, and
`Fn::Join` of strings and references all become one canonical `Fn::Sub` string; the pseudo
parameters AWS::Partition and AWS::URLSuffix become `aws` and `amazonaws.com`; numbers, numeric
strings and booleans compare as text (CloudFormation passes them as strings); lists whose order
means nothing (IAM actions and resources, attribute definitions, dimensions, ...) are sorted.

Ignored, as not part of the system: CDK's bookkeeping (AWS::CDK::Metadata, the BootstrapVersion
parameter and CheckBootstrapVersion rule, asset parameters, aws:cdk:* and aws:asset:* metadata),
DependsOn (CDK adds the implicit ones), descriptions of the template and its parameters.

Usage: parity.py [--sam template.yaml] [--cdk infra/cdk/cdk.out/Notify.template.json]
Needs PyYAML (installed with cfn-lint in .dev/iac-venv).
"""

from __future__ import annotations

import argparse
import datetime
import decimal
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SAM = ROOT / "template.yaml"
DEFAULT_CDK = ROOT / "infra" / "cdk" / "cdk.out" / "Notify.template.json"

SAM_LABEL = "template.yaml"
CDK_LABEL = "cdk"

# ----------------------------------------------------------------------------- loading


class CfnYamlLoader(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsic tags (!Ref, !GetAtt, !Sub, ...)."""


def _construct_tag(loader: CfnYamlLoader, tag_suffix: str, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    if tag_suffix == "Ref":
        return {"Ref": value}
    if tag_suffix == "Condition":
        return {"Condition": value}
    if tag_suffix == "GetAtt" and isinstance(value, str):
        value = value.split(".", 1)
    return {f"Fn::{tag_suffix}": value}


CfnYamlLoader.add_multi_constructor("!", _construct_tag)
# Keep timestamps (IAM's Version: 2012-10-17 unquoted) as the text they are.
CfnYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in CfnYamlLoader.yaml_implicit_resolvers.items()
}


def load_template(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".json":
        return json.loads(text)
    return yaml.load(text, Loader=CfnYamlLoader)  # noqa: S506 (SafeLoader subclass)


# ----------------------------------------------------------------------------- normalisation

PSEUDO_LITERALS = {"AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")
# Keys whose list value is a set: element order carries no meaning.
UNORDERED_KEYS = {
    "Action",
    "NotAction",
    "Resource",
    "NotResource",
    "Statement",
    "Service",
    "AWS",
    "Federated",
    "ManagedPolicyArns",
    "AttributeDefinitions",
    "GlobalSecondaryIndexes",
    "LocalSecondaryIndexes",
    "Dimensions",
    "FunctionResponseTypes",
    "AlarmActions",
    "OKActions",
    "InsufficientDataActions",
    "Metrics",
    "Architectures",
    "Targets",
    "Tags",
    "Layers",
    "SecurityGroupIds",
    "SubnetIds",
}
# IAM keys that take a string or a list of strings: one string is a list of one.
SCALAR_OR_LIST_KEYS = {"Action", "NotAction", "Resource", "NotResource", "Service", "AWS", "Federated"}


class Unrenderable(Exception):
    """An intrinsic that has no place in a Fn::Sub string (Fn::If, Fn::Select, ...)."""


def _scalar(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float, decimal.Decimal)):
        return _number_text(str(v))
    if isinstance(v, (datetime.date, datetime.datetime)):
        return v.isoformat()
    s = str(v)
    return _number_text(s) if NUMBER.match(s) else s


def _number_text(s: str) -> str:
    try:
        d = decimal.Decimal(s)
    except decimal.InvalidOperation:
        return s
    if d == d.to_integral_value():
        return str(int(d))
    return format(d.normalize(), "f")


def _finish_sub(template: str) -> Any:
    for pseudo, literal in PSEUDO_LITERALS.items():
        template = template.replace("${" + pseudo + "}", literal)
    if re.search(r"\$\{(?!!)", template) is None:
        return _scalar(template.replace("${!", "${"))
    return {"Fn::Sub": template}


def _as_sub_text(v: Any) -> str:
    """The Fn::Sub template text of a normalised value (raises Unrenderable)."""
    if isinstance(v, str):
        return v.replace("${", "${!")
    if isinstance(v, dict) and set(v) == {"Fn::Sub"} and isinstance(v["Fn::Sub"], str):
        return v["Fn::Sub"]
    raise Unrenderable(json.dumps(v, sort_keys=True))


def norm(v: Any, key: str | None = None) -> Any:
    """Canonical form of a template value (see the module docstring)."""
    result = _norm(v, key)
    if key in SCALAR_OR_LIST_KEYS and not isinstance(result, list):
        return [result]
    return result


def _norm(v: Any, key: str | None) -> Any:
    if isinstance(v, dict):
        if len(v) == 1:
            (k, arg), = v.items()
            if k == "Ref" and isinstance(arg, str):
                return _finish_sub("${" + arg + "}")
            if k == "Fn::GetAtt":
                parts = arg.split(".", 1) if isinstance(arg, str) else list(arg)
                if all(isinstance(p, str) for p in parts):
                    return _finish_sub("${" + ".".join(parts) + "}")
            if k == "Fn::Sub":
                return _norm_sub(arg)
            if k == "Fn::Join" and isinstance(arg, list) and len(arg) == 2 and isinstance(arg[1], list):
                delimiter, parts = _scalar(arg[0]), [norm(p) for p in arg[1]]
                try:
                    return _finish_sub(
                        _as_sub_text(delimiter).join(_as_sub_text(p) for p in parts)
                    )
                except Unrenderable:
                    return {"Fn::Join": [delimiter, parts]}
            if k.startswith("Fn::") or k == "Condition":
                return {k: norm(arg)}
        return {k: norm(val, k) for k, val in sorted(v.items())}
    if isinstance(v, list):
        items = [norm(x) for x in v]
        if key in UNORDERED_KEYS:
            items.sort(key=lambda x: json.dumps(x, sort_keys=True))
        return items
    return _scalar(v)


def _norm_sub(arg: Any) -> Any:
    if isinstance(arg, str):
        template, variables = arg, {}
    else:
        template, variables = arg[0], (arg[1] if len(arg) > 1 else {})
    for name, value in variables.items():
        value = norm(value)
        try:
            text = _as_sub_text(value)
        except Unrenderable:
            return {"Fn::Sub": [template, norm(variables)]}
        template = template.replace("${" + name + "}", text)
    return _finish_sub(template)


# ----------------------------------------------------------------------------- diff


def show(v: Any) -> str:
    text = json.dumps(v, sort_keys=True)
    return text if len(text) <= 400 else text[:400] + "…"


def diff(a: Any, b: Any, path: str, out: list[str]) -> None:
    """Differences between two normalised values (a: template.yaml, b: cdk)."""
    if isinstance(a, dict) and isinstance(b, dict) and not _is_intrinsic(a) and not _is_intrinsic(b):
        for k in sorted(set(a) | set(b)):
            p = f"{path}.{k}"
            if k not in b:
                out.append(f"{p}: only in {SAM_LABEL}: {show(a[k])}")
            elif k not in a:
                out.append(f"{p}: only in {CDK_LABEL}: {show(b[k])}")
            else:
                diff(a[k], b[k], p, out)
        return
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            diff(x, y, f"{path}[{i}]", out)
        return
    if a != b:
        out.append(f"{path}: {SAM_LABEL}={show(a)} {CDK_LABEL}={show(b)}")


def _is_intrinsic(v: dict) -> bool:
    return len(v) == 1 and next(iter(v)).startswith("Fn::")


def diff_sets(a: set, b: set, path: str, what: str, out: list[str]) -> None:
    for x in sorted(a - b, key=str):
        out.append(f"{path}: {what} only in {SAM_LABEL}: {x}")
    for x in sorted(b - a, key=str):
        out.append(f"{path}: {what} only in {CDK_LABEL}: {x}")


# ----------------------------------------------------------------------------- CDK bookkeeping

CDK_PARAMETER = re.compile(r"^(BootstrapVersion|AssetParameters.*|.*ArtifactHash.*|.*S3Bucket[0-9A-F]{8}|.*S3VersionKey[0-9A-F]{8})$")


def strip_cdk(t: dict) -> dict:
    t = dict(t)
    t["Parameters"] = {k: v for k, v in t.get("Parameters", {}).items() if not CDK_PARAMETER.match(k)}
    t["Rules"] = {k: v for k, v in t.get("Rules", {}).items() if k != "CheckBootstrapVersion"}
    t["Conditions"] = {k: v for k, v in t.get("Conditions", {}).items() if k != "CDKMetadataAvailable"}
    t["Resources"] = {
        k: v for k, v in t.get("Resources", {}).items() if v.get("Type") != "AWS::CDK::Metadata"
    }
    return t


def user_metadata(metadata: dict | None) -> dict:
    return {
        k: v
        for k, v in (metadata or {}).items()
        if not (k.startswith("aws:cdk:") or k.startswith("aws:asset:"))
    }


# ----------------------------------------------------------------------------- SAM functions

SAM_ONLY_FUNCTION_PROPERTIES = {
    # Each makes SAM generate resources or policies the CDK app would have to spell out.
    "Events",
    "Policies",
    "PermissionsBoundary",
    "AutoPublishAlias",
    "AutoPublishCodeSha256",
    "AutoPublishAliasAllProperties",
    "DeploymentPreference",
    "ProvisionedConcurrencyConfig",
    "FunctionUrlConfig",
    "EventInvokeConfig",
    "Connectors",
    "InlineCode",
    "AssumeRolePolicyDocument",
    "RolePath",
    "VersionDescription",
    "VersionDeletionPolicy",
}
CODE_PROPERTIES = {"CodeUri", "ImageUri", "Code"}


def merge_globals(globals_: dict, props: dict) -> dict:
    """SAM's Globals semantics: maps merge (the resource wins), lists add, scalars override."""
    out = dict(globals_)
    for k, v in props.items():
        g = out.get(k)
        if isinstance(g, dict) and isinstance(v, dict) and not _is_intrinsic(g) and not _is_intrinsic(v):
            out[k] = merge_globals(g, v)
        elif isinstance(g, list) and isinstance(v, list):
            out[k] = g + v
        else:
            out[k] = v
    return out


def sam_function_as_lambda(logical_id: str, resource: dict, globals_: dict, out: list[str]) -> dict:
    props = merge_globals(globals_.get("Function", {}), resource.get("Properties", {}))
    for k in sorted(SAM_ONLY_FUNCTION_PROPERTIES & set(props)):
        out.append(
            f"Resources.{logical_id}.Properties.{k}: SAM-only shorthand (generates resources or "
            "policies); write them as explicit resources so both definitions can be compared"
        )
    if "Role" not in props:
        out.append(f"Resources.{logical_id}.Properties.Role: missing (SAM would create an implicit role)")
    lambda_props = {k: v for k, v in props.items() if k not in SAM_ONLY_FUNCTION_PROPERTIES | CODE_PROPERTIES}
    if "Tracing" in lambda_props:
        lambda_props["TracingConfig"] = {"Mode": lambda_props.pop("Tracing")}
    if isinstance(lambda_props.get("Tags"), dict):
        lambda_props["Tags"] = [{"Key": k, "Value": v} for k, v in lambda_props["Tags"].items()]
    return {**resource, "Type": "AWS::Lambda::Function", "Properties": lambda_props}


# ----------------------------------------------------------------------------- special properties


def iam_grants(policies: Any, path: str, out: list[str]) -> set[tuple]:
    """The (effect, action, resource, condition) grants of inline policies, normalised."""
    grants: set[tuple] = set()
    for policy in policies or []:
        doc = policy.get("PolicyDocument", {})
        if isinstance(doc, dict) and doc.get("Version") not in (None, "2012-10-17"):
            out.append(f"{path}: policy {policy.get('PolicyName')} has Version {doc.get('Version')}")
        statements = doc.get("Statement", []) if isinstance(doc, dict) else []
        if isinstance(statements, dict):
            statements = [statements]
        for s in statements:
            s = norm(s)
            extra = sorted(set(s) - {"Effect", "Action", "NotAction", "Resource", "NotResource", "Condition", "Sid"})
            if extra:
                out.append(f"{path}: statement with unsupported keys {extra}: {show(s)}")
            condition = json.dumps(s.get("Condition"), sort_keys=True) if "Condition" in s else ""
            for action_key in ("Action", "NotAction"):
                for action in s.get(action_key, []):
                    for resource_key in ("Resource", "NotResource"):
                        for resource in s.get(resource_key, []):
                            grants.add(
                                (
                                    s.get("Effect", "Allow"),
                                    f"{action_key}:{str(action).lower()}",
                                    f"{resource_key}:{json.dumps(resource, sort_keys=True)}",
                                    condition,
                                )
                            )
    return grants


def _quote_placeholders(text: str) -> str:
    """Wraps `${...}` found outside JSON strings in quotes, so the text parses as JSON."""
    out, i, in_string = [], 0, False
    while i < len(text):
        c = text[i]
        if in_string:
            out.append(c)
            if c == "\\":
                out.append(text[i + 1 : i + 2])
                i += 1
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
            out.append(c)
        elif text.startswith("${", i):
            end = text.index("}", i)
            out.append(json.dumps(text[i : end + 1]))
            i = end
        else:
            out.append(c)
        i += 1
    return "".join(out)


def dashboard_metrics(body: Any, path: str, out: list[str]) -> tuple[set, set]:
    """(metrics, expressions) a dashboard body references; metrics as (namespace, name, dims)."""
    if isinstance(body, dict) and set(body) == {"Fn::Sub"} and isinstance(body["Fn::Sub"], str):
        text = body["Fn::Sub"]
    elif isinstance(body, str):
        text = body.replace("${!", "${")
    else:
        out.append(f"{path}: DashboardBody is not a string or Fn::Sub/Fn::Join of strings: {show(body)}")
        return set(), set()
    try:
        doc = json.loads(_quote_placeholders(text))
    except (ValueError, json.JSONDecodeError) as e:
        out.append(f"{path}: DashboardBody is not JSON: {e}")
        return set(), set()
    metrics, expressions = set(), set()
    for widget in doc.get("widgets", []):
        properties = widget.get("properties", {})
        previous: list = []
        for entry in properties.get("metrics", []) or []:
            options = entry[-1] if entry and isinstance(entry[-1], dict) else {}
            fields = [x for x in entry if not isinstance(x, dict)]
            if "expression" in options and not fields:
                expressions.add(options["expression"])
                continue
            resolved = [
                previous[i] if x == "." and i < len(previous) else x for i, x in enumerate(fields)
            ]
            previous = resolved
            if len(resolved) < 2:
                out.append(f"{path}: unreadable metric {show(entry)}")
                continue
            namespace, name, rest = resolved[0], resolved[1], resolved[2:]
            dims = tuple(sorted(zip(rest[0::2], rest[1::2])))
            metrics.add((namespace, name, dims))
    return metrics, expressions


def parse_json_text(v: Any) -> Any:
    if isinstance(v, str):
        try:
            return json.loads(v)
        except ValueError:
            return v
    return v


def normalise_properties(resource_type: str, props: dict) -> dict:
    props = dict(props)
    if resource_type == "AWS::Events::Rule" and isinstance(props.get("Targets"), list):
        props["Targets"] = [
            {**t, "Input": parse_json_text(t["Input"])} if isinstance(t, dict) and "Input" in t else t
            for t in props["Targets"]
        ]
    if resource_type == "AWS::SQS::Queue" and "RedrivePolicy" in props:
        props["RedrivePolicy"] = parse_json_text(props["RedrivePolicy"])
    if resource_type == "AWS::ApiGatewayV2::Stage" and isinstance(props.get("AccessLogSettings"), dict):
        settings = dict(props["AccessLogSettings"])
        if "Format" in settings:
            settings["Format"] = parse_json_text(settings["Format"])
        props["AccessLogSettings"] = settings
    return norm(props)


# ----------------------------------------------------------------------------- comparison


def compare_sections(sam: dict, cdk: dict, out: list[str]) -> None:
    sam_params, cdk_params = sam.get("Parameters", {}), cdk.get("Parameters", {})
    diff_sets(set(sam_params), set(cdk_params), "Parameters", "parameter", out)
    for name in sorted(set(sam_params) & set(cdk_params)):
        a = {k: v for k, v in sam_params[name].items() if k != "Description"}
        b = {k: v for k, v in cdk_params[name].items() if k != "Description"}
        diff(norm(a), norm(b), f"Parameters.{name}", out)
    for section in ("Conditions", "Mappings", "Rules"):
        a, b = sam.get(section, {}), cdk.get(section, {})
        diff_sets(set(a), set(b), section, section[:-1].lower(), out)
        for name in sorted(set(a) & set(b)):
            diff(norm(a[name]), norm(b[name]), f"{section}.{name}", out)
    a, b = sam.get("Outputs", {}), cdk.get("Outputs", {})
    diff_sets(set(a), set(b), "Outputs", "output", out)
    for name in sorted(set(a) & set(b)):
        x = {k: v for k, v in a[name].items() if k != "Description"}
        y = {k: v for k, v in b[name].items() if k != "Description"}
        diff(norm(x), norm(y), f"Outputs.{name}", out)


def compare_resources(sam: dict, cdk: dict, out: list[str]) -> None:
    globals_ = sam.get("Globals", {}) or {}
    for section in sorted(set(globals_) - {"Function"}):
        out.append(f"Globals.{section}: only Globals.Function is supported by the parity check")
    sam_resources: dict[str, dict] = {}
    for logical_id, resource in sam.get("Resources", {}).items():
        rtype = resource.get("Type", "")
        if rtype == "AWS::Serverless::Function":
            resource = sam_function_as_lambda(logical_id, resource, globals_, out)
        elif rtype.startswith("AWS::Serverless::"):
            out.append(
                f"Resources.{logical_id}: {rtype} generates resources implicitly; the parity "
                "check compares plain CloudFormation resources and AWS::Serverless::Function only"
            )
        sam_resources[logical_id] = resource
    cdk_resources = cdk.get("Resources", {})

    def by_type(resources: dict) -> dict[str, set]:
        types: dict[str, set] = {}
        for logical_id, r in resources.items():
            types.setdefault(r.get("Type", "?"), set()).add(logical_id)
        return types

    sam_types, cdk_types = by_type(sam_resources), by_type(cdk_resources)
    for rtype in sorted(set(sam_types) | set(cdk_types)):
        diff_sets(sam_types.get(rtype, set()), cdk_types.get(rtype, set()), f"Resources[{rtype}]", "logical ID", out)

    for logical_id in sorted(set(sam_resources) & set(cdk_resources)):
        a, b = sam_resources[logical_id], cdk_resources[logical_id]
        path = f"Resources.{logical_id}"
        if a.get("Type") != b.get("Type"):
            continue  # reported above, per type
        rtype = a["Type"]
        for attribute in ("Condition", "DeletionPolicy", "UpdateReplacePolicy"):
            diff(norm(a.get(attribute)), norm(b.get(attribute)), f"{path}.{attribute}", out)
        diff(norm(user_metadata(a.get("Metadata"))), norm(user_metadata(b.get("Metadata"))), f"{path}.Metadata", out)
        pa, pb = dict(a.get("Properties", {}) or {}), dict(b.get("Properties", {}) or {})
        if rtype == "AWS::Lambda::Function":
            for k in CODE_PROPERTIES:
                pa.pop(k, None)
                pb.pop(k, None)
            binary_a = (a.get("Metadata") or {}).get("BuildProperties", {}).get("Binary")
            binary_b = (b.get("Metadata") or {}).get("BuildProperties", {}).get("Binary")
            if not binary_a or not binary_b:
                out.append(
                    f"{path}.Metadata.BuildProperties.Binary: missing ({SAM_LABEL}={binary_a!r}, {CDK_LABEL}={binary_b!r})"
                )
        if rtype == "AWS::IAM::Role":
            ga = iam_grants(pa.pop("Policies", []), f"{path}.Properties.Policies", out)
            gb = iam_grants(pb.pop("Policies", []), f"{path}.Properties.Policies", out)
            diff_sets(ga, gb, f"{path}.Properties.Policies", "grant", out)
        if rtype == "AWS::CloudWatch::Dashboard":
            ma, ea = dashboard_metrics(norm(pa.pop("DashboardBody", "")), f"{path}.Properties.DashboardBody", out)
            mb, eb = dashboard_metrics(norm(pb.pop("DashboardBody", "")), f"{path}.Properties.DashboardBody", out)
            diff_sets(ma, mb, f"{path}.Properties.DashboardBody", "metric", out)
            diff_sets(ea, eb, f"{path}.Properties.DashboardBody", "expression", out)
        diff(normalise_properties(rtype, pa), normalise_properties(rtype, pb), f"{path}.Properties", out)


def compare(sam: dict, cdk: dict) -> list[str]:
    out: list[str] = []
    cdk = strip_cdk(cdk)
    if sam.get("Transform") not in ("AWS::Serverless-2016-10-31", ["AWS::Serverless-2016-10-31"], None):
        out.append(f"Transform: unexpected {show(sam.get('Transform'))}")
    compare_sections(sam, cdk, out)
    compare_resources(sam, cdk, out)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sam", type=Path, default=DEFAULT_SAM, help="the SAM template (default: template.yaml)")
    parser.add_argument("--cdk", type=Path, default=DEFAULT_CDK, help="the synthesised CDK template")
    args = parser.parse_args(argv)
    for label, path in (("SAM template", args.sam), ("CDK template", args.cdk)):
        if not path.is_file():
            print(f"parity: {label} {path} not found", file=sys.stderr)
            return 2
    sam, cdk = load_template(args.sam), load_template(args.cdk)
    differences = compare(sam, cdk)
    n_resources = len(sam.get("Resources", {}))
    if differences:
        print(f"parity: {len(differences)} difference(s) between {args.sam.name} and {args.cdk.name}:")
        for d in differences:
            print(f"  - {d}")
        return 1
    print(
        f"parity: {args.sam.name} and {args.cdk.name} agree "
        f"({n_resources} resources, {len(sam.get('Parameters', {}))} parameters)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
