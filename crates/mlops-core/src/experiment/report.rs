//! The HTML report of `mlops experiment compare`: the ranking table, the CV AUC and CV log
//! loss of every run (mean ± std over the folds) and the ROC curves of their out-of-fold
//! probabilities. Inline SVG, every text escaped, no scripts or external assets (as
//! `mlops_monitoring::report`, whose escaping it uses).

use std::fmt::Write;

use mlops_monitoring::report::escape;
use serde_json::Value;

use super::RankedRun;

const W: f64 = 720.0;
const PAD: f64 = 40.0;
/// The ROC chart is wider: the square plot and its legend of run ids.
const ROC_W: f64 = 900.0;
/// One colour per run, by rank (repeats after ten runs).
const PALETTE: [&str; 10] = [
    "#1b9e77", "#d95f02", "#7570b3", "#e7298a", "#66a61e", "#e6ab02", "#a6761d", "#666666",
    "#1f78b4", "#b2df8a",
];

fn colour(rank: usize) -> &'static str {
    PALETTE[(rank.max(1) - 1) % PALETTE.len()]
}

fn finite(v: f64) -> Option<f64> {
    v.is_finite().then_some(v)
}

fn fmt(v: f64) -> String {
    finite(v).map_or_else(|| "–".to_string(), |v| format!("{v:.4}"))
}

fn param_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The report of an experiment's ranked runs.
pub fn render(experiment: &str, runs: &[RankedRun]) -> String {
    let mut html = String::new();
    let title = format!("Experiment {experiment}");
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;max-width:960px;margin:2em auto}}\
         table{{border-collapse:collapse}}td,th{{padding:2px 10px;text-align:left}}\
         tr:nth-child(even){{background:#f4f4f4}}td.id{{white-space:nowrap}}\
         .sw{{display:inline-block;width:12px;height:12px}}</style></head><body><h1>{t}</h1>\n",
        t = escape(&title)
    );
    let sources: std::collections::BTreeSet<String> = runs
        .iter()
        .map(|r| {
            format!(
                "{} ({} rows, {} columns, {})",
                r.record.data.source,
                r.record.data.rows,
                r.record.data.columns,
                r.record.data.sha256
            )
        })
        .collect();
    let data_line = if sources.len() == 1 {
        format!(
            "Data: {}",
            sources.iter().next().cloned().unwrap_or_default()
        )
    } else {
        format!(
            "Data differs between runs: {}",
            sources.into_iter().collect::<Vec<_>>().join("; ")
        )
    };
    let _ = writeln!(
        html,
        "<p>{} runs ranked by cross-validated AUC (mean over the folds; ties by the smaller \
         standard deviation). {}</p>",
        runs.len(),
        escape(&data_line)
    );
    html.push_str(&ranking_table(runs));
    html.push_str("<h2>CV AUC per run (mean ± std over the folds)</h2>\n");
    html.push_str(&metric_chart(runs, "cv_auc"));
    html.push_str("<h2>CV log loss per run (mean ± std over the folds)</h2>\n");
    html.push_str(&metric_chart(runs, "cv_logloss"));
    html.push_str("<h2>ROC curves of the out-of-fold probabilities</h2>\n");
    html.push_str(&roc_chart(runs));
    html.push_str("</body></html>\n");
    html
}

fn ranking_table(runs: &[RankedRun]) -> String {
    let mut html = String::from(
        "<table><tr><th></th><th>rank</th><th>run</th><th>model type</th><th>CV AUC</th>\
         <th>± std</th><th>CV log loss</th><th>test AUC</th><th>folds</th><th>params</th></tr>",
    );
    for run in runs {
        let r = &run.record;
        let params = r
            .params
            .iter()
            .map(|(k, v)| format!("{k}={}", param_text(v)))
            .collect::<Vec<_>>()
            .join(" ");
        let _ = write!(
            html,
            "<tr><td><span class=\"sw\" style=\"background:{}\"></span></td><td>{}</td>\
             <td class=\"id\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>\
             <td>{}</td><td>{}</td></tr>",
            colour(run.rank),
            run.rank,
            escape(&r.run_id),
            escape(r.model_type.as_str()),
            fmt(r.metric("cv_auc_mean")),
            fmt(r.metric("cv_auc_std")),
            fmt(r.metric("cv_logloss_mean")),
            fmt(r.metric("test_auc")),
            r.cv_folds,
            escape(if params.is_empty() {
                "(config)"
            } else {
                &params
            })
        );
    }
    html.push_str("</table>\n");
    html
}

/// One row per run: a dot at the mean and a bar over mean ± std, on a shared axis.
fn metric_chart(runs: &[RankedRun], metric: &str) -> String {
    let row_h = 22.0;
    let label_w = 260.0;
    let top = 8.0;
    let h = top + row_h * runs.len().max(1) as f64 + PAD;
    let stats: Vec<(f64, f64)> = runs
        .iter()
        .map(|r| {
            (
                r.record.metric(&format!("{metric}_mean")),
                r.record.metric(&format!("{metric}_std")),
            )
        })
        .collect();
    let (mut lo, mut hi) = (f64::INFINITY, f64::NEG_INFINITY);
    for &(mean, std) in &stats {
        if let Some(mean) = finite(mean) {
            let std = finite(std).unwrap_or(0.0);
            lo = lo.min(mean - std);
            hi = hi.max(mean + std);
        }
    }
    if !lo.is_finite() {
        (lo, hi) = (0.0, 1.0);
    }
    let margin = ((hi - lo) * 0.1).max(1e-3);
    let (lo, hi) = (lo - margin, hi + margin);
    let x0 = label_w;
    let x1 = W - PAD;
    let x = |v: f64| x0 + (v - lo) / (hi - lo) * (x1 - x0);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{h}\" role=\"img\">\
         <line x1=\"{x0}\" x2=\"{x1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"#999\"/>",
        y = h - PAD
    );
    for i in 0..=4 {
        let v = lo + (hi - lo) * i as f64 / 4.0;
        let _ = write!(
            svg,
            "<line x1=\"{xv:.1}\" x2=\"{xv:.1}\" y1=\"{top}\" y2=\"{y:.1}\" stroke=\"#eee\"/>\
             <text x=\"{xv:.1}\" y=\"{ty:.1}\" font-size=\"10\" text-anchor=\"middle\">{v:.3}</text>",
            xv = x(v),
            y = h - PAD,
            ty = h - PAD + 14.0
        );
    }
    for (run, &(mean, std)) in runs.iter().zip(&stats) {
        let y = top + row_h * (run.rank as f64 - 0.5);
        let c = colour(run.rank);
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"end\">{}. {}</text>",
            x0 - 8.0,
            y + 4.0,
            run.rank,
            escape(&run.record.run_id)
        );
        let Some(mean) = finite(mean) else { continue };
        let std = finite(std).unwrap_or(0.0);
        let _ = write!(
            svg,
            "<line x1=\"{:.1}\" x2=\"{:.1}\" y1=\"{y:.1}\" y2=\"{y:.1}\" stroke=\"{c}\" \
             stroke-width=\"2\"/><circle cx=\"{:.1}\" cy=\"{y:.1}\" r=\"5\" fill=\"{c}\">\
             <title>{}: {mean:.4} ± {std:.4}</title></circle>",
            x(mean - std),
            x(mean + std),
            x(mean),
            escape(&run.record.run_id)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// Every run's ROC curve on the unit square, the chance diagonal dashed, a legend by rank.
fn roc_chart(runs: &[RankedRun]) -> String {
    let side = 420.0;
    let width = ROC_W;
    let h = side + 2.0 * PAD;
    let px = |v: f64| PAD + v.clamp(0.0, 1.0) * side;
    let py = |v: f64| PAD + side - v.clamp(0.0, 1.0) * side;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{h}\" role=\"img\">\
         <rect x=\"{PAD}\" y=\"{PAD}\" width=\"{side}\" height=\"{side}\" fill=\"none\" stroke=\"#999\"/>\
         <line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#bbb\" stroke-dasharray=\"6 4\"/>\
         <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\">false positive rate</text>\
         <text x=\"12\" y=\"{:.1}\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 12 {:.1})\">true positive rate</text>",
        px(0.0),
        py(0.0),
        px(1.0),
        py(1.0),
        PAD + side / 2.0,
        h - 8.0,
        PAD + side / 2.0,
        PAD + side / 2.0,
    );
    for i in 0..=4 {
        let v = i as f64 / 4.0;
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"middle\">{v}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{v}</text>",
            px(v),
            PAD + side + 14.0,
            PAD - 4.0,
            py(v) + 3.0
        );
    }
    // Worst first, so the best run's curve is drawn on top.
    for run in runs.iter().rev() {
        let points: Vec<String> = run
            .roc
            .false_positive_rate
            .iter()
            .zip(&run.roc.true_positive_rate)
            .filter(|(f, t)| f.is_finite() && t.is_finite())
            .map(|(&f, &t)| format!("{:.1},{:.1}", px(f), py(t)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"{}\" points=\"{}\">\
             <title>{}</title></polyline>",
            colour(run.rank),
            if run.rank == 1 { "3" } else { "1.5" },
            points.join(" "),
            escape(&run.record.run_id)
        );
    }
    let lx = PAD + side + 24.0;
    for run in runs.iter().take(20) {
        let y = PAD + 8.0 + 18.0 * (run.rank as f64 - 1.0);
        let _ = write!(
            svg,
            "<rect x=\"{lx:.1}\" y=\"{:.1}\" width=\"12\" height=\"12\" fill=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"11\">{}. {} (AUC {})</text>",
            y - 10.0,
            colour(run.rank),
            lx + 18.0,
            y,
            run.rank,
            escape(&run.record.run_id),
            fmt(run.record.metric("oof_auc"))
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::super::store::tests::record;
    use super::super::RocCurve;
    use super::*;

    #[test]
    fn report_has_three_charts_and_escapes_text() {
        let mut runs = Vec::new();
        for (i, id) in ["a<b>", "c"].iter().enumerate() {
            let mut r = record(id, 0.8 - i as f64 * 0.1, 0.01);
            r.metrics.insert("cv_logloss_mean".into(), 0.4);
            r.metrics.insert("cv_logloss_std".into(), f64::NAN);
            runs.push(RankedRun {
                rank: i + 1,
                record: r,
                roc: RocCurve {
                    false_positive_rate: vec![1.0, 0.5, 0.0],
                    true_positive_rate: vec![1.0, 0.8, 0.0],
                },
                dir: "x".into(),
            });
        }
        let html = render("exp", &runs);
        assert_eq!(html.matches("<svg").count(), 3);
        assert_eq!(html.matches("<polyline").count(), 2);
        assert!(html.contains("a&lt;b&gt;") && !html.contains("a<b>"));
        assert!(!html.contains("NaN") && !html.contains("inf"));
        for external in ["<script", "src=", "href=", "@import", "url("] {
            assert!(!html.contains(external), "{external} in the report");
        }
    }
}
