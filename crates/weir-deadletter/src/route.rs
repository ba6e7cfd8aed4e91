//! The dead-letter stage as a [`FailureRoute`]: failures go to a writer
//! task through a bounded queue, in groups.

use std::fmt;

use futures::future::BoxFuture;
use tokio::sync::mpsc;
use tokio_util::task::AbortOnDropHandle;
use tracing::Instrument;
use weir_core::{BuildError, Failure, FailureRoute, RunControl, Sink};

use crate::error::DeadLetterError;
use crate::options::DeadLetterOptions;
use crate::record::DeadLetter;
use crate::writer::Writer;

/// Routes failures to a [`Writer`], started at the first failure.
pub(crate) struct DeadLetterRoute<I, E, Si> {
    /// The sink and settings until the first failure.
    idle: Option<(Si, DeadLetterOptions)>,
    /// The writer task once started; it ends when the sender is dropped.
    running: Option<Running<I, E>>,
}

struct Running<I, E> {
    failures: mpsc::Sender<Failure<I, E>>,
    /// Aborted when the pipeline is dropped (a forced ending).
    writer: AbortOnDropHandle<()>,
    name: String,
    /// Failures routed and not yet handed to the writer: they go in groups
    /// (one wake of the writer's task per group, not per failure), when
    /// `max_batch` of them wait or when the pipeline has nothing else
    /// ready ([`FailureRoute::on_idle`]).
    held: Vec<Failure<I, E>>,
    max_batch: usize,
}

impl<I: Send + 'static, E: Send + 'static> Running<I, E> {
    /// Hands the held failures to the writer, in order; a failure the
    /// writer can no longer take ends the run.
    fn hand_on(&mut self, control: &RunControl) -> BoxFuture<'static, ()> {
        let held = std::mem::take(&mut self.held);
        let (failures, name, control) = (self.failures.clone(), self.name.clone(), control.clone());
        Box::pin(async move {
            for failure in held {
                if let Err(mpsc::error::SendError(failure)) = failures.send(failure).await {
                    control.fail(&name, DeadLetterError::WriterGone, failure);
                }
            }
        })
    }
}

impl<I, E, Si> DeadLetterRoute<I, E, Si> {
    pub(crate) fn new(sink: Si, options: DeadLetterOptions) -> Self {
        Self { idle: Some((sink, options)), running: None }
    }
}

impl<I, E, Si> fmt::Debug for DeadLetterRoute<I, E, Si> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadLetterRoute").field("running", &self.running.is_some()).finish_non_exhaustive()
    }
}

fn writer<I, E, Si>(
    sink: Si,
    options: DeadLetterOptions,
    control: &RunControl,
) -> (Writer<I, E, Si>, mpsc::Sender<Failure<I, E>>) {
    // `validate` rejected other sizes before the run started.
    let max_batch = options.max_batch.clamp(1, crate::options::MAX_QUEUE);
    let (tx, rx) = mpsc::channel(max_batch);
    let writer = Writer {
        sink,
        failures: rx,
        control: control.clone(),
        store_attempts: options.store_attempts,
        max_batch,
        name: options.name,
        down: false,
    };
    (writer, tx)
}

impl<I, E, Si> FailureRoute<I, E> for DeadLetterRoute<I, E, Si>
where
    I: Send + 'static,
    E: weir_core::StageError,
    Si: Sink<DeadLetter<I>>,
{
    type Future = BoxFuture<'static, ()>;
    type Finish = BoxFuture<'static, ()>;

    /// The options, then the store (named after the stage).
    fn validate(&self) -> Result<(), BuildError> {
        let Some((sink, options)) = &self.idle else { return Ok(()) };
        options.validate()?;
        sink.validate(options.get_name())
    }

    fn route(&mut self, failure: Failure<I, E>, control: &RunControl) -> Self::Future {
        if let Some((sink, options)) = self.idle.take() {
            let name = options.name.clone();
            let (writer, failures) = writer(sink, options, control);
            let max_batch = writer.max_batch;
            let span = tracing::info_span!("weir.dead_letter", stage = %name);
            let task = tokio::spawn(control.track(writer.run().instrument(span)));
            let writer = AbortOnDropHandle::new(task);
            self.running = Some(Running { failures, writer, name, held: Vec::new(), max_batch });
        }
        let running = self.running.as_mut().expect("the writer starts at the first failure");
        running.held.push(failure);
        if running.held.len() >= running.max_batch {
            return running.hand_on(control);
        }
        Box::pin(std::future::ready(()))
    }

    fn on_idle(&mut self, control: &RunControl) -> Option<Self::Future> {
        let running = self.running.as_mut().filter(|running| !running.held.is_empty())?;
        Some(running.hand_on(control))
    }

    fn finish(self, control: &RunControl) -> Self::Finish {
        match (self.idle, self.running) {
            (_, Some(mut running)) => {
                let handing_on = running.hand_on(control);
                let Running { failures, mut writer, .. } = running;
                drop(failures);
                Box::pin(async move {
                    handing_on.await;
                    if let Err(e) = (&mut writer).await {
                        tracing::error!(error = %e, "the dead-letter writer task failed");
                    }
                })
            }
            (Some((sink, options)), None) => {
                let (writer, failures) = writer::<I, E, Si>(sink, options, control);
                drop(failures);
                Box::pin(writer.run())
            }
            (None, None) => Box::pin(std::future::ready(())),
        }
    }
}
