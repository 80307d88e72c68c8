//! What the recipient's side changes on the records: routed sends' parents (their steps,
//! and whether they were read or cancelled), kept beside the notification records under the
//! route's id; the read acknowledgement of a notification; and the erasure of a user's
//! address from the records of what was sent to them.

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::{
    dynamo::{self, DynamoStore},
    error::StoreError,
    keys,
};
use crate::domain::{NotificationId, Recipient, route::Route, time::Timestamp};

#[async_trait]
pub trait RouteStore: Send + Sync {
    /// Writes a new route; `AlreadyExists` when its id has one (a retried request).
    async fn insert_route(&self, route: &Route) -> Result<(), StoreError>;

    /// The route, unless it does not exist or has expired at `now`.
    async fn route(&self, id: &NotificationId, now: Timestamp)
    -> Result<Option<Route>, StoreError>;

    /// Records that the route was read (`read`) or cancelled, the first time only.
    async fn mark_route(
        &self,
        id: &NotificationId,
        read: bool,
        at: Timestamp,
    ) -> Result<(), StoreError>;

    /// Records that the notification was read, the first time only; false if there is no
    /// such notification.
    async fn mark_read(&self, id: &NotificationId, at: Timestamp) -> Result<bool, StoreError>;

    /// Keeps only `masked` of the record's recipient: its address, its per-target
    /// deliveries (addresses, device tokens), its user and its recipient-index entry go.
    async fn erase_recipient(&self, id: &NotificationId, masked: &str) -> Result<(), StoreError>;
}

#[async_trait]
impl RouteStore for DynamoStore {
    async fn insert_route(&self, route: &Route) -> Result<(), StoreError> {
        let mut item = dynamo::to_item(route, "route")?;
        item.extend(keys::route_key(&route.id));
        item.insert(
            "ttl".into(),
            AttributeValue::N(route.expires_at.as_seconds().to_string()),
        );
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        if dynamo::applied(put)? {
            Ok(())
        } else {
            Err(StoreError::AlreadyExists(route.id.clone()))
        }
    }

    async fn route(
        &self,
        id: &NotificationId,
        now: Timestamp,
    ) -> Result<Option<Route>, StoreError> {
        let Some(item) = self.read(keys::route_key(id)).await? else {
            return Ok(None);
        };
        let route: Route = dynamo::from_item(keys::strip(item), "route")?;
        Ok((route.expires_at > now).then_some(route))
    }

    async fn mark_route(
        &self,
        id: &NotificationId,
        read: bool,
        at: Timestamp,
    ) -> Result<(), StoreError> {
        let attribute = if read { "readAt" } else { "cancelledAt" };
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::route_key(id)))
            .update_expression("SET #a = if_not_exists(#a, :at)")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_names("#a", attribute)
            .expression_attribute_values(":at", dynamo::value(&at)?)
            .send()
            .await;
        dynamo::applied(update).map(|_| ())
    }

    async fn mark_read(&self, id: &NotificationId, at: Timestamp) -> Result<bool, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::notification_key(id)))
            .update_expression("SET readAt = if_not_exists(readAt, :at)")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":at", dynamo::value(&at)?)
            .send()
            .await;
        dynamo::applied(update)
    }

    async fn erase_recipient(&self, id: &NotificationId, masked: &str) -> Result<(), StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::notification_key(id)))
            .update_expression("SET recipient = :r REMOVE deliveries, userId, GSI6PK")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(
                ":r",
                dynamo::value(&Recipient::Erased(masked.to_owned()))?,
            )
            .send()
            .await;
        dynamo::applied(update).map(|_| ())
    }
}
