//! `/v1/integrations/github`: repositories a project follows, the webhook
//! GitHub calls for them (every request verified with the repository's
//! secret through `X-Hub-Signature-256`: unsigned or mis-signed deliveries
//! are refused), and the commits they report. A trace whose spans carry
//! `strathon.git.commit` is linked to the commit its agent ran.

use actix_web::{delete, get, post};
use actix_web::{web, HttpRequest, HttpResponse};
use diesel_async::AsyncConnection as _;
use futures::StreamExt as _;
use ring::hmac;
use serde_json::{json, Value};
use strathon_schema::integrations::{self, NewCommit, Repository};
use strathon_schema::sealed;

use super::params::{self, object, utc_offset, Params};
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// GitHub caps webhook payloads at 25 MB; a push of a few thousand commits
/// is far below this.
const MAX_WEBHOOK_BYTES: usize = 5 << 20;

fn render(r: &Repository) -> Value {
    json!({
        "id": r.id, "project_id": r.project_id, "repo_full_name": r.repo_full_name,
        "installation_id": r.installation_id, "created_at": utc_offset(&r.created_at),
        "last_event_at": r.last_event_at.as_ref().map(utc_offset),
    })
}

fn field_error(loc: &str, msg: &str) -> ApiError {
    ApiError::field(loc, msg)
}

/// `owner/name`, as GitHub allows them.
fn valid_repo(name: &str) -> bool {
    let ok = |part: &str| {
        !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    };
    matches!(name.split_once('/'), Some((owner, repo)) if ok(owner) && ok(repo))
}

#[utoipa::path(tag = "Integrations", responses((status = 200, description = "OK")))]
#[post("/v1/integrations/github")]
pub async fn create(auth: Auth, state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_WRITE)?;
    let body = object(body)?;
    let allowed = ["repo_full_name", "webhook_secret", "installation_id"];
    if let Some(extra) = body.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(field_error(extra, "Extra inputs are not permitted"));
    }
    let repo = match body.get("repo_full_name") {
        Some(Value::String(r)) if (3..=200).contains(&r.chars().count()) => r.trim().to_owned(),
        Some(_) => {
            return Err(field_error(
                "repo_full_name",
                "repo_full_name must be 3 to 200 characters",
            ))
        }
        None => return Err(field_error("repo_full_name", "Field required")),
    };
    if !valid_repo(&repo) {
        return Err(ApiError::BadRequest(format!(
            "repo_full_name must look like 'owner/repository', got '{repo}'"
        )));
    }
    let secret = match body.get("webhook_secret") {
        Some(Value::String(s)) if (8..=500).contains(&s.chars().count()) => s.clone(),
        Some(_) => {
            return Err(field_error(
                "webhook_secret",
                "webhook_secret must be 8 to 500 characters",
            ))
        }
        None => return Err(field_error("webhook_secret", "Field required")),
    };
    let installation_id = match body.get("installation_id") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_i64()
                .filter(|n| *n > 0)
                .ok_or_else(|| field_error("installation_id", "installation_id must be a positive integer"))?,
        ),
    };
    let sealed = sealed::seal(&secret, state.config.encryption_key());
    let mut conn = state.pool.get().await?;
    let created = conn
        .transaction(async |conn| {
            let r =
                integrations::add_repository(conn, auth.project_id, &repo, installation_id, &sealed, auth.user_id())
                    .await?
                    .ok_or_else(|| ApiError::Conflict(format!("repository {repo} is already registered")))?;
            audit::record(
                conn,
                &auth,
                Event::new("github_integration.create", "github_integration", r.id).after(render(&r)),
            )
            .await?;
            Ok::<_, ApiError>(r)
        })
        .await?;
    Ok(HttpResponse::Created().json(render(&created)))
}

#[utoipa::path(tag = "Integrations", responses((status = 200, description = "OK")))]
#[get("/v1/integrations/github")]
pub async fn list(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_READ)?;
    let mut conn = state.pool.get().await?;
    let all = integrations::repositories(&mut conn, auth.project_id).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": all.iter().map(render).collect::<Vec<_>>() })))
}

#[utoipa::path(tag = "Integrations", responses((status = 200, description = "OK")))]
#[delete("/v1/integrations/github/{integration_id}")]
pub async fn delete(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_WRITE)?;
    let id = params::path_uuid(&path, "integration_id")?;
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| {
        if integrations::remove_repository(conn, auth.project_id, id).await? == 0 {
            return Err(ApiError::NotFound("integration not found".into()));
        }
        audit::record(
            conn,
            &auth,
            Event::new("github_integration.delete", "github_integration", id),
        )
        .await
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(tag = "Integrations", responses((status = 200, description = "OK")))]
#[get("/v1/integrations/github/commits")]
pub async fn commits(
    auth: Auth,
    state: web::Data<AppState>,
    query: web::Query<Params>,
) -> Result<HttpResponse, ApiError> {
    auth.require(scope::TRACES_READ)?;
    let limit = params::limit(&query, 50, 500)?;
    let text = |k: &str| query.get(k).map(|v| v.trim()).filter(|v| !v.is_empty());
    let sha = text("sha");
    if let Some(sha) = sha {
        if !(4..=64).contains(&sha.len()) || !sha.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(ApiError::BadRequest(format!(
                "sha must be 4 to 64 hex characters, got {sha:?}"
            )));
        }
    }
    let mut conn = state.pool.get().await?;
    let found = integrations::commits(&mut conn, auth.project_id, text("repo"), text("branch"), sha, limit).await?;
    Ok(HttpResponse::Ok().json(json!({ "data": found.iter().map(super::views::git_commit).collect::<Vec<_>>() })))
}

/// Whether `signature` (`sha256=<hex>`) is GitHub's HMAC of `body` under `secret`.
pub fn signed_by(secret: &str, body: &[u8], signature: &str) -> bool {
    let Some(tag) = signature
        .trim()
        .strip_prefix("sha256=")
        .and_then(|h| hex::decode(h).ok())
    else {
        return false;
    };
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()), body, &tag).is_ok()
}

fn text(v: &Value, pointer: &str) -> Option<String> {
    v.pointer(pointer).and_then(Value::as_str).map(|s| s.replace('\0', ""))
}

fn timestamp(v: &Value, pointer: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    text(v, pointer)
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(&t).ok())
        .map(|t| t.to_utc())
}

/// The commits an event reports, for one registration.
fn reported(event: &str, payload: &Value, r: &Repository) -> Vec<NewCommit> {
    let base = NewCommit {
        project_id: r.project_id,
        integration_id: Some(r.id),
        repo_full_name: r.repo_full_name.clone(),
        ..Default::default()
    };
    match event {
        "push" => {
            let branch = text(payload, "/ref").map(|r| r.trim_start_matches("refs/heads/").to_owned());
            payload
                .get("commits")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|c| {
                    Some(NewCommit {
                        commit_sha: text(c, "/id")?.to_ascii_lowercase(),
                        commit_message: text(c, "/message"),
                        author_name: text(c, "/author/name"),
                        author_email: text(c, "/author/email"),
                        committed_at: timestamp(c, "/timestamp"),
                        branch: branch.clone(),
                        url: text(c, "/url"),
                        ..base.clone()
                    })
                })
                .collect()
        }
        "pull_request" => text(payload, "/pull_request/head/sha")
            .map(|sha| NewCommit {
                commit_sha: sha.to_ascii_lowercase(),
                branch: text(payload, "/pull_request/head/ref"),
                pr_number: payload
                    .pointer("/pull_request/number")
                    .or_else(|| payload.get("number"))
                    .and_then(Value::as_i64)
                    .and_then(|n| i32::try_from(n).ok()),
                url: text(payload, "/pull_request/html_url"),
                ..base.clone()
            })
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

#[utoipa::path(tag = "Integrations", responses((status = 200, description = "OK")))]
#[post("/v1/integrations/github/webhooks")]
pub async fn webhook(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let event = header("x-github-event").ok_or_else(|| ApiError::BadRequest("missing X-GitHub-Event header".into()))?;
    let signature = header("x-hub-signature-256").ok_or_else(|| {
        ApiError::Unauthorized("missing X-Hub-Signature-256: configure the webhook with a secret".into())
    })?;
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("could not read the request body: {e}")))?;
        if body.len() + chunk.len() > MAX_WEBHOOK_BYTES {
            return Err(ApiError::PayloadTooLarge(format!(
                "Payload too large (max {MAX_WEBHOOK_BYTES} bytes)"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    let parsed: Value = serde_json::from_slice(&body)
        .map_err(|e| ApiError::BadRequest(format!("the webhook body is not JSON: {e}")))?;
    let repo = text(&parsed, "/repository/full_name")
        .ok_or_else(|| ApiError::BadRequest("the webhook names no repository (repository.full_name)".into()))?;
    let mut conn = state.pool.get().await?;
    let registered = integrations::registrations(&mut conn, &repo).await?;
    if registered.is_empty() {
        return Err(ApiError::NotFound(format!("repository {repo} is not registered")));
    }
    let key = state.config.encryption_key();
    let verified: Vec<Repository> = registered
        .into_iter()
        .filter(|r| sealed::open(&r.webhook_secret_sealed, key).is_some_and(|s| signed_by(&s, &body, &signature)))
        .collect();
    if verified.is_empty() {
        return Err(ApiError::Unauthorized(
            "X-Hub-Signature-256 does not match the repository's webhook secret".into(),
        ));
    }
    let mut tracked = 0;
    for r in &verified {
        let new = reported(&event, &parsed, r);
        conn.transaction(async |conn| {
            integrations::record_commits(conn, &new).await?;
            integrations::touch_repository(conn, r.id).await
        })
        .await?;
        tracked = tracked.max(new.len());
    }
    tracing::info!(repo = %repo, event = %event, commits = tracked, projects = verified.len(), "GitHub webhook");
    let answer = match event.as_str() {
        "ping" => json!({"event": "ping", "zen": parsed.get("zen")}),
        "push" => json!({"event": "push", "commits_tracked": tracked}),
        "pull_request" => json!({
            "event": "pull_request", "action": parsed.get("action"),
            "pr_number": parsed.pointer("/pull_request/number").or_else(|| parsed.get("number")),
        }),
        other => json!({"event": other, "status": "ignored"}),
    };
    Ok(HttpResponse::Ok().json(answer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_signatures_verify_only_with_the_secret() {
        // The example from GitHub's documentation on validating deliveries.
        let body = b"Hello, World!";
        let good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(signed_by("It's a Secret to Everybody", body, good));
        assert!(!signed_by("another secret", body, good));
        assert!(!signed_by("It's a Secret to Everybody", body, "sha1=abc"));
        assert!(!signed_by("It's a Secret to Everybody", b"Hello, World?", good));
    }

    #[test]
    fn repository_names() {
        assert!(valid_repo("acme/agent-tools"));
        assert!(valid_repo("a.b/c_d"));
        for bad in ["acme", "/x", "acme/", "a b/c", "acme/x/y"] {
            assert!(!valid_repo(bad), "{bad}");
        }
    }
}
