//! `affinity-sync webhooks subscribe|list|delete`: Affinity's webhook subscriptions (at most
//! three per account).

use super::args::{Connection, WebhookSecretArgs};
use crate::ops;
use anyhow::Result;
use clap::Subcommand;

#[derive(Subcommand)]
pub enum WebhooksAction {
    /// Subscribe a receiver: Affinity will POST events to URL?token=SECRET.
    Subscribe {
        #[command(flatten)]
        connection: Connection,
        /// The receiver's webhook URL without the token, e.g. https://hooks.example.com/webhook
        /// (the Lambda Function URL + /webhook, or `serve`'s address + /webhook).
        #[arg(long)]
        url: String,
        /// Comma-separated events (default: all).
        #[arg(long)]
        events: Option<String>,
        #[command(flatten)]
        secret: WebhookSecretArgs,
    },
    /// List the account's subscriptions (tokens masked).
    List {
        #[command(flatten)]
        connection: Connection,
    },
    /// Delete a subscription by id.
    Delete {
        #[command(flatten)]
        connection: Connection,
        id: i64,
    },
}

fn client(c: &Connection) -> Result<ops::webhooks::Client> {
    let key = c.key()?;
    ops::webhooks::Client::new(&c.base_url, key.key, key.source)
}

pub async fn run(action: WebhooksAction) -> Result<()> {
    match action {
        WebhooksAction::Subscribe {
            connection,
            url,
            events,
            secret,
        } => {
            let events = ops::webhooks::events(events.as_deref())?;
            let full = ops::webhooks::url_with_token(&url, &secret.token()?)?;
            let created = client(&connection)?.subscribe(&full, &events).await?;
            println!("subscribed: {}", ops::webhooks::describe(&created));
            println!(
                "Affinity posts to (this URL holds the webhook secret; keep it out of tickets and logs):"
            );
            println!("  {full}");
        }
        WebhooksAction::List { connection } => {
            let all = client(&connection)?.list().await?;
            if all.is_empty() {
                println!("no webhook subscriptions");
            }
            for w in &all {
                println!("{}", ops::webhooks::describe(w));
            }
            println!("({} of {} allowed)", all.len(), ops::webhooks::LIMIT);
        }
        WebhooksAction::Delete { connection, id } => {
            client(&connection)?.delete(id).await?;
            println!("deleted webhook subscription {id}");
        }
    }
    Ok(())
}
