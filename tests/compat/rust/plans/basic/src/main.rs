//! A Testground plan written against the Rust SDK (crate `testground`), as a Testground
//! user would write it.

use std::borrow::Cow;

use tokio_stream::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let client = testground::client::Client::new_and_init().await?;
    match client.run_parameters().test_case.as_str() {
        "success" => success(client).await,
        "failure" => {
            client.record_failure("the system under test answered 503").await?;
            Ok(())
        }
        "pubsub" => pubsub(client).await,
        other => panic!("unknown test case: {}", other),
    }
}

async fn success(client: testground::client::Client) -> Result<(), Box<dyn std::error::Error>> {
    let greeting = client
        .run_parameters()
        .test_instance_params
        .get("greeting")
        .cloned()
        .unwrap_or_default();
    client.record_message(format!("{}, from instance {}", greeting, client.global_seq()));
    client.record_success().await?;
    Ok(())
}

async fn pubsub(client: testground::client::Client) -> Result<(), Box<dyn std::error::Error>> {
    let n = client.run_parameters().test_instance_count;
    let me = client.global_seq();
    client
        .publish("rust-notes", Cow::Owned(serde_json::json!({ "from": me })))
        .await?;
    client.signal_and_wait("published", n).await?;
    let mut stream = client.subscribe("rust-notes", n as usize).await;
    let mut seen = Vec::new();
    for _ in 0..n {
        match stream.next().await {
            Some(Ok(value)) => seen.push(value["from"].as_u64().unwrap_or(0)),
            other => {
                client.record_failure(format!("subscription ended early: {:?}", other)).await?;
                return Ok(());
            }
        }
    }
    seen.sort_unstable();
    if seen != (1..=n).collect::<Vec<_>>() {
        client.record_failure(format!("saw {:?}", seen)).await?;
    } else {
        client.record_success().await?;
    }
    Ok(())
}
