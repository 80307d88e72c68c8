//! Points in time as the service stores and shows them.

use std::{fmt, str::FromStr, sync::LazyLock, time::Duration};

use jiff::tz::{TimeZone, TimeZoneDatabase};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The IANA time zones, bundled in the binary (Lambda's image has no `/usr/share/zoneinfo`
/// to rely on, and a bundled copy answers the same everywhere).
static TIME_ZONES: LazyLock<TimeZoneDatabase> = LazyLock::new(TimeZoneDatabase::bundled);

/// The IANA time zone named `name` (`Europe/Paris`), if there is one.
pub fn zone(name: &str) -> Option<TimeZone> {
    TIME_ZONES.get(name).ok()
}

/// A UTC instant with millisecond precision. It always renders with exactly three fractional
/// digits (`2026-11-21T09:30:00.000Z`), so the strings sort in time order wherever they are
/// compared as text (DynamoDB sort keys, for one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(jiff::Timestamp);

impl Timestamp {
    pub fn from_millis(millis: i64) -> Option<Self> {
        jiff::Timestamp::from_millisecond(millis).ok().map(Self)
    }

    pub fn from_jiff(ts: jiff::Timestamp) -> Self {
        // Truncate rather than round: a stored time never lies in the future of the real one.
        Self::from_millis(ts.as_millisecond()).unwrap_or(Self(ts))
    }

    pub fn as_millis(self) -> i64 {
        self.0.as_millisecond()
    }

    pub fn as_seconds(self) -> i64 {
        self.0.as_second()
    }

    pub fn as_jiff(self) -> jiff::Timestamp {
        self.0
    }

    /// Saturates at the largest representable instant instead of failing.
    pub fn plus(self, d: Duration) -> Self {
        let millis = i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
        Self::from_millis(self.as_millis().saturating_add(millis))
            .unwrap_or(Self(jiff::Timestamp::MAX))
    }

    /// How long from `self` until `later`, zero if `later` is not after `self`.
    pub fn until(self, later: Timestamp) -> Duration {
        Duration::from_millis(u64::try_from(later.as_millis() - self.as_millis()).unwrap_or(0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:.3}", self.0)
    }
}

impl FromStr for Timestamp {
    type Err = jiff::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse::<jiff::Timestamp>().map(Self::from_jiff)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_with_fixed_millisecond_precision() {
        let t = Timestamp::from_millis(1_700_000_000_000).unwrap();
        assert_eq!(t.to_string(), "2023-11-14T22:13:20.000Z");
        let t = Timestamp::from_millis(1_700_000_000_120).unwrap();
        assert_eq!(t.to_string(), "2023-11-14T22:13:20.120Z");
    }

    #[test]
    fn text_order_is_time_order() {
        let a = Timestamp::from_millis(1_700_000_000_999).unwrap();
        let b = Timestamp::from_millis(1_700_000_001_000).unwrap();
        assert!(a.to_string() < b.to_string());
    }

    #[test]
    fn parses_what_it_prints_and_truncates_extra_precision() {
        let t: Timestamp = "2026-01-02T03:04:05.678999Z".parse().unwrap();
        assert_eq!(t.to_string(), "2026-01-02T03:04:05.678Z");
        assert_eq!(t.to_string().parse::<Timestamp>().unwrap(), t);
    }

    #[test]
    fn durations_between_instants() {
        let t = Timestamp::from_millis(10_000).unwrap();
        let later = t.plus(Duration::from_secs(90));
        assert_eq!(t.until(later), Duration::from_secs(90));
        assert_eq!(later.until(t), Duration::ZERO);
    }
}
