//! The loops on this host's loopback, unpinned: every test returns samples, and the servers
//! stop when the clients are done (a hang would fail the suite's deadline).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use super::*;

const WINDOW: Window = Window {
    warmup: Duration::from_millis(5),
    rounds: 2,
    round: Duration::from_millis(20),
};

fn host() -> Box<dyn BenchHost> {
    crate::bench_host()
}

fn no_sides() -> (Side<'static>, Side<'static>) {
    (Side::default(), Side::default())
}

/// The bench's own private directory, removed when the test's value drops.
fn scratch() -> Scratch {
    Scratch::new().unwrap()
}

fn check(s: &Samples) {
    assert_eq!(s.rounds.len(), 2);
    assert!(
        s.rounds.iter().all(|r| !r.is_empty()),
        "{:?}",
        s.rounds.len()
    );
    assert!(s.rounds.iter().flatten().all(|&ns| ns > 0));
}

#[test]
fn round_trips_on_every_local_socket_type() {
    let host = host();
    let ticks = AtomicU32::new(0);
    let tick = || {
        ticks.fetch_add(1, Ordering::Relaxed);
    };
    let lo4: IpAddr = Ipv4Addr::LOCALHOST.into();
    let lo6: IpAddr = Ipv6Addr::LOCALHOST.into();
    let mut endpoints = vec![Endpoint::tcp(lo4), Endpoint::udp(lo4)];
    if std::net::UdpSocket::bind("[::1]:0").is_ok() {
        endpoints.push(Endpoint::tcp(lo6));
        endpoints.push(Endpoint::udp(lo6));
    }
    let dir = scratch();
    #[cfg(unix)]
    {
        endpoints.push(Endpoint::UnixStream(dir.join("stream.sock")));
        endpoints.push(Endpoint::UnixDgram(dir.join("dgram.sock")));
    }
    for e in &endpoints {
        let s = rr(host.as_ref(), e, no_sides(), 64, WINDOW, &tick).unwrap();
        check(&s);
        assert_eq!(s.lost, 0, "{e:?}");
    }
    assert_eq!(ticks.load(Ordering::Relaxed) as usize, 2 * endpoints.len());
    let at = dir.join("");
    drop(dir);
    assert!(
        !at.exists(),
        "the directory is removed with everything in it"
    );
}

#[test]
fn connections_streams_and_a_proxy_on_every_stream_socket_type() {
    let host = host();
    let dir = scratch();
    let mut endpoints = vec![Endpoint::tcp(Ipv4Addr::LOCALHOST.into())];
    #[cfg(unix)]
    endpoints.push(Endpoint::UnixStream(dir.join("stream.sock")));
    for e in &endpoints {
        check(&connect(host.as_ref(), e, no_sides(), WINDOW, &|| {}).unwrap());
        let st = stream(host.as_ref(), e, no_sides(), 128 << 10, WINDOW, &|| {}).unwrap();
        assert_eq!(st.rounds.len(), 2, "{e:?}");
        assert!(
            st.rounds.iter().all(|(b, d)| *b > 0 && !d.is_zero()),
            "{e:?}"
        );
        let three = (Side::default(), Side::default(), Side::default());
        check(&proxy_rr(host.as_ref(), e, three, 64, WINDOW, &|| {}).unwrap());
        if let Endpoint::UnixStream(path) = e {
            assert!(!path.exists(), "the socket file is removed");
        }
    }
}

#[test]
fn a_server_that_cannot_start_is_an_error_not_a_hang() {
    let host = host();
    // An address this host does not have: the server cannot bind.
    let e = rr(
        host.as_ref(),
        &Endpoint::tcp(Ipv4Addr::new(192, 0, 2, 1).into()),
        no_sides(),
        64,
        WINDOW,
        &|| {},
    )
    .unwrap_err();
    assert!(e.to_string().contains("tcp-rr"), "{e}");
}

#[test]
fn sequence_numbers_fit_any_size() {
    let mut b = [0u8; 3];
    stamp(&mut b, 0x0102_0304);
    assert_eq!(seq_of(&b), 0x02_0304);
    let mut b = [0u8; 16];
    stamp(&mut b, u64::MAX - 1);
    assert_eq!(seq_of(&b), u64::MAX - 1);
}
