//! The JSON Schemas of the registers, generated from the code: the register file's
//! (`schemas/registers.schema.json`) and each register event type's
//! (`schemas/registers/<Type>.v1.schema.json`). `core/tests/schemas.rs` fails on drift.

use serde_json::Value;

use super::events::RegisterEventType;
use super::file::RegisterFile;

/// The file name of the register file's schema, under `schemas/`.
pub const FILE_SCHEMA_NAME: &str = "registers.schema.json";

/// The register file's schema.
pub fn file_schema() -> Value {
    serde_json::to_value(schemars::schema_for!(RegisterFile)).unwrap_or(Value::Null)
}

/// Each register event type's schema, with its file name under `schemas/registers/`.
pub fn event_schemas() -> Vec<(String, Value)> {
    RegisterEventType::ALL
        .into_iter()
        .map(|event_type| {
            (
                format!(
                    "{}.v{}.schema.json",
                    event_type.name(),
                    event_type.current_version()
                ),
                event_type.schema(),
            )
        })
        .collect()
}

/// How a schema is written to its file.
pub fn render(schema: &Value) -> String {
    let mut text = serde_json::to_string_pretty(schema).unwrap_or_default();
    text.push('\n');
    text
}
