//! One connection to Redis that comes back: a command that fails because
//! the connection dropped is sent again on a new connection, with the
//! reconnect policy's backoff, until the policy gives up.

use std::sync::Arc;
use std::time::Duration;

use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Client, Cmd, Pipeline, Value};
use weir_core::{Attempt, ErrorClass, Verdict};
use weir_retry::RetryPolicy;

use crate::counters::Counts;
use crate::error::RedisError;

/// What a [`Link`] sends.
pub(crate) enum Request<'a> {
    Cmd(&'a Cmd),
    Pipe(&'a Pipeline),
}

/// A connection, opened again after it fails.
pub(crate) struct Link {
    client: Client,
    url: String,
    policy: RetryPolicy,
    config: AsyncConnectionConfig,
    conn: Option<MultiplexedConnection>,
    /// Connections opened so far; a reader compares it before and after
    /// a command to see that the connection was replaced.
    pub(crate) generation: u64,
    counts: Arc<Counts>,
}

impl Link {
    pub(crate) fn new(
        client: Client,
        url: String,
        policy: RetryPolicy,
        response_timeout: Duration,
        counts: Arc<Counts>,
    ) -> Self {
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(Duration::from_secs(2)))
            .set_response_timeout(Some(response_timeout));
        Self { client, url, policy, config, conn: None, generation: 0, counts }
    }

    /// Sends `request`, reconnecting as the policy allows when the
    /// connection fails. An error that a new connection cannot mend (a
    /// wrong key type) is returned at once.
    pub(crate) async fn query(
        &mut self,
        name: &'static str,
        request: Request<'_>,
    ) -> Result<Value, RedisError> {
        self.query_with(name, request, true).await
    }

    /// Sends `request` once, on a new connection if the last one failed.
    pub(crate) async fn query_once(
        &mut self,
        name: &'static str,
        request: Request<'_>,
    ) -> Result<Value, RedisError> {
        self.query_with(name, request, false).await
    }

    async fn query_with(
        &mut self,
        name: &'static str,
        request: Request<'_>,
        retry: bool,
    ) -> Result<Value, RedisError> {
        let mut attempt = Attempt::first();
        loop {
            self.policy.deposit();
            let error = match self.connection().await {
                Ok(conn) => {
                    let result = match request {
                        Request::Cmd(cmd) => cmd.query_async(conn).await,
                        Request::Pipe(pipe) => pipe.query_async(conn).await,
                    };
                    match result {
                        Ok(value) => return Ok(value),
                        Err(source) => RedisError::Command { command: name, source },
                    }
                }
                Err(error) => error,
            };
            if error.is_connection_error() {
                self.conn = None;
            }
            if !error.is_connection_error() || !retry {
                return Err(error);
            }
            match self.policy.decide(&mut attempt, ErrorClass::Transient, None) {
                Verdict::Retry(delay) => {
                    tracing::warn!(url = %self.url, command = name, error = %error, ?delay, "Redis unreachable; reconnecting");
                    tokio::time::sleep(delay).await;
                    attempt.next();
                }
                _ => {
                    return Err(RedisError::GaveUp {
                        url: self.url.clone(),
                        attempts: attempt.number(),
                        elapsed: attempt.elapsed(),
                        last: Box::new(error),
                    });
                }
            }
        }
    }

    async fn connection(&mut self) -> Result<&mut MultiplexedConnection, RedisError> {
        if self.conn.is_none() {
            let conn = self
                .client
                .get_multiplexed_async_connection_with_config(&self.config)
                .await
                .map_err(|source| RedisError::Connect { url: self.url.clone(), source })?;
            if self.generation > 0 {
                self.counts.reconnects.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tracing::info!(url = %self.url, "reconnected to Redis");
            }
            self.generation += 1;
            self.conn = Some(conn);
        }
        Ok(self.conn.as_mut().expect("set above"))
    }
}
