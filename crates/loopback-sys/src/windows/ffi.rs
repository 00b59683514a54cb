//! Every call into Windows, through Microsoft's `windows-sys` bindings: the only module of the
//! Windows backend with `unsafe` code. Each function copies what the system wrote into owned
//! Rust data (bytes for the socket tables, which `parse::iphlp` reads), so nothing above it
//! holds a handle or a raw pointer.

#![allow(unsafe_code)]

use std::collections::HashMap;

use windows_sys::Win32::Foundation::{
    CloseHandle, ERROR_INSUFFICIENT_BUFFER, HANDLE, INVALID_HANDLE_VALUE, NO_ERROR,
};
use windows_sys::Win32::NetworkManagement::IpHelper::{
    GetExtendedTcpTable, GetExtendedUdpTable, MIB_TCP6ROW_OWNER_PID, MIB_TCPROW_OWNER_PID,
    MIB_UDP6ROW_OWNER_PID, MIB_UDPROW_OWNER_PID, TCP_TABLE_OWNER_PID_ALL,
    TCP_TABLE_OWNER_PID_LISTENER, UDP_TABLE_OWNER_PID,
};
use windows_sys::Win32::Networking::WinSock::{AF_INET, AF_INET6};
use windows_sys::Win32::Security::{
    GetTokenInformation, LookupAccountSidW, TokenUser, SID_NAME_USE, TOKEN_QUERY, TOKEN_USER,
};
use windows_sys::Win32::System::Diagnostics::ToolHelp::{
    CreateToolhelp32Snapshot, Process32FirstW, Process32NextW, PROCESSENTRY32W, TH32CS_SNAPPROCESS,
};
use windows_sys::Win32::System::Registry::{RegGetValueW, HKEY_LOCAL_MACHINE, RRF_RT_REG_DWORD};
use windows_sys::Win32::System::Threading::{
    OpenProcess, OpenProcessToken, PROCESS_QUERY_LIMITED_INFORMATION,
};

use crate::parse::iphlp::{self, Table};

// The byte parser's row sizes are the system's.
const _: () = assert!(std::mem::size_of::<MIB_TCPROW_OWNER_PID>() == iphlp::TCP4_ROW);
const _: () = assert!(std::mem::size_of::<MIB_TCP6ROW_OWNER_PID>() == iphlp::TCP6_ROW);
const _: () = assert!(std::mem::size_of::<MIB_UDPROW_OWNER_PID>() == iphlp::UDP4_ROW);
const _: () = assert!(std::mem::size_of::<MIB_UDP6ROW_OWNER_PID>() == iphlp::UDP6_ROW);

/// One table as the system fills it: listening TCP sockets or bound UDP sockets of a family,
/// each row with its owning pid. Grows the buffer while the table grows between calls.
pub(crate) fn socket_table(table: Table) -> Result<Vec<u8>, String> {
    table_of(table, false)
}

/// A TCP table with every state (`TCP_TABLE_OWNER_PID_ALL`): connections and TIME_WAIT too.
pub(crate) fn whole_tcp_table(table: Table) -> Result<Vec<u8>, String> {
    table_of(table, true)
}

fn table_of(table: Table, all: bool) -> Result<Vec<u8>, String> {
    let class = if all {
        TCP_TABLE_OWNER_PID_ALL
    } else {
        TCP_TABLE_OWNER_PID_LISTENER
    };
    let family = u32::from(if table.is_v6() { AF_INET6 } else { AF_INET });
    // u32 words, so that the rows inside are aligned as the system writes them.
    let mut words: Vec<u32> = vec![0; 1024];
    for _ in 0..8 {
        let mut size = u32::try_from(words.len() * 4).unwrap_or(u32::MAX);
        let ptr = words.as_mut_ptr().cast();
        // SAFETY: `ptr` points to `size` writable bytes owned by `words`, which outlives the
        // call; the system writes at most `size` bytes and sets `size` to what it needs.
        let rc = unsafe {
            match table.proto() {
                loopback_model::Proto::Tcp => {
                    GetExtendedTcpTable(ptr, &mut size, 0, family, class, 0)
                }
                loopback_model::Proto::Udp => {
                    GetExtendedUdpTable(ptr, &mut size, 0, family, UDP_TABLE_OWNER_PID, 0)
                }
            }
        };
        match rc {
            NO_ERROR => {
                let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
                let len = (size as usize).min(bytes.len());
                return Ok(bytes[..len].to_vec());
            }
            ERROR_INSUFFICIENT_BUFFER => {
                // Room for what it asked and a quarter more, for sockets opened meanwhile.
                let need = (size as usize / 4 + 1) * 5 / 4;
                words.resize(need.max(words.len() * 2), 0);
            }
            other => return Err(format!("{table:?} table: error {other}")),
        }
    }
    Err(format!("{table:?} table: kept growing while it was read"))
}

/// Closes a handle when dropped.
struct Owned(HANDLE);

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: the handle was returned open by the system and is closed once, here.
        unsafe {
            CloseHandle(self.0);
        }
    }
}

fn wide_to_string(w: &[u16]) -> String {
    let end = w.iter().position(|c| *c == 0).unwrap_or(w.len());
    String::from_utf16_lossy(&w[..end])
}

fn wide(s: &str) -> Vec<u16> {
    s.encode_utf16().chain(std::iter::once(0)).collect()
}

/// Every process's image name (`node.exe`), by pid, from one Tool Help snapshot; names are
/// given to every user.
pub(crate) fn process_names() -> Result<HashMap<u32, String>, String> {
    // SAFETY: no pointers are passed; the returned handle is checked and owned below.
    let snap = unsafe { CreateToolhelp32Snapshot(TH32CS_SNAPPROCESS, 0) };
    if snap == INVALID_HANDLE_VALUE || snap.is_null() {
        return Err(format!(
            "the process list could not be read: {}",
            std::io::Error::last_os_error()
        ));
    }
    let snap = Owned(snap);
    let mut names = HashMap::new();
    let mut entry = PROCESSENTRY32W {
        dwSize: u32::try_from(std::mem::size_of::<PROCESSENTRY32W>()).unwrap_or(0),
        ..PROCESSENTRY32W::default()
    };
    // SAFETY: `entry` is a properly sized PROCESSENTRY32W with dwSize set, as the API asks.
    let mut ok = unsafe { Process32FirstW(snap.0, &mut entry) } != 0;
    while ok {
        names.insert(entry.th32ProcessID, wide_to_string(&entry.szExeFile));
        // SAFETY: as above.
        ok = unsafe { Process32NextW(snap.0, &mut entry) } != 0;
    }
    Ok(names)
}

/// The account a process runs as (`DOMAIN\user`), when this user may query it.
pub(crate) fn process_user(pid: u32) -> Option<String> {
    // SAFETY: plain values in; the handle is checked and owned below.
    let process = unsafe { OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, 0, pid) };
    if process.is_null() {
        return None;
    }
    let process = Owned(process);
    let mut token: HANDLE = std::ptr::null_mut();
    // SAFETY: `token` is a valid place for the handle the call returns.
    if unsafe { OpenProcessToken(process.0, TOKEN_QUERY, &mut token) } == 0 {
        return None;
    }
    let token = Owned(token);
    let mut buf: Vec<u64> = vec![0; 64];
    let mut len = 0u32;
    let size = u32::try_from(buf.len() * 8).unwrap_or(0);
    // SAFETY: `buf` has `size` writable bytes, 8-aligned as TOKEN_USER needs.
    let ok =
        unsafe { GetTokenInformation(token.0, TokenUser, buf.as_mut_ptr().cast(), size, &mut len) };
    if ok == 0 {
        return None;
    }
    // SAFETY: the call succeeded, so `buf` begins with a TOKEN_USER whose SID points inside
    // `buf`, which lives until the end of this function.
    let sid = unsafe { (*buf.as_ptr().cast::<TOKEN_USER>()).User.Sid };
    let mut name = [0u16; 256];
    let mut domain = [0u16; 256];
    let mut name_len = 256u32;
    let mut domain_len = 256u32;
    let mut kind: SID_NAME_USE = 0;
    // SAFETY: both buffers are 256 wide characters, as their lengths say; `sid` is valid (above).
    let ok = unsafe {
        LookupAccountSidW(
            std::ptr::null(),
            sid,
            name.as_mut_ptr(),
            &mut name_len,
            domain.as_mut_ptr(),
            &mut domain_len,
            &mut kind,
        )
    };
    if ok == 0 {
        return None;
    }
    let (name, domain) = (wide_to_string(&name), wide_to_string(&domain));
    Some(if domain.is_empty() {
        name
    } else {
        format!("{domain}\\{name}")
    })
}

/// A `REG_DWORD` under `HKEY_LOCAL_MACHINE`: `Ok(None)` when the key or value does not exist.
pub(crate) fn registry_dword(key: &str, value: &str) -> Result<Option<u32>, String> {
    let (key_w, value_w) = (wide(key), wide(value));
    let mut data = 0u32;
    let mut size = 4u32;
    // SAFETY: the strings are NUL-terminated and live across the call; `data` has 4 bytes,
    // as `size` says.
    let rc = unsafe {
        RegGetValueW(
            HKEY_LOCAL_MACHINE,
            key_w.as_ptr(),
            value_w.as_ptr(),
            RRF_RT_REG_DWORD,
            std::ptr::null_mut(),
            std::ptr::from_mut(&mut data).cast(),
            &mut size,
        )
    };
    match rc {
        NO_ERROR => Ok(Some(data)),
        2 | 3 => Ok(None), // ERROR_FILE_NOT_FOUND, ERROR_PATH_NOT_FOUND
        5 => Err(format!("HKLM\\{key}\\{value}: access denied")),
        other => Err(format!("HKLM\\{key}\\{value}: error {other}")),
    }
}
