//! Reading and writing XGBoost's JSON model format (`Booster.save_model("model.json")` /
//! `load_model`), for `binary:logistic` gbtree models with numerical splits.
//!
//! Writing emits the layout of xgboost 3.2.0. Reading accepts 3.x files and the older 1.x/2.x
//! layout (`base_score` without brackets, no `cats` / `iteration_indptr` / `categories*` /
//! `split_type`, `default_left` as booleans). Anything this crate cannot evaluate exactly
//! (other objectives, `gblinear` / `dart`, multi-class or multi-target models, categorical
//! splits, vector leaves) is rejected with [`BoosterError::InvalidModel`].
//!
//! The JSON keys are declared in alphabetical order because XGBoost writes them sorted.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{BoosterError, Result};
use crate::tree::{Booster, Node, Tree, NO_NODE};

/// XGBoost version written into saved models.
const XGBOOST_VERSION: [u32; 3] = [3, 2, 0];
/// Parent id XGBoost writes for the root (`kInvalidNodeId` masked to 31 bits).
const ROOT_PARENT: i64 = i32::MAX as i64;

// Reading: missing fields take their defaults (older files omit several), and a missing
// required field then fails validation with a message naming it. Writing fills every field.

#[derive(Serialize, Deserialize)]
#[serde(bound(deserialize = "G: Deserialize<'de> + Default"))]
struct Document<G> {
    learner: Learner<G>,
    #[serde(default)]
    version: Vec<u32>,
}

/// `G` is [`GradientBooster`] when writing and a raw [`Value`] when reading, so that the
/// booster's name can be checked before its (booster-specific) model is parsed.
#[derive(Default, Serialize, Deserialize)]
#[serde(default, bound(deserialize = "G: Deserialize<'de> + Default"))]
struct Learner<G> {
    attributes: BTreeMap<String, String>,
    feature_names: Vec<String>,
    feature_types: Vec<String>,
    gradient_booster: G,
    learner_model_param: LearnerModelParam,
    objective: Objective,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct LearnerModelParam {
    base_score: String,
    boost_from_average: Option<String>,
    num_class: Option<String>,
    num_feature: String,
    num_target: Option<String>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct Objective {
    name: String,
    reg_loss_param: Option<Value>,
}

#[derive(Serialize, Deserialize)]
struct GradientBooster {
    model: GbTreeModel,
    name: String,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct GbTreeModel {
    cats: Option<Value>,
    gbtree_model_param: GbTreeModelParam,
    iteration_indptr: Option<Vec<u64>>,
    tree_info: Vec<i64>,
    trees: Vec<JsonTree>,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct GbTreeModelParam {
    num_parallel_tree: Option<String>,
    num_trees: Option<String>,
}

/// One tree in XGBoost's struct-of-arrays layout. Integer arrays are read as `i64` so that
/// out-of-range values give a precise [`BoosterError::InvalidModel`] rather than a parse error.
/// `categories*` and `split_type` are missing in files older than categorical support.
#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct JsonTree {
    base_weights: Vec<f32>,
    categories: Vec<i64>,
    categories_nodes: Vec<i64>,
    categories_segments: Vec<i64>,
    categories_sizes: Vec<i64>,
    default_left: Vec<Flag>,
    id: i64,
    left_children: Vec<i64>,
    loss_changes: Vec<f32>,
    parents: Vec<i64>,
    right_children: Vec<i64>,
    split_conditions: Vec<f32>,
    split_indices: Vec<i64>,
    split_type: Vec<i64>,
    sum_hessian: Vec<f32>,
    tree_param: TreeParam,
}

#[derive(Default, Serialize, Deserialize)]
#[serde(default)]
struct TreeParam {
    num_deleted: Option<String>,
    num_feature: Option<String>,
    num_nodes: String,
    size_leaf_vector: Option<String>,
}

/// `default_left` entry: XGBoost writes 0/1, some older writers used booleans.
#[derive(Clone, Copy, Serialize, Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Int(i64),
}

fn invalid(message: String) -> BoosterError {
    BoosterError::InvalidModel(message)
}

/// Parses one of XGBoost's string-encoded integer parameters.
fn parse_count(field: &str, value: &str) -> Result<usize> {
    value.trim().parse::<usize>().map_err(|_| {
        invalid(format!(
            "`{field}` must be a non-negative integer, got {value:?}"
        ))
    })
}

/// Parses `base_score`: `"[4.8E-1]"` (3.x) or `"5E-1"` (1.x/2.x).
fn parse_base_score(value: &str) -> Result<f32> {
    let trimmed = value.trim();
    let inner = trimmed
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(trimmed);
    let score = inner.trim().parse::<f32>().map_err(|_| {
        invalid(format!(
            "`learner_model_param.base_score` must be a single number, got {value:?}"
        ))
    })?;
    if !(score > 0.0 && score < 1.0) {
        return Err(invalid(format!(
            "`learner_model_param.base_score` must be a probability in (0, 1), got {value:?}"
        )));
    }
    Ok(score)
}

/// Writes `base_score` as xgboost 3.x does; `{:E}` is Rust's shortest round-trip repr.
fn format_base_score(value: f32) -> String {
    format!("[{value:E}]")
}

/// Serialize to XGBoost JSON text (compact, one line), in the layout xgboost 3.2.0 writes.
///
/// Fails with [`BoosterError::InvalidModel`] when the booster could not be loaded back: an
/// empty or malformed tree, a non-finite value, a split on a feature `>= num_feature`,
/// `feature_names` of the wrong length or a `base_score` outside (0, 1).
pub fn to_xgboost_json(booster: &Booster) -> Result<String> {
    let num_feature = booster.num_feature;
    check_feature_names(&booster.feature_names, num_feature)?;
    let base_score = format_base_score(booster.base_score);
    parse_base_score(&base_score)?;
    let trees = booster
        .trees
        .iter()
        .enumerate()
        .map(|(i, tree)| {
            let json = tree_to_json(i, tree, num_feature);
            // Validate with the reader so that we never write what we (or XGBoost) cannot read.
            json_to_tree(i, &json, num_feature)?;
            Ok(json)
        })
        .collect::<Result<Vec<_>>>()?;
    let n = trees.len();
    let feature_types = if booster.feature_names.is_empty() {
        Vec::new()
    } else {
        vec!["float".to_string(); num_feature]
    };
    let doc = Document {
        learner: Learner {
            attributes: booster.attributes.clone(),
            feature_names: booster.feature_names.clone(),
            feature_types,
            gradient_booster: GradientBooster {
                model: GbTreeModel {
                    cats: Some(serde_json::json!({
                        "enc": [], "feature_segments": [], "sorted_idx": []
                    })),
                    gbtree_model_param: GbTreeModelParam {
                        num_parallel_tree: Some("1".to_string()),
                        num_trees: Some(n.to_string()),
                    },
                    iteration_indptr: Some((0..=n as u64).collect()),
                    tree_info: vec![0; n],
                    trees,
                },
                name: "gbtree".to_string(),
            },
            learner_model_param: LearnerModelParam {
                base_score,
                boost_from_average: Some("1".to_string()),
                num_class: Some("0".to_string()),
                num_feature: num_feature.to_string(),
                num_target: Some("1".to_string()),
            },
            objective: Objective {
                name: "binary:logistic".to_string(),
                reg_loss_param: Some(serde_json::json!({ "scale_pos_weight": "1" })),
            },
        },
        version: XGBOOST_VERSION.to_vec(),
    };
    Ok(serde_json::to_string(&doc)?)
}

fn tree_to_json(id: usize, tree: &Tree, num_feature: usize) -> JsonTree {
    let nodes = &tree.nodes;
    JsonTree {
        base_weights: nodes.iter().map(|n| n.base_weight).collect(),
        categories: Vec::new(),
        categories_nodes: Vec::new(),
        categories_segments: Vec::new(),
        categories_sizes: Vec::new(),
        default_left: nodes
            .iter()
            .map(|n| Flag::Int(i64::from(n.default_left)))
            .collect(),
        id: id as i64,
        left_children: nodes.iter().map(|n| i64::from(n.left)).collect(),
        loss_changes: nodes.iter().map(|n| n.loss_change).collect(),
        parents: nodes
            .iter()
            .map(|n| match n.parent {
                NO_NODE => ROOT_PARENT,
                p => i64::from(p),
            })
            .collect(),
        right_children: nodes.iter().map(|n| i64::from(n.right)).collect(),
        split_conditions: nodes.iter().map(|n| n.split_condition).collect(),
        split_indices: nodes.iter().map(|n| i64::from(n.feature)).collect(),
        split_type: vec![0; nodes.len()],
        sum_hessian: nodes.iter().map(|n| n.sum_hessian).collect(),
        tree_param: TreeParam {
            num_deleted: Some("0".to_string()),
            num_feature: Some(num_feature.to_string()),
            num_nodes: nodes.len().to_string(),
            size_leaf_vector: Some("1".to_string()),
        },
    }
}

/// Parse XGBoost JSON text (as written by `Booster.save_model` of xgboost 1.x to 3.x).
///
/// Malformed JSON gives [`BoosterError::Json`]; a well-formed model this crate cannot evaluate
/// exactly, or an inconsistent one, gives [`BoosterError::InvalidModel`] naming the field.
pub fn from_xgboost_json(text: &str) -> Result<Booster> {
    let doc: Document<Value> = serde_json::from_str(text)?;
    let learner = doc.learner;

    let objective = learner.objective.name.as_str();
    if objective != "binary:logistic" && objective != "reg:logistic" {
        return Err(invalid(format!(
            "`objective.name` is {objective:?}: only binary:logistic (or reg:logistic) models \
             are supported"
        )));
    }
    let param = &learner.learner_model_param;
    for (field, value) in [
        ("num_class", &param.num_class),
        ("num_target", &param.num_target),
    ] {
        if let Some(value) = value {
            if parse_count(&format!("learner_model_param.{field}"), value)? > 1 {
                return Err(invalid(format!(
                    "`learner_model_param.{field}` is {value:?}: only single-output binary \
                     models are supported"
                )));
            }
        }
    }
    let num_feature = parse_count("learner_model_param.num_feature", &param.num_feature)?;
    let base_score = parse_base_score(&param.base_score)?;
    check_feature_names(&learner.feature_names, num_feature)?;

    let booster_name = learner.gradient_booster.get("name").and_then(Value::as_str);
    if booster_name != Some("gbtree") {
        let shown = booster_name.unwrap_or("<missing>");
        return Err(invalid(format!(
            "`gradient_booster.name` is {shown:?}: only gbtree boosters are supported"
        )));
    }
    let model = GradientBooster::deserialize(learner.gradient_booster)?.model;
    if let Some(num_trees) = &model.gbtree_model_param.num_trees {
        let expected = parse_count("gbtree_model_param.num_trees", num_trees)?;
        if expected != model.trees.len() {
            return Err(invalid(format!(
                "`gbtree_model_param.num_trees` is {num_trees:?} but the model has {} trees",
                model.trees.len()
            )));
        }
    }
    if model.tree_info.len() != model.trees.len() {
        return Err(invalid(format!(
            "`tree_info` has {} entries for {} trees",
            model.tree_info.len(),
            model.trees.len()
        )));
    }
    if let Some((i, group)) = model.tree_info.iter().enumerate().find(|(_, &g)| g != 0) {
        return Err(invalid(format!(
            "`tree_info[{i}]` is {group}: only single-output binary models are supported"
        )));
    }
    let trees = model
        .trees
        .iter()
        .enumerate()
        .map(|(i, tree)| json_to_tree(i, tree, num_feature))
        .collect::<Result<Vec<_>>>()?;
    Ok(Booster {
        trees,
        base_score,
        num_feature,
        feature_names: learner.feature_names,
        attributes: learner.attributes,
    })
}

fn check_feature_names(names: &[String], num_feature: usize) -> Result<()> {
    if !names.is_empty() && names.len() != num_feature {
        return Err(invalid(format!(
            "`feature_names` has {} names but `num_feature` is {num_feature}",
            names.len()
        )));
    }
    Ok(())
}

/// Validates one tree and converts it to [`Tree`]. Nodes unreachable from the root (XGBoost's
/// deleted nodes) are dropped; if a child does not come after its parent the nodes are
/// renumbered breadth-first so that [`Tree`]'s ordering invariant holds.
fn json_to_tree(t: usize, tree: &JsonTree, num_feature: usize) -> Result<Tree> {
    let at = |field: &str, i: usize| format!("`trees[{t}].{field}[{i}]`");
    let param = &tree.tree_param;
    if let Some(size) = &param.size_leaf_vector {
        let field = format!("trees[{t}].tree_param.size_leaf_vector");
        if parse_count(&field, size)? > 1 {
            return Err(invalid(format!(
                "`{field}` is {size:?}: vector leaves (multi-target trees) are not supported"
            )));
        }
    }
    let n = parse_count(
        &format!("trees[{t}].tree_param.num_nodes"),
        &param.num_nodes,
    )?;
    if n == 0 {
        return Err(invalid(format!("`trees[{t}].tree_param.num_nodes` is 0")));
    }
    let lengths = [
        ("base_weights", tree.base_weights.len()),
        ("default_left", tree.default_left.len()),
        ("left_children", tree.left_children.len()),
        ("loss_changes", tree.loss_changes.len()),
        ("parents", tree.parents.len()),
        ("right_children", tree.right_children.len()),
        ("split_conditions", tree.split_conditions.len()),
        ("split_indices", tree.split_indices.len()),
        ("split_type", tree.split_type.len()),
        ("sum_hessian", tree.sum_hessian.len()),
    ];
    for (field, len) in lengths {
        if len != n && !(field == "split_type" && len == 0) {
            return Err(invalid(format!(
                "`trees[{t}].{field}` has {len} entries but `tree_param.num_nodes` is {n}"
            )));
        }
    }
    if let Some(i) = tree.split_type.iter().position(|&s| s != 0) {
        return Err(invalid(format!(
            "{} is {}: categorical splits are not supported; one-hot encode categorical \
             features before training",
            at("split_type", i),
            tree.split_type[i]
        )));
    }
    let floats = [
        ("base_weights", &tree.base_weights),
        ("loss_changes", &tree.loss_changes),
        ("split_conditions", &tree.split_conditions),
        ("sum_hessian", &tree.sum_hessian),
    ];
    for (field, values) in floats {
        if let Some(i) = values.iter().position(|v| !v.is_finite()) {
            return Err(invalid(format!("{} is {}", at(field, i), values[i])));
        }
    }
    let mut default_left = Vec::with_capacity(n);
    for (i, flag) in tree.default_left.iter().enumerate() {
        default_left.push(match *flag {
            Flag::Bool(b) => b,
            Flag::Int(0) => false,
            Flag::Int(1) => true,
            Flag::Int(v) => {
                let field = at("default_left", i);
                return Err(invalid(format!("{field} is {v}: expected 0 or 1")));
            }
        });
    }
    let parent = tree.parents[0];
    if parent != ROOT_PARENT && parent != i64::from(NO_NODE) {
        return Err(invalid(format!(
            "{} is {parent}: node 0 must be the root",
            at("parents", 0)
        )));
    }

    // Walk from the root breadth-first, checking links; `bfs` lists the reachable nodes.
    let mut seen = vec![false; n];
    seen[0] = true;
    let mut bfs = vec![0usize];
    let mut ordered = true;
    let mut k = 0;
    while k < bfs.len() {
        let u = bfs[k];
        k += 1;
        let (left, right) = (tree.left_children[u], tree.right_children[u]);
        if left == i64::from(NO_NODE) && right == i64::from(NO_NODE) {
            continue;
        }
        let feature = tree.split_indices[u];
        if feature < 0 || feature >= num_feature as i64 {
            return Err(invalid(format!(
                "{} is {feature}: the model has {num_feature} features",
                at("split_indices", u)
            )));
        }
        for (field, child) in [("left_children", left), ("right_children", right)] {
            if child < 0 || child >= n as i64 {
                return Err(invalid(format!(
                    "{} is {child}: out of range for {n} nodes",
                    at(field, u)
                )));
            }
            let c = child as usize;
            if seen[c] {
                return Err(invalid(format!(
                    "{} is {child}: node {child} is reached twice (a cycle or a shared node)",
                    at(field, u)
                )));
            }
            if tree.parents[c] != u as i64 {
                return Err(invalid(format!(
                    "{} is {} but node {c} is a child of node {u}",
                    at("parents", c),
                    tree.parents[c]
                )));
            }
            seen[c] = true;
            ordered &= c > u;
            bfs.push(c);
        }
    }
    // Keep XGBoost's numbering whenever it already satisfies the invariant.
    let order: Vec<usize> = if ordered {
        (0..n).filter(|&i| seen[i]).collect()
    } else {
        bfs
    };
    let mut new_id = vec![NO_NODE; n];
    for (new, &old) in order.iter().enumerate() {
        new_id[old] = new as i32;
    }
    let nodes = order
        .iter()
        .map(|&old| {
            let leaf = tree.left_children[old] == i64::from(NO_NODE);
            let link = |child: i64| {
                if leaf {
                    NO_NODE
                } else {
                    new_id[child as usize]
                }
            };
            Node {
                left: link(tree.left_children[old]),
                right: link(tree.right_children[old]),
                parent: if old == 0 {
                    NO_NODE
                } else {
                    new_id[tree.parents[old] as usize]
                },
                feature: if leaf {
                    0
                } else {
                    tree.split_indices[old] as u32
                },
                split_condition: tree.split_conditions[old],
                default_left: default_left[old],
                base_weight: tree.base_weights[old],
                loss_change: tree.loss_changes[old],
                sum_hessian: tree.sum_hessian[old],
            }
        })
        .collect();
    Ok(Tree { nodes })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SMALL: &str = include_str!("../tests/fixtures/xgb_small_3_2.json");
    const EXPECTED: &str = include_str!("../tests/fixtures/xgb_small_3_2.expected.json");
    const LEGACY: &str = include_str!("../tests/fixtures/xgb_legacy_base_score.json");

    #[derive(Deserialize)]
    struct Expected {
        rows: Vec<Vec<Option<f64>>>,
        proba: Vec<f64>,
    }

    fn expected() -> (Vec<Vec<f32>>, Vec<f64>) {
        let e: Expected = serde_json::from_str(EXPECTED).unwrap();
        let rows = e
            .rows
            .iter()
            .map(|r| r.iter().map(|v| v.map_or(f32::NAN, |v| v as f32)).collect())
            .collect();
        (rows, e.proba)
    }

    fn small() -> Booster {
        from_xgboost_json(SMALL).unwrap()
    }

    fn assert_matches_python(booster: &Booster) {
        let (rows, proba) = expected();
        assert_eq!(rows.len(), 20);
        for (row, &p) in rows.iter().zip(&proba) {
            let ours = f64::from(booster.predict_proba_row(row));
            assert!(
                (ours - p).abs() < 1e-6,
                "row {row:?}: ours {ours}, xgboost {p}"
            );
        }
    }

    /// Applies `edit` to the fixture's JSON and parses the result.
    fn load_edited(edit: impl FnOnce(&mut Value)) -> Result<Booster> {
        let mut doc: Value = serde_json::from_str(SMALL).unwrap();
        edit(&mut doc);
        from_xgboost_json(&doc.to_string())
    }

    fn tree0(doc: &mut Value) -> &mut Value {
        &mut doc["learner"]["gradient_booster"]["model"]["trees"][0]
    }

    /// Asserts an `InvalidModel` error whose message contains every one of `needles`.
    fn assert_invalid(result: Result<Booster>, needles: &[&str]) {
        match result {
            Err(BoosterError::InvalidModel(message)) => {
                for needle in needles {
                    assert!(message.contains(needle), "{needle:?} not in {message:?}");
                }
            }
            other => panic!("expected InvalidModel, got {other:?}"),
        }
    }

    fn assert_tree_invariants(tree: &Tree) {
        for (i, node) in tree.nodes.iter().enumerate() {
            if !node.is_leaf() {
                for child in [node.left, node.right] {
                    assert!(child as usize > i);
                    assert_eq!(tree.nodes[child as usize].parent, i as i32);
                }
            }
        }
        assert_eq!(tree.nodes[0].parent, NO_NODE);
    }

    #[test]
    fn fixture_loads_and_predicts_like_xgboost() {
        let b = small();
        assert_eq!(b.trees.len(), 5);
        assert_eq!(b.num_feature, 4);
        assert_eq!(b.feature_names, ["f0", "f1", "f2", "f3"]);
        assert_eq!(b.base_score, 0.42);
        assert!(b.trees.iter().all(|t| t.depth() <= 3));
        let defaults = b
            .trees
            .iter()
            .flat_map(|t| &t.nodes)
            .filter(|n| !n.is_leaf());
        assert!(defaults.clone().any(|n| n.default_left));
        assert!(defaults.clone().any(|n| !n.default_left));
        b.trees.iter().for_each(assert_tree_invariants);
        let leaf = &b.trees[0].nodes[7];
        assert!(leaf.is_leaf() && leaf.right == NO_NODE && leaf.parent == 3);
        assert_eq!(leaf.split_condition, -2.965_601_7e-1);
        assert_matches_python(&b);
    }

    #[test]
    fn legacy_layout_loads_to_the_same_booster() {
        assert!(LEGACY.contains(r#""base_score":"4.2E-1""#));
        assert!(LEGACY.contains(r#""default_left":[true"#));
        let legacy = from_xgboost_json(LEGACY).unwrap();
        assert_eq!(legacy, small());
        assert_matches_python(&legacy);
    }

    #[test]
    fn round_trip_is_exact() {
        let b = small();
        let text = to_xgboost_json(&b).unwrap();
        assert_eq!(from_xgboost_json(&text).unwrap(), b);
        assert_eq!(
            to_xgboost_json(&from_xgboost_json(&text).unwrap()).unwrap(),
            text
        );
        assert!(!text.contains('\n'));
    }

    #[test]
    fn written_layout_matches_xgboost_3_2() {
        let ours: Value = serde_json::from_str(&to_xgboost_json(&small()).unwrap()).unwrap();
        let mut theirs: Value = serde_json::from_str(SMALL).unwrap();
        // XGBoost only writes feature types it was given; we always declare them.
        theirs["learner"]["feature_types"] =
            serde_json::json!(["float", "float", "float", "float"]);
        assert_eq!(ours, theirs);
        let text = to_xgboost_json(&small()).unwrap();
        assert!(text.starts_with(r#"{"learner":{"attributes":{},"feature_names":["#));
        assert!(text.contains(r#""base_score":"[4.2E-1]""#));
        assert!(text.contains(r#""parents":[2147483647,0,0,"#));
        assert!(text.contains(r#""cats":{"enc":[],"feature_segments":[],"sorted_idx":[]}"#));
        assert!(text.ends_with(r#""version":[3,2,0]}"#));
    }

    #[test]
    fn attributes_names_and_base_score_round_trip() {
        let mut b = small();
        b.feature_names.clear();
        b.attributes.insert("best_iteration".into(), "4".into());
        for base_score in [0.5, 0.1, 1e-7, 0.999_999_94, 0.265_39] {
            b.base_score = base_score;
            let text = to_xgboost_json(&b).unwrap();
            assert!(text.contains(r#""feature_names":[],"feature_types":[]"#));
            assert!(text.contains(r#""attributes":{"best_iteration":"4"}"#));
            assert_eq!(from_xgboost_json(&text).unwrap(), b);
        }
        assert_eq!(format_base_score(0.265_39), "[2.6539E-1]");
        assert_eq!(format_base_score(0.5), "[5E-1]");
    }

    #[test]
    fn f32_values_round_trip_bit_exactly() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let values: Vec<f32> = (0..200_000)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1);
                f32::from_bits((state >> 32) as u32)
            })
            .filter(|v| v.is_finite())
            .collect();
        let back: Vec<f32> =
            serde_json::from_str(&serde_json::to_string(&values).unwrap()).unwrap();
        assert!(values
            .iter()
            .zip(&back)
            .all(|(a, b)| a.to_bits() == b.to_bits()));
    }

    #[test]
    fn accepts_reg_logistic_and_bool_default_left() {
        let b = load_edited(|d| {
            d["learner"]["objective"]["name"] = "reg:logistic".into();
            tree0(d)["default_left"][0] = true.into();
        });
        assert_eq!(b.unwrap(), small());
    }

    #[test]
    fn renumbers_trees_whose_children_precede_their_parent() {
        // Reverse the ids of nodes 1..n in tree 0: every child now has a smaller id than its parent.
        let b = load_edited(|d| {
            let t = tree0(d);
            let n = t["left_children"].as_array().unwrap().len();
            let map = |i: i64| {
                if i <= 0 || i == ROOT_PARENT {
                    i
                } else {
                    n as i64 - i
                }
            };
            for key in ["left_children", "right_children", "parents"] {
                let mapped: Vec<i64> = t[key]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| map(v.as_i64().unwrap()))
                    .collect();
                t[key] = mapped.into();
            }
            for key in [
                "base_weights",
                "default_left",
                "left_children",
                "loss_changes",
                "parents",
                "right_children",
                "split_conditions",
                "split_indices",
                "split_type",
                "sum_hessian",
            ] {
                let a = t[key].as_array_mut().unwrap();
                a[1..].reverse();
            }
        })
        .unwrap();
        assert_tree_invariants(&b.trees[0]);
        assert_eq!(b.trees[0].nodes.len(), small().trees[0].nodes.len());
        assert_matches_python(&b);
    }

    #[test]
    fn drops_unreachable_nodes() {
        let b = load_edited(|d| {
            let t = tree0(d);
            // A deleted node as XGBoost leaves it: unreachable, split index marked invalid.
            for (key, v) in [
                ("base_weights", 0),
                ("default_left", 0),
                ("left_children", -1),
                ("loss_changes", 0),
                ("parents", ROOT_PARENT),
                ("right_children", -1),
                ("split_conditions", 0),
                ("split_indices", ROOT_PARENT),
                ("split_type", 0),
                ("sum_hessian", 0),
            ] {
                t[key].as_array_mut().unwrap().push(v.into());
            }
            t["tree_param"]["num_nodes"] = "16".into();
            t["tree_param"]["num_deleted"] = "1".into();
        });
        assert_eq!(b.unwrap(), small());
    }

    #[test]
    fn rejects_unsupported_models() {
        assert_invalid(
            load_edited(|d| d["learner"]["objective"]["name"] = "reg:squarederror".into()),
            &["objective.name", "reg:squarederror", "binary:logistic"],
        );
        assert_invalid(
            load_edited(|d| {
                d["learner"]["gradient_booster"] = serde_json::json!({
                    "model": {"weights": [0.1, 0.2]}, "name": "gblinear"
                })
            }),
            &["gradient_booster.name", "gblinear", "only gbtree"],
        );
        assert_invalid(
            load_edited(|d| d["learner"]["gradient_booster"]["name"] = "dart".into()),
            &["gradient_booster.name", "dart", "only gbtree"],
        );
        assert_invalid(
            load_edited(|d| d["learner"]["learner_model_param"]["num_class"] = "3".into()),
            &["num_class", "\"3\""],
        );
        assert_invalid(
            load_edited(|d| d["learner"]["learner_model_param"]["num_target"] = "2".into()),
            &["num_target", "\"2\""],
        );
        assert_invalid(
            load_edited(|d| tree0(d)["split_type"][2] = 1.into()),
            &["trees[0].split_type[2]", "categorical", "one-hot"],
        );
        assert_invalid(
            load_edited(|d| tree0(d)["tree_param"]["size_leaf_vector"] = "3".into()),
            &["trees[0].tree_param.size_leaf_vector", "\"3\""],
        );
        assert_invalid(
            load_edited(|d| d["learner"]["gradient_booster"]["model"]["tree_info"][1] = 1.into()),
            &["tree_info[1]", "1"],
        );
    }

    #[test]
    fn rejects_inconsistent_trees() {
        assert_invalid(
            load_edited(|d| {
                tree0(d)["sum_hessian"].as_array_mut().unwrap().pop();
            }),
            &["trees[0].sum_hessian", "14 entries", "num_nodes", "15"],
        );
        assert_invalid(
            load_edited(|d| tree0(d)["tree_param"]["num_nodes"] = "x".into()),
            &["trees[0].tree_param.num_nodes", "\"x\""],
        );
        assert_invalid(
            load_edited(|d| tree0(d)["left_children"][1] = 99.into()),
            &["trees[0].left_children[1]", "99", "out of range"],
        );
        assert_invalid(
            load_edited(|d| tree0(d)["right_children"][1] = (-1).into()),
            &["trees[0].right_children[1]", "-1", "out of range"],
        );
        assert_invalid(
            load_edited(|d| tree0(d)["left_children"][3] = 0.into()),
            &["trees[0].left_children[3]", "reached twice", "cycle"],
        );
        assert_invalid(
            load_edited(|d| {
                // Node 9 becomes a child of both node 3 and node 4.
                tree0(d)["left_children"][3] = 9.into();
                tree0(d)["parents"][9] = 3.into();
            }),
            &["trees[0].left_children[4]", "9", "reached twice"],
        );
        assert_invalid(
            load_edited(|d| tree0(d)["parents"][5] = 1.into()),
            &["trees[0].parents[5]", "child of node 2"],
        );
        assert_invalid(
            load_edited(|d| tree0(d)["split_indices"][0] = 4.into()),
            &["trees[0].split_indices[0]", "4", "4 features"],
        );
        assert_invalid(
            load_edited(|d| tree0(d)["default_left"][0] = 2.into()),
            &["trees[0].default_left[0]", "2"],
        );
        assert_invalid(
            load_edited(|d| tree0(d)["split_conditions"][0] = 1e39.into()),
            &["trees[0].split_conditions[0]", "inf"],
        );
        assert_invalid(
            load_edited(|d| {
                d["learner"]["gradient_booster"]["model"]["gbtree_model_param"]["num_trees"] =
                    "4".into()
            }),
            &["num_trees", "\"4\"", "5 trees"],
        );
        assert_invalid(
            load_edited(|d| d["learner"]["feature_names"] = serde_json::json!(["a"])),
            &["feature_names", "1 names", "4"],
        );
    }

    #[test]
    fn rejects_bad_base_score() {
        for bad in ["[1.5E0]", "0E0", "[-1E-1]", "[abc]", "[1E-1,2E-1]", ""] {
            assert_invalid(
                load_edited(|d| d["learner"]["learner_model_param"]["base_score"] = bad.into()),
                &["learner_model_param.base_score", &format!("{bad:?}")],
            );
        }
    }

    #[test]
    fn garbage_is_a_json_error() {
        for text in [
            &SMALL[..SMALL.len() / 2],
            "not json",
            "{}",
            r#"{"learner": 3}"#,
        ] {
            assert!(
                matches!(from_xgboost_json(text), Err(BoosterError::Json(_))),
                "{text}"
            );
        }
    }

    #[test]
    fn writing_rejects_unloadable_boosters() {
        let mut b = small();
        b.trees[1].nodes[4].split_condition = f32::NAN;
        assert_invalid(
            to_xgboost_json(&b).map(|_| small()),
            &["trees[1].split_conditions[4]", "NaN"],
        );
        let mut b = small();
        b.base_score = 1.0;
        assert_invalid(to_xgboost_json(&b).map(|_| small()), &["base_score"]);
        let mut b = small();
        b.num_feature = 2;
        b.feature_names.truncate(2);
        assert_invalid(
            to_xgboost_json(&b).map(|_| small()),
            &["split_indices", "2 features"],
        );
        let mut b = small();
        b.trees[0].nodes.clear();
        assert_invalid(
            to_xgboost_json(&b).map(|_| small()),
            &["trees[0].tree_param.num_nodes"],
        );
    }
}
