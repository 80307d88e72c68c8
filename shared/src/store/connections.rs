//! Live WebSocket connections of users' apps (API Gateway's WebSocket API, or its local
//! stand-in): each in its user's partition, where the in-app worker finds them with one Query,
//! and by its id alone, which is all `$disconnect` and a client's messages name. Both expire
//! with API Gateway's limit on a connection's life, so one whose `$disconnect` never came
//! goes by itself.

use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use serde::{Deserialize, Serialize};

use super::{
    dynamo::{self, DynamoStore, unavailable},
    error::StoreError,
    keys,
};
use crate::domain::{TenantId, UserId, time::Timestamp};

/// API Gateway closes a WebSocket connection after 2 hours at most.
pub const MAX_CONNECTION_LIFE: Duration = Duration::from_secs(2 * 3600);

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Connection {
    /// API Gateway's connection id.
    pub id: String,
    pub tenant: TenantId,
    pub user: UserId,
    pub connected_at: Timestamp,
}

#[async_trait]
pub trait Connections: Send + Sync {
    async fn connect(&self, connection: &Connection) -> Result<(), StoreError>;

    /// The connection by its id, while it may be live.
    async fn connection(&self, id: &str, now: Timestamp) -> Result<Option<Connection>, StoreError>;

    /// Forgets the connection (closed, or answered `410 Gone`); nothing when it is unknown.
    async fn disconnect(&self, id: &str) -> Result<(), StoreError>;

    /// The user's connections that may be live.
    async fn of_user(
        &self,
        tenant: &TenantId,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<Connection>, StoreError>;
}

fn ttl(c: &Connection) -> AttributeValue {
    AttributeValue::N(
        c.connected_at
            .plus(MAX_CONNECTION_LIFE)
            .as_seconds()
            .to_string(),
    )
}

#[async_trait]
impl Connections for DynamoStore {
    async fn connect(&self, c: &Connection) -> Result<(), StoreError> {
        let attributes = dynamo::to_item(c, "connection")?;
        for key in [
            keys::connection_key(&c.id),
            keys::user_connection_key(&c.tenant, &c.user, &c.id),
        ] {
            let mut item = attributes.clone();
            item.extend(key);
            item.insert("ttl".into(), ttl(c));
            self.put(item).await?;
        }
        Ok(())
    }

    async fn connection(&self, id: &str, now: Timestamp) -> Result<Option<Connection>, StoreError> {
        match self.read(keys::connection_key(id)).await? {
            Some(item) if !dynamo::expired(&item, now) => {
                dynamo::from_item(keys::strip(item), "connection").map(Some)
            }
            _ => Ok(None),
        }
    }

    async fn disconnect(&self, id: &str) -> Result<(), StoreError> {
        let Some(item) = self.read(keys::connection_key(id)).await? else {
            return Ok(());
        };
        let c: Connection = dynamo::from_item(keys::strip(item), "connection")?;
        // The user's entry first: with it gone no push is tried, whatever happens next.
        for key in [
            keys::user_connection_key(&c.tenant, &c.user, &c.id),
            keys::connection_key(&c.id),
        ] {
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

    async fn of_user(
        &self,
        tenant: &TenantId,
        user: &UserId,
        now: Timestamp,
    ) -> Result<Vec<Connection>, StoreError> {
        self.query_prefix(keys::user_pk(tenant, user), keys::CONNECTION_SK_PREFIX)
            .await?
            .into_iter()
            .filter(|item| !dynamo::expired(item, now))
            .map(|item| dynamo::from_item(keys::strip(item), "connection"))
            .collect()
    }
}
