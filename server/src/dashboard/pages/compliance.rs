//! Compliance: the EU AI Act evidence report as JSON or SARIF, and the
//! project's data as a JSON or CSV download.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use reqwest::Method;
use serde_json::{json, Value};

use super::super::frame::{Ctx, Frame};
use super::super::session::Posted;
use super::super::DashState;
use super::{choices, download, Choice};

const DATASETS: [(&str, &str); 8] = [
    ("policies", "Policies"),
    ("traces", "Traces"),
    ("spans", "Spans"),
    ("approvals", "Approvals"),
    ("agents", "Agents"),
    ("audit", "Audit events"),
    ("budgets", "Budgets"),
    ("compliance", "Compliance report"),
];

pub struct Article {
    pub name: String,
    pub compliant: bool,
}

#[derive(Template)]
#[template(path = "dashboard/compliance.html")]
struct CompliancePage {
    frame: Frame,
    articles: Vec<Article>,
    recommendations: Vec<String>,
    can_export: bool,
    datasets: Vec<Choice>,
    ranges: Vec<Choice>,
}

async fn page(ctx: &Ctx, st: &DashState) -> Result<String, askama::Error> {
    let can_export = ctx.can("data:export");
    // The report is a POST (it is an export), read without recording a
    // failure: the page works without it.
    let report = match can_export {
        true => st
            .api
            .post(&ctx.caller, "/v1/compliance/export", &json!({"format": "json"}))
            .await
            .ok(),
        false => None,
    };
    CompliancePage {
        frame: ctx.frame("Compliance", "/compliance"),
        articles: report
            .as_ref()
            .and_then(|r| r["articles"].as_object())
            .into_iter()
            .flatten()
            .map(|(k, v)| Article {
                name: k.replace('_', " "),
                compliant: v["compliant"] == true,
            })
            .collect(),
        recommendations: report
            .as_ref()
            .and_then(|r| r["recommendations"].as_array())
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        can_export,
        datasets: DATASETS
            .iter()
            .map(|(v, l)| Choice {
                value: v.to_string(),
                label: l.to_string(),
                selected: true,
            })
            .collect(),
        ranges: choices(
            [
                ("24h", "Last 24 hours"),
                ("7d", "Last 7 days"),
                ("30d", "Last 30 days"),
                ("90d", "Last 90 days"),
                ("1y", "Last year"),
                ("all", "Everything"),
            ],
            "7d",
        ),
    }
    .render()
}

pub async fn show(req: HttpRequest, st: web::Data<DashState>) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let body = page(&ctx, &st).await;
    ctx.respond(body)
}

pub async fn report(req: HttpRequest, st: web::Data<DashState>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let format = if posted.get("format") == Some("sarif") {
        "sarif"
    } else {
        "json"
    };
    let body = json!({"format": format});
    match st
        .api
        .raw(&ctx.caller, Method::POST, "/v1/compliance/export", Some(&body), &[])
        .await
    {
        Ok(raw) => {
            let name = if format == "sarif" {
                "strathon-compliance.sarif"
            } else {
                "strathon-compliance.json"
            };
            download(name, &raw.content_type, raw.body)
        }
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, page(&ctx, &st).await)
        }
    }
}

pub async fn data(req: HttpRequest, st: web::Data<DashState>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let body = json!({
        "datasets": posted.all("datasets"),
        "time_range": posted.get("time_range").unwrap_or("7d"),
        "format": if posted.get("format") == Some("csv") { "csv" } else { "json" },
    });
    match st
        .api
        .raw(&ctx.caller, Method::POST, "/v1/export", Some(&body), &[])
        .await
    {
        Ok(raw) => {
            let name = raw
                .disposition
                .as_deref()
                .and_then(|d| d.split("filename=\"").nth(1))
                .and_then(|n| n.split('"').next())
                .filter(|n| n.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
                .unwrap_or("strathon-export")
                .to_owned();
            download(&name, &raw.content_type, raw.body)
        }
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, page(&ctx, &st).await)
        }
    }
}
