//! Gas figures, measured in the in-process EVM: the paper's Figure 7 (gas per register and per
//! record after N prior operations, `PaperBaseline` against `M2MHubLedger`) and anchor mode's
//! gas per message at several batch sizes. `m2mhub bench gas` prints them as a table, JSON and
//! an SVG chart.

use alloy::primitives::{B256, keccak256};
use m2mhub_core::{
    hash::{Hash, sha256},
    merkle::{Frontier, leaf_hash, prove_consistency, tree_hash},
};
use serde::Serialize;

use crate::{
    ChainError, Result,
    contracts::{M2MHubAnchor, M2MHubLedger, PaperBaseline},
    device_id,
    evm::{Evm, account},
};

const HUB: u8 = 1;

/// One point of Figure 7: the gas of the operation that follows `n` prior operations of its
/// kind (`n` devices registered before a register; `n` messages and `n + 1` devices before a
/// record). Every record is a valid `begin` (the paper's worst case) from the newest device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Figure7Row {
    /// Prior operations.
    pub n: u64,
    /// `PaperBaseline.register`.
    pub baseline_register: u64,
    /// `PaperBaseline.record`.
    pub baseline_record: u64,
    /// `M2MHubLedger.register`.
    pub register: u64,
    /// `M2MHubLedger.record`.
    pub record: u64,
}

/// Anchor mode at one batch size: the gas of anchoring `batch` more entries.
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct AnchorRow {
    /// Entries per anchor.
    pub batch: u64,
    /// Gas of one anchor (mean over the measured anchors).
    pub gas: u64,
    /// Hashes in its consistency proof (the longest measured).
    pub proof_hashes: usize,
    /// `gas / batch`.
    pub gas_per_message: f64,
}

/// The device name of the bench's `i`-th device.
fn name(i: u64) -> String {
    format!("dev-{i:05}")
}

fn gas_of<T>(r: std::result::Result<crate::evm::Called<T>, crate::evm::CallError>) -> Result<u64> {
    r.map(|c| c.gas)
        .map_err(|e| ChainError::Evm(format!("bench call failed: {e}")))
}

/// Figure 7 at the given points (`n` values), each both contracts, in one pass of
/// `max(points) + 1` registrations and records on each contract.
pub fn figure7(points: &[u64]) -> Result<Vec<Figure7Row>> {
    let max = points.iter().copied().max().unwrap_or(0);
    let mut evm = Evm::new();
    let hub = account(HUB);
    let (baseline, _) = evm.deploy(
        hub,
        &PaperBaseline::BYTECODE,
        &PaperBaseline::constructorCall {},
    )?;
    let (ours, _) = evm.deploy(
        hub,
        &M2MHubLedger::BYTECODE,
        &M2MHubLedger::constructorCall { hub },
    )?;
    let mut rows = Vec::new();
    for i in 0..=max {
        let b_reg = gas_of(evm.call(
            hub,
            baseline,
            &PaperBaseline::registerCall {
                name: name(i),
                clearance: alloy::primitives::U256::from(1),
                exception: String::new(),
            },
        ))?;
        let o_reg = gas_of(evm.call(
            hub,
            ours,
            &M2MHubLedger::registerCall {
                name: name(i),
                clearance: 1,
                publicKey: keccak256(i.to_be_bytes()),
                accepts: Vec::new(),
            },
        ))?;
        let receiver = i.saturating_sub(1);
        let b_rec = gas_of(evm.call(
            hub,
            baseline,
            &PaperBaseline::recordCall {
                senderID: name(i),
                transactionID: alloy::primitives::U256::ZERO,
                receiverID: name(receiver),
                content: "switch on".into(),
                action: alloy::primitives::U256::ZERO,
            },
        ))?;
        let o_rec = gas_of(evm.call(
            hub,
            ours,
            &M2MHubLedger::recordCall {
                m: M2MHubLedger::Message {
                    sender: device_id(&name(i)),
                    receiver: device_id(&name(receiver)),
                    action: 0,
                    tx: 0,
                    causePlusOne: 0,
                    counter: 1,
                    contentsHash: B256::from(sha256(b"switch on")),
                    signatureR: keccak256(b"r"),
                    signatureS: keccak256(b"s"),
                },
            },
        ))?;
        if points.contains(&i) {
            rows.push(Figure7Row {
                n: i,
                baseline_register: b_reg,
                baseline_record: b_rec,
                register: o_reg,
                record: o_rec,
            });
        }
    }
    Ok(rows)
}

/// Stored hashes of a tree of `n` leaves (leaf `i` is `i` as 8 bytes).
fn stored_tree(n: u64) -> Vec<Hash> {
    let mut stored = Vec::with_capacity(2 * n as usize);
    let mut f = Frontier::new();
    for i in 0..n {
        f.push(leaf_hash(&i.to_be_bytes()), &mut stored);
    }
    stored
}

fn hash_of(stored: &Vec<Hash>, n: u64) -> Result<B256> {
    tree_hash(n, stored)
        .map(B256::from)
        .map_err(|e| ChainError::Evm(e.to_string()))
}

/// Anchor mode's gas at each batch size: a ledger of `prior` entries is anchored, then
/// `rounds` anchors of `batch` more entries each are measured.
pub fn anchor_gas(batches: &[u64], prior: u64, rounds: u64) -> Result<Vec<AnchorRow>> {
    let prior = prior.max(1);
    let rounds = rounds.max(1);
    let max = batches
        .iter()
        .map(|b| prior + b * rounds)
        .max()
        .unwrap_or(prior);
    let stored = stored_tree(max);
    let hub = account(HUB);
    let mut rows = Vec::new();
    for &batch in batches {
        let mut evm = Evm::new();
        let (c, _) = evm.deploy(
            hub,
            &M2MHubAnchor::BYTECODE,
            &M2MHubAnchor::constructorCall { hub },
        )?;
        let anchor = |evm: &mut Evm, from: u64, to: u64| -> Result<(u64, usize)> {
            let proof: Vec<B256> = if from == 0 {
                Vec::new()
            } else {
                prove_consistency(from, to, &stored)
                    .map_err(|e| ChainError::Evm(e.to_string()))?
                    .into_iter()
                    .map(B256::from)
                    .collect()
            };
            let len = proof.len();
            let gas = gas_of(evm.call(
                hub,
                c,
                &M2MHubAnchor::anchorCall {
                    fromSize: from,
                    newSize: to,
                    newRoot: hash_of(&stored, to)?,
                    proof,
                },
            ))?;
            Ok((gas, len))
        };
        anchor(&mut evm, 0, prior)?;
        let (mut total, mut longest) = (0u64, 0usize);
        for r in 0..rounds {
            let from = prior + r * batch;
            let (gas, len) = anchor(&mut evm, from, from + batch)?;
            total += gas;
            longest = longest.max(len);
        }
        let gas = total / rounds;
        rows.push(AnchorRow {
            batch,
            gas,
            proof_hashes: longest,
            gas_per_message: gas as f64 / batch as f64,
        });
    }
    Ok(rows)
}

/// Everything `m2mhub bench gas` measures.
#[derive(Clone, Debug, Serialize)]
pub struct GasReport {
    /// Figure 7, both contracts.
    pub figure7: Vec<Figure7Row>,
    /// Anchor mode.
    pub anchor: Vec<AnchorRow>,
    /// Entries anchored before the measured anchors.
    pub anchor_prior_entries: u64,
}

impl GasReport {
    /// The report as Markdown tables.
    pub fn table(&self) -> String {
        let mut s = String::from(
            "| prior operations N | PaperBaseline register | PaperBaseline record | M2MHubLedger register | M2MHubLedger record |\n|---:|---:|---:|---:|---:|\n",
        );
        for r in &self.figure7 {
            s += &format!(
                "| {} | {} | {} | {} | {} |\n",
                r.n, r.baseline_register, r.baseline_record, r.register, r.record
            );
        }
        s += "\n| anchor batch (entries) | gas per anchor | proof hashes | gas per entry |\n|---:|---:|---:|---:|\n";
        for r in &self.anchor {
            s += &format!(
                "| {} | {} | {} | {:.3} |\n",
                r.batch, r.gas, r.proof_hashes, r.gas_per_message
            );
        }
        s
    }

    /// Figure 7 as an SVG line chart (log–log), self-contained.
    pub fn svg(&self) -> String {
        svg_chart(&self.figure7)
    }
}

fn svg_chart(rows: &[Figure7Row]) -> String {
    const W: f64 = 760.0;
    const H: f64 = 440.0;
    const L: f64 = 80.0;
    const R: f64 = 230.0;
    const T: f64 = 40.0;
    const B: f64 = 50.0;
    let xmax = rows.iter().map(|r| r.n).max().unwrap_or(1).max(10) as f64;
    let all = rows
        .iter()
        .flat_map(|r| [r.baseline_register, r.baseline_record, r.register, r.record]);
    let ymax = all.clone().max().unwrap_or(10).max(10) as f64;
    let ymin = all.min().unwrap_or(1).max(1) as f64;
    let (lx0, lx1) = (0.0, xmax.log10().ceil());
    let (ly0, ly1) = (ymin.log10().floor(), ymax.log10().ceil());
    let x = |n: u64| L + ((n.max(1) as f64).log10() - lx0) / (lx1 - lx0) * (W - L - R);
    let y = |g: u64| H - B - ((g.max(1) as f64).log10() - ly0) / (ly1 - ly0) * (H - T - B);
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{W}\" height=\"{H}\" viewBox=\"0 0 {W} {H}\" font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n<text x=\"{}\" y=\"22\" text-anchor=\"middle\" font-size=\"15\">Gas per operation after N prior operations (the paper's Figure 7, same EVM)</text>\n",
        W / 2.0
    );
    for e in (lx0 as i32)..=(lx1 as i32) {
        let px = x(10u64.pow(e as u32));
        s += &format!(
            "<line x1=\"{px:.1}\" y1=\"{T}\" x2=\"{px:.1}\" y2=\"{}\" stroke=\"#ddd\"/><text x=\"{px:.1}\" y=\"{}\" text-anchor=\"middle\">{}</text>\n",
            H - B,
            H - B + 18.0,
            10u64.pow(e as u32)
        );
    }
    for e in (ly0 as i32)..=(ly1 as i32) {
        let py = y(10u64.pow(e as u32));
        s += &format!(
            "<line x1=\"{L}\" y1=\"{py:.1}\" x2=\"{}\" y2=\"{py:.1}\" stroke=\"#ddd\"/><text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">1e{e}</text>\n",
            W - R,
            L - 6.0,
            py + 4.0
        );
    }
    s += &format!(
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">prior operations N (log)</text>\n<text x=\"18\" y=\"{}\" text-anchor=\"middle\" transform=\"rotate(-90 18 {})\">gas (log)</text>\n",
        L + (W - L - R) / 2.0,
        H - 10.0,
        H / 2.0,
        H / 2.0
    );
    type Series = (
        &'static str,
        &'static str,
        &'static str,
        fn(&Figure7Row) -> u64,
    );
    let series: [Series; 4] = [
        ("PaperBaseline record", "#c0392b", "", |r| r.baseline_record),
        ("PaperBaseline register", "#e67e22", "6 4", |r| {
            r.baseline_register
        }),
        ("M2MHubLedger record", "#2471a3", "", |r| r.record),
        ("M2MHubLedger register", "#17a589", "6 4", |r| r.register),
    ];
    for (i, (label, color, dash, f)) in series.iter().enumerate() {
        let pts: Vec<String> = rows
            .iter()
            .map(|r| format!("{:.1},{:.1}", x(r.n), y(f(r))))
            .collect();
        s += &format!(
            "<polyline fill=\"none\" stroke=\"{color}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\" points=\"{}\"/>\n",
            pts.join(" ")
        );
        let ly = T + 20.0 + 22.0 * i as f64;
        s += &format!(
            "<line x1=\"{}\" y1=\"{ly}\" x2=\"{}\" y2=\"{ly}\" stroke=\"{color}\" stroke-width=\"2\" stroke-dasharray=\"{dash}\"/><text x=\"{}\" y=\"{}\">{label}</text>\n",
            W - R + 12.0,
            W - R + 40.0,
            W - R + 46.0,
            ly + 4.0
        );
    }
    s += "</svg>\n";
    s
}

/// The default Figure 7 points: 1…1000.
pub const FIGURE7_POINTS: [u64; 10] = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000];

/// The default anchor batch sizes: the issue's 1, 100, 10,000, and larger ones to show where
/// the per-entry cost falls below one gas.
pub const ANCHOR_BATCHES: [u64; 5] = [1, 100, 10_000, 100_000, 1_000_000];
