//! A terminal chat in a thread.
//!
//! ```text
//! cargo run -p tandem-client --example chat -- http://127.0.0.1:8080 <token> <thread_id>
//! ```
//! Lines typed on stdin are posted as messages (`{"text": line}`); messages, presence changes
//! and membership events of the thread are printed as they arrive, and the connection state is
//! shown when it changes (it reconnects and catches up by itself, from the `seq` the thread
//! was read at).

use tandem_client::{Api, Client, ClientConfig, ConnectionState};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(base), Some(token), Some(thread_id)) = (args.next(), args.next(), args.next()) else {
        eprintln!("usage: chat <base-url> <token> <thread-id>");
        std::process::exit(2);
    };
    let api = Api::new(&base).with_token(&token);
    let thread = api.thread(&thread_id).await?;
    let names: std::collections::HashMap<String, String> =
        thread.users.iter().map(|u| (u.id.clone(), u.username.clone())).collect();
    println!("# {} — {} member(s); type a line to send it", thread.name, thread.users.len());

    let client = Client::connect(ClientConfig::new(&base, token));
    let mut events = client.events().await;
    // The thread was read at `thread.seq`: receive exactly what happened after it, also
    // across reconnects.
    client.track(&format!("thread:{thread_id}"), thread.seq).await?;
    client.on_reconnected(|info| {
        if !info.resync_required.is_empty() {
            eprintln!("! some history was pruned while offline; restart to reload the thread");
        }
    });
    let mut states = client.state_changes();
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            event = events.recv() => {
                let Some(event) = event else { break };
                let json = event.json();
                let who = |id: &serde_json::Value| {
                    let id = id.as_str().unwrap_or_default();
                    names.get(id).cloned().unwrap_or_else(|| id.to_owned())
                };
                match event.kind() {
                    "message_created" if json["parent_thread"] == thread_id.as_str() => {
                        let text = json["snapshot"]["text"].as_str().map_or_else(|| json["snapshot"].to_string(), str::to_owned);
                        println!("{}: {text}", who(&json["user_id"]));
                    }
                    "user_status_changed" => {
                        let status = if json["is_online"] == true { "online" } else { "offline" };
                        println!("* {} is {status}", who(&json["user_id"]));
                    }
                    "invitation_accepted" => println!("* {} joined", json["user_name"].as_str().unwrap_or("someone")),
                    "participant_left" => println!("* {} left", who(&json["user_id"])),
                    "user_typing" => println!("* {} is typing…", who(&json["user_id"])),
                    _ => {}
                }
            }
            state = states.recv() => {
                match state {
                    Ok(ConnectionState::Stopped { reason }) => { eprintln!("! stopped: {reason}"); break; }
                    Ok(state) => eprintln!("! {state:?}"),
                    Err(_) => {}
                }
            }
            line = lines.next_line() => {
                match line? {
                    Some(line) if !line.trim().is_empty() => {
                        if let Err(e) = api.post_message(&thread_id, serde_json::json!({"text": line})).await {
                            eprintln!("! not sent: {e}");
                        }
                    }
                    Some(_) => {}
                    None => break,
                }
            }
        }
    }
    client.close().await;
    Ok(())
}
