//! The rows of an indicator answer as files carry them: one row per measure of every cell, then
//! of every margin, then of the total, labelled `total` or `dimension=value dimension=value`.
//!
//! One format for every file: `journey kpi --format csv`, `journey kpi --format parquet` (the same
//! columns, typed, see [`crate::parquet`]) and the dashboard's CSV download (`api/web/common.js`,
//! `kpiCsv`, which writes the same header and labels from the GraphQL answer). The CSV columns:
//! `key,as_of,known_at,cell,measure,value,numerator,denominator,suppressed,erased_persons`; a
//! suppressed measure has an empty `value` and `suppressed` = `true`, never a number; `known_at`
//! is RFC 3339 as chrono writes it (`+00:00`); fields holding a comma, quote or newline are quoted.

use journey_projections::kpi::{Cell, KpiResult};

/// The cells, then the margins, then the total.
pub fn rows(result: &KpiResult) -> Vec<&Cell> {
    let mut rows: Vec<&Cell> = result.cells.iter().collect();
    rows.extend(result.margins.iter());
    rows.push(&result.total);
    rows
}

/// `total`, or `dimension=value` joined by spaces.
pub fn cell_label(cell: &Cell) -> String {
    if cell.dimensions.is_empty() {
        "total".to_owned()
    } else {
        cell.dimensions
            .iter()
            .map(|value| format!("{}={}", value.dimension, value.value))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// A CSV field, quoted when it must be.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The CSV of `result`, header first.
pub fn csv(result: &KpiResult) -> String {
    let mut out = String::from(
        "key,as_of,known_at,cell,measure,value,numerator,denominator,suppressed,erased_persons\n",
    );
    for cell in rows(result) {
        for measure in &cell.measures {
            let fields = [
                result.key.clone(),
                result.as_of.to_string(),
                result.known_at.to_rfc3339(),
                cell_label(cell),
                measure.name.clone(),
                if measure.suppressed {
                    String::new()
                } else {
                    measure.value.map(|v| v.to_string()).unwrap_or_default()
                },
                measure.numerator.map(|n| n.to_string()).unwrap_or_default(),
                measure
                    .denominator
                    .map(|n| n.to_string())
                    .unwrap_or_default(),
                measure.suppressed.to_string(),
                result.metadata.erased_persons.to_string(),
            ];
            let line: Vec<String> = fields.iter().map(|field| csv_field(field)).collect();
            out.push_str(&line.join(","));
            out.push('\n');
        }
    }
    out
}
