//! Who a process or a namespace is: the systemd unit and the container named by a control
//! group path, and the container's name from its runtime's own metadata files.
//!
//! The runtimes are recognised from the cgroup path each one creates (with systemd's driver and
//! with the plain cgroupfs driver). Names come from files the runtime keeps on this host, read
//! bounded through [`SystemView::read_file`]:
//!
//! | runtime | cgroup | name from |
//! |---|---|---|
//! | Docker | `docker-ID.scope`, `/docker/ID` | `DATA_ROOT/containers/ID/config.v2.json` `Name` |
//! | Podman | `libpod-ID.scope`, `/libpod_parent/libpod-ID` | `/var/lib/containers/storage/overlay-containers/containers.json` |
//! | Kubernetes (containerd) | `…pod UID…/cri-containerd-ID.scope` | the task's OCI `config.json` CRI annotations |
//! | Kubernetes (CRI-O) | `…/crio-ID.scope` | `userdata/config.json` annotations |
//! | containerd (nerdctl) | `nerdctl-ID.scope`, `/default/ID` | the task's `config.json` `nerdctl/name` |
//! | LXC | `/lxc.payload.NAME`, `/lxc/NAME` | the path itself |
//!
//! Why files and not the runtimes' APIs (`bollard` for Docker's and Podman's): the API needs
//! the daemon to answer, and a hung or hostile daemon must not hang an audit run as root; it
//! would also bring an async runtime and an HTTP stack into a tool that otherwise has neither,
//! to read the same fields these files hold. Only Docker is tested against the real runtime
//! (`tests/it/containers.rs`); the other layouts are tested on recorded paths and files.

use std::path::Path;

use loopback_model::{Container, Runtime};
use loopback_sys::SystemView;
use serde_json::Value;

/// The systemd unit a cgroup path names: its last `.service` or `.scope` component.
pub fn systemd_unit(cgroup: &str) -> Option<&str> {
    cgroup
        .rsplit('/')
        .find(|c| c.ends_with(".service") || c.ends_with(".scope"))
        .filter(|c| !c.is_empty() && container_of(cgroup).is_none())
}

fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The runtime and id of the container a cgroup path belongs to, from the path alone.
pub fn container_of(cgroup: &str) -> Option<(Runtime, String)> {
    let parts: Vec<&str> = cgroup.split('/').filter(|p| !p.is_empty()).collect();
    let in_pod = parts.iter().any(|p| p.starts_with("kubepods"));
    for (i, part) in parts.iter().enumerate().rev() {
        let scoped = |prefix: &str| {
            part.strip_prefix(prefix)
                .and_then(|r| r.strip_suffix(".scope"))
                .filter(|id| is_id(id))
                .map(str::to_owned)
        };
        if let Some(id) = scoped("docker-") {
            return Some((Runtime::Docker, id));
        }
        if let Some(id) = scoped("libpod-") {
            return Some((Runtime::Podman, id));
        }
        if let Some(id) = scoped("cri-containerd-") {
            return Some((Runtime::Kubernetes, id));
        }
        if let Some(id) = scoped("crio-") {
            return Some((
                if in_pod {
                    Runtime::Kubernetes
                } else {
                    Runtime::CriO
                },
                id,
            ));
        }
        if let Some(id) = scoped("nerdctl-") {
            return Some((Runtime::Containerd, id));
        }
        let parent = if i > 0 { parts[i - 1] } else { "" };
        if is_id(part) {
            match parent {
                "docker" => return Some((Runtime::Docker, (*part).to_owned())),
                "default" => return Some((Runtime::Containerd, (*part).to_owned())),
                p if p.starts_with("pod") && in_pod => {
                    return Some((Runtime::Kubernetes, (*part).to_owned()))
                }
                _ => {}
            }
        }
        if let Some(id) = part.strip_prefix("libpod-").filter(|id| is_id(id)) {
            return Some((Runtime::Podman, id.to_owned()));
        }
        if let Some(name) = part.strip_prefix("lxc.payload.") {
            return Some((Runtime::Lxc, name.to_owned()));
        }
        if parent == "lxc" && i == 1 {
            return Some((Runtime::Lxc, (*part).to_owned()));
        }
    }
    None
}

/// The container a cgroup path belongs to, named from its runtime's files where they can be
/// read.
pub fn identify(sys: &dyn SystemView, cgroup: &str) -> Option<Container> {
    let (runtime, id) = container_of(cgroup)?;
    let name = name_of(sys, runtime, &id);
    Some(Container { runtime, id, name })
}

/// The name `runtime` gives container `id`, from the runtime's own files.
pub fn name_of(sys: &dyn SystemView, runtime: Runtime, id: &str) -> Option<String> {
    let id = id.to_owned();
    match runtime {
        Runtime::Docker => docker_name(sys, &id),
        Runtime::Podman => read_json(sys, PODMAN_CONTAINERS).and_then(|v| podman_name(&v, &id)),
        Runtime::Kubernetes | Runtime::Containerd => ["k8s.io", "default"]
            .iter()
            .find_map(|ns| read_json(sys, &format!("{CONTAINERD_TASKS}/{ns}/{id}/config.json")))
            .or_else(|| read_json(sys, &format!("{CRIO_CONTAINERS}/{id}/userdata/config.json")))
            .and_then(|v| oci_name(&v)),
        Runtime::CriO => read_json(sys, &format!("{CRIO_CONTAINERS}/{id}/userdata/config.json"))
            .and_then(|v| oci_name(&v)),
        Runtime::Lxc => Some(id.clone()),
    }
}

const PODMAN_CONTAINERS: &str = "/var/lib/containers/storage/overlay-containers/containers.json";
const CONTAINERD_TASKS: &str = "/run/containerd/io.containerd.runtime.v2.task";
const CRIO_CONTAINERS: &str = "/run/containers/storage/overlay-containers";

fn read_json(sys: &dyn SystemView, path: &str) -> Option<Value> {
    let bytes = sys.read_file(Path::new(path)).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Docker's name from `config.v2.json` (`"Name": "/web"`), under the daemon's `data-root`.
fn docker_name(sys: &dyn SystemView, id: &str) -> Option<String> {
    let root = read_json(sys, "/etc/docker/daemon.json")
        .and_then(|v| v.get("data-root")?.as_str().map(str::to_owned))
        .filter(|r| r.starts_with('/'))
        .unwrap_or_else(|| "/var/lib/docker".to_owned());
    let config = read_json(sys, &format!("{root}/containers/{id}/config.v2.json"))?;
    docker_config_name(&config)
}

/// `Name` from a Docker `config.v2.json`, without its leading `/`.
pub fn docker_config_name(config: &Value) -> Option<String> {
    let name = config.get("Name")?.as_str()?;
    Some(name.trim_start_matches('/').to_owned()).filter(|n| !n.is_empty())
}

/// The first name of container `id` in Podman's `containers.json`.
pub fn podman_name(list: &Value, id: &str) -> Option<String> {
    list.as_array()?
        .iter()
        .find(|c| c.get("id").and_then(Value::as_str) == Some(id))?
        .get("names")?
        .as_array()?
        .first()?
        .as_str()
        .map(str::to_owned)
}

/// The name in an OCI `config.json`'s annotations: Kubernetes' `NAMESPACE/POD/CONTAINER`
/// (`NAMESPACE/POD` for a pod's sandbox, which holds the pod's network namespace), or
/// nerdctl's name.
pub fn oci_name(config: &Value) -> Option<String> {
    let a = config.get("annotations")?;
    let get = |k: &str| a.get(k).and_then(Value::as_str);
    let pod = get("io.kubernetes.cri.sandbox-name").or_else(|| get("io.kubernetes.pod.name"));
    let ns =
        get("io.kubernetes.cri.sandbox-namespace").or_else(|| get("io.kubernetes.pod.namespace"));
    let container =
        get("io.kubernetes.cri.container-name").or_else(|| get("io.kubernetes.container.name"));
    let sandbox =
        get("io.kubernetes.cri.container-type") == Some("sandbox") || container == Some("POD");
    match (ns, pod, container) {
        (Some(ns), Some(pod), Some(c)) if !sandbox => Some(format!("{ns}/{pod}/{c}")),
        (Some(ns), Some(pod), _) => Some(format!("{ns}/{pod}")),
        _ => get("nerdctl/name").map(str::to_owned),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4f1e8a0c9b7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f";

    #[test]
    fn runtimes_from_cgroup_paths() {
        let cases = [
            (format!("/system.slice/docker-{ID}.scope"), Runtime::Docker),
            (format!("/docker/{ID}"), Runtime::Docker),
            (format!("/machine.slice/libpod-{ID}.scope/container"), Runtime::Podman),
            (
                format!("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod1234.slice/cri-containerd-{ID}.scope"),
                Runtime::Kubernetes,
            ),
            (format!("/kubepods/besteffort/pod1234/{ID}"), Runtime::Kubernetes),
            (format!("/kubepods.slice/kubepods-pod1.slice/crio-{ID}.scope"), Runtime::Kubernetes),
            (format!("/system.slice/nerdctl-{ID}.scope"), Runtime::Containerd),
            (format!("/default/{ID}"), Runtime::Containerd),
        ];
        for (path, runtime) in cases {
            assert_eq!(
                container_of(&path),
                Some((runtime, ID.to_owned())),
                "{path}"
            );
            assert_eq!(
                systemd_unit(&path),
                None,
                "a container is not a unit: {path}"
            );
        }
        assert_eq!(
            container_of("/lxc.payload.web/init.scope"),
            Some((Runtime::Lxc, "web".into()))
        );
        assert_eq!(container_of("/system.slice/nginx.service"), None);
        assert_eq!(container_of("/system.slice/docker-short.scope"), None);
        assert_eq!(container_of(&format!("/elsewhere/{ID}")), None);
    }

    #[test]
    fn units_from_cgroup_paths() {
        assert_eq!(
            systemd_unit("/system.slice/nginx.service"),
            Some("nginx.service")
        );
        assert_eq!(
            systemd_unit("/user.slice/user-1000.slice/user@1000.service/app.slice/app-x.scope"),
            Some("app-x.scope")
        );
        assert_eq!(systemd_unit("/init.scope"), Some("init.scope"));
        assert_eq!(systemd_unit("/"), None);
    }

    #[test]
    fn names_from_runtime_files() {
        let docker: Value = serde_json::from_str(r#"{"ID":"x","Name":"/web"}"#).unwrap();
        assert_eq!(docker_config_name(&docker).as_deref(), Some("web"));
        let podman: Value = serde_json::from_str(&format!(
            r#"[{{"id":"other","names":["a"]}},{{"id":"{ID}","names":["db","alias"]}}]"#
        ))
        .unwrap();
        assert_eq!(podman_name(&podman, ID).as_deref(), Some("db"));
        let cri: Value = serde_json::from_str(
            r#"{"annotations":{"io.kubernetes.cri.container-type":"container","io.kubernetes.cri.container-name":"app","io.kubernetes.cri.sandbox-name":"web-7d9","io.kubernetes.cri.sandbox-namespace":"shop"}}"#,
        )
        .unwrap();
        assert_eq!(oci_name(&cri).as_deref(), Some("shop/web-7d9/app"));
        let sandbox: Value = serde_json::from_str(
            r#"{"annotations":{"io.kubernetes.cri.container-type":"sandbox","io.kubernetes.cri.sandbox-name":"web-7d9","io.kubernetes.cri.sandbox-namespace":"shop"}}"#,
        )
        .unwrap();
        assert_eq!(oci_name(&sandbox).as_deref(), Some("shop/web-7d9"));
        let nerdctl: Value =
            serde_json::from_str(r#"{"annotations":{"nerdctl/name":"cache"}}"#).unwrap();
        assert_eq!(oci_name(&nerdctl).as_deref(), Some("cache"));
        assert_eq!(oci_name(&serde_json::json!({})), None);
    }
}
