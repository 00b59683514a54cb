//! What every netlink exchange here shares: a request serialized with its flags and sequence
//! number, and the replies of one `recv` cut into messages (each at least a header long, none
//! past the buffer, 4-byte aligned). The messages themselves are decoded by their callers.

use netlink_packet_core::{NetlinkHeader, NetlinkMessage, NetlinkPayload, NetlinkSerializable};

use super::sock_diag::DumpError;

/// The length of a netlink message header.
const HEADER_LEN: usize = 16;

/// `inner` as a request with `flags` and sequence number `seq`, serialized.
pub fn request<I>(inner: I, flags: u16, seq: u32) -> Vec<u8>
where
    I: NetlinkSerializable + Into<NetlinkPayload<I>>,
{
    let mut header = NetlinkHeader::default();
    header.flags = flags;
    header.sequence_number = seq;
    let mut packet = NetlinkMessage::new(header, inner.into());
    packet.finalize();
    let mut buf = vec![0; packet.buffer_len()];
    packet.serialize(&mut buf);
    buf
}

/// The messages in `buf`, one `recv` of replies, each as its bytes; lazy, so a reader may stop
/// at `NLMSG_DONE`. A message whose length is shorter than its header or runs past the buffer
/// ends the walk with an error naming its offset; bytes too few for a header are ignored.
pub fn frames(buf: &[u8]) -> impl Iterator<Item = Result<&[u8], DumpError>> {
    let mut offset = 0;
    std::iter::from_fn(move || {
        if offset + HEADER_LEN > buf.len() {
            return None;
        }
        let rest = &buf[offset..];
        let len = u32::from_ne_bytes([rest[0], rest[1], rest[2], rest[3]]) as usize;
        if len < HEADER_LEN || len > rest.len() {
            let e = DumpError::Decode(format!(
                "message at byte {offset} claims length {len} of {} remaining",
                rest.len()
            ));
            // Nothing after a broken length can be framed.
            offset = buf.len();
            return Some(Err(e));
        }
        offset += (len + 3) & !3;
        Some(Ok(&rest[..len]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(len: u32, body: usize) -> Vec<u8> {
        let mut m = len.to_ne_bytes().to_vec();
        m.resize(HEADER_LEN + body, 0);
        m
    }

    #[test]
    fn frames_are_aligned_and_checked() {
        let mut buf = msg(18, 2);
        buf.extend([0, 0]); // padding to 20
        buf.extend(msg(16, 0));
        let got: Vec<usize> = frames(&buf)
            .map(|f| f.map(<[u8]>::len))
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(got, [18, 16]);
        let bad = msg(4, 0);
        let all: Vec<_> = frames(&bad).collect();
        assert_eq!(all.len(), 1);
        assert!(all[0].is_err());
        assert_eq!(frames(&[0u8; 8]).count(), 0);
        let past = msg(64, 0);
        assert!(frames(&past).next().is_some_and(|r| r.is_err()));
    }
}
