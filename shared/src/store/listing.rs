//! Listing a tenant's notifications, newest first, through the indexes (never a scan): by
//! batch ([`BATCH_INDEX`](super::BATCH_INDEX)), by client reference, by recipient, or all
//! of them (the sharded [`LIST_INDEX`](super::LIST_INDEX), whose shards are read at once and
//! merged). The index entries are keys; the records are then read in pages of 100 and the
//! filters the index did not apply (status, channel, template, and the exact recipient or
//! reference behind a hash) are applied to them.
//!
//! Paging is by id (UUIDv7, so by creation time): a page's `next` is the position to read
//! below. Merged shards are exact: an entry is returned only once every shard still holding
//! more has been read past it, so no entry is missed or repeated across pages.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use futures::future::try_join_all;

use super::{
    dynamo::{DynamoStore, Item, unavailable},
    error::StoreError,
    keys,
};
use crate::domain::{
    BatchId, Channel, Notification, NotificationId, Status, TenantId, search_form, time::Timestamp,
};

/// What a listing keeps. `recipient` is compared in its [`search_form`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub channel: Option<Channel>,
    pub recipient: Option<String>,
    pub template: Option<String>,
    pub batch: Option<BatchId>,
    pub reference: Option<String>,
    /// Created at or after.
    pub since: Option<Timestamp>,
    /// Created before.
    pub until: Option<Timestamp>,
    /// Test notifications (a test key's) instead of live ones.
    pub test: bool,
}

impl ListFilter {
    /// Whether `n` is one the listing keeps (the index having chosen the tenant).
    pub fn keeps(&self, n: &Notification) -> bool {
        n.test == self.test
            && self.status.is_none_or(|s| n.status == s)
            && self.channel.is_none_or(|c| n.channel == c)
            && self
                .recipient
                .as_ref()
                .is_none_or(|r| search_form(r) == n.recipient.search_form())
            && self
                .template
                .as_ref()
                .is_none_or(|t| n.template.as_ref().is_some_and(|used| &used.name == t))
            && self
                .batch
                .as_ref()
                .is_none_or(|b| n.batch_id.as_ref() == Some(b))
            && self
                .reference
                .as_ref()
                .is_none_or(|r| n.reference.as_ref() == Some(r))
            && self.since.is_none_or(|s| n.created_at >= s)
            && self.until.is_none_or(|u| n.created_at < u)
    }
}

/// One page, newest first, and where the next starts (`None`: this was the last).
#[derive(Debug, Clone, PartialEq)]
pub struct ListPage {
    pub items: Vec<Notification>,
    pub next: Option<NotificationId>,
}

#[async_trait]
pub trait NotificationSearch: Send + Sync {
    /// Up to `limit` of the tenant's notifications that `filter` keeps, newest first, below
    /// `before` (a page's `next`). A page may hold fewer than `limit` and still have a
    /// `next`: each call reads a bounded number of entries.
    async fn list(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        before: Option<&NotificationId>,
        limit: usize,
        now: Timestamp,
    ) -> Result<ListPage, StoreError>;
}

/// Entries read per index partition per call: a page's worth and one more (to know there
/// is more); with a filter the index does not apply, at least enough that a filter that
/// keeps few still makes progress.
fn per_partition(limit: usize, filter: &ListFilter) -> i32 {
    let filtered = filter.status.is_some() || filter.channel.is_some() || filter.template.is_some();
    let page = limit + 1;
    (if filtered { page.max(50) } else { page }) as i32
}

/// The bounds of the id range a listing reads: `[since, until)` as ids (a UUIDv7 begins with
/// its millisecond timestamp), below `before`.
fn id_range(filter: &ListFilter, before: Option<&NotificationId>) -> (String, Option<String>) {
    let at = |t: Timestamp, fill: char| {
        let hex = format!("{:012x}", t.as_millis().max(0));
        let tail: String = std::iter::repeat_n(fill, 20).collect();
        format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &tail[..4],
            &tail[4..8],
            &tail[8..]
        )
    };
    let low = filter
        .since
        .map(|s| at(s, '0'))
        .unwrap_or_else(|| "0".to_owned());
    let until = filter.until.map(|u| at(u, '0'));
    let high = match (until, before.map(|b| b.as_str().to_owned())) {
        (Some(u), Some(b)) => Some(u.min(b)),
        (u, b) => u.or(b),
    };
    (low, high)
}

/// One index partition's entries, newest first, and whether it holds more below them.
struct Partition {
    ids: Vec<NotificationId>,
    more: bool,
}

impl DynamoStore {
    async fn read_partition(
        &self,
        index: &str,
        pk_attribute: &str,
        pk: String,
        range: &(String, Option<String>),
        limit: i32,
    ) -> Result<Partition, StoreError> {
        // The batch index sorts by `GSI3SK` (the id); the others by the record's `id`.
        let sk = if index == keys::BATCH_INDEX {
            "GSI3SK"
        } else {
            "id"
        };
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .scan_index_forward(false)
            .limit(limit)
            .expression_attribute_names("#pk", pk_attribute)
            .expression_attribute_names("#sk", sk)
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":low", AttributeValue::S(range.0.clone()));
        query = match &range.1 {
            // `BETWEEN` includes its upper bound; the position itself was already returned.
            Some(high) => query
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :low AND :high")
                .expression_attribute_values(":high", AttributeValue::S(high.clone())),
            None => query.key_condition_expression("#pk = :pk AND #sk >= :low"),
        };
        let out = query.send().await.map_err(unavailable)?;
        let exclude = range.1.as_deref();
        let ids = out
            .items
            .unwrap_or_default()
            .iter()
            .filter_map(keys::notification_of)
            .filter(|id| Some(id.as_str()) != exclude)
            .collect();
        Ok(Partition {
            ids,
            more: out.last_evaluated_key.is_some(),
        })
    }

    /// The records of `ids`, in that order, skipping any that went (expired, purged).
    async fn records(&self, ids: &[NotificationId]) -> Result<Vec<Notification>, StoreError> {
        let keys: Vec<Item> = ids.iter().map(keys::notification_key).collect();
        let items = self.get_all(&keys, None).await?;
        let mut by_id: HashMap<NotificationId, Item> = items
            .into_iter()
            .filter_map(|item| Some((keys::notification_of(&item)?, item)))
            .collect();
        let ordered: Vec<Item> = ids.iter().filter_map(|id| by_id.remove(id)).collect();
        self.complete_all(ordered).await
    }
}

#[async_trait]
impl NotificationSearch for DynamoStore {
    async fn list(
        &self,
        tenant: &TenantId,
        filter: &ListFilter,
        before: Option<&NotificationId>,
        limit: usize,
        now: Timestamp,
    ) -> Result<ListPage, StoreError> {
        let range = id_range(filter, before);
        let per = per_partition(limit, filter);
        let partitions: Vec<(&str, &str, String)> = if let Some(batch) = &filter.batch {
            vec![(keys::BATCH_INDEX, "GSI3PK", keys::batch_pk(tenant, batch))]
        } else if let Some(reference) = &filter.reference {
            let tenant = keys::listed_tenant(tenant, filter.test);
            vec![(
                keys::REFERENCE_INDEX,
                "GSI7PK",
                keys::reference_pk(&tenant, reference),
            )]
        } else if let Some(recipient) = &filter.recipient {
            let tenant = keys::listed_tenant(tenant, filter.test);
            vec![(
                keys::RECIPIENT_INDEX,
                "GSI6PK",
                keys::recipient_pk(&tenant, &search_form(recipient)),
            )]
        } else {
            keys::list_pks(&keys::listed_tenant(tenant, filter.test))
                .map(|pk| (keys::LIST_INDEX, "GSI5PK", pk))
                .collect()
        };
        let read =
            try_join_all(partitions.into_iter().map(|(index, attribute, pk)| {
                self.read_partition(index, attribute, pk, &range, per)
            }))
            .await?;
        let (candidates, frontier) = merge(read);
        let mut items = Vec::new();
        // Records are read only as far as the page needs (one more, to know of a next).
        for chunk in candidates.chunks((limit + 1).min(100)) {
            for n in self.records(chunk).await? {
                if n.tenant == *tenant && !n.is_expired(now) && filter.keeps(&n) {
                    items.push(n);
                    if items.len() == limit + 1 {
                        break;
                    }
                }
            }
            if items.len() > limit {
                break;
            }
        }
        let next = conclude(&mut items, limit, frontier, |n| &n.id);
        Ok(ListPage { items, next })
    }
}

/// The entries every partition has been read past, newest first, and the frontier below
/// which a partition that holds more was not read (the highest of their last entries).
fn merge(read: Vec<Partition>) -> (Vec<NotificationId>, Option<NotificationId>) {
    let frontier = read
        .iter()
        .filter(|p| p.more)
        .filter_map(|p| p.ids.last())
        .max()
        .cloned();
    let mut candidates: Vec<NotificationId> = read
        .into_iter()
        .flat_map(|p| p.ids)
        .filter(|id| frontier.as_ref().is_none_or(|f| id >= f))
        .collect();
    candidates.sort_by(|a, b| b.cmp(a));
    (candidates, frontier)
}

/// Cuts the kept entries (at most `limit + 1`, newest first) to the page and says where the
/// next starts: after the page's last entry when there was one more, else at the frontier.
fn conclude<T>(
    kept: &mut Vec<T>,
    limit: usize,
    frontier: Option<NotificationId>,
    id: impl Fn(&T) -> &NotificationId,
) -> Option<NotificationId> {
    if kept.len() > limit {
        kept.truncate(limit);
        kept.last().map(|k| id(k).clone())
    } else {
        frontier
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pages through `shards` as the DynamoDB listing does, reading `per` entries of each
    /// shard per page and keeping what `keep` keeps.
    fn page_through(
        shards: &[Vec<NotificationId>],
        per: usize,
        limit: usize,
        keep: impl Fn(&NotificationId) -> bool,
    ) -> (Vec<NotificationId>, usize) {
        let mut seen = Vec::new();
        let mut before: Option<NotificationId> = None;
        for pages in 1.. {
            let read = shards
                .iter()
                .map(|shard| {
                    let below: Vec<NotificationId> = shard
                        .iter()
                        .rev()
                        .filter(|id| before.as_ref().is_none_or(|b| *id < b))
                        .cloned()
                        .collect();
                    Partition {
                        more: below.len() > per,
                        ids: below.into_iter().take(per).collect(),
                    }
                })
                .collect();
            let (candidates, frontier) = merge(read);
            let mut kept: Vec<NotificationId> = candidates
                .into_iter()
                .filter(|id| keep(id))
                .take(limit + 1)
                .collect();
            let next = conclude(&mut kept, limit, frontier, |id| id);
            seen.extend(kept);
            match next {
                Some(n) => before = Some(n),
                None => return (seen, pages),
            }
        }
        unreachable!()
    }

    #[test]
    fn merged_shards_page_without_misses_or_repeats_whatever_the_filter() {
        let mut all: Vec<NotificationId> = (0..400).map(|_| NotificationId::generate()).collect();
        all.sort();
        // Uneven shards, as the last hex digit spreads them.
        let mut shards = vec![Vec::new(); 5];
        for (i, id) in all.iter().enumerate() {
            shards[(i * 7 + i / 3) % 5].push(id.clone());
        }
        let newest_first: Vec<NotificationId> = all.iter().rev().cloned().collect();
        for (per, limit) in [(4, 3), (8, 7), (50, 25), (3, 10)] {
            let (seen, _) = page_through(&shards, per, limit, |_| true);
            assert_eq!(seen, newest_first, "per {per}, limit {limit}");
            // A filter that keeps one in nine: pages come out short, none is lost.
            let rare = |id: &NotificationId| id.as_str().ends_with(['0', '9']);
            let (seen, pages) = page_through(&shards, per, limit, rare);
            let expected: Vec<NotificationId> =
                newest_first.iter().filter(|id| rare(id)).cloned().collect();
            assert_eq!(seen, expected, "per {per}, limit {limit}, filtered");
            assert!(pages > 1);
        }
    }

    #[test]
    fn since_and_until_become_id_bounds() {
        let filter = ListFilter {
            since: Timestamp::from_millis(0x0190_a5b0_0000),
            until: Timestamp::from_millis(0x0190_a5b0_0100),
            ..ListFilter::default()
        };
        let (low, high) = id_range(&filter, None);
        assert_eq!(low, "0190a5b0-0000-0000-0000-000000000000");
        assert_eq!(
            high.as_deref(),
            Some("0190a5b0-0100-0000-0000-000000000000")
        );
        let id = NotificationId::parse("0190a5b0-00ff-7000-8000-000000000001").unwrap();
        assert!(id.as_str() > low.as_str() && id.as_str() < high.as_deref().unwrap());
        let before = NotificationId::parse("0190a5b0-0050-7000-8000-000000000001").unwrap();
        assert_eq!(
            id_range(&filter, Some(&before)).1.as_deref(),
            Some(before.as_str())
        );
    }
}
