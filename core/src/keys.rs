//! Filled in by the ledger foundation work.
