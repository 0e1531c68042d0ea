use super::*;

#[test]
fn bodies_round_trip_and_garbage_is_refused() {
    let body = NameBody {
        item: ItemId::new_random(),
    };
    let bytes = encode(&body);
    assert_eq!(bytes[0], FORMAT);
    assert_eq!(bytes.len(), 1 + 16, "format byte and the 16 id bytes");
    let back: NameBody = decode_bytes(&bytes).unwrap();
    assert_eq!(back.item, body.item);
    assert!(decode_bytes::<NameBody>(&[]).is_none());
    assert!(
        decode_bytes::<NameBody>(&[3, 0]).is_none(),
        "unknown format"
    );
    assert!(decode_bytes::<ItemBody>(&bytes).is_none());
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert!(
        decode_bytes::<NameBody>(&trailing).is_none(),
        "trailing bytes"
    );
}

/// A test-only copy of [`Provider`] with a provider added in the house's
/// alphabetical order, before `OpenAi`: every later variant's position moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum ProviderWithGemini {
    Anthropic,
    Custom,
    Gemini,
    OpenAi,
    OpenRouter,
    Pinata,
    Venice,
}

codes::stable_codes!("provider", ProviderWithGemini {
    Anthropic = 1,
    Custom = 2,
    Gemini = 7,
    OpenAi = 3,
    OpenRouter = 4,
    Pinata = 5,
    Venice = 6,
});

/// An attachment's stored layout over that copy.
#[derive(Serialize, Deserialize)]
struct AttachmentWithGemini {
    #[serde(with = "wire::target")]
    target: Target,
    label: String,
    #[serde(with = "coded_option")]
    provider: Option<ProviderWithGemini>,
    variables: Vec<String>,
}

#[test]
fn adding_a_variant_leaves_stored_bytes_unchanged() {
    let openai = ConnectionId::new(Provider::OpenAi, crate::CredentialKind::ApiKey).unwrap();
    let real = Attachment {
        target: Target::Connection(openai),
        label: "openai:api-key".to_owned(),
        provider: Some(Provider::OpenAi),
        variables: vec!["OPENAI_API_KEY".to_owned()],
    };
    let with_gemini = AttachmentWithGemini {
        target: Target::Connection(openai),
        label: "openai:api-key".to_owned(),
        provider: Some(ProviderWithGemini::OpenAi),
        variables: vec!["OPENAI_API_KEY".to_owned()],
    };
    let stored = postcard::to_allocvec(&real).unwrap();
    assert_eq!(postcard::to_allocvec(&with_gemini).unwrap(), stored);
    let read: AttachmentWithGemini = postcard::from_bytes(&stored).unwrap();
    assert_eq!(read.provider, Some(ProviderWithGemini::OpenAi));

    // The control: serde's derived encoding writes the position, which the
    // new variant moved. That is what format 1 did.
    assert_ne!(
        postcard::to_allocvec(&Provider::OpenAi).unwrap(),
        postcard::to_allocvec(&ProviderWithGemini::OpenAi).unwrap()
    );
}

#[test]
fn the_kind_code_decides_how_a_value_reads_and_unknown_codes_do_not() {
    let body = ItemBody {
        name: Name::parse("LOG_LEVEL").unwrap(),
        kind: Kind::Variable,
        created_at: Timestamp::from_unix_millis(1),
        updated_at: Timestamp::from_unix_millis(2),
        revision: 1,
        agents: Vec::new(),
        value: StoredValue::Plain("debug".to_owned()),
        history: Vec::new(),
    };
    let bytes = encode(&body);
    // Layout: format, name (length 9 + text), kind code.
    assert_eq!(&bytes[..2], &[FORMAT, 9]);
    assert_eq!(bytes[11], 2, "variable");
    let mut unknown = bytes.clone();
    unknown[11] = 9;
    assert!(decode_bytes::<ItemBody>(&unknown).is_none());
    let mut secret = bytes.clone();
    secret[11] = 1;
    let read: ItemBody = decode_bytes(&secret).unwrap();
    assert!(
        matches!(read.value, StoredValue::Sealed(_)),
        "a secret's bytes are sealed bytes"
    );
}

/// `docs/FORMAT.md` §6 gives the codes and constants this module uses.
#[test]
fn format_doc_gives_every_code_and_constant() {
    use codes::{Code, TargetTag};
    let doc =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/FORMAT.md")).unwrap();
    let says = |text: String| assert!(doc.contains(&text), "docs/FORMAT.md should say {text:?}");
    for kind in [Kind::Secret, Kind::Variable] {
        says(format!("| `{}` | `{}` |", kind.as_str(), kind.code()));
    }
    for provider in Provider::ALL {
        says(format!(
            "| `{}` | `{}` |",
            provider.as_str(),
            provider.code()
        ));
    }
    for kind in [
        crate::CredentialKind::ApiKey,
        crate::CredentialKind::CodexSubscription,
        crate::CredentialKind::Custom,
        crate::CredentialKind::Hosted,
    ] {
        says(format!("| `{}` | `{}` |", kind.as_str(), kind.code()));
    }
    for (tag, name) in [
        (TargetTag::Item, "item"),
        (TargetTag::Connection, "connection"),
    ] {
        says(format!("| `{name}` | `{}` |", tag.code()));
    }
    says(format!("The current format is **`0x{FORMAT:02x}`**"));
    says(format!("format byte **`0x{FORMAT_V1:02x}`**"));
    says(format!("| `user-keys` | `{USER_KEYS_ID}` |"));
    // Every valid connection pair is listed as valid, and only those.
    for provider in Provider::ALL {
        for kind in [
            crate::CredentialKind::ApiKey,
            crate::CredentialKind::CodexSubscription,
            crate::CredentialKind::Custom,
            crate::CredentialKind::Hosted,
        ] {
            let valid = ConnectionId::new(provider, kind).is_ok();
            let listed = match kind {
                crate::CredentialKind::ApiKey => [
                    Provider::Anthropic,
                    Provider::OpenAi,
                    Provider::OpenRouter,
                    Provider::Venice,
                ]
                .contains(&provider),
                crate::CredentialKind::CodexSubscription => provider == Provider::OpenAi,
                crate::CredentialKind::Hosted => provider == Provider::Pinata,
                crate::CredentialKind::Custom => provider == Provider::Custom,
            };
            assert_eq!(valid, listed, "{provider}:{kind}");
        }
    }
    says("`anthropic`, `openai`, `openrouter`, `venice`\nwith `api-key`; `openai` with `codex-subscription`; `pinata` with `hosted`;\n`custom` with `custom`".to_owned());
}

/// The fixed instance of a format-1 connection is as FORMAT.md §6.7 says:
/// 8 zero bytes, then the milliseconds big-endian; never a version 4 UUID.
#[test]
fn legacy_instances_are_fixed_and_never_random_ones() {
    let at = Timestamp::from_unix_millis(0x0102_0304_0506_0708);
    let instance = v1::legacy_instance(at);
    assert_eq!(
        instance.as_bytes(),
        &[0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8]
    );
    assert_eq!(instance, v1::legacy_instance(at));
    assert_ne!(instance.get_version_num(), 4);
    assert_eq!(
        Uuid::new_v4().as_bytes()[6] >> 4,
        4,
        "byte 6 of a random one"
    );
}

/// A receipt's seal written from borrowed entries is byte for byte the
/// owned sealed part's encoding, which `record_deployment` compares with.
#[test]
fn borrowed_sealed_receipt_encodes_as_the_owned_one() {
    let entries = vec![DeployedEntry {
        target: Target::Item(ItemId::new_random()),
        label: "OPENAI_API_KEY".to_owned(),
        revision: 3,
        instance: None,
    }];
    let owned = SealedReceipt {
        issued_at: Timestamp::from_unix_millis(1_795_879_087_123),
        token_revision: 2,
        entries: entries.clone(),
    };
    let borrowed = SealedReceiptRef {
        issued_at: owned.issued_at,
        token_revision: owned.token_revision,
        entries: &entries,
    };
    assert_eq!(borrowed.encode(), encode(&owned));
    assert!(decode_bytes::<SealedReceipt>(&borrowed.encode()) == Some(owned));
}
