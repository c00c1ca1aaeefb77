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
    /// Loads the meta value, the tables and the index (migrating a store of meta format 1), and
    /// checks them against the stored events.
    pub(super) fn load(tree: &sled::Tree, db: sled::Db) -> Result<(Self, Index, Tables), LogError> {
        let tables = Tables::load(tree)?;
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
            load_index(tree, next_position)?
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
