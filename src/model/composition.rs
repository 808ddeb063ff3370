//! The rare-earth content of a batch: whole grams of each of the 17 rare-earth elements, on an
//! **elemental basis** (grams of neodymium, not of Nd2O3). Issue 12, docs/COMPLIANCE.md.
//!
//! JSON: an object from element symbol to grams, `{"Nd": 58000000, "Pr": 19000000}`. An element
//! left out holds zero grams; a listed element holds at least one gram (zero is written by
//! leaving it out, so one content has one spelling). At least one element is listed. A
//! composition never weighs more than the batch that carries it: [`Composition::total`] is
//! compared with the batch mass by the parser (extract and transform outputs) and the ledger
//! (assay certificates).
//!
//! Oxide masses are not accepted: a producer that assays oxide converts to element grams itself
//! (docs/COMPLIANCE.md lists the factors), so the ledger never does inexact chemistry.
//!
//! Binary formats (stored records) write the map as bincode writes any map: its length, then
//! each element's pinned number and its grams. The element numbers are pinned
//! ([`Element::number`]), so a stored composition never changes meaning.

use std::collections::BTreeMap;
use std::fmt;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::ids::Grams;
use super::material::Element;

/// Grams of each rare-earth element a batch contains (elemental basis). Validated at
/// construction: at least one element, every listed element at least one gram.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Composition(BTreeMap<Element, u64>);

/// Why a composition was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CompositionError {
    /// No element listed.
    #[error("a composition lists at least one element")]
    Empty,
    /// An element listed with zero grams.
    #[error("{element} is listed with 0 g; leave an element out to say it is absent")]
    ZeroGrams {
        /// The element.
        element: Element,
    },
}

impl Composition {
    /// A composition from (element, grams) pairs; zero grams and empty lists are refused.
    pub fn new(parts: BTreeMap<Element, u64>) -> Result<Composition, CompositionError> {
        if parts.is_empty() {
            return Err(CompositionError::Empty);
        }
        if let Some((element, _)) = parts.iter().find(|(_, g)| **g == 0) {
            return Err(CompositionError::ZeroGrams { element: *element });
        }
        Ok(Composition(parts))
    }

    /// Like [`Composition::new`], but drops zero parts and gives `None` for nothing left:
    /// for computed contents (a split's inherited composition).
    pub fn from_parts(parts: impl IntoIterator<Item = (Element, u64)>) -> Option<Composition> {
        let map: BTreeMap<Element, u64> = parts.into_iter().filter(|(_, g)| *g > 0).collect();
        (!map.is_empty()).then_some(Composition(map))
    }

    /// Grams of `element` (zero if not listed).
    pub fn grams(&self, element: Element) -> u64 {
        self.0.get(&element).copied().unwrap_or(0)
    }

    /// The listed elements and their grams, by pinned element order.
    pub fn iter(&self) -> impl Iterator<Item = (Element, u64)> + '_ {
        self.0.iter().map(|(e, g)| (*e, *g))
    }

    /// The listed elements.
    pub fn elements(&self) -> impl Iterator<Item = Element> + '_ {
        self.0.keys().copied()
    }

    /// Total rare-earth grams, exact (17 parts of 64 bits cannot overflow 128 bits).
    pub fn total(&self) -> u128 {
        self.0.values().map(|g| u128::from(*g)).sum()
    }

    /// Whether the total fits in `mass`.
    pub fn fits(&self, mass: Grams) -> bool {
        self.total() <= u128::from(mass.get())
    }
}

impl fmt::Debug for Composition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.0.iter()).finish()
    }
}

impl fmt::Display for Composition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (e, g) in &self.0 {
            if !first {
                f.write_str(", ")?;
            }
            first = false;
            write!(f, "{e} {g} g")?;
        }
        Ok(())
    }
}

impl Serialize for Composition {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

impl<'de> Deserialize<'de> for Composition {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let parts = BTreeMap::<Element, u64>::deserialize(d)?;
        Composition::new(parts).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_symbol_to_grams_and_strict() {
        let c: Composition = serde_json::from_str(r#"{"Nd": 58, "Pr": 19, "Dy": 3}"#).unwrap();
        assert_eq!(c.grams(Element::Nd), 58);
        assert_eq!(c.grams(Element::Tb), 0);
        assert_eq!(c.total(), 80);
        assert!(c.fits(Grams(80)) && !c.fits(Grams(79)));
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"Pr":19,"Nd":58,"Dy":3}"#
        );
        for bad in [
            r#"{}"#,
            r#"{"Nd": 0}"#,
            r#"{"Xx": 1}"#,
            r#"{"Nd": -1}"#,
            r#"{"Nd": 1.5}"#,
        ] {
            assert!(serde_json::from_str::<Composition>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn binary_form_uses_pinned_element_numbers() {
        let c = Composition::new([(Element::Nd, 5), (Element::Dy, 300)].into()).unwrap();
        let bytes = bincode::serde::encode_to_vec(&c, bincode::config::standard()).unwrap();
        // length 2; Nd = 3, 5; Dy = 9, 300 (varint 0xfb 0x2c 0x01).
        assert_eq!(bytes, [2, 3, 5, 9, 0xfb, 0x2c, 0x01]);
        let (back, _): (Composition, usize) =
            bincode::serde::decode_from_slice(&bytes, bincode::config::standard()).unwrap();
        assert_eq!(back, c);
    }
}
