//! Approvals: pending requests as cards (policy, agent, tool and arguments,
//! a link to the span, N-of-M progress and a live expiry countdown) with
//! approve and deny, and the history by status. The pending view refreshes
//! itself, so a new request appears without a reload.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;
use serde::Deserialize;
use serde_json::{json, Value};

use super::super::format;
use super::super::frame::{Ctx, Frame};
use super::super::session::{see_other, Posted};
use super::super::DashState;
use super::{choices, done_notice, query, Choice};

pub struct Card {
    pub id: String,
    pub policy: String,
    pub agent: String,
    pub tool: String,
    pub args: String,
    pub span_href: Option<String>,
    pub progress: String,
    pub expires_at: String,
    pub expires_in: String,
    pub requested: String,
    pub status: String,
    pub resolved_by: String,
}

#[derive(Template)]
#[template(path = "dashboard/approvals.html")]
struct ApprovalsPage {
    frame: Frame,
    statuses: Vec<Choice>,
    pending_view: bool,
    cards: Vec<Card>,
    can_decide: bool,
}

#[derive(Deserialize)]
pub struct Filter {
    status: Option<String>,
    done: Option<String>,
}

fn card(a: &Value, now: chrono::DateTime<Utc>) -> Card {
    let text = |k: &str| a[k].as_str().unwrap_or("—").to_owned();
    let expires = a["expires_at"].as_str().and_then(format::parse_time);
    Card {
        id: text("id"),
        policy: text("policy_name"),
        agent: text("agent_name"),
        tool: text("tool_name"),
        args: a["tool_args"]
            .as_str()
            .map(|raw| {
                serde_json::from_str::<Value>(raw)
                    .ok()
                    .and_then(|v| serde_json::to_string_pretty(&v).ok())
                    .unwrap_or_else(|| raw.to_owned())
            })
            .unwrap_or_default(),
        span_href: match (a["trace_id"].as_str(), a["span_id"].as_str()) {
            (Some(t), Some(s)) => Some(format!("/traces/{t}?{}#span-panel", query(&[("span", s)]))),
            _ => None,
        },
        progress: format!(
            "{} of {} approvals",
            a["current_approvals"].as_i64().unwrap_or(0),
            a["approvers_required"].as_i64().unwrap_or(1)
        ),
        expires_at: a["expires_at"].as_str().unwrap_or_default().to_owned(),
        expires_in: expires
            .map(|t| {
                let left = (t - now).num_seconds();
                if left <= 0 {
                    "expired".to_owned()
                } else {
                    format!("{} left", format::duration_ms(left as f64 * 1000.0))
                }
            })
            .unwrap_or_default(),
        requested: a["requested_at"]
            .as_str()
            .map(format::timestamp_str)
            .unwrap_or_default(),
        status: text("status"),
        resolved_by: a["resolved_by"].as_str().unwrap_or_default().to_owned(),
    }
}

async fn page(ctx: &Ctx, st: &DashState, status: &str) -> Result<String, askama::Error> {
    let path = match status {
        "all" => "/v1/approvals?limit=200".to_owned(),
        s => format!("/v1/approvals?{}", query(&[("status_filter", s), ("limit", "200")])),
    };
    let listed = ctx.get(st, path).await;
    let now = Utc::now();
    let mut frame = ctx.frame("Approvals", "/approvals");
    frame.live = status == "pending";
    ApprovalsPage {
        frame,
        statuses: choices(
            [
                ("pending", "Pending"),
                ("approved", "Approved"),
                ("denied", "Denied"),
                ("expired", "Expired"),
                ("all", "All"),
            ],
            status,
        ),
        pending_view: status == "pending",
        cards: listed
            .as_ref()
            .and_then(|l| l["approvals"].as_array())
            .into_iter()
            .flatten()
            .map(|a| card(a, now))
            .collect(),
        can_decide: ctx.can("policies:write"),
    }
    .render()
}

fn status_of(q: &Option<String>) -> &str {
    match q.as_deref() {
        Some(s @ ("approved" | "denied" | "expired" | "all")) => s,
        _ => "pending",
    }
}

pub async fn list(req: HttpRequest, st: web::Data<DashState>, q: web::Query<Filter>) -> HttpResponse {
    let ctx = signed_in!(req, st);
    ctx.extend_notices(done_notice(q.done.as_deref()));
    let body = page(&ctx, &st, status_of(&q.status)).await;
    ctx.respond(body)
}

pub async fn decide(
    req: HttpRequest,
    st: web::Data<DashState>,
    path: web::Path<(String, String)>,
    _posted: Posted,
) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let (id, decision) = path.into_inner();
    let id: String = id
        .chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .take(36)
        .collect();
    let (verb, done) = match decision.as_str() {
        "approve" => ("approve", "approved"),
        "deny" => ("deny", "denied"),
        _ => return see_other("/approvals"),
    };
    match st
        .api
        .post(&ctx.caller, &format!("/v1/approvals/{id}/{verb}"), &json!({}))
        .await
    {
        Ok(_) => see_other(&format!("/approvals?done={done}")),
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, page(&ctx, &st, "pending").await)
        }
    }
}
