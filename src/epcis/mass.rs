//! Masses between Lodestone's whole grams and EPCIS quantities, exactly (docs/EPCIS.md,
//! "Mass"). No float arithmetic: a quantity is read from its decimal text (as the JSON number is
//! written, exponent included) into an integer mantissa and a power of ten, and scaled to grams
//! by the unit; anything that is not a whole number of grams is refused, never rounded.
//!
//! Export writes kilograms (`KGM`) with at most three decimals (`1234567 g` → `1234.567`). A JSON
//! number is read as an IEEE double by most parsers, which holds every decimal of up to 15
//! significant digits exactly; masses of `10^15 g` (a billion tonnes) or more are written in
//! grams (`GRM`, an integer) instead, so that every exported mass reads back exactly.

use serde_json::Number;

/// Units of mass the import accepts (UN/ECE Recommendation 20 codes) and grams per unit.
pub const UNITS: &[(&str, u64)] = &[("GRM", 1), ("KGM", 1_000), ("TNE", 1_000_000)];

/// Below this many grams, export writes kilograms.
const KGM_LIMIT: u64 = 1_000_000_000_000_000;

/// Why a quantity is not a mass in whole grams.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MassError {
    /// The unit is not one of [`UNITS`].
    #[error("unit {uom:?} is not a mass unit this profile takes (KGM, TNE or GRM)")]
    Unit {
        /// The unit given.
        uom: String,
    },
    /// Negative, not a number, or too large.
    #[error("quantity {text} is not a non-negative mass below 2^64 g")]
    Range {
        /// The number as written.
        text: String,
    },
    /// A fraction of a gram.
    #[error("quantity {text} {uom} is not a whole number of grams")]
    Fraction {
        /// The number as written.
        text: String,
        /// Its unit.
        uom: String,
    },
}

/// The exported quantity and unit of `grams`.
pub fn export_quantity(grams: u64) -> (Number, &'static str) {
    if grams >= KGM_LIMIT {
        return (Number::from(grams), "GRM");
    }
    let (whole, milli) = (grams / 1000, grams % 1000);
    if milli == 0 {
        return (Number::from(whole), "KGM");
    }
    let text = format!("{whole}.{milli:03}");
    let text = text.trim_end_matches('0');
    // Fewer than 16 significant digits: the double nearest to the decimal prints back as it.
    let value: f64 = text.parse().unwrap_or(f64::NAN);
    match Number::from_f64(value) {
        Some(n) => (n, "KGM"),
        None => (Number::from(grams), "GRM"),
    }
}

/// The grams of a quantity written as `number` in unit `uom`.
pub fn import_grams(number: &Number, uom: &str) -> Result<u64, MassError> {
    let per_unit = UNITS
        .iter()
        .find(|(u, _)| *u == uom)
        .map(|(_, g)| *g)
        .ok_or_else(|| MassError::Unit {
            uom: uom.to_owned(),
        })?;
    let text = number.to_string();
    let range = || MassError::Range { text: text.clone() };
    let (mantissa, exponent) = decimal(&text).ok_or_else(range)?;
    // grams = mantissa × 10^exponent × per_unit, exactly.
    let mut value = mantissa
        .checked_mul(u128::from(per_unit))
        .ok_or_else(range)?;
    if exponent >= 0 {
        for _ in 0..exponent {
            value = value.checked_mul(10).ok_or_else(range)?;
        }
    } else {
        for _ in 0..exponent.unsigned_abs() {
            if value % 10 != 0 {
                return Err(MassError::Fraction {
                    text: text.clone(),
                    uom: uom.to_owned(),
                });
            }
            value /= 10;
        }
    }
    u64::try_from(value).map_err(|_| range())
}

/// A non-negative decimal `digits[.digits][e[+-]digits]` as mantissa × 10^exponent, trailing
/// zeros of the mantissa folded into the exponent.
fn decimal(text: &str) -> Option<(u128, i32)> {
    let (number, exp) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i32>().ok()?),
        None => (text, 0),
    };
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty()
        || !whole
            .bytes()
            .chain(fraction.bytes())
            .all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let digits = format!("{whole}{fraction}");
    let digits = digits.trim_start_matches('0');
    let mut exponent = exp.checked_sub(i32::try_from(fraction.len()).ok()?)?;
    let trimmed = digits.trim_end_matches('0');
    exponent = exponent.checked_add(i32::try_from(digits.len() - trimmed.len()).ok()?)?;
    if trimmed.is_empty() {
        return Some((0, 0));
    }
    if trimmed.len() > 38 || !(-64..=64).contains(&exponent) {
        return None;
    }
    Some((trimmed.parse().ok()?, exponent))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(text: &str) -> Number {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn grams_to_kilograms_exactly() {
        assert_eq!(export_quantity(1_234_567).0.to_string(), "1234.567");
        assert_eq!(export_quantity(1_234_500).0.to_string(), "1234.5");
        assert_eq!(export_quantity(40_000_000_000).0.to_string(), "40000000");
        assert_eq!(export_quantity(1).0.to_string(), "0.001");
        assert_eq!(
            export_quantity(999_999_999_999_999).0.to_string(),
            "999999999999.999"
        );
        assert_eq!(export_quantity(KGM_LIMIT), (Number::from(KGM_LIMIT), "GRM"));
        assert_eq!(export_quantity(u64::MAX).1, "GRM");
    }

    #[test]
    fn every_exported_mass_reads_back() {
        let samples = [
            0,
            1,
            7,
            999,
            1000,
            1001,
            1_234_567,
            40_000_000_001,
            123_456_789_012_345,
        ];
        for g in samples
            .into_iter()
            .chain((0..2000).map(|i| i * 7_919_000_013 % KGM_LIMIT))
        {
            let (n, uom) = export_quantity(g);
            // Through JSON text, as a client reads it.
            let back: Number = serde_json::from_str(&serde_json::to_string(&n).unwrap()).unwrap();
            assert_eq!(import_grams(&back, uom), Ok(g), "{g} g as {n} {uom}");
        }
    }

    #[test]
    fn units_and_refusals() {
        assert_eq!(import_grams(&num("1.5"), "TNE"), Ok(1_500_000));
        assert_eq!(import_grams(&num("2"), "GRM"), Ok(2));
        assert_eq!(import_grams(&num("1e3"), "KGM"), Ok(1_000_000));
        assert_eq!(import_grams(&num("2.5E-2"), "KGM"), Ok(25));
        assert!(matches!(
            import_grams(&num("0.0005"), "KGM"),
            Err(MassError::Fraction { .. })
        ));
        assert!(matches!(
            import_grams(&num("1.5"), "GRM"),
            Err(MassError::Fraction { .. })
        ));
        assert!(matches!(
            import_grams(&num("-1"), "KGM"),
            Err(MassError::Range { .. })
        ));
        assert!(matches!(
            import_grams(&num("1e30"), "KGM"),
            Err(MassError::Range { .. })
        ));
        assert!(matches!(
            import_grams(&num("1"), "LBR"),
            Err(MassError::Unit { .. })
        ));
    }
}
