//! Deadlines from durations a user gives, which may be as long as
//! [`Duration::MAX`].
//!
//! # Why not `Instant::now() + d`?
//!
//! Adding a duration to an instant panics when the sum does not fit
//! (`Duration::MAX` never does), and tokio's timer panics too for a
//! deadline that fits but lies within a millisecond of the largest instant.
//! A batch `max_wait`, an attempt timeout or a drain timeout comes from a
//! user, a config file or a flag, so every such deadline goes through
//! [`deadline_after`]: a duration of [`NEVER_AFTER`] or more means "never",
//! and a run then simply has no timer for it.

use std::time::Duration;

use tokio::time::Instant;

/// Durations at least this long (30 years, the longest tokio's own `sleep`
/// waits) count as "never": no process waits that long, and every shorter
/// deadline fits in an [`Instant`] on every platform tokio supports.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
///
/// assert_eq!(weir_core::time::NEVER_AFTER, Duration::from_secs(30 * 365 * 86_400));
/// ```
pub const NEVER_AFTER: Duration = Duration::from_secs(30 * 365 * 86_400);

/// The instant `after` from now, or `None` ("never") when `after` is at
/// least [`NEVER_AFTER`]. Unlike `Instant::now() + after`, it cannot panic.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::time::deadline_after;
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let now = tokio::time::Instant::now();
/// assert_eq!(deadline_after(Duration::from_secs(2)), Some(now + Duration::from_secs(2)));
/// assert_eq!(deadline_after(Duration::MAX), None);
/// # }
/// ```
pub fn deadline_after(after: Duration) -> Option<Instant> {
    if after >= NEVER_AFTER { None } else { Instant::now().checked_add(after) }
}

/// Waits until `deadline`, or forever when it is `None`.
///
/// # Cancellation safety
///
/// Cancel-safe: dropping it only drops its timer.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use weir_core::time::{deadline_after, sleep_until};
///
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// let start = tokio::time::Instant::now();
/// sleep_until(deadline_after(Duration::from_secs(1))).await;
/// assert_eq!(start.elapsed(), Duration::from_secs(1));
/// let never = sleep_until(deadline_after(Duration::MAX));
/// assert!(tokio::time::timeout(Duration::from_secs(3600), never).await.is_err());
/// # }
/// ```
pub async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
