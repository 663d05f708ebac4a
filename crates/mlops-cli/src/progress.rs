//! Progress display: an indicatif bar over boosting rounds on a terminal, nothing otherwise.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mlops_booster::{RoundReport, TrainingObserver};

/// Shows boosting progress on stderr when it is a terminal.
pub struct RoundProgress {
    bar: Option<ProgressBar>,
}

impl RoundProgress {
    /// A bar for `rounds` rounds; hidden when stderr is not a terminal.
    pub fn new(rounds: usize) -> Self {
        use std::io::IsTerminal;
        if !std::io::stderr().is_terminal() {
            return RoundProgress { bar: None };
        }
        let bar = ProgressBar::with_draw_target(Some(rounds as u64), ProgressDrawTarget::stderr());
        if let Ok(style) = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} rounds {elapsed_precise} {msg}",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_prefix("training");
        RoundProgress { bar: Some(bar) }
    }

    /// Remove the bar.
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl TrainingObserver for RoundProgress {
    fn on_round(&mut self, report: &RoundReport) {
        if let Some(bar) = &self.bar {
            bar.set_position(report.round as u64 + 1);
            if let Some(loss) = report.valid_logloss {
                bar.set_message(format!("valid logloss {loss:.4}"));
            }
        }
    }
}
