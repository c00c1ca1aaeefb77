//! The council report: every indicator of the KPI catalogue at one cut, as one self-contained HTML
//! file (inline CSS and SVG, no script, no external URL) in German, English or both, printable with
//! one indicator per page.
//!
//! `journey report` writes it from a data directory; the dashboard downloads it from
//! `GET /report` (see [`crate::web`]), which runs the same [`compute`] and [`render`] with the
//! caller's token, so the file a council member prints is the same whichever way it was made.
//!
//! All indicators are computed at one transaction-time cut: the first answer's `known_at` (the
//! `knownAt` asked for, or the latest record the live answer covers) is the cut of all the others,
//! so records arriving while the report is computed never make two pages disagree.

pub mod svg;

use std::fmt::Write as _;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use journey_projections::kpi::{
    self, Cell, Dimension, KpiDefinition, KpiError, KpiResult, Suppression,
};
use journey_projections::{KpiRequest, Projections};

use svg::{Bar, Scale};

/// The languages of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Language {
    De,
    En,
    /// German and English side by side on every page.
    #[default]
    Both,
}

impl FromStr for Language {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "de" => Ok(Self::De),
            "en" => Ok(Self::En),
            "both" => Ok(Self::Both),
            other => Err(format!(
                "unknown report language `{other}`: use de, en or both"
            )),
        }
    }
}

/// What a report is computed for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRequest {
    /// The reporting date (valid time).
    pub as_of: NaiveDate,
    /// The transaction-time cut; `None` for everything recorded so far.
    pub known_at: Option<DateTime<Utc>>,
    /// Small-cell suppression, or `None` for unsuppressed figures (roles that may see every person).
    pub suppression: Option<Suppression>,
}

/// One indicator of the report.
#[derive(Debug, Clone)]
pub struct Section {
    pub definition: &'static KpiDefinition,
    /// The answer, or `None` for a person-level list, which a published report never shows.
    pub result: Option<KpiResult>,
}

/// Every indicator of the catalogue at one cut.
#[derive(Debug, Clone)]
pub struct Report {
    pub as_of: NaiveDate,
    /// The cut every indicator was computed at.
    pub known_at: DateTime<Utc>,
    pub suppression: Option<Suppression>,
    pub sections: Vec<Section>,
}

/// The breakdown an indicator is shown with in the report: the employment curves by sex (their
/// years are the implicit first dimension), other indicators with an implicit dimension by that
/// alone, and the rest by district, the unit the council decides on.
pub fn breakdown(definition: &KpiDefinition) -> Vec<Dimension> {
    let wanted = match definition.implicit_dimension {
        Some(Dimension::YearsSinceArrival | Dimension::YearsSinceEntry) => Some(Dimension::Sex),
        Some(_) => None,
        None => Some(Dimension::District),
    };
    wanted
        .filter(|dimension| definition.disaggregations.contains(dimension))
        .into_iter()
        .collect()
}

/// Computes every indicator of the catalogue for `request`.
pub fn compute(projections: &Projections, request: &ReportRequest) -> Result<Report, KpiError> {
    let mut known_at = request.known_at;
    let mut sections = Vec::with_capacity(kpi::catalogue().len());
    for definition in kpi::catalogue() {
        if definition.person_level {
            sections.push(Section {
                definition,
                result: None,
            });
            continue;
        }
        let result = projections.kpi(KpiRequest {
            key: definition.key.to_owned(),
            as_of: request.as_of,
            known_at,
            by: breakdown(definition),
            suppression: request.suppression,
        })?;
        // The first answer fixes the cut for all the others.
        known_at.get_or_insert(result.known_at);
        sections.push(Section {
            definition,
            result: Some(result),
        });
    }
    Ok(Report {
        as_of: request.as_of,
        known_at: known_at.unwrap_or_else(Utc::now),
        suppression: request.suppression,
        sections,
    })
}

/// Escapes text for HTML and SVG content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// Text in the report's language(s); `both` shows German, then English.
struct Words {
    language: Language,
}

impl Words {
    /// Escaped HTML for a label given in both languages.
    fn say(&self, de: &str, en: &str) -> String {
        match self.language {
            Language::De => escape(de),
            Language::En => escape(en),
            Language::Both if de == en => escape(de),
            Language::Both => format!(
                r#"<span lang="de">{}</span> <span class="en" lang="en">/ {}</span>"#,
                escape(de),
                escape(en)
            ),
        }
    }

    /// Plain text (for SVG labels and titles), `de / en` for both.
    fn plain(&self, de: &str, en: &str) -> String {
        match self.language {
            Language::De => de.to_owned(),
            Language::En => en.to_owned(),
            Language::Both if de == en => de.to_owned(),
            Language::Both => format!("{de} / {en}"),
        }
    }
}

/// The German title of an indicator; the catalogue's own title is English. An indicator added to
/// the catalogue without one here shows its English title in German too.
/// The German title of an indicator (projections' `kpi::german`, where both languages are kept).
fn german_title(definition: &KpiDefinition) -> &'static str {
    kpi::german(definition.key).map_or(definition.title, |german| german.title)
}

fn dimension_label(dimension: Dimension) -> (&'static str, &'static str) {
    match dimension {
        Dimension::District => ("Bezirk", "district"),
        Dimension::Sex => ("Geschlecht", "sex"),
        Dimension::AgeBand => ("Altersgruppe", "age band"),
        Dimension::Nationality => ("Staatsangehörigkeit", "nationality"),
        Dimension::ArrivalCohort => ("Ankunftsjahrgang", "arrival cohort"),
        Dimension::YearsSinceArrival => ("Jahre seit Ankunft", "years since arrival"),
        Dimension::YearsSinceEntry => ("Jahre seit Einreise", "years since entry"),
        Dimension::ProtectionStatus => ("Schutzstatus", "protection status"),
        Dimension::Area => ("Gebiet", "area"),
        Dimension::CurrentDistrict => ("aktueller Bezirk", "current district"),
    }
}

/// A row label: the cell's values joined by ` · `, or the total.
fn row_label(words: &Words, cell: &Cell) -> String {
    if cell.dimensions.is_empty() {
        words.plain("Gesamt", "total")
    } else {
        cell.dimensions
            .iter()
            .map(|value| value.value.as_str())
            .collect::<Vec<_>>()
            .join(" · ")
    }
}

/// How a measure of an indicator reads: measures named `rate…`, `…_rate`, `share…`, `reached…`
/// or `first_attempt_share…` are shares, except SGB II's rate (integrations per average
/// recipient, which can exceed 1); the rest are counts and days.
fn scale(key: &str, measure: &str) -> Scale {
    let share = measure.starts_with("rate")
        || measure.ends_with("_rate")
        || measure.starts_with("share")
        || measure.starts_with("reached")
        || measure.starts_with("first_attempt_share");
    if share && key != "sgb2_integration_rate" {
        Scale::Share
    } else {
        Scale::Amount
    }
}

/// The bars of an indicator's chart: for the indicators whose measures split one population
/// (course outcomes, DTZ results, recognition outcomes, the funnel's stages), the shares of the
/// total; for the others the first measure of every cell (or of the total when there are none).
fn bars(words: &Words, result: &KpiResult) -> (Vec<Bar>, Scale) {
    let split_prefix = match result.key.as_str() {
        "chain_funnel" => Some("reached_"),
        "course_completion_rate" | "dtz_b1_rate" | "recognition_outcomes" => Some("share_"),
        _ => None,
    };
    if let Some(prefix) = split_prefix {
        let bars = result
            .total
            .measures
            .iter()
            .filter(|measure| measure.name.starts_with(prefix))
            .map(|measure| Bar {
                label: measure.name.replace('_', " "),
                measure: measure.name.clone(),
                value: measure.value,
                suppressed: measure.suppressed,
            })
            .collect();
        return (bars, Scale::Share);
    }
    let cells: Vec<&Cell> = if result.cells.is_empty() {
        vec![&result.total]
    } else {
        result.cells.iter().collect()
    };
    let measure = result
        .total
        .measures
        .first()
        .map(|measure| measure.name.clone())
        .unwrap_or_default();
    let scale = scale(&result.key, &measure);
    let bars = cells
        .into_iter()
        .map(|cell| {
            let first = cell.measures.first();
            Bar {
                label: row_label(words, cell),
                measure: measure.clone(),
                value: first.and_then(|measure| measure.value),
                suppressed: first.is_some_and(|measure| measure.suppressed),
            }
        })
        .collect();
    (bars, scale)
}

const STYLE: &str = r#"
body { font-family: "Noto Sans", "DejaVu Sans", Arial, sans-serif; color: #1d2433; margin: 0 auto; max-width: 1060px; padding: 1rem; font-size: 13px; }
h1 { font-size: 1.6rem; } h2 { font-size: 1.2rem; margin: 0 0 0.3rem; }
.en { color: #5a6478; }
.cut { color: #5a6478; margin: 0 0 0.4rem; }
section { border-top: 2px solid #1f5fa8; padding-top: 0.6rem; margin-top: 1.5rem; }
svg.chart { max-width: 100%; height: auto; display: block; margin: 0.3rem 0; }
table { border-collapse: collapse; font-size: 11px; margin: 0.3rem 0; }
th, td { border-bottom: 1px solid #c9cfda; padding: 1px 5px; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.suppressed { font-style: italic; background: #eef0f4; }
.definition, .notes, .measures { font-size: 11px; }
.measures dt { font-weight: 600; float: left; clear: left; margin-right: 0.4rem; }
.measures dd { margin: 0; }
@page { size: A4 landscape; margin: 10mm; }
@media print {
  body { max-width: none; padding: 0; font-size: 10px; }
  section { break-after: page; break-inside: avoid; margin: 0; border-top: none; }
  section:last-of-type { break-after: auto; }
  table { font-size: 8px; } .definition, .notes, .measures { font-size: 8px; }
  svg.chart { max-height: 80mm; width: auto; }
}
"#;

/// The report as one self-contained HTML document.
pub fn render(report: &Report, language: Language) -> String {
    let words = Words { language };
    let lang = match language {
        Language::En => "en",
        _ => "de",
    };
    let known_at = report.known_at.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    let mut html = String::new();
    let _ = write!(
        html,
        r#"<!doctype html><html lang="{lang}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{}</title><style>{STYLE}</style></head><body>"#,
        escape(&words.plain(
            "Integrationsmonitoring: Bericht für den Rat",
            "Integration monitoring: council report"
        ))
    );
    // The cover page: the cut, how suppression works, and the contents.
    let _ = write!(
        html,
        r#"<section class="cover" data-cover="true"><h1>{}</h1><p class="cut" data-as-of="{}" data-known-at="{}">{} {} · {} {}</p>"#,
        words.say(
            "Integrationsmonitoring: Bericht für den Rat",
            "Integration monitoring: council report"
        ),
        report.as_of,
        escape(&known_at),
        words.say("Stichtag", "Reporting date"),
        report.as_of,
        words.say("Datenstand (bekannt bis)", "Known at"),
        escape(&known_at),
    );
    let _ = write!(
        html,
        r#"<p class="notes">{}</p>"#,
        suppression_note(&words, report.suppression)
    );
    let _ = write!(
        html,
        r#"<p class="notes">{}</p><ol>"#,
        words.say(
            "Jede Kennzahl steht auf einer eigenen Seite, mit Diagramm, Tabelle, Definition und Stand. Die Definitionen sind der Wortlaut des Kennzahlenkatalogs (schemas/kpis.json, deutsch und englisch).",
            "Each indicator has a page of its own with its chart, table, definition and cut. The definitions are the wording of the KPI catalogue (schemas/kpis.json)."
        )
    );
    for section in &report.sections {
        let key = section.definition.key;
        let _ = write!(
            html,
            r##"<li><a href="#kpi-{key}">{}</a></li>"##,
            words.say(german_title(section.definition), section.definition.title)
        );
    }
    html.push_str("</ol></section>");
    for section in &report.sections {
        render_section(&mut html, &words, report, section, &known_at);
    }
    html.push_str("</body></html>\n");
    html
}

fn suppression_note(words: &Words, suppression: Option<Suppression>) -> String {
    match suppression {
        Some(Suppression { k }) => words.say(
            &format!("Geheimhaltung: Felder über weniger als {k} Personen (und Felder, aus denen sie sich errechnen ließen) sind unterdrückt und als „unterdrückt“ gekennzeichnet, nie als 0."),
            &format!("Disclosure control: cells about fewer than {k} persons (and cells they could be recomputed from) are suppressed and marked “suppressed”, never shown as 0."),
        ),
        None => words.say(
            "Ohne Geheimhaltung (Rolle mit Zugriff auf alle Personen): nicht zur Veröffentlichung.",
            "Without disclosure control (a role that sees every person): not for publication.",
        ),
    }
}

fn render_section(
    html: &mut String,
    words: &Words,
    report: &Report,
    section: &Section,
    known_at: &str,
) {
    let definition = section.definition;
    let key = definition.key;
    let _ = write!(
        html,
        r#"<section class="indicator" id="kpi-{key}" data-kpi="{key}"><h2>{}</h2><p class="cut">{} {} · {} {}"#,
        words.say(german_title(definition), definition.title),
        words.say("Stichtag", "Reporting date"),
        report.as_of,
        words.say("Datenstand", "Known at"),
        escape(known_at),
    );
    let Some(result) = &section.result else {
        let _ = write!(
            html,
            r#"</p><p class="notes" data-person-level="true">{}</p>"#,
            words.say(
                "Eine Liste einzelner Personen für die Fallarbeit, keine Kennzahl: sie erscheint in keinem veröffentlichten Bericht.",
                "A list of individual persons for casework, not an aggregate: no published report shows it."
            )
        );
        render_definition(html, words, definition);
        html.push_str("</section>");
        return;
    };
    if !result.by.is_empty() {
        let by: Vec<String> = result
            .by
            .iter()
            .map(|dimension| {
                let (de, en) = dimension_label(*dimension);
                words.plain(de, en)
            })
            .collect();
        let _ = write!(
            html,
            " · {} {}",
            words.say("nach", "by"),
            escape(&by.join(" × "))
        );
    }
    html.push_str("</p>");
    let (bars, scale) = bars(words, result);
    let title = words.plain(german_title(definition), definition.title);
    html.push_str(&svg::bar_chart(
        key,
        &title,
        &bars,
        scale,
        &words.plain("unterdrückt", "suppressed"),
    ));
    render_table(html, words, result);
    render_notes(html, words, result);
    render_definition(html, words, definition);
    html.push_str("</section>");
}

fn render_table(html: &mut String, words: &Words, result: &KpiResult) {
    let names: Vec<&str> = result
        .total
        .measures
        .iter()
        .map(|measure| measure.name.as_str())
        .collect();
    let _ = write!(
        html,
        r#"<table><thead><tr><th>{}</th>"#,
        words.say("Zelle", "cell")
    );
    for name in &names {
        let _ = write!(html, "<th>{}</th>", escape(name));
    }
    html.push_str("</tr></thead><tbody>");
    let suppressed_text = words.say("unterdrückt", "suppressed");
    for cell in result
        .cells
        .iter()
        .chain(result.margins.iter())
        .chain(std::iter::once(&result.total))
    {
        let _ = write!(html, "<tr><th>{}</th>", escape(&row_label(words, cell)));
        for measure in &cell.measures {
            if measure.suppressed {
                let _ = write!(
                    html,
                    r#"<td class="suppressed" data-suppressed="true">{suppressed_text}</td>"#
                );
            } else {
                let _ = write!(
                    html,
                    r#"<td class="num">{}</td>"#,
                    escape(&svg::format_value(
                        measure.value,
                        scale(&result.key, &measure.name)
                    ))
                );
            }
        }
        html.push_str("</tr>");
    }
    html.push_str("</tbody></table>");
}

fn render_notes(html: &mut String, words: &Words, result: &KpiResult) {
    let suppressed = result
        .cells
        .iter()
        .chain(result.margins.iter())
        .chain(std::iter::once(&result.total))
        .flat_map(|cell| cell.measures.iter())
        .filter(|measure| measure.suppressed)
        .count();
    let _ = write!(
        html,
        r#"<p class="notes">{}"#,
        suppression_note(words, result.suppression)
    );
    if suppressed > 0 {
        let _ = write!(
            html,
            " {}",
            words.say(
                &format!("Hier unterdrückt: {suppressed} Werte."),
                &format!("Suppressed here: {suppressed} figures.")
            )
        );
    }
    let metadata = &result.metadata;
    if metadata.unknown_birth_year_excluded > 0 {
        let count = metadata.unknown_birth_year_excluded;
        let _ = write!(
            html,
            " {}",
            words.say(
                &format!("Wegen unbekannten Geburtsjahrs nicht enthalten: {count} Personen."),
                &format!("Left out for an unknown birth year: {count} persons.")
            )
        );
    }
    if let Some(fallbacks) = metadata.entry_date_fallbacks.filter(|count| *count > 0) {
        let _ = write!(
            html,
            " {}",
            words.say(
                &format!("Ohne Einreisedatum ab der Ankunft gezählt: {fallbacks} Personen."),
                &format!(
                    "Counted from the arrival for lack of an entry date: {fallbacks} persons."
                )
            )
        );
    }
    if metadata.erased_persons > 0 {
        let erased = metadata.erased_persons;
        let _ = write!(
            html,
            " {}",
            words.say(
                &format!("Gelöschte Personen (auch aus früheren Ständen entfernt): {erased}."),
                &format!("Erased persons (removed from earlier cuts too): {erased}.")
            )
        );
    }
    html.push_str("</p>");
}

/// The definition, denominator and unit in the report's language(s): for both, a German paragraph
/// and an English one, each marked with its `lang` (the texts are too long to interleave).
fn render_definition(html: &mut String, words: &Words, definition: &KpiDefinition) {
    let german = kpi::german(definition.key);
    let in_german = || {
        (
            german.map_or(definition.definition, |german| german.definition),
            german.map_or(definition.denominator, |german| german.denominator),
        )
    };
    let paragraphs: Vec<(&str, &str, &str, &str, &str, &str)> = match words.language {
        Language::De => vec![(
            "de",
            "Definition:",
            in_german().0,
            "Nenner:",
            in_german().1,
            "Einheit:",
        )],
        Language::En => vec![(
            "en",
            "Definition:",
            definition.definition,
            "Denominator:",
            definition.denominator,
            "Unit:",
        )],
        Language::Both => vec![
            (
                "de",
                "Definition:",
                in_german().0,
                "Nenner:",
                in_german().1,
                "Einheit:",
            ),
            (
                "en",
                "Definition:",
                definition.definition,
                "Denominator:",
                definition.denominator,
                "Unit:",
            ),
        ],
    };
    for (lang, label, text, denominator_label, denominator, unit_label) in paragraphs {
        let _ = write!(
            html,
            r#"<p class="definition" lang="{lang}" data-lang="{lang}"><strong>{}</strong> {} <em>{}</em> {}. {} {}.</p>"#,
            escape(label),
            escape(text),
            escape(denominator_label),
            escape(denominator),
            escape(unit_label),
            escape(definition.unit),
        );
    }
    if !definition.measures.is_empty() {
        html.push_str(r#"<dl class="measures">"#);
        for measure in definition.measures {
            let _ = write!(
                html,
                "<dt>{}</dt><dd>{}</dd>",
                escape(measure.name),
                escape(measure.description)
            );
        }
        html.push_str("</dl>");
    }
}
