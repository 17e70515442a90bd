//! `affinity-sync show`: a local web page over a store and the DuckDB database loaded from
//! it, for looking at a sync before trusting it. Server-rendered HTML (`pages`) around
//! what `status` reports (`snapshot`) and what the database holds (`db`, read only); the
//! page, its styles and its charts are in the binary (`html`), so it loads nothing from the
//! network.
//!
//! Who may look: by default it listens on loopback, and answers only requests whose `Host`
//! is a loopback name (a web page elsewhere cannot reach it through DNS rebinding). With a
//! token (required off loopback) every request carries it: `?token=` once, which the page
//! trades for a cookie and drops from the address, or `Authorization: Bearer`.

pub mod db;
mod html;
mod pages;
pub mod snapshot;

use crate::ops::store::Store;
use anyhow::{Context, Result};
use axum::Router;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use db::Db;
use snapshot::Snapshot;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

/// What the page shows and who may see it.
pub struct Options {
    /// The store as the user named it (`--from`).
    pub label: String,
    /// The options that reach the store again, for the commands the page prints.
    pub store_args: String,
    pub db: Option<Db>,
    pub token: Option<String>,
}

struct Shared {
    store: Store,
    options: Options,
}

/// The cookie a token is kept in once given.
const COOKIE: &str = "affinity_sync_show";

/// Listens on `listen`, with the error a person can act on when the port is taken.
pub async fn bind(listen: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen).await.map_err(|e| {
        if e.kind() == std::io::ErrorKind::AddrInUse {
            anyhow::anyhow!(
                "--listen {listen}: the address is in use (another show, or another server): \
                 pick a free port, e.g. --listen {}:{}",
                listen.ip(),
                listen.port().wrapping_add(1).max(1024)
            )
        } else {
            anyhow::Error::new(e).context(format!("--listen {listen}: cannot listen there"))
        }
    })
}

/// Serves the page on `listener` until `stop` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    store: Store,
    options: Options,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<()> {
    let shared = Arc::new(Shared { store, options });
    let app = Router::new()
        .route("/", get(overview))
        .route("/history", get(history))
        .route("/tables", get(tables))
        .route("/data", get(data))
        .route("/fields", get(fields))
        .route("/changes", get(changes))
        .layer(axum::middleware::from_fn_with_state(shared.clone(), guard))
        .with_state(shared);
    axum::serve(listener, app)
        .with_graceful_shutdown(stop)
        .await
        .context("serving the page")
}

/// The handlers' state.
type Shared_ = State<Arc<Shared>>;

/// The page `path` with the body `view` makes, given the store's snapshot when
/// `needs_store`. Both run on a blocking thread: the view may query the database, and the
/// store's report is a future the compiler cannot show to be `Send` (its listing closures),
/// so it is driven there with `block_on` rather than across the server's tasks.
async fn render(
    st: Arc<Shared>,
    path: &'static str,
    needs_store: bool,
    view: impl FnOnce(Option<Snapshot>, Option<Db>) -> String + Send + 'static,
) -> Response {
    let runtime = tokio::runtime::Handle::current();
    let page = tokio::task::spawn_blocking(move || {
        let label = &st.options.label;
        let snap = if needs_store {
            let taken = runtime.block_on(snapshot::take(&st.store, label, &st.options.store_args));
            match taken {
                Ok(s) => Some(s),
                Err(e) => {
                    let body = format!(
                        "<div class=\"error\" id=\"store-error\">reading {}: {}</div>",
                        html::esc(label),
                        html::esc(&format!("{e:#}"))
                    );
                    return (StatusCode::BAD_GATEWAY, html::page(path, label, &body));
                }
            }
        } else {
            None
        };
        let body = view(snap, st.options.db.clone());
        (StatusCode::OK, html::page(path, label, &body))
    })
    .await;
    match page {
        Ok((status, page)) => (status, Html(page)).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{e}")).into_response(),
    }
}

async fn overview(State(st): Shared_) -> Response {
    render(st, "/", true, |s, _| pages::overview(&s.expect("snapshot"))).await
}

async fn history(State(st): Shared_) -> Response {
    render(st, "/history", true, |s, _| {
        pages::history(&s.expect("snapshot"))
    })
    .await
}

async fn tables(State(st): Shared_) -> Response {
    render(st, "/tables", false, |_, db| pages::tables(db.as_ref())).await
}

async fn data(State(st): Shared_, Query(q): Query<HashMap<String, String>>) -> Response {
    let sql = q.get("sql").cloned();
    render(st, "/data", false, move |_, db| {
        pages::data(db.as_ref(), sql.as_deref())
    })
    .await
}

async fn fields(State(st): Shared_) -> Response {
    render(st, "/fields", false, |_, db| pages::fields(db.as_ref())).await
}

async fn changes(State(st): Shared_) -> Response {
    render(st, "/changes", true, |s, db| {
        pages::changes(&s.expect("snapshot"), db.as_ref())
    })
    .await
}

/// Lets a request through when it may see the page (see the module's doc).
async fn guard(State(st): Shared_, req: Request, next: Next) -> Response {
    let Some(token) = st.options.token.as_deref() else {
        return if host_is_loopback(req.headers()) {
            next.run(req).await
        } else {
            (
                StatusCode::FORBIDDEN,
                "this page answers only on a loopback address (127.0.0.1, localhost, [::1])\n",
            )
                .into_response()
        };
    };
    let given = query_value(req.uri().query().unwrap_or(""), "token");
    if given.as_deref().is_some_and(|g| same(g, token)) {
        // Traded for a cookie, and dropped from the address (and the browser's history).
        let mut response = (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, req.uri().path().to_string())],
        )
            .into_response();
        if let Ok(cookie) = HeaderValue::from_str(&format!(
            "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
        )) {
            response.headers_mut().insert(header::SET_COOKIE, cookie);
        }
        return response;
    }
    let cookie = req
        .headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().strip_prefix(&format!("{COOKIE}=")))
        .any(|v| same(v, token));
    let bearer = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .is_some_and(|v| same(v, token));
    if cookie || bearer {
        next.run(req).await
    } else {
        (
            StatusCode::UNAUTHORIZED,
            "a token is required: open the address `affinity-sync show` printed, with ?token=<your --token>\n",
        )
            .into_response()
    }
}

/// Whether the request names a loopback host.
fn host_is_loopback(headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(""),
        None => host.split(':').next().unwrap_or(""),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Equal, compared in time that does not depend on where they differ.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// The value of `key` in a query string, percent-decoded.
fn query_value(query: &str, key: &str) -> Option<String> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then(|| {
            let bytes = v.as_bytes();
            let mut out = vec![];
            let mut i = 0;
            while i < bytes.len() {
                match bytes[i] {
                    b'+' => out.push(b' '),
                    b'%' if i + 2 < bytes.len() => {
                        let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).ok();
                        match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                            Some(b) => {
                                out.push(b);
                                i += 2;
                            }
                            None => out.push(b'%'),
                        }
                    }
                    b => out.push(b),
                }
                i += 1;
            }
            String::from_utf8_lossy(&out).into_owned()
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_tokens() {
        let host = |h: &str| {
            let mut m = HeaderMap::new();
            m.insert(header::HOST, HeaderValue::from_str(h).unwrap());
            host_is_loopback(&m)
        };
        assert!(host("127.0.0.1:8765") && host("localhost:8765") && host("[::1]:8765"));
        assert!(!host("evil.example:8765") && !host("10.0.0.2:8765"));
        assert!(!host_is_loopback(&HeaderMap::new()));
        assert_eq!(
            query_value("a=1&token=s%2Fx+y", "token").as_deref(),
            Some("s/x y")
        );
        assert_eq!(query_value("token=ab%2", "token").as_deref(), Some("ab%2"));
        assert_eq!(query_value("a=1", "token"), None);
        assert!(same("abc", "abc") && !same("abc", "abd") && !same("abc", "ab"));
    }
}
