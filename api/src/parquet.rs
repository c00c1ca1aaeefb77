//! Parquet files for analysts: the pseudonymised events (`journey export --format parquet`) and an
//! indicator's answer (`journey kpi … --format parquet`), readable in pandas, R, DuckDB or Excel.
//!
//! The events table has one column per envelope field of the analyst view
//! ([`crate::pseudonym::AnalystView`], the same view the GraphQL `events` feed gives analysts) and
//! the filtered payload as JSON text, so no vault field and no field the analyst policy drops can
//! reach a file. The indicator table has the columns of `journey kpi --format csv` (and of the
//! dashboard's CSV download), typed: one row per measure of every cell, margin and the total.
//!
//! Files are written beside their destination and renamed into place when complete, so a failed
//! export never leaves a half-written file under the name asked for.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{
    BooleanBuilder, Date32Builder, Float64Builder, StringBuilder, TimestampNanosecondBuilder,
    UInt32Builder, UInt64Builder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{ArrowError, DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};
use journey_projections::kpi::KpiResult;
use parquet::arrow::ArrowWriter;
use parquet::errors::ParquetError;

use crate::pseudonym::AnalystView;

#[derive(Debug, thiserror::Error)]
pub enum ParquetFileError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("parquet: {0}")]
    Parquet(#[from] ParquetError),
    #[error("arrow: {0}")]
    Arrow(#[from] ArrowError),
}

const UTC: &str = "UTC";

fn timestamp() -> DataType {
    DataType::Timestamp(TimeUnit::Nanosecond, Some(UTC.into()))
}

/// The columns of the events table, in order.
pub fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("position", DataType::UInt64, false),
        Field::new("person", DataType::Utf8, false),
        Field::new("revision", DataType::UInt64, false),
        Field::new("event_id", DataType::Utf8, false),
        Field::new("type", DataType::Utf8, false),
        Field::new("version", DataType::UInt32, false),
        Field::new("occurred_on", DataType::Date32, false),
        Field::new("recorded_at", timestamp(), false),
        Field::new("actor_pseudonym", DataType::Utf8, false),
        Field::new("actor_agency", DataType::Utf8, true),
        Field::new("actor_role", DataType::Utf8, false),
        Field::new("correlation_id", DataType::Utf8, true),
        Field::new("causation_id", DataType::Utf8, true),
        Field::new("data", DataType::Utf8, true),
    ]))
}

fn days_since_epoch(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    i32::try_from((date - epoch).num_days()).unwrap_or(i32::MAX)
}

/// Nanoseconds since 1970 (the transaction times of the ledger keep nanoseconds, and a nanosecond
/// timestamp holds every time between 1677 and 2262).
fn nanoseconds(time: DateTime<Utc>) -> i64 {
    time.timestamp_nanos_opt().unwrap_or(i64::MAX)
}

fn role_text(view: &AnalystView) -> String {
    match serde_json::to_value(view.actor_role) {
        Ok(serde_json::Value::String(text)) => text,
        _ => format!("{:?}", view.actor_role),
    }
}

/// One record batch of the events table.
pub fn events_batch(views: &[AnalystView]) -> Result<RecordBatch, ArrowError> {
    let mut position = UInt64Builder::new();
    let mut person = StringBuilder::new();
    let mut revision = UInt64Builder::new();
    let mut event_id = StringBuilder::new();
    let mut event_type = StringBuilder::new();
    let mut version = UInt32Builder::new();
    let mut occurred_on = Date32Builder::new();
    let mut recorded_at = TimestampNanosecondBuilder::new().with_timezone(UTC);
    let mut actor_pseudonym = StringBuilder::new();
    let mut actor_agency = StringBuilder::new();
    let mut actor_role = StringBuilder::new();
    let mut correlation_id = StringBuilder::new();
    let mut causation_id = StringBuilder::new();
    let mut data = StringBuilder::new();
    for view in views {
        position.append_value(view.position);
        person.append_value(&view.person);
        revision.append_value(view.revision);
        event_id.append_value(view.event_id.to_string());
        event_type.append_value(&view.event_type);
        version.append_value(view.version);
        occurred_on.append_value(days_since_epoch(view.occurred_on));
        recorded_at.append_value(nanoseconds(view.recorded_at));
        actor_pseudonym.append_value(&view.actor_pseudonym);
        actor_agency.append_option(view.actor_agency.map(|agency| agency.as_str()));
        actor_role.append_value(role_text(view));
        correlation_id.append_option(view.correlation_id.map(|id| id.to_string()));
        causation_id.append_option(view.causation_id.map(|id| id.to_string()));
        data.append_option(view.data.as_ref().map(|data| data.to_string()));
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(position.finish()),
        Arc::new(person.finish()),
        Arc::new(revision.finish()),
        Arc::new(event_id.finish()),
        Arc::new(event_type.finish()),
        Arc::new(version.finish()),
        Arc::new(occurred_on.finish()),
        Arc::new(recorded_at.finish()),
        Arc::new(actor_pseudonym.finish()),
        Arc::new(actor_agency.finish()),
        Arc::new(actor_role.finish()),
        Arc::new(correlation_id.finish()),
        Arc::new(causation_id.finish()),
        Arc::new(data.finish()),
    ];
    RecordBatch::try_new(events_schema(), columns)
}

/// The columns of an indicator table: those of `journey kpi --format csv`, in its order.
pub fn kpi_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("key", DataType::Utf8, false),
        Field::new("as_of", DataType::Date32, false),
        Field::new("known_at", timestamp(), false),
        Field::new("cell", DataType::Utf8, false),
        Field::new("measure", DataType::Utf8, false),
        Field::new("value", DataType::Float64, true),
        Field::new("numerator", DataType::UInt64, true),
        Field::new("denominator", DataType::UInt64, true),
        Field::new("suppressed", DataType::Boolean, false),
        Field::new("erased_persons", DataType::UInt64, false),
    ]))
}

/// The rows of `result` as the CSV has them (see [`crate::kpi_rows`]), typed.
pub fn kpi_batch(result: &KpiResult) -> Result<RecordBatch, ArrowError> {
    let mut key = StringBuilder::new();
    let mut as_of = Date32Builder::new();
    let mut known_at = TimestampNanosecondBuilder::new().with_timezone(UTC);
    let mut cell_label = StringBuilder::new();
    let mut measure_name = StringBuilder::new();
    let mut value = Float64Builder::new();
    let mut numerator = UInt64Builder::new();
    let mut denominator = UInt64Builder::new();
    let mut suppressed = BooleanBuilder::new();
    let mut erased = UInt64Builder::new();
    for cell in crate::kpi_rows::rows(result) {
        for measure in &cell.measures {
            key.append_value(&result.key);
            as_of.append_value(days_since_epoch(result.as_of));
            known_at.append_value(nanoseconds(result.known_at));
            cell_label.append_value(crate::kpi_rows::cell_label(cell));
            measure_name.append_value(&measure.name);
            // A suppressed figure is null, never a number.
            value.append_option(measure.value.filter(|_| !measure.suppressed));
            numerator.append_option(measure.numerator);
            denominator.append_option(measure.denominator);
            suppressed.append_value(measure.suppressed);
            erased.append_value(result.metadata.erased_persons);
        }
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(key.finish()),
        Arc::new(as_of.finish()),
        Arc::new(known_at.finish()),
        Arc::new(cell_label.finish()),
        Arc::new(measure_name.finish()),
        Arc::new(value.finish()),
        Arc::new(numerator.finish()),
        Arc::new(denominator.finish()),
        Arc::new(suppressed.finish()),
        Arc::new(erased.finish()),
    ];
    RecordBatch::try_new(kpi_schema(), columns)
}

/// A Parquet file being written to a temporary file beside `path`, renamed into place by
/// [`ParquetFile::finish`].
pub struct ParquetFile {
    path: std::path::PathBuf,
    writer: ArrowWriter<tempfile::NamedTempFile>,
}

impl std::fmt::Debug for ParquetFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParquetFile")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl ParquetFile {
    pub fn create(path: &Path, schema: SchemaRef) -> Result<Self, ParquetFileError> {
        let io = |source| ParquetFileError::Io {
            path: path.display().to_string(),
            source,
        };
        let dir = match path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let file = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
        Ok(Self {
            path: path.to_owned(),
            writer: ArrowWriter::try_new(file, schema, None)?,
        })
    }

    pub fn write(&mut self, batch: &RecordBatch) -> Result<(), ParquetFileError> {
        Ok(self.writer.write(batch)?)
    }

    /// Writes the footer, syncs and renames the file into place.
    pub fn finish(self) -> Result<(), ParquetFileError> {
        let io = |source| ParquetFileError::Io {
            path: self.path.display().to_string(),
            source,
        };
        let file = self.writer.into_inner()?;
        file.as_file().sync_all().map_err(io)?;
        file.persist(&self.path).map_err(|error| io(error.error))?;
        Ok(())
    }
}
