//! DynamoDB Streams' event source mapping: reads the table's stream and hands each batch of
//! records to a function as Lambda does (`{"Records": [...]}`, the stream's own record
//! format with `eventSourceARN` added). A batch the function fails is handed again, in order.
//!
//! It speaks the Streams API's JSON protocol to the emulator directly: the records it
//! returns are already the event's records, which the SDK's typed output would have to be
//! converted back into.

use std::collections::HashMap;

use serde_json::{Value, json};

/// The most records one event holds (Lambda's default batch size for a stream is 100).
pub const BATCH: usize = 100;

pub struct StreamReader {
    http: reqwest::Client,
    endpoint: String,
    stream_arn: String,
    /// The last sequence number handed, per shard.
    positions: HashMap<String, String>,
    /// The last sequence number read, per shard: where a handed batch moves its shard to
    /// (past the records the filter left out, too).
    read: HashMap<String, String>,
}

impl StreamReader {
    /// The reader of `table`'s stream, from its beginning.
    pub async fn new(
        sdk: &aws_config::SdkConfig,
        endpoint: &str,
        table: &str,
    ) -> Result<Self, String> {
        let described = aws_sdk_dynamodb::Client::new(sdk)
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| {
                format!(
                    "describe {table}: {}",
                    aws_sdk_dynamodb::error::DisplayErrorContext(e)
                )
            })?;
        let stream_arn = described
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or_else(|| format!("{table} has no stream"))?;
        Ok(Self {
            http: reqwest::Client::new(),
            endpoint: endpoint.trim_end_matches('/').to_owned(),
            stream_arn,
            positions: HashMap::new(),
            read: HashMap::new(),
        })
    }

    async fn call(&self, operation: &str, body: Value) -> Result<Value, String> {
        let response = self
            .http
            .post(&self.endpoint)
            .header("x-amz-target", format!("DynamoDBStreams_20120810.{operation}"))
            .header("content-type", "application/x-amz-json-1.0")
            // The emulator reads the region and account from the credential scope.
            .header(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0",
            )
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| format!("{operation}: {e}"))?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| format!("{operation}: {e}"))?;
        if !status.is_success() {
            return Err(format!("{operation}: {status} {text}"));
        }
        serde_json::from_str(&text).map_err(|e| format!("{operation}: {e}"))
    }

    /// The next batch (at most [`BATCH`] records) of some shard, as the event a function
    /// gets, without moving past it: [`handed`](Self::handed) does, once the function took it.
    /// The next batch of records the changes function's filter passes
    /// ([`notify_shared::store::CHANGES_STREAM_FILTER`], as the event source mapping applies
    /// it); records it leaves out are passed over.
    pub async fn next_batch(&mut self) -> Result<Option<(String, Value)>, String> {
        let stream = self
            .call("DescribeStream", json!({"StreamArn": self.stream_arn}))
            .await?;
        let shards = stream["StreamDescription"]["Shards"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for shard in shards {
            let Some(shard_id) = shard["ShardId"].as_str() else {
                continue;
            };
            let mut request = json!({"StreamArn": self.stream_arn, "ShardId": shard_id});
            match self.positions.get(shard_id) {
                Some(seq) => {
                    request["ShardIteratorType"] = json!("AFTER_SEQUENCE_NUMBER");
                    request["SequenceNumber"] = json!(seq);
                }
                None => request["ShardIteratorType"] = json!("TRIM_HORIZON"),
            }
            let iterator = self.call("GetShardIterator", request).await?;
            let Some(iterator) = iterator["ShardIterator"].as_str() else {
                continue;
            };
            let out = self
                .call(
                    "GetRecords",
                    json!({"ShardIterator": iterator, "Limit": BATCH}),
                )
                .await?;
            let records = out["Records"].as_array().cloned().unwrap_or_default();
            let Some(last) = records
                .last()
                .and_then(|r| r["dynamodb"]["SequenceNumber"].as_str())
                .map(str::to_owned)
            else {
                continue;
            };
            let mut records: Vec<Value> = records
                .into_iter()
                .filter(notify_shared::store::wanted_by_changes)
                .collect();
            if records.is_empty() {
                self.positions.insert(shard_id.to_owned(), last);
                continue;
            }
            self.read.insert(shard_id.to_owned(), last);
            for r in &mut records {
                r["eventSourceARN"] = json!(self.stream_arn);
            }
            return Ok(Some((shard_id.to_owned(), json!({ "Records": records }))));
        }
        Ok(None)
    }

    /// The function took `event` (of `shard`): the next batch starts after it.
    pub fn handed(&mut self, shard: &str, event: &Value) {
        let last = self.read.get(shard).cloned().or_else(|| {
            event["Records"]
                .as_array()
                .and_then(|r| r.last())
                .and_then(|r| r["dynamodb"]["SequenceNumber"].as_str())
                .map(str::to_owned)
        });
        if let Some(seq) = last {
            self.positions.insert(shard.to_owned(), seq);
        }
    }
}
