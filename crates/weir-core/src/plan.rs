//! Build-time bookkeeping: stage names and the first configuration error.

use std::sync::Arc;

use crate::control::RunShared;
use crate::error::BuildError;
use crate::metrics::{StageKind, StageRef};
use crate::stage::StageContext;

/// The stage names of a pipeline under construction and the first
/// configuration error found; the error is returned when the pipeline is
/// run, before anything starts.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    names: Vec<String>,
    error: Option<BuildError>,
}

impl Plan {
    pub(crate) fn add(&mut self, name: &str) {
        if name.is_empty() {
            self.fail(BuildError::EmptyName);
        } else if self.names.iter().any(|n| n == name) {
            self.fail(BuildError::DuplicateName { name: name.to_owned() });
        }
        self.names.push(name.to_owned());
    }

    pub(crate) fn fail(&mut self, error: BuildError) {
        self.error.get_or_insert(error);
    }

    pub(crate) fn check(&mut self, result: Result<(), BuildError>) {
        if let Err(e) = result {
            self.fail(e);
        }
    }

    pub(crate) fn validate(self) -> Result<(), BuildError> {
        self.error.map_or(Ok(()), Err)
    }
}

/// Run-time assembly: each stage registers itself, in pipeline order.
#[derive(Debug)]
pub(crate) struct Assembly {
    pub(crate) stages: Vec<StageRef>,
    pub(crate) shared: Arc<RunShared>,
}

impl Assembly {
    pub(crate) fn new() -> Self {
        Self { stages: Vec::new(), shared: Arc::new(RunShared::default()) }
    }

    pub(crate) fn stage(&mut self, name: &str, kind: StageKind) -> StageContext {
        let stage = StageRef::new(name, kind);
        self.stages.push(stage.clone());
        StageContext::new(stage, self.shared.clone())
    }
}
