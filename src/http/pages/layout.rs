//! The frame every page shares and the formatting rules people read: HTML escaping (every
//! value from the ledger passes through [`esc`]), path-segment encoding, one unit for masses
//! (kilograms with thousands separators), dates in UTC, country names, and the HTML response
//! with its status. The stylesheet is embedded, so the pages work without any other server.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

/// The console's stylesheet (embedded: no external assets).
const CSS: &str = include_str!("assets/console.css");

/// Escapes text for HTML element content and attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Percent-encodes an id for a path segment or a query value.
pub fn seg(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// The JSON name of a domain enum (`magnet_maker`, `separation`, `oxide`), in words
/// (`magnet maker`).
pub fn words<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(|s| s.replace('_', " ")))
        .unwrap_or_default()
}

/// An integer with thousands separators: `1234567` → `1,234,567`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A mass, always in kilograms (one unit on every page, so figures compare at a glance), with
/// thousands separators and the grams as decimals only when there are any: `190,000 kg`,
/// `1.5 kg` → `1.500 kg`.
pub fn kg(grams: u64) -> String {
    let whole = thousands(grams / 1000);
    match grams % 1000 {
        0 => format!("{whole} kg"),
        rest => format!("{whole}.{rest:03} kg"),
    }
}

/// A share as a percentage with one decimal (`30.0 %`); shares below 0.05 % but above zero say
/// so instead of rounding to nothing.
pub fn percent(share: f64) -> String {
    let p = share * 100.0;
    if p > 0.0 && p < 0.05 {
        "< 0.1 %".to_owned()
    } else {
        format!("{p:.1} %")
    }
}

/// An RFC 3339 time as people read it: `2026-11-29 14:03 UTC` (the ledger's times are UTC).
pub fn date(rfc3339: &str) -> String {
    match chrono::DateTime::parse_from_rfc3339(rfc3339) {
        Ok(t) => t
            .with_timezone(&chrono::Utc)
            .format("%Y-%m-%d %H:%M UTC")
            .to_string(),
        Err(_) => rfc3339.to_owned(),
    }
}

/// The English short name of an ISO 3166-1 alpha-2 code, or the code itself if it is not in
/// the table (the ledger accepts every well-formed code).
pub fn country(code: &str) -> String {
    COUNTRIES
        .iter()
        .find(|(c, _)| *c == code)
        .map_or_else(|| code.to_owned(), |(_, name)| (*name).to_owned())
}

/// Countries a rare-earth supply chain passes through (mining, processing, magnets, products,
/// recycling, certification), by ISO 3166-1 alpha-2 code.
const COUNTRIES: &[(&str, &str)] = &[
    ("AE", "United Arab Emirates"),
    ("AR", "Argentina"),
    ("AT", "Austria"),
    ("AU", "Australia"),
    ("BD", "Bangladesh"),
    ("BE", "Belgium"),
    ("BI", "Burundi"),
    ("BR", "Brazil"),
    ("CA", "Canada"),
    ("CH", "Switzerland"),
    ("CL", "Chile"),
    ("CN", "China"),
    ("CZ", "Czechia"),
    ("DE", "Germany"),
    ("DK", "Denmark"),
    ("EE", "Estonia"),
    ("ES", "Spain"),
    ("FI", "Finland"),
    ("FR", "France"),
    ("GB", "United Kingdom"),
    ("GL", "Greenland"),
    ("HK", "Hong Kong"),
    ("HU", "Hungary"),
    ("ID", "Indonesia"),
    ("IE", "Ireland"),
    ("IL", "Israel"),
    ("IN", "India"),
    ("IT", "Italy"),
    ("JP", "Japan"),
    ("KE", "Kenya"),
    ("KR", "South Korea"),
    ("KZ", "Kazakhstan"),
    ("LA", "Laos"),
    ("LK", "Sri Lanka"),
    ("MG", "Madagascar"),
    ("MM", "Myanmar"),
    ("MN", "Mongolia"),
    ("MW", "Malawi"),
    ("MX", "Mexico"),
    ("MY", "Malaysia"),
    ("MZ", "Mozambique"),
    ("NA", "Namibia"),
    ("NL", "Netherlands"),
    ("NO", "Norway"),
    ("NZ", "New Zealand"),
    ("PH", "Philippines"),
    ("PK", "Pakistan"),
    ("PL", "Poland"),
    ("PT", "Portugal"),
    ("RO", "Romania"),
    ("RU", "Russia"),
    ("SA", "Saudi Arabia"),
    ("SE", "Sweden"),
    ("SG", "Singapore"),
    ("SK", "Slovakia"),
    ("TH", "Thailand"),
    ("TR", "Türkiye"),
    ("TW", "Taiwan"),
    ("TZ", "Tanzania"),
    ("UA", "Ukraine"),
    ("UG", "Uganda"),
    ("US", "United States"),
    ("UZ", "Uzbekistan"),
    ("VN", "Viet Nam"),
    ("ZA", "South Africa"),
];

/// The search box every page carries.
pub fn search_form(value: &str) -> String {
    format!(
        "<form class=\"search\" action=\"/search\" role=\"search\">\
         <label for=\"q\">Search batches, companies, sites, products</label>\
         <div><input id=\"q\" name=\"q\" value=\"{}\" placeholder=\"e.g. magnet, Lynas, Mount Weld, JP-MAG\">\
         <button>Search</button></div></form>",
        esc(value)
    )
}

/// A whole page: `title` (plain text) and `body` (HTML, already escaped), with an optional
/// script (embedded) at the end.
pub fn page(status: StatusCode, title: &str, body: &str, script: Option<&str>) -> Response {
    let script = script
        .map(|s| format!("<script>{s}</script>"))
        .unwrap_or_default();
    let html = format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{title} · Lodestone</title><style>{CSS}</style></head><body>\
         <a class=\"skip\" href=\"#main\">Skip to content</a>\
         <header><nav aria-label=\"Site\"><a href=\"/\">Lodestone</a><a href=\"/batches\">Batches</a>\
         <a href=\"/actors\">Companies</a><a href=\"/log\">Log</a></nav></header>\
         <main id=\"main\">{body}</main>\
         <footer><p>Every figure here is read from a signed, append-only log; the JSON API is under \
         <a href=\"/v1/log\">/v1</a>. Check a batch yourself with its offline bundle.</p></footer>\
         {script}</body></html>",
        title = esc(title),
    );
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        html,
    )
        .into_response()
}

/// The page for something that is not there: says what was asked, and offers a search.
pub fn not_found(what: &str, asked: &str) -> Response {
    let body = format!(
        "<h1>Not found</h1><p>There is no {} <code class=\"id\">{}</code> in this ledger.</p>\
         <p>Ids are case-sensitive and have no spaces; search finds partial names and ids.</p>{}",
        esc(what),
        esc(asked),
        search_form(asked.trim()),
    );
    page(StatusCode::NOT_FOUND, "Not found", &body, None)
}

/// An HTML error page for a failure on the server's side (the detail is logged, not shown).
pub fn failed(error: impl std::fmt::Display) -> Response {
    tracing::error!(%error, "page failed");
    page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Error",
        "<h1>Something went wrong</h1><p>The server could not build this page. The JSON API and \
         the offline bundle may still answer.</p>",
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masses_are_kilograms_with_separators() {
        assert_eq!(kg(190_000_000), "190,000 kg");
        assert_eq!(kg(1_500), "1.500 kg");
        assert_eq!(kg(7), "0.007 kg");
        assert_eq!(kg(0), "0 kg");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(100), "100");
    }

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\">'&'</a>"),
            "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;"
        );
        assert_eq!(seg("JP/MAG 1"), "JP%2FMAG%201");
    }

    #[test]
    fn countries_and_dates_read_as_words() {
        assert_eq!(country("JP"), "Japan");
        assert_eq!(country("QQ"), "QQ");
        assert_eq!(date("2026-11-29T14:03:05Z"), "2026-11-29 14:03 UTC");
        assert_eq!(percent(0.3), "30.0 %");
        assert_eq!(percent(0.0001), "< 0.1 %");
    }
}
