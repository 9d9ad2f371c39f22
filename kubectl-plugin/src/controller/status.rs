//! Status writes: one writer per status, compared before writing (a write wakes the watchers,
//! the controller's own included, so writing an unchanged status would loop), with the
//! resourceVersion of the object it was computed from (a conflict waits for the next round).

use kube::Api;
use kube::api::PostParams;
use skupper_core::resources::Status;

use crate::platform::kube::cr::{Cr, GROUP, Kind};
use crate::platform::kube::errors;

/// Writes `status` as `current`'s status unless it has it already. Returns whether it wrote; a
/// conflict or a deleted object is not an error (the next round sees the new state).
pub(crate) async fn write_status<K: Kind>(
    api: &Api<Cr<K>>,
    current: &Cr<K>,
    status: K::Status,
) -> anyhow::Result<bool> {
    if current.status.as_ref() == Some(&status) {
        return Ok(false);
    }
    let mut obj = current.clone();
    obj.status = Some(status);
    match api.replace_status(current.name(), &PostParams::default(), &obj).await {
        Ok(_) => Ok(true),
        Err(e) if errors::is_conflict(&e) || errors::is_not_found(&e) => Ok(false),
        Err(e) => Err(anyhow::anyhow!("writing the status of {}.{GROUP} {:?}: {e}", K::PLURAL, current.name())),
    }
}

/// Marks every condition as computed from `generation` (`observedGeneration`), which is how the
/// CLI knows a status answers its latest change.
pub(crate) fn observed(status: &mut Status, generation: Option<i64>) {
    for c in &mut status.conditions {
        c.observed_generation = generation;
    }
}
