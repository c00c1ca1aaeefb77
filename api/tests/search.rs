//! `findPersons` over GraphQL, given/when/then: persons are found by name parts (any order, case,
//! umlaut spelling), birth date and pseudonym, only by the roles and agencies that may see them;
//! bad criteria are refused naming the argument; after `erasePerson` nothing is found and no hash
//! of the person's terms that the keys in force could compute is in any file of the data directory.

mod support;

use journey_api::auth::Role;
use journey_core::catalogue::Agency;
use journey_core::envelope::PersonId;
use journey_core::vault::NameQuery;
use serde_json::{json, Value};
use support::{id, Harness};

const FIND: &str = "query($name: String, $birthDate: Date, $pseudonym: String, $first: Int, $after: String) { findPersons(name: $name, birthDate: $birthDate, pseudonym: $pseudonym, first: $first, after: $after) { edges { cursor node { pseudonym person { id personalData { givenNames familyName } } } } pageInfo { hasNextPage endCursor } } }";

/// Given: a person registered by `token` with these names and birth date.
async fn given_person(h: &Harness, token: &str, given: &str, family: &str, born: &str) -> String {
    let receipt = h
        .record(
            token,
            "registerPerson",
            "RegisterPersonInput",
            json!({
                "eventId": id(),
                "occurredOn": "2023-01-10",
                "birthYear": born[..4].parse::<i32>().expect("year"),
                "sex": "MALE",
                "nationality": "TUR",
                "languages": ["tr"],
                "personalData": {"givenNames": given, "familyName": family, "birthDate": born}
            }),
        )
        .await;
    receipt["personId"].as_str().expect("person id").to_owned()
}

/// When: `token` searches with `criteria`; then: the ids of the persons found.
async fn found(h: &Harness, token: &str, criteria: Value) -> Vec<String> {
    let data = h.ok(token, FIND, criteria).await;
    data["findPersons"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| {
            edge["node"]["person"]["id"]
                .as_str()
                .unwrap_or("")
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_person_is_found_by_name_parts_in_any_order_case_and_umlaut_spelling() {
    let h = Harness::with_projections().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let juergen = given_person(&h, &jobcenter, "Jürgen Emre", "Groß-Öztürk", "1988-02-03").await;
    let other = given_person(&h, &jobcenter, "Emre", "Yilmaz", "1990-05-06").await;

    for name in [
        "Jürgen Groß-Öztürk",
        "oeztuerk JUERGEN",
        "gross emre",
        "GROSS  öztürk jürgen emre",
        "Ju\u{0308}rgen",
    ] {
        assert_eq!(
            found(&h, &jobcenter, json!({"name": name})).await,
            std::slice::from_ref(&juergen),
            "{name}"
        );
    }
    // Every part must match, whole parts only.
    assert!(found(&h, &jobcenter, json!({"name": "Jürgen Yilmaz"}))
        .await
        .is_empty());
    assert!(found(&h, &jobcenter, json!({"name": "Jürg"}))
        .await
        .is_empty());
    let mut both = found(&h, &jobcenter, json!({"name": "emre"})).await;
    both.sort();
    let mut expected = vec![juergen.clone(), other.clone()];
    expected.sort();
    assert_eq!(both, expected);
    // The caseworker sees the whole person in the answer.
    let data = h.ok(&jobcenter, FIND, json!({"name": "yilmaz"})).await;
    assert_eq!(
        data["findPersons"]["edges"][0]["node"]["person"]["personalData"],
        json!({"givenNames": "Emre", "familyName": "Yilmaz"})
    );
}

#[tokio::test]
async fn a_person_is_found_by_birth_date_and_by_pseudonym_and_analysts_only_by_pseudonym() {
    let h = Harness::with_projections().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let analyst = h.token(Role::Analyst, None, "analyst");
    let person = given_person(&h, &jobcenter, "Leyla", "Kaya", "1979-11-30").await;
    given_person(&h, &jobcenter, "Leyla", "Demir", "1981-01-01").await;
    h.caught_up().await;

    assert_eq!(
        found(&h, &jobcenter, json!({"birthDate": "1979-11-30"})).await,
        std::slice::from_ref(&person)
    );
    assert_eq!(
        found(
            &h,
            &jobcenter,
            json!({"name": "leyla", "birthDate": "1979-11-30"})
        )
        .await,
        std::slice::from_ref(&person)
    );
    assert!(found(&h, &jobcenter, json!({"birthDate": "1979-12-01"}))
        .await
        .is_empty());

    // The pseudonym analysts know the person by.
    let uuid: PersonId = person.parse().expect("id");
    let pseudonym = h.state.pseudonyms.person(&uuid);
    assert_eq!(
        found(&h, &jobcenter, json!({"pseudonym": pseudonym})).await,
        std::slice::from_ref(&person)
    );
    let data = h.ok(&analyst, FIND, json!({"pseudonym": pseudonym})).await;
    assert_eq!(
        data["findPersons"]["edges"],
        json!([{"cursor": person, "node": {"pseudonym": pseudonym, "person": null}}])
    );
    h.fails(Some(&analyst), FIND, json!({"name": "Kaya"}), "FORBIDDEN")
        .await;
    h.fails(
        Some(&analyst),
        FIND,
        json!({"birthDate": "1979-11-30"}),
        "FORBIDDEN",
    )
    .await;
}

#[tokio::test]
async fn nobody_is_found_outside_what_the_role_and_agency_may_see() {
    let h = Harness::with_projections().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let stranger = h.caseworker(Agency::Auslaenderbehoerde);
    let admin = h.token(Role::Admin, None, "admin");
    let person = given_person(&h, &jobcenter, "Samir", "Nasser", "1995-07-07").await;

    assert!(found(&h, &stranger, json!({"name": "Samir Nasser"}))
        .await
        .is_empty());
    assert_eq!(
        found(&h, &admin, json!({"name": "Samir Nasser"})).await,
        [person]
    );
    for (role, agency) in [
        (Role::Coordinator, Some(Agency::Ehrenamt)),
        (Role::Auditor, None),
    ] {
        let token = h.token(role, agency, &format!("{role:?}"));
        h.fails(Some(&token), FIND, json!({"name": "Samir"}), "FORBIDDEN")
            .await;
    }
    h.fails(None, FIND, json!({"name": "Samir"}), "UNAUTHENTICATED")
        .await;

    // The audit log names the criteria used and who was found, never the name asked for.
    let entries = h.state.audit.read(None, 1000).expect("audit");
    let searches: Vec<_> = entries
        .iter()
        .filter(|entry| entry.operation == "findPersons")
        .collect();
    assert_eq!(searches.len(), 4, "every call with a token is audited");
    for entry in searches {
        let query = entry.query.as_deref().unwrap_or("");
        assert!(query.starts_with("by name"), "{query}");
        assert!(
            !query.to_lowercase().contains("samir") && !query.contains("Nasser"),
            "{query}"
        );
    }
}

#[tokio::test]
async fn bad_criteria_are_refused_naming_the_argument() {
    let h = Harness::with_projections().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    for (criteria, field) in [
        (json!({}), "name"),
        (json!({"name": " -- "}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"pseudonym": "Amina"}), "pseudonym"),
        (json!({"name": "a", "first": 0}), "first"),
        (json!({"name": "a", "after": "nope"}), "after"),
    ] {
        let error = h
            .fails(Some(&jobcenter), FIND, criteria.clone(), "VALIDATION")
            .await;
        assert_eq!(error["extensions"]["field"], field, "{criteria}: {error}");
    }
}

#[tokio::test]
async fn pages_follow_the_cursor() {
    let h = Harness::with_projections().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let mut persons = Vec::new();
    for born in ["1970-01-01", "1971-01-01", "1972-01-01"] {
        persons.push(given_person(&h, &jobcenter, "Nour", "Haddad", born).await);
    }
    persons.sort();
    let first = h
        .ok(&jobcenter, FIND, json!({"name": "Nour", "first": 2}))
        .await;
    let page = &first["findPersons"];
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    let rest = found(
        &h,
        &jobcenter,
        json!({"name": "Nour", "first": 2, "after": page["pageInfo"]["endCursor"]}),
    )
    .await;
    let mut all: Vec<String> = page["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|edge| {
            edge["node"]["person"]["id"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    all.extend(rest);
    assert_eq!(all, persons);
}

#[tokio::test]
async fn after_erasure_nothing_is_found_and_no_index_hash_is_left_in_the_files() {
    let h = Harness::with_projections().await;
    let jobcenter = h.caseworker(Agency::Jobcenter);
    let name = format!("Zeynep{}", &id().simple().to_string()[..8]);
    let person = given_person(&h, &jobcenter, &name, "Arslan", "1992-09-09").await;
    let uuid: PersonId = person.parse().expect("id");
    assert_eq!(
        found(&h, &jobcenter, json!({"name": name})).await,
        std::slice::from_ref(&person)
    );
    assert!(!h.state.vault.index_hashes(uuid).expect("hashes").is_empty());

    h.record(
        &jobcenter,
        "erasePerson",
        "ErasePersonInput",
        Harness::input(&person, "2024-01-01", json!({"reason": "ART17_REQUEST"})),
    )
    .await;

    assert!(found(&h, &jobcenter, json!({"name": name}))
        .await
        .is_empty());
    assert!(found(&h, &jobcenter, json!({"birthDate": "1992-09-09"}))
        .await
        .is_empty());
    let admin = h.token(Role::Admin, None, "admin");
    assert!(found(&h, &admin, json!({"name": "Arslan"}))
        .await
        .is_empty());
    assert!(h.state.vault.index_hashes(uuid).expect("hashes").is_empty());
    // The hashes anyone with the keys in force could compute for the person's terms are nowhere.
    let query = NameQuery {
        name: Some(format!("{name} Arslan")),
        birth_date: chrono::NaiveDate::from_ymd_opt(1992, 9, 9),
    };
    let hashes = h.state.vault.query_hashes(h.state.ledger.keys(), &query);
    assert_eq!(hashes.len(), 3);
    h.state.vault.flush().await.expect("flush");
    for file in walk(&h.dir.path().join("data")) {
        let bytes = std::fs::read(&file).expect("read");
        for hash in &hashes {
            assert!(
                !bytes.windows(hash.len()).any(|window| window == hash),
                "{} holds an index hash of the erased person",
                file.display()
            );
        }
        assert!(
            !bytes
                .windows(name.len())
                .any(|window| window == name.as_bytes()),
            "{} holds the erased name",
            file.display()
        );
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
