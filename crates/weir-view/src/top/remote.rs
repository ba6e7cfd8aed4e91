//! Reading a pipeline in another process: its metrics endpoint's
//! `/weir/samples` (weir-metrics' `Exporter::samples`), over HTTP/1.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::Request;
use hyper::header::HOST;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use weir_metrics::SAMPLES_PATH;

use crate::error::AttachError;
use crate::history::Snapshot;

/// How long one read may take.
const TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// A metrics endpoint to read samples from.
#[derive(Debug, Clone)]
pub(crate) struct Remote {
    authority: String,
    path: String,
}

impl Remote {
    /// `http://HOST:PORT` (the samples' path is added) or a full URL.
    pub(crate) fn parse(url: &str) -> Result<Self, AttachError> {
        let bad = || AttachError::BadAddress(url.to_owned());
        let rest = url.strip_prefix("http://").unwrap_or(url);
        let (authority, path) = match rest.find('/') {
            Some(i) if i + 1 < rest.len() => (&rest[..i], &rest[i..]),
            Some(i) => (&rest[..i], SAMPLES_PATH),
            None => (rest, SAMPLES_PATH),
        };
        if rest.contains("://")
            || authority.rsplit_once(':').is_none_or(|(_, port)| port.parse::<u16>().is_err())
        {
            return Err(bad());
        }
        Ok(Self { authority: authority.to_owned(), path: path.to_owned() })
    }

    pub(crate) fn url(&self) -> String {
        format!("http://{}{}", self.authority, self.path)
    }

    /// One GET of the samples, given up after [`TIMEOUT`]: a stalled
    /// endpoint must not freeze the view.
    pub(crate) async fn read(&self) -> Result<Snapshot, AttachError> {
        match tokio::time::timeout(TIMEOUT, self.get()).await {
            Ok(read) => read,
            Err(_) => Err(AttachError::Http {
                url: self.url(),
                source: format!("no answer within {} s", TIMEOUT.as_secs()).into(),
            }),
        }
    }

    async fn get(&self) -> Result<Snapshot, AttachError> {
        let http =
            |source: Box<dyn std::error::Error + Send + Sync>| AttachError::Http { url: self.url(), source };
        let stream = TcpStream::connect(&self.authority).await.map_err(|e| http(e.into()))?;
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| http(e.into()))?;
        let request = Request::get(&self.path)
            .header(HOST, &self.authority)
            .body(Empty::<Bytes>::new())
            .map_err(|e| http(e.into()))?;
        // The connection is driven beside the request; it ends once the
        // request (and its sender) is done.
        let exchange = async move {
            let response = sender.send_request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, hyper::Error>((status, body))
        };
        let (exchange, _) = tokio::join!(exchange, connection);
        let (status, body) = exchange.map_err(|e| http(e.into()))?;
        if !status.is_success() {
            let text = String::from_utf8_lossy(&body).trim().to_owned();
            return Err(http(format!("HTTP {status}: {text}").into()));
        }
        serde_json::from_slice(&body).map_err(|source| AttachError::NotAHistory { url: self.url(), source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(
            Remote::parse("http://127.0.0.1:9898").unwrap().url(),
            "http://127.0.0.1:9898/weir/samples"
        );
        assert_eq!(Remote::parse("127.0.0.1:9898/").unwrap().url(), "http://127.0.0.1:9898/weir/samples");
        assert_eq!(Remote::parse("http://h:1/x").unwrap().url(), "http://h:1/x");
        for bad in ["https://h:1", "h", "http://h:port", ""] {
            assert!(matches!(Remote::parse(bad), Err(AttachError::BadAddress(_))), "{bad}");
        }
    }
}
