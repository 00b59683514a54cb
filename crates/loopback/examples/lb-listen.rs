//! Test helper: open real listeners, print `ready PID [PID…]`, hold them until stdin closes.
//!
//! `lb-listen SPEC… [-- ARGS…]`, where SPEC is `PROTO:ADDR:PORT[,OPTION…]`:
//! - PROTO `tcp` (listen), `udp` (bind) or `udp-client` (send one datagram to ADDR:PORT from an
//!   unbound socket, so the kernel autobinds it);
//! - ADDR an IP address, IPv6 in brackets (`tcp:[::]:80`);
//! - OPTION `v6only=0|1`, `dev=NAME` (SO_BINDTODEVICE), `shared` (also held by a child process:
//!   a pre-forked server), `netns=FILE` (open the socket in the network namespace bind-mounted
//!   at FILE, from a thread that entered it: the process itself stays where it is), `echo`
//!   (UDP: send every datagram back to its sender, so a peer can tell it arrived), `http`
//!   (TCP: answer every request with `200 OK` and, as the body, the address the client
//!   reached, so a client can tell which of two servers it met; `tag=NAME` answers NAME
//!   instead), `transparent` (IP_TRANSPARENT: a TPROXY rule may hand it connections for other
//!   addresses, Linux only), `reuseaddr=0` (do not set
//!   SO_REUSEADDR, which is set otherwise on Unix), `reuseport` (SO_REUSEPORT), `nolisten`
//!   (TCP: bind and never listen), `timewait` (TCP: listen, connect to itself, close the
//!   accepted side first and then everything, which leaves ADDR:PORT in TIME_WAIT held by the
//!   kernel and nothing held by the process).
//!
//! Two more arguments act on the process once its sockets are open: `chroot=DIR` (change root
//! to DIR, as a container's process has its own root) and `user=UID:GID` (drop to that user and
//! group, no supplementary groups), in that order.
//!
//! On Windows (the suite runs it under Wine) only PROTO:ADDR:PORT with `v6only`, `echo` and
//! `http` work; the rest are Unix process and namespace operations.
//!
//! Arguments after `--` are ignored; tests put fake secrets, hostile text and configuration
//! flags there.

use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

fn main() {
    if let Err(e) = run() {
        eprintln!("lb-listen: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|a| a.to_string_lossy().into_owned())
        .take_while(|a| a != "--")
        .collect();
    let mut held = Vec::new();
    let mut shared = Vec::new();
    let mut chroot = None;
    let mut user = None;
    for spec in &args {
        if let Some(dir) = spec.strip_prefix("chroot=") {
            chroot = Some(dir.to_owned());
            continue;
        }
        if let Some(ids) = spec.strip_prefix("user=") {
            user = Some(ids.to_owned());
            continue;
        }
        let (sock, share) = open(spec).map_err(|e| format!("{spec}: {e}"))?;
        if share {
            inherit(&sock).map_err(|e| format!("{spec}: {e}"))?;
            shared.push(spec.clone());
        }
        held.push(sock);
    }
    become_(chroot, user)?;
    hold(held, shared)
}

/// Change root and drop to the user, in that order, once the sockets are open.
#[cfg(unix)]
fn become_(chroot: Option<String>, user: Option<String>) -> Result<(), String> {
    if let Some(dir) = chroot {
        nix::unistd::chroot(dir.as_str()).map_err(|e| format!("chroot {dir}: {e}"))?;
        std::env::set_current_dir("/").map_err(|e| format!("chdir /: {e}"))?;
    }
    if let Some(ids) = user {
        let (uid, gid) = ids.split_once(':').ok_or("user=UID:GID")?;
        let uid: u32 = uid.parse().map_err(|_| "bad uid")?;
        let gid: u32 = gid.parse().map_err(|_| "bad gid")?;
        nix::unistd::setgroups(&[]).map_err(|e| format!("setgroups: {e}"))?;
        nix::unistd::setgid(gid.into()).map_err(|e| format!("setgid: {e}"))?;
        nix::unistd::setuid(uid.into()).map_err(|e| format!("setuid: {e}"))?;
    }
    Ok(())
}

#[cfg(not(unix))]
fn become_(chroot: Option<String>, user: Option<String>) -> Result<(), String> {
    if chroot.is_some() || user.is_some() {
        return Err("chroot= and user= are Unix only".into());
    }
    Ok(())
}

/// Let a child process inherit the socket.
#[cfg(unix)]
fn inherit(sock: &Socket) -> Result<(), String> {
    sock.set_cloexec(false).map_err(|e| e.to_string())
}

#[cfg(not(unix))]
fn inherit(_: &Socket) -> Result<(), String> {
    Err("shared is Unix only".into())
}

/// Enter the namespace at `file` on this thread.
#[cfg(target_os = "linux")]
fn enter(file: &str) -> Result<(), String> {
    let ns = std::fs::File::open(file).map_err(|e| format!("{file}: {e}"))?;
    nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| format!("setns {file}: {e}"))
}

#[cfg(not(target_os = "linux"))]
fn enter(_: &str) -> Result<(), String> {
    Err("netns= is Linux only".into())
}

#[cfg(target_os = "linux")]
fn bind_device(sock: &Socket, dev: &str) -> Result<(), String> {
    sock.bind_device(Some(dev.as_bytes()))
        .map_err(|e| e.to_string())
}

#[cfg(not(target_os = "linux"))]
fn bind_device(_: &Socket, _: &str) -> Result<(), String> {
    Err("dev= is Linux only".into())
}

fn hold(held: Vec<Socket>, shared: Vec<String>) -> Result<(), String> {
    let mut pids = vec![std::process::id()];
    let mut child = None;
    if !shared.is_empty() {
        // `cat` inherits the non-CLOEXEC sockets and our stdin: it holds them until EOF.
        let c = Command::new("cat")
            .stdin(Stdio::inherit())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("spawning the sharing child: {e}"))?;
        pids.push(c.id());
        child = Some(c);
    }
    let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
    println!("ready {}", pids.join(" "));
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    if let Some(mut c) = child {
        let _ = c.wait();
    }
    drop(held);
    Ok(())
}

fn open(spec: &str) -> Result<(Socket, bool), String> {
    let Some((rest, file)) = spec.split_once(",netns=") else {
        return open_here(spec);
    };
    let (file, more) = match file.split_once(',') {
        Some((f, m)) => (f.to_owned(), format!(",{m}")),
        None => (file.to_owned(), String::new()),
    };
    let spec = format!("{rest}{more}");
    std::thread::spawn(move || {
        enter(&file)?;
        open_here(&spec)
    })
    .join()
    .map_err(|_| "the namespace thread panicked".to_owned())?
}

fn open_here(spec: &str) -> Result<(Socket, bool), String> {
    let mut parts = spec.split(',');
    let main = parts.next().ok_or("empty spec")?;
    let (proto, rest) = main.split_once(':').ok_or("expected PROTO:ADDR:PORT")?;
    let addr: SocketAddr = rest.parse().map_err(|e| format!("{rest}: {e}"))?;
    let (ty, protocol) = match proto {
        "tcp" => (Type::STREAM, Protocol::TCP),
        "udp" | "udp-client" => (Type::DGRAM, Protocol::UDP),
        other => return Err(format!("unknown protocol {other}")),
    };
    let sock =
        Socket::new(Domain::for_address(addr), ty, Some(protocol)).map_err(|e| e.to_string())?;
    let mut share = false;
    let mut echo = false;
    let mut http = false;
    let mut reuseaddr = cfg!(unix);
    let mut listen = proto == "tcp";
    let mut timewait = false;
    let mut tag: Option<String> = None;
    for opt in parts {
        match opt.split_once('=') {
            Some(("v6only", v)) => sock.set_only_v6(v == "1").map_err(|e| e.to_string())?,
            Some(("dev", d)) => bind_device(&sock, d)?,
            None if opt == "shared" => share = true,
            None if opt == "echo" => echo = true,
            None if opt == "http" => http = true,
            Some(("reuseaddr", v)) => reuseaddr = v == "1",
            #[cfg(unix)]
            None if opt == "reuseport" => sock.set_reuse_port(true).map_err(|e| e.to_string())?,
            None if opt == "nolisten" => listen = false,
            #[cfg(target_os = "linux")]
            None if opt == "transparent" => sock
                .set_ip_transparent_v4(true)
                .map_err(|e| e.to_string())?,
            None if opt == "timewait" => timewait = true,
            Some(("tag", t)) => tag = Some(t.to_owned()),
            _ => return Err(format!("unknown option {opt}")),
        }
    }
    if proto == "udp-client" {
        sock.send_to(b"x", &SockAddr::from(addr))
            .map_err(|e| e.to_string())?;
        return Ok((sock, share));
    }
    // On Windows SO_REUSEADDR lets another socket take the port over: not what a server sets.
    if reuseaddr {
        sock.set_reuse_address(true).map_err(|e| e.to_string())?;
    }
    sock.bind(&SockAddr::from(addr))
        .map_err(|e| e.to_string())?;
    if listen {
        sock.listen(16).map_err(|e| e.to_string())?;
    }
    if timewait && proto == "tcp" {
        return leave_time_wait(sock, addr).map(|s| (s, share));
    }
    if echo && proto == "udp" {
        let twin: std::net::UdpSocket = sock.try_clone().map_err(|e| e.to_string())?.into();
        std::thread::spawn(move || {
            let mut buf = [0u8; 2048];
            while let Ok((n, from)) = twin.recv_from(&mut buf) {
                let _ = twin.send_to(&buf[..n], from);
            }
        });
    }
    if http && proto == "tcp" {
        let twin: std::net::TcpListener = sock.try_clone().map_err(|e| e.to_string())?.into();
        std::thread::spawn(move || {
            for conn in twin.incoming().flatten() {
                let tag = tag.clone();
                std::thread::spawn(move || answer(conn, tag));
            }
        });
    }
    Ok((sock, share))
}

/// Connect to the listener `sock`, close the accepted side first (so that side, on ADDR:PORT,
/// goes to TIME_WAIT), then the client once it has read the end, then the listener. Returns an
/// unbound socket to hold in place of the listener.
fn leave_time_wait(sock: Socket, addr: SocketAddr) -> Result<Socket, String> {
    let listener: std::net::TcpListener = sock.into();
    let mut client = std::net::TcpStream::connect(addr).map_err(|e| format!("connect: {e}"))?;
    let (accepted, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    drop(accepted);
    let mut rest = Vec::new();
    client
        .read_to_end(&mut rest)
        .map_err(|e| format!("reading the end: {e}"))?;
    drop(client);
    drop(listener);
    Socket::new(Domain::for_address(addr), Type::STREAM, None).map_err(|e| e.to_string())
}

/// Read one request head and answer it with the local address as the body.
fn answer(mut conn: std::net::TcpStream, tag: Option<String>) {
    use std::io::Write;
    let _ = conn.set_read_timeout(Some(std::time::Duration::from_secs(5)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match conn.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let body = tag.unwrap_or_else(|| {
        conn.local_addr()
            .map(|a| a.ip().to_string())
            .unwrap_or_default()
    });
    let _ = write!(
        conn,
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}
