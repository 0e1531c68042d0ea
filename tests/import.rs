//! `.env` import into the vault (all or nothing) and export of variables,
//! on every backend (`tests/support/backends.rs`).

mod support;

use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::dotenv::{self, ParseErrorKind};
use agent_vault::store::Store;
use agent_vault::{
    Error, ImportAction, ImportEntryError, ImportOptions, Kind, Name, NameError, OnConflict,
    SecretValue, UserId, ValueError, Vault,
};
use secrecy::{ExposeSecret, SecretString};

use support::backends::{Backend, on_every_backend, snapshot};

async fn setup<B: Backend>() -> (B::Store, Vault<B::Store>, UserId) {
    let store = B::store().await;
    let vault = Vault::new(store.clone(), Keyring::single(MasterKey::generate()));
    (store, vault, UserId::parse("alice").unwrap())
}

const RAILS: &str = "\
# Rails app
export DATABASE_URL=postgres://app:pw@db:5432/app_production
RAILS_ENV=production
SECRET_KEY_BASE=\"a1b2c3\"
REDIS_URL=redis://${REDIS_HOST:-localhost}:6379/0
GREETING='hello $HOME'
PRIVATE_KEY=\"-----BEGIN PRIVATE KEY-----
MIIEvQIBADANBgkqhkiG9w0BAQEFAASC
-----END PRIVATE KEY-----\"
";

async fn environment_of<S: Store>(vault: &Vault<S>, user: &UserId) -> Vec<(String, String)> {
    let (agent, _) = vault
        .create_agent(user, &"probe".parse().unwrap())
        .await
        .unwrap();
    let names: Vec<_> = vault
        .items(user)
        .await
        .unwrap()
        .into_iter()
        .map(|i| agent_vault::Attachable::Item(i.name))
        .collect();
    vault.attach(user, agent.id, &names).await.unwrap();
    let (env, _) = vault.environment(user, agent.id).await.unwrap();
    let pairs = env
        .iter()
        .filter(|(k, _)| *k != "OPENCLAW_GATEWAY_TOKEN")
        .map(|(k, v)| (k.to_owned(), v.expose_secret().to_owned()))
        .collect();
    vault.detach(user, agent.id, &names).await.unwrap();
    vault.delete_agent(user, agent.id).await.unwrap();
    pairs
}

async fn every_line_arrives_intact_as_secrets_by_default<B: Backend>() {
    let (_, vault, user) = setup::<B>().await;
    let report = vault
        .import_dotenv(&user, RAILS.as_bytes(), &ImportOptions::default())
        .await
        .unwrap();
    assert_eq!(report.count(ImportAction::Create), 6);
    assert!(!report.dry_run);
    let items = vault.items(&user).await.unwrap();
    assert!(
        items
            .iter()
            .all(|i| i.kind == Kind::Secret && i.value.is_none())
    );
    let env = environment_of(&vault, &user).await;
    let get = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    assert_eq!(
        get("DATABASE_URL"),
        Some("postgres://app:pw@db:5432/app_production")
    );
    assert_eq!(get("SECRET_KEY_BASE"), Some("a1b2c3"));
    assert_eq!(get("REDIS_URL"), Some("redis://localhost:6379/0"));
    assert_eq!(
        get("GREETING"),
        Some("hello $HOME"),
        "single quotes are literal"
    );
    assert_eq!(
        get("PRIVATE_KEY"),
        Some(
            "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----"
        )
    );
}

async fn the_server_environment_is_never_read<B: Backend>() {
    let (_, vault, user) = setup::<B>().await;
    // HOME and PATH are set in the test process; the import must not see them.
    let report = vault
        .import_dotenv(
            &user,
            b"A=${HOME}x\nB=\"$PATH-y\"\n",
            &ImportOptions::default().as_variables(),
        )
        .await
        .unwrap();
    let items = vault.items(&user).await.unwrap();
    let values: Vec<_> = items.iter().map(|i| i.value.as_deref()).collect();
    assert_eq!(values, [Some("x"), Some("-y")]);
    // Each undefined reference is reported.
    assert_eq!(report.warnings.len(), 2, "{:?}", report.warnings);
}

async fn a_bad_line_writes_nothing_and_says_where<B: Backend>() {
    let (store, vault, user) = setup::<B>().await;
    vault
        .import_dotenv(&user, b"KEEP=1\n", &ImportOptions::default())
        .await
        .unwrap();
    let before = snapshot(&store).await;

    let err = vault
        .import_dotenv(
            &user,
            b"A=1\nB=\"unterminated CANARY-a1\nC=3\n",
            &ImportOptions::default(),
        )
        .await
        .unwrap_err();
    match &err {
        Error::Dotenv(parse) => {
            assert_eq!(*parse.kind(), ParseErrorKind::UnterminatedQuote);
            assert_eq!((parse.line(), parse.column()), (2, 3));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(err.http_status(), 400);
    assert!(!err.to_string().contains("CANARY"));

    let cases: [(&[u8], u32, u32, ImportEntryError); 4] = [
        (
            b"OK=1\nbad.name=CANARY-b2\n",
            2,
            1,
            ImportEntryError::Name(NameError::InvalidCharacter { position: 3 }),
        ),
        (
            b"OK=1\n  LD_PRELOAD=/tmp/x.so\n",
            2,
            3,
            ImportEntryError::Name(NameError::Reserved),
        ),
        (
            b"OK=1\nEMPTY=\n",
            2,
            1,
            ImportEntryError::Value(ValueError::Empty),
        ),
        (
            b"api_key=1\nAPI_KEY=CANARY-c3\n",
            2,
            1,
            ImportEntryError::CaseDuplicate { first_line: 1 },
        ),
    ];
    for (input, line, column, reason) in cases {
        let err = vault
            .import_dotenv(&user, input, &ImportOptions::default())
            .await
            .unwrap_err();
        match &err {
            Error::InvalidImportEntry {
                line: l,
                column: c,
                reason: r,
                ..
            } => {
                assert_eq!((*l, *c, r), (line, column, &reason), "{err}");
            }
            other => panic!("{other:?}"),
        }
        assert!(!err.to_string().contains("CANARY"), "{err}");
        assert_eq!(snapshot(&store).await, before);
    }
}

/// The grammar takes any value up to the file limit; the vault's own value
/// limit then refuses an oversized one by its key and line, never its value,
/// and stores nothing.
async fn an_oversized_value_is_refused_by_its_key_and_line<B: Backend>() {
    let (store, vault, user) = setup::<B>().await;
    vault
        .import_dotenv(&user, b"KEEP=1\n", &ImportOptions::default())
        .await
        .unwrap();
    let before = snapshot(&store).await;
    let max = vault.config().max_value_len;
    let big = format!("CANARY-big-{}", "v".repeat(max));
    let input = format!("OK=1\n# the large one\n  BIG_BLOB={big}\t\x0b\nAFTER=2\n");
    // The parser alone accepts it (what `dotenv parse` prints).
    let parsed = dotenv::parse(input.as_bytes()).expect("the grammar has no 64 KiB limit");
    assert_eq!(parsed.get("BIG_BLOB").map(str::len), Some(big.len()));

    for dry_run in [true, false] {
        let err = vault
            .import_dotenv(
                &user,
                input.as_bytes(),
                &ImportOptions::default().dry_run(dry_run),
            )
            .await
            .unwrap_err();
        match &err {
            Error::InvalidImportEntry {
                line,
                column,
                name,
                reason: ImportEntryError::Value(ValueError::TooLong { len, max: limit }),
            } => {
                assert_eq!((*line, *column, name.as_str()), (3, 3, "BIG_BLOB"));
                assert_eq!((*len, *limit), (big.len(), max));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(err.http_status(), 400);
        let shown = format!("{err} {err:?}");
        assert!(
            shown.contains("BIG_BLOB") && shown.contains("line 3"),
            "{shown}"
        );
        assert!(
            !shown.contains("CANARY") && !shown.contains("vvvv"),
            "{shown}"
        );
        assert_eq!(snapshot(&store).await, before);
    }

    // Exactly at the limit is stored.
    let at_limit = format!("AT_LIMIT={}\n", "v".repeat(max));
    vault
        .import_dotenv(&user, at_limit.as_bytes(), &ImportOptions::default())
        .await
        .unwrap();
    assert!(
        vault
            .item(&user, &Name::parse("AT_LIMIT").unwrap())
            .await
            .is_ok()
    );
}

async fn existing_names_fail_skip_or_overwrite<B: Backend>() {
    let (store, vault, user) = setup::<B>().await;
    let v = |t: &str| SecretValue::parse(SecretString::from(t)).unwrap();
    vault
        .create_item(
            &user,
            &Name::parse("Shared").unwrap(),
            Kind::Secret,
            v("old"),
        )
        .await
        .unwrap();
    vault
        .create_item(
            &user,
            &Name::parse("SAME").unwrap(),
            Kind::Variable,
            v("same"),
        )
        .await
        .unwrap();
    let before = snapshot(&store).await;
    let input = b"SHARED=new\nSAME=same\nFRESH=1\n";

    let err = vault
        .import_dotenv(&user, input, &ImportOptions::default())
        .await
        .unwrap_err();
    match &err {
        Error::ImportConflict { names } => assert_eq!(names, &["SHARED", "SAME"]),
        other => panic!("{other:?}"),
    }
    assert_eq!(err.http_status(), 409);
    assert_eq!(snapshot(&store).await, before);

    // A dry run plans without writing. SAME stays a variable (imported as
    // one) with the value it has: unchanged. SHARED is a secret: always an
    // update, never compared.
    let overwrite = ImportOptions::default()
        .on_conflict(OnConflict::Overwrite)
        .with_kind_for("same", Kind::Variable);
    let plan = vault
        .import_dotenv(&user, input, &overwrite.clone().dry_run(true))
        .await
        .unwrap();
    let actions: Vec<_> = plan
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e.kind, e.action, e.converted_to_secret))
        .collect();
    assert_eq!(
        actions,
        [
            ("Shared", Kind::Secret, ImportAction::Update, false),
            ("SAME", Kind::Variable, ImportAction::Unchanged, false),
            ("FRESH", Kind::Secret, ImportAction::Create, false)
        ]
    );
    assert!(plan.dry_run);
    assert_eq!(snapshot(&store).await, before);

    let skipped = vault
        .import_dotenv(
            &user,
            input,
            &ImportOptions::default().on_conflict(OnConflict::Skip),
        )
        .await
        .unwrap();
    assert_eq!(skipped.count(ImportAction::Skip), 2);
    assert_eq!(skipped.count(ImportAction::Create), 1);
    assert_eq!(
        vault
            .item(&user, &Name::parse("SHARED").unwrap())
            .await
            .unwrap()
            .version,
        1
    );

    let overwritten = vault
        .import_dotenv(&user, b"SHARED=new\nSAME=same\n", &overwrite)
        .await
        .unwrap();
    assert_eq!(overwritten.count(ImportAction::Update), 1);
    assert_eq!(overwritten.count(ImportAction::Unchanged), 1);
    let shared = vault
        .item(&user, &Name::parse("SHARED").unwrap())
        .await
        .unwrap();
    assert_eq!((shared.version, shared.kind), (2, Kind::Secret));
    assert_eq!(
        vault
            .item(&user, &Name::parse("SAME").unwrap())
            .await
            .unwrap()
            .version,
        1
    );
    // Overwriting a secret with the value it already has is still an update
    // (the import never opens it to compare).
    let again = vault
        .import_dotenv(&user, b"SHARED=new\n", &overwrite)
        .await
        .unwrap();
    assert_eq!(again.count(ImportAction::Update), 1);
    let shared = vault
        .item(&user, &Name::parse("SHARED").unwrap())
        .await
        .unwrap();
    assert_eq!(shared.version, 3);
}

async fn overwriting_a_variable_with_a_secret_entry_converts_it<B: Backend>() {
    let (_, vault, user) = setup::<B>().await;
    let v = |t: &str| SecretValue::parse(SecretString::from(t)).unwrap();
    for (name, text) in [("VAR_SAME", "same"), ("VAR_NEW", "old")] {
        vault
            .create_item(&user, &Name::parse(name).unwrap(), Kind::Variable, v(text))
            .await
            .unwrap();
    }
    // Even with the value it already has, a variable imported as a secret
    // is converted (an update), not left in plaintext as "unchanged".
    let report = vault
        .import_dotenv(
            &user,
            b"VAR_SAME=same\nVAR_NEW=new\n",
            &ImportOptions::default().on_conflict(OnConflict::Overwrite),
        )
        .await
        .unwrap();
    let rows: Vec<_> = report
        .entries
        .iter()
        .map(|e| (e.name.as_str(), e.kind, e.action, e.converted_to_secret))
        .collect();
    assert_eq!(
        rows,
        [
            ("VAR_SAME", Kind::Secret, ImportAction::Update, true),
            ("VAR_NEW", Kind::Secret, ImportAction::Update, true)
        ]
    );
    let items = vault.items(&user).await.unwrap();
    assert!(
        items
            .iter()
            .all(|i| (i.kind, i.value.as_deref(), i.version) == (Kind::Secret, None, 2)),
        "{items:?}"
    );
    assert_eq!(vault.export_variables(&user).await.unwrap().as_str(), "");
    let env = environment_of(&vault, &user).await;
    assert!(env.contains(&("VAR_SAME".to_owned(), "same".to_owned())));
    assert!(env.contains(&("VAR_NEW".to_owned(), "new".to_owned())));
}

async fn a_secret_overwritten_by_a_variable_entry_stays_a_secret<B: Backend>() {
    let (_, vault, user) = setup::<B>().await;
    let v = |t: &str| SecretValue::parse(SecretString::from(t)).unwrap();
    vault
        .create_item(
            &user,
            &Name::parse("TOKEN").unwrap(),
            Kind::Secret,
            v("old"),
        )
        .await
        .unwrap();
    let report = vault
        .import_dotenv(
            &user,
            b"TOKEN=CANARY-e5\n",
            &ImportOptions::default()
                .as_variables()
                .on_conflict(OnConflict::Overwrite),
        )
        .await
        .unwrap();
    let row = &report.entries[0];
    assert_eq!(
        (row.kind, row.action, row.converted_to_secret),
        (Kind::Secret, ImportAction::Update, false)
    );
    let token = vault
        .item(&user, &Name::parse("TOKEN").unwrap())
        .await
        .unwrap();
    assert_eq!(
        (token.kind, token.value, token.version),
        (Kind::Secret, None, 2)
    );
    assert!(
        !vault
            .export_variables(&user)
            .await
            .unwrap()
            .contains("CANARY")
    );
    let env = environment_of(&vault, &user).await;
    assert!(env.contains(&("TOKEN".to_owned(), "CANARY-e5".to_owned())));
}

async fn kinds_per_key_and_duplicates_reported<B: Backend>() {
    let (_, vault, user) = setup::<B>().await;
    let options = ImportOptions::default()
        .as_variables()
        .with_kind_for("api_token", Kind::Secret);
    let report = vault
        .import_dotenv(
            &user,
            b"PUBLIC_URL=https://x\nAPI_TOKEN=t1\nAPI_TOKEN=t2\n",
            &options,
        )
        .await
        .unwrap();
    assert_eq!(report.duplicates, [("API_TOKEN".to_owned(), 3)]);
    let items = vault.items(&user).await.unwrap();
    let kinds: Vec<_> = items.iter().map(|i| (i.name.as_str(), i.kind)).collect();
    assert_eq!(
        kinds,
        [("API_TOKEN", Kind::Secret), ("PUBLIC_URL", Kind::Variable)]
    );
    let env = environment_of(&vault, &user).await;
    assert!(env.contains(&("API_TOKEN".to_owned(), "t2".to_owned())));
}

async fn exported_variables_parse_back_and_never_include_secrets<B: Backend>() {
    let (_, vault, user) = setup::<B>().await;
    let tricky = "multi\nline \"quoted\" $DOLLAR #hash  ";
    let v = |t: &str| SecretValue::parse(SecretString::from(t)).unwrap();
    vault
        .create_item(
            &user,
            &Name::parse("TRICKY").unwrap(),
            Kind::Variable,
            v(tricky),
        )
        .await
        .unwrap();
    vault
        .create_item(
            &user,
            &Name::parse("PLAIN").unwrap(),
            Kind::Variable,
            v("p"),
        )
        .await
        .unwrap();
    vault
        .create_item(
            &user,
            &Name::parse("HIDDEN").unwrap(),
            Kind::Secret,
            v("CANARY-d4"),
        )
        .await
        .unwrap();
    let text = vault.export_variables(&user).await.unwrap();
    assert!(!text.contains("CANARY"));
    let parsed = dotenv::parse(text.as_bytes()).unwrap();
    assert_eq!(parsed.len(), 2);
    assert_eq!(parsed.get("TRICKY"), Some(tricky));
    assert_eq!(parsed.get("PLAIN"), Some("p"));

    // And a re-import of the export into another user gives the same variables.
    let bob = UserId::parse("bob").unwrap();
    vault
        .import_dotenv(
            &bob,
            text.as_bytes(),
            &ImportOptions::default().as_variables(),
        )
        .await
        .unwrap();
    let alice_vars: Vec<_> = vault
        .items(&user)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|i| Some((i.name, i.value?)))
        .collect();
    let bob_vars: Vec<_> = vault
        .items(&bob)
        .await
        .unwrap()
        .into_iter()
        .filter_map(|i| Some((i.name, i.value?)))
        .collect();
    assert_eq!(alice_vars, bob_vars);
}

async fn variables_import_without_a_master_key_but_secrets_do_not<B: Backend>() {
    let vault = Vault::new(B::store().await, Keyring::empty());
    let user = UserId::parse("alice").unwrap();
    let err = vault
        .import_dotenv(&user, b"A=1\n", &ImportOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NotConfigured));
    vault
        .import_dotenv(&user, b"A=1\n", &ImportOptions::default().as_variables())
        .await
        .unwrap();
}

on_every_backend!(
    every_line_arrives_intact_as_secrets_by_default,
    the_server_environment_is_never_read,
    a_bad_line_writes_nothing_and_says_where,
    an_oversized_value_is_refused_by_its_key_and_line,
    existing_names_fail_skip_or_overwrite,
    overwriting_a_variable_with_a_secret_entry_converts_it,
    a_secret_overwritten_by_a_variable_entry_stays_a_secret,
    kinds_per_key_and_duplicates_reported,
    exported_variables_parse_back_and_never_include_secrets,
    variables_import_without_a_master_key_but_secrets_do_not,
);
