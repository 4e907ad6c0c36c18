//! The table of `all`: every server's samples per row, medians, spreads and ratios.

use crate::servers::Kind;
use serde_json::{Value, json};
use std::{collections::BTreeMap, fmt::Write as _};

/// The results: for each row of the table, each server's samples, one per repetition.
#[derive(Default)]
pub(crate) struct Results {
    rows: Vec<Row>,
}

struct Row {
    label: String,
    unit: &'static str,
    higher_is_better: bool,
    samples: BTreeMap<&'static str, Vec<f64>>,
}

impl Row {
    fn cell(&self, name: &str) -> String {
        match self.samples.get(name) {
            Some(samples) if !samples.is_empty() => spread(samples, 0),
            _ => "n/a".to_owned(),
        }
    }

    /// Per repetition: each ratio compares two runs made back to back.
    fn ratio(&self, ours: &str, theirs: &str) -> String {
        match (self.samples.get(ours), self.samples.get(theirs)) {
            (Some(ours), Some(theirs)) if !ours.is_empty() && ours.len() == theirs.len() => {
                let ratios: Vec<f64> = ours.iter().zip(theirs).map(|(a, b)| a / b).collect();
                format!("{}×", spread(&ratios, 2))
            }
            _ => "n/a".to_owned(),
        }
    }
}

impl Results {
    pub(crate) fn record(
        &mut self,
        label: &str,
        unit: &'static str,
        higher_is_better: bool,
        kind: Kind,
        value: f64,
    ) {
        eprintln!("  {label:<34} {:<14} {value:>12.1} {unit}", kind.name());
        let row = match self.rows.iter().position(|row| row.label == label) {
            Some(index) => &mut self.rows[index],
            None => {
                self.rows.push(Row {
                    label: label.to_owned(),
                    unit,
                    higher_is_better,
                    samples: BTreeMap::new(),
                });
                self.rows.last_mut().expect("just pushed")
            }
        };
        row.samples.entry(kind.name()).or_default().push(value);
    }

    /// The servers that have a sample in some row, in the order of [`Kind::ALL`].
    fn columns(&self) -> Vec<&'static str> {
        Kind::ALL
            .into_iter()
            .map(Kind::name)
            .filter(|name| self.rows.iter().any(|row| row.samples.contains_key(name)))
            .collect()
    }

    /// The ratio columns: every server against raw, and websock against uWebSockets.
    fn ratio_columns(columns: &[&'static str]) -> Vec<(&'static str, &'static str)> {
        let mut ratios: Vec<_> = columns
            .iter()
            .filter(|&&name| name != "raw" && columns.contains(&"raw"))
            .map(|&name| (name, "raw"))
            .collect();
        if columns.contains(&"websock") && columns.contains(&"uws") {
            ratios.push(("websock", "uws"));
        }
        ratios
    }

    pub(crate) fn table(&self) -> String {
        let columns = self.columns();
        let ratios = Self::ratio_columns(&columns);
        let mut out = String::from("| scenario | unit |");
        for name in &columns {
            let _ = write!(out, " {name} |");
        }
        for (ours, theirs) in &ratios {
            let _ = write!(out, " {ours} / {theirs} |");
        }
        out.push_str("\n| --- | --- |");
        out.push_str(&" ---: |".repeat(columns.len() + ratios.len()));
        out.push('\n');
        for row in &self.rows {
            let better = if row.higher_is_better {
                "higher is better"
            } else {
                "lower is better"
            };
            let _ = write!(out, "| {} | {} ({better}) |", row.label, row.unit);
            for name in &columns {
                let _ = write!(out, " {} |", row.cell(name));
            }
            for (ours, theirs) in &ratios {
                let _ = write!(out, " {} |", row.ratio(ours, theirs));
            }
            out.push('\n');
        }
        out
    }

    pub(crate) fn to_json(&self) -> Value {
        Value::Array(
            self.rows
                .iter()
                .map(|row| json!({ "scenario": row.label, "unit": row.unit, "samples": row.samples }))
                .collect(),
        )
    }
}

pub(crate) fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 1 {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// `median (min–max)`, or just the value for one sample.
fn spread(samples: &[f64], decimals: usize) -> String {
    let min = samples.iter().copied().fold(f64::INFINITY, f64::min);
    let max = samples.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let fmt = |value: f64| {
        if decimals == 0 && value >= 10_000.0 {
            group_thousands(value)
        } else if decimals == 0 && value.abs() < 1.0 {
            // CPU seconds of a small run, say.
            format!("{value:.2}")
        } else if decimals == 0 && value < 100.0 {
            format!("{value:.1}")
        } else {
            format!("{value:.decimals$}")
        }
    };
    if samples.len() == 1 {
        fmt(samples[0])
    } else {
        format!("{} ({}–{})", fmt(median(samples)), fmt(min), fmt(max))
    }
}

pub(crate) fn group_thousands(value: f64) -> String {
    let digits = format!("{:.0}", value.round());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}
