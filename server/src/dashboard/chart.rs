//! Charts as SVG drawn on the server: the geometry is computed here (pure,
//! tested), and askama templates write it out with every label escaped. No
//! charting library runs in the browser; colours come from the stylesheet
//! through classes, so both themes apply.

use askama::Template;

/// One bar's segments, bottom to top: `(css class, value, tooltip)`.
pub struct Column {
    pub label: String,
    pub segments: Vec<(&'static str, f64, String)>,
}

pub struct Rect {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub class: &'static str,
    pub title: String,
}

pub struct Label {
    pub x: f64,
    pub y: f64,
    pub text: String,
    pub anchor: &'static str,
}

/// A stacked bar chart.
#[derive(Template)]
#[template(path = "dashboard/chart_bars.svg", escape = "html")]
pub struct Bars {
    pub description: String,
    pub width: f64,
    pub height: f64,
    pub rects: Vec<Rect>,
    pub labels: Vec<Label>,
    pub grid: Vec<f64>,
    pub left: f64,
    pub right: f64,
}

const W: f64 = 640.0;
const H: f64 = 180.0;
const LEFT: f64 = 56.0;
const BOTTOM: f64 = 22.0;
const TOP: f64 = 8.0;

/// Lays out `columns` left to right; `axis` formats the y-axis maximum.
pub fn bars(description: impl Into<String>, columns: &[Column], axis: impl Fn(f64) -> String) -> Bars {
    let total = |c: &Column| c.segments.iter().map(|s| s.1.max(0.0)).sum::<f64>();
    let max = columns.iter().map(total).fold(0.0_f64, f64::max);
    let plot_h = H - BOTTOM - TOP;
    let slot = (W - LEFT - 8.0) / columns.len().max(1) as f64;
    let bar_w = (slot * 0.72).max(1.0);
    let mut rects = Vec::new();
    for (i, col) in columns.iter().enumerate() {
        let x = LEFT + i as f64 * slot + (slot - bar_w) / 2.0;
        let mut base = H - BOTTOM;
        for (class, value, title) in &col.segments {
            if *value <= 0.0 || max <= 0.0 {
                continue;
            }
            let h = (value / max * plot_h).max(1.0);
            base -= h;
            rects.push(Rect {
                x: round(x),
                y: round(base),
                w: round(bar_w),
                h: round(h),
                class,
                title: format!("{}: {title}", col.label),
            });
        }
    }
    let mut labels = vec![
        Label {
            x: LEFT - 6.0,
            y: TOP + 10.0,
            text: axis(max),
            anchor: "end",
        },
        Label {
            x: LEFT - 6.0,
            y: H - BOTTOM,
            text: axis(0.0),
            anchor: "end",
        },
    ];
    // First, middle and last column labels keep the axis readable at any width.
    let n = columns.len();
    for i in [0, n / 2, n.saturating_sub(1)] {
        if let Some(col) = columns.get(i) {
            if labels.iter().any(|l| l.text == col.label) {
                continue;
            }
            labels.push(Label {
                x: round(LEFT + (i as f64 + 0.5) * slot),
                y: H - 6.0,
                text: col.label.clone(),
                anchor: "middle",
            });
        }
    }
    Bars {
        description: description.into(),
        width: W,
        height: H,
        rects,
        labels,
        grid: vec![TOP, TOP + plot_h / 2.0, H - BOTTOM],
        left: LEFT,
        right: W - 4.0,
    }
}

pub struct Node {
    pub x: f64,
    pub y: f64,
    pub w: f64,
    pub h: f64,
    pub label: String,
    pub class: &'static str,
    pub title: String,
}

pub struct Link {
    pub d: String,
    pub width: f64,
    pub class: &'static str,
    pub title: String,
}

/// A two-column graph: agents on the left, the tools they call on the right.
#[derive(Template)]
#[template(path = "dashboard/chart_graph.svg", escape = "html")]
pub struct Graph {
    pub description: String,
    pub width: f64,
    pub height: f64,
    pub nodes: Vec<Node>,
    pub links: Vec<Link>,
}

pub struct GraphNode {
    pub name: String,
    pub calls: i64,
    pub errors: i64,
}

pub struct GraphEdge {
    pub agent: usize,
    pub tool: usize,
    pub calls: i64,
    pub errors: i64,
}

/// Places agents and tools in two columns and joins them with curves whose
/// width grows with the call count; edges with failures get their own class.
pub fn graph(agents: &[GraphNode], tools: &[GraphNode], edges: &[GraphEdge]) -> Graph {
    const ROW: f64 = 40.0;
    const NODE_W: f64 = 200.0;
    const NODE_H: f64 = 28.0;
    let width = 640.0;
    let rows = agents.len().max(tools.len()).max(1) as f64;
    let height = rows * ROW + 8.0;
    let column = |items: &[GraphNode], x: f64, class: &'static str, kind: &str| -> Vec<Node> {
        let offset = (rows - items.len() as f64) * ROW / 2.0;
        items
            .iter()
            .enumerate()
            .map(|(i, n)| Node {
                x,
                y: round(offset + i as f64 * ROW + 6.0),
                w: NODE_W,
                h: NODE_H,
                label: truncate(&n.name, 26),
                class: if n.errors > 0 { "node-error" } else { class },
                title: format!(
                    "{kind} {}: {} calls, {} errors",
                    n.name,
                    super::format::count(n.calls),
                    n.errors
                ),
            })
            .collect()
    };
    let left = column(agents, 4.0, "node-agent", "agent");
    let right = column(tools, width - NODE_W - 4.0, "node-tool", "tool");
    let max_calls = edges.iter().map(|e| e.calls).max().unwrap_or(1).max(1) as f64;
    let links = edges
        .iter()
        .filter_map(|e| {
            let (a, t) = (left.get(e.agent)?, right.get(e.tool)?);
            let (x1, y1) = (a.x + a.w, a.y + a.h / 2.0);
            let (x2, y2) = (t.x, t.y + t.h / 2.0);
            let mid = (x1 + x2) / 2.0;
            Some(Link {
                d: format!("M{x1} {y1} C{mid} {y1} {mid} {y2} {x2} {y2}"),
                width: round(1.0 + 5.0 * (e.calls as f64 / max_calls).sqrt()),
                class: if e.errors > 0 { "edge-error" } else { "edge" },
                title: format!(
                    "{} → {}: {} calls, {} errors",
                    agents[e.agent].name,
                    tools[e.tool].name,
                    super::format::count(e.calls),
                    e.errors
                ),
            })
        })
        .collect();
    let mut nodes = left;
    nodes.extend(right);
    Graph {
        description: format!("{} agents calling {} tools", agents.len(), tools.len()),
        width,
        height,
        nodes,
        links,
    }
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// At most `max` characters, with an ellipsis when cut.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_owned()
    } else {
        let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
        out.push('…');
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(label: &str, a: f64, b: f64) -> Column {
        Column {
            label: label.into(),
            segments: vec![("ok", a, format!("{a}")), ("blocked", b, format!("{b}"))],
        }
    }

    #[test]
    fn the_tallest_column_fills_the_plot_and_segments_stack() {
        let chart = bars(
            "spans",
            &[col("00", 10.0, 0.0), col("01", 15.0, 5.0), col("02", 0.0, 0.0)],
            |v| format!("{v}"),
        );
        // Two non-empty segments in column 01, one in column 00, none in 02.
        assert_eq!(chart.rects.len(), 3);
        let plot = H - BOTTOM - TOP;
        let tallest: f64 = chart.rects[1..].iter().map(|r| r.h).sum();
        assert!((tallest - plot).abs() < 0.5, "{tallest} vs {plot}");
        // The blocked segment sits on top of the ok one.
        assert!(chart.rects[2].y < chart.rects[1].y);
        assert_eq!(chart.labels[0].text, "20");
    }

    #[test]
    fn labels_are_escaped_in_the_svg() {
        let chart = bars("<spans>", &[col("<script>", 1.0, 0.0)], |v| format!("{v}"));
        let svg = chart.render().unwrap();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(
            svg.contains("&#60;script&#62;") || svg.contains("&lt;script&gt;"),
            "{svg}"
        );
        assert!(svg.starts_with("<svg"), "{svg}");
    }

    #[test]
    fn edges_join_the_right_nodes() {
        let agents = [GraphNode {
            name: "support".into(),
            calls: 10,
            errors: 0,
        }];
        let tools = [
            GraphNode {
                name: "search".into(),
                calls: 8,
                errors: 0,
            },
            GraphNode {
                name: "delete_user".into(),
                calls: 2,
                errors: 1,
            },
        ];
        let g = graph(
            &agents,
            &tools,
            &[
                GraphEdge {
                    agent: 0,
                    tool: 0,
                    calls: 8,
                    errors: 0,
                },
                GraphEdge {
                    agent: 0,
                    tool: 1,
                    calls: 2,
                    errors: 1,
                },
            ],
        );
        assert_eq!(g.nodes.len(), 3);
        assert_eq!(g.links.len(), 2);
        assert!(g.links[0].width > g.links[1].width);
        assert_eq!(g.links[1].class, "edge-error");
        assert_eq!(g.nodes[2].class, "node-error");
        assert!(g.links[1].title.contains("support → delete_user"));
    }
}
