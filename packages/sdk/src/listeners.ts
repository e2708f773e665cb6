/**
 * A set of callbacks told about one kind of change. A listener that throws is skipped: its bug
 * must not stop the cache from updating or the sync from running.
 */
export class Listeners<T> {
  private readonly set = new Set<(value: T) => void>();

  /** Adds `listener`; returns its unsubscribe. */
  add(listener: (value: T) => void): () => void {
    this.set.add(listener);
    return () => this.set.delete(listener);
  }

  get size(): number {
    return this.set.size;
  }

  emit(value: T): void {
    for (const listener of this.set) {
      try {
        listener(value);
      } catch {
        // See the class comment.
      }
    }
  }

  clear(): void {
    this.set.clear();
  }
}
