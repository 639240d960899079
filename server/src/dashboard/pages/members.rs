//! Members: who is in the project and with which role; invite, change
//! roles and remove (only for roles below one's own), pending invitations,
//! password and MFA resets for members, and ownership transfer offers.

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
use crate::accounts::roles::{can_manage, rank, ASSIGNABLE};

pub struct Member {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: String,
    pub joined: String,
    pub mfa: bool,
    pub manageable: bool,
    pub roles: Vec<Choice>,
    pub can_transfer: bool,
}

pub struct Invitation {
    pub email: String,
    pub role: String,
    pub invited: String,
}

pub struct Offer {
    pub id: String,
    pub from: String,
    pub project: String,
    pub when: String,
}

#[derive(Template)]
#[template(path = "dashboard/members.html")]
struct MembersPage {
    frame: Frame,
    members: Vec<Member>,
    invitations: Vec<Invitation>,
    offers: Vec<Offer>,
    can_write: bool,
    invite_roles: Vec<Choice>,
    email: String,
    errors: Errors,
    secret: Option<Secret>,
}

#[derive(Deserialize)]
pub struct Done {
    done: Option<String>,
}

async fn page(
    ctx: &Ctx,
    st: &DashState,
    email: String,
    errors: Errors,
    secret: Option<Secret>,
) -> Result<String, askama::Error> {
    let (members, pending, offers) = futures::join!(
        ctx.get(st, "/v1/members"),
        ctx.get(st, "/v1/members/pending"),
        ctx.get(st, "/v1/ownership-transfers/pending"),
    );
    let my_role = ctx.project.as_ref().map(|p| p.role.clone()).unwrap_or_default();
    let mine = rank(&my_role);
    let can_write = ctx.can("project_settings:write");
    let grantable: Vec<(&str, &str)> = ASSIGNABLE
        .iter()
        .filter(|r| can_manage(mine, r))
        .map(|r| (*r, *r))
        .collect();
    let data = |v: &Option<Value>| {
        v.as_ref()
            .and_then(|v| v["data"].as_array().cloned())
            .unwrap_or_default()
    };
    MembersPage {
        frame: ctx.frame("Members", "/members"),
        members: data(&members)
            .iter()
            .map(|m| {
                let role = m["role"].as_str().unwrap_or_default().to_owned();
                Member {
                    id: m["id"].as_str().unwrap_or_default().to_owned(),
                    email: m["email"].as_str().unwrap_or_default().to_owned(),
                    name: m["display_name"].as_str().unwrap_or_default().to_owned(),
                    joined: m["joined_at"].as_str().map(format::timestamp_str).unwrap_or_default(),
                    mfa: m["mfa_enabled"].as_bool().unwrap_or(false),
                    manageable: can_write && can_manage(mine, &role),
                    roles: choices(grantable.iter().copied(), &role),
                    can_transfer: my_role == "owner" && role != "owner",
                    role,
                }
            })
            .collect(),
        invitations: data(&pending)
            .iter()
            .map(|i| Invitation {
                email: i["email"].as_str().unwrap_or_default().to_owned(),
                role: i["role"].as_str().unwrap_or_default().to_owned(),
                invited: i["invited_at"].as_str().map(format::timestamp_str).unwrap_or_default(),
            })
            .collect(),
        offers: data(&offers)
            .iter()
            .map(|o| Offer {
                id: o["id"].as_str().unwrap_or_default().to_owned(),
                from: o["email"].as_str().unwrap_or_default().to_owned(),
                project: o["project_name"].as_str().unwrap_or_default().to_owned(),
                when: o["created_at"].as_str().map(format::timestamp_str).unwrap_or_default(),
            })
            .collect(),
        can_write,
        invite_roles: choices(grantable.iter().copied(), "viewer"),
        email,
        errors,
        secret,
    }
    .render()
}

pub async fn show(req: HttpRequest, st: web::Data<DashState>, q: web::Query<Done>) -> HttpResponse {
    let ctx = signed_in!(req, st);
    ctx.extend_notices(done_notice(q.done.as_deref()));
    let body = page(&ctx, &st, String::new(), Errors::default(), None).await;
    ctx.respond(body)
}

pub async fn invite(req: HttpRequest, st: web::Data<DashState>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let email = posted.get("email").unwrap_or_default().to_owned();
    let body = json!({"email": email, "role": posted.get("role").unwrap_or("viewer")});
    match st.api.post(&ctx.caller, "/v1/members", &body).await {
        Ok(_) => see_other("/members?done=member-invited"),
        Err(f) => {
            let errors = Errors::beside(&f, |_| "email");
            ctx.refused(&f, page(&ctx, &st, email, errors, None).await)
        }
    }
}

fn clean(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_hexdigit() || *c == '-')
        .take(36)
        .collect()
}

/// Role change, removal, password or MFA reset, or an ownership offer.
pub async fn act(
    req: HttpRequest,
    st: web::Data<DashState>,
    path: web::Path<(String, String)>,
    posted: Posted,
) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let (id, what) = path.into_inner();
    let id = clean(&id);
    let role = json!({"role": posted.get("role").unwrap_or_default()});
    let (method, api, body, done) = match what.as_str() {
        "role" => (Method::PATCH, format!("/v1/members/{id}"), Some(role), "member-updated"),
        "remove" => (Method::DELETE, format!("/v1/members/{id}"), None, "member-removed"),
        "reset-password" => (
            Method::POST,
            format!("/v1/members/{id}/reset-password"),
            Some(json!({})),
            "",
        ),
        "disable-mfa" => (
            Method::POST,
            format!("/v1/members/{id}/disable-mfa"),
            Some(json!({})),
            "member-updated",
        ),
        "transfer" => (
            Method::POST,
            format!("/v1/members/{id}/transfer-ownership"),
            Some(json!({})),
            "transfer-offered",
        ),
        _ => return see_other("/members"),
    };
    match st.api.send(&ctx.caller, method, &api, body.as_ref(), &[]).await {
        // A temporary password is shown once, in the page, never in a URL.
        Ok(answer) if what == "reset-password" => {
            let secret = Secret {
                heading: "Temporary password".into(),
                value: answer["temporary_password"].as_str().unwrap_or_default().to_owned(),
                note: "Give it to the member over a trusted channel. They must choose a new password when they sign in; all their sessions were ended.".into(),
            };
            let body = page(&ctx, &st, String::new(), Errors::default(), Some(secret)).await;
            ctx.respond(body)
        }
        Ok(_) => see_other(&format!("/members?done={done}")),
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, page(&ctx, &st, String::new(), Errors::default(), None).await)
        }
    }
}

pub async fn revoke_invitation(req: HttpRequest, st: web::Data<DashState>, posted: Posted) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let email = posted.get("email").unwrap_or_default();
    let path = format!(
        "/v1/members/pending/{}",
        percent_encoding::utf8_percent_encode(email, percent_encoding::NON_ALPHANUMERIC)
    );
    match st.api.send(&ctx.caller, Method::DELETE, &path, None, &[]).await {
        Ok(_) => see_other("/members?done=invitation-revoked"),
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, page(&ctx, &st, String::new(), Errors::default(), None).await)
        }
    }
}

pub async fn offer(
    req: HttpRequest,
    st: web::Data<DashState>,
    path: web::Path<(String, String)>,
    _posted: Posted,
) -> HttpResponse {
    let ctx = signed_in!(req, st);
    let (id, what) = path.into_inner();
    let id = clean(&id);
    let (verb, done) = match what.as_str() {
        "accept" => ("accept", "transfer-accepted"),
        _ => ("reject", "transfer-rejected"),
    };
    match st
        .api
        .post(&ctx.caller, &format!("/v1/ownership-transfers/{id}/{verb}"), &json!({}))
        .await
    {
        Ok(_) => see_other(&format!("/members?done={done}")),
        Err(f) => {
            ctx.note(&f);
            ctx.refused(&f, page(&ctx, &st, String::new(), Errors::default(), None).await)
        }
    }
}
