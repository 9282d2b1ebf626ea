//! Reading found books on every core, answering in order: a scan's
//! progress and its restart cursor count books read from the first, so a
//! book read early waits for those before it. Each worker gets every
//! `workers`-th book and reads them all in one go (one Tesseract process
//! each: its start costs more than reading a line, `ocr.rs`).

use std::collections::BTreeMap;
use std::sync::mpsc;

/// Splits items `from..n` among `workers` threads, each running `work` on
/// its share and handing each result to the sink it is given as soon as
/// it has it; calls `done` with each index and result in index order.
/// Once `done` returns false (the job was stopped) every sink returns
/// false, and workers should stop.
pub fn in_order<T: Send>(
    from: usize,
    n: usize,
    workers: usize,
    work: impl Fn(&[usize], &mut dyn FnMut(usize, T) -> bool) + Sync,
    mut done: impl FnMut(usize, T) -> bool,
) {
    if from >= n {
        return;
    }
    let workers = workers.clamp(1, n - from);
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        for w in 0..workers {
            let share: Vec<usize> = (from + w..n).step_by(workers).collect();
            let (tx, work) = (tx.clone(), &work);
            s.spawn(move || work(&share, &mut |i, r| tx.send((i, r)).is_ok()));
        }
        drop(tx);
        let mut waiting = BTreeMap::new();
        let mut want = from;
        for (i, r) in rx {
            waiting.insert(i, r);
            while let Some(r) = waiting.remove(&want) {
                if !done(want, r) {
                    // Dropping the receiver makes every sink say stop.
                    return;
                }
                want += 1;
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_in_order_whatever_finishes_first() {
        let mut seen = Vec::new();
        in_order(
            2,
            12,
            3,
            |share, sink| {
                for &i in share.iter().rev() {
                    std::thread::sleep(std::time::Duration::from_millis(((12 - i) * 3) as u64));
                    sink(i, i * 10);
                }
            },
            |i, r| {
                seen.push((i, r));
                true
            },
        );
        assert_eq!(seen, (2..12).map(|i| (i, i * 10)).collect::<Vec<_>>());
    }

    #[test]
    fn stops_when_told() {
        let (mut seen, sent) = (0, std::sync::atomic::AtomicUsize::new(0));
        in_order(
            0,
            100,
            2,
            |share, sink| {
                for &i in share {
                    sent.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if !sink(i, i) {
                        return;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(2));
                }
            },
            |_, _| {
                seen += 1;
                seen < 5
            },
        );
        assert_eq!(seen, 5);
        assert!(sent.into_inner() < 20, "the workers stopped too");
    }
}
