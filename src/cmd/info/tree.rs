//! `info`'s text drawing: one line a node, under its parent with rabtap's
//! box-drawing branches (`├── `, `└── `, `│   `).

use serde_json::Value;

use super::topology::{Topology, count, destination, name, shown_name, to_exchange};
use crate::cmd::list::{cell, lookup};

/// A line of the tree and the lines under it.
struct Node {
    label: String,
    children: Vec<Node>,
}

/// The tree of vhost `vhost`, as text.
pub fn render(vhost: &str, topology: &Topology, pattern: Option<&str>) -> String {
    let root = Node {
        label: format!("Vhost [{vhost}]"),
        children: topology
            .shown_exchanges(pattern)
            .into_iter()
            .map(|x| {
                let source = name(x);
                Node {
                    label: exchange_label(&source, &cell(lookup(x, "type"))),
                    children: topology
                        .shown_bindings(&source, pattern)
                        .into_iter()
                        .map(|b| binding(topology, b, &mut vec![source.clone()]))
                        .collect(),
                }
            })
            .collect(),
    };
    let mut out = format!("{}\n", root.label);
    draw(&root.children, "", &mut out);
    out
}

fn exchange_label(name: &str, kind: &str) -> String {
    format!("Exchange [{}] ({kind})", shown_name(name))
}

/// A binding's node: its destination, with the key; under a queue its
/// consumers, under an exchange that exchange's own bindings (`path` holds
/// the exchanges above, so a cycle of bindings ends).
fn binding(topology: &Topology, b: &Value, path: &mut Vec<String>) -> Node {
    let to = destination(b);
    let mut key = format!("key '{}'", cell(lookup(b, "routing_key")));
    if let Some(Value::Object(args)) = lookup(b, "arguments")
        && !args.is_empty()
    {
        key.push_str(&format!(" arguments {}", Value::Object(args.clone())));
    }
    if !to_exchange(b) {
        let q = topology.queue(&to);
        return Node {
            label: format!(
                "Queue [{to}] {key}: ready {}, unacked {}, consumers {}",
                count(q, "messages_ready"),
                count(q, "messages_unacknowledged"),
                count(q, "consumers")
            ),
            children: topology
                .consumers_of(&to)
                .into_iter()
                .map(|c| consumer(topology, c))
                .collect(),
        };
    }
    let label = format!(
        "{} {key}",
        exchange_label(&to, &topology.exchange_type(&to))
    );
    if path.contains(&to) {
        return Node {
            label: format!("{label} (cycle)"),
            children: Vec::new(),
        };
    }
    path.push(to.clone());
    let children = topology
        .bindings_of(&to)
        .into_iter()
        .map(|b| binding(topology, b, path))
        .collect();
    path.pop();
    Node { label, children }
}

fn consumer(topology: &Topology, c: &Value) -> Node {
    let (given, broker) = topology.connection_of(c);
    let connection = match given {
        Some(given) => format!("Connection [{given}] ({broker})"),
        None => format!("Connection [{broker}]"),
    };
    Node {
        label: format!(
            "Consumer [{}] prefetch {}, ack {}",
            cell(lookup(c, "consumer_tag")),
            count(Some(c), "prefetch_count"),
            count(Some(c), "ack_required")
        ),
        children: vec![Node {
            label: connection,
            children: Vec::new(),
        }],
    }
}

/// Appends `nodes`' lines, each after `prefix` and its branch.
fn draw(nodes: &[Node], prefix: &str, out: &mut String) {
    for (i, node) in nodes.iter().enumerate() {
        let last = i + 1 == nodes.len();
        let (branch, under) = match last {
            true => ("└── ", "    "),
            false => ("├── ", "│   "),
        };
        out.push_str(&format!("{prefix}{branch}{}\n", node.label));
        draw(&node.children, &format!("{prefix}{under}"), out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn branches_show_siblings_and_depth() {
        let leaf = |l: &str| Node {
            label: l.to_string(),
            children: Vec::new(),
        };
        let nodes = vec![
            Node {
                label: "a".into(),
                children: vec![leaf("a1"), leaf("a2")],
            },
            leaf("b"),
        ];
        let mut out = String::new();
        draw(&nodes, "", &mut out);
        assert_eq!(out, "├── a\n│   ├── a1\n│   └── a2\n└── b\n");
    }
}
