//! One outgoing HTTP request over `wasi:http`, waited for where it is made.
//!
//! The queued driver is async, but nothing in a component runs beside it, so every request
//! completes before its caller goes on: the store, queue and fetcher futures never hold a
//! `wasi:http` resource across an `.await`, which keeps them `Send` as the driver's traits
//! ask.

use spin_sdk::http::{Method, Request, Response};

/// What the server answered.
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: Vec<u8>,
}

/// Sends one request and reads the whole answer. `Err` is a transport failure (no
/// connection, a reset, a timeout), described without the URL or any header.
pub fn send(
    method: Method,
    url: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Result<Reply, String> {
    let mut builder = Request::builder();
    builder.method(method).uri(url);
    for (name, value) in headers {
        builder.header(name.as_str(), value.as_str());
    }
    let request = builder.body(body).build();
    let response: Response = spin_sdk::http::run(spin_sdk::http::send(request))
        .map_err(|e| format!("request failed: {e}"))?;
    let mut map = http::HeaderMap::new();
    for (name, value) in response.headers() {
        if let (Ok(n), Ok(v)) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            http::HeaderValue::from_bytes(value.as_bytes()),
        ) {
            map.append(n, v);
        }
    }
    Ok(Reply {
        status: *response.status(),
        headers: map,
        body: response.into_body(),
    })
}
