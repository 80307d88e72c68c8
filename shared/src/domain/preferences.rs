//! What a recipient agreed to receive, and when: their preferences over the tenant's
//! defaults, the categories nobody may opt out of, quiet hours in the recipient's time zone,
//! and how many notifications of a category a user gets in a window.
//!
//! A user's settings replace the tenant's key by key (a channel, a category), then a
//! notification goes only if its channel is allowed **and** its category allows the channel.
//! A required category goes whatever either says.

use std::collections::{BTreeMap, BTreeSet};

use jiff::tz::TimeZone;
use serde::{Deserialize, Serialize};

use super::{Channel, Priority, time::Timestamp};

/// Why a notification is suppressed by preferences, as recorded in its history.
pub const PREFERENCE: &str = "preference";
/// Why a notification over its category's frequency cap is suppressed.
pub const FREQUENCY_CAP: &str = "frequency_cap";
/// Why a notification waits (`scheduled`) until the recipient's quiet hours end.
pub const QUIET_HOURS: &str = "quiet_hours";

/// A category's setting: on or off for every channel, or per channel (a channel it does not
/// name is on).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum CategorySetting {
    All(bool),
    Channels(BTreeMap<Channel, bool>),
}

impl CategorySetting {
    fn allows(&self, channel: Channel) -> bool {
        match self {
            CategorySetting::All(on) => *on,
            CategorySetting::Channels(channels) => channels.get(&channel).copied().unwrap_or(true),
        }
    }
}

/// A user's preferences (`GET/PUT /v1/users/{userId}/preferences`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preferences {
    #[serde(default)]
    pub channels: BTreeMap<Channel, bool>,
    #[serde(default)]
    pub categories: BTreeMap<String, CategorySetting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
}

impl Preferences {
    /// Turns `category` off on `channel` (one-click unsubscribe), keeping the rest; a category
    /// the user never set starts from the tenant's default (`tenant`), which the user's own
    /// setting replaces whole.
    pub fn opt_out(&mut self, category: &str, channel: Channel, tenant: &Defaults) {
        let setting = self
            .categories
            .entry(category.to_owned())
            .or_insert_with(|| {
                tenant
                    .categories
                    .get(category)
                    .cloned()
                    .unwrap_or_else(|| CategorySetting::Channels(BTreeMap::new()))
            });
        match setting {
            CategorySetting::All(false) => {}
            CategorySetting::All(true) => {
                *setting = CategorySetting::Channels(BTreeMap::from([(channel, false)]));
            }
            CategorySetting::Channels(channels) => {
                channels.insert(channel, false);
            }
        }
    }
}

/// At most `limit` notifications of a category to a user in any `window_hours` hours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FrequencyCap {
    pub limit: u32,
    pub window_hours: u32,
}

impl FrequencyCap {
    pub const MAX_LIMIT: u32 = 1_000;
    /// 30 days.
    pub const MAX_WINDOW_HOURS: u32 = 720;

    pub fn window(self) -> std::time::Duration {
        std::time::Duration::from_secs(u64::from(self.window_hours) * 3600)
    }
}

/// A tenant's defaults (`GET/PUT /v1/preferences/defaults`): the preferences of a user who
/// has not said otherwise, and the rules no user can change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Defaults {
    #[serde(default)]
    pub channels: BTreeMap<Channel, bool>,
    #[serde(default)]
    pub categories: BTreeMap<String, CategorySetting>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_hours: Option<QuietHours>,
    /// Categories nobody can opt out of (security, one-time passwords).
    #[serde(default)]
    pub required: BTreeSet<String>,
    /// Where quiet hours are counted for a user whose profile has no time zone (UTC if none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    /// Per category, whether it goes during quiet hours (`true`) or waits (`false`), whatever
    /// its priority. A category not listed goes if it is required or its priority is high.
    #[serde(default)]
    pub quiet_hours_exempt: BTreeMap<String, bool>,
    #[serde(default)]
    pub frequency_caps: BTreeMap<String, FrequencyCap>,
}

/// Why preferences decline a notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Declined(pub String);

impl Defaults {
    pub fn is_required(&self, category: Option<&str>) -> bool {
        category.is_some_and(|c| self.required.contains(c))
    }

    /// Whether `user`'s preferences over these defaults let a notification of `category` go
    /// on `channel`.
    pub fn decide(
        &self,
        user: &Preferences,
        channel: Channel,
        category: Option<&str>,
    ) -> Result<(), Declined> {
        if self.is_required(category) {
            return Ok(());
        }
        if let Some(category) = category {
            let setting = user
                .categories
                .get(category)
                .or_else(|| self.categories.get(category));
            if setting.is_some_and(|s| !s.allows(channel)) {
                return Err(Declined(format!(
                    "the recipient does not receive {category} notifications by {channel}"
                )));
            }
        }
        let on = user
            .channels
            .get(&channel)
            .or_else(|| self.channels.get(&channel))
            .copied()
            .unwrap_or(true);
        if on {
            Ok(())
        } else {
            Err(Declined(format!(
                "the recipient does not receive notifications by {channel}"
            )))
        }
    }

    /// Whether quiet hours hold back a notification of `priority` and `category`.
    pub fn quiet_hours_apply(&self, priority: Priority, category: Option<&str>) -> bool {
        if let Some(exempt) = category.and_then(|c| self.quiet_hours_exempt.get(c)) {
            return !exempt;
        }
        !(priority == Priority::High || self.is_required(category))
    }

    /// The quiet hours of `user`: their own, else the tenant's.
    pub fn quiet_hours<'a>(&'a self, user: &'a Preferences) -> Option<&'a QuietHours> {
        user.quiet_hours.as_ref().or(self.quiet_hours.as_ref())
    }

    /// Where quiet hours are counted: the profile's time zone, else the tenant's, else UTC.
    pub fn zone(&self, profile: Option<&str>) -> TimeZone {
        profile
            .or(self.time_zone.as_deref())
            .and_then(super::time::zone)
            .unwrap_or(TimeZone::UTC)
    }

    pub fn cap(&self, category: Option<&str>) -> Option<FrequencyCap> {
        self.frequency_caps.get(category?).copied()
    }
}

/// A time of day, `HH:MM` (24-hour).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ClockTime {
    hour: i8,
    minute: i8,
}

impl ClockTime {
    pub fn parse(raw: &str) -> Result<Self, String> {
        let bad = || format!("`{raw}` is not a time of day as HH:MM (00:00 to 23:59)");
        let (h, m) = raw.split_once(':').ok_or_else(bad)?;
        let digits = |s: &str| s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(h) || !digits(m) {
            return Err(bad());
        }
        let hour: i8 = h.parse().map_err(|_| bad())?;
        let minute: i8 = m.parse().map_err(|_| bad())?;
        if !(0..24).contains(&hour) || !(0..60).contains(&minute) {
            return Err(bad());
        }
        Ok(Self { hour, minute })
    }
}

impl TryFrom<String> for ClockTime {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        Self::parse(&s)
    }
}

impl From<ClockTime> for String {
    fn from(t: ClockTime) -> Self {
        format!("{:02}:{:02}", t.hour, t.minute)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

impl Weekday {
    pub const ALL: [Weekday; 7] = [
        Weekday::Mon,
        Weekday::Tue,
        Weekday::Wed,
        Weekday::Thu,
        Weekday::Fri,
        Weekday::Sat,
        Weekday::Sun,
    ];

    fn of(day: jiff::civil::Weekday) -> Self {
        Self::ALL[usize::from(day.to_monday_zero_offset().unsigned_abs())]
    }
}

/// Quiet hours: from `start` to `end` local time (past midnight when `end` is earlier),
/// beginning on each of `days` (every day if empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuietHours {
    pub start: ClockTime,
    pub end: ClockTime,
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub days: BTreeSet<Weekday>,
}

impl QuietHours {
    /// When the quiet hours that hold at `at` (in `tz`) end, or `None` outside them. Both ends
    /// are local times of their own day, so a change of UTC offset in between (DST) moves
    /// the instant, not the clock time. A local time a DST gap skips is read as the same
    /// wall-clock time after the gap.
    pub fn ends_after(&self, at: Timestamp, tz: &TimeZone) -> Option<Timestamp> {
        let today = at.as_jiff().to_zoned(tz.clone()).date();
        for first_day in [today.yesterday().ok()?, today] {
            if !self.days.is_empty() && !self.days.contains(&Weekday::of(first_day.weekday())) {
                continue;
            }
            let last_day = if self.end > self.start {
                first_day
            } else {
                first_day.tomorrow().ok()?
            };
            let instant = |day: jiff::civil::Date, t: ClockTime| {
                tz.to_zoned(day.at(t.hour, t.minute, 0, 0))
                    .ok()
                    .map(|z| Timestamp::from_jiff(z.timestamp()))
            };
            let (start, end) = (
                instant(first_day, self.start)?,
                instant(last_day, self.end)?,
            );
            if start <= at && at < end {
                return Some(end);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn defaults(v: serde_json::Value) -> Defaults {
        serde_json::from_value(v).unwrap()
    }

    fn prefs(v: serde_json::Value) -> Preferences {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn a_channel_a_category_and_a_pair_each_decline_what_they_name_only() {
        let none = Defaults::default();
        let user = prefs(json!({
            "channels": {"email": false},
            "categories": {"marketing": false, "billing": {"sms": false}}
        }));
        let go = |ch, cat| none.decide(&user, ch, cat).is_ok();
        assert!(!go(Channel::Email, None), "channel off");
        assert!(go(Channel::Sms, None));
        assert!(!go(Channel::Push, Some("marketing")), "category off");
        assert!(!go(Channel::Sms, Some("billing")), "pair off");
        assert!(
            go(Channel::Push, Some("billing")),
            "the pair names sms only"
        );
        assert!(
            !go(Channel::Email, Some("billing")),
            "the channel still off"
        );
        assert!(go(Channel::Sms, Some("news")));
        let declined = none
            .decide(&user, Channel::Sms, Some("billing"))
            .unwrap_err();
        assert!(declined.0.contains("billing") && declined.0.contains("sms"));
    }

    #[test]
    fn the_tenant_defaults_hold_until_the_user_says_otherwise_and_required_categories_always_go() {
        let tenant = defaults(json!({
            "channels": {"sms": false},
            "categories": {"marketing": false},
            "required": ["security"]
        }));
        let silent = Preferences::default();
        assert!(tenant.decide(&silent, Channel::Sms, None).is_err());
        assert!(
            tenant
                .decide(&silent, Channel::Email, Some("marketing"))
                .is_err()
        );
        let opted_in = prefs(json!({"channels": {"sms": true}, "categories": {"marketing": true}}));
        assert!(tenant.decide(&opted_in, Channel::Sms, None).is_ok());
        assert!(
            tenant
                .decide(&opted_in, Channel::Email, Some("marketing"))
                .is_ok()
        );
        let opted_out =
            prefs(json!({"channels": {"email": false}, "categories": {"security": false}}));
        assert!(
            tenant
                .decide(&opted_out, Channel::Email, Some("security"))
                .is_ok(),
            "required"
        );
        assert!(
            tenant
                .decide(&opted_out, Channel::Email, Some("other"))
                .is_err()
        );
    }

    #[test]
    fn quiet_hours_spare_high_priority_and_required_categories_unless_the_tenant_says() {
        let tenant = defaults(json!({
            "required": ["security"],
            "quietHoursExempt": {"security": false, "reminders": true}
        }));
        assert!(tenant.quiet_hours_apply(Priority::Normal, None));
        assert!(!tenant.quiet_hours_apply(Priority::High, None));
        assert!(!tenant.quiet_hours_apply(Priority::Normal, Some("reminders")));
        assert!(tenant.quiet_hours_apply(Priority::High, Some("security")));
        let plain = defaults(json!({"required": ["otp"]}));
        assert!(!plain.quiet_hours_apply(Priority::Low, Some("otp")));
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    fn quiet(start: &str, end: &str, days: serde_json::Value) -> QuietHours {
        serde_json::from_value(json!({"start": start, "end": end, "days": days})).unwrap()
    }

    #[test]
    fn quiet_hours_across_midnight_end_the_next_morning() {
        let paris = crate::domain::time::zone("Europe/Paris").unwrap();
        let q = quiet("22:00", "08:00", json!([]));
        // 2026-06-10 23:30 in Paris (UTC+2).
        assert_eq!(
            q.ends_after(ts("2026-06-10T21:30:00Z"), &paris),
            Some(ts("2026-06-11T06:00:00Z"))
        );
        // 07:59 the next morning: still quiet; 08:00: not.
        assert_eq!(
            q.ends_after(ts("2026-06-11T05:59:00Z"), &paris),
            Some(ts("2026-06-11T06:00:00Z"))
        );
        assert_eq!(q.ends_after(ts("2026-06-11T06:00:00Z"), &paris), None);
        assert_eq!(q.ends_after(ts("2026-06-11T12:00:00Z"), &paris), None);
    }

    #[test]
    fn quiet_hours_over_a_dst_change_end_at_the_local_time() {
        let paris = crate::domain::time::zone("Europe/Paris").unwrap();
        let q = quiet("22:00", "08:00", json!([]));
        // Spring forward on 2026-03-29: 23:00 CET (UTC+1) -> 08:00 CEST (UTC+2) is 06:00Z,
        // where adding 9 hours would say 07:00Z.
        assert_eq!(
            q.ends_after(ts("2026-03-28T22:00:00Z"), &paris),
            Some(ts("2026-03-29T06:00:00Z"))
        );
        // Fall back on 2026-10-25: 08:00 CET is 07:00Z.
        assert_eq!(
            q.ends_after(ts("2026-10-24T21:00:00Z"), &paris),
            Some(ts("2026-10-25T07:00:00Z"))
        );
    }

    #[test]
    fn quiet_hours_begin_only_on_their_days_and_a_daytime_window_stays_in_its_day() {
        let utc = TimeZone::UTC;
        // Friday and Saturday nights: 2026-12-04 is a Friday.
        let weekend = quiet("23:00", "09:00", json!(["fri", "sat"]));
        assert_eq!(
            weekend.ends_after(ts("2026-12-05T02:00:00Z"), &utc),
            Some(ts("2026-12-05T09:00:00Z")),
            "Friday night"
        );
        assert_eq!(
            weekend.ends_after(ts("2026-12-04T02:00:00Z"), &utc),
            None,
            "Thursday night is not quiet"
        );
        let lunch = quiet("12:00", "14:00", json!([]));
        assert_eq!(
            lunch.ends_after(ts("2026-12-04T13:00:00Z"), &utc),
            Some(ts("2026-12-04T14:00:00Z"))
        );
        assert_eq!(lunch.ends_after(ts("2026-12-04T11:59:00Z"), &utc), None);
    }

    #[test]
    fn opting_out_turns_one_channel_of_a_category_off_and_keeps_the_rest() {
        let tenant = defaults(json!({"categories": {"promo": {"sms": false}}}));
        let mut p =
            prefs(json!({"categories": {"news": true, "billing": {"sms": false}, "off": false}}));
        for c in ["news", "billing", "off", "new", "promo"] {
            p.opt_out(c, Channel::Email, &tenant);
        }
        assert_eq!(
            serde_json::to_value(&p.categories).unwrap(),
            json!({
                "news": {"email": false},
                "billing": {"sms": false, "email": false},
                "off": false,
                "new": {"email": false},
                "promo": {"sms": false, "email": false}
            })
        );
        assert!(tenant.decide(&p, Channel::Push, Some("news")).is_ok());
        assert!(tenant.decide(&p, Channel::Email, Some("new")).is_err());
        assert!(
            tenant.decide(&p, Channel::Sms, Some("promo")).is_err(),
            "the tenant's default still holds"
        );
    }

    #[test]
    fn clock_times_are_hh_mm() {
        assert!(ClockTime::parse("07:30").is_ok());
        for bad in [
            "7:30", "24:00", "12:60", "12-30", "noon", "12:3a", "+1:00", "-0:05",
        ] {
            assert!(ClockTime::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(String::from(ClockTime::parse("09:05").unwrap()), "09:05");
    }
}
