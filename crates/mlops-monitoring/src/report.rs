//! A self-contained HTML report: inline SVG charts (baseline against current shares, a
//! metric's history with its alert threshold), every text escaped, no external assets (no
//! scripts, fonts, stylesheets or images to fetch), so it opens anywhere, including as a
//! pipeline's `system.HTML` artifact.

use std::fmt::Write;

use crate::drift::ScoreDrift;
use crate::features::FeatureDrift;

/// One point of a metric's history.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryPoint {
    /// Its label on the x axis (a date, a run id).
    pub label: String,
    /// The value.
    pub value: f64,
}

/// A section of the report.
#[derive(Debug, Clone, PartialEq)]
pub enum Section {
    /// A paragraph of plain text.
    Text(String),
    /// A `name: value` table.
    Values(Vec<(String, String)>),
    /// Baseline against current shares per bucket.
    Bars {
        /// Chart title.
        title: String,
        /// One label per bucket.
        labels: Vec<String>,
        /// Baseline shares.
        baseline: Vec<f64>,
        /// Current shares.
        current: Vec<f64>,
    },
    /// A metric over time, with its alert threshold when it has one.
    History {
        /// Chart title (the metric).
        title: String,
        /// Points in time order.
        points: Vec<HistoryPoint>,
        /// The alert threshold.
        threshold: Option<f64>,
    },
}

impl Section {
    /// The bars of a score-drift result (bucket labels are the bin ranges).
    pub fn score_bars(drift: &ScoreDrift) -> Section {
        Section::Bars {
            title: format!(
                "Scores: baseline vs current (PSI {:.4}, JS {:.4})",
                drift.psi, drift.js_distance
            ),
            labels: drift
                .edges
                .windows(2)
                .map(|w| format!("[{:.3}, {:.3})", w[0], w[1]))
                .collect(),
            baseline: drift.baseline.clone(),
            current: drift.current.clone(),
        }
    }

    /// The bars of one column's drift.
    pub fn feature_bars(drift: &FeatureDrift) -> Section {
        Section::Bars {
            title: format!(
                "{}: baseline vs current (JS {:.4})",
                drift.name, drift.js_distance
            ),
            labels: drift.buckets.clone(),
            baseline: drift.baseline.clone(),
            current: drift.current.clone(),
        }
    }
}

/// Escape text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
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

const W: f64 = 640.0;
const H: f64 = 220.0;
const PAD: f64 = 36.0;
const BASELINE_COLOUR: &str = "#8da0cb";
const CURRENT_COLOUR: &str = "#fc8d62";

/// The whole report as one HTML document.
pub fn render_html(title: &str, sections: &[Section]) -> String {
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{t}</title>\
         <style>body{{font-family:sans-serif;max-width:720px;margin:2em auto}}\
         td{{padding:2px 12px}}</style></head><body><h1>{t}</h1>\n",
        t = escape(title)
    );
    for section in sections {
        match section {
            Section::Text(text) => {
                let _ = writeln!(html, "<p>{}</p>", escape(text));
            }
            Section::Values(rows) => {
                html.push_str("<table>");
                for (k, v) in rows {
                    let _ = write!(
                        html,
                        "<tr><td>{}</td><td>{}</td></tr>",
                        escape(k),
                        escape(v)
                    );
                }
                html.push_str("</table>\n");
            }
            Section::Bars {
                title,
                labels,
                baseline,
                current,
            } => {
                let _ = writeln!(html, "<h2>{}</h2>", escape(title));
                html.push_str(&bars_svg(labels, baseline, current));
            }
            Section::History {
                title,
                points,
                threshold,
            } => {
                let _ = writeln!(html, "<h2>{}</h2>", escape(title));
                html.push_str(&history_svg(points, *threshold));
            }
        }
    }
    html.push_str("</body></html>\n");
    html
}

fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}

fn bars_svg(labels: &[String], baseline: &[f64], current: &[f64]) -> String {
    let n = labels.len().max(1);
    let top = baseline
        .iter()
        .chain(current)
        .copied()
        .map(finite)
        .fold(0.0, f64::max)
        .max(1e-12);
    let slot = (W - 2.0 * PAD) / n as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" role=\"img\">\
         <text x=\"{PAD}\" y=\"14\" font-size=\"12\" fill=\"{BASELINE_COLOUR}\">baseline</text>\
         <text x=\"{}\" y=\"14\" font-size=\"12\" fill=\"{CURRENT_COLOUR}\">current</text>",
        PAD + 70.0
    );
    for (i, label) in labels.iter().enumerate() {
        let x = PAD + i as f64 * slot;
        for (k, (values, colour)) in [(baseline, BASELINE_COLOUR), (current, CURRENT_COLOUR)]
            .iter()
            .enumerate()
        {
            let v = finite(values.get(i).copied().unwrap_or(0.0));
            let h = v / top * (H - 2.0 * PAD);
            let _ = write!(
                svg,
                "<rect x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{h:.1}\" fill=\"{colour}\">\
                 <title>{}: {v:.4}</title></rect>",
                x + k as f64 * slot * 0.45,
                H - PAD - h,
                slot * 0.42,
                escape(label)
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" text-anchor=\"middle\">{}</text>",
            x + slot * 0.45,
            H - PAD + 12.0,
            escape(label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn history_svg(points: &[HistoryPoint], threshold: Option<f64>) -> String {
    let values = points
        .iter()
        .map(|p| finite(p.value))
        .chain(threshold.map(finite));
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    });
    let (lo, hi) = if lo.is_finite() {
        (lo.min(0.0), hi.max(lo + 1e-12))
    } else {
        (0.0, 1.0)
    };
    let y = |v: f64| H - PAD - (finite(v) - lo) / (hi - lo) * (H - 2.0 * PAD);
    let step = (W - 2.0 * PAD) / (points.len().max(2) - 1) as f64;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" role=\"img\">"
    );
    let path: Vec<String> = points
        .iter()
        .enumerate()
        .map(|(i, p)| format!("{:.1},{:.1}", PAD + i as f64 * step, y(p.value)))
        .collect();
    let _ = write!(
        svg,
        "<polyline fill=\"none\" stroke=\"{CURRENT_COLOUR}\" stroke-width=\"2\" points=\"{}\"/>",
        path.join(" ")
    );
    for (i, p) in points.iter().enumerate() {
        let _ = write!(
            svg,
            "<circle cx=\"{:.1}\" cy=\"{:.1}\" r=\"3\" fill=\"{CURRENT_COLOUR}\"><title>{}: {:.4}</title></circle>",
            PAD + i as f64 * step,
            y(p.value),
            escape(&p.label),
            p.value
        );
    }
    if let Some(t) = threshold {
        let _ = write!(
            svg,
            "<line x1=\"{PAD}\" x2=\"{:.1}\" y1=\"{yt:.1}\" y2=\"{yt:.1}\" stroke=\"#d62728\" \
             stroke-dasharray=\"6 4\"/><text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" \
             fill=\"#d62728\" text-anchor=\"end\">threshold {t}</text>",
            W - PAD,
            W - PAD,
            y(t) - 4.0,
            yt = y(t)
        );
    }
    if let (Some(first), Some(last)) = (points.first(), points.last()) {
        let _ = write!(
            svg,
            "<text x=\"{PAD}\" y=\"{:.1}\" font-size=\"10\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" font-size=\"10\" text-anchor=\"end\">{}</text>",
            H - PAD + 14.0,
            escape(&first.label),
            W - PAD,
            H - PAD + 14.0,
            escape(&last.label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_is_self_contained_and_escapes_text() {
        let html = render_html(
            "Drift <script>alert(1)</script>",
            &[
                Section::Text("a & b".into()),
                Section::Values(vec![("psi".into(), "0.12".into())]),
                Section::Bars {
                    title: "plan".into(),
                    labels: vec!["<a>".into(), "unseen".into()],
                    baseline: vec![0.7, 0.3],
                    current: vec![0.2, f64::NAN],
                },
                Section::History {
                    title: "psi".into(),
                    points: vec![
                        HistoryPoint {
                            label: "2026-12-01".into(),
                            value: 0.05,
                        },
                        HistoryPoint {
                            label: "2026-12-02".into(),
                            value: 0.31,
                        },
                    ],
                    threshold: Some(0.2),
                },
            ],
        );
        assert!(!html.contains("<script>"));
        assert!(html.contains("&lt;script&gt;") && html.contains("a &amp; b"));
        assert!(html.contains("&lt;a&gt;"));
        assert_eq!(html.matches("<svg").count(), 2);
        assert!(html.contains("threshold 0.2") && html.contains("polyline"));
        assert!(!html.contains("NaN") && !html.contains("inf"));
        for external in ["src=", "href=", "@import", "url("] {
            assert!(!html.contains(external), "{external} in the report");
        }
        assert_eq!(html.matches("<rect").count(), 4);
    }

    #[test]
    fn empty_history_still_renders() {
        let html = render_html(
            "x",
            &[Section::History {
                title: "auc".into(),
                points: vec![],
                threshold: None,
            }],
        );
        assert!(html.contains("<svg") && !html.contains("NaN"));
        assert_eq!(escape("\"'"), "&quot;&#39;");
    }
}
