import dagre from "@dagrejs/dagre";
import { memo, useMemo } from "react";
import type { StepStatus } from "../operations.ts";

const NODE_WIDTH = 150;
const NODE_HEIGHT = 34;
/** Longer ids are cut in the box (the whole id is the node's tooltip). */
const LABEL_CHARS = 20;
/**
 * A graph at most this wide is shrunk to fit its panel; a wider one (hundreds of steps) keeps
 * its size and scrolls, since shrunk that far its labels could not be read.
 */
const FIT_WIDTH = 2400;

export interface GraphStep {
  stepId: string;
  deps: readonly string[];
}

interface Layout {
  width: number;
  height: number;
  nodes: Array<{ stepId: string; x: number; y: number }>;
  /** One SVG path per edge, dep to dependent. */
  edges: string[];
}

/**
 * Laid out by dagre once per graph shape (the step ids and their deps), never per event:
 * a run's graph does not change while it runs, only its steps' statuses do.
 */
function layOut(steps: readonly GraphStep[]): Layout {
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

/**
 * The run's DAG as SVG, each step in its status's colour. Only the nodes whose status or
 * selection changed re-render on an event; the edges never do.
 */
export function RunGraph({
  steps,
  statusOf,
  selected,
  onSelect,
}: {
  steps: readonly GraphStep[];
  statusOf: (stepId: string) => StepStatus;
  selected: string | null;
  onSelect: (stepId: string) => void;
}) {
  const key = shapeKey(steps);
  // biome-ignore lint/correctness/useExhaustiveDependencies: the layout depends on the shape only, which `key` spells out
  const layout = useMemo(() => layOut(steps), [key]);
  return (
    <div className="graph">
      <svg
        className={layout.width <= FIT_WIDTH ? "fit" : undefined}
        width={layout.width}
        height={layout.height}
        viewBox={`0 0 ${layout.width} ${layout.height}`}
        role="img"
        aria-label={`graph of ${steps.length} steps`}
        data-steps={steps.length}
      >
        <Edges edges={layout.edges} />
        {layout.nodes.map((node) => (
          <Node
            key={node.stepId}
            stepId={node.stepId}
            x={node.x}
            y={node.y}
            status={statusOf(node.stepId)}
            selected={node.stepId === selected}
            onSelect={onSelect}
          />
        ))}
      </svg>
    </div>
  );
}

const Edges = memo(function Edges({ edges }: { edges: string[] }) {
  return (
    <g className="edges">
      {edges.map((d, i) => (
        // biome-ignore lint/suspicious/noArrayIndexKey: edges are fixed for a layout, so their order is their identity
        <path key={i} d={d} />
      ))}
    </g>
  );
});

const Node = memo(function Node(props: {
  stepId: string;
  x: number;
  y: number;
  status: StepStatus;
  selected: boolean;
  onSelect: (stepId: string) => void;
}) {
  const { stepId, x, y, status, selected, onSelect } = props;
  const label = stepId.length > LABEL_CHARS ? `${stepId.slice(0, LABEL_CHARS - 1)}…` : stepId;
  return (
    // biome-ignore lint/a11y/useSemanticElements: an SVG group cannot be a <button>; it takes the keyboard like one
    <g
      className={`node s-${status}${selected ? " selected" : ""}`}
      transform={`translate(${x},${y})`}
      data-step={stepId}
      data-status={status}
      role="button"
      tabIndex={0}
      onClick={() => onSelect(stepId)}
      onKeyDown={(e) => {
        if (e.key === "Enter" || e.key === " ") onSelect(stepId);
      }}
    >
      <title>{`${stepId}: ${status}`}</title>
      <rect width={NODE_WIDTH} height={NODE_HEIGHT} rx={6} />
      <text x={10} y={NODE_HEIGHT / 2 + 4}>
        {label}
      </text>
    </g>
  );
});
