//! The migration of a store of meta format 1 (an `s` and an `i` key per event) to format 2.

// One concern of the sled log; it shares the module's private items.
use super::*;

/// Events per `x` key written by the migration.
pub(super) const MIGRATION_CHUNK_EVENTS: usize = 4096;

/// Removes every key of `tree` that starts with `prefix`, in batches.
pub(super) fn remove_prefix(tree: &sled::Tree, prefix: u8) -> Result<(), LogError> {
    const KEYS_PER_BATCH: usize = 16_384;
    loop {
        let mut batch = sled::Batch::default();
        let mut keys = 0;
        for entry in tree.scan_prefix([prefix]).keys().take(KEYS_PER_BATCH) {
            batch.remove(entry?);
            keys += 1;
        }
        if keys == 0 {
            return Ok(());
        }
        tree.apply_batch(batch)?;
    }
}

/// Migrates a store of meta format 1 (an `s` and an `i` key per event) to format 2 and returns its
/// index. The `x` keys are built from the records themselves (the authority), one per
/// [`MIGRATION_CHUNK_EVENTS`] events; then the meta format switches, then the old keys go, each step
/// flushed. A crash before the switch leaves a format-1 store whose `x` keys the next open discards
/// and writes again; a crash after it leaves old keys that the next open removes.
pub(super) fn migrate_from_v1(
    tree: &sled::Tree,
    db: &sled::Db,
    next_position: u64,
    last_hash: &[u8; 32],
) -> Result<Index, LogError> {
    const CHUNKS_PER_BATCH: usize = 16;
    let started = std::time::Instant::now();
    tracing::info!(
        events = next_position,
        "migrating the event log to one index key per group"
    );
    remove_prefix(tree, INDEX_PREFIX)?;
    let mut index = Index::default();
    let mut batch = sled::Batch::default();
    let mut chunks_in_batch = 0;
    let mut runs = Vec::new();
    let mut chunk_first = 0u64;
    let mut position = 0u64;
    for item in tree.range(event_key(0)..event_key(next_position)) {
        let (key, value) = item?;
        let key_position = key_position(&key)?;
        if key_position != position {
            return Err(LogError::Corrupt {
                position: Position::from_raw(position),
                reason: "the event is missing below the committed head".to_owned(),
            });
        }
        // A store of meta format 1 holds records of format 1 only, which name their streams.
        let event = decode_record(position, &value, &Tables::default())?.event;
        index
            .add(event.event.id, &event.stream, event.revision, position)
            .map_err(|reason| LogError::Corrupt {
                position: Position::from_raw(position),
                reason: format!("migration: {reason}"),
            })?;
        push_run(&mut runs, &event.stream, event.revision, event.event.id);
        position += 1;
        if position - chunk_first == MIGRATION_CHUNK_EVENTS as u64 || position == next_position {
            batch.insert(
                &index_key(chunk_first)[..],
                encode_index_value(chunk_first, &runs)?,
            );
            runs.clear();
            chunk_first = position;
            chunks_in_batch += 1;
            if chunks_in_batch == CHUNKS_PER_BATCH {
                tree.apply_batch(std::mem::take(&mut batch))?;
                chunks_in_batch = 0;
            }
        }
    }
    if position != next_position {
        return Err(LogError::Corrupt {
            position: Position::from_raw(position),
            reason: "the event is missing below the committed head".to_owned(),
        });
    }
    tree.apply_batch(batch)?;
    db.flush()?;
    tree.insert(
        META_KEY,
        &meta_value(META_FORMAT_V2, next_position, last_hash)[..],
    )?;
    db.flush()?;
    remove_prefix(tree, LEGACY_STREAM_PREFIX)?;
    remove_prefix(tree, LEGACY_ID_PREFIX)?;
    db.flush()?;
    tracing::info!(
        events = next_position,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "the event log is migrated"
    );
    Ok(index)
}
