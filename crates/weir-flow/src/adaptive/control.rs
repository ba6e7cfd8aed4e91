//! The controller: AIMD on round-trip time and overload errors, with a
//! slow start (the limit doubles) at first and after an outage.

use std::time::Duration;

use tokio::time::Instant;

use super::Settings;

/// How far above its baseline the mean round-trip time of a window may
/// rise before it counts as overload.
const TOLERANCE: f64 = 0.1;
/// The shortest window, whatever the round-trip time.
const MIN_WINDOW: Duration = Duration::from_millis(1);
/// A rise of the round trip smaller than this is noise, not a queue
/// (calls of a few microseconds vary by more than a tenth).
const NOISE: Duration = Duration::from_micros(100);

/// What one window of completions saw.
#[derive(Debug, Default, Clone, Copy)]
struct Window {
    count: u64,
    rtt_nanos: u128,
    overloads: u64,
    /// A call had to wait for the limit: more would have gone out.
    saturated: bool,
}

#[derive(Debug)]
pub(crate) struct Control {
    settings: Settings,
    limit: u32,
    slow_start: bool,
    /// The round-trip time when not overloaded: follows drops at once,
    /// rises only slowly and never right after an increase of the limit
    /// (so the queue the increases build does not become the norm, but a
    /// dependency that got slower for good does).
    baseline: Option<Duration>,
    /// Whether the last window raised the limit.
    raised: bool,
    window_start: Instant,
    window: Window,
}

impl Control {
    pub(crate) fn new(settings: Settings, now: Instant) -> Self {
        Self {
            limit: settings.initial,
            slow_start: true,
            baseline: None,
            raised: false,
            window_start: now,
            window: Window::default(),
            settings,
        }
    }

    #[cfg(test)]
    fn limit(&self) -> u32 {
        self.limit
    }

    /// A call had to wait for the limit.
    pub(crate) fn saturated(&mut self) {
        self.window.saturated = true;
    }

    /// Counts one completion (`overload`: a transient error or a timeout)
    /// and, at the end of a window, adjusts the limit; returns the new
    /// limit when it changed.
    pub(crate) fn record(&mut self, now: Instant, rtt: Duration, overload: bool) -> Option<u32> {
        let w = &mut self.window;
        w.count += 1;
        w.rtt_nanos += rtt.as_nanos();
        w.overloads += u64::from(overload);
        let length = self.baseline.unwrap_or(rtt).max(MIN_WINDOW);
        if now.saturating_duration_since(self.window_start) < length {
            return None;
        }
        let window = std::mem::take(&mut self.window);
        self.window_start = now;
        let before = self.limit;
        self.adjust(window);
        (self.limit != before).then_some(self.limit)
    }

    fn adjust(&mut self, w: Window) {
        let s = self.settings;
        let raised = std::mem::take(&mut self.raised);
        if w.overloads > 0 {
            // Overload errors: back off hard when most calls fail.
            let ratio = if w.overloads * 2 > w.count { 0.5 } else { s.decrease };
            self.decrease(ratio);
            if self.limit == s.min {
                // An outage: ramp up fast once it ends.
                self.slow_start = true;
            }
            return;
        }
        let mean = Duration::from_nanos(u64::try_from(w.rtt_nanos / u128::from(w.count)).unwrap_or(u64::MAX));
        let baseline = *self.baseline.get_or_insert(mean);
        if mean > baseline.mul_f64(1.0 + TOLERANCE) + NOISE {
            // A queue builds up at the dependency.
            self.decrease(s.decrease);
            self.slow_start = false;
            self.baseline = Some(baseline.mul_f64(0.99) + mean.mul_f64(0.01));
            return;
        }
        if mean < baseline {
            self.baseline = Some((baseline + mean) / 2);
        } else if !raised {
            self.baseline = Some(baseline.mul_f64(0.95) + mean.mul_f64(0.05));
        }
        if w.saturated && self.limit < s.max {
            self.limit =
                if self.slow_start { self.limit.saturating_mul(2) } else { self.limit + 1 }.min(s.max);
            self.raised = true;
        }
    }

    fn decrease(&mut self, ratio: f64) {
        let lower = (f64::from(self.limit) * ratio).floor() as u32;
        self.limit = lower.min(self.limit.saturating_sub(1)).max(self.settings.min);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings { min: 1, max: 100, initial: 1, decrease: 0.9 }
    }

    /// Feeds windows of `rtt` (saturated) and returns the limits.
    fn feed(
        control: &mut Control,
        now: &mut Instant,
        windows: usize,
        rtt: Duration,
        overload: bool,
    ) -> Vec<u32> {
        let mut limits = Vec::new();
        for _ in 0..windows {
            control.saturated();
            // One window: as long as the baseline round trip, at least.
            *now += control.baseline.unwrap_or(rtt).max(rtt);
            control.record(*now, rtt, overload);
            limits.push(control.limit());
        }
        limits
    }

    #[test]
    fn it_doubles_while_the_round_trip_holds_then_backs_off_when_it_rises() {
        let mut now = Instant::now();
        let mut control = Control::new(settings(), now);
        let ms = Duration::from_millis;
        assert_eq!(feed(&mut control, &mut now, 5, ms(5), false), [2, 4, 8, 16, 32]);
        // The round trip rises by a fifth: multiplicative decrease, and
        // slow start is over.
        assert_eq!(feed(&mut control, &mut now, 1, ms(6), false), [28]);
        assert_eq!(feed(&mut control, &mut now, 3, ms(5), false), [29, 30, 31]);
    }

    #[test]
    fn overload_errors_bring_it_to_the_minimum_and_it_ramps_up_fast_after() {
        let mut now = Instant::now();
        let mut control = Control::new(settings(), now);
        let ms = Duration::from_millis;
        feed(&mut control, &mut now, 6, ms(5), false);
        assert_eq!(control.limit(), 64);
        let down = feed(&mut control, &mut now, 8, ms(50), true);
        assert_eq!(down, [32, 16, 8, 4, 2, 1, 1, 1]);
        assert_eq!(feed(&mut control, &mut now, 6, ms(5), false), [2, 4, 8, 16, 32, 64]);
    }

    #[test]
    fn it_never_leaves_its_bounds_and_holds_when_not_saturated() {
        let mut now = Instant::now();
        let mut control = Control::new(Settings { min: 2, max: 10, initial: 2, decrease: 0.9 }, now);
        let ms = Duration::from_millis;
        assert_eq!(feed(&mut control, &mut now, 4, ms(5), false), [4, 8, 10, 10]);
        // Not saturated: no reason to grow.
        now += ms(5);
        control.record(now, ms(5), false);
        assert_eq!(control.limit(), 10);
        assert!(feed(&mut control, &mut now, 20, ms(50), true).iter().all(|l| *l >= 2));
    }
}
