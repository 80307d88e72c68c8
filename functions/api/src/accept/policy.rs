//! The accept service's *recipient policy* step, for a request that names a `userId`: the
//! address from the user's profile, `user.*` and the profile's locale for its template, and
//! the user's preferences over the tenant's defaults:
//!
//! - declined (a channel, category or pair the user turned off): recorded `suppressed` with
//!   reason `preference`, never queued; the answer says so;
//! - inside the recipient's quiet hours: `scheduled` until they end (the scheduling path),
//!   unless its priority is high or its category required, or the tenant exempts the category;
//! - over the category's frequency cap: recorded `suppressed` with reason `frequency_cap`.
//!
//! The worker checks the preferences again just before sending, for changes in between.

use notify_shared::{
    domain::{
        Channel, Content, Notification, Profile, Recipient, Status, TenantId, UserId,
        preferences::{self, Declined, Defaults, Preferences},
        time::Timestamp,
    },
    store::StoreError,
    template::Locale,
    unsubscribe::{Subscriber, Unsubscribe, UnsubscribeKey},
    validate::FieldError,
};
use tracing::{error, info};

use super::request::NotificationRequest;
use crate::{ApiError, App, content::Source};

fn unavailable(e: StoreError) -> ApiError {
    error!(error = %e, "the user store is unavailable");
    ApiError::Unavailable("the user store is unavailable; nothing was accepted; retry".into())
}

/// What is known of the user a request names.
pub struct UserContext {
    pub user: UserId,
    pub defaults: Defaults,
    /// Why preferences decline the notification, if they do.
    pub declined: Option<Declined>,
    /// When the recipient's quiet hours end, if the notification would arrive inside them.
    pub deferred_until: Option<Timestamp>,
}

/// What the store keeps of a user and their tenant's defaults: read once per request (a
/// routed send decides every step on one read).
pub struct Known {
    user: UserId,
    profile: Option<Profile>,
    preferences: Preferences,
    defaults: Defaults,
}

pub async fn read(app: &App, tenant: &TenantId, user: &UserId) -> Result<Known, ApiError> {
    let (record, defaults) = tokio::join!(app.users.user(tenant, user), app.users.defaults(tenant));
    let record = record.map_err(unavailable)?;
    Ok(Known {
        user: user.clone(),
        profile: record.profile,
        preferences: record.preferences.unwrap_or_default(),
        defaults: defaults.map_err(unavailable)?.unwrap_or_default(),
    })
}

/// Reads the user a request names and decides on it ([`decide`]). `None` for a request to
/// an address.
pub async fn resolve(
    app: &App,
    tenant: &TenantId,
    request: &mut NotificationRequest,
    now: Timestamp,
) -> Result<Option<UserContext>, ApiError> {
    let Recipient::User(user) = &request.recipient else {
        return Ok(None);
    };
    let known = read(app, tenant, user).await?;
    decide(&known, request, now).map(Some)
}

/// Decides on a request to `known`'s user: fills in the address, the template's `user` and
/// locale, and the deferral.
pub fn decide(
    known: &Known,
    request: &mut NotificationRequest,
    now: Timestamp,
) -> Result<UserContext, ApiError> {
    let user = known.user.clone();
    let profile = known.profile.as_ref();
    let defaults = known.defaults.clone();

    request.recipient = address(&user, profile, request.channel)?;
    if let (Source::Template { data, locale, .. }, Some(p)) = (&mut request.content.source, profile)
    {
        // The request's own `user` (or locale) wins: it is the more specific.
        data.entry("user").or_insert_with(|| p.template_view());
        if locale.is_none() {
            *locale = p.locale.as_deref().and_then(|l| Locale::parse(l).ok());
        }
    }

    let preferences = &known.preferences;
    let category = request.common.category.as_deref();
    let declined = defaults
        .decide(preferences, request.channel, category)
        .err();
    let mut deferred_until = None;
    if declined.is_none()
        && defaults.quiet_hours_apply(request.common.priority, category)
        && let Some(quiet) = defaults.quiet_hours(preferences)
    {
        let zone = defaults.zone(profile.and_then(|p| p.time_zone.as_deref()));
        let arrives = request.common.scheduled_at.unwrap_or(now);
        deferred_until = quiet.ends_after(arrives, &zone);
        if let Some(until) = deferred_until {
            request.common.scheduled_at = Some(until);
        }
    }
    Ok(UserContext {
        user,
        defaults,
        declined,
        deferred_until,
    })
}

/// The address of `channel` in the profile: a `400` on `userId` when there is none.
fn address(
    user: &UserId,
    profile: Option<&Profile>,
    channel: Channel,
) -> Result<Recipient, ApiError> {
    let what = match channel {
        // Push goes to the user's devices, in-app to their inbox: neither needs a profile.
        Channel::Push | Channel::InApp => return Ok(Recipient::User(user.clone())),
        Channel::Sms => "phone number",
        Channel::Email => "email address",
        Channel::Webhook => "webhook",
        Channel::Chat => "chat target",
    };
    let Some(profile) = profile else {
        return Err(ApiError::Validation(vec![FieldError::new(
            "userId",
            "no_profile",
            format!(
                "user {} has no profile to take the {what} from (PUT /v1/users/{})",
                user.as_str(),
                user.as_str()
            ),
        )]));
    };
    profile.address(channel).ok_or_else(|| {
        ApiError::Validation(vec![FieldError::new(
            "userId",
            "no_address",
            format!("the profile of user {} has no {what}", user.as_str()),
        )])
    })
}

/// Applies the decision to the notification about to be recorded: the user it went to, and
/// `suppressed` when preferences decline it or its frequency cap is reached.
pub async fn apply(
    app: &App,
    tenant: &TenantId,
    n: &mut Notification,
    ctx: &UserContext,
    count_cap: bool,
) -> Result<(), ApiError> {
    n.user_id = Some(ctx.user.clone());
    if let Some(Declined(why)) = &ctx.declined {
        info!(notification_id = %n.id, "declined by the recipient's preferences");
        n.refuse(Status::Suppressed, preferences::PREFERENCE, why.clone());
        return Ok(());
    }
    if let Some(until) = ctx.deferred_until
        && let Some(first) = n.history.first_mut()
    {
        first.reason = Some(format!("{}: until {until}", preferences::QUIET_HOURS));
    }
    let category = n.category.as_deref();
    if let (true, Some(category), Some(cap)) = (count_cap, category, ctx.defaults.cap(category)) {
        let taken = app
            .users
            .take_cap_slot(tenant, &ctx.user, category, cap, &n.id, n.created_at)
            .await
            .map_err(unavailable)?;
        if !taken {
            let why = format!(
                "the recipient already had {} {category} notifications in {} hours",
                cap.limit, cap.window_hours
            );
            n.refuse(Status::Suppressed, preferences::FREQUENCY_CAP, why);
        }
    }
    Ok(())
}

/// What signs the one-click unsubscribe links of a request's emails.
pub struct Unsubscribing {
    key: UnsubscribeKey,
    required: std::collections::BTreeSet<String>,
    base: String,
}

/// The signer for `notifications` when any of them is an email in a category and the
/// request's public origin is known (`base`); `None` otherwise, without reading anything.
/// `defaults` when the caller has read them already.
pub async fn unsubscribing(
    app: &App,
    tenant: &TenantId,
    base: Option<&str>,
    notifications: &[Notification],
    defaults: Option<&Defaults>,
) -> Result<Option<Unsubscribing>, ApiError> {
    let wanted = notifications
        .iter()
        .any(|n| n.channel == Channel::Email && n.category.is_some());
    let Some(base) = base.filter(|_| wanted) else {
        return Ok(None);
    };
    let required = match defaults {
        Some(d) => d.required.clone(),
        None => {
            app.users
                .defaults(tenant)
                .await
                .map_err(unavailable)?
                .unwrap_or_default()
                .required
        }
    };
    let key = app.unsubscribe_key(tenant).await.map_err(unavailable)?;
    Ok(Some(Unsubscribing {
        key,
        required,
        base: base.to_owned(),
    }))
}

impl Unsubscribing {
    /// Gives an email in a category the recipient may leave its unsubscribe URL, bound to
    /// its user (or its address when the send named none) and category.
    pub fn link(&self, n: &mut Notification, now: Timestamp) {
        let Some(category) = n.category.clone() else {
            return;
        };
        if self.required.contains(&category) || n.status == Status::Suppressed {
            return;
        }
        let subscriber = match (&n.user_id, &n.recipient) {
            (Some(user), _) => Subscriber::User(user.clone()),
            (None, Recipient::Email(address)) => Subscriber::address(address),
            // Only an email to an address has someone to unsubscribe without a user.
            (
                None,
                Recipient::Phone(_)
                | Recipient::User(_)
                | Recipient::Device(_)
                | Recipient::Endpoint(_)
                | Recipient::Url(_)
                | Recipient::ChatTarget(_)
                | Recipient::Erased(_),
            ) => return,
        };
        let Content::Email(email) = &mut n.content else {
            return;
        };
        let token = Unsubscribe::new(n.tenant.clone(), subscriber, category, now).sign(&self.key);
        email.unsubscribe_url = Some(format!("{}/v1/unsubscribe/{token}", self.base));
    }
}
