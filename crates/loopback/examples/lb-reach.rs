//! Test helper: try one connection, as a host on the network would, and say what happened.
//!
//! `lb-reach PROTO ADDR:PORT TIMEOUT_MS [FROM_ADDR]` prints one word:
//! - `open`: TCP connected, or a UDP datagram came back (the listener must echo: `lb-listen
//!   udp:…,echo`);
//! - `refused`: TCP reset, or ICMP port unreachable for UDP;
//! - `timeout`: nothing came back within TIMEOUT_MS (dropped on the way);
//! - `error: …` for anything else.
//!
//! FROM_ADDR binds the source address first (a peer with two addresses tries from each).

use std::net::SocketAddr;
use std::time::Duration;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    println!("{}", reach(&args).unwrap_or_else(|e| format!("error: {e}")));
}

fn reach(args: &[String]) -> Result<String, String> {
    let [proto, addr, timeout, rest @ ..] = args else {
        return Err("usage: lb-reach tcp|udp ADDR:PORT TIMEOUT_MS [FROM]".into());
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let timeout = Duration::from_millis(timeout.parse().map_err(|_| "bad timeout")?);
    let (ty, p) = match proto.as_str() {
        "tcp" => (Type::STREAM, Protocol::TCP),
        "udp" => (Type::DGRAM, Protocol::UDP),
        other => return Err(format!("unknown protocol {other}")),
    };
    let sock = Socket::new(Domain::for_address(addr), ty, Some(p)).map_err(|e| e.to_string())?;
    if let Some(from) = rest.first() {
        let from: std::net::IpAddr = from.parse().map_err(|e| format!("{from}: {e}"))?;
        sock.bind(&SockAddr::from(SocketAddr::new(from, 0)))
            .map_err(|e| format!("bind {from}: {e}"))?;
    }
    let word = |e: &std::io::Error| match e.kind() {
        std::io::ErrorKind::ConnectionRefused | std::io::ErrorKind::ConnectionReset => {
            "refused".to_owned()
        }
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => "timeout".to_owned(),
        _ => format!("error: {e}"),
    };
    if proto == "tcp" {
        return Ok(match sock.connect_timeout(&SockAddr::from(addr), timeout) {
            Ok(()) => "open".into(),
            Err(e) => word(&e),
        });
    }
    let udp: std::net::UdpSocket = sock.into();
    udp.connect(addr).map_err(|e| e.to_string())?;
    udp.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    udp.send(b"lb-reach").map_err(|e| e.to_string())?;
    let mut buf = [0u8; 64];
    Ok(match udp.recv(&mut buf) {
        Ok(_) => "open".into(),
        Err(e) => word(&e),
    })
}
