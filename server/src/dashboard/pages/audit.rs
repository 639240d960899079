//! Audit: events with filters, per-event verification, and the whole
//! chain's verification with the Merkle anchors and their status. A
//! tampered row shows as a failure that names the event, never as a blank.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;
use serde_json::Value;

use super::super::format;
use super::super::frame::{Ctx, Frame};
use super::super::DashState;
use super::{choices, query, window_start, Choice, WINDOWS};

const CATEGORIES: [(&str, &str); 13] = [
    ("", "Any"),
    ("policy", "policy"),
    ("halt", "halt"),
    ("budget", "budget"),
    ("approval", "approval"),
    ("api_key", "api_key"),
    ("auth", "auth"),
    ("user", "user"),
    ("member", "member"),
    ("project", "project"),
    ("project_settings", "project_settings"),
    ("audit", "audit"),
    ("webhook", "webhook"),
];

#[derive(Deserialize, Default)]
pub struct Filter {
    #[serde(default)]
    category: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    actor: String,
    #[serde(default)]
    outcome: String,
    #[serde(default)]
    window: String,
    #[serde(default)]
    cursor: String,
    #[serde(default)]
    verify: String,
}

pub struct Row {
    pub id: String,
    pub sequence: i64,
    pub when: String,
    pub action: String,
    pub actor: String,
    pub outcome: String,
    pub resource: String,
    pub verify_href: String,
    /// Set for the event the user asked to verify.
    pub verdict: Option<(bool, String)>,
}

pub struct Chain {
    pub valid: bool,
    pub events: String,
    pub anchors: String,
    pub problem: String,
}

pub struct Anchor {
    pub at: String,
    pub last_sequence: i64,
    pub events: i64,
    pub root: String,
}

#[derive(Template)]
#[template(path = "dashboard/audit.html")]
struct AuditPage {
    frame: Frame,
    categories: Vec<Choice>,
    outcomes: Vec<Choice>,
    windows: Vec<Choice>,
    action: String,
    actor: String,
    rows: Vec<Row>,
    next_href: Option<String>,
    chain: Option<Chain>,
    anchored: String,
    anchors: Vec<Anchor>,
}

/// A SCIM string literal: quotes and backslashes escaped.
fn literal(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

/// The filter expression `/v1/audit/events` takes, from the form.
pub fn scim(f: &Filter, since: Option<String>) -> String {
    let mut parts = Vec::new();
    if !f.category.is_empty() {
        parts.push(format!("action_category eq {}", literal(&f.category)));
    }
    if !f.action.trim().is_empty() {
        parts.push(format!("action co {}", literal(f.action.trim())));
    }
    if !f.actor.trim().is_empty() {
        let a = literal(f.actor.trim());
        parts.push(format!("(actor_id eq {a} or actor_display co {a})"));
    }
    if !f.outcome.is_empty() {
        parts.push(format!("outcome eq {}", literal(&f.outcome)));
    }
    if let Some(since) = since {
        parts.push(format!("occurred_at ge {}", literal(&since)));
    }
    parts.join(" and ")
}

async fn page(ctx: &Ctx, st: &DashState, f: Filter, check_chain: bool) -> Result<String, askama::Error> {
    let window = if f.window.is_empty() {
        "7d".to_owned()
    } else {
        f.window.clone()
    };
    let since = window_start(&window).map(|ns| chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339());
    let filter = scim(&f, since);
    let events_path = format!(
        "/v1/audit/events?{}",
        query(&[("filter", &filter), ("cursor", &f.cursor), ("limit", "50")])
    );
    let verify = f
        .verify
        .chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .take(36)
        .collect::<String>();
    let (events, verdict, chain, status, anchors) = futures::join!(
        ctx.get(st, events_path),
        async {
            match verify.is_empty() {
                true => None,
                false => ctx.get(st, format!("/v1/audit/events/{verify}/verify")).await,
            }
        },
        async {
            match check_chain {
                true => ctx.get(st, "/v1/audit/verify").await,
                false => None,
            }
        },
        ctx.get(st, "/v1/audit/anchors/status"),
        ctx.get(st, "/v1/audit/anchors?limit=10"),
    );
    let keep: Vec<(&str, &str)> = vec![
        ("category", f.category.as_str()),
        ("action", f.action.as_str()),
        ("actor", f.actor.as_str()),
        ("outcome", f.outcome.as_str()),
        ("window", window.as_str()),
    ];
    let rows = events
        .as_ref()
        .and_then(|e| e["data"].as_array())
        .into_iter()
        .flatten()
        .map(|e: &Value| {
            let id = e["id"].as_str().unwrap_or_default().to_owned();
            let mut link = keep.clone();
            link.push(("cursor", f.cursor.as_str()));
            link.push(("verify", id.as_str()));
            Row {
                verify_href: format!("/audit?{}#event-{id}", query(&link)),
                verdict: (id == verify).then(|| match &verdict {
                    Some(v) if v["valid"] == true => (true, "The event's HMAC matches: it is as written.".to_owned()),
                    Some(v) => (
                        false,
                        format!(
                            "Verification failed: {}. The stored event does not match its signature.",
                            v["error"].as_str().unwrap_or("the HMAC does not match")
                        ),
                    ),
                    None => (false, "Verification could not run.".to_owned()),
                }),
                sequence: e["sequence_no"].as_i64().unwrap_or(0),
                when: e["occurred_at"].as_str().map(format::timestamp_str).unwrap_or_default(),
                action: e["action"].as_str().unwrap_or_default().to_owned(),
                actor: format!(
                    "{} {}",
                    e["actor"]["type"].as_str().unwrap_or_default(),
                    e["actor"]["display"]
                        .as_str()
                        .or(e["actor"]["id"].as_str())
                        .unwrap_or_default()
                ),
                outcome: e["outcome"].as_str().unwrap_or_default().to_owned(),
                resource: format!(
                    "{} {}",
                    e["resource"]["type"].as_str().unwrap_or_default(),
                    e["resource"]["id"].as_str().unwrap_or_default()
                ),
                id,
            }
        })
        .collect();
    let next_href = events.as_ref().and_then(|e| e["next_cursor"].as_str()).map(|c| {
        let mut next = keep.clone();
        next.push(("cursor", c));
        format!("/audit?{}", query(&next))
    });
    let chain = chain.map(|c| Chain {
        valid: c["valid"] == true,
        events: format::count(c["events_checked"].as_i64().unwrap_or(0)),
        anchors: format::count(c["anchors_checked"].as_i64().unwrap_or(0)),
        problem: match (&c["first_broken"], &c["first_bad_anchor"]) {
            (b, _) if b.is_object() => format!(
                "The chain breaks at event #{} ({}): {}.",
                b["sequence_no"],
                b["event_id"].as_str().unwrap_or_default(),
                b["problem"].as_str().unwrap_or("it does not verify")
            ),
            (_, a) if a.is_object() => format!(
                "The anchor of {} (up to event #{}) does not match the events it sealed.",
                a["anchor_at"].as_str().map(format::timestamp_str).unwrap_or_default(),
                a["last_sequence"]
            ),
            _ => String::new(),
        },
    });
    AuditPage {
        frame: ctx.frame("Audit log", "/audit"),
        categories: choices(CATEGORIES, &f.category),
        outcomes: choices(
            [("", "Any"), ("allow", "allow"), ("deny", "deny"), ("error", "error")],
            &f.outcome,
        ),
        windows: choices(WINDOWS.iter().map(|w| (w.0, w.1)), &window),
        action: f.action,
        actor: f.actor,
        rows,
        next_href,
        chain,
        anchored: match status {
            Some(s) if s["anchored"] == true => format!(
                "Last anchored {}.",
                s["latest_at"].as_str().map(format::timestamp_str).unwrap_or_default()
            ),
            Some(_) => "No anchor yet: the sealer anchors new events every minute.".into(),
            None => String::new(),
        },
        anchors: anchors
            .as_ref()
            .and_then(|a| a["data"].as_array())
            .into_iter()
            .flatten()
            .map(|a| Anchor {
                at: a["anchor_at"].as_str().map(format::timestamp_str).unwrap_or_default(),
                last_sequence: a["last_sequence"].as_i64().unwrap_or(0),
                events: a["event_count"].as_i64().unwrap_or(0),
                root: a["merkle_root"].as_str().unwrap_or_default().chars().take(16).collect(),
            })
            .collect(),
    }
    .render()
}

pub async fn show(req: HttpRequest, st: web::Data<DashState>, q: web::Query<Filter>) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let body = page(&ctx, &st, q.into_inner(), false).await;
    ctx.respond(body)
}

/// The whole chain walked from the first event (a GET: it changes nothing).
pub async fn verify_chain(req: HttpRequest, st: web::Data<DashState>, q: web::Query<Filter>) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let body = page(&ctx, &st, q.into_inner(), true).await;
    ctx.respond(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_become_scim_with_quoted_literals() {
        let f = Filter {
            category: "policy".into(),
            actor: "ada\"".into(),
            ..Filter::default()
        };
        assert_eq!(
            scim(&f, Some("2026-12-04T00:00:00+00:00".into())),
            "action_category eq \"policy\" and (actor_id eq \"ada\\\"\" or actor_display co \"ada\\\"\") and occurred_at ge \"2026-12-04T00:00:00+00:00\""
        );
        assert_eq!(scim(&Filter::default(), None), "");
    }
}
