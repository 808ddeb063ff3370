//! Validating newtypes for the identifiers and quantities of event payload v1 (DESIGN.md §3,
//! docs/EVENTS.md "Identifiers").
//!
//! Every type here rejects a bad value when it is built (`FromStr`, `TryFrom<String>`, serde), so
//! code that holds one never checks it again. Text types serialise as strings and validate on
//! deserialisation; [`Grams`] is a plain integer.
//!
//! - [`ActorId`], [`SiteId`] — `[a-z0-9][a-z0-9-]{1,63}`
//! - [`BatchId`], [`EventId`] — `[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}`
//! - [`BatchPrefix`] — `[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}` (the start of the batch ids an actor
//!   may create)
//! - [`CountryCode`] — an officially assigned ISO 3166-1 alpha-2 code, upper case
//! - [`AdditiveName`] — `[a-z0-9_-]{1,32}` (untracked material added by a transform)
//! - [`Timestamp`] — RFC 3339 in UTC with a `Z` suffix, years 1970–9999
//! - [`DocumentDigest`] — 64 lowercase hex digits (SHA-256 of a document)

use std::fmt;
use std::str::FromStr;

use chrono::{NaiveDate, NaiveDateTime, NaiveTime};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Which identifier type a value was meant to be; names the type in error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdKind {
    /// [`ActorId`]
    Actor,
    /// [`SiteId`]
    Site,
    /// [`BatchId`]
    Batch,
    /// [`EventId`]
    Event,
    /// [`BatchPrefix`]
    Prefix,
    /// [`CountryCode`]
    Country,
    /// [`AdditiveName`]
    Additive,
    /// [`Timestamp`]
    Timestamp,
    /// [`DocumentDigest`]
    DocumentDigest,
}

impl fmt::Display for IdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdKind::Actor => "actor id",
            IdKind::Site => "site id",
            IdKind::Batch => "batch id",
            IdKind::Event => "event id",
            IdKind::Prefix => "batch id prefix",
            IdKind::Country => "country code",
            IdKind::Additive => "additive name",
            IdKind::Timestamp => "timestamp",
            IdKind::DocumentDigest => "document digest",
        })
    }
}

/// Why an identifier, code, timestamp or digest was rejected. `value` is the offending text,
/// truncated to [`IdError::SHOWN`] characters so that a huge input cannot flood an error message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    /// The text is empty.
    #[error("{kind} must not be empty")]
    Empty {
        /// The type.
        kind: IdKind,
    },
    /// Too short or too long.
    #[error("{kind} {value:?} has {len} characters; allowed {min} to {max}")]
    Length {
        /// The type.
        kind: IdKind,
        /// The offending value (truncated).
        value: String,
        /// Its length in bytes (all valid identifiers are ASCII).
        len: usize,
        /// The minimum length.
        min: usize,
        /// The maximum length.
        max: usize,
    },
    /// A character outside the allowed set.
    #[error("{kind} {value:?} has {found:?} at position {position}; expected {expected}")]
    Character {
        /// The type.
        kind: IdKind,
        /// The offending value (truncated).
        value: String,
        /// Byte position of the first bad character.
        position: usize,
        /// The bad character.
        found: char,
        /// What the syntax allows at that position.
        expected: &'static str,
    },
    /// Well-formed but not an assigned ISO 3166-1 alpha-2 code.
    #[error("country code {value:?} is not an assigned ISO 3166-1 alpha-2 code")]
    UnassignedCountry {
        /// The offending value (truncated).
        value: String,
    },
    /// Does not follow the required layout (timestamps, digests).
    #[error("{kind} {value:?} is malformed: {reason}")]
    Malformed {
        /// The type.
        kind: IdKind,
        /// The offending value (truncated).
        value: String,
        /// What is wrong.
        reason: &'static str,
    },
}

impl IdError {
    /// How many characters of an offending value an error keeps.
    pub const SHOWN: usize = 80;
}

fn shown(value: &str) -> String {
    if value.chars().count() <= IdError::SHOWN {
        value.to_owned()
    } else {
        let mut out: String = value.chars().take(IdError::SHOWN).collect();
        out.push('…');
        out
    }
}

/// Checks `value` against `first rest{min-1,max-1}` where `first` and `rest` are byte classes.
fn check_syntax(
    kind: IdKind,
    value: &str,
    (min, max): (usize, usize),
    first: (fn(u8) -> bool, &'static str),
    rest: (fn(u8) -> bool, &'static str),
) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    for (position, ch) in value.char_indices() {
        let (allowed, expected) = if position == 0 { first } else { rest };
        if !ch.is_ascii() || !allowed(ch as u8) {
            return Err(IdError::Character {
                kind,
                value: shown(value),
                position,
                found: ch,
                expected,
            });
        }
    }
    if value.len() < min || value.len() > max {
        return Err(IdError::Length {
            kind,
            value: shown(value),
            len: value.len(),
            min,
            max,
        });
    }
    Ok(())
}

fn lower_or_digit(b: u8) -> bool {
    b.is_ascii_lowercase() || b.is_ascii_digit()
}

fn lower_digit_dash(b: u8) -> bool {
    lower_or_digit(b) || b == b'-'
}

fn alnum(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn batch_char(b: u8) -> bool {
    alnum(b) || matches!(b, b'.' | b'_' | b':' | b'/' | b'-')
}

fn additive_char(b: u8) -> bool {
    lower_digit_dash(b) || b == b'_'
}

/// Shared impls of a string identifier: Display, AsRef, FromStr, TryFrom<String>, serde.
macro_rules! string_id {
    ($(#[$doc:meta])* $name:ident, $kind:expr, $check:expr) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `value`.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                let check: fn(&str) -> Result<(), IdError> = $check;
                check(&value)?;
                Ok($name(value))
            }

            /// The identifier text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({:?})", stringify!($name), self.0)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                $name::new(s)
            }
        }

        impl TryFrom<String> for $name {
            type Error = IdError;
            fn try_from(s: String) -> Result<Self, IdError> {
                $name::new(s)
            }
        }

        impl TryFrom<&str> for $name {
            type Error = IdError;
            fn try_from(s: &str) -> Result<Self, IdError> {
                $name::new(s)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = String::deserialize(d)?;
                $name::new(text).map_err(serde::de::Error::custom)
            }
        }
    };
}

const LOWER_FIRST: (fn(u8) -> bool, &str) = (lower_or_digit, "a-z or 0-9");
const LOWER_REST: (fn(u8) -> bool, &str) = (lower_digit_dash, "a-z, 0-9 or '-'");
const ALNUM_FIRST: (fn(u8) -> bool, &str) = (alnum, "A-Z, a-z or 0-9");
const BATCH_REST: (fn(u8) -> bool, &str) = (batch_char, "A-Z, a-z, 0-9 or one of . _ : / -");

string_id!(
    /// A participant: `[a-z0-9][a-z0-9-]{1,63}` (e.g. `mp-materials`).
    ActorId,
    IdKind::Actor,
    |v| check_syntax(IdKind::Actor, v, (2, 64), LOWER_FIRST, LOWER_REST)
);
string_id!(
    /// A mine or plant, unique across the ledger: `[a-z0-9][a-z0-9-]{1,63}`.
    SiteId,
    IdKind::Site,
    |v| check_syntax(IdKind::Site, v, (2, 64), LOWER_FIRST, LOWER_REST)
);
string_id!(
    /// A batch of material: `[A-Za-z0-9][A-Za-z0-9._:/-]{0,127}` (e.g. `MP-ORE-2026-001`).
    BatchId,
    IdKind::Batch,
    |v| check_syntax(IdKind::Batch, v, (1, 128), ALNUM_FIRST, BATCH_REST)
);
string_id!(
    /// The start of the batch ids an actor may create, assigned by the registry as GS1 assigns
    /// company prefixes (e.g. `MP-`): `[A-Za-z0-9][A-Za-z0-9._:/-]{0,63}`.
    BatchPrefix,
    IdKind::Prefix,
    |v| check_syntax(IdKind::Prefix, v, (1, 64), ALNUM_FIRST, BATCH_REST)
);

impl BatchPrefix {
    /// Whether `batch` starts with this prefix.
    pub fn covers(&self, batch: &BatchId) -> bool {
        batch.as_str().starts_with(self.as_str())
    }

    /// Every proper beginning of this prefix, shortest first (`M`, `MP` for `MP-`): valid
    /// prefixes themselves, since the first character is the prefix's own.
    pub fn beginnings(&self) -> impl Iterator<Item = BatchPrefix> + '_ {
        (1..self.0.len()).map(|end| BatchPrefix(self.0[..end].to_owned()))
    }
}

string_id!(
    /// An event, unique per actor (`(actor, id)` is the idempotency key): same syntax as
    /// [`BatchId`].
    EventId,
    IdKind::Event,
    |v| check_syntax(IdKind::Event, v, (1, 128), ALNUM_FIRST, BATCH_REST)
);
string_id!(
    /// Untracked material added by a transform (`iron`, `boron`, ...): `[a-z0-9_-]{1,32}`.
    AdditiveName,
    IdKind::Additive,
    |v| check_syntax(
        IdKind::Additive,
        v,
        (1, 32),
        (additive_char, "a-z, 0-9, '_' or '-'"),
        (additive_char, "a-z, 0-9, '_' or '-'")
    )
);
string_id!(
    /// An ISO 3166-1 alpha-2 country code: two upper-case letters that the ISO 3166
    /// maintenance agency has officially assigned (user-assigned codes such as `XK` are
    /// rejected).
    CountryCode,
    IdKind::Country,
    check_country
);

/// The officially assigned ISO 3166-1 alpha-2 codes (249), in order.
const ASSIGNED_COUNTRIES: &str = "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU \
ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN KP KR KW KY KZ \
LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA \
RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ \
VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// Binary search of [`ASSIGNED_COUNTRIES`] (sorted, two letters and a space per code): every
/// event names countries, so this is on the append path.
fn is_assigned_country(code: &str) -> bool {
    let table = ASSIGNED_COUNTRIES.as_bytes();
    let (mut low, mut high) = (0, table.len().div_ceil(3));
    while low < high {
        let middle = (low + high) / 2;
        match table[middle * 3..middle * 3 + 2].cmp(code.as_bytes()) {
            std::cmp::Ordering::Less => low = middle + 1,
            std::cmp::Ordering::Greater => high = middle,
            std::cmp::Ordering::Equal => return true,
        }
    }
    false
}

fn check_country(value: &str) -> Result<(), IdError> {
    let upper = (
        (|b: u8| b.is_ascii_uppercase()) as fn(u8) -> bool,
        "A-Z (upper case)",
    );
    check_syntax(IdKind::Country, value, (2, 2), upper, upper)?;
    if is_assigned_country(value) {
        Ok(())
    } else {
        Err(IdError::UnassignedCountry {
            value: shown(value),
        })
    }
}

/// A mass in whole grams. Serialised as a plain integer. Arithmetic is checked: a ledger that
/// overflows must reject the event, never wrap.
#[derive(Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Grams(pub u64);

impl Grams {
    /// No mass.
    pub const ZERO: Grams = Grams(0);

    /// The number of grams.
    pub fn get(self) -> u64 {
        self.0
    }

    /// Whether this is zero grams.
    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// `self + other`, or `None` on overflow.
    pub fn checked_add(self, other: Grams) -> Option<Grams> {
        self.0.checked_add(other.0).map(Grams)
    }

    /// `self - other`, or `None` if `other` is larger.
    pub fn checked_sub(self, other: Grams) -> Option<Grams> {
        self.0.checked_sub(other.0).map(Grams)
    }

    /// The exact sum of `items` in 128 bits: it cannot overflow for fewer than 2^64 items, which
    /// is what the ledger's mass balance needs (docs/MODEL.md, "Mass arithmetic").
    pub fn exact_sum(items: impl IntoIterator<Item = Grams>) -> u128 {
        items.into_iter().map(|g| u128::from(g.0)).sum()
    }

    /// The sum of `items`, or `None` on overflow.
    pub fn checked_sum(items: impl IntoIterator<Item = Grams>) -> Option<Grams> {
        items
            .into_iter()
            .try_fold(Grams::ZERO, |acc, g| acc.checked_add(g))
    }
}

impl From<u64> for Grams {
    fn from(g: u64) -> Self {
        Grams(g)
    }
}

impl fmt::Display for Grams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} g", self.0)
    }
}

impl fmt::Debug for Grams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Grams({})", self.0)
    }
}

/// A point in time, RFC 3339 in UTC: `YYYY-MM-DDTHH:MM:SS[.fraction]Z`, fraction of 1 to 9
/// digits, years 1970 to 9999, no leap second. The original text is kept (it is what the actor
/// signed and what we display); ordering is by instant, then by text, so that two spellings of
/// the same instant (`...00Z` and `...00.000Z`) are distinct but adjacent.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    // Field order is the ordering: instant first, then the text.
    unix_seconds: u64,
    nanos: u32,
    text: String,
}

impl Timestamp {
    /// Parses and validates RFC 3339 UTC text.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let bad = |reason| IdError::Malformed {
            kind: IdKind::Timestamp,
            value: shown(text),
            reason,
        };
        let b = text.as_bytes();
        if b.len() < 20 {
            return Err(bad("expected YYYY-MM-DDTHH:MM:SSZ"));
        }
        let digits = |range: std::ops::Range<usize>| -> Result<u32, IdError> {
            let part = &b[range];
            if part.iter().all(u8::is_ascii_digit) {
                Ok(part.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
            } else {
                Err(bad("expected YYYY-MM-DDTHH:MM:SSZ"))
            }
        };
        if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return Err(bad("expected YYYY-MM-DDTHH:MM:SSZ (upper-case T)"));
        }
        let (year, month, day) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
        let (hour, minute, second) = (digits(11..13)?, digits(14..16)?, digits(17..19)?);
        let mut rest = &b[19..];
        let mut nanos: u32 = 0;
        if rest.first() == Some(&b'.') {
            let frac: Vec<u8> = rest[1..]
                .iter()
                .copied()
                .take_while(u8::is_ascii_digit)
                .collect();
            if frac.is_empty() || frac.len() > 9 {
                return Err(bad("fraction of a second must have 1 to 9 digits"));
            }
            let value = frac.iter().fold(0u32, |n, d| n * 10 + u32::from(d - b'0'));
            nanos = value * 10u32.pow(9 - frac.len() as u32);
            rest = &rest[1 + frac.len()..];
        }
        if rest != b"Z" {
            return Err(bad("must be UTC and end in 'Z' (no offsets)"));
        }
        if year < 1970 {
            return Err(bad("year must be 1970 or later"));
        }
        let date = NaiveDate::from_ymd_opt(year as i32, month, day)
            .ok_or_else(|| bad("no such calendar date"))?;
        let time = NaiveTime::from_hms_nano_opt(hour, minute, second, nanos)
            .filter(|_| second < 60)
            .ok_or_else(|| bad("no such time of day"))?;
        let seconds = NaiveDateTime::new(date, time).and_utc().timestamp();
        let unix_seconds = u64::try_from(seconds).map_err(|_| bad("year must be 1970 or later"))?;
        Ok(Timestamp {
            unix_seconds,
            nanos,
            text: text.to_owned(),
        })
    }

    /// Milliseconds since the Unix epoch (truncated).
    pub fn unix_millis(&self) -> u64 {
        // At most year 9999, so this fits easily.
        self.unix_seconds * 1000 + u64::from(self.nanos / 1_000_000)
    }

    /// Nanoseconds since the Unix epoch.
    pub fn unix_nanos(&self) -> u128 {
        u128::from(self.unix_seconds) * 1_000_000_000 + u128::from(self.nanos)
    }

    /// The text as it was written.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Formats `unix_millis` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (for times the ledger itself makes).
    pub fn from_unix_millis(unix_millis: u64) -> Option<Self> {
        let millis = i64::try_from(unix_millis).ok()?;
        let time = chrono::DateTime::from_timestamp_millis(millis)?;
        Timestamp::parse(&time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()).ok()
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.text)
    }
}

impl AsRef<str> for Timestamp {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

impl FromStr for Timestamp {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        Timestamp::parse(s)
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Timestamp::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// The SHA-256 of an off-ledger document (an assay report, an audit): 64 lowercase hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocumentDigest([u8; 32]);

impl DocumentDigest {
    /// Wraps raw digest bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        DocumentDigest(bytes)
    }

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses 64 lowercase hex digits.
    pub fn parse(text: &str) -> Result<Self, IdError> {
        let bad = |reason| IdError::Malformed {
            kind: IdKind::DocumentDigest,
            value: shown(text),
            reason,
        };
        if text.len() != 64 {
            return Err(bad("must be 64 hex digits (SHA-256)"));
        }
        if !text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return Err(bad("must be lowercase hex"));
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).map_err(|_| bad("must be lowercase hex"))?;
        Ok(DocumentDigest(out))
    }
}

impl fmt::Display for DocumentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for DocumentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocumentDigest({})", hex::encode(self.0))
    }
}

impl FromStr for DocumentDigest {
    type Err = IdError;
    fn from_str(s: &str) -> Result<Self, IdError> {
        DocumentDigest::parse(s)
    }
}

impl Serialize for DocumentDigest {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for DocumentDigest {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        DocumentDigest::parse(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
