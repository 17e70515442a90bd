//! The AWS Lambda Runtime API on loopback, as the Lambda service serves it to a custom
//! runtime (`/2018-06-01/runtime/...`): the function binary under test polls `next`, gets an
//! event with its request id, deadline and function ARN headers, and posts the response or
//! the error. The test hands events to [`RuntimeApi::invoke`] and gets the answers, so the
//! binary runs exactly as in AWS, through `lambda_runtime`'s own loop.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, mpsc, oneshot};

/// What an invocation ended with: the function's response, or its error report.
pub type Answer = Result<Value, Value>;

struct Shared {
    events: Mutex<mpsc::Receiver<(String, Value)>>,
    waiting: Mutex<HashMap<String, oneshot::Sender<Answer>>>,
    init_error: Mutex<Option<Value>>,
}

pub struct RuntimeApi {
    /// `host:port`, for `AWS_LAMBDA_RUNTIME_API`.
    pub address: String,
    send: mpsc::Sender<(String, Value)>,
    shared: Arc<Shared>,
    next_id: std::sync::atomic::AtomicU64,
}

async fn next(State(s): State<Arc<Shared>>) -> impl IntoResponse {
    let Some((id, event)) = s.events.lock().await.recv().await else {
        return (StatusCode::GONE, HeaderMap::new(), Vec::new());
    };
    let deadline = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
        + 300_000;
    let mut h = HeaderMap::new();
    h.insert(
        "lambda-runtime-aws-request-id",
        HeaderValue::from_str(&id).unwrap(),
    );
    h.insert(
        "lambda-runtime-deadline-ms",
        HeaderValue::from_str(&deadline.to_string()).unwrap(),
    );
    h.insert(
        "lambda-runtime-invoked-function-arn",
        HeaderValue::from_static("arn:aws:lambda:us-east-1:123456789012:function:affinity-sync"),
    );
    h.insert(
        "lambda-runtime-trace-id",
        HeaderValue::from_static("Root=1-0-0"),
    );
    h.insert("content-type", HeaderValue::from_static("application/json"));
    (StatusCode::OK, h, serde_json::to_vec(&event).unwrap())
}

async fn answer(s: &Shared, id: &str, a: Answer) -> StatusCode {
    match s.waiting.lock().await.remove(id) {
        Some(tx) => {
            tx.send(a).ok();
            StatusCode::ACCEPTED
        }
        None => StatusCode::BAD_REQUEST,
    }
}

async fn response(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    answer(&s, &id, Ok(v)).await
}

async fn error(State(s): State<Arc<Shared>>, Path(id): Path<String>, body: Bytes) -> StatusCode {
    let v = serde_json::from_slice(&body).unwrap_or(Value::Null);
    answer(&s, &id, Err(v)).await
}

async fn init_error(State(s): State<Arc<Shared>>, body: Bytes) -> StatusCode {
    *s.init_error.lock().await = Some(serde_json::from_slice(&body).unwrap_or(Value::Null));
    StatusCode::ACCEPTED
}

impl RuntimeApi {
    pub async fn start() -> RuntimeApi {
        let (send, recv) = mpsc::channel(1);
        let shared = Arc::new(Shared {
            events: Mutex::new(recv),
            waiting: Mutex::new(HashMap::new()),
            init_error: Mutex::new(None),
        });
        let app = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route(
                "/2018-06-01/runtime/invocation/{id}/response",
                post(response),
            )
            .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap().to_string();
        tokio::spawn(async move { axum::serve(listener, app).await.ok() });
        RuntimeApi {
            address,
            send,
            shared,
            next_id: 0.into(),
        }
    }

    /// Delivers `event` to the function and waits for its answer (at most `timeout`).
    pub async fn invoke(&self, event: Value, timeout: Duration) -> Answer {
        let n = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("req-{n:06}");
        let (tx, rx) = oneshot::channel();
        self.shared.waiting.lock().await.insert(id.clone(), tx);
        self.send.send((id, event)).await.expect("runtime API open");
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(a)) => a,
            _ => panic!(
                "the function did not answer within {timeout:?} (init error: {:?})",
                self.shared.init_error.lock().await
            ),
        }
    }

    /// The error the function reported from its init, if any.
    pub async fn init_error(&self) -> Option<Value> {
        self.shared.init_error.lock().await.clone()
    }
}
