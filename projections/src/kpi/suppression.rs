//! Statistical disclosure control (DOMAIN.md section 5): primary and secondary cell suppression.
//!
//! Every measure is protected by its `persons` count (see [`super::Measure::persons`] and each
//! definition's `disclosure_count`): a cell counting more than 0 and fewer than k persons is
//! suppressed (primary). A count of persons says nothing more; a share says something about
//! every person it is taken over, so it is also suppressed (primary) when its numerator or its
//! complement (denominator minus numerator) is below k, zero included: 9 of 10 employed leaves
//! one person without a job (complement 1), and 0 of 12 says of each of the twelve that they have
//! none (numerator 0), as 12 of 12 says that each has one. A number of events per average stock
//! (`sgb2_integration_rate`) has no complement; its numerator must be at least k (0 integrations
//! among the recipients of a cell says that of each of them). A share of nobody (denominator 0)
//! says nothing and is published. So a share is published only over at least 2k persons.
//!
//! Shares over one denominator that add up to it (the outcome shares of
//! `course_completion_rate`, `dtz_b1_rate`, `recognition_outcomes`) are decided together, as one
//! figure: published, the others would give a suppressed one as the rest. Shares with no such
//! identity (employed and marginal only; the funnel's stages, which overlap) are decided on their
//! own ([`MeasureRule::group`]). A decision blanks every figure of the measures it covers
//! (value, numerator, denominator, persons), and the same secondary suppression below runs on it,
//! with the persons count as the cost; measures with the same counts and the same primary
//! decisions are suppressed alike. Zero counts of persons are mostly published; a two-way cell
//! that is not listed (nobody in it) is zero and known as zero.
//!
//! What is guaranteed: no suppressed figure can be recomputed linearly from any combination of
//! the total, the one-way tables and the two-way tables (in both orders) of one indicator at one
//! date and cut; and no line whose sum is published has its suppressed cells pinned to 1 each by
//! the knowledge that a suppressed count is at least 1 (the simple bound attack), unless every
//! nonzero cell of the line is suppressed already. The property tests in
//! `projections/tests/suppression.rs` check both over random populations. The rule:
//!
//! - Every decision is taken on a canonical form of the table (dimensions in a fixed order,
//!   cells and margins sorted by their values), so both orders of a two-way table agree.
//! - The total: primary suppression only, as when it is asked for alone.
//! - A one-way table: primary, then secondary: the cells and the total are parallel edges of a
//!   graph, and a suppressed figure is determined exactly when its edge lies on no cycle of
//!   suppressed edges, so while one does, the smallest remaining cell with persons is suppressed
//!   (the total only when no other cell has persons, and then it is primary anyway). Then the
//!   bound check: while the total is published and the suppressed cells are all 1, the smallest
//!   further cell is suppressed (a listed zero is a fine choice).
//! - A two-way table's margins are suppressed exactly as the one-way tables suppress them as
//!   cells. Its inner cells, on the full grid of its rows and columns (unlisted cells are zero):
//!   1. a suppressed margin takes its whole line, zeros included (an unlisted zero is then listed
//!      as suppressed, never as 0), except the cells of a line whose margin is a published zero
//!      (known zero anyway);
//!   2. the rest (rows and columns with published margins): primary suppression, then cycles are
//!      closed over cells of the rest only (zeros eligible, but not in a zero line), cheapest
//!      first (persons plus one per cell), and a published line whose suppressed cells are all 1
//!      takes one more cell of the rest (whose cycle is closed in turn);
//!   3. if that fails, every inner cell is suppressed (but for those of zero lines).
//!
//! Why no linear recomputation across the tables: the reader's unknowns are the suppressed
//! figures, and a figure is determined exactly when every solution of the homogeneous system on
//! the unknowns leaves it at zero. For each one-way circulation (cell a +t, another suppressed
//! cell a' -t of the same dimension), moving x_ab +t and x_a'b -t for one b in every two-way table
//! with that dimension is such a solution (rows a and a' are suppressed whole); when a is only
//! paired with the total (the total is primary and a is the only cell with persons), the total,
//! one suppressed cell per dimension and their inner cells all move +t; and a cycle of cells in
//! the rest of a two-way table moves alternately +t and -t touching no margin. Every suppressed
//! figure lies on one of these. A primary total lies on the second kind whatever made it primary:
//! each cell's persons, numerator and complement are at most the total's, so every cell it has
//! persons from is primary too. A dimension with a single value makes inner cells equal to the
//! other dimension's cells: rule 1 and the published margins give them the same decision.
//!
//! The argument holds for the numerators as for the persons counts: it depends on which figures
//! are suppressed, not on their values, and every additive figure of a measure has the pattern of
//! its group. Across the measures of a group, the identity "the numerators add up to the
//! denominator" adds an equation per cell, but every suppressed cell hides at least two of them
//! (all of the group), and moving one numerator +t and another -t along any of the circulations
//! above solves it too.
//!
//! What is not guaranteed (SECURITY.md): differencing across dates or `knownAt` cuts, across
//! indicators that count the same persons, the bound attack beyond the simple case (intervals
//! from non-negativity and from k, linear programming), and lines whose every nonzero cell is
//! suppressed and holds one person (the published sum of the line then says so). The attribute
//! rule counts what the numerator counts: for a share of events (`dtz_b1_rate` counts results),
//! k or more results may come from fewer than k persons.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap, HashSet};

use super::{Cell, Dimension, DimensionValue, KpiResult, Measure};

/// Closing a cycle over the total costs more than over any cell.
const TOTAL_COST: u64 = 1 << 48;

/// An undirected multigraph whose edges are figures: a suppressed figure can be recomputed from
/// the published ones exactly when its edge lies on no cycle of suppressed edges.
#[derive(Debug)]
struct Graph {
    nodes: usize,
    edges: Vec<(usize, usize)>,
    /// What suppressing an edge costs beyond its persons.
    base_costs: Vec<u64>,
}

impl Graph {
    fn new(nodes: usize) -> Graph {
        Graph {
            nodes,
            edges: Vec::new(),
            base_costs: Vec::new(),
        }
    }

    fn push(&mut self, from: usize, to: usize, base_cost: u64) {
        self.edges.push((from, to));
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

    /// The cheapest path joining the ends of `edge` without it, over suppressed edges (free) and
    /// `eligible` ones (their base cost plus their persons). Returns the edges on it that are not
    /// suppressed yet; `None` when there is no such path.
    fn cheapest_closure(
        &self,
        edge: usize,
        persons: &[u64],
        suppressed: &[bool],
        eligible: &[bool],
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
                if other == edge || !(suppressed[other] || eligible[other]) {
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

    /// Closes a cycle through every suppressed edge, adding eligible edges. `false` when some
    /// suppressed edge cannot be put on a cycle.
    fn close_cycles(&self, persons: &[u64], suppressed: &mut [bool], eligible: &[bool]) -> bool {
        // Each round suppresses at least one more edge, so this bounds the loop.
        for _ in 0..=self.edges.len() {
            let exposed = (0..self.edges.len())
                .find(|&edge| suppressed[edge] && !self.on_cycle(edge, suppressed));
            let Some(edge) = exposed else {
                return true;
            };
            match self.cheapest_closure(edge, persons, suppressed, eligible) {
                Some(added) if !added.is_empty() => {
                    for other in added {
                        suppressed[other] = true;
                    }
                }
                _ => return false,
            }
        }
        false
    }
}

/// What disclosure control checks in a measure besides its persons count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    /// Nothing more: a count of persons, or durations.
    None,
    /// A share: its numerator and its complement (denominator minus numerator) must each be at
    /// least k, or the share says something about every person it is taken over.
    Share,
    /// Events per average stock: its numerator must be at least k. It has no complement (the
    /// denominator counts person-months, not the same things as the numerator).
    Numerator,
}

/// How disclosure control treats one measure of an indicator (from the indicator's definition).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeasureRule {
    pub attribute: Attribute,
    /// The first measure of the group this one is decided with (its own index when alone).
    /// Measures of one group have the same persons count, so they share one pattern.
    pub group: usize,
}

/// Primary suppression of one measure: its persons count is above 0 and below k, or it
/// discloses an attribute (see the module documentation).
fn primary_measure(measure: &Measure, attribute: Attribute, k: u64) -> bool {
    let persons = measure.persons.unwrap_or(0);
    if persons > 0 && persons < k {
        return true;
    }
    let numerator = measure.numerator.unwrap_or(0);
    match attribute {
        Attribute::None => false,
        // A share of nobody (denominator 0) says nothing about anyone.
        Attribute::Share => measure.denominator.is_some_and(|denominator| {
            denominator > 0 && (numerator < k || denominator.saturating_sub(numerator) < k)
        }),
        Attribute::Numerator => persons > 0 && numerator < k,
    }
}

/// A figure as the decisions see it: its persons count (what suppressing it costs, and what
/// the bound check looks at) and whether primary suppression takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Figure {
    persons: u64,
    primary: bool,
}

/// One group of measures of a cell as one figure: the group's persons count, primary when any
/// of its measures is.
fn figure(cell: &Cell, members: &[usize], rules: &[MeasureRule], k: u64) -> Figure {
    Figure {
        persons: members.first().map_or(0, |&first| persons(cell, first)),
        primary: members.iter().any(|&index| {
            cell.measures
                .get(index)
                .is_some_and(|measure| primary_measure(measure, rules[index].attribute, k))
        }),
    }
}

/// The simple bound attack on one equation whose other side is published: its suppressed
/// figures are `unknowns` (persons counts). A reader knows each is at least 1 when none is
/// zero, so when they sum to their number, each is 1.
fn pinned(unknowns: impl IntoIterator<Item = u64>) -> bool {
    let (mut count, mut sum) = (0u64, 0u64);
    for persons in unknowns {
        if persons == 0 {
            return false;
        }
        count += 1;
        sum += persons;
    }
    count > 0 && sum == count
}

/// The smallest of `candidates` (persons, then position) that is not suppressed yet.
fn smallest(
    candidates: impl IntoIterator<Item = usize>,
    persons: &[u64],
    suppressed: &[bool],
) -> Option<usize> {
    candidates
        .into_iter()
        .filter(|&index| !suppressed[index])
        .min_by_key(|&index| (persons[index], index))
}

fn blank(measure: &mut Measure) {
    measure.value = None;
    measure.numerator = None;
    measure.denominator = None;
    measure.persons = None;
    measure.suppressed = true;
}

/// A figure's name in every table: its dimension values, sorted.
type FigureKey = Vec<(Dimension, String)>;

fn figure_key(cell: &Cell) -> FigureKey {
    let mut key: Vec<_> = cell
        .dimensions
        .iter()
        .map(|value| (value.dimension, value.value.clone()))
        .collect();
    key.sort();
    key
}

fn persons(cell: &Cell, measure: usize) -> u64 {
    cell.measures
        .get(measure)
        .and_then(|measure| measure.persons)
        .unwrap_or(0)
}

/// The decision for one group of measures of a one-way table, from its cells' figures (in
/// canonical order) and its total's: which cells are suppressed. The total is suppressed by
/// primary suppression only (as when it is asked for alone), so it is not part of the answer.
fn decide_one_way(cells: &[Figure], total: Figure) -> Vec<bool> {
    // Two nodes; every cell and the total are parallel edges between them.
    let mut graph = Graph::new(2);
    for _ in cells {
        graph.push(0, 1, 0);
    }
    graph.push(0, 1, TOTAL_COST);
    let figures: Vec<Figure> = cells.iter().copied().chain([total]).collect();
    let persons: Vec<u64> = figures.iter().map(|figure| figure.persons).collect();
    let mut suppressed: Vec<bool> = figures.iter().map(|figure| figure.primary).collect();
    let eligible: Vec<bool> = persons.iter().map(|&count| count > 0).collect();
    // With the total a cell lies on a cycle as soon as another cell is suppressed; a cycle over
    // the total is found only when no other cell has persons, and then the total has the figures
    // of the one cell that has and is primary with it.
    graph.close_cycles(&persons, &mut suppressed, &eligible);
    // The bound attack: while the suppressed cells are all 1 and the total is published, hide
    // the smallest other cell (a zero is a fine choice: the reader no longer knows each is >= 1).
    let last = cells.len();
    while !suppressed[last] && pinned((0..last).filter(|&c| suppressed[c]).map(|c| persons[c])) {
        match smallest(0..last, &persons, &suppressed) {
            Some(cell) => suppressed[cell] = true,
            // Every cell holds one person and the total says how many (see SECURITY.md).
            None => break,
        }
    }
    suppressed.truncate(last);
    suppressed
}

/// The decision for one group of measures of a two-way table: which cells of the full grid
/// `grid` (`rows` × `columns`, row-major, empty where no cell is listed) are suppressed, given
/// which row and column margins the one-way tables suppress.
fn decide_two_way(
    grid: &[Figure],
    row_margins: &[(u64, bool)],
    column_margins: &[(u64, bool)],
) -> Vec<bool> {
    let persons: Vec<u64> = grid.iter().map(|figure| figure.persons).collect();
    let (rows, columns) = (row_margins.len(), column_margins.len());
    let at = |row: usize, column: usize| row * columns + column;
    // A line whose margin is a published zero: every cell of it is known to be zero.
    let zero = |(persons, hidden): (u64, bool)| persons == 0 && !hidden;
    // 1. A suppressed margin takes its whole line, zeros included (but for cells known zero).
    let mut suppressed = vec![false; rows * columns];
    for row in 0..rows {
        for column in 0..columns {
            suppressed[at(row, column)] = (row_margins[row].1 && !zero(column_margins[column]))
                || (column_margins[column].1 && !zero(row_margins[row]));
        }
    }
    // 2. The rest: lines whose margins are published. Primary suppression, then cycles closed
    // over inner cells of it only, never over a margin or the total.
    let published_rows: Vec<usize> = (0..rows).filter(|&row| !row_margins[row].1).collect();
    let published_columns: Vec<usize> = (0..columns)
        .filter(|&column| !column_margins[column].1)
        .collect();
    let mut graph = Graph::new(rows + columns);
    let mut cells = Vec::new();
    for &row in &published_rows {
        for &column in &published_columns {
            graph.push(row, rows + column, 1);
            cells.push(at(row, column));
        }
    }
    let sub_persons: Vec<u64> = cells.iter().map(|&cell| persons[cell]).collect();
    let mut sub: Vec<bool> = cells.iter().map(|&cell| grid[cell].primary).collect();
    // A zero cell may close a cycle, but not in a line whose margin is a published zero: the
    // reader knows every cell of such a line is zero.
    let eligible: Vec<bool> = graph
        .edges
        .iter()
        .map(|&(row, column)| row_margins[row].0 > 0 && column_margins[column - rows].0 > 0)
        .collect();
    let position = |row: usize, column: usize| {
        let r = published_rows.iter().position(|&other| other == row)?;
        let c = published_columns
            .iter()
            .position(|&other| other == column)?;
        Some(r * published_columns.len() + c)
    };
    let mut closed = false;
    // Each round adds at least one cell, so this bounds the loop.
    for _ in 0..=cells.len() {
        if !graph.close_cycles(&sub_persons, &mut sub, &eligible) {
            break;
        }
        for (index, &cell) in cells.iter().enumerate() {
            suppressed[cell] |= sub[index];
        }
        // The bound attack on a published line: its suppressed cells (in the rest and in
        // suppressed lines) all 1. Hide one more cell of the line in the rest; the next round
        // puts it on a cycle. A table of one row or column has no line of its own to check: its
        // lines are the one-way table's.
        let mut extra = None;
        if rows > 1 && columns > 1 {
            let lines = published_rows
                .iter()
                .map(|&row| (0..columns).map(|column| (row, column)).collect::<Vec<_>>())
                .chain(
                    published_columns
                        .iter()
                        .map(|&column| (0..rows).map(|row| (row, column)).collect()),
                );
            for line in lines {
                let hidden = line
                    .iter()
                    .filter(|&&(row, column)| suppressed[at(row, column)])
                    .map(|&(row, column)| persons[at(row, column)]);
                if pinned(hidden) {
                    let candidates: Vec<usize> = line
                        .iter()
                        .filter_map(|&(row, column)| position(row, column))
                        .filter(|&index| eligible[index])
                        .collect();
                    extra = Some(smallest(candidates, &sub_persons, &sub));
                    break;
                }
            }
        }
        match extra {
            None => {
                closed = true;
                break;
            }
            Some(Some(index)) => sub[index] = true,
            Some(None) => break,
        }
    }
    // 3. No way to hide it among the rest: hide every inner cell (the margins stay as the
    // one-way tables have them). With a single row or column the inner cells are the margins.
    if !closed && rows > 1 && columns > 1 {
        for row in 0..rows {
            for column in 0..columns {
                suppressed[at(row, column)] |=
                    !zero(row_margins[row]) && !zero(column_margins[column]);
            }
        }
    }
    suppressed
}

/// The groups of measures decided together (see [`MeasureRule::group`]), each listing its
/// measures, in the order of their first measure.
fn groups(rules: &[MeasureRule]) -> Vec<Vec<usize>> {
    let mut groups: BTreeMap<usize, Vec<usize>> = BTreeMap::new();
    for (index, rule) in rules.iter().enumerate() {
        groups.entry(rule.group).or_default().push(index);
    }
    groups.into_values().collect()
}

/// The figures to suppress, by figure key and measure, of a table in canonical form.
fn decide(table: &KpiResult, k: u64, rules: &[MeasureRule]) -> Vec<(FigureKey, usize)> {
    let groups = groups(rules);
    let of = |cell: &Cell, members: &[usize]| figure(cell, members, rules, k);
    let mut hidden = Vec::new();
    let mut hide = |key: &FigureKey, members: &[usize]| {
        for &measure in members {
            hidden.push((key.clone(), measure));
        }
    };
    for members in &groups {
        if of(&table.total, members).primary {
            hide(&Vec::new(), members);
        }
    }
    match table.by.len() {
        1 => {
            for members in &groups {
                let cells: Vec<Figure> = table.cells.iter().map(|cell| of(cell, members)).collect();
                let total = of(&table.total, members);
                for (cell, hidden) in table.cells.iter().zip(decide_one_way(&cells, total)) {
                    if hidden {
                        hide(&figure_key(cell), members);
                    }
                }
            }
        }
        2 => {
            // The margins, in canonical order: those of the first dimension, then the second.
            let (first, second) = (table.by[0], table.by[1]);
            let of_dimension = |dimension: Dimension| -> Vec<&Cell> {
                table
                    .margins
                    .iter()
                    .filter(|margin| margin.dimensions[0].dimension == dimension)
                    .collect()
            };
            let (rows, columns) = (of_dimension(first), of_dimension(second));
            let listed: BTreeMap<(&str, &str), &Cell> = table
                .cells
                .iter()
                .map(|cell| {
                    (
                        (
                            cell.dimensions[0].value.as_str(),
                            cell.dimensions[1].value.as_str(),
                        ),
                        cell,
                    )
                })
                .collect();
            for members in &groups {
                let total = of(&table.total, members);
                // A margin is suppressed exactly as the one-way table of its dimension suppresses
                // it as a cell.
                let margins = |margins: &[&Cell]| -> Vec<(u64, bool)> {
                    let figures: Vec<Figure> =
                        margins.iter().map(|cell| of(cell, members)).collect();
                    let hidden = decide_one_way(&figures, total);
                    figures
                        .into_iter()
                        .map(|figure| figure.persons)
                        .zip(hidden)
                        .collect()
                };
                let (row_margins, column_margins) = (margins(&rows), margins(&columns));
                for (cell, &(_, hidden)) in rows
                    .iter()
                    .chain(&columns)
                    .zip(row_margins.iter().chain(&column_margins))
                {
                    if hidden {
                        hide(&figure_key(cell), members);
                    }
                }
                // An unlisted cell is empty: no persons, nothing primary.
                let grid: Vec<Figure> = rows
                    .iter()
                    .flat_map(|row| {
                        columns.iter().map(|column| {
                            let key = (
                                row.dimensions[0].value.as_str(),
                                column.dimensions[0].value.as_str(),
                            );
                            listed
                                .get(&key)
                                .map_or(Figure::default(), |cell| of(cell, members))
                        })
                    })
                    .collect();
                let decision = decide_two_way(&grid, &row_margins, &column_margins);
                for (index, hidden) in decision.into_iter().enumerate() {
                    if hidden {
                        let (row, column) =
                            (rows[index / columns.len()], columns[index % columns.len()]);
                        let mut key = vec![
                            (first, row.dimensions[0].value.clone()),
                            (second, column.dimensions[0].value.clone()),
                        ];
                        key.sort();
                        hide(&key, members);
                    }
                }
            }
        }
        _ => {}
    }
    hidden
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

/// Applies primary and secondary suppression with threshold `k` to every measure of a result,
/// deciding on the table's canonical form so that every figure is suppressed alike in every
/// table that shows it (see the module documentation). `empty` is the measures of a cell nobody
/// counts in: a two-way cell that is not listed (zero) but has to be suppressed is listed with
/// them, suppressed where it has to be. `rules` says, per measure, what is checked besides the
/// persons count and which measures are decided together.
pub fn suppress(result: &mut KpiResult, k: u32, empty: &[Measure], rules: &[MeasureRule]) {
    let hidden = decide(&canonical(result), u64::from(k), rules);
    if hidden.is_empty() {
        return;
    }
    let hidden: HashSet<(FigureKey, usize)> = hidden.into_iter().collect();
    if result.by.len() == 2 {
        list_hidden_zeros(result, &hidden, empty);
    }
    let cells = result
        .cells
        .iter_mut()
        .chain(result.margins.iter_mut())
        .chain(std::iter::once(&mut result.total));
    for cell in cells {
        let key = figure_key(cell);
        for (index, measure) in cell.measures.iter_mut().enumerate() {
            if hidden.contains(&(key.clone(), index)) {
                blank(measure);
            }
        }
    }
}

/// Lists the unlisted (zero) cells of a two-way table that some measure suppresses, in the
/// table's order (cells are ordered as the margins: the first dimension first).
fn list_hidden_zeros(
    result: &mut KpiResult,
    hidden: &HashSet<(FigureKey, usize)>,
    empty: &[Measure],
) {
    let (first, second) = (result.by[0], result.by[1]);
    let values = |dimension: Dimension| -> Vec<DimensionValue> {
        result
            .margins
            .iter()
            .filter(|margin| margin.dimensions[0].dimension == dimension)
            .map(|margin| margin.dimensions[0].clone())
            .collect()
    };
    let (rows, columns) = (values(first), values(second));
    let mut listed: BTreeMap<(String, String), Cell> = std::mem::take(&mut result.cells)
        .into_iter()
        .map(|cell| {
            (
                (
                    cell.dimensions[0].value.clone(),
                    cell.dimensions[1].value.clone(),
                ),
                cell,
            )
        })
        .collect();
    let mut cells = Vec::with_capacity(listed.len());
    for row in &rows {
        for column in &columns {
            if let Some(cell) = listed.remove(&(row.value.clone(), column.value.clone())) {
                cells.push(cell);
                continue;
            }
            let cell = Cell {
                dimensions: vec![row.clone(), column.clone()],
                measures: empty.to_vec(),
            };
            let key = figure_key(&cell);
            if (0..empty.len()).any(|index| hidden.contains(&(key.clone(), index))) {
                cells.push(cell);
            }
        }
    }
    // Every listed cell has its margins, so nothing is left; keep anything that is, last.
    cells.extend(listed.into_values());
    result.cells = cells;
}
