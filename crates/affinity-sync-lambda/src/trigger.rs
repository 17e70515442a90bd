//! The Function URL (or an API Gateway HTTP API): `POST /sync` starts a sync on demand, and
//! `POST /webhook?token=...` receives Affinity's webhooks
//! ([`affinity_sync_io::queued::webhook`]).
//!
//! The URL is public, so `/sync` asks for `Authorization: Bearer <trigger token>` from the
//! function's secret and `/webhook` for the webhook secret in its query (Affinity signs
//! nothing and sends no headers of ours), both compared in constant time; without a
//! configured secret an endpoint is off.

use crate::app::App;
use affinity_sync_io::queued::start::{self, StartRequest};
use aws_lambda_events::event::lambda_function_urls::{
    LambdaFunctionUrlRequest, LambdaFunctionUrlResponse,
};
use base64::Engine;
use serde_json::json;

fn reply(status: i64, body: serde_json::Value) -> LambdaFunctionUrlResponse {
    let mut headers = aws_lambda_events::http::HeaderMap::new();
    headers.insert(
        "content-type",
        aws_lambda_events::http::HeaderValue::from_static("application/json"),
    );
    let mut r = LambdaFunctionUrlResponse::default();
    r.status_code = status;
    r.headers = headers;
    r.body = Some(body.to_string());
    r
}

fn error(status: i64, message: &str) -> LambdaFunctionUrlResponse {
    reply(status, json!({ "error": message }))
}

/// The request's body bytes (Function URLs base64-encode bodies they think are binary).
fn body_of(req: &LambdaFunctionUrlRequest) -> Option<Vec<u8>> {
    match (req.body.as_deref(), req.is_base64_encoded) {
        (None, _) => Some(Vec::new()),
        (Some(b), false) => Some(b.as_bytes().to_vec()),
        (Some(b), true) => base64::engine::general_purpose::STANDARD.decode(b).ok(),
    }
}

async fn webhook(app: &App, req: &LambdaFunctionUrlRequest) -> LambdaFunctionUrlResponse {
    let Some(body) = body_of(req) else {
        return error(400, "the body is not valid base64");
    };
    let token = req
        .query_string_parameters
        .get("token")
        .map(String::as_str)
        .unwrap_or("");
    let (status, answer) = affinity_sync_io::queued::webhook::handle(app, token, &body).await;
    reply(status as i64, answer)
}

pub async fn handle(app: &App, req: LambdaFunctionUrlRequest) -> LambdaFunctionUrlResponse {
    let method = req.request_context.http.method.as_deref().unwrap_or("");
    let path = req
        .request_context
        .http
        .path
        .as_deref()
        .or(req.raw_path.as_deref())
        .unwrap_or("/");
    match (method, path) {
        ("POST", "/sync") => {}
        ("POST", "/webhook") => return webhook(app, &req).await,
        (_, "/sync") => return error(405, "use POST /sync"),
        (_, "/webhook") => return error(405, "use POST /webhook"),
        _ => {
            return error(
                404,
                "not found: POST /sync starts a sync, POST /webhook receives Affinity's webhooks",
            );
        }
    }
    let Some(token) = &app.secrets.trigger_token else {
        return error(
            403,
            "POST /sync is off: add \"trigger_token\" to the function's secret to turn it on",
        );
    };
    let presented = req
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !token.matches(presented.trim()) {
        tracing::warn!(source_ip = ?req.request_context.http.source_ip, "POST /sync with a wrong or missing token");
        return error(401, "missing or wrong bearer token");
    }
    let Some(body) = body_of(&req) else {
        return error(400, "the body is not valid base64");
    };
    let request: StartRequest = if body.iter().all(u8::is_ascii_whitespace) {
        StartRequest::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(r) => r,
            Err(e) => {
                return error(
                    400,
                    &format!(
                        "the body is not a start request ({e}): send {{\"streams\": \"persons,companies\", \"format\": \"parquet\", \"force\": false}}, every field optional"
                    ),
                );
            }
        }
    };
    let request = match request.resolve(&app.settings) {
        Ok(r) => r,
        Err(e) => return error(400, &e),
    };
    match start::start(app, request).await {
        Ok(started) => reply(202, serde_json::to_value(started).expect("json")),
        Err(e) => {
            tracing::error!("POST /sync failed: {e:#}");
            error(
                500,
                "the sync could not be started; the function's log says why",
            )
        }
    }
}
