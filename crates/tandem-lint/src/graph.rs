//! A pod's topology as a diagram: containers by role, shared volumes with who mounts them how and
//! as which user, declared ports, localhost edges, probes answered by another container, endpoints
//! outside the pod. One model ([`Diagram`]), three drawings: Mermaid (the default, in the style of
//! the multi-container patterns article), Graphviz DOT, and SVG laid out and drawn here.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::svg::{clip, esc, n, text_width};
use crate::topology::{Topology, Via};
use tandem_api::plan::ContainerRole;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Init,
    Sidecar,
    Main,
    Volume,
    /// Outside the pod: a host the pod talks to.
    External,
    /// Outside the pod: whoever connects to its declared ports.
    Client,
    /// A localhost port nothing in the pod declares.
    Nowhere,
}

#[derive(Debug, Clone)]
pub struct Node {
    pub id: String,
    pub kind: NodeKind,
    /// First line is the title.
    pub lines: Vec<String>,
    /// Hover text.
    pub details: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EdgeKind {
    Localhost,
    /// A localhost connection to a port nobody declares.
    Undeclared,
    Probe,
    MountWrite,
    MountRead,
    External,
    Client,
}

#[derive(Debug, Clone)]
pub struct Edge {
    pub from: String,
    pub to: String,
    pub label: String,
    pub kind: EdgeKind,
}

#[derive(Debug, Clone)]
pub struct Diagram {
    pub title: String,
    pub nodes: Vec<Node>,
    pub edges: Vec<Edge>,
}

fn ident(prefix: &str, name: &str, taken: &mut Vec<String>) -> String {
    let mut id: String = format!("{prefix}_{name}")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    if taken.contains(&id) {
        id = format!("{id}_{}", taken.len());
    }
    taken.push(id.clone());
    id
}

impl Diagram {
    pub fn of(t: &Topology) -> Diagram {
        let mut taken = Vec::new();
        let mut nodes = Vec::new();
        let mut edges = Vec::new();
        let cid: Vec<String> = t
            .containers
            .iter()
            .map(|c| ident("c", &c.name, &mut taken))
            .collect();

        if t.containers.iter().any(|c| !c.ports.is_empty()) {
            nodes.push(Node {
                id: "client".into(),
                kind: NodeKind::Client,
                lines: vec!["Client".into()],
                details: "anything that reaches the pod's IP on a declared port".into(),
            });
        }
        for (i, c) in t.containers.iter().enumerate() {
            let role = match c.role {
                ContainerRole::Init => "init container".to_string(),
                ContainerRole::Sidecar => "native sidecar".to_string(),
                ContainerRole::Main if Some(i) == t.primary => "container · app".to_string(),
                ContainerRole::Main => "container".to_string(),
                ContainerRole::Ephemeral => "ephemeral container".to_string(),
            };
            let mut lines = vec![c.name.clone(), role, clip(&c.image, 34)];
            let mut ports: Vec<String> = c
                .ports
                .iter()
                .map(|p| match &p.name {
                    Some(name) => format!(":{} {name}", p.number),
                    None => format!(":{}", p.number),
                })
                .collect();
            ports.extend(c.listens.iter().map(|l| format!(":{} undeclared", l.port)));
            if !ports.is_empty() {
                lines.push(ports.join(", "));
            }
            if let Some(u) = c.user {
                lines.push(format!("uid {u}"));
            }
            let probes: Vec<String> = c
                .probes
                .iter()
                .map(|p| match p.port {
                    Some(port) => format!("{} :{port}", p.kind),
                    None => p.kind.to_string(),
                })
                .collect();
            if !probes.is_empty() {
                lines.push(format!("probes: {}", probes.join(", ")));
            }
            let mut details = format!("{} ({})\nimage: {}", c.name, c.path, c.image);
            for l in &c.listens {
                let _ = write!(
                    details,
                    "\nlistens on {} ({}), undeclared",
                    l.port, l.evidence
                );
            }
            if c.pre_stop {
                details.push_str("\npreStop hook");
            }
            nodes.push(Node {
                id: cid[i].clone(),
                kind: match c.role {
                    ContainerRole::Init => NodeKind::Init,
                    ContainerRole::Sidecar => NodeKind::Sidecar,
                    // Only a running pod has one (manifests may not): drawn as a container.
                    ContainerRole::Main | ContainerRole::Ephemeral => NodeKind::Main,
                },
                lines,
                details,
            });
            if !c.ports.is_empty() {
                edges.push(Edge {
                    from: "client".into(),
                    to: cid[i].clone(),
                    label: c
                        .ports
                        .iter()
                        .map(|p| format!(":{}", p.number))
                        .collect::<Vec<_>>()
                        .join(", "),
                    kind: EdgeKind::Client,
                });
            }
        }
        for v in &t.volumes {
            let id = ident("v", &v.name, &mut taken);
            let mut lines = vec![v.name.clone(), v.kind.label()];
            if let (Some(g), true) = (t.fs_group, v.kind.writable()) {
                lines.push(format!("fsGroup {g}"));
            }
            nodes.push(Node {
                id: id.clone(),
                kind: NodeKind::Volume,
                details: format!("volume {} ({})", v.name, v.path),
                lines,
            });
            for m in &v.mounts {
                let c = &t.containers[m.container];
                let who = match c.user {
                    Some(u) => format!("uid {u}"),
                    None => "image user".into(),
                };
                let (from, to, kind, mode) = if m.read_only || !v.kind.writable() {
                    (
                        id.clone(),
                        cid[m.container].clone(),
                        EdgeKind::MountRead,
                        "ro",
                    )
                } else {
                    (
                        cid[m.container].clone(),
                        id.clone(),
                        EdgeKind::MountWrite,
                        "rw",
                    )
                };
                edges.push(Edge {
                    from,
                    to,
                    label: format!("{mode} {} · {who}", m.mount_path),
                    kind,
                });
            }
        }
        let mut nowhere: HashMap<u16, String> = HashMap::new();
        for l in &t.links {
            let (to, kind, label) = match (l.to, l.listener) {
                (Some(to), _) => (
                    cid[to].clone(),
                    if l.via == Via::Probe {
                        EdgeKind::Probe
                    } else {
                        EdgeKind::Localhost
                    },
                    if l.via == Via::Probe {
                        l.evidence.clone()
                    } else {
                        format!("localhost:{}", l.port)
                    },
                ),
                (None, Some(li)) => (
                    cid[li].clone(),
                    EdgeKind::Undeclared,
                    format!("localhost:{} (undeclared)", l.port),
                ),
                (None, None) => {
                    let id = nowhere
                        .entry(l.port)
                        .or_insert_with(|| {
                            let id = ident("port", &l.port.to_string(), &mut taken);
                            nodes.push(Node {
                                id: id.clone(),
                                kind: NodeKind::Nowhere,
                                lines: vec![
                                    format!("localhost:{}", l.port),
                                    "no container declares it".into(),
                                ],
                                details: format!(
                                    "nothing in the pod declares or appears to listen on port {}",
                                    l.port
                                ),
                            });
                            id
                        })
                        .clone();
                    (id, EdgeKind::Undeclared, format!("localhost:{}", l.port))
                }
            };
            edges.push(Edge {
                from: cid[l.from].clone(),
                to,
                label,
                kind,
            });
        }
        let mut ext: HashMap<String, String> = HashMap::new();
        for e in &t.externals {
            let id = ext
                .entry(e.target.clone())
                .or_insert_with(|| {
                    let id = ident("x", &e.target, &mut taken);
                    nodes.push(Node {
                        id: id.clone(),
                        kind: NodeKind::External,
                        lines: vec![clip(&e.target, 40)],
                        details: format!("outside the pod: {}", e.target),
                    });
                    id
                })
                .clone();
            edges.push(Edge {
                from: cid[e.from].clone(),
                to: id,
                label: String::new(),
                kind: EdgeKind::External,
            });
        }
        Diagram {
            title: format!("Pod {}", t.name),
            nodes,
            edges,
        }
    }

    fn in_pod(kind: NodeKind) -> bool {
        !matches!(
            kind,
            NodeKind::Client | NodeKind::External | NodeKind::Nowhere
        )
    }

    /// Mermaid `graph LR`, as the article draws pods.
    pub fn mermaid(&self) -> String {
        let label = |lines: &[String]| {
            lines
                .iter()
                .map(|l| l.replace('"', "#quot;"))
                .collect::<Vec<_>>()
                .join("<br/>")
        };
        let shape = |node: &Node| {
            let l = label(&node.lines);
            match node.kind {
                NodeKind::Init => format!("{}[[\"{l}\"]]", node.id),
                NodeKind::Sidecar => format!("{}([\"{l}\"])", node.id),
                NodeKind::Main => format!("{}[\"{l}\"]", node.id),
                NodeKind::Volume => format!("{}[(\"{l}\")]", node.id),
                NodeKind::External => format!("{}{{{{\"{l}\"}}}}", node.id),
                NodeKind::Client => format!("{}((\"{l}\"))", node.id),
                NodeKind::Nowhere => format!("{}[/\"{l}\"/]", node.id),
            }
        };
        let mut out = String::from("graph LR\n");
        let _ = writeln!(
            out,
            "    subgraph pod[\"{} · shared network namespace\"]",
            self.title.replace('"', "#quot;")
        );
        for node in self.nodes.iter().filter(|x| Self::in_pod(x.kind)) {
            let _ = writeln!(out, "        {}", shape(node));
        }
        out.push_str("    end\n");
        for node in self.nodes.iter().filter(|x| !Self::in_pod(x.kind)) {
            let _ = writeln!(out, "    {}", shape(node));
        }
        for e in &self.edges {
            let arrow = match e.kind {
                EdgeKind::Undeclared | EdgeKind::Probe => "-.->",
                _ => "-->",
            };
            if e.label.is_empty() {
                let _ = writeln!(out, "    {} {arrow} {}", e.from, e.to);
            } else {
                let _ = writeln!(
                    out,
                    "    {} {arrow}|\"{}\"| {}",
                    e.from,
                    e.label.replace('"', "#quot;"),
                    e.to
                );
            }
        }
        out
    }

    /// Graphviz DOT.
    pub fn dot(&self) -> String {
        let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        let attrs = |node: &Node| {
            let (shape, style) = match node.kind {
                NodeKind::Init => ("box", "dashed"),
                NodeKind::Sidecar => ("box", "rounded,bold"),
                NodeKind::Main => ("box", "solid"),
                NodeKind::Volume => ("cylinder", "solid"),
                NodeKind::External => ("hexagon", "solid"),
                NodeKind::Client => ("circle", "solid"),
                NodeKind::Nowhere => ("parallelogram", "dashed"),
            };
            format!(
                "{} [shape={shape}, style={}, label={}, tooltip={}];",
                q(&node.id),
                q(style),
                q(&node.lines.join("\n")),
                q(&node.details)
            )
        };
        let mut out = format!("digraph {} {{\n", q(&self.title));
        out.push_str("    rankdir=LR;\n    node [fontname=\"Helvetica\", fontsize=11];\n    edge [fontname=\"Helvetica\", fontsize=10];\n");
        out.push_str("    subgraph cluster_pod {\n");
        let _ = writeln!(
            out,
            "        label={};\n        style=rounded;",
            q(&format!("{} · shared network namespace", self.title))
        );
        for node in self.nodes.iter().filter(|x| Self::in_pod(x.kind)) {
            let _ = writeln!(out, "        {}", attrs(node));
        }
        out.push_str("    }\n");
        for node in self.nodes.iter().filter(|x| !Self::in_pod(x.kind)) {
            let _ = writeln!(out, "    {}", attrs(node));
        }
        for e in &self.edges {
            let style = match e.kind {
                EdgeKind::Undeclared | EdgeKind::Probe => ", style=dashed",
                _ => "",
            };
            let _ = writeln!(
                out,
                "    {} -> {} [label={}{style}];",
                q(&e.from),
                q(&e.to),
                q(&e.label)
            );
        }
        out.push_str("}\n");
        out
    }

    fn column(kind: NodeKind) -> usize {
        match kind {
            NodeKind::Client => 0,
            NodeKind::Init | NodeKind::Sidecar => 1,
            NodeKind::Main => 2,
            NodeKind::Volume => 3,
            NodeKind::External | NodeKind::Nowhere => 4,
        }
    }

    /// SVG, laid out in columns (clients, init containers and sidecars, containers, volumes,
    /// the outside), with the pod drawn around what is inside it.
    pub fn svg(&self) -> String {
        let layout = self.layout();
        let (width, height) = (layout.width, layout.height);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"tandem-graph\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" font-family=\"sans-serif\" font-size=\"{FONT}\">",
            n(width),
            n(height),
            n(width),
            n(height)
        );
        let _ = writeln!(s, "<title>{}</title>", esc(&self.title));
        s.push_str("<defs><marker id=\"arrow\" viewBox=\"0 0 10 10\" refX=\"10\" refY=\"5\" markerWidth=\"7\" markerHeight=\"7\" orient=\"auto-start-reverse\"><path d=\"M0,0 L10,5 L0,10 z\" fill=\"#555\"/></marker></defs>\n");
        s.push_str("<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");
        self.svg_pod_frame(&mut s, &layout);
        // Edges under the nodes.
        let mut pair_count: HashMap<(String, String), usize> = HashMap::new();
        let mut channels = 0usize;
        for e in &self.edges {
            let (Some(a), Some(b)) = (
                layout.boxes.get(e.from.as_str()),
                layout.boxes.get(e.to.as_str()),
            ) else {
                continue;
            };
            let k = pair_count
                .entry((e.from.clone(), e.to.clone()))
                .or_insert(0);
            let nth = *k as f64;
            *k += 1;
            svg_edge(&mut s, &layout, e, *a, *b, nth, &mut channels);
        }
        for node in &self.nodes {
            if let Some(&place) = layout.boxes.get(node.id.as_str()) {
                svg_node(&mut s, node, place);
            }
        }
        s.push_str("</svg>\n");
        s
    }

    /// Where every node goes: columns that have nodes, each as wide as its widest node, nodes
    /// stacked down their column.
    fn layout(&self) -> Layout<'_> {
        // Room between columns for the longest edge label.
        let gap_x = self
            .edges
            .iter()
            .map(|e| text_width(&e.label, 10.5) + 48.0)
            .fold(110.0, f64::max)
            .min(280.0);

        // Columns that have nodes, with their widths.
        let mut widths = [0.0f64; 5];
        for node in &self.nodes {
            let w = node
                .lines
                .iter()
                .map(|l| text_width(l, FONT))
                .fold(0.0, f64::max)
                + 2.0 * PAD;
            let c = Self::column(node.kind);
            widths[c] = widths[c].max(w.max(110.0));
        }
        let mut x_of = [0.0f64; 5];
        let mut x = MARGIN;
        for c in 0..5 {
            if widths[c] > 0.0 {
                if c == 1 || (c > 1 && (1..c).all(|k| widths[k] == 0.0)) {
                    x += 16.0; // room for the pod frame
                }
                x_of[c] = x;
                x += widths[c] + gap_x;
            }
        }
        let mut boxes: HashMap<&str, Place> = HashMap::new();
        let mut y_next = [TOP; 5];
        for node in &self.nodes {
            let c = Self::column(node.kind);
            let h = node.lines.len() as f64 * LINE + 2.0 * PAD - 2.0;
            let y = y_next[c];
            y_next[c] += h + GAP_Y;
            boxes.insert(node.id.as_str(), (x_of[c], y, widths[c], h, c));
        }
        let bottom = y_next.iter().fold(TOP, |a, b| a.max(*b));
        // Edges that skip a column go round underneath the nodes, one channel each.
        let skipping = self
            .edges
            .iter()
            .filter(
                |e| match (boxes.get(e.from.as_str()), boxes.get(e.to.as_str())) {
                    (Some(a), Some(b)) => a.4.abs_diff(b.4) > 1,
                    _ => false,
                },
            )
            .count();
        let width = x - gap_x + MARGIN;
        let height = bottom + MARGIN + 4.0 + 18.0 * skipping as f64;

        Layout {
            boxes,
            gap_x,
            bottom,
            width,
            height,
        }
    }

    /// The pod frame around the columns of things inside it.
    fn svg_pod_frame(&self, s: &mut String, layout: &Layout<'_>) {
        let inside: Vec<&Place> = self
            .nodes
            .iter()
            .filter(|x| Self::in_pod(x.kind))
            .filter_map(|x| layout.boxes.get(x.id.as_str()))
            .collect();
        if !inside.is_empty() {
            let x0 = inside.iter().map(|b| b.0).fold(f64::MAX, f64::min) - 16.0;
            let x1 = inside.iter().map(|b| b.0 + b.2).fold(0.0, f64::max) + 16.0;
            let y1 = inside.iter().map(|b| b.1 + b.3).fold(0.0, f64::max) + 16.0;
            let _ = writeln!(
                s,
                "<g class=\"pod\"><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"12\" fill=\"#f6f8fc\" stroke=\"#7a8bb0\" stroke-dasharray=\"6 4\"/><text x=\"{}\" y=\"{}\" font-weight=\"bold\" fill=\"#3b4a6b\">{}</text></g>",
                n(x0),
                n(TOP - 36.0),
                n(x1 - x0),
                n(y1 - TOP + 36.0),
                n(x0 + 12.0),
                n(TOP - 16.0),
                esc(&format!("{} · shared network namespace", self.title))
            );
        }
    }
}
const FONT: f64 = 12.0;
const LINE: f64 = 15.0;
const PAD: f64 = 10.0;
const GAP_Y: f64 = 28.0;
const MARGIN: f64 = 24.0;
const TOP: f64 = 64.0;

/// A node's box: x, y, width, height, and its column.
type Place = (f64, f64, f64, f64, usize);

/// The SVG's layout (see [`Diagram::layout`]).
struct Layout<'d> {
    boxes: HashMap<&'d str, Place>,
    /// Room between columns, for the longest edge label.
    gap_x: f64,
    /// Below the lowest node: where the channels of edges that skip a column run.
    bottom: f64,
    width: f64,
    height: f64,
}

/// One edge from box `a` to box `b` (its `nth` between the two): a curve between neighbouring
/// columns, a loop within one, or a path round underneath the nodes (in its own channel) when it
/// skips a column; its label in a box at the middle.
fn svg_edge(
    s: &mut String,
    layout: &Layout<'_>,
    e: &Edge,
    a: Place,
    b: Place,
    nth: f64,
    channels: &mut usize,
) {
    let (bottom, gap_x) = (layout.bottom, layout.gap_x);
    let (ay, by) = (a.1 + a.3 / 2.0, b.1 + b.3 / 2.0);
    let bez = |p0: (f64, f64), p1: (f64, f64), p2: (f64, f64), p3: (f64, f64)| {
        (
            format!(
                "M{},{} C{},{} {},{} {},{}",
                n(p0.0),
                n(p0.1),
                n(p1.0),
                n(p1.1),
                n(p2.0),
                n(p2.1),
                n(p3.0),
                n(p3.1)
            ),
            (p0.0 + 3.0 * p1.0 + 3.0 * p2.0 + p3.0) / 8.0,
            (p0.1 + 3.0 * p1.1 + 3.0 * p2.1 + p3.1) / 8.0,
        )
    };
    let (d, mx, my) = if a.4.abs_diff(b.4) > 1 {
        // Out through the gap beside the source, along a channel under every node, and up
        // through the gap beside the target: never across a node.
        let channel = bottom + 4.0 + 18.0 * *channels as f64;
        let off = 6.0 * (*channels % 5) as f64;
        *channels += 1;
        let half = gap_x / 2.0 - 12.0;
        let (sx, g1, ex, g2) = if a.4 < b.4 {
            (a.0 + a.2, a.0 + a.2 + half - off, b.0, b.0 - half + off)
        } else {
            (a.0, a.0 - half + off, b.0 + b.2, b.0 + b.2 + half - off)
        };
        (
            format!(
                "M{},{} H{} V{} H{} V{} H{}",
                n(sx),
                n(ay),
                n(g1),
                n(channel),
                n(g2),
                n(by),
                n(ex)
            ),
            (g1 + g2) / 2.0,
            channel + 4.0,
        )
    } else if a.4 < b.4 {
        let (sx, ex) = (a.0 + a.2, b.0);
        let d = (ex - sx) / 2.0;
        bez((sx, ay), (sx + d, ay), (ex - d, by), (ex, by))
    } else if a.4 > b.4 {
        let (sx, ex) = (a.0, b.0 + b.2);
        let d = (sx - ex) / 2.0;
        bez((sx, ay), (sx - d, ay), (ex + d, by), (ex, by))
    } else {
        let sx = a.0 + a.2;
        let bulge = 50.0 + 0.25 * (by - ay).abs();
        bez((sx, ay), (sx + bulge, ay), (sx + bulge, by), (sx, by))
    };
    let (color, dash) = match e.kind {
        EdgeKind::Localhost => ("#1f6feb", ""),
        EdgeKind::Undeclared => ("#cf222e", " stroke-dasharray=\"5 4\""),
        EdgeKind::Probe => ("#8250df", " stroke-dasharray=\"2 3\""),
        EdgeKind::MountWrite | EdgeKind::MountRead => ("#1a7f37", ""),
        EdgeKind::External | EdgeKind::Client => ("#555", ""),
    };
    let kind = format!("{:?}", e.kind).to_ascii_lowercase();
    let _ = write!(
        s,
        "<g class=\"edge {kind}\" data-from=\"{}\" data-to=\"{}\"><title>{}</title><path d=\"{d}\" fill=\"none\" stroke-linejoin=\"round\" stroke=\"{color}\" stroke-width=\"1.5\"{dash} marker-end=\"url(#arrow)\"/>",
        esc(&e.from),
        esc(&e.to),
        esc(&format!("{} → {}{}{}", e.from, e.to, if e.label.is_empty() { "" } else { ": " }, e.label)),
    );
    if !e.label.is_empty() {
        let my = my + nth * 14.0;
        let w = text_width(&e.label, 10.5) + 8.0;
        let _ = write!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"14\" rx=\"3\" fill=\"#fff\" fill-opacity=\"0.9\"/><text x=\"{}\" y=\"{}\" font-size=\"10.5\" text-anchor=\"middle\" fill=\"{color}\">{}</text>",
            n(mx - w / 2.0),
            n(my - 10.0),
            n(w),
            n(mx),
            n(my + 1.0),
            esc(&e.label)
        );
    }
    s.push_str("</g>\n");
}

/// One node: its box, shaped and coloured by kind, and its lines of text.
fn svg_node(s: &mut String, node: &Node, (x, y, w, h, _): Place) {
    let (fill, stroke, extra) = match node.kind {
        NodeKind::Main => ("#ddf4ff", "#0969da", ""),
        NodeKind::Sidecar => ("#fff8c5", "#9a6700", ""),
        NodeKind::Init => ("#f6f8fa", "#57606a", " stroke-dasharray=\"4 3\""),
        NodeKind::Volume => ("#dafbe1", "#1a7f37", ""),
        NodeKind::External => ("#f6f8fa", "#57606a", ""),
        NodeKind::Client => ("#ffffff", "#57606a", ""),
        NodeKind::Nowhere => ("#ffebe9", "#cf222e", " stroke-dasharray=\"5 4\""),
    };
    let rx = match node.kind {
        NodeKind::Sidecar | NodeKind::Client => h / 2.0,
        NodeKind::Volume => 14.0,
        _ => 4.0,
    };
    let kind = format!("{:?}", node.kind).to_ascii_lowercase();
    let _ = write!(
        s,
        "<g class=\"node {kind}\" data-id=\"{}\"><title>{}</title><rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"{}\" fill=\"{fill}\" stroke=\"{stroke}\" stroke-width=\"1.5\"{extra}/>",
        esc(&node.id),
        esc(&node.details),
        n(x),
        n(y),
        n(w),
        n(h),
        n(rx)
    );
    for (i, line) in node.lines.iter().enumerate() {
        let weight = if i == 0 { " font-weight=\"bold\"" } else { "" };
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\"{weight}>{}</text>",
            n(x + PAD),
            n(y + PAD + 10.0 + i as f64 * LINE),
            esc(line)
        );
    }
    s.push_str("</g>\n");
}
