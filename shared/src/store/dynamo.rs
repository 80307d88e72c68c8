use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::{
    Client,
    error::{DisplayErrorContext, SdkError},
    operation::update_item::UpdateItemError,
    types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure},
};

use super::{
    Device, DeviceRegistry, FailureChange, LeaseChange, NotificationStore, StoreError, Transition,
    TransitionOutcome, devices::split_excess,
};
use crate::domain::{
    DeviceToken, Notification, NotificationId, Platform, Status, TenantId, UserId, time::Timestamp,
};

type Item = HashMap<String, AttributeValue>;

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
    client: Client,
    table: String,
}

const NOTIFICATION_SK: &str = "NOTIFICATION";

fn notification_pk(id: &NotificationId) -> String {
    format!("NOTIFICATION#{id}")
}

fn key(id: &NotificationId) -> Item {
    HashMap::from([
        ("PK".to_owned(), AttributeValue::S(notification_pk(id))),
        (
            "SK".to_owned(),
            AttributeValue::S(NOTIFICATION_SK.to_owned()),
        ),
    ])
}

fn to_item(n: &Notification) -> Result<Item, StoreError> {
    let mut item: Item = serde_dynamo::to_item(n).map_err(|e| StoreError::Corrupt {
        id: n.id.to_string(),
        reason: e.to_string(),
    })?;
    item.extend(key(&n.id));
    item.insert(
        "ttl".into(),
        AttributeValue::N(n.expires_at.as_seconds().to_string()),
    );
    Ok(item)
}

fn from_item(mut item: Item) -> Result<Notification, StoreError> {
    for k in ["PK", "SK", "ttl"] {
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

fn value<T: serde::Serialize>(v: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(v).map_err(|e| StoreError::Corrupt {
        id: "-".into(),
        reason: e.to_string(),
    })
}

fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
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
        }
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
    fn of(t: &Transition) -> Result<Self, StoreError> {
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

    async fn get(
        &self,
        id: &NotificationId,
        now: Timestamp,
    ) -> Result<Option<Notification>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key(id)))
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
        let plan = UpdatePlan::of(change)?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(id)))
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
    for k in ["PK", "SK", "GSI1PK", "GSI1SK"] {
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

        let mut update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(mine))
            .update_expression(
                "SET #token = :token, platform = :platform, updatedAt = :now, createdAt = if_not_exists(createdAt, :now), \
                 GSI1PK = :gsi1pk, GSI1SK = :gsi1sk, appId = :app_id",
            )
            .expression_attribute_names("#token", "token")
            .expression_attribute_values(":token", AttributeValue::S(token.as_str().to_owned()))
            .expression_attribute_values(":platform", value(&platform)?)
            .expression_attribute_values(":now", value(&now)?)
            .expression_attribute_values(":gsi1pk", AttributeValue::S(format!("TOKEN#{tenant}#{}", token.as_str())))
            .expression_attribute_values(":gsi1sk", AttributeValue::S(format!("USER#{}", user.as_str())))
            .return_values(ReturnValue::AllNew);
        update = match app_id {
            Some(a) => update.expression_attribute_values(":app_id", AttributeValue::S(a)),
            // REMOVE rather than SET null: a re-registration without an app id clears it.
            None => update
                .update_expression(
                    "SET #token = :token, platform = :platform, updatedAt = :now, createdAt = if_not_exists(createdAt, :now), \
                     GSI1PK = :gsi1pk, GSI1SK = :gsi1sk REMOVE appId",
                ),
        };
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

    async fn devices(&self, tenant: &TenantId, user: &UserId) -> Result<Vec<Device>, StoreError> {
        Ok(split_excess(self.devices_unbounded(tenant, user).await?).0)
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
    fn claim_condition_allows_queued_or_an_expired_lease() {
        let plan = UpdatePlan::of(&Transition::claim(lease("t", at(9)), at(1))).unwrap();
        assert_eq!(
            plan.condition,
            "attribute_exists(PK) AND #ttl > :now_s AND (#status IN (:from0) OR (#status = :sending AND \
             (attribute_not_exists(#lease) OR #lease.#until < :now_ms)))"
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
        let plan = UpdatePlan::of(&Transition::requeued(
            "tok",
            crate::domain::Failure {
                code: "c".into(),
                message: "m".into(),
            },
            vec![],
            at(1),
        ))
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
