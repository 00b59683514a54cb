//! Record raw `sock_diag` replies as test fixtures: `record_sock_diag OUT_DIR`.
//! Run it inside a namespace holding the listeners a fixture should contain.

#[cfg(target_os = "linux")]
fn main() -> Result<(), Box<dyn std::error::Error>> {
    use loopback_sys::parse::sock_diag::DumpRequest;
    let dir = std::env::args()
        .nth(1)
        .ok_or("usage: record_sock_diag OUT_DIR")?;
    for req in DumpRequest::ALL {
        let bytes: Vec<u8> = loopback_sys::linux::dump_raw(req)?.concat();
        let suffix = if req.ipv6 { "6" } else { "4" };
        let path = format!("{dir}/sock_diag_{}{suffix}.bin", req.proto);
        std::fs::write(&path, bytes)?;
        println!("{path}");
    }
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn main() {}
