//! Opening the log: the meta value, the index and the last events checked against each other.

// One concern of the sled log; it shares the module's private items.
use super::*;

/// The writer's in-memory view of the log besides the index.
#[derive(Debug)]
pub(super) struct WriterState {
    pub(super) db: sled::Db,
    pub(super) next_position: u64,
    pub(super) last_hash: [u8; 32],
    /// The numbers of the committed tables' names and entries (the readers' side is
    /// [`Reader::tables`]).
    pub(super) numbers: Numbers,
}

impl WriterState {
    /// Loads the meta value, the tables and the index (migrating a store of meta format 1; from the
    /// index checkpoint at `checkpoint` and the `x` keys after it when the checkpoint is usable),
    /// and checks them against the stored events.
    pub(super) fn load(
        tree: &sled::Tree,
        db: sled::Db,
        checkpoint: &std::path::Path,
        prefetched: Option<CheckpointPrefetch>,
    ) -> Result<(Self, Index, Tables), LogError> {
        let (format, next_position, last_hash) = match tree.get(META_KEY)? {
            None => (None, 0, chain::GENESIS),
            Some(value) => {
                let corrupt = |reason: &str| LogError::Corrupt {
                    position: Position::from_raw(u64::MAX),
                    reason: format!("meta value: {reason}"),
                };
                if value.len() != 41 || ![META_FORMAT_V1, META_FORMAT_V2].contains(&value[0]) {
                    return Err(corrupt("unknown format"));
                }
                let next = be_u64(&value, 1).ok_or_else(|| corrupt("too short"))?;
                let mut hash = [0; 32];
                hash.copy_from_slice(&value[9..41]);
                (Some(value[0]), next, hash)
            }
        };

        let (tables, base) = if format == Some(META_FORMAT_V1) {
            (Tables::load(tree)?, None)
        } else {
            tables_and_base(tree, checkpoint, prefetched, next_position, &last_hash)?
        };

        // The last stored event must be the one just below the recorded next position, and carry the
        // recorded last hash; otherwise the meta value and the events disagree.
        let last_event = tree
            .range(event_key(0)..=event_key(u64::MAX))
            .next_back()
            .transpose()?;
        match (last_event, next_position.checked_sub(1)) {
            (None, None) => {}
            (Some((key, value)), Some(last)) => {
                let position = key_position(&key)?;
                if position != last {
                    return Err(LogError::Corrupt {
                        position: Position::from_raw(position),
                        reason: format!("the meta value says the last position is {last}"),
                    });
                }
                if decode_record(position, &value, &tables)?.global_hash != last_hash {
                    return Err(LogError::Corrupt {
                        position: Position::from_raw(position),
                        reason: "the meta value's last global hash differs from the event's"
                            .to_owned(),
                    });
                }
            }
            (Some((key, _)), None) => {
                return Err(LogError::Corrupt {
                    position: Position::from_raw(key_position(&key)?),
                    reason: "events are stored but the meta value is missing".to_owned(),
                });
            }
            (None, Some(last)) => {
                return Err(LogError::Corrupt {
                    position: Position::from_raw(last),
                    reason: "the meta value counts events that are not stored".to_owned(),
                });
            }
        }

        let index = if format == Some(META_FORMAT_V1) {
            migrate_from_v1(tree, &db, next_position, &last_hash)?
        } else {
            // Old index keys left by a migration interrupted after its switch to format 2.
            if tree.scan_prefix([LEGACY_STREAM_PREFIX]).next().is_some()
                || tree.scan_prefix([LEGACY_ID_PREFIX]).next().is_some()
            {
                remove_prefix(tree, LEGACY_STREAM_PREFIX)?;
                remove_prefix(tree, LEGACY_ID_PREFIX)?;
                db.flush()?;
            }
            load_on(tree, base, next_position)?
        };
        let numbers = Numbers::of(&tables)?;
        let state = Self {
            db,
            next_position,
            last_hash,
            numbers,
        };
        Ok((state, index, tables))
    }
}

/// The log's tables, and the index checkpoint's base when the checkpoint is usable: the tables'
/// first entries then come from it and the rest from their keys. Otherwise (no file, a file not
/// whole or consistent, or not of this log) no base, and every table key is read. The file is the
/// one `prefetched` read, when it read this one, else it is read here.
fn tables_and_base(
    tree: &sled::Tree,
    checkpoint: &std::path::Path,
    prefetched: Option<CheckpointPrefetch>,
    next_position: u64,
    last_hash: &[u8; 32],
) -> Result<(Tables, Option<Base>), LogError> {
    let started = std::time::Instant::now();
    let read = prefetched
        .and_then(|prefetched| prefetched.take(checkpoint, next_position))
        .unwrap_or_else(|| read_checkpoint(checkpoint, next_position));
    let read = read.and_then(|read| {
        let Some(Checkpoint { base, tables }) = read else {
            return Ok(None);
        };
        let tables = tables.load_after(tree).map_err(|error| error.to_string())?;
        let stored = hash_before(tree, &tables, base.next_position, next_position, last_hash)
            .map_err(|error| error.to_string())?;
        if stored != base.last_hash {
            return Err(format!(
                "the log's global hash before position {} differs from the checkpoint's",
                base.next_position
            ));
        }
        Ok(Some((tables, base)))
    });
    match read {
        Ok(Some((tables, base))) => {
            tracing::info!(
                from_checkpoint = base.next_position,
                names = tables.names().len(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "the index checkpoint and the log's tables are read"
            );
            Ok((tables, Some(base)))
        }
        Ok(None) => Ok((Tables::load(tree)?, None)),
        Err(reason) => {
            tracing::warn!(
                path = %checkpoint.display(),
                %reason,
                "the index checkpoint is not used; every index and table key is read"
            );
            Ok((Tables::load(tree)?, None))
        }
    }
}

/// The log's global hash of the event at `position - 1` (the genesis hash at 0), for a log whose
/// next position is `next_position` and last hash `last_hash`.
fn hash_before(
    tree: &sled::Tree,
    tables: &Tables,
    position: u64,
    next_position: u64,
    last_hash: &[u8; 32],
) -> Result<[u8; 32], LogError> {
    match position.checked_sub(1) {
        None => Ok(chain::GENESIS),
        Some(_) if position == next_position => Ok(*last_hash),
        Some(last) => {
            let value = tree
                .get(event_key(last))?
                .ok_or_else(|| LogError::Corrupt {
                    position: Position::from_raw(last),
                    reason: "the event is missing below the committed head".to_owned(),
                })?;
            Ok(decode_record(last, &value, tables)?.global_hash)
        }
    }
}

/// The index on the checkpoint's base and the `x` keys after it, or from every `x` key without a
/// base (or when the keys after it disagree with it).
fn load_on(tree: &sled::Tree, base: Option<Base>, next_position: u64) -> Result<Index, LogError> {
    let started = std::time::Instant::now();
    let from_checkpoint = base.as_ref().map_or(0, |base| base.next_position);
    let index = match base {
        None => load_index(tree, Index::default(), next_position)?,
        Some(base) => match load_index(tree, Index::on(base), next_position) {
            Ok(index) => index,
            Err(error) => {
                tracing::warn!(
                    %error,
                    "the index keys after the index checkpoint disagree with it; every index key is read"
                );
                load_index(tree, Index::default(), next_position)?
            }
        },
    };
    tracing::info!(
        events = next_position,
        from_checkpoint,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "the log's index is loaded"
    );
    Ok(index)
}
