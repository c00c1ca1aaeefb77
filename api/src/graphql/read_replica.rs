//! A read replica (`journey serve --replica-of`) answers every mutation with `READ_REPLICA`, naming
//! its writer, before anything runs: its log is a copy of the writer's, which only the writer
//! appends to, so a write accepted here could never reach the ledger.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextParseQuery};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{ServerError, ServerResult, Variables};

use crate::error::{ApiError, Code};
use crate::state::AppState;

/// The extension; it does nothing on a node that is not a replica.
#[derive(Debug, Clone, Copy)]
pub struct RefuseWrites;

impl ExtensionFactory for RefuseWrites {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(*self)
    }
}

/// The error every write on a replica of `writer` gets.
pub fn refusal(writer: &str) -> ApiError {
    ApiError::new(
        Code::ReadReplica,
        format!(
            "this node is a read replica of {writer}; send writes (every mutation) to the writer's GraphQL API there"
        ),
    )
    .with("writer", writer.to_owned())
}

#[async_trait::async_trait]
impl Extension for RefuseWrites {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let writer = ctx
            .data_opt::<AppState>()
            .and_then(|state| state.replica.get())
            .map(|replica| replica.writer().to_owned());
        let Some(writer) = writer else {
            return Ok(document);
        };
        let writes = document
            .operations
            .iter()
            .any(|(_, operation)| operation.node.ty == OperationType::Mutation);
        if writes {
            let mut error: ServerError = async_graphql::Error::from(refusal(&writer))
                .into_server_error(async_graphql::Pos::default());
            error.locations.clear();
            return Err(error);
        }
        Ok(document)
    }
}
