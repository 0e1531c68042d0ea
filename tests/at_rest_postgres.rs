//! No plaintext at rest in PostgreSQL: secrets, API keys and gateway tokens
//! written through the vault appear nowhere in the table's bodies, its rows
//! as text, a `pg_dump` of the database, or the server's data files and WAL.

mod support;

use agent_vault::Vault;
use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::PostgresStore;
use support::at_rest::{scan, write_canaries};
use support::pg::{self, PgServer};

fn scan_tree(dir: &std::path::Path, canaries: &support::at_rest::Canaries) -> (bool, usize) {
    let mut visible = false;
    let mut scanned = 0;
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            let (v, n) = scan_tree(&path, canaries);
            visible |= v;
            scanned += n;
        } else if let Ok(bytes) = std::fs::read(&path) {
            scanned += bytes.len();
            visible |= scan(&path.display().to_string(), &bytes, canaries);
        }
    }
    (visible, scanned)
}

#[tokio::test]
async fn postgres_holds_no_plaintext_secret() {
    let server = PgServer::start();
    let pool = server.pool(4).await;
    let store = PostgresStore::new(pool.clone());
    store.migrate().await.expect("migrate");
    let vault = Vault::new(store, Keyring::single(MasterKey::generate()));
    let canaries = write_canaries(&vault).await;

    let bodies: Vec<Vec<u8>> = sqlx::query_scalar("SELECT body FROM agent_vault_records")
        .fetch_all(&pool)
        .await
        .expect("read bodies");
    assert!(bodies.len() >= 6, "the records are there");
    let bodies = bodies.concat();
    assert!(
        scan("the record bodies", &bodies, &canaries),
        "the variable is found"
    );

    // Every row as text, the way a dump shows it (bytea as hex, so the
    // variable is not expected to be readable here).
    let rows: Vec<String> = sqlx::query_scalar("SELECT t::text FROM agent_vault_records t")
        .fetch_all(&pool)
        .await
        .expect("read rows");
    scan("the rows as text", rows.concat().as_bytes(), &canaries);
    let rows: Vec<String> =
        sqlx::query_scalar("SELECT encode(body, 'escape') FROM agent_vault_records")
            .fetch_all(&pool)
            .await
            .expect("read rows");
    assert!(scan(
        "the bodies as escaped text",
        rows.concat().as_bytes(),
        &canaries
    ));

    let socket = server.socket_dir().display().to_string();
    let dump = server.run(
        "pg_dump",
        &["-h", &socket, "-p", "5432", "-U", "postgres", pg::DATABASE],
    );
    assert!(!dump.is_empty(), "pg_dump wrote the database");
    scan("pg_dump", &dump, &canaries);

    sqlx::query("CHECKPOINT")
        .execute(&pool)
        .await
        .expect("checkpoint");
    pool.close().await;
    let (visible, scanned) = scan_tree(server.socket_dir(), &canaries);
    assert!(scanned > 1_000_000, "the data directory was read");
    assert!(
        visible,
        "the data files hold the variable, so the scan reads them"
    );
}
