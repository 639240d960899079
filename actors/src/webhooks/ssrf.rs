//! The SSRF guard: a webhook URL someone typed into a policy must not turn
//! the receiver into a proxy for the cloud metadata service or the private
//! network. The check runs at delivery time on the addresses the name
//! resolves to *now*, and the request is then pinned to exactly those
//! addresses, so a DNS answer cannot change between check and connect.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// How strict the guard is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Guard {
    /// `STRATHON_WEBHOOK_SSRF_GUARD`: off only for trusted networks.
    pub enabled: bool,
    /// `STRATHON_WEBHOOK_ALLOW_LOOPBACK`: lets tests and local setups send to
    /// 127.0.0.0/8 and ::1, over plain http too. Every other private range
    /// stays blocked.
    pub allow_loopback: bool,
}

/// Where a checked delivery may connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub url: reqwest::Url,
    /// The host name to pin to `addrs` (none for IP literals or when the
    /// guard is off and ordinary resolution applies).
    pub pin: Option<(String, Vec<SocketAddr>)>,
}

const BLOCKED_HOSTS: [&str; 3] = ["metadata.google.internal", "metadata.goog", "169.254.169.254"];

/// Why `ip` may not be a webhook target, if it may not.
pub fn blocked_reason(ip: IpAddr, allow_loopback: bool) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => v4_reason(v4, allow_loopback),
        IpAddr::V6(v6) => v6_reason(v6, allow_loopback),
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], bits: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn v4_reason(ip: Ipv4Addr, allow_loopback: bool) -> Option<&'static str> {
    const RANGES: [([u8; 4], u32, &str); 14] = [
        ([127, 0, 0, 0], 8, "loopback"),
        ([10, 0, 0, 0], 8, "private"),
        ([172, 16, 0, 0], 12, "private"),
        ([192, 168, 0, 0], 16, "private"),
        ([169, 254, 0, 0], 16, "link-local"),
        ([0, 0, 0, 0], 8, "unspecified"),
        ([100, 64, 0, 0], 10, "shared address space"),
        ([192, 0, 0, 0], 24, "IETF protocol assignment"),
        ([192, 0, 2, 0], 24, "documentation"),
        ([198, 51, 100, 0], 24, "documentation"),
        ([203, 0, 113, 0], 24, "documentation"),
        ([198, 18, 0, 0], 15, "benchmarking"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([240, 0, 0, 0], 4, "reserved"),
    ];
    RANGES
        .iter()
        .find(|(net, bits, _)| in_v4(ip, *net, *bits))
        .map(|(_, _, why)| *why)
        .filter(|why| !(allow_loopback && *why == "loopback"))
}

fn v6_reason(ip: Ipv6Addr, allow_loopback: bool) -> Option<&'static str> {
    let s = ip.segments();
    if ip.is_loopback() {
        return (!allow_loopback).then_some("loopback");
    }
    if ip.is_unspecified() {
        return Some("unspecified");
    }
    if ip.to_ipv4_mapped().is_some() {
        // Mapped addresses reach IPv4 hosts through a v6 socket; none is a
        // legitimate public webhook address.
        return Some("IPv4-mapped");
    }
    match s[0] {
        x if x & 0xfe00 == 0xfc00 => Some("unique local"),
        x if x & 0xffc0 == 0xfe80 => Some("link-local"),
        x if x & 0xff00 == 0xff00 => Some("multicast"),
        0x2001 if s[1] == 0x0db8 => Some("documentation"),
        _ => None,
    }
}

fn host_of(url: &reqwest::Url) -> Result<String, String> {
    Ok(url
        .host_str()
        .filter(|h| !h.is_empty())
        .ok_or("URL has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase())
}

/// What can be told without resolving the name: the scheme, the host, and
/// for an address literal its range. For refusing a URL when it is saved
/// (a stream, an integration) without depending on DNS at that moment;
/// every send still goes through [`check`].
pub fn precheck(raw: &str, guard: Guard) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(raw).map_err(|e| format!("invalid URL: {e}"))?;
    let scheme = url.scheme();
    if scheme != "https" && scheme != "http" {
        return Err(format!("scheme '{scheme}' is not http(s)"));
    }
    let host = host_of(&url)?;
    if !guard.enabled {
        return Ok(url);
    }
    if BLOCKED_HOSTS.contains(&host.as_str()) {
        return Err(format!("host {host} is a cloud metadata endpoint"));
    }
    if let Ok(ip) = host.parse::<IpAddr>() {
        if let Some(why) = blocked_reason(ip, guard.allow_loopback) {
            return Err(format!("{host} is {why}"));
        }
        if scheme == "http" && !(guard.allow_loopback && ip.is_loopback()) {
            return Err("scheme must be https".into());
        }
    } else if scheme == "http" && !guard.allow_loopback {
        return Err("scheme must be https".into());
    }
    Ok(url)
}

/// Checks `raw` against the guard and resolves it. Errors are the reason
/// the delivery is refused.
pub async fn check(raw: &str, guard: Guard) -> Result<Target, String> {
    let url = precheck(raw, guard)?;
    let scheme = url.scheme();
    let host = host_of(&url)?;
    if !guard.enabled {
        return Ok(Target { url, pin: None });
    }
    let port = url.port_or_known_default().unwrap_or(443);
    let addrs: Vec<SocketAddr> = match host.parse::<IpAddr>() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .collect(),
    };
    if addrs.is_empty() {
        return Err(format!("cannot resolve {host}: no addresses"));
    }
    if let Some((addr, why)) = addrs
        .iter()
        .find_map(|a| blocked_reason(a.ip(), guard.allow_loopback).map(|why| (a, why)))
    {
        return Err(format!("{host} resolves to {} ({why})", addr.ip()));
    }
    // Plain http leaks the signed payload to the path; only a loopback
    // target (tests, a local relay) may use it.
    if scheme == "http" && !(guard.allow_loopback && addrs.iter().all(|a| a.ip().is_loopback())) {
        return Err("scheme must be https".into());
    }
    let pin = host.parse::<IpAddr>().is_err().then_some((host, addrs));
    Ok(Target { url, pin })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reason(ip: &str) -> Option<&'static str> {
        blocked_reason(ip.parse().unwrap(), false)
    }

    #[test]
    fn private_and_special_ranges_are_blocked() {
        for (ip, why) in [
            ("127.0.0.1", "loopback"),
            ("10.1.2.3", "private"),
            ("172.31.255.255", "private"),
            ("192.168.0.10", "private"),
            ("169.254.169.254", "link-local"),
            ("0.0.0.0", "unspecified"),
            ("100.64.0.1", "shared address space"),
            ("198.19.0.1", "benchmarking"),
            ("224.0.0.1", "multicast"),
            ("255.255.255.255", "reserved"),
            ("::1", "loopback"),
            ("::", "unspecified"),
            ("::ffff:8.8.8.8", "IPv4-mapped"),
            ("fd00::1", "unique local"),
            ("fe80::1", "link-local"),
        ] {
            assert_eq!(reason(ip), Some(why), "{ip}");
        }
        for ip in ["8.8.8.8", "172.32.0.1", "100.128.0.1", "2606:4700::1111", "1.1.1.1"] {
            assert_eq!(reason(ip), None, "{ip}");
        }
    }

    #[test]
    fn allowing_loopback_allows_nothing_else() {
        assert_eq!(blocked_reason("127.0.0.1".parse().unwrap(), true), None);
        assert_eq!(blocked_reason("::1".parse().unwrap(), true), None);
        assert_eq!(blocked_reason("10.0.0.1".parse().unwrap(), true), Some("private"));
        assert_eq!(
            blocked_reason("169.254.169.254".parse().unwrap(), true),
            Some("link-local")
        );
    }

    fn on(allow_loopback: bool) -> Guard {
        Guard {
            enabled: true,
            allow_loopback,
        }
    }

    #[test]
    fn prechecks_need_no_dns() {
        assert!(precheck("https://logs.example.invalid/x", on(false)).is_ok());
        assert!(precheck("http://logs.example.invalid/x", on(false))
            .unwrap_err()
            .contains("https"));
        assert!(precheck("http://logs.example.invalid/x", on(true)).is_ok());
        assert!(precheck("https://10.0.0.8/x", on(true))
            .unwrap_err()
            .contains("private"));
        assert!(precheck("https://127.0.0.1/x", on(false))
            .unwrap_err()
            .contains("loopback"));
        assert!(precheck("http://127.0.0.1:9/x", on(true)).is_ok());
        assert!(precheck("https://metadata.goog/x", on(true)).is_err());
        assert!(precheck("gopher://example.com/", on(true)).is_err());
    }

    #[tokio::test]
    async fn urls_are_checked_on_their_resolved_addresses() {
        let err = check("https://127.0.0.1:9/hook", on(false)).await.unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        let err = check("https://metadata.google.internal/x", on(true)).await.unwrap_err();
        assert!(err.contains("metadata"), "{err}");
        let err = check("https://[::1]/x", on(false)).await.unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        let err = check("https://localhost:8443/x", on(false)).await.unwrap_err();
        assert!(err.contains("loopback"), "{err}");
        assert!(check("ftp://example.com/", on(true)).await.is_err());
        assert!(check("not a url", on(true)).await.is_err());
        // http is for loopback only, and only when loopback is allowed.
        let ok = check("http://localhost:8080/x", on(true)).await.unwrap();
        let (host, addrs) = ok.pin.expect("a name is pinned to what was checked");
        assert_eq!(host, "localhost");
        assert!(addrs.iter().all(|a| a.ip().is_loopback() && a.port() == 8080));
        let off = Guard {
            enabled: false,
            allow_loopback: false,
        };
        assert_eq!(check("http://10.0.0.1/x", off).await.unwrap().pin, None);
    }
}
