//! Scripted operations for the behaviour tests.
#![allow(dead_code, unreachable_pub, reason = "each test file uses a different part")]

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use weir_core::{Classify, ErrorClass, Operation};

/// A test error with a chosen class and Retry-After.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TestError {
    pub class: ErrorClass,
    pub retry_after: Option<Duration>,
}

impl TestError {
    pub const TRANSIENT: TestError = TestError { class: ErrorClass::Transient, retry_after: None };

    pub fn of(class: ErrorClass) -> Self {
        TestError { class, retry_after: None }
    }
}

impl fmt::Display for TestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} test error", self.class)
    }
}

impl std::error::Error for TestError {}

impl Classify for TestError {
    fn class(&self) -> ErrorClass {
        self.class
    }

    fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

type Script = dyn Fn(usize) -> (Duration, Result<(), TestError>) + Send + Sync;

/// An operation that follows a script: attempt `i` (0-based, over all
/// items) takes the scripted time, then returns the scripted result. It
/// records when each attempt started.
#[derive(Clone)]
pub struct Scripted {
    starts: Arc<Mutex<Vec<Instant>>>,
    script: Arc<Script>,
}

impl Scripted {
    pub fn new(script: impl Fn(usize) -> (Duration, Result<(), TestError>) + Send + Sync + 'static) -> Self {
        Self { starts: Arc::default(), script: Arc::new(script) }
    }

    /// Fails instantly with `error` on the first `n` attempts, then succeeds.
    pub fn failing(n: usize, error: TestError) -> Self {
        Self::new(move |i| (Duration::ZERO, if i < n { Err(error) } else { Ok(()) }))
    }

    /// Always fails instantly with `error`.
    pub fn always(error: TestError) -> Self {
        Self::failing(usize::MAX, error)
    }

    pub fn attempts(&self) -> usize {
        self.starts.lock().unwrap().len()
    }

    pub fn starts(&self) -> Vec<Instant> {
        self.starts.lock().unwrap().clone()
    }

    /// The gaps between consecutive attempt starts.
    pub fn gaps(&self) -> Vec<Duration> {
        self.starts().windows(2).map(|w| w[1] - w[0]).collect()
    }
}

impl Operation<u32> for Scripted {
    type Output = u32;
    type Error = TestError;
    type Future = Pin<Box<dyn Future<Output = Result<u32, TestError>> + Send>>;

    fn apply(&self, input: u32) -> Self::Future {
        let i = {
            let mut starts = self.starts.lock().unwrap();
            starts.push(Instant::now());
            starts.len() - 1
        };
        let (takes, result) = (self.script)(i);
        Box::pin(async move {
            tokio::time::sleep(takes).await;
            result.map(|()| input)
        })
    }
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}
