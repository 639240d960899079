//! `POST /v1/integrations/slack/actions`: the Approve and Deny buttons on
//! approval requests sent to Slack channels. Slack signs each press
//! (`X-Slack-Signature`, HMAC-SHA256 with the app's signing secret over
//! `v0:<timestamp>:<body>`); a press is taken only with a valid signature,
//! a timestamp within five minutes, and a signature not seen before. It
//! then votes as that Slack user, exactly as the REST endpoints do, and is
//! audited under them.

use actix_web::post;
use actix_web::{web, HttpRequest, HttpResponse};
use futures::StreamExt as _;
use ring::hmac;
use serde_json::Value;
use strathon_schema::{approvals, integrations};
use uuid::Uuid;

use crate::auth::{Auth, Principal, RequestMeta};
use crate::error::ApiError;
use crate::state::AppState;

/// Slack's replay window.
const WINDOW_SECONDS: i64 = 300;
const MAX_BODY: usize = 1 << 20;

/// Whether `signature` is Slack's for `body` sent at `timestamp`.
pub fn verify(secret: &str, timestamp: &str, body: &[u8], signature: &str) -> bool {
    let Some(tag) = signature.trim().strip_prefix("v0=").and_then(|h| hex::decode(h).ok()) else {
        return false;
    };
    let mut base = format!("v0:{timestamp}:").into_bytes();
    base.extend_from_slice(body);
    hmac::verify(&hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes()), &base, &tag).is_ok()
}

/// A verified press: who pressed what, for which approval.
#[derive(Debug, PartialEq)]
pub struct Press {
    pub team_id: String,
    pub user_id: String,
    pub user_name: String,
    pub decision: &'static str,
    pub approval_id: Uuid,
}

/// Reads Slack's `payload` form field (a `block_actions` interaction).
pub fn press(form_body: &[u8]) -> Result<Press, String> {
    let form: Vec<(String, String)> =
        serde_urlencoded::from_bytes(form_body).map_err(|e| format!("the body is not a form: {e}"))?;
    let raw = form
        .iter()
        .find(|(k, _)| k == "payload")
        .map(|(_, v)| v)
        .ok_or("the form has no payload field")?;
    let payload: Value = serde_json::from_str(raw).map_err(|e| format!("payload is not JSON: {e}"))?;
    if payload.get("type").and_then(Value::as_str) != Some("block_actions") {
        return Err("only block_actions interactions are handled".into());
    }
    let text = |pointer: &str| payload.pointer(pointer).and_then(Value::as_str).map(str::to_owned);
    let user_id = text("/user/id").ok_or("payload has no user.id")?;
    let user_name = text("/user/username")
        .or_else(|| text("/user/name"))
        .unwrap_or_else(|| user_id.clone());
    let team_id = text("/team/id").or_else(|| text("/user/team_id")).unwrap_or_default();
    let action = payload.pointer("/actions/0").ok_or("payload has no actions")?;
    let decision = match action.get("action_id").and_then(Value::as_str) {
        Some("strathon_approve") => "approved",
        Some("strathon_deny") => "denied",
        other => return Err(format!("unknown action {other:?}")),
    };
    let value: Value = action
        .get("value")
        .and_then(Value::as_str)
        .and_then(|v| serde_json::from_str(v).ok())
        .ok_or("the button carries no value")?;
    let approval_id = value
        .get("approval_id")
        .and_then(Value::as_str)
        .and_then(|id| Uuid::parse_str(id).ok())
        .ok_or("the button names no approval")?;
    Ok(Press {
        team_id,
        user_id,
        user_name,
        decision,
        approval_id,
    })
}

/// What Slack posts for a button press.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: `press` reads the form
pub struct SlackActionForm {
    /// A `block_actions` interaction as JSON: `user`, `team` and the pressed
    /// action (`strathon_approve` or `strathon_deny`, its value naming the
    /// approval).
    payload: String,
}

/// Receive a Slack button press
///
/// The Approve and Deny buttons on approval requests sent to Slack. A press
/// is taken only with a valid Slack signature, a timestamp within five
/// minutes and a signature not seen before; it then votes as that Slack
/// user, as the REST endpoints do. Needs `STRATHON_SLACK_SIGNING_SECRET`
/// (else 400 saying so). The signature is the credential.
#[utoipa::path(
    tag = "Integrations",
    operation_id = "receive_slack_action",
    security(()),
    params(
        ("X-Slack-Request-Timestamp" = Option<String>, Header, description = "Unix seconds; required (403 without it or when older than five minutes)."),
        ("X-Slack-Signature" = Option<String>, Header, description = "`v0=<hex HMAC-SHA256 of v0:<timestamp>:<body>>`; required (403 without it or when wrong)."),
    ),
    request_body(content = SlackActionForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The vote was recorded (empty body)."),
        (status = 400, description = "The form or its payload is not a known button press, or no signing secret is configured."),
        (status = 403, description = "The signature is missing, wrong, stale or replayed."),
        (status = 404, description = "The approval is unknown or already resolved."),
        (status = 413, description = "The body is over 1 MiB."),
    ),
)]
#[post("/v1/integrations/slack/actions")]
pub async fn actions(
    req: HttpRequest,
    state: web::Data<AppState>,
    mut payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let secret = state.config.integrations.slack_secret().ok_or_else(|| {
        ApiError::BadRequest("Slack actions are not configured: set STRATHON_SLACK_SIGNING_SECRET".into())
    })?;
    let header = |name: &str| req.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (Some(timestamp), Some(signature)) = (header("x-slack-request-timestamp"), header("x-slack-signature")) else {
        return Err(ApiError::Forbidden(
            "missing X-Slack-Request-Timestamp or X-Slack-Signature".into(),
        ));
    };
    let sent: i64 = timestamp
        .trim()
        .parse()
        .map_err(|_| ApiError::Forbidden("X-Slack-Request-Timestamp is not a number".into()))?;
    // `abs_diff`: a timestamp near i64::MIN would overflow a subtraction.
    if chrono::Utc::now().timestamp().abs_diff(sent) > WINDOW_SECONDS.unsigned_abs() {
        return Err(ApiError::Forbidden(
            "the Slack request is older than five minutes (or from the future)".into(),
        ));
    }
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|e| ApiError::BadRequest(format!("could not read the request body: {e}")))?;
        if body.len() + chunk.len() > MAX_BODY {
            return Err(ApiError::PayloadTooLarge(format!(
                "Payload too large (max {MAX_BODY} bytes)"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    if !verify(secret, timestamp.trim(), &body, &signature) {
        return Err(ApiError::Forbidden("invalid Slack signature".into()));
    }
    let mut conn = state.pool.get().await?;
    if !integrations::first_slack_receipt(&mut conn, signature.trim()).await? {
        return Err(ApiError::Forbidden("this Slack request was already received".into()));
    }
    let press = press(&body).map_err(ApiError::BadRequest)?;
    let approval = approvals::find_any(&mut conn, press.approval_id)
        .await?
        .ok_or_else(|| ApiError::NotFound("approval not found or already resolved".into()))?;
    let auth = Auth::integration(
        approval.project_id,
        Principal::Slack {
            team_id: press.team_id.clone(),
            user_id: press.user_id.clone(),
            user_name: press.user_name.clone(),
        },
        RequestMeta::of(&req),
    );
    let decided = crate::decisions::decide(&mut conn, &auth, approval.id, press.decision).await?;
    tracing::info!(approval_id = %decided.id, slack_user = %press.user_name, decision = press.decision, status = %decided.status, "Slack approval button");
    Ok(HttpResponse::Ok().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slack_signatures_follow_slacks_example() {
        // The worked example in Slack's "Verifying requests from Slack".
        let secret = "8f742231b10e8888abcd99yyyzzz85a5";
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let good = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert!(verify(secret, "1531420618", body, good));
        assert!(!verify(secret, "1531420619", body, good));
        assert!(!verify("another secret", "1531420618", body, good));
        assert!(!verify(secret, "1531420618", body, "v1=abc"));
    }

    #[test]
    fn presses_are_read_from_the_payload_field() {
        let id = Uuid::new_v4();
        let payload = serde_json::json!({
            "type": "block_actions", "team": {"id": "T1"}, "user": {"id": "U7", "username": "ada"},
            "actions": [{"action_id": "strathon_deny", "value": format!("{{\"approval_id\":\"{id}\"}}")}],
        });
        let form = serde_urlencoded::to_string([("payload", payload.to_string())]).unwrap();
        assert_eq!(
            press(form.as_bytes()).unwrap(),
            Press {
                team_id: "T1".into(),
                user_id: "U7".into(),
                user_name: "ada".into(),
                decision: "denied",
                approval_id: id
            }
        );
        assert!(press(b"payload=%7B%7D").unwrap_err().contains("block_actions"));
        assert!(press(b"nothing=1").unwrap_err().contains("no payload"));
    }
}
