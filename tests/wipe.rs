//! Secret buffers are wiped before they are freed.
//!
//! A test global allocator copies every block freed while a capture window
//! is open into a preallocated arena; after the window the arena is searched
//! for the canaries (secret values, credentials, gateway tokens, derived
//! keys). A canary found there was freed without being zeroised first.
//!
//! Every check runs in the one `#[test]` below, so no other test thread frees
//! memory during a window. Canaries are built in `Zeroizing` buffers owned
//! by the test and kept alive past the window, so that only the library's
//! own buffers are judged. `unsafe` is needed here (an allocator, and one
//! look at a cipher's bytes); the library itself keeps `forbid(unsafe_code)`.
//!
//! Out of scope, as `docs/ROBUSTNESS.md` says: copies on the stack, in
//! registers, made by the OS (swap, core dumps) or inside the allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use agent_vault::crypto::{Backend, KeyId, Keyring, MasterKey};
use agent_vault::hazmat::{Binding, Crypto, Purpose, USER_KEY_LABEL, UserKeys};
use agent_vault::store::MemoryStore;
use agent_vault::{
    Attachable, CodexTokens, Credential, CustomEndpoint, Kind, Name, Provider, SecretValue,
    Timestamp, UserId, Vault,
};
use secrecy::SecretString;
use zeroize::Zeroizing;

// The CLI's readers and writers of secrets, compiled here as well so the
// capturing allocator can judge them (the binary cannot be linked into a
// test). Not every item is used here.
#[allow(dead_code)]
#[path = "../src/bin/agent-vault/secret_io.rs"]
mod secret_io;

/// Freed blocks land here while a window is open. Preallocated, so the
/// allocator never allocates while holding the lock.
static ARENA: Mutex<Vec<u8>> = Mutex::new(Vec::new());
static CAPTURING: AtomicBool = AtomicBool::new(false);
const ARENA_SIZE: usize = 64 << 20;

struct Capture;

// SAFETY: every call is forwarded to `System` with the same arguments
// (`alloc` as `alloc_zeroed`, which returns a block valid for the same use);
// `dealloc` additionally reads the block it is given (valid for
// `layout.size()` bytes until it is freed, which happens after the read).
// `realloc` is not overridden, so a moved block is freed through `dealloc`
// and captured too.
unsafe impl GlobalAlloc for Capture {
    // Every block starts zeroed, so what a freed block holds was written by
    // its last owner: bytes left over from an earlier block at the same
    // address (which the allocator reuses in an order that changes with the
    // binary's layout) can't be blamed on the code under test.
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if CAPTURING.load(Ordering::SeqCst) {
            // SAFETY: see the impl's comment.
            let block = unsafe { std::slice::from_raw_parts(ptr, layout.size()) };
            if let Ok(mut arena) = ARENA.try_lock() {
                // Within capacity only: never allocates.
                if arena.len() + block.len() + 8 <= arena.capacity() {
                    arena.extend_from_slice(block);
                    arena.extend_from_slice(&[0; 8]);
                }
            }
        }
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Capture = Capture;

/// Runs `f` with capture on; returns what it returns.
fn window<T>(f: impl FnOnce() -> T) -> T {
    ARENA.lock().unwrap().clear();
    CAPTURING.store(true, Ordering::SeqCst);
    let out = f();
    CAPTURING.store(false, Ordering::SeqCst);
    out
}

/// Whether a block freed in the last window held `canary`.
fn freed_holding(canary: &[u8]) -> bool {
    let arena = ARENA.lock().unwrap();
    arena.windows(canary.len()).any(|w| w == canary)
}

/// A random canary of `len` alphanumeric characters, in a zeroising buffer.
fn canary(tag: &str, len: usize) -> Zeroizing<String> {
    use rand::Rng as _;
    let mut out = Zeroizing::new(String::with_capacity(len));
    out.push_str(tag);
    let mut rng = rand::thread_rng();
    while out.len() < len {
        out.push(char::from(rng.sample(rand::distributions::Alphanumeric)));
    }
    out
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(f)
}

#[test]
fn secret_buffers_are_zeroised_before_they_are_freed() {
    ARENA.lock().unwrap().reserve_exact(ARENA_SIZE);
    let mut failures: Vec<String> = Vec::new();
    let mut check = |what: &str, canary: &[u8]| {
        if freed_holding(canary) {
            failures.push(what.to_owned());
        }
    };

    // 0. The capture works: an unzeroised buffer is found.
    let control = canary("ctl", 40);
    window(|| drop(control.as_bytes().to_vec()));
    assert!(
        freed_holding(control.as_bytes()),
        "the capture does not work"
    );

    // 1. SecretValue (and the SecretString inside).
    let value = canary("val", 40);
    window(|| drop(SecretValue::parse(SecretString::from(value.as_str())).unwrap()));
    check("SecretValue dropped", value.as_bytes());

    // 2. Credentials handed in and dropped.
    let key = canary("key", 40);
    window(|| {
        drop(
            Credential::api_key(
                Provider::OpenAi,
                SecretValue::parse(SecretString::from(key.as_str())).unwrap(),
            )
            .unwrap(),
        )
    });
    check("Credential::ApiKey dropped", key.as_bytes());

    block_on(async {
        let store = MemoryStore::new();
        let vault = Vault::new(store, Keyring::single(MasterKey::generate()));
        let user = UserId::parse("alice").unwrap();
        let secret = canary("sec", 100);
        let api_key = canary("api", 100);
        let access = canary("acc", 100);
        let refresh = canary("ref", 100);
        let custom_key = canary("cus", 100);

        // 3. Creating a secret (sealing it).
        let name = Name::parse("SECRET").unwrap();
        let item_value = SecretValue::parse(SecretString::from(secret.as_str())).unwrap();
        CAPTURING.store(true, Ordering::SeqCst);
        ARENA.lock().unwrap().clear();
        vault
            .create_item(&user, &name, Kind::Secret, item_value)
            .await
            .unwrap();
        CAPTURING.store(false, Ordering::SeqCst);
        check("Vault::create (secret)", secret.as_bytes());

        // 4. Connecting: the credential is rendered to a payload and sealed.
        let creds = [
            Credential::api_key(
                Provider::Anthropic,
                SecretValue::parse(SecretString::from(api_key.as_str())).unwrap(),
            )
            .unwrap(),
            Credential::CodexSubscription(CodexTokens::new(
                SecretValue::parse(SecretString::from(access.as_str())).unwrap(),
                SecretValue::parse(SecretString::from(refresh.as_str())).unwrap(),
                Timestamp::now(),
            )),
            Credential::Custom(
                CustomEndpoint::new(
                    "https://llm.example.com",
                    Some(SecretValue::parse(SecretString::from(custom_key.as_str())).unwrap()),
                    vec!["model-a".into(), "model-b".into()],
                )
                .unwrap(),
            ),
        ];
        ARENA.lock().unwrap().clear();
        CAPTURING.store(true, Ordering::SeqCst);
        for cred in &creds {
            vault.create_connection(&user, cred).await.unwrap();
        }
        CAPTURING.store(false, Ordering::SeqCst);
        for (what, c) in [
            ("Vault::connect (API key)", &api_key),
            ("Vault::connect (Codex access token)", &access),
            ("Vault::connect (Codex refresh token)", &refresh),
            ("Vault::connect (custom endpoint key)", &custom_key),
        ] {
            check(what, c.as_bytes());
        }

        // 5. An agent: its token generated, returned and dropped.
        ARENA.lock().unwrap().clear();
        CAPTURING.store(true, Ordering::SeqCst);
        let (agent, token) = vault
            .create_agent(&user, &"bot".parse().unwrap())
            .await
            .unwrap();
        let token_text = Zeroizing::new(token.expose_secret().to_owned());
        drop(token);
        CAPTURING.store(false, Ordering::SeqCst);
        // The random part's first 16 characters: a prefix left behind by a
        // growing buffer shows up too.
        check(
            "Vault::create_agent (gateway token)",
            &token_text.as_bytes()[5..21],
        );

        // 6. The environment, built and dropped.
        vault
            .attach(
                &user,
                agent.id,
                &[
                    Attachable::parse("SECRET").unwrap(),
                    Attachable::parse("provider:anthropic").unwrap(),
                    Attachable::parse("provider:custom").unwrap(),
                ],
            )
            .await
            .unwrap();
        ARENA.lock().unwrap().clear();
        CAPTURING.store(true, Ordering::SeqCst);
        let (env, receipt) = vault.environment(&user, agent.id).await.unwrap();
        let complete = env.len();
        drop(env);
        CAPTURING.store(false, Ordering::SeqCst);
        assert_eq!(complete, 6);
        for (what, c) in [
            ("Environment (secret)", &secret[..]),
            ("Environment (API key)", &api_key[..]),
            ("Environment (custom key)", &custom_key[..]),
            ("Environment (gateway token)", &token_text[5..21]),
        ] {
            check(what, c.as_bytes());
        }
        drop(receipt);

        // 7. Viewing and verifying the token.
        ARENA.lock().unwrap().clear();
        CAPTURING.store(true, Ordering::SeqCst);
        drop(vault.gateway_token(&user, agent.id).await.unwrap());
        vault
            .verify_gateway_token(&user, agent.id, &token_text)
            .await
            .unwrap();
        CAPTURING.store(false, Ordering::SeqCst);
        check(
            "Vault::gateway_token / verify",
            &token_text.as_bytes()[5..21],
        );

        // 8. An import that overwrites a secret (the old value is opened to
        // compare) with a long value (the parser's buffer grows).
        let imported = canary("imp", 300);
        let file = Zeroizing::new(format!("SECRET={}\n", imported.as_str()));
        ARENA.lock().unwrap().clear();
        CAPTURING.store(true, Ordering::SeqCst);
        vault
            .import_dotenv(
                &user,
                file.as_bytes(),
                &agent_vault::ImportOptions::default()
                    .on_conflict(agent_vault::OnConflict::Overwrite),
            )
            .await
            .unwrap();
        CAPTURING.store(false, Ordering::SeqCst);
        check("Vault::import_dotenv (new value)", imported.as_bytes());
        check("Vault::import_dotenv (old value)", secret.as_bytes());
        drop(creds);
    });

    // 9. A cached per-user cipher, evicted: its key schedule is wiped. A
    // promise of the `aes-gcm` backend only: `ring` does not zeroise its
    // expanded keys (documented on `crypto::Backend`), so the check names
    // its backend rather than taking the default, which is `ring` when
    // that feature is on.
    let master = [0x42u8; 32];
    let salt = [0x17u8; 32];
    let crypto = Crypto::with_backend(
        Keyring::single(MasterKey::from_bytes(master)),
        1,
        Backend::RustCrypto,
    );
    let alice = UserId::parse("alice").unwrap();
    let bob = UserId::parse("bob").unwrap();
    let derived = user_key(&master, &salt, &alice);
    // Not vacuous: the cipher holds the key's bytes (AES-NI key schedule).
    {
        use aes_gcm::KeyInit as _;
        let cipher = Box::new(aes_gcm::Aes256Gcm::new((&*derived).into()));
        // SAFETY: reading the bytes of a live, initialised value.
        let bytes = unsafe {
            std::slice::from_raw_parts(
                (&*cipher as *const aes_gcm::Aes256Gcm).cast::<u8>(),
                std::mem::size_of::<aes_gcm::Aes256Gcm>(),
            )
        };
        let present = bytes.windows(16).any(|w| w == &derived[..16]);
        eprintln!(
            "cipher holds the raw key bytes: {present} (false: the soft AES backend; the check below is then weaker)"
        );
    }
    let keys = UserKeys::from_salt(1, salt);
    crypto
        .seal(&keys, &Binding::new(&alice, Purpose::Item, "r", "N"), b"x")
        .unwrap();
    window(|| {
        // Bob's cipher evicts Alice's; hers is dropped (nothing else holds it).
        crypto
            .seal(&keys, &Binding::new(&bob, Purpose::Item, "r", "N"), b"x")
            .unwrap();
    });
    check("evicted cipher (key schedule)", &derived[..16]);
    check("evicted cipher (key schedule)", &derived[16..]);

    // 10. A keyring specification (`keys add` prints one): built in one
    // buffer, never grown.
    let mut ring = Keyring::empty();
    let keys: Vec<MasterKey> = (0..4).map(|_| MasterKey::generate()).collect();
    for (id, key) in [1u32, 2, 10, 4_000_000_000].into_iter().zip(&keys) {
        ring.add(KeyId(id), key.clone()).unwrap();
    }
    ring.promote(KeyId(10)).unwrap();
    let texts: Vec<Zeroizing<String>> = keys.iter().map(MasterKey::to_base64).collect();
    let spec = window(|| {
        let spec = ring.to_spec();
        assert_eq!(Keyring::parse(&spec).unwrap().primary_id(), Some(KeyId(10)));
        spec
    });
    for text in &texts {
        check("Keyring::to_spec", &text.as_bytes()[..24]);
    }

    // 11. The CLI prints it as JSON (`keys add --json`) straight from its
    // buffer, into a destination that does not grow here.
    let mut out = Zeroizing::new(Vec::with_capacity(4096));
    window(|| {
        let mut fields = serde_json::Map::new();
        fields.insert("added".into(), 2.into());
        secret_io::write_json_with_secret(&mut *out, &fields, "master_keys", &spec).unwrap();
    });
    assert!(out.windows(24).any(|w| w == &texts[0].as_bytes()[..24]));
    for text in &texts {
        check("CLI: keyring JSON", &text.as_bytes()[..24]);
    }
    drop(out);
    drop(spec);

    // 12. The CLI's readers: standard input and `-` (size unknown, the
    // buffer grows several times), a terminal line, a key file.
    let long = canary("std", 40_000);
    // The control: std's `read_to_end` into a `Zeroizing` buffer leaves its
    // outgrown copies behind (which is why the CLI does not use it).
    window(|| {
        let mut buffer = Zeroizing::new(Vec::new());
        std::io::Read::read_to_end(&mut Trickle::new(long.as_bytes()), &mut buffer).unwrap();
    });
    assert!(
        freed_holding(&long.as_bytes()[..32]),
        "the control: std's read_to_end should leave a copy"
    );
    window(|| {
        let read = secret_io::read_to_end(&mut Trickle::new(long.as_bytes()), None).unwrap();
        assert_eq!(read.as_slice(), long.as_bytes());
    });
    check("CLI: standard input / `-` reader", &long.as_bytes()[..32]);
    let line = canary("lin", 1_000);
    let typed = Zeroizing::new(format!("{}\nrest", line.as_str()));
    window(|| {
        let read = secret_io::read_line(&mut Trickle::new(typed.as_bytes())).unwrap();
        assert_eq!(read.len(), line.len() + 1);
    });
    check("CLI: terminal line reader", &line.as_bytes()[..32]);
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("keyring");
    let file_spec = canary("fil", 3_000);
    std::fs::write(&key_file, file_spec.as_bytes()).unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    window(|| {
        let read = secret_io::read_key_file(&key_file).unwrap();
        assert_eq!(read.as_slice(), file_spec.as_bytes());
    });
    check("CLI: key file reader", &file_spec.as_bytes()[..32]);

    assert!(
        failures.is_empty(),
        "freed without zeroising: {failures:#?}"
    );
}

/// A reader that hands out a few bytes at a time, as a pipe does.
struct Trickle<'a>(&'a [u8]);

impl<'a> Trickle<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self(data)
    }
}

impl std::io::Read for Trickle<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.0.len()).min(1000);
        buf[..n].copy_from_slice(&self.0[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// The per-user key, as `docs/FORMAT.md` §2 defines it.
fn user_key(master: &[u8; 32], salt: &[u8; 32], user: &UserId) -> Zeroizing<[u8; 32]> {
    let id = user.as_str().as_bytes();
    let mut info = USER_KEY_LABEL.to_vec();
    info.extend_from_slice(&(id.len() as u32).to_be_bytes());
    info.extend_from_slice(id);
    let mut okm = Zeroizing::new([0u8; 32]);
    hkdf::Hkdf::<sha2::Sha256>::new(Some(salt), master)
        .expand(&info, okm.as_mut())
        .unwrap();
    okm
}
