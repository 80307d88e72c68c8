//! The network guard of webhook deliveries (server-side request forgery): a tenant names the
//! URL, so the service must never be made to call its own network, the instance metadata
//! service, or anything else that is not public.
//!
//! - At the API, [`check_static`] refuses what is refused whatever DNS says: a scheme other
//!   than https (http only to loopback, and only with the local-development setting), and
//!   host names that are IP literals in a refused range or `localhost`.
//! - At send time, [`GuardedResolver`] is the HTTP client's DNS resolver: it resolves the
//!   host, refuses the whole name if *any* address is in a refused range (a name that mixes
//!   public and private answers is an attack, not a misconfiguration), and hands the client
//!   only the addresses it checked, so the connection goes to an address that was checked —
//!   no second lookup an attacker's DNS could answer differently.

use std::{
    future::Future,
    net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr},
    pin::Pin,
    sync::Arc,
};

use crate::domain::WebhookUrl;

/// Which targets a deployment may call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UrlPolicy {
    /// Production: https only, public unicast addresses only.
    PublicHttps,
    /// `NOTIFY_WEBHOOK_ALLOW_LOOPBACK=true`: also loopback, over http or https. Every other
    /// refused range stays refused.
    AllowLoopback,
    /// The local stack (`NOTIFY_WEBHOOK_ALLOW_LOOPBACK=only`, set by `make dev`): loopback
    /// only. A URL is accepted as under `AllowLoopback`, but a delivery connects to loopback
    /// alone and looks up no other name, so nothing the stack is asked to send (by hand or
    /// by the contract fuzzer) leaves the machine.
    LoopbackOnly,
}

impl UrlPolicy {
    fn allows_loopback(self) -> bool {
        matches!(self, Self::AllowLoopback | Self::LoopbackOnly)
    }
}

/// Why a target is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Refused(pub String);

/// The range `ip` belongs to when it is not a public unicast address, or `None`.
pub fn refused_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) => "the instance metadata address",
        (0, _, _) => "\"this network\" (0.0.0.0/8)",
        (10, _, _) => "a private range (10.0.0.0/8)",
        (100, 64..=127, _) => "carrier-grade NAT (100.64.0.0/10)",
        (127, _, _) => "loopback (127.0.0.0/8)",
        (169, 254, _) => "link-local (169.254.0.0/16)",
        (172, 16..=31, _) => "a private range (172.16.0.0/12)",
        (192, 0, 0) => "IETF protocol assignments (192.0.0.0/24)",
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => "documentation (TEST-NET)",
        (192, 88, 99) => "6to4 relay anycast (192.88.99.0/24)",
        (192, 168, _) => "a private range (192.168.0.0/16)",
        (198, 18..=19, _) => "benchmarking (198.18.0.0/15)",
        (224..=239, _, _) => "multicast (224.0.0.0/4)",
        (240..=255, _, _) => "reserved or broadcast (240.0.0.0/4)",
        _ => return None,
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    // IPv4 inside IPv6 is judged as the IPv4 address it carries.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    let s = ip.segments();
    Some(match s {
        _ if ip.is_unspecified() => "the unspecified address (::)",
        _ if ip.is_loopback() => "loopback (::1)",
        [0, 0, 0, 0, 0, 0, _, _] => "an IPv4-compatible address (::/96)",
        [0x64, 0xff9b, ..] => "NAT64 (64:ff9b::/96)",
        [0x100, 0, 0, 0, ..] => "discard-only (100::/64)",
        [0x2001, 0..=0x1ff, ..] => "IETF protocol assignments (2001::/23)",
        [0x2001, 0xdb8, ..] => "documentation (2001:db8::/32)",
        [0x2002, ..] => "6to4 (2002::/16)",
        [x, ..] if x & 0xfe00 == 0xfc00 => "unique local (fc00::/7)",
        [x, ..] if x & 0xffc0 == 0xfe80 => "link-local (fe80::/10)",
        [x, ..] if x & 0xffc0 == 0xfec0 => "site-local (fec0::/10)",
        [x, ..] if x & 0xff00 == 0xff00 => "multicast (ff00::/8)",
        _ => return None,
    })
}

/// Whether the policy lets a delivery connect to `ip`.
pub fn check_ip(ip: IpAddr, policy: UrlPolicy) -> Result<(), Refused> {
    let loopback = match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    };
    if loopback && policy.allows_loopback() {
        return Ok(());
    }
    if policy == UrlPolicy::LoopbackOnly {
        return Err(Refused(format!(
            "is {ip}: the local stack sends webhooks to loopback only"
        )));
    }
    match refused_range(ip) {
        Some(range) => Err(Refused(format!(
            "resolves to {ip}, in {range}: webhooks go to public addresses only"
        ))),
        None => Ok(()),
    }
}

fn is_localhost(name: &str) -> bool {
    let d = name.trim_end_matches('.').to_ascii_lowercase();
    d == "localhost" || d.ends_with(".localhost")
}

fn is_loopback_host(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(v4)) => v4.is_loopback(),
        Some(url::Host::Ipv6(v6)) => v6.is_loopback(),
        Some(url::Host::Domain(d)) => is_localhost(d),
        None => false,
    }
}

/// What can be refused without DNS: the scheme, IP literals, `localhost`.
pub fn check_static(target: &WebhookUrl, policy: UrlPolicy) -> Result<(), Refused> {
    let url = target.url();
    let loopback = is_loopback_host(&url);
    match (url.scheme(), policy) {
        ("https", _) => {}
        ("http", policy) if loopback && policy.allows_loopback() => {}
        _ => {
            return Err(Refused(
                "must be an https URL (http is allowed only to loopback, in local development)"
                    .into(),
            ));
        }
    }
    // Accepted as loopback-or-public; where it may connect is the resolver's to say.
    let policy = match policy {
        UrlPolicy::LoopbackOnly => UrlPolicy::AllowLoopback,
        other => other,
    };
    match url.host() {
        Some(url::Host::Ipv4(v4)) => check_ip(IpAddr::V4(v4), policy),
        Some(url::Host::Ipv6(v6)) => check_ip(IpAddr::V6(v6), policy),
        Some(url::Host::Domain(_)) if loopback && policy == UrlPolicy::PublicHttps => Err(Refused(
            "names loopback (localhost): webhooks go to public addresses only".into(),
        )),
        _ => Ok(()),
    }
}

/// What a delivery may connect to: [`check_static`], and under `LoopbackOnly` an IP literal
/// must be loopback (the HTTP client connects to a literal without asking the resolver).
pub fn check_delivery(target: &WebhookUrl, policy: UrlPolicy) -> Result<(), Refused> {
    check_static(target, policy)?;
    let url = target.url();
    match (policy, url.host()) {
        (UrlPolicy::LoopbackOnly, Some(url::Host::Ipv4(v4))) => check_ip(IpAddr::V4(v4), policy),
        (UrlPolicy::LoopbackOnly, Some(url::Host::Ipv6(v6))) => check_ip(IpAddr::V6(v6), policy),
        _ => Ok(()),
    }
}

/// A DNS lookup, injectable so tests can answer with any address without any network.
pub trait Lookup: Send + Sync + 'static {
    fn lookup(
        &self,
        host: String,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>>;
}

/// The system resolver (what the HTTP client would use on its own).
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn lookup(
        &self,
        host: String,
    ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .map(|a| a.ip())
                .collect())
        })
    }
}

/// The HTTP client's resolver: looks the name up, then refuses it unless every address is
/// allowed. A refusal reaches the client as a connect error whose source is [`Refused`].
pub struct GuardedResolver {
    lookup: Arc<dyn Lookup>,
    policy: UrlPolicy,
}

impl GuardedResolver {
    pub fn new(lookup: Arc<dyn Lookup>, policy: UrlPolicy) -> Self {
        Self { lookup, policy }
    }

    /// The addresses the client may connect to for `host`.
    pub async fn checked(
        &self,
        host: &str,
    ) -> Result<Vec<IpAddr>, Box<dyn std::error::Error + Send + Sync>> {
        if self.policy == UrlPolicy::LoopbackOnly && !is_localhost(host) {
            return Err(Box::new(Refused(format!(
                "{host} is not loopback: the local stack sends webhooks to loopback only (it was not looked up)"
            ))));
        }
        let addrs = self.lookup.lookup(host.to_owned()).await?;
        if addrs.is_empty() {
            return Err(Box::new(Refused(format!("{host} has no address"))));
        }
        for ip in &addrs {
            check_ip(*ip, self.policy)
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
        }
        Ok(addrs)
    }
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let lookup = self.lookup.clone();
        let policy = self.policy;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let guard = GuardedResolver { lookup, policy };
            let addrs = guard.checked(&host).await?;
            // Port 0: the client puts the URL's port in.
            let addrs: reqwest::dns::Addrs =
                Box::new(addrs.into_iter().map(|ip| SocketAddr::new(ip, 0)));
            Ok(addrs)
        })
    }
}

/// The guard's refusal inside an HTTP client error, if that is what the error is.
pub fn refusal_in<'a>(error: &'a (dyn std::error::Error + 'static)) -> Option<&'a Refused> {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = current {
        if let Some(r) = e.downcast_ref::<Refused>() {
            return Some(r);
        }
        current = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_non_public_range_is_refused_v4_and_v6() {
        for refused in [
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "127.0.0.1",
            "127.9.9.9",
            "169.254.169.254",
            "169.254.10.10",
            "100.64.0.1",
            "100.127.255.254",
            "0.0.0.0",
            "224.0.0.1",
            "239.255.255.250",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:127.0.0.1",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "2001:db8::1",
        ] {
            assert!(
                refused_range(ip(refused)).is_some(),
                "{refused} must be refused"
            );
        }
        for public in [
            "93.184.216.34",
            "8.8.8.8",
            "172.32.0.1",
            "100.128.0.1",
            "2606:4700::1111",
            "::ffff:93.184.216.34",
        ] {
            assert_eq!(refused_range(ip(public)), None, "{public} is public");
        }
    }

    #[test]
    fn local_development_allows_loopback_and_nothing_else() {
        for ok in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert!(check_ip(ip(ok), UrlPolicy::AllowLoopback).is_ok(), "{ok}");
            assert!(check_ip(ip(ok), UrlPolicy::PublicHttps).is_err(), "{ok}");
        }
        for refused in ["10.0.0.1", "169.254.169.254", "fd00::1"] {
            assert!(
                check_ip(ip(refused), UrlPolicy::AllowLoopback).is_err(),
                "{refused}"
            );
        }
    }

    #[test]
    fn the_api_refuses_plain_http_ip_literals_and_localhost_statically() {
        let url = |s: &str| WebhookUrl::parse(s).unwrap();
        let prod = UrlPolicy::PublicHttps;
        assert!(check_static(&url("https://hooks.example.com/x"), prod).is_ok());
        for refused in [
            "http://hooks.example.com/x",
            "https://10.0.0.1/x",
            "https://169.254.169.254/latest/meta-data",
            "https://[::ffff:a9fe:a9fe]/",
            "https://[fd00:ec2::254]/",
            "https://localhost/x",
            "https://127.0.0.1:8443/",
        ] {
            assert!(check_static(&url(refused), prod).is_err(), "{refused}");
        }
        let dev = UrlPolicy::AllowLoopback;
        assert!(check_static(&url("http://127.0.0.1:4590/x"), dev).is_ok());
        assert!(check_static(&url("http://localhost:4590/x"), dev).is_ok());
        assert!(check_static(&url("http://hooks.example.com/x"), dev).is_err());
        assert!(check_static(&url("https://192.168.0.10/x"), dev).is_err());
    }

    /// Answers every name with fixed addresses and counts the lookups; nothing touches the
    /// network.
    struct Stub(Vec<IpAddr>, Arc<AtomicUsize>);

    impl Lookup for Stub {
        fn lookup(
            &self,
            _host: String,
        ) -> Pin<Box<dyn Future<Output = std::io::Result<Vec<IpAddr>>> + Send>> {
            self.1.fetch_add(1, Ordering::SeqCst);
            let addrs = self.0.clone();
            Box::pin(async move { Ok(addrs) })
        }
    }

    #[tokio::test]
    async fn a_name_resolving_to_a_private_or_metadata_address_is_refused_after_dns() {
        for answer in [
            vec![ip("10.0.0.5")],
            vec![ip("169.254.169.254")],
            vec![ip("93.184.216.34"), ip("192.168.0.1")],
            vec![ip("fd00:ec2::254")],
        ] {
            let lookups = Arc::new(AtomicUsize::new(0));
            let guard = GuardedResolver::new(
                Arc::new(Stub(answer.clone(), lookups.clone())),
                UrlPolicy::PublicHttps,
            );
            let err = guard.checked("hooks.example.com").await.unwrap_err();
            assert!(refusal_in(err.as_ref()).is_some(), "{answer:?}: {err}");
            assert_eq!(lookups.load(Ordering::SeqCst), 1);
        }
        let guard = GuardedResolver::new(
            Arc::new(Stub(
                vec![ip("93.184.216.34")],
                Arc::new(AtomicUsize::new(0)),
            )),
            UrlPolicy::PublicHttps,
        );
        assert_eq!(
            guard.checked("hooks.example.com").await.unwrap(),
            [ip("93.184.216.34")]
        );
    }

    #[tokio::test]
    async fn the_local_stack_looks_up_no_name_but_localhost_and_connects_to_loopback_only() {
        let lookups = Arc::new(AtomicUsize::new(0));
        let guard = GuardedResolver::new(
            Arc::new(Stub(vec![ip("127.0.0.1")], lookups.clone())),
            UrlPolicy::LoopbackOnly,
        );
        let err = guard.checked("hooks.example.com").await.unwrap_err();
        assert!(refusal_in(err.as_ref()).is_some(), "{err}");
        assert_eq!(lookups.load(Ordering::SeqCst), 0, "nothing was looked up");
        assert_eq!(guard.checked("localhost").await.unwrap(), [ip("127.0.0.1")]);
        assert_eq!(lookups.load(Ordering::SeqCst), 1);

        let url = |s: &str| WebhookUrl::parse(s).unwrap();
        let local = UrlPolicy::LoopbackOnly;
        // The API accepts what it would with loopback allowed...
        assert!(check_static(&url("https://hooks.example.com/x"), local).is_ok());
        assert!(check_static(&url("https://93.184.216.34/x"), local).is_ok());
        assert!(check_static(&url("https://10.0.0.1/x"), local).is_err());
        // ...and a delivery connects to loopback alone.
        assert!(check_delivery(&url("https://93.184.216.34/x"), local).is_err());
        assert!(check_delivery(&url("http://127.0.0.1:4590/x"), local).is_ok());
        assert!(check_delivery(&url("http://[::1]:4590/x"), local).is_ok());
        assert!(check_delivery(&url("https://93.184.216.34/x"), UrlPolicy::PublicHttps).is_ok());
    }
}
