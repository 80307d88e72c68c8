//! Webhooks: the Standard Webhooks signing scheme, a tenant's registered endpoints, and the
//! network guard that keeps deliveries off anything but public addresses.

mod endpoint;
mod guard;
mod secret;

pub use endpoint::{Disabled, Endpoint, MAX_HEADERS, check_header};
pub use guard::{
    GuardedResolver, Lookup, Refused, SystemLookup, UrlPolicy, check_delivery, check_ip,
    check_static, refusal_in, refused_range,
};
pub use secret::{
    PreviousSecret, SECRET_PREFIX, SigningSecrets, TIMESTAMP_TOLERANCE, VerifyError, WebhookSecret,
    verify,
};
