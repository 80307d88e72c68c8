//! What a webhook notification is addressed to: a registered endpoint (by name) or a URL.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The longest URL accepted: what browsers and most servers handle.
pub const MAX_URL_CHARS: usize = 2048;

/// An absolute `http(s)` URL with a host and no user info, as a webhook target. Whether it may
/// be called (https only, public addresses) is the network guard's decision
/// ([`crate::webhook::UrlPolicy`]), made at the API and again at send time. `Debug` shows
/// only its origin: paths and queries often carry tokens.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WebhookUrl(String);

validated_string!(WebhookUrl, String);

impl WebhookUrl {
    pub fn parse(raw: &str) -> Result<Self, String> {
        if raw.len() > MAX_URL_CHARS {
            return Err(format!("must be at most {MAX_URL_CHARS} characters"));
        }
        let url = url::Url::parse(raw).map_err(|e| format!("is not an absolute URL: {e}"))?;
        if !matches!(url.scheme(), "https" | "http") {
            return Err("must be an https URL".into());
        }
        if url.host().is_none() {
            return Err("must name a host".into());
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err("must not carry a user name or password (use a custom header)".into());
        }
        if url.fragment().is_some() {
            return Err("must not have a #fragment (it is never sent)".into());
        }
        Ok(Self(url.as_str().to_owned()))
    }

    pub fn url(&self) -> url::Url {
        // Parsed when built: parsing again cannot fail.
        url::Url::parse(&self.0).unwrap_or_else(|_| unreachable!("a parsed URL"))
    }

    /// `https://hooks.example.com/…`: the origin only.
    pub fn masked(&self) -> String {
        let url = self.url();
        format!("{}…", url.origin().ascii_serialization() + "/")
    }
}

impl fmt::Debug for WebhookUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "WebhookUrl({})", self.masked())
    }
}

/// A tenant's name for one of its webhook endpoints (`orders`, `crm.prod`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EndpointName(String);

validated_string!(EndpointName, String);

impl EndpointName {
    pub const MAX_CHARS: usize = 64;

    pub fn parse(raw: &str) -> Result<Self, String> {
        let ok = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
        if raw.is_empty() || raw.len() > Self::MAX_CHARS || !raw.chars().all(ok) {
            return Err(format!(
                "must be 1 to {} characters among A-Z a-z 0-9 _ - .",
                Self::MAX_CHARS
            ));
        }
        Ok(Self(raw.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_must_be_absolute_http_with_a_host_and_no_credentials() {
        for ok in [
            "https://hooks.example.com/orders?key=1",
            "http://127.0.0.1:4590/hooks",
        ] {
            assert!(WebhookUrl::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "hooks.example.com/x",
            "ftp://example.com/",
            "https://user:pw@example.com/",
            "https://example.com/#frag",
            "file:///etc/passwd",
        ] {
            assert!(WebhookUrl::parse(bad).is_err(), "{bad}");
        }
        let long = format!("https://example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert!(WebhookUrl::parse(&long).is_err());
    }

    #[test]
    fn a_url_is_logged_by_its_origin() {
        let u = WebhookUrl::parse("https://hooks.example.com:8443/t/secret-token?x=1").unwrap();
        assert_eq!(u.masked(), "https://hooks.example.com:8443/…");
        assert!(!format!("{u:?}").contains("secret-token"));
    }

    #[test]
    fn endpoint_names_are_key_safe() {
        assert!(EndpointName::parse("crm.prod-1_a").is_ok());
        for bad in ["", "a b", "a#b", "é", &"a".repeat(65)] {
            assert!(EndpointName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
