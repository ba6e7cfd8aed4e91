//! Sources that take part in the run: [`Source`].

use crate::error::BuildError;
use crate::stage::{EnvelopeStream, StageContext};

/// A source that takes part in the run, for a source that is more than a
/// stream: a broker consumer that reads ahead on a task of its own, or
/// that acknowledges in batches from one (Redis Streams' XACK, a Kafka
/// offset commit).
///
/// [`Pipeline::from_source`](crate::Pipeline::from_source) calls
/// [`validate`](Source::validate) when the pipeline is built and
/// [`start`](Source::start) when the run starts, with the context of the
/// stage named `"source"`. A task the source spawns is made part of the
/// run with [`StageContext::track`]: the run's report is taken, and `run()`
/// returns, only once it has stopped. So an acknowledging task that ends
/// once every acknowledgement it can still receive has been fired or
/// dropped sends its last acknowledgement before the run returns, and a
/// report is never taken with acknowledgements still on their way.
///
/// Intake stops (shutdown, a halt) by no longer pulling the stream; a
/// source that reads ahead watches
/// [`shutting_down`](StageContext::shutting_down) to stop reading, and
/// leaves what it read but did not hand over unacknowledged, for the
/// broker to deliver again.
///
/// # Examples
///
/// A source whose acknowledgements go to a task of its own, which writes
/// them down in groups:
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use futures::StreamExt;
/// use weir_core::prelude::*;
/// use weir_core::{Source, sink};
///
/// struct Acking {
///     items: Vec<u32>,
///     acked: Arc<Mutex<Vec<u32>>>,
/// }
///
/// impl Source for Acking {
///     type Item = u32;
///
///     fn start(self, ctx: StageContext) -> EnvelopeStream<u32> {
///         let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
///         let acked = self.acked;
///         // Ends once every acknowledgement has fired or been dropped.
///         tokio::spawn(ctx.track(async move {
///             let mut group = Vec::new();
///             while rx.recv_many(&mut group, 64).await > 0 {
///                 acked.lock().unwrap().append(&mut group);
///             }
///         }));
///         futures::stream::iter(self.items)
///             .map(move |i| {
///                 let tx = tx.clone();
///                 Envelope::with_ack(i, Ack::new(move || {
///                     let _ = tx.send(i);
///                 }))
///             })
///             .boxed()
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), RunError> {
/// let acked = Arc::new(Mutex::new(Vec::new()));
/// let source = Acking { items: (0..5).collect(), acked: acked.clone() };
/// Pipeline::from_source(source).sink(sink::drain()).run().await?;
/// // Every acknowledgement was written down before `run` returned.
/// assert_eq!(*acked.lock().unwrap(), [0, 1, 2, 3, 4]);
/// # Ok(())
/// # }
/// ```
pub trait Source: Send + 'static {
    /// The items the source gives.
    type Item: Send + 'static;

    /// Checks the source's configuration when the pipeline is built: an
    /// invalid value is a [`BuildError`] that `run()` and `spawn()`
    /// return before anything starts. The default accepts everything.
    fn validate(&self) -> Result<(), BuildError> {
        Ok(())
    }

    /// Starts the source when the run starts; `ctx` is the source stage's.
    fn start(self, ctx: StageContext) -> EnvelopeStream<Self::Item>;
}
