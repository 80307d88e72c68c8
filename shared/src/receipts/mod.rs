//! Receipts: what a provider reports about a message after accepting it (delivered, bounced,
//! complained, delayed), and how each changes the notification and the suppression list.
//!
//! The rules every channel's receipts follow:
//! - only a `sent` record takes a new status, so a final status is never overwritten and a
//!   repeated report changes nothing; an event that leaves the status as it is is recorded
//!   once per key ([`Annotation`]);
//! - a report about a notification still `queued` or `sending` (the worker has not recorded
//!   `sent` yet) is [`Applied::NotYet`]: the caller retries it later;
//! - a report about no notification of ours, or another tenant's, is [`Applied::Foreign`]:
//!   counted and dropped, never an error that would poison the queue.

pub mod ses;
pub mod sns_sms;

use std::time::Duration;

use tracing::info;

use crate::{
    domain::{
        Address, Failure, Notification, NotificationId, Status, SuppressedAddress, Suppression,
        SuppressionReason, TenantId, time::Timestamp,
    },
    store::{
        Annotation, NotificationStore, StoreError, SuppressionList, Transition, TransitionOutcome,
    },
};

/// The failure codes receipts record (`error.code`, and the reason in the history).
pub const BOUNCED: &str = "bounced";
/// An SMS the carrier did not deliver.
pub const UNDELIVERED: &str = "undelivered";
pub const SOFT_BOUNCE: &str = "soft_bounce";
pub const REJECTED: &str = "rejected";
pub const RENDERING_FAILURE: &str = "rendering_failure";
/// The provider's own (account-level) suppression list refused the address.
pub const PROVIDER_SUPPRESSED: &str = "provider_suppression_list";

/// What the provider reported.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Delivered,
    /// It will not be delivered: `permanent` (the address does not exist: suppress it) or
    /// not (the provider gave up retrying). `provider_list`: the provider's own suppression
    /// list refused it.
    Bounced {
        permanent: bool,
        provider_list: bool,
        kind: String,
        diagnostic: Option<String>,
    },
    Complained {
        kind: Option<String>,
    },
    /// The provider refused it after accepting the request (a virus, say).
    Rejected {
        reason: String,
    },
    /// An SMS the carrier did not deliver, and why.
    Undelivered {
        reason: String,
    },
    RenderingFailed {
        message: String,
    },
    Delayed {
        kind: String,
    },
    /// Engagement, when the tenant turned on SES's open and click tracking.
    Opened,
    Clicked {
        link: Option<String>,
    },
}

impl Event {
    /// The name counted in metrics and logs.
    pub fn name(&self) -> &'static str {
        match self {
            Event::Delivered => "delivered",
            Event::Bounced { .. } => "bounced",
            Event::Complained { .. } => "complained",
            Event::Rejected { .. } => "rejected",
            Event::Undelivered { .. } => "undelivered",
            Event::RenderingFailed { .. } => "rendering_failure",
            Event::Delayed { .. } => "delayed",
            Event::Opened => "opened",
            Event::Clicked { .. } => "clicked",
        }
    }
}

/// One report about one notification.
#[derive(Debug, Clone, PartialEq)]
pub struct Report {
    pub notification: NotificationId,
    /// The tenant the provider carried with the message, when it carries one.
    pub tenant: Option<TenantId>,
    /// The recipients the event concerns (a bounce names the addresses that bounced).
    pub recipients: Vec<Address>,
    pub at: Timestamp,
    pub event: Event,
    /// Tells repeats of one event apart from a second event of the same kind.
    pub key: String,
}

/// What a report did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The record changed.
    Recorded,
    /// Nothing to change: the record already says it, or has a final status.
    Duplicate,
    /// The worker has not recorded the send yet: retry the report later.
    NotYet,
    /// Not one of ours (or not this tenant's): drop it.
    Foreign,
}

impl Applied {
    pub fn name(self) -> &'static str {
        match self {
            Applied::Recorded => "recorded",
            Applied::Duplicate => "duplicate",
            Applied::NotYet => "not_yet",
            Applied::Foreign => "foreign",
        }
    }
}

/// Why a message body is not a report of ours.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreadable {
    #[error("not JSON, or not a provider event: {0}")]
    Malformed(String),
    #[error("an event of a kind the service does not record: {0}")]
    Ignored(String),
    #[error("an SES event without the notification_id tag: not sent by this service")]
    Untagged,
}

/// What a body said: a report naming its notification (SES), or an SMS status naming only
/// SNS's message id.
#[derive(Debug, Clone, PartialEq)]
pub enum Reading {
    Report(Report),
    Sms(sns_sms::SmsStatus),
}

impl Reading {
    /// What to name it by in logs.
    pub fn subject(&self) -> String {
        match self {
            Reading::Report(r) => format!("notification {} ({})", r.notification, r.event.name()),
            Reading::Sms(s) => format!("SNS message {}", s.message_id),
        }
    }
}

/// Reads an events-queue message body (SES's event in SNS's envelope, or raw; or an SMS
/// delivery status record).
pub fn read(body: &str) -> Result<Reading, Unreadable> {
    let value: serde_json::Value =
        serde_json::from_str(body).map_err(|e| Unreadable::Malformed(e.to_string()))?;
    if sns_sms::is_status_record(&value) {
        return sns_sms::parse_value(value).map(Reading::Sms);
    }
    ses::parse_value(value).map(Reading::Report)
}

/// An SMS status whose message id the index does not know is taken as not indexed yet
/// (the index is eventually consistent, and the worker records `sent` just after SNS
/// answers) for this long after its time; after that, as another sender's.
pub const UNINDEXED_GRACE: Duration = Duration::from_secs(15 * 60);

/// Applies what a body said.
pub async fn apply_reading(
    store: &dyn NotificationStore,
    list: &dyn SuppressionList,
    reading: &Reading,
    now: Timestamp,
) -> Result<Applied, StoreError> {
    match reading {
        Reading::Report(report) => apply(store, list, report, now).await,
        Reading::Sms(status) => {
            let provider = crate::domain::Channel::Sms.provider();
            let Some(id) = store
                .find_by_provider_message(provider, &status.message_id)
                .await?
            else {
                return Ok(if status.at.until(now) < UNINDEXED_GRACE {
                    Applied::NotYet
                } else {
                    Applied::Foreign
                });
            };
            let event = if status.delivered {
                Event::Delivered
            } else {
                Event::Undelivered {
                    reason: status.provider_response.clone(),
                }
            };
            let report = Report {
                key: format!("sns:{}:{}", status.message_id, event.name()),
                notification: id,
                tenant: None,
                recipients: status
                    .destination
                    .as_deref()
                    .and_then(|d| crate::domain::PhoneNumber::parse(d).ok())
                    .map(Address::Phone)
                    .into_iter()
                    .collect(),
                at: status.at,
                event,
            };
            apply(store, list, &report, now).await
        }
    }
}

/// Applies a report to its notification and to the tenant's suppression list.
pub async fn apply(
    store: &dyn NotificationStore,
    list: &dyn SuppressionList,
    report: &Report,
    now: Timestamp,
) -> Result<Applied, StoreError> {
    let Some(n) = store.get(&report.notification, now).await? else {
        return Ok(Applied::Foreign);
    };
    if report.tenant.as_ref().is_some_and(|t| t != &n.tenant) {
        return Ok(Applied::Foreign);
    }
    if !n.status.is_settled() {
        return Ok(Applied::NotYet);
    }
    // The list first: a bounce must suppress the address even when the record already took
    // a final status from an earlier event.
    if let Some(reason) = suppression_reason(&report.event) {
        suppress(list, &n, report, reason, now).await?;
    }
    let recorded = match status_change(&report.event) {
        Some((to, failure)) => {
            record(store, &n, Transition::reported(to, failure, report.at)).await?
        }
        None => annotate(store, n, report).await?,
    };
    Ok(if recorded {
        Applied::Recorded
    } else {
        Applied::Duplicate
    })
}

fn suppression_reason(event: &Event) -> Option<SuppressionReason> {
    match event {
        Event::Bounced {
            permanent: true, ..
        } => Some(SuppressionReason::Bounced),
        Event::Complained { .. } => Some(SuppressionReason::Complained),
        Event::Bounced { .. }
        | Event::Delivered
        | Event::Rejected { .. }
        | Event::Undelivered { .. }
        | Event::RenderingFailed { .. }
        | Event::Delayed { .. }
        | Event::Opened
        | Event::Clicked { .. } => None,
    }
}

/// The status an event moves a `sent` notification to, and why; `None` for the events that
/// leave it as it is.
fn status_change(event: &Event) -> Option<(Status, Option<Failure>)> {
    let failure = |code: &str, message: String| {
        Some(Failure {
            code: code.into(),
            message,
        })
    };
    match event {
        Event::Delivered => Some((Status::Delivered, None)),
        Event::Bounced {
            provider_list: true,
            ..
        } => Some((
            Status::Suppressed,
            failure(
                PROVIDER_SUPPRESSED,
                "the provider's account-level suppression list holds the address".into(),
            ),
        )),
        Event::Bounced {
            permanent,
            kind,
            diagnostic,
            ..
        } => {
            let code = if *permanent { BOUNCED } else { SOFT_BOUNCE };
            let message = match diagnostic {
                Some(d) => format!("{kind}: {d}"),
                None => kind.clone(),
            };
            Some((Status::Failed, failure(code, message)))
        }
        Event::Rejected { reason } => Some((Status::Failed, failure(REJECTED, reason.clone()))),
        Event::Undelivered { reason } => {
            Some((Status::Failed, failure(UNDELIVERED, reason.clone())))
        }
        Event::RenderingFailed { message } => {
            Some((Status::Failed, failure(RENDERING_FAILURE, message.clone())))
        }
        Event::Complained { .. }
        | Event::Delayed { .. }
        | Event::Opened
        | Event::Clicked { .. } => None,
    }
}

async fn record(
    store: &dyn NotificationStore,
    n: &Notification,
    change: Transition,
) -> Result<bool, StoreError> {
    match store.transition(&n.id, &change).await? {
        TransitionOutcome::Applied(after) => {
            info!(notification_id = %n.id, status = %after.status, "receipt recorded");
            Ok(true)
        }
        TransitionOutcome::Refused(_) => Ok(false),
    }
}

/// Records an event that leaves the status as it is, retrying once if the status moved on
/// between the read and the write (a delivery recorded meanwhile).
async fn annotate(
    store: &dyn NotificationStore,
    mut n: Notification,
    report: &Report,
) -> Result<bool, StoreError> {
    for _ in 0..2 {
        if n.reports.contains(&report.key) {
            return Ok(false);
        }
        let note = Annotation {
            key: report.key.clone(),
            status: n.status,
            at: report.at,
            event: report.event.name().to_owned(),
            reason: match &report.event {
                Event::Complained { kind } => kind.clone(),
                Event::Delayed { kind } => Some(kind.clone()),
                Event::Clicked { link } => link.clone(),
                Event::Delivered
                | Event::Bounced { .. }
                | Event::Rejected { .. }
                | Event::Undelivered { .. }
                | Event::RenderingFailed { .. }
                | Event::Opened => None,
            },
            complaint: matches!(report.event, Event::Complained { .. }),
        };
        if store.annotate(&n.id, &note).await? {
            info!(notification_id = %n.id, event = report.event.name(), "receipt recorded");
            return Ok(true);
        }
        match store.get(&n.id, report.at).await? {
            Some(current) => n = current,
            None => return Ok(false),
        }
    }
    Ok(false)
}

async fn suppress(
    list: &dyn SuppressionList,
    n: &Notification,
    report: &Report,
    reason: SuppressionReason,
    now: Timestamp,
) -> Result<(), StoreError> {
    let diagnostic = match &report.event {
        Event::Bounced {
            kind, diagnostic, ..
        } => Some(match diagnostic {
            Some(d) => format!("{kind}: {d}"),
            None => kind.clone(),
        }),
        Event::Complained { kind } => kind.clone(),
        Event::Delivered
        | Event::Rejected { .. }
        | Event::Undelivered { .. }
        | Event::RenderingFailed { .. }
        | Event::Delayed { .. }
        | Event::Opened
        | Event::Clicked { .. } => None,
    };
    for address in report.recipients.iter().filter_map(SuppressedAddress::of) {
        let entry = Suppression {
            tenant: n.tenant.clone(),
            address,
            reason,
            created_at: now,
            notification_id: Some(n.id.clone()),
            detail: diagnostic.clone(),
        };
        if list.suppress(&entry, false).await? {
            info!(notification_id = %n.id, to = %entry.address.masked(), %reason, "address suppressed");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
