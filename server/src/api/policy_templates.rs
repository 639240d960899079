//! `/v1/policy-templates`: the built-in catalog, and applying a template.

use actix_web::{get, post};
use actix_web::{web, HttpResponse};
use diesel_async::AsyncConnection as _;
use serde_json::{json, Value};
use strathon_schema::policies::{self, PolicyFields};

use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::policy::templates;
use crate::state::AppState;

use super::views::PolicyView;

/// A built-in policy template.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation of `Template::render`
pub struct PolicyTemplate {
    /// E.g. `block-dangerous-tools`.
    id: String,
    name: String,
    description: String,
    /// The OWASP agentic risks it addresses.
    owasp_risks: Vec<String>,
    action: String,
    match_expression: String,
    #[schema(value_type = Object)]
    action_config: serde_json::Value,
    /// Always empty: templates apply to every span.
    applies_to: Vec<String>,
    tags: Vec<String>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the list is built as JSON
pub struct PolicyTemplateList {
    data: Vec<PolicyTemplate>,
}

#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // documentation: the answer is built as JSON
pub struct AppliedTemplate {
    template_id: String,
    /// The policy made from it.
    policy: PolicyView,
}

/// List policy templates
///
/// The built-in catalogue, optionally only the templates with one tag.
#[utoipa::path(
    tag = "Policy templates",
    operation_id = "list_policy_templates",
    security(("bearer" = ["policies:read"])),
    params(("tag" = Option<String>, Query, description = "Only templates carrying this tag.")),
    responses((status = 200, description = "The templates.", body = PolicyTemplateList)),
)]
#[get("/v1/policy-templates")]
pub async fn list(auth: Auth, query: web::Query<super::params::Params>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    let tag = query.get("tag");
    let data: Vec<Value> = templates::all()
        .iter()
        .filter(|t| tag.is_none_or(|tag| t.tags.contains(&tag.as_str())))
        .map(|t| t.render())
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}

fn find(id: &str) -> Result<templates::Template, ApiError> {
    templates::all()
        .into_iter()
        .find(|t| t.id == id)
        .ok_or_else(|| ApiError::NotFound("template not found".into()))
}

/// Read a policy template
#[utoipa::path(
    tag = "Policy templates",
    operation_id = "get_policy_template",
    security(("bearer" = ["policies:read"])),
    params(("template_id" = String, Path, description = "The template's id, e.g. `block-dangerous-tools`.")),
    responses((status = 200, description = "The template.", body = PolicyTemplate)),
)]
#[get("/v1/policy-templates/{template_id}")]
pub async fn get(auth: Auth, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_READ)?;
    Ok(HttpResponse::Ok().json(find(&path)?.render()))
}

/// Apply a policy template
///
/// Creates an enabled, non-shadow policy of priority 0 from the template.
/// Any body is ignored.
#[utoipa::path(
    tag = "Policy templates",
    operation_id = "apply_policy_template",
    security(("bearer" = ["policies:write"])),
    params(("template_id" = String, Path, description = "The template's id.")),
    responses(
        (status = 201, description = "The policy made from the template.", body = AppliedTemplate,
            links(("GetPolicy" = (operation_id = "get_policy", parameters(("policy_id" = "$response.body#/policy/id")))))),
    ),
)]
#[post("/v1/policy-templates/{template_id}/apply")]
pub async fn apply(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::POLICIES_WRITE)?;
    let t = find(&path)?;
    let fields = PolicyFields {
        name: Some(t.name.to_owned()),
        description: Some(Some(t.description.to_owned())),
        match_expression: Some(t.match_expression.clone()),
        action: Some(t.action.to_owned()),
        action_config: Some((t.action_config)()),
        applies_to: Some(vec![]),
        enabled: Some(true),
        priority: Some(0),
        shadow: Some(false),
    };
    let mut conn = state.pool.get().await?;
    let policy = conn
        .transaction(async |conn| {
            let p = policies::insert(conn, auth.project_id, &fields).await?;
            let event = Event::new("policy.create", "policy", p.id)
                .after(json!({"template_id": t.id, "policy": super::views::policy(&p)}));
            audit::record(conn, &auth, event).await?;
            Ok::<_, ApiError>(p)
        })
        .await?;
    state.contexts.invalidate(auth.project_id);
    Ok(HttpResponse::Created().json(json!({ "template_id": t.id, "policy": super::views::policy(&policy) })))
}
