//! The main job on the in-memory store: keep a user's provider key, secrets
//! and variables, attach them to an agent, and start the agent with its
//! environment. Run with `cargo run --example quickstart`.

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::MemoryStore;
use agent_vault::{
    Attachable, ConnectionId, Credential, Error, Kind, Name, Provider, SecretValue, UserId, Vault,
};
use secrecy::SecretString;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // A service loads its master key from its secret manager; here, a fresh one.
    let vault = Vault::new(MemoryStore::new(), Keyring::single(MasterKey::generate()));
    let user = UserId::parse("user_42")?;
    println!("vault ready for user {user}");

    // 1. Connect a provider (the API key is sealed under the user's key).
    let openai = Credential::api_key(
        Provider::OpenAi,
        SecretValue::parse(SecretString::from("sk-demo-openai")).unwrap(),
    )
    .unwrap();
    let card = vault.create_connection(&user, &openai).await?;
    println!("connected provider {} ({})", card.provider, card.kind);

    // 2. Add a secret and a variable.
    let secret = |text: &str| SecretValue::parse(SecretString::from(text));
    vault
        .create_item(
            &user,
            &Name::parse("TELEGRAM_BOT_TOKEN")?,
            Kind::Secret,
            secret("123:abc")?,
        )
        .await?;
    vault
        .create_item(
            &user,
            &Name::parse("PUBLIC_URL")?,
            Kind::Variable,
            secret("https://bot.example")?,
        )
        .await?;
    for item in vault.items(&user).await? {
        let shown = item.value.as_deref().unwrap_or("(secret: never shown)");
        println!(
            "  {:<20} {:<8} v{} {}",
            item.name, item.kind, item.version, shown
        );
    }

    // 3. Create an agent (its gateway token is generated) and attach items.
    let (agent, token) = vault
        .create_agent(&user, &"support-bot".parse().unwrap())
        .await?;
    let shape = if agent_vault::GatewayToken::looks_valid(token.expose_secret()) {
        "well-formed"
    } else {
        "malformed"
    };
    println!(
        "created agent {} ({}) with a {shape} gateway token",
        agent.name, agent.id
    );
    let wanted = [
        Attachable::Connection(ConnectionId::default_for(Provider::OpenAi)),
        Attachable::parse("TELEGRAM_BOT_TOKEN")?,
        Attachable::parse("PUBLIC_URL")?,
    ];
    vault.attach(&user, agent.id, &wanted).await?;
    println!(
        "attached {:?}",
        vault.agent(&user, agent.id).await?.attached
    );

    // 4. The rules: no delete while attached, one credential per provider.
    match vault
        .delete_item(&user, &Name::parse("TELEGRAM_BOT_TOKEN")?)
        .await
    {
        Err(e @ Error::Attached { .. }) => println!("delete refused ({}): {e}", e.http_status()),
        other => println!("unexpected: {other:?}"),
    }
    vault
        .create_item(
            &user,
            &Name::parse("OPENAI_API_KEY")?,
            Kind::Secret,
            secret("sk-other")?,
        )
        .await?;
    match vault
        .attach(&user, agent.id, &[Attachable::parse("OPENAI_API_KEY")?])
        .await
    {
        Err(e @ Error::ProviderConflict { .. }) => {
            println!("attach refused ({}): {e}", e.http_status())
        }
        other => println!("unexpected: {other:?}"),
    }

    // 5. Start the agent: its environment is the only way values leave the vault.
    let (env, receipt) = vault.environment(&user, agent.id).await?;
    println!(
        "environment at start: {:?}",
        env.names().collect::<Vec<_>>()
    );
    let mut child = std::process::Command::new("sh");
    child.args([
        "-c",
        "echo \"  child sees PUBLIC_URL=$PUBLIC_URL and a ${#OPENAI_API_KEY}-byte OPENAI_API_KEY\"",
    ]);
    env.apply_to(&mut child);
    child.status()?;
    vault.record_deployment(&user, &receipt).await?;

    // 6. Update a value: the running agent is stale until its gateway restarts.
    vault
        .update_item(
            &user,
            &Name::parse("TELEGRAM_BOT_TOKEN")?,
            secret("456:def")?,
        )
        .await?;
    let status = vault.status(&user, agent.id).await?;
    for item in &status.items {
        println!("  {:<26} {}", item.name, item.state.as_str());
    }
    println!("restart needed: {}", status.restart_needed);

    // 7. Rotate the gateway token: the old one fails at once.
    let new_token = vault.rotate_gateway_token(&user, agent.id).await?;
    let old_ok = vault
        .verify_gateway_token(&user, agent.id, token.expose_secret())
        .await
        .is_ok();
    let new_ok = vault
        .verify_gateway_token(&user, agent.id, new_token.expose_secret())
        .await
        .is_ok();
    println!("old token accepted: {old_ok}, new token accepted: {new_ok}");
    Ok(())
}
