//! The component's HTTP interface. Every route but `/webhook` asks for `Authorization:
//! Bearer <token>` (`AFFINITY_SYNC_TRIGGER_TOKEN`, compared in constant time): the component
//! is reachable by whoever can reach its host, and a job runs requests with the Affinity key.
//!
//! - `POST /webhook?token=<AFFINITY_SYNC_WEBHOOK_SECRET>`: one Affinity webhook event
//!   (Affinity sends no headers of ours, so the secret is in the URL); recorded, and its
//!   refreshes queued, before the 200 (`affinity_sync_io::queued::webhook`).
//! - `POST /jobs`: the body is one queue message (a job as the queue carries it), the
//!   `X-Affinity-Sync-Attempt` header its try; runs its page. 200 with the outcome means the
//!   message is done (delete it from the queue); 503 means deliver it again later.
//! - `POST /start`: seeds a sync; the body is optional, `{"streams": "...", "format":
//!   "parquet", "force": false}`. 202 with the sync id, or the sync it skipped for.
//!
//! Errors are JSON, `{"error": "what was wrong and what to do"}`.

use crate::deployment::{self, App, StartError};
use affinity_sync_io::queued::page::Handled;
use serde_json::{Value, json};
use spin_sdk::http::{Method, Request, Response};
use spin_sdk::http_component;

/// The header that carries a message's try (the SQS `attempt` attribute).
const ATTEMPT_HEADER: &str = "x-affinity-sync-attempt";

fn reply(status: u16, body: Value) -> Response {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .body(body.to_string())
        .build()
}

fn error(status: u16, message: &str) -> Response {
    reply(status, json!({ "error": message }))
}

#[http_component]
fn handle(req: Request) -> Response {
    deployment::init_logging();
    let route = match (req.method(), req.path()) {
        (Method::Post, "/jobs") => Route::Jobs,
        (Method::Post, "/start") => Route::Start,
        (Method::Post, "/webhook") => Route::Webhook,
        (_, "/jobs" | "/start" | "/webhook") => return error(405, "use POST"),
        _ => {
            return error(
                404,
                "not found: the routes are POST /jobs, POST /start and POST /webhook",
            );
        }
    };
    let app = match deployment::app() {
        Ok(app) => app,
        Err(e) => {
            tracing::error!("configuration: {e:#}");
            return error(500, &format!("the component is misconfigured: {e:#}"));
        }
    };
    if let Route::Webhook = route {
        return webhook(&app, &req);
    }
    let Some(token) = &app.secrets.trigger_token else {
        return error(
            403,
            "the component is locked: set AFFINITY_SYNC_TRIGGER_TOKEN (16+ random characters) and call it with Authorization: Bearer <token>",
        );
    };
    let presented = req
        .header("authorization")
        .and_then(|v| v.as_str())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if !token.matches(presented.trim()) {
        tracing::warn!("a call with a wrong or missing bearer token");
        return error(401, "missing or wrong bearer token");
    }
    match route {
        Route::Jobs => jobs(&app, &req),
        Route::Start => start(&app, &req),
        Route::Webhook => unreachable!("answered above"),
    }
}

enum Route {
    Jobs,
    Start,
    Webhook,
}

fn webhook(app: &App, req: &Request) -> Response {
    let token = req
        .query()
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == "token")
        .map(|(_, v)| {
            percent_encoding::percent_decode_str(v)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_default();
    let (status, answer) = deployment::webhook(app, &token, req.body());
    reply(status, answer)
}

fn jobs(app: &App, req: &Request) -> Response {
    let Ok(body) = std::str::from_utf8(req.body()) else {
        return error(
            400,
            "the body is not UTF-8: send the queue message's body as it is",
        );
    };
    let attempt = match req.header(ATTEMPT_HEADER).and_then(|v| v.as_str()) {
        None => 1,
        Some(a) => match a.trim().parse::<u32>() {
            Ok(n) if n >= 1 => n,
            _ => return error(400, "X-Affinity-Sync-Attempt must be a whole number from 1"),
        },
    };
    match deployment::run_job(app, body, attempt) {
        Ok(handled) => {
            let outcome = match handled {
                Handled::Written => json!({"result": "written"}),
                Handled::AlreadyDone => json!({"result": "already_done"}),
                Handled::Retried { delay } => json!({"result": "retried", "delay": delay}),
                Handled::Parked => json!({"result": "parked"}),
            };
            reply(200, outcome)
        }
        Err(e) => {
            // The store or the queue failed: the message must come again.
            tracing::error!("page failed, deliver the message again: {e:#}");
            error(
                503,
                &format!("the page was not finished ({e:#}); deliver the message again"),
            )
        }
    }
}

fn start(app: &App, req: &Request) -> Response {
    match deployment::start(app, req.body()) {
        Ok(started) => reply(202, serde_json::to_value(started).expect("json")),
        Err(StartError::BadRequest(e)) => error(400, &e),
        Err(StartError::Failed(e)) => {
            tracing::error!("POST /start failed: {e:#}");
            error(500, &format!("the sync could not be started: {e:#}"))
        }
    }
}
