//! Wycheproof's RSA vectors (C2SP/wycheproof, Apache-2.0, `tests/wycheproof/`) against the
//! verifier: PKCS#1 v1.5 and PSS, 2048 to 4096 bits, SHA-256/384/512. `valid` vectors must verify;
//! `invalid` and `acceptable` ones must be refused (this encode-and-compare verifier is strict).

use super::*;
use crate::test_support::hex;

/// Runs one Wycheproof file; returns (valid, invalid, acceptable) counts. `valid` must verify,
/// `invalid` must be rejected. `acceptable` vectors (e.g. PKCS#1 v1.5 DigestInfo without the NULL
/// parameter) are rejected by this strict encode-and-compare verifier, which the test asserts.
fn wycheproof(file: &str) -> (usize, usize, usize) {
    let path = format!("{}/tests/wycheproof/{file}", env!("CARGO_MANIFEST_DIR"));
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let pss = json["algorithm"] == "RSASSA-PSS";
    let (mut valid, mut invalid, mut acceptable) = (0, 0, 0);
    for group in json["testGroups"].as_array().unwrap() {
        let hash = match group["sha"].as_str().unwrap() {
            "SHA-256" => Hash::Sha256,
            "SHA-384" => Hash::Sha384,
            "SHA-512" => Hash::Sha512,
            other => panic!("{file}: unexpected hash {other}"),
        };
        if pss {
            assert_eq!(group["mgf"], "MGF1");
            assert_eq!(group["mgfSha"], group["sha"]);
            assert_eq!(group["sLen"].as_u64().unwrap() as usize, hash.len());
        }
        let n = hex(group["publicKey"]["modulus"].as_str().unwrap());
        let e = hex(group["publicKey"]["publicExponent"].as_str().unwrap());
        let key = RsaPublicKey::from_components(&n, &e).unwrap();
        for t in group["tests"].as_array().unwrap() {
            let msg = hex(t["msg"].as_str().unwrap());
            let sig = hex(t["sig"].as_str().unwrap());
            let ok = if pss {
                key.verify_pss(hash, &msg, &sig)
            } else {
                key.verify_pkcs1v15(hash, &msg, &sig)
            };
            let id = format!(
                "{file} tcId {} ({}; {:?})",
                t["tcId"], t["comment"], t["flags"]
            );
            match t["result"].as_str().unwrap() {
                "valid" => {
                    assert!(ok, "{id}: valid vector rejected");
                    valid += 1;
                }
                "invalid" => {
                    assert!(!ok, "{id}: invalid vector accepted");
                    invalid += 1;
                }
                "acceptable" => {
                    assert!(
                        !ok,
                        "{id}: acceptable vector accepted (expected strict rejection)"
                    );
                    acceptable += 1;
                }
                other => panic!("{id}: unknown result {other}"),
            }
        }
    }
    println!("{file}: {valid} valid, {invalid} invalid, {acceptable} acceptable (rejected)");
    assert_eq!(
        valid + invalid + acceptable,
        json["numberOfTests"].as_u64().unwrap() as usize
    );
    (valid, invalid, acceptable)
}

#[test]
fn wycheproof_vectors() {
    let files = [
        "rsa_signature_2048_sha256_test.json",
        "rsa_signature_2048_sha384_test.json",
        "rsa_signature_2048_sha512_test.json",
        "rsa_signature_3072_sha256_test.json",
        "rsa_signature_4096_sha512_test.json",
        "rsa_pss_2048_sha256_mgf1_32_test.json",
        "rsa_pss_2048_sha384_mgf1_48_test.json",
        "rsa_pss_3072_sha256_mgf1_32_test.json",
        "rsa_pss_4096_sha512_mgf1_64_test.json",
    ];
    let mut total = (0, 0, 0);
    for f in files {
        let (v, i, a) = wycheproof(f);
        total = (total.0 + v, total.1 + i, total.2 + a);
    }
    println!(
        "wycheproof total: {} valid, {} invalid, {} acceptable",
        total.0, total.1, total.2
    );
    assert!(total.0 > 0 && total.1 > 0);
}
