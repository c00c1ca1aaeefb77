//! Paging through a person-level list that is ordered by something other than the person id (the
//! promising applicants by waiting time, the overdue list by time since arrival): a cursor is the
//! person id of the last row, and the next page starts behind that row. Only the same cut orders
//! the list the same way, so each list's connection returns its `knownAt` for the next request.

use journey_core::envelope::PersonId;

use super::page_size;
use crate::config::Limits;
use crate::error::{ApiError, ApiResult};

/// The rows of one page of `rows` (already filtered to what the caller may see) and whether more
/// follow. `after` must be the cursor of a row of the same list.
pub(crate) fn page<T>(
    rows: Vec<T>,
    person: impl Fn(&T) -> PersonId,
    first: Option<i32>,
    after: Option<&str>,
    limits: &Limits,
) -> ApiResult<(Vec<T>, bool)> {
    let size = page_size(first, limits)?;
    let start = match after {
        None => 0,
        Some(cursor) => {
            let after = cursor.parse::<PersonId>().map_err(|_| {
                ApiError::validation(
                    "after",
                    format!(
                        "`{cursor}` is not a cursor: pass the `endCursor` of the previous page"
                    ),
                )
            })?;
            rows.iter().position(|row| person(row) == after).ok_or_else(|| {
                ApiError::validation(
                    "after",
                    format!("{after} is not on this list; ask for the next page with the `knownAt` of the previous one"),
                )
            })? + 1
        }
    };
    let has_next_page = rows.len() > start.saturating_add(size);
    Ok((
        rows.into_iter().skip(start).take(size).collect(),
        has_next_page,
    ))
}
