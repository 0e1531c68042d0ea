//! `.env` import (all or nothing) and export of variables.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use secrecy::SecretString;
use serde::Serialize;
use subtle::ConstantTimeEq as _;
use zeroize::Zeroizing;

use crate::audit::{AuditAction, AuditEvent, AuditSubject};
use crate::crypto::Crypto;
use crate::dotenv::{self, ParseOptions};
use crate::records::{self, ItemBody, NameBody, StoredValue, item_key, name_key, user_keys_key};
use crate::store::{RecordKey, Store, Write};
use crate::{Error, Input, ItemId, Kind, Name, NameError, Result, SecretValue, UserId, ValueError};

use super::items::{item_id, push_new_item};
use super::{Plan, Vault, transact};

/// What an import does with a name that already exists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum OnConflict {
    /// Refuse the whole import, listing the names ([`Error::ImportConflict`],
    /// 409). The default.
    #[default]
    Fail,
    /// Replace the value; the item's version goes up and agents running with
    /// the old value become stale.
    ///
    /// A secret stays a secret, even when the entry is imported as a
    /// variable (a value is never moved out of sealing). A variable
    /// overwritten by an entry imported as a secret (the default kind)
    /// *becomes* a secret: its value is sealed and the plan shows it
    /// ([`ImportEntry::converted_to_secret`]). Overwriting a secret is always
    /// an [`ImportAction::Update`], whatever its stored value: the import
    /// never opens a secret, so it cannot confirm a guessed value.
    Overwrite,
    /// Leave the existing item alone.
    Skip,
}

impl OnConflict {
    /// Every choice, in the order messages list them.
    pub const ALL: [OnConflict; 3] = [Self::Fail, Self::Skip, Self::Overwrite];

    /// `"fail"`, `"skip"` or `"overwrite"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fail => "fail",
            Self::Overwrite => "overwrite",
            Self::Skip => "skip",
        }
    }

    /// Parses `fail`, `skip` or `overwrite`.
    ///
    /// ```
    /// use agent_vault::OnConflict;
    /// assert_eq!(OnConflict::parse("skip"), Ok(OnConflict::Skip));
    /// let error = OnConflict::parse("replace").unwrap_err();
    /// assert!(error.to_string().contains("expected one of fail, skip, overwrite"));
    /// ```
    pub fn parse(text: &str) -> Result<Self, UnknownOnConflict> {
        Self::ALL
            .into_iter()
            .find(|choice| choice.as_str() == text)
            .ok_or_else(|| UnknownOnConflict {
                given: crate::echo::Echo::hidden(text),
            })
    }
}

impl std::str::FromStr for OnConflict {
    type Err = UnknownOnConflict;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        Self::parse(text)
    }
}

impl fmt::Display for OnConflict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// A spelling [`OnConflict::parse`] does not know. Its message lists the
/// spellings it expected.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown conflict choice {given}: expected one of {}",
    OnConflict::ALL.map(OnConflict::as_str).join(", ")
)]
#[non_exhaustive]
pub struct UnknownOnConflict {
    given: crate::echo::Echo,
}

/// How to import a `.env` file. Start from [`ImportOptions::default`]:
/// everything as secrets ("if unsure, choose secret"), fail on existing
/// names, write.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ImportOptions {
    /// The kind of every entry not named in `kinds`.
    pub kind: Kind,
    /// Per-name kinds (names compared ignoring case).
    pub kinds: BTreeMap<String, Kind>,
    /// What to do with existing names.
    pub on_conflict: OnConflict,
    /// Plan only: return what would happen, write nothing.
    pub dry_run: bool,
    /// The largest file accepted, in bytes (default 1 MiB).
    pub max_file_size: usize,
}

impl Default for ImportOptions {
    fn default() -> Self {
        Self {
            kind: Kind::Secret,
            kinds: BTreeMap::new(),
            on_conflict: OnConflict::Fail,
            dry_run: false,
            max_file_size: dotenv::DEFAULT_MAX_FILE_SIZE,
        }
    }
}

impl ImportOptions {
    /// Imports every entry as a variable.
    pub fn as_variables(mut self) -> Self {
        self.kind = Kind::Variable;
        self
    }

    /// Imports `name` as `kind`, whatever the default.
    pub fn with_kind_for(mut self, name: &str, kind: Kind) -> Self {
        self.kinds.insert(name.to_ascii_uppercase(), kind);
        self
    }

    /// Sets what to do with existing names.
    pub fn on_conflict(mut self, policy: OnConflict) -> Self {
        self.on_conflict = policy;
        self
    }

    /// Plans without writing.
    pub fn dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    fn kind_of(&self, name: &Name) -> Kind {
        self.kinds.get(&name.folded()).copied().unwrap_or(self.kind)
    }
}

/// Why one entry of an import was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportEntryError {
    /// The file holds another spelling of the same name (names are unique
    /// ignoring case), first at this line.
    #[error("differs only in case from a name on line {first_line}")]
    CaseDuplicate {
        /// The line of the first spelling.
        first_line: u32,
    },
    /// The name is not acceptable to the vault.
    #[error("{0}")]
    Name(NameError),
    /// The value is not acceptable to the vault.
    #[error("{0}")]
    Value(ValueError),
}

/// What an import does (or, in a dry run, would do) with one name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum ImportAction {
    /// A new item.
    Create,
    /// Existing, left alone ([`OnConflict::Skip`]).
    Skip,
    /// An existing *variable*, imported as a variable with the value it
    /// already has ([`OnConflict::Overwrite`]): nothing to write.
    ///
    /// Never the answer for a secret: a variable's value is shown in every
    /// listing anyway, but "unchanged" for a secret would confirm a guess of
    /// its value, which no call may reveal.
    Unchanged,
    /// Existing, value replaced ([`OnConflict::Overwrite`]); its version
    /// goes up by one. Every overwrite of a secret is an update, even with
    /// the value it already has.
    Update,
}

impl ImportAction {
    /// `"create"`, `"skip"`, `"unchanged"` or `"update"`, as it serialises.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Skip => "skip",
            Self::Unchanged => "unchanged",
            Self::Update => "update",
        }
    }
}

/// One name of an import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ImportEntry {
    /// The name.
    pub name: Name,
    /// Its kind after the import: for a new item the kind it was imported
    /// as; for an existing one the kind it keeps, or [`Kind::Secret`] when
    /// it is converted.
    pub kind: Kind,
    /// What happens.
    pub action: ImportAction,
    /// The line of the file it came from.
    pub line: u32,
    /// An existing variable overwritten by an entry imported as a secret:
    /// it becomes a secret (sealed; its value no longer listed or
    /// exported). The action is [`ImportAction::Update`].
    pub converted_to_secret: bool,
}

/// The outcome (or the plan, for a dry run) of an import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ImportReport {
    /// Whether this is only a plan.
    pub dry_run: bool,
    /// One row per name, in file order.
    pub entries: Vec<ImportEntry>,
    /// Names defined more than once in the file (the last value was used),
    /// with the line of the definition that won.
    pub duplicates: Vec<(String, u32)>,
    /// The parser's warnings (for example an undefined `${VAR}`), as text
    /// with line and column; they never contain values. At most
    /// [`dotenv::MAX_WARNINGS`], the first ones in the file.
    pub warnings: Vec<String>,
    /// How many warnings the parser found in all; more than
    /// `warnings.len()` when some were left out.
    pub warning_count: usize,
}

impl ImportReport {
    /// How many names have this action.
    pub fn count(&self, action: ImportAction) -> usize {
        self.entries.iter().filter(|e| e.action == action).count()
    }
}

/// A parsed entry the vault accepts.
struct Accepted {
    name: Name,
    kind: Kind,
    value: SecretValue,
    line: u32,
}

impl<S: Store> Vault<S> {
    /// Imports a `.env` file: every entry in one atomic commit, or nothing.
    ///
    /// The text is parsed by [`dotenv::parse_with`] (never touching the
    /// process environment), which accepts any value up to the file limit. A
    /// syntax error is [`Error::Dotenv`] with its line and column; a name or
    /// value the vault refuses (reserved, invalid, empty value, two spellings
    /// of one name, a value over [`VaultConfig::max_value_len`]
    /// ([`ImportEntryError::Value`] with [`ValueError::TooLong`])) is
    /// [`Error::InvalidImportEntry`] with the name and the line and column of
    /// the name, and nothing is stored. Neither ever contains a value.
    ///
    /// [`VaultConfig::max_value_len`]: crate::VaultConfig::max_value_len
    ///
    /// Existing names are handled as the options' [`OnConflict`] says (see
    /// [`OnConflict::Overwrite`] for kinds): an entry imported as a secret is
    /// never stored as plaintext, and a stored secret is never opened, so
    /// neither a dry run nor an import reveals whether a value equals it.
    #[tracing::instrument(level = "debug", skip_all, fields(user = %user))]
    pub async fn import_dotenv(
        &self,
        user: &UserId,
        input: &[u8],
        options: &ImportOptions,
    ) -> Result<ImportReport> {
        user.check_acting()?;
        // The grammar takes any value the file can hold; the vault's own
        // limit is applied per entry, so that a refusal names the key.
        let parse_options = ParseOptions::default()
            .with_max_file_size(options.max_file_size)
            .with_max_value_size(options.max_file_size);
        let parsed = dotenv::parse_with(input, &parse_options)?;
        let duplicates = parsed
            .duplicates()
            .iter()
            .map(|d| (d.name().to_owned(), d.line()))
            .collect();
        let warnings = parsed.warnings().iter().map(ToString::to_string).collect();
        let warning_count = parsed.warning_count();
        let accepted = self.accept_entries(parsed.into_entries(), options)?;
        if accepted.iter().any(|a| a.kind == Kind::Secret) {
            self.require_keyring()?;
        }

        // One crypto snapshot for the whole import, retries included: every
        // value it seals is sealed under the keyring in use when it began.
        let crypto = self.crypto();
        let result = transact!(self, async {
            let mut writes = Vec::new();
            let entries = self
                .plan_import(
                    &crypto,
                    user,
                    &accepted,
                    options.on_conflict,
                    options.dry_run,
                    &mut writes,
                )
                .await?;
            if options.dry_run {
                writes.clear();
            }
            let event = import_event(user, &entries);
            Ok(Plan::new(writes, entries).audited(event))
        });
        let entries = self
            .audit_refusal(result, || import_event(user, &[]))
            .await?;
        Ok(ImportReport {
            dry_run: options.dry_run,
            entries,
            duplicates,
            warnings,
            warning_count,
        })
    }

    /// Every variable of `user` (never a secret) as `.env` text that parses
    /// back to the same mapping, sorted by name.
    pub async fn export_variables(&self, user: &UserId) -> Result<Zeroizing<String>> {
        user.check_acting()?;
        let items = self.items(user).await?;
        let pairs = items
            .iter()
            .filter_map(|item| Some((item.name.as_str(), item.value.as_deref()?)));
        // Names are valid `.env` names and values hold no NUL (both checked
        // on the way in), so writing cannot fail; map it anyway.
        dotenv::to_string(pairs).map_err(|e| Error::InvalidInput {
            field: Input::Variables,
            reason: e.to_string(),
        })
    }

    fn accept_entries(
        &self,
        entries: Vec<dotenv::Entry>,
        options: &ImportOptions,
    ) -> Result<Vec<Accepted>> {
        let mut first_line: HashMap<String, u32> = HashMap::new();
        let mut accepted = Vec::with_capacity(entries.len());
        for entry in entries {
            let (line, column) = (entry.line(), entry.column());
            let (raw_name, text) = entry.into_parts();
            let refuse = |reason| Error::InvalidImportEntry {
                line,
                column,
                name: raw_name.clone(),
                reason,
            };
            let name = Name::parse(&raw_name).map_err(|e| refuse(ImportEntryError::Name(e)))?;
            self.config
                .names
                .check(&name)
                .map_err(|e| refuse(ImportEntryError::Name(e)))?;
            if let Some(&first) = first_line.get(&name.folded()) {
                return Err(refuse(ImportEntryError::CaseDuplicate {
                    first_line: first,
                }));
            }
            first_line.insert(name.folded(), line);
            let max = self.config.max_value_len;
            if text.len() > max {
                return Err(refuse(ImportEntryError::Value(ValueError::TooLong {
                    len: text.len(),
                    max,
                })));
            }
            let value = SecretValue::parse(SecretString::from(text.as_str()))
                .map_err(|e| refuse(ImportEntryError::Value(e)))?;
            accepted.push(Accepted {
                kind: options.kind_of(&name),
                name,
                value,
                line,
            });
        }
        Ok(accepted)
    }

    /// Plans an import in two store reads whatever the number of lines and
    /// of the user's items: the name index entries of the imported names,
    /// then the items they point at with the user's key record. Each record
    /// is decoded once.
    async fn plan_import(
        &self,
        crypto: &Arc<Crypto>,
        user: &UserId,
        accepted: &[Accepted],
        on_conflict: OnConflict,
        dry_run: bool,
        writes: &mut Vec<Write>,
    ) -> Result<Vec<ImportEntry>> {
        let name_keys: Vec<RecordKey> = accepted.iter().map(|a| name_key(user, &a.name)).collect();
        let mut item_keys = Vec::with_capacity(accepted.len() + 1);
        for entry in self.store.get_many(&name_keys).await?.into_iter().flatten() {
            let NameBody { item } = records::decode(&entry)?;
            item_keys.push(item_key(user, item));
        }
        // The user's key record rides along: no round trip of its own.
        item_keys.push(user_keys_key(user));
        let mut found = self.store.get_many(&item_keys).await?;
        let user_keys = found.pop().flatten();
        let mut existing = HashMap::with_capacity(found.len());
        // An item missing here was deleted since its index entry was read:
        // it is planned as new, and the commit's "name index absent" check
        // sends the import round again.
        for record in found.into_iter().flatten() {
            let body: ItemBody = records::decode(&record)?;
            existing.insert(body.name.folded(), (record, body));
        }
        if on_conflict == OnConflict::Fail {
            let names: Vec<String> = accepted
                .iter()
                .filter(|a| existing.contains_key(&a.name.folded()))
                .map(|a| a.name.to_string())
                .collect();
            if !names.is_empty() {
                return Err(Error::ImportConflict { names });
            }
        }
        let needs_keys = accepted
            .iter()
            .any(|a| match existing.get(&a.name.folded()) {
                None => a.kind == Kind::Secret,
                Some((_, body)) => on_conflict == OnConflict::Overwrite && sealed_after(a, body),
            });
        let keys = if needs_keys {
            let keys = self.keys_with(crypto, user, user_keys).await?;
            Some(keys.push_create(writes))
        } else {
            None
        };

        let mut entries = Vec::with_capacity(accepted.len());
        for entry in accepted {
            let plain = entry.value.expose_secret();
            let Some((record, body)) = existing.remove(&entry.name.folded()) else {
                let id = ItemId::new_random();
                let value = match (entry.kind, &keys) {
                    (Kind::Secret, Some(keys)) => {
                        StoredValue::Sealed(self.seal_item(keys, user, id, &entry.name, plain)?)
                    }
                    _ => StoredValue::Plain(plain.to_owned()),
                };
                push_new_item(user, id, &entry.name, entry.kind, value, writes);
                entries.push(ImportEntry {
                    name: entry.name.clone(),
                    kind: entry.kind,
                    action: ImportAction::Create,
                    line: entry.line,
                    converted_to_secret: false,
                });
                continue;
            };
            if on_conflict == OnConflict::Skip {
                entries.push(ImportEntry {
                    name: body.name,
                    kind: body.kind,
                    action: ImportAction::Skip,
                    line: entry.line,
                    converted_to_secret: false,
                });
                continue;
            }
            let seal = sealed_after(entry, &body);
            // Comparing is only allowed where the stored value is shown
            // anyway (a variable staying a variable): for a secret, saying
            // "unchanged" would confirm a guess of its value, so a secret is
            // never opened here and an overwrite of one is always an update.
            if !seal {
                if let StoredValue::Plain(old) = &body.value {
                    if bool::from(old.as_bytes().ct_eq(plain.as_bytes())) {
                        entries.push(ImportEntry {
                            name: body.name,
                            kind: body.kind,
                            action: ImportAction::Unchanged,
                            line: entry.line,
                            converted_to_secret: false,
                        });
                        continue;
                    }
                }
            }
            let id = item_id(&record)?;
            let converted_to_secret = seal && body.kind != Kind::Secret;
            let mut body = body;
            let next = match (seal, &keys) {
                (true, Some(keys)) => {
                    StoredValue::Sealed(self.seal_item(keys, user, id, &body.name, plain)?)
                }
                // Cannot happen: `needs_keys` covers every value sealed here.
                // Answer as `keys_for` does without a master key.
                (true, None) => return Err(Error::NotConfigured),
                (false, _) => StoredValue::Plain(plain.to_owned()),
            };
            // A dry run opens nothing: its answer never depends on a stored
            // secret.
            self.replace_value(keys.as_ref(), user, id, &mut body, next, !dry_run)?;
            if seal {
                body.kind = Kind::Secret;
            }
            if converted_to_secret {
                // A secret keeps no plaintext beside it: its history starts
                // afresh.
                body.history.clear();
            }
            writes.push(records::replace(&record, &body));
            entries.push(ImportEntry {
                name: body.name,
                kind: body.kind,
                action: ImportAction::Update,
                line: entry.line,
                converted_to_secret,
            });
        }
        Ok(entries)
    }
}

/// An import's event: what it created and updated, by name, and the count
/// of each action.
fn import_event(user: &UserId, entries: &[ImportEntry]) -> AuditEvent {
    let subjects = entries
        .iter()
        .filter(|e| matches!(e.action, ImportAction::Create | ImportAction::Update))
        .map(|e| AuditSubject::name(&e.name))
        .collect();
    let count = |action: ImportAction| entries.iter().filter(|e| e.action == action).count() as u64;
    AuditEvent::done(user, AuditAction::Imported, subjects)
        .detail("created", count(ImportAction::Create))
        .detail("updated", count(ImportAction::Update))
        .detail("unchanged", count(ImportAction::Unchanged))
        .detail("skipped", count(ImportAction::Skip))
}

/// Whether overwriting `existing` with `entry` stores a sealed value: when
/// either of them is a secret. An entry imported as a secret is never
/// stored as plaintext, and a secret never becomes a variable.
fn sealed_after(entry: &Accepted, existing: &ItemBody) -> bool {
    entry.kind == Kind::Secret
        || existing.kind == Kind::Secret
        || matches!(existing.value, StoredValue::Sealed(_))
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use crate::crypto::{KeyId, Keyring, MasterKey};
    use crate::records::{ItemBody, StoredValue};
    use crate::store::{Limits, MemoryStore, Record, RecordKey, RecordKind, Store, StoreError};
    use crate::{ImportOptions, UserId, Vault};

    type Hook = Box<dyn FnOnce() + Send>;

    /// A memory store that runs a hook once, at its first `get_many`: a
    /// keyring change landing while a call is under way.
    #[derive(Default)]
    struct Hooked {
        inner: MemoryStore,
        hook: Mutex<Option<Hook>>,
    }

    #[async_trait::async_trait]
    impl Store for Hooked {
        async fn get_many(&self, keys: &[RecordKey]) -> Result<Vec<Option<Record>>, StoreError> {
            let hook = self.hook.lock().unwrap().take();
            if let Some(hook) = hook {
                hook();
            }
            self.inner.get_many(keys).await
        }

        async fn list(&self, user: &UserId, kind: RecordKind) -> Result<Vec<Record>, StoreError> {
            self.inner.list(user, kind).await
        }

        async fn commit(&self, writes: Vec<crate::store::Write>) -> Result<(), StoreError> {
            self.inner.commit(writes).await
        }

        async fn users(&self) -> Result<Vec<UserId>, StoreError> {
            self.inner.users().await
        }

        fn limits(&self) -> Limits {
            self.inner.limits()
        }
    }

    /// An import takes one crypto snapshot when it starts: a key promoted
    /// while it runs (here: during its first store read) changes nothing
    /// for it, and every value it seals is under the key that was current
    /// when it began, never some under one key and some under another.
    #[tokio::test]
    async fn an_import_racing_a_key_promotion_seals_every_item_under_one_key() {
        let before = Keyring::single(MasterKey::from_bytes([1; 32]));
        let first = before.primary_id().unwrap();
        let mut promoted = before.clone();
        let second = KeyId(first.0 + 1);
        promoted
            .add(second, MasterKey::from_bytes([2; 32]))
            .unwrap();
        promoted.promote(second).unwrap();

        let vault = Arc::new(Vault::new(Hooked::default(), before));
        let weak = Arc::downgrade(&vault);
        *vault.store().hook.lock().unwrap() = Some(Box::new(move || {
            if let Some(vault) = weak.upgrade() {
                vault.set_keyring(promoted);
            }
        }));
        let user = UserId::parse("alice").unwrap();
        let text: String = (0..20).map(|i| format!("KEY_{i}=value-{i}\n")).collect();
        let report = vault
            .import_dotenv(&user, text.as_bytes(), &ImportOptions::default())
            .await
            .unwrap();
        assert_eq!(report.entries.len(), 20);
        assert_eq!(vault.keyring().primary_id(), Some(second), "promoted");

        let items = vault.store().inner.list(&user, RecordKind::Item).await;
        let mut key_ids = Vec::new();
        for record in items.unwrap() {
            let body: ItemBody = crate::records::decode(&record).unwrap();
            let StoredValue::Sealed(sealed) = &body.value else {
                panic!("{} was imported as a secret", body.name);
            };
            key_ids.push(crate::crypto::Crypto::key_id_of(sealed).unwrap());
        }
        assert_eq!(key_ids.len(), 20);
        assert!(
            key_ids.iter().all(|id| *id == first),
            "every item sealed under the key current when the import began: {key_ids:?}"
        );
    }
}
