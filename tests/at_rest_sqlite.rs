//! No plaintext at rest in SQLite: secrets, API keys and gateway tokens
//! written through the vault appear nowhere in the database file, its
//! write-ahead log or shared-memory file, before or after a checkpoint.

mod support;

use agent_vault::Vault;
use agent_vault::crypto::{Keyring, MasterKey};
use agent_vault::store::SqliteStore;
use support::at_rest::{scan, write_canaries};

fn scan_files(dir: &std::path::Path, canaries: &support::at_rest::Canaries) -> bool {
    let mut visible = false;
    let mut scanned = 0;
    for entry in std::fs::read_dir(dir).expect("read dir") {
        let path = entry.expect("entry").path();
        // A file may vanish as the last connection closes.
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        scanned += bytes.len();
        visible |= scan(&path.display().to_string(), &bytes, canaries);
    }
    assert!(scanned > 0, "nothing was scanned");
    visible
}

#[tokio::test]
async fn sqlite_files_hold_no_plaintext_secret() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("vault.db");
    let store = SqliteStore::open(&path).await.expect("open");
    let vault = Vault::new(store.clone(), Keyring::single(MasterKey::generate()));
    let canaries = write_canaries(&vault).await;

    // While open: the recent writes are in the -wal file.
    let wal = std::fs::metadata(dir.path().join("vault.db-wal")).expect("WAL mode");
    assert!(wal.len() > 0, "the writes are in the WAL");
    let visible = scan_files(dir.path(), &canaries);
    assert!(
        visible,
        "the scan finds the plaintext variable, so it reads the records"
    );

    // After a checkpoint and close: everything is in the main file.
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(store.pool())
        .await
        .expect("checkpoint");
    drop(vault);
    store.pool().close().await;
    let visible = scan_files(dir.path(), &canaries);
    assert!(visible, "the variable is still found after the checkpoint");
}
