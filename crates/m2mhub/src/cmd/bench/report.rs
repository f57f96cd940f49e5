//! The bench's summary: one row per figure, beside its SPEC §6 target, as a Markdown table.

use std::fmt::Write;

/// One figure of the summary.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Row {
    /// What was measured.
    pub what: String,
    /// The figure, with its unit.
    pub figure: String,
    /// The target, or empty.
    pub target: String,
    /// Whether the target is met, when there is one.
    pub met: Option<bool>,
}

impl Row {
    /// A row with no target.
    pub fn info(what: impl Into<String>, figure: impl Into<String>) -> Row {
        Row {
            what: what.into(),
            figure: figure.into(),
            target: String::new(),
            met: None,
        }
    }

    /// A row whose figure must be at least `target`.
    pub fn at_least(what: &str, value: f64, unit: &str, target: f64) -> Row {
        Row {
            what: what.into(),
            figure: format!("{} {unit}", human(value)),
            target: format!("≥ {} {unit}", human(target)),
            met: Some(value >= target),
        }
    }

    /// A row whose figure must be at most `target`.
    pub fn at_most(what: &str, value: f64, unit: &str, target: f64) -> Row {
        Row {
            what: what.into(),
            figure: format!("{} {unit}", human(value)),
            target: format!("≤ {} {unit}", human(target)),
            met: Some(value <= target),
        }
    }
}

/// A number with sensible precision and thousands separators.
pub fn human(v: f64) -> String {
    if v.abs() >= 100.0 {
        let s = format!("{:.0}", v);
        let (sign, digits) = s.split_at(usize::from(s.starts_with('-')));
        let mut out = String::new();
        for (i, c) in digits.chars().enumerate() {
            if i > 0 && (digits.len() - i) % 3 == 0 {
                out.push(',');
            }
            out.push(c);
        }
        format!("{sign}{out}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// The rows as a Markdown table.
pub fn markdown(rows: &[Row]) -> String {
    let mut s = String::from("| measure | figure | target | met |\n|---|---|---|---|\n");
    for r in rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "",
        };
        let _ = writeln!(s, "| {} | {} | {} | {met} |", r.what, r.figure, r.target);
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_well() {
        assert_eq!(human(1234567.4), "1,234,567");
        assert_eq!(human(-4321.0), "-4,321");
        assert_eq!(human(12.345), "12.35");
        assert_eq!(human(0.01234), "0.012");
    }
}
