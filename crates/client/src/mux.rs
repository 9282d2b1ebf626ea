//! Many jobs over one socket (`/ws/jobs`, docs/PROTOCOL.md §22) as one
//! typed stream: each job's events once and in order, across any number
//! of dropped connections (each job resubscribed from its own `lastSeq`),
//! tokens refreshed over HTTP and handed to the live subscription, terminal
//! events acknowledged, and the same pause / resume / reconnect-now /
//! cancel as a single job's stream (`StreamControl`).

use crate::control::{take_change, State, StreamControl};
use crate::stream::until;
use crate::wire::{decode, open, Socket};
use crate::{Client, ClientError, StoredToken, StreamOptions};
use bookstrack_protocol::mux::{MuxMessage, MuxRequest, Notice, NoticePayload};
use bookstrack_protocol::{ApiError, Envelope, ErrorCode, JobStarted, Payload};
use futures_util::{SinkExt, StreamExt};
use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;
use tokio::sync::watch;
use tokio_tungstenite::tungstenite::Message;

/// What a [`MuxStream`] yields.
#[derive(Debug, Clone, PartialEq)]
pub enum MuxEvent {
    /// A job event (or `job_state` after a gap), each once and in order.
    Event(Envelope),
    /// The server refused to follow this job (wrong token, unknown job,
    /// too many jobs on the socket); the others go on.
    Refused { job_id: String, error: ApiError },
}

struct Job {
    token: StoredToken,
    last_seq: u64,
    /// Subscribed on the current socket.
    live: bool,
    done: bool,
}

pub struct MuxStream {
    client: Client,
    opts: StreamOptions,
    jobs: BTreeMap<String, Job>,
    socket: Option<Socket>,
    control: StreamControl,
    state: watch::Receiver<State>,
    reconnects_seen: u64,
    connect_now: bool,
    pending: VecDeque<MuxEvent>,
    /// Successful reconnects so far.
    pub reconnects: u32,
}

enum Step {
    Cancelled,
    Control,
    Refresh,
    Frame(Option<Result<Message, tokio_tungstenite::tungstenite::Error>>),
}

impl MuxStream {
    pub(crate) fn new(client: Client, opts: StreamOptions) -> MuxStream {
        let (control, state) = StreamControl::new();
        MuxStream {
            client,
            opts,
            jobs: BTreeMap::new(),
            socket: None,
            control,
            state,
            reconnects_seen: 0,
            connect_now: true,
            pending: VecDeque::new(),
            reconnects: 0,
        }
    }

    /// Follows a job from its first event; subscribed at the next `next`.
    pub fn add(&mut self, job_id: &str, token: StoredToken) {
        self.add_from(job_id, token, 0);
    }

    /// Follows a job from after `last_seq`.
    pub fn add_from(&mut self, job_id: &str, token: StoredToken, last_seq: u64) {
        let job = Job {
            token,
            last_seq,
            live: false,
            done: false,
        };
        self.jobs.insert(job_id.to_string(), job);
    }

    pub fn add_started(&mut self, started: &JobStarted) {
        self.add(&started.job_id, StoredToken::from(started));
    }

    /// Stops following a job.
    pub async fn remove(&mut self, job_id: &str) {
        if self.jobs.remove(job_id).is_some_and(|j| j.live) {
            let req = MuxRequest::Unsubscribe {
                job_id: job_id.into(),
            };
            self.send(&req).await;
        }
    }

    pub fn last_seq(&self, job_id: &str) -> Option<u64> {
        self.jobs.get(job_id).map(|j| j.last_seq)
    }

    pub fn control(&self) -> StreamControl {
        self.control.clone()
    }

    pub fn pause(&self) {
        self.control.pause();
    }

    pub fn resume(&self) {
        self.control.resume();
    }

    pub fn reconnect_now(&self) {
        self.control.reconnect_now();
    }

    /// The next event of any job; `None` once every job has ended (or was
    /// refused). An `Err` ends the stream.
    pub async fn next(&mut self) -> Option<Result<MuxEvent, ClientError>> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(Ok(e));
            }
            if self.jobs.values().all(|j| j.done) {
                self.close("done").await;
                return None;
            }
            if self.control.token().is_cancelled() {
                self.close("cancelled").await;
                return Some(Err(ClientError::Cancelled));
            }
            if self.state.borrow().paused {
                self.close("paused").await;
                let cancel = self.control.token().clone();
                tokio::select! {
                    _ = cancel.cancelled() => {}
                    _ = self.state.wait_for(|s| !s.paused) => {}
                }
                self.connect_now = true;
                continue;
            }
            if self.socket.is_none() {
                match self.connect().await {
                    Ok(()) => {}
                    Err(ClientError::Interrupted) => self.on_control().await,
                    Err(e) => return Some(Err(e)),
                }
                continue;
            }
            self.subscribe_new().await;
            let step = self.wait().await;
            self.on_step(step).await;
        }
    }

    /// Connects with the reconnect policy's backoff (none the first time,
    /// after a pause or a `reconnect_now`).
    async fn connect(&mut self) -> Result<(), ClientError> {
        let url = format!("{}/ws/jobs", self.client.ws_base());
        let policy = self.opts.reconnect;
        let mut last = String::new();
        for n in 0..=policy.max_attempts {
            if n > 0 || !std::mem::take(&mut self.connect_now) {
                let mut state = self.state.clone();
                let cancel = self.control.token().clone();
                tokio::select! {
                    _ = cancel.cancelled() => return Err(ClientError::Cancelled),
                    _ = state.changed() => return Err(ClientError::Interrupted),
                    _ = tokio::time::sleep(policy.delay(n.saturating_sub(1))) => {}
                }
            }
            match open(&url, self.opts.encoding, self.opts.compress).await {
                Ok(ws) => {
                    if self.reconnects_seen > 0 || self.jobs.values().any(|j| j.last_seq > 0) {
                        self.reconnects += 1;
                    }
                    self.socket = Some(ws);
                    for j in self.jobs.values_mut() {
                        j.live = false;
                    }
                    return Ok(());
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(ClientError::GaveUp {
            attempts: policy.max_attempts,
            last,
        })
    }

    async fn send(&mut self, req: &MuxRequest) {
        let text = serde_json::to_string(req).expect("requests serialise");
        if let Some(ws) = self.socket.as_mut() {
            if ws.send(Message::text(text)).await.is_err() {
                self.socket = None;
            }
        }
    }

    /// Subscribes every job not yet live on this socket, from its seq.
    async fn subscribe_new(&mut self) {
        let todo: Vec<MuxRequest> = self
            .jobs
            .iter_mut()
            .filter(|(_, j)| !j.live && !j.done)
            .map(|(id, j)| {
                j.live = true;
                MuxRequest::Subscribe {
                    job_id: id.clone(),
                    token: j.token.token.clone(),
                    last_seq: j.last_seq,
                }
            })
            .collect();
        for req in todo {
            self.send(&req).await;
        }
    }

    /// The earliest moment a live job's token should be refreshed.
    fn refresh_due(&self) -> Option<(String, i64)> {
        self.jobs
            .iter()
            .filter(|(_, j)| !j.done)
            .filter_map(|(id, j)| {
                let (from, exp) = (j.token.refreshable_from?, j.token.expires_at?);
                Some((id.clone(), from + (exp - from) / 2))
            })
            .min_by_key(|(_, at)| *at)
    }

    async fn wait(&mut self) -> Step {
        let due = self.refresh_due().map(|(_, at)| at);
        let cancel = self.control.token().clone();
        let mut state = self.state.clone();
        let ws = self.socket.as_mut().expect("connected");
        tokio::select! {
            _ = cancel.cancelled() => Step::Cancelled,
            _ = state.changed() => Step::Control,
            _ = async {
                match due {
                    Some(at) => tokio::time::sleep(until(at)).await,
                    None => std::future::pending().await,
                }
            } => Step::Refresh,
            m = ws.next() => Step::Frame(m),
        }
    }

    async fn on_step(&mut self, step: Step) {
        match step {
            Step::Cancelled => {}
            Step::Control => self.on_control().await,
            Step::Refresh => {
                if let Some((job_id, _)) = self.refresh_due() {
                    self.refresh(&job_id).await;
                }
            }
            Step::Frame(Some(Ok(Message::Close(_))) | None | Some(Err(_))) => self.socket = None,
            Step::Frame(Some(Ok(m))) => match decode::<serde_json::Value>(&m) {
                None => {}
                Some(Ok(v)) => match MuxMessage::from_value(v) {
                    Ok(MuxMessage::Event(env)) => self.on_event(env).await,
                    Ok(MuxMessage::Notice(n)) => self.on_notice(n).await,
                    Err(e) => tracing::warn!(error = %e, "unreadable message on /ws/jobs"),
                },
                Some(Err(e)) => tracing::warn!(error = %e, "undecodable frame on /ws/jobs"),
            },
        }
    }

    async fn on_control(&mut self) {
        if let Some(reason) = take_change(&mut self.state, &mut self.reconnects_seen) {
            self.close(reason).await;
            self.connect_now = true;
        }
    }

    async fn close(&mut self, reason: &str) {
        crate::wire::close(self.socket.take(), reason).await;
    }

    async fn on_event(&mut self, env: Envelope) {
        let Some(job) = self.jobs.get_mut(env.job_id()) else {
            return;
        };
        if let Payload::JobState { state } = env.payload() {
            job.last_seq = job.last_seq.max(state.last_seq);
            job.done |= state.status.is_terminal();
            self.pending.push_back(MuxEvent::Event(env));
            return;
        }
        let seq = env.seq().unwrap_or(0);
        if job.done || seq <= job.last_seq {
            return;
        }
        job.last_seq = seq;
        if env.payload().is_terminal() {
            job.done = true;
            if let Err(e) = self.opts.tokens.delete(env.job_id()) {
                tracing::warn!(error = %e, "could not delete the job's token");
            }
            let ack = MuxRequest::Ack {
                job_id: env.job_id().to_string(),
                seq,
            };
            self.send(&ack).await;
        }
        self.pending.push_back(MuxEvent::Event(env));
    }

    async fn on_notice(&mut self, n: Notice) {
        let NoticePayload::Error { error } = n.payload else {
            return;
        };
        let Some(job_id) = n.job_id else {
            tracing::warn!(code = %error.code, message = %error.message, "request refused");
            return;
        };
        match error.code {
            ErrorCode::TokenExpired => {
                self.refresh(&job_id).await;
                if let Some(j) = self.jobs.get_mut(&job_id) {
                    j.live = false;
                }
            }
            // Not running here yet (a restart's recovery): ask again soon.
            ErrorCode::ConnectionFailed | ErrorCode::TooManyConnections => {
                tokio::time::sleep(Duration::from_millis(250)).await;
                if let Some(j) = self.jobs.get_mut(&job_id) {
                    j.live = false;
                }
            }
            _ => {
                if let Some(j) = self.jobs.get_mut(&job_id).filter(|j| !j.done) {
                    j.done = true;
                    self.pending.push_back(MuxEvent::Refused { job_id, error });
                }
            }
        }
    }

    /// Refreshes a job's token over HTTP and hands it to its subscription.
    async fn refresh(&mut self, job_id: &str) {
        let Some(job) = self.jobs.get_mut(job_id) else {
            return;
        };
        match self.client.refresh_token(job_id, &job.token.token).await {
            Ok(r) => {
                job.token = job.token.renewed(r.token, r.expires_at.parse().ok());
                if let Err(e) = self.opts.tokens.put(job_id, &job.token) {
                    tracing::warn!(error = %e, "could not store the refreshed token");
                }
                let (live, token) = (job.live, job.token.token.clone());
                if live {
                    let req = MuxRequest::Token {
                        job_id: job_id.into(),
                        token,
                    };
                    self.send(&req).await;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "token refresh failed");
                // Tried once per window: the server will say when it expires.
                job.token.refreshable_from = None;
            }
        }
    }
}
