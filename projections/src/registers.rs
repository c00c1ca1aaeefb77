//! The registers as the projections see them: folded from the register streams' events as they
//! are applied, so an indicator's districts are resolved through exactly the register history the
//! state's checkpoint includes, live and after a rebuild alike.
//!
//! Snapshots hold only the journals; after one is loaded, [`up_to`] folds the register events at or
//! before its checkpoint again from the log (a register is small, a few hundred events).

use std::sync::Arc;

use journey_core::ledger::{DecodedEvent, Ledger, LedgerError};
use journey_core::log::Position;
use journey_core::registers::{decode_register_event, RegisterKind, Registers};

/// Folds `decoded` into `registers` when it is a register event; returns whether it was one.
/// The ledger checked it before writing, so an event that does not fit means the log was changed
/// behind the ledger's back: it is logged and left out, never a reason to stop the projections.
pub(crate) fn apply(registers: &mut Arc<Registers>, decoded: &DecodedEvent) -> bool {
    let Some(kind) = RegisterKind::from_stream_name(&decoded.recorded.stream) else {
        return false;
    };
    let envelope = &decoded.recorded.event;
    let event = decode_register_event(
        &envelope.event_type,
        envelope.version,
        decoded.data.clone().unwrap_or_default(),
    );
    let applied = event.and_then(|event| {
        Arc::make_mut(registers)
            .apply(kind, envelope.occurred_on, &event)
            .map_err(|error| error.to_string())
    });
    if let Err(error) = applied {
        tracing::warn!(position = decoded.recorded.position.raw(), %error, "register event left out");
    }
    true
}

/// The registers as of the log position `checkpoint` (`None`: before the first event).
pub(crate) async fn up_to(
    ledger: &Ledger,
    checkpoint: Option<Position>,
) -> Result<Arc<Registers>, LedgerError> {
    let mut registers = Arc::new(Registers::default());
    let Some(checkpoint) = checkpoint else {
        return Ok(registers);
    };
    for kind in RegisterKind::ALL {
        for recorded in ledger.read_whole_stream(&kind.stream_name()).await? {
            if recorded.position > checkpoint {
                break;
            }
            apply(&mut registers, &ledger.decode(recorded)?);
        }
    }
    Ok(registers)
}
