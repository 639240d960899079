//! The quickstart banner printed once the receiver accepts traffic with the
//! development key seeded. Operators' tooling waits for its second line.

use std::net::SocketAddr;

use strathon_schema::api_keys::DEV_KEY_RAW;

pub fn endpoint(bound: SocketAddr) -> String {
    let host = if bound.ip().is_unspecified() || bound.ip().is_loopback() {
        "localhost".to_owned()
    } else {
        bound.ip().to_string()
    };
    format!("http://{host}:{}", bound.port())
}

/// An address a local client can connect to (`0.0.0.0` means loopback).
pub fn reachable(bound: SocketAddr) -> SocketAddr {
    match bound.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => SocketAddr::from(([127, 0, 0, 1], bound.port())),
        ip if ip.is_unspecified() => SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, bound.port())),
        _ => bound,
    }
}

pub fn render(endpoint: &str, dashboard: Option<&str>) -> String {
    let rule = "=".repeat(60);
    let dashboard = dashboard
        .map(|d| format!("  Dashboard:  {d}  (register the first user there)\n"))
        .unwrap_or_default();
    format!(
        "{rule}\n  Strathon receiver ready\n{rule}\n  Endpoint:   {endpoint}\n{dashboard}  Dev API key (rotate before production!):\n      {DEV_KEY_RAW}\n\n  Quick test:\n    curl -H \"Authorization: Bearer {DEV_KEY_RAW}\" \\\n      {endpoint}/v1/policies\n\n  To rotate this key, see docs/self-hosting.md (API keys)\n{rule}\n"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn banner_names_endpoint_and_key() {
        let text = render(&endpoint("0.0.0.0:4318".parse().unwrap()), None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "=".repeat(60));
        assert_eq!(lines[1], "  Strathon receiver ready");
        assert_eq!(lines[3], "  Endpoint:   http://localhost:4318");
        assert!(lines.contains(&"      stra_dev_local_default_project_do_not_use_in_production"));
        let with_dashboard = render("http://localhost:4318", Some("http://localhost:3000"));
        assert!(with_dashboard
            .lines()
            .nth(4)
            .unwrap()
            .contains("Dashboard:  http://localhost:3000"));
    }
}
