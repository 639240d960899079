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

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::params::{self, object, utc_offset, Params};
use super::views::GitCommitView;
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// GitHub caps webhook payloads at 25 MB; a push of a few thousand commits
/// is far below this.
const MAX_WEBHOOK_BYTES: usize = 5 << 20;

/// A GitHub repository the project follows (its webhook secret is never
/// shown).
#[derive(Serialize, ToSchema)]
#[schema(as = GithubIntegration)]
pub struct RepositoryView {
    pub id: Uuid,
    pub project_id: Uuid,
    /// `owner/repository`.
    pub repo_full_name: String,
    pub installation_id: Option<i64>,
    pub created_at: String,
    /// The last verified webhook delivery.
    pub last_event_at: Option<String>,
}

fn view(r: &Repository) -> RepositoryView {
    RepositoryView {
        id: r.id,
        project_id: r.project_id,
        repo_full_name: r.repo_full_name.clone(),
        installation_id: r.installation_id,
        created_at: utc_offset(&r.created_at),
        last_event_at: r.last_event_at.as_ref().map(utc_offset),
    }
}

fn render(r: &Repository) -> Value {
    serde_json::to_value(view(r)).expect("a repository serializes")
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

/// `POST /v1/integrations/github`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation: the handler reads the body field by field
#[serde(deny_unknown_fields)]
pub struct GithubIntegrationCreate {
    /// `owner/repository` (letters, digits, `-`, `_`, `.`; 400 otherwise).
    #[schema(
        min_length = 3,
        max_length = 200,
        pattern = r"^\s*[A-Za-z0-9._-]+/[A-Za-z0-9._-]+\s*$"
    )]
    repo_full_name: String,
    /// The secret the repository's webhook is configured with; deliveries
    /// not signed with it are refused. Kept encrypted.
    #[schema(min_length = 8, max_length = 500)]
    webhook_secret: String,
    /// The GitHub App installation, if any.
    #[schema(minimum = 1)]
    installation_id: Option<i64>,
}

/// Follow a GitHub repository
///
/// Registers a repository whose webhook (pointed at
/// `POST /v1/integrations/github/webhooks`, with this secret) reports pushes
/// and pull requests, so traces can be linked to the commit their agent ran.
#[utoipa::path(
    tag = "Integrations",
    operation_id = "create_github_integration",
    security(("bearer" = ["project_settings:write"])),
    request_body = GithubIntegrationCreate,
    responses(
        (status = 201, description = "Registered.", body = RepositoryView,
            links(("DeleteGithubIntegration" = (operation_id = "delete_github_integration", parameters(("integration_id" = "$response.body#/id")))))),
        (status = 400, description = "`repo_full_name` does not look like `owner/repository`."),
        (status = 409, description = "The project follows that repository already."),
    ),
)]
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
    Ok(HttpResponse::Created().json(view(&created)))
}

#[derive(Serialize, ToSchema)]
pub struct GithubIntegrationList {
    pub data: Vec<RepositoryView>,
}

/// List followed GitHub repositories
#[utoipa::path(
    tag = "Integrations",
    operation_id = "list_github_integrations",
    security(("bearer" = ["project_settings:read"])),
    responses((status = 200, description = "The repositories.", body = GithubIntegrationList)),
)]
#[get("/v1/integrations/github")]
pub async fn list(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::PROJECT_SETTINGS_READ)?;
    let mut conn = state.pool.get().await?;
    let all = integrations::repositories(&mut conn, auth.project_id).await?;
    Ok(HttpResponse::Ok().json(GithubIntegrationList {
        data: all.iter().map(view).collect(),
    }))
}

/// Stop following a GitHub repository
///
/// Its webhook deliveries are refused from now on; commits already
/// recorded stay.
#[utoipa::path(
    tag = "Integrations",
    operation_id = "delete_github_integration",
    security(("bearer" = ["project_settings:write"])),
    params(("integration_id" = Uuid, Path, description = "The registration's id.")),
    responses(
        (status = 204, description = "Deleted."),
        (status = 400, description = "`invalid integration_id` (not a UUID)."),
    ),
)]
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

#[derive(ToSchema)]
#[allow(dead_code)] // documentation of `commits`' answer
pub struct GitCommitList {
    /// Newest first.
    data: Vec<GitCommitView>,
}

/// List reported commits
///
/// Commits the project's repositories reported, newest first, each with how
/// many traces ran it.
#[utoipa::path(
    tag = "Integrations",
    operation_id = "list_git_commits",
    security(("bearer" = ["traces:read"])),
    params(
        ("limit" = Option<i64>, Query, minimum = 1, maximum = 500, description = "At most this many (default 50)."),
        ("repo" = Option<String>, Query, description = "Only this repository (`owner/repository`)."),
        ("branch" = Option<String>, Query, description = "Only this branch."),
        ("sha" = Option<String>, Query, pattern = r"^\s*([0-9A-Fa-f]{4,64}\s*)?$", description = "A commit hash or a prefix of it (4 to 64 hex characters)."),
    ),
    responses(
        (status = 200, description = "The commits.", body = GitCommitList),
        (status = 400, description = "`sha` is not 4 to 64 hex characters."),
    ),
)]
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

/// What a webhook delivery did: `push` answers `commits_tracked`,
/// `pull_request` `action` and `pr_number`, `ping` GitHub's `zen`, any
/// other event `status: ignored`.
#[derive(ToSchema)]
#[allow(dead_code)] // documentation of `webhook`'s answer
pub struct GithubWebhookAnswer {
    /// The `X-GitHub-Event`.
    event: String,
    /// `push`: the commits recorded.
    commits_tracked: Option<u64>,
    /// `pull_request`: GitHub's `action` and the pull request's number.
    #[serde(default)]
    action: Value,
    #[serde(default)]
    pr_number: Value,
    /// `ping`: GitHub's saying.
    #[serde(default)]
    zen: Value,
    /// Any other event: `ignored`.
    status: Option<String>,
}

/// Receive a GitHub webhook
///
/// GitHub calls this for the repositories projects follow. Every delivery
/// must be signed (`X-Hub-Signature-256`) with a registered secret of the
/// repository; `push` and `pull_request` record their commits for each
/// project whose secret verifies it. The signature is the credential.
#[utoipa::path(
    tag = "Integrations",
    operation_id = "receive_github_webhook",
    security(()),
    params(
        ("X-GitHub-Event" = String, Header, description = "`push`, `pull_request`, `ping`…"),
        ("X-Hub-Signature-256" = String, Header, description = "`sha256=<hex HMAC-SHA256 of the body under the webhook secret>`."),
    ),
    request_body(content = Object, description = "GitHub's event payload; `repository.full_name` names the repository.", content_type = "application/json"),
    responses(
        (status = 200, description = "Taken.", body = GithubWebhookAnswer),
        (status = 400, description = "No `X-GitHub-Event`, a body that is not JSON, or no `repository.full_name`."),
        (status = 401, description = "No signature, or it matches no registered secret of the repository."),
        (status = 404, description = "No project follows the repository."),
        (status = 413, description = "The body is over 5 MiB."),
    ),
)]
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
        // A plain secret (adopted from the original) is sealed once a key can.
        let resealed = key
            .filter(|_| !sealed::is_sealed(&r.webhook_secret_sealed))
            .map(|k| sealed::seal(&r.webhook_secret_sealed, Some(k)));
        conn.transaction(async |conn| {
            integrations::record_commits(conn, &new).await?;
            integrations::touch_repository(conn, r.id, resealed.as_deref()).await
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
