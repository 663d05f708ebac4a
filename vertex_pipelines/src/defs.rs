//! `PIPELINE_DEFS`: every pipeline with its optional schedule. Cron strings are interpreted in
//! Pacific/Auckland (as Vertex schedules' `TZ=Pacific/Auckland` prefix) and checked when
//! pipelines are listed or compiled.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use mlops_domain::{ModelConfig, Settings};
use mlops_pipeline::{Pipeline, Result};

/// The time zone of every schedule.
pub const SCHEDULE_TZ: Tz = chrono_tz::Pacific::Auckland;

/// One pipeline.
#[derive(Debug, Clone, Copy)]
pub struct PipelineDef {
    /// Name (also the IR file name).
    pub name: &'static str,
    /// Builds the pipeline from the model config and the settings (parameter defaults).
    pub build: fn(&ModelConfig, &Settings) -> Result<Pipeline>,
    /// Cron (5 fields) in Pacific/Auckland, if scheduled.
    pub schedule: Option<&'static str>,
    /// Produces models.
    pub is_training: bool,
}

/// All pipelines.
pub const PIPELINE_DEFS: &[PipelineDef] = &[
    PipelineDef {
        name: "training",
        build: crate::training::pipeline,
        schedule: Some("0 3 * * 1"),
        is_training: true,
    },
    // Daily at midnight, as the original template's inference pipeline.
    PipelineDef {
        name: "inference",
        build: crate::inference::pipeline,
        schedule: Some("0 0 * * *"),
        is_training: false,
    },
    // Daily at 06:00, after the night's outcomes have landed.
    PipelineDef {
        name: "monitoring",
        build: crate::monitoring::pipeline,
        schedule: Some("0 6 * * *"),
        is_training: false,
    },
];

/// Look a pipeline up by name; the error lists the known names.
pub fn find(name: &str) -> std::result::Result<&'static PipelineDef, String> {
    PIPELINE_DEFS
        .iter()
        .find(|d| d.name == name)
        .ok_or_else(|| {
            let known: Vec<&str> = PIPELINE_DEFS.iter().map(|d| d.name).collect();
            format!("unknown pipeline `{name}`; pipelines: {}", known.join(", "))
        })
}

/// The next `n` runs of a cron string in Pacific/Auckland, or why it is invalid.
pub fn next_runs(
    cron: &str,
    after: DateTime<Utc>,
    n: usize,
) -> std::result::Result<Vec<DateTime<Tz>>, String> {
    if cron.split_whitespace().count() != 5 {
        return Err(format!(
            "invalid cron `{cron}`: expected 5 fields (minute hour day-of-month month day-of-week)"
        ));
    }
    let parsed: croner::Cron = cron
        .parse()
        .map_err(|e| format!("invalid cron `{cron}`: {e}"))?;
    let mut t = after.with_timezone(&SCHEDULE_TZ);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        t = parsed
            .find_next_occurrence(&t, false)
            .map_err(|e| format!("cron `{cron}` has no next run: {e}"))?;
        out.push(t);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn schedules_are_valid_and_in_auckland_time() {
        let after = Utc.with_ymd_and_hms(2026, 11, 27, 0, 0, 0).unwrap();
        for def in PIPELINE_DEFS {
            if let Some(cron) = def.schedule {
                let runs = next_runs(cron, after, 3).unwrap();
                assert_eq!(runs.len(), 3);
            }
        }
        // Monday 03:00 in Auckland (NZDT, UTC+13) is Sunday 14:00 UTC.
        let runs = next_runs("0 3 * * 1", after, 1).unwrap();
        assert_eq!(
            runs[0].with_timezone(&Utc),
            Utc.with_ymd_and_hms(2026, 11, 29, 14, 0, 0).unwrap()
        );
    }

    #[test]
    fn invalid_cron_is_refused_with_the_string() {
        for bad in ["61 * * * *", "* * *", "0 3 * * funday"] {
            let err = next_runs(bad, Utc::now(), 1).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
        assert!(find("nope")
            .unwrap_err()
            .contains("pipelines: training, inference, monitoring"));
    }
}
