//! The council report: every indicator of the catalogue, suppressed cells marked as such, one
//! self-contained HTML file; `GET /report` serves the same with the caller's token, and
//! `journey report` refuses a bad output path before it computes anything.

mod support;

use std::process::Command;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use journey_api::auth::Role;
use journey_api::report::{self, Language, Report, ReportRequest};
use journey_core::synth::{self, SynthConfig};
use journey_projections::kpi::{self, Suppression};
use support::Harness;

/// A harness with a synthetic population of `people`, caught up.
async fn seeded(people: usize) -> Harness {
    let h = Harness::with_projections().await;
    let config = SynthConfig::new(people, 5, h.context.ledger.clock().today());
    synth::seed(&h.context.ledger, &config, |_| {})
        .await
        .expect("seed");
    h.caught_up().await;
    h
}

fn compute(h: &Harness, suppression: Option<Suppression>) -> Report {
    let projections = h.state.projections.as_ref().expect("projections");
    report::compute(
        projections,
        &ReportRequest {
            as_of: projections.today(),
            known_at: None,
            suppression,
        },
    )
    .expect("report")
}

/// The HTML of one indicator's section.
fn section<'a>(html: &'a str, key: &str) -> &'a str {
    let start = html
        .find(&format!(r#"data-kpi="{key}""#))
        .unwrap_or_else(|| panic!("no section for {key}"));
    let end = html[start..].find("</section>").expect("closed") + start;
    &html[start..end]
}

#[tokio::test]
async fn every_indicator_of_the_catalogue_has_its_page_with_chart_table_definition_and_cut() {
    let h = seeded(120).await;
    let report = compute(&h, Some(Suppression { k: 3 }));
    let html = report::render(&report, Language::Both);
    let known_at = report
        .known_at
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    assert_eq!(report.sections.len(), kpi::catalogue().len());
    for definition in kpi::catalogue() {
        let section = section(&html, definition.key);
        // The definition is the catalogue's wording, escaped as HTML, in English and in German,
        // each in a paragraph marked with its language.
        let german = kpi::german(definition.key).expect("every indicator has German text");
        for (lang, text, title) in [
            ("en", definition.definition, definition.title),
            ("de", german.definition, german.title),
        ] {
            let start = section
                .find(&format!(r#"<p class="definition" lang="{lang}""#))
                .unwrap_or_else(|| panic!("{}: no {lang} definition", definition.key));
            let paragraph = &section[start..start + section[start..].find("</p>").expect("closed")];
            assert!(
                paragraph.contains(&report::escape(text)),
                "{}: the {lang} definition is not the catalogue's: {paragraph}",
                definition.key
            );
            assert!(
                section.contains(&report::escape(title)),
                "{}: the {lang} title is missing",
                definition.key
            );
        }
        assert!(
            section.contains(&known_at),
            "{}: cut missing",
            definition.key
        );
        if definition.person_level {
            assert!(section.contains(r#"data-person-level="true""#));
            assert!(
                !section.contains("<svg"),
                "a person-level list is never drawn"
            );
            continue;
        }
        assert!(
            section.contains("<svg"),
            "{}: chart missing",
            definition.key
        );
        assert!(
            section.contains("<table>"),
            "{}: table missing",
            definition.key
        );
        for measure in definition.measures {
            assert!(
                section.contains(&format!("<th>{}</th>", measure.name)),
                "{}: column {} missing",
                definition.key,
                measure.name
            );
        }
    }
    // Every indicator after the first was computed at the first one's cut.
    for section in &report.sections {
        if let Some(result) = &section.result {
            assert_eq!(result.known_at, report.known_at, "{}", result.key);
        }
    }
}

#[tokio::test]
async fn suppressed_figures_are_marked_as_suppressed_and_never_printed_as_numbers() {
    let h = seeded(60).await;
    let report = compute(&h, Some(Suppression { k: 3 }));
    let html = report::render(&report, Language::En);
    let mut suppressed_total = 0;
    for section_data in &report.sections {
        let Some(result) = &section_data.result else {
            continue;
        };
        let suppressed = result
            .cells
            .iter()
            .chain(&result.margins)
            .chain(std::iter::once(&result.total))
            .flat_map(|cell| &cell.measures)
            .filter(|measure| measure.suppressed)
            .count();
        suppressed_total += suppressed;
        let section = section(&html, &result.key);
        assert_eq!(
            section
                .matches(r#"<td class="suppressed" data-suppressed="true">suppressed</td>"#)
                .count(),
            suppressed,
            "{}: every suppressed figure of the table is marked",
            result.key
        );
        if suppressed > 0 {
            assert!(section.contains("Suppressed here:"), "{}", result.key);
        }
    }
    assert!(
        suppressed_total > 0,
        "a population of 60 by district has small cells; the test needs some"
    );

    // Without suppression (an admin's report) nothing is marked and the note says so.
    let open = report::render(&compute(&h, None), Language::En);
    assert!(!open.contains(r#"data-suppressed="true""#));
    assert!(open.contains("not for publication"));
}

#[tokio::test]
async fn the_report_is_one_self_contained_file() {
    let h = seeded(40).await;
    for language in [Language::De, Language::En, Language::Both] {
        let html = report::render(&compute(&h, Some(Suppression { k: 3 })), language);
        // The only URL is the SVG namespace name, which nothing fetches.
        let without_namespace = html.replace(r#"xmlns="http://www.w3.org/2000/svg""#, "");
        for forbidden in [
            "http://", "https://", "<script", "<link", "src=", "@import", "//cdn",
        ] {
            assert!(
                !without_namespace.contains(forbidden),
                "{language:?}: the report contains {forbidden}"
            );
        }
        // `url(` only ever points into the document (the hatch pattern of suppressed bars).
        for (index, _) in html.match_indices("url(") {
            assert!(
                html[index..].starts_with("url(#"),
                "{}",
                &html[index..index + 40]
            );
        }
        // One page per indicator when printed, the cover aside.
        assert!(html.contains("break-after: page"));
        assert_eq!(
            html.matches(r#"<section class="indicator""#).count(),
            kpi::catalogue().len()
        );
    }
    let german = report::render(&compute(&h, Some(Suppression { k: 3 })), Language::De);
    assert!(german.contains("Beschäftigungsquote"));
    assert!(!german.contains(r#"lang="en""#));
    let english = report::render(&compute(&h, Some(Suppression { k: 3 })), Language::En);
    assert!(!english.contains("Beschäftigungsquote"));
}

fn get(uri: &str, token: Option<&str>) -> Request<Body> {
    let mut request = Request::get(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    request.body(Body::empty()).expect("request")
}

#[tokio::test]
async fn get_report_runs_the_same_code_with_the_callers_token_and_is_audited() {
    let h = seeded(40).await;
    let today = h.state.projections.as_ref().expect("projections").today();
    let uri = format!("/report?asOf={today}&lang=en");

    let (status, _, body) = h.send(get(&uri, None)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("UNAUTHENTICATED"), "{body}");

    let analyst = h.token(Role::Analyst, None, "analyst");
    for (bad, field) in [
        ("/report".to_owned(), "asOf"),
        ("/report?asOf=2025-13-01".to_owned(), "asOf"),
        (format!("/report?asOf={today}&knownAt=yesterday"), "knownAt"),
        (format!("/report?asOf={today}&lang=fr"), "lang"),
    ] {
        let (status, _, body) = h.send(get(&bad, Some(&analyst))).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(
            body.contains(&format!(r#""field":"{field}""#)),
            "{bad}: {body}"
        );
    }

    let (status, headers, html) = h.send(get(&uri, Some(&analyst))).await;
    assert_eq!(status, StatusCode::OK);
    assert!(headers["content-disposition"]
        .to_str()
        .expect("ascii")
        .starts_with("attachment"));
    // The analyst's report is the suppressed one, as their `kpi` answers are.
    assert!(html.contains("Disclosure control: cells about fewer than 3 persons"));
    for definition in kpi::catalogue() {
        assert!(html.contains(&format!(r#"data-kpi="{}""#, definition.key)));
    }
    let admin = h.token(Role::Admin, None, "admin");
    let (_, _, html) = h.send(get(&uri, Some(&admin))).await;
    assert!(html.contains("not for publication"));

    let entries = h.state.audit.read(None, 1000).expect("audit");
    let reports: Vec<_> = entries
        .iter()
        .filter(|entry| entry.operation == "report")
        .collect();
    assert_eq!(reports.len(), 6, "every request with a token is audited");
    assert_eq!(
        reports.iter().filter(|entry| entry.outcome == "ok").count(),
        2
    );
}

#[test]
fn journey_report_refuses_a_missing_output_directory_and_writes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("no-such-dir").join("report.html");
    let output = Command::new(env!("CARGO_BIN_EXE_journey"))
        .env_remove("JOURNEY_MASTER_KEY")
        .env("RUST_LOG", "error")
        .args([
            "--data-dir",
            dir.path().join("data").to_str().expect("path"),
            "report",
            "--as-of",
            "2025-06-30",
            "--out",
            out.to_str().expect("path"),
        ])
        .output()
        .expect("run");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("does not exist"), "{stderr}");
    assert!(!out.exists());
    assert!(
        !dir.path().join("data").exists(),
        "nothing is opened or created before the arguments are checked"
    );
}
