//! Roles and the scopes they grant: owner > admin > operator > viewer.

use crate::auth::scope;

pub fn rank(role: &str) -> u8 {
    match role {
        "owner" => 40,
        "admin" => 30,
        "operator" => 20,
        "viewer" => 10,
        _ => 0,
    }
}

const OPERATOR: [&str; 19] = [
    "traces:read",
    "traces:write",
    "policies:read",
    "policies:write",
    "api_keys:read",
    "halts:read",
    "halts:write",
    "budgets:read",
    "budgets:write",
    "model_prices:read",
    "model_prices:write",
    "webhook_signing_keys:read",
    "webhook_signing_keys:write",
    "webhook_deliveries:read",
    "webhook_deliveries:write",
    "project_settings:read",
    "project_settings:write",
    "audit:read",
    "data:export",
];

const VIEWER: [&str; 9] = [
    "traces:read",
    "policies:read",
    "halts:read",
    "budgets:read",
    "model_prices:read",
    "webhook_deliveries:read",
    "webhook_signing_keys:read",
    "project_settings:read",
    "audit:read",
];

/// The scopes a session with this role holds.
pub fn scopes(role: &str) -> Vec<String> {
    let list: Vec<&str> = match role {
        "owner" => vec![scope::ALL],
        "admin" => scope::KNOWN
            .iter()
            .copied()
            .filter(|s| *s != scope::ALL && *s != scope::PROJECTS_MANAGE)
            .collect(),
        "operator" => OPERATOR.to_vec(),
        "viewer" => VIEWER.to_vec(),
        _ => vec![],
    };
    list.into_iter().map(str::to_owned).collect()
}

/// Roles that can be granted through membership changes; `owner` moves
/// only by ownership transfer.
pub const ASSIGNABLE: [&str; 3] = ["admin", "operator", "viewer"];

/// Whether a caller of rank `caller` may hand out or manage `role`: only
/// roles strictly below their own, so nobody can promote past themselves.
pub fn can_manage(caller: u8, role: &str) -> bool {
    caller > rank(role)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_matrix() {
        assert_eq!(scopes("owner"), ["*"]);
        let admin = scopes("admin");
        assert!(admin.contains(&"api_keys:write".to_string()) && !admin.contains(&"projects:manage".to_string()));
        assert!(!scopes("operator").contains(&"api_keys:write".to_string()));
        assert!(!scopes("viewer").iter().any(|s| s.ends_with(":write")));
        assert!(rank("owner") > rank("admin") && rank("admin") > rank("operator") && rank("operator") > rank("viewer"));
        assert!(scopes("stranger").is_empty());
    }

    #[test]
    fn managers_stay_above_what_they_grant() {
        assert!(can_manage(rank("owner"), "admin"));
        assert!(!can_manage(rank("admin"), "admin"));
        assert!(can_manage(rank("admin"), "operator"));
        assert!(!can_manage(rank("operator"), "operator"));
        assert!(!can_manage(rank("admin"), "owner"));
    }
}
