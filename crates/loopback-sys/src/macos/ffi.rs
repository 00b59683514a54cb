//! The calls into macOS through the `libproc` crate whose results need `unsafe` to read: a
//! socket descriptor's record is a C union whose valid member `soi_kind` names. The only module
//! of the macOS backend with `unsafe` code; it copies what it reads into owned data.

#![allow(unsafe_code)]

use libproc::libproc::file_info::{pidfdinfo, ListFDs, ProcFDType};
use libproc::libproc::net_info::{SocketFDInfo, SocketInfoKind};
use libproc::libproc::proc_pid::listpidinfo;

use crate::facts::macos::SocketRecord;

/// The Internet socket descriptors of `pid`, with the number of descriptors whose record could
/// not be read (the process exited, or this user may not inspect it).
pub(crate) fn socket_records(pid: i32) -> Result<Vec<SocketRecord>, String> {
    let fds = listpidinfo::<ListFDs>(pid, 16384)?;
    let mut out = Vec::new();
    for fd in fds {
        if fd.proc_fdtype != ProcFDType::Socket as u32 {
            continue;
        }
        let Ok(info) = pidfdinfo::<SocketFDInfo>(pid, fd.proc_fd) else {
            continue;
        };
        let psi = &info.psi;
        let tcp = match SocketInfoKind::from(psi.soi_kind) {
            SocketInfoKind::Tcp => true,
            SocketInfoKind::In => false,
            _ => continue,
        };
        // SAFETY: `soi_kind` is SOCKINFO_TCP, so the kernel filled `pri_tcp` (whose first
        // member is the `in_sockinfo`), or SOCKINFO_IN, so it filled `pri_in`; every member
        // of these unions is plain data valid for any bit pattern.
        let (ini, state) = unsafe {
            if tcp {
                (
                    psi.soi_proto.pri_tcp.tcpsi_ini,
                    psi.soi_proto.pri_tcp.tcpsi_state,
                )
            } else {
                (psi.soi_proto.pri_in, 0)
            }
        };
        // SAFETY: both members of the address union are plain bytes of the same storage.
        let (laddr4, laddr6, faddr4, faddr6) = unsafe {
            (
                ini.insi_laddr.ina_46.i46a_addr4.s_addr.to_ne_bytes(),
                ini.insi_laddr.ina_6.s6_addr,
                ini.insi_faddr.ina_46.i46a_addr4.s_addr.to_ne_bytes(),
                ini.insi_faddr.ina_6.s6_addr,
            )
        };
        out.push(SocketRecord {
            so: psi.soi_so,
            tcp,
            protocol: psi.soi_protocol,
            vflag: ini.insi_vflag,
            flags: ini.insi_flags,
            lport: ini.insi_lport,
            fport: ini.insi_fport,
            laddr4,
            laddr6,
            faddr4,
            faddr6,
            tcp_state: state,
            uid: psi.soi_stat.vst_uid,
        });
    }
    Ok(out)
}
