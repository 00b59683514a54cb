//! Test helper, the oracle of `loopback bind`'s tests: make one bind as a server would, close
//! it, and print what the kernel said.
//!
//! `lb-bind PROTO ADDR:PORT [reuseaddr] [reuseport] [v6only]` prints `ok`, or the error's
//! name as `nix` spells it (`EADDRINUSE`), and exits 0 either way (2 on bad arguments). Written
//! apart from `loopback`'s own bind, so that the two can disagree.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(word) => println!("{word}"),
        Err(e) => {
            eprintln!("lb-bind: {e}");
            std::process::exit(2);
        }
    }
}

fn run(args: &[String]) -> Result<String, String> {
    let [proto, addr, opts @ ..] = args else {
        return Err("usage: lb-bind PROTO ADDR:PORT [reuseaddr] [reuseport] [v6only]".into());
    };
    let addr: SocketAddr = addr.parse().map_err(|e| format!("{addr}: {e}"))?;
    let (ty, p) = match proto.as_str() {
        "tcp" => (Type::STREAM, Protocol::TCP),
        "udp" => (Type::DGRAM, Protocol::UDP),
        other => return Err(format!("unknown protocol {other}")),
    };
    let name = |e: std::io::Error| -> String {
        match e.raw_os_error() {
            #[cfg(unix)]
            Some(n) => format!("{:?}", nix::errno::Errno::from_raw(n)),
            #[cfg(not(unix))]
            Some(n) => format!("error {n}"),
            None => e.to_string(),
        }
    };
    let sock = match Socket::new(Domain::for_address(addr), ty, Some(p)) {
        Ok(s) => s,
        Err(e) => return Ok(name(e)),
    };
    for o in opts {
        let set = match o.as_str() {
            "reuseaddr" => sock.set_reuse_address(true),
            #[cfg(unix)]
            "reuseport" => sock.set_reuse_port(true),
            "v6only" => sock.set_only_v6(true),
            other => return Err(format!("unknown option {other}")),
        };
        set.map_err(|e| format!("{o}: {e}"))?;
    }
    Ok(match sock.bind(&SockAddr::from(addr)) {
        Ok(()) => "ok".to_owned(),
        Err(e) => name(e),
    })
}
