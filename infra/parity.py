#!/usr/bin/env python3
"""Parity between the two definitions of the deployed system.

Compares template.yaml (AWS SAM) with the template the CDK app synthesises
(infra/cdk/cdk.out/Notify.template.json) and exits 1, listing every difference, when they
drift apart. Both are compared as CloudFormation deploys them: a template with the
AWS::LanguageExtensions transform has its Fn::ForEach loops expanded first (see
expand_language_extensions: the forms template.yaml uses, as CloudFormation expands them), and
every Fn::FindInMap with literal keys is resolved against the template's Mappings (a mapping no
longer referenced afterwards is dropped: it describes nothing deployed). Then:

- Parameters (every attribute but Description), Conditions, Mappings, Rules, Outputs;
- the logical IDs of every resource, per type (AWS::Serverless::Function on the SAM side is
  AWS::Lambda::Function on the CDK side);
- every resource's attributes (Condition, DeletionPolicy, UpdateReplacePolicy, Metadata) and
  every property, compared as data after normalisation, so a setting present on one side only
  is a difference. Special cases:
    functions   SAM's Globals.Function merged in, Tracing/Tags translated, CodeUri and Code
                ignored (where the code comes from), the binary compared through
                Metadata.BuildProperties.Binary (the CDK app writes the binary it builds there);
                a function whose code is inline (Code.ZipFile) has no binary: its code is
                compared instead, as text (trailing newlines aside);
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
import copy
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


# ----------------------------------------------------------------------------- AWS::LanguageExtensions

LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"
SERVERLESS = "AWS::Serverless-2016-10-31"
FOR_EACH_PREFIX = "Fn::ForEach::"
FOR_EACH_NAME = re.compile(r"^Fn::ForEach::[A-Za-z0-9]+$")
# The sections Fn::ForEach may appear in (anywhere inside them, resource properties included).
FOR_EACH_SECTIONS = ("Conditions", "Resources", "Outputs")
MAX_FOR_EACH_DEPTH = 5
NON_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]")


class ExpansionError(ValueError):
    """A Fn::ForEach that cannot be expanded, or whose meaning CloudFormation leaves open."""


def transforms(template: dict) -> list:
    t = template.get("Transform")
    if t is None:
        return []
    return [t] if isinstance(t, str) else list(t)


def expand_language_extensions(template: dict) -> dict:
    """The template with every Fn::ForEach expanded, as AWS::LanguageExtensions does.

    `"Fn::ForEach::<Name>": [Identifier, [values...], {"Key${Identifier}": value}]` becomes one
    `Key<v>: value` per v of the collection, merged into the enclosing object (loops nest, up
    to 5 deep). In the body, for every identifier of the enclosing loops:
      - keys: `${Identifier}` is replaced by the value, `&{Identifier}` by the value without its
        non-alphanumeric characters (each key must name the identifier of its own loop);
      - `Fn::Sub` strings (`!Sub "..."` and the first element of `!Sub ["...", {...}]`): the
        same replacements; a Fn::Sub left without any `${` is that plain string, as the
        transform leaves it (so `!GetAtt [!Sub "${C}Queue", Arn]` is `!GetAtt [EmailQueue, Arn]`
        and `Ref: !Sub "${C}Function"` is `Ref: EmailFunction`);
      - `Ref: Identifier` is the value itself.
    Nothing else is substituted: CloudFormation leaves `${Identifier}` in a plain string as it is
    (where the SAM CLI's local expansion replaces it), so a plain string naming an identifier is
    refused rather than guessed. Collections are literal lists of scalars (the form
    template.yaml uses). Raises ExpansionError on a malformed loop, a duplicate key, an
    identifier that shadows a parameter or an enclosing loop's, or a loop name used twice or by
    a resource.
    """
    parameters = set(template.get("Parameters") or {})
    loop_names: list[str] = []
    for section in FOR_EACH_SECTIONS:
        _collect_loop_names(template.get(section), loop_names)
    seen: set[str] = set()
    for name in loop_names:
        if name in seen:
            raise ExpansionError(f"Fn::ForEach::{name}: the loop name is used twice")
        seen.add(name)
    out = dict(template)
    for section in FOR_EACH_SECTIONS:
        if section in template and template[section] is not None:
            out[section] = _expand(template[section], {}, section, parameters, 0)
    clashes = seen & set(out.get("Resources") or {})
    if clashes:
        raise ExpansionError(f"Fn::ForEach loop names clash with resources: {sorted(clashes)}")
    return out


def _collect_loop_names(v: Any, names: list[str]) -> None:
    if isinstance(v, dict):
        for k, x in v.items():
            if isinstance(k, str) and k.startswith(FOR_EACH_PREFIX):
                names.append(k[len(FOR_EACH_PREFIX):])
            _collect_loop_names(x, names)
    elif isinstance(v, list):
        for x in v:
            _collect_loop_names(x, names)


def has_for_each(v: Any) -> bool:
    if isinstance(v, dict):
        return any(isinstance(k, str) and k.startswith(FOR_EACH_PREFIX) for k in v) or any(
            has_for_each(x) for x in v.values()
        )
    if isinstance(v, list):
        return any(has_for_each(x) for x in v)
    return False


def _substitute(text: str, bindings: dict[str, str]) -> str:
    for identifier, value in bindings.items():
        text = text.replace("${" + identifier + "}", value)
        text = text.replace("&{" + identifier + "}", NON_ALPHANUMERIC.sub("", value))
    return text


def _names_identifier(text: str, bindings: dict[str, str]) -> bool:
    return any("${" + i + "}" in text or "&{" + i + "}" in text for i in bindings)


def _expand(v: Any, bindings: dict[str, str], path: str, parameters: set, depth: int) -> Any:
    if isinstance(v, dict):
        if bindings and len(v) == 1:
            (k, arg), = v.items()
            if k == "Ref" and isinstance(arg, str) and arg in bindings:
                return bindings[arg]
            if k == "Fn::Sub":
                return _expand_sub(arg, bindings, path, parameters, depth)
        out: dict = {}

        def put(key: str, value: Any, where: str) -> None:
            if key in out:
                raise ExpansionError(f"{where}: {key} is defined twice")
            out[key] = value

        for k, x in v.items():
            if isinstance(k, str) and k.startswith(FOR_EACH_PREFIX):
                for key, value in _expand_loop(k, x, bindings, path, parameters, depth).items():
                    put(key, value, f"{path}.{k}")
                continue
            key = _substitute(k, bindings) if isinstance(k, str) and bindings else k
            put(key, _expand(x, bindings, f"{path}.{key}", parameters, depth), path)
        return out
    if isinstance(v, list):
        return [_expand(x, bindings, f"{path}[{i}]", parameters, depth) for i, x in enumerate(v)]
    if isinstance(v, str) and _names_identifier(v, bindings):
        raise ExpansionError(
            f"{path}: {v!r} names a loop identifier outside Fn::Sub (CloudFormation leaves it as "
            "it is; write !Sub, or !Ref for the value alone)"
        )
    return v


def _expand_sub(arg: Any, bindings: dict, path: str, parameters: set, depth: int) -> Any:
    if isinstance(arg, str):
        text = _substitute(arg, bindings)
        return text if "${" not in text else {"Fn::Sub": text}
    if isinstance(arg, list) and arg and isinstance(arg[0], str):
        text = _substitute(arg[0], bindings)
        rest = [
            _expand(x, bindings, f"{path}.Fn::Sub[{i + 1}]", parameters, depth)
            for i, x in enumerate(arg[1:])
        ]
        return text if "${" not in text else {"Fn::Sub": [text, *rest]}
    raise ExpansionError(f"{path}: malformed Fn::Sub {show(arg)}")


def _expand_loop(key: str, value: Any, bindings: dict, path: str, parameters: set, depth: int) -> dict:
    where = f"{path}.{key}"
    if not FOR_EACH_NAME.match(key):
        raise ExpansionError(f"{where}: a loop name is letters and digits")
    if depth + 1 > MAX_FOR_EACH_DEPTH:
        raise ExpansionError(f"{where}: more than {MAX_FOR_EACH_DEPTH} nested Fn::ForEach")
    if not (isinstance(value, list) and len(value) == 3):
        raise ExpansionError(f"{where}: expected [Identifier, [values...], {{OutputKey: OutputValue}}]")
    identifier, collection, body = value
    if not (isinstance(identifier, str) and re.fullmatch(r"[A-Za-z0-9]+", identifier)):
        raise ExpansionError(f"{where}: the identifier must be letters and digits, not {identifier!r}")
    if identifier in parameters:
        raise ExpansionError(f"{where}: the identifier {identifier} is also a parameter")
    if identifier in bindings:
        raise ExpansionError(f"{where}: the identifier {identifier} is an enclosing loop's")
    if not isinstance(collection, list):
        raise ExpansionError(f"{where}: only literal collections are supported, not {show(collection)}")
    if not isinstance(body, dict) or not body:
        raise ExpansionError(f"{where}: the body must be an object")
    for k in body:
        if not (isinstance(k, str) and (k.startswith(FOR_EACH_PREFIX) or _names_identifier(k, {identifier: ""}))):
            raise ExpansionError(f"{where}: the key {k!r} must name ${{{identifier}}} or &{{{identifier}}}")
    out: dict = {}
    for item in collection:
        if isinstance(item, bool):
            item = "true" if item else "false"
        elif isinstance(item, (int, float, str)):
            item = str(item)
        else:
            raise ExpansionError(f"{where}: a collection holds strings, not {show(item)}")
        expanded = _expand(body, {**bindings, identifier: item}, where, parameters, depth + 1)
        for k, x in expanded.items():
            if re.search(r"[$&]\{", k):
                raise ExpansionError(f"{where}: {k!r}: an output key can only name loop identifiers")
            if k in out:
                raise ExpansionError(f"{where}: {k} is generated twice")
            out[k] = x
    return out


def resolve_find_in_map(template: dict, out: list[str], label: str) -> dict:
    """Every Fn::FindInMap with literal keys replaced by its value; then drops the mappings no
    longer referenced (reports a lookup of a missing key, unless it has a DefaultValue)."""
    mappings = template.get("Mappings") or {}

    def walk(v: Any, path: str) -> Any:
        if isinstance(v, dict):
            if len(v) == 1 and "Fn::FindInMap" in v and isinstance(v["Fn::FindInMap"], list):
                args = [walk(a, path) for a in v["Fn::FindInMap"]]
                if len(args) in (3, 4) and all(isinstance(a, str) for a in args[:3]):
                    name, top, second = args[:3]
                    found = (mappings.get(name) or {}).get(top)
                    if isinstance(found, dict) and second in found:
                        return copy.deepcopy(found[second])
                    if len(args) == 4 and isinstance(args[3], dict) and "DefaultValue" in args[3]:
                        return args[3]["DefaultValue"]
                    out.append(f"{path}: Fn::FindInMap {args[:3]} not in the Mappings of {label}")
                return {"Fn::FindInMap": args}
            return {k: walk(x, f"{path}.{k}") for k, x in v.items()}
        if isinstance(v, list):
            return [walk(x, f"{path}[{i}]") for i, x in enumerate(v)]
        return v

    t = dict(template)
    for section in ("Conditions", "Resources", "Outputs"):
        if isinstance(t.get(section), dict):
            t[section] = walk(t[section], section)
    if "Mappings" in t:
        used = _mapping_names(t)
        t["Mappings"] = {k: m for k, m in mappings.items() if k in used}
    return t


def _mapping_names(v: Any) -> set:
    names: set = set()
    if isinstance(v, dict):
        for k, x in v.items():
            if k == "Fn::FindInMap" and isinstance(x, list) and x and isinstance(x[0], str):
                names.add(x[0])
            if k != "Mappings":
                names |= _mapping_names(x)
    elif isinstance(v, list):
        for x in v:
            names |= _mapping_names(x)
    return names


def prepare(template: dict, label: str, out: list[str]) -> dict:
    """The template as CloudFormation deploys it: Fn::ForEach expanded, Fn::FindInMap resolved."""
    ts = transforms(template)
    for t in ts:
        if t not in (LANGUAGE_EXTENSIONS, SERVERLESS):
            out.append(f"Transform: {label}: unexpected {show(t)}")
    if LANGUAGE_EXTENSIONS in ts:
        if SERVERLESS in ts and ts.index(SERVERLESS) < ts.index(LANGUAGE_EXTENSIONS):
            out.append(f"Transform: {label}: {LANGUAGE_EXTENSIONS} must come before {SERVERLESS}")
        try:
            template = expand_language_extensions(template)
        except ExpansionError as e:
            out.append(f"Fn::ForEach: {label}: {e}")
            template = _without_for_each(template)
    elif any(has_for_each(template.get(s)) for s in FOR_EACH_SECTIONS):
        out.append(f"Transform: {label} uses Fn::ForEach without {LANGUAGE_EXTENSIONS}")
        template = _without_for_each(template)
    return resolve_find_in_map(template, out, label)


def _without_for_each(v: Any) -> Any:
    """The loops left out (what is left is still compared, the loops reported as unexpandable)."""
    if isinstance(v, dict):
        return {
            k: _without_for_each(x)
            for k, x in v.items()
            if not (isinstance(k, str) and k.startswith(FOR_EACH_PREFIX))
        }
    if isinstance(v, list):
        return [_without_for_each(x) for x in v]
    return v


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


def inline_code(props: dict) -> Any:
    """A function's inline code (Code.ZipFile), normalised; None when its code is elsewhere."""
    code = props.get("Code")
    if not (isinstance(code, dict) and "ZipFile" in code):
        return None
    text = code["ZipFile"]
    return text.rstrip("\n") + "\n" if isinstance(text, str) else norm(text)


def _first_difference(a: Any, b: Any) -> str:
    if not (isinstance(a, str) and isinstance(b, str)):
        return f"{SAM_LABEL}={show(a)} {CDK_LABEL}={show(b)}"
    la, lb = a.splitlines(), b.splitlines()
    for i, (x, y) in enumerate(zip(la, lb)):
        if x != y:
            return f"line {i + 1}: {SAM_LABEL}={x!r} {CDK_LABEL}={y!r}"
    return f"{SAM_LABEL} has {len(la)} lines, {CDK_LABEL} {len(lb)}"


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
            inline_a, inline_b = inline_code(pa), inline_code(pb)
            for k in CODE_PROPERTIES:
                pa.pop(k, None)
                pb.pop(k, None)
            if inline_a is not None or inline_b is not None:
                # Inline code: the code itself, there is no binary.
                if inline_a != inline_b:
                    out.append(f"{path}.Properties.Code.ZipFile: differs ({_first_difference(inline_a, inline_b)})")
            else:
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
    sam = prepare(sam, SAM_LABEL, out)
    cdk = prepare(strip_cdk(cdk), CDK_LABEL, out)
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
    n_resources = len(prepare(sam, SAM_LABEL, []).get("Resources", {}))
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
