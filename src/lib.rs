//! # agent-vault
//!
//! The core of a secrets vault for hosted AI agents. A hosting service keeps
//! its users' AI-provider credentials, secrets and plain variables here,
//! attaches them to agents, and asks for each agent's environment when the
//! agent's container starts.
//!
//! The crate owns the **rules** (no delete while attached, one credential per
//! provider per agent, unique names) and the **cryptography** (per-user keys,
//! AES-256-GCM). The service owns user authentication and containers; the
//! product's HTTP API is an optional router (feature `http`) it can mount.
//! The database belongs to whoever implements [`Store`](store::Store).
//!
//! ## Which type for which job
//!
//! | You want to…                                  | Use |
//! |-----------------------------------------------|-----|
//! | keep secrets and variables, attach, start agents | [`Vault`] |
//! | choose where records live                     | [`store::Store`]; [`store::MemoryStore`] embedded |
//! | name a user, a secret, a value                | [`UserId`], [`Name`], [`SecretValue`] |
//! | connect an AI provider                        | [`Credential`] ([`Provider`], [`CodexTokens`], [`CustomEndpoint`]) |
//! | attach something to an agent                  | [`Attachable`] |
//! | start an agent                                | [`Environment`] and [`DeploymentReceipt`] from [`Vault::environment`] |
//! | show the "Synced" indicator                   | [`Vault::status`] → [`AgentStatus`] |
//! | check what an agent's manifest declares        | [`Requirements`] → [`Vault::check_requirements`] |
//! | configure master keys                         | [`crypto::Keyring`], [`crypto::MasterKey`] |
//! | answer HTTP                                   | `http::router` (feature `http`): the product's API as an axum router; [`Error::http_status`] for your own |
//! | find an agent from its id alone (gateway host) | [`Vault::agent_owner`] |
//!
//! ## Getting started
//!
//! ```
//! use agent_vault::crypto::{Keyring, MasterKey};
//! use agent_vault::store::MemoryStore;
//! use agent_vault::{Attachable, Credential, Kind, Name, Provider, SecretValue, UserId, Vault};
//! use secrecy::{ExposeSecret, SecretString};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), agent_vault::Error> {
//! let vault = Vault::new(MemoryStore::new(), Keyring::single(MasterKey::generate()));
//! let user = UserId::parse("user_42")?;
//!
//! // A provider key and a secret, both sealed under the user's key.
//! let key = SecretValue::parse(SecretString::from("sk-ant-demo"))?;
//! vault.create_connection(&user, &Credential::api_key(Provider::Anthropic, key)?).await?;
//! let name = Name::parse("TELEGRAM_BOT_TOKEN").expect("a valid name");
//! let value = SecretValue::parse(SecretString::from("123:abc")).expect("a valid value");
//! vault.create_item(&user, &name, Kind::Secret, value).await?;
//!
//! // An agent, with both attached.
//! let (agent, _token) = vault.create_agent(&user, &"support-bot".parse()?).await?;
//! vault
//!     .attach(&user, agent.id, &[
//!         Attachable::parse("provider:anthropic")?,
//!         Attachable::parse("TELEGRAM_BOT_TOKEN")?,
//!     ])
//!     .await?;
//!
//! // At container start: the environment, then the receipt once it runs.
//! let (env, receipt) = vault.environment(&user, agent.id).await?;
//! assert_eq!(env.get("ANTHROPIC_API_KEY").unwrap().expose_secret(), "sk-ant-demo");
//! assert!(env.get("OPENCLAW_GATEWAY_TOKEN").is_some());
//! vault.record_deployment(&user, &receipt).await?;
//! assert!(!vault.status(&user, agent.id).await?.restart_needed);
//! # Ok(()) }
//! ```
//!
//! `cargo run --example quickstart` walks through the same job and the rules.
//!
//! ## Security model
//!
//! - **At rest**: a secret's value, a provider credential and a gateway token
//!   are sealed with AES-256-GCM under a per-user key derived with
//!   HKDF-SHA256 from a master key and a random per-user salt. Each seal uses
//!   a fresh random 96-bit nonce and associated data binding the ciphertext
//!   to its format version, key id, user, record and name: moved to another
//!   user, record or name, or altered by one bit, it fails to open
//!   ([`Error::DecryptionFailed`], one uninformative error). The byte format
//!   is specified in `docs/FORMAT.md`. Variables are plaintext by design.
//! - **Out of the vault**: the one path from a stored secret's value or
//!   provider credential to its plaintext is [`Vault::environment`], whose
//!   [`Environment`] redacts `Debug`, has no `Display` or `Serialize`, and
//!   zeroises on drop. The only other sealed value a public API opens is an
//!   agent's gateway token, which the vault generates and hands to the
//!   agent's owner ([`Vault::gateway_token`], and when it is made or
//!   rotated). No public API returns a per-user key. The crypto layer that
//!   opens any envelope (`Crypto::open`, `derive_user_key`) is `hazmat`,
//!   behind the feature of that name, which a service never needs;
//!   `tests/default_api.rs` builds a crate on the default features and
//!   checks that it can't name it. Errors never contain a value. Gateway
//!   tokens are compared in constant time.
//!
//!   ```compile_fail
//!   // The crypto layer is not in `crypto`, whatever the features; on the
//!   // default features `hazmat` does not exist either, so nothing can
//!   // name `Crypto::open`.
//!   use agent_vault::crypto::Crypto;
//!   ```
//! - **Master keys** are the operator's: [`crypto::MasterKey::to_base64`]
//!   and [`crypto::Keyring::to_spec`] export them for key management, and
//!   whoever holds them and the database can read every secret (below).
//!   That includes code holding a `&Vault`: [`Vault::keyring`] returns the
//!   keys in use, and [`Vault::store`] the store. Hand a vault only to code
//!   trusted with every user's secrets; give the rest of a service
//!   narrower functions of your own.
//! - **Consistency**: every change is one atomic conditional commit
//!   ([`store::Store::commit`]); concurrent callers, also in several
//!   processes sharing one database, are settled by version checks and
//!   bounded retries, so the invariants hold under any interleaving.
//!
//! ### Not promised
//!
//! - Copies of plaintext the operating system or allocator made (swap, core
//!   dumps, moved or reallocated buffers, registers) are out of reach of
//!   zeroisation.
//! - A master key in the host's memory is as safe as the host. Whoever holds
//!   the master key and the database can read every secret.
//! - The store is trusted to be available and to keep the contract; it is
//!   not trusted with plaintext. A malicious store can delete or roll back
//!   records (a rolled-back record still opens), but cannot forge or move one.
//! - Once handed to a container, an agent's environment is the container
//!   runtime's to protect.
//!
//! ## Features
//!
//! | feature | what it adds |
//! |---------|--------------|
//! | *(none)* | everything above, with [`store::MemoryStore`] |
//! | `tokio` | [`Environment::apply_to_tokio`] for `tokio::process::Command` |
//! | `sqlite` | `store::SqliteStore`, on sqlx (bundled SQLite) |
//! | `postgres` | `store::PostgresStore`, on sqlx |
//! | `conformance` | the public `conformance` suite any [`Store`](store::Store) can run |
//! | `http` | `http::router`: the product's HTTP API as an axum router, with gateway-token auth and an OpenAPI document |
//! | `cli` | the `agent-vault` command, `agent-vault serve` included (implies `sqlite`, `postgres`, `http` and `tokio`) |
//! | `hazmat` | `hazmat`: the crypto layer under the vault (`Crypto::open` returns plaintext), envelope bindings, user-key salts, key derivation and the format's constants; for known-answer tests, fuzzing and other implementations of `docs/FORMAT.md`, never for a service |
//! | `test-util` | `store::FaultyStore` (a store that fails on purpose, for testing retries) and the fuzz targets' entry points |
//! | `ring` | [`crypto::Backend`]`::Ring`, `ring`'s assembly AES-256-GCM, chosen with `VaultConfig::with_backend(Backend::Ring)` (the default stays `aes-gcm`): about 1.5x faster seals and opens of small values, the same bytes; `ring` does not wipe its expanded keys on drop |
//!
//! Features only add; none changes behaviour: `ring` adds a backend a
//! service has to choose, which changes speed and key wiping, never a byte
//! that is stored; `hazmat` and `test-util` only make public what the
//! vault already runs (or a test wrapper around a store).
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![deny(unreachable_pub, missing_debug_implementations)]
#![cfg_attr(docsrs, feature(doc_cfg))]
#![doc(test(attr(deny(deprecated))))]

pub mod audit;
#[cfg(feature = "conformance")]
#[cfg_attr(docsrs, doc(cfg(feature = "conformance")))]
pub mod conformance;
pub mod crypto;
pub mod dotenv;
mod echo;
mod environment;
mod error;
// Its AEAD entry points open plaintext: test-util alone is not enough.
#[cfg(all(feature = "test-util", feature = "hazmat"))]
#[doc(hidden)]
pub mod fuzzing;
#[cfg(feature = "hazmat")]
#[cfg_attr(docsrs, doc(cfg(feature = "hazmat")))]
pub mod hazmat;
#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;
mod manifest;
mod model;
mod provider;
mod records;
mod rules;
pub mod store;
mod token;
mod vault;

/// The `async_trait` attribute this crate's traits ([`store::Store`],
/// [`crypto::KeyProvider`]) are declared with: implement them with exactly
/// this version (`#[agent_vault::async_trait]`).
pub use async_trait::async_trait;
pub use environment::{
    AgentStatus, DeployedEntry, DeploymentReceipt, Environment, ItemStatus, ReceiptError,
    SyncState, Target,
};
pub use error::{Entity, Error, Input, Result};
pub use manifest::{JsonErrorKind, ManifestError, Requirement, Requirements};
pub use model::{
    AgentId, AgentName, AgentNameError, DEFAULT_MAX_VALUE_LEN, InvalidId, ItemId, ItemInfo, Kind,
    MAX_AGENT_NAME_CHARS, MAX_NAME_LEN, MAX_USER_ID_LEN, Name, NameError, NamePolicy, SecretValue,
    Timestamp, UserId, UserIdError, ValueError,
};
pub use provider::{
    ApiKey, CodexTokens, ConnectionId, Credential, CredentialKind, CustomEndpoint, Provider,
    UnknownConnection, UnknownCredentialKind, UnknownProvider, VARIABLES, VariableRow,
    variables_of,
};
/// The `secrecy` crate whose `SecretString` this crate's API takes and
/// returns, re-exported so callers use exactly the same version.
pub use secrecy;
pub use token::{GatewayToken, TOKEN_PREFIX};
pub use vault::{
    AgentInfo, Attachable, ConnectionInfo, DEFAULT_GATEWAY_TOKEN_VAR, DEFAULT_HISTORY_LEN,
    ImportAction, ImportEntry, ImportEntryError, ImportOptions, ImportReport, ItemRef, OnConflict,
    Provision, RequirementState, RequirementStatus, RequirementsReport, RewrapOptions,
    RewrapProgress, RewrapReport, UnknownOnConflict, ValueVersion, Vault, VaultConfig,
};

/// Every Rust snippet of the README compiles (and runs) as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
