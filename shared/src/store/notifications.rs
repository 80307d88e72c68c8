//! Notifications: the record of each one, with its history and per-target deliveries. Every
//! status change goes through [`NotificationStore::transition`], a conditional write (see
//! `transition`); the sweep finds what fell due through the sparse due index.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    error::{DisplayErrorContext, SdkError},
    operation::update_item::UpdateItemError,
    types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure},
};

use super::{
    dynamo::{self, DynamoStore, Item, item_size, set_all, unavailable, value},
    error::StoreError,
    keys,
    transition::{
        Annotation, DueChange, FailureChange, LeaseChange, REDRIVABLE, Transition,
        TransitionOutcome,
    },
};
use crate::domain::{
    Notification, NotificationId, Status,
    schedule::{Due, DueKind},
    time::Timestamp,
};

#[async_trait]
pub trait NotificationStore: Send + Sync {
    /// Writes a new record; fails with [`StoreError::AlreadyExists`] if the id is taken.
    async fn insert(&self, notification: &Notification) -> Result<(), StoreError>;

    /// Writes many new records at once (DynamoDB: `BatchWriteItem`, unconditional puts, so
    /// the ids must be new: check a resumed request's with [`existing`](Self::existing)),
    /// retrying what the backend leaves unprocessed. Returns the ids it could not write.
    async fn insert_many(&self, notifications: &[Notification]) -> Vec<NotificationId>;

    /// Which of `ids` have a record (expired or not).
    async fn existing(&self, ids: &[NotificationId])
    -> Result<HashSet<NotificationId>, StoreError>;

    /// The record, unless it does not exist or has expired at `now`.
    async fn get(
        &self,
        id: &NotificationId,
        now: Timestamp,
    ) -> Result<Option<Notification>, StoreError>;

    /// Applies `change` atomically if the record allows it.
    async fn transition(
        &self,
        id: &NotificationId,
        change: &Transition,
    ) -> Result<TransitionOutcome, StoreError>;

    /// Replaces the record's due marker, but only while it is of kind `expected` (so a marker
    /// a worker already removed is not brought back). False if it was not.
    async fn replace_due(
        &self,
        id: &NotificationId,
        expected: DueKind,
        due: Due,
    ) -> Result<bool, StoreError>;

    /// Replaces a queued notification's `enqueue` marker with `expiry` once its message is
    /// sent, leaving its due-index entry where it was: an index entry moved costs two more
    /// writes, and nearly every notification is settled (its entry removed) before the grace
    /// period ends. The sweep moves the entry of one that is not when it finds it early
    /// ([`replace_due`](Self::replace_due)). False if the marker was not `enqueue`.
    async fn confirm_enqueued(&self, id: &NotificationId, expiry: Due) -> Result<bool, StoreError>;

    /// Ids of notifications whose marker fell due by `until`, earliest first, at most `limit`.
    /// The index behind it is eventually consistent: read the record before acting.
    async fn due(&self, until: Timestamp, limit: usize) -> Result<Vec<NotificationId>, StoreError>;

    /// Records a provider event that leaves the status as it is, if the record
    /// [permits](Annotation::permits) it (false otherwise: its status moved on since it was
    /// read, or the event was recorded before). Writes only the small record item.
    async fn annotate(&self, id: &NotificationId, note: &Annotation) -> Result<bool, StoreError>;

    /// The notification `provider` gave `message_id`, for a provider whose receipts name
    /// nothing else ([`ProviderRef::indexed`](super::ProviderRef)). The index behind it is
    /// eventually consistent: a notification sent a moment ago may not be found yet.
    async fn find_by_provider_message(
        &self,
        provider: &str,
        message_id: &str,
    ) -> Result<Option<NotificationId>, StoreError>;
}

/// A record stays one item while it is small enough that each of its status changes costs one
/// write unit: DynamoDB bills an update by the larger of the item's sizes before and after,
/// per KB started. Content that would take it past this goes once into an item of its own, so
/// a 100 KB email is not paid for again at every status change. The rest of the KB is left
/// for what a record gains on its way (history, lease, provider, deliveries).
const INLINE_BUDGET: usize = 640;
/// Due-index shards the sweep queries at once.
const DUE_QUERIES_IN_FLIGHT: usize = 16;
/// Content this small stays in the record even past the budget: an item of its own would
/// cost a write unit more than it saves.
const SMALL_CONTENT: usize = 128;

/// A notification's items: its record, and its content apart when that is too large.
struct Items {
    record: Item,
    content: Option<Item>,
}

fn to_items(n: &Notification) -> Result<Items, StoreError> {
    let mut record = dynamo::to_item(n, n.id.as_str())?;
    record.extend(keys::notification_key(&n.id));
    let ttl = AttributeValue::N(n.expires_at.as_seconds().to_string());
    record.insert("ttl".into(), ttl.clone());
    if let Some(due) = &n.due {
        record.extend(keys::due_keys(&n.id, due));
    }
    if let Some(batch) = &n.batch_id {
        record.extend(keys::batch_member_keys(&n.tenant, batch, &n.id));
    }
    record.extend(keys::listing_keys(
        &keys::listed_tenant(&n.tenant, n.test),
        &n.id,
        &n.recipient.search_form(),
        n.reference.as_deref(),
    ));
    let content_size = record.get(CONTENT).map_or(0, dynamo::value_size);
    if item_size(&record) <= INLINE_BUDGET || content_size <= SMALL_CONTENT {
        return Ok(Items {
            record,
            content: None,
        });
    }
    let Some(body) = record.remove(CONTENT) else {
        return Ok(Items {
            record,
            content: None,
        });
    };
    let mut content = keys::notification_content_key(&n.id);
    content.insert(CONTENT.into(), body);
    content.insert("ttl".into(), ttl);
    Ok(Items {
        record,
        content: Some(content),
    })
}

/// The attribute of the content, in the record or in its own item.
const CONTENT: &str = "content";

fn record_id(item: &Item) -> String {
    match item.get("id") {
        Some(AttributeValue::S(id)) => id.clone(),
        _ => "?".into(),
    }
}

fn from_item(item: Item) -> Result<Notification, StoreError> {
    let id = record_id(&item);
    dynamo::from_item(keys::strip(item), &id)
}

impl DynamoStore {
    /// The notification of a record item, its content read from its own item when the record
    /// does not hold it.
    pub(super) async fn complete(&self, mut record: Item) -> Result<Notification, StoreError> {
        if !record.contains_key(CONTENT) {
            let id = record_id(&record);
            let content = match NotificationId::parse(&id) {
                // Content is written once, before its record, and never changed.
                Some(parsed) => self
                    .read_settled(keys::notification_content_key(&parsed))
                    .await?
                    .and_then(|mut item| item.remove(CONTENT)),
                None => None,
            };
            let Some(content) = content else {
                return Err(dynamo::corrupt(&id, "its content item is missing"));
            };
            record.insert(CONTENT.into(), content);
        }
        from_item(record)
    }

    /// The notifications of many record items, in their order: the content items of those
    /// that do not hold their content read in batches (of 100), not one by one.
    pub(super) async fn complete_all(
        &self,
        records: Vec<Item>,
    ) -> Result<Vec<Notification>, StoreError> {
        let apart: Vec<Item> = records
            .iter()
            .filter(|r| !r.contains_key(CONTENT))
            .filter_map(|r| NotificationId::parse(&record_id(r)))
            .map(|id| keys::notification_content_key(&id))
            .collect();
        let mut contents: HashMap<NotificationId, AttributeValue> = HashMap::new();
        if !apart.is_empty() {
            for mut item in self.get_all(&apart, Some("PK, content")).await? {
                if let (Some(id), Some(content)) =
                    (keys::notification_of(&item), item.remove(CONTENT))
                {
                    contents.insert(id, content);
                }
            }
        }
        records
            .into_iter()
            .map(|mut record| {
                if !record.contains_key(CONTENT) {
                    let id = record_id(&record);
                    let content = NotificationId::parse(&id).and_then(|id| contents.remove(&id));
                    let Some(content) = content else {
                        return Err(dynamo::corrupt(&id, "its content item is missing"));
                    };
                    record.insert(CONTENT.into(), content);
                }
                from_item(record)
            })
            .collect()
    }

    /// Writes `item` unless one with its key exists. False if one did.
    async fn put_new(&self, item: Item) -> Result<bool, StoreError> {
        dynamo::applied(
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(PK)")
                .send()
                .await,
        )
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
            let mut codes = Vec::new();
            for (i, code) in REDRIVABLE.iter().enumerate() {
                values.insert(format!(":redrivable{i}"), AttributeValue::S((*code).into()));
                codes.push(format!(":redrivable{i}"));
            }
            status_ok = format!(
                "({status_ok} OR (#status = :failed AND #error.#code IN ({})))",
                codes.join(", ")
            );
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
            if let Some(message_id) = &p.message_id {
                values.insert(":provider_id".into(), AttributeValue::S(message_id.clone()));
                set.push("providerMessageId = :provider_id".into());
                if p.indexed {
                    set_all(
                        keys::provider_message_keys(&p.name, message_id),
                        &mut set,
                        &mut values,
                    );
                }
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
                set_all(keys::due_keys(id, d), &mut set, &mut values);
            }
            DueChange::Clear => {
                names.insert("#due".into(), "due".into());
                remove.push("#due");
                remove.extend(keys::DUE_KEY_ATTRIBUTES);
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
        let Items { record, content } = to_items(notification)?;
        // The content first: a record is never without it. A retry finding it there (the
        // same id, the same request) leaves it as it is.
        if let Some(content) = content {
            self.put_new(content).await?;
        }
        if self.put_new(record).await? {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists(notification.id.clone()))
        }
    }

    async fn insert_many(&self, notifications: &[Notification]) -> Vec<NotificationId> {
        let mut records = Vec::with_capacity(notifications.len());
        let mut contents = Vec::new();
        let mut unwritten = Vec::new();
        for n in notifications {
            match to_items(n) {
                Ok(Items { record, content }) => {
                    records.push((n.id.clone(), record));
                    contents.extend(content.map(|c| (n.id.clone(), c)));
                }
                Err(_) => unwritten.push(n.id.clone()),
            }
        }
        // Contents first, as in `insert`: a record whose content could not be written is not
        // written either.
        if !contents.is_empty() {
            let missing: HashSet<NotificationId> =
                self.put_all(contents).await.into_iter().collect();
            records.retain(|(id, _)| !missing.contains(id));
            unwritten.extend(missing);
        }
        unwritten.extend(self.put_all(records).await);
        unwritten
    }

    async fn existing(
        &self,
        ids: &[NotificationId],
    ) -> Result<HashSet<NotificationId>, StoreError> {
        let keys: Vec<Item> = ids.iter().map(keys::notification_key).collect();
        Ok(self
            .get_all(&keys, Some("id"))
            .await?
            .iter()
            .filter_map(|item| NotificationId::parse(item.get("id")?.as_s().ok()?))
            .collect())
    }

    async fn get(
        &self,
        id: &NotificationId,
        now: Timestamp,
    ) -> Result<Option<Notification>, StoreError> {
        // DynamoDB TTL deletes lazily (up to days late): an expired record is already gone.
        match self.read(keys::notification_key(id)).await? {
            Some(item) => Ok(Some(self.complete(item).await?).filter(|n| !n.is_expired(now))),
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
            .set_key(Some(keys::notification_key(id)))
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
                Some(item) => Ok(TransitionOutcome::Applied(self.complete(item).await?)),
                None => Err(StoreError::Unavailable(
                    "UpdateItem returned no attributes".into(),
                )),
            },
            Err(SdkError::ServiceError(ctx)) => match ctx.into_err() {
                UpdateItemError::ConditionalCheckFailedException(e) => {
                    let current = match e.item {
                        Some(item) => Some(self.complete(item).await?),
                        None => None,
                    };
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
        self.set_due(id, expected, due, true).await
    }

    async fn confirm_enqueued(&self, id: &NotificationId, expiry: Due) -> Result<bool, StoreError> {
        self.set_due(id, DueKind::Enqueue, expiry, false).await
    }

    async fn find_by_provider_message(
        &self,
        provider: &str,
        message_id: &str,
    ) -> Result<Option<NotificationId>, StoreError> {
        Ok(self
            .index_entries(
                keys::PROVIDER_INDEX,
                "GSI4PK",
                keys::provider_message_pk(provider, message_id),
            )
            .await?
            .iter()
            .find_map(keys::notification_of))
    }

    async fn annotate(&self, id: &NotificationId, note: &Annotation) -> Result<bool, StoreError> {
        let mut update =
            "SET #history = list_append(#history, :entry), updatedAt = :at ADD reports :key"
                .to_owned();
        if note.complaint {
            update = update.replacen(" ADD", ", complainedAt = :at ADD", 1);
        }
        let request = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::notification_key(id)))
            .condition_expression(
                "attribute_exists(PK) AND #ttl > :now_s AND #status = :status AND NOT contains(reports, :key_s)",
            )
            .update_expression(update)
            .expression_attribute_names("#history", "history")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(
                ":entry",
                AttributeValue::L(vec![value(&note.history_entry())?]),
            )
            .expression_attribute_values(":at", value(&note.at)?)
            .expression_attribute_values(":status", value(&note.status)?)
            .expression_attribute_values(":key", AttributeValue::Ss(vec![note.key.clone()]))
            .expression_attribute_values(":key_s", AttributeValue::S(note.key.clone()))
            .expression_attribute_values(
                ":now_s",
                AttributeValue::N(note.at.as_seconds().to_string()),
            );
        dynamo::applied(request.send().await)
    }

    async fn due(&self, until: Timestamp, limit: usize) -> Result<Vec<NotificationId>, StoreError> {
        use futures::{StreamExt, TryStreamExt, stream};

        let upper = keys::due_until(until);
        // Each shard may hold all of the earliest: `limit` from each, several at once.
        let pages: Vec<Vec<String>> = stream::iter(keys::due_shards())
            .map(|shard| {
                self.client
                    .query()
                    .table_name(&self.table)
                    .index_name(keys::DUE_INDEX)
                    .key_condition_expression("GSI2PK = :shard AND GSI2SK <= :upper")
                    .expression_attribute_values(":shard", AttributeValue::S(shard))
                    .expression_attribute_values(":upper", AttributeValue::S(upper.clone()))
                    .limit(i32::try_from(limit).unwrap_or(i32::MAX))
                    .send()
            })
            .buffer_unordered(DUE_QUERIES_IN_FLIGHT)
            .map_ok(|out| {
                out.items
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|mut i| match i.remove("GSI2SK") {
                        Some(AttributeValue::S(sk)) => Some(sk),
                        _ => None,
                    })
                    .collect()
            })
            .try_collect()
            .await
            .map_err(unavailable)?;
        let mut entries: Vec<String> = pages.into_iter().flatten().collect();
        entries.sort();
        Ok(entries
            .into_iter()
            .take(limit)
            .filter_map(|sk| keys::due_notification(&sk))
            .collect())
    }
}

impl DynamoStore {
    /// Sets the marker while it is of kind `expected`, and its index entry too if
    /// `move_entry`.
    async fn set_due(
        &self,
        id: &NotificationId,
        expected: DueKind,
        due: Due,
        move_entry: bool,
    ) -> Result<bool, StoreError> {
        let mut set = vec!["#due = :due".to_owned()];
        let mut values = HashMap::from([
            (":expected".to_owned(), value(&expected)?),
            (":due".to_owned(), value(&due)?),
        ]);
        if move_entry {
            set_all(keys::due_keys(id, &due), &mut set, &mut values);
        }
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::notification_key(id)))
            .condition_expression("#due.#kind = :expected")
            .update_expression(format!("SET {}", set.join(", ")))
            .expression_attribute_names("#due", "due")
            .expression_attribute_names("#kind", "kind")
            .set_expression_attribute_values(Some(values))
            .send()
            .await;
        dynamo::applied(updated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{at, lease, queued_email};

    #[test]
    fn items_round_trip_with_keys_and_ttl() {
        let n = queued_email();
        let Items {
            record: item,
            content,
        } = to_items(&n).unwrap();
        assert!(content.is_none(), "a small notification is one item");
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

    #[test]
    fn large_content_gets_an_item_of_its_own() {
        let mut n = queued_email();
        if let crate::domain::Content::Email(email) = &mut n.content {
            email.html = Some("<p>Hello</p>".repeat(8_600));
        }
        let Items {
            mut record,
            content,
        } = to_items(&n).unwrap();
        let mut content = content.expect("the content apart");
        assert!(!record.contains_key(CONTENT));
        assert!(
            item_size(&record) <= INLINE_BUDGET,
            "{}",
            item_size(&record)
        );
        assert!(item_size(&content) > 100_000);
        assert_eq!(content["PK"], record["PK"]);
        assert_eq!(content["SK"], AttributeValue::S("CONTENT".into()));
        assert_eq!(content["ttl"], record["ttl"]);
        record.insert(CONTENT.into(), content.remove(CONTENT).unwrap());
        assert_eq!(from_item(record).unwrap(), n);
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
             #error.#code IN (:redrivable0, :redrivable1)))"
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
