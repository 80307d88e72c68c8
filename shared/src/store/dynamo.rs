//! The DynamoDB client of the record store, and what every aggregate's adapter shares: the
//! item type, attribute values, serde_dynamo conversions and the error of a failed call.
//! Each aggregate implements its port for [`DynamoStore`] in its own module; the table's
//! layout is in `keys`.

use std::{collections::HashMap, time::Duration};

use aws_sdk_dynamodb::{
    Client,
    error::{DisplayErrorContext, ProvideErrorMetadata, SdkError},
    types::AttributeValue,
};
use serde::{Serialize, de::DeserializeOwned};

use super::error::StoreError;

pub(super) type Item = HashMap<String, AttributeValue>;

/// How long a bulk write keeps retrying what DynamoDB leaves unprocessed (a new on-demand
/// table throttles a burst until it scales), within the API's timeout.
const DEFAULT_BULK_BUDGET: Duration = Duration::from_secs(15);
/// A device not registered again for this long is forgotten (apps register on every start).
pub const DEFAULT_DEVICE_IDLE: Duration = Duration::from_secs(270 * 86_400);

/// Every aggregate in a single DynamoDB table (single-table design; see `keys` for the
/// layout).
#[derive(Clone)]
pub struct DynamoStore {
    pub(crate) client: Client,
    pub(crate) table: String,
    /// How long a device registration lasts without being renewed.
    pub(super) device_idle: Duration,
    /// How long a bulk write or read retries what DynamoDB leaves unprocessed.
    pub(super) bulk_budget: Duration,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            device_idle: DEFAULT_DEVICE_IDLE,
            bulk_budget: DEFAULT_BULK_BUDGET,
        }
    }

    /// How long a bulk write or read keeps retrying unprocessed items before giving up on them.
    pub fn with_bulk_budget(mut self, budget: Duration) -> Self {
        self.bulk_budget = budget;
        self
    }

    /// How long a device registration lasts without being renewed.
    pub fn with_device_idle(mut self, idle: Duration) -> Self {
        self.device_idle = idle;
        self
    }

    pub fn from_sdk(sdk: &aws_config::SdkConfig, table: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), table)
    }

    pub fn table(&self) -> &str {
        &self.table
    }

    /// The item at `key`, read consistently (whatever a write before this returned is seen).
    pub(super) async fn read(&self, key: Item) -> Result<Option<Item>, StoreError> {
        self.read_as(key, true).await
    }

    /// The item at `key`, read eventually consistently (half the read units): for an item
    /// that never changes once written, where only a read just after the write can miss it.
    pub(super) async fn read_settled(&self, key: Item) -> Result<Option<Item>, StoreError> {
        match self.read_as(key.clone(), false).await? {
            Some(item) => Ok(Some(item)),
            None => self.read_as(key, true).await,
        }
    }

    async fn read_as(&self, key: Item, consistent: bool) -> Result<Option<Item>, StoreError> {
        Ok(self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(unavailable)?
            .item)
    }

    /// The first page of entries of an index partition (`pk_attribute` = `pk`): keys, and
    /// what the index projects.
    pub(super) async fn index_entries(
        &self,
        index: &str,
        pk_attribute: &str,
        pk: String,
    ) -> Result<Vec<Item>, StoreError> {
        Ok(self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#pk = :pk")
            .expression_attribute_names("#pk", pk_attribute)
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .send()
            .await
            .map_err(unavailable)?
            .items
            .unwrap_or_default())
    }

    /// Every item of partition `pk` whose sort key starts with `sk_prefix` (all of them when
    /// it is empty: DynamoDB refuses an empty `begins_with`), read consistently.
    pub(super) async fn query_prefix(
        &self,
        pk: String,
        sk_prefix: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let mut all = Vec::new();
        let mut start = None;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()));
            query = if sk_prefix.is_empty() {
                query.key_condition_expression("PK = :pk")
            } else {
                query
                    .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                    .expression_attribute_values(":prefix", AttributeValue::S(sk_prefix.to_owned()))
            };
            let page = query
                .consistent_read(true)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(unavailable)?;
            all.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(next) => start = Some(next),
                None => return Ok(all),
            }
        }
    }
}

/// One page of a partition's items whose sort key starts with `prefix` (all of them when it is
/// empty), in sort key order (`forward`) or reverse, after the sort key `after`, keeping those
/// whose attribute `filter.0` equals `filter.1`. A filter that discards most items reads at
/// most [`MAX_READ_PER_PAGE`] of them per call and answers a shorter page with its `next`.
pub(super) struct PrefixPage<'a> {
    pub pk: String,
    pub prefix: &'a str,
    pub filter: Option<(&'a str, String)>,
    pub after: Option<&'a str>,
    pub limit: usize,
    pub forward: bool,
}

/// What a filtered listing reads at most per call.
const MAX_READ_PER_PAGE: usize = 1_000;

impl DynamoStore {
    /// The items of a [`PrefixPage`] with their sort keys, and the sort key the next page
    /// starts after (`None`: this was the last).
    pub(super) async fn page_prefix(
        &self,
        page: PrefixPage<'_>,
    ) -> Result<(Vec<(String, Item)>, Option<String>), StoreError> {
        let mut start = page
            .after
            .filter(|sk| sk.starts_with(page.prefix))
            .map(|sk| {
                HashMap::from([
                    ("PK".to_owned(), AttributeValue::S(page.pk.clone())),
                    ("SK".to_owned(), AttributeValue::S(sk.to_owned())),
                ])
            });
        let mut items: Vec<(String, Item)> = Vec::new();
        let mut read = 0;
        loop {
            let mut query = self
                .client
                .query()
                .table_name(&self.table)
                .expression_attribute_values(":pk", AttributeValue::S(page.pk.clone()))
                .set_exclusive_start_key(start.take())
                .scan_index_forward(page.forward)
                // One more than asked: whether there is a next page is then known.
                .limit((page.limit + 1 - items.len()) as i32);
            // DynamoDB refuses an empty `begins_with` prefix: then it is the whole partition.
            query = if page.prefix.is_empty() {
                query.key_condition_expression("PK = :pk")
            } else {
                query
                    .key_condition_expression("PK = :pk AND begins_with(SK, :prefix)")
                    .expression_attribute_values(":prefix", AttributeValue::S(page.prefix.into()))
            };
            if let Some((name, value)) = &page.filter {
                query = query
                    // Named: `status` and `reason` are among DynamoDB's reserved words.
                    .filter_expression("#f = :f")
                    .expression_attribute_names("#f", *name)
                    .expression_attribute_values(":f", AttributeValue::S(value.clone()));
            }
            let out = query.send().await.map_err(unavailable)?;
            read += out.scanned_count.max(0) as usize;
            for item in out.items.unwrap_or_default() {
                let sk = item.get("SK").and_then(|v| v.as_s().ok()).cloned();
                items.push((sk.unwrap_or_default(), item));
            }
            if items.len() > page.limit {
                items.truncate(page.limit);
                let next = items.last().map(|(sk, _)| sk.clone());
                return Ok((items, next));
            }
            match out.last_evaluated_key {
                None => return Ok((items, None)),
                Some(last) if read >= MAX_READ_PER_PAGE => {
                    let next = last.get("SK").and_then(|v| v.as_s().ok()).cloned();
                    return Ok((items, next));
                }
                Some(last) => start = Some(last),
            }
        }
    }
}

/// Whether an item's `ttl` has passed (DynamoDB's TTL deletes lazily, so reads check it).
pub(super) fn expired(item: &Item, now: crate::domain::time::Timestamp) -> bool {
    item.get("ttl")
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse::<i64>().ok())
        .is_some_and(|ttl| ttl <= now.as_seconds())
}

/// An item that cannot be written or read; `what` names it.
pub(super) fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        id: what.to_owned(),
        reason: e.to_string(),
    }
}

/// The attributes of `v` (`what` names it in the error), before the table's keys are added.
pub(super) fn to_item<T: Serialize>(v: &T, what: &str) -> Result<Item, StoreError> {
    serde_dynamo::to_item(v).map_err(|e| corrupt(what, e))
}

/// An item read back, once the table's own attributes are gone (`keys::strip`).
pub(super) fn from_item<T: DeserializeOwned>(item: Item, what: &str) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(|e| corrupt(what, e))
}

pub(super) fn value<T: Serialize>(v: &T) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(v).map_err(|e| corrupt("-", e))
}

pub(super) fn unavailable<E, R>(e: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    StoreError::Unavailable(DisplayErrorContext(e).to_string())
}

/// Whether a failed call was a conditional write whose condition did not hold.
pub(super) fn condition_failed<E: ProvideErrorMetadata, R>(e: &SdkError<E, R>) -> bool {
    e.as_service_error().and_then(ProvideErrorMetadata::code)
        == Some("ConditionalCheckFailedException")
}

/// A conditional write's outcome: whether it applied (`false`: its condition did not hold).
pub(super) fn applied<O, E, R>(result: Result<O, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if condition_failed(&e) => Ok(false),
        Err(e) => Err(unavailable(e)),
    }
}

/// Adds an update's `SET` assignments writing every attribute of `item`, each value named
/// `:<attribute>`.
pub(super) fn set_all(item: Item, set: &mut Vec<String>, values: &mut Item) {
    for (k, v) in item {
        set.push(format!("{k} = :{k}"));
        values.insert(format!(":{k}"), v);
    }
}

/// The size DynamoDB bills an item by: each attribute's name and value, by the rules of
/// <https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html>
/// (a number: its significant digits, two a byte, plus one; a list or map: 3 bytes, and 1
/// per element).
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// The size of one attribute's value (without its name).
pub(super) fn value_size(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number_size(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(set) => set.iter().map(String::len).sum(),
        AttributeValue::Ns(set) => set.iter().map(|n| number_size(n)).sum(),
        AttributeValue::Bs(set) => set.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(list) => 3 + list.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        _ => 0,
    }
}

fn number_size(n: &str) -> usize {
    let digits: String = n
        .chars()
        .take_while(|c| *c != 'e' && *c != 'E')
        .filter(char::is_ascii_digit)
        .collect();
    let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
    significant.div_ceil(2) + 1
}

/// The write units a write of an item of `size` bytes consumes: 1 per KB started.
pub fn write_units(size: usize) -> u64 {
    (size.div_ceil(1024)).max(1) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_follow_the_documented_rules() {
        let item = HashMap::from([
            ("id".to_owned(), AttributeValue::S("abc".into())),
            ("n".to_owned(), AttributeValue::N("12300".into())),
            ("ok".to_owned(), AttributeValue::Bool(true)),
            (
                "m".to_owned(),
                AttributeValue::M(HashMap::from([(
                    "k".to_owned(),
                    AttributeValue::L(vec![AttributeValue::S("xy".into())]),
                )])),
            ),
        ]);
        // id: 2 + 3; n: 1 + (3 digits → 2, + 1); ok: 2 + 1; m: 1 + 3 + (1 + 1 + (3 + 1 + 2)).
        assert_eq!(item_size(&item), 5 + 4 + 3 + 12);
        assert_eq!(write_units(0), 1);
        assert_eq!(write_units(1024), 1);
        assert_eq!(write_units(1025), 2);
        assert_eq!(write_units(100 * 1024 + 1), 101);
    }
}
