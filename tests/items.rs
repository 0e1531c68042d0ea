//! Secrets and variables: the vault-core behaviour, on every backend
//! (`tests/support/backends.rs`).

mod support;

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::RecordKind;
use agent_vault::{
    Entity, Error, Kind, Name, NameError, NamePolicy, SecretValue, UserId, ValueError, Vault,
    VaultConfig,
};
use secrecy::SecretString;

use support::backends::{Backend, on_every_backend, snapshot};

async fn vault<B: Backend>() -> Vault<B::Store> {
    Vault::new(B::store().await, Keyring::single(MasterKey::generate()))
}

fn user(id: &str) -> UserId {
    UserId::parse(id).unwrap()
}

fn name(text: &str) -> Name {
    Name::parse(text).unwrap()
}

fn value(text: &str) -> SecretValue {
    SecretValue::parse(SecretString::from(text)).unwrap()
}

async fn secrets_are_listed_without_values_and_variables_with_them<B: Backend>() {
    let vault = vault::<B>().await;
    let alice = user("alice");
    let secret = vault
        .create_item(
            &alice,
            &name("TELEGRAM_BOT_TOKEN"),
            Kind::Secret,
            value("bot-123"),
        )
        .await
        .unwrap();
    assert_eq!(secret.version, 1);
    assert_eq!(secret.value, None);
    vault
        .create_item(
            &alice,
            &name("PUBLIC_URL"),
            Kind::Variable,
            value("https://example.com"),
        )
        .await
        .unwrap();

    let list = vault.items(&alice).await.unwrap();
    let names: Vec<_> = list.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(names, ["PUBLIC_URL", "TELEGRAM_BOT_TOKEN"]);
    assert_eq!(list[0].kind, Kind::Variable);
    assert_eq!(list[0].value.as_deref(), Some("https://example.com"));
    assert_eq!(list[1].kind, Kind::Secret);
    assert_eq!(list[1].value, None);
    assert_eq!(list[1].id, secret.id);
    assert!(list.iter().all(|i| i.created_at <= i.updated_at));
}

async fn update_bumps_version_and_get_reads_metadata<B: Backend>() {
    let vault = vault::<B>().await;
    let alice = user("alice");
    let created = vault
        .create_item(&alice, &name("DB_URL"), Kind::Secret, value("postgres://a"))
        .await
        .unwrap();
    let updated = vault
        .update_item(&alice, &name("DB_URL"), value("postgres://b"))
        .await
        .unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.id, created.id);
    assert!(updated.updated_at >= created.updated_at);
    let got = vault.item(&alice, &name("db_url")).await.unwrap();
    assert_eq!(got.version, 2);
    assert_eq!(
        got.name.as_str(),
        "DB_URL",
        "the name keeps the case it was created with"
    );
}

async fn names_are_unique_ignoring_case_across_kinds<B: Backend>() {
    let vault = vault::<B>().await;
    let alice = user("alice");
    vault
        .create_item(&alice, &name("api_key"), Kind::Variable, value("x"))
        .await
        .unwrap();
    let err = vault
        .create_item(&alice, &name("API_KEY"), Kind::Secret, value("y"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::AlreadyExists { .. }), "{err:?}");
    assert_eq!(err.http_status(), 409);
    // Another user may use the same name.
    vault
        .create_item(&user("bob"), &name("API_KEY"), Kind::Secret, value("y"))
        .await
        .unwrap();
}

async fn reserved_names_are_refused_and_the_policy_is_configurable<B: Backend>() {
    let vault = vault::<B>().await;
    let alice = user("alice");
    for reserved in [
        "LD_PRELOAD",
        "ld_library_path",
        "LD_BIND_NOW",
        "Dyld_Fallback_Library_Path",
        "NODE_OPTIONS",
        "PATH",
        "OPENCLAW_GATEWAY_TOKEN",
    ] {
        let err = vault
            .create_item(&alice, &name(reserved), Kind::Variable, value("x"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidName {
                    reason: NameError::Reserved,
                    ..
                }
            ),
            "{reserved}: {err:?}"
        );
        assert_eq!(err.http_status(), 400);
    }
    let custom = Vault::with_config(
        B::store().await,
        Keyring::single(MasterKey::generate()),
        VaultConfig::default().with_names(
            NamePolicy::empty()
                .reserve("INTERNAL")
                .reserve_prefix("CORP_"),
        ),
    );
    for allowed in ["PATH", "LD_PRELOAD", "NODE_OPTIONS", "INTERNAL_X", "CORP"] {
        custom
            .create_item(&alice, &name(allowed), Kind::Variable, value("x"))
            .await
            .unwrap();
    }
    for refused in ["internal", "corp_token"] {
        let err = custom
            .create_item(&alice, &name(refused), Kind::Variable, value("x"))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                Error::InvalidName {
                    reason: NameError::Reserved,
                    ..
                }
            ),
            "{refused}: {err:?}"
        );
    }
}

#[test]
fn names_parse_exactly_as_documented() {
    for ok in ["A", "_", "a1", "OPENAI_API_KEY", "__x__", &"N".repeat(255)] {
        assert!(Name::parse(ok).is_ok(), "{ok}");
    }
    assert_eq!(Name::parse(""), Err(NameError::Empty));
    assert_eq!(Name::parse("9LIVES"), Err(NameError::StartsWithDigit));
    assert_eq!(
        Name::parse("A-B"),
        Err(NameError::InvalidCharacter { position: 1 })
    );
    assert_eq!(
        Name::parse("A B"),
        Err(NameError::InvalidCharacter { position: 1 })
    );
    assert_eq!(
        Name::parse("É"),
        Err(NameError::InvalidCharacter { position: 0 })
    );
    assert_eq!(
        Name::parse("A.B"),
        Err(NameError::InvalidCharacter { position: 1 })
    );
    assert_eq!(
        Name::parse(&"N".repeat(256)),
        Err(NameError::TooLong { max: 255 })
    );
}

#[test]
fn values_and_user_ids_parse_exactly_as_documented() {
    assert!(SecretValue::parse("x".into()).is_ok());
    assert!(SecretValue::parse("multi\nline ünïcode".into()).is_ok());
    assert_eq!(
        SecretValue::parse("".into()).unwrap_err(),
        ValueError::Empty
    );
    assert_eq!(
        SecretValue::parse("ab\0".into()).unwrap_err(),
        ValueError::NulByte { position: 2 }
    );
    for ok in [
        "u",
        "user-1",
        "tenant:user@example.com",
        "a.b_c",
        &"u".repeat(128),
    ] {
        assert!(UserId::parse(ok).is_ok(), "{ok}");
    }
    for bad in ["", "with space", "slash/", "ümlaut", &"u".repeat(129)] {
        assert!(UserId::parse(bad).is_err(), "{bad}");
    }
}

async fn values_over_the_limit_are_refused_without_echo<B: Backend>() {
    let small = Vault::with_config(
        B::store().await,
        Keyring::single(MasterKey::generate()),
        VaultConfig::default().with_max_value_len(8),
    );
    let alice = user("alice");
    let err = small
        .create_item(&alice, &name("K"), Kind::Secret, value("CANARY-OVER-LIMIT"))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        Error::InvalidValue {
            reason: ValueError::TooLong { len: 17, max: 8 },
            ..
        }
    ));
    assert!(!err.to_string().contains("CANARY"));
    assert!(small.items(&alice).await.unwrap().is_empty());
    // The default limit is 64 KiB.
    let vault = vault::<B>().await;
    let at_limit = "x".repeat(64 * 1024);
    vault
        .create_item(&alice, &name("BIG"), Kind::Secret, value(&at_limit))
        .await
        .unwrap();
    let err = vault
        .create_item(
            &alice,
            &name("BIGGER"),
            Kind::Secret,
            value(&format!("{at_limit}x")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidValue { .. }));
}

async fn delete_removes_the_item_and_frees_the_name<B: Backend>() {
    let vault = vault::<B>().await;
    let alice = user("alice");
    vault
        .create_item(&alice, &name("TMP"), Kind::Secret, value("1"))
        .await
        .unwrap();
    vault.delete_item(&alice, &name("tmp")).await.unwrap();
    assert!(vault.items(&alice).await.unwrap().is_empty());
    let err = vault.item(&alice, &name("TMP")).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    assert_eq!(err.http_status(), 404);
    let err = vault.delete_item(&alice, &name("TMP")).await.unwrap_err();
    assert!(matches!(err, Error::NotFound { .. }));
    vault
        .create_item(&alice, &name("TMP"), Kind::Variable, value("2"))
        .await
        .unwrap();
    assert_eq!(vault.item(&alice, &name("TMP")).await.unwrap().version, 1);
}

async fn without_a_master_key_secrets_are_not_configured_but_variables_work<B: Backend>() {
    let vault = Vault::new(B::store().await, Keyring::empty());
    let alice = user("alice");
    let err = vault
        .create_item(&alice, &name("S"), Kind::Secret, value("x"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotConfigured));
    assert_eq!(err.http_status(), 503);
    let err = vault
        .create_agent(&alice, &"bot".parse().unwrap())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotConfigured));
    vault
        .create_item(&alice, &name("V"), Kind::Variable, value("x"))
        .await
        .unwrap();
    assert_eq!(vault.items(&alice).await.unwrap().len(), 1);
}

async fn users_see_only_their_own_items<B: Backend>() {
    let vault = vault::<B>().await;
    vault
        .create_item(&user("alice"), &name("A"), Kind::Secret, value("1"))
        .await
        .unwrap();
    vault
        .create_item(&user("bob"), &name("B"), Kind::Secret, value("2"))
        .await
        .unwrap();
    let alice = vault.items(&user("alice")).await.unwrap();
    assert_eq!(alice.len(), 1);
    assert_eq!(alice[0].name.as_str(), "A");
    assert!(vault.item(&user("alice"), &name("B")).await.is_err());
}

async fn secret_values_are_ciphertext_at_rest_and_variables_plaintext<B: Backend>() {
    let store = B::store().await;
    let vault = Vault::new(store.clone(), Keyring::single(MasterKey::generate()));
    let alice = user("alice");
    vault
        .create_item(
            &alice,
            &name("S"),
            Kind::Secret,
            value("CANARY-SECRET-7f3a"),
        )
        .await
        .unwrap();
    vault
        .create_item(
            &alice,
            &name("V"),
            Kind::Variable,
            value("plain-variable-value"),
        )
        .await
        .unwrap();
    let records = snapshot(&store).await;
    let contains = |needle: &[u8]| {
        records
            .iter()
            .any(|r| r.body.windows(needle.len()).any(|w| w == needle))
    };
    assert!(!contains(b"CANARY-SECRET-7f3a"));
    assert!(contains(b"plain-variable-value"));
    let kinds: Vec<_> = records.iter().map(|r| r.key.kind).collect();
    assert!(kinds.contains(&RecordKind::UserKeys));
}

async fn a_failed_call_leaves_every_record_as_it_was<B: Backend>() {
    let store = B::store().await;
    let vault = Vault::new(store.clone(), Keyring::single(MasterKey::generate()));
    let alice = user("alice");
    vault
        .create_item(&alice, &name("A"), Kind::Secret, value("1"))
        .await
        .unwrap();
    let before = snapshot(&store).await;
    let _ = vault
        .create_item(&alice, &name("a"), Kind::Secret, value("2"))
        .await
        .unwrap_err();
    let _ = vault
        .update_item(&alice, &name("MISSING"), value("2"))
        .await
        .unwrap_err();
    let _ = vault
        .delete_item(&alice, &name("MISSING"))
        .await
        .unwrap_err();
    let _ = vault
        .create_item(&alice, &name("PATH"), Kind::Secret, value("2"))
        .await
        .unwrap_err();
    assert_eq!(snapshot(&store).await, before);

    // A first call that fails for a new user leaves not even key material.
    let bob = user("bob");
    let _ = vault
        .create_item(&bob, &name("LD_PRELOAD"), Kind::Secret, value("x"))
        .await
        .unwrap_err();
    assert_eq!(snapshot(&store).await, before);
}

async fn concurrent_creates_of_one_name_leave_exactly_one_item<B: Backend>() {
    let vault = std::sync::Arc::new(vault::<B>().await);
    let alice = user("alice");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let vault = vault.clone();
        let alice = alice.clone();
        tasks.push(tokio::spawn(async move {
            let spelled = if i % 2 == 0 { "SHARED" } else { "shared" };
            vault
                .create_item(
                    &alice,
                    &name(spelled),
                    Kind::Secret,
                    value(&format!("v{i}")),
                )
                .await
        }));
    }
    let mut created = 0;
    for task in tasks {
        match task.await.unwrap() {
            Ok(_) => created += 1,
            Err(Error::AlreadyExists { .. }) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(created, 1);
    assert_eq!(vault.items(&alice).await.unwrap().len(), 1);
}

#[test]
fn errors_map_to_http_statuses() {
    let cases: Vec<(Error, u16)> = vec![
        (Error::NotConfigured, 503),
        (Error::Contention { attempts: 3 }, 503),
        (Error::DecryptionFailed, 500),
        (Error::TokenRejected, 401),
        (UserId::parse("").unwrap_err().into(), 400),
        (
            Error::NotFound {
                what: Entity::Agent,
                name: "x".into(),
            },
            404,
        ),
        (
            Error::AlreadyExists {
                what: Entity::Secret,
                name: "x".into(),
            },
            409,
        ),
    ];
    for (error, status) in cases {
        assert_eq!(error.http_status(), status, "{error:?}");
    }
}

async fn items_are_read_updated_and_deleted_by_id_and_ids_stay_per_user<B: Backend>() {
    let vault = Vault::new(B::store().await, Keyring::single(MasterKey::generate()));
    let alice = UserId::parse("alice").unwrap();
    let bob = UserId::parse("bob").unwrap();
    let token = Name::parse("API_TOKEN").unwrap();
    let value = |text: &str| SecretValue::parse(SecretString::from(text)).unwrap();
    let created = vault
        .create_item(&alice, &token, Kind::Secret, value("one"))
        .await
        .unwrap();
    let id = created.id;
    assert_eq!(vault.item(&alice, id).await.unwrap(), created);
    let updated = vault.update_item(&alice, id, value("two")).await.unwrap();
    assert_eq!((updated.id, updated.version), (id, 2));
    assert_eq!(vault.item(&alice, &token).await.unwrap(), updated);

    // Another user's id is not found, for every call, and changes nothing.
    assert!(matches!(
        vault.item(&bob, id).await.unwrap_err(),
        Error::NotFound { .. }
    ));
    assert!(matches!(
        vault.update_item(&bob, id, value("x")).await.unwrap_err(),
        Error::NotFound { .. }
    ));
    assert!(matches!(
        vault.delete_item(&bob, id).await.unwrap_err(),
        Error::NotFound { .. }
    ));
    assert_eq!(vault.item(&alice, id).await.unwrap().version, 2);

    // The rules hold by id too: an attached item can't be deleted.
    let (agent, _) = vault
        .create_agent(&alice, &"bot".parse().unwrap())
        .await
        .unwrap();
    vault
        .attach(
            &alice,
            agent.id,
            &[agent_vault::Attachable::Item(token.clone())],
        )
        .await
        .unwrap();
    assert!(matches!(
        vault.delete_item(&alice, id).await.unwrap_err(),
        Error::Attached { .. }
    ));
    vault
        .detach(
            &alice,
            agent.id,
            &[agent_vault::Attachable::Item(token.clone())],
        )
        .await
        .unwrap();
    vault.delete_item(&alice, id).await.unwrap();
    assert!(matches!(
        vault.item(&alice, id).await.unwrap_err(),
        Error::NotFound { .. }
    ));
    // The name is free again, and a new item under it has another id.
    let again = vault
        .create_item(&alice, &token, Kind::Secret, value("three"))
        .await
        .unwrap();
    assert_ne!(again.id, id);
    assert!(matches!(
        vault.update_item(&alice, id, value("x")).await.unwrap_err(),
        Error::NotFound { .. }
    ));
}

on_every_backend!(
    secrets_are_listed_without_values_and_variables_with_them,
    update_bumps_version_and_get_reads_metadata,
    names_are_unique_ignoring_case_across_kinds,
    reserved_names_are_refused_and_the_policy_is_configurable,
    values_over_the_limit_are_refused_without_echo,
    delete_removes_the_item_and_frees_the_name,
    without_a_master_key_secrets_are_not_configured_but_variables_work,
    users_see_only_their_own_items,
    secret_values_are_ciphertext_at_rest_and_variables_plaintext,
    a_failed_call_leaves_every_record_as_it_was,
    concurrent_creates_of_one_name_leave_exactly_one_item,
    items_are_read_updated_and_deleted_by_id_and_ids_stay_per_user,
);
