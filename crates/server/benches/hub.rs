//! The hub's hot paths, each beside a baseline measured in the same run:
//! building and serialising a progress event (vs. serde_json of a flat
//! struct of the same fields), fanning one event out to viewers (vs.
//! serialising it once per viewer), and persisting checkpoints (group
//! commit vs. one transaction per checkpoint), and the WebSocket codec on
//! its own (a server frame's encode, a client message's decode).
//! `cargo bench -p bookstrack-server --bench hub`

use bookstrack_protocol::{JobState, JobStatus, MessageFactory, Pipeline, ProgressUpdate};
use bookstrack_server::hub::codec::{encode, Decoder, OP_TEXT};
use bookstrack_server::hub::{Frame, HubMetrics, Protocol, Viewer};
use bookstrack_server::store::{Checkpoint, EventKind, JobStore, SqliteStore, StoredEvent};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::hint::black_box;
use std::sync::Arc;

fn update(n: u64) -> ProgressUpdate {
    ProgressUpdate {
        progress: n as f64 / 100_000.0,
        status: format!("Processed {n} of 100000 rows"),
        books_processed: Some(n),
        total_books: Some(100_000),
        current_title: Some("The Left Hand of Darkness".into()),
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Flat<'a> {
    r#type: &'a str,
    job_id: &'a str,
    pipeline: &'a str,
    timestamp: i64,
    version: &'a str,
    seq: u64,
    progress: f64,
    status: &'a str,
    books_processed: u64,
    total_books: u64,
    current_title: &'a str,
}

fn serialise(c: &mut Criterion) {
    let f = MessageFactory::new("0193a3c4-7d5e-7f00-8000-000000000001", Pipeline::CsvImport);
    let mut g = c.benchmark_group("serialise");
    g.throughput(Throughput::Elements(1));
    g.bench_function("serde_json of a flat struct (baseline)", |b| {
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            let status = format!("Processed {n} of 100000 rows");
            black_box(
                serde_json::to_string(&Flat {
                    r#type: "job_progress",
                    job_id: "0193a3c4-7d5e-7f00-8000-000000000001",
                    pipeline: "csv_import",
                    timestamp: 1_700_000_000_000,
                    version: "1.0.0",
                    seq: n,
                    progress: n as f64 / 100_000.0,
                    status: &status,
                    books_processed: n,
                    total_books: 100_000,
                    current_title: "The Left Hand of Darkness",
                })
                .unwrap(),
            )
        });
    });
    g.bench_function("envelope build + to_json + frame", |b| {
        let mut n = 0u64;
        b.iter(|| {
            n += 1;
            let env = f.progress(n, 1_700_000_000_000, update(n));
            black_box(Frame::from_envelope(&env))
        });
    });
    g.finish();
}

/// `n` viewers on real loopback sockets whose far ends a reader task
/// drains, so each push is the owner's non-blocking write, as in the server.
fn socket_viewers(
    rt: &tokio::runtime::Runtime,
    n: usize,
    metrics: &Arc<HubMetrics>,
) -> Vec<Viewer> {
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut viewers = Vec::new();
        for _ in 0..n {
            let mut client = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (server, _) = listener.accept().await.unwrap();
            server.set_nodelay(true).unwrap();
            tokio::spawn(async move {
                use tokio::io::AsyncReadExt;
                let mut buf = vec![0u8; 1 << 16];
                while matches!(client.read(&mut buf).await, Ok(n) if n > 0) {}
            });
            viewers.push(Viewer::with_socket(
                Protocol::V2,
                64,
                metrics.clone(),
                server,
            ));
        }
        viewers
    })
}

fn fan_out(c: &mut Criterion) {
    let f = MessageFactory::new("job", Pipeline::CsvImport);
    let metrics = Arc::new(HubMetrics::default());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _guard = rt.enter();
    let mut g = c.benchmark_group("fan_out");
    for viewers in [1usize, 8, 64] {
        let mut vs = socket_viewers(&rt, viewers, &metrics);
        g.throughput(Throughput::Elements(viewers as u64));
        g.bench_function(
            format!("serialise per viewer, {viewers} viewers (baseline)"),
            |b| {
                b.iter(|| {
                    let env = f.progress(1, 0, update(1));
                    for v in &mut vs {
                        v.push(Frame::from_envelope(&env));
                        // What the socket's task does if the kernel fell behind.
                        let _ = v.flush();
                    }
                });
            },
        );
        g.bench_function(format!("shared frame, {viewers} viewers"), |b| {
            b.iter(|| {
                let frame = Frame::from_envelope(&f.progress(1, 0, update(1)));
                for v in &mut vs {
                    v.push(frame.clone());
                    let _ = v.flush();
                }
            });
        });
    }
    g.finish();
}

/// A throttled checkpoint as an import job writes it: the state and the 20
/// progress events sent since the previous one.
fn checkpoint(job: &str, round: u64) -> Checkpoint {
    let f = MessageFactory::new(job, Pipeline::CsvImport);
    let first = round * 20 + 1;
    let mut state = JobState::new(job, Pipeline::CsvImport, 0);
    state.status = JobStatus::Running;
    state.last_seq = first + 19;
    Checkpoint {
        state: Some(state),
        events: (first..first + 20)
            .map(|seq| StoredEvent {
                seq,
                kind: EventKind::Progress,
                json: f.progress(seq, 0, update(seq)).to_json(),
            })
            .collect(),
        retain: 1000,
        seq_reserved: first + 19 + 64,
        ..Default::default()
    }
}

fn persistence(c: &mut Criterion) {
    const JOBS: usize = 200;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(&dir.path().join("bench.sqlite3")).unwrap());
    let ids: Vec<String> = (0..JOBS).map(|i| format!("job-{i}")).collect();
    let mut g = c.benchmark_group("persistence");
    g.throughput(Throughput::Elements(JOBS as u64 * 20));
    g.sample_size(20);
    // Each batch writes the next 20 events of every job.
    let round = std::cell::Cell::new(0u64);
    let next_round = || {
        round.set(round.get() + 1);
        ids.iter()
            .map(|id| checkpoint(id, round.get()))
            .collect::<Vec<_>>()
    };
    g.bench_function("200 checkpoints, one commit each (baseline)", |b| {
        b.iter_batched(
            next_round,
            |cps| {
                rt.block_on(async {
                    for (id, cp) in ids.iter().zip(cps) {
                        store.checkpoint(id, cp).await.unwrap();
                    }
                });
            },
            BatchSize::SmallInput,
        );
    });
    g.bench_function("200 checkpoints, concurrent (group commit)", |b| {
        b.iter_batched(
            next_round,
            |cps| {
                rt.block_on(async {
                    let writes = ids.iter().zip(cps).map(|(id, cp)| {
                        let store = store.clone();
                        let id = id.clone();
                        tokio::spawn(async move { store.checkpoint(&id, cp).await })
                    });
                    for w in futures_util::future::join_all(writes).await {
                        w.unwrap().unwrap();
                    }
                });
            },
            BatchSize::SmallInput,
        );
    });
    g.finish();
}

/// A client's frame, masked as a client must send it.
fn masked(payload: &[u8]) -> Vec<u8> {
    let mask = [0x12, 0x34, 0x56, 0x78];
    let mut f = vec![0x81, 0x80 | payload.len() as u8];
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

fn codec(c: &mut Criterion) {
    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Elements(1));
    let json = MessageFactory::new("job", Pipeline::CsvImport)
        .progress(1, 0, update(1))
        .to_json();
    let json = json.as_bytes();
    g.bench_function("encode a progress frame", |b| {
        b.iter(|| black_box(encode(OP_TEXT, black_box(json))));
    });
    let ready = masked(br#"{"type":"ready","lastSeq":0}"#);
    g.bench_function("decode a client's ready", |b| {
        let mut out = Vec::with_capacity(1);
        b.iter(|| {
            out.clear();
            Decoder::new(4096)
                .feed(black_box(&ready), &mut out)
                .unwrap();
            black_box(&out);
        });
    });
    g.finish();
}

criterion_group!(benches, serialise, fan_out, persistence, codec);
criterion_main!(benches);
