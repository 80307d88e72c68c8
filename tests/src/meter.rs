//! A metering proxy between the functions and the emulator: it forwards every AWS request and
//! counts what AWS bills for it. The emulator does not report consumed capacity, so DynamoDB
//! write units are computed as AWS documents them, from each written item's size before and
//! after the write (read from the emulator around it): the table's, and each global secondary
//! index's, whose items are the projected attributes plus 100 bytes. SQS is billed per
//! request.

use std::{collections::HashMap, sync::Arc};

use aws_sdk_dynamodb::types::{AttributeValue, ProjectionType};
use axum::{
    Router,
    body::{Body, to_bytes},
    extract::{Request, State},
    http::{HeaderMap, StatusCode},
    response::Response,
};
use notify_shared::store::{item_size, write_units};
use serde_json::Value;

type Item = HashMap<String, AttributeValue>;

/// One DynamoDB write and what it cost.
#[derive(Debug, Clone)]
pub struct Write {
    pub operation: String,
    pub pk: String,
    pub sk: String,
    pub table_units: u64,
    /// Over every global secondary index.
    pub index_units: u64,
    /// The item's size after the write (before, for a delete).
    pub size: usize,
    /// The write created the item.
    pub created: bool,
}

impl Write {
    pub fn units(&self) -> u64 {
        self.table_units + self.index_units
    }
}

/// One SQS request, and how many messages it carried (sent, received or deleted).
#[derive(Debug, Clone)]
pub struct SqsRequest {
    pub operation: String,
    pub messages: usize,
}

/// What was billed since the meter was last [`take`](Meter::take)n.
#[derive(Debug, Clone, Default)]
pub struct Usage {
    pub writes: Vec<Write>,
    /// Read units: 4 KB per unit started, half for an eventually consistent read; a query or
    /// bulk read is billed on the total size of what it returned.
    pub read_units: f64,
    pub sqs: Vec<SqsRequest>,
}

impl Usage {
    pub fn write_units(&self) -> u64 {
        self.writes.iter().map(Write::units).sum()
    }

    /// Adds `other`'s counts to these.
    pub fn add(&mut self, other: Usage) {
        self.writes.extend(other.writes);
        self.read_units += other.read_units;
        self.sqs.extend(other.sqs);
    }

    /// SQS requests that did something: a receive that found nothing is the pollers' cost,
    /// whatever the traffic.
    pub fn sqs_requests(&self) -> usize {
        self.sqs
            .iter()
            .filter(|r| r.messages > 0 || r.operation != "ReceiveMessage")
            .count()
    }
}

struct Index {
    pk: String,
    sk: String,
    /// `None`: every attribute.
    projected: Option<Vec<String>>,
}

struct Inner {
    upstream: String,
    http: reqwest::Client,
    dynamo: aws_sdk_dynamodb::Client,
    /// Writes go one at a time, so the reads around each see only its change.
    writes: tokio::sync::Mutex<()>,
    indexes: tokio::sync::Mutex<HashMap<String, Arc<Vec<Index>>>>,
    usage: std::sync::Mutex<Usage>,
    /// Off while a test looks (its reads are not the service's).
    counting: std::sync::atomic::AtomicBool,
}

/// The proxy, on loopback.
#[derive(Clone)]
pub struct Meter {
    pub url: String,
    inner: Arc<Inner>,
}

impl Meter {
    /// Starts a proxy to the emulator at `upstream`.
    pub async fn start(upstream: &str) -> Self {
        let inner = Arc::new(Inner {
            upstream: upstream.trim_end_matches('/').to_owned(),
            http: reqwest::Client::new(),
            dynamo: aws_sdk_dynamodb::Client::new(&notify_local::sdk_config(upstream).await),
            writes: tokio::sync::Mutex::new(()),
            indexes: Default::default(),
            usage: Default::default(),
            counting: true.into(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let app = Router::new().fallback(forward).with_state(inner.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, inner }
    }

    /// What was billed since the last call, and a fresh count from here.
    pub fn take(&self) -> Usage {
        std::mem::take(&mut *self.inner.usage.lock().unwrap())
    }

    /// Runs `look` without counting its requests: a test reading what happened.
    pub async fn unmetered<T>(&self, look: impl Future<Output = T>) -> T {
        use std::sync::atomic::Ordering;
        self.inner.counting.store(false, Ordering::SeqCst);
        let out = look.await;
        self.inner.counting.store(true, Ordering::SeqCst);
        out
    }
}

async fn forward(State(inner): State<Arc<Inner>>, request: Request) -> Response {
    let counting = inner.counting.load(std::sync::atomic::Ordering::SeqCst);
    let (parts, body) = request.into_parts();
    let Ok(body) = to_bytes(body, usize::MAX).await else {
        return status(StatusCode::BAD_REQUEST);
    };
    let target = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let json: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let (service, operation) = target.split_once('.').unwrap_or(("", ""));
    let written = if service.starts_with("DynamoDB") && counting {
        written_keys(operation, &json)
    } else {
        Vec::new()
    };

    let _one_at_a_time = if written.is_empty() {
        None
    } else {
        Some(inner.writes.lock().await)
    };
    let before = read_all(&inner, &written).await;

    let url = format!(
        "{}{}",
        inner.upstream,
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut headers = HeaderMap::new();
    for (name, value) in &parts.headers {
        if name != "host" && name != "content-length" {
            headers.append(name, value.clone());
        }
    }
    let Ok(answer) = inner
        .http
        .request(parts.method, url)
        .headers(headers)
        .body(body)
        .send()
        .await
    else {
        return status(StatusCode::BAD_GATEWAY);
    };
    let code = answer.status();
    let answer_headers = answer.headers().clone();
    let answer_body = answer.bytes().await.unwrap_or_default();

    if !written.is_empty() {
        let after = read_all(&inner, &written).await;
        let indexes = indexes(&inner, &written[0].0).await;
        let mut usage = Vec::new();
        for (((_, key), before), after) in written.iter().zip(before).zip(after) {
            // An item a bulk write left unprocessed did not change and is not billed; any
            // other write is, refused by its condition or not (the item's size, at least 1).
            if operation == "BatchWriteItem" && before == after {
                continue;
            }
            usage.push(cost(
                operation,
                key,
                before.as_ref(),
                after.as_ref(),
                &indexes,
            ));
        }
        inner.usage.lock().unwrap().writes.extend(usage);
    } else if !counting {
    } else if service.starts_with("DynamoDB") && code.is_success() {
        let answer_json: Value = serde_json::from_slice(&answer_body).unwrap_or(Value::Null);
        let units = read_units(operation, &json, &answer_json);
        inner.usage.lock().unwrap().read_units += units;
    } else if service == "AmazonSQS" {
        let answer_json: Value = serde_json::from_slice(&answer_body).unwrap_or(Value::Null);
        let messages = match operation {
            "ReceiveMessage" => answer_json["Messages"].as_array().map_or(0, Vec::len),
            _ => json["Entries"].as_array().map_or(1, Vec::len),
        };
        inner.usage.lock().unwrap().sqs.push(SqsRequest {
            operation: operation.to_owned(),
            messages,
        });
    }

    let mut response = Response::builder().status(code.as_u16());
    for (name, value) in &answer_headers {
        if name != "content-length" && name != "transfer-encoding" {
            response = response.header(name, value);
        }
    }
    response
        .body(Body::from(answer_body))
        .unwrap_or_else(|_| status(StatusCode::BAD_GATEWAY))
}

fn status(code: StatusCode) -> Response {
    let mut response = Response::new(Body::empty());
    *response.status_mut() = code;
    response
}

/// What a read returned, in read units.
fn read_units(operation: &str, request: &Value, answer: &Value) -> f64 {
    let consistent = request["ConsistentRead"].as_bool().unwrap_or(false);
    let units = |items: Vec<&Value>| {
        let size: usize = items
            .into_iter()
            .filter_map(wire_item)
            .map(|i| item_size(&i))
            .sum();
        let units = size.div_ceil(4096).max(1) as f64;
        if consistent { units } else { units / 2.0 }
    };
    match operation {
        "GetItem" => units(vec![&answer["Item"]]),
        "Query" | "Scan" => units(answer["Items"].as_array().into_iter().flatten().collect()),
        "BatchGetItem" => answer["Responses"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(_, items)| items.as_array().into_iter().flatten())
            // Each item of a bulk read is billed on its own.
            .map(|item| units(vec![item]))
            .sum(),
        _ => 0.0,
    }
}

/// An item in the wire format (`{"name": {"S": "…"}}`).
fn wire_item(item: &Value) -> Option<Item> {
    item.as_object()?
        .iter()
        .map(|(k, v)| Some((k.clone(), wire_value(v)?)))
        .collect()
}

fn wire_value(v: &Value) -> Option<AttributeValue> {
    use base64::Engine;
    let (kind, x) = v.as_object()?.iter().next()?;
    let strings = || -> Option<Vec<String>> {
        x.as_array()?
            .iter()
            .map(|s| Some(s.as_str()?.to_owned()))
            .collect()
    };
    let blob = |s: &Value| {
        base64::engine::general_purpose::STANDARD
            .decode(s.as_str()?)
            .ok()
            .map(aws_sdk_dynamodb::primitives::Blob::new)
    };
    Some(match kind.as_str() {
        "S" => AttributeValue::S(x.as_str()?.to_owned()),
        "N" => AttributeValue::N(x.as_str()?.to_owned()),
        "B" => AttributeValue::B(blob(x)?),
        "BOOL" => AttributeValue::Bool(x.as_bool()?),
        "NULL" => AttributeValue::Null(true),
        "SS" => AttributeValue::Ss(strings()?),
        "NS" => AttributeValue::Ns(strings()?),
        "BS" => AttributeValue::Bs(x.as_array()?.iter().map(blob).collect::<Option<_>>()?),
        "L" => AttributeValue::L(
            x.as_array()?
                .iter()
                .map(wire_value)
                .collect::<Option<_>>()?,
        ),
        "M" => AttributeValue::M(wire_item(x)?),
        _ => return None,
    })
}

/// The (table, key) of every item a write request names.
fn written_keys(operation: &str, request: &Value) -> Vec<(String, Item)> {
    let table = request["TableName"].as_str().unwrap_or_default().to_owned();
    match operation {
        "PutItem" => key_of(&request["Item"])
            .map(|k| vec![(table, k)])
            .unwrap_or_default(),
        "UpdateItem" | "DeleteItem" => key_of(&request["Key"])
            .map(|k| vec![(table, k)])
            .unwrap_or_default(),
        "BatchWriteItem" => request["RequestItems"]
            .as_object()
            .into_iter()
            .flatten()
            .flat_map(|(table, requests)| {
                requests.as_array().into_iter().flatten().filter_map(|r| {
                    let item = r
                        .pointer("/PutRequest/Item")
                        .or(r.pointer("/DeleteRequest/Key"))?;
                    Some((table.clone(), key_of(item)?))
                })
            })
            .collect(),
        "TransactWriteItems" => request["TransactItems"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| {
                let (_, op) = t.as_object()?.iter().next()?;
                let table = op["TableName"].as_str()?.to_owned();
                Some((table, key_of(op.get("Item").unwrap_or(&op["Key"]))?))
            })
            .collect(),
        _ => Vec::new(),
    }
}

/// `PK` and `SK` of an item in the wire format (both strings in this table).
fn key_of(item: &Value) -> Option<Item> {
    let s = |name: &str| Some(AttributeValue::S(item[name]["S"].as_str()?.to_owned()));
    Some(HashMap::from([
        ("PK".to_owned(), s("PK")?),
        ("SK".to_owned(), s("SK")?),
    ]))
}

async fn read_all(inner: &Inner, keys: &[(String, Item)]) -> Vec<Option<Item>> {
    let mut items = Vec::with_capacity(keys.len());
    for (table, key) in keys {
        let out = inner
            .dynamo
            .get_item()
            .table_name(table)
            .set_key(Some(key.clone()))
            .consistent_read(true)
            .send()
            .await
            .expect("the meter reads the emulator");
        items.push(out.item);
    }
    items
}

async fn indexes(inner: &Inner, table: &str) -> Arc<Vec<Index>> {
    let mut known = inner.indexes.lock().await;
    if let Some(found) = known.get(table) {
        return found.clone();
    }
    let described = inner
        .dynamo
        .describe_table()
        .table_name(table)
        .send()
        .await
        .expect("the meter describes the table");
    let indexes: Vec<Index> = described
        .table
        .and_then(|t| t.global_secondary_indexes)
        .unwrap_or_default()
        .into_iter()
        .filter_map(|gsi| {
            let name = |kind: &str| {
                gsi.key_schema()
                    .iter()
                    .find(|k| k.key_type().as_str() == kind)
                    .map(|k| k.attribute_name().to_owned())
            };
            let projection = gsi.projection()?;
            let projected = match projection.projection_type() {
                Some(ProjectionType::All) => None,
                Some(ProjectionType::Include) => Some(projection.non_key_attributes().to_vec()),
                _ => Some(Vec::new()),
            };
            Some(Index {
                pk: name("HASH")?,
                sk: name("RANGE")?,
                projected,
            })
        })
        .collect();
    let indexes = Arc::new(indexes);
    known.insert(table.to_owned(), indexes.clone());
    indexes
}

/// What one item's write costs: the larger of its sizes before and after, per KB started, in
/// the table; in each index, a put when the item enters it, a delete when it leaves, both when
/// its index key changes, one write when only a projected attribute does.
fn cost(
    operation: &str,
    key: &Item,
    before: Option<&Item>,
    after: Option<&Item>,
    indexes: &[Index],
) -> Write {
    let size = |i: Option<&Item>| i.map_or(0, item_size);
    let mut index_units = 0;
    for index in indexes {
        let entry = |item: Option<&Item>| -> Option<Item> {
            let item = item?;
            let mut names = vec!["PK", "SK", index.pk.as_str(), index.sk.as_str()];
            if !item.contains_key(&index.pk) || !item.contains_key(&index.sk) {
                return None;
            }
            let all: Vec<&str>;
            match &index.projected {
                Some(attributes) => names.extend(attributes.iter().map(String::as_str)),
                None => {
                    all = item.keys().map(String::as_str).collect();
                    names = all;
                }
            }
            Some(
                names
                    .into_iter()
                    .filter_map(|n| Some((n.to_owned(), item.get(n)?.clone())))
                    .collect(),
            )
        };
        let units = |e: &Item| write_units(item_size(e) + 100);
        let (old, new) = (entry(before), entry(after));
        index_units += match (&old, &new) {
            (None, None) => 0,
            (None, Some(n)) => units(n),
            (Some(o), None) => units(o),
            (Some(o), Some(n)) if o[&index.pk] != n[&index.pk] || o[&index.sk] != n[&index.sk] => {
                units(o) + units(n)
            }
            (Some(o), Some(n)) if o != n => units(n),
            _ => 0,
        };
    }
    let s = |name: &str| match key.get(name) {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => String::new(),
    };
    Write {
        operation: operation.to_owned(),
        pk: s("PK"),
        sk: s("SK"),
        table_units: write_units(size(before).max(size(after))),
        index_units,
        size: if after.is_some() {
            size(after)
        } else {
            size(before)
        },
        created: before.is_none() && after.is_some(),
    }
}
