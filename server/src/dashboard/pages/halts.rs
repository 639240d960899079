//! Halts: stop the whole project or one agent with a reason, see who halted
//! what, why and since when (budget halts name their budget), and clear.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use chrono::Utc;
use reqwest::Method;
use serde::Deserialize;
use serde_json::{json, Value};

use super::super::client::Failure;
use super::super::format;
use super::super::frame::{Ctx, Frame};
use super::super::session::{see_other, Posted};
use super::super::DashState;
use super::{done_notice, Errors};

pub struct Row {
    pub id: i64,
    pub target: String,
    pub reason: String,
    pub who: String,
    pub since: String,
    pub since_at: String,
    pub budget: Option<(String, String)>,
}

#[derive(Template)]
#[template(path = "dashboard/halts.html")]
struct HaltsPage {
    frame: Frame,
    rows: Vec<Row>,
    can_write: bool,
    errors: Errors,
    scope: String,
    agent: String,
    reason: String,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

async fn page(
    ctx: &Ctx,
    st: &DashState,
    errors: Errors,
    form: (String, String, String),
) -> Result<String, askama::Error> {
    let (halts, budgets) = futures::join!(
        ctx.get(st, "/v1/halts?limit=200"),
        ctx.get(st, "/v1/budgets?include_inactive=true")
    );
    let budget_name = |id: &str| {
        budgets
            .as_ref()
            .and_then(|b| b["budgets"].as_array())
            .and_then(|all| all.iter().find(|b| b["id"] == id))
            .and_then(|b| b["name"].as_str())
            .unwrap_or("a budget")
            .to_owned()
    };
    let now = Utc::now();
    let rows = halts
        .as_ref()
        .and_then(|h| h["halts"].as_array())
        .into_iter()
        .flatten()
        .map(|h: &Value| {
            let since = h["set_at"].as_str().and_then(format::parse_time);
            let budget = h["budget_id"]
                .as_str()
                .map(|id| (budget_name(id), format!("/budgets/{id}")));
            Row {
                id: h["id"].as_i64().unwrap_or(0),
                target: match h["scope"].as_str() {
                    Some("agent") => format!("agent {}", h["scope_value"].as_str().unwrap_or("?")),
                    _ => "the whole project".into(),
                },
                reason: h["reason"].as_str().unwrap_or_default().to_owned(),
                who: match (h["actor"].as_str(), h["issued_by"].as_str()) {
                    (Some("budget_monitor"), _) => "the budget monitor".into(),
                    (_, Some(who)) if !who.is_empty() => who.to_owned(),
                    (actor, _) => actor.unwrap_or("unknown").to_owned(),
                },
                since: since.map(|t| format::ago(t, now)).unwrap_or_default(),
                since_at: since.map(format::timestamp).unwrap_or_default(),
                budget,
            }
        })
        .collect();
    HaltsPage {
        frame: ctx.frame("Halts", "/halts"),
        rows,
        can_write: ctx.can("halts:write"),
        errors,
        scope: form.0,
        agent: form.1,
        reason: form.2,
    }
    .render()
}

pub async fn list(req: HttpRequest, st: web::Data<DashState>, q: web::Query<Done>) -> HttpResponse {
    let ctx = signed_in!(req, st);
    ctx.extend_notices(done_notice(q.done.as_deref()));
    let body = page(
        &ctx,
        &st,
        Errors::default(),
        ("agent".into(), String::new(), String::new()),
    )
    .await;
    ctx.respond(body)
}

pub async fn create(req: HttpRequest, st: web::Data<DashState>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let scope = posted.get("scope").unwrap_or("agent").to_owned();
    let agent = posted.get("agent").unwrap_or_default().to_owned();
    let reason = posted.get("reason").unwrap_or_default().to_owned();
    let mut body = json!({"scope": scope, "reason": reason});
    if scope == "agent" {
        body["scope_value"] = json!(agent);
    }
    match st.api.post(&ctx.caller, "/v1/halts", &body).await {
        Ok(_) => see_other("/halts?done=halt-created"),
        Err(f) => {
            let errors = halt_errors(&f);
            ctx.refused(&f, page(&ctx, &st, errors, (scope, agent, reason)).await)
        }
    }
}

/// Halt errors beside their fields: the agent, or the reason.
fn halt_errors(f: &Failure) -> Errors {
    Errors::beside(f, |message| {
        if message.contains("scope_value") {
            "agent"
        } else {
            "reason"
        }
    })
}

pub async fn clear(req: HttpRequest, st: web::Data<DashState>, path: web::Path<i64>, _posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let id = path.into_inner();
    match st
        .api
        .send(&ctx.caller, Method::DELETE, &format!("/v1/halts/{id}"), None, &[])
        .await
    {
        Ok(_) => see_other("/halts?done=halt-cleared"),
        Err(f) => {
            ctx.note(&f);
            let body = page(
                &ctx,
                &st,
                Errors::default(),
                ("agent".into(), String::new(), String::new()),
            )
            .await;
            ctx.refused(&f, body)
        }
    }
}
