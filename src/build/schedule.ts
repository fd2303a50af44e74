// Runs work over a tree: a child starts as soon as its parent is done, at most `concurrency` at a
// time. A failure marks the subtree skipped; siblings and other branches go on.
export type NodeOutcome<R> =
  | { status: 'done'; result: R }
  | { status: 'failed'; error: Error }
  | { status: 'skipped'; because: string };

export interface TreeNode {
  name: string;
  parent?: string;
}

export async function runTree<R>(
  nodes: TreeNode[],
  concurrency: number,
  work: (name: string) => Promise<R>,
  onStart?: (name: string) => void,
): Promise<Map<string, NodeOutcome<R>>> {
  const names = new Set(nodes.map((n) => n.name));
  const children = new Map<string, string[]>();
  const ready: string[] = [];
  for (const n of nodes) {
    // A parent outside the set was built before (or is external): the node is ready at once.
    if (n.parent !== undefined && names.has(n.parent)) {
      const list = children.get(n.parent) ?? [];
      list.push(n.name);
      children.set(n.parent, list);
    } else {
      ready.push(n.name);
    }
  }
  const outcomes = new Map<string, NodeOutcome<R>>();
  const skipSubtree = (name: string, because: string): void => {
    for (const child of children.get(name) ?? []) {
      outcomes.set(child, { status: 'skipped', because });
      skipSubtree(child, because);
    }
  };

  return new Promise((resolve) => {
    let running = 0;
    const pump = (): void => {
      while (running < concurrency && ready.length > 0) {
        const name = ready.shift()!;
        running++;
        onStart?.(name);
        work(name).then(
          (result) => {
            outcomes.set(name, { status: 'done', result });
            ready.push(...(children.get(name) ?? []));
          },
          (err: unknown) => {
            outcomes.set(name, { status: 'failed', error: err instanceof Error ? err : new Error(String(err)) });
            skipSubtree(name, name);
          },
        ).finally(() => {
          running--;
          pump();
          if (running === 0 && ready.length === 0) resolve(outcomes);
        });
      }
      if (running === 0 && ready.length === 0) resolve(outcomes);
    };
    pump();
  });
}
