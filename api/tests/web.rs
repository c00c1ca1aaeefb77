//! The web interface over `app()`: the start page, GraphiQL and every file they load are served
//! from the binary, with the right media types, and nothing points to another origin.

mod support;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use journey_api::auth::Role;
use journey_api::demo::DemoToken;
use serde_json::Value;
use support::Harness;

fn get(uri: &str, accept: &str) -> Request<Body> {
    Request::get(uri)
        .header("accept", accept)
        .body(Body::empty())
        .expect("request")
}

/// The values of every `src="..."` and `href="..."` attribute of an HTML page.
fn references(html: &str) -> Vec<String> {
    let mut found = Vec::new();
    for attribute in ["src=\"", "href=\""] {
        let mut rest = html;
        while let Some(start) = rest.find(attribute) {
            rest = &rest[start + attribute.len()..];
            let end = rest.find('"').expect("closing quote");
            found.push(rest[..end].to_owned());
            rest = &rest[end..];
        }
    }
    found
}

#[tokio::test]
async fn the_start_page_and_graphiql_load_only_files_the_binary_serves() {
    let h = Harness::new().await;
    for (uri, accept) in [
        ("/", "text/html"),
        ("/graphql", "text/html"),
        ("/workspace", "text/html"),
    ] {
        let (status, headers, page) = h.send(get(uri, accept)).await;
        assert_eq!(status, StatusCode::OK, "{uri}");
        assert!(headers["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/html"));
        let policy = headers["content-security-policy"].to_str().expect("ascii");
        assert!(policy.contains("default-src 'self'"), "{policy}");
        let references = references(&page);
        assert!(!references.is_empty(), "{uri} loads nothing?");
        for reference in references {
            assert!(
                reference.starts_with('/') || reference.starts_with('#'),
                "{uri} refers to {reference}, which is not on this server"
            );
            if reference.starts_with("/web/") {
                let (status, headers, _) = h.send(get(&reference, "*/*")).await;
                assert_eq!(status, StatusCode::OK, "{uri} loads {reference}");
                let media_type = headers["content-type"].to_str().expect("ascii");
                let expected = if reference.ends_with(".js") {
                    "text/javascript"
                } else {
                    "text/css"
                };
                assert!(
                    media_type.starts_with(expected),
                    "{reference}: {media_type}"
                );
            }
        }
    }
}

#[tokio::test]
async fn the_vendored_files_carry_their_licences_and_versions() {
    let h = Harness::new().await;
    let (status, _, manifest) = h.send(get("/web/vendor/VENDORED.json", "*/*")).await;
    assert_eq!(status, StatusCode::OK);
    let manifest: Value = serde_json::from_str(&manifest).expect("json");
    for licence in ["LICENSE.graphiql", "LICENSE.react", "LICENSE.react-dom"] {
        let source = manifest[licence].as_str().expect("listed");
        assert!(source.contains('@'), "{licence} names no version: {source}");
        let (status, _, text) = h.send(get(&format!("/web/vendor/{licence}"), "*/*")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(text.contains("MIT License"), "{licence}: {text}");
    }
}

#[tokio::test]
async fn an_unknown_file_is_404_and_paths_cannot_climb_out() {
    let h = Harness::new().await;
    for uri in [
        "/web/nope.js",
        "/web/../Cargo.toml",
        "/web/vendor/../../src/lib.rs",
    ] {
        let (status, _, _) = h.send(get(uri, "*/*")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
}

#[tokio::test]
async fn demo_tokens_are_offered_only_by_a_demo_server() {
    let h = Harness::new().await;
    let (status, _, _) = h.send(get("/web/demo-tokens.json", "*/*")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let token = h.token(Role::Analyst, None, "demo-analyst");
    h.state
        .demo_tokens
        .set(vec![DemoToken {
            name: "demo-analyst".into(),
            role: Role::Analyst,
            agency: None,
            token: token.clone(),
        }])
        .expect("unset before");
    let (status, headers, body) = h.send(get("/web/demo-tokens.json", "*/*")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["cache-control"], "no-store");
    let body: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(body[0]["role"], "analyst");
    assert_eq!(body[0]["token"], token.as_str());
}

#[tokio::test]
async fn the_workspace_forms_are_generated_from_the_schemas_in_schemas_events() {
    let h = Harness::new().await;
    let (status, headers, body) = h.send(get("/web/event-schemas.json", "*/*")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers["content-type"], "application/json");
    let served: serde_json::Map<String, Value> = serde_json::from_str(&body).expect("json");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/events");
    for event_type in journey_core::catalogue::EventType::ALL {
        let name = event_type.name();
        let file = dir.join(format!(
            "{name}.v{}.schema.json",
            event_type.current_version()
        ));
        let on_disk: Value =
            serde_json::from_str(&std::fs::read_to_string(&file).expect("schema file"))
                .expect("json");
        assert_eq!(
            served.get(name),
            Some(&on_disk),
            "{name}: served as in {}",
            file.display()
        );
    }
    assert_eq!(served.len(), journey_core::catalogue::EventType::ALL.len());
}
