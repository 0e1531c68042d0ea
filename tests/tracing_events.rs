//! What the vault tells a service's logs: a span per operation, an event for
//! a refusal by a rule, for a stored value that does not open, and for a
//! retry; never a value, a key or a token, at any level.

use std::io::Write;
use std::sync::{Arc, Mutex};

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::{Expect, MemoryStore, RecordKey, RecordKind, Store, Write as StoreWrite};
use agent_vault::{Attachable, Error, Kind, Name, SecretValue, UserId, Vault};
use secrecy::SecretString;
use tracing_subscriber::fmt::MakeWriter;

/// Collects everything logged.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Captured {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

impl Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

const VALUE: &str = "canary-value-5a6b7c8d";

fn value(text: &str) -> SecretValue {
    SecretValue::parse(SecretString::from(text)).unwrap()
}

#[tokio::test]
async fn refusals_and_unopenable_values_are_logged_without_values() {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(captured.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::TRACE)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let store = MemoryStore::new();
    let vault = Vault::new(store.clone(), Keyring::single(MasterKey::generate()));
    let user = UserId::parse("alice").unwrap();
    let openai = Name::parse("OPENAI_API_KEY").unwrap();
    let oauth = Name::parse("OPENAI_OAUTH_TOKEN").unwrap();
    let created = vault
        .create_item(&user, &openai, Kind::Secret, value(VALUE))
        .await
        .unwrap();
    vault
        .create_item(&user, &oauth, Kind::Secret, value(VALUE))
        .await
        .unwrap();
    let (agent, token) = vault
        .create_agent_with(
            &user,
            &"bot".parse().unwrap(),
            &[Attachable::Item(openai.clone())],
        )
        .await
        .unwrap();

    // A rule refuses: one event, naming the agent and provider.
    let refused = vault
        .attach(&user, agent.id, &[Attachable::Item(oauth)])
        .await;
    assert!(matches!(refused, Err(Error::ProviderConflict { .. })));
    let logs = captured.text();
    assert!(logs.contains("refused by a vault rule"), "{logs}");
    assert!(logs.contains(&agent.id.to_string()), "{logs}");
    assert!(logs.contains("attach"), "the operation's span: {logs}");

    // A stored value altered at rest: the environment is refused, and the
    // log says a value did not open, without saying what it held.
    let key = RecordKey::new(&user, RecordKind::Item, created.id.to_string());
    let record = store.get(&key).await.unwrap().unwrap();
    let mut body = record.body.to_vec();
    // The body ends with the sealed value's tag, then the (empty) history.
    let at = body.len() - 2;
    body[at] ^= 1;
    store
        .commit(vec![StoreWrite::Put {
            key,
            expect: Expect::Version(record.version),
            body,
        }])
        .await
        .unwrap();
    let broken = vault.environment(&user, agent.id).await;
    assert!(matches!(broken, Err(Error::DecryptionFailed)), "{broken:?}");
    let logs = captured.text();
    assert!(logs.contains("did not open"), "{logs}");

    assert!(!logs.contains(VALUE), "a value reached the log");
    assert!(
        !logs.contains(token.expose_secret()),
        "a token reached the log"
    );
}
