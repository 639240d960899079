//! Input Postgres would reject, refused before any handler runs: a NUL
//! character or invalid UTF-8 in the path, a query parameter or a JSON body,
//! and a body value beyond the limits the OpenAPI document gives it (a
//! string longer than its `maxLength`, a number outside its column's range,
//! a list longer than its `maxItems`), each answers 422 naming the field.
//! Postgres stores no NUL in `text` or `jsonb`, refuses index entries over
//! about 2.7 kB and integers outside their type, so without this one layer
//! every route that passed such a value on failed with a 500. Handlers keep
//! their own checks and messages for everything else (types, required
//! fields, rules between fields).
//!
//! Bodies machines send in bulk are left to their own pipelines, which
//! strip NULs rather than refuse a whole batch: trace ingest and GitHub's
//! webhooks.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::header::CONTENT_TYPE;
use actix_web::middleware::Next;
use actix_web::web::{Bytes, BytesMut};
use actix_web::{Error, HttpMessage as _, ResponseError as _};
use futures::StreamExt as _;
use percent_encoding::percent_decode;
use serde_json::{json, Value};

use crate::api::openapi::Document;
use crate::error::ApiError;

/// The JSON body limit the extractors apply; a larger body is left for
/// them to refuse with 413.
pub const JSON_LIMIT: usize = 1 << 20;

/// What is wrong with a value, and where.
#[derive(Debug, PartialEq)]
pub struct Refusal {
    pub loc: Vec<String>,
    pub msg: String,
}

impl Refusal {
    fn into_error(self) -> ApiError {
        ApiError::Unprocessable(vec![json!({"type": "value_error", "loc": self.loc, "msg": self.msg})])
    }
}

const NUL: &str = "must not contain NUL (\\u0000) characters";
const NOT_UTF8: &str = "must be valid UTF-8";

/// Checks one percent-encoded piece of a URL.
fn decoded(raw: &[u8], plus_is_space: bool) -> Result<String, String> {
    let bytes: Vec<u8> = if plus_is_space {
        raw.iter().map(|&b| if b == b'+' { b' ' } else { b }).collect()
    } else {
        raw.to_vec()
    };
    let text = percent_decode(&bytes).decode_utf8().map_err(|_| NOT_UTF8.to_owned())?;
    if text.contains('\0') {
        return Err(NUL.to_owned());
    }
    Ok(text.into_owned())
}

/// The path, then each query parameter (named by its decoded name).
pub fn check_url(path: &str, query: &str) -> Result<(), Refusal> {
    decoded(path.as_bytes(), false).map_err(|msg| Refusal {
        loc: vec!["path".into()],
        msg,
    })?;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
        let name = decoded(name.as_bytes(), true).map_err(|msg| Refusal {
            loc: vec!["query".into()],
            msg,
        })?;
        decoded(value.as_bytes(), true).map_err(|msg| Refusal {
            loc: vec!["query".into(), name],
            msg,
        })?;
    }
    Ok(())
}

/// The first key or string in `value` holding a NUL, with its location.
pub fn check_json(value: &Value, loc: &mut Vec<String>) -> Result<(), Refusal> {
    let refuse = |loc: &Vec<String>| Refusal {
        loc: loc.clone(),
        msg: NUL.to_owned(),
    };
    match value {
        Value::String(s) if s.contains('\0') => Err(refuse(loc)),
        Value::Array(items) => items.iter().enumerate().try_for_each(|(i, item)| {
            loc.push(i.to_string());
            check_json(item, loc)?;
            loc.pop();
            Ok(())
        }),
        Value::Object(map) => map.iter().try_for_each(|(key, item)| {
            loc.push(key.clone());
            if key.contains('\0') {
                return Err(refuse(loc));
            }
            check_json(item, loc)?;
            loc.pop();
            Ok(())
        }),
        _ => Ok(()),
    }
}

/// The first value beyond a documented limit of `schema`. Only limits: the
/// handler reports wrong types, missing fields and its own rules.
pub fn check_limits(schema: &jsonschema::Validator, body: &Value) -> Result<(), Refusal> {
    use jsonschema::error::ValidationErrorKind as Kind;
    for error in schema.iter_errors(body) {
        let msg = match error.kind() {
            Kind::MaxLength { limit } => format!("must be at most {limit} characters"),
            Kind::Maximum { limit } => format!("must be at most {limit}"),
            Kind::ExclusiveMaximum { limit } => format!("must be less than {limit}"),
            Kind::Minimum { limit } => format!("must be at least {limit}"),
            Kind::ExclusiveMinimum { limit } => format!("must be greater than {limit}"),
            Kind::MaxItems { limit } => format!("must have at most {limit} items"),
            _ => continue,
        };
        let mut loc = vec!["body".to_owned()];
        loc.extend(error.instance_path().iter().map(|segment| segment.to_string()));
        return Err(Refusal { loc, msg });
    }
    Ok(())
}

fn is_json(req: &ServiceRequest) -> bool {
    req.headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("application/json"))
}

const SANITIZED_BY_THEIR_PIPELINE: [&str; 2] = ["/v1/traces", "/v1/integrations/github/webhooks"];

fn is_sanitized_elsewhere(req: &ServiceRequest) -> bool {
    req.method() == actix_web::http::Method::POST && SANITIZED_BY_THEIR_PIPELINE.contains(&req.path())
}

/// The middleware: refuses bad input with 422, otherwise hands the request
/// on with its body intact.
pub async fn guard(
    mut req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    let refuse = |req: ServiceRequest, r: Refusal| {
        let response = r.into_error().error_response();
        Ok(req.into_response(response).map_into_right_body())
    };
    if let Err(r) = check_url(req.uri().path(), req.query_string()) {
        return refuse(req, r);
    }
    if is_json(&req) && !is_sanitized_elsewhere(&req) {
        let mut payload = req.take_payload();
        let mut body = BytesMut::new();
        while let Some(chunk) = payload.next().await {
            body.extend_from_slice(&chunk?);
            if body.len() > JSON_LIMIT {
                break;
            }
        }
        // Too large or not JSON at all: the extractor says so precisely.
        if body.len() <= JSON_LIMIT {
            if let Ok(value) = serde_json::from_slice::<Value>(&body) {
                if let Err(r) = check_json(&value, &mut vec!["body".into()]) {
                    return refuse(req, r);
                }
                let documented = req.app_data::<actix_web::web::Data<Document>>().cloned();
                if let Some(schema) = documented
                    .as_ref()
                    .and_then(|d| d.body_schema(req.method(), req.path()))
                {
                    if let Err(r) = check_limits(schema, &value) {
                        return refuse(req, r);
                    }
                }
            }
        }
        // The rest of an oversized body is still in `payload`; chain it on.
        let head = futures::stream::once(async move { Ok::<Bytes, actix_web::error::PayloadError>(body.freeze()) });
        req.set_payload(Payload::Stream {
            payload: Box::pin(head.chain(payload)),
        });
    }
    Ok(next.call(req).await?.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_nul_or_bad_utf8_name_the_parameter() {
        assert_eq!(check_url("/v1/traces", "agent_name=a%20b&limit=5"), Ok(()));
        let r = check_url("/v1/traces", "limit=5&agent_name=a%00b").unwrap_err();
        assert_eq!(r.loc, ["query", "agent_name"]);
        assert_eq!(r.msg, NUL);
        let r = check_url("/v1/traces", "agent_name=%ff%fe").unwrap_err();
        assert_eq!(
            (r.loc, r.msg),
            (vec!["query".to_owned(), "agent_name".to_owned()], NOT_UTF8.to_owned())
        );
        assert_eq!(check_url("/v1/policies/a%00b", "").unwrap_err().loc, ["path"]);
        // A `+` is a space in a query, and an encoded `+` stays a `+`.
        assert_eq!(check_url("/", "q=a+b&r=%2B"), Ok(()));
    }

    #[test]
    fn json_with_nul_names_the_field_by_its_path() {
        let ok = json!({"name": "x", "config": {"url": "https://e.example"}, "tags": ["a"]});
        assert_eq!(check_json(&ok, &mut vec!["body".into()]), Ok(()));
        let bad = json!({"name": "x", "config": {"headers": ["ok", "b\u{0}d"]}});
        let r = check_json(&bad, &mut vec!["body".into()]).unwrap_err();
        assert_eq!(r.loc, ["body", "config", "headers", "1"]);
        let key = json!({"attrs": {"k\u{0}": 1}});
        assert_eq!(
            check_json(&key, &mut vec!["body".into()]).unwrap_err().loc,
            ["body", "attrs", "k\u{0}"]
        );
    }

    #[test]
    fn only_documented_limits_are_enforced_and_the_field_is_named() {
        let schema = jsonschema::draft202012::new(&json!({
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string", "maxLength": 5},
                "priority": {"type": "integer", "format": "int32", "minimum": -2147483648i64, "maximum": 2147483647},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string", "maxLength": 3}},
            },
        }))
        .unwrap();
        assert_eq!(check_limits(&schema, &json!({"name": "short", "priority": 7})), Ok(()));
        // Wrong types and missing fields are the handler's to report.
        assert_eq!(check_limits(&schema, &json!({"priority": "high"})), Ok(()));
        let r = check_limits(&schema, &json!({"name": "toolong"})).unwrap_err();
        assert_eq!(
            (r.loc, r.msg),
            (
                vec!["body".to_owned(), "name".to_owned()],
                "must be at most 5 characters".to_owned()
            )
        );
        let r = check_limits(&schema, &json!({"name": "a", "priority": 99999999999i64})).unwrap_err();
        assert_eq!(
            (r.loc, r.msg),
            (
                vec!["body".to_owned(), "priority".to_owned()],
                "must be at most 2147483647".to_owned()
            )
        );
        let r = check_limits(&schema, &json!({"name": "a", "tags": ["ok", "long"]})).unwrap_err();
        assert_eq!(r.loc, ["body", "tags", "1"]);
        let r = check_limits(&schema, &json!({"name": "a", "tags": ["a", "b", "c"]})).unwrap_err();
        assert_eq!(r.msg, "must have at most 2 items");
    }
}
