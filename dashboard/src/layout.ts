import dagre from "@dagrejs/dagre";

export const NODE_WIDTH = 150;
export const NODE_HEIGHT = 34;

export interface GraphStep {
  stepId: string;
  deps: readonly string[];
}

export interface Layout {
  width: number;
  height: number;
  nodes: Array<{ stepId: string; x: number; y: number }>;
  /** One SVG path per edge, dep to dependent. */
  edges: string[];
}

/** Places the steps left to right by dagre: each step after its deps, edges routed between them. */
export function layOut(steps: readonly GraphStep[]): Layout {
  const g = new dagre.graphlib.Graph();
  g.setGraph({ rankdir: "LR", nodesep: 14, ranksep: 46, marginx: 12, marginy: 12 });
  g.setDefaultEdgeLabel(() => ({}));
  for (const step of steps) g.setNode(step.stepId, { width: NODE_WIDTH, height: NODE_HEIGHT });
  for (const step of steps) for (const dep of step.deps) g.setEdge(dep, step.stepId);
  dagre.layout(g);
  const nodes = steps.map((step) => {
    const node = g.node(step.stepId);
    return { stepId: step.stepId, x: node.x - NODE_WIDTH / 2, y: node.y - NODE_HEIGHT / 2 };
  });
  const edges = g.edges().map((e) => {
    const points: Array<{ x: number; y: number }> = g.edge(e)?.points ?? [];
    return points.map((p, i) => `${i === 0 ? "M" : "L"}${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
  });
  const label = g.graph();
  return { width: label.width ?? 0, height: label.height ?? 0, nodes, edges };
}

/** A key that changes only when the graph's shape does. */
export function shapeKey(steps: readonly GraphStep[]): string {
  return steps.map((s) => `${s.stepId}<${s.deps.join(",")}`).join(";");
}
