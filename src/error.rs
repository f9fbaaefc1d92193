//! The one error type that crosses module boundaries.
//!
//! Callers branch on the kind (the gRPC layer maps each variant to a status code in one exhaustive
//! `match`, see [`crate::grpc::status`]), so variants are few and mean something to a client: a new variant
//! forces a decision there.

/// Everything that can go wrong while serving a request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request is malformed; `field` names the offending field (`article.id`, `article.body`, …).
    #[error("invalid {field}: {reason}")]
    InvalidArgument {
        /// The request field, as the client names it.
        field: &'static str,
        /// What is wrong with it, in lowercase words.
        reason: String,
    },
    /// The request is well-formed but outside what the server keeps: an article published before the
    /// retention window. Retrying does not help.
    #[error("{field} out of range: {reason}")]
    OutOfRange {
        /// The request field, as the client names it.
        field: &'static str,
        /// Why it is out of range.
        reason: String,
    },
    /// The article or cluster does not exist.
    #[error("{what} not found: {id}")]
    NotFound {
        /// What was looked for: `article` or `cluster`.
        what: &'static str,
        /// The id asked for.
        id: String,
    },
    /// The request is valid but cannot be carried out in the present state: the articles it names are
    /// not in the state it needs (e.g. splitting two articles that are not in one cluster), or the
    /// server is not set up to answer it (`Explain` by ids without kept text, the message naming the
    /// option). Retrying the same request does not help.
    #[error("failed precondition: {0}")]
    FailedPrecondition(String),
    /// The store cannot be reached right now (Redis down, connection lost); retrying later may work.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// The store answered with something it should not have, or failed to persist: not retryable by
    /// the client, and worth an alert.
    #[error("store failure: {0}")]
    Internal(String),
}

impl Error {
    /// An [`Error::InvalidArgument`] naming `field`.
    pub fn invalid(field: &'static str, reason: impl Into<String>) -> Self {
        Error::InvalidArgument { field, reason: reason.into() }
    }
}

/// A result whose error is this crate's [`Error`] unless said otherwise.
pub type Result<T, E = Error> = std::result::Result<T, E>;
