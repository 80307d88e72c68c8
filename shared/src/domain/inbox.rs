//! The in-app inbox: one item per in-app notification, kept per user, and the states the
//! user's app moves it through (seen, read, archived). Every change is computed here, as data
//! with the counters it moves, so both stores apply it alike and a repeated mark changes
//! nothing.

use std::{collections::BTreeMap, fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use super::{InAppContent, NotificationId, UnknownName, time::Timestamp};

/// One inbox item. Its id is its notification's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxItem {
    pub id: NotificationId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    pub body: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action_url: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub data: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub category: Option<String>,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seen_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archived_at: Option<Timestamp>,
    /// When the item last changed: what a delta (`since`) is read by.
    pub changed_at: Timestamp,
}

impl InboxItem {
    pub fn new(
        id: NotificationId,
        content: &InAppContent,
        category: Option<&str>,
        now: Timestamp,
    ) -> Self {
        Self {
            id,
            title: content.title.clone(),
            body: content.body.clone(),
            action_url: content.action_url.clone(),
            data: content.data.clone(),
            category: category.map(str::to_owned),
            created_at: now,
            seen_at: None,
            read_at: None,
            archived_at: None,
            changed_at: now,
        }
    }

    /// What the item adds to the counters: only items not archived count.
    pub fn counts(&self) -> InboxCounts {
        if self.archived_at.is_some() {
            return InboxCounts::default();
        }
        InboxCounts {
            unread: i64::from(self.read_at.is_none()),
            unseen: i64::from(self.seen_at.is_none()),
        }
    }

    pub fn matches(&self, filter: &InboxFilter) -> bool {
        let status = match filter.status {
            StatusFilter::All => true,
            StatusFilter::Unread => self.read_at.is_none(),
            StatusFilter::Unseen => self.seen_at.is_none(),
            StatusFilter::Read => self.read_at.is_some(),
        };
        let archived = match filter.archived {
            ArchivedFilter::Exclude => self.archived_at.is_none(),
            ArchivedFilter::Include => true,
            ArchivedFilter::Only => self.archived_at.is_some(),
        };
        let category = filter
            .category
            .as_ref()
            .is_none_or(|c| self.category.as_ref() == Some(c));
        status && archived && category
    }

    /// The item after `mark`, or `None` when the mark changes nothing (read twice).
    pub fn marked(&self, mark: Mark, now: Timestamp) -> Option<InboxChange> {
        let mut after = self.clone();
        match mark {
            Mark::Seen => {
                after.seen_at.get_or_insert(now);
            }
            Mark::Read => {
                after.read_at.get_or_insert(now);
                after.seen_at.get_or_insert(now);
            }
            Mark::Unread => after.read_at = None,
            Mark::Archive => {
                after.archived_at.get_or_insert(now);
            }
            Mark::Unarchive => after.archived_at = None,
        }
        if after == *self {
            return None;
        }
        after.changed_at = now.max(self.changed_at);
        let delta = after.counts().minus(self.counts());
        Some(InboxChange {
            before: self.changed_at,
            item: after,
            delta,
        })
    }
}

/// A state change of one item, and what it does to the counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxChange {
    /// The item's `changed_at` as it was read: the change applies only if it still is.
    pub before: Timestamp,
    pub item: InboxItem,
    pub delta: InboxCounts,
}

/// Unread and unseen items, archived ones not counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InboxCounts {
    pub unread: i64,
    pub unseen: i64,
}

impl InboxCounts {
    pub fn minus(self, other: InboxCounts) -> InboxCounts {
        InboxCounts {
            unread: self.unread - other.unread,
            unseen: self.unseen - other.unseen,
        }
    }

    pub fn plus(self, other: InboxCounts) -> InboxCounts {
        InboxCounts {
            unread: self.unread + other.unread,
            unseen: self.unseen + other.unseen,
        }
    }

    pub fn is_zero(self) -> bool {
        self == InboxCounts::default()
    }

    /// Never below zero in an answer, whatever a counter went through.
    pub fn shown(self) -> InboxCounts {
        InboxCounts {
            unread: self.unread.max(0),
            unseen: self.unseen.max(0),
        }
    }
}

/// What the user's app does to an item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mark {
    Seen,
    Read,
    Unread,
    Archive,
    Unarchive,
}

impl Mark {
    pub const ALL: [Mark; 5] = [
        Mark::Seen,
        Mark::Read,
        Mark::Unread,
        Mark::Archive,
        Mark::Unarchive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Mark::Seen => "seen",
            Mark::Read => "read",
            Mark::Unread => "unread",
            Mark::Archive => "archive",
            Mark::Unarchive => "unarchive",
        }
    }

    /// The items a bulk mark concerns: those it would change.
    pub fn candidates(self) -> InboxFilter {
        let (status, archived) = match self {
            Mark::Seen => (StatusFilter::Unseen, ArchivedFilter::Exclude),
            Mark::Read => (StatusFilter::Unread, ArchivedFilter::Exclude),
            Mark::Unread => (StatusFilter::Read, ArchivedFilter::Exclude),
            Mark::Archive => (StatusFilter::All, ArchivedFilter::Exclude),
            Mark::Unarchive => (StatusFilter::All, ArchivedFilter::Only),
        };
        InboxFilter {
            status,
            archived,
            category: None,
        }
    }
}

impl fmt::Display for Mark {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Mark {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        // `archived` is how a bulk mark names the state it leaves items in.
        let s = if s == "archived" { "archive" } else { s };
        Mark::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownName {
                value: s.to_owned(),
                allowed: "seen, read, unread, archive, unarchive",
            })
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StatusFilter {
    #[default]
    All,
    Unread,
    Unseen,
    Read,
}

impl FromStr for StatusFilter {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "all" => Ok(StatusFilter::All),
            "unread" => Ok(StatusFilter::Unread),
            "unseen" => Ok(StatusFilter::Unseen),
            "read" => Ok(StatusFilter::Read),
            _ => Err(UnknownName {
                value: s.to_owned(),
                allowed: "all, unread, unseen, read",
            }),
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ArchivedFilter {
    #[default]
    Exclude,
    Include,
    Only,
}

impl FromStr for ArchivedFilter {
    type Err = UnknownName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "exclude" => Ok(ArchivedFilter::Exclude),
            "include" => Ok(ArchivedFilter::Include),
            "only" => Ok(ArchivedFilter::Only),
            _ => Err(UnknownName {
                value: s.to_owned(),
                allowed: "exclude, include, only",
            }),
        }
    }
}

/// Which items a feed shows.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InboxFilter {
    pub status: StatusFilter,
    pub archived: ArchivedFilter,
    pub category: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> InboxItem {
        let content = InAppContent {
            body: "b".into(),
            ..InAppContent::default()
        };
        InboxItem::new(
            NotificationId::generate(),
            &content,
            Some("orders"),
            Timestamp::from_millis(1_000).unwrap(),
        )
    }

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millis(ms).unwrap()
    }

    #[test]
    fn a_new_item_is_unread_and_unseen() {
        assert_eq!(
            item().counts(),
            InboxCounts {
                unread: 1,
                unseen: 1
            }
        );
    }

    #[test]
    fn read_also_sees_and_a_second_read_changes_nothing() {
        let change = item().marked(Mark::Read, at(2_000)).unwrap();
        assert_eq!(
            change.delta,
            InboxCounts {
                unread: -1,
                unseen: -1
            }
        );
        assert_eq!(change.item.seen_at, Some(at(2_000)));
        assert_eq!(change.before, at(1_000));
        assert_eq!(change.item.changed_at, at(2_000));
        assert_eq!(change.item.marked(Mark::Read, at(3_000)), None);
        assert_eq!(change.item.marked(Mark::Seen, at(3_000)), None);
    }

    #[test]
    fn unread_counts_again_but_stays_seen() {
        let read = item().marked(Mark::Read, at(2_000)).unwrap().item;
        let change = read.marked(Mark::Unread, at(3_000)).unwrap();
        assert_eq!(
            change.delta,
            InboxCounts {
                unread: 1,
                unseen: 0
            }
        );
    }

    #[test]
    fn archived_items_leave_the_counts_and_come_back_with_their_state() {
        let seen = item().marked(Mark::Seen, at(2_000)).unwrap().item;
        let archived = seen.marked(Mark::Archive, at(3_000)).unwrap();
        assert_eq!(
            archived.delta,
            InboxCounts {
                unread: -1,
                unseen: 0
            }
        );
        // Reading an archived item moves no counter.
        let read = archived.item.marked(Mark::Read, at(4_000)).unwrap();
        assert!(read.delta.is_zero());
        let back = read.item.marked(Mark::Unarchive, at(5_000)).unwrap();
        assert!(back.delta.is_zero(), "read and seen: counts nothing back");
    }

    #[test]
    fn filters_combine() {
        let i = item();
        let unread = InboxFilter {
            status: StatusFilter::Unread,
            ..InboxFilter::default()
        };
        assert!(i.matches(&unread));
        let other = InboxFilter {
            category: Some("billing".into()),
            ..InboxFilter::default()
        };
        assert!(!i.matches(&other));
        let archived = i.marked(Mark::Archive, at(2_000)).unwrap().item;
        assert!(!archived.matches(&InboxFilter::default()));
        assert!(archived.matches(&Mark::Unarchive.candidates()));
    }

    #[test]
    fn a_clock_behind_the_last_change_does_not_move_it_back() {
        let change = item().marked(Mark::Seen, at(500)).unwrap();
        assert_eq!(change.item.changed_at, at(1_000));
    }
}
