//! The breaker's state machine, shared by every clone of a breaker and
//! every call through it.

use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use super::{BreakerState, Settings};

/// How many slots the window is divided into.
const SLOTS: usize = 10;

pub(crate) struct Shared {
    settings: Settings,
    machine: Mutex<Machine>,
    /// Bumped at every change of state: waiting calls look again.
    changed: watch::Sender<u64>,
    /// The state's code, readable without the lock (gauges, `state()`).
    state: AtomicU8,
    opened: AtomicU64,
    closed: AtomicU64,
    waiting: AtomicU64,
    /// The stage it guards, for its traces.
    name: Mutex<String>,
}

struct Machine {
    phase: Phase,
    /// Bumped at every change of phase: a call or probe let through in an
    /// earlier phase is not counted (or given back) in a later one.
    generation: u64,
    window: Window,
    /// Failures in a row while closed.
    in_a_row: u32,
}

enum Phase {
    Closed,
    Open {
        until: Instant,
    },
    HalfOpen {
        /// Probes not handed out yet.
        tickets: u32,
        /// Probes that succeeded.
        passed: u32,
    },
}

/// How a call got through.
pub(crate) enum Pass {
    /// While closed (in that generation): its result counts in the window.
    Call(u64),
    /// As a probe: its result decides.
    Probe(Ticket),
}

/// A probe's turn; given back if the probe is dropped before it ends.
pub(crate) struct Ticket {
    shared: Option<Arc<Shared>>,
    /// The half-open phase it was handed out in.
    generation: u64,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.take() {
            shared.give_back(self.generation);
        }
    }
}

/// Counts a call as waiting while it lives.
struct Waiting<'a>(&'a AtomicU64);

impl<'a> Waiting<'a> {
    fn new(count: &'a AtomicU64) -> Self {
        count.fetch_add(1, Ordering::Relaxed);
        Self(count)
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Shared {
    pub(crate) fn new(settings: Settings) -> Self {
        Self {
            settings,
            machine: Mutex::new(Machine {
                phase: Phase::Closed,
                generation: 0,
                window: Window::new(settings.window, Instant::now()),
                in_a_row: 0,
            }),
            changed: watch::Sender::new(0),
            state: AtomicU8::new(0),
            opened: AtomicU64::new(0),
            closed: AtomicU64::new(0),
            waiting: AtomicU64::new(0),
            name: Mutex::new("breaker".to_owned()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Machine> {
        self.machine.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn name(&self, stage: &str) {
        *self.name.lock().unwrap_or_else(|e| e.into_inner()) = stage.to_owned();
    }

    fn stage(&self) -> String {
        self.name.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn state(&self) -> BreakerState {
        match self.state.load(Ordering::Acquire) {
            0 => BreakerState::Closed,
            1 => BreakerState::HalfOpen,
            _ => BreakerState::Open,
        }
    }

    pub(crate) fn times_opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    pub(crate) fn times_closed(&self) -> u64 {
        self.closed.load(Ordering::Relaxed)
    }

    pub(crate) fn waiting(&self) -> u64 {
        self.waiting.load(Ordering::Relaxed)
    }

    /// Waits until the call may go: at once while closed; while open,
    /// until the cool-down ends (then the first callers are the probes);
    /// while half-open, until the probes' verdict.
    pub(crate) async fn admit(self: &Arc<Self>) -> Pass {
        let mut waiting = None;
        loop {
            // Subscribed before the look: a change after it wakes us.
            let mut changed = self.changed.subscribe();
            let until = {
                let mut machine = self.lock();
                let now = Instant::now();
                let generation = machine.generation;
                match &mut machine.phase {
                    Phase::Closed => return Pass::Call(generation),
                    Phase::HalfOpen { tickets, .. } if *tickets > 0 => {
                        *tickets -= 1;
                        return self.probe(generation);
                    }
                    Phase::HalfOpen { .. } => None,
                    Phase::Open { until } if now >= *until => {
                        let half_open = Phase::HalfOpen { tickets: self.settings.probes - 1, passed: 0 };
                        self.enter(&mut machine, half_open, BreakerState::HalfOpen);
                        tracing::info!(stage = %self.stage(), probes = self.settings.probes, "circuit breaker half-open: probing");
                        return self.probe(machine.generation);
                    }
                    Phase::Open { until } => Some(*until),
                }
            };
            waiting.get_or_insert_with(|| Waiting::new(&self.waiting));
            match until {
                Some(until) => {
                    tokio::select! {
                        () = tokio::time::sleep_until(until) => {}
                        _ = changed.changed() => {}
                    }
                }
                None => {
                    // The sender lives in `self`: it is never dropped.
                    let _ = changed.changed().await;
                }
            }
        }
    }

    fn probe(self: &Arc<Self>, generation: u64) -> Pass {
        Pass::Probe(Ticket { shared: Some(self.clone()), generation })
    }

    /// Counts a call's result: `failed` when it failed in a way that
    /// counts (a transient error).
    pub(crate) fn record(&self, pass: Pass, failed: bool) {
        let now = Instant::now();
        match pass {
            Pass::Call(generation) => {
                let mut machine = self.lock();
                // A call let through while closed that ends after the
                // breaker opened (even if it closed again since) is old
                // news.
                if generation != machine.generation {
                    return;
                }
                machine.window.record(now, failed);
                machine.in_a_row = if failed { machine.in_a_row + 1 } else { 0 };
                let (calls, failures) = machine.window.totals();
                let s = &self.settings;
                if failed
                    && calls >= u64::from(s.min_calls)
                    && failures as f64 >= s.failure_rate * calls as f64
                {
                    self.open(&mut machine, now, format!("{failures} of the last {calls} calls failed"));
                } else if s.consecutive.is_some_and(|n| machine.in_a_row >= n) {
                    let why = format!("{} calls in a row failed", machine.in_a_row);
                    self.open(&mut machine, now, why);
                }
            }
            Pass::Probe(mut ticket) => {
                // Decided: the turn is not given back.
                ticket.shared = None;
                let mut machine = self.lock();
                if ticket.generation != machine.generation {
                    // A probe of an earlier half-open phase.
                    return;
                }
                let Phase::HalfOpen { passed, .. } = &mut machine.phase else { return };
                if failed {
                    self.open(&mut machine, now, "a probe failed".to_owned());
                    return;
                }
                *passed += 1;
                if *passed >= self.settings.probes {
                    self.enter(&mut machine, Phase::Closed, BreakerState::Closed);
                    machine.window.clear(now);
                    machine.in_a_row = 0;
                    self.closed.fetch_add(1, Ordering::Relaxed);
                    tracing::info!(stage = %self.stage(), "circuit breaker closed: the probes succeeded");
                }
            }
        }
    }

    fn open(&self, machine: &mut Machine, now: Instant, why: String) {
        self.enter(machine, Phase::Open { until: now + self.settings.cool_down }, BreakerState::Open);
        self.opened.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            stage = %self.stage(),
            cool_down = ?self.settings.cool_down,
            "circuit breaker open: {why}; calls wait (intake pauses) until it probes again"
        );
    }

    /// A probe dropped before its verdict: another caller takes its turn
    /// (if its half-open phase is still the breaker's).
    fn give_back(&self, generation: u64) {
        let mut machine = self.lock();
        if generation != machine.generation {
            return;
        }
        if let Phase::HalfOpen { tickets, .. } = &mut machine.phase {
            *tickets += 1;
            self.changed.send_modify(|epoch| *epoch += 1);
        }
    }

    /// Moves to `phase`, a new generation.
    fn enter(&self, machine: &mut Machine, phase: Phase, state: BreakerState) {
        machine.phase = phase;
        machine.generation += 1;
        self.changed(state);
    }

    fn changed(&self, state: BreakerState) {
        self.state.store(state.code() as u8, Ordering::Release);
        self.changed.send_modify(|epoch| *epoch += 1);
    }
}

/// Calls and failures over a sliding window, in slots.
struct Window {
    slot_len: Duration,
    slots: [(u64, u64); SLOTS],
    current: usize,
    current_start: Instant,
}

impl Window {
    fn new(window: Duration, now: Instant) -> Self {
        Self {
            slot_len: (window / SLOTS as u32).max(Duration::from_nanos(1)),
            slots: [(0, 0); SLOTS],
            current: 0,
            current_start: now,
        }
    }

    fn rotate(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.current_start);
        let steps = elapsed.as_nanos() / self.slot_len.as_nanos();
        if steps >= SLOTS as u128 {
            self.clear(now);
            return;
        }
        for _ in 0..steps {
            self.current = (self.current + 1) % SLOTS;
            self.slots[self.current] = (0, 0);
            self.current_start += self.slot_len;
        }
    }

    fn record(&mut self, now: Instant, failed: bool) {
        self.rotate(now);
        let slot = &mut self.slots[self.current];
        slot.0 += 1;
        slot.1 += u64::from(failed);
    }

    fn totals(&self) -> (u64, u64) {
        self.slots.iter().fold((0, 0), |(calls, failures), slot| (calls + slot.0, failures + slot.1))
    }

    fn clear(&mut self, now: Instant) {
        self.slots = [(0, 0); SLOTS];
        self.current = 0;
        self.current_start = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker(probes: u32) -> Arc<Shared> {
        let settings = Settings {
            consecutive: Some(1),
            cool_down: Duration::from_millis(500),
            probes,
            ..Settings::default()
        };
        Arc::new(Shared::new(settings))
    }

    /// Opens the breaker, waits out its cool-down and hands out a probe.
    async fn half_open(shared: &Arc<Shared>) -> Pass {
        if shared.state() != BreakerState::Open {
            let call = shared.admit().await;
            shared.record(call, true);
        }
        assert_eq!(shared.state(), BreakerState::Open);
        shared.admit().await
    }

    #[tokio::test(start_paused = true)]
    async fn a_probe_of_an_earlier_half_open_phase_does_not_count_in_a_later_one() {
        let shared = breaker(2);
        let slow = half_open(&shared).await;
        let failing = shared.admit().await;
        shared.record(failing, true);
        // Open again; a new half-open phase hands out its two probes.
        let (first, second) = (half_open(&shared).await, shared.admit().await);
        // The slow probe of the first phase succeeds now: old news.
        shared.record(slow, false);
        shared.record(first, false);
        assert_eq!(shared.state(), BreakerState::HalfOpen, "one of this phase's two probes passed");
        shared.record(second, false);
        assert_eq!(shared.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_probe_of_an_earlier_phase_gives_no_turn_to_a_later_one() {
        let shared = breaker(2);
        let stale = half_open(&shared).await;
        let failing = shared.admit().await;
        shared.record(failing, true);
        let (probe, second) = (half_open(&shared).await, shared.admit().await);
        // A ticket of the earlier phase, dropped: it gives nothing back.
        drop(stale);
        let third = tokio::time::timeout(Duration::from_millis(100), shared.admit()).await;
        assert!(third.is_err(), "two probes at a time, not three");
        shared.record(probe, false);
        shared.record(second, false);
        assert_eq!(shared.state(), BreakerState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_of_an_earlier_closed_phase_that_fails_late_does_not_reopen() {
        let shared = breaker(1);
        let slow = shared.admit().await;
        let probe = half_open(&shared).await;
        shared.record(probe, false);
        assert_eq!(shared.state(), BreakerState::Closed);
        // Let through before the outage, failing after the breaker closed again.
        shared.record(slow, true);
        assert_eq!(shared.state(), BreakerState::Closed, "old news does not open it");
        assert_eq!(shared.times_opened(), 1);
    }
}
