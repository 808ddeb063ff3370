//! EPC URIs to canonical GS1 Digital Link URIs, for the event hash (CBV 2.0 §8.9, rule "EPC
//! URIs … SHALL be converted into the corresponding canonical GS1 Digital Link URI"; GS1 Digital
//! Link URI Syntax 1.2 §4.11; EPC Tag Data Standard 2.0 §6–7 for the EPC URI grammar).
//!
//! Covered: `sgtin`, `sscc`, `sgln`, `pgln`, `grai`, `giai`, `gsrn`, `gsrnp`, `gdti`, `sgcn`
//! (`urn:epc:id:…`), `lgtin` and `sgtin` classes (`urn:epc:class:…`, `urn:epc:idpat:sgtin:…`).
//! Other schemes are left as they are (docs/EPCIS.md says so). Serials are copied as written in
//! the EPC URI. A GS1 Digital Link URI on another domain is moved to `https://id.gs1.org` and its
//! query string dropped.

/// The GS1 check digit of `digits` (the digits before it): weights 3, 1, 3, … from the right.
pub fn check_digit(digits: &str) -> Option<char> {
    let mut sum = 0u32;
    for (i, c) in digits.bytes().rev().enumerate() {
        if !c.is_ascii_digit() {
            return None;
        }
        let d = u32::from(c - b'0');
        sum += if i % 2 == 0 { 3 * d } else { d };
    }
    char::from_digit((10 - sum % 10) % 10, 10)
}

fn with_check(digits: String) -> Option<String> {
    let c = check_digit(&digits)?;
    Some(format!("{digits}{c}"))
}

fn all_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// GTIN-14 from company prefix and indicator+item reference (13 digits together).
fn gtin(company: &str, indicator_item: &str) -> Option<String> {
    if !all_digits(company)
        || !all_digits(indicator_item)
        || company.len() + indicator_item.len() != 13
    {
        return None;
    }
    let (indicator, item) = indicator_item.split_at(1);
    with_check(format!("{indicator}{company}{item}"))
}

/// A 12-digit key body + check digit (GLN, GDTI/GRAI bases).
fn gln(company: &str, reference: &str) -> Option<String> {
    if !all_digits(company)
        || !reference.bytes().all(|b| b.is_ascii_digit())
        || company.len() + reference.len() != 12
    {
        return None;
    }
    with_check(format!("{company}{reference}"))
}

/// The canonical GS1 Digital Link URI of an EPC URI, or `None` if it is not one this module
/// converts.
pub fn epc_to_digital_link(uri: &str) -> Option<String> {
    const DL: &str = "https://id.gs1.org";
    if let Some(rest) = uri.strip_prefix("urn:epc:id:") {
        let (scheme, body) = rest.split_once(':')?;
        let parts: Vec<&str> = body.split('.').collect();
        return match (scheme, parts.as_slice()) {
            ("sgtin", [c, i, serial]) => Some(format!("{DL}/01/{}/21/{serial}", gtin(c, i)?)),
            ("sscc", [c, s]) => {
                if !all_digits(c) || !all_digits(s) || c.len() + s.len() != 17 {
                    return None;
                }
                let (ext, serial) = s.split_at(1);
                Some(format!(
                    "{DL}/00/{}",
                    with_check(format!("{ext}{c}{serial}"))?
                ))
            }
            ("sgln", [c, l, ext]) => {
                let g = gln(c, l)?;
                Some(if *ext == "0" {
                    format!("{DL}/414/{g}")
                } else {
                    format!("{DL}/414/{g}/254/{ext}")
                })
            }
            ("pgln", [c, p]) => Some(format!("{DL}/417/{}", gln(c, p)?)),
            ("grai", [c, a, serial]) => Some(format!("{DL}/8003/0{}{serial}", gln(c, a)?)),
            ("giai", [c, a]) if all_digits(c) => Some(format!("{DL}/8004/{c}{a}")),
            ("gsrn", [c, s]) | ("gsrnp", [c, s]) => {
                if !all_digits(c) || !all_digits(s) || c.len() + s.len() != 17 {
                    return None;
                }
                let ai = if scheme == "gsrn" { "8018" } else { "8017" };
                Some(format!("{DL}/{ai}/{}", with_check(format!("{c}{s}"))?))
            }
            ("gdti", [c, d, serial]) => Some(format!("{DL}/253/{}{serial}", gln(c, d)?)),
            ("sgcn", [c, d, serial]) => Some(format!("{DL}/255/{}{serial}", gln(c, d)?)),
            _ => None,
        };
    }
    if let Some(rest) = uri.strip_prefix("urn:epc:class:lgtin:") {
        let parts: Vec<&str> = rest.split('.').collect();
        if let [c, i, lot] = parts.as_slice() {
            return Some(format!("{DL}/01/{}/10/{lot}", gtin(c, i)?));
        }
        return None;
    }
    if let Some(rest) = uri.strip_prefix("urn:epc:idpat:sgtin:") {
        let parts: Vec<&str> = rest.split('.').collect();
        if let [c, i, "*"] = parts.as_slice() {
            return Some(format!("{DL}/01/{}", gtin(c, i)?));
        }
        return None;
    }
    None
}

/// Primary-key application identifiers and the length of their numeric value (0: variable).
const PRIMARY_KEYS: &[(&str, usize)] = &[
    ("00", 18),
    ("01", 14),
    ("253", 0),
    ("255", 0),
    ("401", 0),
    ("402", 17),
    ("414", 13),
    ("417", 13),
    ("8003", 0),
    ("8004", 0),
    ("8006", 18),
    ("8010", 0),
    ("8017", 18),
    ("8018", 18),
];

/// A GS1 Digital Link URI on any domain, constrained to its canonical form: `https://id.gs1.org`,
/// no query string. `None` when `uri` is not a Digital Link URI whose path starts with a primary
/// key.
pub fn constrain_digital_link(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("https://")
        .or_else(|| uri.strip_prefix("http://"))?;
    let (host, path) = rest.split_once('/')?;
    if host == "id.gs1.org" && !path.contains('?') && uri.starts_with("https://") {
        return None; // already canonical
    }
    let path = path.split(['?', '#']).next()?;
    let mut segments = path.split('/');
    let ai = segments.next()?;
    let value = segments.next()?;
    let (_, len) = PRIMARY_KEYS.iter().find(|(k, _)| *k == ai)?;
    if *len != 0 && (value.len() != *len || !all_digits(value)) {
        return None;
    }
    Some(format!("https://id.gs1.org/{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn examples_from_the_reference_pre_hashes() {
        let cases = [
            (
                "urn:epc:id:sscc:4012345.0000000333",
                "https://id.gs1.org/00/040123450000003338",
            ),
            (
                "urn:epc:id:sgln:4012345.00011.987",
                "https://id.gs1.org/414/4012345000115/254/987",
            ),
            (
                "urn:epc:id:sgln:4012345.00005.0",
                "https://id.gs1.org/414/4012345000054",
            ),
            (
                "urn:epc:id:sgtin:0614141.011111.987",
                "https://id.gs1.org/01/00614141111114/21/987",
            ),
            (
                "urn:epc:id:sgtin:4012345.011111.9876",
                "https://id.gs1.org/01/04012345111118/21/9876",
            ),
            (
                "urn:epc:id:pgln:4012345.00000",
                "https://id.gs1.org/417/4012345000009",
            ),
            (
                "urn:epc:id:gdti:4012345.11111.123",
                "https://id.gs1.org/253/4012345111118123",
            ),
            (
                "urn:epc:id:giai:4000001.111",
                "https://id.gs1.org/8004/4000001111",
            ),
            (
                "urn:epc:class:lgtin:4054739.099914.20160711",
                "https://id.gs1.org/01/04054739999148/10/20160711",
            ),
        ];
        for (epc, dl) in cases {
            assert_eq!(epc_to_digital_link(epc).as_deref(), Some(dl), "{epc}");
        }
        assert_eq!(epc_to_digital_link("urn:epc:id:sgtin:12.3.4"), None);
        assert_eq!(epc_to_digital_link("https://example.com/x"), None);
    }

    #[test]
    fn digital_links_are_constrained() {
        assert_eq!(
            constrain_digital_link("https://example.com/01/04012345111118/21/9876?x=1").as_deref(),
            Some("https://id.gs1.org/01/04012345111118/21/9876")
        );
        assert_eq!(
            constrain_digital_link("https://id.gs1.org/01/04012345111118"),
            None
        );
        assert_eq!(
            constrain_digital_link("https://lodestone.example/batches/MP-1"),
            None
        );
    }
}
