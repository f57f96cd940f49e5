//! A transaction's causal tree, drawn three ways: JSON (nodes and edges), Graphviz DOT, and
//! W3C PROV-JSON (https://www.w3.org/submissions/prov-json/). A tree drawn from one page of a
//! long transaction says so (`truncated`, from the view's `next`).

use std::collections::{BTreeMap, HashSet};
use std::fmt::Write;

use m2mhub_ledger::{Record, TransactionView};
use serde_json::{Map, Value, json};

/// Edges of the causal tree: (cause, effect) for every message whose cause is a message of
/// the same transaction.
pub fn edges(t: &TransactionView) -> Vec<(u64, u64)> {
    let seqs: HashSet<u64> = t.messages.iter().map(|m| m.seq).collect();
    t.messages
        .iter()
        .filter_map(|m| m.cause.filter(|c| seqs.contains(c)).map(|c| (c, m.seq)))
        .collect()
}

/// True when `t` holds only a first page of the transaction's messages.
pub fn truncated(t: &TransactionView) -> bool {
    t.next.is_some()
}

/// The tree as JSON: `{tx, provenance, state, participants, message_count, truncated, nodes,
/// edges, roots}`.
pub fn to_json(t: &TransactionView) -> Value {
    let edges = edges(t);
    let caused: HashSet<u64> = edges.iter().map(|(_, e)| *e).collect();
    let roots: Vec<u64> = t
        .messages
        .iter()
        .map(|m| m.seq)
        .filter(|s| !caused.contains(s))
        .collect();
    json!({
        "tx": t.tx,
        "provenance": t.provenance,
        "state": t.state,
        "participants": t.participants,
        "message_count": t.message_count,
        "truncated": truncated(t),
        "nodes": t.messages.iter().map(|m| json!({
            "seq": m.seq, "sender": m.sender, "receiver": m.receiver, "action": m.action,
            "cause": m.cause, "valid": m.valid, "notices": m.notices,
        })).collect::<Vec<_>>(),
        "edges": edges.iter().map(|(c, e)| json!({"from": c, "to": e})).collect::<Vec<_>>(),
        "roots": roots,
    })
}

/// Text for a quoted DOT string: `\` and `"` escaped, so Graphviz draws the text as it is
/// (its own label escapes, `\N`, `\l` and the like, stay literal), and a line break becomes
/// Graphviz's centred line break `\n` (a carriage return is dropped).
fn dot_text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            '\r' => {}
            c => out.push(c),
        }
    }
    out
}

/// A DOT label of `lines`: each escaped on its own ([`dot_text`]), then joined by `\n`.
/// Escaping the joined label instead would turn the breaks into a literal `\n`.
fn dot_label(lines: &[String]) -> String {
    lines
        .iter()
        .map(|l| dot_text(l))
        .collect::<Vec<_>>()
        .join("\\n")
}

/// The tree in Graphviz DOT; invalid messages are red.
pub fn to_dot(t: &TransactionView) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "digraph tx{} {{", t.tx);
    let shown = if truncated(t) {
        format!(
            ", first {} of {} messages (truncated)",
            t.messages.len(),
            t.message_count
        )
    } else {
        String::new()
    };
    let _ = writeln!(
        out,
        "  label=\"tx {} ({}), provenance {}{shown}\";\n  node [shape=box, fontname=\"monospace\"];",
        t.tx,
        dot_text(&format!("{:?}", t.state).to_lowercase()),
        dot_text(&t.provenance)
    );
    for m in &t.messages {
        let notices: Vec<&str> = m.notices.iter().map(|n| n.code()).collect();
        let mut lines = vec![
            format!("#{} {} → {}", m.seq, m.sender, m.receiver),
            m.action.to_string(),
        ];
        if !notices.is_empty() {
            lines.push(notices.join(", "));
        }
        let color = if m.valid { "black" } else { "red" };
        let _ = writeln!(
            out,
            "  m{} [label=\"{}\", color={color}, fontcolor={color}];",
            m.seq,
            dot_label(&lines)
        );
    }
    for (c, e) in edges(t) {
        let _ = writeln!(out, "  m{c} -> m{e};");
    }
    out.push_str("}\n");
    out
}

fn msg_id(seq: u64) -> String {
    format!("m2m:message/{seq}")
}

fn agent_id(name: &str) -> String {
    format!("m2m:device/{name}")
}

/// The tree in W3C PROV-JSON: messages are entities attributed to their sender agents and
/// derived from their causes; the transaction is a collection with its provenance agent.
pub fn to_prov(t: &TransactionView) -> Value {
    let mut entity = Map::new();
    let mut agent = Map::new();
    let mut attributed = Map::new();
    let mut derived = Map::new();
    let mut members = Map::new();
    let tx_id = format!("m2m:transaction/{}", t.tx);
    entity.insert(
        tx_id.clone(),
        json!({
            "prov:type": {"$": "prov:Collection", "type": "prov:QUALIFIED_NAME"},
            "m2m:state": format!("{:?}", t.state).to_lowercase(),
            "m2m:messageCount": t.message_count,
            "m2m:truncated": truncated(t),
        }),
    );
    let devices: BTreeMap<&str, ()> = t
        .participants
        .iter()
        .map(String::as_str)
        .chain(
            t.messages
                .iter()
                .flat_map(|m| [m.sender.as_str(), m.receiver.as_str()]),
        )
        .map(|d| (d, ()))
        .collect();
    for d in devices.keys() {
        agent.insert(agent_id(d), json!({"prov:type": {"$": "prov:SoftwareAgent", "type": "prov:QUALIFIED_NAME"}, "m2m:name": d}));
    }
    attributed.insert(format!("_:tx{}", t.tx), json!({"prov:entity": tx_id, "prov:agent": agent_id(&t.provenance), "prov:role": "m2m:provenance"}));
    for m in &t.messages {
        entity.insert(msg_id(m.seq), message_entity(m));
        attributed.insert(
            format!("_:a{}", m.seq),
            json!({"prov:entity": msg_id(m.seq), "prov:agent": agent_id(&m.sender)}),
        );
        members.insert(
            format!("_:h{}", m.seq),
            json!({"prov:collection": tx_id, "prov:entity": msg_id(m.seq)}),
        );
    }
    for (c, e) in edges(t) {
        derived.insert(
            format!("_:d{e}"),
            json!({"prov:generatedEntity": msg_id(e), "prov:usedEntity": msg_id(c)}),
        );
    }
    json!({
        "prefix": {"m2m": "urn:m2mhub:"},
        "entity": entity,
        "agent": agent,
        "wasAttributedTo": attributed,
        "wasDerivedFrom": derived,
        "hadMember": members,
    })
}

fn message_entity(m: &Record) -> Value {
    json!({
        "prov:type": {"$": "m2m:Message", "type": "prov:QUALIFIED_NAME"},
        "m2m:seq": m.seq,
        "m2m:action": m.action.as_str(),
        "m2m:receiver": m.receiver,
        "m2m:valid": m.valid,
        "m2m:notices": m.notices.iter().map(|n| n.code()).collect::<Vec<_>>().join(" "),
        "m2m:leafHash": m.leaf_hash,
    })
}

/// The tree as indented text, for the CLI's `trace`.
pub fn to_text(t: &TransactionView) -> String {
    let edges = edges(t);
    let caused: HashSet<u64> = edges.iter().map(|(_, e)| *e).collect();
    let by_seq: BTreeMap<u64, &Record> = t.messages.iter().map(|m| (m.seq, m)).collect();
    let mut out = format!(
        "tx {} — provenance {} — {} — participants: {}\n",
        t.tx,
        t.provenance,
        format!("{:?}", t.state).to_lowercase(),
        t.participants.join(", ")
    );
    if truncated(t) {
        let _ = writeln!(
            out,
            "  (first {} of {} messages)",
            t.messages.len(),
            t.message_count
        );
    }
    fn walk(
        out: &mut String,
        seq: u64,
        depth: usize,
        by_seq: &BTreeMap<u64, &Record>,
        edges: &[(u64, u64)],
    ) {
        let Some(m) = by_seq.get(&seq) else { return };
        let verdict = if m.valid {
            "valid".to_owned()
        } else {
            format!(
                "INVALID: {}",
                m.notices
                    .iter()
                    .map(|n| n.code())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let _ = writeln!(
            out,
            "{}#{} {} → {} {} [{}]",
            "  ".repeat(depth + 1),
            m.seq,
            m.sender,
            m.receiver,
            m.action,
            verdict
        );
        for (_, e) in edges.iter().filter(|(c, _)| *c == seq) {
            walk(out, *e, depth + 1, by_seq, edges);
        }
    }
    for m in &t.messages {
        if !caused.contains(&m.seq) {
            walk(&mut out, m.seq, 0, &by_seq, &edges);
        }
    }
    out
}
