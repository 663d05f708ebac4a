//! Encoding JSON instances (as sent to a Vertex AI prediction container) with the learnt
//! preprocessing. An instance is an object keyed by input column name (extra keys, such as an
//! id or the label, are ignored) or an array of values in the model's input column order.
//! `null` is a missing value. Every problem of every instance is collected, so a client sees
//! all of them in one response.

use serde::Serialize;
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

fn number_as_level(n: &serde_json::Number) -> String {
    match (n.as_i64(), n.as_u64()) {
        (Some(i), _) => i.to_string(),
        (_, Some(u)) => u.to_string(),
        _ => n.to_string(),
    }
}

impl Preprocessor {
    /// Input column names in the order an array instance must follow.
    pub fn array_order(&self) -> Vec<&str> {
        self.columns.iter().map(ColumnEncoder::name).collect()
    }

    /// Encode one instance into `out` (`n_features()` wide, zeroed by the caller).
    pub fn encode_json(
        &self,
        index: usize,
        instance: &Value,
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
        let values: Vec<Option<&Value>> = match instance {
            Value::Object(map) => self.columns.iter().map(|c| map.get(c.name())).collect(),
            Value::Array(items) => {
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
            other => {
                problem(
                    "*",
                    echo(other),
                    "an object keyed by column name, or an array of values".into(),
                );
                return;
            }
        };
        let mut offset = 0;
        for (column, value) in self.columns.iter().zip(values) {
            let width = column.width();
            let slot = &mut out[offset..offset + width];
            offset += width;
            let name = column.name();
            let Some(value) = value else {
                problem(
                    name,
                    String::new(),
                    "a value (use null for a missing value)".into(),
                );
                continue;
            };
            let result = match (column, value) {
                (_, Value::Null) => {
                    if !matches!(column, ColumnEncoder::Categorical { .. }) {
                        slot[0] = f32::NAN;
                    }
                    Ok(())
                }
                (ColumnEncoder::Numeric { .. }, Value::Number(n)) => n
                    .as_f64()
                    .ok_or_else(|| "a number".to_string())
                    .and_then(check_number)
                    .map(|v| slot[0] = v),
                (ColumnEncoder::Numeric { .. }, Value::String(s)) if !s.trim().is_empty() => {
                    parse_numeric(s).map(|v| slot[0] = v)
                }
                (ColumnEncoder::Numeric { .. }, _) => Err("a finite number or null".to_string()),
                (ColumnEncoder::Binary { .. }, Value::Number(n)) => n
                    .as_f64()
                    .ok_or_else(|| "0 or 1".to_string())
                    .and_then(check_binary)
                    .map(|v| slot[0] = v),
                (ColumnEncoder::Binary { .. }, Value::Bool(b)) => {
                    slot[0] = f32::from(u8::from(*b));
                    Ok(())
                }
                (ColumnEncoder::Binary { .. }, Value::String(s)) if !s.trim().is_empty() => {
                    parse_binary(s).map(|v| slot[0] = v)
                }
                (ColumnEncoder::Binary { .. }, _) => {
                    Err("0/1, true/false, \"yes\"/\"no\" or null".to_string())
                }
                (ColumnEncoder::Categorical { levels, .. }, Value::String(s)) => {
                    encode_category(s, levels, self.unknown_category, slot)
                }
                (ColumnEncoder::Categorical { levels, .. }, Value::Number(n)) => {
                    encode_category(&number_as_level(n), levels, self.unknown_category, slot)
                }
                (ColumnEncoder::Categorical { .. }, _) => {
                    Err("a string (one of the levels) or null".to_string())
                }
            };
            if let Err(expected) = result {
                problem(name, echo(value), expected);
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
