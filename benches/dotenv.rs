//! Parse a ~1 MiB realistic `.env` file with `agent_vault::dotenv` and with
//! `dotenvy`, in the same run, and report throughput in bytes; then, in the
//! `hostile` group, the same plain file against two 1 MiB hostile inputs that
//! were once quadratic, so that their ratio to the plain file shows the
//! parse stays linear.
//!
//! `cargo bench --bench dotenv`
//! `cargo bench --bench dotenv -- --measurement-time 3 --warm-up-time 1 hostile`

use std::fmt::Write as _;
use std::hint::black_box;
use std::io::Cursor;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use agent_vault::dotenv;

/// A deterministic mix of what real files hold: comments, blank lines,
/// `export`, bare values, single- and double-quoted values, inline comments,
/// references to earlier keys, and a few multi-line PEM keys. It keeps to
/// what both parsers read the same way (checked below): dotenvy refuses
/// unquoted values with spaces and escapes other than `\n`, and its bare
/// `$NAME` stops at `_`.
fn generate(target: usize) -> String {
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let token = |len: usize, next: &mut dyn FnMut() -> u64| -> String {
        (0..len)
            .map(|_| char::from(alphabet[(next() % alphabet.len() as u64) as usize]))
            .collect()
    };
    let mut out = String::with_capacity(target + 4096);
    let mut i = 0usize;
    while out.len() < target {
        let _ = match i % 20 {
            0 => writeln!(out, "\n# section {i}: service settings"),
            1 => writeln!(out, "H{i}=host-{i}.internal.example.com"),
            2 => writeln!(out, "export PORT_{i}=5{:03}", i % 1000),
            3 => writeln!(
                out,
                "URL_{i}=https://${{H{}}}:${{PORT_{}}}/api/v1",
                i - 2,
                i - 1
            ),
            4 => writeln!(out, "OPENAI_API_KEY_{i}=sk-proj-{}", token(48, &mut next)),
            5 => writeln!(
                out,
                "ANTHROPIC_API_KEY_{i}=\"sk-ant-api03-{}\"",
                token(64, &mut next)
            ),
            6 => writeln!(
                out,
                "SINGLE_{i}='literal $not_expanded {}'",
                token(24, &mut next)
            ),
            7 => writeln!(out, "DEBUG_{i}=false # inline comment"),
            8 => writeln!(out, "GREETING_{i}=\"Hello, \\\"world\\\"!\\nSecond line\""),
            9 => writeln!(out, "  SPACED_{i} = \"value with spaces\"   "),
            10 => writeln!(
                out,
                "DATABASE_URL_{i}=postgres://user:{}@db:5432/app",
                token(20, &mut next)
            ),
            11 => writeln!(out, "REDIS_{i}=redis://$H{}:6379/0", i - 10),
            12 => writeln!(out, "EMPTY_{i}="),
            13 => writeln!(out, "JSON_{i}='{{\"a\": 1, \"b\": [true, false]}}'"),
            14 if i % 400 == 14 => {
                let mut pem = String::from("-----BEGIN PRIVATE KEY-----\n");
                for _ in 0..25 {
                    pem.push_str(&token(64, &mut next));
                    pem.push('\n');
                }
                pem.push_str("-----END PRIVATE KEY-----");
                writeln!(out, "PRIVATE_KEY_{i}=\"{pem}\"")
            }
            15 => writeln!(out, "AWS_SECRET_ACCESS_KEY_{i}={}", token(40, &mut next)),
            16 => writeln!(out, "FEATURE_FLAGS_{i}=alpha,beta,gamma,delta"),
            17 => writeln!(out, "TIMEOUT_{i}=30"),
            _ => writeln!(out, "TOKEN_{i}={}", token(32, &mut next)),
        };
        i += 1;
    }
    out
}

fn parse_dotenvy(input: &str) -> Vec<(String, String)> {
    dotenvy::from_read_iter(Cursor::new(input.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .expect("dotenvy parses the benchmark input")
}

fn bench(c: &mut Criterion) {
    let input = generate(1024 * 1024 - 4096);

    // Both parsers must agree on this input, or the comparison is meaningless.
    let ours = dotenv::parse(input.as_bytes()).expect("agent_vault parses the benchmark input");
    let theirs = parse_dotenvy(&input);
    assert_eq!(ours.len(), theirs.len(), "same number of keys");
    for (name, value) in &theirs {
        assert_eq!(
            ours.get(name),
            Some(value.as_str()),
            "same value for {name}"
        );
    }

    let mut group = c.benchmark_group("dotenv_1MiB");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.sample_size(20);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(4));
    group.bench_function("agent_vault", |b| {
        b.iter(|| dotenv::parse(black_box(input.as_bytes())))
    });
    group.bench_function("dotenvy", |b| b.iter(|| parse_dotenvy(black_box(&input))));
    group.finish();
}

/// One line `A=vv$U$U…` of exactly 1 MiB: 524 286 references to an
/// undefined name, each a warning.
fn undefined_references() -> Vec<u8> {
    let mut input = b"A=vv".to_vec();
    while input.len() + 2 <= 1024 * 1024 {
        input.extend_from_slice(b"$U");
    }
    input
}

/// `X=` a 64 KiB value, then `A=$X` lines up to 1 MiB: 12.9 GB of
/// expansion, refused once the expansion budget is spent.
fn redefined_expansions() -> Vec<u8> {
    let mut input = b"X=".to_vec();
    input.resize(2 + 64 * 1024, b'x');
    input.push(b'\n');
    while input.len() + 5 <= 1024 * 1024 {
        input.extend_from_slice(b"A=$X\n");
    }
    input
}

fn hostile(c: &mut Criterion) {
    let plain = generate(1024 * 1024 - 4096).into_bytes();
    let undefined = undefined_references();
    let redefined = redefined_expansions();
    assert!(dotenv::parse(&undefined).is_ok_and(|env| env.warning_count() == 524_286));
    assert!(dotenv::parse(&redefined).is_err());

    let mut group = c.benchmark_group("hostile");
    group.sample_size(20);
    for (name, input) in [
        ("plain", &plain),
        ("undefined_references", &undefined),
        ("redefined_expansions", &redefined),
    ] {
        group.throughput(Throughput::Bytes(input.len() as u64));
        group.bench_function(name, |b| b.iter(|| dotenv::parse(black_box(input))));
    }
    group.finish();
}

criterion_group!(benches, bench, hostile);
criterion_main!(benches);
