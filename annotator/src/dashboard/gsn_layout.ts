// The safety case's GSN graph laid out by dagre (layered layout: goals and strategies on the
// left, the solutions that support them to the right), with no DOM: the page draws what this
// returns as SVG (case_view.ts), and Node's test runner checks it (tests/gsn_layout.test.ts).
import { Graph, layout, type EdgeLabel, type GraphLabel, type NodeLabel } from "@dagrejs/dagre";

export interface GsnNode {
  id: string;
  kind: string; // goal, strategy, solution, context, assumption, justification
  text: string;
  status: string | null; // supported, violated, challenged, undeveloped; null for contexts
  undeveloped: boolean;
}

export interface GsnLink {
  source: string;
  target: string;
  kind: string; // supportedBy or inContextOf
}

/** A node placed at its centre (x, y) with its box size, all in SVG pixels. */
export interface Placed extends GsnNode {
  x: number;
  y: number;
  width: number;
  height: number;
  lines: string[];
}

export interface Routed extends GsnLink {
  points: { x: number; y: number }[];
}

export interface CaseLayout {
  nodes: Placed[];
  edges: Routed[];
  width: number;
  height: number;
}

/** The fill of each status (GSN has no standard colours; these follow traffic lights). */
export const STATUS_COLOURS: Readonly<Record<string, string>> = {
  supported: "#2f8f46",
  violated: "#c62828",
  challenged: "#d08a00",
  undeveloped: "#6b5ca5",
};
/** Nodes without a status (contexts, assumptions, justifications). */
export const NEUTRAL_COLOUR = "#38434e";

export function statusColour(status: string | null): string {
  return status === null ? NEUTRAL_COLOUR : (STATUS_COLOURS[status] ?? NEUTRAL_COLOUR);
}

/** ``text`` broken into lines of at most ``width`` characters at spaces (a longer word stays whole). */
export function wrapText(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w.length > 0)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines.length ? lines : [""];
}

export interface LayoutOptions {
  charsPerLine: number;
  lineHeight: number; // px
  nodeWidth: number; // px
  maxLines: number; // longer texts are cut with an ellipsis (the side panel shows all of it)
}

export const DEFAULTS: LayoutOptions = {
  charsPerLine: 30,
  lineHeight: 14,
  nodeWidth: 210,
  maxLines: 4,
};

/** Lay the case out left to right; throws on a link that names an unknown node. */
export function layoutCase(
  nodes: readonly GsnNode[],
  links: readonly GsnLink[],
  options: LayoutOptions = DEFAULTS,
): CaseLayout {
  const g = new Graph<GraphLabel, NodeLabel, EdgeLabel>({ multigraph: false });
  g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 60, marginx: 10, marginy: 10 });
  g.setDefaultEdgeLabel(() => ({}));
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const lines = new Map<string, string[]>();
  for (const n of nodes) {
    let wrapped = wrapText(`${n.id}: ${n.text}`, options.charsPerLine);
    if (wrapped.length > options.maxLines) {
      wrapped = [...wrapped.slice(0, options.maxLines - 1), `${wrapped[options.maxLines - 1]}…`];
    }
    lines.set(n.id, wrapped);
    g.setNode(n.id, {
      width: options.nodeWidth,
      height: wrapped.length * options.lineHeight + 16,
    });
  }
  for (const link of links) {
    for (const end of [link.source, link.target]) {
      if (!byId.has(end)) throw new Error(`link ${link.source} -> ${link.target}: no node ${end}`);
    }
    // a context hangs beside its goal: a shorter, lighter edge keeps it near
    g.setEdge(
      link.source,
      link.target,
      link.kind === "inContextOf" ? { weight: 1 } : { weight: 4 },
    );
  }
  layout(g);
  const placed: Placed[] = nodes.map((n) => {
    const box = g.node(n.id);
    return {
      ...n,
      x: box.x ?? 0,
      y: box.y ?? 0,
      width: box.width,
      height: box.height,
      lines: lines.get(n.id) ?? [],
    };
  });
  const edges: Routed[] = links.map((link) => ({
    ...link,
    points: ((g.edge(link.source, link.target) as EdgeLabel).points ?? []).map((p) => ({
      x: p.x,
      y: p.y,
    })),
  }));
  const graph = g.graph();
  return { nodes: placed, edges, width: graph.width ?? 0, height: graph.height ?? 0 };
}
