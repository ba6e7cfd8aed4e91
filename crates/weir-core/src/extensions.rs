//! A small map from types to values: the per-item state that layers keep
//! in an [`Attempt`](crate::Attempt) between attempts, without core
//! knowing what it is.

use std::any::{Any, TypeId};
use std::fmt;

/// A value a layer keeps; cloned with the attempt that holds it.
trait Slot: Any + Send + Sync {
    fn clone_slot(&self) -> Box<dyn Slot>;
}

impl<T: Clone + Send + Sync + 'static> Slot for T {
    fn clone_slot(&self) -> Box<dyn Slot> {
        Box::new(self.clone())
    }
}

/// At most one value per type. Empty costs nothing (no allocation); a
/// layer's value is found by a linear scan, which beats hashing for the one
/// or two layers an operation has.
#[derive(Default)]
pub(crate) struct Extensions(Vec<Box<dyn Slot>>);

impl Extensions {
    fn position<T: 'static>(&self) -> Option<usize> {
        self.0.iter().position(|slot| (**slot).type_id() == TypeId::of::<T>())
    }

    pub(crate) fn get<T: 'static>(&self) -> Option<&T> {
        let slot: &dyn Any = &**self.0.get(self.position::<T>()?)?;
        slot.downcast_ref()
    }

    pub(crate) fn get_mut<T: 'static>(&mut self) -> Option<&mut T> {
        let i = self.position::<T>()?;
        let slot: &mut dyn Any = &mut *self.0[i];
        slot.downcast_mut()
    }

    pub(crate) fn insert<T: Clone + Send + Sync + 'static>(&mut self, value: T) -> Option<T> {
        match self.get_mut::<T>() {
            Some(old) => Some(std::mem::replace(old, value)),
            None => {
                self.0.push(Box::new(value));
                None
            }
        }
    }

    pub(crate) fn get_or_insert_with<T: Clone + Send + Sync + 'static>(
        &mut self,
        make: impl FnOnce() -> T,
    ) -> &mut T {
        let i = match self.position::<T>() {
            Some(i) => i,
            None => {
                self.0.push(Box::new(make()));
                self.0.len() - 1
            }
        };
        let slot: &mut dyn Any = &mut *self.0[i];
        slot.downcast_mut().expect("the slot at this position holds a T")
    }
}

impl Clone for Extensions {
    fn clone(&self) -> Self {
        Self(self.0.iter().map(|slot| (**slot).clone_slot()).collect())
    }
}

impl fmt::Debug for Extensions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} extension(s)", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::Extensions;

    #[derive(Debug, Clone, PartialEq)]
    struct Draws(u64);

    #[test]
    fn one_value_per_type_kept_through_clones() {
        let mut ext = Extensions::default();
        assert_eq!(ext.get::<Draws>(), None);
        assert_eq!(ext.insert(Draws(1)), None);
        assert_eq!(ext.insert(7u32), None);
        assert_eq!(ext.insert(Draws(2)), Some(Draws(1)));
        ext.get_or_insert_with(|| Draws(9)).0 += 1;
        *ext.get_or_insert_with(|| 0u8) += 5;
        let copy = ext.clone();
        *ext.get_mut::<u32>().unwrap() += 1;
        assert_eq!(
            (copy.get::<Draws>(), copy.get::<u32>(), copy.get::<u8>()),
            (Some(&Draws(3)), Some(&7), Some(&5))
        );
        assert_eq!(ext.get::<u32>(), Some(&8));
        assert_eq!(format!("{copy:?}"), "3 extension(s)");
    }
}
