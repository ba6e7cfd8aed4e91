//! Pipeline shapes as plain data.

/// What a fallible stage does with its failures.
///
/// # Examples
///
/// ```
/// use weir_testkit::OnFailure;
///
/// assert_ne!(OnFailure::Discard, OnFailure::Halt);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// `discard_failures()`: counted as discarded, the run goes on.
    Discard,
    /// `halt_on_error()`: intake stops, the failures are returned.
    Halt,
}

/// One stage of a [`PipelineSpec`].
///
/// The pipeline's items are groups of numbers (`Vec<u32>`): each source
/// item is a group of one, and [`Batch`](StageSpec::Batch) joins groups.
/// Predicates look at the group's sum, so that they mean the same before
/// and after batching.
///
/// # Examples
///
/// ```
/// use weir_testkit::StageSpec;
///
/// let filter = StageSpec::Filter { modulus: 2, residue: 1 }; // drops groups with an odd sum
/// assert!(matches!(filter, StageSpec::Filter { .. }));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageSpec {
    /// `map`: adds `add` (wrapping) to every number.
    Map {
        /// What to add.
        add: u32,
    },
    /// `filter`: drops groups whose sum is `residue` modulo `modulus`.
    Filter {
        /// At least 1.
        modulus: u32,
        /// Below `modulus`.
        residue: u32,
    },
    /// `try_map`: fails groups whose sum is `residue` modulo `modulus`,
    /// then handles the failures as `on_failure` says.
    TryMap {
        /// At least 1.
        modulus: u32,
        /// Below `modulus`.
        residue: u32,
        /// What happens to the failures.
        on_failure: OnFailure,
    },
    /// `batch`: joins up to `max_items` groups into one (the time limit is an
    /// hour, so only the item limit and the end of the input cut batches).
    Batch {
        /// At least 1.
        max_items: usize,
    },
    /// `then`: an async stage that yields to the scheduler (returns
    /// `Pending` once) on groups whose sum is a multiple of `every`, to vary
    /// the schedule; it changes no item.
    Yield {
        /// At least 1.
        every: u32,
    },
}

impl StageSpec {
    /// Whether `group` matches the stage's predicate (`Filter` drops it,
    /// `TryMap` fails it, `Yield` yields on it).
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_testkit::StageSpec;
    ///
    /// let filter = StageSpec::Filter { modulus: 3, residue: 1 };
    /// assert!(filter.matches(&[2, 2])); // 4 % 3 == 1
    /// assert!(!filter.matches(&[3]));
    /// ```
    pub fn matches(&self, group: &[u32]) -> bool {
        let sum: u64 = group.iter().map(|&x| u64::from(x)).sum();
        match *self {
            StageSpec::Filter { modulus, residue } | StageSpec::TryMap { modulus, residue, .. } => {
                sum % u64::from(modulus.max(1)) == u64::from(residue)
            }
            StageSpec::Yield { every } => sum.is_multiple_of(u64::from(every.max(1))),
            StageSpec::Map { .. } | StageSpec::Batch { .. } => false,
        }
    }
}

/// A pipeline as data: the source's items and the stages after it. The
/// sink collects what is delivered.
///
/// # Examples
///
/// ```
/// use weir_testkit::{PipelineSpec, StageSpec};
///
/// let spec = PipelineSpec { items: vec![1, 2, 3], stages: vec![StageSpec::Map { add: 1 }] };
/// assert_eq!(weir_testkit::expected(&spec).delivered, [2, 3, 4]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PipelineSpec {
    /// The source's items, in order.
    pub items: Vec<u32>,
    /// The stages, in order.
    pub stages: Vec<StageSpec>,
}

/// At most this many source items are decoded from bytes.
pub(crate) const MAX_ITEMS: usize = 64;
/// At most this many stages are decoded from bytes.
pub(crate) const MAX_STAGES: usize = 8;

/// Reads bytes, and zeros once they run out.
struct Bytes<'a>(std::slice::Iter<'a, u8>);

impl Bytes<'_> {
    fn next(&mut self) -> u8 {
        self.0.next().copied().unwrap_or(0)
    }

    fn is_empty(&self) -> bool {
        self.0.len() == 0
    }
}

impl PipelineSpec {
    /// Decodes a spec from arbitrary bytes (fuzzer input). Every input gives
    /// a valid spec, with at most 64 items and 8 stages: the first byte is
    /// the item count, then one byte per item, then three bytes per stage
    /// (kind, and two parameters) while bytes remain.
    ///
    /// # Examples
    ///
    /// ```
    /// use weir_testkit::{PipelineSpec, StageSpec};
    ///
    /// let spec = PipelineSpec::from_bytes(&[3, 10, 11, 12, 3, 2, 0]);
    /// assert_eq!(spec.items, [10, 11, 12]);
    /// assert_eq!(spec.stages, [StageSpec::Batch { max_items: 3 }]);
    /// assert_eq!(PipelineSpec::from_bytes(&[]), PipelineSpec::default());
    /// ```
    pub fn from_bytes(data: &[u8]) -> Self {
        let mut bytes = Bytes(data.iter());
        let count = usize::from(bytes.next()) % (MAX_ITEMS + 1);
        let items = (0..count).map(|_| u32::from(bytes.next())).collect();
        let mut stages = Vec::new();
        while !bytes.is_empty() && stages.len() < MAX_STAGES {
            let (kind, a, b) = (bytes.next(), bytes.next(), bytes.next());
            stages.push(StageSpec::decode(kind, a, b));
        }
        Self { items, stages }
    }
}

impl StageSpec {
    fn decode(kind: u8, a: u8, b: u8) -> Self {
        let modulus = u32::from(a % 7) + 1;
        let residue = u32::from(b) % modulus;
        match kind % 5 {
            0 => StageSpec::Map { add: u32::from(a) },
            1 => StageSpec::Filter { modulus, residue },
            2 => {
                let on_failure = if b & 0x80 == 0 { OnFailure::Discard } else { OnFailure::Halt };
                StageSpec::TryMap { modulus, residue, on_failure }
            }
            3 => StageSpec::Batch { max_items: usize::from(a % 8) + 1 },
            _ => StageSpec::Yield { every: u32::from(a % 4) + 1 },
        }
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for PipelineSpec {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        let len = u.len();
        Ok(Self::from_bytes(u.bytes(len)?))
    }

    fn arbitrary_take_rest(u: arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Self::from_bytes(u.take_rest()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding_is_bounded_and_total() {
        let long = vec![255u8; 10_000];
        let spec = PipelineSpec::from_bytes(&long);
        assert!(spec.items.len() <= MAX_ITEMS);
        assert_eq!(spec.stages.len(), MAX_STAGES);
        for stage in &spec.stages {
            match *stage {
                StageSpec::Filter { modulus, residue } | StageSpec::TryMap { modulus, residue, .. } => {
                    assert!(modulus >= 1 && residue < modulus)
                }
                StageSpec::Batch { max_items } => assert!(max_items >= 1),
                StageSpec::Yield { every } => assert!(every >= 1),
                StageSpec::Map { .. } => {}
            }
        }
    }

    #[test]
    fn each_stage_kind_can_be_decoded() {
        assert_eq!(StageSpec::decode(0, 7, 0), StageSpec::Map { add: 7 });
        assert_eq!(StageSpec::decode(1, 2, 5), StageSpec::Filter { modulus: 3, residue: 2 });
        assert_eq!(
            StageSpec::decode(2, 1, 0x81),
            StageSpec::TryMap { modulus: 2, residue: 1, on_failure: OnFailure::Halt }
        );
        assert_eq!(StageSpec::decode(3, 9, 0), StageSpec::Batch { max_items: 2 });
        assert_eq!(StageSpec::decode(4, 2, 0), StageSpec::Yield { every: 3 });
    }
}
