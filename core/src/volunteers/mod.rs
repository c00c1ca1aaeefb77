//! Volunteers: the register of the persons who mentor refugees for the municipality and its
//! associations — recruited, trained, assigned to mentees, supported, appreciated, ended.
//!
//! Each volunteer has a pseudonymous stream of their own, `volunteer-<uuid>`, under the same
//! envelope, chain and audit as a person's stream and written through the organisational path
//! the registers and offers use ([`crate::organisational`]): the events carry dates and codes
//! only, never a name or a contact, so their payloads are plain JSON. What identifies the
//! volunteer (name, phone, address) is in the vault ([`crate::vault::volunteer`]), sealed with a data key
//! of the volunteer's own, and is erased the way a person's is ([`crate::ledger::Ledger::erase_volunteer`]).
//!
//! The link between a volunteer and a mentee is made on both sides and checked once: the mentee's
//! stream records `MentorAssigned { mentor_id: "volunteer-<uuid>" }` (the existing mentoring event,
//! sealed with the mentee's key, visible to coordinators), and the volunteer's stream then records
//! [`MenteeAssigned`] naming the *id of that event*, not the person. The rule
//! [`VolunteerRule::AssignmentLinksMentoring`] checks, when the volunteer's event is appended, that
//! the named event is a `MentorAssigned` in a person stream naming this volunteer. So the register
//! in clear never holds a person id, and a mentee's erasure leaves only an event id that opens
//! nothing.

mod events;
mod rules;
mod write;

pub use events::{
    decode_volunteer_event, event_schemas, AppreciationKind, EndReason, MenteeAssigned,
    SupportKind, VolunteerAppreciated, VolunteerEnded, VolunteerErased, VolunteerEvent,
    VolunteerEventType, VolunteerId, VolunteerRecruited, VolunteerSupported, VolunteerTrained,
    VOLUNTEER_STREAM_PREFIX,
};
pub use rules::{
    decide, MentoringLink, Proposal, VolunteerRule, VolunteerState, VolunteerViolation,
};
pub use write::{erasure_event_id, VolunteerProposal, VolunteerReceipt};
