//! The dashboard's client for the receiver's REST API. Every call carries
//! the user's session token and chosen project; failures come back as a
//! [`Failure`] a page can show in place.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use uuid::Uuid;

/// Who a call is made for.
#[derive(Debug, Clone, Default)]
pub struct Caller {
    /// The receiver session token from the user's cookie.
    pub token: Option<String>,
    pub project: Option<Uuid>,
    /// The browser's address and agent, passed on so the receiver's login
    /// throttle, audit log and session list see the user, not the dashboard.
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
}

/// Why a call did not return data.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// No answer from the receiver at all.
    Unreachable { url: String },
    /// 401: the session is missing, expired or revoked (the detail says which).
    SignedOut(String),
    /// 403: the API's detail, e.g. `missing required scope: halts:write`.
    Forbidden(String),
    /// Another 4xx: the API's `detail`, a message or a list of field errors.
    Rejected { status: u16, detail: Value },
    /// 5xx or an unreadable answer.
    Broken { status: u16 },
}

impl Failure {
    /// The status a page answers with when the API refused its form.
    pub fn status(&self) -> actix_web::http::StatusCode {
        use actix_web::http::StatusCode;
        match self {
            Failure::Unreachable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Failure::SignedOut(_) => StatusCode::UNAUTHORIZED,
            Failure::Forbidden(_) => StatusCode::FORBIDDEN,
            Failure::Rejected { status, .. } => StatusCode::from_u16(*status).unwrap_or(StatusCode::BAD_REQUEST),
            Failure::Broken { .. } => StatusCode::BAD_GATEWAY,
        }
    }

    /// One sentence for the user.
    pub fn message(&self) -> String {
        match self {
            Failure::Unreachable { url } => format!("Cannot reach the Strathon receiver at {url}."),
            Failure::SignedOut(detail) => detail.clone(),
            Failure::Forbidden(detail) => forbidden_message(detail),
            Failure::Rejected { detail, .. } => detail_text(detail),
            Failure::Broken { status } => {
                format!("The receiver failed to answer (HTTP {status}). Try again; if it persists, check its logs.")
            }
        }
    }

    /// `(field, message)` pairs when the API named the fields at fault.
    pub fn field_errors(&self) -> Vec<(String, String)> {
        let Failure::Rejected {
            detail: Value::Array(items),
            ..
        } = self
        else {
            return Vec::new();
        };
        items
            .iter()
            .map(|item| {
                let field = item["loc"]
                    .as_array()
                    .and_then(|loc| loc.last())
                    .map(|f| f.as_str().map(str::to_owned).unwrap_or_else(|| f.to_string()))
                    .unwrap_or_default();
                (field, item["msg"].as_str().unwrap_or("invalid value").to_owned())
            })
            .collect()
    }
}

/// A FastAPI-style `detail`, a string or a list of field errors, as text.
fn detail_text(detail: &Value) -> String {
    match detail {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i["msg"].as_str())
            .collect::<Vec<_>>()
            .join("; "),
        other => other.to_string(),
    }
}

/// The lowest role that holds `scope`, for "this needs the admin role".
pub fn role_for_scope(scope: &str) -> &'static str {
    use crate::accounts::roles::scopes;
    ["viewer", "operator", "admin", "owner"]
        .into_iter()
        .find(|role| scopes(role).iter().any(|s| s == scope || s == "*"))
        .unwrap_or("owner")
}

fn forbidden_message(detail: &str) -> String {
    match detail.strip_prefix("missing required scope: ") {
        Some(scope) => format!(
            "This needs the {} role or higher in this project (scope {scope}).",
            role_for_scope(scope)
        ),
        None => detail.to_owned(),
    }
}

pub struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    pub fn new(base: String) -> reqwest::Result<Api> {
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .timeout(Duration::from_secs(15))
            .pool_idle_timeout(Duration::from_secs(30))
            .user_agent(concat!("strathon-dashboard/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Api { http, base })
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub async fn get(&self, who: &Caller, path: &str) -> Result<Value, Failure> {
        self.send(who, Method::GET, path, None, &[]).await
    }

    pub async fn post(&self, who: &Caller, path: &str, body: &Value) -> Result<Value, Failure> {
        self.send(who, Method::POST, path, Some(body), &[]).await
    }

    /// Any call; `headers` adds extras such as `X-Confirm-Password`.
    pub async fn send(
        &self,
        who: &Caller,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Value, Failure> {
        let raw = self.raw(who, method, path, body, headers).await?;
        Ok(if raw.body.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw.body).unwrap_or(Value::Null)
        })
    }

    /// Any call, answered with its bytes (downloads: exports, SARIF, ZIP).
    pub async fn raw(
        &self,
        who: &Caller,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Result<Raw, Failure> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(token) = &who.token {
            req = req.bearer_auth(token);
        }
        if let Some(project) = who.project {
            req = req.header("x-project-id", project.to_string());
        }
        if let Some(ip) = &who.client_ip {
            req = req.header("x-forwarded-for", ip);
        }
        if let Some(agent) = &who.user_agent {
            req = req.header(reqwest::header::USER_AGENT, agent);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if let Some(body) = body {
            req = req.json(body);
        }
        let resp = req.send().await.map_err(|e| {
            // Only the base URL: paths may name resources, never credentials,
            // but the base is what an operator needs to fix a wrong setting.
            tracing::warn!(api = %self.base, error = %e, "receiver unreachable");
            Failure::Unreachable { url: self.base.clone() }
        })?;
        let status = resp.status().as_u16();
        let header = |name: reqwest::header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let content_type = header(reqwest::header::CONTENT_TYPE).unwrap_or_default();
        let disposition = header(reqwest::header::CONTENT_DISPOSITION);
        let bytes = resp.bytes().await.map_err(|_| Failure::Broken { status })?;
        if (200..300).contains(&status) {
            return Ok(Raw {
                content_type,
                disposition,
                body: bytes.to_vec(),
            });
        }
        let parsed: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let detail = parsed.get("detail").cloned().unwrap_or(Value::Null);
        Err(match status {
            401 => Failure::SignedOut(detail_text(&detail)),
            403 => Failure::Forbidden(detail_text(&detail)),
            400..=499 => Failure::Rejected { status, detail },
            _ => Failure::Broken { status },
        })
    }
}

/// A successful answer's bytes and how to name them.
pub struct Raw {
    pub content_type: String,
    pub disposition: Option<String>,
    pub body: Vec<u8>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn scopes_name_the_lowest_role_that_holds_them() {
        assert_eq!(role_for_scope("traces:read"), "viewer");
        assert_eq!(role_for_scope("halts:write"), "operator");
        assert_eq!(role_for_scope("api_keys:write"), "admin");
        assert_eq!(role_for_scope("projects:manage"), "owner");
        assert_eq!(
            Failure::Forbidden("missing required scope: policies:write".into()).message(),
            "This needs the operator role or higher in this project (scope policies:write)."
        );
    }

    #[test]
    fn field_errors_come_from_the_location() {
        let f = Failure::Rejected {
            status: 422,
            detail: json!([{"loc": ["body", "name"], "msg": "name must be 1 to 200 characters"}]),
        };
        assert_eq!(
            f.field_errors(),
            vec![("name".to_owned(), "name must be 1 to 200 characters".to_owned())]
        );
        assert_eq!(f.message(), "name must be 1 to 200 characters");
        let plain = Failure::Rejected {
            status: 400,
            detail: json!("Invalid email format"),
        };
        assert!(plain.field_errors().is_empty());
        assert_eq!(plain.message(), "Invalid email format");
    }
}
