//! `docs/FORMAT.md` and the code agree: every public constant the document
//! names is checked here against the crate (the record codes and the SQL
//! schemas, which are private, are checked by the unit tests of
//! `src/records` and of each SQL store).

use agent_vault::hazmat::{
    AAD_LABEL, FORMAT_VERSION, HEADER_LEN, KEY_CHECK_LABEL, KEY_CHECK_LEN, NONCE_LEN, Purpose,
    SALT_LEN, TAG_LEN, USER_KEY_LABEL,
};
use agent_vault::store::RecordKind;

fn doc() -> String {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn assert_says(doc: &str, text: &str) {
    assert!(doc.contains(text), "docs/FORMAT.md should say {text:?}");
}

#[test]
fn labels_are_the_crates() {
    let doc = doc();
    for label in [USER_KEY_LABEL, KEY_CHECK_LABEL] {
        let text = std::str::from_utf8(label).unwrap();
        assert_says(
            &doc,
            &format!("`\"{text}\"` is the {} ASCII bytes", label.len()),
        );
        assert_says(&doc, &hex(label));
    }
    let aad = std::str::from_utf8(AAD_LABEL).unwrap();
    assert_says(
        &doc,
        &format!(
            "\"{aad}\"             {} bytes: {}",
            AAD_LABEL.len(),
            hex(AAD_LABEL)
        ),
    );
}

#[test]
fn envelope_layout_is_the_crates() {
    let doc = doc();
    assert_says(
        &doc,
        &format!("| 0 | 1 | version | `0x{FORMAT_VERSION:02x}` |"),
    );
    assert_says(&doc, "| 1 | 4 | key id `K` |");
    assert_says(&doc, "| 5 | 4 | generation `G` |");
    assert_says(&doc, &format!("| {HEADER_LEN} | {NONCE_LEN} | nonce |"));
    let tag_offset = HEADER_LEN + NONCE_LEN;
    assert_says(&doc, &format!("| {tag_offset} + `n` | {TAG_LEN} | tag |"));
    let min = HEADER_LEN + NONCE_LEN + TAG_LEN;
    assert_says(&doc, &format!("Total length is `{min} + n`"));
    assert_says(&doc, &format!("**minimum length is {min} bytes**"));
    assert_says(
        &doc,
        &format!("salt = salt of generation G        ({SALT_LEN} bytes"),
    );
    assert_eq!(KEY_CHECK_LEN, 32);
    assert_says(&doc, "L    = 32");
}

#[test]
fn purpose_codes_are_the_crates() {
    let doc = doc();
    for (purpose, what) in [
        (Purpose::Item, "item (a secret's value)"),
        (Purpose::Connection, "provider connection (its credential)"),
        (Purpose::GatewayToken, "agent gateway token"),
        (Purpose::Receipt, "deployment receipt seal"),
        (
            Purpose::PastItem,
            "an earlier value of a secret (its history, §6.3)",
        ),
    ] {
        assert_says(&doc, &format!("| `0x{:02x}` | {what} |", purpose.code()));
    }
}

#[test]
fn record_kinds_are_the_crates() {
    let doc = doc();
    for kind in RecordKind::ALL {
        assert_says(&doc, &format!("| `{}` |", kind.as_str()));
    }
    assert_says(&doc, "| `user-keys` | `keys` |");
    assert_says(&doc, "the reserved user `~vault`");
    assert!(
        agent_vault::UserId::parse("~vault").is_err(),
        "~vault is reserved"
    );
}
