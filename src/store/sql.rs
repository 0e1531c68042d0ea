//! What the SQLite and PostgreSQL stores share apart from their SQL: how
//! their failures become [`StoreError`]s, how a stored row becomes a
//! [`Record`], and how the rows of one `get_many` query come back in the
//! order of the keys asked for. Each backend keeps its own statements.

use std::collections::HashMap;

use sqlx::{ColumnIndex, Decode, Row, Type};

use super::{Record, RecordKey, StoreError, Version};

/// Why an SQL store call failed, before it becomes a [`StoreError`].
#[derive(Debug, thiserror::Error)]
pub(crate) enum SqlError {
    /// A write's expectation did not hold; the transaction was rolled back.
    #[error("conflict on {0}")]
    Conflict(RecordKey),
    /// A stored row is not a valid record.
    #[error("record {0} is corrupt")]
    Corrupt(RecordKey),
    /// The driver or the database failed.
    #[error(transparent)]
    Driver(#[from] sqlx::Error),
    /// The database was migrated by a newer version of this library.
    #[error("the database schema is at version {found}; this library knows up to {known}")]
    SchemaTooNew { found: i64, known: usize },
}

impl From<SqlError> for StoreError {
    fn from(error: SqlError) -> Self {
        match error {
            SqlError::Conflict(key) => Self::Conflict { key },
            SqlError::Corrupt(key) => Self::Corrupt { key: Some(key) },
            other => Self::backend(other),
        }
    }
}

/// The record at `key` from its stored version and body: `Corrupt` if the
/// version is not one the store could have assigned (zero or negative).
pub(crate) fn record(key: RecordKey, version: i64, body: Vec<u8>) -> Result<Record, SqlError> {
    let Some(version) = u64::try_from(version).ok().and_then(Version::new) else {
        return Err(SqlError::Corrupt(key));
    };
    // Into `Bytes` without a copy: the buffer the driver filled is kept.
    Ok(Record::new(key, version, body))
}

/// The record at `key` from a row with `version` and `body` columns.
pub(crate) fn record_from_row<'r, R>(key: RecordKey, row: &'r R) -> Result<Record, SqlError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    i64: Decode<'r, R::Database> + Type<R::Database>,
    Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    record(key, row.try_get("version")?, row.try_get("body")?)
}

/// A row's address as the table stores it: user id, kind and id as text.
type Address = (String, String, String);

fn address(key: &RecordKey) -> Address {
    (
        key.user.as_str().to_owned(),
        key.kind.as_str().to_owned(),
        key.id.clone(),
    )
}

/// The records at `keys`, in their order (`None` where no row matched),
/// from the rows of one query that selected `user_id`, `kind`, `id`,
/// `version` and `body` for those keys in whatever order the database chose.
pub(crate) fn in_key_order<R>(
    keys: &[RecordKey],
    rows: Vec<R>,
) -> Result<Vec<Option<Record>>, SqlError>
where
    R: Row,
    &'static str: ColumnIndex<R>,
    for<'r> String: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> i64: Decode<'r, R::Database> + Type<R::Database>,
    for<'r> Vec<u8>: Decode<'r, R::Database> + Type<R::Database>,
{
    let mut found = HashMap::with_capacity(rows.len());
    for row in rows {
        let address = (
            row.try_get("user_id")?,
            row.try_get("kind")?,
            row.try_get("id")?,
        );
        found.insert(address, row);
    }
    reorder(keys, found, |key, row| record_from_row(key, row))
}

/// `keys` answered from `found` (rows by address) through `build`.
fn reorder<R>(
    keys: &[RecordKey],
    found: HashMap<Address, R>,
    mut build: impl FnMut(RecordKey, &R) -> Result<Record, SqlError>,
) -> Result<Vec<Option<Record>>, SqlError> {
    keys.iter()
        .map(|key| {
            found
                .get(&address(key))
                .map(|row| build(key.clone(), row))
                .transpose()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::UserId;
    use crate::store::RecordKind;

    fn key(id: &str) -> RecordKey {
        let user = UserId::parse("sql-user").expect("a valid user id");
        RecordKey::new(&user, RecordKind::Item, id)
    }

    #[test]
    fn a_version_the_store_never_assigns_is_corrupt() {
        for bad in [0, -1, i64::MIN] {
            match record(key("a"), bad, b"x".to_vec()) {
                Err(SqlError::Corrupt(at)) => assert_eq!(at, key("a")),
                other => panic!("version {bad}: {other:?}"),
            }
        }
        let good = record(key("a"), i64::MAX, b"x".to_vec()).expect("a valid version");
        assert_eq!(good.version.get(), i64::MAX as u64);
        assert_eq!(&good.body[..], b"x");
    }

    #[test]
    fn rows_come_back_in_key_order_with_gaps_for_absent_keys() {
        let keys = [key("b"), key("missing"), key("a"), key("b2")];
        let found: HashMap<Address, (i64, &str)> = [
            (address(&key("a")), (1, "A")),
            (address(&key("b2")), (3, "B2")),
            (address(&key("b")), (2, "B")),
        ]
        .into_iter()
        .collect();
        let records = reorder(&keys, found, |key, (version, body)| {
            record(key, *version, body.as_bytes().to_vec())
        })
        .expect("valid rows");
        let seen: Vec<Option<(String, u64)>> = records
            .iter()
            .map(|r| r.as_ref().map(|r| (r.key.id.clone(), r.version.get())))
            .collect();
        assert_eq!(
            seen,
            [
                Some(("b".to_owned(), 2)),
                None,
                Some(("a".to_owned(), 1)),
                Some(("b2".to_owned(), 3)),
            ]
        );
    }

    #[test]
    fn conflicts_and_corruption_keep_their_variant_and_the_rest_is_backend() {
        assert!(matches!(
            StoreError::from(SqlError::Conflict(key("a"))),
            StoreError::Conflict { key: k } if k == key("a")
        ));
        assert!(matches!(
            StoreError::from(SqlError::Corrupt(key("a"))),
            StoreError::Corrupt { key: Some(k) } if k == key("a")
        ));
        assert!(matches!(
            StoreError::from(SqlError::SchemaTooNew { found: 9, known: 2 }),
            StoreError::Backend(_)
        ));
        assert!(matches!(
            StoreError::from(SqlError::Driver(sqlx::Error::PoolClosed)),
            StoreError::Backend(_)
        ));
    }
}
