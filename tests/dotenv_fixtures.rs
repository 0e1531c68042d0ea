//! Data-driven tests: every `tests/fixtures/dotenv/ok/*.env` must parse to the
//! mapping in its `.json` twin, every `err/*.env` must fail with the kind,
//! line and column in its twin. The expectations were written from the
//! grammar in the `agent_vault::dotenv` module documentation.

use std::fs;
use std::path::{Path, PathBuf};

use agent_vault::dotenv::{self, ParseErrorKind, ParseOptions, WarningKind};
use serde_json::Value;

fn fixtures(kind: &str) -> Vec<(PathBuf, Value)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/dotenv")
        .join(kind);
    let mut out = Vec::new();
    for entry in fs::read_dir(&dir).expect("fixture directory") {
        let path = entry.expect("dir entry").path();
        if path.extension().is_some_and(|e| e == "env") {
            let json = fs::read_to_string(path.with_extension("json"))
                .unwrap_or_else(|_| panic!("{} has no .json expectation", path.display()));
            out.push((path, serde_json::from_str(&json).expect("valid json")));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

fn string(value: &Value) -> &str {
    value.as_str().expect("string in fixture json")
}

fn number(value: &Value) -> u32 {
    u32::try_from(value.as_u64().expect("number in fixture json")).expect("small number")
}

#[test]
fn ok_fixtures_parse_to_their_expected_mapping() {
    let cases = fixtures("ok");
    assert!(cases.len() >= 20, "fixtures went missing: {}", cases.len());
    for (path, expected) in cases {
        let name = path.display();
        let input = fs::read(&path).expect("read fixture");
        let env = dotenv::parse(&input).unwrap_or_else(|e| panic!("{name}: {e}"));

        let got: Vec<(&str, &str)> = env
            .entries()
            .iter()
            .map(|e| (e.name(), e.value()))
            .collect();
        let want: Vec<(&str, &str)> = expected["entries"]
            .as_array()
            .expect("entries")
            .iter()
            .map(|pair| (string(&pair[0]), string(&pair[1])))
            .collect();
        assert_eq!(got, want, "{name}: entries");
        assert_eq!(env.len(), want.len(), "{name}: len");
        for (key, value) in &want {
            assert_eq!(env.get(key), Some(*value), "{name}: get({key})");
        }

        let duplicates: Vec<(&str, u32, u32, u32, u32)> = env
            .duplicates()
            .iter()
            .map(|d| {
                (
                    d.name(),
                    d.line(),
                    d.column(),
                    d.previous_line(),
                    d.previous_column(),
                )
            })
            .collect();
        let want_duplicates: Vec<(&str, u32, u32, u32, u32)> = expected["duplicates"]
            .as_array()
            .expect("duplicates")
            .iter()
            .map(|d| {
                (
                    string(&d[0]),
                    number(&d[1]),
                    number(&d[2]),
                    number(&d[3]),
                    number(&d[4]),
                )
            })
            .collect();
        assert_eq!(duplicates, want_duplicates, "{name}: duplicates");

        let warnings: Vec<(&str, u32, u32)> = env
            .warnings()
            .iter()
            .map(|w| match w.kind() {
                WarningKind::UndefinedReference { name } => (name.as_str(), w.line(), w.column()),
                other => panic!("{name}: unexpected warning {other:?}"),
            })
            .collect();
        let want_warnings: Vec<(&str, u32, u32)> = expected["warnings"]
            .as_array()
            .expect("warnings")
            .iter()
            .map(|w| (string(&w[0]), number(&w[1]), number(&w[2])))
            .collect();
        assert_eq!(warnings, want_warnings, "{name}: warnings");

        if let Some(positions) = expected.get("positions") {
            for p in positions.as_array().expect("positions") {
                let key = string(&p[0]);
                let entry = env
                    .entries()
                    .iter()
                    .find(|e| e.name() == key)
                    .expect("entry");
                assert_eq!(
                    (entry.line(), entry.column()),
                    (number(&p[1]), number(&p[2])),
                    "{name}: position of {key}"
                );
            }
        }
    }
}

fn kind_name(kind: &ParseErrorKind) -> &'static str {
    match kind {
        ParseErrorKind::ExpansionTooLarge { .. } => "ExpansionTooLarge",
        ParseErrorKind::FileTooLarge { .. } => "FileTooLarge",
        ParseErrorKind::InvalidName => "InvalidName",
        ParseErrorKind::InvalidReference => "InvalidReference",
        ParseErrorKind::InvalidUtf8 => "InvalidUtf8",
        ParseErrorKind::MissingEquals => "MissingEquals",
        ParseErrorKind::NulByte => "NulByte",
        ParseErrorKind::TrailingCharacters => "TrailingCharacters",
        ParseErrorKind::UnterminatedQuote => "UnterminatedQuote",
        ParseErrorKind::ValueTooLarge { .. } => "ValueTooLarge",
        ParseErrorKind::ValuesTooLarge { .. } => "ValuesTooLarge",
        _ => "unknown",
    }
}

#[test]
fn err_fixtures_fail_with_their_expected_kind_and_position() {
    let cases = fixtures("err");
    assert!(cases.len() >= 25, "fixtures went missing: {}", cases.len());
    for (path, expected) in cases {
        let name = path.display();
        let input = fs::read(&path).expect("read fixture");
        let mut options = ParseOptions::default();
        if let Some(o) = expected.get("options") {
            let get = |key: &str| {
                o.get(key)
                    .and_then(Value::as_u64)
                    .map(|n| usize::try_from(n).expect("usize"))
            };
            if let Some(n) = get("max_file_size") {
                options = options.with_max_file_size(n);
            }
            if let Some(n) = get("max_value_size") {
                options = options.with_max_value_size(n);
            }
            if let Some(n) = get("max_total_value_size") {
                options = options.with_max_total_value_size(n);
            }
            if let Some(n) = get("max_expansion_size") {
                options = options.with_max_expansion_size(n);
            }
        }
        let error = match dotenv::parse_with(&input, &options) {
            Ok(env) => panic!("{name}: parsed, expected an error; got {env:?}"),
            Err(error) => error,
        };
        assert_eq!(
            kind_name(error.kind()),
            string(&expected["kind"]),
            "{name}: kind ({error})"
        );
        assert_eq!(
            (error.line(), error.column()),
            (number(&expected["line"]), number(&expected["column"])),
            "{name}: position ({error})"
        );
        // The limit errors name the limit that was configured.
        match error.kind() {
            ParseErrorKind::ExpansionTooLarge { limit } => {
                assert_eq!(*limit, options.max_expansion_size)
            }
            ParseErrorKind::FileTooLarge { limit } => assert_eq!(*limit, options.max_file_size),
            ParseErrorKind::ValueTooLarge { limit } => assert_eq!(*limit, options.max_value_size),
            ParseErrorKind::ValuesTooLarge { limit } => {
                assert_eq!(*limit, options.max_total_value_size)
            }
            _ => {}
        }
    }
}
