//! The EPCIS 2.0 REST query interface's `events` resource, as far as it applies to Lodestone
//! (docs/EPCIS.md, "Query"): the parameters `eventType`, `GE_eventTime`, `LT_eventTime`,
//! `EQ_bizStep`, `MATCH_anyEPCClass`, `EQ_bizLocation`, `perPage` and `nextPageToken`. Lists are
//! separated by `|`, as in the EPCIS 2.0 REST binding. Unknown or repeated parameters are
//! refused, as on every `/v1` route. Matching works on the exported EPCIS event.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::vocab::cbv_word;

/// Every parameter the events resource takes.
pub const PARAMETERS: &[&str] = &[
    "eventType",
    "GE_eventTime",
    "LT_eventTime",
    "EQ_bizStep",
    "MATCH_anyEPCClass",
    "EQ_bizLocation",
    "perPage",
    "nextPageToken",
];
/// Events per page when `perPage` is not given.
pub const DEFAULT_PER_PAGE: usize = 100;
/// The largest `perPage`.
pub const MAX_PER_PAGE: usize = 1000;

/// Why a query string is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// A parameter this resource does not know.
    #[error("unknown parameter {name:?}; this resource takes eventType, GE_eventTime, LT_eventTime, EQ_bizStep, MATCH_anyEPCClass, EQ_bizLocation, perPage, nextPageToken")]
    Unknown {
        /// The parameter.
        name: String,
    },
    /// A parameter given twice.
    #[error("parameter {name} is given more than once (separate several values with |)")]
    Repeated {
        /// The parameter.
        name: String,
    },
    /// A value that does not parse.
    #[error("{name}={value:?}: {why}")]
    Value {
        /// The parameter.
        name: &'static str,
        /// Its value.
        value: String,
        /// What is wrong.
        why: &'static str,
    },
}

/// A parsed query.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventQuery {
    /// `eventType`: any of these (empty: all).
    pub event_types: Vec<String>,
    /// `GE_eventTime`.
    pub from: Option<DateTime<Utc>>,
    /// `LT_eventTime`.
    pub until: Option<DateTime<Utc>>,
    /// `EQ_bizStep`, as bare CBV words or URIs.
    pub biz_steps: Vec<String>,
    /// `MATCH_anyEPCClass`: class identifiers, a trailing `*` matches any continuation.
    pub epc_classes: Vec<String>,
    /// `EQ_bizLocation`.
    pub biz_locations: Vec<String>,
    /// `perPage`.
    pub per_page: usize,
    /// `nextPageToken`: the entry index to continue from.
    pub next: Option<u64>,
}

const EVENT_TYPES: &[&str] = &[
    "ObjectEvent",
    "AggregationEvent",
    "TransactionEvent",
    "TransformationEvent",
    "AssociationEvent",
];

impl EventQuery {
    /// Parses the query string's pairs.
    pub fn parse(pairs: &[(String, String)]) -> Result<EventQuery, QueryError> {
        let mut q = EventQuery {
            per_page: DEFAULT_PER_PAGE,
            ..EventQuery::default()
        };
        let mut seen: Vec<&str> = Vec::new();
        for (name, value) in pairs {
            if seen.contains(&name.as_str()) {
                return Err(QueryError::Repeated { name: name.clone() });
            }
            seen.push(name);
            let list = || value.split('|').map(str::to_owned).collect::<Vec<_>>();
            match name.as_str() {
                "eventType" => {
                    q.event_types = list();
                    if let Some(bad) = q
                        .event_types
                        .iter()
                        .find(|t| !EVENT_TYPES.contains(&t.as_str()))
                    {
                        return Err(QueryError::Value {
                            name: "eventType",
                            value: bad.clone(),
                            why: "not an EPCIS 2.0 event type",
                        });
                    }
                }
                "GE_eventTime" => q.from = Some(time("GE_eventTime", value)?),
                "LT_eventTime" => q.until = Some(time("LT_eventTime", value)?),
                "EQ_bizStep" => q.biz_steps = list(),
                "MATCH_anyEPCClass" => q.epc_classes = list(),
                "EQ_bizLocation" => q.biz_locations = list(),
                "perPage" => {
                    q.per_page = value
                        .parse::<usize>()
                        .ok()
                        .filter(|n| (1..=MAX_PER_PAGE).contains(n))
                        .ok_or_else(|| QueryError::Value {
                            name: "perPage",
                            value: value.clone(),
                            why: "must be a whole number from 1 to 1000",
                        })?;
                }
                "nextPageToken" => {
                    q.next = Some(value.parse::<u64>().map_err(|_| QueryError::Value {
                        name: "nextPageToken",
                        value: value.clone(),
                        why: "not a token this server issued",
                    })?);
                }
                _ => return Err(QueryError::Unknown { name: name.clone() }),
            }
        }
        Ok(q)
    }

    /// Whether an exported EPCIS event matches every parameter given.
    pub fn matches(&self, event: &Map<String, Value>) -> bool {
        let text = |k: &str| event.get(k).and_then(Value::as_str);
        if !self.event_types.is_empty()
            && !text("type").is_some_and(|t| self.event_types.iter().any(|x| x == t))
        {
            return false;
        }
        if self.from.is_some() || self.until.is_some() {
            let Some(at) = text("eventTime").and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            else {
                return false;
            };
            let at = at.with_timezone(&Utc);
            if self.from.is_some_and(|f| at < f) || self.until.is_some_and(|u| at >= u) {
                return false;
            }
        }
        if !self.biz_steps.is_empty() {
            let step =
                text("bizStep").map(|s| cbv_word(s, "bizstep").unwrap_or_else(|| s.to_owned()));
            let wanted = |w: &String| cbv_word(w, "bizstep").unwrap_or_else(|| w.clone());
            if !step.is_some_and(|s| self.biz_steps.iter().any(|w| wanted(w) == s)) {
                return false;
            }
        }
        if !self.biz_locations.is_empty() {
            let location = event
                .get("bizLocation")
                .and_then(|l| l.get("id"))
                .and_then(Value::as_str);
            if !location.is_some_and(|l| self.biz_locations.iter().any(|w| w == l)) {
                return false;
            }
        }
        if !self.epc_classes.is_empty() {
            let classes = [
                "quantityList",
                "inputQuantityList",
                "outputQuantityList",
                "childQuantityList",
            ]
            .iter()
            .filter_map(|k| event.get(*k).and_then(Value::as_array))
            .flatten()
            .filter_map(|q| q.get("epcClass").and_then(Value::as_str));
            let mut any = false;
            for class in classes {
                if self.epc_classes.iter().any(|p| match p.strip_suffix('*') {
                    Some(stem) => class.starts_with(stem),
                    None => class == p,
                }) {
                    any = true;
                    break;
                }
            }
            if !any {
                return false;
            }
        }
        true
    }
}

fn time(name: &'static str, value: &str) -> Result<DateTime<Utc>, QueryError> {
    DateTime::parse_from_rfc3339(value)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| QueryError::Value {
            name,
            value: value.to_owned(),
            why: "not an RFC 3339 date-time (for example 2026-03-01T00:00:00Z)",
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn q(pairs: &[(&str, &str)]) -> Result<EventQuery, QueryError> {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect();
        EventQuery::parse(&pairs)
    }

    #[test]
    fn parameters_parse_and_refuse() {
        let query = q(&[
            ("eventType", "ObjectEvent|TransformationEvent"),
            ("perPage", "1000"),
        ])
        .unwrap();
        assert_eq!(query.event_types.len(), 2);
        assert_eq!(query.per_page, 1000);
        assert!(matches!(
            q(&[("perPage", "1001")]),
            Err(QueryError::Value { .. })
        ));
        assert!(matches!(
            q(&[("perPage", "0")]),
            Err(QueryError::Value { .. })
        ));
        assert!(matches!(
            q(&[("foo", "1")]),
            Err(QueryError::Unknown { .. })
        ));
        assert!(matches!(
            q(&[("EQ_bizStep", "a"), ("EQ_bizStep", "b")]),
            Err(QueryError::Repeated { .. })
        ));
        assert!(matches!(
            q(&[("GE_eventTime", "yesterday")]),
            Err(QueryError::Value { .. })
        ));
        assert!(matches!(
            q(&[("eventType", "Event")]),
            Err(QueryError::Value { .. })
        ));
        assert!(matches!(
            q(&[("nextPageToken", "x")]),
            Err(QueryError::Value { .. })
        ));
    }

    #[test]
    fn matching() {
        let event = json!({
            "type": "ObjectEvent", "eventTime": "2026-03-01T10:00:00Z", "bizStep": "shipping",
            "quantityList": [{"epcClass": "https://l.example/batches/MP-1"}],
            "bizLocation": {"id": "https://l.example/sites/mp"}
        });
        let e = event.as_object().unwrap();
        assert!(q(&[("eventType", "ObjectEvent")]).unwrap().matches(e));
        assert!(!q(&[("eventType", "TransformationEvent")])
            .unwrap()
            .matches(e));
        assert!(q(&[("EQ_bizStep", "urn:epcglobal:cbv:bizstep:shipping")])
            .unwrap()
            .matches(e));
        assert!(!q(&[("EQ_bizStep", "receiving")]).unwrap().matches(e));
        assert!(q(&[("GE_eventTime", "2026-03-01T10:00:00Z")])
            .unwrap()
            .matches(e));
        assert!(!q(&[("LT_eventTime", "2026-03-01T10:00:00Z")])
            .unwrap()
            .matches(e));
        assert!(
            q(&[("MATCH_anyEPCClass", "https://l.example/batches/MP-*")])
                .unwrap()
                .matches(e)
        );
        assert!(
            !q(&[("MATCH_anyEPCClass", "https://l.example/batches/MP-2")])
                .unwrap()
                .matches(e)
        );
        assert!(q(&[("EQ_bizLocation", "https://l.example/sites/mp")])
            .unwrap()
            .matches(e));
        assert!(!q(&[("EQ_bizLocation", "https://l.example/sites/x")])
            .unwrap()
            .matches(e));
    }
}
