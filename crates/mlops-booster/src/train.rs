//! The boosting loop: depth-wise tree growth on gradient histograms, as XGBoost's `hist`.

use rayon::prelude::*;

use crate::binning::BinnedMatrix;
use crate::error::{BoosterError, Result};
use crate::histogram::{self, GradSum, Histogram};
use crate::params::ValidBoosterParams;
use crate::rng::SplitMix64;
use crate::tree::{logit, sigmoid, Booster, Node, Tree, NO_NODE};

/// XGBoost's `kRtEps`: a split must reduce the loss by more than this.
const MIN_SPLIT_GAIN: f64 = 1e-6;
/// Lower bound on a hessian, as XGBoost's logistic objective.
const MIN_HESSIAN: f32 = 1e-16;
/// Rows per parallel work item for per-row loops.
const ROW_CHUNK: usize = 16_384;
/// Rows per parallel work item when partitioning a large node.
const PARTITION_CHUNK: usize = 65_536;

/// A training (or validation) table: a dense row-major `f32` matrix (NaN = missing) and 0/1 labels.
#[derive(Debug, Clone)]
pub struct TrainData<'a> {
    x: &'a [f32],
    n_rows: usize,
    n_features: usize,
    y: &'a [f32],
    weights: Option<&'a [f32]>,
    feature_names: Vec<String>,
}

impl<'a> TrainData<'a> {
    /// Wrap a row-major matrix with `n_features` columns and one label (0 or 1) per row.
    pub fn new(x: &'a [f32], n_features: usize, y: &'a [f32]) -> Result<Self> {
        if n_features == 0 {
            return Err(BoosterError::InvalidData(
                "the feature matrix has no columns".into(),
            ));
        }
        if !x.len().is_multiple_of(n_features) {
            return Err(BoosterError::InvalidData(format!(
                "the matrix has {} values, not a multiple of {n_features} features",
                x.len()
            )));
        }
        if x.len() > u32::MAX as usize {
            return Err(BoosterError::InvalidData(format!(
                "the matrix has {} cells; at most {} are supported",
                x.len(),
                u32::MAX
            )));
        }
        let n_rows = x.len() / n_features;
        if n_rows == 0 {
            return Err(BoosterError::InvalidData("the table has no rows".into()));
        }
        if y.len() != n_rows {
            return Err(BoosterError::InvalidData(format!(
                "{} labels for {n_rows} rows",
                y.len()
            )));
        }
        if let Some((row, label)) = y.iter().enumerate().find(|(_, &v)| v != 0.0 && v != 1.0) {
            return Err(BoosterError::InvalidData(format!(
                "label of row {row} is {label}, expected 0 or 1"
            )));
        }
        if let Some(pos) = x.iter().position(|v| v.is_infinite()) {
            return Err(BoosterError::InvalidData(format!(
                "row {} feature {} is infinite; use NaN for missing values",
                pos / n_features,
                pos % n_features
            )));
        }
        Ok(TrainData {
            x,
            n_rows,
            n_features,
            y,
            weights: None,
            feature_names: Vec::new(),
        })
    }

    /// Per-row weights (non-negative, finite).
    pub fn with_weights(mut self, weights: &'a [f32]) -> Result<Self> {
        if weights.len() != self.n_rows {
            return Err(BoosterError::InvalidData(format!(
                "{} weights for {} rows",
                weights.len(),
                self.n_rows
            )));
        }
        if let Some((row, w)) = weights
            .iter()
            .enumerate()
            .find(|(_, w)| !(w.is_finite() && **w >= 0.0))
        {
            return Err(BoosterError::InvalidData(format!(
                "weight of row {row} is {w}, expected a finite number >= 0"
            )));
        }
        self.weights = Some(weights);
        Ok(self)
    }

    /// Column names, saved in the model.
    pub fn with_feature_names(mut self, names: Vec<String>) -> Result<Self> {
        if names.len() != self.n_features {
            return Err(BoosterError::InvalidData(format!(
                "{} feature names for {} columns",
                names.len(),
                self.n_features
            )));
        }
        self.feature_names = names;
        Ok(self)
    }

    /// Number of rows.
    pub fn n_rows(&self) -> usize {
        self.n_rows
    }

    /// Number of feature columns.
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    fn row(&self, r: usize) -> &[f32] {
        &self.x[r * self.n_features..(r + 1) * self.n_features]
    }

    fn weight(&self, r: usize) -> f32 {
        self.weights.map_or(1.0, |w| w[r])
    }
}

/// What the trainer reports after each boosting round.
#[derive(Debug, Clone, PartialEq)]
pub struct RoundReport {
    /// Zero-based round just finished.
    pub round: usize,
    /// Rounds configured.
    pub n_rounds: usize,
    /// Logloss on the validation set, when one was given.
    pub valid_logloss: Option<f64>,
    /// Best validation round so far.
    pub best_round: Option<usize>,
}

/// Receives progress during training (a progress bar, a log line, a test probe).
pub trait TrainingObserver: Send {
    /// Called once after every boosting round.
    fn on_round(&mut self, report: &RoundReport);
}

impl<F: FnMut(&RoundReport) + Send> TrainingObserver for F {
    fn on_round(&mut self, report: &RoundReport) {
        self(report)
    }
}

/// Trains a [`Booster`] with validated parameters.
#[derive(Debug, Clone)]
pub struct Trainer {
    params: ValidBoosterParams,
}

impl Trainer {
    /// A trainer for these parameters.
    pub fn new(params: ValidBoosterParams) -> Self {
        Trainer { params }
    }

    /// The parameters.
    pub fn params(&self) -> &ValidBoosterParams {
        &self.params
    }

    /// Train on `train`; with `valid`, track validation logloss and stop early when configured.
    pub fn fit(&self, train: &TrainData, valid: Option<&TrainData>) -> Result<Booster> {
        self.fit_with_observer(train, valid, &mut |_: &RoundReport| {})
    }

    /// As [`Trainer::fit`], reporting every round to `observer`.
    pub fn fit_with_observer(
        &self,
        train: &TrainData,
        valid: Option<&TrainData>,
        observer: &mut dyn TrainingObserver,
    ) -> Result<Booster> {
        if let Some(v) = valid {
            if v.n_features != train.n_features {
                return Err(BoosterError::FeatureCountMismatch {
                    expected: train.n_features,
                    found: v.n_features,
                });
            }
        }
        let fitted = if self.params.n_threads == 0 {
            fit_inner(&self.params, train, valid, observer)
        } else {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(self.params.n_threads)
                .build()
                .map_err(|e| {
                    BoosterError::InvalidData(format!("cannot start worker threads: {e}"))
                })?;
            pool.install(|| fit_inner(&self.params, train, valid, observer))
        };
        Ok(fitted.booster)
    }
}

/// A node while its tree grows: splits are in bins, rows are a range of the row index.
#[derive(Debug, Clone)]
struct GrowNode {
    parent: i32,
    left: i32,
    right: i32,
    feature: usize,
    bin: usize,
    default_left: bool,
    loss_change: f64,
    sum: GradSum,
    /// Leaf value (learning rate applied), as stored in the final tree.
    value: f32,
    begin: usize,
    end: usize,
}

impl GrowNode {
    fn new(parent: i32, sum: GradSum, begin: usize, end: usize, p: &ValidBoosterParams) -> Self {
        GrowNode {
            parent,
            left: NO_NODE,
            right: NO_NODE,
            feature: 0,
            bin: 0,
            default_left: false,
            loss_change: 0.0,
            sum,
            value: (p.learning_rate * weight(sum, p)) as f32,
            begin,
            end,
        }
    }
}

/// The best split found for a node.
#[derive(Debug, Clone, Copy)]
struct Split {
    feature: usize,
    bin: usize,
    default_left: bool,
    loss_change: f64,
    left: GradSum,
    right: GradSum,
}

/// One node of the current level, with its histogram.
struct LevelNode {
    id: usize,
    hist: Histogram,
}

/// A trained model with the margins the trainer held for its training rows at the end (after
/// every tree grown, including any that early stopping then drops).
struct Fitted {
    booster: Booster,
    #[cfg_attr(
        not(test),
        expect(dead_code, reason = "read by the tests that pin it to the saved model")
    )]
    train_margin: Vec<f32>,
}

fn fit_inner(
    params: &ValidBoosterParams,
    train: &TrainData,
    valid: Option<&TrainData>,
    observer: &mut dyn TrainingObserver,
) -> Fitted {
    let matrix = BinnedMatrix::build(train.x, train.n_features, params.max_bin, params.seed);
    let base_score = params
        .base_score
        .unwrap_or_else(|| label_mean(train))
        .clamp(1e-6, 1.0 - 1e-6) as f32;
    let base_margin = logit(base_score);
    let n = train.n_rows;
    let mut margin = vec![base_margin; n];
    let mut grad = vec![[0f32; 2]; n];
    let mut valid_margin = valid.map(|v| vec![base_margin; v.n_rows]);
    let mut rng = SplitMix64::new(params.seed);
    let mut trees = Vec::with_capacity(params.n_estimators);
    let mut best: Option<(usize, f64)> = None;
    let all_features: Vec<usize> = (0..train.n_features).collect();

    for round in 0..params.n_estimators {
        compute_gradients(train, &margin, &mut grad);
        let rows = sample_rows(n, params.subsample, &mut rng);
        let features = sample_features(&all_features, params.colsample_bytree, &mut rng);
        let sampled = rows.len() < n;
        let (grown, index) = grow_tree(&matrix, &grad, rows, &features, params);
        let (tree, reachable) = to_tree(&grown, &matrix);

        if sampled {
            // Rows left out of this tree's sample still get its prediction.
            margin
                .par_chunks_mut(ROW_CHUNK)
                .enumerate()
                .for_each(|(c, chunk)| {
                    for (i, m) in chunk.iter_mut().enumerate() {
                        *m += leaf_value_binned(&grown, &matrix, c * ROW_CHUNK + i);
                    }
                });
        } else {
            for (node, _) in grown
                .iter()
                .zip(&reachable)
                .filter(|(n, &r)| r && n.left == NO_NODE)
            {
                for &r in &index[node.begin..node.end] {
                    margin[r as usize] += node.value;
                }
            }
        }

        let mut valid_logloss = None;
        if let (Some(v), Some(vm)) = (valid, valid_margin.as_mut()) {
            vm.par_chunks_mut(ROW_CHUNK)
                .enumerate()
                .for_each(|(c, chunk)| {
                    for (i, m) in chunk.iter_mut().enumerate() {
                        *m += tree.predict_row(v.row(c * ROW_CHUNK + i));
                    }
                });
            let loss = logloss(v, vm);
            valid_logloss = Some(loss);
            if best.is_none_or(|(_, b)| loss < b) {
                best = Some((round, loss));
            }
        }
        trees.push(tree);
        observer.on_round(&RoundReport {
            round,
            n_rounds: params.n_estimators,
            valid_logloss,
            best_round: best.map(|(r, _)| r),
        });
        if let (Some(patience), Some((best_round, _))) = (params.early_stopping_rounds, best) {
            if round - best_round >= patience {
                break;
            }
        }
    }

    let mut attributes = std::collections::BTreeMap::new();
    if let (Some(_), Some((best_round, best_loss))) = (params.early_stopping_rounds, best) {
        trees.truncate(best_round + 1);
        attributes.insert("best_iteration".to_string(), best_round.to_string());
        attributes.insert("best_score".to_string(), format!("{best_loss}"));
    }
    Fitted {
        booster: Booster {
            trees,
            base_score,
            num_feature: train.n_features,
            feature_names: train.feature_names.clone(),
            attributes,
        },
        train_margin: margin,
    }
}

fn label_mean(train: &TrainData) -> f64 {
    let (mut sum, mut total) = (0f64, 0f64);
    for r in 0..train.n_rows {
        let w = train.weight(r) as f64;
        sum += w * train.y[r] as f64;
        total += w;
    }
    if total > 0.0 {
        sum / total
    } else {
        0.5
    }
}

fn compute_gradients(train: &TrainData, margin: &[f32], grad: &mut [[f32; 2]]) {
    grad.par_chunks_mut(ROW_CHUNK)
        .enumerate()
        .for_each(|(c, chunk)| {
            let start = c * ROW_CHUNK;
            for (i, gh) in chunk.iter_mut().enumerate() {
                let r = start + i;
                let p = sigmoid(margin[r]);
                let w = train.weight(r);
                *gh = [(p - train.y[r]) * w, (p * (1.0 - p)).max(MIN_HESSIAN) * w];
            }
        });
}

fn logloss(data: &TrainData, margin: &[f32]) -> f64 {
    const EPS: f64 = 1e-16;
    let (mut sum, mut total) = (0f64, 0f64);
    for (r, &m) in margin.iter().enumerate() {
        let p = (sigmoid(m) as f64).clamp(EPS, 1.0 - EPS);
        let y = data.y[r] as f64;
        let w = data.weight(r) as f64;
        sum -= w * (y * p.ln() + (1.0 - y) * (1.0 - p).ln());
        total += w;
    }
    if total > 0.0 {
        sum / total
    } else {
        0.0
    }
}

/// Bernoulli row sampling, as XGBoost's uniform `subsample`.
fn sample_rows(n: usize, fraction: f64, rng: &mut SplitMix64) -> Vec<u32> {
    if fraction >= 1.0 {
        return (0..n as u32).collect();
    }
    let mut rows: Vec<u32> = (0..n as u32)
        .filter(|_| rng.next_f64() < fraction)
        .collect();
    if rows.is_empty() {
        rows.push(rng.below(n) as u32);
    }
    rows
}

fn sample_features(all: &[usize], fraction: f64, rng: &mut SplitMix64) -> Vec<usize> {
    if fraction >= 1.0 {
        return all.to_vec();
    }
    let k = ((all.len() as f64 * fraction).round() as usize).clamp(1, all.len());
    let mut shuffled = all.to_vec();
    rng.shuffle(&mut shuffled);
    shuffled.truncate(k);
    shuffled.sort_unstable();
    shuffled
}

fn threshold_l1(g: f64, alpha: f64) -> f64 {
    if g > alpha {
        g - alpha
    } else if g < -alpha {
        g + alpha
    } else {
        0.0
    }
}

/// XGBoost's `CalcGain` without `max_delta_step`.
fn gain(s: GradSum, p: &ValidBoosterParams) -> f64 {
    if s.h < p.min_child_weight || s.h <= 0.0 {
        return 0.0;
    }
    let t = threshold_l1(s.g, p.reg_alpha);
    t * t / (s.h + p.reg_lambda)
}

/// XGBoost's `CalcWeight` without `max_delta_step`.
fn weight(s: GradSum, p: &ValidBoosterParams) -> f64 {
    if s.h < p.min_child_weight || s.h <= 0.0 {
        return 0.0;
    }
    -threshold_l1(s.g, p.reg_alpha) / (s.h + p.reg_lambda)
}

fn best_split(
    matrix: &BinnedMatrix,
    hist: &[GradSum],
    sum: GradSum,
    features: &[usize],
    p: &ValidBoosterParams,
) -> Option<Split> {
    let parent_gain = gain(sum, p);
    let mut best: Option<Split> = None;
    let mcw = p.min_child_weight;
    let mut consider =
        |feature: usize, bin: usize, default_left: bool, left: GradSum, right: GradSum| {
            if left.h < mcw || right.h < mcw || left.h <= 0.0 || right.h <= 0.0 {
                return;
            }
            let loss_change = gain(left, p) + gain(right, p) - parent_gain;
            if loss_change > MIN_SPLIT_GAIN && best.is_none_or(|b| loss_change > b.loss_change) {
                best = Some(Split {
                    feature,
                    bin,
                    default_left,
                    loss_change,
                    left,
                    right,
                });
            }
        };
    for &f in features {
        let off = matrix.offsets[f];
        let n_bins = matrix.cuts[f].n_bins();
        let missing = hist[off + n_bins];
        let has_missing = missing.h > 0.0;
        let mut acc = GradSum::default();
        for b in 0..n_bins {
            acc += hist[off + b];
            let mut right = sum;
            right -= acc;
            consider(f, b, false, acc, right);
            if has_missing {
                let mut left = acc;
                left += missing;
                let mut right = right;
                right -= missing;
                consider(f, b, true, left, right);
            }
        }
    }
    best
}

/// Grow one tree depth-wise. Returns the nodes (level order) and the row index whose ranges
/// the nodes refer to.
fn grow_tree(
    matrix: &BinnedMatrix,
    grad: &[[f32; 2]],
    mut index: Vec<u32>,
    features: &[usize],
    p: &ValidBoosterParams,
) -> (Vec<GrowNode>, Vec<u32>) {
    let root_hist = histogram::build(matrix, &index, grad);
    // The root's sum is any one feature's histogram total (every row has one bin per feature).
    let mut root_sum = GradSum::default();
    for s in &root_hist[matrix.offsets[0]..matrix.offsets[1]] {
        root_sum += *s;
    }
    let mut nodes = vec![GrowNode::new(NO_NODE, root_sum, 0, index.len(), p)];
    let mut level = vec![LevelNode {
        id: 0,
        hist: root_hist,
    }];

    for depth in 0..p.max_depth {
        if level.is_empty() {
            break;
        }
        let splits: Vec<Option<Split>> = level
            .par_iter()
            .map(|ln| best_split(matrix, &ln.hist, nodes[ln.id].sum, features, p))
            .collect();

        // Partition each split node's rows in parallel: the ranges are disjoint.
        let mut slices: Vec<(&mut [u32], Split)> = Vec::new();
        {
            let mut rest: &mut [u32] = &mut index;
            let mut consumed = 0;
            for (ln, split) in level.iter().zip(&splits) {
                let node = &nodes[ln.id];
                let Some(split) = split else { continue };
                let (_, tail) = std::mem::take(&mut rest).split_at_mut(node.begin - consumed);
                let (mine, tail) = tail.split_at_mut(node.end - node.begin);
                rest = tail;
                consumed = node.end;
                slices.push((mine, *split));
            }
        }
        let left_counts: Vec<usize> = slices
            .into_par_iter()
            .map(|(rows, split)| partition(matrix, rows, &split))
            .collect();

        let last_level = depth + 1 == p.max_depth;
        let mut children: Vec<(usize, usize, Histogram)> = Vec::new();
        let mut counts = left_counts.into_iter();
        for (ln, split) in level.into_iter().zip(splits) {
            let Some(split) = split else { continue };
            let n_left = counts.next().unwrap_or(0);
            let id = ln.id;
            let (begin, end) = (nodes[id].begin, nodes[id].end);
            let left = nodes.len();
            let right = left + 1;
            for (sum, b, e) in [
                (split.left, begin, begin + n_left),
                (split.right, begin + n_left, end),
            ] {
                nodes.push(GrowNode::new(id as i32, sum, b, e, p));
            }
            let node = &mut nodes[id];
            node.left = left as i32;
            node.right = right as i32;
            node.feature = split.feature;
            node.bin = split.bin;
            node.default_left = split.default_left;
            node.loss_change = split.loss_change;
            if !last_level {
                children.push((left, right, ln.hist));
            }
        }
        // Histogram of the smaller child by summing, of the larger by subtraction.
        let index_ref = &index;
        let nodes_ref = &nodes;
        level = children
            .into_par_iter()
            .flat_map_iter(|(left, right, mut parent_hist)| {
                let (l, r) = (&nodes_ref[left], &nodes_ref[right]);
                let (small, large) = if l.end - l.begin <= r.end - r.begin {
                    (left, right)
                } else {
                    (right, left)
                };
                let s = &nodes_ref[small];
                let small_hist = histogram::build(matrix, &index_ref[s.begin..s.end], grad);
                histogram::subtract(&mut parent_hist, &small_hist);
                [
                    LevelNode {
                        id: small,
                        hist: small_hist,
                    },
                    LevelNode {
                        id: large,
                        hist: parent_hist,
                    },
                ]
            })
            .collect();
        // Keep the level in row order, which the partition step relies on.
        level.sort_unstable_by_key(|ln| nodes[ln.id].begin);
    }
    prune(&mut nodes, p.gamma);
    (nodes, index)
}

/// Stable partition of a node's rows: left rows first. Returns the number of left rows.
fn partition(matrix: &BinnedMatrix, rows: &mut [u32], split: &Split) -> usize {
    let missing = matrix.cuts[split.feature].missing_bin();
    let column = matrix.column(split.feature);
    let goes_left = |r: u32| {
        let b = column[r as usize] as usize;
        if b == missing {
            split.default_left
        } else {
            b <= split.bin
        }
    };
    if rows.len() < 2 * PARTITION_CHUNK {
        let mut right = Vec::new();
        let mut n_left = 0;
        for i in 0..rows.len() {
            let r = rows[i];
            if goes_left(r) {
                rows[n_left] = r;
                n_left += 1;
            } else {
                right.push(r);
            }
        }
        rows[n_left..].copy_from_slice(&right);
        return n_left;
    }
    // Large nodes: each chunk splits into its own left and right lists, in parallel.
    let parts: Vec<(Vec<u32>, Vec<u32>)> = rows
        .par_chunks(PARTITION_CHUNK)
        .map(|chunk| chunk.iter().partition(|&&r| goes_left(r)))
        .collect();
    let mut pos = 0;
    for (left, _) in &parts {
        rows[pos..pos + left.len()].copy_from_slice(left);
        pos += left.len();
    }
    let n_left = pos;
    for (_, right) in &parts {
        rows[pos..pos + right.len()].copy_from_slice(right);
        pos += right.len();
    }
    n_left
}

/// XGBoost's pruner: a split whose children are both leaves and whose gain is below `gamma`
/// is undone, bottom-up. Children always follow their parent, so one reverse pass suffices.
fn prune(nodes: &mut [GrowNode], gamma: f64) {
    if gamma <= 0.0 {
        return;
    }
    for i in (0..nodes.len()).rev() {
        let n = &nodes[i];
        if n.left == NO_NODE {
            continue;
        }
        let (l, r) = (n.left as usize, n.right as usize);
        if nodes[l].left == NO_NODE && nodes[r].left == NO_NODE && n.loss_change < gamma {
            nodes[i].left = NO_NODE;
            nodes[i].right = NO_NODE;
            nodes[i].loss_change = 0.0;
        }
    }
}

/// Leaf value for one binned row, walking the grown tree.
fn leaf_value_binned(grown: &[GrowNode], matrix: &BinnedMatrix, row: usize) -> f32 {
    let mut g = &grown[0];
    while g.left != NO_NODE {
        let b = matrix.bin(row, g.feature) as usize;
        let left = if b == matrix.cuts[g.feature].missing_bin() {
            g.default_left
        } else {
            b <= g.bin
        };
        g = &grown[if left { g.left } else { g.right } as usize];
    }
    g.value
}

/// Final tree in raw-value form. Nodes cut off by pruning are dropped and the rest renumbered
/// in breadth-first order. Also returns which grown nodes are still in the tree.
fn to_tree(grown: &[GrowNode], matrix: &BinnedMatrix) -> (Tree, Vec<bool>) {
    let mut order = vec![0usize];
    let mut new_index = vec![usize::MAX; grown.len()];
    new_index[0] = 0;
    let mut i = 0;
    while i < order.len() {
        let g = &grown[order[i]];
        if g.left != NO_NODE {
            for c in [g.left as usize, g.right as usize] {
                new_index[c] = order.len();
                order.push(c);
            }
        }
        i += 1;
    }
    let nodes = order
        .iter()
        .map(|&gi| {
            let g = &grown[gi];
            let parent = if g.parent == NO_NODE {
                NO_NODE
            } else {
                new_index[g.parent as usize] as i32
            };
            if g.left == NO_NODE {
                Node::leaf(parent, g.value, g.sum.h as f32)
            } else {
                Node {
                    left: new_index[g.left as usize] as i32,
                    right: new_index[g.right as usize] as i32,
                    parent,
                    feature: g.feature as u32,
                    split_condition: matrix.cuts[g.feature].cuts[g.bin],
                    default_left: g.default_left,
                    base_weight: g.value,
                    loss_change: g.loss_change as f32,
                    sum_hessian: g.sum.h as f32,
                }
            }
        })
        .collect();
    let reachable = new_index.iter().map(|&i| i != usize::MAX).collect();
    (Tree { nodes }, reachable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::BoosterParams;
    use crate::xgboost_json::{from_xgboost_json, to_xgboost_json};
    use crate::Predictor;
    use approx::assert_relative_eq;

    fn params(p: BoosterParams) -> ValidBoosterParams {
        p.check().unwrap()
    }

    /// A churn-like table: three numeric columns with thousands of distinct values (one with
    /// missing cells), two binary columns; the label depends on them through thresholds and
    /// an interaction, with 10% label noise.
    fn churn_like(n_rows: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
        let mut rng = SplitMix64::new(seed);
        let mut x = Vec::with_capacity(n_rows * 5);
        let mut y = Vec::with_capacity(n_rows);
        for _ in 0..n_rows {
            let tenure = (rng.next_f64() * 7_200.0).round() as f32 / 100.0;
            let charges = (18.0 + rng.next_f64() * 10_000.0).round() as f32 / 100.0;
            let total = if rng.next_f64() < 0.02 {
                f32::NAN
            } else {
                (tenure * charges * (0.9 + 0.2 * rng.next_f64() as f32) * 100.0).round() / 100.0
            };
            let a = (rng.next_f64() < 0.3) as u8 as f32;
            let b = (rng.next_f64() < 0.6) as u8 as f32;
            let score = (tenure < 12.0) as u8 as f64 + (charges > 70.0) as u8 as f64 * 0.8
                - a as f64 * 0.7
                + (b == 1.0 && tenure > 40.0) as u8 as f64 * 0.9
                + (total.is_nan() || total < 500.0) as u8 as f64 * 0.5;
            let p = 1.0 / (1.0 + (-(score * 2.0 - 2.0)).exp());
            let label = if rng.next_f64() < 0.1 {
                (rng.next_f64() < 0.5) as u8
            } else {
                (rng.next_f64() < p) as u8
            };
            x.extend_from_slice(&[tenure, charges, total, a, b]);
            y.push(label as f32);
        }
        (x, y)
    }

    /// Margins of the saved model (XGBoost JSON, read back) for every row of `x`.
    fn saved_model_margins(booster: &Booster, x: &[f32], n_features: usize) -> Vec<f32> {
        let text = to_xgboost_json(booster).unwrap();
        let loaded = from_xgboost_json(&text).unwrap();
        Predictor::new(&loaded)
            .unwrap()
            .predict_margin(x, n_features)
            .unwrap()
    }

    fn assert_margins_match(fitted: &Fitted, x: &[f32], n_features: usize, what: &str) {
        let saved = saved_model_margins(&fitted.booster, x, n_features);
        let mismatches: Vec<(usize, f32, f32)> = fitted
            .train_margin
            .iter()
            .zip(&saved)
            .enumerate()
            .filter(|(_, (a, b))| (*a - *b).abs() > 1e-4)
            .map(|(r, (a, b))| (r, *a, *b))
            .collect();
        assert!(
            mismatches.is_empty(),
            "{what}: {} of {} rows differ between the trainer's margin and the saved model's, \
             first {:?}",
            mismatches.len(),
            saved.len(),
            &mismatches[..mismatches.len().min(5)]
        );
    }

    #[test]
    fn training_margins_equal_the_saved_models_predictions_at_every_max_bin() {
        let (x, y) = churn_like(20_000, 7);
        let data = TrainData::new(&x, 5, &y).unwrap();
        for max_bin in [16, 64, 255, 256] {
            let p = params(BoosterParams {
                n_estimators: 30,
                max_depth: 6,
                learning_rate: 0.3,
                max_bin,
                ..Default::default()
            });
            let fitted = fit_inner(&p, &data, None, &mut |_: &RoundReport| {});
            assert_margins_match(&fitted, &x, 5, &format!("max_bin {max_bin}"));
        }
    }

    #[test]
    fn training_margins_equal_the_saved_models_predictions_when_cuts_come_from_a_sample() {
        // More rows than the quantile sketch reads: values outside the sample's range exist.
        let n = crate::binning::SKETCH_ROWS + 40_000;
        let (x, y) = churn_like(n, 9);
        let data = TrainData::new(&x, 5, &y).unwrap();
        for max_bin in [64, 256] {
            let p = params(BoosterParams {
                n_estimators: 10,
                max_bin,
                ..Default::default()
            });
            let fitted = fit_inner(&p, &data, None, &mut |_: &RoundReport| {});
            assert_margins_match(&fitted, &x, 5, &format!("sketched, max_bin {max_bin}"));
        }
    }

    #[test]
    fn training_margins_equal_the_saved_models_predictions_with_row_sampling() {
        let (x, y) = churn_like(20_000, 8);
        let data = TrainData::new(&x, 5, &y).unwrap();
        let p = params(BoosterParams {
            n_estimators: 20,
            subsample: 0.6,
            colsample_bytree: 0.6,
            seed: 3,
            ..Default::default()
        });
        let fitted = fit_inner(&p, &data, None, &mut |_: &RoundReport| {});
        assert_margins_match(&fitted, &x, 5, "subsample 0.6");
    }

    #[test]
    fn gain_and_weight_follow_xgboost_formulas() {
        let s = GradSum { g: -6.0, h: 2.0 };
        let p = params(BoosterParams::default());
        // lambda 1: gain = G^2 / (H + lambda) = 36 / 3 = 12; weight = -G / (H + lambda) = 2.
        assert_relative_eq!(gain(s, &p), 12.0);
        assert_relative_eq!(weight(s, &p), 2.0);
        // alpha 2 shrinks |G| by 2 first: T = -4, gain = 16 / 3, weight = 4 / 3.
        let p = params(BoosterParams {
            reg_alpha: 2.0,
            ..Default::default()
        });
        assert_relative_eq!(gain(s, &p), 16.0 / 3.0);
        assert_relative_eq!(weight(s, &p), 4.0 / 3.0);
        // |G| <= alpha: no gain and a zero weight.
        let p = params(BoosterParams {
            reg_alpha: 7.0,
            ..Default::default()
        });
        assert_eq!((gain(s, &p), weight(s, &p)), (0.0, 0.0));
        // lambda 0, H 2: weight 3; below min_child_weight both are 0.
        let p = params(BoosterParams {
            reg_lambda: 0.0,
            ..Default::default()
        });
        assert_relative_eq!(weight(s, &p), 3.0);
        let p = params(BoosterParams {
            min_child_weight: 2.5,
            ..Default::default()
        });
        assert_eq!((gain(s, &p), weight(s, &p)), (0.0, 0.0));
    }

    /// Four rows with values 0, 1, 2, 3 (one bin each) and gradients -1, -1, +1, +1, hessians 1.
    fn four_rows() -> (BinnedMatrix, Vec<[f32; 2]>, Vec<u32>) {
        let x = [0.0, 1.0, 2.0, 3.0];
        let m = BinnedMatrix::build(&x, 1, 256, 0);
        let grad = vec![[-1.0, 1.0], [-1.0, 1.0], [1.0, 1.0], [1.0, 1.0]];
        (m, grad, vec![0, 1, 2, 3])
    }

    #[test]
    fn best_split_has_the_hand_computed_gain() {
        let (m, grad, rows) = four_rows();
        let hist = histogram::build(&m, &rows, &grad);
        let sum = GradSum { g: 0.0, h: 4.0 };
        let p = params(BoosterParams::default());
        // Parent: G 0 -> gain 0. "x < 2": left G -2 H 2, right G 2 H 2, each 4 / 3, so 8 / 3.
        // "x < 1" (or "x < 3"): 1 / 2 + 1 / 4 = 0.75.
        let split = best_split(&m, &hist, sum, &[0], &p).unwrap();
        assert_eq!(split.bin, 1);
        assert_eq!(m.cuts[0].cuts[split.bin], 2.0);
        assert_relative_eq!(split.loss_change, 8.0 / 3.0);
        assert_eq!((split.left.g, split.left.h), (-2.0, 2.0));
        // min_child_weight 2.5: every split leaves a child with H <= 2.
        let p = params(BoosterParams {
            min_child_weight: 2.5,
            ..Default::default()
        });
        assert!(best_split(&m, &hist, sum, &[0], &p).is_none());
        // lambda 0: "x < 2" gains 4 / 2 + 4 / 2 = 4.
        let p = params(BoosterParams {
            reg_lambda: 0.0,
            ..Default::default()
        });
        assert_relative_eq!(
            best_split(&m, &hist, sum, &[0], &p).unwrap().loss_change,
            4.0
        );
    }

    #[test]
    fn gamma_prunes_splits_that_gain_less() {
        let (m, grad, rows) = four_rows();
        for (gamma, expected_nodes) in [(0.0, 3), (2.6, 3), (2.7, 1)] {
            let p = params(BoosterParams {
                max_depth: 1,
                learning_rate: 0.5,
                gamma,
                ..Default::default()
            });
            let (grown, _) = grow_tree(&m, &grad, rows.clone(), &[0], &p);
            let (tree, _) = to_tree(&grown, &m);
            // The split gains 8 / 3 = 2.67: kept below that gamma, pruned above.
            assert_eq!(tree.nodes.len(), expected_nodes, "gamma {gamma}");
            if expected_nodes == 3 {
                // Left leaf: -G / (H + lambda) * eta = 2 / 3 * 0.5.
                assert_relative_eq!(tree.predict_row(&[0.0]), 1.0 / 3.0, epsilon = 1e-6);
                assert_relative_eq!(tree.predict_row(&[3.0]), -1.0 / 3.0, epsilon = 1e-6);
            } else {
                // The root leaf: G 0 -> weight 0.
                assert_eq!(tree.predict_row(&[0.0]), 0.0);
            }
        }
    }

    #[test]
    fn missing_values_go_where_their_gradients_fit() {
        // Values 0 are negatives, values 1 positives; missing rows are positives in the first
        // table and negatives in the second, so the learnt default direction must follow them.
        for (missing_label, expect_left) in [(1.0, false), (0.0, true)] {
            let mut x = Vec::new();
            let mut y = Vec::new();
            for i in 0..300 {
                let (v, label) = match i % 3 {
                    0 => (0.0, 0.0),
                    1 => (1.0, 1.0),
                    _ => (f32::NAN, missing_label),
                };
                x.push(v);
                y.push(label);
            }
            let data = TrainData::new(&x, 1, &y).unwrap();
            let p = params(BoosterParams {
                n_estimators: 1,
                max_depth: 1,
                ..Default::default()
            });
            let booster = Trainer::new(p).fit(&data, None).unwrap();
            let root = booster.trees[0].nodes[0];
            assert!(!root.is_leaf());
            assert_eq!(
                root.default_left, expect_left,
                "missing label {missing_label}"
            );
            let tree = &booster.trees[0];
            let expected = if missing_label == 1.0 { 1.0 } else { 0.0 };
            assert_eq!(tree.predict_row(&[f32::NAN]), tree.predict_row(&[expected]));
        }
    }

    #[test]
    fn row_and_feature_sampling_depend_only_on_the_seed() {
        let draw = |seed| {
            let mut rng = SplitMix64::new(seed);
            let rows = sample_rows(10_000, 0.3, &mut rng);
            let features = sample_features(&(0..10).collect::<Vec<_>>(), 0.4, &mut rng);
            (rows, features)
        };
        let (rows, features) = draw(11);
        assert_eq!((rows.clone(), features.clone()), draw(11));
        assert_ne!(rows, draw(12).0);
        // About 30% of the rows, ascending and distinct; 4 of 10 features, sorted.
        assert!((2_700..3_300).contains(&rows.len()), "{} rows", rows.len());
        assert!(rows.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(features.len(), 4);
        assert!(features.windows(2).all(|w| w[0] < w[1]));
        // Whole models too: same seed, same trees; another seed, other trees.
        let (x, y) = churn_like(3_000, 5);
        let data = TrainData::new(&x, 5, &y).unwrap();
        let fit = |seed| {
            let p = params(BoosterParams {
                n_estimators: 5,
                subsample: 0.5,
                colsample_bytree: 0.6,
                seed,
                ..Default::default()
            });
            Trainer::new(p).fit(&data, None).unwrap()
        };
        assert_eq!(fit(1).trees, fit(1).trees);
        assert_ne!(fit(1).trees, fit(2).trees);
    }

    #[test]
    fn early_stopping_stops_patience_rounds_after_the_best_and_keeps_the_best() {
        let (x, y) = churn_like(4_000, 21);
        // The validation labels are noisier than training's, so its loss turns up after a while.
        let (vx, mut vy) = churn_like(1_000, 22);
        let mut rng = SplitMix64::new(9);
        for v in vy.iter_mut() {
            if rng.next_f64() < 0.3 {
                *v = 1.0 - *v;
            }
        }
        let data = TrainData::new(&x, 5, &y).unwrap();
        let valid = TrainData::new(&vx, 5, &vy).unwrap();
        let patience = 5;
        let p = params(BoosterParams {
            n_estimators: 300,
            learning_rate: 0.5,
            max_depth: 6,
            min_child_weight: 0.0,
            early_stopping_rounds: Some(patience),
            ..Default::default()
        });
        let mut losses = Vec::new();
        let booster = Trainer::new(p)
            .fit_with_observer(&data, Some(&valid), &mut |r: &RoundReport| {
                losses.push(r.valid_logloss.unwrap())
            })
            .unwrap();
        // Recompute the stopping point from the reported losses alone.
        let mut best = 0;
        let mut stop = None;
        for (round, &loss) in losses.iter().enumerate() {
            if loss < losses[best] {
                best = round;
            }
            if round - best >= patience {
                stop = Some(round);
                break;
            }
        }
        assert_eq!(stop, Some(losses.len() - 1), "losses {losses:?}");
        assert!(losses.len() < 300, "never stopped");
        assert_eq!(booster.trees.len(), best + 1);
        assert_eq!(booster.attributes["best_iteration"], best.to_string());
        // The kept model's validation loss is the best reported one.
        let margins = Predictor::new(&booster)
            .unwrap()
            .predict_margin(&vx, 5)
            .unwrap();
        assert_relative_eq!(logloss(&valid, &margins), losses[best], epsilon = 1e-6);
    }
}
