//! The scrape endpoint: `hyper`'s HTTP/1 connections on a tokio listener.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, ToSocketAddrs};
use tokio::task::JoinSet;
use tokio_util::task::AbortOnDropHandle;

use crate::Exporter;

/// The OpenMetrics text format's content type, which Prometheus asks for.
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// A running metrics endpoint; see [`serve`](crate::serve). Dropping it
/// stops the server and closes its connections.
#[derive(Debug)]
pub struct MetricsServer {
    local_addr: SocketAddr,
    _task: AbortOnDropHandle<()>,
}

impl MetricsServer {
    /// The address the server is bound to (with the real port when asked
    /// for port 0).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{Pipeline, sink};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let handle = Pipeline::from_iter(0..10u64).sink(sink::drain()).spawn()?;
    /// let server = weir_metrics::serve("127.0.0.1:0", handle.monitor()).await?;
    /// println!("scrape http://{}/metrics", server.local_addr());
    /// # handle.join().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }
}

impl Exporter {
    /// Serves these metrics on `addr` (`GET /metrics`; any other path is
    /// 404) until the returned [`MetricsServer`] is dropped. Each scrape
    /// reads the monitor once; connections are served concurrently.
    ///
    /// # Errors
    ///
    /// The error of binding `addr`.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::{Pipeline, sink};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let handle = Pipeline::from_iter(0..10u64).sink(sink::drain()).spawn()?;
    /// let server = weir_metrics::Exporter::new(handle.monitor()).serve("127.0.0.1:0").await?;
    /// # handle.join().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn serve(self, addr: impl ToSocketAddrs) -> io::Result<MetricsServer> {
        let listener = TcpListener::bind(addr).await?;
        let local_addr = listener.local_addr()?;
        let task = tokio::spawn(accept(listener, self));
        Ok(MetricsServer { local_addr, _task: AbortOnDropHandle::new(task) })
    }
}

/// Accepts connections until aborted; the connections' tasks live in a
/// `JoinSet`, so aborting this task aborts them too.
async fn accept(listener: TcpListener, exporter: Exporter) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(error) => {
                // Out of file descriptors and the like: try again shortly.
                tracing::warn!(%error, "metrics: accept failed");
                tokio::task::yield_now().await;
                continue;
            }
        };
        let exporter = exporter.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| {
                let response = respond(&exporter, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            if let Err(error) = http1::Builder::new().serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!(%error, "metrics: connection ended on an error");
            }
        });
    }
}

fn respond(exporter: &Exporter, request: &Request<Incoming>) -> Response<Full<Bytes>> {
    let (status, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => (StatusCode::OK, exporter.encode()),
        (&Method::GET, crate::SAMPLES_PATH) => match exporter.samples_json() {
            Some(json) => {
                let mut response = Response::new(Full::new(Bytes::from(json)));
                response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                return response;
            }
            None => (
                StatusCode::NOT_FOUND,
                "not found: this program serves no samples; weir top needs one: start a weir_view::Sampler on the pipeline and pass its history to Exporter::samples\n".to_owned(),
            ),
        },
        (&Method::GET, _) => (StatusCode::NOT_FOUND, "not found: metrics are at /metrics\n".to_owned()),
        _ => (StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n".to_owned()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if status == StatusCode::OK {
        response.headers_mut().insert(CONTENT_TYPE, HeaderValue::from_static(OPENMETRICS));
    }
    response
}
