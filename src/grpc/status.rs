//! The one place where errors become gRPC statuses. The match is exhaustive on purpose: a new error
//! kind does not compile until someone decides what a client sees for it.

use tonic::{Code, Status};

use crate::error::Error;

/// The status code a client sees for an error.
pub fn code(error: &Error) -> Code {
    match error {
        Error::InvalidArgument { .. } => Code::InvalidArgument,
        Error::OutOfRange { .. } => Code::OutOfRange,
        Error::NotFound { .. } => Code::NotFound,
        Error::FailedPrecondition(_) => Code::FailedPrecondition,
        Error::Unavailable(_) => Code::Unavailable,
        Error::Internal(_) => Code::Internal,
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let code = code(&error);
        if code == Code::Internal || code == Code::Unavailable {
            tracing::warn!(error = %error, "request failed");
        }
        Status::new(code, error.to_string())
    }
}

/// The text an `IngestStream` response carries in `error`: the status code's name, then the message,
/// so a pipeline can tell a bad article (`InvalidArgument`, or `OutOfRange` for one published before
/// the retention window: do not retry) from a store outage (`Unavailable`, retry).
pub fn stream_error(error: &Error) -> String {
    format!("{:?}: {error}", code(error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_maps_to_its_code() {
        let cases = [
            (Error::invalid("article.id", "must not be empty"), Code::InvalidArgument),
            (Error::NotFound { what: "article", id: "x".into() }, Code::NotFound),
            (Error::OutOfRange { field: "article.published_at", reason: "too old".into() }, Code::OutOfRange),
            (Error::FailedPrecondition("not in one cluster".into()), Code::FailedPrecondition),
            (
                Error::FailedPrecondition("no kept text: start the server with --keep-text".into()),
                Code::FailedPrecondition,
            ),
            (Error::Unavailable("redis down".into()), Code::Unavailable),
            (Error::Internal("corrupt".into()), Code::Internal),
        ];
        for (error, expected) in cases {
            let message = error.to_string();
            let status = Status::from(error);
            assert_eq!(status.code(), expected);
            assert_eq!(status.message(), message);
        }
    }

    #[test]
    fn invalid_argument_names_the_field() {
        let status = Status::from(Error::invalid("article.body", "must not be empty"));
        assert!(status.message().contains("article.body"), "{}", status.message());
        assert_eq!(stream_error(&Error::invalid("article.body", "x")), "InvalidArgument: invalid article.body: x");
    }
}
