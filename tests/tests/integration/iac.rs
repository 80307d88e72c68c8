//! The local stack against the deployed one: what `notify-local` creates on the emulator (for
//! `make dev` and these tests) must match template.yaml (which infra/parity.py holds the CDK app
//! to), so local and deployed never disagree about the table, the queues or the configuration.

use std::collections::BTreeSet;

use aws_sdk_dynamodb::types::{BillingMode, TimeToLiveStatus};
use aws_sdk_sqs::types::QueueAttributeName;
use notify_local::resources;
use notify_shared::domain::Channel;
use notify_tests::TestStack;
use serde_json::{Value as Json, json};
use serde_yaml::Value;

fn template() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml");
    let text = std::fs::read_to_string(path).expect("template.yaml at the repository root");
    serde_yaml::from_str(&text).expect("template.yaml is YAML")
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
        .map(str::to_lowercase)
        .collect();
    let local_pairs: BTreeSet<String> = s
        .stack
        .queues
        .iter()
        .map(|q| format!("{}{}", q.channel, q.priority))
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
        let reference: Value =
            serde_yaml::from_str(&format!("!GetAtt {id}DeadLetterQueue.Arn")).expect("a tag");
        assert_eq!(
            deployed["RedrivePolicy"]["deadLetterTargetArn"], reference,
            "{id}Queue dead-letters to {id}DeadLetterQueue"
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

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
