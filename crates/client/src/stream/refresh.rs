//! The token's refresh inside its window, and the handing over of a token
//! another holder refreshed first.

use super::{now_ms, JobStream, Next};
use crate::ClientError;

impl JobStream {
    /// Halfway through the refresh window, when both ends are known.
    pub(super) fn refresh_due(&self) -> Option<i64> {
        let (from, exp) = (self.token.refreshable_from?, self.token.expires_at?);
        Some(from + (exp - from) / 2)
    }

    pub(super) async fn refresh(&mut self) -> Result<(), ClientError> {
        match self
            .client
            .refresh_token(&self.job_id, &self.token.token)
            .await
        {
            Ok(r) => {
                self.token = self.token.renewed(r.token, r.expires_at.parse().ok());
                self.refreshes += 1;
                if let Err(e) = self.opts.tokens.put(&self.job_id, &self.token) {
                    tracing::warn!(error = %e, "could not store the refreshed token");
                }
                Ok(())
            }
            Err(e) => {
                // Another holder of the token refreshed it first: use theirs.
                if let Some(t) = self
                    .opts
                    .tokens
                    .get(&self.job_id)
                    .filter(|t| t.token != self.token.token)
                {
                    self.token = t;
                    return Ok(());
                }
                // No proactive retry loop: the next reconnect will tell.
                self.token.refreshable_from = None;
                Err(e)
            }
        }
    }

    /// The server closed the socket because the token it was opened with
    /// expired (4001, docs/PROTOCOL.md §14): reconnect at once, without a
    /// backoff, with a token still good: the one refreshed in its window,
    /// or one refreshed now (or taken from another holder that did).
    /// Without one the stream ends: an expired token cannot be renewed.
    pub(super) async fn on_token_expired(&mut self) -> Option<Next> {
        let still_good = self.token.expires_at.is_some_and(|at| at > now_ms());
        if !still_good && self.refresh().await.is_err() {
            self.done = true;
            let e = ClientError::Unauthorized("the token expired".into());
            return Some(Some(Err(e)));
        }
        self.connect_now = true;
        None
    }
}
