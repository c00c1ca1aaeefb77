//! The demo population (`journey serve --demo`, seeded by `demo::prepare` with the demo's seed and
//! size) shows the volunteer indicators with figures: given the demo store, when an analyst asks
//! for `active_volunteers` by district with disclosure control, then `share_trained` is shown for
//! the total and for districts, strictly between none and all.

use journey_api::context::{Context, LogStore, Options};
use journey_api::demo::{self, DemoConfig, DEMO_PEOPLE};
use journey_projections::kpi::{Cell, Dimension, Suppression};
use journey_projections::{KpiRequest, Projections, RunnerConfig};

/// The `share_trained` measure of a cell, when shown.
fn share_trained(cell: &Cell) -> Option<f64> {
    let measure = cell.measure("share_trained").expect("share_trained");
    measure.value.filter(|_| !measure.suppressed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_population_shows_a_share_of_trained_volunteers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let options = Options {
        data_dir: dir.path().join("data"),
        master_key_file: None,
        erasure_register: None,
        store: LogStore::Sled,
    };
    let context = Context::open(&options).await.expect("open");
    let projections = Projections::start(
        context.ledger.clone(),
        RunnerConfig::new(dir.path().join("projections")),
    )
    .await
    .expect("projections");
    demo::prepare(
        &context,
        &projections,
        &DemoConfig {
            people: DEMO_PEOPLE,
        },
    )
    .await
    .expect("the demo population");

    let result = projections
        .kpi(KpiRequest {
            key: "active_volunteers".into(),
            as_of: projections.today(),
            known_at: None,
            by: vec![Dimension::District],
            suppression: Some(Suppression { k: 3 }),
        })
        .expect("active_volunteers");

    let total = share_trained(&result.total);
    assert!(
        total.is_some_and(|share| share > 0.0 && share < 1.0),
        "total share_trained {total:?}: {:?}",
        result.total
    );
    let shown: Vec<f64> = result.cells.iter().filter_map(share_trained).collect();
    assert!(
        shown.iter().any(|share| *share < 1.0),
        "no district shows an untrained volunteer: {shown:?} of {} cells",
        result.cells.len()
    );
    projections.shutdown().await.expect("shutdown");
    context.close().await.expect("close");
}
