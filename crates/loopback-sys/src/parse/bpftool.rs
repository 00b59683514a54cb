//! `bpftool -j cgroup show PATH`: the BPF programs attached to one cgroup, as a JSON array of
//! `{"id", "attach_type", "name", ...}` (empty output when none is attached).

use serde::Deserialize;

use crate::routing::{CgroupProgram, SockAddrHook};

#[derive(Deserialize)]
struct Row {
    id: u32,
    attach_type: String,
    #[serde(default)]
    name: String,
}

/// The programs in `bytes`, attached to `cgroup`; `None` when the bytes are not bpftool's JSON.
pub fn parse_cgroup_show(bytes: &[u8], cgroup: &str) -> Option<Vec<CgroupProgram>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Some(Vec::new());
    }
    let rows: Vec<Row> = serde_json::from_slice(bytes).ok()?;
    Some(
        rows.into_iter()
            .map(|r| CgroupProgram {
                cgroup: cgroup.to_owned(),
                id: r.id,
                hook: SockAddrHook::of(&r.attach_type),
                name: r.name,
                attach_type: r.attach_type,
            })
            .collect(),
    )
}

#[derive(Deserialize)]
struct TreeRow {
    cgroup: String,
    #[serde(default)]
    programs: Vec<Row>,
}

/// `bpftool -j cgroup tree ROOT`: every cgroup below ROOT with programs attached, each path
/// made relative to ROOT (`/` for ROOT itself).
pub fn parse_cgroup_tree(bytes: &[u8], root: &str) -> Option<Vec<CgroupProgram>> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Some(Vec::new());
    }
    let rows: Vec<TreeRow> = serde_json::from_slice(bytes).ok()?;
    let root = root.trim_end_matches('/');
    Some(
        rows.into_iter()
            .flat_map(|t| {
                let rel = t.cgroup.strip_prefix(root).unwrap_or(&t.cgroup).to_owned();
                let rel = if rel.is_empty() { "/".to_owned() } else { rel };
                t.programs.into_iter().map(move |r| CgroupProgram {
                    cgroup: rel.clone(),
                    id: r.id,
                    hook: SockAddrHook::of(&r.attach_type),
                    name: r.name,
                    attach_type: r.attach_type,
                })
            })
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bpftool_json_and_empty_output() {
        // bpftool 7.1 (Debian 12), a connect4 program attached by the suite.
        let out = br#"[{"id":102,"attach_type":"cgroup_inet4_connect","attach_flags":"","name":"lbt_connect4","attach_btf_name":"","attach_btf_obj_id":0,"attach_btf_id":0}]"#;
        let p = parse_cgroup_show(out, "/lbt").expect("parses");
        assert_eq!(
            (p[0].id, p[0].hook, p[0].name.as_str()),
            (102, SockAddrHook::Connect4, "lbt_connect4")
        );
        assert_eq!(parse_cgroup_show(b"\n", "/"), Some(Vec::new()));
        assert_eq!(parse_cgroup_show(b"Error: nope", "/"), None);
    }

    #[test]
    fn bpftool_tree_paths_become_relative() {
        let out = br#"[{"cgroup":"/sys/fs/cgroup/unified/lbt-t2","programs":[{"id":132,"attach_type":"cgroup_inet4_connect","attach_flags":"","name":"lbt_connect4"}]}]"#;
        let p = parse_cgroup_tree(out, "/sys/fs/cgroup/unified/").expect("parses");
        assert_eq!((p[0].cgroup.as_str(), p[0].id), ("/lbt-t2", 132));
    }
}
