use bookstrack_protocol::ErrorCode;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("could not reach the server: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the server refused the request ({status}): {code}: {message}")]
    Api {
        status: u16,
        code: ErrorCode,
        message: String,
    },
    #[error("unexpected answer from the server ({status}): {body}")]
    Unexpected { status: u16, body: String },
    #[error("could not read the file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("WebSocket error: {0}")]
    WebSocket(String),
    #[error("gave up reconnecting after {attempts} attempts: {last}")]
    GaveUp { attempts: u32, last: String },
    #[error("the job is gone from the server")]
    JobGone,
    #[error("the job's token is no longer accepted ({0})")]
    Unauthorized(String),
    #[error("cancelled")]
    Cancelled,
    /// A wait cut short by a pause or a `reconnect_now`; never returned
    /// to the caller.
    #[error("interrupted")]
    Interrupted,
    #[error("the server sent a malformed message: {0}")]
    Protocol(String),
}

impl ClientError {
    /// A 4xx answer: asking again will not help.
    pub fn is_client_error(&self) -> bool {
        match self {
            ClientError::Api { status, .. } | ClientError::Unexpected { status, .. } => {
                (400..500).contains(status)
            }
            ClientError::JobGone | ClientError::Unauthorized(_) => true,
            _ => false,
        }
    }
}
