//! One bounded question to a local service over TCP (`SystemView::ask_local_service`), over the
//! same request-and-reply exchange as `probe::http_get`. Plain `std::net`, so every platform
//! shares it.

use std::net::SocketAddr;
use std::time::Duration;

use crate::SysError;

/// The whole exchange's deadline: connecting, sending and reading.
pub const ASK_TIMEOUT: Duration = Duration::from_millis(500);
/// The most bytes read from the answer.
pub const ASK_LIMIT: usize = 4096;

/// Connect, send `request`, and read until `complete` says the answer is whole, the peer
/// closes, [`ASK_LIMIT`] bytes arrive, or [`ASK_TIMEOUT`] passes.
pub(crate) fn exchange(
    addr: SocketAddr,
    request: &[u8],
    complete: fn(&[u8]) -> bool,
) -> Result<Vec<u8>, SysError> {
    let refused = |reason: String| SysError::Refused {
        path: addr.to_string(),
        reason,
    };
    let x = crate::probe::exchange(addr, request, ASK_TIMEOUT, ASK_LIMIT, &complete)
        .map_err(|e| refused(e.to_string()))?;
    if !x.sent {
        return Err(refused("the request could not be sent".into()));
    }
    if x.reply.is_empty() {
        return Err(refused("no answer".into()));
    }
    Ok(x.reply)
}
