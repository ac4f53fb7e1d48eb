//! `info --format dot`: the drawing as a graphviz digraph: exchanges as
//! boxes, queues as ellipses, connections as notes; bindings and consumers
//! as labelled edges.

use std::collections::BTreeSet;

use super::topology::{Topology, count, destination, name, shown_name, to_exchange};
use crate::cmd::list::{cell, lookup};

/// The digraph of vhost `vhost`.
pub fn render(vhost: &str, topology: &Topology, pattern: Option<&str>) -> String {
    let mut nodes = BTreeSet::new();
    let mut edges = Vec::new();
    for x in topology.shown_exchanges(pattern) {
        let source = name(x);
        nodes.insert(exchange_node(topology, &source));
        for b in topology.shown_bindings(&source, pattern) {
            let to = destination(b);
            let id = match to_exchange(b) {
                true => {
                    nodes.insert(exchange_node(topology, &to));
                    format!("x:{to}")
                }
                false => {
                    queue(topology, &to, &mut nodes, &mut edges);
                    format!("q:{to}")
                }
            };
            edges.push(format!(
                "  {} -> {} [label={}];",
                quote(&format!("x:{source}")),
                quote(&id),
                quote(&cell(lookup(b, "routing_key")))
            ));
        }
    }
    let mut out = format!(
        "digraph {} {{\n  rankdir=LR;\n",
        quote(&format!("vhost {vhost}"))
    );
    for line in nodes.iter().chain(edges.iter()) {
        out.push_str(line);
        out.push('\n');
    }
    out.push_str("}\n");
    out
}

fn exchange_node(topology: &Topology, name: &str) -> String {
    format!(
        "  {} [shape=box, label={}];",
        quote(&format!("x:{name}")),
        quote(&format!(
            "{}\n{}",
            shown_name(name),
            topology.exchange_type(name)
        ))
    )
}

/// A queue's node, and its consumers' connections and edges.
fn queue(topology: &Topology, name: &str, nodes: &mut BTreeSet<String>, edges: &mut Vec<String>) {
    let q = topology.queue(name);
    nodes.insert(format!(
        "  {} [shape=ellipse, label={}];",
        quote(&format!("q:{name}")),
        quote(&format!(
            "{name}\nready {}, unacked {}, consumers {}",
            count(q, "messages_ready"),
            count(q, "messages_unacknowledged"),
            count(q, "consumers")
        ))
    ));
    for c in topology.consumers_of(name) {
        let (given, broker) = topology.connection_of(c);
        let id = quote(&format!("c:{broker}"));
        nodes.insert(format!(
            "  {id} [shape=note, label={}];",
            quote(given.unwrap_or(&broker))
        ));
        let edge = format!(
            "  {} -> {id} [label={}];",
            quote(&format!("q:{name}")),
            quote(&cell(lookup(c, "consumer_tag")))
        );
        if !edges.contains(&edge) {
            edges.push(edge);
        }
    }
}

/// A graphviz quoted string: `"` and `\` escaped, newlines as `\n`.
fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_escape_what_dot_reads_specially() {
        assert_eq!(quote("a \"b\" \\c\nd"), "\"a \\\"b\\\" \\\\c\\nd\"");
    }
}
