//! `journey stats`: counts of the log.

use std::collections::{BTreeMap, HashSet};
use std::process::ExitCode;

use journey_core::log::{AllFrom, Direction};

use crate::context::{CliError, Context, Options};

const PAGE_EVENTS: usize = 8192;

pub async fn run(options: &Options) -> Result<ExitCode, CliError> {
    let context = Context::open(options).await?;
    let mut by_type: BTreeMap<String, u64> = BTreeMap::new();
    let mut streams = HashSet::new();
    let mut first_recorded = None;
    let mut last_recorded = None;
    let mut from = AllFrom::Start;
    loop {
        let page = context
            .log
            .read_all(from, Direction::Forwards, PAGE_EVENTS)
            .await?;
        let Some(last) = page.last() else {
            break;
        };
        from = AllFrom::Excluding(last.position);
        for recorded in page {
            *by_type
                .entry(recorded.event.event_type.clone())
                .or_default() += 1;
            streams.insert(recorded.stream);
            let at = recorded.event.recorded_at;
            first_recorded = Some(
                first_recorded.map_or(at, |first: chrono::DateTime<chrono::Utc>| first.min(at)),
            );
            last_recorded =
                Some(last_recorded.map_or(at, |last: chrono::DateTime<chrono::Utc>| last.max(at)));
        }
    }
    let disk_bytes = dir_size(&options.data_dir);
    println!("data directory   {}", options.data_dir.display());
    println!("events           {}", by_type.values().sum::<u64>());
    println!("streams          {}", streams.len());
    if let (Some(first), Some(last)) = (first_recorded, last_recorded) {
        println!(
            "recorded between {} and {}",
            first.format("%Y-%m-%dT%H:%M:%SZ"),
            last.format("%Y-%m-%dT%H:%M:%SZ")
        );
    }
    println!(
        "size on disk     {:.1} MiB",
        disk_bytes as f64 / (1024.0 * 1024.0)
    );
    println!("events by type:");
    let mut rows: Vec<_> = by_type.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    for (event_type, count) in rows {
        println!("  {event_type:<28} {count:>10}");
    }
    context.close().await?;
    Ok(ExitCode::SUCCESS)
}

fn dir_size(path: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.metadata() {
            Ok(metadata) if metadata.is_dir() => dir_size(&entry.path()),
            Ok(metadata) => metadata.len(),
            Err(_) => 0,
        })
        .sum()
}
