//! The dead-letter record: a failure, kept whole, in a storable form.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use weir_core::{ErrorClass, Failure};

/// A failed item with everything needed to inspect it or process it again:
/// the original item, the error's message and source chain, its
/// classification, the attempt count, the stage's name, the first and last
/// failure times and, when the operation panicked, the panic message.
///
/// Records are built from any [`Failure`] whose error implements
/// [`std::error::Error`], by the dead-letter stage
/// ([`dead_letter`](crate::DeadLetterExt::dead_letter)) or with
/// [`from_failure`](DeadLetter::from_failure).
///
/// # Serialized form
///
/// With serde (and so in a [`JsonLines`](crate::JsonLines) file) a record is
/// an object with these fields, in this order:
///
/// | field | meaning |
/// |---|---|
/// | `stage` | the name of the stage where the item failed |
/// | `error` | the error's message (for a panic: `operation panicked: …`) |
/// | `sources` | the messages of the error's source chain, outermost first |
/// | `class` | `"transient"`, `"permanent"` or `"poison"` |
/// | `attempts` | attempts made, over every run that processed the item |
/// | `first_failed_at_ms`, `last_failed_at_ms` | failure times, in milliseconds since the Unix epoch (UTC) |
/// | `panic` | the panic message, or `null` |
/// | `count` | how many source items the record stands for (more than 1 for a batch) |
/// | `item` | the original item |
///
/// Times are Unix milliseconds rather than RFC 3339 text: they are exact,
/// compare and sort as numbers, and need no date library to read back.
///
/// # Examples
///
/// ```
/// use weir_deadletter::DeadLetter;
///
/// let line = r#"{"stage":"parse","error":"not a number","sources":[],"class":"permanent","attempts":2,
///     "first_failed_at_ms":1700000000000,"last_failed_at_ms":1700000000500,"panic":null,"count":1,"item":"x"}"#;
/// let record: DeadLetter<String> = serde_json::from_str(line)?;
/// assert_eq!(record.stage(), "parse");
/// assert_eq!(record.attempts(), 2);
/// assert_eq!(record.class(), weir_core::ErrorClass::Permanent);
/// assert_eq!(record.item(), "x");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadLetter<I> {
    stage: String,
    error: String,
    sources: Vec<String>,
    #[serde(with = "class_name")]
    class: ErrorClass,
    attempts: u32,
    first_failed_at_ms: u64,
    last_failed_at_ms: u64,
    panic: Option<String>,
    count: u64,
    item: I,
}

impl<I> DeadLetter<I> {
    /// Builds the record of `failure`, with a copy of its item; the failure
    /// is left as it is (settle it once the record is stored).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_core::prelude::*;
    /// use weir_core::sink;
    /// use weir_deadletter::DeadLetter;
    ///
    /// #[derive(Debug, thiserror::Error)]
    /// #[error("odd number {0}")]
    /// struct Odd(u32);
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), RunError> {
    /// let records = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    /// let kept = records.clone();
    /// Pipeline::from_iter([1u32, 2])
    ///     .try_map("even", |x| if x % 2 == 0 { Ok(x) } else { Err(Odd(x)) })
    ///     .inspect_failures(move |f| kept.lock().unwrap().push(DeadLetter::from_failure(f)))
    ///     .discard_failures()
    ///     .sink(sink::drain())
    ///     .run()
    ///     .await?;
    /// let records = records.lock().unwrap();
    /// assert_eq!(records[0].error(), "odd number 1");
    /// assert_eq!((records[0].stage(), *records[0].item()), ("even", 1));
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_failure<E>(failure: &Failure<I, E>) -> Self
    where
        I: Clone,
        E: std::error::Error + 'static,
    {
        Self::describe(failure, failure.item().clone())
    }

    /// Splits `failure` into its record, which takes the item, and the rest
    /// of the failure, which keeps its unfired acknowledgements.
    pub(crate) fn split<E>(failure: Failure<I, E>) -> (Self, Failure<(), E>)
    where
        E: std::error::Error + 'static,
    {
        let mut item = None;
        let rest = failure.map_item(|i| item = Some(i));
        let item = item.expect("map_item calls its closure once");
        (Self::describe(&rest, item), rest)
    }

    fn describe<J, E>(failure: &Failure<J, E>, item: I) -> Self
    where
        E: std::error::Error + 'static,
    {
        let mut chain = failure.error_chain().into_iter();
        let error = chain.next().unwrap_or_default();
        Self {
            stage: failure.stage().to_owned(),
            error,
            sources: chain.collect(),
            class: failure.class(),
            attempts: failure.attempts(),
            first_failed_at_ms: unix_millis(failure.first_failed_at()),
            last_failed_at_ms: unix_millis(failure.last_failed_at()),
            panic: failure.cause().panic_message().map(str::to_owned),
            count: failure.count(),
            item,
        }
    }

    /// The name of the stage where the item failed.
    pub fn stage(&self) -> &str {
        &self.stage
    }

    /// The error's message.
    pub fn error(&self) -> &str {
        &self.error
    }

    /// The messages of the error's sources, outermost first.
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// The error's classification.
    pub fn class(&self) -> ErrorClass {
        self.class
    }

    /// The attempts made, over every run that processed the item.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// When the item first failed (millisecond precision).
    pub fn first_failed_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.first_failed_at_ms)
    }

    /// When the item last failed (millisecond precision).
    pub fn last_failed_at(&self) -> SystemTime {
        UNIX_EPOCH + Duration::from_millis(self.last_failed_at_ms)
    }

    /// The panic message, when the operation panicked.
    pub fn panic_message(&self) -> Option<&str> {
        self.panic.as_deref()
    }

    /// How many source items the record stands for.
    pub fn count(&self) -> u64 {
        self.count
    }

    /// The original item.
    pub fn item(&self) -> &I {
        &self.item
    }

    /// Takes the original item.
    pub fn into_item(self) -> I {
        self.item
    }
}

/// Milliseconds since the Unix epoch; 0 for earlier times.
fn unix_millis(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// [`ErrorClass`] as its lowercase name.
mod class_name {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};
    use weir_core::ErrorClass;

    pub(super) fn serialize<S: Serializer>(class: &ErrorClass, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(class.as_str())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<ErrorClass, D::Error> {
        let name = String::deserialize(d)?;
        match name.as_str() {
            "transient" => Ok(ErrorClass::Transient),
            "permanent" => Ok(ErrorClass::Permanent),
            "poison" => Ok(ErrorClass::Poison),
            other => Err(D::Error::unknown_variant(other, &["transient", "permanent", "poison"])),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_before_the_epoch_are_zero_and_after_are_millis() {
        assert_eq!(unix_millis(UNIX_EPOCH - Duration::from_secs(1)), 0);
        assert_eq!(unix_millis(UNIX_EPOCH + Duration::from_micros(2_500)), 2);
    }

    #[test]
    fn an_unknown_class_is_an_error() {
        let line = r#"{"stage":"s","error":"e","sources":[],"class":"flaky","attempts":1,
            "first_failed_at_ms":0,"last_failed_at_ms":0,"panic":null,"count":1,"item":1}"#;
        let err = serde_json::from_str::<DeadLetter<u32>>(line).unwrap_err();
        assert!(err.to_string().contains("flaky"), "{err}");
    }
}
