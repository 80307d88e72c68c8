//! Creates the stack's resources on the emulator, idempotently.

use std::collections::HashMap;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use notify_shared::{
    config::{DLQ_VARS, QueueUrls},
    domain::{Channel, Priority},
};

#[derive(Debug, thiserror::Error)]
#[error("{what}: {reason}")]
pub struct SetupError {
    what: String,
    reason: String,
}

fn fail(what: impl Into<String>, e: impl std::error::Error) -> SetupError {
    SetupError {
        what: what.into(),
        reason: aws_sdk_sqs::error::DisplayErrorContext(e).to_string(),
    }
}

/// Receives of a message before its dead-letter queue, as deployed (template.yaml's
/// `MaxReceives` default; `tests/tests/iac.rs` checks they agree). `make dev` uses it.
pub const MAX_RECEIVES: u32 = 5;
/// Receives of an SES event before the events dead-letter queue (template.yaml's
/// `EventsQueue`): with the events function's backoff (10 s doubling to 120 s), an event that
/// came before its notification's `sent` is retried for about 12 minutes.
pub const EVENTS_MAX_RECEIVES: u32 = 10;
/// Receives of a status callback before the callbacks dead-letter queue (template.yaml's
/// `CallbacksQueue`): a safety net, as the callbacks function gives a callback up itself
/// when its retry window (a day at most) runs out, long before 50 backed-off receives.
pub const CALLBACKS_MAX_RECEIVES: u32 = 50;
/// The SES event types the configuration set publishes (template.yaml's event destination,
/// without opens and clicks).
pub const SES_EVENT_TYPES: [&str; 6] = [
    "DELIVERY",
    "BOUNCE",
    "COMPLAINT",
    "REJECT",
    "RENDERING_FAILURE",
    "DELIVERY_DELAY",
];
/// How long a queue keeps a message (the SQS default, stated).
pub const QUEUE_RETENTION_SECS: u32 = 345_600;
/// How long a dead-letter queue keeps one: the longest SQS allows, so a parked message outlives
/// any holiday.
pub const DLQ_RETENTION_SECS: u32 = 1_209_600;

/// What to create.
#[derive(Debug, Clone)]
pub struct StackSpec {
    /// Prefix of every resource name, so several stacks can share one emulator.
    pub prefix: String,
    pub channels: Vec<Channel>,
    /// The redrive policy's `maxReceiveCount` (the workers' `NOTIFY_MAX_RECEIVES`).
    pub max_receives: u32,
    pub visibility_timeout_secs: u32,
    /// SES identity the email worker sends from.
    pub email_from: String,
    /// The push worker's FCM service-account key (JSON), stored as a secret, and the FCM
    /// base URL it talks to (the stand-in).
    pub fcm: Option<FcmSpec>,
}

#[derive(Debug, Clone)]
pub struct FcmSpec {
    pub account_json: String,
    pub base_url: String,
}

/// One channel × priority queue and its dead-letter queue.
#[derive(Debug, Clone)]
pub struct QueuePair {
    pub channel: Channel,
    pub priority: Priority,
    pub url: String,
    pub arn: String,
    pub dlq_url: String,
}

/// Where SES's events go: the configuration set's SNS topic, and the queue (with its
/// dead-letter queue) the events function reads.
#[derive(Debug, Clone)]
pub struct EventsPipeline {
    pub configuration_set: String,
    pub topic_arn: String,
    pub url: String,
    pub arn: String,
    pub dlq_url: String,
}

/// What was created.
#[derive(Debug, Clone)]
pub struct Stack {
    pub spec: StackSpec,
    pub table: String,
    pub queues: Vec<QueuePair>,
    /// The secret holding the FCM key, when push is set up.
    pub fcm_secret: Option<String>,
    /// SES's event publishing, when email is set up.
    pub events: Option<EventsPipeline>,
    /// The status callbacks queue (filled by the changes function, read by the callbacks
    /// function) and its dead-letter queue.
    pub callbacks: QueuePair,
}

impl Stack {
    pub fn dlq_urls(&self) -> QueueUrls {
        let mut urls = QueueUrls::default();
        for q in &self.queues {
            urls.insert(q.channel, q.priority, q.dlq_url.clone());
        }
        urls
    }

    pub fn queue_urls(&self) -> QueueUrls {
        let mut urls = QueueUrls::default();
        for q in &self.queues {
            urls.insert(q.channel, q.priority, q.url.clone());
        }
        urls
    }

    /// The queues a channel's worker is triggered by, as event sources.
    pub fn sources(&self, channel: Channel) -> Vec<crate::esm::Source> {
        self.queues
            .iter()
            .filter(|q| q.channel == channel)
            .map(|q| crate::esm::Source {
                priority: q.priority,
                url: q.url.clone(),
                arn: q.arn.clone(),
            })
            .collect()
    }

    pub fn queue(&self, channel: Channel, priority: Priority) -> Option<&QueuePair> {
        self.queues
            .iter()
            .find(|q| q.channel == channel && q.priority == priority)
    }

    /// The environment the functions run with against this stack (without the endpoint,
    /// credentials and API keys, which belong to the caller).
    pub fn function_env(&self) -> Vec<(String, String)> {
        let mut env = vec![
            ("NOTIFY_TABLE".to_owned(), self.table.clone()),
            (
                "NOTIFY_MAX_RECEIVES".to_owned(),
                self.spec.max_receives.to_string(),
            ),
            ("NOTIFY_EMAIL_FROM".to_owned(), self.spec.email_from.clone()),
        ];
        for q in &self.queues {
            env.push((QueueUrls::var_name(q.channel, q.priority), q.url.clone()));
            env.push((
                QueueUrls::prefixed_var(DLQ_VARS, q.channel, q.priority),
                q.dlq_url.clone(),
            ));
        }
        if let Some(events) = &self.events {
            env.push((
                "NOTIFY_SES_CONFIGURATION_SET".to_owned(),
                events.configuration_set.clone(),
            ));
            env.push(("NOTIFY_EVENTS_QUEUE_ARN".to_owned(), events.arn.clone()));
        }
        env.push((
            "NOTIFY_CALLBACKS_QUEUE_URL".to_owned(),
            self.callbacks.url.clone(),
        ));
        env.push((
            "NOTIFY_CALLBACKS_DLQ_URL".to_owned(),
            self.callbacks.dlq_url.clone(),
        ));
        if let (Some(secret), Some(fcm)) = (&self.fcm_secret, &self.spec.fcm) {
            env.push(("NOTIFY_FCM_CREDENTIALS_SECRET".to_owned(), secret.clone()));
            env.push(("NOTIFY_FCM_BASE_URL".to_owned(), fcm.base_url.clone()));
        }
        env
    }
}

/// The table of the local stack with `prefix`.
pub fn table_name(prefix: &str) -> String {
    format!("{prefix}-notifications")
}

pub async fn create(sdk: &SdkConfig, spec: StackSpec) -> Result<Stack, SetupError> {
    let table = table_name(&spec.prefix);
    create_table(&aws_sdk_dynamodb::Client::new(sdk), &table).await?;

    let sqs = aws_sdk_sqs::Client::new(sdk);
    let mut queues = Vec::new();
    for &channel in &spec.channels {
        for priority in Priority::ALL {
            let name = format!("{}-{channel}-{priority}", spec.prefix);
            queues.push(create_queue_pair(&sqs, &spec, &name, channel, priority).await?);
        }
    }

    let callbacks = create_queue_pair(
        &sqs,
        &StackSpec {
            max_receives: CALLBACKS_MAX_RECEIVES,
            ..spec.clone()
        },
        &format!("{}-callbacks", spec.prefix),
        Channel::Webhook,
        Priority::Normal,
    )
    .await?;
    let mut events = None;
    if spec.channels.contains(&Channel::Email) {
        events = Some(create_events_pipeline(sdk, &sqs, &spec).await?);
        let ses = aws_sdk_sesv2::Client::new(sdk);
        let created = ses
            .create_email_identity()
            .email_identity(&spec.email_from)
            .send()
            .await;
        if let Err(e) = created {
            let exists = e
                .as_service_error()
                .is_some_and(|s| s.is_already_exists_exception());
            if !exists {
                return Err(fail(format!("SES identity {}", spec.email_from), e));
            }
        }
    }
    if spec.channels.contains(&Channel::Sms) {
        // SNS's SMS delivery status logging, as template.yaml turns it on: every SMS's
        // delivery status goes to CloudWatch Logs, where a subscription hands it to the
        // events function.
        aws_sdk_sns::Client::new(sdk)
            .set_sms_attributes()
            .attributes(
                "DeliveryStatusIAMRole",
                format!(
                    "arn:aws:iam::{}:role/{}-sms-delivery-status",
                    crate::logs::ACCOUNT,
                    spec.prefix
                ),
            )
            .attributes("DeliveryStatusSuccessSamplingRate", "100")
            .send()
            .await
            .map_err(|e| fail("SMS delivery status logging", e))?;
    }
    let mut fcm_secret = None;
    if let (true, Some(fcm)) = (spec.channels.contains(&Channel::Push), &spec.fcm) {
        let name = format!("{}-fcm-service-account", spec.prefix);
        put_secret(
            &aws_sdk_secretsmanager::Client::new(sdk),
            &name,
            &fcm.account_json,
        )
        .await?;
        fcm_secret = Some(name);
    }
    Ok(Stack {
        spec,
        table,
        queues,
        fcm_secret,
        events,
        callbacks,
    })
}

/// The configuration set the email worker sends with, publishing SES's events to a topic that
/// feeds the events queue, as template.yaml deploys them.
async fn create_events_pipeline(
    sdk: &SdkConfig,
    sqs: &aws_sdk_sqs::Client,
    spec: &StackSpec,
) -> Result<EventsPipeline, SetupError> {
    use aws_sdk_sesv2::types::{EventDestinationDefinition, EventType, SnsDestination};

    let name = format!("{}-events", spec.prefix);
    let pair = create_queue_pair(
        sqs,
        &StackSpec {
            max_receives: EVENTS_MAX_RECEIVES,
            ..spec.clone()
        },
        &name,
        Channel::Email,
        Priority::Normal,
    )
    .await?;
    let sns = aws_sdk_sns::Client::new(sdk);
    let topic_name = format!("{}-ses-events", spec.prefix);
    let topic_arn = sns
        .create_topic()
        .name(&topic_name)
        .send()
        .await
        .map_err(|e| fail(format!("topic {topic_name}"), e))?
        .topic_arn
        .unwrap_or_default();
    sns.subscribe()
        .topic_arn(&topic_arn)
        .protocol("sqs")
        .endpoint(&pair.arn)
        .send()
        .await
        .map_err(|e| fail(format!("subscription of {name} to {topic_name}"), e))?;

    let ses = aws_sdk_sesv2::Client::new(sdk);
    let configuration_set = format!("{}-notify", spec.prefix);
    let created = ses
        .create_configuration_set()
        .configuration_set_name(&configuration_set)
        .send()
        .await;
    if let Err(e) = created {
        // SES v2 says AlreadyExistsException; the emulator answers with SES v1's code.
        use aws_sdk_sesv2::error::ProvideErrorMetadata;
        let exists = e.as_service_error().is_some_and(|s| {
            s.is_already_exists_exception()
                || s.code() == Some("ConfigurationSetAlreadyExistsException")
        });
        if !exists {
            return Err(fail(format!("configuration set {configuration_set}"), e));
        }
    }
    let existing = ses
        .get_configuration_set_event_destinations()
        .configuration_set_name(&configuration_set)
        .send()
        .await
        .map_err(|e| fail(format!("event destinations of {configuration_set}"), e))?;
    if existing.event_destinations().is_empty() {
        let destination = EventDestinationDefinition::builder()
            .enabled(true)
            .set_matching_event_types(Some(
                SES_EVENT_TYPES
                    .iter()
                    .map(|t| EventType::from(*t))
                    .collect(),
            ))
            .sns_destination(
                SnsDestination::builder()
                    .topic_arn(&topic_arn)
                    .build()
                    .map_err(|e| fail("SNS destination", e))?,
            )
            .build();
        ses.create_configuration_set_event_destination()
            .configuration_set_name(&configuration_set)
            .event_destination_name("notify-events")
            .event_destination(destination)
            .send()
            .await
            .map_err(|e| fail(format!("event destination of {configuration_set}"), e))?;
    }
    Ok(EventsPipeline {
        configuration_set,
        topic_arn,
        url: pair.url,
        arn: pair.arn,
        dlq_url: pair.dlq_url,
    })
}

async fn put_secret(
    secrets: &aws_sdk_secretsmanager::Client,
    name: &str,
    value: &str,
) -> Result<(), SetupError> {
    let created = secrets
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await;
    match created {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_exists_exception()) =>
        {
            secrets
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
                .await
                .map_err(|e| fail(format!("secret {name}"), e))?;
            Ok(())
        }
        Err(e) => Err(fail(format!("secret {name}"), e)),
    }
}

/// A global secondary index projecting the keys and `include`: all its readers need.
fn index(
    name: &str,
    hash: &str,
    range: &str,
    include: &[&str],
) -> Result<GlobalSecondaryIndex, SetupError> {
    let key = |attr: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(attr)
            .key_type(kind)
            .build()
            .map_err(|e| fail("key schema", e))
    };
    GlobalSecondaryIndex::builder()
        .index_name(name)
        .key_schema(key(hash, KeyType::Hash)?)
        .key_schema(key(range, KeyType::Range)?)
        .projection(if include.is_empty() {
            Projection::builder()
                .projection_type(ProjectionType::KeysOnly)
                .build()
        } else {
            Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(include.iter().map(|a| (*a).to_owned()).collect()))
                .build()
        })
        .build()
        .map_err(|e| fail("index", e))
}

async fn create_table(ddb: &aws_sdk_dynamodb::Client, table: &str) -> Result<(), SetupError> {
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .map_err(|e| fail("key schema", e))
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| fail("attribute definition", e))
    };
    let created = ddb
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        // The changes function reads the status changes from the stream.
        .stream_specification(
            aws_sdk_dynamodb::types::StreamSpecification::builder()
                .stream_enabled(true)
                .stream_view_type(aws_sdk_dynamodb::types::StreamViewType::NewAndOldImages)
                .build()
                .map_err(|e| fail("stream specification", e))?,
        )
        .key_schema(key("PK", KeyType::Hash)?)
        .key_schema(key("SK", KeyType::Range)?)
        .attribute_definitions(attr("PK")?)
        .attribute_definitions(attr("SK")?)
        .attribute_definitions(attr("GSI1PK")?)
        .attribute_definitions(attr("GSI1SK")?)
        .attribute_definitions(attr("GSI2PK")?)
        .attribute_definitions(attr("GSI2SK")?)
        .attribute_definitions(attr("GSI3PK")?)
        .attribute_definitions(attr("GSI3SK")?)
        .attribute_definitions(attr("GSI4PK")?)
        .attribute_definitions(attr("GSI4SK")?)
        .attribute_definitions(attr("GSI5PK")?)
        .attribute_definitions(attr("GSI6PK")?)
        .attribute_definitions(attr("GSI7PK")?)
        .attribute_definitions(attr("id")?)
        // Finds every registration of a device token.
        .global_secondary_indexes(index(
            notify_shared::store::TOKEN_INDEX,
            "GSI1PK",
            "GSI1SK",
            &[],
        )?)
        // Finds the notifications whose due marker fell due (sparse: only those with one).
        .global_secondary_indexes(index(
            notify_shared::store::DUE_INDEX,
            "GSI2PK",
            "GSI2SK",
            &[],
        )?)
        // Counts the statuses of a batch's notifications (sparse: only batch members).
        .global_secondary_indexes(index(
            notify_shared::store::BATCH_INDEX,
            "GSI3PK",
            "GSI3SK",
            &["status", "ttl"],
        )?)
        // Finds a notification by its provider's message id (sparse: SMS, once sent).
        .global_secondary_indexes(index(
            notify_shared::store::PROVIDER_INDEX,
            "GSI4PK",
            "GSI4SK",
            &[],
        )?)
        // A tenant's notifications newest first: all (sharded), by recipient, by reference.
        .global_secondary_indexes(index(
            notify_shared::store::LIST_INDEX,
            "GSI5PK",
            "id",
            &[],
        )?)
        .global_secondary_indexes(index(
            notify_shared::store::RECIPIENT_INDEX,
            "GSI6PK",
            "id",
            &[],
        )?)
        .global_secondary_indexes(index(
            notify_shared::store::REFERENCE_INDEX,
            "GSI7PK",
            "id",
            &[],
        )?)
        .send()
        .await;
    match created {
        Ok(_) => {}
        Err(e)
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_in_use_exception()) =>
        {
            return Ok(());
        }
        Err(e) => return Err(fail(format!("table {table}"), e)),
    }
    ddb.update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("ttl")
                .enabled(true)
                .build()
                .map_err(|e| fail("ttl", e))?,
        )
        .send()
        .await
        .map_err(|e| fail(format!("TTL on {table}"), e))?;
    Ok(())
}

async fn create_queue_pair(
    sqs: &aws_sdk_sqs::Client,
    spec: &StackSpec,
    name: &str,
    channel: Channel,
    priority: Priority,
) -> Result<QueuePair, SetupError> {
    let dlq_name = format!("{name}-dlq");
    let dlq_url = sqs
        .create_queue()
        .queue_name(&dlq_name)
        .attributes(
            QueueAttributeName::MessageRetentionPeriod,
            DLQ_RETENTION_SECS.to_string(),
        )
        .send()
        .await
        .map_err(|e| fail(format!("queue {dlq_name}"), e))?
        .queue_url
        .unwrap_or_default();
    let dlq_arn = queue_arn(sqs, &dlq_url).await?;
    let redrive = serde_json::json!({
        "deadLetterTargetArn": dlq_arn,
        "maxReceiveCount": spec.max_receives.to_string(),
    });
    let url = sqs
        .create_queue()
        .queue_name(name)
        .attributes(
            QueueAttributeName::VisibilityTimeout,
            spec.visibility_timeout_secs.to_string(),
        )
        .attributes(QueueAttributeName::RedrivePolicy, redrive.to_string())
        .attributes(
            QueueAttributeName::MessageRetentionPeriod,
            QUEUE_RETENTION_SECS.to_string(),
        )
        .send()
        .await
        .map_err(|e| fail(format!("queue {name}"), e))?
        .queue_url
        .unwrap_or_default();
    let arn = queue_arn(sqs, &url).await?;
    Ok(QueuePair {
        channel,
        priority,
        url,
        arn,
        dlq_url,
    })
}

pub async fn queue_arn(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<String, SetupError> {
    let attrs: HashMap<QueueAttributeName, String> = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| fail(format!("attributes of {url}"), e))?
        .attributes
        .unwrap_or_default();
    attrs
        .get(&QueueAttributeName::QueueArn)
        .cloned()
        .ok_or_else(|| SetupError {
            what: url.to_owned(),
            reason: "no QueueArn attribute".into(),
        })
}
