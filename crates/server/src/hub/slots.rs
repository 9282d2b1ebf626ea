//! The server's sockets counted, in total and per client address, so that
//! no one client (nor all of them) can hold more than `--max-sockets` and
//! `--max-sockets-per-client` (docs/PROTOCOL.md §17). A `Slot` is taken
//! before the upgrade is answered (`ws::ws_progress`, `ws::ws_jobs`) and
//! travels with the socket (`hub::Connection`) to whichever task drives
//! it; dropping it, when the socket is done with, gives the place back.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

#[derive(Default)]
struct Counts {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

pub struct Slots {
    max_total: usize,
    max_per_client: usize,
    counts: Mutex<Counts>,
}

/// Why a socket was refused its slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlotRefused {
    #[error("the server already holds {0} sockets")]
    Total(usize),
    #[error("this client address already holds {0} sockets")]
    Client(usize),
}

/// One socket's place; given back on drop.
pub struct Slot {
    slots: Arc<Slots>,
    client: Option<IpAddr>,
}

impl Slots {
    pub fn new(max_total: usize, max_per_client: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max_total,
            max_per_client,
            counts: Mutex::default(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Counts> {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A place for one more socket of `client` (unknown: counted in the
    /// total only), or why there is none.
    pub fn acquire(self: &Arc<Self>, client: Option<IpAddr>) -> Result<Slot, SlotRefused> {
        let mut c = self.lock();
        if c.total >= self.max_total {
            return Err(SlotRefused::Total(self.max_total));
        }
        if let Some(ip) = client {
            let n = c.per_client.entry(ip).or_insert(0);
            if *n >= self.max_per_client {
                if *n == 0 {
                    c.per_client.remove(&ip);
                }
                return Err(SlotRefused::Client(self.max_per_client));
            }
            *n += 1;
        }
        c.total += 1;
        Ok(Slot {
            slots: self.clone(),
            client,
        })
    }

    /// Sockets holding a slot now.
    pub fn open(&self) -> usize {
        self.lock().total
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.slots.lock();
        c.total = c.total.saturating_sub(1);
        if let Some(ip) = self.client {
            if let Some(n) = c.per_client.get_mut(&ip) {
                *n = n.saturating_sub(1);
                if *n == 0 {
                    c.per_client.remove(&ip);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 1)));
    const B: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::new(10, 0, 0, 2)));

    #[test]
    fn a_client_gets_its_limit_and_no_more_others_are_not_affected() {
        let slots = Slots::new(100, 3);
        let held: Vec<Slot> = (0..3).map(|_| slots.acquire(A).unwrap()).collect();
        assert_eq!(slots.acquire(A).err(), Some(SlotRefused::Client(3)));
        let b = slots.acquire(B).unwrap();
        drop(held);
        assert!(slots.acquire(A).is_ok(), "given back on drop");
        drop(b);
        assert_eq!(slots.open(), 0);
        assert!(
            slots.lock().per_client.is_empty(),
            "no entry kept for idle clients"
        );
    }

    #[test]
    fn the_total_is_shared_by_every_client() {
        let slots = Slots::new(2, 10);
        let _a = slots.acquire(A).unwrap();
        let _b = slots.acquire(B).unwrap();
        assert_eq!(slots.acquire(None).err(), Some(SlotRefused::Total(2)));
        assert_eq!(slots.acquire(A).err(), Some(SlotRefused::Total(2)));
    }
}
