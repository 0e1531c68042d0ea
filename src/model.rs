//! Domain types: ids, names, values, kinds and the metadata a listing returns.
//!
//! Every type here is built by a parsing constructor, so a value of the type is
//! valid by construction: the rest of the crate never re-checks it.

mod agent_name;
mod ids;
mod info;
mod name;
mod value;

pub use agent_name::{AgentName, AgentNameError, MAX_AGENT_NAME_CHARS};
pub use ids::{AgentId, InvalidId, ItemId, MAX_USER_ID_LEN, UserId, UserIdError};
pub use info::{ItemInfo, Kind, Timestamp};
pub use name::{MAX_NAME_LEN, Name, NameError, NamePolicy};
pub use value::{DEFAULT_MAX_VALUE_LEN, SecretValue, ValueError};
