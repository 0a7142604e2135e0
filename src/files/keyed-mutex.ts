/**
 * One lock per name (an upload id), in this process: callers queue in arrival order and an
 * idle name costs nothing (its entry goes when the last holder leaves). The metadata store's
 * state changes stay atomic on their own; the lock orders what spans the disk and the
 * database, such as promoting a part file and recording its digest.
 */
export class KeyedMutex {
  private readonly tails = new Map<string, Promise<void>>();

  /** Waits for the previous holder of `name`, then returns the release function. */
  async acquire(name: string): Promise<() => void> {
    const previous = this.tails.get(name) ?? Promise.resolve();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const mine = previous.then(() => gate);
    this.tails.set(name, mine);
    await previous;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      release();
      if (this.tails.get(name) === mine) this.tails.delete(name);
    };
  }

  /** Runs `fn` holding the lock of `name`. */
  async run<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const release = await this.acquire(name);
    try {
      return await fn();
    } finally {
      release();
    }
  }
}
