//! How the two data-carrying enums of the stored records, [`BatchStatus`] and [`BatchOrigin`],
//! are encoded: by a pinned variant number, never by declaration position (docs/FORMAT.md,
//! "Pinned numbers").
//!
//! serde's derive hands a format the variant's position in the declaration, so inserting a
//! variant in the middle would silently renumber every stored record after it. These impls pass
//! the number from a fixed table instead. The bytes are the ones the derive wrote while the
//! numbers equalled the positions — a variant number (bincode: a varint `u32`), then the
//! variant's fields in order — so nothing stored before the numbers were pinned changes meaning.
//! Self-describing formats (JSON) get the variant's name, externally tagged, as before.

use std::fmt;

use serde::de::{self, DeserializeSeed, EnumAccess, VariantAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::ids::{ActorId, BatchId, Grams, SiteId};
use crate::model::material::{Process, RetireReason};

use super::state::{BatchOrigin, BatchStatus};

/// [`BatchStatus`] variants: (pinned number, name). New variants take the next number.
pub const BATCH_STATUS_NUMBERS: &[(u32, &str)] = &[
    (0, "Active"),
    (1, "InTransit"),
    (2, "Consumed"),
    (3, "Retired"),
];

/// [`BatchOrigin`] variants: (pinned number, name). New variants take the next number.
pub const BATCH_ORIGIN_NUMBERS: &[(u32, &str)] = &[(0, "Extracted"), (1, "Transformed")];

const STATUS_NAMES: &[&str] = &["Active", "InTransit", "Consumed", "Retired"];
const ORIGIN_NAMES: &[&str] = &["Extracted", "Transformed"];

impl BatchStatus {
    /// Its pinned variant number.
    pub fn number(&self) -> u32 {
        match self {
            BatchStatus::Active => 0,
            BatchStatus::InTransit { .. } => 1,
            BatchStatus::Consumed => 2,
            BatchStatus::Retired { .. } => 3,
        }
    }
}

impl BatchOrigin {
    /// Its pinned variant number.
    pub fn number(&self) -> u32 {
        match self {
            BatchOrigin::Extracted { .. } => 0,
            BatchOrigin::Transformed { .. } => 1,
        }
    }
}

fn name_of(table: &'static [(u32, &'static str)], number: u32) -> &'static str {
    table
        .iter()
        .find(|(n, _)| *n == number)
        .map_or("?", |(_, name)| name)
}

#[derive(Serialize, Deserialize)]
struct InTransitFields {
    to: ActorId,
    shipped_g: Grams,
}

#[derive(Serialize, Deserialize)]
struct RetiredFields {
    reason: RetireReason,
}

#[derive(Serialize, Deserialize)]
struct ExtractedFields {
    site: SiteId,
}

#[derive(Serialize, Deserialize)]
struct TransformedFields {
    process: Process,
    inputs: Vec<(BatchId, Grams)>,
    additives_g: Grams,
    outputs_total_g: Grams,
}

impl Serialize for BatchStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const NAME: &str = "BatchStatus";
        let number = self.number();
        let variant = name_of(BATCH_STATUS_NUMBERS, number);
        match self {
            BatchStatus::Active | BatchStatus::Consumed => {
                s.serialize_unit_variant(NAME, number, variant)
            }
            BatchStatus::InTransit { to, shipped_g } => s.serialize_newtype_variant(
                NAME,
                number,
                variant,
                &InTransitFields {
                    to: to.clone(),
                    shipped_g: *shipped_g,
                },
            ),
            BatchStatus::Retired { reason } => s.serialize_newtype_variant(
                NAME,
                number,
                variant,
                &RetiredFields { reason: *reason },
            ),
        }
    }
}

impl Serialize for BatchOrigin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const NAME: &str = "BatchOrigin";
        let number = self.number();
        let variant = name_of(BATCH_ORIGIN_NUMBERS, number);
        match self {
            BatchOrigin::Extracted { site } => s.serialize_newtype_variant(
                NAME,
                number,
                variant,
                &ExtractedFields { site: site.clone() },
            ),
            BatchOrigin::Transformed {
                process,
                inputs,
                additives_g,
                outputs_total_g,
            } => s.serialize_newtype_variant(
                NAME,
                number,
                variant,
                &TransformedFields {
                    process: *process,
                    inputs: inputs.clone(),
                    additives_g: *additives_g,
                    outputs_total_g: *outputs_total_g,
                },
            ),
        }
    }
}

/// Reads a variant tag: its number (binary formats) or its name (JSON), both checked against
/// the table.
struct Tag {
    table: &'static [(u32, &'static str)],
    names: &'static [&'static str],
}

impl<'de> DeserializeSeed<'de> for Tag {
    type Value = u32;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<u32, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl Visitor<'_> for Tag {
    type Value = u32;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a pinned variant number or name")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<u32, E> {
        self.table
            .iter()
            .find(|(n, _)| u64::from(*n) == v)
            .map(|(n, _)| *n)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<u32, E> {
        self.table
            .iter()
            .find(|(_, name)| *name == v)
            .map(|(n, _)| *n)
            .ok_or_else(|| E::unknown_variant(v, self.names))
    }
}

struct StatusVisitor;

impl<'de> Visitor<'de> for StatusVisitor {
    type Value = BatchStatus;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a batch status")
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<BatchStatus, A::Error> {
        let (number, variant) = data.variant_seed(Tag {
            table: BATCH_STATUS_NUMBERS,
            names: STATUS_NAMES,
        })?;
        Ok(match number {
            0 => {
                variant.unit_variant()?;
                BatchStatus::Active
            }
            1 => {
                let f: InTransitFields = variant.newtype_variant()?;
                BatchStatus::InTransit {
                    to: f.to,
                    shipped_g: f.shipped_g,
                }
            }
            2 => {
                variant.unit_variant()?;
                BatchStatus::Consumed
            }
            _ => {
                let f: RetiredFields = variant.newtype_variant()?;
                BatchStatus::Retired { reason: f.reason }
            }
        })
    }
}

impl<'de> Deserialize<'de> for BatchStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_enum("BatchStatus", STATUS_NAMES, StatusVisitor)
    }
}

struct OriginVisitor;

impl<'de> Visitor<'de> for OriginVisitor {
    type Value = BatchOrigin;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a batch origin")
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<BatchOrigin, A::Error> {
        let (number, variant) = data.variant_seed(Tag {
            table: BATCH_ORIGIN_NUMBERS,
            names: ORIGIN_NAMES,
        })?;
        Ok(match number {
            0 => {
                let f: ExtractedFields = variant.newtype_variant()?;
                BatchOrigin::Extracted { site: f.site }
            }
            _ => {
                let f: TransformedFields = variant.newtype_variant()?;
                BatchOrigin::Transformed {
                    process: f.process,
                    inputs: f.inputs,
                    additives_g: f.additives_g,
                    outputs_total_g: f.outputs_total_g,
                }
            }
        })
    }
}

impl<'de> Deserialize<'de> for BatchOrigin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_enum("BatchOrigin", ORIGIN_NAMES, OriginVisitor)
    }
}
