//! What a notification costs in DynamoDB write units and SQS requests, from accept to `sent`
//! (computed by the metering proxy from item sizes, as AWS bills them).

use notify_tests::cost;

#[tokio::test]
async fn a_status_change_costs_the_same_whatever_the_content_size() {
    let costs = cost::measure().await;
    println!("{}", cost::table(&costs));
    let case = |name: &str| costs.iter().find(|c| c.case == name).unwrap();
    for c in &costs[..4] {
        // After its record: queued confirmed, claimed, sent, each one unit; the due index
        // loses its entry when it is sent. An SMS also gains its entry in the provider index
        // then, by which its delivery status finds it.
        let index_entries = if c.case == "SMS" { 1.0 } else { 0.0 };
        assert!(c.status_units <= 4.0 + index_entries, "{c:?}");
        // Sent, received, deleted.
        assert!(c.sqs_requests <= 3.0, "{c:?}");
        assert!(c.record_size <= 1024, "{c:?}");
    }
    let (small, large) = (case("email, 300 B"), case("email, 100 KB"));
    assert_eq!(small.status_units, large.status_units);
    // The content is written once, with the record.
    assert!(
        large.record_units > 100.0 && large.record_units < 106.0,
        "{large:?}"
    );
}
