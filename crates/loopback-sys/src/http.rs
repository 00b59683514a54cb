//! One HTTP request to a local server and what came back, over plain TCP or TLS, all before
//! one deadline (`SystemView::http_exchange`, for `audit --http`). Plain `std::net` and
//! rustls, so every platform shares it.
//!
//! Every read and write is given what is left of the deadline (a `DeadlineStream`), so a
//! server that never answers, or trickles a byte at a time, costs the deadline and no more,
//! through the TLS handshake too. The certificate is not checked: the exchange only observes
//! how the server answers (no cookie, body or credential is ever sent), so there is nothing for
//! a man in the middle to learn, and a local server's certificate is rarely one a public root
//! signed.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// The most bytes kept of an answer.
pub const HTTP_LIMIT: usize = 64 << 10;

/// What one request got.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpExchange {
    /// Why the connection failed; `None` once connected.
    pub connect_error: Option<String>,
    /// Over TLS: the handshake's outcome, the protocol version (`TLSv1.3`) or why it failed.
    pub tls: Option<Result<String, String>>,
    /// Whether the whole request was written.
    pub sent: bool,
    /// What came back, at most [`HTTP_LIMIT`] bytes.
    pub reply: Vec<u8>,
    /// Whether the server closed (or reset) the connection.
    pub closed: bool,
    /// Whether the deadline passed before the answer was whole.
    pub timed_out: bool,
}

/// A TCP stream whose every read and write waits at most until `deadline`.
struct DeadlineStream {
    stream: TcpStream,
    deadline: Instant,
}

impl DeadlineStream {
    fn left(&self) -> std::io::Result<Duration> {
        self.deadline
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
            .ok_or_else(|| ErrorKind::TimedOut.into())
    }
}

impl Read for DeadlineStream {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.stream.set_read_timeout(Some(self.left()?))?;
        self.stream.read(buf)
    }
}

impl Write for DeadlineStream {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.stream.set_write_timeout(Some(self.left()?))?;
        self.stream.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.stream.flush()
    }
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::TimedOut | ErrorKind::WouldBlock)
}

fn is_close(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset
            | ErrorKind::ConnectionAborted
            | ErrorKind::BrokenPipe
            | ErrorKind::UnexpectedEof
    )
}

/// Connect to `addr` (over TLS when `tls`), send `request`, and read until `complete` says the
/// answer is whole, the server closes, `limit` bytes arrived, or `timeout` (for the whole
/// exchange) passes. Never fails: what went wrong is in the result.
pub fn exchange(
    addr: SocketAddr,
    request: &[u8],
    tls: bool,
    timeout: Duration,
    limit: usize,
    complete: fn(&[u8]) -> bool,
) -> HttpExchange {
    let deadline = Instant::now() + timeout;
    let mut done = HttpExchange::default();
    let stream = match TcpStream::connect_timeout(&addr, timeout) {
        Ok(s) => s,
        Err(e) => {
            done.timed_out = is_timeout(&e);
            done.connect_error = Some(e.to_string());
            return done;
        }
    };
    let mut sock = DeadlineStream { stream, deadline };
    if !tls {
        talk(&mut sock, request, limit, complete, &mut done);
        return done;
    }
    let config = match client_config() {
        Ok(c) => c,
        Err(why) => {
            done.tls = Some(Err(why));
            return done;
        }
    };
    let name = rustls::pki_types::ServerName::IpAddress(addr.ip().into());
    let mut conn = match rustls::ClientConnection::new(config, name) {
        Ok(c) => c,
        Err(e) => {
            done.tls = Some(Err(e.to_string()));
            return done;
        }
    };
    while conn.is_handshaking() {
        if let Err(e) = conn.complete_io(&mut sock) {
            done.timed_out = is_timeout(&e);
            done.closed = is_close(&e);
            done.tls = Some(Err(if done.timed_out {
                "no answer to the handshake within the deadline".to_owned()
            } else {
                e.to_string()
            }));
            return done;
        }
    }
    let version = conn
        .protocol_version()
        .and_then(|v| v.as_str())
        .unwrap_or("TLS");
    done.tls = Some(Ok(version.replace('_', ".")));
    let mut stream = rustls::Stream::new(&mut conn, &mut sock);
    talk(&mut stream, request, limit, complete, &mut done);
    done
}

/// Write the request, then read the answer into `done`.
fn talk(
    stream: &mut dyn ReadWrite,
    request: &[u8],
    limit: usize,
    complete: fn(&[u8]) -> bool,
    done: &mut HttpExchange,
) {
    match stream.write_all(request).and_then(|()| stream.flush()) {
        Ok(()) => done.sent = true,
        Err(e) => {
            done.timed_out = is_timeout(&e);
            done.closed = is_close(&e);
            return;
        }
    }
    let mut chunk = [0u8; 4096];
    while !complete(&done.reply) && done.reply.len() < limit {
        match stream.read(&mut chunk) {
            Ok(0) => {
                done.closed = true;
                return;
            }
            Ok(n) => {
                let room = limit - done.reply.len();
                done.reply.extend_from_slice(&chunk[..n.min(room)]);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if is_timeout(&e) => {
                done.timed_out = true;
                return;
            }
            // A reset, an end without TLS's close_notify, or a TLS error: judge what came.
            Err(_) => {
                done.closed = true;
                return;
            }
        }
    }
}

trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

/// The client configuration, made once: graviola's provider, HTTP/1.1 by ALPN, and no
/// certificate check. Graviola needs CPU features every x86_64 processor since about 2013 has
/// (and it stops the process without them), so they are checked first.
fn client_config() -> Result<Arc<rustls::ClientConfig>, String> {
    static CONFIG: OnceLock<Result<Arc<rustls::ClientConfig>, String>> = OnceLock::new();
    CONFIG
        .get_or_init(|| {
            cpu_supported()?;
            let provider = Arc::new(rustls_graviola::default_provider());
            let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Unchecked(provider)))
                .with_no_client_auth();
            config.alpn_protocols = vec![b"http/1.1".to_vec()];
            config.enable_sni = false;
            Ok(Arc::new(config))
        })
        .clone()
}

/// The CPU features graviola's x86_64 and aarch64 code needs (its documented requirements).
fn cpu_supported() -> Result<(), String> {
    #[cfg(target_arch = "x86_64")]
    {
        let ok = std::arch::is_x86_feature_detected!("aes")
            && std::arch::is_x86_feature_detected!("pclmulqdq")
            && std::arch::is_x86_feature_detected!("bmi1")
            && std::arch::is_x86_feature_detected!("adx")
            && std::arch::is_x86_feature_detected!("avx")
            && std::arch::is_x86_feature_detected!("avx2");
        if ok {
            Ok(())
        } else {
            Err("TLS not tried: this CPU lacks a feature the TLS library needs (aes, pclmulqdq, bmi1, adx, avx, avx2)".into())
        }
    }
    #[cfg(target_arch = "aarch64")]
    {
        let ok = std::arch::is_aarch64_feature_detected!("aes")
            && std::arch::is_aarch64_feature_detected!("sha2")
            && std::arch::is_aarch64_feature_detected!("pmull")
            && std::arch::is_aarch64_feature_detected!("neon");
        if ok {
            Ok(())
        } else {
            Err("TLS not tried: this CPU lacks a feature the TLS library needs (aes, sha2, pmull, neon)".into())
        }
    }
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    {
        Err("TLS not tried: the TLS library supports x86_64 and aarch64 only".into())
    }
}

/// Accepts every certificate and signature: see the module's documentation for why.
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &rustls::pki_types::CertificateDer<'_>,
        _dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        Ok(rustls::client::danger::HandshakeSignatureValid::assertion())
    }
    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn whole(b: &[u8]) -> bool {
        b.windows(4).any(|w| w == b"\r\n\r\n")
    }

    #[test]
    fn a_plain_answer_is_read_until_its_head_is_whole() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let mut buf = [0u8; 1024];
            let n = s.read(&mut buf).expect("read");
            s.write_all(b"HTTP/1.1 204 No Content\r\nX: y\r\n\r\n")
                .expect("write");
            // Keep the connection open: reading must stop at the head, not wait for a close.
            let _ = s.read(&mut buf);
            buf[..n].to_vec()
        });
        let x = exchange(
            addr,
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
            false,
            Duration::from_secs(30),
            HTTP_LIMIT,
            whole,
        );
        assert!(x.sent && !x.timed_out && x.tls.is_none(), "{x:?}");
        assert_eq!(x.reply, b"HTTP/1.1 204 No Content\r\nX: y\r\n\r\n");
        drop(x);
        assert_eq!(
            server.join().expect("server"),
            b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"
        );
    }

    #[test]
    fn a_closed_port_is_a_connect_error() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        drop(l);
        let x = exchange(addr, b"x", false, Duration::from_secs(5), 10, whole);
        assert!(x.connect_error.is_some() && !x.sent, "{x:?}");
    }

    #[test]
    fn tls_to_a_plain_server_fails_the_handshake() {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = l.local_addr().expect("addr");
        let server = std::thread::spawn(move || {
            let (mut s, _) = l.accept().expect("accept");
            let mut buf = [0u8; 1024];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n");
        });
        let x = exchange(addr, b"x", true, Duration::from_secs(30), 10, whole);
        server.join().expect("server");
        assert!(matches!(x.tls, Some(Err(_))), "{x:?}");
        assert!(!x.sent);
    }
}
