//! The local stack against the deployed one: what `notify-local` creates on the emulator (for
//! `make dev` and these tests) must match template.yaml (which infra/parity.py holds the CDK app
//! to), so local and deployed never disagree about the table, the queues or the configuration.
//!
//! template.yaml writes its per-channel resources once, in `Fn::ForEach` loops (the
//! AWS::LanguageExtensions transform): these tests read it expanded, as CloudFormation deploys it
//! (`language_extensions` below).

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{BillingMode, TimeToLiveStatus};
use aws_sdk_sqs::types::QueueAttributeName;
use notify_local::resources;
use notify_shared::domain::{Channel, Priority};
use notify_tests::TestStack;
use serde_json::{Value as Json, json};
use serde_yaml::Value;

/// template.yaml, its `Fn::ForEach` loops expanded.
fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).expect("template.yaml at the repository root");
    let looped: Value = serde_yaml::from_str(&text).expect("template.yaml is YAML");
    language_extensions::expand(&looped)
}

fn resource<'a>(t: &'a Value, id: &str) -> &'a Value {
    let r = &t["Resources"][id];
    assert!(!r.is_null(), "template.yaml has no resource {id}");
    &r["Properties"]
}

/// A YAML subtree as JSON, for comparisons that print well.
fn json_of(v: &Value) -> Json {
    serde_json::to_value(v).expect("plain YAML converts to JSON")
}

/// `[{AttributeName, KeyType}]` as `["PK HASH", …]`.
fn keys_of_yaml(v: &Value) -> Vec<String> {
    v.as_sequence()
        .expect("a key schema")
        .iter()
        .map(|k| {
            format!(
                "{} {}",
                k["AttributeName"].as_str().unwrap_or_default(),
                k["KeyType"].as_str().unwrap_or_default()
            )
        })
        .collect()
}

fn keys_of_sdk(v: &[aws_sdk_dynamodb::types::KeySchemaElement]) -> Vec<String> {
    v.iter()
        .map(|k| format!("{} {}", k.attribute_name(), k.key_type().as_str()))
        .collect()
}

#[tokio::test]
async fn the_local_table_is_the_deployed_table() {
    let t = template();
    let table = resource(&t, "NotificationsTable");
    let s = TestStack::new().await;
    let ddb = aws_sdk_dynamodb::Client::new(&s.sdk);
    let described = ddb
        .describe_table()
        .table_name(&s.stack.table)
        .send()
        .await
        .expect("describe the local table")
        .table
        .expect("a table");

    assert_eq!(table["BillingMode"].as_str(), Some("PAY_PER_REQUEST"));
    assert_eq!(
        described
            .billing_mode_summary()
            .and_then(|b| b.billing_mode()),
        Some(&BillingMode::PayPerRequest)
    );
    assert_eq!(
        keys_of_sdk(described.key_schema()),
        keys_of_yaml(&table["KeySchema"]),
        "primary key"
    );

    let local_attrs: BTreeSet<String> = described
        .attribute_definitions()
        .iter()
        .map(|a| format!("{} {}", a.attribute_name(), a.attribute_type().as_str()))
        .collect();
    let deployed_attrs: BTreeSet<String> = table["AttributeDefinitions"]
        .as_sequence()
        .expect("attribute definitions")
        .iter()
        .map(|a| {
            format!(
                "{} {}",
                a["AttributeName"].as_str().unwrap_or_default(),
                a["AttributeType"].as_str().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(local_attrs, deployed_attrs, "attribute definitions");

    let local_indexes: BTreeSet<String> = described
        .global_secondary_indexes()
        .iter()
        .map(|i| {
            let projection = i.projection();
            let mut include: Vec<&str> = projection
                .map(|p| p.non_key_attributes().iter().map(String::as_str).collect())
                .unwrap_or_default();
            include.sort_unstable();
            format!(
                "{}: {:?} {} {:?}",
                i.index_name().unwrap_or_default(),
                keys_of_sdk(i.key_schema()),
                projection
                    .and_then(|p| p.projection_type())
                    .map(|p| p.as_str())
                    .unwrap_or_default(),
                include
            )
        })
        .collect();
    let deployed_indexes: BTreeSet<String> = table["GlobalSecondaryIndexes"]
        .as_sequence()
        .expect("indexes")
        .iter()
        .map(|i| {
            let mut include: Vec<&str> = i["Projection"]["NonKeyAttributes"]
                .as_sequence()
                .map(|a| a.iter().filter_map(|v| v.as_str()).collect())
                .unwrap_or_default();
            include.sort_unstable();
            format!(
                "{}: {:?} {} {:?}",
                i["IndexName"].as_str().unwrap_or_default(),
                keys_of_yaml(&i["KeySchema"]),
                i["Projection"]["ProjectionType"]
                    .as_str()
                    .unwrap_or_default(),
                include
            )
        })
        .collect();
    assert_eq!(local_indexes, deployed_indexes, "global secondary indexes");
    // The index names the code queries are the deployed ones.
    for name in [
        notify_shared::store::TOKEN_INDEX,
        notify_shared::store::DUE_INDEX,
        notify_shared::store::BATCH_INDEX,
    ] {
        assert!(
            deployed_indexes
                .iter()
                .any(|i| i.starts_with(&format!("{name}:"))),
            "template.yaml lacks the index {name} the code uses"
        );
    }

    let ttl = ddb
        .describe_time_to_live()
        .table_name(&s.stack.table)
        .send()
        .await
        .expect("describe TTL")
        .time_to_live_description
        .expect("TTL description");
    assert_eq!(
        json!({
            "AttributeName": ttl.attribute_name(),
            "Enabled": ttl.time_to_live_status() == Some(&TimeToLiveStatus::Enabled),
        }),
        json_of(&table["TimeToLiveSpecification"]),
        "TTL"
    );
}

#[tokio::test]
async fn the_local_queues_are_the_deployed_queues() {
    let t = template();
    let s = TestStack::new().await;
    let sqs = aws_sdk_sqs::Client::new(&s.sdk);

    // Nine pairs on both sides, under the names the code's configuration expects.
    let deployed_pairs: BTreeSet<String> = t["Resources"]
        .as_mapping()
        .expect("resources")
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::SQS::Queue"))
        .filter_map(|(id, _)| id.as_str())
        .filter_map(|id| id.strip_suffix("Queue"))
        .filter(|id| !id.ends_with("DeadLetter"))
        // SES's events and the status callbacks have queues of their own, checked below.
        .filter(|id| *id != "Events" && *id != "Callbacks")
        .map(str::to_lowercase)
        .collect();
    let local_pairs: BTreeSet<String> = s
        .stack
        .queues
        .iter()
        // The logical IDs spell `in_app` as `InApp`.
        .map(|q| format!("{}{}", q.channel, q.priority).replace('_', ""))
        .collect();
    assert_eq!(local_pairs, deployed_pairs, "channel × priority queues");
    assert_eq!(local_pairs.len(), Channel::ALL.len() * 3);

    let max_receives = &t["Parameters"]["MaxReceives"]["Default"];
    assert_eq!(
        max_receives.as_u64(),
        Some(u64::from(resources::MAX_RECEIVES)),
        "make dev's maxReceiveCount is the deployed default"
    );
    assert_eq!(
        notify_shared::config::DeliverySettings::from_env(&notify_shared::config::Env::from_pairs(
            std::iter::empty::<(&str, &str)>()
        ))
        .expect("defaults")
        .max_receives,
        resources::MAX_RECEIVES,
        "the workers' default NOTIFY_MAX_RECEIVES is the queues' maxReceiveCount"
    );

    for q in &s.stack.queues {
        let id = format!(
            "{}{}",
            capitalised(q.channel.as_str()),
            capitalised(q.priority.as_str())
        );
        let deployed = resource(&t, &format!("{id}Queue"));
        let deployed_dlq = resource(&t, &format!("{id}DeadLetterQueue"));
        let attrs = |url: String| {
            let sqs = sqs.clone();
            async move {
                sqs.get_queue_attributes()
                    .queue_url(url)
                    .attribute_names(QueueAttributeName::All)
                    .send()
                    .await
                    .expect("queue attributes")
                    .attributes
                    .unwrap_or_default()
            }
        };
        let main = attrs(q.url.clone()).await;
        let dlq = attrs(q.dlq_url.clone()).await;
        assert_eq!(
            main.get(&QueueAttributeName::MessageRetentionPeriod)
                .map(String::as_str),
            Some(
                deployed["MessageRetentionPeriod"]
                    .as_u64()
                    .unwrap_or(0)
                    .to_string()
                    .as_str()
            ),
            "{id}Queue retention"
        );
        assert_eq!(
            dlq.get(&QueueAttributeName::MessageRetentionPeriod)
                .map(String::as_str),
            Some(
                deployed_dlq["MessageRetentionPeriod"]
                    .as_u64()
                    .unwrap_or(0)
                    .to_string()
                    .as_str()
            ),
            "{id}DeadLetterQueue retention"
        );
        let redrive: Json = serde_json::from_str(
            main.get(&QueueAttributeName::RedrivePolicy)
                .expect("a redrive policy"),
        )
        .expect("redrive JSON");
        assert_eq!(
            redrive["deadLetterTargetArn"].as_str(),
            dlq.get(&QueueAttributeName::QueueArn).map(String::as_str)
        );
        // `!Ref MaxReceives` (or a number): deployed, it must come to make dev's count.
        let count = &deployed["RedrivePolicy"]["maxReceiveCount"];
        let resolved = match count {
            Value::Tagged(tagged) if tagged.tag == "!Ref" => {
                let name = tagged.value.as_str().expect("a parameter name");
                t["Parameters"][name]["Default"].as_u64()
            }
            other => other.as_u64(),
        };
        assert_eq!(
            resolved,
            Some(u64::from(resources::MAX_RECEIVES)),
            "{id}Queue maxReceiveCount"
        );
        assert_eq!(
            get_att(&deployed["RedrivePolicy"]["deadLetterTargetArn"]),
            Some(format!("{id}DeadLetterQueue.Arn")),
            "{id}Queue dead-letters to {id}DeadLetterQueue"
        );
    }
}

/// A queue of make dev's (and its dead-letter queue) is `name`Queue as template.yaml deploys
/// it: retention, redrive target and receives.
async fn same_queue(
    t: &Value,
    s: &TestStack,
    (url, dlq_url): (&str, &str),
    name: &str,
    max_receives: u32,
) {
    let sqs = aws_sdk_sqs::Client::new(&s.sdk);
    let attrs = |url: &str| {
        let request = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::All);
        async move {
            request
                .send()
                .await
                .expect("queue attributes")
                .attributes
                .unwrap_or_default()
        }
    };
    let (main, dlq) = (attrs(url).await, attrs(dlq_url).await);
    let deployed = resource(t, &format!("{name}Queue"));
    let deployed_dlq = resource(t, &format!("{name}DeadLetterQueue"));
    let retention = |v: &Value| {
        v["MessageRetentionPeriod"]
            .as_u64()
            .unwrap_or(0)
            .to_string()
    };
    assert_eq!(
        main.get(&QueueAttributeName::MessageRetentionPeriod),
        Some(&retention(deployed))
    );
    assert_eq!(
        dlq.get(&QueueAttributeName::MessageRetentionPeriod),
        Some(&retention(deployed_dlq))
    );
    let redrive: Json =
        serde_json::from_str(&main[&QueueAttributeName::RedrivePolicy]).expect("redrive JSON");
    assert_eq!(
        // SQS answers the count as a number or a string.
        redrive["maxReceiveCount"]
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .or_else(|| redrive["maxReceiveCount"]
                .as_str()
                .and_then(|n| n.parse().ok())),
        Some(max_receives)
    );
    assert_eq!(
        deployed["RedrivePolicy"]["maxReceiveCount"].as_u64(),
        Some(u64::from(max_receives)),
        "{name}Queue maxReceiveCount"
    );
    assert_eq!(
        get_att(&deployed["RedrivePolicy"]["deadLetterTargetArn"]),
        Some(format!("{name}DeadLetterQueue.Arn"))
    );
}

#[tokio::test]
async fn the_local_callbacks_queue_is_the_deployed_one() {
    let t = template();
    let s = TestStack::new().await;
    let c = &s.stack.callbacks;
    same_queue(
        &t,
        &s,
        (&c.url, &c.dlq_url),
        "Callbacks",
        resources::CALLBACKS_MAX_RECEIVES,
    )
    .await;
}

#[tokio::test]
async fn the_local_events_queue_is_the_deployed_one() {
    let t = template();
    let s = TestStack::new().await;
    let (url, dlq_url) = s.events_queues();
    same_queue(
        &t,
        &s,
        (url, dlq_url),
        "Events",
        resources::EVENTS_MAX_RECEIVES,
    )
    .await;
    // The configuration set publishes (at least) what make dev's publishes; opens and clicks
    // may be added by a parameter, so the list may sit inside an `!If`.
    let types = json_of(
        &resource(&t, "EmailConfigurationSetEventDestination")["EventDestination"]
            ["MatchingEventTypes"],
    )
    .to_string();
    for kind in resources::SES_EVENT_TYPES {
        assert!(
            types.contains(&format!("\"{kind}\"")),
            "the event destination publishes {kind}: {types}"
        );
    }
}

#[tokio::test]
async fn every_variable_the_local_functions_get_is_set_by_the_template() {
    let t = template();
    let mut deployed: BTreeSet<String> = BTreeSet::new();
    for (_, r) in t["Resources"].as_mapping().expect("resources") {
        if r["Type"].as_str() == Some("AWS::Serverless::Function")
            && let Some(vars) = r["Properties"]["Environment"]["Variables"].as_mapping()
        {
            deployed.extend(vars.keys().filter_map(|k| k.as_str()).map(str::to_owned));
        }
    }
    let s = TestStack::new().await;
    let local: BTreeSet<String> = s
        .stack
        .function_env()
        .into_iter()
        .map(|(name, _)| name)
        // Where the stand-in is; deployed functions use FCM's default address.
        .filter(|name| name != "NOTIFY_FCM_BASE_URL")
        .collect();
    assert!(local.len() > 20, "the local environment: {local:?}");
    let missing: Vec<&String> = local.difference(&deployed).collect();
    assert!(missing.is_empty(), "template.yaml never sets {missing:?}");
}

#[test]
fn template_yaml_has_the_resources_of_every_channel_and_priority() {
    let t = template();
    let resources = t["Resources"].as_mapping().expect("resources");
    assert!(
        resources
            .keys()
            .filter_map(Value::as_str)
            .all(|id| !id.starts_with("Fn::ForEach::")),
        "every loop expanded"
    );
    for channel in Channel::ALL {
        let c = capitalised(channel.as_str());
        for suffix in ["WorkerRole", "WorkerFunction", "WorkerFunctionLogGroup"] {
            assert!(
                resources.contains_key(format!("{c}{suffix}").as_str()),
                "{c}{suffix}"
            );
        }
        for priority in Priority::ALL {
            let p = capitalised(priority.as_str());
            for id in [
                format!("{c}{p}Queue"),
                format!("{c}{p}DeadLetterQueue"),
                format!("{c}Worker{p}Mapping"),
            ] {
                assert!(
                    resources.contains_key(id.as_str()),
                    "template.yaml has no {id}"
                );
            }
            let mapping = resource(&t, &format!("{c}Worker{p}Mapping"));
            assert_eq!(
                get_att(&mapping["EventSourceArn"]),
                Some(format!("{c}{p}Queue.Arn")),
                "{c}Worker{p}Mapping reads {c}{p}Queue"
            );
            assert_eq!(
                mapping["FunctionName"]["Ref"].as_str(),
                Some(format!("{c}WorkerFunction").as_str()),
                "{c}Worker{p}Mapping invokes {c}WorkerFunction"
            );
        }
    }
}

/// A channel's logical ID prefix: `in_app` is `InApp`.
fn capitalised(s: &str) -> String {
    s.split('_')
        .map(|word| {
            let mut c = word.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// `X.Y` of `!GetAtt X.Y`, `!GetAtt [X, Y]` or `{Fn::GetAtt: ...}`.
fn get_att(v: &Value) -> Option<String> {
    let arg = match v {
        Value::Tagged(tagged) if tagged.tag == "GetAtt" => &tagged.value,
        Value::Mapping(m) if m.len() == 1 => m.get("Fn::GetAtt")?,
        _ => return None,
    };
    match arg {
        Value::String(s) => Some(s.clone()),
        Value::Sequence(parts) => match parts.as_slice() {
            [Value::String(id), Value::String(attribute)] => Some(format!("{id}.{attribute}")),
            _ => None,
        },
        _ => None,
    }
}

/// `Fn::ForEach` (the AWS::LanguageExtensions transform) expanded as CloudFormation expands it,
/// by the same rules as infra/parity.py's `expand_language_extensions`, refusals included.
///
/// `Fn::ForEach::<Name>: [Identifier, [values...], {Key${Identifier}: value}]` becomes one
/// `Key<v>: value` per value v, merged into the enclosing mapping (loops nest, 5 deep at most).
/// In a loop's body, for every identifier of the enclosing loops: keys have `${Identifier}`
/// replaced by the value and `&{Identifier}` by the value without its non-alphanumeric
/// characters; so do `Fn::Sub` strings (`!Sub "..."`, `Fn::Sub: ...`, and the first element of
/// their list form), a `Fn::Sub` left without any `${` becoming that plain string (so
/// `!GetAtt [!Sub "${Channel}Queue", Arn]` is `!GetAtt [EmailQueue, Arn]`); and
/// `!Ref Identifier` is the value. Nothing else is substituted: CloudFormation leaves
/// `${Identifier}` in a plain string alone, so such a string is refused rather than guessed.
/// Collections are literal lists. `Fn::FindInMap` is left to CloudFormation: these tests read no
/// value from Mappings.
mod language_extensions {
    use std::collections::BTreeSet;

    use serde_yaml::Value;
    use serde_yaml::value::{Mapping, Tag, TaggedValue};

    const FOR_EACH: &str = "Fn::ForEach::";
    const SECTIONS: [&str; 3] = ["Conditions", "Resources", "Outputs"];
    const MAX_DEPTH: usize = 5;

    /// An identifier of an enclosing loop, with its value.
    type Binding = (String, String);
    type Expanded<T> = Result<T, String>;

    /// The template's parameters: a loop identifier may not be one.
    struct Scope {
        parameters: BTreeSet<String>,
    }

    /// template.yaml expanded; panics with the reason if it cannot be.
    pub fn expand(template: &Value) -> Value {
        try_expand(template).unwrap_or_else(|e| panic!("template.yaml: {e}"))
    }

    /// The template with every `Fn::ForEach` of its Conditions, Resources and Outputs expanded,
    /// or why not (naming the place): a malformed loop, a duplicate key, an identifier that is
    /// also a parameter or an enclosing loop's, a loop name used twice or by a resource.
    pub fn try_expand(template: &Value) -> Expanded<Value> {
        let scope = Scope {
            parameters: template["Parameters"]
                .as_mapping()
                .map(|m| {
                    m.keys()
                        .filter_map(Value::as_str)
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default(),
        };
        let mut loops = Vec::new();
        for section in SECTIONS {
            loop_names(&template[section], &mut loops);
        }
        let mut unique = BTreeSet::new();
        for name in loops {
            if !unique.insert(name.clone()) {
                return Err(format!("{FOR_EACH}{name}: the loop name is used twice"));
            }
        }
        let mut out = template.clone();
        let Value::Mapping(sections) = &mut out else {
            return Err("a template is a mapping".to_owned());
        };
        for section in SECTIONS {
            if let Some(v) = template.get(section) {
                let expanded = value(v, &[], section, &scope, 0)?;
                sections.insert(Value::String(section.to_owned()), expanded);
            }
        }
        if let Some(resources) = out["Resources"].as_mapping()
            && let Some(name) = unique.iter().find(|n| resources.contains_key(n.as_str()))
        {
            return Err(format!(
                "{FOR_EACH}{name}: the loop name is also a resource's"
            ));
        }
        Ok(out)
    }

    fn loop_names(v: &Value, names: &mut Vec<String>) {
        match v {
            Value::Mapping(m) => {
                for (k, x) in m {
                    if let Some(name) = k.as_str().and_then(|k| k.strip_prefix(FOR_EACH)) {
                        names.push(name.to_owned());
                    }
                    loop_names(x, names);
                }
            }
            Value::Sequence(items) => items.iter().for_each(|x| loop_names(x, names)),
            Value::Tagged(tagged) => loop_names(&tagged.value, names),
            _ => {}
        }
    }

    fn substitute(text: &str, bindings: &[Binding]) -> String {
        let mut out = text.to_owned();
        for (identifier, v) in bindings {
            let alphanumeric: String = v.chars().filter(char::is_ascii_alphanumeric).collect();
            out = out
                .replace(&format!("${{{identifier}}}"), v)
                .replace(&format!("&{{{identifier}}}"), &alphanumeric);
        }
        out
    }

    /// Whether `text` has `${identifier}` or `&{identifier}`.
    fn mentions(text: &str, identifier: &str) -> bool {
        text.contains(&format!("${{{identifier}}}")) || text.contains(&format!("&{{{identifier}}}"))
    }

    fn bound<'a>(bindings: &'a [Binding], name: &str) -> Option<&'a str> {
        bindings
            .iter()
            .find(|(identifier, _)| identifier == name)
            .map(|(_, v)| v.as_str())
    }

    fn value(
        v: &Value,
        bindings: &[Binding],
        path: &str,
        scope: &Scope,
        depth: usize,
    ) -> Expanded<Value> {
        match v {
            Value::Tagged(tagged) => {
                if tagged.tag == "Ref"
                    && let Value::String(name) = &tagged.value
                    && let Some(replacement) = bound(bindings, name)
                {
                    return Ok(Value::String(replacement.to_owned()));
                }
                if tagged.tag == "Sub" && !bindings.is_empty() {
                    return sub(
                        &tagged.value,
                        Some(&tagged.tag),
                        bindings,
                        path,
                        scope,
                        depth,
                    );
                }
                Ok(Value::Tagged(Box::new(TaggedValue {
                    tag: tagged.tag.clone(),
                    value: value(&tagged.value, bindings, path, scope, depth)?,
                })))
            }
            Value::Mapping(m) => mapping(m, bindings, path, scope, depth),
            Value::Sequence(items) => items
                .iter()
                .enumerate()
                .map(|(i, x)| value(x, bindings, &format!("{path}[{i}]"), scope, depth))
                .collect::<Expanded<Vec<Value>>>()
                .map(Value::Sequence),
            Value::String(s)
                if bindings
                    .iter()
                    .any(|(identifier, _)| mentions(s, identifier)) =>
            {
                Err(format!(
                    "{path}: {s:?} names a loop identifier outside Fn::Sub (CloudFormation leaves \
                     it as it is; write !Sub, or !Ref for the value alone)"
                ))
            }
            other => Ok(other.clone()),
        }
    }

    fn mapping(
        m: &Mapping,
        bindings: &[Binding],
        path: &str,
        scope: &Scope,
        depth: usize,
    ) -> Expanded<Value> {
        if m.len() == 1
            && !bindings.is_empty()
            && let Some((k, arg)) = m.iter().next()
        {
            if k.as_str() == Some("Ref")
                && let Value::String(name) = arg
                && let Some(replacement) = bound(bindings, name)
            {
                return Ok(Value::String(replacement.to_owned()));
            }
            if k.as_str() == Some("Fn::Sub") {
                return sub(arg, None, bindings, path, scope, depth);
            }
        }
        let mut out = Mapping::new();
        for (k, x) in m {
            if let Some(key) = k.as_str().filter(|k| k.starts_with(FOR_EACH)) {
                for (key, expanded) in for_each(key, x, bindings, path, scope, depth)? {
                    put(&mut out, key, expanded, path)?;
                }
                continue;
            }
            let key = match k {
                Value::String(s) if !bindings.is_empty() => Value::String(substitute(s, bindings)),
                other => other.clone(),
            };
            let here = format!("{path}.{}", key.as_str().unwrap_or("?"));
            let expanded = value(x, bindings, &here, scope, depth)?;
            put(&mut out, key, expanded, path)?;
        }
        Ok(Value::Mapping(out))
    }

    fn put(out: &mut Mapping, key: Value, v: Value, path: &str) -> Expanded<()> {
        if out.contains_key(&key) {
            return Err(format!(
                "{path}: {} is defined twice",
                key.as_str().unwrap_or("?")
            ));
        }
        out.insert(key, v);
        Ok(())
    }

    /// A `Fn::Sub` in a loop (`tag`: its short form's `!Sub`; `None`: `Fn::Sub: ...`).
    fn sub(
        arg: &Value,
        tag: Option<&Tag>,
        bindings: &[Binding],
        path: &str,
        scope: &Scope,
        depth: usize,
    ) -> Expanded<Value> {
        let (text, variables) = match arg {
            Value::String(s) => (substitute(s, bindings), None),
            Value::Sequence(items) => match items.split_first() {
                Some((Value::String(s), rest)) => (
                    substitute(s, bindings),
                    Some(
                        rest.iter()
                            .map(|x| value(x, bindings, path, scope, depth))
                            .collect::<Expanded<Vec<Value>>>()?,
                    ),
                ),
                _ => return Err(format!("{path}: malformed Fn::Sub {arg:?}")),
            },
            other => return Err(format!("{path}: malformed Fn::Sub {other:?}")),
        };
        if !text.contains("${") {
            return Ok(Value::String(text));
        }
        let arg = match variables {
            None => Value::String(text),
            Some(rest) => {
                Value::Sequence(std::iter::once(Value::String(text)).chain(rest).collect())
            }
        };
        Ok(match tag {
            Some(tag) => Value::Tagged(Box::new(TaggedValue {
                tag: tag.clone(),
                value: arg,
            })),
            None => {
                let mut m = Mapping::new();
                m.insert(Value::String("Fn::Sub".to_owned()), arg);
                Value::Mapping(m)
            }
        })
    }

    fn for_each(
        key: &str,
        v: &Value,
        bindings: &[Binding],
        path: &str,
        scope: &Scope,
        depth: usize,
    ) -> Expanded<Vec<(Value, Value)>> {
        let here = format!("{path}.{key}");
        let name = &key[FOR_EACH.len()..];
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(format!("{here}: a loop name is letters and digits"));
        }
        if depth >= MAX_DEPTH {
            return Err(format!("{here}: more than {MAX_DEPTH} nested Fn::ForEach"));
        }
        let Some([identifier, collection, body]) = v.as_sequence().map(Vec::as_slice) else {
            return Err(format!(
                "{here}: expected [Identifier, [values...], {{OutputKey: OutputValue}}]"
            ));
        };
        let identifier = match identifier {
            Value::String(s) if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric()) => s,
            other => {
                return Err(format!(
                    "{here}: the identifier must be letters and digits, not {other:?}"
                ));
            }
        };
        if scope.parameters.contains(identifier) {
            return Err(format!(
                "{here}: the identifier {identifier} is also a parameter"
            ));
        }
        if bound(bindings, identifier).is_some() {
            return Err(format!(
                "{here}: the identifier {identifier} is an enclosing loop's"
            ));
        }
        let Value::Sequence(collection) = collection else {
            return Err(format!(
                "{here}: only literal collections are supported, not {collection:?}"
            ));
        };
        let Value::Mapping(keys) = body else {
            return Err(format!("{here}: the body must be a mapping, not {body:?}"));
        };
        if keys.is_empty() {
            return Err(format!("{here}: the body is empty"));
        }
        for k in keys.keys() {
            let k = k.as_str().unwrap_or_default();
            if !k.starts_with(FOR_EACH) && !mentions(k, identifier) {
                return Err(format!(
                    "{here}: the key {k:?} must name ${{{identifier}}} or &{{{identifier}}}"
                ));
            }
        }
        let mut out: Vec<(Value, Value)> = Vec::new();
        for item in collection {
            let item = match item {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                other => return Err(format!("{here}: a collection holds strings, not {other:?}")),
            };
            let mut inner = bindings.to_vec();
            inner.push((identifier.clone(), item));
            let Value::Mapping(expanded) = mapping(keys, &inner, &here, scope, depth + 1)? else {
                return Err(format!("{here}: the body did not expand to a mapping"));
            };
            for (k, x) in expanded {
                let text = k.as_str().unwrap_or_default();
                if text.contains("${") || text.contains("&{") {
                    return Err(format!(
                        "{here}: {text:?}: an output key can only name loop identifiers"
                    ));
                }
                if out.iter().any(|(seen, _)| *seen == k) {
                    return Err(format!("{here}: {text} is generated twice"));
                }
                out.push((k, x));
            }
        }
        Ok(out)
    }

    fn yaml(text: &str) -> Value {
        serde_yaml::from_str(text).expect("YAML")
    }

    #[test]
    fn keys_sub_ref_and_nested_loops_expand_as_cloudformation_does() {
        let looped = yaml(
            r#"
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
          Long: {"Fn::Sub": "${Channel}Function"}
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
"#,
        );
        let t = try_expand(&looped).expect("expands");
        let ids: Vec<&str> = t["Resources"]
            .as_mapping()
            .expect("resources")
            .keys()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(
            ids,
            [
                "Topic",
                "EmailLog",
                "EmailHighQueue",
                "EmailHighDlq",
                "EmailLowQueue",
                "EmailLowDlq",
                "SmsLog",
                "SmsHighQueue",
                "SmsHighDlq",
                "SmsLowQueue",
                "SmsLowDlq",
            ]
        );
        assert_eq!(
            t["Resources"]["SmsLog"]["Properties"],
            yaml(
                r#"
LogGroupName: !Sub "/notify/Sms/${AWS::Region}"
Name: Sms
Size: !Ref Size
Literal: !Sub "${!Channel} Sms"
Long: SmsFunction
Tags: {TagabSms: a.b=Sms, TagcdSms: c-d=Sms}
"#
            )
        );
        assert_eq!(
            t["Resources"]["SmsLowQueue"]["Properties"],
            yaml(
                r#"
Arn: !GetAtt [SmsLowDlq, Arn]
Function: {Ref: SmsFunction}
Words: !Sub ["${Name} Low ${Other}", {Name: !FindInMap [Channels, Sms, Name]}]
"#
            )
        );
        assert_eq!(
            t["Outputs"],
            yaml("EmailLogArn: {Value: !GetAtt [EmailLog, Arn]}")
        );
        assert_eq!(t["Parameters"], looped["Parameters"]);
    }

    #[test]
    fn a_template_without_loops_is_left_as_it_is() {
        let t = yaml("Resources: {A: {Type: T, Properties: {S: !Sub x, R: !Ref Channel, N: 1}}}");
        assert_eq!(try_expand(&t), Ok(t));
    }

    #[test]
    fn ambiguous_and_malformed_loops_are_refused() {
        let refused = |text: &str| try_expand(&yaml(text)).expect_err(text);
        let head = "Resources:\n  Fn::ForEach::L:\n    - C\n    - [A, B]\n";
        for (body, message) in [
            (
                "    - ${C}Q: {Type: T, Properties: {Name: '${C}'}}",
                "outside Fn::Sub",
            ),
            (
                "    - ${C}Q: {Type: T, Properties: {Arn: !GetAtt '${C}D.Arn'}}",
                "outside Fn::Sub",
            ),
            ("    - Q: {Type: T}", "must name ${C} or &{C}"),
            (
                "    - ${C}Q: {Type: T}\n  AQ: {Type: T}",
                "AQ is defined twice",
            ),
            (
                "    - Q${Other}${C}: {Type: T}",
                "an output key can only name loop identifiers",
            ),
        ] {
            let text = format!("{head}{body}");
            let error = refused(&text);
            assert!(error.contains(message), "{text}: {error}");
        }
        for (text, message) in [
            (
                "Resources:\n  Fn::ForEach::L: [C, [a-b, a.b], {'Q&{C}': {Type: T}}]",
                "Qab is generated twice",
            ),
            (
                "Resources:\n  Fn::ForEach::L: [C, !Ref List, {'${C}': {Type: T}}]",
                "only literal collections",
            ),
            (
                "Resources:\n  Fn::ForEach::L: [C, [A]]",
                "expected [Identifier",
            ),
            (
                "Resources:\n  Fn::ForEach::L-1: [C, [A], {'${C}': {Type: T}}]",
                "letters and digits",
            ),
            (
                "Parameters: {C: {Type: String}}\nResources:\n  Fn::ForEach::L: [C, [A], {'${C}': {Type: T}}]",
                "the identifier C is also a parameter",
            ),
            (
                "Resources:\n  Fn::ForEach::L: [C, [A], {'${C}': {Type: T}, 'Fn::ForEach::M': [C, [B], {'${C}x': {Type: T}}]}]",
                "the identifier C is an enclosing loop's",
            ),
            (
                "Resources:\n  Fn::ForEach::L: [C, [A], {'${C}': {Type: T}}]\nOutputs:\n  Fn::ForEach::L: [C, [A], {'${C}': {Value: x}}]",
                "the loop name is used twice",
            ),
            (
                "Resources:\n  L: {Type: T}\n  Fn::ForEach::L: [C, [A], {'${C}': {Type: T}}]",
                "the loop name is also a resource's",
            ),
        ] {
            let error = refused(text);
            assert!(error.contains(message), "{text}: {error}");
        }
        let nested = |depth: usize| {
            let mut key = String::new();
            for d in 1..=depth {
                key.push_str("${I");
                key.push_str(&d.to_string());
                key.push('}');
            }
            let mut body = format!("{{'{key}x': {{Type: T}}}}");
            for d in (1..=depth).rev() {
                body = format!("{{'Fn::ForEach::L{d}': [I{d}, [a], {body}]}}");
            }
            format!("Resources: {body}")
        };
        let five = try_expand(&yaml(&nested(5))).expect("5 nested loops expand");
        assert!(five["Resources"].get("aaaaax").is_some(), "{five:?}");
        assert!(refused(&nested(6)).contains("more than 5 nested Fn::ForEach"));
    }
}

/// The table's stream reaches the changes function through the filter the code names (and
/// `notify-local` applies): template.yaml carries exactly it.
#[test]
fn the_changes_mapping_filters_the_stream_as_the_code_says() {
    let t = template();
    let pattern = &resource(&t, "ChangesMapping")["FilterCriteria"]["Filters"][0]["Pattern"];
    let deployed: Json = serde_json::from_str(pattern.as_str().expect("a filter pattern"))
        .expect("the pattern is JSON");
    let code: Json =
        serde_json::from_str(notify_shared::store::CHANGES_STREAM_FILTER).expect("JSON");
    assert_eq!(deployed, code);
}
