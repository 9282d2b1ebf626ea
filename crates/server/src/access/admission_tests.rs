use super::*;

fn limits(per_client: usize, total: usize, rate: f64, burst: usize) -> AdmissionLimits {
    AdmissionLimits {
        per_client,
        total,
        start_rate: rate,
        start_burst: burst,
    }
}

fn ip(s: &str) -> Option<IpAddr> {
    Some(s.parse().unwrap())
}

#[test]
fn a_client_holds_its_limit_and_no_more_until_a_job_ends() {
    let a = Admission::new(limits(2, 100, 1000.0, 1000));
    let t = Instant::now();
    let one = a.admit_at(ip("10.0.0.1"), t).unwrap();
    let _two = a.admit_at(ip("10.0.0.1"), t).unwrap();
    assert_eq!(
        a.admit_at(ip("10.0.0.1"), t).err(),
        Some(Refused::ClientFull(2))
    );
    assert!(a.admit_at(ip("10.0.0.2"), t).is_ok(), "another client");
    drop(one);
    assert!(a.admit_at(ip("10.0.0.1"), t).is_ok(), "the slot came back");
}

#[test]
fn the_server_holds_its_total_and_no_more() {
    let a = Admission::new(limits(10, 3, 1000.0, 1000));
    let t = Instant::now();
    let held: Vec<Slot> = ["10.0.0.1", "10.0.0.2", "10.0.0.3"]
        .iter()
        .map(|c| a.admit_at(ip(c), t).unwrap())
        .collect();
    assert_eq!(
        a.admit_at(ip("10.0.0.4"), t).err(),
        Some(Refused::ServerFull(3))
    );
    assert_eq!(a.held(ip("10.0.0.1")), (3, 1));
    drop(held);
    assert_eq!(a.held(ip("10.0.0.1")), (0, 0));
    let _r = a.recovered();
    assert_eq!(a.held(None), (1, 0), "a recovered job counts in the total");
}

#[test]
fn starts_are_a_burst_then_the_rate() {
    let a = Admission::new(limits(1000, 1000, 1.0, 20));
    let t0 = Instant::now();
    let mut slots = Vec::new();
    for _ in 0..20 {
        slots.push(a.admit_at(ip("10.0.0.1"), t0).unwrap());
    }
    match a.admit_at(ip("10.0.0.1"), t0) {
        Err(Refused::Rate(wait)) => assert!((wait.as_secs_f64() - 1.0).abs() < 1e-6),
        other => panic!("expected a rate refusal, got {:?}", other.err()),
    }
    assert!(
        a.admit_at(ip("10.0.0.2"), t0).is_ok(),
        "each client its own"
    );
    let t1 = t0 + Duration::from_millis(999);
    assert!(
        a.admit_at(ip("10.0.0.1"), t1).is_err(),
        "just before a token"
    );
    let t2 = t0 + Duration::from_secs(1);
    assert!(a.admit_at(ip("10.0.0.1"), t2).is_ok(), "one token a second");
    assert!(a.admit_at(ip("10.0.0.1"), t2).is_err());
}

#[test]
fn a_refusal_for_a_full_quota_spends_no_start() {
    let a = Admission::new(limits(1, 1000, 1.0, 1));
    let t0 = Instant::now();
    let s = a.admit_at(ip("10.0.0.1"), t0).unwrap();
    assert_eq!(
        a.admit_at(ip("10.0.0.1"), t0 + Duration::from_secs(5))
            .err(),
        Some(Refused::ClientFull(1))
    );
    drop(s);
    assert!(a
        .admit_at(ip("10.0.0.1"), t0 + Duration::from_secs(5))
        .is_ok());
}

#[test]
fn an_ipv6_client_is_its_64_and_a_mapped_v4_its_v4() {
    let a = Admission::new(limits(1, 1000, 1000.0, 1000));
    let t = Instant::now();
    let _s = a.admit_at(ip("2001:db8:1:2::1"), t).unwrap();
    assert!(
        a.admit_at(ip("2001:db8:1:2:ffff::9"), t).is_err(),
        "same /64"
    );
    assert!(a.admit_at(ip("2001:db8:1:3::1"), t).is_ok(), "another /64");
    let _v4 = a.admit_at(ip("10.0.0.7"), t).unwrap();
    assert!(a.admit_at(ip("::ffff:10.0.0.7"), t).is_err());
}

#[test]
fn idle_buckets_are_dropped_once_there_are_many() {
    let a = Admission::new(limits(1, usize::MAX, 1.0, 2));
    let t0 = Instant::now();
    for n in 0..BUCKETS_BEFORE_PRUNE as u32 {
        let addr = IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n));
        drop(a.admit_at(Some(addr), t0).unwrap());
    }
    assert_eq!(a.lock().buckets.len(), BUCKETS_BEFORE_PRUNE);
    let later = t0 + Duration::from_secs(10);
    drop(a.admit_at(ip("11.0.0.1"), later).unwrap());
    assert_eq!(a.lock().buckets.len(), 1, "only the newest is not full");
}
