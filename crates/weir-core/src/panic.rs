//! Caught panics: the message of a panic's payload. A leaf module: the
//! failures that keep a panic's message and the run that reports one both
//! use it.

use std::any::Any;

/// The message of a caught panic's payload (`&str` or `String`), or a
/// placeholder for other payloads.
///
/// # Examples
///
/// ```
/// let payload = std::panic::catch_unwind(|| panic!("bad {}", 7)).unwrap_err();
/// assert_eq!(weir_core::panic_message(&*payload), "bad 7");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic with a non-string payload".to_owned()
    }
}
