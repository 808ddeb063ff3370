//! The strict two-step parse of event payload v1: JSON text to a value tree that rejects
//! duplicate keys, then field by field into [`Event`], tracking the field path for errors and
//! rejecting `null`, unknown fields and unknown kinds.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{DeserializeOwned, Error as _, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Number, Value};

use crate::model::composition::Composition;
use crate::model::ids::Grams;
use crate::model::material::{Claim, Element};

use super::limits::{MAX_ITEMS, MAX_KEYS, MAX_PREFIXES, MAX_SITES};
use super::{
    Additive, Certify, Event, EventBody, Extract, Genesis, Receive, RegisterActor, Retire,
    RevokeKey, Ship, SiteDeclaration, Transform, TransformInput, TransformOutput, UpdateActor,
    KIND_NAMES,
};

/// Why an event payload was rejected before it reached the ledger rules. Paths look like
/// `outputs[1].mass_g`; the root object is `(event)`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not JSON, trailing bytes, or a duplicate key (`message` has serde_json's position).
    #[error("event is not valid JSON: {message}")]
    Syntax {
        /// serde_json's message, with its position.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// `kind` is not one of [`KIND_NAMES`].
    #[error("unknown event kind {kind:?}; expected one of: {}", KIND_NAMES.join(", "))]
    UnknownKind {
        /// The kind given (truncated to 64 characters).
        kind: String,
    },
    /// A required field is absent.
    #[error("missing field `{path}`")]
    MissingField {
        /// Where.
        path: String,
    },
    /// A field this kind does not have.
    #[error("unknown field `{path}`; expected one of: {}", expected.join(", "))]
    UnknownField {
        /// Where.
        path: String,
        /// The fields allowed at that place.
        expected: &'static [&'static str],
    },
    /// A field of the wrong type or with an invalid value.
    #[error("invalid `{path}`: {message}")]
    InvalidField {
        /// Where.
        path: String,
        /// What is wrong (serde's message, or ours).
        message: String,
    },
    /// A list longer than the limit.
    #[error("`{path}` has {count} items; at most {max} are allowed")]
    TooMany {
        /// Where.
        path: String,
        /// How many were given.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// A text too short or too long.
    #[error("`{path}` has {len} characters; {min} to {max} are allowed")]
    Length {
        /// Where.
        path: String,
        /// Its length in characters.
        len: usize,
        /// The minimum.
        min: usize,
        /// The maximum.
        max: usize,
    },
}

/// A JSON value parsed with duplicate object keys rejected. serde_json's own `Value` silently
/// keeps the last duplicate, and two verifiers could then read one signed payload differently.
pub(crate) struct StrictValue(pub Value);

impl<'de> Deserialize<'de> for StrictValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(StrictValue)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number out of range"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(StrictValue(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(A::Error::custom(format_args!("duplicate field `{key}`")));
            }
            let StrictValue(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

fn syntax(e: serde_json::Error) -> EventError {
    EventError::Syntax {
        message: e.to_string(),
        line: e.line(),
        column: e.column(),
    }
}

/// Step one and two: bytes to value tree to event.
pub(super) fn parse(bytes: &[u8]) -> Result<Event, EventError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let StrictValue(value) = StrictValue::deserialize(&mut de).map_err(syntax)?;
    de.end().map_err(syntax)?;
    from_value(value)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// The fields of one JSON object, taken out one by one; what is left at the end is unknown.
pub(super) struct Fields {
    path: String,
    map: Map<String, Value>,
}

impl Fields {
    fn object(path: String, value: Value) -> Result<Fields, EventError> {
        match value {
            Value::Object(map) => Ok(Fields { path, map }),
            other => Err(EventError::InvalidField {
                message: format!("expected an object, found {}", type_name(&other)),
                path,
            }),
        }
    }

    fn child(&self, name: &str) -> String {
        if self.path == ROOT {
            name.to_owned()
        } else {
            format!("{}.{name}", self.path)
        }
    }

    fn take(&mut self, name: &str) -> Result<Option<(String, Value)>, EventError> {
        match self.map.remove(name) {
            None => Ok(None),
            Some(Value::Null) => Err(EventError::InvalidField {
                path: self.child(name),
                message: "null is not allowed; leave the field out instead".to_owned(),
            }),
            Some(v) => Ok(Some((self.child(name), v))),
        }
    }

    pub(super) fn required<T: DeserializeOwned>(&mut self, name: &str) -> Result<T, EventError> {
        match self.take(name)? {
            Some((path, v)) => convert(path, v),
            None => Err(EventError::MissingField {
                path: self.child(name),
            }),
        }
    }

    pub(super) fn optional<T: DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> Result<Option<T>, EventError> {
        self.take(name)?
            .map(|(path, v)| convert(path, v))
            .transpose()
    }

    /// A list; absent means empty unless `required`. The length limit is checked before any
    /// item is parsed.
    fn list<T>(
        &mut self,
        name: &str,
        required: bool,
        max: usize,
        mut item: impl FnMut(String, Value) -> Result<T, EventError>,
    ) -> Result<Vec<T>, EventError> {
        let Some((path, v)) = self.take(name)? else {
            return if required {
                Err(EventError::MissingField {
                    path: self.child(name),
                })
            } else {
                Ok(Vec::new())
            };
        };
        let Value::Array(items) = v else {
            return Err(EventError::InvalidField {
                message: format!("expected an array, found {}", type_name(&v)),
                path,
            });
        };
        if items.len() > max {
            return Err(EventError::TooMany {
                path,
                count: items.len(),
                max,
            });
        }
        items
            .into_iter()
            .enumerate()
            .map(|(i, v)| item(format!("{path}[{i}]"), v))
            .collect()
    }

    /// A list of distinct values (roles, elements): a repeated value is an error.
    pub(super) fn set<T: DeserializeOwned + Ord + fmt::Display>(
        &mut self,
        name: &str,
        required: bool,
    ) -> Result<Option<BTreeSet<T>>, EventError> {
        self.set_of_at_most(name, required, MAX_ITEMS)
    }

    /// [`Fields::set`] with its own length limit.
    fn set_of_at_most<T: DeserializeOwned + Ord + fmt::Display>(
        &mut self,
        name: &str,
        required: bool,
        max: usize,
    ) -> Result<Option<BTreeSet<T>>, EventError> {
        if !required && !self.map.contains_key(name) {
            return Ok(None);
        }
        let mut out = BTreeSet::new();
        let items = self.list(name, required, max, |path, v| {
            convert::<T>(path.clone(), v).map(|t| (path, t))
        })?;
        for (path, t) in items {
            let message = format!("{t} is listed twice");
            if !out.insert(t) {
                return Err(EventError::InvalidField { path, message });
            }
        }
        Ok(Some(out))
    }

    pub(super) fn finish(self, expected: &'static [&'static str]) -> Result<(), EventError> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(name) => Err(EventError::UnknownField {
                path: self.child(name),
                expected,
            }),
        }
    }
}

const ROOT: &str = "(event)";

/// The fields of a `genesis` event: the common ones without `log` (its `origin` names the log).
pub(super) const GENESIS_FIELDS: &[&str] = &[
    "kind",
    "id",
    "actor",
    "occurred_at",
    "origin",
    "name",
    "country",
    "public_key",
    "backfill_days",
];

fn convert<T: DeserializeOwned>(path: String, v: Value) -> Result<T, EventError> {
    serde_json::from_value(v).map_err(|e| EventError::InvalidField {
        path,
        message: e.to_string(),
    })
}

fn site(path: String, v: Value) -> Result<SiteDeclaration, EventError> {
    let mut f = Fields::object(path, v)?;
    let site = SiteDeclaration {
        id: f.required("id")?,
        name: f.required("name")?,
        country: f.required("country")?,
        kind: f.required("kind")?,
    };
    f.finish(&["id", "name", "country", "kind"])?;
    Ok(site)
}

fn input(path: String, v: Value) -> Result<TransformInput, EventError> {
    let mut f = Fields::object(path, v)?;
    let input = TransformInput {
        batch: f.required("batch")?,
        mass_g: f.required("mass_g")?,
    };
    f.finish(&["batch", "mass_g"])?;
    Ok(input)
}

fn output(path: String, v: Value) -> Result<TransformOutput, EventError> {
    let mut f = Fields::object(path, v)?;
    let output = TransformOutput {
        batch: f.required("batch")?,
        form: f.required("form")?,
        mass_g: f.required("mass_g")?,
        elements: f.set("elements", false)?.unwrap_or_default(),
        composition: f.optional("composition")?,
    };
    let path = f.path.clone();
    f.finish(&["batch", "form", "mass_g", "elements", "composition"])?;
    check_composition(
        &path,
        &output.elements,
        output.composition.as_ref(),
        output.mass_g,
    )?;
    Ok(output)
}

/// A declared composition agrees with the batch it describes: it weighs at most the batch's
/// mass, and if the batch also lists `elements`, they are the composition's elements.
fn check_composition(
    path: &str,
    elements: &BTreeSet<Element>,
    composition: Option<&Composition>,
    mass: Grams,
) -> Result<(), EventError> {
    let Some(composition) = composition else {
        return Ok(());
    };
    let at = |name: &str| {
        if path == ROOT {
            name.to_owned()
        } else {
            format!("{path}.{name}")
        }
    };
    if !composition.fits(mass) {
        return Err(EventError::InvalidField {
            path: at("composition"),
            message: format!(
                "the elements add up to {} g, more than the batch's {mass}",
                composition.total()
            ),
        });
    }
    if !elements.is_empty() && !elements.iter().copied().eq(composition.elements()) {
        return Err(EventError::InvalidField {
            path: at("elements"),
            message: "the elements listed differ from the composition's; list the same \
                      elements or leave `elements` out"
                .to_owned(),
        });
    }
    Ok(())
}

fn additive(path: String, v: Value) -> Result<Additive, EventError> {
    let mut f = Fields::object(path, v)?;
    let additive = Additive {
        material: f.required("material")?,
        mass_g: f.required("mass_g")?,
    };
    f.finish(&["material", "mass_g"])?;
    Ok(additive)
}

fn public_key(path: String, v: Value) -> Result<crate::model::keys::PublicKey, EventError> {
    convert(path, v)
}

/// Step two: a value tree to an event.
pub(crate) fn from_value(value: Value) -> Result<Event, EventError> {
    let mut f = Fields::object(ROOT.to_owned(), value)?;
    let kind: String = f.required("kind")?;
    if !KIND_NAMES.contains(&kind.as_str()) {
        return Err(EventError::UnknownKind {
            kind: kind.chars().take(64).collect(),
        });
    }
    let id = f.required("id")?;
    let actor = f.required("actor")?;
    // Every kind but genesis names its log; genesis names it with `origin` instead.
    let log = if kind == "genesis" {
        None
    } else {
        Some(f.required("log")?)
    };
    let occurred_at = f.required("occurred_at")?;
    const COMMON: [&str; 5] = ["kind", "id", "actor", "log", "occurred_at"];
    macro_rules! fields {
        ($($name:literal),*) => {{
            const LIST: &[&str] = &[COMMON[0], COMMON[1], COMMON[2], COMMON[3], COMMON[4], $($name),*];
            LIST
        }};
    }
    let body = match kind.as_str() {
        "genesis" => {
            let b = Genesis {
                origin: f.required("origin")?,
                name: f.required("name")?,
                country: f.required("country")?,
                public_key: f.required("public_key")?,
                backfill_days: f.optional("backfill_days")?,
            };
            f.finish(GENESIS_FIELDS)?;
            EventBody::Genesis(b)
        }
        "register_actor" => {
            let b = RegisterActor {
                subject: f.required("subject")?,
                name: f.required("name")?,
                country: f.required("country")?,
                roles: f.set("roles", true)?.unwrap_or_default(),
                sites: f.list("sites", false, MAX_SITES, site)?,
                public_keys: f.list("public_keys", true, MAX_KEYS, public_key)?,
                prefixes: f
                    .set_of_at_most("prefixes", false, MAX_PREFIXES)?
                    .unwrap_or_default(),
            };
            f.finish(fields!(
                "subject",
                "name",
                "country",
                "roles",
                "sites",
                "public_keys",
                "prefixes"
            ))?;
            EventBody::RegisterActor(b)
        }
        "update_actor" => {
            let b = UpdateActor {
                subject: f.required("subject")?,
                name: f.optional("name")?,
                country: f.optional("country")?,
                roles: f.set("roles", false)?,
                add_sites: f.list("add_sites", false, MAX_SITES, site)?,
                add_public_keys: f.list("add_public_keys", false, MAX_KEYS, public_key)?,
                add_prefixes: f
                    .set_of_at_most("add_prefixes", false, MAX_PREFIXES)?
                    .unwrap_or_default(),
            };
            f.finish(fields!(
                "subject",
                "name",
                "country",
                "roles",
                "add_sites",
                "add_public_keys",
                "add_prefixes"
            ))?;
            EventBody::UpdateActor(b)
        }
        "revoke_key" => {
            let b = RevokeKey {
                subject: f.required("subject")?,
                key_id: f.required("key_id")?,
                reason: f.optional("reason")?,
            };
            f.finish(fields!("subject", "key_id", "reason"))?;
            EventBody::RevokeKey(b)
        }
        "extract" => {
            let b = Extract {
                site: f.required("site")?,
                batch: f.required("batch")?,
                form: f.required("form")?,
                mass_g: f.required("mass_g")?,
                elements: f.set("elements", false)?.unwrap_or_default(),
                composition: f.optional("composition")?,
            };
            f.finish(fields!(
                "site",
                "batch",
                "form",
                "mass_g",
                "elements",
                "composition"
            ))?;
            check_composition(ROOT, &b.elements, b.composition.as_ref(), b.mass_g)?;
            EventBody::Extract(b)
        }
        "transform" => {
            let b = Transform {
                process: f.required("process")?,
                site: f.optional("site")?,
                inputs: f.list("inputs", true, MAX_ITEMS, input)?,
                outputs: f.list("outputs", true, MAX_ITEMS, output)?,
                additives: f.list("additives", false, MAX_ITEMS, additive)?,
            };
            f.finish(fields!("process", "site", "inputs", "outputs", "additives"))?;
            EventBody::Transform(b)
        }
        "ship" => {
            let b = Ship {
                batch: f.required("batch")?,
                to: f.required("to")?,
                licence: f.optional("licence")?,
            };
            f.finish(fields!("batch", "to", "licence"))?;
            EventBody::Ship(b)
        }
        "receive" => {
            let b = Receive {
                batch: f.required("batch")?,
                mass_g: f.required("mass_g")?,
            };
            f.finish(fields!("batch", "mass_g"))?;
            EventBody::Receive(b)
        }
        "certify" => {
            let b = Certify {
                batch: f.required("batch")?,
                claim: f.required("claim")?,
                statement: f.required("statement")?,
                document_sha256: f.required("document_sha256")?,
                composition: f.optional("composition")?,
            };
            f.finish(fields!(
                "batch",
                "claim",
                "statement",
                "document_sha256",
                "composition"
            ))?;
            if b.composition.is_some() && b.claim != Claim::Assay {
                return Err(EventError::InvalidField {
                    path: "composition".to_owned(),
                    message: format!(
                        "only an assay carries a measured composition, not {}",
                        b.claim
                    ),
                });
            }
            EventBody::Certify(b)
        }
        "retire" => {
            let b = Retire {
                batch: f.required("batch")?,
                reason: f.required("reason")?,
            };
            f.finish(fields!("batch", "reason"))?;
            EventBody::Retire(b)
        }
        other => match super::controls::parse(other, f) {
            Some(body) => body?,
            None => {
                return Err(EventError::UnknownKind {
                    kind: kind.chars().take(64).collect(),
                })
            }
        },
    };
    Ok(Event {
        id,
        actor,
        log,
        occurred_at,
        body,
    })
}
