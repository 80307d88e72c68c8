//! Routing across channels in one request: a parent (the route) with a child notification
//! per channel attempt. `all` sends on every channel the user has and allows; `first` tries
//! them in order and moves on when one is unavailable (at accept), fails or is suppressed
//! (the worker that settles it releases the next), and a step may wait (`after`) and be
//! dropped once the user has read an earlier one (`unless: read`).
//!
//! Every child exists from the start, so the route's fate is decided by conditional writes
//! on records that already exist (a release happens once, a cancel once), whatever order
//! events arrive in:
//! - the step that goes first is `queued`;
//! - a step with `after` is scheduled for then (the scheduling path);
//! - a step without `after` behind it is **held**: `scheduled` with only its expiry due,
//!   released when the step before it fails, cancelled when it succeeds.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{Channel, NotificationId, TenantId, UserId, time::Timestamp};

/// The most steps a route has (one per channel, give or take a repeat).
pub const MAX_STEPS: usize = 8;
/// The longest `after`: a day (escalation is for the short term).
pub const MAX_AFTER: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RouteMethod {
    All,
    First,
}

impl std::str::FromStr for RouteMethod {
    type Err = super::UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(RouteMethod::All),
            "first" => Ok(RouteMethod::First),
            other => Err(super::UnknownName {
                value: other.to_owned(),
                allowed: "all, first",
            }),
        }
    }
}

/// What became of a step when the route was accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteStep {
    pub channel: Channel,
    /// How long after the step before it started this one waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_seconds: Option<u64>,
    /// Dropped (cancelled) once the user read an earlier step.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unless_read: bool,
    /// Its notification, unless the step was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_id: Option<NotificationId>,
    /// Why it was skipped at accept (no address, no device, opted out).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
}

/// The parent of a routed send.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Route {
    pub id: NotificationId,
    pub tenant: TenantId,
    pub user_id: UserId,
    pub method: RouteMethod,
    pub steps: Vec<RouteStep>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cancelled_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
    /// Sent with a test key: seen only by test keys, as its children.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub test: bool,
}

/// What a child knows of its route: enough for the worker that settles it to move the route
/// on without reading the route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteLink {
    pub id: NotificationId,
    pub step: u32,
    /// Released when this child fails or is suppressed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<NotificationId>,
    /// Cancelled when this child is sent: the held steps that were only its fallbacks.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub on_success: Vec<NotificationId>,
}

/// How a child starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Now (or when quiet hours end).
    Now,
    /// At this time (an escalation step).
    At(Timestamp),
    /// Held until the step before fails.
    Held,
}

/// For `first`: how each available step starts, and its links, given which steps are
/// available (`Some(id)`: it has a child). Steps start in order: the first available now,
/// one with `after` that long after the one before it started (or would have), one without
/// held behind the one before it.
pub fn plan(
    method: RouteMethod,
    steps: &[RouteStep],
    route: &NotificationId,
    now: Timestamp,
) -> Vec<Option<(Start, RouteLink)>> {
    let ids: Vec<Option<NotificationId>> =
        steps.iter().map(|s| s.notification_id.clone()).collect();
    let available: Vec<usize> = (0..steps.len()).filter(|&i| ids[i].is_some()).collect();
    let mut out: Vec<Option<(Start, RouteLink)>> = vec![None; steps.len()];
    let mut started = now;
    for (k, &i) in available.iter().enumerate() {
        let start = match method {
            RouteMethod::All => Start::Now,
            RouteMethod::First if k == 0 => Start::Now,
            RouteMethod::First => match steps[i].after_seconds {
                Some(s) => {
                    started = started.plus(Duration::from_secs(s));
                    Start::At(started)
                }
                None => Start::Held,
            },
        };
        let (on_failure, on_success) = match method {
            RouteMethod::All => (None, Vec::new()),
            RouteMethod::First => {
                // Only a held step waits for this one to fail; an escalation has its own time.
                let next = available
                    .get(k + 1)
                    .filter(|&&j| steps[j].after_seconds.is_none())
                    .and_then(|&j| ids[j].clone());
                // The held steps right behind this one: its fallbacks only.
                let held: Vec<NotificationId> = available[k + 1..]
                    .iter()
                    .take_while(|&&j| steps[j].after_seconds.is_none())
                    .filter_map(|&j| ids[j].clone())
                    .collect();
                (next, held)
            }
        };
        out[i] = Some((
            start,
            RouteLink {
                id: route.clone(),
                step: i as u32,
                on_failure,
                on_success,
            },
        ));
    }
    out
}

/// `PT5M`, `PT1H30M`, `PT90S`, `P1D`: an ISO 8601 duration of days, hours, minutes and
/// seconds (whole numbers).
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let bad = || format!("`{raw}` is not an ISO 8601 duration like PT5M, PT1H30M or PT90S");
    let rest = raw.strip_prefix('P').ok_or_else(bad)?;
    let (days, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut seconds: u64 = 0;
    let mut any = false;
    let mut take = |part: &str, units: &[(char, u64)]| -> Result<(), String> {
        let mut number = String::new();
        let mut allowed = units.iter();
        for c in part.chars() {
            if c.is_ascii_digit() {
                number.push(c);
                continue;
            }
            let (_, scale) = allowed.find(|(u, _)| *u == c).ok_or_else(bad)?;
            let n: u64 = number.parse().map_err(|_| bad())?;
            seconds = seconds.saturating_add(n.saturating_mul(*scale));
            number.clear();
            any = true;
        }
        if number.is_empty() {
            Ok(())
        } else {
            Err(bad())
        }
    };
    take(days, &[('D', 86_400)])?;
    if let Some(t) = time {
        if t.is_empty() {
            return Err(bad());
        }
        take(t, &[('H', 3600), ('M', 60), ('S', 1)])?;
    }
    if !any {
        return Err(bad());
    }
    Ok(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_iso_8601_days_hours_minutes_seconds() {
        for (raw, secs) in [
            ("PT5M", 300),
            ("PT1H30M", 5400),
            ("PT90S", 90),
            ("P1D", 86_400),
            ("P1DT1S", 86_401),
        ] {
            assert_eq!(parse_duration(raw).unwrap().as_secs(), secs, "{raw}");
        }
        for bad in [
            "5M", "PT", "P", "PT5", "PT5X", "PTM", "PT1M1H", "P1H", "-PT5M", "PT5.5S",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    fn step(channel: Channel, after: Option<u64>, id: Option<&NotificationId>) -> RouteStep {
        RouteStep {
            channel,
            after_seconds: after,
            unless_read: after.is_some(),
            notification_id: id.cloned(),
            skipped: id.is_none().then(|| "no_device".into()),
        }
    }

    #[test]
    fn first_starts_the_first_available_step_and_holds_or_schedules_the_rest() {
        let route = NotificationId::generate();
        let [a, b, c, d] = [1, 2, 3, 4].map(|i| route.nth(i));
        let now = Timestamp::from_millis(0).unwrap();
        let steps = [
            step(Channel::Push, None, None),
            step(Channel::Sms, None, Some(&a)),
            step(Channel::Email, None, Some(&b)),
            step(Channel::Webhook, Some(300), Some(&c)),
            step(Channel::Email, None, Some(&d)),
        ];
        let plan = plan(RouteMethod::First, &steps, &route, now);
        assert!(plan[0].is_none(), "skipped");
        let (start, link) = plan[1].clone().unwrap();
        assert_eq!(start, Start::Now);
        assert_eq!(link.on_failure, Some(b.clone()));
        assert_eq!(
            link.on_success,
            vec![b.clone()],
            "the held email is only its fallback"
        );
        let (start, link) = plan[2].clone().unwrap();
        assert_eq!(start, Start::Held);
        assert_eq!(link.on_failure, None, "the escalation goes at its own time");
        assert!(
            link.on_success.is_empty(),
            "the escalation is not its fallback"
        );
        let (start, link) = plan[3].clone().unwrap();
        assert_eq!(start, Start::At(now.plus(Duration::from_secs(300))));
        assert_eq!(link.on_success, vec![d.clone()]);
        assert_eq!(link.on_failure, Some(d.clone()));
        assert_eq!(plan[4].clone().unwrap().0, Start::Held);
        assert_eq!(plan[4].clone().unwrap().1.on_failure, None, "the last step");

        let all = super::plan(RouteMethod::All, &steps, &route, now);
        assert!(
            all.iter()
                .flatten()
                .all(|(s, l)| *s == Start::Now && l.on_failure.is_none())
        );
    }
}
