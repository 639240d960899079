//! The API's one error type. Handlers return `Result<_, ApiError>`; every
//! variant renders `{"detail": …}` with its status. Database and other
//! internal failures are logged with their cause and answered generically,
//! so no SQL, connection string or stack detail ever reaches a client.

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde_json::json;

const INTERNAL_MESSAGE: &str = "An unexpected error occurred.";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Locked(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// Field-level validation failures, as a list like the original's.
    #[error("validation failed")]
    Unprocessable(Vec<serde_json::Value>),
    #[error("{detail}")]
    TooManyRequests { detail: String, retry_after_secs: u64 },
    #[error("{detail}")]
    Unavailable { detail: String, retry_after_secs: u64 },
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        ApiError::Internal(cause.to_string())
    }

    /// A 422 for one body field, shaped like the original's validation errors.
    pub fn field(loc: &str, msg: &str) -> Self {
        ApiError::Unprocessable(vec![json!({"type": "value_error", "loc": ["body", loc], "msg": msg})])
    }
}

impl From<diesel::result::Error> for ApiError {
    fn from(e: diesel::result::Error) -> Self {
        ApiError::Internal(format!("database: {e}"))
    }
}

impl<E: std::error::Error + 'static> From<bb8::RunError<E>> for ApiError {
    fn from(e: bb8::RunError<E>) -> Self {
        // No connection within the checkout timeout: the database is down or
        // saturated, which is worth a retry rather than a dropped batch.
        ApiError::Unavailable {
            detail: format!("database unavailable: {e}"),
            retry_after_secs: 1,
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Locked(_) => StatusCode::LOCKED,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        let body = match self {
            ApiError::Unprocessable(errors) => json!({ "detail": errors }),
            ApiError::Internal(cause) => {
                let request_id = request_id();
                tracing::error!(%cause, request_id = request_id.as_deref().unwrap_or(""), "request failed");
                internal_body(request_id.as_deref())
            }
            ApiError::Unavailable {
                detail,
                retry_after_secs,
            } => {
                tracing::warn!(%detail, "request refused: unavailable");
                response.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after_secs)));
                json!({ "detail": "service temporarily unavailable, retry later" })
            }
            ApiError::TooManyRequests {
                detail,
                retry_after_secs,
            } => {
                response.insert_header((header::RETRY_AFTER, HeaderValue::from(*retry_after_secs)));
                json!({ "detail": detail })
            }
            other => json!({ "detail": other.to_string() }),
        };
        response.json(body)
    }
}

/// The body of every 500: `detail` for our clients, `error` for scripts
/// written against the original server.
/// The body of every 500. The request id is the one the log line carries,
/// so an operator can find the cause from what a user pastes.
pub fn internal_body(request_id: Option<&str>) -> serde_json::Value {
    json!({
        "detail": INTERNAL_MESSAGE,
        "error": { "code": "internal_server_error", "message": INTERNAL_MESSAGE },
        "request_id": request_id,
    })
}

tokio::task_local! {
    /// The id of the request being served, set by the `observe` middleware
    /// for the whole of its handling.
    pub static REQUEST_ID: String;
}

/// The current request's id, outside a request `None`.
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::body::to_bytes;

    async fn body_of(e: ApiError) -> (StatusCode, serde_json::Value) {
        let resp = e.error_response();
        let status = resp.status();
        let bytes = to_bytes(resp.into_body()).await.unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[actix_rt::test]
    async fn database_errors_are_not_leaked() {
        let (status, body) = body_of(diesel::result::Error::NotFound.into()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(body["detail"], INTERNAL_MESSAGE);
        assert!(!body.to_string().contains("not found"));
    }

    #[actix_rt::test]
    async fn client_errors_carry_their_detail() {
        let (status, body) = body_of(ApiError::Forbidden("missing required scope: traces:write".into())).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        assert_eq!(body, json!({"detail": "missing required scope: traces:write"}));
    }
}
