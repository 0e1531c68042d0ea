#!/usr/bin/env python3
"""Independent cross-check of tests/vectors/agent_vault_v1.json.

Written from docs/FORMAT.md alone (no code shared with the Rust crate): it
re-derives each per-user key with HKDF-SHA256 (RFC 5869, implemented here on
top of the standard library's HMAC, and compared with the `cryptography`
package's HKDF), rebuilds the associated data, opens every positive vector
and checks every negative one is refused.

    pip install cryptography
    python3 tests/vectors/crosscheck.py

Exit status 0 means every check passed.
"""

import hashlib
import hmac
import json
import struct
import sys
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# FORMAT.md §2-§4 constants.
USER_KEY_LABEL = b"agent-vault/v1/user-key"
AAD_LABEL = b"agent-vault/v1/aad"
VERSION = 0x01
HEADER_LEN = 9
NONCE_LEN = 12
TAG_LEN = 16
MIN_LEN = HEADER_LEN + NONCE_LEN + TAG_LEN  # 37
PURPOSES = {"item": 1, "connection": 2, "gateway-token": 3}


def u32be(n):
    return struct.pack(">I", n)


def lp(data):
    return u32be(len(data)) + data


def hkdf_sha256(ikm, salt, info, length):
    """RFC 5869 extract-then-expand with HMAC-SHA256."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def user_key(master, salt, user_id):
    """§2: HKDF-SHA256(ikm = master, salt, info = label ‖ u32be(len) ‖ id), L = 32."""
    info = USER_KEY_LABEL + lp(user_id.encode("utf-8"))
    key = hkdf_sha256(master, salt, info, 32)
    library = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(master)
    assert key == library, "own HKDF disagrees with the cryptography package"
    return key


def aad(header, purpose_code, user_id, record_id, name):
    """§4: label ‖ header ‖ purpose ‖ lp(user) ‖ lp(record) ‖ lp(name)."""
    return (
        AAD_LABEL
        + header
        + bytes([purpose_code])
        + lp(user_id.encode("utf-8"))
        + lp(record_id.encode("utf-8"))
        + lp(name.encode("utf-8"))
    )


class OpenError(Exception):
    """Why an envelope did not open (mirrors the Rust crate's error names)."""


def open_envelope(keyring, user_keys, user_id, purpose_code, record_id, name, envelope):
    """§3 'Opening', steps 1-4.

    keyring: {key id: master key bytes}; user_keys: {generation: salt bytes}.
    """
    # Step 1: length and version.
    if len(envelope) < MIN_LEN or envelope[0] != VERSION:
        raise OpenError("DecryptionFailed")
    header = envelope[:HEADER_LEN]
    key_id, generation = struct.unpack(">II", header[1:9])
    # Step 2: look up the salt and the master key.
    if generation not in user_keys:
        raise OpenError("UnknownGeneration")
    if key_id not in keyring:
        raise OpenError("UnknownKey")
    # Step 3: derive the key and build the AAD.
    key = user_key(keyring[key_id], user_keys[generation], user_id)
    associated = aad(header, purpose_code, user_id, record_id, name)
    # Step 4: AES-256-GCM with the nonce at offset 9; ciphertext ‖ tag follows.
    nonce = envelope[HEADER_LEN : HEADER_LEN + NONCE_LEN]
    try:
        return AESGCM(key).decrypt(nonce, envelope[HEADER_LEN + NONCE_LEN :], associated)
    except InvalidTag:
        raise OpenError("DecryptionFailed") from None


def seal_envelope(key, key_id, generation, nonce, purpose_code, user_id, record_id, name, plaintext):
    """§3 'Sealing' with a given nonce (vectors only: never reuse a nonce)."""
    header = bytes([VERSION]) + u32be(key_id) + u32be(generation)
    associated = aad(header, purpose_code, user_id, record_id, name)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, associated)


def main():
    path = Path(__file__).with_name("agent_vault_v1.json")
    vectors = json.loads(path.read_text(encoding="utf-8"))
    failures = []

    def check(ok, what):
        if not ok:
            failures.append(what)

    positive = vectors["positive"]
    for v in positive:
        vid = v["id"]
        master = bytes.fromhex(v["master_key_hex"])
        salt = bytes.fromhex(v["salt_hex"])
        plaintext = bytes.fromhex(v["plaintext_hex"])
        envelope = bytes.fromhex(v["envelope_hex"])
        code = PURPOSES[v["purpose"]]
        check(code == v["purpose_code"], f"{vid}: purpose code")
        check(len(master) == 32 and len(salt) == 32, f"{vid}: key or salt length")

        key = user_key(master, salt, v["user_id"])
        check(key.hex() == v["user_key_hex"], f"{vid}: user key")

        header = envelope[:HEADER_LEN]
        check(header == bytes([VERSION]) + u32be(v["key_id"]) + u32be(v["generation"]), f"{vid}: header")
        check(envelope[HEADER_LEN : HEADER_LEN + NONCE_LEN].hex() == v["nonce_hex"], f"{vid}: nonce")
        check(len(envelope) == MIN_LEN + len(plaintext), f"{vid}: length")
        built = aad(header, code, v["user_id"], v["record_id"], v["name"])
        check(built.hex() == v["aad_hex"], f"{vid}: aad")

        try:
            opened = open_envelope(
                {v["key_id"]: master}, {v["generation"]: salt},
                v["user_id"], code, v["record_id"], v["name"], envelope,
            )
            check(opened == plaintext, f"{vid}: plaintext")
        except OpenError as e:
            failures.append(f"{vid}: did not open ({e})")
        if v.get("plaintext_utf8") is not None:
            check(plaintext.decode("utf-8") == v["plaintext_utf8"], f"{vid}: utf8")

        resealed = seal_envelope(
            key, v["key_id"], v["generation"], bytes.fromhex(v["nonce_hex"]),
            code, v["user_id"], v["record_id"], v["name"], plaintext,
        )
        check(resealed == envelope, f"{vid}: resealing differs")

    negative = vectors["negative"]
    for v in negative:
        vid = v["id"]
        code = PURPOSES[v["purpose"]]
        check(code == v["purpose_code"], f"{vid}: purpose code")
        try:
            open_envelope(
                {v["key_id"]: bytes.fromhex(v["master_key_hex"])},
                {v["generation"]: bytes.fromhex(v["salt_hex"])},
                v["user_id"], code, v["record_id"], v["name"], bytes.fromhex(v["envelope_hex"]),
            )
            failures.append(f"{vid}: opened but must not")
        except OpenError as e:
            check(str(e) == v["expected_error"], f"{vid}: failed with {e}, expected {v['expected_error']}")

    for failure in failures:
        print("FAIL", failure)
    print(
        f"{len(positive)} positive vectors (open, reseal), "
        f"{len(negative)} negative vectors (must not open): "
        + ("all checks passed" if not failures else f"{len(failures)} failures")
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
