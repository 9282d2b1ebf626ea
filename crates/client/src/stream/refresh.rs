//! The token's refresh inside its window, and the handing over of a token
//! another holder refreshed first.

use super::JobStream;
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
}
