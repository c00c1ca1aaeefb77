//! Server-side filters of `$all` reads and subscriptions: on the stream name or the event type, by
//! prefixes or a regular expression. The expression is compiled with `fancy-regex`, because the
//! clients send look-arounds (the Python client's default filter is a negative look-ahead that the
//! `regex` crate does not support).

use tonic::Status;

use crate::grpc::proto::event_store::client::streams::read_req::options::{
    filter_options, FilterOptions,
};

use super::convert::Viewed;

/// The window used when a client asks for checkpoints by count without a size (KurrentDB's default).
const DEFAULT_WINDOW: u32 = 32;
/// The longest expression accepted: a filter is compiled once per call, but it runs on every event.
const REGEX_LEN_MAX: usize = 1024;

#[derive(Debug)]
pub struct Filter {
    on_stream: bool,
    prefixes: Vec<String>,
    regex: Option<fancy_regex::Regex>,
    /// A checkpoint is due after this many events were looked at.
    pub checkpoint_every: u64,
}

impl Filter {
    /// The filter of a request; `None` for no filter.
    pub fn from_options(options: Option<&FilterOptions>) -> Result<Option<Filter>, Status> {
        let Some(options) = options else {
            return Ok(None);
        };
        let (on_stream, expression) = match &options.filter {
            Some(filter_options::Filter::StreamIdentifier(expression)) => (true, expression),
            Some(filter_options::Filter::EventType(expression)) => (false, expression),
            None => return Ok(None),
        };
        let regex = if expression.regex.is_empty() {
            None
        } else {
            if expression.regex.len() > REGEX_LEN_MAX {
                return Err(Status::invalid_argument(format!(
                    "the filter's regex is {} bytes long; at most {REGEX_LEN_MAX} are accepted",
                    expression.regex.len()
                )));
            }
            Some(fancy_regex::Regex::new(&expression.regex).map_err(|error| {
                Status::invalid_argument(format!(
                    "the filter's regex `{}` does not compile: {error}",
                    expression.regex
                ))
            })?)
        };
        let window = match options.window {
            Some(filter_options::Window::Max(max)) if max > 0 => max,
            _ => DEFAULT_WINDOW,
        };
        Ok(Some(Filter {
            on_stream,
            prefixes: expression.prefix.clone(),
            regex,
            checkpoint_every: u64::from(window)
                * u64::from(options.checkpoint_interval_multiplier.max(1)),
        }))
    }

    /// Whether the event passes. Prefixes, when given, decide; else the expression; a filter with
    /// neither lets everything through.
    pub fn matches(&self, event: &Viewed) -> bool {
        let subject = if self.on_stream {
            event.stream.as_str()
        } else {
            event.event_type.as_str()
        };
        if !self.prefixes.is_empty() {
            return self
                .prefixes
                .iter()
                .any(|prefix| subject.starts_with(prefix.as_str()));
        }
        match &self.regex {
            // An expression that fails at run time (a backtracking limit) lets nothing through.
            Some(regex) => regex.is_match(subject).unwrap_or(false),
            None => true,
        }
    }
}
