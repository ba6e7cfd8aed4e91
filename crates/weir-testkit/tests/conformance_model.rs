//! The exact model of `check_bytes_modelled`: right about a correct
//! pipeline under every ending, and catching what counting cannot (an
//! acknowledgement moved to another item, a category off by the same
//! amount another is over).

use futures::StreamExt;
use weir_core::{Acks, Envelope, EnvelopeStream, Meta, Pipeline, Stage, StageContext};
use weir_testkit::conformance::{self, Fate, ITEM_STRIDE, Model, Promise};

/// Odd bytes pass the filter.
fn odd(x: &u32) -> bool {
    x % 2 == 1
}

fn filtered_model(items: &[u32]) -> Option<Model> {
    Some(Model::new(items.iter().map(|x| if odd(x) { Fate::Delivered } else { Fate::Filtered })).traced())
}

/// Every ending (the byte after the item bytes and the two schedule
/// bytes picks it), at several moments, for a correct filter → map.
#[test]
fn a_correct_chain_meets_its_model_under_every_ending() {
    let mut checked = 0;
    for ending in 0..8u8 {
        for at in [0u8, 1, 3, 7, 20] {
            let case = [6, 1, 2, 3, 4, 5, 7, 1, 2, 1, 3, ending, at];
            let build = |p: Pipeline<u32>| p.filter("odd", odd).map("plus", |x| x + 100);
            let promises = conformance::check_bytes_modelled(&case, 0, build, filtered_model)
                .unwrap_or_else(|broken| panic!("{broken}"));
            checked += promises.len();
        }
    }
    assert!(checked > 0);
}

/// Loses item 0's acknowledgement and fires item 1's as soon as it
/// arrives: once item 0 is delivered and item 1 is stuck, as many
/// acknowledgements fired as items finished, so only matching them item
/// by item shows it.
struct WrongAck;

impl Stage<u32> for WrongAck {
    type Output = u32;

    fn name(&self) -> &str {
        "wrong-ack"
    }

    fn build(self, input: EnvelopeStream<u32>, _: StageContext) -> EnvelopeStream<u32> {
        input
            .enumerate()
            .map(|(i, env)| {
                let (item, meta) = env.into_parts();
                let count = meta.count();
                match i {
                    0 => drop(meta),
                    1 => meta.ack(),
                    _ => return Envelope::from_parts(item, meta),
                }
                Envelope::from_parts(item, Meta::new(Acks::none(), count))
            })
            .boxed()
    }
}

#[test]
fn an_early_acknowledgement_offset_by_a_lost_one_is_caught_item_by_item() {
    // Three items, 2 ms apart; the sink takes one, then stalls.
    let case = [3u8, 1, 3, 5, 1, 2, 0, 5, 1];
    let everything = |items: &[u32]| Some(Model::new(items.iter().map(|_| Fate::Delivered)).traced());
    // Counting alone passes it.
    conformance::check_bytes(&case, 0, |p: Pipeline<u32>| p.stage(WrongAck)).expect("the counts add up");
    let broken =
        conformance::check_bytes_modelled(&case, 0, |p: Pipeline<u32>| p.stage(WrongAck), everything)
            .expect_err("matched item by item");
    assert_eq!(broken.promise(), Some(Promise::Acknowledgement), "{broken}");
    assert!(
        broken.to_string().contains("item 1's acknowledgement fired, but the sink never took it"),
        "{broken}"
    );
}

#[test]
fn an_item_the_model_filters_reaching_the_sink_is_named() {
    let case = [2u8, 1, 2];
    // The model filters odd items, the pipeline even ones.
    let wrong = |items: &[u32]| {
        Some(Model::new(items.iter().map(|x| if odd(x) { Fate::Filtered } else { Fate::Delivered })).traced())
    };
    let broken = conformance::check_bytes_modelled(&case, 0, |p: Pipeline<u32>| p.filter("odd", odd), wrong)
        .expect_err("the wrong item delivered");
    assert_eq!(broken.promise(), Some(Promise::Conservation), "{broken}");
    assert!(
        broken.to_string().contains("item 0 reached the sink, but the model says Some(Filtered)"),
        "{broken}"
    );
}

#[test]
fn items_are_strided_so_outputs_name_them() {
    let case = [3u8, 9, 9, 9];
    let model = |items: &[u32]| {
        assert_eq!(items, [9, ITEM_STRIDE + 9, 2 * ITEM_STRIDE + 9]);
        Some(Model::new(items.iter().map(|_| Fate::Delivered)).traced())
    };
    conformance::check_bytes_modelled(&case, 0, |p: Pipeline<u32>| p.map("m", |x| x + 1), model).unwrap();
}
