//! `/v1/ownership-transfers`: the recipient's side of an ownership offer
//! made with `POST /v1/members/{user_id}/transfer-ownership`.

use actix_web::{get, post};
use actix_web::{web, HttpResponse};
use diesel_async::{AsyncConnection as _, AsyncPgConnection};
use serde_json::{json, Value};
use strathon_schema::{ownership, users};
use uuid::Uuid;

use super::params::utc_offset;
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

/// The offer, locked for the rest of the caller's transaction.
async fn open_offer(conn: &mut AsyncPgConnection, id: Uuid) -> Result<ownership::Transfer, ApiError> {
    ownership::find_for_update(conn, id)
        .await?
        .ok_or_else(|| ApiError::NotFound("Transfer not found".into()))
}

/// `GET /v1/ownership-transfers/pending`: offers addressed to the caller.
#[utoipa::path(tag = "Members", responses((status = 200, description = "OK")))]
#[get("/v1/ownership-transfers/pending")]
pub async fn pending(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::AUDIT_READ)?;
    let Some(user_id) = auth.user_id() else {
        return Ok(HttpResponse::Ok().json(json!({ "data": [] })));
    };
    let mut conn = state.pool.get().await?;
    let data: Vec<Value> = ownership::addressed_to(&mut conn, user_id)
        .await?
        .into_iter()
        .map(|(t, display_name, email, project_name)| {
            json!({
                "id": t.id, "project_id": t.project_id, "from_user_id": t.from_user_id,
                "created_at": utc_offset(&t.created_at), "display_name": display_name, "email": email,
                "project_name": project_name,
            })
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "data": data })))
}

/// `POST /v1/ownership-transfers/{id}/accept`: the recipient becomes owner
/// and the offering owner an admin, provided they still own the project.
#[utoipa::path(tag = "Members", responses((status = 200, description = "OK")))]
#[post("/v1/ownership-transfers/{id}/accept")]
pub async fn accept(auth: Auth, state: web::Data<AppState>, path: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| {
        let t = open_offer(conn, id).await?;
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
    Ok(HttpResponse::Ok().json(json!({ "status": "ownership_transferred" })))
}

/// `POST /v1/ownership-transfers/{id}/reject`: either side withdraws.
#[utoipa::path(tag = "Members", responses((status = 200, description = "OK")))]
#[post("/v1/ownership-transfers/{id}/reject")]
pub async fn reject(auth: Auth, state: web::Data<AppState>, path: web::Path<Uuid>) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| {
        let t = open_offer(conn, id).await?;
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
    Ok(HttpResponse::Ok().json(json!({ "status": "rejected" })))
}
