//! Layered left-to-right drawing of a directed acyclic graph (the Sugiyama scheme, reduced to
//! what a provenance DAG needs): longest-path layering from the sources, so every mine sits in
//! the first column and the batch asked about in the last; then a few sweeps of barycentre
//! ordering within each layer to keep edges from crossing. Pure: plain indices in, positions
//! out, no HTML. the drawing module turns the positions into SVG.
//!
//! Edges that span more than one layer are drawn as straight lines past the intermediate
//! layers; with at most `drawing::MAX_DRAWN` nodes that stays readable, and larger graphs
//! are collapsed to one node per stage before they get here.

/// Where every node goes: its layer (column, left to right) and its rank within that layer
/// (row, top to bottom).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    /// `(layer, rank)` of node `i`.
    pub positions: Vec<(usize, usize)>,
    /// The nodes of each layer, in rank order.
    pub layers: Vec<Vec<usize>>,
}

impl Layout {
    /// The number of rows of the tallest layer.
    pub fn height(&self) -> usize {
        self.layers.iter().map(Vec::len).max().unwrap_or(0)
    }
}

/// Lays out `n` nodes joined by `edges` (`from → to`, indices below `n`). Edges that would close
/// a cycle or point at a missing node are ignored for layering (a DAG has none; this keeps the
/// function total on any input).
pub fn layered(n: usize, edges: &[(usize, usize)]) -> Layout {
    let edges: Vec<(usize, usize)> = edges
        .iter()
        .copied()
        .filter(|&(a, b)| a < n && b < n && a != b)
        .collect();
    let layer = longest_path_layers(n, &edges);
    let depth = layer.iter().copied().max().map_or(0, |m| m + 1);
    let mut layers: Vec<Vec<usize>> = vec![Vec::new(); depth];
    for (node, &l) in layer.iter().enumerate() {
        layers[l].push(node);
    }
    let mut predecessors: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut successors: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in &edges {
        if layer[a] < layer[b] {
            predecessors[b].push(a);
            successors[a].push(b);
        }
    }
    let mut rank = vec![0usize; n];
    let renumber = |layers: &[Vec<usize>], rank: &mut Vec<usize>| {
        for nodes in layers {
            for (r, &node) in nodes.iter().enumerate() {
                rank[node] = r;
            }
        }
    };
    renumber(&layers, &mut rank);
    // Four sweeps each way settle small graphs; more rarely changes anything visible.
    for _ in 0..4 {
        for l in 1..depth {
            order_by_barycentre(&mut layers[l], &predecessors, &rank);
            renumber(&layers, &mut rank);
        }
        for l in (0..depth.saturating_sub(1)).rev() {
            order_by_barycentre(&mut layers[l], &successors, &rank);
            renumber(&layers, &mut rank);
        }
    }
    let positions = (0..n).map(|i| (layer[i], rank[i])).collect();
    Layout { positions, layers }
}

/// Layer of each node: the length of the longest path from any source to it (Kahn's order, so
/// no recursion). Nodes on a cycle, which a DAG never has, are put in layer 0.
fn longest_path_layers(n: usize, edges: &[(usize, usize)]) -> Vec<usize> {
    let mut indegree = vec![0usize; n];
    let mut out: Vec<Vec<usize>> = vec![Vec::new(); n];
    for &(a, b) in edges {
        indegree[b] += 1;
        out[a].push(b);
    }
    let mut layer = vec![0usize; n];
    let mut ready: Vec<usize> = (0..n).filter(|&i| indegree[i] == 0).collect();
    while let Some(node) = ready.pop() {
        for &next in &out[node] {
            layer[next] = layer[next].max(layer[node] + 1);
            indegree[next] -= 1;
            if indegree[next] == 0 {
                ready.push(next);
            }
        }
    }
    layer
}

/// Sorts one layer by the mean rank of each node's neighbours in the adjacent layer; nodes
/// without neighbours keep their place (their own rank), and ties keep their order (stable).
fn order_by_barycentre(nodes: &mut [usize], neighbours: &[Vec<usize>], rank: &[usize]) {
    let key = |node: usize| -> f64 {
        let near = &neighbours[node];
        if near.is_empty() {
            rank[node] as f64
        } else {
            near.iter().map(|&m| rank[m] as f64).sum::<f64>() / near.len() as f64
        }
    };
    let mut keyed: Vec<(f64, usize)> = nodes.iter().map(|&node| (key(node), node)).collect();
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    for (slot, (_, node)) in nodes.iter_mut().zip(keyed) {
        *slot = node;
    }
}

/// Number of edge crossings between adjacent layers (for tests and for judging a layout).
pub fn crossings(layout: &Layout, edges: &[(usize, usize)]) -> usize {
    let mut total = 0;
    let adjacent: Vec<((usize, usize), (usize, usize))> = edges
        .iter()
        .map(|&(a, b)| (layout.positions[a], layout.positions[b]))
        .filter(|(pa, pb)| pb.0 == pa.0 + 1)
        .collect();
    for (i, (a1, b1)) in adjacent.iter().enumerate() {
        for (a2, b2) in &adjacent[i + 1..] {
            if a1.0 == a2.0 && (a1.1 < a2.1) != (b1.1 < b2.1) && a1.1 != a2.1 && b1.1 != b2.1 {
                total += 1;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chain_runs_left_to_right() {
        // mine → concentrate → oxide → magnet
        let layout = layered(4, &[(0, 1), (1, 2), (2, 3)]);
        assert_eq!(layout.positions, vec![(0, 0), (1, 0), (2, 0), (3, 0)]);
        assert_eq!(layout.height(), 1);
    }

    #[test]
    fn sources_start_in_the_first_layer_and_the_sink_is_last() {
        // Two mines of different depth feed one magnet: 0 → 1 → 3, 2 → 3.
        let layout = layered(4, &[(0, 1), (1, 3), (2, 3)]);
        assert_eq!(layout.positions[0].0, 0);
        assert_eq!(layout.positions[2].0, 0);
        assert_eq!(layout.positions[3].0, 2, "longest path decides the layer");
        assert_eq!(layout.layers[0].len(), 2);
    }

    #[test]
    fn barycentre_ordering_removes_a_crossing() {
        // Layer 0: a(0) b(1); layer 1: c(2) d(3) with a → d and b → c: in input order they
        // cross; ordering layer 1 by its parents' ranks uncrosses them.
        let edges = [(0, 3), (1, 2)];
        let layout = layered(4, &edges);
        assert_eq!(crossings(&layout, &edges), 0, "{layout:?}");
        let naive = Layout {
            positions: vec![(0, 0), (0, 1), (1, 0), (1, 1)],
            layers: vec![vec![0, 1], vec![2, 3]],
        };
        assert_eq!(crossings(&naive, &edges), 1);
    }

    #[test]
    fn every_node_is_placed_once_and_ranks_are_dense() {
        let edges = [(0, 2), (1, 2), (2, 4), (3, 4), (1, 5), (5, 4)];
        let layout = layered(6, &edges);
        let mut seen = [false; 6];
        for (l, nodes) in layout.layers.iter().enumerate() {
            for (r, &node) in nodes.iter().enumerate() {
                assert!(!seen[node]);
                seen[node] = true;
                assert_eq!(layout.positions[node], (l, r));
            }
        }
        assert!(seen.iter().all(|&s| s));
        for &(a, b) in &edges {
            assert!(
                layout.positions[a].0 < layout.positions[b].0,
                "edges go right"
            );
        }
    }

    #[test]
    fn bad_edges_do_not_panic() {
        let layout = layered(3, &[(0, 1), (1, 0), (2, 9), (2, 2)]);
        assert_eq!(layout.positions.len(), 3);
        assert!(layered(0, &[]).layers.is_empty());
    }
}
