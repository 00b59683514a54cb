//! The closed sets whose names scripts match on: doctor check ids, resolve finding codes and
//! step kinds, probe results and diagnoses, how a service was identified. Each is an enum whose
//! JSON form is the documented string, written once in its `closed_set!` entry.

/// An enum over a closed set of documented names: serde uses the name, `as_str` returns it,
/// `ALL` lists every value, and it shows as and compares with its name.
macro_rules! closed_set {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $text:literal,)+ }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $text)] $variant,)+
        }

        impl $name {
            /// Every value, in documentation order.
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The documented name.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl PartialEq<&str> for $name {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }

        impl PartialEq<str> for $name {
            fn eq(&self, other: &str) -> bool {
                self.as_str() == other
            }
        }
    };
}

pub(crate) use closed_set;

closed_set! {
    /// A `doctor` check (`docs/json.md`, README).
    CheckId {
        /// The loopback interface exists and is up.
        LoopbackInterface = "loopback.interface",
        /// 127.0.0.1 is assigned.
        LoopbackIpv4Address = "loopback.ipv4-address",
        /// ::1 is assigned (or IPv6 is off).
        LoopbackIpv6Address = "loopback.ipv6-address",
        /// 127.0.0.1 answers ICMP echo.
        LoopbackIpv4Echo = "loopback.ipv4-echo",
        /// ::1 answers ICMPv6 echo.
        LoopbackIpv6Echo = "loopback.ipv6-echo",
        /// A TCP round trip on 127.0.0.1.
        LoopbackIpv4Tcp = "loopback.ipv4-tcp",
        /// A TCP round trip on ::1.
        LoopbackIpv6Tcp = "loopback.ipv6-tcp",
        /// A UDP round trip on 127.0.0.1.
        LoopbackIpv4Udp = "loopback.ipv4-udp",
        /// A UDP round trip on ::1.
        LoopbackIpv6Udp = "loopback.ipv6-udp",
        /// No packet filter interferes with loopback traffic.
        LoopbackFirewall = "loopback.firewall",
        /// No NAT rule or policy route sends traffic for loopback addresses elsewhere.
        LoopbackInterception = "loopback.interception",
        /// `route_localnet` is off on every other interface.
        LoopbackRouteLocalnet = "loopback.route-localnet",
        /// The hosts file maps localhost to loopback.
        LocalhostHostsFile = "localhost.hosts-file",
        /// `localhost` resolves to loopback addresses only.
        LocalhostResolvesLoopback = "localhost.resolves-loopback",
        /// A non-loopback interface is up with an address.
        NetworkInterface = "network.interface",
        /// A default route exists.
        NetworkDefaultRoute = "network.default-route",
        /// `--reach`: the host resolves.
        ReachResolve = "reach.resolve",
        /// `--reach`: it answers ICMP echo.
        ReachEcho = "reach.echo",
        /// `--reach HOST:PORT`: it accepts TCP.
        ReachTcp = "reach.tcp",
    }
}

closed_set! {
    /// A `resolve` finding (README's table).
    FindingCode {
        /// The name does not resolve.
        Unresolved = "unresolved",
        /// The hosts file has no localhost line.
        LocalhostMissing = "localhost-missing",
        /// The hosts file maps localhost elsewhere.
        LocalhostNotLoopback = "localhost-not-loopback",
        /// IPv6 is on but there is no `::1 localhost` line.
        LocalhostNoIpv6 = "localhost-no-ipv6",
        /// `::1` is listed only under another name.
        Ipv6LocalhostAliasOnly = "ipv6-localhost-alias-only",
        /// A `*.localhost` name does not resolve to loopback here.
        DotLocalhost = "dot-localhost",
        /// The C library disagrees with the model.
        ModelDiffers = "model-differs",
        /// The answer comes from a source the model does not cover.
        ModelIncomplete = "model-incomplete",
        /// The first address is not the one the service on the port listens on.
        FirstAddressMismatch = "first-address-mismatch",
    }
}

closed_set! {
    /// One step of `resolve`'s explanation.
    StepKind {
        /// The `hosts:` line of `nsswitch.conf`.
        Nsswitch = "nsswitch",
        /// `gai.conf` replaces built-in tables.
        GaiConf = "gai.conf",
        /// What `AI_ADDRCONFIG` does here.
        Addrconfig = "addrconfig",
        /// What one source answers.
        Source = "source",
        /// One matching hosts-file line.
        HostsLine = "hosts-line",
        /// The source address of one destination.
        SourceAddress = "source-address",
        /// One decision of the RFC 6724 sort.
        Sort = "sort",
        /// The answer.
        Result = "result",
    }
}

closed_set! {
    /// How a service was identified.
    IdentifiedBy {
        /// From its process: name, `argv[0]` or interpreter arguments.
        Process = "process",
        /// From a well-known port only: a guess.
        Port = "port",
    }
}

closed_set! {
    /// What happened to one `probe` attempt.
    AttemptResult {
        /// The connection was accepted (and, with `--http`, an HTTP status line came back).
        Connected = "connected",
        /// Reset or ICMP port-unreachable.
        Refused = "refused",
        /// No answer before the deadline.
        Timeout = "timeout",
        /// No route, or a local packet filter rejected it.
        Unreachable = "unreachable",
        /// Any other error.
        Error = "error",
        /// `--http`: connected, but no reply before the deadline or the server's close.
        NoResponse = "no-response",
        /// `--http`: the reply is not an HTTP status line.
        NotHttp = "not-http",
    }
}

closed_set! {
    /// `probe`'s conclusion (`docs/json.md`).
    DiagnosisCode {
        /// Every address accepts.
        Ok = "ok",
        /// Some addresses accept and others do not.
        Mismatch = "mismatch",
        /// Every address refuses.
        Refused = "refused",
        /// Packets are dropped.
        Filtered = "filtered",
        /// The name does not resolve.
        Unresolved = "unresolved",
        /// `--http`: no reply came.
        NoResponse = "no-response",
        /// `--http`: the reply is not HTTP.
        NotHttp = "not-http",
        /// A listener accepts the address, but a packet-filter rule resets or rejects the
        /// connection (named in `rules`).
        Rejected = "rejected",
        /// The loopback interface is down.
        LoopbackDown = "loopback-down",
        /// A name that should be local (`localhost`, `*.localhost`) resolves to another host.
        NotLoopback = "not-loopback",
        /// UDP: a listener holds the port and stayed silent.
        NoReply = "no-reply",
        /// Different processes answer on different addresses of the same name.
        Split = "split",
        /// A rule on this host redirected the connection (NAT in the output hook) or routed it
        /// through another table: the result is the receiver's, not the service's asked for.
        Intercepted = "intercepted",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_through_json() {
        for c in CheckId::ALL {
            let j = serde_json::to_string(c).expect("json");
            assert_eq!(j, format!("\"{}\"", c.as_str()));
            assert_eq!(serde_json::from_str::<CheckId>(&j).expect("back"), *c);
        }
        for c in FindingCode::ALL {
            let j = serde_json::to_string(c).expect("json");
            assert_eq!(j, format!("\"{c}\""));
        }
        assert_eq!(StepKind::GaiConf, "gai.conf");
    }
}

closed_set! {
    /// What a published port reaches (`audit`'s `publications`).
    PublicationDiagnosis {
        /// A listener in the target namespace accepts the forwarded connections.
        Ok = "ok",
        /// Nothing listens on the target port in the target namespace.
        NoListener = "no-listener",
        /// The target port is listened on only on the target's own loopback, which the
        /// forwarded connections do not arrive on: every connection is reset.
        TargetLoopbackOnly = "target-loopback-only",
        /// The target namespace could not be found or entered: nothing is claimed.
        Unknown = "unknown",
        /// The packet filter (or the kernel's routing rules) drops what the publication
        /// rewrites before it reaches the target.
        Filtered = "filtered",
    }
}

closed_set! {
    /// What a connection from another host reaches (`audit`'s `listeners[].exposure.state`,
    /// and each path's `state`).
    ExposureState {
        /// Some path from an uplink reaches the socket, from any source.
        Open = "open",
        /// Paths reach it only from the sources listed.
        Restricted = "restricted",
        /// The bind would expose it, but the packet filter drops every path.
        Filtered = "filtered",
        /// A rule the evaluator does not model decides a path (counted as exposed).
        Unknown = "unknown",
        /// No path: bound to loopback, or no interface leads off the machine.
        None = "none",
    }
}

closed_set! {
    /// The widest audience that reaches a listener (`listeners[].exposure.reach`).
    ExposureReach {
        /// Only its own network namespace.
        Namespace = "namespace",
        /// Other namespaces of this machine (sibling containers, the host), no uplink.
        Machine = "machine",
        /// Other hosts, through an uplink.
        Network = "network",
    }
}

closed_set! {
    /// How a path's packets arrive at the socket (`paths[].arrival`).
    Arrival {
        /// Addressed to the socket's own address and port.
        Direct = "direct",
        /// Rewritten by a DNAT rule.
        Dnat = "dnat",
        /// Rewritten by a REDIRECT rule to the arriving interface's address.
        Redirect = "redirect",
    }
}

closed_set! {
    /// A container runtime (`audit`'s `namespaces[].container.runtime`).
    Runtime {
        /// Docker (moby).
        Docker = "docker",
        /// Podman.
        Podman = "podman",
        /// containerd without Kubernetes (nerdctl, ctr).
        Containerd = "containerd",
        /// A Kubernetes pod (containerd's or CRI-O's CRI).
        Kubernetes = "kubernetes",
        /// CRI-O outside Kubernetes metadata.
        CriO = "cri-o",
        /// LXC / LXD / Incus.
        Lxc = "lxc",
    }
}

closed_set! {
    /// A client program whose connection `probe` predicts (`docs/json.md`).
    ClientId {
        /// curl (the command and libcurl): resolves `localhost` and `*.localhost` itself to
        /// 127.0.0.1 then ::1, ignoring the hosts file; Happy Eyeballs between the families.
        Curl = "curl",
        /// Python's `socket.create_connection` (and `urllib`, `http.client`): every address in
        /// the resolver's order, one after another.
        Python = "python",
        /// Python's `requests` (urllib3): the same order, one after another.
        PythonRequests = "python-requests",
        /// Node.js `net.connect` with `autoSelectFamily: true`, the default from Node 20:
        /// addresses alternating by family, 250 ms each.
        NodeAutoSelect = "node-autoselect",
        /// Node.js with `autoSelectFamily: false`, the default before Node 20: the first address
        /// only.
        NodeFirstAddress = "node-first-address",
        /// Go's `net.Dial`: the first address's family first, the other after 300 ms or a
        /// failure.
        Go = "go",
        /// Java's `new Socket(host, port)`: IPv4 addresses first (the default
        /// `java.net.preferIPv6Addresses=false`), the first address only.
        Java = "java",
        /// Web browsers, which send `localhost` and `*.localhost` to loopback themselves: a
        /// hypothesis from their documentation, not tested here.
        Browser = "browser",
    }
}

closed_set! {
    /// What a client would do with the name and the probe's results (`docs/json.md`).
    ClientResult {
        /// Connects at once.
        Connects = "connects",
        /// Connects after a timeout at an earlier address (its own timeout, or the kernel's:
        /// about two minutes without one).
        ConnectsLate = "connects-late",
        /// Fails with an error at once.
        Fails = "fails",
        /// Waits for a timeout, then fails.
        Hangs = "hangs",
        /// An address it would use was not tried.
        Unknown = "unknown",
    }
}
