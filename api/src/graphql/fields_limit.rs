//! The `fieldsMax` limit: how many fields an operation document may select, counted before
//! validation and execution.
//!
//! The complexity limit counts what resolvers cost, so a field that costs nothing (`__typename`)
//! escapes it, and `{ a0: __typename a1: __typename ... }` with tens of thousands of aliases was
//! validated and answered. This counts every field selection of every operation in the document:
//! each alias, `__typename`, the fields of inline fragments, and the fields of a named fragment
//! every time it is spread (so nested spreads count what they expand to).

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{
    ExecutableDocument, FragmentDefinition, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, ServerError, ServerResult, Variables};

use crate::error::ApiError;

/// The extension that enforces `fieldsMax`.
#[derive(Debug, Clone, Copy)]
pub struct FieldsLimit {
    pub max: usize,
}

impl ExtensionFactory for FieldsLimit {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

#[async_trait::async_trait]
impl Extension for FieldsLimit {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let fields = count_fields(&document);
        if fields > self.max {
            let error = ApiError::limit(
                "fieldsMax",
                format!(
                    "the query selects {} fields (aliases, `__typename` and the fields of every fragment spread included), more than the limit of {}; select fewer fields or split it",
                    if fields == usize::MAX { "too many".to_owned() } else { fields.to_string() },
                    self.max
                ),
            );
            let mut error: ServerError =
                async_graphql::Error::from(error).into_server_error(async_graphql::Pos::default());
            error.locations.clear();
            return Err(error);
        }
        Ok(document)
    }
}

/// The number of field selections of every operation of `document`, fragments expanded
/// (saturating; a fragment cycle, which validation refuses later, counts once).
pub fn count_fields(document: &ExecutableDocument) -> usize {
    let mut counter = Counter {
        fragments: &document.fragments,
        memo: HashMap::new(),
        visiting: Vec::new(),
    };
    document
        .operations
        .iter()
        .fold(0usize, |total, (_, operation)| {
            total.saturating_add(counter.selection_set(&operation.node.selection_set))
        })
}

struct Counter<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    memo: HashMap<&'a str, usize>,
    visiting: Vec<&'a str>,
}

impl<'a> Counter<'a> {
    fn selection_set(&mut self, set: &'a Positioned<SelectionSet>) -> usize {
        let mut total = 0usize;
        for selection in &set.node.items {
            let count = match &selection.node {
                Selection::Field(field) => {
                    1usize.saturating_add(self.selection_set(&field.node.selection_set))
                }
                Selection::InlineFragment(fragment) => {
                    self.selection_set(&fragment.node.selection_set)
                }
                Selection::FragmentSpread(spread) => self.fragment(&spread.node.fragment_name.node),
            };
            total = total.saturating_add(count);
        }
        total
    }

    fn fragment(&mut self, name: &'a str) -> usize {
        if let Some(&count) = self.memo.get(name) {
            return count;
        }
        if self.visiting.contains(&name) {
            return 0;
        }
        let Some(fragment) = self.fragments.get(name) else {
            return 0;
        };
        self.visiting.push(name);
        let count = self.selection_set(&fragment.node.selection_set);
        self.visiting.pop();
        self.memo.insert(name, count);
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(query: &str) -> usize {
        count_fields(&async_graphql::parser::parse_query(query).expect("parse"))
    }

    #[test]
    fn fields_aliases_and_fragments_are_counted() {
        assert_eq!(count("{ __typename }"), 1);
        assert_eq!(count("{ a: __typename b: __typename me { role } }"), 4);
        assert_eq!(count("{ ... on Query { a: __typename b: __typename } }"), 2);
        assert_eq!(
            count("{ ...F ...F } fragment F on Query { a: __typename b: __typename }"),
            4
        );
        // Spreads of spreads expand: 2^20 fields from a query of a few lines.
        let mut query = String::from("{ ...F0 } ");
        for level in 0..20 {
            query.push_str(&format!(
                "fragment F{level} on Query {{ ...F{next} ...F{next} }} ",
                next = level + 1
            ));
        }
        query.push_str("fragment F20 on Query { __typename }");
        assert_eq!(count(&query), 1 << 20);
        // A cycle does not hang the count (validation refuses it afterwards).
        assert_eq!(
            count("{ ...A } fragment A on Query { __typename ...B } fragment B on Query { ...A }"),
            1
        );
        // Every operation of the document counts.
        assert_eq!(count("query A { __typename } query B { a: __typename }"), 2);
    }
}
