//! The HTTP server: authentication, rate limits, faults, routing to the v1 and v2 views,
//! and the control endpoints under `/__` (off Affinity's paths, no key needed):
//!
//! - `GET /__truth`: the whole data set as JSON (what a correct sync must end up with),
//! - `GET /__stats`: requests served, by route and status, and faults injected,
//! - `PUT /__faults`: replace the fault plan (JSON [`FaultPlan`]),
//! - `POST /__changes`: make a seeded series of changes and post their webhook events to a
//!   URL (JSON [`ChangeRequest`]; see `mutate`).

use crate::api::{ApiError, Req};
use crate::faults::{Fault, FaultPlan, Faults};
use crate::generate::{Sizes, generate};
use crate::limits::{Limiter, RateLimits};
use crate::model::{Dataset, WebhookSubscription};
use crate::mutate::{self, ChangePlan, DeliveryPlan};
use crate::store::Store;
use crate::{v1, v2};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::Response;
use base64::Engine;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// Everything that shapes a double.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// The one API key the double accepts.
    pub api_key: String,
    pub seed: u64,
    pub sizes: Sizes,
    pub limits: RateLimits,
    pub faults: FaultPlan,
    /// Base of v2 `nextUrl`s; by default `http://` + the request's Host header.
    pub public_url: Option<String>,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            api_key: "test-key".into(),
            seed: 7,
            sizes: Sizes::default(),
            limits: RateLimits::default(),
            faults: FaultPlan::default(),
            public_url: None,
        }
    }
}

/// What the double has served so far.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// Authenticated Affinity requests (the ones that count against rate limits).
    pub requests: u64,
    /// By route template, e.g. `GET /v2/lists/{}/list-entries`.
    pub by_route: BTreeMap<String, u64>,
    pub by_status: BTreeMap<u16, u64>,
    /// Faults injected, by kind.
    pub faults: BTreeMap<String, u64>,
    /// Requests refused by the rate or concurrency limits (not injected faults).
    pub rate_limited: u64,
}

struct Shared {
    /// Replaced whole when the data set changes, so a request reads one consistent version.
    store: RwLock<Arc<Store>>,
    api_key: String,
    public_url: Option<String>,
    max_concurrent: Option<usize>,
    limiter: Mutex<Limiter>,
    faults: Mutex<Faults>,
    stats: Mutex<Stats>,
    in_flight: AtomicUsize,
}

/// A running double. Dropping it stops the server.
pub struct MockServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl MockServer {
    /// Generates the data set and serves it on `addr` (port 0 picks a free port).
    pub async fn start(config: MockConfig, addr: SocketAddr) -> std::io::Result<MockServer> {
        let dataset = generate(config.seed, &config.sizes);
        Self::serve(config, dataset, addr).await
    }

    /// Serves a given data set.
    pub async fn serve(
        config: MockConfig,
        dataset: Dataset,
        addr: SocketAddr,
    ) -> std::io::Result<MockServer> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            store: RwLock::new(Arc::new(Store::new(dataset))),
            api_key: config.api_key,
            public_url: config.public_url,
            max_concurrent: config.limits.max_concurrent,
            limiter: Mutex::new(Limiter::new(config.limits)),
            faults: Mutex::new(Faults::new(config.faults)),
            stats: Mutex::new(Stats::default()),
            in_flight: AtomicUsize::new(0),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(MockServer {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, the base URL to point a client at.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The ground truth: every record the double serves now.
    pub fn dataset(&self) -> DatasetView {
        DatasetView(self.shared.store())
    }

    /// Makes a seeded series of changes (see `mutate`) and returns their webhook events in
    /// the order they happened.
    pub fn change(&self, plan: &ChangePlan) -> Vec<serde_json::Value> {
        self.shared.change(plan)
    }

    /// Changes the data set by hand (tests that need a particular change, e.g. a note
    /// edited now); the double serves the result from the next request on.
    pub fn edit<T>(&self, f: impl FnOnce(&mut Dataset) -> T) -> T {
        self.shared.edit(f)
    }

    pub fn stats(&self) -> Stats {
        self.shared.stats.lock().expect("stats lock").clone()
    }

    /// Replaces the fault plan (request numbering restarts at 1).
    pub fn set_faults(&self, plan: FaultPlan) {
        self.shared.faults.lock().expect("faults lock").set(plan);
    }

    /// Stops the server and waits for it to finish.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Runs until the process gets Ctrl-C.
    pub async fn run_until_ctrl_c(self) {
        let _ = tokio::signal::ctrl_c().await;
        self.stop().await;
    }
}

impl Drop for MockServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// The data set as of one moment (later changes make a new one).
pub struct DatasetView(Arc<Store>);

impl std::ops::Deref for DatasetView {
    type Target = Dataset;
    fn deref(&self) -> &Dataset {
        &self.0.ds
    }
}

impl Shared {
    fn store(&self) -> Arc<Store> {
        self.store.read().expect("store lock").clone()
    }

    fn edit<T>(&self, f: impl FnOnce(&mut Dataset) -> T) -> T {
        let mut guard = self.store.write().expect("store lock");
        let mut ds = guard.ds.clone();
        let out = f(&mut ds);
        *guard = Arc::new(Store::new(ds));
        out
    }

    fn change(&self, plan: &ChangePlan) -> Vec<serde_json::Value> {
        self.edit(|ds| mutate::apply(ds, plan))
    }
}

/// `POST /__changes`: changes to make, and where to post their events.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChangeRequest {
    pub changes: ChangePlan,
    /// The receiver's URL; without it the events are only returned.
    #[serde(default)]
    pub deliver_to: Option<String>,
    #[serde(default)]
    pub delivery: DeliveryPlan,
}

/// Posts `events` to `url` as Affinity does, `parallel` at a time (at least one): a delivery
/// that fails (not 2xx, or no answer) is tried again, up to five times with a short backoff.
/// Returns how many deliveries were answered 2xx, or the first that never was.
pub async fn deliver(
    url: &str,
    events: &[serde_json::Value],
    parallel: usize,
) -> Result<usize, String> {
    use futures_util::StreamExt;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| e.to_string())?;
    let url = url.to_string();
    let results: Vec<Result<(), String>> = futures_util::stream::iter(events.to_vec())
        .map(|e: serde_json::Value| {
            let client = client.clone();
            let url = url.clone();
            async move {
                let mut wait = Duration::from_millis(50);
                for attempt in 1..=5 {
                    let sent = client.post(&url).json(&e).send().await;
                    if sent.as_ref().is_ok_and(|r| r.status().is_success()) {
                        return Ok(());
                    }
                    if attempt == 5 {
                        let why = match sent {
                            Ok(r) => format!("answered {}", r.status()),
                            Err(err) => format!("failed: {err}"),
                        };
                        return Err(format!("delivering {} to the receiver {why}", e["type"]));
                    }
                    tokio::time::sleep(wait).await;
                    wait *= 2;
                }
                unreachable!("the loop returns")
            }
        })
        .buffered(parallel.max(1))
        .collect()
        .await;
    let mut ok = 0;
    for r in results {
        r?;
        ok += 1;
    }
    Ok(ok)
}

/// Decrements the in-flight count however the request ends.
struct InFlight<'a>(&'a AtomicUsize);
impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

fn json_response(
    status: u16,
    body: &serde_json::Value,
    rate: &[(&'static str, String)],
) -> Response {
    text_response(status, serde_json::to_vec(body).expect("json"), rate)
}

/// A response of JSON text.
fn text_response(status: u16, bytes: Vec<u8>, rate: &[(&'static str, String)]) -> Response {
    let mut res = Response::new(Body::from(bytes));
    *res.status_mut() = StatusCode::from_u16(status).expect("status");
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    add_headers(res.headers_mut(), rate);
    res
}

fn add_headers(h: &mut HeaderMap, rate: &[(&'static str, String)]) {
    for (k, v) in rate {
        h.insert(*k, HeaderValue::from_str(v).expect("header value"));
    }
}

/// The key a request presents, if any: `Bearer KEY`, or (v1 only) Basic with the key as
/// password and an empty user.
fn presented_key(headers: &HeaderMap, v2: bool) -> Result<String, &'static str> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("No API key was provided")?;
    if let Some(token) = auth.strip_prefix("Bearer ") {
        return Ok(token.trim().to_string());
    }
    if let Some(b64) = auth.strip_prefix("Basic ") {
        if v2 {
            return Err("API v2 uses bearer authentication: send 'Authorization: Bearer <key>'");
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|_| "Malformed basic authentication header")?;
        let raw = String::from_utf8(raw).map_err(|_| "Malformed basic authentication header")?;
        let (_, password) = raw
            .split_once(':')
            .ok_or("Malformed basic authentication header")?;
        return Ok(password.to_string());
    }
    Err("Unsupported authorization scheme")
}

/// Route template for stats: numeric segments become `{}`.
fn route_name(method: &Method, path: &str) -> String {
    let t: Vec<&str> = path
        .split('/')
        .map(|s| {
            if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
                "{}"
            } else {
                s
            }
        })
        .collect();
    format!("{method} {}", t.join("/"))
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let path = parts.uri.path().to_string();
    if let Some(control) = path.strip_prefix("/__") {
        let body = axum::body::to_bytes(body, 1 << 20)
            .await
            .unwrap_or_default();
        if parts.method == Method::POST && control == "changes" {
            return changes_endpoint(&shared, &body).await;
        }
        return control_endpoint(&shared, &parts.method, control, body);
    }
    let v2 = path == "/v2" || path.starts_with("/v2/");
    let mut rate = shared.limiter.lock().expect("limiter").peek(Instant::now());

    // Authentication comes first: nothing else is revealed to a caller without the key.
    match presented_key(&parts.headers, v2) {
        Ok(key) if key == shared.api_key => {}
        Ok(_) => {
            return finish(
                &shared,
                &parts.method,
                &path,
                json_response(
                    401,
                    &ApiError::new(401, "authentication", "The API key is invalid").body(),
                    &rate,
                ),
            );
        }
        Err(why) => {
            return finish(
                &shared,
                &parts.method,
                &path,
                json_response(
                    401,
                    &ApiError::new(401, "authentication", why).body(),
                    &rate,
                ),
            );
        }
    }
    // Writes: only the v1 webhook subscription endpoints.
    let writable = !v2 && path.starts_with("/webhook");
    let body_bytes = axum::body::to_bytes(body, 64 * 1024)
        .await
        .unwrap_or_default();
    if parts.method != Method::GET && !writable {
        let e = ApiError::new(
            405,
            "method-not-allowed",
            format!("{} is not supported on {path} by this double", parts.method),
        );
        return finish(
            &shared,
            &parts.method,
            &path,
            json_response(405, &e.body(), &rate),
        );
    }

    let in_flight = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    let _guard = InFlight(&shared.in_flight);
    let exempt = matches!(
        path.as_str(),
        "/rate-limit" | "/auth/whoami" | "/v2/auth/whoami"
    );
    let verdict = shared
        .limiter
        .lock()
        .expect("limiter")
        .admit(Instant::now(), !exempt);
    rate = verdict.headers;
    shared.stats.lock().expect("stats").requests += 1;
    let over_concurrency = shared.max_concurrent.is_some_and(|m| in_flight > m);
    if !verdict.allowed || over_concurrency {
        shared.stats.lock().expect("stats").rate_limited += 1;
        let why = if over_concurrency {
            "Too many concurrent requests"
        } else {
            "Rate limit exceeded"
        };
        return finish(
            &shared,
            &parts.method,
            &path,
            json_response(429, &ApiError::new(429, "rate-limit", why).body(), &rate),
        );
    }

    let (fault, slow_ms) = {
        let mut f = shared.faults.lock().expect("faults");
        (f.next_fault(), f.slow_ms())
    };
    if let Some(fault) = fault {
        *shared
            .stats
            .lock()
            .expect("stats")
            .faults
            .entry(fault.name().to_string())
            .or_default() += 1;
    }
    match fault {
        Some(Fault::RateLimited) => {
            let mut headers = rate.clone();
            for (k, v) in headers.iter_mut() {
                if *k == "x-ratelimit-limit-user-remaining" {
                    *v = "0".into();
                }
            }
            let e = ApiError::new(429, "rate-limit", "Rate limit exceeded");
            return finish(
                &shared,
                &parts.method,
                &path,
                json_response(429, &e.body(), &headers),
            );
        }
        Some(Fault::ServerError) => {
            let e = ApiError::new(500, "server", "Internal server error");
            return finish(
                &shared,
                &parts.method,
                &path,
                json_response(500, &e.body(), &rate),
            );
        }
        Some(Fault::Unavailable) => {
            let e = ApiError::new(503, "server", "Service unavailable");
            return finish(
                &shared,
                &parts.method,
                &path,
                json_response(503, &e.body(), &rate),
            );
        }
        Some(Fault::Forbidden) => {
            let e = ApiError::new(
                403,
                "authorization",
                "You do not have permission to access this resource",
            );
            return finish(
                &shared,
                &parts.method,
                &path,
                json_response(403, &e.body(), &rate),
            );
        }
        Some(Fault::Slow) => tokio::time::sleep(Duration::from_millis(slow_ms)).await,
        _ => {}
    }

    let host = parts
        .headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let base_url = shared
        .public_url
        .clone()
        .unwrap_or_else(|| format!("http://{host}"));
    let query: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes())
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
    let req = Req {
        path: &path,
        query,
        base_url: &base_url,
    };
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let store = shared.store();
    let as_text = |result: Result<serde_json::Value, ApiError>| {
        result.map(|body| serde_json::to_vec(&body).expect("json"))
    };
    // The hot pages render straight to text; every other route builds a tree.
    let result = if parts.method != Method::GET {
        as_text(webhook_write(
            &shared,
            &parts.method,
            &segments,
            &body_bytes,
        ))
    } else if v2 {
        v2::route_text(&store, &req, &segments[1..])
            .unwrap_or_else(|| as_text(v2::route(&store, &req, &segments[1..])))
    } else {
        let rate_body = shared.limiter.lock().expect("limiter").body(Instant::now());
        as_text(v1::route(&store, &req, &segments, rate_body))
    };
    let (status, body) = match result {
        Ok(body) => (200, body),
        Err(e) => (e.status, serde_json::to_vec(&e.body()).expect("json")),
    };
    let response = match fault {
        Some(Fault::Drop) => broken_body(body, &rate, true),
        Some(Fault::Truncated) => broken_body(body, &rate, false),
        Some(Fault::Malformed) => {
            let mut res = Response::new(Body::from(
                "<html><body><h1>502 Bad Gateway</h1></body></html>",
            ));
            res.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            add_headers(res.headers_mut(), &rate);
            res
        }
        _ => text_response(status, body, &rate),
    };
    finish(&shared, &parts.method, &path, response)
}

/// A 200 whose JSON is cut in half: either the connection drops after half the promised
/// Content-Length (`drop`), or the body is complete as HTTP but half as JSON (truncated).
fn broken_body(bytes: Vec<u8>, rate: &[(&'static str, String)], drop_connection: bool) -> Response {
    let half = Bytes::copy_from_slice(&bytes[..bytes.len() / 2]);
    let mut res = if drop_connection {
        use futures_util::StreamExt;
        // The headers and the first half go out; a moment later the connection is reset.
        let first = futures_util::stream::iter([Ok::<Bytes, std::io::Error>(half)]);
        let reset = futures_util::stream::once(async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "fault: drop",
            ))
        });
        let mut res = Response::new(Body::from_stream(first.chain(reset)));
        res.headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
        res
    } else {
        Response::new(Body::from(half))
    };
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    add_headers(res.headers_mut(), rate);
    res
}

fn finish(shared: &Shared, method: &Method, path: &str, res: Response) -> Response {
    let mut stats = shared.stats.lock().expect("stats");
    *stats.by_route.entry(route_name(method, path)).or_default() += 1;
    *stats.by_status.entry(res.status().as_u16()).or_default() += 1;
    tracing::debug!(%method, path, status = res.status().as_u16(), "served");
    res
}

async fn changes_endpoint(shared: &Shared, body: &[u8]) -> Response {
    let req: ChangeRequest = match serde_json::from_slice(body) {
        Ok(r) => r,
        Err(e) => {
            return json_response(
                400,
                &ApiError::bad_request(format!("Invalid change request: {e}")).body(),
                &[],
            );
        }
    };
    let events = shared.change(&req.changes);
    let mut delivered = serde_json::Value::Null;
    if let Some(url) = &req.deliver_to {
        let order = mutate::delivery_order(&events, &req.delivery);
        match deliver(url, &order, req.delivery.parallel).await {
            Ok(n) => delivered = serde_json::json!(n),
            Err(e) => {
                return json_response(
                    502,
                    &serde_json::json!({ "error": e, "events": events }),
                    &[],
                );
            }
        }
    }
    json_response(
        200,
        &serde_json::json!({ "events": events, "delivered": delivered }),
        &[],
    )
}

fn control_endpoint(shared: &Shared, method: &Method, path: &str, body: Bytes) -> Response {
    let ok = |v: serde_json::Value| json_response(200, &v, &[]);
    match (method.as_str(), path) {
        ("GET", "truth") => ok(serde_json::to_value(&shared.store().ds).expect("dataset json")),
        ("GET", "stats") => {
            ok(serde_json::to_value(&*shared.stats.lock().expect("stats")).expect("stats json"))
        }
        ("PUT", "faults") => match serde_json::from_slice::<FaultPlan>(&body) {
            Ok(plan) => {
                shared.faults.lock().expect("faults").set(plan.clone());
                ok(serde_json::to_value(plan).expect("plan json"))
            }
            Err(e) => json_response(
                400,
                &ApiError::bad_request(format!("Invalid fault plan: {e}")).body(),
                &[],
            ),
        },
        _ => json_response(
            404,
            &ApiError::not_found(format!("No control endpoint {method} /__{path}")).body(),
            &[],
        ),
    }
}

/// The writes of v1's webhook subscription API: `POST /webhook/subscribe`,
/// `PUT /webhook/{id}`, `DELETE /webhook/{id}`, with Affinity's limit of three.
fn webhook_write(
    shared: &Shared,
    method: &Method,
    segments: &[&str],
    body: &[u8],
) -> Result<serde_json::Value, ApiError> {
    /// Subscriptions an Affinity instance may have.
    const LIMIT: usize = 3;
    #[derive(serde::Deserialize, Default)]
    struct Params {
        webhook_url: Option<String>,
        subscriptions: Option<Vec<String>>,
        disabled: Option<bool>,
    }
    let params = || -> Result<Params, ApiError> {
        if body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
            return serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")));
        }
        let mut p = Params::default();
        for (k, v) in form_urlencoded::parse(body) {
            match k.as_ref() {
                "webhook_url" => p.webhook_url = Some(v.into_owned()),
                "subscriptions[]" | "subscriptions" => p
                    .subscriptions
                    .get_or_insert_with(Vec::new)
                    .push(v.into_owned()),
                "disabled" => p.disabled = Some(v == "true"),
                _ => {}
            }
        }
        Ok(p)
    };
    let check_url = |u: &str| -> Result<(), ApiError> {
        if u.starts_with("https://") || u.starts_with("http://") {
            Ok(())
        } else {
            Err(ApiError::unprocessable(
                "webhook_url must be an http(s) URL",
            ))
        }
    };
    match (method.as_str(), segments) {
        ("POST", ["webhook", "subscribe"]) => {
            let p = params()?;
            let url = p
                .webhook_url
                .ok_or_else(|| ApiError::bad_request("webhook_url is required"))?;
            check_url(&url)?;
            shared.edit(|ds| {
                if ds.webhook_subscriptions.len() >= LIMIT {
                    return Err(ApiError::unprocessable(
                        "There is a limit of three webhook subscriptions per Affinity instance",
                    ));
                }
                let id = ds
                    .webhook_subscriptions
                    .iter()
                    .map(|w| w.id)
                    .max()
                    .unwrap_or(0)
                    + 1;
                let w = WebhookSubscription {
                    id,
                    webhook_url: url,
                    subscriptions: p.subscriptions.unwrap_or_default(),
                    disabled: false,
                    created_by: ds.api_user_id,
                };
                let out = v1::webhook(&w);
                ds.webhook_subscriptions.push(w);
                Ok(out)
            })
        }
        ("PUT", ["webhook", id]) | ("DELETE", ["webhook", id]) => {
            let id: i64 = id
                .parse()
                .map_err(|_| ApiError::bad_request("webhook_subscription_id must be an integer"))?;
            let p = if method == Method::PUT {
                params()?
            } else {
                Params::default()
            };
            if let Some(u) = &p.webhook_url {
                check_url(u)?;
            }
            shared.edit(|ds| {
                let ix = ds
                    .webhook_subscriptions
                    .iter()
                    .position(|w| w.id == id)
                    .ok_or_else(|| ApiError::not_found("Webhook subscription not found"))?;
                if method == Method::DELETE {
                    ds.webhook_subscriptions.remove(ix);
                    return Ok(serde_json::json!({ "success": true }));
                }
                let w = &mut ds.webhook_subscriptions[ix];
                if let Some(u) = p.webhook_url {
                    w.webhook_url = u;
                }
                if let Some(s) = p.subscriptions {
                    w.subscriptions = s;
                }
                if let Some(d) = p.disabled {
                    w.disabled = d;
                }
                Ok(v1::webhook(w))
            })
        }
        _ => Err(ApiError::new(
            405,
            "method-not-allowed",
            format!(
                "{method} is not supported on /{} by this double",
                segments.join("/")
            ),
        )),
    }
}
