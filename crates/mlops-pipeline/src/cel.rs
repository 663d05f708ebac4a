//! The subset of CEL that KFP writes for conditions:
//! `inputs.parameter_values['NAME'] OP LITERAL`, OP one of `== != < <= > >=`, LITERAL a
//! boolean, number or quoted string.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use serde_json::Value;

/// Evaluate a condition against the condition task's input parameter values.
pub fn evaluate(expr: &str, params: &BTreeMap<String, Value>) -> Result<bool, String> {
    let expr = expr.trim();
    let rest = expr
        .strip_prefix("inputs.parameter_values[")
        .ok_or_else(|| {
            format!(
                "unsupported condition `{expr}`: expected inputs.parameter_values['name'] OP value"
            )
        })?;
    let quote = rest
        .chars()
        .next()
        .filter(|c| *c == '\'' || *c == '"')
        .ok_or_else(|| format!("unsupported condition `{expr}`"))?;
    let rest = &rest[1..];
    let end = rest
        .find(quote)
        .ok_or_else(|| format!("unterminated name in condition `{expr}`"))?;
    let name = &rest[..end];
    let rest = rest[end + 1..]
        .strip_prefix(']')
        .ok_or_else(|| format!("expected `]` in condition `{expr}`"))?
        .trim_start();
    let (op, literal) = ["==", "!=", "<=", ">=", "<", ">"]
        .iter()
        .find_map(|op| rest.strip_prefix(op).map(|l| (*op, l.trim())))
        .ok_or_else(|| format!("no comparison operator in condition `{expr}`"))?;
    let rhs: Value = if (literal.starts_with('\'') && literal.ends_with('\'') && literal.len() >= 2)
        || (literal.starts_with('"') && literal.ends_with('"') && literal.len() >= 2)
    {
        Value::String(literal[1..literal.len() - 1].replace("\\'", "'"))
    } else {
        serde_json::from_str(literal)
            .map_err(|_| format!("cannot read the value `{literal}` in condition `{expr}`"))?
    };
    let lhs = params.get(name).ok_or_else(|| {
        format!("condition reads `{name}`, which is not an input of the condition")
    })?;
    let ordering = match (lhs, &rhs) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    };
    let Some(ord) = ordering else {
        return Err(format!(
            "condition `{expr}` compares {lhs} with {rhs}, values of different types"
        ));
    };
    Ok(match op {
        "==" => ord == Ordering::Equal,
        "!=" => ord != Ordering::Equal,
        "<" => ord == Ordering::Less,
        "<=" => ord != Ordering::Greater,
        ">" => ord == Ordering::Greater,
        _ => ord != Ordering::Less,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn kfp_forms() {
        let params: BTreeMap<String, Value> = [
            (
                "pipelinechannel--flip-coin-op-Output".to_string(),
                json!("heads"),
            ),
            (
                "pipelinechannel--compare-is_better".to_string(),
                json!(true),
            ),
            ("x".to_string(), json!(0.7)),
        ]
        .into_iter()
        .collect();
        assert!(evaluate(
            "inputs.parameter_values['pipelinechannel--flip-coin-op-Output'] == 'heads'",
            &params
        )
        .unwrap());
        assert!(evaluate(
            "inputs.parameter_values['pipelinechannel--compare-is_better'] == true",
            &params
        )
        .unwrap());
        assert!(!evaluate("inputs.parameter_values['x'] > 0.9", &params).unwrap());
        assert!(evaluate("inputs.parameter_values['x'] <= 0.7", &params).unwrap());
        assert!(evaluate("inputs.parameter_values['x'] == 'a'", &params)
            .unwrap_err()
            .contains("different types"));
        assert!(evaluate("size(x) > 2", &params)
            .unwrap_err()
            .contains("unsupported"));
    }

    fn params() -> BTreeMap<String, Value> {
        [
            ("b".to_string(), json!(true)),
            ("n".to_string(), json!(3)),
            ("s".to_string(), json!("it's")),
        ]
        .into_iter()
        .collect()
    }

    #[test]
    fn every_operator_on_numbers() {
        let p = params();
        let cases = [
            ("==", 3, true),
            ("==", 4, false),
            ("!=", 4, true),
            ("!=", 3, false),
            ("<", 4, true),
            ("<", 3, false),
            ("<=", 3, true),
            ("<=", 2, false),
            (">", 2, true),
            (">", 3, false),
            (">=", 3, true),
            (">=", 4, false),
        ];
        for (op, rhs, expected) in cases {
            let expr = format!("inputs.parameter_values['n'] {op} {rhs}");
            assert_eq!(evaluate(&expr, &p), Ok(expected), "{expr}");
        }
        // An integer parameter compares with a float literal.
        assert_eq!(evaluate("inputs.parameter_values['n'] < 3.5", &p), Ok(true));
    }

    #[test]
    fn strings_booleans_and_quoting() {
        let p = params();
        // kfp escapes a quote inside a string literal as \'.
        assert_eq!(
            evaluate(r"inputs.parameter_values['s'] == 'it\'s'", &p),
            Ok(true)
        );
        assert_eq!(
            evaluate(r#"inputs.parameter_values["s"] != "its""#, &p),
            Ok(true)
        );
        assert_eq!(
            evaluate("inputs.parameter_values['b'] == false", &p),
            Ok(false)
        );
        assert_eq!(
            evaluate("  inputs.parameter_values['b']==true  ", &p),
            Ok(true)
        );
    }

    #[test]
    fn each_malformed_condition_is_an_error_naming_it() {
        let p = params();
        let cases = [
            ("inputs.parameter_values[n] == 1", "unsupported condition"),
            ("inputs.parameter_values['n == 1", "unterminated name"),
            ("inputs.parameter_values['n' == 1", "expected `]`"),
            ("inputs.parameter_values['n'] ~ 1", "no comparison operator"),
            (
                "inputs.parameter_values['n'] == one",
                "cannot read the value `one`",
            ),
            (
                "inputs.parameter_values['m'] == 1",
                "reads `m`, which is not an input",
            ),
            (
                "inputs.parameter_values['b'] == 1",
                "values of different types",
            ),
        ];
        for (expr, expected) in cases {
            let err = evaluate(expr, &p).unwrap_err();
            assert!(
                err.contains(expected),
                "{expr}: expected `{expected}`, got `{err}`"
            );
        }
    }
}
