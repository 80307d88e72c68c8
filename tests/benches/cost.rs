//! `make bench`: what one notification costs in DynamoDB write and read units and SQS
//! requests, from accept to `sent`, against the local emulator (see `notify_tests::cost`).

#[tokio::main]
async fn main() {
    let costs = notify_tests::cost::measure().await;
    println!("Cost per notification (DynamoDB on-demand and SQS standard, us-east-1 list prices):");
    println!("{}", notify_tests::cost::table(&costs));
}
