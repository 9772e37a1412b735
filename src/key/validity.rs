//! Validity periods of keys: the calendar days a key watermarked text, for key rotation.
//!
//! A key file may name the first and last day (UTC, inclusive) it was used to serve text. An
//! audit over a time range tests every key whose period overlaps the range, all under one
//! multiple-testing correction; keys without a period are valid at every date.
//!
//! ```
//! use provmark::key::Validity;
//! let v = Validity::parse(Some("2026-01-01"), Some("2026-03-31"))?;
//! assert!(v.overlaps(&Validity::parse(Some("2026-03-01"), None)?));
//! assert!(!v.overlaps(&Validity::parse(Some("2026-04-01"), Some("2026-12-31"))?));
//! assert!(Validity::parse(Some("2026-02-30"), None).is_err());
//! # Ok::<(), provmark::Error>(())
//! ```

use crate::{Error, Result};
use time::Date;
use time::format_description::BorrowedFormatItem;

/// `YYYY-MM-DD`.
fn date_format() -> Result<Vec<BorrowedFormatItem<'static>>> {
    time::format_description::parse("[year]-[month]-[day]")
        .map_err(|_| Error::InvalidInput("date format".into()))
}

/// An inclusive range of UTC calendar days; an absent end is unbounded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Validity {
    /// First day the key is valid.
    pub from: Option<Date>,
    /// Last day the key is valid.
    pub until: Option<Date>,
}

impl Validity {
    /// Valid at every date.
    pub const ALWAYS: Validity = Validity {
        from: None,
        until: None,
    };

    /// Parses `YYYY-MM-DD` bounds.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a malformed or impossible date, or `from` after `until`.
    pub fn parse(from: Option<&str>, until: Option<&str>) -> Result<Self> {
        let v = Validity {
            from: from.map(parse_date).transpose()?,
            until: until.map(parse_date).transpose()?,
        };
        if let (Some(f), Some(u)) = (v.from, v.until) {
            if f > u {
                return Err(Error::InvalidInput(format!(
                    "validity starts on {} after it ends on {}",
                    format_date(f),
                    format_date(u)
                )));
            }
        }
        Ok(v)
    }

    /// Whether the two periods share at least one day.
    pub fn overlaps(&self, other: &Validity) -> bool {
        let starts_before_other_ends = match (self.from, other.until) {
            (Some(f), Some(u)) => f <= u,
            _ => true,
        };
        let other_starts_before_end = match (other.from, self.until) {
            (Some(f), Some(u)) => f <= u,
            _ => true,
        };
        starts_before_other_ends && other_starts_before_end
    }

    /// Whether no bound is set.
    pub fn is_always(&self) -> bool {
        self.from.is_none() && self.until.is_none()
    }

    /// The bounds as `YYYY-MM-DD` text, as key files write them.
    pub fn to_strings(&self) -> (Option<String>, Option<String>) {
        (self.from.map(format_date), self.until.map(format_date))
    }
}

impl std::fmt::Display for Validity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let (a, b) = self.to_strings();
        write!(
            f,
            "{} to {}",
            a.as_deref().unwrap_or("any date"),
            b.as_deref().unwrap_or("any date")
        )
    }
}

/// Parses one `YYYY-MM-DD` date.
///
/// # Errors
/// [`Error::InvalidInput`] naming the text (dates are public).
pub fn parse_date(s: &str) -> Result<Date> {
    let bad = || Error::InvalidInput(format!("{s:?} is not a date of the form YYYY-MM-DD"));
    if s.len() != 10 {
        return Err(bad());
    }
    Date::parse(s, &date_format()?).map_err(|_| bad())
}

/// `YYYY-MM-DD`.
pub fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}
