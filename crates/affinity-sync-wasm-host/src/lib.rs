//! A `wasi:http` host for the affinity-sync WebAssembly component, built on wasmtime the way
//! `wasmtime serve` is: the component is compiled once (or loaded precompiled), and every
//! request instantiates it afresh, as Spin does, and hands it that one request. Its outgoing
//! requests (Affinity, S3, SQS) go out through wasmtime-wasi-http's default client.
//!
//! The tests drive the component through [`ComponentHost::call`]; `affinity-sync-wasm-host
//! serve` puts it on a port (for `affinity-sync worker`), and `measure` times it.

use anyhow::{Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::server::conn::http1;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wasmtime::component::{Component, Linker, ResourceTable};
use wasmtime::{Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::io::TokioIo;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

/// Bindings of `wit/sync.wit`, the component's typed export.
mod step {
    wasmtime::component::bindgen!({
        path: "../../wit",
        world: "affinity:sync/sync-step",
        exports: { default: async },
    });
}

pub use step::exports::affinity::sync::step::Outcome;

struct State {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
}

impl WasiView for State {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for State {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: Default::default(),
        }
    }
}

pub struct ComponentHost {
    pre: ProxyPre<State>,
    env: Vec<(String, String)>,
    /// Every request's time from arrival to the response head, in order (for `serve`'s log
    /// and the benchmark).
    timings: Mutex<Vec<(String, u16, Duration)>>,
    /// Where the component's stdout (its metric lines) goes: this process's stdout, as
    /// `wasmtime serve` and Spin do, unless [`ComponentHost::with_stdout`] names a file.
    stdout: Option<wasmtime_wasi::cli::OutputFile>,
}

/// What the component answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: serde_json::Value,
}

impl ComponentHost {
    /// Compiles the component at `path`; every instance gets `env` as its environment.
    pub fn load(path: &Path, env: &[(&str, &str)]) -> Result<ComponentHost> {
        let engine = Engine::default();
        let component = Component::from_file(&engine, path)
            .map_err(anyhow::Error::from)
            .with_context(|| format!("loading the component {}", path.display()))?;
        ComponentHost::new(&engine, &component, env)
    }

    /// A host for an already compiled `component` (see [`precompile`]).
    pub fn new(
        engine: &Engine,
        component: &Component,
        env: &[(&str, &str)],
    ) -> Result<ComponentHost> {
        let mut linker = Linker::new(engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        wasmtime_wasi_http::p2::add_only_http_to_linker_async(&mut linker)?;
        let pre = linker
            .instantiate_pre(component)
            .map_err(anyhow::Error::from)
            .context("the component imports something wasi:http/proxy does not offer")?;
        Ok(ComponentHost {
            pre: ProxyPre::new(pre)
                .map_err(anyhow::Error::from)
                .context("the component exports no wasi:http/incoming-handler")?,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            timings: Mutex::new(vec![]),
            stdout: None,
        })
    }

    /// Sends what the component writes to stdout to `file` (the tests read its metric lines
    /// there).
    pub fn with_stdout(mut self, file: std::fs::File) -> ComponentHost {
        self.stdout = Some(wasmtime_wasi::cli::OutputFile::new(file));
        self
    }

    /// A store for one instance: the environment, stdout and stderr, a fresh resource table.
    fn store(&self) -> Store<State> {
        let mut wasi = WasiCtx::builder();
        wasi.envs(&self.env).inherit_stderr();
        match &self.stdout {
            Some(file) => wasi.stdout(file.clone()),
            None => wasi.inherit_stdout(),
        };
        Store::new(
            self.pre.engine(),
            State {
                wasi: wasi.build(),
                http: WasiHttpCtx::new(),
                table: ResourceTable::new(),
            },
        )
    }

    /// A fresh instance with its `affinity:sync/step` export.
    async fn step_instance(&self) -> Result<(Store<State>, step::SyncStep)> {
        let mut store = self.store();
        let instance = self
            .pre
            .instance_pre()
            .instantiate_async(&mut store)
            .await?;
        let step = step::SyncStep::new(&mut store, &instance)?;
        Ok((store, step))
    }

    /// Runs one job through the typed `affinity:sync/step` export (no HTTP): `message` as the
    /// queue carries it. The inner `Err` is the component's (deliver the message again).
    pub async fn run_job(&self, message: &str, attempt: u32) -> Result<Result<Outcome, String>> {
        let (mut store, step) = self.step_instance().await?;
        Ok(step
            .affinity_sync_step()
            .call_run_job(&mut store, message, attempt)
            .await?)
    }

    /// Seeds a sync through the `affinity:sync/step` export; `request` is the start JSON.
    pub async fn start(&self, request: &str) -> Result<Result<String, String>> {
        let (mut store, step) = self.step_instance().await?;
        Ok(step
            .affinity_sync_step()
            .call_start(&mut store, request)
            .await?)
    }

    /// The requests handled so far: route, status, time to the response head.
    pub fn timings(&self) -> Vec<(String, u16, Duration)> {
        self.timings.lock().unwrap().clone()
    }

    /// One request to a fresh instance, through the same path as [`ComponentHost::serve`].
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut request = hyper::Request::builder()
            .method(method)
            .uri(format!("http://affinity-sync.local{path}"));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request
            .body(Full::new(Bytes::copy_from_slice(body)))
            .unwrap();
        let response = self.handle(request).await;
        let status = response.status().as_u16();
        let bytes = response
            .into_body()
            .collect()
            .await
            .expect("the component's body")
            .to_bytes();
        Answer {
            status,
            body: serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
            }),
        }
    }

    /// Hands `request` to a fresh instance and returns its response; panics if the component
    /// traps or sets no response.
    async fn handle<B>(&self, request: hyper::Request<B>) -> hyper::Response<HyperOutgoingBody>
    where
        B: hyper::body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<wasmtime_wasi_http::Error>,
    {
        let began = Instant::now();
        let route = format!("{} {}", request.method(), request.uri().path());
        let mut store = self.store();
        let (sender, receiver) = tokio::sync::oneshot::channel();
        let request = store
            .data_mut()
            .http()
            .new_incoming_request(Scheme::Http, request)
            .unwrap();
        let out = store
            .data_mut()
            .http()
            .new_response_outparam(sender)
            .unwrap();
        let pre = self.pre.clone();
        let task = tokio::spawn(async move {
            let proxy = pre.instantiate_async(&mut store).await?;
            proxy
                .wasi_http_incoming_handler()
                .call_handle(&mut store, request, out)
                .await
        });
        let response = match receiver.await {
            Ok(Ok(response)) => response,
            Ok(Err(e)) => panic!("the component answered with an error code: {e:?}"),
            Err(_) => panic!(
                "the component set no response: {:?}",
                task.await.map(|r| r.map_err(|e| format!("{e:#}")))
            ),
        };
        self.timings
            .lock()
            .unwrap()
            .push((route, response.status().as_u16(), began.elapsed()));
        // The body streams while the guest finishes; a trap shows up when it is read.
        tokio::spawn(async move {
            if let Ok(Err(e)) = task.await {
                eprintln!("the component trapped: {e:#}");
            }
        });
        response
    }

    /// Serves the component over HTTP/1.1 on `address` (port 0: a free one), as `wasmtime
    /// serve` and `spin up` do, in the background; the address it listens on.
    pub async fn serve(self: Arc<Self>, address: SocketAddr) -> Result<SocketAddr> {
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .with_context(|| format!("listening on {address}"))?;
        let address = listener.local_addr()?;
        tokio::spawn(async move {
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                let host = self.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let host = host.clone();
                        async move { Ok::<_, Infallible>(host.handle(request).await) }
                    });
                    http1::Builder::new()
                        .serve_connection(TokioIo::new(client), service)
                        .await
                        .ok();
                });
            }
        });
        Ok(address)
    }
}

/// Compiles the component at `path` to native code for `engine` (what `wasmtime compile`
/// writes); [`load_precompiled`] loads it without compiling.
pub fn precompile(engine: &Engine, path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(engine.precompile_component(&bytes)?)
}

/// Loads what [`precompile`] wrote with the same engine settings.
pub fn load_precompiled(engine: &Engine, bytes: &[u8]) -> Result<Component> {
    // SAFETY: the bytes come from `precompile` in this process (trusted, same engine).
    Ok(unsafe { Component::deserialize(engine, bytes) }?)
}
