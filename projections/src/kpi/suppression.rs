//! Statistical disclosure control (DOMAIN.md section 5): primary and secondary cell suppression.
//!
//! Every measure is protected on its own, by its `persons` count (see [`super::Measure::persons`]
//! and each definition's `disclosure_count`): a cell counting more than 0 and fewer than k persons
//! is suppressed (primary). Zero is published: it discloses nobody, and a zero cell is known.
//!
//! Secondary suppression has to make sure no suppressed figure can be recomputed from the
//! published ones. Every additive figure of a result (persons, numerator, denominator) satisfies
//! the same equations: a one-way table's cells sum to the total; a two-way table's cells sum to
//! their row and column margins, and the margins of each dimension sum to the total. Written with
//! the margins negated, every such equation says "the figures meeting at this node sum to zero" on
//! a bipartite graph: one node per row plus a margin node, one node per column plus a margin node,
//! and one edge per cell (inner cell: row to column; row margin: row to the column-margin node;
//! column margin: row-margin node to column; total: margin node to margin node). A one-way table is
//! two nodes with every cell and the total as parallel edges. The unknowns a reader faces are the
//! suppressed edges, and the solutions differ exactly by circulations on them: a suppressed figure
//! is determined by the published ones if and only if its edge lies on no cycle of suppressed edges.
//!
//! So the rule is: while some suppressed edge lies on no such cycle, close one through it along
//! the cheapest path of further cells, preferring inner cells to margins and margins to the total,
//! and smaller cells to larger ones. In a one-way table that is "suppress the smallest remaining
//! cell"; in a two-way table it usually completes a rectangle. The result is the same for every
//! measure with the same counts, so measures sharing a denominator are suppressed together.
//!
//! Across queries. An analyst can ask for the total, every one-way and every two-way breakdown
//! (in both orders) of the same indicator, and combine them: a margin of a two-way table is a cell
//! of a one-way table, and its total the total. Protecting each table on its own leaked (the
//! property test `no_suppressed_figure_can_be_recomputed_across_every_breakdown` found suppressed
//! inner cells recomputed from the union of the tables: the two orders of one two-way table
//! suppressed different cells, and a two-way table hid a margin that the one-way table published).
//! So every figure gets the same decision in every table that shows it:
//!
//! - the decision is taken on a canonical form of the table (dimensions in a fixed order, cells
//!   and margins sorted by their values), so both orders of a two-way table suppress the same cells;
//! - the total is suppressed only by primary suppression, as when it is asked for alone;
//! - a two-way table's margins of each dimension are suppressed exactly as the one-way table of
//!   that dimension suppresses its cells (computed here from the margins, which are those cells);
//! - the two-way table's secondary suppression then closes cycles over inner cells only (a
//!   published margin or total stays published); where no such cycle exists, every inner cell
//!   with persons is suppressed (a cell that is determined anyway and not small is published
//!   again), and if a small cell is still exposed the whole table is hidden.
//!
//! What this does not achieve (a known leak, see SECURITY.md): tables are still linked through
//! the persons they count. With which cells are empty (zero is published) and the one-way figures,
//! a suppressed cell can be pinned even when its two-way table hides everything (east = 5, male =
//! 4 and every man in east give east/female = 1), and several two-way tables sharing no margin can
//! together pin what each leaves open. The ignored property tests in
//! `projections/tests/suppression.rs` find such cases; closing them needs suppression decided over
//! all linked tables of an indicator jointly.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use super::{Cell, KpiResult};

/// Where an edge of the graph comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Inner(usize),
    Margin(usize),
    Total,
}

/// Suppressing a margin costs more than any inner cell, the total more than any margin.
const MARGIN_COST: u64 = 1 << 32;
const TOTAL_COST: u64 = 1 << 48;

#[derive(Debug)]
struct Graph {
    nodes: usize,
    edges: Vec<(usize, usize)>,
    places: Vec<Place>,
    base_costs: Vec<u64>,
}

impl Graph {
    /// The graph of a result's table; `None` for a table without dimensions, whose total is
    /// protected by primary suppression alone (nothing else is published).
    fn of(result: &KpiResult) -> Option<Graph> {
        let mut graph = Graph {
            nodes: 0,
            edges: Vec::new(),
            places: Vec::new(),
            base_costs: Vec::new(),
        };
        match result.by.len() {
            1 => {
                graph.nodes = 2;
                for index in 0..result.cells.len() {
                    graph.push(0, 1, Place::Inner(index), 0);
                }
                graph.push(0, 1, Place::Total, TOTAL_COST);
            }
            2 => {
                let (first, second) = (result.by[0], result.by[1]);
                let mut rows: BTreeMap<&str, usize> = BTreeMap::new();
                let mut columns: BTreeMap<&str, usize> = BTreeMap::new();
                for cell in result.cells.iter().chain(&result.margins) {
                    for value in &cell.dimensions {
                        let nodes = if value.dimension == first {
                            &mut rows
                        } else {
                            &mut columns
                        };
                        let next = nodes.len();
                        nodes.entry(value.value.as_str()).or_insert(next);
                    }
                }
                let row_margin = rows.len();
                let column = |index: usize| row_margin + 1 + index;
                let column_margin = column(columns.len());
                graph.nodes = column_margin + 1;
                for (index, cell) in result.cells.iter().enumerate() {
                    let row = rows[cell.dimensions[0].value.as_str()];
                    let col = columns[cell.dimensions[1].value.as_str()];
                    graph.push(row, column(col), Place::Inner(index), 0);
                }
                for (index, cell) in result.margins.iter().enumerate() {
                    let value = &cell.dimensions[0];
                    if value.dimension == first {
                        let row = rows[value.value.as_str()];
                        graph.push(row, column_margin, Place::Margin(index), MARGIN_COST);
                    } else if value.dimension == second {
                        let col = columns[value.value.as_str()];
                        graph.push(row_margin, column(col), Place::Margin(index), MARGIN_COST);
                    }
                }
                graph.push(row_margin, column_margin, Place::Total, TOTAL_COST);
            }
            _ => return None,
        }
        Some(graph)
    }

    fn push(&mut self, from: usize, to: usize, place: Place, base_cost: u64) {
        self.edges.push((from, to));
        self.places.push(place);
        self.base_costs.push(base_cost);
    }

    /// Whether edge `edge` lies on a cycle of edges in `set`: whether its ends are connected
    /// without it.
    fn on_cycle(&self, edge: usize, set: &[bool]) -> bool {
        let (from, to) = self.edges[edge];
        let mut seen = vec![false; self.nodes];
        let mut stack = vec![from];
        seen[from] = true;
        while let Some(node) = stack.pop() {
            if node == to {
                return true;
            }
            for (other, &(a, b)) in self.edges.iter().enumerate() {
                if other == edge || !set[other] {
                    continue;
                }
                let next = if a == node {
                    b
                } else if b == node {
                    a
                } else {
                    continue;
                };
                if !seen[next] {
                    seen[next] = true;
                    stack.push(next);
                }
            }
        }
        false
    }

    /// The cheapest path joining the ends of `edge` without it, over edges with persons; already
    /// suppressed edges are free. Returns the edges on it that are not suppressed yet.
    fn cheapest_closure(
        &self,
        edge: usize,
        persons: &[u64],
        suppressed: &[bool],
        fixed: &[Option<bool>],
    ) -> Option<Vec<usize>> {
        let (from, to) = self.edges[edge];
        let mut best = vec![u64::MAX; self.nodes];
        let mut via: Vec<Option<usize>> = vec![None; self.nodes];
        let mut queue = BinaryHeap::new();
        best[from] = 0;
        queue.push(Reverse((0u64, from)));
        while let Some(Reverse((cost, node))) = queue.pop() {
            if cost > best[node] {
                continue;
            }
            if node == to {
                break;
            }
            for (other, &(a, b)) in self.edges.iter().enumerate() {
                if other == edge
                    || persons[other] == 0
                    || (fixed[other].is_some() && !suppressed[other])
                {
                    continue;
                }
                let next = if a == node {
                    b
                } else if b == node {
                    a
                } else {
                    continue;
                };
                let step = if suppressed[other] {
                    0
                } else {
                    self.base_costs[other].saturating_add(persons[other])
                };
                let reached = cost.saturating_add(step);
                if reached < best[next] {
                    best[next] = reached;
                    via[next] = Some(other);
                    queue.push(Reverse((reached, next)));
                }
            }
        }
        if best[to] == u64::MAX {
            return None;
        }
        let mut added = Vec::new();
        let mut node = to;
        while node != from {
            let other = via[node]?;
            if !suppressed[other] {
                added.push(other);
            }
            let (a, b) = self.edges[other];
            node = if a == node { b } else { a };
        }
        Some(added)
    }

    /// After the fallback: a suppressed cell on no cycle of suppressed cells is determined by the
    /// published ones anyway; when it is not small (and not fixed), publish it (which changes no
    /// other cell's cycles). When a small cell is still on no cycle, nothing short of hiding the
    /// whole table protects it.
    fn settle(
        &self,
        mut suppressed: Vec<bool>,
        persons: &[u64],
        k: u64,
        fixed: &[Option<bool>],
    ) -> Vec<bool> {
        for edge in 0..self.edges.len() {
            if suppressed[edge]
                && fixed[edge].is_none()
                && !primary(persons[edge], k)
                && !self.on_cycle(edge, &suppressed)
            {
                suppressed[edge] = false;
            }
        }
        let exposed = (0..self.edges.len())
            .any(|edge| suppressed[edge] && persons[edge] > 0 && !self.on_cycle(edge, &suppressed));
        if exposed {
            for (flag, count) in suppressed.iter_mut().zip(persons) {
                *flag |= *count > 0;
            }
        }
        suppressed
    }

    /// Which edges to suppress for one measure, given each edge's person count. `fixed` gives
    /// the decision for some edges (margins and the total of a two-way table, decided by the
    /// one-way tables): they are suppressed exactly when it says so, and never added by a closure.
    fn protect(&self, persons: &[u64], k: u64, fixed: &[Option<bool>]) -> Vec<bool> {
        let mut suppressed: Vec<bool> = persons
            .iter()
            .zip(fixed)
            .map(|(&count, fixed)| fixed.unwrap_or_else(|| primary(count, k)))
            .collect();
        // Each round suppresses at least one more edge, so this bounds the loop.
        for _ in 0..=self.edges.len() {
            let exposed = (0..self.edges.len())
                .find(|&edge| suppressed[edge] && !self.on_cycle(edge, &suppressed));
            let Some(edge) = exposed else {
                return suppressed;
            };
            match self.cheapest_closure(edge, persons, &suppressed, fixed) {
                Some(added) if !added.is_empty() => {
                    for other in added {
                        suppressed[other] = true;
                    }
                }
                // No way to hide it among other cells: hide every cell with persons whose
                // decision is not fixed.
                _ => {
                    for ((flag, count), fixed) in suppressed.iter_mut().zip(persons).zip(fixed) {
                        if fixed.is_none() {
                            *flag |= *count > 0;
                        }
                    }
                    return self.settle(suppressed, persons, k, fixed);
                }
            }
        }
        suppressed
    }
}

fn primary(persons: u64, k: u64) -> bool {
    persons > 0 && persons < k
}

fn blank(cell: &mut Cell, measure: usize) {
    if let Some(measure) = cell.measures.get_mut(measure) {
        measure.value = None;
        measure.numerator = None;
        measure.denominator = None;
        measure.persons = None;
        measure.suppressed = true;
    }
}

/// A figure's name in every table: its dimension values, sorted.
type FigureKey = Vec<(super::Dimension, String)>;

fn figure_key(cell: &Cell) -> FigureKey {
    let mut key: Vec<_> = cell
        .dimensions
        .iter()
        .map(|value| (value.dimension, value.value.clone()))
        .collect();
    key.sort();
    key
}

/// The canonical form of a table: dimensions in their fixed order, each cell's values in that
/// order, cells and margins sorted by their values. The same for both orders of a two-way table.
fn canonical(result: &KpiResult) -> KpiResult {
    let mut canonical = result.clone();
    canonical.by.sort();
    let order = |cell: &mut Cell| cell.dimensions.sort();
    canonical.cells.iter_mut().for_each(order);
    canonical.margins.iter_mut().for_each(order);
    canonical
        .cells
        .sort_by(|a, b| a.dimensions.cmp(&b.dimensions));
    canonical
        .margins
        .sort_by(|a, b| a.dimensions.cmp(&b.dimensions));
    canonical
}

/// The one-way table of `dimension` that a two-way table's margins are the cells of.
fn one_way(result: &KpiResult, dimension: super::Dimension) -> KpiResult {
    let mut table = result.clone();
    table.by = vec![dimension];
    table.cells = result
        .margins
        .iter()
        .filter(|margin| margin.dimensions[0].dimension == dimension)
        .cloned()
        .collect();
    table.margins = Vec::new();
    table
}

fn persons_of(graph: &Graph, result: &KpiResult, measure: usize) -> Vec<u64> {
    graph
        .places
        .iter()
        .map(|place| {
            let cell = match place {
                Place::Inner(index) => &result.cells[*index],
                Place::Margin(index) => &result.margins[*index],
                Place::Total => &result.total,
            };
            cell.measures
                .get(measure)
                .and_then(|measure| measure.persons)
                .unwrap_or(0)
        })
        .collect()
}

/// The figures to suppress, by figure key and measure, of a table in canonical form.
fn decide(table: &KpiResult, k: u64) -> Vec<(FigureKey, usize)> {
    let measures = table.total.measures.len();
    let mut hidden = Vec::new();
    let Some(graph) = Graph::of(table) else {
        for measure in 0..measures {
            let persons = table.total.measures[measure].persons.unwrap_or(0);
            if primary(persons, k) {
                hidden.push((Vec::new(), measure));
            }
        }
        return hidden;
    };
    // A two-way table's margins are decided by the one-way tables of its dimensions.
    let margins: Vec<Vec<(FigureKey, usize)>> = if table.by.len() == 2 {
        table
            .by
            .iter()
            .map(|&dimension| decide(&one_way(table, dimension), k))
            .collect()
    } else {
        Vec::new()
    };
    for measure in 0..measures {
        let persons = persons_of(&graph, table, measure);
        let fixed: Vec<Option<bool>> = graph
            .places
            .iter()
            .zip(&persons)
            .map(|(place, &count)| match place {
                Place::Inner(_) => None,
                // The total, alone or in any table, is suppressed by primary suppression only.
                Place::Total if table.by.len() == 2 => Some(primary(count, k)),
                Place::Total => None,
                Place::Margin(index) => {
                    let key = figure_key(&table.margins[*index]);
                    Some(
                        margins
                            .iter()
                            .flatten()
                            .any(|(hidden, m)| *m == measure && *hidden == key),
                    )
                }
            })
            .collect();
        let suppressed = graph.protect(&persons, k, &fixed);
        for (place, hide) in graph.places.iter().zip(suppressed) {
            if !hide {
                continue;
            }
            let cell = match place {
                Place::Inner(index) => &table.cells[*index],
                Place::Margin(index) => &table.margins[*index],
                Place::Total => &table.total,
            };
            hidden.push((figure_key(cell), measure));
        }
    }
    hidden
}

/// Applies primary and secondary suppression with threshold `k` to every measure of a result,
/// deciding on the table's canonical form so that every figure is suppressed alike in every
/// table that shows it (see the module documentation).
pub fn suppress(result: &mut KpiResult, k: u32) {
    let hidden = decide(&canonical(result), u64::from(k));
    if hidden.is_empty() {
        return;
    }
    let hidden: std::collections::HashSet<_> = hidden.into_iter().collect();
    let cells = result
        .cells
        .iter_mut()
        .chain(result.margins.iter_mut())
        .chain(std::iter::once(&mut result.total));
    for cell in cells {
        let key = figure_key(cell);
        for measure in 0..cell.measures.len() {
            if hidden.contains(&(key.clone(), measure)) {
                blank(cell, measure);
            }
        }
    }
}
