//! Encoding JSON instances (as sent to a Vertex AI prediction container) with the learnt
//! preprocessing. An instance is an object keyed by input column name (extra keys, such as an
//! id or the label, are ignored) or an array of values in the model's input column order.
//! `null` is a missing value. Every problem of every instance is collected, so a client sees
//! all of them in one response.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::preprocess::{
    check_binary, check_number, encode_category, parse_binary, parse_numeric, ColumnEncoder,
    Preprocessor,
};

/// One problem with one field of one instance.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldProblem {
    /// Zero-based index of the instance in the request.
    pub instance: usize,
    /// Column name (or `*` for the instance as a whole).
    pub field: String,
    /// The offending value as JSON text (shortened), empty when absent.
    pub value: String,
    /// What was expected.
    pub expected: String,
}

/// Longest value echoed back in a problem.
const MAX_ECHO: usize = 80;

fn echo(v: &Value) -> String {
    let text = v.to_string();
    if text.len() <= MAX_ECHO {
        return text;
    }
    let mut end = MAX_ECHO;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// One field of an instance, borrowed from the request body where possible. Nested arrays and
/// objects are skipped without being built: they are never valid feature values.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// `null`: a missing value.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// Any other number.
    Num(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// An array or object (only its kind is kept).
    Nested(&'static str),
}

impl Cell<'_> {
    fn echo(&self) -> String {
        match self {
            Cell::Null => "null".into(),
            Cell::Bool(b) => b.to_string(),
            Cell::Int(i) => i.to_string(),
            Cell::Num(n) => n.to_string(),
            Cell::Str(s) => echo(&Value::String(s.to_string())),
            Cell::Nested(kind) => (*kind).to_string(),
        }
    }

    fn from_value(v: &Value) -> Cell<'_> {
        match v {
            Value::Null => Cell::Null,
            Value::Bool(b) => Cell::Bool(*b),
            Value::Number(n) => match n.as_i64() {
                Some(i) => Cell::Int(i),
                None => Cell::Num(n.as_f64().unwrap_or(f64::NAN)),
            },
            Value::String(s) => Cell::Str(Cow::Borrowed(s)),
            Value::Array(_) => Cell::Nested("an array"),
            Value::Object(_) => Cell::Nested("an object"),
        }
    }
}

struct CellVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for CellVisitor<'a> {
    type Value = Cell<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Cell<'a>, E> {
        Ok(Cell::Null)
    }
    fn visit_none<E>(self) -> Result<Cell<'a>, E> {
        Ok(Cell::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Cell<'a>, E> {
        Ok(Cell::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Cell<'a>, E> {
        Ok(Cell::Int(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Cell<'a>, E> {
        Ok(i64::try_from(v).map_or(Cell::Num(v as f64), Cell::Int))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Cell<'a>, E> {
        Ok(Cell::Num(v))
    }
    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cell<'a>, E> {
        Ok(Cell::Str(Cow::Borrowed(v)))
    }
    fn visit_str<E>(self, v: &str) -> Result<Cell<'a>, E> {
        Ok(Cell::Str(Cow::Owned(v.to_string())))
    }
    fn visit_string<E>(self, v: String) -> Result<Cell<'a>, E> {
        Ok(Cell::Str(Cow::Owned(v)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cell<'a>, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Cell::Nested("an array"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cell<'a>, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Cell::Nested("an object"))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Cell<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CellVisitor(std::marker::PhantomData))
    }
}

/// One instance as sent: an object (field name → cell) or an array of cells.
#[derive(Debug, Clone, PartialEq)]
pub enum Instance<'a> {
    /// Keyed by column name.
    Object(Vec<(Cow<'a, str>, Cell<'a>)>),
    /// In the model's input column order.
    Array(Vec<Cell<'a>>),
    /// Anything else (its JSON kind and text).
    Other(String),
}

struct InstanceVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for InstanceVisitor<'a> {
    type Value = Instance<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object or an array")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Instance<'a>, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(24));
        while let Some(key) = map.next_key::<Cow<'a, str>>()? {
            fields.push((key, map.next_value::<Cell<'a>>()?));
        }
        Ok(Instance::Object(fields))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Instance<'a>, A::Error> {
        let mut cells = Vec::with_capacity(seq.size_hint().unwrap_or(24));
        while let Some(c) = seq.next_element::<Cell<'a>>()? {
            cells.push(c);
        }
        Ok(Instance::Array(cells))
    }
    fn visit_unit<E>(self) -> Result<Instance<'a>, E> {
        Ok(Instance::Other("null".into()))
    }
    fn visit_bool<E>(self, v: bool) -> Result<Instance<'a>, E> {
        Ok(Instance::Other(v.to_string()))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Instance<'a>, E> {
        Ok(Instance::Other(v.to_string()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Instance<'a>, E> {
        Ok(Instance::Other(v.to_string()))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Instance<'a>, E> {
        Ok(Instance::Other(v.to_string()))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Instance<'a>, E> {
        Ok(Instance::Other(echo(&Value::String(v.to_string()))))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Instance<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(InstanceVisitor(std::marker::PhantomData))
    }
}

impl Preprocessor {
    /// Input column names in the order an array instance must follow.
    pub fn array_order(&self) -> Vec<&str> {
        self.columns.iter().map(ColumnEncoder::name).collect()
    }

    /// Encode one JSON value instance into `out` (`n_features()` wide, zeroed by the caller).
    pub fn encode_json(
        &self,
        index: usize,
        instance: &Value,
        out: &mut [f32],
        problems: &mut Vec<FieldProblem>,
    ) {
        let instance = match instance {
            Value::Object(map) => Instance::Object(
                map.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Cell::from_value(v)))
                    .collect(),
            ),
            Value::Array(items) => Instance::Array(items.iter().map(Cell::from_value).collect()),
            other => Instance::Other(echo(other)),
        };
        self.encode_instance(index, &instance, out, problems);
    }

    /// Encode one parsed instance into `out` (`n_features()` wide, zeroed by the caller).
    pub fn encode_instance(
        &self,
        index: usize,
        instance: &Instance<'_>,
        out: &mut [f32],
        problems: &mut Vec<FieldProblem>,
    ) {
        let mut problem = |field: &str, value: String, expected: String| {
            problems.push(FieldProblem {
                instance: index,
                field: field.to_string(),
                value,
                expected,
            })
        };
        let cells: Vec<Option<&Cell<'_>>> = match instance {
            Instance::Object(fields) => self
                .columns
                .iter()
                .map(|c| fields.iter().find(|(k, _)| k == c.name()).map(|(_, v)| v))
                .collect(),
            Instance::Array(items) => {
                if items.len() != self.columns.len() {
                    problem(
                        "*",
                        format!("array of {}", items.len()),
                        format!(
                            "an array of {} values in the order {}",
                            self.columns.len(),
                            self.array_order().join(", ")
                        ),
                    );
                    return;
                }
                items.iter().map(Some).collect()
            }
            Instance::Other(text) => {
                problem(
                    "*",
                    text.clone(),
                    "an object keyed by column name, or an array of values".into(),
                );
                return;
            }
        };
        let mut offset = 0;
        for (column, cell) in self.columns.iter().zip(cells) {
            let width = column.width();
            let slot = &mut out[offset..offset + width];
            offset += width;
            let name = column.name();
            let Some(cell) = cell else {
                problem(
                    name,
                    String::new(),
                    "a value (use null for a missing value)".into(),
                );
                continue;
            };
            let result = match (column, cell) {
                (_, Cell::Null) => {
                    if !matches!(column, ColumnEncoder::Categorical { .. }) {
                        slot[0] = f32::NAN;
                    }
                    Ok(())
                }
                (ColumnEncoder::Numeric { .. }, Cell::Int(i)) => {
                    check_number(*i as f64).map(|v| slot[0] = v)
                }
                (ColumnEncoder::Numeric { .. }, Cell::Num(n)) => {
                    check_number(*n).map(|v| slot[0] = v)
                }
                (ColumnEncoder::Numeric { .. }, Cell::Str(s)) if !s.trim().is_empty() => {
                    parse_numeric(s).map(|v| slot[0] = v)
                }
                (ColumnEncoder::Numeric { .. }, _) => Err("a finite number or null".to_string()),
                (ColumnEncoder::Binary { .. }, Cell::Int(i)) => {
                    check_binary(*i as f64).map(|v| slot[0] = v)
                }
                (ColumnEncoder::Binary { .. }, Cell::Num(n)) => {
                    check_binary(*n).map(|v| slot[0] = v)
                }
                (ColumnEncoder::Binary { .. }, Cell::Bool(b)) => {
                    slot[0] = f32::from(u8::from(*b));
                    Ok(())
                }
                (ColumnEncoder::Binary { .. }, Cell::Str(s)) if !s.trim().is_empty() => {
                    parse_binary(s).map(|v| slot[0] = v)
                }
                (ColumnEncoder::Binary { .. }, _) => {
                    Err("0/1, true/false, \"yes\"/\"no\" or null".to_string())
                }
                (ColumnEncoder::Categorical { levels, .. }, Cell::Str(s)) => {
                    encode_category(s, levels, self.unknown_category, slot)
                }
                (ColumnEncoder::Categorical { levels, .. }, Cell::Int(i)) => {
                    encode_category(&i.to_string(), levels, self.unknown_category, slot)
                }
                (ColumnEncoder::Categorical { levels, .. }, Cell::Num(n)) => {
                    encode_category(&n.to_string(), levels, self.unknown_category, slot)
                }
                (ColumnEncoder::Categorical { .. }, _) => {
                    Err("a string (one of the levels) or null".to_string())
                }
            };
            if let Err(expected) = result {
                problem(name, cell.echo(), expected);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use mlops_domain::{FeatureSchema, UnknownCategoryPolicy};
    use serde_json::json;

    use super::*;

    fn pre() -> Preprocessor {
        let schema = FeatureSchema {
            numeric: vec!["tenure".into()],
            binary: vec!["partner".into()],
            categorical: vec!["contract".into()],
        };
        Preprocessor::new(
            &schema,
            vec![vec!["Monthly".into(), "Yearly".into()]],
            UnknownCategoryPolicy::Error,
        )
    }

    fn encode(v: Value) -> (Vec<f32>, Vec<FieldProblem>) {
        let p = pre();
        let mut out = vec![0.0; p.n_features()];
        let mut problems = Vec::new();
        p.encode_json(3, &v, &mut out, &mut problems);
        (out, problems)
    }

    #[test]
    fn objects_and_arrays_encode_alike() {
        let (a, pa) =
            encode(json!({"tenure": 5, "partner": "Yes", "contract": "Yearly", "id": "x"}));
        let (b, pb) = encode(json!([5, 1, "Yearly"]));
        assert!(pa.is_empty() && pb.is_empty(), "{pa:?} {pb:?}");
        assert_eq!(a, vec![5.0, 1.0, 0.0, 1.0]);
        assert_eq!(a, b);
    }

    #[test]
    fn null_is_missing() {
        let (x, p) = encode(json!({"tenure": null, "partner": null, "contract": null}));
        assert!(p.is_empty());
        assert!(x[0].is_nan() && x[1].is_nan());
        assert_eq!(&x[2..], &[0.0, 0.0]);
    }

    #[test]
    fn every_problem_is_reported_with_index_field_value_and_expectation() {
        let (_, p) = encode(json!({"tenure": "NaN", "partner": 2, "contract": "Weekly"}));
        assert_eq!(p.len(), 3, "{p:?}");
        assert!(p.iter().all(|e| e.instance == 3));
        assert_eq!(p[0].field, "tenure");
        assert_eq!(p[0].value, "\"NaN\"");
        assert!(p[0].expected.contains("not a finite number"));
        assert_eq!(p[1].field, "partner");
        assert!(p[2].expected.contains("unknown category `Weekly`"));
        let (_, p) = encode(json!({"partner": 1, "contract": "Monthly"}));
        assert_eq!(p[0].field, "tenure");
        assert!(p[0].expected.contains("use null"));
        let (_, p) = encode(json!({"tenure": 1e308, "partner": true, "contract": "Monthly"}));
        assert!(p[0].expected.contains("finite"), "{p:?}");
        let (_, p) = encode(json!([1, 2]));
        assert!(p[0]
            .expected
            .contains("array of 3 values in the order tenure, partner, contract"));
        let (_, p) = encode(json!("row"));
        assert_eq!(p[0].field, "*");
    }
}
