// What tracks the store on every replica (the active calibrations, the model directives) follows
// it the same way: listen to its notifications, reconcile once at start, then again every
// `reconcileMs` for anything a notification missed.
export abstract class StoreFollower {
  private unsubscribe: (() => void) | undefined
  private timer: NodeJS.Timeout | undefined

  /** Subscribes to the store's notifications; returns the unsubscribe. */
  protected abstract follow(): () => void
  /** Brings this replica's copy up to date with the store. */
  abstract reconcile(): Promise<void>
  /** A periodic reconcile failed (the first one, in start(), throws instead). */
  protected abstract reconcileFailed(err: unknown): void

  async start(reconcileMs: number): Promise<void> {
    this.unsubscribe = this.follow()
    await this.reconcile()
    this.timer = setInterval(() => this.reconcile().catch((err: unknown) => this.reconcileFailed(err)), reconcileMs)
    this.timer.unref()
  }

  /** True once start() finished its first reconcile. */
  protected get started(): boolean {
    return this.timer !== undefined
  }

  stop(): void {
    this.unsubscribe?.()
    if (this.timer) clearInterval(this.timer)
  }
}
