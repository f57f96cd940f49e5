//! `verify --federation FILE`, the import check (SPEC §7): every member's import entries
//! against the source members' own ledgers. For each importer and each other member, the
//! importer's imports of that member must be exactly the member's registry changes (every
//! registration, exception, revocation and re-key, byte for byte, in order) up to the last
//! one imported: a skipped change — a revocation the importer never applied — or a changed
//! one is named as `hub:seq` of the importer's entry, or the source seq it lacks. Changes
//! after the last one imported are lag, reported, not failures.

use m2mhub_core::{
    entry::Entry,
    federation::{Federation, Member},
};

use crate::remote::Hub;

/// What the check found.
#[derive(Debug, Default)]
pub struct Report {
    /// Imports checked against their source.
    pub imports: usize,
    /// Source changes not imported yet (importer, source, how many).
    pub lag: Vec<(String, String, usize)>,
    /// Imports that are wrong or missing, the first per importer and source.
    pub bad: Vec<String>,
    /// What could not be read, by member.
    pub unchecked: Vec<String>,
}

/// Every registry entry of `m`'s ledger: (seq, decoded entry, bytes).
async fn registry(m: &Member) -> anyhow::Result<Vec<(u64, Entry, Vec<u8>)>> {
    let hub = Hub::with_timeout(&m.url, std::time::Duration::from_secs(10))?;
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = hub.registry_page(after, 1000).await?;
        for e in page.items {
            let bytes = e.bytes()?;
            let entry = Entry::from_bytes(&bytes)
                .map_err(|err| anyhow::anyhow!("{}: entry {}: {err}", m.name, e.seq))?;
            out.push((e.seq, entry, bytes));
        }
        match page.next {
            Some(n) => after = Some(n),
            None => return Ok(out),
        }
    }
}

/// The source's changes another member imports: its own device registry entries.
fn importable(e: &Entry) -> bool {
    !matches!(
        e,
        Entry::Message(_) | Entry::FederationMembership(_) | Entry::Import(_)
    )
}

/// Compares `importer`'s imports of `source` with `source`'s changes.
fn compare(
    importer: &Member,
    source: &Member,
    mine: &[(u64, Entry, Vec<u8>)],
    theirs: &[(u64, Entry, Vec<u8>)],
    report: &mut Report,
) {
    let imports: Vec<(u64, u64, &[u8])> = mine
        .iter()
        .filter_map(|(seq, e, _)| match e {
            Entry::Import(i) if i.origin == source.origin => Some((*seq, i.seq, &i.entry[..])),
            _ => None,
        })
        .collect();
    let changes: Vec<(u64, &[u8])> = theirs
        .iter()
        .filter(|(_, e, _)| importable(e))
        .map(|(seq, _, b)| (*seq, &b[..]))
        .collect();
    for (k, (at, src_seq, bytes)) in imports.iter().enumerate() {
        let Some((want_seq, want)) = changes.get(k) else {
            report.bad.push(format!(
                "{}:{at} imports {} seq {src_seq}, which {} has no change at",
                importer.name, source.name, source.name
            ));
            return;
        };
        if src_seq != want_seq {
            report.bad.push(format!(
                "{}:{at} imports {} seq {src_seq}, but {} seq {want_seq} comes first and was never imported",
                importer.name, source.name, source.name
            ));
            return;
        }
        if bytes != want {
            report.bad.push(format!(
                "{}:{at} imports {} seq {src_seq} with other bytes than {} recorded",
                importer.name, source.name, source.name
            ));
            return;
        }
        report.imports += 1;
    }
    let behind = changes.len() - imports.len();
    if behind > 0 {
        report
            .lag
            .push((importer.name.clone(), source.name.clone(), behind));
    }
}

/// Runs the import check over every pair of members of `fed`.
pub async fn check(fed: &Federation) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let mut ledgers = Vec::new();
    for m in &fed.members {
        match registry(m).await {
            Ok(r) => ledgers.push(Some(r)),
            Err(e) => {
                report.unchecked.push(format!("{}: {e:#}", m.name));
                ledgers.push(None);
            }
        }
    }
    for (i, importer) in fed.members.iter().enumerate() {
        for (j, source) in fed.members.iter().enumerate() {
            if i == j {
                continue;
            }
            if let (Some(mine), Some(theirs)) = (&ledgers[i], &ledgers[j]) {
                compare(importer, source, mine, theirs, &mut report);
            }
        }
    }
    Ok(report)
}
