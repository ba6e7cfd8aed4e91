//! Classic example 3 gives exactly the seed's numbers: 6 processed, 4
//! dead-lettered (0, 3, 6, 9) with their error, each after 2 attempts.

use std::sync::{Arc, Mutex};

use examples::seed_errors;
use weir::ErrorClass;

#[tokio::test(start_paused = true)]
async fn six_processed_four_dead_lettered_with_their_error() {
    let printed = Arc::new(Mutex::new(Vec::new()));
    let log = printed.clone();
    let outcome = seed_errors::run(move |item| log.lock().unwrap().push(item)).await.unwrap();

    assert_eq!(outcome.processed, [1, 2, 4, 5, 7, 8]);
    assert_eq!(*printed.lock().unwrap(), [1, 2, 4, 5, 7, 8]);

    let items: Vec<u32> = outcome.dead_letters.iter().map(|r| *r.item()).collect();
    assert_eq!(items, [0, 3, 6, 9]);
    for r in &outcome.dead_letters {
        assert_eq!(r.error(), format!("cannot process item {}: it is divisible by 3", r.item()));
        assert_eq!(r.attempts(), 2);
        assert_eq!(r.stage(), "process");
        assert_eq!(r.class(), ErrorClass::Transient);
    }

    let report = &outcome.report;
    assert_eq!(report.source_items(), 10);
    assert_eq!(report.delivered(), 6);
    assert_eq!(report.dead_lettered(), 4);
    assert_eq!(report.stage("process").unwrap().dead_lettered_of(ErrorClass::Transient), 4);
    assert_eq!(report.retries(), 4, "one retry per failing item");
    assert!(report.is_conserved());
}
