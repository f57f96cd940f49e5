//! The simulated file system keeps exactly what was synced, and a torn cut any mix of it.
#![allow(clippy::unwrap_used)]

use std::path::Path;

use super::*;
use crate::fs::{create_dir_all, replace_durably, write_durably};

fn p(s: &str) -> &Path {
    Path::new(s)
}

fn strict(fs: &SimFs) -> SimFs {
    fs.survivor(&mut || false)
}

#[test]
fn an_entry_is_lost_at_a_cut_until_its_directory_is_synced() {
    let fs = SimFs::new();
    create_dir_all(&fs, p("/d")).unwrap();
    fs.write_new(p("/d/a"), b"one").unwrap();
    fs.sync_file(p("/d/a")).unwrap();
    assert_eq!(fs.read(p("/d/a")).unwrap(), b"one");
    assert!(!strict(&fs).exists(p("/d/a")).unwrap());
    fs.sync_dir(p("/d")).unwrap();
    assert_eq!(strict(&fs).read(p("/d/a")).unwrap(), b"one");
    // A rename not yet synced leaves the old name.
    fs.rename(p("/d/a"), p("/d/b")).unwrap();
    let after = strict(&fs);
    assert!(after.exists(p("/d/a")).unwrap());
    assert!(!after.exists(p("/d/b")).unwrap());
}

#[test]
fn a_name_that_survives_without_its_data_names_an_empty_file() {
    let fs = SimFs::new();
    let b = fs.open_store(p("/f"), true).unwrap();
    b.write(0, b"data").unwrap();
    fs.sync_dir(p("/")).unwrap();
    assert_eq!(strict(&fs).read(p("/f")).unwrap(), b"");
    b.sync_data().unwrap();
    assert_eq!(strict(&fs).read(p("/f")).unwrap(), b"data");
}

#[test]
fn the_nth_call_and_every_later_one_fail() {
    let fs = SimFs::new();
    create_dir_all(&fs, p("/d")).unwrap();
    let before = fs.ops();
    fs.cut_after(2);
    fs.write_new(p("/d/a"), b"x").unwrap_err();
    assert_eq!(
        fs.ops(),
        before + 2,
        "the create ran, the write lost the power"
    );
    assert!(fs.is_cut());
    fs.read(p("/d/a")).unwrap_err();
    fs.sync_dir(p("/d")).unwrap_err();
    // The file was created but not synced: strictly, nothing of it survives.
    assert!(!strict(&fs).exists(p("/d/a")).unwrap());
}

#[test]
fn directories_are_durable_once_created() {
    let fs = SimFs::new();
    create_dir_all(&fs, p("/a/b/c")).unwrap();
    assert!(strict(&fs).exists(p("/a/b/c")).unwrap());
}

#[test]
fn write_durably_leaves_all_or_nothing_under_every_cut() {
    // Every cut instant, strict and torn (every combination of coins up to a length).
    let mut n = 1;
    loop {
        let fs = SimFs::new();
        create_dir_all(&fs, p("/d")).unwrap();
        fs.cut_after(n);
        let done = write_durably(&fs, p("/d/k"), b"key bytes").is_ok();
        for pattern in 0u32..64 {
            let mut bit = 0;
            let after = fs.survivor(&mut || {
                bit += 1;
                pattern >> (bit % 32) & 1 == 1
            });
            match after.read(p("/d/k")) {
                Ok(b) => assert_eq!(b, b"key bytes", "cut at {n}, pattern {pattern}"),
                Err(e) => {
                    assert!(!done, "cut at {n}: acknowledged file lost");
                    assert_eq!(e.kind(), io::ErrorKind::NotFound);
                }
            }
        }
        if done {
            break;
        }
        n += 1;
    }
    assert!(n > 4, "write_durably made too few calls to test anything");
}

#[test]
fn a_torn_cut_can_keep_any_unsynced_change() {
    let fs = SimFs::new();
    fs.write_new(p("/a"), b"x").unwrap();
    fs.rename(p("/a"), p("/b")).unwrap();
    let all = fs.survivor(&mut || true);
    assert!(all.exists(p("/b")).unwrap());
    assert!(!all.exists(p("/a")).unwrap());
    // The create lost, the rename kept: the file appears under its new name alone.
    let fs = SimFs::new();
    fs.write_new(p("/a"), b"x").unwrap();
    fs.rename(p("/a"), p("/b")).unwrap();
    let mut coins = [false, true].into_iter().chain(std::iter::repeat(true));
    let some = fs.survivor(&mut || coins.next().unwrap());
    assert_eq!(some.read(p("/b")).unwrap(), b"x");
    assert!(!some.exists(p("/a")).unwrap());
}

#[test]
fn replace_durably_leaves_the_old_or_the_new_contents_under_every_cut() {
    let mut n = 1;
    loop {
        let fs = SimFs::new();
        create_dir_all(&fs, p("/d")).unwrap();
        write_durably(&fs, p("/d/k"), b"old").unwrap();
        fs.cut_after(n);
        let done = replace_durably(&fs, p("/d/k"), b"new contents").is_ok();
        for pattern in 0u32..64 {
            let mut bit = 0;
            let after = fs.survivor(&mut || {
                bit += 1;
                pattern >> (bit % 32) & 1 == 1
            });
            let got = after.read(p("/d/k")).unwrap();
            assert!(
                got == b"new contents" || (!done && got == b"old"),
                "cut at {n}, pattern {pattern}: {got:?}"
            );
        }
        if done {
            break;
        }
        n += 1;
    }
}
