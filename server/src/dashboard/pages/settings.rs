//! Project settings: the name, what happens to calls no policy decides,
//! trace retention, PII redaction and content capture.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::super::frame::{Ctx, Frame};
use super::super::session::{see_other, Posted};
use super::super::DashState;
use super::{choices, done_notice, Choice, Errors};

#[derive(Template)]
#[template(path = "dashboard/settings.html")]
struct SettingsPage {
    frame: Frame,
    name: String,
    slug: String,
    actions: Vec<Choice>,
    retention: String,
    pii: bool,
    capture: bool,
    can_write: bool,
    errors: Errors,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

struct Values {
    name: String,
    action: String,
    retention: String,
    pii: bool,
    capture: bool,
}

async fn page(ctx: &Ctx, st: &DashState, edited: Option<Values>, errors: Errors) -> Result<String, askama::Error> {
    let current = ctx.get(st, "/v1/settings").await.unwrap_or(Value::Null);
    let v = edited.unwrap_or_else(|| Values {
        name: current["project_name"].as_str().unwrap_or_default().to_owned(),
        action: current["intervention_default_action"]
            .as_str()
            .unwrap_or("allow")
            .to_owned(),
        retention: current["retention"]["traces_days"].to_string(),
        pii: current["pii_redaction_enabled"].as_bool().unwrap_or(true),
        capture: current["content_capture_enabled"].as_bool().unwrap_or(false),
    });
    SettingsPage {
        frame: ctx.frame("Settings", "/settings"),
        slug: current["project_slug"].as_str().unwrap_or_default().to_owned(),
        name: v.name,
        actions: choices(
            [
                ("allow", "Allow them (policies only block what they match)"),
                ("block", "Block them (allow-list mode: only what a policy allows runs)"),
            ],
            &v.action,
        ),
        retention: v.retention,
        pii: v.pii,
        capture: v.capture,
        can_write: ctx.can("project_settings:write"),
        errors,
    }
    .render()
}

pub async fn show(req: HttpRequest, st: web::Data<DashState>, q: web::Query<Done>) -> HttpResponse {
    let ctx = signed_in!(req, st);
    ctx.extend_notices(done_notice(q.done.as_deref()));
    let body = page(&ctx, &st, None, Errors::default()).await;
    ctx.respond(body)
}

pub async fn save(req: HttpRequest, st: web::Data<DashState>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let v = Values {
        name: posted.get("project_name").unwrap_or_default().to_owned(),
        action: posted.get("intervention_default_action").unwrap_or("allow").to_owned(),
        retention: posted.get("traces_days").unwrap_or_default().to_owned(),
        pii: posted.get("pii_redaction_enabled").is_some(),
        capture: posted.get("content_capture_enabled").is_some(),
    };
    let days = v
        .retention
        .parse::<i64>()
        .map(Value::from)
        .unwrap_or_else(|_| Value::from(v.retention.clone()));
    let body = json!({
        "project_name": v.name, "intervention_default_action": v.action, "retention": {"traces_days": days},
        "pii_redaction_enabled": v.pii, "content_capture_enabled": v.capture,
    });
    match st
        .api
        .send(&ctx.caller, Method::PATCH, "/v1/settings", Some(&body), &[])
        .await
    {
        Ok(_) => see_other("/settings?done=settings-saved"),
        Err(f) => {
            let errors = Errors::beside(&f, |m| {
                if m.contains("retention") {
                    "traces_days"
                } else if m.contains("intervention_default_action") {
                    "intervention_default_action"
                } else {
                    "project_name"
                }
            });
            ctx.refused(&f, page(&ctx, &st, Some(v), errors).await)
        }
    }
}
