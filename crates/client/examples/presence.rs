//! Watches who among your collaborators is online.
//!
//! ```text
//! cargo run -p tandem-client --example presence -- http://127.0.0.1:8080 <token>
//! ```
//! Prints the collaborators online now (`list_users`), then every `user_status_changed`.

use tandem_client::{Client, ClientConfig, ConnectionState};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(base), Some(token)) = (args.next(), args.next()) else {
        eprintln!("usage: presence <base-url> <token>");
        std::process::exit(2);
    };
    let client = Client::connect(ClientConfig::new(base, token));
    let mut events = client.events().await;
    let mut state = client.state();
    while *state.borrow_and_update() != ConnectionState::Live {
        if let ConnectionState::Stopped { reason } = &*state.borrow() {
            eprintln!("stopped: {reason}");
            return Ok(());
        }
        state.changed().await?;
    }
    client.send(serde_json::json!({"type": "list_users"})).await?;
    while let Some(event) = events.recv().await {
        let json = event.json();
        match event.kind() {
            "online_users" => {
                let names: Vec<&str> =
                    json["users"].as_array().into_iter().flatten().filter_map(|u| u["username"].as_str()).collect();
                println!("online now: {}", if names.is_empty() { "nobody".to_owned() } else { names.join(", ") });
            }
            "user_status_changed" => {
                let status = if json["is_online"] == true { "came online" } else { "went offline" };
                println!("{} {status}", json["user_id"].as_str().unwrap_or_default());
            }
            _ => {}
        }
    }
    Ok(())
}
