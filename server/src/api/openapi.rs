//! `GET /openapi.json`: the OpenAPI 3.1 document of this receiver, and
//! `GET /docs`, the same document as a page to read.
//!
//! The document is collected from the routes the app registers (each
//! handler's route attribute and `#[utoipa::path]`), then completed here
//! with what every operation shares: the bearer scheme, and the error
//! answers the middleware can give on any route (422 from input hygiene,
//! 429 from rate limiting, 500, 503) plus 401/403 where a credential is
//! needed and 404 where the path names an object.

use actix_web::dev::ResourceDef;
use actix_web::http::header::{ALLOW, CACHE_CONTROL};
use actix_web::http::Method;
use actix_web::{get, web, HttpRequest, HttpResponse};
use askama::Template as _;
use serde_json::{json, Value};
use utoipa::openapi::OpenApi;

use crate::error::ApiError;

/// The finished document, and the route table it describes: which methods
/// each path has (for 405s) and the documented limits of each operation's
/// JSON body (enforced by the hygiene layer).
pub struct Document {
    pub json: web::Bytes,
    routes: Vec<Route>,
}

struct Route {
    def: ResourceDef,
    methods: Vec<Method>,
    bodies: Vec<(Method, jsonschema::Validator)>,
}

impl Document {
    pub fn new(collected: OpenApi) -> Document {
        let mut doc = serde_json::to_value(&collected).expect("the OpenAPI document serializes");
        complete(&mut doc);
        let routes = route_table(&doc);
        Document {
            json: web::Bytes::from(serde_json::to_vec(&doc).expect("a JSON value serializes")),
            routes,
        }
    }

    fn route(&self, path: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.def.is_match(path))
    }

    /// The methods a path has, when it is one of ours.
    pub fn methods_of(&self, path: &str) -> Option<&[Method]> {
        self.route(path).map(|r| r.methods.as_slice())
    }

    /// The documented schema of an operation's JSON body, to check limits.
    pub fn body_schema(&self, method: &Method, path: &str) -> Option<&jsonschema::Validator> {
        self.route(path)?
            .bodies
            .iter()
            .find(|(m, _)| m == method)
            .map(|(_, v)| v)
    }
}

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn route_table(doc: &Value) -> Vec<Route> {
    doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(path, item)| {
            let operations: Vec<(Method, &Value)> = METHODS
                .iter()
                .filter_map(|m| Some((m.to_uppercase().parse().ok()?, item.get(*m)?)))
                .collect();
            Route {
                def: ResourceDef::new(path.as_str()),
                methods: operations.iter().map(|(m, _)| m.clone()).collect(),
                bodies: operations
                    .iter()
                    .filter_map(|(m, op)| Some((m.clone(), body_validator(doc, op)?)))
                    .collect(),
            }
        })
        .collect()
}

/// A validator for an operation's JSON body schema, its references
/// resolved against the document's components. Only the schemas the body
/// reaches go with it: each validator keeps its own copy of its root, and a
/// copy of every component for each of ~100 operations cost ~170 MB.
fn body_validator(doc: &Value, op: &Value) -> Option<jsonschema::Validator> {
    let schema = op["requestBody"]["content"]["application/json"].get("schema")?;
    let mut root = schema.as_object()?.clone();
    let reached = reached_schemas(&doc["components"]["schemas"], schema);
    if !reached.is_empty() {
        root.insert("components".into(), json!({ "schemas": reached }));
    }
    match jsonschema::draft202012::new(&Value::Object(root)) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(error = %e, operation = %op["operationId"], "a documented body schema does not compile");
            None
        }
    }
}

/// The component schemas `schema` reaches, directly or through others.
fn reached_schemas(all: &Value, schema: &Value) -> serde_json::Map<String, Value> {
    let mut reached = serde_json::Map::new();
    let mut pending = references(schema);
    while let Some(name) = pending.pop() {
        if reached.contains_key(&name) {
            continue;
        }
        if let Some(found) = all.get(&name) {
            pending.extend(references(found));
            reached.insert(name, found.clone());
        }
    }
    reached
}

/// The component schemas a schema refers to (`#/components/schemas/<name>`).
fn references(schema: &Value) -> Vec<String> {
    match schema {
        Value::Object(map) => map
            .iter()
            .flat_map(|(key, value)| match (key.as_str(), value) {
                ("$ref", Value::String(r)) => r
                    .strip_prefix("#/components/schemas/")
                    .map(|name| vec![name.to_owned()])
                    .unwrap_or_default(),
                _ => references(value),
            })
            .collect(),
        Value::Array(items) => items.iter().flat_map(references).collect(),
        _ => Vec::new(),
    }
}

/// Operations anyone may call: no credential, or one of their own (a
/// signature, a challenge token).
fn is_public(op: &Value) -> bool {
    op["security"]
        .as_array()
        .is_some_and(|s| s.iter().all(|r| r.as_object().is_some_and(|o| o.is_empty())))
}

fn error_response(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    })
}

/// Gives every 32- and 64-bit integer the range of its type, so a number
/// that would overflow its column is refused like any other out-of-range
/// value (and clients generated from the document know the range).
fn integer_ranges(schema: &mut Value) {
    match schema {
        Value::Object(map) => {
            let range = match map.get("format").and_then(Value::as_str) {
                Some("int32") => Some((i64::from(i32::MIN), i64::from(i32::MAX))),
                Some("int64") => Some((i64::MIN, i64::MAX)),
                _ => None,
            };
            if let Some((min, max)) = range {
                map.entry("minimum").or_insert_with(|| json!(min));
                map.entry("maximum").or_insert_with(|| json!(max));
            }
            map.values_mut().for_each(integer_ranges);
        }
        Value::Array(items) => items.iter_mut().for_each(integer_ranges),
        _ => {}
    }
}

/// Adds what every operation shares to the collected document.
pub fn complete(doc: &mut Value) {
    integer_ranges(doc);
    doc["info"] = json!({
        "title": "Strathon API",
        "version": env!("CARGO_PKG_VERSION"),
        "description": "The receiver's REST API and OTLP/HTTP trace ingest. Authenticate with `Authorization: Bearer <key>`: an API key (`stra_…`) or a dashboard session token. Each operation's security requirement lists the scope it needs. See docs/api.md for conventions.",
        "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
    });
    let components = doc
        .as_object_mut()
        .expect("the document is an object")
        .entry("components")
        .or_insert_with(|| json!({}));
    components["securitySchemes"] = json!({
        "bearer": {"type": "http", "scheme": "bearer", "description": "An API key (`stra_…`) or a session token from POST /v1/auth/login."},
    });
    let schemas = components
        .as_object_mut()
        .expect("components is an object")
        .entry("schemas")
        .or_insert_with(|| json!({}));
    schemas["Error"] = json!({
        "type": "object",
        "description": "Every error. `detail` is a message, or for 422 a list of field errors.",
        "required": ["detail"],
        "properties": {
            "detail": {"oneOf": [
                {"type": "string"},
                {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"}},
            ]},
            "request_id": {"type": ["string", "null"], "description": "On a 500: the id its log line carries."},
        },
    });
    schemas["FieldError"] = json!({
        "type": "object",
        "required": ["loc", "msg", "type"],
        "properties": {
            "loc": {"type": "array", "items": {"type": "string"}, "description": "Where: `body`, `query` or `path`, then the field."},
            "msg": {"type": "string"},
            "type": {"type": "string"},
            "input": {},
        },
    });
    let Some(paths) = doc["paths"].as_object_mut() else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let names_an_object = path.contains('{');
        for method in METHODS {
            let Some(op) = item.get_mut(method) else {
                continue;
            };
            if op.get("security").is_none() {
                op["security"] = json!([{"bearer": []}]);
            }
            let public = is_public(op);
            let has_body = op.get("requestBody").is_some();
            let responses = op
                .as_object_mut()
                .expect("an operation is an object")
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut()
                .expect("responses is an object");
            // An error answer documented without a body has the shared one.
            for (status, answer) in responses.iter_mut() {
                if status.starts_with(['4', '5']) && answer.get("content").is_none() {
                    answer["content"] = error_response("")["content"].clone();
                }
                if let Some(links) = answer.get_mut("links").and_then(Value::as_object_mut) {
                    links.values_mut().for_each(camel_case_link);
                }
            }
            let mut add = |status: &str, description: &str| {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| error_response(description));
            };
            if !public {
                add("401", "No credential, or one that is unknown, expired or revoked.");
                add("403", "The credential lacks the scope this operation needs.");
            }
            if names_an_object {
                add("404", "No such object in the caller's project.");
            }
            if has_body {
                add(
                    "413",
                    "The body is over the size limit (1 MiB; OTLP ingest has its own).",
                );
            }
            add(
                "422",
                "A field, query parameter or path segment is invalid (its location is in `loc`).",
            );
            add("429", "Rate limited; retry after `Retry-After` seconds.");
            add("500", "A server fault; `request_id` names its log line.");
            add(
                "503",
                "The database is unreachable or the ingest queue is full; retry after `Retry-After`.",
            );
        }
    }
}

/// utoipa 5.5 writes a link's fields in snake case (`operation_id`), which
/// OpenAPI tools do not read: stateful fuzzers and client generators ignore
/// such links. Renamed to the spec's names.
fn camel_case_link(link: &mut Value) {
    let Some(link) = link.as_object_mut() else {
        return;
    };
    for (from, to) in [
        ("operation_id", "operationId"),
        ("operation_ref", "operationRef"),
        ("request_body", "requestBody"),
    ] {
        if let Some(v) = link.remove(from) {
            link.insert(to.to_owned(), v);
        }
    }
}

#[utoipa::path(
    tag = "Operations",
    security(()),
    responses((status = 200, description = "This document (OpenAPI 3.1).", content_type = "application/json", body = Object)),
)]
#[get("/openapi.json")]
pub async fn document(doc: web::Data<Document>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((CACHE_CONTROL, "no-cache"))
        .body(doc.json.clone())
}

/// One operation as the reading page lists it.
struct Operation {
    method: String,
    path: String,
    summary: String,
    description: String,
    scopes: String,
    parameters: Vec<(String, String, String, bool)>,
    body: String,
    statuses: Vec<(String, String)>,
}

#[derive(askama::Template)]
#[template(path = "openapi.html")]
struct Page {
    version: &'static str,
    tags: Vec<(String, String, Vec<Operation>)>,
}

fn operations(doc: &Value) -> Vec<(String, Vec<Operation>)> {
    let mut tags: Vec<(String, Vec<Operation>)> = Vec::new();
    for (path, item) in doc["paths"].as_object().into_iter().flatten() {
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let tag = op["tags"][0].as_str().unwrap_or("Other").to_owned();
            let scopes = op["security"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["bearer"].as_array())
                .flatten()
                .filter_map(Value::as_str)
                .collect::<Vec<_>>()
                .join(", ");
            let entry = Operation {
                method: method.to_uppercase(),
                path: path.clone(),
                summary: op["summary"].as_str().unwrap_or_default().to_owned(),
                description: op["description"].as_str().unwrap_or_default().to_owned(),
                scopes: if is_public(op) { "none".into() } else { scopes },
                parameters: op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|p| {
                        (
                            p["name"].as_str().unwrap_or_default().to_owned(),
                            p["in"].as_str().unwrap_or_default().to_owned(),
                            p["description"].as_str().unwrap_or_default().to_owned(),
                            p["required"].as_bool().unwrap_or(false),
                        )
                    })
                    .collect(),
                body: op["requestBody"]["content"]
                    .as_object()
                    .and_then(|c| c.values().next())
                    .and_then(|c| c["schema"]["$ref"].as_str())
                    .map(|r| r.trim_start_matches("#/components/schemas/").to_owned())
                    .unwrap_or_default(),
                statuses: op["responses"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(s, r)| (s.clone(), r["description"].as_str().unwrap_or_default().to_owned()))
                    .collect(),
            };
            match tags.iter_mut().find(|(t, _)| *t == tag) {
                Some((_, ops)) => ops.push(entry),
                None => tags.push((tag, vec![entry])),
            }
        }
    }
    tags.sort_by(|a, b| a.0.cmp(&b.0));
    tags
}

/// `GET /docs`: every operation by tag, rendered here (no script, nothing
/// fetched from elsewhere), with a link to the JSON for client generators.
#[utoipa::path(
    tag = "Operations",
    security(()),
    responses((status = 200, description = "The API reference as HTML.", content_type = "text/html", body = String)),
)]
#[get("/docs")]
pub async fn page(doc: web::Data<Document>) -> Result<HttpResponse, ApiError> {
    let parsed: Value = serde_json::from_slice(&doc.json).map_err(ApiError::internal)?;
    let html = Page {
        version: env!("CARGO_PKG_VERSION"),
        tags: operations(&parsed)
            .into_iter()
            .map(|(tag, ops)| (tag.to_lowercase().replace(' ', "-"), tag, ops))
            .collect(),
    }
    .render()
    .map_err(ApiError::internal)?;
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html))
}

/// The app's default service: 405 with `Allow` for a path we serve with
/// other methods, else 404.
pub async fn unmatched(req: HttpRequest, doc: web::Data<Document>) -> Result<HttpResponse, ApiError> {
    match doc.methods_of(req.path()) {
        Some(methods) if !methods.is_empty() => {
            let allow = methods.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
            Ok(HttpResponse::MethodNotAllowed()
                .insert_header((ALLOW, allow))
                .json(json!({"detail": "Method Not Allowed"})))
        }
        _ => Err(ApiError::NotFound("Not Found".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc() -> Value {
        json!({
            "openapi": "3.1.0",
            "paths": {
                "/v1/halts/{halt_id}": {"get": {"responses": {"200": {"description": "OK"}}}, "delete": {"security": [{"bearer": ["halts:write"]}], "responses": {}}},
                "/health": {"get": {"security": [{}], "responses": {"200": {"description": "OK"}}}},
            },
        })
    }

    #[test]
    fn every_operation_gets_the_shared_errors_and_only_secured_ones_401() {
        let mut d = doc();
        complete(&mut d);
        let get = &d["paths"]["/v1/halts/{halt_id}"]["get"];
        assert_eq!(get["security"], json!([{"bearer": []}]));
        for status in ["401", "403", "404", "422", "429", "500", "503"] {
            assert_eq!(
                get["responses"][status]["content"]["application/json"]["schema"]["$ref"], "#/components/schemas/Error",
                "{status}"
            );
        }
        assert_eq!(
            get["responses"]["200"]["description"], "OK",
            "documented answers are kept"
        );
        let health = &d["paths"]["/health"]["get"];
        assert!(health["responses"].get("401").is_none() && health["responses"].get("404").is_none());
        assert!(health["responses"].get("503").is_some());
        assert!(d["components"]["schemas"]["Error"].is_object());
    }

    #[test]
    fn a_body_validator_carries_only_the_schemas_it_reaches() {
        let doc = json!({"components": {"schemas": {
            "Outer": {"type": "object", "properties": {"inner": {"$ref": "#/components/schemas/Inner"}}},
            "Inner": {"type": "string", "maxLength": 3},
            "Unrelated": {"type": "integer"},
        }}});
        let op = json!({"requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Outer"}}}}});
        let reached = reached_schemas(
            &doc["components"]["schemas"],
            &op["requestBody"]["content"]["application/json"]["schema"],
        );
        let mut names: Vec<&str> = reached.keys().map(String::as_str).collect();
        names.sort();
        assert_eq!(names, ["Inner", "Outer"], "Unrelated stays out");
        let v = body_validator(&doc, &op).expect("compiles");
        assert!(v.is_valid(&json!({"inner": "abc"})));
        assert!(!v.is_valid(&json!({"inner": "abcd"})), "the nested limit is enforced");
    }

    #[test]
    fn the_route_table_answers_which_methods_a_path_has() {
        let mut d = doc();
        complete(&mut d);
        let table = Document {
            json: web::Bytes::new(),
            routes: route_table(&d),
        };
        assert!(table.body_schema(&Method::POST, "/health").is_none());
        assert_eq!(
            table.methods_of("/v1/halts/42"),
            Some(&[Method::GET, Method::DELETE][..])
        );
        assert_eq!(table.methods_of("/v1/halts/42/x"), None);
        assert_eq!(table.methods_of("/health"), Some(&[Method::GET][..]));
    }
}
