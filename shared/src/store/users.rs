//! Recipients: a user's profile, preferences and frequency-cap counters live in the user's
//! partition beside their devices, so erasing a user is one Query and its deletes; a tenant's
//! preference defaults are one item of their own.

use std::{collections::BTreeMap, time::Duration};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::{
    dynamo::{self, DynamoStore, Item, unavailable},
    error::StoreError,
    keys,
};
use crate::{
    domain::{
        NotificationId, Profile, TenantId, UserId,
        preferences::{Defaults, FrequencyCap, Preferences},
        time::Timestamp,
    },
    unsubscribe::{Subscriber, UnsubscribeKey},
    user_token::UserTokenSecret,
};

/// How many times a frequency-cap slot is tried when other sends take the counter in
/// between (50 at once settle in a few rounds: after the cap is reached, reads refuse).
const CAP_ATTEMPTS: usize = 100;

/// What one read of a user's partition gives the accept path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserRecord {
    pub profile: Option<Profile>,
    pub preferences: Option<Preferences>,
}

#[async_trait]
pub trait UserStore: Send + Sync {
    /// The user's profile and preferences, in one read.
    async fn user(&self, tenant: &TenantId, user: &UserId) -> Result<UserRecord, StoreError>;

    async fn put_profile(&self, tenant: &TenantId, profile: &Profile) -> Result<(), StoreError>;

    /// Removes everything kept of the user: profile, preferences, devices, frequency-cap
    /// counters. Returns how many items went (0: nothing was kept).
    async fn erase(&self, tenant: &TenantId, user: &UserId) -> Result<usize, StoreError>;

    /// The preferences of a user, or of the address of sends that named no user.
    async fn preferences(
        &self,
        tenant: &TenantId,
        subscriber: &Subscriber,
    ) -> Result<Option<Preferences>, StoreError>;

    async fn put_preferences(
        &self,
        tenant: &TenantId,
        subscriber: &Subscriber,
        preferences: &Preferences,
    ) -> Result<(), StoreError>;

    /// The tenant's key for unsubscribe links; created on first use when `create` (sending),
    /// never when only checking a link (`None` then: the tenant has signed none).
    async fn unsubscribe_key(
        &self,
        tenant: &TenantId,
        create: bool,
    ) -> Result<Option<UnsubscribeKey>, StoreError>;

    async fn defaults(&self, tenant: &TenantId) -> Result<Option<Defaults>, StoreError>;

    /// The secret the tenant signs user tokens with, if it made one.
    async fn user_token_secret(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<UserTokenSecret>, StoreError>;

    /// Replaces it (tokens signed with the old one stop working).
    async fn put_user_token_secret(
        &self,
        tenant: &TenantId,
        secret: &UserTokenSecret,
    ) -> Result<(), StoreError>;

    async fn put_defaults(&self, tenant: &TenantId, defaults: &Defaults) -> Result<(), StoreError>;

    /// Takes one of the `cap.limit` slots the user has for `category` in the window ending at
    /// `now`, for notification `id`; false when all are taken. Atomic under concurrency, and
    /// idempotent: the same `id` again takes no second slot.
    async fn take_cap_slot(
        &self,
        tenant: &TenantId,
        user: &UserId,
        category: &str,
        cap: FrequencyCap,
        id: &NotificationId,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
}

/// A frequency-cap counter: the notifications counted in the window, by id, with when.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct CapCounter {
    #[serde(default)]
    pub sent: BTreeMap<String, i64>,
    #[serde(default)]
    pub version: u64,
}

impl CapCounter {
    /// Whether `id` may go: already counted, or a slot is free (then it is counted here).
    pub(crate) fn take(
        &mut self,
        cap: FrequencyCap,
        id: &NotificationId,
        now: Timestamp,
    ) -> Option<bool> {
        if self.sent.contains_key(id.as_str()) {
            return Some(true);
        }
        let since = now.as_millis() - i64::try_from(cap.window().as_millis()).unwrap_or(i64::MAX);
        self.sent.retain(|_, at| *at > since);
        if self.sent.len() >= cap.limit as usize {
            return Some(false);
        }
        self.sent.insert(id.as_str().to_owned(), now.as_millis());
        None
    }
}

#[async_trait]
impl UserStore for DynamoStore {
    async fn user(&self, tenant: &TenantId, user: &UserId) -> Result<UserRecord, StoreError> {
        // PREFERENCES and PROFILE sort next to each other: one Query reads both.
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :pk AND SK BETWEEN :first AND :last")
            .expression_attribute_values(":pk", AttributeValue::S(keys::user_pk(tenant, user)))
            .expression_attribute_values(
                ":first",
                AttributeValue::S(keys::PREFERENCES_SK.to_owned()),
            )
            .expression_attribute_values(":last", AttributeValue::S(keys::PROFILE_SK.to_owned()))
            .send()
            .await
            .map_err(unavailable)?;
        let mut record = UserRecord::default();
        for item in out.items.unwrap_or_default() {
            match item
                .get("SK")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
            {
                Some(keys::PROFILE_SK) => record.profile = Some(profile_from_item(item)?),
                Some(keys::PREFERENCES_SK) => {
                    record.preferences = Some(dynamo::from_item(keys::strip(item), "preferences")?);
                }
                _ => {}
            }
        }
        Ok(record)
    }

    async fn put_profile(&self, tenant: &TenantId, profile: &Profile) -> Result<(), StoreError> {
        let mut item = profile_item(profile)?;
        item.extend(keys::profile_key(tenant, &profile.user_id));
        self.put(item).await
    }

    async fn erase(&self, tenant: &TenantId, user: &UserId) -> Result<usize, StoreError> {
        let items = self.query_prefix(keys::user_pk(tenant, user), "").await?;
        let n = items.len();
        for item in items {
            let Some(key) = keys::primary_key(item) else {
                continue;
            };
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key))
                .send()
                .await
                .map_err(unavailable)?;
        }
        Ok(n)
    }

    async fn preferences(
        &self,
        tenant: &TenantId,
        subscriber: &Subscriber,
    ) -> Result<Option<Preferences>, StoreError> {
        self.read(keys::preferences_key(tenant, subscriber))
            .await?
            .map(|item| dynamo::from_item(keys::strip(item), "preferences"))
            .transpose()
    }

    async fn put_preferences(
        &self,
        tenant: &TenantId,
        subscriber: &Subscriber,
        preferences: &Preferences,
    ) -> Result<(), StoreError> {
        let mut item = dynamo::to_item(preferences, "preferences")?;
        item.extend(keys::preferences_key(tenant, subscriber));
        self.put(item).await
    }

    async fn unsubscribe_key(
        &self,
        tenant: &TenantId,
        create: bool,
    ) -> Result<Option<UnsubscribeKey>, StoreError> {
        let key = keys::unsubscribe_key(tenant);
        let stored = |item: Item| {
            item.get("key")
                .and_then(|v| v.as_s().ok())
                .ok_or_else(|| dynamo::corrupt("unsubscribe key", "no key"))
                .and_then(|s| {
                    UnsubscribeKey::decode(s).map_err(|e| dynamo::corrupt("unsubscribe key", e))
                })
        };
        if let Some(item) = self.read_settled(key.clone()).await? {
            return stored(item).map(Some);
        }
        if !create {
            return Ok(None);
        }
        let fresh = UnsubscribeKey::generate().map_err(StoreError::Unavailable)?;
        let mut item = key.clone();
        item.insert("key".into(), AttributeValue::S(fresh.encode()));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        if dynamo::applied(put)? {
            return Ok(Some(fresh));
        }
        // Another request created it first: that one is the key.
        let item = self
            .read(key)
            .await?
            .ok_or_else(|| StoreError::Unavailable("the unsubscribe key vanished".into()))?;
        stored(item).map(Some)
    }

    async fn defaults(&self, tenant: &TenantId) -> Result<Option<Defaults>, StoreError> {
        self.read_settled(keys::defaults_key(tenant))
            .await?
            .map(|item| dynamo::from_item(keys::strip(item), "preference defaults"))
            .transpose()
    }

    async fn put_defaults(&self, tenant: &TenantId, defaults: &Defaults) -> Result<(), StoreError> {
        let mut item = dynamo::to_item(defaults, "preference defaults")?;
        item.extend(keys::defaults_key(tenant));
        self.put(item).await
    }

    async fn user_token_secret(
        &self,
        tenant: &TenantId,
    ) -> Result<Option<UserTokenSecret>, StoreError> {
        let Some(item) = self.read(keys::user_token_secret_key(tenant)).await? else {
            return Ok(None);
        };
        let secret = item
            .get("secret")
            .and_then(|v| v.as_s().ok())
            .ok_or_else(|| dynamo::corrupt("user-token secret", "no secret"))?;
        Ok(Some(
            serde_json::from_value(serde_json::Value::String(secret.clone()))
                .map_err(|e| dynamo::corrupt("user-token secret", e))?,
        ))
    }

    async fn put_user_token_secret(
        &self,
        tenant: &TenantId,
        secret: &UserTokenSecret,
    ) -> Result<(), StoreError> {
        let mut item = keys::user_token_secret_key(tenant);
        item.insert(
            "secret".into(),
            AttributeValue::S(secret.expose().to_owned()),
        );
        self.put(item).await
    }

    async fn take_cap_slot(
        &self,
        tenant: &TenantId,
        user: &UserId,
        category: &str,
        cap: FrequencyCap,
        id: &NotificationId,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let key = keys::cap_key(tenant, user, category);
        for attempt in 0..CAP_ATTEMPTS {
            let mut counter: CapCounter = match self.read(key.clone()).await? {
                Some(item) => dynamo::from_item(keys::strip(item), "frequency cap")?,
                None => CapCounter::default(),
            };
            let read_version = counter.version;
            if let Some(decided) = counter.take(cap, id, now) {
                return Ok(decided);
            }
            counter.version += 1;
            let mut item = dynamo::to_item(&counter, "frequency cap")?;
            item.extend(key.clone());
            // Gone once no entry can count any more.
            let ttl = now.plus(cap.window()).as_seconds();
            item.insert("ttl".into(), AttributeValue::N(ttl.to_string()));
            let condition = if read_version == 0 {
                "attribute_not_exists(PK)"
            } else {
                "version = :read"
            };
            let mut put = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(item))
                .condition_expression(condition);
            if read_version != 0 {
                put = put.expression_attribute_values(
                    ":read",
                    AttributeValue::N(read_version.to_string()),
                );
            }
            if dynamo::applied(put.send().await)? {
                return Ok(true);
            }
            // Another send took the counter first: read it again, after a short jittered
            // pause so the contenders spread out.
            let pause = rand::random_range(1..=10u64) * (1 + attempt.min(5) as u64);
            tokio::time::sleep(Duration::from_millis(pause)).await;
        }
        Err(StoreError::Unavailable(
            "the frequency-cap counter is too contended; retry".into(),
        ))
    }
}

/// A profile's `data` is any JSON, and DynamoDB's numbers are narrower than JSON's (38
/// digits, magnitudes 1e-130 to 1e126): it is kept as its JSON text.
const DATA_JSON: &str = "dataJson";

fn profile_item(profile: &Profile) -> Result<Item, StoreError> {
    let mut bare = profile.clone();
    let data = std::mem::take(&mut bare.data);
    let mut item = dynamo::to_item(&bare, "profile")?;
    if !data.is_empty() {
        let text = serde_json::to_string(&data).map_err(|e| dynamo::corrupt("profile", e))?;
        item.insert(DATA_JSON.into(), AttributeValue::S(text));
    }
    Ok(item)
}

fn profile_from_item(mut item: Item) -> Result<Profile, StoreError> {
    let data = item.remove(DATA_JSON);
    let mut profile: Profile = dynamo::from_item(keys::strip(item), "profile")?;
    if let Some(AttributeValue::S(text)) = data {
        profile.data = serde_json::from_str(&text).map_err(|e| dynamo::corrupt("profile", e))?;
    }
    Ok(profile)
}

impl DynamoStore {
    /// Writes `item` whole, whatever was there.
    pub(super) async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}
