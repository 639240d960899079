//! `/v1/ownership-transfers`: the recipient's side of an ownership offer
//! made with `POST /v1/members/{user_id}/transfer-ownership`.

use actix_web::{get, post};
use actix_web::{web, HttpResponse};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use serde_json::json;
use strathon_schema::{ownership, users};
use uuid::Uuid;

use serde::Serialize;
use utoipa::ToSchema;

use super::params::utc_offset;
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// The offer, locked for the rest of the caller's transaction. To anyone
/// who is neither side of it nor in its project it does not exist: a 403
/// would confirm another project's offer id.
async fn open_offer(conn: &mut AsyncPgConnection, auth: &Auth, id: Uuid) -> Result<ownership::Transfer, ApiError> {
    ownership::find_for_update(conn, id)
        .await?
        .filter(|t| {
            let caller = auth.user_id();
            t.project_id == auth.project_id || caller == Some(t.to_user_id) || caller == Some(t.from_user_id)
        })
        .ok_or_else(|| ApiError::NotFound("Transfer not found".into()))
}

/// An ownership offer addressed to the caller.
#[derive(Serialize, ToSchema)]
pub struct TransferView {
    pub id: Uuid,
    pub project_id: Uuid,
    /// The owner who offered.
    pub from_user_id: Uuid,
    pub created_at: String,
    /// The offering owner's display name and email.
    pub display_name: Option<String>,
    pub email: String,
    pub project_name: String,
}

#[derive(Serialize, ToSchema)]
pub struct TransferList {
    pub data: Vec<TransferView>,
}

/// List ownership offers to me
///
/// Offers addressed to the signed-in user, in any of their projects. An API
/// key has no user and gets an empty list.
#[utoipa::path(
    tag = "Members",
    operation_id = "list_ownership_offers",
    security(("bearer" = ["audit:read"])),
    responses((status = 200, description = "The offers.", body = TransferList)),
)]
#[get("/v1/ownership-transfers/pending")]
pub async fn pending(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::AUDIT_READ)?;
    let Some(user_id) = auth.user_id() else {
        return Ok(HttpResponse::Ok().json(TransferList { data: Vec::new() }));
    };
    let mut conn = state.pool.get().await?;
    let data = ownership::addressed_to(&mut conn, user_id)
        .await?
        .into_iter()
        .map(|(t, display_name, email, project_name)| TransferView {
            id: t.id,
            project_id: t.project_id,
            from_user_id: t.from_user_id,
            created_at: utc_offset(&t.created_at),
            display_name,
            email,
            project_name,
        })
        .collect();
    Ok(HttpResponse::Ok().json(TransferList { data }))
}

/// What became of an offer.
#[derive(Serialize, ToSchema)]
pub struct TransferOutcome {
    /// `ownership_transferred` or `rejected`.
    pub status: String,
}

/// Accept an ownership offer
///
/// The recipient (by session, in the offer's project) becomes owner and the
/// offering owner an admin, provided they still own the project.
#[utoipa::path(
    tag = "Members",
    operation_id = "accept_ownership_offer",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The offer's id.")),
    responses(
        (status = 200, description = "`ownership_transferred`.", body = TransferOutcome),
        (status = 400, description = "`Transfer is for a different project` than the session's `X-Project-Id`."),
        (status = 409, description = "The offering owner no longer owns the project."),
    ),
)]
#[post("/v1/ownership-transfers/{id}/accept")]
pub async fn accept(auth: Auth, state: web::Data<AppState>, path: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| {
        let t = open_offer(conn, &auth, id).await?;
        if auth.user_id() != Some(t.to_user_id) {
            return Err(ApiError::Forbidden("Only the transfer recipient can accept".into()));
        }
        if t.project_id != auth.project_id {
            return Err(ApiError::BadRequest("Transfer is for a different project".into()));
        }
        if users::role(conn, t.project_id, t.from_user_id).await?.as_deref() != Some("owner") {
            return Err(ApiError::Conflict("The initiating owner is no longer the owner".into()));
        }
        ownership::complete(conn, &t).await?;
        let after = json!({"owner": t.to_user_id, "previous_owner": t.from_user_id});
        audit::record(
            conn,
            &auth,
            Event::new("ownership.accept", "ownership_transfer", t.id).after(after),
        )
        .await
    })
    .await?;
    Ok(HttpResponse::Ok().json(TransferOutcome {
        status: "ownership_transferred".into(),
    }))
}

/// Reject or withdraw an ownership offer
///
/// Either side (by session) closes the offer.
#[utoipa::path(
    tag = "Members",
    operation_id = "reject_ownership_offer",
    security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "The offer's id.")),
    responses((status = 200, description = "`rejected`.", body = TransferOutcome)),
)]
#[post("/v1/ownership-transfers/{id}/reject")]
pub async fn reject(auth: Auth, state: web::Data<AppState>, path: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| {
        let t = open_offer(conn, &auth, id).await?;
        let caller = auth.user_id();
        if caller != Some(t.to_user_id) && caller != Some(t.from_user_id) {
            return Err(ApiError::Forbidden(
                "Only the owner or the recipient can reject a transfer".into(),
            ));
        }
        ownership::close(conn, t.id).await?;
        audit::record(conn, &auth, Event::new("ownership.reject", "ownership_transfer", t.id)).await
    })
    .await?;
    Ok(HttpResponse::Ok().json(TransferOutcome {
        status: "rejected".into(),
    }))
}
