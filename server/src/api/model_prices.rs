//! `/v1/model_prices`: per-project USD-per-token overrides of the catalog.

use actix_web::{delete, get, post};
use std::str::FromStr as _;

use actix_web::{web, HttpResponse};
use bigdecimal::{BigDecimal, Zero as _};
use diesel_async::AsyncConnection as _;
use serde_json::{json, Value};
use strathon_schema::model_prices::{self, Override};

use super::params::object;
use crate::audit::{self, Event};
use crate::auth::{scope, Auth};
use crate::error::ApiError;
use crate::state::AppState;

fn render(o: &Override) -> Value {
    json!({
        "id": o.id, "project_id": o.project_id, "model_name": o.model_name,
        "input_cost_per_token": o.input_cost_per_token.normalized().to_plain_string(),
        "output_cost_per_token": o.output_cost_per_token.normalized().to_plain_string(),
        "created_at": o.created_at.to_rfc3339(), "updated_at": o.updated_at.to_rfc3339(),
    })
}

#[utoipa::path(tag = "Model prices", responses((status = 200, description = "OK")))]
#[post("/v1/model_prices")]
pub async fn upsert(auth: Auth, state: web::Data<AppState>, body: web::Json<Value>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::MODEL_PRICES_WRITE)?;
    let body = object(body)?;
    let model = body
        .get("model_name")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    if model.is_empty() || model.chars().count() > 200 {
        return Err(ApiError::Unprocessable(vec![
            json!({"type": "string_length", "loc": ["body", "model_name"], "msg": "model_name must be 1 to 200 characters"}),
        ]));
    }
    let price = |key: &str| -> Result<BigDecimal, ApiError> {
        let raw = match body.get(key) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            other => other.map(Value::to_string).unwrap_or_default(),
        };
        BigDecimal::from_str(raw.trim())
            .map_err(|_| ApiError::BadRequest(format!("{key} must be a decimal string (got '{raw}')")))
    };
    let (input, output) = (price("input_cost_per_token")?, price("output_cost_per_token")?);
    if input < BigDecimal::zero() || output < BigDecimal::zero() {
        return Err(ApiError::BadRequest("prices must be non-negative".into()));
    }
    if input >= 10_000 || output >= 10_000 {
        return Err(ApiError::BadRequest("prices must be below 10000 USD per token".into()));
    }
    let mut conn = state.pool.get().await?;
    let saved = conn
        .transaction(async |conn| {
            let o = model_prices::upsert(conn, auth.project_id, &model, &input, &output).await?;
            audit::record(
                conn,
                &auth,
                Event::new("model_price.set", "model_price", &model).after(render(&o)),
            )
            .await?;
            Ok::<_, ApiError>(o)
        })
        .await?;
    state.contexts.invalidate(auth.project_id);
    Ok(HttpResponse::Ok().json(json!({ "override": render(&saved) })))
}

#[utoipa::path(tag = "Model prices", responses((status = 200, description = "OK")))]
#[get("/v1/model_prices")]
pub async fn list(auth: Auth, state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::MODEL_PRICES_READ)?;
    let mut conn = state.pool.get().await?;
    let all = model_prices::list(&mut conn, auth.project_id).await?;
    Ok(HttpResponse::Ok().json(json!({ "overrides": all.iter().map(render).collect::<Vec<_>>() })))
}

#[utoipa::path(tag = "Model prices", responses((status = 200, description = "OK")))]
#[delete("/v1/model_prices/{model_name}")]
pub async fn delete(auth: Auth, state: web::Data<AppState>, path: web::Path<String>) -> Result<HttpResponse, ApiError> {
    auth.require(scope::MODEL_PRICES_WRITE)?;
    let model = path.into_inner();
    let mut conn = state.pool.get().await?;
    conn.transaction(async |conn| {
        if model_prices::delete(conn, auth.project_id, &model).await? == 0 {
            return Err(ApiError::NotFound("override not found".into()));
        }
        audit::record(conn, &auth, Event::new("model_price.delete", "model_price", &model)).await
    })
    .await?;
    state.contexts.invalidate(auth.project_id);
    Ok(HttpResponse::Ok().json(json!({ "deleted": true })))
}
