use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    error::{DisplayErrorContext, SdkError},
    operation::update_item::UpdateItemError,
    types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure},
};

use super::{
    Begin, Device, DeviceRegistry, DueChange, FailureChange, IdempotencyStore, LeaseChange,
    NotificationStore, RETRIES_EXHAUSTED, StoreError, StoredResponse, Transition,
    TransitionOutcome, devices::split_excess, idempotency::KeyState,
};
use crate::domain::{
    DeviceToken, Notification, NotificationId, Platform, Status, TenantId, UserId,
    schedule::{Due, DueKind},
    time::Timestamp,
};

pub(super) type Item = HashMap<String, AttributeValue>;

/// Notifications and devices in a single DynamoDB table (single-table design):
///
/// | item | `PK` | `SK` | `GSI1PK` | `GSI1SK` |
/// |---|---|---|---|---|
/// | notification | `NOTIFICATION#<id>` | `NOTIFICATION` | | |
/// | device | `USER#<tenant>#<user>` | `DEVICE#<token>` | `TOKEN#<tenant>#<token>` | `USER#<user>` |
///
/// `ttl` (epoch seconds) drives DynamoDB TTL. `GSI1` (keys only) finds a token's registrations.
#[derive(Clone)]
pub struct DynamoStore {
    pub(crate) client: Client,
    pub(crate) table: String,
    device_idle: std::time::Duration,
    /// How long a bulk write or read retries what DynamoDB leaves unprocessed.
    pub(super) bulk_budget: std::time::Duration,
}

const NOTIFICATION_SK: &str = "NOTIFICATION";

fn notification_pk(id: &NotificationId) -> String {
    format!("NOTIFICATION#{id}")
}

pub(super) fn notification_key(id: &NotificationId) -> Item {
    HashMap::from([
        ("PK".to_owned(), AttributeValue::S(notification_pk(id))),
        (
            "SK".to_owned(),
            AttributeValue::S(NOTIFICATION_SK.to_owned()),
        ),
    ])
}

pub(super) fn to_item(n: &Notification) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(n).map_err(|e| StoreError::Corrupt {
        id: n.id.to_string(),
        reason: e.to_string(),
    })?;
    item.extend(notification_key(&n.id));
    item.insert(
        "ttl".into(),
        AttributeValue::N(n.expires_at.as_seconds().to_string()),
    );
    if let Some(due) = &n.due {
        item.extend(due_keys(&n.id, due));
    }
    if let Some(batch) = &n.batch_id {
        item.extend(super::batches::batch_keys(&n.tenant, batch, &n.id));
    }
    Ok(item)
}

/// The index that finds notifications whose marker fell due (sparse: only items with `due`).
pub const DUE_INDEX: &str = "GSI2";
/// Due entries spread over this many partitions, so a burst of notifications does not make
/// one index partition hot.
const DUE_SHARDS: u32 = 4;

fn due_shard(id: &NotificationId) -> u32 {
    // UUIDv7 ends in random bits.
    id.as_str()
        .bytes()
        .last()
        .map_or(0, |b| u32::from(b) % DUE_SHARDS)
}

fn due_keys(id: &NotificationId, due: &Due) -> Item {
    HashMap::from([
        (
            "GSI2PK".to_owned(),
            AttributeValue::S(format!("DUE#{}", due_shard(id))),
        ),
        (
            "GSI2SK".to_owned(),
            AttributeValue::S(format!("{}#{id}", due.at)),
        ),
    ])
}

fn from_item(mut item: Item) -> Result<Notification, StoreError> {
    for k in ["PK", "SK", "ttl", "GSI2PK", "GSI2SK", "GSI3PK", "GSI3SK"] {
        item.remove(k);
    }
    serde_dynamo::from_item(item.clone()).map_err(|e| StoreError::Corrupt {
        id: match item.get("id") {
            Some(AttributeValue::S(id)) => id.clone(),
            _ => "?".into(),
        },
        reason: e.to_string(),
    })
}

pub(super) fn value<T: serde::Serialize>(v: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(v).map_err(|e| StoreError::Corrupt {
        id: "-".into(),
        reason: e.to_string(),
    })
}

pub(super) fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            device_idle: super::devices::DEFAULT_DEVICE_IDLE,
            bulk_budget: super::batches::DEFAULT_BULK_BUDGET,
        }
    }

    /// How long a bulk write or read keeps retrying unprocessed items before giving up on them.
    pub fn with_bulk_budget(mut self, budget: std::time::Duration) -> Self {
        self.bulk_budget = budget;
        self
    }

    /// How long a device registration lasts without being renewed.
    pub fn with_device_idle(mut self, idle: std::time::Duration) -> Self {
        self.device_idle = idle;
        self
    }

    pub fn from_sdk(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), table)
    }

    pub fn table(&self) -> &str {
        &self.table
    }
}

/// The UpdateItem expressions of a [`Transition`]; the condition mirrors
/// [`Transition::permits`] so this store and the in-memory one agree.
struct UpdatePlan {
    condition: String,
    update: String,
    names: HashMap<String, String>,
    values: Item,
}

impl UpdatePlan {
    fn of(id: &NotificationId, t: &Transition) -> Result<Self, StoreError> {
        let mut names = HashMap::from([
            ("#status".to_owned(), "status".to_owned()),
            ("#history".to_owned(), "history".to_owned()),
            ("#ttl".to_owned(), "ttl".to_owned()),
        ]);
        let mut values: Item = HashMap::from([
            (":to".to_owned(), value(&t.to)?),
            (":at".to_owned(), value(&t.at)?),
            (
                ":entry".to_owned(),
                AttributeValue::L(vec![value(&t.history_entry())?]),
            ),
            (
                ":now_s".to_owned(),
                AttributeValue::N(t.at.as_seconds().to_string()),
            ),
        ]);

        let mut from = Vec::new();
        for (i, s) in t.from.iter().enumerate() {
            let placeholder = format!(":from{i}");
            values.insert(placeholder.clone(), value(s)?);
            from.push(placeholder);
        }
        let mut status_ok = if from.is_empty() {
            "#status = :none".to_owned()
        } else {
            format!("#status IN ({})", from.join(", "))
        };
        if from.is_empty() {
            values.insert(":none".into(), AttributeValue::S(String::new()));
        }
        // Only the names an expression uses may be declared: DynamoDB rejects unused ones.
        let lease_names = [("#lease", "lease")];
        if let Some(now) = t.take_over_expired_lease_at {
            names.extend(
                [lease_names[0], ("#until", "untilMs")].map(|(k, v)| (k.to_owned(), v.to_owned())),
            );
            values.insert(":sending".into(), value(&Status::Sending)?);
            values.insert(
                ":now_ms".into(),
                AttributeValue::N(now.as_millis().to_string()),
            );
            status_ok = format!(
                "({status_ok} OR (#status = :sending AND (attribute_not_exists(#lease) OR #lease.#until < :now_ms)))"
            );
        }
        if t.retry_exhausted {
            names.extend(
                [("#error", "error"), ("#code", "code")].map(|(k, v)| (k.to_owned(), v.to_owned())),
            );
            values.insert(":failed".into(), value(&Status::Failed)?);
            values.insert(
                ":exhausted".into(),
                AttributeValue::S(RETRIES_EXHAUSTED.into()),
            );
            status_ok =
                format!("({status_ok} OR (#status = :failed AND #error.#code = :exhausted))");
        }
        // attribute_exists + ttl: a missing or expired record is refused, as in MemoryStore.
        let mut condition = format!("attribute_exists(PK) AND #ttl > :now_s AND {status_ok}");
        if let Some(token) = &t.lease_token {
            names.extend(
                [lease_names[0], ("#token", "token")].map(|(k, v)| (k.to_owned(), v.to_owned())),
            );
            values.insert(":token".into(), AttributeValue::S(token.clone()));
            condition.push_str(" AND #lease.#token = :token");
        }

        let mut set = vec![
            "#status = :to".to_owned(),
            "updatedAt = :at".to_owned(),
            "#history = list_append(#history, :entry)".to_owned(),
        ];
        let mut remove = Vec::new();
        match &t.lease {
            LeaseChange::Keep => {}
            LeaseChange::Set(l) => {
                names.insert("#lease".into(), "lease".into());
                values.insert(":lease".into(), value(l)?);
                set.push("#lease = :lease".into());
            }
            LeaseChange::Clear => {
                names.insert("#lease".into(), "lease".into());
                remove.push("#lease");
            }
        }
        if t.count_attempt {
            values.insert(":one".into(), AttributeValue::N("1".into()));
            values.insert(":zero".into(), AttributeValue::N("0".into()));
            set.push("attempts = if_not_exists(attempts, :zero) + :one".into());
        }
        if let Some(p) = &t.provider {
            values.insert(":provider".into(), AttributeValue::S(p.name.clone()));
            set.push("provider = :provider".into());
            if let Some(id) = &p.message_id {
                values.insert(":provider_id".into(), AttributeValue::S(id.clone()));
                set.push("providerMessageId = :provider_id".into());
            }
        }
        if let Some(d) = &t.deliveries {
            values.insert(":deliveries".into(), value(d)?);
            set.push("deliveries = :deliveries".into());
        }
        match &t.error {
            FailureChange::Keep => {}
            FailureChange::Set(f) => {
                names.insert("#error".into(), "error".into());
                values.insert(":error".into(), value(f)?);
                set.push("#error = :error".into());
            }
            FailureChange::Clear => {
                names.insert("#error".into(), "error".into());
                remove.push("#error");
            }
        }

        match &t.due {
            DueChange::Keep => {}
            DueChange::Set(d) => {
                names.insert("#due".into(), "due".into());
                values.insert(":due".into(), value(d)?);
                set.push("#due = :due".into());
                for (k, v) in due_keys(id, d) {
                    set.push(format!("{k} = :{k}"));
                    values.insert(format!(":{k}"), v);
                }
            }
            DueChange::Clear => {
                names.insert("#due".into(), "due".into());
                remove.extend(["#due", "GSI2PK", "GSI2SK"]);
            }
        }

        let mut update = format!("SET {}", set.join(", "));
        if !remove.is_empty() {
            update.push_str(&format!(" REMOVE {}", remove.join(", ")));
        }
        Ok(Self {
            condition,
            update,
            names,
            values,
        })
    }
}

#[async_trait]
impl NotificationStore for DynamoStore {
    async fn insert(&self, notification: &Notification) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(notification)?))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Err(StoreError::AlreadyExists(notification.id.clone()))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn insert_many(&self, notifications: &[Notification]) -> Vec<NotificationId> {
        match super::batches::items(notifications) {
            Ok(items) => self.put_all(items).await,
            Err(_) => notifications.iter().map(|n| n.id.clone()).collect(),
        }
    }

    async fn existing(
        &self,
        ids: &[NotificationId],
    ) -> Result<std::collections::HashSet<NotificationId>, StoreError> {
        self.existing_ids(ids).await
    }

    async fn get(
        &self,
        id: &NotificationId,
        now: Timestamp,
    ) -> Result<Option<Notification>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(notification_key(id)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        // DynamoDB TTL deletes lazily (up to days late): an expired record is already gone.
        match out.item {
            Some(item) => Ok(Some(from_item(item)?).filter(|n| !n.is_expired(now))),
            None => Ok(None),
        }
    }

    async fn transition(
        &self,
        id: &NotificationId,
        change: &Transition,
    ) -> Result<TransitionOutcome, StoreError> {
        let plan = UpdatePlan::of(id, change)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(notification_key(id)))
            .condition_expression(plan.condition)
            .update_expression(plan.update)
            .set_expression_attribute_names(Some(plan.names))
            .set_expression_attribute_values(Some(plan.values))
            .return_values(ReturnValue::AllNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => match out.attributes {
                Some(item) => Ok(TransitionOutcome::Applied(from_item(item)?)),
                None => Err(StoreError::Unavailable(
                    "UpdateItem returned no attributes".into(),
                )),
            },
            Err(SdkError::ServiceError(ctx)) => match ctx.into_err() {
                UpdateItemError::ConditionalCheckFailedException(e) => {
                    let current = e.item.map(from_item).transpose()?;
                    Ok(TransitionOutcome::Refused(
                        current.filter(|n| !n.is_expired(change.at)),
                    ))
                }
                other => Err(StoreError::Unavailable(
                    DisplayErrorContext(other).to_string(),
                )),
            },
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn replace_due(
        &self,
        id: &NotificationId,
        expected: DueKind,
        due: Due,
    ) -> Result<bool, StoreError> {
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(notification_key(id)))
            .condition_expression("#due.#kind = :expected")
            .expression_attribute_names("#due", "due")
            .expression_attribute_names("#kind", "kind")
            .expression_attribute_values(":expected", value(&expected)?)
            .expression_attribute_values(":due", value(&due)?);
        let mut set = vec!["#due = :due".to_owned()];
        for (k, v) in due_keys(id, &due) {
            set.push(format!("{k} = :{k}"));
            update = update.expression_attribute_values(format!(":{k}"), v);
        }
        match update
            .update_expression(format!("SET {}", set.join(", ")))
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn due(&self, until: Timestamp, limit: usize) -> Result<Vec<NotificationId>, StoreError> {
        // `<time>#<id>` sort keys: everything up to `<until>#` + the highest character.
        let upper = format!("{until}#\u{10FFFF}");
        let mut entries: Vec<String> = Vec::new();
        for shard in 0..DUE_SHARDS {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .index_name(DUE_INDEX)
                .key_condition_expression("GSI2PK = :shard AND GSI2SK <= :upper")
                .expression_attribute_values(":shard", AttributeValue::S(format!("DUE#{shard}")))
                .expression_attribute_values(":upper", AttributeValue::S(upper.clone()))
                .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                .send()
                .await
                .map_err(unavailable)?;
            entries.extend(
                out.items
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|mut i| match i.remove("GSI2SK") {
                        Some(AttributeValue::S(sk)) => Some(sk),
                        _ => None,
                    }),
            );
        }
        entries.sort();
        Ok(entries
            .into_iter()
            .take(limit)
            .filter_map(|sk| {
                sk.rsplit_once('#')
                    .and_then(|(_, id)| NotificationId::parse(id))
            })
            .collect())
    }
}

fn idempotency_key(tenant: &TenantId, key: &str) -> Item {
    // The client's key may hold any printable character: hash it into the partition key.
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, key.as_bytes());
    let hex: String = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
    HashMap::from([
        (
            "PK".to_owned(),
            AttributeValue::S(format!("IDEMPOTENCY#{tenant}#{hex}")),
        ),
        ("SK".to_owned(), AttributeValue::S("IDEMPOTENCY".to_owned())),
    ])
}

/// Answers larger than this are kept gzipped: a batch's answer lists up to 10,000 ids, more
/// than a DynamoDB item may hold (400 KB) as text.
const COMPRESS_ANSWERS_OVER: usize = 64 * 1024;

/// The attribute an answer body is kept in: text, or gzipped bytes when large.
fn answer_body(body: &str) -> Result<(&'static str, AttributeValue), StoreError> {
    use std::io::Write;
    if body.len() <= COMPRESS_ANSWERS_OVER {
        return Ok(("body", AttributeValue::S(body.to_owned())));
    }
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(body.as_bytes())
        .and_then(|()| gz.finish())
        .map(|bytes| {
            (
                "bodyGz",
                AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(bytes)),
            )
        })
        .map_err(|e| StoreError::Corrupt {
            id: "idempotency answer".into(),
            reason: e.to_string(),
        })
}

fn read_answer_body(item: &Item) -> Option<String> {
    use std::io::Read;
    match (item.get("body"), item.get("bodyGz")) {
        (Some(AttributeValue::S(text)), _) => Some(text.clone()),
        (_, Some(AttributeValue::B(bytes))) => {
            let mut text = String::new();
            flate2::read::GzDecoder::new(bytes.as_ref())
                .read_to_string(&mut text)
                .ok()?;
            Some(text)
        }
        _ => None,
    }
}

fn key_state(item: &Item) -> Option<KeyState> {
    let s = |k: &str| match item.get(k) {
        Some(AttributeValue::S(v)) => Some(v.clone()),
        _ => None,
    };
    let n = |k: &str| match item.get(k) {
        Some(AttributeValue::N(v)) => v.parse::<i64>().ok(),
        _ => None,
    };
    Some(KeyState {
        fingerprint: s("fingerprint")?,
        planned: NotificationId::parse(&s("plannedId")?)?,
        locked_until_ms: n("lockedUntilMs").unwrap_or(0),
        response: match (n("status"), read_answer_body(item)) {
            (Some(status), Some(body)) => Some(StoredResponse {
                status: u16::try_from(status).ok()?,
                body,
            }),
            _ => None,
        },
        expires_at_s: n("ttl")?,
    })
}

#[async_trait]
impl IdempotencyStore for DynamoStore {
    async fn begin(
        &self,
        tenant: &TenantId,
        key: &str,
        fingerprint: &str,
        planned: &NotificationId,
        now: Timestamp,
        lock: std::time::Duration,
        keep: std::time::Duration,
    ) -> Result<Begin, StoreError> {
        let item_key = idempotency_key(tenant, key);
        // Read, decide as the in-memory store does, then write conditionally on what was read;
        // a concurrent request that wins the write makes this one read and decide again.
        for _ in 0..3 {
            let current = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(item_key.clone()))
                .consistent_read(true)
                .send()
                .await
                .map_err(unavailable)?
                .item;
            let state = current.as_ref().and_then(key_state);
            let decision = KeyState::decide(state.as_ref(), fingerprint, planned, now);
            let (Begin::Started { planned: id } | Begin::Resumed { planned: id }) = &decision
            else {
                return Ok(decision);
            };
            let mut item = item_key.clone();
            item.extend([
                (
                    "fingerprint".to_owned(),
                    AttributeValue::S(fingerprint.to_owned()),
                ),
                ("plannedId".to_owned(), AttributeValue::S(id.to_string())),
                (
                    "lockedUntilMs".to_owned(),
                    AttributeValue::N(now.plus(lock).as_millis().to_string()),
                ),
                (
                    "ttl".to_owned(),
                    AttributeValue::N(now.plus(keep).as_seconds().to_string()),
                ),
            ]);
            let put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item));
            let put = match state {
                None => put.condition_expression("attribute_not_exists(PK)"),
                // Unchanged since it was read: the same lock still lapsed, or the same expiry.
                Some(s) => put
                    .condition_expression("lockedUntilMs = :locked AND #ttl = :ttl")
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(
                        ":locked",
                        AttributeValue::N(s.locked_until_ms.to_string()),
                    )
                    .expression_attribute_values(
                        ":ttl",
                        AttributeValue::N(s.expires_at_s.to_string()),
                    ),
            };
            match put.send().await {
                Ok(_) => return Ok(decision),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
                {
                    continue;
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        Ok(Begin::InProgress)
    }

    async fn complete(
        &self,
        tenant: &TenantId,
        key: &str,
        response: &StoredResponse,
    ) -> Result<(), StoreError> {
        let (attribute, body) = answer_body(&response.body)?;
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(idempotency_key(tenant, key)))
            .update_expression(format!(
                "SET #status = :status, {attribute} = :body REMOVE lockedUntilMs"
            ))
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":status", AttributeValue::N(response.status.to_string()))
            .expression_attribute_values(":body", body)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn release(&self, tenant: &TenantId, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(idempotency_key(tenant, key)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// Where the purge stopped (a scan's `LastEvaluatedKey`), so the next run resumes there.
fn purge_cursor_key() -> Item {
    HashMap::from([
        (
            "PK".to_owned(),
            AttributeValue::S("CLEANUP#purge".to_owned()),
        ),
        ("SK".to_owned(), AttributeValue::S("CURSOR".to_owned())),
    ])
}

#[async_trait]
impl super::Purge for DynamoStore {
    async fn purge(
        &self,
        now: Timestamp,
        deadline: std::time::Instant,
    ) -> Result<super::PurgeReport, StoreError> {
        let mut report = super::PurgeReport::default();
        let mut start: Option<Item> = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(purge_cursor_key()))
            .send()
            .await
            .map_err(unavailable)?
            .item
            .and_then(|mut i| match i.remove("lastKey") {
                Some(AttributeValue::M(k)) => Some(k),
                _ => None,
            });
        let now_s = AttributeValue::N(now.as_seconds().to_string());
        loop {
            if std::time::Instant::now() >= deadline {
                let mut cursor = purge_cursor_key();
                if let Some(k) = start {
                    cursor.insert("lastKey".to_owned(), AttributeValue::M(k));
                }
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(cursor))
                    .send()
                    .await
                    .map_err(unavailable)?;
                return Ok(report);
            }
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("#ttl < :now")
                .projection_expression("PK, SK")
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":now", now_s.clone())
                .set_exclusive_start_key(start.take())
                .limit(500)
                .send()
                .await
                .map_err(unavailable)?;
            for key in page.items.unwrap_or_default() {
                let kind = match key.get("PK") {
                    Some(AttributeValue::S(pk)) => {
                        pk.split('#').next().unwrap_or_default().to_owned()
                    }
                    _ => continue,
                };
                // Conditional: an item renewed since the scan read it (a device registered
                // again) stays.
                let deleted = self
                    .client
                    .delete_item()
                    .table_name(&self.table)
                    .set_key(Some(key))
                    .condition_expression("#ttl < :now")
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(":now", now_s.clone())
                    .send()
                    .await;
                match deleted {
                    Ok(_) => match kind.as_str() {
                        "NOTIFICATION" => report.notifications += 1,
                        "IDEMPOTENCY" => report.idempotency_keys += 1,
                        "USER" => report.devices += 1,
                        _ => {}
                    },
                    Err(e)
                        if e.as_service_error()
                            .is_some_and(|s| s.is_conditional_check_failed_exception()) => {}
                    Err(e) => return Err(unavailable(e)),
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => {
                    self.client
                        .delete_item()
                        .table_name(&self.table)
                        .set_key(Some(purge_cursor_key()))
                        .send()
                        .await
                        .map_err(unavailable)?;
                    report.complete = true;
                    return Ok(report);
                }
            }
        }
    }
}

/// The index that finds every registration of a device token.
pub const TOKEN_INDEX: &str = "GSI1";

fn user_pk(tenant: &TenantId, user: &UserId) -> String {
    format!("USER#{tenant}#{}", user.as_str())
}

fn device_key(tenant: &TenantId, user: &UserId, token: &DeviceToken) -> Item {
    HashMap::from([
        ("PK".to_owned(), AttributeValue::S(user_pk(tenant, user))),
        (
            "SK".to_owned(),
            AttributeValue::S(format!("DEVICE#{}", token.as_str())),
        ),
    ])
}

fn device_from_item(mut item: Item) -> Result<Device, StoreError> {
    for k in ["PK", "SK", "GSI1PK", "GSI1SK", "ttl"] {
        item.remove(k);
    }
    serde_dynamo::from_item(item).map_err(|e| StoreError::Corrupt {
        id: "device".into(),
        reason: e.to_string(),
    })
}

impl DynamoStore {
    async fn delete_keys(&self, keys: Vec<Item>) -> Result<(), StoreError> {
        for key in keys {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(())
    }

    /// The `PK`/`SK` of every registration of `token` in the tenant.
    async fn token_registrations(
        &self,
        tenant: &TenantId,
        token: &DeviceToken,
    ) -> Result<Vec<Item>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(TOKEN_INDEX)
            .key_condition_expression("GSI1PK = :pk")
            .expression_attribute_values(
                ":pk",
                AttributeValue::S(format!("TOKEN#{tenant}#{}", token.as_str())),
            )
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|mut i| {
                Some(HashMap::from([
                    ("PK".to_owned(), i.remove("PK")?),
                    ("SK".to_owned(), i.remove("SK")?),
                ]))
            })
            .collect())
    }
}

#[async_trait]
impl DeviceRegistry for DynamoStore {
    async fn register(
        &self,
        tenant: &TenantId,
        user: &UserId,
        token: &DeviceToken,
        platform: Platform,
        app_id: Option<String>,
        now: Timestamp,
    ) -> Result<Device, StoreError> {
        let mine = device_key(tenant, user, token);
        let elsewhere: Vec<Item> = self
            .token_registrations(tenant, token)
            .await?
            .into_iter()
            .filter(|k| k.get("PK") != mine.get("PK"))
            .collect();
        self.delete_keys(elsewhere).await?;

        // REMOVE rather than SET null: a re-registration without an app id clears it.
        let app = if app_id.is_some() {
            ", appId = :app_id"
        } else {
            " REMOVE appId"
        };
        let expires_at = now.plus(self.device_idle);
        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(mine))
            .update_expression(format!(
                "SET #token = :token, platform = :platform, updatedAt = :now, createdAt = if_not_exists(createdAt, :now), \
                 expiresAt = :expires, #ttl = :ttl, GSI1PK = :gsi1pk, GSI1SK = :gsi1sk{app}"
            ))
            .expression_attribute_names("#token", "token")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":token", AttributeValue::S(token.as_str().to_owned()))
            .expression_attribute_values(":platform", value(&platform)?)
            .expression_attribute_values(":now", value(&now)?)
            .expression_attribute_values(":expires", value(&expires_at)?)
            .expression_attribute_values(":ttl", AttributeValue::N(expires_at.as_seconds().to_string()))
            .expression_attribute_values(":gsi1pk", AttributeValue::S(format!("TOKEN#{tenant}#{}", token.as_str())))
            .expression_attribute_values(":gsi1sk", AttributeValue::S(format!("USER#{}", user.as_str())))
            .return_values(ReturnValue::AllNew);
        if let Some(a) = app_id {
            update = update.expression_attribute_values(":app_id", AttributeValue::S(a));
        }
        let out = update.send().await.map_err(unavailable)?;
        let device = device_from_item(out.attributes.unwrap_or_default())?;

        let (_, excess) = split_excess(self.devices_unbounded(tenant, user).await?);
        self.delete_keys(
            excess
                .iter()
                .map(|d| device_key(tenant, user, &d.token))
                .collect(),
        )
        .await?;
        Ok(device)
    }

    async fn devices(
        &self,
        tenant: &TenantId,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<Device>, StoreError> {
        // DynamoDB TTL deletes lazily: a lapsed registration is already gone.
        let live: Vec<Device> = self
            .devices_unbounded(tenant, user)
            .await?
            .into_iter()
            .filter(|d| d.expires_at > now)
            .collect();
        Ok(split_excess(live).0)
    }

    async fn unregister(
        &self,
        tenant: &TenantId,
        user: &UserId,
        token: &DeviceToken,
    ) -> Result<bool, StoreError> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(device_key(tenant, user, token)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(unavailable)?;
        Ok(out.attributes.is_some_and(|a| !a.is_empty()))
    }

    async fn forget_token(
        &self,
        tenant: &TenantId,
        token: &DeviceToken,
    ) -> Result<usize, StoreError> {
        let keys = self.token_registrations(tenant, token).await?;
        let n = keys.len();
        self.delete_keys(keys).await?;
        Ok(n)
    }
}

impl DynamoStore {
    async fn devices_unbounded(
        &self,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<Vec<Device>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND begins_with(SK, :device)")
            .expression_attribute_values(":pk", AttributeValue::S(user_pk(tenant, user)))
            .expression_attribute_values(":device", AttributeValue::S("DEVICE#".into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.items
            .unwrap_or_default()
            .into_iter()
            .map(device_from_item)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{at, lease, queued_email};

    #[test]
    fn items_round_trip_with_keys_and_ttl() {
        let n = queued_email();
        let item = to_item(&n).unwrap();
        assert_eq!(
            item["PK"],
            AttributeValue::S(format!("NOTIFICATION#{}", n.id))
        );
        assert_eq!(item["SK"], AttributeValue::S("NOTIFICATION".into()));
        assert_eq!(
            item["ttl"],
            AttributeValue::N(n.expires_at.as_seconds().to_string())
        );
        assert_eq!(item["status"], AttributeValue::S("queued".into()));
        assert_eq!(from_item(item).unwrap(), n);
    }

    /// Every declared name and value is used: DynamoDB rejects a request that declares one
    /// its expressions do not use.
    fn assert_no_unused_placeholders(plan: &UpdatePlan) {
        let used = |p: &str| plan.condition.contains(p) || plan.update.contains(p);
        for p in plan.names.keys().chain(plan.values.keys()) {
            assert!(used(p), "{p} is declared but unused");
        }
    }

    #[test]
    fn claim_condition_allows_queued_an_expired_lease_or_exhausted_retries() {
        let plan = UpdatePlan::of(
            &NotificationId::generate(),
            &Transition::claim(lease("t", at(9)), at(1)),
        )
        .unwrap();
        assert_eq!(
            plan.condition,
            "attribute_exists(PK) AND #ttl > :now_s AND ((#status IN (:from0) OR (#status = :sending AND \
             (attribute_not_exists(#lease) OR #lease.#until < :now_ms))) OR (#status = :failed AND \
             #error.#code = :exhausted))"
        );
        assert!(
            plan.update
                .contains("attempts = if_not_exists(attempts, :zero) + :one")
        );
        assert!(plan.update.contains("#lease = :lease"));
        assert_no_unused_placeholders(&plan);
    }

    #[test]
    fn completion_condition_checks_the_lease_token() {
        let plan = UpdatePlan::of(
            &NotificationId::generate(),
            &Transition::requeued(
                "tok",
                crate::domain::Failure {
                    code: "c".into(),
                    message: "m".into(),
                },
                vec![],
                at(1),
            ),
        )
        .unwrap();
        assert!(
            plan.condition.ends_with("AND #lease.#token = :token"),
            "{}",
            plan.condition
        );
        assert!(plan.update.ends_with("REMOVE #lease"), "{}", plan.update);
        assert_no_unused_placeholders(&plan);
    }
}
