//! The operations the model test drives, and how proptest generates them.

use agent_vault::{Kind, OnConflict};
use proptest::prelude::*;

/// Names: two spellings of one name, provider-owned names (they count as a
/// provider's credential), plain ones, and a reserved one.
pub const NAMES: [&str; 7] = [
    "OPENAI_API_KEY",
    "openai_api_key",
    "DB_URL",
    "SLACK_TOKEN",
    "ANTHROPIC_API_KEY",
    "CUSTOM_OPENAI_MODELS",
    "Path",
];

/// Values of secrets and variables: distinctive, so that finding one in a
/// stored record is never a coincidence.
pub const VALUES: [&str; 5] = [
    "cnryV0qz7wv1Lx",
    "cnryV1hb3kd9Qe",
    "cnryV2mm8rt4Zs",
    "cnryV3ya2pf6Wn",
    "cnryV4gc5ue0Jt",
];

/// Longer than the model vault's 32-byte value limit.
pub const TOO_LONG: &str = "cnryXXtoolong0123456789abcdefghijklmnop0123456789abcdefghijklmnop0123456789abcdefghijklmnop0123456789abcdefghijklmnop0123456789abcdefghijklmnop0123456789abcdefghijklmnop0123456789abcdefghijklmnop0123456789abcdefghijklmnop";

/// Credential material (API keys, OAuth tokens).
pub const CRED_VALUES: [&str; 4] = [
    "cnryK0sk8Jq2Wd",
    "cnryK1sk4Rt7Ym",
    "cnryK2sk1Hn5Pc",
    "cnryK3sk6Lb3Xv",
];

/// The connections attach, detach and disconnect pick from.
pub const CONNECTIONS: [&str; 6] = [
    "anthropic",
    "openai",
    "openai:codex-subscription",
    "venice",
    "custom",
    "pinata",
];

pub const SLOTS: usize = 3;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Val {
    Ok(usize),
    TooLong,
    /// Only in `.env` files: `NAME=`.
    Empty,
}

impl Val {
    pub fn text(self) -> &'static str {
        match self {
            Self::Ok(i) => VALUES[i],
            Self::TooLong => TOO_LONG,
            Self::Empty => "",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Cred {
    /// Anthropic (0), OpenAI (1) or Venice (2), with a key.
    ApiKey(usize, usize),
    Codex(usize, usize),
    Custom {
        key: Option<usize>,
        models: bool,
    },
    /// Pinata-hosted inference, with the key the host generated.
    Pinata(usize),
}

#[derive(Clone, Copy, Debug)]
pub enum Tgt {
    Item(usize),
    Conn(usize),
}

#[derive(Clone, Copy, Debug)]
pub enum AgentName {
    Valid(usize),
    Empty,
    TooLong,
    Control,
}

#[derive(Clone, Copy, Debug)]
pub enum Presented {
    Current,
    Previous,
    Garbage,
}

#[derive(Clone, Debug)]
pub struct ImportOp {
    pub lines: Vec<(usize, Val)>,
    pub kind: Kind,
    pub kind_for: Option<(usize, Kind)>,
    pub on_conflict: OnConflict,
    pub dry_run: bool,
    pub broken: bool,
}

impl ImportOp {
    pub fn text(&self) -> String {
        let mut out = String::new();
        for (name, value) in &self.lines {
            out.push_str(NAMES[*name]);
            out.push('=');
            out.push_str(value.text());
            out.push('\n');
        }
        if self.broken {
            out.push_str("=no_name\n");
        }
        out
    }
}

#[derive(Clone, Debug)]
pub enum Op {
    Create {
        name: usize,
        kind: Kind,
        value: Val,
    },
    Update {
        name: usize,
        value: Val,
    },
    Delete {
        name: usize,
    },
    Get {
        name: usize,
    },
    List,
    Import(ImportOp),
    Export,
    Connect(Cred),
    UpdateConnection(Cred),
    Disconnect(usize),
    Connections,
    CreateAgent {
        slot: usize,
        name: AgentName,
    },
    DeleteAgent(usize),
    Agents,
    Agent(usize),
    Attach {
        slot: usize,
        targets: Vec<Tgt>,
    },
    Detach {
        slot: usize,
        targets: Vec<Tgt>,
    },
    Environment(usize),
    RecordDeployment {
        slot: usize,
        older: bool,
    },
    Status(usize),
    Rotate(usize),
    Verify {
        slot: usize,
        presented: Presented,
    },
    GatewayToken(usize),
    /// A new key generation for the user, then a rewrap of the user's records.
    RotateUserKey,
    /// A new master key, promoted, then a rewrap of every record.
    RotateMasterKey,
}

impl Op {
    /// Whether the operation only reads.
    pub fn is_read_only(&self) -> bool {
        matches!(
            self,
            Self::Get { .. }
                | Self::List
                | Self::Export
                | Self::Connections
                | Self::Agents
                | Self::Agent(_)
                | Self::Environment(_)
                | Self::Status(_)
                | Self::Verify { .. }
                | Self::GatewayToken(_)
        ) || matches!(self, Self::Import(i) if i.dry_run)
    }
}

fn name() -> impl Strategy<Value = usize> {
    // The reserved name is rare.
    prop_oneof![6 => 0..6usize, 1 => Just(6usize)]
}

fn value() -> impl Strategy<Value = Val> {
    prop_oneof![12 => (0..VALUES.len()).prop_map(Val::Ok), 1 => Just(Val::TooLong)]
}

fn import_value() -> impl Strategy<Value = Val> {
    prop_oneof![20 => (0..VALUES.len()).prop_map(Val::Ok), 1 => Just(Val::TooLong), 1 => Just(Val::Empty)]
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![Just(Kind::Secret), Just(Kind::Variable)]
}

fn slot() -> impl Strategy<Value = usize> {
    0..SLOTS
}

fn cred() -> impl Strategy<Value = Cred> {
    let v = 0..CRED_VALUES.len();
    prop_oneof![
        4 => (0..3usize, v.clone()).prop_map(|(p, k)| Cred::ApiKey(p, k)),
        2 => (v.clone(), v.clone()).prop_map(|(a, r)| Cred::Codex(a, r)),
        2 => (prop::option::of(v.clone()), any::<bool>())
            .prop_map(|(key, models)| Cred::Custom { key, models }),
        1 => v.prop_map(Cred::Pinata),
    ]
}

fn target() -> impl Strategy<Value = Tgt> {
    prop_oneof![
        3 => name().prop_map(Tgt::Item),
        2 => (0..CONNECTIONS.len()).prop_map(Tgt::Conn),
    ]
}

fn agent_name() -> impl Strategy<Value = AgentName> {
    prop_oneof![
        12 => (0..2usize).prop_map(AgentName::Valid),
        1 => Just(AgentName::Empty),
        1 => Just(AgentName::TooLong),
        1 => Just(AgentName::Control),
    ]
}

fn import() -> impl Strategy<Value = ImportOp> {
    (
        prop::collection::vec((name(), import_value()), 0..4),
        kind(),
        prop::option::weighted(0.3, (name(), kind())),
        prop_oneof![
            Just(OnConflict::Fail),
            Just(OnConflict::Skip),
            Just(OnConflict::Overwrite)
        ],
        prop::bool::weighted(0.2),
        prop::bool::weighted(0.05),
    )
        .prop_map(
            |(lines, kind, kind_for, on_conflict, dry_run, broken)| ImportOp {
                lines,
                kind,
                kind_for,
                on_conflict,
                dry_run,
                broken,
            },
        )
}

pub fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (name(), kind(), value()).prop_map(|(name, kind, value)| Op::Create { name, kind, value }),
        3 => (name(), value()).prop_map(|(name, value)| Op::Update { name, value }),
        3 => name().prop_map(|name| Op::Delete { name }),
        1 => name().prop_map(|name| Op::Get { name }),
        1 => Just(Op::List),
        3 => import().prop_map(Op::Import),
        1 => Just(Op::Export),
        3 => cred().prop_map(Op::Connect),
        2 => cred().prop_map(Op::UpdateConnection),
        2 => (0..CONNECTIONS.len()).prop_map(Op::Disconnect),
        1 => Just(Op::Connections),
        3 => (slot(), agent_name()).prop_map(|(slot, name)| Op::CreateAgent { slot, name }),
        1 => slot().prop_map(Op::DeleteAgent),
        1 => Just(Op::Agents),
        1 => slot().prop_map(Op::Agent),
        7 => (slot(), prop::collection::vec(target(), 1..4))
            .prop_map(|(slot, targets)| Op::Attach { slot, targets }),
        3 => (slot(), prop::collection::vec(target(), 1..3))
            .prop_map(|(slot, targets)| Op::Detach { slot, targets }),
        3 => slot().prop_map(Op::Environment),
        3 => (slot(), prop::bool::weighted(0.2))
            .prop_map(|(slot, older)| Op::RecordDeployment { slot, older }),
        2 => slot().prop_map(Op::Status),
        1 => slot().prop_map(Op::Rotate),
        2 => (slot(), prop_oneof![Just(Presented::Current), Just(Presented::Previous), Just(Presented::Garbage)])
            .prop_map(|(slot, presented)| Op::Verify { slot, presented }),
        1 => slot().prop_map(Op::GatewayToken),
        1 => Just(Op::RotateUserKey),
        1 => Just(Op::RotateMasterKey),
    ]
}
