//! What each kind of sealed value is bound to (`docs/FORMAT.md` §4), in one
//! place, so that sealing, opening and rewrapping can never disagree.

use crate::UserId;
use crate::crypto::{Binding, Purpose};

/// The name a gateway token is bound to.
const TOKEN_NAME: &str = "gateway-token";

/// A secret's value: its item id and its name.
pub(super) fn item<'a>(user: &'a UserId, id: &'a str, name: &'a str) -> Binding<'a> {
    Binding::new(user, Purpose::Item, id, name)
}

/// A connection's credential: its `provider:kind` id serves as both record
/// and name.
pub(super) fn connection<'a>(user: &'a UserId, id: &'a str) -> Binding<'a> {
    Binding::new(user, Purpose::Connection, id, id)
}

/// An agent's gateway token: the agent id and a fixed name.
pub(super) fn token<'a>(user: &'a UserId, agent: &'a str) -> Binding<'a> {
    Binding::new(user, Purpose::GatewayToken, agent, TOKEN_NAME)
}

/// The name a deployment receipt's seal is bound to.
const RECEIPT_NAME: &str = "deployment-receipt";

/// A deployment receipt's seal: the agent id and a fixed name.
pub(super) fn receipt<'a>(user: &'a UserId, agent: &'a str) -> Binding<'a> {
    Binding::new(user, Purpose::Receipt, agent, RECEIPT_NAME)
}

/// The record id an earlier value of a secret is bound to: the item's id,
/// `@` and the revision the value had (`docs/FORMAT.md` §4).
pub(super) fn past_item_record(item: &str, revision: u64) -> String {
    format!("{item}@{revision}")
}

/// An earlier value of a secret: [`past_item_record`] and the item's name.
pub(super) fn past_item<'a>(user: &'a UserId, record: &'a str, name: &'a str) -> Binding<'a> {
    Binding::new(user, Purpose::PastItem, record, name)
}
