//! The per-element balance of a `transform` (issue 12, docs/MODEL.md "Element balance"): for
//! every rare-earth element, what the outputs declare is at most what the inputs taken contain,
//! pro rata to the mass taken. Rare earths cannot appear from iron and boron: additives count as
//! containing none.
//!
//! Exact integer arithmetic. Input *i* with declared composition `c_i`, created mass `m_i` and
//! `t_i` grams taken contributes `⌈t_i × c_i(e) / m_i⌉` grams of element `e` — rounded **up**,
//! by less than one gram per input, so a declarer is never refused for rounding. An input
//! without a declared composition may contain up to all of its taken mass of any element, so it
//! contributes `t_i` (old records and undeclared material stay valid). Sums are u128: at most
//! 256 inputs of 64-bit grams cannot overflow.
//!
//! Split and merge outputs that declare no composition inherit one when every input has one:
//! `⌊ Σ_i ⌊t_i × c_i(e) / m_i⌋ × m_o / Σ_i t_i ⌋` for output mass `m_o` — rounded **down**, so
//! inherited content always passes the balance.

use crate::model::composition::Composition;
use crate::model::event::Transform;
use crate::model::material::Element;

use super::state::BatchRecord;
use super::LedgerError;

/// `⌈a × b / c⌉` in u128 (`a`, `b`, `c` are 64-bit, so `a × b` cannot overflow); `c > 0`.
fn ceil_ratio(a: u64, b: u64, c: u64) -> u128 {
    let n = u128::from(a) * u128::from(b);
    n.div_ceil(u128::from(c))
}

/// `⌊a × b / c⌋` in u128; `c > 0`.
fn floor_ratio(a: u64, b: u64, c: u64) -> u128 {
    u128::from(a) * u128::from(b) / u128::from(c)
}

/// Checks the per-element balance of `body`, whose inputs (in event order) are `inputs`.
/// Only elements some output declares are checked; a transform whose outputs declare no
/// composition has nothing to check and costs one pass over its outputs.
pub(super) fn check_balance(body: &Transform, inputs: &[BatchRecord]) -> Result<(), LedgerError> {
    let mut declared = [0u128; Element::ALL.len()];
    let mut any = false;
    for output in &body.outputs {
        if let Some(c) = &output.composition {
            any = true;
            for (e, g) in c.iter() {
                declared[e.number() as usize] += u128::from(g);
            }
        }
    }
    if !any {
        return Ok(());
    }
    for element in Element::ALL {
        let outputs_g = declared[element.number() as usize];
        if outputs_g == 0 {
            continue;
        }
        let inputs_g: u128 = inputs
            .iter()
            .zip(&body.inputs)
            .map(|(batch, input)| match &batch.composition {
                // created_g > 0: the ledger never creates an empty batch.
                Some(c) => ceil_ratio(
                    input.mass_g.get(),
                    c.grams(*element),
                    batch.created_g.get().max(1),
                ),
                None => u128::from(input.mass_g.get()),
            })
            .sum();
        if outputs_g > inputs_g {
            return Err(LedgerError::ElementImbalance {
                element: *element,
                inputs_g,
                outputs_g,
            });
        }
    }
    Ok(())
}

/// The composition a split or merge output of `mass_g` inherits from `inputs` (taken masses in
/// `body`), or `None` when an input declares none (or the arithmetic would leave 128 bits,
/// which no real mass does).
pub(super) fn inherited(
    body: &Transform,
    inputs: &[BatchRecord],
    mass_g: u64,
) -> Option<Composition> {
    let taken_total: u128 = body.inputs.iter().map(|i| u128::from(i.mass_g.get())).sum();
    if taken_total == 0 {
        return None;
    }
    let mut parts = Vec::new();
    for element in Element::ALL {
        let mut pooled: u128 = 0;
        for (batch, input) in inputs.iter().zip(&body.inputs) {
            let c = batch.composition.as_ref()?;
            pooled += floor_ratio(
                input.mass_g.get(),
                c.grams(*element),
                batch.created_g.get().max(1),
            );
        }
        let grams = pooled.checked_mul(u128::from(mass_g))? / taken_total;
        parts.push((*element, u64::try_from(grams).ok()?));
    }
    Composition::from_parts(parts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_favours_the_declarer_and_inheritance_rounds_down() {
        // 1 g taken of a 3 g batch holding 1 g Nd: 1/3 g, which may be declared as 1 g.
        assert_eq!(ceil_ratio(1, 1, 3), 1);
        assert_eq!(floor_ratio(1, 1, 3), 0);
        assert_eq!(
            ceil_ratio(u64::MAX, u64::MAX, 1),
            u128::from(u64::MAX) * u128::from(u64::MAX)
        );
    }
}
