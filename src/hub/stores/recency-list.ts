/**
 * Items in the order they were last touched, newest last: a doubly linked list whose nodes the
 * items keep, so touching (moving to the newest end) and removing are O(1), and reading the items
 * touched since some point walks only those, from the newest. The memory store keeps its channels
 * so, by newest seq, once globally and once under their head (active-index.ts).
 */
export interface RecencyNode<T> {
  readonly item: T;
  newer: RecencyNode<T> | undefined;
  older: RecencyNode<T> | undefined;
  /** The list holding the node (undefined: in none). */
  list: RecencyList<T> | undefined;
}

export function recencyNode<T>(item: T): RecencyNode<T> {
  return { item, newer: undefined, older: undefined, list: undefined };
}

export class RecencyList<T> {
  newest: RecencyNode<T> | undefined;
  oldest: RecencyNode<T> | undefined;
  size = 0;

  /** Moves `node` to the newest end (adds it when in no list). */
  touch(node: RecencyNode<T>): void {
    if (this.newest === node) return;
    if (node.list !== undefined) node.list.remove(node);
    node.older = this.newest;
    node.newer = undefined;
    if (this.newest !== undefined) this.newest.newer = node;
    else this.oldest = node;
    this.newest = node;
    node.list = this;
    this.size++;
  }

  remove(node: RecencyNode<T>): void {
    if (node.list !== this) return;
    if (node.newer !== undefined) node.newer.older = node.older;
    else this.newest = node.older;
    if (node.older !== undefined) node.older.newer = node.newer;
    else this.oldest = node.newer;
    node.newer = node.older = undefined;
    node.list = undefined;
    this.size--;
  }

  clear(): void {
    for (let n = this.newest; n !== undefined; ) {
      const older = n.older;
      n.newer = n.older = undefined;
      n.list = undefined;
      n = older;
    }
    this.newest = this.oldest = undefined;
    this.size = 0;
  }
}
