//! A calendar month in UTC, `YYYY-MM`: the period of a monthly flow report, as the half-open
//! interval `[first day 00:00:00Z, first day of the next month 00:00:00Z)` of `occurred_at`.

use std::fmt;
use std::str::FromStr;

use crate::model::ids::Timestamp;

/// A month, `YYYY-MM`, years 1970 to 9998 (so that the next month is still a valid
/// [`Timestamp`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Month {
    year: u16,
    month: u8,
}

/// Why a month was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("month `{value}`: {reason} (expected YYYY-MM, e.g. 2026-03)")]
pub struct MonthError {
    /// The text given (at most 32 characters of it).
    pub value: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl Month {
    /// The month `year`-`month`, if valid.
    pub fn new(year: u16, month: u8) -> Option<Month> {
        ((1970..=9998).contains(&year) && (1..=12).contains(&month))
            .then_some(Month { year, month })
    }

    /// The month after this one.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year + 1,
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Its first instant (inclusive).
    pub fn start(self) -> Timestamp {
        Timestamp::parse(&format!("{self}-01T00:00:00Z"))
            .expect("the first day of a valid month is a valid timestamp")
    }

    /// The first instant of the next month (exclusive end).
    pub fn end(self) -> Timestamp {
        self.next().start()
    }

    /// The day the MIIT monthly report on it is due: the 10th of the following month.
    pub fn report_due(self) -> String {
        format!("{}-10", self.next())
    }

    /// The month `at` falls in.
    pub fn of(at: &Timestamp) -> Option<Month> {
        let text = at.as_str();
        text.get(..7)?.parse().ok()
    }
}

impl FromStr for Month {
    type Err = MonthError;
    fn from_str(s: &str) -> Result<Month, MonthError> {
        let bad = |reason| MonthError {
            value: s.chars().take(32).collect(),
            reason,
        };
        let b = s.as_bytes();
        if b.len() != 7 || b[4] != b'-' {
            return Err(bad("not of the form YYYY-MM"));
        }
        if !b[..4].iter().chain(&b[5..]).all(u8::is_ascii_digit) {
            return Err(bad("not of the form YYYY-MM"));
        }
        let year: u16 = s[..4].parse().map_err(|_| bad("bad year"))?;
        let month: u8 = s[5..].parse().map_err(|_| bad("bad month"))?;
        if !(1..=12).contains(&month) {
            return Err(bad("the month must be 01 to 12"));
        }
        Month::new(year, month).ok_or_else(|| bad("the year must be 1970 to 9998"))
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

impl serde::Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_parse_strictly_and_bound_their_period() {
        let m: Month = "2026-12".parse().unwrap();
        assert_eq!(m.start().as_str(), "2026-12-01T00:00:00Z");
        assert_eq!(m.end().as_str(), "2027-01-01T00:00:00Z");
        assert_eq!(m.report_due(), "2027-01-10");
        for bad in [
            "2026-13",
            "2026-00",
            "2026-3",
            "26-03",
            "2026/03",
            "2026-03-01",
            "",
            "1969-12",
            "9999-01",
            "２０２６-03",
        ] {
            assert!(bad.parse::<Month>().is_err(), "{bad}");
        }
        let at: Timestamp = "2026-03-31T23:59:59.999Z".parse().unwrap();
        assert_eq!(Month::of(&at), Some("2026-03".parse().unwrap()));
    }
}
