//! The jobs one multiplexed socket follows, and its client's requests
//! (docs/PROTOCOL.md §22): `subscribe`, `unsubscribe`, `token`, `ack` and
//! `ping`. A refused request is an `error` notice naming the job and the
//! code; the socket stays open for the other jobs.

use crate::auth::{check, Denied};
use crate::clock;
use crate::hub::{relay, AckSink, Frame, Incoming, RelayRx, Solo, Wire};
use crate::job::{EndedJobs, EndedViewer};
use crate::job::{Follow, JobDeps, OwnerMsg, SubscribeError};
use bookstrack_protocol::mux::{MuxRequest, Notice, NoticePayload};
use bookstrack_protocol::{ErrorCode, Pipeline};
use std::collections::VecDeque;
use std::sync::Arc;
use tokio::sync::{oneshot, Notify};

/// One followed job.
struct Sub {
    job_id: String,
    relay: RelayRx,
    /// The highest seq sent on this socket: acks go up to here.
    sent: u64,
    /// When the token it was opened (or last handed) with expires.
    expires_at: i64,
    /// Its place among an ended job's viewers, held until its events are
    /// all forwarded.
    _ended: Option<EndedViewer>,
}

pub(super) struct Subs {
    jobs: Arc<JobDeps>,
    ended_jobs: Arc<EndedJobs>,
    wake: Arc<Notify>,
    subs: Vec<Sub>,
    /// Jobs whose terminal event went out here, with its seq: their acks
    /// still count. As many as the socket may follow, oldest dropped.
    ended: VecDeque<(String, u64)>,
    /// Where the next `forward` starts, so that no job always goes first.
    next: usize,
}

/// A refusal: the code and what to tell the client.
type Refused = (ErrorCode, String);

fn refused(code: ErrorCode, m: impl Into<String>) -> Refused {
    (code, m.into())
}

impl Subs {
    pub fn new(jobs: Arc<JobDeps>, ended_jobs: Arc<EndedJobs>, wake: Arc<Notify>) -> Subs {
        Subs {
            jobs,
            ended_jobs,
            wake,
            subs: Vec::new(),
            ended: VecDeque::new(),
            next: 0,
        }
    }

    /// Some relay has frames waiting.
    pub fn waiting(&self) -> bool {
        self.subs.iter().any(|s| !s.relay.is_empty())
    }

    fn notice(&self, solo: &mut Solo, job_id: Option<&str>, payload: NoticePayload) {
        let wire: Wire = solo.viewer().wire;
        let n = Notice::new(job_id, clock::now_ms(), payload);
        solo.viewer().send_control(wire.control(&n));
    }

    fn error(&self, solo: &mut Solo, job_id: Option<&str>, (code, message): Refused) {
        let error = bookstrack_protocol::ApiError { code, message };
        self.notice(solo, job_id, NoticePayload::Error { error });
    }

    /// Answers one client message.
    pub async fn handle(&mut self, m: Incoming, solo: &mut Solo) {
        let msgpack = solo.viewer().wire.msgpack;
        let req: Result<MuxRequest, String> = match m {
            Incoming::Text(t) => serde_json::from_str(&t).map_err(|e| e.to_string()),
            Incoming::Binary(b) if msgpack => rmp_serde::from_slice(&b).map_err(|e| e.to_string()),
            _ => Err("binary messages are MessagePack, on a bookstrack.msgpack socket".into()),
        };
        let req = match req {
            Ok(r) => r,
            Err(e) => {
                let r = refused(ErrorCode::InvalidRequest, format!("not a request: {e}"));
                return self.error(solo, None, r);
            }
        };
        match req {
            MuxRequest::Subscribe {
                job_id,
                token,
                last_seq,
            } => match self.subscribe(&job_id, &token, last_seq).await {
                Ok((sub, pipeline)) => {
                    self.notice(solo, Some(&job_id), NoticePayload::Subscribed { pipeline });
                    self.subs.push(sub);
                    self.jobs.metrics.mux_subscriptions.inc();
                }
                Err(r) => self.error(solo, Some(&job_id), r),
            },
            MuxRequest::Unsubscribe { job_id } => match self.position(&job_id) {
                Some(i) => {
                    self.remove(i);
                    self.notice(solo, Some(&job_id), NoticePayload::Unsubscribed {});
                }
                None => self.not_subscribed(solo, &job_id),
            },
            MuxRequest::Token { job_id, token } => match self.hand_over(&job_id, &token).await {
                Ok(()) => self.notice(solo, Some(&job_id), NoticePayload::TokenAccepted {}),
                Err(r) => self.error(solo, Some(&job_id), r),
            },
            MuxRequest::Ack { job_id, seq } => match self.ack(&job_id, seq) {
                Ok(()) => {}
                Err(r) => self.error(solo, Some(&job_id), r),
            },
            MuxRequest::Ping { .. } => self.notice(solo, None, NoticePayload::Pong {}),
            MuxRequest::Unknown => {
                let r = refused(ErrorCode::InvalidRequest, "unknown message type");
                self.error(solo, None, r);
            }
        }
    }

    fn not_subscribed(&self, solo: &mut Solo, job_id: &str) {
        let r = refused(ErrorCode::InvalidRequest, "not subscribed to this job");
        self.error(solo, Some(job_id), r);
    }

    fn position(&self, job_id: &str) -> Option<usize> {
        self.subs.iter().position(|s| s.job_id == job_id)
    }

    fn remove(&mut self, i: usize) -> Sub {
        self.jobs.metrics.mux_subscriptions.dec();
        self.subs.swap_remove(i)
    }

    /// The token's expiry if it opens the job.
    async fn authorize(&self, job_id: &str, token: &str) -> Result<i64, Refused> {
        let record = self
            .jobs
            .store
            .token(job_id)
            .await
            .map_err(|e| refused(ErrorCode::InternalError, e.to_string()))?;
        match check(&self.jobs.metrics, record.as_ref(), Some(token)) {
            Ok(()) => Ok(record.map_or(0, |r| r.expires_at)),
            Err(Denied::NotFound) => Err(refused(ErrorCode::JobNotFound, "job not found")),
            Err(Denied::Invalid) => Err(refused(
                ErrorCode::InvalidToken,
                "the token is not this job's",
            )),
            Err(Denied::Expired) => Err(refused(
                ErrorCode::TokenExpired,
                "the token expired: refresh it",
            )),
        }
    }

    async fn subscribe(
        &mut self,
        job_id: &str,
        token: &str,
        last_seq: u64,
    ) -> Result<(Sub, Pipeline), Refused> {
        if self.position(job_id).is_some() {
            return Err(refused(ErrorCode::InvalidRequest, "already subscribed"));
        }
        let max = self.jobs.limits.max_jobs_per_socket;
        if self.subs.len() >= max {
            let m = format!("this socket already follows {max} jobs");
            return Err(refused(ErrorCode::TooManySubscriptions, m));
        }
        let expires_at = self.authorize(job_id, token).await?;
        let (tx, rx) = relay(
            self.wake.clone(),
            self.jobs.limits.viewer_queue,
            self.jobs.metrics.hub.clone(),
        );
        let (pipeline, ended) = match self.to_owner(job_id, tx, last_seq).await? {
            Ok(p) => (p, None),
            Err(tx) => {
                let (p, v) = self.replay_ended(job_id, tx, last_seq).await?;
                (p, Some(v))
            }
        };
        let sub = Sub {
            job_id: job_id.to_string(),
            relay: rx,
            sent: last_seq,
            expires_at,
            _ended: ended,
        };
        Ok((sub, pipeline))
    }

    /// Hands the relay to the job's owner; gives it back if there is none.
    async fn to_owner(
        &self,
        job_id: &str,
        relay: crate::hub::RelayTx,
        last_seq: u64,
    ) -> Result<Result<Pipeline, crate::hub::RelayTx>, Refused> {
        let Some(h) = self.jobs.registry.get(job_id) else {
            return Ok(Err(relay));
        };
        let (reply, answer) = oneshot::channel();
        let msg = OwnerMsg::Follow(Box::new(Follow {
            relay,
            last_seq,
            reply,
        }));
        if let Err(e) = h.tx.send(msg).await {
            let OwnerMsg::Follow(f) = e.0 else {
                unreachable!("the message sent is a Follow")
            };
            return Ok(Err(f.relay));
        }
        match answer.await {
            Ok(Ok(())) => Ok(Ok(h.pipeline)),
            Ok(Err(e @ SubscribeError::Full(_))) => {
                Err(refused(ErrorCode::TooManyConnections, e.to_string()))
            }
            Ok(Err(e)) => Err(refused(ErrorCode::InternalError, e.to_string())),
            Err(_) => Err(refused(ErrorCode::InternalError, "the job's owner stopped")),
        }
    }

    /// A job with no owner here has ended: its logged events (shared with
    /// its other viewers, `ws::ended`), then done.
    async fn replay_ended(
        &self,
        job_id: &str,
        relay: crate::hub::RelayTx,
        last_seq: u64,
    ) -> Result<(Pipeline, EndedViewer), Refused> {
        let viewer = self.ended_jobs.join(job_id).map_err(|max| {
            let m = format!("this job already has {max} viewers");
            refused(ErrorCode::TooManyConnections, m)
        })?;
        let internal =
            |e: crate::store::StoreError| refused(ErrorCode::InternalError, e.to_string());
        let state = self
            .jobs
            .store
            .job_state(job_id)
            .await
            .map_err(internal)?
            .ok_or_else(|| refused(ErrorCode::JobNotFound, "job not found"))?;
        if !state.status.is_terminal() {
            let m = "the job is not running here yet: subscribe again shortly";
            return Err(refused(ErrorCode::ConnectionFailed, m));
        }
        let retention = self.jobs.limits.event_retention;
        let frames = viewer
            .owed(self.jobs.store.as_ref(), &state, last_seq, retention)
            .await
            .map_err(internal)?;
        crate::job::count_resume(&self.jobs.metrics, last_seq, &frames);
        self.jobs.acks.replayed(&state, !frames.is_empty());
        relay.push_replay(frames);
        relay.finish();
        Ok((state.pipeline, viewer))
    }

    async fn hand_over(&mut self, job_id: &str, token: &str) -> Result<(), Refused> {
        if self.position(job_id).is_none() {
            return Err(refused(
                ErrorCode::InvalidRequest,
                "not subscribed to this job",
            ));
        }
        let expires_at = self.authorize(job_id, token).await?;
        // Looked up again: the subscription may have ended meanwhile.
        match self.position(job_id) {
            Some(i) => {
                self.subs[i].expires_at = expires_at;
                Ok(())
            }
            None => Err(refused(
                ErrorCode::InvalidRequest,
                "not subscribed to this job",
            )),
        }
    }

    fn ack(&self, job_id: &str, seq: u64) -> Result<(), Refused> {
        let sent = self
            .subs
            .iter()
            .find(|s| s.job_id == job_id)
            .map(|s| s.sent)
            .or_else(|| self.ended.iter().find(|(j, _)| j == job_id).map(|e| e.1));
        match sent {
            None => Err(refused(
                ErrorCode::InvalidRequest,
                "not subscribed to this job",
            )),
            Some(sent) if seq == 0 || seq > sent => Err(refused(
                ErrorCode::InvalidRequest,
                format!("ack for seq {seq}, never sent (sent up to {sent})"),
            )),
            Some(_) => {
                self.jobs.acks.ack(job_id, seq);
                Ok(())
            }
        }
    }

    /// Ends the subscriptions whose token has expired: the client refreshes
    /// it over HTTP and subscribes again from its `lastSeq`.
    pub fn expire(&mut self, solo: &mut Solo) {
        let now = clock::now_ms();
        while let Some(i) = self.subs.iter().position(|s| s.expires_at <= now) {
            let sub = self.remove(i);
            let r = refused(
                ErrorCode::TokenExpired,
                "the token expired: refresh it and subscribe again",
            );
            self.error(solo, Some(&sub.job_id), r);
        }
    }

    /// Moves waiting frames into the socket's queue until it holds `room`,
    /// a few per job per round, starting from a different job each time.
    pub fn forward(&mut self, solo: &mut Solo, room: usize) {
        const PER_TURN: usize = 8;
        let mut batch: Vec<Arc<Frame>> = Vec::new();
        let mut done: Vec<usize> = Vec::new();
        let n = self.subs.len();
        let mut progressed = true;
        while progressed && solo.viewer().queued() < room {
            progressed = false;
            for k in 0..n {
                let i = (self.next + k) % n;
                if done.contains(&i) {
                    continue;
                }
                let sub = &mut self.subs[i];
                batch.clear();
                let finished = sub.relay.take(PER_TURN, &mut batch);
                if let Some(seq) = batch.iter().filter_map(|f| f.seq).max() {
                    sub.sent = sub.sent.max(seq);
                }
                progressed |= !batch.is_empty();
                solo.viewer().push_relayed(batch.drain(..));
                if finished {
                    done.push(i);
                }
            }
        }
        self.next = self.next.wrapping_add(1);
        done.sort_unstable_by(|a, b| b.cmp(a));
        for i in done {
            let sub = self.remove(i);
            self.remember_end(sub.job_id, sub.sent);
        }
    }

    fn remember_end(&mut self, job_id: String, sent: u64) {
        if self.ended.len() >= self.jobs.limits.max_jobs_per_socket.max(1) {
            self.ended.pop_front();
        }
        self.ended.push_back((job_id, sent));
    }
}

impl Drop for Subs {
    fn drop(&mut self) {
        let n = self.subs.len() as i64;
        self.jobs.metrics.mux_subscriptions.dec_by(n);
    }
}
