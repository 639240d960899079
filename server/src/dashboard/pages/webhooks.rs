//! Webhooks and notifications: channels (webhook, Slack, Discord) with the
//! events they subscribe to; signing keys (each secret shown once); the
//! deliveries with status, attempts and the last error, and replay.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::super::format;
use super::super::frame::{Ctx, Frame};
use super::super::session::{see_other, Posted};
use super::super::DashState;
use super::{choices, done_notice, Choice, Errors, Secret};

/// Events a channel can subscribe to, with what they mean.
const EVENTS: [(&str, &str); 14] = [
    ("approval_request", "an approval is requested"),
    ("approval_expired", "an approval expired undecided"),
    ("policy_alert", "an alert policy matched"),
    ("halt_created", "a halt was issued"),
    ("halt_cleared", "a halt was cleared"),
    ("budget_halt", "a budget halted agents"),
    ("budget_alert", "a budget passed its soft limit"),
    ("heartbeat_missed", "an agent went silent"),
    ("incident", "a burst of blocks or errors"),
    ("behavioral_drift", "an agent's behaviour drifted"),
    ("policy_blocked", "a call was blocked"),
    ("policy_steered", "a call was steered"),
    ("policy_throttled", "a call was throttled"),
    ("sdk_integrity_violation", "an SDK's code changed unexpectedly"),
];

pub struct ChannelRow {
    pub id: String,
    pub name: String,
    pub kind: String,
    pub target: String,
    pub events: String,
    pub enabled: bool,
}

pub struct EventBox {
    pub value: &'static str,
    pub label: &'static str,
    pub checked: bool,
}

pub struct KeyRow {
    pub id: String,
    pub prefix: String,
    pub created: String,
}

pub struct DeliveryRow {
    pub id: String,
    pub event: String,
    pub target: String,
    pub status: String,
    pub status_class: &'static str,
    pub attempts: String,
    pub last: String,
    pub error: String,
    pub replayable: bool,
}

#[derive(Template)]
#[template(path = "dashboard/webhooks.html")]
struct WebhooksPage {
    frame: Frame,
    channels: Vec<ChannelRow>,
    keys: Vec<KeyRow>,
    deliveries: Vec<DeliveryRow>,
    can_channels: bool,
    can_keys: bool,
    can_replay: bool,
    errors: Errors,
    name: String,
    url: String,
    kinds: Vec<Choice>,
    events: Vec<EventBox>,
    secret: Option<Secret>,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

struct Draft {
    name: String,
    kind: String,
    url: String,
    events: Vec<String>,
}

fn empty() -> Draft {
    Draft {
        name: String::new(),
        kind: "webhook".into(),
        url: String::new(),
        events: vec!["approval_request".into(), "halt_created".into(), "budget_halt".into()],
    }
}

fn list<'a>(v: &'a Option<Value>, key: &str) -> Vec<&'a Value> {
    v.as_ref()
        .and_then(|v| v[key].as_array())
        .map(|a| a.iter().collect())
        .unwrap_or_default()
}

async fn page(
    ctx: &Ctx,
    st: &DashState,
    draft: Draft,
    errors: Errors,
    secret: Option<Secret>,
) -> Result<String, askama::Error> {
    let (channels, keys, deliveries) = futures::join!(
        ctx.get(st, "/v1/notification-channels"),
        ctx.get(st, "/v1/webhook_signing_keys"),
        ctx.get(st, "/v1/webhook_deliveries?limit=50"),
    );
    let channels = list(&channels, "data")
        .into_iter()
        .map(|c| ChannelRow {
            id: c["id"].as_str().unwrap_or_default().to_owned(),
            name: c["name"].as_str().unwrap_or_default().to_owned(),
            kind: c["channel_type"].as_str().unwrap_or_default().to_owned(),
            target: c["config"]["url"]
                .as_str()
                .or(c["config"]["webhook_url"].as_str())
                .unwrap_or("")
                .to_owned(),
            events: c["events"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", "),
            enabled: c["enabled"].as_bool().unwrap_or(false),
        })
        .collect();
    let keys = list(&keys, "webhook_signing_keys")
        .into_iter()
        .filter(|k| k["revoked_at"].is_null())
        .map(|k| KeyRow {
            id: k["id"].as_str().unwrap_or_default().to_owned(),
            prefix: format!("{}…", k["prefix"].as_str().unwrap_or_default()),
            created: k["created_at"].as_str().map(format::timestamp_str).unwrap_or_default(),
        })
        .collect();
    let deliveries = list(&deliveries, "webhook_deliveries")
        .into_iter()
        .map(|d| {
            let status = d["status"].as_str().unwrap_or_default();
            DeliveryRow {
                id: d["id"].as_str().unwrap_or_default().to_owned(),
                event: d["event"].as_str().unwrap_or_default().to_owned(),
                target: d["url"].as_str().unwrap_or_default().to_owned(),
                status: status.replace('_', " "),
                status_class: match status {
                    "succeeded" => "st-ok",
                    "dlq" | "abandoned" => "st-blocked",
                    "failed_retrying" => "st-steered",
                    _ => "st-other",
                },
                attempts: format!(
                    "{} of {}",
                    d["attempts"].as_i64().unwrap_or(0),
                    d["max_attempts"].as_i64().unwrap_or(0)
                ),
                last: d["last_attempt_at"]
                    .as_str()
                    .map(format::timestamp_str)
                    .unwrap_or_else(|| "not yet".into()),
                error: match (d["last_response_status"].as_i64(), d["last_error"].as_str()) {
                    (Some(code), Some(e)) => format!("HTTP {code}: {e}"),
                    (Some(code), None) => format!("HTTP {code}"),
                    (None, Some(e)) => e.to_owned(),
                    _ => String::new(),
                },
                replayable: matches!(status, "dlq" | "abandoned"),
            }
        })
        .collect();
    WebhooksPage {
        frame: ctx.frame("Webhooks", "/webhooks"),
        channels,
        keys,
        deliveries,
        can_channels: ctx.can("project_settings:write"),
        can_keys: ctx.can("webhook_signing_keys:write"),
        can_replay: ctx.can("webhook_deliveries:write"),
        errors,
        name: draft.name,
        url: draft.url,
        kinds: choices(
            [("webhook", "Webhook"), ("slack", "Slack"), ("discord", "Discord")],
            &draft.kind,
        ),
        events: EVENTS
            .iter()
            .map(|(value, label)| EventBox {
                value,
                label,
                checked: draft.events.iter().any(|e| e == value),
            })
            .collect(),
        secret,
    }
    .render()
}

pub async fn show(req: HttpRequest, st: web::Data<DashState>, q: web::Query<Done>) -> HttpResponse {
    let ctx = signed_in!(req, st);
    ctx.extend_notices(done_notice(q.done.as_deref()));
    let body = page(&ctx, &st, empty(), Errors::default(), None).await;
    ctx.respond(body)
}

pub async fn create_channel(req: HttpRequest, st: web::Data<DashState>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let draft = Draft {
        name: posted.get("name").unwrap_or_default().to_owned(),
        kind: posted.get("channel_type").unwrap_or("webhook").to_owned(),
        url: posted.get("url").unwrap_or_default().to_owned(),
        events: posted.all("events").iter().map(|e| e.to_string()).collect(),
    };
    let key = if draft.kind == "webhook" { "url" } else { "webhook_url" };
    let body = json!({
        "channel_type": draft.kind, "name": draft.name, "config": {key: draft.url},
        "events": draft.events, "enabled": true,
    });
    match st.api.post(&ctx.caller, "/v1/notification-channels", &body).await {
        Ok(_) => see_other("/webhooks?done=channel-saved"),
        Err(f) => {
            let errors = Errors::from_failure(&f);
            ctx.refused(&f, page(&ctx, &st, draft, errors, None).await)
        }
    }
}

pub async fn channel_action(
    req: HttpRequest,
    st: web::Data<DashState>,
    path: web::Path<(String, String)>,
    _posted: Posted,
) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let (id, what) = path.into_inner();
    let id: String = id
        .chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .take(36)
        .collect();
    let (method, body, done) = match what.as_str() {
        "enable" => (Method::PATCH, Some(json!({"enabled": true})), "channel-saved"),
        "disable" => (Method::PATCH, Some(json!({"enabled": false})), "channel-saved"),
        "delete" => (Method::DELETE, None, "channel-deleted"),
        _ => return see_other("/webhooks"),
    };
    let path = format!("/v1/notification-channels/{id}");
    match st.api.send(&ctx.caller, method, &path, body.as_ref(), &[]).await {
        Ok(_) => see_other(&format!("/webhooks?done={done}")),
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, page(&ctx, &st, empty(), Errors::default(), None).await)
        }
    }
}

pub async fn create_key(req: HttpRequest, st: web::Data<DashState>, _posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    match st.api.post(&ctx.caller, "/v1/webhook_signing_keys", &json!({})).await {
        Ok(k) => {
            let secret = Secret {
                heading: "Signing key created".into(),
                value: k["secret"].as_str().unwrap_or_default().to_owned(),
                note: "Give this secret to the receiving services so they can verify Strathon's signatures. It is shown only this once.".into(),
            };
            let body = page(&ctx, &st, empty(), Errors::default(), Some(secret)).await;
            ctx.respond(body)
        }
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, page(&ctx, &st, empty(), Errors::default(), None).await)
        }
    }
}

pub async fn revoke_key(
    req: HttpRequest,
    st: web::Data<DashState>,
    path: web::Path<String>,
    _posted: Posted,
) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let id: String = path
        .chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .take(36)
        .collect();
    match st
        .api
        .send(
            &ctx.caller,
            Method::DELETE,
            &format!("/v1/webhook_signing_keys/{id}"),
            None,
            &[],
        )
        .await
    {
        Ok(_) => see_other("/webhooks?done=signing-key-revoked"),
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, page(&ctx, &st, empty(), Errors::default(), None).await)
        }
    }
}

pub async fn replay(
    req: HttpRequest,
    st: web::Data<DashState>,
    path: web::Path<String>,
    _posted: Posted,
) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let id: String = path
        .chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .take(36)
        .collect();
    match st
        .api
        .post(&ctx.caller, &format!("/v1/webhook_deliveries/{id}/replay"), &json!({}))
        .await
    {
        Ok(_) => see_other("/webhooks?done=delivery-replayed"),
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, page(&ctx, &st, empty(), Errors::default(), None).await)
        }
    }
}
