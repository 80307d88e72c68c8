//! Saved templates. Every save is a new version; reads return the latest unless a version is
//! asked for; a notification records the version it was rendered from, so it can always be
//! traced to the exact text that was sent.
//!
//! A save writes the new version and moves the head in one transaction, conditional on the
//! head still naming the version it read, so two concurrent saves never take one number.
//! Delete marks the head deleted (numbers keep counting, so an old notification's version
//! never names another text) and removes the versions.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, WriteRequest};
use serde::{Deserialize, Serialize};

use super::{
    dynamo::{self, DynamoStore, Item, corrupt, unavailable, value},
    error::StoreError,
    keys,
};
use crate::{
    domain::{Channel, TenantId, time::Timestamp},
    template::{Locale, TemplateName, TemplateSource},
};

/// One saved version of a template.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredTemplate {
    pub name: TemplateName,
    pub version: u32,
    pub source: TemplateSource,
    /// When the template's first version was saved.
    pub created_at: Timestamp,
    /// When this version was saved.
    pub updated_at: Timestamp,
}

/// What a list of templates shows of each: enough to choose one, without its text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateSummary {
    pub name: TemplateName,
    pub version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub locales: Vec<Locale>,
    pub channels: Vec<Channel>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl TemplateSummary {
    pub fn of(stored: &StoredTemplate) -> Self {
        Self {
            name: stored.name.clone(),
            version: stored.version,
            description: stored.source.description.clone(),
            locales: stored.source.locales.keys().cloned().collect(),
            channels: stored.source.channels().into_iter().collect(),
            created_at: stored.created_at,
            updated_at: stored.updated_at,
        }
    }
}

#[async_trait]
pub trait TemplateStore: Send + Sync {
    /// Saves `source` as the template's next version (1 for a new or deleted one).
    async fn save(
        &self,
        tenant: &TenantId,
        name: &TemplateName,
        source: &TemplateSource,
        now: Timestamp,
    ) -> Result<StoredTemplate, StoreError>;

    /// The latest version's number, or `None` when there is no such template: one small read,
    /// so a warm function can tell whether its compiled copy is still current.
    async fn latest_version(
        &self,
        tenant: &TenantId,
        name: &TemplateName,
    ) -> Result<Option<u32>, StoreError>;

    /// The latest version, or `version`.
    async fn template(
        &self,
        tenant: &TenantId,
        name: &TemplateName,
        version: Option<u32>,
    ) -> Result<Option<StoredTemplate>, StoreError>;

    /// Every template of the tenant, by name.
    async fn list(&self, tenant: &TenantId) -> Result<Vec<TemplateSummary>, StoreError>;

    /// Deletes every version; false when there was no such template.
    async fn delete(
        &self,
        tenant: &TenantId,
        name: &TemplateName,
        now: Timestamp,
    ) -> Result<bool, StoreError>;
}

// ------------------------------------------------------------------------------ DynamoDB

/// The head item, as read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Head {
    version: u32,
    /// The first version since the template was (re)created: older ones belong to a
    /// deleted template.
    first_version: u32,
    #[serde(default)]
    deleted: bool,
    created_at: Timestamp,
}

/// A version item's attributes besides its key.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct VersionItem {
    name: TemplateName,
    version: u32,
    /// As JSON text: a template's JSON (its `sampleData` above all) may hold numbers and
    /// shapes DynamoDB's own types cannot (a number past 1E+125, say).
    #[serde(with = "json_text")]
    source: TemplateSource,
    created_at: Timestamp,
    updated_at: Timestamp,
}

/// A value stored as its JSON text; a version saved before that, as a DynamoDB map, still reads.
mod json_text {
    use serde::{Deserialize, Deserializer, Serialize, Serializer, de::DeserializeOwned};

    pub fn serialize<T: Serialize, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        let text = serde_json::to_string(value).map_err(serde::ser::Error::custom)?;
        s.serialize_str(&text)
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Stored<T> {
        Text(String),
        Value(T),
    }

    pub fn deserialize<'de, T: DeserializeOwned, D: Deserializer<'de>>(
        d: D,
    ) -> Result<T, D::Error> {
        match Stored::<T>::deserialize(d)? {
            Stored::Text(text) => serde_json::from_str(&text).map_err(serde::de::Error::custom),
            Stored::Value(value) => Ok(value),
        }
    }
}

/// How often a save re-reads the head after losing a race to a concurrent save.
const SAVE_ATTEMPTS: usize = 5;

impl DynamoStore {
    async fn template_head(
        &self,
        tenant: &TenantId,
        name: &TemplateName,
    ) -> Result<Option<Head>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(keys::template_head_key(tenant, name)))
            .projection_expression("version, firstVersion, deleted, createdAt")
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        out.item
            .map(|item| dynamo::from_item(item, name.as_str()))
            .transpose()
    }

    async fn delete_template_versions(
        &self,
        tenant: &TenantId,
        name: &TemplateName,
    ) -> Result<(), StoreError> {
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(keys::template_versions_pk(tenant, name)),
                )
                .projection_expression("PK, SK")
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            let keys: Vec<Item> = page.items.unwrap_or_default();
            for chunk in keys.chunks(25) {
                let requests: Vec<WriteRequest> = chunk
                    .iter()
                    .filter_map(|k| {
                        let delete = aws_sdk_dynamodb::types::DeleteRequest::builder()
                            .set_key(Some(k.clone()))
                            .build()
                            .ok()?;
                        Some(WriteRequest::builder().delete_request(delete).build())
                    })
                    .collect();
                if !self.write_batch(requests).await.is_empty() {
                    return Err(StoreError::Unavailable(format!(
                        "some versions of template {} could not be deleted",
                        name.as_str()
                    )));
                }
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(()),
            }
        }
    }
}

#[async_trait]
impl TemplateStore for DynamoStore {
    async fn save(
        &self,
        tenant: &TenantId,
        name: &TemplateName,
        source: &TemplateSource,
        now: Timestamp,
    ) -> Result<StoredTemplate, StoreError> {
        for _ in 0..SAVE_ATTEMPTS {
            let head = self.template_head(tenant, name).await?;
            let (version, first_version, created_at) = match &head {
                Some(h) if !h.deleted => (h.version + 1, h.first_version, h.created_at),
                Some(h) => (h.version + 1, h.version + 1, now),
                None => (1, 1, now),
            };
            let stored = StoredTemplate {
                name: name.clone(),
                version,
                source: source.clone(),
                created_at,
                updated_at: now,
            };
            let summary = TemplateSummary::of(&stored);
            let mut head_item = dynamo::to_item(&summary, name.as_str())?;
            head_item.insert("deleted".into(), AttributeValue::Bool(false));
            head_item.insert("firstVersion".into(), value(&first_version)?);
            head_item.extend(keys::template_head_key(tenant, name));
            let mut version_item = dynamo::to_item(
                &VersionItem {
                    name: name.clone(),
                    version,
                    source: source.clone(),
                    created_at,
                    updated_at: now,
                },
                name.as_str(),
            )?;
            version_item.extend(keys::template_version_key(tenant, name, version));

            let head_put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(head_item));
            let head_put = match &head {
                None => head_put.condition_expression("attribute_not_exists(PK)"),
                Some(h) => head_put
                    .condition_expression("version = :read")
                    .expression_attribute_values(":read", value(&h.version)?),
            };
            let version_put = Put::builder()
                .table_name(&self.table)
                .set_item(Some(version_item))
                .condition_expression("attribute_not_exists(PK)");
            let items = [head_put, version_put]
                .into_iter()
                .map(|p| {
                    p.build()
                        .map(|p| TransactWriteItem::builder().put(p).build())
                        .map_err(|e| corrupt(name.as_str(), e))
                })
                .collect::<Result<Vec<_>, _>>()?;
            match self
                .client
                .transact_write_items()
                .set_transact_items(Some(items))
                .send()
                .await
            {
                Ok(_) => return Ok(stored),
                // A concurrent save took this number: read the head again.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_transaction_canceled_exception()) =>
                {
                    continue;
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(StoreError::Unavailable(format!(
            "template {} is being saved concurrently; retry",
            name.as_str()
        )))
    }

    async fn latest_version(
        &self,
        tenant: &TenantId,
        name: &TemplateName,
    ) -> Result<Option<u32>, StoreError> {
        Ok(self
            .template_head(tenant, name)
            .await?
            .filter(|h| !h.deleted)
            .map(|h| h.version))
    }

    async fn template(
        &self,
        tenant: &TenantId,
        name: &TemplateName,
        version: Option<u32>,
    ) -> Result<Option<StoredTemplate>, StoreError> {
        let Some(head) = self
            .template_head(tenant, name)
            .await?
            .filter(|h| !h.deleted)
        else {
            return Ok(None);
        };
        let version = version.unwrap_or(head.version);
        if version < head.first_version || version > head.version {
            return Ok(None);
        }
        let Some(item) = self
            .read(keys::template_version_key(tenant, name, version))
            .await?
        else {
            return Ok(None);
        };
        let v: VersionItem = dynamo::from_item(keys::strip(item), name.as_str())?;
        Ok(Some(StoredTemplate {
            name: v.name,
            version: v.version,
            source: v.source,
            created_at: v.created_at,
            updated_at: v.updated_at,
        }))
    }

    async fn list(&self, tenant: &TenantId) -> Result<Vec<TemplateSummary>, StoreError> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk")
                .filter_expression("deleted = :no")
                .expression_attribute_values(
                    ":pk",
                    AttributeValue::S(keys::template_heads_pk(tenant)),
                )
                .expression_attribute_values(":no", AttributeValue::Bool(false))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            for item in page.items.unwrap_or_default() {
                let mut item = keys::strip(item);
                for k in ["deleted", "firstVersion"] {
                    item.remove(k);
                }
                all.push(dynamo::from_item(item, "template")?);
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(all),
            }
        }
    }

    async fn delete(
        &self,
        tenant: &TenantId,
        name: &TemplateName,
        now: Timestamp,
    ) -> Result<bool, StoreError> {
        let marked = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::template_head_key(tenant, name)))
            .update_expression("SET deleted = :yes, updatedAt = :now")
            .condition_expression("attribute_exists(PK) AND deleted = :no")
            .expression_attribute_values(":yes", AttributeValue::Bool(true))
            .expression_attribute_values(":no", AttributeValue::Bool(false))
            .expression_attribute_values(":now", value(&now)?)
            .send()
            .await;
        if !dynamo::applied(marked)? {
            return Ok(false);
        }
        // Reads already see the template gone; if removing the versions fails half-way, the
        // rest are unreachable (a new save numbers past them) and the next delete retries.
        self.delete_template_versions(tenant, name).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_version_is_stored_as_json_text_and_one_stored_as_a_map_still_reads() {
        let (source, _) = TemplateSource::parse(&serde_json::json!({
            "locales": {"en": {"sms": {"message": "Hi {{name}}"}}},
            "sampleData": {"name": "Ada", "big": 1e200},
        }))
        .unwrap();
        let item = VersionItem {
            name: TemplateName::parse("hello").unwrap(),
            version: 3,
            source: source.clone(),
            created_at: Timestamp::from_millis(1_000).unwrap(),
            updated_at: Timestamp::from_millis(2_000).unwrap(),
        };
        let mut stored = serde_json::to_value(&item).unwrap();
        assert!(stored["source"].is_string(), "{stored}");
        let read: VersionItem = serde_json::from_value(stored.clone()).unwrap();
        assert_eq!(read.source, source);

        stored["source"] = serde_json::to_value(&source).unwrap();
        let before: VersionItem = serde_json::from_value(stored).unwrap();
        assert_eq!(before.source, source);
    }
}
