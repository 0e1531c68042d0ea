//! Property tests for `agent_vault::dotenv`: round trips through `to_string`,
//! no panics on arbitrary bytes, and no value ever leaking into an error.

use std::collections::BTreeMap;

use agent_vault::dotenv::{self, MAX_WARNINGS, ParseErrorKind};
use proptest::prelude::*;
use proptest::sample::select;

fn name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_.-]{0,12}"
}

/// Any character but NUL, with the characters the grammar cares about drawn
/// often enough to meet each other (`\r\n`, `${`, ` #`, `\"`...).
fn value() -> impl Strategy<Value = String> {
    let special = select(vec![
        ' ', '\t', '\n', '\r', '"', '\'', '`', '$', '{', '}', '#', '\\', '=', ':', '-', '(', ')',
        'a', 'Z', '_', 'é', '🔑', '\u{feff}', '\u{b}', '\u{c}',
    ]);
    let any_char = any::<char>().prop_filter("no NUL", |c| *c != '\0');
    proptest::collection::vec(prop_oneof![3 => special, 1 => any_char], 0..40)
        .prop_map(|chars| chars.into_iter().collect())
}

/// Bytes that look like `.env` text often enough to get past the first line.
fn dotenv_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let alphabet = select(b"AB_x09=\"'\\$#{}:- \t\n\rexport\0\xc3\xa9\xff".to_vec());
    proptest::collection::vec(prop_oneof![4 => alphabet, 1 => any::<u8>()], 0..200)
}

/// The character at a 1-based line and column of `text`, counted as the
/// grammar says (three kinds of line break, columns in characters, the
/// byte-order mark not a column), independently of the parser's
/// incremental count.
fn char_at(text: &str, line: u32, column: u32) -> Option<char> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    text.split('\n')
        .nth(line.checked_sub(1)? as usize)?
        .chars()
        .nth(column.checked_sub(1)? as usize)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn to_string_then_parse_gives_back_the_map(map in proptest::collection::btree_map(name(), value(), 0..8)) {
        let text = dotenv::to_string(map.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .expect("valid names and NUL-free values always serialise");
        let env = dotenv::parse(text.as_bytes()).expect("serialised text parses");
        let got: Vec<(&str, &str)> = env.entries().iter().map(|e| (e.name(), e.value())).collect();
        let want: Vec<(&str, &str)> = map.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        prop_assert_eq!(got, want);
        prop_assert!(env.duplicates().is_empty());
        prop_assert!(env.warnings().is_empty());
    }

    #[test]
    fn repeated_names_round_trip_with_the_last_value(pairs in proptest::collection::vec(("[A-C]", value()), 0..8)) {
        let text = dotenv::to_string(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .expect("serialises");
        let env = dotenv::parse(text.as_bytes()).expect("parses");
        let mut last = BTreeMap::new();
        for (k, v) in &pairs {
            last.insert(k.as_str(), v.as_str());
        }
        prop_assert_eq!(env.len(), last.len());
        for (k, v) in last {
            prop_assert_eq!(env.get(k), Some(v));
        }
        prop_assert_eq!(env.duplicates().len(), pairs.len() - env.len());
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop_oneof![dotenv_like_bytes(), proptest::collection::vec(any::<u8>(), 0..200)]) {
        match dotenv::parse(&bytes) {
            Ok(env) => {
                // Whatever parses also survives a round trip.
                let text = dotenv::to_string(env.entries().iter().map(|e| (e.name(), e.value())))
                    .expect("parsed names and values serialise");
                let again = dotenv::parse(text.as_bytes()).expect("re-parses");
                let first: Vec<(&str, &str)> = env.entries().iter().map(|e| (e.name(), e.value())).collect();
                let second: Vec<(&str, &str)> = again.entries().iter().map(|e| (e.name(), e.value())).collect();
                prop_assert_eq!(first, second);
                // Every warning points at the `$` of its reference.
                let text = std::str::from_utf8(&bytes).expect("parsed input is UTF-8");
                for warning in env.warnings() {
                    prop_assert_eq!(char_at(text, warning.line(), warning.column()), Some('$'), "{}", warning);
                }
                prop_assert_eq!(env.warnings().len(), env.warning_count().min(MAX_WARNINGS));
            }
            Err(error) => {
                prop_assert!(error.line() >= 1 && error.column() >= 1, "{error}");
                if error.kind() == &ParseErrorKind::InvalidReference {
                    let text = std::str::from_utf8(&bytes).expect("only UTF-8 gets that far");
                    prop_assert_eq!(char_at(text, error.line(), error.column()), Some('$'), "{}", error);
                }
            }
        }
    }

    #[test]
    fn errors_never_contain_the_value(canary in "[a-z]{16}", broken in 0usize..9) {
        let canary = format!("CANARY{canary}");
        let input: Vec<u8> = match broken {
            0 => format!("OK=1\nSECRET=\"{canary}\n").into_bytes(),
            1 => format!("SECRET='{canary}").into_bytes(),
            2 => format!("SECRET=\"{canary}\"trailing\n").into_bytes(),
            3 => format!("SECRET={canary}\n{canary}\n").into_bytes(),
            4 => format!("SECRET={canary}${{oops\n").into_bytes(),
            5 => format!("SECRET={canary}\0\n").into_bytes(),
            6 => [format!("SECRET={canary}").as_bytes(), b"\xff\n"].concat(),
            // Larger than the 1 MiB value limit, through references.
            7 => format!("X={}\nSECRET={canary}$X$X\n", "x".repeat(600 * 1024)).into_bytes(),
            _ => format!("SECRET=\"{canary}\\\"{canary}\n").into_bytes(),
        };
        let error = dotenv::parse(&input).expect_err("every input here is broken");
        let shown = format!("{error} {error:?} {:?} {}", error.kind(), error.kind());
        // No 8-character window of the canary appears anywhere.
        for start in 0..canary.len() - 8 {
            prop_assert!(!shown.contains(&canary[start..start + 8]), "{shown}");
        }
    }
}

#[test]
fn errors_never_contain_the_value_of_a_large_file() {
    let canary = "CANARYvalueTooLargeForTheFile";
    let input = format!("SECRET={canary}\n").repeat(64 * 1024);
    let error = dotenv::parse(input.as_bytes()).expect_err("over 1 MiB");
    assert!(
        matches!(error.kind(), ParseErrorKind::FileTooLarge { limit } if *limit == 1024 * 1024)
    );
    assert!(!format!("{error} {error:?}").contains("CANARY"));
}
