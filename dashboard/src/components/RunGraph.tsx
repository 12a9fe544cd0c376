import { memo, useEffect, useRef, useState } from "react";
import { type GraphStep, type Layout, layOut, NODE_HEIGHT, NODE_WIDTH, shapeKey } from "../layout.ts";
import type { StepStatus } from "../operations.ts";

/** Longer ids are cut in the box (the whole id is the node's tooltip). */
const LABEL_CHARS = 20;
/**
 * A graph at most this wide is shrunk to fit its panel; a wider one (hundreds of steps) keeps
 * its size and scrolls, since shrunk that far its labels could not be read.
 */
const FIT_WIDTH = 2400;

/** Up to this many steps dagre runs at once, in the page; a larger graph is laid out in a worker. */
const SYNC_LAYOUT_STEPS = 200;

/**
 * The graph's layout, computed once per graph shape (the step ids and their deps), never per
 * event: a run's graph does not change while it runs, only its steps' statuses do. dagre takes
 * about a second for 1,000 steps, so a large graph is laid out in a Web Worker and the page
 * keeps answering meanwhile; null until then.
 */
type LayoutState = { layout: Layout } | { error: string };

function useLayout(steps: readonly GraphStep[]): LayoutState | null {
  const key = shapeKey(steps);
  const [done, setDone] = useState<{ key: string; state: LayoutState } | null>(() =>
    steps.length <= SYNC_LAYOUT_STEPS ? { key, state: layOutHere(steps) } : null,
  );
  const current = done?.key === key ? done.state : null;
  const small = steps.length <= SYNC_LAYOUT_STEPS;
  const stepsRef = useRef(steps);
  stepsRef.current = steps;
  useEffect(() => {
    if (small) {
      setDone((prev) => (prev?.key === key ? prev : { key, state: layOutHere(stepsRef.current) }));
      return;
    }
    const worker = new Worker(new URL("../layout.worker.ts", import.meta.url), { type: "module" });
    // The worker failed (its stack is smaller than the page's; its file is gone after a
    // rebuild): lay the graph out here instead, once, and say why if that fails too.
    const fallBack = () => {
      worker.terminate();
      setDone({ key, state: layOutHere(stepsRef.current) });
    };
    worker.onmessage = (event: MessageEvent<{ layout: Layout } | { error: string }>) => {
      if ("layout" in event.data) {
        setDone({ key, state: { layout: event.data.layout } });
        worker.terminate();
      } else fallBack();
    };
    worker.onerror = (event) => {
      event.preventDefault();
      fallBack();
    };
    worker.postMessage(stepsRef.current.map((s) => ({ stepId: s.stepId, deps: s.deps })));
    return () => worker.terminate();
  }, [key, small]);
  return current;
}

/** The layout computed on this thread, or why it could not be. */
function layOutHere(steps: readonly GraphStep[]): LayoutState {
  try {
    return { layout: layOut(steps) };
  } catch (error) {
    return { error: error instanceof Error ? error.message : String(error) };
  }
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
  const state = useLayout(steps);
  if (!state) return <p className="muted">Laying out {steps.length} steps…</p>;
  if ("error" in state) {
    return (
      <p className="error" role="alert">
        The graph of {steps.length} steps could not be laid out ({state.error}); the timeline and the steps below list every one.
      </p>
    );
  }
  const { layout } = state;
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
