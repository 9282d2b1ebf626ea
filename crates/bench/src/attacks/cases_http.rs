//! The attacks over HTTP: big results read at once, pathological CSV
//! fields, a decompression-bomb PNG, multipart parts that never end, a
//! body that stops arriving, and jobs started by the hundred.

use super::cases_ws::summarize;
use super::victim::{follow_to_end, http_from, ATTACKER};
use super::{wire, Ctx};
use anyhow::{Context, Result};
use bookstrack_testkit::goodreads;
use serde_json::Value;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// Uploads `csv` from the attacker's address: the status and the answer.
async fn upload(ctx: &Ctx, csv: Vec<u8>) -> Result<(u16, Value)> {
    let part = reqwest::multipart::Part::bytes(csv).file_name("goodreads_library_export.csv");
    let r = http_from(ATTACKER)
        .post(format!("{}/api/import/csv", ctx.url))
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await?;
    Ok((r.status().as_u16(), r.json().await.unwrap_or_default()))
}

fn id_token(v: &Value) -> Result<(String, String)> {
    let f = |k: &str| {
        v["data"][k]
            .as_str()
            .map(str::to_string)
            .context("a 202 answer")
    };
    Ok((f("jobId")?, f("token")?))
}

/// Six concurrent reads of the results of a 200,000-row import.
pub async fn results(ctx: &Ctx) -> Result<String> {
    let mut csv = Vec::new();
    goodreads::write_goodreads(&mut csv, 200_000)?;
    let (status, v) = upload(ctx, csv).await?;
    anyhow::ensure!(status == 202, "the import was refused: {status} {v}");
    let (id, token) = id_token(&v)?;
    follow_to_end(&ctx.url, &id, &token).await?;
    ctx.begin().await;
    let reads = (0..6).map(|_| {
        let (url, token) = (format!("{}/api/jobs/{id}/results", ctx.url), token.clone());
        tokio::spawn(async move {
            let r = http_from(ATTACKER)
                .get(url)
                .bearer_auth(token)
                .send()
                .await?;
            let status = r.status().as_u16();
            let bytes = r.bytes().await?.len();
            anyhow::Ok(format!("{status} ({:.0} MiB)", bytes as f64 / 1048576.0))
        })
    });
    let mut outcomes = Vec::new();
    for r in futures_util::future::join_all(reads).await {
        outcomes.push(r??);
    }
    Ok(format!("6 reads at once: {}", summarize(&outcomes)))
}

/// A Goodreads export of one row whose `field` column (by header name)
/// holds `value`, the other columns plain.
fn one_row(field: &str, value: &str) -> Vec<u8> {
    let header: Vec<&str> = goodreads::HEADER.split(',').collect();
    let mut row: Vec<String> = header.iter().map(|_| String::new()).collect();
    row[1] = "A Title".into();
    row[2] = "An Author".into();
    let i = header.iter().position(|h| *h == field).expect("a column");
    row[i] = format!("\"{}\"", value.replace('"', "\"\""));
    format!("{}\n{}\n", goodreads::HEADER, row.join(",")).into_bytes()
}

/// Four uploads at once, each one row with a 600 KB review of `<` or
/// 120,000 authors or shelves in one field: filling every running slot.
pub async fn csv_quadratic(ctx: &Ctx) -> Result<String> {
    ctx.begin().await;
    let authors = vec!["A B"; 120_000].join(", ");
    let shelves = vec!["s"; 120_000].join(", ");
    let files = [
        one_row("My Review", &"<".repeat(600_000)),
        one_row("Additional Authors", &authors),
        one_row("Bookshelves", &shelves),
        one_row("My Review", &"<".repeat(600_000)),
    ];
    let jobs = files.into_iter().map(|csv| {
        let ctx = ctx.clone();
        tokio::spawn(async move {
            let (status, v) = upload(&ctx, csv).await?;
            if status != 202 {
                return anyhow::Ok(format!("{status} at upload"));
            }
            let (id, token) = id_token(&v)?;
            follow_to_end(&ctx.url, &id, &token).await?;
            let r: Value = http_from(ATTACKER)
                .get(format!("{}/api/jobs/{id}/results", ctx.url))
                .bearer_auth(&token)
                .send()
                .await?
                .json()
                .await?;
            let d = &r["data"];
            Ok(format!(
                "{} imported, {} row errors",
                d["successCount"], d["failureCount"]
            ))
        })
    });
    let mut outcomes = Vec::new();
    for r in futures_util::future::join_all(jobs).await {
        outcomes.push(r?.unwrap_or_else(|e| format!("{e:#}")));
    }
    Ok(summarize(&outcomes))
}

/// A grey 11000×11000 PNG: a few hundred KiB of zeros that decode to 121 MB.
fn bomb_png() -> Result<Vec<u8>> {
    use flate2::write::ZlibEncoder;
    use std::io::Write;
    let (w, h) = (11_000u32, 11_000u32);
    let mut z = ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    let row = vec![0u8; w as usize + 1];
    for _ in 0..h {
        z.write_all(&row)?;
    }
    let idat = z.finish()?;
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&w.to_be_bytes());
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    for (kind, data) in [(&b"IHDR"[..], &ihdr[..]), (b"IDAT", &idat), (b"IEND", &[])] {
        png.extend_from_slice(&(data.len() as u32).to_be_bytes());
        let mut crc = flate2::Crc::new();
        crc.update(kind);
        crc.update(data);
        png.extend_from_slice(kind);
        png.extend_from_slice(data);
        png.extend_from_slice(&crc.sum().to_be_bytes());
    }
    Ok(png)
}

/// The bomb PNG as a shelf photo, the scan followed to its end.
pub async fn big_png(ctx: &Ctx) -> Result<String> {
    let png = bomb_png()?;
    ctx.begin().await;
    let part = reqwest::multipart::Part::bytes(png.clone()).file_name("shelf.png");
    let r = http_from(ATTACKER)
        .post(format!("{}/api/scan-bookshelf", ctx.url))
        .multipart(reqwest::multipart::Form::new().part("image", part))
        .send()
        .await?;
    let status = r.status().as_u16();
    let v: Value = r.json().await.unwrap_or_default();
    let size = format!("{} KiB PNG", png.len() / 1024);
    if status != 202 {
        return Ok(format!("{size}: {status} {}", v["error"]["code"]));
    }
    let (id, token) = id_token(&v)?;
    follow_to_end(&ctx.url, &id, &token).await.ok();
    Ok(format!("{size}: 202, the scan ran"))
}

/// A raw POST of `head` (a multipart part's start) then `filler` up to
/// 192 MiB or until the server stops reading: what it answered.
async fn endless_part(ctx: &Ctx, head: &str, filler: u8) -> Result<String> {
    ctx.begin().await;
    let mut s = crate::load::connect_from(ATTACKER, ctx.addr).await?;
    let req = format!(
        "POST /api/import/csv HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=B\r\n\
         Content-Length: 250000000\r\n\r\n--B\r\n{head}",
        ctx.addr
    );
    s.write_all(req.as_bytes()).await?;
    let chunk = vec![filler; 1 << 20];
    let sent = wire::write_until(&mut s, &chunk, 192 << 20, Duration::from_secs(3)).await;
    let answer = wire::answer(&mut s, Duration::from_secs(5)).await;
    Ok(format!("{} MiB taken, then {answer}", sent >> 20))
}

pub async fn multipart_header(ctx: &Ctx) -> Result<String> {
    endless_part(
        ctx,
        "Content-Disposition: form-data; name=\"file\"; X-Pad: ",
        b'a',
    )
    .await
}

pub async fn multipart_format(ctx: &Ctx) -> Result<String> {
    endless_part(
        ctx,
        "Content-Disposition: form-data; name=\"format\"\r\n\r\n",
        b'a',
    )
    .await
}

/// An upload that stops after 1 KiB: does the server end it, and does
/// SIGTERM still finish?
pub async fn stalled_body(ctx: &Ctx) -> Result<String> {
    let mut s = crate::load::connect_from(ATTACKER, ctx.addr).await?;
    let req = format!(
        "POST /api/import/csv HTTP/1.1\r\nHost: {}\r\nContent-Type: multipart/form-data; boundary=B\r\n\
         Content-Length: 10000000\r\n\r\n--B\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.csv\"\r\n\r\n{}",
        ctx.addr,
        "x".repeat(1024)
    );
    ctx.begin().await;
    s.write_all(req.as_bytes()).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    ctx.end().await;
    let exited = ctx.terminate(Duration::from_secs(45)).await?;
    let answer = wire::answer(&mut s, Duration::from_millis(200)).await;
    Ok(match exited {
        Some(t) => format!(
            "SIGTERM: exited in {:.1} s; the upload got {answer}",
            t.as_secs_f64()
        ),
        None => "SIGTERM: still running after 45 s".into(),
    })
}

/// 500 small imports from one address, as fast as they are answered.
pub async fn job_spam(ctx: &Ctx) -> Result<String> {
    ctx.begin().await;
    let csv = goodreads::goodreads_csv(10, &[]).into_bytes();
    let (mut accepted, mut refused) = (0, Vec::new());
    for _ in 0..500 {
        match upload(ctx, csv.clone()).await? {
            (202, _) => accepted += 1,
            (s, v) => refused.push(format!("{s} {}", v["error"]["code"].as_str().unwrap_or(""))),
        }
    }
    Ok(format!(
        "{accepted} of 500 imports accepted; refused: {}",
        summarize(&refused)
    ))
}
