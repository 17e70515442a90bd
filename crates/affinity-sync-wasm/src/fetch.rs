//! The page GET to Affinity over `wasi:http`: the one place the component uses the key.

use crate::outbound;
use affinity_sync_core::Request;
use affinity_sync_core::step::Auth;
use affinity_sync_io::fetch::{ApiKey, MAX_BODY_BYTES, Response};
use affinity_sync_io::queued::PageFetcher;
use base64::Engine;
use spin_sdk::http::Method;

pub struct WasiFetcher;

impl PageFetcher for WasiFetcher {
    async fn get_page(&self, request: &Request, key: &ApiKey) -> Result<Response, String> {
        let authorization = match request.auth {
            // v1: HTTP Basic with an empty user name and the key as the password.
            Auth::Basic => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!(":{}", key.expose()))
            ),
            Auth::Bearer => format!("Bearer {}", key.expose()),
        };
        let headers = [
            ("authorization".to_string(), authorization),
            (
                "user-agent".to_string(),
                concat!("affinity-sync/", env!("CARGO_PKG_VERSION")).to_string(),
            ),
        ];
        let reply = outbound::send(Method::Get, &request.url, &headers, vec![])?;
        if reply.body.len() > MAX_BODY_BYTES {
            return Err(format!(
                "response of {} bytes is over the {MAX_BODY_BYTES}-byte limit",
                reply.body.len()
            ));
        }
        Ok(Response {
            status: reply.status,
            headers: reply.headers,
            body: reply.body,
        })
    }
}
