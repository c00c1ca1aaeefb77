//! Inline SVG bar charts for the council report: one horizontal bar per row, drawn in Rust so the
//! report is one self-contained file that needs no script to show its charts.
//!
//! A suppressed figure is drawn as a hatched bar across the whole width labelled as suppressed,
//! never as a bar of length zero; a figure that is undefined (a share of nobody) is labelled `–`.
//! Every bar carries `data-row`, `data-measure` and either `data-value` or
//! `data-suppressed="true"`, so tests can read the drawn figures back.

use std::fmt::Write as _;

use super::escape;

/// One bar of a chart.
#[derive(Debug, Clone, PartialEq)]
pub struct Bar {
    /// The row label shown left of the bar.
    pub label: String,
    /// The measure the bar shows.
    pub measure: String,
    pub value: Option<f64>,
    pub suppressed: bool,
}

/// How the values read: shares are drawn on a 0–100 % axis, everything else from 0 to the largest
/// value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    Share,
    Amount,
}

const WIDTH: f64 = 820.0;
const LABEL_WIDTH: f64 = 220.0;
const VALUE_WIDTH: f64 = 170.0;
const ROW_HEIGHT: f64 = 18.0;
const TOP: f64 = 4.0;

/// The chart of `bars` as an `<svg>` element; `id` makes the hatch pattern's id unique in the
/// document, `suppressed_text` is the word drawn on a suppressed bar.
pub fn bar_chart(
    id: &str,
    title: &str,
    bars: &[Bar],
    scale: Scale,
    suppressed_text: &str,
) -> String {
    let height = TOP * 2.0 + ROW_HEIGHT * bars.len().max(1) as f64;
    let plot = WIDTH - LABEL_WIDTH - VALUE_WIDTH;
    let max = match scale {
        Scale::Share => 1.0,
        Scale::Amount => bars
            .iter()
            .filter_map(|bar| bar.value)
            .fold(0.0_f64, f64::max)
            .max(1.0),
    };
    let pattern = format!("hatch-{}", escape(id));
    let mut svg = String::new();
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {WIDTH} {height}" width="{WIDTH}" height="{height}" aria-label="{}">"#,
        escape(title)
    );
    let _ = write!(
        svg,
        r##"<defs><pattern id="{pattern}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#eef0f4"/><line x1="0" y1="0" x2="0" y2="6" stroke="#8a93a3" stroke-width="2"/></pattern></defs>"##
    );
    for (index, bar) in bars.iter().enumerate() {
        let y = TOP + ROW_HEIGHT * index as f64;
        let text_y = y + ROW_HEIGHT * 0.7;
        let _ = write!(
            svg,
            r#"<text x="{}" y="{text_y}" text-anchor="end" font-size="11">{}</text>"#,
            LABEL_WIDTH - 6.0,
            escape(&bar.label)
        );
        let data = format!(
            r#"data-row="{}" data-measure="{}""#,
            escape(&bar.label),
            escape(&bar.measure)
        );
        if bar.suppressed {
            let _ = write!(
                svg,
                r##"<rect class="bar suppressed" {data} data-suppressed="true" x="{LABEL_WIDTH}" y="{}" width="{plot}" height="{}" fill="url(#{pattern})" stroke="#8a93a3"/>"##,
                y + 2.0,
                ROW_HEIGHT - 4.0
            );
            let _ = write!(
                svg,
                r#"<text x="{}" y="{text_y}" font-size="11" font-style="italic">{}</text>"#,
                LABEL_WIDTH + plot + 6.0,
                escape(suppressed_text)
            );
            continue;
        }
        let length = bar
            .value
            .map_or(0.0, |value| (value / max).clamp(0.0, 1.0) * plot);
        let value_attribute = bar
            .value
            .map_or_else(String::new, |value| format!(r#" data-value="{value}""#));
        let _ = write!(
            svg,
            r##"<rect class="bar" {data}{value_attribute} x="{LABEL_WIDTH}" y="{}" width="{length:.2}" height="{}" fill="#1f5fa8"/>"##,
            y + 2.0,
            ROW_HEIGHT - 4.0
        );
        let _ = write!(
            svg,
            r#"<text x="{}" y="{text_y}" font-size="11">{}</text>"#,
            LABEL_WIDTH + length + 6.0,
            escape(&format_value(bar.value, scale))
        );
    }
    svg.push_str("</svg>");
    svg
}

/// A value as the report prints it: shares in percent with one decimal, amounts with up to two.
pub fn format_value(value: Option<f64>, scale: Scale) -> String {
    match (value, scale) {
        (None, _) => "–".to_owned(),
        (Some(value), Scale::Share) => format!("{:.1} %", value * 100.0),
        (Some(value), Scale::Amount) if value.fract() == 0.0 => format!("{value:.0}"),
        (Some(value), Scale::Amount) => format!("{value:.2}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bar(label: &str, value: Option<f64>, suppressed: bool) -> Bar {
        Bar {
            label: label.into(),
            measure: "rate".into(),
            value,
            suppressed,
        }
    }

    #[test]
    fn a_suppressed_bar_is_hatched_and_labelled_never_a_zero_bar() {
        let svg = bar_chart(
            "k",
            "t",
            &[bar("Nord", Some(0.5), false), bar("Süd", None, true)],
            Scale::Share,
            "suppressed",
        );
        assert!(
            svg.contains(r#"data-row="Nord" data-measure="rate" data-value="0.5""#),
            "{svg}"
        );
        assert!(
            svg.contains(r#"data-row="Süd" data-measure="rate" data-suppressed="true""#),
            "{svg}"
        );
        assert!(svg.contains("url(#hatch-k)"));
        assert!(svg.contains(">suppressed</text>"));
        // The suppressed row has no data-value at all, so nothing can read it as 0.
        let suppressed_rect = svg
            .split("<rect")
            .find(|rect| rect.contains(r#"data-row="Süd""#))
            .expect("drawn");
        assert!(!suppressed_rect.contains("data-value"), "{suppressed_rect}");
    }

    #[test]
    fn labels_are_escaped() {
        let svg = bar_chart(
            "k",
            "<t>",
            &[bar("a<b&c", Some(1.0), false)],
            Scale::Amount,
            "s",
        );
        assert!(svg.contains("a&lt;b&amp;c"));
        assert!(!svg.contains("<t>"));
    }
}
