//! The `transform` rules (docs/EVENTS.md, docs/MODEL.md): custody and mass of every input, new
//! outputs, the process table (forms and roles), and mass balance
//! `Σ outputs ≤ Σ inputs taken + Σ additives`.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::event::{Event, Transform};
use crate::model::ids::{BatchId, Grams};
use crate::model::material::{Form, Process, QuotaStage};

use super::custody::{
    load_batch, require_new_batch, require_not_before, require_own_prefix, require_own_site,
    require_role, require_usable, touch,
};
use super::overlay::Overlay;
use super::state::{ActorRecord, BatchOrigin, BatchRecord, BatchStatus, StateView};
use super::{EntryContext, InvalidReason, LedgerError, Side};

pub(super) fn transform<S: StateView + ?Sized>(
    state: &mut Overlay<'_, S>,
    ctx: &EntryContext,
    event: &Event,
    actor: &ActorRecord,
    body: &Transform,
) -> Result<(), LedgerError> {
    let process = body.process;
    let rule = process.rule();
    require_role(actor, process.as_str(), rule.roles)?;
    if let Some(site) = &body.site {
        require_own_site(state, &actor.id, site, None)?;
    }
    check_shape(body)?;

    // Inputs: held by the actor, usable, distinct, with the mass taken.
    let mut requested: BTreeMap<&BatchId, u128> = BTreeMap::new();
    for input in &body.inputs {
        *requested.entry(&input.batch).or_insert(0) += u128::from(input.mass_g.get());
    }
    let mut inputs: Vec<BatchRecord> = Vec::with_capacity(body.inputs.len());
    for input in &body.inputs {
        if inputs.iter().any(|b| b.id == input.batch) {
            let batch = load_batch(state, &input.batch)?;
            return Err(LedgerError::DoubleSpend {
                batch: input.batch.clone(),
                remaining_g: batch.remaining_g,
                requested_g: requested[&input.batch],
            });
        }
        let batch = load_batch(state, &input.batch)?;
        require_usable(&batch, &actor.id, u128::from(input.mass_g.get()))?;
        if input.mass_g.is_zero() {
            return Err(InvalidReason::ZeroMass {
                batch: input.batch.clone(),
            }
            .into());
        }
        if input.mass_g > batch.remaining_g {
            return Err(LedgerError::InsufficientMass {
                batch: input.batch.clone(),
                remaining_g: batch.remaining_g,
                requested_g: input.mass_g,
            });
        }
        inputs.push(batch);
    }

    // Outputs: under the actor's prefixes, new, distinct, with mass.
    let mut output_ids = BTreeSet::new();
    for output in &body.outputs {
        require_own_prefix(actor, &output.batch)?;
        if output.mass_g.is_zero() {
            return Err(InvalidReason::ZeroMass {
                batch: output.batch.clone(),
            }
            .into());
        }
        if !output_ids.insert(&output.batch) {
            return Err(InvalidReason::DuplicateOutput {
                batch: output.batch.clone(),
            }
            .into());
        }
        require_new_batch(state, &output.batch)?;
    }

    check_forms(body, &inputs)?;

    // Mass balance, summed exactly: at most 256 items of 64 bits each fit 128 bits with room to
    // spare, so no valid transform is refused for its arithmetic.
    let inputs_g = Grams::exact_sum(body.inputs.iter().map(|i| i.mass_g));
    let additives_g = Grams::exact_sum(body.additives.iter().map(|a| a.mass_g));
    let outputs_g = Grams::exact_sum(body.outputs.iter().map(|o| o.mass_g));
    if outputs_g > inputs_g + additives_g {
        return Err(LedgerError::MassImbalance {
            inputs_g,
            additives_g,
            outputs_g,
        });
    }
    // What the ledger stores must fit 64 bits: the outputs' total (for origin shares) and the
    // additives' total. The inputs' total is never stored, so a merge of batches whose masses
    // add up past 2^64 - 1 g is fine as long as its one output fits.
    let stored = |total_g: u128, what: &'static str| {
        u64::try_from(total_g)
            .map(Grams)
            .map_err(|_| LedgerError::from(InvalidReason::MassOverflow { what, total_g }))
    };
    // Per element, exact (ledger::elements): no rare earth appears from nowhere.
    super::elements::check_balance(body, &inputs)?;
    let outputs_total_g = stored(outputs_g, "outputs")?;
    let additives_total_g = stored(additives_g, "additives")?;

    for batch in &inputs {
        require_not_before(batch, &event.occurred_at)?;
    }

    // Total-quantity control: separation and smelting count their product (scrap excluded).
    let stage = match process {
        Process::Separation => Some(QuotaStage::Separation),
        Process::Reduction => Some(QuotaStage::Smelting),
        _ => None,
    };
    if let Some(stage) = stage {
        let product = body
            .outputs
            .iter()
            .filter(|o| o.form != Form::Scrap)
            .map(|o| o.mass_g);
        let product = stored(Grams::exact_sum(product), "outputs")?;
        super::controls::use_quota(state, ctx, event, stage, product)?;
    }

    // Every rule holds: write.
    let inherited: BTreeSet<_> = if rule.preserves_form {
        inputs
            .iter()
            .flat_map(|b| b.elements.iter().copied())
            .collect()
    } else {
        BTreeSet::new()
    };
    // Split and merge only regroup material: undeclared compositions carry over pro rata.
    let compositions: Vec<_> = body
        .outputs
        .iter()
        .map(|o| match (&o.composition, rule.preserves_form) {
            (Some(c), _) => Some(c.clone()),
            (None, true) => super::elements::inherited(body, &inputs, o.mass_g.get()),
            (None, false) => None,
        })
        .collect();
    for (mut batch, input) in inputs.into_iter().zip(&body.inputs) {
        // Checked against remaining_g above.
        batch.remaining_g = Grams(batch.remaining_g.get() - input.mass_g.get());
        if batch.remaining_g.is_zero() {
            batch.status = BatchStatus::Consumed;
        }
        batch
            .children
            .extend(body.outputs.iter().map(|o| o.batch.clone()));
        touch(&mut batch, ctx.index, &event.occurred_at);
        state.put_batch(batch);
    }
    let origin = BatchOrigin::Transformed {
        process,
        inputs: body
            .inputs
            .iter()
            .map(|i| (i.batch.clone(), i.mass_g))
            .collect(),
        additives_g: additives_total_g,
        outputs_total_g,
    };
    for (output, composition) in body.outputs.iter().zip(compositions) {
        // Split and merge only regroup material: undeclared elements carry over. A declared
        // composition names its elements.
        let elements = match (&composition, output.elements.is_empty()) {
            (_, false) => output.elements.clone(),
            (Some(c), true) => c.elements().collect(),
            (None, true) => inherited.clone(),
        };
        state.put_batch(BatchRecord {
            id: output.batch.clone(),
            form: output.form,
            elements,
            created_g: output.mass_g,
            remaining_g: output.mass_g,
            custodian: actor.id.clone(),
            status: BatchStatus::Active,
            created_at: event.occurred_at.clone(),
            created_in: ctx.index,
            origin: origin.clone(),
            children: Vec::new(),
            history: vec![ctx.index],
            certificates: Vec::new(),
            transit_loss_g: Grams::ZERO,
            last_event_at: event.occurred_at.clone(),
            composition,
            assays: Vec::new(),
            made_at: body.site.clone(),
        });
    }
    Ok(())
}

/// Counts that do not depend on the state.
fn check_shape(body: &Transform) -> Result<(), LedgerError> {
    if body.inputs.is_empty() {
        return Err(InvalidReason::NoInputs.into());
    }
    if body.outputs.is_empty() {
        return Err(InvalidReason::NoOutputs.into());
    }
    match body.process {
        Process::Split if body.inputs.len() != 1 => Err(InvalidReason::SplitInputs {
            count: body.inputs.len(),
        }
        .into()),
        Process::Merge if body.outputs.len() != 1 => Err(InvalidReason::MergeOutputs {
            count: body.outputs.len(),
        }
        .into()),
        Process::Split | Process::Merge if !body.additives.is_empty() => {
            Err(InvalidReason::AdditivesNotAllowed {
                process: body.process,
            }
            .into())
        }
        _ => Ok(()),
    }
}

/// Forms in and out follow the process table; split and merge keep one form throughout.
fn check_forms(body: &Transform, inputs: &[BatchRecord]) -> Result<(), LedgerError> {
    let rule = body.process.rule();
    let bad = |batch: &BatchId, form: Form, side: Side, allowed: Vec<Form>| {
        LedgerError::InvalidTransition {
            process: body.process,
            batch: batch.clone(),
            form,
            side,
            allowed,
        }
    };
    for batch in inputs {
        if !rule.inputs.contains(&batch.form) {
            return Err(bad(
                &batch.id,
                batch.form,
                Side::Input,
                rule.inputs.to_vec(),
            ));
        }
    }
    for output in &body.outputs {
        if !rule.outputs.contains(&output.form) {
            return Err(bad(
                &output.batch,
                output.form,
                Side::Output,
                rule.outputs.to_vec(),
            ));
        }
    }
    if body.process == Process::GrainBoundaryDiffusion
        && !(inputs.iter().any(|b| b.form == Form::Magnet)
            && inputs
                .iter()
                .any(|b| matches!(b.form, Form::Metal | Form::Alloy)))
    {
        return Err(InvalidReason::DiffusionInputs.into());
    }
    if let (true, Some(first)) = (rule.preserves_form, inputs.first()) {
        let form = first.form;
        if let Some(other) = inputs.iter().find(|b| b.form != form) {
            return Err(bad(&other.id, other.form, Side::Input, vec![form]));
        }
        if let Some(other) = body.outputs.iter().find(|o| o.form != form) {
            return Err(bad(&other.batch, other.form, Side::Output, vec![form]));
        }
    }
    Ok(())
}
