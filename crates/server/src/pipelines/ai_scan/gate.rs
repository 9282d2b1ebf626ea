//! Server-wide bounds on the shelf scan's heavy steps, usable from the
//! blocking threads they run on: photos decoded at once
//! (`--max-decodes`; a decode holds width × height × 4 bytes) and Tesseract
//! processes at once (`--max-ocr-processes`). Before, neither was bounded:
//! a few large photos at once peaked the server near 1 GiB (issue 17).

use crate::config::ScanConfig;
use std::sync::{Arc, Condvar, Mutex, PoisonError};

/// A counting semaphore for blocking threads.
#[derive(Debug)]
pub struct Gate {
    free: Mutex<usize>,
    freed: Condvar,
}

/// One place through a [`Gate`], given back when dropped.
pub struct Pass<'a>(&'a Gate);

impl Gate {
    pub fn new(places: usize) -> Gate {
        Gate {
            free: Mutex::new(places.max(1)),
            freed: Condvar::new(),
        }
    }

    /// Waits for a free place.
    pub fn enter(&self) -> Pass<'_> {
        let mut free = self.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = self
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Pass(self)
    }

    /// Places free now (for tests and metrics).
    pub fn free(&self) -> usize {
        *self.free.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Pass<'_> {
    fn drop(&mut self) {
        *self.0.free.lock().unwrap_or_else(PoisonError::into_inner) += 1;
        self.0.freed.notify_one();
    }
}

/// The scan's gates, shared by every scan job and upload of one server.
#[derive(Debug, Clone)]
pub struct Gates {
    pub decodes: Arc<Gate>,
    pub ocr: Arc<Gate>,
}

impl Gates {
    pub fn new(config: &ScanConfig) -> Gates {
        Gates {
            decodes: Arc::new(Gate::new(config.max_decodes)),
            ocr: Arc::new(Gate::new(config.max_ocr_processes)),
        }
    }
}

impl Default for Gates {
    fn default() -> Gates {
        Gates::new(&ScanConfig::default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn no_more_than_its_places_are_inside_at_once() {
        let gate = Arc::new(Gate::new(2));
        let inside = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let threads: Vec<_> = (0..8)
            .map(|_| {
                let (gate, inside, most) = (gate.clone(), inside.clone(), most.clone());
                std::thread::spawn(move || {
                    let _pass = gate.enter();
                    let now = inside.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(20));
                    inside.fetch_sub(1, Ordering::SeqCst);
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        assert_eq!(most.load(Ordering::SeqCst), 2);
        assert_eq!(gate.free(), 2);
    }
}
