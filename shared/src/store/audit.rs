//! The audit trail (issue "Tenants and API keys"): who changed what, when, from where, and
//! how it ended. An entry is kept twice: in its tenant's partition (the tenant's view, newest
//! first) and in the day's partition of every tenant (the operator's view). Both leave the
//! table after the retention (`ttl`). An entry never holds message content or secrets.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::{
    dynamo::{self, DynamoStore, unavailable},
    error::StoreError,
    keys,
};
use crate::domain::{TenantId, time::Timestamp};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// `<at, ms, 13 digits>#<uuid>`: unique, and in time order.
    pub id: String,
    pub at: Timestamp,
    /// The tenant acted for or on (none for an operator's call about no tenant: a redrive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tenant: Option<TenantId>,
    /// `key:<visible prefix>`, `static` (a `NOTIFY_API_KEYS` key) or `admin`.
    pub actor: String,
    /// `notification.approve`, `template.save`, `key.create`…
    pub action: String,
    /// What it was done to: a notification's or batch's id, a template's name…
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ip: Option<String>,
    /// The answer's HTTP status.
    pub outcome: u16,
    pub request_id: String,
}

impl AuditEntry {
    pub fn new_id(at: Timestamp) -> String {
        // v7: entries of one millisecond keep the order this process made them in.
        format!("{:013}#{}", at.as_millis(), uuid::Uuid::now_v7().simple())
    }
}

/// Whose entries a read is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditScope {
    Tenant(TenantId),
    /// Every tenant's (the operator's view), optionally one tenant's.
    All,
}

/// One page of entries, newest first, and the id to read on from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    pub next: Option<String>,
}

#[async_trait]
pub trait AuditLog: Send + Sync {
    /// Keeps `entry` until `expires_at` (epoch seconds).
    async fn append(&self, entry: &AuditEntry, expires_at: i64) -> Result<(), StoreError>;

    /// Entries at or after `since`, newest first, older than `before` (an entry id) when
    /// given, of `action` when given: at most `limit`.
    async fn entries(
        &self,
        scope: &AuditScope,
        since: Timestamp,
        action: Option<&str>,
        before: Option<&str>,
        limit: usize,
    ) -> Result<AuditPage, StoreError>;
}

const DAY_MS: i64 = 86_400_000;

/// The day partitions from the one of `from` back to the one of `since`.
fn days(since: Timestamp, from_ms: i64) -> impl Iterator<Item = i64> {
    let first = since.as_millis().div_euclid(DAY_MS);
    let last = from_ms.div_euclid(DAY_MS);
    (first..=last).rev()
}

/// The entry id's time (ms).
fn id_millis(id: &str) -> Option<i64> {
    id.split('#').next()?.parse().ok()
}

#[async_trait]
impl AuditLog for DynamoStore {
    async fn append(&self, entry: &AuditEntry, expires_at: i64) -> Result<(), StoreError> {
        let attributes = dynamo::to_item(entry, "audit entry")?;
        let day = entry.at.as_millis().div_euclid(DAY_MS);
        let mut partitions = vec![keys::audit_all_pk(day)];
        if let Some(tenant) = &entry.tenant {
            partitions.push(keys::audit_tenant_pk(tenant));
        }
        for pk in partitions {
            let mut item = attributes.clone();
            item.extend(keys::key(pk, entry.id.clone()));
            item.insert("ttl".into(), AttributeValue::N(expires_at.to_string()));
            self.put(item).await?;
        }
        Ok(())
    }

    async fn entries(
        &self,
        scope: &AuditScope,
        since: Timestamp,
        action: Option<&str>,
        before: Option<&str>,
        limit: usize,
    ) -> Result<AuditPage, StoreError> {
        let low = format!("{:013}#", since.as_millis());
        let high = before.map_or_else(|| "9".repeat(14), str::to_owned);
        // A cursor older than `since`: nothing between them (and DynamoDB refuses the range).
        if low > high {
            return Ok(AuditPage::default());
        }
        let partitions: Vec<String> = match scope {
            AuditScope::Tenant(tenant) => vec![keys::audit_tenant_pk(tenant)],
            AuditScope::All => {
                let from = before.and_then(id_millis).unwrap_or_else(|| {
                    crate::clock::Clock::now(&crate::clock::SystemClock).as_millis()
                });
                days(since, from).map(keys::audit_all_pk).collect()
            }
        };
        let mut page = AuditPage::default();
        for pk in partitions {
            let mut start = None;
            loop {
                let out = self
                    .client
                    .query()
                    .table_name(&self.table)
                    .key_condition_expression("PK = :pk AND SK BETWEEN :low AND :high")
                    .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                    .expression_attribute_values(":low", AttributeValue::S(low.clone()))
                    .expression_attribute_values(":high", AttributeValue::S(high.clone()))
                    .scan_index_forward(false)
                    .limit((limit + 1) as i32)
                    .set_exclusive_start_key(start.take())
                    .send()
                    .await
                    .map_err(unavailable)?;
                for item in out.items.unwrap_or_default() {
                    let entry: AuditEntry = dynamo::from_item(keys::strip(item), "audit entry")?;
                    // `before` itself is the previous page's last.
                    if Some(entry.id.as_str()) == before
                        || action.is_some_and(|a| a != entry.action)
                    {
                        continue;
                    }
                    if page.entries.len() == limit {
                        page.next = page.entries.last().map(|e| e.id.clone());
                        return Ok(page);
                    }
                    page.entries.push(entry);
                }
                match out.last_evaluated_key {
                    Some(next) => start = Some(next),
                    None => break,
                }
            }
        }
        Ok(page)
    }
}

/// The audit trail in memory.
#[derive(Default)]
pub struct MemoryAudit {
    entries: std::sync::Mutex<Vec<AuditEntry>>,
}

impl MemoryAudit {
    pub fn new() -> Self {
        Self::default()
    }
}

#[async_trait]
impl AuditLog for MemoryAudit {
    async fn append(&self, entry: &AuditEntry, _expires_at: i64) -> Result<(), StoreError> {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(entry.clone());
        Ok(())
    }

    async fn entries(
        &self,
        scope: &AuditScope,
        since: Timestamp,
        action: Option<&str>,
        before: Option<&str>,
        limit: usize,
    ) -> Result<AuditPage, StoreError> {
        let mut kept: Vec<AuditEntry> = self
            .entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|e| match scope {
                AuditScope::Tenant(t) => e.tenant.as_ref() == Some(t),
                AuditScope::All => true,
            })
            .filter(|e| e.at >= since && before.is_none_or(|b| e.id.as_str() < b))
            .filter(|e| action.is_none_or(|a| a == e.action))
            .cloned()
            .collect();
        kept.sort_by(|a, b| b.id.cmp(&a.id));
        let next = (kept.len() > limit).then(|| kept[limit - 1].id.clone());
        kept.truncate(limit);
        Ok(AuditPage {
            entries: kept,
            next,
        })
    }
}
