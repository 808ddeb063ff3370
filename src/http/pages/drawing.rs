//! The supply-chain picture of a batch page: the upstream DAG as SVG, left to right from the
//! mines to the batch, laid out by [`super::graph::layered`]. Each node shows form, id, who made
//! it and where, and its mass, and links to its own page; each edge carries the mass taken.
//! Untracked additives enter as their own nodes; process losses, co-products and scrap, and
//! transit losses are written on the node they left. Beyond [`MAX_DRAWN`] batches the graph is
//! collapsed to one node per stage (form) with counts and summed masses.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::audit::{NodeCreation, ProvenanceDag};

use super::directory::Directory;
use super::graph::{layered, Layout};
use super::layout::{country, esc, kg, seg, thousands, words};

/// Most batches drawn one by one; larger graphs are drawn by stage.
pub const MAX_DRAWN: usize = 60;

const COLUMN: usize = 310;
const NODE_W: usize = 210;
const NODE_H: usize = 78;
const ROW: usize = 96;
const MARGIN: usize = 12;

/// One box of the drawing.
struct Box {
    /// Lines of text, the first in bold.
    lines: Vec<String>,
    /// Link target and the batch id for `data-batch`, if it is a batch.
    link: Option<(String, String)>,
    /// Hover text (losses and co-products in full).
    title: String,
    fill: &'static str,
    root: bool,
}

/// Fill colour by stage, light enough for dark text (WCAG AA).
fn fill(form: &str) -> &'static str {
    match form {
        "ore" | "concentrate" | "mixed compound" => "#f3e6d3",
        "oxide" | "salt" => "#e4ecf7",
        "metal" | "alloy" => "#e3e8ee",
        "magnet" => "#e6f2e6",
        "additives" => "#f7f1c8",
        _ => "#efe8f5",
    }
}

/// The SVG of `dag`, and whether it was collapsed to stages.
pub fn svg(dag: &ProvenanceDag, names: &Directory<'_>) -> (String, bool) {
    if dag.nodes.len() > MAX_DRAWN {
        (stages(dag), true)
    } else {
        (batches(dag, names), false)
    }
}

fn batches(dag: &ProvenanceDag, names: &Directory<'_>) -> String {
    let index: HashMap<&str, usize> = dag
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.batch.as_str(), i))
        .collect();
    let mut boxes: Vec<Box> = Vec::new();
    let mut edges: Vec<(usize, usize, String)> = Vec::new();
    for node in &dag.nodes {
        let form = words(&node.form);
        let (maker, place) = match &node.creation {
            NodeCreation::Extract { site } => {
                let s = names.site(site);
                (
                    s.as_ref()
                        .map_or_else(|| site.as_str().to_owned(), |s| s.name.clone()),
                    s.map(|s| country(s.country.as_str())).unwrap_or_default(),
                )
            }
            NodeCreation::Transform { operator, .. } => (
                names.actor_name(operator),
                names
                    .actor_country(operator)
                    .map(|c| country(&c))
                    .unwrap_or_default(),
            ),
        };
        let mut notes = Vec::new();
        let mut title = format!("{} {} — {}", form, node.batch.as_str(), maker);
        if let NodeCreation::Transform {
            process,
            additives_g,
            outputs_total_g,
            ..
        } = &node.creation
        {
            let taken: u64 = dag
                .edges
                .iter()
                .filter(|e| e.to == node.batch)
                .map(|e| e.taken_g)
                .sum();
            let loss = (taken + additives_g).saturating_sub(*outputs_total_g);
            let others = outputs_total_g.saturating_sub(node.created_g);
            let _ = write!(title, "\n{} of {} in", words(process), kg(taken));
            if *additives_g > 0 {
                let _ = write!(title, ", + {} untracked additives", kg(*additives_g));
            }
            if loss > 0 {
                notes.push(format!("loss {}", kg(loss)));
                let _ = write!(title, "\nprocess loss {}", kg(loss));
            }
            if others > 0 {
                notes.push(format!("other outputs {}", kg(others)));
                let _ = write!(title, "\nco-products and scrap {}", kg(others));
            }
        }
        if node.transit_loss_g > 0 {
            notes.push(format!("transit loss {}", kg(node.transit_loss_g)));
            let _ = write!(title, "\nlost in transit {}", kg(node.transit_loss_g));
        }
        let mut lines = vec![
            format!("{form} · {}", kg(node.created_g)),
            short(node.batch.as_str(), 30),
            short(&format!("{maker}, {place}"), 32),
        ];
        if !notes.is_empty() {
            lines.push(short(&notes.join(", "), 34));
        }
        boxes.push(Box {
            lines,
            link: Some((
                format!("/batches/{}", seg(node.batch.as_str())),
                node.batch.as_str().to_owned(),
            )),
            title,
            fill: fill(&form),
            root: node.batch == dag.root,
        });
    }
    for edge in &dag.edges {
        if let (Some(&a), Some(&b)) = (index.get(edge.from.as_str()), index.get(edge.to.as_str())) {
            edges.push((a, b, kg(edge.taken_g)));
        }
    }
    // Additives enter as their own boxes, one per transform that declared some.
    for (i, node) in dag.nodes.iter().enumerate() {
        if let NodeCreation::Transform { additives_g, .. } = node.creation {
            if additives_g > 0 {
                boxes.push(Box {
                    lines: vec![
                        "additives (untracked)".into(),
                        kg(additives_g),
                        "iron, boron, ... not traced".into(),
                    ],
                    link: None,
                    title: format!(
                        "{} of untracked additives went into {}",
                        kg(additives_g),
                        node.batch.as_str()
                    ),
                    fill: fill("additives"),
                    root: false,
                });
                edges.push((boxes.len() - 1, i, kg(additives_g)));
            }
        }
    }
    let pairs: Vec<(usize, usize)> = edges.iter().map(|&(a, b, _)| (a, b)).collect();
    let layout = layered(boxes.len(), &pairs);
    draw(
        &boxes,
        &edges,
        &layout,
        "Supply chain of this batch, from the mines on the left",
    )
}

fn stages(dag: &ProvenanceDag) -> String {
    // One box per form, in order of first appearance (the DAG is in creation order).
    let mut order: Vec<String> = Vec::new();
    let mut count: HashMap<String, (usize, u64)> = HashMap::new();
    let mut form_of: HashMap<&str, String> = HashMap::new();
    for node in &dag.nodes {
        let form = words(&node.form);
        if !order.contains(&form) {
            order.push(form.clone());
        }
        let c = count.entry(form.clone()).or_default();
        c.0 += 1;
        c.1 += node.created_g;
        form_of.insert(node.batch.as_str(), form);
    }
    let position: HashMap<&String, usize> = order.iter().enumerate().map(|(i, f)| (f, i)).collect();
    let mut flows: BTreeMap<(usize, usize), u64> = BTreeMap::new();
    for edge in &dag.edges {
        if let (Some(a), Some(b)) = (
            form_of.get(edge.from.as_str()),
            form_of.get(edge.to.as_str()),
        ) {
            if a != b {
                *flows.entry((position[a], position[b])).or_default() += edge.taken_g;
            }
        }
    }
    let root_form = dag.node(&dag.root).map(|n| words(&n.form));
    let boxes: Vec<Box> = order
        .iter()
        .map(|form| {
            let (n, g) = count[form];
            Box {
                lines: vec![
                    form.clone(),
                    format!("{} batches", thousands(n as u64)),
                    format!("made: {}", kg(g)),
                ],
                link: None,
                title: format!("{n} {form} batches, {} made in all", kg(g)),
                fill: fill(form),
                root: root_form.as_ref() == Some(form),
            }
        })
        .collect();
    let edges: Vec<(usize, usize, String)> =
        flows.into_iter().map(|((a, b), g)| (a, b, kg(g))).collect();
    let pairs: Vec<(usize, usize)> = edges.iter().map(|&(a, b, _)| (a, b)).collect();
    let layout = layered(boxes.len(), &pairs);
    draw(
        &boxes,
        &edges,
        &layout,
        "Supply chain of this batch by stage",
    )
}

fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(max - 1).collect();
        format!("{cut}…")
    }
}

fn corner(layout: &Layout, node: usize) -> (usize, usize) {
    let (layer, rank) = layout.positions[node];
    (MARGIN + layer * COLUMN, MARGIN + rank * ROW)
}

fn draw(boxes: &[Box], edges: &[(usize, usize, String)], layout: &Layout, label: &str) -> String {
    let width = MARGIN * 2 + layout.layers.len().saturating_sub(1) * COLUMN + NODE_W;
    let height = MARGIN * 2 + layout.height().saturating_sub(1) * ROW + NODE_H;
    let mut out = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" \
         viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{}\" font-family=\"system-ui,sans-serif\" font-size=\"12\">\
         <defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto\">\
         <path d=\"M0,0L10,5L0,10z\" fill=\"#4a5468\"/></marker></defs>",
        esc(label)
    );
    for (a, b, mass) in edges {
        let (ax, ay) = corner(layout, *a);
        let (bx, by) = corner(layout, *b);
        let (x1, y1) = (ax + NODE_W, ay + NODE_H / 2);
        let (x2, y2) = (bx, by + NODE_H / 2);
        let mid = (x1 + x2) / 2;
        let _ = write!(
            out,
            "<g class=\"edge\"><path d=\"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}\" fill=\"none\" stroke=\"#4a5468\" stroke-width=\"1.4\" marker-end=\"url(#arrow)\"/>\
             <text x=\"{}\" y=\"{}\" text-anchor=\"end\" fill=\"#1a2233\" font-size=\"11\">{}</text></g>",
            x2 - 4,
            y2 - 5,
            esc(mass)
        );
    }
    for (i, b) in boxes.iter().enumerate() {
        let (x, y) = corner(layout, i);
        let stroke = if b.root {
            "#14213d\" stroke-width=\"3"
        } else {
            "#7a8499\" stroke-width=\"1"
        };
        let mut inner = format!(
            "<title>{}</title><rect x=\"{x}\" y=\"{y}\" width=\"{NODE_W}\" height=\"{NODE_H}\" rx=\"6\" fill=\"{}\" stroke=\"{stroke}\"/>",
            esc(&b.title),
            b.fill
        );
        for (n, line) in b.lines.iter().enumerate() {
            let weight = if n == 0 { " font-weight=\"600\"" } else { "" };
            let _ = write!(
                inner,
                "<text x=\"{}\" y=\"{}\" fill=\"#1a2233\"{weight}>{}</text>",
                x + 8,
                y + 18 + n * 17,
                esc(line)
            );
        }
        match &b.link {
            Some((href, batch)) => {
                let _ = write!(
                    out,
                    "<a href=\"{href}\" data-batch=\"{}\" aria-label=\"{}\">{inner}</a>",
                    esc(batch),
                    esc(&b.title.replace('\n', "; "))
                );
            }
            None => out.push_str(&format!("<g>{inner}</g>")),
        }
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audit::{DagEdge, DagNode, NodeStatus};
    use crate::model::material::{Form, Process};

    fn node(i: usize, form: Form) -> DagNode {
        DagNode {
            batch: format!("B-{i:04}").parse().unwrap(),
            form,
            elements: Default::default(),
            created_g: 1_000,
            remaining_g: 0,
            transit_loss_g: 0,
            custodian: "maker".parse().unwrap(),
            status: NodeStatus::Consumed,
            created_in: i as u64,
            created_at: "2026-01-01T00:00:00Z".parse().unwrap(),
            creation: if form == Form::Ore {
                NodeCreation::Extract {
                    site: "mine".parse().unwrap(),
                }
            } else {
                NodeCreation::Transform {
                    process: Process::Merge,
                    additives_g: 0,
                    outputs_total_g: 1_000,
                    operator: "maker".parse().unwrap(),
                }
            },
            certificates: Vec::new(),
            composition: None,
            assays: Vec::new(),
            made_at: None,
        }
    }

    #[test]
    fn a_large_graph_is_drawn_by_stage_with_counts() {
        // 70 ores into 10 oxides into one magnet: 81 batches, three stages.
        let mut nodes: Vec<DagNode> = (0..70).map(|i| node(i, Form::Ore)).collect();
        nodes.extend((70..80).map(|i| node(i, Form::Oxide)));
        nodes.push(node(80, Form::Magnet));
        let mut edges = Vec::new();
        for i in 0..70 {
            edges.push(DagEdge {
                from: nodes[i].batch.clone(),
                to: nodes[70 + i % 10].batch.clone(),
                taken_g: 1_000,
            });
        }
        for i in 70..80 {
            edges.push(DagEdge {
                from: nodes[i].batch.clone(),
                to: nodes[80].batch.clone(),
                taken_g: 1_000,
            });
        }
        let dag = ProvenanceDag {
            root: nodes[80].batch.clone(),
            nodes,
            edges,
            entries: Vec::new(),
        };
        assert!(dag.nodes.len() > MAX_DRAWN);
        let svg = stages(&dag);
        assert_eq!(svg.matches("<rect").count(), 3, "one box per stage");
        assert!(svg.contains(">70 batches<") && svg.contains(">10 batches<"));
        assert!(
            svg.contains(">70 kg<"),
            "ore → oxide carries the summed mass"
        );
        assert!(svg.contains(">10 kg<"));
    }
}
