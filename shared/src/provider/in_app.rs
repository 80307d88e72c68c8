//! In-app: the "provider" is the service itself. A notification's targets are the user's
//! inbox and each live WebSocket connection of the user's app at the first attempt. The inbox
//! target stores the item (once: a repeated attempt finds it there); each connection target
//! posts the stored item and the user's counters through API Gateway's management API
//! (`PostToConnection`). A connection API Gateway answers `410 Gone` for is forgotten; other
//! failures are retried by the queue for that connection alone, never storing the item twice.
//! Realtime is best effort on top of the feed: a client that was away resyncs with `since`.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::json;

use super::{ErrorKind, Provider, ProviderError, Receipt};
use crate::{
    clock::Clock,
    domain::{
        Address, Channel, Content, Delivery, DeliveryStatus, Notification, Recipient, TenantId,
        UserId, inbox::InboxItem,
    },
    store::{Connections, InboxStore, StoreError},
};

/// Where a message for one connection goes: API Gateway's management API, or the local
/// stand-in speaking it. A connection that no longer exists is [`ErrorKind::TargetGone`].
#[async_trait]
pub trait ConnectionPoster: Send + Sync {
    async fn post(&self, connection: &str, data: Vec<u8>) -> Result<(), ProviderError>;
}

/// What a live connection receives: the item, as the feed shows it, and the counters after it.
pub fn item_message(item: &InboxItem, counts: crate::domain::inbox::InboxCounts) -> Vec<u8> {
    let counts = counts.shown();
    json!({
        "type": "item",
        "item": item,
        "unreadCount": counts.unread,
        "unseenCount": counts.unseen,
    })
    .to_string()
    .into_bytes()
}

pub struct InAppProvider {
    inbox: Arc<dyn InboxStore>,
    connections: Arc<dyn Connections>,
    poster: Arc<dyn ConnectionPoster>,
    clock: Arc<dyn Clock>,
}

fn unavailable(what: &str) -> impl Fn(StoreError) -> ProviderError + '_ {
    move |e| ProviderError::transient("StoreUnavailable", format!("{what}: {e}"))
}

impl InAppProvider {
    pub fn new(
        inbox: Arc<dyn InboxStore>,
        connections: Arc<dyn Connections>,
        poster: Arc<dyn ConnectionPoster>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            inbox,
            connections,
            poster,
            clock,
        }
    }

    fn user(n: &Notification) -> Result<&UserId, ProviderError> {
        match &n.recipient {
            Recipient::User(user) => Ok(user),
            other => Err(ProviderError::permanent(
                "UnsupportedRecipient",
                format!(
                    "an in-app notification goes to a user, not {}",
                    other.masked()
                ),
            )),
        }
    }

    /// The notification's item, stored if it is not yet: by this attempt's inbox target, or
    /// by an earlier attempt.
    async fn stored(
        &self,
        n: &Notification,
        tenant: &TenantId,
        user: &UserId,
    ) -> Result<InboxItem, ProviderError> {
        let now = self.clock.now();
        if let Some(item) = self
            .inbox
            .item(tenant, user, &n.id, now)
            .await
            .map_err(unavailable("reading the inbox"))?
        {
            return Ok(item);
        }
        let Content::InApp(content) = &n.content else {
            return Err(ProviderError::permanent(
                "WrongChannel",
                "not an in-app notification",
            ));
        };
        let item = InboxItem::new(n.id.clone(), content, n.category.as_deref(), now);
        self.inbox
            .add(tenant, user, &item, n.expires_at)
            .await
            .map_err(unavailable("storing the inbox item"))?;
        // Read back: a concurrent attempt may have stored it first, at its own time.
        self.inbox
            .item(tenant, user, &n.id, now)
            .await
            .map_err(unavailable("reading the inbox"))?
            .ok_or_else(|| {
                ProviderError::transient("StoreUnavailable", "the item stored is not read back")
            })
    }
}

#[async_trait]
impl Provider for InAppProvider {
    fn channel(&self) -> Channel {
        Channel::InApp
    }

    async fn targets(&self, n: &Notification) -> Result<Vec<Address>, ProviderError> {
        let user = Self::user(n)?;
        let live = self
            .connections
            .of_user(&n.tenant, user, self.clock.now())
            .await
            .map_err(unavailable("reading the user's connections"))?;
        let mut targets = vec![Address::Inbox(user.clone())];
        targets.extend(live.into_iter().map(|c| Address::Connection(c.id)));
        Ok(targets)
    }

    async fn send(&self, n: &Notification, to: &Address) -> Result<Receipt, ProviderError> {
        let user = Self::user(n)?;
        let item = self.stored(n, &n.tenant, user).await?;
        match to {
            Address::Inbox(_) => Ok(Receipt {
                message_id: item.id.as_str().to_owned(),
                response: None,
            }),
            Address::Connection(connection) => {
                let counts = self
                    .inbox
                    .counts(&n.tenant, user)
                    .await
                    .map_err(unavailable("reading the counters"))?;
                self.poster
                    .post(connection, item_message(&item, counts))
                    .await?;
                Ok(Receipt {
                    message_id: connection.clone(),
                    response: None,
                })
            }
            Address::Email(_)
            | Address::Phone(_)
            | Address::Device { .. }
            | Address::Webhook { .. }
            | Address::Chat(_) => Err(ProviderError::permanent(
                "UnsupportedRecipient",
                format!("in-app cannot deliver to {}", to.masked()),
            )),
        }
    }

    fn delivered(&self, deliveries: &[Delivery]) -> bool {
        deliveries
            .iter()
            .any(|d| matches!(d.to, Address::Connection(_)) && d.status == DeliveryStatus::Sent)
    }

    async fn forget(&self, _n: &Notification, to: &Address) {
        if let Address::Connection(id) = to
            && let Err(e) = self.connections.disconnect(id).await
        {
            tracing::warn!(error = %e, "a gone connection could not be forgotten; it expires");
        }
    }
}

/// [`ConnectionPoster`] over API Gateway's management API (`POST /@connections/{id}`), at the
/// WebSocket API's stage URL (or the local stand-in's).
pub struct ApiGatewayPoster {
    client: aws_sdk_apigatewaymanagement::Client,
}

impl ApiGatewayPoster {
    pub fn new(sdk: &aws_config::SdkConfig, endpoint: &str) -> Self {
        let config = aws_sdk_apigatewaymanagement::config::Builder::from(sdk)
            .endpoint_url(endpoint)
            .build();
        Self {
            client: aws_sdk_apigatewaymanagement::Client::from_conf(config),
        }
    }
}

#[async_trait]
impl ConnectionPoster for ApiGatewayPoster {
    async fn post(&self, connection: &str, data: Vec<u8>) -> Result<(), ProviderError> {
        use aws_sdk_apigatewaymanagement::operation::post_to_connection::PostToConnectionError as E;
        self.client
            .post_to_connection()
            .connection_id(connection)
            .data(aws_sdk_apigatewaymanagement::primitives::Blob::new(data))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| {
                super::aws_error(e, |e| match e {
                    E::GoneException(_) => Some(("GoneException", false)),
                    E::LimitExceededException(_) => Some(("LimitExceededException", true)),
                    E::PayloadTooLargeException(_) => Some(("PayloadTooLargeException", false)),
                    E::ForbiddenException(_) => Some(("ForbiddenException", false)),
                    _ => None,
                })
            })
            .map_err(|e| {
                if e.code == "GoneException" {
                    e.with_kind(ErrorKind::TargetGone)
                } else {
                    e
                }
            })
    }
}

/// A [`ConnectionPoster`] in memory, for tests: it records what each connection was sent,
/// and answers `410 Gone` for the connections named gone.
#[derive(Default)]
pub struct MemoryPoster {
    posts: std::sync::Mutex<Vec<(String, serde_json::Value)>>,
    gone: std::sync::Mutex<std::collections::HashSet<String>>,
}

impl MemoryPoster {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn gone(&self, connection: &str) {
        self.gone
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(connection.to_owned());
    }

    /// What was posted, to which connection, as JSON.
    pub fn posts(&self) -> Vec<(String, serde_json::Value)> {
        self.posts.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

#[async_trait]
impl ConnectionPoster for MemoryPoster {
    async fn post(&self, connection: &str, data: Vec<u8>) -> Result<(), ProviderError> {
        if self
            .gone
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(connection)
        {
            return Err(ProviderError::permanent("GoneException", "410 Gone")
                .with_kind(ErrorKind::TargetGone));
        }
        let value = serde_json::from_slice(&data).unwrap_or(serde_json::Value::Null);
        self.posts
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((connection.to_owned(), value));
        Ok(())
    }
}
