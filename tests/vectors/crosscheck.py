#!/usr/bin/env python3
"""Independent cross-check of tests/vectors/agent_vault_v1.json and
tests/vectors/records_v2.json.

Written from docs/FORMAT.md alone (no code shared with the Rust crate): it
re-derives each per-user key with HKDF-SHA256 (RFC 5869, implemented here on
top of the standard library's HMAC, and compared with the `cryptography`
package's HKDF), rebuilds the associated data, opens every positive vector
and checks every negative one is refused. Then it decodes every record body
of records_v2.json (§6), compares the fields, and opens every sealed part
with the master key and the user-keys record's salts (§6.12).

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
PURPOSES = {"item": 1, "connection": 2, "gateway-token": 3, "deployment-receipt": 4, "past-item": 5}


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


# FORMAT.md §6: record bodies.
RECORD_FORMAT = 0x02
KIND_CODES = {1: "secret", 2: "variable"}
PROVIDER_CODES = {1: "anthropic", 2: "custom", 3: "openai", 4: "openrouter", 5: "pinata", 6: "venice"}
CREDENTIAL_CODES = {1: "api-key", 2: "codex-subscription", 3: "custom", 4: "hosted"}
TARGET_CODES = {1: "item", 2: "connection"}
VALID_CONNECTIONS = {
    ("anthropic", "api-key"), ("openai", "api-key"), ("openrouter", "api-key"), ("venice", "api-key"),
    ("openai", "codex-subscription"), ("pinata", "hosted"), ("custom", "custom"),
}


class Corrupt(Exception):
    """The body does not follow §6."""


class Reader:
    """§6.2's types over a byte string."""

    def __init__(self, data):
        self.data, self.at = data, 0

    def u8(self):
        if self.at >= len(self.data):
            raise Corrupt("truncated")
        self.at += 1
        return self.data[self.at - 1]

    def varint(self, max_bytes=10):
        value = shift = 0
        for _ in range(max_bytes):
            byte = self.u8()
            value |= (byte & 0x7F) << shift
            if not byte & 0x80:
                return value
            shift += 7
        raise Corrupt("varint too long")

    def time(self):
        n = self.varint()
        return (n >> 1) ^ -(n & 1)

    def raw(self, n):
        if self.at + n > len(self.data):
            raise Corrupt("truncated")
        self.at += n
        return self.data[self.at - n : self.at]

    def bytes(self):
        return self.raw(self.varint())

    def str(self):
        return self.bytes().decode("utf-8")

    def uuid(self):
        h = self.raw(16).hex()
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    def option(self, read):
        tag = self.u8()
        if tag == 0:
            return None
        if tag == 1:
            return read()
        raise Corrupt("bad option tag")

    def list(self, read):
        return [read() for _ in range(self.varint())]

    def code(self, table):
        code = self.u8()
        if code not in table:
            raise Corrupt(f"unknown code {code}")
        return code

    def connection_id(self):
        provider, kind = self.code(PROVIDER_CODES), self.code(CREDENTIAL_CODES)
        if (PROVIDER_CODES[provider], CREDENTIAL_CODES[kind]) not in VALID_CONNECTIONS:
            raise Corrupt("not a connection")
        return {"provider": PROVIDER_CODES[provider], "provider_code": provider,
                "kind": CREDENTIAL_CODES[kind], "kind_code": kind}

    def target(self):
        tag = self.code(TARGET_CODES)
        if TARGET_CODES[tag] == "item":
            return {"tag": "item", "tag_code": tag, "item": self.uuid()}
        return {"tag": "connection", "tag_code": tag, "connection": self.connection_id()}


def decode_body(kind, body):
    """§6.3 to §6.6: the fields of a format-2 body, as the vectors give them."""
    if not body or body[0] != RECORD_FORMAT:
        raise Corrupt("unknown format")
    if kind == "audit":
        # §6.10: the event as UTF-8 JSON.
        try:
            return json.loads(body[1:].decode("utf-8"))
        except ValueError as e:
            raise Corrupt(f"not an audit event: {e}") from None
    r = Reader(body[1:])
    if kind == "item":
        fields = {"name": r.str()}
        code = r.code(KIND_CODES)
        fields.update(kind=KIND_CODES[code], kind_code=code, created_at=r.time(), updated_at=r.time(),
                      revision=r.varint(), agents=r.list(r.uuid))
        value = r.bytes()
        if code == 1:
            fields["value_hex"] = value.hex()
        else:
            fields["value_utf8"] = value.decode("utf-8")

        def past():
            entry = {"revision": r.varint(), "since": r.time()}
            data = r.bytes()
            if code == 1:
                entry["value_hex"] = data.hex()
            else:
                entry["value_utf8"] = data.decode("utf-8")
            return entry

        fields["history"] = r.list(past)
    elif kind == "name":
        fields = {"item": r.uuid()}
    elif kind == "connection":
        fields = {"connection": r.connection_id(), "instance": r.uuid(), "connected_at": r.time(),
                  "updated_at": r.time(), "revision": r.varint(), "agents": r.list(r.uuid),
                  "variables": r.list(r.str), "expires_at": r.option(r.time), "sealed_hex": r.bytes().hex()}
    elif kind == "agent":
        fields = {"name": r.str(), "created_at": r.time(), "token_hex": r.bytes().hex(),
                  "token_revision": r.varint()}

        def attachment():
            target, label = r.target(), r.str()
            provider = r.option(lambda: r.code(PROVIDER_CODES))
            return {"target": target, "label": label,
                    "provider": None if provider is None else {"provider": PROVIDER_CODES[provider], "code": provider},
                    "variables": r.list(r.str)}

        def entry():
            return {"target": r.target(), "label": r.str(), "revision": r.varint(), "instance": r.option(r.uuid)}

        def deployment():
            return {"at": r.time(), "token_revision": r.varint(), "entries": r.list(entry)}

        fields["attachments"] = r.list(attachment)
        fields["deployment"] = r.option(deployment)
    elif kind == "user-keys":
        current = r.varint(5)
        salts = {}
        for _ in range(r.varint()):
            generation = r.varint(5)
            salts[str(generation)] = r.raw(32).hex()
        fields = {"current": current, "salts_hex": salts}
    elif kind == "key-check":
        fields = {"check_hex": r.raw(32).hex()}
    elif kind == "agent-owner":
        fields = {"user": r.str()}
    else:
        raise Corrupt(f"unknown kind {kind}")
    if r.at != len(r.data):
        raise Corrupt("trailing bytes")
    return fields


def decode_payload(payload):
    """§6.4: u16be(count) then (u32be len, name, u32be len, value) pairs."""
    count = struct.unpack(">H", payload[:2])[0]
    at, out = 2, {}
    for _ in range(count):
        pair = []
        for _ in range(2):
            (n,) = struct.unpack(">I", payload[at : at + 4])
            pair.append(payload[at + 4 : at + 4 + n].decode("utf-8"))
            at += 4 + n
        out[pair[0]] = pair[1]
    if at != len(payload):
        raise Corrupt("payload has trailing bytes")
    return out


def check_records(check):
    """records_v2.json: decode every body, compare its fields, open what it seals."""
    vectors = json.loads(Path(__file__).with_name("records_v2.json").read_text(encoding="utf-8"))
    check(vectors["format"] == RECORD_FORMAT, "records: format")
    keyring = {vectors["key_id"]: bytes.fromhex(vectors["master_key_hex"])}
    records = vectors["records"]
    decoded = []
    for v in records:
        body = bytes.fromhex(v["body_hex"])
        try:
            fields = decode_body(v["key"]["kind"], body)
        except (Corrupt, UnicodeDecodeError) as e:
            check(False, f"{v['id']}: does not decode ({e})")
            continue
        check(fields == v["fields"], f"{v['id']}: fields differ: {fields}")
        for bad in (body + b"\x00", body[:-1], bytes([3]) + body[1:]):
            try:
                decode_body(v["key"]["kind"], bad)
                check(False, f"{v['id']}: a damaged body decoded")
            except (Corrupt, UnicodeDecodeError, struct.error):
                pass
        decoded.append((v, fields))
    # §6.12: the user's salts come from the user-keys record.
    salts = {}
    for v, fields in decoded:
        if v["key"]["kind"] == "user-keys":
            salts[v["key"]["user"]] = {int(g): bytes.fromhex(s) for g, s in fields["salts_hex"].items()}
    opened = 0
    for v, fields in decoded:
        user, kind, rid = v["key"]["user"], v["key"]["kind"], v["key"]["id"]
        try:
            if kind == "item" and fields["kind"] == "secret":
                plain = open_envelope(keyring, salts[user], user, PURPOSES["item"], rid, fields["name"],
                                      bytes.fromhex(fields["value_hex"]))
                check(plain.decode("utf-8") == v["opened"]["value_utf8"], f"{v['id']}: secret value")
                opened += 1
                for past in fields["history"]:
                    # §4 purpose 5: bound to the revision it had.
                    bound = f"{rid}@{past['revision']}"
                    plain = open_envelope(keyring, salts[user], user, PURPOSES["past-item"], bound,
                                          fields["name"], bytes.fromhex(past["value_hex"]))
                    check(plain.decode("utf-8") == v["opened"]["history_utf8"][str(past["revision"])],
                          f"{v['id']}: past value {past['revision']}")
                    opened += 1
                    try:
                        open_envelope(keyring, salts[user], user, PURPOSES["item"], rid, fields["name"],
                                      bytes.fromhex(past["value_hex"]))
                        check(False, f"{v['id']}: a past value opened as the current one")
                    except OpenError:
                        pass
            elif kind == "connection":
                plain = open_envelope(keyring, salts[user], user, PURPOSES["connection"], rid, rid,
                                      bytes.fromhex(fields["sealed_hex"]))
                check(plain.hex() == v["opened"]["payload_hex"], f"{v['id']}: payload")
                check(decode_payload(plain) == v["opened"]["variables"], f"{v['id']}: variables")
                check(sorted(decode_payload(plain)) == sorted(fields["variables"]), f"{v['id']}: variable names")
                c = fields["connection"]
                check(rid == f"{c['provider']}:{c['kind']}", f"{v['id']}: key matches the body")
                opened += 1
            elif kind == "agent":
                plain = open_envelope(keyring, salts[user], user, PURPOSES["gateway-token"], rid, "gateway-token",
                                      bytes.fromhex(fields["token_hex"]))
                check(plain.decode("ascii") == v["opened"]["token"], f"{v['id']}: gateway token")
                check(len(plain) == 55 and plain.startswith(b"avgt_"), f"{v['id']}: token shape")
                opened += 1
            elif kind == "agent-owner":
                # §6.13: the owner of the deployed agent, whose record is in
                # the same file under that user.
                check(any(o["key"] == {"user": fields["user"], "kind": "agent", "id": rid}
                          for o in records), f"{v['id']}: names the agent's owner")
            elif kind == "key-check":
                key_id = int(rid)
                expected = hkdf_sha256(keyring[key_id], b"\x00" * 32, b"agent-vault/v1/key-check" + u32be(key_id), 32)
                check(fields["check_hex"] == expected.hex(), f"{v['id']}: check value (§9)")
        except OpenError as e:
            check(False, f"{v['id']}: did not open ({e})")
    return len(records), opened


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

    record_count, opened = check_records(check)

    for failure in failures:
        print("FAIL", failure)
    print(
        f"{len(positive)} positive vectors (open, reseal), "
        f"{len(negative)} negative vectors (must not open), "
        f"{record_count} records decoded ({opened} sealed parts opened): "
        + ("all checks passed" if not failures else f"{len(failures)} failures")
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
