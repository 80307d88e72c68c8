//! Bulk writes and reads (`BatchWriteItem`, `BatchGetItem`), for any item kind: cut into
//! calls of the most DynamoDB takes, several in flight, and what DynamoDB leaves unprocessed
//! retried with backoff within the store's bulk budget.

use std::{collections::HashMap, time::Duration};

use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};
use futures::{StreamExt, stream};
use tracing::warn;

use super::{
    dynamo::{DynamoStore, Item, unavailable},
    error::StoreError,
    keys,
};

/// BatchWriteItem takes at most 25 requests, BatchGetItem 100 keys
/// (<https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchWriteItem.html>).
const WRITE_CHUNK: usize = 25;
const GET_CHUNK: usize = 100;
/// Calls in flight at once: enough to hide the round trips, few enough not to throttle a
/// new on-demand table.
const IN_FLIGHT: usize = 16;
/// Backoff between retries: doubling from the first, up to the last.
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

impl DynamoStore {
    /// Puts the items, 25 a call with up to [`IN_FLIGHT`] calls at once, retrying unprocessed
    /// ones with backoff. Returns the ids of the items that could not be written.
    pub(super) async fn put_all<T: Send>(&self, items: Vec<(T, Item)>) -> Vec<T> {
        let chunks: Vec<Vec<(T, Item)>> = {
            let mut chunks = Vec::new();
            let mut items = items.into_iter().peekable();
            while items.peek().is_some() {
                chunks.push(items.by_ref().take(WRITE_CHUNK).collect());
            }
            chunks
        };
        stream::iter(chunks)
            .map(|chunk| self.put_chunk(chunk))
            .buffer_unordered(IN_FLIGHT)
            .flat_map(stream::iter)
            .collect()
            .await
    }

    async fn put_chunk<T>(&self, chunk: Vec<(T, Item)>) -> Vec<T> {
        let mut ids: HashMap<(String, String), T> = HashMap::new();
        let mut requests = Vec::with_capacity(chunk.len());
        for (id, item) in chunk {
            let identity = keys::identity(&item);
            let (Some(identity), Ok(put)) =
                (identity, PutRequest::builder().set_item(Some(item)).build())
            else {
                continue;
            };
            ids.insert(identity, id);
            requests.push(WriteRequest::builder().put_request(put).build());
        }
        self.write_batch(requests)
            .await
            .iter()
            .filter_map(|r| keys::identity(r.put_request()?.item()))
            .filter_map(|identity| ids.remove(&identity))
            .collect()
    }

    /// Sends up to 25 writes in one `BatchWriteItem`, then again what DynamoDB left
    /// unprocessed (or all of it, when the call failed), with backoff, within the bulk
    /// budget. Returns what is still not written.
    pub(super) async fn write_batch(&self, mut requests: Vec<WriteRequest>) -> Vec<WriteRequest> {
        let mut backoff = Backoff::new(self.bulk_budget);
        for round in 0u32.. {
            if requests.is_empty() || (round > 0 && !backoff.wait().await) {
                break;
            }
            match self
                .client
                .batch_write_item()
                .request_items(&self.table, requests.clone())
                .send()
                .await
            {
                Ok(out) => {
                    requests = out
                        .unprocessed_items
                        .and_then(|mut u| u.remove(&self.table))
                        .unwrap_or_default();
                }
                Err(e) => {
                    warn!(error = %aws_sdk_dynamodb::error::DisplayErrorContext(&e), round, "BatchWriteItem failed; retrying");
                }
            }
        }
        requests
    }

    /// The items of `keys` that exist, with only the `projection` attributes (all without
    /// one), 100 keys a call. Unavailable when some keys stay unprocessed past the budget.
    pub(super) async fn get_all(
        &self,
        keys: &[Item],
        projection: Option<&str>,
    ) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        for chunk in keys.chunks(GET_CHUNK) {
            let mut keys: Vec<Item> = chunk.to_vec();
            let mut backoff = Backoff::new(self.bulk_budget);
            for round in 0u32.. {
                if keys.is_empty() || (round > 0 && !backoff.wait().await) {
                    break;
                }
                let request = KeysAndAttributes::builder()
                    .set_keys(Some(keys.clone()))
                    .set_projection_expression(projection.map(str::to_owned))
                    .consistent_read(true)
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&self.table, request)
                    .send()
                    .await
                    .map_err(unavailable)?;
                found.extend(
                    out.responses
                        .and_then(|mut r| r.remove(&self.table))
                        .unwrap_or_default(),
                );
                keys = out
                    .unprocessed_keys
                    .and_then(|mut u| u.remove(&self.table))
                    .map(|k| k.keys)
                    .unwrap_or_default();
            }
            if !keys.is_empty() {
                return Err(StoreError::Unavailable(
                    "BatchGetItem left keys unprocessed".into(),
                ));
            }
        }
        Ok(found)
    }
}

/// The waits between the retries of one bulk call: doubling, jittered (half to all of the
/// delay, so retries of many concurrent calls spread out instead of colliding), within a
/// budget.
struct Backoff {
    started: std::time::Instant,
    delay: Duration,
    budget: Duration,
}

impl Backoff {
    fn new(budget: Duration) -> Self {
        Self {
            started: std::time::Instant::now(),
            delay: FIRST_BACKOFF,
            budget,
        }
    }

    /// Waits before the next retry; false, at once, when the budget does not allow one.
    async fn wait(&mut self) -> bool {
        if self.started.elapsed() + self.delay > self.budget {
            return false;
        }
        tokio::time::sleep(self.delay.mul_f64(rand::random_range(0.5..=1.0))).await;
        self.delay = (self.delay * 2).min(MAX_BACKOFF);
        true
    }
}

#[cfg(test)]
mod tests {
    use aws_sdk_dynamodb::{
        Client, operation::batch_write_item::BatchWriteItemOutput, types::AttributeValue,
    };
    use aws_smithy_mocks::{Rule, RuleMode, mock};

    use super::*;
    use crate::domain::NotificationId;

    fn store(mode: RuleMode, rules: &[&Rule]) -> DynamoStore {
        let config = crate::test_support::mocked_config!(aws_sdk_dynamodb, mode, rules);
        DynamoStore::new(Client::from_conf(config), "t")
            .with_bulk_budget(Duration::from_millis(300))
    }

    /// Records to write: their ids, and items with their keys.
    fn records(count: usize) -> Vec<(NotificationId, Item)> {
        (0..count)
            .map(|_| {
                let id = NotificationId::generate();
                let mut item = keys::notification_key(&id);
                item.insert("id".into(), AttributeValue::S(id.to_string()));
                (id, item)
            })
            .collect()
    }

    /// The put of `item` as DynamoDB hands it back unprocessed.
    fn unprocessed(item: &Item) -> WriteRequest {
        let put = PutRequest::builder()
            .set_item(Some(item.clone()))
            .build()
            .unwrap();
        WriteRequest::builder().put_request(put).build()
    }

    fn sent(req: &aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemInput) -> usize {
        req.request_items().map_or(0, |items| items["t"].len())
    }

    #[tokio::test]
    async fn unprocessed_items_are_written_again_and_only_they() {
        let batch = records(3);
        let left = unprocessed(&batch[1].1);
        let first = mock!(Client::batch_write_item)
            .match_requests(|r| sent(r) == 3)
            .then_output(move || {
                BatchWriteItemOutput::builder()
                    .unprocessed_items("t", vec![left.clone()])
                    .build()
            });
        let second = mock!(Client::batch_write_item)
            .match_requests(|r| sent(r) == 1)
            .then_output(|| BatchWriteItemOutput::builder().build());
        let unwritten = store(RuleMode::Sequential, &[&first, &second])
            .put_all(batch)
            .await;
        assert!(unwritten.is_empty(), "{unwritten:?}");
        assert_eq!((first.num_calls(), second.num_calls()), (1, 1));
    }

    #[tokio::test]
    async fn an_item_left_unprocessed_every_round_is_reported_unwritten() {
        let batch = records(3);
        let stuck = batch[2].clone();
        let rule = mock!(Client::batch_write_item)
            .sequence()
            .output(move || {
                BatchWriteItemOutput::builder()
                    .unprocessed_items("t", vec![unprocessed(&stuck.1)])
                    .build()
            })
            .repeatedly()
            .build();
        let started = std::time::Instant::now();
        let unwritten = store(RuleMode::MatchAny, &[&rule]).put_all(batch).await;
        assert_eq!(unwritten, vec![stuck.0]);
        assert!(
            rule.num_calls() >= 3,
            "retried with backoff: {}",
            rule.num_calls()
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "within its budget"
        );
    }

    #[tokio::test]
    async fn records_are_cut_in_calls_of_at_most_25() {
        // A call of any other size matches no rule and fails: its records come back unwritten.
        let rule = mock!(Client::batch_write_item)
            .match_requests(|r| sent(r) == WRITE_CHUNK || sent(r) == 10)
            .sequence()
            .output(|| BatchWriteItemOutput::builder().build())
            .repeatedly()
            .build();
        let unwritten = store(RuleMode::MatchAny, &[&rule])
            .put_all(records(60))
            .await;
        assert!(unwritten.is_empty(), "{unwritten:?}");
        assert_eq!(rule.num_calls(), 3);
    }
}
