//! Attacks through `.env` import: confirming a guessed secret, injecting a
//! code-loading variable, and putting an intended secret into plaintext.

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::{Expect, MemoryStore, RecordKind, Store, Write};
use agent_vault::{
    Attachable, Error, ImportAction, ImportEntryError, ImportOptions, ImportReport, Kind, Name,
    NameError, OnConflict, SecretValue, UserId, Vault,
};
use secrecy::{ExposeSecret as _, SecretString};

const STORED: &str = "CANARY-stored-sk-live-4f9a";
const WRONG: &str = "CANARY-wrong-guess-0000";

fn setup() -> (MemoryStore, Vault<MemoryStore>) {
    let store = MemoryStore::new();
    let vault = Vault::new(store.clone(), Keyring::single(MasterKey::generate()));
    (store, vault)
}

fn user(id: &str) -> UserId {
    UserId::parse(id).expect("a valid user id")
}

fn name(text: &str) -> Name {
    Name::parse(text).expect("a valid name")
}

fn value(text: &str) -> SecretValue {
    SecretValue::parse(SecretString::from(text)).expect("a valid value")
}

fn overwrite(dry_run: bool) -> ImportOptions {
    ImportOptions::default()
        .on_conflict(OnConflict::Overwrite)
        .dry_run(dry_run)
}

fn json(report: &ImportReport) -> String {
    serde_json::to_string(report).expect("a report serialises")
}

/// Two users hold the same secret; one import guesses it right, the other
/// wrong. Whatever the import answers must not tell them apart.
#[tokio::test]
async fn overwrite_import_cannot_confirm_a_guessed_secret() {
    let (_, vault) = setup();
    let (right, wrong) = (user("right"), user("wrong"));
    for u in [&right, &wrong] {
        vault
            .create_item(u, &name("API_KEY"), Kind::Secret, value(STORED))
            .await
            .unwrap();
    }
    let guess = |text: &str| format!("API_KEY={text}\n");

    // A dry run writes nothing, so it could be repeated for every guess.
    let plan_right = vault
        .import_dotenv(&right, guess(STORED).as_bytes(), &overwrite(true))
        .await
        .unwrap();
    let plan_wrong = vault
        .import_dotenv(&wrong, guess(WRONG).as_bytes(), &overwrite(true))
        .await
        .unwrap();
    assert_eq!(json(&plan_right), json(&plan_wrong));
    assert_eq!(plan_right, plan_wrong);
    assert_eq!(plan_right.count(ImportAction::Update), 1);

    // A real import answers the same way too, and writes either way.
    let done_right = vault
        .import_dotenv(&right, guess(STORED).as_bytes(), &overwrite(false))
        .await
        .unwrap();
    let done_wrong = vault
        .import_dotenv(&wrong, guess(WRONG).as_bytes(), &overwrite(false))
        .await
        .unwrap();
    assert_eq!(json(&done_right), json(&done_wrong));
    assert_eq!(done_right.count(ImportAction::Update), 1);
    for u in [&right, &wrong] {
        let item = vault.item(u, &name("API_KEY")).await.unwrap();
        assert_eq!(
            (item.kind, item.version, item.value),
            (Kind::Secret, 2, None)
        );
    }
}

/// An import's answer never depends on a stored secret: a dry run opens
/// nothing, and an overwrite succeeds even when the stored envelope would
/// not decrypt (here: its tag is damaged; the value it replaces can't be
/// kept in the history, so it is dropped).
#[tokio::test]
async fn overwrite_import_answer_never_depends_on_the_stored_secret() {
    let (store, vault) = setup();
    let alice = user("alice");
    vault
        .create_item(&alice, &name("API_KEY"), Kind::Secret, value(STORED))
        .await
        .unwrap();
    let record = store
        .list(&alice, RecordKind::Item)
        .await
        .unwrap()
        .pop()
        .expect("the item's record");
    let mut body = record.body.to_vec();
    // FORMAT.md §6.3: the sealed value (its tag last) is followed only by
    // the history, here empty (one `00` byte).
    assert_eq!(body.last(), Some(&0), "an empty history ends the body");
    let tag_end = body.len() - 2;
    body[tag_end] ^= 1;
    store
        .commit(vec![Write::Put {
            key: record.key.clone(),
            expect: Expect::Version(record.version),
            body,
        }])
        .await
        .unwrap();

    for dry_run in [true, false] {
        let report = vault
            .import_dotenv(
                &alice,
                format!("API_KEY={WRONG}\n").as_bytes(),
                &overwrite(dry_run),
            )
            .await
            .unwrap();
        assert_eq!(report.count(ImportAction::Update), 1);
    }
    let (agent, _) = vault
        .create_agent(&alice, &"probe".parse().unwrap())
        .await
        .unwrap();
    vault
        .attach(&alice, agent.id, &[Attachable::Item(name("API_KEY"))])
        .await
        .unwrap();
    let (env, _) = vault.environment(&alice, agent.id).await.unwrap();
    let got = env
        .iter()
        .find(|(k, _)| *k == "API_KEY")
        .map(|(_, v)| v.expose_secret().to_owned());
    assert_eq!(got.as_deref(), Some(WRONG));
}

/// Names that make a process load attacker-chosen code (or change how it
/// runs) are refused by `create` and by an import, in any case, and the
/// refusal names the name but never the value.
#[tokio::test]
async fn code_loading_variables_cannot_be_created_or_imported() {
    let (store, vault) = setup();
    let alice = user("alice");
    let names = [
        "NODE_OPTIONS",
        "BASH_ENV",
        "ENV",
        "GCONV_PATH",
        "GLIBC_TUNABLES",
        "PERL5OPT",
        "RUBYOPT",
        "JAVA_TOOL_OPTIONS",
        "LD_PRELOAD",
        "LD_BIND_NOW",
        "ld_debug_output",
        "LD_",
        "DYLD_INSERT_LIBRARIES",
        "dyld_fallback_library_path",
        "node_options",
        "Bash_Env",
    ];
    let payload = "CANARY-payload--require=/tmp/evil.js";
    for reserved in names {
        for kind in [Kind::Secret, Kind::Variable] {
            let err = vault
                .create_item(&alice, &name(reserved), kind, value(payload))
                .await
                .unwrap_err();
            match &err {
                Error::InvalidName {
                    name,
                    reason: NameError::Reserved,
                } => assert_eq!(name, reserved),
                other => panic!("{reserved}: {other:?}"),
            }
            assert!(err.to_string().contains(reserved), "{err}");
            assert!(!err.to_string().contains("CANARY"), "{err}");
            assert!(!format!("{err:?}").contains("CANARY"), "{err:?}");
        }

        let input = format!("SAFE=1\n{reserved}={payload}\n");
        for options in [
            ImportOptions::default(),
            ImportOptions::default().as_variables(),
            ImportOptions::default().on_conflict(OnConflict::Overwrite),
            ImportOptions::default().dry_run(true),
        ] {
            let err = vault
                .import_dotenv(&alice, input.as_bytes(), &options)
                .await
                .unwrap_err();
            match &err {
                Error::InvalidImportEntry {
                    line: 2,
                    name,
                    reason: ImportEntryError::Name(NameError::Reserved),
                    ..
                } => assert_eq!(name, reserved),
                other => panic!("{reserved}: {other:?}"),
            }
            assert!(err.to_string().contains(reserved), "{err}");
            assert!(!err.to_string().contains("CANARY"), "{err}");
            assert!(!format!("{err:?}").contains("CANARY"), "{err:?}");
        }
    }
    assert!(store.snapshot().is_empty(), "nothing was written");
}

/// An entry imported as a secret onto an existing variable is sealed: the
/// item becomes a secret, the plan says so, and no stored record holds the
/// value in plaintext.
#[tokio::test]
async fn overwrite_import_as_secret_never_stores_plaintext() {
    let (store, vault) = setup();
    let alice = user("alice");
    vault
        .create_item(
            &alice,
            &name("Db_Password"),
            Kind::Variable,
            value("old-public"),
        )
        .await
        .unwrap();
    let (agent, _) = vault
        .create_agent(&alice, &"probe".parse().unwrap())
        .await
        .unwrap();
    vault
        .attach(&alice, agent.id, &[Attachable::Item(name("DB_PASSWORD"))])
        .await
        .unwrap();
    let input = format!("DB_PASSWORD={STORED}\n");

    let plan = vault
        .import_dotenv(&alice, input.as_bytes(), &overwrite(true))
        .await
        .unwrap();
    let row = &plan.entries[0];
    assert_eq!(
        (
            row.name.as_str(),
            row.kind,
            row.action,
            row.converted_to_secret
        ),
        ("Db_Password", Kind::Secret, ImportAction::Update, true)
    );

    let done = vault
        .import_dotenv(&alice, input.as_bytes(), &overwrite(false))
        .await
        .unwrap();
    assert_eq!(done.entries, plan.entries);
    for record in store.snapshot() {
        let body = String::from_utf8_lossy(&record.body);
        assert!(!body.contains("CANARY"), "{:?} holds the value", record.key);
    }
    let item = vault.item(&alice, &name("DB_PASSWORD")).await.unwrap();
    assert_eq!(
        (item.kind, item.value, item.version),
        (Kind::Secret, None, 2)
    );
    assert!(
        !vault
            .export_variables(&alice)
            .await
            .unwrap()
            .contains("CANARY")
    );

    let (env, _) = vault.environment(&alice, agent.id).await.unwrap();
    let got = env
        .iter()
        .find(|(k, _)| *k == "Db_Password")
        .map(|(_, v)| v.expose_secret().to_owned());
    assert_eq!(got.as_deref(), Some(STORED));
}

/// An item stored under a name that is reserved now (created before the
/// policy reserved it, or under a laxer policy) can't be attached and is
/// never injected: the agent's start is refused, naming it.
#[tokio::test]
async fn a_reserved_name_stored_earlier_is_never_injected() {
    use agent_vault::crypto::{Keyring, MasterKey};
    use agent_vault::store::MemoryStore;
    use agent_vault::{
        Attachable, Error, Kind, Name, NameError, NamePolicy, SecretValue, UserId, Vault,
        VaultConfig,
    };

    let store = MemoryStore::new();
    let keyring = Keyring::single(MasterKey::generate());
    let lax = Vault::with_config(
        store.clone(),
        keyring.clone(),
        VaultConfig::default().with_names(NamePolicy::empty()),
    );
    let user = UserId::parse("u").unwrap();
    for name in ["NODE_OPTIONS", "LD_PRELOAD"] {
        lax.create_item(
            &user,
            &Name::parse(name).unwrap(),
            Kind::Variable,
            SecretValue::parse("--require /tmp/evil.js".into()).unwrap(),
        )
        .await
        .unwrap();
    }
    let (agent, _) = lax
        .create_agent(&user, &"bot".parse().unwrap())
        .await
        .unwrap();
    lax.attach(
        &user,
        agent.id,
        &[Attachable::parse("NODE_OPTIONS").unwrap()],
    )
    .await
    .unwrap();

    let strict = Vault::new(store, keyring);
    match strict
        .attach(&user, agent.id, &[Attachable::parse("LD_PRELOAD").unwrap()])
        .await
    {
        Err(Error::InvalidName {
            name,
            reason: NameError::Reserved,
        }) => assert_eq!(name, "LD_PRELOAD"),
        other => panic!("attaching a reserved name: {other:?}"),
    }
    match strict.environment(&user, agent.id).await {
        Err(Error::InvalidName {
            name,
            reason: NameError::Reserved,
        }) => assert_eq!(name, "NODE_OPTIONS"),
        other => panic!(
            "starting with a reserved name attached: {:?}",
            other.map(|(env, _)| env)
        ),
    }
}
